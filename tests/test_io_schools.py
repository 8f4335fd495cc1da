"""read_schools: the sample register, variants and refusals."""

from __future__ import annotations

import pandas as pd
import pytest
from test_io_support import SAMPLE, needs_sample

from undervisning_analys.errors import DuplicateRowsError, MissingColumnError, ValueFormatError
from undervisning_analys.io import read_schools

REG = ("Skolenhetskod;Skola;Kommun-kod;Kommun;Typ av huvudman;Skolområde;Årskurser\n"
       "12345678;Alfaskolan;0604;Aneby;Kommunal;Norr;F-9\n"
       "23456789;Betaskolan;0604;Aneby;Fristående;;7-9\n")


@needs_sample
def test_sample_register(synth_ds):
    df = read_schools(SAMPLE / "skolregister.csv")
    assert df.attrs["table"] == "schools" and df.index.name == "rad"
    assert list(df.index) == list(range(2, 22))
    a = df.set_index("school_id").sort_index()
    b = synth_ds.schools.set_index("school_id").sort_index()
    for col in ("school_name", "municipality_id", "municipality_name", "principal_type", "area",
                "grades"):
        assert (a[col].astype(str) == b[col].astype(str)).all(), col


def test_variants_xlsx_numeric_codes(tmp_path):
    df = pd.DataFrame({"Skol-enhetskod": [12345678, 2345678], "Skolnamn": ["A", "B"],
                       "Kommunkod": [604, 604], "Huvudmannatyp": ["kommunal", "Enskild"]})
    p = tmp_path / "reg.xlsx"
    df.to_excel(p, index=False)
    out = read_schools(p)
    assert list(out["school_id"]) == ["12345678", "02345678"]
    assert set(out["municipality_id"]) == {"0604"} and out["area"].isna().all()


def test_extra_columns_are_named_in_provenance(tmp_path):
    p = tmp_path / "reg.csv"
    p.write_text(REG.replace("Årskurser\n", "Årskurser;Adress\n").replace("F-9\n", "F-9;Väg 1\n")
                 .replace("7-9\n", "7-9;Väg 2\n"), encoding="utf-8")
    out = read_schools(p)
    assert out.loc[3, "principal_type"] == "enskild" and pd.isna(out.loc[3, "area"])
    assert "Adress" in " ".join(out.attrs["provenance"].notes)


def test_refusals(tmp_path):
    p = tmp_path / "reg.csv"
    p.write_text(REG.replace("23456789", "2345678X"), encoding="utf-8")
    with pytest.raises(ValueFormatError) as ei:
        read_schools(p)
    assert (ei.value.row, ei.value.column) == (3, "Skolenhetskod") and "reg.csv" in str(ei.value)
    p.write_text(REG.replace("Fristående", "Statlig"), encoding="utf-8")
    with pytest.raises(ValueFormatError, match="huvudman.*rad 3: 'Statlig'"):
        read_schools(p)
    p.write_text(REG.replace("23456789", "12345678"), encoding="utf-8")
    with pytest.raises(DuplicateRowsError, match="rad 2.*rad 3"):
        read_schools(p)
    p.write_text(REG.replace("Typ av huvudman", "Huvudman"), encoding="utf-8")
    with pytest.raises(MissingColumnError, match="Typ av huvudman"):
        read_schools(p)
