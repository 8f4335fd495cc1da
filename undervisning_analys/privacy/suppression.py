"""Suppression: the one mechanism every output path (tables, plots, reports,
exports) goes through before a number leaves the package.

* Floors (:class:`Floors`): a value computed from fewer than ``MIN_PUPILS``
  (10) pupils is never shown, and a teaching-quality figure from fewer than
  ``MIN_TEACHERS`` (3) teachers or ``MIN_OBS`` (5) observed lessons is never
  shown. The floors can be raised, never lowered.
* Results-like tables (:func:`suppress_results`): a cell whose ``n`` is below
  the pupil floor gets ``value = NaN`` and ``status = "suppressed"``
  (displayed ``..``), the same convention as a cell Skolverket suppressed.
  ``n`` itself is kept, as Skolverket publishes it ("Antal elever").
* Secondary suppression: the totals ``all`` = ``girls`` + ``boys`` (column
  ``group``) and ``all`` = ``kommunal`` + ``enskild`` (column
  ``principal_type``) are partitions. Within one partition (same values in
  every key column), a suppressed cell can be recovered when the other two
  cells are shown: for counts by subtraction, for means and percentages
  with the n's shown by ``(n_all·v_all − n_other·v_other) / n_part``. Then a
  second cell is suppressed as well: the complementary part when a part was
  suppressed (the total stays visible), the part with the smaller n when the
  total was suppressed. The rule is applied until nothing changes, so that
  suppressions in one partition propagate to the other. A cell counts as
  shown when its status is ``ok`` or ``approx_100`` (``~100`` gives a bound);
  ``missing`` and other markers are not shown but are not secret either.
  The rule is conservative: it does not check whether the n's are shown.
* The same rule applies to the schools of a municipality: when the school
  rows' n's add up to the municipality row's n (same year, measure, group,
  principal type), the schools partition the municipality, and a single
  suppressed school could be recovered from the municipality value and the
  other schools. Then the shown school with the smallest n is suppressed
  too. When the n's do not add up (schools missing from the table) or are
  unknown, the remainder hides the school and nothing more is suppressed.
* In general, for a total T with parts P1..Pk: if T and all parts but one
  are shown and that one is suppressed, the shown part with the smallest n
  is suppressed as well; if T is suppressed and all parts are shown, the
  smallest part is suppressed.
* Teaching-quality tables (:func:`suppress_quality`): a row with fewer than 3
  teachers or 5 observed lessons (or an unknown count) keeps its ``n_*`` but
  ``estimate``, ``se``, ``conf_low`` and ``conf_high`` become NaN,
  ``suppressed = True`` and ``suppression_reason`` says why in Swedish.
  Model-based municipality or area estimates cannot be solved for a school
  estimate, so no secondary suppression applies here.
* Observer roles (:func:`suppress_observer_roles`): a per-role figure from
  fewer than ``MIN_OBSERVERS_PER_ROLE`` (3) observers is blanked.
* No individual teacher: :mod:`undervisning_analys.privacy.teachers`.
  Display strings: :mod:`undervisning_analys.privacy.display`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import SuppressedValueError
from ..schema import LABELS_SV
from .floors import MIN_OBSERVERS_PER_ROLE, Floors, as_floors

__all__ = ["QUALITY_VALUE_COLUMNS", "REASON_COLUMN", "RESULTS_PARTITIONS",
           "suppress_observer_roles", "suppress_quality", "suppress_results"]


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
    Rules (see this module's docstring): primary suppression where
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


def suppress_observer_roles(df: pd.DataFrame, value_cols: Sequence[str] = ("mean_deviation",),
                            *, n_col: str = "n_observers",
                            suppressed_col: str = "suppressed") -> pd.DataFrame:
    """Blank the rows of a per-role observer table with too few observers.

    Parameters
    ----------
    df : one row per observer role with the number of observers (``n_col``).
        Not changed.
    value_cols : the columns blanked (NaN) in a suppressed row.
    n_col, suppressed_col : the count and the flag (added or replaced).

    Returns
    -------
    A new DataFrame in which a role with fewer than
    :data:`~undervisning_analys.privacy.floors.MIN_OBSERVERS_PER_ROLE`
    observers (or an unknown count) has ``suppressed = True`` and NaN in
    ``value_cols``: a figure from fewer observers would describe individuals.
    """
    _require_columns(df, [n_col, *value_cols], "observatörernas roller")
    out = df.copy()
    n = pd.to_numeric(out[n_col], errors="coerce")
    flags = ~(n >= MIN_OBSERVERS_PER_ROLE)
    out[suppressed_col] = flags.to_numpy(dtype=bool)
    for c in value_cols:
        if flags.any():
            if not pd.api.types.is_float_dtype(out[c]):
                out[c] = out[c].astype("float64")
            out.loc[flags.to_numpy(dtype=bool), c] = np.nan
    return out


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(float(value))
    return False
