"""Pupil grades -> school results out of core: DuckDB over Parquet.

For pupil-level data larger than memory (national registers: hundreds of
millions of grade rows), :func:`aggregate_parquet` computes the same school
(or municipality) results as the in-memory
:func:`undervisning_analys.io.pupils.aggregate_pupil_grades`, row for row and
value for value, but streams the grade rows from Parquet files through
DuckDB, which spills to disk when its memory limit is reached. Only one row
per unit × school year × group comes back to Python.

The way in::

    from undervisning_analys.io import outofcore
    files = outofcore.pupil_grades_to_parquet(sorted(folder.glob("*.txt")), "parkett/",
                                              key=...)   # one SCB file in memory at a time
    results = outofcore.aggregate_parquet("parkett/")    # a canonical results table

or, for a ``pupil_results`` table already in memory, :func:`to_parquet`.

DuckDB is an optional dependency (``pip install duckdb``, in the ``dev``
extra); it is imported only when a function here needs it, and its absence
is a Swedish error that says how to install it.

Decisions
---------
* The Parquet files hold the canonical ``pupil_results`` columns plus
  ``sex`` (``girls``/``boys``/null, from ``attrs["sex"]`` of
  :func:`read_pupil_grades`) and ``row_order`` (the row's position in the
  concatenated input), so that "the school and year of the pupil's first
  graded row", which the in-memory path uses, is the same here. No
  personnummer or name is ever written: the rows are the pseudonymised
  output of :func:`read_pupil_grades`.
* Definitions are those of :func:`aggregate_pupil_grades` (Skolverket's):
  meritvärde 16 = the 16 best compulsory grades, meritvärde 17 adds the best
  modern language (M1/M2), averages over pupils with meritvärde ≥ 10, pass in
  all subjects = E or better in every subject graded A–F or ``-``, eligible =
  E or better in Sv/Sva, En and Ma and in five further subjects. DuckDB
  returns per group the counts and the exact sums of grade points (multiples
  of 2.5, so the sums are exact in any order); the averages, shares,
  rounding and the ``..``/``~100`` markers are then computed exactly as the
  in-memory path does.

Missing data: rows whose ``points`` are missing (codes ``3`` and ``2``) do
not count, as in the in-memory path; pupils without a known sex count only in
the group ``all``.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..errors import FileFormatError, UAError
from ..privacy import MIN_PUPILS
from .pupils import _PASS, COMPULSORY, MODERN_LANGUAGES, published_rows, results_table

__all__ = ["to_parquet", "pupil_grades_to_parquet", "aggregate_parquet", "PARQUET_COLUMNS"]

PARQUET_COLUMNS: tuple[str, ...] = ("pupil_id", "school_id", "school_year", "grade_level",
                                     "subject", "grade", "points", "sex", "row_order")
"""Columns of the Parquet files this module writes and reads."""

_SOURCE_KEY = b"undervisning_analys.source"
_CORE = ("Sv", "Sva", "En", "Ma")
_MEASURES = ("merit_17", "merit_16", "pass_all_subjects_pct", "eligible_vocational_pct")


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:
        raise UAError(
            "Beräkningen utanför minnet kräver paketet duckdb, som inte är installerat",
            hint="Installera det med `pip install duckdb` (eller `pip install -e \".[dev]\"`), "
                 "eller använd aggregate_pupil_grades i minnet för data som ryms där") from exc
    return duckdb


def _pyarrow() -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


# --------------------------------------------------------------------------- #
# writing
# --------------------------------------------------------------------------- #
def to_parquet(pupil_results: pd.DataFrame, path: str | Path,
               sex: Mapping[str, str] | None = None, *, row_offset: int = 0,
               source: str | None = None) -> Path:
    """Write a ``pupil_results`` table (and the pupils' sex) as one Parquet file.

    Parameters
    ----------
    pupil_results : the canonical table, e.g. from :func:`read_pupil_grades`.
    path : the file written.
    sex : pupil_id -> ``"girls"``/``"boys"``; default ``pupil_results.attrs["sex"]``.
    row_offset : added to the row positions (when several tables make one input).
    source : recorded in the file's metadata (default ``attrs["source"]``).
    """
    pa, pq = _pyarrow()
    sex_map = dict(sex if sex is not None else pupil_results.attrs.get("sex", {}))
    df = pd.DataFrame({
        "pupil_id": pupil_results["pupil_id"].astype(str).to_numpy(),
        "school_id": pupil_results["school_id"].astype(str).to_numpy(),
        "school_year": pupil_results["school_year"].astype(str).to_numpy(),
        "grade_level": pupil_results["grade_level"].astype("Int64").to_numpy(),
        "subject": pupil_results["subject"].astype(str).to_numpy(),
        "grade": pupil_results["grade"].astype(object).to_numpy(),
        "points": pupil_results["points"].astype(float).to_numpy(),
    })
    df["sex"] = df["pupil_id"].map(sex_map)
    df["row_order"] = pd.RangeIndex(row_offset, row_offset + len(df)).to_numpy(dtype="int64")
    table = pa.Table.from_pandas(df, preserve_index=False)
    src = source or pupil_results.attrs.get("source")
    if src:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               _SOURCE_KEY: str(src).encode("utf-8")})
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out, compression="zstd")
    return out


def pupil_grades_to_parquet(paths: Iterable[str | Path], out_dir: str | Path,
                            key: str | bytes | None = None, *,
                            school_year: str | None = None) -> list[Path]:
    """Read SCB pupil files one at a time and write each as Parquet in ``out_dir``.

    Each file goes through :func:`read_pupil_grades` (pseudonymised at read;
    without a key nothing is read), so memory is bounded by the largest single
    file, not by their sum. Returns the Parquet files in input order.
    """
    from .pupils import read_pupil_grades

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    offset = 0
    for k, p in enumerate(paths):
        pr = read_pupil_grades(p, key, school_year=school_year)
        written.append(to_parquet(pr, out / f"{k:04d}_{Path(p).stem}.parquet",
                                  row_offset=offset))
        offset += len(pr)
    return written


# --------------------------------------------------------------------------- #
# aggregating
# --------------------------------------------------------------------------- #
def _files(source: str | Path | Sequence[str | Path]) -> list[str]:
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.is_dir():
            files = sorted(str(f) for f in p.glob("*.parquet"))
        elif any(ch in str(source) for ch in "*?["):
            files = sorted(glob.glob(str(source)))
        else:
            files = [str(p)] if p.exists() else []
    else:
        files = [str(Path(f)) for f in source]
        missing = [f for f in files if not Path(f).exists()]
        if missing:
            raise FileFormatError("Parquet-filen finns inte", file=missing[0],
                                  hint="Ange befintliga filer skrivna med to_parquet eller "
                                       "pupil_grades_to_parquet")
    if not files:
        raise FileFormatError(f"Inga Parquet-filer hittades i {source}", file=None,
                              hint="Skriv filerna med pupil_grades_to_parquet eller to_parquet")
    return files


def _default_source(files: list[str]) -> str:
    """The in-memory default: the sources joined as :func:`concat_pupil_grades` joins them.

    One input: its source (the SCB file's name); several: their names, sorted
    and joined with ", "; no recorded source: ``"elevbetyg"``.
    """
    _, pq = _pyarrow()
    sources: set[str] = set()
    for f in files:
        meta = pq.read_schema(f).metadata or {}
        src = meta.get(_SOURCE_KEY, b"").decode("utf-8")
        if src:
            sources.add(src)
    return ", ".join(sorted(sources)) if sources else "elevbetyg"


def _quoted(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _sql(level: str) -> str:
    passed = f"grade IN ({_quoted(_PASS)})"
    unit = "school_id" if level == "school" else "NULL"
    # One pass over the grade rows, grouped by pupil (DuckDB's hash aggregate
    # spills to disk beyond memory_limit); meritvärde 16 is the sum of the 16
    # largest compulsory points, taken from the pupil's sorted list of points
    # (a window function over all rows was 2-30x slower and spilled sooner).
    return f"""
WITH per AS (
    SELECT pupil_id,
           arg_min(school_id, row_order) AS school_id,
           arg_min(school_year, row_order) AS school_year,
           max(sex) AS sex,
           bool_and({passed}) AS pass_all,
           list_sum(list_slice(list_reverse_sort(
               list(points) FILTER (WHERE subject IN ({_quoted(COMPULSORY)}))), 1, 16)) AS m16,
           max(points) FILTER (WHERE subject IN ({_quoted(MODERN_LANGUAGES)})) AS ml,
           bool_or({passed} AND subject IN ('Sv', 'Sva')) AS has_sv,
           bool_or({passed} AND subject = 'En') AS has_en,
           bool_or({passed} AND subject = 'Ma') AS has_ma,
           count(*) FILTER (WHERE {passed} AND subject NOT IN ({_quoted(_CORE)})) AS n_other
    FROM read_parquet($files)
    WHERE points IS NOT NULL AND NOT isnan(points)
    GROUP BY pupil_id
),
pp AS (
    SELECT school_id, school_year, sex, pass_all,
           coalesce(m16, 0.0) AS merit_16,
           coalesce(m16, 0.0) + coalesce(ml, 0.0) AS merit_17,
           (has_sv AND has_en AND has_ma AND n_other >= 5) AS eligible
    FROM per
),
grouped AS (
    SELECT 'all' AS grp, * FROM pp
    UNION ALL
    SELECT sex AS grp, * FROM pp WHERE sex IN ('girls', 'boys')
)
SELECT grp, {unit} AS unit, school_year,
       count(*) AS n,
       coalesce(sum(merit_17) FILTER (WHERE merit_17 >= 10), 0.0) AS s17,
       count(*) FILTER (WHERE merit_17 >= 10) AS n17,
       coalesce(sum(merit_16) FILTER (WHERE merit_16 >= 10), 0.0) AS s16,
       count(*) FILTER (WHERE merit_16 >= 10) AS n16,
       count(*) FILTER (WHERE pass_all) AS n_pass,
       count(*) FILTER (WHERE eligible) AS n_elig
FROM grouped
GROUP BY ALL
"""


def aggregate_parquet(source: str | Path | Sequence[str | Path], *,
                      level: Literal["school", "municipality"] = "school",
                      municipality_id: str | None = None, min_pupils: int = MIN_PUPILS,
                      source_name: str | None = None, memory_limit: str | None = None,
                      threads: int | None = None,
                      temp_directory: str | Path | None = None) -> pd.DataFrame:
    """School (or municipality) results from Parquet pupil grades, computed in DuckDB.

    Gives the same table as :func:`aggregate_pupil_grades` on the same rows
    (tested on the synthetic sample), without holding the grade rows in memory.

    Parameters
    ----------
    source : a Parquet file, a folder of them, a glob pattern, or a list of
        files, written by :func:`to_parquet` / :func:`pupil_grades_to_parquet`.
    level, municipality_id, min_pupils : as in :func:`aggregate_pupil_grades`.
    source_name : the ``source`` column (default: the inputs' sources as
        :func:`concat_pupil_grades` joins them, else ``"elevbetyg"``).
    memory_limit : DuckDB's memory limit, e.g. ``"1GB"``; beyond it DuckDB
        spills to ``temp_directory``.
    threads : DuckDB worker threads (default: all cores).

    Returns
    -------
    A canonical ``results`` table (see :func:`aggregate_pupil_grades`).

    Notes
    -----
    Missing data: grade rows without points (codes ``3``, ``2``) do not count;
    pupils without a known sex count only in the group ``all``.
    """
    if level not in ("school", "municipality"):
        raise ValueError("level must be 'school' or 'municipality'")
    if level == "municipality" and municipality_id is None:
        raise ValueError("level='municipality' needs municipality_id")
    files = _files(source)
    duckdb = _duckdb()
    src = source_name or _default_source(files)
    con = duckdb.connect(":memory:")
    try:
        if memory_limit is not None:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        if temp_directory is not None:
            con.execute(f"SET temp_directory = '{Path(temp_directory)}'")
        con.execute("SET preserve_insertion_order = false")
        agg = con.execute(_sql(level), {"files": files}).df()
    finally:
        con.close()
    return _publish(agg, level=level, municipality_id=municipality_id, min_pupils=min_pupils,
                    source=src)


def _publish(agg: pd.DataFrame, *, level: str, municipality_id: str | None, min_pupils: int,
             source: str) -> pd.DataFrame:
    """Group counts and sums -> published results rows, exactly as the in-memory path."""
    rows: list[dict[str, Any]] = []
    unit_of = (lambda u: u) if level == "school" else (lambda u: municipality_id)
    for group in ("all", "girls", "boys"):
        sub = agg[agg["grp"] == group].copy()
        sub["unit"] = [unit_of(u) for u in sub["unit"]]
        sub = sub.sort_values(["unit", "school_year"], kind="stable")
        for r in sub.itertuples(index=False):
            n = int(r.n)
            vals = {
                "merit_17": float(r.s17) / int(r.n17) if int(r.n17) else math.nan,
                "merit_16": float(r.s16) / int(r.n16) if int(r.n16) else math.nan,
                "pass_all_subjects_pct": int(r.n_pass) / n * 100,
                "eligible_vocational_pct": int(r.n_elig) / n * 100,
            }
            not_reached = {"pass_all_subjects_pct": n - int(r.n_pass),
                           "eligible_vocational_pct": n - int(r.n_elig)}
            base = {"level": level, "school_id": r.unit if level == "school" else None,
                    "municipality_id": municipality_id, "school_year": r.school_year,
                    "group": group, "principal_type": "all", "n": n, "source": source}
            rows.extend(published_rows(base, n, {m: vals[m] for m in _MEASURES},
                                       not_reached, min_pupils))
    return results_table(rows, source)
