"""fit_mixed / MixedResult: estimates equal lme4's, error paths speak Swedish.

Reference values come from ``tests/reference/lme4_reference.R`` (R 4.2.2,
lme4 1.1-31), which also simulates the data sets it fits and writes
everything to ``tests/reference/lme4_*.csv``. Regenerate with
``Rscript tests/reference/lme4_reference.R``; CI does not need R.

Tolerances (DESIGN.md, statistical approach): REML criterion / deviance
relative 1e-6, fixed effects abs 1e-4, standard errors abs 1e-3, variance
components (SDs and correlations) abs 5e-3.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from undervisning_analys.errors import (
    ConvergenceWarning,
    DataDroppedWarning,
    ModelError,
    UAWarning,
)
from undervisning_analys.models import MixedResult, fit_mixed

matplotlib.use("Agg")

REF = Path(__file__).parent / "reference"

# model name in the reference CSVs -> (data set, formula, reml)
MODELS = {
    "growth": ("growth",
               "score ~ time + (1 + time | school) + (1 + time | school:teacher)", True),
    "crosslevel": ("crosslevel", "y ~ x * z_school + (1 + x | school)", True),
    "crossed": ("crossed",
                "score ~ time + type + (1 | teacher) + (1 | observer) + (1 + time | school)",
                True),
    "crosslevel_ml": ("crosslevel", "y ~ x * z_school + (1 + x | school)", False),
    "crosslevel_uncorr": ("crosslevel", "y ~ x * z_school + (1 + x || school)", True),
}

TOL_CRIT_REL = 1e-6
TOL_FIXEF = 1e-4
TOL_SE = 1e-3
TOL_VC = 5e-3
TOL_RANEF = 5e-3  # conditional modes and their SDs: not in DESIGN.md; same as VC


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"lme4_data_{name}.csv", dtype={"school": str})


def _ref(kind: str, model: str) -> pd.DataFrame:
    df = pd.read_csv(REF / f"lme4_{kind}.csv", keep_default_na=True)
    return df[df["model"] == model].reset_index(drop=True)


_FITS: dict[str, MixedResult] = {}


def _fit(model: str) -> MixedResult:
    if model not in _FITS:
        data_name, formula, reml = MODELS[model]
        _FITS[model] = fit_mixed(formula, _data(data_name), reml=reml)
    return _FITS[model]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# --------------------------------------------------------------------------- #
# reference values from lme4
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("model", list(MODELS))
def test_criterion_matches_lme4(model):
    res = _fit(model)
    ref = _ref("fit", model).iloc[0]
    assert res.nobs == ref["nobs"]
    assert res.reml == bool(ref["reml"])
    if res.reml:
        assert res.reml_criterion == pytest.approx(ref["REMLcrit"], rel=TOL_CRIT_REL)
        assert res.deviance == pytest.approx(ref["REMLcrit"], rel=TOL_CRIT_REL)
    else:  # ML: the criterion is the deviance
        assert res.reml_criterion == pytest.approx(ref["deviance"], rel=TOL_CRIT_REL)
    assert res.loglik == pytest.approx(ref["logLik"], rel=TOL_CRIT_REL)
    assert res.sigma == pytest.approx(ref["sigma"], abs=TOL_VC)
    assert res.converged
    assert not res.singular


@pytest.mark.parametrize("model", list(MODELS))
def test_fixed_effects_and_se_match_lme4(model):
    res = _fit(model)
    ref = _ref("fixef", model).set_index("term")
    assert list(res.fixef.index) == list(ref.index)  # R's names, e.g. typeplanerad
    np.testing.assert_allclose(res.fixef.to_numpy(), ref["estimate"].to_numpy(),
                               rtol=0, atol=TOL_FIXEF)
    np.testing.assert_allclose(res.se.to_numpy(), ref["std_error"].to_numpy(),
                               rtol=0, atol=TOL_SE)


@pytest.mark.parametrize("model", list(MODELS))
def test_variance_components_match_lme4(model):
    res = _fit(model)
    ref = _ref("varcorr", model)
    key = ["group", "term1", "term2"]
    ref = ref.rename(columns={"grp": "group", "var1": "term1", "var2": "term2"})
    ref[["term1", "term2"]] = ref[["term1", "term2"]].fillna("")
    ours = res.varcorr
    ours[["term1", "term2"]] = ours[["term1", "term2"]].fillna("")
    merged = ref.merge(ours, on=key, how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    np.testing.assert_allclose(merged["sd_cor"], merged["sdcor"], rtol=0, atol=TOL_VC)


@pytest.mark.parametrize("model", ["growth", "crossed", "crosslevel_uncorr"])
def test_conditional_modes_match_lme4(model):
    res = _fit(model)
    ref = _ref("ranef", model).rename(
        columns={"grpvar": "group", "grp": "level", "condval": "ref_est",
                 "condsd": "ref_sd"})
    ours = res.conditional_modes()
    assert list(ours.columns) == ["group", "level", "term", "estimate", "cond_var",
                                  "std_error"]
    merged = ref.merge(ours, on=["group", "level", "term"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    np.testing.assert_allclose(merged["estimate"], merged["ref_est"], rtol=0, atol=TOL_RANEF)
    np.testing.assert_allclose(merged["std_error"], merged["ref_sd"], rtol=0, atol=TOL_RANEF)
    np.testing.assert_allclose(merged["std_error"] ** 2, merged["cond_var"], rtol=1e-12)


def test_nested_slash_syntax_equals_explicit_interaction():
    explicit = _fit("growth")
    nested = fit_mixed("score ~ time + (1 + time | school/teacher)", _data("growth"))
    assert nested.reml_criterion == pytest.approx(explicit.reml_criterion, rel=1e-8)
    np.testing.assert_allclose(nested.fixef, explicit.fixef, atol=1e-8)
    # lme4 names the nested factor innermost first (lme4: ngrps gives teacher:school 120,
    # and ranef levels "T1:S01")
    assert nested.ngroups == {"school": 30, "teacher:school": 120}
    levels = nested.conditional_modes(cond_var=False)
    assert levels.loc[levels["group"] == "teacher:school", "level"].iloc[0].startswith("T")


def test_uncorrelated_terms_are_separate_groups_without_correlation():
    vc = _fit("crosslevel_uncorr").varcorr
    assert list(vc["group"]) == ["school", "school.1", "Residual"]
    assert vc["term2"].isna().all()


# --------------------------------------------------------------------------- #
# the results object
# --------------------------------------------------------------------------- #
def test_tidy_is_the_single_source():
    res = _fit("crossed")
    t = res.tidy()
    assert list(t.columns) == ["effect", "group", "term", "estimate", "std_error",
                               "statistic", "conf_low", "conf_high"]
    fixed = t[t["effect"] == "fixed"].set_index("term")
    pd.testing.assert_series_equal(fixed["estimate"], res.fixef, check_names=False)
    pd.testing.assert_series_equal(fixed["std_error"], res.se, check_names=False)
    np.testing.assert_allclose(res.se, np.sqrt(np.diag(res.vcov)), rtol=1e-12)
    assert list(res.vcov.index) == list(res.fixef.index)
    np.testing.assert_allclose(fixed["statistic"], fixed["estimate"] / fixed["std_error"])
    np.testing.assert_allclose(fixed["conf_low"], fixed["estimate"] - 1.959964 * res.se,
                               atol=1e-6)
    np.testing.assert_allclose(fixed["conf_high"], fixed["estimate"] + 1.959964 * res.se,
                               atol=1e-6)
    ran = t[t["effect"] == "ran_pars"]
    np.testing.assert_allclose(ran["estimate"].to_numpy(), res.varcorr["sd_cor"].to_numpy())
    assert "sd__Observation" in set(ran["term"])
    assert "cor__(Intercept).time" in set(ran["term"])
    assert ran["std_error"].isna().all()


def test_result_is_not_mutated_by_callers():
    res = _fit("crosslevel")
    before = res.fixef.copy()
    t = res.tidy()
    t.loc[:, "estimate"] = 0.0
    vc, vcov, modes = res.varcorr, res.vcov, res.conditional_modes()
    vc.loc[:, "sd_cor"] = 0.0
    vcov.iloc[0, 0] = 0.0
    modes.loc[:, "estimate"] = 0.0
    pd.testing.assert_series_equal(res.fixef, before)
    assert (res.varcorr["sd_cor"] > 0).all()
    assert res.vcov.iloc[0, 0] > 0
    with pytest.raises(AttributeError):
        res.fixef = before  # read-only


def test_attributes():
    res = _fit("crossed")
    assert res.formula == MODELS["crossed"][1]
    assert res.ngroups == {"teacher": 100, "observer": 30, "school": 20}
    assert res.n_dropped == 0
    assert isinstance(res.optimizer, str) and res.optimizer
    assert isinstance(res.optimizer_message, str)
    assert res.warnings == ()
    assert res.aic == pytest.approx(res.deviance + 2 * (4 + 5 + 1))
    ranef = res.ranef
    assert set(ranef) == {"teacher", "observer", "school"}
    assert list(ranef["school"].columns) == ["(Intercept)", "time"]
    assert ranef["school"].shape == (20, 2)


def test_summary_is_swedish_and_explains():
    res = _fit("crossed")
    text = str(res.summary())
    for word in ("Linjär blandad modell", "REML-kriterium", "Fasta effekter",
                 "Varianskomponenter", "medelfel", "genomsnittliga", "Residual",
                 "typeplanerad", "1\u202f794,99"):  # _format.number: decimal comma, thin space
        assert word in text
    html = res._repr_html_()
    assert "<pre" in html and "Fasta effekter" in html
    ml = str(_fit("crosslevel_ml").summary())
    assert "maximum likelihood" in ml and "Devians" in ml


def test_plot_returns_axes_with_swedish_labels():
    import matplotlib.pyplot as plt

    res = _fit("crossed")
    ax = res.plot()
    assert ax.get_xlabel() == "Skattning med 95 % konfidensintervall"
    assert ax.get_title() == "Fasta effekter"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["time", "typeplanerad",
                                                            "typespontan"]
    _, ax2 = plt.subplots()
    assert res.plot(ax=ax2, intercept=True) is ax2
    assert len(ax2.get_yticklabels()) == 4


def test_predict():
    res = _fit("crosslevel")
    data = _data("crosslevel")
    fitted = res.predict()
    assert len(fitted) == res.nobs
    pd.testing.assert_series_equal(res.predict(newdata=data), fitted)
    fe = res.fixef
    manual = (fe["(Intercept)"] + fe["x"] * data["x"] + fe["z_school"] * data["z_school"]
              + fe["x:z_school"] * data["x"] * data["z_school"])
    np.testing.assert_allclose(res.predict(data, re_form="~0"), manual, atol=1e-10)
    # a school's prediction adds its conditional modes
    re_s01 = res.ranef["school"].loc["S01"]
    row = data[data["school"] == "S01"].iloc[[0]]
    expected = manual.loc[row.index] + re_s01["(Intercept)"] + re_s01["x"] * row["x"]
    np.testing.assert_allclose(res.predict(row), expected, atol=1e-10)


# --------------------------------------------------------------------------- #
# warnings and errors
# --------------------------------------------------------------------------- #
def _small(seed: int = 1, n_groups: int = 12, n_per: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat([f"S{i:02d}" for i in range(n_groups)], n_per)
    x = rng.normal(size=g.size)
    u = rng.normal(scale=0.7, size=n_groups)
    y = 1 + 0.5 * x + np.repeat(u, n_per) + rng.normal(size=g.size)
    return pd.DataFrame({"school": g, "x": x, "y": y})


def test_missing_values_are_dropped_counted_and_warned():
    d = _small()
    d.loc[[3, 17], "y"] = np.nan
    d.loc[[17, 40, 41], "x"] = np.nan
    d.loc[55, "school"] = None
    d["unused"] = np.nan  # not in the formula: never a reason to drop
    with pytest.warns(DataDroppedWarning, match=r"5 av 120 rader har saknade värden"):
        res = fit_mixed("y ~ x + (1 | school)", d)
    assert res.n_dropped == 5
    assert res.nobs == 115
    assert res.n_dropped_by_column == {"y": 2, "x": 3, "school": 1}
    assert "Uteslutna rader med saknade värden: 5" in str(res.summary())
    clean = fit_mixed("y ~ x + (1 | school)", d.dropna(subset=["y", "x", "school"]))
    assert res.reml_criterion == pytest.approx(clean.reml_criterion, rel=1e-10)
    assert list(res.predict().index) == list(d.dropna(subset=["y", "x", "school"]).index)


def test_missing_column_names_the_column():
    with pytest.raises(ModelError, match=r"Variabeln `z` i formeln finns inte som kolumn") as e:
        fit_mixed("y ~ x + z + (1 | school)", _small())
    assert e.value.column == "z"
    assert "kolumn `z`" in str(e.value)
    with pytest.raises(ModelError, match=r"`skola`") as e:
        fit_mixed("y ~ x + (1 | skola)", _small())
    assert e.value.column == "skola"


def test_grouping_factor_with_one_level():
    d = _small()
    d["municipality"] = "0180"
    with pytest.raises(ModelError, match=r"Grupperingsfaktorn `municipality` har bara en nivå"
                       ) as e:
        fit_mixed("y ~ x + (1 | municipality)", d)
    assert e.value.column == "municipality"


def test_grouping_factor_with_one_level_after_dropping_missing():
    d = _small()
    d.loc[d["school"] != "S00", "y"] = np.nan
    with pytest.warns(DataDroppedWarning), pytest.raises(ModelError, match="bara en nivå"):
        fit_mixed("y ~ x + (1 | school)", d)


def test_grouping_factor_with_a_level_per_row():
    d = _small()
    d["row"] = np.arange(len(d)).astype(str)
    with pytest.raises(ModelError, match=r"`row` har lika många nivåer"):
        fit_mixed("y ~ x + (1 | row)", d)


def test_non_numeric_response():
    d = _small()
    d["y"] = d["y"].map(lambda v: f"{v:.2f}".replace(".", ","))
    with pytest.raises(ModelError, match=r"Utfallsvariabeln `y` måste vara numerisk") as e:
        fit_mixed("y ~ x + (1 | school)", d)
    assert e.value.column == "y"


def test_infinite_values():
    d = _small()
    d.loc[7, "x"] = np.inf
    with pytest.raises(ModelError, match=r"`x` innehåller 1 oändliga värden"):
        fit_mixed("y ~ x + (1 | school)", d)


def test_all_rows_missing():
    d = _small()
    d["y"] = np.nan
    with pytest.warns(DataDroppedWarning), pytest.raises(ModelError, match="Inga rader"):
        fit_mixed("y ~ x + (1 | school)", d)


@pytest.mark.parametrize("formula, pattern", [
    ("y ~ x", "saknar slumpeffekter"),
    ("y ~ x + (1 | school", "kunde inte tolkas"),
    ("y ~ okand(x) + (1 | school)", "`okand` finns inte"),
    ("y ~ log(x) + (1 | school)", r"`log\(x\)` innehåller .* odefinierade"),
    ("y ~ x + (1 | school) + (x | )", "kunde inte tolkas"),
    ("", "textsträng"),
])
def test_bad_formula(formula, pattern):
    with pytest.raises(ModelError, match=pattern):
        fit_mixed(formula, _small())


def test_bad_arguments():
    with pytest.raises(ModelError, match="pandas DataFrame"):
        fit_mixed("y ~ x + (1 | school)", _small().to_dict())
    with pytest.raises(ModelError, match=r"Okänt alternativ till fit_mixed: optimiser"):
        fit_mixed("y ~ x + (1 | school)", _small(), optimiser="COBYQA")
    with pytest.raises(ModelError, match="re_form"):
        _fit("crosslevel").predict(re_form="~(1 | school)")
    with pytest.raises(ModelError, match="newdata"):
        _fit("crosslevel").predict(newdata=_data("crosslevel").drop(columns="x"))


def test_engine_options_reach_the_engine():
    d = _small()
    default = fit_mixed("y ~ x + (1 | school)", d)
    cobyqa = fit_mixed("y ~ x + (1 | school)", d, optimizer="COBYQA")
    assert cobyqa.optimizer.upper().startswith("COBYQA")
    assert cobyqa.reml_criterion == pytest.approx(default.reml_criterion, rel=1e-6)
    via_dict = fit_mixed("y ~ x + (1 | school)", d, control={"optimizer": "COBYQA"})
    assert via_dict.optimizer == cobyqa.optimizer


def test_singular_fit_warns_in_swedish():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"school": np.repeat([f"S{i}" for i in range(10)], 8),
                      "y": rng.normal(size=80)})
    d["y"] -= d.groupby("school")["y"].transform("mean")  # no between-school variance
    with pytest.warns(ConvergenceWarning, match="Anpassningen är singulär") as rec:
        res = fit_mixed("y ~ 1 + (1 | school)", d)
    assert res.singular
    assert any("singulär" in w for w in res.warnings)
    assert "singulär" in str(res.summary())
    assert all(isinstance(r.message, UAWarning) for r in rec)


def test_non_convergence_warns_and_is_recorded():
    d = _data("growth")
    with pytest.warns(ConvergenceWarning, match="konvergerade inte"):
        res = fit_mixed(MODELS["growth"][1], d, optimizer="L-BFGS-B", maxiter=2)
    assert not res.converged
    assert "konvergerade inte" in str(res.summary())


def test_no_engine_warning_leaks_untranslated():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_mixed("y ~ x + (1 | school)", _small())


def test_engine_is_imported_lazily():
    code = ("import sys, undervisning_analys.models as m; "
            "assert 'mixedlm' not in sys.modules, 'mixedlm imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_collinear_fixed_effects_name_the_column():
    d = _small()
    d["x_dubbel"] = 2 * d["x"]
    with pytest.raises(ModelError, match=r"`x_dubbel` är en linjär kombination") as e:
        fit_mixed("y ~ x + x_dubbel + (1 | school)", d)
    assert e.value.column == "x_dubbel"


def test_warnings_point_at_the_caller():
    d = _small()
    d.loc[0, "y"] = np.nan
    with pytest.warns(DataDroppedWarning) as rec:
        fit_mixed("y ~ x + (1 | school)", d)
    assert Path(rec[0].filename).name == "test_mixed.py"
    d = _small()
    d["g3"] = d.index % 3
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fit_mixed("y ~ x + (1 | g3)", d)
    assert any("Grupperingsfaktorn `g3` har bara 3 nivåer" in str(r.message) for r in rec)
    assert all(issubclass(r.category, UAWarning) for r in rec)
    assert all(Path(r.filename).name == "test_mixed.py" for r in rec)


def test_same_factor_twice_and_categorical_slopes_are_named_as_in_lme4():
    d = _small(n_groups=20)
    d["type"] = np.where(d.index % 3 == 0, "planerad", "spontan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UAWarning)
        res = fit_mixed("y ~ x + (1 | school) + (0 + x | school)", d)
        vc = res.varcorr
        assert list(vc["group"]) == ["school", "school.1", "Residual"]
        assert list(res.ranef["school"].columns) == ["(Intercept)", "x"]
        res2 = fit_mixed("y ~ type + (1 + type | school)", d)
    assert "typespontan" in set(res2.varcorr["term1"])
    assert list(res2.fixef.index) == ["(Intercept)", "typespontan"]
