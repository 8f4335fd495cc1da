"""Observer severity from paired observations: each observer against the others.

An aggregate diagnostic of the *ratings* for calibration; it never ranks teachers.
The model-based counterpart with a per-observer trend is :mod:`.drift`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from undervisning_analys._results import Result
from undervisning_analys.errors import ValidationError

from ._ratings import (
    Columns,
    _as_list,
    _check_columns,
    _check_duplicates,
    _check_frame,
    _check_ids,
    _fmt,
    _numeric_ratings,
    _pct_label,
    _show,
    _term_time,
)

__all__ = ["ObserverSeverityResult", "observer_severity"]


@dataclass(frozen=True, eq=False)
class ObserverSeverityResult(Result):
    """Per-observer deviation from the other raters of the same target.

    ``.tidy()``: one row per observer; ``.per_term()``: observer × term means (for the
    drift plot). A positive deviation means the observer scores higher (more
    generously) than the other observers of the same lessons.
    """

    table: pd.DataFrame = field(repr=False)
    term_table: pd.DataFrame = field(repr=False)
    by_term: str | None = None
    conf_level: float = 0.95
    n_unpaired: int = 0
    n_missing: int = 0

    def per_term(self) -> pd.DataFrame:
        return self.term_table.copy()

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def _summary_text(self) -> str:
        t = self.table
        lines = [
            "Bedömarnas stränghet jämfört med andra bedömare av samma lektion",
            f"{len(t)} bedömare, {int(t['n_ratings'].sum())} bedömningar av mål som "
            "också bedömts av någon annan.",
        ]
        if self.n_unpaired:
            lines.append(f"{self.n_unpaired} bedömningar saknade någon att jämföras med "
                         "och ingår inte.")
        if self.n_missing:
            lines.append(f"{self.n_missing} rader saknade poäng och ingår inte.")
        pct = _pct_label(self.conf_level)
        head = f"{'Bedömare':<14}{'Antal':>7}{'Avvikelse':>11}   {pct} % KI"
        if self.by_term:
            head += f"{'':>12}{'Förändring/år':>15}{'(medelfel)':>12}"
        lines += ["", head]
        for _, r in t.iterrows():
            ci = f"{_fmt(r['conf_low'])} till {_fmt(r['conf_high'])}"
            line = (f"{str(r['observer']):<14}{int(r['n_ratings']):>7}"
                    f"{_fmt(r['mean_deviation']):>11}   {ci:<20}")
            if self.by_term:
                line += f"{_fmt(r['slope']):>15}{'(' + _fmt(r['slope_se']) + ')':>12}"
            lines.append(line)
        lines += [
            "",
            "Avvikelse = bedömarens poäng minus medelvärdet av de andra bedömarnas poäng "
            "för samma mål, i genomsnitt. Positivt: ger högre poäng än andra (generösare); "
            "negativt: ger lägre poäng (strängare).",
        ]
        if self.by_term:
            lines.append(
                "Förändring/år = hur avvikelsen har ändrats per år över terminerna "
                "(lutning med medelfel); nära noll betyder att bedömaren är stabil."
            )
        lines.append(
            "Detta beskriver bedömningarna, inte lärarna: det är ett stöd för kalibrering "
            "av observatörer och rangordnar inga lärare. Få bedömningar ger osäkra värden."
        )
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """Mean deviation per observer (in id order, not ranked) with its interval."""
        import matplotlib.pyplot as plt

        t = self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 1.2 + 0.4 * len(t)))
        y = np.arange(len(t))[::-1]
        err = np.vstack([t["mean_deviation"] - t["conf_low"],
                         t["conf_high"] - t["mean_deviation"]])
        ax.errorbar(t["mean_deviation"], y, xerr=np.nan_to_num(err), fmt="o",
                    color="#1f4e79", capsize=3)
        ax.axvline(0, color="#888888", lw=1, ls="--")
        ax.set_yticks(y)
        ax.set_yticklabels([str(o) for o in t["observer"]])
        ax.set_xlabel("Genomsnittlig avvikelse från andra bedömare av samma mål (poäng)")
        ax.set_ylabel("Bedömare")
        ax.set_title("Bedömarnas stränghet (positivt = generösare)")
        return ax


def observer_severity(
    data: pd.DataFrame,
    targets: Columns,
    observer: str = "observer_id",
    score: str = "score",
    by_term: str | None = None,
    *,
    conf_level: float = 0.95,
) -> ObserverSeverityResult:
    """Each observer's mean deviation from the other raters of the same target.

    Parameters
    ----------
    data : long-format table, one row per rating (e.g. the observations table).
    targets : column(s) identifying what was rated (lesson and item).
    observer : column with the observer id.
    score : numeric score column.
    by_term : optional term column ("HT2023"/"VT2024", "2023/24" or numbers); when
        given, the drift of each observer's deviation over time is estimated.
    conf_level : level of the confidence intervals.

    Returns
    -------
    ObserverSeverityResult
        ``.tidy()``, one row per observer (sorted by id, never by value):
        observer, n_ratings, n_targets, mean_deviation, se, conf_low, conf_high and,
        with ``by_term``, n_terms, slope (change in deviation per year), slope_se,
        slope_conf_low, slope_conf_high. ``.per_term()``: observer × term means.

    Notes
    -----
    For a rating y of a target rated by m ≥ 2 observers, the deviation is
    y − mean(other observers' ratings of the target). Per observer: the mean
    deviation, its standard error sd/√n and a t interval; the drift is the OLS slope
    of the deviations on time in years (VT = year, HT = year + 0.5, school year
    "2023/24" = 2023) with its usual standard error and t interval (needs two
    distinct times). Ratings are treated as independent; several items from the same
    lesson make the standard errors somewhat too small.

    Missing data: rows with a missing score are left out (``n_missing``); ratings of
    targets that nobody else rated have no comparison and are left out
    (``n_unpaired``). These are aggregate rater diagnostics for calibration, not
    judgements of teachers.
    """
    _check_frame(data, "observer_severity")
    tcols = _as_list(targets)
    if not tcols:
        raise ValidationError("Ange minst en kolumn som identifierar målen med `targets=`")
    required = {"targets": tcols, "observer": [observer], "score": [score]}
    if by_term is not None:
        required["by_term"] = [by_term]
    _check_columns(data, required, "observer_severity")
    if not 0 < conf_level < 1:
        raise ValidationError(f"`conf_level` ska ligga mellan 0 och 1, men är {conf_level!r}")
    y = _numeric_ratings(data, score)
    d = data[tcols].copy()
    d["__obs__"] = data[observer]
    _check_ids(d, tcols + ["__obs__"])
    d["__y__"] = y
    if by_term is not None:
        d["__term__"] = data[by_term]
        d["__t__"] = _term_time(data[by_term], by_term)
    n_missing = int(d["__y__"].isna().sum())
    d = d[d["__y__"].notna()]
    _check_duplicates(d.rename(columns={"__obs__": observer}), tcols, observer)
    if d["__obs__"].nunique() < 2:
        raise ValidationError(
            f"Bedömarnas stränghet kräver minst två bedömare, men data har bara en "
            f"(`{observer}` = {_show(d['__obs__'].iloc[0] if len(d) else None)})",
            column=observer,
        )
    g = d.groupby(tcols, observed=True, dropna=False)["__y__"]
    tot = g.transform("sum")
    cnt = g.transform("count")
    d = d.assign(__m__=cnt)
    n_unpaired = int((cnt < 2).sum())
    d = d[d["__m__"] >= 2].copy()
    if d.empty:
        raise ValidationError(
            "Inget mål har bedömts av mer än en bedömare, så ingen bedömare kan jämföras "
            "med andra",
            hint="Kontrollera att `targets=` pekar ut samma lektion och item för båda",
        )
    d["__dev__"] = d["__y__"] - (tot[d.index] - d["__y__"]) / (d["__m__"] - 1)
    from scipy import stats

    alpha = 1 - conf_level
    # counted and looked up once for all observers (a loop over hundreds of observers
    # spent its time in these)
    n_targets_of = d.drop_duplicates(["__obs__", *tcols]).groupby(
        "__obs__", sort=True, observed=True).size()
    quantiles: dict[int, float] = {}

    def t_quantile(df: int) -> float:
        if df not in quantiles:
            quantiles[df] = stats.t.ppf(1 - alpha / 2, df)
        return quantiles[df]

    rows = []
    for obs, o in d.groupby("__obs__", sort=True, observed=True):
        dev = o["__dev__"].to_numpy()
        n = len(dev)
        mean = float(dev.mean())
        se = float(dev.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        tq = t_quantile(n - 1) if n > 1 else np.nan
        row: dict[str, Any] = {
            "observer": obs,
            "n_ratings": n,
            "n_targets": int(n_targets_of[obs]),
            "mean_deviation": mean,
            "se": se,
            "conf_low": mean - tq * se,
            "conf_high": mean + tq * se,
        }
        if by_term is not None:
            ok = o["__t__"].notna().to_numpy()
            tt, dv = o["__t__"].to_numpy()[ok], dev[ok]
            row["n_terms"] = int(o.loc[o["__t__"].notna(), "__term__"].nunique())
            slope = slope_se = np.nan
            if len(np.unique(tt)) >= 2 and len(tt) >= 3:
                tc = tt - tt.mean()
                sxx = float((tc**2).sum())
                slope = float((tc * (dv - dv.mean())).sum() / sxx)
                resid = dv - dv.mean() - slope * tc
                slope_se = float(np.sqrt((resid**2).sum() / (len(tt) - 2) / sxx))
            elif len(np.unique(tt)) >= 2:
                slope = float((dv[1] - dv[0]) / (tt[1] - tt[0]))
            tq2 = t_quantile(len(tt) - 2) if len(tt) > 2 else np.nan
            row.update({"slope": slope, "slope_se": slope_se,
                        "slope_conf_low": slope - tq2 * slope_se,
                        "slope_conf_high": slope + tq2 * slope_se})
        rows.append(row)
    table = pd.DataFrame(rows)
    if by_term is not None:
        pt = (d.groupby(["__obs__", "__term__", "__t__"], observed=True, sort=True)["__dev__"]
              .agg(n_ratings="count", mean_deviation="mean", sd="std").reset_index()
              .rename(columns={"__obs__": "observer", "__term__": "term", "__t__": "time"}))
        pt["se"] = pt["sd"] / np.sqrt(pt["n_ratings"])
        pt = pt.drop(columns="sd").sort_values(["observer", "time"]).reset_index(drop=True)
    else:
        pt = pd.DataFrame(columns=["observer", "term", "time", "n_ratings",
                                   "mean_deviation", "se"])
    return ObserverSeverityResult(
        table=table,
        term_table=pt,
        by_term=by_term,
        conf_level=conf_level,
        n_unpaired=n_unpaired,
        n_missing=n_missing,
    )
