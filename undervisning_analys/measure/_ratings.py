"""Shared checks and formatting for the rating analyses (ICC, agreement, severity, drift).

Internal: the argument checks give the same Swedish messages in every entry point.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from undervisning_analys._format import number
from undervisning_analys.errors import DuplicateRowsError, MissingColumnError, ValidationError

Columns = str | Sequence[str]

OVERALL = "Totalt"


def _as_list(cols: Columns | None) -> list[str]:
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    return list(cols)


def _fmt(x: float, digits: int = 2) -> str:
    """The shared Swedish number format (:func:`undervisning_analys._format.number`);
    "–" for a missing figure in these tables."""
    return number(x, digits, missing="–")


def _pct_label(conf_level: float) -> str:
    """A confidence level as a Swedish percentage label: 0.95 -> "95"."""
    return number(conf_level * 100, None)


def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "–"
    if p < 0.001:
        return "< 0,001"
    return _fmt(p, 3)


def _show(v: Any) -> str:
    """repr of a cell value without numpy's type wrapper (7, not np.int64(7))."""
    if isinstance(v, np.generic):
        v = v.item()
    return repr(v)


def _check_frame(data: Any, func: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise ValidationError(
            f"`{func}` behöver en tabell (pandas DataFrame) i långt format, "
            f"men fick {type(data).__name__}",
            hint="Lägg data i en DataFrame med en rad per bedömning",
        )


def _check_columns(data: pd.DataFrame, required: dict[str, list[str]], func: str) -> None:
    """Raise MissingColumnError naming the first absent column and the argument."""
    for arg, cols in required.items():
        for col in cols:
            if col not in data.columns:
                available = ", ".join(f"`{c}`" for c in data.columns)
                raise MissingColumnError(
                    f"Kolumnen `{col}` (argumentet `{arg}=` i `{func}`) finns inte i data. "
                    f"Tillgängliga kolumner: {available}",
                    column=col,
                    hint=f"Ange en befintlig kolumn med `{arg}=`",
                )


def _numeric_ratings(data: pd.DataFrame, col: str) -> pd.Series:
    """The rating column as float; raise ValidationError on anything non-numeric."""
    s = data[col]
    if pd.api.types.is_bool_dtype(s):
        raise ValidationError(
            f"Kolumnen `{col}` ska innehålla poäng (tal), men innehåller sant/falskt-värden",
            column=col,
            hint="Ange kolumnen med poängen som `ratings=`",
        )
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float)
    num = pd.to_numeric(s, errors="coerce")
    bad = s.notna() & num.isna()
    if bad.any():
        idx = bad[bad].index[0]
        raise ValidationError(
            f"Kolumnen `{col}` ska innehålla poäng (tal), men raden med index {_show(idx)} "
            f"har värdet {_show(s.loc[idx])} ({int(bad.sum())} sådana rader)",
            column=col,
            hint="Rätta eller ta bort värden som inte är tal; tomma celler räknas som saknade",
        )
    return num.astype(float)


def _check_ids(data: pd.DataFrame, cols: list[str]) -> None:
    for col in cols:
        miss = data[col].isna()
        if miss.any():
            idx = miss[miss].index[0]
            raise ValidationError(
                f"Kolumnen `{col}` saknar värde på raden med index {_show(idx)} "
                f"({int(miss.sum())} rader); varje bedömning måste ha mål och bedömare",
                column=col,
                hint="Fyll i identiteten eller ta bort raderna innan analysen",
            )


def _check_duplicates(d: pd.DataFrame, unit: list[str], rater: str) -> None:
    dup = d.duplicated(unit + [rater], keep=False)
    if dup.any():
        first = d[dup].iloc[0]
        key = ", ".join(f"{c}={_show(first[c])}" for c in unit)
        raise DuplicateRowsError(
            f"Bedömaren {_show(first[rater])} har mer än en bedömning av samma mål ({key}); "
            f"{int(dup.sum())} rader berörs",
            column=rater,
            hint="Ange fler kolumner i `targets=` (t.ex. `item_id`) så att varje mål "
                 "bedöms högst en gång per bedömare, eller ta bort dubbletterna",
        )


def koo_li_band(x: float) -> str:
    """Koo & Li (2016) reliability band, in Swedish.

    Below 0.50 'svag' (poor), 0.50–0.75 'måttlig' (moderate), 0.75–0.90 'god'
    (good), above 0.90 'utmärkt' (excellent).
    """
    if x is None or not np.isfinite(x):
        return "kan inte bedömas"
    if x < 0.5:
        return "svag"
    if x < 0.75:
        return "måttlig"
    if x <= 0.9:
        return "god"
    return "utmärkt"


def _landis_koch(k: float) -> str:
    """Landis & Koch (1977) kappa band, in Swedish."""
    if k is None or not np.isfinite(k):
        return "kan inte bedömas"
    if k < 0:
        return "sämre än slumpen"
    if k <= 0.2:
        return "obetydlig"
    if k <= 0.4:
        return "låg"
    if k <= 0.6:
        return "måttlig"
    if k <= 0.8:
        return "betydande"
    return "nästan fullständig"


_TERM_RE = re.compile(r"^\s*(HT|VT)\s*(\d{4})\s*$", re.IGNORECASE)
_SCHOOL_YEAR_RE = re.compile(r"^\s*(\d{4})\s*/\s*(\d{2}|\d{4})\s*$")


def _term_time(s: pd.Series, col: str) -> pd.Series:
    """Terms as time in years: VT2024 → 2024.0, HT2024 → 2024.5, '2023/24' → 2023."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype(float)

    def conv(v: Any) -> float:
        if pd.isna(v):
            return np.nan
        text = str(v)
        m = _TERM_RE.match(text)
        if m:
            return int(m.group(2)) + (0.5 if m.group(1).upper() == "HT" else 0.0)
        m = _SCHOOL_YEAR_RE.match(text)
        if m:
            return float(m.group(1))
        raise ValidationError(
            f"Kolumnen `{col}` ska ange termin (t.ex. \"HT2023\", \"VT2024\"), läsår "
            f"(\"2023/24\") eller ett tal, men har värdet {_show(v)}",
            column=col,
            hint="Ange terminskolumnen med `by_term=`",
        )

    return s.map(conv).astype(float)

