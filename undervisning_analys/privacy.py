"""Privacy at the edges: personnummer guard, keyed pseudonyms and suppression.

Two parts: this docstring describes the personnummer guard and the
pseudonyms; the section ``# ---- Suppression ----`` further down (with its
own comment block of rules) holds the one suppression mechanism every output
path uses (``suppress_results``, ``suppress_quality``, ``format_value``,
``format_table``) and the guards that keep teacher identifiers out of outputs.

Rules (DESIGN.md, Privacy):

* No personnummer or name is ever kept. Pupil-level loaders replace the
  personnummer with a keyed pseudonym (:func:`pseudonymise`, HMAC-SHA256 with a
  secret the user supplies) before any other code sees the rows, and drop name
  columns at read time.
* Every loader calls :func:`refuse_personnummer_columns` on the raw cells it
  read; a column that looks like it holds personnummer is refused with
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
* The pseudonym is the first 20 hex digits (80 bits) of
  HMAC-SHA256(key, normalised 12-digit personnummer). Normalising first means
  ``900101-1234``, ``19900101-1234`` and ``199001011234`` give the same
  pseudonym. A 10-digit number gets the century that makes the person younger
  than 100 years (older with ``+``), as the Tax Agency's rule says. SCB's
  temporary numbers (``ååååmmddTFxx``) are pseudonymised as written
  (upper-cased, separators removed).
* The key comes from the ``key`` argument or the environment variable
  ``UA_PSEUDONYM_KEY``; without one the functions refuse
  (:class:`~undervisning_analys.errors.MissingKeyError`). The same key gives
  the same pseudonyms across files and years (so a pupil can be followed); a
  different key gives unrelated pseudonyms.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import MissingKeyError, PersonalNumberFound

KEY_ENV = "UA_PSEUDONYM_KEY"
"""Environment variable that holds the pseudonymisation key."""

PSEUDONYM_LENGTH = 20
"""Hex digits of the HMAC kept as the pseudonym (80 bits)."""

_PNR_RE = re.compile(r"^(\d{2})?(\d{2})(\d{2})(\d{2})([-+]?)(\d{4})$")
_TF_RE = re.compile(r"^(\d{8})-?([A-Z]{2}\d{2})$")
_CANDIDATE_RE = r"^\s*(?:\d{6}|\d{8})[-+]?\d{4}\s*$"


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
    cand = np.array([bool(re.match(_CANDIDATE_RE, t)) for t in texts], dtype=bool) & nonempty
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


def get_key(key: str | bytes | None = None) -> bytes:
    """The pseudonymisation key: the argument, else ``$UA_PSEUDONYM_KEY``; refuse without one."""
    if key is None:
        key = os.environ.get(KEY_ENV)
    if key is None or (isinstance(key, (str, bytes)) and len(key.strip()) == 0):
        raise MissingKeyError(
            "Pseudonymisering kräver en hemlig nyckel, men ingen nyckel angavs",
            hint=f"Ange key='…' eller sätt miljövariabeln {KEY_ENV}. Använd samma nyckel "
                 "varje år så att samma elev får samma pseudonym, och förvara nyckeln "
                 "åtskild från data")
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


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


def pseudonymise(values: pd.Series | Sequence[object], key: str | bytes | None = None
                 ) -> pd.Series | list[str | None]:
    """Replace personnummer with keyed pseudonyms (HMAC-SHA256, 20 hex digits).

    Parameters
    ----------
    values : personnummer in any usual form (see module docstring).
    key : the secret; default ``$UA_PSEUDONYM_KEY``. Without one:
        :class:`~undervisning_analys.errors.MissingKeyError`.

    Returns
    -------
    A Series with the same index (for a Series), else a list. Missing values
    stay missing. Values that are not personnummer are pseudonymised as
    written (stripped, upper-cased), so nothing identifying passes through.
    """
    k = get_key(key)

    def one(v: object) -> str | None:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return None
        norm = normalise_personnummer(v) or _as_text(v).upper().replace(" ", "")
        if norm == "":
            return None
        return hmac.new(k, norm.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]

    if isinstance(values, pd.Series):
        return values.map(one).astype(object)
    return [one(v) for v in values]


__all__ = ["KEY_ENV", "pseudonymise", "looks_like_personnummer", "is_personnummer",
           "refuse_personnummer_columns", "normalise_personnummer", "sex_of_personnummer",
           "get_key"]


# ---- Suppression ----------------------------------------------------------
# Everything from here to the end of the file is the suppression part
# (issue 7, parts 2 and 3). The pseudonymisation part above belongs to the
# loaders and is not used below.
#
# One mechanism that every output path (tables, plots, reports, exports) goes
# through before a number leaves the package:
#
# * Floors (:class:`Floors`): a value computed from fewer than ``MIN_PUPILS``
#   (10) pupils is never shown, and a teaching-quality figure from fewer than
#   ``MIN_TEACHERS`` (3) teachers or ``MIN_OBS`` (5) observed lessons is never
#   shown. The floors can be raised, never lowered.
# * Results-like tables (:func:`suppress_results`): a cell whose ``n`` is below
#   the pupil floor gets ``value = NaN`` and ``status = "suppressed"``
#   (displayed ``..``), the same convention as a cell Skolverket suppressed.
#   ``n`` itself is kept, as Skolverket publishes it ("Antal elever").
# * Secondary suppression: the totals ``all`` = ``girls`` + ``boys`` (column
#   ``group``) and ``all`` = ``kommunal`` + ``enskild`` (column
#   ``principal_type``) are partitions. Within one partition (same values in
#   every key column), a suppressed cell can be recovered when the other two
#   cells are shown: for counts by subtraction, for means and percentages
#   with the n's shown by ``(n_all·v_all − n_other·v_other) / n_part``. Then a
#   second cell is suppressed as well: the complementary part when a part was
#   suppressed (the total stays visible), the part with the smaller n when the
#   total was suppressed. The rule is applied until nothing changes, so that
#   suppressions in one partition propagate to the other. A cell counts as
#   shown when its status is ``ok`` or ``approx_100`` (``~100`` gives a bound);
#   ``missing`` and other markers are not shown but are not secret either.
#   The rule is conservative: it does not check whether the n's are shown.
# * The same rule applies to the schools of a municipality: when the school
#   rows' n's add up to the municipality row's n (same year, measure, group,
#   principal type), the schools partition the municipality, and a single
#   suppressed school could be recovered from the municipality value and the
#   other schools. Then the shown school with the smallest n is suppressed
#   too. When the n's do not add up (schools missing from the table) or are
#   unknown, the remainder hides the school and nothing more is suppressed.
# * In general, for a total T with parts P1..Pk: if T and all parts but one
#   are shown and that one is suppressed, the shown part with the smallest n
#   is suppressed as well; if T is suppressed and all parts are shown, the
#   smallest part is suppressed.
# * Teaching-quality tables (:func:`suppress_quality`): a row with fewer than 3
#   teachers or 5 observed lessons (or an unknown count) keeps its ``n_*`` but
#   ``estimate``, ``se``, ``conf_low`` and ``conf_high`` become NaN,
#   ``suppressed = True`` and ``suppression_reason`` says why in Swedish.
#   Model-based municipality or area estimates cannot be solved for a school
#   estimate, so no secondary suppression applies here.
# * No individual teacher (:func:`assert_no_teacher_columns`,
#   :func:`drop_teacher_identifiers`): no ``teacher_id``-like column and no
#   teacher-level row leaves the package; teacher-level quantities exist only
#   inside models.
# * Display (:func:`format_value`, :func:`format_table`): Swedish strings,
#   decimal comma, ``..`` suppressed, ``.`` missing, ``~100``, ``*`` excluded.

import math  # noqa: E402
import re as _re  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from dataclasses import dataclass as _dataclass  # noqa: E402
from decimal import Decimal  # noqa: E402
from typing import Literal  # noqa: E402

# numpy (np), pandas (pd), Iterable and Sequence come from the imports at the top.
from ._format import THOUSANDS, number  # noqa: E402
from .errors import SuppressedValueError  # noqa: E402
from .schema import LABELS_SV, STATUSES  # noqa: E402

MIN_PUPILS = 10
"""No value computed from fewer pupils is shown."""

MIN_TEACHERS = 3
"""No teaching-quality figure from fewer teachers is shown."""

MIN_OBS = 5
"""No teaching-quality figure from fewer observed lessons is shown."""

SUPPRESSED_MARK = ".."
MISSING_MARK = "."
APPROX_100_MARK = "~100"
EXCLUDED_MARK = "*"

REASON_COLUMN = "suppression_reason"
"""Column that says (in Swedish) why a cell was suppressed; empty when it was not."""

QUALITY_VALUE_COLUMNS: tuple[str, ...] = ("estimate", "se", "conf_low", "conf_high")
"""Columns of a teaching-quality table that are blanked when a row is suppressed."""

RESULTS_PARTITIONS: dict[str, tuple[str, tuple[str, str]]] = {
    "group": ("all", ("girls", "boys")),
    "principal_type": ("all", ("kommunal", "enskild")),
}
"""Column -> (total, (part, part)): the additive partitions secondary suppression checks."""

_SHOWN = frozenset({"ok", "approx_100"})
_NOT_KEYS = frozenset({"n", "status", "source", REASON_COLUMN, "suppressed"})

Kind = Literal["auto", "results", "quality", "none"]


@_dataclass(frozen=True)
class Floors:
    """The privacy floors; they can be raised, never lowered.

    Parameters
    ----------
    pupils : fewest pupils behind a shown value (at least :data:`MIN_PUPILS`).
    teachers : fewest teachers behind a shown teaching-quality figure
        (at least :data:`MIN_TEACHERS`).
    obs : fewest observed lessons behind a shown teaching-quality figure
        (at least :data:`MIN_OBS`).

    Raises
    ------
    SuppressedValueError
        In Swedish, when a floor is lower than the minimum or not an integer.

    Examples
    --------
    >>> Floors(pupils=15).pupils
    15
    """

    pupils: int = MIN_PUPILS
    teachers: int = MIN_TEACHERS
    obs: int = MIN_OBS

    def __post_init__(self) -> None:
        for name, minimum, label in (("pupils", MIN_PUPILS, "elever"),
                                     ("teachers", MIN_TEACHERS, "lärare"),
                                     ("obs", MIN_OBS, "observerade lektioner")):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise SuppressedValueError(
                    f"Gränsen för antal {label} ska vara ett heltal, men är {value!r}",
                    hint=f"Ange ett heltal som är {minimum} eller större")
            if value < minimum:
                raise SuppressedValueError(
                    f"Gränsen för antal {label} kan bara höjas, inte sänkas: {value} är lägre "
                    f"än den lägsta tillåtna gränsen {minimum}",
                    hint=f"Ange {minimum} eller mer, eller utelämna gränsen så används {minimum}")
            object.__setattr__(self, name, int(value))


DEFAULT_FLOORS = Floors()


def as_floors(floors: Floors | Mapping[str, int] | None = None) -> Floors:
    """Floors from ``None`` (the defaults), a :class:`Floors` or a mapping such as ``{"pupils": 15}``."""
    if floors is None:
        return DEFAULT_FLOORS
    if isinstance(floors, Floors):
        return floors
    if isinstance(floors, Mapping):
        unknown = sorted(set(floors) - {"pupils", "teachers", "obs"})
        if unknown:
            raise SuppressedValueError(
                f"Okänd gräns: {', '.join(unknown)}",
                hint="Tillåtna gränser är pupils, teachers och obs")
        return Floors(**floors)
    raise TypeError(f"floors must be Floors, a mapping or None, not {type(floors).__name__}")


def _require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SuppressedValueError(
            f"Tabellen saknar kolumnen `{missing[0]}`, som behövs för att pricka {what}",
            column=missing[0],
            hint="Skicka med antalen (n) till prickningen; en tabell utan antal kan inte visas")


def _results_value_columns(df: pd.DataFrame, value_cols: Sequence[str] | None,
                           n_col: str) -> list[str]:
    if value_cols is not None:
        cols = list(value_cols)
        _require_columns(df, cols, "värdena")
        return cols
    if "value" in df.columns:
        return ["value"]
    return [c for c in df.columns
            if c != n_col and pd.api.types.is_float_dtype(df[c])]


def _as_status(series: pd.Series) -> np.ndarray:
    return np.array([None if (v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)))
                     else str(v) for v in series], dtype=object)


def _restore_status_dtype(original: pd.Series | None, values: np.ndarray,
                          index: pd.Index) -> pd.Series:
    out = pd.Series(values, index=index, dtype=object)
    if original is not None and isinstance(original.dtype, pd.CategoricalDtype):
        cats = list(original.dtype.categories)
        cats += [s for s in pd.unique(out.dropna()) if s not in cats]
        return out.astype(pd.CategoricalDtype(cats))
    return out


def _label(value: object) -> str:
    return LABELS_SV.get(str(value), str(value))


def suppress_results(df: pd.DataFrame, floors: Floors | Mapping[str, int] | None = None, *,
                     value_cols: Sequence[str] | None = None, n_col: str = "n",
                     status_col: str = "status", keys: Sequence[str] | None = None,
                     partitions: Mapping[str, tuple[str, tuple[str, str]]] | None = None,
                     hierarchy: bool = True,
                     reason_col: str | None = REASON_COLUMN,
                     unknown_n: Literal["keep", "suppress"] = "keep") -> pd.DataFrame:
    """Suppress pupil-based cells below the floor, with secondary suppression.

    Parameters
    ----------
    df : a results-like table (the canonical ``results`` table, a tidy output
        with one row per unit × year × measure × group, ...). Not changed.
    floors : :class:`Floors` (or a mapping); default ``n < 10`` is suppressed.
    value_cols : the columns blanked in a suppressed row; default ``value``
        if present, else every float column other than ``n_col``.
    n_col : the number of pupils behind the row.
    status_col : the ``results.status`` column; created (``ok``/``missing``)
        if absent.
    keys : the columns that identify a cell apart from the partition column;
        default every column that is not a value, ``n``, status, reason or
        ``source`` column.
    partitions : the additive partitions for secondary suppression; default
        :data:`RESULTS_PARTITIONS` (group, principal_type). ``{}`` turns
        this part of secondary suppression off.
    hierarchy : also treat the school rows of a municipality as parts of the
        municipality row (same keys otherwise), when their n's add up to the
        municipality's n.
    reason_col : column for the Swedish reason (``""`` when shown); ``None``
        adds no column (e.g. to keep the strict ``results`` schema).
    unknown_n : ``"keep"`` shows a value whose ``n`` is missing, ``"suppress"``
        suppresses it.

    Returns
    -------
    A new DataFrame: suppressed rows have NaN in ``value_cols`` and status
    ``suppressed``; ``n`` is kept.

    Notes
    -----
    Rules (see the section comment in privacy.py): primary suppression where
    ``n < floors.pupils`` and the cell is shown (status ``ok`` or
    ``approx_100``); cells already suppressed in the source stay so (reason
    "prickat i källan"); secondary suppression in each partition where a
    suppressed cell could be recovered from the total and the other parts.
    Missing data: a row with missing ``n`` is kept by default, because the
    sources that omit ``n`` (Skolverket, Kolada) publish only figures that
    already passed their own floor of 10 pupils; values computed by this
    package always carry ``n``. ``missing``/``not_published``/``excluded``
    rows are left as they are. Applying the function twice gives the same
    table.
    """
    fl = as_floors(floors)
    _require_columns(df, [n_col], "elevvärden")
    out = df.copy()
    vcols = _results_value_columns(out, value_cols, n_col)
    original_status = out[status_col] if status_col in out.columns else None
    if original_status is None:
        has_value = out[vcols].notna().any(axis=1) if vcols else pd.Series(False, out.index)
        status = np.where(has_value.to_numpy(), "ok", "missing").astype(object)
    else:
        status = _as_status(original_status)
    if reason_col is not None and reason_col in out.columns:
        reason = np.array(["" if pd.isna(r) else str(r) for r in out[reason_col]], dtype=object)
    else:
        reason = np.full(len(out), "", dtype=object)

    n = pd.to_numeric(out[n_col], errors="coerce").to_numpy(dtype=float)
    shown = np.isin(status, list(_SHOWN))
    few = np.nan_to_num(n, nan=np.inf) < fl.pupils
    if unknown_n == "suppress":
        few |= np.isnan(n)
    elif unknown_n != "keep":
        raise ValueError(f"unknown_n must be 'keep' or 'suppress', not {unknown_n!r}")
    primary = shown & few
    status[primary] = "suppressed"
    reason[primary] = np.where(np.isnan(n[primary]), "antal elever okänt",
                               f"färre än {fl.pupils} elever")
    source_sup = (status == "suppressed") & (reason == "")
    reason[source_sup] = "prickat i källan"

    parts = RESULTS_PARTITIONS if partitions is None else partitions
    excluded = set(vcols) | {n_col, status_col, "source", "suppressed"}
    if reason_col is not None:
        excluded.add(reason_col)
    key_cols = list(keys) if keys is not None else [c for c in out.columns
                                                      if c not in excluded]
    if parts or hierarchy:
        _secondary_suppression(out, status, reason, n, key_cols, parts, hierarchy)

    sup = status == "suppressed"
    for c in vcols:
        if sup.any():
            if not pd.api.types.is_float_dtype(out[c]):
                out[c] = out[c].astype("float64")
            out.loc[sup, c] = np.nan
    out[status_col] = _restore_status_dtype(original_status, status, out.index)
    if reason_col is not None:
        out[reason_col] = pd.Series(reason, index=out.index, dtype=object)
    return out


def _cell_state(rows: list[int], status: np.ndarray) -> str:
    st = {status[i] for i in rows}
    if "suppressed" in st:
        return "suppressed"
    return "shown" if st & _SHOWN else "other"


def _apply_partition(total: list[int], parts: dict[str, list[int]], status: np.ndarray,
                     reason: np.ndarray, n: np.ndarray, describe) -> bool:
    """One partition (total = sum of parts): suppress one more cell if one is recoverable."""
    if not total or len(parts) < 2:
        return False
    t_state = _cell_state(total, status)
    p_state = {lab: _cell_state(rows, status) for lab, rows in parts.items()}
    hidden = [lab for lab, st in p_state.items() if st == "suppressed"]
    shown = [lab for lab, st in p_state.items() if st == "shown"]
    if t_state == "shown" and len(hidden) == 1 and len(shown) == len(parts) - 1:
        secret = hidden[0]
    elif t_state == "suppressed" and len(shown) == len(parts):
        secret = None
    else:
        return False

    def size(lab: str) -> float:
        v = n[parts[lab]]
        return float(np.nanmin(v)) if np.isfinite(v).any() else np.inf

    extra = min(shown, key=lambda lab: (size(lab), list(parts).index(lab)))
    text = describe(secret, extra)
    for i in parts[extra]:
        status[i] = "suppressed"
        reason[i] = text
    return True


def _secondary_suppression(df: pd.DataFrame, status: np.ndarray, reason: np.ndarray,
                           n: np.ndarray, key_cols: list[str],
                           partitions: Mapping[str, tuple[str, tuple[str, str]]],
                           hierarchy: bool) -> None:
    """Suppress one more cell wherever a suppressed one could be recovered (in place)."""
    active = {col: spec for col, spec in partitions.items() if col in df.columns}
    school_level = (hierarchy and {"level", "school_id", "municipality_id"} <= set(df.columns))

    def group_ids(cols: list[str]) -> np.ndarray:
        if not cols:
            return np.zeros(len(df), dtype=int)
        sub = df[cols].astype(object)
        return sub.where(sub.notna(), None).groupby(cols, dropna=False, sort=False) \
            .ngroup().to_numpy()

    # Group ids do not depend on the status, so compute them once.
    plans = []
    for col, (total, (part_a, part_b)) in active.items():
        labels = _as_status(df[col])
        members = np.isin(labels, [total, part_a, part_b])
        if members.any():
            plans.append((col, total, (part_a, part_b), labels, members,
                          group_ids([k for k in key_cols if k != col])))
    if school_level:
        level = _as_status(df["level"])
        hier_keys = [k for k in key_cols if k not in ("level", "school_id")]
        hier_gid = group_ids(hier_keys)
        schools = level == "school"
        munis = level == "municipality"

    changed = True
    while changed:
        changed = False
        for _col, total, (part_a, part_b), labels, members, gid in plans:
            candidate = members & (status == "suppressed")
            for g in pd.unique(gid[candidate]):
                rows = np.flatnonzero(members & (gid == g))
                cells: dict[str, list[int]] = {}
                for i in rows:
                    cells.setdefault(labels[i], []).append(int(i))

                def describe(secret, extra, total=total, part_a=part_a, part_b=part_b):
                    if secret is None:
                        return (f"sekundärt prickat: annars kan värdet för {_label(total)} "
                                f"räknas fram ur {_label(part_a)} och {_label(part_b)}")
                    return (f"sekundärt prickat: annars kan värdet för {_label(secret)} "
                            f"räknas fram ur {_label(total)} och {_label(extra)}")

                changed |= _apply_partition(cells.get(total, []),
                                            {lab: cells[lab] for lab in (part_a, part_b)
                                             if lab in cells},
                                            status, reason, n, describe)
        if school_level:
            candidate = schools & (status == "suppressed")
            for g in pd.unique(hier_gid[candidate]):
                total_rows = [int(i) for i in np.flatnonzero(munis & (hier_gid == g))]
                part_rows: dict[str, list[int]] = {}
                for i in np.flatnonzero(schools & (hier_gid == g)):
                    part_rows.setdefault(str(df["school_id"].iat[i]), []).append(int(i))
                n_parts = np.array([n[r].sum() for r in part_rows.values()], dtype=float)
                n_total = n[total_rows].sum() if total_rows else np.nan
                # The schools partition the municipality only when their n's add up.
                if not total_rows or not np.isfinite(n_parts).all() \
                        or not np.isclose(n_parts.sum(), n_total):
                    continue

                def describe_school(secret, extra):
                    return ("sekundärt prickat: annars kan en prickad skolas värde räknas fram "
                            "ur kommunens värde och de övriga skolornas")

                changed |= _apply_partition(total_rows, part_rows, status, reason, n,
                                            describe_school)


def suppress_quality(df: pd.DataFrame, floors: Floors | Mapping[str, int] | None = None, *,
                     value_cols: Sequence[str] | None = None,
                     n_teachers_col: str = "n_teachers", n_obs_col: str = "n_obs",
                     suppressed_col: str = "suppressed",
                     reason_col: str = REASON_COLUMN) -> pd.DataFrame:
    """Suppress teaching-quality rows with too few teachers or observed lessons.

    Parameters
    ----------
    df : a teaching-quality table (e.g. ``teaching_quality(ds).tidy()``). Not changed.
    floors : :class:`Floors` (or a mapping); default fewer than 3 teachers or
        fewer than 5 observed lessons is suppressed.
    value_cols : the columns blanked in a suppressed row; default those of
        :data:`QUALITY_VALUE_COLUMNS` that are present.
    n_teachers_col, n_obs_col : the counts (``n_obs`` = distinct lessons).
    suppressed_col, reason_col : the flag and the Swedish reason, added or
        updated.

    Returns
    -------
    A new DataFrame; suppressed rows keep their ``n_*`` but have NaN in
    ``value_cols``, ``suppressed = True`` and a reason such as
    ``"för få lärare: 2 (minst 3)"``.

    Notes
    -----
    Missing data: a row whose teacher or lesson count is missing is
    suppressed ("antal lärare okänt"), because the floor cannot be checked.
    Rows already flagged ``suppressed`` stay suppressed with their reason.
    Applying the function twice gives the same table.
    """
    fl = as_floors(floors)
    _require_columns(df, [n_teachers_col, n_obs_col], "undervisningskvalitet")
    out = df.copy()
    if value_cols is None:
        vcols = [c for c in QUALITY_VALUE_COLUMNS if c in out.columns]
    else:
        vcols = list(value_cols)
        _require_columns(out, vcols, "undervisningskvalitet")
    nt = pd.to_numeric(out[n_teachers_col], errors="coerce").to_numpy(dtype=float)
    no = pd.to_numeric(out[n_obs_col], errors="coerce").to_numpy(dtype=float)
    before = (out[suppressed_col].fillna(False).astype(bool).to_numpy()
              if suppressed_col in out.columns else np.zeros(len(out), dtype=bool))
    old_reason = ([("" if pd.isna(r) else str(r)) for r in out[reason_col]]
                  if reason_col in out.columns else [""] * len(out))
    reasons: list[str] = []
    flags = np.zeros(len(out), dtype=bool)
    for i in range(len(out)):
        parts: list[str] = []
        if np.isnan(nt[i]):
            parts.append("antal lärare okänt")
        elif nt[i] < fl.teachers:
            parts.append(f"för få lärare: {int(nt[i])} (minst {fl.teachers})")
        if np.isnan(no[i]):
            parts.append("antal observerade lektioner okänt")
        elif no[i] < fl.obs:
            parts.append(f"för få observerade lektioner: {int(no[i])} (minst {fl.obs})")
        if before[i] and old_reason[i]:
            reasons.append(old_reason[i])
        else:
            reasons.append("; ".join(parts) if parts else ("prickat" if before[i] else ""))
        flags[i] = before[i] or bool(parts)
    for c in vcols:
        if flags.any():
            if not pd.api.types.is_float_dtype(out[c]):
                out[c] = out[c].astype("float64")
            out.loc[flags, c] = np.nan
    out[suppressed_col] = flags
    out[reason_col] = pd.Series(reasons, index=out.index, dtype=object)
    return out


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(float(value))
    return False


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


# Teacher identifiers ---------------------------------------------------------
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


__all__ = [*__all__, "MIN_PUPILS", "MIN_TEACHERS", "MIN_OBS", "Floors", "as_floors",
           "suppress_results", "suppress_quality", "format_value", "format_table",
           "teacher_columns", "assert_no_teacher_columns", "drop_teacher_identifiers"]
