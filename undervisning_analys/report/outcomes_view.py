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


#: the order of the outcomes in the reports: the learning environment first (studiero,
#: trygghet), then the rest of Skolenkäten; attendance before the own measures
_ORDER = ("studiero", "trygghet", "forhindra_krankningar", "stimulans", "stod",
          "kritiskt_tankande", "information", "bemotande", "inflytande", "elevhalsa")
_OWN_ORDER = ("attendance_pct", "problematic_absence_pct", "offences_per_100")


def _order(measure: str) -> tuple[int, int, str]:
    if measure.startswith("skolenkat_"):
        slug = measure[len("skolenkat_"):]
        rank = next((k for k, x in enumerate(_ORDER) if slug.startswith(x + "_")), len(_ORDER))
        return 0, rank, measure
    rank = _OWN_ORDER.index(measure) if measure in _OWN_ORDER else len(_OWN_ORDER)
    return 1, rank, measure


def _measures(ctx: ReportContext) -> list[str]:
    t = ctx.tables.get(OUTCOMES)
    if t is None or not len(t):
        return []
    return sorted(dict.fromkeys(t["measure"].astype(str)), key=_order)


def _way(measure: str) -> str:
    info = schema.measure_info(measure)
    way = {"higher_better": "högre är bättre", "lower_better": "lägre är bättre"}.get(
        info.direction, "")
    scale = info.scale
    span = (f"{number(scale[0], None)}–{number(scale[1], None)}"
            if scale is not None and scale[1] != float("inf") else "")
    return ", ".join(x for x in (span, way) if x)


_SHORT = {"problematic_absence_pct": "Problematisk frånvaro (% av eleverna)"}


def _short(measure: str) -> str:
    if measure in _SHORT:
        return _SHORT[measure]
    label = schema.measure_label(measure)
    return label.split(": ", 1)[1] if label.startswith("Skolenkäten") else label


def _trend_decimals(lo: float, hi: float) -> int:
    """Two decimals, or three when an interval that excludes zero would be written with a
    bound of 0,00 (so that '−0,35 till 0,00' never stands beside 'en förbättring')."""
    if (lo > 0 and lo < 0.005) or (hi < 0 and hi > -0.005):
        return 3
    return 2


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
    d = _trend_decimals(lo, hi)
    est = ctx.num(TRENDS, k, "estimate", d)
    interval = ci(ctx, TRENDS, k, d)
    if lo > 0 or hi < 0:
        better = info.better(hi if hi < 0 else lo)
        verdict = ("en förbättring" if better else "en försämring") if better is not None \
            else ("en ökning" if lo > 0 else "en minskning")
        return sv("{} per läsår (95 % KI {}): {}", est, interval, verdict)
    return sv("{} per läsår (95 % KI {}): ingen säker förändring", est, interval)


def _trend_cells(ctx: ReportContext, unit: str, measure: str) -> list[Any]:
    """[change per year, 95 % interval, verdict] of a unit's trend over all years."""
    words = _trend_words(ctx, unit, measure)
    if words is None:
        return [Markup("–"), Markup("–"), "för få läsår med värden"]
    k = {"unit": unit, "measure": measure}
    row = ctx._row(TRENDS, k)
    d = _trend_decimals(float(row["conf_low"]), float(row["conf_high"])) if row else 2
    return [ctx.num(TRENDS, k, "estimate", d), ci(ctx, TRENDS, k, d),
            str(words).rsplit(": ", 1)[-1]]


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
    """Template variables of the school's section: one table for Skolenkäten and one for
    attendance and the own measures; per measure a row for the school (value and, in
    parentheses, respondents or pupils) and one for the municipality, school year by
    school year, each with its change per year over all years."""
    ms = _measures(ctx)
    mine = ctx.part(OUTCOMES, "unit", school_id) if ms else pd.DataFrame()
    if not len(mine):
        return {"title": TITLE, "tables": [], "text": ctx.notes.get(
            OUTCOMES, "Datamängden har inga uppgifter om elevernas upplevelse eller närvaro "
                      "för skolan (Skolenkäten, närvaro, egna mått).")}
    tables = []
    for survey in (True, False):
        group = [m for m in ms if m.startswith("skolenkat_") == survey
                 and len(mine[mine["measure"] == m])]
        if not group:
            continue
        years = sorted(set(mine.loc[mine["measure"].isin(group), "school_year"].astype(str)))
        caption = ("Skolenkäten: elevernas svar (index 0–10)" if survey else
                   "Närvaro och huvudmannens egna mått")
        t = Table([Col("Mått", False), Col("", False)] + [Col(y) for y in years]
                  + [Col("Förändring per läsår"), Col("95 % KI", False, nowrap=True),
                     Col("Bedömning", False)], caption=caption)
        gaps: list[Markup] = []
        for m in group:
            d = _decimals(m)
            label = Markup("{}<br><small>{}</small>").format(_short(m), _way(m))
            school_cells: list[Any] = []
            muni_cells: list[Any] = []
            for sy in years:
                k = {"unit": school_id, "school_year": sy, "measure": m}
                row = ctx._row(OUTCOMES, k)
                if row is None:
                    school_cells.append(Markup("–"))
                elif row.get("status") != "ok":  # '..' alone: no count under the floor
                    school_cells.append(ctx.num(OUTCOMES, k, "value", d))
                else:
                    school_cells.append(sv("{} ({})", ctx.num(OUTCOMES, k, "value", d),
                                           ctx.num(OUTCOMES, k, "n", 0, status=False)))
                muni, gap = _municipality_cell(ctx, sy, m, d)
                muni_cells.append(muni)
                if gap is not None:
                    gaps.append(sv("{}: {}", _short(m), gap))
            t.rows.append([label, "Skolan"] + school_cells
                          + _trend_cells(ctx, school_id, m))
            t.rows.append(["", municipality] + muni_cells
                          + _trend_cells(ctx, MUNICIPALITY_UNIT, m))
        n_what = "svarande elever" if survey else "elever"
        t.note = Markup(" ").join([sv("Inom parentes: antal {}. Förändringen per läsår är "
                                      "skattad ur alla läsår; en förändring räknas som säker "
                                      "när hela 95 %-intervallet ligger på samma sida om "
                                      "noll.", n_what)] + gaps)
        tables.append(t)
    note = ""
    surveyed = [m for m in ms if m.startswith("skolenkat_")]
    if surveyed and not mine["measure"].isin(surveyed).any():
        groups = sorted({schema.measure_label(m).split(":", 1)[0] for m in surveyed})
        note = (f"{', '.join(groups)}: inga värden för skolan. Skolenkäten besvaras av "
                "eleverna i vissa årskurser, och skolan har inga svarande i dem.")
    return {"title": TITLE, "tables": tables, "text": "", "note": note}


def _p(ctx: ReportContext, keys: dict[str, Any], column: str) -> Any:
    """A p-value with three decimals, or '< 0,001' (no reference: the text is not the
    table's number written out)."""
    row = ctx._row(LINKS, keys)
    p = row.get(column) if row is not None else None
    if p is not None and pd.notna(p) and float(p) < 0.001:
        return Markup("&lt; 0,001")
    return ctx.num(LINKS, keys, column, 3)


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
    school_rows = t_all[t_all["level"] == "school"]
    ms = [m for m in ms if (school_rows["measure"] == m).any()]
    last = {m: max(school_rows.loc[school_rows["measure"] == m, "school_year"].astype(str))
            for m in ms}
    # (a) every school's latest value, one column per outcome, and the municipality
    levels = Table([Col("Skola", False)]
                   + [Col(Markup("{}<br><small>{}</small>").format(_short(m), last[m]))
                      for m in ms],
                   caption="Senaste läsårets värde per skola")
    gaps: list[Markup] = []
    for sid in ctx.school_ids():
        mine = school_rows[school_rows["unit"] == sid]
        if not len(mine):
            continue
        cells: list[Any] = [ctx.names[sid]]
        for m in ms:
            k = {"unit": sid, "school_year": last[m], "measure": m}
            cells.append(ctx.num(OUTCOMES, k, "value", _decimals(m))
                         if ctx._row(OUTCOMES, k) is not None else Markup("–"))
        levels.rows.append(cells)
    levels.rows.sort(key=lambda r: str(r[0]).lower())
    muni_cells: list[Any] = [Markup("<strong>Kommunen</strong>")]
    for m in ms:
        muni, gap = _municipality_cell(ctx, last[m], m, _decimals(m))
        muni_cells.append(muni)
        if gap is not None:
            gaps.append(sv("{}: {}", _short(m), gap))
    levels.rows.append(muni_cells)
    levels.note = Markup(" ").join(
        [Markup("Skolenkätens index på skalan 0–10 (högre är bättre); närvaro och "
                "problematisk frånvaro i procent; anmälda kränkningar per 100 elever. "
                "Ett streck (–): skolan har inget värde (Skolenkäten besvaras bara av skolor "
                "med årskursen).")] + gaps)
    out["tables"].append(levels)
    # (b) the changes over all years that are clear, better or worse by each measure's
    # direction; the rest are counted
    changes = Table([Col("Skola", False), Col("Mått", False), Col("Förändring per läsår"),
                     Col("95 % KI", False, nowrap=True), Col("Bedömning", False)],
                    caption="Säkra förändringar över alla läsår (hela 95 %-intervallet på "
                            "samma sida om noll)")
    n_unclear = n_short = 0
    for sid in [*ctx.school_ids(), MUNICIPALITY_UNIT]:
        for m in ms:
            if sid != MUNICIPALITY_UNIT and not len(
                    school_rows[(school_rows["unit"] == sid) & (school_rows["measure"] == m)]):
                continue
            est, interval, verdict = _trend_cells(ctx, sid, m)
            if verdict == "för få läsår med värden":
                n_short += 1
            elif verdict == "ingen säker förändring":
                n_unclear += 1
            else:
                name = Markup("<strong>Kommunen</strong>") if sid == MUNICIPALITY_UNIT \
                    else ctx.names[sid]
                changes.rows.append([name, _short(m), est, interval, verdict])
    changes.note = sv("Övriga: {} kombinationer av skola (eller kommunen) och mått utan säker "
                      "förändring och {} med för få läsår (minst 3) för att skatta en. Alla "
                      "förändringar med sina intervall finns i data/utfall_trender.csv.",
                      n_unclear, n_short)
    out["tables"].append(changes)
    if LINKS in ctx.tables:
        lk = ctx.tables[LINKS]
        t = Table([Col("Utfall", False), Col("Jämförs med", False),
                   Col("Samband per 0,1 indexpoäng"), Col("Enhet", False),
                   Col("95 % KI", False, nowrap=True), Col("p"), Col("p (Holm)"),
                   Col("Bedömning", False)],
                  caption="Elevernas upplevelse och närvaro mot undervisningskvaliteten "
                          "(inom skolor, samma läsår)")
        for r in lk.itertuples(index=False):
            k = {"measure": r.measure}
            dim = ctx.dimensions.get(r.dimension, r.dimension)
            if isinstance(r.error, str) and r.error:
                t.rows.append([_short(r.measure), dim, Markup("–"), "", Markup("–"),
                               Markup("–"), Markup("–"), "kunde inte skattas"])
                continue
            verdict = ("fynd: " + ("bättre" if r.better else "sämre") + " med högre kvalitet"
                       if r.finding and r.better is not None else
                       "fynd" if r.finding else "inget säkert samband")
            t.rows.append([_short(r.measure), dim,
                           ctx.num(LINKS, k, "estimate", 2, scale=0.1),
                           schema.measure_info(r.measure).unit,
                           ci(ctx, LINKS, k, 2, scale=0.1), _p(ctx, k, "p_value"),
                           _p(ctx, k, "p_holm"), verdict])
        out["links"] = t
        out["sentence"] = ctx.info.get(LINKS, {}).get("sentence", "")
    elif LINKS in ctx.notes:
        out["text"] = ctx.notes[LINKS]
    return out


__all__ = ["school_section", "municipality_section", "TITLE"]
