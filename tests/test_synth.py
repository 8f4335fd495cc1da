"""The synthetic municipality: reproducible, and its truth is visible in simple summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from undervisning_analys import synth


def test_same_seed_gives_identical_dataset(small_ds):
    again = synth.municipality(seed=11, n_schools=8, n_years=3, effect=0.3)
    for t in ("schools", "observations", "results", "background", "pupil_results"):
        pd.testing.assert_frame_equal(getattr(small_ds, t), getattr(again, t))
    pd.testing.assert_frame_equal(small_ds.truth.school_quality, again.truth.school_quality)


def test_other_seed_differs(small_ds):
    other = synth.municipality(seed=12, n_schools=8, n_years=3, effect=0.3)
    assert not small_ds.observations["score"].equals(other.observations["score"])


def test_codes_and_names_are_fictional(small_ds):
    assert small_ds.schools["school_id"].str.startswith("99").all()
    assert (small_ds.schools["municipality_id"] == "9990").all()
    assert small_ds.schools["municipality_name"].eq("Exempelkommun").all()
    # pseudonyms are opaque: no digits-only ids that could pass for personnummer
    assert small_ds.observations["teacher_id"].str.match(r"^L[0-9a-f]{6}$").all()
    assert small_ds.pupil_results["pupil_id"].str.match(r"^E[0-9a-f]{6}$").all()


def test_structure(synth_ds):
    ds = synth_ds
    o = ds.observations
    assert set(o["observation_type"].unique()) == {"spontan", "planerad", "kollegial"}
    assert {"rektor", "forstelarare", "extern"} <= set(o["observer_role"].unique())
    forms = o.drop_duplicates(["observation_id", "observer_id"])
    paired = forms.groupby("observation_id").size()
    assert 0.08 < (paired > 1).mean() < 0.25          # paired_share 0.15
    assert len(ds.terms) == 10 and len(ds.school_years) == 5
    assert o["score"].isna().mean() == pytest.approx(0.02, abs=0.01)
    # teachers turn over: some teachers are only seen in later years
    first = o.groupby("teacher_id")["school_year"].min()
    assert (first > ds.school_years[0]).mean() > 0.1


def test_school_means_track_true_quality(synth_ds):
    ds = synth_ds
    scored = ds.instrument.score(ds.observations)
    raw = scored.groupby("school_id")["overall"].mean()
    true = ds.truth.school_quality.groupby("school_id")["quality"].mean()
    r = np.corrcoef(raw.loc[true.index], true)[0, 1]
    assert r > 0.7


def test_observers_rate_own_school_more_leniently(synth_ds):
    """In paired lessons, an observer from the school scores higher than an outsider."""
    ds = synth_ds
    scored = ds.instrument.score(ds.observations)
    sev = ds.truth.observer_severity.set_index("observer_id")
    scored["own"] = scored["observer_id"].map(sev["home_school_id"]) == scored["school_id"]
    paired = scored.groupby("observation_id").filter(
        lambda g: len(g) == 2 and g["own"].sum() == 1)
    own = paired[paired["own"]].set_index("observation_id")["overall"]
    out = paired[~paired["own"]].set_index("observation_id")["overall"]
    diff = (own - out.loc[own.index]).dropna()
    assert len(diff) > 50
    assert diff.mean() > 0.1
    assert diff.mean() / (diff.std() / np.sqrt(len(diff))) > 3


def test_background_differs_between_schools_and_drifts(synth_ds):
    bg = synth_ds.background
    between = bg.groupby("school_id")["share_parents_higher_edu"].mean().std()
    assert between > 8
    change = bg.groupby("school_id")["share_foreign_background"].agg(lambda s: s.iloc[-1] - s.iloc[0])
    assert (change.abs() > 0.5).mean() > 0.5


def test_results_are_plausible_and_published_like_skolverket(synth_ds):
    r = synth_ds.results
    merit = r[(r["measure"] == "merit_17") & (r["status"] == "ok") & (r["level"] == "school")]
    assert 180 < merit["value"].mean() < 270
    assert (merit["value"] == merit["value"].round(1)).all()
    assert set(r["status"].unique()) >= {"ok", "approx_100"}
    # (grade-6 shares are also '..' when they count 1–4 pupils: test_synth_school_types)
    sup = r[(r["status"] == "suppressed") & ~r["measure"].astype(str).str.startswith("grade6_")]
    assert (sup["n"] < 10).all() and sup["value"].isna().all()
    assert (r.loc[r["status"] == "ok", "n"] >= 10).all()


def test_results_depend_on_background(synth_ds):
    r = synth_ds.results
    m = r[(r["measure"] == "merit_17") & (r["group"] == "all") & (r["level"] == "school")]
    bg = synth_ds.background.set_index(["school_id", "school_year"])["share_parents_higher_edu"]
    m = m.assign(bg=[bg[(s, y)] for s, y in zip(m["school_id"], m["school_year"], strict=True)])
    assert m["value"].corr(m["bg"]) > 0.4


def test_true_slope_follows_effect():
    with_eff = synth.municipality(seed=3, n_schools=6, n_years=3, effect=0.5)
    no_eff = synth.municipality(seed=3, n_schools=6, n_years=3, effect=0.0)
    assert with_eff.truth.slope["merit_17"] > 20
    assert no_eff.truth.slope["merit_17"] == 0.0
    assert with_eff.truth.effect == 0.5 and with_eff.truth.lag == 1


def test_aggregation_follows_merit_rules():
    pupils = pd.DataFrame({"pupil_id": ["a", "b"], "school_id": "99000001",
                           "school_year": "2023/24", "girl": [True, False]})
    subjects = synth.SUBJECTS_16 + ["M2"]
    grades = ["A"] * 16 + ["C"]
    rows = [{"pupil_id": "a", "subject": s, "grade": g} for s, g in zip(subjects, grades, strict=True)]
    # b: one F (fails 'all subjects'), no modern language, one '-' counted as 0
    gb = ["F", "-"] + ["E"] * 14
    rows += [{"pupil_id": "b", "subject": s, "grade": g}
             for s, g in zip(synth.SUBJECTS_16, gb, strict=True)]
    g = pd.DataFrame(rows).assign(school_year="2023/24")
    g["points"] = synth.grade_points(g["grade"].to_numpy())
    out = synth.aggregate_results(pupils, g)
    allg = out[out["group"] == "all"].iloc[0]
    assert allg["n"] == 2
    assert allg["merit_16"] == pytest.approx((320 + 140) / 2)
    assert allg["merit_17"] == pytest.approx((335 + 140) / 2)
    assert allg["pass_all_subjects_pct"] == pytest.approx(50)
    # b has E in Sv, En, Ma and 11 other passed subjects -> eligible
    assert allg["eligible_vocational_pct"] == pytest.approx(100)


def test_score_scale_is_the_derivative_of_the_expected_score():
    """The closed form equals a common-random-numbers finite difference of the score rule
    (rounding to whole steps, clipping to 1–4), with the half rules for missing items."""
    from undervisning_analys.instruments import load_instrument
    from undervisning_analys.synth import _score_scale

    inst = load_instrument(None)
    rng = np.random.default_rng(5)
    n, k = 400, len(inst.items)
    base = rng.normal(0.0, 0.6, n)
    diff = rng.normal(0.0, 0.2, k)
    centre, sd = 2.6, 0.45
    scores = np.ones((n, k))
    scores[rng.random((n, k)) < 0.2] = np.nan
    got = _score_scale(inst, base, centre, diff, sd, scores)

    h, reps = 0.02, 4000
    e = sd * rng.standard_normal((reps, 1, k))
    x = centre + base[None, :, None] + diff[None, None, :] + e

    def score(v):
        return np.clip(np.floor(v + 0.5), inst.scale_min, inst.scale_max)

    item_d = ((score(x + h) - score(x - h)) / (2 * h)).mean(axis=0)  # n × k
    ids = [it.id for it in inst.items]
    dims = []
    for d in inst.dimensions:
        cols = [ids.index(i.id) for i in d.items]
        a = ~np.isnan(scores[:, cols])
        ok = a.sum(axis=1) >= np.ceil(len(cols) / 2)
        dd = np.where(ok, (item_d[:, cols] * a).sum(axis=1) / np.maximum(a.sum(axis=1), 1),
                      np.nan)
        assert got[d.id] == pytest.approx(np.nanmean(dd), rel=0.02)
        dims.append(dd)
    m = np.column_stack(dims)
    ok = (~np.isnan(m)).sum(axis=1) >= 2
    assert got["overall"] == pytest.approx(np.nanmean(np.nanmean(m[ok], axis=1)), rel=0.02)


def test_truth_gives_the_slope_per_score_point(synth_ds):
    t = synth_ds.truth
    assert 0.8 < t.score_scale["overall"] < 0.98  # rounding and the ceiling compress
    assert set(t.score_scale) == {d.id for d in synth_ds.instrument.dimensions} | {"overall"}
    assert t.slope_per_point("merit_17") == pytest.approx(
        t.slope["merit_17"] / t.score_scale["overall"])
    assert t.slope_per_point("merit_17") > t.slope["merit_17"]
