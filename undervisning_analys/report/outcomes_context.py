"""Compose the outcomes beside grades for the reports: Skolenkäten, attendance, own measures.

Called once from :func:`~undervisning_analys.report.context.build_context`
(one hook). Nothing here estimates anything itself; it calls the library and
keeps privacy-checked tables in the context:

``outcomes``
    the outcome rows of ``results`` (group ``all``; schools and the
    municipality, ``unit`` = school code or ``kommun``), through
    ``privacy.suppress_results``: a value from fewer than 10 pupils or
    respondents is ``..``.
``outcome_trends``
    :func:`~undervisning_analys.models.results_trend.results_trend` per
    outcome (observed values, not adjusted): each school's change per school
    year over all its years with a 95 % interval, and the municipality's.
``outcome_links``
    :func:`~undervisning_analys.models.outcomes.link_outcomes` with each
    outcome's default dimension (``DEFAULT_DIMENSIONS``) and lag 0 (a spring
    survey, a term's attendance: the same school year's teaching), with the
    number of comparisons and Holm-adjusted p-values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from .. import privacy, schema
from ..dataset import Dataset
from ..errors import UAError
from ..models.outcomes import default_outcomes, dimension_for, link_outcomes
from ..models.results_trend import results_trend

OUTCOMES = "outcomes"
TRENDS = "outcome_trends"
LINKS = "outcome_links"
MUNICIPALITY_UNIT = "kommun"


def outcome_measures(ds: Dataset) -> list[str]:
    """The outcomes the reports show, Skolenkäten's indices first, then the own measures."""
    ms = default_outcomes(ds)
    return sorted(ms, key=lambda m: (not m.startswith("skolenkat_"), m))


def outcome_tables(ds: Dataset, tables: dict[str, pd.DataFrame], notes: dict[str, str],
                   info: dict[str, Any], say: Callable[[str], None]) -> None:
    """Add the outcome tables to the context's ``tables`` (see module docstring)."""
    ms = outcome_measures(ds)
    if not ms:
        notes[OUTCOMES] = ("Datamängden har inga mått på elevernas upplevelse eller närvaro "
                           "(Skolenkäten, närvaro, egna mått).")
        return
    say("Elevernas upplevelse och närvaro")
    r = ds.results
    r = r[r["measure"].isin(ms) & (r["group"].astype(str) == "all")
          & r["level"].astype(str).isin(["school", "municipality"])].copy()
    # one municipality row per year and measure: the whole municipality ("all"), else the
    # municipality as organiser (Skolenkäten's huvudman row, "kommunal")
    r["_pt"] = r["principal_type"].astype(str).map({"all": 0, "kommunal": 1}).fillna(2)
    r = r.sort_values("_pt", kind="stable").drop_duplicates(
        ["level", "school_id", "school_year", "measure"])
    r["unit"] = [str(s) if lv == "school" else MUNICIPALITY_UNIT
                 for s, lv in zip(r["school_id"], r["level"].astype(str), strict=True)]
    out = r[["unit", "level", "school_year", "measure", "value", "n", "status"]].reset_index(
        drop=True)
    out["level"] = out["level"].astype(str)
    out["status"] = out["status"].astype(str)
    tables[OUTCOMES] = privacy.suppress_results(out, partitions={}, hierarchy=False,
                                                unknown_n="suppress")
    trends = []
    for m in ms:
        try:
            t = results_trend(ds, m, adjusted=False).tidy()
        except UAError as e:
            notes[f"{TRENDS}:{m}"] = f"{schema.measure_label(m)}: ingen trend ({e})"
            continue
        trends.append(t[t["component"].isin(["school_trend", "municipality_trend"])])
    if trends:
        t = pd.concat(trends, ignore_index=True)
        t["unit"] = [str(s) if lv == "school" else MUNICIPALITY_UNIT
                     for s, lv in zip(t["school_id"], t["level"], strict=True)]
        t["status"] = ["ok" if pd.notna(e) else "missing" for e in t["estimate"]]
        tables[TRENDS] = t.reset_index(drop=True)
    if len(ds.observations):
        dims = set(ds.instrument.dimension_names())
        pairs = {m: dimension_for(m, dims) for m in ms}
        try:
            res = link_outcomes(ds, pairs, lag=0)
        except UAError as e:
            notes[LINKS] = f"Sambanden med undervisningskvaliteten kunde inte skattas ({e})."
        else:
            tab = res.tidy()
            tab["status"] = ["ok" if pd.notna(e) else "missing" for e in tab["estimate"]]
            tables[LINKS] = tab
            info[LINKS] = {"n_comparisons": res.n_comparisons,
                           "sentence": res.comparisons_sentence(), "lag": 0}


__all__ = ["outcome_tables", "outcome_measures", "OUTCOMES", "TRENDS", "LINKS",
           "MUNICIPALITY_UNIT"]
