"""Templates where rektorer work: plan workbooks, the observation form, the notes workbook.

:func:`write_templates` (``undervisning-analys mall MAPP``) writes, from a
loaded Dataset:

* ``plan_<skolenhetskod>.xlsx`` per school and ``plan_huvudman.xlsx``: the
  plan as a workbook – instructions in Swedish, the plan's period, one target
  row per dimension pre-filled with the school's present index (baseline,
  with its interval on the sheet ``Nuläge``), planned lessons per visit type
  (with last school year's observed volume beside), how many lessons per term
  a term's level and the school's change need (sheet ``Besöksbehov``, from
  :func:`~undervisning_analys.measure.reliability.plan_observations` with the
  reports' goals, :func:`~undervisning_analys.measure.change.dialogue_goals`;
  the organiser's workbook lists every school), the catalogue of
  leadership actions to choose from (and rows for the school's own), drop-down
  lists for every choice and data validation on every cell to fill in;
* ``observationsformular.html``: the observation protocol as a printable A4
  form;
* ``observationer_inmatning.xlsx``: an entry sheet for schools without a form
  tool, in the wide export format that ``load_folder`` reads
  (:func:`undervisning_analys.io.read_observations`): one row per filled-in
  form, one column per item (``KL1. <text>``), drop-down lists for codes,
  roles, visit types and scores.

:func:`write_notes_workbook` writes the notes workbook for a quality dialogue
(``rapporter`` writes one beside each school report), pre-filled with the
report's questions. The layouts are in :mod:`undervisning_analys.plans.layout`;
the reader is :mod:`undervisning_analys.io.plans`.

Text cells that come from input files are neutralised against formula
injection (a leading ``=``, ``+``, ``-``, ``@``, tab or CR gets a ``'``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from . import catalogue
from . import layout as L

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

_FILL_INPUT = "FFF7E1"
_FILL_HEAD = "DCE6F1"
ENTRY_ROWS = 500
"""Rows with data validation on the observation entry sheet."""


def safe_text(v: Any) -> Any:
    """A text cell neutralised against formula injection (OWASP "CSV injection")."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def _styles() -> dict[str, Any]:
    from openpyxl.styles import Alignment, Font, PatternFill

    return {"head": PatternFill("solid", fgColor=_FILL_HEAD),
            "input": PatternFill("solid", fgColor=_FILL_INPUT),
            "bold": Font(bold=True), "title": Font(bold=True, size=14),
            "wrap": Alignment(wrap_text=True, vertical="top")}


def _header(ws: Any, row: int, names: Sequence[str], widths: Sequence[float]) -> None:
    from openpyxl.utils import get_column_letter

    st = _styles()
    for j, (name, w) in enumerate(zip(names, widths, strict=True), start=1):
        cell = ws.cell(row=row, column=j, value=name)
        cell.font = st["bold"]
        cell.fill = st["head"]
        cell.alignment = st["wrap"]
        ws.column_dimensions[get_column_letter(j)].width = w


def _list_validation(ws: Any, ref: str, source: str, prompt: str, allow_blank: bool = True
                     ) -> None:
    from openpyxl.worksheet.datavalidation import DataValidation

    dv = DataValidation(type="list", formula1=source, allow_blank=allow_blank,
                        showErrorMessage=True, errorTitle="Ogiltigt värde",
                        error="Välj ett värde i listan.", promptTitle="Välj i listan",
                        prompt=prompt, showInputMessage=True)
    ws.add_data_validation(dv)
    dv.add(ref)


def _number_validation(ws: Any, ref: str, lo: float, hi: float, prompt: str,
                       whole: bool = False) -> None:
    from openpyxl.worksheet.datavalidation import DataValidation

    dv = DataValidation(type="whole" if whole else "decimal", operator="between",
                        formula1=str(lo), formula2=str(hi), allow_blank=True,
                        showErrorMessage=True, errorTitle="Ogiltigt värde",
                        error=f"Ange {'ett heltal' if whole else 'ett tal'} mellan {lo} och {hi}.",
                        prompt=prompt, showInputMessage=True)
    ws.add_data_validation(dv)
    dv.add(ref)


def _text_validation(ws: Any, ref: str, max_len: int, prompt: str) -> None:
    from openpyxl.worksheet.datavalidation import DataValidation

    dv = DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(max_len),
                        allow_blank=True, showErrorMessage=True, errorTitle="För lång text",
                        error=f"Högst {max_len} tecken.", prompt=prompt, showInputMessage=True)
    ws.add_data_validation(dv)
    dv.add(ref)


def _date_validation(ws: Any, ref: str, prompt: str) -> None:
    from openpyxl.worksheet.datavalidation import DataValidation

    dv = DataValidation(type="date", operator="between", formula1="DATE(2015,1,1)",
                        formula2="DATE(2040,12,31)", allow_blank=True, showErrorMessage=True,
                        errorTitle="Ogiltigt datum", error="Skriv ett datum som 2025-03-14.",
                        prompt=prompt, showInputMessage=True)
    ws.add_data_validation(dv)
    dv.add(ref)


def _instructions(ws: Any, title: str, lines: Sequence[str]) -> None:
    st = _styles()
    ws["A1"] = title
    ws["A1"].font = st["title"]
    ws.column_dimensions["A"].width = 110
    for i, line in enumerate(lines, start=3):
        cell = ws.cell(row=i, column=1, value=line)
        cell.alignment = st["wrap"]


def _lists_sheet(wb: Any, columns: dict[str, Sequence[str]]) -> dict[str, str]:
    """A hidden sheet of drop-down lists; returns name -> absolute range reference."""
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(L.SHEET_LISTS)
    refs = {}
    for j, (name, values) in enumerate(columns.items(), start=1):
        ws.cell(row=1, column=j, value=name)
        for i, v in enumerate(values, start=2):
            ws.cell(row=i, column=j, value=safe_text(v))
        col = get_column_letter(j)
        refs[name] = f"{L.SHEET_LISTS}!${col}$2:${col}${max(len(values), 1) + 1}"
    ws.sheet_state = "hidden"
    return refs


# --------------------------------------------------------------------------
# Baselines from the data
# --------------------------------------------------------------------------
def baselines(ds: Dataset) -> pd.DataFrame:
    """The present index per school (and the municipality) and dimension, with interval.

    One row per unit × dimension (``overall`` and every dimension): the latest
    published term's estimate and interval and the unit's trend per school
    year with its interval (NaN where the privacy floors hide it).
    """
    from ..measure.index import teaching_quality
    from ..models.growth import growth

    if ds.observations.empty:
        return pd.DataFrame(columns=["level", "unit", "dimension", "term", "estimate",
                                     "conf_low", "conf_high", "trend", "trend_low",
                                     "trend_high"])
    tq = teaching_quality(ds, by=["school", "municipality"], dimension="all")
    t = tq.tidy()
    t = t[~t["suppressed"].astype(bool) & t["estimate"].notna()]
    t = t.assign(_t=t["term"].map(schema.term_index)).sort_values("_t")
    latest = t.groupby(["level", "unit", "dimension"], observed=True).tail(1)
    rows = latest[["level", "unit", "dimension", "term", "estimate", "conf_low",
                   "conf_high"]].copy()
    trends = []
    for dim in rows["dimension"].unique():
        try:
            g = growth(ds, str(dim), quality=tq, index=tq.tidy()[tq.tidy()["dimension"] == dim])
        except Exception:  # noqa: BLE001 - a template is still useful without trends
            continue
        st = g.school_trends()
        for r in st.itertuples(index=False):
            trends.append({"level": "school", "unit": r.school_id, "dimension": dim,
                           "trend": r.estimate, "trend_low": r.conf_low,
                           "trend_high": r.conf_high})
        mt = g.municipality_trend
        trends.append({"level": "municipality", "unit": rows.loc[
            rows["level"] == "municipality", "unit"].iloc[0] if (
                rows["level"] == "municipality").any() else "", "dimension": dim,
                       "trend": mt["estimate"], "trend_low": mt["conf_low"],
                       "trend_high": mt["conf_high"]})
    tr = pd.DataFrame(trends, columns=["level", "unit", "dimension", "trend", "trend_low",
                                       "trend_high"])
    return rows.merge(tr, on=["level", "unit", "dimension"], how="left").reset_index(drop=True)


NEEDS_EMPTY = ["unit", "school_name", "goal", "target", "change", "years", "n_obs_needed",
               "reliability_at_needed", "power_at_needed", "n_obs_now", "reliability_now",
               "power_now", "max_reliability", "max_power"]


def lesson_needs(ds: Dataset) -> pd.DataFrame:
    """Per school, lessons per term for a term's level and for the school's change.

    :func:`~undervisning_analys.measure.reliability.plan_observations` with the
    goals of the reports (:func:`~undervisning_analys.measure.change.dialogue_goals`:
    reliability 0.7 of a level; for the trend over a plan's period, 80 % power
    for 0.2 points per school year and reliability 0.7 of the change), from the
    components of the teaching-quality model (fitted once per Dataset). Empty
    (with the columns) when the data cannot carry the model; the sheet then
    says so.
    """
    from ..errors import UAError
    from ..measure.change import dialogue_goals
    from ..measure.model import teaching_quality_model
    from ..measure.reliability import plan_observations

    if ds.observations.empty:
        return pd.DataFrame(columns=NEEDS_EMPTY)
    try:
        comp = teaching_quality_model(ds).components
        return plan_observations(ds, components=comp, **dialogue_goals(comp)).tidy()
    except UAError:
        return pd.DataFrame(columns=NEEDS_EMPTY)


_NEEDS_TEXT = [
    "Hur många lektionsbesök per termin behövs? Beräknat ur kommunens egna observationer "
    "(modellens varianskomponenter) och skolans sätt att observera senaste läsåret (antal "
    "lärare, observatörer och parobservationer).",
    "Reliabiliteten är andelen av skillnaderna mellan skolor som är verklig och inte slump "
    "(0–1): för en termins nivå, och för förändringen, alltså skolans trend över hela "
    "planperioden (aldrig skillnaden mellan två terminer). Styrkan är sannolikheten att en "
    "förändring av den angivna storleken syns som skild från noll.",
    "Förändring kräver fler besök än nivå; ”kan inte nås” betyder att fler besök inte räcker "
    "(taket står i de sista kolumnerna): fler observatörer eller en längre period behövs.",
]


def _needs_sheet(wb: Any, needs: pd.DataFrame, school_id: str | None,
                 names: dict[str, str]) -> None:
    """The sheet ``Besöksbehov``: the decision study for the school (or every school)."""
    from ..measure.reliability import goal_text

    st = _styles()
    ws = wb.create_sheet(L.SHEET_NEEDS)
    ws["A1"] = "Lektionsbesök som behövs för nivå och förändring"
    ws["A1"].font = st["title"]
    for i, line in enumerate(_NEEDS_TEXT, start=2):
        ws.cell(row=i, column=1, value=line)
    rows = needs if school_id is None else needs[needs["unit"].astype(str) == str(school_id)]
    head = len(_NEEDS_TEXT) + 3
    if rows.empty:
        ws.cell(row=head, column=1,
                value="Underlaget räcker inte för att beräkna besöksbehovet (för få "
                      "observationer, terminer eller skolor).")
        return
    lead = ["Skolenhetskod", "Skola"] if school_id is None else []
    _header(ws, head, [*lead, *L.NEEDS_COLUMNS],
            [*([14, 24] if lead else []), 58, 16, 12, 10, 16, 12, 10, 14, 12])
    fmt = {"reliability": "0.00", "power": "0%", "count": "0.0"}
    for i, r in enumerate(rows.to_dict("records"), start=head + 1):
        need = r["n_obs_needed"]
        values: list[tuple[Any, str | None]] = [
            (goal_text(r), None),
            (int(need) if pd.notna(need) else "kan inte nås", None),
            (r["reliability_at_needed"], "reliability"), (r["power_at_needed"], "power"),
            (r["n_obs_now"], "count"), (r["reliability_now"], "reliability"),
            (r["power_now"], "power"), (r["max_reliability"], "reliability"),
            (r["max_power"], "power")]
        if lead:
            values = [(str(r["unit"]), None),
                      (safe_text(names.get(str(r["unit"]), r["school_name"])), None), *values]
        for j, (v, kind) in enumerate(values, start=1):
            if kind is not None:
                v = None if v is None or pd.isna(v) else float(v)
            cell = ws.cell(row=i, column=j, value=v)
            if kind is not None and v is not None:
                cell.number_format = fmt[kind]
    ws.freeze_panes = ws.cell(row=head + 1, column=1)


def _target_terms(ds: Dataset) -> list[str]:
    terms = ds.terms
    if not terms:
        return []
    out = list(terms)
    last = terms[-1]
    t = schema.term_index(last)
    for _ in range(L.TERMS_AHEAD):
        t += 0.5
        year = int(t)
        out.append(f"HT{year}" if t - year > 0.25 else f"VT{year}")
    return out


def _last_year_volume(ds: Dataset, school_id: str) -> dict[str, float]:
    from ..models.followup import lessons_by_term

    if ds.observations.empty:
        return {}
    lt = lessons_by_term(ds.observations)
    lt = lt[lt["school_id"].astype(str) == school_id]
    if lt.empty:
        return {}
    last = schema.term_school_year(ds.terms[-1])
    terms = [t for t in ds.terms if schema.term_school_year(t) == last]
    sub = lt[lt["term"].isin(terms)]
    return {vt: float(sub.loc[sub["visit_type"] == vt, "observed"].sum()) / max(len(terms), 1)
            for vt in L.VISIT_SV.values()}


# --------------------------------------------------------------------------
# Plan workbooks
# --------------------------------------------------------------------------
_PLAN_INSTRUCTIONS = [
    "Den här arbetsboken är skolans plan för en bättre och bättre undervisning, kopplad till "
    "huvudmannens plan. Fyll i de gula cellerna; övriga celler är förifyllda från underlaget.",
    "1. Bladet Plan: välj planens första och sista termin.",
    "2. Bladet Mål: det finns en rad per dimension i observationsprotokollet, med dagens värde "
    "(utgångsläge) ifyllt från lektionsobservationerna. Skriv ett målvärde och välj en målterm "
    "på de rader ni vill arbeta med. Rader utan målvärde räknas inte som mål. Ni kan lägga till "
    "mål för enskilda påståenden (typ påstående, t.ex. KA1) och resultatmål (typ resultat, t.ex. "
    "merit_17: målvärdet gäller det justerade resultatet, alltså skillnaden mot det förväntade "
    "utifrån elevsammansättningen, i måttets enhet). Skriv huvudmannens mål-id (t.ex. H1) i "
    "kolumnen Tjänar huvudmannens mål.",
    "3. Bladet Lektionsbesök: skriv hur många lektioner per termin ni planerar att observera av "
    "varje besökstyp. Bredvid står hur många som observerades per termin förra läsåret. Bladet "
    "Besöksbehov visar hur många besök per termin som behövs för att se skolans nivå och "
    "skolans förändring under planperioden.",
    "4. Bladet Åtgärder: välj ja för de ledningsåtgärder ur Skolverkets vägledning som ingår i "
    "planen, och skriv egna åtgärder på de tomma raderna.",
    "5. Bladet Nuläge visar dagens värde med 95 % konfidensintervall och trenden per läsår. "
    "Ett mål som ligger inom intervallet för dagens värde kan redan vara nått: välj ett mål som "
    "ligger ovanför intervallet om ni vill kunna se en förbättring.",
    "6. Spara filen med samma namn (plan_…xlsx) i mappen med kommunens filer. Kör sedan "
    "`undervisning-analys validera MAPP` för att kontrollera den och "
    "`undervisning-analys rapporter MAPP --ut rapporter` för rapporterna med avsnittet "
    "”Planen och målen”.",
    "Skriv aldrig personnummer eller namn på elever eller lärare i arbetsboken; en fil med "
    "personnummer läses inte in.",
]


def write_plan_workbook(ds: Dataset, path: str | Path, *, school_id: str | None = None,
                        base: pd.DataFrame | None = None,
                        needs: pd.DataFrame | None = None) -> Path:
    """Write a plan workbook for ``school_id`` (None: the organiser) to ``path``.

    ``base`` (:func:`baselines`) and ``needs`` (:func:`lesson_needs`) are
    computed when not given (:func:`write_templates` computes them once)."""
    from openpyxl import Workbook

    st = _styles()
    inst = ds.instrument
    base = baselines(ds) if base is None else base
    needs = lesson_needs(ds) if needs is None else needs
    terms = ds.terms
    target_terms = _target_terms(ds)
    dims = [d.id for d in inst.dimensions]
    dim_names = {"overall": "Samlat index (alla dimensioner)", **inst.dimension_names()}
    measures = sorted(set(ds.results["measure"].astype(str))) if len(ds.results) else []
    cat = catalogue()
    organiser = school_id is None
    names = dict(zip(ds.schools["school_id"].astype(str), ds.schools["school_name"]))
    wb = Workbook()
    ws = wb.active
    ws.title = L.SHEET_INSTRUCTIONS
    who = "huvudmannen" if organiser else f"{names.get(str(school_id), school_id)}"
    _instructions(ws, f"Plan för undervisningens utveckling – {who}", _PLAN_INSTRUCTIONS)
    lists: dict[str, Sequence[str]] = {
        "terminer": terms or ["VT2025"], "målterminer": target_terms or ["VT2025"],
        "typ": list(L.KIND_SV), "avser": ["overall", *dims, *inst.item_ids, *measures],
        "janej": L.YES_NO, "besökstyp": list(L.VISIT_SV),
    }

    # --- Plan ---------------------------------------------------------------
    wp = wb.create_sheet(L.SHEET_PLAN)
    wp["A1"] = "Planen"
    wp["A1"].font = st["title"]
    wp.column_dimensions["A"].width = 24
    wp.column_dimensions["B"].width = 40
    if organiser:
        muni = ds.schools["municipality_name"].dropna()
        mname = str(muni.iloc[0]) if len(muni) else "huvudmannen"
        fields = [("Huvudman", mname), ("Planens id", "P-huvudman")]
    else:
        fields = [("Skolenhetskod", str(school_id)),
                  ("Skola", safe_text(names.get(str(school_id), ""))),
                  ("Planens id", f"P-{school_id}")]
    last = terms[-1] if terms else ""
    fields += [("Första termin", target_terms[len(terms)] if len(target_terms) > len(terms)
                else last), ("Sista termin", "")]
    for i, (label, text) in enumerate(fields, start=3):
        wp.cell(row=i, column=1, value=label).font = st["bold"]
        wp.cell(row=i, column=2, value=text)
    first_row = 3 + len(fields) - 2
    for r in (first_row, first_row + 1):
        wp.cell(row=r, column=2).fill = st["input"]
    wp.cell(row=first_row + 3, column=1,
            value="Planens id används i rapporterna; ändra det bara om skolan har flera planer.")

    # --- Mål ----------------------------------------------------------------
    wt = wb.create_sheet(L.SHEET_TARGETS)
    _header(wt, 1, L.TARGET_COLUMNS, [8, 12, 24, 13, 14, 11, 11, 14, 40])
    level = "municipality" if organiser else "school"
    unit = None if organiser else str(school_id)
    b = base[base["level"] == level]
    if unit is not None:
        b = b[b["unit"].astype(str) == unit]
    b = b.set_index("dimension") if len(b) else b
    row = 2
    for k, dim in enumerate(["overall", *dims] if organiser else dims, start=1):
        tid = f"H{k}" if organiser else f"M{k}"
        est = b.loc[dim] if len(b) and dim in b.index else None
        values = [tid, "dimension", dim,
                  None if est is None else round(float(est["estimate"]), 2),
                  None if est is None else str(est["term"]), None, None, None, None]
        for j, v in enumerate(values, start=1):
            wt.cell(row=row, column=j, value=v)
        row += 1
    for r in range(2, L.MAX_TARGET_ROWS + 2):
        for j in (1, 2, 3, 4, 5, 6, 7, 8, 9):
            if j in (6, 7, 8, 9) or r >= row:
                wt.cell(row=r, column=j).fill = st["input"]
    wt.freeze_panes = "A2"

    # --- Lektionsbesök ------------------------------------------------------
    if not organiser:
        wl = wb.create_sheet(L.SHEET_LESSONS)
        _header(wl, 1, L.LESSON_COLUMNS, [24, 30, 36])
        vol = _last_year_volume(ds, str(school_id))
        for i, (label, vt) in enumerate(L.VISIT_SV.items(), start=2):
            wl.cell(row=i, column=1, value=label)
            wl.cell(row=i, column=2).fill = st["input"]
            if vt in vol:
                wl.cell(row=i, column=3, value=round(vol[vt], 1))

    # --- Besöksbehov -----------------------------------------------------------
    _needs_sheet(wb, needs, None if organiser else str(school_id), names)

    # --- Åtgärder -----------------------------------------------------------
    wa = wb.create_sheet(L.SHEET_ACTIONS)
    _header(wa, 1, L.ACTION_COLUMNS, [10, 38, 80, 50, 8])
    r = 2
    for a in cat.itertuples(index=False):
        for j, v in enumerate([a.action_id, a.name, a.text, a.source, "nej"], start=1):
            cell = wa.cell(row=r, column=j, value=v)
            cell.alignment = st["wrap"]
        wa.cell(row=r, column=5).fill = st["input"]
        r += 1
    first_own = r
    for k in range(L.OWN_ACTIONS):
        wa.cell(row=r, column=1, value=f"Egen {k + 1}")
        wa.cell(row=r, column=2).fill = st["input"]
        wa.cell(row=r, column=5, value="nej").fill = st["input"]
        r += 1
    wa.freeze_panes = "A2"

    # --- Nuläge -------------------------------------------------------------
    wn = wb.create_sheet(L.SHEET_BASELINE)
    _header(wn, 1, ["Dimension", "Id", "Termin", "Värde nu", "95 % intervall",
                    "Trend per läsår", "95 % intervall för trenden"], [36, 22, 10, 10, 16, 14, 24])
    for i, dim in enumerate(["overall", *dims], start=2):
        wn.cell(row=i, column=1, value=dim_names.get(dim, dim))
        wn.cell(row=i, column=2, value=dim)
        if len(b) and dim in b.index:
            e = b.loc[dim]
            wn.cell(row=i, column=3, value=str(e["term"]))
            wn.cell(row=i, column=4, value=round(float(e["estimate"]), 2))
            wn.cell(row=i, column=5, value=_interval(e["conf_low"], e["conf_high"]))
            if np.isfinite(e.get("trend", np.nan)):
                wn.cell(row=i, column=6, value=round(float(e["trend"]), 3))
                wn.cell(row=i, column=7, value=_interval(e["trend_low"], e["trend_high"], 3))
        else:
            wn.cell(row=i, column=4, value="..")
    n = len(dims) + 3
    wn.cell(row=n, column=1, value="Påståenden (för mål av typen påstående):").font = st["bold"]
    for k, it in enumerate(inst.items, start=n + 1):
        wn.cell(row=k, column=1, value=it.text)
        wn.cell(row=k, column=2, value=it.id)
    k = n + len(inst.items) + 2
    wn.cell(row=k, column=1, value="Resultatmått (för mål av typen resultat):").font = st["bold"]
    for j, m in enumerate(measures, start=k + 1):
        wn.cell(row=j, column=1, value=schema.measure_label(m))
        wn.cell(row=j, column=2, value=m)
    wn.cell(row=j + 2 if measures else k + 2, column=1,
            value="Värdena är skattningar med 95 % konfidensintervall; .. betyder för få "
                  "observerade lektioner (färre än 5) eller lärare (färre än 3).")

    # --- lists and validation -------------------------------------------------
    refs = _lists_sheet(wb, lists)
    lo, hi = inst.scale
    _list_validation(wp, f"B{first_row}", refs["målterminer"],
                     "Terminen planen börjar")
    _list_validation(wp, f"B{first_row + 1}", refs["målterminer"], "Terminen planen slutar")
    end = L.MAX_TARGET_ROWS + 1
    _text_validation(wt, f"A2:A{end}", 12, "Målets id, t.ex. M1")
    _list_validation(wt, f"B2:B{end}", refs["typ"], "dimension, påstående eller resultat")
    _list_validation(wt, f"C2:C{end}", refs["avser"],
                     "Dimensionens, påståendets eller måttets id (se bladet Nuläge)")
    _number_validation(wt, f"D2:D{end}", -1000, 1000, "Utgångsläget (förifyllt från underlaget)")
    _list_validation(wt, f"E2:E{end}", refs["terminer"], "Terminen för utgångsläget")
    _number_validation(wt, f"F2:F{end}", -1000, 1000,
                       f"Målvärdet: {lo}–{hi} för dimensioner och påståenden")
    _list_validation(wt, f"G2:G{end}", refs["målterminer"], "Terminen målet ska vara nått")
    _text_validation(wt, f"H2:H{end}", 12, "Huvudmannens mål-id, t.ex. H1")
    _text_validation(wt, f"I2:I{end}", 500, "Kommentar (inga namn eller personnummer)")
    if not organiser:
        _number_validation(wl, "B2:B5", 0, L.MAX_LESSONS, "Lektioner per termin", whole=True)
    _list_validation(wa, f"E2:E{r - 1}", refs["janej"], "ja eller nej")
    _text_validation(wa, f"B{first_own}:B{r - 1}", 300,
                     "Egen åtgärd (inga namn eller personnummer)")
    p = Path(path)
    wb.save(p)
    return p


def _interval(lo: float, hi: float, decimals: int = 2) -> str:
    from ..models.adjust import sv_num

    return f"{sv_num(float(lo), decimals)} till {sv_num(float(hi), decimals)}"


# --------------------------------------------------------------------------
# The observation protocol: printable form and entry sheet
# --------------------------------------------------------------------------
def observation_form_html(ds_or_instrument: Any) -> str:
    """The observation protocol as a printable A4 form (HTML, Swedish)."""
    inst = getattr(ds_or_instrument, "instrument", ds_or_instrument)
    esc = html.escape
    scale = list(range(inst.scale_min, inst.scale_max + 1))
    head_cells = "".join(f"<th class='s'>{s}<br><span>{esc(inst.labels.get(s, ''))}</span></th>"
                         for s in scale)
    parts = [
        "<!DOCTYPE html><html lang='sv'><head><meta charset='utf-8'>",
        f"<title>Observationsformulär – {esc(inst.name)}</title><style>",
        "@page { size: A4; margin: 14mm 12mm; }",
        "body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10pt; color: #111; }",
        "h1 { font-size: 14pt; margin: 0 0 2mm; } h2 { font-size: 11pt; margin: 4mm 0 1mm; }",
        "table { border-collapse: collapse; width: 100%; }",
        "td, th { border: 1px solid #555; padding: 1.5mm; vertical-align: top; }",
        "th.s { width: 15mm; font-size: 8pt; } th.s span { font-weight: normal; font-size: 7pt; }",
        "td.box { text-align: center; font-size: 13pt; } .id { width: 10mm; font-weight: bold; }",
        ".meta td { height: 7mm; } .meta th { text-align: left; width: 32%; background: #eef; }",
        ".note { font-size: 8pt; color: #333; } .dim { page-break-inside: avoid; }",
        "</style></head><body>",
        f"<h1>Lektionsobservation – {esc(inst.name)}</h1>",
        f"<p class='note'>Protokoll {esc(inst.id)}, version {esc(str(inst.version))}. "
        "Fyll i med lärarkod och observatörskod, aldrig namn eller personnummer.</p>",
        "<table class='meta'>",
    ]
    for label in ("Lektions-ID", "Datum", "Skolenhetskod", "Lärarkod", "Observatörskod",
                  "Observatörens roll (rektor, biträdande rektor, förstelärare, kollega, extern, "
                  "annan)", "Typ av besök (spontant, planerat, kollegial observation)", "Ämne",
                  "Årskurs"):
        parts.append(f"<tr><th>{esc(label)}</th><td></td></tr>")
    parts.append("</table>")
    for d in inst.dimensions:
        parts.append(f"<div class='dim'><h2>{esc(d.name)}</h2>")
        if getattr(d, "description", None):
            parts.append(f"<p class='note'>{esc(d.description)}</p>")
        parts.append(f"<table><tr><th class='id'>Id</th><th>Påstående</th>{head_cells}"
                     "<th class='s'>Ej obs.</th></tr>")
        for it in d.items:
            boxes = "".join("<td class='box'>☐</td>" for _ in scale)
            parts.append(f"<tr><td class='id'>{esc(it.id)}</td><td>{esc(it.text)}</td>{boxes}"
                         "<td class='box'>☐</td></tr>")
        parts.append("</table></div>")
    parts.append("<h2>Anteckningar (utan namn)</h2><table><tr><td style='height:30mm'></td>"
                 "</tr></table>")
    parts.append("<p class='note'>Mata in formuläret i observationer_inmatning.xlsx (eller "
                 "skolans formulärverktyg); filen läses in av undervisning-analys.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


ENTRY_COLUMNS = ["Lektions-ID", "Datum", "Skolenhetskod", "Lärarkod", "Observatörskod",
                 "Observatörens roll", "Typ av besök", "Ämne", "Årskurs"]
ROLE_LABELS = ["Rektor", "Biträdande rektor", "Förstelärare", "Kollega", "Extern observatör",
               "Annan"]
TYPE_LABELS = ["Spontant besök", "Planerat besök", "Kollegial observation"]


def write_entry_sheet(ds: Dataset, path: str | Path) -> Path:
    """The observation entry workbook: the wide export format ``read_observations`` reads.

    The first sheet is the entry table (``read_observations`` reads the first
    sheet with content); instructions and drop-down lists follow.
    """
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    inst = ds.instrument
    wb = Workbook()
    ws = wb.active
    ws.title = "Observationer"
    items = [f"{it.id}. {it.text}" for it in inst.items]
    _header(ws, 1, [*ENTRY_COLUMNS, *items],
            [13, 12, 14, 11, 14, 18, 20, 14, 8, *([14] * len(items))])
    ws.freeze_panes = "B2"
    wi = wb.create_sheet(L.SHEET_INSTRUCTIONS)
    _instructions(wi, "Inmatning av lektionsobservationer", [
        "Fyll i en rad per ifyllt observationsformulär på bladet Observationer (bladet ska "
        "ligga först). Två observatörer som besökt samma lektion skriver samma Lektions-ID på "
        "var sin rad (parobservation).",
        "Lärarkod och Observatörskod är koder (t.ex. L017, O003), aldrig namn, e-postadresser "
        "eller personnummer; en fil med sådana läses inte in.",
        "Poängen väljs i listan (" + ", ".join(str(s) for s in range(inst.scale_min,
                                                                     inst.scale_max + 1))
        + ") eller Ej observerat. Skalan: " + "; ".join(
            f"{k} = {v}" for k, v in inst.labels.items()) + ".",
        "Spara filen som observationer_inmatning.xlsx (namnet ska börja med observation) i "
        "mappen med kommunens filer och kör `undervisning-analys validera MAPP`.",
    ])
    codes = sorted(ds.schools["school_id"].astype(str))
    scores = [str(s) for s in range(inst.scale_min, inst.scale_max + 1)] + ["Ej observerat"]
    refs = _lists_sheet(wb, {"skolor": codes, "roller": ROLE_LABELS, "typer": TYPE_LABELS,
                             "poäng": scores,
                             "årskurser": ["F", *[str(g) for g in range(1, 10)]]})
    end = ENTRY_ROWS + 1
    _text_validation(ws, f"A2:A{end}", 40, "Lektionens id; samma id för två observatörer av "
                                           "samma lektion")
    _date_validation(ws, f"B2:B{end}", "Datum för lektionen, t.ex. 2025-03-14")
    _list_validation(ws, f"C2:C{end}", refs["skolor"], "Skolenhetskod")
    _text_validation(ws, f"D2:D{end}", 20, "Lärarkod, aldrig namn")
    _text_validation(ws, f"E2:E{end}", 20, "Observatörskod, aldrig namn")
    _list_validation(ws, f"F2:F{end}", refs["roller"], "Observatörens roll")
    _list_validation(ws, f"G2:G{end}", refs["typer"], "Typ av besök")
    _text_validation(ws, f"H2:H{end}", 40, "Ämne")
    _list_validation(ws, f"I2:I{end}", refs["årskurser"], "Årskurs (F = förskoleklass)")
    first, last = get_column_letter(len(ENTRY_COLUMNS) + 1), get_column_letter(
        len(ENTRY_COLUMNS) + len(items))
    _list_validation(ws, f"{first}2:{last}{end}", refs["poäng"], "Poäng eller Ej observerat")
    for col in range(1, len(ENTRY_COLUMNS) + len(items) + 1):
        ws.cell(row=2, column=col).number_format = "yyyy-mm-dd" if col == 2 else "General"
    p = Path(path)
    wb.save(p)
    return p


# --------------------------------------------------------------------------
# Notes workbook for a quality dialogue
# --------------------------------------------------------------------------
def write_notes_workbook(path: str | Path, *, school_id: str, school_name: str,
                         questions: Sequence[dict[str, str]],
                         targets: Sequence[str] = (), dialogue_date: str | None = None
                         ) -> Path:
    """The notes workbook for a school's quality dialogue, pre-filled with the report's questions.

    ``questions``: dicts with ``q`` (the question) and optionally ``underlag``
    (what it rests on). ``targets``: target ids of the school's plan and other
    things an agreement can concern (offered as a list in ``Avser``).

    Written with XlsxWriter, not openpyxl like the other templates: the main job
    writes one per school (200 at Göteborg's scale), and XlsxWriter writes this
    workbook about four times faster (``benchmarks/RESULTS.md``). Its document
    date is fixed, so the same questions give the same bytes.
    """
    import datetime as _dt

    import xlsxwriter

    p = Path(path)
    wb = xlsxwriter.Workbook(str(p), {"strings_to_formulas": False, "strings_to_urls": False,
                                      "strings_to_numbers": False})
    wb.set_properties({"created": _dt.datetime(2000, 1, 1)})
    bold = wb.add_format({"bold": True})
    title = wb.add_format({"bold": True, "font_size": 14})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    head = wb.add_format({"bold": True, "bg_color": f"#{_FILL_HEAD}", "pattern": 1,
                          "text_wrap": True, "valign": "top"})
    field = wb.add_format({"bg_color": f"#{_FILL_INPUT}", "pattern": 1})
    field_wrap = wb.add_format({"bg_color": f"#{_FILL_INPUT}", "pattern": 1,
                                "text_wrap": True, "valign": "top"})
    field_date = wb.add_format({"bg_color": f"#{_FILL_INPUT}", "pattern": 1,
                                "text_wrap": True, "valign": "top",
                                "num_format": "yyyy-mm-dd"})
    date_only = wb.add_format({"bg_color": f"#{_FILL_INPUT}", "pattern": 1,
                               "num_format": "yyyy-mm-dd"})

    wi = wb.add_worksheet(L.SHEET_INSTRUCTIONS)
    wi.write_string(0, 0, f"Anteckningar från kvalitetsdialogen – {school_name}", title)
    wi.set_column(0, 0, 110)
    for i, line in enumerate([
        "Fyll i under dialogen: datum på bladet Dialog, det ni kommer överens om på bladet "
        "Överenskommelser (vem som ansvarar, som roll, och när det följs upp; i kolumnen Avser "
        "kan ni ange vilket mål (t.ex. M1), vilken dimension eller vilket mått överenskommelsen "
        "gäller), och markera på bladet Frågor vilka av rapportens frågor ni diskuterade.",
        "Spara filen med samma namn (dialog_…xlsx) i mappen med kommunens filer. Nästa rapport "
        "för skolan börjar då med ”Vid förra dialogen kom vi överens om …” och vad underlaget "
        "nu visar om varje överenskommelse.",
        "Skriv roller, inte namn (t.ex. rektor, förstelärare), och aldrig personnummer; en fil "
        "med personnummer läses inte in.",
    ], start=2):
        wi.write_string(i, 0, line, wrap)

    wd = wb.add_worksheet(L.SHEET_DIALOGUE)
    wd.set_column(0, 0, 22)
    wd.set_column(1, 1, 40)
    wd.write_string(0, 0, "Skolenhetskod", bold)
    wd.write_string(0, 1, str(school_id))
    wd.write_string(1, 0, "Skola", bold)
    wd.write_string(1, 1, safe_text(school_name))
    wd.write_string(2, 0, "Datum för dialogen", bold)
    if dialogue_date:
        wd.write_string(2, 1, str(dialogue_date), date_only)
    else:
        wd.write_blank(2, 1, None, date_only)

    wa = wb.add_worksheet(L.SHEET_AGREEMENTS)
    for j, (name, w) in enumerate(zip(L.AGREEMENT_COLUMNS, [60, 20, 16, 14, 26], strict=True)):
        wa.write_string(0, j, name, head)
        wa.set_column(j, j, w)
    end = L.MAX_AGREEMENT_ROWS + 1
    for r in range(1, end):
        for j in range(5):
            wa.write_blank(r, j, None, field_date if j == 2 else field_wrap)

    wq = wb.add_worksheet(L.SHEET_QUESTIONS)
    for j, (name, w) in enumerate(zip(L.QUESTION_COLUMNS, [70, 14, 13, 50], strict=True)):
        wq.write_string(0, j, name, head)
        wq.set_column(j, j, w)
    for i, q in enumerate(questions, start=1):
        wq.write_string(i, 0, safe_text(q.get("q", "")), wrap)
        wq.write_string(i, 1, safe_text(q.get("underlag", "")))
        wq.write_string(i, 2, "nej", field)
        wq.write_blank(i, 3, None, field)

    lists = {"roller": L.OWNER_ROLES, "status": list(L.STATUS_SV), "janej": L.YES_NO,
             "avser": list(targets) or ["M1"]}
    wl = wb.add_worksheet(L.SHEET_LISTS)
    refs = {}
    for j, (name, values) in enumerate(lists.items()):
        wl.write_string(0, j, name)
        for i, v in enumerate(values, start=1):
            wl.write_string(i, j, safe_text(v))
        col = chr(ord("A") + j)
        refs[name] = f"={L.SHEET_LISTS}!${col}$2:${col}${max(len(values), 1) + 1}"
    wl.hide()

    def listed(ws: Any, col: int, last: int, source: str, prompt: str) -> None:
        ws.data_validation(1, col, last, col, {
            "validate": "list", "source": source, "ignore_blank": True,
            "input_title": "Välj i listan", "input_message": prompt,
            "error_title": "Ogiltigt värde", "error_message": "Välj ett värde i listan."})

    def dated(ws: Any, row: int, col: int, last: int, prompt: str) -> None:
        ws.data_validation(row, col, last, col, {
            "validate": "date", "criteria": "between", "minimum": _dt.date(2015, 1, 1),
            "maximum": _dt.date(2040, 12, 31), "ignore_blank": True, "input_message": prompt,
            "error_title": "Ogiltigt datum", "error_message": "Skriv ett datum som 2025-03-14."})

    def length(ws: Any, col: int, last: int, max_len: int, prompt: str) -> None:
        ws.data_validation(1, col, last, col, {
            "validate": "length", "criteria": "<=", "value": max_len, "ignore_blank": True,
            "input_message": prompt, "error_title": "För lång text",
            "error_message": f"Högst {max_len} tecken."})

    dated(wd, 2, 1, 2, "Datum för dialogen")
    last = end - 1
    length(wa, 0, last, 500, "Vad ni kom överens om (inga namn)")
    listed(wa, 1, last, refs["roller"], "Ansvarig, som roll")
    dated(wa, 1, 2, last, "När överenskommelsen följs upp")
    listed(wa, 3, last, refs["status"], "Status")
    listed(wa, 4, last, refs["avser"], "Mål-id, dimension eller mått")
    qlast = max(len(questions), 1)
    listed(wq, 2, qlast, refs["janej"], "Diskuterades frågan?")
    length(wq, 3, qlast, 500, "Anteckning (inga namn)")
    wb.close()
    return p


def notes_file(school_id: str) -> str:
    """The notes workbook's file name for a school (read back by ``load_folder``)."""
    return f"{L.NOTES_PREFIX}_{school_id}.xlsx"


# --------------------------------------------------------------------------
# All templates
# --------------------------------------------------------------------------
def write_templates(ds: Dataset, folder: str | Path, *, schools: Sequence[str] | None = None
                    ) -> list[Path]:
    """Write every template to ``folder`` (see the module docstring); return the paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    base = baselines(ds)
    needs = lesson_needs(ds)
    written = [write_plan_workbook(ds, out / f"{L.PLAN_PREFIX}_huvudman.xlsx", base=base,
                                   needs=needs)]
    codes = list(schools) if schools else sorted(ds.schools["school_id"].astype(str))
    for sid in codes:
        written.append(write_plan_workbook(ds, out / f"{L.PLAN_PREFIX}_{sid}.xlsx",
                                           school_id=sid, base=base, needs=needs))
    form = out / "observationsformular.html"
    form.write_text(observation_form_html(ds), encoding="utf-8")
    written.append(form)
    written.append(write_entry_sheet(ds, out / "observationer_inmatning.xlsx"))
    return written


__all__ = ["write_templates", "write_plan_workbook", "write_entry_sheet",
           "observation_form_html", "write_notes_workbook", "notes_file", "baselines",
           "lesson_needs",
           "safe_text"]


# --------------------------------------------------------------------------
# The YAML form (the sample's plans and notes)
# --------------------------------------------------------------------------
def _num(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return None
    f = float(v)
    return int(f) if f.is_integer() else round(f, 4)


def plans_to_yaml(plans: pd.DataFrame) -> str:
    """The ``plans`` table in the YAML form :func:`~undervisning_analys.io.plans.read_plans`
    reads (one file, ``planer:`` a list of plans), byte-stable."""
    import yaml

    out = []
    order = plans.assign(_o=(plans["level"] != "organiser").astype(int))
    for plan_id, p in order.sort_values(["_o", "plan_id"], kind="stable").groupby(
            "plan_id", sort=False):
        first = p.iloc[0]
        doc: dict[str, Any] = {}
        if first["level"] == "organiser":
            doc["huvudman"] = True
        else:
            doc["skolenhetskod"] = str(first["school_id"])
        doc["plan_id"] = str(plan_id)
        doc["period"] = {"forsta_termin": str(first["period_start"]),
                         "sista_termin": str(first["period_end"])}
        goals = []
        for r in p[p["kind"] != "observations"].itertuples(index=False):
            g: dict[str, Any] = {"id": r.target_id, "typ": L.KIND_LABEL[str(r.kind)],
                                 "avser": r.target_of}
            if _num(r.baseline) is not None:
                g["utgangslage"] = _num(r.baseline)
            if isinstance(r.baseline_term, str):
                g["utgangstermin"] = r.baseline_term
            g["malvarde"] = _num(r.target)
            g["malterm"] = r.target_term
            if isinstance(r.serves, str):
                g["tjanar"] = r.serves
            goals.append(g)
        doc["mal"] = goals
        lessons = p[p["kind"] == "observations"]
        if len(lessons):
            doc["lektionsbesok"] = {str(r.target_of): _num(r.target)
                                    for r in lessons.itertuples(index=False)}
        acts = p["actions"].dropna()
        if len(acts):
            doc["atgarder"] = [a.strip() for a in str(acts.iloc[0]).split(";") if a.strip()]
        out.append(doc)
    return yaml.safe_dump({"planer": out}, allow_unicode=True, sort_keys=False, width=100)


def notes_to_yaml(notes: pd.DataFrame) -> str:
    """The ``dialogue_notes`` table in the YAML form ``read_dialogue_notes`` reads."""
    import yaml

    status_sv = {v: k for k, v in L.STATUS_SV.items()}
    out = []
    for (sid, day), d in notes.groupby(["school_id", "dialogue_date"], sort=True):
        doc: dict[str, Any] = {"skolenhetskod": str(sid),
                               "datum": pd.Timestamp(day).strftime("%Y-%m-%d")}
        agr = []
        for r in d[d["kind"] == "agreement"].itertuples(index=False):
            a: dict[str, Any] = {"text": r.text}
            if isinstance(r.owner_role, str):
                a["ansvarig"] = r.owner_role
            if pd.notna(r.follow_up_date):
                a["uppfoljning"] = pd.Timestamp(r.follow_up_date).strftime("%Y-%m-%d")
            if isinstance(r.status, str):
                a["status"] = status_sv.get(r.status, r.status)
            if isinstance(r.about, str):
                a["avser"] = r.about
            agr.append(a)
        doc["overenskommelser"] = agr
        qs = [{"fraga": r.text, "diskuterades": "ja"}
              for r in d[d["kind"] == "question"].itertuples(index=False)]
        if qs:
            doc["fragor"] = qs
        out.append(doc)
    return yaml.safe_dump({"dialoger": out}, allow_unicode=True, sort_keys=False, width=100)
