"""The teaching-quality index, scoring and coverage (issue 4, parts 1 and 4).

Known truth comes from ``synth.municipality``; the simulation over many seeds
(coverage of the intervals) is ``benchmarks/sim_index_coverage.py`` and the
slow test at the end runs a few of its seeds. Reference values for the index
and its standard error from an independent implementation of the mixed-model
equations in R (lme4's fit, ``getME``) are written by
``tests/reference/index_reference.R`` into ``tests/reference/index_*.csv``.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from undervisning_analys import schema, synth
from undervisning_analys.errors import ConvergenceWarning, ModelError, UAError
from undervisning_analys.measure import (
    TeachingQualityResult,
    coverage,
    infer_home_schools,
    observer_coverage,
    score_forms,
    teaching_quality,
)
from undervisning_analys.measure.index import TIDY_COLUMNS
from undervisning_analys.measure.model import fit_model

REFERENCE = Path(__file__).parent / "reference"
BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "sim_index_coverage.py"


def _quiet(func, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return func(*args, **kw)


@pytest.fixture(scope="module")
def ds():
    """The sample's size: 20 schools, 10 terms, about 2,500 forms (no pupils)."""
    return synth.municipality(seed=3, n_schools=20, n_years=5, with_pupils=False,
                              compute_slope=False)


@pytest.fixture(scope="module")
def tq(ds) -> TeachingQualityResult:
    return _quiet(teaching_quality, ds, by=["school", "area", "municipality"])


@pytest.fixture(scope="module")
def forms(ds):
    return score_forms(ds)


@pytest.fixture(scope="module")
def model(forms):
    return _quiet(fit_model, forms, "overall")


# --------------------------------------------------------------------------
# scoring and the own-school rule
# --------------------------------------------------------------------------
def test_score_forms_one_row_per_form(ds, forms):
    n_forms = ds.observations[["observation_id", "observer_id"]].drop_duplicates().shape[0]
    assert len(forms) == n_forms
    for col in ("overall", "klassrumsledning", "time", "school_term", "own_school",
                "home_school_id"):
        assert col in forms.columns
    assert forms["time"].min() == 0.0
    assert set(forms["time"]) == {i / 2 for i in range(10)}
    assert forms["overall"].between(1, 4).all()


def test_home_school_rule_matches_truth(ds):
    homes = infer_home_schools(ds.observations)
    truth = ds.truth.observer_severity.set_index("observer_id")["home_school_id"]
    h = homes.assign(true_home=homes["observer_id"].map(truth))
    # school staff: home inferred where the truth has one; external observers: never.
    # (The rector of the thinly observed school visits other schools more often than
    # their own, so the rule cannot find their home in every year.)
    staff = h[h["observer_role"].isin(["rektor", "bitradande_rektor", "forstelarare"])]
    assert (staff["home_school_id"] == staff["true_home"]).mean() > 0.95
    ext = h[h["observer_role"] == "extern"]
    assert ext["home_school_id"].isna().all()


def test_home_school_needs_majority():
    obs = pd.DataFrame({
        "observation_id": ["a", "b", "c", "d"], "observer_id": ["O1"] * 4,
        "school_id": ["11111111", "11111111", "22222222", "22222222"],
        "school_year": ["2023/24"] * 4, "observer_role": ["rektor"] * 4})
    assert infer_home_schools(obs)["home_school_id"].isna().all()
    obs.loc[3, "school_id"] = "11111111"
    assert infer_home_schools(obs)["home_school_id"].tolist() == ["11111111"]


def test_observer_role_is_the_most_common_and_a_tie_goes_to_the_first_met():
    obs = pd.DataFrame({
        "observation_id": list("abcde"), "observer_id": ["O1"] * 4 + ["O2"],
        "school_id": ["11111111"] * 5, "school_year": ["2023/24"] * 5,
        "observer_role": ["kollega", "rektor", "rektor", "kollega", "extern"]})
    got = infer_home_schools(obs).set_index("observer_id")["observer_role"]
    assert got.to_dict() == {"O1": "kollega", "O2": "extern"}
    obs.loc[3, "observer_role"] = "rektor"
    assert infer_home_schools(obs).set_index("observer_id").loc["O1", "observer_role"] == "rektor"


# --------------------------------------------------------------------------
# the model and the mixed-model equations
# --------------------------------------------------------------------------
def test_model_specification(model):
    assert model.formula == (
        "score ~ time + type_planerad + type_kollegial + own_school + (1 + time | school_id)"
        " + (1 | school_term) + (1 | teacher_id) + (1 | observer_id) + (1 | observation_id)")
    assert model.reference_type == "spontan"


def test_mme_reproduces_the_engine(model):
    """Our mixed-model equations give the engine's fixed effects, modes and vcov."""
    assert model.max_diff["fixef"] < 1e-6
    assert model.max_diff["ranef"] < 1e-6
    from undervisning_analys.engine.mme import MixedModelEquations

    m = MixedModelEquations(model.frame, model.fixed, model.blocks, model.fit.varcorr,
             float(model.fit.varcorr["var_cov"].iloc[-1]))
    p = m.p
    eye = np.eye(p)
    vcov = m.cov(m.to_u(eye, np.zeros((p, m.q))))
    engine = model.fit.vcov.loc[m.fixed_names, m.fixed_names].to_numpy()
    np.testing.assert_allclose(vcov, engine, rtol=1e-5, atol=1e-10)


def test_eliminating_the_lesson_block_is_exact(model):
    """The Schur-complement solver gives the full factorisation's solutions and cells' cov."""
    from scipy.sparse.linalg import splu

    from undervisning_analys.engine.mme import MixedModelEquations, SchurSolver

    m = MixedModelEquations(model.frame, model.fixed, model.blocks, model.fit.varcorr,
             float(model.fit.varcorr["var_cov"].iloc[-1]))
    assert len(m.lu.d) == model.frame["observation_id"].nunique()  # the lesson block
    full = SchurSolver(m.a, np.zeros(0, dtype=np.int64), splu)
    rng = np.random.default_rng(3)
    rhs = rng.standard_normal((m.p + m.q, 3))
    np.testing.assert_allclose(m.lu.solve(rhs), full.solve(rhs), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(m.lu.solve(rhs[:, 0]), full.solve(rhs[:, 0]),
                               rtol=1e-8, atol=1e-10)
    # combinations with and without weight on the eliminated rows
    from scipy import sparse

    rows = sparse.random(6, m.p + m.q, density=0.01, random_state=4, format="csr")
    cells = sparse.csr_matrix(rows @ sparse.diags(
        np.isin(np.arange(m.p + m.q), m.lu.d, invert=True).astype(float)))
    assert cells.nnz and cells[:, m.lu.d].nnz == 0 and rows[:, m.lu.d].nnz
    for lrows in (rows, cells):
        dense = lrows.toarray()
        expect = dense @ full.solve(dense.T)
        np.testing.assert_allclose(m.cov(lrows) / m.sigma2, expect, rtol=1e-8, atol=1e-12)


def test_nested_elimination_and_the_dense_factor_are_exact(model):
    """Lessons, then teachers (diagonal once the lessons are gone), are eliminated; the
    rest is factorised densely with the school columns last, and both the solutions and
    the covariance of combinations of fixed, school and school × term effects (the
    index's cells) equal those of one sparse factorisation of A."""
    from scipy import sparse
    from scipy.sparse.linalg import splu

    from undervisning_analys.engine.mme import MixedModelEquations, SchurSolver

    m = MixedModelEquations(model.frame, model.fixed, model.blocks, model.fit.varcorr,
                            float(model.fit.varcorr["var_cov"].iloc[-1]),
                            last=("school_id", "school_term"))
    assert len(m.lu.d) == model.frame["observation_id"].nunique()
    assert len(m.lu.inner.d) == model.frame["teacher_id"].nunique()
    assert m.lu.inner.inner.chol is not None  # the small remainder, densely
    full = SchurSolver(m.a, np.zeros(0, dtype=np.int64), splu, dense_max=0)
    assert full.inner.chol is None and full.inner.lu is not None
    rng = np.random.default_rng(5)
    rhs = rng.standard_normal((m.p + m.q, 2))
    np.testing.assert_allclose(m.lu.solve(rhs), full.solve(rhs), rtol=1e-8, atol=1e-10)
    wanted = np.zeros(m.p + m.q, dtype=bool)
    wanted[: m.p] = True
    for i, g in enumerate(m.index["group"]):
        wanted[m.p + i] = g in ("school_id", "school_term")
    rows = sparse.random(8, m.p + m.q, density=0.05, random_state=6, format="csr")
    rows = sparse.csr_matrix(rows @ sparse.diags(wanted.astype(float)))
    assert rows.nnz > 20
    quad = m.lu.quadratic(rows)
    assert quad is not None
    dense = rows.toarray()
    np.testing.assert_allclose(quad, dense @ full.solve(dense.T), rtol=1e-8, atol=1e-12)
    # a combination with a teacher column is not the dense path's: solved instead
    teacher = np.flatnonzero(m.index["group"].to_numpy() == "teacher_id")[0] + m.p
    assert m.lu.quadratic(sparse.csr_matrix(([1.0], ([0], [teacher])),
                                            shape=(1, m.p + m.q))) is None


def test_fixed_effects_recover_truth(tq, ds):
    fe = tq.fixed_effects().set_index("term")
    # on the score scale effects are slightly compressed by rounding and clipping
    assert fe.loc["own_school", "conf_low"] < ds.truth.leniency_own + 0.05
    assert fe.loc["own_school", "estimate"] == pytest.approx(ds.truth.leniency_own, abs=0.08)
    assert fe.loc["type_planerad", "estimate"] == pytest.approx(
        ds.truth.type_effects["planerad"], abs=0.07)
    assert set(fe.columns) == {"label", "estimate", "se", "conf_low", "conf_high"}


def test_kackar_harville_widens_slightly(model):
    ratio = model.cells["se"] / model.cells["se_plugin"]
    assert (ratio >= 1 - 1e-12).all()
    assert ratio.mean() < 1.1


# --------------------------------------------------------------------------
# the index against the truth
# --------------------------------------------------------------------------
def test_index_beats_raw_means(tq, ds, forms):
    t = tq.tidy()
    pub = t[(t["level"] == "school") & ~t["suppressed"]].rename(columns={"unit": "school_id"})
    raw = forms.groupby(["school_id", "term"])["overall"].mean().rename("raw").reset_index()
    d = pub.merge(ds.truth.school_quality, on=["school_id", "term"]).merge(
        raw, on=["school_id", "term"])
    r_index = np.corrcoef(d["estimate"], d["quality"])[0, 1]
    r_raw = np.corrcoef(d["raw"], d["quality"])[0, 1]
    assert r_index > r_raw + 0.05
    assert r_index > 0.9


def test_observer_severity_recovered(tq, ds):
    sev = tq.observer_severity()
    assert list(sev.columns) == ["observer_id", "observer_role", "home_school_id", "n_forms",
                                 "estimate", "se"]
    d = sev.merge(ds.truth.observer_severity[["observer_id", "severity"]], on="observer_id")
    assert len(d) == len(sev) == ds.observations["observer_id"].nunique()
    assert np.corrcoef(d["estimate"], d["severity"])[0, 1] > 0.8


# --------------------------------------------------------------------------
# the tidy contract, suppression, aggregation
# --------------------------------------------------------------------------
def test_tidy_contract(tq, ds):
    t = tq.tidy()
    assert list(t.columns[: len(TIDY_COLUMNS)]) == TIDY_COLUMNS
    assert set(t["level"]) == {"school", "area", "municipality"}
    assert set(t["dimension"]) == {"overall"}
    assert "teacher_id" not in t.columns
    school = t[t["level"] == "school"]
    assert len(school) == 20 * 10
    assert set(school["unit"]) == set(ds.schools["school_id"])
    assert set(t.loc[t["level"] == "area", "unit"]) == set(ds.schools["area"])
    assert set(t.loc[t["level"] == "municipality", "unit"]) == {"9990"}
    assert (t["school_year"] == t["term"].map(schema.term_school_year)).all()
    ok = t[~t["suppressed"]]
    np.testing.assert_allclose(ok["conf_high"] - ok["estimate"], 1.959963984540054 * ok["se"])
    assert ok["reliability"].between(0, 1).all()
    assert t["suppressed"].dtype == bool


def test_suppression(tq):
    t = tq.tidy()
    s = t[t["level"] == "school"]
    below = (s["n_teachers"] < 3) | (s["n_obs"] < 5)
    assert below.any(), "the synthetic data have a thin school"
    assert (s["suppressed"] == below).all()
    sup = s[s["suppressed"]]
    assert sup[["estimate", "se", "conf_low", "conf_high"]].isna().all().all()
    assert (sup["suppression_reason"].str.len() > 0).all()
    assert sup["suppression_reason"].str.contains("färre än|inga").all()
    assert (sup["n_obs"] >= 0).all() and (s.loc[~below, "suppression_reason"] == "").all()


def test_area_is_mean_of_published_schools(tq, ds):
    t = tq.tidy()
    area_of = dict(zip(ds.schools["school_id"], ds.schools["area"]))
    school = t[(t["level"] == "school") & ~t["suppressed"]].assign(
        area=lambda d: d["unit"].map(area_of))
    cov = tq.cov()
    for r in t[t["level"] == "area"].head(8).itertuples():
        g = school[(school["area"] == r.unit) & (school["term"] == r.term)]
        assert r.n_schools == len(g)
        assert r.estimate == pytest.approx(g["estimate"].mean(), abs=1e-12)
        keys = list(zip(g["unit"], g["term"]))
        c = cov.loc[keys, keys].to_numpy()
        assert r.se == pytest.approx(np.sqrt(c.sum()) / len(g), rel=1e-10)
        assert r.n_obs == g["n_obs"].sum()
    muni = t[t["level"] == "municipality"]
    assert (muni["se"] < t.loc[t["level"] == "area", "se"].min()).all()
    assert (muni["reliability"] > 0.9).all()


def test_cov_is_symmetric_and_matches_se(tq):
    cov = tq.cov()
    t = tq.tidy()
    pub = t[(t["level"] == "school") & ~t["suppressed"]].set_index(["unit", "term"])
    np.testing.assert_allclose(cov.to_numpy(), cov.to_numpy().T, atol=1e-14)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), pub.loc[cov.index, "se"], rtol=1e-12)
    assert np.linalg.eigvalsh(cov.to_numpy()).min() > 0


def test_result_is_not_mutated(tq):
    a = tq.tidy()
    a["estimate"] = 0.0
    assert not (tq.tidy()["estimate"] == 0.0).all()


def test_summary_and_plot(tq):
    import matplotlib.pyplot as plt

    text = str(tq.summary())
    assert "Undervisningskvalitet" in text and "observatör" in text
    assert "Prickade" in text and ".." in text
    assert "<pre" in tq._repr_html_()
    ax = tq.plot()
    assert ax.get_xlabel() == "Termin"
    assert "konfidensintervall" in ax.get_title()
    ax2 = tq.plot(level="municipality")
    assert len(ax2.lines) == 1
    plt.close("all")


def test_reliability_column_uses_the_formula(tq, forms):
    """Effective numbers: F² / Σ (forms per lesson, teacher, observer)², as documented."""
    from undervisning_analys.measure import reliability

    t = tq.tidy()
    comp = tq.components()
    for r in t[t["level"] == "school"].iloc[[0, 17, 55]].itertuples():
        g = forms[(forms["school_id"] == r.unit) & (forms["term"] == r.term)]
        f = len(g)

        def eff(col, g=g, f=f):
            return f ** 2 / (g.groupby(col).size() ** 2).sum()

        expected = reliability(eff("observation_id"), eff("teacher_id"), eff("observer_id"),
                               comp, n_forms=f, time=float(g["time"].iloc[0]))
        assert r.reliability == pytest.approx(expected, rel=1e-12)
        assert r.n_forms == f


def test_dimension_all_and_single(ds):
    small = synth.municipality(seed=11, n_schools=8, n_years=3, with_pupils=False,
                               compute_slope=False)
    res = _quiet(teaching_quality, small, dimension="all")
    t = res.tidy()
    dims = [d.id for d in small.instrument.dimensions]
    assert list(dict.fromkeys(t["dimension"])) == ["overall", *dims]
    one = _quiet(teaching_quality, small, dimension=dims[0])
    a = t[t["dimension"] == dims[0]].reset_index(drop=True)
    b = one.tidy()
    pd.testing.assert_frame_equal(a, b)


def test_one_school_and_one_term(ds):
    """Smaller data get a smaller model; one school has no between-school reliability."""
    sid = ds.observations["school_id"].value_counts().index[0]
    one = ds.replace(schools=ds.schools[ds.schools["school_id"] == sid],
                     observations=ds.observations[ds.observations["school_id"] == sid])
    res = _quiet(teaching_quality, one)
    assert "school_id" not in res.formula["overall"]
    t = res.tidy()
    assert t["estimate"].notna().all() and t["reliability"].isna().all()
    from undervisning_analys.measure import plan_observations

    with pytest.raises(ModelError, match="bara en skola"):
        _quiet(plan_observations, one)
    term = ds.replace(observations=ds.observations[ds.observations["term"] == "HT2022"])
    res = _quiet(teaching_quality, term, by=["school", "municipality"])
    assert "time" not in res.formula["overall"] and "school_term" not in res.formula["overall"]
    assert set(res.tidy()["term"]) == {"HT2022"}


# --------------------------------------------------------------------------
# error paths (Swedish messages)
# --------------------------------------------------------------------------
def test_no_observations(ds):
    empty = ds.replace(observations=ds.observations.iloc[:0])
    with pytest.raises(ModelError, match="saknar lektionsobservationer"):
        teaching_quality(empty)
    with pytest.raises(ModelError, match="saknar lektionsobservationer"):
        coverage(empty)


def test_unknown_dimension(ds):
    with pytest.raises(ModelError, match="Okänd dimension 'matematik'") as exc:
        teaching_quality(ds, dimension="matematik")
    assert "klassrumsledning" in str(exc.value)


def test_unknown_level(ds):
    with pytest.raises(ModelError, match="Okänd nivå 'klass'"):
        teaching_quality(ds, by="klass")


def test_no_areas(ds):
    no_area = ds.replace(schools=ds.schools.assign(area=None))
    with pytest.raises(UAError, match="saknar skolområden") as exc:
        teaching_quality(no_area, by="area")
    assert exc.value.column == "area"


# --------------------------------------------------------------------------
# coverage
# --------------------------------------------------------------------------
def test_coverage(ds, forms):
    cov = coverage(ds)
    assert len(cov) == 200
    for col in ("school_id", "term", "school_year", "n_obs", "n_forms", "n_teachers",
                "n_teachers_known", "share_teachers_observed", "n_spontan", "n_planerad",
                "n_kollegial", "n_observers", "roles", "share_own_school", "n_paired"):
        assert col in cov.columns
    assert cov["n_obs"].sum() == ds.observations["observation_id"].nunique()
    assert cov["n_forms"].sum() == len(forms)
    assert (cov[["n_spontan", "n_planerad", "n_kollegial"]].sum(axis=1) == cov["n_obs"]).all()
    assert cov["share_teachers_observed"].between(0, 1).all()
    assert (cov["n_teachers"] <= cov["n_teachers_known"]).all()
    assert cov["roles"].str.contains("rektor").any()


def test_observer_coverage(ds):
    oc = observer_coverage(ds)
    assert len(oc) == ds.observations["observer_id"].nunique()
    assert oc["n_forms"].sum() == len(ds.observations.drop_duplicates(
        ["observation_id", "observer_id"]))
    ext = oc[oc["observer_role"] == "extern"]
    assert (ext["share_own_school"] == 0).all() and (ext["n_schools"] > 5).all()
    rektor = oc[oc["observer_role"] == "rektor"]
    assert rektor["share_own_school"].median() > 0.7


# --------------------------------------------------------------------------
# reference values from R (an independent implementation of the equations)
# --------------------------------------------------------------------------
def test_index_matches_r_reference():
    """Index and plug-in SE against ``tests/reference/index_reference.R``.

    R fits the same model with lme4 on ``index_data.csv`` and solves the
    mixed-model equations from ``getME(fit, c("X", "Z", "Lambda"))``; the
    tolerance covers the difference between the engines' optima.
    """
    data = pd.read_csv(REFERENCE / "index_data.csv", dtype={"school_id": str})
    ref = pd.read_csv(REFERENCE / "index_reference.csv", dtype={"school_id": str})
    data.attrs["first_term"] = "HT2020"
    m = _quiet(fit_model, data, "overall", kackar_harville=False)
    got = m.cells.merge(ref, on=["school_id", "term"], suffixes=("", "_r"))
    assert len(got) == len(ref)
    np.testing.assert_allclose(got["estimate"], got["estimate_r"], atol=1e-5)
    np.testing.assert_allclose(got["se_plugin"], got["se_r"], rtol=1e-4)
    assert m.fit.reml_criterion == pytest.approx(732.726906546, rel=1e-6)  # printed by R


# --------------------------------------------------------------------------
# the simulation (slow): coverage of the intervals across seeds
# --------------------------------------------------------------------------
def _bench():
    spec = importlib.util.spec_from_file_location("sim_index_coverage", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_interval_coverage_over_seeds():
    bench = _bench()
    res = pd.DataFrame([bench.evaluate_seed(s) for s in range(201, 209)])
    cover = res["covered"].sum() / res["n_cells"].sum()
    assert 0.90 <= cover <= 0.985, cover
    assert (res["r_index"] > res["r_raw"]).all()
    assert res["r_observer"].mean() > 0.8


def test_dimension_models_from_a_warm_start_reach_the_same_optimum(ds, forms):
    """The other dimensions start from the first model's θ: same REML optimum as the
    engine's default start (the criterion to 1e-8 relative, the estimates to 1e-4)."""
    from undervisning_analys.measure.model import specify_model
    from undervisning_analys.models.mixed import fit_mixed

    dims = ["overall", ds.instrument.dimensions[0].id]
    first = _quiet(fit_model, forms, dims[0])
    second = _quiet(fit_model, forms, dims[1], start=first)
    models = {dims[0]: first, dims[1]: second}
    assert second.diagnostics["warm_start"]
    warm = models[dims[1]].fit
    spec = specify_model(forms, dims[1])
    cold = _quiet(fit_mixed, spec.formula, spec.frame, reml=True)
    assert warm.reml_criterion == pytest.approx(cold.reml_criterion, rel=1e-8)
    np.testing.assert_allclose(warm.fixef, cold.fixef, atol=1e-4)
    np.testing.assert_allclose(warm.varcorr["var_cov"], cold.varcorr["var_cov"], atol=5e-4)
    assert not np.allclose(warm.theta, models["overall"].fit.theta)  # its own optimum
