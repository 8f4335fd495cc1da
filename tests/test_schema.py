"""Canonical schemas: valid tables pass, every kind of bad cell names table/file, row, column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from undervisning_analys import schema
from undervisning_analys.errors import ValidationError


def _schools(**over):
    d = {"school_id": ["12345678", "23456789"], "school_name": ["A-skolan", "B-skolan"],
         "municipality_id": ["0604", "0604"], "municipality_name": ["Aneby", "Aneby"],
         "principal_type": ["kommunal", "enskild"]}
    d.update(over)
    df = pd.DataFrame(d, index=pd.Index([2, 3], name="rad"))
    df.attrs["source"] = "skolor.csv"
    return df


def _results(**over):
    d = {"level": ["school"], "school_id": ["12345678"], "municipality_id": ["0604"],
         "school_year": ["2023/24"], "measure": ["merit_17"], "group": ["all"],
         "principal_type": ["all"], "value": [231.5], "n": [40], "status": ["ok"],
         "source": ["x.csv"]}
    d.update(over)
    return pd.DataFrame(d)


def test_valid_schools_get_canonical_dtypes():
    out = schema.validate("schools", _schools())
    assert isinstance(out["principal_type"].dtype, pd.CategoricalDtype)
    assert list(out["principal_type"].cat.categories) == ["kommunal", "enskild"]
    assert out["school_id"].tolist() == ["12345678", "23456789"]
    assert out.attrs["source"] == "skolor.csv"


@pytest.mark.parametrize("column,value,expect", [
    ("school_id", ["12345678", "1234"], "kolumn `school_id`"),
    ("municipality_id", ["0604", "604"], "kolumn `municipality_id`"),
    ("principal_type", ["kommunal", "privat"], "okänt värde"),
])
def test_bad_school_cell_names_file_row_column(column, value, expect):
    with pytest.raises(ValidationError) as ei:
        schema.validate("schools", _schools(**{column: value}))
    msg = str(ei.value)
    assert expect in msg
    assert "rad 3" in msg and "skolor.csv" in msg
    assert ei.value.row == 3 and ei.value.column == column


def test_missing_and_extra_columns_are_refused():
    df = _schools().drop(columns="school_name")
    with pytest.raises(ValidationError, match="saknar kolumnerna school_name"):
        schema.validate("schools", df)
    df = _schools().assign(personnummer="x")
    with pytest.raises(ValidationError, match="okända kolumner: personnummer"):
        schema.validate("schools", df)


def test_results_status_rules():
    ok = schema.validate("results", _results())
    assert ok["value"].iloc[0] == 231.5
    sup = schema.validate("results", _results(value=[np.nan], status=["suppressed"]))
    assert sup["status"].iloc[0] == "suppressed"
    with pytest.raises(ValidationError, match="status ok men värde saknas"):
        schema.validate("results", _results(value=[np.nan]))
    with pytest.raises(ValidationError, match="prickat eller saknat värde"):
        schema.validate("results", _results(status=["suppressed"]))
    with pytest.raises(ValidationError, match="okänt mått"):
        schema.validate("results", _results(measure=["meritvarde"]))
    with pytest.raises(ValidationError, match="kolumn `school_year`"):
        schema.validate("results", _results(school_year=["2023-24"]))


def test_measure_vocabulary_patterns():
    assert schema.is_known_measure("merit_16")
    assert schema.is_known_measure("np_ma_9_avg_points")
    assert schema.is_known_measure("kolada_N15419")
    assert not schema.is_known_measure("np_ma_7_avg_points")
    assert "matematik" in schema.measure_label("np_ma_9_pass_pct")


def test_term_helpers():
    assert schema.term_of(pd.Timestamp(2023, 9, 14)) == "HT2023"
    assert schema.term_of(pd.Timestamp(2024, 3, 1)) == "VT2024"
    assert schema.school_year_of(pd.Timestamp(2024, 3, 1)) == "2023/24"
    assert schema.school_year_of(pd.Timestamp(1999, 8, 1)) == "1999/00"
    assert schema.term_school_year("VT2024") == "2023/24"
    assert schema.term_index("VT2024") - schema.term_index("HT2023") == 0.5


def test_term_index_orders_terms_in_time():
    terms = ["HT2022", "VT2023", "HT2023", "VT2024"]
    idx = [schema.term_index(t) for t in terms]
    assert idx == sorted(idx)
    assert np.diff(idx).tolist() == [0.5, 0.5, 0.5]


def test_observation_term_must_match_school_year(small_ds):
    obs = small_ds.observations.head(3).copy()
    obs["term"] = obs["term"].astype(str)
    obs.loc[obs.index[0], "term"] = "VT2031"
    with pytest.raises(ValidationError, match="terminen hör inte till läsåret"):
        schema.validate("observations", obs, scale=(1, 4))


def test_score_outside_scale(small_ds):
    obs = small_ds.observations.head(3).copy()
    obs.loc[obs.index[1], "score"] = 7
    with pytest.raises(ValidationError) as ei:
        schema.validate("observations", obs, scale=(1, 4))
    assert ei.value.column == "score" and "7" in str(ei.value)


def test_empty_tables_validate():
    for t in schema.TABLES:
        out = schema.validate(t, schema.empty(t), scale=(1, 4)) if t == "observations" else \
            schema.validate(t, schema.empty(t))
        assert len(out) == 0
