"""models.equity.school_equity: the between-school spread the reports show (likvärdighet).

Hand-made tables with values whose spread and correlation are known exactly.
"""

import numpy as np
import pandas as pd
import pytest

from undervisning_analys.models.equity import EQUITY_COLUMNS, school_equity


def quality_rows(term, values, suppressed=None, dimension="overall", level="school"):
    n = len(values)
    return pd.DataFrame({"level": level, "unit": [f"s{i}" for i in range(n)],
                         "dimension": dimension, "term": term, "estimate": values,
                         "suppressed": suppressed if suppressed is not None else [False] * n})


@pytest.fixture()
def background():
    # parents' education share per school, the same in both school years
    share = {"s0": 0.2, "s1": 0.4, "s2": 0.6, "s3": 0.8}
    return pd.DataFrame([{"level": "school", "school_id": s, "school_year": sy,
                          "share_parents_higher_edu": v}
                         for sy in ("2023/24", "2024/25") for s, v in share.items()]
                        + [{"level": "municipality", "school_id": None, "school_year": "2023/24",
                            "share_parents_higher_edu": 0.99}])


def test_spread_and_correlation_of_shown_values(background):
    quality = pd.concat([
        # HT2023: s3 is suppressed, the other three are a perfect line in the share
        quality_rows("HT2023", [1.0, 2.0, 3.0, 40.0], suppressed=[False, False, False, True]),
        quality_rows("VT2024", [1.0, 2.0]),                        # two schools: no row
        quality_rows("HT2023", [9.0, 9.0, 9.0], dimension="d1"),  # another dimension
        quality_rows("HT2023", [5.0], level="municipality"),
    ], ignore_index=True)
    results = {"merit_17": pd.DataFrame({
        "school_id": ["s0", "s1", "s2", "s3", "s0", "s1", "s2", "s3"],
        "school_year": ["2024/25"] * 4 + ["2023/24"] * 4,
        "observed": [230.0, 210.0, np.nan, 250.0, 200.0, 200.0, 200.0, 200.0]})}
    out = school_equity(quality, results, background)
    assert tuple(out.columns) == EQUITY_COLUMNS
    assert out[["quantity", "period"]].values.tolist() == [
        ["quality", "HT2023"], ["merit_17", "2023/24"], ["merit_17", "2024/25"]]
    q = out.iloc[0]
    assert q["school_year"] == "2023/24" and q["n_schools"] == 3
    assert (q["mean"], q["min"], q["max"]) == (2.0, 1.0, 3.0)
    assert q["sd"] == pytest.approx(1.0)
    assert q["corr_parents_edu"] == pytest.approx(1.0)
    flat = out.iloc[1]                  # no spread: sd 0, no correlation
    assert flat["sd"] == 0.0 and np.isnan(flat["corr_parents_edu"])
    last = out.iloc[2]                  # the missing value of s2 is left out
    assert last["n_schools"] == 3
    assert last["mean"] == pytest.approx(230.0)
    assert last["sd"] == pytest.approx(20.0)
    x, y = np.array([0.2, 0.4, 0.8]), np.array([230.0, 210.0, 250.0])
    assert last["corr_parents_edu"] == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_without_quality_or_background_share(background):
    results = {"pass_all_subjects_pct": pd.DataFrame({
        "school_id": ["s0", "s1", "s2", "x9"], "school_year": "2024/25",
        "observed": [70.0, 80.0, 90.0, 75.0]})}
    out = school_equity(None, results, background)
    assert out["quantity"].tolist() == ["pass_all_subjects_pct"]
    assert out["n_schools"].iloc[0] == 4    # x9 counts, its missing share is left out of corr
    assert out["corr_parents_edu"].iloc[0] == pytest.approx(1.0)
    empty = school_equity(None, {}, background)
    assert empty.empty and tuple(empty.columns) == EQUITY_COLUMNS
