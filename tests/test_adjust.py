"""adjusted_results: observed vs expected from background, residual with its uncertainty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from undervisning_analys import schema, synth
from undervisning_analys.errors import ModelError
from undervisning_analys.models.adjust import (
    CONTRACT_COLUMNS,
    adjusted_results,
    school_background,
    school_results,
)

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-data"


@pytest.fixture(scope="module")
def ds():
    return synth.municipality(seed=5, n_schools=20, n_years=4, effect=0.3, compute_slope=False)


@pytest.fixture(scope="module")
def adj(ds):
    return adjusted_results(ds, "merit_17")


def _with_results(ds, fn):
    r = ds.results.copy()
    r = fn(r)
    return ds.replace(results=r)


def test_tidy_has_contract_columns_and_one_row_per_school_year(ds, adj):
    t = adj.tidy()
    assert list(t.columns[:len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    obs = school_results(ds.results, "merit_17")
    assert len(t) == len(obs)
    assert not t.duplicated(["school_id", "school_year"]).any()
    ok = t["residual"].notna()
    assert ok.all()  # the synthetic merit values are all published
    np.testing.assert_allclose(t.loc[ok, "residual"], t.loc[ok, "observed"] - t.loc[ok, "expected"])
    assert (t["se"] >= t["se_expected"]).all()
    assert ((t["conf_low"] < t["residual"]) & (t["residual"] < t["conf_high"])).all()
    assert (t["measure"] == "merit_17").all()


def test_tidy_is_a_copy(adj):
    t = adj.tidy()
    t.loc[0, "residual"] = 1e9
    assert adj.tidy().loc[0, "residual"] != 1e9


def test_coefficients_equal_statsmodels_wls(ds, adj):
    import statsmodels.formula.api as smf

    d = school_results(ds.results, "merit_17").merge(
        school_background(ds.background), on=["school_id", "school_year"])
    d = d[d["status"] == "ok"]
    fit = smf.wls("value ~ 0 + C(school_year) + share_parents_higher_edu + "
                  "share_foreign_background + share_boys", d, weights=d["n"]).fit()
    co = adj.coefficients().set_index("term")
    for name in ("share_parents_higher_edu", "share_foreign_background", "share_boys"):
        assert co.loc[name, "estimate"] == pytest.approx(fit.params[name], rel=1e-8)
        assert co.loc[name, "se"] == pytest.approx(fit.bse[name], rel=1e-8)
    # expected value of one row = its prediction; its se = the prediction's mean se
    pred = fit.get_prediction(d.iloc[:3]).summary_frame()
    t = adj.tidy().set_index(["school_id", "school_year"])
    keys = list(zip(d["school_id"].iloc[:3], d["school_year"].iloc[:3]))
    np.testing.assert_allclose(t.loc[keys, "expected"], pred["mean"], rtol=1e-10)
    np.testing.assert_allclose(t.loc[keys, "se_expected"], pred["mean_se"], rtol=1e-8)


def test_prediction_based_se_is_calibrated(adj):
    t = adj.tidy()
    z = (t["residual"] / t["se"]).dropna()
    # in-sample residuals over prediction SEs: sd a little below 1, never far above
    assert 0.7 < z.std() < 1.1
    assert (z.abs() > 1.96).mean() < 0.12


def test_suppressed_result_keeps_its_row_with_nan_residual(ds):
    target = ds.results[(ds.results["level"] == "school") & (ds.results["measure"] == "merit_17")
                        & (ds.results["group"] == "all")].index[3]

    def suppress(r):
        r.loc[target, ["value"]] = np.nan
        r["status"] = r["status"].astype(str)
        r.loc[target, "status"] = "suppressed"
        return r

    ds2 = _with_results(ds, suppress)
    t = adjusted_results(ds2, "merit_17").tidy()
    sid, sy = ds.results.loc[target, ["school_id", "school_year"]]
    row = t[(t["school_id"] == sid) & (t["school_year"] == sy)].iloc[0]
    assert row["status"] == "suppressed"
    assert np.isnan(row["observed"]) and np.isnan(row["residual"]) and np.isnan(row["se"])
    assert np.isfinite(row["expected"])  # the expectation is still shown
    assert "prickat" in row["note"]
    assert row["n"] == ds.results.loc[target, "n"]
    assert len(t) == len(adjusted_results(ds, "merit_17").tidy())


def test_approx_100_is_never_imputed(ds):
    t = adjusted_results(ds, "pass_all_subjects_pct").tidy()
    approx = t[t["status"] == "approx_100"]
    assert len(approx) > 0
    assert approx["residual"].isna().all() and approx["observed"].isna().all()
    assert approx["note"].str.contains("~100").all()


def test_missing_background_gives_nan_expected_with_note(ds):
    bg = ds.background.iloc[1:].copy()
    ds2 = ds.replace(background=bg)
    t = adjusted_results(ds2, "merit_17").tidy()
    sid, sy = ds.background.iloc[0][["school_id", "school_year"]]
    row = t[(t["school_id"] == sid) & (t["school_year"] == sy)].iloc[0]
    assert np.isnan(row["expected"]) and np.isnan(row["residual"])
    assert "bakgrund" in row["note"]


def test_newly_arrived_used_when_present(ds):
    assert "share_newly_arrived" not in adjusted_results(ds).reference_info["covariates"]
    bg = ds.background.copy()
    rng = np.random.default_rng(0)
    bg["share_newly_arrived"] = np.round(rng.uniform(0, 8, len(bg)), 1)
    info = adjusted_results(ds.replace(background=bg)).reference_info
    assert "share_newly_arrived" in info["covariates"]


def test_per_year_models_equal_separate_fits(ds):
    import statsmodels.formula.api as smf

    a = adjusted_results(ds, "merit_17", by_year=True)
    assert a.reference_info["by_year"] is True
    co = a.coefficients()
    assert set(co["model"]) == set(ds.results["school_year"])
    d = school_results(ds.results, "merit_17").merge(
        school_background(ds.background), on=["school_id", "school_year"])
    y = sorted(set(d["school_year"]))[1]
    dy = d[d["school_year"] == y]
    fit = smf.wls("value ~ share_parents_higher_edu + share_foreign_background + share_boys",
                  dy, weights=dy["n"]).fit()
    c = co[co["model"] == y].set_index("term")
    assert c.loc["share_parents_higher_edu", "estimate"] == pytest.approx(
        fit.params["share_parents_higher_edu"], rel=1e-8)


def test_auto_per_year_with_a_large_reference(ds):
    big = synth.municipality(seed=6, n_schools=35, n_years=4, effect=0.3, compute_slope=False)
    a = adjusted_results(ds, "merit_17", reference=big)
    assert a.reference_info["by_year"] is True
    assert a.reference_info["n_reference_schools"] == 35
    # the dataset's own schools are assessed, the reference only estimates the model
    assert set(a.tidy()["school_id"]) == set(ds.schools["school_id"])


def test_reference_as_tables_or_one_frame_agree(ds):
    other = synth.municipality(seed=7, n_schools=15, n_years=4, effect=0.3, compute_slope=False)
    a = adjusted_results(ds, "merit_17", reference=(other.results, other.background))
    frame = school_results(other.results, "merit_17").merge(
        school_background(other.background), on=["school_id", "school_year"])
    frame = frame.drop(columns="share_boys")  # derived from share_girls
    b = adjusted_results(ds, "merit_17", reference=frame)
    np.testing.assert_allclose(a.tidy()["expected"], b.tidy()["expected"], rtol=1e-12)
    assert a.reference_info["n_reference_schools"] == 15


def test_unweighted_when_asked(ds):
    a = adjusted_results(ds, "merit_17", weighted=False)
    assert a.reference_info["weighted"] is False
    assert not a.coefficients()["weighted"].any()


def test_unknown_measure_is_a_swedish_error(ds):
    with pytest.raises(ModelError, match="Okänt mått `meritvarde`"):
        adjusted_results(ds, "meritvarde")


def test_measure_without_results_is_a_swedish_error(ds):
    with pytest.raises(ModelError, match="inga resultat på skolnivå för måttet `attendance_pct`"):
        adjusted_results(ds, "attendance_pct")


def test_no_background_is_a_swedish_error(ds):
    ds2 = ds.replace(background=schema.empty("background"))
    with pytest.raises(ModelError, match="Ingen bakgrundsvariabel"):
        adjusted_results(ds2, "merit_17")


def test_too_few_reference_rows_is_a_swedish_error(ds):
    keep = ds.schools["school_id"].iloc[:2]
    r = ds.results[ds.results["school_id"].isin(keep) & (ds.results["school_year"] == "2020/21")]
    bg = ds.background[ds.background["school_id"].isin(keep)]
    with pytest.raises(ModelError, match="För få skolor i referensen"):
        adjusted_results(ds, "merit_17", reference=(r, bg))


def test_bad_reference_type_is_a_swedish_error(ds):
    with pytest.raises(ModelError, match="typ som inte stöds"):
        adjusted_results(ds, "merit_17", reference=42)


def test_summary_is_swedish_with_numbers(adj):
    s = str(adj.summary())
    assert "förväntat" in s and "95 %" in s and "elevsammansättning" in s
    assert "föräldrar med eftergymnasial utbildning" in s
    assert "," in s  # decimal comma
    assert "expected" not in s and "residual" not in s
    assert adj._repr_html_().startswith("<pre")


def test_plot_returns_axes(ds, adj):
    import matplotlib.pyplot as plt

    ax = adj.plot()
    assert ax.get_title().startswith("Resultat minus förväntat")
    ax2 = adj.plot(school_id=ds.schools["school_id"].iloc[0])
    assert ax2 is not None
    plt.close("all")


def test_on_the_sample(sample_ds):
    a = adjusted_results(sample_ds, "merit_17")
    t = a.tidy()
    # the 14 schools with grade 9 (the sample's F-6 schools have no meritvärde), 5 years
    r = sample_ds.results
    grade9 = r.loc[(r["level"].astype(str) == "school") & (r["measure"].astype(str) == "merit_17"),
                   "school_id"].nunique()
    assert grade9 == 14
    assert t["residual"].notna().sum() >= 0.9 * 5 * grade9
    assert a.reference_info["n_reference_schools"] == grade9


@pytest.mark.needs_shared
def test_on_real_skolverket_files():
    """Real files: school-unit composition 2022/23 (Skolverket's export) and the
    merit values of 20 school units (planned-educations API v4)."""
    if not REAL.is_dir():
        pytest.skip("../shared/real-data saknas")
    from undervisning_analys.dataset import Dataset
    from undervisning_analys.io import (
        read_skolverket,
        read_skolverket_api,
        read_skolverket_api_schools,
    )

    bg = read_skolverket(REAL / "skolverket-skolenhet"
                         / "Grundskolan - Antal elever per årskurs 2022 Skolenhet.csv")
    api = REAL / "skolverket-api-v4"
    res = read_skolverket_api(api)
    schools = read_skolverket_api_schools(api)
    ds = Dataset.build(schools=schools, observations=schema.empty("observations"),
                       results=res, background=bg)
    a = adjusted_results(ds, "merit_17")
    t = a.tidy()
    info = a.reference_info
    assert info["n_reference_schools"] >= 15  # the API schools in the 2022/23 composition file
    assert "share_newly_arrived" not in info["covariates"]  # not in Skolverket's file
    y = t[t["school_year"] == "2022/23"]
    assert y["residual"].notna().sum() == info["n_reference_rows"]
    # other years have no background here: kept, with a Swedish note, never imputed
    other = t[t["school_year"] != "2022/23"]
    assert other["expected"].isna().all()
    assert other["note"].str.contains("referensen saknar läsåret").all()
    sup = t[t["status"] != "ok"]
    assert sup["residual"].isna().all()
    # the API gives no pupil counts: unweighted, and the residuals sum to zero
    assert info["weighted"] is False
    assert abs(float(y["residual"].sum())) < 1e-8 * len(y) * float(y["observed"].mean())
    has = y["residual"].notna()
    assert (y.loc[has, "se"] > y.loc[has, "se_expected"]).all()
    assert y.loc[~has, "note"].str.len().gt(0).all()
    assert isinstance(str(a.summary()), str)


def test_school_results_prefers_the_all_principal_row():
    r = pd.DataFrame({
        "level": "school", "school_id": "12345678", "municipality_id": "0001",
        "school_year": "2022/23", "measure": "merit_17", "group": "all",
        "principal_type": ["kommunal", "all"], "value": [200.0, 210.0], "n": [30, 30],
        "status": "ok", "source": "x"})
    out = school_results(r, "merit_17")
    assert len(out) == 1 and out["value"].iloc[0] == 210.0
