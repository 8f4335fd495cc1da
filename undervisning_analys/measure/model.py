"""The teaching-quality model: one fitted object per Dataset and score.

One linear mixed model per score (``overall`` or a dimension), fitted by REML
through :func:`undervisning_analys.engine.mixed.fit_mixed` to the form-level
scores (:func:`~undervisning_analys.measure.scoring.score_forms`)::

    score ~ time + type_planerad + type_kollegial + own_school
            + (1 + time | school_id) + (1 | school_term)
            + (1 | teacher_id) + (1 | observer_id) + (1 | observation_id)

:class:`TeachingQualityModel` is that model, fitted once per Dataset and score
(:func:`teaching_quality_model`; held by the Dataset, see :mod:`._store`). The
index (:func:`~undervisning_analys.measure.index.teaching_quality`), growth
(:func:`~undervisning_analys.models.growth.growth`), the variance components
and the decision study (:mod:`~undervisning_analys.measure.reliability`), the
link's yearly index and the reports all read it through its public methods:
:meth:`~TeachingQualityModel.school_cells`, :meth:`~TeachingQualityModel.cell_covariance`,
:meth:`~TeachingQualityModel.school_trends`, :meth:`~TeachingQualityModel.yearly`,
:attr:`~TeachingQualityModel.components`, :meth:`~TeachingQualityModel.fixed_effects`,
:meth:`~TeachingQualityModel.observer_severity` and :attr:`~TeachingQualityModel.diagnostics`.
Rater drift (:func:`~undervisning_analys.measure.drift.rater_drift`) reads the
same model with its drift option (``observer_drift=True``, below) through
:meth:`~TeachingQualityModel.observer_drift`, :attr:`~TeachingQualityModel.drift_sd`
and :meth:`~TeachingQualityModel.predict`.

The terms
---------
* ``time`` = years since the first term in the data (``schema.term_index``,
  so HT → VT is half a year and the slope is per school year). The fixed
  ``time`` is the municipality's average trend; ``(1 + time | school_id)``
  gives every school its own level and trend (correlated), so that a term's
  estimate borrows strength from the school's other terms along its own line
  rather than being pulled towards a flat school mean.
* ``(1 | school_term)`` (``school_id:term``) lets each term deviate from the
  school's line; without it the index would be a straight line per school and
  its intervals would be too narrow whenever quality moves from term to term.
* ``(1 | teacher_id)`` separates persistent differences between teachers from
  the school's level; teacher ids are unique within the municipality, so the
  crossed term also serves teachers who move between schools.
* ``(1 | observer_id)`` is the observer's severity (a constant shift of all
  their forms). ``own_school`` (fixed) is the extra leniency of an observer
  towards the school where they work, and ``type_*`` (fixed, dummies against
  spontaneous visits) the difference between planned, spontaneous and
  collegial visits. Both are fixed because they are systematic differences
  the index must remove, and they are few and well identified.
* ``(1 | observation_id)``: the two forms of a paired observation share the
  lesson. The term is included when at least 20 lessons have two forms
  (otherwise the lesson variance cannot be told from the residual and the
  term is left out: its variance is then part of the residual).

Smaller data get a smaller model: one term drops ``time`` and ``school_term``;
fewer than 5 schools or 3 terms drops the random trend; one school drops the
school term (its level and trend are then the fixed effects). A type or
``own_school`` that never varies is left out, and when no visit is
spontaneous the most common type is the reference (the summary says so).
Growth needs school trends: with fewer than 5 schools or 3 terms it asks for
the same model with the random trend kept (``school_slopes=True``).

Alternatives considered. Fixed effects per term (a municipality-wide shock
each term) instead of the linear ``time``: the school × term effect already
takes up term-to-term movement, and fixed term effects would cost a parameter
per term while the municipality's trajectory could no longer borrow strength
across terms. An item-level model (12 rows per form with item effects) has the
same school × term estimand at twelve times the size. A cumulative-link
(ordinal) mixed model would respect the 1–4 scale but is not available in the
engine; the form score is a mean of twelve items and close to normal.

Observer drift (an option)
--------------------------
``observer_drift=True`` (:func:`specify_model`, :func:`teaching_quality_model`)
is the same model with the observer's severity given a trend of its own,
``(1 + time_c || observer_id)`` instead of ``(1 | observer_id)``: ``time_c``
is ``time`` centred on the middle of the data's period, so the random
intercept is the observer's severity in the middle of the period and the
uncorrelated random slope their change in severity per school year, relative
to the average observer (with a correlation the fit went to the boundary on
data without drift). It needs three terms and three observers. The two
uncorrelated terms are, as in lme4, two variance components (groups
``observer_id`` and ``observer_id.1``); the mixed-model equations see them as
two blocks (:attr:`ModelSpecification.equation_blocks`). The drift model is
fitted once per Dataset and score beside the main one and read through
:meth:`TeachingQualityModel.observer_drift`, :attr:`~TeachingQualityModel.drift_sd`
and :meth:`TeachingQualityModel.predict` by
:func:`~undervisning_analys.measure.drift.rater_drift`; the index and
everything else keep the main model.
How well the index recovers the truth on synthetic data is measured by
``benchmarks/sim_index_coverage.py`` (figures in ``benchmarks/RESULTS.md``).

The index and its uncertainty
-----------------------------
The index of school ``s`` in term ``t`` is the model's prediction at
reference conditions – a spontaneous visit, by an average observer who does
not work at the school, of an average teacher of the school::

    index[s, t] = β0 + β_time·t + b0[s] + b1[s]·t + c[s, t]

with the estimated fixed effects and the conditional modes (BLUPs) of the
school's random effects: a shrunken estimate on the score scale of the
instrument. Its standard error comes from the *joint* conditional covariance
of fixed and random effects given the estimated variance parameters, from
Henderson's mixed-model equations (:mod:`undervisning_analys.engine.mme`),
plus the Kackar–Harville term for the estimated variance parameters
(Prasad–Rao: ``MSE ≈ g1 + g2 + 2 g3``). A cell without observations
(suppressed anyway) gets ``c = 0`` and ``σ²_ST`` added.

What the index estimates: the expected form score (on the instrument's
scale) of a spontaneous visit by an average observer from outside the
school, marginal over the school's teachers, lessons and rating noise, in
that school and term.

Fitting: the dimensions' models (``teaching_quality_models``) start from the
first model's variance parameters and are fitted two at a time in threads;
each reaches its own REML optimum (tested against a fit from the engine's
default start). The optimiser's path (evaluations, methods, convergence) is in
:attr:`TeachingQualityModel.diagnostics`.

References
----------
Henderson, C. R. (1975). Best linear unbiased estimation and prediction under
a selection model. *Biometrics*, 31, 423–447.
Kackar, R. N. & Harville, D. A. (1984). Approximations for standard errors of
estimators of fixed and random effects in mixed linear models. *JASA*, 79,
853–862.
Prasad, N. G. N. & Rao, J. N. K. (1990). The estimation of the mean squared
error of small-area estimators. *JASA*, 85, 163–171.
Datta, G. S. & Lahiri, P. (2000). A unified measure of uncertainty of
estimated best linear unbiased predictors in small area estimation problems.
*Statistica Sinica*, 10, 613–627.
Gilmour, A. R., Thompson, R. & Cullis, B. R. (1995). Average information REML.
*Biometrics*, 51, 1440–1450.
Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). Fitting linear
mixed-effects models using lme4. *J. Statistical Software*, 67(1).
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from .._format import Z_95
from ..engine import mixed as engine_mixed
from ..engine.mme import MixedModelEquations, RandomBlock, block_cov
from ..engine.threads import one_blas_thread
from ..errors import ModelError
from . import aggregate
from ._store import cached, peek, put
from .components import VarianceComponents
from .scoring import check_dimension, score_forms

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset
    from ..engine.mixed import MixedResult

__all__ = ["TeachingQualityModel", "ModelSpecification", "specify_model", "fit_model",
           "teaching_quality_model", "teaching_quality_models", "MIN_PAIRED_LESSONS",
           "FIXED_LABELS_SV", "Z_95", "DRIFT_GROUP", "MIN_DRIFT_TERMS", "MIN_DRIFT_OBSERVERS"]

DRIFT_GROUP = "observer_id.1"
"""The engine's (lme4's) name of the observers' uncorrelated drift term, and the frame's
column that carries the observer for it in the mixed-model equations."""
MIN_DRIFT_TERMS = 3
"""Terms needed before an observer's severity can have a trend."""
MIN_DRIFT_OBSERVERS = 3
"""Observers needed before their drift can be told from the municipality's trend."""

MIN_PAIRED_LESSONS = 20
"""Lessons with two forms needed before a lesson random effect is added."""

#: Swedish labels of the fixed effects.
FIXED_LABELS_SV = {
    "(Intercept)": "nivå vid första terminen (referensförhållanden)",
    "time": "förändring per läsår (kommunens genomsnitt)",
    "type_spontan": "spontant besök (jämfört med referenstypen)",
    "type_planerad": "planerat besök (jämfört med spontant)",
    "type_kollegial": "kollegial observation (jämfört med spontant)",
    "own_school": "observatör från den egna skolan",
}


# --------------------------------------------------------------------------
# Specification
# --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ModelSpecification:
    """The model for one score: its data, fixed terms, random blocks and formula."""

    dimension: str
    frame: pd.DataFrame
    """The forms with a score for ``dimension`` (column ``score``) and the dummies."""
    fixed: list[str]
    blocks: list[RandomBlock]
    reference_type: str
    own_school_adjusted: bool
    observer_drift: bool = False
    """The observer's severity with an uncorrelated trend (``(1 + time_c || observer_id)``)."""

    @property
    def formula(self) -> str:
        """The model in lme4's syntax."""
        rhs = " + ".join(self.fixed) if self.fixed else "1"
        rand = []
        for b in self.blocks:
            lhs = " + ".join("1" if t == "(Intercept)" else t for t in b.terms)
            bar = "||" if self.observer_drift and b.group == "observer_id" else "|"
            rand.append(f"({lhs} {bar} {b.group})")
        return f"score ~ {rhs} + " + " + ".join(rand)

    @property
    def equation_blocks(self) -> list[RandomBlock]:
        """The random blocks as the mixed-model equations see them: an uncorrelated
        ``(1 + time_c || observer_id)`` is two blocks, ``observer_id`` and
        :data:`DRIFT_GROUP` (the engine's names of its variance components)."""
        out: list[RandomBlock] = []
        for b in self.blocks:
            if self.observer_drift and b.group == "observer_id":
                out += [RandomBlock("observer_id", ("(Intercept)",)),
                        RandomBlock(DRIFT_GROUP, ("time_c",))]
            else:
                out.append(b)
        return out

    @property
    def time_centre(self) -> float:
        """The time (years since the first term) ``time_c`` is centred on (NaN without drift)."""
        if not self.observer_drift:
            return float("nan")
        return float((self.frame["time"] - self.frame["time_c"]).iloc[0])


def specify_model(forms: pd.DataFrame, dim: str, *, observer_drift: bool = False
                  ) -> ModelSpecification:
    """The model for one score (``dim``) given the scored forms (rules in the module doc).

    ``observer_drift=True``: the observer's severity with a trend (see "Observer
    drift" in the module doc); needs :data:`MIN_DRIFT_TERMS` terms and
    :data:`MIN_DRIFT_OBSERVERS` observers (``ModelError`` otherwise).
    """
    f = forms[forms[dim].notna()].copy()
    if len(f) == 0:
        raise ModelError(f"Inga protokoll har poäng för {dim!r} (för många obesvarade "
                         "påståenden)", table="observations", column="score",
                         hint="Kontrollera att observationerna har poäng")
    f["score"] = f[dim].astype(float)
    if observer_drift:
        n_t, n_o = f["term"].nunique(), f["observer_id"].nunique()
        if n_t < MIN_DRIFT_TERMS:
            raise ModelError(
                f"Bedömarnas förändring över tid kräver observationer från minst tre terminer, "
                f"men data har {n_t}", table="observations", column="term",
                hint="Ta med fler terminers observationer")
        if n_o < MIN_DRIFT_OBSERVERS:
            raise ModelError(
                f"Bedömarnas förändring över tid kräver minst tre observatörer, men data har "
                f"{n_o}", table="observations", column="observer_id",
                hint="Ta med observationer från fler observatörer")
    types = f["observation_type"].value_counts()
    ref = "spontan" if types.get("spontan", 0) > 0 else str(types.index[0])
    fixed: list[str] = []
    n_terms = f["term"].nunique()
    n_schools = f["school_id"].nunique()
    if n_terms >= 2:
        fixed.append("time")
    for t in schema.OBSERVATION_TYPES:
        if t == ref:
            continue
        col = f"type_{t}"
        f[col] = (f["observation_type"] == t).astype(float)
        if 0 < f[col].sum() < len(f):
            fixed.append(col)
    own_var = 0 < f["own_school"].sum() < len(f)
    if own_var:
        fixed.append("own_school")
    blocks: list[RandomBlock] = []
    if n_schools >= 2:
        slope = n_terms >= 3 and n_schools >= 5
        blocks.append(RandomBlock("school_id", ("(Intercept)", "time") if slope else ("(Intercept)",)))
    if n_terms >= 2 and f["school_term"].nunique() > n_schools:
        blocks.append(RandomBlock("school_term", ("(Intercept)",)))
    n = len(f)
    if 2 <= f["teacher_id"].nunique() < n:
        blocks.append(RandomBlock("teacher_id", ("(Intercept)",)))
    if observer_drift:
        # the observer's severity in the middle of the period, and its trend
        f["time_c"] = f["time"] - (f["time"].min() + f["time"].max()) / 2
        f[DRIFT_GROUP] = f["observer_id"]
        blocks.append(RandomBlock("observer_id", ("(Intercept)", "time_c")))
    elif 2 <= f["observer_id"].nunique() < n:
        blocks.append(RandomBlock("observer_id", ("(Intercept)",)))
    if (f.groupby("observation_id").size() > 1).sum() >= MIN_PAIRED_LESSONS:
        blocks.append(RandomBlock("observation_id", ("(Intercept)",)))
    if not blocks:
        raise ModelError("För lite data för modellen: en skola, en lärare och en observatör",
                         hint="Indexet behöver observationer av flera lärare eller skolor")
    own_adjusted = bool(own_var) or f["own_school"].sum() == 0
    return ModelSpecification(dim, f.reset_index(drop=True), fixed, blocks, ref, own_adjusted,
                              observer_drift)


def _with_school_slopes(spec: ModelSpecification) -> ModelSpecification:
    """The same model with a random school trend (growth's requirement)."""
    if "time" not in spec.fixed:
        raise ModelError("För få terminer för en trend: minst 2 behövs", table="observations",
                         column="term", hint="Trender kräver observationer från flera terminer.")
    blocks = [RandomBlock("school_id", ("(Intercept)", "time")) if b.group == "school_id"
              else b for b in spec.blocks]
    return ModelSpecification(spec.dimension, spec.frame, spec.fixed, blocks,
                              spec.reference_type, spec.own_school_adjusted, spec.observer_drift)


# --------------------------------------------------------------------------
# The fitted model
# --------------------------------------------------------------------------
class TeachingQualityModel:
    """One fitted teaching-quality model (one Dataset, one score).

    Made by :func:`teaching_quality_model` (once per Dataset and score) or
    :func:`fit_model`. It holds teacher-level effects internally; its public
    views return school-level figures only.

    Attributes
    ----------
    dimension, formula, frame, fixed, blocks, reference_type, own_school_adjusted
        The specification (:class:`ModelSpecification`).
    fit : the engine's :class:`~undervisning_analys.engine.mixed.MixedResult`.
    components : :class:`~undervisning_analys.measure.components.VarianceComponents`.
    beta, b : fixed effects and conditional modes from the mixed-model equations.
    cells : every school with forms × every term: school_id, term, time, estimate,
        se, se_plugin (before suppression).
    cell_cov : the joint covariance of ``cells`` (rows in the same order).
    trends : each school's trend (school_id, estimate, se, se_plugin) or None
        without a random school trend.
    max_diff : largest differences between the equations' and the engine's
        fixed effects and conditional modes (a check; tested).
    """

    def __init__(self, spec: ModelSpecification, fit: MixedResult, *, terms: Sequence[str],
                 first_term: str, school_names: dict[str, str] | None = None,
                 kackar_harville: bool = True) -> None:
        from scipy import sparse

        self.spec = spec
        self.school_names = dict(school_names or {})
        self.kackar_harville = bool(kackar_harville)
        #: whether the fit started from another score's model (set by the fitter)
        self.warm_start = False
        self._lock = threading.Lock()
        self._school_cells: pd.DataFrame | None = None
        dim, frame, fixed = spec.dimension, spec.frame, spec.fixed
        blocks = spec.equation_blocks
        vc = fit.varcorr
        sigma2 = float(vc.loc[vc["group"] == "Residual", "var_cov"].iloc[0])
        # the cells and trends combine the fixed effects with the school and school × term
        # effects: those columns are kept to the end of the elimination (engine.mme)
        mme = MixedModelEquations(frame, fixed, blocks, vc, sigma2,
                                  last=("school_id", "school_term"))
        beta = pd.Series(mme.beta, index=mme.fixed_names)
        b = mme.index.assign(estimate=mme.b)

        # agreement with the engine (a check of the parametrisation; tested)
        eng_beta = fit.fixef.reindex(beta.index)
        modes = fit.conditional_modes(cond_var=False).set_index(
            ["group", "level", "term"])["estimate"]
        # the engine names both terms of (1 + time_c || observer_id) "observer_id"
        keys = b[["group", "level", "term"]].replace({"group": {DRIFT_GROUP: "observer_id"}})
        eng_b = modes.reindex(pd.MultiIndex.from_frame(keys)).to_numpy()
        max_diff = {"fixef": float(np.nanmax(np.abs(eng_beta.to_numpy() - beta.to_numpy()))),
                    "ranef": float(np.nanmax(np.abs(eng_b - b["estimate"].to_numpy())))}

        # variance components
        comp_of = {blk.group: block_cov(vc, blk) for blk in blocks}
        times = tuple(sorted(set(frame["time"].round(6))))
        # without a school effect (one school) there is no between-school variance, and a
        # between-school reliability is undefined: NaN
        school_cov = comp_of.get("school_id", np.full((1, 1), np.nan))
        n_paired = int((frame.groupby("observation_id").size() > 1).sum())
        components = VarianceComponents(
            school_cov=school_cov,
            school_term=float(comp_of.get("school_term", np.zeros((1, 1)))[0, 0]),
            teacher=float(comp_of.get("teacher_id", np.zeros((1, 1)))[0, 0]),
            observer=float(comp_of.get("observer_id", np.zeros((1, 1)))[0, 0]),
            lesson=float(comp_of.get("observation_id", np.zeros((1, 1)))[0, 0]),
            residual=sigma2, times=times, dimension=dim, first_term=first_term,
            lesson_separated="observation_id" in comp_of,
            counts={"forms": len(frame), "lessons": int(frame["observation_id"].nunique()),
                    "paired_lessons": n_paired, "schools": int(frame["school_id"].nunique()),
                    "teachers": int(frame["teacher_id"].nunique()),
                    "observers": int(frame["observer_id"].nunique())},
            fixef=pd.DataFrame({"term": fit.fixef.index, "estimate": fit.fixef.to_numpy(),
                                "se": fit.se.reindex(fit.fixef.index).to_numpy()}))

        # cells: every school with forms × every term in the data
        first = first_term

        schools = sorted(frame["school_id"].unique())
        cells = pd.DataFrame([(s, t) for s in schools for t in terms], columns=["school_id", "term"])
        cells["time"] = cells["term"].map(schema.term_index) - schema.term_index(first)
        cells["level_st"] = cells["school_id"] + ":" + cells["term"]
        n_cells = len(cells)
        l_beta = np.zeros((n_cells, mme.p))
        l_beta[:, 0] = 1.0
        if "time" in fixed:
            l_beta[:, mme.fixed_names.index("time")] = cells["time"].to_numpy()
        rows, cols, vals = [], [], []
        extra_var = np.zeros(n_cells)
        has_st = any(blk.group == "school_term" for blk in blocks)
        for i, c in enumerate(cells.itertuples(index=False)):
            for term, v in (("(Intercept)", 1.0), ("time", c.time)):
                pos = mme.position.get(("school_id", c.school_id, term))
                if pos is not None:
                    rows.append(i)
                    cols.append(pos)
                    vals.append(v)
            pos = mme.position.get(("school_term", c.level_st, "(Intercept)"))
            if pos is not None:
                rows.append(i)
                cols.append(pos)
                vals.append(1.0)
            elif has_st:
                extra_var[i] = components.school_term
        l_b = sparse.csr_matrix((vals, (rows, cols)), shape=(n_cells, mme.q))
        cells["estimate"] = l_beta @ mme.beta + l_b @ mme.b
        cov = mme.cov(mme.to_u(l_beta, l_b)) + np.diag(extra_var)
        pev = np.diag(cov).copy()
        if kackar_harville:
            added, _ = mme.kackar_harville(l_beta, l_b, comp_of)
            cov = cov + 2.0 * added  # Prasad–Rao: plug-in PEV is biased down by about g3
        cells["se"] = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        cells["se_plugin"] = np.sqrt(np.clip(pev, 0.0, None))
        cells = cells.drop(columns="level_st")
        trends = _school_trends(mme, schools, comp_of, kackar_harville)
        self._fit = fit
        self._components = components
        self.beta, self.b = beta, b
        self.cells, self.cell_cov = cells, cov
        self.first_term = str(first)
        self.max_diff = max_diff
        self.trends = trends

    # -- specification ---------------------------------------------------------
    @property
    def dimension(self) -> str:
        return self.spec.dimension

    @property
    def formula(self) -> str:
        return self.spec.formula

    @property
    def frame(self) -> pd.DataFrame:
        return self.spec.frame

    @property
    def fixed(self) -> list[str]:
        return self.spec.fixed

    @property
    def blocks(self) -> list[RandomBlock]:
        return self.spec.blocks

    @property
    def reference_type(self) -> str:
        return self.spec.reference_type

    @property
    def own_school_adjusted(self) -> bool:
        return self.spec.own_school_adjusted

    @property
    def fit(self) -> MixedResult:
        """The engine's fit (``MixedResult``)."""
        return self._fit

    @property
    def components(self) -> VarianceComponents:
        """The variance components of the model."""
        return self._components

    @property
    def diagnostics(self) -> dict[str, Any]:
        """How the fit was found: the optimiser path of the engine's fit.

        ``optimizer`` (the method whose estimates were kept), ``optimizers``
        (the methods run, in order), ``evaluations`` (deviance evaluations),
        ``iterations``, ``converged``, ``singular``, ``message`` and
        ``warm_start`` (whether the fit started from another score's model).
        """
        return {**self._fit.optimizer_path, "singular": self._fit.singular,
                "warm_start": bool(self.warm_start)}

    # -- views -------------------------------------------------------------------
    def school_trends(self) -> pd.DataFrame | None:
        """Each school's trend per school year (school_id, estimate, se, se_plugin).

        ``β_time + b_s,time`` with the joint prediction-error SE of the
        mixed-model equations plus the Kackar–Harville term. None when the
        model has no random school trend."""
        return None if self.trends is None else self.trends.copy()

    def school_cells(self) -> pd.DataFrame:
        """Every school × term cell with counts, reliability and suppression
        (:func:`~undervisning_analys.measure.aggregate.school_cells`; computed once)."""
        with self._lock:
            if self._school_cells is None:
                self._school_cells = aggregate.school_cells(self)
            return self._school_cells.copy()

    def cell_covariance(self, published: bool = True) -> pd.DataFrame:
        """Joint covariance of the school × term indices, indexed by (school_id, term).

        ``published=True`` (default): only the cells that are not suppressed.
        The change of a school between two terms has variance
        ``cov[a, a] + cov[b, b] − 2 cov[a, b]``.
        """
        rows = self.school_cells()
        if published:
            rows = rows[~rows["suppressed"]]
        idx = rows["cell"].to_numpy()
        mi = pd.MultiIndex.from_frame(rows[["school_id", "term"]])
        return pd.DataFrame(self.cell_cov[np.ix_(idx, idx)], index=mi, columns=mi)

    def yearly(self) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The index per school × school year (the mean of its published terms) with the
        joint covariance of the available rows
        (:func:`~undervisning_analys.measure.aggregate.yearly_from_terms`)."""
        rows = self.school_cells()
        sup = rows["suppressed"].to_numpy(bool)
        terms = pd.DataFrame({
            "school_id": rows["school_id"].astype(str), "term": rows["term"].astype(str),
            "estimate": rows["estimate"].where(~sup), "se": rows["se"].where(~sup),
            "reliability": rows["reliability"], "n_obs": rows["n_obs"], "suppressed": sup})
        return aggregate.yearly_from_terms(terms, self.cell_covariance(published=True))

    def fixed_effects(self) -> pd.DataFrame:
        """The fixed effects: term, Swedish label, estimate, se, 95 % interval."""
        fe = self.components.fixef
        assert fe is not None
        out = fe.copy()
        out["label"] = out["term"].map(FIXED_LABELS_SV).fillna(out["term"])
        out["conf_low"] = out["estimate"] - Z_95 * out["se"]
        out["conf_high"] = out["estimate"] + Z_95 * out["se"]
        return out[["term", "label", "estimate", "se", "conf_low", "conf_high"]]

    # -- the drift option --------------------------------------------------------
    @property
    def observer_drift_fitted(self) -> bool:
        """Whether the model has the observers' drift (``observer_drift=True``)."""
        return self.spec.observer_drift

    @property
    def time_centre(self) -> float:
        """The time ``time_c`` is centred on (years since the first term; NaN without drift)."""
        return self.spec.time_centre

    def _need_drift(self) -> None:
        if not self.spec.observer_drift:
            raise ModelError("Modellen är skattad utan bedömardrift",
                             hint="Använd teaching_quality_model(ds, dimension, "
                                  "observer_drift=True)")

    @property
    def drift_sd(self) -> float:
        """The sd of the observers' drift per school year (the drift term's variance
        component); requires the drift option."""
        self._need_drift()
        vc = self.fit.varcorr
        row = vc[(vc["group"] == DRIFT_GROUP) & (vc["term1"] == "time_c")]
        return float(row["sd_cor"].iloc[0]) if len(row) else float("nan")

    def observer_drift(self) -> pd.DataFrame:
        """Each observer's severity and drift (the drift option's conditional modes).

        Columns: observer_id (sorted), severity and severity_se (the observer's
        severity in the middle of the period, ``time_centre``), drift and
        drift_se (change in severity per school year, relative to the average
        observer; positive = milder over time). Standard errors are lme4's
        conditional standard deviations. Requires the drift option.
        """
        self._need_drift()
        modes = self.fit.conditional_modes(cond_var=True)
        m = modes[modes["group"] == "observer_id"]
        inter = m[m["term"] == "(Intercept)"].set_index("level")
        slope = m[m["term"] == "time_c"].set_index("level")
        ids = sorted(self.frame["observer_id"].astype(str).unique())
        return pd.DataFrame({
            "observer_id": ids,
            "severity": inter["estimate"].reindex(ids).to_numpy(),
            "severity_se": inter["std_error"].reindex(ids).to_numpy(),
            "drift": slope["estimate"].reindex(ids).to_numpy(),
            "drift_se": slope["std_error"].reindex(ids).to_numpy()})

    def predict(self, without: Sequence[str] = ()) -> np.ndarray:
        """The model's prediction for every form of :attr:`frame` (same order): fixed
        effects plus the conditional modes of the random effects, leaving out the
        groups in ``without`` (e.g. ``("observer_id",)``: what the form would score
        without its observer's effects; with the drift option both the severity and
        the drift)."""
        frame = self.frame
        beta = self.fit.fixef
        pred = np.full(len(frame), float(beta.get("(Intercept)", 0.0)))
        for name in self.fixed:
            pred += float(beta[name]) * frame[name].to_numpy(dtype=float)
        modes = self.fit.conditional_modes(cond_var=False)
        skip = set(without)
        for blk in self.blocks:
            if blk.group in skip:
                continue
            m = modes[modes["group"] == blk.group]
            for term in blk.terms:
                est = m[m["term"] == term].set_index("level")["estimate"]
                val = frame[blk.group].astype(str).map(est).fillna(0.0).to_numpy(dtype=float)
                pred += val if term == "(Intercept)" else val * frame[term].to_numpy(dtype=float)
        return pred

    def observer_severity(self) -> pd.DataFrame:
        """Observers' estimated severity (conditional modes of the observer effect).

        Columns: observer_id, observer_role, home_school_id (latest school
        year), n_forms, estimate, se (lme4's conditional standard deviation).
        """
        modes = self.fit.conditional_modes()
        modes = modes[(modes["group"] == "observer_id") & (modes["term"] == "(Intercept)")]
        info = (self.frame.sort_values("date").groupby("observer_id")
                .agg(observer_role=("observer_role", "last"),
                     home_school_id=("home_school_id", "last"), n_forms=("score", "size")))
        out = modes.rename(columns={"level": "observer_id", "std_error": "se"})[
            ["observer_id", "estimate", "se"]].merge(info, left_on="observer_id",
                                                     right_index=True, how="left")
        return out[["observer_id", "observer_role", "home_school_id", "n_forms", "estimate",
                    "se"]].reset_index(drop=True)


def _school_trends(mme: MixedModelEquations, schools: list[str], comp_of: dict[str, np.ndarray],
                   kackar_harville: bool) -> pd.DataFrame | None:
    """Each school's trend ``β_time + b_s,time`` with its prediction-error SE.

    The SE is the joint one of the mixed-model equations (it includes the
    uncertainty of the fixed slope and its covariance with the school's
    random slope), plus the Kackar–Harville term as for the cells. None when
    the model has no random school slope.
    """
    from scipy import sparse

    if "time" not in mme.fixed_names:
        return None
    pos = [mme.position.get(("school_id", s, "time")) for s in schools]
    if any(p is None for p in pos):
        return None
    n = len(schools)
    l_beta = np.zeros((n, mme.p))
    l_beta[:, mme.fixed_names.index("time")] = 1.0
    l_b = sparse.csr_matrix((np.ones(n), (np.arange(n), np.asarray(pos, dtype=np.int64))),
                            shape=(n, mme.q))
    est = l_beta @ mme.beta + l_b @ mme.b
    cov = mme.cov(mme.to_u(l_beta, l_b))
    plugin = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if kackar_harville:
        added, _ = mme.kackar_harville(l_beta, l_b, comp_of)
        cov = cov + 2.0 * added
    return pd.DataFrame({"school_id": schools, "estimate": est,
                         "se": np.sqrt(np.clip(np.diag(cov), 0.0, None)),
                         "se_plugin": plugin})


# --------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------
@dataclass(eq=False)
class _Fitted:
    """A score's model fitted by the engine, before the mixed-model equations."""

    spec: ModelSpecification
    fit: MixedResult
    warm: bool = False


def _warm_start(first: _Fitted, forms: pd.DataFrame, spec: ModelSpecification
                ) -> np.ndarray | None:
    """Starting values for ``dim``'s model from the first dimension's fitted model.

    The same random-effects structure is assumed to have similar variances,
    but the residual of a dimension score (fewer items) is larger: θ is
    relative to the residual SD, so the first model's θ is scaled by
    ``σ_first / sqrt(σ_first² + var(score_dim − score_first))`` (the extra
    variance of a dimension score is mostly item sampling within the form).
    The optimum is the same as from the engine's default start (tested); the
    optimiser only gets there sooner, and the engine still falls back to
    COBYQA when its gradient method does not converge. None when the
    structures differ.
    """
    dim = spec.dimension
    theta = first.fit.theta
    if theta is None or [(b.group, b.terms) for b in spec.blocks] != [
            (b.group, b.terms) for b in first.spec.blocks]:
        return None
    both = forms[[first.spec.dimension, dim]].dropna()
    if len(both) < 2:
        return None
    vc = first.fit.varcorr
    s2 = float(vc.loc[vc["group"] == "Residual", "var_cov"].iloc[0])
    extra = float(np.var(both[dim].to_numpy(float) - both[first.spec.dimension].to_numpy(float)))
    return theta * math.sqrt(s2 / (s2 + extra))


def _engine_fit(forms: pd.DataFrame, spec: ModelSpecification, start: _Fitted | None = None
                ) -> _Fitted:
    options: dict[str, Any] = {}
    theta = None if start is None else _warm_start(start, forms, spec)
    if theta is not None:
        options["start"] = theta
    fit = engine_mixed.fit_mixed(spec.formula, spec.frame, reml=True, **options)
    return _Fitted(spec, fit, theta is not None)


def _finish(forms: pd.DataFrame, fitted: _Fitted, names: dict[str, str] | None,
            kackar_harville: bool = True) -> TeachingQualityModel:
    first = forms.attrs.get("first_term") or min(forms["term"], key=schema.term_index)
    terms = sorted(forms["term"].unique(), key=schema.term_index)
    model = TeachingQualityModel(fitted.spec, fitted.fit, terms=terms, first_term=str(first),
                                 school_names=names, kackar_harville=kackar_harville)
    model.warm_start = fitted.warm
    return model


def fit_model(forms: pd.DataFrame, dimension: str, *, kackar_harville: bool = True,
              school_slopes: bool = False, school_names: dict[str, str] | None = None,
              start: TeachingQualityModel | None = None,
              observer_drift: bool = False) -> TeachingQualityModel:
    """Fit the teaching-quality model for one score to scored forms (not cached).

    Most callers want :func:`teaching_quality_model` (fitted once per Dataset).
    ``start``: another score's fitted model to start the optimiser from.
    ``observer_drift``: the drift option (module doc).
    """
    spec = specify_model(forms, dimension, observer_drift=observer_drift)
    if school_slopes:
        spec = _with_school_slopes(spec)
    first = None if start is None else _Fitted(start.spec, start.fit)
    return _finish(forms, _engine_fit(forms, spec, first), school_names, kackar_harville)


def _fit_models(forms: pd.DataFrame, dims: list[str], names: dict[str, str],
                start: _Fitted | None = None) -> dict[str, TeachingQualityModel]:
    """Each dimension's model: the first fitted alone (unless a start is given), then the
    rest in two threads.

    The other dimensions start from the first model's variance parameters
    (:func:`_warm_start`), which finds the same optimum sooner. Once the first
    model's engine fit is done, the other dimensions' fits and every model's
    mixed-model equations run in two threads (the engine's likelihood
    evaluations and the dense factorisations release the GIL, so two threads
    use two cores without copying the data): the fits first, each model's
    equations queued as its fit ends. Each fit is a full REML fit to its own
    optimum.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        specs = {dim: specify_model(forms, dim) for dim in dims}
        out_first: dict[str, _Fitted] = {}
        if start is None:
            start = out_first[dims[0]] = _engine_fit(forms, specs[dims[0]])
        rest = [d for d in dims if d not in out_first]
        workers = min(2, len(dims), os.cpu_count() or 1)
        if workers < 2:
            out = {d: _finish(forms, f, names) for d, f in out_first.items()}
            out.update({d: _finish(forms, _engine_fit(forms, specs[d], start), names)
                        for d in rest})
            return {d: out[d] for d in dims}
        from concurrent.futures import ThreadPoolExecutor, as_completed

        # the fits first (the longest pieces), then each model's equations as its fit
        # ends: a fit left to the end would leave the other thread idle
        with one_blas_thread(), ThreadPoolExecutor(workers) as pool:
            fits = {pool.submit(_engine_fit, forms, specs[dim], start): dim for dim in rest}
            futures = {dim: pool.submit(_finish, forms, f, names)
                       for dim, f in out_first.items()}
            for done in as_completed(fits):
                futures[fits[done]] = pool.submit(_finish, forms, done.result(), names)
            return {dim: futures[dim].result() for dim in dims}


# --------------------------------------------------------------------------
# Once per Dataset
# --------------------------------------------------------------------------
def _names(ds: Dataset) -> dict[str, str]:
    return dict(zip(ds.schools["school_id"], ds.schools["school_name"]))


def teaching_quality_models(ds: Dataset, dimensions: Sequence[str]
                            ) -> dict[str, TeachingQualityModel]:
    """The fitted models of the given scores, each fitted once per Dataset.

    Models not fitted before are fitted together (:func:`_fit_models`), warm-started
    from a model fitted earlier for the Dataset when there is one.
    """
    dims = list(dict.fromkeys(dimensions))
    for d in dims:
        check_dimension(ds, d)
    lock = cached(ds, "model_lock", threading.Lock)
    with lock:
        have = {d: peek(ds, ("model", d)) for d in dims}
        missing = [d for d in dims if have[d] is None]
        if missing:
            forms = score_forms(ds)
            earlier = next((peek(ds, ("model", d)) for d in ("overall", *_all_dims(ds))
                            if peek(ds, ("model", d)) is not None), None)
            start = None if earlier is None else _Fitted(earlier.spec, earlier.fit)
            for d, m in _fit_models(forms, missing, _names(ds), start).items():
                put(ds, ("model", d), m)
        return {d: peek(ds, ("model", d)) for d in dims}


def _all_dims(ds: Dataset) -> list[str]:
    return [d.id for d in ds.instrument.dimensions]


def teaching_quality_model(ds: Dataset, dimension: str = "overall", *,
                           school_slopes: bool = False,
                           observer_drift: bool = False) -> TeachingQualityModel:
    """The teaching-quality model of one score, fitted once per Dataset.

    ``school_slopes=True`` (growth): when the index's rules leave out the
    random school trend (fewer than 5 schools or 3 terms), the same model with
    the trend kept, also fitted once per Dataset. ``observer_drift=True``
    (:func:`~undervisning_analys.measure.drift.rater_drift`): the same model
    with the observers' drift (module doc, "Observer drift"), fitted once per
    Dataset and score beside the main model.
    """
    dims = check_dimension(ds, dimension)
    if len(dims) != 1:
        raise ModelError("Modellen skattas för en dimension åt gången, inte \"all\"",
                         hint="Ange \"overall\" eller en dimensions id")
    if observer_drift:
        def make_drift() -> TeachingQualityModel:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return fit_model(score_forms(ds), dims[0], observer_drift=True,
                                 school_names=_names(ds))

        return cached(ds, ("model_drift", dims[0]), make_drift)
    model = teaching_quality_models(ds, dims)[dims[0]]
    if not school_slopes or model.trends is not None or any(
            b.group == "school_id" and "time" in b.terms for b in model.blocks):
        return model

    def make() -> TeachingQualityModel:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return fit_model(score_forms(ds), dims[0], school_slopes=True,
                             school_names=_names(ds))

    return cached(ds, ("model_slopes", dims[0]), make)
