"""fit_mixed reads formulas as R does: model.matrix's columns and names, lme4's estimates.

Reference values come from ``tests/reference/formula_reference.R`` (R with lme4,
factor levels sorted in the C locale), which simulates the data set it fits
(``formula_data.csv``) and writes R's ``model.matrix`` column names and lme4's fits.
Regenerate with ``Rscript tests/reference/formula_reference.R``; the tests do not
need R.

Tolerances (DESIGN.md): REML criterion / deviance relative 1e-6, fixed effects
abs 1e-4, standard errors abs 1e-3, variance components (SDs and correlations)
abs 5e-3.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from undervisning_analys.engine.design import build_design, parse_formula
from undervisning_analys.errors import DataDroppedWarning, ModelError
from undervisning_analys.models import fit_mixed
from undervisning_analys.models.mixed import anova as ua_anova

REF = Path(__file__).parent / "reference"
TOL_CRIT_REL = 1e-6
TOL_FIXEF = 1e-4
TOL_SE = 1e-3
TOL_VC = 5e-3


def _data() -> pd.DataFrame:
    d = pd.read_csv(REF / "formula_data.csv")
    d["girl"] = d["girl"].astype(bool)
    return d


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"formula_{name}.csv")


FITS = _csv("fit")
LMM = [m for m, fam in zip(FITS["model"], FITS["family"]) if fam == "gaussian"]
OPTIONS = {"contrasts_sum": {"contrasts": {"f": "contr.sum"}}}


def _fit(model: str):
    row = FITS.set_index("model").loc[model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular fits are part of the references
        return fit_mixed(row["formula"], _data(), reml=bool(row["reml"]),
                         **OPTIONS.get(model, {}))


# --------------------------------------------------------------------------- #
# 1. R's design matrix: columns, names, order
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("formula, colnames", list(zip(*_csv("colnames").to_dict("list")
                                                         .values())))
def test_fixed_columns_are_those_of_r_model_matrix(formula, colnames):
    design = build_design(parse_formula(f"y {formula} + (1 | school)"), _data())
    assert design.fixed_names == colnames.split("|")


@pytest.mark.parametrize("formula", ["y ~ x + sex + f + girl + (1 + x | school)",
                                     "y ~ 0 + f + sex + x * z + (0 + x + z | school)",
                                     "y ~ x - 1 + (1 | school)"])
def test_plain_path_equals_formulaic(formula):
    # plain columns skip formulaic for speed; formulaic (with R's rules) gives the same
    d = _data()
    fast = build_design(parse_formula(formula), d)
    slow = build_design(parse_formula(formula), d, plain_path=False)
    assert fast.fixed.plan is not None and slow.fixed.plan is None
    pd.testing.assert_frame_equal(fast.fixed.values, slow.fixed.values)
    for a, b in zip(fast.blocks, slow.blocks):
        pd.testing.assert_frame_equal(a.matrix.values, b.matrix.values)


def test_factor_interaction_without_main_effect_gets_every_level():
    # R: y ~ sex:x -> sexF:x, sexM:x (one slope per sex, none forced to zero)
    res = _fit("int_no_main")
    assert list(res.fixef.index) == ["(Intercept)", "sexF:x", "sexM:x"]
    assert abs(res.fixef["sexF:x"]) > 0.1 and abs(res.fixef["sexM:x"]) > 0.1


@pytest.mark.parametrize("model", LMM)
def test_lmm_equals_lme4(model):
    res = _fit(model)
    ref = FITS.set_index("model").loc[model]
    assert res.reml_criterion == pytest.approx(ref["criterion"], rel=TOL_CRIT_REL)
    assert res.nobs == ref["nobs"]
    fx = _csv("fixef").query("model == @model")
    assert list(res.fixef.index) == list(fx["term"])  # R's names in R's order
    np.testing.assert_allclose(res.fixef, fx["estimate"], rtol=0, atol=TOL_FIXEF)
    np.testing.assert_allclose(res.se, fx["std_error"], rtol=0, atol=TOL_SE)
    ng = _csv("ngrps").query("model == @model")
    assert res.ngroups == dict(zip(ng["grp"], ng["n"]))
    if model == "double_bar_factor":
        return  # a ridge: see test_double_bar_with_factor_is_lme4s_expansion
    vc = _csv("varcorr").query("model == @model")
    ours = res.varcorr
    assert list(ours["group"]) == list(vc["grp"])  # lme4's groups in lme4's order
    assert list(ours["term1"].fillna("-")) == list(vc["var1"].fillna("-"))
    assert list(ours["term2"].fillna("-")) == list(vc["var2"].fillna("-"))
    np.testing.assert_allclose(ours["sd_cor"], vc["sdcor"], rtol=0, atol=TOL_VC)


def test_double_bar_with_factor_is_lme4s_expansion():
    # (sex || school) is (1 | school) + (0 + sex | school): the sex levels a correlated block
    res = _fit("double_bar_factor")
    vc = _csv("varcorr").query("model == 'double_bar_factor'")
    ours = res.varcorr
    assert list(ours["group"]) == list(vc["grp"])
    assert list(ours["term1"].fillna("-")) == list(vc["var1"].fillna("-"))
    assert list(ours["term2"].fillna("-")) == list(vc["var2"].fillna("-"))

    # the intercept and the block's common part are one quantity in two parameters;
    # the covariance of a school's girls and boys they imply is identified
    def implied(v: pd.DataFrame, group: str, t1: str, t2: str, col: str) -> np.ndarray:
        g = v[v[group] != "Residual"]
        var0 = float(g.loc[g[t1] == "(Intercept)", col].iloc[0])
        ff = float(g.loc[(g[t1] == "sexF") & g[t2].isna(), col].iloc[0])
        mm = float(g.loc[(g[t1] == "sexM") & g[t2].isna(), col].iloc[0])
        fm = float(g.loc[(g[t1] == "sexF") & (g[t2] == "sexM"), col].iloc[0])
        return np.array([var0 + ff, var0 + mm, var0 + fm])

    vc = vc.assign(var2=vc["var2"].where(vc["var2"].notna(), None))
    np.testing.assert_allclose(implied(ours, "group", "term1", "term2", "var_cov"),
                               implied(vc, "grp", "var1", "var2", "vcov"), atol=TOL_VC)


def test_nested_groups_are_named_as_lme4():
    res = _fit("nested")
    assert res.ngroups == {"school": 40, "class:school": 80}
    modes = res.conditional_modes(cond_var=False)
    assert modes.loc[modes["group"] == "class:school", "level"].iloc[0] in {
        f"K{k}:S{s:02d}" for k in (1, 2) for s in range(1, 41)}


def test_interaction_factor_without_main_effects_with_intercept_is_refused():
    # R's model.matrix gives an intercept plus every level combination of f:sex, a
    # rank-deficient matrix; the package refuses it naming the column lme4 drops
    with pytest.raises(ModelError, match=r"`fb:sexM` är en linjär kombination"):
        fit_mixed("y ~ f:sex + (1 | school)", _data())


def test_categorical_sets_levels_and_reference():
    d = _data()
    d["f"] = pd.Categorical(d["f"], categories=["b", "a", "C"])
    res = fit_mixed("y ~ 0 + f + x + (1 | school)", d)
    assert list(res.fixef.index) == ["fb", "fa", "fC", "x"]
    ref = _fit("zero_plus")  # the same model with R's (C-locale) order C, a, b
    assert res.reml_criterion == pytest.approx(ref.reml_criterion, rel=1e-9)
    np.testing.assert_allclose(res.fixef[["fC", "fa", "fb", "x"]], ref.fixef, atol=1e-8)
    treat = fit_mixed("y ~ f + x + (1 | school)", d)
    assert list(treat.fixef.index) == ["(Intercept)", "fa", "fC", "x"]  # reference b


def test_unsupported_contrast_is_refused_in_swedish():
    with pytest.raises(ModelError, match="Kontrasten 'contr.helmert' för `f` stöds inte"):
        fit_mixed("y ~ f + (1 | school)", _data(), contrasts={"f": "contr.helmert"})


# --------------------------------------------------------------------------- #
# prediction codes new data as the fit did
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("model", ["names_order", "transforms_a", "re_interaction",
                                   "contrasts_sum", "transforms_b"])
def test_predict_on_newdata_codes_as_the_fit(model):
    res = _fit(model)
    d = _data()
    fitted = res.predict()
    again = res.predict(newdata=d)
    np.testing.assert_allclose(again.to_numpy(), fitted.to_numpy(), rtol=0, atol=1e-8)
    part = d.iloc[::7]  # fewer rows: poly() and scale() keep the fit's centring
    np.testing.assert_allclose(res.predict(newdata=part).to_numpy(),
                               fitted.to_numpy()[::7], rtol=0, atol=1e-8)


def test_predict_newdata_without_a_column_names_it():
    res = _fit("names_order")
    with pytest.raises(ModelError, match="saknas: girl"):
        res.predict(newdata=_data().drop(columns="girl"))


# --------------------------------------------------------------------------- #
# 3. generalized models: glmer's estimates (Laplace)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("model", ["binomial", "poisson", "binomial_cbind"])
def test_glmm_equals_glmer(model):
    ref = FITS.set_index("model").loc[model]
    # cbind(passed, failed): successes and failures per school and sex, as glmer reads it
    data = _csv("counts") if model == "binomial_cbind" else _data()
    res = fit_mixed(ref["formula"], data, family=ref["family"])
    assert res.family == ref["family"] and not res.reml and res.formula == ref["formula"]
    assert res.nobs == ref["nobs"]
    # lme4: -2 logLik; AIC counts the fixed effects and theta (no residual variance)
    assert res.reml_criterion == pytest.approx(ref["criterion"], rel=TOL_CRIT_REL)
    assert res.aic == pytest.approx(ref["AIC"], rel=TOL_CRIT_REL)
    fx = _csv("fixef").query("model == @model")
    assert list(res.fixef.index) == list(fx["term"])
    np.testing.assert_allclose(res.fixef, fx["estimate"], rtol=0, atol=TOL_FIXEF)
    np.testing.assert_allclose(res.se, fx["std_error"], rtol=0, atol=TOL_SE)
    vc = _csv("varcorr").query("model == @model")
    assert list(res.varcorr["group"]) == list(vc["grp"])  # no Residual row, as lme4
    np.testing.assert_allclose(res.varcorr["sd_cor"], vc["sdcor"], rtol=0, atol=TOL_VC)
    text = str(res.summary())
    assert "Generaliserad linjär blandad modell" in text and "z-värde" in text


@pytest.mark.parametrize("family, options, pattern", [
    ("poisson", {}, r"cbind\(passed, failed\).*bara en binomial modell"),
    ("binomial", {"weights": "passed"}, "weights kan inte anges samtidigt"),
])
def test_cbind_outcome_errors(family, options, pattern):
    with pytest.raises(ModelError, match=pattern):
        fit_mixed("cbind(passed, failed) ~ sex + (1 | school)", _csv("counts"),
                  family=family, **options)


def test_glmm_predicts_on_link_and_response_scale():
    res = fit_mixed("pass ~ x + sex + (1 | school)", _data(), family="binomial")
    eta = res.predict()
    p = res.predict(type="response")
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-eta)), rtol=1e-10)
    assert p.between(0, 1).all()


def test_glmm_logical_outcome_equals_zero_one():
    d = _data()
    zero_one = fit_mixed("pass ~ x + (1 | school)", d, family="binomial")
    d["pass"] = d["pass"].astype(bool)
    logical = fit_mixed("pass ~ x + (1 | school)", d, family="binomial")
    np.testing.assert_allclose(logical.fixef, zero_one.fixef, rtol=0, atol=1e-10)


@pytest.mark.parametrize("family, pattern", [
    ("gamma", "Familjen 'gamma' stöds inte av fit_mixed.*lme4::glmer i R"),
    ("binomial(link = 'probit')", "stöds inte av fit_mixed.*probit"),
])
def test_unsupported_family_says_so_and_what_to_use(family, pattern):
    with pytest.raises(ModelError, match=pattern):
        fit_mixed("pass ~ x + (1 | school)", _data(), family=family)


def test_glmm_refuses_adaptive_quadrature_and_engine_options():
    with pytest.raises(ModelError, match="nAGQ stöds inte för family='binomial'"):
        fit_mixed("pass ~ x + (1 | school)", _data(), family="binomial", nAGQ=5)


@pytest.mark.parametrize("family, outcome, pattern", [
    ("binomial", "count", "mellan 0 och 1 för family='binomial'"),
    ("poisson", "y", r"ett antal \(heltal ≥ 0\) för family='poisson'"),
])
def test_glmm_outcome_checked(family, outcome, pattern):
    with pytest.raises(ModelError, match=pattern):
        fit_mixed(f"{outcome} ~ x + (1 | school)", _data(), family=family)


# --------------------------------------------------------------------------- #
# 4. results a researcher expects: varcorr.tidy(), anova
# --------------------------------------------------------------------------- #
def test_varcorr_is_a_table_with_tidy_and_summary():
    res = _fit("re_interaction")
    vc = res.varcorr
    assert isinstance(vc, pd.DataFrame)  # callers index it as before
    tidy = vc.tidy()
    assert type(tidy) is pd.DataFrame
    assert list(tidy.columns) == ["group", "term1", "term2", "var_cov", "sd_cor"]
    pd.testing.assert_frame_equal(tidy, pd.DataFrame(vc))
    assert type(vc[vc["group"] == "school"]) is pd.DataFrame
    text = str(vc.summary())
    assert "Varianskomponenter" in text and "x:sexF" in text and "0,2384" in text


def test_anova_refits_with_ml_and_equals_lme4():
    ref = _csv("anova")
    d = _data()
    m0 = fit_mixed("y ~ x + (1 | school)", d)
    m1 = fit_mixed("y ~ x + sex + f + (1 | school)", d)
    a = ua_anova(m1, m0)  # given in any order: sorted by parameters, as lme4
    t = a.tidy()
    assert a.refitted and list(t["formula"]) == [m0.formula, m1.formula]
    np.testing.assert_array_equal(t["npar"], ref["npar"])
    for ours, theirs in [("aic", "AIC"), ("bic", "BIC"), ("loglik", "logLik"),
                         ("deviance", "deviance")]:
        np.testing.assert_allclose(t[ours], ref[theirs], rtol=TOL_CRIT_REL)
    assert t["chisq"].iloc[1] == pytest.approx(ref["Chisq"].iloc[1], rel=1e-5)
    assert t["df"].iloc[1] == ref["Df"].iloc[1]
    assert t["p_value"].iloc[1] == pytest.approx(ref["p"].iloc[1], rel=1e-3)
    assert m0.reml and m1.reml  # the fits themselves are untouched
    assert "Likelihoodkvottest" in str(a.summary())
    import undervisning_analys as ua

    assert ua.anova is ua_anova  # the public name


def test_anova_refuses_models_on_different_rows():
    d = _data()
    m0 = fit_mixed("y ~ x + (1 | school)", d)
    d2 = d.assign(w=d["w"].where(d.index % 10 != 0))
    with pytest.warns(DataDroppedWarning):
        m1 = fit_mixed("y ~ x + w + (1 | school)", d2)
    with pytest.raises(ModelError, match="olika rader"):
        ua_anova(m0, m1)
    with pytest.raises(ModelError, match="minst två modeller"):
        ua_anova(m0)


@pytest.mark.parametrize("model", ["nested", "int_main", "ml", "corr_slope"])
def test_profile_intervals_equal_lme4(model):
    ci = _fit(model).confint_varcorr()
    ref = _csv("profile").query("model == @model")
    names = [("sigma" if g == "Residual" else f"sd_{t1}|{g}" if t2 is None
              else f"cor_{t2}.{t1}|{g}")
             for g, t1, t2 in zip(ci["group"], ci["term1"], ci["term2"])]
    assert sorted(names) == sorted(ref["parm"])
    merged = ref.set_index("parm").loc[names]
    np.testing.assert_allclose(ci["conf_low"], merged["lower"], rtol=0, atol=TOL_VC)
    np.testing.assert_allclose(ci["conf_high"], merged["upper"], rtol=0, atol=TOL_VC)
    assert (ci["conf_low"] <= ci["estimate"]).all() and (ci["estimate"] <= ci["conf_high"]).all()


def test_profile_intervals_refused_for_glmm():
    glmm = fit_mixed("pass ~ x + (1 | school)", _data(), family="binomial")
    with pytest.raises(ModelError, match="bara för linjära modeller"):
        glmm.confint_varcorr()


def test_transformed_response_undefined_is_refused():
    with pytest.raises(ModelError, match=r"Utfallet `log\(x\)` har \d+ oändliga"):
        fit_mixed("log(x) ~ z + (1 | school)", _data())


def test_transformed_response_equals_a_precomputed_column():
    d = _data()
    res = fit_mixed("log(z) ~ x + (1 | school)", d)
    pre = fit_mixed("lz ~ x + (1 | school)", d.assign(lz=np.log(d["z"])))
    assert res.reml_criterion == pytest.approx(pre.reml_criterion, rel=1e-12)
    np.testing.assert_allclose(res.fixef, pre.fixef, rtol=0, atol=1e-12)


def test_swedish_column_names_work_everywhere():
    d = _data()
    sv = d.rename(columns={"school": "skolenhet", "class": "klass", "x": "ålder",
                           "sex": "kön", "y": "poäng"})
    a = fit_mixed("poäng ~ ålder * kön + log(z) + (1 | skolenhet/klass)", sv)
    b = fit_mixed("y ~ x * sex + log(z) + (1 | school/class)", d)
    assert list(a.fixef.index) == ["(Intercept)", "ålder", "könM", "log(z)", "ålder:könM"]
    assert a.ngroups == {"skolenhet": 40, "klass:skolenhet": 80}
    assert a.reml_criterion == pytest.approx(b.reml_criterion, rel=1e-12)
    np.testing.assert_allclose(a.predict(newdata=sv.iloc[:5]), b.predict(newdata=d.iloc[:5]),
                               rtol=0, atol=1e-10)
