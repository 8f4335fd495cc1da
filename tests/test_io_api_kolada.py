"""read_skolverket_api (real cached responses) and read_kolada (v2/v3 shapes)."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
from test_io_support import API, needs_real, status_counts

from undervisning_analys.errors import (
    DuplicateRowsError,
    FileFormatError,
    UnknownSchoolError,
    ValueFormatError,
)
from undervisning_analys.io import (
    STATISTICS,
    read_json_source,
    read_kolada,
    read_skolverket_api,
    read_skolverket_api_schools,
)

VT = {"OMITTED_DUE_TO_BASED_ON_FEW_PUPILS": "suppressed", "MISSING": "missing",
      "ROUNDED_OFF_DUE_TO_FEW_PUPILS_NOT_ELIGIBLE": "approx_100",
      "TEACHERS_EXCLUDED_DUE_TO_NO_REQUIRED_LEGITIMATION": "excluded"}


# --------------------------------------------------------------------------
# Skolverket API v4
# --------------------------------------------------------------------------
@needs_real
def test_api_folder_statuses_equal_value_types():
    df = read_skolverket_api(API)
    expected: Counter = Counter()
    n_entries = 0
    for f in sorted(API.glob("*-statistics-gr.json")):
        body = json.loads(f.read_text(encoding="utf-8"))["json"]["body"]
        for key, entries in body.items():
            if key in STATISTICS:
                for e in entries:
                    if e["timePeriod"] is not None:
                        n_entries += 1
                        if e["valueType"] in VT:
                            expected[VT[e["valueType"]]] += 1
    assert len(df) == n_entries
    assert status_counts(df) == dict(expected)
    assert dict(expected) == {"suppressed": 202, "approx_100": 109, "missing": 64,
                              "excluded": 15}
    prov = df.attrs["provenance"]
    assert prov.dropped["värden utan tidsperiod (timePeriod saknas)"] == 5
    assert df["municipality_id"].notna().all()  # filled from the school-unit responses


@needs_real
def test_api_single_file_spot_values():
    df = read_skolverket_api(API / "school-unit-13301127-statistics-gr.json")
    assert df.attrs["source"] == "school-unit-13301127-statistics-gr.json"
    v = df.set_index(["measure", "school_year"])
    assert v.loc[("merit_17", "2024/25"), "value"] == pytest.approx(268.6)
    assert v.loc[("n_pupils_total", "2025/26"), "value"] == 440  # "cirka 440"
    assert v.loc[("eligible_vocational_pct", "2022/23"), "status"] == "approx_100"
    assert math.isnan(v.loc[("eligible_vocational_pct", "2022/23"), "value"])
    assert v.loc[("special_teacher_positions", "2025/26"), "status"] == "suppressed"
    assert v.loc[("np_sva_9_avg_points", "2024/25"), "status"] == "missing"
    # the statistics body does not name the municipality: it comes from the unit's own
    # response saved beside it, and provenance names that file
    assert (df["municipality_id"] == "0180").all()
    assert "kommunkoden hämtad ur school-unit-13301127.json" in df.attrs["provenance"].notes


@needs_real
def test_api_single_file_municipality_from_a_list_response(tmp_path):
    import shutil

    # unit 73184968 is on the saved /school-units list page of municipality 0136
    listed = json.loads((API / "listor" / "school-units-list-0136-page0.json").read_text(
        encoding="utf-8"))
    units = listed["json"]["body"]["_embedded"]["listedSchoolUnits"]
    code = units[0]["code"]
    stats = json.loads((API / "school-unit-13301127-statistics-gr.json").read_text(
        encoding="utf-8"))
    stats["url"] = stats["url"].replace("13301127", code)
    stats["json"]["body"]["schoolUnit"] = code
    (tmp_path / "sparat").mkdir()
    shutil.copy(API / "listor" / "school-units-list-0136-page0.json", tmp_path / "sparat")
    f = tmp_path / f"school-unit-{code}-statistics-gr.json"
    f.write_text(json.dumps(stats), encoding="utf-8")
    df = read_skolverket_api(f)
    assert (df["municipality_id"] == "0136").all()


@needs_real
def test_api_single_file_alone_names_the_missing_municipality(tmp_path):
    import shutil

    f = tmp_path / "school-unit-13301127-statistics-gr.json"
    shutil.copy(API / f.name, f)
    df = read_skolverket_api(f)
    assert df["municipality_id"].isna().all()
    note = next(n for n in df.attrs["provenance"].notes if n.startswith("kommunkod saknas"))
    assert "13301127" in note and "/school-units/{kod}" in note


@needs_real
def test_api_schools():
    s = read_skolverket_api_schools(API)
    assert len(s) == 20 and s.attrs["table"] == "schools"
    ek = s.set_index("school_id").loc["13301127"]
    assert (ek["school_name"], ek["municipality_id"], ek["principal_type"]) == \
        ("Ekens skola", "0180", "kommunal")
    assert s.set_index("school_id").loc["16426165", "principal_type"] == "enskild"
    unit = read_skolverket_api(API / "school-unit-13301127.json")
    assert len(unit) == 0 and unit.attrs["provenance"].dropped


@needs_real
def test_json_source_sniffs_api():
    assert len(read_json_source(API / "school-unit-13301127-statistics-gr.json")) > 0


def _api_file(tmp_path: Path, body: dict, status: str = "OK") -> Path:
    p = tmp_path / "svar.json"
    p.write_text(json.dumps({"url": "https://api.skolverket.se/planned-educations/v4/"
                                    "school-units/12345678/statistics/gr",
                             "json": {"status": status, "message": "x", "body": body}}),
                 encoding="utf-8")
    return p


def test_api_bare_body_and_refusals(tmp_path):
    body = {"schoolUnit": "12345678", "averageGradesMeritRating9thGrade": [
        {"value": "250,1", "valueType": "EXISTS", "timePeriod": "2023/24"}],
        "someNewStatistic": [{"value": "1", "valueType": "EXISTS", "timePeriod": "2023/24"}]}
    p = tmp_path / "bar.json"
    p.write_text(json.dumps(body), encoding="utf-8")
    df = read_skolverket_api(p)
    assert df["value"].tolist() == [250.1]
    assert "someNewStatistic" in " ".join(df.attrs["provenance"].notes)
    with pytest.raises(FileFormatError, match="status 'NOT_FOUND'"):
        read_skolverket_api(_api_file(tmp_path, body, status="NOT_FOUND"))
    body["averageGradesMeritRating9thGrade"][0]["value"] = "två"
    with pytest.raises(ValueFormatError) as ei:
        read_skolverket_api(_api_file(tmp_path, body))
    assert ei.value.column == "averageGradesMeritRating9thGrade" and ei.value.row == 1
    assert "svar.json" in str(ei.value)
    (tmp_path / "x.json").write_text('{"foo": 1}', encoding="utf-8")
    with pytest.raises(FileFormatError):
        read_skolverket_api(tmp_path / "x.json")


# --------------------------------------------------------------------------
# Kolada
# --------------------------------------------------------------------------
V2 = {"count": 2, "values": [
    {"kpi": "N15505", "municipality": "1440", "period": "2024", "values": [
        {"gender": "T", "count": 1, "status": "", "value": 224.5},
        {"gender": "K", "count": 1, "status": "", "value": 233.1},
        {"gender": "M", "count": 1, "status": "Missing", "value": None}]},
    {"kpi": "N15820", "municipality": "0000", "period": 2024, "values": [
        {"gender": "T", "count": 1, "status": "", "value": 61.2}]}],
    "next_page": None}
V3_PAGE1 = {"count": 2, "values": [
    {"kpi": "N15419", "municipality": "0604", "period": 2023, "values": [
        {"gender": "T", "count": 1, "status": "", "value": 80.5, "isdeleted": False},
        {"gender": "K", "count": 1, "status": "Privacy", "value": None}]},
    {"kpi": "X99", "municipality": "G12345", "period": 2023, "values": [
        {"gender": "T", "count": 12, "status": "", "value": 3.0}]}],
    "next_url": "https://api.kolada.se/v3/data/kpi/N15419?page=2"}
V3_PAGE2 = {"count": 2, "values": [
    {"kpi": "N15436", "municipality": "0604", "period": 2023, "isdeleted": True, "values": [
        {"gender": "T", "count": 1, "status": "", "value": 90.0}]},
    {"kpi": "N99999", "municipality": "0604", "period": 2023, "values": [
        {"gender": "T", "count": 1, "status": "", "value": 7.0, "isdeleted": True},
        {"gender": "M", "count": 1, "status": "", "value": 6.0}]}],
    "next_url": None}


def _dump(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_kolada_v2(tmp_path):
    df = read_kolada(_dump(tmp_path / "v2.json", V2))
    m = df.set_index(["measure", "group"])
    assert m.loc[("merit_17", "all"), "value"] == 224.5
    assert m.loc[("merit_17", "all"), "principal_type"] == "kommunal"
    assert m.loc[("merit_17", "all"), "school_year"] == "2023/24"
    assert m.loc[("merit_17", "girls"), "value"] == 233.1
    assert m.loc[("merit_17", "boys"), "status"] == "missing"
    nat = m.loc[("kolada_N15820", "all")]
    assert nat["level"] == "national" and nat["municipality_id"] == "0000"
    bg = read_kolada(tmp_path / "v2.json", table="background")
    assert bg["share_parents_higher_edu"].tolist() == [61.2]


def test_kolada_v3_pages_in_a_folder_and_as_a_list(tmp_path):
    folder = tmp_path / "sidor"
    folder.mkdir()
    _dump(folder / "p1.json", V3_PAGE1)
    _dump(folder / "p2.json", V3_PAGE2)
    df = read_kolada(folder)
    prov = df.attrs["provenance"]
    assert prov.dropped == {"rader markerade isdeleted": 1, "värden markerade isdeleted": 1,
                            "rader för kommungrupper": 1}
    assert sorted(df["measure"]) == ["kolada_N99999", "pass_all_subjects_pct",
                                     "pass_all_subjects_pct"]
    assert status_counts(df) == {"suppressed": 1}
    assert set(df["school_year"]) == {"2022/23"}
    lst = read_kolada(_dump(tmp_path / "lista.json", [V3_PAGE1, V3_PAGE2]))
    assert len(lst) == len(df)
    only_first = read_kolada(_dump(tmp_path / "forsta.json", V3_PAGE1))
    assert any("sidor kan saknas" in n for n in only_first.attrs["provenance"].notes)
    assert len(read_json_source(folder)) == len(df)


def test_kolada_ou_needs_map(tmp_path):
    doc = {"count": 1, "values": [{"kpi": "N15505", "ou": "V15E144000101", "period": 2024,
                                   "values": [{"gender": "T", "status": "", "value": 231.0}]}]}
    p = _dump(tmp_path / "ou.json", doc)
    with pytest.raises(UnknownSchoolError) as ei:
        read_kolada(p)
    assert ei.value.row == 1 and ei.value.column == "ou" and "ou_map" in str(ei.value)
    df = read_kolada(p, ou_map={"V15E144000101": "12345678"})
    r = df.iloc[0]
    assert (r["level"], r["school_id"], r["municipality_id"]) == ("school", "12345678", "1440")


def test_kolada_refusals(tmp_path):
    bad = json.loads(json.dumps(V2))
    bad["values"][0]["values"][0]["gender"] = "X"
    with pytest.raises(ValueFormatError) as ei:
        read_kolada(_dump(tmp_path / "k.json", bad))
    assert (ei.value.row, ei.value.column) == (1, "gender") and "k.json" in str(ei.value)
    dup = {"count": 2, "values": [V2["values"][1], V2["values"][1]]}
    with pytest.raises(DuplicateRowsError, match="rad 1.*rad 2"):
        read_kolada(_dump(tmp_path / "d.json", dup))
    with pytest.raises(FileFormatError, match="Koladas API"):
        read_kolada(_dump(tmp_path / "n.json", {"foo": []}))
    with pytest.raises(FileFormatError, match="giltig JSON"):
        (tmp_path / "t.json").write_text("{", encoding="utf-8")
        read_kolada(tmp_path / "t.json")


@needs_real
def test_api_folder_as_saved_lists_used_or_counted_and_every_row_has_its_municipality():
    df = read_skolverket_api(API)
    prov = df.attrs["provenance"]
    assert df["municipality_id"].notna().all()
    units = {f.name.split("-")[2] for f in API.glob("school-unit-*-statistics-gr.json")}
    assert set(df["school_id"]) == units
    assert prov.dropped["listsvar från /compact-school-units (saknar kommunkod; inte inläst)"] \
        == 1
    assert prov.dropped["listsvar från /school-units (används för skolenheternas kommunkod)"] \
        == 1
    assert "undermappar som lästes: listor" in prov.notes


@needs_real
def test_api_subfolders_are_read_and_a_foreign_json_is_named(tmp_path):
    import shutil

    root = tmp_path / "api"
    for k, f in enumerate(sorted(API.glob("school-unit-*.json"))):
        sub = root / ("2025" if k % 2 else "2026") / "svar"
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, sub / f.name)
    (root / "anteckning.json").write_text('{"att göra": "ring skolan"}', encoding="utf-8")
    df = read_skolverket_api(root)
    ref = read_skolverket_api(API)
    assert len(df) == len(ref) and df["municipality_id"].notna().all()
    prov = df.attrs["provenance"]
    assert any(n.startswith("filer som inte lästes") and "anteckning.json" in n
               for n in prov.notes)
    assert any(n == "undermappar som lästes: 2025/svar, 2026/svar" for n in prov.notes)
