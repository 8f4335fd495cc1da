"""Swedish number formatting and plain-text tables for measure's summaries."""

from __future__ import annotations

import numpy as np


def fmt(x: float | None, digits: int = 2, sign: bool = False) -> str:
    """``x`` with a decimal comma and a real minus sign; "–" when missing."""
    if x is None or not np.isfinite(x):
        return "–"
    s = f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"
    return s.replace("-", "−").replace(".", ",")


def text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a plain-text table: first column left-aligned, the rest right-aligned."""
    allrows = [header, *rows]
    widths = [max(len(str(r[i])) for r in allrows) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in allrows]
