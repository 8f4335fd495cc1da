"""The teaching-quality index per school × term, and observation coverage.

Entry points:

* :func:`score_forms` – item scores → one row per form (observation_id ×
  observer_id) with dimension and overall scores (``Instrument.score``), the
  time since the first term and whether the observer works at the school;
* :func:`infer_home_schools` – the rule that decides where an observer works;
* :func:`teaching_quality` – the index with its standard error, counts,
  reliability and privacy suppression, per school, area or municipality;
* :func:`coverage` and :func:`observer_coverage` – who and what was observed.

The model
---------
One linear mixed model per score (``overall`` or a dimension), fitted by REML
through :func:`undervisning_analys.models.mixed.fit_mixed` to the form-level
scores::

    score ~ time + type_planerad + type_kollegial + own_school
            + (1 + time | school_id) + (1 | school_term)
            + (1 | teacher_id) + (1 | observer_id) + (1 | observation_id)

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

Alternatives considered. Fixed effects per term (a municipality-wide shock
each term) instead of the linear ``time``: the school × term effect already
takes up term-to-term movement, and fixed term effects would cost a parameter
per term while the municipality's trajectory could no longer borrow strength
across terms. An item-level model (12 rows per form with item effects) has the
same school × term estimand at twelve times the size. A cumulative-link
(ordinal) mixed model would respect the 1–4 scale but is not available in the
engine; the form score is a mean of twelve items and close to normal. Observer
drift (a severity that changes over terms) is not in the model;
:func:`~undervisning_analys.measure.agreement.observer_severity` reports it.

Checked on synthetic data (``benchmarks/sim_index_coverage.py``, 40 seeds of
20 schools × 10 terms): the index correlates 0.955 with the true quality
against 0.857 for raw means; observer conditional modes correlate 0.91 with
the true severities; own-school leniency and the planned-visit effect are
recovered (tests); the 95 % intervals cover the truth in 94.2 % of published
school-terms, and in 95.8 % when the same design is simulated with continuous
scores from the linear model itself – the remainder is what rounding and
clipping the 4-point items cost a linear model.

Where an observer works (``own_school``)
----------------------------------------
The observations table names the observer's role, not their school. Rule
(:func:`infer_home_schools`), per observer and school year: an observer whose
role is ``rektor``, ``bitradande_rektor`` or ``forstelarare`` and who filled in
more than half of that year's forms at one school works at that school; in a
year without such a school, the school with more than half of the observer's
forms over all years is taken (so a principal who moves is followed year by
year, and a year with few visits at home does not lose the home). A form is
``own_school`` when its school is the observer's home that year. External
observers, colleagues (``kollega``) and ``annan`` have no home; a principal who
splits their visits evenly between schools, or visits other schools more
often than their own, gets none (their leniency then shows up as severity).

The index and its uncertainty
-----------------------------
The index of school ``s`` in term ``t`` is the model's prediction at
reference conditions – a spontaneous visit, by an average observer who does
not work at the school, of an average teacher of the school::

    index[s, t] = β0 + β_time·t + b0[s] + b1[s]·t + c[s, t]

with the estimated fixed effects and the conditional modes (BLUPs) of the
school's random effects: a shrunken estimate on the score scale of the
instrument. Its standard error comes from the *joint* conditional covariance
of fixed and random effects given the estimated variance parameters, i.e.
Henderson's mixed-model equations. With ``b = Λ u`` (``Λ`` the relative
covariance factor of each random-effects block, ``u ~ N(0, σ² I)``)::

    A = [[X'X, X'ZΛ], [Λ'Z'X, Λ'Z'ZΛ + I]],    Cov([β̂ − β; û − u]) = σ² A⁻¹

and for a linear combination ``l`` of (β, b), ``Var = σ² l_u' A⁻¹ l_u`` with
``l_u = [l_β, Λ' l_b]``. This covariance counts the uncertainty of the fixed
effects, of the school's random effects and their correlation (unlike adding
``vcov(β)`` and lme4's ``condVar``, which is conditional on β̂), and it works
when a variance is estimated at zero. The same system reproduces the
engine's fixed effects, conditional modes and ``vcov`` (tested), and R's lme4
matrices give the same index and plug-in SE (``tests/reference``).

Solving with ``A`` at municipality scale: the block of the largest
single-intercept factor (the lessons, about 50,000 at Göteborg's scale) is
diagonal in ``A`` (each form belongs to one lesson), so it is eliminated
exactly by its Schur complement and only the remaining ~9,000 columns are
factorised (SuperLU, symmetric fill-reducing ordering); the cells' rows
never touch the lessons, so their covariance needs only the small factor.
The dimensions' models (``dimension="all"``) start from the first model's
variance parameters and are fitted two at a time in threads; each reaches
its own REML optimum (tested against a fit from the engine's default start).

That plug-in covariance treats the variance parameters as known. Their
uncertainty is added as in Prasad & Rao (1990) and Datta & Lahiri (2000) for
REML: ``MSE ≈ g1(θ̂) + g2(θ̂) + 2 g3(θ̂)``, where ``g1 + g2`` is the plug-in
covariance above and ``g3 = D I⁻¹ D'`` is the Kackar–Harville term: ``D`` the
derivatives of the estimates with respect to the variance parameters and
``I`` REML's average information matrix (Gilmour, Thompson & Cullis 1995). Both
come from a few extra solves with the already factorised equations: for a
parameter ``ψ_j`` with ``V_j = ∂V/∂ψ_j``, the working variate ``v_j = V_j P y``
solved as data gives ``∂(β̂, b̂)/∂ψ_j = (0, G_j Z'Py) − (β̃, b̃)(v_j)`` and
``I_jk = ½ v_j' P v_k``. (The factor 2 corrects the downward bias of the
plug-in term.) Variances estimated at zero are treated as known. On the
synthetic data the correction widens the intervals by about 2 %.

A cell without observations (suppressed anyway) gets ``c = 0`` and ``σ²_ST``
added.

What the index estimates: the expected form score (on the instrument's
scale) of a spontaneous visit by an average observer from outside the
school, marginal over the school's teachers, lessons and rating noise, in
that school and term. In ``synth`` the true quality ``q[s, t]`` is on a latent
scale and the scores are rounded and clipped to 1–4, so the index's estimand
is ``m(q[s, t])``, the expected score at reference conditions given ``q``
(a closed form with the normal distribution; ``benchmarks/sim_index_coverage.py``
computes it from ``ds.truth``). The benchmark checks the intervals against
``m(q)`` directly and, as a second view that needs no intercept alignment,
after centring index and truth on the mean over the published cells, with
the contrast's SE from :meth:`TeachingQualityResult.cov`.

Areas and the municipality
--------------------------
An area's (or municipality's) index in a term is the unweighted mean of the
published (not suppressed) school indices of its schools in that term – the
average school – with the standard error from the joint covariance of those
school indices (``w' Σ w``). Suppressed schools are left out so that no
suppressed figure can be recovered from the aggregate and the published
schools; ``n_schools`` says how many schools the mean covers, and the counts
(``n_obs``, …) are those of these schools. When no school of the unit is
published in a term, the row is suppressed and the counts are those of all
its schools. Schools without an area in the school register are left out of
the area level (not of the municipality). The reliability of an aggregate is
the formula of
:mod:`~undervisning_analys.measure.reliability` for a mean of ``k`` school
means: ``τ / (τ + mean(σ²_δ,s) / k)``.

Privacy: a school × term with fewer than 3 observed teachers or fewer than 5
observed lessons is present but suppressed (estimate, SE and interval NaN,
reason in Swedish); nothing per teacher is ever returned.

Missing data: forms whose score for the dimension is missing (the
instrument's half rule) are left out of that dimension's model and counts.

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

import contextlib
import math
import os
import threading
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from .._results import Result
from ..errors import ModelError
from .reliability import VarianceComponents, reliability

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..dataset import Dataset
    from ..models.mixed import MixedResult

try:  # the privacy helper owns the floors; fall back to DESIGN.md's values
    from ..privacy import MIN_OBS, MIN_TEACHERS  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - until privacy.py defines them
    MIN_TEACHERS = 3
    MIN_OBS = 5

__all__ = ["teaching_quality", "TeachingQualityResult", "coverage", "observer_coverage",
           "score_forms", "infer_home_schools", "HOME_ROLES", "LEVELS", "TIDY_COLUMNS"]

#: Roles that have a home school (see the module docstring).
HOME_ROLES: tuple[str, ...] = ("rektor", "bitradande_rektor", "forstelarare")
#: Aggregation levels of :func:`teaching_quality`.
LEVELS: tuple[str, ...] = ("school", "area", "municipality")
#: Contract columns of ``TeachingQualityResult.tidy()`` (extra columns follow).
TIDY_COLUMNS: list[str] = [
    "level", "unit", "term", "school_year", "dimension", "estimate", "se", "conf_low",
    "conf_high", "n_obs", "n_forms", "n_teachers", "n_observers", "reliability", "suppressed",
    "suppression_reason"]
_EXTRA_COLUMNS = ["n_schools", "unit_name"]
Z_95 = 1.959963984540054
_MIN_PAIRED = 20

_FIXED_LABELS_SV = {
    "(Intercept)": "nivå vid första terminen (referensförhållanden)",
    "time": "förändring per läsår (kommunens genomsnitt)",
    "type_spontan": "spontant besök (jämfört med referenstypen)",
    "type_planerad": "planerat besök (jämfört med spontant)",
    "type_kollegial": "kollegial observation (jämfört med spontant)",
    "own_school": "observatör från den egna skolan",
}
_LEVEL_SV = {"school": "skola", "area": "skolområde", "municipality": "kommun"}


def _fmt(x: float, digits: int = 2, sign: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    s = f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"
    return s.replace("-", "−").replace(".", ",")


# --------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------
def _require_observations(ds: Dataset) -> pd.DataFrame:
    obs = ds.observations
    if obs is None or len(obs) == 0:
        raise ModelError(
            "Datamängden saknar lektionsobservationer, så undervisningskvaliteten kan inte "
            "skattas", table="observations",
            hint="Läs in observationsprotokoll med read_observations och bygg datamängden igen")
    return obs


def infer_home_schools(observations: pd.DataFrame) -> pd.DataFrame:
    """Where each observer works, per school year (the rule in the module docstring).

    Returns one row per observer × school year: ``observer_id``,
    ``school_year``, ``observer_role`` (the role on most of their forms),
    ``top_school_id``, ``top_share`` (its share of the observer's forms) and
    ``home_school_id`` (None when the rule gives no home).
    """
    forms = observations.drop_duplicates(["observation_id", "observer_id"])
    if len(forms) == 0:
        return pd.DataFrame(columns=["observer_id", "school_year", "observer_role",
                                     "top_school_id", "top_share", "home_school_id"])
    f = forms[["observer_id", "school_year", "school_id", "observer_role"]].astype(
        {"observer_role": str})
    counts = f.groupby(["observer_id", "school_year", "school_id"]).size().rename("n")
    counts = counts.reset_index().sort_values(["observer_id", "school_year", "n", "school_id"],
                                              ascending=[True, True, False, True])
    total = counts.groupby(["observer_id", "school_year"])["n"].transform("sum")
    counts["share"] = counts["n"] / total
    top = counts.drop_duplicates(["observer_id", "school_year"]).rename(
        columns={"school_id": "top_school_id", "share": "top_share"})
    role = (f.groupby(["observer_id", "school_year"])["observer_role"]
            .agg(lambda s: s.value_counts().index[0]).rename("observer_role").reset_index())
    out = top.merge(role, on=["observer_id", "school_year"])
    # over all years: the fallback for a year without a majority school
    all_years = counts.groupby(["observer_id", "school_id"])["n"].sum().reset_index()
    all_years["share"] = all_years["n"] / all_years.groupby("observer_id")["n"].transform("sum")
    all_years = all_years.sort_values(["observer_id", "share", "school_id"],
                                      ascending=[True, False, True]).drop_duplicates(
        "observer_id")
    overall = all_years.set_index("observer_id")
    fallback = out["observer_id"].map(overall["school_id"]).where(
        out["observer_id"].map(overall["share"]) > 0.5)
    home_role = out["observer_role"].isin(HOME_ROLES)
    home = out["top_school_id"].where(out["top_share"] > 0.5, fallback)
    out["home_school_id"] = home.where(home_role & home.notna(), None)
    return out[["observer_id", "school_year", "observer_role", "top_school_id", "top_share",
                "home_school_id"]].reset_index(drop=True)


def score_forms(ds: Dataset) -> pd.DataFrame:
    """One row per form (observation_id × observer_id) with its scores.

    Columns: those of ``Instrument.score`` (ids, school, teacher, observer,
    role, type, date, term, school year, one column per dimension id,
    ``overall``, ``n_items``) plus ``time`` (years since the first term in
    the data), ``school_term`` (``school_id:term``), ``home_school_id`` and
    ``own_school`` (0/1, see :func:`infer_home_schools`).

    Notes
    -----
    Missing items follow the instrument's half rule (a dimension score needs
    at least half of its items, the overall score half of the dimensions);
    such scores are NaN and the form is left out of that score's analyses.
    """
    key = id(ds)
    with _FORMS_LOCK:
        hit = _FORMS_CACHE.get(key)
    if hit is not None and hit[0]() is ds:
        return hit[1].copy()
    forms = _score_forms(ds)

    def forget(_ref: Any, k: int = key) -> None:
        _FORMS_CACHE.pop(k, None)

    with _FORMS_LOCK:
        _FORMS_CACHE[key] = (weakref.ref(ds, forget), forms)
    return forms.copy()


_FORMS_LOCK = threading.Lock()
_FORMS_CACHE: dict[int, tuple[Any, pd.DataFrame]] = {}
"""score_forms per Dataset (a Dataset is immutable): the index, growth, coverage,
agreement and reliability all start from the same forms. Dropped with the Dataset."""


def _score_forms(ds: Dataset) -> pd.DataFrame:
    obs = _require_observations(ds)
    forms = ds.instrument.score(obs)
    first = min(obs["term"].unique(), key=schema.term_index)
    forms["time"] = forms["term"].map(schema.term_index) - schema.term_index(first)
    forms["school_term"] = forms["school_id"].astype(str) + ":" + forms["term"].astype(str)
    homes = infer_home_schools(obs)[["observer_id", "school_year", "home_school_id"]]
    forms = forms.merge(homes, on=["observer_id", "school_year"], how="left")
    forms["own_school"] = (forms["home_school_id"] == forms["school_id"]).astype(float)
    forms["observation_type"] = forms["observation_type"].astype(str)
    forms["observer_role"] = forms["observer_role"].astype(str)
    forms.attrs["first_term"] = first
    return forms


def _check_dimension(ds: Dataset, dimension: str) -> list[str]:
    dims = [d.id for d in ds.instrument.dimensions]
    if dimension == "all":
        return ["overall", *dims]
    if dimension == "overall" or dimension in dims:
        return [dimension]
    raise ModelError(
        f"Okänd dimension {dimension!r} för protokollet {ds.instrument.name}",
        hint="Ange \"overall\", \"all\" eller en av protokollets dimensioner: " + ", ".join(dims))


LEVELS_SV: dict[str, str] = {"skola": "school", "skolor": "school", "skolenhet": "school",
                             "område": "area", "skolområde": "area", "kommun": "municipality",
                             "huvudman": "municipality"}
"""Swedish level names users type (``by="skola"``) -> the level."""


def _level(value: str) -> str:
    return LEVELS_SV.get(str(value).strip().lower(), value)


def _check_by(ds: Dataset, by: str | Sequence[str]) -> tuple[str, ...]:
    levels = tuple(_level(b) for b in ((by,) if isinstance(by, str) else tuple(by)))
    bad = [b for b in levels if b not in LEVELS]
    if bad or not levels:
        raise ModelError(
            f"Okänd nivå {', '.join(map(repr, bad)) or '(ingen)'} för undervisningsindexet",
            hint="Ange by=\"skola\", \"område\" eller \"kommun\" (eller school, area, "
                 "municipality, eller en lista av dem)")
    if "area" in levels and ("area" not in ds.schools.columns
                             or ds.schools["area"].isna().all()):
        raise ModelError(
            "Skolregistret saknar skolområden, så indexet kan inte redovisas per område",
            table="schools", column="area",
            hint="Fyll i kolumnen area i skolregistret eller välj by=\"school\"/\"municipality\"")
    return tuple(dict.fromkeys(levels))


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Block:
    group: str            # grouping column (= the engine's group name)
    terms: tuple[str, ...]  # "(Intercept)" and/or "time"


@dataclass(eq=False)
class _QualityModel:
    """One fitted index model (internal: it holds teacher-level effects)."""

    dimension: str
    formula: str
    fit: MixedResult
    frame: pd.DataFrame
    fixed: list[str]
    blocks: list[_Block]
    reference_type: str
    own_school_adjusted: bool
    components: VarianceComponents
    beta: pd.Series
    b: pd.DataFrame            # group, level, term, estimate (from the MME)
    cells: pd.DataFrame        # school_id, term, time, estimate, se, has_data
    cell_cov: np.ndarray
    first_term: str
    max_diff: dict[str, float] = field(default_factory=dict)
    trends: pd.DataFrame | None = None
    """school_id, estimate, se, se_plugin: each school's trend (None without school slopes)."""


def _model_frame(forms: pd.DataFrame, dim: str) -> tuple[pd.DataFrame, list[str], list[_Block],
                                                           str, bool]:
    f = forms[forms[dim].notna()].copy()
    if len(f) == 0:
        raise ModelError(f"Inga protokoll har poäng för {dim!r} (för många obesvarade "
                         "påståenden)", table="observations", column="score",
                         hint="Kontrollera att observationerna har poäng")
    f["score"] = f[dim].astype(float)
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
    blocks: list[_Block] = []
    if n_schools >= 2:
        slope = n_terms >= 3 and n_schools >= 5
        blocks.append(_Block("school_id", ("(Intercept)", "time") if slope else ("(Intercept)",)))
    if n_terms >= 2 and f["school_term"].nunique() > n_schools:
        blocks.append(_Block("school_term", ("(Intercept)",)))
    n = len(f)
    if 2 <= f["teacher_id"].nunique() < n:
        blocks.append(_Block("teacher_id", ("(Intercept)",)))
    if 2 <= f["observer_id"].nunique() < n:
        blocks.append(_Block("observer_id", ("(Intercept)",)))
    if (f.groupby("observation_id").size() > 1).sum() >= _MIN_PAIRED:
        blocks.append(_Block("observation_id", ("(Intercept)",)))
    if not blocks:
        raise ModelError("För lite data för modellen: en skola, en lärare och en observatör",
                         hint="Indexet behöver observationer av flera lärare eller skolor")
    own_adjusted = bool(own_var) or f["own_school"].sum() == 0
    return f.reset_index(drop=True), fixed, blocks, ref, own_adjusted


def _formula(fixed: list[str], blocks: list[_Block]) -> str:
    rhs = " + ".join(fixed) if fixed else "1"
    rand = []
    for b in blocks:
        lhs = " + ".join("1" if t == "(Intercept)" else t for t in b.terms)
        rand.append(f"({lhs} | {b.group})")
    return f"score ~ {rhs} + " + " + ".join(rand)


def _block_cov(varcorr: pd.DataFrame, block: _Block) -> np.ndarray:
    vc = varcorr[varcorr["group"] == block.group]
    k = len(block.terms)
    cov = np.zeros((k, k))
    for r in vc.itertuples(index=False):
        i = block.terms.index(r.term1)
        if r.term2 is None or (isinstance(r.term2, float) and math.isnan(r.term2)):
            cov[i, i] = r.var_cov
        else:
            j = block.terms.index(r.term2)
            cov[i, j] = cov[j, i] = r.var_cov
    return cov


def _sqrt_factor(cov: np.ndarray) -> np.ndarray:
    """A factor T with T T' = cov (positive semi-definite allowed)."""
    vals, vecs = np.linalg.eigh(cov)
    return np.asarray(vecs * np.sqrt(np.clip(vals, 0.0, None)))


class _MME:
    """Henderson's mixed-model equations in the relative-factor form (module doc)."""

    def __init__(self, frame: pd.DataFrame, fixed: list[str], blocks: list[_Block],
                 varcorr: pd.DataFrame, sigma2: float) -> None:
        from scipy import sparse
        from scipy.sparse.linalg import splu

        n = len(frame)
        self.fixed_names = ["(Intercept)", *fixed]
        x = np.column_stack([np.ones(n)] + [frame[c].to_numpy(float) for c in fixed])
        z_parts, t_parts, index = [], [], []
        self.layout: list[tuple[_Block, int, int]] = []  # block, column offset, levels
        offset = 0
        for blk in blocks:
            codes, levels = pd.factorize(frame[blk.group].astype(str), sort=True)
            k = len(blk.terms)
            rows, cols, vals = [], [], []
            for j, term in enumerate(blk.terms):
                v = np.ones(n) if term == "(Intercept)" else frame[term].to_numpy(float)
                rows.append(np.arange(n))
                cols.append(codes * k + j)
                vals.append(v)
            z_parts.append(sparse.csc_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                shape=(n, len(levels) * k)))
            factor = _sqrt_factor(_block_cov(varcorr, blk) / sigma2)
            t_parts.append(sparse.kron(sparse.identity(len(levels)), sparse.csr_matrix(factor)))
            index.append(pd.DataFrame({
                "group": blk.group, "level": np.repeat(np.asarray(levels, dtype=str), k),
                "term": np.tile(list(blk.terms), len(levels))}))
            self.layout.append((blk, offset, len(levels)))
            offset += len(levels) * k
        self.index = pd.concat(index, ignore_index=True)
        self.position = {key: i for i, key in enumerate(
            zip(self.index["group"], self.index["level"], self.index["term"]))}
        self.x = x
        self.z = sparse.hstack(z_parts).tocsc()
        self.t = sparse.block_diag(t_parts).tocsc()
        self.zt = (self.z @ self.t).tocsc()
        xs = sparse.csc_matrix(x)
        q = self.zt.shape[1]
        a = sparse.bmat([[xs.T @ xs, xs.T @ self.zt],
                         [self.zt.T @ xs, self.zt.T @ self.zt + sparse.identity(q)]]).tocsc()
        self.p, self.q, self.sigma2 = x.shape[1], q, sigma2
        self.a = a
        self.lu = _SchurSolver(a, self._diagonal_columns(), splu)
        self.y = frame["score"].to_numpy(float)
        self.beta, self.b = self.solve_data(self.y)

    def solve_data(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mixed-model equations applied to data ``w``: (β̃, b̃) = GLS and BLUP of w."""
        rhs = np.concatenate([self.x.T @ w, self.zt.T @ w])
        with _blas_threads():
            sol = self.lu.solve(rhs)
        return sol[: self.p], self.t @ sol[self.p:]

    def _diagonal_columns(self) -> np.ndarray:
        """Columns of A (in the (β, u) order) of the largest single-intercept block.

        A grouping factor's own block of ``Z'Z`` is diagonal (each row has one
        level), so the block of ``A`` is diagonal too and can be eliminated
        exactly and cheaply (:class:`_SchurSolver`). In the index model this is
        the lesson block (about 50,000 lessons at Göteborg's scale).
        """
        best: tuple[int, int] | None = None
        for blk, off, m in self.layout:
            if len(blk.terms) == 1 and (best is None or m > best[1]):
                best = (off, m)
        if best is None:
            return np.zeros(0, dtype=np.int64)
        return self.p + best[0] + np.arange(best[1])

    def to_u(self, l_beta: np.ndarray, l_b: Any) -> Any:
        """Rows of combinations of (β, b) as (sparse) combinations of (β, u)."""
        from scipy import sparse

        lu = sparse.csr_matrix(l_b) @ self.t
        return sparse.hstack([sparse.csr_matrix(np.asarray(l_beta, dtype=float)),
                              lu]).tocsr()

    def cov(self, l_u: Any, chunk: int = 512) -> np.ndarray:
        """σ² L A⁻¹ L' for rows L in the (β, u) parametrisation (dense or sparse L)."""
        from scipy import sparse

        l_u = sparse.csr_matrix(l_u)
        lt = l_u.T.tocsr()
        out = np.empty((l_u.shape[0], l_u.shape[0]))
        with _blas_threads():
            for s in range(0, l_u.shape[0], chunk):
                sol = self.lu.solve_for_rows(lt[:, s:s + chunk])
                out[:, s:s + chunk] = l_u @ sol
        return self.sigma2 * out

    # -- uncertainty of the variance parameters (Kackar–Harville) --------------
    def _parameters(self) -> list[tuple[int, int, int]]:
        """Variance parameters as (layout index, term a, term b); (-1, 0, 0) = residual."""
        params = []
        for i, (blk, _, _) in enumerate(self.layout):
            k = len(blk.terms)
            params += [(i, a, b) for a in range(k) for b in range(a, k)]
        return [*params, (-1, 0, 0)]

    def _g_j(self, param: tuple[int, int, int], ztx: np.ndarray) -> np.ndarray:
        """G_j Z'x: the derivative of G with respect to one parameter, applied to Z'x."""
        out = np.zeros(self.q)
        i, a, b = param
        if i < 0:
            return out
        blk, off, m = self.layout[i]
        k = len(blk.terms)
        base = off + np.arange(m) * k
        out[base + a] = ztx[base + b]
        if a != b:
            out[base + b] = ztx[base + a]
        return out

    def kackar_harville(self, l_beta: np.ndarray, l_b: Any, cov_blocks: dict[str, np.ndarray]
                        ) -> tuple[np.ndarray, np.ndarray]:
        """The Kackar–Harville term ``g3 = D I⁻¹ D'`` of combinations of (β, b).

        ``D`` holds the derivatives of the combinations' estimates with respect
        to the variance parameters and ``I`` is the average information matrix
        of REML (Gilmour, Thompson & Cullis 1995), both from solves with the
        factorised mixed-model equations (see the module docstring). Returns
        the added covariance and ``I⁻¹`` (the approximate covariance of the
        variance parameters). Parameters at the boundary (a variance of zero)
        are treated as known.
        """
        from scipy import sparse

        d, inv = self._kh_parts(cov_blocks)
        l_full = sparse.hstack([sparse.csr_matrix(np.asarray(l_beta, dtype=float)),
                                sparse.csr_matrix(l_b)]).tocsr()
        dl = np.asarray(l_full @ d)
        return dl @ inv @ dl.T, inv

    def _kh_parts(self, cov_blocks: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``D`` for all of (β, u) and ``I⁻¹``: computed once per model (the cells and the
        school trends share them)."""
        cached = self.__dict__.get("_kh")
        if cached is not None:
            return cached
        s2 = self.sigma2
        resid = self.y - self.x @ self.beta - self.z @ self.b
        py = resid / s2
        ztpy = self.z.T @ py
        params = self._parameters()
        keep = []
        for param in params:
            i, a, b = param
            if i < 0:
                keep.append(True)
                continue
            c = cov_blocks[self.layout[i][0].group]
            keep.append(bool(c[a, a] > 1e-10 * s2 and c[b, b] > 1e-10 * s2))
        params = [p for p, k in zip(params, keep) if k]
        v, pv, dtheta = [], [], []
        for param in params:
            if param[0] < 0:
                gz = np.zeros(self.q)
                vj = py
            else:
                gz = self._g_j(param, ztpy)
                vj = self.z @ gz
            bt, bb = self.solve_data(vj)
            v.append(vj)
            pv.append((vj - self.x @ bt - self.z @ bb) / s2)
            dtheta.append(np.concatenate([-bt, gz - bb]))
        vm, pvm = np.column_stack(v), np.column_stack(pv)
        info = 0.5 * vm.T @ pvm
        info = 0.5 * (info + info.T)
        inv = np.linalg.pinv(info)
        d = np.column_stack(dtheta)  # (p + q) × J
        self._kh = (d, inv)
        return d, inv


class _SchurSolver:
    """Solves with the mixed-model equations after eliminating a diagonal block exactly.

    With ``A = [[A_oo, A_od], [A_do, D]]`` and ``D`` diagonal (the columns
    ``diag_cols``), ``S = A_oo − A_od D⁻¹ A_do`` is sparse and much smaller
    than ``A``; it is factorised once (SuperLU with a symmetric fill-reducing
    ordering: ``A`` is symmetric positive definite) and

        x_o = S⁻¹ (r_o − A_od D⁻¹ r_d),    x_d = D⁻¹ (r_d − A_do x_o).

    This is block Gaussian elimination, not an approximation: the solutions
    equal those of a factorisation of ``A`` to rounding (tested). At
    Göteborg's scale it removes about 50,000 of 60,000 columns.
    """

    def __init__(self, a: Any, diag_cols: np.ndarray, splu: Any) -> None:
        from scipy import sparse

        n = a.shape[0]
        self.n = n
        keep = np.ones(n, dtype=bool)
        keep[diag_cols] = False
        self.o = np.flatnonzero(keep)
        self.d = np.asarray(diag_cols, dtype=np.int64)
        a = a.tocsc()
        if len(self.d):
            add = a[self.d][:, self.d]
            dvals = add.diagonal()
            if abs(add - sparse.diags(dvals)).max() > 0 or (dvals <= 0).any():
                raise AssertionError("the eliminated block is not diagonal")  # pragma: no cover
            self.dinv = 1.0 / dvals
            self.a_od = a[self.o][:, self.d].tocsr()
            self.a_do = self.a_od.T.tocsr()
            s = a[self.o][:, self.o] - self.a_od @ sparse.diags(self.dinv) @ self.a_do
        else:
            self.dinv = np.zeros(0)
            s = a
        with _blas_threads():
            self.lu = splu(sparse.csc_matrix(s), permc_spec="MMD_AT_PLUS_A",
                           diag_pivot_thresh=0.0, options={"SymmetricMode": True})

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """A⁻¹ rhs for a vector or a matrix of right-hand sides."""
        rhs = np.asarray(rhs, dtype=float)
        if not len(self.d):
            with _blas_threads():
                return self.lu.solve(np.ascontiguousarray(rhs))
        r_o, r_d = rhs[self.o], rhs[self.d]
        scale = self.dinv if rhs.ndim == 1 else self.dinv[:, None]
        with _blas_threads():
            x_o = self.lu.solve(np.ascontiguousarray(r_o - self.a_od @ (r_d * scale)))
        out = np.empty_like(rhs)
        out[self.o] = x_o
        out[self.d] = (r_d - self.a_do @ x_o) * scale
        return out

    def solve_for_rows(self, rhs: Any) -> Any:
        """A⁻¹ rhs, for a sparse matrix of right-hand sides (columns).

        When ``rhs`` is zero in the eliminated rows (combinations of the fixed
        effects, school and school × term effects, as the index's are), the
        eliminated part of the solution is not needed by ``L A⁻¹ L'`` and
        only ``x_o`` is computed (returned in a sparse-compatible full-length
        array with zeros there)."""
        from scipy import sparse

        rhs = sparse.csr_matrix(rhs)
        if len(self.d) and rhs[self.d].nnz == 0:
            r_o = rhs[self.o].toarray()
            with _blas_threads():
                x_o = self.lu.solve(np.ascontiguousarray(r_o))
            out = np.zeros((self.n, rhs.shape[1]))
            out[self.o] = x_o
            return out
        return self.solve(rhs.toarray())


_BLAS_LOCK = threading.Lock()
_BLAS_STATE: dict[str, Any] = {"depth": 0, "limiter": None}


@contextlib.contextmanager
def _blas_threads() -> Any:
    """One BLAS thread for the many small solves (threadpoolctl, when installed).

    The limit is process-wide; nested and concurrent uses (the dimensions'
    models are fitted in threads) share one limit, set by the first to enter
    and restored by the last to leave.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with _BLAS_LOCK:
        if _BLAS_STATE["depth"] == 0:
            _BLAS_STATE["limiter"] = threadpool_limits(limits=1, user_api="blas")
        _BLAS_STATE["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_STATE["depth"] -= 1
            if _BLAS_STATE["depth"] == 0 and _BLAS_STATE["limiter"] is not None:
                _BLAS_STATE["limiter"].restore_original_limits()
                _BLAS_STATE["limiter"] = None


@dataclass(eq=False)
class _EngineFit:
    """A dimension's model fitted by the engine, before the mixed-model equations."""

    dimension: str
    frame: pd.DataFrame
    fixed: list[str]
    blocks: list[_Block]
    reference_type: str
    own_school_adjusted: bool
    formula: str
    fit: MixedResult


def _engine_fit(forms: pd.DataFrame, dim: str, start: _EngineFit | None = None
                ) -> _EngineFit:
    from ..models.mixed import fit_mixed

    frame, fixed, blocks, ref, own_adj = _model_frame(forms, dim)
    formula = _formula(fixed, blocks)
    options: dict[str, Any] = {}
    theta = None if start is None else _warm_start(start, forms, dim, blocks)
    if theta is not None:
        options["start"] = theta
    fit = fit_mixed(formula, frame, reml=True, **options)
    return _EngineFit(dim, frame, fixed, blocks, ref, own_adj, formula, fit)


def _fit_model(forms: pd.DataFrame, dim: str, kackar_harville: bool = True,
               start: _EngineFit | None = None) -> _QualityModel:
    return _finish_model(forms, _engine_fit(forms, dim, start), kackar_harville)


def _finish_model(forms: pd.DataFrame, ef: _EngineFit, kackar_harville: bool = True
                  ) -> _QualityModel:
    """The mixed-model equations of a fitted model: cells, their covariance, trends."""
    from scipy import sparse

    dim, frame, fixed, blocks = ef.dimension, ef.frame, ef.fixed, ef.blocks
    ref, own_adj, formula, fit = ef.reference_type, ef.own_school_adjusted, ef.formula, ef.fit
    vc = fit.varcorr
    sigma2 = float(vc.loc[vc["group"] == "Residual", "var_cov"].iloc[0])
    mme = _MME(frame, fixed, blocks, vc, sigma2)
    beta = pd.Series(mme.beta, index=mme.fixed_names)
    b = mme.index.assign(estimate=mme.b)

    # agreement with the engine (a check of the parametrisation; tested)
    eng_beta = fit.fixef.reindex(beta.index)
    modes = fit.conditional_modes(cond_var=False).set_index(
        ["group", "level", "term"])["estimate"]
    eng_b = modes.reindex(pd.MultiIndex.from_frame(b[["group", "level", "term"]])).to_numpy()
    max_diff = {"fixef": float(np.nanmax(np.abs(eng_beta.to_numpy() - beta.to_numpy()))),
                "ranef": float(np.nanmax(np.abs(eng_b - b["estimate"].to_numpy())))}

    # variance components
    comp_of = {blk.group: _block_cov(vc, blk) for blk in blocks}
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
        residual=sigma2, times=times, dimension=dim, first_term=forms.attrs.get("first_term"),
        lesson_separated="observation_id" in comp_of,
        counts={"forms": len(frame), "lessons": int(frame["observation_id"].nunique()),
                "paired_lessons": n_paired, "schools": int(frame["school_id"].nunique()),
                "teachers": int(frame["teacher_id"].nunique()),
                "observers": int(frame["observer_id"].nunique())},
        fixef=pd.DataFrame({"term": fit.fixef.index, "estimate": fit.fixef.to_numpy(),
                            "se": fit.se.reindex(fit.fixef.index).to_numpy()}))

    # cells: every school with forms × every term in the data
    first = forms.attrs.get("first_term") or min(forms["term"], key=schema.term_index)
    terms = sorted(forms["term"].unique(), key=schema.term_index)
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
    return _QualityModel(
        dimension=dim, formula=formula, fit=fit, frame=frame, fixed=fixed, blocks=blocks,
        reference_type=ref, own_school_adjusted=own_adj, components=components, beta=beta,
        b=b, cells=cells, cell_cov=cov, first_term=str(first), max_diff=max_diff,
        trends=trends)


def _school_trends(mme: _MME, schools: list[str], comp_of: dict[str, np.ndarray],
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
# Counts
# --------------------------------------------------------------------------
def _cell_counts(f: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Counts and effective numbers (F² / Σ count²) per cell of the forms ``f``."""
    g = f.groupby(keys, sort=False)
    out = g.size().rename("n_forms").to_frame()
    for col, n_name, e_name in (("observation_id", "n_obs", "eff_obs"),
                                ("teacher_id", "n_teachers", "eff_teachers"),
                                ("observer_id", "n_observers", "eff_observers")):
        per = f.groupby([*keys, col], sort=False).size().astype(float)
        by_cell = per.groupby(level=list(range(len(keys))), sort=False)
        out[n_name] = by_cell.size()
        out[e_name] = out["n_forms"].astype(float) ** 2 / (per ** 2).groupby(
            level=list(range(len(keys))), sort=False).sum()
    cols = ["n_obs", "n_forms", "n_teachers", "n_observers", "eff_obs", "eff_teachers",
            "eff_observers"]
    return out.reset_index()[[*keys, *cols]]


def _reason(n_obs: int, n_teachers: int) -> str:
    if n_obs == 0:
        return "inga observerade lektioner denna termin"
    parts = []
    if n_obs < MIN_OBS:
        parts.append(f"färre än {MIN_OBS} observerade lektioner ({n_obs})")
    if n_teachers < MIN_TEACHERS:
        parts.append(f"färre än {MIN_TEACHERS} observerade lärare ({n_teachers})")
    return "; ".join(parts)


def _error_variance(comp: VarianceComponents, c: pd.DataFrame) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(comp.teacher / c["eff_teachers"] + comp.observer / c["eff_observers"]
                          + comp.lesson / c["eff_obs"] + comp.residual / c["n_forms"],
                          dtype=float)


def _school_rows(model: _QualityModel, forms: pd.DataFrame, ds: Dataset) -> pd.DataFrame:
    dim = model.dimension
    f = forms[forms[dim].notna()]
    counts = _cell_counts(f, ["school_id", "term"])
    cells = model.cells.merge(counts, on=["school_id", "term"], how="left")
    for c in ("n_obs", "n_forms", "n_teachers", "n_observers"):
        cells[c] = cells[c].fillna(0).astype(int)
    comp = model.components
    cells["reliability"] = reliability(
        cells["eff_obs"].to_numpy(float), cells["eff_teachers"].to_numpy(float),
        cells["eff_observers"].to_numpy(float), comp, n_forms=cells["n_forms"].to_numpy(float),
        time=cells["time"].to_numpy(float))
    cells["tau"] = comp.true_variance(cells["time"].to_numpy(float))
    cells["err_var"] = _error_variance(comp, cells)
    cells["suppression_reason"] = [_reason(a, b) for a, b in
                                   zip(cells["n_obs"], cells["n_teachers"])]
    cells["suppressed"] = cells["suppression_reason"] != ""
    cells["cell"] = np.arange(len(cells))
    names = dict(zip(ds.schools["school_id"], ds.schools["school_name"]))
    cells["unit_name"] = cells["school_id"].map(names)
    return cells


def _aggregate(model: _QualityModel, school: pd.DataFrame, forms: pd.DataFrame, ds: Dataset,
               level: str) -> pd.DataFrame:
    col = "area" if level == "area" else "municipality_id"
    unit_of = dict(zip(ds.schools["school_id"], ds.schools[col]))
    if level == "municipality":
        name_of = dict(zip(ds.schools["municipality_id"], ds.schools["municipality_name"]))
    else:
        name_of = {}
    dim = model.dimension
    s = school.assign(unit=school["school_id"].map(unit_of)).dropna(subset=["unit"])
    # the schools each aggregate is made of: the published ones, or all when none is
    s["any_pub"] = (~s["suppressed"]).groupby([s["unit"], s["term"]]).transform("any")
    use = s[~s["suppressed"] | ~s["any_pub"]][["unit", "term", "school_id"]]
    f = forms[forms[dim].notna()].merge(use, on=["school_id", "term"])
    counts = (f.groupby(["unit", "term"])
              .agg(n_obs=("observation_id", "nunique"), n_forms=("observation_id", "size"),
                   n_teachers=("teacher_id", "nunique"), n_observers=("observer_id", "nunique")))
    rows = []
    for (unit, term), g in s.groupby(["unit", "term"], sort=True):
        pub = g[~g["suppressed"]]
        row: dict[str, Any] = {"unit": unit, "term": term, "n_schools": len(pub),
                               "unit_name": name_of.get(unit, unit)}
        if len(pub):
            k = len(pub)
            idx = pub["cell"].to_numpy()
            w = np.full(k, 1.0 / k)
            row["estimate"] = float(w @ pub["estimate"].to_numpy())
            row["se"] = float(math.sqrt(max(w @ model.cell_cov[np.ix_(idx, idx)] @ w, 0.0)))
            tau = float(pub["tau"].mean())
            err = float(pub["err_var"].mean()) / k
            row["suppression_reason"] = ""
        else:
            row["estimate"] = row["se"] = np.nan
            seen = g[g["n_obs"] > 0]
            tau = float(g["tau"].mean())
            err = float(seen["err_var"].mean()) / len(seen) if len(seen) else np.nan
            row["suppression_reason"] = (
                "ingen skola i " + ("området" if level == "area" else "kommunen")
                + " når gränsen för redovisning denna termin (minst "
                f"{MIN_TEACHERS} lärare och {MIN_OBS} lektioner)")
        row["reliability"] = tau / (tau + err) if np.isfinite(err) and tau + err > 0 else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    out = out.merge(counts.reset_index(), on=["unit", "term"], how="left")
    for c in ("n_obs", "n_forms", "n_teachers", "n_observers"):
        out[c] = out[c].fillna(0).astype(int)
    out["suppressed"] = out["suppression_reason"] != ""
    return out


# --------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------
class TeachingQualityResult(Result):
    """The teaching-quality index (made by :func:`teaching_quality`; never mutated).

    ``.tidy()`` has the contract columns (docs/CONTRACTS.md) and ``n_schools``
    (schools in the estimate) and ``unit_name``. Suppressed rows keep their
    counts; estimate, SE and interval are NaN and ``suppression_reason`` says
    why. Other views: :meth:`components`, :meth:`fixed_effects`,
    :meth:`cov` (joint covariance of the published school indices, for
    contrasts such as a change between terms) and :meth:`observer_severity`.
    """

    def __init__(self, table: pd.DataFrame, models: dict[str, _QualityModel],
                 school_rows: dict[str, pd.DataFrame], by: tuple[str, ...],
                 instrument_name: str, scale: tuple[int, int],
                 dimension_names: dict[str, str]) -> None:
        self._table = table
        self._models = models
        self._school_rows = school_rows
        self.by = by
        self.dimensions = tuple(models)
        self._instrument_name = instrument_name
        self._scale = scale
        self._dimension_names = dimension_names

    # -- views ---------------------------------------------------------------
    def _tidy(self) -> pd.DataFrame:
        return self._table

    def _model(self, dimension: str) -> _QualityModel:
        if dimension not in self._models:
            raise ModelError(f"Resultatet saknar dimensionen {dimension!r}",
                             hint="Välj en av " + ", ".join(self._models))
        return self._models[dimension]

    def components(self, dimension: str = "overall") -> VarianceComponents:
        """Variance components of the model behind the index."""
        return self._model(dimension).components

    @property
    def formula(self) -> dict[str, str]:
        """The model formula per dimension."""
        return {d: m.formula for d, m in self._models.items()}

    def fixed_effects(self, dimension: str = "overall") -> pd.DataFrame:
        """The model's fixed effects: term, Swedish label, estimate, se, 95 % interval."""
        m = self._model(dimension)
        fe = m.components.fixef
        assert fe is not None
        out = fe.copy()
        out["label"] = out["term"].map(_FIXED_LABELS_SV).fillna(out["term"])
        out["conf_low"] = out["estimate"] - Z_95 * out["se"]
        out["conf_high"] = out["estimate"] + Z_95 * out["se"]
        return out[["term", "label", "estimate", "se", "conf_low", "conf_high"]]

    def cov(self, dimension: str = "overall") -> pd.DataFrame:
        """Joint covariance of the published school × term indices.

        Index and columns are (school_id, term). Use it for contrasts: the
        change of a school between two terms has variance
        ``cov[a, a] + cov[b, b] − 2 cov[a, b]``.
        """
        model = self._model(dimension)
        rows = self._school_rows[dimension]
        pub = rows[~rows["suppressed"]]
        idx = pub["cell"].to_numpy()
        mi = pd.MultiIndex.from_frame(pub[["school_id", "term"]])
        return pd.DataFrame(model.cell_cov[np.ix_(idx, idx)], index=mi, columns=mi)

    def observer_severity(self, dimension: str = "overall") -> pd.DataFrame:
        """Observers' estimated severity (conditional modes of the observer effect).

        Positive: the observer scores higher than an average observer of the
        same lessons would (after observation type and own-school leniency).
        Columns: observer_id, observer_role, home_school_id (latest school
        year), n_forms, estimate, se (lme4's conditional standard deviation).
        """
        m = self._model(dimension)
        modes = m.fit.conditional_modes()
        modes = modes[modes["group"] == "observer_id"]
        info = (m.frame.sort_values("date").groupby("observer_id")
                .agg(observer_role=("observer_role", "last"),
                     home_school_id=("home_school_id", "last"), n_forms=("score", "size")))
        out = modes.rename(columns={"level": "observer_id", "std_error": "se"})[
            ["observer_id", "estimate", "se"]].merge(info, left_on="observer_id",
                                                     right_index=True, how="left")
        return out[["observer_id", "observer_role", "home_school_id", "n_forms", "estimate",
                    "se"]].reset_index(drop=True)

    # -- text ----------------------------------------------------------------
    def _summary_text(self) -> str:
        t = self._table
        dim = "overall" if "overall" in self._models else self.dimensions[0]
        m = self._models[dim]
        fe = self.fixed_effects(dim).set_index("term")
        lo, hi = self._scale
        ref_sv = schema.LABELS_SV.get(m.reference_type, m.reference_type)
        lines = [
            "Undervisningskvalitet per termin (index)",
            f"Protokoll: {self._instrument_name}, skala {lo}–{hi}.",
            "",
            f"Indexet är modellens skattning av protokollpoängen vid ett {ref_sv} av en "
            "genomsnittlig observatör som inte arbetar på skolan, hos en genomsnittlig lärare "
            "på skolan. Det är alltså justerat för att observatörer bedömer olika strängt, för "
            "besökstyp och för att observatörer på den egna skolan bedömer mildare. Varje "
            "termins värde lånar styrka från skolans övriga terminer (skolans egen trend), så "
            "ett enstaka avvikande besök väger lätt. Medelfelet och 95 % konfidensintervall "
            "visar osäkerheten. Reliabiliteten (0–1) anger hur stor del av skillnaderna "
            "mellan skolornas terminsmedelvärden som speglar verkliga skillnader; under 0,7 "
            "bör skillnader tolkas med stor försiktighet. Inga värden redovisas per lärare.",
            "",
            f"Modell ({self._dimension_names.get(dim, dim)}): {m.formula}",
        ]
        effects = []
        for term in ("type_planerad", "type_kollegial", "own_school", "time"):
            if term in fe.index:
                r = fe.loc[term]
                effects.append(f"  {r['label']}: {_fmt(r['estimate'], 2, sign=True)} "
                               f"(95 % KI {_fmt(r['conf_low'], 2)} till {_fmt(r['conf_high'], 2)})")
        if effects:
            lines += ["Systematiska skillnader som indexet tar hänsyn till (poäng):", *effects]
        if not m.own_school_adjusted:
            lines.append("OBS: alla protokoll kommer från observatörer på den egna skolan, så "
                         "mildheten mot den egna skolan kan inte skattas och ingår i indexet.")
        comp = m.components
        lines.append(
            f"Observatörernas stränghet varierar med standardavvikelsen "
            f"{_fmt(math.sqrt(max(comp.observer, 0)), 2)} poäng, lärarna med "
            f"{_fmt(math.sqrt(max(comp.teacher, 0)), 2)} och skolornas nivå med "
            f"{_fmt(math.sqrt(max(comp.school(), 0)), 2)}.")
        for level in self.by:
            d = t[(t["level"] == level) & (t["dimension"] == dim)]
            if d.empty:
                continue
            last_term = max(d["term"], key=schema.term_index)
            first_term = min(d["term"], key=schema.term_index)
            lines += ["", f"Per {_LEVEL_SV[level]}, {last_term} (förändring sedan {first_term}):"]
            body = []
            for unit, g in d.groupby("unit", sort=True):
                g = g.set_index("term")
                r = g.loc[last_term] if last_term in g.index else None
                r0 = g.loc[first_term] if first_term in g.index else None
                name = str(g["unit_name"].iloc[0]) if pd.notna(g["unit_name"].iloc[0]) \
                    else str(unit)
                if r is None or r["suppressed"]:
                    body.append([name, "..", "", "", _fmt(r["reliability"], 2)
                                 if r is not None else "–",
                                 str(int(r["n_obs"])) if r is not None else "0"])
                    continue
                change = (r["estimate"] - r0["estimate"]) if r0 is not None \
                    and not r0["suppressed"] else np.nan
                body.append([name, _fmt(r["estimate"], 2),
                             f"[{_fmt(r['conf_low'], 2)}; {_fmt(r['conf_high'], 2)}]",
                             _fmt(change, 2, sign=True), _fmt(r["reliability"], 2),
                             str(int(r["n_obs"]))])
            lines += _text_table(["enhet", "index", "95 % KI", "förändring", "reliabilitet",
                                  "lektioner"], body)
        sup = t[(t["level"] == "school") & t["suppressed"] & (t["dimension"] == dim)]
        n_school = int(((t["level"] == "school") & (t["dimension"] == dim)).sum())
        if n_school:
            lines += ["", f"Prickade (..) skola × termin: {len(sup)} av {n_school}, eftersom "
                          f"färre än {MIN_TEACHERS} lärare eller {MIN_OBS} lektioner "
                          "observerades. De visas inte och ingår inte i områdets eller "
                          "kommunens värde."]
        if "area" in self.by or "municipality" in self.by:
            lines.append("Områdets och kommunens index är medelvärdet av de redovisade "
                         "skolornas index (varje skola väger lika).")
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None, *, level: str | None = None,
             dimension: str = "overall", units: Sequence[str] | None = None) -> Axes:
        """Trajectories of the index per unit with 95 % bands; suppressed terms as gaps."""
        import matplotlib.pyplot as plt

        from ..errors import UnknownSchoolError

        level = _level(level) if level else self.by[0]
        if level not in self.by:
            raise ModelError(f"Indexet är inte beräknat per {_LEVEL_SV.get(level, level)}",
                             hint="Beräkna det med teaching_quality(ds, by=[...]) med den "
                                  "nivån, eller välj level bland: "
                                  + ", ".join(_LEVEL_SV.get(b, b) for b in self.by))
        t = self._table[self._table["level"] == level]
        if dimension not in set(t["dimension"]):
            raise ModelError(f"Okänd dimension {dimension!r}",
                             hint="Välj en av: " + ", ".join(sorted(set(t["dimension"]))))
        d = t[t["dimension"] == dimension]
        if units is not None:
            wanted = [str(u) for u in units]
            names = dict(zip(d["unit"].astype(str), d["unit_name"].astype(str)))
            by_name = {v.lower(): k for k, v in names.items()}
            codes = [u if u in names else by_name.get(u.lower(), u) for u in wanted]
            unknown = [u for u, c in zip(wanted, codes) if c not in names]
            if unknown:
                raise UnknownSchoolError(
                    f"Okänd enhet {unknown[0]!r}: den finns inte bland indexets enheter "
                    f"({_LEVEL_SV.get(level, level)})",
                    hint="Ange en skolenhetskod eller ett skolnamn som finns i skolregistret, "
                         "t.ex. " + ", ".join(f"{k} ({v})" for k, v in list(names.items())[:3]))
            d = d[d["unit"].astype(str).isin(codes)]
        if ax is None:
            _, ax = plt.subplots(figsize=(7.0, 3.6))
        terms = sorted(set(d["term"]), key=schema.term_index)
        xs_of = {t: schema.term_index(t) for t in terms}
        for k, (unit, g) in enumerate(d.groupby("unit", sort=True)):
            g = g.assign(x=g["term"].map(xs_of)).sort_values("x")
            colour = f"C{k % 10}"
            name = str(g["unit_name"].iloc[0]) if pd.notna(g["unit_name"].iloc[0]) else str(unit)
            ax.fill_between(g["x"], g["conf_low"], g["conf_high"], color=colour, alpha=0.15,
                            lw=0)
            ax.plot(g["x"], g["estimate"], "o-", color=colour, ms=3, lw=1.2, label=name)
        ax.set_xticks([xs_of[t] for t in terms])
        ax.set_xticklabels(terms, rotation=45, ha="right")
        ax.set_xlabel("Termin")
        ax.set_ylabel(f"Index (skala {self._scale[0]}–{self._scale[1]})")
        dim_name = self._dimension_names.get(dimension, dimension)
        ax.set_title(f"Undervisningskvalitet per {_LEVEL_SV[level]}: {dim_name} "
                     "(95 % konfidensintervall)")
        if d["unit"].nunique() <= 12:
            ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=7)
        return ax


def _text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    allrows = [header, *rows]
    widths = [max(len(str(r[i])) for r in allrows) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in allrows]


# --------------------------------------------------------------------------
# Front door
# --------------------------------------------------------------------------
def _warm_start(first: _EngineFit, forms: pd.DataFrame, dim: str,
                blocks: list[_Block]) -> np.ndarray | None:
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
    theta = first.fit.theta
    if theta is None or [(b.group, b.terms) for b in blocks] != [
            (b.group, b.terms) for b in first.blocks]:
        return None
    both = forms[[first.dimension, dim]].dropna()
    if len(both) < 2:
        return None
    vc = first.fit.varcorr
    s2 = float(vc.loc[vc["group"] == "Residual", "var_cov"].iloc[0])
    extra = float(np.var(both[dim].to_numpy(float) - both[first.dimension].to_numpy(float)))
    return theta * math.sqrt(s2 / (s2 + extra))


def _fit_models(forms: pd.DataFrame, dims: list[str]) -> dict[str, _QualityModel]:
    """Each dimension's model: the first fitted alone, then the rest in two threads.

    The other dimensions start from the first model's variance parameters
    (:func:`_warm_start`), which finds the same optimum in a third of the
    time at Göteborg's scale. Once the first model's engine fit is done, its
    mixed-model equations and the other dimensions' fits run side by side in
    two threads (the engine's likelihood evaluations and SuperLU release the
    GIL, so two threads use two cores without copying the data). Each fit is
    a full REML fit to its own optimum.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        first = _engine_fit(forms, dims[0])
        rest = dims[1:]
        workers = min(2, len(rest) + 1, os.cpu_count() or 1)
        if workers < 2:
            out = {dims[0]: _finish_model(forms, first)}
            out.update({dim: _fit_model(forms, dim, start=first) for dim in rest})
            return out
        from concurrent.futures import ThreadPoolExecutor

        with _blas_threads(), ThreadPoolExecutor(workers) as pool:
            futures = {dim: pool.submit(_fit_model, forms, dim, True, first) for dim in rest}
            futures[dims[0]] = pool.submit(_finish_model, forms, first)
            return {dim: futures[dim].result() for dim in dims}


def teaching_quality(ds: Dataset, by: str | Sequence[str] = "school",
                     dimension: str = "overall") -> TeachingQualityResult:
    """The teaching-quality index per school (area, municipality) × term.

    Parameters
    ----------
    ds : a Dataset with observations.
    by : ``"school"``, ``"area"`` or ``"municipality"``, or a list of them
        (the tidy table then holds every level asked for).
    dimension : ``"overall"``, a dimension id of the instrument, or ``"all"``
        (overall and every dimension; one model each).

    Returns
    -------
    TeachingQualityResult. ``.tidy()`` columns: level, unit, term,
    school_year, dimension, estimate, se, conf_low, conf_high, n_obs (lessons),
    n_forms, n_teachers, n_observers, reliability, suppressed,
    suppression_reason, n_schools, unit_name.

    Raises
    ------
    ModelError
        No observations, an unknown dimension or level, no areas in the
        school register for ``by="area"``, or a model that cannot be fitted.

    Notes
    -----
    The model, the reference conditions, the standard errors, the
    aggregation and the own-school rule are described in the module
    docstring. Missing data: forms whose score for the dimension is missing
    under the instrument's half rule are left out. School × term cells with
    fewer than 3 observed teachers or 5 observed lessons are suppressed.
    """
    _require_observations(ds)
    dims = _check_dimension(ds, dimension)
    levels = _check_by(ds, by)
    forms = score_forms(ds)
    models: dict[str, _QualityModel] = {}
    school_rows: dict[str, pd.DataFrame] = {}
    parts = []
    fitted = _fit_models(forms, dims)
    for dim in dims:
        model = fitted[dim]
        models[dim] = model
        school = _school_rows(model, forms, ds)
        school_rows[dim] = school
        for level in levels:
            if level == "school":
                d = school.rename(columns={"school_id": "unit"}).assign(n_schools=1)
            else:
                d = _aggregate(model, school, forms, ds, level)
            parts.append(d.assign(level=level, dimension=dim))
    table = pd.concat(parts, ignore_index=True)
    table["school_year"] = table["term"].map(schema.term_school_year)
    sup = table["suppressed"].astype(bool)
    table.loc[sup, ["estimate", "se"]] = np.nan
    table["conf_low"] = table["estimate"] - Z_95 * table["se"]
    table["conf_high"] = table["estimate"] + Z_95 * table["se"]
    table = table[TIDY_COLUMNS + _EXTRA_COLUMNS].copy()
    table["suppressed"] = sup.to_numpy()
    for c in ("n_obs", "n_forms", "n_teachers", "n_observers", "n_schools"):
        table[c] = table[c].astype(int)
    order = {lv: i for i, lv in enumerate(LEVELS)}
    dorder = {d: i for i, d in enumerate(dims)}
    table = table.assign(_l=table["level"].map(order), _d=table["dimension"].map(dorder),
                         _t=table["term"].map(schema.term_index))
    table = table.sort_values(["_l", "_d", "unit", "_t"]).drop(columns=["_l", "_d", "_t"])
    table = table.reset_index(drop=True)
    names = {"overall": "samtliga dimensioner", **ds.instrument.dimension_names()}
    return TeachingQualityResult(table, models, school_rows, levels, ds.instrument.name,
                                 ds.instrument.scale, names)


# --------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------
def _roles_text(roles: pd.Series) -> str:
    vc = roles.value_counts()
    return ", ".join(f"{schema.LABELS_SV.get(str(r), str(r))} {n}" for r, n in vc.items() if n)


def coverage(ds: Dataset) -> pd.DataFrame:
    """Who and what was observed, per school × term.

    Columns: school_id, school_name, term, school_year, n_obs (lessons),
    n_forms, n_paired (lessons with two or more forms), n_teachers (observed),
    n_teachers_known (distinct teachers seen at the school in the school
    year), share_teachers_observed, n_spontan, n_planerad, n_kollegial
    (lessons by type), n_observers, share_own_school (forms by observers who
    work at the school, see :func:`infer_home_schools`) and roles (forms per
    observer role, in Swedish).

    Notes
    -----
    Counts use every form, also forms whose scores are missing. Teachers
    "known" are only those who appear in the observations (the observations
    are the only source of staff): the share observed is therefore an upper
    bound of the share of all teachers.
    """
    forms = score_forms(ds)
    names = dict(zip(ds.schools["school_id"], ds.schools["school_name"]))
    keys = ["school_id", "term"]
    known = forms.groupby(["school_id", "school_year"])["teacher_id"].nunique().rename(
        "n_teachers_known")
    g = forms.groupby(keys, sort=True)
    out = g.agg(n_obs=("observation_id", "nunique"), n_forms=("observation_id", "size"),
                n_teachers=("teacher_id", "nunique"), n_observers=("observer_id", "nunique"),
                share_own_school=("own_school", "mean"))
    per_lesson = forms.groupby([*keys, "observation_id"], sort=False).size()
    out["n_paired"] = (per_lesson > 1).groupby(level=[0, 1]).sum()
    lessons = forms.drop_duplicates("observation_id")
    by_type = lessons.groupby([*keys, "observation_type"], observed=True).size().unstack(
        "observation_type")
    for t in schema.OBSERVATION_TYPES:
        out[f"n_{t}"] = (by_type[t].reindex(out.index).fillna(0)
                         if t in by_type.columns else 0)
    # roles by number of forms, ties in order of first appearance (as value_counts)
    rg = forms.assign(_pos=np.arange(len(forms))).groupby(
        [*keys, "observer_role"], observed=True, sort=False)
    roles = rg.agg(n=("_pos", "size"), first=("_pos", "min")).reset_index()
    roles = roles[roles["n"] > 0].sort_values(
        [*keys, "n", "first"], ascending=[True, True, False, True], kind="stable")
    roles["text"] = [f"{schema.LABELS_SV.get(str(r), str(r))} {n}"
                     for r, n in zip(roles["observer_role"], roles["n"])]
    out["roles"] = roles.groupby(keys, sort=False)["text"].agg(", ".join).reindex(out.index)
    out = out.reset_index()
    out["school_year"] = out["term"].map(schema.term_school_year)
    out = out.merge(known.reset_index(), on=["school_id", "school_year"], how="left")
    out["n_teachers_known"] = out["n_teachers_known"].astype(int)
    out["share_teachers_observed"] = np.where(
        out["n_teachers_known"] > 0, out["n_teachers"] / out["n_teachers_known"].clip(lower=1),
        np.nan)
    out["school_name"] = out["school_id"].map(names)
    for c in ("n_obs", "n_forms", "n_paired", "n_teachers", "n_observers",
              *(f"n_{t}" for t in schema.OBSERVATION_TYPES)):
        out[c] = out[c].astype(int)
    out["share_own_school"] = out["share_own_school"].astype(float)
    cols = ["school_id", "school_name", "term", "school_year", "n_obs", "n_forms", "n_paired",
            "n_teachers", "n_teachers_known", "share_teachers_observed",
            *(f"n_{t}" for t in schema.OBSERVATION_TYPES), "n_observers",
            "share_own_school", "roles"]
    out = out[cols]
    out = out.assign(_t=out["term"].map(schema.term_index)).sort_values(
        ["school_id", "_t"]).drop(columns="_t").reset_index(drop=True)
    return out


def observer_coverage(ds: Dataset) -> pd.DataFrame:
    """Per observer: role, home school, how many forms, where and of which type.

    Columns: observer_id, observer_role, home_school_id (latest school year,
    see :func:`infer_home_schools`), n_forms, n_obs (lessons), n_paired
    (lessons they observed together with another observer), n_schools,
    n_terms, first_term, last_term, share_own_school, n_spontan, n_planerad,
    n_kollegial (forms by type).
    """
    forms = score_forms(ds)
    paired = forms.groupby("observation_id")["observer_id"].transform("size") > 1
    forms = forms.assign(_paired=paired, _t=forms["term"].map(schema.term_index))
    rows = []
    for oid, g in forms.sort_values("_t").groupby("observer_id", sort=True):
        row = {"observer_id": oid,
               "observer_role": g["observer_role"].value_counts().index[0],
               "home_school_id": g["home_school_id"].iloc[-1],
               "n_forms": len(g), "n_obs": int(g["observation_id"].nunique()),
               "n_paired": int(g["_paired"].sum()),
               "n_schools": int(g["school_id"].nunique()), "n_terms": int(g["term"].nunique()),
               "first_term": g["term"].iloc[0], "last_term": g["term"].iloc[-1],
               "share_own_school": float(g["own_school"].mean())}
        for t in schema.OBSERVATION_TYPES:
            row[f"n_{t}"] = int((g["observation_type"] == t).sum())
        rows.append(row)
    return pd.DataFrame(rows)
