"""The organiser's own measures (attendance, absence, offences, a local survey) -> ``results``.

A municipality keeps attendance, problematic absence, reported offences and
its own surveys in its own systems. This module reads them in one simple,
documented format, writes a template for it, and reads pupil-level attendance
exports (with personnummer) by pseudonymising and aggregating them.

The format ("egna mått")
------------------------
CSV (``;`` or ``,``; UTF-8 with or without BOM, or cp1252; decimal comma or
point) or an Excel workbook (the sheet ``Mått``, else the first sheet), one row
per school, period, measure (and group)::

    Skolenhetskod;Skola;Termin;Läsår;Mått;Värde;Antal elever;Grupp;Riktning;Skala min;Skala max
    99004629;Lönntorpsskolan;HT2023;;Närvaro (%);93,4;412;;;;
    99004629;Lönntorpsskolan;;2023/24;Anmälda kränkningar per 100 elever;3,1;412;;;;
    99004629;Lönntorpsskolan;VT2024;;local_lasforstaelse;61,2;58;;högre är bättre;0;100

* ``Skolenhetskod`` (8 digits), ``Mått``, ``Värde`` and one of ``Termin``
  (``HT2023``/``VT2024``) or ``Läsår`` (``2023/24``) are required;
  ``Antal elever`` (the pupils the value is computed from) is required for a
  value (the floors of 10 pupils need it); ``Skola``, ``Grupp`` (samtliga,
  flickor, pojkar), ``Riktning`` and ``Skala min``/``Skala max`` (for a local
  measure) are optional.
* ``Mått`` is a code of the controlled vocabulary or its Swedish name
  (:data:`MEASURE_NAMES`): ``attendance_pct`` (Närvaro (%): share of scheduled
  time present), ``problematic_absence_pct`` (share of pupils whose absence is
  above the organiser's threshold), ``offences_per_100`` (reported offences
  (kränkningar) per 100 pupils), or ``local_<name>`` (lower case letters,
  digits, ``_``) for a local measure, e.g. a local survey's index.
  A local measure may state its direction (``högre är bättre`` / ``lägre är
  bättre``) and scale; it is then registered in ``schema.LOCAL_MEASURES`` so
  text and charts say "bättre"/"sämre" correctly.
* ``Värde`` is a number, ``..`` (suppressed) or ``.`` / empty (missing).
  Percentages 0–100, offences ≥ 0, a local measure within its stated scale.

Terms and school years: the ``results`` table is per school year. Term rows
are combined into their school year as the pupil-weighted mean of the terms
with a value (``n`` = the larger term's pupils); the term values themselves
are in ``attrs["terms"]`` (as records; :func:`term_rows` gives the table). A school-year row and term rows for the same
school, measure and year are refused as duplicates.

Pupil-level attendance
----------------------
:func:`read_pupil_attendance` reads an export with one row per pupil and
period (``Personnummer``, ``Skolenhetskod``, ``Period`` as a term or a date /
month such as ``2023-09``, and either ``Närvaro (%)`` or ``Schemalagd tid``
and ``Frånvaro`` in minutes). Personnummer are replaced at read time by the
same keyed pseudonyms as grade files (:func:`undervisning_analys.privacy.pseudonymise`,
key from ``key`` or ``UA_PSEUDONYM_KEY``); the pupils are aggregated to school
× term (attendance: the mean of the pupils' shares of scheduled time present;
problematic absence: the share of pupils absent at least ``threshold`` per
cent of their scheduled time), and a school × term with fewer than 10 pupils
is suppressed (``..``). No pupil row survives.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from .._format import number as _fmt
from ..dataset import ProvenanceRecord
from ..errors import DuplicateRowsError, FileFormatError, MissingColumnError, ValueFormatError
from ..privacy import pseudonymise, refuse_personnummer_columns
from ..privacy.floors import MIN_PUPILS
from . import _common as c

LOADER = "read_local_measures"

#: Swedish names (folded) of the measures -> vocabulary code.
MEASURE_NAMES: dict[str, str] = {
    "narvaro": "attendance_pct", "narvaro%": "attendance_pct", "narvaroprocent": "attendance_pct",
    "attendancepct": "attendance_pct",
    "problematiskfranvaro": "problematic_absence_pct",
    "andelelevermedproblematiskfranvaro": "problematic_absence_pct",
    "problematicabsencepct": "problematic_absence_pct",
    "anmaldakrankningarper100elever": "offences_per_100",
    "krankningarper100elever": "offences_per_100", "offencesper100": "offences_per_100",
}

COLUMNS: dict[str, str] = {
    "skolenhetskod": "school_id", "skolenhet": "school_id", "skolkod": "school_id",
    "skola": "school_name", "skolnamn": "school_name",
    "termin": "term", "lasar": "school_year",
    "matt": "measure", "varde": "value", "antalelever": "n", "antal": "n",
    "grupp": "group", "riktning": "direction", "skalamin": "scale_min",
    "skalamax": "scale_max",
}
HEADERS_SV = {"school_id": "Skolenhetskod", "school_name": "Skola", "term": "Termin",
              "school_year": "Läsår", "measure": "Mått", "value": "Värde", "n": "Antal elever",
              "group": "Grupp", "direction": "Riktning", "scale_min": "Skala min",
              "scale_max": "Skala max"}
GROUPS = {"": "all", "samtliga": "all", "alla": "all", "all": "all", "flickor": "girls",
          "girls": "girls", "pojkar": "boys", "boys": "boys"}
DIRECTIONS = {"": None, "hogrearbattre": "higher_better", "lagrearbattre": "lower_better",
              "higherbetter": "higher_better", "lowerbetter": "lower_better"}
_LOCAL = re.compile(r"^local_[a-z][a-z0-9_]*$")
_HINT = ("Se formatet i mallen: undervisning-analys mall --ut MAPP (bladet Instruktioner), "
         "rätta cellen och läs in filen igen")


def _num(x: float) -> str:
    """A bound or a threshold as Swedish text (decimal comma, no needless decimals)."""
    return _fmt(x, None, thousands="")


def _sheet_rows(path: Path) -> tuple[str | None, list[c.Row], dict[str, Any]]:
    sheets, info = c.read_rows(path)
    if info["format"] == "xlsx":
        name = next((n for n in sheets if c.fold(n) in ("matt", "data")), next(iter(sheets)))
        return name, sheets[name], info
    return None, sheets[""], info


def _err(cls: type, msg: str, *, p: Path, sheet: str | None, row: int | None,
         column: str | None, hint: str = _HINT) -> Exception:
    text = f"{msg} på bladet `{sheet}`" if sheet else msg
    e = cls(text, file=p, row=row, column=column, hint=hint)
    e.sheet = sheet
    return e


def _header(rows: list[c.Row], p: Path, sheet: str | None, required: tuple[str, ...],
            columns: dict[str, str], names: dict[str, str]) -> tuple[int, dict[str, int]]:
    for k, r in enumerate(rows[:10]):
        roles: dict[str, int] = {}
        for j, v in enumerate(r.cells):
            role = columns.get(c.fold(v))
            if role and role not in roles:
                roles[role] = j
        if len(roles) >= 3:
            missing = [x for x in required if x not in roles]
            if missing:
                raise _err(MissingColumnError, f"Kolumnen `{names[missing[0]]}` saknas "
                           "(rubrikraden har " + ", ".join(
                               repr(c.cell_text(v)) for v in r.cells if c.cell_text(v)) + ")",
                           p=p, sheet=sheet, row=r.line, column=names[missing[0]])
            return k, roles
    raise _err(MissingColumnError, "Hittar ingen rubrikrad med kolumnerna "
               + ", ".join(names[x] for x in required), p=p, sheet=sheet,
               row=rows[0].line if rows else None, column=None)


def _measure(raw: str, *, p: Path, sheet: str | None, row: int, column: str) -> str:
    t = raw.strip()
    if schema.is_known_measure(t) and (t in MEASURE_NAMES.values() or _LOCAL.match(t)):
        return t
    f = c.fold(t)
    if f in MEASURE_NAMES:
        return MEASURE_NAMES[f]
    m = re.match(r"^(eget|egetmatt|local)[:_ ]\s*(.+)$", c.norm(t))
    if m:
        slug = re.sub(r"[^a-z0-9]+", "_", c.norm(m.group(2)).replace("å", "a").replace(
            "ä", "a").replace("ö", "o")).strip("_")
        if slug and slug[0].isalpha():
            return f"local_{slug}"
    raise _err(ValueFormatError, f"Måttet {c.show(raw)} känns inte igen", p=p, sheet=sheet,
               row=row, column=column,
               hint="Ange attendance_pct (Närvaro (%)), problematic_absence_pct (Problematisk "
                    "frånvaro), offences_per_100 (Anmälda kränkningar per 100 elever) eller "
                    "ett eget mått som local_namn (små bokstäver, siffror och _); " + _HINT)


def _number(v: Any, *, p: Path, sheet: str | None, row: int, column: str, what: str,
            decimals: c.DecimalStyle) -> tuple[float, str]:
    decimals.see(v, file=p, row=row, column=column)
    parsed = c.parse_number(v)
    if parsed is None or (parsed[1] not in ("ok", "suppressed", "missing")):
        raise _err(ValueFormatError, f"{what} {c.show(v)} är inte ett tal", p=p, sheet=sheet,
                   row=row, column=column)
    return parsed


def _load(path: str | Path) -> tuple[pd.DataFrame, ProvenanceRecord]:
    p = c.check_file(path)
    sheet, rows, info = _sheet_rows(p)
    h, roles = _header(rows, p, sheet, ("school_id", "measure", "value", "n"), COLUMNS,
                       HEADERS_SV)
    if "term" not in roles and "school_year" not in roles:
        raise _err(MissingColumnError, "Kolumnen `Termin` eller `Läsår` saknas", p=p,
                   sheet=sheet, row=rows[h].line, column="Termin")
    header = rows[h]
    data = [r for r in rows[h + 1:] if not r.is_blank()]
    if info["format"] == "csv":
        c.check_widths(header, data, p)
    heads = [c.cell_text(x) or f"kolumn {j + 1}" for j, x in enumerate(header.cells)]
    refuse_personnummer_columns(c.frame_of_rows(data, heads), p)
    if not data:
        raise _err(FileFormatError, "Filen har rubriker men inga rader med värden", p=p,
                   sheet=sheet, row=header.line, column=None)
    name = {k: c.cell_text(header.cells[j]) for k, j in roles.items()}
    decimals = c.DecimalStyle()
    recs: list[dict[str, Any]] = []
    local_info: dict[str, tuple[str | None, float | None, float | None, int]] = {}
    unfilled = 0
    for r in data:
        def cell(role: str, r: c.Row = r) -> str:
            return r.text(roles[role]) if role in roles else ""

        if not (cell("term") or cell("school_year") or cell("value") or cell("n")):
            unfilled += 1  # a template row (school and measure only) left unfilled
            continue

        code = c.pad_code(cell("school_id"), 8)
        if not re.fullmatch(r"\d{8}", code):
            raise _err(ValueFormatError, f"Skolenhetskoden {c.show(cell('school_id'))} är inte "
                       "8 siffror", p=p, sheet=sheet, row=r.line, column=name["school_id"])
        term_raw, sy_raw = cell("term"), cell("school_year")
        term = sy = None
        if term_raw:
            t = term_raw.upper().replace(" ", "")
            if not re.fullmatch(schema.TERM_RE, t):
                raise _err(ValueFormatError, f"Terminen {c.show(term_raw)} ska skrivas som "
                           "HT2023 eller VT2024", p=p, sheet=sheet, row=r.line,
                           column=name["term"])
            term, sy = t, schema.term_school_year(t)
            c.check_not_future(file=p, row=r.line, column=name["term"],
                               year=int(t[2:]), hint=_HINT)
        if sy_raw:
            y = c.school_year_of_text(sy_raw)
            if y is None:
                raise _err(ValueFormatError, f"Läsåret {c.show(sy_raw)} ska skrivas som "
                           "2023/24", p=p, sheet=sheet, row=r.line, column=name["school_year"])
            if sy is not None and y != sy:
                raise _err(ValueFormatError, f"Terminen {term} hör inte till läsåret {y}",
                           p=p, sheet=sheet, row=r.line, column=name["school_year"])
            c.check_not_future(file=p, row=r.line, column=name["school_year"], school_year=y,
                               hint=_HINT)
            sy = y
        if sy is None:
            raise _err(ValueFormatError, "Raden saknar både termin och läsår", p=p,
                       sheet=sheet, row=r.line, column=name.get("term", name.get("school_year")))
        measure = _measure(cell("measure"), p=p, sheet=sheet, row=r.line,
                           column=name["measure"])
        value, status = _number(r.cells[roles["value"]] if roles["value"] < len(r.cells)
                                else "", p=p, sheet=sheet, row=r.line, column=name["value"],
                                what="Värdet", decimals=decimals)
        nv, nst = _number(r.cells[roles["n"]] if roles["n"] < len(r.cells) else "", p=p,
                          sheet=sheet, row=r.line, column=name["n"], what="Antalet elever",
                          decimals=decimals)
        if nst == "ok" and (nv < 0 or not float(nv).is_integer()):
            raise _err(ValueFormatError, f"Antalet elever {c.show(r.cells[roles['n']])} är "
                       "inte ett heltal 0 eller större", p=p, sheet=sheet, row=r.line,
                       column=name["n"])
        if status == "ok" and nst != "ok":
            raise _err(ValueFormatError, "Värdet saknar antal elever (behövs för att inga "
                       "värden från färre än 10 elever ska visas)", p=p, sheet=sheet,
                       row=r.line, column=name["n"])
        g = GROUPS.get(c.fold(cell("group")))
        if g is None:
            raise _err(ValueFormatError, f"Gruppen {c.show(cell('group'))} känns inte igen",
                       p=p, sheet=sheet, row=r.line, column=name["group"],
                       hint="Ange samtliga, flickor eller pojkar (eller lämna tomt); " + _HINT)
        direction = DIRECTIONS.get(c.fold(cell("direction")), "bad")
        if direction == "bad":
            raise _err(ValueFormatError, f"Riktningen {c.show(cell('direction'))} känns inte "
                       "igen", p=p, sheet=sheet, row=r.line, column=name["direction"],
                       hint="Skriv ”högre är bättre” eller ”lägre är bättre”; " + _HINT)
        lo = hi = None
        for role in ("scale_min", "scale_max"):
            if cell(role):
                x, st = _number(r.cells[roles[role]], p=p, sheet=sheet, row=r.line,
                                column=name[role], what="Skalans gräns", decimals=decimals)
                if st == "ok":
                    lo, hi = (x, hi) if role == "scale_min" else (lo, x)
        if direction or lo is not None or hi is not None:
            if not measure.startswith("local_"):
                raise _err(ValueFormatError, f"Riktning och skala anges bara för egna mått "
                           f"(local_…), inte för {measure}", p=p, sheet=sheet, row=r.line,
                           column=name.get("direction") or name.get("scale_min"))
            prev = local_info.get(measure)
            new = (direction, lo, hi, r.line)
            if prev is not None and prev[:3] != new[:3]:
                raise _err(ValueFormatError, f"Måttet {measure} har olika riktning eller skala "
                           f"på rad {prev[3]} och rad {r.line}", p=p, sheet=sheet, row=r.line,
                           column=name.get("direction") or name.get("scale_min"))
            local_info[measure] = new
        if status == "ok":
            info_ = schema.measure_info(measure)
            rng = (local_info[measure][1], local_info[measure][2]) \
                if measure in local_info else info_.scale
            lo_, hi_ = rng if rng is not None else (None, None)
            if (lo_ is not None and value < lo_) or (hi_ is not None and value > hi_) or (
                    measure in ("offences_per_100",) and value < 0):
                span = f"{_num(lo_ or 0)}–{_num(hi_)}" if hi_ is not None and \
                    math.isfinite(hi_) else f"{_num(lo_ or 0)} eller större"
                raise _err(ValueFormatError, f"Värdet {c.show(r.cells[roles['value']])} ligger "
                           f"utanför måttets skala {span}", p=p, sheet=sheet, row=r.line,
                           column=name["value"])
        recs.append({"school_id": code, "term": term, "school_year": sy, "measure": measure,
                     "group": g, "value": value, "n": int(nv) if nst == "ok" else None,
                     "status": status, "row_": r.line})
    for m, (d, lo, hi, _line) in local_info.items():
        schema.LOCAL_MEASURES[m] = schema.MeasureInfo(
            m, schema.measure_label(m) if m not in schema.LOCAL_MEASURES
            else schema.LOCAL_MEASURES[m].label,
            "higher_better" if d == "higher_better" else
            "lower_better" if d == "lower_better" else "neutral",
            (lo if lo is not None else -math.inf, hi if hi is not None else math.inf)
            if (lo is not None or hi is not None) else None, "enheter")
    if not recs:
        raise _err(FileFormatError, "Filen har inga ifyllda rader (termin eller läsår, värde "
                   "och antal elever)", p=p, sheet=sheet, row=header.line, column=None)
    raw = pd.DataFrame(recs)
    return _combine(raw, p, sheet, name, rows_read=len(data), loader=LOADER,
                    source=f"egna mått: {p.name}",
                    dropped={"ej ifyllda mallrader (bara skola och mått)": unfilled})


def _combine(raw: pd.DataFrame, p: Path, sheet: str | None, name: dict[str, str], *,
             rows_read: int, loader: str, source: str, notes: tuple[str, ...] = (),
             dropped: dict[str, int] | None = None) -> tuple[pd.DataFrame, ProvenanceRecord]:
    """Term rows -> their school year (pupil-weighted); school-year rows as they are."""
    key = ["school_id", "school_year", "measure", "group"]
    dup = raw.duplicated(key + ["term"], keep=False)
    mixed = raw.groupby(key)["term"].transform(lambda s: s.isna().any() and s.notna().any())
    bad = raw[dup | mixed.astype(bool)]
    if len(bad):
        first = bad.iloc[0]
        same = bad[(bad[key] == first[key]).all(axis=1)]["row_"].tolist()
        raise _err(DuplicateRowsError, f"Samma skola, mått och {'termin' if first['term'] else 'läsår'} "
                   f"förekommer flera gånger (rad {', '.join(map(str, same))}; "
                   f"{first['measure']} {first['term'] or first['school_year']})", p=p,
                   sheet=sheet, row=int(same[-1]), column=name.get("measure", "Mått"),
                   hint="Ta bort dubbletten eller ange antingen terminer eller läsår för ett "
                        "mått; " + _HINT)
    out_rows = []
    yearly = raw[raw["term"].isna()]
    for r in yearly.itertuples(index=False):
        out_rows.append({**{k: getattr(r, k) for k in key}, "value": r.value, "n": r.n,
                         "status": r.status, "row_": r.row_})
    terms = raw[raw["term"].notna()]
    n_terms = 0
    for k, g in terms.groupby(key, sort=False):
        ok = g[(g["status"] == "ok")]
        n_terms += len(g)
        if len(ok):
            w = ok["n"].astype(float)
            v = float((ok["value"] * w).sum() / w.sum()) if w.sum() > 0 else float(
                ok["value"].mean())
            out_rows.append({**dict(zip(key, k, strict=True)), "value": round(v, 10),
                             "n": int(ok["n"].max()), "status": "ok",
                             "row_": int(g["row_"].min())})
        else:
            st = "suppressed" if (g["status"] == "suppressed").any() else "missing"
            out_rows.append({**dict(zip(key, k, strict=True)), "value": np.nan,
                             "n": int(g["n"].max()) if g["n"].notna().any() else None,
                             "status": st, "row_": int(g["row_"].min())})
    df = pd.DataFrame(out_rows).sort_values("row_", kind="stable")
    df.index = df.pop("row_").to_numpy()
    df.insert(0, "level", "school")
    df["municipality_id"] = None
    df["principal_type"] = "all"
    df["source"] = source
    df["n"] = pd.array(df["n"], dtype="Int64")
    df = df[["level", "school_id", "municipality_id", "school_year", "measure", "group",
             "principal_type", "value", "n", "status", "source"]]
    counts = Counter(raw["measure"])
    notes = tuple(notes) + (
        "mått: " + ", ".join(f"{m} {n}" for m, n in sorted(counts.items())),
        f"terminsrader sammanvägda till läsår (viktat med antal elever): {n_terms}")
    term_table = terms.drop(columns=["row_"]).reset_index(drop=True)
    return c.finish(df, table="results", path=p, loader=loader, rows_read=rows_read,
                    dropped=dropped, notes=notes,
                    attrs={"terms": tuple(term_table.to_dict("records"))})


def term_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The term rows a table of :func:`read_local_measures` or
    :func:`read_pupil_attendance` was combined from (kept in ``attrs["terms"]`` as
    records, not as a DataFrame, so that tables can be concatenated)."""
    return pd.DataFrame(list(df.attrs.get("terms", ())))


@c.guarded("fil med egna mått")
# --------------------------------------------------------------------------
# Recognising the files (the folder reader's detectors)
# --------------------------------------------------------------------------
def _head_rows(p: Path, rows: int = 10) -> list[list[str]]:
    """The first rows of a CSV (any of ``;``, ``,``, tab) or of the workbook's
    ``Mått`` (else first) sheet, as text, cheaply; empty when unreadable."""
    suffix = p.suffix.lower()
    if suffix == ".xlsx":
        try:
            import openpyxl

            wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
        except Exception:  # noqa: BLE001 - any unreadable workbook is simply not ours
            return []
        try:
            ws = next((wb[n] for n in wb.sheetnames if c.fold(n) in ("matt", "data")),
                      wb.worksheets[0] if wb.worksheets else None)
            if ws is None:
                return []
            out = []
            for k, row in enumerate(ws.iter_rows(values_only=True)):
                if k >= rows:
                    break
                out.append([c.cell_text(x) for x in row[:30]])
            return out
        finally:
            wb.close()
    if suffix not in (".csv", ".txt"):
        return []
    try:
        data = p.read_bytes()[:8192]
    except OSError:
        return []
    text = data.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()[:rows]
    delim = max((";", ",", "\t"), key=lambda d: sum(ln.count(d) for ln in lines))
    return [ln.split(delim) for ln in lines]


def _has_header(p: Path, columns: dict[str, str], needed: set[str]) -> bool:
    for r in _head_rows(p):
        roles = {columns.get(c.fold(v)) for v in r}
        if needed <= roles:
            return True
    return False


def is_local_measures(p: Path) -> bool:
    """The own-measures format: a header row (within the first ten) with
    ``Skolenhetskod``, ``Mått`` and ``Värde`` (and no personnummer column)."""
    return _has_header(p, COLUMNS, {"school_id", "measure", "value"}) and \
        not _has_header(p, PUPIL_COLUMNS, {"pnr"})


def is_pupil_attendance(p: Path) -> bool:
    """A pupil-level attendance export: a header row with ``Personnummer``,
    ``Skolenhetskod`` and ``Period`` (or ``Termin``/``Månad``/``Datum``)."""
    return _has_header(p, PUPIL_COLUMNS, {"pnr", "school_id", "period"})


def with_register(df: pd.DataFrame, register: pd.DataFrame | None) -> pd.DataFrame:
    """Fill ``municipality_id`` of the school rows from the school register (by school code)."""
    if register is None or not len(df) or "municipality_id" not in register.columns:
        return df
    codes = dict(zip(register["school_id"].astype(str), register["municipality_id"],
                     strict=True))
    out = df.copy()
    fill = out["municipality_id"].isna() & (out["level"].astype(str) == "school")
    out.loc[fill, "municipality_id"] = out.loc[fill, "school_id"].astype(str).map(codes)
    out.attrs = dict(df.attrs)
    return out


def read_local_measures(path: str | Path) -> pd.DataFrame:
    """Read the organiser's own measures (attendance, absence, offences, local) -> ``results``.

    See the module docstring for the format; the template comes from
    ``undervisning-analys mall`` (:func:`write_template`).

    Returns
    -------
    ``results`` at school level, one row per school, school year, measure and
    group (term rows combined, pupil-weighted); the term rows as read in
    :func:`term_rows`, ``attrs["provenance"]``.

    Raises
    ------
    MissingColumnError, ValueFormatError, DuplicateRowsError, FileFormatError
        In Swedish, naming the file, (for a workbook) the sheet, the row and the
        column, with the fix.
    """
    return c.publish(_load(path))


# --------------------------------------------------------------------------
# Pupil-level attendance
# --------------------------------------------------------------------------
PUPIL_COLUMNS: dict[str, str] = {
    "personnummer": "pnr", "elev": "pnr", "elevenspersonnummer": "pnr",
    "skolenhetskod": "school_id", "skolenhet": "school_id",
    "period": "period", "termin": "period", "manad": "period", "datum": "period",
    "narvaro": "present_pct", "narvaro%": "present_pct", "narvaroprocent": "present_pct",
    "schemalagdtid": "scheduled", "schemalagdtidminuter": "scheduled",
    "franvaro": "absent", "franvarominuter": "absent", "franvarotid": "absent",
}
PUPIL_HEADERS_SV = {"pnr": "Personnummer", "school_id": "Skolenhetskod", "period": "Period",
                    "present_pct": "Närvaro (%)", "scheduled": "Schemalagd tid",
                    "absent": "Frånvaro"}


def _term_of_period(v: Any) -> str | None:
    t = c.cell_text(v).upper().replace(" ", "")
    if re.fullmatch(schema.TERM_RE, t):
        return t
    m = re.fullmatch(r"((?:19|20)\d{2})-(\d{1,2})(-\d{1,2})?", c.cell_text(v))
    if m:
        return schema.term_of(pd.Timestamp(int(m.group(1)), int(m.group(2)), 1))
    d = c.parse_date(v)
    return schema.term_of(d) if d is not None else None


@c.guarded("närvaroexport på elevnivå")
def read_pupil_attendance(path: str | Path, *, key: str | bytes | None = None,
                          threshold: float = 15.0) -> pd.DataFrame:
    """Pupil-level attendance (pupil × period, with personnummer) -> school ``results``.

    Parameters
    ----------
    path : CSV or XLSX with ``Personnummer``, ``Skolenhetskod``, ``Period``
        (term, month ``2023-09`` or date) and ``Närvaro (%)`` or
        ``Schemalagd tid`` + ``Frånvaro`` (minutes).
    key : the pseudonymisation secret (default ``$UA_PSEUDONYM_KEY``).
    threshold : problematic absence: absent at least this share (%) of the
        scheduled time in the term.

    Returns
    -------
    ``results`` rows ``attendance_pct`` and ``problematic_absence_pct`` per
    school and school year (:func:`term_rows`: per school × term, the level
    the floors apply at: fewer than 10 pupils -> suppressed).
    """
    p = c.check_file(path)
    sheet, rows, info = _sheet_rows(p)
    h, roles = _header(rows, p, sheet, ("pnr", "school_id", "period"), PUPIL_COLUMNS,
                       PUPIL_HEADERS_SV)
    if "present_pct" not in roles and not ("scheduled" in roles and "absent" in roles):
        raise _err(MissingColumnError, "Kolumnen `Närvaro (%)` (eller `Schemalagd tid` och "
                   "`Frånvaro`) saknas", p=p, sheet=sheet, row=rows[h].line,
                   column="Närvaro (%)")
    header = rows[h]
    data = [r for r in rows[h + 1:] if not r.is_blank()]
    if info["format"] == "csv":
        c.check_widths(header, data, p)
    name = {k: c.cell_text(header.cells[j]) for k, j in roles.items()}
    if not data:
        raise _err(FileFormatError, "Filen har rubriker men inga elevrader", p=p, sheet=sheet,
                   row=header.line, column=None)
    pnr = pseudonymise([r.text(roles["pnr"]) for r in data], key)
    decimals = c.DecimalStyle()
    recs = []
    for r, pid in zip(data, pnr, strict=True):
        code = c.pad_code(r.text(roles["school_id"]), 8)
        if not re.fullmatch(r"\d{8}", code):
            raise _err(ValueFormatError, f"Skolenhetskoden {c.show(r.text(roles['school_id']))} "
                       "är inte 8 siffror", p=p, sheet=sheet, row=r.line,
                       column=name["school_id"])
        term = _term_of_period(r.cells[roles["period"]])
        if term is None:
            raise _err(ValueFormatError, f"Perioden {c.show(r.cells[roles['period']])} är "
                       "varken en termin (HT2023), en månad (2023-09) eller ett datum", p=p,
                       sheet=sheet, row=r.line, column=name["period"])
        if "present_pct" in roles:
            v, st = _number(r.cells[roles["present_pct"]], p=p, sheet=sheet, row=r.line,
                            column=name["present_pct"], what="Närvaron", decimals=decimals)
            if st == "ok" and not 0 <= v <= 100:
                raise _err(ValueFormatError, f"Närvaron {c.show(r.cells[roles['present_pct']])}"
                           " ligger utanför 0–100 %", p=p, sheet=sheet, row=r.line,
                           column=name["present_pct"])
            sched, absent = (100.0, 100.0 - v) if st == "ok" else (math.nan, math.nan)
        else:
            sched, s1 = _number(r.cells[roles["scheduled"]], p=p, sheet=sheet, row=r.line,
                                column=name["scheduled"], what="Den schemalagda tiden",
                                decimals=decimals)
            absent, s2 = _number(r.cells[roles["absent"]], p=p, sheet=sheet, row=r.line,
                                 column=name["absent"], what="Frånvaron", decimals=decimals)
            if s1 == "ok" and s2 == "ok" and not (0 <= absent <= sched):
                raise _err(ValueFormatError, f"Frånvaron {c.show(r.cells[roles['absent']])} "
                           "minuter är negativ eller större än den schemalagda tiden", p=p,
                           sheet=sheet, row=r.line, column=name["absent"])
        recs.append({"pupil_id": pid, "school_id": code, "term": term, "scheduled": sched,
                     "absent": absent, "row_": r.line})
    df = pd.DataFrame(recs)
    dropped = int(df["scheduled"].isna().sum())
    df = df[df["scheduled"].notna() & (df["scheduled"] > 0)]
    per = df.groupby(["school_id", "term", "pupil_id"], sort=False).agg(
        scheduled=("scheduled", "sum"), absent=("absent", "sum"), row_=("row_", "min"))
    per["absence_pct"] = 100 * per["absent"] / per["scheduled"]
    agg_rows = []
    for (sid, term), g in per.groupby(level=[0, 1], sort=False):
        n = len(g)
        ok = n >= MIN_PUPILS
        sy = schema.term_school_year(term)
        for measure, v in (("attendance_pct", float(100 - g["absence_pct"].mean())),
                           ("problematic_absence_pct",
                            float(100 * (g["absence_pct"] >= threshold).mean()))):
            agg_rows.append({"school_id": sid, "term": term, "school_year": sy,
                             "measure": measure, "group": "all",
                             "value": round(v, 10) if ok else np.nan, "n": n,
                             "status": "ok" if ok else "suppressed",
                             "row_": int(g["row_"].min())})
    raw = pd.DataFrame(agg_rows)
    n_pupils = per.reset_index()["pupil_id"].nunique()
    notes = (f"{n_pupils} elever pseudonymiserade och sammanvägda till skola × termin; "
             f"problematisk frånvaro: minst {_num(threshold)} % av schemalagd tid; "
             f"skola × termin med färre än {MIN_PUPILS} elever prickade",)
    return c.publish(_combine(raw, p, sheet, {"measure": name["period"]}, rows_read=len(data),
                              loader="read_pupil_attendance", source=f"närvaro: {p.name}",
                              notes=notes,
                              dropped={"rader utan närvarovärde": dropped}))


# --------------------------------------------------------------------------
# The template
# --------------------------------------------------------------------------
INSTRUCTIONS_SV = [
    "Mall för egna mått (närvaro, frånvaro, kränkningar, egna enkäter)",
    "",
    "Fyll i bladet Mått, en rad per skola, period och mått. Spara som .xlsx eller som CSV "
    "(semikolonavgränsad) och lägg filen i samma mapp som övriga filer.",
    "Skolenhetskod: skolans 8-siffriga kod (som i skolregistret).",
    "Termin (HT2023, VT2024) eller Läsår (2023/24): fyll i en av dem. Terminer vägs samman "
    "till läsår med antalet elever som vikt.",
    "Mått: Närvaro (%) – andel av schemalagd tid som eleverna var närvarande; Problematisk "
    "frånvaro – andel (%) elever med frånvaro över huvudmannens gräns; Anmälda kränkningar "
    "per 100 elever; eller ett eget mått som local_namn (små bokstäver, siffror och _).",
    "Värde: ett tal (decimalkomma går bra), .. om värdet är prickat, tomt om det saknas.",
    "Antal elever: hur många elever värdet bygger på. Värden från färre än 10 elever visas "
    "aldrig i rapporterna.",
    "Grupp (valfri): samtliga, flickor eller pojkar.",
    "Riktning och Skala min/max (valfria, bara för egna mått): ”högre är bättre” eller "
    "”lägre är bättre”, så att rapporterna kan säga bättre och sämre rätt.",
    "",
    "Närvaro på elevnivå (med personnummer) läses med en nyckel för pseudonymisering "
    "(UA_PSEUDONYM_KEY) och vägs samman per skola och termin; inga personnummer sparas.",
]
TEMPLATE_HEADERS = ["Skolenhetskod", "Skola", "Termin", "Läsår", "Mått", "Värde",
                    "Antal elever", "Grupp", "Riktning", "Skala min", "Skala max"]
TEMPLATE_MEASURES = ["Närvaro (%)", "Problematisk frånvaro",
                     "Anmälda kränkningar per 100 elever"]


def write_template(path: str | Path, schools: pd.DataFrame | None = None) -> Path:
    """Write the template for the organiser's own measures (``egna_matt.xlsx``).

    A sheet ``Mått`` with the headers, one example row per school of ``schools``
    (if given), data validation on Termin, Mått, Grupp and Riktning, and a sheet
    ``Instruktioner``. It is read back by :func:`read_local_measures`.
    """
    from openpyxl import Workbook
    from openpyxl.worksheet.datavalidation import DataValidation

    p = Path(path)
    if p.suffix.lower() != ".xlsx":
        p = p / "egna_matt.xlsx"
    p.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    ws = wb.active
    ws.title = "Mått"
    ws.append(TEMPLATE_HEADERS)
    if schools is not None:
        for s in schools.sort_values("school_id").itertuples(index=False):
            ws.append([s.school_id, s.school_name, None, None, "Närvaro (%)", None, None,
                       None, None, None, None])
    for col, width in zip("ABCDEFGHIJK", (15, 28, 10, 10, 36, 10, 13, 10, 18, 10, 10),
                          strict=True):
        ws.column_dimensions[col].width = width
    last = 2000
    for ref, values in (("C", None), ("E", TEMPLATE_MEASURES), ("H", ["samtliga", "flickor",
                                                                       "pojkar"]),
                        ("I", ["högre är bättre", "lägre är bättre"])):
        if values is None:
            dv = DataValidation(type="custom", formula1='OR(C2="",AND(LEN(C2)=6,'
                                'OR(LEFT(C2,2)="HT",LEFT(C2,2)="VT")))', allow_blank=True)
            dv.error = "Skriv terminen som HT2023 eller VT2024"
        else:
            dv = DataValidation(type="list", formula1='"' + ",".join(values) + '"',
                                allow_blank=True)
            dv.showErrorMessage = ref != "E"  # own measures (local_…) are allowed in Mått
            dv.error = "Välj ett värde i listan"
        dv.add(f"{ref}2:{ref}{last}")
        ws.add_data_validation(dv)
    num = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0",
                         allow_blank=True)
    num.error = "Ange ett tal 0 eller större"
    num.add(f"F2:F{last}")
    num.add(f"G2:G{last}")
    ws.add_data_validation(num)
    ins = wb.create_sheet("Instruktioner")
    for line in INSTRUCTIONS_SV:
        ins.append([line])
    ins.column_dimensions["A"].width = 120
    wb.save(p)
    return p


__all__ = ["read_local_measures", "read_pupil_attendance", "write_template", "term_rows",
           "is_local_measures", "is_pupil_attendance", "with_register", "MEASURE_NAMES",
           "MIN_PUPILS"]
