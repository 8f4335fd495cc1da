"""Rater agreement from paired observations: exact/adjacent agreement and weighted kappa.

The rating analyses live in one module per job (all take long-format data, one row
per target × rater rating, and share the checks of :mod:`._ratings`):

* :mod:`.intraclass` – :func:`icc`, the six Shrout & Fleiss (1979) intraclass
  correlations with F tests and confidence intervals, exactly as ``psych::ICC``;
* this module – :func:`agreement`, exact and adjacent agreement and Cohen's kappa
  (unweighted, linear and quadratic weights) for paired ratings of the same target,
  e.g. two observers scoring the same item in the same lesson;
* :mod:`.severity` – :func:`observer_severity`, each observer's deviation from the
  other observers of the same target and its drift over terms;
* :mod:`.pairs` – paired observations taken from a Dataset: agreement item by item,
  dimension and school year, and the double-coding design for next term;
* :mod:`.drift` – rater drift as part of the teaching-quality model.

``icc`` and ``observer_severity`` are re-exported here, so
``from undervisning_analys.measure.agreement import icc`` keeps working.

A "target" is whatever was rated, identified by one or more columns: for lesson
observations typically a lesson (``observation``-level key such as school, teacher
and date, or a lesson id) together with ``item_id``.

References
----------
Shrout, P. E. & Fleiss, J. L. (1979). Intraclass correlations: uses in assessing
rater reliability. Psychological Bulletin, 86(2), 420–428.
McGraw, K. O. & Wong, S. P. (1996). Forming inferences about some intraclass
correlation coefficients. Psychological Methods, 1(1), 30–46.
Koo, T. K. & Li, M. Y. (2016). A guideline of selecting and reporting intraclass
correlation coefficients for reliability research. J. Chiropractic Medicine, 15, 155–163.
Cohen, J. (1968). Weighted kappa. Psychological Bulletin, 70(4), 213–220.
Fleiss, J. L., Cohen, J. & Everitt, B. S. (1969). Large sample standard errors of
kappa and weighted kappa. Psychological Bulletin, 72(5), 323–327.
Landis, J. R. & Koch, G. G. (1977). The measurement of observer agreement for
categorical data. Biometrics, 33(1), 159–174.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from undervisning_analys._format import Z_95
from undervisning_analys._results import Result
from undervisning_analys.errors import ScaleError, ValidationError

from ._ratings import (
    OVERALL,
    Columns,
    _as_list,
    _check_columns,
    _check_duplicates,
    _check_frame,
    _check_ids,
    _fmt,
    _landis_koch,
    _numeric_ratings,
    _show,
    koo_li_band,
)
from .intraclass import ICC_TYPES, ICCResult, icc
from .severity import ObserverSeverityResult, observer_severity

__all__ = [
    "AgreementResult",
    "ICCResult",
    "ICC_TYPES",
    "ObserverSeverityResult",
    "agreement",
    "icc",
    "koo_li_band",
    "observer_severity",
]


# --------------------------------------------------------------------------- kappa
def _kappa(table: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted kappa and its large-sample SE (Fleiss, Cohen & Everitt 1969).

    ``table`` holds counts (rows: first rater, columns: second rater), ``w`` agreement
    weights (identity for unweighted kappa). With the identity the SE equals
    ``psych::cohen.kappa``'s ``var.kappa``.
    """
    n = table.sum()
    p = table / n
    pr, pc = p.sum(axis=1), p.sum(axis=0)
    po = float((w * p).sum())
    pe = float((w * np.outer(pr, pc)).sum())
    if not n or np.isclose(1 - pe, 0):
        return np.nan, np.nan
    kappa = (po - pe) / (1 - pe)
    wi = w @ pc          # wbar_i. = sum_j p_.j w_ij
    wj = w.T @ pr        # wbar_.j = sum_i p_i. w_ij
    a = w * (1 - pe) - (wi[:, None] + wj[None, :]) * (1 - po)
    var = ((p * a**2).sum() - (po * pe - 2 * pe + po) ** 2) / (n * (1 - pe) ** 4)
    return float(kappa), float(np.sqrt(var)) if var >= 0 else np.nan


def _kappa_row(x: np.ndarray, y: np.ndarray, lo: int, hi: int) -> dict[str, float]:
    cats = hi - lo + 1
    n = len(x)
    row: dict[str, float] = {"n_pairs": n}
    if n == 0:
        for c in ("exact", "adjacent", "kappa", "kappa_se", "kappa_linear",
                  "kappa_linear_se", "kappa_quadratic", "kappa_quadratic_se"):
            row[c] = np.nan
        return row
    diff = np.abs(x - y)
    row["exact"] = float(np.mean(diff == 0))
    row["adjacent"] = float(np.mean(diff <= 1))
    tab = np.zeros((cats, cats))
    np.add.at(tab, (x.astype(int) - lo, y.astype(int) - lo), 1)
    dist = np.abs(np.subtract.outer(np.arange(cats), np.arange(cats)))
    weights = {
        "kappa": np.eye(cats),
        "kappa_linear": 1 - dist / (cats - 1),
        "kappa_quadratic": 1 - dist**2 / (cats - 1) ** 2,
    }
    for name, w in weights.items():
        k, se = _kappa(tab, w)
        row[name] = k
        row[name + "_se"] = se
    return row


@dataclass(frozen=True, eq=False)
class AgreementResult(Result):
    """Exact/adjacent agreement and Cohen's kappa for paired ratings (see :func:`agreement`).

    Attributes
    ----------
    pairs : the rating pairs behind every number (unit columns, rater_a, rater_b,
        rating_a, rating_b, with rater_a < rater_b).
    scale : the (min, max) of the rating scale.
    by : the grouping columns (empty when none).
    n_missing : rows whose rating was missing (left out before pairing).
    n_unpaired : targets with a single rating (no pair, not used).
    """

    table: pd.DataFrame = field(repr=False)
    pairs_table: pd.DataFrame = field(repr=False)
    scale: tuple[int, int]
    by: tuple[str, ...] = ()
    n_missing: int = 0
    n_unpaired: int = 0

    @property
    def pairs(self) -> pd.DataFrame:
        return self.pairs_table.copy()

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def _summary_text(self) -> str:
        t = self.table
        lo, hi = self.scale
        tot = t[t["group"] == OVERALL].iloc[0]
        lines = [
            f"Samstämmighet i parobservationer (skala {lo}–{hi})",
            f"{int(tot['n_pairs'])} par av bedömningar av samma mål "
            f"({int(tot['n_targets'])} mål med minst två bedömningar).",
        ]
        if self.n_unpaired:
            lines.append(f"{self.n_unpaired} mål hade bara en bedömning och ingår inte.")
        if self.n_missing:
            lines.append(f"{self.n_missing} rader saknade poäng och ingår inte.")
        glen = max(7, *(len(str(g)) for g in t["group"])) + 2
        lines += [
            "",
            f"{'Grupp':<{glen}}{'Par':>6}{'Exakt':>8}{'±1 steg':>9}{'Kappa':>8}"
            f"{'Linjär':>9}{'Kvadr.':>9}",
        ]
        for _, r in t.iterrows():
            lines.append(
                f"{str(r['group']):<{glen}}{int(r['n_pairs']):>6}"
                f"{_fmt(r['exact'] * 100, 0) + ' %':>8}{_fmt(r['adjacent'] * 100, 0) + ' %':>9}"
                f"{_fmt(r['kappa']):>8}{_fmt(r['kappa_linear']):>9}"
                f"{_fmt(r['kappa_quadratic']):>9}"
            )
        kq = tot["kappa_quadratic"]
        se = tot["kappa_quadratic_se"]
        ci = (f" (95 % konfidensintervall {_fmt(kq - Z_95 * se)} till {_fmt(kq + Z_95 * se)})"
              if np.isfinite(se) else "")
        lines += [
            "",
            "Exakt = andelen par där båda bedömarna gav samma poäng; ±1 steg = andelen par "
            "som skiljer sig högst ett steg på skalan.",
            "Kappa räknar bort den samstämmighet som slumpen ensam skulle ge "
            "(0 = som slumpen, 1 = full samstämmighet). Den viktade kappan (linjär, "
            "kvadratisk) ger delvis poäng när bedömarna nästan är överens.",
            f"Totalt är den kvadratiskt viktade kappan {_fmt(kq)}{ci}, vilket enligt "
            f"Landis & Koch (1977) är {_landis_koch(kq)} samstämmighet.",
            "Alla skalsteg räknas, också de som ingen använt. När ett mål har fler än två "
            "bedömare ingår alla par av bedömare.",
        ]
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """Exact and adjacent agreement (bars) and quadratic weighted kappa (points)."""
        import matplotlib.pyplot as plt

        t = self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 1.2 + 0.5 * len(t)))
        y = np.arange(len(t))[::-1]
        h = 0.35
        ax.barh(y + h / 2, t["adjacent"], height=h, color="#9ecae1", label="±1 steg")
        ax.barh(y - h / 2, t["exact"], height=h, color="#3182bd", label="Exakt samma poäng")
        se = t["kappa_quadratic_se"].fillna(0)
        ax.errorbar(t["kappa_quadratic"], y, xerr=1.96 * se, fmt="D", color="#e6550d",
                    capsize=3, label="Kappa, kvadratiskt viktad (95 % KI)")
        ax.set_yticks(y)
        ax.set_yticklabels([str(g) for g in t["group"]])
        ax.set_xlim(min(0.0, float(np.nanmin(t["kappa_quadratic"] - Z_95 * se)) - 0.05), 1.0)
        ax.set_xlabel("Andel par / kappa")
        ax.set_title(f"Samstämmighet i parobservationer (skala {self.scale[0]}–{self.scale[1]})")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8,
                  frameon=False)
        return ax


def _make_pairs(d: pd.DataFrame, unit: list[str], rater: str) -> pd.DataFrame:
    """All pairs of ratings within each unit; raters sorted by id (rater_a < rater_b)."""
    d = d.sort_values(unit + [rater], kind="mergesort").copy()
    d["__pos__"] = d.groupby(unit, sort=False, observed=True, dropna=False).cumcount()
    left = d.rename(columns={rater: "rater_a", "__y__": "rating_a", "__pos__": "pos_a"})
    right = d.rename(columns={rater: "rater_b", "__y__": "rating_b", "__pos__": "pos_b"})
    m = left.merge(right, on=unit, how="inner")
    m = m[m["pos_a"] < m["pos_b"]]
    return m[unit + ["rater_a", "rater_b", "rating_a", "rating_b"]].reset_index(drop=True)


def _check_scale(scale: Any) -> tuple[int, int]:
    try:
        lo, hi = scale
        ok = float(lo).is_integer() and float(hi).is_integer() and hi > lo
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValidationError(
            f"`scale` ska vara skalans lägsta och högsta heltal, t.ex. (1, 4), men är {scale!r}",
            hint="Ange observationsprotokollets skala",
        )
    return int(lo), int(hi)


def agreement(
    data: pd.DataFrame,
    targets: Columns,
    raters: str,
    ratings: str,
    scale: tuple[int, int] = (1, 4),
    by: Columns | None = None,
) -> AgreementResult:
    """Agreement between raters who scored the same target (paired observations).

    Parameters
    ----------
    data : long-format table, one row per rating (e.g. the observations table).
    targets : column(s) identifying what was rated: the lesson and, unless ``by``
        holds it, the item (e.g. ``["school_id", "teacher_id", "date", "item_id"]``).
    raters : column identifying the rater (e.g. ``observer_id``).
    ratings : integer scores on the scale.
    scale : (min, max) of the rating scale; every category in between counts in the
        kappas even if nobody used it (as ``psych::cohen.kappa(x, levels = lo:hi)``).
    by : optional column(s) to break the results down by (e.g. ``item_id`` or a
        dimension). Pairs are formed within each target and group.

    Returns
    -------
    AgreementResult
        ``.tidy()``: one row per group and an overall row (``group == "Totalt"``)
        with n_targets, n_pairs, exact (share of pairs with the same score),
        adjacent (share differing by at most one step), kappa (unweighted Cohen),
        kappa_linear and kappa_quadratic (weights 1 − |i−j|/(K−1) and
        1 − (i−j)²/(K−1)²), each kappa with its large-sample standard error (``_se``).

    Notes
    -----
    Pairs: within each target (and group) the raters are sorted by id and every pair
    i < j gives one pair (rating of i, rating of j); a target with three raters gives
    three pairs. The kappas are Cohen's for the pooled table of pairs, identical to
    ``psych::cohen.kappa`` on that two-column table. Standard errors follow Fleiss,
    Cohen & Everitt (1969); for unweighted kappa this equals psych's ``var.kappa``,
    for the weighted kappas it equals statsmodels' ``cohens_kappa`` (psych's
    ``var.weighted`` uses a different marginal term). Pairs from the same lesson are
    treated as independent, so the standard errors are somewhat too small when one
    lesson contributes many items.

    Missing data: rows with a missing rating are left out before pairing (counted in
    ``n_missing``); targets left with a single rating have no pair (counted in
    ``n_unpaired``). Ratings off the scale or not whole numbers are errors
    (:class:`~undervisning_analys.errors.ScaleError`).
    """
    _check_frame(data, "agreement")
    tcols = _as_list(targets)
    bcols = _as_list(by)
    if not tcols:
        raise ValidationError("Ange minst en kolumn som identifierar målen med `targets=`")
    _check_columns(data, {"targets": tcols, "raters": [raters], "ratings": [ratings],
                          "by": bcols}, "agreement")
    lo, hi = _check_scale(scale)
    y = _numeric_ratings(data, ratings)
    unit = bcols + [c for c in tcols if c not in bcols]
    d = data[unit].copy()
    d[raters] = data[raters]
    _check_ids(d, tcols + [raters])
    d["__y__"] = y
    n_missing = int(d["__y__"].isna().sum())
    d = d[d["__y__"].notna()]
    off = (d["__y__"] < lo) | (d["__y__"] > hi) | (d["__y__"] % 1 != 0)
    if off.any():
        idx = off[off].index[0]
        raise ScaleError(
            f"Kolumnen `{ratings}` har värdet {_show(data.loc[idx, ratings])} på raden med index "
            f"{_show(idx)}, men skalan är heltalen {lo}–{hi} ({int(off.sum())} sådana rader)",
            column=ratings,
            hint="Rätta värdet eller ange rätt skala med `scale=`",
        )
    _check_duplicates(d, unit, raters)
    if d[raters].nunique() < 2:
        only = d[raters].iloc[0] if len(d) else None
        raise ValidationError(
            f"Samstämmighet kräver minst två bedömare, men data har bara en "
            f"(`{raters}` = {_show(only)})",
            column=raters,
            hint="Ta med parobservationer där två bedömare har bedömt samma lektion",
        )
    counts = d.groupby(unit, observed=True, dropna=False).size()
    n_unpaired = int((counts == 1).sum())
    pairs = _make_pairs(d, unit, raters)
    if pairs.empty:
        raise ValidationError(
            "Inget mål har bedömts av mer än en bedömare, så det finns inga par att jämföra",
            hint="Kontrollera att `targets=` pekar ut samma lektion (och samma item) "
                 "för båda observatörerna",
        )
    rows: list[dict[str, Any]] = []
    if bcols:
        for key, g in pairs.groupby(bcols, observed=True, dropna=False, sort=True):
            key_t = key if isinstance(key, tuple) else (key,)
            label = " | ".join("saknas" if pd.isna(v) else str(v) for v in key_t)
            row: dict[str, Any] = {"group": label}
            row.update(dict(zip(bcols, key_t)))
            row["n_targets"] = int(len(g[unit].drop_duplicates()))
            row.update(_kappa_row(g["rating_a"].to_numpy(), g["rating_b"].to_numpy(), lo, hi))
            rows.append(row)
    overall: dict[str, Any] = {"group": OVERALL}
    overall.update({c: pd.NA for c in bcols})
    overall["n_targets"] = int(len(pairs[unit].drop_duplicates()))
    overall.update(_kappa_row(pairs["rating_a"].to_numpy(), pairs["rating_b"].to_numpy(),
                              lo, hi))
    rows.append(overall)
    table = pd.DataFrame(rows)
    table["n_pairs"] = table["n_pairs"].astype(int)
    cols = (["group"] + bcols + ["n_targets", "n_pairs", "exact", "adjacent", "kappa",
            "kappa_se", "kappa_linear", "kappa_linear_se", "kappa_quadratic",
            "kappa_quadratic_se"])
    return AgreementResult(
        table=table[cols],
        pairs_table=pairs,
        scale=(lo, hi),
        by=tuple(bcols),
        n_missing=n_missing,
        n_unpaired=n_unpaired,
    )


