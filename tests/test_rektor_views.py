"""What a rektor types in a notebook: Swedish tables, Swedish arguments, clear errors."""

from __future__ import annotations

import pytest

import undervisning_analys as ua
from undervisning_analys import report, synth
from undervisning_analys.errors import ModelError, UnknownSchoolError


@pytest.fixture(scope="module")
def small():
    ds = synth.municipality(seed=11, n_schools=6, n_years=3, compute_slope=False)
    return ds, report.build_context(ds)


def test_views_are_swedish_and_formatted(small):
    ds, ctx = small
    sid = ctx.school_ids()[0]
    cov = report.view(ctx, "täckning", sid)
    assert list(cov.columns)[:2] == ["Termin", "Lektioner"]
    idx = report.view(ctx, "index", ctx.names[sid])          # a school name works too
    assert "Samlat index" in idx.columns
    assert all("," in v or v == ".." for v in idx["Samlat index"])
    res = report.view(ctx, "resultat", sid)
    assert {"Läsår", "Resultat", "Förväntat", "Skillnad"} <= set(res.columns)
    assert not any(c.islower() and "_" in c for c in res.columns)
    tr = report.view(ctx, "trender", sid)
    assert tr["Vad"].iloc[0].startswith("Undervisningskvalitet")
    qs = report.view(ctx, "frågor", sid)
    assert 3 <= len(qs) <= 5 and list(qs.columns) == ["Fråga", "Varför", "Underlag"]
    with pytest.raises(UnknownSchoolError, match="Okänd skola 'Ingenskolan'"):
        report.view(ctx, "index", "Ingenskolan")
    with pytest.raises(ua.errors.UAError, match="Okänd vy"):
        report.view(ctx, "tabell", sid)


def test_swedish_levels_and_unknown_units_in_the_index(small):
    ds, _ = small
    tq = ua.teaching_quality(ds, by=["skola", "kommun"], dimension="overall")
    assert set(tq.tidy()["level"]) == {"school", "municipality"}
    sid = str(ds.schools["school_id"].iloc[0])
    ax = tq.plot(units=[sid])
    assert len(ax.lines) == 1
    with pytest.raises(UnknownSchoolError, match="Okänd enhet '99999999'"):
        tq.plot(units=["99999999"])
    with pytest.raises(ModelError, match="Okänd dimension"):
        tq.plot(dimension="inget")
    with pytest.raises(ModelError, match="Okänd nivå"):
        ua.teaching_quality(ds, by="klass")
    import matplotlib.pyplot as plt

    plt.close("all")


def test_municipality_tables_are_the_reports_own(small):
    """The notebook's municipality tables are the report's: same rows, same Swedish text."""
    import matplotlib

    matplotlib.use("Agg")
    from undervisning_analys._format import swedish_key
    from undervisning_analys.report.municipality_view import MunicipalityView

    ds, ctx = small
    t = report.municipality_table(ctx, "skolor")
    assert list(t.columns) == ["Skola", "Skolområde", "Samlat index", "95 % KI", "Lektioner",
                               "Reliabilitet"]
    assert list(t["Skola"]) == sorted(ctx.names.values(), key=swedish_key)
    term = MunicipalityView(ctx).latest_term()
    q = ctx.table("quality")
    for row in t.itertuples(index=False):
        sid = next(k for k, v in ctx.names.items() if v == row.Skola)
        k = {"level": "school", "unit": sid, "term": term, "dimension": "overall"}
        assert row[2] == str(ctx.num("quality", k, "estimate", 2))
        shown = q[(q["unit"] == sid) & (q["term"] == term) & (q["dimension"] == "overall")
                  & (q["level"] == "school")]
        assert (row[2] == "..") == bool(shown["suppressed"].iloc[0])
    dims = report.municipality_table(ctx, "dimensioner")
    assert len(dims) == len(ctx.names) + 1 and set(ctx.dimensions.values()) <= set(dims.columns)
    for name in ("trender", "likvärdighet", "samstämmighet"):
        parts = report.municipality_table(ctx, name)
        assert isinstance(parts, dict) and parts and all(len(v) for v in parts.values())
    assert not any("_" in c for v in report.municipality_table(ctx, "trender").values()
                   for c in v.columns)
    with pytest.raises(ua.errors.UAError, match="Okänd tabell 'rankning'"):
        report.municipality_table(ctx, "rankning")
    ax = report.municipality_chart(ctx, "skolor")
    assert [x.get_text() for x in ax.get_yticklabels()][::-1][:2] == list(t["Skola"])[:2]
    ax = report.municipality_chart(ctx, "tratt")
    assert ax.get_title().endswith("resultat minus förväntat")
    with pytest.raises(ua.errors.UAError, match="Okänt diagram"):
        report.municipality_chart(ctx, "stapel")


def test_published_results_as_skolverket_shows_them(small):
    from undervisning_analys._format import swedish_key

    ds, _ = small
    t = report.published_results(ds, "merit_17")
    r = ds.results
    last = max(r.loc[(r["measure"] == "merit_17") & (r["level"] == "school"), "school_year"])
    assert set(t["Läsår"]) == {last}
    assert list(t["Skola"]) == sorted(t["Skola"], key=swedish_key)
    rows = r[(r["measure"] == "merit_17") & (r["level"] == "school") & (r["group"] == "all")
             & (r["school_year"] == last)]
    assert len(t) == len(rows)
    small_n = rows["n"].notna() & (rows["n"] < 10)
    col = "Genomsnittligt meritvärde (17 ämnen)"
    assert (t[col] == "..").sum() >= int(small_n.sum())
    with pytest.raises(ua.errors.UAError, match="inga resultat på skolnivå för måttet 'x'"):
        report.published_results(ds, "x")
    with pytest.raises(ua.errors.UAError, match="inga resultat för läsåret 1999/00"):
        report.published_results(ds, "merit_17", "1999/00")
