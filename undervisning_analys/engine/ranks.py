"""How uncertain an order of estimates is: rank intervals by simulation.

A chart that orders schools by an estimate invites a reading as a ranking.
:func:`rank_intervals` says how far each unit's place could move given the
estimates' uncertainty: draws from each estimate's normal sampling
distribution (independent, with its standard error), the unit's rank in each
draw, and the central ``level`` interval of those ranks (Goldstein &
Spiegelhalter 1996; Marshall & Spiegelhalter 1998). Rank 1 is the highest
estimate. The draws use a fixed seed, so the intervals are reproducible.

References
----------
Goldstein, H. & Spiegelhalter, D. J. (1996). League tables and their
limitations. JRSS A, 159(3), 385–443.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from undervisning_analys.errors import ValidationError

__all__ = ["rank_intervals"]


def rank_intervals(estimate: pd.Series | np.ndarray, se: pd.Series | np.ndarray, *,
                   level: float = 0.95, draws: int = 4000, seed: int = 20240101
                   ) -> pd.DataFrame:
    """Each unit's rank (1 = highest) and its ``level`` interval over ``draws`` draws.

    Parameters
    ----------
    estimate, se : equal-length arrays; rows with a missing estimate or SE get
        missing ranks and do not take part in the ranking.
    level : the interval's coverage (0.95: the 2.5 % and 97.5 % quantiles).
    draws : number of simulated sets of estimates.
    seed : the random seed (fixed: the same input gives the same intervals).

    Returns
    -------
    DataFrame with ``rank`` (of the estimate itself), ``rank_low`` and
    ``rank_high`` (the interval; ``rank_low`` the better place), ``n_ranked``;
    the index of ``estimate`` when it is a Series.
    """
    est = np.asarray(estimate, dtype=float)
    s = np.asarray(se, dtype=float)
    if est.shape != s.shape or est.ndim != 1:
        raise ValidationError("Skattningar och medelfel måste vara lika långa listor",
                              hint="Ange en skattning och ett medelfel per enhet.")
    if not 0 < level < 1:
        raise ValidationError(f"Nivån måste ligga mellan 0 och 1, men är {level}",
                              hint="Ange till exempel level=0.95.")
    ok = np.isfinite(est) & np.isfinite(s) & (s >= 0)
    n = int(ok.sum())
    rank = np.full(est.shape, np.nan)
    low = np.full(est.shape, np.nan)
    high = np.full(est.shape, np.nan)
    if n:
        e, sd = est[ok], s[ok]
        # rank 1 = highest; ties share the better place
        rank[ok] = (e[None, :] > e[:, None]).sum(axis=1) + 1
        rng = np.random.default_rng(seed)
        sim = e[None, :] + rng.standard_normal((draws, n)) * sd[None, :]
        order = np.argsort(-sim, axis=1, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(1, n + 1)[None, :].repeat(draws, 0), axis=1)
        a = (1 - level) / 2
        low[ok] = np.floor(np.quantile(ranks, a, axis=0, method="lower"))
        high[ok] = np.ceil(np.quantile(ranks, 1 - a, axis=0, method="higher"))
    index = estimate.index if isinstance(estimate, pd.Series) else None
    return pd.DataFrame({"rank": rank, "rank_low": low, "rank_high": high,
                         "n_ranked": n}, index=index)
