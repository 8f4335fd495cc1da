"""Fuzz the Dataset validation (issue 7, "a property-based test … fuzzes … the Dataset
validation").

Random corruptions of the canonical tables of a small synthetic municipality
(dtype changes, NaN/None/NA injection, codes of the wrong length, values
outside the vocabularies, shuffled, dropped, renamed and extra columns,
duplicated rows, extreme numbers, odd indexes, empty tables) are handed to
``Dataset.build``. It must either build a Dataset or raise the package's own
error (ValidationError or another UAError) - never a bare Python or pandas
exception - and an error must say, in Swedish, where the problem is.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from undervisning_analys import synth
from undervisning_analys.dataset import Dataset
from undervisning_analys.errors import UAError, ValidationError

EXAMPLES = 300
TABLES = ("schools", "observations", "results", "background", "pupil_results")


@pytest.fixture(scope="module")
def base():
    ds = synth.municipality(seed=4, n_schools=4, n_years=2, pupils_per_grade=(8, 14))
    obs = ds.observations
    keep = obs["observation_id"].isin(obs["observation_id"].drop_duplicates().head(12))
    tables = {"schools": ds.schools, "observations": obs[keep],
              "results": ds.results.head(60), "background": ds.background,
              "pupil_results": ds.pupil_results.head(80)}
    # the uncorrupted tables build
    Dataset.build(instrument=ds.instrument, **tables)
    return ds.instrument, {k: v.copy() for k, v in tables.items()}


# --------------------------------------------------------------------------
# Corruptions: each takes (frame, draw) and returns a new frame
# --------------------------------------------------------------------------
ODD_VALUES = st.sampled_from([
    None, np.nan, pd.NA, pd.NaT, "", " ", "..", "okänd", "Rektor", "ALL", "12345678 ",
    "1234567", "123456789", "0000", "ÅÄÖ", "😀", "x" * 500, -1, 0, 1, 2.5, 99, 1e308,
    -math.inf, math.inf, True, b"bytes", ["lista"], {"a": 1}, pd.Timestamp("2099-01-01"),
    "2023/24", "2023/25", "HT2023", "VT2030", "2023-09-14"])


def _column(draw, df: pd.DataFrame) -> str:
    return draw(st.sampled_from(list(df.columns))) if len(df.columns) else ""


def c_dtype(df, draw):
    col = _column(draw, df)
    if not col:
        return df
    to = draw(st.sampled_from(["str", "object", "float", "int", "category", "bool",
                               "datetime", "Int64", "string"]))
    out = df.copy()
    s = out[col]
    try:
        if to == "str":
            out[col] = s.astype(str)
        elif to == "object":
            out[col] = s.astype(object)
        elif to == "float":
            out[col] = pd.to_numeric(s, errors="coerce").astype(float)
        elif to == "int":
            out[col] = pd.to_numeric(s, errors="coerce").fillna(0).astype(int)
        elif to == "category":
            out[col] = s.astype(str).astype("category")
        elif to == "bool":
            out[col] = s.notna()
        elif to == "datetime":
            out[col] = pd.to_datetime(s, errors="coerce", format="mixed")
        elif to == "Int64":
            out[col] = pd.to_numeric(s, errors="coerce").round().astype("Int64")
        else:
            out[col] = s.astype("string")
    except (TypeError, ValueError, OverflowError):
        out[col] = s.astype(str)
    return out


def c_nan(df, draw):
    col = _column(draw, df)
    if not col or not len(df):
        return df
    out = df.copy()
    out[col] = out[col].astype(object)
    rows = draw(st.lists(st.integers(0, len(df) - 1), min_size=1, max_size=5))
    na = draw(st.sampled_from([None, np.nan, pd.NA, pd.NaT]))
    for r in rows:
        out.iat[r, out.columns.get_loc(col)] = na
    return out


def c_code_length(df, draw):
    cols = [c for c in ("school_id", "municipality_id") if c in df.columns]
    if not cols or not len(df):
        return df
    col = draw(st.sampled_from(cols))
    how = draw(st.sampled_from(["short", "long", "space", "letter", "int", "float"]))
    out = df.copy()
    r = draw(st.integers(0, len(df) - 1))
    v = out[col].iat[r]
    v = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    new: object = {"short": v[:-1], "long": v + "0", "space": f" {v}", "letter": "A" + v[1:],
                   "int": int(v) if v.isdigit() else 7, "float": float(v) if v.isdigit()
                   else 7.5}[how]
    out[col] = out[col].astype(object)
    out.iat[r, out.columns.get_loc(col)] = new
    return out


def c_vocab(df, draw):
    cols = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)
            or c in ("measure", "grade", "subject", "item_id", "term", "school_year")]
    if not cols or not len(df):
        return df
    col = draw(st.sampled_from(cols))
    value = draw(st.one_of(st.text(max_size=12), ODD_VALUES))
    out = df.copy()
    out[col] = out[col].astype(object)
    out.iat[draw(st.integers(0, len(df) - 1)), out.columns.get_loc(col)] = value
    return out


def c_odd_value(df, draw):
    col = _column(draw, df)
    if not col or not len(df):
        return df
    out = df.copy()
    out[col] = out[col].astype(object)
    out.iat[draw(st.integers(0, len(df) - 1)), out.columns.get_loc(col)] = draw(ODD_VALUES)
    return out


def c_shuffle(df, draw):
    order = draw(st.permutations(list(df.columns)))
    return df[list(order)]


def c_drop_column(df, draw):
    col = _column(draw, df)
    return df.drop(columns=[col]) if col else df


def c_rename_column(df, draw):
    col = _column(draw, df)
    if not col:
        return df
    new = draw(st.sampled_from([col.upper(), col + " ", "Skolenhetskod", "värde", "", 0]))
    return df.rename(columns={col: new})


def c_extra_column(df, draw):
    out = df.copy()
    out[draw(st.sampled_from(["teacher_name", "extra", "personnummer", "Unnamed: 0"]))] = \
        draw(ODD_VALUES) if len(df) else []
    return out


def c_duplicate_rows(df, draw):
    if not len(df):
        return df
    r = draw(st.integers(0, len(df) - 1))
    return pd.concat([df, df.iloc[[r]]])


def c_index(df, draw):
    out = df.copy()
    kind = draw(st.sampled_from(["strings", "duplicates", "multi", "float", "reset"]))
    n = len(out)
    if kind == "strings":
        out.index = [f"r{i}" for i in range(n)]
    elif kind == "duplicates":
        out.index = [0] * n
    elif kind == "multi" and n:
        out.index = pd.MultiIndex.from_arrays([range(n), range(n)])
    elif kind == "float":
        out.index = np.arange(n) + 0.5
    else:
        out = out.reset_index(drop=True)
    return out


def c_empty(df, draw):
    return df.iloc[0:0]


def c_attrs(df, draw):
    out = df.copy()
    out.attrs = {"source": draw(st.sampled_from([None, "", "fil.csv", 3, ["a"]]))}
    return out


CORRUPTIONS = {f.__name__[2:]: f for f in (
    c_dtype, c_nan, c_code_length, c_vocab, c_odd_value, c_shuffle, c_drop_column,
    c_rename_column, c_extra_column, c_duplicate_rows, c_index, c_empty, c_attrs)}


@st.composite
def corrupted(draw, tables: dict[str, pd.DataFrame]):
    out = dict(tables)
    applied = []
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from(TABLES))
        name = draw(st.sampled_from(sorted(CORRUPTIONS)))
        out[table] = CORRUPTIONS[name](out[table], draw)
        applied.append(f"{table}:{name}")
    if draw(st.booleans()):  # pupil_results is optional
        out["pupil_results"] = None if draw(st.booleans()) else out["pupil_results"]
    return applied, out


_SWEDISH = ("tabellen", "kolumn", "rad", "saknar", "finns", "okänd", "värde", "fel")


def test_fuzzed_tables_build_or_raise_the_packages_error(base):
    instrument, tables = base
    seen: dict[str, int] = {"built": 0, "ValidationError": 0, "other UAError": 0}
    kinds: set[str] = set()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(corrupted(tables))
    def run(example):
        applied, frames = example
        kinds.update(a.split(":")[1] for a in applied)
        try:
            ds = Dataset.build(instrument=instrument, **frames)
        except ValidationError as exc:
            seen["ValidationError"] += 1
            _check_message(exc, applied)
        except UAError as exc:
            seen["other UAError"] += 1
            _check_message(exc, applied)
        else:
            seen["built"] += 1
            assert isinstance(ds, Dataset)
            assert str(ds.schools["school_id"].dtype) in ("object", "str", "string")

    run()
    total = sum(seen.values())
    print(f"\n{total} fuzzed Datasets: " + ", ".join(f"{k} {v}" for k, v in seen.items()))
    assert total >= EXAMPLES
    assert kinds == set(CORRUPTIONS), set(CORRUPTIONS) - kinds
    assert seen["ValidationError"] > EXAMPLES // 4 and seen["built"] > 0


def _check_message(exc: UAError, applied: list[str]) -> None:
    msg = str(exc)
    assert msg and any(w in msg.lower() for w in _SWEDISH), (applied, msg)
    assert "Traceback" not in msg and "Error:" not in msg, (applied, msg)
    assert len(msg) < 5000, (applied, len(msg))
