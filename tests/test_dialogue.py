"""Dialogue questions as data: each rule at its edges, and the questions' evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from undervisning_analys.models.dialogue import (
    COLUMNS,
    LOW_RELIABILITY,
    RULES,
    UNDERLAG,
    Evidence,
    dialogue_table,
    select_questions,
)
from undervisning_analys.models.results_trend import results_trend

EPS = 1e-6


def _qtrend(sid: str, lo: float, hi: float, suppressed: bool = False) -> pd.DataFrame:
    return pd.DataFrame({"school_id": [sid], "estimate": [(lo + hi) / 2], "conf_low": [lo],
                         "conf_high": [hi], "suppressed": [suppressed]})


def _results(sid: str, component: str, lo: float, hi: float) -> pd.DataFrame:
    return pd.DataFrame({"component": [component], "school_id": [sid],
                         "estimate": [(lo + hi) / 2], "conf_low": [lo], "conf_high": [hi],
                         "n_years": [5], "first_year": ["2020/21"], "last_year": ["2024/25"]})


def _rules(ev: Evidence) -> list[str]:
    return list(dialogue_table(ev)["rule"])


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (EPS, 0.2, ["kvalitet_okar"]),
    (0.0, 0.2, []),             # touching zero is not excluding it
    (-EPS, 0.2, []),
    (-0.2, -EPS, ["kvalitet_minskar"]),
    (-0.2, 0.0, []),
    (np.nan, np.nan, []),
])
def test_quality_trend_rule_at_its_edges(lo, hi, expected):
    assert _rules(Evidence(quality_trends=_qtrend("99000001", lo, hi))) == expected


def test_suppressed_quality_trend_raises_nothing():
    ev = Evidence(quality_trends=_qtrend("99000001", 0.1, 0.3, suppressed=True))
    assert _rules(ev) == []


@pytest.mark.parametrize(("component", "lo", "hi", "expected"), [
    ("school_level", EPS, 30.0, "niva_over"),
    ("school_level", 0.0, 30.0, None),
    ("school_level", -30.0, -EPS, "niva_under"),
    ("school_trend", EPS, 4.0, "resultat_okar"),
    ("school_trend", -4.0, 0.0, None),
    ("school_trend", -4.0, -EPS, "resultat_minskar"),
])
def test_results_rules_at_their_edges(component, lo, hi, expected):
    ev = Evidence(results={"merit_17": _results("99000001", component, lo, hi)})
    assert _rules(ev) == ([expected] if expected else [])


@pytest.mark.parametrize(("q", "r", "expected"), [
    ((0.01, 0.2), (0.5, 3.0), "samma_hall"),
    ((-0.2, -0.01), (-3.0, -0.5), "samma_hall"),
    ((0.01, 0.2), (-3.0, -0.5), "olika_hall"),
    ((0.0, 0.2), (0.5, 3.0), None),       # quality interval touches zero
    ((0.01, 0.2), (-0.5, 3.0), None),     # results interval covers zero
])
def test_samband_needs_both_trends_clear(q, r, expected):
    ev = Evidence(quality_trends=_qtrend("99000001", *q),
                  results={"merit_17": _results("99000001", "school_trend", *r)})
    got = dialogue_table(ev)
    sam = got[got["underlag"] == "samband"]
    assert list(sam["rule"]) == ([expected] if expected else [])
    if expected:
        row = sam.iloc[0]
        # the row carries both estimates it rests on
        assert (row["conf_low"], row["conf_high"]) == q
        assert (row["conf_low_2"], row["conf_high_2"]) == r
        assert "Båda intervallen utesluter noll" in row["why"]


def _index(rel: float, suppressed: bool = False, dims: dict[str, tuple[float, float, float]]
           | None = None, muni: dict[str, float] | None = None) -> pd.DataFrame:
    rows = [{"level": "school", "unit": "99000001", "term": "VT2025", "dimension": "overall",
             "estimate": 2.9, "conf_low": 2.7, "conf_high": 3.1, "reliability": rel,
             "suppressed": suppressed}]
    for d, (e, lo, hi) in (dims or {}).items():
        rows.append({"level": "school", "unit": "99000001", "term": "VT2025", "dimension": d,
                     "estimate": e, "conf_low": lo, "conf_high": hi, "reliability": rel,
                     "suppressed": suppressed})
    for d, m in (muni or {}).items():
        rows.append({"level": "municipality", "unit": "9990", "term": "VT2025", "dimension": d,
                     "estimate": m, "conf_low": m - 0.05, "conf_high": m + 0.05,
                     "reliability": 0.95, "suppressed": False})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("rel", "raised"), [(LOW_RELIABILITY - EPS, True),
                                              (LOW_RELIABILITY, False), (np.nan, False)])
def test_low_reliability_at_its_edge(rel, raised):
    got = dialogue_table(Evidence(index=_index(rel)))
    assert (list(got["rule"]) == ["reliabilitet_lag"]) is raised
    if raised:
        assert got.iloc[0]["underlag"] == "underlag_tunt"
        assert "kommunens genomsnitt" in got.iloc[0]["why"]


def test_no_shown_term_is_thin_evidence():
    got = dialogue_table(Evidence(index=_index(0.9, suppressed=True)))
    assert list(got["rule"]) == ["index_saknas"]


@pytest.mark.parametrize(("hi", "raised"), [(3.0 - EPS, True), (3.0, False)])
def test_dimension_below_municipality_at_its_edge(hi, raised):
    idx = _index(0.8, dims={"klassrum": (2.7, 2.4, hi)}, muni={"klassrum": 3.0, "overall": 3.0})
    got = dialogue_table(Evidence(index=idx, dimension_names={"klassrum": "Klassrumsledarskap"}))
    rules = list(got["rule"])
    assert (rules == ["dimension_under"]) is raised
    if raised:
        r = got.iloc[0]
        assert r["text"].startswith("Klassrumsledarskap ligger under kommunens nivå")
        assert r["estimate"] == pytest.approx(-0.3) and r["conf_high"] < 0


def test_persistent_difference_pooled_over_years_raises_a_question():
    """Every year's interval crosses zero, yet the school is above expectation all years."""
    rng = np.random.default_rng(11)
    years = [f"{y}/{(y + 1) % 100:02d}" for y in range(2020, 2025)]
    rows = []
    for s in range(20):
        for sy in years:
            v = rng.normal(0, 4)
            rows.append({"school_id": f"99{s:06d}", "school_year": sy, "n": 60.0, "value": v})
    data = pd.DataFrame(rows)
    data.loc[data["school_id"] == "99000003", "value"] = [15.0, 22.0, 18.0, 16.0, 21.0]
    yearly_lo = data.loc[data["school_id"] == "99000003", "value"] - 1.96 * 13
    assert (yearly_lo < 0).all()
    table = dialogue_table(Evidence(results={"merit_17": results_trend(data=data).tidy()}))
    mine = table[table["school_id"] == "99000003"]
    assert "niva_over" in set(mine["rule"])
    row = mine[mine["rule"] == "niva_over"].iloc[0]
    assert row["conf_low"] > 0 and row["period"] == "2020/21–2024/25"
    assert "5 läsår sammanvägda" in row["why"]
    # no other school is flagged
    assert set(table.loc[table["rule"].str.startswith("niva"), "school_id"]) == {"99000003"}


def test_table_shape_bases_and_schools_filter():
    ev = Evidence(quality_trends=pd.concat([_qtrend("99000001", 0.1, 0.3),
                                            _qtrend("99000002", 0.1, 0.3)]),
                  schools=["99000002"])
    got = dialogue_table(ev)
    assert list(got.columns) == COLUMNS
    assert set(got["school_id"]) == {"99000002"}          # only the organiser's own school
    assert set(got["underlag"]) <= set(UNDERLAG)


def test_rules_are_extensible_one_function_per_basis():
    def rules_plan(ev: Evidence) -> list[dict]:
        return [{"school_id": "99000001", "underlag": "plan", "rule": "mal_nas_ej",
                 "priority": 9, "text": "Målet nås inte?", "why": "…", "subject": "x",
                 "estimate": 0.1, "conf_low": 0.05, "conf_high": 0.15, "estimate_2": np.nan,
                 "conf_low_2": np.nan, "conf_high_2": np.nan, "unit": "", "period": ""}]

    ev = Evidence(quality_trends=_qtrend("99000001", 0.1, 0.3))
    got = dialogue_table(ev, {**RULES, "plan": rules_plan})
    assert list(got["rule"]) == ["mal_nas_ej", "kvalitet_okar"]   # by priority
    with pytest.raises(ValueError, match="okänt underlag"):
        dialogue_table(ev, {"planer": rules_plan})


def test_select_questions_orders_and_limits():
    ev = Evidence(quality_trends=_qtrend("99000001", -0.3, -0.1),
                  results={"merit_17": pd.concat([
                      _results("99000001", "school_level", -20, -5),
                      _results("99000001", "school_trend", -4, -1)])})
    table = dialogue_table(ev)
    assert set(table["rule"]) == {"niva_under", "resultat_minskar", "kvalitet_minskar",
                                  "samma_hall"}
    got = select_questions(table, "99000001", k=2)
    assert len(got) == 2 and got.iloc[0]["rule"] == "niva_under"
    assert got["priority"].is_monotonic_decreasing


def test_newest_term_below_the_floor_is_thin_evidence():
    idx = pd.concat([_index(0.8).assign(term="HT2024"), _index(0.8, suppressed=True)])
    got = dialogue_table(Evidence(index=idx))
    assert list(got["rule"]) == ["termin_under_golv"]
    assert got.iloc[0]["period"] == "VT2025"
