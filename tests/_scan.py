"""Scan written outputs for what must never leave the package (a test instrument).

:func:`scan_outputs` walks an output directory and reports, per file:

* ``personnummer``: a personnummer-like string anywhere in the text (10 or
  12 digits, with or without ``-``/``+``, a valid date, samordningsnummer
  included, and a valid check digit; :func:`privacy.is_personnummer`);
* ``teacher``: a teacher pseudonym of the inputs (a Dataset's ``teacher_id``
  values), ``pupil``: a pupil pseudonym (``pupil_results.pupil_id``);
* ``name``: a name given in ``names`` (e.g. the names in the input files);
  the school register's school, municipality and area names are allowed;
* ``teacher_level``: a teacher identifier column or a teacher-level row
  (:func:`privacy.teacher_columns`);
* ``below_floor``: a table row that shows a value although its counts are
  below the floors, where the table carries them (``n``/``antal elever`` for
  pupils, ``n_teachers`` and ``n_obs`` for teaching quality).

What is read: HTML (text, attributes, tables, embedded ``data:`` images),
CSV/TSV/TXT (text and the table under the header), JSON (text and any list
of records), Parquet and Feather (cells, column names, schema metadata), XLSX
(cells and document properties), PNG (``tEXt``/``zTXt``/``iTXt``/``eXIf``
chunks, not the pixels), SVG and other text files (text), file names. Other
binary files are scanned for printable strings only and listed in
``ScanReport.partial``.

This module is a test instrument: it looks for leaks, it does not prevent
them (that is :mod:`undervisning_analys.privacy`).

Why it lives in ``tests/`` and not in the package (issue #12): it checks the
package's own promise that nothing below the floors, no personnummer and no
teacher identifier leaves an output, by scanning what the tests wrote
(``test_output_scan.py``, ``test_reproducibility.py``). A user does not need
it: every output path already goes through :mod:`undervisning_analys.privacy`,
and a public "audit" command would suggest that the package's outputs must be
checked by hand before they are shared, and would have to promise a
completeness (every format, every way of hiding a number) that a scanner of
strings cannot keep. As a test instrument it can be strict and change with the
tests; tests import it as ``from _scan import ...`` (pytest puts ``tests/``
on the path).
"""

from __future__ import annotations

import base64
import binascii
import csv
import html
import json
import re
import struct
import unicodedata
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from undervisning_analys import privacy
from undervisning_analys.schema import MEASURES

# --------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing in one file that must not be there."""

    path: str
    kind: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path} [{self.where}] {self.kind}: {self.detail}"


@dataclass
class ScanReport:
    """What a scan found; ``ok`` when nothing."""

    root: str
    findings: list[Finding] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def assert_clean(self) -> None:
        """Raise AssertionError listing every finding (for tests)."""
        if self.findings:
            lines = [str(f) for f in self.findings[:50]]
            more = len(self.findings) - len(lines)
            if more > 0:
                lines.append(f"... and {more} more")
            raise AssertionError(f"{len(self.findings)} findings in {self.root}:\n"
                                 + "\n".join(lines))

    def __str__(self) -> str:
        head = (f"{len(self.scanned)} files scanned in {self.root}, "
                f"{len(self.findings)} findings")
        return "\n".join([head, *map(str, self.findings)])


# --------------------------------------------------------------------------
# Text patterns
# --------------------------------------------------------------------------
# 10 or 12 digits with an optional -/+ before the last four; not part of a
# longer number and not the fraction of a decimal number ("0.1990010112345").
_PNR_CANDIDATE = re.compile(r"(?<![\d])(?<!\d[.,])((?:\d{2})?\d{6}[-+]?\d{4})(?![\d])")
_HEX_TOKEN = re.compile(r"[0-9a-fA-F]+")
_DATA_URI = re.compile(r"data:([\w/+.-]+)?(;[\w=.-]+)*;base64,([A-Za-z0-9+/=\s]+)")
_STRINGS = re.compile(rb"[\x20-\x7e\xa0-\xff]{6,}")


def find_personnummer(text: str) -> list[str]:
    """Personnummer-like strings in ``text`` (valid date and check digit).

    Digit runs inside a long hexadecimal token (a sha256, a pseudonym) are
    not counted: they are hashes, not numbers someone wrote.
    """
    hits = []
    for m in _PNR_CANDIDATE.finditer(text):
        cand = m.group(1)
        if not privacy.is_personnummer(cand):
            continue
        start, end = m.span(1)
        lo = start
        while lo > 0 and text[lo - 1] in "0123456789abcdefABCDEF":
            lo -= 1
        hi = end
        while hi < len(text) and text[hi] in "0123456789abcdefABCDEF":
            hi += 1
        token = text[lo:hi]
        if hi - lo >= 16 and re.search(r"[a-fA-F]", token) and "-" not in cand \
                and "+" not in cand:
            continue
        hits.append(cand)
    return hits


def _mask(pnr: str) -> str:
    return pnr[:-4] + "****"


def _words_pattern(words: Iterable[str], ignore_case: bool) -> re.Pattern[str] | None:
    ws = sorted({w for w in words if w}, key=len, reverse=True)
    if not ws:
        return None
    body = "|".join(re.escape(w) for w in ws)
    # bounded by anything but a letter or digit ("_" counts as a boundary: file names)
    return re.compile(rf"(?<![^\W_])(?:{body})(?![^\W_])",
                      re.IGNORECASE if ignore_case else 0)


def _norm_header(name: object) -> str:
    s = unicodedata.normalize("NFKD", str(name).strip().lower())
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "_", s).strip("_")


_PUPIL_N = {"n", "n_pupils", "n_elever", "antal_elever", "elever", "antal", "antal_elever_n"}
_TEACHER_N = {"n_teachers", "n_larare", "antal_larare", "larare_n", "antal_observerade_larare",
              "observerade_larare"}
_OBS_N = {"n_obs", "n_lessons", "n_lektioner", "antal_lektioner", "lektioner",
          "antal_observerade_lektioner", "observerade_lektioner", "antal_observationer",
          "observationer"}
_QUALITY_VALUES = {"estimate", "se", "conf_low", "conf_high", "skattning", "index", "samlat_index",
                   "medelfel", "undre", "ovre", "undre_grans", "ovre_grans",
                   "undervisningskvalitet", "kvalitet", "varde", "value"}
_PUPIL_VALUES = {"value", "varde", "observed", "expected", "residual", "estimate", "se",
                 "conf_low", "conf_high", "observerat", "forvantat", "forvantad",
                 "skillnad", "medel", "medelvarde", "andel", "meritvarde", "resultat",
                 "skolans_resultat"}
_PUPIL_VALUES |= {_norm_header(m) for m in MEASURES} | {_norm_header(v) for v in MEASURES.values()}
_KI = re.compile(r"(^|_)(ki|konfidensintervall|ci)(_|$)")
_NOT_SHOWN = {"", "..", ".", "-", "–", "—", "*", "nan", "none", "<na>", "nat", "null"}


def _shown_number(v: Any) -> bool:
    """True if a cell shows a value (a number, ``~100``), False for markers and blanks."""
    if v is None or v is pd.NA:
        return False
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, np.integer)):
        return True
    if isinstance(v, (float, np.floating)):
        return bool(np.isfinite(v))
    s = str(v).strip()
    if s.lower() in _NOT_SHOWN:
        return False
    if s.startswith("~"):
        return True
    if " till " in s:  # an interval: "2,54 till 2,99"
        return any(_shown_number(part) for part in s.split(" till "))
    t = s.replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace("\u2212", "-")
    t = t.rstrip("%").replace(",", ".")
    try:
        float(t)
    except ValueError:
        return False
    return True


def _numeric_view(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns whose every non-blank cell is a number (``1 234,5``, ``..``) as floats.

    Tables read back from HTML and CSV are text; a column ``Lärare`` of counts
    must look like a count, not like an identifier.
    """
    if not df.columns.is_unique:
        return df
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            out[col] = s
            continue
        vals = s.to_numpy(dtype=object)
        nums = np.array([_as_number(v) for v in vals], dtype=float)
        blank = np.array([not _shown_number(v) and str(v).strip().lower() in _NOT_SHOWN
                          for v in vals], dtype=bool)
        out[col] = nums if len(vals) and np.isfinite(nums[~blank]).all() and (~blank).any() \
            else s
    return pd.DataFrame(out, index=df.index)


def _as_number(v: Any) -> float:
    if v is None or v is pd.NA:
        return np.nan
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return float(v)
    t = str(v).strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    t = t.replace(",", ".")
    m = re.match(r"^(cirka|ca\.?|~)?\s*(-?\d+(\.\d+)?)$", t)
    return float(m.group(2)) if m else np.nan


# --------------------------------------------------------------------------
# PNG and HTML helpers
# --------------------------------------------------------------------------
_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_text_chunks(data: bytes) -> list[tuple[str, str]]:
    """(keyword, text) of a PNG's text chunks (tEXt, zTXt, iTXt) and eXIf as text."""
    if not data.startswith(_PNG_SIG):
        return []
    out: list[tuple[str, str]] = []
    pos = len(_PNG_SIG)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        try:
            if ctype == b"tEXt":
                key, _, text = body.partition(b"\0")
                out.append((key.decode("latin-1"), text.decode("latin-1")))
            elif ctype == b"zTXt":
                key, _, rest = body.partition(b"\0")
                out.append((key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")))
            elif ctype == b"iTXt":
                key, _, rest = body.partition(b"\0")
                flag, _method = rest[0], rest[1]
                _lang, _, rest = rest[2:].partition(b"\0")
                translated, _, text = rest.partition(b"\0")
                if flag:
                    text = zlib.decompress(text)
                out.append((key.decode("latin-1"),
                            translated.decode("utf-8", "replace") + " "
                            + text.decode("utf-8", "replace")))
            elif ctype == b"eXIf":
                out.append(("eXIf", body.decode("latin-1")))
        except (zlib.error, IndexError, UnicodeDecodeError):
            out.append((ctype.decode("latin-1"), body.decode("latin-1")))
        if ctype == b"IEND":
            break
    return out


class _DataRefs(HTMLParser):
    """Collect (data-ref, text) of every element that carries a ``data-ref`` attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[tuple[str, str]] = []
        self._open: list[tuple[str, str | None, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ref = dict(attrs).get("data-ref")
        self._open.append((tag, ref, []))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            t, ref, parts = self._open.pop()
            text = "".join(parts)
            if self._open:
                self._open[-1][2].append(text)
            if ref is not None:
                self.cells.append((ref, " ".join(text.split())))
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2].append(data)


_RESULT_REF_COLUMNS = frozenset({"value", "observed", "expected", "residual", "se",
                                 "conf_low", "conf_high"})


def _unit_counts(dataset: Any) -> dict[tuple[str, str], tuple[float, float]]:
    """(unit, term) -> (distinct teachers, distinct lessons) for schools, areas, municipalities."""
    obs = dataset.observations
    if not len(obs):
        return {}
    schools = dataset.schools.set_index("school_id")
    o = obs[["school_id", "term", "teacher_id", "observation_id"]].copy()
    o["area"] = o["school_id"].map(schools["area"]) if "area" in schools else None
    o["municipality_id"] = o["school_id"].map(schools["municipality_id"])
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for unit_col in ("area", "municipality_id", "school_id"):
        sub = o.dropna(subset=[unit_col])
        if not len(sub):
            continue
        g = sub.groupby([unit_col, "term"], observed=True)
        counts = pd.DataFrame({"t": g["teacher_id"].nunique(), "o": g["observation_id"].nunique()})
        for k, r in counts.iterrows():
            out[(str(k[0]), str(k[1]))] = (float(r.t), float(r.o))
    return out


def _pupil_counts(dataset: Any) -> dict[tuple[str, str, str, str], float]:
    r = dataset.results
    if not len(r):
        return {}
    r = r[(r["level"].astype(str) == "school") & (r["principal_type"].astype(str) == "all")]
    return {(str(a), str(b), str(c), str(d)): float(n) if pd.notna(n) else np.inf
            for a, b, c, d, n in zip(r["school_id"], r["school_year"], r["measure"],
                                     r["group"].astype(str), r["n"], strict=True)}


class _HTMLTables(HTMLParser):
    """Collect the tables of an HTML document as lists of rows of cell text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, list[list[str]]]] = []
        self._stack: list[dict[str, list[list[str]]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_head = False
        self._row_is_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._stack.append({"head": [], "body": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._stack:
            self._row = []
            self._row_is_head = self._in_head
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._stack:
            self._stack[-1]["head" if self._row_is_head else "body"].append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table" and self._stack:
            self.tables.append(self._stack.pop())

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(text: str) -> list[pd.DataFrame]:
    """The tables of an HTML document (last header row as column names)."""
    parser = _HTMLTables()
    parser.feed(text)
    parser.close()
    frames = []
    for t in parser.tables:
        head, body = t["head"], t["body"]
        if head:
            header = head[-1]
        elif body:
            header, body = body[0], body[1:]
        else:
            continue
        if not body:
            continue
        width = max(len(header), *(len(r) for r in body))
        header = [""] * (width - len(header)) + header
        rows = [r + [""] * (width - len(r)) for r in body]
        cols = [h if h else f"_col{j}" for j, h in enumerate(header)]
        seen: dict[str, int] = {}
        uniq = []
        for c in cols:
            seen[c] = seen.get(c, 0) + 1
            uniq.append(c if seen[c] == 1 else f"{c}_{seen[c]}")
        frames.append(pd.DataFrame(rows, columns=uniq))
    return frames


def _strip_data_uris(text: str) -> str:
    """Text with the base64 payloads of ``data:`` URIs removed (random letters and digits)."""
    return _DATA_URI.sub(lambda m: f"data:{m.group(1) or ''};base64,", text)


def _decode_text(data: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _csv_table(text: str) -> pd.DataFrame | None:
    lines = [ln for ln in text.splitlines()]
    best: tuple[int, str, int] | None = None
    for delim in (";", ",", "\t"):
        counts = [len(r) for r in csv.reader(lines, delimiter=delim)]
        multi = [c for c in counts if c > 1]
        if not multi:
            continue
        mode = max(set(multi), key=multi.count)
        score = multi.count(mode)
        if best is None or score > best[0]:
            best = (score, delim, mode)
    if best is None:
        return None
    _, delim, mode = best
    rows = list(csv.reader(lines, delimiter=delim))
    start = next(i for i, r in enumerate(rows) if len(r) == mode)
    header = rows[start]
    body = [r for r in rows[start + 1:] if len(r) == mode]
    if not body:
        return None
    cols = [h if h else f"_col{j}" for j, h in enumerate(header)]
    cols = [c if cols.count(c) == 1 else f"{c}_{j}" for j, c in enumerate(cols)]
    return pd.DataFrame(body, columns=cols)


def _json_tables(obj: Any) -> Iterator[pd.DataFrame]:
    if isinstance(obj, list):
        if obj and all(isinstance(x, dict) for x in obj):
            try:
                yield pd.DataFrame(obj)
            except (ValueError, TypeError):
                pass
        for x in obj:
            if isinstance(x, (list, dict)):
                yield from _json_tables(x)
    elif isinstance(obj, dict):
        vals = list(obj.values())
        if vals and all(isinstance(v, (dict, list)) for v in vals):
            try:
                df = pd.DataFrame(obj)
                if df.shape[1] > 1:
                    yield df
            except (ValueError, TypeError):
                pass
        for v in vals:
            if isinstance(v, (list, dict)):
                yield from _json_tables(v)


# --------------------------------------------------------------------------
# The scanner
# --------------------------------------------------------------------------
class Scanner:
    """Scan files for personnummer, pseudonyms, names, teacher rows and cells below the floors.

    Parameters
    ----------
    dataset : the inputs; its ``teacher_id`` (and ``pupil_id``) values are
        searched for, its school register names are allowed.
    teacher_ids, pupil_ids : more pseudonyms to search for.
    names : names from the inputs (case-insensitive, whole words).
    allowed : strings that may appear (school and municipality names).
    floors : :class:`privacy.Floors` for the table checks.
    min_id_length : shorter pseudonyms are only matched as whole table cells,
        never inside text (a two-character id would match everywhere).
    """

    def __init__(self, dataset: Any = None, *, teacher_ids: Iterable[str] = (),
                 pupil_ids: Iterable[str] = (), names: Iterable[str] = (),
                 allowed: Iterable[str] = (), floors: privacy.Floors | None = None,
                 min_id_length: int = 4) -> None:
        t_ids = {str(t) for t in teacher_ids}
        p_ids = {str(p) for p in pupil_ids}
        allow = {str(a) for a in allowed if a}
        if dataset is not None:
            obs = dataset.observations
            t_ids |= {str(t) for t in obs["teacher_id"].dropna().unique()}
            if getattr(dataset, "pupil_results", None) is not None:
                p_ids |= {str(p) for p in dataset.pupil_results["pupil_id"].dropna().unique()}
            s = dataset.schools
            for col in ("school_name", "municipality_name", "area"):
                if col in s.columns:
                    allow |= {str(v) for v in s[col].dropna().unique()}
        self.teacher_ids = t_ids - allow
        self.pupil_ids = p_ids - allow
        self.names = {str(n) for n in names if n} - allow
        self.allowed = allow
        self.floors = floors or privacy.DEFAULT_FLOORS
        self.min_id_length = min_id_length
        self.school_ids: set[str] = set()
        self.dimension_names: set[str] = set()
        self.unit_counts: dict[tuple[str, str], tuple[float, float]] = {}
        """(unit, term) -> (teachers, lessons); unit = school_id, area or municipality_id."""
        self.pupil_counts: dict[tuple[str, str, str, str], float] = {}
        """(school_id, school_year, measure, group) -> n of the school-level results."""
        if dataset is not None:
            self.school_ids = {str(c) for c in dataset.schools["school_id"]}
            inst = getattr(dataset, "instrument", None)
            if inst is not None:
                for d in getattr(inst, "dimensions", []) or []:
                    for attr in ("name", "id", "label"):
                        v = getattr(d, attr, None) if not isinstance(d, str) else d
                        if v:
                            self.dimension_names.add(_norm_header(v))
            self.unit_counts = _unit_counts(dataset)
            self.pupil_counts = _pupil_counts(dataset)
        self._teacher_re = _words_pattern(
            [t for t in self.teacher_ids if len(t) >= min_id_length], ignore_case=False)
        self._pupil_re = _words_pattern(
            [p for p in self.pupil_ids if len(p) >= min_id_length], ignore_case=False)
        self._names_re = _words_pattern(self.names, ignore_case=True)
        self._allowed_re = _words_pattern(allow, ignore_case=True)

    # ---- text -------------------------------------------------------------
    def scan_text(self, text: str, path: str, where: str) -> list[Finding]:
        """Personnummer, pseudonyms and names in a piece of text."""
        found: list[Finding] = []
        for pnr in find_personnummer(text):
            found.append(Finding(path, "personnummer", where,
                                 f"personnummerliknande sträng {_mask(pnr)}"))
        if self._allowed_re is not None:
            text = self._allowed_re.sub(lambda m: " " * len(m.group(0)), text)
        for kind, pattern in (("teacher", self._teacher_re), ("pupil", self._pupil_re),
                              ("name", self._names_re)):
            if pattern is None:
                continue
            hits = sorted({m.group(0) for m in pattern.finditer(text)})
            for h in hits:
                found.append(Finding(path, kind, where, f"{h!r} förekommer"))
        return found

    # ---- tables -----------------------------------------------------------
    def scan_table(self, df: pd.DataFrame, path: str, where: str) -> list[Finding]:
        """Cell-level checks: exact pseudonyms, teacher columns/rows, cells below the floors."""
        found: list[Finding] = []
        for col in privacy.teacher_columns(_numeric_view(df)):
            found.append(Finding(path, "teacher_level", f"{where}, kolumn {col!r}",
                                 "kolumn som identifierar lärare"))
        for col in df.columns:
            if _norm_header(col) in ("level", "niva"):
                bad = df[col].astype(str).str.strip().str.lower().isin(
                    ["teacher", "lärare", "larare"])
                if bad.any():
                    found.append(Finding(path, "teacher_level", f"{where}, kolumn {col!r}",
                                         f"{int(bad.sum())} rader på lärarnivå"))
        short_t = {t for t in self.teacher_ids if len(t) < self.min_id_length}
        short_p = {p for p in self.pupil_ids if len(p) < self.min_id_length}
        if short_t or short_p:
            for col in df.columns:
                cells = df[col].astype(str).str.strip()
                for kind, ids in (("teacher", short_t), ("pupil", short_p)):
                    hit = cells.isin(ids)
                    if hit.any():
                        found.append(Finding(path, kind, f"{where}, kolumn {col!r}",
                                             f"{int(hit.sum())} celler med pseudonymer"))
        found += self._below_floor(df, path, where)
        return found

    def _is_other_unit(self, header: object) -> bool:
        """A column about another unit (``Exempelkommun, samlat index``): not this row's value."""
        return self._allowed_re is not None and bool(self._allowed_re.search(str(header)))

    def _quality_value_columns(self, norm: dict[Any, str]) -> list[Any]:
        return [c for c, n in norm.items()
                if not self._is_other_unit(c)
                and (n in _QUALITY_VALUES or "index" in n or _KI.search(n) is not None
                     or n in self.dimension_names)]

    def _below_floor(self, df: pd.DataFrame, path: str, where: str) -> list[Finding]:
        norm = {c: _norm_header(c) for c in df.columns}
        found: list[Finding] = []

        def first(names: set[str]) -> Any:
            return next((c for c, n in norm.items() if n in names), None)

        def rows_showing(mask: np.ndarray, value_cols: list[Any]) -> np.ndarray:
            shown = np.zeros(len(df), dtype=bool)
            for c in value_cols:
                shown |= np.array([_shown_number(v) for v in df[c].to_numpy(dtype=object)],
                                  dtype=bool)
            return mask & shown

        def numbers(col: Any) -> np.ndarray:
            return np.array([_as_number(v) for v in df[col].to_numpy(dtype=object)], dtype=float)

        t_col, o_col = first(_TEACHER_N), first(_OBS_N)
        term_col = first({"termin", "term"})
        school = self._school_of(path)
        if t_col is not None or o_col is not None:
            vcols = self._quality_value_columns(norm)
            few = np.zeros(len(df), dtype=bool)
            if t_col is not None:
                few |= numbers(t_col) < self.floors.teachers
            if o_col is not None:
                few |= numbers(o_col) < self.floors.obs
            for i in np.flatnonzero(rows_showing(few, vcols))[:20]:
                found.append(Finding(path, "below_floor", f"{where}, rad {i + 1}",
                                     "undervisningskvalitet visas trots för få lärare eller "
                                     "lektioner"))
        elif school is not None and term_col is not None and self.unit_counts:
            # a school's own report: the counts come from the inputs
            vcols = self._quality_value_columns(norm)
            few = np.zeros(len(df), dtype=bool)
            for i, term in enumerate(df[term_col].astype(str).str.strip()):
                nt, no = self.unit_counts.get((school, term), (np.inf, np.inf))
                few[i] = nt < self.floors.teachers or no < self.floors.obs
            for i in np.flatnonzero(rows_showing(few, vcols))[:20]:
                found.append(Finding(path, "below_floor", f"{where}, rad {i + 1}",
                                     f"undervisningskvalitet för skolenhet {school} visas trots "
                                     f"för få lärare eller lektioner enligt indata"))
        n_col = first(_PUPIL_N)
        if n_col is not None:
            vcols = [c for c, n in norm.items()
                     if c != n_col and not self._is_other_unit(c)
                     and (n in _PUPIL_VALUES or n.endswith("_pct") or "resultat" in n
                          or _KI.search(n) is not None)]
            nn = numbers(n_col)
            for i in np.flatnonzero(rows_showing(nn < self.floors.pupils, vcols))[:20]:
                found.append(Finding(path, "below_floor", f"{where}, rad {i + 1}",
                                     f"värde visas trots färre än {self.floors.pupils} elever "
                                     f"(n = {nn[i]:g})"))
        return found

    def _school_of(self, path: str) -> str | None:
        """The school unit a file is about (one known 8-digit code in its name), or None."""
        codes = {c for c in re.findall(r"(?<!\d)\d{8}(?!\d)", Path(path).name)
                 if c in self.school_ids}
        return codes.pop() if len(codes) == 1 else None

    # ---- files ------------------------------------------------------------
    def scan_file(self, path: str | Path, root: str | Path | None = None
                  ) -> tuple[list[Finding], bool]:
        """Findings in one file, and whether it was fully scanned."""
        p = Path(path)
        rel = str(p.relative_to(root)) if root is not None else p.name
        found = self.scan_text(rel, rel, "filnamn")
        data = p.read_bytes()
        suffix = p.suffix.lower()
        full = True
        if suffix in (".html", ".htm", ".xhtml"):
            found += self._scan_html(_decode_text(data), rel)
        elif suffix in (".csv", ".tsv", ".txt", ".tab"):
            text = _decode_text(data)
            found += self.scan_text(text, rel, "text")
            table = _csv_table(text)
            if table is not None:
                found += self.scan_table(table, rel, "tabell")
        elif suffix in (".json", ".jsonl", ".geojson", ".ipynb"):
            text = _decode_text(data)
            found += self.scan_text(_strip_data_uris(text), rel, "text")
            try:
                objs = ([json.loads(ln) for ln in text.splitlines() if ln.strip()]
                        if suffix == ".jsonl" else [json.loads(text)])
            except json.JSONDecodeError:
                objs = []
            for obj in objs:
                for k, t in enumerate(_json_tables(obj)):
                    found += self.scan_table(t, rel, f"tabell {k + 1}")
            found += self._scan_data_uris(text, rel)
        elif suffix in (".parquet", ".pq", ".feather", ".arrow"):
            found += self._scan_arrow(p, rel, suffix)
        elif suffix in (".xlsx", ".xlsm"):
            found += self._scan_xlsx(p, rel)
        elif suffix == ".png":
            found += self._scan_png(data, rel, "PNG")
        elif suffix in (".svg", ".md", ".rst", ".tex", ".yaml", ".yml", ".xml", ".log",
                        ".py", ".r", ".css", ".js", ".toml", ".ini", ".cfg", ".sha256"):
            text = _decode_text(data)
            found += self.scan_text(_strip_data_uris(text), rel, "text")
            found += self._scan_data_uris(text, rel)
        else:
            text = "\n".join(s.decode("latin-1") for s in _STRINGS.findall(data))
            found += self.scan_text(text, rel, "binära strängar")
            full = False
        return found, full

    def _scan_html(self, text: str, rel: str) -> list[Finding]:
        # embedded files are decoded and scanned on their own, not as base64 text
        found = self.scan_text(html.unescape(_strip_data_uris(text)), rel, "HTML")
        for k, t in enumerate(html_tables(text)):
            found += self.scan_table(t, rel, f"HTML-tabell {k + 1}")
        found += self._scan_data_refs(text, rel)
        found += self._scan_data_uris(text, rel)
        return found

    def _scan_data_refs(self, text: str, rel: str) -> list[Finding]:
        """Cells whose ``data-ref`` names the tidy row they show (the reports do this).

        A ref is ``{"t": table, "k": {key: value}, "c": column}``. Teaching
        quality (``t == "quality"``, keys ``unit`` and ``term``) is checked
        against the teacher and lesson counts of the inputs; school results
        (``t == "results:<measure>"``, keys ``school_id``, ``school_year``) against
        the pupil counts of the inputs' results table.
        """
        if not self.unit_counts and not self.pupil_counts:
            return []
        parser = _DataRefs()
        parser.feed(text)
        parser.close()
        found: list[Finding] = []
        for raw, shown_text in parser.cells:
            try:
                ref = json.loads(raw)
                table, keys, col = str(ref["t"]), dict(ref["k"]), str(ref["c"])
            except (ValueError, KeyError, TypeError):
                continue
            if not _shown_number(shown_text):
                continue
            if table == "quality" and col in privacy.QUALITY_VALUE_COLUMNS:
                unit, term = str(keys.get("unit")), str(keys.get("term"))
                nt, no = self.unit_counts.get((unit, term), (np.inf, np.inf))
                if nt < self.floors.teachers or no < self.floors.obs:
                    found.append(Finding(
                        rel, "below_floor", f"data-ref {unit} {term} {col}",
                        f"undervisningskvalitet visas ({shown_text!r}) trots {nt:g} lärare "
                        f"och {no:g} lektioner i indata"))
            elif table.startswith("results:") and col in _RESULT_REF_COLUMNS:
                key = (str(keys.get("school_id")), str(keys.get("school_year")),
                       table.split(":", 1)[1], str(keys.get("group", "all")))
                n = self.pupil_counts.get(key, np.inf)
                if n < self.floors.pupils:
                    found.append(Finding(
                        rel, "below_floor", f"data-ref {key[0]} {key[1]} {key[2]} {col}",
                        f"värde visas ({shown_text!r}) trots {n:g} elever i indata"))
        return found

    def _scan_data_uris(self, text: str, rel: str) -> list[Finding]:
        found: list[Finding] = []
        for k, m in enumerate(_DATA_URI.finditer(text)):
            try:
                blob = base64.b64decode(re.sub(r"\s+", "", m.group(3)), validate=False)
            except (binascii.Error, ValueError):
                continue
            where = f"inbäddad fil {k + 1} ({m.group(1) or 'okänd typ'})"
            if blob.startswith(_PNG_SIG):
                found += self._scan_png(blob, rel, where)
            else:
                found += self.scan_text(_decode_text(blob), rel, where)
        return found

    def _scan_png(self, data: bytes, rel: str, where: str) -> list[Finding]:
        found: list[Finding] = []
        for key, text in png_text_chunks(data):
            found += self.scan_text(f"{key}: {text}", rel, f"{where}, metadata {key!r}")
        return found

    def _scan_arrow(self, p: Path, rel: str, suffix: str) -> list[Finding]:
        import pyarrow.feather as feather
        import pyarrow.parquet as pq

        table = pq.read_table(p) if suffix in (".parquet", ".pq") else feather.read_table(p)
        found: list[Finding] = []
        meta = table.schema.metadata or {}
        meta_text = "\n".join(f"{k.decode('utf-8', 'replace')}: {v.decode('utf-8', 'replace')}"
                              for k, v in meta.items())
        found += self.scan_text(meta_text, rel, "metadata")
        if suffix in (".parquet", ".pq"):
            kv = pq.ParquetFile(p).metadata.metadata or {}
            found += self.scan_text("\n".join(v.decode("utf-8", "replace") for v in kv.values()),
                                    rel, "filmetadata")
        df = table.to_pandas()
        found += self._scan_frame_cells(df, rel)
        # a default 0..n-1 index is not data (as a column named "index" it would read as
        # the teaching-quality index); a named or other index is scanned as columns
        plain_index = isinstance(df.index, pd.RangeIndex) and df.index.name is None
        found += self.scan_table(df if plain_index else df.reset_index(), rel, "tabell")
        return found

    def _scan_frame_cells(self, df: pd.DataFrame, rel: str) -> list[Finding]:
        found = self.scan_text(" ".join(map(str, df.columns)), rel, "kolumnnamn")
        found += self.scan_text(" ".join(map(str, df.index.names)), rel, "indexnamn")
        for col in df.columns:
            s = df[col]
            if pd.api.types.is_float_dtype(s):
                vals = [repr(float(v)) for v in s.dropna() if float(v).is_integer()]
            else:
                vals = [str(v) for v in s.dropna()]
            if vals:
                found += self.scan_text("\n".join(vals), rel, f"kolumn {col!r}")
        return found

    def _scan_xlsx(self, p: Path, rel: str) -> list[Finding]:
        import openpyxl

        found: list[Finding] = []
        wb = openpyxl.load_workbook(p, read_only=False, data_only=True)
        props = wb.properties
        prop_text = " ".join(str(getattr(props, a)) for a in
                             ("creator", "title", "subject", "description", "keywords",
                              "lastModifiedBy", "category") if getattr(props, a, None))
        found += self.scan_text(prop_text, rel, "dokumentegenskaper")
        for ws in wb.worksheets:
            rows = [["" if v is None else v for v in r] for r in ws.iter_rows(values_only=True)]
            found += self.scan_text(ws.title, rel, f"blad {ws.title!r}")
            text = "\n".join("\t".join(_xlsx_text(v) for v in r) for r in rows)
            found += self.scan_text(text, rel, f"blad {ws.title!r}")
            if len(rows) > 1:
                width = max(len(r) for r in rows)
                counts = [sum(1 for v in r if v != "") for r in rows]
                start = next((i for i, c in enumerate(counts) if c >= max(2, width // 2)), 0)
                header = [str(v) if v != "" else f"_col{j}" for j, v in enumerate(rows[start])]
                body = [list(r) + [""] * (width - len(r)) for r in rows[start + 1:]]
                if body:
                    header = header + [f"_col{j}" for j in range(len(header), width)]
                    found += self.scan_table(pd.DataFrame(body, columns=header), rel,
                                             f"blad {ws.title!r}")
        return found

    def scan_dir(self, directory: str | Path) -> ScanReport:
        """Scan every file under ``directory`` (recursively)."""
        root = Path(directory)
        report = ScanReport(root=str(root))
        files = [root] if root.is_file() else sorted(q for q in root.rglob("*") if q.is_file())
        base = root.parent if root.is_file() else root
        for f in files:
            found, full = self.scan_file(f, base)
            rel = str(f.relative_to(base))
            report.scanned.append(rel)
            if not full:
                report.partial.append(rel)
            report.findings += found
        return report


def _xlsx_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def scan_outputs(directory: str | Path, dataset: Any = None, **kwargs: Any) -> ScanReport:
    """Scan an output directory; see :class:`Scanner` for the arguments.

    Examples
    --------
    >>> report = scan_outputs(out_dir, ds, names=["Anna Andersson"])  # doctest: +SKIP
    >>> report.assert_clean()  # doctest: +SKIP
    """
    return Scanner(dataset, **kwargs).scan_dir(directory)


__all__ = ["Finding", "ScanReport", "Scanner", "scan_outputs", "find_personnummer",
           "png_text_chunks", "html_tables"]
