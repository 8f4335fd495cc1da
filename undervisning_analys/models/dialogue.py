"""Questions for the quality dialogue, as data: each rests on an estimate and its interval.

A question in a school's report is first a row of :func:`dialogue_table`:
which school, its basis (``underlag``), the rule that raised it, the
estimate and 95 % interval it rests on (with their unit and period), and
only then the Swedish text rendered from that row. A rule raises a question
that claims a change or a difference only when the interval supports it:

=============== ======================================================== =====================
underlag        rule (raised when)                                       rests on
=============== ======================================================== =====================
undervisning    ``kvalitet_okar`` / ``kvalitet_minskar``: the school's   growth: school trend
                trend in the index excludes zero
undervisning    ``dimension_under``: a dimension's whole interval lies   index, latest term
                below the municipality's level (latest shown term)
resultat        ``niva_over`` / ``niva_under``: the school's distance     results_trend: level
                from the expected result, pooled over all years,
                excludes zero (a persistent difference is found even
                when no single year's interval excludes zero)
resultat        ``resultat_okar`` / ``resultat_minskar``: the trend of    results_trend: trend
                the adjusted result over all years excludes zero
samband         ``samma_hall`` / ``olika_hall``: both the index trend and growth and
                the results trend exclude zero                           results_trend
utfall          ``utfall_battre`` / ``utfall_samre``: the trend of an     results_trend
                outcome beside grades (Skolenkäten, attendance, own       (observed): trend
                measures) over all years excludes zero; better or worse
                by the measure's direction (neutral measures raise none)
underlag_tunt   ``reliabilitet_lag``: the latest shown term's            index: reliability
                reliability is below :data:`LOW_RELIABILITY`
underlag_tunt   ``index_saknas``: no term of the school can be shown     index: suppression
underlag_tunt   ``termin_under_golv``: the newest term cannot be shown   index: suppression
=============== ======================================================== =====================

One basis is reserved for the plan follow-up (``plan``): add a function
``rules_plan(ev) -> list[dict]`` to :data:`RULES` (one function per basis) and
its rows join the table.

A school-level ``samband`` question needs both trends to be clear, so on a
municipality where teaching quality has no effect on results almost no school
gets one (``benchmarks/sim_questions.py`` measures the false-alarm and
detection rates over seeds; figures in ``benchmarks/results/``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from .adjust import sv_num

__all__ = ["Evidence", "dialogue_evidence", "dialogue_table", "select_questions", "RULES",
           "result_unit",
           "UNDERLAG", "COLUMNS", "LOW_RELIABILITY"]

UNDERLAG: tuple[str, ...] = ("undervisning", "resultat", "samband", "plan", "utfall",
                             "underlag_tunt")
"""The bases a question can rest on."""

LOW_RELIABILITY = 0.6
"""Below this reliability a school's index mostly reflects the municipality and its trend."""

COLUMNS: list[str] = ["school_id", "underlag", "rule", "priority", "text", "why", "subject",
                      "estimate", "conf_low", "conf_high", "estimate_2", "conf_low_2",
                      "conf_high_2", "unit", "period"]
"""Columns of :func:`dialogue_table` (``estimate_2`` … for questions resting on two estimates)."""


@dataclass(frozen=True)
class Evidence:
    """The estimates the rules read (each a tidy table of a model; any may be None).

    quality_trends : ``GrowthResult.school_trends()`` (school_id, estimate,
        conf_low, conf_high, suppressed) – index points per school year.
    quality_period : the terms of the trend, e.g. ``"HT2020–VT2025"``.
    results : measure -> ``ResultsTrendResult.tidy()`` (adjusted results).
    index : ``TeachingQualityResult.tidy()`` with school and municipality rows
        (one or more dimensions), for the dimension and reliability rules.
    dimension_names : dimension id -> Swedish name (``overall`` included).
    schools : the dialogue's subjects (the organiser's own schools); None = all.
    outcomes : measure -> ``ResultsTrendResult.tidy()`` of an outcome beside
        grades (observed, not adjusted): Skolenkäten indices, attendance, own measures.
    """

    quality_trends: pd.DataFrame | None = None
    quality_period: str = ""
    results: dict[str, pd.DataFrame] = field(default_factory=dict)
    index: pd.DataFrame | None = None
    dimension_names: dict[str, str] = field(default_factory=dict)
    schools: Sequence[str] | None = None
    outcomes: dict[str, pd.DataFrame] = field(default_factory=dict)


def _ci(lo: float, hi: float, decimals: int) -> str:
    return f"{sv_num(lo, decimals)} till {sv_num(hi, decimals)}"


def _excludes_zero(lo: float, hi: float) -> int:
    """+1 when the interval lies above zero, −1 below, 0 when it covers zero (or is missing)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return 0
    return 1 if lo > 0 else (-1 if hi < 0 else 0)


def _row(school_id: str, underlag: str, rule: str, priority: int, text: str, why: str,
         subject: str, est: float, lo: float, hi: float, unit: str, period: str,
         est2: float = np.nan, lo2: float = np.nan, hi2: float = np.nan) -> dict[str, Any]:
    return {"school_id": str(school_id), "underlag": underlag, "rule": rule,
            "priority": priority, "text": text, "why": why, "subject": subject,
            "estimate": float(est), "conf_low": float(lo), "conf_high": float(hi),
            "estimate_2": float(est2), "conf_low_2": float(lo2), "conf_high_2": float(hi2),
            "unit": unit, "period": period}


def result_unit(measure: str) -> tuple[str, int]:
    """The unit of a measure in Swedish text and the decimals to show."""
    if measure.startswith("merit"):
        return "meritpoäng", 1
    if measure.endswith("_pct"):
        return "procentenheter", 1
    return "enheter", 2


def _period(first: Any, last: Any) -> str:
    return f"{first}–{last}" if first and last and first != last else str(first or "")


def _measure_name(measure: str) -> str:
    label = schema.measure_label(measure)
    return label[0].lower() + label[1:] if label else measure


# --------------------------------------------------------------------------- #
# rules: one function per basis
# --------------------------------------------------------------------------- #
def rules_undervisning(ev: Evidence) -> list[dict[str, Any]]:
    """Teaching quality: a clear trend, and a dimension clearly below the municipality."""
    out: list[dict[str, Any]] = []
    if ev.quality_trends is not None:
        for r in ev.quality_trends.itertuples(index=False):
            if bool(getattr(r, "suppressed", False)):
                continue
            side = _excludes_zero(r.conf_low, r.conf_high)
            if side == 0:
                continue
            why = (f"Skolans trend i samlat index {ev.quality_period}: "
                   f"{sv_num(r.estimate, 2, sign=True)} indexpoäng per läsår (95 % KI "
                   f"{_ci(r.conf_low, r.conf_high, 2)}); hela intervallet ligger "
                   f"{'över' if side > 0 else 'under'} noll.")
            if side > 0:
                out.append(_row(r.school_id, "undervisning", "kvalitet_okar", 5,
                                "Den observerade undervisningskvaliteten har ökat under "
                                "perioden. Vad har skolan gjort som kan förklara det, och hur "
                                "håller ni fast vid det?", why, "overall", r.estimate,
                                r.conf_low, r.conf_high, "indexpoäng per läsår",
                                ev.quality_period))
            else:
                out.append(_row(r.school_id, "undervisning", "kvalitet_minskar", 8,
                                "Den observerade undervisningskvaliteten har minskat under "
                                "perioden. Vad kan förklara det, och vilket stöd behöver "
                                "skolan?", why, "overall", r.estimate, r.conf_low,
                                r.conf_high, "indexpoäng per läsår", ev.quality_period))
    idx = ev.index
    if idx is not None and len(idx) and "dimension" in idx.columns:
        school = idx[(idx["level"] == "school") & ~idx["suppressed"].astype(bool)
                     & (idx["dimension"] != "overall")]
        muni = idx[idx["level"] == "municipality"].set_index(["term", "dimension"])["estimate"]
        shown = idx[(idx["level"] == "school") & (idx["dimension"] == "overall")
                    & ~idx["suppressed"].astype(bool)]
        last_term = shown.groupby("unit")["term"].agg(
            lambda s: max(s, key=schema.term_index))
        # each school's rows of its latest shown term, selected once for all schools
        latest = school[(school["term"] == school["unit"].map(last_term)).to_numpy(bool)]
        for sid, part in latest.groupby("unit"):
            t1 = last_term[sid]
            gaps = []
            for r in part.itertuples(index=False):
                m = muni.get((t1, r.dimension))
                if m is None or not np.isfinite(m) or not r.conf_high < m:
                    continue
                gaps.append((r.estimate - m, r))
            if not gaps:
                continue
            gap, r = min(gaps, key=lambda g: g[0])
            m = float(muni[(t1, r.dimension)])
            name = ev.dimension_names.get(r.dimension, r.dimension)
            out.append(_row(
                sid, "undervisning", "dimension_under", 6,
                f"{name} ligger under kommunens nivå. Vad behövs för att stärka den delen "
                "av undervisningen?",
                f"{name} {t1}: skolan {sv_num(r.estimate, 2)} (95 % KI "
                f"{_ci(r.conf_low, r.conf_high, 2)}), kommunen {sv_num(m, 2)}; hela "
                "intervallet ligger under kommunens nivå.",
                str(r.dimension), gap, r.conf_low - m, r.conf_high - m,
                "indexpoäng jämfört med kommunen", str(t1)))
    return out


def rules_resultat(ev: Evidence) -> list[dict[str, Any]]:
    """Results: a persistent difference from the expected (pooled), and a clear trend."""
    out: list[dict[str, Any]] = []
    for measure, tab in ev.results.items():
        unit, dec = result_unit(measure)
        name = _measure_name(measure)
        for r in tab[tab["component"] == "school_level"].itertuples(index=False):
            side = _excludes_zero(r.conf_low, r.conf_high)
            if side == 0:
                continue
            period = _period(r.first_year, r.last_year)
            why = (f"{schema.measure_label(measure)}, i genomsnitt {period} ({r.n_years} "
                   f"läsår sammanvägda): {sv_num(r.estimate, dec, sign=True)} {unit} jämfört "
                   f"med det förväntade utifrån elevsammansättningen (95 % KI "
                   f"{_ci(r.conf_low, r.conf_high, dec)}).")
            if side > 0:
                out.append(_row(r.school_id, "resultat", "niva_over", 4,
                                f"Skolans resultat i {name} har legat över vad elevsammansättningen ger "
                                "anledning att vänta under perioden. Vad i skolans arbete kan "
                                "förklara det, och vad kan andra skolor lära av det?", why,
                                measure, r.estimate, r.conf_low, r.conf_high,
                                f"{unit} jämfört med förväntat", period))
            else:
                out.append(_row(r.school_id, "resultat", "niva_under", 9,
                                f"Skolans resultat i {name} har legat under vad elevsammansättningen ger "
                                "anledning att vänta under perioden. Vad kan förklara det, och "
                                "vad gör skolan för de elever som riskerar att inte nå målen?",
                                why, measure, r.estimate, r.conf_low, r.conf_high,
                                f"{unit} jämfört med förväntat", period))
        for r in tab[tab["component"] == "school_trend"].itertuples(index=False):
            side = _excludes_zero(r.conf_low, r.conf_high)
            if side == 0:
                continue
            period = _period(r.first_year, r.last_year)
            why = (f"Trend i {name} {period}, med hänsyn till elevsammansättningen: "
                   f"{sv_num(r.estimate, dec, sign=True)} {unit} per läsår (95 % KI "
                   f"{_ci(r.conf_low, r.conf_high, dec)}), skattad ur alla {r.n_years} läsår.")
            rule, prio, text = (
                ("resultat_okar", 5, "Resultaten har förbättrats under perioden, också med "
                 "hänsyn till elevsammansättningen. Vad har bidragit, och hur kan det hållas "
                 "kvar?") if side > 0 else
                ("resultat_minskar", 8, "Resultaten har försämrats under perioden, också med "
                 "hänsyn till elevsammansättningen. Vad kan förklara det, och vad gör skolan "
                 "åt det?"))
            out.append(_row(r.school_id, "resultat", rule, prio, text, why, measure,
                            r.estimate, r.conf_low, r.conf_high, f"{unit} per läsår", period))
    return out


def rules_samband(ev: Evidence) -> list[dict[str, Any]]:
    """Quality and results: both trends clear, in the same or in opposite directions."""
    out: list[dict[str, Any]] = []
    if ev.quality_trends is None:
        return out
    # each school's quality trend as a dict, looked up per results row
    q = dict(zip(ev.quality_trends["school_id"].astype(str).tolist(),
                 ev.quality_trends.to_dict("records"), strict=True))
    for measure, tab in ev.results.items():
        unit, dec = result_unit(measure)
        name = _measure_name(measure)
        for r in tab[tab["component"] == "school_trend"].itertuples(index=False):
            sid = str(r.school_id)
            if sid not in q or bool(q[sid].get("suppressed", False)):
                continue
            qr = q[sid]
            sq = _excludes_zero(qr["conf_low"], qr["conf_high"])
            sr = _excludes_zero(r.conf_low, r.conf_high)
            if sq == 0 or sr == 0:
                continue
            why = (f"Trend i samlat index {ev.quality_period}: "
                   f"{sv_num(qr['estimate'], 2, sign=True)} indexpoäng per läsår (95 % KI "
                   f"{_ci(qr['conf_low'], qr['conf_high'], 2)}); trend i {name} "
                   f"{_period(r.first_year, r.last_year)} med hänsyn till "
                   f"elevsammansättningen: {sv_num(r.estimate, dec, sign=True)} {unit} per "
                   f"läsår (95 % KI {_ci(r.conf_low, r.conf_high, dec)}). Båda intervallen "
                   "utesluter noll. Att två trender följs åt på en skola visar inte att den "
                   "ena orsakar den andra.")
            if sq == sr:
                text = ("Både undervisningskvaliteten och resultaten har ökat. Vad i "
                        "undervisningen kan ligga bakom, och vad ska skolan fortsätta med?"
                        if sq > 0 else
                        "Både undervisningskvaliteten och resultaten har minskat. Vad kan ligga "
                        "bakom, och vad behöver skolan för att vända utvecklingen?")
                rule, prio = "samma_hall", 7
            else:
                text = ("Undervisningskvaliteten och resultaten har rört sig åt olika håll. Vad "
                        "kan förklara det: elevgrupperna, vilka lektioner som observerats, eller "
                        "att förändringar i undervisningen tar tid att synas i betygen?")
                rule, prio = "olika_hall", 7
            out.append(_row(sid, "samband", rule, prio, text, why, measure, qr["estimate"],
                            qr["conf_low"], qr["conf_high"], f"indexpoäng per läsår; {unit} "
                            "per läsår", ev.quality_period, r.estimate, r.conf_low,
                            r.conf_high))
    return out


def rules_underlag_tunt(ev: Evidence) -> list[dict[str, Any]]:
    """Thin evidence: low reliability in the latest shown term, or no term shown at all."""
    out: list[dict[str, Any]] = []
    idx = ev.index
    if idx is None or not len(idx):
        return out
    overall = idx[idx["level"] == "school"]
    if "dimension" in overall.columns:
        overall = overall[overall["dimension"] == "overall"]
    # plain rows per school, in the order groupby("unit") gives them
    by_unit: dict[Any, list[dict[str, Any]]] = {}
    for rec in overall.to_dict("records"):
        if not pd.isna(rec["unit"]):
            by_unit.setdefault(rec["unit"], []).append(rec)
    for sid in sorted(by_unit):
        part = by_unit[sid]
        shown = [rec for rec in part if not bool(rec["suppressed"])]
        if not shown:
            out.append(_row(sid, "underlag_tunt", "index_saknas", 6,
                            "Underlaget räcker inte för att visa skolans index. Hur kan "
                            "lektionsbesöken planeras så att underlaget räcker för en egen "
                            "bild av undervisningen?",
                            "Ingen termin har minst 5 observerade lektioner hos minst 3 lärare; "
                            "då visas inget index för skolan.", "overall", np.nan, np.nan,
                            np.nan, "", ""))
            continue
        # a term of the newest school year below the floors
        year_of = {rec["term"]: schema.term_school_year(str(rec["term"])) for rec in part}
        last_year = max(year_of.values())
        thin_terms = sorted((rec["term"] for rec in part
                             if bool(rec["suppressed"]) and year_of[rec["term"]] == last_year),
                            key=schema.term_index)
        if thin_terms:
            newest = thin_terms[0]
            nr = next(rec for rec in part if rec["term"] == newest)
            n_obs = float(nr.get("n_obs", np.nan))
            out.append(_row(sid, "underlag_tunt", "termin_under_golv", 7,
                            "Hur kan lektionsbesöken planeras så att underlaget räcker för "
                            "slutsatser om undervisningen nästa termin?",
                            f"Under {newest} observerades för få lektioner eller lärare för att "
                            "visa ett index (minst 5 lektioner hos minst 3 lärare).", "overall",
                            n_obs, np.nan, np.nan, "observerade lektioner", str(newest)))
        last = max((rec["term"] for rec in shown), key=schema.term_index)
        r = next(rec for rec in shown if rec["term"] == last)
        rel = float(r.get("reliability", np.nan))
        if np.isfinite(rel) and rel < LOW_RELIABILITY:
            out.append(_row(sid, "underlag_tunt", "reliabilitet_lag", 5,
                            "Hur kan observationerna ge en säkrare bild: fler besök, fler "
                            "observatörer eller parobservationer?",
                            f"Reliabiliteten för skolans index {last} var {sv_num(rel, 2)} "
                            f"(under {sv_num(LOW_RELIABILITY, 1)}): med så få observerade "
                            "lektioner lutar skattningen sig mycket mot kommunens genomsnitt "
                            "och skolans egen trend.", "overall", rel, np.nan, np.nan,
                            "reliabilitet (0–1)", str(last)))
    return out


_OUTCOME_SUBJECTS = {"attendance_pct": "närvaron",
                     "problematic_absence_pct": "andelen elever med problematisk frånvaro",
                     "offences_per_100": "anmälda kränkningar"}


def _outcome_subject(measure: str, label: str) -> str:
    """The outcome as the subject of a Swedish sentence ('studiero enligt Skolenkäten')."""
    if measure in _OUTCOME_SUBJECTS:
        return _OUTCOME_SUBJECTS[measure]
    if label.startswith("Skolenkäten") and ": " in label:
        return label.split(": ", 1)[1].lower() + " enligt Skolenkäten"
    return label[0].lower() + label[1:] if label else measure


def rules_utfall(ev: Evidence) -> list[dict[str, Any]]:
    """Outcomes beside grades: a clear trend over all years, better or worse by direction."""
    out: list[dict[str, Any]] = []
    for measure, tab in ev.outcomes.items():
        info = schema.measure_info(measure)
        if info.direction not in ("higher_better", "lower_better"):
            continue
        label = schema.measure_label(measure)
        name = _outcome_subject(measure, label)
        for r in tab[tab["component"] == "school_trend"].itertuples(index=False):
            side = _excludes_zero(r.conf_low, r.conf_high)
            if side == 0:
                continue
            better = (side > 0) == (info.direction == "higher_better")
            period = _period(r.first_year, r.last_year)
            why = (f"{label}, trend {period}: {sv_num(r.estimate, 2, sign=True)} {info.unit} "
                   f"per läsår (95 % KI {_ci(r.conf_low, r.conf_high, 2)}), skattad ur alla "
                   f"{r.n_years} läsår; "
                   + ("högre" if info.direction == "higher_better" else "lägre")
                   + " är bättre.")
            if better:
                rule, prio, text = ("utfall_battre", 4,
                                    f"Utvecklingen för {name} har gått åt det bättre under "
                                    "perioden. Vad i skolans arbete kan förklara det, och hur "
                                    "kan det hållas kvar?")
            else:
                rule, prio, text = ("utfall_samre", 8,
                                    f"Utvecklingen för {name} har gått åt det sämre under "
                                    "perioden. Vad ligger bakom, och vad i undervisningen och "
                                    "elevhälsoarbetet kan vända den?")
            out.append(_row(r.school_id, "utfall", rule, prio, text, why, measure, r.estimate,
                            r.conf_low, r.conf_high, f"{info.unit} per läsår", period))
    return out


RULES: dict[str, Callable[[Evidence], list[dict[str, Any]]]] = {
    "undervisning": rules_undervisning,
    "resultat": rules_resultat,
    "samband": rules_samband,
    "utfall": rules_utfall,
    "underlag_tunt": rules_underlag_tunt,
}
"""underlag -> the function that raises its questions (``plan`` joins here)."""


def dialogue_table(ev: Evidence, rules: dict[str, Callable[[Evidence], list[dict[str, Any]]]]
                   | None = None) -> pd.DataFrame:
    """Every question the evidence supports, one row each (see the module docstring).

    Sorted by school and then priority (highest first). Schools outside
    ``ev.schools`` (when given) get no questions.
    """
    rows: list[dict[str, Any]] = []
    for basis, rule in (rules or RULES).items():
        if basis not in UNDERLAG:
            raise ValueError(f"okänt underlag {basis!r}; möjliga: {', '.join(UNDERLAG)}")
        rows.extend(rule(ev))
    table = pd.DataFrame(rows, columns=COLUMNS)
    if ev.schools is not None:
        table = table[table["school_id"].isin([str(s) for s in ev.schools])]
    table = table.sort_values(["school_id", "priority", "underlag", "rule"],
                              ascending=[True, False, True, True], kind="stable")
    return table.reset_index(drop=True)


def select_questions(table: pd.DataFrame, school_id: str, k: int = 5) -> pd.DataFrame:
    """A school's questions, highest priority first, at most ``k`` and one per rule."""
    mine = table[table["school_id"] == str(school_id)]
    mine = mine.drop_duplicates(subset=["underlag", "rule"], keep="first")
    return mine.head(k).reset_index(drop=True)


def dialogue_evidence(ds: Any, measures: Sequence[str] = ("merit_17",), *,
                      quality: Any = None, growth_result: Any = None,
                      schools: Sequence[str] | None = None) -> Evidence:
    """Fit what the rules need from a Dataset (growth, and results trends per measure).

    ``quality`` (a ``TeachingQualityResult`` fitted with ``dimension="all"`` or
    ``"overall"``) adds the dimension and reliability rules; ``growth_result``
    reuses a fitted :func:`~undervisning_analys.models.growth.growth`.
    ``schools`` defaults to the organiser's own schools (``principal_type``
    kommunal) when the register says so, else every school. A measure whose
    results are too few for trends is left out.
    """
    from ..errors import ModelError
    from .growth import growth
    from .results_trend import results_trend

    g = growth_result if growth_result is not None else growth(ds, quality=quality)
    terms = g.info.get("terms", ())
    results: dict[str, pd.DataFrame] = {}
    for m in measures:
        try:
            results[m] = results_trend(ds, m).tidy()
        except ModelError:
            continue
    if schools is None:
        reg = ds.schools
        own = reg[reg["principal_type"].astype(str) == "kommunal"]["school_id"].astype(str)
        schools = list(own) if len(own) else None
    names = {**ds.instrument.dimension_names(), "overall": "Samlat index"}
    return Evidence(quality_trends=g.school_trends(),
                    quality_period=f"{terms[0]}–{terms[-1]}" if terms else "",
                    results=results, index=quality.tidy() if quality is not None else None,
                    dimension_names=names, schools=schools)
