"""read_skolverket: every real export loads, statuses equal the file's markers, spot values.

Marker counts are taken independently of the loader (test_io_support.csv_block
splits the data block on ';'; the workbook is read with openpyxl directly).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pandas as pd
import pytest
from test_io_support import (
    F_AK6_CSV,
    F_AK6_XLSX,
    F_ELEVER_2015,
    F_ELEVER_2022,
    F_ELEVER_KOMMUN,
    F_NP,
    F_PANEL,
    F_PERSONAL,
    KOMMUN,
    SAMPLE,
    SKOLENHET,
    count_markers,
    csv_block,
    needs_real,
    needs_sample,
    status_counts,
)

from undervisning_analys import schema
from undervisning_analys.errors import (
    FileFormatError,
    MissingColumnError,
    UnknownReportError,
    ValueFormatError,
)
from undervisning_analys.io import KNOWN_REPORTS, read_skolverket

PRINCIPALS = {"Samtliga", "Kommunal", "Enskild"}


@functools.cache
def load(path: Path, table: str | None = None) -> pd.DataFrame:
    """Each real file is read once per table in this module (the tests do not change it)."""
    return read_skolverket(path, table=table)


def one(df: pd.DataFrame, **kw) -> pd.Series:
    sel = df
    for k, v in kw.items():
        sel = sel[sel[k].astype(str) == v]
    assert len(sel) == 1, (kw, len(sel))
    return sel.iloc[0]


@pytest.fixture(scope="module")
def panel():
    if not (KOMMUN / F_PANEL).exists():
        pytest.skip("../shared/real-data saknas")
    return load(KOMMUN / F_PANEL), load(KOMMUN / F_PANEL, "background")


# --------------------------------------------------------------------------
# Every real file loads, as a canonical table with provenance
# --------------------------------------------------------------------------
@needs_real
@pytest.mark.parametrize("folder,name,table,report", [
    ("skolverket-kommun", F_ELEVER_KOMMUN, "background", "elever"),
    ("skolverket-kommun", F_AK6_CSV, "results", "betyg_ak6"),
    ("skolverket-kommun", F_AK6_XLSX, "results", "betyg_ak6"),
    ("skolverket-kommun", F_PERSONAL, "results", "personal"),
    ("skolverket-kommun", F_NP, "results", "nationella_prov"),
    ("skolverket-skolenhet", F_ELEVER_2015, "background", "elever"),
    ("skolverket-skolenhet", F_ELEVER_2022, "background", "elever"),
])
def test_every_real_export_loads(folder, name, table, report):
    from test_io_support import REAL

    df = load(REAL / folder / name)
    assert df.attrs["table"] == table and df.attrs["report"] == report
    assert df.attrs["source"] == name and df.index.name == "rad"
    prov = df.attrs["provenance"]
    assert prov.path == name and prov.rows_kept == len(df) and len(prov.sha256) == 64
    schema.validate(table, df)  # already canonical
    assert len(df) > 0


# --------------------------------------------------------------------------
# Statuses equal the markers in the file
# --------------------------------------------------------------------------
@needs_real
def test_np_statuses_equal_markers_and_spot_values():
    df = load(KOMMUN / F_NP)
    header, rows = csv_block(KOMMUN / F_NP)
    kept = [r for r in rows if r[4] in PRINCIPALS]
    expected = count_markers(c for r in kept for c in r[6:18])
    assert status_counts(df) == expected
    assert expected == {"suppressed": 5221, "approx_100": 2094, "missing": 332}
    assert len(df) == 12 * len(kept)
    assert set(df["school_year"]) == {"2023/24"}  # from "Valt läsår", not the file name (2024)
    ale = df[(df["municipality_id"] == "1440") & (df["principal_type"] == "all")]
    assert one(ale, measure="np_en_9_n", group="all")["value"] == 371
    assert one(ale, measure="np_en_9_pass_pct", group="all")["value"] == pytest.approx(98.1)
    girls = one(ale, measure="np_en_9_pass_pct", group="girls")
    assert girls["status"] == "approx_100" and math.isnan(girls["value"])
    assert one(ale, measure="np_en_9_avg_points", group="boys")["value"] == pytest.approx(15.9)
    assert one(ale, measure="np_sva_9_pass_pct", group="girls")["value"] == pytest.approx(100.0)
    assert one(ale, measure="np_en_9_pass_pct", group="all")["n"] == 371


@needs_real
@pytest.mark.parametrize("name", [F_AK6_CSV, F_AK6_XLSX])
def test_grade6_statuses_equal_markers(name):
    df = load(KOMMUN / name)
    header, rows = csv_block(KOMMUN / F_AK6_CSV)
    kept = [r for r in rows if r[4] in PRINCIPALS]
    # 'Antal elever' (column 6) is only n; the four measures are columns 7-10
    assert status_counts(df) == count_markers(c for r in kept for c in r[6:10])
    dropped = df.attrs["provenance"].dropped
    assert sum(dropped.values()) == len(rows) - len(kept) == 4  # Statlig
    ale = df[df["municipality_id"] == "1440"]
    assert one(ale, measure="grade6_pass_all_subjects_pct",
               principal_type="all")["value"] == pytest.approx(75.7)
    ensk = ale[ale["principal_type"] == "enskild"].set_index("measure")
    assert ensk.loc["grade6_pass_all_subjects_pct", "status"] == "approx_100"
    assert ensk.loc["grade6_fail_one_subject_pct", "status"] == "suppressed"
    assert ensk.loc["grade6_fail_several_subjects_pct", "status"] == "missing"
    assert ensk.loc["grade6_avg_subject_grades", "value"] == pytest.approx(17.0)
    assert (ensk["n"] == 25).all()


@needs_real
def test_grade6_csv_and_xlsx_agree():
    a = load(KOMMUN / F_AK6_CSV).reset_index(drop=True)
    b = load(KOMMUN / F_AK6_XLSX).reset_index(drop=True)
    cols = ["municipality_id", "principal_type", "measure", "status", "n"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert ((a["value"] - b["value"]).abs().fillna(0) < 1e-9).all()


@needs_real
def test_teacher_statistics_markers_and_values():
    df = load(KOMMUN / F_PERSONAL)
    header, rows = csv_block(KOMMUN / F_PERSONAL)
    kept = [r for r in rows if r[4] in PRINCIPALS]
    mapped = [5, 7, 9, 11, 12]  # FTE total, FTE share, teachers, share, förstelärare
    assert status_counts(df) == count_markers(r[j] for r in kept for j in mapped)
    ale = df[(df["municipality_id"] == "1440") & (df["principal_type"] == "all")]
    ale = ale.set_index("measure")["value"]
    assert ale["teachers_fte"] == pytest.approx(280.0)
    assert ale["certified_teachers_fte_pct"] == pytest.approx(76.5)
    assert ale["teachers_n"] == 313 and ale["first_teachers_n"] == 38
    assert ale["certified_teachers_pct"] == pytest.approx(85.6)
    assert set(df["school_year"]) == {"2024/25"}
    assert "Region" in " ".join(df.attrs["provenance"].dropped)


# --------------------------------------------------------------------------
# Background: pupil counts and composition
# --------------------------------------------------------------------------
@needs_real
@pytest.mark.parametrize("name,year", [(F_ELEVER_2015, "2015/16"), (F_ELEVER_2022, "2022/23")])
def test_school_unit_background(name, year):
    df = load(SKOLENHET / name)
    header, rows = csv_block(SKOLENHET / name)
    assert len(df) == len(rows) and set(df["level"].astype(str)) == {"school"}
    assert set(df["school_year"]) == {year}
    cols = {"n_pupils": "Elever, årskurs 1-9", "share_girls": "Andel (%) flickor, årskurs 1-9",
            "share_foreign_background": "Andel (%) elever med utländsk bakgrund, åk 1-9",
            "share_parents_higher_edu":
                "Andel (%) elever med föräldrar med eftergymnasial utb., åk 1-9"}
    for col, head in cols.items():
        j = header.index(head)
        n_markers = sum(1 for r in rows if r[j] in ("..", ".", "~100", "*", "-"))
        assert int(df[col].isna().sum()) == n_markers, col
    ahl = df[df["school_id"] == "71387206"].iloc[0]
    if year == "2015/16":  # integer shares in older files
        assert (ahl["n_pupils"], ahl["share_girls"], ahl["share_parents_higher_edu"]) == \
            (235, 49.0, 62.0)
        assert math.isnan(ahl["share_foreign_background"])  # '..'
    else:
        assert ahl["n_pupils"] == 258 and ahl["share_girls"] == pytest.approx(48.4)
        assert ahl["share_foreign_background"] == pytest.approx(4.7)
    assert "markörer" in " ".join(df.attrs["provenance"].notes)


@needs_real
def test_municipality_pupil_counts_background():
    df = load(KOMMUN / F_ELEVER_KOMMUN)
    assert len(df) == 290 and set(df["school_year"]) == {"2024/25"}
    ale = df[df["municipality_id"] == "1440"].iloc[0]
    assert ale["n_pupils"] == 4102  # "4 102": space as thousands separator
    assert ale["share_girls"] == pytest.approx(47.8)
    dropped = df.attrs["provenance"].dropped
    assert sum(dropped.values()) == 778 - 290


@needs_real
def test_school_unit_export_gives_schools_table():
    s = load(SKOLENHET / F_ELEVER_2022, "schools")
    assert s.attrs["table"] == "schools" and s["school_id"].is_unique
    row = s[s["school_id"] == "72616393"].iloc[0]
    assert (row["school_name"], row["municipality_id"], row["principal_type"]) == \
        ("Alboskolan", "1440", "kommunal")


# --------------------------------------------------------------------------
# The år 9 panel workbook
# --------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _panel_cells() -> dict[str, list[tuple]]:
    import openpyxl

    wb = openpyxl.load_workbook(KOMMUN / F_PANEL, read_only=True, data_only=True)
    out = {ws.title: [r for r in ws.iter_rows(min_row=9, values_only=True)]
           for ws in wb.worksheets}
    wb.close()
    return out


def _sheet_markers(sheets, indicators):
    cells = []
    for title, rows in _panel_cells().items():
        if title in sheets:
            for r in rows:
                if r[4] in indicators:
                    cells.extend(r[5:15])
    return count_markers(cells)


@needs_real
def test_panel_gives_ten_year_panel_for_290_municipalities(panel):
    res, bg = panel
    assert res.attrs["report"] == "over_tid" and res.attrs["source"] == F_PANEL
    assert res.index.name == "rad" and res.attrs["provenance"].rows_kept == len(res)
    allp = res[res["principal_type"] == "all"]
    assert allp["municipality_id"].nunique() == 290
    counts = allp[allp["measure"] == "merit_17"].groupby("municipality_id")["school_year"].nunique()
    assert (counts == 10).all()
    assert sorted(set(res["school_year"])) == [f"{y}/{(y + 1) % 100:02d}"
                                               for y in range(2015, 2025)]
    assert set(res["principal_type"].astype(str)) == {"all", "kommunal", "enskild"}
    ale = allp[allp["municipality_id"] == "1440"]
    assert one(ale, measure="merit_17", school_year="2024/25")["value"] == pytest.approx(224.5)
    assert one(ale, measure="merit_17", school_year="2015/16")["value"] == pytest.approx(204.3)
    assert one(ale, measure="merit_17", school_year="2024/25")["n"] == 434
    ot = res[(res["municipality_id"] == "2518") & (res["principal_type"] == "all")]
    assert one(ot, measure="eligible_vocational_pct", school_year="2022/23")["status"] == \
        "approx_100"


@needs_real
def test_panel_statuses_equal_markers(panel):
    res, _ = panel
    indicators = {"Totalt antal elever årskurs 9", "Genomsnittligt meritvärde (17 ämnen)",
                  "Genomsnittligt meritvärde (16 ämnen)", "Andel (%) behöriga till yrkesprogram",
                  "Andel (%) som fått godkänt betyg i alla ämnen"}
    expected = _sheet_markers({"Samtliga", "Kommunal", "Enskild"}, indicators)
    assert status_counts(res) == expected


@needs_real
def test_panel_background_table(panel):
    _, bg = panel
    assert bg.attrs["table"] == "background"
    assert len(bg) == 2900 and bg["municipality_id"].nunique() == 290
    assert (bg.groupby("municipality_id")["school_year"].nunique() == 10).all()
    ale = bg[(bg["municipality_id"] == "1440") & (bg["school_year"] == "2024/25")].iloc[0]
    assert ale["n_pupils"] == 434 and ale["share_girls"] == pytest.approx(49.3)
    assert ale["share_foreign_background"] == pytest.approx(23.0)
    assert ale["share_parents_higher_edu"] == pytest.approx(62.5)
    ind = {"Totalt antal elever årskurs 9": "n_pupils", "- andel (%) flickor": "share_girls",
           "- andel (%) elever med utländsk bakgrund": "share_foreign_background",
           "- andel (%) med föräldrar med eftergymnasial utbildning":
               "share_parents_higher_edu"}
    for head, col in ind.items():
        n = sum(_sheet_markers({"Samtliga"}, {head}).values())
        assert int(bg[col].isna().sum()) == n, col


# --------------------------------------------------------------------------
# The sample's Skolverket-style files
# --------------------------------------------------------------------------
@needs_sample
def test_sample_files_reproduce_the_synthetic_results(synth_ds):
    files = sorted(SAMPLE.glob("slutbetyg_ak9_*.csv"))
    assert len(files) == 10
    mine = pd.concat([read_skolverket(f) for f in files])
    counts = status_counts(mine)
    markers: dict[str, int] = {}
    for f in files:
        _, rows = csv_block(f)
        for k, v in count_markers(c for r in rows for c in r[5:]).items():
            markers[k] = markers.get(k, 0) + v
    assert counts == markers
    mine = mine[mine["measure"] != "n_pupils_grade9"].reset_index(drop=True)
    keys = ["level", "school_id", "municipality_id", "school_year", "measure", "group",
            "principal_type"]
    ms = synth_ds.results["measure"].astype(str)
    # the outcomes beside grades (Skolenkäten, narvaro.csv) have their own files
    grade9 = synth_ds.results[~ms.str.startswith("grade6_")
                              & ~ms.map(schema.is_outcome_measure).astype(bool)]
    m = mine.merge(grade9, on=keys, how="outer", indicator=True, suffixes=("", "_ds"))
    assert (m["_merge"] == "both").all()
    assert (m["status"].astype(str) == m["status_ds"].astype(str)).all()
    assert ((m["value"] - m["value_ds"]).abs().fillna(0) < 1e-9).all()
    assert (m["value"].isna() == m["value_ds"].isna()).all()
    assert (m["n"].astype("Float64").fillna(-1) == m["n_ds"].astype("Float64").fillna(-1)).all()


@needs_sample
def test_sample_grade6_files_reproduce_the_synthetic_results(synth_ds):
    files = sorted(SAMPLE.glob("betyg_ak6_*.csv"))
    assert len(files) == 10
    mine = pd.concat([read_skolverket(f) for f in files])
    mine = mine[mine["measure"].astype(str).str.startswith("grade6_")].reset_index(drop=True)
    grade6 = synth_ds.results[synth_ds.results["measure"].astype(str).str.startswith("grade6_")]
    assert len(grade6) > 0
    keys = ["level", "school_id", "municipality_id", "school_year", "measure", "group",
            "principal_type"]
    m = mine.merge(grade6, on=keys, how="outer", indicator=True, suffixes=("", "_ds"))
    assert (m["_merge"] == "both").all()
    assert (m["status"].astype(str) == m["status_ds"].astype(str)).all()
    assert ((m["value"] - m["value_ds"]).abs().fillna(0) < 1e-9).all()
    assert (m["value"].isna() == m["value_ds"].isna()).all()


@needs_sample
def test_sample_background():
    df = read_skolverket(SAMPLE / "elever_skolenhet_2024.csv")
    assert df.attrs["table"] == "background" and set(df["school_year"]) == {"2024/25"}
    assert len(df) == 20


# --------------------------------------------------------------------------
# Variants: Excel re-save, cp1252, one-row header, old wording, Valt år
# --------------------------------------------------------------------------
SLUTBETYG = """\ufeffStatistik från Skolverket, https://www.skolverket.se

Grundskolan - Slutbetyg årskurs 9, samtliga elever
Valt läsår: 2023/24

;;;;;Antal elever;Antal elever;Antal elever;Andel (%) elever som fått godkänt betyg i alla ämnen;Andel (%) elever som fått godkänt betyg i alla ämnen;Andel (%) elever som fått godkänt betyg i alla ämnen;Genomsnittligt meritvärde (17 ämnen);Genomsnittligt meritvärde (17 ämnen);Genomsnittligt meritvärde (17 ämnen);
Skola;Skol-enhetskod;Skolkommun;Kommun-kod;Typ av huvudman;Totalt;Flickor;Pojkar;Totalt;Flickor;Pojkar;Totalt;Flickor;Pojkar;
Alfaskolan;12345678;Ale;1440;Kommunal;3 877;40;38;82,0;~100;..;231,5;240,0;.;
Betaskolan;23456789;Ale;1440;Enskild;8;..;..;..;..;..;..;..;..;

Rapportbeskrivning och definitioner
Antal elever;Antal elever som fått eller skulle ha fått betyg.;
"""


def _write(tmp_path: Path, text: str, name: str = "export.csv", encoding: str = "utf-8"
           ) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_crafted_two_row_header(tmp_path):
    df = read_skolverket(_write(tmp_path, SLUTBETYG))
    assert df.attrs["report"] == "slutbetyg_ak9" and set(df["school_year"]) == {"2023/24"}
    a = df[df["school_id"] == "12345678"]
    assert one(a, measure="n_pupils_grade9", group="all")["value"] == 3877
    assert one(a, measure="pass_all_subjects_pct", group="all")["value"] == 82.0
    assert one(a, measure="pass_all_subjects_pct", group="all")["n"] == 3877
    assert one(a, measure="pass_all_subjects_pct", group="girls")["status"] == "approx_100"
    assert one(a, measure="merit_17", group="boys")["status"] == "missing"
    assert status_counts(df) == {"suppressed": 9, "approx_100": 1, "missing": 1}
    assert list(df.index.unique()) == [8, 9]  # the file's line numbers


def test_excel_resaved_cp1252_variant(tmp_path):
    """Excel on Swedish Windows: cp1252, ';;;;' padded preamble, no trailing ';', 88 for 88,0,
    leading zeros of codes dropped."""
    lines = []
    for ln in SLUTBETYG.lstrip("\ufeff").splitlines():
        if ln.startswith(("Statistik", "Grundskolan", "Valt")) or ln == "":
            ln = ln + ";;;;;;;;;;;;;"
        lines.append(ln.rstrip(";") if ln.startswith(("Alfa", "Beta", "Skola", ";")) else ln)
    text = "\r\n".join(lines).replace("82,0", "82").replace("1440", "0604", 1)
    text = text.replace(";0604;", ";604;")
    df = read_skolverket(_write(tmp_path, text, encoding="cp1252"))
    a = df[df["school_id"] == "12345678"]
    assert one(a, measure="pass_all_subjects_pct", group="all")["value"] == 82.0
    assert set(a["municipality_id"]) == {"0604"}
    assert "cp1252" in " ".join(df.attrs["provenance"].notes)


def test_old_wording_and_valt_ar(tmp_path):
    text = SLUTBETYG.replace("fått godkänt betyg i alla ämnen", "uppnått kunskapskraven i alla "
                             "ämnen").replace("Valt läsår: 2023/24", "Valt år: 2024")
    df = read_skolverket(_write(tmp_path, text))
    assert "pass_all_subjects_pct" in set(df["measure"])
    assert set(df["school_year"]) == {"2023/24"}  # grades: spring of the chosen year


def test_valt_ar_for_pupil_counts_is_autumn(tmp_path):
    text = ("Statistik från Skolverket\n\nGrundskola - Antal elever per årskurs\nValt år: 2024\n\n"
            "Kommun;Kommun-kod;Län;Läns-kod;Typ av huvudman;Andel (%) flickor, årskurs 1-9;"
            "Elever, årskurs 1-9;\nAle;1440;Västra Götalands län;14;Samtliga;47,8;4 102;\n")
    df = read_skolverket(_write(tmp_path, text))
    assert set(df["school_year"]) == {"2024/25"} and df["n_pupils"].iloc[0] == 4102


def test_one_row_header_national_row(tmp_path):
    text = ("Grundskola - Betyg årskurs 6, andel som fått godkänt betyg (A-E)\n"
            "Valt läsår: 2024/25\n"
            "Kommun;Kommun-kod;Län;Läns-kod;Typ av huvudman;Antal elever;"
            "Andel (%) elever som fått godkänt betyg i alla ämnen\n"
            "Riket;0000;;;Samtliga;110 000;74,1\n")
    df = read_skolverket(_write(tmp_path, text))
    assert list(df["level"].astype(str)) == ["national"]
    assert df["n"].iloc[0] == 110000


# --------------------------------------------------------------------------
# Refusals: Swedish messages naming file, row and column
# --------------------------------------------------------------------------
def test_unknown_report_lists_known_reports(tmp_path):
    text = ("Statistik från Skolverket\nGrundskola - Något helt annat\nValt läsår: 2023/24\n\n"
            "Kommun;Kommun-kod;Län;Läns-kod;Typ av huvudman;Antal fritidshem\n"
            "Ale;1440;V;14;Samtliga;3\n")
    with pytest.raises(UnknownReportError) as ei:
        read_skolverket(_write(tmp_path, text, "okand.csv"))
    msg = str(ei.value)
    assert "okand.csv" in msg and "rad 5" in msg and "Kända rapporter" in msg
    for label in KNOWN_REPORTS.values():
        assert label in msg


def test_not_a_skolverket_file(tmp_path):
    with pytest.raises(UnknownReportError, match="inte en Skolverket-export.*Kända rapporter"):
        read_skolverket(_write(tmp_path, "a;b;c\n1;2;3\n", "annat.csv"))


def test_missing_school_year_refused(tmp_path):
    text = SLUTBETYG.replace("Valt läsår: 2023/24\n", "")
    with pytest.raises(FileFormatError) as ei:
        read_skolverket(_write(tmp_path, text, "utan_ar.csv"))
    assert "Valt läsår" in str(ei.value) and "utan_ar.csv" in str(ei.value)
    assert "filnamnet" in str(ei.value)


def test_bad_value_names_row_and_column(tmp_path):
    text = SLUTBETYG.replace("231,5", "2x1")
    with pytest.raises(ValueFormatError) as ei:
        read_skolverket(_write(tmp_path, text, "fel.csv"))
    e = ei.value
    assert (e.row, e.column) == (8, "Genomsnittligt meritvärde (17 ämnen) – Totalt")
    assert "'2x1'" in str(e) and "fel.csv" in str(e) and "rad 8" in str(e)
    assert "decimalkomma" in str(e)


def test_bad_code_refused(tmp_path):
    text = SLUTBETYG.replace("12345678", "1234X678")
    with pytest.raises(ValueFormatError, match="Skolenhetskoden '1234X678'.*rad 8.*Skol-enhetskod"):
        read_skolverket(_write(tmp_path, text))


def test_known_report_without_header_row(tmp_path):
    text = SLUTBETYG.replace("Skol-enhetskod", "Kod").replace("Kommun-kod", "Kommun")
    with pytest.raises(MissingColumnError, match="rubrikraden.*Slutbetyg"):
        read_skolverket(_write(tmp_path, text, "utan_rubrik.csv"))


def test_background_not_available(tmp_path):
    with pytest.raises(FileFormatError, match="har inga bakgrundsuppgifter"):
        read_skolverket(_write(tmp_path, SLUTBETYG), table="background")


def test_missing_file():
    with pytest.raises(FileFormatError, match="finns inte"):
        read_skolverket("/finns/inte/fil.csv")


# --------------------------------------------------------------------------
# Historical nine-digit unit codes (exports before 2013)
# --------------------------------------------------------------------------
def test_historical_nine_digit_code_kept_as_written(tmp_path):
    text = SLUTBETYG.replace("Valt läsår: 2023/24", "Valt läsår: 2011/12").replace(
        "23456789", "144012345")
    df = read_skolverket(_write(tmp_path, text))
    assert set(df["school_id"]) == {"12345678", "144012345"}  # both formats, unchanged
    schools = read_skolverket(_write(tmp_path, text), table="schools")
    assert "144012345" in set(schools["school_id"])
    assert schema.is_historical_school_id("144012345")
    assert not schema.is_historical_school_id("12345678")


def test_nine_digit_code_of_another_municipality_refused(tmp_path):
    text = SLUTBETYG.replace("23456789", "148912345")
    with pytest.raises(ValueFormatError,
                       match="Skolenhetskoden '148912345' har nio siffror men börjar inte med "
                             "radens kommunkod 1440.*rad 9.*Skol-enhetskod"):
        read_skolverket(_write(tmp_path, text))


def test_ten_digit_code_refused_naming_both_formats(tmp_path):
    text = SLUTBETYG.replace("23456789", "1440123456")
    with pytest.raises(ValueFormatError, match="varken åtta siffror eller en historisk"):
        read_skolverket(_write(tmp_path, text))


# --------------------------------------------------------------------------
# Nothing lost without a status
# --------------------------------------------------------------------------
# Header variants of the measures the package knows, as real files write them
# (full wording, the abbreviated headers of files re-saved through Excel, older wording).
HEADER_VARIANTS = [
    ("Andel (%) behöriga till yrkesprogram", "eligible_vocational_pct"),
    ("Andel (%) elever behöriga till yrkesprog.", "eligible_vocational_pct"),
    ("Andel (%) elever behöriga till yrkesprogram", "eligible_vocational_pct"),
    ("Andel (%) behöriga till natur- och teknikprogram", "eligible_natural_science_pct"),
    ("Andel (%) elever behöriga till naturvetenskaps- och teknikprog.",
     "eligible_natural_science_pct"),
    ("Andel (%) behöriga till ekonomi-, humanistiska och samhällsvetenskapsprogram",
     "eligible_economics_pct"),
    ("Andel (%) elever behöriga till ekon.-, hum.- och samh.prog.", "eligible_economics_pct"),
    ("Andel (%) behöriga till estetiska programmet", "eligible_aesthetic_pct"),
    ("Andel (%) elever behöriga till estetiska prog.", "eligible_aesthetic_pct"),
    ("Genomsnittligt meritvärde (17 ämnen)", "merit_17"),
    ("Genomsnittligt meritvärde (16 ämnen)", "merit_16"),
    ("Genomsnittligt meritvärde", "merit_16"),
    ("Andel (%) elever som uppnått kunskapskraven i alla ämnen", "pass_all_subjects_pct"),
    ("Andel (%) elever som uppfyllt betygskriterierna i alla ämnen", "pass_all_subjects_pct"),
    ("Andel (%) elever som nått målen i alla ämnen", "pass_all_subjects_pct"),
]


@pytest.mark.parametrize("header,measure", HEADER_VARIANTS)
def test_header_variants_are_recognised(tmp_path, header, measure):
    if measure.startswith("merit"):
        text = SLUTBETYG.replace("Genomsnittligt meritvärde (17 ämnen)", header)
        expected = (231.5, "ok", 240.0)
    else:
        text = SLUTBETYG.replace("Andel (%) elever som fått godkänt betyg i alla ämnen", header)
        expected = (82.0, "approx_100", math.nan)
    df = read_skolverket(_write(tmp_path, text))
    a = df[df["school_id"] == "12345678"]
    assert one(a, measure=measure, group="all")["value"] == expected[0]
    girls = one(a, measure=measure, group="girls")
    assert girls["status"] == expected[1]
    assert girls["value"] == expected[2] or math.isnan(expected[2])
    assert not any("kolumner som inte används" in n for n in df.attrs["provenance"].notes)


AK6_PER_KON = """\ufeffStatistik från Skolverket, https://www.skolverket.se

Grundskola - Betyg årskurs 6, andel som fått godkänt betyg (A-E), per kön
Valt läsår: 2024/25

;;;;;Antal elever;Antal elever;Antal elever;Andel (%) elever som fått godkänt betyg i alla ämnen;Andel (%) elever som fått godkänt betyg i alla ämnen;Andel (%) elever som fått godkänt betyg i alla ämnen;
Kommun;Kommun-kod;Län;Läns-kod;Typ av huvudman;Totalt;Flickor;Pojkar;Totalt;Flickor;Pojkar;
Ale;1440;Västra Götalands län;14;Samtliga;445;220;225;75,7;80,1;71,0;

Rapportbeskrivning och definitioner
Antal elever;Elever i årskurs 6, med betyg i minst ett ämne, vårterminen.;
"""
AK6_KON_ROWS = """\ufeffStatistik från Skolverket, https://www.skolverket.se

Grundskola - Betyg årskurs 6, andel som fått godkänt betyg (A-E), per kön
Valt läsår: 2024/25

Kommun;Kommun-kod;Län;Läns-kod;Typ av huvudman;Kön;Antal elever;Andel (%) elever som fått godkänt betyg i alla ämnen;
Ale;1440;Västra Götalands län;14;Samtliga;Totalt;445;75,7;
Ale;1440;Västra Götalands län;14;Samtliga;Flickor;220;80,1;
Ale;1440;Västra Götalands län;14;Samtliga;Pojkar;225;71,0;

Rapportbeskrivning och definitioner, med komman, i fotnoten, som i verkliga filer
"""


@pytest.mark.parametrize("text", [AK6_PER_KON, AK6_KON_ROWS], ids=["kolumner", "rader"])
def test_grade6_per_gender_has_n_on_girls_and_boys_rows(tmp_path, text):
    df = read_skolverket(_write(tmp_path, text))
    got = {r.group: (r.value, r.n) for r in df.itertuples()}
    assert got == {"all": (75.7, 445), "girls": (80.1, 220), "boys": (71.0, 225)}


def test_grade6_gender_row_with_unknown_group_is_counted(tmp_path):
    text = AK6_KON_ROWS.replace("Samtliga;Pojkar", "Samtliga;Okänt")
    df = read_skolverket(_write(tmp_path, text))
    assert set(df["group"]) == {"all", "girls"}
    assert df.attrs["provenance"].dropped == {"rader för könet Okänt (okänd grupp)": 1}


@needs_real
def test_approx_100_background_shares_are_named(tmp_path):
    df = load(SKOLENHET / F_ELEVER_2022, None)
    header, rows = csv_block(SKOLENHET / F_ELEVER_2022)
    cols = {"Andel (%) flickor, årskurs 1-9": "share_girls",
            "Andel (%) elever med utländsk bakgrund, åk 1-9": "share_foreign_background",
            "Andel (%) elever med föräldrar med eftergymnasial utb., åk 1-9":
                "share_parents_higher_edu"}
    jcode = header.index("Skol-enhetskod")
    expected = {}
    for r in rows:
        named = [cols[h] for j, h in enumerate(header) if h in cols and r[j] == "~100"]
        if named:
            expected[r[jcode]] = set(named)
    assert expected  # the 2022/23 file has ~100 in its shares
    got = df[df["approx_100"].notna()]
    assert {s: set(v.split(",")) for s, v in zip(got["school_id"], got["approx_100"],
                                                 strict=True)} == expected
    for sid, named in expected.items():
        row = df[df["school_id"] == sid].iloc[0]
        assert all(math.isnan(row[c]) for c in named)
