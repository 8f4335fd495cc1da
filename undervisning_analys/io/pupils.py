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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .. import schema
from ..dataset import ProvenanceRecord
from ..errors import DuplicateRowsError, FileFormatError, MissingColumnError, ValueFormatError
from ..privacy import (
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


def _load(path: str | Path, key: str | bytes | None = None, *,
          school_year: str | None = None) -> tuple[pd.DataFrame, ProvenanceRecord]:
    k = get_key(key)  # refuse before reading anything
    p = c.check_file(path)
    text, enc, enc_notes = c.read_text(p)
    rows = [r for r in c.split_rows(text, ";", p) if not r.is_blank()]
    if not rows:
        raise FileFormatError("Filen är tom", file=p,
                              hint="Filen ska vara en semikolonseparerad textfil enligt SCB:s "
                                   "postbeskrivning")
    # a header row: PersonNr, or at least three of the record format's variable names
    first_roles = [_role(x) for x in rows[0].cells]
    header_row = rows[0] if "pnr" in first_roles or sum(
        r is not None for r in first_roles) >= 3 else None
    if header_row is not None:
        names = [c.cell_text(x) for x in header_row.cells]
        data = rows[1:]
        if not data:
            raise FileFormatError("Filen har en rubrikrad men inga rader med elever", file=p,
                                  row=header_row.line,
                                  hint="Exportera betygsfilen på nytt")
        c.check_widths(header_row, data, p)
    else:
        names = list(SPEC_ORDER)
        data = rows
        bad = [(r.line, f"{len(r.cells)} fält") for r in data
               if len([x for x in r.cells]) not in (len(SPEC_ORDER), len(SPEC_ORDER) + 1)]
        if bad:
            raise c.rows_error(
                FileFormatError, f"Filen saknar rubrikrad och raderna har inte "
                f"{len(SPEC_ORDER)} fält som i SCB:s postbeskrivning", file=p, column=None,
                bad=bad, hint="Lägg till rubrikraden (System;Datum;Version;PersonNr;…) eller "
                              "kontrollera att varje rad har alla fält")
    roles = {j: _role(n) for j, n in enumerate(names)}
    while names and names[-1] == "" and all(
            len(r.cells) <= len(names) - 1 or c.cell_text(r.cells[len(names) - 1]) == ""
            for r in data):
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
    cols = [n or f"kolumn {j + 1}" for j, n in enumerate(names)]
    raw = c.frame_of_rows(data, cols)
    pnr_col = cols[j_pnr]
    # --- privacy first: sex, pseudonym, drop the number and the names ---------------------
    pnr_raw = raw[pnr_col].map(c.cell_text)
    norm = pnr_raw.map(normalise_personnummer)
    bad_lines = [int(i) for i in norm.index[norm.isna()]]
    if bad_lines:
        listed = ", ".join(str(x) for x in bad_lines[:10])
        raise ValueFormatError(
            f"PersonNr går inte att läsa på {len(bad_lines)} rader (rad {listed})", file=p,
            row=bad_lines[0], column=pnr_col,
            hint="PersonNr ska ha 12 siffror (ååååmmddxxxx) eller vara ett tillfälligt "
                 "nummer (ååååmmddTFxx)")
    sex = norm.map(sex_of_personnummer)
    pupil_id = pseudonymise(norm, key=k)
    name_cols = [cols[j] for j, r in roles.items() if r == "_name"]
    raw = raw.drop(columns=[pnr_col, *name_cols])
    del pnr_raw, norm
    refuse_personnummer_columns(raw, p)
    # --- rows ---------------------------------------------------------------------------
    school = raw[cols[j_school]].map(lambda v: c.pad_code(v, 8))
    bad = [(i, v) for i, v in school.items() if not (v.isdigit() and len(v) == 8)]
    if bad:
        raise c.rows_error(ValueFormatError, "Skolenhetskoden ska vara 8 siffror", file=p,
                           column=cols[j_school], bad=bad,
                           hint="Rätta skolenhetskoden (8 siffror)")
    if school_year is not None:
        sy_given = c.school_year_of_text(school_year)
        if sy_given is None:
            raise ValueFormatError(f"school_year={school_year!r} är inget läsår", file=p,
                                   hint="Ange läsåret som '2024/25'")
        c.check_not_future(file=p, row=None, column=None, school_year=sy_given,
                           hint="Ange läsåret betygen sattes, t.ex. '2024/25'")
        years = pd.Series(sy_given, index=raw.index)
    else:
        if j_date is None:
            raise MissingColumnError(
                "Kolumnen Datum saknas, så läsåret kan inte bestämmas", file=p, column="Datum",
                hint="Ange school_year='2024/25' eller lägg till kolumnen Datum")
        dates = raw[cols[j_date]].map(c.parse_date)
        bad = [(i, raw.at[i, cols[j_date]]) for i in dates.index[dates.isna()]]
        if bad:
            raise c.rows_error(ValueFormatError, "Datum går inte att läsa", file=p,
                               column=cols[j_date], bad=bad,
                               hint="Datum skrivs åååå-mm-dd; eller ange school_year='2024/25'")
        for i, d in dates.items():
            c.check_not_future(file=p, row=i, column=cols[j_date], date=d,
                               hint="Datum är dagen då uppgifterna togs ut; rätta det")
        years = dates.map(lambda d: c.school_year_from_start(d.year - 1))
    dup = pd.Series(list(zip(pupil_id, years)), index=raw.index).duplicated(keep=False)
    if dup.any():
        lines = [int(i) for i in raw.index[dup.to_numpy()]]
        raise DuplicateRowsError(
            "Samma elev (PersonNr) förekommer på flera rader: rad "
            + ", ".join(str(x) for x in lines[:10]), file=p, row=lines[0], column=pnr_col,
            hint="Varje elev ska stå på en rad; ta bort dubbletterna")
    records: list[dict[str, Any]] = []
    index: list[int] = []
    n_lang = 0
    for j, role in roles.items():
        if role is None or role.startswith("_") or role in ("pnr", "school", "date"):
            if role == "_lang":
                n_lang += 1
            continue
        col = cols[j]
        vals = raw[col].map(lambda v: c.cell_text(v).upper())
        bad = [(i, v) for i, v in vals.items() if v != "" and v not in _CODES]
        if bad:
            raise c.rows_error(ValueFormatError, f"Okänd betygskod i ämnet {role}", file=p,
                               column=col, bad=bad,
                               hint="Tillåtna koder: A–F, 9 (streck), 3 (ej läst, anpassad "
                                    "studiegång), 2 (ej betygssatt) eller tomt")
        for i, v in vals.items():
            if v == "":
                continue
            g = _CODES[v]
            records.append({"pupil_id": pupil_id[i], "school_id": school[i],
                            "school_year": years[i], "grade_level": 9, "subject": role,
                            "grade": g, "points": POINTS.get(g, math.nan)})
            index.append(int(i))
    df = pd.DataFrame(records, index=index, columns=["pupil_id", "school_id", "school_year",
                                                     "grade_level", "subject", "grade",
                                                     "points"])
    order = {s: k for k, s in enumerate(SUBJECTS)}
    df = df.assign(_l=df.index, _o=df["subject"].map(order)).sort_values(
        ["_l", "_o"], kind="stable").drop(columns=["_l", "_o"])
    n_boys = int((sex == "boys").sum())
    n_girls = int((sex == "girls").sum())
    notes = [f"teckenkodning {enc}", *enc_notes,
             f"elever: {len(raw)} ({n_girls} flickor, {n_boys} pojkar, "
             f"{len(raw) - n_girls - n_boys} utan känt kön)",
             "PersonNr ersatt med pseudonym (HMAC-SHA256); namn togs bort vid inläsningen"]
    if n_lang:
        notes.append("språkkoder (M1/M2/ML språk) sparas inte")
    sex_map = SexMap({pid: s for pid, s in zip(pupil_id, sex) if s is not None})
    return c.finish(df, table="pupil_results", path=p, loader="read_pupil_grades",
                    rows_read=len(raw), notes=notes, attrs={"sex": sex_map})


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


def aggregate_pupil_grades(pupil_results: pd.DataFrame,
                           sex: Mapping[str, str] | None = None, *,
                           level: Literal["school", "municipality"] = "school",
                           municipality_id: str | None = None, min_pupils: int = 10,
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
    g = pr[pr["points"].notna()]
    comp = g[g["subject"].isin(COMPULSORY)].sort_values(["pupil_id", "points"],
                                                       ascending=[True, False])
    comp = comp.assign(_rank=comp.groupby("pupil_id").cumcount())
    merit16 = comp[comp["_rank"] < 16].groupby("pupil_id")["points"].sum()
    ml = g[g["subject"].isin(MODERN_LANGUAGES)].groupby("pupil_id")["points"].max()
    passed = g["grade"].isin(_PASS)
    pass_all = passed.groupby(g["pupil_id"]).all()
    core = g[passed.to_numpy()]
    has = core.groupby("pupil_id")["subject"].agg(set)
    other = g[passed.to_numpy() & ~g["subject"].isin(["Sv", "Sva", "En", "Ma"]).to_numpy()] \
        .groupby("pupil_id").size()
    per = pd.DataFrame({"pass_all": pass_all})
    per["merit_16"] = merit16.reindex(per.index).fillna(0.0)
    per["merit_17"] = per["merit_16"] + ml.reindex(per.index).fillna(0.0)
    subj = has.reindex(per.index)
    core_ok = pd.Series([isinstance(s, set) and bool(s & {"Sv", "Sva"}) and "En" in s
                         and "Ma" in s for s in subj], index=per.index, dtype=bool)
    per["eligible"] = core_ok & (other.reindex(per.index).fillna(0) >= 5)
    first = g.drop_duplicates("pupil_id").set_index("pupil_id")
    per["unit"] = first["school_id"].reindex(per.index) if level == "school" \
        else municipality_id
    per["school_year"] = first["school_year"].reindex(per.index)
    per["sex"] = [sex_map.get(pid) for pid in per.index]
    rows: list[dict[str, Any]] = []
    for group, sub in (("all", per), ("girls", per[per["sex"] == "girls"]),
                       ("boys", per[per["sex"] == "boys"])):
        for (unit, sy), d in sub.groupby(["unit", "school_year"], sort=True):
            n = len(d)
            with_pass = d[d["merit_17"] >= 10]
            vals = {
                "merit_17": with_pass["merit_17"].mean() if len(with_pass) else math.nan,
                "merit_16": d.loc[d["merit_16"] >= 10, "merit_16"].mean()
                if (d["merit_16"] >= 10).any() else math.nan,
                "pass_all_subjects_pct": d["pass_all"].mean() * 100,
                "eligible_vocational_pct": d["eligible"].mean() * 100,
            }
            not_reached = {"pass_all_subjects_pct": int((~d["pass_all"]).sum()),
                           "eligible_vocational_pct": int((~d["eligible"]).sum())}
            base = {"level": level, "school_id": unit if level == "school" else None,
                    "municipality_id": municipality_id, "school_year": sy, "group": group,
                    "principal_type": "all", "n": n, "source": src}
            rows.extend(published_rows(base, n, vals, not_reached, min_pupils))
    return results_table(rows, src)


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
