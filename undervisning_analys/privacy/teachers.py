"""Nothing identifies a teacher: the guards that keep teacher identifiers out of outputs.

No ``teacher_id``-like column and no teacher-level row leaves the package;
teacher-level quantities exist only inside models.
"""

from __future__ import annotations

import re as _re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import SuppressedValueError
from .suppression import _is_missing

__all__ = ["assert_no_teacher_columns", "drop_teacher_identifiers", "teacher_columns"]


_TEACHER_NAME_RE = _re.compile(
    r"^(teachers?|l[aä]rare?n?)([ _-]?(id|ids|kod|code|namn|name|pseudonym|nr|nummer))?$",
    _re.IGNORECASE)
_TEACHER_LEVELS = frozenset({"teacher", "lärare", "larare"})


def _norm_column(name: object) -> str:
    return str(name).strip().lower()


def teacher_columns(df: pd.DataFrame) -> list[str]:
    """Columns of ``df`` that identify teachers (``teacher_id``, ``lärare``, ``lärarkod``, …).

    A column named only ``teacher``/``lärare`` that holds numbers is a count
    and is not counted as an identifier.
    """
    found = []
    for col in df.columns:
        name = _norm_column(col)
        if not _TEACHER_NAME_RE.match(name) and name not in {"lärarid", "lararid", "lärarkod",
                                                             "lararkod", "lärarnamn",
                                                             "lararnamn"}:
            continue
        if name in {"teacher", "teachers", "lärare", "larare"} and \
                pd.api.types.is_numeric_dtype(df[col]):
            continue
        found.append(col)
    return found


def _teacher_index_levels(df: pd.DataFrame) -> list[str]:
    names = [n for n in df.index.names if n is not None]
    probe = pd.DataFrame(columns=names)
    return teacher_columns(probe.astype(object)) if names else []


def _teacher_rows(df: pd.DataFrame) -> np.ndarray:
    mask = np.zeros(len(df), dtype=bool)
    for col in df.columns:
        if _norm_column(col) in {"level", "nivå", "niva"}:
            mask |= df[col].astype(object).map(
                lambda v: _norm_column(v) in _TEACHER_LEVELS).to_numpy(dtype=bool)
    return mask


def _row_number(label: object) -> int | None:
    return int(label) if isinstance(label, (int, np.integer)) else None


def assert_no_teacher_columns(df: pd.DataFrame, *, teacher_ids: Iterable[str] | None = None,
                              name: str | None = None) -> None:
    """Refuse a table that could identify an individual teacher.

    Refused: a teacher identifier column or index level (:func:`teacher_columns`),
    a row whose ``level`` is ``teacher``, and, when ``teacher_ids`` is given,
    a text cell equal to one of them.

    Raises
    ------
    SuppressedValueError
        In Swedish, naming the table (``name``), column and row, never the id.
    """
    cols = teacher_columns(df) + _teacher_index_levels(df)
    if cols:
        raise SuppressedValueError(
            f"Tabellen har en kolumn som pekar ut enskilda lärare (`{cols[0]}`), och sådana "
            f"får inte lämna paketet", table=name, column=str(cols[0]),
            hint="Lärarnivån finns bara inuti modellerna; redovisa per skola eller ta bort "
                 "kolumnen med drop_teacher_identifiers")
    rows = _teacher_rows(df)
    if rows.any():
        first = df.index[np.flatnonzero(rows)[0]]
        raise SuppressedValueError(
            f"Tabellen har {int(rows.sum())} rader på lärarnivå, och sådana får inte lämna "
            f"paketet", table=name, row=_row_number(first),
            column="level",
            hint="Redovisa per skola, område eller kommun, eller ta bort raderna med "
                 "drop_teacher_identifiers")
    if teacher_ids is not None:
        ids = {str(t) for t in teacher_ids if not _is_missing(t)}
        if ids:
            for col in df.columns:
                s = df[col]
                if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                    continue
                hit = s.astype(object).map(lambda v: isinstance(v, str) and v.strip() in ids)
                if hit.any():
                    first = s.index[hit.to_numpy(dtype=bool)][0]
                    raise SuppressedValueError(
                        f"Kolumnen `{col}` innehåller lärarpseudonymer, och sådana får inte "
                        f"lämna paketet", table=name, column=str(col),
                        row=_row_number(first),
                        hint="Redovisa per skola, område eller kommun")


def drop_teacher_identifiers(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` without teacher identifier columns, index levels or teacher-level rows.

    Notes
    -----
    This removes what names a teacher; it does not make a row-level
    observations table anonymous (a lesson's school, date, subject and grade
    can still point at one teacher), so such tables are never exported.
    """
    out = df.copy()
    levels = _teacher_index_levels(out)
    if levels:
        out = out.reset_index(level=levels, drop=True) if out.index.nlevels > 1 \
            else out.reset_index(drop=True)
    out = out.drop(columns=teacher_columns(out))
    rows = _teacher_rows(out)
    if rows.any():
        out = out.loc[~rows]
    return out
