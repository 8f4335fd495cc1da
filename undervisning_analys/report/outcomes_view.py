"""The section "Elevernas upplevelse och närvaro": a view of the outcome tables.

Self-contained: the school report and the municipality report each call one
function here (the questions with ``underlag`` = ``utfall`` are rows of
``models.dialogue``'s table, rule ``rules_utfall``); the tables come
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
from .._format import number
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


def _municipality_cell(ctx: ReportContext, school_year: str, measure: str,
                       decimals: int) -> tuple[Num, Markup | None]:
    """The municipality's value for a school year, and a sentence saying why it is not
    shown when it is not (the comparison row always exists: ``municipality_values``)."""
    k = {"unit": MUNICIPALITY_UNIT, "school_year": school_year, "measure": measure}
    row = ctx._row(OUTCOMES, k)
    if row is None:  # the context has no outcomes table at all
        return Num("."), None
    reason = str(row.get("suppression_reason") or "") if row.get("status") == "suppressed" \
        else str(row.get("reason") or "")
    num = ctx.num(OUTCOMES, k, "value", decimals, title=reason or None)
    if row.get("status") == "ok":
        return num, None
    return num, sv("Kommunens värde {} visas inte ({}): {}.", school_year, num, reason)


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
        gaps: list[Markup] = []
        for sy in sorted(set(rows["school_year"].astype(str))):
            k = {"unit": school_id, "school_year": sy, "measure": m}
            muni, gap = _municipality_cell(ctx, sy, m, d)
            if gap is not None:
                gaps.append(gap)
            t.rows.append([sy, ctx.num(OUTCOMES, k, "n", 0, status=False),
                           ctx.num(OUTCOMES, k, "value", d), muni])
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
        scale_text = (f"Skala {number(scale[0], None)}–{number(scale[1], None)}, "
                      if scale is not None and scale[1] != float("inf") else "")
        way = {"higher_better": "högre är bättre", "lower_better": "lägre är bättre"}.get(
            info.direction, "")
        notes.append(Markup(scale_text + way + "." if way else scale_text.rstrip(", ")))
        notes.extend(gaps)
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
            last_k = {"unit": sid, "school_year": last, "measure": m}
            t.rows.append([ctx.names[sid],
                           ctx.num(OUTCOMES, last_k, "value", 1)
                           if ctx._row(OUTCOMES, last_k) is not None else Num("."),
                           ctx.num(TRENDS, k, "estimate", 2) if words is not None else
                           Markup("–"),
                           ci(ctx, TRENDS, k, 2) if words is not None else Markup("–"),
                           verdict or "för få läsår med värden"])
        mw = _trend_words(ctx, MUNICIPALITY_UNIT, m)
        muni, gap = _municipality_cell(ctx, last, m, 1)
        t.note = (gap if gap is not None else sv("Kommunen {}: {}.", last, muni)) + (
            sv(" Kommunens förändring: {}.", mw) if mw is not None else Markup(""))
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


__all__ = ["school_section", "municipality_section", "TITLE"]
