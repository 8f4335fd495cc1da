"""link: within- and between-school association of teaching quality and results."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from undervisning_analys import synth
from undervisning_analys.engine.robust import cluster_vcov
from undervisning_analys.errors import ModelError
from undervisning_analys.models.link import link, yearly_index

CONTRACT = ["term", "estimate", "se", "conf_low", "conf_high", "p_value", "n_schools",
            "n_years", "reliability", "attenuation"]


@pytest.fixture(scope="module")
def ds():
    return synth.municipality(seed=21, n_schools=14, n_years=4, effect=0.3)


@pytest.fixture(scope="module")
def tq(ds):
    from undervisning_analys.measure.index import teaching_quality

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return teaching_quality(ds)


@pytest.fixture(scope="module")
def res(ds, tq):
    return link(ds, index=tq)


def oracle_index(ds) -> pd.DataFrame:
    q = ds.truth.school_quality.rename(columns={"quality": "estimate"}).copy()
    q["se"] = 0.0
    return q


def means_index(ds) -> pd.DataFrame:
    f = ds.instrument.score(ds.observations)
    les = f.groupby(["observation_id", "school_id", "term"], as_index=False)["overall"].mean()
    out = les.groupby(["school_id", "term"])["overall"].agg(["mean", "std", "count"])
    out = out.reset_index().rename(columns={"mean": "estimate"})
    out["se"] = out["std"] / np.sqrt(out["count"])
    return out


# --------------------------------------------------------------------------- #
# the estimates
# --------------------------------------------------------------------------- #
def test_tidy_has_the_contract_rows_and_columns(res, ds):
    t = res.tidy()
    assert set(CONTRACT) <= set(t.columns)
    assert list(t["term"]) == ["within", "between"]  # shrunken index: no correction row
    G = res.panel["school_id"].nunique()
    assert G >= 12  # the thin school's terms are suppressed below the privacy floors
    assert (t["n_schools"] == G).all()
    assert (t["n_years"] == 3).all()  # 4 results years, the first has no earlier index
    # Bell–McCaffrey degrees of freedom (the default): at most G - 1
    assert ((t["df"] > 1) & (t["df"] <= G - 1 + 1e-9)).all()
    assert ((t["conf_low"] < t["estimate"]) & (t["estimate"] < t["conf_high"])).all()
    assert (t["attenuation"] == 1.0).all()
    assert ((t["reliability"] > 0) & (t["reliability"] < 1)).all()
    assert t["n_obs"].iloc[0] + t["n_excluded"].iloc[0] == len(
        ds.results.query("level == 'school' and measure == 'merit_17' and group == 'all'"))


def test_tidy_is_a_copy(res):
    t = res.tidy()
    t.loc[0, "estimate"] = 1e9
    assert res.tidy().loc[0, "estimate"] != 1e9


def test_within_equals_two_way_fixed_effects(res):
    """The Mundlak within coefficient is the school + year fixed-effects estimate."""
    import statsmodels.formula.api as smf

    p = res.panel
    fe = smf.ols("y ~ x + C(school_id) + C(school_year)", p).fit()
    assert res.within["estimate"] == pytest.approx(fe.params["x"], rel=1e-8)


def test_within_equals_two_way_fe_in_an_unbalanced_panel(ds, tq):
    import statsmodels.formula.api as smf

    r = ds.results.copy()
    r["status"] = r["status"].astype(str)
    sel = r.query("level == 'school' and measure == 'merit_17' and group == 'all'").index
    drop = sel[[2, 7, 11, 20, 33]]
    r.loc[drop, "status"] = "suppressed"
    r.loc[drop, "value"] = np.nan
    res = link(ds.replace(results=r), index=tq)
    p = res.panel
    assert p.groupby("school_id").size().nunique() > 1  # unbalanced
    assert any(n.startswith("mean_year_") for n in res.info["model_terms"])
    fe = smf.ols("y ~ x + C(school_id) + C(school_year)", p).fit()
    assert res.within["estimate"] == pytest.approx(fe.params["x"], rel=1e-8)
    # the suppressed results are counted, with their reason, never silently dropped
    ex = res.exclusions.set_index("reason")["n"]
    key = [k for k in ex.index if "prickat" in k]
    assert key and ex[key[0]] >= 3
    assert res.n_excluded == int(res.tidy()["n_excluded"].iloc[0])
    assert "prickat" in str(res.summary())


def test_cr1_equals_statsmodels_cluster(res):
    import statsmodels.api as sm

    from undervisning_analys.models.link_estimate import design as _design

    p = res.panel
    X, names, _ = _design(p)
    fit = sm.OLS(p["y"].to_numpy(), X).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(p["school_id"])[0]})
    beta = fit.params
    V = cluster_vcov(X, p["y"].to_numpy() - X @ beta, p["school_id"].to_numpy(), "CR1")
    np.testing.assert_allclose(np.sqrt(np.diag(V)), fit.bse, rtol=1e-8)


def test_cr2_with_singleton_clusters_is_hc2():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(40), rng.normal(size=40), rng.normal(size=40)])
    y = X @ [1.0, 0.5, -0.2] + rng.normal(size=40) * (1 + np.abs(X[:, 1]))
    fit = sm.OLS(y, X).fit(cov_type="HC2")
    V = cluster_vcov(X, y - X @ fit.params, np.arange(40), "CR2")
    np.testing.assert_allclose(np.sqrt(np.diag(V)), fit.bse, rtol=1e-8)


def test_bell_mccaffrey_df():
    from undervisning_analys.engine.robust import bm_df

    # the mean of balanced clusters: exactly G - 1
    assert bm_df(np.ones((60, 1)), np.repeat(np.arange(20), 3), 0) == pytest.approx(19.0)
    # a slope that rests on one extreme observation has far fewer
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    x[5] = 12.0
    X = np.column_stack([np.ones(60), x])
    assert bm_df(X, np.repeat(np.arange(20), 3), 1) < 3
    x[5] = 0.0
    X = np.column_stack([np.ones(60), x])
    assert 10 < bm_df(X, np.repeat(np.arange(20), 3), 1) < 19


def test_g_minus_1_df_option(ds, tq, res):
    r = link(ds, index=tq, dof="G-1")
    t = r.tidy()
    G = res.panel["school_id"].nunique()
    assert (t["df"] == G - 1).all()
    assert (t["se"].to_numpy() == res.tidy()["se"].to_numpy()).all()
    # Bell–McCaffrey intervals are never narrower
    bm = res.tidy()
    assert (bm["conf_high"] - bm["conf_low"] >= t["conf_high"] - t["conf_low"] - 1e-9).all()
    with pytest.raises(ModelError, match="frihetsgrader"):
        link(ds, index=tq, dof="Satterthwaite")  # type: ignore[arg-type]


def test_cr1_uses_g_minus_1_df(ds, tq, res):
    r = link(ds, index=tq, vcov="CR1")
    G = res.panel["school_id"].nunique()
    assert (r.tidy()["df"] == G - 1).all()
    assert r.tidy()["inference"].iloc[0] == "cluster (CR1, G-1 df)"


def test_cr2_is_larger_than_the_plain_sandwich(res):
    p = res.panel
    from undervisning_analys.models.link_estimate import design as _design

    X, _, _ = _design(p)
    beta, *_ = np.linalg.lstsq(X, p["y"].to_numpy(), rcond=None)
    e = p["y"].to_numpy() - X @ beta
    g = p["school_id"].to_numpy()
    cr2 = cluster_vcov(X, e, g, "CR2")
    G = len(set(g))
    cr0 = cluster_vcov(X, e, g, "CR1") / (G / (G - 1) * (len(p) - 1) / (len(p) - X.shape[1]))
    assert cr2[1, 1] > cr0[1, 1]


def test_mixed_inference(ds, tq, res):
    m = link(ds, index=tq, inference="mixed")
    t = m.tidy().set_index("term")
    assert t.loc["within", "inference"] == "mixed"
    # same mean model: the within estimates agree closely
    assert t.loc["within", "estimate"] == pytest.approx(res.within["estimate"], abs=0.5 * max(
        res.within["se"], 1.0))
    assert t.loc["within", "df"] > t.loc["between", "df"]
    assert t.loc["within", "se"] > 0


def test_oracle_index_recovers_the_truth_without_error(ds):
    """With the true quality as the index there is no measurement error."""
    r = link(ds, index=oracle_index(ds), shrunken=False)
    t = r.tidy().query("correction == 'none'").set_index("term")
    c = r.tidy().query("correction == 'regression_calibration'").set_index("term")
    assert t.loc["within", "reliability"] == pytest.approx(1.0)
    for term in ("within", "between"):  # no error: the correction changes nothing
        assert c.loc[term, "estimate"] == pytest.approx(t.loc[term, "estimate"], rel=1e-10)
    assert t.loc["within", "attenuation"] == pytest.approx(1.0)


def test_unshrunken_index_reports_attenuation_and_a_corrected_estimate():
    ds = synth.municipality(seed=3)
    r = link(ds, index=means_index(ds), shrunken=False)
    full = r.tidy()
    assert list(zip(full["term"], full["correction"])) == [
        ("within", "none"), ("between", "none"), ("within", "regression_calibration"),
        ("between", "regression_calibration")]
    t = full.query("correction == 'none'").set_index("term")
    c = full.query("correction == 'regression_calibration'").set_index("term")
    lam = t.loc["within", "reliability"]
    assert 0 < lam < 1
    assert t.loc["within", "attenuation"] == pytest.approx(lam)
    # the corrected within estimate is the naive one divided by the within reliability
    assert c.loc["within", "estimate"] == pytest.approx(t.loc["within", "estimate"] / lam,
                                                        rel=1e-8)
    assert c.loc["within", "se"] > t.loc["within", "se"]
    assert (c["attenuation"] == 1.0).all() and (c["df"] == t["n_schools"] - 1).all()
    assert r.corrected("within")["estimate"] == c.loc["within", "estimate"]
    # correction="none" drops the corrected rows and leaves the naive ones as they are
    n = link(ds, index=means_index(ds), shrunken=False, correction="none").tidy()
    pd.testing.assert_frame_equal(n, full.iloc[:2])
    s = str(r.summary())
    assert "utspädda" in s and "Korrigerat för indexets kända mätfel" in s
    assert "mellan skolorna" in s.split("Korrigerat")[1]


def test_reliability_uses_the_joint_covariance(tq):
    yi = yearly_index(tq)
    assert yi.shrunken is True and yi.cov is not None
    keys = list(zip(yi.table.loc[yi.table["available"], "school_id"],
                    yi.table.loc[yi.table["available"], "school_year"]))[:3]
    S = yi.cov_of(keys)
    assert np.all(np.linalg.eigvalsh(S) > 0)
    assert S[0, 1] != 0  # errors of one school's years are correlated


def test_yearly_index_means_published_terms(tq):
    t = tq.tidy()
    t = t[(t["level"] == "school") & ~t["suppressed"]]
    yi = yearly_index(tq).table.set_index(["school_id", "school_year"])
    g = t.groupby(["unit", "school_year"])["estimate"].mean()
    for (sid, sy), v in list(g.items())[:10]:
        assert yi.loc[(sid, sy), "estimate"] == pytest.approx(v)


def test_lag_zero_and_two(ds, tq, res):
    r0 = link(ds, index=tq, lag=0)
    r2 = link(ds, index=tq, lag=2)
    assert r0.tidy()["n_years"].iloc[0] == 4
    assert r2.tidy()["n_years"].iloc[0] == 2
    assert r0.within["estimate"] != res.within["estimate"]
    assert "samma läsår" in str(r0.summary())


def test_adjusted_outcome(ds, tq):
    r = link(ds, index=tq, adjusted=True)
    t = r.tidy()
    assert t["adjusted"].all()
    assert "justerat för elevsammansättning" in str(r.summary())
    # the outcome is observed minus expected
    assert r.panel["y"].abs().mean() < 40


def test_school_changes(res):
    ch = res.school_changes()
    assert len(ch) == res.panel["school_id"].nunique()
    assert {"school_id", "quality_change", "quality_change_se", "results_change",
            "suppressed"} <= set(ch.columns)
    ok = ch[ch["quality_change"].notna()]
    assert (ok["quality_change_se"] > 0).all()
    np.testing.assert_allclose(ok["quality_change"], ok["quality_last"] - ok["quality_first"])
    np.testing.assert_allclose(ok["quality_change_per_year"], ok["quality_change"] / ok["span"])
    np.testing.assert_allclose(ok["results_change"], ok["results_last"] - ok["results_first"])


def test_plot(res):
    import matplotlib.pyplot as plt

    ax = res.plot()
    assert "undervisningskvalitet" in ax.get_xlabel().lower()
    ax = res.plot(kind="estimates")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Inom skolor", "Mellan skolor"]
    plt.close("all")


# --------------------------------------------------------------------------- #
# the sample, in Swedish
# --------------------------------------------------------------------------- #
def test_sample_summary_reads_as_swedish_with_numbers(sample_ds):
    import undervisning_analys as ua

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = ua.link(sample_ds)
    s = str(r.summary())
    t = r.tidy().set_index("term")
    for phrase in ("Inom skolorna", "Mellan skolorna", "95 %", "KI", "samband, inte",
                   "Mätfel", "reliabilitet", "skolor", "läsår", "meritvärde"):
        assert phrase.lower() in s.lower(), phrase
    assert f"{int(t.loc['within', 'n_schools'])} skolor" in s
    # the within estimate per 0.1 index points, with a decimal comma
    w = 0.1 * t.loc["within", "estimate"]
    shown = f"{abs(w):.1f}".replace(".", ",") + " poäng " + ("högre" if w >= 0 else "lägre")
    assert shown in s
    assert re.search(r"\d,\d", s)
    for english in ("within", "between", "estimate", "confidence", "association"):
        assert english not in s.lower()
    assert r._repr_html_().startswith("<pre")


# --------------------------------------------------------------------------- #
# errors (Swedish messages)
# --------------------------------------------------------------------------- #
def test_unknown_measure(ds, tq):
    with pytest.raises(ModelError, match="Okänt mått `meritvärde`"):
        link(ds, "meritvärde", index=tq)


def test_measure_without_results(ds, tq):
    with pytest.raises(ModelError, match="inga resultat på skolnivå"):
        link(ds, "attendance_pct", index=tq)


def test_unknown_inference_and_bad_lag(ds, tq):
    with pytest.raises(ModelError, match="Okänt val av inferens"):
        link(ds, index=tq, inference="bootstrap")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="Eftersläpningen"):
        link(ds, index=tq, lag=-1)


def test_too_few_schools(ds, tq):
    keep = list(ds.schools["school_id"].iloc[:3])
    r = ds.results[ds.results["school_id"].isin(keep) | ds.results["school_id"].isna()]
    with pytest.raises(ModelError, match=r"För få skolor .* 3 skolor .* minst 5"):
        link(ds.replace(results=r), index=tq)


def test_too_few_years(ds, tq):
    with pytest.raises(ModelError, match=r"För få läsår .* 1 läsår"):
        link(ds, index=tq, lag=3)


def test_unknown_correction(ds, tq):
    with pytest.raises(ModelError, match="Okänt val av mätfelskorrigering `simex`") as e:
        link(ds, index=tq, correction="simex")  # type: ignore[arg-type]
    assert "regression_calibration" in str(e.value)


def test_correcting_a_shrunken_index_is_refused(ds, tq):
    """A conditional mean is already calibrated: a second correction counts the error twice."""
    with pytest.raises(ModelError, match="krympta skattningar .* två gånger") as e:
        link(ds, index=tq, correction="regression_calibration")
    assert "shrunken=False" in str(e.value)


def test_a_shrunken_index_gets_no_corrected_rows_by_default(res):
    assert list(res.tidy()["correction"]) == ["none", "none"]
    assert res.corrected() is None and res.info["correction"] == "none"
    assert "behöver ingen ytterligare korrigering" in str(res.summary())


def test_index_without_columns(ds):
    with pytest.raises(ModelError, match="saknar kolumnen `se`"):
        link(ds, index=pd.DataFrame({"school_id": ["1"], "term": ["HT2020"], "estimate": [1.0]}))


# --------------------------------------------------------------------------- #
# the simulation (benchmarks/sim_link.py has the full 200-seed version)
# --------------------------------------------------------------------------- #
def _one(seed: int) -> tuple[float, float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = synth.municipality(seed=seed, effect=0.3, compute_slope=True)
        r = link(d)
    w = r.tidy().set_index("term").loc["within"]
    return d.truth.slope_per_point("merit_17"), w["estimate"], w["conf_low"], w["conf_high"]


def noisy_index(d, rel: float, rng: np.random.Generator) -> pd.DataFrame:
    """The true quality per school × term plus classical error of known variance, such
    that the within-school reliability of the yearly index is about ``rel``."""
    q = oracle_index(d)
    yearly = q.groupby(["school_id", "school_year"])["estimate"].mean()
    resid = yearly.unstack()
    resid = resid.sub(resid.mean(axis=1), axis=0)
    resid = resid.sub(resid.mean(axis=0), axis=1)
    sigma2 = float(np.nanmean(resid.to_numpy() ** 2)) * (1 - rel) / rel
    se = np.sqrt(2 * sigma2)                     # a year is the mean of two terms
    return q.assign(estimate=q["estimate"] + se * rng.standard_normal(len(q)), se=se)


def test_correction_recovers_the_truth_that_the_naive_estimate_misses():
    """A few seeds (benchmarks/sim_link_correction.py has the full run, effect 0.3).

    An index with classical error of known variance (within reliability about 0.5)
    attenuates the within association; the regression-calibrated estimate is unbiased
    within its Monte-Carlo error. The effect is large here (1.0) so that 8 seeds
    separate the two; the index is the true quality plus error, so the target is the
    latent slope ``truth.slope``.
    """
    rows = []
    rng = np.random.default_rng(17)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(8):
            d = synth.municipality(seed=500 + seed, effect=1.0, compute_slope=True)
            t = link(d, index=noisy_index(d, 0.5, rng), shrunken=False).tidy()
            w = t[t["term"] == "within"].set_index("correction")
            rows.append((d.truth.slope["merit_17"], w.loc["none", "estimate"],
                         w.loc["none", "reliability"],
                         w.loc["regression_calibration", "estimate"],
                         w.loc["regression_calibration", "conf_low"],
                         w.loc["regression_calibration", "conf_high"]))
    truth, naive, rel, rc, lo, hi = np.array(rows).T
    assert 0.3 < rel.mean() < 0.7                        # an unreliable index
    mc = lambda v: v.std(ddof=1) / np.sqrt(len(v))      # noqa: E731
    assert naive.mean() < truth.mean() - 3 * mc(naive)   # attenuated
    assert abs(rc.mean() - truth.mean()) < 3 * mc(rc)    # unbiased within its MC error
    assert np.mean((lo <= truth) & (truth <= hi)) >= 6 / 8


@pytest.mark.slow
def test_within_estimate_recovers_the_truth_over_seeds():
    """30 seeds (wider bands than the 200 of benchmarks/sim_link.py).

    The default index is on the instrument's score scale; the truth it estimates is the
    generator's exact change in results per score point, ``truth.slope_per_point``
    (``slope`` per unit of latent quality divided by ``score_scale`` ≈ 0.93).
    """
    rows = np.array([_one(1000 + s) for s in range(30)])
    truth, est, lo, hi = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    mc_se = est.std(ddof=1) / np.sqrt(len(est))
    assert abs(est.mean() - truth.mean()) < 3 * mc_se
    coverage = np.mean((lo <= truth) & (truth <= hi))
    assert 0.83 <= coverage <= 1.0


def test_bm_df_equals_the_dense_eigenvalue_formula():
    """The memory-light Bell–McCaffrey df equals eq. (10) of Imbens & Kolesár computed
    with the full hat matrix and the eigenvalues of G'G."""
    from undervisning_analys.engine.robust import bm_df
    from undervisning_analys.engine.robust import inv_sqrt_psd as _inv_sqrt_psd

    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(12), rng.integers(2, 6, size=12))
    n = len(groups)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    for k in (1, 2):
        xtx_inv = np.linalg.pinv(X.T @ X)
        ih = np.eye(n) - X @ xtx_inv @ X.T
        ek = np.zeros(3)
        ek[k] = 1.0
        cols = []
        for g in np.unique(groups):
            idx = np.flatnonzero(groups == g)
            a = _inv_sqrt_psd(ih[np.ix_(idx, idx)]) @ (X[idx] @ (xtx_inv @ ek))
            cols.append(ih[idx, :].T @ a)
        lam = np.linalg.eigvalsh(np.column_stack(cols).T @ np.column_stack(cols))
        dense = lam.sum() ** 2 / (lam ** 2).sum()
        assert bm_df(X, groups, k) == pytest.approx(dense, rel=1e-10)
