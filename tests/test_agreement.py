"""Rater agreement (issue 4): ICC, paired agreement and kappa, observer severity.

Reference values come from ``tests/reference/psych_reference.R`` (psych 2.2.9), which
writes the ``psych_*.csv`` files read here; rerun it with
``Rscript tests/reference/psych_reference.R``. ICC references are
``psych::ICC(na.omit(wide), lmer = FALSE)``; kappas are ``psych::cohen.kappa(pairs,
levels = 1:4)`` (unweighted, quadratic) and with ``w = 1 - |i - j| / 3`` (linear); the
standard errors of the weighted kappas are the Fleiss, Cohen & Everitt (1969) formula
written out in R (psych's ``var.weighted`` differs, see the script).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from undervisning_analys.errors import (
    DataDroppedWarning,
    DuplicateRowsError,
    MissingColumnError,
    ScaleError,
    UAError,
    ValidationError,
)
from undervisning_analys.measure.agreement import (
    AgreementResult,
    ICCResult,
    ObserverSeverityResult,
    agreement,
    icc,
    koo_li_band,
    observer_severity,
)

REF = Path(__file__).parent / "reference"
ICC_COLS = ["icc", "f", "df1", "df2", "p", "conf_low", "conf_high"]
KAPPA_COLS = ["n_pairs", "exact", "adjacent", "kappa", "kappa_se", "kappa_linear",
              "kappa_linear_se", "kappa_quadratic", "kappa_quadratic_se"]
PAIR_TARGETS = ["lesson_id", "item_id"]


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"psych_{name}.csv", dtype={"target": str, "rater": str})


def _icc_ref(dataset: str) -> pd.DataFrame:
    ref = _read("icc_reference")
    return ref[ref["dataset"] == dataset].reset_index(drop=True)


def _kappa_ref(dataset: str, groups: list[str] | None = None) -> pd.DataFrame:
    ref = _read("kappa_reference")
    ref = ref[ref["dataset"] == dataset].set_index("group")
    return ref.loc[groups or ["Totalt"]].reset_index()


def _assert_icc_equal(res: ICCResult, ref: pd.DataFrame) -> None:
    t = res.tidy()
    assert list(t["type"]) == list(ref["type"])
    # ICC, F and CIs to 1e-6 absolute; p-values (as small as 1e-8) to 1e-6 relative
    for col in ["icc", "f", "conf_low", "conf_high"]:
        np.testing.assert_allclose(t[col], ref[col], rtol=0, atol=1e-6, err_msg=col)
    np.testing.assert_allclose(t["p"], ref["p"], rtol=1e-6, atol=1e-12)
    assert list(t["df1"]) == list(ref["df1"])
    assert list(t["df2"]) == list(ref["df2"])
    assert res.n_targets == ref["n_obs"].iloc[0]
    assert res.n_raters == ref["n_judge"].iloc[0]
    assert res.n_dropped == ref["n_dropped"].iloc[0]


# --------------------------------------------------------------------------- ICC
SF_TABLE2 = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9],
             [6, 2, 4, 7]]


def _sf_long() -> pd.DataFrame:
    rows = [{"target": f"t{i + 1}", "rater": f"J{j + 1}", "rating": v}
            for i, row in enumerate(SF_TABLE2) for j, v in enumerate(row)]
    return pd.DataFrame(rows)


def test_icc_shrout_fleiss_table2_published_values():
    """Shrout & Fleiss (1979), Table 4: the six ICCs for the Table 2 data (k = 4)."""
    res = icc(_sf_long(), targets="target", raters="rater", ratings="rating")
    t = res.tidy().set_index("type")["icc"]
    published = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71,
                 "ICC1k": 0.44, "ICC2k": 0.62, "ICC3k": 0.91}
    for typ, value in published.items():
        assert round(t[typ], 2) == value, typ
    # three decimals, as psych::ICC(sf, lmer = FALSE) prints them
    three = {"ICC1": 0.166, "ICC2": 0.290, "ICC3": 0.715,
             "ICC1k": 0.443, "ICC2k": 0.620, "ICC3k": 0.909}
    for typ, value in three.items():
        assert round(t[typ], 3) == value, typ


def test_icc_shrout_fleiss_equals_psych_including_ci():
    res = icc(_sf_long(), targets="target", raters="rater", ratings="rating")
    _assert_icc_equal(res, _icc_ref("sf"))
    # the long file the R script wrote is the same data
    res2 = icc(_read("sf_ratings"), "target", "rater", "rating")
    pd.testing.assert_frame_equal(res.tidy(), res2.tidy())


def test_icc_simulated_30x3_equals_psych():
    res = icc(_read("sim_ratings"), targets="target", raters="rater", ratings="rating")
    _assert_icc_equal(res, _icc_ref("sim"))
    assert res.n_dropped == 0


def test_icc_missing_cells_drop_incomplete_targets_and_warn():
    data = _read("simmiss_ratings")
    with pytest.warns(DataDroppedWarning, match="3 av 30 mål saknar minst en bedömning"):
        res = icc(data, targets="target", raters="rater", ratings="rating")
    assert res.n_dropped == 3
    _assert_icc_equal(res, _icc_ref("simmiss"))
    assert "3 mål saknade minst en bedömning" in res.summary()


def test_icc_numbered_raters_for_changing_pairs_equals_psych():
    """Paired observations with changing observer pairs: raters=None numbers them."""
    data = _read("pairs_ratings")
    res = icc(data, targets=PAIR_TARGETS, raters=None, ratings="score")
    _assert_icc_equal(res, _icc_ref("pairs"))
    assert res.raters_numbered and res.headline == "ICC1"
    assert "envägsformerna" in res.summary()


def test_icc_changing_pairs_with_rater_ids_explains_raters_none():
    data = _read("pairs_ratings")
    with pytest.raises(ValidationError, match="raters=None") as exc:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataDroppedWarning)
            icc(data, targets=PAIR_TARGETS, raters="observer_id", ratings="score")
    assert "fullständiga" in str(exc.value)


def test_icc_row_order_does_not_matter_and_anova_adds_up():
    data = _read("sim_ratings")
    shuffled = data.sample(frac=1, random_state=3)
    a = icc(data, "target", "rater", "rating")
    b = icc(shuffled, "target", "rater", "rating")
    pd.testing.assert_frame_equal(a.tidy(), b.tidy(), rtol=1e-12)
    an = a.anova.set_index("source")
    y = data["rating"].to_numpy(float)
    assert an["ss"].sum() == pytest.approx(((y - y.mean()) ** 2).sum())
    assert an.loc["targets", "f"] == pytest.approx(a.tidy()["f"].iloc[1])


def test_icc_tidy_shape_and_copy():
    res = icc(_sf_long(), targets=["target"], raters="rater", ratings="rating")
    t = res.tidy()
    assert list(t.columns) == ["type", "description", "icc", "f", "df1", "df2", "p",
                               "conf_low", "conf_high"]
    assert t["description"].iloc[4].startswith("ICC(2,4): medelvärdet av 4 bedömare")
    t.loc[0, "icc"] = 99.0
    assert res.tidy().loc[0, "icc"] != 99.0


def test_icc_summary_swedish_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = icc(_read("sim_ratings"), "target", "rater", "rating")
    text = res.summary()
    assert "Koo & Li" in text
    assert "0,55" in text            # ICC(2,1) with a decimal comma
    assert "måttlig" in text
    assert "<pre" in res._repr_html_()
    ax = res.plot()
    assert ax.get_xlabel().startswith("ICC med 95 % konfidensintervall")
    assert len(ax.get_yticklabels()) == 6
    plt.close("all")


def test_icc_conf_level():
    res90 = icc(_sf_long(), "target", "rater", "rating", conf_level=0.90).tidy()
    res95 = icc(_sf_long(), "target", "rater", "rating").tidy()
    assert (res90["conf_high"] - res90["conf_low"] < res95["conf_high"] - res95["conf_low"]).all()
    np.testing.assert_allclose(res90["icc"], res95["icc"])


def test_koo_li_bands():
    assert [koo_li_band(x) for x in (0.3, 0.5, 0.8, 0.9, 0.95)] == [
        "svag", "måttlig", "god", "god", "utmärkt"]
    assert koo_li_band(float("nan")) == "kan inte bedömas"


# --------------------------------------------------------------------------- agreement
def _assert_kappa_equal(t: pd.DataFrame, ref: pd.DataFrame) -> None:
    for col in KAPPA_COLS:
        np.testing.assert_allclose(t[col].astype(float), ref[col], rtol=0, atol=1e-9,
                                   err_msg=col)


def test_agreement_three_raters_uses_all_pairs_equals_psych():
    data = _read("sim_ratings")
    res = agreement(data, targets="target", raters="rater", ratings="rating", scale=(1, 4))
    t = res.tidy()
    assert list(t["group"]) == ["Totalt"]
    assert t["n_pairs"].iloc[0] == 90 and t["n_targets"].iloc[0] == 30   # 3 pairs per target
    _assert_kappa_equal(t, _kappa_ref("sim"))


def test_agreement_missing_ratings_are_left_out():
    data = _read("simmiss_ratings")
    res = agreement(data, targets="target", raters="rater", ratings="rating")
    _assert_kappa_equal(res.tidy(), _kappa_ref("simmiss"))
    assert res.n_missing == 3          # three NaN cells; the fourth has no row at all
    assert "3 rader saknade poäng" in res.summary()


def test_agreement_pairs_by_item_equals_psych():
    data = _read("pairs_ratings")
    res = agreement(data, targets="lesson_id", raters="observer_id", ratings="score",
                    scale=(1, 4), by="item_id")
    t = res.tidy()
    assert list(t["group"]) == ["i1", "i2", "i3", "Totalt"]
    assert list(t["item_id"].iloc[:3]) == ["i1", "i2", "i3"] and pd.isna(t["item_id"].iloc[3])
    _assert_kappa_equal(t, _kappa_ref("pairs", ["i1", "i2", "i3", "Totalt"]))
    # same overall row when the item is part of the target instead of a group
    res2 = agreement(data, targets=PAIR_TARGETS, raters="observer_id", ratings="score")
    _assert_kappa_equal(res2.tidy(), _kappa_ref("pairs"))
    pairs = res.pairs
    assert (pairs["rater_a"] < pairs["rater_b"]).all()
    assert len(pairs) == 120


def test_agreement_absent_categories_still_count():
    """Category 2 is never used in the gap data; the full 1–4 scale must count.

    Reference: psych::cohen.kappa(pairs, levels = 1:4). Without levels psych treats
    {1, 3, 4} as three adjacent categories and gets another weighted kappa.
    """
    data = _read("gap_ratings")
    assert sorted(data["score"].unique()) == [1, 3, 4]
    res = agreement(data, PAIR_TARGETS, "observer_id", "score", scale=(1, 4)).tidy()
    _assert_kappa_equal(res, _kappa_ref("gap"))
    no_levels = _kappa_ref("gap", ["utan_levels"]).iloc[0]
    assert res["kappa"].iloc[0] == pytest.approx(no_levels["kappa"], abs=1e-9)
    assert abs(res["kappa_quadratic"].iloc[0] - no_levels["kappa_quadratic"]) > 0.01
    # an unused category at the end of the scale changes no kappa (weights rescale)
    pairs = _read("pairs_ratings")
    assert pairs["score"].min() == 2
    a = agreement(pairs, PAIR_TARGETS, "observer_id", "score", scale=(1, 4)).tidy()
    b = agreement(pairs, PAIR_TARGETS, "observer_id", "score", scale=(2, 4)).tidy()
    np.testing.assert_allclose(a[KAPPA_COLS].astype(float), b[KAPPA_COLS].astype(float),
                               atol=1e-12)


def test_agreement_standard_errors_match_statsmodels():
    from statsmodels.stats.inter_rater import cohens_kappa

    data = _read("pairs_ratings")
    res = agreement(data, PAIR_TARGETS, "observer_id", "score", scale=(1, 4))
    p = res.pairs
    tab = pd.crosstab(pd.Categorical(p["rating_a"], [1, 2, 3, 4]),
                      pd.Categorical(p["rating_b"], [1, 2, 3, 4]), dropna=False).to_numpy()
    t = res.tidy().iloc[0]
    for wt, col in [(None, "kappa"), ("linear", "kappa_linear"),
                    ("quadratic", "kappa_quadratic")]:
        sm = cohens_kappa(tab, wt=wt) if wt else cohens_kappa(tab)
        assert t[col] == pytest.approx(sm.kappa, abs=1e-12)
        assert t[col + "_se"] == pytest.approx(sm.std_kappa, abs=1e-12)


def test_agreement_perfect_and_unpaired():
    data = pd.DataFrame({
        "lesson": ["a", "a", "b", "b", "c", "c", "d"],
        "obs": ["x", "y", "x", "y", "x", "y", "x"],
        "score": [1, 1, 2, 2, 4, 4, 3],
    })
    res = agreement(data, "lesson", "obs", "score")
    t = res.tidy().iloc[0]
    assert t["exact"] == 1 and t["adjacent"] == 1
    assert t["kappa"] == pytest.approx(1) and t["kappa_quadratic"] == pytest.approx(1)
    assert res.n_unpaired == 1
    assert "1 mål hade bara en bedömning" in res.summary()


def test_agreement_summary_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = agreement(_read("pairs_ratings"), "lesson_id", "observer_id", "score", by="item_id")
    assert isinstance(res, AgreementResult)
    text = res.summary()
    assert "Samstämmighet i parobservationer (skala 1–4)" in text
    assert "Landis & Koch" in text and "0,48" in text
    ax = res.plot()
    assert ax.get_xlabel() == "Andel par / kappa"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["i1", "i2", "i3", "Totalt"]
    plt.close("all")


# --------------------------------------------------------------------------- severity
def test_observer_severity_equals_r():
    data = _read("pairs_ratings")
    res = observer_severity(data, targets=PAIR_TARGETS, observer="observer_id",
                            score="score", by_term="term")
    assert isinstance(res, ObserverSeverityResult)
    t = res.tidy()
    ref = _read("severity_reference")
    assert list(t["observer"]) == list(ref["observer"])   # id order, never by value
    for col in ["n_ratings", "n_targets", "mean_deviation", "se", "n_terms", "slope",
                "slope_se"]:
        np.testing.assert_allclose(t[col].astype(float), ref[col], rtol=0, atol=1e-9,
                                   err_msg=col)
    # deviations sum to zero within each pair, so weighted mean over observers is 0
    assert (t["mean_deviation"] * t["n_ratings"]).sum() == pytest.approx(0, abs=1e-9)
    pt = res.per_term()
    assert list(pt.columns) == ["observer", "term", "time", "n_ratings", "mean_deviation",
                                "se"]
    o1 = pt[pt["observer"] == "o1"]
    assert list(o1["term"]) == ["HT2022", "VT2023", "HT2023", "VT2024"]


def test_observer_severity_summary_plot_without_terms():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = observer_severity(_read("pairs_ratings"), PAIR_TARGETS)
    t = res.tidy()
    assert "slope" not in t.columns
    text = res.summary()
    assert "rangordnar inga lärare" in text
    assert "generösare" in text
    ax = res.plot()
    assert [x.get_text() for x in ax.get_yticklabels()] == ["o1", "o2", "o3", "o4", "o5"]
    plt.close("all")


def test_observer_severity_rejects_unknown_term_format():
    data = _read("pairs_ratings").assign(term="hösten")
    with pytest.raises(ValidationError, match="ska ange termin"):
        observer_severity(data, PAIR_TARGETS, by_term="term")


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("func", ["icc", "agreement", "observer_severity"])
def test_missing_column_message(func):
    data = _read("sim_ratings")
    with pytest.raises(MissingColumnError) as exc:
        if func == "icc":
            icc(data, targets="target", raters="rater", ratings="poang")
        elif func == "agreement":
            agreement(data, targets="target", raters="rater", ratings="poang")
        else:
            observer_severity(data, "target", observer="rater", score="poang")
    msg = str(exc.value)
    assert "Kolumnen `poang`" in msg and "finns inte i data" in msg
    assert "`target`, `rater`, `rating`" in msg
    assert exc.value.column == "poang"
    assert isinstance(exc.value, UAError)


def test_missing_target_column_names_argument():
    with pytest.raises(MissingColumnError, match=r"argumentet `targets=` i `icc`"):
        icc(_read("sim_ratings"), targets=["target", "lektion"], raters="rater",
            ratings="rating")


@pytest.mark.parametrize("func", ["icc", "agreement", "observer_severity"])
def test_single_rater_message(func):
    data = _read("sim_ratings")
    data = data[data["rater"] == "r1"]
    with pytest.raises(ValidationError) as exc:
        if func == "icc":
            icc(data, "target", "rater", "rating")
        elif func == "agreement":
            agreement(data, "target", "rater", "rating")
        else:
            observer_severity(data, "target", observer="rater", score="rating")
    msg = str(exc.value)
    assert "minst två bedömare" in msg and "bara en" in msg and "'r1'" in msg


@pytest.mark.parametrize("func", ["icc", "agreement", "observer_severity"])
def test_non_numeric_ratings_message(func):
    data = _read("sim_ratings")
    data["rating"] = data["rating"].astype(object)
    data.loc[5, "rating"] = "bra"
    with pytest.raises(ValidationError) as exc:
        if func == "icc":
            icc(data, "target", "rater", "rating")
        elif func == "agreement":
            agreement(data, "target", "rater", "rating")
        else:
            observer_severity(data, "target", observer="rater", score="rating")
    msg = str(exc.value)
    assert "Kolumnen `rating` ska innehålla poäng (tal)" in msg
    assert "index 5" in msg and "'bra'" in msg


def test_numeric_strings_are_accepted():
    data = _read("sf_ratings")
    as_text = data.assign(rating=data["rating"].astype(str))
    a = icc(data, "target", "rater", "rating").tidy()
    b = icc(as_text, "target", "rater", "rating").tidy()
    pd.testing.assert_frame_equal(a, b)


def test_duplicate_rating_message():
    data = _read("sim_ratings")
    data = pd.concat([data, data.iloc[[0]]], ignore_index=True)
    with pytest.raises(DuplicateRowsError, match="mer än en bedömning av samma mål"):
        icc(data, "target", "rater", "rating")
    with pytest.raises(DuplicateRowsError, match="`targets=`"):
        agreement(data, "target", "rater", "rating")
    # the lesson alone is not a target when there are several items per lesson
    with pytest.raises(DuplicateRowsError):
        agreement(_read("pairs_ratings"), "lesson_id", "observer_id", "score")


def test_off_scale_and_fractional_scores_message():
    data = _read("sim_ratings")
    bad = data.copy()
    bad.loc[2, "rating"] = 7
    with pytest.raises(ScaleError, match=r"värdet 7.*skalan är heltalen 1–4"):
        agreement(bad, "target", "rater", "rating", scale=(1, 4))
    half = data.assign(rating=data["rating"].astype(float))
    half.loc[2, "rating"] = 2.5
    with pytest.raises(ScaleError, match="2.5"):
        agreement(half, "target", "rater", "rating")
    with pytest.raises(ValidationError, match="`scale`"):
        agreement(data, "target", "rater", "rating", scale=(4, 1))


def test_not_a_dataframe_and_no_pairs():
    with pytest.raises(ValidationError, match="pandas DataFrame"):
        icc([[1, 2], [3, 4]], "target", "rater", "rating")
    data = pd.DataFrame({"lesson": ["a", "b"], "obs": ["x", "y"], "score": [1, 2]})
    with pytest.raises(ValidationError, match="inga par"):
        agreement(data, "lesson", "obs", "score")


def test_missing_ids_message():
    data = _read("sim_ratings")
    data.loc[4, "rater"] = None
    with pytest.raises(ValidationError, match="Kolumnen `rater` saknar värde"):
        icc(data, "target", "rater", "rating")


def test_module_import_does_not_load_matplotlib():
    code = ("import sys; import undervisning_analys.measure.agreement; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "False"
