"""engine/robust.py: CR2 and Bell–McCaffrey degrees of freedom against R's clubSandwich,
and the error paths (Swedish messages).

Reference values: ``tests/reference/clubsandwich_reference.R`` (``vcovCR(type =
"CR2")`` through ``coef_test(test = "Satterthwaite")``) on the data written by
``tests/reference/clubsandwich_data.py``: equal and unequal cluster sizes, the
link's Mundlak design on an unbalanced panel and the same panel as two-way fixed
effects with school and year dummies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from undervisning_analys.engine import robust
from undervisning_analys.errors import ModelError

REF = Path(__file__).parent / "reference"


def reference(case: str) -> pd.DataFrame:
    r = pd.read_csv(REF / "clubsandwich_reference.csv")
    return r[r["case"] == case].set_index("term")


def fit(X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, ...]:
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    V = robust.cluster_vcov(X, y - X @ beta, groups, "CR2")
    df = np.array([robust.bm_df(X, groups, k) for k in range(X.shape[1])])
    return beta, np.sqrt(np.diag(V)), df


def check(case: str, X: np.ndarray, names: list[str], y: np.ndarray, groups: np.ndarray,
          terms: list[str] | None = None) -> None:
    ref = reference(case)
    beta, se, df = fit(X, y, groups)
    got = pd.DataFrame({"estimate": beta, "se": se, "df": df}, index=names)
    terms = terms or list(ref.index)
    assert set(terms) <= set(got.index)
    np.testing.assert_allclose(got.loc[terms, "estimate"], ref.loc[terms, "estimate"],
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.loc[terms, "se"], ref.loc[terms, "se"], rtol=1e-8)
    np.testing.assert_allclose(got.loc[terms, "df"], ref.loc[terms, "df"], rtol=1e-8)


@pytest.mark.parametrize("case", ["equal", "unequal"])
def test_cr2_and_bell_mccaffrey_df_equal_clubsandwich(case):
    d = pd.read_csv(REF / f"clubsandwich_{case}.csv")
    X = np.column_stack([np.ones(len(d)), d["x1"], d["x2"]])
    check(case, X, ["(Intercept)", "x1", "x2"], d["y"].to_numpy(), d["cluster"].to_numpy())


def test_unequal_case_has_a_singleton_and_interleaved_clusters():
    d = pd.read_csv(REF / "clubsandwich_unequal.csv")
    sizes = d.groupby("cluster").size()
    assert sizes.min() == 1 and sizes.nunique() >= 6
    assert not d["cluster"].is_monotonic_increasing


def test_the_links_mundlak_design_equals_clubsandwich():
    d = pd.read_csv(REF / "clubsandwich_mundlak.csv")
    cols = [c for c in d.columns if c not in ("cluster", "y")]
    X = np.column_stack([np.ones(len(d))] + [d[c] for c in cols])
    check("mundlak", X, ["(Intercept)"] + cols, d["y"].to_numpy(), d["cluster"].to_numpy())


def test_the_links_design_is_rebuilt_the_same_from_the_panel():
    """The CSV is the design ``link`` builds for this panel (so the reference is the link's)."""
    import sys

    sys.path.insert(0, str(REF))
    from clubsandwich_data import panel

    from undervisning_analys.models.link_estimate import design

    X, names, _ = design(panel())
    d = pd.read_csv(REF / "clubsandwich_mundlak.csv")
    np.testing.assert_allclose(X[:, 1:], d[[n.replace("/", "_") for n in names[1:]]],
                               rtol=1e-14)


def test_two_way_fixed_effects_equal_clubsandwich_and_the_mundlak_within():
    d = pd.read_csv(REF / "clubsandwich_twoway.csv")
    S = pd.get_dummies(d["cluster"], drop_first=True, dtype=float)
    Y = pd.get_dummies(d["school_year"], drop_first=True, dtype=float)
    X = np.column_stack([np.ones(len(d)), d["x"], S, Y])
    names = ["(Intercept)", "x"] + [f"s{i}" for i in range(S.shape[1])] + \
        [f"y{i}" for i in range(Y.shape[1])]
    check("twoway", X, names, d["y"].to_numpy(), d["cluster"].to_numpy(), terms=["x"])
    # the link's within term is the two-way fixed-effects slope, with the same CR2 and df
    assert reference("twoway").loc["x", "se"] == pytest.approx(
        reference("mundlak").loc["within", "se"], rel=1e-10)


def test_twoway_within_annihilates_school_and_year_effects():
    d = pd.read_csv(REF / "clubsandwich_twoway.csv")
    tw = robust.twoway_within(d["cluster"].to_numpy(), d["school_year"].to_numpy())
    D = np.column_stack([pd.get_dummies(d["cluster"], dtype=float),
                         pd.get_dummies(d["school_year"], dtype=float)])
    z = d["x"].to_numpy()
    dense = z - D @ np.linalg.lstsq(D, z, rcond=None)[0]
    np.testing.assert_allclose(tw.annihilate(z), dense, atol=1e-12)


def test_moment_corrected_slope_without_error_is_ols_and_recovers_a_slope():
    rng = np.random.default_rng(5)
    codes = np.repeat(np.arange(200), 5)
    xs = rng.normal(size=1000)
    y = 2.0 * xs + rng.normal(size=1000)
    b, se = robust.moment_corrected_slope(xs, y, np.zeros(200), codes)
    assert b == pytest.approx(float(xs @ y / (xs @ xs)), rel=1e-12) and se > 0
    # classical error of variance 1 (reliability 0.5): naive 1.0, corrected 2.0
    x = xs + rng.normal(size=1000)
    naive = float(x @ y / (x @ x))
    b, se = robust.moment_corrected_slope(x, y, np.full(200, 5.0), codes)
    assert naive < 1.3 and abs(b - 2.0) < 3 * se
    # error larger than the observed variation: nothing to correct with
    assert np.isnan(robust.moment_corrected_slope(x, y, np.full(200, 20.0), codes)[0])


# --------------------------------------------------------------------------- #
# error paths (Swedish messages)
# --------------------------------------------------------------------------- #
def test_unknown_vcov_kind():
    X = np.ones((6, 1))
    with pytest.raises(ModelError, match="Okänd typ av klusterrobust kovarians `HC3`") as e:
        robust.cluster_vcov(X, np.zeros(6), np.arange(6), "HC3")  # type: ignore[arg-type]
    assert "CR2" in str(e.value)


def test_groups_of_the_wrong_length():
    with pytest.raises(ModelError, match="6 rader men klustren anges för 5 rader") as e:
        robust.cluster_vcov(np.ones((6, 1)), np.zeros(6), np.arange(5))
    assert "Ange ett kluster" in str(e.value)
    with pytest.raises(ModelError, match="6 rader men klustren anges för 4 rader"):
        robust.bm_df(np.ones((6, 1)), np.arange(4), 0)


def test_residuals_of_the_wrong_length():
    with pytest.raises(ModelError, match="6 rader men det finns 3 residualer"):
        robust.cluster_vcov(np.ones((6, 1)), np.zeros(3), np.arange(6))


def test_design_must_be_a_matrix():
    with pytest.raises(ModelError, match="tvådimensionell"):
        robust.cluster_vcov(np.ones(6), np.zeros(6), np.arange(6))


def test_a_single_cluster_is_refused():
    with pytest.raises(ModelError, match="minst två kluster") as e:
        robust.cluster_vcov(np.ones((6, 1)), np.arange(6.0), np.zeros(6))
    assert "flera kluster" in str(e.value)


def test_unknown_coefficient_for_the_df():
    with pytest.raises(ModelError, match="Koefficient nummer 3 finns inte: designmatrisen har "
                                         "2 kolumner"):
        robust.bm_df(np.ones((6, 2)), np.arange(6) // 2, 3)


def test_twoway_within_lengths_and_corrected_slope_lengths():
    with pytest.raises(ModelError, match="Panelen har 3 enheter men 2 perioder"):
        robust.twoway_within(np.arange(3), np.arange(2))
    with pytest.raises(ModelError, match="Regressorn har 3 värden, utfallet 2 och klustren 3"):
        robust.moment_corrected_slope(np.ones(3), np.ones(2), np.zeros(3), np.arange(3))
