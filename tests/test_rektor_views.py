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
