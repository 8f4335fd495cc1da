"""Skolverket's planned-educations API v4 (cached responses) -> ``results`` / ``schools``.

Two responses per school unit are read, either as cached files
``{generatedAt, url, acceptHeader, json: {status, message, body}}`` (as an
HTTP cache writes them) or as the bare ``body``:

* ``/school-units/{code}/statistics/gr`` -> school-level ``results`` over all
  time periods (:func:`read_skolverket_api`);
* ``/school-units/{code}`` -> the ``schools`` table
  (:func:`read_skolverket_api_schools`).

A folder is read file by file (``*.json`` in the folder and its subfolders,
sorted by path), as people save them:

* ``/school-units/{code}`` responses fill ``municipality_id`` of the
  statistics rows; list responses from ``/school-units?…`` (``listedSchoolUnits``,
  which name each unit's ``geographicalAreaCode``) fill it for units without a
  response of their own; ``/compact-school-units`` pages name no municipality
  and are skipped; each kind is counted in provenance;
* a statistics file read on its own gets the municipality code from the
  responses saved beside it (its folder and subfolders, the unit's own
  ``school-unit-{code}.json`` first), and the files used are named in
  provenance; where none is found the unit is named in a provenance note
  (the statistics body does not name the municipality);
* in a folder, a JSON file that is not an API v4 response is not read and is
  named in provenance (a single such file is refused).

Decisions
---------
* Statistics -> measures (:data:`STATISTICS`): merit value (17 subjects since
  2014/15) -> ``merit_17``; all subjects passed år 9 / år 6; eligibility per
  programme type (YR vocational, NATE, SAEKHU economics/humanities/social
  science, ES aesthetic); national-test averages år 6/9 in Swedish, Swedish as
  a second language, English, maths -> ``np_{sv,sva,en,ma}_{6,9}_avg_points``;
  certified teachers, pupils per teacher, special educators, special teacher
  positions, total number of pupils. Keys not in the map are left out and
  named in provenance.
* ``valueType`` -> status: EXISTS ok, OMITTED_DUE_TO_BASED_ON_FEW_PUPILS
  suppressed, MISSING missing, ROUNDED_OFF_DUE_TO_FEW_PUPILS_NOT_ELIGIBLE
  approx_100 (value NaN), TEACHERS_EXCLUDED_DUE_TO_NO_REQUIRED_LEGITIMATION
  excluded; an unknown valueType is ``not_published`` and noted.
* Values are strings with decimal comma (``"250,1"``); ``"cirka 140"`` (the
  API rounds pupil counts) is read as 140 with status ok and the number of
  such values noted in provenance.
* ``timePeriod`` is the läsår (``2024/25``); an entry without a time period
  (the API's "MISSING" placeholder) cannot be placed in a year and is counted
  as left out.
* School-level results have ``principal_type`` ``all`` (the school's own type
  is in the schools table); ``principalOrganizerType`` ``Kommunal`` ->
  kommunal, ``Fristående``/``Enskild`` -> enskild in the schools table.
* The row index (``rad``) is the entry's position in the file's list of
  values for that statistic (1-based), the nearest thing to a line a JSON
  response has (for schools: the file's position in the folder); ``source``
  is the file name.
* A response whose ``json.status`` is not ``OK`` is refused with its message.
* Refused with file, entry and statistic: a value outside what the measure
  can be (a share over 100, a negative count; ``_common.check_value``), a
  file that mixes decimal comma and point, a time period after this school
  year, and the same school, school year and statistic twice (in one file or
  in two files of a folder).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..dataset import ProvenanceRecord, sha256_of
from ..errors import DuplicateRowsError, FileFormatError, ValueFormatError
from ..privacy import refuse_personnummer_columns
from . import _common as c

STATISTICS: dict[str, str] = {
    "averageGradesMeritRating9thGrade": "merit_17",
    "ratioOfPupilsIn9thGradeWithAllSubjectsPassed": "pass_all_subjects_pct",
    "ratioOfPupils9thGradeEligibleForNationalProgramYR": "eligible_vocational_pct",
    "ratioOfPupils9thGradeEligibleForNationalProgramNATE": "eligible_natural_science_pct",
    "ratioOfPupils9thGradeEligibleForNationalProgramSAEKHU": "eligible_economics_pct",
    "ratioOfPupils9thGradeEligibleForNationalProgramES": "eligible_aesthetic_pct",
    "ratioOfPupilsIn6thGradeWithAllSubjectsPassed": "grade6_pass_all_subjects_pct",
    "averageResultNationalTestsSubjectSVE9thGrade": "np_sv_9_avg_points",
    "averageResultNationalTestsSubjectSVA9thGrade": "np_sva_9_avg_points",
    "averageResultNationalTestsSubjectENG9thGrade": "np_en_9_avg_points",
    "averageResultNationalTestsSubjectMA9thGrade": "np_ma_9_avg_points",
    "averageResultNationalTestsSubjectSVE6thGrade": "np_sv_6_avg_points",
    "averageResultNationalTestsSubjectSVA6thGrade": "np_sva_6_avg_points",
    "averageResultNationalTestsSubjectENG6thGrade": "np_en_6_avg_points",
    "averageResultNationalTestsSubjectMA6thGrade": "np_ma_6_avg_points",
    "certifiedTeachersQuota": "certified_teachers_pct",
    "studentsPerTeacherQuota": "pupils_per_teacher",
    "specialEducatorsQuota": "special_educators_pct",
    "specialTeacherPositions": "special_teacher_positions",
    "totalNumberOfPupils": "n_pupils_total",
}
"""API statistic key -> measure."""

VALUE_TYPES: dict[str, str] = {
    "EXISTS": "ok",
    "OMITTED_DUE_TO_BASED_ON_FEW_PUPILS": "suppressed",
    "MISSING": "missing",
    "ROUNDED_OFF_DUE_TO_FEW_PUPILS_NOT_ELIGIBLE": "approx_100",
    "TEACHERS_EXCLUDED_DUE_TO_NO_REQUIRED_LEGITIMATION": "excluded",
}
"""API valueType -> status."""

_PRINCIPAL = {"kommunal": "kommunal", "fristående": "enskild", "enskild": "enskild",
              "fristaende": "enskild"}
_RESULTS_COLUMNS = ["level", "school_id", "municipality_id", "school_year", "measure", "group",
                    "principal_type", "value", "n", "status", "source"]
_STATS_URL = re.compile(r"/school-units/(\d{8})/statistics/(\w+)")
_UNIT_URL = re.compile(r"/school-units/(\d{8})/?(?:\?|$)")


def _read_json(p: Path) -> Any:
    text, _enc, _notes = c.read_text(p)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise c.json_error(exc, p, "Hämta svaret från API:et på nytt") from None


def _unwrap(doc: Any, p: Path) -> tuple[str, dict[str, Any], str | None]:
    """(kind, body, url): kind 'statistics', 'unit' or 'other'."""
    url = None
    body = doc
    if isinstance(doc, dict) and "json" in doc and isinstance(doc["json"], dict):
        url = doc.get("url") if isinstance(doc.get("url"), str) else None
        env = doc["json"]
        status = env.get("status")
        if status not in (None, "OK"):
            raise FileFormatError(
                f"API-svaret har status {status!r}: {env.get('message')!r}", file=p,
                hint="Hämta svaret från API:et på nytt; skolenheten kan sakna statistik")
        body = env.get("body")
    if isinstance(body, dict) and isinstance(body.get("body"), dict) and "status" in body:
        body = body["body"]
    if not isinstance(body, dict):
        raise FileFormatError("API-svaret saknar ett `body`-objekt", file=p,
                              hint="Filen ska vara ett svar från Skolverkets API v4 "
                                   "(planned-educations)")
    embedded = body.get("_embedded")
    if isinstance(embedded, dict):
        if isinstance(embedded.get("listedSchoolUnits"), list):
            return "list", body, url
        if isinstance(embedded.get("compactSchoolUnits"), list):
            return "compact", body, url
    if url and _STATS_URL.search(url):
        return "statistics", body, url
    if url and _UNIT_URL.search(url):
        return "unit", body, url
    if "schoolUnit" in body and any(k in STATISTICS for k in body):
        return "statistics", body, url
    if "code" in body and ("name" in body or "principalOrganizerType" in body):
        return "unit", body, url
    return "other", body, url


def _files(path: str | Path) -> list[Path]:
    return c.json_files(path, "Skolverkets API")


def _school_of(body: dict[str, Any], p: Path) -> dict[str, Any]:
    code = c.cell_text(body.get("code"))
    if not (code.isdigit() and len(code) == 8):
        raise ValueFormatError(f"Skolenhetskoden {code!r} är inte åtta siffror", file=p,
                               column="code", hint="Hämta svaret från API:et på nytt")
    mid = c.pad_code(body.get("geographicalAreaCode"), 4)
    pt_raw = c.cell_text(body.get("principalOrganizerType") or body.get("companyForm"))
    grades = []
    for t in body.get("typeOfSchooling") or []:
        if isinstance(t, dict) and t.get("code") == "gr":
            grades = [str(x) for x in (t.get("schoolYears") or [])]
    return {"school_id": code, "school_name": c.cell_text(body.get("name")) or code,
            "municipality_id": mid if mid.isdigit() and len(mid) == 4 else None,
            "municipality_name": None, "principal_type": _PRINCIPAL.get(c.norm(pt_raw)),
            "_principal_raw": pt_raw,
            "grades": f"{grades[0]}-{grades[-1]}" if grades else None}


def _statistics_rows(body: dict[str, Any], p: Path, out: list[dict], index: list[int],
                     dropped: Counter, unknown: Counter, notes: Counter,
                     municipality: dict[str, str | None], file_of_row: list[str]) -> None:
    code = c.cell_text(body.get("schoolUnit"))
    if not (code.isdigit() and len(code) == 8):
        raise ValueFormatError(f"Skolenhetskoden {c.show(code)} är inte åtta siffror", file=p,
                               column="schoolUnit", hint="Hämta svaret från API:et på nytt")
    decimals = c.DecimalStyle()
    _period_cache: dict[str, str | None] = {}
    for key, entries in body.items():
        if key in ("schoolUnit", "_links", "docLinks"):
            continue
        if not isinstance(entries, list):
            continue
        measure = STATISTICS.get(key)
        if measure is None:
            unknown[key] += len(entries)
            continue
        for k, e in enumerate(entries, start=1):
            if not isinstance(e, dict):
                raise ValueFormatError(f"Ett värde i `{key}` är inte ett objekt", file=p,
                                       row=k, column=key,
                                       hint="Hämta svaret från API:et på nytt")
            period = e.get("timePeriod")
            sy = _period_cache.get(period, "") if isinstance(period, str) else ""
            if sy == "":
                sy = c.school_year_of_text(str(period)) if period is not None else None
                if sy is not None:
                    # a time period is checked once per file (a folder has a handful)
                    c.check_not_future(file=p, row=k, column=key, school_year=sy,
                                       hint="Hämta svaret från API:et på nytt")
                if isinstance(period, str):
                    _period_cache[period] = sy
            if sy is None:
                dropped["värden utan tidsperiod (timePeriod saknas)"] += 1
                continue
            vt = str(e.get("valueType") or "")
            status = VALUE_TYPES.get(vt)
            if status is None:
                status = "not_published"
                notes[f"okänd valueType {vt!r} (not_published)"] += 1
            value = math.nan
            if status == "ok":
                raw = e.get("value")
                parsed = c.parse_number(raw)
                if parsed is None or parsed[1] != "ok":
                    raise ValueFormatError(
                        f"Värdet {c.show(raw)} går inte att läsa som tal", file=p,
                        row=k, column=key,
                        hint="Förväntat ett tal med decimalkomma, t.ex. \"250,1\"")
                decimals.see(raw, file=p, row=k, column=key)
                value = parsed[0]
                c.check_value(measure, value, file=p, row=k, column=key, raw=raw)
                if isinstance(raw, str) and raw[:1].isalpha() and \
                        c.norm(raw).startswith(("cirka", "ca ")):
                    notes["avrundade värden (\"cirka …\") lästa som tal"] += 1
            out.append({"level": "school", "school_id": code,
                        "municipality_id": municipality.get(code), "school_year": sy,
                        "measure": measure, "group": "all", "principal_type": "all",
                        "value": value, "n": None, "status": status, "source": p.name})
            index.append(k)
            file_of_row.append(p.name)


_MAYBE_PNR = re.compile(r"\d{6}")


def _guard(body: dict[str, Any], p: Path) -> None:
    """The personnummer guard over the raw values of a statistics body.

    Only the statistics with a value holding six digits in a row can hold a
    personnummer (10 or 12 digits, or SCB's ``ååååmmddTFxx``); those go through
    :func:`privacy.refuse_personnummer_columns`, the rest are passed without
    building a table (the guard took about 80 % of a folder's load time).
    """
    cols = {k: [e.get("value") if isinstance(e, dict) else e for e in v]
            for k, v in body.items() if isinstance(v, list) and v}
    cols = {k: v for k, v in cols.items()
            if any(_MAYBE_PNR.search(x if isinstance(x, str) else str(x)) for x in v
                   if x is not None)}
    if cols:
        width = max(len(v) for v in cols.values())
        raw = pd.DataFrame({k: v + [None] * (width - len(v)) for k, v in cols.items()},
                           index=range(1, width + 1))
        refuse_personnummer_columns(raw, p)


def _list_municipalities(body: dict[str, Any]) -> dict[str, str]:
    """School unit code -> municipality code from a ``/school-units`` list page."""
    out: dict[str, str] = {}
    for u in body["_embedded"]["listedSchoolUnits"]:
        if not isinstance(u, dict):
            continue
        code = c.cell_text(u.get("code"))
        mid = c.pad_code(u.get("geographicalAreaCode"), 4)
        if code.isdigit() and len(code) == 8 and mid.isdigit() and len(mid) == 4:
            out[code] = mid
    return out


def _sibling_municipalities(p: Path, codes: set[str]) -> tuple[dict[str, str], list[str]]:
    """For a statistics file read on its own: the municipality of its school units from the
    responses saved beside it (``/school-units/{code}`` responses, list pages), searched in
    the file's folder and its subfolders. Returns (code -> municipality, files used)."""
    found: dict[str, str] = {}
    used: list[str] = []
    folder = p.parent
    try:
        candidates = sorted(x for x in folder.rglob("*.json") if x.is_file() and x != p)
    except OSError:
        return found, used
    # files that name the unit first (school-unit-{code}.json), then the rest
    candidates.sort(key=lambda x: (not any(code in x.name for code in codes), str(x)))
    for f in candidates:
        if codes <= found.keys():
            break
        try:
            kind, body, _url = _unwrap(_read_json(f), f)
        except (FileFormatError, ValueFormatError, UnicodeError, OSError):
            continue
        if kind == "unit":
            code = c.cell_text(body.get("code"))
            mid = c.pad_code(body.get("geographicalAreaCode"), 4)
            if code in codes and mid.isdigit() and len(mid) == 4:
                found[code] = mid
                used.append(f.name)
        elif kind == "list":
            hits = {k: v for k, v in _list_municipalities(body).items() if k in codes}
            if hits:
                found.update(hits)
                used.append(f.name)
    return found, used


def _load(path: str | Path) -> tuple[pd.DataFrame, ProvenanceRecord]:
    return load_files(_files(path), Path(path))


def load_files(files: list[Path], path: Path) -> tuple[pd.DataFrame, ProvenanceRecord]:
    """Read the given response files as one set (``path``: the folder they are in, or the
    single file); the folder reader's entry, which picks the API files of a folder."""
    single = not Path(path).is_dir()
    docs = [(f, *_unwrap(_read_json(f), f)) for f in files]
    municipality: dict[str, str | None] = {}
    from_lists: dict[str, str] = {}
    for f, kind, body, _url in docs:
        if kind == "unit":
            s = _school_of(body, f)
            municipality[s["school_id"]] = s["municipality_id"]
        elif kind == "list":
            from_lists.update(_list_municipalities(body))
    for code, mid in from_lists.items():
        if municipality.get(code) is None:
            municipality[code] = mid
    extra_notes: list[str] = []
    if single and docs and docs[0][1] == "statistics":
        code = c.cell_text(docs[0][2].get("schoolUnit"))
        if municipality.get(code) is None:
            found, used = _sibling_municipalities(docs[0][0], {code})
            municipality.update(found)
            if used:
                extra_notes.append("kommunkoden hämtad ur " + ", ".join(used))
    rows: list[dict] = []
    index: list[int] = []
    file_of_row: list[str] = []
    dropped: Counter = Counter()
    unknown: Counter = Counter()
    notes: Counter = Counter()
    not_read: list[str] = []
    n_stats = 0
    n_lists = 0
    for f, kind, body, _url in docs:
        if kind == "statistics":
            n_stats += 1
            _guard(body, f)
            _statistics_rows(body, f, rows, index, dropped, unknown, notes, municipality,
                             file_of_row)
        elif kind == "unit":
            dropped["skolenhetssvar (läs dem med read_skolverket_api_schools)"] += 1
        elif kind == "list":
            n_lists += 1
            dropped["listsvar från /school-units (används för skolenheternas kommunkod)"] += 1
        elif kind == "compact":
            n_lists += 1
            dropped["listsvar från /compact-school-units (saknar kommunkod; inte inläst)"] += 1
        elif single:
            raise FileFormatError(
                "Filen är inte ett svar från /school-units/{kod}/statistics/gr eller "
                "/school-units/{kod}", file=f,
                hint="Läs Kolada-filer med read_kolada och Skolverkets exporter med "
                     "read_skolverket")
        else:
            not_read.append(f.name)
            dropped["filer som inte är svar från Skolverkets API v4 (se anteckningen)"] += 1
    df = pd.DataFrame(rows, index=index, columns=_RESULTS_COLUMNS)
    df["value"] = df["value"].astype(float)
    df["n"] = df["n"].astype("Int64")
    _refuse_duplicates(df, file_of_row, files)
    note_list = [f"{len(files)} filer, {n_stats} med statistik"
                 + (f", {n_lists} listsvar" if n_lists else "")]
    if not single and any(f.parent != Path(path) for f in files):
        subs = sorted({str(f.parent.relative_to(Path(path))) for f in files
                       if f.parent != Path(path)})
        note_list.append("undermappar som lästes: " + ", ".join(subs))
    note_list += extra_notes
    note_list += [f"{k}: {v}" for k, v in notes.items()]
    if unknown:
        note_list.append("statistik utan mått i vokabulären (inte inläst): "
                         + ", ".join(f"{k} ({v})" for k, v in sorted(unknown.items())))
    if not_read:
        note_list.append("filer som inte lästes (inte svar från /school-units): "
                         + ", ".join(not_read))
    no_mid = sorted(set(df.loc[df["municipality_id"].isna(), "school_id"]))
    if no_mid:
        note_list.append(
            f"kommunkod saknas för {len(no_mid)} skolenheter ({', '.join(no_mid[:10])}"
            f"{' …' if len(no_mid) > 10 else ''}): spara svaret från /school-units/{{kod}} "
            "bredvid statistiksvaret")
    counts = Counter(df["status"])
    note_list.append("status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    p = Path(path)
    if p.is_dir():
        return _finish_folder(df, p, files, len(rows) + sum(dropped.values()), dict(dropped),
                              note_list, "results", "read_skolverket_api")
    return c.finish(df, table="results", path=p, loader="read_skolverket_api",
                    rows_read=len(rows) + sum(dropped.values()), dropped=dict(dropped),
                    notes=note_list)


def _refuse_duplicates(df: pd.DataFrame, file_of_row: list[str], files: list[Path]) -> None:
    """The same school, school year and statistic twice (in one file or in two)."""
    keys = df[["school_id", "school_year", "measure"]].astype(str)
    dup = keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    measure_key = {m: k for k, m in STATISTICS.items()}
    pos = np.flatnonzero(dup)
    first = keys.iloc[pos[0]]
    same = [i for i in pos if (keys.iloc[i] == first).all()]
    listed = "; ".join(f"{file_of_row[i]} rad {df.index[i]}" for i in same[:10])
    path = next(f for f in files if f.name == file_of_row[same[0]])
    raise DuplicateRowsError(
        f"Samma skolenhet, läsår och statistik förekommer flera gånger ({first['school_id']}, "
        f"{first['school_year']}: {listed})", file=path, row=int(df.index[same[0]]),
        column=measure_key.get(first["measure"], first["measure"]),
        hint="Ta bort dubbletterna; spara varje svar från API:et en gång")


def _finish_folder(df: pd.DataFrame, folder: Path, files: list[Path], rows_read: int,
                   dropped: dict[str, int], notes: list[str], table: str, loader: str
                   ) -> tuple[pd.DataFrame, ProvenanceRecord]:
    """Like ``_common.finish`` for a folder: sha256 over the files' hashes, in name order."""
    import hashlib

    from .. import schema

    df = df.copy()
    df.index.name = "rad"
    df.attrs = {"source": folder.name}
    out = schema.validate(table, df)
    out.index.name = "rad"
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode("utf-8") + b"\0" + sha256_of(f).encode("ascii") + b"\n")
    prov = ProvenanceRecord(path=folder.name, sha256=h.hexdigest(), loader=loader, table=table,
                            rows_read=rows_read, rows_kept=len(out),
                            dropped={k: v for k, v in dropped.items() if v},
                            notes=tuple(notes))
    out.attrs = {"source": folder.name, "table": table}
    return out, prov


def _load_schools(path: str | Path) -> tuple[pd.DataFrame, ProvenanceRecord]:
    files = _files(path)
    recs: list[dict[str, Any]] = []
    index: list[int] = []
    dropped: Counter = Counter()
    for k, f in enumerate(files, start=1):
        kind, body, _url = _unwrap(_read_json(f), f)
        if kind == "list":
            dropped["listsvar (skolenheterna läses ur sina egna svar)"] += 1
            continue
        if kind != "unit":
            dropped["filer som inte är skolenhetssvar"] += 1
            continue
        s = _school_of(body, f)
        if s["principal_type"] is None:
            dropped[f"skolenheter med huvudmannatypen {s['_principal_raw'] or '(tom)'}"] += 1
            continue
        if s["municipality_id"] is None:
            raise ValueFormatError("Skolenheten saknar kommunkod (geographicalAreaCode)",
                                   file=f, column="geographicalAreaCode",
                                   hint="Hämta svaret från API:et på nytt")
        s.pop("_principal_raw")
        recs.append(s)
        index.append(k)
    df = pd.DataFrame(recs, index=index, columns=["school_id", "school_name", "municipality_id",
                                                  "municipality_name", "principal_type",
                                                  "grades"])
    p = Path(path)
    notes = [f"{len(files)} filer, {len(recs)} skolenheter"]
    if p.is_dir():
        return _finish_folder(df, p, files, len(files), dict(dropped), notes, "schools",
                              "read_skolverket_api_schools")
    return c.finish(df, table="schools", path=p, loader="read_skolverket_api_schools",
                    rows_read=1, dropped=dict(dropped), notes=notes)


@c.guarded("svar från Skolverkets API")
def read_skolverket_api(path: str | Path) -> pd.DataFrame:
    """Read cached ``/school-units/{code}/statistics/gr`` responses into ``results``.

    Parameters
    ----------
    path : one response file, or a folder of them (``*.json``). In a folder,
        ``/school-units/{code}`` responses fill in ``municipality_id``; they
        are otherwise counted as left out (read them with
        :func:`read_skolverket_api_schools`).

    Returns
    -------
    School-level ``results`` over all time periods in the responses; attrs
    ``source``, ``table`` (``"results"``) and ``provenance``.

    Notes
    -----
    Missing data: valueType markers become ``status`` with value NaN; entries
    without a time period are counted in provenance. See the module docstring.
    """
    return c.publish(_load(path))


@c.guarded("svar från Skolverkets API")
def read_skolverket_api_schools(path: str | Path) -> pd.DataFrame:
    """Read cached ``/school-units/{code}`` responses (a file or a folder) into ``schools``.

    Statistics responses in a folder are counted as left out. Units whose
    principal type is neither municipal nor independent (e.g. state schools)
    are left out and counted.
    """
    return c.publish(_load_schools(path))
