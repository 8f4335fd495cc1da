"""Charts drawn from what the data hold: the funnel without pupil counts, empty charts that
say why, and the municipality comparison's year when the background lags the results."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from undervisning_analys import plots
from undervisning_analys.report.municipality_view import _comparison_year


def _rows(n_missing: bool) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = rng.integers(20, 200, 12).astype(float)
    se = 30 / np.sqrt(n)
    res = rng.standard_normal(12) * se
    res[0] = 5 * se[0]  # clearly outside the funnel
    return pd.DataFrame({"school_id": [f"{i:08d}" for i in range(12)],
                         "n": np.nan if n_missing else n, "residual": res, "se": se})


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_funnel_uses_pupil_counts_when_they_are_there():
    ax = plots.funnel(_rows(False), {"00000000": "Avvikande skolan"})
    assert ax.get_xlabel() == "Antal elever"
    assert "Avvikande skolan" in _texts(ax)
    assert len(ax.collections[0].get_offsets()) == 12


def test_funnel_without_pupil_counts_is_drawn_against_precision():
    """Results from Skolverket's API carry no pupil counts: the funnel uses 1/se."""
    rows = _rows(True)
    ax = plots.funnel(rows, {"00000000": "Avvikande skolan"})
    assert ax.get_xlabel().startswith("Precision (1 / medelfel)")
    pts = ax.collections[0].get_offsets()
    assert len(pts) == 12
    np.testing.assert_allclose(sorted(pts[:, 0]), sorted(1 / rows["se"]))
    # the school 5 standard errors out is named, as outside the 95 % funnel
    assert "Avvikande skolan" in _texts(ax)
    # the 95 % funnel line at precision x lies at 1.96 / x
    line = ax.lines[0]
    x, y = line.get_data()
    np.testing.assert_allclose(y, 1.959963984540054 / x)


def test_an_empty_funnel_says_why_and_what_would_fill_it():
    rows = _rows(False).assign(residual=np.nan)
    ax = plots.funnel(rows)
    text = " ".join(_texts(ax)).replace("\n", " ")
    assert text.startswith("Inget att visa")
    assert "elevsammansättningen" in text
    ax = plots.funnel(rows, empty_text="Inga resultat för läsåret")
    assert _texts(ax) == ["Inga resultat för läsåret"]


def test_comparison_year_is_the_latest_with_an_expected_result():
    res = pd.DataFrame({"school_year": ["2022/23", "2023/24", "2024/25", "2024/25"],
                        "residual": [1.0, -2.0, np.nan, np.nan]})
    year, note = _comparison_year(res, "merit_17")
    assert year == "2023/24"
    assert "2024/25" in note and "elevsammansättningen" in note and "visar därför 2023/24" in note
    year, note = _comparison_year(res.iloc[:2], "merit_17")
    assert year == "2023/24" and note is None
    year, note = _comparison_year(res.assign(residual=np.nan), "merit_17")
    assert year == "2024/25" and note is None
    assert _comparison_year(None, None) == (None, None)


def test_results_spread_is_drawn_one_unit_per_axis():
    from undervisning_analys.report.municipality_view import _unit_of

    assert _unit_of("merit_17") == _unit_of("merit_16") == "meritpoäng"
    assert _unit_of("pass_all_subjects_pct") == _unit_of("eligible_vocational_pct") == "procent"
    assert _unit_of("np_ma_9_avg_points") == "poäng"
    assert _unit_of("not_a_measure") == "enheter"


def test_municipality_results_beside_the_index_and_dimensions_over_all_terms():
    terms = ["HT2022", "VT2023", "HT2023", "VT2024"]
    idx = pd.DataFrame({"term": terms, "estimate": [2.6, 2.7, 2.75, 2.8],
                        "conf_low": [2.5, 2.6, 2.65, 2.7], "conf_high": [2.7, 2.8, 2.85, 2.9]})
    res = {"merit_17": pd.DataFrame({"school_year": ["2022/23", "2023/24"],
                                     "value": [230.0, 235.5]}),
           "pass_all_subjects_pct": pd.DataFrame({"school_year": ["2022/23", "2023/24"],
                                                  "value": [71.0, np.nan]})}
    fig = plots.index_beside_results(idx, res, detached=True)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["Samlat index per termin",
                                                "Meritvärde (17 ämnen)",
                                                "Godkänt i alla ämnen (%)"]
    # each result on its own axis, in its own unit: the panels do not share a y scale
    assert shown[1].get_ylim() != shown[2].get_ylim()
    tq = pd.concat([idx.assign(level="municipality", unit="1", dimension=d,
                               estimate=idx["estimate"] + k * 0.1)
                    for k, d in enumerate(["a", "b", "c"])])
    ax = plots.dimension_trends(tq, {"a": "Klassrumsledning", "b": "Stöd", "c": "Kognitiv"})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Klassrumsledning", "Stöd", "Kognitiv"]
    assert [t.get_text() for t in ax.get_xticklabels()] == terms
