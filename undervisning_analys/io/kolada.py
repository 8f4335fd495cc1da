"""Kolada API JSON (v2 and v3) -> ``results`` (and ``background``).

Responses as saved from ``api.kolada.se``:

* v2 ``/v2/data/…`` and ``/v2/oudata/…``: ``{"values": [{"kpi", "municipality"
  or "ou", "period", "values": [{"gender", "count", "status", "value"}]}],
  "count", "next_page", "previous_page"}``;
* v3: the same shape with ``next_url``/``previous_url`` for pagination and
  ``isdeleted`` on rows or values that Kolada has withdrawn.

A file may hold one page, or a JSON list of pages; a folder is read page file
by page file in name order (``*.json``).

Decisions
---------
* KPI map (:data:`KPI_MEASURES`), from Kolada's own KPI titles:

  ========  ======================================================  =======================  =========
  KPI       Kolada title (abridged)                                 measure                  principal
  ========  ======================================================  =======================  =========
  N15505    Elever i åk 9, meritvärde kommunala skolor (17 ämnen)   merit_17                 kommunal
  N15403    Elever i åk 9, meritvärde kommunala skolor (16 ämnen)   merit_16                 kommunal
  N15419    Elever i år 9 som uppnått kunskapskraven i alla         pass_all_subjects_pct    kommunal
            ämnen, kommunala skolor, andel (%)
  N15436    Elever i åk 9 som är behöriga till yrkesprogram,        eligible_vocational_pct  kommunal
            kommunala skolor, andel (%)
  N15814    Lärare (heltidstjänster) med lärarlegitimation och      certified_teachers_      kommunal
            behörighet i minst ett ämne, åk 1-9, kommunala skolor   fte_pct
  N15034    Elever/lärare (årsarbetare) i kommunal grundskola       pupils_per_teacher       kommunal
  ========  ======================================================  =======================  =========

  Background KPIs (:data:`KPI_BACKGROUND`, read with ``table="background"``;
  in ``results`` they stay ``kolada_{id}`` because the measure vocabulary has
  no shares): N15820 elever vars föräldrar har eftergymnasial utbildning,
  åk 1-9, kommunal grundskola -> ``share_parents_higher_edu``; N15902
  nyinvandrade och elever med okänd bakgrund, kommunal grundskola åk 1-9 ->
  ``share_newly_arrived``. Extend either map with ``kpi_map=``.
* Unknown KPIs are kept as measure ``kolada_{id}`` with principal type
  ``all`` (Kolada's title says which schools; the loader does not guess).
* Period: Kolada's year ``Y`` is the läsår ending in the spring of ``Y``
  (``2024`` -> ``2023/24``), as its school KPIs count the spring term.
* Gender: ``T`` -> all, ``K`` -> girls, ``M`` -> boys.
* Status: empty with a value -> ok; ``Missing`` or no value -> missing;
  ``Privacy``/``Sekretess`` -> suppressed. An unknown status without a value
  is ``not_published``; with a value the value is kept (ok) and the status
  noted.
* Rows or values with ``isdeleted: true`` are dropped and counted.
* Refused with file, row and field: a value outside what the measure can be
  (``_common.check_value``; unmapped ``kolada_*`` KPIs are not checked), a
  file whose text values mix decimal comma and point, a period after this
  year.
* Level: ``municipality`` ``0000`` is national (Riket); ``0001``–``0099`` are
  regions and municipality groups start with ``G``: both are left out and
  counted. ``ou`` (organisational units) are school units only through
  ``ou_map={"V15E144000101": "12345678", …}`` (Kolada's OU ids are not
  skolenhetskoder); without a map such files are refused. The OU id's digits
  5–8 give the municipality.
* ``n`` is Kolada's ``count`` only for municipality groups (it counts
  members, not pupils), so ``n`` is left empty.
* A last page that still points to a next page (``next_page``/``next_url``)
  is noted in provenance: pages may be missing.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..dataset import ProvenanceRecord
from ..errors import DuplicateRowsError, FileFormatError, UnknownSchoolError, ValueFormatError
from ..privacy import refuse_personnummer_columns
from . import _common as c
from .skolverket_api import _finish_folder

KPI_MEASURES: dict[str, tuple[str, str]] = {
    "N15505": ("merit_17", "kommunal"),
    "N15403": ("merit_16", "kommunal"),
    "N15419": ("pass_all_subjects_pct", "kommunal"),
    "N15436": ("eligible_vocational_pct", "kommunal"),
    "N15814": ("certified_teachers_fte_pct", "kommunal"),
    "N15034": ("pupils_per_teacher", "kommunal"),
}
"""Kolada KPI id -> (measure, principal_type)."""

KPI_BACKGROUND: dict[str, str] = {
    "N15820": "share_parents_higher_edu",
    "N15902": "share_newly_arrived",
}
"""Kolada KPI id -> background column (``table="background"``)."""

GENDER = {"T": "all", "K": "girls", "M": "boys"}
_STATUS = {"": "ok", "missing": "missing", "privacy": "suppressed", "sekretess": "suppressed",
           "secret": "suppressed", "suppressed": "suppressed"}
_RESULTS_COLUMNS = ["level", "school_id", "municipality_id", "school_year", "measure", "group",
                    "principal_type", "value", "n", "status", "source"]
_BACKGROUND_COLUMNS = ["level", "school_id", "municipality_id", "school_year", "n_pupils",
                       "share_girls", "share_foreign_background", "share_parents_higher_edu",
                       "share_newly_arrived"]


def _pages(doc: Any, p: Path) -> list[dict[str, Any]]:
    pages = doc if isinstance(doc, list) else [doc]
    for k, page in enumerate(pages, start=1):
        if not isinstance(page, dict) or not isinstance(page.get("values"), list):
            raise FileFormatError(
                "Filen är inte ett svar från Koladas API (objektet `values` saknas)", file=p,
                row=k, hint="Spara svaret från api.kolada.se/v2/data/… eller /v3/data/… "
                            "som det är")
    return pages


def _is_deleted(d: dict[str, Any]) -> bool:
    v = d.get("isdeleted", d.get("isDeleted", False))
    return v is True or (isinstance(v, str) and v.lower() == "true") or v == 1


def _files(path: str | Path) -> list[Path]:
    return c.json_files(path, "Koladas API")


def _read(path: str | Path, kpi_map: Mapping[str, tuple[str, str]] | None,
          ou_map: Mapping[str, str] | None):
    files = _files(path)
    measures = dict(KPI_MEASURES)
    measures.update(kpi_map or {})
    rows: list[dict[str, Any]] = []
    index: list[int] = []
    dropped: Counter = Counter()
    notes: Counter = Counter()
    n_read = 0
    n_pages = 0
    last_next = None
    k = 0
    for f in files:
        decimals = c.DecimalStyle()
        text, _enc, _n = c.read_text(f)
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise c.json_error(exc, f, "Hämta svaret från Kolada på nytt") from None
        for page in _pages(doc, f):
            n_pages += 1
            last_next = page.get("next_page") or page.get("next_url")
            cnt = page.get("count")
            if isinstance(cnt, int) and cnt != len(page["values"]):
                notes[f"en sida anger count {cnt} men har {len(page['values'])} rader"] += 1
            for entry in page["values"]:
                k += 1
                if not isinstance(entry, dict):
                    raise ValueFormatError("En rad i `values` är inte ett objekt", file=f,
                                           row=k, hint="Hämta svaret från Kolada på nytt")
                inner = entry.get("values")
                if inner is None and "gender" in entry:
                    inner = [entry]
                if not isinstance(inner, list):
                    raise ValueFormatError("En rad saknar listan `values`", file=f, row=k,
                                           column="values",
                                           hint="Hämta svaret från Kolada på nytt")
                n_read += max(len(inner), 1)
                if _is_deleted(entry):
                    dropped["rader markerade isdeleted"] += max(len(inner), 1)
                    continue
                kpi = c.cell_text(entry.get("kpi"))
                if not kpi or not kpi.replace("_", "").isalnum():
                    raise ValueFormatError(f"Nyckeltalets id {kpi!r} går inte att läsa",
                                           file=f, row=k, column="kpi",
                                           hint="Hämta svaret från Kolada på nytt")
                unit = _unit(entry, f, k, ou_map, dropped, len(inner))
                if unit is None:
                    continue
                level, sid, mid = unit
                period = c.cell_text(entry.get("period"))
                if not (period.isdigit() and len(period) == 4):
                    raise ValueFormatError(f"Perioden {period!r} är inte ett årtal", file=f,
                                           row=k, column="period",
                                           hint="Kolada anger år som 2024")
                c.check_not_future(file=f, row=k, column="period", year=int(period),
                                   hint="Hämta svaret från Kolada på nytt")
                sy = c.school_year_from_start(int(period) - 1)
                measure, principal = measures.get(kpi, (f"kolada_{kpi}", "all"))
                for v in inner:
                    if not isinstance(v, dict):
                        raise ValueFormatError("Ett värde är inte ett objekt", file=f, row=k,
                                               column="values",
                                               hint="Hämta svaret från Kolada på nytt")
                    if _is_deleted(v):
                        dropped["värden markerade isdeleted"] += 1
                        continue
                    g = c.cell_text(v.get("gender")).upper()
                    group = GENDER.get(g)
                    if group is None:
                        raise ValueFormatError(
                            f"Okänt kön {g!r}", file=f, row=k, column="gender",
                            hint="Kolada använder T (totalt), K (kvinnor/flickor) och M "
                                 "(män/pojkar)")
                    value, status = _value(v, f, k, notes, decimals)
                    c.check_value(measure, value, file=f, row=k, column="value",
                                  raw=v.get("value"))
                    rows.append({"level": level, "school_id": sid, "municipality_id": mid,
                                 "school_year": sy, "measure": measure, "group": group,
                                 "principal_type": principal, "value": value, "n": None,
                                 "status": status, "source": f.name, "_kpi": kpi})
                    index.append(k)
    if last_next:
        notes["sista sidan hänvisar till en nästa sida (next_page/next_url): sidor kan "
              "saknas"] += 1
    return files, rows, index, dropped, notes, n_read, n_pages


def _unit(entry: dict[str, Any], f: Path, k: int, ou_map: Mapping[str, str] | None,
          dropped: Counter, n: int) -> tuple[str, str | None, str | None] | None:
    if "municipality" in entry:
        mid = c.pad_code(entry.get("municipality"), 4)
        if mid.upper().startswith("G"):
            dropped["rader för kommungrupper"] += n
            return None
        if not (mid.isdigit() and len(mid) == 4):
            raise ValueFormatError(f"Kommunkoden {mid!r} är inte fyra siffror", file=f,
                                   row=k, column="municipality",
                                   hint="Hämta svaret från Kolada på nytt")
        if mid == "0000":
            return "national", None, "0000"
        if int(mid) < 100:
            dropped["rader för regioner"] += n
            return None
        return "municipality", None, mid
    ou = c.cell_text(entry.get("ou") or entry.get("out"))
    if ou:
        if not ou_map or ou not in ou_map:
            raise UnknownSchoolError(
                f"Organisationsenheten {ou} saknar skolenhetskod", file=f, row=k, column="ou",
                hint="Koladas enhets-id är inte skolenhetskoder: ange ou_map={'" + ou
                     + "': '12345678', …} med skolenhetskoden för varje enhet")
        sid = c.pad_code(ou_map[ou], 8)
        if not (sid.isdigit() and len(sid) == 8):
            raise ValueFormatError(f"ou_map ger {sid!r} för {ou}, inte en skolenhetskod",
                                   file=f, row=k, column="ou",
                                   hint="Skolenhetskoder har 8 siffror")
        ou_mid: str | None = ou[4:8] if len(ou) >= 8 and ou[4:8].isdigit() else None
        return "school", sid, ou_mid
    raise ValueFormatError("Raden anger varken `municipality` eller `ou`", file=f, row=k,
                           column="municipality", hint="Hämta svaret från Kolada på nytt")


def _value(v: dict[str, Any], f: Path, k: int, notes: Counter,
           decimals: c.DecimalStyle | None = None) -> tuple[float, str]:
    raw_status = c.cell_text(v.get("status"))
    raw = v.get("value")
    if decimals is not None:
        decimals.see(raw, file=f, row=k, column="value")
    status = _STATUS.get(raw_status.lower())
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if status is None:
            notes[f"status {raw_status!r} utan värde (not_published)"] += 1
            return math.nan, "not_published"
        return math.nan, "missing" if status == "ok" else status
    parsed = c.parse_number(raw)
    if parsed is None or parsed[1] != "ok":
        raise ValueFormatError(f"Värdet {c.show(raw)} är inte ett tal", file=f, row=k,
                               column="value", hint="Hämta svaret från Kolada på nytt")
    if status is None:
        notes[f"status {raw_status!r} med värde (värdet behållet)"] += 1
        return parsed[0], "ok"
    if status != "ok":
        return math.nan, status
    return parsed[0], "ok"


def _load(path: str | Path, table: Literal["results", "background"] = "results", *,
          kpi_map: Mapping[str, tuple[str, str]] | None = None,
          ou_map: Mapping[str, str] | None = None,
          background_map: Mapping[str, str] | None = None
          ) -> tuple[pd.DataFrame, ProvenanceRecord]:
    files, rows, index, dropped, notes, n_read, n_pages = _read(path, kpi_map, ou_map)
    df = pd.DataFrame(rows, index=index,
                      columns=_RESULTS_COLUMNS + ["_kpi"]).astype({"value": float})
    refuse_personnummer_columns(df[["school_id", "municipality_id", "value"]].astype(object),
                                Path(path))
    keys = ["level", "school_id", "municipality_id", "school_year", "_kpi", "group"]
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        sub = df[dup]
        raise c.rows_error(
            DuplicateRowsError, "Samma nyckeltal, enhet, år och kön förekommer flera gånger",
            file=Path(path), column="values",
            bad=[(i, f"{kp} {m or s} {y}") for i, kp, m, s, y in
                 zip(sub.index, sub["_kpi"], sub["municipality_id"], sub["school_id"],
                     sub["school_year"])],
            hint="Sidorna överlappar; spara varje sida en gång")
    note_list = [f"{len(files)} filer, {n_pages} sidor"]
    note_list += [f"{k}: {v}" if v > 1 else k for k, v in notes.items()]
    p = Path(path)
    if table == "background":
        bmap = dict(KPI_BACKGROUND)
        bmap.update(background_map or {})
        sel = df["_kpi"].isin(list(bmap)) & (df["group"] == "all")
        if not sel.any():
            raise FileFormatError(
                "Filen har inga bakgrundsnyckeltal (" + ", ".join(sorted(bmap)) + ")", file=p,
                hint="Ange background_map={'KPI-id': 'share_…'} eller läs resultat med "
                     "table='results'")
        sub = df[sel].assign(_col=df.loc[sel, "_kpi"].map(bmap))
        for line, col, value in zip(sub.index, sub["_col"], sub["value"]):
            c.check_value(col, float(value), file=p, row=int(line), column="value")
        sub = sub.assign(_line=sub.index)
        wide = sub.pivot_table(index=["level", "school_id", "municipality_id", "school_year"],
                               columns="_col", values="value", aggfunc="first", dropna=False)
        lines = sub.groupby(["level", "school_id", "municipality_id", "school_year"],
                            dropna=False)["_line"].min()
        out = wide.reset_index()
        out.columns.name = None
        out.index = lines.reindex(wide.index).to_numpy()
        for col in _BACKGROUND_COLUMNS:
            if col not in out.columns:
                out[col] = math.nan
        out = out[_BACKGROUND_COLUMNS]
        out["n_pupils"] = out["n_pupils"].astype("Int64")
        out["level"] = out["level"].astype(str)
        out["school_id"] = out["school_id"].astype(object).where(out["school_id"].notna(), None)
        dropped["värden som inte är bakgrundsnyckeltal för samtliga"] = int((~sel).sum())
        df = out
    else:
        df = df[_RESULTS_COLUMNS]
        df["n"] = df["n"].astype("Int64")
        counts = Counter(df["status"])
        note_list.append("status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if p.is_dir():
        return _finish_folder(df, p, files, n_read, dict(dropped), note_list, table,
                              "read_kolada")
    return c.finish(df, table=table, path=p, loader="read_kolada", rows_read=n_read,
                    dropped=dict(dropped), notes=note_list)


@c.guarded("svar från Koladas API")
def read_kolada(path: str | Path, table: Literal["results", "background"] = "results", *,
                kpi_map: Mapping[str, tuple[str, str]] | None = None,
                ou_map: Mapping[str, str] | None = None,
                background_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read Kolada API responses (v2 or v3; a file, a list of pages, or a folder).

    Parameters
    ----------
    path : a saved response, a JSON list of pages, or a folder of page files.
    table : ``"results"`` (default) or ``"background"`` (from the
        background KPIs, group all).
    kpi_map : extra KPI id -> (measure, principal_type), added to
        :data:`KPI_MEASURES`.
    ou_map : Kolada OU id -> skolenhetskod, needed for ``oudata`` responses.
    background_map : extra KPI id -> background column.

    Returns
    -------
    The canonical table; attrs ``source``, ``table``, ``provenance``.

    Notes
    -----
    Missing data: Kolada's missing and privacy statuses become ``status``
    with value NaN; withdrawn (isdeleted) rows are dropped and counted.
    See the module docstring for the KPI map and every decision.
    """
    return c.publish(_load(path, table, kpi_map=kpi_map, ou_map=ou_map,
                           background_map=background_map))
