"""Tables for the rektor: the report's tables for one school, in Swedish, ready to show.

The tidy tables (English column names, raw floats) stay the source for
researchers and exports; :func:`view` picks one school's rows, keeps the
columns a reader needs, names them in Swedish and writes the numbers as
Swedish text (decimal comma, ``..`` where a value is not shown), so a
notebook shows no pandas filtering and no programmer's names::

    ua.report.view(ctx, "täckning", school_id)
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import privacy, schema
from .._format import swedish_key
from ..errors import UAError, UnknownSchoolError
from .context import ReportContext

VIEWS = ("täckning", "index", "resultat", "trender", "frågor")
"""What :func:`view` can show."""


def _check(ctx: ReportContext, school_id: str) -> str:
    sid = str(school_id)
    if sid in ctx.names:
        return sid
    by_name = {v.lower(): k for k, v in ctx.names.items()}
    if sid.lower() in by_name:
        return by_name[sid.lower()]
    examples = ", ".join(f"{k} ({ctx.names[k]})" for k in ctx.school_ids()[:3])
    raise UnknownSchoolError(f"Okänd skola {sid!r}: den finns inte i skolregistret",
                             hint=f"Ange en skolenhetskod eller ett skolnamn, t.ex. {examples}")


def view(ctx: ReportContext, what: str, school_id: str, measure: str | None = None
         ) -> pd.DataFrame:
    """One school's table in Swedish: ``täckning``, ``index``, ``resultat``, ``trender``
    or ``frågor`` (numbers as Swedish text; suppressed values as ``..``).

    ``school_id`` is a skolenhetskod or a school name; ``measure`` chooses the
    results measure (default the first the school has).
    """
    sid = _check(ctx, school_id)
    w = str(what).strip().lower()
    if w == "täckning":
        cov = ctx.part("coverage", "school_id", sid)
        cols = {"term": "Termin", "n_obs": "Lektioner", "n_spontan": "Spontana",
                "n_planerad": "Planerade", "n_kollegial": "Kollegiala",
                "n_teachers": "Observerade lärare",
                "share_teachers_observed": "Andel av de observerade lärarna (%)",
                "n_observers": "Observatörer"}
        t = cov[[c for c in cols if c in cov.columns]].copy()
        if "share_teachers_observed" in t:
            t["share_teachers_observed"] = 100 * t["share_teachers_observed"]
        t = privacy.format_table(t, kind="none", decimals=0)
        return t.rename(columns=cols).reset_index(drop=True)
    if w == "index":
        q = ctx.part("quality", "unit", sid)
        q = q[q["level"] == "school"]
        shown = privacy.format_table(
            q[["term", "dimension", "estimate", "conf_low", "conf_high", "n_obs", "n_teachers",
               "reliability", "suppressed"]], kind="quality", decimals=2)
        wide = shown.pivot(index="term", columns="dimension", values="estimate")
        wide = wide.loc[sorted(wide.index, key=schema.term_index), [d for d in ctx.dimensions
                                                            if d in wide.columns]]
        wide = wide.rename(columns=ctx.dimensions)
        wide.index.name = "Termin"
        wide.columns.name = None
        return wide.reset_index()
    if w == "resultat":
        ms = [m for m in ctx.measures if len(ctx.part(f"results:{m}", "school_id", sid))]
        if measure is not None and measure not in ms:
            raise UAError(f"Skolan har inga resultat för måttet {measure!r}",
                          hint="Välj bland: " + ", ".join(ms) if ms else "Skolan har inga "
                               "resultat i underlaget.")
        m = measure or (ms[0] if ms else None)
        if m is None:
            return pd.DataFrame()
        r = ctx.part(f"results:{m}", "school_id", sid)
        cols = {"school_year": "Läsår", "n": "Elever", "observed": "Resultat",
                "expected": "Förväntat", "residual": "Skillnad", "conf_low": "95 % KI, nedre",
                "conf_high": "95 % KI, övre", "status": "Status"}
        t = privacy.format_table(r[list(cols)], kind="results")[list(cols)]
        t["status"] = r["status"].astype(str).map(lambda s: schema.LABELS_SV.get(s, s)).values
        t = t.rename(columns=cols).reset_index(drop=True)
        t.attrs["title"] = schema.measure_label(m)
        return t
    if w == "trender":
        rows: list[dict[str, Any]] = []
        g = ctx.part("growth", "school_id", sid) if "growth" in ctx.tables else pd.DataFrame()
        g = g[g["component"] == "school_trend"] if len(g) else g
        for r in g.itertuples(index=False):
            rows.append({"Vad": "Undervisningskvalitet (samlat index)", "Trend per läsår":
                         r.estimate, "95 % KI, nedre": r.conf_low, "95 % KI, övre": r.conf_high})
        for m in ctx.measures:
            t = ctx.part(f"results_trend:{m}", "school_id", sid)
            t = t[t["component"] == "school_trend"] if len(t) else t
            for r in t.itertuples(index=False):
                rows.append({"Vad": f"{schema.measure_label(m)}, mot förväntat",
                             "Trend per läsår": r.estimate, "95 % KI, nedre": r.conf_low,
                             "95 % KI, övre": r.conf_high})
        out = pd.DataFrame(rows, columns=["Vad", "Trend per läsår", "95 % KI, nedre",
                                          "95 % KI, övre"])
        return privacy.format_table(out, kind="none", decimals=2)
    if w == "frågor":
        from .school_view import SchoolView

        qs = SchoolView(ctx, sid).questions()
        return pd.DataFrame({"Fråga": [q["q"] for q in qs], "Varför": [str(q["why"]) for q in qs],
                             "Underlag": [q["underlag"] or "allmän" for q in qs]})
    raise UAError(f"Okänd vy {what!r}", hint="Välj en av: " + ", ".join(VIEWS))


def published_results(ds: Any, measure: str = "merit_17", school_year: str | None = None
                      ) -> pd.DataFrame:
    """The schools' published results of one measure and school year, as Skolverket shows
    them: Swedish columns, numbers as Swedish text, ``..`` below 10 pupils, ``~100``
    kept, schools in alphabetical (Swedish) order. No model is fitted.

    ``school_year`` defaults to the latest year the measure has school rows.
    """
    r = ds.results
    r = r[(r["level"] == "school") & (r["group"] == "all") & (r["measure"] == measure)]
    if not len(r):
        have = sorted(set(ds.results["measure"].astype(str)))
        raise UAError(f"Underlaget har inga resultat på skolnivå för måttet {measure!r}",
                      hint="Välj bland: " + ", ".join(have) if have else
                      "Lägg Skolverkets resultatfiler i mappen.")
    years = sorted(set(r["school_year"].astype(str)))
    year = school_year or years[-1]
    if year not in years:
        raise UAError(f"Måttet {measure!r} har inga resultat för läsåret {year}",
                      hint="Välj bland: " + ", ".join(years))
    r = r[r["school_year"].astype(str) == year]
    names = dict(zip(ds.schools["school_id"].astype(str), ds.schools["school_name"]))
    t = privacy.format_table(r[["school_id", "value", "n", "status"]], kind="results")
    out = pd.DataFrame({"Skola": r["school_id"].astype(str).map(names).to_numpy(),
                        "Läsår": year, schema.measure_label(measure): t["value"].to_numpy(),
                        "Elever": t["n"].to_numpy()})
    out = out.sort_values("Skola", key=lambda c: c.map(swedish_key), kind="stable")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------
# The municipality: the report's own tables and charts, for a notebook
# --------------------------------------------------------------------------
MUNICIPALITY_TABLES = ("skolor", "resultat", "dimensioner", "trender", "likvärdighet",
                       "samstämmighet")
"""What :func:`municipality_table` can show."""

MUNICIPALITY_CHARTS = ("skolor", "tratt")
"""What :func:`municipality_chart` can draw."""


def _frame(t: Any) -> pd.DataFrame:
    """A report table (:class:`._common.Table`) as a DataFrame of its cell texts."""
    from markupsafe import Markup

    def text(cell: Any) -> str:
        if isinstance(cell, Markup) or hasattr(cell, "__html__"):
            return Markup(cell.__html__()).striptags()
        return str(cell)

    out = pd.DataFrame([[text(c) for c in row] for row in t.rows],
                       columns=[c.label for c in t.columns])
    out.attrs["title"] = t.caption
    return out


def municipality_table(ctx: ReportContext, what: str) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """One of the municipality report's tables, in Swedish, exactly as the report shows it.

    ``what``: ``skolor`` (the index of every school the latest term, in
    alphabetical order), ``resultat`` (result, expected and the difference per
    school, the latest year with an expected result), ``dimensioner`` (each
    school's index per dimension), ``trender`` (the municipality's trend and
    the schools' trends), ``likvärdighet`` (spread between schools per period;
    a dict, one table per quantity) or ``samstämmighet`` (coverage and
    agreement of paired observations; a dict). ``trender`` is a dict too: the
    municipality's index per term and the schools' trends. Numbers are Swedish text, ``..`` where not shown.
    """
    from .municipality_view import MunicipalityView

    w = str(what).strip().lower()
    mv = MunicipalityView(ctx)
    if w in ("skolor", "resultat"):
        side = mv.side_by_side()
        t = side["table"] if w == "skolor" else side["results_table"]
        return _frame(t) if t else pd.DataFrame()
    if w == "dimensioner":
        t = mv.dimensions()["table"]
        return _frame(t) if t else pd.DataFrame()
    if w == "trender":
        tr = mv.trends()
        growth = tr.get("growth") or {}
        candidates = [tr.get("table"), growth.get("table") if isinstance(growth, dict) else None]
        tables = [t for t in candidates if t is not None and hasattr(t, "rows") and t]
        return {t.caption or f"tabell {i + 1}": _frame(t) for i, t in enumerate(tables)}
    if w == "likvärdighet":
        return {t.caption: _frame(t) for t in mv.equity()["tables"]}
    if w == "samstämmighet":
        found = [v for v in mv.observation().values() if hasattr(v, "rows") and v]
        return {t.caption or f"tabell {i + 1}": _frame(t) for i, t in enumerate(found)}
    raise UAError(f"Okänd tabell {what!r}", hint="Välj en av: " + ", ".join(MUNICIPALITY_TABLES))


def municipality_chart(ctx: ReportContext, what: str, ax: Any = None) -> Any:
    """One of the municipality report's charts, drawn for a notebook (returns the axes).

    ``skolor``: every school's index the latest term with its 95 % interval,
    in alphabetical order, beside the municipality (the report's chart, in one
    panel); ``tratt``: results minus expected the latest year with an expected
    result (the funnel against pupils, or against precision without pupil
    counts).
    """
    from .. import plots
    from .municipality_view import MunicipalityView, _comparison_year

    w = str(what).strip().lower()
    mv = MunicipalityView(ctx)
    if w == "skolor":
        term = mv.latest_term()
        if term is None:
            ax = plots.new_axes((6.5, 3.0)) if ax is None else ax
            return plots.empty_note(ax, "Inget att visa: ingen termin har ett index för minst "
                                        "hälften av skolorna.")
        rows, ref = mv.index_rows(term)
        return plots.caterpillar(rows, ctx.names, reference=ref, ax=ax,
                                 title=f"Undervisningskvalitet {term}", xlabel="Samlat index")
    if w == "tratt":
        m0 = ctx.measures[0] if ctx.measures else None
        res = ctx.tables.get(f"results:{m0}") if m0 else None
        year, _note = _comparison_year(res, m0)
        if res is None or year is None:
            ax = plots.new_axes((6.5, 3.0)) if ax is None else ax
            return plots.empty_note(ax, "Inget att visa: underlaget har inga resultat på "
                                        "skolnivå.")
        last = res[res["school_year"].astype(str) == year]
        return plots.funnel(last, ctx.names, ax=ax,
                            title=f"{schema.measure_label(str(m0))} {year}: resultat minus "
                                  "förväntat")
    raise UAError(f"Okänt diagram {what!r}", hint="Välj ett av: " + ", ".join(MUNICIPALITY_CHARTS))


__all__ = ["view", "VIEWS", "published_results", "municipality_table", "municipality_chart", "MUNICIPALITY_TABLES",
           "MUNICIPALITY_CHARTS"]
