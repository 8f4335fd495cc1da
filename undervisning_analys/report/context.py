"""Compose: every library call for the reports, once, into privacy-checked tables.

Nothing here estimates anything. :func:`build_context` calls the library once
for the whole dataset (the teaching-quality index per dimension, coverage,
adjusted results per measure, the link, growth, rater agreement, the decision
study, equity between schools), applies the privacy rules to every table, and
keeps the tidy tables in a :class:`ReportContext`. Every report is then a view
of those tables: each number shown is a :class:`Num` that carries, in its
``data-ref`` attribute, the table, row keys and column it was read from, so
that a test can check it against the library's ``.tidy()`` output.

The report package is one-way: ``context`` (compose) <- ``_common``,
``charts`` (parts) <- ``school_view``, ``municipality_view`` (views) <-
``write`` (files) and ``export`` (tables, provenance); ``templating`` renders
the Jinja2 templates for the views and ``write``.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import privacy, schema
from .._beside import Beside
from .._format import swedish_key
from ..dataset import Dataset
from ..errors import UAError
from ..measure.calibration import (
    dimension_agreement,
    first_pair_icc,
    paired_lessons,
    severity_by_role,
)
from ..measure.change import DIALOGUE_TARGET, dialogue_goals
from ..measure.index import coverage, teaching_quality
from ..measure.reliability import ObservationPlan, plan_observations
from ..measure.scoring import score_forms
from ..models.adjust import adjusted_results
from ..models.dialogue import Evidence, dialogue_table
from ..models.equity import school_equity
from ..models.followup import plan_followup
from ..models.growth import growth
from ..models.link import link
from ..plans import planned_lessons
from .outcomes_context import TRENDS as OUTCOME_TRENDS
from .outcomes_context import outcome_tables

DEFAULT_MEASURES: tuple[str, ...] = ("merit_17", "pass_all_subjects_pct",
                                     "eligible_vocational_pct", "grade6_pass_all_subjects_pct")
"""Results shown in the reports (plus national tests where the data have them): grade 9
for 7–9 and F–9 schools, grade 6 for F–6 and F–9 schools (each school shows the measures
it has)."""

NP_STATISTIC = "avg_points"
"""National tests are shown by their average test-grade points (where present)."""

OVERALL = "overall"
OVERALL_SV = "Samlat index"
INDEX_DECIMALS = 2
MAX_NP_MEASURES = 3

MUNICIPALITY_FILE = "kommun.html"
INDEX_FILE = "index.html"


def school_file(school_id: str) -> str:
    """File name of a school's report."""
    return f"skola_{school_id}.html"


# --------------------------------------------------------------------------
# Numbers that remember where they came from
# --------------------------------------------------------------------------
def _py(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def fmt(value: Any, status: str | None = None, decimals: int = 1) -> str:
    """Swedish display text of a number (privacy.format_value: ``..`` suppressed)."""
    v = _py(value)
    if v is pd.NA:
        v = None
    if isinstance(v, float) and v.is_integer() and decimals == 0:
        v = int(v)
    return privacy.format_value(v, status, decimals)


@dataclass(frozen=True)
class Num:
    """A number shown in a report, with its source.

    ``ref`` = {"t": table name in :meth:`ReportContext.table`, "k": row keys,
    "c": column, "d": decimals, "x": multiplier (e.g. 100 for a share in %)}.
    """

    text: str
    ref: Mapping[str, Any] | None = None
    title: str | None = None

    def __html__(self) -> str:
        attrs = ""
        if self.ref is not None:
            attrs += f' data-ref="{html.escape(json.dumps(self.ref, ensure_ascii=False))}"'
        if self.title:
            attrs += f' title="{html.escape(self.title)}"'
        return f'<span class="v"{attrs}>{html.escape(self.text)}</span>'

    def __str__(self) -> str:
        return self.text


def row_status(row: Mapping[str, Any], mode: str = "row") -> str | None:
    """The status a cell of ``row`` is shown with (see :meth:`ReportContext.num`)."""
    if mode == "none":
        return None
    st = _status_of(row)
    if mode == "suppressed":
        return "suppressed" if st == "suppressed" else None
    return st


def _status_of(row: Mapping[str, Any]) -> str | None:
    st = row.get("status")
    if st is not None and not (isinstance(st, float) and math.isnan(st)) and st is not pd.NA:
        return str(st)
    if bool(row.get("suppressed", False)):
        return "suppressed"
    return None


def lookup(frame: pd.DataFrame, keys: Mapping[str, Any]) -> dict[str, Any] | None:
    """The one row of ``frame`` whose columns equal ``keys`` (compared as strings)."""
    mask = np.ones(len(frame), dtype=bool)
    for k, v in keys.items():
        mask &= (frame[k].astype(str) == str(v)).to_numpy()
    idx = np.flatnonzero(mask)
    if len(idx) != 1:
        return None
    return {c: _py(frame[c].iat[idx[0]]) for c in frame.columns}


class _KeyIndex:
    """Row lookup by a fixed set of key columns (string-compared), built once per table."""

    def __init__(self, frame: pd.DataFrame, cols: tuple[str, ...]) -> None:
        self.frame = frame
        keys = zip(*(frame[c].astype(str).to_numpy() for c in cols)) if cols else iter(())
        pos: dict[tuple[str, ...], int] = {}
        dup: set[tuple[str, ...]] = set()
        for i, k in enumerate(keys):
            if k in pos:
                dup.add(k)
            pos[k] = i
        for k in dup:
            del pos[k]
        self.pos = pos
        self.records = frame.to_dict("records")

    def get(self, values: tuple[str, ...]) -> dict[str, Any] | None:
        i = self.pos.get(values)
        return None if i is None else self.records[i]


# --------------------------------------------------------------------------
# The context: every library call, once
# --------------------------------------------------------------------------
@dataclass
class ReportContext:
    """Everything the reports show, computed once for the whole dataset.

    Build with :func:`build_context` (or ``ReportContext.build(ds)``) and pass
    it to :func:`school`, :func:`municipality` and :func:`write_all` so that
    no model is fitted more than once. ``tables`` holds the privacy-checked
    tidy outputs by name (see :meth:`table`); ``notes`` says, in Swedish, why
    a part could not be computed.
    """

    ds: Dataset
    tables: dict[str, pd.DataFrame]
    measures: tuple[str, ...]
    dimensions: dict[str, str]
    names: dict[str, str]
    areas: dict[str, str]
    info: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    created: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, ds: Dataset, **kwargs: Any) -> ReportContext:
        return build_context(ds, **kwargs)

    def table(self, name: str) -> pd.DataFrame:
        """A privacy-checked tidy table by name (``quality``, ``coverage``,
        ``results:<measure>``, ``municipality_results``, ``link``, ``changes``,
        ``growth``, ``agreement``, ``icc``, ``plan``, ``equity``, ``severity``)."""
        return self.tables[name]

    def has(self, name: str) -> bool:
        t = self.tables.get(name)
        return t is not None and len(t) > 0

    # ------------------------------------------------------------------
    def num(self, table: str, keys: Mapping[str, Any], column: str, decimals: int = 1,
            scale: float | None = None, title: str | None = None,
            status: bool | str = True) -> Num:
        """The number at (table, keys, column), formatted with the row's status.

        ``status``: ``True``/``"row"`` formats with the row's status (``..``,
        ``~100``, …); ``"suppressed"`` only turns a suppressed row into ``..``
        (for a difference or an interval of a ``~100`` result, which is then
        simply missing); ``False``/``"none"`` shows the value whatever the
        status (counts of pupils, the expected result: neither is computed
        from the suppressed value). ``scale`` multiplies (100 for a share in %).
        """
        mode = "row" if status is True else "none" if status is False else str(status)
        row = self._row(table, keys)
        ref: dict[str, Any] = {"t": table, "k": {k: str(v) for k, v in keys.items()},
                               "c": column, "d": decimals}
        if scale is not None:
            ref["x"] = scale
        if mode != "row":
            ref["s"] = mode
        if row is None:
            return Num(fmt(None), ref, title)
        value = _py(row.get(column))
        st = row_status(row, mode)
        if scale is not None and value is not None and not _missing(value):
            value = float(value) * scale
        reason = (row.get("suppression_reason") or None) if st == "suppressed" else None
        return Num(fmt(value, st, decimals), ref, title or reason)

    def _row(self, table: str, keys: Mapping[str, Any]) -> dict[str, Any] | None:
        frame = self.tables.get(table)
        if frame is None:
            return None
        cols = tuple(keys)
        cache = self.__dict__.setdefault("_indexes", {})
        ix = cache.get((table, cols))
        if ix is None:
            ix = cache[(table, cols)] = _KeyIndex(frame, cols)
        return ix.get(tuple(str(v) for v in keys.values()))

    def part(self, table: str, column: str, value: Any) -> pd.DataFrame:
        """The rows of a table whose ``column`` equals ``value`` (grouped once, cached)."""
        frame = self.tables.get(table)
        if frame is None:
            return pd.DataFrame()
        cache = self.__dict__.setdefault("_parts", {})
        groups = cache.get((table, column))
        if groups is None:
            keys = frame[column].astype(str)
            groups = cache[(table, column)] = {str(k): g for k, g in frame.groupby(
                keys, sort=False, observed=True)}
        return groups.get(str(value), frame.iloc[0:0])

    def records(self, table: str, **keys: Any) -> list[dict[str, Any]]:
        """The rows of a table whose columns equal ``keys`` (compared as strings), as
        plain dicts in the table's order (grouped once per table and key columns, cached):
        the per-school lookups of the reports, without filtering a DataFrame each time."""
        frame = self.tables.get(table)
        if frame is None or not len(frame):
            return []
        cols = tuple(keys)
        if any(c not in frame.columns for c in cols):
            return []
        cache = self.__dict__.setdefault("_records", {})
        groups = cache.get((table, cols))
        if groups is None:
            groups = {}
            values = [frame[c].astype(str).tolist() for c in cols]
            for key, rec in zip(zip(*values), frame.to_dict("records"), strict=True):
                groups.setdefault(key, []).append(rec)
            cache[(table, cols)] = groups
        return groups.get(tuple(str(v) for v in keys.values()), [])

    def cached(self, name: str, func: Callable[[], Any]) -> Any:
        """A value computed once per context (e.g. the sources table every report shows)."""
        cache = self.__dict__.setdefault("_cached", {})
        if name not in cache:
            cache[name] = func()
        return cache[name]

    def school_ids(self) -> list[str]:
        """School codes sorted by school name, in Swedish order (å ä ö after z)."""
        return sorted(self.names, key=lambda s: (swedish_key(self.names[s]), s))


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and not math.isfinite(v))


def _attempt(notes: dict[str, str], name: str, func: Callable[[], Any]) -> Any:
    """Run one library call; a UAError becomes a Swedish note instead of stopping the report."""
    try:
        return func()
    except UAError as exc:
        notes[name] = str(exc)
        return None


def _measures_of(ds: Dataset, measures: Sequence[str] | None) -> tuple[str, ...]:
    school = ds.results[ds.results["level"].astype(str) == "school"]
    have = set(school["measure"].astype(str))
    if measures is not None:
        return tuple(m for m in measures if m in have)
    chosen = [m for m in DEFAULT_MEASURES if m in have]
    nps = sorted(m for m in have if m.startswith("np_") and m.endswith(NP_STATISTIC))
    return tuple(chosen + nps[:MAX_NP_MEASURES])


def _quality_levels(ds: Dataset) -> list[str]:
    sch = ds.schools
    has_area = "area" in sch.columns and sch["area"].notna().any()
    return ["school", "area", "municipality"] if has_area else ["school", "municipality"]


def build_context(ds: Dataset, *, measures: Sequence[str] | None = None, lag: int = 1,
                  link_measure: str | None = None, progress: Callable[[str], None] | None = None,
                  processes: int | None = None) -> ReportContext:
    """Compute everything the reports need, once for the whole dataset.

    Parameters
    ----------
    ds : the Dataset.
    measures : results measures to show (default :data:`DEFAULT_MEASURES` that
        the data have, plus up to three national tests' average points).
    lag : school years between teaching quality and results in the link.
    link_measure : the measure of the link (default the first of ``measures``).
    progress : called with a Swedish description before each step.
    processes : 1 computes everything in this process; otherwise (default) the parts
        that need no teaching-quality model (coverage, agreement, results) are computed
        in one forked process while the models are fitted, where processes can be
        forked. The context is the same either way.

    Notes
    -----
    A part that cannot be computed (too few years for the link, no background
    for the adjustment, …) is left out with a Swedish note in
    ``context.notes``; the reports say so where the part would have been.
    Privacy: teaching-quality tables pass through ``privacy.suppress_quality``
    and results tables through ``privacy.suppress_results`` before they are
    kept; no table holds a teacher identifier.
    """
    import warnings

    from ..errors import UAWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UAWarning)
        ctx = _build_context(ds, measures=measures, lag=lag, link_measure=link_measure,
                             progress=progress, fork=processes != 1)
    seen: dict[str, None] = {}
    for w in caught:
        if issubclass(w.category, UAWarning):
            seen.setdefault(str(w.message).split(" (Motorns meddelande")[0], None)
        else:  # not ours: pass it on unchanged
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    # sorted: the side parts' warnings are raised when they are merged, the models'
    # when they are fitted, so their order depends on the path (processes=1 or not);
    # the reports must not
    ctx.info["warnings"] = sorted(seen)
    return ctx


def _build_context(ds: Dataset, *, measures: Sequence[str] | None, lag: int,
                   link_measure: str | None, progress: Callable[[str], None] | None,
                   fork: bool = True) -> ReportContext:
    say = progress or (lambda _msg: None)
    notes: dict[str, str] = {}
    timings: dict[str, float] = {}
    tables: dict[str, pd.DataFrame] = {}
    info: dict[str, Any] = {}
    models: dict[str, dict[str, Any]] = {}
    info["models"] = models

    def timed(name: str, func: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = func()
        timings[name] = time.perf_counter() - t0
        return out

    dims = {OVERALL: OVERALL_SV, **ds.instrument.dimension_names()}
    sch = ds.schools
    names = dict(zip(sch["school_id"].astype(str), sch["school_name"].astype(str)))
    areas = ({str(s): ("" if pd.isna(a) else str(a))
              for s, a in zip(sch["school_id"], sch["area"])}
             if "area" in sch.columns else {s: "" for s in names})
    ms = _measures_of(ds, measures)

    # Parts that need no teaching-quality model (coverage, agreement, results) are
    # computed in a forked process while the models are fitted here: the first model's
    # fit leaves one core free. A process, not a thread: the engine records its
    # warnings with warnings.catch_warnings, which is process-wide state, so two
    # threads fitting at once can lose each other's warnings. The side's warnings
    # are passed back and raised here; its parts are merged below in the order of
    # the steps, so the context is the same as when computed in turn.
    if len(ds.observations):
        # the scored forms, which both the models and the side's coverage read: scored
        # once here, before the side is forked, not once in each process
        score_forms(ds)
    side = _SideParts(ds, ms, fork=fork)
    with side:
        # ---- teaching quality ---------------------------------------------------
        tq_res = None
        if len(ds.observations):
            say("Undervisningskvalitet (index per termin och dimension)")
            tq_res = timed("quality", lambda: _attempt(notes, "quality", lambda: teaching_quality(
                ds, by=_quality_levels(ds), dimension="all")))
            if tq_res is not None:
                tables["quality"] = privacy.suppress_quality(tq_res.tidy())
                models["quality"] = _quality_spec(tq_res)
            say("Täckning av observationerna")
            observed, _ = side.result()
            assert observed is not None
            observed.merge_into(tables, notes, info, models, timings)
            say("Samstämmighet mellan observatörer")
            say("Hur många observationer behövs?")
            plan = timed("plan", lambda: _attempt(notes, "plan", lambda: _plan(ds, tq_res)))
            if plan is not None:
                tables["plan"] = plan.tidy()
                # what the lessons each school's plan sets out give (issue #17)
                planned = planned_lessons(ds.plans)
                if len(planned):
                    at = plan.at(planned)
                    if len(at):
                        tables["plan_planned"] = at.merge(planned[["unit", "plan_id"]],
                                                          on="unit")
            say("Skolornas trender")
            index = tables.get("quality")
            if index is not None:
                index = index[index["dimension"] == OVERALL]
            gr = timed("growth", lambda: _attempt(notes, "growth", lambda: growth(
                ds, index=index, quality=tq_res)))
            if gr is not None:
                tables["growth"] = gr.tidy()
                models["growth"] = _growth_spec(gr)
        else:
            notes["quality"] = "Datamängden har inga lektionsobservationer."
        _, results_part = side.result()

    # ---- plans and their targets (issue #15) ----------------------------------
    if ds.plans is not None and len(ds.plans):
        say("Planerna och målen")
        pf = timed("plans", lambda: _attempt(notes, "plans", lambda: plan_followup(
            ds, quality=tq_res)))
        if pf is not None:
            tables["planuppfoljning"] = pf.tidy()
            tables["planuppfoljning_besok"] = pf.adherence()
            tables["planuppfoljning_dimensioner"] = pf.other_dimensions()

    # ---- results (computed beside the models, above) -------------------------
    say("Resultat jämförda med förväntat utifrån bakgrund")
    results_part.merge_into(tables, notes, info, models, timings)

    # ---- the link -----------------------------------------------------------
    lm = link_measure or (ms[0] if ms else None)
    if lm is not None and "quality" in tables:
        say("Sambandet mellan de två utvecklingarna")
        lr = timed("link", lambda: _attempt(
            notes, "link", lambda: link(ds, measure=lm, lag=lag, index=tq_res)))
        if lr is not None:
            tables["link"] = lr.tidy()
            ch = lr.school_changes()
            tables["changes"] = ch.reset_index(drop=True)
            info["link"] = {"measure": lm, "lag": lag,
                            "min_detectable": lr.min_detectable_within}
            models["link"] = _link_spec(lr, lm, lag)

    # ---- outcomes beside grades (Skolenkäten, attendance, own measures) --------------
    timed("outcomes", lambda: outcome_tables(ds, tables, notes, info, say))

    # ---- dialogue questions (a table of rules on the estimates above) ---------
    tables["dialogue"] = _dialogue(ds, tables, dims, ms)

    # ---- equity -------------------------------------------------------------
    tables["equity"] = equity_table(tables, ds, ms)

    for name, t in tables.items():
        privacy.assert_no_teacher_columns(t, name=name)
    return ReportContext(ds=ds, tables=tables, measures=ms, dimensions=dims, names=names,
                         areas=areas, info=info, notes=notes,
                         created=_dt.date.today().isoformat(), timings=timings)


@dataclass
class _Part:
    """What one part of the context computed, kept apart until it is merged in order."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, func: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = func()
        self.timings[name] = time.perf_counter() - t0
        return out

    def merge_into(self, tables: dict[str, pd.DataFrame], notes: dict[str, str],
                   info: dict[str, Any], models: dict[str, dict[str, Any]],
                   timings: dict[str, float]) -> None:
        tables.update(self.tables)
        notes.update(self.notes)
        info.update(self.info)
        models.update(self.models)
        timings.update(self.timings)


def _observed_parts(ds: Dataset) -> _Part:
    """Coverage of the observations and agreement between observers."""
    part = _Part()
    cov = part.timed("coverage", lambda: _attempt(part.notes, "coverage", lambda: coverage(ds)))
    if cov is not None:
        part.tables["coverage"] = cov.reset_index(drop=True)
    part.timed("agreement", lambda: _agreement(ds, part.tables, part.notes, part.info))
    return part


_SideOut = tuple[_Part | None, _Part, list[tuple[str, type[Warning], str, int]]]


def _side_parts(ds: Dataset, ms: Sequence[str]) -> _SideOut:
    """The parts of the context that need no teaching-quality model, with the warnings
    they raised (run in a forked process by :class:`_SideParts`, or in turn)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        observed = _observed_parts(ds) if len(ds.observations) else None
        results = _results_parts(ds, ms)
    return observed, results, [(str(w.message), w.category, w.filename, w.lineno)
                               for w in caught]


class _SideParts(Beside[_SideOut]):
    """:func:`_side_parts` in one forked process, started on entering the ``with`` block
    (computed in this process instead where processes cannot be forked, see
    :class:`~undervisning_analys._beside.Beside`). ``result()`` waits for it once and
    raises its warnings here, where the context records them."""

    def __init__(self, ds: Dataset, ms: Sequence[str], fork: bool = True) -> None:
        super().__init__(lambda: _side_parts(ds, ms), fork=fork)
        self._raised = False

    def result(self) -> tuple[_Part | None, _Part]:
        import warnings

        observed, results, caught = self.get()
        if not self._raised:
            self._raised = True
            for message, category, filename, lineno in caught:
                warnings.warn_explicit(message, category, filename, lineno)
        return observed, results


def _results_parts(ds: Dataset, ms: Sequence[str]) -> _Part:
    """Each measure's results against the expected and their trends, and the
    municipality's results (no teaching-quality model needed)."""
    part = _Part()
    tables, notes, info, models = part.tables, part.notes, part.info, part.models
    for m in ms:
        def adjust(m: str = m) -> Any:
            return _attempt(notes, f"results:{m}", lambda: adjusted_results(ds, measure=m))

        res = part.timed(f"results:{m}", adjust)
        if res is None:
            continue
        t = res.tidy()
        tables[f"results:{m}"] = privacy.suppress_results(
            t, value_cols=["observed", "residual", "se", "conf_low", "conf_high"],
            partitions={}, hierarchy=False)
        info[f"results:{m}"] = res.reference_info
        models[f"results:{m}"] = _adjust_spec(m, res.reference_info)

        def trend(m: str = m, res: Any = res) -> Any:
            from ..models.results_trend import results_trend

            return _attempt(notes, f"results_trend:{m}",
                            lambda: results_trend(ds, m, adjusted_result=res))

        rt = part.timed(f"results_trend:{m}", trend)
        if rt is not None:
            tables[f"results_trend:{m}"] = rt.tidy()
            models[f"results_trend:{m}"] = {
                "namn": f"Skolornas nivå och trend mot förväntat: {schema.measure_label(m)}",
                "formel": str(rt.info.get("formula", "")),
                "skattning": "linjär blandad modell, REML, på skillnaden mot förväntat; "
                             "slumpmässig nivå och trend per skola (krympta skattningar)"
                             + ("; viktad med antalet elever" if rt.info.get("weighted")
                                else "")}
    r = ds.results
    mres = r[(r["level"].astype(str) == "municipality") & (r["group"].astype(str) == "all")
             & (r["principal_type"].astype(str) == "all") & r["measure"].isin(ms)]
    tables["municipality_results"] = privacy.suppress_results(
        mres[["municipality_id", "school_year", "measure", "value", "n", "status"]]
        .reset_index(drop=True), partitions={}, hierarchy=False)
    return part


# --------------------------------------------------------------------------
# Model specifications (shown in every report and written to proveniens.json)
# --------------------------------------------------------------------------
def _quality_spec(res: Any) -> dict[str, Any]:
    formulas = dict(getattr(res, "formula", {}) or {})
    distinct = sorted(set(formulas.values()))
    return {"namn": "Undervisningskvalitet (index per skola och termin)",
            "formel": formulas.get(OVERALL, distinct[0] if distinct else ""),
            "formel_per_dimension": formulas,
            "skattning": "linjär blandad modell, REML (samma optimum som lme4::lmer); indexet "
                         "är modellens krympta skattning per skola och termin"}


def _growth_spec(res: Any) -> dict[str, Any]:
    info = getattr(res, "info", {}) or {}
    return {"namn": "Skolornas trender i undervisningskvaliteten",
            "formel": str(info.get("formula", "")),
            "skattning": "linjär blandad modell, REML; trend per läsår med slumpmässig lutning "
                         "per skola"}


def _adjust_spec(measure: str, info: Mapping[str, Any]) -> dict[str, Any]:
    covariates = list(info.get("covariates", ()))
    by_year = bool(info.get("by_year", False))
    rhs = ["1" if by_year else "C(school_year)", *covariates]
    weighted = bool(info.get("weighted", False))
    return {"namn": f"Resultat jämförda med förväntat: {schema.measure_label(measure)}",
            "formel": f"{measure} ~ " + " + ".join(rhs),
            "skattning": ("minsta kvadrat, en modell per läsår" if by_year
                          else "minsta kvadrat, alla läsår i en modell med läsårseffekter")
                         + ("; viktad med antalet elever" if weighted else "")
                         + f"; referens: {info.get('reference', '')}",
            "utelämnade_bakgrundsvariabler": list(info.get("covariates_dropped", ())),
            "grupp": str(info.get("group", "all"))}


def _link_spec(res: Any, measure: str, lag: int) -> dict[str, Any]:
    info = getattr(res, "info", {}) or {}
    terms = [str(t) for t in info.get("model_terms", ()) if str(t) != "(Intercept)"]
    inference = str(getattr(res, "inference", ""))
    try:
        inference = str(res.tidy()["inference"].iloc[0])
    except (KeyError, IndexError, AttributeError):
        pass
    return {"namn": "Sambandet mellan undervisningskvalitet och resultat",
            "formel": f"{measure} ~ " + " + ".join(terms or ["within", "between"]),
            "skattning": f"inom–mellan (Mundlak), eftersläpning {lag} läsår; inferens: "
                         f"{inference}"
                         + ("; justerade resultat" if getattr(res, "adjusted", False) else ""),
            "eftersläpning": int(lag)}


def own_schools(ds: Dataset) -> list[str]:
    """The organiser's own schools (kommunal huvudman): the subjects of the dialogues.

    Every school when the register names no principal type as kommunal.
    """
    sch = ds.schools
    own = sch[sch["principal_type"].astype(str) == "kommunal"]["school_id"].astype(str)
    return list(own) if len(own) else list(sch["school_id"].astype(str))


def _dialogue(ds: Dataset, tables: Mapping[str, pd.DataFrame], dims: Mapping[str, str],
              measures: Sequence[str]) -> pd.DataFrame:
    """The dialogue questions' table (:func:`undervisning_analys.models.dialogue.dialogue_table`)."""
    g = tables.get("growth")
    trends = None
    period = ""
    if g is not None and len(g):
        trends = g[g["component"] == "school_trend"].reset_index(drop=True)
        terms = sorted(set(g["term"].dropna().astype(str)), key=schema.term_index)
        period = f"{terms[0]}–{terms[-1]}" if terms else ""
    results = {m: tables[f"results_trend:{m}"] for m in measures
               if f"results_trend:{m}" in tables}
    ot = tables.get(OUTCOME_TRENDS)
    outcomes = {str(m): g for m, g in ot.groupby("measure", sort=True)} if ot is not None \
        else {}
    ev = Evidence(quality_trends=trends, quality_period=period, results=results,
                  index=tables.get("quality"), dimension_names=dict(dims),
                  schools=own_schools(ds), outcomes=outcomes)
    return dialogue_table(ev)


def _plan(ds: Dataset, tq_res: Any) -> ObservationPlan:
    """The decision study per school: lessons per term for reliability 0.7 of a term's
    level and for the school's change (:func:`~undervisning_analys.measure.change.dialogue_goals`).

    Uses the variance components of the index model already fitted
    (``tq_res.components()``) with each school's design (``components=``), so
    the model is not fitted once more.
    """
    if tq_res is None:  # pragma: no cover - the context calls this only after a fit
        return plan_observations(ds, target=DIALOGUE_TARGET)
    comp = tq_res.components(OVERALL)
    return plan_observations(ds, components=comp, **dialogue_goals(comp))


def _agreement(ds: Dataset, tables: dict[str, pd.DataFrame], notes: dict[str, str],
               info: dict[str, Any]) -> None:
    """Agreement of paired observations (same lesson, two observers), per dimension."""
    sub = paired_lessons(ds)
    info["paired_lessons"] = int(sub["observation_id"].nunique())
    if len(sub) == 0:
        notes["agreement"] = ("Inga parobservationer (två observatörer på samma lektion) finns, "
                              "så samstämmigheten kan inte beräknas.")
        return
    ag = _attempt(notes, "agreement", lambda: dimension_agreement(ds, sub))
    if ag is not None:
        tables["agreement"] = ag.tidy()
    ic = _attempt(notes, "icc", lambda: first_pair_icc(ds, sub))
    if ic is not None:
        tables["icc"] = ic.tidy()
        info["icc_targets"] = ic.n_targets
    by_role = _attempt(notes, "severity", lambda: severity_by_role(sub))
    if by_role is not None:
        # a role with fewer than three observers would describe individuals: not shown
        tables["severity"] = privacy.suppress_observer_roles(by_role)


def equity_table(tables: Mapping[str, pd.DataFrame], ds: Dataset,
                 measures: Sequence[str]) -> pd.DataFrame:
    """Between-school spread and relation to background, per period (likvärdighet).

    The report's tables handed to :func:`undervisning_analys.models.equity.school_equity`
    (see there for the columns): the privacy-checked teaching-quality table
    and the adjusted results of ``measures``.
    """
    results = {m: tables[f"results:{m}"] for m in measures if f"results:{m}" in tables}
    return school_equity(tables.get("quality"), results, ds.background, dimension=OVERALL)


__all__ = ["ReportContext", "Num", "build_context", "equity_table", "lookup", "fmt",
           "own_schools",
           "row_status", "school_file", "DEFAULT_MEASURES", "MUNICIPALITY_FILE", "INDEX_FILE",
           "OVERALL", "INDEX_DECIMALS"]
