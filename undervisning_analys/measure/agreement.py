"""Rater agreement: intraclass correlations, paired-observation agreement, observer severity.

Three entry points, all taking long-format data (one row per target × rater rating):

* :func:`icc` – the six Shrout & Fleiss (1979) intraclass correlations with F tests
  and confidence intervals, computed exactly as ``psych::ICC`` (two-way ANOVA).
* :func:`agreement` – exact and adjacent agreement and Cohen's kappa (unweighted,
  linear and quadratic weights) for paired ratings of the same target, e.g. two
  observers scoring the same item in the same lesson.
* :func:`observer_severity` – how much each observer's scores deviate from those of
  the other observers of the same target, and whether that deviation drifts over
  terms. An aggregate diagnostic of the *ratings*; it never ranks teachers.

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

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from undervisning_analys._results import Result
from undervisning_analys.errors import (
    DataDroppedWarning,
    DuplicateRowsError,
    MissingColumnError,
    ScaleError,
    ValidationError,
)

__all__ = [
    "AgreementResult",
    "ICCResult",
    "ObserverSeverityResult",
    "agreement",
    "icc",
    "koo_li_band",
    "observer_severity",
]

Columns = str | Sequence[str]

ICC_TYPES: tuple[str, ...] = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")

OVERALL = "Totalt"


# --------------------------------------------------------------------------- helpers
def _as_list(cols: Columns | None) -> list[str]:
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    return list(cols)


def _fmt(x: float, digits: int = 2) -> str:
    """Swedish number: decimal comma, true minus sign, '–' for missing."""
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:.{digits}f}".replace(".", ",").replace("-", "−")


def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "–"
    if p < 0.001:
        return "< 0,001"
    return _fmt(p, 3)


def _show(v: Any) -> str:
    """repr of a cell value without numpy's type wrapper (7, not np.int64(7))."""
    if isinstance(v, np.generic):
        v = v.item()
    return repr(v)


def _check_frame(data: Any, func: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise ValidationError(
            f"`{func}` behöver en tabell (pandas DataFrame) i långt format, "
            f"men fick {type(data).__name__}",
            hint="Lägg data i en DataFrame med en rad per bedömning",
        )


def _check_columns(data: pd.DataFrame, required: dict[str, list[str]], func: str) -> None:
    """Raise MissingColumnError naming the first absent column and the argument."""
    for arg, cols in required.items():
        for col in cols:
            if col not in data.columns:
                available = ", ".join(f"`{c}`" for c in data.columns)
                raise MissingColumnError(
                    f"Kolumnen `{col}` (argumentet `{arg}=` i `{func}`) finns inte i data. "
                    f"Tillgängliga kolumner: {available}",
                    column=col,
                    hint=f"Ange en befintlig kolumn med `{arg}=`",
                )


def _numeric_ratings(data: pd.DataFrame, col: str) -> pd.Series:
    """The rating column as float; raise ValidationError on anything non-numeric."""
    s = data[col]
    if pd.api.types.is_bool_dtype(s):
        raise ValidationError(
            f"Kolumnen `{col}` ska innehålla poäng (tal), men innehåller sant/falskt-värden",
            column=col,
            hint="Ange kolumnen med poängen som `ratings=`",
        )
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float)
    num = pd.to_numeric(s, errors="coerce")
    bad = s.notna() & num.isna()
    if bad.any():
        idx = bad[bad].index[0]
        raise ValidationError(
            f"Kolumnen `{col}` ska innehålla poäng (tal), men raden med index {_show(idx)} "
            f"har värdet {_show(s.loc[idx])} ({int(bad.sum())} sådana rader)",
            column=col,
            hint="Rätta eller ta bort värden som inte är tal; tomma celler räknas som saknade",
        )
    return num.astype(float)


def _check_ids(data: pd.DataFrame, cols: list[str]) -> None:
    for col in cols:
        miss = data[col].isna()
        if miss.any():
            idx = miss[miss].index[0]
            raise ValidationError(
                f"Kolumnen `{col}` saknar värde på raden med index {_show(idx)} "
                f"({int(miss.sum())} rader); varje bedömning måste ha mål och bedömare",
                column=col,
                hint="Fyll i identiteten eller ta bort raderna innan analysen",
            )


def _check_duplicates(d: pd.DataFrame, unit: list[str], rater: str) -> None:
    dup = d.duplicated(unit + [rater], keep=False)
    if dup.any():
        first = d[dup].iloc[0]
        key = ", ".join(f"{c}={_show(first[c])}" for c in unit)
        raise DuplicateRowsError(
            f"Bedömaren {_show(first[rater])} har mer än en bedömning av samma mål ({key}); "
            f"{int(dup.sum())} rader berörs",
            column=rater,
            hint="Ange fler kolumner i `targets=` (t.ex. `item_id`) så att varje mål "
                 "bedöms högst en gång per bedömare, eller ta bort dubbletterna",
        )


def koo_li_band(x: float) -> str:
    """Koo & Li (2016) reliability band, in Swedish.

    Below 0.50 'svag' (poor), 0.50–0.75 'måttlig' (moderate), 0.75–0.90 'god'
    (good), above 0.90 'utmärkt' (excellent).
    """
    if x is None or not np.isfinite(x):
        return "kan inte bedömas"
    if x < 0.5:
        return "svag"
    if x < 0.75:
        return "måttlig"
    if x <= 0.9:
        return "god"
    return "utmärkt"


def _landis_koch(k: float) -> str:
    """Landis & Koch (1977) kappa band, in Swedish."""
    if k is None or not np.isfinite(k):
        return "kan inte bedömas"
    if k < 0:
        return "sämre än slumpen"
    if k <= 0.2:
        return "obetydlig"
    if k <= 0.4:
        return "låg"
    if k <= 0.6:
        return "måttlig"
    if k <= 0.8:
        return "betydande"
    return "nästan fullständig"


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
        pct = f"{self.conf_level * 100:g}".replace(".", ",")
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
        pct = f"{self.conf_level * 100:g}".replace(".", ",")
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
        ci = (f" (95 % konfidensintervall {_fmt(kq - 1.96 * se)} till {_fmt(kq + 1.96 * se)})"
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
        ax.set_xlim(min(0.0, float(np.nanmin(t["kappa_quadratic"] - 1.96 * se)) - 0.05), 1.0)
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


# --------------------------------------------------------------------------- severity
_TERM_RE = re.compile(r"^\s*(HT|VT)\s*(\d{4})\s*$", re.IGNORECASE)
_SCHOOL_YEAR_RE = re.compile(r"^\s*(\d{4})\s*/\s*(\d{2}|\d{4})\s*$")


def _term_time(s: pd.Series, col: str) -> pd.Series:
    """Terms as time in years: VT2024 → 2024.0, HT2024 → 2024.5, '2023/24' → 2023."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype(float)

    def conv(v: Any) -> float:
        if pd.isna(v):
            return np.nan
        text = str(v)
        m = _TERM_RE.match(text)
        if m:
            return int(m.group(2)) + (0.5 if m.group(1).upper() == "HT" else 0.0)
        m = _SCHOOL_YEAR_RE.match(text)
        if m:
            return float(m.group(1))
        raise ValidationError(
            f"Kolumnen `{col}` ska ange termin (t.ex. \"HT2023\", \"VT2024\"), läsår "
            f"(\"2023/24\") eller ett tal, men har värdet {_show(v)}",
            column=col,
            hint="Ange terminskolumnen med `by_term=`",
        )

    return s.map(conv).astype(float)


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
        pct = f"{self.conf_level * 100:g}".replace(".", ",")
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
    rows = []
    for obs, o in d.groupby("__obs__", sort=True, observed=True):
        dev = o["__dev__"].to_numpy()
        n = len(dev)
        mean = float(dev.mean())
        se = float(dev.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        tq = stats.t.ppf(1 - alpha / 2, n - 1) if n > 1 else np.nan
        row: dict[str, Any] = {
            "observer": obs,
            "n_ratings": n,
            "n_targets": int(len(o[tcols].drop_duplicates())),
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
            tq2 = stats.t.ppf(1 - alpha / 2, len(tt) - 2) if len(tt) > 2 else np.nan
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
