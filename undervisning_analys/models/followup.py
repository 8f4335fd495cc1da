"""Plan follow-up: every target of every plan, with its uncertainty.

:func:`plan_followup` answers, for each target of a school's (or the
organiser's) plan: *where are we now, where are we heading by the target
term, how likely is it that the target is reached, and were the planned
lessons observed?*

What each target is followed with
---------------------------------
* **Teaching quality** (``kind`` = ``dimension``): the current estimate is
  the teaching-quality index (:func:`~undervisning_analys.measure.index.teaching_quality`)
  of the school's latest published term (up to ``as_of``), with its 95 %
  interval. The projection to the target term follows the school's trend
  over all its terms (:func:`~undervisning_analys.models.growth.growth`)::

      projection = estimate_now + trend × Δt
      Var        = se_now² + se_trend² × (Δt² + 2 Δt (t_now − t̄)) + 2 × σ²_term

  with Δt the school years from the current term to the target term, t̄ the
  mean time of the school's published terms and σ²_term the model's
  school × term variance (a new term deviates from the school's line as
  earlier terms did; the current term's own deviation is carried in the
  estimate, hence twice). The middle term is the variance of the school's
  line at the target term less that at the current term, with the covariance
  of the current estimate and the trend taken as that of a straight line
  fitted to the terms, ``(t_now − t̄) se_trend²``: the latest term and the
  trend err together, and leaving the covariance out made the probabilities
  overconfident (``benchmarks/sim_plans.py``). When the target term is already in the data,
  the projection is the index of that term itself. The organiser's targets
  use the municipality's index and trend (σ²_term divided by the number of
  schools).
* **Items** (``kind`` = ``item``): the school's mean score of the item per
  term (lessons of the term; standard error from the spread between lessons;
  only terms with at least 5 lessons and 3 teachers) and a weighted linear
  trend over the terms (see *series* below).
* **Results** (``kind`` = ``result``): the measure's adjusted result
  (observed − expected from background, :func:`~undervisning_analys.models.adjust.adjusted_results`)
  per school year, and a weighted linear trend over the years (*series*).
* **Series** (items and results): a straight line fitted by weighted least
  squares to the yearly (termly) estimates, weights ``1 / (se² + τ²)`` with
  τ² the spread of the points around the line beyond their standard errors
  (moment estimate, at least 0); the projection's variance is the line's
  variance at the target time plus τ², and its interval and probability use
  Student's t with (points − 2) degrees of freedom.
* **Lessons** (``kind`` = ``observations``): lessons of the visit type
  observed per term of the plan's period against those planned (``par``:
  lessons observed by two observers). :meth:`PlanFollowupResult.adherence`
  has the table per school, term and visit type.

The projection's interval of a teaching-quality or item target is cut at
the protocol's scale (an index cannot leave it); the probability is not.

The probability
---------------
``probability`` is the probability that the true value at the target term
is on the target's side (at or above it; at or below it for measures where
lower is better), read from a normal distribution around the projection with
the projection's standard error. It assumes that (1) the school's trend goes
on as a straight line, (2) the estimation errors are normal, (3) the next
terms deviate from the line as the earlier terms did, and (4) the
observations keep measuring the same thing (same protocol, similar
observers). It is not a forecast of what the school will do, but of where
the present data point. Calibration over synthetic municipalities with known
truth: ``benchmarks/sim_plans.py``.

The status rule (:func:`status_rule`)
-------------------------------------
In this order:

1. too little data – fewer than :data:`MIN_TERMS` published terms (items:
   terms, results: :data:`MIN_YEARS` years), no published current estimate,
   or no trend when the target term lies ahead – ``kan ännu inte avgöras``;
2. the current estimate's 95 % interval lies wholly on the target's side
   (lower limit ≥ target; for lower-is-better, upper limit ≤ target) –
   ``uppnått``;
3. probability ≥ :data:`P_ON_TRACK` (0.8) – ``på väg``;
4. probability ≤ :data:`P_OFF_TRACK` (0.2) – ``inte på väg``;
5. otherwise – ``kan ännu inte avgöras`` (the data point both ways).

Lesson targets: ``uppnått`` when the lessons observed so far in the period
reach the lessons planned for the terms so far, ``på väg`` from
:data:`ADHERENCE_ON_TRACK` (75 %) of them, ``inte på väg`` below, and
``kan ännu inte avgöras`` before the period's first term is over.

Privacy
-------
Index figures come already suppressed (fewer than 3 teachers or 5 lessons);
item terms below the same floors are left out. Nothing is shown per teacher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from .._format import swedish_key
from .._results import Result
from ..errors import ModelError
from .adjust import sv_num

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..dataset import Dataset

Z_95 = 1.959963984540054
P_ON_TRACK = 0.8
"""A target whose probability is at least this is ``på väg``."""
P_OFF_TRACK = 0.2
"""A target whose probability is at most this is ``inte på väg``."""
MIN_TERMS = 3
"""Published terms a school needs before its teaching-quality target is judged."""
MIN_YEARS = 3
"""School years of results a school needs before its results target is judged."""
ADHERENCE_ON_TRACK = 0.75
"""Share of planned lessons observed so far from which a lesson target is ``på väg``."""

UPPNATT, PA_VAG, INTE_PA_VAG, KAN_EJ = ("uppnått", "på väg", "inte på väg",
                                         "kan ännu inte avgöras")
STATUSES = (UPPNATT, PA_VAG, INTE_PA_VAG, KAN_EJ)

ASSUMPTIONS_SV = (
    "Sannolikheten att målet nås bygger på fyra antaganden: att skolans utveckling "
    "fortsätter i samma takt som hittills (en rak linje), att skattningarnas fel är "
    "normalfördelade, att kommande terminer avviker från linjen lika mycket som tidigare "
    "terminer, och att observationerna fortsätter att mäta samma sak (samma protokoll, "
    "likartade observatörer). Den säger vart underlaget pekar, inte vad skolan kommer att "
    "göra.")

STATUS_RULE_SV = (
    "Status: för lite underlag (färre än 3 terminer eller läsår, eller ingen trend) ger "
    "”kan ännu inte avgöras”; ligger hela konfidensintervallet för dagens värde på målets "
    "sida är målet ”uppnått”; är sannolikheten minst 80 % är skolan ”på väg”, är den högst "
    "20 % ”inte på väg”; däremellan ”kan ännu inte avgöras”.")



def _direction(measure: str) -> str:
    """``higher_better``, ``lower_better`` or ``neutral`` (schema.measure_info)."""
    try:
        return str(schema.measure_info(measure).direction)
    except KeyError:
        return "neutral"

VISIT_TYPES = ("spontan", "planerad", "kollegial", "par")
VISIT_LABELS = {"spontan": "spontana besök", "planerad": "planerade besök",
                "kollegial": "kollegiala observationer", "par": "parobservationer"}

TIDY_COLUMNS = [
    "level", "plan_id", "school_id", "school_name", "target_id", "kind", "target_of",
    "target_label", "serves", "baseline", "baseline_term", "target", "target_term",
    "higher_is_better", "current_term", "estimate", "se", "conf_low", "conf_high", "trend",
    "trend_se", "projection", "projection_se", "projection_low", "projection_high",
    "probability", "status", "status_reason", "n_periods", "lessons_planned",
    "lessons_observed", "n_targets_serving", "n_serving_on_track", "n_serving_reached",
    "n_serving_not_on_track", "n_serving_undecided", "period_start", "period_end", "actions",
    "as_of"]


# --------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------
def status_rule(*, enough_data: bool, probability: float, conf_low: float, conf_high: float,
                target: float, higher_is_better: bool = True) -> tuple[str, str]:
    """The status of a target in words and the reason (Swedish); see the module docstring."""
    if not enough_data or probability is None or not np.isfinite(probability):
        return KAN_EJ, "för lite underlag för att bedöma målet"
    reached = (conf_low >= target) if higher_is_better else (conf_high <= target)
    if np.isfinite(conf_low) and np.isfinite(conf_high) and reached:
        return UPPNATT, "hela konfidensintervallet för dagens värde ligger på målets sida"
    if probability >= P_ON_TRACK:
        return PA_VAG, f"sannolikheten att nå målet är minst {P_ON_TRACK:.0%}".replace(
            "%", " %")
    if probability <= P_OFF_TRACK:
        return INTE_PA_VAG, f"sannolikheten att nå målet är högst {P_OFF_TRACK:.0%}".replace(
            "%", " %")
    return KAN_EJ, "underlaget pekar åt båda hållen (sannolikhet mellan 20 och 80 %)"


def adherence_status(planned: float, observed: float, terms_done: int) -> tuple[str, str]:
    """Status of a lesson target (see the module docstring)."""
    if terms_done < 1 or not np.isfinite(planned) or planned <= 0:
        return KAN_EJ, "ingen termin av planperioden är ännu avslutad"
    share = observed / planned
    if share >= 1:
        return UPPNATT, "minst lika många lektioner som planerat har observerats"
    if share >= ADHERENCE_ON_TRACK:
        return PA_VAG, "minst tre fjärdedelar av de planerade lektionerna har observerats"
    return INTE_PA_VAG, "färre än tre fjärdedelar av de planerade lektionerna har observerats"


def probability_reached(projection: float, projection_se: float, target: float,
                        higher_is_better: bool = True, df: float | None = None) -> float:
    """P(true value at the target term is on the target's side) around the projection.

    Normal, or Student's t with ``df`` degrees of freedom when the spread
    around the line was estimated from few points (series targets).
    """
    from scipy.stats import norm, t

    if not (np.isfinite(projection) and np.isfinite(projection_se)) or projection_se <= 0:
        return float("nan")
    z = (projection - target) / projection_se
    z = z if higher_is_better else -z
    return float(t.cdf(z, df) if df is not None and np.isfinite(df) else norm.cdf(z))


def q95(df: float | None = None) -> float:
    """The 97.5 % quantile: normal, or Student's t with ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, df)) if df is not None and np.isfinite(df) else Z_95


def series_projection(times: np.ndarray, est: np.ndarray, se: np.ndarray, t_target: float
                      ) -> dict[str, float]:
    """Weighted straight line through (time, estimate ± se); projection to ``t_target``.

    Returns trend, trend_se, projection, projection_se, tau (the spread of
    the points around the line beyond their standard errors) and df (points
    − 2: intervals and probabilities use Student's t). Needs at least 3
    points with distinct times; otherwise NaNs.
    """
    t, y, s = (np.asarray(a, dtype=float) for a in (times, est, se))
    ok = np.isfinite(t) & np.isfinite(y) & np.isfinite(s)
    t, y, s = t[ok], y[ok], s[ok]
    nan = {k: float("nan") for k in ("trend", "trend_se", "projection", "projection_se",
                                     "tau", "df")}
    if len(t) < 3 or len(np.unique(t)) < 3:
        return nan
    x = np.column_stack([np.ones_like(t), t - t.mean()])
    tau2 = 0.0
    for _ in range(20):  # moment estimate of tau² (iterated)
        w = 1.0 / (s ** 2 + tau2)
        xtwx = x.T @ (x * w[:, None])
        beta = np.linalg.solve(xtwx, x.T @ (w * y))
        r = y - x @ beta
        new = max(0.0, float(np.sum(r ** 2) / (len(t) - 2) - np.mean(s ** 2)))
        if abs(new - tau2) < 1e-12:
            break
        tau2 = new
    w = 1.0 / (s ** 2 + tau2)
    cov = np.linalg.inv(x.T @ (x * w[:, None]))
    beta = cov @ (x.T @ (w * y))
    xt = np.array([1.0, t_target - t.mean()])
    proj = float(xt @ beta)
    proj_var = float(xt @ cov @ xt) + tau2
    return {"trend": float(beta[1]), "trend_se": float(np.sqrt(cov[1, 1])),
            "projection": proj, "projection_se": float(np.sqrt(proj_var)),
            "tau": float(np.sqrt(tau2)), "df": float(len(t) - 2)}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------
def _last_results_year(as_of: str) -> str:
    """The latest school year whose results are out at the end of term ``as_of``."""
    sy = schema.term_school_year(as_of)
    if as_of.startswith("VT"):
        return sy
    start = schema.school_year_start(sy) - 1
    return f"{start}/{(start + 1) % 100:02d}"


def _target_year_time(target_term: str) -> float:
    """Results of the school year the target term belongs to, as the year's start."""
    return float(schema.school_year_start(schema.term_school_year(target_term)))


def _period_terms(start: str, end: str) -> list[str]:
    out = []
    t = schema.term_index(start)
    stop = schema.term_index(end)
    while t <= stop + 1e-9:
        year = int(t)
        out.append(f"HT{year}" if t - year > 0.25 else f"VT{year}")
        t += 0.5
    return out


def lessons_by_term(observations: pd.DataFrame) -> pd.DataFrame:
    """Observed lessons per school × term × visit type (``par``: two or more observers)."""
    forms = observations.drop_duplicates(["observation_id", "observer_id"])
    per_lesson = forms.groupby("observation_id", observed=True).agg(
        school_id=("school_id", "first"), term=("term", "first"),
        observation_type=("observation_type", "first"),
        n_observers=("observer_id", "nunique"))
    per_lesson["observation_type"] = per_lesson["observation_type"].astype(str)
    counts = per_lesson.groupby(["school_id", "term", "observation_type"]).size()
    paired = per_lesson[per_lesson["n_observers"] > 1].groupby(["school_id", "term"]).size()
    rows = [{"school_id": s, "term": t, "visit_type": vt, "observed": int(n)}
            for (s, t, vt), n in counts.items()]
    rows += [{"school_id": s, "term": t, "visit_type": "par", "observed": int(n)}
             for (s, t), n in paired.items()]
    return pd.DataFrame(rows, columns=["school_id", "term", "visit_type", "observed"])


def _item_series(obs: pd.DataFrame, school_id: str, item: str, inst: Any) -> pd.DataFrame:
    """Per term: the school's mean item score, its SE over lessons, lessons and teachers."""
    from ..privacy import MIN_OBS, MIN_TEACHERS

    o = obs[(obs["school_id"] == school_id) & (obs["item_id"] == item) & obs["score"].notna()]
    if o.empty:
        return pd.DataFrame(columns=["term", "estimate", "se", "n_obs"])
    lo, hi = inst.scale
    score = o["score"].astype(float)
    if inst.item(item).reverse:
        score = lo + hi - score
    per_lesson = o.assign(s=score).groupby("observation_id").agg(
        term=("term", "first"), s=("s", "mean"), teacher=("teacher_id", "first"))
    rows = []
    for term, g in per_lesson.groupby("term"):
        n, nt = len(g), g["teacher"].nunique()
        if n < MIN_OBS or nt < MIN_TEACHERS:
            continue
        rows.append({"term": term, "estimate": float(g["s"].mean()),
                     "se": float(g["s"].std(ddof=1) / np.sqrt(n)), "n_obs": n})
    return pd.DataFrame(rows, columns=["term", "estimate", "se", "n_obs"])


# --------------------------------------------------------------------------
# Main entry
# --------------------------------------------------------------------------
def plan_followup(ds: Dataset, *, as_of: str | None = None, quality: Any = None
                  ) -> PlanFollowupResult:
    """Follow up every target of the plans in ``ds.plans``.

    Parameters
    ----------
    ds : a Dataset with ``plans`` (and observations; results for results targets).
    as_of : follow up as at the end of this term (``"VT2024"``): only
        observations up to it and results published by then are used.
        Default: the latest term with observations.
    quality : a ``TeachingQualityResult`` for all dimensions
        (``teaching_quality(ds, by=["school", "municipality"], dimension="all")``)
        to reuse instead of fitting the models again (only without ``as_of``).

    Returns
    -------
    PlanFollowupResult: ``.tidy()`` one row per plan × target (columns
    :data:`TIDY_COLUMNS`), ``.adherence()`` lessons planned and observed per
    school × term × visit type, ``.other_dimensions()`` the trends of the
    dimensions outside each school's focus, ``.summary()``, ``.plot()``.

    Raises
    ------
    ModelError
        No plans, or ``as_of`` that is not a term.

    Notes
    -----
    The estimates, projections, the probability and its assumptions, and the
    status rule are described in the module docstring. Missing data: a target
    whose data are too thin gets ``kan ännu inte avgöras`` with the reason,
    never a guess; a results target for a measure without results, or an
    unknown target, gets the same with the reason said.
    """
    from ..measure.index import teaching_quality
    from .growth import growth

    plans = ds.plans
    if plans is None or plans.empty:
        raise ModelError("Datamängden har inga planer", table="plans",
                         hint="Lägg planerna (ifyllda mallar från `undervisning-analys mall`) "
                              "i mappen och läs in den igen.")
    obs_all = ds.observations
    terms_all = ds.terms
    if as_of is not None and not pd.Series([as_of]).str.match(schema.TERM_RE).all():
        raise ModelError(f"`{as_of}` är ingen termin", hint="Ange en termin som VT2024.")
    now = as_of or (terms_all[-1] if terms_all else None)
    if now is None:
        raise ModelError("Datamängden har inga lektionsobservationer", table="observations",
                         hint="Läs in observationsexporten.")
    t_now = schema.term_index(now)
    ds_now = ds
    if as_of is not None:
        keep = obs_all["term"].map(schema.term_index) <= t_now
        last_year = _last_results_year(now)
        res = ds.results[ds.results["school_year"].astype(str) <= last_year]
        bg = ds.background[ds.background["school_year"].astype(str) <= last_year]
        ds_now = ds.replace(observations=obs_all[keep.to_numpy()], results=res, background=bg)
        quality = None
    obs = ds_now.observations
    names = dict(zip(ds.schools["school_id"].astype(str), ds.schools["school_name"].astype(str)))
    dim_names = {"overall": "samlat index", **ds.instrument.dimension_names()}
    scale = ds.instrument.scale
    notes: list[str] = []

    # --- teaching-quality models: all dimensions, fitted once ---------------
    tq_table = None
    growths: dict[str, Any] = {}
    comps: dict[str, float] = {}
    if not obs.empty:
        try:
            tq = quality if quality is not None else teaching_quality(
                ds_now, by=["school", "municipality"], dimension="all")
            tq_table = tq.tidy()
            for dim in ["overall", *[d.id for d in ds.instrument.dimensions]]:
                try:
                    growths[dim] = growth(ds_now, dim, quality=tq, index=tq_table[
                        tq_table["dimension"] == dim])
                    comps[dim] = float(tq.components(dim).school_term)
                except ModelError as exc:
                    notes.append(f"{dim_names.get(dim, dim)}: {exc}")
        except ModelError as exc:
            notes.append(f"undervisningskvalitet: {exc}")
    lessons = lessons_by_term(obs) if not obs.empty else pd.DataFrame(
        columns=["school_id", "term", "visit_type", "observed"])
    adjusted: dict[str, pd.DataFrame | None] = {}

    rows: list[dict[str, Any]] = []
    adherence_rows: list[dict[str, Any]] = []
    n_schools = int(ds.schools.shape[0])
    for r in plans.itertuples(index=False):
        level = str(r.level)
        sid = None if level == "organiser" or pd.isna(r.school_id) else str(r.school_id)
        kind = str(r.kind)
        hib = not (kind == "result" and _direction(str(r.target_of)) == "lower_better")
        base = {"level": level, "plan_id": r.plan_id, "school_id": sid,
                "school_name": names.get(sid, "huvudmannen") if sid else "huvudmannen",
                "target_id": r.target_id, "kind": kind, "target_of": r.target_of,
                "serves": None if pd.isna(r.serves) else r.serves,
                "baseline": r.baseline, "baseline_term": r.baseline_term,
                "target": float(r.target), "target_term": r.target_term,
                "higher_is_better": hib, "as_of": now, "period_start": r.period_start,
                "period_end": r.period_end,
                "actions": None if pd.isna(r.actions) else r.actions}
        period = [t for t in _period_terms(str(r.period_start), str(r.period_end))
                  if schema.term_index(t) <= t_now]
        row = dict(base)
        est = {k: float("nan") for k in ("estimate", "se", "conf_low", "conf_high", "trend",
                                         "trend_se", "projection", "projection_se")}
        df_t: float | None = None
        current_term = None
        n_periods = 0
        enough = False
        t_target = schema.term_index(str(r.target_term))
        if kind == "dimension":
            row["target_label"] = dim_names.get(str(r.target_of), str(r.target_of))
            dim = str(r.target_of)
            g = growths.get(dim)
            if tq_table is not None and g is not None:
                lvl = "school" if sid else "municipality"
                idx = tq_table[(tq_table["dimension"] == dim) & (tq_table["level"] == lvl)]
                if sid:
                    idx = idx[idx["unit"].astype(str) == sid]
                idx = idx[~idx["suppressed"].astype(bool) & idx["estimate"].notna()]
                idx = idx.assign(_t=idx["term"].map(schema.term_index)).sort_values("_t")
                n_periods = len(idx)
                if n_periods:
                    cur = idx.iloc[-1]
                    current_term = str(cur["term"])
                    est.update(estimate=float(cur["estimate"]), se=float(cur["se"]),
                               conf_low=float(cur["conf_low"]),
                               conf_high=float(cur["conf_high"]))
                    if sid:
                        tr = g.school_trends().set_index("school_id")
                        if sid in tr.index and not bool(tr.loc[sid, "suppressed"]):
                            est.update(trend=float(tr.loc[sid, "estimate"]),
                                       trend_se=float(tr.loc[sid, "se"]))
                        s2 = comps.get(dim, 0.0)
                    else:
                        mt = g.municipality_trend
                        est.update(trend=mt["estimate"], trend_se=mt["se"])
                        s2 = comps.get(dim, 0.0) / max(n_schools, 1)
                    at_target = idx[idx["term"] == str(r.target_term)]
                    if t_target <= schema.term_index(current_term) and len(at_target):
                        a = at_target.iloc[0]
                        est.update(projection=float(a["estimate"]), projection_se=float(a["se"]))
                        enough = n_periods >= MIN_TERMS
                    elif t_target > schema.term_index(current_term) and np.isfinite(
                            est["trend"]):
                        t_cur = schema.term_index(current_term)
                        dt = t_target - t_cur
                        lever = t_cur - float(idx["_t"].mean())
                        est["projection"] = est["estimate"] + est["trend"] * dt
                        est["projection_se"] = float(np.sqrt(
                            est["se"] ** 2 + est["trend_se"] ** 2 * (dt ** 2 + 2 * dt * lever)
                            + 2 * s2))
                        enough = n_periods >= MIN_TERMS
        elif kind == "item":
            item = str(r.target_of)
            row["target_label"] = f"{item}. {ds.instrument.item(item).text}" \
                if item in ds.instrument.item_ids else item
            if sid and item in ds.instrument.item_ids:
                ser = _item_series(obs, sid, item, ds.instrument)
                ser = ser.assign(_t=ser["term"].map(schema.term_index)).sort_values("_t")
                n_periods = len(ser)
                if n_periods:
                    cur = ser.iloc[-1]
                    current_term = str(cur["term"])
                    est.update(estimate=float(cur["estimate"]), se=float(cur["se"]),
                               conf_low=float(cur["estimate"] - Z_95 * cur["se"]),
                               conf_high=float(cur["estimate"] + Z_95 * cur["se"]))
                    sp = series_projection(ser["_t"].to_numpy(), ser["estimate"].to_numpy(),
                                           ser["se"].to_numpy(), t_target)
                    est.update({k: sp[k] for k in ("trend", "trend_se", "projection",
                                                   "projection_se")})
                    df_t = sp["df"]
                    enough = n_periods >= MIN_TERMS and np.isfinite(sp["projection"])
        elif kind == "result":
            measure = str(r.target_of)
            row["target_label"] = schema.measure_label(measure) + " (justerat: jämfört med " \
                "förväntat)"
            if measure not in adjusted:
                try:
                    from .adjust import adjusted_results
                    adjusted[measure] = adjusted_results(ds_now, measure=measure).tidy()
                except ModelError as exc:
                    adjusted[measure] = None
                    notes.append(f"{schema.measure_label(measure)}: {exc}")
            ar = adjusted[measure]
            if sid and ar is not None:
                a = ar[(ar["school_id"].astype(str) == sid) & ar["residual"].notna()
                       & ar["se"].notna()]
                a = a.assign(_t=a["school_year"].map(schema.school_year_start).astype(float)
                             ).sort_values("_t")
                n_periods = len(a)
                if n_periods:
                    cur = a.iloc[-1]
                    current_term = str(cur["school_year"])
                    est.update(estimate=float(cur["residual"]), se=float(cur["se"]),
                               conf_low=float(cur["conf_low"]), conf_high=float(cur["conf_high"]))
                    sp = series_projection(a["_t"].to_numpy(), a["residual"].to_numpy(),
                                           a["se"].to_numpy(), _target_year_time(
                                               str(r.target_term)))
                    est.update({k: sp[k] for k in ("trend", "trend_se", "projection",
                                                   "projection_se")})
                    df_t = sp["df"]
                    enough = n_periods >= MIN_YEARS and np.isfinite(sp["projection"])
        elif kind == "observations":
            vt = str(r.target_of)
            row["target_label"] = f"Lektionsbesök: {VISIT_LABELS.get(vt, vt)} per termin"
        else:  # pragma: no cover - the schema allows no other kind
            row["target_label"] = str(r.target_of)

        # lessons planned and observed in the period so far (per type for lesson targets)
        done = [t for t in period if schema.term_index(t) < t_now] + (
            [now] if now in period else [])
        if sid:
            ls = lessons[(lessons["school_id"].astype(str) == sid)
                         & lessons["term"].isin(done)]
        else:
            ls = lessons[lessons["term"].isin(done)]
        if kind == "observations":
            vt = str(r.target_of)
            per_term = {t: int(ls.loc[(ls["term"] == t) & (ls["visit_type"] == vt),
                                      "observed"].sum()) for t in done}
            for t in done:
                adherence_rows.append({"plan_id": r.plan_id, "school_id": sid,
                                       "school_name": base["school_name"], "term": t,
                                       "visit_type": vt, "planned": float(r.target),
                                       "observed": per_term[t]})
            planned_total = float(r.target) * len(done)
            observed_total = float(sum(per_term.values()))
            row["lessons_planned"] = planned_total
            row["lessons_observed"] = observed_total
            status, reason = adherence_status(planned_total, observed_total, len(done))
            est["estimate"] = float(per_term[done[-1]]) if done else float("nan")
            current_term = done[-1] if done else None
            n_periods = len(done)
        else:
            p = probability_reached(est["projection"], est["projection_se"], float(r.target),
                                    hib, df=df_t)
            row["probability"] = p
            status, reason = status_rule(enough_data=enough, probability=p,
                                         conf_low=est["conf_low"], conf_high=est["conf_high"],
                                         target=float(r.target), higher_is_better=hib)
            if not enough and n_periods == 0:
                reason = "inga publicerade värden ännu (för få lektioner, lärare eller elever)"
            elif not enough and n_periods < (MIN_YEARS if kind == "result" else MIN_TERMS):
                reason = (f"för lite underlag: {n_periods} "
                          + ("läsår" if kind == "result" else
                             "termin" if n_periods == 1 else "terminer")
                          + " med publicerade värden, minst "
                          + (f"{MIN_YEARS} läsår" if kind == "result" else
                             f"{MIN_TERMS} terminer") + " behövs")
            elif not enough:
                reason = "ingen trend att följa (skolans trend visas inte)"
            if sid:
                plan_types = plans[(plans["plan_id"] == r.plan_id)
                                   & (plans["kind"] == "observations")]
                row["lessons_planned"] = float(plan_types["target"].sum() * len(done)) \
                    if len(plan_types) else float("nan")
                row["lessons_observed"] = float(ls.loc[ls["visit_type"] != "par",
                                                       "observed"].sum())
        row.update(est)
        row["current_term"] = current_term
        row["n_periods"] = n_periods
        if np.isfinite(est["projection"]) and np.isfinite(est["projection_se"]):
            lo_p = est["projection"] - q95(df_t) * est["projection_se"]
            hi_p = est["projection"] + q95(df_t) * est["projection_se"]
            if kind in ("dimension", "item"):  # the index cannot leave the protocol's scale
                lo_p, hi_p = max(lo_p, scale[0]), min(hi_p, scale[1])
            row["projection_low"], row["projection_high"] = lo_p, hi_p
        row["status"], row["status_reason"] = status, reason
        rows.append(row)
    table = pd.DataFrame(rows)
    for c in TIDY_COLUMNS:
        if c not in table.columns:
            table[c] = np.nan
    table = table[TIDY_COLUMNS]
    # the organiser's targets: how many school targets that serve them are on track
    for i in table.index[table["level"] == "organiser"]:
        serving = table[(table["level"] == "school")
                        & (table["serves"].astype(str) == str(table.at[i, "target_id"]))]
        st = serving["status"]
        table.loc[i, ["n_targets_serving", "n_serving_reached", "n_serving_on_track",
                      "n_serving_not_on_track", "n_serving_undecided"]] = [
            len(serving), int((st == UPPNATT).sum()), int((st == PA_VAG).sum()),
            int((st == INTE_PA_VAG).sum()), int((st == KAN_EJ).sum())]
    adherence = pd.DataFrame(adherence_rows, columns=[
        "plan_id", "school_id", "school_name", "term", "visit_type", "planned", "observed"])
    others = _other_dimensions(plans, growths, dim_names)
    return PlanFollowupResult(table=table, adherence_table=adherence, others=others,
                              info={"as_of": now, "notes": tuple(notes),
                                    "scale": ds.instrument.scale})


def _other_dimensions(plans: pd.DataFrame, growths: dict[str, Any],
                      dim_names: dict[str, str]) -> pd.DataFrame:
    """Trends of every dimension per school with a plan, marked in or outside the focus."""
    rows = []
    school_plans = plans[plans["level"] == "school"]
    for sid, p in school_plans.groupby("school_id"):
        focus = set(p.loc[p["kind"] == "dimension", "target_of"].astype(str))
        for dim, g in growths.items():
            if dim == "overall":
                continue
            tr = g.school_trends().set_index("school_id")
            if sid not in tr.index:
                continue
            t = tr.loc[sid]
            rows.append({"school_id": sid, "dimension": dim,
                         "dimension_name": dim_names.get(dim, dim), "in_focus": dim in focus,
                         "trend": float(t["estimate"]), "se": float(t["se"]),
                         "conf_low": float(t["conf_low"]), "conf_high": float(t["conf_high"]),
                         "suppressed": bool(t["suppressed"])})
    return pd.DataFrame(rows, columns=["school_id", "dimension", "dimension_name", "in_focus",
                                       "trend", "se", "conf_low", "conf_high", "suppressed"])


# --------------------------------------------------------------------------
# Sentences (a statement is a row first)
# --------------------------------------------------------------------------
def _fmt_interval(lo: float, hi: float, decimals: int = 2) -> str:
    sep = "–" if lo >= 0 and hi >= 0 else " till "
    return f"{sv_num(lo, decimals)}{sep}{sv_num(hi, decimals)}"


def _planned(n: float) -> str:
    return f"{sv_num(n, 0)} planerad" if n == 1 else f"{sv_num(n, 0)} planerade"


def target_sentence(row: pd.Series | dict) -> str:
    """The Swedish sentence that a follow-up row supports (estimates and intervals)."""
    r = dict(row)
    label = str(r["target_label"])
    label = label[0].lower() + label[1:] if r["kind"] == "dimension" else label
    d = 1 if r["kind"] == "result" else 2
    if r["kind"] == "observations":
        planned, observed = r.get("lessons_planned"), r.get("lessons_observed")
        if not (isinstance(planned, float) and np.isfinite(planned)) or planned == 0:
            return (f"{label}: {_planned(r['target'])}; ingen termin av perioden är ännu "
                    "avslutad.")
        return (f"{label}: {_planned(r['target'])} per termin. Under perioden "
                f"hittills har {int(observed or 0)} lektioner observerats, mot {int(planned)} "
                f"planerade (status: {r['status']}).")
    side = "minst" if r["higher_is_better"] else "högst"
    head = f"Mål: {label} {side} {sv_num(r['target'], d)} till {r['target_term']}"
    b = r.get("baseline")
    if b is not None and isinstance(b, (int, float)) and np.isfinite(b):
        head += f" (utgångsläge {sv_num(float(b), d)}"
        head += f", {r['baseline_term']})" if r.get("baseline_term") else ")"
    head += "."
    if not np.isfinite(r.get("estimate", float("nan"))):
        return f"{head} Det kan ännu inte avgöras: {r['status_reason']}."
    now = (f" Nu ({r['current_term']}): {sv_num(r['estimate'], d)} "
           f"({_fmt_interval(r['conf_low'], r['conf_high'], d)}).")
    if np.isfinite(r.get("projection", float("nan"))) and np.isfinite(
            r.get("probability", float("nan"))):
        who = "huvudmannens" if r["level"] == "organiser" else "skolans"
        proj = (f" Med {who} trend väntas {sv_num(r['projection'], d)} "
                f"({_fmt_interval(r['projection_low'], r['projection_high'], d)}) "
                f"{r['target_term']}; sannolikheten att nå målet är "
                f"{sv_num(100 * r['probability'], 0)} %.")
    else:
        proj = ""
    return f"{head}{now}{proj} Status: {r['status']} – {r['status_reason']}."


# --------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PlanFollowupResult(Result):
    """Plan follow-up (see :func:`plan_followup`)."""

    table: pd.DataFrame = field(repr=False)
    adherence_table: pd.DataFrame = field(repr=False)
    others: pd.DataFrame = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def adherence(self) -> pd.DataFrame:
        """Lessons planned and observed per school × term × visit type (a copy)."""
        return self.adherence_table.copy()

    def other_dimensions(self) -> pd.DataFrame:
        """Each planning school's trend per dimension, in focus or not (a copy)."""
        return self.others.copy()

    def school(self, school_id: str) -> pd.DataFrame:
        """The follow-up rows of one school."""
        t = self.table
        return t[t["school_id"].astype(str) == str(school_id)].reset_index(drop=True)

    def _summary_text(self) -> str:
        t = self.table
        lines = [f"Uppföljning av planerna (underlag till och med {self.info.get('as_of')})", ""]
        counts = t[t["level"] == "school"]["status"].value_counts()
        lines.append("Skolornas mål: " + ", ".join(
            f"{s} {int(counts.get(s, 0))}" for s in STATUSES))
        for r in t[t["level"] == "organiser"].itertuples(index=False):
            lines.append(f"Huvudmannens mål {r.target_id} ({r.target_label}): "
                         f"{int(r.n_serving_reached)} uppnått, {int(r.n_serving_on_track)} på "
                         f"väg, {int(r.n_serving_not_on_track)} inte på väg, "
                         f"{int(r.n_serving_undecided)} kan ännu inte avgöras av "
                         f"{int(r.n_targets_serving)} skolmål som tjänar det.")
        lines.append("")
        for r in t.itertuples(index=False):
            who = r.school_name if r.level == "school" else "Huvudmannen"
            lines.append(f"{who} – {r.target_id}: {target_sentence(r._asdict())}")
        lines += ["", ASSUMPTIONS_SV, STATUS_RULE_SV]
        for n in self.info.get("notes", ()):
            lines.append(f"Obs: {n}")
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None, *, school_id: str | None = None,
             level: str | None = None) -> Axes:
        """Targets (diamonds), current estimates and projections with 95 % intervals.

        One line per target (teaching-quality, item and results targets; lesson
        targets are in :meth:`adherence`), in the order of the plans (schools in
        Swedish alphabetical order, never by value: nothing is ranked).
        """
        from ..plots import new_axes

        t = self.table
        t = t[t["kind"] != "observations"]
        if school_id is not None:
            t = t[t["school_id"].astype(str) == str(school_id)]
        if level is not None:
            t = t[t["level"] == level]
        t = _swedish_order(t)
        if ax is None:
            ax = new_axes((7.5, 0.45 * max(len(t), 2) + 1.2))
        y = np.arange(len(t))[::-1]
        for yi, r in zip(y, t.itertuples(index=False), strict=True):
            if np.isfinite(r.estimate):
                ax.errorbar(r.estimate, yi + 0.15, xerr=[[r.estimate - r.conf_low],
                                                         [r.conf_high - r.estimate]],
                            fmt="o", color="#1f4e79", ms=5, capsize=2,
                            label="nu (95 % intervall)" if yi == y[0] else None)
            if np.isfinite(r.projection) and np.isfinite(r.projection_se):
                ax.errorbar(r.projection, yi - 0.15, xerr=[[r.projection - r.projection_low],
                                                            [r.projection_high - r.projection]],
                            fmt="s",
                            color="#c55a11", ms=4, capsize=2,
                            label="väntat vid målterminen" if yi == y[0] else None)
            ax.plot(r.target, yi, marker="D", color="black", ms=6, ls="none",
                    label="mål" if yi == y[0] else None)
        labels = [f"{r.school_name}: {r.target_label}" if r.level == "school"
                  else f"Huvudmannen: {r.target_label}" for r in t.itertuples(index=False)]
        ax.set_yticks(y)
        ax.set_yticklabels([lab if len(lab) < 60 else lab[:57] + "…" for lab in labels],
                           fontsize=8)
        ax.set_xlabel("Värde (index på protokollets skala; resultat: jämfört med förväntat)")
        if len(t):
            ax.legend(loc="lower right", fontsize=7, frameon=False)
        return ax


def _swedish_order(t: pd.DataFrame) -> pd.DataFrame:
    """Organiser first, then schools by name in Swedish order (å ä ö last)."""
    order = sorted(range(len(t)), key=lambda i: (
        t.iloc[i]["level"] != "organiser", swedish_key(t.iloc[i]["school_name"]),
        str(t.iloc[i]["target_id"])))
    return t.iloc[order]


__all__ = ["plan_followup", "PlanFollowupResult", "status_rule", "adherence_status",
           "probability_reached", "series_projection", "lessons_by_term", "target_sentence",
           "STATUSES", "P_ON_TRACK", "P_OFF_TRACK", "MIN_TERMS", "MIN_YEARS",
           "ASSUMPTIONS_SV", "STATUS_RULE_SV"]
