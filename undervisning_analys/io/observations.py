"""Observation form exports -> the ``observations`` table.

What a form tool (Microsoft Forms, Google Forms, Netigate, an Excel sheet…)
exports after principals have filled in the shared observation protocol:
CSV (UTF-8, UTF-8 with BOM or cp1252; ``,`` or ``;``; quoted where needed) or
XLSX, with one row per filled-in form.

*Wide* (one column per item, as form tools export)::

    Svars-ID,Lektions-ID,Datum,Skolenhetskod,Lärarkod,Observatörskod,Observatörens roll,
    Typ av besök,Ämne,Årskurs,"KL1. Lektionen har en tydlig struktur …",KL2. …

*Long* (one row per item score): the same descriptive columns plus
``Påstående`` (item id or text) and ``Poäng``.

Other form tools (see ``docs/observationsexporter.md``; the real example is
the World Bank's Teach export, read with ``docs/exempel/teach/``): title rows
above the header, two or three header rows (category, item, answer options),
items named by their full question text, columns that hold two things
(``256305 Clip 1``: school and clip), columns the export lacks (the observer's
role), and items on other scales than the index's (yes/no, low/medium/high).

Decisions
---------
* The header: the row (of the first 30) where most cells name a known column
  or an item; rows right above it with two or more cells are category rows,
  rows above those are titles (skipped, noted); rows right under it whose
  lesson, date, school, teacher and observer cells are all empty are further
  header rows (question texts, answer options). Each column's name is the
  first of its header cells (the header row's, the rows under it, the rows
  above, then the category carried right over merged cells) that means
  something; provenance notes the header's rows.
* Column names are matched after folding (case, spaces, hyphens, å/ä/ö) through
  :data:`COLUMNS`; a column file (``kolumner.yaml``, :func:`load_column_spec`,
  or ``columns=``) adds names (``Besöksdatum: date``), names an item
  (``"How clear is …": KL1``), ignores a column (``Kommentar: null``), takes a
  canonical column out of another with a pattern (``härledda:``) or gives one
  value for every row (``fasta:``). Form-tool metadata (timestamps, e-mail,
  respondent name) is ignored by default and never kept. Any other column is
  refused (FileFormatError) naming it, so that nothing is dropped silently.
* Item columns are recognised by the header ``KL1. <text>`` (id, dot or colon,
  text), by the bare id (``KL1``), or by the item's text alone. An id-like
  column the instrument does not know (``KL9. …``) is refused with
  UnknownItemError. A text that differs from the instrument's is accepted on
  its id and noted in provenance.
* ``Lektions-ID`` is the observed lesson (``observation_id``); two observers
  with the same lesson id are a paired observation. ``Svars-ID`` is the form
  response: it is not kept. Duplicate forms: a row identical to an earlier
  one in every read column but the response id (the same form exported or
  submitted twice) is dropped and counted in provenance; the same observer
  twice for one lesson with different answers (a corrected form) is refused
  (DuplicateRowsError) naming both rows, unless ``duplicates="last"`` (in
  ``kolumner.yaml``: ``dubbletter: senaste``): then the later row in the
  export (the later submission) wins and the earlier ones are counted.
* Several scales: the protocol's rated items (``dimensions``) are scored and
  enter the index; its ``categorical_items`` (yes/no, low/medium/high) are
  read into ``observation_categories`` (:func:`read_observation_export`; the
  protocol's code, null when unanswered), counted in provenance and summarised
  by :func:`summarise_categories`. An answer outside an item's categories is
  refused with its rows; the protocol's ``unanswered`` markers (``NOT
  OBSERVED``) count as unanswered.
* Scores are numbers (``3``, ``3,0``) or the scale's labels (case-insensitive;
  also ``3 – Mer starkt än svagt``). Blank cells and ``Ej observerat``/``Ej
  aktuellt``/``Kan ej bedöma``/``Vet ej``/``-`` are unanswered (score NaN) and
  counted in provenance. Scores outside the scale or not whole numbers are
  refused (ScaleError) with rows and columns. Reversed items are stored as
  answered; scoring turns them.
* Dates: the usual Swedish forms (see ``_common.parse_date``); term and school
  year follow from the date (HT = August–December).
* Roles: Rektor, Biträdande rektor, Förstelärare, Kollega, Extern observatör,
  Annan (and the canonical codes). Visit types: Spontant besök, Planerat
  besök, Kollegial observation (also Spontan/Planerad/Kollegial,
  Oanmält/Anmält besök, Kollegial auskultation).
* ``Årskurs``: 1–9, ``åk 7``, ``7A``; ``F``/``Förskoleklass`` = 0; blank = unknown.
* With ``schools=`` (the schools table or a list of codes), codes that are
  not in it are refused with UnknownSchoolError listing the rows.
* Privacy: when a teacher or observer value is a name or an e-mail address
  (an e-mail address, or letters without a digit: ``Carolina``, ``Anna
  Andersson``, ``Berg, Karin``; codes carry a digit or are a capital and a
  hexadecimal string), every value of that column is replaced at read by a
  keyed pseudonym, the same HMAC as pupils' identities
  (:func:`~undervisning_analys.privacy.pseudonymise`, key from ``key=`` or
  ``UA_PSEUDONYM_KEY``), so no name is kept and the same person keeps one
  pseudonym across files; without a key the export is refused
  (MissingKeyError, the rows listed, never the names). A single teacher or
  observer code written as a personnummer (``800101-1234``) is refused
  (elsewhere a column is refused when most of its values are personnummer).
* A date after today is refused; so is an export with a header and no rows,
  a CSV row with fewer fields than the header (a truncated file) and a value
  in a column beyond the header (see ``_common``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .. import schema
from ..dataset import ProvenanceRecord
from ..errors import (
    DuplicateRowsError,
    FileFormatError,
    MissingColumnError,
    MissingKeyError,
    ScaleError,
    UAError,
    UnknownItemError,
    UnknownSchoolError,
    ValueFormatError,
)
from ..instruments import Instrument, load_instrument
from ..privacy import KEY_ENV, get_key, pseudonymise, refuse_personnummer_columns
from . import _common as c

COLUMNS: dict[str, str | None] = {
    "svars-id": "_response_id", "svarsid": "_response_id", "svar-id": "_response_id",
    "response id": "_response_id", "respons-id": "_response_id", "id": "_response_id",
    "lektions-id": "observation_id", "lektionsid": "observation_id", "lektion": "observation_id",
    "observations-id": "observation_id", "besöks-id": "observation_id",
    "observation_id": "observation_id",
    "datum": "date", "observationsdatum": "date", "besöksdatum": "date", "date": "date",
    "skolenhetskod": "school_id", "skol-enhetskod": "school_id", "school_id": "school_id",
    "lärarkod": "teacher_id", "lärar-id": "teacher_id", "lärare": "teacher_id",
    "teacher_id": "teacher_id",
    "observatörskod": "observer_id", "observatörs-id": "observer_id",
    "observatör": "observer_id", "observer_id": "observer_id",
    "observatörens roll": "observer_role", "roll": "observer_role",
    "observer_role": "observer_role",
    "typ av besök": "observation_type", "besökstyp": "observation_type",
    "typ av observation": "observation_type", "observationstyp": "observation_type",
    "observation_type": "observation_type",
    "ämne": "subject", "subject": "subject",
    "årskurs": "grade_level", "åk": "grade_level", "grade_level": "grade_level",
    "påstående": "item_id", "item": "item_id", "item_id": "item_id", "indikator": "item_id",
    "poäng": "score", "bedömning": "score", "score": "score",
    # form-tool metadata: ignored, never kept
    "tidstämpel": None, "tidsstämpel": None, "timestamp": None, "starttid": None,
    "slutförandetid": None, "senaste ändringstid": None, "e-post": None,
    "e-postadress": None, "namn": None,
}
"""Accepted column names (folded when compared) -> canonical column (None: ignored)."""

REQUIRED = ("observation_id", "date", "school_id", "teacher_id", "observer_id",
            "observer_role", "observation_type")

ROLES: dict[str, str] = {
    "rektor": "rektor", "biträdande rektor": "bitradande_rektor",
    "bitr. rektor": "bitradande_rektor", "bitr rektor": "bitradande_rektor",
    "bitradande_rektor": "bitradande_rektor", "förstelärare": "forstelarare",
    "forstelarare": "forstelarare", "kollega": "kollega", "lärare": "kollega",
    "extern observatör": "extern", "extern": "extern", "annan": "annan", "övrig": "annan",
}
TYPES: dict[str, str] = {
    "spontant besök": "spontan", "spontan": "spontan", "oanmält besök": "spontan",
    "spontant lektionsbesök": "spontan",
    "planerat besök": "planerad", "planerad": "planerad", "anmält besök": "planerad",
    "planerat lektionsbesök": "planerad",
    "kollegial observation": "kollegial", "kollegial": "kollegial",
    "kollegial auskultation": "kollegial", "auskultation": "kollegial",
}
UNANSWERED = {"", "-", "–", "ej observerat", "ej observerad", "ej aktuellt", "ej aktuell",
              "kan ej bedöma", "kan inte bedöma", "vet ej", "ej bedömt", "n/a", "na"}

_ITEM_HEAD_RE = re.compile(r"^\s*([A-Za-zÅÄÖåäö]{1,6}\d{1,3}[a-z]?)\s*[.:)]\s*(.*)$", re.S)
_ITEM_ID_RE = re.compile(r"^\s*([A-Za-zÅÄÖåäö]{1,6}\d{1,3}[a-z]?)\s*$")
_LABEL_NUM_RE = re.compile(r"^\s*(\d+)\s*[-–=:.)]\s*[A-Za-zÅÄÖåäöÉé]")


_ID_COLUMNS = ("teacher_id", "observer_id")
_PNR_FORM = r"^(?:\d{6}|\d{8})[-+]\d{4}$"
"""A code written as a personnummer (with ``-`` or ``+``): refused even once. Codes of
digits only are refused by the column rule (most values personnummer), so that numeric
staff codes that happen to pass the check digit are not."""
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


def _fold_text(s: str) -> str:
    return re.sub(r"[\s.:;,!?]+$", "", c.norm(s))


CANONICAL = frozenset(v for v in COLUMNS.values() if v is not None and not v.startswith("_"))
"""The canonical names a column can be mapped to (in ``kolumner.yaml`` or ``columns=``)."""


@dataclass(frozen=True)
class ColumnSpec:
    """What an export's columns mean, as written in a column file (``kolumner.yaml``).

    ``columns``: the export's column name -> canonical name, an item id of the
    protocol, or None (left out). ``derived``: canonical name -> (column, regular
    expression): the value is the first group of the pattern (or the whole match)
    in that column. ``constants``: canonical name -> one value for every row (an
    export without that column). ``duplicates``: the rule for corrected forms
    (``"refuse"`` or ``"last"``). ``source``: the file it was read from.
    """

    columns: dict[str, str | None] = field(default_factory=dict)
    derived: dict[str, tuple[str, str]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    duplicates: str = "refuse"
    source: Path | None = None


_SPEC_KEYS = ("kolumner", "härledda", "fasta", "dubbletter")
_ITEM_TARGET_RE = re.compile(r"^[A-Za-zÅÄÖåäö][\w.\-]*\d[\w.\-]*$")
"""A mapping target that may be an item id of the protocol (checked when the export is
read): a letter first and a digit somewhere (``KL1``, ``E1a``, ``TLA1``)."""


def _line_of(text: str, key: str) -> int | None:
    return next((i for i, ln in enumerate(text.splitlines(), start=1) if key in ln), None)


def load_column_spec(path: str | Path) -> ColumnSpec:
    """Read a column file (``kolumner.yaml``): what the export's columns mean.

    The file is YAML::

        kolumner:                # the export's column -> canonical name, item id or null
          Besöksdatum: date
          Vem observerade: observer_id
          "1.1 The teacher treats all students respectfully": E1a
          Kommentar: null
        härledda:                # a canonical column taken out of another column
          school_id: {kolumn: School_Clip, mönster: '^(\\d+) Clip'}
        fasta:                   # one value for every row (the export lacks the column)
          observer_role: extern
        dubbletter: senaste      # a corrected form: the later submission wins

    A file with only the mapping (no ``kolumner:`` key) is read as ``kolumner``.
    :func:`~undervisning_analys.io.folder.load_folder` reads ``kolumner*.yaml`` in
    the folder, and ``validera FIL --kolumner FIL.yaml`` reads it for one export;
    no Python is needed.
    """
    import yaml

    p = c.check_file(path)
    text, _enc, _notes = c.read_text(p)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (felet upptäcktes vid tecken {mark.column + 1} på raden)" \
            if mark is not None else ""
        raise FileFormatError(
            f"Kolumnfilen är inte giltig YAML{where}", file=p,
            row=mark.line + 1 if mark is not None else None,
            hint="Skriv en rad per kolumn: \"namn i exporten\": kanoniskt namn, och stäng "
                 "varje citattecken och hakparentes") from None
    if not isinstance(doc, dict) or not doc:
        raise FileFormatError(
            "Kolumnfilen har ingen mappning av kolumner", file=p,
            hint="Skriv en rad per kolumn under kolumner:, t.ex. \"Besöksdatum\": date")
    if isinstance(doc.get("kolumner"), dict) or any(k in doc for k in _SPEC_KEYS[1:]):
        cols_doc = doc.get("kolumner") or {}
    else:
        cols_doc = {k: v for k, v in doc.items() if k not in _SPEC_KEYS}
    if not isinstance(cols_doc, dict):
        raise FileFormatError("kolumner: i kolumnfilen ska vara en mappning", file=p,
                              row=_line_of(text, "kolumner"), column="kolumner",
                              hint="Skriv en rad per kolumn under kolumner:, t.ex. "
                                   "\"Besöksdatum\": date")
    columns: dict[str, str | None] = {}
    for k, v in cols_doc.items():
        target = None if v is None or c.norm(v) in ("", "null", "none", "hoppa över") \
            else str(v).strip()
        if target is not None and target not in CANONICAL and not _ITEM_TARGET_RE.match(target):
            raise ValueFormatError(
                f"Kolumnfilen mappar `{k}` till {target!r}, som inte är ett känt namn",
                file=p, row=_line_of(text, str(k)), column=str(k),
                hint="Känt namn är något av: " + ", ".join(sorted(CANONICAL))
                     + ", ett påstående i protokollet (t.ex. KL1), eller null för att hoppa "
                       "över kolumnen")
        columns[str(k)] = target
    derived: dict[str, tuple[str, str]] = {}
    for t, v in (doc.get("härledda") or {}).items():
        loc: dict[str, Any] = {"file": p, "row": _line_of(text, str(t)), "column": f"härledda.{t}"}
        if str(t) not in CANONICAL:
            raise ValueFormatError(f"härledda: {t} är inte ett känt namn", **loc,
                                   hint="Känt namn är något av: " + ", ".join(sorted(CANONICAL)))
        if not isinstance(v, dict) or not {"kolumn", "mönster"} <= set(v):
            raise ValueFormatError(
                f"härledda: {t} ska ange kolumn och mönster", **loc,
                hint=f"Skriv t.ex. {t}: {{kolumn: School_Clip, mönster: '^(\\d+)'}}")
        try:
            rx = re.compile(str(v["mönster"]))
        except re.error as exc:
            at = f" (felet vid tecken {exc.pos + 1})" if exc.pos is not None else ""
            raise ValueFormatError(f"Mönstret för {t} under härledda: är inte ett giltigt "
                                   f"reguljärt uttryck{at}", **loc,
                                   hint="Skriv mönstret inom enkla citattecken, t.ex. "
                                        "'^(\\d+) Clip'") from None
        if rx.groups > 1:
            raise ValueFormatError(f"Mönstret för {t} under härledda: har {rx.groups} grupper",
                                   **loc, hint="Använd högst en grupp ( … ): den blir värdet")
        derived[str(t)] = (str(v["kolumn"]), str(v["mönster"]))
    constants: dict[str, str] = {}
    for t, v in (doc.get("fasta") or {}).items():
        if str(t) not in CANONICAL:
            raise ValueFormatError(f"fasta: {t} är inte ett känt namn", file=p,
                                   row=_line_of(text, str(t)), column=f"fasta.{t}",
                                   hint="Känt namn är något av: " + ", ".join(sorted(CANONICAL)))
        constants[str(t)] = c.cell_text(v)
    rule = c.norm(doc.get("dubbletter"))
    if rule in ("", "avvisa", "none"):
        dup = "refuse"
    elif rule in ("senaste", "sista", "senaste gäller", "last"):
        dup = "last"
    else:
        raise ValueFormatError(f"dubbletter: {rule!r} är inte en känd regel", file=p,
                               row=_line_of(text, "dubbletter"), column="dubbletter",
                               hint="Skriv dubbletter: senaste (det senast inskickade "
                                    "formuläret gäller) eller dubbletter: avvisa")
    if not (columns or derived or constants) and "dubbletter" not in doc:
        raise FileFormatError(
            "Kolumnfilen har ingen mappning av kolumner", file=p,
            hint="Skriv en rad per kolumn under kolumner:, t.ex. \"Besöksdatum\": date")
    return ColumnSpec(columns, derived, constants, dup, p)


def load_column_map(path: str | Path) -> dict[str, str | None]:
    """The ``kolumner:`` mapping of a column file (see :func:`load_column_spec`)."""
    return load_column_spec(path).columns


def duplicate_rule(path: str | Path) -> str:
    """The rule for corrected forms in a ``kolumner.yaml``: ``dubbletter: senaste`` ->
    ``"last"`` (the later submission wins); absent or ``dubbletter: avvisa`` ->
    ``"refuse"``."""
    return load_column_spec(path).duplicates


def as_column_spec(columns: Mapping[str, str | None] | ColumnSpec | str | Path | None
                   ) -> ColumnSpec:
    """A ColumnSpec from a spec, a column file's path or a plain mapping."""
    if columns is None:
        return ColumnSpec()
    if isinstance(columns, ColumnSpec):
        return columns
    if isinstance(columns, (str, Path)):
        return load_column_spec(columns)
    return ColumnSpec(columns=dict(columns))


def _mapping(extra: Mapping[str, str | None] | None) -> dict[str, str | None]:
    out = {c.fold(k): v for k, v in COLUMNS.items()}
    for k, v in (extra or {}).items():
        out[c.fold(k)] = v
    return out


def _score(v: Any, labels: dict[str, int], unanswered: set[str] | frozenset[str] = frozenset(
        UNANSWERED)) -> tuple[float | None, str]:
    """(score, kind): kind 'ok', 'blank' or 'bad' (then score is None)."""
    s = c.cell_text(v)
    if c.norm(s) in unanswered:
        return np.nan, "blank"
    parsed = c.parse_number(v)
    if parsed is not None and parsed[1] == "ok":
        return parsed[0], "ok"
    lab = labels.get(c.norm(s))
    if lab is not None:
        return float(lab), "ok"
    m = _LABEL_NUM_RE.match(s)
    if m:
        return float(m.group(1)), "ok"
    return None, "bad"


def _grade_level(v: Any) -> tuple[int | None, bool]:
    s = c.norm(v)
    if s == "":
        return None, True
    if s in ("f", "fk", "fsk", "förskoleklass", "0"):
        return 0, True
    m = re.match(r"^(?:åk|årskurs)?\s*\.?\s*([1-9])(?:\s*[a-zåäö]{0,2})?$", s)
    if m:
        return int(m.group(1)), True
    parsed = c.parse_number(v)
    if parsed is not None and parsed[1] == "ok" and float(parsed[0]).is_integer() \
            and 0 <= parsed[0] <= 9:
        return int(parsed[0]), True
    return None, False


def _school_codes(schools: pd.DataFrame | Iterable[str] | None) -> set[str] | None:
    if schools is None:
        return None
    if isinstance(schools, pd.DataFrame):
        return {str(x) for x in schools["school_id"]}
    return {str(x) for x in schools}


_ID_CANON = ("observation_id", "date", "school_id", "teacher_id", "observer_id",
             "_response_id")
_HEADER_SCAN = 30
"""Rows searched for the header (title rows above it, a category row, an option row)."""


class _Resolver:
    """What a header cell means: a canonical column, an ignored one, an item (rated or
    categorical) of the protocol, an item id the protocol does not know, or nothing."""

    def __init__(self, inst: Instrument, mapping: dict[str, str | None]) -> None:
        self.inst = inst
        self.mapping = mapping
        self.by_id = {iid.lower(): iid for iid in inst.item_ids}
        self.by_text = {_fold_text(it.text): it.id for it in inst.items}
        self.cat_by_id = {iid.lower(): iid for iid in inst.categorical_ids}
        self.cat_by_text = {_fold_text(it.text): it.id for it in inst.categorical_items}
        self._memo: dict[str, tuple[Any, ...] | None] = {}

    def __call__(self, name: str) -> tuple[Any, ...] | None:
        if name not in self._memo:
            self._memo[name] = self._resolve(name)
        return self._memo[name]

    def _resolve(self, name: str) -> tuple[Any, ...] | None:
        if name == "":
            return None
        key = c.fold(name)
        if key in self.mapping:
            t = self.mapping[key]
            if t is None:
                return ("ignore",)
            if t in CANONICAL or t.startswith("_"):
                return ("canon", t)
            if t.lower() in self.by_id:
                return ("item", self.by_id[t.lower()], False)
            if t.lower() in self.cat_by_id:
                return ("cat", self.cat_by_id[t.lower()])
            return ("bad_target", t)
        m = _ITEM_HEAD_RE.match(name) or _ITEM_ID_RE.match(name)
        if m:
            k = m.group(1).lower()
            if k in self.by_id:
                iid = self.by_id[k]
                text = m.group(2) if m.re is _ITEM_HEAD_RE else ""
                return ("item", iid, bool(text) and
                        _fold_text(text) != _fold_text(self.inst.item(iid).text))
            if k in self.cat_by_id:
                return ("cat", self.cat_by_id[k])
            return ("unknown_item",)
        ft = _fold_text(name)
        if ft in self.by_text:
            return ("item", self.by_text[ft], False)
        if ft in self.cat_by_text:
            return ("cat", self.cat_by_text[ft])
        return None


def _nonblank(r: c.Row) -> int:
    return sum(1 for x in r.cells if c.cell_text(x) != "")


def _ffill(r: c.Row, width: int) -> list[str]:
    out, last = [], ""
    for j in range(width):
        t = r.text(j)
        last = t or last
        out.append(last)
    return out


def _columns(rows: list[c.Row], h: int, top: int, below: list[c.Row], resolve: _Resolver
             ) -> tuple[list[str], list[tuple[Any, ...] | None], list[list[str]]]:
    """Per column: display name, meaning and header texts (most specific first)."""
    above = rows[top:h]
    block = [*above, rows[h], *below]
    width = max(len(r.cells) for r in block)
    filled = [_ffill(r, width) for r in above]
    names: list[str] = []
    meaning: list[tuple[Any, ...] | None] = []
    texts: list[list[str]] = []
    for j in range(width):
        own = [rows[h].text(j)] + [r.text(j) for r in below] + [r.text(j) for r in reversed(above)]
        cands = [x for x in own + [f[j] for f in reversed(filled)] if x]
        cands = list(dict.fromkeys(cands))
        chosen: tuple[str, tuple[Any, ...]] | None = None
        unknown_item = None
        for x in cands:
            got = resolve(x)
            if got is None:
                continue
            if got[0] == "unknown_item":
                unknown_item = unknown_item or x
                continue
            chosen = (x, got)
            break
        texts.append(cands)
        if chosen is not None:
            names.append(chosen[0])
            meaning.append(chosen[1])
        elif unknown_item is not None:
            names.append(unknown_item)
            meaning.append(("unknown_item",))
        else:
            shown = [r.text(j) for r in block if r.text(j)]
            names.append(" / ".join(dict.fromkeys(shown)) if shown else
                         (cands[0] if cands else ""))
            meaning.append(None)
    return names, meaning, texts


def _find_header(rows: list[c.Row], resolve: _Resolver) -> tuple[int, int, int]:
    """(first header row, the header row, first data row) among the non-blank rows.

    The header row is the row (of the first :data:`_HEADER_SCAN`) where most cells mean a
    known column or item; the rows right above it with two or more cells are further
    header rows (categories); rows above those are titles. Rows right under it whose
    identifying columns (lesson, date, school, teacher, observer) are all empty are
    further header rows too (items, answer options)."""
    scan = rows[:_HEADER_SCAN]

    def hits(r: c.Row) -> int:
        return sum(1 for x in r.cells
                   if (got := resolve(c.cell_text(x))) is not None and got[0] != "unknown_item")

    counts = [hits(r) for r in scan]
    h = max(range(len(scan)), key=lambda i: (counts[i], -i)) if scan else 0
    if not counts or counts[h] == 0:
        return 0, 0, 1
    top = h
    while top > 0 and _nonblank(rows[top - 1]) >= 2:
        top -= 1
    _names, meaning, _t = _columns(rows, h, top, [], resolve)
    ids = [j for j, m in enumerate(meaning) if m and m[0] == "canon" and m[1] in _ID_CANON]
    k = h + 1
    if len(ids) >= 2:
        # at most three more header rows, none with a number (a form whose lesson, date,
        # school, teacher and observer are all blank is a form, refused later)
        while k < min(len(rows), h + 4) and all(rows[k].text(j) == "" for j in ids) \
                and not any(_is_number(x) for x in rows[k].cells):
            k += 1
    return top, h, k


def _is_number(v: Any) -> bool:
    got = c.parse_number(v)
    return got is not None and got[1] == "ok"


def _load(path: str | Path, instrument: Instrument | str | Path | None = None, *,
          columns: Mapping[str, str | None] | ColumnSpec | str | Path | None = None,
          schools: pd.DataFrame | Iterable[str] | None = None,
          duplicates: str | None = None, key: str | bytes | None = None
          ) -> tuple[pd.DataFrame, ProvenanceRecord, pd.DataFrame]:
    p = c.check_file(path)
    sheets, info = c.read_rows(p, delimiters=(",", ";", "\t"))
    sheet, rows = next(((n, r) for n, r in sheets.items() if any(not x.is_blank() for x in r)),
                       ("", []))
    try:
        return _load_rows(p, rows, info, instrument, columns=columns, schools=schools,
                          duplicates=duplicates, key=key)
    except UAError as e:
        # an error in the workbook's cells names the sheet the forms were read from
        if sheet and e.sheet is None and e.file is not None and Path(e.file) == p:
            raise e.in_sheet(sheet) from None
        raise


def _load_rows(p: Path, rows: list[Any], info: dict[str, Any],
               instrument: Instrument | str | Path | None = None, *,
               columns: Mapping[str, str | None] | ColumnSpec | str | Path | None = None,
               schools: pd.DataFrame | Iterable[str] | None = None,
               duplicates: str | None = None, key: str | bytes | None = None
               ) -> tuple[pd.DataFrame, ProvenanceRecord, pd.DataFrame]:
    inst = load_instrument(instrument)
    spec = as_column_spec(columns)
    if duplicates is None:
        duplicates = spec.duplicates
    map_file = spec.source if spec.source is not None else p
    rows = [r for r in rows if not r.is_blank()]
    if not rows:
        raise FileFormatError("Filen är tom", file=p,
                              hint="Exportera svaren från formulärverktyget på nytt")
    resolve = _Resolver(inst, _mapping(spec.columns))
    top, h, first_data = _find_header(rows, resolve)
    header, data = rows[h], rows[first_data:]
    below = rows[h + 1:first_data]
    if not data:
        raise FileFormatError("Exporten har en rubrikrad men inga rader med svar", file=p,
                              row=header.line,
                              hint="Exportera svaren på nytt när formulären har fyllts i, "
                                   "eller ta bort filen ur mappen")
    names, meaning, texts = _columns(rows, h, top, below, resolve)
    canon: dict[int, str] = {}
    items: dict[int, str] = {}
    cats: dict[int, str] = {}
    ignored: list[str] = []
    unknown_items: list[str] = []
    unknown_cols: list[str] = []
    text_differs: list[str] = []
    for j, (name, m) in enumerate(zip(names, meaning, strict=True)):
        if m is None:
            if name == "":
                if any(j < len(r.cells) and c.cell_text(r.cells[j]) for r in data):
                    unknown_cols.append(f"kolumn {j + 1} (utan rubrik)")
            else:
                unknown_cols.append(name)
        elif m[0] == "ignore":
            ignored.append(name)
        elif m[0] == "bad_target":
            raise UnknownItemError(
                f"Kolumnmappningen mappar `{name}` till `{m[1]}`, som varken är ett känt "
                f"kolumnnamn eller ett påstående i protokollet `{inst.id}`", file=map_file,
                column=name,
                hint="Rätta raden i kolumnfilen (kolumner.yaml); kända namn: "
                     + ", ".join(sorted(CANONICAL)) + "; protokollets påståenden: "
                     + ", ".join(inst.item_ids + inst.categorical_ids))
        elif m[0] == "canon":
            if m[1] in canon.values():
                raise FileFormatError(
                    f"Två kolumner betyder samma sak ({m[1]}): `{name}` och en tidigare",
                    file=p, row=header.line, column=name,
                    hint="Ta bort den ena kolumnen, eller skriv raden \"" + name + "\": null "
                         "i kolumner.yaml i mappen så att den hoppas över")
            canon[j] = m[1]
        elif m[0] in ("item", "cat"):
            # a rated or a categorical item: each item in one column only
            if m[1] in items.values() or m[1] in cats.values():
                raise FileFormatError(
                    f"Två kolumner är samma påstående ({m[1]}): `{name}` och en tidigare",
                    file=p, row=header.line, column=name,
                    hint="Rätta rubriken, eller mappa kolumnerna till olika påståenden i "
                         "kolumner.yaml")
            if m[0] == "item":
                items[j] = m[1]
                if m[2]:
                    text_differs.append(m[1])
            else:
                cats[j] = m[1]
        else:
            unknown_items.append(name)
    if unknown_items:
        raise UnknownItemError(
            f"Exporten har påståenden som protokollet `{inst.id}` inte känner: "
            + ", ".join(f"`{x}`" for x in unknown_items[:10]), file=p, row=header.line,
            column=unknown_items[0],
            hint="Lägg rätt protokoll (protokoll.yaml) i mappen eller rätta kolumnrubrikerna; "
                 "kända påståenden: " + ", ".join(inst.item_ids + inst.categorical_ids))
    if unknown_cols:
        raise FileFormatError(
            "Exporten har kolumner som inte känns igen: "
            + ", ".join(f"`{x}`" for x in unknown_cols[:10]), file=p, row=header.line,
            column=unknown_cols[0],
            hint="Byt namn på kolumnen, eller skriv i kolumner.yaml i mappen vad den "
                 "betyder (en rad som \"" + unknown_cols[0] + "\": date), vilket påstående i "
                 "protokollet den är (\"" + unknown_cols[0] + "\": " + inst.item_ids[0]
                 + ") eller \"" + unknown_cols[0] + "\": null för att hoppa över den; kända "
                 "namn: " + ", ".join(sorted(CANONICAL)))
    long_format = "item_id" in canon.values() or "score" in canon.values()
    if long_format and (items or cats):
        raise FileFormatError(
            "Exporten har både kolumnen Påstående/Poäng och en kolumn per påstående",
            file=p, row=header.line, hint="Använd antingen brett eller långt format")
    for t in list(spec.derived) + list(spec.constants):
        twice = next((j for j, x in canon.items() if x == t), None)
        if twice is not None:
            raise FileFormatError(
                f"{t} har två källor: kolumnen `{names[twice]}` i exporten och "
                f"{'härledda' if t in spec.derived else 'fasta'}: i kolumnfilen",
                file=map_file, column=t,
                hint=f"Ta bort raden för {t} under {'härledda' if t in spec.derived else 'fasta'}"
                     f": i kolumnfilen, eller skriv \"{names[twice]}\": null under kolumner:")
    provided = set(canon.values()) | set(spec.derived) | set(spec.constants)
    required = list(REQUIRED) + (["item_id", "score"] if long_format else [])
    missing = [t for t in required if t not in provided]
    sv_names = {"observation_id": "Lektions-ID", "date": "Datum", "school_id": "Skolenhetskod",
                "teacher_id": "Lärarkod", "observer_id": "Observatörskod",
                "observer_role": "Observatörens roll", "observation_type": "Typ av besök",
                "item_id": "Påstående", "score": "Poäng"}
    if missing:
        raise MissingColumnError(
            f"Exporten saknar kolumnen {sv_names[missing[0]]}", file=p, row=header.line,
            column=sv_names[missing[0]],
            hint="Lägg till kolumnen, eller skriv i kolumner.yaml i mappen vad den heter i "
                 "er export (en rad som \"ert namn\": " + missing[0] + "), eller ange ett "
                 "värde för alla rader under fasta: (" + missing[0] + ": …)")
    if not long_format and not items:
        raise MissingColumnError(
            "Exporten har inga kolumner för protokollets påståenden", file=p, row=header.line,
            hint="Rubrikerna ska vara påståendets id (KL1), id och text (KL1. text) eller "
                 "texten, eller mappas till ett påstående i kolumner.yaml; kända påståenden: "
                 + ", ".join(inst.item_ids))
    c.check_widths(c.Row(header.line, names), data, p, short_rows=info.get("format") == "csv")
    raw = c.frame_of_rows(data, [n or f"kolumn {j + 1}" for j, n in enumerate(names)])
    raw.columns = [f"{n} ({j + 1})" if list(raw.columns).count(n) > 1 else n
                   for j, n in enumerate(raw.columns)]
    refuse_personnummer_columns(raw, p)
    col_of = {t: raw.columns[j] for j, t in canon.items()}  # canonical -> raw column label
    for t, (src, pattern) in spec.derived.items():
        found = next((j for j, ts in enumerate(texts)
                      if any(c.fold(x) == c.fold(src) for x in ts)), None)
        if found is None:
            raise MissingColumnError(
                f"Kolumnfilen härleder {t} ur kolumnen `{src}`, som exporten saknar",
                file=p, row=header.line, column=src,
                hint=f"Rätta kolumnnamnet under härledda: i kolumnfilen ({map_file}); "
                     "exportens kolumner: " + ", ".join(n for n in names[:12] if n))
        label = f"{raw.columns[found]} → {t}"
        rx = re.compile(pattern)

        def derive(v: Any, rx: re.Pattern[str] = rx) -> str | None:
            m = rx.search(c.cell_text(v))
            return None if m is None else (m.group(1) if rx.groups else m.group(0)).strip()

        got = c.map_unique(raw[raw.columns[found]], derive)
        bad = [(i, raw.at[i, raw.columns[found]]) for i in got.index[got.isna()]]
        if bad:
            raise c.rows_error(
                ValueFormatError, f"Mönstret för {t} under härledda: i kolumnfilen passar inte "
                f"värdet i kolumnen {raw.columns[found]}", file=p, column=str(raw.columns[found]),
                bad=bad, hint=f"Rätta mönstret ({pattern}) i kolumnfilen ({map_file}) så att "
                              "det passar varje rad, eller rätta värdena")
        raw[label] = got
        col_of[t] = label
    for t, value in spec.constants.items():
        label = f"{t} (fast värde i kolumnfilen)"
        raw[label] = value
        col_of[t] = label
    dropped: dict[str, int] = {}
    # the same form twice: identical copies are dropped and counted; corrected copies are
    # refused below with both rows, or the last one kept (duplicates="last")
    sig_cols = [col for t, col in col_of.items() if t != "_response_id"] + \
        [raw.columns[j] for j in items] + [raw.columns[j] for j in cats]
    same = raw[list(dict.fromkeys(sig_cols))].astype(str).duplicated(keep="first").to_numpy()
    if same.any():
        dropped["identiska dubbletter av formulär (samma svar två gånger)"] = int(same.sum())
        raw = raw[~same]
    if duplicates == "last":
        key_cols = [col_of["observation_id"], col_of["observer_id"]] + (
            [col_of["item_id"]] if long_format else [])
        later = raw[key_cols].astype(str).duplicated(keep="last").to_numpy()
        if later.any():
            dropped["rättade formulär: ett senare svar för samma lektion och observatör "
                    "gäller"] = int(later.sum())
            raw = raw[~later]
    elif duplicates != "refuse":
        raise ValueError(f"duplicates={duplicates!r}: 'refuse' eller 'last'")
    # teacher and observer codes: one code written as a personnummer is one too many
    ids = pd.DataFrame({col_of[t]: c.map_unique(raw[col_of[t]], c.cell_text)
                        for t in _ID_COLUMNS})
    refuse_personnummer_columns(ids.where(ids.apply(lambda s: s.str.match(_PNR_FORM))),
                                p, min_share=1e-9)
    txt = {t: c.map_unique(raw[col], c.cell_text).astype(object)
           for t, col in col_of.items()}
    notes = list(info.get("notes", []))
    if info.get("format") == "csv":
        notes.append(f"teckenkodning {info['encoding']}, avgränsare {info['delimiter']!r}")
    if top or h or first_data > h + 1:
        part = f"rubrikraden är rad {header.line}"
        if top:
            part += f"; {top} titelrad{'er' if top > 1 else ''} ovanför lästes inte som data"
        if first_data - top > 1:
            part += (f"; rubriken har {first_data - top} rader (t.ex. kategori, påstående, "
                     "svarsalternativ) som slogs ihop till en")
        notes.append(part)
    notes.append("format: " + ("långt (en rad per påstående)" if long_format
                               else f"brett ({len(items)} påståenden som kolumner)"))

    def refuse_blank(t: str) -> None:
        bad = [(i, v) for i, v in txt[t].items() if v == ""]
        if bad:
            raise c.rows_error(ValueFormatError, f"Värde saknas i kolumnen {col_of[t]}",
                               file=p, column=col_of[t], bad=bad,
                               hint="Fyll i värdet eller ta bort raden")

    for t in ("observation_id", "school_id", "teacher_id", "observer_id"):
        refuse_blank(t)
    for t in _ID_COLUMNS:
        n_named = _pseudonymise_names(txt, t, col_of[t], p, key)
        if n_named:
            notes.append(f"{col_of[t]}: namn eller e-postadresser på {n_named} rader; alla "
                         "värden i kolumnen ersattes med nyckelbaserade pseudonymer vid "
                         "inläsningen")
    school = c.map_unique(txt["school_id"], lambda v: v if len(v) == 9 else c.pad_code(v, 8))
    bad = [(i, v) for i, v in school.items() if not schema.is_school_id(v)]
    if bad:
        raise c.rows_error(ValueFormatError, "Skolenhetskoden ska vara 8 siffror (eller en "
                           "historisk 9-siffrig kod)", file=p,
                           column=col_of["school_id"], bad=bad,
                           hint="Rätta skolenhetskoden (8 siffror, t.ex. 12345678)")
    known = _school_codes(schools)
    if known is not None:
        bad = [(i, v) for i, v in school.items() if v not in known]
        if bad:
            raise c.rows_error(UnknownSchoolError, "Skolenhetskoder som inte finns i "
                               "skolregistret", file=p, column=col_of["school_id"], bad=bad,
                               hint="Lägg till skolorna i skolregistret eller rätta koderna")
    dates = c.map_unique(raw[col_of["date"]], c.parse_date)
    bad = [(i, raw.at[i, col_of["date"]]) for i in dates.index[dates.isna()]]
    if bad:
        raise c.rows_error(ValueFormatError, "Datumet går inte att läsa", file=p,
                           column=col_of["date"], bad=bad,
                           hint="Skriv datum som 2023-09-14 (eller 14/9 2023, "
                                "14 september 2023)")
    first_rows = dates.index.to_series(index=dates.index).groupby(
        dates.to_numpy(), sort=False).first()
    for d, i in first_rows.sort_values().items():  # each distinct date at its first row
        c.check_not_future(file=p, row=i, column=col_of["date"], date=d,
                           hint="Rätta datumet för lektionsbesöket")
    def vocabulary(field: str, mapping: dict[str, str], message: str, hint: str) -> pd.Series:
        """Swedish labels -> canonical codes; every unknown label refused with its row."""
        out = c.map_unique(txt[field], lambda v: mapping.get(c.norm(v)))
        bad = [(i, txt[field][i]) for i in out.index[out.isna()]]
        if bad:
            raise c.rows_error(ValueFormatError, message, file=p, column=col_of[field],
                               bad=bad, hint=hint)
        return out

    role = vocabulary("observer_role", ROLES, "Okänd roll för observatören",
                      "Tillåtna roller: Rektor, Biträdande rektor, Förstelärare, "
                      "Kollega, Extern observatör, Annan")
    otype = vocabulary("observation_type", TYPES, "Okänd typ av besök",
                       "Tillåtna typer: Spontant besök, Planerat besök, "
                       "Kollegial observation")
    if "grade_level" in col_of:
        gl = c.map_unique(raw[col_of["grade_level"]], _grade_level)
        bad = [(i, raw.at[i, col_of["grade_level"]]) for i, (_, ok) in gl.items() if not ok]
        if bad:
            raise c.rows_error(ValueFormatError, "Årskursen går inte att läsa", file=p,
                               column=col_of["grade_level"], bad=bad,
                               hint="Skriv årskursen som en siffra 1–9 (F för förskoleklass)")
        grade_level = pd.array([g for g, _ in gl], dtype="Int64")
    else:
        grade_level = pd.array([pd.NA] * len(raw), dtype="Int64")
    subject = txt["subject"].where(txt["subject"] != "", None) if "subject" in txt \
        else pd.Series([None] * len(raw), index=raw.index, dtype=object)
    desc = pd.DataFrame({
        "observation_id": txt["observation_id"], "school_id": school,
        "teacher_id": txt["teacher_id"], "observer_id": txt["observer_id"],
        "observer_role": role, "observation_type": otype, "date": dates,
        "subject": subject, "grade_level": grade_level}, index=raw.index)
    if "_response_id" in txt:
        rid = txt["_response_id"]
        dup = rid.duplicated(keep=False) & (rid != "")
        if dup.any():
            raise c.rows_error(DuplicateRowsError, "Samma svars-id förekommer flera gånger",
                               file=p, column=col_of["_response_id"],
                               bad=list(rid[dup].items()),
                               hint="Ta bort dubbletterna (samma formulärsvar exporterat två "
                                    "gånger)")
    labels = inst.label_to_score()
    unanswered = UNANSWERED | {c.norm(x) for x in inst.unanswered}
    lo, hi = inst.scale
    cat_long: pd.DataFrame | None = None
    if long_format:
        item_txt = txt["item_id"]

        def item_of(v: str, by_id: dict[str, str], by_text: dict[str, str]) -> str | None:
            m = _ITEM_HEAD_RE.match(v) or _ITEM_ID_RE.match(v)
            if m and m.group(1).lower() in by_id:
                return by_id[m.group(1).lower()]
            return by_text.get(_fold_text(v))

        item_ids = c.map_unique(item_txt, lambda v: item_of(v, resolve.by_id, resolve.by_text))
        cat_ids = c.map_unique(item_txt, lambda v: item_of(v, resolve.cat_by_id,
                                                          resolve.cat_by_text))
        bad = [(i, item_txt[i]) for i in item_ids.index[item_ids.isna() & cat_ids.isna()]]
        if bad:
            raise c.rows_error(UnknownItemError, f"Påståenden som protokollet `{inst.id}` "
                               "inte känner", file=p, column=col_of["item_id"], bad=bad,
                               hint="Ange rätt protokoll eller rätta påståendenas id; kända: "
                                    + ", ".join(inst.item_ids + inst.categorical_ids))
        is_cat = (item_ids.isna() & cat_ids.notna()).to_numpy()
        long = desc[~is_cat].assign(item_id=item_ids[~is_cat],
                                    _cell=raw[col_of["score"]][~is_cat], _col=col_of["score"])
        if is_cat.any():
            cat_long = desc[is_cat].assign(item_id=cat_ids[is_cat],
                                           _cell=raw[col_of["score"]][is_cat],
                                           _col=col_of["score"])
    else:
        parts = []
        for j, iid in items.items():
            col = raw.columns[j]
            parts.append(desc.assign(item_id=iid, _cell=raw[col], _col=col))
        long = pd.concat(parts)
    if cat_long is None:
        cat_long = pd.concat([desc.assign(item_id=iid, _cell=raw[raw.columns[j]],
                                          _col=raw.columns[j]) for j, iid in cats.items()]) \
            if cats else None
    categories = _categorical(desc, cat_long, inst, unanswered, p)
    if len(categories):
        dup = categories.duplicated(["observation_id", "observer_id", "item_id"],
                                    keep=False).to_numpy()
        if dup.any():
            sub = categories[dup]
            raise c.rows_error(DuplicateRowsError, "Dubbletter: samma observatör, lektion och "
                               "påstående finns på flera rader", file=p,
                               column=col_of["observation_id"],
                               bad=[(i, f"{o} / {it}") for i, o, it in
                                    zip(sub.index, sub["observation_id"], sub["item_id"])],
                               hint="Ta bort dubbletterna, eller ge lektionerna olika "
                                    "Lektions-ID")
    scored = c.map_unique(long["_cell"], lambda v: _score(v, labels, unanswered))
    long["score"] = [s for s, _ in scored]
    kinds = pd.Series([k for _, k in scored], index=long.index)
    bad_idx = np.flatnonzero(kinds.to_numpy() == "bad")
    if len(bad_idx):
        sub = long.iloc[bad_idx]
        raise c.rows_error(ValueFormatError, "Poängen går inte att läsa", file=p,
                           column=str(sub["_col"].iloc[0]),
                           bad=[(i, f"{v} (kolumn {col})") for i, v, col in
                                zip(sub.index, sub["_cell"], sub["_col"])],
                           hint=f"Förväntat ett heltal {lo}–{hi} eller en av skalans "
                                "etiketter: " + "; ".join(inst.labels.values()))
    sc = long["score"].astype(float)
    out_of = sc.notna() & ((sc < lo) | (sc > hi) | (sc != np.round(sc)))
    if out_of.any():
        sub = long[out_of.to_numpy()]
        raise c.rows_error(ScaleError, f"Poäng utanför protokollets skala {lo}–{hi}",
                           file=p, column=str(sub["_col"].iloc[0]),
                           bad=[(i, f"{v} (kolumn {col})") for i, v, col in
                                zip(sub.index, sub["_cell"], sub["_col"])],
                           hint=f"Rätta värdet till ett heltal {lo}–{hi}, eller ange rätt "
                                "protokoll")
    keys = ["observation_id", "observer_id", "item_id"]
    dup = long.duplicated(keys, keep=False).to_numpy()
    if dup.any():
        sub = long[dup]
        what = "samma observatör för samma lektion" if not long_format else \
            "samma observatör, lektion och påstående"
        raise c.rows_error(DuplicateRowsError, f"Dubbletter: {what} finns på flera rader",
                           file=p, column=col_of["observation_id"],
                           bad=[(i, f"{o} / {ob}") for i, o, ob in
                                zip(sub.index, sub["observation_id"], sub["observer_id"])],
                           hint="Ta bort dubbletterna, eller ge lektionerna olika Lektions-ID")
    n_blank = int((kinds == "blank").sum())
    long["school_year"] = c.map_unique(long["date"], schema.school_year_of).astype(str)
    long["term"] = c.map_unique(long["date"], schema.term_of).astype(str)
    long["instrument_id"] = inst.id
    long["date"] = pd.to_datetime(long["date"]).astype("datetime64[ns]")
    order = ["observation_id", "school_id", "teacher_id", "observer_id", "observer_role",
             "observation_type", "date", "school_year", "term", "subject", "grade_level",
             "instrument_id", "item_id", "score"]
    rank = {iid: k for k, iid in enumerate(inst.item_ids)}
    long = long.assign(_line=long.index, _rank=long["item_id"].map(rank))
    long = long.sort_values(["_line", "_rank"], kind="stable")[order]
    notes.append(f"obesvarade påståenden: {n_blank} av {len(long)}")
    notes.append(f"lektioner: {long['observation_id'].nunique()}, ifyllda formulär: "
                 f"{long[['observation_id', 'observer_id']].drop_duplicates().shape[0]}")
    if ignored:
        notes.append("kolumner som inte används (och inte sparas): " + ", ".join(ignored))
    if text_differs:
        notes.append("påståenden där rubrikens text skiljer sig från protokollets (läst på id): "
                     + ", ".join(text_differs))
    if cats:
        n_cat = int(categories["category"].notna().sum())
        notes.append(f"kategoriska påståenden (ingår inte i indexet): {len(cats)} påståenden, "
                     f"{n_cat} svar, {len(categories) - n_cat} obesvarade")
    out, prov = c.finish(long, table="observations", path=p, loader="read_observations",
                         rows_read=len(data), dropped=dropped, notes=notes, scale=(lo, hi),
                         attrs={"instrument_id": inst.id})
    if len(categories):
        categories = _finish_categories(categories, p, inst)
    else:
        categories = schema.empty("observation_categories")
    return out, prov, categories


_HEX_CODE_RE = re.compile(r"^[A-Z]{1,3}[0-9a-f]{5,}$")


def _is_name(v: str) -> bool:
    """A teacher or observer value that is a name or an e-mail address, not a code: an
    e-mail address, or text of letters (two or more) without a digit (``Carolina``,
    ``Anna Andersson``, ``Berg, Karin``, initials). Codes carry a digit (``L017``,
    ``O3``) or are a short capital prefix and a hexadecimal string (``Lfddddb``)."""
    if _EMAIL_RE.search(v):
        return True
    if any(ch.isdigit() for ch in v) or _HEX_CODE_RE.match(v):
        return False
    return sum(ch.isalpha() for ch in v) >= 2


def _pseudonymise_names(txt: dict[str, pd.Series], t: str, column: str, p: Path,
                        key: str | bytes | None) -> int:
    """Replace the whole column by keyed pseudonyms if any value is a name or an e-mail
    address (the same HMAC as pupils' identities); returns the rows with a name."""
    is_name = c.map_unique(txt[t], lambda v: _is_name(str(v))).astype(bool)
    named = [int(i) for i in txt[t].index[is_name.to_numpy()]]
    if not named:
        return 0
    try:
        k = get_key(key)
    except MissingKeyError:
        listed = ", ".join(str(x) for x in named[:10])
        more = f" … och {len(named) - 10} rader till" if len(named) > 10 else ""
        raise MissingKeyError(
            f"Kolumnen {column} innehåller namn eller e-postadresser ({len(named)} "
            f"{'rad' if len(named) == 1 else 'rader'}: rad {listed}{more}); de ersätts med pseudonymer när filen läses, och det kräver en "
            "hemlig nyckel", file=p, row=named[0], column=column,
            hint=f"Sätt miljövariabeln {KEY_ENV} (i terminalen: export {KEY_ENV}='en lång "
                 "hemlig fras') och kör kommandot igen; använd samma nyckel varje gång så att "
                 "samma person får samma pseudonym, och förvara den åtskild från data") from None
    txt[t] = c.map_unique(txt[t], lambda v: pseudonymise([v], key=k)[0]).astype(object)
    return len(named)


def _categorical(desc: pd.DataFrame, cat_long: pd.DataFrame | None, inst: Instrument,
                 unanswered: set[str], p: Path) -> pd.DataFrame:
    """The answers to the protocol's categorical items, one row per form and item
    (``cat_long``: the descriptive columns, ``item_id``, the cell ``_cell`` and its column
    ``_col``); ``category`` is the protocol's code (None: unanswered)."""
    if cat_long is None or not len(cat_long):
        return desc.iloc[:0].assign(item_id=pd.Series(dtype=object),
                                    category=pd.Series(dtype=object))
    lookups: dict[str, dict[str, str]] = {}
    for item in inst.categorical_items:
        lk = {c.norm(code): code for code in item.categories}
        lk.update({c.norm(lab): code for code, lab in item.categories.items()})
        lookups[item.id] = lk

    def one(key: str) -> tuple[str | None, bool]:
        iid, v = key.split("\x1f", 1)
        s = c.norm(v)
        if s in unanswered:
            return None, True
        code = lookups[iid].get(s)
        return code, code is not None

    cells = c.map_unique(cat_long["_cell"], c.cell_text).astype(str)
    got = c.map_unique(cat_long["item_id"].astype(str) + "\x1f" + cells, one)
    ok = np.array([g[1] for g in got], dtype=bool)
    if not ok.all():
        sub = cat_long[~ok]
        item = inst.categorical_item(str(sub["item_id"].iloc[0]))
        raise c.rows_error(
            ValueFormatError, "Svaret på ett kategoriskt påstående går inte att läsa", file=p,
            column=str(sub["_col"].iloc[0]),
            bad=[(i, f"{v} (kolumn {col}, påstående {iid})") for i, v, col, iid in
                 zip(sub.index, sub["_cell"], sub["_col"], sub["item_id"], strict=True)],
            hint="Förväntat en av kategorierna " + ", ".join(
                f"{k} ({v})" for k, v in item.categories.items()) + " eller en tom cell; om "
                "markeringen betyder obesvarat, lägg till den under unanswered: i protokollet")
    return cat_long.assign(category=[g[0] for g in got]).drop(columns=["_cell", "_col"])


def _finish_categories(df: pd.DataFrame, p: Path, inst: Instrument) -> pd.DataFrame:
    df = df.copy()
    df["school_year"] = c.map_unique(df["date"], schema.school_year_of).astype(str)
    df["term"] = c.map_unique(df["date"], schema.term_of).astype(str)
    df["instrument_id"] = inst.id
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    rank = {iid: k for k, iid in enumerate(inst.categorical_ids)}
    df = df.assign(_line=df.index, _rank=df["item_id"].map(rank))
    df = df.sort_values(["_line", "_rank"], kind="stable")
    order = ["observation_id", "school_id", "teacher_id", "observer_id", "observer_role",
             "observation_type", "date", "school_year", "term", "subject", "grade_level",
             "instrument_id", "item_id", "category"]
    df = df[order]
    df.index.name = "rad"
    df.attrs = {"source": p.name}
    out = schema.validate("observation_categories", df)
    out.index.name = "rad"
    out.attrs = {"source": p.name, "table": "observation_categories",
                 "instrument_id": inst.id}
    return out


def summarise_categories(categories: pd.DataFrame, instrument: Instrument | str | Path | None
                         = None, by: Sequence[str] = ()) -> pd.DataFrame:
    """How the categorical items were answered: per item (and ``by``, e.g.
    ``("school_year",)``) and category, the count and the share of the answered.

    Returns
    -------
    DataFrame: ``by`` columns, ``item_id``, ``text``, ``dimension``, ``category``,
    ``label``, ``n``, ``share`` (of the answered, 0–1), ``n_answered``,
    ``n_unanswered``, ``n_obs`` (lessons), ``n_teachers``, ``suppressed``. Every
    category of the protocol has a row (n 0 where none was given).

    Notes
    -----
    Privacy: when ``by`` includes ``school_id`` (or anything finer than the
    municipality), a group with fewer than :data:`~undervisning_analys.privacy.MIN_OBS`
    lessons or :data:`~undervisning_analys.privacy.MIN_TEACHERS` teachers has ``n``
    and ``share`` NaN and ``suppressed`` True. Unanswered items (null ``category``)
    are counted in ``n_unanswered`` and are not in the shares.
    """
    from ..privacy import MIN_OBS, MIN_TEACHERS

    inst = load_instrument(instrument if instrument is not None else (
        categories.attrs.get("instrument_id") if len(categories) else None))
    by = list(by)
    cols = by + ["item_id", "text", "dimension", "category", "label", "n", "share",
                 "n_answered", "n_unanswered", "n_obs", "n_teachers", "suppressed"]
    if not len(categories) or not inst.categorical_items:
        return pd.DataFrame(columns=cols)
    rows = []
    groups = categories.groupby(by, sort=True, observed=True) if by else [((), categories)]
    for g, sub in groups:
        g = g if isinstance(g, tuple) else (g,)
        n_obs = sub["observation_id"].nunique()
        n_teachers = sub["teacher_id"].nunique()
        hide = bool(by) and (n_obs < MIN_OBS or n_teachers < MIN_TEACHERS)
        for item in inst.categorical_items:
            answers = sub.loc[sub["item_id"] == item.id, "category"]
            counts = answers.value_counts()
            answered = int(answers.notna().sum())
            for code, label in item.categories.items():
                n = int(counts.get(code, 0))
                rows.append({**dict(zip(by, g, strict=True)), "item_id": item.id,
                             "text": item.text, "dimension": item.dimension, "category": code,
                             "label": label, "n": np.nan if hide else n,
                             "share": np.nan if hide or not answered else n / answered,
                             "n_answered": answered, "n_unanswered": int(answers.isna().sum()),
                             "n_obs": n_obs, "n_teachers": n_teachers, "suppressed": hide})
    return pd.DataFrame(rows, columns=cols)


class ObservationExport(NamedTuple):
    """An observation export read whole: the scored items and the categorical answers."""

    observations: pd.DataFrame
    categories: pd.DataFrame


Columns = Mapping[str, str | None] | ColumnSpec | str | Path | None


@c.guarded("observationsexport")
def read_observation_export(path: str | Path,
                            instrument: Instrument | str | Path | None = None, *,
                            columns: Columns = None,
                            schools: pd.DataFrame | Iterable[str] | None = None,
                            duplicates: str | None = None,
                            key: str | bytes | None = None) -> ObservationExport:
    """Read an observation export: the rated items (``observations``) and the answers to
    the protocol's categorical items (``observation_categories``).

    Same parameters as :func:`read_observations`. ``categories`` is empty when the
    protocol has no categorical items; it carries no provenance of its own (the
    observations' provenance counts its answers in ``notes``).
    """
    obs, prov, cats = _load(path, instrument, columns=columns, schools=schools,
                            duplicates=duplicates, key=key)
    return ObservationExport(c.publish((obs, prov)), cats)


@c.guarded("observationsexport")
def read_observations(path: str | Path, instrument: Instrument | str | Path | None = None, *,
                      columns: Columns = None,
                      schools: pd.DataFrame | Iterable[str] | None = None,
                      duplicates: str | None = None,
                      key: str | bytes | None = None) -> pd.DataFrame:
    """Read an observation form export (CSV or XLSX, wide or long) into ``observations``.

    Parameters
    ----------
    path : the export.
    instrument : the protocol the forms were filled in on (an Instrument, a
        built-in id, a YAML path; default the package's default protocol).
    columns : what the export's columns mean: a column file's path
        (``kolumner.yaml``, see :func:`load_column_spec`), a :class:`ColumnSpec`,
        or a mapping of extra column names -> canonical name or item id (None:
        ignore), added to :data:`COLUMNS`.
    schools : the schools table (or school codes); codes not in it are refused.
    duplicates : corrected forms: ``"refuse"`` or ``"last"`` (default: the column
        file's ``dubbletter:``, else ``"refuse"``).
    key : the pseudonymisation key for teacher and observer names (default
        ``$UA_PSEUDONYM_KEY``); needed only when the export holds names.

    Returns
    -------
    One row per rated item score; index = the form's line (Excel row) number
    (``rad``, repeated for the items of one form); ``attrs``: ``source``,
    ``table``, ``instrument_id``, ``provenance``. The answers to categorical
    items are read by :func:`read_observation_export`.

    Notes
    -----
    Missing data: unanswered items are kept with score NaN and counted in
    provenance (the scoring's half rule decides later). Every other missing
    or malformed value is refused with its rows; see the module docstring.
    """
    obs, prov, _cats = _load(path, instrument, columns=columns, schools=schools,
                             duplicates=duplicates, key=key)
    return c.publish((obs, prov))
