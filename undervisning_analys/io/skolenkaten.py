"""Skolinspektionen's Skolenkäten "excelrapport" workbooks -> the ``results`` table.

Skolinspektionen publishes one workbook per respondent group and round
(pupils in åk 5, åk 8 and gymnasieskolans år 2; guardians; staff), e.g.
``excelrapport-elever-gymnasieskola-ar-2-2022.xlsx``. The layout this loader
claims (studied from the real 2022 workbook for år 2, described in
Skolinspektionen's own sheet "Förklaring"):

Sheet "Resultat …" (e.g. ``Resultat elever år 2 2022``)
    row 1  title in A1 (``Skolenkäten 2022 -  Elever år 2``); above each
           question area a heading that starts with a number
           (``8. Studiero``), above each question its wording;
    row 2  ``Orgnummer, Huvudman, Kommun, Skolenhetskod, Skolenhet,
           Antal i gruppen, Antal, Svarsfrekvens``, then the answer options;
    row 3  ``Index`` under each area heading, ``Medelvärde`` under each
           question, ``Antal``/``Andel`` under each answer option;
    rows   first the whole round (``Samtliga deltagande skolor``, with rows
           ``Samtliga deltagande skolor - Kvinna`` etc. per gender), then
           each organiser (Orgnummer and Huvudman, no school code), then each
           school unit.
Sheet "Könsuppdelat resultat"
    the same identity columns; under each area heading and each question
    the columns ``Totalt``, ``Flicka``, ``Pojke`` (row 2) of ``Index`` or
    ``Medelvärde`` (row 3). Other respondent groups' workbooks have other
    gender columns (or none); the sheet is optional.
Sheet "Förklaring"
    text; not read.

The header is found by its names (the row with ``Huvudman`` and
``Skolenhetskod``), not by position, so workbooks with other numbers of rows,
question columns, areas and gender groups are read the same way.

What becomes a results row
--------------------------
For every unit (round, organiser, school unit) and respondent group ``g``
(:data:`~undervisning_analys.schema.SKOLENKAT_GROUPS`, found in the title,
the sheet name or the file name; or given):

* every area's index -> ``skolenkat_<index>_<g>`` on the 0–10 index scale,
  ``n`` = respondents (``Antal``). An area that "bildar ej index" (overall
  satisfaction) with one question gives that question's mean instead;
* ``skolenkat_antal_svar_<g>`` (respondents), ``skolenkat_antal_i_gruppen_<g>``
  (possible respondents) and ``skolenkat_svarsfrekvens_<g>`` (response rate
  in per cent: the workbook's share × 100, as every ``*_pct`` share in the
  package is 0–100);
* group ``all`` from the results sheet; ``girls``/``boys`` from the results
  sheet's gender rows (with their ``Antal`` as ``n``) and from the gender
  sheet (``Flicka``/``Kvinna``, ``Pojke``/``Man``; ``n`` unknown there, so
  null). Where both give a unit's gender value the results sheet's row is kept
  and the duplicate counted. Gender groups outside the vocabulary (``Har annan
  könsidentitet``, ``Vill inte ange``) are left out and counted in provenance.
  The gender sheet's ``Totalt`` must equal the results sheet's index; a
  disagreement is noted in provenance with its count.

Per-question means and the answer distributions are not read into
``results`` (their number is noted in provenance).

Units and codes
---------------
* ``Samtliga deltagande skolor`` -> level ``national``, municipality ``0000``.
* An organiser row -> ``organiser_id`` = its organisationsnummer. A
  municipality (orgnr ``212…``) is level ``municipality`` with principal type
  ``kommunal`` (its own schools, as Skolverket's "Kommunal" row); any other
  organiser is level ``organiser`` with principal type ``kommunal`` for public
  bodies (orgnr starting with 2: kommunalförbund, regions) and ``enskild``
  otherwise.
* A school row -> level ``school``, ``school_id`` the 8-digit code, principal
  type from its organiser's orgnr as above.
* ``municipality_id``: the workbook names municipalities, it has no kommunkod.
  ``municipalities`` (name -> kommunkod, e.g. from the school register, which
  :func:`load_folder` passes) fills it for school rows (by ``Kommun``) and
  municipal organisers (by ``Huvudman``: ``Stockholms kommun`` -> Stockholm);
  otherwise it is null.

Markers
-------
``-`` ("uppfyller inte redovisningsprinciperna": fewer than 5 respondents for
an index) -> ``status = "suppressed"``, value NaN. An empty cell ("inga svar
har inkommit") -> ``missing``. The answer options' ``*``, ``**``, ``***`` are
not read. Anything else that is not a number is refused, naming file, sheet,
row and column. Index values must lie in 0–10, response rates in 0–1, counts
be whole numbers ≥ 0.

School year
-----------
Skolenkäten runs in the spring term (January–March): "Skolenkäten 2022" is
VT2022, school year 2021/22. A title or sheet name with ``höst``/``HT`` is an
autumn round: "Skolenkäten hösten 2021" is HT2021, also 2021/22. The year is
read from the title, else the sheet name, else the file name; ``school_year``
overrides it. The term is noted in provenance.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import schema
from .._format import number as _fmt
from ..dataset import ProvenanceRecord
from ..errors import FileFormatError, MissingColumnError, UAError, ValueFormatError
from ..privacy import refuse_personnummer_columns
from . import _common as c

LOADER = "read_skolenkaten"

#: Folded area headings -> index slug (others get a slug of their heading).
INDEX_SLUGS: dict[str, str] = {
    "informationomutbildningen": "information", "information": "information",
    "stimulans": "stimulans", "stod": "stod", "kritiskttankande": "kritiskt_tankande",
    "bemotande": "bemotande", "bemotandelarare": "bemotande_larare",
    "bemotandeelever": "bemotande_elever", "inflytande": "inflytande",
    "studiero": "studiero", "trygghet": "trygghet",
    "forhindrakrankningar": "forhindra_krankningar", "elevhalsa": "elevhalsa",
    "overgripandenojdhet": "nojdhet", "nojdhet": "nojdhet",
}

#: Folded gender labels (see ``_common.fold``) -> results group (None: outside the vocabulary, counted).
GENDERS: dict[str, str | None] = {
    "kvinna": "girls", "flicka": "girls", "flickor": "girls", "tjej": "girls",
    "tjejer": "girls", "kvinnor": "girls",
    "man": "boys", "pojke": "boys", "pojkar": "boys", "kille": "boys", "killar": "boys",
    "harannankonsidentitet": None, "annankonsidentitet": None, "villinteange": None,
    "annat": None, "annatsvar": None, "ickebinar": None,
}

ID_COLUMNS: dict[str, str] = {
    "orgnummer": "orgnr", "organisationsnummer": "orgnr", "huvudman": "organiser",
    "kommun": "municipality", "skolenhetskod": "school_id", "skolenhet": "school_name",
    "skola": "school_name", "antaligruppen": "n_group", "antal": "n_resp",
    "antalsvar": "n_resp", "svarsfrekvens": "rate",
}
REQUIRED = ("organiser", "school_id", "school_name", "n_group", "n_resp", "rate")
ID_SV = {"orgnr": "Orgnummer", "organiser": "Huvudman", "municipality": "Kommun",
         "school_id": "Skolenhetskod", "school_name": "Skolenhet",
         "n_group": "Antal i gruppen", "n_resp": "Antal", "rate": "Svarsfrekvens"}

_NUMBERED = re.compile(r"^\s*(\d+)\s*[.)]\s*(.+)$")
_NO_INDEX = re.compile(r"\(\s*bildar\s+ej\s+index\s*\)", re.IGNORECASE)


def _num(x: float) -> str:
    """A bound or a threshold as Swedish text (decimal comma, no needless decimals)."""
    return _fmt(x, None, thousands="")


# --------------------------------------------------------------------------
# Errors that name the sheet
# --------------------------------------------------------------------------
def _on_sheet(e: UAError, sheet: str) -> UAError:
    """``e`` (raised by a shared check that knows no sheets) with the sheet named, as
    :func:`_error` names it: before the location, and as ``.sheet``."""
    import copy

    text = str(e)
    at = text.find(" (i filen")
    at = at if at >= 0 else len(text)
    new = copy.copy(e)
    new.args = (f"{text[:at]} på bladet `{sheet}`{text[at:]}",)
    new.sheet = sheet  # type: ignore[attr-defined]
    return new


def _error(cls: type[UAError], msg: str, *, file: Path, sheet: str | None, row: int | None,
           column: str | None, hint: str) -> UAError:
    """The package's error, with the sheet named in the message (and as ``.sheet``)."""
    text = f"{msg} på bladet `{sheet}`" if sheet else msg
    e = cls(text, file=file, row=row, column=column, hint=hint)
    e.sheet = sheet  # type: ignore[attr-defined]
    return e


def _letter(j: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(j + 1)


# --------------------------------------------------------------------------
# Workbook structure
# --------------------------------------------------------------------------
@dataclass
class _Area:
    title: str          # heading without its number
    slug: str
    forms_index: bool
    col: int | None = None                     # results sheet: the Index column
    questions: list[int] = field(default_factory=list)   # their Medelvärde columns
    gender_cols: dict[int, str] = field(default_factory=dict)  # gender sheet: col -> label


@dataclass
class _Layout:
    name: str
    rows: list[c.Row]
    header: int         # position in rows of the header row (row 2 in the real file)
    ids: dict[str, int]
    areas: list[_Area]


def _slug(title: str) -> str:
    f = c.fold(title)
    if f in INDEX_SLUGS:
        return INDEX_SLUGS[f]
    t = c.norm(title).replace("å", "a").replace("ä", "a").replace("ö", "o").replace("é", "e")
    s = re.sub(r"[^a-z0-9]+", "_", t).strip("_")
    return s if s and s[0].isalpha() else f"omrade_{s}"


def _area_of(text: str) -> _Area | None:
    m = _NUMBERED.match(text)
    if not m:
        return None
    title = _NO_INDEX.sub("", m.group(2)).strip(" -–")
    return _Area(title=title, slug=_slug(title), forms_index=not _NO_INDEX.search(text))


def _find_header(name: str, rows: list[c.Row], p: Path) -> tuple[int, dict[str, int]] | None:
    """The header row (with Huvudman and Skolenhetskod) and its identity columns."""
    for k, r in enumerate(rows[:15]):
        folded = [c.fold(v) for v in r.cells]
        if "huvudman" in folded and ("skolenhetskod" in folded or "svarsfrekvens" in folded):
            ids: dict[str, int] = {}
            for j, f in enumerate(folded):
                role = ID_COLUMNS.get(f)
                if role and role not in ids:
                    ids[role] = j
            missing = [x for x in REQUIRED if x not in ids]
            if missing:
                raise _error(
                    MissingColumnError,
                    f"Skolenkätens rubrikrad saknar kolumnen `{ID_SV[missing[0]]}` (hittade: "
                    + ", ".join(repr(c.cell_text(v)) for v in r.cells[:9] if c.cell_text(v))
                    + ")", file=p, sheet=name, row=r.line, column=ID_SV[missing[0]],
                    hint="Använd Skolinspektionens excelrapport som den laddades ned, med "
                         "kolumnerna Orgnummer, Huvudman, Kommun, Skolenhetskod, Skolenhet, "
                         "Antal i gruppen, Antal och Svarsfrekvens")
            return k, ids
    return None


def _areas_results(name: str, rows: list[c.Row], h: int, ids: dict[str, int], p: Path
                   ) -> list[_Area]:
    title, sub = rows[h - 1] if h > 0 else None, rows[h + 1] if h + 1 < len(rows) else None
    if title is None or sub is None:
        raise _error(FileFormatError, "Skolenkätens rubriker saknar raden med områden och "
                     "frågor (ovanför rubrikraden) eller raden med Index/Medelvärde (under den)",
                     file=p, sheet=name, row=rows[h].line, column=None,
                     hint="Använd Skolinspektionens excelrapport som den laddades ned")
    first = max(ids.values()) + 1
    areas: list[_Area] = []
    width = max(len(title.cells), len(sub.cells))
    for j in range(first, width):
        text = title.text(j)
        kind = c.fold(sub.text(j))
        if not text:
            continue
        area = _area_of(text)
        if area is not None:
            if kind != "index":
                raise _error(FileFormatError, f"Under området {text!r} väntades `Index`, men "
                             f"cellen har {c.show(sub.cells[j] if j < len(sub.cells) else '')}",
                             file=p, sheet=name, row=sub.line, column=_letter(j),
                             hint="Använd Skolinspektionens excelrapport som den laddades ned")
            area.col = j
            areas.append(area)
        else:
            if kind != "medelvarde":
                raise _error(FileFormatError, f"Under frågan {c.show(text, 60)} väntades "
                             f"`Medelvärde`, men cellen har "
                             f"{c.show(sub.cells[j] if j < len(sub.cells) else '')}",
                             file=p, sheet=name, row=sub.line, column=_letter(j),
                             hint="Använd Skolinspektionens excelrapport som den laddades ned")
            if not areas:
                raise _error(FileFormatError, f"Frågan {c.show(text, 60)} står före första "
                             "området (en rubrik som börjar med en siffra, t.ex. `8. Studiero`)",
                             file=p, sheet=name, row=title.line, column=_letter(j),
                             hint="Använd Skolinspektionens excelrapport som den laddades ned")
            areas[-1].questions.append(j)
    if not areas:
        raise _error(FileFormatError, "Skolenkätens resultatblad har inga områden med index "
                     "(rubriker som börjar med en siffra, t.ex. `8. Studiero`)", file=p,
                     sheet=name, row=title.line, column=None,
                     hint="Använd Skolinspektionens excelrapport som den laddades ned")
    seen: Counter = Counter(a.slug for a in areas)
    dup = next((a for a in areas if seen[a.slug] > 1), None)
    if dup is not None:
        raise _error(FileFormatError, f"Området {dup.title!r} förekommer två gånger", file=p,
                     sheet=name, row=title.line, column=_letter(dup.col or 0),
                     hint="Använd Skolinspektionens excelrapport som den laddades ned")
    return areas


def _areas_gender(name: str, rows: list[c.Row], h: int, ids: dict[str, int], p: Path
                  ) -> list[_Area]:
    title, sub, labels = rows[h - 1], rows[h + 1], rows[h]
    first = max(ids.values()) + 1
    width = max(len(title.cells), len(sub.cells), len(labels.cells))
    areas: list[_Area] = []
    current: _Area | None = None
    n_questions = 0
    for j in range(first, width):
        text = title.text(j)
        if text:
            area = _area_of(text)
            if area is not None:
                current = area
                areas.append(current)
                n_questions = 0
            else:
                n_questions += 1
        if current is None:
            continue
        kind = c.fold(sub.text(j))
        # an index's columns; for an area that forms no index, its first question's means
        wanted = "index" if current.forms_index else "medelvarde"
        if kind == wanted and (current.forms_index or n_questions == 1):
            label = labels.text(j)
            if not label:
                raise _error(FileFormatError, f"Indexkolumnen för {current.title!r} saknar "
                             "könsgrupp (Totalt, Flicka, Pojke …) på rubrikraden", file=p,
                             sheet=name, row=labels.line, column=_letter(j),
                             hint="Använd Skolinspektionens excelrapport som den laddades ned")
            current.gender_cols[j] = label
    return areas


def _sheets(sheets: dict[str, list[c.Row]], p: Path) -> tuple[_Layout, _Layout | None]:
    main: _Layout | None = None
    gender: _Layout | None = None
    for name, rows in sheets.items():
        found = _find_header(name, rows, p)
        if found is None:
            continue
        h, ids = found
        if h == 0 or h + 1 >= len(rows):
            raise _error(FileFormatError, "Skolenkätens rubriker ska vara tre rader (områden "
                         "och frågor; kolumnnamn; Index/Medelvärde), men rubrikraden står "
                         + ("först" if h == 0 else "sist"), file=p, sheet=name,
                         row=rows[h].line, column=None,
                         hint="Använd Skolinspektionens excelrapport som den laddades ned")
        folded = [c.fold(v) for v in rows[h].cells]
        is_gender = "totalt" in folded or "konsuppdelat" in c.fold(name)
        if is_gender:
            if gender is None:
                gender = _Layout(name, rows, h, ids, _areas_gender(name, rows, h, ids, p))
        elif main is None:
            main = _Layout(name, rows, h, ids, _areas_results(name, rows, h, ids, p))
    if main is None:
        first = next(iter(sheets)) if sheets else None
        raise _error(FileFormatError, "Arbetsboken är inte en excelrapport från Skolenkäten: "
                     "inget blad har rubrikraden med Huvudman, Skolenhetskod och Antal",
                     file=p, sheet=first, row=None, column=None,
                     hint="Läs Skolverkets exporter med read_skolverket; en excelrapport från "
                          "Skolinspektionen har bladen \"Resultat …\" och \"Könsuppdelat "
                          "resultat\"")
    return main, gender


# --------------------------------------------------------------------------
# Respondent group and school year
# --------------------------------------------------------------------------
_GROUP_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"vardnadshavare.*forskoleklass|forskoleklass.*vardnadshavare"), "vh_fsk"),
    (re.compile(r"vardnadshavare.*anpassad|anpassad.*vardnadshavare"), "vh_agr"),
    (re.compile(r"vardnadshavare.*grundskol|grundskol.*vardnadshavare"), "vh_gr"),
    (re.compile(r"vardnadshavare"), "vh"),
    (re.compile(r"(personal|larare).*gymnasie|gymnasie.*(personal|larare)"), "personal_gy"),
    (re.compile(r"(personal|larare).*grundskol|grundskol.*(personal|larare)"), "personal_gr"),
    (re.compile(r"personal|larare"), "personal"),
    (re.compile(r"(ak|arskurs|ar)5(?!\d)"), "ak5"),
    (re.compile(r"(ak|arskurs|ar)8(?!\d)"), "ak8"),
    (re.compile(r"(ak|arskurs|ar)9(?!\d)"), "ak9"),
    (re.compile(r"gymnasie\w*ar2|ar2(?!\d)|gy2"), "gy2"),
]


def _group_of(texts: list[str]) -> str | None:
    for t in texts:
        f = re.sub(r"(19|20)\d{2}", " ", c.norm(t))
        f = f.replace("å", "a").replace("ä", "a").replace("ö", "o")
        f = re.sub(r"[^a-z0-9]", "", f)
        for pattern, g in _GROUP_RULES:
            if pattern.search(f):
                return g
    return None


_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_AUTUMN = re.compile(r"\b(h[öo]st(en)?|ht)\b", re.IGNORECASE)


def _term_of(texts: list[str]) -> str | None:
    for t in texts:
        m = _YEAR.search(t)
        if m:
            year = int(m.group(1))
            return f"HT{year}" if _AUTUMN.search(t) else f"VT{year}"
    return None


# --------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Unit:
    level: str
    school_id: str | None
    organiser_id: str | None
    principal_type: str
    municipality: str        # a name, for the municipality mapping
    gender: str | None       # None: all; else the gender label of a gender row


def _split_gender(text: str) -> tuple[str, str | None]:
    if " - " in text:
        base, tail = text.rsplit(" - ", 1)
        if c.fold(tail) in GENDERS:
            return base.strip(), tail.strip()
    return text, None


def _principal(orgnr: str | None) -> str:
    if not orgnr:
        return "all"
    return "kommunal" if orgnr.startswith("2") else "enskild"


def _unit(lay: _Layout, row: c.Row, p: Path) -> _Unit:
    ids = lay.ids
    org_raw = row.text(ids["orgnr"]) if "orgnr" in ids else ""
    organiser = row.text(ids["organiser"])
    code_raw = row.text(ids["school_id"])
    sname = row.text(ids["school_name"])
    kommun = row.text(ids["municipality"]) if "municipality" in ids else ""
    orgnr = None
    if org_raw:
        o = org_raw.replace("-", "").replace(" ", "")
        if not (o.isdigit() and len(o) == 10):
            raise _error(ValueFormatError, f"Organisationsnumret {c.show(org_raw)} har inte "
                         "10 siffror", file=p, sheet=lay.name, row=row.line,
                         column=_letter(ids["orgnr"]),
                         hint="Rätta värdet eller ladda ned excelrapporten på nytt")
        orgnr = o
    if code_raw:
        code = c.pad_code(code_raw, 8)
        if not (code.isdigit() and len(code) == 8):
            raise _error(ValueFormatError, f"Skolenhetskoden {c.show(code_raw)} är inte 8 "
                         "siffror", file=p, sheet=lay.name, row=row.line,
                         column=_letter(ids["school_id"]),
                         hint="Rätta koden eller ladda ned excelrapporten på nytt")
        _base, gender = _split_gender(sname)
        return _Unit("school", code, orgnr, _principal(orgnr), kommun, gender)
    base, gender = _split_gender(organiser)
    if c.fold(base).startswith("samtligadeltagande"):
        return _Unit("national", None, None, "all", "", gender)
    if orgnr is None:
        raise _error(ValueFormatError, f"Raden har varken skolenhetskod eller "
                     f"organisationsnummer (Huvudman {c.show(organiser)})", file=p,
                     sheet=lay.name, row=row.line, column=_letter(ids["school_id"]),
                     hint="En rad i excelrapporten gäller hela omgången (Samtliga deltagande "
                          "skolor), en huvudman (Orgnummer) eller en skolenhet "
                          "(Skolenhetskod); rätta raden eller ladda ned rapporten på nytt")
    if orgnr.startswith("212"):
        return _Unit("municipality", None, orgnr, "kommunal", base, gender)
    return _Unit("organiser", None, orgnr, _principal(orgnr), base, gender)


def _municipality_lookup(municipalities: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, code in (municipalities or {}).items():
        code = c.pad_code(code, 4)
        f = c.fold(name)
        for form in (f, f + "kommun", f + "skommun", "region" + f):
            out.setdefault(form, code)
    return out


# --------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------
def _value(lay: _Layout, row: c.Row, j: int, p: Path, what: str, lo: float, hi: float,
           count: bool = False) -> tuple[float, str]:
    v = row.cells[j] if j < len(row.cells) else ""
    s = c.cell_text(v)
    if s == "-":
        return math.nan, "suppressed"
    if s == "":
        return math.nan, "missing"
    parsed = c.parse_number(v) if s not in c.MARKERS else None
    if parsed is None or parsed[1] != "ok":
        raise _error(ValueFormatError, f"{what} ska vara ett tal eller `-` (för få svarande), "
                     f"men cellen har {c.show(v)}", file=p, sheet=lay.name, row=row.line,
                     column=_letter(j),
                     hint="Rätta cellen eller ladda ned excelrapporten på nytt")
    x = parsed[0]
    if x < lo or x > hi or (count and not float(x).is_integer()):
        span = f"{_num(lo)}–{_num(hi)}" if math.isfinite(hi) \
            else f"ett heltal {_num(lo)} eller större"
        raise _error(ValueFormatError, f"{what} {c.show(v)} ligger utanför det möjliga "
                     f"intervallet {span}", file=p, sheet=lay.name, row=row.line,
                     column=_letter(j),
                     hint="Kontrollera att cellen står i rätt kolumn och att filen är "
                          "Skolinspektionens excelrapport som den laddades ned")
    return x, "ok"


def _data_rows(lay: _Layout) -> list[c.Row]:
    return [r for r in lay.rows[lay.header + 2:] if not r.is_blank()]


@dataclass
class _Out:
    rows: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


def _ident(u: _Unit, lookup: dict[str, str]) -> dict[str, Any]:
    if u.level == "national":
        mid: str | None = "0000"
    else:
        mid = lookup.get(c.fold(u.municipality)) if u.municipality else None
    return {"level": u.level, "school_id": u.school_id, "municipality_id": mid,
            "principal_type": u.principal_type, "organiser_id": u.organiser_id}


def _read_main(lay: _Layout, p: Path, g: str, school_year: str, lookup: dict[str, str],
               out: _Out, source: str) -> dict[tuple, float]:
    """Rows of the results sheet; returns {(unit key, slug): value} of group ``all``."""
    ids = lay.ids
    totals: dict[tuple, float] = {}
    for row in _data_rows(lay):
        u = _unit(lay, row, p)
        if u.gender is None:
            group: str | None = "all"
        else:
            group = GENDERS.get(c.fold(u.gender))
            if group is None:
                out.dropped[f"könsgrupp utanför vokabulären ({u.gender})"] += 1
                continue
        ident = _ident(u, lookup)
        n_resp, st_n = _value(lay, row, ids["n_resp"], p, "Antalet svarande", 0, math.inf,
                              count=True)
        n = int(n_resp) if st_n == "ok" else None
        base = {**ident, "school_year": school_year, "group": group, "source": source,
                "_row": row.line}

        def put(measure: str, value: float, status: str, n_val: int | None,
                base: dict[str, Any] = base) -> None:
            out.rows.append({**base, "measure": measure, "value": value, "status": status,
                             "n": n_val})

        put(f"skolenkat_antal_svar_{g}", n_resp, st_n, n)
        ng, st_g = _value(lay, row, ids["n_group"], p, "Antal i gruppen", 0, math.inf,
                          count=True)
        put(f"skolenkat_antal_i_gruppen_{g}", ng, st_g, n)
        rate, st_r = _value(lay, row, ids["rate"], p, "Svarsfrekvensen", 0, 1)
        put(f"skolenkat_svarsfrekvens_{g}", round(rate * 100, 10) if st_r == "ok" else rate,
            st_r, n)
        key = (u.level, u.school_id, u.organiser_id)
        for a in lay.areas:
            if a.forms_index:
                j = a.col
                what = f"Indexvärdet för {a.title}"
            elif len(a.questions) == 1:
                j = a.questions[0]
                what = f"Medelvärdet för {a.title}"
            else:
                continue
            assert j is not None
            v, st = _value(lay, row, j, p, what, 0, 10)
            put(f"skolenkat_{a.slug}_{g}", v, st, n)
            if group == "all":
                totals[(key, a.slug)] = v
    return totals


def _read_gender(lay: _Layout, p: Path, g: str, school_year: str, lookup: dict[str, str],
                 out: _Out, source: str, totals: dict[tuple, float],
                 main_areas: list[_Area]) -> None:
    readable = {a.slug for a in main_areas if a.forms_index or len(a.questions) == 1}
    have = {(r["level"], r["school_id"], r["organiser_id"], r["measure"], r["group"])
            for r in out.rows}
    disagree = 0
    for row in _data_rows(lay):
        u = _unit(lay, row, p)
        if u.gender is not None:
            out.dropped["könsuppdelade rader på bladet för kön"] += 1
            continue
        ident = _ident(u, lookup)
        key = (u.level, u.school_id, u.organiser_id)
        for a in lay.areas:
            if a.slug not in readable:
                continue
            for j, label in a.gender_cols.items():
                what = f"Indexvärdet för {a.title} ({label})"
                v, st = _value(lay, row, j, p, what, 0, 10)
                f = c.fold(label)
                if f == "totalt":
                    t = totals.get((key, a.slug))
                    if t is not None and not (t == v or (math.isnan(t) and math.isnan(v))):
                        disagree += 1
                    continue
                if f not in GENDERS:
                    out.dropped[f"okänd könsgrupp ({label})"] += 1
                    continue
                group = GENDERS[f]
                if group is None:
                    out.dropped[f"könsgrupp utanför vokabulären ({label})"] += 1
                    continue
                measure = f"skolenkat_{a.slug}_{g}"
                if (u.level, u.school_id, u.organiser_id, measure, group) in have:
                    out.dropped["könsuppdelat värde som redan finns på resultatbladet"] += 1
                    continue
                out.rows.append({**ident, "school_year": school_year, "group": group,
                                 "source": source, "_row": row.line, "measure": measure,
                                 "value": v, "status": st, "n": None})
    if disagree:
        out.notes.append(f"bladet {lay.name}: {disagree} värden i Totalt skiljer sig från "
                         "resultatbladets index (resultatbladet används)")


def _load(path: str | Path, *, group: str | None = None, school_year: str | None = None,
          municipalities: Mapping[str, str] | None = None
          ) -> tuple[pd.DataFrame, ProvenanceRecord]:
    p = c.check_file(path)
    if not c.is_xlsx(p):
        raise FileFormatError("Filen är inte en Excelarbetsbok (.xlsx); Skolinspektionens "
                              "excelrapport från Skolenkäten är en .xlsx-fil", file=p,
                              hint="Ladda ned excelrapporten på nytt från Skolinspektionens "
                                   "webbplats och spara den som .xlsx")
    sheets = c.read_xlsx(p)
    for name, rows in sheets.items():
        try:
            c.check_cells(rows, p)
        except UAError as e:
            e.sheet = name  # type: ignore[attr-defined]
            raise
    main, gender = _sheets(sheets, p)
    title = main.rows[0].text(0) if main.rows else ""
    texts = [title, main.name, p.stem.replace("-", " ").replace("_", " ")]
    g = group or _group_of(texts)
    if g is None or g not in schema.SKOLENKAT_GROUPS:
        raise _error(FileFormatError, f"Skolenkätens respondentgrupp framgår inte av rubriken "
                     f"{c.show(title, 80)}" if g is None else
                     f"Okänd respondentgrupp {g!r}", file=p, sheet=main.name,
                     row=main.rows[0].line if main.rows else None, column="A",
                     hint="Ge filen ett namn som anger gruppen, t.ex. "
                          "skolenkaten-elever-ak8-2023.xlsx, eller ange group= (en av "
                          + ", ".join(schema.SKOLENKAT_GROUPS) + ")")
    term = None
    if school_year is None:
        term = _term_of(texts)
        if term is None:
            raise _error(FileFormatError, "Skolenkätens år framgår varken av rubriken "
                         f"{c.show(title, 80)}, bladets namn eller filnamnet", file=p,
                         sheet=main.name, row=main.rows[0].line if main.rows else None,
                         column="A", hint="Ge filen ett namn med året, t.ex. "
                                          "skolenkaten-elever-ak8-2023.xlsx")
        school_year = schema.term_school_year(term)
        try:
            c.check_not_future(file=p, row=main.rows[0].line, column="A",
                               year=int(term[2:]), hint="Rätta året i rubriken eller filnamnet")
        except UAError as e:
            raise _on_sheet(e, main.name) from None
    elif not re.match(schema.SCHOOL_YEAR_RE, school_year):
        raise ValueError(f"school_year must look like '2021/22', not {school_year!r}")
    # the personnummer guard over every sheet's cells (as every loader does)
    for lay in (main, gender):
        if lay is None:
            continue
        data = _data_rows(lay)
        heads = [c.cell_text(v) or _letter(j) for j, v in enumerate(lay.rows[lay.header].cells)]
        width = max([len(heads)] + [len(r.cells) for r in data])
        heads = heads + [_letter(j) for j in range(len(heads), width)]
        try:
            refuse_personnummer_columns(c.frame_of_rows(data, _dedupe(heads)), p)
        except UAError as e:
            raise _on_sheet(e, lay.name) from None
    lookup = _municipality_lookup(municipalities)
    out = _Out()
    totals = _read_main(main, p, g, school_year, lookup, out, _source(p, main))
    rows_read = len(_data_rows(main))
    if gender is not None:
        _read_gender(gender, p, g, school_year, lookup, out, _source(p, gender), totals,
                     main.areas)
        rows_read += len(_data_rows(gender))
    else:
        out.notes.append("inget blad med könsuppdelat resultat")
    n_questions = sum(len(a.questions) for a in main.areas)
    no_index = [a.title for a in main.areas if not a.forms_index]
    out.notes.append(f"respondentgrupp {g} ({schema.SKOLENKAT_GROUPS[g]}); "
                     + (f"omgång {term} -> läsår {school_year}" if term
                        else f"läsår {school_year} (angivet)"))
    out.notes.append(f"{sum(a.forms_index for a in main.areas)} index; {n_questions} frågors "
                     "medelvärden och svarsfördelningar lästes inte in"
                     + (f"; områden utan index: {', '.join(no_index)}" if no_index else ""))
    counts = Counter(r["status"] for r in out.rows)
    out.notes.append("status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    df = pd.DataFrame(out.rows)
    if df.empty:
        raise _error(FileFormatError, "Excelrapporten har inga rader med resultat under "
                     "rubrikerna", file=p, sheet=main.name, row=main.rows[main.header].line,
                     column=None, hint="Ladda ned excelrapporten på nytt")
    df.index = df.pop("_row").to_numpy()
    df["n"] = pd.array(df["n"], dtype="Int64")
    df = df[["level", "school_id", "municipality_id", "school_year", "measure", "group",
             "principal_type", "value", "n", "status", "source", "organiser_id"]]
    return c.finish(df, table="results", path=p, loader=LOADER, rows_read=rows_read,
                    dropped=dict(out.dropped), notes=out.notes,
                    attrs={"respondent_group": g, "term": term, "school_year": school_year})


def _source(p: Path, lay: _Layout) -> str:
    """``results.source``: the file and the sheet a row came from."""
    return f"Skolenkäten {p.name}, bladet {lay.name}"


def _dedupe(names: list[str]) -> list[str]:
    seen: Counter = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


@c.guarded("Skolenkätens excelrapport")
def read_skolenkaten(path: str | Path, *, group: str | None = None,
                     school_year: str | None = None,
                     municipalities: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a Skolenkäten "excelrapport" workbook into ``results`` rows.

    Parameters
    ----------
    path : the workbook (.xlsx) as downloaded from Skolinspektionen.
    group : respondent group (a key of ``schema.SKOLENKAT_GROUPS``: ``ak5``,
        ``ak8``, ``gy2``, ``vh_gr``, ``personal_gr``, …); default: from the
        title, the sheet name or the file name.
    school_year : the school year, e.g. ``"2021/22"``; default: from the
        round's year and term (spring, unless the title says autumn).
    municipalities : municipality name -> kommunkod, to fill
        ``municipality_id`` (the workbook has names only).

    Returns
    -------
    ``results`` (see module docstring for the rows), index = Excel row,
    ``attrs["provenance"]``, ``attrs["respondent_group"]``, ``attrs["term"]``.

    Raises
    ------
    FileFormatError, MissingColumnError, ValueFormatError
        In Swedish, naming the file, the sheet, the row and the column.

    Notes
    -----
    ``-`` (too few respondents) is ``suppressed`` and an empty cell (no
    answers) ``missing``; neither is ever a number. Rows left out (gender
    groups outside the vocabulary, duplicates of the results sheet's gender
    rows) are counted in provenance.
    """
    return c.publish(_load(path, group=group, school_year=school_year,
                           municipalities=municipalities))


__all__ = ["read_skolenkaten", "INDEX_SLUGS", "GENDERS"]
