"""A municipality's folder, as people keep it -> one validated Dataset.

:func:`load_folder` reads every file in a folder and its subfolders (hidden files
and folders, and ``*.md`` notes, left out), reads what it can, and names what it
did not read and why. One unknown or damaged statistics file never stops the rest.

How a file is recognised (in this order):

==============================  ===============================================
file                            read as
==============================  ===============================================
``kolumner*.yaml``              column file for the observation exports
                                (:func:`~undervisning_analys.io.observations.load_column_spec`):
                                mapping, derived and fixed columns, the rule
                                for corrected forms (``dubbletter: senaste``)
other ``*.yaml``/``*.yml``      the observation protocol (the first one; else
                                the default protocol)
``skolregister*``               the school register (read first)
``observation*``                an observation export (checked against the
                                register and the protocol)
``plan*``, ``dialog*``          plans and dialogue notes (xlsx/yaml), read last
                                against the data (``_read_plan_files``)
``*.json``                      Skolverket API v4 responses, read together as one
                                folder (list responses give municipalities; see
                                :mod:`.skolverket_api`), and Kolada responses
any file in :data:`READERS`     the first reader whose detector accepts it
                                (Skolenkäten, pupil-level attendance, the
                                organiser's own measures, Skolverket exports)
anything else                   not read: named with the reason
==============================  ===============================================

:data:`READERS` is a table of ``(detector, reader, label)``: ``detector(path)``
says whether the file is one of its kind (cheaply, from the name and the first
bytes), ``reader(path)`` returns a canonical table (``attrs["table"]``) or a list
of them. A new source is added with one line::

    READERS.insert(0, (is_my_format, read_my_format, "Mitt format"))

Decisions
---------
* Errors. The register, the observation exports and the protocol are the
  municipality's own files: an error in them stops the reading with the file's own
  row and column (the analysis would be wrong without them). Any other file that
  cannot be read, or whose kind is unknown, is *not read*: it gets a
  :class:`~undervisning_analys.dataset.ProvenanceRecord` with ``loader ==
  "inte inläst"``, ``table == ""`` and the reason (the error's Swedish message)
  in ``notes``, and a line in ``Dataset.checks``. ``validera`` lists them and
  exits with status 1 (see :mod:`undervisning_analys.cli`).
* The same file twice (identical bytes, e.g. downloaded twice: ``fil (1).csv``)
  is read once; the copy is named as a duplicate. The same report as CSV and as
  XLSX (the same units, years, measures and groups) is read once: the first in
  precedence order is kept, the other named.
* Reference data. The municipality's own units are the register's schools and
  the register's municipality codes. Results and background rows for other
  municipalities (a national export of 290 municipalities) and for school units
  outside the register are kept apart in ``Dataset.reference_results`` /
  ``reference_background`` (for comparisons and the background model), never in
  ``results``/``background``; their number is written in ``checks``. National
  rows (``level == "national"``) stay in ``results``: they are the comparison the
  reports draw.
* Reconciliation. When two sources give the same unit, school year, measure,
  group and principal type, one value is kept by this precedence
  (:data:`PRECEDENCE`): a Skolverket export with the pupil count ``n`` before one
  without, an export before the API (which gives no pupil counts), the API
  before Kolada, other sources last; within the same rank, the file that comes
  first by its path in the folder. ``checks`` says, per pair of files, how many
  values were kept from which file and not from which.
* Overlap. For each results source, the number of the register's schools it
  covers, by school year, and how many of the schools observed that year it
  covers; an empty or small overlap (under half of the register's schools, or no
  observed school) is a Swedish warning that names the files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from .._beside import Beside
from ..dataset import Dataset, ProvenanceRecord, sha256_of
from ..errors import FileFormatError, UAError
from ..instruments import Instrument, load_instrument
from . import _common as c
from . import local_measures

NOT_READ = "inte inläst"
"""``ProvenanceRecord.loader`` of a file the folder reader did not read."""

Reader = Callable[[Path], Any]
Detector = Callable[[Path], bool]

PRECEDENCE: tuple[tuple[str, str], ...] = (
    ("export_n", "Skolverket-export med elevantal"),
    ("export", "Skolverket-export"),
    ("pupils", "elevbetyg (aggregerade)"),
    ("api", "Skolverkets API"),
    ("kolada", "Kolada"),
    ("other", "annan källa"),
)
"""Reconciliation order of results sources (first kept); see the module docstring."""
_RANK = {k: i for i, (k, _) in enumerate(PRECEDENCE)}
_RANK_SV = dict(PRECEDENCE)

_COPY_RE = re.compile(r"\(\d+\)$|\bkopia\b|\bcopy\b|\bkopi\b", re.IGNORECASE)

_RESULT_KEYS = ["level", "school_id", "municipality_id", "school_year", "measure", "group",
                "principal_type"]
_BACKGROUND_KEYS = ["level", "school_id", "municipality_id", "school_year"]


# --------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------
def _head_text(p: Path, size: int = 8192) -> str:
    try:
        data = p.read_bytes()[:size]
    except OSError:
        return ""
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc, errors="strict" if enc == "utf-8-sig" else "replace")
        except UnicodeDecodeError:
            continue
    return ""


def _xlsx_head(p: Path, rows: int = 12) -> tuple[list[str], str]:
    """(sheet names, text of the first rows of every sheet) of a workbook, cheaply."""
    try:
        import openpyxl

        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError):
        return [], ""
    try:
        texts: list[str] = []
        for ws in wb.worksheets:
            for k, row in enumerate(ws.iter_rows(values_only=True)):
                if k >= rows:
                    break
                texts.extend(str(x) for x in row[:12] if x is not None)
        return list(wb.sheetnames), " ".join(texts)
    finally:
        wb.close()


def is_pupil_grades(p: Path) -> bool:
    """SCB's record format: a header with ``PersonNr`` or three of its variables, or a
    first line of the format's width whose fourth field is a personnummer."""
    if p.suffix.lower() not in (".txt", ".csv", ".skv"):
        return False
    from ..privacy import is_personnummer
    from .pupils import SPEC_ORDER

    first = _head_text(p, 4096).splitlines()[:1]
    if not first:
        return False
    cells = [x.strip() for x in first[0].split(";")]
    names = {c.fold(x) for x in cells}
    spec = {c.fold(x) for x in SPEC_ORDER}
    if "personnr" in names or len(names & spec) >= 3:
        return True
    return len(cells) in (len(SPEC_ORDER), len(SPEC_ORDER) + 1) and is_personnummer(cells[3])


def is_skolverket_export(p: Path) -> bool:
    """A "Sök statistik" export: its preamble names Skolverket, or a row has the key
    column ``Kommun-kod``/``Skol-enhetskod`` (CSV), or a sheet does (XLSX)."""
    if p.suffix.lower() == ".csv":
        text = _head_text(p)
    elif p.suffix.lower() == ".xlsx":
        text = _xlsx_head(p, rows=20)[1]
    else:
        return False
    t = c.norm(text)
    return "statistik från skolverket" in t or "skol-enhetskod" in t or "kommun-kod" in t \
        or "kommunkod" in t.replace("-", "")


def is_skolenkaten(p: Path) -> bool:
    """Skolinspektionen's Skolenkäten "excelrapport"."""
    if p.suffix.lower() != ".xlsx":
        return False
    names, text = _xlsx_head(p, rows=4)
    t = c.norm(" ".join(names) + " " + text)
    return "skolenkät" in t or ("resultat elever" in t and "förklaring" in t)


def _read_skolverket(p: Path) -> list[pd.DataFrame]:
    from .skolverket import load_tables

    return [c.publish(t) for t in load_tables(p)]


def _municipalities(register: pd.DataFrame | None) -> dict[str, str] | None:
    if register is None or not len(register):
        return None
    m = register[["municipality_name", "municipality_id"]].dropna().drop_duplicates(
        "municipality_name")
    return dict(zip(m["municipality_name"].astype(str), m["municipality_id"].astype(str),
                    strict=True))


def _read_skolenkaten(p: Path, *, register: pd.DataFrame | None = None) -> Any:
    from .skolenkaten import read_skolenkaten

    return read_skolenkaten(p, municipalities=_municipalities(register))


def _read_local_measures(p: Path, *, register: pd.DataFrame | None = None) -> Any:
    return local_measures.with_register(local_measures.read_local_measures(p), register)


def _read_pupil_attendance(p: Path, *, key: str | None = None,
                           register: pd.DataFrame | None = None) -> Any:
    return local_measures.with_register(local_measures.read_pupil_attendance(p, key=key),
                                        register)


READERS: list[tuple[Detector, Reader, str]] = [
    (is_skolenkaten, _read_skolenkaten, "Skolenkäten"),
    (local_measures.is_pupil_attendance, _read_pupil_attendance, "Närvaro på elevnivå"),
    (local_measures.is_local_measures, _read_local_measures, "Egna mått"),
    (is_skolverket_export, _read_skolverket, "Skolverket-export"),
]
"""The folder reader's table of ``(detector, reader, label)``, consulted in order for
every file that is not a register, an observation export, a protocol or JSON. A reader
that takes the keyword ``register`` (the school register, read first) or ``key`` (the
pseudonymisation key given to :func:`load_folder`) is given them."""

_CONTEXT_KEYWORDS = ("register", "key")


def _call_reader(read: Reader, p: Path, context: dict[str, Any]) -> Any:
    """``read(p)`` with the keywords of ``context`` its signature names."""
    import inspect

    params = inspect.signature(read).parameters
    return read(p, **{k: v for k, v in context.items() if k in params})


# --------------------------------------------------------------------------
# The folder
# --------------------------------------------------------------------------
def _files(folder: Path) -> list[Path]:
    out = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder).parts
        if p.is_file() and not any(part.startswith((".", "~$")) for part in rel):
            out.append(p)
    return sorted(out, key=lambda p: p.relative_to(folder).parts)


class _Reading:
    """What has been read so far, and what not."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.prov: list[ProvenanceRecord] = []
        self.tables: dict[str, list[tuple[pd.DataFrame, Path | None, str]]] = {
            t: [] for t in ("schools", "observations", "results", "background",
                            "pupil_results")}
        self.checks: list[str] = []
        self.not_read: list[tuple[str, str]] = []

    def rel(self, p: Path) -> str:
        return str(p.relative_to(self.folder)) if p.is_relative_to(self.folder) else p.name

    def skip(self, p: Path, reason: str) -> None:
        self.not_read.append((self.rel(p), reason))
        self.prov.append(ProvenanceRecord(path=self.rel(p), sha256=sha256_of(p), loader=NOT_READ,
                                          table="", rows_read=0, rows_kept=0,
                                          notes=(reason,)))

    def add(self, df: pd.DataFrame, p: Path | None, kind: str) -> None:
        table = df.attrs.get("table")
        if "provenance" in df.attrs:
            self.prov.append(df.attrs["provenance"])
        if table not in self.tables:
            raise FileFormatError(f"Inläsaren gav tabellen {table!r}, som datamängden saknar",
                                  file=p, hint="Rapportera felet till paketets utvecklare")
        self.tables[table].append((df, p, kind))


def _concat(frames: list[pd.DataFrame], table: str) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return schema.empty(table)
    out = pd.concat(frames)
    out.attrs = {"source": ", ".join(sorted({f.attrs.get("source", "?") for f in frames}))}
    return out


def _result_kind(df: pd.DataFrame, kind: str) -> np.ndarray:
    """Precedence rank of every row of one source."""
    if kind == "export":
        return np.where(df["n"].notna().to_numpy(), _RANK["export_n"], _RANK["export"])
    return np.full(len(df), _RANK.get(kind, _RANK["other"]))


class _Keys:
    """A table's distinct key rows (as text), and each key column's set of values."""

    def __init__(self, df: pd.DataFrame, keys: list[str]) -> None:
        self.rows = df[keys].astype(str).drop_duplicates()
        self.values = [frozenset(self.rows[k].tolist()) for k in keys]


def _same_report(a: _Keys, b: _Keys) -> bool:
    """The same distinct key rows: compared column by column first (a table of other
    school years differs there at once), then row by row."""
    if len(a.rows) != len(b.rows) or a.values != b.values:
        return False
    return a.rows.merge(b.rows, how="inner").shape[0] == len(a.rows)


def _drop_duplicate_sources(r: _Reading, table: str, keys: list[str]) -> None:
    """The same report as CSV and XLSX (or saved twice under other names): keep one."""
    items = r.tables[table]
    keep: list[tuple[pd.DataFrame, Path | None, str]] = []
    key_of: dict[int, _Keys] = {}  # by id(): every table here is alive until the end

    def keyset(df: pd.DataFrame) -> _Keys:
        if id(df) not in key_of:
            key_of[id(df)] = _Keys(df, keys)
        return key_of[id(df)]

    for df, p, kind in items:
        twin = next((k for k in keep if len(df) and k[2] == kind
                     and k[0].attrs.get("report") == df.attrs.get("report")
                     and _same_report(keyset(k[0]), keyset(df))), None)
        if twin is not None:
            src, kept = (r.rel(p) if p else "?"), (r.rel(twin[1]) if twin[1] else "?")
            r.checks.append(f"Dubblett: {src} innehåller samma rapport som {kept} (samma "
                            f"enheter, läsår och mått); {kept} behölls, {src} lästes inte in "
                            f"en gång till")
            r.prov = [pr if pr is not df.attrs.get("provenance") else ProvenanceRecord(
                path=pr.path, sha256=pr.sha256, loader=pr.loader, table=pr.table,
                rows_read=pr.rows_read, rows_kept=0,
                dropped={f"dubblett av {kept}": pr.rows_kept}, notes=pr.notes) for pr in r.prov]
            continue
        keep.append((df, p, kind))
    r.tables[table] = keep


def _split_reference(df: pd.DataFrame, own_schools: set[str], own_munis: set[str]
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    lvl = df["level"].astype(str)
    own = ((lvl == "national")
           | ((lvl == "school") & df["school_id"].isin(own_schools))
           | (lvl.isin(["municipality", "organiser"]) & df["municipality_id"].isin(own_munis)))
    own = own.to_numpy()
    return df[own], df[~own]


def _reconcile(r: _Reading, frames: list[tuple[pd.DataFrame, Path | None, str]]
               ) -> pd.DataFrame:
    """One value per unit, year, measure, group and principal type, by PRECEDENCE."""
    if not frames:
        return schema.empty("results")
    parts = []
    for order, (df, p, kind) in enumerate(frames):
        if not len(df):
            continue
        d = df.copy()
        d.attrs = {}
        d["_rank"] = _result_kind(df, kind)
        d["_order"] = order
        d["_file"] = p.name if p else str(df.attrs.get("source", "?"))
        parts.append(d)
    if not parts:
        return schema.empty("results")
    allr = pd.concat(parts)
    keys = allr[_RESULT_KEYS].astype(str)
    dup = keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return pd.concat([df for df, _, _ in frames if len(df)]) if len(parts) > 1 else \
            frames[[len(f[0]) > 0 for f in frames].index(True)][0]
    pos = pd.RangeIndex(len(allr))
    allr = allr.set_axis(pos)
    keys = keys.set_axis(pos)
    sub = allr[dup].sort_values(["_rank", "_order"], kind="stable")
    winner = sub.groupby([keys.loc[sub.index, k] for k in _RESULT_KEYS], sort=False,
                         observed=True).head(1).index
    losers = sub.index.difference(winner)
    # report, per pair of files, what was kept from which
    kept_of = {}
    for i in winner:
        kept_of[tuple(keys.loc[i])] = i
    pairs: Counter = Counter()
    for i in losers:
        w = kept_of[tuple(keys.loc[i])]
        pairs[(allr.at[w, "_file"], int(allr.at[w, "_rank"]), allr.at[i, "_file"],
               int(allr.at[i, "_rank"]))] += 1
    for (wf, wr, lf, lr), n in sorted(pairs.items()):
        why = (f"{_RANK_SV[PRECEDENCE[wr][0]]} före {_RANK_SV[PRECEDENCE[lr][0]].lower()}"
               if wr != lr else "samma slags källa: filen som kommer först i mappen")
        r.checks.append(f"Avstämning: {n} värden fanns både i {wf} och i {lf} (samma enhet, "
                        f"läsår och mått); värdet från {wf} behölls ({why})")
    keep = pd.Series(True, index=pos)
    keep.loc[losers] = False
    out = allr[keep.to_numpy()]
    # the loser rows are counted where their file's provenance is
    lost = Counter(allr.loc[losers, "_file"])
    r.prov = [pr if pr.path not in lost else
              ProvenanceRecord(path=pr.path, sha256=pr.sha256, loader=pr.loader, table=pr.table,
                               rows_read=pr.rows_read,
                               rows_kept=pr.rows_kept - lost.get(pr.path, 0),
                               dropped={**pr.dropped, "värden som också fanns i en källa med "
                                        "företräde (se avstämningen)": lost.get(pr.path, 0)},
                               notes=pr.notes) for pr in r.prov]
    return out.drop(columns=["_rank", "_order", "_file"])


def _overlap(r: _Reading, schools: pd.DataFrame, obs: pd.DataFrame,
             frames: list[tuple[pd.DataFrame, Path | None, str]]) -> None:
    reg = set(schools["school_id"])
    observed: dict[str, set[str]] = {}
    if len(obs):
        for sy, g in obs.groupby("school_year", observed=True):
            observed[str(sy)] = set(g["school_id"].unique())
    reg_name = ", ".join(sorted({str(df.attrs.get("source", "?"))
                                 for df, _, _ in r.tables["schools"]})) or "skolregistret"
    for df, p, _kind in frames:
        if not len(df) or not (df["level"].astype(str) == "school").any():
            continue
        name = r.rel(p) if p else str(df.attrs.get("source", "?"))
        school_rows = df[df["level"].astype(str) == "school"]
        by_year = school_rows.groupby("school_year", observed=True)["school_id"].agg(set)
        parts = []
        small = []
        for sy, ids in sorted(by_year.items()):
            shared = ids & reg
            obs_y = observed.get(str(sy), set())
            part = f"{sy}: {len(shared)} av registrets {len(reg)} skolor"
            if obs_y:
                part += f", {len(ids & obs_y)} av de {len(obs_y)} observerade"
            parts.append(part)
            if len(shared) == 0 or len(shared) < len(reg) / 2 or (obs_y and not ids & obs_y):
                small.append(str(sy))
        r.checks.append(f"Överlapp: {name} – " + "; ".join(parts))
        if small:
            r.checks.append(
                f"Varning: resultaten i {name} har få eller inga skolenheter gemensamma med "
                f"skolregistret ({reg_name}) eller observationerna för läsåren "
                f"{', '.join(small)}. Kontrollera att filen gäller kommunens skolor och rätt "
                f"läsår, och att skolenhetskoderna i skolregistret är Skolverkets")


def load_folder(path: str | Path, *, instrument: Instrument | str | Path | None = None,
                key: str | None = None, columns: str | Path | None = None) -> Dataset:
    """Read a municipality's folder (any layout, subfolders too) into a validated Dataset.

    Every file is read or named: what was not read is in ``Dataset.provenance``
    (``loader == "inte inläst"``, the reason in ``notes``) and ``Dataset.checks``.
    See the module docstring for how files are recognised, reconciled and checked.

    Parameters
    ----------
    path : the folder.
    instrument : the observation protocol (default: the folder's ``*.yaml``, else the
        package's default protocol).
    key : the pseudonymisation key for pupil-grade files and for teacher and observer
        names in observation exports (default: the environment variable
        ``UA_PSEUDONYM_KEY``); without one pupil-grade files are not read (named), and an
        observation export with names is refused.
    columns : a column file for the observation exports (default: the folder's
        ``kolumner*.yaml``); see :func:`~undervisning_analys.io.observations.load_column_spec`.

    Raises
    ------
    FileFormatError
        The folder does not exist or has no school register.
    UAError
        An error in the register, an observation export or the protocol (with the
        file's own row and column).
    """
    from . import kolada as _kolada
    from . import observations as _obs
    from . import pupils as _pupils
    from . import schools as _schools
    from . import skolverket_api as _api

    folder = Path(path)
    if not folder.is_dir():
        raise FileFormatError(f"Mappen {folder} finns inte",
                              hint="Ange en mapp med kommunens filer, som i data/sample")
    r = _Reading(folder)
    files = _files(folder)
    # the same bytes twice: read once
    by_hash: dict[str, list[Path]] = {}
    for p in files:
        by_hash.setdefault(hashlib.sha256(p.read_bytes()).hexdigest(), []).append(p)
    copies: set[Path] = set()
    for h, same in by_hash.items():
        if len(same) < 2:
            continue
        # keep the one that is not named as a copy ("fil (1).csv", "kopia av …")
        first = min(same, key=lambda x: (bool(_COPY_RE.search(x.stem)), len(x.name),
                                         x.relative_to(folder).parts))
        for p in same:
            if p is first:
                continue
            copies.add(p)
            r.checks.append(f"Dubblett: {r.rel(p)} är samma fil som {r.rel(first)} (samma "
                            f"innehåll); den lästes en gång")
            r.prov.append(ProvenanceRecord(path=r.rel(p), sha256=h, loader=NOT_READ, table="",
                                           rows_read=0, rows_kept=0,
                                           notes=(f"samma fil som {r.rel(first)}",)))
    files = [p for p in files if p not in copies]
    # plans and dialogue notes (plan*, dialog*: xlsx or yaml) are read last, against the data
    plan_files = [p for p in files if _is_plan_file(p)]
    files = [p for p in files if p not in plan_files]
    yaml_files = [p for p in files if p.suffix.lower() in (".yaml", ".yml")]
    colmaps = [p for p in yaml_files if p.name.lower().startswith("kolumner")]
    protocols = [p for p in yaml_files if p not in colmaps]
    inst = load_instrument(instrument if instrument is not None else (
        protocols[0] if protocols else None))
    if protocols:
        r.prov.append(ProvenanceRecord.for_file(protocols[0], "load_instrument", "instrument",
                                                len(inst.items), len(inst.items)))
        for extra in protocols[1:]:
            r.skip(extra, f"ett protokoll till: {protocols[0].name} används")
    spec = _obs.as_column_spec(columns)
    if columns is None and colmaps:
        spec = _obs.load_column_spec(colmaps[0])
        n_spec = len(spec.columns) + len(spec.derived) + len(spec.constants)
        r.prov.append(ProvenanceRecord.for_file(colmaps[0], "load_column_spec", "kolumner",
                                                n_spec, n_spec))
        for extra in colmaps[1:]:
            r.skip(extra, f"en kolumnfil till: {colmaps[0].name} används")
    registers = [p for p in files if p.name.lower().startswith("skolregister")]
    for p in registers:
        r.add(_schools.read_schools(p), p, "register")
    if not registers:
        raise FileFormatError(f"Mappen {folder} saknar skolregister (skolregister.csv)",
                              hint="Lägg till ett skolregister med skolenhetskoder, t.ex. "
                                   "skolregister.csv med kolumnerna Skolenhetskod, Skola, "
                                   "Kommun-kod, Kommun och Typ av huvudman")
    known = pd.concat([df["school_id"] for df, _, _ in r.tables["schools"]])
    context: dict[str, Any] = {"register": pd.concat([df for df, _, _ in r.tables["schools"]]),
                               "key": key}
    json_files: list[Path] = []
    categories: list[pd.DataFrame] = []
    wanted = [p for p in files
              if not (p in yaml_files or p in registers or p.name.lower().endswith(".md"))]
    obs_files = [p for p in wanted if p.name.lower().startswith("observation")]
    other_files = [p for p in wanted
                   if p not in obs_files and p.suffix.lower() != ".json"]

    def read_others() -> dict[Path, Any]:
        out: dict[Path, Any] = {}
        for p in other_files:
            try:
                out[p] = _read_other(p, context, key, _pupils)
            except Exception:  # noqa: BLE001 - read again below, where it raises as usual
                out[p] = None
        return out

    # Beside a large observation export, the other files are read in a forked process
    # (their tables are small to send back); what each file gave is then taken in the
    # folder's order, so the Dataset is the same as when read in turn.
    fork = bool(other_files) and sum(p.stat().st_size for p in obs_files) >= _FORK_BYTES
    with Beside(read_others) if fork else contextlib.nullcontext() as beside:
        exports = {p: _obs.read_observation_export(p, inst, columns=spec, schools=known,
                                                   key=key) for p in obs_files}
        outcomes: dict[Path, Any] = beside.get() if beside is not None else {}
    for p in wanted:
        if p in obs_files:
            export = exports[p]
            r.add(export.observations, p, "observations")
            if len(export.categories):
                categories.append(export.categories)
        elif p.suffix.lower() == ".json":
            json_files.append(p)
        else:
            got = outcomes.get(p)
            if got is None:
                got = _read_other(p, context, key, _pupils)
            if isinstance(got, str):
                r.skip(p, got)
                continue
            try:
                for df, kind in got:
                    r.add(df, p, kind)
            except UAError as exc:
                r.skip(p, str(exc))
    _read_json(r, json_files, _api, _kolada)
    _drop_duplicate_sources(r, "results", _RESULT_KEYS)
    _drop_duplicate_sources(r, "background", _BACKGROUND_KEYS)
    schools = _concat([df for df, _, _ in r.tables["schools"]], "schools")
    obs_df = _concat([df for df, _, _ in r.tables["observations"]], "observations")
    own_schools = set(schools["school_id"])
    own_munis = set(schools["municipality_id"])
    res_frames: list[tuple[Any, Path | None, str]] = []
    bg_frames: list[tuple[Any, Path | None, str]] = []
    ref_res: list[pd.DataFrame] = []
    ref_bg: list[pd.DataFrame] = []
    for df, src, kind in r.tables["results"]:
        mine, ref = _split_reference(df, own_schools, own_munis)
        mine.attrs, ref.attrs = dict(df.attrs), dict(df.attrs)
        res_frames.append((mine, src, kind))
        if len(ref):
            ref_res.append(ref)
            r.checks.append(f"Referensdata: {len(ref)} resultatvärden i {r.rel(src) if src else '?'}"
                            f" gäller andra kommuner eller skolenheter utanför skolregistret; "
                            f"de hålls isär (reference_results) och visas inte som kommunens")
    for df, src, kind in r.tables["background"]:
        mine, ref = _split_reference(df, own_schools, own_munis)
        mine.attrs, ref.attrs = dict(df.attrs), dict(df.attrs)
        bg_frames.append((mine, src, kind))
        if len(ref):
            ref_bg.append(ref)
            r.checks.append(f"Referensdata: {len(ref)} bakgrundsrader i "
                            f"{r.rel(src) if src else '?'} gäller andra kommuner eller skolenheter "
                            f"utanför skolregistret; de hålls isär (reference_background)")
    _overlap(r, schools, obs_df, r.tables["results"])
    results = _reconcile(r, res_frames)
    background = _concat([df for df, _, _ in bg_frames], "background")
    dup_bg = background[_BACKGROUND_KEYS].astype(str).duplicated(keep="first").to_numpy() \
        if len(background) else np.zeros(0, dtype=bool)
    if len(background) and dup_bg.any():
        r.checks.append(f"Avstämning: {int(dup_bg.sum())} bakgrundsrader fanns i flera filer "
                        f"(samma enhet och läsår); den första filens rad behölls")
        background = background[~dup_bg]
    for name, reason in r.not_read:
        r.checks.append(f"Inte inläst: {name} – {reason}")
    pupils = [df for df, _, _ in r.tables["pupil_results"]]
    pupil_results = _pupils.concat_pupil_grades(pupils) if pupils else None
    if len(results):
        results = results.copy()
        results.attrs = {"source": ", ".join(sorted({str(df.attrs.get("source", "?"))
                                                     for df, _, _ in res_frames if len(df)}))}
    plans, notes = _read_plan_files(plan_files, inst, known, obs_df, results, r.prov)
    return Dataset.build(
        schools=schools, observations=obs_df, results=results, background=background,
        instrument=inst, pupil_results=pupil_results, provenance=tuple(r.prov),
        plans=plans, dialogue_notes=notes,
        reference_results=_concat(ref_res, "results") if ref_res else None,
        reference_background=_concat(ref_bg, "background") if ref_bg else None,
        checks=tuple(r.checks),
        observation_categories=_concat(categories, "observation_categories")
        if categories else None)


#: Beside observation exports of at least this many bytes in all, the other files are
#: read in a forked process (below it, reading in turn is faster than starting one).
_FORK_BYTES = 1_000_000


def _read_other(p: Path, context: dict[str, Any], key: str | None, pupils: Any
                ) -> str | list[tuple[pd.DataFrame, str]]:
    """What a file other than an observation export or a JSON response gives: its tables
    with their kinds, or why it was not read."""
    try:
        if is_pupil_grades(p):
            return [(pupils.read_pupil_grades(p, key=key), "pupils")]
        for detect, read, _label in READERS:
            if detect(p):
                got = _call_reader(read, p, context)
                kind = "export" if read is _read_skolverket else "other"
                return [(df, kind) for df in (got if isinstance(got, (list, tuple)) else [got])]
        return _unknown_reason(p)
    except UAError as exc:
        return str(exc)


def _is_plan_file(p: Path) -> bool:
    from ..plans import layout

    name = p.name.lower()
    return p.suffix.lower() in (".xlsx", ".yaml", ".yml") and (
        name.startswith(layout.PLAN_PREFIX) or name.startswith(layout.NOTES_PREFIX))


def _read_plan_files(files: list[Path], inst: Instrument, schools: pd.Series | None,
                     obs: pd.DataFrame, results: pd.DataFrame, prov: list[ProvenanceRecord]
                     ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Plans (plan*) and dialogue notes (dialog*), checked against the data read before."""
    if not files:
        return None, None
    from ..plans import layout
    from .plans import check_serves, read_dialogue_notes, read_plans

    terms = sorted({str(t) for t in obs["term"].dropna().unique()}, key=schema.term_index)
    measures = {str(m) for m in results["measure"].dropna().unique()} if len(results) else None
    plans: list[pd.DataFrame] = []
    notes: list[pd.DataFrame] = []
    for p in files:
        if p.name.lower().startswith(layout.PLAN_PREFIX):
            df = read_plans(p, inst, schools=schools, terms=terms, measures=measures)
            plans.append(df)
        else:
            df = read_dialogue_notes(p, schools=schools)
            notes.append(df)
        prov.append(df.attrs["provenance"])
    check_serves(plans)
    plan_df = pd.concat(plans) if plans else None
    if plan_df is not None:
        plan_df.attrs = {"source": ", ".join(f.attrs.get("source", "?") for f in plans)}
    note_df = pd.concat(notes) if notes else None
    if note_df is not None:
        note_df.attrs = {"source": ", ".join(f.attrs.get("source", "?") for f in notes)}
    return plan_df, note_df


def _unknown_reason(p: Path) -> str:
    suffix = p.suffix.lower()
    if suffix in (".csv", ".xlsx"):
        title = ""
        if suffix == ".csv":
            lines = [ln.strip(" ;") for ln in _head_text(p, 2048).splitlines() if ln.strip(" ;")]
            title = lines[1] if len(lines) > 1 and lines[0].startswith("Statistik") else ""
        what = f" ({title})" if title else ""
        return ("okänd rapport" + what + ": ingen inläsare känner igen den (inte en "
                "Skolverket-export med Kommun-kod eller Skol-enhetskod, inte ett skolregister, "
                "inte en observationsexport); filen lästes inte. Om det är kommunens "
                "observationer: byt namn så att det börjar med observation")
    if suffix == ".txt":
        return ("textfilen är inte elevbetyg i SCB:s format (ingen rubrik med PersonNr och "
                "fel antal fält); filen lästes inte")
    if suffix == ".xls":
        return "gammal Excel-fil (.xls): öppna den i Excel och spara som .xlsx"
    return f"filtypen {suffix or '(ingen)'} läses inte in"


def _read_json(r: _Reading, files: Sequence[Path], api: Any, kolada: Any) -> None:
    """Skolverket API responses together (municipalities from unit and list responses),
    Kolada responses one by one, anything else named."""
    api_files: list[Path] = []
    for p in files:
        try:
            text, _enc, _notes = c.read_text(p)
            doc = json.loads(text)
        except (UAError, json.JSONDecodeError, UnicodeError) as exc:
            r.skip(p, f"JSON-filen kunde inte läsas: {exc}")
            continue
        page = doc[0] if isinstance(doc, list) and doc else doc
        if isinstance(page, dict) and isinstance(page.get("values"), list):
            try:
                r.add(kolada.read_kolada(p), p, "kolada")
            except UAError as exc:
                r.skip(p, str(exc))
        elif isinstance(page, dict) and ("json" in page or "schoolUnit" in page
                                         or "code" in page or "_embedded" in page):
            api_files.append(p)
        else:
            r.skip(p, "JSON-filen är varken ett svar från Skolverkets API v4 eller från "
                      "Kolada")
    if not api_files:
        return
    # one bad response is named alone: the error names its file, which is left out and the
    # rest read again (an error that names no single file of the set leaves out all of them)
    pending = list(api_files)
    while pending:
        root = Path(os.path.commonpath([str(p.parent) for p in pending]))
        try:
            df, prov = api.load_files(pending, root)
        except UAError as exc:
            bad = _file_named_by(exc, pending)
            if bad is None:
                for p in pending:
                    r.skip(p, str(exc))
                return
            r.skip(bad, str(exc))
            pending.remove(bad)
            continue
        df.attrs["provenance"] = prov
        r.add(df, root, "api")
        return


def _file_named_by(exc: UAError, files: Sequence[Path]) -> Path | None:
    """The one file of ``files`` an error names (``exc.file``), or None."""
    if not exc.file:
        return None
    named = Path(exc.file)
    same = [p for p in files if p == named or p.resolve() == named.resolve()]
    if not same and not named.is_absolute():
        same = [p for p in files if p.name == named.name]
    return same[0] if len(same) == 1 else None


__all__ = ["load_folder", "READERS", "PRECEDENCE", "NOT_READ", "is_pupil_grades",
           "is_skolverket_export", "is_skolenkaten"]
