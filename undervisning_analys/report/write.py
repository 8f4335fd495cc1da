"""Write the reports: every school, the municipality, ``index.html`` and the exports.

The last step of the one-way report package: it builds the context once
(:func:`~undervisning_analys.report.context.build_context`), renders the views
(:mod:`.school_view`, :mod:`.municipality_view`) to files, and writes the
tables and the provenance (:mod:`.export`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dataset import Dataset
from ..errors import UnknownSchoolError
from .context import INDEX_FILE, MUNICIPALITY_FILE, ReportContext, build_context, school_file
from .export import write_exports, write_provenance
from .municipality_view import render_municipality
from .school_view import render_school
from .templating import render


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _check_school(ctx: ReportContext, school_id: str) -> None:
    if school_id not in ctx.names:
        known = ", ".join(ctx.school_ids()[:5])
        raise UnknownSchoolError(
            f"Skolenhetskoden {school_id} finns inte i skolregistret",
            column="school_id",
            hint=f"Ange en av datamängdens {len(ctx.names)} skolenhetskoder, t.ex. {known}")


def school(ds: Dataset, school_id: str, out_dir: str | Path, *,
           context: ReportContext | None = None) -> Path:
    """Write the quality-dialogue report of one school; return its path.

    Parameters
    ----------
    ds : the Dataset.
    school_id : the school unit's code (skolenhetskod).
    out_dir : the folder written to (created if missing).
    context : a :class:`ReportContext` of ``ds`` to reuse (building one fits
        every model; pass it when writing several reports).

    Raises
    ------
    UnknownSchoolError
        When ``school_id`` is not in ``ds.schools``.
    """
    ctx = context if context is not None else build_context(ds)
    _check_school(ctx, str(school_id))
    return _write(Path(out_dir) / school_file(str(school_id)), render_school(ctx, str(school_id)))


def municipality(ds: Dataset, out_dir: str | Path, *,
                 context: ReportContext | None = None) -> Path:
    """Write the municipality report (all schools side by side); return its path."""
    ctx = context if context is not None else build_context(ds)
    return _write(Path(out_dir) / MUNICIPALITY_FILE, render_municipality(ctx))


def index(ctx: ReportContext, out_dir: str | Path, schools: Sequence[str] | None = None) -> Path:
    """Write ``index.html`` linking the municipality report and the school reports."""
    ids = [s for s in ctx.school_ids() if schools is None or s in set(schools)]
    entries = [{"name": ctx.names[s], "id": s, "area": ctx.areas.get(s, ""),
                "href": school_file(s)} for s in ids]
    by_area: dict[str, list[dict[str, str]]] = {}
    for e in entries:
        by_area.setdefault(e["area"] or "Övriga", []).append(e)
    muni = _municipality_name(ctx)
    text = render("index.html.j2", title=f"Rapporter: {muni}", municipality=muni,
                  entries=entries, by_area=dict(sorted(by_area.items())),
                  municipality_href=MUNICIPALITY_FILE, created=ctx.created,
                  seed=ctx.ds.seed, sources=len(ctx.ds.provenance))
    return _write(Path(out_dir) / INDEX_FILE, text)


def _municipality_name(ctx: ReportContext) -> str:
    names = sorted(set(ctx.ds.schools["municipality_name"].dropna().astype(str)))
    return ", ".join(names) if names else "kommunen"


@dataclass(frozen=True)
class Written:
    """The files :func:`write_all` wrote."""

    index: Path
    municipality: Path
    schools: dict[str, Path]
    warnings: tuple[str, ...] = ()
    """The models' warnings (Swedish), also listed in the reports."""
    notes: dict[str, str] = field(default_factory=dict)
    """Parts that could not be computed, and why (Swedish)."""
    exports: tuple[Any, ...] = ()
    """The tidy tables written to ``data/`` (:class:`~.export.Export`)."""
    provenance: Path | None = None
    """``proveniens.json``."""


_WORKER_CTX: ReportContext | None = None


def _worker_school(args: tuple[str, str]) -> tuple[str, str]:
    school_id, out_dir = args
    assert _WORKER_CTX is not None
    path = _write(Path(out_dir) / school_file(school_id), render_school(_WORKER_CTX, school_id))
    _notes_workbook(_WORKER_CTX, Path(out_dir), school_id)
    return school_id, str(path)


def _worker_exports(out_dir: str) -> list[Any]:
    assert _WORKER_CTX is not None
    return write_exports(_WORKER_CTX, out_dir)


def _worker_municipality(out_dir: str) -> str:
    assert _WORKER_CTX is not None
    return str(_write(Path(out_dir) / MUNICIPALITY_FILE, render_municipality(_WORKER_CTX)))


def write_all(ds: Dataset, out_dir: str | Path, *, schools: Sequence[str] | None = None,
              context: ReportContext | None = None, processes: int | None = None,
              progress: bool = False, exports: bool = True,
              measures: Sequence[str] | None = None) -> Written:
    """Write every school report, the municipality report, ``index.html`` and the exports.

    Parameters
    ----------
    ds : the Dataset.
    out_dir : the folder written to.
    schools : only these school codes (default all, in school-name order).
    context : a prepared :class:`ReportContext` (default: built here, once).
    processes : worker processes for the school reports, their notes workbooks,
        the municipality report and the exports (default: the number of CPUs, at
        most 4; 1 writes everything in this process, and builds the context in it
        too: see :func:`~undervisning_analys.report.context.build_context`). Workers
        are forked and share the context, so nothing is fitted twice.
    progress : show progress bars (tqdm, Swedish labels) on stderr.
    exports : also write every table the reports show to ``data/`` (CSV and
        Parquet) and ``proveniens.json`` (inputs, model specifications, seed,
        floors, versions); see :mod:`undervisning_analys.report.export`.
    measures : the results measures to show (default: the context's choice,
        :data:`~undervisning_analys.report.context.DEFAULT_MEASURES` the data have);
        ignored when ``context`` is given.
    """
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if context is None:
        # the number of steps depends on the data (plans, outcomes): counted, not a total
        steps = tqdm(desc="Modeller", unit=" steg", disable=not progress,
                     leave=False, bar_format="{desc}, steg {n_fmt}{postfix}")

        def say(msg: str) -> None:
            steps.set_postfix_str(msg, refresh=False)
            steps.update(1)

        ctx = build_context(ds, progress=say, measures=measures, processes=processes)
        steps.close()
    else:
        ctx = context
    ids = ctx.school_ids()
    if schools is not None:
        for s in schools:
            _check_school(ctx, str(s))
        wanted = {str(s) for s in schools}
        ids = [s for s in ids if s in wanted]
    written: dict[str, Path] = {}
    tables: tuple[Any, ...] = ()
    n_proc = processes if processes is not None else min(4, os.cpu_count() or 1)
    bar = tqdm(total=len(ids), desc="Skolrapporter", unit=" skola", disable=not progress)
    if n_proc > 1 and len(ids) > 4 and _can_fork():
        import multiprocessing as mp

        global _WORKER_CTX
        _WORKER_CTX = ctx
        try:
            with mp.get_context("fork").Pool(n_proc) as pool:
                # the longest tasks first, beside the schools: the exports (every
                # table as CSV, Parquet and one workbook), then the municipality report
                exports_job = pool.apply_async(_worker_exports, (str(out),)) if exports else None
                muni_job = pool.apply_async(_worker_municipality, (str(out),))
                for sid, path in pool.imap_unordered(_worker_school,
                                                     [(s, str(out)) for s in ids]):
                    written[sid] = Path(path)
                    bar.update(1)
                muni = Path(muni_job.get())
                if exports_job is not None:
                    tables = tuple(exports_job.get())
        finally:
            _WORKER_CTX = None
    else:
        for s in ids:
            written[s] = school(ds, s, out, context=ctx)
            _notes_workbook(ctx, out, s)
            bar.update(1)
        muni = municipality(ds, out, context=ctx)
        if exports:
            tables = tuple(write_exports(ctx, out))
    bar.close()
    idx = index(ctx, out, schools=ids)
    prov = None
    if exports:
        prov = write_provenance(ctx, tables, [idx, muni, *written.values()], out)
    return Written(index=idx, municipality=muni, schools={s: written[s] for s in ids},
                   warnings=tuple(ctx.info.get("warnings", ())), notes=dict(ctx.notes),
                   exports=tables, provenance=prov)


def _notes_workbook(ctx: ReportContext, out: Path, school_id: str) -> Path:
    """Beside a school report: the notes workbook for the dialogue (issue #15),
    pre-filled with the report's questions; placed in the input folder it is read back."""
    from ..plans.mall import notes_file, write_notes_workbook
    from .school_view import SchoolView

    qs = SchoolView(ctx, school_id).questions()
    plain = [{"q": _plain(q["q"]), "underlag": str(q.get("underlag", "data"))} for q in qs]
    targets: list[str] = []
    if ctx.has("planuppfoljning"):
        t = ctx.table("planuppfoljning")
        targets = [str(x) for x in t.loc[t["school_id"].astype(str) == school_id, "target_id"]]
    targets += [d for d in ctx.dimensions if d != "overall"] + list(ctx.measures)
    path = out / notes_file(school_id)
    write_notes_workbook(path, school_id=school_id, school_name=ctx.names[school_id],
                         questions=plain, targets=targets)
    return path


def _plain(m: object) -> str:
    import html as _html
    import re

    return _html.unescape(re.sub(r"<[^>]+>", "", str(m)))


def _can_fork() -> bool:
    import multiprocessing as mp

    return "fork" in mp.get_all_start_methods()


__all__ = ["Written", "index", "municipality", "school", "write_all"]
