"""Outcomes beside grades: vocabulary, the organiser's own measures, synthetic truth, link.

Recovery of the known effects over seeds is in ``benchmarks/sim_outcomes.py``
(figures in ``benchmarks/results/sim_outcomes_summary.md``); here each piece's
behaviour is checked on one dataset.
"""

from __future__ import annotations

import math

import numpy as np
import openpyxl
import pandas as pd
import pytest
from test_io_support import fake_personnummer

from undervisning_analys import schema, synth
from undervisning_analys.errors import FileFormatError, MissingKeyError
from undervisning_analys.io.local_measures import (
    read_local_measures,
    read_pupil_attendance,
    term_rows,
    write_template,
)
from undervisning_analys.models.link import link
from undervisning_analys.models.outcomes import holm, link_outcomes


# --------------------------------------------------------------------------
# Vocabulary: direction and scale
# --------------------------------------------------------------------------
def test_measure_info_direction_and_scale():
    i = schema.measure_info("skolenkat_trygghet_ak8")
    assert (i.direction, i.scale) == ("higher_better", (0.0, 10.0))
    assert "Trygghet" in i.label and "åk 8" in i.label
    a = schema.measure_info("problematic_absence_pct")
    assert a.direction == "lower_better" and a.better(-2.0) is True and a.better(1.0) is False
    assert schema.measure_info("offences_per_100").direction == "lower_better"
    assert schema.measure_info("attendance_pct").better(0.5) is True
    assert schema.measure_info("skolenkat_antal_svar_gy2").direction == "neutral"
    assert schema.measure_info("skolenkat_svarsfrekvens_gy2").scale == (0.0, 100.0)
    assert schema.is_known_measure("local_lasforstaelse")
    assert not schema.is_known_measure("skolenkat_trygghet_ak7")
    assert not schema.is_known_measure("local_Trivsel")
    with pytest.raises(KeyError):
        schema.measure_info("nonsense")


# --------------------------------------------------------------------------
# The organiser's own measures
# --------------------------------------------------------------------------
def test_template_round_trip(tmp_path, small_ds):
    path = write_template(tmp_path, small_ds.schools)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Mått", "Instruktioner"]
    ws = wb["Mått"]
    assert ws.data_validations.count >= 4
    sids = [ws.cell(r, 1).value for r in range(2, ws.max_row + 1)]
    assert sids == sorted(small_ds.schools["school_id"])
    # fill two terms for the first school and a local measure with direction and scale
    ws.cell(2, 3).value, ws.cell(2, 6).value, ws.cell(2, 7).value = "HT2023", 94.0, 300
    ws.delete_rows(3, len(sids) - 1)  # the other schools' rows stay unfilled: removed
    ws.append([sids[0], None, "VT2024", None, "Närvaro (%)", 91.0, 100, None, None, None, None])
    ws.append([sids[1], None, None, "2023/24", "local_lasforstaelse", 55.5, 40, "flickor",
               "lägre är bättre", 0, 100])
    wb.save(path)
    df = read_local_measures(path)
    att = df[df["measure"] == "attendance_pct"].iloc[0]
    assert att["value"] == pytest.approx((94.0 * 300 + 91.0 * 100) / 400)
    assert int(att["n"]) == 300 and att["school_year"] == "2023/24"
    terms = term_rows(df)
    assert sorted(terms["term"]) == ["HT2023", "VT2024"]
    loc = df[df["measure"] == "local_lasforstaelse"].iloc[0]
    assert loc["group"] == "girls" and loc["value"] == 55.5
    assert schema.measure_info("local_lasforstaelse").direction == "lower_better"
    assert schema.measure_info("local_lasforstaelse").scale == (0.0, 100.0)


def test_local_markers_and_suppression(tmp_path):
    p = tmp_path / "egna_matt.csv"
    p.write_text("Skolenhetskod;Termin;Mått;Värde;Antal elever\n"
                 "99001234;HT2023;Problematisk frånvaro;..;8\n"
                 "99001234;VT2024;Problematisk frånvaro;;8\n"
                 "99005678;HT2023;problematic_absence_pct;12,5;200\n", encoding="utf-8")
    df = read_local_measures(p)
    a = df[df["school_id"] == "99001234"].iloc[0]
    assert a["status"] == "suppressed" and math.isnan(a["value"]) and int(a["n"]) == 8
    b = df[df["school_id"] == "99005678"].iloc[0]
    assert b["status"] == "ok" and b["value"] == 12.5
    assert df.attrs["provenance"].rows_read == 3


def _attendance_export(tmp_path, n_big: int = 12, n_small: int = 9):
    rng, used = np.random.default_rng(8), set()
    pnrs = [fake_personnummer(rng, 2009, k % 2 == 0, used) for k in range(n_big + n_small)]
    rows = ["Personnummer;Skolenhetskod;Period;Schemalagd tid;Frånvaro"]
    absences = {}
    for k, pnr in enumerate(pnrs):
        sid = "99001234" if k < n_big else "99005678"
        for month, absent in (("2023-09", 10 * k), ("2023-10", 5 * k)):
            rows.append(f"{pnr};{sid};{month};600;{absent}")
        absences[pnr] = (sid, 100 * (15 * k) / 1200)
    p = tmp_path / "narvaro_elever.csv"
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return p, pnrs, absences


def test_pupil_attendance_is_pseudonymised_and_aggregated_with_the_floor(tmp_path):
    p, pnrs, absences = _attendance_export(tmp_path)
    df = read_pupil_attendance(p, key="hemlig", threshold=15.0)
    text = df.to_csv() + term_rows(df).to_csv() + repr(df.attrs["provenance"])
    for pnr in pnrs:
        assert pnr not in text and pnr[2:8] not in text
    big = df[df["school_id"] == "99001234"].set_index("measure")
    shares = np.array([a for s, a in absences.values() if s == "99001234"])
    assert big.loc["attendance_pct", "value"] == pytest.approx(100 - shares.mean())
    assert big.loc["problematic_absence_pct", "value"] == pytest.approx(
        100 * (shares >= 15).mean())
    assert int(big.loc["attendance_pct", "n"]) == 12
    small = df[df["school_id"] == "99005678"]
    assert (small["status"] == "suppressed").all() and small["value"].isna().all()
    assert set(df["school_year"]) == {"2023/24"}
    assert set(term_rows(df)["term"]) == {"HT2023"}


def test_pupil_attendance_needs_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv("UA_PSEUDONYM_KEY", raising=False)
    p, _pnrs, _ = _attendance_export(tmp_path)
    with pytest.raises(MissingKeyError):
        read_pupil_attendance(p)


# --------------------------------------------------------------------------
# Synthetic outcomes and the one path through link
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def outcome_ds():
    ds = synth.municipality(seed=5, n_schools=12, n_years=5, sd_dimension=0.15,
                            compute_slope=False)
    return synth.outcomes(ds, survey={"studiero": ("klassrumsledning", 6.0, 0.2, 6.0),
                                      "trygghet": ("klassrumsledning", 0.0, 0.1, 8.0)},
                          local={"problematic_absence_pct": ("overall", -12.0, -1.0, 12.0)})


def test_default_municipality_is_unchanged_by_the_new_parameters():
    a = synth.municipality(seed=9, n_schools=4, n_years=2, compute_slope=False)
    b = synth.municipality(seed=9, n_schools=4, n_years=2, compute_slope=False,
                           sd_dimension=0.0)
    pd.testing.assert_frame_equal(a.observations, b.observations)
    dq = a.truth.dimension_quality
    q = a.truth.school_quality.set_index(["school_id", "term"])["quality"]
    assert np.allclose(dq["quality"], q.loc[list(zip(dq["school_id"], dq["term"],
                                                     strict=True))].to_numpy())
    c = synth.municipality(seed=9, n_schools=4, n_years=2, compute_slope=False,
                           sd_dimension=0.2)
    d = c.truth.dimension_quality
    assert d.groupby(["school_id", "term"])["quality"].std().gt(0).all()
    out = synth.outcomes(a)
    pd.testing.assert_frame_equal(out.results.iloc[:len(a.results)].reset_index(drop=True),
                                  a.results.reset_index(drop=True))
    assert synth.outcomes(a).results.equals(out.results)  # a seeded, separate stream


def test_survey_rows_follow_skolinspektionens_rules(outcome_ds):
    r = outcome_ds.results
    s = r[(r["measure"] == "skolenkat_studiero_ak8") & (r["level"] == "school")]
    assert ((s["status"] == "suppressed") == (s["n"] < 5)).all()
    ok = s[s["status"] == "ok"]
    assert ok["value"].between(0, 10).all()
    assert np.allclose(ok["value"], ok["value"].round(1))
    resp = r[(r["measure"] == "skolenkat_antal_svar_ak8") & (r["level"] == "school")]
    merged = s.merge(resp, on=["school_id", "school_year"], suffixes=("", "_r"))
    assert (merged["n"] == merged["value_r"]).all()


def test_link_accepts_a_survey_index_and_one_dimension(outcome_ds):
    t = outcome_ds.truth.outcomes["skolenkat_studiero_ak8"]
    assert t.dimension == "klassrumsledning"
    res = link(outcome_ds, measure="skolenkat_studiero_ak8", dimension="klassrumsledning",
               lag=0)
    w = res.tidy().set_index("term").loc["within"]
    truth = t.per_point(outcome_ds.truth)
    assert w["conf_low"] <= truth <= w["conf_high"]
    assert w["conf_low"] > 0
    text = res._summary_text()
    assert "indexenheter" in text and "Högre värden är bättre" in text
    assert "Skolenkäten" in text


def test_link_says_better_for_a_lower_is_better_outcome(outcome_ds):
    res = link(outcome_ds, measure="problematic_absence_pct", lag=0)
    w = res.tidy().set_index("term").loc["within"]
    assert w["conf_high"] < 0
    text = res._summary_text()
    assert "Lägre värden är bättre" in text and "med bättre utfall" in text


def test_holm_against_hand_computed_values():
    p = [0.01, 0.04, 0.03, 0.005, float("nan")]
    # sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.04*1, 0.06) = 0.06
    assert np.allclose(holm(p)[:4], [0.03, 0.06, 0.06, 0.02])
    assert math.isnan(holm(p)[4])
    assert np.allclose(holm([0.2, 0.9]), [0.4, 0.9])


def test_link_outcomes_counts_comparisons_and_adjusts(outcome_ds):
    res = link_outcomes(outcome_ds, {"skolenkat_studiero_ak8": "klassrumsledning",
                                     "skolenkat_trygghet_ak8": "klassrumsledning",
                                     "problematic_absence_pct": "overall",
                                     "skolenkat_stod_ak8": "elevstod"})
    t = res.tidy().set_index("measure")
    assert res.n_comparisons == 3 and (t["n_comparisons"] == 3).all()
    assert isinstance(t.loc["skolenkat_stod_ak8", "error"], str)  # not generated: named
    ok = t[t["error"].isna()]
    assert (ok["p_holm"] >= ok["p_value"]).all()
    assert np.allclose(ok["p_holm"], holm(ok["p_value"].to_numpy()))
    assert bool(t.loc["skolenkat_studiero_ak8", "finding"])
    assert t.loc["skolenkat_studiero_ak8", "better"] is True
    assert t.loc["problematic_absence_pct", "better"] is True
    text = res._summary_text()
    assert "3 jämförelser" in text and "Holms metod" in text


# --------------------------------------------------------------------------
# The reports' section
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def outcome_report():
    from undervisning_analys import report

    ds = synth.municipality(seed=11, n_schools=6, n_years=3, pupils_per_grade=(6, 40),
                            compute_slope=False, sd_dimension=0.1)
    ds = synth.outcomes(ds)
    return ds, report.build_context(ds)


def _refs_resolve(section: str, ctx) -> None:
    """Every number's data-ref names exactly one row of a table in the context (a
    reference to a row that does not exist was the old failure)."""
    import html as _html
    import json
    import re

    refs = [json.loads(_html.unescape(x)) for x in re.findall(r'data-ref="([^"]*)"', section)]
    assert refs
    for ref in refs:
        t = ctx.tables[ref["t"]]
        mask = np.ones(len(t), dtype=bool)
        for k, v in ref["k"].items():
            mask &= (t[k].astype(str) == v).to_numpy()
        assert mask.sum() == 1, ref


def test_report_section_shows_outcomes_with_floors_and_trends(outcome_report):
    import re

    from undervisning_analys._format import number
    from undervisning_analys.report.municipality_view import render_municipality
    from undervisning_analys.report.school_view import render_school

    ds, ctx = outcome_report
    t = ctx.tables["outcomes"]
    # every value from fewer than 10 respondents or pupils is suppressed
    small = t[t["n"].astype(float) < 10]
    assert len(small) > 0 and (small["status"] == "suppressed").all()
    assert small["value"].isna().all()
    for sid in ctx.school_ids():
        html = render_school(ctx, sid)
        assert "Elevernas upplevelse och närvaro" in html and 'id="upplevelse"' in html
        section = html[html.index('id="upplevelse"'):]
        section = section[:section.index("</section>")]
        mine = t[t["unit"] == sid]
        # each shown value is the table's, and '..' where the table suppressed it
        for r in mine.itertuples(index=False):
            ref = (f'"k": {{"unit": "{sid}", "school_year": "{r.school_year}", '
                   f'"measure": "{r.measure}"}}, "c": "value"')
            cells = re.findall(r'data-ref="([^"]*)"[^>]*>([^<]*)<', section)
            shown = [txt for ref_, txt in cells if ref in ref_.replace("&#34;", '"')
                     .replace("&quot;", '"')]
            assert shown, (sid, r.school_year, r.measure)
            if r.status == "suppressed":
                assert shown[0] == ".."
            else:
                assert shown[0] == number(r.value, 1)
        _refs_resolve(section, ctx)
    m = render_municipality(ctx)
    sec = m[m.index('id="upplevelse"'):]
    sec = sec[:sec.index("</section>")]
    _refs_resolve(sec, ctx)
    # the municipality's changes table lists every clear trend (schools and the
    # municipality), and only those
    tr = ctx.tables["outcome_trends"]
    tr = tr[tr["component"].isin(["school_trend", "municipality_trend"])
            & tr["measure"].isin(set(t.loc[t["level"] == "school", "measure"]))]
    n_clear = int(((tr["conf_low"] > 0) | (tr["conf_high"] < 0)).sum())
    chg = sec[sec.index("Säkra förändringar"):]
    chg = chg[:chg.index("</table>")]
    assert chg.count("<tr>") - 1 == n_clear  # minus the header row
    n = ctx.info["outcome_links"]["n_comparisons"]
    assert n == int(ctx.tables["outcome_links"]["p_value"].notna().sum()) and n >= 4
    assert f"{n} jämförelser" in sec and "Holms metod" in sec


def test_outcome_questions_follow_the_measures_direction(outcome_report):
    """The dialogue table's rows with underlag 'utfall': one per school and directional
    outcome whose trend's interval excludes zero; 'bättre'/'sämre' by the direction."""
    ds, ctx = outcome_report
    tr = ctx.tables["outcome_trends"]
    dq = ctx.tables["dialogue"]
    own = set(ctx.tables["dialogue"]["school_id"]) | set(ctx.school_ids())
    clear = tr[(tr["component"] == "school_trend") & tr["unit"].isin(own)
               & ((tr["conf_low"] > 0) | (tr["conf_high"] < 0))]
    clear = clear[[schema.measure_info(m).direction != "neutral" for m in clear["measure"]]]
    got = dq[dq["underlag"] == "utfall"]
    assert len(clear) > 0
    assert sorted(zip(got["school_id"], got["subject"], strict=True)) == sorted(
        zip(clear["unit"], clear["measure"], strict=True))
    for r in got.itertuples(index=False):
        t = clear[(clear["unit"] == r.school_id) & (clear["measure"] == r.subject)].iloc[0]
        assert r.estimate == pytest.approx(t["estimate"])
        assert (r.conf_low, r.conf_high) == pytest.approx((t["conf_low"], t["conf_high"]))
        better = schema.measure_info(r.subject).better(t["estimate"])
        assert r.rule == ("utfall_battre" if better else "utfall_samre")
        assert ("åt det bättre" in r.text) == bool(better)
        assert "per läsår" in r.why and "95 % KI" in r.why


def test_every_school_value_has_its_municipality_row(outcome_report):
    """The cause of the old dangling reference: the municipality comparison row exists
    for every measure and school year a school has, with a value where the data allow
    and otherwise a reason."""
    from undervisning_analys.models.outcomes import municipality_values

    ds, ctx = outcome_report
    t = ctx.tables["outcomes"]
    sch, mun = t[t["level"] == "school"], t[t["unit"] == "kommun"]
    need = set(zip(sch["measure"], sch["school_year"], strict=True))
    have = set(zip(mun["measure"], mun["school_year"], strict=True))
    assert need == have and not mun.duplicated(["measure", "school_year"]).any()
    for r in mun.itertuples(index=False):
        if r.status != "ok":
            assert (r.reason or r.suppression_reason), r
    # the computed rows: the pupil-weighted mean of the organiser's schools
    mv = municipality_values(ds, ["attendance_pct"])
    assert set(mv["basis"]) == {"beräknat"}
    r = ds.results
    for row in mv.itertuples(index=False):
        s = r[(r["measure"] == "attendance_pct") & (r["level"] == "school")
              & (r["school_year"] == row.school_year) & (r["group"] == "all")]
        w = s["n"].astype(float)
        assert row.value == pytest.approx(float((s["value"] * w).sum() / w.sum()))
        assert int(row.n) == int(w.sum())


def test_municipality_value_missing_or_suppressed_with_its_reason(outcome_ds):
    """A school's value missing in the source: no computed value, the reason instead; a
    school under the floor: the computed value would give it away, so it is '..'."""
    from undervisning_analys.dataset import Dataset
    from undervisning_analys.models.outcomes import municipality_values
    from undervisning_analys.report.outcomes_context import outcome_tables

    m = "problematic_absence_pct"
    r = outcome_ds.results.copy()
    att = (r["measure"] == m) & (r["level"] == "school") & (r["group"] == "all")
    years = sorted(set(r.loc[att, "school_year"]))
    first = r.index[att & (r["school_year"] == years[0])][0]
    r.loc[first, ["value", "status"]] = [np.nan, "missing"]
    small = r.index[att & (r["school_year"] == years[1])][0]
    r.loc[small, "n"] = 8
    ds = Dataset.build(schools=outcome_ds.schools, observations=outcome_ds.observations,
                       results=r, background=outcome_ds.background,
                       instrument=outcome_ds.instrument)
    mv = municipality_values(ds, [m]).set_index("school_year")
    assert mv.loc[years[0], "status"] == "missing" and np.isnan(mv.loc[years[0], "value"])
    assert "1 av" in mv.loc[years[0], "reason"]
    assert (mv.loc[years[1:], "status"] == "ok").all()
    tables: dict = {}
    # without observations: the section's tables only (no links to teaching quality)
    no_obs = Dataset.build(schools=ds.schools, observations=ds.observations.iloc[:0],
                           results=r, background=ds.background, instrument=ds.instrument)
    outcome_tables(no_obs, tables, {}, {}, lambda _s: None)
    t = tables["outcomes"]
    k = t[(t["unit"] == "kommun") & (t["measure"] == m)].set_index("school_year")
    assert k.loc[years[0], "status"] == "missing" and "1 av" in k.loc[years[0], "reason"]
    assert k.loc[years[1], "status"] == "suppressed" and np.isnan(k.loc[years[1], "value"])
    assert "röja" in k.loc[years[1], "suppression_reason"]
    assert (k.loc[years[2:], "status"] == "ok").all()


def test_mall_writes_the_own_measures_template(tmp_path, monkeypatch, small_ds):
    """`undervisning-analys mall` also writes egna_matt.xlsx (the plans' templates are
    tested in test_plans; here they are replaced so that only the hook runs)."""
    from undervisning_analys import cli, sample
    from undervisning_analys.plans import mall

    monkeypatch.setattr(mall, "write_templates", lambda ds, out, schools=None: [])
    monkeypatch.setattr(sample, "load_folder", lambda folder: small_ds)
    assert cli.main(["mall", str(tmp_path), "--ut", str(tmp_path / "ut")]) == 0
    wb = openpyxl.load_workbook(tmp_path / "ut" / "egna_matt.xlsx")
    assert wb.sheetnames == ["Mått", "Instruktioner"]
    # an unfilled template in a folder is read as nothing filled in, named
    with pytest.raises(FileFormatError, match="inga ifyllda rader"):
        read_local_measures(tmp_path / "ut" / "egna_matt.xlsx")


# --------------------------------------------------------------------------
# A folder: the readers registry (io/folder.py READERS)
# --------------------------------------------------------------------------
def test_folder_reads_the_outcome_files_through_the_registry(tmp_path):
    """Skolenkäten workbooks, the own-measures file and a pupil-level attendance export in a
    folder are read by io/folder.py's READERS, with the register's municipality codes
    (the Skolenkäten huvudman row is the municipality's, not reference data) and the key
    given to load_folder for the pupil file."""
    import shutil
    from pathlib import Path

    from undervisning_analys.io import folder as uf

    labels = [label for _d, _r, label in uf.READERS]
    assert labels.index("Skolenkäten") < labels.index("Skolverket-export")
    assert {"Närvaro på elevnivå", "Egna mått"} <= set(labels)
    src = Path(__file__).resolve().parents[1] / "data" / "sample"
    for f in src.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    reg = pd.read_csv(tmp_path / "skolregister.csv", sep=None, engine="python", dtype=str)
    sid = str(reg.iloc[0, 0])
    rng, used = np.random.default_rng(3), set()
    rows = ["Personnummer;Skolenhetskod;Period;Närvaro (%)"]
    for k in range(12):
        rows.append(f"{fake_personnummer(rng, 2010, k % 2 == 0, used)};{sid};HT2025;"
                    f"{90 + k / 4:.2f}".replace(".", ","))
    (tmp_path / "narvaro_elever_ht2025.csv").write_text("\n".join(rows) + "\n",
                                                        encoding="utf-8")
    ds = uf.load_folder(tmp_path, key="hemlig")
    loaders = {p.path: p.loader for p in ds.provenance}
    assert loaders["narvaro.csv"] == "read_local_measures"
    assert loaders["narvaro_elever_ht2025.csv"] == "read_pupil_attendance"
    assert all(loaders[f] == "read_skolenkaten" for f in loaders if f.startswith("skolenkaten"))
    r = ds.results
    muni = r[(r["level"] == "municipality")
             & r["measure"].astype(str).str.startswith("skolenkat_studiero")]
    assert len(muni) == 5 and set(muni["municipality_id"]) == set(ds.schools["municipality_id"])
    att = r[(r["measure"] == "attendance_pct") & (r["level"] == "school")]
    assert att["municipality_id"].notna().all()
    mine = att[(att["school_id"] == sid) & (att["school_year"] == "2025/26")]
    assert len(mine) == 1 and int(mine["n"].iloc[0]) == 12
    # without a key the pupil file is named, not read, and the rest is read
    ds2 = uf.load_folder(tmp_path)
    assert any("narvaro_elever_ht2025.csv" in c for c in ds2.checks if "Inte inläst" in c)
    assert len(ds2.results) == len(r) - 2


# --------------------------------------------------------------------------
# One path for every outcome: adjusted results and the results trend
# --------------------------------------------------------------------------
@pytest.mark.parametrize("measure", ["skolenkat_studiero_ak8", "skolenkat_trygghet_ak8",
                                     "problematic_absence_pct"])
def test_adjusted_results_and_trend_accept_an_outcome(outcome_ds, measure):
    """adjusted_results and results_trend take an outcome as they take a grade measure:
    observed is the results table's value, residual = observed − expected with its
    interval, and the summary says which way is better when lower is better."""
    import undervisning_analys as ua
    from undervisning_analys.models.results_trend import results_trend

    res = ua.adjusted_results(outcome_ds, measure=measure)
    t = res.tidy()
    assert set(t["measure"]) == {measure} and t["residual"].notna().sum() > 0
    r = outcome_ds.results
    src = r[(r["measure"] == measure) & (r["level"] == "school") & (r["group"] == "all")
            & (r["status"] == "ok")].set_index(["school_id", "school_year"])["value"]
    ok = t[t["residual"].notna()].set_index(["school_id", "school_year"])
    assert np.allclose(ok["observed"], src.reindex(ok.index))
    assert np.allclose(ok["residual"], ok["observed"] - ok["expected"])
    assert ((ok["conf_low"] <= ok["residual"]) & (ok["residual"] <= ok["conf_high"])).all()
    text = res._summary_text()
    lower = schema.measure_info(measure).direction == "lower_better"
    assert ("är lägre värden bättre" in text) == lower
    tr = results_trend(outcome_ds, measure).tidy()
    trends = tr[tr["component"] == "school_trend"]
    assert set(trends["measure"]) == {measure}
    assert len(trends) == outcome_ds.results.loc[
        (r["measure"] == measure) & (r["level"] == "school"), "school_id"].nunique()
    assert (trends["conf_low"] <= trends["estimate"]).all()


def test_an_overall_outcome_follows_what_the_overall_index_measures():
    """With dimensions of their own (sd_dimension > 0), an outcome that depends on
    'overall' follows the item-weighted mean of the dimensions' qualities (the overall
    index's target), so that link(..., dimension='overall') has effect / score_scale as
    its truth; with q[s, t] itself the dimensions' deviations would act as error."""
    ds = synth.municipality(seed=7, n_schools=6, n_years=3, sd_dimension=0.15,
                            compute_slope=False)
    out = synth.outcomes(ds, survey={}, local={"attendance_pct": ("overall", 5.0, 0.0, 90.0)},
                         sd_school=0.0, sd_term_local=0.0)
    tr = out.truth
    share = pd.Series(ds.instrument.dimension_of()).value_counts(normalize=True)
    wide = tr.dimension_quality.pivot_table(index=["school_id", "term"], columns="dimension",
                                            values="quality")
    target = (wide[share.index] * share.to_numpy()).sum(axis=1)
    q = tr.school_quality.set_index(["school_id", "term"])["quality"].reindex(target.index)
    terms = tr.outcome_terms.set_index(["school_id", "term"])["value"].reindex(target.index)
    # the published values (one decimal) are 90 + 5 × (target − its mean): they follow the
    # target, not q
    resid_target = terms - 5.0 * target
    resid_q = terms - 5.0 * q
    assert resid_target.std() < 0.05 < 0.2 < resid_q.std()


def test_a_clear_change_is_never_written_with_a_bound_of_zero():
    from undervisning_analys._format import number
    from undervisning_analys.report.outcomes_view import _trend_decimals

    for lo, hi in ((-0.355, -0.0021), (0.004, 0.31), (-0.3, 0.2), (0.05, 0.4)):
        d = _trend_decimals(lo, hi)
        clear = lo > 0 or hi < 0
        shown = {number(lo, d), number(hi, d)}
        assert not (clear and shown & {"0,00", "−0,00", "0,000"}), (lo, hi, d)
    assert _trend_decimals(-0.3, 0.2) == 2
