"""Parsing helpers shared by the loaders.

Every loader goes through the same steps, in the same order:

1. :func:`check_file` – the path exists and is a file;
2. :func:`read_text` (encoding sniffing) and :func:`split_rows` (delimiter
   sniffing), or :func:`read_xlsx` – the file as rows of cells, each row with
   its 1-based line number (CSV) or Excel row number (XLSX);
3. :func:`privacy.refuse_personnummer_columns` on the raw cells;
4. cell parsing: :func:`parse_number` (Swedish numbers and Skolverket's
   markers), :func:`parse_date` (Swedish date forms), :func:`school_year_of_text`;
5. :func:`finish` – ``schema.validate``, ``index.name = "rad"``,
   ``attrs["source"]`` and a :class:`~undervisning_analys.dataset.ProvenanceRecord`.

Decisions
---------
* Encodings: a BOM decides (UTF-8, UTF-16); else strict UTF-8; else cp1252
  (what Excel on a Swedish Windows writes when it saves "CSV
  (semikolonavgränsad)"); latin-1 as the last resort. Text that was UTF-8
  decoded as cp1252 once too often (``FÃ¶rstelÃ¤rare``) is repaired and the
  repair is noted in provenance.
* Delimiters: judged by the header row and the data rows, not the footer
  (:func:`sniff_delimiter`): the candidate (``;``, ``,``, tab) under which a row
  holds a key column (``Kommun-kod``, ``Skol-enhetskod``, …) and the rows under
  it are as wide wins; without a key column, the candidate that splits the
  most lines into the same number (> 1) of fields; ties go to ``;``.
* Numbers: decimal comma or point, spaces (also no-break and thin spaces) as
  thousands separators (``3 877``), ``cirka 140`` (the API's rounded pupil
  counts) read as 140, a trailing ``%`` ignored. Integers are fine where a
  decimal is expected (``88`` for ``88,0`` in files re-saved through Excel;
  integer shares in files before 2016).
* Markers (Skolverket's footers and the API's ``valueType``) map to the
  ``status`` vocabulary and never to a number: ``..`` suppressed, ``.``
  missing, ``~100`` approx_100 (value NaN; the true share is above 95 %),
  ``*`` excluded (teachers without the required certification), ``-``
  missing (no grade could be set). An empty cell is ``missing`` too and is
  counted separately in provenance.
* What is never a readable file is refused before any parsing, naming the
  file and, where one applies, the row: an empty file (0 bytes, or only a
  BOM and blanks), a legacy ``.xls`` workbook, bytes that are not text
  (control characters), a BOM (U+FEFF) anywhere but at the start (two exports
  pasted together), a cell larger than an Excel cell can hold
  (:data:`MAX_CELL` characters), an opening quote that is never closed. CSV
  is split strictly: text after a closing quote is an error, not glued on.
* Rows are checked against their header (:func:`check_widths`): in a CSV a
  row with fewer fields than the header is refused as truncated (Skolverket
  and the form tools write every field of every row), and a value in a column
  beyond the header is refused wherever it occurs.
* Plausibility (:func:`check_value`): shares and percentages 0–100,
  meritvärde 0–340 (17 subjects) / 0–320 (16), test-grade points 0–20, counts
  whole numbers ≥ 0; a file may not mix decimal comma and decimal point
  (:class:`DecimalStyle`; ``3.877`` may be a thousands separator); dates and
  school years in the future are refused (:func:`check_not_future`).
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import io
import json
import math
import re
import sys
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from .. import schema
from .._format import number
from ..dataset import ProvenanceRecord
from ..errors import FileFormatError, UAError, ValueFormatError

# --------------------------------------------------------------------------
# Markers
# --------------------------------------------------------------------------
MARKERS: dict[str, str] = {
    "..": "suppressed",
    ".": "missing",
    "~100": "approx_100",
    "*": "excluded",
    "-": "missing",
}
"""Skolverket's markers -> ``results.status``."""

MARKER_MEANING_SV: dict[str, str] = {
    "..": "prickat, för få elever",
    ".": "uppgift saknas",
    "~100": "cirka 100 (1–4 elever nådde inte upp)",
    "*": "exkluderat (lärare utan legitimation)",
    "-": "betyg kunde inte sättas",
}


@dataclass(frozen=True)
class Row:
    """One row of a file: its 1-based line (or Excel row) number and its cells."""

    line: int
    cells: list[Any]

    def text(self, j: int) -> str:
        return cell_text(self.cells[j]) if j < len(self.cells) else ""

    def is_blank(self) -> bool:
        return all(cell_text(c) == "" for c in self.cells)


# --------------------------------------------------------------------------
# Files, encodings, delimiters
# --------------------------------------------------------------------------
def check_file(path: str | Path) -> Path:
    """The path as a Path; FileFormatError if it does not exist or is not a file."""
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"Filen {p} finns inte", file=p,
                              hint="Kontrollera sökvägen och filnamnet")
    if not p.is_file():
        raise FileFormatError(f"{p} är inte en fil", file=p, hint="Ange en fil, inte en mapp")
    if p.stat().st_size == 0:
        raise FileFormatError("Filen är tom (0 byte)", file=p,
                              hint="Exportera eller spara filen på nytt")
    return p


_MOJIBAKE_RE = re.compile("Ã[\u00a0-\u00bf\u0080-\u009f\u2018-\u203a\u0152\u0153\u0160"
                          "\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u20ac\u2122]")


_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CONTROL_RE = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f]")



def json_files(path: str | Path, source_sv: str) -> list[Path]:
    """A JSON file, or the JSON files of a folder and its subfolders (sorted by their path
    in the folder; hidden files and folders left out); an empty folder is refused.

    ``source_sv`` names the source in the message, e.g. "Koladas API".
    """
    p = Path(path)
    if p.is_dir():
        files = sorted((x for x in p.rglob("*") if x.is_file() and x.suffix.lower() == ".json"
                        and not any(part.startswith(".") for part in x.relative_to(p).parts)),
                       key=lambda x: x.relative_to(p).parts)
        if not files:
            raise FileFormatError(f"Mappen {p} har inga JSON-filer", file=p,
                                  hint=f"Ange en mapp med sparade svar från {source_sv}")
        return files
    return [check_file(p)]

def decode_bytes(data: bytes, file: str | Path | None = None) -> tuple[str, str, list[str]]:
    """Decode a text file's bytes; return (text, encoding, notes).

    Refused (FileFormatError): a legacy ``.xls`` workbook, text that is empty
    (only a BOM and blanks) and bytes that are not text (control characters).
    """
    notes: list[str] = []
    if data.startswith(_OLE2):
        raise FileFormatError(
            "Filen är en Excelfil i det gamla formatet (.xls), som inte kan läsas", file=file,
            hint="Öppna den i Excel och spara den som .xlsx eller som CSV (UTF-8)")
    if data.startswith(b"\xef\xbb\xbf"):
        enc, body = "utf-8-sig", data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc, body = "utf-16", data
    else:
        enc, body = "utf-8", data
    try:
        text = body.decode("utf-16" if enc == "utf-16" else "utf-8")
    except UnicodeDecodeError:
        if enc == "utf-16":
            raise FileFormatError("Filen börjar som UTF-16 men går inte att avkoda", file=file,
                                  hint="Spara filen som UTF-8 och läs in den igen") from None
        if enc == "utf-8-sig":
            notes.append("filen har UTF-8-BOM men innehåller ogiltiga UTF-8-tecken; "
                         "läst som cp1252")
        try:
            text = body.decode("cp1252")
            enc = "cp1252"
        except UnicodeDecodeError:
            text = body.decode("latin-1")
            enc = "latin-1"
            c1 = re.search("[\x80-\x9f]", text)
            if c1 is not None:  # neither UTF-8 nor cp1252: the letters would come out wrong
                line = text.count("\n", 0, c1.start()) + 1
                raise FileFormatError(
                    f"Filen har en teckenkodning som inte kan läsas (varken UTF-8 eller "
                    f"Windows-1252): byte 0x{ord(c1.group()):02X} är inget tecken",
                    file=file, row=line,
                    hint="Spara filen med teckenkodningen UTF-8 och läs in den igen"
                ) from None
    if _MOJIBAKE_RE.search(text):
        try:
            repaired = text.encode("cp1252").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            repaired = None
        if repaired is not None and len(_MOJIBAKE_RE.findall(repaired)) < len(
                _MOJIBAKE_RE.findall(text)):
            text = repaired
            notes.append("dubbelkodade tecken (UTF-8 läst som cp1252) reparerades")
    text = text.replace("\x00", "")
    if text.endswith("\x1a"):  # the end-of-file mark some old Windows programs add
        text = text[:-1]
    if text.replace("\ufeff", "").strip() == "":
        raise FileFormatError("Filen är tom (den har inga tecken utom blanksteg)", file=file,
                              hint="Exportera eller spara filen på nytt")
    bad = _CONTROL_RE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise FileFormatError(
            f"Filen är inte en textfil som kan läsas: den innehåller styrtecknet "
            f"U+{ord(bad.group()):04X}", file=file, row=line,
            hint="Kontrollera att det är rätt fil; spara den som CSV (UTF-8) eller exportera "
                 "den på nytt (fel teckenkodning eller en fil i ett annat format)")
    return text, enc, notes


def read_text(path: str | Path) -> tuple[str, str, list[str]]:
    """A text file's content with its sniffed encoding: (text, encoding, notes)."""
    p = check_file(path)
    return decode_bytes(p.read_bytes(), p)


def _split_line(line: str, d: str) -> list[str] | None:
    try:
        return next(csv.reader([line], delimiter=d))
    except (csv.Error, StopIteration):
        return None


def _header_score(lines: Sequence[str], d: str) -> tuple[int, int] | None:
    """(data rows as wide as the header, header width) for the first key-header row under
    delimiter ``d``; None when no row splits into a known key column (Kommun-kod, …)."""
    for i, ln in enumerate(lines):
        cells = _split_line(ln, d)
        if not cells or len(cells) < 2 or not ({fold(x) for x in cells} & _KEY_HEADERS):
            continue
        width = len(cells)
        fits = 0
        for nxt in lines[i + 1:]:
            if not nxt.strip().strip(d).strip():
                break
            row = _split_line(nxt, d)
            if row is not None and len(row) == width:
                fits += 1
        return fits, width
    return None


def sniff_delimiter(text: str, candidates: Sequence[str] = (";", ",", "\t"),
                    max_lines: int = 60) -> str:
    """The delimiter of a table, judged by its header row and data rows, never its footer.

    First choice: the candidate under which a row splits into a known key column
    (``Kommun-kod``, ``Skol-enhetskod``, …; see ``_KEY_HEADERS``) and most of the rows
    after it, up to the first blank line, are as wide as that header. A long free-text
    footer whose lines hold commas under a short export (one municipality, two data
    rows) therefore cannot outvote the table. Without such a header: the candidate that
    splits most sample lines into the same number (> 1) of fields; ties go to the first
    candidate (``;``, Skolverket's).
    """
    head_lines = text.splitlines()[:400]
    scored = [(s, d) for d in candidates if (s := _header_score(head_lines, d)) is not None]
    if scored:
        top = max(scored, key=lambda t: t[0])[0]
        return next(d for s, d in scored if s == top)
    lines = [ln for ln in text.splitlines() if ln.strip()][:max_lines]
    sample = "\n".join(lines)
    best, best_score = candidates[0], (-1, -1)
    for d in candidates:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(sample), delimiter=d)]
        except csv.Error:
            continue
        counts = [c for c in counts if c > 1]
        if not counts:
            continue
        mode, freq = Counter(counts).most_common(1)[0]
        score = (freq, mode)
        if score > best_score:
            best, best_score = d, score
    return best


MAX_CELL = 32_767
"""The most characters an Excel cell holds; a larger cell means a broken file."""


def split_rows(text: str, delimiter: str, file: str | Path | None = None) -> list[Row]:
    """Split text into rows of string cells, keeping each record's first line number.

    Strict CSV: an opening quote that is never closed, or text after a closing
    quote, is a FileFormatError naming the row (and the column where the
    header says). Cells are then checked with :func:`check_cells`.
    """
    rows: list[Row] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    prev = 0
    old_limit = csv.field_size_limit()
    csv.field_size_limit(max(old_limit, min(sys.maxsize, 2**31 - 1)))
    try:
        for cells in reader:
            rows.append(Row(prev + 1, [c.strip() for c in cells]))
            prev = reader.line_num
    except csv.Error as exc:
        line = prev + 1
        lines = io.StringIO(text, newline="").readlines()
        first = lines[line - 1] if line <= len(lines) else ""
        try:
            j = max(len(next(csv.reader([first], delimiter=delimiter))) - 1, 0)
        except (csv.Error, StopIteration):
            j = 0
        if "end of data" in str(exc):
            msg = ("Ett citattecken (\") öppnar ett fält som aldrig stängs; filen kan vara "
                   "avkortad")
        else:
            msg = "Efter ett citattecken (\") som stänger ett fält ska avgränsaren komma"
        raise FileFormatError(msg, file=file, row=line, column=_header_name(rows, j),
                              hint="Kontrollera citattecknen på raden, eller exportera filen "
                                   "på nytt") from None
    finally:
        csv.field_size_limit(old_limit)
    check_cells(rows, file)
    return rows


_KEY_HEADERS = frozenset({"kommunkod", "skolenhetskod", "personnr", "lektionsid", "svarsid"})


def _header_of(rows: Sequence[Row], before: int | None = None) -> Row | None:
    """The row most likely to be the header among ``rows`` (above line ``before``)."""
    cand = [r for r in rows if before is None or r.line < before]
    for r in cand:
        if {fold(x) for x in r.cells} & _KEY_HEADERS:
            return r
    return next((r for r in cand if sum(1 for x in r.cells if cell_text(x)) > 1), None)


def _header_name(rows: Sequence[Row], j: int, before: int | None = None) -> str | None:
    """The header's name of column ``j``; with a category row above (two-row header, first
    cell empty, as Skolverket writes it) ``category – name``."""
    h = _header_of(rows, before)
    if h is None or j >= len(h.cells):
        return None
    name = cell_text(h.cells[j])
    k = next((i for i, r in enumerate(rows) if r is h), 0)
    above = rows[k - 1] if k > 0 else None
    if name and above is not None and above.line == h.line - 1 and not above.is_blank() \
            and above.text(0) == "":
        cat = next((above.text(i) for i in range(min(j, len(above.cells) - 1), -1, -1)
                    if above.text(i)), "")
        if cat and cat != name:
            return f"{cat} – {name}"
    return name or None


def check_cells(rows: Sequence[Row], file: str | Path | None = None) -> None:
    """Refuse a BOM (U+FEFF) after the start of the file and cells over :data:`MAX_CELL`.

    The column is named by the header (the row with Kommun-kod, Skolenhetskod,
    PersonNr, … or the first row with several cells) where there is one.
    """
    for k, r in enumerate(rows):
        # most rows: one join (C speed) shows that no cell can break a rule
        try:
            joined = "".join(r.cells)
        except TypeError:  # numbers and dates from a workbook
            joined = "".join(v for v in r.cells if isinstance(v, str))
        if len(joined) <= MAX_CELL and "\ufeff" not in joined:
            continue
        for j, v in enumerate(r.cells):
            if not isinstance(v, str):
                continue
            if len(v) > MAX_CELL:
                name = _header_name(rows, j, before=r.line)
                raise FileFormatError(
                    f"En cell har {number(len(v))} tecken, fler än en cell kan ha "
                    f"({number(MAX_CELL)} tecken)", file=file, row=r.line,
                    column=name or f"kolumn {j + 1}",
                    hint="Filen är trasig (t.ex. ett citattecken som inte stängs) eller inte "
                         "en export i rätt format; exportera den på nytt")
            pos = v.find("\ufeff")
            if pos >= 0 and not (k == 0 and j == 0 and pos == 0 and "\ufeff" not in v[1:]):
                name = _header_name(rows, j, before=r.line + 1)
                raise FileFormatError(
                    "Filen har ett BOM-tecken (U+FEFF) mitt i texten: den ser ut att vara "
                    "flera filer som satts ihop", file=file, row=r.line,
                    column=name or f"kolumn {j + 1}",
                    hint="Läs in filerna var för sig, eller ta bort den inklistrade delen")


def check_widths(header: Row, data: Iterable[Row], file: str | Path, *,
                 names: Sequence[str] | None = None, short_rows: bool = True) -> None:
    """Refuse rows shorter than the header (CSV) and values in columns beyond it.

    ``names``: the column names used in messages (default the header's cells).
    ``short_rows``: check for rows with too few fields (CSV; in XLSX a row
    simply ends at its last value).
    """
    heads = [cell_text(x) for x in header.cells]
    labels = list(names) if names is not None else heads
    width = max((j + 1 for j, h in enumerate(heads) if h), default=0)
    for r in data:
        if r.is_blank():
            continue
        if short_rows and len(r.cells) < width:
            j = len(r.cells)
            raise FileFormatError(
                f"Raden har {len(r.cells)} fält men rubrikraden har {width}: filen kan vara "
                f"avkortad eller ha fel avgränsare på raden", file=file, row=r.line,
                column=(labels[j] if j < len(labels) and labels[j] else f"kolumn {j + 1}"),
                hint="Exportera filen på nytt; varje rad ska ha lika många fält som "
                     "rubrikraden")
        extra = [j for j in range(width, len(r.cells)) if cell_text(r.cells[j])]
        if extra:
            raise FileFormatError(
                f"Raden har ett värde i en kolumn utan rubrik ({show(r.cells[extra[0]])})",
                file=file, row=r.line, column=f"kolumn {extra[0] + 1} (utan rubrik)",
                hint="Ta bort värdet eller ge kolumnen en rubrik; kontrollera att raden har "
                     "rätt avgränsare")


def is_xlsx(path: str | Path) -> bool:
    """True if the file is a zip container (XLSX), whatever its name."""
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


_XLSX_CACHE: dict[tuple[str, int, int], dict[str, list[Row]]] = {}


def read_xlsx(path: str | Path) -> dict[str, list[Row]]:
    """All sheets of a workbook as rows of cell values (Excel row numbers).

    The last two workbooks read are kept (keyed by path, size and modification
    time), so reading the same workbook for results and then for background
    parses it once. Callers must not change the rows.
    """
    p = check_file(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key in _XLSX_CACHE:
        return _XLSX_CACHE[key]
    sheets = _read_xlsx(p)
    while len(_XLSX_CACHE) >= 2:
        _XLSX_CACHE.pop(next(iter(_XLSX_CACHE)))
    _XLSX_CACHE[key] = sheets
    return sheets


def _read_xlsx(p: Path) -> dict[str, list[Row]]:
    import openpyxl

    # A damaged workbook can fail anywhere inside zipfile, zlib, the XML parser or
    # openpyxl; whatever fails there, the file is not a readable workbook.
    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - see above
        raise FileFormatError(f"Excelfilen går inte att öppna; den är skadad, avkortad eller "
                              f"inte en .xlsx-fil (teknisk orsak: {type(exc).__name__})",
                              file=p, hint="Kontrollera att filen är en hel .xlsx-fil; "
                                           "spara om den i Excel eller exportera på nytt"
                              ) from None
    sheets: dict[str, list[Row]] = {}
    try:
        for ws in wb.worksheets:
            rows = []
            for i, values in enumerate(ws.iter_rows(values_only=True), start=1):
                rows.append(Row(i, ["" if v is None else v for v in values]))
            sheets[ws.title] = rows
    except Exception as exc:  # noqa: BLE001 - a damaged workbook, as above
        raise FileFormatError(f"Excelfilen går inte att läsa; den är skadad eller avkortad "
                              f"(teknisk orsak: {type(exc).__name__})",
                              file=p, hint="Spara om filen i Excel eller exportera på nytt"
                              ) from None
    finally:
        wb.close()
    return sheets


def read_rows(path: str | Path, delimiters: Sequence[str] = (";", ",", "\t")
              ) -> tuple[dict[str, list[Row]], dict[str, Any]]:
    """CSV/text or XLSX as ``{sheet: rows}`` (CSV: one sheet named ``""``) and read info."""
    p = check_file(path)
    if is_xlsx(p):
        sheets = read_xlsx(p)
        if all(r.is_blank() for rows in sheets.values() for r in rows):
            raise FileFormatError("Filen är tom: arbetsboken har inga celler med innehåll",
                                  file=p, hint="Exportera eller spara filen på nytt")
        for rows in sheets.values():
            check_cells(rows, p)
        return sheets, {"format": "xlsx", "notes": []}
    text, enc, notes = read_text(p)
    delim = sniff_delimiter(text, delimiters)
    return {"": split_rows(text, delim, p)}, {"format": "csv", "encoding": enc,
                                              "delimiter": delim, "notes": notes}


# --------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------
def cell_text(v: Any) -> str:
    """A cell as stripped text ('' for empty); integral floats without '.0'."""
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(v, (_dt.datetime, _dt.date)):
        return v.isoformat()
    return str(v).replace("\ufeff", "").strip()


def norm(s: Any) -> str:
    """Normalised header text: lower case, single spaces, no BOM, NFC."""
    t = unicodedata.normalize("NFC", cell_text(s)).lower()
    t = t.replace("\u00a0", " ").replace("\u202f", " ")
    return re.sub(r"\s+", " ", t).strip()


def fold(s: Any) -> str:
    """Header text folded for matching: lower case, å/ä→a, ö→o, only letters and digits."""
    t = norm(s).replace("å", "a").replace("ä", "a").replace("ö", "o").replace("é", "e")
    return re.sub(r"[^a-z0-9]", "", t)


_NUM_RE = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009\u2007'")


def parse_number(v: Any) -> tuple[float, str] | None:
    """A cell as (value, status); None if it is neither a number nor a known marker.

    ``value`` is NaN whenever ``status`` is not ``ok``.
    """
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, np.integer)):
        return float(v), "ok"
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return math.nan, "missing"
        return float(v), "ok"
    s = cell_text(v)
    if s == "":
        return math.nan, "missing"
    if s in MARKERS:
        return math.nan, MARKERS[s]
    t = s.lower()
    if t.startswith("cirka "):
        t = t[6:]
    elif t.startswith("ca "):
        t = t[3:]
    t = t.rstrip("%").strip().translate(_SPACES).replace("\u2212", "-")
    if not _NUM_RE.match(t):
        return None
    if "," in t and "." in t:
        return None
    try:
        x = float(t.replace(",", "."))
    except ValueError:
        return None
    if not math.isfinite(x):
        return None
    return x, "ok"


def marker_of(v: Any) -> str | None:
    """The marker a cell holds ('..', '.', '~100', '*', '-') or None."""
    s = cell_text(v)
    return s if s in MARKERS else None


_YEAR_RE = re.compile(r"((?:19|20)\d{2})\s*[/\-–]\s*((?:19|20)?\d{2})")


def school_year_of_text(s: str) -> str | None:
    """'2023/24', '2023/2024', '2023-24' -> '2023/24' (None if not a läsår)."""
    m = _YEAR_RE.search(s)
    if not m:
        return None
    start = int(m.group(1))
    end = m.group(2)
    end2 = int(end[-2:])
    if (start + 1) % 100 != end2:
        return None
    return f"{start}/{end2:02d}"


def school_year_from_start(year: int) -> str:
    """2023 -> '2023/24'."""
    return f"{year}/{(year + 1) % 100:02d}"


_MONTHS_SV = {"jan": 1, "januari": 1, "feb": 2, "februari": 2, "mar": 3, "mars": 3, "apr": 4,
              "april": 4, "maj": 5, "jun": 6, "juni": 6, "jul": 7, "juli": 7, "aug": 8,
              "augusti": 8, "sep": 9, "sept": 9, "september": 9, "okt": 10, "oktober": 10,
              "nov": 11, "november": 11, "dec": 12, "december": 12}
_DATE_PATTERNS = [
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}[:.]\d{2}(?:[:.]\d{2}(?:\.\d+)?)?)?$"),
     "ymd"),
    (re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?: \d{1,2}[:.]\d{2}(?:[:.]\d{2})?)?$"), "ymd"),
    (re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"), "ymd"),
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), "ymd"),
    (re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.\s]\s*(\d{4})(?: \d{1,2}[:.]\d{2}(?:[:.]\d{2})?)?$"),
     "dmy"),
    (re.compile(r"^(\d{1,2})/(\d{1,2})\s+(\d{4})$"), "dmy"),
    (re.compile(r"^(\d{2})-(\d{2})-(\d{2})$"), "yymd"),
]
_DATE_WORDS_RE = re.compile(r"^(?:[a-zåäö]+dag(?:en)?\s+(?:den\s+)?)?(\d{1,2})\s*\.?\s*"
                            r"([a-zåäö]+)\.?\s+(\d{4})$")


def parse_date(v: Any) -> pd.Timestamp | None:
    """A date in the usual Swedish forms; None if it cannot be read.

    Accepted: ``2023-09-14`` (also with a time), ``2023/09/14``, ``2023.09.14``,
    ``20230914``, ``14/9/2023``, ``14.9.2023``, ``14/9 2023``, ``23-09-14``,
    ``14 september 2023``, ``14 sep. 2023``, ``torsdag 14 september 2023``,
    and Excel date cells.
    """
    if isinstance(v, pd.Timestamp):
        return v.normalize()
    if isinstance(v, _dt.datetime):
        return pd.Timestamp(v).normalize()
    if isinstance(v, _dt.date):
        return pd.Timestamp(v)
    s = norm(v)
    if not s:
        return None
    for pat, order in _DATE_PATTERNS:
        m = pat.match(s)
        if m:
            a, b, c = (int(x) for x in m.groups()[:3])
            if order == "ymd":
                y, mo, d = a, b, c
            elif order == "dmy":
                d, mo, y = a, b, c
            else:
                y, mo, d = 2000 + a, b, c
            return _mk_date(y, mo, d)
    m = _DATE_WORDS_RE.match(s)
    if m:
        month = _MONTHS_SV.get(m.group(2))
        if month is None:
            return None
        return _mk_date(int(m.group(3)), month, int(m.group(1)))
    return None


def _mk_date(y: int, mo: int, d: int) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(_dt.date(y, mo, d))
    except (ValueError, OverflowError):
        return None


def map_unique(values: pd.Series, func: Any) -> pd.Series:
    """``values.map(func)``, calling ``func`` once per distinct value.

    A column of a large export has few distinct values (scores, dates, roles),
    so this is the elementwise map at the cost of its distinct values. Only
    used where equal values are the same cell for ``func``: all strings (the
    CSV reader's cells), datetimes or numbers; a mixed column (Excel's cells
    of several types: ``1`` and ``True`` hash alike) is mapped element by
    element. The result holds ``func``'s objects (tuples too) in object dtype.
    """
    from pandas.api.types import infer_dtype

    kind = infer_dtype(values, skipna=True)
    if kind not in ("string", "empty", "datetime", "datetime64", "date", "floating",
                    "integer"):
        out = np.empty(len(values), dtype=object)
        out[:] = [func(v) for v in values.to_numpy(dtype=object)]
        return pd.Series(out, index=values.index)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    mapped = np.empty(len(uniques), dtype=object)
    mapped[:] = [func(u) for u in np.asarray(uniques, dtype=object)]
    return pd.Series(mapped[codes], index=values.index)


def frame_of_rows(rows: Sequence[Row], columns: Sequence[str]) -> pd.DataFrame:
    """Rows as a DataFrame of raw cells (index = line numbers), padded to ``columns``."""
    n = len(columns)
    data = [list(r.cells[:n]) + [""] * (n - len(r.cells[:n])) for r in rows]
    return pd.DataFrame(data, columns=list(columns), index=[r.line for r in rows], dtype=object)


def marker_counts(values: Iterable[Any]) -> Counter:
    """How often each marker occurs among ``values``."""
    c: Counter = Counter()
    for v in values:
        m = marker_of(v)
        if m is not None:
            c[m] += 1
    return c


def markers_note(counts: Counter) -> str:
    """Provenance note for marker counts ('markörer: .. 12, . 3')."""
    if not counts:
        return "markörer: inga"
    return "markörer: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def show(v: Any, limit: int = 40) -> str:
    """A cell for an error message: quoted, cut after ``limit`` characters."""
    t = cell_text(v)
    if len(t) > limit:
        return repr(t[:limit]) + f"… ({number(len(t))} tecken)"
    return repr(t)


_SEP_RE = re.compile(r"^[+-]?\d+([.,])\d+%?$")


class DecimalStyle:
    """The decimal separator a file uses: the first one seen; the other one is refused.

    ``see(cell, file=…, row=…, column=…)`` is called for every text cell read
    as a number. A file that writes ``82,0`` in one cell and ``82.0`` in
    another is ambiguous (``3.877`` can be a thousands separator), so it is a
    ValueFormatError naming the second kind's cell and the first kind's.
    """

    def __init__(self) -> None:
        self.first: tuple[str, int | None, str | None, str] | None = None

    def see(self, v: Any, *, file: str | Path, row: int | None, column: str | None) -> None:
        if not isinstance(v, str):
            return
        t = v.strip().translate(_SPACES)
        m = _SEP_RE.match(t)
        if m is None:
            return
        sep = m.group(1)
        if self.first is None:
            self.first = (sep, row, column, t)
            return
        if sep != self.first[0]:
            name = {",": "decimalkomma", ".": "decimalpunkt"}
            where0 = ", ".join(x for x in (f"rad {self.first[1]}" if self.first[1] else "",
                                           f"kolumn {self.first[2]}" if self.first[2] else "")
                               if x)
            raise ValueFormatError(
                f"Filen blandar {name[self.first[0]]} och {name[sep]}: {show(v)} har "
                f"{name[sep]}, men {self.first[3]!r} ({where0}) har {name[self.first[0]]}",
                file=file, row=row, column=column,
                hint="Skolverket skriver decimalkomma (82,0) och mellanslag mellan tusental "
                     "(3 877); rätta värdena eller exportera filen på nytt")


COUNT_MEASURES = frozenset({"n_pupils_grade9", "teachers_n", "first_teachers_n",
                            "n_pupils_total", "n_pupils", "n", "_n"})
"""Measures (and background columns) that are counts: whole numbers ≥ 0."""

_RANGES: dict[str, tuple[float, float]] = {
    "merit_17": (0.0, 340.0), "merit_16": (0.0, 320.0),
}


def value_range(measure: str) -> tuple[float, float] | None:
    """The possible range of a measure's values (None: only ≥ 0, or unknown)."""
    if measure in _RANGES:
        return _RANGES[measure]
    if measure.endswith("_pct") or measure.startswith("share_"):
        return (0.0, 100.0)
    if measure.startswith("np_") and measure.endswith("_avg_points"):
        return (0.0, 20.0)
    return None


def check_value(measure: str, value: float, *, file: str | Path, row: int | None,
                column: str | None, raw: Any = None) -> None:
    """Refuse an impossible value of ``measure`` (ValueFormatError naming the cell).

    Counts (:data:`COUNT_MEASURES`, ``np_*_n``) must be whole numbers ≥ 0,
    shares and ``*_pct`` 0–100, meritvärde 0–340 / 0–320, test-grade points
    0–20, and every known measure ≥ 0. Kolada KPIs without a mapping
    (``kolada_*``) are not checked.
    """
    if not math.isfinite(value) or measure.startswith("kolada_"):
        return
    shown = show(raw) if raw is not None else repr(number(value, None))
    is_count = measure in COUNT_MEASURES or (measure.startswith("np_")
                                             and measure.endswith("_n"))
    if is_count and (value < 0 or not float(value).is_integer()):
        raise ValueFormatError(
            f"Antalet {shown} är inte ett heltal som är 0 eller större", file=file, row=row,
            column=column,
            hint="Antal skrivs som heltal, med mellanslag mellan tusental (3 877); en punkt "
                 "eller ett komma i ett antal är troligen en tusentalsavgränsare från ett annat "
                 "program")
    rng = value_range(measure)
    lo, hi = rng if rng is not None else (0.0, math.inf)
    if value < lo or value > hi:
        span = f"{number(lo, None)}–{number(hi, None)}" if math.isfinite(hi) \
            else f"{number(lo, None)} eller större"
        raise ValueFormatError(
            f"Värdet {shown} ligger utanför det möjliga intervallet {span}", file=file,
            row=row, column=column,
            hint="Kontrollera värdet och att det står i rätt kolumn"
                 + ("; andelar anges i procent 0–100" if hi == 100 else ""))


def today() -> _dt.date:
    """Today's date (one place, so that tests can replace it)."""
    return _dt.date.today()


def check_not_future(*, file: str | Path, row: int | None, column: str | None,
                     date: Any = None, school_year: str | None = None,
                     year: int | None = None, hint: str = "Rätta värdet") -> None:
    """Refuse a date after today, a school year that starts after this year, or a later year."""
    now = today()
    if date is not None and pd.Timestamp(date).date() > now:
        raise ValueFormatError(f"Datumet {pd.Timestamp(date):%Y-%m-%d} ligger i framtiden",
                               file=file, row=row, column=column, hint=hint)
    if school_year is not None and int(school_year[:4]) > now.year:
        raise ValueFormatError(f"Läsåret {school_year} ligger i framtiden", file=file,
                               row=row, column=column, hint=hint)
    if year is not None and year > now.year:
        raise ValueFormatError(f"Året {year} ligger i framtiden", file=file, row=row,
                               column=column, hint=hint)


_JSON_SV = [("Expecting value", "ett värde saknas"),
            ("Expecting property name enclosed in double quotes",
             "ett fältnamn inom citattecken saknas"),
            ("Expecting ':' delimiter", "kolon saknas"),
            ("Expecting ',' delimiter", "kommatecken saknas"),
            ("Unterminated string starting at", "en textsträng avslutas aldrig"),
            ("Extra data", "det finns mer text efter JSON-dokumentet (flera dokument i en fil?)"),
            ("Invalid control character at", "ett otillåtet styrtecken"),
            ("Invalid \\escape", "en ogiltig escape-sekvens"),
            ("Invalid \\uXXXX escape", "en ogiltig \\u-sekvens")]


def json_error(exc: json.JSONDecodeError, file: str | Path, hint: str) -> FileFormatError:
    """A JSONDecodeError as the package's error: Swedish, with line and character."""
    what = next((sv for en, sv in _JSON_SV if exc.msg.startswith(en)),
                "texten följer inte JSON-formatet")
    return FileFormatError(f"Filen är inte giltig JSON: {what} (tecken {exc.colno} på raden)",
                           file=file, row=exc.lineno, hint=hint)


# --------------------------------------------------------------------------
# Finishing a table
# --------------------------------------------------------------------------
def finish(df: pd.DataFrame, *, table: str, path: str | Path, loader: str, rows_read: int,
           dropped: dict[str, int] | None = None, notes: Sequence[str] = (),
           scale: tuple[float, float] | None = None,
           attrs: dict[str, Any] | None = None) -> tuple[pd.DataFrame, ProvenanceRecord]:
    """Validate a canonical table, name its index ``rad``, set attrs; return it with provenance."""
    p = Path(path)
    if df.empty and len(df.columns) == 0:
        df = schema.empty(table)
    df = df.copy()
    df.index.name = "rad"
    df.attrs = {"source": p.name}
    out = schema.validate(table, df, scale=scale)
    out.index.name = "rad"
    prov = ProvenanceRecord.for_file(p, loader, table, rows_read, len(out),
                                     {k: v for k, v in (dropped or {}).items() if v},
                                     tuple(notes))
    out.attrs = {"source": p.name, "table": table, **(attrs or {})}
    return out, prov


def publish(result: tuple[pd.DataFrame, ProvenanceRecord]) -> pd.DataFrame:
    """The public form of a loader's result: the table with ``attrs['provenance']``."""
    df, prov = result
    df.attrs["provenance"] = prov
    return df


# --------------------------------------------------------------------------
# Turning stray parser exceptions into the package's own error
# --------------------------------------------------------------------------
_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile, csv.Error,
    UnicodeError, json.JSONDecodeError, OverflowError, EOFError)

F = TypeVar("F", bound=Callable[..., Any])


def guarded(what: str) -> Callable[[F], F]:
    """Decorator: unexpected parse errors inside a loader become FileFormatError.

    The loaders check what they can and raise specific errors; this is the
    net under them, so that a damaged file never ends in a bare Python error.
    """
    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except UAError:
                raise
            except _PARSE_ERRORS as exc:
                path = args[0] if args else kwargs.get("path")
                raise FileFormatError(
                    f"Filen kunde inte läsas som {what} ({type(exc).__name__}: {exc})",
                    file=path if isinstance(path, (str, Path)) else None,
                    hint="Kontrollera att filen är en oförändrad export i rätt format") from exc
        return wrapper  # type: ignore[return-value]
    return deco


def value_error(msg: str, *, file: str | Path, row: int | None, column: str | None,
                hint: str) -> ValueFormatError:
    return ValueFormatError(msg, file=file, row=row, column=column, hint=hint)


def rows_error(cls: type[UAError], msg: str, *, file: str | Path, column: str | None,
               bad: Sequence[tuple[int, Any]], hint: str, limit: int = 10) -> UAError:
    """An error listing the offending rows: 'rad 14: "7"; rad 20: "x"' (first ``limit``)."""
    bad = list(dict.fromkeys((line, cell_text(v)) for line, v in bad))  # each cell once
    listed = "; ".join(f"rad {line}: {show(v, 120)}" for line, v in bad[:limit])
    more = f" … och {len(bad) - limit} rader till" if len(bad) > limit else ""
    first = bad[0][0] if bad else None
    return cls(f"{msg} ({len(bad)} rader: {listed}{more})", file=file, row=first,
               column=column, hint=hint)


def pad_code(v: Any, width: int) -> str:
    """A numeric code as a zero-padded string ('604' -> '0604'); other text unchanged."""
    s = cell_text(v)
    if s.isdigit() and len(s) < width:
        return s.zfill(width)
    return s
