"""What the reader gets: questions with their evidence, results by school type, and
outputs that are safe to open in Excel."""

from __future__ import annotations

import csv
import re

import numpy as np
import pandas as pd
import pytest

import undervisning_analys as ua
from undervisning_analys import report, synth
from undervisning_analys.models.dialogue import UNDERLAG
from undervisning_analys.models.results_trend import results_trend

PLANTED = {0: '=HYPERLINK("http://example.invalid","Klicka")', 1: "+SUM(1;2)",
           2: "@cmd", 3: "-2+3 skolan"}


@pytest.fixture(scope="module")
def typed():
    ds = synth.municipality(seed=11, n_schools=9, n_years=4, pupils_per_grade=(20, 60),
                            school_types=True, compute_slope=False)
    sch = ds.schools.copy()
    for i, name in PLANTED.items():
        sch.loc[i, "school_name"] = name
    sch.loc[4, "area"] = "=1+1"
    ds = ds.replace(schools=sch)
    ctx = report.build_context(ds)
    return ds, ctx


@pytest.fixture(scope="module")
def written(typed, tmp_path_factory):
    ds, ctx = typed
    out = tmp_path_factory.mktemp("rapporter")
    return report.write_all(ds, out, context=ctx, processes=1), out


def _risky(v: str) -> bool:
    return v.startswith(("=", "+", "-", "@", "\t", "\r"))


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def test_every_csv_cell_is_safe_from_formula_injection(written):
    _w, out = written
    files = sorted((out / "data").glob("*.csv"))
    assert any(f.name == "dialogfragor.csv" for f in files)
    seen_planted = 0
    for f in files:
        with f.open(encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    # a number may start with a minus sign; text may not start a formula
                    assert not _risky(cell) or _is_number(cell), (f.name, cell)
                    seen_planted += cell.startswith("'=HYPERLINK")
    assert seen_planted > 0          # the planted name was written, as text


def test_the_workbook_has_swedish_headers_numbers_as_numbers_and_safe_text(written):
    from openpyxl import load_workbook

    _w, out = written
    wb = load_workbook(out / "data" / "tabeller.xlsx")
    assert {"undervisningskvalitet", "resultat_justerade", "dialogfragor"} <= set(wb.sheetnames)
    q = wb["undervisningskvalitet"]
    header = [c.value for c in q[1]]
    assert "Skattning" in header and "95 % KI, nedre" in header and "Termin" in header
    col = header.index("Skattning") + 1
    values = [r[0] for r in q.iter_rows(min_row=2, min_col=col, max_col=col)]
    assert any(isinstance(c.value, float) for c in values)
    assert all(c.number_format == "0.00" for c in values if isinstance(c.value, float))
    planted = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, str):
                    assert not _risky(c.value), (ws.title, c.value)
                    planted += c.value.startswith("'=HYPERLINK")
    assert planted > 0


def test_html_reports_escape_the_planted_names(written):
    w, _out = written
    html = w.index.read_text(encoding="utf-8")
    assert '=HYPERLINK(&#34;http' in html or "=HYPERLINK(&quot;http" in html


def test_dialogue_questions_are_data_resting_on_the_library_estimates(typed):
    ds, ctx = typed
    lib = {m: results_trend(ds, m).tidy() for m in ctx.measures
           if f"results_trend:{m}" in ctx.tables}
    n_rows = 0
    for sid in ctx.school_ids():
        qs = report.dialogue_questions(ctx, sid)
        assert 3 <= len(qs) <= 5
        for q in qs:
            assert {"q", "why", "underlag", "estimate", "conf_low", "conf_high"} <= set(q)
            if q["rule"] == "allman":
                continue
            n_rows += 1
            assert q["underlag"] in UNDERLAG
            if q["rule"].startswith(("niva_", "resultat_")):
                m = next(m for m in lib if schema_label(m) in q["why"])
                t = lib[m]
                comp = "school_level" if q["rule"].startswith("niva_") else "school_trend"
                row = t[(t["component"] == comp) & (t["school_id"] == sid)].iloc[0]
                assert q["estimate"] == pytest.approx(row["estimate"])
                assert q["conf_low"] == pytest.approx(row["conf_low"])
                # the rule fired because the interval excludes zero
                assert row["conf_low"] > 0 or row["conf_high"] < 0
    table = ctx.table("dialogue")
    assert n_rows == sum(min(5, len(g)) for _, g in table.groupby("school_id"))


def schema_label(m: str) -> str:
    return ua.schema.measure_label(m)


def test_results_sections_follow_the_school_type(typed):
    ds, ctx = typed
    from undervisning_analys.report.school_view import SchoolView

    types = dict(zip(ds.schools["school_id"].astype(str), ds.schools["grades"].astype(str)))
    for sid, span in types.items():
        titles = [b["title"] for b in SchoolView(ctx, sid).results()["blocks"] if b["table"]]
        has6 = any("åk 6" in t for t in titles)
        has9 = any("meritvärde" in t for t in titles)
        assert has6 == (span in ("F-6", "F-9")), (span, titles)
        assert has9 == (span in ("7-9", "F-9")), (span, titles)


def test_change_is_a_trend_never_two_years_subtracted(typed):
    ds, ctx = typed
    from undervisning_analys.report.school_view import render_school

    for sid in ctx.school_ids()[:3]:
        html = render_school(ctx, sid)
        assert "samband_skolor" not in html and '"t": "changes"' not in html
        if "Skolans två utvecklingar" in html:
            assert "skattade ur alla läsår" in html


def test_matt_chooses_the_measures_and_refuses_an_unknown_one(tmp_path, capsys):
    from undervisning_analys.cli import main
    from undervisning_analys.sample import write_sample

    ds = synth.municipality(seed=5, n_schools=6, n_years=3, school_types=True,
                            compute_slope=False)
    write_sample(ds, tmp_path / "in")
    code = main(["rapporter", str(tmp_path / "in"), "--ut", str(tmp_path / "ut"),
                 "--matt", "merit_99", "--tyst"])
    err = capsys.readouterr().err
    assert code != 0
    assert "--matt merit_99" in err and "merit_17" in err and "grade6_pass_all" in err
    code = main(["rapporter", str(tmp_path / "in"), "--ut", str(tmp_path / "ut"),
                 "--matt", "grade6_pass_all_subjects_pct", "--tyst", "--processer", "1"])
    assert code == 0
    prov = (tmp_path / "ut" / "proveniens.json").read_text(encoding="utf-8")
    assert re.search(r'"mått_i_rapporterna": \[\s*"grade6_pass_all_subjects_pct"\s*\]', prov)
    d = pd.read_csv(tmp_path / "ut" / "data" / "resultat_justerade.csv")
    assert set(d["measure"]) == {"grade6_pass_all_subjects_pct"}
    assert np.isfinite(d["expected"]).any()
