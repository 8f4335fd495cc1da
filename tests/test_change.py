"""Reliability of change (issue 17, item 3): the planner against a simulation.

The simulation draws schools from the linear model the planner assumes, with a
fixed staff of teachers and fixed observers (whose effects must cancel in a
trend), lessons visited at random, and estimates each school's trend by least
squares over its term means: the planner's standard error, power and
reliability of change must match.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from undervisning_analys.errors import ModelError
from undervisning_analys.measure.change import change_se, plan_observations_change
from undervisning_analys.measure.reliability import VarianceComponents

COMP = {"school": 0.06, "school_trend": 0.006, "school_intercept_trend": 0.0,
        "school_term": 0.004, "teacher": 0.07, "observer": 0.03, "lesson": 0.08,
        "residual": 0.04}


def _simulate(rng, n_schools, years, n, n_teachers, k_obs, paired, same_observers, slopes):
    c = COMP
    terms = 2 * years
    t = np.arange(terms) / 2.0
    n_pair = int(round(n * paired))
    u = rng.normal(0, math.sqrt(c["teacher"]), (n_schools, n_teachers))
    d_fixed = rng.normal(0, math.sqrt(c["observer"]), (n_schools, k_obs))
    means = np.empty((n_schools, terms))
    rows = np.arange(n_schools)[:, None]
    for k in range(terms):
        d = d_fixed if same_observers else rng.normal(0, math.sqrt(c["observer"]),
                                                      (n_schools, k_obs))
        teach = u[rows, rng.integers(n_teachers, size=(n_schools, n))]
        lesson = rng.normal(0, math.sqrt(c["lesson"]), (n_schools, n))
        # forms: every lesson once, the first n_pair lessons twice
        form_lesson = np.concatenate([np.arange(n), np.arange(n_pair)])
        f = len(form_lesson)
        obs = d[rows, rng.integers(k_obs, size=(n_schools, f))]
        resid = rng.normal(0, math.sqrt(c["residual"]), (n_schools, f))
        forms = teach[:, form_lesson] + lesson[:, form_lesson] + obs + resid
        means[:, k] = (slopes * t[k] + rng.normal(0, math.sqrt(c["school_term"]), n_schools)
                       + forms.mean(axis=1))
    tc = t - t.mean()
    return (means * tc).sum(axis=1) / (tc**2).sum()


@pytest.mark.parametrize("design", [
    {"years": 2, "n": 12, "n_teachers": 20, "k_obs": 3, "paired": 0.0, "same": True},
    {"years": 3, "n": 8, "n_teachers": 30, "k_obs": 4, "paired": 0.5, "same": False},
])
def test_standard_error_and_power_match_simulation(design):
    rng = np.random.default_rng(17)
    kw = {"years": design["years"], "n_teachers": design["n_teachers"],
          "n_observers": design["k_obs"], "paired_share": design["paired"],
          "same_observers": design["same"]}
    se = change_se(COMP, design["n"], **kw)
    change = 2.2 * se  # a change the design detects with ~60 % power
    b = _simulate(rng, 6000, design["years"], design["n"], design["n_teachers"],
                  design["k_obs"], design["paired"], design["same"], change)
    # the trend's spread equals the planner's standard error (MC error ~1 %)
    assert abs(b.std() / se - 1) < 0.04, (b.std(), se)
    plan = plan_observations_change(COMP, change=change, **kw)
    power_formula = float(plan.curve().set_index("n_obs").loc[design["n"], "power"])
    power_sim = float(np.mean(np.abs(b / se) > 1.959963984540054))
    assert abs(power_sim - power_formula) < 0.03, (power_sim, power_formula)


def test_ignoring_that_staff_and_observers_persist_would_be_wrong():
    # fixed staff/observers cancel: the sim's spread is clearly below the naive error
    rng = np.random.default_rng(3)
    b = _simulate(rng, 6000, 2, 6, 8, 2, 0.0, True, 0.0)
    se_right = change_se(COMP, 6, years=2, n_teachers=8, n_observers=2)
    se_naive = change_se(COMP, 6, years=2, n_teachers=8, n_observers=2, same_observers=False)
    assert abs(b.std() / se_right - 1) < 0.04
    assert se_naive > 1.1 * se_right


def test_reliability_of_change_matches_simulation():
    rng = np.random.default_rng(5)
    var_b = COMP["school_trend"]
    slopes = rng.normal(0, math.sqrt(var_b), 8000)
    b = _simulate(rng, 8000, 2, 15, 25, 3, 0.0, True, slopes)
    plan = plan_observations_change(COMP, target_reliability=0.5, years=2, n_teachers=25,
                                    n_observers=3)
    rel_formula = float(plan.curve().set_index("n_obs").loc[15, "reliability_change"])
    rel_sim = float(np.corrcoef(b, slopes)[0, 1] ** 2)
    assert abs(rel_sim - rel_formula) < 0.03, (rel_sim, rel_formula)


def test_plan_rows_summary_plot_and_ceiling():
    comp = VarianceComponents.from_dict(COMP)
    plan = plan_observations_change(comp, change=0.2, target_reliability=0.7, years=2,
                                    n_teachers=25)
    t = plan.tidy()
    power_row = t[t["goal"] == "power"].iloc[0]
    assert power_row["achieved"] >= 0.8
    n = int(power_row["n_obs_needed"])
    assert plan.curve().loc[n - 2, "power"] < 0.8  # the smallest such number
    rel_row = t[t["goal"] == "reliability"].iloc[0]
    # the ceiling is set by the school x term variance: sigma2_ST / S_tt
    s_tt = ((np.arange(4) / 2 - 0.75) ** 2).sum()
    assert rel_row["ceiling"] == pytest.approx(0.006 / (0.006 + 0.004 / s_tt))
    assert np.isnan(rel_row["n_obs_needed"])  # 0.7 is above the ceiling 0.65
    # change needs more lessons than a level: level reliability at that n is high
    assert power_row["reliability_level_at_needed"] > 0.75
    text = plan.summary()
    assert "kan inte nås" in text and "trend" in text
    ax = plan.plot()
    assert ax.get_xscale() == "log"
    plt.close("all")
    # a longer window needs fewer lessons
    longer = plan_observations_change(comp, change=0.2, years=3, n_teachers=25).tidy()
    assert longer["n_obs_needed"].iloc[0] < n


def test_errors():
    with pytest.raises(ModelError, match="Ange en förändring"):
        plan_observations_change(COMP)
    with pytest.raises(ModelError, match="helt antal läsår"):
        plan_observations_change(COMP, change=0.2, years=1.5)
    no_trend = {k: v for k, v in COMP.items() if not k.startswith("school_t")
                and k != "school_intercept_trend"} | {"school_term": 0.004}
    with pytest.raises(ModelError, match="trender"):
        plan_observations_change(no_trend, target_reliability=0.5)
    with pytest.raises(ModelError, match="skild från noll"):
        plan_observations_change(COMP, change=0.0)
