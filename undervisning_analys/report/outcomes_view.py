"""The section "Elevernas upplevelse och närvaro": a view of the outcome tables.

Self-contained: the school report and the municipality report each call one
function here (and the school report's questions one more); the tables come
from :mod:`~undervisning_analys.report.outcomes_context` through the context.
Every number is a :class:`~undervisning_analys.report.context.Num` read from
those tables (``..`` under the floors, as in the rest of the reports), and
every statement about a change rests on a trend over all years with its 95 %
interval, never on two years. "Bättre"/"sämre" follow the measure's direction
(``schema.measure_info``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from markupsafe import Markup

from .. import schema
from ._common import Col, Table, ci, sv
from .context import Num, ReportContext
from .outcomes_context import LINKS, MUNICIPALITY_UNIT, OUTCOMES, TRENDS

TITLE = "Elevernas upplevelse och närvaro"


def _decimals(measure: str) -> int:
    return 1


def _measures(ctx: ReportContext) -> list[str]:
    t = ctx.tables.get(OUTCOMES)
    if t is None or not len(t):
        return []
    ms = list(dict.fromkeys(t["measure"].astype(str)))
    return sorted(ms, key=lambda m: (not m.startswith("skolenkat_"), m))


def _short(measure: str) -> str:
    label = schema.measure_label(measure)
    return label.split(": ", 1)[1] if label.startswith("Skolenkäten") else label


def _trend_words(ctx: ReportContext, unit: str, measure: str) -> Markup | None:
    """'ökat med 0,3 per läsår (95 % KI 0,1 till 0,5): bättre' or None without a trend."""
    k = {"unit": unit, "measure": measure}
    rows = ctx.part(TRENDS, "unit", unit) if TRENDS in ctx.tables else pd.DataFrame()
    if not len(rows):
        return None
    row = rows[rows["measure"] == measure]
    if not len(row) or pd.isna(row["estimate"].iloc[0]):
        return None
    lo, hi = float(row["conf_low"].iloc[0]), float(row["conf_high"].iloc[0])
    info = schema.measure_info(measure)
    est = ctx.num(TRENDS, k, "estimate", 2)
    interval = ci(ctx, TRENDS, k, 2)
    if lo > 0 or hi < 0:
        better = info.better(hi if hi < 0 else lo)
        verdict = ("en förbättring" if better else "en försämring") if better is not None \
            else ("en ökning" if lo > 0 else "en minskning")
        return sv("{} per läsår (95 % KI {}): {}", est, interval, verdict)
    return sv("{} per läsår (95 % KI {}): ingen säker förändring", est, interval)


def school_section(ctx: ReportContext, school_id: str, municipality: str) -> dict[str, Any]:
    """Template variables of the school's section."""
    ms = _measures(ctx)
    mine = ctx.part(OUTCOMES, "unit", school_id) if ms else pd.DataFrame()
    if not len(mine):
        return {"title": TITLE, "tables": [], "text": ctx.notes.get(
            OUTCOMES, "Datamängden har inga uppgifter om elevernas upplevelse eller närvaro "
                      "för skolan (Skolenkäten, närvaro, egna mått).")}
    tables = []
    for m in ms:
        rows = mine[mine["measure"] == m]
        if not len(rows):
            continue
        d = _decimals(m)
        info = schema.measure_info(m)
        n_label = "Svarande" if m.startswith("skolenkat_") else "Elever"
        t = Table([Col("Läsår", False), Col(n_label), Col("Skolan"), Col(municipality)],
                  caption=schema.measure_label(m))
        for sy in sorted(set(rows["school_year"].astype(str))):
            k = {"unit": school_id, "school_year": sy, "measure": m}
            t.rows.append([sy, ctx.num(OUTCOMES, k, "n", 0, status=False),
                           ctx.num(OUTCOMES, k, "value", d),
                           ctx.num(OUTCOMES, {"unit": MUNICIPALITY_UNIT, "school_year": sy,
                                              "measure": m}, "value", d)])
        mine_trend = _trend_words(ctx, school_id, m)
        muni_trend = _trend_words(ctx, MUNICIPALITY_UNIT, m)
        notes = []
        if mine_trend is not None:
            notes.append(sv("Skolans förändring över alla läsår: {}.", mine_trend))
        else:
            notes.append(Markup("Skolans förändring kan inte skattas: för få läsår med "
                                "visade värden (minst 3)."))
        if muni_trend is not None:
            notes.append(sv("Kommunens: {}.", muni_trend))
        scale = info.scale
        scale_text = (f"Skala {schema.measure_info(m).scale[0]:g}–{scale[1]:g}"
                      .replace(".", ",") + ", " if scale and scale[1] != float("inf") else "")
        way = {"higher_better": "högre är bättre", "lower_better": "lägre är bättre"}.get(
            info.direction, "")
        notes.append(Markup(scale_text + way + "." if way else scale_text.rstrip(", ")))
        t.note = Markup(" ").join(notes)
        tables.append(t)
    return {"title": TITLE, "tables": tables, "text": ""}


def municipality_section(ctx: ReportContext) -> dict[str, Any]:
    """The outcomes across the municipality's schools, and their links to teaching quality."""
    ms = _measures(ctx)
    out: dict[str, Any] = {"title": TITLE, "tables": [], "links": None, "sentence": "",
                           "text": ""}
    if not ms:
        out["text"] = ctx.notes.get(OUTCOMES, "Datamängden har inga uppgifter om elevernas "
                                              "upplevelse eller närvaro.")
        return out
    t_all = ctx.tables[OUTCOMES]
    for m in ms:
        rows = t_all[(t_all["measure"] == m) & (t_all["level"] == "school")]
        if not len(rows):
            continue
        last = max(rows["school_year"].astype(str))
        t = Table([Col("Skola", False), Col(f"{last}"), Col("Förändring per läsår"),
                   Col("95 % KI", False, nowrap=True), Col("Bedömning", False)],
                  caption=schema.measure_label(m))
        for sid in ctx.school_ids():
            if not len(rows[rows["unit"] == sid]):
                continue
            k = {"unit": sid, "measure": m}
            words = _trend_words(ctx, sid, m)
            verdict = "" if words is None else str(words).rsplit(": ", 1)[-1]
            t.rows.append([ctx.names[sid],
                           ctx.num(OUTCOMES, {"unit": sid, "school_year": last, "measure": m},
                                   "value", 1),
                           ctx.num(TRENDS, k, "estimate", 2) if words is not None else
                           Num("..", {"t": TRENDS, "k": k, "c": "estimate", "d": 2}),
                           ci(ctx, TRENDS, k, 2) if words is not None else Markup(".."),
                           verdict or "för få läsår"])
        mw = _trend_words(ctx, MUNICIPALITY_UNIT, m)
        t.note = sv("Kommunen {}: {}.", last, ctx.num(
            OUTCOMES, {"unit": MUNICIPALITY_UNIT, "school_year": last, "measure": m}, "value",
            1)) + (sv(" Kommunens förändring: {}.", mw) if mw is not None else Markup(""))
        t.rows.sort(key=lambda r: r[0].lower())
        out["tables"].append(t)
    if LINKS in ctx.tables:
        lk = ctx.tables[LINKS]
        t = Table([Col("Utfall", False), Col("Jämförs med", False),
                   Col("Samband per 0,1 indexpoäng"), Col("95 % KI", False, nowrap=True),
                   Col("p"), Col("p (Holm)"), Col("Bedömning", False)],
                  caption="Elevernas upplevelse och närvaro mot undervisningskvaliteten "
                          "(inom skolor, samma läsår)")
        for r in lk.itertuples(index=False):
            k = {"measure": r.measure}
            dim = ctx.dimensions.get(r.dimension, r.dimension)
            if isinstance(r.error, str) and r.error:
                t.rows.append([_short(r.measure), dim, "..", "..", "..", "..",
                               "kunde inte skattas"])
                continue
            verdict = ("fynd: " + ("bättre" if r.better else "sämre") + " med högre kvalitet"
                       if r.finding and r.better is not None else
                       "fynd" if r.finding else "inget säkert samband")
            t.rows.append([_short(r.measure), dim,
                           ctx.num(LINKS, k, "estimate", 2, scale=0.1),
                           ci(ctx, LINKS, k, 2, scale=0.1), ctx.num(LINKS, k, "p_value", 3),
                           ctx.num(LINKS, k, "p_holm", 3), verdict])
        out["links"] = t
        out["sentence"] = ctx.info.get(LINKS, {}).get("sentence", "")
    elif LINKS in ctx.notes:
        out["text"] = ctx.notes[LINKS]
    return out


def school_questions(ctx: ReportContext, school_id: str) -> list[tuple[int, dict[str, Any]]]:
    """Dialogue questions (``underlag`` = ``utfall``) from the school's outcome trends.

    Rule: an outcome whose trend over all years has a 95 % interval entirely on
    the worse side (by the measure's direction) raises a question; one on the
    better side raises a question about what made the difference. Nothing is
    raised from a single year or from an interval that includes zero.
    """
    out: list[tuple[int, dict[str, Any]]] = []
    if TRENDS not in ctx.tables:
        return out
    rows = ctx.part(TRENDS, "unit", school_id)
    for r in rows.itertuples(index=False):
        if pd.isna(r.estimate) or not (r.conf_low > 0 or r.conf_high < 0):
            continue
        info = schema.measure_info(r.measure)
        better = info.better(r.conf_low if r.conf_low > 0 else r.conf_high)
        if better is None:
            continue
        words = _trend_words(ctx, school_id, r.measure)
        label = _short(r.measure).lower()
        if better:
            q = (f"Vad i skolans arbete kan förklara att {label} har blivit bättre, och hur "
                 "kan det hållas kvar?")
            prio = 5
        else:
            q = (f"Vad ligger bakom att {label} har blivit sämre över läsåren, och vad i "
                 "undervisningen kan vända utvecklingen?")
            prio = 9
        out.append((prio, {"q": q, "why": sv("{}: {}.", schema.measure_label(r.measure),
                                             words),
                           "underlag": "utfall"}))
    return out


__all__ = ["school_section", "municipality_section", "school_questions", "TITLE"]
