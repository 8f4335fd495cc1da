"""Compose the outcomes beside grades for the reports: Skolenkäten, attendance, own measures.

Called once from :func:`~undervisning_analys.report.context.build_context`
(one hook). Nothing here estimates anything itself; it calls the library and
keeps privacy-checked tables in the context:

``outcomes``
    the outcome rows of ``results`` (group ``all``) for the schools (``unit`` =
    school code) and one comparison row per measure and school year for the
    municipality (``unit`` = ``kommun``) from
    :func:`~undervisning_analys.models.outcomes.municipality_values`: the
    source's own row, else the pupil-weighted mean of the organiser's schools
    where the data allow it, else a ``missing`` row whose ``reason`` says why.
    Every school value thus has its comparison row. All rows go through
    ``privacy.suppress_results``: a value from fewer than 10 pupils or
    respondents is ``..`` (``suppression_reason``); a computed municipality
    value that would give away a school under the floor is suppressed too.
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
from ..models.outcomes import (
    default_outcomes,
    dimension_for,
    link_outcomes,
    municipality_values,
    own_schools,
)
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
          & (r["level"].astype(str) == "school")].copy()
    # one row per school, year and measure (a school's own rows carry principal type
    # "all" or its organiser's type; never both from one source)
    r = r.drop_duplicates(["school_id", "school_year", "measure"])
    schools = pd.DataFrame({
        "unit": r["school_id"].astype(str).to_numpy(), "level": "school",
        "school_year": r["school_year"].astype(str).to_numpy(),
        "measure": r["measure"].astype(str).to_numpy(), "value": r["value"].to_numpy(),
        "n": r["n"].to_numpy(), "status": r["status"].astype(str).to_numpy(),
        "basis": "", "reason": ""})
    schools = privacy.suppress_results(schools, partitions={}, hierarchy=False,
                                       unknown_n="suppress")
    muni = municipality_values(ds, ms)
    muni.insert(0, "unit", MUNICIPALITY_UNIT)
    muni.insert(1, "level", "municipality")
    muni = privacy.suppress_results(muni, partitions={}, hierarchy=False,
                                    unknown_n="suppress")
    # a computed municipality value would give away a school under the floor
    # (from the other schools' values and counts): it is not shown either
    own = own_schools(ds)
    floored = schools[(schools["status"] == "suppressed") & schools["unit"].isin(own)
                      & (schools["suppression_reason"] != "prickat i källan")]
    hide = set(zip(floored["measure"], floored["school_year"], strict=True))
    for i in muni.index:
        if muni.at[i, "basis"] == "beräknat" and (muni.at[i, "measure"],
                                                  muni.at[i, "school_year"]) in hide:
            muni.at[i, "value"] = float("nan")
            muni.at[i, "status"] = "suppressed"
            muni.at[i, "suppression_reason"] = ("skulle röja värdet för en skola med färre "
                                                "än 10 elever")
    out = pd.concat([schools, muni], ignore_index=True)
    out["n"] = pd.array(pd.to_numeric(out["n"], errors="coerce"), dtype="Int64")
    tables[OUTCOMES] = out
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
