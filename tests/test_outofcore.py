"""Out-of-core aggregation (DuckDB over Parquet) equals the in-memory aggregation.

The reference is :func:`undervisning_analys.io.pupils.aggregate_pupil_grades`
on the same rows; the data are the synthetic sample municipality's pupils
(``synth.municipality(**SAMPLE_ARGS)``: 20 schools × 5 school years) and a
hand-made table with the edge cases of Skolverket's definitions.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from undervisning_analys.errors import UAError

pytest.importorskip("duckdb")

from undervisning_analys.io import outofcore  # noqa: E402
from undervisning_analys.io.pupils import aggregate_pupil_grades  # noqa: E402


@pytest.fixture(scope="module")
def sample_pupils(synth_ds):
    pr = synth_ds.pupil_results
    rng = np.random.default_rng(5)
    ids = pr["pupil_id"].unique()
    draw = rng.random(len(ids))
    # girls, boys and a few pupils of unknown sex (temporary numbers): only in "all"
    sex = {p: ("girls" if u < 0.48 else "boys") for p, u in zip(ids, draw) if u < 0.97}
    return pr, sex


def test_sample_school_level_equals_in_memory(sample_pupils, tmp_path):
    pr, sex = sample_pupils
    expected = aggregate_pupil_grades(pr, sex)
    path = outofcore.to_parquet(pr, tmp_path / "elever.parquet", sex)
    got = outofcore.aggregate_parquet(path)
    pd.testing.assert_frame_equal(got, expected)
    assert set(got["status"]) >= {"ok", "approx_100"}  # the markers are exercised


def test_sample_counts_and_shares_match_the_generator(sample_pupils, synth_ds, tmp_path):
    """Pupil counts and the share passing all subjects equal synth's exact aggregates.

    (Meritvärde is not compared: the loader averages over pupils with at least
    one passing grade, as Skolverket does; synth over every graded pupil.)
    """
    pr, sex = sample_pupils
    outofcore.to_parquet(pr, tmp_path / "elever.parquet", sex)
    got = outofcore.aggregate_parquet(tmp_path)
    got = got[got["group"] == "all"]
    exact = synth_ds.truth.results_exact
    exact = exact[exact["group"] == "all"].set_index(["school_id", "school_year"])
    n = got[got["measure"] == "n_pupils_grade9"].set_index(["school_id", "school_year"])["n"]
    assert (n.astype(int) == exact.loc[n.index, "n"].astype(int)).all()
    share = got[(got["measure"] == "pass_all_subjects_pct") & (got["status"] == "ok")] \
        .set_index(["school_id", "school_year"])["value"]
    assert len(share) > 30
    np.testing.assert_allclose(share, exact.loc[share.index, "pass_all_subjects_pct"],
                               atol=0.051)


def test_split_over_files_and_municipality_level(sample_pupils, tmp_path):
    pr, sex = sample_pupils
    years = sorted(pr["school_year"].unique())
    offset = 0
    for k, sy in enumerate(years):
        part = pr[pr["school_year"] == sy]
        outofcore.to_parquet(part, tmp_path / f"{k}.parquet", sex, row_offset=offset)
        offset += len(part)
    files = sorted(tmp_path.glob("*.parquet"))
    for source in (tmp_path, [str(f) for f in files], str(tmp_path / "*.parquet")):
        got = outofcore.aggregate_parquet(source, memory_limit="256MB", threads=1)
        pd.testing.assert_frame_equal(got, aggregate_pupil_grades(pr, sex))
    muni = outofcore.aggregate_parquet(tmp_path, level="municipality", municipality_id="9990")
    pd.testing.assert_frame_equal(
        muni, aggregate_pupil_grades(pr, sex, level="municipality", municipality_id="9990"))


def _pupil(pid: str, school: str, grades: dict[str, str]) -> list[dict]:
    points = {"A": 20.0, "B": 17.5, "C": 15.0, "D": 12.5, "E": 10.0, "F": 0.0, "-": 0.0}
    return [{"pupil_id": pid, "school_id": school, "school_year": "2024/25", "grade_level": 9,
             "subject": s, "grade": g, "points": points.get(g, np.nan)} for s, g in grades.items()]


def test_edge_cases_of_the_definitions(tmp_path):
    compulsory = ["Bl", "Bi", "En", "Fy", "Ge", "Hkk", "Hi", "Idh", "Ke", "Ma", "Mu", "Re", "Sh",
                  "Sl", "Sv", "Tk"]
    rows: list[dict] = []
    # school A: 12 pupils, one of them failing Ma (~100 for pass_all), one with 17
    # compulsory grades (Sv and Sva: only the 16 best count), one with M1 and M2
    for k in range(12):
        g = dict.fromkeys(compulsory, "C")
        if k == 0:
            g["Ma"] = "F"
        if k == 1:
            g["Sva"] = "A"
        if k == 2:
            g["M1"], g["M2"] = "E", "B"
        if k == 3:
            g["ML"], g["OVR"] = "A", "F"           # not in merit, but graded: pass_all fails
        if k == 4:
            g["Bl"], g["Mu"] = "3", "2"            # not graded: ignored
        rows += _pupil(f"a{k}", "99000001", g)
    # school B: 9 pupils (suppressed), one with only '-' grades (counted, merit 0)
    for k in range(9):
        g = dict.fromkeys(compulsory, "-" if k == 0 else "E")
        rows += _pupil(f"b{k}", "99000002", g)
    # a pupil with only ungraded codes is not counted at all
    rows += _pupil("c0", "99000002", {"Bl": "3", "M2": "2"})
    pr = pd.DataFrame(rows)
    pr["grade_level"] = pr["grade_level"].astype("Int64")
    sex = {f"a{k}": ("girls" if k % 2 else "boys") for k in range(12)}
    expected = aggregate_pupil_grades(pr, sex)
    got = outofcore.aggregate_parquet(outofcore.to_parquet(pr, tmp_path / "e.parquet", sex))
    pd.testing.assert_frame_equal(got, expected)
    a = got[(got["school_id"] == "99000001") & (got["group"] == "all")].set_index("measure")
    assert a.loc["pass_all_subjects_pct", "status"] == "approx_100"
    assert got[(got["school_id"] == "99000002")]["status"].isin(["ok", "suppressed"]).all()


def test_scb_files_through_parquet_equal_in_memory(tmp_path, monkeypatch, repo):
    """SCB record files -> read_pupil_grades -> in memory, and -> Parquet -> DuckDB."""
    from undervisning_analys import synth
    from undervisning_analys.io.pupils import concat_pupil_grades, read_pupil_grades

    sys.path.insert(0, str(repo / "benchmarks"))
    try:
        import _workload
    finally:
        sys.path.remove(str(repo / "benchmarks"))
    ds = synth.municipality(seed=4, n_schools=4, n_years=2, pupils_per_grade=(15, 30),
                            compute_slope=False)
    files = _workload.write_scb_pupil_files(ds.pupil_results, tmp_path / "scb", seed=4)
    key = "testnyckel-inte-hemlig"
    frames = [read_pupil_grades(f, key=key) for f in files]
    expected = aggregate_pupil_grades(concat_pupil_grades(frames))
    assert set(expected["group"]) == {"all", "girls", "boys"}
    assert expected["source"].iloc[0] == ", ".join(sorted(f.name for f in files))
    written = outofcore.pupil_grades_to_parquet(files, tmp_path / "pq", key=key)
    assert [p.suffix for p in written] == [".parquet"] * len(files)
    pd.testing.assert_frame_equal(outofcore.aggregate_parquet(tmp_path / "pq"), expected)
    # no personnummer is written to Parquet: only pseudonyms
    back = pd.read_parquet(written[0])
    assert list(back.columns) == list(outofcore.PARQUET_COLUMNS)
    assert back["pupil_id"].str.fullmatch(r"[0-9a-f]{20}").all()


def test_missing_duckdb_is_a_swedish_error(sample_pupils, tmp_path, monkeypatch):
    pr, sex = sample_pupils
    path = outofcore.to_parquet(pr.head(50), tmp_path / "e.parquet", sex)
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(UAError, match="kräver paketet duckdb.*pip install duckdb"):
        outofcore.aggregate_parquet(path)


def test_no_parquet_files_is_an_error(tmp_path):
    with pytest.raises(UAError, match="Inga Parquet-filer"):
        outofcore.aggregate_parquet(tmp_path)
