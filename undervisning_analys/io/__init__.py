"""Loaders: the files users bring -> canonical tables (schema.py).

One module per source, all built the same way: a private ``_load(path, …)``
returns ``(table, ProvenanceRecord)``; the public ``read_*`` returns the table
with ``attrs["provenance"]``, ``attrs["source"]`` (file name) and
``attrs["table"]``. Tables keep the source's 1-based line (or Excel row)
number as index (``index.name == "rad"``) and are validated with
``schema.validate`` before they are returned. Every loader runs the
personnummer guard (:func:`undervisning_analys.privacy.refuse_personnummer_columns`)
on the raw cells, and every failure is one of the package's errors
(:class:`~undervisning_analys.errors.UAError`) with a Swedish message naming
file, row and column.

Loaders (function -> what it reads -> table):

* :func:`read_skolverket` – Skolverket "Sök statistik" exports, CSV/XLSX ->
  ``results``, ``background`` or ``schools``;
* :func:`read_skolverket_api` – planned-educations API v4, ``statistics/gr``
  responses -> ``results``;
* :func:`read_skolverket_api_schools` – API v4 ``/school-units/{code}`` ->
  ``schools``;
* :func:`read_kolada` – Kolada API v2/v3 JSON -> ``results`` or ``background``;
* :func:`read_json_source` – either JSON source, recognised by content;
* :func:`read_observations` – observation form exports (CSV/XLSX) ->
  ``observations``; :func:`read_observation_export` also gives the answers to
  a protocol's categorical items (``observation_categories``), summarised by
  :func:`summarise_categories`; :func:`load_column_spec` reads a column file;
* :func:`read_schools` – the organiser's school register -> ``schools``;
* :func:`read_pupil_grades` – pupil grades in SCB's record format ->
  ``pupil_results`` (pseudonymised);
* :func:`aggregate_pupil_grades` – ``pupil_results`` -> school results as
  Skolverket computes them (``results``);
* :func:`read_skolenkaten` – Skolinspektionen's Skolenkäten "excelrapport"
  workbooks -> ``results`` (``skolenkat_<index>_<group>``);
* :func:`read_local_measures` – the organiser's own measures (attendance,
  problematic absence, offences, ``local_<name>``) -> ``results``;
* :func:`read_pupil_attendance` – pupil-level attendance exports
  (pseudonymised, aggregated to school × term with the floors) -> ``results``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import FileFormatError
from . import _common
from .folder import load_folder
from .kolada import KPI_BACKGROUND, KPI_MEASURES, read_kolada
from .local_measures import read_local_measures, read_pupil_attendance
from .observations import (
    load_column_map,
    load_column_spec,
    read_observation_export,
    read_observations,
    summarise_categories,
)
from .pupils import aggregate_pupil_grades, concat_pupil_grades, read_pupil_grades
from .schools import read_schools
from .skolenkaten import read_skolenkaten
from .skolverket import KNOWN_REPORTS, read_skolverket
from .skolverket_api import STATISTICS, read_skolverket_api, read_skolverket_api_schools


def _json_kind(path: Path) -> str:
    files = _common.json_files(path, "Skolverkets API eller Kolada") \
        if path.is_dir() else [path]
    for f in files:
        text, _enc, _notes = _common.read_text(f)
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _common.json_error(exc, f, "Hämta svaret på nytt") from None
        page = doc[0] if isinstance(doc, list) and doc else doc
        if isinstance(page, dict):
            if isinstance(page.get("values"), list) and (
                    "next_page" in page or "next_url" in page or "count" in page
                    or any(isinstance(v, dict) and "kpi" in v for v in page["values"][:5])):
                return "kolada"
            if "json" in page or "schoolUnit" in page or "code" in page:
                return "skolverket_api"
    raise FileFormatError(
        "JSON-filen är varken ett svar från Skolverkets API v4 eller från Kolada", file=path,
        hint="Läs filen med read_skolverket_api eller read_kolada, eller kontrollera att den "
             "är ett sparat API-svar")


@_common.guarded("JSON-svar")
def read_json_source(path: str | Path) -> pd.DataFrame:
    """Read a saved JSON response (file or folder): Skolverket API v4 or Kolada, sniffed.

    Returns ``results`` (see :func:`read_skolverket_api` and :func:`read_kolada`).
    """
    p = Path(path)
    if not p.exists():
        _common.check_file(p)
    kind = _json_kind(p)
    return read_kolada(p) if kind == "kolada" else read_skolverket_api(p)


__all__ = [
    "read_skolverket", "read_skolverket_api", "read_skolverket_api_schools", "read_kolada",
    "read_observations", "read_observation_export", "summarise_categories",
    "load_column_map", "load_column_spec", "load_folder", "read_schools",
    "read_pupil_grades", "aggregate_pupil_grades",
    "concat_pupil_grades", "read_json_source", "read_skolenkaten",
    "read_local_measures", "read_pupil_attendance", "KNOWN_REPORTS", "STATISTICS", "KPI_MEASURES",
    "KPI_BACKGROUND",
]
