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


__all__ = ["view", "VIEWS"]
