"""Results adjusted for pupil background (a SALSA-like model).

:func:`adjusted_results` answers, per school and school year: *what result
would we expect of a school with this pupil composition, and how far is the
observed result from it?* The expectation comes from a linear regression of
the school results on the composition of the schools in a reference set (by
default the dataset's own schools; or a national file of school units), as
Skolverket's SALSA does for final grades in år 9.

The model
---------
For school ``s`` in school year ``y``::

    result[s, y] = year[y] + b1 * share_parents_higher_edu[s, y]
                   + b2 * share_foreign_background[s, y]
                   + b3 * share_newly_arrived[s, y]        (when the data have it)
                   + b4 * share_boys[s, y]                 (= 100 - share_girls)
                   + e[s, y],         Var(e[s, y]) = sigma^2 / w[s, y]

fitted by weighted least squares with ``w = n / mean(n)`` (``n`` = pupils
behind the result) when every reference row has ``n``, else unweighted.
By default the years are pooled with one intercept per year (year fixed
effects) and common background coefficients; when every year has at least
:data:`MIN_SCHOOLS_PER_YEAR` reference schools (a national reference, say)
each year gets its own model, as SALSA does. ``by_year`` overrides the choice.

Uncertainty (prediction-based)
------------------------------
``expected`` is ``x' b``; ``se_expected = sqrt(x' V x)`` is its standard
error from the reference regression (``V`` the WLS covariance). The residual
``observed - expected`` has the standard error

    se = sqrt(se_expected^2 + sigma^2 / w[s, y])

i.e. the uncertainty of the expectation plus the spread of results around
it for a school of this size (cohort-to-cohort and school-to-school
variation the background does not explain). The interval
``residual ± t(df) * se`` is therefore a prediction interval: a residual
whose interval excludes zero is a result that schools with the same
background seldom reach (or seldom fall to) by chance. The observed value
is treated as a new observation (its own contribution to ``b`` is ignored),
which errs on the cautious side by the leverage ``h`` (small with many
reference rows).

Missing data and markers
------------------------
Nothing is imputed. A result whose status is not ``ok`` (``..`` suppressed,
``~100``, ``.`` missing, …) keeps its row, its ``status`` and ``n``; its
``observed`` and ``residual`` are NaN and ``note`` says why. Such rows never
enter the reference. A school year without background (or with a missing
covariate the model uses) gets ``expected`` NaN and a note. A covariate is
used when at least 80 % of the usable reference rows that have a background
row have it; reference rows missing a used covariate (or without background)
are left out and counted in ``reference_info``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from .._format import number as sv_num
from .._results import Result
from ..errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..dataset import Dataset

__all__ = ["adjusted_results", "AdjustedResult", "COVARIATES", "CONTRACT_COLUMNS",
           "MIN_SCHOOLS_PER_YEAR", "school_results", "school_background"]

COVARIATES: tuple[str, ...] = ("share_parents_higher_edu", "share_foreign_background",
                               "share_newly_arrived", "share_boys")
"""Background covariates in the order they enter the model (percentages 0–100)."""

COVARIATE_LABELS_SV: dict[str, str] = {
    "share_parents_higher_edu": "andel (%) elever med föräldrar med eftergymnasial utbildning",
    "share_foreign_background": "andel (%) elever med utländsk bakgrund",
    "share_newly_arrived": "andel (%) nyinvandrade elever",
    "share_boys": "andel (%) pojkar",
}

MIN_SCHOOLS_PER_YEAR = 30
"""Separate models per year when every year has at least this many reference schools."""

MIN_COVERAGE = 0.8
"""A covariate is used when at least this share of usable reference rows has it."""

CONTRACT_COLUMNS: list[str] = ["school_id", "school_year", "measure", "observed", "expected",
                               "residual", "se", "conf_low", "conf_high", "n", "status"]
"""The columns docs/ARCHITECTURE.md promises (``se_expected`` and ``note`` follow)."""
_TIDY_COLUMNS = [*CONTRACT_COLUMNS, "se_expected", "note"]

_STATUS_NOTE = {
    "suppressed": "resultatet är prickat (..): färre än 10 elever",
    "approx_100": "resultatet är publicerat som cirka 100 (~100), inget exakt värde",
    "missing": "resultatet saknas (.)",
    "not_published": "resultatet är inte publicerat",
    "excluded": "resultatet är exkluderat (*)",
}


# --------------------------------------------------------------------------- #
# input tables
# --------------------------------------------------------------------------- #
def school_results(results: pd.DataFrame, measure: str, group: str = "all") -> pd.DataFrame:
    """School-level results of one measure and group: school_id, school_year, value, n, status.

    One row per school and year (a source that also splits by principal type
    keeps the ``all`` row, else the first). ``status`` is a plain string.
    """
    r = results
    if "level" in r.columns:
        r = r[r["level"].astype(str) == "school"]
    r = r[(r["measure"].astype(str) == measure)]
    if "group" in r.columns:
        r = r[r["group"].astype(str) == group]
    r = r.copy()
    if "principal_type" in r.columns:
        r["_pt"] = (r["principal_type"].astype(str) != "all").astype(int)
        r = r.sort_values("_pt", kind="stable")
    r = r.drop_duplicates(["school_id", "school_year"])
    out = pd.DataFrame({
        "school_id": r["school_id"].astype(str).to_numpy(),
        "school_year": r["school_year"].astype(str).to_numpy(),
        "value": pd.to_numeric(r["value"], errors="coerce").astype(float).to_numpy(),
        "n": (pd.to_numeric(r["n"], errors="coerce").astype(float).to_numpy()
              if "n" in r.columns else np.nan),
        "status": (r["status"].astype(str).to_numpy() if "status" in r.columns
                   else np.where(r["value"].notna(), "ok", "missing")),
    })
    return out.reset_index(drop=True)


def school_background(background: pd.DataFrame) -> pd.DataFrame:
    """School-level background with ``share_boys`` added: one row per school × year."""
    b = background
    if "level" in b.columns:
        b = b[b["level"].astype(str) == "school"]
    b = b.drop_duplicates(["school_id", "school_year"]).copy()
    out = pd.DataFrame({"school_id": b["school_id"].astype(str).to_numpy(),
                        "school_year": b["school_year"].astype(str).to_numpy()})
    for c in ("share_parents_higher_edu", "share_foreign_background", "share_newly_arrived",
              "share_girls"):
        out[c] = (pd.to_numeric(b[c], errors="coerce").astype(float).to_numpy()
                  if c in b.columns else np.nan)
    out["share_boys"] = 100.0 - out["share_girls"]
    return out


def _reference_frame(reference: Any, measure: str, group: str) -> tuple[pd.DataFrame, str]:
    """The reference as one frame (school_id, school_year, value, n, status, covariates)."""
    from ..dataset import Dataset

    if isinstance(reference, Dataset):
        res, bg = reference.results, reference.background
        label = "en given datamängd"
    elif isinstance(reference, tuple | list) and len(reference) == 2:
        res, bg = reference
        label = "givna resultat- och bakgrundstabeller"
    elif isinstance(reference, pd.DataFrame):
        d = reference
        need = {"school_id", "school_year", "value"}
        missing = need - set(d.columns)
        if missing:
            raise ModelError(
                "Referensen saknar kolumnerna " + ", ".join(sorted(missing)),
                table="reference",
                hint="Ange referensen som en datamängd, som (resultat, bakgrund) eller som en "
                     "tabell med school_id, school_year, value, n och bakgrundsandelarna.")
        if "measure" in d.columns:
            d = d[d["measure"].astype(str) == measure]
        if "group" in d.columns:
            d = d[d["group"].astype(str) == group]
        if "level" in d.columns:
            d = d[d["level"].astype(str) == "school"]
        d = d.copy()
        d["school_id"] = d["school_id"].astype(str)
        d["school_year"] = d["school_year"].astype(str)
        d["value"] = pd.to_numeric(d["value"], errors="coerce").astype(float)
        d["n"] = pd.to_numeric(d["n"], errors="coerce").astype(float) if "n" in d.columns \
            else np.nan
        d["status"] = d["status"].astype(str) if "status" in d.columns else np.where(
            d["value"].notna(), "ok", "missing")
        if "share_boys" not in d.columns:
            d["share_boys"] = 100.0 - pd.to_numeric(d["share_girls"], errors="coerce") \
                if "share_girls" in d.columns else np.nan
        for c in COVARIATES:
            d[c] = pd.to_numeric(d[c], errors="coerce").astype(float) if c in d.columns \
                else np.nan
        return d[["school_id", "school_year", "value", "n", "status", *COVARIATES]] \
            .reset_index(drop=True), "en given referenstabell"
    else:
        raise ModelError(
            f"Referensen har en typ som inte stöds ({type(reference).__name__})",
            hint="Ange None (kommunens skolor), en datamängd, (resultat, bakgrund) eller en "
                 "tabell med school_id, school_year, value, n och bakgrundsandelarna.")
    frame = school_results(res, measure, group).merge(
        school_background(bg), on=["school_id", "school_year"], how="left")
    return frame, label


# --------------------------------------------------------------------------- #
# the reference model
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Fit:
    """One WLS fit (all years pooled with year effects, or one year)."""

    years: tuple[str, ...]
    columns: tuple[str, ...]
    beta: np.ndarray
    vcov: np.ndarray
    sigma2: float
    df_resid: int
    n_rows: int
    n_schools: int
    r2: float
    mean_n: float
    weighted: bool


def _design(frame: pd.DataFrame, covariates: list[str], years: list[str]) -> np.ndarray:
    cols = [np.ones(len(frame))] if len(years) == 1 else [
        (frame["school_year"].to_numpy() == y).astype(float) for y in years]
    cols += [frame[c].to_numpy(dtype=float) for c in covariates]
    return np.column_stack(cols)


def _fit(ref: pd.DataFrame, covariates: list[str], weighted: bool) -> _Fit:
    years = sorted(set(ref["school_year"]))
    X = _design(ref, covariates, years)
    y = ref["value"].to_numpy(dtype=float)
    mean_n = float(ref["n"].mean()) if weighted else 1.0
    w = ref["n"].to_numpy(dtype=float) / mean_n if weighted else np.ones(len(ref))
    p = X.shape[1]
    names = tuple(f"year_{y_}" for y_ in years) if len(years) > 1 else ("intercept",)
    names += tuple(covariates)
    if len(ref) < p + 3:
        raise ModelError(
            f"För få skolor i referensen för att skatta förväntade resultat: {len(ref)} "
            f"skolenhetsår med giltiga värden, men modellen har {p} parametrar och behöver "
            f"minst {p + 3}",
            hint="Använd fler läsår eller skolor, eller ange en nationell referens "
                 "(reference=...).")
    sw = np.sqrt(w)
    Xw, yw = X * sw[:, None], y * sw
    rank = np.linalg.matrix_rank(Xw)
    if rank < p:
        raise ModelError(
            "Bakgrundsvariablerna i referensen är linjärt beroende (t.ex. en andel som är "
            "densamma för alla skolor), så modellen kan inte skattas",
            hint="Kontrollera bakgrundstabellen eller ange en större referens.")
    xtx_inv = np.linalg.inv(Xw.T @ Xw)
    beta = xtx_inv @ Xw.T @ yw
    resid = yw - Xw @ beta
    df = len(ref) - p
    sigma2 = float(resid @ resid / df)
    ybar = float(np.sum(w * y) / np.sum(w))
    tss = float(np.sum(w * (y - ybar) ** 2))
    r2 = 1.0 - float(resid @ resid) / tss if tss > 0 else float("nan")
    return _Fit(years=tuple(years), columns=names, beta=beta, vcov=sigma2 * xtx_inv,
                sigma2=sigma2, df_resid=df, n_rows=len(ref),
                n_schools=int(ref["school_id"].nunique()), r2=r2, mean_n=mean_n,
                weighted=weighted)


def _predict(fit: _Fit, rows: pd.DataFrame, covariates: list[str]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """expected, se_expected and the residual variance of each row (NaN where impossible)."""
    years = list(fit.years)
    X = _design(rows, covariates, years)
    if len(years) == 1:
        ok_year = rows["school_year"].isin(years).to_numpy() if len(
            set(rows["school_year"])) else np.ones(len(rows), bool)
    else:
        ok_year = rows["school_year"].isin(years).to_numpy()
    ok = ok_year & np.all(np.isfinite(X), axis=1)
    exp = np.full(len(rows), np.nan)
    se = np.full(len(rows), np.nan)
    exp[ok] = X[ok] @ fit.beta
    se[ok] = np.sqrt(np.einsum("ij,jk,ik->i", X[ok], fit.vcov, X[ok]))
    n = rows["n"].to_numpy(dtype=float)
    w = np.where(np.isfinite(n) & (n > 0), n / fit.mean_n, 1.0) if fit.weighted \
        else np.ones(len(rows))
    var_e = fit.sigma2 / w
    return exp, se, var_e


# --------------------------------------------------------------------------- #
# front door
# --------------------------------------------------------------------------- #
def adjusted_results(ds: Dataset, measure: str = "merit_17", reference: Any = None, *,
                     group: str = "all", by_year: bool | None = None,
                     weighted: bool = True) -> AdjustedResult:
    """Observed results beside the results expected from pupil background.

    Parameters
    ----------
    ds : the Dataset whose schools are assessed (its ``results`` and
        ``background`` tables are used).
    measure : a results measure (``merit_17``, ``pass_all_subjects_pct``, …).
    reference : the schools the expectation is estimated across. None (the
        default): ``ds``'s own schools with valid values, all years. A
        :class:`~undervisning_analys.dataset.Dataset`, a tuple
        ``(results, background)`` of canonical tables, or one DataFrame with
        ``school_id, school_year, value, n`` (optionally ``measure``,
        ``group``, ``status``) and the background shares (``share_girls`` or
        ``share_boys``) – e.g. a national file of school units.
    group : ``all`` (default), ``girls`` or ``boys``.
    by_year : one model per school year (True), years pooled with year
        effects (False), or chosen from the data (None: per year when every
        year has at least :data:`MIN_SCHOOLS_PER_YEAR` reference schools).
    weighted : weight schools by their number of pupils ``n`` (when every
        reference row has it).

    Returns
    -------
    AdjustedResult; ``.tidy()`` has one row per school × year of ``ds``:
    school_id, school_year, measure, observed, expected, residual, se,
    conf_low, conf_high, se_expected, n, status, note.

    Raises
    ------
    ModelError
        Unknown measure, no results for it, no background, too few reference
        rows for the model, or collinear covariates.

    Notes
    -----
    See the module docstring for the model, the standard errors and the
    missing-data policy (no value is ever imputed; suppressed results keep
    their row with status and NaN residual).
    """
    if not schema.is_known_measure(measure):
        raise ModelError(
            f"Okänt mått `{measure}`",
            hint="Välj ett mått i vokabulären, t.ex. merit_17, merit_16, "
                 "pass_all_subjects_pct eller eligible_vocational_pct.")
    target = school_results(ds.results, measure, group)
    if target.empty:
        raise ModelError(
            f"Datamängden har inga resultat på skolnivå för måttet `{measure}` "
            f"({schema.measure_label(measure)})",
            table="results", column="measure",
            hint="Läs in Skolverkets resultatfiler för skolenheterna eller välj ett annat mått.")
    target = target.merge(school_background(ds.background), on=["school_id", "school_year"],
                          how="left")
    if reference is None:
        ref_all, ref_label = target, "datamängdens egna skolor"
    else:
        ref_all, ref_label = _reference_frame(reference, measure, group)
    usable = ref_all[(ref_all["status"] == "ok") & ref_all["value"].notna()]
    n_not_ok = int(len(ref_all) - len(usable))
    if usable.empty:
        raise ModelError(
            f"Referensen har inga publicerade värden för måttet `{measure}`",
            hint="Alla värden är prickade eller saknas; ange en större referens.")
    covariates = []
    dropped_cov: list[str] = []
    with_bg = usable[usable[list(COVARIATES)].notna().any(axis=1)]
    for c in COVARIATES:
        have = with_bg[c].notna().mean() if len(with_bg) else 0.0
        if have >= MIN_COVERAGE and with_bg[c].dropna().nunique() > 1:
            covariates.append(c)
        elif have > 0:
            dropped_cov.append(c)
    if not covariates:
        raise ModelError(
            "Ingen bakgrundsvariabel finns för referensens skolor (andel föräldrar med "
            "eftergymnasial utbildning, utländsk bakgrund, nyinvandrade, pojkar)",
            table="background",
            hint="Läs in Skolverkets filer om elevsammansättning (Antal elever per årskurs, "
                 "skolenhet) för samma läsår som resultaten.")
    complete = usable.dropna(subset=covariates)
    n_no_bg = int(len(usable) - len(complete))
    use_w = bool(weighted and complete["n"].notna().all() and (complete["n"] > 0).all())
    per_year_counts = complete.groupby("school_year")["school_id"].nunique()
    if by_year is None:
        by_year = bool(len(per_year_counts) > 1
                       and per_year_counts.min() >= MIN_SCHOOLS_PER_YEAR)
    if by_year:
        fits = {y: _fit(complete[complete["school_year"] == y], covariates, use_w)
                for y in per_year_counts.index}
    else:
        pooled = _fit(complete, covariates, use_w)
        fits = {y: pooled for y in pooled.years}

    out = target.copy()
    out["expected"] = np.nan
    out["se_expected"] = np.nan
    out["_var_e"] = np.nan
    out["_df"] = np.nan
    for y, idx in out.groupby("school_year").groups.items():
        fit = fits.get(str(y))
        if fit is None:
            continue
        rows = out.loc[idx]
        exp, se, var_e = _predict(fit, rows, covariates)
        out.loc[idx, "expected"] = exp
        out.loc[idx, "se_expected"] = se
        out.loc[idx, "_var_e"] = var_e
        out.loc[idx, "_df"] = fit.df_resid
    ok_obs = (out["status"] == "ok") & out["value"].notna()
    out["observed"] = np.where(ok_obs, out["value"], np.nan)
    out["residual"] = out["observed"] - out["expected"]
    has = out["residual"].notna()
    out["se"] = np.where(has, np.sqrt(out["se_expected"] ** 2 + out["_var_e"]), np.nan)
    from scipy import stats

    tq = np.where(has, stats.t.ppf(0.975, out["_df"].fillna(1.0)), np.nan)
    out["conf_low"] = out["residual"] - tq * out["se"]
    out["conf_high"] = out["residual"] + tq * out["se"]
    notes = []
    for r in out.itertuples(index=False):
        parts = []
        if r.status != "ok":
            parts.append(_STATUS_NOTE.get(r.status, f"status {r.status}"))
        if not np.isfinite(r.expected):
            if r.school_year not in fits:
                parts.append(f"referensen saknar läsåret {r.school_year}")
            else:
                parts.append("bakgrundsuppgifter saknas för skolan detta läsår")
        notes.append("; ".join(parts))
    out["note"] = notes
    out["measure"] = measure
    out = out.sort_values(["school_id", "school_year"]).reset_index(drop=True)
    tidy = out[_TIDY_COLUMNS].copy()
    info = {
        "reference": ref_label,
        "n_reference_rows": int(len(complete)),
        "n_reference_schools": int(complete["school_id"].nunique()),
        "n_reference_not_ok": n_not_ok,
        "n_reference_no_background": n_no_bg,
        "covariates": tuple(covariates),
        "covariates_dropped": tuple(dropped_cov),
        "by_year": bool(by_year),
        "weighted": use_w,
        "group": group,
        "names": dict(zip(ds.schools["school_id"].astype(str),
                          ds.schools["school_name"].astype(str))),
    }
    return AdjustedResult(measure=measure, table=tidy, fits=fits, info=info)


# --------------------------------------------------------------------------- #
# result object
# --------------------------------------------------------------------------- #
def _direction_sentence(measure: str) -> str:
    """What over and under the expected mean for a measure where lower is better
    (problematic absence, offences): empty for the others."""
    try:
        direction = schema.measure_info(measure).direction
    except KeyError:
        return ""
    if direction == "lower_better":
        return (" För detta mått är lägre värden bättre: över det förväntade betyder ett "
                "sämre utfall än väntat, under ett bättre.")
    return ""


@dataclass(frozen=True, eq=False)
class AdjustedResult(Result):
    """Observed, expected-from-background and residual results per school × year.

    ``.tidy()`` is the per-school table; ``.coefficients()`` the reference
    model(s); ``.reference_info`` how the reference was formed.
    """

    measure: str
    table: pd.DataFrame = field(repr=False)
    fits: dict[str, _Fit] = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    @property
    def reference_info(self) -> dict[str, Any]:
        """How the reference was formed (rows, schools, covariates, weighting, per year)."""
        return dict(self.info)

    def coefficients(self) -> pd.DataFrame:
        """The reference model: one row per model (year or pooled) × term.

        Columns: model (school year or ``pooled``), term, estimate, se,
        conf_low, conf_high, n_rows, n_schools, r2, sigma (residual SD for a
        school of mean size), weighted.
        """
        from scipy import stats

        rows = []
        seen: set[int] = set()
        for y, fit in self.fits.items():
            if id(fit) in seen:
                continue
            seen.add(id(fit))
            label = y if self.info.get("by_year") else "pooled"
            t = stats.t.ppf(0.975, fit.df_resid)
            for k, name in enumerate(fit.columns):
                se = math.sqrt(fit.vcov[k, k])
                rows.append({"model": label, "term": name, "estimate": fit.beta[k], "se": se,
                             "conf_low": fit.beta[k] - t * se,
                             "conf_high": fit.beta[k] + t * se, "n_rows": fit.n_rows,
                             "n_schools": fit.n_schools, "r2": fit.r2,
                             "sigma": math.sqrt(fit.sigma2), "weighted": fit.weighted})
        return pd.DataFrame(rows)

    def _summary_text(self) -> str:
        t = self.table
        info = self.info
        label = schema.measure_label(self.measure)
        coefs = self.coefficients()
        cov = coefs[coefs["term"].isin(COVARIATES)]
        years = sorted(set(t["school_year"]))
        lines = [
            f"Resultat jämfört med förväntat utifrån elevsammansättningen: {label}",
            "",
            f"Det förväntade resultatet är det som skolor med samma elevsammansättning i "
            f"genomsnitt når, skattat över {info['reference']} "
            f"({info['n_reference_schools']} skolenheter, {info['n_reference_rows']} "
            f"skolenhetsår, "
            + ("en modell per läsår" if info["by_year"] else
               "alla läsår i samma modell med en nivå per läsår")
            + ("; större skolor väger tyngre" if info["weighted"] else "") + ").",
            "Hänsyn tas till " + ", ".join(COVARIATE_LABELS_SV[c] for c in info["covariates"])
            + ".",
        ]
        if len(cov) and not info["by_year"]:
            lines.append("Samband i referensen (förändring i förväntat resultat när andelen ökar "
                         "med 10 procentenheter):")
            for r in cov.itertuples(index=False):
                lines.append(f"  {COVARIATE_LABELS_SV[r.term]}: {sv_num(10 * r.estimate, 1, True)}"
                             f" (95 % KI {sv_num(10 * r.conf_low, 1)} till "
                             f"{sv_num(10 * r.conf_high, 1)})")
            r2 = coefs["r2"].iloc[0]
            lines.append(f"  Bakgrund och läsår förklarar {sv_num(100 * r2, 0)} % av "
                         "variationen mellan skolenhetsåren.")
        n_res = int(t["residual"].notna().sum())
        n_sup = int((t["status"] != "ok").sum())
        above = int((t["conf_low"] > 0).sum())
        below = int((t["conf_high"] < 0).sum())
        lines += [
            "",
            f"{n_res} skolenhetsår har ett resultat att jämföra (läsåren {years[0]}–{years[-1]}); "
            f"{n_sup} saknar publicerat värde (prickat, ~100 eller saknas) och jämförs inte.",
            f"Klart över det förväntade (hela intervallet över noll): {above}; klart under: "
            f"{below}; övriga ligger inom vad slumpen kan ge."
            + _direction_sentence(self.measure),
            "Skillnaden observerat minus förväntat har ett 95 %-intervall som tar med både "
            "osäkerheten i det förväntade värdet och hur mycket resultaten brukar variera "
            "mellan år och skolor med samma bakgrund. Skillnaden säger inte varför en skola "
            "ligger över eller under; den är en utgångspunkt för samtal, inte ett betyg på "
            "skolan.",
        ]
        with_res = t[t["residual"].notna()]
        last_year = max(with_res["school_year"]) if len(with_res) else years[-1]
        last = t[t["school_year"] == last_year]
        names = info.get("names", {})
        if len(last):
            lines += ["", f"Läsåret {last_year} (observerat, förväntat, skillnad med 95 % KI):"]
            rows = sorted(last.itertuples(index=False),
                          key=lambda r: names.get(r.school_id, r.school_id))
            for r in rows:
                name = names.get(r.school_id, r.school_id)
                if np.isfinite(r.residual):
                    lines.append(
                        f"  {name}: {sv_num(r.observed)}, {sv_num(r.expected)}, "
                        f"{sv_num(r.residual, 1, True)} ({sv_num(r.conf_low)} till "
                        f"{sv_num(r.conf_high)})")
                else:
                    lines.append(f"  {name}: {r.note or 'ingen jämförelse'}")
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None, *, school_id: str | None = None,
             school_year: str | None = None, names: dict[str, str] | None = None) -> Axes:
        """Residuals with 95 % intervals per school for one year (default the latest).

        With ``school_id``: that school's observed and expected results over
        the years (:func:`undervisning_analys.plots.results_over_time`).
        """
        from .. import plots

        t = self.table
        if school_id is not None:
            return plots.results_over_time(t, school_id, measure=self.measure, ax=ax)
        year = school_year or max(t["school_year"])
        d = t[t["school_year"] == year].rename(columns={"school_id": "unit"})
        d = d.assign(estimate=d["residual"], suppressed=d["residual"].isna())
        ax = plots.caterpillar(d, names or self.info.get("names", {}), reference=None, ax=ax,
                               title=f"Resultat minus förväntat, {year}",
                               xlabel="Skillnad mot förväntat")
        ax.axvline(0.0, color=plots.EXPECTED, ls="--", lw=1)
        big = bool(d["residual"].abs().max() > 10) if d["residual"].notna().any() else False
        ax.xaxis.set_major_formatter(plots._sv_formatter(0 if big else 1))
        return ax
