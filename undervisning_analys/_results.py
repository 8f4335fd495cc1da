"""The one shape every results object shares.

``.tidy()`` returns the DataFrame that is the single source of every number;
``.summary()`` returns (and prints in a terminal) a Swedish text summary;
``_repr_html_`` renders in Jupyter; ``.plot(ax=None)`` returns the axes.
Subclasses implement ``_tidy`` (computed once, cached) and ``_summary_text``.
Results are never mutated in place: ``tidy()`` returns a copy.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd


class Result:
    """Base class of results objects (MixedResult, LinkResult, ICCResult, …)."""

    _tidy_cache: pd.DataFrame | None = None

    # --- to be provided by subclasses -------------------------------------
    def _tidy(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def _summary_text(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def plot(self, ax: Any = None) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- shared -------------------------------------------------------------
    def tidy(self) -> pd.DataFrame:
        """The DataFrame every number of this result comes from (a copy)."""
        if self._tidy_cache is None:
            object.__setattr__(self, "_tidy_cache", self._tidy())
        assert self._tidy_cache is not None
        return self._tidy_cache.copy()

    def summary(self) -> SummaryText:
        """A Swedish summary; prints as text, renders as HTML in Jupyter."""
        return SummaryText(self._summary_text(), self._summary_html())

    def _summary_html(self) -> str:
        text = html.escape(self._summary_text())
        return f"<pre style='white-space:pre-wrap'>{text}</pre>"

    def _repr_html_(self) -> str:
        return self._summary_html()

    def __str__(self) -> str:
        return self._summary_text()


class SummaryText(str):
    """A str that Jupyter renders as HTML and the REPL shows as plain text."""

    _html: str

    def __new__(cls, text: str, html_text: str | None = None) -> SummaryText:
        obj = super().__new__(cls, text)
        obj._html = html_text or f"<pre>{html.escape(text)}</pre>"
        return obj

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return self._html
