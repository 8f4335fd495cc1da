"""The link: does a school's teaching-quality progression go with its results progression?

:func:`link` puts each school's results of school year ``y`` beside its
teaching-quality index of school year ``y - lag`` and separates two
questions that a plain correlation mixes up:

* **within** – when a school's teaching quality is higher than usual *for
  that school*, are its results (a ``lag`` later) higher than usual too?
  This compares each school with itself over time, so everything about a
  school that does not change (its catchment, its building, its history) is
  held fixed;
* **between** – do schools whose teaching quality is higher on average
  also have better results on average? This compares schools with each
  other and mixes teaching with everything else that differs between them
  (pupil background above all; ``adjusted=True`` takes the composition into
  account).

The model (within–between / Mundlak)
------------------------------------
For school ``s`` and results year ``y`` (one row per school-year with a
published result and an index for year ``y - lag``)::

    result[s, y] = a + b_W * (x[s, y-lag] - xbar[s]) + b_B * xbar[s]
                   + year[y] + sum_k c_k * dbar[s, k] + u[s, y]

where ``x`` is the yearly index (mean of the school year's term indices),
``xbar[s]`` its mean over the school's panel rows and ``year[y]`` year fixed
effects. When the panel is unbalanced (suppressed results, missing index
years) the school means of the year dummies ``dbar[s, k]`` are added, so
that ``b_W`` equals the two-way fixed-effects (school and year) estimate
exactly (Mundlak 1978; Wooldridge 2019). ``b_W`` and ``b_B`` are in result
units per index point (e.g. meritvärde points per point on the 1–4 scale).
The regression is unweighted: every school-year counts once, whatever its
number of pupils, so that the estimand is the average association over
schools (weighting by pupils would favour large schools).

Inference
---------
``inference="cluster"`` (default): OLS with standard errors clustered by
school, CR2 small-sample correction (Bell & McCaffrey 2002; Pustejovsky &
Tipton 2018) and t intervals with Bell–McCaffrey (Satterthwaite) degrees of
freedom (Imbens & Kolesár 2016), which are at most ``G - 1`` (``G`` schools)
and smaller when a few schools carry much of the information. This errs on
the cautious side (false positives and coverage on the synthetic municipality
against ``dof="G-1"`` and ``"mixed"``: ``benchmarks/results/sim_link_summary.md``);
a school organiser acting on "a link" is better served by the cautious interval. ``vcov="CR1"`` gives
Stata's CR1 (with ``G - 1``). Clustering allows any correlation of a
school's results over the years.
``inference="mixed"``: the same mean model with a random school intercept
fitted by REML with :func:`~undervisning_analys.models.mixed.fit_mixed`;
Wald t intervals with between–within degrees of freedom (``N - G - p_W``
for the within terms, ``G - p_B`` for the between terms).

Power: an interval that includes zero is not evidence of no association.
``LinkResult.min_detectable_within`` is the smallest within association the
analysis detects with 80 % power at the 5 % level, ``(t_0.975 + t_0.80) × se``
(result units per index point), and the summary states it whenever the within
interval includes zero (the power on the synthetic municipality is in
``benchmarks/results/sim_link_summary.md``).

The cluster-robust machinery lives in :mod:`undervisning_analys.engine.robust`
(checked against R's clubSandwich). Scale: nothing is ``n × n`` in the panel's ``n`` school-years (a national file
has n ≈ 42,600). The two-way annihilator is applied as school demeaning plus a
projection on an orthonormal basis of the demeaned year dummies, ``tr(MΣM)``
follows from Σ's per-school blocks, and CR2 and the Bell–McCaffrey df use
each school's own block of the hat matrix only. Σ is diagonal for an index
given as a table; for ``teaching_quality``'s joint covariance it is dense, of
the size of the index's own cells.

Measurement error: reliability, attenuation and the correction
--------------------------------------------------------------
The index is estimated from a sample of lessons, so it is the true quality
plus error. For the *within* association what matters is how much of the
index's variation *within* schools is true change: the within reliability

    λ_W = (true within variance) / (true within variance + error within variance)

computed from the index's own covariance ``Σ`` (``teaching_quality(...).cov()``:
the joint prediction-error covariance, so shared errors such as the fixed
trend's do not count; independent ``se²`` for an index given as a table)
after removing school and year means (the annihilator ``M`` of the two-way
design): with ``V = x'Mx`` and ``E = tr(M Σ M)``,

* an index of **shrunken** estimates (the default ``teaching_quality``: the
  model's conditional means) is already pulled towards each school's trend
  in proportion to its unreliability. Its variation is the true variation
  times λ, and the regression on it is *not* attenuated: a conditional mean
  is the regression-calibration value itself (its error is uncorrelated with
  it; Carroll et al. 2006, ch. 4). Then λ_W = V / (V + E) and the
  ``attenuation`` factor is 1: the within estimate already is the estimate
  for the true quality; the price of the measurement error is a wider
  interval, not a biased estimate. A second correction would count the error
  twice, so ``correction="regression_calibration"`` is refused for it.
* an index of **unshrunken** estimates (plain means, passed with
  ``index=`` and ``shrunken=False``) carries classical error: λ_W =
  (V - E) / V and the naive within estimate is expected to be λ_W times the
  slope on the true quality (the between one likewise, with the school
  means' reliability).

``correction`` chooses what ``tidy()`` reports beside the naive rows
(``correction == "none"``: the index taken at face value, always present and
unchanged): ``"regression_calibration"`` adds the within and between rows
corrected for the index's error covariance, the linear regression
calibration by the method of moments (Fuller 1987, ch. 1.2, 2.2): for each
regressor ``r`` after the other terms are partialled out and its error sum
of squares ``E_r`` (from ``Σ``), ``b = r'y / (r'r - E_r)``, with a cluster
sandwich standard error of the estimating function (which carries the
sampling variation of the error that the correction removes) and t
intervals with ``G - 1`` degrees of freedom
(:func:`~undervisning_analys.engine.robust.moment_corrected_slope`). The
default ``"auto"`` adds them for an unshrunken index and not for a shrunken
one (already calibrated). SIMEX (simulation–extrapolation) was the
alternative; ``benchmarks/sim_link_correction.py`` compares both on the
synthetic municipality with an index of within reliability about 0.5: with
classical error of known variance, the method-of-moments calibration is
unbiased within its Monte-Carlo error with intervals that cover, while the
quadratic SIMEX extrapolant recovers only part of the attenuation at that
reliability (figures in ``benchmarks/LINK_CORRECTION.md``). The correction
is only as good as the stated error: a plain mean's standard error from the
lessons' spread treats the lessons as independent although a term's lessons
share a few observers, and in the simulation the plain-means index is more
attenuated than its stated reliability predicts, so the correction falls
short there. The corrected estimate is a
ratio with an estimated denominator: when the index's variation within
schools is mostly error the denominator is small and the estimate unstable
(NaN when ``x'Mx <= E``), which the summary says.

The index's own ``reliability`` column (of a single school × term) is
reported as ``index_reliability``. The between association is in any case
confounded by everything else that differs between schools, corrected or not.
The index is on the instrument's score scale; the generator's truth per index
point is ``truth.slope_per_point`` (``synth``), against which
``benchmarks/sim_link.py`` measures bias and coverage.

Missing data
------------
A school-year is left out when its result is not published (``..``
suppressed, ``~100``, ``.`` missing), when ``adjusted=True`` and no expected
value exists (no background), or when there is no index for the lagged year
(not observed, or suppressed below the privacy floors: an index that may not
be shown is not used). Every such row is counted by reason in
``.exclusions`` and the summary; nothing is dropped silently. The yearly
index is the mean of the school year's published term indices (one term when
only one is published; ``n_terms`` says how many).

References
----------
Mundlak, Y. (1978). On the pooling of time series and cross section data.
Econometrica, 46(1), 69–85.
Wooldridge, J. M. (2019). Correlated random effects models with unbalanced
panels. Journal of Econometrics, 211(1), 137–150.
Bell, R. M. & McCaffrey, D. F. (2002). Bias reduction in standard errors for
linear regression with multi-stage samples. Survey Methodology, 28(2), 169–181.
Pustejovsky, J. E. & Tipton, E. (2018). Small-sample methods for
cluster-robust variance estimation and hypothesis testing in fixed effects
models. Journal of Business & Economic Statistics, 36(4), 672–683.
Imbens, G. W. & Kolesár, M. (2016). Robust standard errors in small samples: some
practical advice. Review of Economics and Statistics, 98(4), 701–712.
Fuller, W. A. (1987). Measurement error models. Wiley.
Carroll, R. J., Ruppert, D., Stefanski, L. A. & Crainiceanu, C. M. (2006).
Measurement error in nonlinear models (2nd ed.), ch. 4 (regression calibration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd

from .. import schema
from ..errors import ModelError
from .link_estimate import corrected, estimate, measurement
from .link_panel import MIN_SCHOOLS, MIN_YEARS, build_panel, outcome_table, yearly_index
from .link_result import TIDY_COLUMNS, LinkResult

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

__all__ = ["Correction", "Inference", "LinkResult", "MIN_SCHOOLS", "MIN_YEARS", "link",
           "yearly_index"]

Inference = Literal["cluster", "mixed"]
Vcov = Literal["CR2", "CR1"]
Dof = Literal["BM", "G-1"]
Correction = Literal["auto", "none", "regression_calibration"]
INFERENCES: tuple[str, ...] = get_args(Inference)
VCOVS: tuple[str, ...] = get_args(Vcov)
DOFS: tuple[str, ...] = get_args(Dof)
CORRECTIONS: tuple[str, ...] = get_args(Correction)


def link(ds: Dataset, measure: str = "merit_17", lag: int = 1, adjusted: bool = False,
         inference: Inference = "cluster", *, dimension: str = "overall", group: str = "all",
         index: Any = None, shrunken: bool | None = None, vcov: Vcov = "CR2",
         dof: Dof = "BM", reference: Any = None, correction: Correction = "auto"
         ) -> LinkResult:
    """Teaching-quality progression against results progression, school by school.

    Parameters
    ----------
    ds : a Dataset with observations, results (and background for ``adjusted``).
    measure : the results measure (``merit_17``, ``pass_all_subjects_pct``, …).
    lag : school years between the teaching quality and the results it is
        compared with (1: this year's results against last year's teaching).
    adjusted : use results adjusted for pupil background
        (:func:`~undervisning_analys.models.adjust.adjusted_results`: observed
        minus expected) instead of the raw results.
    inference : ``"cluster"`` (cluster-robust by school, default) or
        ``"mixed"`` (random school intercept).
    dimension : index dimension (``"overall"`` or a dimension id).
    group : results group (``all``, ``girls``, ``boys``).
    index : the teaching-quality index: None computes
        ``teaching_quality(ds, dimension=dimension)``; or a
        ``TeachingQualityResult``; or a DataFrame (``school_id``/``unit``,
        ``term`` or ``school_year``, ``estimate``, ``se``, optionally
        ``reliability``, ``suppressed``).
    shrunken : whether the index consists of shrunken (conditional-mean)
        estimates. None: True for ``teaching_quality``'s index, else
        ``index.attrs["shrunken"]`` or False (plain means).
    vcov : ``"CR2"`` (default) or ``"CR1"`` for ``inference="cluster"``.
    dof : degrees of freedom of the cluster-robust t intervals: ``"BM"``
        (Bell–McCaffrey, default; needs ``vcov="CR2"``) or ``"G-1"``.
    reference : passed to ``adjusted_results`` when ``adjusted=True``.
    correction : measurement-error correction reported beside the naive rows:
        ``"auto"`` (default: ``"regression_calibration"`` for an unshrunken
        index, ``"none"`` for a shrunken one, which is already calibrated),
        ``"none"`` or ``"regression_calibration"`` (refused for a shrunken
        index: it would count the error twice).

    Returns
    -------
    LinkResult; ``.tidy()`` rows ``within`` and ``between`` with
    ``correction == "none"`` (the naive estimates) and, when a correction is
    made, the same two terms with ``correction == "regression_calibration"``;
    columns estimate, se, conf_low, conf_high, p_value, df, n_schools,
    n_years, n_obs, n_excluded, reliability, attenuation, index_reliability, …

    Raises
    ------
    ModelError
        Unknown measure, inference or correction, a correction of a shrunken
        index, a negative lag, no results for the measure, or fewer than :data:`MIN_SCHOOLS` schools or
        :data:`MIN_YEARS` years in the panel.

    Notes
    -----
    See the module docstring for the model, the standard errors, the
    measurement-error quantities and the missing-data policy (excluded rows
    are counted by reason in ``.exclusions``).
    """

    if not schema.is_known_measure(measure):
        raise ModelError(
            f"Okänt mått `{measure}`",
            hint="Välj ett mått i vokabulären, t.ex. merit_17, merit_16, "
                 "pass_all_subjects_pct eller eligible_vocational_pct.")
    if inference not in INFERENCES:
        raise ModelError(f"Okänt val av inferens `{inference}`",
                         hint="Välj \"cluster\" (klusterrobust) eller \"mixed\" (blandad modell).")
    if vcov not in VCOVS:
        raise ModelError(f"Okänd typ av klusterrobust kovarians `{vcov}`",
                         hint="Välj \"CR2\" eller \"CR1\".")
    if dof not in DOFS:
        raise ModelError(f"Okänt val av frihetsgrader `{dof}`",
                         hint="Välj \"BM\" (Bell–McCaffrey) eller \"G-1\".")
    if correction not in CORRECTIONS:
        raise ModelError(f"Okänt val av mätfelskorrigering `{correction}`",
                         hint="Välj \"auto\", \"none\" (ingen korrigering) eller "
                              "\"regression_calibration\" (regressionskalibrering).")
    if dof == "BM" and vcov == "CR1":
        dof = "G-1"  # Bell–McCaffrey degrees of freedom belong to CR2
    if not isinstance(lag, int | np.integer) or lag < 0:
        raise ModelError(f"Eftersläpningen måste vara ett heltal ≥ 0 (läsår), inte {lag!r}",
                         hint="Ange t.ex. lag=1 för att jämföra resultaten med föregående "
                              "läsårs undervisning.")
    lag = int(lag)

    out = outcome_table(ds, measure, adjusted, group, reference)
    if index is None:
        from ..measure.index import teaching_quality

        index = teaching_quality(ds, dimension=dimension)
    yi = yearly_index(index, dimension, shrunken)
    if correction == "regression_calibration" and yi.shrunken:
        raise ModelError(
            "Indexet består av krympta skattningar (betingade väntevärden), som redan är "
            "kalibrerade för mätfelet; en regressionskalibrering till skulle räkna mätfelet "
            "två gånger",
            hint="Använd correction=\"auto\" eller \"none\" med detta index, eller ange ett "
                 "okrympt index (t.ex. skolornas medelvärden per termin) med shrunken=False.")
    method = ("none" if yi.shrunken else "regression_calibration") \
        if correction == "auto" else str(correction)
    pn = build_panel(out, yi, measure, lag)
    panel = pn.rows

    est = estimate(panel, inference, vcov, dof)
    me = measurement(panel, yi)
    common = {"n_schools": int(panel["school_id"].nunique()),
              "n_years": int(panel["school_year"].nunique()), "n_obs": int(len(panel)),
              "n_excluded": pn.n_excluded,
              "index_reliability": float(np.nanmean(panel["x_reliability"]))
              if panel["x_reliability"].notna().any() else float("nan"),
              "inference": inference if inference == "mixed" else (
                  f"cluster ({vcov}, Bell–McCaffrey df)" if dof == "BM"
                  else f"cluster ({vcov}, G-1 df)"),
              "measure": measure, "lag": lag, "adjusted": bool(adjusted)}
    rows = [{**est["within"], "correction": "none", **common, "reliability": me.rel_w,
             "attenuation": me.att_w},
            {**est["between"], "correction": "none", **common, "reliability": me.rel_b,
             "attenuation": me.att_b}]
    if method == "regression_calibration":
        cr = corrected(me)
        rows += [{**cr["within"], "correction": method, **common,
                  "inference": "cluster (momentmetod, G-1 df)", "reliability": me.rel_w,
                  "attenuation": 1.0},
                 {**cr["between"], "correction": method, **common,
                  "inference": "cluster (momentmetod, G-1 df)", "reliability": me.rel_b,
                  "attenuation": 1.0}]
    tidy = pd.DataFrame(rows)[TIDY_COLUMNS]
    names = dict(zip(ds.schools["school_id"].astype(str), ds.schools["school_name"].astype(str)))
    info = {"years": tuple(sorted(set(panel["school_year"]))), "shrunken": yi.shrunken,
            "index_source": yi.source, "dimension": dimension, "group": group,
            "model_terms": est["names"], "n_schools_within": pn.n_schools_within,
            "x_sd_within": me.x_sd_within, "y_sd_within": me.y_sd_within,
            "correction": method}
    return LinkResult(measure=measure, lag=lag, adjusted=bool(adjusted), inference=inference,
                      table=tidy, panel=panel, exclusions=pn.exclusions, yearly=yi,
                      names=names, info=info)
