"""Figures with Swedish labels, drawn from the library's tidy outputs.

Every function takes the DataFrame a results object's ``.tidy()`` returns (or
a slice of it) and draws on ``ax`` (a new figure when ``ax`` is None); it
returns the axes. Nothing here computes an estimate: the numbers come from
``measure`` and ``models``, and values below the privacy floors arrive
already suppressed (NaN with ``suppressed``/``status``) and are drawn as
``..`` at their place on the axis, never as a point.

The reports embed figures with :func:`to_data_uri` (an SVG as a ``data:``
URI, so a report is one self-contained file) and close them at once.

Colours: the school in dark blue, the municipality in grey, the expected
(background-adjusted) result in orange; intervals are 95 % confidence
intervals throughout.
"""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import schema
from ._format import Z_95, swedish_key
from ._format import number as sv_number

SCHOOL = "#1f4e79"
MUNICIPALITY = "#7f7f7f"
EXPECTED = "#d9730d"
OTHERS = "#b8c4d0"
AREA_COLOURS = ["#1f4e79", "#d9730d", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41",
                "#5c6bc0"]
SUPPRESSED_TEXT = ".."
CI_TEXT = "95 % konfidensintervall"

STYLE: dict[str, Any] = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6, "axes.axisbelow": True, "svg.fonttype": "none",
    "svg.hashsalt": "undervisning_analys", "axes.formatter.use_locale": False,
}
"""rcParams the figures are drawn with (applied locally, never globally)."""


def _rc() -> Any:
    """:data:`STYLE` for ``matplotlib.rc_context`` (typed loosely: its keys are checked
    by matplotlib at run time)."""
    return STYLE


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """``rc_context(STYLE)`` that keeps what pyplot set up inside it.

    ``rc_context`` restores every rcParam on exit, ``interactive`` included. When
    the package's first figure imports pyplot inside the context, Jupyter's inline
    backend switches interactive mode on there, and a plain ``rc_context`` would
    switch it off again on exit: no later figure would be shown, the user's own
    included. The interactive state reached inside the context is kept.
    """
    import matplotlib

    state = matplotlib.is_interactive()
    try:
        with matplotlib.rc_context(_rc()):
            try:
                yield
            finally:
                state = matplotlib.is_interactive()
    finally:
        matplotlib.interactive(state)


def _styled(func: Any) -> Any:
    """Draw inside ``rc_context(STYLE)`` so a user's own settings are left alone."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _style():
            return func(*args, **kwargs)

    return wrapper


def new_figure(figsize: tuple[float, float], detached: bool = False) -> Any:
    """A new figure: through pyplot (shown in notebooks) or ``detached`` from pyplot.

    Reports use detached figures (``matplotlib.figure.Figure``), which need
    no backend, are never registered with pyplot and cannot leak.
    """
    if detached:
        from matplotlib.figure import Figure

        return Figure(figsize=figsize)
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize)


def new_axes(figsize: tuple[float, float], detached: bool = False, nrows: int = 1,
             ncols: int = 1, **kwargs: Any) -> Any:
    """A new figure's axes (one, or an array for a grid), created inside :data:`STYLE`.

    Creating the axes inside the style matters: tick labels take their size
    when the axes are made.
    """
    with _style():
        fig = new_figure(figsize, detached)
        return fig.subplots(nrows, ncols, **kwargs)


def finish(fig_or_ax: Any) -> Any:
    """Tight layout inside :data:`STYLE` (for one-off figures; reports' repeated
    figures use :func:`fixed_margins`)."""
    fig = _figure_of(fig_or_ax)
    with _style():
        fig.tight_layout()
    return fig


def fixed_margins(fig: Any, *, left: float = 0.65, right: float = 0.15, bottom: float = 0.7,
                  top: float = 0.35, hgap: float = 0.95, wgap: float = 0.3) -> Any:
    """Margins and gaps in inches (fast, predictable; no tight-layout pass).

    Reports lay out every figure with fixed margins so that a figure is drawn
    once when it is saved; ``tight_layout`` and ``bbox_inches="tight"`` would
    each draw it again.
    """
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h,
                        hspace=None, wspace=None)
    gs = fig.axes[0].get_subplotspec().get_gridspec() if fig.axes else None
    if gs is not None:
        nrow, ncol = gs.get_geometry()
        ax_h = (h - top - bottom - hgap * (nrow - 1)) / nrow
        ax_w = (w - left - right - wgap * (ncol - 1)) / ncol
        fig.subplots_adjust(hspace=hgap / max(ax_h, 0.1), wspace=wgap / max(ax_w, 0.1))
    return fig


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    return new_axes(figsize)


def _sv_formatter(decimals: int) -> Any:
    """Tick labels with a decimal comma: at least ``decimals`` decimals, more when a tick
    needs them (2,25 is not shown as 2,2)."""
    from matplotlib.ticker import FuncFormatter

    def label(v: float, _pos: Any) -> str:
        d = decimals
        while d < 4 and abs(round(v, d) - v) > 1e-9 * max(1.0, abs(v)):
            d += 1
        return sv_number(v, d)

    return FuncFormatter(label)


def _term_axis(ax: Any, terms: Sequence[str]) -> None:
    terms = sorted(set(terms), key=schema.term_index)
    ax.set_xticks([schema.term_index(t) for t in terms])
    ax.set_xticklabels(terms, rotation=45, ha="right")
    if terms:
        lo, hi = schema.term_index(terms[0]), schema.term_index(terms[-1])
        ax.set_xlim(lo - 0.3, hi + 0.3)


def _year_axis(ax: Any, years: Sequence[str]) -> dict[str, int]:
    years = sorted(set(years))
    pos = {y: i for i, y in enumerate(years)}
    ax.set_xticks(range(len(years)))
    ax.set_xticklabels(years, rotation=0 if len(years) <= 6 else 45)
    ax.set_xlim(-0.5, len(years) - 0.5)
    return pos


def _mark_suppressed(ax: Any, xs: Sequence[float], text: str = SUPPRESSED_TEXT) -> None:
    """Write '..' (or ``text``) at the bottom of the axes above every x without a value."""
    import matplotlib.transforms as mtransforms

    trans = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    for x in xs:
        ax.text(x, 0.04, text, transform=trans, ha="center", va="bottom",
                fontsize=10 if text == SUPPRESSED_TEXT else 7, color="#555555",
                fontweight="bold")


def _is_suppressed(df: pd.DataFrame) -> pd.Series:
    if "suppressed" in df.columns:
        return df["suppressed"].fillna(False).astype(bool)
    if "status" in df.columns:
        return df["status"].astype(str).eq("suppressed")
    return pd.Series(False, index=df.index)


# --------------------------------------------------------------------------
# Teaching quality
# --------------------------------------------------------------------------
@_styled
def quality_over_time(tq: pd.DataFrame, school_id: str | None = None, *,
                      dimension: str = "overall", reference: bool = True,
                      title: str | None = None, ax: Any = None) -> Any:
    """A school's teaching-quality index per term with intervals, beside the municipality.

    Parameters
    ----------
    tq : ``teaching_quality(...).tidy()`` (rows of several levels and dimensions).
    school_id : the school; None draws only the municipality.
    dimension : dimension id or ``"overall"``.
    reference : draw the municipality's index (line and band) behind the school.
    """
    ax = _axes(ax, (6.5, 3.0))
    d = tq[tq["dimension"] == dimension]
    terms: list[str] = []
    if reference:
        m = d[d["level"] == "municipality"].copy()
        if len(m):
            m["x"] = m["term"].map(schema.term_index)
            m = m.sort_values("x")
            ax.fill_between(m["x"], m["conf_low"], m["conf_high"], color=MUNICIPALITY,
                            alpha=0.18, lw=0)
            ax.plot(m["x"], m["estimate"], color=MUNICIPALITY, lw=1.5, ls="--",
                    label="Kommunen")
            terms += list(m["term"])
    if school_id is not None:
        s = d[(d["level"] == "school") & (d["unit"] == school_id)].copy()
        s["x"] = s["term"].map(schema.term_index)
        s = s.sort_values("x")
        sup = _is_suppressed(s) | s["estimate"].isna()
        shown = s[~sup]
        if len(shown):
            err = np.vstack([shown["estimate"] - shown["conf_low"],
                             shown["conf_high"] - shown["estimate"]])
            ax.errorbar(shown["x"], shown["estimate"], yerr=np.nan_to_num(err), fmt="o-",
                        color=SCHOOL, capsize=3, ms=4, lw=1.2, label="Skolan (95 % KI)")
        _mark_suppressed(ax, s.loc[sup, "x"])
        terms += list(s["term"])
    _term_axis(ax, terms)
    ax.yaxis.set_major_formatter(_sv_formatter(1))
    ax.set_ylabel("Index")
    ax.set_title(title or "Undervisningskvalitet per termin")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", frameon=False)
    return ax


@_styled
def quality_panels(tq: pd.DataFrame, school_id: str | None,
                   dimensions: Mapping[str, str], detached: bool = False) -> Any:
    """Small multiples: one :func:`quality_over_time` per dimension, shared y axis.

    Returns the figure (``detached``: not registered with pyplot).
    """
    n = len(dimensions)
    ncol = 2 if n > 1 else 1
    nrow = int(np.ceil(n / ncol))
    axes = new_axes((7.2, 2.5 * nrow + 0.3), detached, nrow, ncol, sharey=True, squeeze=False)
    fig = axes.flat[0].figure
    for ax, (dim, name) in zip(axes.flat, dimensions.items()):
        quality_over_time(tq, school_id, dimension=dim, title=name, ax=ax)
        ax.set_ylabel("Index" if ax in axes[:, 0] else "")
        leg = ax.get_legend()
        if leg is not None and ax is not axes.flat[0]:
            leg.remove()
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fixed_margins(fig, left=0.6, right=0.1, bottom=0.6, top=0.3, hgap=0.95, wgap=0.15)
    return fig


@_styled
def trends(tq: pd.DataFrame, *, level: str = "area", dimension: str = "overall",
           title: str | None = None, ax: Any = None) -> Any:
    """The index per term for every unit of a level (areas, or the municipality) with bands."""
    ax = _axes(ax, (6.5, 3.0))
    d = tq[(tq["dimension"] == dimension) & (tq["level"] == level)].copy()
    d["x"] = d["term"].map(schema.term_index)
    for k, (unit, g) in enumerate(sorted(d.groupby("unit", observed=True),
                                         key=lambda kv: str(kv[0]))):
        g = g.sort_values("x")
        col = AREA_COLOURS[k % len(AREA_COLOURS)] if level != "municipality" else SCHOOL
        ax.fill_between(g["x"], g["conf_low"], g["conf_high"], color=col, alpha=0.12, lw=0)
        ax.plot(g["x"], g["estimate"], "o-", color=col, ms=3, lw=1.2,
                label=str(unit) if level != "municipality" else "Kommunen")
        sup = _is_suppressed(g) | g["estimate"].isna()
        _mark_suppressed(ax, g.loc[sup, "x"])
    _term_axis(ax, list(d["term"]))
    ax.yaxis.set_major_formatter(_sv_formatter(1))
    ax.set_ylabel("Index")
    ax.set_title(title or ("Undervisningskvalitet per skolområde" if level == "area"
                           else "Undervisningskvalitet i kommunen"))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return ax


@_styled
def dimension_trends(tq: pd.DataFrame, dimensions: Mapping[str, str], *,
                     level: str = "municipality", unit: str | None = None,
                     title: str | None = None, ax: Any = None) -> Any:
    """Each dimension's index per term for one unit (default the municipality), with bands.

    ``tq``: the teaching-quality index's ``tidy()`` table; ``dimensions``: id
    -> Swedish name, in the order to draw (the protocol's). Every term the
    data hold is on the axis; suppressed terms are marked ``..``.
    """
    ax = _axes(ax, (6.5, 3.0))
    d = tq[tq["level"] == level]
    if unit is not None:
        d = d[d["unit"].astype(str) == str(unit)]
    d = d.assign(x=d["term"].map(schema.term_index))
    for k, (dim, name) in enumerate(dimensions.items()):
        g = d[d["dimension"] == dim].sort_values("x")
        if not len(g):
            continue
        col = AREA_COLOURS[k % len(AREA_COLOURS)]
        ax.fill_between(g["x"], g["conf_low"], g["conf_high"], color=col, alpha=0.10, lw=0)
        ax.plot(g["x"], g["estimate"], "o-", color=col, ms=3, lw=1.2, label=name)
    if not len(d):
        return empty_note(ax, "Inget att visa: inget index per dimension.")
    _term_axis(ax, list(d["term"]))
    ax.yaxis.set_major_formatter(_sv_formatter(1))
    ax.set_ylabel("Index")
    ax.set_title(title or "Dimensionerna per termin")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7)
    return ax


@_styled
def index_beside_results(index_rows: pd.DataFrame, results: Mapping[str, pd.DataFrame],
                         detached: bool = False) -> Any:
    """The municipality's index per term beside its results per school year.

    ``index_rows``: term, estimate, conf_low, conf_high (the municipality's
    overall index); ``results``: measure -> a table with school_year and
    value (the municipality's published result). One panel each, every panel
    on its own scale and unit; returns the figure.
    """
    n = 1 + len(results)
    ncol = min(n, 2)
    nrow = int(np.ceil(n / ncol))
    axes = new_axes((7.2, 2.7 * nrow + 0.3), detached, nrow, ncol, squeeze=False)
    fig = axes.flat[0].figure
    ax0 = axes.flat[0]
    g = index_rows.assign(x=index_rows["term"].map(schema.term_index)).sort_values("x")
    ax0.fill_between(g["x"], g["conf_low"], g["conf_high"], color=SCHOOL, alpha=0.12, lw=0)
    ax0.plot(g["x"], g["estimate"], "o-", color=SCHOOL, ms=3, lw=1.2)
    _term_axis(ax0, list(g["term"]))
    ax0.yaxis.set_major_formatter(_sv_formatter(1))
    ax0.set_title("Samlat index per termin", fontsize=9)
    for ax, (measure, r) in zip(list(axes.flat)[1:], results.items()):
        years = sorted(set(r["school_year"].astype(str)))
        pos = _year_axis(ax, years)
        rr = r.assign(x=r["school_year"].astype(str).map(pos)).sort_values("x")
        ok = rr[rr["value"].notna()]
        ax.plot(ok["x"], ok["value"], "o-", color=MUNICIPALITY, ms=3, lw=1.2)
        _mark_suppressed(ax, rr.loc[rr["value"].isna(), "x"])
        big = bool(ok["value"].abs().max() > 50) if len(ok) else False
        ax.yaxis.set_major_formatter(_sv_formatter(0 if big else 1))
        ax.tick_params(axis="x", labelrotation=45)
        ax.set_title(_short_measure(measure), fontsize=9)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fixed_margins(fig, left=0.55, right=0.1, bottom=0.65, top=0.3, hgap=0.95, wgap=0.55)
    return fig


@_styled
def caterpillar(rows: pd.DataFrame, names: Mapping[str, str], *,
                reference: float | None = None, title: str | None = None,
                xlabel: str = "Index", order: str = "name", ax: Any = None) -> Any:
    """Schools' estimates with intervals, in alphabetical order or ordered with rank intervals.

    ``rows``: one row per school with ``unit`` (school_id), ``estimate``,
    ``conf_low``, ``conf_high`` and optionally ``suppressed``. Suppressed
    schools are listed at the bottom with ``..``. ``reference`` draws a
    vertical line (the municipality).

    ``order="name"`` (default) lists the schools by name in Swedish order
    (å ä ö after z), top to bottom, so that no order by value is suggested.
    ``order="estimate"`` orders them by the estimate and then needs the
    columns ``rank_low`` and ``rank_high`` (from
    :func:`undervisning_analys.engine.ranks.rank_intervals`): each school's
    label says how far its place could move ("plats 3–11 av 20"), so the
    order is never read as a bare ranking.
    """
    if order not in ("name", "estimate"):
        raise ValueError(f"order must be 'name' or 'estimate', not {order!r}")
    if order == "estimate" and not {"rank_low", "rank_high"} <= set(rows.columns):
        raise ValueError("order='estimate' needs rank_low and rank_high (rank_intervals)")
    n = len(rows)
    ax = _axes(ax, (6.5, 0.9 + 0.24 * max(n, 3)))
    sup = _is_suppressed(rows) | rows["estimate"].isna()
    named = rows.assign(_n=lambda d: d["unit"].map(lambda u: swedish_key(names.get(u, u))))
    # y runs bottom to top: reversed name order puts the first name at the top
    if order == "name":
        shown = named[~sup].sort_values("_n", ascending=False, kind="stable")
    else:
        shown = named[~sup].sort_values("estimate", kind="stable")
    hidden = named[sup].sort_values("_n", ascending=False, kind="stable")
    order_units = list(hidden["unit"]) + list(shown["unit"])
    y = {u: i for i, u in enumerate(order_units)}
    if len(shown):
        err = np.vstack([shown["estimate"] - shown["conf_low"],
                         shown["conf_high"] - shown["estimate"]])
        ax.errorbar(shown["estimate"], [y[u] for u in shown["unit"]], xerr=np.nan_to_num(err),
                    fmt="o", color=SCHOOL, ms=4, capsize=2, lw=1)
    has_ref = reference is not None and bool(np.isfinite(reference))
    if has_ref:
        # named in the axis label, not in a legend box that could cover a school's interval
        ax.axvline(reference, color=MUNICIPALITY, ls="--", lw=1)
    if len(hidden):
        import matplotlib.transforms as mtransforms

        trans = mtransforms.blended_transform_factory(ax.transAxes, ax.transData)
        for u in hidden["unit"]:
            ax.text(0.02, y[u], SUPPRESSED_TEXT + " (för få observationer)", transform=trans,
                    va="center", fontsize=8, color="#555555")
    labels = {u: str(names.get(u, u)) for u in order_units}
    if order == "estimate":
        n_ranked = int((~sup).sum())
        for r in shown.itertuples(index=False):
            lo, hi = r.rank_low, r.rank_high
            if np.isfinite(lo) and np.isfinite(hi):
                place = (f"plats {int(lo)}" if lo == hi else f"plats {int(lo)}–{int(hi)}")
                labels[r.unit] = f"{labels[r.unit]} ({place} av {n_ranked})"
    ax.set_yticks(range(len(order_units)))
    ax.set_yticklabels([labels[u] for u in order_units])
    ax.set_ylim(-0.7, len(order_units) - 0.3)
    ax.xaxis.set_major_formatter(_sv_formatter(1))
    ax.set_xlabel(f"{xlabel} ({CI_TEXT})" + ("; streckad linje: kommunen" if has_ref else ""))
    ax.grid(axis="y", visible=False)
    ax.set_title(title or "Skolorna sida vid sida")
    return ax


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------
@_styled
def results_over_time(adj: pd.DataFrame, school_id: str, *, measure: str | None = None,
                      municipality: pd.DataFrame | None = None, title: str | None = None,
                      ax: Any = None) -> Any:
    """Observed results per school year beside the result expected from background.

    ``adj``: ``adjusted_results(...).tidy()`` (school_id, school_year,
    observed, expected, residual, conf_low, conf_high, status). The expected
    result is drawn with the band the observed result leaves exactly when the
    difference's 95 % interval excludes zero; years below 10 pupils are
    marked ``..`` and results published as ``~100`` are marked so.
    ``municipality`` (optional): school_year, value for the municipality line.
    """
    ax = _axes(ax, (6.5, 3.0))
    d = adj[adj["school_id"] == school_id]
    if measure is not None and "measure" in d.columns:
        d = d[d["measure"] == measure]
    years = sorted(set(d["school_year"]) | (set(municipality["school_year"])
                                            if municipality is not None else set()))
    pos = _year_axis(ax, years)
    d = d.assign(x=d["school_year"].map(pos)).sort_values("x")
    sup = _is_suppressed(d) | d["observed"].isna()
    ok = d[~sup]
    if municipality is not None and len(municipality):
        mm = municipality.assign(x=municipality["school_year"].map(pos)).sort_values("x")
        ax.plot(mm["x"], mm["value"], color=MUNICIPALITY, ls=":", lw=1.2, label="Kommunen")
    if len(ok):
        exp_ok = ok[ok["expected"].notna()]
        if len(exp_ok):
            lo, hi = _expected_band(exp_ok)
            ax.fill_between(exp_ok["x"], lo, hi, color=EXPECTED, alpha=0.15, lw=0)
            ax.plot(exp_ok["x"], exp_ok["expected"], "s--", color=EXPECTED, ms=3, lw=1.2,
                    label="Förväntat utifrån elevsammansättning")
        ax.plot(ok["x"], ok["observed"], "o-", color=SCHOOL, ms=4, lw=1.4, label="Skolans resultat")
    status = d["status"].astype(str) if "status" in d.columns else pd.Series("", index=d.index)
    _mark_suppressed(ax, d.loc[sup & (status == "approx_100"), "x"], "~100")
    _mark_suppressed(ax, d.loc[sup & (status != "approx_100"), "x"],
                     SUPPRESSED_TEXT)
    ax.yaxis.set_major_formatter(_sv_formatter(0 if d["observed"].abs().max() > 50 else 1))
    label = schema.measure_label(measure) if measure else ""
    ax.set_title(title or label)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", frameon=False)
    return ax


@_styled
def _expected_band(d: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The band around ``expected`` that the observed result falls outside exactly when
    the residual's interval excludes zero: ``expected - (conf_high - residual)`` to
    ``expected + (residual - conf_low)`` (falls back to ±1.96 se)."""
    exp = d["expected"].to_numpy(dtype=float)
    if {"conf_low", "conf_high", "residual"} <= set(d.columns):
        res = d["residual"].to_numpy(dtype=float)
        lo = exp - (d["conf_high"].to_numpy(dtype=float) - res)
        hi = exp + (res - d["conf_low"].to_numpy(dtype=float))
        if np.isfinite(lo).all() and np.isfinite(hi).all():
            return lo, hi
    half = Z_95 * d["se"].fillna(0).to_numpy(dtype=float) if "se" in d.columns else 0 * exp
    return exp - half, exp + half


@_styled
def results_panels(adj_by_measure: Mapping[str, pd.DataFrame], school_id: str,
                   municipality: Mapping[str, pd.DataFrame] | None = None,
                   detached: bool = False) -> Any:
    """One :func:`results_over_time` per measure, side by side; returns the figure."""
    n = len(adj_by_measure)
    ncol = 2 if n > 1 else 1
    nrow = int(np.ceil(n / ncol))
    axes = new_axes((7.2, 2.6 * nrow + 0.3), detached, nrow, ncol, squeeze=False)
    fig = axes.flat[0].figure
    for k, (ax, (measure, adj)) in enumerate(zip(axes.flat, adj_by_measure.items())):
        ref = municipality.get(measure) if municipality else None
        results_over_time(adj, school_id, measure=measure, municipality=ref,
                          title=_short_measure(measure), ax=ax)
        leg = ax.get_legend()
        if leg is not None and k > 0:
            leg.remove()
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fixed_margins(fig, left=0.55, right=0.1, bottom=0.35, top=0.3, hgap=0.7, wgap=0.55)
    return fig


def _short_measure(measure: str) -> str:
    short = {"merit_17": "Meritvärde (17 ämnen)", "merit_16": "Meritvärde (16 ämnen)",
             "pass_all_subjects_pct": "Godkänt i alla ämnen (%)",
             "eligible_vocational_pct": "Behöriga till yrkesprogram (%)",
             "grade6_pass_all_subjects_pct": "Godkänt i alla ämnen, åk 6 (%)"}
    return short.get(measure, schema.measure_label(measure))


@_styled
def funnel(rows: pd.DataFrame, names: Mapping[str, str] | None = None, *,
           title: str | None = None, label_outside: bool = True,
           empty_text: str | None = None, ax: Any = None) -> Any:
    """Funnel plot: schools' result minus expected against the number of pupils.

    ``rows``: one row per school with ``n`` (pupils), ``residual`` and ``se``.
    The funnel is ±1.96 and ±3 times ``sigma/sqrt(n)`` where ``sigma`` is the
    median of ``se * sqrt(n)`` (the pupil-level spread the model implies).
    Where most schools have no pupil count (results from Skolverket's API
    publish none), the x axis is the precision ``1/se`` instead and the funnel
    ±1.96 and ±3 standard errors, so the chart is drawn from what there is.
    Schools outside the 95 % funnel are named. Suppressed schools are not drawn.
    With nothing to draw, the chart says so (``empty_text``, or a default that
    names what would fill it) instead of showing empty axes.
    """
    ax = _axes(ax, (6.5, 3.6))
    have = rows["residual"].notna() & ~_is_suppressed(rows)
    d = rows[have & rows["n"].notna()].copy()
    se = pd.to_numeric(rows["se"], errors="coerce") if "se" in rows.columns else None
    by_se = (se is not None and len(d) < max(3, int(have.sum()) / 2)
             and int((have & (se > 0)).sum()) >= 3)
    if by_se and se is not None:
        d = rows[have & (se > 0)].copy()
        d["x"] = 1.0 / d["se"].astype(float)
        sigma = 1.0
    else:
        d["x"] = d["n"].astype(float)
        sigma = (float(np.nanmedian(d["se"].astype(float) * np.sqrt(d["x"]))) if len(d)
                 else np.nan)
    if len(d):
        lo_x = float(d["x"].min()) * 0.8 if by_se else max(5.0, float(d["x"].min()) * 0.8)
        nn = np.linspace(lo_x, float(d["x"].max()) * 1.15, 200)
        bound = (1.0 / nn) if by_se else (sigma / np.sqrt(nn))
        for z, ls, lab in ((Z_95, "--", "95 %"), (3.0, ":", "99,8 %")):
            ax.plot(nn, z * bound, color=MUNICIPALITY, ls=ls, lw=1, label=lab)
            ax.plot(nn, -z * bound, color=MUNICIPALITY, ls=ls, lw=1)
        ax.axhline(0, color="#444444", lw=0.8)
        ax.scatter(d["x"], d["residual"], color=SCHOOL, s=18, zorder=3)
        if label_outside and names is not None:
            limit = (Z_95 / d["x"]) if by_se else (Z_95 * sigma / np.sqrt(d["x"]))
            out = d[d["residual"].abs() > limit]
            for r in out.itertuples(index=False):
                ax.annotate(names.get(r.school_id, r.school_id), (r.x, r.residual),
                            xytext=(4, 2), textcoords="offset points", fontsize=7)
        ax.yaxis.set_major_formatter(_sv_formatter(0 if d["residual"].abs().max() > 10 else 1))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", frameon=False, title="Tratt")
    else:
        empty_note(ax, empty_text or (
            "Inget att visa: ingen skola har både ett resultat och ett förväntat värde med "
            "medelfel. Det förväntade värdet kräver elevsammansättningen (Skolverkets "
            "statistik om elever per skolenhet) för samma läsår som resultaten."))
    ax.set_xlabel("Precision (1 / medelfel); antal elever saknas i underlaget" if by_se
                  else "Antal elever")
    ax.set_ylabel("Resultat minus förväntat")
    ax.set_title(title or "Resultat jämfört med förväntat (trattdiagram)")
    return ax


def empty_note(ax: Any, text: str) -> Any:
    """Write why a chart has nothing to show (and what would fill it) in its empty axes."""
    import textwrap

    ax.text(0.5, 0.5, textwrap.fill(text, 70), transform=ax.transAxes, ha="center",
            va="center", fontsize=8.5, color="#444444")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


# --------------------------------------------------------------------------
# The two progressions
# --------------------------------------------------------------------------
@_styled
def progressions(changes: pd.DataFrame, school_id: str | None = None, *,
                 x: str = "quality_change", y: str = "results_change",
                 x_se: str | None = "quality_change_se", xlabel: str | None = None,
                 ylabel: str | None = None, title: str | None = None, ax: Any = None) -> Any:
    """Every school's change in teaching quality against its change in results.

    ``changes``: one row per school (``LinkResult.school_changes()``). The
    school of the report is highlighted with its interval; the others are
    grey. A scatter of changes, not a causal claim.
    """
    ax = _axes(ax, (5.2, 3.6))
    d = changes[changes[x].notna() & changes[y].notna()]
    if "suppressed" in d.columns:
        d = d[~d["suppressed"].fillna(False).astype(bool)]
    others = d[d["school_id"] != school_id] if school_id is not None else d
    ax.scatter(others[x], others[y], color=OTHERS if school_id else SCHOOL, s=18,
               label="Övriga skolor" if school_id else "Skolor")
    ax.axhline(0, color="#888888", lw=0.8)
    ax.axvline(0, color="#888888", lw=0.8)
    if school_id is not None:
        me = d[d["school_id"] == school_id]
        if len(me):
            xerr = Z_95 * me[x_se].to_numpy() if x_se and x_se in me.columns else None
            ax.errorbar(me[x], me[y], xerr=xerr, fmt="o", color=SCHOOL, ms=7, capsize=3,
                        label="Skolan (95 % KI)", zorder=4)
    ax.set_xlabel(xlabel or "Förändring i undervisningskvalitet (index per år)")
    ax.set_ylabel(ylabel or "Förändring i resultat per år")
    ax.xaxis.set_major_formatter(_sv_formatter(2))
    ax.yaxis.set_major_formatter(_sv_formatter(1))
    ax.set_title(title or "Två utvecklingar: undervisning och resultat")
    ax.legend(loc="best", frameon=False)
    return ax


# --------------------------------------------------------------------------
# Coverage and equity
# --------------------------------------------------------------------------
@_styled
def coverage_bars(cov: pd.DataFrame, school_id: str | None = None, *,
                  title: str | None = None, ax: Any = None) -> Any:
    """Observed lessons per term, stacked by observation type.

    ``cov``: ``coverage(ds)`` (one row per school × term with ``n_<type>``
    columns). With ``school_id`` None, all schools are summed.
    """
    ax = _axes(ax, (6.5, 2.6))
    d = cov if school_id is None else cov[cov["school_id"] == school_id]
    type_cols = [c for c in (f"n_{t}" for t in schema.OBSERVATION_TYPES) if c in d.columns]
    g = d.groupby("term", observed=True)[type_cols].sum()
    g = g.loc[sorted(g.index, key=schema.term_index)]
    xs = np.arange(len(g))
    bottom = np.zeros(len(g))
    colours = [SCHOOL, "#6fa8dc", EXPECTED]
    for col, c in zip(type_cols, colours):
        vals = g[col].to_numpy(dtype=float)
        ax.bar(xs, vals, bottom=bottom, color=c, width=0.7,
               label=schema.LABELS_SV.get(col[2:], col[2:]).capitalize())
        bottom += vals
    ax.set_xticks(xs)
    ax.set_xticklabels(list(g.index), rotation=45, ha="right")
    ax.set_ylabel("Observerade lektioner")
    ax.grid(axis="x", visible=False)
    ax.set_title(title or "Observerade lektioner per termin och typ")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return ax


@_styled
def spread_over_time(spread: pd.DataFrame, *, title: str | None = None, ax: Any = None) -> Any:
    """Between-school spread (standard deviation) of a measure per period.

    ``spread``: columns ``period`` (term or school year), ``sd``, and
    optionally ``label`` (one line per label).
    """
    ax = _axes(ax, (6.5, 2.8))
    labels = spread["label"].unique() if "label" in spread.columns else [None]
    periods = sorted(set(spread["period"]),
                     key=lambda p: schema.term_index(p) if p[:2] in ("HT", "VT") else
                     schema.school_year_start(p) + 0.75)
    pos = {p: i for i, p in enumerate(periods)}
    for k, lab in enumerate(labels):
        g = spread if lab is None else spread[spread["label"] == lab]
        g = g.assign(x=g["period"].map(pos)).sort_values("x")
        ax.plot(g["x"], g["sd"], "o-", color=AREA_COLOURS[k % len(AREA_COLOURS)], ms=3,
                label=lab)
    ax.set_xticks(range(len(periods)))
    ax.set_xticklabels(periods, rotation=45, ha="right")
    ax.yaxis.set_major_formatter(_sv_formatter(2 if spread["sd"].max() < 1 else 1))
    ax.set_ylabel("Spridning mellan skolor (sd)")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Spridning mellan skolor över tid")
    if labels[0] is not None:
        ax.legend(loc="best", frameon=False)
    return ax


@_styled
def background_relation(d: pd.DataFrame, *, x: str = "share_parents_higher_edu",
                        y: str = "estimate", xlabel: str | None = None,
                        ylabel: str | None = None, title: str | None = None,
                        ax: Any = None) -> Any:
    """Schools' values against a background share, with a least-squares line."""
    ax = _axes(ax, (4.6, 3.4))
    ok = d[d[x].notna() & d[y].notna()]
    ax.scatter(ok[x], ok[y], color=SCHOOL, s=18)
    if len(ok) >= 3:
        b, a = np.polyfit(ok[x].astype(float), ok[y].astype(float), 1)
        xs = np.linspace(float(ok[x].min()), float(ok[x].max()), 20)
        ax.plot(xs, a + b * xs, color=EXPECTED, lw=1.2)
    ax.set_xlabel(xlabel or "Andel (%) elever med högutbildade föräldrar")
    ax.set_ylabel(ylabel or y)
    ax.xaxis.set_major_formatter(_sv_formatter(0))
    span = float(ok[y].max() - ok[y].min()) if len(ok) else 1.0
    ax.yaxis.set_major_formatter(_sv_formatter(0 if span > 10 else 1))
    ax.set_title(title or "Samband med elevsammansättning")
    return ax


@_styled
def dimension_heatmap(table: pd.DataFrame, *, title: str | None = None, ax: Any = None) -> Any:
    """Dimensions (columns) × schools (rows) as a heat map; NaN cells show ``..``."""
    n_rows, n_cols = table.shape
    ax = _axes(ax, (1.6 + 1.3 * n_cols, 0.8 + 0.28 * max(n_rows, 3)))
    vals = table.to_numpy(dtype=float)
    im = ax.imshow(np.ma.masked_invalid(vals), cmap="Blues", aspect="auto")
    for i in range(n_rows):
        for j in range(n_cols):
            v = vals[i, j]
            ax.text(j, i, sv_number(v, 2), ha="center", va="center", fontsize=7,
                    color="white" if np.isfinite(v) and v > np.nanmean(vals) + np.nanstd(vals)
                    else "black")
    ax.set_xticks(range(n_cols))
    ax.set_xticklabels(list(table.columns), rotation=20, ha="right")
    ax.set_yticks(range(n_rows))
    ax.set_yticklabels(list(table.index))
    ax.grid(False)
    ax.figure.colorbar(im, ax=ax, shrink=0.6)
    ax.set_title(title or "Dimensioner och skolor")
    return ax


# --------------------------------------------------------------------------
# Embedding
# --------------------------------------------------------------------------
def _figure_of(fig_or_ax: Any) -> Any:
    return getattr(fig_or_ax, "figure", fig_or_ax)


def close_figure(fig: Any) -> None:
    """Close a pyplot figure (a detached figure is simply left to the garbage collector)."""
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)


def to_svg(fig_or_ax: Any, close: bool = True, tight: bool = False) -> str:
    """The figure as SVG text (fonts as text, deterministic ids); closes the figure.

    ``tight`` crops to the drawn content (one more drawing pass); the reports'
    figures have fixed margins and do not need it.
    """
    fig = _figure_of(fig_or_ax)
    buf = io.StringIO()
    with _style():
        fig.savefig(buf, format="svg", bbox_inches="tight" if tight else None,
                    metadata={"Date": None})
    if close:
        close_figure(fig)
    return buf.getvalue()


def to_png(fig_or_ax: Any, close: bool = True, dpi: int = 150) -> bytes:
    """The figure as PNG bytes; closes the figure."""
    fig = _figure_of(fig_or_ax)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    if close:
        close_figure(fig)
    return buf.getvalue()


def to_data_uri(fig_or_ax: Any, fmt: str = "svg", close: bool = True,
                tight: bool = False) -> str:
    """A ``data:`` URI of the figure (SVG by default), for an ``<img>`` in a self-contained page."""
    if fmt == "svg":
        data = to_svg(fig_or_ax, close=close, tight=tight).encode("utf-8")
        mime = "image/svg+xml"
    else:
        data = to_png(fig_or_ax, close=close)
        mime = "image/png"
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


__all__ = ["quality_over_time", "quality_panels", "trends", "caterpillar", "results_over_time",
           "results_panels", "funnel", "progressions", "coverage_bars", "spread_over_time",
           "background_relation", "dimension_heatmap", "to_svg", "to_png", "to_data_uri",
           "sv_number", "new_figure", "new_axes", "finish", "fixed_margins", "close_figure", "STYLE"]
