"""Skolverket statistics exports ("Sök statistik") -> ``results`` or ``background``.

CSV and XLSX at school-unit and municipality level. Reports recognised
(:data:`KNOWN_REPORTS`):

=====================  ====================================================  ============
report                 what                                                  table
=====================  ====================================================  ============
``slutbetyg_ak9``      final grades år 9: Antal elever, godkänt i alla       results
                       ämnen, meritvärde 17/16, behörighet (per programtyp)
``nationella_prov``    national tests år 3/6/9 per subject (``Ämne``):       results
                       antal, andel A–E, genomsnittlig betygspoäng, deltagit
``betyg_ak6``          grades år 6: ämnesbetyg, godkänt i alla/ett/flera     results
``personal``           teachers: heltidstjänster, tjänstgörande lärare,      results
                       andel med legitimation och behörighet, förstelärare
``elever``             pupils per grade with composition (% flickor, %       background
                       utländsk bakgrund, % föräldrar med eftergymnasial
                       utbildning)
``over_tid``           "Jämförelse av betygsresultat över tid": one sheet    results and
                       per principal type, school years as columns, år 9     background
                       results and the år 9 background rows
``behorighet``         eligibility for upper-secondary programmes år 9       results
                       (``behorighet_*``): antal elever, behöriga per
                       programtyp (the ``eligible_*_pct`` measures)
=====================  ====================================================  ============

Public: :func:`read_skolverket` (``table=None`` gives the report's main table;
``"background"`` the background rows of ``over_tid``; ``"schools"`` the
school units named in a school-level export).

Decisions
---------
* Layout: the header row is the first row with ``Kommun-kod``/``Kommunkod``
  or ``Skol-enhetskod``/``Skolenhetskod``; everything above it is preamble (any
  length, ``;;;;``-padded or not); a category row directly above the header
  (first cell empty) makes a two-row header, and its labels are carried
  forward over empty cells (merged cells in XLSX). Data rows follow the header
  up to the first blank row; what comes after is the footer and is not read.
* The school year is taken from ``Valt läsår: 2023/24`` in the preamble, never
  from the file name. ``Valt år: Y`` (older exports) is läsår Y/Y+1 for
  reports counted in the autumn (pupils, teachers: ``Valt år: 2024`` =
  2024/25, as the pupil-count export with ``Valt läsår: 2024/25`` named
  "… 2024" shows) and (Y-1)/Y for grades and tests given in the spring. A
  file without either line is refused. ``over_tid`` has its years as columns.
* Level: a ``Skol-enhetskod`` column means school level; else municipality
  level; a row for ``Riket`` (or code ``0000``) is national level.
* Principal type: ``Samtliga`` -> all, ``Kommunal`` -> kommunal, ``Enskild``
  -> enskild. Rows for ``Statlig``, ``Region`` and ``Internationella skolor``
  have no place in the vocabulary; they are left out and counted in
  provenance. School-level results have principal_type ``all`` (the school's
  own type is in the schools table, ``table="schools"``).
* Groups: ``Totalt`` -> all, ``Flickor`` -> girls, ``Pojkar`` -> boys.
* Every value cell becomes exactly one results row; markers become
  ``status`` with value NaN (see ``_common``), never 0. ``n`` is the
  report's pupil count for the same row and group (``Antal elever``,
  ``Antal elever med provbetyg``). In ``betyg_ak6``, ``Antal elever`` is used
  only as ``n`` (the measure vocabulary has no år 6 count); its markers are
  counted in provenance.
* Header wording that changed over the years maps to the same measure
  (``uppnått kunskapskraven`` / ``uppfyllt betygskriterierna`` / ``fått
  godkänt betyg`` / ``nått målen`` -> ``pass_all_subjects_pct``; a
  meritvärde without "17" or "16" is the 16-subject value used before
  2014/15). Value columns the loader has no measure for are left out and
  named in provenance.
* Background tables have no status column: markers become NaN and their
  counts are written in provenance (``markörer: .. 52, . 217``); a share that
  reads ``~100`` is also named in the row's ``approx_100`` column (the
  background form of status ``approx_100``; the column is there when a file
  has such a share). Only the
  ``Samtliga`` rows of municipality-level exports are background; the others
  are counted as left out. The ``over_tid`` background is about pupils in
  år 9 (``Totalt antal elever årskurs 9``), the ``elever`` background about
  pupils in år 1–9.
* ``source`` in results is the file name.
* Refused with file, row and column (besides unreadable cells and codes): a
  value outside what the measure can be (a share over 100, a meritvärde over
  340, a count that is negative or not whole, e.g. ``3,877`` written with a
  thousands comma; ``_common.check_value``), a file that mixes decimal comma
  and decimal point, a school year after this one, the same unit twice
  (DuplicateRowsError), a header without data rows (a truncated file), a CSV
  row with fewer fields than the header, a second table after the first (two
  exports pasted together), and a school-level export whose school code
  column is missing (its rows would otherwise pass as municipality rows).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .. import schema
from ..dataset import ProvenanceRecord
from ..errors import (
    DuplicateRowsError,
    FileFormatError,
    MissingColumnError,
    UnknownReportError,
    ValueFormatError,
)
from ..privacy import refuse_personnummer_columns
from . import _common as c

KNOWN_REPORTS: dict[str, str] = {
    "slutbetyg_ak9": "Slutbetyg årskurs 9 (skolenhet eller kommun)",
    "nationella_prov": "Resultat nationella prov årskurs 3, 6 eller 9 (med kolumnen Ämne)",
    "betyg_ak6": "Betyg årskurs 6, andel som fått godkänt betyg (A-E)",
    "personal": "Personalstatistik med lärarlegitimation och behörighet",
    "elever": "Antal elever per årskurs (med andel flickor, utländsk bakgrund och "
              "föräldrarnas utbildning)",
    "over_tid": "Jämförelse av betygsresultat över tid (en flik per typ av huvudman, "
                "läsår som kolumner)",
    "behorighet": "Behörighet till gymnasieskolans nationella program, årskurs 9 "
                  "(t.ex. behorighet_*.csv)",
}

TableName = Literal["results", "background", "schools"]

_MAIN_TABLE = {"slutbetyg_ak9": "results", "nationella_prov": "results", "betyg_ak6": "results",
               "personal": "results", "elever": "background", "over_tid": "results",
               "behorighet": "results"}
_AUTUMN_REPORTS = {"elever", "personal"}

_PRINCIPAL = {"samtliga": "all", "alla": "all", "totalt": "all", "kommunal": "kommunal",
              "enskild": "enskild", "fristående": "enskild"}
_GROUP = {"totalt": "all", "samtliga": "all", "alla": "all", "flickor": "girls",
          "pojkar": "boys"}

# Ordered (pattern, measure) rules per report; the first match wins.
_SLUTBETYG_RULES: list[tuple[str, str]] = [
    (r"^antal (elever|flickor|pojkar)", "n_pupils_grade9"),
    (r"antal elever", "n_pupils_grade9"),
    (r"meritvärde.*17", "merit_17"),
    (r"meritvärde.*16", "merit_16"),
    (r"meritvärde", "merit_16"),
    # full and abbreviated headers (files re-saved through Excel: "yrkesprog.")
    (r"behörig.*yrkes ?prog", "eligible_vocational_pct"),
    (r"behörig.*(naturvetenskap|natur\.?-? ?och tekn|teknikprog|na ?/ ?te)",
     "eligible_natural_science_pct"),
    (r"behörig.*(ekonomi|ekon\.|humanist|hum\.|samhällsvetenskap|samh\.|ek ?/ ?hu ?/ ?sa)",
     "eligible_economics_pct"),
    (r"behörig.*estet", "eligible_aesthetic_pct"),
    (r"(godkänt betyg|godkända betyg|uppnått kunskapskraven|uppfyllt betygskriterierna|"
     r"nått målen|uppnått målen).*alla ämnen", "pass_all_subjects_pct"),
]
_AK6_RULES: list[tuple[str, str]] = [
    (r"^antal (elever|flickor|pojkar)", "_n"),
    (r"antal ämnesbetyg", "grade6_avg_subject_grades"),
    (r"ej (fått )?godkänt betyg i ett ämne|inte (fått )?godkänt betyg i ett ämne",
     "grade6_fail_one_subject_pct"),
    (r"ej (fått )?godkänt betyg i (fler|flera)|inte (fått )?godkänt betyg i (fler|flera)",
     "grade6_fail_several_subjects_pct"),
    (r"(godkänt betyg|uppnått kunskapskraven|uppfyllt betygskriterierna).*alla ämnen",
     "grade6_pass_all_subjects_pct"),
]
_NP_RULES: list[tuple[str, str]] = [
    (r"antal elever", "n"),
    (r"andel.*(provbetyg a-e|provbetyg a–e|godkänt|lägst e|minst e)", "pass_pct"),
    (r"(genomsnittlig|genomsnitt).*(poäng|betygspoäng)", "avg_points"),
    (r"deltagit", "participation_pct"),
]
_NP_SUBJECTS = {
    "svenska": "sv", "svenska som andraspråk": "sva", "engelska": "en", "matematik": "ma",
    "biologi": "bi", "fysik": "fy", "kemi": "ke", "geografi": "ge", "historia": "hi",
    "religionskunskap": "re", "samhällskunskap": "sh", "no": "no", "so": "so",
    "naturorienterande ämnen": "no", "samhällsorienterande ämnen": "so",
}
_PERSONAL_RULES: list[tuple[str, str, str]] = [
    # (category pattern, header pattern, measure)
    (r"heltidstjänst", r"^totalt", "teachers_fte"),
    (r"heltidstjänst", r"^andel", "certified_teachers_fte_pct"),
    (r"tjänstgörande", r"^totalt", "teachers_n"),
    (r"tjänstgörande", r"^andel", "certified_teachers_pct"),
    (r"tjänstgörande", r"förstelärare", "first_teachers_n"),
]
_BACKGROUND_RULES: list[tuple[str, str]] = [
    (r"^elever,? (i )?(årskurs|åk) 1-9$|^totalt antal elever|^elever,? totalt", "n_pupils"),
    (r"andel.*flickor.*(1-9|årskurs 9|åk 9)|^- andel \(%\) flickor$", "share_girls"),
    (r"andel.*utländsk bakgrund", "share_foreign_background"),
    (r"andel.*föräldrar.*eftergymnasial", "share_parents_higher_edu"),
    (r"andel.*nyanlända", "share_newly_arrived"),
]
_OVER_TID_BACKGROUND: list[tuple[str, str]] = [
    (r"^totalt antal elever", "n_pupils"),
    (r"^- ?andel.*flickor", "share_girls"),
    (r"^- ?andel.*utländsk bakgrund", "share_foreign_background"),
    (r"^- ?andel.*eftergymnasial", "share_parents_higher_edu"),
    (r"^- ?andel.*nyanlända", "share_newly_arrived"),
]

_ID_COLUMNS = {
    "skola": "school_name", "skolenhet": "school_name", "skolenhetskod": "school_id",
    "skolkommun": "municipality_name", "kommun": "municipality_name",
    "kommunkod": "municipality_id", "lan": "_county", "lanskod": "_county_id",
    "typavhuvudman": "principal", "huvudman": "_principal_name",
    "huvudmanorgnr": "_principal_orgnr", "huvudmannensorgnr": "_principal_orgnr",
    "amne": "subject", "uppgift": "indicator", "kon": "gender",
}
_BACKGROUND_COLUMNS = ["level", "school_id", "municipality_id", "school_year", "n_pupils",
                       "share_girls", "share_foreign_background", "share_parents_higher_edu",
                       "share_newly_arrived"]
_RESULTS_COLUMNS = ["level", "school_id", "municipality_id", "school_year", "measure", "group",
                    "principal_type", "value", "n", "status", "source"]


@dataclass
class _Sheet:
    name: str
    rows: list[c.Row]
    header: c.Row
    header_idx: int
    preamble: list[str]
    kind: str
    grade: int | None
    categories: list[str]
    headers: list[str]
    roles: dict[int, str]
    data: list[c.Row]
    footer_lines: int
    notes: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        return "school" if "school_id" in self.roles.values() else "municipality"

    def col(self, role: str) -> int | None:
        for j, r in self.roles.items():
            if r == role:
                return j
        return None

    def label(self, j: int) -> str:
        cat = self.categories[j] if j < len(self.categories) else ""
        head = self.headers[j] if j < len(self.headers) else ""
        return f"{cat} – {head}" if cat and head and cat != head else (head or cat)


# --------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------
def _header_index(rows: Sequence[c.Row]) -> int | None:
    for i, r in enumerate(rows):
        folded = {c.fold(x) for x in r.cells}
        if folded & {"kommunkod", "skolenhetskod"}:
            return i
    return None


def _kind_from_text(text: str) -> tuple[str | None, int | None]:
    t = c.norm(text)
    grade = None
    m = re.search(r"(?:årskurs|åk)\.? ?([369])\b", t)
    if m:
        grade = int(m.group(1))
    if "jämförelse" in t and "över tid" in t:
        return "over_tid", grade
    if "nationella prov" in t or "ämnesprov" in t:
        return "nationella_prov", grade
    if re.search(r"behörighet|behorighet", t) and "lärar" not in t:
        return "behorighet", 9
    if "slutbetyg" in t:
        return "slutbetyg_ak9", 9
    if re.search(r"betyg (i )?(årskurs|åk) ?6", t):
        return "betyg_ak6", 6
    if "personalstatistik" in t or "lärarlegitimation" in t:
        return "personal", None
    if "antal elever per årskurs" in t or "elever per årskurs" in t:
        return "elever", None
    return None, grade


def _kind_from_header(categories: list[str], headers: list[str]) -> str | None:
    cats = " | ".join(c.norm(x) for x in categories)
    heads = [c.norm(x) for x in headers]
    text = cats + " | " + " | ".join(heads)
    if "uppgift" in heads:
        return "over_tid"
    if "ämne" in heads and "provbetyg" in text:
        return "nationella_prov"
    if "antal ämnesbetyg" in text:
        return "betyg_ak6"
    if "meritvärde" in text:
        return "slutbetyg_ak9"
    if re.search(r"behöriga? till", text):
        return "behorighet"
    if "heltidstjänst" in text or "tjänstgörande lärare" in text:
        return "personal"
    if re.search(r"elever, (årskurs|åk)", text):
        return "elever"
    return None


def _known_list() -> str:
    return "; ".join(KNOWN_REPORTS.values())


def _refuse_unsupported(text: str, path: Path, row: int | None) -> None:
    """Skolverket reports the package knows by name but does not read: refused with the
    reason, so that the folder reader lists them as not read (never guessed at).

    *Betyg per ämne över tid* (subject grades, year by year): its layout is not among
    the exports the loaders were built and tested against (``../shared/real-data``
    has none, and no description of its columns was found), so it is not read rather
    than read wrongly."""
    t = c.norm(text)
    if "över tid" in t and "jämförelse" not in t and re.search(r"\bämne|ämnesbetyg", t):
        raise UnknownReportError(
            "Rapporten Betyg per ämne över tid läses inte in: paketet har ingen inläsare för "
            "den, eftersom dess kolumner inte finns beskrivna bland de exporter paketet har "
            "prövats mot. Filen lästes inte; resten av mappen påverkas inte", file=path,
            row=row,
            hint="Meritvärde och godkända betyg per läsår läses ur Slutbetyg årskurs 9, Betyg "
                 "årskurs 6 och Jämförelse av betygsresultat över tid; ämnesbetyg per elev ur "
                 "elevfilerna i SCB:s format. Flytta filen ur mappen om den inte ska listas")


def _layout(name: str, rows: list[c.Row], path: Path) -> _Sheet | None:
    hi = _header_index(rows)
    if hi is None:
        return None
    header = rows[hi]
    n = len(header.cells)
    headers = [c.cell_text(x) for x in header.cells]
    cat_row = rows[hi - 1] if hi > 0 else None
    categories = [""] * n
    pre_end = hi
    if cat_row is not None and c.cell_text(cat_row.cells[0] if cat_row.cells else "") == "" \
            and not cat_row.is_blank():
        carried = ""
        for j in range(n):
            v = cat_row.text(j)
            if v:
                carried = v
            categories[j] = carried if headers[j] else ""
        pre_end = hi - 1
    preamble = [t for r in rows[:pre_end] for t in (c.cell_text(x) for x in r.cells) if t]
    _refuse_unsupported(" \n ".join(preamble) + " \n " + name + " \n " + path.stem, path,
                        header.line)
    kind, grade = _kind_from_text(" \n ".join(preamble) + " \n " + name)
    if kind is None:
        kind = _kind_from_header(categories, headers)
        if kind == "slutbetyg_ak9":
            grade = 9
        elif kind == "betyg_ak6":
            grade = 6
    if kind is None:
        raise UnknownReportError(
            "Skolverket-filen är inte en rapport som kan läsas in. Kända rapporter: "
            + _known_list(), file=path, row=header.line,
            hint="Exportera en av de kända rapporterna från Skolverkets statistik, "
                 "eller läs filen med en annan inläsare")
    roles: dict[int, str] = {}
    for j, h in enumerate(headers):
        role = _ID_COLUMNS.get(c.fold(h))
        if role is not None and categories[j] == "":
            roles[j] = role
        elif h or categories[j]:
            roles[j] = "value"
    data: list[c.Row] = []
    i = hi + 1
    while i < len(rows) and not rows[i].is_blank():
        data.append(rows[i])
        i += 1
    footer = sum(1 for r in rows[i:] if not r.is_blank())
    second = _header_index(rows[i:])
    if second is not None:
        raise FileFormatError(
            "Filen har flera tabeller: en ny rubrikrad (med Kommun-kod eller Skol-enhetskod) "
            "står efter den första tabellen; filen ser ut att vara flera exporter som satts ihop",
            file=path, row=rows[i + second].line,
            hint="Läs in exporterna var för sig (en fil per rapport och läsår)")
    if not data:
        raise FileFormatError(
            "Rapporten har en rubrikrad men inga rader med data under den; filen kan vara "
            "avkortad", file=path, row=header.line,
            hint="Exportera rapporten på nytt från Skolverket")
    values = set(roles.values())
    if "school_name" in values and "school_id" not in values:
        raise MissingColumnError(
            "Kolumnen Skol-enhetskod saknas, men filen har kolumnen Skola: utan koden kan "
            "raderna inte knytas till skolenheter", file=path, row=header.line,
            column="Skol-enhetskod",
            hint="Exportera rapporten på nytt från Skolverket med kolumnen Skol-enhetskod")
    if kind == "nationella_prov" and grade is None:
        grade = 9
    return _Sheet(name=name, rows=rows, header=header, header_idx=hi, preamble=preamble,
                  kind=kind, grade=grade, categories=categories, headers=headers, roles=roles,
                  data=data, footer_lines=footer)


def _preamble_line(sheet: _Sheet, text: str) -> int | None:
    """The line (row number) of a preamble text."""
    for r in sheet.rows[:sheet.header_idx]:
        if any(c.cell_text(x) == text for x in r.cells):
            return r.line
    return None


def _school_year(sheet: _Sheet, path: Path) -> str:
    sy = _school_year_of_preamble(sheet, path)
    line = next((_preamble_line(sheet, t) for t in sheet.preamble
                 if c.norm(t).startswith(("valt läsår", "valt år"))), None)
    c.check_not_future(file=path, row=line, column=None, school_year=sy,
                       hint="Läsåret läses ur raden Valt läsår i exportens inledning; "
                            "exportera filen på nytt från Skolverket")
    return sy


def _school_year_of_preamble(sheet: _Sheet, path: Path) -> str:
    for t in sheet.preamble:
        nt = c.norm(t)
        if nt.startswith("valt läsår"):
            sy = c.school_year_of_text(nt)
            if sy is None:
                raise ValueFormatError(
                    f"Raden `{t}` anger inget läsår som kan läsas", file=path,
                    row=_preamble_line(sheet, t),
                    hint="Läsåret skrivs som i Skolverkets export: Valt läsår: 2023/24")
            return sy
        if nt.startswith("valt år"):
            m = re.search(r"((?:19|20)\d{2})", nt)
            if m is None:
                raise ValueFormatError(
                    f"Raden `{t}` anger inget år som kan läsas", file=path,
                    row=_preamble_line(sheet, t),
                    hint="Året skrivs som i Skolverkets export: Valt år: 2024")
            y = int(m.group(1))
            return c.school_year_from_start(y if sheet.kind in _AUTUMN_REPORTS else y - 1)
    raise FileFormatError(
        "Filen saknar raden `Valt läsår:` (eller `Valt år:`) som anger läsåret", file=path,
        row=sheet.header.line,
        hint="Läsåret läses ur exportens inledning, inte ur filnamnet; exportera filen på "
             "nytt från Skolverket utan att ta bort de inledande raderna")


def _principal_line(sheet: _Sheet) -> str | None:
    for t in sheet.preamble:
        nt = c.norm(t)
        if nt.startswith("typ av huvudman"):
            return nt.split(":", 1)[-1].strip()
    nn = c.norm(sheet.name)
    return nn if nn in _PRINCIPAL else None


# --------------------------------------------------------------------------
# Row identity
# --------------------------------------------------------------------------
@dataclass
class _Ident:
    level: str
    school_id: str | None
    municipality_id: str | None
    principal_type: str | None
    principal_raw: str


def _identify(sheet: _Sheet, row: c.Row, path: Path, principal_default: str | None
              ) -> _Ident:
    js, jm, jn, jp = (sheet.col("school_id"), sheet.col("municipality_id"),
                      sheet.col("municipality_name"), sheet.col("principal"))
    name = row.text(jn) if jn is not None else ""
    mid = c.pad_code(row.cells[jm], 4) if jm is not None and jm < len(row.cells) else ""
    level = sheet.level
    sid: str | None = None
    if c.fold(name) == "riket" or mid == "0000":
        level, mid = "national", "0000"
    elif mid and not (mid.isdigit() and len(mid) == 4):
        raise ValueFormatError(
            f"Kommunkoden {mid!r} är inte fyra siffror", file=path, row=row.line,
            column=sheet.headers[jm] if jm is not None else "Kommun-kod",
            hint="Kontrollera att raden hör till tabellen och att koden inte ändrats "
                 "(Excel tar bort inledande nollor: 604 ska vara 0604)")
    if level == "school":
        raw_sid = c.cell_text(row.cells[js]) if js is not None and js < len(row.cells) else ""
        sid = raw_sid if len(raw_sid) == 9 else c.pad_code(raw_sid, 8)
        if not schema.is_school_id(sid, mid or None):
            nine = len(sid) == 9 and sid.isdigit()
            raise ValueFormatError(
                f"Skolenhetskoden {sid!r} " + (
                    f"har nio siffror men börjar inte med radens kommunkod {mid}"
                    if nine else "är varken åtta siffror eller en historisk niosiffrig kod "
                                 "(kommunkoden och fem siffror)"),
                file=path, row=row.line,
                column=sheet.headers[js] if js is not None else "Skol-enhetskod",
                hint="Kontrollera att raden hör till tabellen och att koden är oförändrad")
    elif not mid:
        raise ValueFormatError(
            "Kommunkod saknas", file=path, row=row.line,
            column=sheet.headers[jm] if jm is not None else "Kommun-kod",
            hint="Varje rad ska ha en fyrsiffrig kommunkod")
    raw = row.text(jp) if jp is not None else (principal_default or "samtliga")
    pt = _PRINCIPAL.get(c.norm(raw))
    if level == "school":
        # A school's results are the school's own: principal_type 'all' (its type is in
        # the schools table), as for the API and pupil-level aggregates.
        return _Ident(level, sid, mid or None, "all", raw)
    return _Ident(level, sid, mid or None, pt, raw)


def _number(sheet: _Sheet, row: c.Row, j: int, path: Path, out: _Out | None = None,
            measure: str | None = None) -> tuple[float, str]:
    """The cell as (value, status); with ``out`` and ``measure`` also checked.

    Checked: the file's decimal separator (``out.decimals``) and the value's
    plausibility for ``measure`` (``_common.check_value``).
    """
    v = row.cells[j] if j < len(row.cells) else ""
    parsed = c.parse_number(v)
    if parsed is None:
        raise ValueFormatError(
            f"Värdet {c.show(v)} går inte att läsa som tal", file=path, row=row.line,
            column=sheet.label(j),
            hint="Förväntat ett tal (decimalkomma, t.ex. 82,0) eller en av Skolverkets "
                 "markörer .. . ~100 * -; kontrollera att filen inte ändrats för hand")
    if out is not None:
        out.decimals.see(v, file=path, row=row.line, column=sheet.label(j))
        if measure is not None and parsed[1] == "ok":
            c.check_value(measure, parsed[0], file=path, row=row.line, column=sheet.label(j),
                          raw=v)
    return parsed


def _match(rules: Sequence[tuple[str, str]], text: str) -> str | None:
    t = c.norm(text)
    for pat, target in rules:
        if re.search(pat, t):
            return target
    return None


def _group_of(header: str, category: str) -> tuple[str, str]:
    """(measure text, group) of a value column."""
    h = c.norm(header)
    if h in _GROUP:
        return (category or header), _GROUP[h]
    text = category + " " + header if category else header
    nt = c.norm(text)
    if re.search(r"\bflickor\b", nt) and not re.match(r"^andel \(%\) flickor(,|$)", nt):
        return text, "girls"
    if re.search(r"\bpojkar\b", nt):
        return text, "boys"
    return text, "all"


# --------------------------------------------------------------------------
# Reports -> tables
# --------------------------------------------------------------------------
@dataclass
class _Out:
    results: list[dict[str, Any]] = field(default_factory=list)
    results_index: list[int] = field(default_factory=list)
    background: list[dict[str, Any]] = field(default_factory=list)
    background_index: list[int] = field(default_factory=list)
    schools: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    dropped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    unused: dict[str, None] = field(default_factory=dict)
    markers_results: Counter = field(default_factory=Counter)
    markers_background: Counter = field(default_factory=Counter)
    markers_other: Counter = field(default_factory=Counter)
    blank_cells: int = 0
    rows_read: int = 0
    decimals: c.DecimalStyle = field(default_factory=c.DecimalStyle)
    key_column: str = "Kommun-kod"


def _result(out: _Out, line: int, ident: _Ident, school_year: str, measure: str, group: str,
            value: float, status: str, n: float | None, source: str) -> None:
    out.results.append({
        "level": ident.level, "school_id": ident.school_id,
        "municipality_id": ident.municipality_id, "school_year": school_year,
        "measure": measure, "group": group, "principal_type": ident.principal_type,
        "value": value, "n": None if n is None or math.isnan(n) else int(round(n)),
        "status": status, "source": source})
    out.results_index.append(line)


def _keep_principal(out: _Out, ident: _Ident) -> bool:
    if ident.principal_type is None:
        out.dropped[f"rader för huvudmannatypen {ident.principal_raw or '(tom)'} "
                    f"(finns inte i vokabulären)"] += 1
        return False
    return True


def _note_school(out: _Out, sheet: _Sheet, row: c.Row, ident: _Ident) -> None:
    if ident.level != "school" or ident.school_id is None:
        return
    if ident.school_id in out.schools:
        return
    jn, jk = sheet.col("school_name"), sheet.col("municipality_name")
    pt = _PRINCIPAL.get(c.norm(ident.principal_raw))
    pt = pt if pt in ("kommunal", "enskild") else None
    out.schools[ident.school_id] = (row.line, {
        "school_id": ident.school_id,
        "school_name": row.text(jn) if jn is not None else ident.school_id,
        "municipality_id": ident.municipality_id,
        "municipality_name": (row.text(jk) or None) if jk is not None else None,
        "principal_type": pt})


def _wide_report(sheet: _Sheet, path: Path, out: _Out, school_year: str) -> None:
    """slutbetyg_ak9, betyg_ak6, personal, nationella_prov, elever: one row per unit."""
    value_cols = [j for j, r in sheet.roles.items() if r == "value"]
    plan: dict[int, tuple[str, str]] = {}  # j -> (measure or '_n' or background col, group)
    for j in value_cols:
        cat, head = sheet.categories[j], sheet.headers[j]
        target: str | None
        if sheet.kind == "personal":
            target = next((m for pc, ph, m in _PERSONAL_RULES
                           if re.search(pc, c.norm(cat)) and re.search(ph, c.norm(head))), None)
            group = "all"
        elif sheet.kind == "elever":
            target = _match(_BACKGROUND_RULES, head or cat)
            group = "all"
        else:
            text, group = _group_of(head, cat)
            rules = {"slutbetyg_ak9": _SLUTBETYG_RULES, "betyg_ak6": _AK6_RULES,
                     "nationella_prov": _NP_RULES, "behorighet": _SLUTBETYG_RULES}[sheet.kind]
            target = _match(rules, text)
        if target is None:
            out.unused[sheet.label(j)] = None
            continue
        plan[j] = (target, group)
    if not plan:
        raise MissingColumnError(
            "Filen har inga kolumner med mått som kan läsas in för rapporten "
            f"{KNOWN_REPORTS[sheet.kind]}", file=path, row=sheet.header.line,
            hint="Kontrollera att rubrikraden är oförändrad")
    j_subject = sheet.col("subject")
    if sheet.kind == "nationella_prov" and j_subject is None:
        raise MissingColumnError("Kolumnen Ämne saknas", file=path, row=sheet.header.line,
                                 column="Ämne",
                                 hint="Resultat från nationella prov har en rad per ämne")
    j_gender = sheet.col("gender")
    source = path.name
    for row in sheet.data:
        out.rows_read += 1
        ident = _identify(sheet, row, path, None)
        if not _keep_principal(out, ident):
            continue
        _note_school(out, sheet, row, ident)
        if sheet.kind == "elever":
            _background_row(sheet, row, path, out, ident, school_year, plan)
            continue
        subj = None
        if sheet.kind == "nationella_prov":
            sname = row.text(j_subject)  # type: ignore[arg-type]
            subj = _NP_SUBJECTS.get(c.norm(sname))
            if subj is None:
                out.dropped[f"rader för ämnet {sname or '(tomt)'} (okänt ämne)"] += 1
                continue
        row_plan = plan
        if j_gender is not None:
            # one row per unit and gender (a "Kön" column): the row's gender is the group
            graw = row.text(j_gender)
            g = _GROUP.get(c.norm(graw))
            if g is None:
                out.dropped[f"rader för könet {graw or '(tomt)'} (okänd grupp)"] += 1
                continue
            row_plan = {j: (t, g if grp == "all" else grp) for j, (t, grp) in plan.items()}
        parsed = {j: _number(sheet, row, j, path, out,
                             f"np_{subj}_{sheet.grade}_{plan[j][0]}" if subj else plan[j][0])
                  for j in plan}
        # n per group: the report's pupil count for the same row
        n_by_group: dict[str, float] = {}
        for j, (target, group) in row_plan.items():
            if target in ("n_pupils_grade9", "_n", "n"):
                v, st = parsed[j]
                if st == "ok":
                    n_by_group[group] = v
        for j, (target, group) in row_plan.items():
            v, st = parsed[j]
            if c.cell_text(row.cells[j] if j < len(row.cells) else "") == "":
                out.blank_cells += 1
            if target == "_n":
                m = c.marker_of(row.cells[j] if j < len(row.cells) else "")
                if m:
                    out.markers_other[m] += 1
                continue
            measure = f"np_{subj}_{sheet.grade}_{target}" if subj else target
            m = c.marker_of(row.cells[j] if j < len(row.cells) else "")
            if m:
                out.markers_results[m] += 1
            _result(out, row.line, ident, school_year, measure, group, v, st,
                    n_by_group.get(group), source)


def _background_row(sheet: _Sheet, row: c.Row, path: Path, out: _Out, ident: _Ident,
                    school_year: str, plan: dict[int, tuple[str, str]]) -> None:
    if ident.level != "school" and ident.principal_type != "all":
        out.dropped[f"rader för huvudmannatypen {ident.principal_raw} (bakgrundstabellen "
                    f"gäller samtliga huvudmän)"] += 1
        return
    rec: dict[str, Any] = {"level": ident.level, "school_id": ident.school_id,
                           "municipality_id": ident.municipality_id, "school_year": school_year}
    for j, (target, _group) in plan.items():
        v, st = _number(sheet, row, j, path, out, target)
        m = c.marker_of(row.cells[j] if j < len(row.cells) else "")
        if m:
            out.markers_background[m] += 1
        rec[target] = v if st == "ok" else math.nan
        if st == "approx_100" and target.startswith("share_"):
            rec["approx_100"] = ",".join(filter(None, [rec.get("approx_100"), target]))
    out.background.append(rec)
    out.background_index.append(row.line)


def _over_tid(sheet: _Sheet, path: Path, out: _Out) -> None:
    """The multi-year workbook sheet: one row per unit × indicator, years as columns."""
    principal = _principal_line(sheet)
    years: dict[int, str] = {}
    for j, r in sheet.roles.items():
        if r == "value":
            sy = c.school_year_of_text(sheet.headers[j])
            if sy is not None:
                years[j] = sy
            else:
                out.unused[sheet.label(j)] = None
    for j, sy in years.items():
        c.check_not_future(file=path, row=sheet.header.line, column=sheet.label(j),
                           school_year=sy, hint="Exportera rapporten på nytt från Skolverket")
    if not years:
        raise MissingColumnError("Fliken har inga kolumner med läsår (t.ex. 2024/25)",
                                 file=path, row=sheet.header.line,
                                 hint="Jämförelse över tid har ett läsår per kolumn")
    j_ind = sheet.col("indicator")
    if j_ind is None:
        raise MissingColumnError("Kolumnen Uppgift saknas", file=path, row=sheet.header.line,
                                 column="Uppgift", hint="Exportera rapporten på nytt")
    source = path.name
    # first pass: pupil counts per unit and year for n
    n_of: dict[tuple[str | None, str], float] = {}
    parsed_rows = []
    for row in sheet.data:
        out.rows_read += 1
        ident = _identify(sheet, row, path, principal)
        if not _keep_principal(out, ident):
            continue
        indicator = row.text(j_ind)
        measure = _match(_SLUTBETYG_RULES, indicator)
        bg = _match(_OVER_TID_BACKGROUND, indicator)
        if re.match(r"^totalt antal elever", c.norm(indicator)):
            measure = "n_pupils_grade9"
        parsed = {j: _number(sheet, row, j, path, out, measure or bg) for j in years}
        if measure == "n_pupils_grade9":
            for j, (v, st) in parsed.items():
                if st == "ok":
                    n_of[(ident.municipality_id if ident.level != "school" else ident.school_id,
                          years[j])] = v
        parsed_rows.append((row, ident, indicator, measure, bg, parsed))
    for row, ident, indicator, measure, bg, parsed in parsed_rows:
        unit = ident.municipality_id if ident.level != "school" else ident.school_id
        _note_school(out, sheet, row, ident)
        used = False
        if measure is not None and not (bg is not None and bg != "n_pupils"):
            used = True
            for j, (v, st) in parsed.items():
                m = c.marker_of(row.cells[j] if j < len(row.cells) else "")
                if m:
                    out.markers_results[m] += 1
                _result(out, row.line, ident, years[j], measure, "all", v, st,
                        n_of.get((unit, years[j])), source)
        if bg is not None:
            used = True
            if ident.principal_type != "all":
                out.dropped[f"bakgrundsrader för huvudmannatypen {ident.principal_raw} "
                            f"(bakgrundstabellen gäller samtliga huvudmän)"] += 1
                continue
            for j, (v, _st) in parsed.items():
                m = c.marker_of(row.cells[j] if j < len(row.cells) else "")
                if m:
                    out.markers_background[m] += 1
                rec = {"_key": (ident.level, ident.school_id, ident.municipality_id,
                                years[j]), "_line": row.line, bg: v if _st == "ok" else math.nan}
                if _st == "approx_100" and bg.startswith("share_"):
                    rec["approx_100"] = bg
                out.background.append(rec)
        if not used:
            out.dropped[f"rader för uppgiften {indicator or '(tom)'} (inget mått i "
                        f"vokabulären)"] += 1


def _collapse_over_tid_background(out: _Out) -> None:
    """Merge the per-indicator background cells of over_tid into one row per unit × year."""
    if not out.background or "_key" not in out.background[0]:
        return
    merged: dict[tuple, dict[str, Any]] = {}
    lines: dict[tuple, int] = {}
    for rec in out.background:
        key = rec["_key"]
        target = merged.setdefault(key, {"level": key[0], "school_id": key[1],
                                         "municipality_id": key[2], "school_year": key[3]})
        lines.setdefault(key, rec["_line"])
        for k, v in rec.items():
            if k == "approx_100":
                target[k] = ",".join(filter(None, [target.get(k), v]))
            elif not k.startswith("_"):
                target[k] = v
    out.background = list(merged.values())
    out.background_index = [lines[k] for k in merged]


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------
def _parse(path: str | Path) -> tuple[str, _Out, dict[str, Any], Path]:
    p = c.check_file(path)
    sheets, info = c.read_rows(p, delimiters=(";", ",", "\t"))
    layouts: list[_Sheet] = []
    for name, rows in sheets.items():
        lay = _layout(name, rows, p)
        if lay is not None:
            layouts.append(lay)
    if not layouts:
        all_text = " ".join(c.cell_text(x) for rows in sheets.values() for r in rows[:40]
                            for x in r.cells[:3])
        _refuse_unsupported(all_text + " " + p.stem, p, None)
        kind, _ = _kind_from_text(all_text)
        if kind is not None:
            raise MissingColumnError(
                f"Hittar inte rubrikraden (med Kommun-kod eller Skol-enhetskod) i rapporten "
                f"{KNOWN_REPORTS[kind]}", file=p, column="Kommun-kod",
                hint="Exportera rapporten på nytt från Skolverket utan att ändra rubrikerna")
        raise UnknownReportError(
            "Filen är inte en Skolverket-export som kan läsas in. Kända rapporter: "
            + _known_list(), file=p,
            hint="Exportera en av de kända rapporterna som CSV eller Excel från Skolverkets "
                 "statistik")
    kinds = {lay.kind for lay in layouts}
    if len(kinds) > 1:
        raise UnknownReportError(
            "Arbetsboken blandar olika rapporter (" + ", ".join(sorted(kinds)) + ")", file=p,
            hint="Läs in en rapport per fil")
    kind = layouts[0].kind
    out = _Out()
    out.notes.extend(info.get("notes", []))
    for lay in layouts:
        c.check_widths(lay.header, lay.data, p,
                       names=[lay.label(j) for j in range(len(lay.headers))],
                       short_rows=info.get("format") == "csv")
        jk = lay.col("school_id") if lay.level == "school" else lay.col("municipality_id")
        if jk is not None:
            out.key_column = lay.headers[jk]
        raw = c.frame_of_rows(lay.data, [h or f"kolumn {j + 1}"
                                         for j, h in enumerate(lay.headers)])
        raw.columns = [f"{lab} ({j + 1})" if list(raw.columns).count(lab) > 1 else lab
                       for j, lab in enumerate(raw.columns)]
        refuse_personnummer_columns(raw, p)
        if kind == "over_tid":
            _over_tid(lay, p, out)
        else:
            _wide_report(lay, p, out, _school_year(lay, p))
        if lay.footer_lines:
            out.notes.append(f"sidfot{' i fliken ' + lay.name if lay.name else ''}: "
                             f"{lay.footer_lines} rader lästes inte (beskrivning)")
    if kind == "over_tid":
        _collapse_over_tid_background(out)
    return kind, out, info, p


def _notes(kind: str, out: _Out, info: dict[str, Any], table: str) -> list[str]:
    notes = [f"rapport: {KNOWN_REPORTS[kind]}"]
    if info.get("format") == "csv":
        notes.append(f"teckenkodning {info['encoding']}, avgränsare {info['delimiter']!r}")
    notes.extend(out.notes)
    if table == "results":
        notes.append(c.markers_note(out.markers_results))
    elif table == "background":
        notes.append(c.markers_note(out.markers_background) + " (blir NaN i bakgrundstabellen)")
    if out.markers_other:
        notes.append("markörer i kolumner som bara används som n: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(out.markers_other.items())))
    if out.unused:
        notes.append("kolumner som inte används: " + "; ".join(out.unused))
    if out.blank_cells:
        notes.append(f"tomma värdeceller: {out.blank_cells} (status missing)")
    return notes


_KEYS = {"results": ["level", "school_id", "municipality_id", "school_year", "measure",
                     "group", "principal_type"],
         "background": ["level", "school_id", "municipality_id", "school_year"],
         "schools": ["school_id"]}


def _refuse_duplicates(df: pd.DataFrame, table: str, p: Path, column: str) -> None:
    """The same unit, year (and measure, group) on two rows: DuplicateRowsError with rows."""
    keys = df[_KEYS[table]].astype(str)
    dup = keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    pos = np.flatnonzero(dup)
    first = keys.iloc[pos[0]]
    same = sorted({int(df.index[i]) for i in pos if (keys.iloc[i] == first).all()})
    unit = first["school_id"] if first["level"] == "school" else first["municipality_id"] \
        if "level" in first else first["school_id"]
    raise c.rows_error(
        DuplicateRowsError, f"Samma enhet förekommer på flera rader ({unit}, "
        f"{first.get('school_year', '')})", file=p, column=column,
        bad=[(line, unit) for line in same],
        hint="Ta bort dubbletten; varje skolenhet eller kommun ska stå på en rad")


def _load(path: str | Path, table: TableName | None = None
          ) -> tuple[pd.DataFrame, ProvenanceRecord]:
    kind, out, info, p = _parse(path)
    return _build(kind, out, info, p, table or _MAIN_TABLE[kind])


def load_tables(path: str | Path) -> list[tuple[pd.DataFrame, ProvenanceRecord]]:
    """Every table a report gives, from one reading of the file (for a folder reader):
    the main table, and for ``over_tid`` also its background rows."""
    kind, out, info, p = _parse(path)
    main = _MAIN_TABLE[kind]
    tables = [_build(kind, out, info, p, main)]
    if kind == "over_tid" and out.background:
        tables.append(_build(kind, out, info, p, "background"))
    return tables


def _build(kind: str, out: _Out, info: dict[str, Any], p: Path, target: str
           ) -> tuple[pd.DataFrame, ProvenanceRecord]:
    dropped = dict(out.dropped)
    if target == "results":
        if kind == "elever":
            raise FileFormatError(
                "Rapporten Antal elever per årskurs ger ingen resultattabell", file=p,
                hint="Läs den med table='background' (standard) eller table='schools'")
        df = pd.DataFrame(out.results, index=out.results_index, columns=_RESULTS_COLUMNS)
        df["value"] = df["value"].astype(float)
        df["n"] = df["n"].astype("Int64")
        if kind == "over_tid" and out.background:
            dropped["bakgrundsrader (de står i bakgrundstabellen)"] = sum(
                1 for _ in out.background)
    elif target == "background":
        if kind not in ("elever", "over_tid"):
            raise FileFormatError(
                f"Rapporten {KNOWN_REPORTS[kind]} har inga bakgrundsuppgifter", file=p,
                hint="Bakgrund finns i Antal elever per årskurs och i Jämförelse över tid")
        df = pd.DataFrame(out.background, index=out.background_index)
        for col in _BACKGROUND_COLUMNS:
            if col not in df.columns:
                df[col] = math.nan if col.startswith(("share", "n_")) else None
        approx = "approx_100" in df.columns and df["approx_100"].notna().any()
        df = df[_BACKGROUND_COLUMNS + (["approx_100"] if approx else [])]
        if approx:
            df["approx_100"] = df["approx_100"].astype(object).where(df["approx_100"].notna(),
                                                                    None)
        df["n_pupils"] = pd.to_numeric(df["n_pupils"]).round().astype("Int64")
        for col in ("share_girls", "share_foreign_background", "share_parents_higher_edu",
                    "share_newly_arrived"):
            df[col] = df[col].astype(float)
    elif target == "schools":
        rows = [(line, rec) for line, rec in out.schools.values()]
        if not rows:
            raise FileFormatError("Filen har inga skolenheter (den är på kommunnivå)", file=p,
                                  hint="Skolregister kan bara läsas ur exporter på "
                                       "skolenhetsnivå")
        keep = [(line, rec) for line, rec in rows if rec["principal_type"] is not None]
        if len(keep) < len(rows):
            dropped["skolenheter utan kommunal eller enskild huvudman"] = len(rows) - len(keep)
        df = pd.DataFrame([r for _, r in keep], index=[line for line, _ in keep],
                          columns=["school_id", "school_name", "municipality_id",
                                   "municipality_name", "principal_type"])
    else:
        raise ValueError(f"unknown table {target!r}")
    _refuse_duplicates(df, target, p, out.key_column)
    return c.finish(df, table=target, path=p, loader="read_skolverket",
                    rows_read=out.rows_read, dropped=dropped,
                    notes=_notes(kind, out, info, target), attrs={"report": kind})


@c.guarded("Skolverket-export")
def read_skolverket(path: str | Path, table: TableName | None = None) -> pd.DataFrame:
    """Read a Skolverket statistics export (CSV or XLSX) into a canonical table.

    Parameters
    ----------
    path : the exported file, as downloaded (any file name).
    table : ``None`` for the report's main table (``results``; ``background``
        for *Antal elever per årskurs*), ``"background"`` for the background
        rows of *Jämförelse … över tid*, ``"schools"`` for the school units of
        a school-level export.

    Returns
    -------
    The canonical table; ``attrs``: ``source`` (file name), ``table``
    (``"results"``/``"background"``/``"schools"``), ``report`` (the
    recognised report, see :data:`KNOWN_REPORTS`) and ``provenance``.

    Raises
    ------
    UnknownReportError
        The file is not one of :data:`KNOWN_REPORTS` (the message lists them).
    MissingColumnError, ValueFormatError, FileFormatError
        With file, row and column.

    Notes
    -----
    Missing data: markers ``..`` ``.`` ``~100`` ``*`` ``-`` become
    ``status`` with ``value`` NaN (results) or NaN (background; counted in
    provenance); rows for principal types outside the vocabulary are left
    out and counted. See the module docstring for every decision.
    """
    return c.publish(_load(path, table))
