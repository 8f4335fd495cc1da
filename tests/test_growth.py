"""growth: teaching-quality trajectories, school trends and how much they differ."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from undervisning_analys import synth
from undervisning_analys.errors import ModelError
from undervisning_analys.models.growth import growth


@pytest.fixture(scope="module")
def ds():
    return synth.municipality(seed=8, n_schools=16, n_years=4, effect=0.3, with_pupils=False)


@pytest.fixture(scope="module")
def tq(ds):
    from undervisning_analys.measure.index import teaching_quality

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return teaching_quality(ds, by=["school", "municipality"])


@pytest.fixture(scope="module")
def g(ds, tq):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return growth(ds, index=tq)


def test_tidy_components(g, ds):
    t = g.tidy()
    assert set(t["component"]) == {"index", "school_trend", "municipality_trend", "trend_sd"}
    st = g.school_trends()
    assert len(st) == 16 and set(st["school_id"]) == set(ds.schools["school_id"])
    shown = st[~st["suppressed"]]
    assert ((shown["conf_low"] < shown["estimate"]) & (shown["estimate"] < shown["conf_high"])).all()
    assert g.trend_sd >= 0
    m = g.municipality_trend
    assert m["conf_low"] < m["estimate"] < m["conf_high"]
    traj = g.trajectories()
    assert set(traj["level"]) == {"school", "municipality"}
    assert len(traj[traj["level"] == "school"]) == 16 * 8  # schools × terms


def test_tidy_is_a_copy(g):
    t = g.tidy()
    t.loc[0, "estimate"] = 1e9
    assert g.tidy().loc[0, "estimate"] != 1e9


def test_municipality_trend_agrees_with_the_index_model(g, tq):
    """Same forms, same model as the index: the fixed time slope is the same."""
    fe = tq.fixed_effects().set_index("term")
    assert g.municipality_trend["estimate"] == pytest.approx(fe.loc["time", "estimate"], abs=2e-3)
    assert g.municipality_trend["se"] == pytest.approx(fe.loc["time", "se"], rel=0.05)
    sd = float(np.sqrt(tq.components().school_cov[1, 1]))
    assert g.trend_sd == pytest.approx(sd, abs=5e-3)


def test_school_trends_follow_the_true_trends(g, ds):
    st = g.school_trends().set_index("school_id")
    truth = ds.truth.school_params.set_index("school_id")["trend"]
    shown = st[~st["suppressed"]]
    r = np.corrcoef(shown["estimate"], truth.loc[shown.index])[0, 1]
    assert r > 0.5
    # the municipality's trend is near the schools' mean true trend (score scale ~ 0.9)
    m = g.municipality_trend
    assert abs(m["estimate"] - truth.mean()) < 3 * m["se"] + 0.02


def test_school_below_the_privacy_floor_is_suppressed(ds):
    o = ds.observations
    sid = ds.schools["school_id"].iloc[0]
    lessons = o.loc[o["school_id"] == sid, "observation_id"].drop_duplicates().iloc[:4]
    keep = (o["school_id"] != sid) | o["observation_id"].isin(lessons)
    thin = ds.replace(observations=o[keep])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = growth(thin, index=thin_index(thin))
    row = r.school_trends().set_index("school_id").loc[sid]
    assert bool(row["suppressed"]) and np.isnan(row["estimate"]) and row["n_obs"] == 4
    assert ".. (för få observationer)" in str(r.summary())


def thin_index(ds):
    """A minimal index table (the trajectories are not under test here)."""
    import pandas as pd

    f = ds.instrument.score(ds.observations)
    out = f.groupby(["school_id", "term"])["overall"].mean().reset_index()
    return pd.DataFrame({"level": "school", "unit": out["school_id"], "term": out["term"],
                         "estimate": out["overall"], "se": 0.1})


def test_dimension(ds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = growth(ds, "klassrumsledning", index=thin_index(ds))
    assert r.dimension == "klassrumsledning"
    assert "Klassrumsledning" in str(r.summary())


def test_unknown_dimension_is_a_swedish_error(ds):
    with pytest.raises(ModelError, match="Okänd dimension `ledarskap`"):
        growth(ds, "ledarskap")


def test_too_few_schools_is_a_swedish_error(ds):
    keep = ds.schools["school_id"].iloc[:2]
    o = ds.observations[ds.observations["school_id"].isin(keep)]
    with pytest.raises(ModelError, match="För få skolor för att jämföra trender"):
        growth(ds.replace(observations=o))


def test_summary_is_swedish(g):
    s = str(g.summary())
    for phrase in ("Kommunen", "per läsår", "95 % KI", "standardavvikelse", "Tydligt uppåt",
                   "konfidensintervall"):
        assert phrase in s
    assert "," in s and "trend_sd" not in s
    assert g._repr_html_().startswith("<pre")


def test_plot(g, ds):
    import matplotlib.pyplot as plt

    ax = g.plot()
    assert "läsår" in ax.get_xlabel()
    ax = g.plot(school_id=ds.schools["school_id"].iloc[1])
    assert ax.get_ylabel() == "Index"
    plt.close("all")


def test_on_the_sample(sample_ds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = growth(sample_ds)
    assert len(r.school_trends()) == 20
    assert np.isfinite(r.municipality_trend["estimate"])


def test_reuses_the_index_model_and_agrees_with_lme4_modes(g, tq):
    """Growth's model is the index's: passed an index, it is not fitted again; the trends
    are the fixed slope + the engine's conditional modes, and the joint SE is close to
    the conservative sqrt(se(time)^2 + condVar)."""
    fit = tq.model("overall").fit
    assert g.model is fit and g.info["trend_se"] == "index"
    cm = fit.conditional_modes(cond_var=True)
    sl = cm[(cm["group"] == "school_id") & (cm["term"] == "time")].set_index("level")
    b, b_se = float(fit.fixef["time"]), float(fit.se["time"])
    st = g.school_trends().set_index("school_id")
    shown = st[~st["suppressed"]]
    np.testing.assert_allclose(shown["estimate"], b + sl.loc[shown.index, "estimate"],
                               atol=1e-6)
    conservative = np.sqrt(b_se ** 2 + sl.loc[shown.index, "cond_var"].astype(float))
    ratio = shown["se"] / conservative
    assert ratio.between(0.75, 1.25).all()


def test_fits_the_same_model_without_an_index_result(ds, g):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = growth(ds, index=thin_index(ds))
    assert r.info["trend_se"] == "index"
    a = r.school_trends().set_index("school_id")
    b = g.school_trends().set_index("school_id")
    np.testing.assert_allclose(a["estimate"], b.loc[a.index, "estimate"], atol=1e-8)
    np.testing.assert_allclose(a["se"], b.loc[a.index, "se"], rtol=1e-8)


def test_few_schools_use_the_index_model_with_school_trends(ds):
    """With 4 schools the index's model has no random trend; growth asks for the same
    model with the trend kept, and its trends carry the joint SE."""
    from undervisning_analys.measure import teaching_quality_model

    keep = ds.schools["school_id"].iloc[:4]
    o = ds.observations[ds.observations["school_id"].isin(keep)]
    small = ds.replace(observations=o)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = growth(small, index=thin_index(small))
        index_model = teaching_quality_model(small)
    assert "(1 | school_id)" in index_model.formula
    assert r.info["trend_se"] == "index"
    assert r.info["formula"] == index_model.formula.replace("(1 | school_id)",
                                                            "(1 + time | school_id)")
    assert r.school_trends()["se"].notna().any()
