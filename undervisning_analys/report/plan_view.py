"""The improvement cycle in the reports: "Planen och målen", the last dialogue, the overview.

A view of the context's ``planuppfoljning`` tables (made by
:func:`undervisning_analys.models.followup.plan_followup` in
:func:`~undervisning_analys.report.context.build_context`) and of
``ds.dialogue_notes``; nothing here estimates anything. Every number is a
:class:`~undervisning_analys.report.context.Num` read from the follow-up table.

* :func:`school_plan` – the school's section "Planen och målen": one sentence
  per target (goal, estimate now with its interval, the projection to the
  target term with its interval, the probability and the status with its
  rule), a compact chart, lessons planned against observed per visit type and
  term, and the dimensions outside the focus beside it;
* :func:`last_dialogue` – the opening "Vid förra dialogen kom vi överens om …"
  with what the data now say about each agreement;
* :func:`plan_questions` – dialogue questions that rest on the plan
  (``underlag`` = ``plan``);
* :func:`organiser_overview` – the municipality report's overview: the
  organiser's targets, how many school targets serving each are on track, and
  a compact chart of every school target (schools in alphabetical order,
  never ranked).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from .. import schema
from .._format import swedish_key
from ..models.followup import (
    ASSUMPTIONS_SV,
    INTE_PA_VAG,
    KAN_EJ,
    PA_VAG,
    STATUS_RULE_SV,
    UPPNATT,
    VISIT_LABELS,
)
from ..plans import action_label, split_actions
from ._common import Col, Table, sv
from .charts import AXIS, GRID, Svg, nice_ticks, sv_tick
from .context import ReportContext

TABLE = "planuppfoljning"
ADHERENCE = "planuppfoljning_besok"
PLANNED = "plan_planned"
OTHERS = "planuppfoljning_dimensioner"
STATUS_CLASS = {UPPNATT: "ok", PA_VAG: "ok", INTE_PA_VAG: "warn", KAN_EJ: "open"}
COLOURS = {"now": "#1f4e79", "projection": "#c55a11", "target": "#1d1d1f"}


def _rows(ctx: ReportContext, school_id: str | None) -> pd.DataFrame:
    if not ctx.has(TABLE):
        return pd.DataFrame()
    t = ctx.table(TABLE)
    if school_id is None:
        return t[t["level"] == "organiser"]
    return t[t["school_id"].astype(str) == str(school_id)]


def _keys(r: Any) -> dict[str, str]:
    return {"plan_id": str(r["plan_id"]), "target_id": str(r["target_id"])}


def _finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def target_sentence(ctx: ReportContext, r: pd.Series) -> Markup:
    """The follow-up of one target as a Swedish sentence whose numbers are Nums."""
    k = _keys(r)
    d = 1 if r["kind"] == "result" else 2

    def n(col: str, dec: int = d, scale: float | None = None) -> Any:
        return ctx.num(TABLE, k, col, dec, scale=scale, status=False)

    label = str(r["target_label"])
    if r["kind"] == "dimension":
        label = label[0].lower() + label[1:]
    if r["kind"] == "observations":
        vt = VISIT_LABELS.get(str(r["target_of"]), str(r["target_of"]))
        if not _finite(r["lessons_planned"]) or float(r["lessons_planned"]) == 0:
            return sv("Lektionsbesök ({}): {} planerade per termin; ingen termin av perioden "
                      "är ännu avslutad.", vt, n("target", 0))
        return sv("Lektionsbesök ({}): {} planerade per termin. Under perioden hittills har {} "
                  "lektioner observerats, mot {} planerade – {}.", vt, n("target", 0),
                  n("lessons_observed", 0), n("lessons_planned", 0), _status(r))
    side = "minst" if bool(r["higher_is_better"]) else "högst"
    head = sv("Målet: {} {} {} till {}", label, side, n("target"), str(r["target_term"]))
    if _finite(r["baseline"]):
        when = f", {r['baseline_term']}" if isinstance(r["baseline_term"], str) else ""
        head = sv("{} (utgångsläge {}{})", head, n("baseline"), when)
    head = Markup(head + ".")
    if not _finite(r["estimate"]):
        return sv("{} Det {}: {}.", head, _status(r), str(r["status_reason"]))
    now = sv(" Nu ({}): {} (95 % konfidensintervall {} till {}).", str(r["current_term"]),
             n("estimate"), n("conf_low"), n("conf_high"))
    proj = Markup("")
    if _finite(r["projection"]) and _finite(r["probability"]):
        who = "huvudmannens" if r["level"] == "organiser" else "skolans"
        proj = sv(" Om {} utveckling fortsätter som hittills väntas {} ({} till {}) {}; "
                  "sannolikheten att målet nås är {} %.", who, n("projection"),
                  n("projection_low"), n("projection_high"), str(r["target_term"]),
                  n("probability", 0, scale=100))
    return sv("{}{}{} Status: {} – {}.", head, now, proj, _status(r), str(r["status_reason"]))


def planned_precision_sentence(ctx: ReportContext, school_id: str) -> Markup | None:
    """What the plan's lessons per term give (issue #17): the reliability of a term's
    level and of the school's change over a plan's period, and the power for a change
    (``plan_planned``, from :meth:`~undervisning_analys.measure.reliability.ObservationPlan.at`
    with the school's planned lessons)."""
    if not ctx.has(PLANNED):
        return None
    t = ctx.table(PLANNED)
    mine = t[t["unit"].astype(str) == str(school_id)]
    if mine.empty or not _finite(mine["reliability"].iloc[0]):
        return None
    k = {"unit": str(school_id)}
    head = sv("Med planens {} lektionsbesök per termin blir reliabiliteten för en termins nivå "
              "{}", ctx.num(PLANNED, k, "n_obs", 0, status=False),
              ctx.num(PLANNED, k, "reliability", 2, status=False))
    if "reliability_change" not in mine.columns or not _finite(mine["power"].iloc[0]):
        return Markup(head + ".")
    return sv("{} och för skolans förändring, trenden över {} läsår, {}; en förändring på {} "
              "poäng per läsår upptäcks då med {} % sannolikhet.", head,
              ctx.num(PLANNED, k, "years", 0, status=False),
              ctx.num(PLANNED, k, "reliability_change", 2, status=False),
              ctx.num(PLANNED, k, "change", 2, status=False),
              ctx.num(PLANNED, k, "power", 0, scale=100, status=False))


def _status(r: pd.Series) -> Markup:
    st = str(r["status"])
    return Markup(f'<strong class="status {STATUS_CLASS.get(st, "open")}">'
                  f"{escape(st)}</strong>")


# --------------------------------------------------------------------------
# The compact chart: targets (diamonds), now and expected with intervals
# --------------------------------------------------------------------------
def targets_chart(rows: pd.DataFrame, labels: list[str], title: str,
                  scale: tuple[float, float] | None = None) -> str:
    """One line per target: now (dot, 95 % interval), expected at the target term
    (square, 95 % interval), target (diamond). Rows in the order given."""
    rows = rows.reset_index(drop=True)
    if rows.empty:
        return ""
    vals: list[float] = []
    for c in ("estimate", "conf_low", "conf_high", "projection_low", "projection_high",
              "target"):
        vals += [float(v) for v in rows[c] if _finite(v)]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    if scale is not None:
        lo, hi = max(lo, scale[0]), min(hi, scale[1])
    pad = max((hi - lo) * 0.06, 0.05)
    ticks, dec = nice_ticks(lo - pad, hi + pad, 5)
    xlim = (min(ticks[0], lo - pad), max(ticks[-1], hi + pad))
    if scale is not None:
        ticks = [t for t in ticks if scale[0] <= t <= scale[1]]
        xlim = (max(xlim[0], scale[0] - pad), min(xlim[1], scale[1] + pad))
    left, right, top, row_h = 300, 20, 40, 26
    width = 860
    height = top + row_h * len(rows) + 46
    svg = Svg(width, height, title)
    svg.text(left, 16, title, 12, anchor="start", weight="bold")
    pw = width - left - right

    def sx(v: float) -> float:
        return left + (v - xlim[0]) / (xlim[1] - xlim[0]) * pw

    for t in ticks:
        svg.seg(sx(t), top - 6, sx(t), top + row_h * len(rows), GRID, 0.8)
        svg.text(sx(t), top + row_h * len(rows) + 14, sv_tick(t, dec), 10, fill=AXIS)
    for i, r in rows.iterrows():
        y = top + row_h * i + row_h / 2
        lab = labels[i] if len(labels[i]) <= 48 else labels[i][:47] + "…"
        svg.text(left - 8, y + 4, lab, 10.5, anchor="end")
        if _finite(r["projection_low"]) and _finite(r["projection_high"]):
            svg.seg(sx(float(r["projection_low"])), y + 5, sx(float(r["projection_high"])),
                    y + 5, COLOURS["projection"], 1.6)
            svg.square(sx(float(r["projection"])), y + 5, 3.2, COLOURS["projection"])
        if _finite(r["conf_low"]) and _finite(r["conf_high"]):
            svg.seg(sx(float(r["conf_low"])), y - 4, sx(float(r["conf_high"])), y - 4,
                    COLOURS["now"], 1.6)
            svg.circle(sx(float(r["estimate"])), y - 4, 3.6, COLOURS["now"])
        elif not _finite(r["estimate"]):
            svg.text(left + 6, y + 4, "kan ännu inte avgöras", 9.5, anchor="start",
                     fill=AXIS)
        if _finite(r["target"]):
            x = sx(float(r["target"]))
            svg.add(f'<polygon points="{x:.1f},{y - 7:.1f} {x + 5:.1f},{y:.1f} {x:.1f},'
                    f'{y + 7:.1f} {x - 5:.1f},{y:.1f}" fill="{COLOURS["target"]}"/>')
    ly = height - 12
    items = [("now", "nu, med 95 % konfidensintervall"),
             ("projection", "väntat vid målterminen, med 95 % intervall"), ("target", "mål")]
    x = left
    for key, text in items:
        svg.circle(x, ly - 4, 3.6, COLOURS[key]) if key == "now" else (
            svg.square(x, ly - 4, 3.2, COLOURS[key]) if key == "projection" else svg.add(
                f'<polygon points="{x:.1f},{ly - 11:.1f} {x + 5:.1f},{ly - 4:.1f} {x:.1f},'
                f'{ly + 3:.1f} {x - 5:.1f},{ly - 4:.1f}" fill="{COLOURS[key]}"/>'))
        svg.text(x + 9, ly, text, 10, anchor="start")
        x += 9 + 6.2 * len(text) + 24
    return svg.render()


# --------------------------------------------------------------------------
# The school's section
# --------------------------------------------------------------------------
def school_plan(ctx: ReportContext, school_id: str) -> dict[str, Any] | None:
    """The section "Planen och målen" of a school's report (None: the school has no plan)."""
    rows = _rows(ctx, school_id)
    if rows.empty:
        return None
    goals = rows[rows["kind"] != "observations"]
    lessons = rows[rows["kind"] == "observations"]
    sentences = [target_sentence(ctx, r) for _, r in goals.iterrows()]
    sentences += [target_sentence(ctx, r) for _, r in lessons.iterrows()]
    precision = planned_precision_sentence(ctx, school_id)
    if precision is not None:
        sentences.append(precision)
    charts = []
    for kinds, title, scale in (
            (("dimension", "item"), "Undervisningskvalitet: mål, läget nu och det väntade läget "
                                    "vid målterminen", ctx.ds.instrument.scale),
            (("result",), "Resultat jämfört med förväntat: mål, läget nu och det väntade läget",
             None)):
        part = goals[goals["kind"].isin(kinds)]
        if len(part) and part["estimate"].notna().any():
            charts.append(targets_chart(part, [str(x) for x in part["target_label"]], title,
                                        scale))
    chart = Markup("".join(charts))
    serves = sorted({str(s) for s in goals["serves"].dropna()})
    actions = split_actions(rows["actions"].dropna().iloc[0]) if rows["actions"].notna().any() \
        else []
    adh = _adherence_table(ctx, school_id)
    others = _others_table(ctx, school_id)
    return {"sentences": sentences, "chart": chart, "serves": serves,
            "actions": [action_label(a) for a in actions], "adherence": adh,
            "others": others, "assumptions": ASSUMPTIONS_SV, "rule": STATUS_RULE_SV,
            "period": f"{rows['period_start'].iloc[0]}–{rows['period_end'].iloc[0]}"
            if "period_start" in rows else ""}


def _adherence_table(ctx: ReportContext, school_id: str) -> Table | None:
    if not ctx.has(ADHERENCE):
        return None
    a = ctx.table(ADHERENCE)
    a = a[a["school_id"].astype(str) == str(school_id)]
    if a.empty:
        return None
    terms = sorted(set(a["term"].astype(str)), key=schema.term_index)
    cols = [Col("Besökstyp", num=False)] + [Col(t) for t in terms]
    table_rows = []
    for vt in a["visit_type"].drop_duplicates():
        cells: list[Any] = [VISIT_LABELS.get(str(vt), str(vt))]
        for t in terms:
            k = {"school_id": str(school_id), "term": t, "visit_type": str(vt)}
            obs = ctx.num(ADHERENCE, k, "observed", 0, status=False)
            plan = ctx.num(ADHERENCE, k, "planned", 0, status=False)
            cells.append(sv("{} av {}", obs, plan))
        table_rows.append(cells)
    return Table(cols, table_rows, caption="Observerade lektioner av planerade, per termin",
                 note="Parobservationer är lektioner som två observatörer bedömt; de räknas "
                      "också under sin besökstyp.")


def _others_table(ctx: ReportContext, school_id: str) -> Table | None:
    if not ctx.has(OTHERS):
        return None
    o = ctx.table(OTHERS)
    o = o[o["school_id"].astype(str) == str(school_id)]
    if o.empty:
        return None
    rows = []
    for _, r in o.iterrows():
        k = {"school_id": str(school_id), "dimension": str(r["dimension"])}
        if bool(r["suppressed"]):
            trend: Any = ".."
            interval: Any = ".."
        else:
            trend = ctx.num(OTHERS, k, "trend", 3, status=False)
            interval = sv("{} till {}", ctx.num(OTHERS, k, "conf_low", 3, status=False),
                          ctx.num(OTHERS, k, "conf_high", 3, status=False))
        rows.append([str(r["dimension_name"]), "i fokus" if bool(r["in_focus"]) else "utanför",
                     trend, interval])
    return Table([Col("Dimension", num=False), Col("Planen", num=False),
                  Col("Trend per läsår"), Col("95 % konfidensintervall")], rows,
                 caption="Alla dimensioner, i planens fokus och utanför",
                 note="En trend vars intervall ligger under noll pekar på en nedgång. "
                      "Dimensionerna utanför fokus visas för att se om något annat föll "
                      "medan skolan arbetade med sitt fokus.")


# --------------------------------------------------------------------------
# The last dialogue
# --------------------------------------------------------------------------
def last_dialogue(ctx: ReportContext, school_id: str) -> dict[str, Any] | None:
    """"Vid förra dialogen kom vi överens om …" and what the data now say (None: no notes)."""
    notes = ctx.ds.dialogue_notes
    if notes is None or notes.empty:
        return None
    mine = notes[notes["school_id"].astype(str) == str(school_id)]
    if mine.empty:
        return None
    day = mine["dialogue_date"].max()
    last = mine[mine["dialogue_date"] == day]
    rows = _rows(ctx, school_id)
    items = []
    for _, a in last[last["kind"] == "agreement"].iterrows():
        who = f"ansvarig: {a['owner_role']}" if isinstance(a["owner_role"], str) else ""
        when = (f"följs upp senast {pd.Timestamp(a['follow_up_date']).strftime('%Y-%m-%d')}"
                if pd.notna(a["follow_up_date"]) else "")
        status = schema.LABELS_SV.get(str(a["status"]), "") if isinstance(a["status"], str) \
            else ""
        meta = "; ".join(x for x in (who, when, f"status då: {status}" if status else "") if x)
        items.append({"text": str(a["text"]), "meta": meta,
                      "data": _what_data_say(ctx, school_id, a["about"], rows)})
    questions = [str(q) for q in last.loc[last["kind"] == "question", "text"]]
    return {"date": pd.Timestamp(day).strftime("%Y-%m-%d"), "items": items,
            "questions": questions}


def _what_data_say(ctx: ReportContext, school_id: str, about: Any, rows: pd.DataFrame
                   ) -> Markup:
    if not isinstance(about, str) or not about.strip():
        return Markup("Överenskommelsen är inte kopplad till ett mål eller en dimension i "
                      "underlaget; följ upp den i samtalet.")
    key = about.strip()
    hit = rows[rows["target_id"].astype(str) == key] if len(rows) else rows
    if len(hit):
        return target_sentence(ctx, hit.iloc[0])
    dims = {k: v for k, v in ctx.dimensions.items()}
    if key in dims and ctx.has(OTHERS):
        o = ctx.table(OTHERS)
        o = o[(o["school_id"].astype(str) == str(school_id)) & (o["dimension"] == key)]
        if len(o) and not bool(o["suppressed"].iloc[0]):
            k = {"school_id": str(school_id), "dimension": key}
            return sv("{}: trend {} per läsår (95 % konfidensintervall {} till {}).",
                      dims[key], ctx.num(OTHERS, k, "trend", 3, status=False),
                      ctx.num(OTHERS, k, "conf_low", 3, status=False),
                      ctx.num(OTHERS, k, "conf_high", 3, status=False))
    return sv("Underlaget har inget mål eller någon dimension som heter {}; följ upp "
              "överenskommelsen i samtalet.", key)


# --------------------------------------------------------------------------
# Plan-based dialogue questions
# --------------------------------------------------------------------------
def plan_questions(ctx: ReportContext, school_id: str, limit: int = 2) -> list[dict[str, Any]]:
    """Questions resting on the plan's follow-up (``underlag`` = ``plan``), at most ``limit``."""
    rows = _rows(ctx, school_id)
    out: list[dict[str, Any]] = []
    for _, r in rows.iterrows():
        label = str(r["target_label"])
        label_l = label[0].lower() + label[1:] if r["kind"] == "dimension" else label
        if r["kind"] == "observations":
            if r["status"] == INTE_PA_VAG:
                vt = VISIT_LABELS.get(str(r["target_of"]), str(r["target_of"]))
                out.append({"q": f"Vad gjorde att det blev färre {vt} än planerat, och vad "
                                 "behövs för att genomföra planen?",
                            "why": target_sentence(ctx, r), "underlag": "plan"})
        elif r["status"] == INTE_PA_VAG:
            out.append({"q": f"Vad behöver ändras för att nå målet för {label_l} till "
                             f"{r['target_term']}, eller behöver målet ses över?",
                        "why": target_sentence(ctx, r), "underlag": "plan"})
        elif r["status"] == KAN_EJ and not _finite(r["estimate"]):
            out.append({"q": f"Hur kan lektionsbesöken läggas upp så att målet för {label_l} "
                             "kan följas upp?", "why": target_sentence(ctx, r),
                        "underlag": "plan"})
    order = {INTE_PA_VAG: 0, KAN_EJ: 1}
    out.sort(key=lambda q: 0 if "ändras" in q["q"] else 1)
    _ = order
    return out[:limit]


# --------------------------------------------------------------------------
# The municipality report's overview
# --------------------------------------------------------------------------
def organiser_overview(ctx: ReportContext) -> dict[str, Any] | None:
    """The organiser's targets and every school target, compactly (None: no plans)."""
    if not ctx.has(TABLE):
        return None
    t = ctx.table(TABLE)
    org = t[t["level"] == "organiser"]
    org_items = []
    for _, r in org.iterrows():
        k = _keys(r)
        counts = sv("Av {} skolmål som tjänar målet är {} uppnådda, {} på väg, {} inte på väg "
                    "och {} kan ännu inte avgöras.",
                    ctx.num(TABLE, k, "n_targets_serving", 0, status=False),
                    ctx.num(TABLE, k, "n_serving_reached", 0, status=False),
                    ctx.num(TABLE, k, "n_serving_on_track", 0, status=False),
                    ctx.num(TABLE, k, "n_serving_not_on_track", 0, status=False),
                    ctx.num(TABLE, k, "n_serving_undecided", 0, status=False))
        org_items.append({"id": str(r["target_id"]), "sentence": target_sentence(ctx, r),
                          "counts": counts})
    schools = t[(t["level"] == "school") & (t["kind"] != "observations")].copy()
    schools = schools.assign(_k=schools["school_name"].map(swedish_key)).sort_values(
        ["_k", "target_id"]).drop(columns="_k")
    charts = []
    for kind, title in (("dimension", "Skolornas mål för undervisningskvaliteten"),
                        ("item", "Skolornas mål för enskilda påståenden"),
                        ("result", "Skolornas resultatmål (jämfört med förväntat)")):
        part = schools[schools["kind"] == kind]
        if part.empty:
            continue
        labels = [f"{r['school_name']}: {r['target_label']}" for _, r in part.iterrows()]
        scale = ctx.ds.instrument.scale if kind != "result" else None
        charts.append(targets_chart(part, labels, title, scale))
    status_rows = []
    for st in (UPPNATT, PA_VAG, INTE_PA_VAG, KAN_EJ):
        n = int((schools["status"] == st).sum())
        status_rows.append([Markup(_status(pd.Series({"status": st}))), str(n)])
    status_table = Table([Col("Status", num=False), Col("Skolmål")], status_rows,
                         caption="Skolornas mål efter status",
                         note="Skolorna visas i bokstavsordning, inte rangordnade. " +
                              STATUS_RULE_SV)
    return {"organiser": org_items, "charts": charts, "status": status_table,
            "n_schools": int(schools["school_id"].nunique()), "assumptions": ASSUMPTIONS_SV}


__all__ = ["planned_precision_sentence", "school_plan", "last_dialogue", "plan_questions",
           "organiser_overview", "target_sentence", "targets_chart", "TABLE", "ADHERENCE",
           "OTHERS", "PLANNED"]

_ = np
