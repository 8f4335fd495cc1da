"""Light vector charts for the per-school reports, written directly as SVG.

The school reports are written for every school of a municipality (200 in a
large one), each with four figures, and matplotlib is slow for that many
(``benchmarks/`` measures it). These charts draw the same figures as
:mod:`undervisning_analys.plots` (same colours, labels, ``..`` markers and
95 % intervals) as plain SVG elements, inline in the HTML, so that the
reports stay fast, small, sharp in print and free of external assets. The
municipality report, the notebooks and the results objects' ``.plot()`` use
:mod:`~undervisning_analys.plots` (matplotlib).

Every chart takes the library's tidy tables (already privacy-checked) and
returns an ``<svg>`` string; nothing here computes an estimate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from .. import schema
from .._format import Z_95, number
from ..plots import EXPECTED, MUNICIPALITY, OTHERS, SCHOOL, SUPPRESSED_TEXT

FONT = ('font-family="Source Sans 3, Segoe UI, Helvetica Neue, Arial, Liberation Sans, '
        'DejaVu Sans, sans-serif"')
GRID = "#e6e6e6"
AXIS = "#555555"
TYPE_COLOURS = [SCHOOL, "#6fa8dc", EXPECTED]


def _f(x: float) -> str:
    return f"{x:.1f}"


def sv_tick(x: float, decimals: int) -> str:
    """A tick label with decimal comma and a real minus sign."""
    return number(0.0 if abs(x) < 1e-12 else float(x), decimals)


def nice_ticks(lo: float, hi: float, n: int = 5) -> tuple[list[float], int]:
    """Round tick values covering [lo, hi] (about ``n``) and the decimals they need."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks: list[float] = []
    v = start
    while len(ticks) < 20:
        ticks.append(round(v, 10))
        if v >= hi - 1e-9:
            break
        v += step
    return ticks, _decimals(step, mag)


def _decimals(step: float, mag: float) -> int:
    """Decimals needed to write every multiple of ``step`` exactly (0.25 -> 2)."""
    for d in range(7):
        if abs(round(step, d) - step) < 1e-9 * max(1.0, mag):
            return d
    return 6


class Svg:
    """An SVG document built from a few primitives (coordinates in px)."""

    def __init__(self, width: float, height: float, title: str = "") -> None:
        self.w, self.h = width, height
        self.parts: list[str] = []
        self.title = title

    def add(self, s: str) -> None:
        self.parts.append(s)

    def line(self, pts: Sequence[tuple[float, float]], stroke: str, width: float = 1.5,
             dash: str | None = None, opacity: float = 1.0) -> None:
        if len(pts) < 2:
            return
        d = " ".join(f"{_f(x)},{_f(y)}" for x, y in pts)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        extra += f' stroke-opacity="{opacity}"' if opacity < 1 else ""
        self.add(f'<polyline points="{d}" fill="none" stroke="{stroke}" '
                 f'stroke-width="{width}"{extra}/>')

    def seg(self, x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1.0,
            dash: str | None = None) -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" '
                 f'stroke="{stroke}" stroke-width="{width}"{extra}/>')

    def polygon(self, pts: Sequence[tuple[float, float]], fill: str, opacity: float) -> None:
        if len(pts) < 3:
            return
        d = " ".join(f"{_f(x)},{_f(y)}" for x, y in pts)
        self.add(f'<polygon points="{d}" fill="{fill}" fill-opacity="{opacity}" stroke="none"/>')

    def circle(self, x: float, y: float, r: float, fill: str, stroke: str | None = None) -> None:
        st = f' stroke="{stroke}" stroke-width="1"' if stroke else ""
        self.add(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{r}" fill="{fill}"{st}/>')

    def square(self, x: float, y: float, r: float, fill: str) -> None:
        self.add(f'<rect x="{_f(x - r)}" y="{_f(y - r)}" width="{2 * r}" height="{2 * r}" '
                 f'fill="{fill}"/>')

    def rect(self, x: float, y: float, w: float, h: float, fill: str,
             stroke: str | None = None) -> None:
        st = f' stroke="{stroke}" stroke-width="0.8"' if stroke else ""
        self.add(f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(max(w, 0))}" '
                 f'height="{_f(max(h, 0))}" fill="{fill}"{st}/>')

    def text(self, x: float, y: float, s: str, size: float = 11, anchor: str = "middle",
             fill: str = "#1d1d1f", weight: str = "normal", rotate: float | None = None,
             baseline: str = "auto") -> None:
        tr = f' transform="rotate({rotate} {_f(x)} {_f(y)})"' if rotate else ""
        bl = f' dominant-baseline="{baseline}"' if baseline != "auto" else ""
        wt = f' font-weight="{weight}"' if weight != "normal" else ""
        self.add(f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size}" text-anchor="{anchor}" '
                 f'fill="{fill}"{wt}{bl}{tr}>{escape(s)}</text>')

    def render(self) -> str:
        title = f"<title>{escape(self.title)}</title>" if self.title else ""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(self.w)} '
                f'{_f(self.h)}" width="100%" role="img" {FONT}>{title}'
                + "".join(self.parts) + "</svg>")


class Panel:
    """One set of axes inside an :class:`Svg`: data → pixel scales, grid, ticks, title."""

    def __init__(self, svg: Svg, x: float, y: float, w: float, h: float,
                 xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
        self.svg, self.x, self.y, self.w, self.h = svg, x, y, w, h
        self.xlim, self.ylim = xlim, ylim

    def sx(self, v: float) -> float:
        a, b = self.xlim
        return self.x + (v - a) / (b - a) * self.w

    def sy(self, v: float) -> float:
        a, b = self.ylim
        return self.y + self.h - (v - a) / (b - a) * self.h

    def frame(self, xticks: Sequence[tuple[float, str]], yticks: Sequence[float],
              ydec: int, title: str = "", xrot: float = 0, ylabel: str = "",
              xlabel: str = "", ygrid: bool = True, xgrid: bool = True) -> None:
        s = self.svg
        for v in yticks:
            yy = self.sy(v)
            if ygrid:
                s.seg(self.x, yy, self.x + self.w, yy, GRID, 0.8)
            s.seg(self.x - 3, yy, self.x, yy, AXIS, 0.8)
            s.text(self.x - 5, yy + 3.5, sv_tick(v, ydec), 10, "end", AXIS)
        for v, lab in xticks:
            xx = self.sx(v)
            if xgrid:
                s.seg(xx, self.y, xx, self.y + self.h, GRID, 0.8)
            s.seg(xx, self.y + self.h, xx, self.y + self.h + 3, AXIS, 0.8)
            if xrot:
                s.text(xx + 3, self.y + self.h + 10, lab, 10, "end", AXIS, rotate=-xrot)
            else:
                s.text(xx, self.y + self.h + 14, lab, 10, "middle", AXIS)
        s.seg(self.x, self.y, self.x, self.y + self.h, AXIS, 0.9)
        s.seg(self.x, self.y + self.h, self.x + self.w, self.y + self.h, AXIS, 0.9)
        if title:
            s.text(self.x + self.w / 2, self.y - 8, title, 11.5, "middle", weight="600")
        if ylabel:
            s.text(self.x - 38, self.y + self.h / 2, ylabel, 10.5, "middle", AXIS, rotate=-90)
        if xlabel:
            s.text(self.x + self.w / 2, self.y + self.h + 32, xlabel, 10.5, "middle", AXIS)

    def mark(self, xs: Iterable[float], text: str = SUPPRESSED_TEXT, top: bool = False) -> None:
        """Write a marker (``..``, ``~100``) at the bottom (or top) of the panel at each x."""
        y = self.y + 12 if top else self.y + self.h - 6
        for v in xs:
            self.svg.text(self.sx(v), y, text, 14 if text == SUPPRESSED_TEXT else 9.5,
                          "middle", AXIS, weight="700")

    def band(self, xs: Iterable[float], lo: Iterable[float], hi: Iterable[float], colour: str,
             opacity: float) -> None:
        """A filled band, split where values are missing."""
        run: list[tuple[float, float, float]] = []
        for x, a, b in [*zip(xs, lo, hi), (np.nan, np.nan, np.nan)]:
            if np.isfinite(x) and np.isfinite(a) and np.isfinite(b):
                run.append((x, a, b))
                continue
            if len(run) >= 2:
                pts = [(self.sx(x0), self.sy(b0)) for x0, _, b0 in run]
                pts += [(self.sx(x0), self.sy(a0)) for x0, a0, _ in reversed(run)]
                self.svg.polygon(pts, colour, opacity)
            run = []

    def path(self, xs: Iterable[float], ys: Iterable[float], colour: str, width: float = 1.6,
             dash: str | None = None) -> None:
        """A line through the points, split where values are missing."""
        run: list[tuple[float, float]] = []
        for x, y in [*zip(xs, ys), (np.nan, np.nan)]:
            if np.isfinite(x) and np.isfinite(y):
                run.append((self.sx(x), self.sy(y)))
                continue
            self.svg.line(run, colour, width, dash)
            run = []


def _legend(svg: Svg, x: float, y: float, items: Sequence[tuple[str, str, str]]) -> None:
    """Legend entries (kind, colour, label) from (x, y) downwards."""
    for k, (kind, colour, label) in enumerate(items):
        yy = y + 14 * k
        if kind == "band":
            svg.rect(x, yy - 5, 18, 9, colour)
            svg.add(svg.parts.pop().replace("/>", ' fill-opacity="0.25"/>'))
            svg.seg(x, yy, x + 18, yy, colour, 1.4, "4 3")
        elif kind == "dash":
            svg.seg(x, yy, x + 18, yy, colour, 1.4, "4 3")
        elif kind == "dot":
            svg.seg(x, yy, x + 18, yy, colour, 1.2, "1.5 2.5")
        elif kind == "square":
            svg.seg(x, yy, x + 18, yy, colour, 1.4, "4 3")
            svg.square(x + 9, yy, 2.6, colour)
        elif kind == "bar":
            svg.rect(x, yy - 5, 12, 10, colour)
        else:
            svg.seg(x, yy, x + 18, yy, colour, 1.4)
            svg.circle(x + 9, yy, 3, colour)
        svg.text(x + 24, yy + 3.5, label, 10, "start")


def _limits(values: Sequence[float], pad: float = 0.06) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not len(v):
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0) * 0.1
    return lo - pad * span, hi + pad * span


def _suppressed(d: pd.DataFrame) -> np.ndarray:
    if "suppressed" in d.columns:
        return d["suppressed"].fillna(False).astype(bool).to_numpy()
    if "status" in d.columns:
        return (d["status"].astype(str) == "suppressed").to_numpy()
    return np.zeros(len(d), dtype=bool)


#: A table as a DataFrame or as its rows (dicts, as ``ReportContext.records`` gives them).
Rows: TypeAlias = "pd.DataFrame | Sequence[Mapping[str, Any]]"


def _flag(rec: Mapping[str, Any]) -> bool:
    """Whether a row is suppressed, as :func:`_suppressed` reads a table."""
    if "suppressed" in rec:
        v = rec["suppressed"]
        return False if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) \
            else bool(v)
    if "status" in rec:
        return str(rec["status"]) == "suppressed"
    return False


def _records(d: Rows) -> list[dict[str, Any]]:
    """The rows of a (small) table as dicts, with a ``suppressed`` flag as
    :func:`_suppressed` reads it (rows given as dicts are copied, not changed)."""
    if not isinstance(d, pd.DataFrame):
        return [{**r, "_suppressed": _flag(r)} for r in d]
    cols = [str(c) for c in d.columns]
    recs = [dict(zip(cols, v, strict=True))
            for v in zip(*(d[c].to_numpy() for c in d.columns), strict=True)]
    flags = _suppressed(d)
    for r, f in zip(recs, flags):
        r["_suppressed"] = bool(f)
    return recs


def _fl(v: Any) -> float:
    """A value as a float (NaN when missing)."""
    if v is None or v is pd.NA:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


# --------------------------------------------------------------------------
# Teaching quality per dimension
# --------------------------------------------------------------------------
def quality_panels(tq: Rows, school_id: str, dimensions: Mapping[str, str],
                   municipality_unit: str | None = None, title: str = "") -> str:
    """Small multiples: the school's index per term (points, 95 % intervals) beside the
    municipality's (dashed line with band), one panel per dimension, shared y axis."""
    dims = list(dimensions)
    ncol = 2 if len(dims) > 1 else 1
    nrow = math.ceil(len(dims) / ncol)
    pw, ph, left, gapx, top, gapy, bottom = 300.0, 150.0, 52.0, 40.0, 48.0, 74.0, 52.0
    svg = Svg(left + ncol * pw + (ncol - 1) * gapx + 12, top + nrow * ph + (nrow - 1) * gapy
              + bottom, title or "Undervisningskvalitet per termin och dimension")
    # plain rows, not DataFrame filters: a few dozen rows per report, 200 reports a run
    wanted = set(dims)
    sch: list[dict[str, Any]] = []
    mun: list[dict[str, Any]] = []
    for rec in _records(tq):
        if rec["dimension"] not in wanted:
            continue
        if rec["level"] == "school" and str(rec["unit"]) == school_id:
            sch.append(rec)
        elif rec["level"] == "municipality" and (municipality_unit is None
                                                 or str(rec["unit"]) == municipality_unit):
            mun.append(rec)
    terms = sorted({x["term"] for x in sch} | {x["term"] for x in mun}, key=schema.term_index)
    if not terms:
        return ""
    xs_of = {t: schema.term_index(t) for t in terms}
    xlim = (xs_of[terms[0]] - 0.3, xs_of[terms[-1]] + 0.3)
    ylo, yhi = _limits([_fl(x["conf_low"]) for x in sch] + [_fl(x["conf_high"]) for x in sch]
                       + [_fl(x["conf_low"]) for x in mun] + [_fl(x["conf_high"]) for x in mun])
    yticks, ydec = nice_ticks(ylo, yhi, 5)
    ylim = (min(ylo, yticks[0]), max(yhi, yticks[-1]))
    for k, dim in enumerate(dims):
        r, c = divmod(k, ncol)
        p = Panel(svg, left + c * (pw + gapx), top + r * (ph + gapy), pw, ph, xlim, ylim)
        p.frame([(xs_of[t], t) for t in terms], yticks, ydec, title=dimensions[dim], xrot=45,
                ylabel="Index" if c == 0 else "")
        m = sorted((x for x in mun if x["dimension"] == dim), key=lambda x: xs_of[x["term"]])
        mx = [float(xs_of[x["term"]]) for x in m]
        p.band(mx, [_fl(x["conf_low"]) for x in m], [_fl(x["conf_high"]) for x in m],
               MUNICIPALITY, 0.18)
        p.path(mx, [_fl(x["estimate"]) for x in m], MUNICIPALITY, 1.5, "5 3")
        rows = sorted((x for x in sch if x["dimension"] == dim), key=lambda x: xs_of[x["term"]])
        hidden = [x["_suppressed"] or not math.isfinite(_fl(x["estimate"])) for x in rows]
        shown = [x for x, h in zip(rows, hidden) if not h]
        p.path([float(xs_of[x["term"]]) for x in shown], [_fl(x["estimate"]) for x in shown],
               SCHOOL, 1.3)
        for x in shown:
            xx = p.sx(xs_of[x["term"]])
            lo, hi = _fl(x["conf_low"]), _fl(x["conf_high"])
            if math.isfinite(lo) and math.isfinite(hi):
                svg.seg(xx, p.sy(lo), xx, p.sy(hi), SCHOOL, 1.2)
                svg.seg(xx - 3, p.sy(lo), xx + 3, p.sy(lo), SCHOOL, 1.2)
                svg.seg(xx - 3, p.sy(hi), xx + 3, p.sy(hi), SCHOOL, 1.2)
            svg.circle(xx, p.sy(_fl(x["estimate"])), 3.2, SCHOOL)
        p.mark([float(xs_of[x["term"]]) for x, h in zip(rows, hidden) if h])
    _legend(svg, left, 12, [("circle", SCHOOL, "Skolan (95 % konfidensintervall)")])
    _legend(svg, left + 250, 12, [("band", MUNICIPALITY, "Kommunen (95 % konfidensintervall)")])
    return svg.render()


# --------------------------------------------------------------------------
# Results observed and expected
# --------------------------------------------------------------------------
SHORT_MEASURES = {"merit_17": "Meritvärde (17 ämnen)", "merit_16": "Meritvärde (16 ämnen)",
                  "pass_all_subjects_pct": "Godkänt i alla ämnen (%)",
                  "eligible_vocational_pct": "Behöriga till yrkesprogram (%)"}


def short_measure(measure: str) -> str:
    """A short Swedish label of a measure for figure titles."""
    if measure in SHORT_MEASURES:
        return SHORT_MEASURES[measure]
    label = schema.measure_label(measure)
    return label.replace("Nationella prov ", "NP ").replace("genomsnittlig provbetygspoäng",
                                                             "provbetygspoäng")


def results_panels(adj_by_measure: Mapping[str, Rows], school_id: str,
                   municipality: Mapping[str, Rows] | None = None) -> str:
    """Per measure: the school's result per school year (line with points), the result
    expected from background (dashed, with the band outside which the difference's 95 %
    interval excludes zero) and the municipality (dotted). ``..``: fewer than 10 pupils."""
    measures = list(adj_by_measure)
    if not measures:
        return ""
    ncol = 2 if len(measures) > 1 else 1
    nrow = math.ceil(len(measures) / ncol)
    pw, ph, left, gapx, top, gapy, bottom = 300.0, 150.0, 52.0, 40.0, 62.0, 62.0, 30.0
    if ncol == 1:  # one measure (an F–6 school): as wide as two panels, so that the
        pw = 2 * pw + gapx  # figure is not scaled up and the legend fits
    svg = Svg(left + ncol * pw + (ncol - 1) * gapx + 12, top + nrow * ph + (nrow - 1) * gapy
              + bottom, "Resultat och förväntade resultat per läsår")
    for k, m in enumerate(measures):
        # plain rows, not DataFrame filters (a few per school and measure)
        adj = adj_by_measure[m]
        mm = municipality.get(m) if municipality else None
        mrows: list[Mapping[str, Any]] = (
            [] if mm is None else mm.to_dict("records") if isinstance(mm, pd.DataFrame)
            else list(mm))
        d = [r for r in _records(adj) if str(r["school_id"]) == school_id]
        years = sorted({str(r["school_year"]) for r in d}
                       | {str(r["school_year"]) for r in mrows})
        pos = {y: i for i, y in enumerate(years)}
        d.sort(key=lambda r: pos[str(r["school_year"])])
        status = np.array([str(r["status"]) if "status" in r else "" for r in d], dtype=object)
        observed = np.array([_fl(r["observed"]) for r in d], dtype=float)
        exp = np.array([_fl(r["expected"]) for r in d], dtype=float)
        res = np.array([_fl(r["residual"]) for r in d], dtype=float)
        ok = ~np.isnan(observed) & ~np.array([r["_suppressed"] for r in d], dtype=bool)
        lo_b = exp - (np.array([_fl(r["conf_high"]) for r in d], dtype=float) - res)
        hi_b = exp + (res - np.array([_fl(r["conf_low"]) for r in d], dtype=float))
        pct = m.endswith("_pct")
        if pct:
            lo_b, hi_b = np.clip(lo_b, 0, 100), np.clip(hi_b, 0, 100)
        vals = list(observed) + list(exp) + list(lo_b[ok]) + list(hi_b[ok])
        if mm is not None:
            vals += [_fl(r["value"]) for r in mrows]
        approx = ~ok & (status == "approx_100")
        if pct and approx.any():
            vals.append(100.0)
        ylo, yhi = _limits(vals)
        if pct:
            ylo, yhi = max(ylo, 0.0), min(yhi, 100.0)
        yticks, ydec = nice_ticks(ylo, yhi, 5)
        yticks = [t for t in yticks if ylo - 1e-9 <= t <= yhi + 1e-9] or yticks
        r, c = divmod(k, ncol)
        p = Panel(svg, left + c * (pw + gapx), top + r * (ph + gapy), pw, ph,
                  (-0.5, len(years) - 0.5), (ylo, yhi))
        p.frame([(pos[y], y) for y in years], yticks, ydec, title=short_measure(m))
        xs = np.array([pos[str(r["school_year"])] for r in d], dtype=float)
        p.band(np.where(ok, xs, np.nan), lo_b, hi_b, EXPECTED, 0.15)
        if mm is not None and len(mm):
            q = sorted(mrows, key=lambda r: pos[str(r["school_year"])])
            p.path(np.array([pos[str(r["school_year"])] for r in q], dtype=float),
                   np.array([_fl(r["value"]) for r in q], dtype=float), MUNICIPALITY, 1.2,
                   "1.5 2.5")
        p.path(xs, exp, EXPECTED, 1.4, "5 3")
        for x, e in zip(xs, exp):
            if np.isfinite(e):
                svg.square(p.sx(x), p.sy(e), 2.6, EXPECTED)
        obs = np.where(ok, observed, np.nan)
        p.path(xs, obs, SCHOOL, 1.7)
        for x, o in zip(xs, obs):
            if np.isfinite(o):
                svg.circle(p.sx(x), p.sy(o), 3.2, SCHOOL)
        p.mark(xs[approx], "~100", top=True)
        p.mark(xs[~ok & ~approx])
    _legend(svg, left, 12, [("circle", SCHOOL, "Skolans resultat"),
                            ("dot", MUNICIPALITY, "Kommunen")])
    _legend(svg, left + 250, 12, [("square", EXPECTED, "Förväntat utifrån elevsammansättning"),
                                  ("band", EXPECTED, "Inom bandet: skillnaden kan vara slump")])
    return svg.render()


# --------------------------------------------------------------------------
# Coverage and the two progressions
# --------------------------------------------------------------------------
def coverage_bars(cov: Rows, school_id: str) -> str:
    """Observed lessons per term, stacked by type of visit."""
    rows = (cov[cov["school_id"].astype(str) == school_id].to_dict("records")
            if isinstance(cov, pd.DataFrame)
            else [r for r in cov if str(r["school_id"]) == school_id])
    columns = list(cov.columns) if isinstance(cov, pd.DataFrame) else (
        list(rows[0]) if rows else [])
    types = [t for t in schema.OBSERVATION_TYPES if f"n_{t}" in columns]
    terms = sorted({r["term"] for r in rows}, key=schema.term_index)
    if not terms:
        return ""
    g = {r["term"]: r for r in rows}
    totals = [float(sum(g[t][f"n_{ty}"] for ty in types)) for t in terms]
    yticks, ydec = nice_ticks(0.0, max(totals + [1.0]), 5)
    svg = Svg(690, 250, "Observerade lektioner per termin och typ av besök")
    p = Panel(svg, 52, 34, 470, 160, (-0.6, len(terms) - 0.4), (0.0, yticks[-1]))
    p.frame([(i, t) for i, t in enumerate(terms)], yticks, ydec, xrot=45,
            ylabel="Lektioner", xgrid=False)
    bw = 0.68 * p.w / len(terms)
    for i, t in enumerate(terms):
        base = 0.0
        for ty, colour in zip(types, TYPE_COLOURS):
            v = float(g[t][f"n_{ty}"])
            if v > 0:
                svg.rect(p.sx(i) - bw / 2, p.sy(base + v), bw, p.sy(base) - p.sy(base + v),
                         colour)
            base += v
    _legend(svg, 540, 80, [("bar", c, schema.LABELS_SV[t].capitalize())
                           for t, c in zip(types, TYPE_COLOURS)])
    svg.text(p.x + p.w / 2, 18, "Observerade lektioner per termin och typ", 11.5,
             weight="600")
    return svg.render()


@dataclass(frozen=True)
class Points:
    """The schools of a scatter of two changes (see :func:`progressions`), read once."""

    school_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    x_se: np.ndarray | None


def points(changes: pd.DataFrame, *, x: str = "quality_change_per_year",
           y: str = "results_change_per_year",
           x_se: str = "quality_change_per_year_se") -> Points:
    """The schools with both changes, not suppressed: what every school's scatter draws
    (read once, then drawn for each school's report)."""
    d = changes[changes[x].notna() & changes[y].notna()]
    if "suppressed" in d.columns:
        d = d[~d["suppressed"].fillna(False).astype(bool)]
    return Points(d["school_id"].astype(str).to_numpy(dtype=object), d[x].to_numpy(float),
                  d[y].to_numpy(float), d[x_se].to_numpy(float) if x_se in d.columns else None)


def progressions(changes: pd.DataFrame | Points, school_id: str | None, *,
                 x: str = "quality_change_per_year", y: str = "results_change_per_year",
                 x_se: str = "quality_change_per_year_se", xlabel: str = "",
                 ylabel: str = "") -> str:
    """Every school's change in teaching quality against its change in results (per
    school year); this school highlighted with its 95 % interval, the others grey.
    ``changes``: a table with columns ``school_id``, ``x``, ``y`` and ``x_se``, or its
    :func:`points`."""
    pts = changes if isinstance(changes, Points) else points(changes, x=x, y=y, x_se=x_se)
    if not len(pts.school_id):
        return ""
    mine = pts.school_id == str(school_id)
    me_x = pts.x[mine]
    half = Z_95 * pts.x_se[mine] if pts.x_se is not None else np.zeros(len(me_x))
    xv = list(pts.x) + [0.0] + list(me_x - half) + list(me_x + half)
    xlo, xhi = _limits(xv)
    ylo, yhi = _limits(list(pts.y) + [0.0])
    xt, xdec = nice_ticks(xlo, xhi, 6)
    yt, ydec = nice_ticks(ylo, yhi, 5)
    xlim = (min(xlo, xt[0]), max(xhi, xt[-1]))
    ylim = (min(ylo, yt[0]), max(yhi, yt[-1]))
    svg = Svg(640, 330, "Förändring i undervisningskvalitet mot förändring i resultat")
    p = Panel(svg, 64, 40, 540, 230, xlim, ylim)
    p.frame([(v, sv_tick(v, xdec)) for v in xt], yt, ydec,
            xlabel=xlabel or "Förändring i undervisningskvalitet (indexpoäng per läsår)",
            ylabel="")
    svg.text(18, p.y + p.h / 2, ylabel or "Förändring i resultat per läsår", 10.5, "middle",
             AXIS, rotate=-90)
    svg.seg(p.sx(0), p.y, p.sx(0), p.y + p.h, "#888888", 0.9)
    svg.seg(p.x, p.sy(0), p.x + p.w, p.sy(0), "#888888", 0.9)
    for xo, yo in zip(pts.x[~mine].tolist(), pts.y[~mine].tolist()):
        svg.circle(p.sx(xo), p.sy(yo), 3.6, OTHERS if school_id is not None else SCHOOL)
    for xm, ym, h in zip(me_x.tolist(), pts.y[mine].tolist(), half):
        cx, cy = p.sx(xm), p.sy(ym)
        if np.isfinite(h) and h > 0:
            lo, hi = p.sx(xm - h), p.sx(xm + h)
            svg.seg(lo, cy, hi, cy, SCHOOL, 1.5)
            svg.seg(lo, cy - 4, lo, cy + 4, SCHOOL, 1.5)
            svg.seg(hi, cy - 4, hi, cy + 4, SCHOOL, 1.5)
        svg.circle(cx, cy, 5.5, SCHOOL, stroke="#ffffff")
    if school_id is not None:
        _legend(svg, p.x + 6, 14, [("circle", SCHOOL, "Skolan (95 % konfidensintervall)")])
        _legend(svg, p.x + 250, 14, [("circle", OTHERS, "Kommunens övriga skolor")])
    return svg.render()


__all__ = ["quality_panels", "results_panels", "coverage_bars", "progressions", "points",
           "Points", "Rows", "nice_ticks",
           "short_measure", "Svg", "Panel"]
