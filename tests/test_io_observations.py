"""read_observations: the sample export, form-tool variants, and every refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_io_support import SAMPLE, luhn_digit, needs_sample

from undervisning_analys import load_instrument
from undervisning_analys.errors import (
    DuplicateRowsError,
    FileFormatError,
    MissingColumnError,
    PersonalNumberFound,
    ScaleError,
    UnknownItemError,
    UnknownSchoolError,
    ValueFormatError,
)
from undervisning_analys.io import read_observations

INST = load_instrument()
HEAD = ["Svars-ID", "Lektions-ID", "Datum", "Skolenhetskod", "Lärarkod", "Observatörskod",
        "Observatörens roll", "Typ av besök", "Ämne", "Årskurs"]


def items_head(style: str = "id_text") -> list[str]:
    if style == "id_text":
        return [f"{it.id}. {it.text}" for it in INST.items]
    if style == "id":
        return [it.id for it in INST.items]
    return [it.text for it in INST.items]


def form(rows: list[list[str]], style: str = "id_text", delimiter: str = ",") -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(HEAD + items_head(style))
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def row(rid="1", lesson="LEK1", date="2023-09-14", school="12345678", teacher="L1",
        observer="O1", role="Rektor", kind="Spontant besök", subject="Matematik", grade="7",
        scores=None) -> list[str]:
    scores = scores if scores is not None else ["3"] * len(INST.items)
    return [rid, lesson, date, school, teacher, observer, role, kind, subject, grade, *scores]


def write(tmp_path: Path, text: str, name: str = "obs.csv", encoding: str = "utf-8-sig"
          ) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


@needs_sample
def test_sample_export_reproduces_the_synthetic_observations(synth_ds):
    inst = load_instrument(SAMPLE / "protokoll.yaml")
    df = read_observations(SAMPLE / "observationer.csv", inst)
    prov = df.attrs["provenance"]
    assert df.index.name == "rad" and df.attrs["source"] == "observationer.csv"
    assert prov.rows_read == 2470 and prov.rows_kept == len(df) == 2470 * 12
    raw = pd.read_csv(SAMPLE / "observationer.csv", dtype=str, encoding="utf-8-sig")
    n_blank = int(raw.iloc[:, 10:].isna().sum().sum())
    assert int(df["score"].isna().sum()) == n_blank
    assert f"obesvarade påståenden: {n_blank} av {len(df)}" in prov.notes
    keys = ["observation_id", "observer_id", "item_id"]
    m = df.reset_index(drop=True).merge(synth_ds.observations, on=keys, how="outer",
                                        indicator=True, suffixes=("", "_ds"))
    assert (m["_merge"] == "both").all()
    for col in ("school_id", "teacher_id", "observer_role", "observation_type", "date",
                "school_year", "term", "subject", "grade_level"):
        assert (m[col].astype(str) == m[col + "_ds"].astype(str)).all(), col
    assert np.allclose(m["score"], m["score_ds"].astype(float), equal_nan=True)
    # line numbers point at the export's lines
    first = raw.iloc[0]
    assert set(df.loc[2, "observation_id"]) == {first["Lektions-ID"]}


@pytest.mark.parametrize("style", ["id_text", "id", "text"])
@pytest.mark.parametrize("delimiter,encoding", [(",", "utf-8-sig"), (";", "utf-8"),
                                                (";", "cp1252")])
def test_wide_variants(tmp_path, style, delimiter, encoding):
    rows = [row(), row(rid="2", observer="O2", role="Förstelärare",
                       scores=["4", "", "2", "1"] + ["3"] * 8)]
    df = read_observations(write(tmp_path, form(rows, style, delimiter), encoding=encoding))
    assert len(df) == 24 and int(df["score"].isna().sum()) == 1
    assert set(df["observer_role"].astype(str)) == {"rektor", "forstelarare"}
    assert set(df["term"]) == {"HT2023"} and set(df["school_year"]) == {"2023/24"}
    assert df.loc[3].set_index("item_id").loc["KL1", "score"] == 4.0


def test_labels_dates_and_grade_forms(tmp_path):
    labels = [INST.labels[1], INST.labels[4].upper(), f"2 – {INST.labels[2]}", "Ej observerat"]
    rows = [row(date="14 september 2023", grade="åk 7", scores=labels + ["3"] * 8),
            row(rid="2", lesson="LEK2", date="3/2 2024", grade="F", kind="Kollegial observation",
                role="Extern observatör"),
            row(rid="3", lesson="LEK3", date="20240410", grade="", kind="Planerat besök")]
    df = read_observations(write(tmp_path, form(rows)))
    first = df.loc[2].set_index("item_id")["score"]
    assert list(first[["KL1", "KL2", "KL3"]]) == [1.0, 4.0, 2.0] and np.isnan(first["KL4"])
    dates = df.groupby("observation_id")["date"].first()
    assert list(dates.dt.strftime("%Y-%m-%d")) == ["2023-09-14", "2024-02-03", "2024-04-10"]
    terms = df.groupby("observation_id")["term"].first()
    assert list(terms) == ["HT2023", "VT2024", "VT2024"]
    gl = df.groupby("observation_id")["grade_level"].first()
    assert gl["LEK1"] == 7 and gl["LEK2"] == 0 and pd.isna(gl["LEK3"])


def test_long_format_and_xlsx(tmp_path):
    recs = []
    for it in INST.items:
        recs.append({"Lektions-ID": "LEK1", "Datum": "2023-10-02", "Skolenhetskod": "12345678",
                     "Lärarkod": "L1", "Observatörskod": "O1", "Observatörens roll": "Rektor",
                     "Typ av besök": "Planerat besök", "Ämne": "Svenska", "Årskurs": 8,
                     "Påstående": it.id, "Poäng": 2})
    long = pd.DataFrame(recs)
    p = tmp_path / "lang.xlsx"
    long.to_excel(p, index=False)
    df = read_observations(p)
    assert len(df) == 12 and (df["score"] == 2.0).all()
    assert list(df.index.unique()) == list(range(2, 14))  # Excel rows
    assert "långt" in " ".join(df.attrs["provenance"].notes)


def test_extra_columns_mapping_and_metadata_ignored(tmp_path):
    text = form([row()]).splitlines()
    text[0] = "Tidstämpel," + text[0] + ",Kommentar"
    text[1] = "2023-09-14 10:00," + text[1] + ",bra lektion"
    p = write(tmp_path, "\n".join(text) + "\n")
    with pytest.raises(FileFormatError, match="Kommentar"):
        read_observations(p)
    df = read_observations(p, columns={"Kommentar": None})
    assert "Tidstämpel" in " ".join(df.attrs["provenance"].notes)


# --------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------
def test_score_outside_scale(tmp_path):
    rows = [row(), row(rid="2", lesson="LEK2", scores=["3", "7"] + ["3"] * 10)]
    with pytest.raises(ScaleError) as ei:
        read_observations(write(tmp_path, form(rows), name="obs.csv"))
    e = ei.value
    assert e.row == 3 and e.column.startswith("KL2.")
    assert "obs.csv" in str(e) and "rad 3" in str(e) and "1–4" in str(e) and "'7" in str(e)


def test_non_integer_score(tmp_path):
    with pytest.raises(ScaleError, match="rad 2"):
        read_observations(write(tmp_path, form([row(scores=["2,5"] + ["3"] * 11)])))


def test_unreadable_score(tmp_path):
    with pytest.raises(ValueFormatError, match="Poängen går inte att läsa.*rad 2: 'bra"):
        read_observations(write(tmp_path, form([row(scores=["bra"] + ["3"] * 11)])))


def test_unknown_item(tmp_path):
    text = form([row(scores=["3"] * 13)]).splitlines()
    text[0] += ",KL9. Ett påstående som inte finns"
    with pytest.raises(UnknownItemError) as ei:
        read_observations(write(tmp_path, "\n".join(text) + "\n"))
    assert ei.value.row == 1 and ei.value.column == "KL9. Ett påstående som inte finns"
    assert "ua-grunddimensioner" in str(ei.value)


def test_unknown_column(tmp_path):
    text = form([row(scores=["3"] * 13)]).splitlines()
    text[0] += ",Väder"
    with pytest.raises(FileFormatError) as ei:
        read_observations(write(tmp_path, "\n".join(text) + "\n", name="f.csv"))
    assert ei.value.column == "Väder" and "f.csv" in str(ei.value) and "kolumner.yaml" in str(ei.value)


def test_unknown_school(tmp_path):
    rows = [row(), row(rid="2", lesson="LEK2", school="99999999")]
    with pytest.raises(UnknownSchoolError) as ei:
        read_observations(write(tmp_path, form(rows)), schools=["12345678"])
    assert ei.value.row == 3 and ei.value.column == "Skolenhetskod" and "99999999" in str(ei.value)


def test_duplicate_response_and_duplicate_observer(tmp_path):
    with pytest.raises(DuplicateRowsError, match="svars-id.*rad 2.*rad 3"):
        read_observations(write(tmp_path, form([row(), row(lesson="LEK2")])))
    # the same form submitted twice (another response id, identical answers) is one form:
    # dropped and counted in provenance (issue #13), never refused and never kept twice
    df = read_observations(write(tmp_path, form([row(), row(rid="2")])))
    assert df["observation_id"].nunique() == 1 and len(df) == len(INST.items)
    assert df.attrs["provenance"].dropped == {
        "identiska dubbletter av formulär (samma svar två gånger)": 1}
    # a corrected form (same lesson and observer, another answer) is refused, both rows named
    with pytest.raises(DuplicateRowsError) as ei:
        read_observations(write(tmp_path, form([row(), row(rid="2", scores=["2"] * len(INST.items))])))
    assert "rad 2" in str(ei.value) and "rad 3" in str(ei.value) and ei.value.row == 2


def test_bad_date_and_role(tmp_path):
    with pytest.raises(ValueFormatError, match="Datumet.*rad 2.*'igår'.*kolumn `Datum`"):
        read_observations(write(tmp_path, form([row(date="igår")])))
    with pytest.raises(ValueFormatError, match="roll.*rad 2.*'Skolchef'"):
        read_observations(write(tmp_path, form([row(role="Skolchef")])))
    with pytest.raises(ValueFormatError, match="typ av besök.*'Digitalt'"):
        read_observations(write(tmp_path, form([row(kind="Digitalt")])))


def test_missing_column(tmp_path):
    text = form([row()]).replace("Lärarkod", "Lärarens namn")
    with pytest.raises(FileFormatError) as ei:
        read_observations(write(tmp_path, text))
    assert "Lärarens namn" in str(ei.value)
    text = "\n".join(",".join(c for k, c in enumerate(ln.split(",")) if k != 4)
                     for ln in form([row()], style="id").splitlines())
    with pytest.raises(MissingColumnError, match="Lärarkod"):
        read_observations(write(tmp_path, text))


def test_personnummer_as_teacher_code_refused(tmp_path):
    a = "19800101-000" + luhn_digit("800101000")
    b = "198001010" + "01" + luhn_digit("800101001")
    rows = [row(teacher=a), row(rid="2", lesson="L2", teacher=b)]
    with pytest.raises(PersonalNumberFound) as ei:
        read_observations(write(tmp_path, form(rows), name="pnr.csv"))
    msg = str(ei.value)
    assert ei.value.column == "Lärarkod" and "pnr.csv" in msg and "19800101" not in msg
