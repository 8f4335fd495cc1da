"""Rank intervals (engine/ranks.py) and the caterpillar chart that shows them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from undervisning_analys import plots
from undervisning_analys.engine.ranks import rank_intervals
from undervisning_analys.errors import ValidationError


def test_well_separated_estimates_have_point_rank_intervals():
    est = pd.Series([10.0, 30.0, 20.0], index=["a", "b", "c"])
    r = rank_intervals(est, np.full(3, 0.01))
    assert r.loc["b", "rank"] == 1 and r.loc["c", "rank"] == 2 and r.loc["a", "rank"] == 3
    assert (r["rank_low"] == r["rank"]).all() and (r["rank_high"] == r["rank"]).all()
    assert (r["n_ranked"] == 3).all()


def test_equal_estimates_with_noise_can_take_every_place():
    r = rank_intervals(np.zeros(10), np.ones(10))
    assert (r["rank_low"] <= 2).all() and (r["rank_high"] >= 9).all()


def test_coverage_of_the_true_rank_over_seeds():
    """The interval covers the true rank in at least about 95 % of units and draws."""
    rng = np.random.default_rng(1)
    truth = np.linspace(0, 3, 15)
    true_rank = 15 - np.argsort(np.argsort(truth))
    hits = []
    for seed in range(40):
        se = np.full(15, 0.4)
        est = truth + rng.standard_normal(15) * se
        r = rank_intervals(est, se, seed=seed)
        hits.append((r["rank_low"].to_numpy() <= true_rank) & (true_rank <= r["rank_high"]
                                                                 .to_numpy()))
    assert np.mean(hits) >= 0.93


def test_missing_rows_are_not_ranked_and_errors_are_named():
    r = rank_intervals(np.array([1.0, np.nan, 2.0]), np.array([0.1, 0.1, np.nan]))
    assert r["rank"].isna().tolist() == [False, True, True]
    assert (r["n_ranked"] == 1).all()
    with pytest.raises(ValidationError, match="lika långa"):
        rank_intervals(np.zeros(3), np.zeros(2))
    with pytest.raises(ValidationError, match="mellan 0 och 1"):
        rank_intervals(np.zeros(3), np.zeros(3), level=95)


def _rows():
    return pd.DataFrame({"unit": ["1", "2", "3"], "estimate": [3.0, 1.0, 2.0],
                         "conf_low": [2.5, 0.5, 1.5], "conf_high": [3.5, 1.5, 2.5]})


def test_caterpillar_lists_schools_alphabetically_by_default():
    names = {"1": "Östra skolan", "2": "Ängsskolan", "3": "Alskolan"}
    ax = plots.caterpillar(_rows(), names)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # y runs upwards: the first name in Swedish order is at the top
    assert labels[::-1] == ["Alskolan", "Ängsskolan", "Östra skolan"]


def test_caterpillar_by_estimate_shows_each_place_with_its_interval():
    rows = _rows()
    rows = pd.concat([rows, rank_intervals(rows["estimate"], pd.Series([0.4, 0.4, 0.4]))
                      .drop(columns=["rank", "n_ranked"])], axis=1)
    ax = plots.caterpillar(rows, {"1": "A", "2": "B", "3": "C"}, order="estimate")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1].startswith("A (plats 1") and labels[-1].endswith("av 3)")
    assert labels[0].startswith("B (plats ")
    with pytest.raises(ValueError, match="rank_low"):
        plots.caterpillar(_rows(), {}, order="estimate")


def test_caterpillar_names_the_municipality_line_without_a_legend_box():
    ax = plots.caterpillar(_rows(), {"1": "A", "2": "B", "3": "C"}, reference=2.0)
    assert ax.get_legend() is None
    assert ax.get_xlabel().endswith("streckad linje: kommunen")
    ax = plots.caterpillar(_rows(), {"1": "A", "2": "B", "3": "C"})
    assert "streckad" not in ax.get_xlabel()
