"""The vectorised reader and aggregation of pupil grades (issue 8) give exactly what the
per-cell implementation gave: the same tables (values, dtypes, order, index), attrs,
sex maps and provenance, and for bad input the same error (class, Swedish message,
row and column).

The reference is that implementation (commit b4a629f), kept below verbatim: slow but
plain. Every case is read (or aggregated) by both and compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
from test_io_support import fake_personnummer

from undervisning_analys.dataset import ProvenanceRecord
from undervisning_analys.errors import (
    DuplicateRowsError,
    FileFormatError,
    MissingColumnError,
    ValueFormatError,
)
from undervisning_analys.io import _common as c
from undervisning_analys.io import pupils
from undervisning_analys.io.pupils import (
    _CODES,
    _PASS,
    COMPULSORY,
    MODERN_LANGUAGES,
    POINTS,
    SPEC_ORDER,
    SUBJECTS,
    SexMap,
    _role,
    aggregate_pupil_grades,
    concat_pupil_grades,
    published_rows,
    read_pupil_grades,
    results_table,
)
from undervisning_analys.privacy import (
    get_key,
    normalise_personnummer,
    pseudonymise,
    refuse_personnummer_columns,
    sex_of_personnummer,
)

KEY = "en hemlig nyckel"


# --------------------------------------------------------------------------
# The reference: the implementation before vectorising, verbatim
# --------------------------------------------------------------------------
def _reference_load(path: str | Path, key: str | bytes | None = None, *,
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


def reference_aggregate(pupil_results: pd.DataFrame,
                        sex: Mapping[str, str] | None = None, *,
                        level: Literal["school", "municipality"] = "school",
                        municipality_id: str | None = None, min_pupils: int = 10,
                        source: str | None = None) -> pd.DataFrame:
    """The aggregation before vectorising (commit b4a629f), verbatim."""
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


@c.guarded("betygsfil enligt SCB:s postbeskrivning")
def reference_read(path: str | Path, key: str | bytes | None = None, *,
                   school_year: str | None = None) -> pd.DataFrame:
    return c.publish(_reference_load(path, key, school_year=school_year))


# --------------------------------------------------------------------------
# Comparing
# --------------------------------------------------------------------------
def outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple:
    """("ok", result) or ("error", class, message, row, column)."""
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - any exception must be the same
        return ("error", type(exc), str(exc), getattr(exc, "row", None),
                getattr(exc, "column", None))


def assert_same_table(got: pd.DataFrame, exp: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, exp, check_exact=True)
    assert got.index.equals(exp.index) and got.index.dtype == exp.index.dtype
    assert list(got.columns) == list(exp.columns)
    for col in got.columns:
        a, b = got[col].array, exp[col].array
        assert type(a) is type(b), col
        if hasattr(b, "_pa_array"):
            assert a._pa_array.type == b._pa_array.type, col


def assert_same_read(path: Path, **kwargs: Any) -> tuple:
    """Read ``path`` with both implementations; assert the same outcome; return it."""
    got = outcome(read_pupil_grades, path, key=KEY, **kwargs)
    exp = outcome(reference_read, path, key=KEY, **kwargs)
    assert got[0] == exp[0], (got, exp)
    if exp[0] == "error":
        assert got == exp
        return got
    g, e = got[1], exp[1]
    assert_same_table(g, e)
    assert list(g.attrs) == list(e.attrs) == ["source", "table", "sex", "provenance"]
    assert (g.attrs["source"], g.attrs["table"]) == (e.attrs["source"], e.attrs["table"])
    assert isinstance(g.attrs["sex"], SexMap)
    assert list(g.attrs["sex"].items()) == list(e.attrs["sex"].items())
    assert isinstance(g.attrs["provenance"], ProvenanceRecord)
    assert g.attrs["provenance"] == e.attrs["provenance"]
    return got


def assert_same_aggregate(pr: pd.DataFrame, *args: Any, **kwargs: Any) -> tuple:
    got = outcome(aggregate_pupil_grades, pr, *args, **kwargs)
    exp = outcome(reference_aggregate, pr, *args, **kwargs)
    assert got[0] == exp[0], (got, exp)
    if exp[0] == "error":
        assert got == exp
        return got
    assert_same_table(got[1], exp[1])
    assert got[1].attrs == exp[1].attrs
    return got


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------
def _pnrs(n: int, seed: int = 11) -> list[str]:
    rng = np.random.default_rng(seed)
    used: set[str] = set()
    return [fake_personnummer(rng, 2009, i % 2 == 1, used) for i in range(n)]


PNRS = _pnrs(40)
ALL16 = ("Bl", "Bi", "En", "Fy", "Ge", "Hkk", "Hi", "Idh", "Ke", "Ma", "Mu", "Re", "Sh", "Sl",
         "Sv", "Tk")


def pupil(i: int, **cells: str) -> dict[str, str]:
    base = {"System": "X", "Datum": "2025-06-12", "Version": "1", "PersonNr": PNRS[i],
            "Skolenhetskod": "12345678", "Klass": "9B", "Fornamn": "Kim", "Efternamn": "Berg"}
    grades = {s: "ABCDEF"[(i + k) % 6] for k, s in enumerate(ALL16)}
    return {**base, **grades, **cells}


def scb(rows: list[dict[str, str]], header: bool | list[str] = True, eol: str = "\n",
        end: str = "\n") -> str:
    names = list(SPEC_ORDER) if header is True or header is False else header
    lines = [";".join(names)] if header is not False else []
    lines += [";".join(r.get(n, "") for n in names) for r in rows]
    return eol.join(lines) + end


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_bytes(content.encode("utf-8"))
    return p


THREE = [pupil(0), pupil(1), pupil(2)]
PNR = PNRS[0]

CASES: dict[str, str | bytes] = {
    # the ordinary file, and its line endings
    "basic": scb([pupil(i) for i in range(6)]),
    "no_header": scb(THREE, header=False),
    "no_header_34_fields": scb(THREE, header=False, eol=";\n", end=";\n"),
    "crlf": scb(THREE, eol="\r\n", end="\r\n"),
    "lone_cr": scb(THREE, eol="\r", end="\r"),
    "cr_and_crlf": scb(THREE[:2]).replace("\n", "\r\n", 1) + scb([pupil(2)], header=False,
                                                                   eol="\r", end="\r"),
    "no_final_newline": scb(THREE, end=""),
    "blank_lines": "\n;;;\n" + scb(THREE[:1]) + "\n  \n" + ";" * 32 + "\n"
                   + scb(THREE[1:], header=False) + "\n\n",
    "blank_lines_crlf": ("\r\n" + scb(THREE, eol="\r\n\r\n", end="\r\n")),
    "blank_row_before_header": ";" * 32 + "\r\n" + scb(THREE, eol="\r\n", end="\r\n"),
    "blank_lines_inside": scb(THREE[:1]) + "\n" + ";" * 32 + "\n" + " ; ;" + ";" * 30 + "\n"
                          + scb(THREE[1:], header=False) + "\n",
    # grade codes
    "codes_any_case_and_spaces": scb([pupil(0, Bl=" a ", En="b", Ma="9", Sv="-", Hkk=" 3",
                                           Idh="2\t", Mu="\u00a0c\u00a0"),
                                     pupil(1, Bl="e", Sv="", Sva="f")]),
    "bad_grade_code": scb([pupil(0), pupil(1, Bl="G"), pupil(2, Ma="5", Bl="G")]),
    "bad_grade_many_rows": scb([pupil(i, Sv="X" if i % 2 else "VG") for i in range(30)]),
    "bad_grade_later_column": scb([pupil(0, OVR="Z"), pupil(1, Tn="*")]),
    "blank_cells": scb([pupil(0, **dict.fromkeys(ALL16, "")), pupil(1, Bl="", Ma=""),
                        pupil(2)]),
    "no_grades_at_all": scb([pupil(i, **dict.fromkeys(ALL16, "")) for i in range(3)]),
    "sv_and_sva": scb([pupil(0, Sv="", Sva="A"), pupil(1, Sv="B", Sva="C"),
                       pupil(2, Sv="", Sva="")]),
    "modern_languages": scb([
        pupil(0, **{"M1 (språk)": "SPA", "M1 (betyg)": "A", "M2 (språk)": "TYS",
                    "M2 (betyg)": "2", "ML (språk)": "ARA", "ML (betyg)": "B"}),
        pupil(1, **{"M2 (språk)": "FRA", "M2 (betyg)": "9", "Tn": "C", "OVR": "E"}),
        pupil(2, **{"M1 (betyg)": "3"})]),
    # pupils
    "duplicate_pupil": scb([pupil(0), pupil(1), pupil(2, PersonNr=PNR)]),
    "duplicate_pupil_other_form": scb([pupil(0), pupil(1, PersonNr=PNR[:8] + "-" + PNR[8:])]),
    "duplicate_pupil_many": scb([pupil(i % 3) for i in range(15)]),
    "same_pupil_two_dates": scb([pupil(0), pupil(0, Datum="2024-06-12")]),
    "bad_pnr": scb([pupil(0), pupil(1, PersonNr="hemligt"), pupil(2, PersonNr="12345")]),
    "empty_pnr": scb([pupil(0), pupil(1, PersonNr="")]),
    "pnr_forms": scb([pupil(0, PersonNr=PNRS[0][2:8] + "-" + PNRS[0][8:]),
                      pupil(1, PersonNr=PNRS[1][2:8] + "+" + PNRS[1][8:]),
                      pupil(2, PersonNr=PNRS[2][2:]),
                      pupil(3, PersonNr=" " + PNRS[3] + " ")]),
    "temporary_numbers": scb([pupil(0, PersonNr="20090101TF12"),
                              pupil(1, PersonNr="20090102-TF13"), pupil(2)]),
    "pnr_in_klass": scb([pupil(0, Klass=PNRS[3]), pupil(1, Klass=PNRS[4]), pupil(2)]),
    "pnr_in_version_once": scb([pupil(0, Version=PNRS[3]), pupil(1), pupil(2)]),
    "pnr_in_unnamed_column": scb([{**pupil(i), "": PNRS[10 + i]} for i in range(3)],
                                 header=[*SPEC_ORDER, ""]),
    # schools and dates
    "bad_school": scb([pupil(0), pupil(1, Skolenhetskod="ABC"),
                       pupil(2, Skolenhetskod="123456789")]),
    "short_school_code": scb([pupil(0, Skolenhetskod="1234567"), pupil(1)]),
    "bad_date": scb([pupil(0), pupil(1, Datum="i våras"), pupil(2, Datum="2025-13-01")]),
    "future_dates": scb([pupil(0), pupil(1, Datum="2098-06-12"), pupil(2, Datum="2099-06-12")]),
    "date_forms": scb([pupil(0, Datum="20250612"), pupil(1, Datum="12/6/2025"),
                       pupil(2, Datum="2024-06-12")]),
    # columns
    "header_trailing_semicolon": scb(THREE, header=[*SPEC_ORDER, ""], eol="\n"),
    "header_trailing_semicolon_values": scb([{**pupil(0), "": "x"}, pupil(1)],
                                            header=[*SPEC_ORDER, ""]),
    "row_short": scb(THREE[:1]) + ";".join(pupil(1).get(n, "") for n in SPEC_ORDER[:12]) + "\n",
    "row_extra_value": scb(THREE, eol="\n").rstrip("\n") + ";extra\n",
    "no_header_wrong_width": "\n".join(";".join(pupil(i).get(n, "") for n in SPEC_ORDER[:31])
                                       for i in range(3)) + "\n",
    "no_header_ragged": scb(THREE[:2], header=False) + ";".join(
        pupil(2).get(n, "") for n in SPEC_ORDER[:20]) + "\n",
    "shuffled_columns": scb(THREE, header=list(reversed(SPEC_ORDER))),
    "renamed_headers": scb([{"Personnummer": PNRS[i], "skolenhetskod": "12345678",
                             "DATUM": "2025-06-12", "Blbetyg": "A", "Ma": "B",
                             "M1 språk": "SPA", "M1 betyg": "C"} for i in range(3)],
                           header=["Personnummer", "skolenhetskod", "DATUM", "Blbetyg", "Ma",
                                   "M1 språk", "M1 betyg"]),
    "unknown_column": scb(THREE, header=[*SPEC_ORDER[:10], "MA_PROVB", *SPEC_ORDER[11:]]),
    "no_pnr_column": scb(THREE, header=["Elev" if n == "PersonNr" else n for n in SPEC_ORDER]),
    "no_school_column": scb(THREE, header=[n for n in SPEC_ORDER if n != "Skolenhetskod"]),
    "no_date_column": scb(THREE, header=[n for n in SPEC_ORDER if n != "Datum"]),
    "same_subject_twice": scb([{**pupil(i), "Blbetyg": "B"} for i in range(3)],
                              header=[*SPEC_ORDER, "Blbetyg"]),
    "header_repeats_bl": scb(THREE, header=[*SPEC_ORDER, "Bl"]),
    "header_repeats_pnr": scb(THREE, header=[*SPEC_ORDER, "PersonNr"]),
    "header_repeats_name": scb(THREE, header=[*SPEC_ORDER, "Fornamn"]),
    "header_only": scb([]),
    "only_blank_lines": ";;;\n\n  \n",
    # how the file is written
    "quoted_cells": scb([{**p, "Fornamn": '"Kim"', "Klass": '"9;B"'} for p in THREE]),
    "bad_quote": scb(THREE).replace("Kim", '"Kim', 1),
    "utf8_bom": "\ufeff" + scb(THREE),
    "two_boms": "\ufeff\ufeff" + scb(THREE),
    "bom_no_header": "\ufeff\ufeff" + scb(THREE, header=False),
    "bom_inside": scb(THREE[:1]) + "\ufeff" + scb(THREE[1:]),
    "long_cell": scb([pupil(0, Klass="9" * 40_000), pupil(1)]),
    "unicode_separators_in_cells": scb([pupil(0, Fornamn="Kim\u2028Lo", Klass="9\x85B"),
                                        pupil(1)]),
}
BYTES_CASES: dict[str, bytes] = {
    "cp1252": scb([pupil(0, Fornamn="Åsa", Efternamn="Öberg"), pupil(1)]).encode("cp1252"),
    "utf16": scb(THREE).encode("utf-16"),
    "control_character": scb(THREE).encode("utf-8").replace(b"Kim", b"K\x01m", 1),
}


@pytest.mark.parametrize("name", sorted(CASES) + sorted(BYTES_CASES))
def test_same_result_as_before(tmp_path, name):
    content = CASES.get(name, BYTES_CASES.get(name))
    assert_same_read(_write(tmp_path, f"{name}.txt", content))


@pytest.mark.parametrize("school_year", ["2023/24", "2023-2024", "läsåret", "2098/99"])
def test_same_result_with_school_year(tmp_path, school_year):
    for name in ("basic", "no_date_column", "bad_date", "duplicate_pupil"):
        assert_same_read(_write(tmp_path, f"{name}.txt", CASES[name]), school_year=school_year)


def test_errors_name_file_row_and_column(tmp_path):
    """A few of the cases above, with the error they must give (not only the same one)."""
    def err(name: str) -> tuple:
        got = assert_same_read(_write(tmp_path, f"{name}.txt", CASES[name]))
        assert got[0] == "error"
        return got[1:]

    cls, msg, row, col = err("bad_grade_code")
    assert (cls, row, col) == (ValueFormatError, 3, "Bl") and "rad 3: 'G'; rad 4: 'G'" in msg
    cls, msg, row, col = err("bad_grade_many_rows")
    assert (cls, row, col) == (ValueFormatError, 2, "Sv") and "och 20 rader till" in msg
    cls, msg, row, col = err("duplicate_pupil_other_form")
    assert (cls, row, col) == (DuplicateRowsError, 2, "PersonNr") and PNR not in msg
    cls, msg, row, col = err("bad_pnr")
    assert (cls, row, col) == (ValueFormatError, 3, "PersonNr") and "hemligt" not in msg
    cls, msg, row, col = err("future_dates")
    assert (cls, row, col) == (ValueFormatError, 3, "Datum") and "2098-06-12" in msg
    cls, msg, row, col = err("row_short")
    assert (cls, row) == (FileFormatError, 3) and "12 fält" in msg
    cls, msg, row, col = err("no_header_ragged")
    assert (cls, row) == (FileFormatError, 3) and "20 fält" in msg
    cls, msg, row, col = err("no_date_column")
    assert (cls, col) == (MissingColumnError, "Datum")


def test_blank_lines_keep_line_numbers(tmp_path):
    got = assert_same_read(_write(tmp_path, "b.txt", CASES["blank_lines"]))[1]
    assert sorted(set(got.index)) == [4, 8, 9]
    got = assert_same_read(_write(tmp_path, "c.txt", CASES["blank_lines_crlf"]))[1]
    assert sorted(set(got.index)) == [4, 6, 8]  # the header on line 2, pupils every other line
    got = assert_same_read(_write(tmp_path, "d.txt", CASES["blank_lines_inside"]))[1]
    assert sorted(set(got.index)) == [2, 6, 7]


def test_every_way_of_splitting_is_exercised():
    """The cases above go through all three splitters: Arrow's CSV reader (SCB's export),
    str.split (other line endings, ragged rows) and the csv module (quotes, BOMs)."""
    arrow = ["basic", "crlf", "blank_lines_inside", "blank_row_before_header", "no_header_34_fields",
             "header_trailing_semicolon", "codes_any_case_and_spaces", "no_final_newline"]
    assert all(pupils._arrow_table(CASES[n]) is not None for n in arrow)
    others = ["lone_cr", "cr_and_crlf", "blank_lines", "row_short", "no_header_ragged", "quoted_cells",
              "two_boms", "bom_inside", "long_cell"]
    assert all(pupils._arrow_table(CASES[n]) is None for n in others)


@pytest.mark.parametrize("seed", range(6))
def test_random_files(tmp_path, seed):
    """Random pupils, codes, blanks, spaces and line endings; with and without a header."""
    rng = np.random.default_rng(seed)
    codes = ["A", "B", "C", "D", "E", "F", "9", "-", "3", "2", "", "", " c", "e "]
    rows = []
    pn = _pnrs(int(rng.integers(20, 120)), seed=100 + seed)
    for p in pn:
        r = {"System": "S", "Datum": str(rng.choice(["2025-06-12", "2025-06-13", "20250612"])),
             "Version": "1", "PersonNr": p, "Klass": str(rng.choice(["9A", "9B", ""])),
             "Skolenhetskod": str(rng.choice(["12345678", "87654321", "1234567"])),
             "Fornamn": "Ann", "Efternamn": "Ek"}
        for s in SPEC_ORDER[8:]:
            if "språk" in s:
                r[s] = str(rng.choice(["", "SPA", "TYS"]))
            else:
                r[s] = str(rng.choice(codes))
        rows.append(r)
    eol = str(rng.choice(["\n", "\r\n"]))
    for header in (True, False):
        text = scb(rows, header=header, eol=eol, end=eol)
        got = assert_same_read(_write(tmp_path, f"r{seed}{header}.txt", text))
        assert got[0] == "ok" and len(got[1]) > 0


def test_read_then_aggregate_equals_before(tmp_path):
    frames = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        pn = _pnrs(60, seed=200 + seed)
        rows = [pupil(0, PersonNr=p, Datum=f"{2023 + seed}-06-12",
                      Skolenhetskod=str(rng.choice(["12345678", "87654321"])),
                      **{s: str(rng.choice(list("ABCDEF") + ["9", "3", ""]))
                         for s in (*ALL16, "Sva", "M1 (betyg)", "M2 (betyg)", "ML (betyg)")})
                for p in pn]
        p = _write(tmp_path, f"f{seed}.txt", scb(rows))
        frames.append(assert_same_read(p)[1])
    pr = concat_pupil_grades(frames)
    assert_same_aggregate(pr)
    assert_same_aggregate(pr, min_pupils=5, level="municipality", municipality_id="1480")


# --------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------
def _random_pupil_results(seed: int, n_pupils: int = 400, general_points: bool = False,
                          object_dtype: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    sex: dict[str, Any] = {}
    for k in range(n_pupils):
        pid = f"p{rng.integers(0, 10**6):06d}{k}"
        sex_draw = rng.random()
        if sex_draw < 0.45:
            sex[pid] = "girls"
        elif sex_draw < 0.9:
            sex[pid] = "boys"
        elif sex_draw < 0.95:
            sex[pid] = None
        for y in range(1 + int(rng.random() < 0.1)):  # a few pupils in two years
            school = f"9900000{rng.integers(1, 5)}"
            year = ["2023/24", "2024/25"][(y + int(rng.integers(0, 2))) % 2]
            subjects = [s for s in SUBJECTS if rng.random() < 0.85]
            for s in subjects:
                g = str(rng.choice(["A", "B", "C", "D", "E", "F", "-", "3", "2"],
                                   p=[.12, .12, .2, .15, .18, .1, .05, .04, .04]))
                pts = POINTS.get(g, math.nan)
                if general_points and not math.isnan(pts):
                    pts = float(rng.random() * 20)
                rows.append({"pupil_id": pid, "school_id": school, "school_year": year,
                             "grade_level": 9, "subject": s, "grade": g, "points": pts})
    pr = pd.DataFrame(rows).sample(frac=1.0, random_state=seed)
    pr["grade_level"] = pr["grade_level"].astype("Int64")
    if object_dtype:
        pr = pr.astype({c_: object for c_ in ("pupil_id", "school_id", "school_year",
                                              "subject", "grade")})
    else:
        pr = pr.astype({c_: "str" for c_ in ("pupil_id", "school_id", "school_year",
                                             "subject", "grade")})
    pr.attrs = {"source": f"slump{seed}.txt", "sex": SexMap({k: v for k, v in sex.items()
                                                            if v is not None})}
    return pr, sex


@pytest.mark.parametrize("seed", range(4))
def test_aggregate_random_tables(seed):
    pr, sex = _random_pupil_results(seed)
    assert_same_aggregate(pr)  # the sex map from attrs
    assert_same_aggregate(pr, sex)  # with unknowns (None)
    assert_same_aggregate(pr, sex, min_pupils=1)
    assert_same_aggregate(pr, sex, min_pupils=60, source="egen källa")
    assert_same_aggregate(pr, sex, level="municipality", municipality_id="0180")
    assert_same_aggregate(pr, sex, level="municipality")  # ValueError, as before
    assert_same_aggregate(pr, {})


@pytest.mark.parametrize("seed", range(3))
def test_aggregate_any_points_and_object_columns(seed):
    """Points that are not multiples of 2.5 (the general summation path) and plain
    object columns (as a hand-made table has)."""
    pr, sex = _random_pupil_results(seed, n_pupils=300, general_points=True,
                                    object_dtype=bool(seed % 2))
    assert_same_aggregate(pr, sex)
    assert_same_aggregate(pr, sex, min_pupils=3, level="municipality", municipality_id="9990")


def test_aggregate_edge_tables():
    pr, sex = _random_pupil_results(7, n_pupils=60)
    assert_same_aggregate(pr.iloc[:0])  # empty
    nan_points = pr.assign(points=np.nan)
    assert_same_aggregate(nan_points, sex)  # nobody counted
    # more than 16 compulsory grades and several modern languages per pupil
    extra = pd.concat([pr, pr.assign(subject="M1"), pr.assign(subject="Sva")])
    extra.attrs = pr.attrs
    assert_same_aggregate(extra, sex, min_pupils=2)
    # unknown subjects and grades, missing values in keys
    odd = pr.astype(object).copy()
    odd.iloc[::7, odd.columns.get_loc("subject")] = None
    odd.iloc[::11, odd.columns.get_loc("grade")] = None
    odd.iloc[::13, odd.columns.get_loc("pupil_id")] = None
    odd.iloc[::17, odd.columns.get_loc("school_id")] = None
    odd["points"] = odd["points"].astype(float)
    assert_same_aggregate(odd, sex, min_pupils=2)
    # a level that is neither: no unit, no rows (as before)
    assert_same_aggregate(pr, sex, level="kommun")  # type: ignore[arg-type]
    # meritvärde exactly 10 (counted in the mean), only a modern language, only 3/2 codes
    few = [("a", "Bl", "E"), ("b", "Bl", "F"), ("c", "M1", "E"), ("d", "Bl", "3"),
           ("d", "M2", "2"), ("e", "Sv", "E"), ("e", "Sva", "D"), ("e", "En", "E"),
           ("e", "Ma", "E"), *[("f", s, "A") for s in COMPULSORY], ("f", "M1", "A"),
           ("f", "M2", "B"), ("g", "Ma", "-")]
    small = pd.DataFrame([{"pupil_id": p, "school_id": "99000001", "school_year": "2024/25",
                           "grade_level": 9, "subject": s, "grade": g,
                           "points": POINTS.get(g, math.nan)} for p, s, g in few])
    for m in (1, 3):
        assert_same_aggregate(small, {"a": "girls", "c": "boys", "f": "girls"}, min_pupils=m)
    # odd values in the sex map
    assert_same_aggregate(pr, {k: (1 if i % 3 == 0 else v) for i, (k, v) in
                               enumerate(sex.items())}, min_pupils=1)


def test_aggregate_the_sample_pupils_as_before(synth_ds):
    pr = synth_ds.pupil_results
    rng = np.random.default_rng(5)
    ids = pr["pupil_id"].unique()
    sex = {p: ("girls" if u < 0.48 else "boys") for p, u in zip(ids, rng.random(len(ids)))
           if u < 0.97}
    assert_same_aggregate(pr, sex)
    assert_same_aggregate(pr, sex, level="municipality", municipality_id="9990")
