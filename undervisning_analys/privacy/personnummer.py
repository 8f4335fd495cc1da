"""The personnummer guard: recognise, normalise and refuse personnummer.

Rules (DESIGN.md, Privacy): no personnummer or name is ever kept. Every loader
calls :func:`refuse_personnummer_columns` on the raw cells it read; a column
that looks like it holds personnummer is refused with
:class:`~undervisning_analys.errors.PersonalNumberFound` naming file and
column (never the number itself).

Decisions
---------
* A value *is* a personnummer when it has 10 or 12 digits (``YYMMDD-XXXX``,
  ``YYMMDD+XXXX``, ``YYYYMMDDXXXX``, with or without the separator), the date
  part is a valid date (a samordningsnummer adds 60 to the day) and the Luhn
  check digit is right. Organisation numbers (month ≥ 20) fail the date test,
  so ``Huvudman orgnr`` columns pass the guard.
* A column *looks like* personnummer when at least ``min_share`` (default
  one half) of its non-empty values are personnummer. A single stray value in
  a free-text column is not enough to refuse a whole file.
* :func:`normalise_personnummer` gives the 12-digit form: a 10-digit number
  gets the century that makes the person younger than 100 years (older with
  ``+``), as the Tax Agency's rule says. SCB's temporary numbers
  (``ååååmmddTFxx``) are kept as written (upper-cased, separators removed).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import PersonalNumberFound

__all__ = ["is_personnummer", "looks_like_personnummer", "normalise_personnummer",
           "refuse_personnummer_columns", "sex_of_personnummer"]


_PNR_RE = re.compile(r"^(\d{2})?(\d{2})(\d{2})(\d{2})([-+]?)(\d{4})$")
_TF_RE = re.compile(r"^(\d{8})-?([A-Z]{2}\d{2})$")
_CANDIDATE_RE = r"^\s*(?:\d{6}|\d{8})[-+]?\d{4}\s*$"
_CANDIDATE = re.compile(_CANDIDATE_RE)


def _luhn_ok(digits10: str) -> bool:
    total = 0
    for i, ch in enumerate(digits10):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _date_ok(year: int, month: int, day: int) -> bool:
    if day > 60:
        day -= 60  # samordningsnummer
    try:
        _dt.date(year, month, day)
    except ValueError:
        return False
    return True


def is_personnummer(value: object) -> bool:
    """True if ``value`` is a valid personnummer or samordningsnummer (10 or 12 digits)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    s = _as_text(value)
    m = _PNR_RE.match(s)
    if not m:
        return False
    century, yy, mm, dd, _sep, tail = m.groups()
    month, day = int(mm), int(dd)
    if century is not None:
        ok_date = _date_ok(int(century + yy), month, day)
    else:
        ok_date = _date_ok(1900 + int(yy), month, day) or _date_ok(2000 + int(yy), month, day)
    return ok_date and _luhn_ok(yy + mm + dd + tail)


def _as_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def looks_like_personnummer(series: pd.Series | Sequence[object], min_share: float = 0.5
                            ) -> bool:
    """True when at least ``min_share`` of the non-empty values are personnummer.

    Values may be strings or numbers (Excel stores ``199001011234`` as a
    number). Empty strings and missing values are ignored; an all-empty
    column does not look like personnummer.
    """
    s = pd.Series(series) if not isinstance(series, pd.Series) else series
    s = s.dropna()
    if s.empty:
        return False
    # each distinct value once, weighted by how often it occurs (a column of 700,000
    # cells has few distinct values)
    counts = s.value_counts(sort=False, dropna=True)
    texts = [v.strip() if isinstance(v, str) else _as_text(v) for v in counts.index]
    n = counts.to_numpy()
    nonempty = np.array([t != "" for t in texts], dtype=bool)
    n_text = int(n[nonempty].sum())
    if n_text == 0:
        return False
    match = _CANDIDATE.match  # compiled once: tens of thousands of distinct ids per column
    cand = np.array([match(t) is not None for t in texts], dtype=bool) & nonempty
    if int(n[cand].sum()) < min_share * n_text:
        return False
    n_valid = int(sum(int(k) for t, k, c in zip(texts, n, cand) if c and is_personnummer(t)))
    return n_valid > 0 and n_valid >= min_share * n_text


def refuse_personnummer_columns(df: pd.DataFrame, file: str | Path | None,
                                allowed: Iterable[str] = (), min_share: float = 0.5) -> None:
    """Raise PersonalNumberFound if a column of ``df`` (not in ``allowed``) holds personnummer.

    Every loader calls this on the raw cells it read, before anything else
    is done with them. The message names the file, the column and the first
    row (the DataFrame's index, the source line number) but never the number.
    """
    allowed_set = set(allowed)
    for col in df.columns:
        if col in allowed_set:
            continue
        values = df[col]
        if not looks_like_personnummer(values, min_share=min_share):
            continue
        first = next((idx for idx, v in values.items() if is_personnummer(v)), None)
        row = int(first) if isinstance(first, (int, np.integer)) else None
        raise PersonalNumberFound(
            f"Kolumnen `{col}` ser ut att innehålla personnummer, och sådana får inte läsas in "
            f"här",
            file=file, row=row, column=str(col),
            hint="Ta bort kolumnen, eller ersätt personnumren med koder (t.ex. lärarkoder) "
                 "innan filen läses in. Elevers betygsfiler läses med read_pupil_grades, som "
                 "byter personnumret mot en pseudonym")


def normalise_personnummer(value: object, today: _dt.date | None = None) -> str | None:
    """12-digit form ``YYYYMMDDXXXX`` of a personnummer (or ``YYYYMMDDTFxx``); None if not one."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    s = _as_text(value).upper().replace(" ", "")
    m = _PNR_RE.match(s)
    if m:
        century, yy, mm, dd, sep, tail = m.groups()
        if century is None:
            today = today or _dt.date.today()
            year = 2000 + int(yy)
            if year > today.year:
                year -= 100
            if sep == "+":
                year -= 100
            century = str(year // 100)
        return f"{century}{yy}{mm}{dd}{tail}"
    m2 = _TF_RE.match(s)
    if m2:
        return m2.group(1) + m2.group(2)
    return None


def sex_of_personnummer(value: object) -> str | None:
    """'boys' (odd 11th digit of the 12-digit form), 'girls' (even) or None (unknown)."""
    norm = normalise_personnummer(value)
    if norm is None or not norm[10].isdigit():
        return None
    return "boys" if int(norm[10]) % 2 == 1 else "girls"
