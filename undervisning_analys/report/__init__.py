"""Per-school and municipality reports (self-contained HTML, Swedish, A4).

    ctx = ua.report.build_context(ds)            # every model, once
    ua.report.school(ds, "99066217", "rapporter", context=ctx)
    ua.report.municipality(ds, "rapporter", context=ctx)
    ua.report.write_all(ds, "rapporter")           # all of it + index.html

:func:`school` and :func:`municipality` build the context themselves when
none is given (fitting every model); pass one to share it.
"""

from __future__ import annotations

from .context import (
    DEFAULT_MEASURES,
    INDEX_FILE,
    MUNICIPALITY_FILE,
    Num,
    ReportContext,
    build_context,
    equity_table,
    lookup,
    school_file,
)
from .school_view import dialogue_questions as _questions
from .views import municipality_chart, municipality_table, published_results, view
from .write import Written, index, municipality, school, write_all


def dialogue_questions(context: ReportContext, school_id: str) -> list[dict[str, str]]:
    """The 3–5 questions for a school's quality dialogue (plain text ``q`` and ``why``)."""
    return _questions(context, str(school_id))


def equity(ds, context: ReportContext | None = None):  # type: ignore[no-untyped-def]
    """Between-school spread and relation to background per period (likvärdighet).

    See :func:`~undervisning_analys.models.equity.school_equity`.
    """
    ctx = context if context is not None else build_context(ds)
    return ctx.table("equity").copy()


__all__ = ["ReportContext", "Num", "Written", "build_context", "school", "municipality",
           "index", "write_all", "equity", "dialogue_questions", "equity_table", "lookup", "school_file",
           "DEFAULT_MEASURES", "MUNICIPALITY_FILE", "INDEX_FILE", "view",
           "municipality_table", "municipality_chart", "published_results"]
