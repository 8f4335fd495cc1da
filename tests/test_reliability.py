"""Variance components, reliability of school × term means and the decision study
(issue 4, part 3).

The generalizability formula is checked by hand and by a Monte Carlo of the linear
model with the planner's random design; the planner's answer is checked against the
synthetic municipality (slow; ``benchmarks/sim_index_coverage.py`` prints the same
figures with more seeds).
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from undervisning_analys import synth
from undervisning_analys.errors import ConvergenceWarning, ModelError, UnknownSchoolError
from undervisning_analys.measure import (
    ObservationPlan,
    VarianceComponents,
    plan_observations,
    reliability,
    variance_components,
)

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "sim_index_coverage.py"
COMP = {"school": 0.10, "school_term": 0.02, "teacher": 0.09, "observer": 0.04,
        "lesson": 0.08, "residual": 0.05}


@pytest.fixture(scope="module")
def ds():
    return synth.municipality(seed=5, n_schools=20, n_years=5, with_pupils=False,
                              compute_slope=False)


@pytest.fixture(scope="module")
def comp(ds) -> VarianceComponents:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return variance_components(ds)


# --------------------------------------------------------------------------
# the formula
# --------------------------------------------------------------------------
def test_reliability_by_hand():
    c = VarianceComponents.from_dict(COMP)
    tau = 0.12
    err = 0.09 / 8 + 0.04 / 4 + 0.08 / 10 + 0.05 / 12
    assert reliability(10, 8, 4, c, n_forms=12) == pytest.approx(tau / (tau + err), rel=1e-14)
    # one form per lesson by default; a dict works as well as the object
    assert reliability(10, 8, 4, COMP) == pytest.approx(
        tau / (tau + 0.09 / 8 + 0.04 / 4 + 0.13 / 10), rel=1e-14)


def test_reliability_vectorised_and_invalid_counts():
    r = reliability(np.array([1, 5, 20, 0]), np.array([1, 5, 10, 1]), 3, COMP)
    assert r.shape == (4,)
    assert np.all(np.diff(r[:3]) > 0)
    assert np.isnan(r[3])
    assert math.isnan(reliability(5, 0, 2, COMP))
    with pytest.raises(ModelError, match="ska vara tal"):
        reliability("många", 3, 2, COMP)


def test_school_variance_over_time():
    c = VarianceComponents.from_dict(
        {**COMP, "school_trend": 0.004, "school_intercept_trend": -0.006},
        times=(0.0, 0.5, 1.0, 1.5))
    assert c.school(0.0) == pytest.approx(0.10)
    assert c.school(1.5) == pytest.approx(0.10 - 2 * 0.006 * 1.5 + 0.004 * 1.5 ** 2)
    assert c.school() == pytest.approx(np.mean([c.school(t) for t in c.times]))
    assert c.true_variance(1.0) == pytest.approx(c.school(1.0) + 0.02)
    np.testing.assert_allclose(c.school(np.array([0.0, 1.5])), [c.school(0.0), c.school(1.5)])


def test_components_errors():
    with pytest.raises(ModelError, match="saknar `teacher`"):
        VarianceComponents.from_dict({k: v for k, v in COMP.items() if k != "teacher"})
    with pytest.raises(ModelError, match="icke-negativt"):
        VarianceComponents.from_dict({**COMP, "observer": -0.1})
    with pytest.raises(ModelError, match="VarianceComponents eller en dict"):
        reliability(5, 5, 2, [0.1, 0.2])


# --------------------------------------------------------------------------
# components from the model
# --------------------------------------------------------------------------
def test_variance_components_from_the_model(comp, ds):
    t = comp.tidy()
    dec = t[t["share"].notna()]
    assert list(dec["component"]) == ["school", "school_term", "teacher", "observer", "lesson",
                                      "residual"]
    assert dec["share"].sum() == pytest.approx(1.0)
    assert {"school_trend", "school_intercept"} <= set(t["component"])
    sd = dict(zip(dec["component"], dec["sd"]))
    truth = ds.truth.variance_components
    # the score scale is slightly compressed by rounding and clipping the items
    assert sd["teacher"] == pytest.approx(truth["sd_teacher"], abs=0.05)
    assert sd["observer"] == pytest.approx(truth["sd_observer"], abs=0.07)
    assert sd["lesson"] == pytest.approx(truth["sd_lesson"], abs=0.06)
    assert comp.lesson_separated
    assert comp.counts["forms"] > 2000


def test_components_summary_and_plot(comp):
    import matplotlib.pyplot as plt

    text = str(comp.summary())
    assert "Varianskomponenter" in text and "lärare" in text and "observatör" in text
    ax = comp.plot()
    assert "Andel" in ax.get_xlabel()
    plt.close("all")


def test_variance_components_errors(ds):
    with pytest.raises(ModelError, match="en dimension åt gången"):
        variance_components(ds, dimension="all")
    with pytest.raises(ModelError, match="Okänd dimension"):
        variance_components(ds, dimension="trivsel")
    with pytest.raises(ModelError, match="saknar lektionsobservationer"):
        variance_components(ds.replace(observations=ds.observations.iloc[:0]))


# --------------------------------------------------------------------------
# the decision study
# --------------------------------------------------------------------------
def test_plan_closed_form():
    """Unlimited teachers and observers, no pairs: n* = ceil(target/(1-target) · E/τ)."""
    plan = plan_observations(COMP, [0.7, 0.8], n_teachers=math.inf, n_observers=math.inf)
    tau, e = 0.12, 0.09 + 0.04 + 0.08 + 0.05
    t = plan.tidy()
    for target, need in zip(t["target"], t["n_obs_needed"]):
        assert need == math.ceil(target / (1 - target) * e / tau - 1e-12)
    assert (t["reliability_at_needed"] >= t["target"]).all()
    c = plan.curve()
    assert (c["reliability"].diff().dropna() > 0).all()


def test_plan_is_minimal_and_matches_reliability():
    plan = plan_observations(COMP, 0.75, n_teachers=20, n_observers=3, paired_share=0.2)
    r = plan.tidy().iloc[0]
    curve = plan.curve().set_index("n_obs")["reliability"]
    n = int(r["n_obs_needed"])
    assert curve[n] >= 0.75 > curve[n - 1]
    # the design's effective numbers put into the formula
    p, forms = 0.2, n * 1.2
    n_l = n * (1 + p) ** 2 / (1 + 3 * p)
    n_t = 1 / (1 / 20 + (1 - 1 / 20) / n_l)
    n_o = 1 / (1 / 3 + (1 - 1 / 3) / forms)
    assert curve[n] == pytest.approx(reliability(n_l, n_t, n_o, COMP, n_forms=forms))
    spread = plan_observations(COMP, 0.75, n_teachers=20, n_observers=3, paired_share=0.2,
                               teacher_sampling="spread")
    assert spread.tidy()["n_obs_needed"].iloc[0] <= n


def test_plan_unreachable_target():
    plan = plan_observations({**COMP, "observer": 0.4}, 0.8, n_teachers=15, n_observers=1)
    r = plan.tidy().iloc[0]
    assert pd.isna(r["n_obs_needed"]) and not r["reachable"]
    assert r["max_reliability"] < 0.8
    assert "kan inte nås" in plan.table().iloc[0].to_string()
    assert "tak" in str(plan.summary())


def test_plan_from_dataset(ds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plan = plan_observations(ds)
        one = plan_observations(ds, 0.8, school_id=ds.schools["school_id"].iloc[0])
    assert isinstance(plan, ObservationPlan)
    t = plan.tidy()
    assert len(t) == 2 * 20
    assert set(t["target"]) == {0.7, 0.8}
    assert t["n_obs_now"].gt(0).all() and t["reliability_now"].between(0, 1).all()
    both = t.pivot(index="unit", columns="target", values="n_obs_needed").dropna()
    assert (both[0.8] >= both[0.7]).all()
    assert len(one.tidy()) == 1
    again = plan_observations(ds, components=plan.components)
    pd.testing.assert_frame_equal(again.tidy(), t)
    table = plan.table()
    assert "Lektionsbesök per termin som behövs" in table.columns
    text = str(plan.summary())
    assert "beslutsstudie" in text
    import matplotlib.pyplot as plt

    ax = plan.plot()
    assert ax.get_xlabel() == "Lektionsbesök per termin"
    plt.close("all")


def test_plan_errors(ds):
    with pytest.raises(ModelError, match="mellan 0 och 1"):
        plan_observations(COMP, 1.2)
    with pytest.raises(ModelError, match="teacher_sampling"):
        plan_observations(COMP, 0.8, teacher_sampling="alla")
    with pytest.raises(ModelError, match="minst 1"):
        plan_observations(COMP, 0.8, n_observers=0.5)
    with pytest.raises(UnknownSchoolError, match="99999999"):
        plan_observations(ds, 0.8, school_id="99999999")


def test_design_formula_against_monte_carlo():
    """The planner's expected effective numbers under its random design (linear model).

    Schools draw ``n`` lessons, each of a random teacher among ``N``; a lesson has one
    form, or two with probability ``p``; each form's observer is drawn with shares
    ``s``. The reliability across many schools, Var(true) / Var(mean), matches the
    planner's curve.
    """
    rng = np.random.default_rng(7)
    c = VarianceComponents.from_dict(COMP)
    big_n, shares, p = 12, np.array([0.5, 0.2, 0.2, 0.1]), 0.25
    k_eff = 1 / (shares ** 2).sum()
    plan = plan_observations(c, 0.9, n_teachers=big_n, n_observers=k_eff, paired_share=p,
                             max_obs=12)
    curve = plan.curve().set_index("n_obs")["reliability"]
    sd = {k: math.sqrt(v) for k, v in COMP.items()}
    for n in (3, 8):
        schools = 20_000
        true = rng.normal(0, math.sqrt(0.12), schools)
        teach = rng.normal(0, sd["teacher"], (schools, big_n))
        obs = rng.normal(0, sd["observer"], (schools, len(shares)))
        means = np.empty(schools)
        for s in range(schools):
            n_forms = 1 + (rng.random(n) < p)
            tid = np.repeat(rng.integers(0, big_n, n), n_forms)
            lesson = np.repeat(rng.normal(0, sd["lesson"], n), n_forms)
            oid = rng.choice(len(shares), size=len(tid), p=shares)
            y = (true[s] + teach[s, tid] + obs[s, oid] + lesson
                 + rng.normal(0, sd["residual"], len(tid)))
            means[s] = y.mean()
        achieved = true.var() / means.var()
        assert achieved == pytest.approx(curve[n], abs=0.012), (n, achieved, curve[n])


# --------------------------------------------------------------------------
# the planner against the synthetic municipality (slow)
# --------------------------------------------------------------------------
@pytest.mark.slow
def test_planner_against_simulation():
    spec = importlib.util.spec_from_file_location("sim_index_coverage", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    res = bench.plan_check(n_schools=40, seed=7, draws=3)
    assert list(res["target"]) == [0.7, 0.8]
    for r in res.itertuples():
        assert r.planned_reliability >= r.target
        assert abs(r.achieved_reliability - r.target) < 0.05, r
