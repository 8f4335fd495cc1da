"""load_folder: a municipality's folder as people keep it.

Every file is read or named with the reason; duplicated sources are named and one
kept; sources for the same unit, year and measure are reconciled by the documented
precedence; other municipalities and units outside the register are kept apart as
reference data; the overlap of schools is checked; ``validera`` lists it all and
exits with a status a script can test.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_io_support import API, KOMMUN, REAL, needs_real

from undervisning_analys import cli, synth
from undervisning_analys.errors import FileFormatError, UnknownReportError, UnknownSchoolError
from undervisning_analys.io import folder as folder_mod
from undervisning_analys.io import read_skolverket, read_skolverket_api_schools
from undervisning_analys.io.folder import NOT_READ, PRECEDENCE, READERS, load_folder
from undervisning_analys.sample import write_sample

F_AK6 = ("Grundskola - Betyg årskurs 6, andel som fått godkänt betyg (A-E), samtliga elever "
         "2025 Kommun")
F_PANEL = "Grundskola - Jämförelse av betygsresultat över tid 2025 Kommun_Åk9.xlsx"


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    ds = synth.municipality(seed=11, n_schools=4, n_years=2, pupils_per_grade=(8, 20))
    out = tmp_path_factory.mktemp("liten")
    write_sample(ds, out)
    return out


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def not_read(ds) -> dict[str, str]:
    return {p.path: "; ".join(p.notes) for p in ds.provenance if p.loader == NOT_READ}


def unknown_school_in_export(d: Path) -> None:
    """A school code outside the register on the observation export's second form."""
    p = d / "observationer.csv"
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    cells = lines[2].split(",")
    cells[3] = "99999999"
    lines[2] = ",".join(cells)
    p.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# --------------------------------------------------------------------------
# One unknown file never stops the rest
# --------------------------------------------------------------------------
def test_unknown_files_are_named_and_the_rest_is_read(small, tmp_path):
    ref = load_folder(small)
    d = copy(small, tmp_path / "mapp")
    (d / "anteckningar.docx").write_bytes(b"PK\x03\x04 inte en riktig fil")
    (d / "att göra.txt").write_text("Ring rektorn på tisdag\n", encoding="utf-8")
    (d / "kostnader.csv").write_text(
        "\ufeffStatistik från Skolverket, https://www.skolverket.se\n\nKostnader per kommun\n"
        "Valt år: 2024\n\nKommun;Kostnad per elev\nAle;112 300\n", encoding="utf-8")
    pd.DataFrame({"a": [1, 2]}).to_excel(d / "budget.xlsx", index=False)
    (d / "gammal.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    ds = load_folder(d)
    pd.testing.assert_frame_equal(ds.results, ref.results)
    pd.testing.assert_frame_equal(ds.observations, ref.observations)
    skipped = not_read(ds)
    assert set(skipped) == {"anteckningar.docx", "att göra.txt", "kostnader.csv",
                            "budget.xlsx", "gammal.xls"}
    assert skipped["anteckningar.docx"] == "filtypen .docx läses inte in"
    assert "inte elevbetyg i SCB:s format" in skipped["att göra.txt"]
    assert "nyckel" not in skipped["att göra.txt"]  # a .txt is not taken for pupil grades
    assert "Kostnader per kommun" in skipped["kostnader.csv"] or \
        "Kända rapporter" in skipped["kostnader.csv"]
    assert "teckenkodning" not in skipped["budget.xlsx"]  # not blamed on its encoding
    assert "okänd rapport" in skipped["budget.xlsx"]
    assert "spara som .xlsx" in skipped["gammal.xls"]
    assert all(any(c.startswith(f"Inte inläst: {n}") for c in ds.checks) for n in skipped)


def test_subject_grades_over_time_are_named_not_read(small, tmp_path, capsys):
    """Skolverket's "Betyg per ämne över tid" has no loader (its columns are not described
    in any export the package was tested against): listed as not read with that reason,
    whether the title is in the preamble or only in the file name; the rest is read."""
    ref = load_folder(small)
    d = copy(small, tmp_path / "mapp")
    (d / "amnesbetyg.csv").write_text(
        "\ufeffStatistik från Skolverket, https://www.skolverket.se\n\n"
        "Grundskola - Betyg per ämne över tid, årskurs 9\nValt läsår: 2024/25\n\n"
        "Kommun;Kommun-kod;Ämne;2020/21;2021/22;2022/23;2023/24;2024/25\n"
        "Ale;1440;Matematik;88,1;87,0;86,2;85,9;87,5\n", encoding="utf-8")
    (d / "Grundskola - Betyg per ämne över tid 2025 Kommun.csv").write_text(
        "\ufeffStatistik från Skolverket, https://www.skolverket.se\nValt läsår: 2024/25\n\n"
        "Kommun;Kommun-kod;Ämne;2023/24;2024/25\nAle;1440;Svenska;91,0;90,2\n",
        encoding="utf-8")  # the title only in the file name
    ds = load_folder(d)
    pd.testing.assert_frame_equal(ds.results, ref.results)
    skipped = not_read(ds)
    assert set(skipped) == {"amnesbetyg.csv", "Grundskola - Betyg per ämne över tid 2025 "
                                              "Kommun.csv"}
    assert all("Rapporten Betyg per ämne över tid läses inte in" in r for r in skipped.values())
    assert "Slutbetyg årskurs 9" in skipped["amnesbetyg.csv"]
    with pytest.raises(UnknownReportError) as ei:
        read_skolverket(d / "amnesbetyg.csv")
    assert ei.value.row == 6 and "amnesbetyg.csv" in str(ei.value)
    code, out, _ = run(capsys, "validera", str(d))
    assert code == 1 and "Rapporten Betyg per ämne över tid läses inte in" in out


def test_validera_lists_not_read_files_and_exits_1(small, tmp_path, capsys):
    d = copy(small, tmp_path / "mapp")
    (d / "anteckningar.docx").write_bytes(b"x")
    code, out, err = run(capsys, "validera", str(d))
    assert code == 1, err
    assert "Filer som inte lästes in (1):" in out
    assert "anteckningar.docx: filtypen .docx läses inte in" in out
    assert "slutstatus 1" in out and "Inga fel hittades" not in out
    code, out, _ = run(capsys, "validera", str(small))
    assert code == 0 and "Inga fel hittades" in out


def test_a_damaged_export_is_named_not_fatal(small, tmp_path):
    d = copy(small, tmp_path / "mapp")
    f = sorted(d.glob("slutbetyg_ak9_skolenhet_*.csv"))[0]
    f.write_text(f.read_text(encoding="utf-8").replace("Valt läsår:", "Valt:"),
                 encoding="utf-8")
    ds = load_folder(d)
    reason = not_read(ds)[f.name]
    assert "Valt läsår" in reason and "rad" in reason
    assert f.name not in set(ds.results["source"])


def test_the_register_is_still_required(small, tmp_path):
    d = copy(small, tmp_path / "mapp")
    (d / "skolregister.csv").unlink()
    with pytest.raises(FileFormatError, match="saknar skolregister"):
        load_folder(d)


def test_own_files_still_stop_with_their_row(small, tmp_path):
    d = copy(small, tmp_path / "mapp")
    unknown_school_in_export(d)
    with pytest.raises(UnknownSchoolError, match="99999999"):
        load_folder(d)


class _Spy(folder_mod.Beside):
    """Beside, remembering whether it forked."""

    forked_any: list[bool] = []

    def __enter__(self):
        out = super().__enter__()
        _Spy.forked_any.append(self.forked)
        return out


def test_files_read_beside_the_export_give_the_same_dataset(small, tmp_path, monkeypatch):
    d = copy(small, tmp_path / "mapp")
    f = sorted(d.glob("slutbetyg_ak9_skolenhet_*.csv"))[0]  # a file that is not read, too
    f.write_text(f.read_text(encoding="utf-8").replace("Valt läsår:", "Valt:"),
                 encoding="utf-8")
    in_turn = load_folder(d)
    monkeypatch.setattr(folder_mod, "_FORK_BYTES", 0)
    monkeypatch.setattr(folder_mod, "Beside", _Spy)
    _Spy.forked_any.clear()
    beside = load_folder(d)
    assert _Spy.forked_any == [True]
    for table in ("schools", "observations", "results", "background",
                  "observation_categories"):
        a, b = getattr(in_turn, table), getattr(beside, table)
        assert (a is None) == (b is None), table
        if a is not None:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert in_turn.provenance == beside.provenance
    assert in_turn.checks == beside.checks
    assert f.name in not_read(beside)


def test_an_error_in_the_export_is_raised_while_the_rest_is_read_beside(small, tmp_path,
                                                                         monkeypatch):
    d = copy(small, tmp_path / "mapp")
    unknown_school_in_export(d)
    monkeypatch.setattr(folder_mod, "_FORK_BYTES", 0)
    monkeypatch.setattr(folder_mod, "Beside", _Spy)
    _Spy.forked_any.clear()
    with pytest.raises(UnknownSchoolError, match="99999999") as err:
        load_folder(d)
    assert _Spy.forked_any == [True]
    assert err.value.file and Path(err.value.file).name == "observationer.csv"


def test_readers_table_routes_a_new_kind(small, tmp_path, monkeypatch):
    d = copy(small, tmp_path / "mapp")
    (d / "eget.dat").write_text("x", encoding="utf-8")
    seen = []

    def read(p):
        seen.append(p.name)
        from undervisning_analys import schema
        df = schema.empty("results")
        df.attrs["table"] = "results"
        return df

    monkeypatch.setattr(folder_mod, "READERS",
                        [(lambda p: p.suffix == ".dat", read, "Eget"), *READERS])
    ds = load_folder(d)
    assert seen == ["eget.dat"] and "eget.dat" not in not_read(ds)


# --------------------------------------------------------------------------
# Duplicated sources
# --------------------------------------------------------------------------
def test_same_file_twice_is_read_once_and_named(small, tmp_path):
    ref = load_folder(small)
    d = copy(small, tmp_path / "mapp")
    f = sorted(d.glob("slutbetyg_ak9_skolenhet_*.csv"))[0]
    shutil.copy(f, d / f"{f.stem} (1).csv")
    ds = load_folder(d)
    pd.testing.assert_frame_equal(ds.results, ref.results)
    assert not_read(ds) == {f"{f.stem} (1).csv": f"samma fil som {f.name}"}
    assert any(c.startswith(f"Dubblett: {f.stem} (1).csv är samma fil som {f.name}")
               for c in ds.checks)


@needs_real
def test_same_report_as_csv_and_xlsx_is_kept_once(small, tmp_path):
    d = copy(small, tmp_path / "mapp")
    for ext in (".csv", ".xlsx"):
        shutil.copy(KOMMUN / (F_AK6 + ext), d)
    ds = load_folder(d)
    ref = ds.reference_results
    assert ref is not None
    assert set(ref["source"]) == {F_AK6 + ".csv"}
    assert not ref[["municipality_id", "principal_type", "measure", "group"]].astype(
        str).duplicated().any()
    assert any(c.startswith(f"Dubblett: {F_AK6}.xlsx innehåller samma rapport som {F_AK6}.csv")
               for c in ds.checks)
    xlsx = next(p for p in ds.provenance if p.path == F_AK6 + ".xlsx")
    assert xlsx.rows_kept == 0 and xlsx.dropped == {f"dubblett av {F_AK6}.csv": 3028}


# --------------------------------------------------------------------------
# Reference data: other municipalities, units outside the register
# --------------------------------------------------------------------------
@needs_real
def test_national_export_is_kept_apart_as_reference(small, tmp_path):
    ref0 = load_folder(small)
    d = copy(small, tmp_path / "mapp")
    shutil.copy(KOMMUN / F_PANEL, d)
    ds = load_folder(d)
    own = set(ds.schools["municipality_id"])
    r = ds.results
    muni = r[r["level"] == "municipality"]
    assert set(muni["municipality_id"]) <= own  # no other municipality among the own rows
    rr = ds.reference_results
    assert rr["municipality_id"].nunique() == 290 and not rr["municipality_id"].isin(own).any()
    assert ds.reference_background["municipality_id"].nunique() == 290
    # the municipality's own tables are otherwise unchanged
    pd.testing.assert_frame_equal(r[r["source"] != F_PANEL], ref0.results)
    assert any(c.startswith("Referensdata:") and F_PANEL in c for c in ds.checks)


def test_school_units_outside_the_register_are_reference(small, tmp_path):
    d = copy(small, tmp_path / "mapp")
    f = sorted(d.glob("slutbetyg_ak9_skolenhet_*.csv"))[0]
    reg = load_folder(small).schools
    first = sorted(reg["school_id"])[0]
    text = f.read_text(encoding="utf-8").replace(first, "87654321")
    f.write_text(text, encoding="utf-8")
    ds = load_folder(d)
    assert "87654321" not in set(ds.results["school_id"].dropna())
    assert set(ds.reference_results["school_id"]) == {"87654321"}
    assert any(c.startswith(f"Referensdata: {len(ds.reference_results)} resultatvärden i "
                            f"{f.name}") for c in ds.checks)


# --------------------------------------------------------------------------
# Reconciliation by precedence
# --------------------------------------------------------------------------
def _api_pair(school: str, muni: str, year: str, merit: str) -> tuple[str, str]:
    stats = {"generatedAt": "2026-04-21T09:52:45.383Z",
             "url": f"https://api.skolverket.se/planned-educations/v4/school-units/{school}/"
                    f"statistics/gr",
             "json": {"status": "OK", "message": "", "body": {
                 "schoolUnit": school, "averageGradesMeritRating9thGrade": [
                     {"value": merit, "valueType": "EXISTS", "timePeriod": year}]}}}
    unit = {"generatedAt": "2026-04-21T09:52:45.383Z",
            "url": f"https://api.skolverket.se/planned-educations/v4/school-units/{school}",
            "json": {"status": "OK", "message": "", "body": {
                "code": school, "name": "Skolan", "geographicalAreaCode": muni,
                "principalOrganizerType": "Kommunal"}}}
    return json.dumps(stats), json.dumps(unit)


def test_export_with_pupil_counts_before_api_value(small, tmp_path, capsys):
    ref = load_folder(small)
    d = copy(small, tmp_path / "mapp")
    r = ref.results
    row = r[(r["level"] == "school") & (r["measure"] == "merit_17") & (r["group"] == "all")
            & (r["status"] == "ok")].iloc[0]
    assert pd.notna(row["n"])
    muni = ref.schools.set_index("school_id").at[row["school_id"], "municipality_id"]
    stats, unit = _api_pair(row["school_id"], muni, row["school_year"], "1,5")
    (d / "api").mkdir()
    (d / "api" / "statistik.json").write_text(stats, encoding="utf-8")
    (d / "api" / "enhet.json").write_text(unit, encoding="utf-8")
    ds = load_folder(d)
    got = ds.results[(ds.results["school_id"] == row["school_id"])
                     & (ds.results["school_year"] == row["school_year"])
                     & (ds.results["measure"] == "merit_17") & (ds.results["group"] == "all")]
    assert len(got) == 1 and got.iloc[0]["value"] == row["value"]
    assert got.iloc[0]["source"] == row["source"]
    msg = next(c for c in ds.checks if c.startswith("Avstämning:"))
    assert msg == (f"Avstämning: 1 värden fanns både i {row['source']} och i api (samma enhet, "
                   f"läsår och mått); värdet från {row['source']} behölls (Skolverket-export "
                   f"med elevantal före skolverkets api)")
    api = next(p for p in ds.provenance if p.path == "api")
    assert api.rows_kept == 0 and sum(api.dropped.values()) >= 1
    code, out, _ = run(capsys, "validera", str(d))
    assert msg in out
    # the API responses cover one of the register's four schools: a warning, status 1
    assert code == 1 and "Varning: resultaten i api har få eller inga skolenheter" in out
    assert [k for k, _ in PRECEDENCE][:4] == ["export_n", "export", "pupils", "api"]


def test_one_bad_api_response_is_the_only_file_not_read(small, tmp_path, capsys):
    ref = load_folder(small)
    d = copy(small, tmp_path / "mapp")
    schools = ref.schools.set_index("school_id")
    year = ref.school_years[-1]
    (d / "api").mkdir()
    for k, school in enumerate(schools.index[:2]):
        stats, unit = _api_pair(school, schools.at[school, "municipality_id"], year, "250,5")
        (d / "api" / f"statistik_{k}.json").write_text(stats, encoding="utf-8")
        (d / "api" / f"enhet_{k}.json").write_text(unit, encoding="utf-8")
    # a response saved when the API answered with an error (one school had no statistics)
    bad = json.loads(_api_pair(schools.index[2], "0000", year, "1,0")[0])
    bad["json"] = {"status": "NOT_FOUND", "message": "Skolenheten saknas", "body": None}
    (d / "api" / "statistik_fel.json").write_text(json.dumps(bad), encoding="utf-8")
    ds = load_folder(d)
    assert list(not_read(ds)) == ["api/statistik_fel.json"]
    reason = not_read(ds)["api/statistik_fel.json"]
    assert "status 'NOT_FOUND'" in reason and "Hämta svaret från API:et på nytt" in reason
    api = next(p for p in ds.provenance if p.path == "api")
    assert "4 filer, 2 med statistik" in api.notes  # the other four responses were read
    code, out, _ = run(capsys, "validera", str(d))
    assert code == 1
    assert "Filer som inte lästes in (1):" in out and "api/statistik_fel.json" in out
    assert "api/statistik_0.json" not in out.split("Filer som inte lästes in")[1].split(
        "Kontroller")[0]


# --------------------------------------------------------------------------
# Overlap
# --------------------------------------------------------------------------
def test_results_that_share_no_school_warn_naming_the_files(small, tmp_path, capsys):
    d = copy(small, tmp_path / "mapp")
    reg = load_folder(small).schools
    for f in d.glob("slutbetyg_ak9_skolenhet_*.csv"):
        text = f.read_text(encoding="utf-8")
        for k, sid in enumerate(sorted(reg["school_id"])):
            text = text.replace(sid, f"7654321{k}")
        f.write_text(text, encoding="utf-8")
    ds = load_folder(d)
    warn = [c for c in ds.checks if c.startswith("Varning:")]
    names = sorted(f.name for f in d.glob("slutbetyg_ak9_skolenhet_*.csv"))
    assert len(warn) == len(names)
    for name, w in zip(names, warn, strict=True):
        assert w.startswith(f"Varning: resultaten i {name} har få eller inga skolenheter "
                            f"gemensamma med skolregistret (skolregister.csv)")
    ov = [c for c in ds.checks if c.startswith("Överlapp:")]
    assert all(f"0 av registrets {len(reg)} skolor" in c for c in ov)
    code, out, _ = run(capsys, "validera", str(d))
    assert code == 1 and "varning" in out


# --------------------------------------------------------------------------
# The shared API folder, in a subfolder, as a municipality keeps it
# --------------------------------------------------------------------------
@needs_real
def test_api_folder_in_a_subfolder_every_school_row_has_its_municipality(small, tmp_path):
    d = copy(small, tmp_path / "mapp")
    shutil.copytree(API, d / "sparade svar" / "skolverket-api")
    # the register names the API's schools too
    api_schools = read_skolverket_api_schools(API)
    reg = (d / "skolregister.csv").read_text(encoding="utf-8").rstrip("\n").splitlines()
    for s in api_schools.itertuples():
        reg.append(f"{s.school_id};{s.school_name};{s.municipality_id};Kommunen;"
                   f"{'Kommunal' if s.principal_type == 'kommunal' else 'Enskild'};;")
    (d / "skolregister.csv").write_text("\n".join(reg) + "\n", encoding="utf-8")
    ds = load_folder(d)
    api = ds.results[ds.results["school_id"].isin(set(api_schools["school_id"]))]
    assert set(api["school_id"]) == set(api_schools["school_id"])
    assert api["municipality_id"].notna().all()
    mid = dict(zip(api_schools["school_id"], api_schools["municipality_id"], strict=True))
    assert (api["municipality_id"] == api["school_id"].map(mid)).all()
    prov = next(p for p in ds.provenance if p.path == "skolverket-api")
    assert prov.dropped["listsvar från /compact-school-units (saknar kommunkod; inte inläst)"] \
        == 1
    assert not not_read(ds)


@needs_real
def test_skolenkaten_workbook_is_routed_to_its_reader(small, tmp_path):
    d = copy(small, tmp_path / "mapp")
    src = next((REAL / "skolinspektionen-skolenkaten").glob("*.xlsx"))
    shutil.copy(src, d)
    ds = load_folder(d)
    assert src.name not in not_read(ds)
    prov = next(p for p in ds.provenance if p.path == src.name)
    assert prov.rows_read > 0


# --------------------------------------------------------------------------
# Column mapping from the command line: kolumner.yaml in the folder
# --------------------------------------------------------------------------
def _rename_column(d: Path, old: str, new: str) -> None:
    p = d / "observationer.csv"
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    head = lines[0].split(",")
    head[head.index(old)] = new
    lines[0] = ",".join(head)
    p.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")


def test_unknown_column_hint_names_kolumner_yaml_not_python(small, tmp_path, capsys):
    d = copy(small, tmp_path / "mapp")
    _rename_column(d, "Datum", "Besöksdag")
    code, _, err = run(capsys, "validera", str(d))
    assert code == 2
    assert "observationer.csv" in err and "`Besöksdag`" in err
    assert 'kolumner.yaml i mappen vad den betyder (en rad som "Besöksdag": date)' in err
    assert "columns=" not in err and "instrument=" not in err


def test_kolumner_yaml_maps_the_export(small, tmp_path, capsys):
    ref = load_folder(small)
    d = copy(small, tmp_path / "mapp")
    _rename_column(d, "Datum", "Besöksdag")
    _rename_column(d, "Lärarkod", "Lärare (kod)")
    (d / "kolumner.yaml").write_text(
        "kolumner:\n  Besöksdag: date\n  Lärare (kod): teacher_id\n", encoding="utf-8")
    ds = load_folder(d)
    pd.testing.assert_frame_equal(ds.observations, ref.observations)
    assert any(p.path == "kolumner.yaml" and p.loader == "load_column_spec"
               for p in ds.provenance)
    code, _, _ = run(capsys, "validera", str(d))
    assert code == 0


def test_kolumner_yaml_with_an_unknown_target_is_refused(small, tmp_path):
    from undervisning_analys.errors import ValueFormatError

    d = copy(small, tmp_path / "mapp")
    (d / "kolumner.yaml").write_text("Besöksdag: datum\n", encoding="utf-8")
    with pytest.raises(ValueFormatError,
                       match=r"Kolumnfilen mappar `Besöksdag` till 'datum', som inte är ett "
                             r"känt namn \(i filen kolumner.yaml, rad 1, kolumn `Besöksdag`\)"
                             r".*date"):
        load_folder(d)


def test_kolumner_yaml_broken_or_empty_is_refused(small, tmp_path):
    d = copy(small, tmp_path / "mapp")
    (d / "kolumner.yaml").write_text("kolumner: [\n", encoding="utf-8")
    with pytest.raises(FileFormatError, match="Kolumnfilen är inte giltig YAML"):
        load_folder(d)
    (d / "kolumner.yaml").write_text("# tom\n", encoding="utf-8")
    with pytest.raises(FileFormatError, match="Kolumnfilen har ingen mappning av kolumner"):
        load_folder(d)


# --------------------------------------------------------------------------
# Duplicate forms: identical dropped, corrected refused or the last one kept
# --------------------------------------------------------------------------
def _resubmit(d: Path, change: bool) -> tuple[str, str, str]:
    """Append line 2's form again (with a new response id); return (lesson, observer,
    new score)."""
    p = d / "observationer.csv"
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    cells = lines[1].split(",")
    cells[0] = "999999"  # a new Svars-ID: a second submission
    new = cells[-1]
    if change:
        new = "1" if cells[-1] != "1" else "2"
        cells[-1] = new
    lines.append(",".join(cells))
    p.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    return cells[1], cells[5], new


def test_identical_form_twice_is_dropped_and_counted(small, tmp_path):
    ref = load_folder(small)
    d = copy(small, tmp_path / "mapp")
    _resubmit(d, change=False)
    ds = load_folder(d)
    pd.testing.assert_frame_equal(ds.observations, ref.observations)
    prov = next(p for p in ds.provenance if p.path == "observationer.csv")
    assert prov.dropped == {"identiska dubbletter av formulär (samma svar två gånger)": 1}


def test_corrected_form_refused_naming_both_rows_or_last_wins(small, tmp_path, capsys):
    d = copy(small, tmp_path / "mapp")
    lesson, observer, new = _resubmit(d, change=True)
    n_lines = len((d / "observationer.csv").read_text(encoding="utf-8-sig").splitlines())
    code, _, err = run(capsys, "validera", str(d))
    assert code == 2 and "observationer.csv" in err
    assert "rad 2" in err and f"rad {n_lines}" in err and "Dubbletter" in err
    (d / "kolumner.yaml").write_text("dubbletter: senaste\n", encoding="utf-8")
    ds = load_folder(d)
    prov = next(p for p in ds.provenance if p.path == "observationer.csv")
    assert prov.dropped == {"rättade formulär: ett senare svar för samma lektion och "
                            "observatör gäller": 1}
    o = ds.observations
    last_item = ds.instrument.item_ids[-1]
    got = o[(o["observation_id"] == lesson) & (o["observer_id"] == observer)
            & (o["item_id"] == last_item)]
    assert len(got) == 1 and got["score"].iloc[0] == float(new)
    (d / "kolumner.yaml").write_text("dubbletter: ibland\n", encoding="utf-8")
    code, _, err = run(capsys, "validera", str(d))
    assert code == 2 and "dubbletter: 'ibland' är inte en känd regel" in err
    assert "dubbletter: senaste" in err
