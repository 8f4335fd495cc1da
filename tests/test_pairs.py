"""Agreement item by item and the double-coding design (issue 17, item 2).

Reference values: ``tests/reference/psych_item_kappa.R`` (psych::cohen.kappa per
item, dimension and overall, per school year) on ``psych_item_pairs.csv``.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from undervisning_analys import synth
from undervisning_analys.errors import ModelError
from undervisning_analys.measure.pairs import (
    ALL_YEARS,
    item_agreement,
    paired_items,
    plan_paired_observations,
)
from undervisning_analys.measure.reliability import VarianceComponents

REF = "tests/reference/"
KEY = ["level", "dimension", "item_id", "school_year"]


@pytest.fixture(scope="module")
def ref_pairs(repo):
    return pd.read_csv(repo / REF / "psych_item_pairs.csv", dtype={"observation_id": str,
                                                                  "school_year": str})


@pytest.fixture(scope="module")
def ds():
    return synth.municipality(seed=11, n_schools=8, n_years=3, effect=0.3, with_pupils=False,
                              compute_slope=False)


def test_item_kappa_equals_psych(repo, ref_pairs):
    ref = pd.read_csv(repo / REF / "psych_item_kappa_reference.csv", dtype={"school_year": str})
    res = item_agreement(ref_pairs, scale=(1, 4)).tidy()
    ours = res.astype({"dimension": object, "item_id": object})
    m = ref.merge(ours, on=KEY, suffixes=("_r", ""), how="left")
    assert len(m) == len(ref) == len(ours)
    assert (m["n_pairs_r"] == m["n_pairs"]).all()
    ok = m["n_lessons"] >= 5
    assert ok.sum() >= 60
    for col in ("exact", "adjacent", "kappa", "kappa_weighted"):
        np.testing.assert_allclose(m.loc[ok, col], m.loc[ok, col + "_r"], rtol=0, atol=1e-12,
                                   err_msg=col)
    # a single item has one pair per lesson: the jackknife SE is the asymptotic SE
    items = m[(m["level"] == "item") & (m["school_year"] == ALL_YEARS)]
    ratio = items["kappa_se"] / items["kappa_se_r"]
    assert ratio.between(0.8, 1.2).all(), ratio.describe()
    # pooling a dimension's items of the same lesson: wider than the naive SE
    pooled = m[(m["level"] != "item") & (m["school_year"] == ALL_YEARS)]
    assert (pooled["kappa_se"] > pooled["kappa_se_r"]).all()


def test_dataset_pairs_are_the_reference_pairs(ds, ref_pairs):
    p = paired_items(ds)
    assert (p["observer_a"] < p["observer_b"]).all()
    got = p[["observation_id", "item_id", "dimension", "school_year", "score_a", "score_b"]]
    pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                  ref_pairs.astype({"score_a": float, "score_b": float}),
                                  check_dtype=False)
    assert "teacher_id" not in p.columns


def test_intervals_and_suppression(ds):
    res = item_agreement(ds)
    t = res.tidy()
    assert set(t["school_year"]) == {ALL_YEARS, "2020/21", "2021/22", "2022/23"}
    assert set(t["level"]) == {"overall", "dimension", "item"}
    shown = t[~t["suppressed"]]
    for s in ("exact", "adjacent", "kappa", "kappa_weighted"):
        assert (shown[f"{s}_conf_low"] <= shown[s]).all()
        assert (shown[s] <= shown[f"{s}_conf_high"]).all()
    assert shown["exact"].between(0, 1).all() and (shown["adjacent"] >= shown["exact"]).all()
    # a pair table cut to four lessons: every statistic is withheld
    few = paired_items(ds)
    few = few[few["observation_id"].isin(few["observation_id"].unique()[:4])]
    small = item_agreement(few, scale=(1, 4)).tidy()
    assert small["suppressed"].all() and small["kappa_weighted"].isna().all()


def test_summary_and_heatmap(ds):
    res = item_agreement(ds)
    text = res.summary()
    assert "viktad kappa" in text and "Klassrumsledning" in text
    ax = res.plot()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "Klassrumsledning" in labels and "KL1" in labels
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == ALL_YEARS
    plt.close("all")
    with pytest.raises(ModelError, match="Okänt mått"):
        res.plot(stat="alpha")


def test_design_follows_its_formulas(ds):
    comp = VarianceComponents.from_dict({"school": 0.05, "school_term": 0.003,
                                         "teacher": 0.07, "observer": 0.04, "lesson": 0.08,
                                         "residual": 0.04})
    d1 = plan_paired_observations(ds, kappa_halfwidth=0.2, severity_halfwidth=0.3,
                                  components=comp)
    t = d1.totals
    z = 1.959963984540054
    assert t["forms_per_observer"] == math.ceil(z**2 * (2 * 0.04 + 0.04) / 0.3**2)
    assert t["n_for_kappa"] == math.ceil(t["n_now"] * (z * t["kappa_se_now"] / 0.2) ** 2)
    assert t["n_for_severity"] == math.ceil(t["n_observers"] * t["forms_per_observer"] / 2)
    # half the interval: about four times the lessons
    d2 = plan_paired_observations(ds, kappa_halfwidth=0.1, severity_halfwidth=0.3,
                                  components=comp)
    assert 3.8 <= d2.totals["n_for_kappa"] / t["n_for_kappa"] <= 4.2
    # at most every lesson of a term; the summary says how many terms the goal takes
    assert d2.totals["n_paired_lessons"] <= d2.totals["lessons_last_term"]
    if d2.totals["n_goal"] > d2.totals["lessons_last_term"]:
        assert "terminer" in d2.summary()
    tab = d1.tidy()
    assert tab["observer_id"].is_unique
    homes = tab.set_index("observer_id")["home_school_id"]
    for _, r in tab.iterrows():  # partners from another school come first
        first = r["partners"].split(", ")[0]
        assert homes[first] is None or homes[first] != r["home_school_id"]
    assert d1.by_school()["paired_lessons"].sum() >= t["n_paired_lessons"]
    ax = d1.plot()
    assert ax.get_yscale() == "log"
    plt.close("all")


def test_no_pairs_is_an_error(ds):
    obs = ds.observations
    first = obs.groupby("observation_id")["observer_id"].transform("first")
    single = obs[obs["observer_id"] == first]
    from undervisning_analys.dataset import Dataset

    d = Dataset.build(schools=ds.schools, observations=single, results=ds.results,
                      background=ds.background, instrument=ds.instrument)
    with pytest.raises(ModelError, match="Inga lektioner är observerade av två"):
        item_agreement(d)
    with pytest.raises(ModelError, match="skalan"):
        item_agreement(paired_items(ds))
