"""Next steps item by item and differential item functioning (issue 17, item 5).

The synthetic municipality has item-level scores but no school × item effects
and no DIF; these tests plant both in a test-only copy of its observations and
check that they are recovered (and that nothing is found where nothing is).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from undervisning_analys import synth
from undervisning_analys.dataset import Dataset
from undervisning_analys.errors import ModelError, UnknownSchoolError
from undervisning_analys.measure.items import centred_item_scores, item_dif, next_steps


def _base(seed: int, n_years: int = 2):
    return synth.municipality(seed=seed, n_schools=8, n_years=n_years, with_pupils=False,
                              compute_slope=False, paired_share=0.0)


def _with_scores(ds, scores: np.ndarray) -> Dataset:
    obs = ds.observations.copy()
    obs["score"] = scores
    return Dataset.build(schools=ds.schools, observations=obs, results=ds.results,
                         background=ds.background, instrument=ds.instrument)


def _shift(rng, obs: pd.DataFrame, inst, shift: np.ndarray) -> np.ndarray:
    """Scores moved by ``shift`` points in the scored direction (stochastic rounding)."""
    rev = obs["item_id"].isin(inst.reversed_items()).to_numpy()
    step = np.floor(shift + rng.random(len(obs)))
    s = obs["score"].to_numpy(dtype=float) + np.where(rev, -step, step)
    return np.clip(s, inst.scale_min, inst.scale_max)


def _expected_shift(scored: np.ndarray, shift: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """E[clip(s + floor(shift + U)) − s]: the shift a score really gets (exact)."""
    fl = np.floor(shift)
    f = shift - fl
    return ((1 - f) * np.clip(scored + fl, lo, hi) + f * np.clip(scored + fl + 1, lo, hi)
            - scored)


def _plant_school_item(seed: int, sd: float = 0.45):
    """School x item effects in every year; the truth is the shift the last year's scores
    really got (exact expectation after clipping to the scale), as a profile."""
    ds = _base(seed)
    rng = np.random.default_rng(seed + 1000)
    obs = ds.observations
    inst = ds.instrument
    schools = sorted(obs["school_id"].astype(str).unique())
    g = pd.Series(rng.normal(0, sd, len(schools) * len(inst.item_ids)),
                  index=pd.MultiIndex.from_product([schools, inst.item_ids]))
    shift = g.reindex(pd.MultiIndex.from_arrays(
        [obs["school_id"].astype(str), obs["item_id"].astype(str)])).to_numpy()
    out = _with_scores(ds, _shift(rng, obs, inst, shift))
    rev = obs["item_id"].isin(inst.reversed_items()).to_numpy()
    raw = obs["score"].to_numpy(float)
    scored = np.where(rev, inst.scale_min + inst.scale_max - raw, raw)
    last = (obs["school_year"].astype(str) == obs["school_year"].astype(str).max()).to_numpy() \
        & ~np.isnan(raw)
    truth = pd.DataFrame({
        "school_id": obs["school_id"].astype(str)[last], "item_id": obs["item_id"][last],
        "truth": _expected_shift(scored[last], shift[last], inst.scale_min, inst.scale_max)})
    truth = truth.groupby(["school_id", "item_id"], as_index=False)["truth"].mean()
    truth["truth"] -= truth.groupby("school_id")["truth"].transform("mean")
    return out, truth


@pytest.fixture(scope="module")
def planted():
    return [_plant_school_item(seed) for seed in (21, 22)]


def test_next_steps_recover_planted_school_item_effects(planted):
    allt = []
    for ds, truth in planted:
        t = next_steps(ds).tidy().merge(truth, on=["school_id", "item_id"])
        t = t[~t["suppressed"]]
        assert np.corrcoef(t["effect"], t["truth"])[0, 1] > 0.7
        allt.append(t)
    t = pd.concat(allt)
    # 95 % intervals over ~190 school x items (benchmarks/sim_items.py: 0.92 over 12 seeds)
    covered = ((t["conf_low"] <= t["truth"]) & (t["truth"] <= t["conf_high"])).mean()
    assert 0.85 < covered <= 0.99, covered
    steps = t[t["status"] == "next_step"]
    strengths = t[t["status"] == "strength"]
    assert len(steps) >= 5 and len(strengths) >= 5
    assert (steps["truth"] < 0).mean() >= 0.9
    assert (strengths["truth"] > 0).mean() >= 0.9


def test_next_steps_find_nothing_where_nothing_is():
    res = next_steps(_base(23))
    t = res.tidy()
    shown = t[~t["suppressed"]]
    assert (shown["status"] == "as_expected").mean() >= 0.95
    assert "Inget påstående skiljer sig" in res.summary()


def test_next_steps_table_privacy_and_plot(planted):
    ds, _ = planted[0]
    res = next_steps(ds)
    t = res.tidy()
    assert len(t) == t["school_id"].nunique() * len(ds.instrument.item_ids)
    assert "teacher_id" not in t.columns
    sup = t[t["suppressed"]]
    assert ((sup["n_teachers"] < 3) | (sup["n_obs"] < 5)).all()
    assert sup["effect"].isna().all() and (sup["status"] == "suppressed").all()
    assert (t.loc[~t["suppressed"], ["n_teachers", "n_obs"]].min() >= [3, 5]).all()
    assert t["difficulty"].notna().all()
    shown = t[~t["suppressed"]]
    np.testing.assert_allclose(shown["observed"] - shown["expected"], shown["effect"])
    sid = shown["school_id"].iloc[0]
    ax = res.plot(school_id=sid)
    assert len(ax.get_yticklabels()) == len(ds.instrument.item_ids)
    plt.close("all")
    with pytest.raises(UnknownSchoolError):
        res.for_school("00000000")
    text = res.summary()
    assert "Nästa steg" in text


def test_dif_names_planted_items():
    ds = _base(24, n_years=3)
    rng = np.random.default_rng(7)
    obs = ds.observations
    years = sorted(obs["school_year"].astype(str).unique())
    year_no = obs["school_year"].astype(str).map({y: i for i, y in enumerate(years)})
    shift = np.zeros(len(obs))
    ext_ka1 = (obs["observer_role"].astype(str) == "extern") & (obs["item_id"] == "KA1")
    shift[ext_ka1.to_numpy()] = 0.6          # externals rate KA1 higher
    kl2 = (obs["item_id"] == "KL2").to_numpy()
    shift[kl2] = 0.3 * year_no.to_numpy()[kl2]  # KL2 rises 0.3 per school year
    res = item_dif(_with_scores(ds, _shift(rng, obs, ds.instrument, shift)))
    t = res.tidy()
    fl = res.flagged()
    keys = set(zip(fl["item_id"], fl["group"], strict=True))
    assert ("KA1", "extern") in keys
    assert ("KL2", "per_year") in keys
    assert len(fl) <= 4  # the planted two and at most a couple of their mirror images
    row = t[(t["item_id"] == "KA1") & (t["group"] == "extern")].iloc[0]
    # 0.6 planted; steps pushed past 4 are clipped and the form centring takes 1/12
    assert 0.15 < row["estimate"] < 0.6
    text = res.summary()
    assert "KA1" in text and "KL2" in text
    res.plot()
    plt.close("all")


def test_dif_null_names_nothing():
    res = item_dif(_base(25, n_years=3))
    assert res.flagged().empty


def test_centred_scores_and_errors():
    ds = _base(26)
    d = centred_item_scores(ds)
    sums = d.groupby(["observation_id", "observer_id"])["d"].sum()
    np.testing.assert_allclose(sums, 0, atol=1e-9)
    with pytest.raises(ModelError, match="helt antal läsår"):
        next_steps(ds, school_years=0)
