"""Rater drift (issue 17, item 1): the teaching-quality model with a per-observer trend.

Recovery of ``truth.observer_drift`` over seeds (correlation and interval
coverage); the full simulation is ``benchmarks/sim_drift.py``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from undervisning_analys import synth
from undervisning_analys.errors import ModelError
from undervisning_analys.measure.drift import rater_drift


def _drift_ds(seed: int, sd: float = 0.10, n_years: int = 4, n_schools: int = 12):
    return synth.municipality(seed=seed, n_schools=n_schools, n_years=n_years, with_pupils=False,
                              compute_slope=False, observer_drift_sd=sd)


def _truth_on_score_scale(ds, ids: pd.Series) -> pd.Series:
    true = ids.map(ds.truth.observer_drift).astype(float)
    return (true - true.mean()) * ds.truth.score_scale["overall"]


@pytest.fixture(scope="module")
def runs():
    out = []
    for seed in (101, 102, 103):
        ds = _drift_ds(seed)
        res = rater_drift(ds)
        t = res.tidy()
        t["true"] = _truth_on_score_scale(ds, t["observer_id"])
        out.append((ds, res, t))
    return out


def test_synth_drift_default_is_zero_and_leaves_other_draws_alone():
    a = synth.municipality(seed=4, n_schools=6, n_years=3, with_pupils=False,
                           compute_slope=False)
    b = _drift_ds(4, sd=0.2, n_years=3, n_schools=6)
    assert set(a.truth.observer_drift.values()) == {0.0}
    assert set(a.truth.observer_drift) == set(a.truth.observer_severity["observer_id"])
    drift = np.array(list(b.truth.observer_drift.values()))
    assert 0.1 < drift.std() < 0.3
    # the same lessons, teachers and observers: only the scores move
    cols = ["observation_id", "school_id", "teacher_id", "observer_id", "item_id", "term"]
    pd.testing.assert_frame_equal(a.observations[cols], b.observations[cols])
    pd.testing.assert_frame_equal(a.truth.school_quality, b.truth.school_quality)
    first = a.observations["term"] == a.observations["term"].iloc[0]
    assert a.observations.loc[first, "score"].equals(b.observations.loc[first, "score"])
    assert not a.observations["score"].equals(b.observations["score"])


def test_drift_recovered_over_seeds(runs):
    cors = [np.corrcoef(t["drift"], t["true"])[0, 1] for _, _, t in runs]
    assert min(cors) > 0.5, cors
    allt = pd.concat([t for _, _, t in runs])
    covered = (allt["conf_low"] <= allt["true"]) & (allt["true"] <= allt["conf_high"])
    # 95 % intervals over ~120 observers (benchmarks/sim_drift.py: 0.935 over 40 seeds)
    assert 0.82 <= covered.mean() <= 0.99, covered.mean()
    flagged = allt[allt["flagged"]]
    assert len(flagged) >= 5
    assert (np.sign(flagged["drift"]) == np.sign(flagged["true"])).mean() >= 0.9


def test_no_drift_flags_nobody():
    res = rater_drift(_drift_ds(202, sd=0.0))
    t = res.tidy()
    assert not t["flagged"].any()
    assert res.drift_sd < 0.02


def test_tidy_per_term_summary_plot(runs):
    ds, res, t = runs[0]
    assert list(t.columns[:10]) == ["observer_id", "observer_role", "n_forms", "n_terms",
                                    "first_term", "last_term", "drift", "se", "conf_low",
                                    "conf_high"]
    assert t["observer_id"].is_unique and t["observer_id"].is_monotonic_increasing
    assert set(t["observer_id"]) == set(ds.observations["observer_id"])
    assert "teacher_id" not in t.columns and "teacher_id" not in res.per_term().columns
    np.testing.assert_allclose(t["conf_high"] - t["drift"], 1.959963984540054 * t["se"])
    assert (t.loc[t["flagged"], "n_forms"] >= 5).all()
    pt = res.per_term()
    assert pt.groupby("observer_id")["n_forms"].sum().sort_index().tolist() == \
        t.set_index("observer_id")["n_forms"].sort_index().tolist()
    assert pt.loc[pt["n_forms"] < 5, "residual"].isna().all()
    assert "(1 + time_c || observer_id)" in res.formula
    text = res.summary()
    assert "Bedömardrift" in text or "bedömardrift" in text
    for oid in res.flagged()["observer_id"]:
        assert oid in text
    ax = res.plot()
    assert len(ax.get_yticklabels()) == len(t)
    plt.close("all")
    # tidy is a copy
    copy = res.tidy()
    copy.loc[0, "drift"] = 99
    assert res.tidy().loc[0, "drift"] != 99


def test_drift_formula_is_the_index_model_with_an_observer_trend(runs):
    from undervisning_analys.measure.index import teaching_quality

    ds, res, _ = runs[0]
    index_formula = teaching_quality(ds).formula["overall"]
    assert res.formula == index_formula.replace("(1 | observer_id)",
                                                "(1 + time_c || observer_id)")


def test_errors_name_what_is_missing():
    ds = synth.municipality(seed=5, n_schools=6, n_years=1, with_pupils=False,
                            compute_slope=False)
    with pytest.raises(ModelError, match="minst tre terminer"):
        rater_drift(ds)
    with pytest.raises(ModelError, match="Okänd dimension"):
        rater_drift(ds, dimension="nope")


# --------------------------------------------------------------------------
# Drift is an option of the one teaching-quality model (issue #17, item 1)
# --------------------------------------------------------------------------
def test_drift_is_an_option_of_the_teaching_quality_model(runs):
    import warnings

    from undervisning_analys.engine.mixed import fit_mixed
    from undervisning_analys.measure.drift import drift_formula
    from undervisning_analys.measure.model import (
        DRIFT_GROUP,
        specify_model,
        teaching_quality_model,
    )
    from undervisning_analys.measure.scoring import score_forms

    ds, res, t = runs[0]
    model = teaching_quality_model(ds, observer_drift=True)
    # fitted once per Dataset, beside the main model, and what rater_drift read
    assert model is teaching_quality_model(ds, "overall", observer_drift=True)
    main = teaching_quality_model(ds)
    assert model is not main and not main.observer_drift_fitted
    assert res.fit is model.fit and rater_drift(ds).fit is model.fit
    assert model.formula == res.formula == drift_formula(ds)
    # one specification: the drift spec is the index's with the observer term changed
    plain = specify_model(score_forms(ds), "overall")
    drift = specify_model(score_forms(ds), "overall", observer_drift=True)
    assert drift.fixed == plain.fixed
    assert [b.group for b in drift.blocks] == [b.group for b in plain.blocks]
    assert [b.group for b in drift.equation_blocks if b.group != DRIFT_GROUP] == \
        [b.group for b in plain.blocks]
    # the mixed-model equations with the two uncorrelated blocks reproduce the engine
    assert model.max_diff["fixef"] < 1e-6 and model.max_diff["ranef"] < 1e-6
    comp = model.components
    vc = model.fit.varcorr
    assert comp.observer == pytest.approx(float(vc.loc[(vc["group"] == "observer_id")
                                                       & (vc["term1"] == "(Intercept)"),
                                                       "var_cov"].iloc[0]))
    # the numbers are those of a direct engine fit of the same formula and frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = fit_mixed(drift_formula(ds), drift.frame, reml=True)
    modes = direct.conditional_modes(cond_var=True)
    slope = modes[(modes["group"] == "observer_id") & (modes["term"] == "time_c")]
    slope = slope.set_index("level").reindex(t["observer_id"])
    np.testing.assert_allclose(t["drift"], slope["estimate"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(t["se"], slope["std_error"], rtol=1e-6, atol=1e-8)
    od = model.observer_drift()
    assert od["observer_id"].tolist() == t["observer_id"].tolist()
    np.testing.assert_array_equal(od["drift"], t["drift"])
    assert model.drift_sd == res.drift_sd > 0
    # predict: leaving out the observer removes exactly severity + drift · time_c
    f = model.frame
    gap = model.predict() - model.predict(without=("observer_id",))
    o = od.set_index("observer_id")
    want = (f["observer_id"].map(o["severity"]) + f["observer_id"].map(o["drift"]) * f["time_c"])
    np.testing.assert_allclose(gap, want.to_numpy(), atol=1e-10)
    assert model.time_centre == pytest.approx((f["time"].min() + f["time"].max()) / 2)


def test_drift_option_errors(runs):
    from undervisning_analys.measure.model import teaching_quality_model

    ds, _, _ = runs[0]
    main = teaching_quality_model(ds)
    with pytest.raises(ModelError, match="utan bedömardrift"):
        main.observer_drift()
    with pytest.raises(ModelError, match="utan bedömardrift"):
        _ = main.drift_sd
    obs = ds.observations
    two = sorted(obs["observer_id"].unique())[:2]
    few = ds.replace(observations=obs[obs["observer_id"].isin(two)].reset_index(drop=True))
    with pytest.raises(ModelError, match="minst tre observatörer, men data har 2"):
        teaching_quality_model(few, observer_drift=True)
    with pytest.raises(ModelError, match="minst tre observatörer"):
        rater_drift(few)
