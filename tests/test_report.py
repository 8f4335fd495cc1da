"""The reports: sections, numbers equal to the library's, privacy, self-containment.

Every number a report shows is a ``<span data-ref=...>`` that names the tidy
table, the row keys and the column it was read from. The tests recompute
those tables here with fresh library calls (not the report's context) and
check that each shown text equals ``privacy.format_value`` of the library's
value. A small synthetic municipality with two thinly observed schools and
small year-9 cohorts exercises the privacy floors.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import undervisning_analys as ua
from undervisning_analys import privacy, report, synth
from undervisning_analys.errors import UnknownSchoolError

SCHOOL_SECTIONS = {
    "sammanfattning": "Sammanfattning",
    "underlag": "Vilka lektioner har observerats?",
    "kvalitet": "Undervisningskvalitet över tid",
    "resultat": "Elevernas resultat över tid",
    "utvecklingar": "Två utvecklingar jämförda",
    "sakerhet": "Hur säkra är siffrorna?",
    "fragor": "Frågor till dialogen",
    "kallor": "Om underlaget",
}
MUNICIPALITY_SECTIONS = {
    "sida-vid-sida": "Skolorna sida vid sida",
    "dimensioner": "Dimensioner och skolor",
    "utveckling": "Utveckling över tid",
    "likvardighet": "Likvärdighet",
    "samband": "Sambandet mellan utvecklingarna",
    "observationer": "Observationer och samstämmighet",
    "kallor": "Om underlaget",
}


# --------------------------------------------------------------------------
# HTML helpers
# --------------------------------------------------------------------------
class _Collect(HTMLParser):
    """Spans with data-ref (number + source), section ids, h2 texts, table rows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[dict, str]] = []
        self.sections: dict[str, str] = {}
        self._ref: dict | None = None
        self._buf: list[str] = []
        self._section: str | None = None
        self._h2 = False
        self._h2_text: list[str] = []
        self.questions = 0
        self.tables: list[dict] = []
        self._table: dict | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "span" and "data-ref" in a:
            self._ref = json.loads(a["data-ref"])
            self._buf = []
        elif tag == "section" and "id" in a:
            self._section = a["id"]
        elif tag == "h2":
            self._h2, self._h2_text = True, []
        elif tag == "li" and self._section == "fragor":
            self.questions += 1
        elif tag == "table":
            self._table = {"caption": "", "rows": [], "_cap": False}
        elif tag == "caption" and self._table is not None:
            self._table["_cap"] = True
        elif tag == "tr" and self._table is not None:
            self._table["rows"].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "span" and self._ref is not None:
            self.refs.append((self._ref, "".join(self._buf)))
            self._ref = None
        elif tag == "h2" and self._h2:
            self._h2 = False
            if self._section:
                self.sections[self._section] = "".join(self._h2_text).strip()
        elif tag == "caption" and self._table is not None:
            self._table["_cap"] = False
        elif tag in ("td", "th") and self._table is not None and self._cell is not None:
            if self._table["rows"]:
                self._table["rows"][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None

    def handle_data(self, data):
        if self._ref is not None:
            self._buf.append(data)
        if self._h2:
            self._h2_text.append(data)
        if self._table is not None and self._table["_cap"]:
            self._table["caption"] += data
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


# --------------------------------------------------------------------------
# Fixtures: a small municipality and the library's own tables for it
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    ds = synth.municipality(seed=11, n_schools=8, n_years=3, pupils_per_grade=(6, 30),
                            thin_schools=2)
    ctx = report.build_context(ds)
    return ds, ctx


@pytest.fixture(scope="module")
def library(small):
    """The library's tidy tables, computed here without the report's context."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ua.errors.ConvergenceWarning)
        return _library(*small)


def _library(ds, ctx):
    from undervisning_analys.measure.agreement import agreement
    from undervisning_analys.measure.index import coverage
    from undervisning_analys.measure.reliability import plan_observations
    from undervisning_analys.models.growth import growth

    tq = ua.teaching_quality(ds, by=["school", "area", "municipality"], dimension="all")
    quality = privacy.suppress_quality(tq.tidy())
    tables = {"quality": quality, "coverage": coverage(ds)}
    for m in ctx.measures:
        try:
            t = ua.adjusted_results(ds, measure=m).tidy()
        except ua.errors.ModelError:
            continue
        tables[f"results:{m}"] = privacy.suppress_results(
            t, value_cols=["observed", "residual", "se", "conf_low", "conf_high"],
            partitions={}, hierarchy=False)
    r = ds.results
    mres = r[(r["level"].astype(str) == "municipality") & (r["group"].astype(str) == "all")
             & (r["principal_type"].astype(str) == "all") & r["measure"].isin(ctx.measures)]
    tables["municipality_results"] = privacy.suppress_results(
        mres[["municipality_id", "school_year", "measure", "value", "n", "status"]],
        partitions={}, hierarchy=False)
    lk = ua.link(ds, measure=ctx.measures[0], lag=1, index=tq)
    tables["link"] = lk.tidy()
    tables["changes"] = lk.school_changes()
    from undervisning_analys.models.results_trend import results_trend

    for m in ctx.measures:
        try:
            tables[f"results_trend:{m}"] = results_trend(ds, m).tidy()
        except ua.errors.ModelError:
            continue
    tables["growth"] = growth(ds, index=quality[quality["dimension"] == "overall"]).tidy()
    from undervisning_analys.measure.change import DIALOGUE_CHANGE, DIALOGUE_YEARS

    # the level (0.7) and the school's change over a plan's period (issue #17)
    tables["plan"] = plan_observations(ds, target=0.7, change=DIALOGUE_CHANGE,
                                       change_reliability=0.7, years=DIALOGUE_YEARS).tidy()
    obs = ds.observations
    forms = obs.drop_duplicates(["observation_id", "observer_id"])
    per = forms.groupby("observation_id").size()
    sub = obs[obs["observation_id"].isin(per[per > 1].index)].reset_index(drop=True)
    names = ds.instrument.dimension_names()
    items = sub.assign(dimension=sub["item_id"].map(ds.instrument.dimension_of()).map(names))
    tables["agreement"] = agreement(items, targets=["observation_id", "item_id"],
                                    raters="observer_id", ratings="score",
                                    scale=ds.instrument.scale, by="dimension").tidy()
    return tables


def _py(v):
    if v is None or v is pd.NA:
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def expected_text(tables: dict[str, pd.DataFrame], ref: dict) -> str:
    """What the report must show for ``ref``, from the library's table."""
    t = tables[ref["t"]]
    mask = np.ones(len(t), dtype=bool)
    for k, v in ref["k"].items():
        mask &= (t[k].astype(str) == v).to_numpy()
    rows = t[mask]
    assert len(rows) == 1, f"{ref}: {len(rows)} rows in the library's table"
    row = rows.iloc[0]
    value = _py(row[ref["c"]])
    mode = ref.get("s", "row")
    status = None
    if mode != "none":
        if "status" in t.columns and pd.notna(row["status"]):
            status = str(row["status"])
        elif "suppressed" in t.columns and bool(row["suppressed"]):
            status = "suppressed"
        if mode == "suppressed" and status != "suppressed":
            status = None
    if "x" in ref and value is not None and not (isinstance(value, float) and np.isnan(value)):
        value = float(value) * ref["x"]
    if isinstance(value, float) and ref["d"] == 0 and value.is_integer():
        value = int(value)
    return privacy.format_value(value, status, ref["d"])


def check_numbers(html: str, tables: dict[str, pd.DataFrame], min_refs: int) -> list[tuple]:
    refs = parse(html).refs
    assert len(refs) >= min_refs
    checked = []
    for ref, shown in refs:
        if ref["t"] not in tables:  # tables the report builds itself (equity, severity, icc)
            continue
        assert shown == expected_text(tables, ref), ref
        checked.append((ref["t"], ref["c"]))
    return checked


# --------------------------------------------------------------------------
# The school report
# --------------------------------------------------------------------------
def test_school_report_has_its_sections(small, tmp_path):
    ds, ctx = small
    sid = ctx.school_ids()[0]
    path = report.school(ds, sid, tmp_path, context=ctx)
    html = path.read_text(encoding="utf-8")
    p = parse(html)
    for sec, title in SCHOOL_SECTIONS.items():
        assert sec in p.sections, sec
        assert title in p.sections[sec]
    assert 3 <= p.questions <= 5
    assert '<html lang="sv">' in html
    assert ctx.names[sid] in html
    assert "@page" in html and "size: A4" in html
    # printed continuation pages carry the school and period, every page its number
    from undervisning_analys.report.templating import css_string

    head = css_string(f"Kvalitetsdialog: {ctx.names[sid]} · {ds.terms[0]}–{ds.terms[-1]}")
    assert f'@top-left {{ content: "{head}"' in html
    assert 'counter(page) " av " counter(pages)' in html
    # figures are inline SVG: coverage, quality per dimension, results, progressions
    assert html.count("<svg") >= 3


def test_reports_are_self_contained(small, tmp_path):
    ds, ctx = small
    written = report.write_all(ds, tmp_path, context=ctx, processes=1)
    for path in [written.index, written.municipality, *written.schools.values()]:
        html = path.read_text(encoding="utf-8")
        assert not re.search(r'<(link|script)\b', html)
        assert not re.search(r'(src|href)="(https?:)?//', html)
        assert "url(" not in html
        for src in re.findall(r'<img[^>]+src="([^"]+)"', html):
            assert src.startswith("data:image/")


def test_every_number_in_school_reports_equals_the_library(small, library):
    ds, ctx = small
    checked: set[tuple] = set()
    from undervisning_analys.report.school_view import render_school

    for sid in ctx.school_ids():
        html = render_school(ctx, sid)
        checked |= set(check_numbers(html, library, min_refs=40))
    shown_tables = {t for t, _ in checked}
    assert {"quality", "coverage", "municipality_results", "link", "growth",
            "plan", "agreement"} <= shown_tables
    # change is a trend over all years (results_trend), never two years subtracted
    assert "changes" not in shown_tables
    assert any(t.startswith("results_trend:") for t in shown_tables)
    assert any(t.startswith("results:") for t in shown_tables)
    assert ("quality", "estimate") in checked and ("quality", "conf_low") in checked
    # the school's change beside its level: lessons needed, reliability now, power (#17)
    assert {("plan", "years"), ("plan", "reliability_now"), ("plan", "change")} <= checked
    assert ("plan", "n_obs_needed") in checked or ("plan", "max_reliability") in checked


def test_school_report_says_what_the_change_needs(small, library):
    """One sentence per school with the change's figures from the plan's change rows."""
    ds, ctx = small
    from undervisning_analys.report.school_view import render_school

    plan = library["plan"]
    for sid in ctx.school_ids():
        mine = plan[plan["unit"] == sid].set_index("goal")
        if mine.empty:
            continue
        text = re.sub(r"<[^>]+>", "", render_school(ctx, sid))
        text = re.sub(r"\s+", " ", text)
        m = re.search(r"Skolans förändring, trenden över (\d+) läsår, behöver fler besök än "
                      r"nivån: ([^.]*(?:\d,\d+[^.]*)*)\.", text)
        assert m, sid
        assert int(m.group(1)) == int(mine.loc["change_reliability", "years"])
        body = m.group(2)
        rel = mine.loc["change_reliability"]
        if pd.notna(rel["n_obs_needed"]):
            assert f"kräver omkring {int(rel['n_obs_needed'])} observerade" in body
        else:
            assert "nås inte med fler besök" in body
        now = privacy.format_value(float(rel["reliability_now"]), None, 2)
        assert f"är den {now}" in body
        pw = mine.loc["change_power"]
        assert ("upptäcks med 80 % sannolikhet med omkring" in body) == pd.notna(
            pw["n_obs_needed"])


def test_municipality_numbers_equal_the_library(small, library):
    ds, ctx = small
    from undervisning_analys.report.municipality_view import render_municipality

    html = render_municipality(ctx)
    checked = set(check_numbers(html, library, min_refs=100))
    assert ("quality", "estimate") in checked and ("growth", "estimate") in checked


def test_thin_school_shows_dots(small, library, tmp_path):
    ds, ctx = small
    q = library["quality"]
    sup = q[(q["level"] == "school") & q["suppressed"]]
    assert len(sup), "the thin schools should have suppressed terms"
    thin = sup["unit"].value_counts().index[0]
    html = report.school(ds, thin, tmp_path, context=ctx).read_text(encoding="utf-8")
    p = parse(html)
    terms = set(sup.loc[sup["unit"] == thin, "term"])
    est = [(r, s) for r, s in p.refs if r["t"] == "quality" and r["k"].get("unit") == thin
           and r["k"].get("term") in terms and r["c"] in ("estimate", "conf_low", "conf_high")]
    assert est and all(s == ".." for _, s in est)
    # the figure marks the suppressed terms as '..' too
    assert re.search(r"<text[^>]*>\.\.</text>", html)
    # no index value of the suppressed cells appears anywhere in the quality table
    qt = next(t for t in p.tables if t["caption"].startswith("Index per termin"))
    for row in qt["rows"][1:]:
        if row and row[0] in terms:
            assert all(c in ("..", "") for c in row[1:-2]), row


def test_results_below_ten_pupils_are_dots(small, library, tmp_path):
    ds, ctx = small
    res = library[f"results:{ctx.measures[0]}"]
    few = res[res["n"].astype("Float64") < privacy.MIN_PUPILS]
    assert len(few), "the small cohorts should produce results below 10 pupils"
    r0 = few.iloc[0]
    html = report.school(ds, r0["school_id"], tmp_path, context=ctx).read_text(encoding="utf-8")
    refs = [(r, s) for r, s in parse(html).refs
            if r["t"] == f"results:{ctx.measures[0]}"
            and r["k"] == {"school_id": r0["school_id"], "school_year": r0["school_year"]}]
    shown = {r["c"]: s for r, s in refs}
    assert shown["observed"] == ".." and shown["residual"] == ".."
    assert shown["conf_low"] == ".." and shown["expected"] == ".."


def test_no_teacher_or_observer_ids_in_any_output(small, tmp_path):
    ds, ctx = small
    report.write_all(ds, tmp_path, context=ctx, processes=1)
    ids = set(ds.observations["teacher_id"]) | set(ds.observations["observer_id"])
    paths = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in paths)  # the exports are checked too
    assert any(p.suffix == ".xlsx" for p in paths)     # and the workbook
    for path in paths:
        if path.suffix == ".xlsx":  # the notes workbooks and tabeller.xlsx
            import openpyxl

            wb = openpyxl.load_workbook(path)
            text = " ".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows()
                            for c in row if c.value is not None)
        else:
            text = (pd.read_parquet(path).to_csv() if path.suffix == ".parquet"
                    else path.read_text(encoding="utf-8"))
        found = [i for i in ids if i in text]
        assert not found, f"{path.name}: {found[:3]}"


def test_municipality_report_sections_and_order(small, tmp_path):
    ds, ctx = small
    html = report.municipality(ds, tmp_path, context=ctx).read_text(encoding="utf-8")
    p = parse(html)
    for sec, title in MUNICIPALITY_SECTIONS.items():
        assert title in p.sections.get(sec, ""), sec
    # caterpillar and funnel plots with intervals, never a bare ranking
    assert "Skolornas index med konfidensintervall" in html
    assert "Trattdiagram" in html
    names = sorted(ctx.names.values(), key=str.lower)
    side = next(t for t in p.tables if "bokstavsordning" in t["caption"])
    assert [r[0] for r in side["rows"][1:]] == names
    assert "Likvärdighet" in html and "Samband med föräldrarnas utbildning" in html


def test_equity_table_is_the_spread_of_shown_values(small, library):
    ds, ctx = small
    e = ctx.table("equity")
    q = library["quality"]
    s = q[(q["level"] == "school") & (q["dimension"] == "overall") & ~q["suppressed"]]
    for term, g in s.groupby("term"):
        row = e[(e["quantity"] == "quality") & (e["period"] == term)]
        if len(g) < 3:
            assert row.empty
            continue
        assert row["n_schools"].iloc[0] == len(g)
        assert row["sd"].iloc[0] == pytest.approx(g["estimate"].std(ddof=1))
    m = ctx.measures[0]
    r = library[f"results:{m}"]
    for sy, g in r[r["observed"].notna()].groupby("school_year"):
        row = e[(e["quantity"] == m) & (e["period"] == sy)]
        assert row["mean"].iloc[0] == pytest.approx(g["observed"].mean())


def test_write_all_index_and_parallel_identical(small, tmp_path):
    ds, ctx = small
    one = report.write_all(ds, tmp_path / "a", context=ctx, processes=1)
    two = report.write_all(ds, tmp_path / "b", context=ctx, processes=2)
    assert set(one.schools) == set(ctx.names)
    index = one.index.read_text(encoding="utf-8")
    assert 'href="kommun.html"' in index
    for sid, path in one.schools.items():
        assert f'href="{path.name}"' in index
        assert path.read_bytes() == two.schools[sid].read_bytes()
    assert one.municipality.read_bytes() == two.municipality.read_bytes()


def test_models_are_fitted_once_for_all_reports(small, tmp_path, monkeypatch):
    ds, _ = small
    ds = ds.replace(observations=ds.observations)  # a new Dataset: no model fitted yet
    from undervisning_analys.report import context as context_mod

    calls = []
    real = context_mod.teaching_quality

    def counting(*args, **kwargs):
        calls.append(kwargs.get("dimension"))
        return real(*args, **kwargs)

    monkeypatch.setattr(context_mod, "teaching_quality", counting)
    from undervisning_analys.engine import mixed

    fits = []
    real_fit = mixed.fit_mixed

    def counting_fit(formula, *args, **kwargs):
        fits.append(formula)
        return real_fit(formula, *args, **kwargs)

    monkeypatch.setattr(mixed, "fit_mixed", counting_fit)
    from undervisning_analys.models import mixed as models_mixed  # the public re-export

    monkeypatch.setattr(models_mixed, "fit_mixed", counting_fit)
    written = report.write_all(ds, tmp_path, processes=1)
    assert len(written.schools) == len(ds.schools)
    assert calls == ["all"]
    # one mixed model per dimension: growth reuses the index's model, nothing is refitted;
    # beside them one results-trend model per measure shown (models.results_trend)
    trends = [f for f in fits if f.startswith("value ~")]
    assert len(fits) - len(trends) == 1 + len(ds.instrument.dimensions)
    _ds, ctx = small
    # exactly one results-trend model per measure shown: none is fitted twice
    shown = [k for k in ctx.tables if k.startswith("results_trend:")]
    assert len(shown) >= 1
    assert len(trends) == len(shown)


def test_a_weak_link_is_explained_with_what_could_be_detected(small, tmp_path):
    ds, ctx = small
    html = report.municipality(ds, tmp_path, context=ctx).read_text(encoding="utf-8")
    w = ctx.tables["link"].set_index("term").loc["within"]
    weak = w["conf_low"] <= 0 <= w["conf_high"]
    assert ("Inget säkert samband inom skolorna är inte detsamma som inget samband" in html) \
        == bool(weak)
    mde = ctx.info["link"]["min_detectable"]
    assert np.isfinite(mde) and mde > 2 * w["se"]
    if weak:
        assert f"{mde:.1f}".replace(".", ",") in html


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_the_link_says_its_index_is_already_calibrated(small, library):
    """The reports' default index is the model's shrunken one: no corrected row is shown,
    and both reports say why (issue #17, correction="auto")."""
    ds, ctx = small
    from undervisning_analys.report.municipality_view import render_municipality
    from undervisning_analys.report.school_view import render_school

    assert set(ctx.tables["link"]["correction"]) == {"none"}
    muni = _text(render_municipality(ctx))
    assert "är i sig en korrigering för mätfel (regressionskalibrering)" in muni
    assert "Korrigerat för indexets" not in muni
    schools = [_text(render_school(ctx, sid)) for sid in ctx.school_ids()]
    assert any("Därför visas ingen korrigerad skattning bredvid" in t for t in schools)


def _means_link(ds, measure: str, correction: str = "auto") -> pd.DataFrame:
    """link() on the plain-means index (unshrunken): "auto" adds the corrected rows."""
    from undervisning_analys.models.link import link

    f = ds.instrument.score(ds.observations)
    les = f.groupby(["observation_id", "school_id", "term"], as_index=False)["overall"].mean()
    means = les.groupby(["school_id", "term"])["overall"].agg(["mean", "std", "count"])
    means = means.reset_index().rename(columns={"mean": "estimate"})
    means["se"] = means["std"] / np.sqrt(means["count"])
    return link(ds, measure=measure, lag=1, index=means, shrunken=False,
                correction=correction).tidy()


@pytest.fixture(scope="module")
def finite_correction():
    """A municipality (20 schools, 5 years) whose corrected within estimate exists."""
    lk = _means_link(synth.municipality(seed=700001, effect=0.3), "merit_17")
    c = lk[(lk["term"] == "within") & (lk["correction"] == "regression_calibration")]
    assert np.isfinite(c["estimate"].iloc[0])
    return lk


@pytest.mark.parametrize("which", ["finite", "within_is_all_error"])
def test_the_link_shows_the_corrected_estimate_beside_the_naive(small, library, which,
                                                               request):
    """With an unshrunken index (plain means) link's "auto" adds the regression
    calibration: the municipality report shows it beside the naive estimate with its
    interval and names the method, every number equal to the link table's row. The view
    renders what the context holds, so the finite case uses a larger municipality's link
    table (the small one's within variation is all error: the report says it cannot be
    corrected)."""
    import dataclasses

    from undervisning_analys.report.municipality_view import render_municipality
    from undervisning_analys.report.school_view import render_school

    ds, ctx = small
    lk = (request.getfixturevalue("finite_correction") if which == "finite"
          else _means_link(ds, ctx.info["link"]["measure"]))
    assert set(lk["correction"]) == {"none", "regression_calibration"}
    ctx2 = dataclasses.replace(ctx, tables={**ctx.tables, "link": lk})
    html = render_municipality(ctx2)
    checked = set(check_numbers(html, {**library, "link": lk}, min_refs=100))
    assert ("link", "estimate") in checked and ("link", "conf_low") in checked
    text = _text(html)
    assert "Korrigerat för mätfel (regressionskalibrering)" in text  # the table's rows
    c = lk[(lk["term"] == "within") & (lk["correction"] == "regression_calibration")].iloc[0]
    n = lk[(lk["term"] == "within") & (lk["correction"] == "none")].iloc[0]
    fmt = lambda v: privacy.format_value(0.1 * float(v), None, 2)  # noqa: E731
    schools = [_text(render_school(ctx2, sid)) for sid in ctx.school_ids()]
    assert not any("Därför visas ingen korrigerad skattning" in t for t in schools)
    if which == "finite":
        sentence = (f"Korrigerat för indexets kända mätfel (regressionskalibrering) blir "
                    f"sambandet inom skolorna {fmt(c['estimate'])} meritpoäng per 0,1 "
                    f"indexpoäng (95 % KI {fmt(c['conf_low'])} till {fmt(c['conf_high'])}), "
                    f"mot {fmt(n['estimate'])} meritpoäng (95 % KI {fmt(n['conf_low'])} till "
                    f"{fmt(n['conf_high'])}) okorrigerat.")
        assert sentence in text
        assert sum(sentence in t for t in schools) >= 1  # the schools' comparison too
        assert (f"Korrigerat för indexets mätfel (regressionskalibrering) blir samma samband "
                f"{fmt(c['estimate'])} meritpoäng (95 % KI") in text  # the summary
        # the naive association is attenuated: the correction divides by the reliability
        assert c["estimate"] == pytest.approx(n["estimate"] / n["reliability"], rel=0.05)
    else:
        assert not np.isfinite(c["estimate"])
        assert "kan inte korrigeras (regressionskalibrering)" in text
        assert "Korrigerat för indexets mätfel" not in text


def test_an_uncorrected_unshrunken_link_says_it_may_be_underestimated(small, library):
    import dataclasses

    from undervisning_analys.report.municipality_view import render_municipality

    ds, ctx = small
    lk = _means_link(ds, ctx.info["link"]["measure"], correction="none")
    assert set(lk["correction"]) == {"none"} and (lk["attenuation"] < 1).all()
    ctx2 = dataclasses.replace(ctx, tables={**ctx.tables, "link": lk})
    text = _text(render_municipality(ctx2))
    assert "gör att sambandet kan vara underskattat; någon korrigering för mätfelet har inte " \
           "beräknats" in text
    assert "Därför visas ingen korrigerad skattning" not in text


def test_unknown_school_is_refused_in_swedish(small, tmp_path):
    ds, ctx = small
    with pytest.raises(UnknownSchoolError, match="finns inte i skolregistret"):
        report.school(ds, "12345678", tmp_path, context=ctx)


def test_dialogue_questions_follow_the_data(small):
    from undervisning_analys.report.school_view import SchoolView

    ds, ctx = small
    q = ctx.table("quality")
    thin = q[(q["level"] == "school") & q["suppressed"]]["unit"].iloc[0]
    questions = SchoolView(ctx, thin).questions()
    assert 3 <= len(questions) <= 5
    assert any("underlaget räcker" in x["q"] for x in questions)


def test_charts_ticks_and_svg():
    from undervisning_analys.report import charts

    ticks, dec = charts.nice_ticks(0, 23)
    assert ticks[0] <= 0 and ticks[-1] >= 23 and dec == 0
    ticks, dec = charts.nice_ticks(2.1, 3.05)
    assert ticks[0] <= 2.1 and ticks[-1] >= 3.05 and dec == 2
    assert charts.sv_tick(-0.5, 1) == "−0,5"


def test_context_records_are_the_rows_a_filter_gives(small):
    _ds, ctx = small
    q = ctx.table("quality")
    sid = str(q.loc[q["level"] == "school", "unit"].iloc[0])
    want = q[(q["unit"].astype(str) == sid) & (q["level"] == "school")]
    got = ctx.records("quality", unit=sid, level="school")
    assert len(got) == len(want) > 0
    assert [str(r) for r in got] == [str(r) for r in want.to_dict("records")]
    assert ctx.records("quality", unit="finns inte") == []
    assert ctx.records("ingen tabell", unit=sid) == []
    assert ctx.records("quality", ingen_kolumn=sid) == []


def test_charts_draw_the_same_from_rows_as_from_a_table(small):
    from undervisning_analys.report import charts

    _ds, ctx = small
    q, cov = ctx.table("quality"), ctx.table("coverage")
    muni = str(q.loc[q["level"] == "municipality", "unit"].iloc[0])
    for sid in ctx.school_ids()[:3]:
        rows = ctx.records("quality", unit=sid, level="school") + ctx.records(
            "quality", unit=muni)
        table = q[((q["unit"].astype(str) == sid) & (q["level"] == "school"))
                  | (q["unit"].astype(str) == muni)]
        assert charts.quality_panels(rows, sid, ctx.dimensions, municipality_unit=muni) == \
            charts.quality_panels(table, sid, ctx.dimensions, municipality_unit=muni)
        assert charts.coverage_bars(ctx.records("coverage", school_id=sid), sid) == \
            charts.coverage_bars(cov, sid)
        m = ctx.measures[0]
        res = ctx.table(f"results:{m}")
        assert charts.results_panels({m: ctx.records(f"results:{m}", school_id=sid)}, sid) == \
            charts.results_panels({m: res[res["school_id"].astype(str) == sid]}, sid)
    g = ctx.table("growth")
    both = g[g["component"] == "school_trend"][["school_id", "estimate", "se"]].rename(
        columns={"estimate": "x", "se": "x_se"}).assign(y=lambda d: d["x"] * 0.5 + 0.1)
    sid = ctx.school_ids()[0]
    assert charts.progressions(charts.points(both, x="x", y="y", x_se="x_se"), sid) == \
        charts.progressions(both, sid, x="x", y="y", x_se="x_se") != ""


@pytest.mark.slow
def test_sample_school_report_shows_provenance(tmp_path):
    ds = ua.load_sample()
    ctx = report.build_context(ds)
    # every part of the sample's context is computed (none listed as failed)
    for part in ("agreement", "icc", "severity"):
        assert part not in ctx.notes, ctx.notes.get(part)
        assert len(ctx.tables[part]), part
    sid = ctx.school_ids()[0]
    html = report.school(ds, sid, tmp_path, context=ctx).read_text(encoding="utf-8")
    p = parse(html)
    assert set(SCHOOL_SECTIONS) <= set(p.sections)
    # the school's own sources: every file with a row of the school or of the municipality
    # (its comparison), every non-results file; results files of other schools only are left
    # to the municipality report, with a note that counts them
    res = ds.results
    school_rows = res[res["school_id"] == sid]
    above = res[(res["level"] != "school") & res["measure"].isin(set(school_rows["measure"]))]
    mine = set(school_rows["source"]) | set(above["source"])
    # a row's source names its file, sometimes with a reader's prefix or a sheet
    own = [r for r in ds.provenance if r.table != "results"
           or any(r.path == m or r.path in m for m in mine)]
    others = [r for r in ds.provenance if r not in own]
    for rec in own:
        assert rec.sha256 in html and rec.path in html
    for rec in others:
        assert rec.sha256 not in html
    assert others, "the sample's first school should not appear in every results file"
    assert f"Kommunens övriga {len(others)} källfiler" in html
    municipality = report.municipality(ds, tmp_path, context=ctx).read_text(encoding="utf-8")
    for rec in ds.provenance:
        assert rec.sha256 in municipality
    assert f"undervisning_analys {ua.__version__}" in html
    for ref, shown in p.refs:  # the context's own tables, with the same lookup rules
        assert shown == expected_text(ctx.tables, ref)
    assert Path(tmp_path / report.school_file(sid)).exists()


def test_running_head_cannot_break_out_of_the_style_block():
    from undervisning_analys.report.templating import css_string, page_css

    css = page_css('Skolan "Ö" </style><script>x</script> \\ slut')
    assert "</style>" not in css and "<script>" not in css
    assert '"Skolan \\000022Ö\\000022 ' in css
    assert css_string("a\nb") == "a b"
