"""Intraclass correlations: the six Shrout & Fleiss (1979) forms, as ``psych::ICC``.

References
----------
Shrout, P. E. & Fleiss, J. L. (1979). Intraclass correlations: uses in assessing
rater reliability. Psychological Bulletin, 86(2), 420–428.
McGraw, K. O. & Wong, S. P. (1996). Forming inferences about some intraclass
correlation coefficients. Psychological Methods, 1(1), 30–46.
Koo, T. K. & Li, M. Y. (2016). A guideline of selecting and reporting intraclass
correlation coefficients for reliability research. J. Chiropractic Medicine, 15, 155–163.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from undervisning_analys._results import Result
from undervisning_analys.errors import DataDroppedWarning, ValidationError

from ._ratings import (
    Columns,
    _as_list,
    _check_columns,
    _check_duplicates,
    _check_frame,
    _check_ids,
    _fmt,
    _fmt_p,
    _numeric_ratings,
    _pct_label,
    _show,
    koo_li_band,
)

__all__ = ["ICCResult", "ICC_TYPES", "icc"]

ICC_TYPES: tuple[str, ...] = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")


# --------------------------------------------------------------------------- ICC
_ICC_DESCRIPTION = {
    "ICC1": "ICC(1,1): en bedömare, envägsmodell (bedömarna kan skilja sig mellan målen)",
    "ICC2": "ICC(2,1): en bedömare, slumpvisa bedömare, absolut överensstämmelse",
    "ICC3": "ICC(3,1): en bedömare, fasta bedömare, konsistens",
    "ICC1k": "ICC(1,{k}): medelvärdet av {k} bedömare, envägsmodell",
    "ICC2k": "ICC(2,{k}): medelvärdet av {k} bedömare, slumpvisa bedömare, "
             "absolut överensstämmelse",
    "ICC3k": "ICC(3,{k}): medelvärdet av {k} bedömare, fasta bedömare, konsistens",
}


@dataclass(frozen=True, eq=False)
class ICCResult(Result):
    """The six Shrout & Fleiss intraclass correlations (see :func:`icc`).

    Attributes
    ----------
    n_targets, n_raters : complete targets and raters used.
    n_dropped : targets left out because at least one rater's rating was missing.
    conf_level : level of the confidence intervals.
    raters_numbered : True when raters were numbered within targets (``raters=None``).
    anova : the two-way ANOVA table (source, df, ss, ms, f, p) behind every number.
    """

    table: pd.DataFrame = field(repr=False)
    anova_table: pd.DataFrame = field(repr=False)
    n_targets: int
    n_raters: int
    n_dropped: int
    conf_level: float = 0.95
    raters_numbered: bool = False

    @property
    def anova(self) -> pd.DataFrame:
        return self.anova_table.copy()

    @property
    def headline(self) -> str:
        """The form the summary interprets: ICC1 for numbered raters, else ICC2."""
        return "ICC1" if self.raters_numbered else "ICC2"

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def _summary_text(self) -> str:
        t = self.table.set_index("type")
        pct = _pct_label(self.conf_level)
        lines = [
            "Samstämmighet mellan bedömare: intraklasskorrelation (ICC, Shrout & Fleiss 1979)",
            f"{self.n_targets} bedömda mål med {self.n_raters} bedömningar vardera.",
        ]
        if self.n_dropped:
            lines.append(
                f"{self.n_dropped} mål saknade minst en bedömning och ingår inte "
                "(ICC kräver att varje mål har bedömts av alla bedömare)."
            )
        lines += ["", f"{'Form':<10}{'ICC':>7}   {pct} % konfidensintervall{'F':>9}{'p':>10}"]
        for typ in ICC_TYPES:
            r = t.loc[typ]
            label = r["description"].split(":")[0]
            ci = f"{_fmt(r['conf_low'])} till {_fmt(r['conf_high'])}"
            lines.append(
                f"{label:<10}{_fmt(r['icc']):>7}   {ci:<26}{_fmt(r['f']):>7}{_fmt_p(r['p']):>10}"
            )
        h = t.loc[self.headline]
        hk = t.loc[self.headline + "k"]
        low_band, high_band = koo_li_band(h["conf_low"]), koo_li_band(h["conf_high"])
        span = (f"ligger helt inom nivån {low_band}" if low_band == high_band
                else f"sträcker sig från {low_band} till {high_band}")
        lines += [
            "",
            "Vad betyder det? ICC är den andel av skillnaderna i poäng som beror på verkliga "
            "skillnader mellan det som bedöms (t.ex. lektioner) och inte på vem som bedömer. "
            "1 betyder full samstämmighet, 0 att poängen inte säger något utöver bedömaren.",
            f"För en enskild bedömare ({h['description'].split(':')[0]}) är ICC "
            f"{_fmt(h['icc'])}, vilket enligt Koo & Li (2016) är {koo_li_band(h['icc'])} "
            f"tillförlitlighet. Konfidensintervallet ({_fmt(h['conf_low'])} till "
            f"{_fmt(h['conf_high'])}) {span}; det visar hur osäker skattningen är.",
            f"Medelvärdet av {self.n_raters} bedömare ({hk['description'].split(':')[0]}) "
            f"är säkrare: ICC {_fmt(hk['icc'])} ({koo_li_band(hk['icc'])}).",
            "Gränser enligt Koo & Li: under 0,50 svag, 0,50–0,75 måttlig, 0,75–0,90 god, "
            "över 0,90 utmärkt.",
        ]
        if self.raters_numbered:
            lines.append(
                "Bedömarna numrerades inom varje mål (olika bedömare för olika mål); "
                "då är envägsformerna ICC(1,·) de som ska läsas."
            )
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """ICC of every form with its confidence interval over the Koo & Li bands."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        t = self.table
        y = np.arange(len(t))[::-1]
        bands = [(-1.0, 0.5, "svag"), (0.5, 0.75, "måttlig"), (0.75, 0.9, "god"),
                 (0.9, 1.0, "utmärkt")]
        shades = ["#f2f2f2", "#e3e3e3", "#d4d4d4", "#c5c5c5"]
        lo = min(0.0, float(np.nanmin(t["conf_low"])) - 0.05)
        for (a, b, name), col in zip(bands, shades):
            ax.axvspan(max(a, lo), b, color=col, zorder=0)
            ax.text((max(a, lo) + b) / 2, len(t) - 0.4, name, ha="center", va="bottom",
                    fontsize=8, color="#555555")
        err = np.vstack([t["icc"] - t["conf_low"], t["conf_high"] - t["icc"]])
        ax.errorbar(t["icc"], y, xerr=err, fmt="o", color="#1f4e79", capsize=3, zorder=3)
        ax.set_yticks(y)
        ax.set_yticklabels([d.split(":")[0] for d in t["description"]])
        ax.set_xlim(lo, 1.0)
        ax.set_ylim(-0.7, len(t) - 0.1)
        pct = _pct_label(self.conf_level)
        ax.set_xlabel(f"ICC med {pct} % konfidensintervall")
        ax.set_title("Samstämmighet mellan bedömare")
        return ax


def _anova_two_way(y: np.ndarray) -> dict[str, float]:
    """Mean squares of the two-way (targets × raters) ANOVA without replication."""
    n, k = y.shape
    grand = y.mean()
    ss_b = k * float(((y.mean(axis=1) - grand) ** 2).sum())
    ss_j = n * float(((y.mean(axis=0) - grand) ** 2).sum())
    ss_t = float(((y - grand) ** 2).sum())
    ss_e = ss_t - ss_b - ss_j
    df_b, df_j, df_e = n - 1, k - 1, (n - 1) * (k - 1)
    return {
        "ss_b": ss_b, "ss_j": ss_j, "ss_e": ss_e,
        "df_b": df_b, "df_j": df_j, "df_e": df_e,
        "msb": ss_b / df_b, "msj": ss_j / df_j, "mse": ss_e / df_e,
        "msw": (ss_j + ss_e) / (df_j + df_e),
    }


def _icc_table(y: np.ndarray, alpha: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The psych::ICC results table (lmer = FALSE) for a complete n × k matrix."""
    from scipy import stats

    n, k = y.shape
    a = _anova_two_way(y)
    msb, msj, mse, msw = a["msb"], a["msj"], a["mse"], a["msw"]
    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (msb - msw) / (msb + (k - 1) * msw)
        icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
        icc3 = (msb - mse) / (msb + (k - 1) * mse)
        icc1k = (msb - msw) / msb
        icc2k = (msb - mse) / (msb + (msj - mse) / n)
        icc3k = (msb - mse) / msb

        f11 = msb / msw
        df11n, df11d = n - 1, n * (k - 1)
        p11 = stats.f.sf(f11, df11n, df11d)
        f21 = msb / mse
        df21n, df21d = n - 1, (n - 1) * (k - 1)
        p21 = stats.f.sf(f21, df21n, df21d)

        q = 1 - alpha / 2
        f1l = f11 / stats.f.ppf(q, df11n, df11d)
        f1u = f11 * stats.f.ppf(q, df11d, df11n)
        f3l = f21 / stats.f.ppf(q, df21n, df21d)
        f3u = f21 * stats.f.ppf(q, df21d, df21n)
        ci1 = ((f1l - 1) / (f1l + (k - 1)), (f1u - 1) / (f1u + k - 1))
        ci3 = ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1))
        ci1k = (1 - 1 / f1l, 1 - 1 / f1u)
        ci3k = (1 - 1 / f3l, 1 - 1 / f3u)

        # ICC(2,1): Satterthwaite-type df as in psych::ICC (McGraw & Wong 1996)
        fj = msj / mse
        vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        fu = stats.f.ppf(q, n - 1, v)
        fl = stats.f.ppf(q, v, n - 1)
        l2 = n * (msb - fu * mse) / (fu * (k * msj + (k * n - k - n) * mse) + n * msb)
        u2 = n * (fl * msb - mse) / (k * msj + (k * n - k - n) * mse + n * fl * msb)
        ci2 = (l2, u2)
        ci2k = (l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1)))

    rows = [
        ("ICC1", icc1, f11, df11n, df11d, p11, ci1),
        ("ICC2", icc2, f21, df21n, df21d, p21, ci2),
        ("ICC3", icc3, f21, df21n, df21d, p21, ci3),
        ("ICC1k", icc1k, f11, df11n, df11d, p11, ci1k),
        ("ICC2k", icc2k, f21, df21n, df21d, p21, ci2k),
        ("ICC3k", icc3k, f21, df21n, df21d, p21, ci3k),
    ]
    table = pd.DataFrame(
        {
            "type": [r[0] for r in rows],
            "description": [_ICC_DESCRIPTION[r[0]].format(k=k) for r in rows],
            "icc": [float(r[1]) for r in rows],
            "f": [float(r[2]) for r in rows],
            "df1": [int(r[3]) for r in rows],
            "df2": [int(r[4]) for r in rows],
            "p": [float(r[5]) for r in rows],
            "conf_low": [float(r[6][0]) for r in rows],
            "conf_high": [float(r[6][1]) for r in rows],
        }
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        anova = pd.DataFrame(
            {
                "source": ["targets", "raters", "residual"],
                "df": [a["df_b"], a["df_j"], a["df_e"]],
                "ss": [a["ss_b"], a["ss_j"], a["ss_e"]],
                "ms": [msb, msj, mse],
                "f": [msb / mse, msj / mse, np.nan],
                "p": [stats.f.sf(msb / mse, a["df_b"], a["df_e"]),
                      stats.f.sf(msj / mse, a["df_j"], a["df_e"]), np.nan],
            }
        )
    return table, anova


def icc(
    data: pd.DataFrame,
    targets: Columns,
    raters: str | None,
    ratings: str,
    *,
    conf_level: float = 0.95,
) -> ICCResult:
    """The six Shrout & Fleiss (1979) intraclass correlations, as ``psych::ICC``.

    Parameters
    ----------
    data : long-format table, one row per rating of a target by a rater.
    targets : column(s) identifying what was rated (e.g. a lesson, or lesson and item).
    raters : column identifying the rater (e.g. ``observer_id``). ``None`` numbers the
        raters within each target in the order the rows come (1, 2, …): use this when
        different targets were rated by different raters (paired observations with
        changing pairs); then only the one-way forms ICC(1,·) are meaningful.
    ratings : numeric column with the ratings.
    conf_level : level of the confidence intervals (default 0.95).

    Returns
    -------
    ICCResult
        ``.tidy()`` has one row per form – type (psych's names ICC1, ICC2, ICC3,
        ICC1k, ICC2k, ICC3k), description (Swedish, with the Shrout–Fleiss
        notation), icc, f, df1, df2, p, conf_low, conf_high.

    Notes
    -----
    The mean squares come from the two-way ANOVA of the complete targets × raters
    matrix; the F tests, p-values and confidence intervals (including the
    Satterthwaite-type interval for ICC(2,1) and its Spearman–Brown step-up for
    ICC(2,k)) follow ``psych::ICC(x, lmer = FALSE)`` formula for formula. psych's
    default (``lmer = TRUE``) gives the same values up to lme4's optimiser tolerance,
    except when the rater mean square is below the residual mean square, where lme4
    sets the rater variance to zero.

    Missing data: a target needs a rating from every rater. Targets with a missing
    rating (an empty cell or no row at all) are dropped, counted in ``n_dropped``,
    and a :class:`~undervisning_analys.errors.DataDroppedWarning` is issued. This is
    the same as ``psych::ICC(na.omit(x), lmer = FALSE)``. Rows without a target or
    rater id, non-numeric ratings, and two ratings of the same target by the same
    rater are errors.

    Examples
    --------
    >>> res = icc(df, targets=["lesson_id", "item_id"], raters="observer_id",
    ...           ratings="score")                                    # doctest: +SKIP
    >>> res.tidy()                                                    # doctest: +SKIP
    """
    _check_frame(data, "icc")
    tcols = _as_list(targets)
    if not tcols:
        raise ValidationError("Ange minst en kolumn som identifierar målen med `targets=`")
    required = {"targets": tcols, "ratings": [ratings]}
    if raters is not None:
        required["raters"] = [raters]
    _check_columns(data, required, "icc")
    if not 0 < conf_level < 1:
        raise ValidationError(
            f"`conf_level` ska ligga mellan 0 och 1, men är {conf_level!r}",
            hint="Ange t.ex. conf_level=0.95",
        )
    y = _numeric_ratings(data, ratings)
    d = data[tcols].copy()
    if raters is None:
        _check_ids(d, tcols)
        rater_col = "__rater__"
        d[rater_col] = d.groupby(tcols, sort=False, observed=True).cumcount() + 1
    else:
        rater_col = raters
        d[rater_col] = data[raters]
        _check_ids(d, tcols + [rater_col])
        _check_duplicates(d, tcols, rater_col)
    d["__y__"] = y
    wide = d.set_index(tcols + [rater_col])["__y__"].unstack(rater_col)
    n_all, k = wide.shape
    if k < 2:
        only = wide.columns[0] if k else None
        raise ValidationError(
            f"ICC kräver minst två bedömare, men data har bara en "
            f"(`{raters or 'numrerad bedömare'}` = {_show(only)})",
            column=raters,
            hint="Samstämmighet kan bara beräknas när samma mål har bedömts av flera",
        )
    complete = wide.dropna(axis=0, how="any")
    n_dropped = n_all - len(complete)
    if len(complete) < 2:
        hint = ("Om olika mål har bedömts av olika bedömare: ange `raters=None`, så "
                "numreras bedömarna inom varje mål"
                if raters is not None else
                "Kontrollera att målen har bedömts av lika många bedömare")
        raise ValidationError(
            f"ICC kräver minst två mål som bedömts av alla {k} bedömare, men bara "
            f"{len(complete)} av {n_all} mål är fullständiga",
            hint=hint,
        )
    if n_dropped:
        warnings.warn(
            f"{n_dropped} av {n_all} mål saknar minst en bedömning och ingår inte i ICC.",
            DataDroppedWarning,
            stacklevel=2,
        )
    table, anova = _icc_table(complete.to_numpy(dtype=float), 1 - conf_level)
    return ICCResult(
        table=table,
        anova_table=anova,
        n_targets=len(complete),
        n_raters=k,
        n_dropped=n_dropped,
        conf_level=conf_level,
        raters_numbered=raters is None,
    )


