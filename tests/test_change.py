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
import pandas as pd
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


# --------------------------------------------------------------------------
# One planner: plan_observations carries the change beside the level
# --------------------------------------------------------------------------
def test_plan_observations_has_level_and_change_rows():
    from undervisning_analys.measure.reliability import plan_observations

    kw = {"n_teachers": 25, "n_observers": 3.0, "paired_share": 0.2}
    both = plan_observations(COMP, 0.7, change=0.2, change_reliability=0.5, years=2, **kw)
    level_only = plan_observations(COMP, 0.7, **kw).tidy()
    t = both.tidy()
    assert list(t["goal"]) == ["level", "change_power", "change_reliability"]
    # the level row is the level planner's, unchanged by asking for the change
    lvl = t[t["goal"] == "level"].reset_index(drop=True)
    pd.testing.assert_frame_equal(lvl, level_only)
    assert pd.isna(lvl.loc[0, "years"]) and np.isnan(lvl.loc[0, "change"])
    # the change rows are the change planner's for the same design
    ref = plan_observations_change(COMP, change=0.2, target_reliability=0.5, years=2,
                                   **kw).tidy().set_index("goal")
    for goal in ("power", "reliability"):
        row = t[t["goal"] == f"change_{goal}"].iloc[0]
        assert row["n_obs_needed"] == ref.loc[goal, "n_obs_needed"]
        assert row["years"] == 2 and row["target"] == ref.loc[goal, "target"]
        assert row["se_change_at_needed"] == pytest.approx(ref.loc[goal, "se_at_needed"])
    p = t[t["goal"] == "change_power"].iloc[0]
    assert p["power_at_needed"] == pytest.approx(ref.loc["power", "achieved"])
    assert p["max_power"] == pytest.approx(ref.loc["power", "ceiling"])
    r = t[t["goal"] == "change_reliability"].iloc[0]
    assert r["reliability_at_needed"] == pytest.approx(ref.loc["reliability", "achieved"])
    assert r["max_reliability"] == pytest.approx(ref.loc["reliability", "ceiling"])
    # change needs more lessons than a level of the same reliability
    assert r["n_obs_needed"] > lvl.loc[0, "n_obs_needed"]
    c = both.curve()
    assert {"reliability", "reliability_change", "power"} <= set(c.columns)
    ok = c["reliability"].notna()
    assert ok.sum() > 190 and (c.loc[ok, "reliability_change"] < c.loc[ok, "reliability"]).all()
    table = both.table()
    assert table["Mål"].tolist() == [
        "reliabilitet 0,70 för en termins nivå",
        "upptäcka en förändring på 0,20 poäng per läsår med 80 % sannolikhet (trend över 2 läsår)",
        "reliabilitet 0,50 för förändringen (trend över 2 läsår)"]
    text = str(both.summary())
    assert "aldrig skillnaden mellan två terminer" in text and "Styrka då" in text
    ax = both.plot()
    assert "förändringen" in ax.get_title()
    plt.close("all")


def test_planned_power_for_change_holds_in_simulation():
    """The number plan_observations recommends for 80 % power gives 80 % power when the
    schools are simulated with that design (and one lesson fewer gives less)."""
    from undervisning_analys.measure.reliability import plan_observations

    design = {"n_teachers": 20, "n_observers": 3, "paired_share": 0.0}
    plan = plan_observations(COMP, 0.7, change=0.15, years=3, **design).tidy()
    row = plan[plan["goal"] == "change_power"].iloc[0]
    n = int(row["n_obs_needed"])
    assert 0.8 <= row["power_at_needed"] < 0.86
    powers = []
    for k, lessons in enumerate((n, max(n - 3, 1))):
        rng = np.random.default_rng(100 + k)
        b = _simulate(rng, 8000, 3, lessons, 20, 3, 0.0, True, 0.15)
        se = change_se(COMP, lessons, years=3, **design)
        powers.append(float(np.mean(np.abs(b / se) > 1.959963984540054)))
    assert abs(powers[0] - row["power_at_needed"]) < 0.025, (powers, row["power_at_needed"])
    assert powers[1] < 0.8 < powers[0] + 0.02


def test_plan_observations_change_from_a_dataset(small_ds):
    import warnings

    from undervisning_analys.errors import ConvergenceWarning
    from undervisning_analys.measure.change import change_precision
    from undervisning_analys.measure.reliability import plan_observations, school_designs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plan = plan_observations(small_ds, 0.7, change=0.2, change_reliability=0.7, years=3)
    t = plan.tidy()
    designs = school_designs(small_ds)
    assert len(t) == 3 * len(designs)
    assert (t.groupby("unit")["goal"].apply(list)
            == [["level", "change_power", "change_reliability"]] * len(designs)).all()
    comp = plan.components
    for d in designs.itertuples(index=False):
        mine = t[t["unit"] == d.unit].set_index("goal")
        now = change_precision(comp, d.n_obs_now, change=0.2, years=3, n_teachers=d.n_teachers,
                               n_observers=d.n_observers, paired_share=d.paired_share)
        assert mine.loc["change_power", "power_now"] == pytest.approx(now["power"])
        assert mine.loc["change_reliability", "reliability_now"] == pytest.approx(
            now["reliability"])
        assert (mine["n_obs_now"] == d.n_obs_now).all()


def test_plan_observations_change_errors():
    from undervisning_analys.measure.reliability import plan_observations

    no_trend = {k: v for k, v in COMP.items() if not k.startswith("school_t")
                and k != "school_intercept_trend"} | {"school_term": 0.004}
    with pytest.raises(ModelError, match="trender"):
        plan_observations(no_trend, 0.7, change_reliability=0.5)
    with pytest.raises(ModelError, match="helt antal läsår"):
        plan_observations(COMP, 0.7, change=0.2, years=1.5)
    with pytest.raises(ModelError, match="skild från noll"):
        plan_observations(COMP, 0.7, change=0.0)
    with pytest.raises(ModelError, match="target_reliability"):
        plan_observations(COMP, 0.7, change_reliability=1.2)
    with pytest.raises(ModelError, match="power"):
        plan_observations(COMP, 0.7, change=0.2, power=1.0)


def test_plan_at_a_given_number_of_lessons():
    """ObservationPlan.at: the curve's values at a plan's lessons per term (any number)."""
    from undervisning_analys.measure.reliability import plan_observations

    kw = {"n_teachers": 25, "n_observers": 3.0, "paired_share": 0.2}
    plan = plan_observations(COMP, 0.7, change=0.2, change_reliability=0.5, years=2, **kw)
    c = plan.curve().set_index("n_obs")
    at = plan.at(pd.DataFrame({"unit": ["plan", "plan", "okänd", "plan"],
                               "n_obs": [12.0, 7.5, 10.0, 0.0]}))
    assert at["unit"].tolist() == ["plan"] * 3  # a unit not in the plan is left out
    first = at.iloc[0]
    assert first["reliability"] == pytest.approx(c.loc[12, "reliability"])
    assert first["reliability_change"] == pytest.approx(c.loc[12, "reliability_change"])
    assert first["power"] == pytest.approx(c.loc[12, "power"])
    assert first["se_change"] == pytest.approx(change_se(COMP, 12, years=2, **kw))
    assert first["years"] == 2 and first["change"] == 0.2 and first["paired_share"] == 0.2
    # between the integers: monotone, and the formula at the fraction
    assert c.loc[7, "reliability"] < at.iloc[1]["reliability"] < c.loc[8, "reliability"]
    assert at.iloc[1]["se_change"] == pytest.approx(change_se(COMP, 7.5, years=2, **kw))
    assert at.iloc[2][["reliability", "reliability_change", "power"]].isna().all()
    # the plan's own paired share moves the figures; a level-only plan has no change columns
    more_pairs = plan.at(pd.DataFrame({"unit": ["plan"], "n_obs": [12.0],
                                       "paired_share": [0.8]})).iloc[0]
    assert more_pairs["reliability"] > first["reliability"]
    level = plan_observations(COMP, 0.7, **kw).at(pd.DataFrame({"unit": ["plan"],
                                                                "n_obs": [12.0]}))
    longer = plan.at(pd.DataFrame({"unit": ["plan"], "n_obs": [12.0], "years": [4]})).iloc[0]
    assert longer["years"] == 4
    assert longer["se_change"] == pytest.approx(change_se(COMP, 12, years=4, **kw))
    assert longer["power"] > first["power"]
    assert "power" not in level.columns
    assert level["reliability"].iloc[0] == pytest.approx(first["reliability"])


def test_planned_lessons_reads_a_plan_as_a_design():
    from undervisning_analys.plans import planned_lessons

    rows = []
    for pid, sid, start, end, targets in (
            ("P1", "99000001", "HT2021", "VT2024",
             {"spontan": 6, "planerad": 3, "kollegial": 1, "par": 2}),
            ("P1", "99000002", "HT2023", "HT2024", {"spontan": 4}),
            ("P-old", "99000003", "HT2022", "VT2023", {"spontan": 2}),
            ("P-new", "99000003", "VT2025", "VT2025", {"planerad": 5, "par": 9})):
        for vt, n in targets.items():
            rows.append({"plan_id": pid, "school_id": sid, "period_start": start,
                         "period_end": end, "kind": "observations", "target_of": vt,
                         "target": float(n)})
    rows.append({"plan_id": "P1", "school_id": "99000001", "period_start": "HT2021",
                 "period_end": "VT2024", "kind": "dimension", "target_of": "overall",
                 "target": 3.0})
    rows.append({"plan_id": "H", "school_id": None, "period_start": "HT2021",
                 "period_end": "VT2024", "kind": "observations", "target_of": "spontan",
                 "target": 50.0})
    got = planned_lessons(pd.DataFrame(rows)).set_index("unit")
    assert list(got.index) == ["99000001", "99000002", "99000003"]
    assert got.loc["99000001", "n_obs"] == 10 and got.loc["99000001", "paired_share"] == 0.2
    assert np.isnan(got.loc["99000002", "paired_share"])
    # the period's school years: 6 terms -> 3, 3 terms -> 2, one term -> 1
    assert got["years"].tolist() == [3, 2, 1]
    # the latest plan; paired share at most one
    assert got.loc["99000003", "plan_id"] == "P-new"
    assert got.loc["99000003", "n_obs"] == 5 and got.loc["99000003", "paired_share"] == 1.0
    assert planned_lessons(None).empty
