"""Equity between schools (likvärdighet): spread and relation to background per period.

The statistics the municipality report shows about equity, computed from what
:mod:`~undervisning_analys.measure` (the teaching-quality index) and
:mod:`~undervisning_analys.models.adjust` (the observed results per school)
return, after the privacy floors: a suppressed value never enters a spread or
a correlation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .. import schema

EQUITY_COLUMNS: tuple[str, ...] = ("quantity", "period", "school_year", "n_schools", "mean",
                                   "sd", "min", "max", "corr_parents_edu")
"""The columns of :func:`school_equity`."""

MIN_SCHOOLS = 3
"""Fewest schools with a shown value for a period to get a row."""


def school_equity(quality: pd.DataFrame | None, results: Mapping[str, pd.DataFrame],
                  background: pd.DataFrame, *, dimension: str = "overall") -> pd.DataFrame:
    """Between-school spread and relation to background, per period.

    Parameters
    ----------
    quality : a teaching-quality table (``teaching_quality(ds).tidy()``, after
        :func:`~undervisning_analys.privacy.suppress_quality`) or None. Its
        school rows (``level == "school"``) of ``dimension`` that are not
        ``suppressed`` are used, one period per term, value ``estimate``.
    results : measure -> an adjusted-results table
        (``adjusted_results(ds, measure=m).tidy()``, after
        :func:`~undervisning_analys.privacy.suppress_results`); one period per
        school year, value ``observed``. The order of the mapping is the order
        of the rows.
    background : ``Dataset.background``; its school rows give the share of
        pupils whose parents have post-secondary education
        (``share_parents_higher_edu``) per school and school year.
    dimension : the teaching-quality dimension used (default the overall index).

    Returns
    -------
    One row per quantity × period (columns :data:`EQUITY_COLUMNS`):
    ``quantity`` (``quality`` or the measure), ``period`` (term or school
    year), ``school_year``, ``n_schools``, ``mean``, ``sd`` (standard
    deviation between schools of the shown values, ``ddof=1``), ``min``,
    ``max`` and ``corr_parents_edu`` (Pearson correlation across schools with
    the parents' education share of the same school year). Rows are ordered by
    quantity (quality first) and period.

    Notes
    -----
    Missing data: a school without a shown value in a period is left out of
    that period; a period with fewer than :data:`MIN_SCHOOLS` schools gets no
    row. The correlation uses the schools with a known background share and is
    NaN when fewer than three have one or when either side does not vary.
    The teaching-quality values are the model's shrunken estimates, whose
    spread is smaller than the spread of the true school means; trends in the
    spread are comparable over time, levels are conservative.
    """
    rows: list[dict[str, Any]] = []
    bg = background
    bg = bg[bg["level"].astype(str) == "school"] if "level" in bg.columns else bg
    parents = bg.set_index(["school_id", "school_year"])["share_parents_higher_edu"]

    def add(quantity: str, period: str, sy: str, d: pd.DataFrame, col: str) -> None:
        d = d[d[col].notna()]
        if len(d) < MIN_SCHOOLS:
            return
        vals = d[col].astype(float)
        pe = np.array([parents.get((s, sy), np.nan) for s in d["school_id"]], dtype=float)
        ok = np.isfinite(pe)
        corr = (float(np.corrcoef(vals.to_numpy()[ok], pe[ok])[0, 1])
                if ok.sum() >= 3 and np.std(pe[ok]) > 0 and np.std(vals.to_numpy()[ok]) > 0
                else np.nan)
        rows.append({"quantity": quantity, "period": period, "school_year": sy,
                     "n_schools": int(len(d)), "mean": float(vals.mean()),
                     "sd": float(vals.std(ddof=1)), "min": float(vals.min()),
                     "max": float(vals.max()), "corr_parents_edu": corr})

    if quality is not None:
        q = quality
        qs = q[(q["level"] == "school") & (q["dimension"] == dimension) & ~q["suppressed"]]
        for term, g in qs.groupby("term", sort=False):
            add("quality", str(term), schema.term_school_year(str(term)),
                g.rename(columns={"unit": "school_id"}), "estimate")
    for m, t in results.items():
        for sy, g in t.groupby("school_year", sort=True):
            add(m, str(sy), str(sy), g, "observed")
    out = pd.DataFrame(rows, columns=list(EQUITY_COLUMNS))
    if len(out):
        key = out["period"].map(lambda p: schema.term_index(p) if p[:2] in ("HT", "VT")
                                else schema.school_year_start(p) + 0.75)
        order = {name: i for i, name in enumerate(["quality", *results])}
        out = out.assign(_q=out["quantity"].map(order), _k=key).sort_values(
            ["_q", "_k"]).drop(columns=["_q", "_k"])
    return out.reset_index(drop=True)


__all__ = ["EQUITY_COLUMNS", "MIN_SCHOOLS", "school_equity"]
