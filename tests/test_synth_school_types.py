"""The synthetic municipality's school types (F–6, 7–9, F–9) and grade-6 results."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

import undervisning_analys as ua

# sha256 over the default output of synth.municipality(seed=5, n_schools=8, n_years=3,
# compute_slope=False), computed with the generator before school types existed: the
# default must stay byte for byte the same (other tests and helpers rely on it).
DEFAULT_DIGEST = "49e5969b69771e2bbafa6f1a8e2af29d9ad1dbe1fc06379c9415abb5414e5aa5"


def _digest(ds: ua.Dataset) -> str:
    h = hashlib.sha256()
    for t in (ds.schools, ds.observations, ds.results, ds.background):
        h.update(pd.util.hash_pandas_object(t, index=False).to_numpy().tobytes())
    return h.hexdigest()


def test_default_output_is_unchanged():
    ds = ua.synth.municipality(seed=5, n_schools=8, n_years=3, compute_slope=False)
    assert _digest(ds) == DEFAULT_DIGEST
    assert not ds.results["measure"].astype(str).str.startswith("grade6_").any()


@pytest.fixture(scope="module")
def typed() -> ua.Dataset:
    return ua.synth.municipality(seed=7, n_schools=14, n_years=4, compute_slope=False,
                                 school_types=True)


def test_each_school_type_has_its_grades(typed):
    types = dict(zip(typed.schools["school_id"], typed.schools["grades"]))
    assert set(types.values()) == {"F-6", "7-9", "F-9"}
    r = typed.results[typed.results["level"] == "school"]
    g6 = set(r.loc[r["measure"].astype(str).str.startswith("grade6_"), "school_id"])
    g9 = set(r.loc[r["measure"] == "merit_17", "school_id"])
    assert g6 == {s for s, t in types.items() if t in ("F-6", "F-9")}
    assert g9 == {s for s, t in types.items() if t in ("7-9", "F-9")}
    o = typed.observations.drop_duplicates("observation_id")
    span = o["school_id"].map(types)
    assert o.loc[span == "F-6", "grade_level"].between(1, 6).all()
    assert o.loc[span == "7-9", "grade_level"].between(7, 9).all()
    # pupils in the background table follow the span
    bg = typed.background.assign(t=typed.background["school_id"].map(types))
    per = bg.groupby("t")["n_pupils"].mean()
    assert per["F-9"] > per["F-6"] > per["7-9"] * 0.9


def test_grade6_results_are_published_as_skolverket_does(typed):
    r = typed.results
    g6 = r[r["measure"].astype(str).str.startswith("grade6_") & (r["level"] == "school")]
    ok = g6[g6["status"] == "ok"]
    # one decimal, shares in 0–100, about 17 subject grades
    assert np.allclose(ok["value"], ok["value"].round(1))
    pct = ok[ok["measure"].astype(str).str.endswith("_pct")]
    assert pct["value"].between(0, 100).all()
    avg = ok[ok["measure"] == "grade6_avg_subject_grades"]["value"]
    assert avg.between(15.5, 17.0).all()
    # the three shares add up to 100 where all are shown
    wide = ok.pivot_table(index=["school_id", "school_year"], columns="measure", values="value")
    full = wide.dropna(subset=["grade6_pass_all_subjects_pct", "grade6_fail_one_subject_pct",
                               "grade6_fail_several_subjects_pct"])
    total = full[["grade6_pass_all_subjects_pct", "grade6_fail_one_subject_pct",
                  "grade6_fail_several_subjects_pct"]].sum(axis=1)
    assert len(full) and np.allclose(total, 100, atol=0.15)
    # a share counting 1–4 pupils is '..', as in the real export
    assert (g6["status"] == "suppressed").any()
    assert set(g6["status"].astype(str)) <= {"ok", "suppressed", "approx_100", "missing"}


def test_grade6_follows_the_schools_true_effect():
    ds = ua.synth.municipality(seed=3, n_schools=20, n_years=4, compute_slope=False,
                               school_types=True, sd_school_results=0.4)
    r = ds.results
    p = r[(r["measure"] == "grade6_pass_all_subjects_pct") & (r["status"] == "ok")]
    mean = p.groupby("school_id")["value"].mean()
    truth = ds.truth.school_params.set_index("school_id").loc[mean.index, "pupil_re"]
    assert np.corrcoef(mean, truth)[0, 1] > 0.5


@pytest.mark.slow
def test_written_in_the_real_formats_and_read_back(typed, tmp_path):
    from undervisning_analys.sample import load_folder, write_sample

    paths = write_sample(typed, tmp_path)
    names = {p.name for p in paths}
    assert {"betyg_ak6_skolenhet_2024.csv", "betyg_ak6_kommun_2024.csv"} <= names
    text = (tmp_path / "betyg_ak6_skolenhet_2024.csv").read_text(encoding="utf-8")
    assert "Valt läsår: 2023/24" in text and "Antal ämnesbetyg (genomsnitt)" in text
    nine = (tmp_path / "slutbetyg_ak9_skolenhet_2024.csv").read_text(encoding="utf-8")
    f6 = typed.schools.loc[typed.schools["grades"] == "F-6", "school_id"]
    assert not any(s in nine for s in f6)   # an F–6 school is not in the grade-9 export
    back = load_folder(tmp_path)
    k = ["level", "school_id", "school_year", "measure", "group", "principal_type"]
    m = typed.results.merge(back.results, on=k, how="left", suffixes=("", "_read"))
    assert m["status_read"].notna().all()
    assert (m["status"].astype(str) == m["status_read"].astype(str)).all()
    assert np.allclose(m["value"].fillna(-1), m["value_read"].fillna(-1))
