"""Provenance and reproducibility of the main job (issue 7, "Done when": running the main
job twice gives identical tidy outputs and identical provenance except for timestamps).

``undervisning-analys rapporter`` runs twice, each time in a fresh Python
process with a different hash seed (set and dict orders that depend on string
hashes would show) and once with worker processes, once without:

* the tidy exports (``data/*.csv``, ``data/*.parquet``) are identical byte for byte;
* ``proveniens.json`` is identical except ``skapad``, and says what it must:
  the package version, every input with its sha256 (checked against the
  files), loader and row counts, the model specifications, the seed, the
  floors, and the sha256 of every export;
* the HTML reports are identical except the lines' time stamps;
* the exports are privacy-checked (no teacher or observer pseudonym, no
  value below the floors) and the reports name the model specifications.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from _scan import scan_outputs

import undervisning_analys as ua
from undervisning_analys import synth
from undervisning_analys.report.export import EXPORTS, WORKBOOK_FILE
from undervisning_analys.sample import load_folder, write_sample

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
STAMP = re.compile(r"([Ss]kapad(?:</th><td>|\s+))\d{4}-\d{2}-\d{2}")


def run_job(folder: Path, out: Path, hash_seed: int, processes: int | None = None) -> None:
    """The main job in a fresh interpreter, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if k != "UA_PSEUDONYM_KEY"}
    env.update(PYTHONHASHSEED=str(hash_seed), MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "undervisning_analys.cli", "rapporter", str(folder),
           "--ut", str(out), "--tyst"]
    if processes is not None:
        cmd += ["--processer", str(processes)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "proveniens.json" in r.stdout and "data" in r.stdout


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def without_timestamp(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "skapad"}


def assert_reproduced(a: Path, b: Path) -> dict:
    """Everything the issue asks of two runs; returns the provenance document."""
    assert files(a) == files(b)
    data = [f for f in files(a) if f.startswith("data/")]
    # every table, plus the one Excel workbook that holds them all (tabeller.xlsx)
    expected = {stem for stem, _d, _k in EXPORTS.values()} | {Path(WORKBOOK_FILE).stem}
    stems = {Path(f).stem for f in data}
    assert stems <= expected and {"undervisningskvalitet", "tackning", "resultat_justerade",
                                  "resultat_kommun", "trender"} <= stems
    for f in data:
        assert f.endswith((".csv", ".parquet", ".xlsx"))
        assert (a / f).read_bytes() == (b / f).read_bytes(), f"{f} differs between runs"
    # the notes workbooks beside the reports (XlsxWriter, a fixed document date)
    notes = [f for f in files(a) if Path(f).name.startswith("dialog_")]
    assert notes and all(f.endswith(".xlsx") for f in notes)
    for f in notes:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f"{f} differs between runs"
    pa_doc = json.loads((a / "proveniens.json").read_text(encoding="utf-8"))
    pb_doc = json.loads((b / "proveniens.json").read_text(encoding="utf-8"))
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", pa_doc["skapad"])
    assert without_timestamp(pa_doc) == without_timestamp(pb_doc)
    for f in files(a):
        if not f.endswith(".html"):
            continue
        ta = (a / f).read_text(encoding="utf-8")
        tb = (b / f).read_text(encoding="utf-8")
        assert STAMP.search(ta), f"{f}: no time stamp found (the pattern is stale)"
        na, nb = STAMP.sub(r"\1<datum>", ta), STAMP.sub(r"\1<datum>", tb)
        if na != nb:
            diff = [(x, y) for x, y in zip(na.splitlines(), nb.splitlines()) if x != y]
            raise AssertionError(f"{f} differs between runs: {diff[:1]}")
    return pa_doc


def check_provenance(doc: dict, folder: Path, out: Path, seed: int | None) -> None:
    assert doc["program"]["namn"] == "undervisning_analys"
    assert doc["program"]["version"] == ua.__version__
    assert doc["slumpfrö"] == seed
    assert doc["gränser"]["minsta_antal_elever"] == 10
    assert doc["gränser"]["minsta_antal_lärare"] == 3
    assert doc["gränser"]["minsta_antal_observerade_lektioner"] == 5
    inputs = {d["fil"]: d for d in doc["indata"]}
    on_disk = {p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
               and p.suffix != ".md"}
    assert set(inputs) == on_disk
    for name, d in inputs.items():
        assert d["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest(), name
        assert d["inläsare"] and d["rader_lästa"] >= 0 and d["rader_behållna"] >= 0
        assert isinstance(d["ej_behållna"], dict)
    assert inputs["observationer.csv"]["inläsare"] == "read_observations"
    models = doc["modeller"]
    assert models["quality"]["formel"].startswith("score ~ time")
    assert "(1 | teacher_id)" in models["quality"]["formel"]
    assert any(k.startswith("results:") and "share_parents_higher_edu" in v["formel"]
               for k, v in models.items())
    for t in doc["utdata"]["tabeller"]:
        for kind in ("csv", "parquet"):
            assert hashlib.sha256((out / t[kind]).read_bytes()).hexdigest() == \
                t[f"{kind}_sha256"]
        df = pd.read_parquet(out / t["parquet"])
        assert len(df) == t["rader"] and list(df.columns) == t["kolumner"]
        csv = pd.read_csv(out / t["csv"], dtype=str, keep_default_na=False)
        assert list(csv.columns) == t["kolumner"] and len(csv) == t["rader"]
    assert "kommun.html" in doc["utdata"]["rapporter"]


def check_reports_and_exports(out: Path, loaded) -> None:
    html = (out / "kommun.html").read_text(encoding="utf-8")
    assert "Modellerna bakom siffrorna" in html and "score ~ time" in html
    assert "Slumpfrö" in html and f"undervisning_analys {ua.__version__}" in html
    school = next(out.glob("skola_*.html")).read_text(encoding="utf-8")
    assert "Modellerna bakom siffrorna" in school and "Slumpfrö" in school
    q = pd.read_parquet(out / "data" / "undervisningskvalitet.parquet")
    thin = (q["n_teachers"] < 3) | (q["n_obs"] < 5)
    assert q.loc[thin, ["estimate", "se", "conf_low", "conf_high"]].isna().all().all()
    assert q.loc[thin, "suppressed"].all()
    r = pd.read_parquet(out / "data" / "resultat_justerade.parquet")
    few = r["n"].astype(float) < 10
    assert r.loc[few, ["observed", "expected", "residual"]].isna().all().all()
    for p in (out / "data").glob("*.parquet"):
        t = pd.read_parquet(p)
        assert not {"teacher_id", "observer_id"} & set(t.columns), p.name
    # the scan of the "Done when" reads the exports too (CSV, Parquet, JSON)
    report = scan_outputs(out / "data", loaded)
    report.assert_clean()
    assert report.partial == [] and len(report.scanned) == len(files(out / "data"))


# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    ds = synth.municipality(seed=13, n_schools=6, n_years=3)
    folder = tmp_path_factory.mktemp("kommun")
    write_sample(ds, folder)
    a = tmp_path_factory.mktemp("ut_a")
    b = tmp_path_factory.mktemp("ut_b")
    run_job(folder, a, hash_seed=1)                 # worker processes (default)
    run_job(folder, b, hash_seed=2, processes=1)    # everything in one process
    return folder, a, b


def test_main_job_twice_gives_identical_outputs(small_runs):
    folder, a, b = small_runs
    doc = assert_reproduced(a, b)
    check_provenance(doc, folder, a, seed=None)


def test_exports_are_privacy_checked_and_reports_name_the_models(small_runs):
    folder, a, _b = small_runs
    check_reports_and_exports(a, load_folder(folder))


def test_csv_and_parquet_hold_the_same_table(small_runs):
    _folder, a, _b = small_runs
    for p in sorted((a / "data").glob("*.parquet")):
        pq = pd.read_parquet(p)
        csv = pd.read_csv(p.with_suffix(".csv"))
        assert list(pq.columns) == list(csv.columns) and len(pq) == len(csv)
        for col in pq.columns:
            if pd.api.types.is_float_dtype(pq[col]):
                assert ((pq[col] - csv[col]).abs() <= 1e-9 * pq[col].abs().clip(lower=1)
                        ).where(pq[col].notna(), True).all(), (p.name, col)
                assert (pq[col].isna() == csv[col].isna()).all(), (p.name, col)


def test_library_provenance_without_files_has_the_seed(tmp_path):
    """A synthetic Dataset (no files) written with write_all: the seed is in provenance."""
    from undervisning_analys import report

    ds = synth.municipality(seed=17, n_schools=5, n_years=2)
    written = report.write_all(ds, tmp_path, processes=1)
    doc = json.loads(written.provenance.read_text(encoding="utf-8"))
    assert doc["slumpfrö"] == 17 and doc["indata"] == []
    assert {e.name for e in written.exports} <= {s for s, _d, _k in EXPORTS.values()}
    assert "slumpfrö 17" in written.municipality.read_text(encoding="utf-8")


@pytest.mark.slow
def test_main_job_on_the_sample_twice(tmp_path):
    if not (SAMPLE / "skolregister.csv").exists():
        pytest.skip("data/sample saknas")
    a, b = tmp_path / "a", tmp_path / "b"
    run_job(SAMPLE, a, hash_seed=3)
    run_job(SAMPLE, b, hash_seed=4, processes=1)
    doc = assert_reproduced(a, b)
    check_provenance(doc, SAMPLE, a, seed=None)
    check_reports_and_exports(a, load_folder(SAMPLE))
    check_outcome_section(a)


def check_outcome_section(out: Path) -> None:
    """Issue 16's 'Done when': the section on the pupils' experience and attendance in
    every school report and in the municipality report, with its tables, and the
    municipality's comparison row beside every school value in the export."""
    reports = sorted(out.glob("skola_*.html")) + [out / "kommun.html"]
    assert len(reports) > 1
    for p in reports:
        html = p.read_text(encoding="utf-8")
        sec = html[html.index('id="upplevelse"'):]
        sec = sec[:sec.index("</section>")]
        assert "Elevernas upplevelse och närvaro" in sec and "<table" in sec, p.name
    u = pd.read_parquet(out / "data" / "utfall.parquet")
    schools = u[u["level"] == "school"]
    muni = u[u["unit"] == "kommun"]
    assert set(zip(schools["measure"], schools["school_year"])) == set(
        zip(muni["measure"], muni["school_year"]))
    # a school without the surveyed grade (F-6) says so instead of a Skolenkäten table
    surveyed = set(schools.loc[schools["measure"].str.startswith("skolenkat_"), "unit"])
    n_without = 0
    for p in sorted(out.glob("skola_*.html")):
        html = p.read_text(encoding="utf-8")
        sid = p.stem.split("_", 1)[1]
        has_table = "Skolenkäten: elevernas svar" in html
        assert has_table == (sid in surveyed), p.name
        assert ("inga värden för skolan" in html) == (sid not in surveyed), p.name
        n_without += sid not in surveyed
    assert n_without > 0
