"""Display: Swedish strings with Skolverket's marks, after suppression.

``..`` suppressed, ``.`` missing, ``~100``, ``*`` excluded; the number itself
is written by :func:`undervisning_analys._format.number` (decimal comma,
minus sign, narrow no-break space for thousands).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Literal

import numpy as np
import pandas as pd

from .._format import THOUSANDS, number
from ..schema import STATUSES
from .floors import Floors
from .suppression import (
    QUALITY_VALUE_COLUMNS,
    _as_status,
    _is_missing,
    _results_value_columns,
    suppress_quality,
    suppress_results,
)
from .teachers import assert_no_teacher_columns

__all__ = ["APPROX_100_MARK", "EXCLUDED_MARK", "MISSING_MARK", "SUPPRESSED_MARK", "Kind",
           "format_table", "format_value"]


SUPPRESSED_MARK = ".."
MISSING_MARK = "."
APPROX_100_MARK = "~100"
EXCLUDED_MARK = "*"

Kind = Literal["auto", "results", "quality", "none"]


def format_value(value: object, status: str | None = None, decimals: int = 1, *,
                 thousands: str = THOUSANDS) -> str:
    """A number as Swedish display text, with Skolverket's markers.

    Parameters
    ----------
    value : the number (float, int or missing).
    status : a ``results.status`` (``ok``, ``suppressed``, ``missing``,
        ``approx_100``, ``not_published``, ``excluded``) or None.
    decimals : decimals for a float; an integer is shown without decimals.
    thousands : thousands separator (default a narrow no-break space, so
        that ``12 345`` never breaks across lines).

    Returns
    -------
    ``".."`` for suppressed, ``"~100"`` for approx_100, ``"*"`` for excluded,
    ``"."`` for missing/not published or a missing value, otherwise the
    number as :func:`undervisning_analys._format.number` writes it: decimal
    comma, minus sign U+2212, rounded half away from zero as publications do
    (``format_value(2.25) == "2,3"``, ``format_value(1234.5) == "1 234,5"``).
    """
    if not _is_missing(status):
        st = str(status)
        if st not in STATUSES:
            raise ValueError(f"Okänd status {st!r}; tillåtna är {', '.join(STATUSES)}")
        if st == "suppressed":
            return SUPPRESSED_MARK
        if st == "approx_100":
            return APPROX_100_MARK
        if st == "excluded":
            return EXCLUDED_MARK
        if st in ("missing", "not_published"):
            return MISSING_MARK
    if _is_missing(value):
        return MISSING_MARK
    if isinstance(value, (bool, np.bool_)):
        raise TypeError("format_value expects a number, not a bool")
    if not isinstance(value, (int, np.integer, float, np.floating, Decimal)):
        raise TypeError(f"format_value expects a number, not {type(value).__name__}")
    return number(value, decimals, thousands=thousands)


def _detect_kind(df: pd.DataFrame) -> str:
    if {"n_teachers", "n_obs"} <= set(df.columns):
        return "quality"
    if "n" in df.columns and ("value" in df.columns or "status" in df.columns):
        return "results"
    return "none"


def format_table(df: pd.DataFrame, *, kind: Kind = "auto",
                 floors: Floors | Mapping[str, int] | None = None,
                 value_cols: Sequence[str] | None = None,
                 decimals: int | Mapping[str, int] = 1,
                 status_col: str = "status", suppressed_col: str = "suppressed",
                 thousands: str = THOUSANDS) -> pd.DataFrame:
    """A display table: suppression applied, numbers as Swedish strings.

    Parameters
    ----------
    df : a results-like or teaching-quality table. Not changed.
    kind : ``"results"`` (:func:`suppress_results`), ``"quality"``
        (:func:`suppress_quality`), ``"none"`` (no counts to check, e.g. a
        table of model coefficients), or ``"auto"``: quality when the table
        has ``n_teachers`` and ``n_obs``, results when it has ``n`` and
        ``value`` or ``status``, otherwise none.
    floors : passed to the suppression.
    value_cols : the columns shown with the row's status (``..`` when
        suppressed); default the suppression's value columns, or every float
        column for ``kind="none"``. Other float columns are formatted as plain
        numbers; integer columns and whole-number count columns (``n``,
        ``n_*``) without decimals.
    decimals : for all float columns, or per column (missing ones get 1).

    Returns
    -------
    A new DataFrame in which the numeric columns hold strings.

    Raises
    ------
    SuppressedValueError
        When the table has a teacher identifier column or teacher-level rows
        (:func:`assert_no_teacher_columns`).
    """
    assert_no_teacher_columns(df)
    k = _detect_kind(df) if kind == "auto" else kind
    if k == "results":
        table = suppress_results(df, floors, value_cols=value_cols, status_col=status_col)
        vcols = _results_value_columns(table, value_cols, "n")
        status = _as_status(table[status_col])
    elif k == "quality":
        table = suppress_quality(df, floors, value_cols=value_cols, suppressed_col=suppressed_col)
        vcols = list(value_cols) if value_cols is not None else \
            [c for c in QUALITY_VALUE_COLUMNS if c in table.columns]
        status = np.array(["suppressed" if f else None
                           for f in table[suppressed_col].to_numpy(dtype=bool)], dtype=object)
        if status_col in table.columns:
            own = _as_status(table[status_col])
            unset = np.array([st is None for st in status], dtype=bool)
            status = np.where(unset, own, status)
    elif k == "none":
        table = df.copy()
        vcols = list(value_cols) if value_cols is not None else \
            [c for c in table.columns if pd.api.types.is_float_dtype(table[c])]
        status = (_as_status(table[status_col]) if status_col in table.columns
                  else np.full(len(table), None, dtype=object))
        if suppressed_col in table.columns:
            flag = table[suppressed_col].fillna(False).astype(bool).to_numpy()
            status = np.where(flag, "suppressed", status)
    else:
        raise ValueError(f"kind must be auto, results, quality or none, not {kind!r}")

    def places(col: str) -> int:
        return decimals.get(col, 1) if isinstance(decimals, Mapping) else int(decimals)

    out = table.copy()
    for col in table.columns:
        s = table[col]
        if col in vcols:
            out[col] = [format_value(_py(v), st if st in STATUSES else None, places(col),
                                     thousands=thousands)
                        for v, st in zip(s.to_numpy(dtype=object), status)]
        elif pd.api.types.is_bool_dtype(s):
            continue
        elif pd.api.types.is_integer_dtype(s) or pd.api.types.is_float_dtype(s):
            # counts (n, n_*) are shown as whole numbers even when stored as float
            is_int = pd.api.types.is_integer_dtype(s) or (
                _is_count_name(col) and bool(((s.dropna() % 1) == 0).all()))
            out[col] = [format_value(_py(v) if not is_int or _is_missing(v) else int(v),
                                     None, places(col), thousands=thousands)
                        for v in s.to_numpy(dtype=object)]
    return out


def _is_count_name(col: object) -> bool:
    name = str(col)
    return name == "n" or name.startswith("n_")


def _py(v: object) -> object:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v
