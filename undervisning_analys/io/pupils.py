"""Pupil-level final grades in SCB's record format -> ``pupil_results``, and their aggregation.

The file schools submit to SCB for final grades år 9 ("Postbeskrivning för
datafil", spec in ``../shared/real-data/scb-datafil/``): a semicolon-separated
text file, one row per pupil, with the variables::

    System;Datum;Version;PersonNr;Skolenhetskod;Klass;Fornamn;Efternamn;Bl;En;Hkk;Idh;Ma;
    M1 (språk);M1 (betyg);M2 (språk);M2 (betyg);ML (språk);ML (betyg);Mu;Bi;Fy;Ke;Ge;Hi;
    Re;Sh;Sl;Sv;Sva;Tn;Tk;OVR

with or without that header row (without it, the columns are taken in the
spec's order, :data:`SPEC_ORDER`).

Privacy (DESIGN.md): the key is checked first; ``PersonNr`` is replaced by a
keyed pseudonym (:func:`undervisning_analys.privacy.pseudonymise`) and the
pupil's sex is read from its 11th digit before any other code sees the rows;
``Fornamn``/``Efternamn`` are dropped at read; every other column goes through
the personnummer guard. No error message ever shows a personnummer.

Decisions
---------
* Subjects keep SCB's variable names (``Bl``, ``Bi``, ``En``, ``Fy``, ``Ge``,
  ``Hkk``, ``Hi``, ``Idh``, ``Ke``, ``Ma``, ``Mu``, ``Re``, ``Sh``, ``Sl``, ``Sv``,
  ``Sva``, ``Tk``, ``M1``, ``M2``, ``ML``, ``Tn``, ``OVR``); the language codes
  of M1/M2/ML are not kept.
* Grade codes: ``A``–``F`` as they are; ``9`` (streck in the grade catalogue)
  and ``-`` -> ``-``; ``3`` (not studied: adapted programme) and ``2`` (not
  graded in a non-compulsory subject) are kept as ``3``/``2``; an empty cell
  means the pupil has no grade in the subject (no row). Anything else is
  refused with rows and column.
* Points (Skolverket's merit rules): A 20, B 17.5, C 15, D 12.5, E 10, F and
  ``-`` 0; ``3`` and ``2`` have no points (NaN).
* The school year is the läsår that ends in the spring of the file's
  ``Datum`` (date of extraction; ``2025-06-12`` -> 2024/25), unless
  ``school_year=`` is given. ``grade_level`` is 9.
* The pupil's sex (odd 11th digit = boy) goes to
  ``attrs["sex"]``, a :class:`SexMap` ``{pupil_id: "girls" | "boys"}``: the
  canonical table has no sex column. ``pd.concat`` drops attrs that differ, so
  combine several files with :func:`concat_pupil_grades`. SCB's temporary numbers (``ååååmmddTFxx``) have no sex digit;
  such pupils count only in the group ``all``.
* The same pupil twice in one file is refused with the rows (never the
  number).
* A header row is recognised by ``PersonNr`` or by three of the format's
  variable names (so that a renamed ``PersonNr`` is reported as missing);
  a header without rows, a row with fewer fields than the header (a truncated
  file) and a ``Datum`` after today are refused.

:func:`aggregate_pupil_grades` computes school results as Skolverket defines
them (see its docstring).

Implementation: nothing is done per cell in Python. SCB's export (no quotes,
``\n`` or ``\r\n`` line ends, the same number of fields on every line) is split
by Arrow's CSV reader, any other file by the csv module as the other loaders
split theirs; each column is then held as codes into its distinct cells, so
checks and code mappings run once per distinct value, and the table is built
with numpy and Arrow. The aggregation works on integer codes (pupil, subject,
grade) with ``bincount`` and per-group slices. Both give what the per-cell code
gave (``tests/test_pupils_fast.py`` keeps it and compares): the same tables,
line numbers, provenance and error messages; 4.4 million grades read and
aggregated in a few seconds.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .. import schema
from ..dataset import ProvenanceRecord
from ..errors import DuplicateRowsError, FileFormatError, MissingColumnError, ValueFormatError
from ..privacy import (
    MIN_PUPILS,
    get_key,
    normalise_personnummer,
    pseudonymise,
    refuse_personnummer_columns,
    sex_of_personnummer,
)
from . import _common as c

SPEC_ORDER: tuple[str, ...] = (
    "System", "Datum", "Version", "PersonNr", "Skolenhetskod", "Klass", "Fornamn", "Efternamn",
    "Bl", "En", "Hkk", "Idh", "Ma", "M1 (språk)", "M1 (betyg)", "M2 (språk)", "M2 (betyg)",
    "ML (språk)", "ML (betyg)", "Mu", "Bi", "Fy", "Ke", "Ge", "Hi", "Re", "Sh", "Sl", "Sv", "Sva",
    "Tn", "Tk", "OVR")
"""The variables of SCB's record format for final grades år 9 (2025), in order."""

SUBJECTS: tuple[str, ...] = ("Bl", "Bi", "En", "Fy", "Ge", "Hkk", "Hi", "Idh", "Ke", "Ma", "Mu",
                             "Re", "Sh", "Sl", "Sv", "Sva", "Tk", "M1", "M2", "ML", "Tn", "OVR")
"""Subject codes kept in ``pupil_results.subject`` (SCB's variable names)."""

COMPULSORY: tuple[str, ...] = ("Bl", "Bi", "En", "Fy", "Ge", "Hkk", "Hi", "Idh", "Ke", "Ma",
                               "Mu", "Re", "Sh", "Sl", "Sv", "Sva", "Tk")
"""Subjects whose grades make meritvärde 16 (Sv or Sva: a pupil has one of them)."""

MODERN_LANGUAGES: tuple[str, ...] = ("M1", "M2")
"""Modern languages: the best of them is the 17th subject of meritvärde 17."""

POINTS: dict[str, float] = {"A": 20.0, "B": 17.5, "C": 15.0, "D": 12.5, "E": 10.0, "F": 0.0,
                            "-": 0.0}
_CODES = {"A": "A", "B": "B", "C": "C", "D": "D", "E": "E", "F": "F", "9": "-", "-": "-",
          "3": "3", "2": "2"}
_PASS = ("A", "B", "C", "D", "E")

_ROLE: dict[str, str] = {"personnr": "pnr", "personnummer": "pnr", "skolenhetskod": "school",
                         "datum": "date", "system": "_meta", "version": "_meta",
                         "klass": "_meta", "fornamn": "_name", "efternamn": "_name",
                         "namn": "_name"}
for _s in SUBJECTS:
    _ROLE[_s.lower()] = _s
    _ROLE[f"{_s.lower()}betyg"] = _s
    _ROLE[f"{_s.lower()}sprak"] = "_lang"


class SexMap(Mapping[str, str]):
    """Immutable ``pupil_id -> "girls" | "boys"``, cheap to carry in ``DataFrame.attrs``.

    pandas deep-copies ``attrs`` on every operation; this mapping copies as
    itself, so a table of a hundred thousand grades stays fast to work with.
    """

    __slots__ = ("_d",)

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._d = dict(data or {})

    def __getitem__(self, key: str) -> str:
        return self._d[key]

    def __iter__(self):
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __deepcopy__(self, memo: dict) -> SexMap:
        return self

    def __copy__(self) -> SexMap:
        return self

    def __repr__(self) -> str:
        return f"SexMap({len(self._d)} elever)"


def _role(header: str) -> str | None:
    return _ROLE.get(c.fold(header))


class _Table:
    """A file's non-blank rows, column by column.

    ``columns[j]``: ``(codes, cells)``, the cells of column j as split and stripped
    (``""`` where a row is shorter), as codes into the distinct ``cells`` in order of
    first appearance. ``nf``: the number of fields of each row; ``lines``: their
    1-based line numbers; ``clean``: no cell can differ from its
    :func:`_common.cell_text` (no BOM in the file).
    """

    __slots__ = ("lines", "nf", "columns", "clean", "_data")

    def __init__(self, lines: np.ndarray, nf: np.ndarray,
                 columns: list[tuple[np.ndarray, list[str]]], clean: bool) -> None:
        self.lines, self.nf, self.columns, self.clean = lines, nf, columns, clean
        self._data: dict[tuple[int, int], tuple[np.ndarray, list[str]]] = {}

    def row(self, i: int) -> c.Row:
        return c.Row(int(self.lines[i]), [self.columns[j][1][self.columns[j][0][i]]
                                          for j in range(int(self.nf[i]))])

    def column(self, j: int, start: int = 0) -> tuple[np.ndarray, list[str]]:
        """Column j from row ``start`` on, as codes (in order of first appearance) and
        the distinct cells."""
        n = len(self.lines) - start
        if j >= len(self.columns):
            return np.zeros(n, dtype=np.int64), [""]
        codes, cells = self.columns[j]
        if start == 0:
            return codes, cells
        if (j, start) not in self._data:
            kept, present = pd.factorize(codes[start:])
            self._data[j, start] = (np.asarray(kept, dtype=np.int64),
                                    [cells[k] for k in present])
        return self._data[j, start]

    def forget(self, j: int) -> None:
        """Empty column j (its cells are not kept)."""
        if j < len(self.columns):
            self.columns[j] = (np.zeros(len(self.lines), dtype=np.int64), [""])
            self._data = {k: v for k, v in self._data.items() if k[0] != j}

    def values(self, j: int, start: int = 0) -> np.ndarray:
        codes, cells = self.column(j, start)
        return np.asarray(cells, dtype=object)[codes]

    def filled(self, j: int, start: int = 0) -> np.ndarray:
        """Per row from ``start``: does column j have text?"""
        codes, cells = self.column(j, start)
        return np.array([c.cell_text(x) != "" for x in cells], dtype=bool)[codes]


def _table(text: str, p: Path) -> _Table:
    """The rows of the file that are not blank, split at ``;`` as
    :func:`_common.split_rows` splits them (with its checks and messages)."""
    return _arrow_table(text) or _python_table(text, p)


def _arrow_table(text: str) -> _Table | None:
    """SCB's export read with Arrow's CSV reader, or None for any other file.

    The file qualifies when it has no quote character and no BOM, ends its lines
    with ``\\n`` or ``\\r\\n``, has the same number of fields on every line and no
    cell longer than a cell may be: then Arrow splits it exactly as the csv module
    would, one line per row (an empty line is a row of empty cells, dropped below).
    """
    if '"' in text or "\ufeff" in text or text.count("\r") != text.count("\r\n"):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    width = text[: text.find("\n")].count(";") + 1 if "\n" in text else text.count(";") + 1
    try:
        raw = pcsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pcsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
            parse_options=pcsv.ParseOptions(delimiter=";", quote_char=False,
                                            double_quote=False, escape_char=False,
                                            newlines_in_values=False,
                                            ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                column_types={f"f{j}": pa.string() for j in range(width)},
                strings_can_be_null=False, quoted_strings_can_be_null=False, null_values=[],
                check_utf8=False))
    except (pa.ArrowInvalid, UnicodeEncodeError):  # e.g. a row with another number of fields
        return None
    if raw.num_columns != width or raw.num_rows == 0:
        return None
    columns = []
    for j in range(width):
        col = raw.column(j).combine_chunks()
        if len(text) > c.MAX_CELL and (pc.max(pc.utf8_length(col)).as_py() or 0) > c.MAX_CELL:
            return None  # split_rows refuses it
        enc = col.dictionary_encode()
        columns.append((enc.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                        [x.strip() for x in enc.dictionary.to_pylist()]))
    n = raw.num_rows
    del raw
    blank = np.ones(n, dtype=bool)
    for codes, cells in columns:
        blank &= np.array([x == "" for x in cells], dtype=bool)[codes]
    lines = np.arange(1, n + 1, dtype=np.int64)
    if blank.any():
        keep = np.flatnonzero(~blank)
        lines = lines[keep]
        for j, (codes, cells) in enumerate(columns):
            kept, present = pd.factorize(codes[keep])
            columns[j] = (np.asarray(kept, dtype=np.int64), [cells[k] for k in present])
    return _Table(lines, np.full(len(lines), width, dtype=np.int64), columns, True)


def _python_table(text: str, p: Path) -> _Table:
    """Any other file: split with ``str.split`` when it has no quote character, no BOM
    and no line longer than a cell may be, line by line as the csv module reads it
    (``\\n``, ``\\r\\n`` and ``\\r`` end a line); otherwise with ``split_rows`` itself."""
    lines = re.split(r"\r\n|\r|\n", text)
    if '"' in text or "\ufeff" in text or (
            len(text) > c.MAX_CELL and max(map(len, lines)) > c.MAX_CELL):
        rows = [r for r in c.split_rows(text, ";", p) if not r.is_blank()]
        line_nos = [r.line for r in rows]
        cells = [r.cells for r in rows]
        clean = False
    else:
        line_nos = [k + 1 for k, ln in enumerate(lines) if ln.replace(";", "").strip()]
        cells = [[x.strip() for x in lines[k - 1].split(";")] for k in line_nos]
        clean = True
    del lines
    nf = np.array([len(r) for r in cells], dtype=np.int64)
    width = int(nf.max()) if len(cells) else 0
    matrix = np.full((len(cells), width), "", dtype=object)
    for i, r in enumerate(cells):
        matrix[i, : len(r)] = r
    columns = []
    for j in range(width):
        codes, uniq = pd.factorize(matrix[:, j])
        columns.append((np.asarray(codes, dtype=np.int64), list(uniq)))
    return _Table(np.array(line_nos, dtype=np.int64), nf, columns, clean)


def _check_widths(table: _Table, header: c.Row, p: Path) -> None:
    """:func:`_common.check_widths` for the data rows (all but the first), vectorised:
    the first offending row is handed to it for its message."""
    width = max((j + 1 for j, x in enumerate(header.cells) if c.cell_text(x)), default=0)
    bad = table.nf[1:] < width
    for j in range(width, len(table.columns)):
        bad |= table.filled(j)[1:]
    if bad.any():
        c.check_widths(header, [table.row(1 + int(np.argmax(bad)))], p)


def _has_ten_digits(v: str) -> bool:
    return len(v) >= 10 and sum(ch.isdecimal() for ch in v) >= 10


def _refuse_personnummer(table: _Table, start: int, lines: np.ndarray, cols: list[str],
                         keep: list[int], p: Path) -> None:
    """:func:`privacy.refuse_personnummer_columns` on the columns ``keep``, in order.

    A personnummer has at least ten digits, so a column none of whose cells has ten
    digits cannot look like one and is passed by; every other column goes through
    ``refuse_personnummer_columns`` itself.
    """
    names = [cols[j] for j in keep]
    for j in keep:
        col = cols[j]
        if names.count(col) > 1:  # a repeated header: checked as a frame, as it always was
            same = [i for i in keep if cols[i] == col]
            frame = pd.DataFrame(np.column_stack([table.values(i, start) for i in same]),
                                 index=lines, columns=[col] * len(same), dtype=object)
            refuse_personnummer_columns(frame, p)
        elif any(_has_ten_digits(v) for v in table.column(j, start)[1]):
            refuse_personnummer_columns(
                pd.DataFrame({col: table.values(j, start)}, index=lines, dtype=object), p)


_GRADES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "-", "3", "2")
_GRADE_INDEX = {g: k for k, g in enumerate(_GRADES)}
_GRADE_POINTS = np.array([POINTS.get(g, math.nan) for g in _GRADES], dtype=np.float64)
_SUBJECT_ORDER = {s: k for k, s in enumerate(SUBJECTS)}


def _str_dtype() -> Any:
    """pandas' string dtype when it is Arrow-backed (pandas 3), else None (object)."""
    dt = pd.Series(["x"], dtype=object).astype(str).dtype
    return dt if isinstance(dt, pd.StringDtype) and dt.storage == "pyarrow" else None


_STR = _str_dtype()


def _take(values: list[Any], idx: np.ndarray) -> Any:
    """``values[idx]`` as a string column (pandas' own string dtype where it has one,
    built in Arrow without a Python object per row)."""
    if _STR is not None:
        import pyarrow as pa

        return pd.array(pa.array(values, type=pa.large_string()).take(pa.array(idx)),
                        dtype=_STR)
    return np.asarray(values, dtype=object)[idx]


def _load(path: str | Path, key: str | bytes | None = None, *,
          school_year: str | None = None) -> tuple[pd.DataFrame, ProvenanceRecord]:
    k = get_key(key)  # refuse before reading anything
    p = c.check_file(path)
    text, enc, enc_notes = c.read_text(p)
    table = _table(text, p)
    del text
    if not len(table.lines):
        raise FileFormatError("Filen är tom", file=p,
                              hint="Filen ska vara en semikolonseparerad textfil enligt SCB:s "
                                   "postbeskrivning")
    # a header row: PersonNr, or at least three of the record format's variable names
    first = table.row(0)
    first_roles = [_role(x) for x in first.cells]
    header_row = first if "pnr" in first_roles or sum(
        r is not None for r in first_roles) >= 3 else None
    if header_row is not None:
        names = [c.cell_text(x) for x in header_row.cells]
        start = 1
        if len(table.lines) == 1:
            raise FileFormatError("Filen har en rubrikrad men inga rader med elever", file=p,
                                  row=header_row.line,
                                  hint="Exportera betygsfilen på nytt")
        _check_widths(table, header_row, p)
    else:
        names = list(SPEC_ORDER)
        start = 0
        wrong = np.flatnonzero(~np.isin(table.nf, (len(SPEC_ORDER), len(SPEC_ORDER) + 1)))
        if len(wrong):
            raise c.rows_error(
                FileFormatError, f"Filen saknar rubrikrad och raderna har inte "
                f"{len(SPEC_ORDER)} fält som i SCB:s postbeskrivning", file=p, column=None,
                bad=[(int(table.lines[i]), f"{int(table.nf[i])} fält") for i in wrong],
                hint="Lägg till rubrikraden (System;Datum;Version;PersonNr;…) eller "
                     "kontrollera att varje rad har alla fält")
    roles = {j: _role(n) for j, n in enumerate(names)}
    while names and names[-1] == "" and not table.filled(len(names) - 1, start).any():
        roles.pop(len(names) - 1, None)
        names = names[:-1]
    unknown = [n or f"kolumn {j + 1}" for j, n in enumerate(names) if roles.get(j) is None]
    if unknown:
        raise FileFormatError(
            "Filen har kolumner som inte finns i SCB:s postbeskrivning för slutbetyg år 9: "
            + ", ".join(f"`{x}`" for x in unknown[:10]), file=p,
            row=header_row.line if header_row else None, column=unknown[0],
            hint="Kontrollera att filen är betygsfilen (inte t.ex. provfilen) och att "
                 "rubrikerna är oförändrade")
    j_pnr = next((j for j, r in roles.items() if r == "pnr"), None)
    j_school = next((j for j, r in roles.items() if r == "school"), None)
    j_date = next((j for j, r in roles.items() if r == "date"), None)
    if j_pnr is None or j_school is None:
        missing = "PersonNr" if j_pnr is None else "Skolenhetskod"
        raise MissingColumnError(f"Kolumnen {missing} saknas", file=p, column=missing,
                                 row=header_row.line if header_row else None,
                                 hint="Filen ska följa SCB:s postbeskrivning")
    # the data rows, cut or padded to the named columns (as frame_of_rows)
    cols = [n or f"kolumn {j + 1}" for j, n in enumerate(names)]
    lines = table.lines[start:]
    n_rows = len(lines)
    pnr_col = cols[j_pnr]
    # --- privacy first: sex, pseudonym, drop the number and the names ---------------------
    if cols.count(pnr_col) > 1:  # PersonNr twice in the header: fails as it always has
        both = pd.DataFrame(np.column_stack([table.values(j, start) for j, n in enumerate(cols)
                                             if n == pnr_col]), index=lines, dtype=object)
        both = both.map(c.cell_text).map(normalise_personnummer)
        _ = both.index[both.isna()]  # IndexError, which the guard reports
    pnr_codes, pnr_cells = table.column(j_pnr, start)
    norm = [normalise_personnummer(v if table.clean else c.cell_text(v)) for v in pnr_cells]
    norm = [norm[i] for i in pnr_codes]
    del pnr_cells, pnr_codes
    bad_lines = [int(line) for line, v in zip(lines, norm) if v is None]
    if bad_lines:
        listed = ", ".join(str(x) for x in bad_lines[:10])
        raise ValueFormatError(
            f"PersonNr går inte att läsa på {len(bad_lines)} rader (rad {listed})", file=p,
            row=bad_lines[0], column=pnr_col,
            hint="PersonNr ska ha 12 siffror (ååååmmddxxxx) eller vara ett tillfälligt "
                 "nummer (ååååmmddTFxx)")
    sex = [sex_of_personnummer(v) for v in norm]
    pupil_id = pseudonymise(norm, key=k)
    del norm
    dropped = {pnr_col, *(cols[j] for j, r in roles.items() if r == "_name")}
    gone = [j for j, n in enumerate(cols) if n in dropped]
    for j in gone:  # nothing of them is kept
        table.forget(j)
    _refuse_personnummer(table, start, lines, cols,
                         [j for j in range(len(cols)) if j not in gone], p)
    # --- rows ---------------------------------------------------------------------------
    sc_codes, sc_cells = table.column(j_school, start)
    schools = [c.pad_code(v, 8) for v in sc_cells]
    ok = np.array([v.isdigit() and len(v) == 8 for v in schools], dtype=bool)
    if not ok.all():
        raise c.rows_error(ValueFormatError, "Skolenhetskoden ska vara 8 siffror", file=p,
                           column=cols[j_school],
                           bad=[(int(lines[i]), schools[sc_codes[i]])
                                for i in np.flatnonzero(~ok[sc_codes])],
                           hint="Rätta skolenhetskoden (8 siffror)")
    if school_year is not None:
        sy_given = c.school_year_of_text(school_year)
        if sy_given is None:
            raise ValueFormatError(f"school_year={school_year!r} är inget läsår", file=p,
                                   hint="Ange läsåret som '2024/25'")
        c.check_not_future(file=p, row=None, column=None, school_year=sy_given,
                           hint="Ange läsåret betygen sattes, t.ex. '2024/25'")
        years = [sy_given]
        y_codes = np.zeros(n_rows, dtype=np.int64)
    else:
        if j_date is None:
            raise MissingColumnError(
                "Kolumnen Datum saknas, så läsåret kan inte bestämmas", file=p, column="Datum",
                hint="Ange school_year='2024/25' eller lägg till kolumnen Datum")
        y_codes, date_cells = table.column(j_date, start)
        dates = [c.parse_date(v) for v in date_cells]
        unread = np.array([d is None for d in dates], dtype=bool)
        if unread.any():
            raise c.rows_error(ValueFormatError, "Datum går inte att läsa", file=p,
                               column=cols[j_date],
                               bad=[(int(lines[i]), date_cells[y_codes[i]])
                                    for i in np.flatnonzero(unread[y_codes])],
                               hint="Datum skrivs åååå-mm-dd; eller ange school_year='2024/25'")
        # distinct dates in order of first appearance: the first one in the future is
        # that of the first row with a future date
        first_row = np.unique(y_codes, return_index=True)[1]
        for d, i in zip(dates, first_row):
            c.check_not_future(file=p, row=int(lines[i]), column=cols[j_date], date=d,
                               hint="Datum är dagen då uppgifterna togs ut; rätta det")
        years = [c.school_year_from_start(d.year - 1) for d in dates if d is not None]
    dup = pd.DataFrame({"p": pupil_id, "y": np.asarray(years, dtype=object)[y_codes]}) \
        .duplicated(keep=False).to_numpy()
    if dup.any():
        dup_lines = [int(i) for i in lines[dup]]
        raise DuplicateRowsError(
            "Samma elev (PersonNr) förekommer på flera rader: rad "
            + ", ".join(str(x) for x in dup_lines[:10]), file=p, row=dup_lines[0],
            column=pnr_col, hint="Varje elev ska stå på en rad; ta bort dubbletterna")
    subjects: list[tuple[str, np.ndarray]] = []
    n_lang = 0
    for j, role in roles.items():
        if role is None or role.startswith("_") or role in ("pnr", "school", "date"):
            if role == "_lang":
                n_lang += 1
            continue
        g_codes, g_cells = table.column(j, start)
        vals = [c.cell_text(v).upper() for v in g_cells]
        known = np.array([v == "" or v in _CODES for v in vals], dtype=bool)
        if not known.all():
            raise c.rows_error(ValueFormatError, f"Okänd betygskod i ämnet {role}", file=p,
                               column=cols[j],
                               bad=[(int(lines[i]), vals[g_codes[i]])
                                    for i in np.flatnonzero(~known[g_codes])],
                               hint="Tillåtna koder: A–F, 9 (streck), 3 (ej läst, anpassad "
                                    "studiegång), 2 (ej betygssatt) eller tomt")
        grade = np.array([-1 if v == "" else _GRADE_INDEX[_CODES[v]] for v in vals],
                         dtype=np.int64)
        subjects.append((role, grade[g_codes]))
    del table
    # one row per pupil and graded subject: by line, then in the order of SUBJECTS
    subjects.sort(key=lambda s: _SUBJECT_ORDER[s[0]])  # stable: columns keep their order
    grades = np.column_stack([g for _, g in subjects]) if subjects \
        else np.empty((n_rows, 0), dtype=np.int64)
    rr, cc = np.nonzero(grades >= 0)  # row-major
    if len(rr):
        gi = grades[rr, cc]
        df = pd.DataFrame({
            "pupil_id": _take(pupil_id, rr),
            "school_id": _take(schools, sc_codes[rr]),
            "school_year": _take(years, y_codes[rr]),
            "grade_level": pd.array(np.full(len(rr), 9), dtype="Int64"),
            "subject": _take([s for s, _ in subjects], cc),
            "grade": _take(list(_GRADES), gi),
            "points": _GRADE_POINTS[gi],
        }, index=lines[rr])
    else:  # no grade at all: the empty table, built as it always was
        df = pd.DataFrame([], index=[], columns=["pupil_id", "school_id", "school_year",
                                                 "grade_level", "subject", "grade", "points"])
        df = df.assign(_l=df.index, _o=df["subject"].map(_SUBJECT_ORDER)).sort_values(
            ["_l", "_o"], kind="stable").drop(columns=["_l", "_o"])
    del grades, rr, cc
    n_boys = sum(s == "boys" for s in sex)
    n_girls = sum(s == "girls" for s in sex)
    notes = [f"teckenkodning {enc}", *enc_notes,
             f"elever: {n_rows} ({n_girls} flickor, {n_boys} pojkar, "
             f"{n_rows - n_girls - n_boys} utan känt kön)",
             "PersonNr ersatt med pseudonym (HMAC-SHA256); namn togs bort vid inläsningen"]
    if n_lang:
        notes.append("språkkoder (M1/M2/ML språk) sparas inte")
    sex_map = SexMap({pid: s for pid, s in zip(pupil_id, sex) if s is not None})
    return c.finish(df, table="pupil_results", path=p, loader="read_pupil_grades",
                    rows_read=n_rows, notes=notes, attrs={"sex": sex_map})


@c.guarded("betygsfil enligt SCB:s postbeskrivning")
def read_pupil_grades(path: str | Path, key: str | bytes | None = None, *,
                      school_year: str | None = None) -> pd.DataFrame:
    """Read a pupil-level final-grades file (SCB's record format) into ``pupil_results``.

    Parameters
    ----------
    path : the semicolon-separated text file.
    key : the pseudonymisation secret; default ``$UA_PSEUDONYM_KEY``. Without
        one the file is not read (MissingKeyError).
    school_year : the läsår, if the file's ``Datum`` should not decide it.

    Returns
    -------
    One row per pupil × subject with a grade code; attrs ``source``,
    ``table``, ``sex`` (pupil_id -> girls/boys) and ``provenance``.

    Notes
    -----
    Missing data: an empty grade cell means no grade in that subject (no
    row); codes 3 and 2 are kept with points NaN. See the module docstring.
    """
    return c.publish(_load(path, key, school_year=school_year))


def _round_half_up(x: float) -> float:
    """One decimal, halves away from zero (as published; not banker's rounding)."""
    return float(np.sign(x) * np.floor(abs(x) * 10 + 0.5) / 10)


def _codes(values: Any, sort: bool = False) -> tuple[np.ndarray, Any]:
    """Integer codes (-1 for missing) and the distinct values."""
    codes, uniq = pd.factorize(values, sort=sort)
    return np.asarray(codes, dtype=np.int64), uniq


def _flags(uniq: Any, members: set[str]) -> np.ndarray:
    """Per code (and a last slot for code -1, missing): is the value one of ``members``."""
    return np.array([u in members for u in uniq] + [False], dtype=bool)


def _exact_sums(values: np.ndarray) -> bool:
    """Whether sums of up to 16 of these values are exact in floating point (quarter
    points of moderate size), so that any order of summation gives the same result."""
    return bool(np.isfinite(values).all() and (np.abs(values) <= 2.0 ** 40).all()
                and (values * 4 == np.round(values * 4)).all())


def _best16_sum(pupil: np.ndarray, points: np.ndarray, n: int) -> np.ndarray:
    """Per pupil ``0..n-1``: the sum of their 16 largest ``points`` (0 for none)."""
    if not len(points):
        return np.zeros(n)
    level, levels = pd.factorize(points)
    levels = np.asarray(levels, dtype=np.float64)
    if len(levels) <= 32 and _exact_sums(levels):
        # counts per pupil and level of points, taken from the top down: exact sums
        counts = np.bincount(pupil * len(levels) + level,
                             minlength=n * len(levels)).reshape(n, len(levels))
        total = np.zeros(n)
        left = np.full(n, 16, dtype=np.int64)
        for k in np.argsort(-levels, kind="stable"):
            take = np.minimum(counts[:, k], left)
            total += take * levels[k]
            left -= take
        return total
    # other points: each pupil's points, largest first, summed as pandas sums them
    order = np.lexsort((-points, pupil))
    pupil, points = pupil[order], points[order]
    best = np.arange(len(pupil)) - np.searchsorted(pupil, pupil, side="left") < 16
    sums = pd.Series(points[best]).groupby(pupil[best]).sum()
    return sums.reindex(range(n), fill_value=0.0).to_numpy(dtype=np.float64)


def _sexes(pupils: pd.Index, sex_map: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Per pupil: whether ``sex_map.get(pupil)`` is "girls", whether it is "boys"."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    for which in ("girls", "boys"):
        ids = [pid for pid, s in sex_map.items() if isinstance(s, str) and s == which]
        try:
            got = pc.is_in(pa.array(pupils, type=pa.large_string()),
                           value_set=pa.array(ids, type=pa.large_string()))
            out.append(np.asarray(got.to_numpy(zero_copy_only=False), dtype=bool))
        except (pa.ArrowException, TypeError, ValueError):  # not all text: one by one
            wanted = set(ids)
            out.append(np.array([p in wanted for p in pupils], dtype=bool))
    return out[0], out[1]


def aggregate_pupil_grades(pupil_results: pd.DataFrame,
                           sex: Mapping[str, str] | None = None, *,
                           level: Literal["school", "municipality"] = "school",
                           municipality_id: str | None = None, min_pupils: int = MIN_PUPILS,
                           source: str | None = None) -> pd.DataFrame:
    """School (or municipality) results from pupils' final grades, as Skolverket computes them.

    Parameters
    ----------
    pupil_results : the canonical table (from :func:`read_pupil_grades`).
    sex : pupil_id -> ``"girls"``/``"boys"``; default ``pupil_results.attrs["sex"]``.
        Pupils without a known sex count only in the group ``all``.
    level : ``"school"`` (per school × year) or ``"municipality"`` (all
        pupils of a year together; needs ``municipality_id``).
    municipality_id : written into the rows (optional at school level).
    min_pupils : groups with fewer pupils are suppressed (``..``).
    source : the ``source`` column (default the table's ``attrs["source"]``).

    Returns
    -------
    A canonical ``results`` table: measures ``n_pupils_grade9``, ``merit_17``,
    ``merit_16``, ``pass_all_subjects_pct``, ``eligible_vocational_pct`` per
    unit × year × group (all, girls, boys), principal_type ``all``.

    Notes
    -----
    Definitions (Skolverket, "Slutbetyg årskurs 9"):

    * pupils counted: those with at least one grade A–F or ``-``;
    * meritvärde 16: the sum of the points of the 16 best grades in the
      compulsory subjects (:data:`COMPULSORY`); meritvärde 17: meritvärde 16
      plus the best grade in a modern language (M1/M2). ML (modersmål) and
      other subjects are read but not counted. The average is taken over the
      pupils with at least one passing grade (meritvärde ≥ 10): "Det
      genomsnittliga meritvärdet beräknas för de elever som fått lägst betyg E
      i minst ett ämne";
    * godkänt i alla ämnen: E or better in every subject with a grade A–F or
      ``-`` (codes 3 and 2 are not graded and do not count);
    * behörig till yrkesprogram: E or better in Sv or Sva, En and Ma and in at
      least five further subjects;
    * publication: one decimal, halves rounded away from zero; fewer than
      ``min_pupils`` pupils in the group -> ``suppressed`` (value NaN); a
      share where 1–4 pupils did not reach it -> ``approx_100`` (value NaN);
      the pupil count itself (``n_pupils_grade9``) is published.
    """
    pr = pupil_results
    sex_map = dict(sex if sex is not None else pr.attrs.get("sex", {}))
    src = source or pr.attrs.get("source") or "elevbetyg"
    if level == "municipality" and municipality_id is None:
        raise ValueError("level='municipality' needs municipality_id")
    # --- per pupil: the rows with points; pupils sorted as groupby sorts them ------------
    pupil_all, ids = _codes(pr["pupil_id"])
    rows = np.flatnonzero(pr["points"].notna().to_numpy() & (pupil_all >= 0))
    present = np.bincount(pupil_all[rows], minlength=len(ids)) > 0
    order = np.asarray(pd.Index(ids).argsort(), dtype=np.int64)
    order = order[present[order]]
    rank = np.full(len(ids), -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    pupil = rank[pupil_all[rows]]
    pupils = pd.Index(ids).take(order)
    n = len(pupils)
    points = pr["points"].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
    subject_all, subjects = _codes(pr["subject"])
    subject = subject_all[rows]
    grade_all, grades = _codes(pr["grade"])
    passed = _flags(grades, set(_PASS))[grade_all[rows]]
    del pupil_all, subject_all, grade_all
    comp = _flags(subjects, set(COMPULSORY))[subject]
    merit_16 = _best16_sum(pupil[comp], points[comp], n)
    modern = _flags(subjects, set(MODERN_LANGUAGES))[subject]
    best_ml = np.full(n, -np.inf)
    np.maximum.at(best_ml, pupil[modern], points[modern])
    has_ml = np.bincount(pupil[modern], minlength=n) > 0
    merit_17 = merit_16 + np.where(has_ml, best_ml, 0.0)
    pass_all = np.bincount(pupil[passed], minlength=n) == np.bincount(pupil, minlength=n)

    eligible = np.bincount(pupil[passed & ~_flags(subjects, {"Sv", "Sva", "En", "Ma"})[subject]],
                           minlength=n) >= 5  # five further subjects
    for core in ({"Sv", "Sva"}, {"En"}, {"Ma"}):
        eligible &= np.bincount(pupil[passed & _flags(subjects, core)[subject]], minlength=n) > 0
    first = np.full(n, len(pupil), dtype=np.int64)  # the pupil's first row with points
    np.minimum.at(first, pupil, np.arange(len(pupil)))
    first = rows[first]
    del rows, pupil, points, subject, passed, comp, modern
    if level == "school":
        unit_code, units = _codes(pr["school_id"].iloc[first], sort=True)
    else:
        unit_code, units = _codes(pd.Series([municipality_id] * n, dtype=object), sort=True)
    year_code, years = _codes(pr["school_year"].iloc[first], sort=True)
    units, years = np.asarray(units, dtype=object), np.asarray(years, dtype=object)
    # --- per unit × year × group, in the order of groupby(["unit", "school_year"]) -------
    n_years = max(len(years), 1)
    key = unit_code * n_years + year_code
    known = (unit_code >= 0) & (year_code >= 0)
    girls, boys = _sexes(pupils, sex_map)
    out: list[dict[str, Any]] = []
    for group, members in (("all", known), ("girls", known & girls), ("boys", known & boys)):
        idx = np.flatnonzero(members)
        idx = idx[np.argsort(key[idx], kind="stable")]  # pupils keep their (sorted) order
        k = key[idx]
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]]) if len(k) else np.zeros(0, int)
        ends = np.r_[starts[1:], len(k)].astype(int)
        m17, m16, ok_all, ok_voc = merit_17[idx], merit_16[idx], pass_all[idx], eligible[idx]
        for s, e in zip(starts.tolist(), ends.tolist()):
            n_group = e - s
            x17, x16 = m17[s:e], m16[s:e]
            x17, x16 = x17[x17 >= 10], x16[x16 >= 10]  # pupils with a passing grade
            n_pass = int(np.count_nonzero(ok_all[s:e]))
            n_elig = int(np.count_nonzero(ok_voc[s:e]))
            vals = {  # means as pandas takes them: the sum over the count
                "merit_17": x17.sum() / len(x17) if len(x17) else math.nan,
                "merit_16": x16.sum() / len(x16) if len(x16) else math.nan,
                "pass_all_subjects_pct": n_pass / n_group * 100,
                "eligible_vocational_pct": n_elig / n_group * 100,
            }
            not_reached = {"pass_all_subjects_pct": n_group - n_pass,
                           "eligible_vocational_pct": n_group - n_elig}
            unit, sy = units[k[s] // n_years], years[k[s] % n_years]
            base = {"level": level, "school_id": unit if level == "school" else None,
                    "municipality_id": municipality_id, "school_year": sy, "group": group,
                    "principal_type": "all", "n": n_group, "source": src}
            out.extend(published_rows(base, n_group, vals, not_reached, min_pupils))
    return results_table(out, src)


def published_rows(base: dict[str, Any], n: int, vals: dict[str, Any],
                   not_reached: dict[str, int], min_pupils: int) -> list[dict[str, Any]]:
    """One unit × year × group as published rows: the pupil count, then each measure
    with Skolverket's markers (``..`` below ``min_pupils``, ``~100`` when 1–4 pupils
    did not reach a share, one decimal rounded half up). Shared by the in-memory and
    the out-of-core aggregation so that both publish identically."""
    rows = [{**base, "measure": "n_pupils_grade9", "value": float(n), "status": "ok"}]
    for measure, v in vals.items():
        status = "ok"
        if n < min_pupils:
            status, v = "suppressed", math.nan
        elif measure in not_reached and 1 <= not_reached[measure] <= 4:
            status, v = "approx_100", math.nan
        elif v is None or (isinstance(v, float) and math.isnan(v)):
            status = "missing"
        else:
            v = _round_half_up(float(v))
        rows.append({**base, "measure": measure, "value": v, "status": status})
    return rows


def results_table(rows: list[dict[str, Any]], src: str) -> pd.DataFrame:
    """Published rows -> a validated canonical results table."""
    cols = ["level", "school_id", "municipality_id", "school_year", "measure", "group",
            "principal_type", "value", "n", "status", "source"]
    out = pd.DataFrame(rows, columns=cols)
    out.index = pd.RangeIndex(1, len(out) + 1, name="rad")
    out["value"] = out["value"].astype(float)
    out["n"] = out["n"].astype("Int64")
    out.attrs = {"source": src}
    res = schema.validate("results", out)
    res.index.name = "rad"
    res.attrs = {"source": src, "table": "results"}
    return res


def concat_pupil_grades(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate ``read_pupil_grades`` tables, keeping their sex maps (``attrs["sex"]``)."""
    if not frames:
        return schema.empty("pupil_results")
    merged: dict[str, str] = {}
    for f in frames:
        merged.update(f.attrs.get("sex", {}))
    out = pd.concat(frames)
    out.attrs = {"source": ", ".join(sorted({str(f.attrs.get("source", "?")) for f in frames})),
                 "table": "pupil_results", "sex": SexMap(merged)}
    return out
