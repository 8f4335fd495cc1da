"""The sample municipality on disk: writing it, and reading a folder back.

``data/sample/`` holds the synthetic municipality (:func:`synth.municipality`
with :data:`SAMPLE_ARGS`) written in the real file formats a user brings:

==================================  ==============================================
file                                format
==================================  ==============================================
``skolregister.csv``                school register, ``;``, UTF-8
``observationer.csv``               a form tool's export: UTF-8 with BOM, ``,``,
                                    one column per item (``KL1. <text>``)
``slutbetyg_ak9_skolenhet_Y.csv``   Skolverket export, final grades år 9, school
                                    units (preamble, two-row header, ``;``,
                                    decimal comma, ``..`` and ``~100``, footer)
``slutbetyg_ak9_kommun_Y.csv``      the same at municipality level
``betyg_ak6_skolenhet_Y.csv``       Skolverket export, grades år 6, school units
                                    (one header row, ``..``, ``.``, ``~100``)
``betyg_ak6_kommun_Y.csv``          the same at municipality level
``elever_skolenhet_Y.csv``          Skolverket export, pupils per school unit
                                    with background shares
``protokoll.yaml``                  the observation protocol
``skolenkaten_elever_ak8_Y.xlsx``   Skolinspektionen's Skolenkäten "excelrapport"
                                    (pupils in åk 8, spring Y): the real layout,
                                    results and gender sheets (see io/skolenkaten.py)
``narvaro.csv``                     the organiser's own measures per term
                                    (attendance, problematic absence, offences) in
                                    the format of io/local_measures.py
==================================  ==============================================

The last two come from :func:`synth.outcomes` (``SAMPLE_OUTCOMES``), added to
the municipality with a separate random stream.

``python scripts/make_sample.py`` regenerates it byte for byte.
:func:`load_folder` reads such a folder through the same loaders a user's
files go through (``undervisning_analys.io``). :func:`load_sample` reads
``data/sample`` of the source checkout; from an installed wheel (no checkout)
it writes the sample once to a cache folder with the same generator, which
gives the same bytes.
"""

from __future__ import annotations

import csv
import io as _io
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from . import schema
from ._xlsx import workbook_bytes
from .dataset import Dataset
from .instruments import Instrument

SAMPLE_SEED = 2024
SAMPLE_ARGS: dict = {"seed": SAMPLE_SEED, "n_schools": 20, "n_years": 5, "effect": 0.3,
                     "first_year": 2020, "school_types": True}
SAMPLE_PLAN_ARGS: dict = {"seed": 1, "baseline_term": "VT2024", "target_term": "VT2026"}
"""The sample's plans (:func:`synth.with_plans`): baseline VT2024, targets for VT2026,
one school year after the data, and the notes of the dialogue in spring 2024."""
SAMPLE_OUTCOMES: dict = {"group": "ak8", "lag": 0}
"""Arguments of :func:`synth.outcomes` for the sample's survey and attendance files."""


def sample_dataset() -> Dataset:
    """The generated sample municipality with its plans and its outcomes beside grades
    (what ``data/sample`` holds)."""
    from . import synth

    return synth.outcomes(synth.with_plans(synth.municipality(**SAMPLE_ARGS),
                                           **SAMPLE_PLAN_ARGS), **SAMPLE_OUTCOMES)

ROLE_SV = {"rektor": "Rektor", "bitradande_rektor": "Biträdande rektor",
           "forstelarare": "Förstelärare", "kollega": "Kollega", "extern": "Extern observatör",
           "annan": "Annan"}
TYPE_SV = {"spontan": "Spontant besök", "planerad": "Planerat besök",
           "kollegial": "Kollegial observation"}
PRINCIPAL_SV = {"kommunal": "Kommunal", "enskild": "Enskild"}

_PREAMBLE = "Statistik från Skolverket, https://www.skolverket.se"
_FOOTER = [
    "Rapportbeskrivning och definitioner",
    "Uppgifterna avser elever som fått betyg i minst ett ämne; meritvärdet är summan av de 16 "
    "bästa betygen; samt betyget i moderna språk (17 ämnen).",
    "Två prickar (..) visas om uppgiften baseras på färre än 10 elever; ~100 visas om 1-4 "
    "elever inte nått upp till kravet.",
    "Källa: syntetiska data; genererade av undervisning_analys; inga verkliga elever.",
]


def _sv_num(v: float, decimals: int = 1) -> str:
    return f"{v:.{decimals}f}".replace(".", ",")


def _sv_int(v: int) -> str:
    s = f"{int(v):,}".replace(",", " ")
    return s


def _cell(row: pd.Series | None) -> str:
    if row is None:
        return "."
    st = row["status"]
    if st == "suppressed":
        return ".."
    if st == "approx_100":
        return "~100"
    if st == "missing" or pd.isna(row["value"]):
        return "."
    return _sv_num(float(row["value"]))


_MEASURE_HEADERS = [
    ("n", "Antal elever"),
    ("pass_all_subjects_pct", "Andel (%) elever som fått godkänt betyg i alla ämnen"),
    ("merit_17", "Genomsnittligt meritvärde (17 ämnen)"),
    ("merit_16", "Genomsnittligt meritvärde (16 ämnen)"),
    ("eligible_vocational_pct", "Andel (%) behöriga till yrkesprogram"),
]


def _grades_file(results: pd.DataFrame, key_cols: list[str], key_rows: list[list[str]],
                 keys: list[tuple], school_year: str, level_title: str) -> str:
    lines = [_PREAMBLE, "", f"Grundskolan - Slutbetyg årskurs 9, samtliga elever{level_title}",
             f"Valt läsår: {school_year}", ""]
    cat = [""] * len(key_cols)
    sub = list(key_cols)
    for _, h in _MEASURE_HEADERS:
        cat += [h] * 3
        sub += ["Totalt", "Flickor", "Pojkar"]
    lines.append(";".join(cat) + ";")
    lines.append(";".join(sub) + ";")
    idx = results.set_index(["key", "measure", "group"])
    for krow, key in zip(key_rows, keys, strict=True):
        cells = list(krow)
        for m, _ in _MEASURE_HEADERS:
            for g in ("all", "girls", "boys"):
                if m == "n":
                    try:
                        r = idx.loc[(key, "merit_17", g)]
                        cells.append(_sv_int(int(r["n"])) if pd.notna(r["n"]) else ".")
                    except KeyError:
                        cells.append(".")
                else:
                    try:
                        cells.append(_cell(idx.loc[(key, m, g)]))
                    except KeyError:
                        cells.append(".")
        lines.append(";".join(cells) + ";")
    lines.append("")
    lines.extend(_FOOTER)
    return "\n".join(lines) + "\n"


_GRADE6_HEADERS = [
    ("grade6_avg_subject_grades", "Antal ämnesbetyg (genomsnitt)"),
    ("grade6_pass_all_subjects_pct", "Andel (%) elever som fått godkänt betyg i alla ämnen"),
    ("grade6_fail_one_subject_pct", "Andel (%) elever som ej fått godkänt betyg i ett ämne"),
    ("grade6_fail_several_subjects_pct",
     "Andel (%) elever som ej fått godkänt betyg i fler, alternativt alla ämnen"),
]


def _grade6_file(results: pd.DataFrame, key_cols: list[str], key_rows: list[list[str]],
                 keys: list[tuple], school_year: str) -> str:
    """Skolverket's år 6 export: one header row, Antal elever and four measures."""
    lines = [_PREAMBLE, "",
             "Grundskola - Betyg årskurs 6, andel som fått godkänt betyg (A-E), samtliga elever",
             f"Valt läsår: {school_year}", ""]
    lines.append(";".join([*key_cols, "Antal elever", *[h for _, h in _GRADE6_HEADERS]]) + ";")
    idx = {(str(k[0]), str(m)): row for k, m, row in zip(
        results["key"], results["measure"], (r for _, r in results.iterrows()), strict=True)}
    for krow, key in zip(key_rows, keys, strict=True):
        cells = list(krow)
        first = idx.get((str(key[0]), _GRADE6_HEADERS[0][0]))
        n = None if first is None else first["n"]
        cells.append(_sv_int(int(n)) if n is not None and pd.notna(n) else ".")
        cells.extend(_cell(idx.get((str(key[0]), m))) for m, _ in _GRADE6_HEADERS)
        lines.append(";".join(cells) + ";")
    lines.append("")
    lines.append("Rapportbeskrivning och definitioner")
    lines.append("Antal ämnesbetyg: genomsnittligt antal ämnen med betyg per elev. Två prickar "
                 "(..) visas om uppgiften baseras på färre än 10 elever eller på 1-4 elever; ~100 "
                 "visas om 1-4 elever inte fått godkänt betyg i alla ämnen.")
    lines.append("Källa: syntetiska data; genererade av undervisning_analys; inga verkliga elever.")
    return "\n".join(lines) + "\n"


def _background_file(ds: Dataset, school_year: str) -> str:
    header = ("Skola;Skol-enhetskod;Skolkommun;Kommun-kod;Typ av huvudman;Huvudman;"
              "Huvudman orgnr;Elever, förskoleklass;Andel (%) flickor, förskoleklass;"
              "Elever, årskurs 1-9;Andel (%) flickor, årskurs 1-9;"
              "Andel (%) elever med utländsk bakgrund, åk 1-9;"
              "Andel (%) elever med föräldrar med eftergymnasial utb., åk 1-9;"
              + ";".join(f"Elever, årskurs {g}" for g in range(1, 10)) + ";")
    lines = [_PREAMBLE, "", "Grundskolan - Antal elever per årskurs",
             f"Valt läsår: {school_year}", "", header]
    bg = ds.background[ds.background["school_year"] == school_year].set_index("school_id")
    for s in ds.schools.sort_values("school_name").itertuples(index=False):
        if s.school_id not in bg.index:
            continue
        b = bg.loc[s.school_id]
        n = int(b["n_pupils"])
        lo = {"F-9": 1, "7-9": 7, "4-9": 4}.get(str(s.grades), 1)
        grades = list(range(lo, 7 if str(s.grades) == "F-6" else 10))
        per = [n // len(grades)] * len(grades)
        for k in range(n - sum(per)):
            per[k] += 1
        counts = {g: "." for g in range(1, 10)}
        for g, c in zip(grades, per, strict=True):
            counts[g] = str(c)
        fk = str(max(1, per[0] - 3)) if lo == 1 else "."
        fk_girls = "50,0" if lo == 1 else "."
        cells = [s.school_name, s.school_id, s.municipality_name, s.municipality_id,
                 PRINCIPAL_SV[s.principal_type], f"{s.municipality_name} kommun",
                 "2120009990", fk, fk_girls, str(n), _sv_num(b["share_girls"]),
                 _sv_num(b["share_foreign_background"]),
                 _sv_num(b["share_parents_higher_edu"])] + [counts[g] for g in range(1, 10)]
        lines.append(";".join(cells) + ";")
    lines.append("")
    lines.append("Rapportbeskrivning och definitioner")
    lines.append("Andelar i procent; elever med utländsk bakgrund; föräldrarnas högsta utbildning.")
    return "\n".join(lines) + "\n"


def _observations_file(ds: Dataset) -> str:
    inst = ds.instrument
    o = ds.observations
    forms = o.drop_duplicates(["observation_id", "observer_id"])[
        ["observation_id", "observer_id", "school_id", "teacher_id", "observer_role",
         "observation_type", "date", "subject", "grade_level"]]
    wide = o.pivot(index=["observation_id", "observer_id"], columns="item_id", values="score")
    forms = forms.set_index(["observation_id", "observer_id"]).join(wide).reset_index()
    forms = forms.sort_values(["date", "observation_id", "observer_id"], kind="stable")
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    item_headers = [f"{it.id}. {it.text}" for it in inst.items]
    w.writerow(["Svars-ID", "Lektions-ID", "Datum", "Skolenhetskod", "Lärarkod",
                "Observatörskod", "Observatörens roll", "Typ av besök", "Ämne", "Årskurs",
                *item_headers])
    for k, r in enumerate(forms.itertuples(index=False), start=1):
        scores = []
        for it in inst.items:
            v = getattr(r, it.id) if it.id.isidentifier() else forms.loc[k - 1, it.id]
            scores.append("" if pd.isna(v) else str(int(v)))
        w.writerow([str(1000 + k), r.observation_id, r.date.strftime("%Y-%m-%d"), r.school_id,
                    r.teacher_id, r.observer_id, ROLE_SV[r.observer_role],
                    TYPE_SV[r.observation_type], r.subject,
                    "" if pd.isna(r.grade_level) else str(int(r.grade_level)), *scores])
    return "\ufeff" + buf.getvalue()


def _schools_file(ds: Dataset) -> str:
    lines = ["Skolenhetskod;Skola;Kommun-kod;Kommun;Typ av huvudman;Skolområde;Årskurser"]
    for s in ds.schools.sort_values("school_id").itertuples(index=False):
        lines.append(";".join([s.school_id, s.school_name, s.municipality_id,
                               s.municipality_name, PRINCIPAL_SV[s.principal_type],
                               s.area or "", s.grades or ""]))
    return "\n".join(lines) + "\n"


def write_sample(ds: Dataset, folder: str | Path) -> list[Path]:
    """Write a Dataset's tables in the sample's real file formats; return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, text: str) -> None:
        p = folder / name
        p.write_bytes(text.encode("utf-8"))
        written.append(p)

    put("skolregister.csv", _schools_file(ds))
    put("observationer.csv", _observations_file(ds))
    inst_src = ds.instrument.source
    if ds.instrument.raw:
        import yaml
        put("protokoll.yaml", yaml.safe_dump(ds.instrument.raw, allow_unicode=True,
                                             sort_keys=False, width=100))
    elif inst_src:  # pragma: no cover
        shutil.copy(inst_src, folder / "protokoll.yaml")
    # the outcomes beside grades have their own files (below)
    r = ds.results[~ds.results["measure"].astype(str).map(schema.is_outcome_measure)]
    schools = ds.schools.sort_values("school_name")
    for sy in sorted(set(r["school_year"])):
        year = schema.school_year_start(sy) + 1
        rs = r[(r["level"] == "school") & (r["school_year"] == sy)].assign(
            key=lambda d: d["school_id"])
        keys = [(s,) for s in schools["school_id"]]
        rs = rs.assign(key=rs["school_id"].map(lambda x: (x,)))
        g9 = rs[~rs["measure"].astype(str).str.startswith("grade6_")]
        # a school without grade 9 (an F–6 school) is not in the grade-9 export
        with9 = schools[schools["school_id"].isin(set(g9["school_id"]))]
        keys = [(s,) for s in with9["school_id"]]
        rows = [[s.school_name, s.school_id, s.municipality_name, s.municipality_id,
                 PRINCIPAL_SV[s.principal_type]] for s in with9.itertuples(index=False)]
        put(f"slutbetyg_ak9_skolenhet_{year}.csv",
            _grades_file(rs, ["Skola", "Skol-enhetskod", "Skolkommun", "Kommun-kod",
                              "Typ av huvudman"], rows, keys, sy, ""))
        rm = r[(r["level"] == "municipality") & (r["school_year"] == sy)]
        rm = rm.assign(key=rm["principal_type"].astype(str).map(lambda x: (x,)))
        mid = str(ds.schools["municipality_id"].iloc[0])
        mname = str(ds.schools["municipality_name"].iloc[0])
        pts = [("all", "Samtliga"), ("kommunal", "Kommunal"), ("enskild", "Enskild")]
        mrows = [[mname, mid, "Exempellän", "99", label] for _, label in pts]
        put(f"slutbetyg_ak9_kommun_{year}.csv",
            _grades_file(rm, ["Kommun", "Kommun-kod", "Län", "Läns-kod", "Typ av huvudman"],
                         mrows, [(p,) for p, _ in pts], sy, ", kommunnivå"))
        r6 = rs[rs["measure"].astype(str).str.startswith("grade6_")]
        if len(r6):
            with6 = schools[schools["school_id"].isin(set(r6["school_id"]))]
            put(f"betyg_ak6_skolenhet_{year}.csv", _grade6_file(
                r6, ["Skola", "Skol-enhetskod", "Skolkommun", "Kommun-kod", "Typ av huvudman"],
                [[s.school_name, s.school_id, s.municipality_name, s.municipality_id,
                  PRINCIPAL_SV[s.principal_type]] for s in with6.itertuples(index=False)],
                [(s,) for s in with6["school_id"]], sy))
            m6 = rm[rm["measure"].astype(str).str.startswith("grade6_")]
            put(f"betyg_ak6_kommun_{year}.csv", _grade6_file(
                m6, ["Kommun", "Kommun-kod", "Län", "Läns-kod", "Typ av huvudman"], mrows,
                [(p,) for p, _ in pts], sy))
    for sy in sorted(set(ds.background["school_year"])):
        put(f"elever_skolenhet_{schema.school_year_start(sy)}.csv", _background_file(ds, sy))
    outcomes = getattr(ds.truth, "outcomes", None)
    if outcomes:
        group = ds.truth.params.get("outcomes_group", "ak8")
        ro = ds.results
        for sy in sorted(set(ro.loc[ro["measure"].astype(str).str.startswith("skolenkat_"),
                                    "school_year"])):
            p = folder / f"skolenkaten_elever_{group}_{schema.school_year_start(sy) + 1}.xlsx"
            p.write_bytes(_skolenkaten_file(ds, sy, group))
            written.append(p)
        if ds.truth.outcome_terms is not None and len(ds.truth.outcome_terms):
            put("narvaro.csv", _local_file(ds))
    if ds.plans is not None:  # the plans and an earlier dialogue's notes (issue #15)
        from .plans.mall import notes_to_yaml, plans_to_yaml

        put("planer.yaml", plans_to_yaml(ds.plans))
        if ds.dialogue_notes is not None:
            put("dialog_tidigare.yaml", notes_to_yaml(ds.dialogue_notes))
    return written


_SURVEY_HEADINGS = {"information": "Information om utbildningen", "stimulans": "Stimulans",
                    "stod": "Stöd", "kritiskt_tankande": "Kritiskt tänkande",
                    "bemotande_larare": "Bemötande - lärare",
                    "bemotande_elever": "Bemötande - elever", "inflytande": "Inflytande",
                    "studiero": "Studiero", "trygghet": "Trygghet",
                    "forhindra_krankningar": "Förhindra kränkningar", "elevhalsa": "Elevhälsa"}
_SURVEY_QUESTIONS = {
    "studiero": "Hur ofta är det arbetsro på lektionerna?",
    "trygghet": "Känner du dig trygg i skolan?",
    "stimulans": "Hur ofta får lärarna dig att bli intresserad av skolarbetet?",
    "stod": "Hur ofta får du den hjälp du behöver under lektionerna?",
    "elevhalsa": "Känner du att det finns någon vuxen i skolan som bryr sig om hur du mår?"}
_SURVEY_GROUP_SV = {"ak5": "Elever åk 5", "ak8": "Elever åk 8", "ak9": "Elever åk 9",
                    "gy2": "Elever år 2"}
_ORGNR = "2120009990"  # fictional, as the municipality "Exempelkommun" (9990)


def _skolenkaten_file(ds: Dataset, school_year: str, group: str) -> bytes:
    """A Skolenkäten "excelrapport" (the real layout, io/skolenkaten.py) as bytes.

    The organiser's row is the municipality; there is no row for the whole
    round (a synthetic municipality has no country around it). Gender values are
    not generated, so the gender sheet has only the ``Totalt`` columns. The
    workbook's timestamps are fixed so that the same data give the same bytes.
    """

    from openpyxl import Workbook

    year = schema.school_year_start(school_year) + 1
    r = ds.results
    r = r[(r["school_year"] == school_year) & r["measure"].astype(str).str.startswith(
        "skolenkat_") & (r["group"].astype(str) == "all")]
    slugs = [sl for sl in _SURVEY_HEADINGS if f"skolenkat_{sl}_{group}" in set(r["measure"])]
    title = f"Skolenkäten {year} - {_SURVEY_GROUP_SV.get(group, group)}"
    mname = str(ds.schools["municipality_name"].iloc[0])
    val = {(str(x.level), x.school_id if isinstance(x.school_id, str) else None,
            str(x.measure)): (x.value, str(x.status)) for x in r.itertuples(index=False)}

    def cell(level: str, sid: str | None, kind: str) -> object:
        v, st = val.get((level, sid, f"skolenkat_{kind}_{group}"), (np.nan, "missing"))
        if st == "suppressed":
            return "-"
        if st != "ok":
            return None
        if kind == "svarsfrekvens":
            return round(float(v) / 100, 3)
        if kind.startswith("antal"):
            return int(v)
        return float(v)

    wb = Workbook()
    ws = wb.active
    ws.title = f"Resultat {_SURVEY_GROUP_SV.get(group, group).lower()} {year}"
    head = ["Orgnummer", "Huvudman", "Kommun", "Skolenhetskod", "Skolenhet", "Antal i gruppen",
            "Antal", "Svarsfrekvens"]
    r1: list[object] = [title] + [None] * 7
    r3: list[object] = [None] * 8
    r2: list[object] = list(head)
    for k, sl in enumerate(slugs, start=1):
        r1 += [f"{k}. {_SURVEY_HEADINGS[sl]}", _SURVEY_QUESTIONS.get(sl, _SURVEY_HEADINGS[sl])]
        r2 += [None, None]
        r3 += ["Index", "Medelvärde"]
    for row in (r1, r2, r3):
        ws.append(row)
    units = [("municipality", None, f"{mname}s kommun", None, None)]
    asked = set(r.loc[r["level"].astype(str) == "school", "school_id"])
    for s in ds.schools.sort_values("school_name").itertuples(index=False):
        if s.school_id not in asked:  # no pupils in the respondent group's grade
            continue
        units.append(("school", s.school_id, f"{mname}s kommun", s.municipality_name,
                      s.school_name))
    g = wb.create_sheet("Könsuppdelat resultat")
    g1: list[object] = [title] + [None] * 7
    g2: list[object] = list(head)
    g3: list[object] = [None] * 8
    for k, sl in enumerate(slugs, start=1):
        g1 += [f"{k}. {_SURVEY_HEADINGS[sl]}"]
        g2 += ["Totalt"]
        g3 += ["Index"]
    for row in (g1, g2, g3):
        g.append(row)
    for level, sid, huvudman, kommun, sname in units:
        ident: list[object] = [int(_ORGNR), huvudman, kommun, int(sid) if sid else None, sname,
                 cell(level, sid, "antal_i_gruppen"), cell(level, sid, "antal_svar"),
                 cell(level, sid, "svarsfrekvens")]
        row = list(ident)
        grow = list(ident)
        for sl in slugs:
            v = cell(level, sid, sl)
            row += [v, v]
            grow += [v]
        ws.append(row)
        g.append(grow)
    f = wb.create_sheet("Förklaring")
    for line in ("Tolkningsstöd för Skolenkäten (syntetiska data, skapade av "
                 "undervisning_analys; inga verkliga elever)",
                 "Indexvärdet är ett sammantaget medelvärde på skalan 0–10.",
                 "”-”  betyder att skolenheten inte uppfyller redovisningsprinciperna"):
        f.append([line])
    return workbook_bytes(wb)


_LOCAL_NAMES = {"attendance_pct": "Närvaro (%)", "problematic_absence_pct": "Problematisk frånvaro",
                "offences_per_100": "Anmälda kränkningar per 100 elever"}


def _local_file(ds: Dataset) -> str:
    """The term measures in the organiser's own format (io/local_measures.py)."""
    names = dict(zip(ds.schools["school_id"], ds.schools["school_name"], strict=True))
    t = ds.truth.outcome_terms.copy()
    t["_ti"] = t["term"].map(schema.term_index)
    lines = ["Skolenhetskod;Skola;Termin;Mått;Värde;Antal elever"]
    for r in t.sort_values(["measure", "_ti", "school_id"]).itertuples(index=False):
        lines.append(f"{r.school_id};{names[r.school_id]};{r.term};{_LOCAL_NAMES[r.measure]};"
                     f"{_sv_num(r.value)};{int(r.n)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Reading a folder
# --------------------------------------------------------------------------
def load_folder(path: str | Path, *, instrument: Instrument | str | Path | None = None,
                key: str | None = None) -> Dataset:
    """Read a municipality's folder (e.g. ``data/sample``) into a validated Dataset.

    The folder reader lives in :mod:`undervisning_analys.io.folder`
    (:func:`~undervisning_analys.io.folder.load_folder`); this name is kept for
    existing code.
    """
    from .io.folder import load_folder as _load_folder

    return _load_folder(path, instrument=instrument, key=key)


def _sample_dir() -> Path:
    env = os.environ.get("UA_SAMPLE_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1] / "data" / "sample"
    if (here / "skolregister.csv").exists():
        return here
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
        "undervisning_analys" / "sample"
    if not (cache / "skolregister.csv").exists():
        write_sample(sample_dataset(), cache)
    return cache


def load_sample() -> Dataset:
    """The sample municipality (synthetic, 20 schools, 5 school years).

    Read from ``data/sample`` through the package's loaders, as a user's own
    folder would be. The generating truth is available from
    ``synth.municipality(**SAMPLE_ARGS).truth``. Every school, name and code is
    fictional; the municipality "Exempelkommun" (9990) does not exist.
    """
    return load_folder(_sample_dir())


__all__ = ["load_sample", "load_folder", "write_sample", "sample_dataset", "SAMPLE_ARGS",
           "SAMPLE_PLAN_ARGS", "SAMPLE_SEED", "SAMPLE_OUTCOMES"]

_ = np  # numpy kept for callers that extend the writer
