"""Tidy exports and provenance of the main job (``undervisning-analys rapporter``).

Beside the reports, :func:`write_exports` writes every table the reports show
(the :class:`~undervisning_analys.report.context.ReportContext` tables, the
single source of their numbers) to ``UT/data/`` as CSV and Parquet, and
:func:`write_provenance` writes ``UT/proveniens.json``: package and library
versions, every input (file name, sha256, loader, rows read and kept, why any
were not), the model specifications, the random seed, the privacy floors,
the exported tables with their sha256, and a timestamp.

Decisions
---------
* Privacy: every table goes through the suppression it belongs to once more
  (``privacy.suppress_quality`` for teaching-quality tables,
  ``privacy.suppress_results`` for pupil-based ones; in the adjusted results
  the expected result is blanked too where the observed one is, so that no
  row below the floor shows a pupil-based number) and through the teacher
  guard (``privacy.assert_no_teacher_columns`` with the inputs' teacher
  pseudonyms) and an observer guard (no observer column, no observer
  pseudonym in any cell). A table that fails a guard stops the job with a
  SuppressedValueError rather than being written.
* Reproducibility: rows are sorted by each table's keys (terms in time
  order), categoricals are written as text, CSV is UTF-8 with ``,`` between
  fields, ``.`` as decimal mark, an empty field for a missing value, ``\\n``
  line ends and floats with 10 significant digits (``%.10g``); Parquet is
  written without the index, with the schema metadata pyarrow writes (no
  time stamps) and with fixed compression. The same inputs give the same
  bytes. ``proveniens.json`` differs between runs only in ``skapad``.
* File names are Swedish (:data:`EXPORTS`); the column names are those of
  the library's ``.tidy()`` outputs (English, snake_case), described in the
  library's documentation.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__, privacy, schema
from .._xlsx import FIXED_TIME
from ..errors import SuppressedValueError
from .context import ReportContext

DATA_DIR = "data"
PROVENANCE_FILE = "proveniens.json"
FLOAT_FORMAT = "%.10g"

EXPORTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "quality": ("undervisningskvalitet",
                "Undervisningskvalitetens index per enhet (skola, område, kommun), termin och "
                "dimension, med konfidensintervall och reliabilitet",
                ("level", "unit", "dimension", "term")),
    "coverage": ("tackning", "Observationernas täckning per skola och termin",
                 ("school_id", "term")),
    "growth": ("trender", "Trender i undervisningskvaliteten per skola och för kommunen",
               ("component", "level", "school_id", "term")),
    "results": ("resultat_justerade",
                "Skolornas resultat jämförda med det förväntade utifrån elevsammansättningen",
                ("measure", "school_id", "school_year")),
    "municipality_results": ("resultat_kommun", "Kommunens resultat per läsår",
                             ("measure", "municipality_id", "school_year")),
    "link": ("samband", "Sambandet mellan undervisningskvalitet och resultat (inom och "
                        "mellan skolor), utan och med korrigering för mätfel",
             ("term", "correction")),
    "changes": ("samband_skolor", "Förändring i undervisningskvalitet och resultat per skola",
                ("school_id",)),
    "results_trend": ("resultat_trender", "Skolornas nivå (sammanvägd över alla läsår) och "
                                          "trend i resultaten jämfört med förväntat",
                      ("measure", "component", "school_id")),
    "dialogue": ("dialogfragor", "Frågor till kvalitetsdialogen: underlag, regel, skattning "
                                 "och intervall som frågan vilar på", ("school_id",)),
    "equity": ("likvardighet", "Spridning mellan skolor och samband med elevsammansättningen "
                               "per period", ("quantity", "period")),
    "agreement": ("samstammighet", "Samstämmighet mellan observatörer per dimension",
                  ("group", "dimension")),
    "icc": ("samstammighet_icc", "Intraklasskorrelationer (Shrout och Fleiss)", ("type",)),
    "severity": ("observatorer_per_roll", "Observatörernas stränghet per roll (roller med "
                                          f"minst {privacy.MIN_OBSERVERS_PER_ROLE} observatörer)",
                 ("observer_role",)),
    "plan": ("observationsplan", "Hur många observerade lektioner som behövs per skola, för "
                                 "en termins nivå och för skolans förändring (trenden)",
             ("unit", "dimension", "goal", "target")),
    "plan_planned": ("observationsplan_planerad", "Precisionen som skolornas planerade "
                                                   "lektionsbesök ger: reliabilitet för en "
                                                   "termins nivå och för förändringen, styrka",
                     ("unit",)),
    "planuppfoljning": ("planuppfoljning", "Planernas mål per skola (och huvudman): läget nu, "
                                           "det väntade läget vid målterminen, sannolikheten "
                                           "att målet nås, status och lektionsbesök",
                        ("level", "plan_id", "target_id")),
    "outcomes": ("utfall", "Elevernas upplevelse och närvaro (Skolenkäten, närvaro, egna "
                           "mått) per skola och läsår, och kommunens jämförelsevärde",
                 ("measure", "level", "unit", "school_year")),
    "outcome_trends": ("utfall_trender", "Förändringen per läsår i elevernas upplevelse och "
                                         "närvaro, per skola och för kommunen",
                       ("measure", "component", "unit")),
    "outcome_links": ("utfall_samband", "Sambanden mellan undervisningskvaliteten och "
                                        "elevernas upplevelse och närvaro, med Holms "
                                        "justering för flera jämförelser", ("measure",)),
}
"""Context table -> (file stem, Swedish description, sort keys). ``results`` collects every
``results:<measure>`` table."""

_OBSERVER_COLUMN = re.compile(r"^(observers?|observat[öo]r(en)?)([ _-]?(id|kod|code|namn|name))?$",
                              re.IGNORECASE)


@dataclass(frozen=True)
class Export:
    """One exported table: its name, description, files and shape."""

    name: str
    description: str
    csv: Path
    parquet: Path
    rows: int
    columns: tuple[str, ...]


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------
def export_tables(ctx: ReportContext) -> dict[str, pd.DataFrame]:
    """The tables to export (file stem -> DataFrame), privacy-checked and sorted."""
    tables: dict[str, pd.DataFrame] = {}
    results = [t for k, t in sorted(ctx.tables.items()) if k.startswith("results:") and len(t)]
    trends = [t for k, t in sorted(ctx.tables.items())
              if k.startswith("results_trend:") and len(t)]
    source: dict[str, pd.DataFrame] = {k: t for k, t in ctx.tables.items()
                                       if not k.startswith(("results:", "results_trend:"))}
    if results:
        source["results"] = pd.concat(results, ignore_index=True)
    if trends:
        source["results_trend"] = pd.concat(trends, ignore_index=True)
    if "dialogue" in source:
        d = source["dialogue"]
        source["dialogue"] = pd.concat([d[["school_id"]], d["school_id"].map(ctx.names).rename(
            "school_name"), d.drop(columns=["school_id"])], axis=1)
    teacher_ids = set(ctx.ds.observations["teacher_id"].astype(str).unique())
    observer_ids = set(ctx.ds.observations["observer_id"].astype(str).unique())
    for key, (stem, _desc, sort_keys) in EXPORTS.items():
        t = source.get(key)
        if t is None:
            continue
        t = _protect(key, t.copy())
        privacy.assert_no_teacher_columns(t, teacher_ids=teacher_ids, name=stem)
        _assert_no_observers(t, observer_ids, stem)
        tables[stem] = _tidy(t, sort_keys)
    return tables


def _protect(key: str, t: pd.DataFrame) -> pd.DataFrame:
    """The table's own suppression, applied once more (idempotent)."""
    if {"n_teachers", "n_obs"} <= set(t.columns) and "estimate" in t.columns:
        t = privacy.suppress_quality(t)
    if key == "results":
        vcols = [c for c in ("observed", "expected", "residual", "se", "se_expected",
                             "conf_low", "conf_high") if c in t.columns]
        t = privacy.suppress_results(t, value_cols=vcols, partitions={}, hierarchy=False)
    elif key == "municipality_results":
        t = privacy.suppress_results(t, partitions={}, hierarchy=False)
    elif key == "outcomes":
        t = privacy.suppress_results(t, partitions={}, hierarchy=False, unknown_n="suppress")
    return t


def _assert_no_observers(t: pd.DataFrame, observer_ids: set[str], name: str) -> None:
    cols = [c for c in t.columns if _OBSERVER_COLUMN.match(str(c).strip())]
    if cols:
        raise SuppressedValueError(
            f"Tabellen har en kolumn som pekar ut enskilda observatörer (`{cols[0]}`), och "
            f"sådana får inte lämna paketet", table=name, column=str(cols[0]),
            hint="Redovisa observatörer per roll, inte en och en")
    for c in t.columns:
        s = t[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        hit = s.astype(object).map(lambda v: isinstance(v, str) and v.strip() in observer_ids)
        if hit.any():
            raise SuppressedValueError(
                f"Kolumnen `{c}` innehåller observatörspseudonymer, och sådana får inte lämna "
                f"paketet", table=name, column=str(c),
                hint="Redovisa observatörer per roll, inte en och en")


def _sort_key(s: pd.Series) -> pd.Series:
    if s.name == "term":
        return s.map(lambda v: schema.term_index(v) if isinstance(v, str)
                     and re.fullmatch(r"(HT|VT)\d{4}", v) else math.inf)
    return s.astype(str).where(s.notna(), "\uffff")


def _tidy(t: pd.DataFrame, sort_keys: Sequence[str]) -> pd.DataFrame:
    """Plain dtypes (categoricals as text), rows sorted by the keys, a fresh index."""
    out = t.reset_index(drop=True)
    for c in out.columns:
        s = out[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s.astype(object).where(s.notna(), None)
        elif s.dtype == object:
            out[c] = s.map(_plain)
    keys = [k for k in sort_keys if k in out.columns]
    if keys:
        out = out.sort_values(keys, key=_sort_key, kind="mergesort").reset_index(drop=True)
    return out


def _plain(v: Any) -> Any:
    """A cell as a plain value (lists and tuples as text joined by ', ')."""
    if isinstance(v, (list, tuple, set, frozenset)):
        return ", ".join(str(x) for x in (sorted(v) if isinstance(v, (set, frozenset)) else v))
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    if v is pd.NA or v is pd.NaT:
        return None
    return v


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(v: Any) -> Any:
    """A text cell made safe for spreadsheets (OWASP CSV injection).

    Text beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
    written with a leading apostrophe, so that Excel and LibreOffice show it as
    text instead of running it as a formula. Numbers and missing values are
    returned unchanged.
    """
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Every text cell of ``df`` through :func:`neutralise` (numeric columns untouched)."""
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            out[c] = s.map(neutralise)
    return out


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    df = neutralise_frame(df)
    text = df.to_csv(index=False, sep=",", decimal=".", float_format=FLOAT_FORMAT, na_rep="",
                     lineterminator="\n")
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_bytes(text.encode("utf-8"))
    tmp.replace(path)


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="snappy", use_dictionary=True,
                   write_statistics=True)
    tmp.replace(path)


def write_exports(ctx: ReportContext, out_dir: str | Path) -> list[Export]:
    """Write every table of the reports to ``out_dir/data`` as CSV and Parquet."""
    folder = Path(out_dir) / DATA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    descriptions = {stem: desc for stem, desc, _k in EXPORTS.values()}
    written: list[Export] = []
    tables = export_tables(ctx)
    for stem, df in tables.items():
        csv_path, pq_path = folder / f"{stem}.csv", folder / f"{stem}.parquet"
        _write_csv(df, csv_path)
        _write_parquet(df, pq_path)
        written.append(Export(stem, descriptions[stem], csv_path, pq_path, len(df),
                              tuple(map(str, df.columns))))
    write_workbook(tables, folder / WORKBOOK_FILE)
    return written


WORKBOOK_FILE = "tabeller.xlsx"

COLUMN_LABELS_SV: dict[str, str] = {
    "level": "Nivå", "unit": "Enhet (kod)", "unit_name": "Enhet", "school_id": "Skolenhetskod",
    "school_name": "Skola", "municipality_id": "Kommunkod", "term": "Termin",
    "school_year": "Läsår", "dimension": "Dimension", "estimate": "Skattning",
    "se": "Medelfel", "conf_low": "95 % KI, nedre", "conf_high": "95 % KI, övre",
    "n_obs": "Observerade lektioner", "n_forms": "Protokoll", "n_teachers": "Observerade lärare",
    "n_observers": "Observatörer", "reliability": "Reliabilitet", "suppressed": "Prickad",
    "suppression_reason": "Skäl till prickning", "measure": "Mått", "observed": "Resultat",
    "expected": "Förväntat", "residual": "Skillnad mot förväntat", "n": "Elever",
    "status": "Status", "note": "Anmärkning", "se_expected": "Medelfel, förväntat",
    "value": "Värde", "component": "Del", "n_years": "Läsår med värden",
    "n_years_missing": "Läsår utan värde", "first_year": "Första läsår",
    "last_year": "Sista läsår", "basis": "Grund", "underlag": "Underlag", "rule": "Regel",
    "priority": "Prioritet", "text": "Fråga", "why": "Skäl", "subject": "Gäller",
    "estimate_2": "Skattning 2", "conf_low_2": "95 % KI 2, nedre",
    "conf_high_2": "95 % KI 2, övre", "unit_text": "Enhet", "period": "Period",
    "p_value": "p-värde", "n_schools": "Skolor", "quantity": "Storhet", "mean": "Medelvärde",
    "sd": "Standardavvikelse", "group": "Grupp", "exact": "Exakt samstämmighet",
    "adjacent": "Högst ett steg isär", "kappa_quadratic": "Viktad kappa",
    "observer_role": "Observatörsroll", "target": "Mål", "n_obs_needed": "Lektioner som behövs",
    "reason": "Varför värde saknas", "p_holm": "p-värde (Holm)",
    "n_comparisons": "Antal jämförelser", "finding": "Fynd", "direction": "Riktning",
    "better": "Bättre", "error": "Kunde inte skattas", "lag": "Eftersläpning (läsår)",
}
"""Swedish column headers of the workbook (columns not listed keep their tidy name)."""


def write_workbook(tables: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """The exported tables as one Excel workbook: one sheet per table, Swedish headers,
    numbers as numbers with Swedish number formats set on the cells, text cells
    neutralised against formula injection (:func:`neutralise`).

    Written with XlsxWriter (about 2.5 times faster than openpyxl for these
    300,000 cells at Göteborg's scale) with a fixed document date, so the same
    tables give the same bytes; written to a temporary file first, so a reader
    never sees half a workbook.
    """
    import xlsxwriter

    tmp = path.with_suffix(".xlsx.tmp")
    wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False,
                                        "strings_to_numbers": False,
                                        "nan_inf_to_errors": False})
    wb.set_properties({"created": FIXED_TIME})
    bold = wb.add_format({"bold": True})
    fmt_cache: dict[str, Any] = {}

    def fmt(code: str) -> Any:
        if code not in fmt_cache:
            fmt_cache[code] = wb.add_format({"num_format": code})
        return fmt_cache[code]

    for stem, df in tables.items():
        ws = wb.add_worksheet(stem[:31])
        ws.write_row(0, 0, [COLUMN_LABELS_SV.get(
            "unit_text" if (stem == "dialogfragor" and c == "unit") else str(c), str(c))
            for c in df.columns], bold)
        safe = neutralise_frame(df)
        formats: list[Any] = []
        for c in df.columns:
            s = df[c]
            if pd.api.types.is_bool_dtype(s):
                formats.append(None)
            elif pd.api.types.is_integer_dtype(s) or str(c) in ("n", "n_obs", "n_teachers"):
                formats.append(fmt("# ##0"))
            elif pd.api.types.is_float_dtype(s):
                formats.append(fmt("0.00" if str(c) != "p_value" else "0.000"))
            else:
                formats.append(None)
        for i, row in enumerate(safe.itertuples(index=False), start=1):
            for j, v in enumerate(row):
                v = _plain(v)
                if v is None or (isinstance(v, float) and not math.isfinite(v)):
                    continue
                f = formats[j]
                if isinstance(v, bool):
                    ws.write_boolean(i, j, v)
                elif isinstance(v, (int, float)):
                    ws.write_number(i, j, v, f)
                elif isinstance(v, str):
                    if v:  # an empty text is an empty cell, as openpyxl wrote it
                        ws.write_string(i, j, v)
                elif isinstance(v, (_dt.datetime, _dt.date)):
                    ws.write_datetime(i, j, v, fmt("yyyy-mm-dd"))
                else:
                    ws.write_string(i, j, str(v))
        ws.freeze_panes(1, 0)
    wb.close()
    tmp.replace(path)
    return path


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("numpy", "pandas", "scipy", "pyarrow", "mixedlm", "pandera", "jinja2"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _json_safe(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def provenance_document(ctx: ReportContext, exports: Iterable[Export],
                        reports: Iterable[Path], out_dir: str | Path,
                        created: str | None = None) -> dict[str, Any]:
    """The content of ``proveniens.json`` (see the module docstring)."""
    ds = ctx.ds
    out = Path(out_dir)
    fl = privacy.DEFAULT_FLOORS
    inst = ds.instrument
    doc: dict[str, Any] = {
        "skapad": created or _dt.datetime.now(_dt.UTC).replace(
            microsecond=0).isoformat().replace("+00:00", "Z"),
        "program": {"namn": "undervisning_analys", "version": __version__,
                    "bibliotek": _versions()},
        "slumpfrö": ds.seed,
        "slumpfrö_förklaring": ("syntetiska data skapade med detta frö" if ds.seed is not None
                                else "inget: data lästa från filer; beräkningarna använder "
                                     "ingen slump"),
        "gränser": {"minsta_antal_elever": fl.pupils, "minsta_antal_lärare": fl.teachers,
                    "minsta_antal_observerade_lektioner": fl.obs,
                    "minsta_antal_observatörer_per_roll": privacy.MIN_OBSERVERS_PER_ROLE},
        "observationsprotokoll": {"id": inst.id, "namn": inst.name,
                                  "version": str(inst.version),
                                  "skala": [inst.scale_min, inst.scale_max]},
        "indata": [{"fil": p.path, "sha256": p.sha256, "inläsare": p.loader,
                    "tabell": p.table, "rader_lästa": p.rows_read,
                    "rader_behållna": p.rows_kept, "ej_behållna": dict(p.dropped),
                    "anteckningar": list(p.notes)} for p in ds.provenance],
        "modeller": ctx.info.get("models", {}),
        "mått_i_rapporterna": list(ctx.measures),
        "delar_som_inte_kunde_beräknas": dict(sorted(ctx.notes.items())),
        "anmärkningar_från_modellerna": list(ctx.info.get("warnings", [])),
        "utdata": {
            "tabeller": [{"namn": e.name, "beskrivning": e.description, "rader": e.rows,
                          "kolumner": list(e.columns),
                          "csv": e.csv.relative_to(out).as_posix(),
                          "csv_sha256": _sha256(e.csv),
                          "parquet": e.parquet.relative_to(out).as_posix(),
                          "parquet_sha256": _sha256(e.parquet)} for e in exports],
            "csv_format": {"avgränsare": ",", "decimaltecken": ".", "teckenkodning": "UTF-8",
                           "saknat_värde": "tom cell", "flyttal": FLOAT_FORMAT},
            "rapporter": sorted(p.relative_to(out).as_posix() for p in reports),
        },
    }
    return _json_safe(doc)


def write_provenance(ctx: ReportContext, exports: Iterable[Export], reports: Iterable[Path],
                     out_dir: str | Path, created: str | None = None) -> Path:
    """Write ``out_dir/proveniens.json``; return its path."""
    doc = provenance_document(ctx, exports, reports, out_dir, created)
    path = Path(out_dir) / PROVENANCE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


__all__ = ["EXPORTS", "Export", "export_tables", "write_exports", "provenance_document",
           "neutralise", "neutralise_frame", "write_workbook", "WORKBOOK_FILE",
           "write_provenance", "DATA_DIR", "PROVENANCE_FILE"]
