"""Suppression (issue 7, parts 2 and 3): floors, secondary suppression, display, teachers.

Every rule is tested at its boundary: n = 9 vs 10 pupils, 2 vs 3 teachers,
4 vs 5 observed lessons. Secondary suppression is tested by first showing
that the hidden cell *could* be recovered from what would otherwise be shown,
and then that it no longer can.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from undervisning_analys import schema
from undervisning_analys.errors import SuppressedValueError
from undervisning_analys.privacy import (
    MIN_OBS,
    MIN_PUPILS,
    MIN_TEACHERS,
    RESULTS_PARTITIONS,
    Floors,
    as_floors,
    assert_no_teacher_columns,
    drop_teacher_identifiers,
    format_table,
    format_value,
    suppress_quality,
    suppress_results,
    teacher_columns,
)

NBSP = "\u202f"  # the thousands separator (narrow no-break space)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def results_rows(cells: dict[str, tuple[float, int]], **keys) -> pd.DataFrame:
    """A results-like table for one school-year-measure with group -> (value, n)."""
    base = {"level": "school", "school_id": "99000001", "municipality_id": "9990",
            "school_year": "2023/24", "measure": "merit_17", "principal_type": "all"}
    base.update(keys)
    return pd.DataFrame([{**base, "group": g, "value": v, "n": n, "status": "ok"}
                         for g, (v, n) in cells.items()])


def recoverable_cells(df: pd.DataFrame) -> list[tuple]:
    """Cells a reader could solve for: one hidden cell in a partition whose others are shown.

    Independent re-statement of the rule (for group and principal_type).
    """
    found = []
    shown = df["status"].astype(str).isin(["ok", "approx_100"])
    hidden = df["status"].astype(str).eq("suppressed")
    for col, (total, parts) in RESULTS_PARTITIONS.items():
        if col not in df.columns:
            continue
        others = [c for c in ("level", "school_id", "municipality_id", "school_year",
                              "measure", "group", "principal_type")
                  if c in df.columns and c != col]
        for key, sub in df.groupby(others, dropna=False):
            labels = set(sub[col].astype(str))
            if not {total, *parts} <= labels:
                continue
            n_hidden = int(hidden[sub.index].sum())
            n_shown = int(shown[sub.index].sum())
            if n_hidden == 1 and n_shown == 2:
                found.append((col, key))
    return found


# ---------------------------------------------------------------------------
# Floors
# ---------------------------------------------------------------------------
def test_floor_constants():
    assert (MIN_PUPILS, MIN_TEACHERS, MIN_OBS) == (10, 3, 5)
    assert Floors() == Floors(pupils=10, teachers=3, obs=5)


def test_floors_can_be_raised():
    f = Floors(pupils=15, teachers=4, obs=8)
    assert (f.pupils, f.teachers, f.obs) == (15, 4, 8)
    assert as_floors({"pupils": 20}).pupils == 20
    assert as_floors(None) == Floors()


@pytest.mark.parametrize("kwargs, word", [
    ({"pupils": 9}, "elever"),
    ({"teachers": 2}, "lärare"),
    ({"obs": 4}, "observerade lektioner"),
    ({"pupils": 0}, "elever"),
])
def test_floors_cannot_be_lowered(kwargs, word):
    with pytest.raises(SuppressedValueError) as exc:
        Floors(**kwargs)
    msg = str(exc.value)
    assert "kan bara höjas" in msg and word in msg
    with pytest.raises(SuppressedValueError):
        as_floors(kwargs)


def test_floors_refuse_non_integers_and_unknown_names():
    with pytest.raises(SuppressedValueError, match="heltal"):
        Floors(pupils=10.5)  # type: ignore[arg-type]
    with pytest.raises(SuppressedValueError, match="heltal"):
        Floors(pupils=True)  # type: ignore[arg-type]
    with pytest.raises(SuppressedValueError, match="Okänd gräns"):
        as_floors({"elever": 12})


def test_floors_are_frozen():
    with pytest.raises(AttributeError):
        Floors().pupils = 5  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Primary suppression of results
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("n, suppressed", [(9, True), (10, False), (0, True), (1, True)])
def test_results_boundary_n_9_vs_10(n, suppressed):
    df = results_rows({"all": (231.4, n)})
    out = suppress_results(df)
    row = out.iloc[0]
    assert bool(row["status"] == "suppressed") is suppressed
    assert bool(np.isnan(row["value"])) is suppressed
    assert row["n"] == n  # the count is kept, as Skolverket publishes it
    assert row["suppression_reason"] == ("färre än 10 elever" if suppressed else "")


def test_results_raised_floor():
    df = pd.concat([results_rows({"all": (200.0, n)}, school_id=f"9900000{n % 10}")
                    for n in (10, 14, 15)], ignore_index=True)
    out = suppress_results(df, floors=Floors(pupils=15))
    assert out["status"].tolist() == ["suppressed", "suppressed", "ok"]
    assert out["suppression_reason"].iloc[0] == "färre än 15 elever"


def test_results_statuses_other_than_shown_are_left_alone():
    df = results_rows({"all": (np.nan, 5)})
    df = pd.concat([df.assign(status=s) for s in ("missing", "not_published", "excluded")],
                   ignore_index=True)
    df["measure"] = ["merit_17", "merit_16", "pass_all_subjects_pct"]
    out = suppress_results(df)
    assert out["status"].tolist() == ["missing", "not_published", "excluded"]


def test_results_approx_100_below_floor_becomes_suppressed():
    df = results_rows({"all": (np.nan, 8)}, measure="pass_all_subjects_pct")
    df["status"] = "approx_100"
    out = suppress_results(df)
    assert out["status"].iloc[0] == "suppressed"


def test_results_source_suppression_kept_and_explained():
    df = results_rows({"all": (np.nan, 25)})
    df["status"] = "suppressed"
    out = suppress_results(df)
    assert out["status"].iloc[0] == "suppressed"
    assert out["suppression_reason"].iloc[0] == "prickat i källan"


def test_results_unknown_n_policy():
    df = results_rows({"all": (231.4, 10)})
    df["n"] = pd.array([pd.NA], dtype="Int64")
    assert suppress_results(df)["status"].iloc[0] == "ok"
    out = suppress_results(df, unknown_n="suppress")
    assert out["status"].iloc[0] == "suppressed"
    assert out["suppression_reason"].iloc[0] == "antal elever okänt"


def test_results_missing_n_column_is_refused():
    df = results_rows({"all": (231.4, 10)}).drop(columns="n")
    with pytest.raises(SuppressedValueError) as exc:
        suppress_results(df)
    assert exc.value.column == "n"


def test_results_input_not_mutated_and_idempotent():
    df = results_rows({"all": (220.0, 20), "girls": (230.0, 9), "boys": (211.0, 11)})
    before = df.copy()
    once = suppress_results(df)
    pd.testing.assert_frame_equal(df, before)
    twice = suppress_results(once)
    pd.testing.assert_frame_equal(once, twice)


def test_results_keep_canonical_schema(synth_ds):
    out = suppress_results(synth_ds.results, reason_col=None)
    assert list(out.columns) == list(synth_ds.results.columns)
    assert isinstance(out["status"].dtype, pd.CategoricalDtype)
    schema.validate("results", out)  # still a valid canonical table


def test_results_value_columns_for_tidy_outputs():
    df = pd.DataFrame({"school_id": ["99000001", "99000002"], "school_year": "2023/24",
                       "measure": "merit_17", "observed": [230.0, 210.0],
                       "expected": [225.0, 215.0], "residual": [5.0, -5.0],
                       "se": [3.0, 4.0], "n": [9, 30]})
    out = suppress_results(df)
    assert out.loc[0, ["observed", "expected", "residual", "se"]].isna().all()
    assert out.loc[1, ["observed", "expected", "residual", "se"]].notna().all()
    assert out["status"].tolist() == ["suppressed", "ok"]


# ---------------------------------------------------------------------------
# Secondary suppression
# ---------------------------------------------------------------------------
def test_secondary_suppression_mean_recovering_case():
    # girls (n = 9) suppressed; all and boys shown with their n's would give girls back
    n_all, n_g, n_b = 20, 9, 11
    girls, boys = 240.0, 200.0
    total = (n_g * girls + n_b * boys) / n_all
    df = results_rows({"all": (total, n_all), "girls": (girls, n_g), "boys": (boys, n_b)})
    recovered = (n_all * total - n_b * boys) / n_g
    assert recovered == pytest.approx(girls)  # the attack works on the primary table alone

    out = suppress_results(df).set_index("group")
    assert out.loc["girls", "status"] == "suppressed"
    assert out.loc["boys", "status"] == "suppressed"
    assert out.loc["all", "status"] == "ok"  # the total stays visible
    assert "sekundärt prickat" in out.loc["boys", "suppression_reason"]
    assert "flickor" in out.loc["boys", "suppression_reason"]
    assert np.isnan(out.loc["boys", "value"])
    assert out.loc["boys", "n"] == n_b


def test_secondary_suppression_counts():
    # counts: all = girls + boys, so girls = all - boys
    df = results_rows({"all": (25.0, 25), "girls": (7.0, 7), "boys": (18.0, 18)},
                      measure="np_ma_9_n")
    assert df.set_index("group")["value"].pipe(lambda v: v["all"] - v["boys"]) == 7
    out = suppress_results(df).set_index("group")
    assert out.loc[["girls", "boys"], "status"].eq("suppressed").all()
    assert out.loc["all", "status"] == "ok"


def test_secondary_suppression_percentage():
    df = results_rows({"all": (80.0, 30), "girls": (62.5, 8), "boys": (86.4, 22)},
                      measure="pass_all_subjects_pct")
    out = suppress_results(df).set_index("group")
    assert out.loc["boys", "status"] == "suppressed"


def test_no_secondary_suppression_when_nothing_recoverable():
    # both parts at the floor: nothing suppressed, nothing to protect
    df = results_rows({"all": (220.0, 20), "girls": (230.0, 10), "boys": (210.0, 10)})
    assert suppress_results(df)["status"].eq("ok").all()
    # both parts below: the total reveals only what it is
    df = results_rows({"all": (220.0, 12), "girls": (230.0, 6), "boys": (210.0, 6)})
    out = suppress_results(df).set_index("group")
    assert out.loc["all", "status"] == "ok"
    assert out.loc[["girls", "boys"], "suppression_reason"].eq("färre än 10 elever").all()
    # the other part missing: the hidden part stays hidden without more suppression
    df = results_rows({"all": (220.0, 20), "girls": (230.0, 9), "boys": (np.nan, 11)})
    df.loc[2, "status"] = "missing"
    out = suppress_results(df).set_index("group")
    assert out.loc["all", "status"] == "ok"
    assert out.loc["boys", "status"] == "missing"


def test_secondary_suppression_when_the_total_is_hidden():
    # the source hid the total but shows both parts: hide the smaller part
    df = results_rows({"all": (np.nan, 30), "girls": (230.0, 12), "boys": (210.0, 18)})
    df.loc[0, "status"] = "suppressed"
    out = suppress_results(df).set_index("group")
    assert out.loc["girls", "status"] == "suppressed"
    assert out.loc["boys", "status"] == "ok"


def test_secondary_suppression_principal_type():
    base = {"level": "municipality", "school_id": None}
    df = pd.concat([
        results_rows({"all": (220.0, 120)}, principal_type="all", **base),
        results_rows({"all": (221.0, 112)}, principal_type="kommunal", **base),
        results_rows({"all": (206.0, 8)}, principal_type="enskild", **base),
    ], ignore_index=True)
    out = suppress_results(df).set_index("principal_type")
    assert out.loc["enskild", "status"] == "suppressed"
    assert out.loc["kommunal", "status"] == "suppressed"
    assert out.loc["all", "status"] == "ok"


def test_secondary_suppression_propagates_across_partitions():
    # girls at enskild schools: 4 pupils. Group and principal-type partitions interact.
    ns = {("all", "all"): 60, ("girls", "all"): 28, ("boys", "all"): 32,
          ("all", "kommunal"): 46, ("girls", "kommunal"): 24, ("boys", "kommunal"): 22,
          ("all", "enskild"): 14, ("girls", "enskild"): 4, ("boys", "enskild"): 10}
    rows = [{"level": "municipality", "school_id": None, "municipality_id": "9990",
             "school_year": "2023/24", "measure": "merit_17", "group": g,
             "principal_type": p, "value": 200.0 + n, "n": n, "status": "ok"}
            for (g, p), n in ns.items()]
    df = pd.DataFrame(rows)
    assert recoverable_cells(suppress_results(df, partitions={})) != []
    out = suppress_results(df)
    assert recoverable_cells(out) == []
    st_ = out.set_index(["group", "principal_type"])["status"]
    assert st_[("girls", "enskild")] == "suppressed"
    assert st_[("all", "all")] == "ok"


def test_secondary_suppression_schools_of_a_municipality():
    # the schools' n add up to the municipality's: one hidden school could be solved for
    schools = {"99000001": (230.0, 40), "99000002": (215.0, 25), "99000003": (190.0, 9)}
    n_tot = sum(n for _, n in schools.values())
    mean = sum(v * n for v, n in schools.values()) / n_tot
    df = pd.concat(
        [results_rows({"all": (v, n)}, school_id=s) for s, (v, n) in schools.items()]
        + [results_rows({"all": (mean, n_tot)}, level="municipality", school_id=None)],
        ignore_index=True)
    out = suppress_results(df)
    st_ = dict(zip(out["school_id"].fillna("kommun"), out["status"]))
    assert st_["99000003"] == "suppressed"
    assert st_["99000002"] == "suppressed"  # the smallest shown school
    assert st_["99000001"] == "ok" and st_["kommun"] == "ok"
    assert "kommunens värde" in out.set_index("school_id").loc["99000002",
                                                              "suppression_reason"]
    # schools missing from the table: the remainder hides the school
    partial = df[df["school_id"] != "99000001"].reset_index(drop=True)
    out = suppress_results(partial)
    assert dict(zip(out["school_id"].fillna("kommun"), out["status"]))["99000002"] == "ok"
    assert suppress_results(df, hierarchy=False).set_index("school_id") \
        .loc["99000002", "status"] == "ok"


def test_secondary_suppression_off():
    df = results_rows({"all": (220.0, 20), "girls": (230.0, 9), "boys": (211.0, 11)})
    out = suppress_results(df, partitions={}).set_index("group")
    assert out.loc["boys", "status"] == "ok"


def test_synthetic_results_have_nothing_below_floor_or_recoverable(synth_ds):
    out = suppress_results(synth_ds.results)
    shown = out["status"].astype(str).isin(["ok", "approx_100"])
    assert not (shown & (out["n"].astype(float) < MIN_PUPILS)).any()
    assert out.loc[out["status"].astype(str) == "suppressed", "value"].isna().all()
    assert recoverable_cells(out) == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=2, max_size=2),
       st.integers(10, 20))
def test_property_no_recoverable_cell_and_nothing_below_floor(counts, floor):
    # counts[p] = (girls, boys) at principal type p; totals are sums
    (gk, bk), (ge, be) = counts
    ns = {("girls", "kommunal"): gk, ("boys", "kommunal"): bk,
          ("girls", "enskild"): ge, ("boys", "enskild"): be}
    for p in ("kommunal", "enskild"):
        ns[("all", p)] = ns[("girls", p)] + ns[("boys", p)]
    for g in ("all", "girls", "boys"):
        ns[(g, "all")] = ns[(g, "kommunal")] + ns[(g, "enskild")]
    rows = [{"level": "municipality", "school_id": None, "municipality_id": "9990",
             "school_year": "2023/24", "measure": "merit_17", "group": g,
             "principal_type": p, "value": float(n), "n": n, "status": "ok"}
            for (g, p), n in ns.items()]
    out = suppress_results(pd.DataFrame(rows), floors=Floors(pupils=floor))
    shown = out["status"].eq("ok")
    assert not (shown & (out["n"] < floor)).any()
    assert recoverable_cells(out) == []
    assert out.loc[~shown, "value"].isna().all()


# ---------------------------------------------------------------------------
# Teaching quality
# ---------------------------------------------------------------------------
def quality_rows(pairs: list[tuple[float, float]]) -> pd.DataFrame:
    k = len(pairs)
    return pd.DataFrame({
        "level": "school", "unit": [f"9900000{i}" for i in range(k)], "term": "HT2023",
        "school_year": "2023/24", "dimension": "overall",
        "estimate": np.linspace(0.1, 0.5, k), "se": 0.1, "conf_low": -0.1, "conf_high": 0.7,
        "n_obs": [o for _, o in pairs], "n_forms": [o for _, o in pairs],
        "n_teachers": [t for t, _ in pairs], "n_observers": 2, "reliability": 0.6})


@pytest.mark.parametrize("n_teachers, n_obs, suppressed, reason", [
    (2, 20, True, "för få lärare: 2 (minst 3)"),
    (3, 20, False, ""),
    (10, 4, True, "för få observerade lektioner: 4 (minst 5)"),
    (10, 5, False, ""),
    (2, 4, True, "för få lärare: 2 (minst 3); för få observerade lektioner: 4 (minst 5)"),
])
def test_quality_boundaries(n_teachers, n_obs, suppressed, reason):
    out = suppress_quality(quality_rows([(n_teachers, n_obs)]))
    row = out.iloc[0]
    assert bool(row["suppressed"]) is suppressed
    assert row["suppression_reason"] == reason
    for c in ("estimate", "se", "conf_low", "conf_high"):
        assert bool(np.isnan(row[c])) is suppressed
    # counts and reliability stay (ARCHITECTURE.md: suppressed rows keep n_*)
    assert row["n_teachers"] == n_teachers and row["n_obs"] == n_obs
    assert row["reliability"] == 0.6


def test_quality_raised_floors():
    out = suppress_quality(quality_rows([(3, 5), (4, 8)]), floors=Floors(teachers=4, obs=8))
    assert out["suppressed"].tolist() == [True, False]


def test_quality_unknown_counts_are_suppressed():
    df = quality_rows([(3, 5), (3, 5)])
    df["n_teachers"] = pd.array([pd.NA, 5], dtype="Int64")
    out = suppress_quality(df)
    assert out["suppressed"].tolist() == [True, False]
    assert out["suppression_reason"].iloc[0] == "antal lärare okänt"


def test_quality_keeps_earlier_suppression_and_is_idempotent():
    df = quality_rows([(10, 20), (2, 3)])
    df["suppressed"] = [True, False]
    df["suppression_reason"] = ["modellen kunde inte skatta värdet", ""]
    out = suppress_quality(df)
    assert out["suppressed"].tolist() == [True, True]
    assert out["suppression_reason"].iloc[0] == "modellen kunde inte skatta värdet"
    assert np.isnan(out["estimate"].iloc[0])
    pd.testing.assert_frame_equal(out, suppress_quality(out))
    assert df["estimate"].notna().all()  # input not mutated


def test_quality_missing_columns_refused():
    with pytest.raises(SuppressedValueError) as exc:
        suppress_quality(quality_rows([(3, 5)]).drop(columns="n_teachers"))
    assert exc.value.column == "n_teachers"


# ---------------------------------------------------------------------------
# Display
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("value, status, decimals, expected", [
    (231.44, None, 1, "231,4"),
    (2.25, None, 1, "2,3"),            # half away from zero, as publications round
    (-2.25, None, 1, "\u22122,3"),     # a real minus sign
    (0.05, None, 1, "0,1"),
    (-0.04, None, 1, "0,0"),           # no negative zero
    (1234.5, None, 1, f"1{NBSP}234,5"),
    (1234567.891, None, 2, f"1{NBSP}234{NBSP}567,89"),
    (0.678, None, 2, "0,68"),
    (12.6, None, 0, "13"),
    (12, None, 1, "12"),               # integers have no decimals
    (np.int64(3877), None, 1, f"3{NBSP}877"),
    (np.float64(88.0), "ok", 1, "88,0"),
    (231.4, "suppressed", 1, ".."),
    (np.nan, "suppressed", 1, ".."),
    (np.nan, "missing", 1, "."),
    (np.nan, "not_published", 1, "."),
    (np.nan, None, 1, "."),
    (None, None, 1, "."),
    (pd.NA, None, 1, "."),
    (np.nan, "approx_100", 1, "~100"),
    (np.nan, "excluded", 1, "*"),
    (np.nan, "ok", 1, "."),
])
def test_format_value(value, status, decimals, expected):
    assert format_value(value, status, decimals) == expected


def test_format_value_options_and_errors():
    assert format_value(1234.5, thousands=" ") == "1 234,5"
    assert format_value(231.4, np.nan) == "231,4"  # a missing status is no status
    with pytest.raises(ValueError, match="Okänd status"):
        format_value(1.0, "hidden")
    with pytest.raises(TypeError):
        format_value("12,3")  # type: ignore[arg-type]


def test_format_table_results():
    df = results_rows({"all": (220.04, 20), "girls": (230.0, 9), "boys": (211.0, 11)})
    out = format_table(df)
    assert out["value"].tolist() == ["220,0", "..", ".."]
    assert out["n"].tolist() == ["20", "9", "11"]
    assert df["value"].notna().all()  # input not mutated


def test_format_table_quality():
    df = quality_rows([(3, 5), (2, 40)])
    df["n_teachers"] = df["n_teachers"].astype(float)
    out = format_table(df, decimals={"estimate": 2, "reliability": 2})
    assert out["estimate"].tolist() == ["0,10", ".."]
    assert out["se"].tolist() == ["0,1", ".."]
    assert out["n_teachers"].tolist() == ["3", "2"]  # counts as whole numbers
    assert out["reliability"].tolist() == ["0,60", "0,60"]


def test_format_table_refuses_teacher_columns():
    df = quality_rows([(3, 5)]).assign(teacher_id="L6bff30")
    with pytest.raises(SuppressedValueError, match="enskilda lärare"):
        format_table(df)


def test_format_table_without_counts():
    df = pd.DataFrame({"term": ["within", "between"], "estimate": [0.12345, np.nan]})
    out = format_table(df, decimals=3)
    assert out["estimate"].tolist() == ["0,123", "."]


# ---------------------------------------------------------------------------
# No individual teacher
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("column", ["teacher_id", "Teacher", "teacher_name", "lärare",
                                    "Lärarkod", "larare_id", "lärar-id", "teachers"])
def test_teacher_identifier_columns_refused(column):
    df = pd.DataFrame({"school_id": ["99000001"], column: ["L6bff30"]})
    assert teacher_columns(df) == [column]
    with pytest.raises(SuppressedValueError) as exc:
        assert_no_teacher_columns(df, name="export.csv")
    assert exc.value.column == column
    assert "export.csv" in str(exc.value)


@pytest.mark.parametrize("column", ["n_teachers", "antal lärare", "n_teachers_known",
                                    "share_teachers_observed", "lärare"])
def test_teacher_counts_are_allowed(column):
    df = pd.DataFrame({"school_id": ["99000001"], column: [12]})
    assert teacher_columns(df) == []
    assert_no_teacher_columns(df)


def test_teacher_level_rows_and_index_refused():
    df = pd.DataFrame({"level": ["school", "teacher"], "unit": ["99000001", "L6bff30"],
                       "estimate": [0.1, 0.2]})
    with pytest.raises(SuppressedValueError, match="lärarnivå"):
        assert_no_teacher_columns(df)
    idx = pd.DataFrame({"estimate": [0.1]},
                       index=pd.Index(["L6bff30"], name="teacher_id"))
    with pytest.raises(SuppressedValueError):
        assert_no_teacher_columns(idx)


def test_teacher_pseudonym_cells_refused():
    df = pd.DataFrame({"school_id": ["99000001"], "unit": ["L6bff30"]})
    assert_no_teacher_columns(df)
    with pytest.raises(SuppressedValueError) as exc:
        assert_no_teacher_columns(df, teacher_ids=["L6bff30", "L0000aa"])
    assert exc.value.column == "unit"
    assert "L6bff30" not in str(exc.value)  # the message never repeats the pseudonym


def test_drop_teacher_identifiers():
    df = pd.DataFrame({"level": ["school", "teacher"], "teacher_id": ["x", "L6bff30"],
                       "estimate": [0.1, 0.2]})
    out = drop_teacher_identifiers(df)
    assert list(out.columns) == ["level", "estimate"]
    assert out["level"].tolist() == ["school"]
    assert "teacher_id" in df.columns and len(df) == 2  # not mutated
    assert_no_teacher_columns(out)
    multi = pd.DataFrame({"estimate": [0.1, 0.2]}, index=pd.MultiIndex.from_tuples(
        [("99000001", "L1"), ("99000001", "L2")], names=["school_id", "teacher_id"]))
    out = drop_teacher_identifiers(multi)
    assert list(out.index.names) == ["school_id"]


def test_observations_table_needs_more_than_dropping(synth_ds):
    obs = synth_ds.observations
    with pytest.raises(SuppressedValueError):
        assert_no_teacher_columns(obs)
    assert "teacher_id" not in drop_teacher_identifiers(obs).columns


# ---------------------------------------------------------------------------
# Observer roles, and one home for every floor
# ---------------------------------------------------------------------------
def test_observer_roles_below_the_floor_are_blanked():
    from undervisning_analys.privacy import MIN_OBSERVERS_PER_ROLE, suppress_observer_roles

    assert MIN_OBSERVERS_PER_ROLE == 3
    by_role = pd.DataFrame({"observer_role": ["rektor", "kollega", "extern", "annan"],
                            "n_observers": [2, 3, 7, np.nan],
                            "n_ratings": [40, 60, 140, 10],
                            "mean_deviation": [0.31, -0.12, 0.05, 0.2]})
    out = suppress_observer_roles(by_role)
    assert out["suppressed"].tolist() == [True, False, False, True]
    assert np.isnan(out.loc[0, "mean_deviation"]) and np.isnan(out.loc[3, "mean_deviation"])
    assert out.loc[1:2, "mean_deviation"].tolist() == [-0.12, 0.05]
    assert out["n_ratings"].tolist() == [40, 60, 140, 10]   # counts are kept
    assert by_role["mean_deviation"].notna().all()          # the input is not changed
    with pytest.raises(SuppressedValueError, match="n_observers"):
        suppress_observer_roles(by_role.drop(columns="n_observers"))

