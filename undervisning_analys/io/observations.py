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

Decisions
---------
* Column names are matched after folding (case, spaces, hyphens, å/ä/ö) through
  :data:`COLUMNS`; ``columns=`` adds names (``{"Besöksdatum": "date"}``) or
  ignores a column (``{"Kommentar": None}``). Form-tool metadata (timestamps,
  e-mail, respondent name) is ignored by default and never kept. Any other
  column is refused (FileFormatError) naming it, so that nothing is dropped
  silently.
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
* Privacy: teacher and observer codes that look like names (two or more
  capitalised words: ``Anna Andersson``, ``Berg, Karin``) or e-mail
  addresses are refused (the message lists rows, never the values), and a
  single teacher or observer code written as a personnummer (``800101-1234``)
  is refused (elsewhere a column is refused when most of its values are
  personnummer).
* A date after today is refused; so is an export with a header and no rows,
  a CSV row with fewer fields than the header (a truncated file) and a value
  in a column beyond the header (see ``_common``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from ..dataset import ProvenanceRecord
from ..errors import (
    DuplicateRowsError,
    FileFormatError,
    MissingColumnError,
    ScaleError,
    UnknownItemError,
    UnknownSchoolError,
    ValueFormatError,
)
from ..instruments import Instrument, load_instrument
from ..privacy import refuse_personnummer_columns
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
_NAME_RE = re.compile(r"^[A-ZÅÄÖÉÜ][a-zåäöéüæøß'\-]+(?:[ ,]+[A-ZÅÄÖÉÜ][a-zåäöéüæøß'\-]+)+$")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


def _refuse_names(values: pd.Series, p: Path, column: str) -> None:
    """Teacher and observer codes must be codes: refuse names and e-mail addresses.

    A name is two or more capitalised words (``Anna Andersson``, ``Berg,
    Karin``). The message lists the rows, never the values.
    """
    for what, pattern, fix in (
            ("e-postadresser", _EMAIL_RE, "e-postadressen"),
            ("namn", _NAME_RE, "namnet")):
        bad = [int(i) for i, v in values.items() if pattern.search(v)]
        if bad:
            listed = ", ".join(str(x) for x in bad[:10])
            more = f" … och {len(bad) - 10} rader till" if len(bad) > 10 else ""
            raise ValueFormatError(
                f"Kolumnen {column} ser ut att innehålla {what}, inte koder "
                f"({len(bad)} rader: rad {listed}{more})", file=p, row=bad[0], column=column,
                hint=f"Ersätt {fix} med en kod (t.ex. L017) innan filen läses in; ingen "
                     "lärare eller observatör får kunna identifieras i underlaget")


def _fold_text(s: str) -> str:
    return re.sub(r"[\s.:;,!?]+$", "", c.norm(s))


CANONICAL = frozenset(v for v in COLUMNS.values() if v is not None and not v.startswith("_"))
"""The canonical names a column can be mapped to (in ``kolumner.yaml`` or ``columns=``)."""


def load_column_map(path: str | Path) -> dict[str, str | None]:
    """Read a column mapping file (``kolumner.yaml``): export column -> canonical name.

    The file is YAML, a mapping of the export's column names to canonical names
    (:data:`CANONICAL`) or ``null`` (the column is left out), at the top level or
    under the key ``kolumner``::

        kolumner:
          Besöksdatum: date
          Vem observerade: observer_id
          Kommentar: null

    :func:`undervisning_analys.io.folder.load_folder` (and so ``validera`` and
    ``rapporter``) reads ``kolumner*.yaml`` in the folder and passes it to
    :func:`read_observations`; no Python is needed.
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
    if isinstance(doc, dict) and isinstance(doc.get("kolumner"), dict):
        doc = doc["kolumner"]
    elif isinstance(doc, dict) and "dubbletter" in doc:
        doc = {k: v for k, v in doc.items() if k != "dubbletter"}
        if not doc:
            return {}  # only the rule for corrected forms
    if not isinstance(doc, dict) or not doc:
        raise FileFormatError(
            "Kolumnfilen har ingen mappning av kolumner", file=p,
            hint="Skriv en rad per kolumn under kolumner:, t.ex. \"Besöksdatum\": date")
    out: dict[str, str | None] = {}
    for k, v in doc.items():
        target = None if v is None or c.norm(v) in ("", "null", "none", "hoppa över") \
            else str(v).strip()
        if target is not None and target not in CANONICAL:
            line = next((i for i, ln in enumerate(text.splitlines(), start=1)
                         if str(k) in ln), None)
            raise ValueFormatError(
                f"Kolumnfilen mappar `{k}` till {target!r}, som inte är ett känt namn",
                file=p, row=line, column=str(k),
                hint="Känt namn är något av: " + ", ".join(sorted(CANONICAL))
                     + " (eller null för att hoppa över kolumnen)")
        out[str(k)] = target
    return out


def duplicate_rule(path: str | Path) -> str:
    """The rule for corrected forms in a ``kolumner.yaml``: ``dubbletter: senaste`` ->
    ``"last"`` (the later submission wins); absent or ``dubbletter: avvisa`` ->
    ``"refuse"``."""
    import yaml

    p = c.check_file(path)
    try:
        doc = yaml.safe_load(c.read_text(p)[0])
    except yaml.YAMLError:
        return "refuse"
    rule = c.norm(doc.get("dubbletter")) if isinstance(doc, dict) else ""
    if rule in ("", "avvisa", "none"):
        return "refuse"
    if rule in ("senaste", "sista", "senaste gäller", "last"):
        return "last"
    raise ValueFormatError(f"dubbletter: {rule!r} är inte en känd regel", file=p,
                           column="dubbletter",
                           hint="Skriv dubbletter: senaste (det senast inskickade formuläret "
                                "gäller) eller dubbletter: avvisa")


def _mapping(extra: Mapping[str, str | None] | None) -> dict[str, str | None]:
    out = {c.fold(k): v for k, v in COLUMNS.items()}
    for k, v in (extra or {}).items():
        out[c.fold(k)] = v
    return out


def _score(v: Any, labels: dict[str, int]) -> tuple[float | None, str]:
    """(score, kind): kind 'ok', 'blank' or 'bad' (then score is None)."""
    s = c.cell_text(v)
    if c.norm(s) in UNANSWERED:
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


def _load(path: str | Path, instrument: Instrument | str | Path | None = None, *,
          columns: Mapping[str, str | None] | None = None,
          schools: pd.DataFrame | Iterable[str] | None = None,
          duplicates: str = "refuse") -> tuple[pd.DataFrame, ProvenanceRecord]:
    p = c.check_file(path)
    inst = load_instrument(instrument)
    sheets, info = c.read_rows(p, delimiters=(",", ";", "\t"))
    rows = next((r for r in sheets.values() if any(not x.is_blank() for x in r)), [])
    rows = [r for r in rows if not r.is_blank()]
    if not rows:
        raise FileFormatError("Filen är tom", file=p,
                              hint="Exportera svaren från formulärverktyget på nytt")
    header, data = rows[0], rows[1:]
    if not data:
        raise FileFormatError("Exporten har en rubrikrad men inga rader med svar", file=p,
                              row=header.line,
                              hint="Exportera svaren på nytt när formulären har fyllts i, "
                                   "eller ta bort filen ur mappen")
    names = [c.cell_text(x) for x in header.cells]
    mapping = _mapping(columns)
    by_id = {iid.lower(): iid for iid in inst.item_ids}
    by_text = {_fold_text(it.text): it.id for it in inst.items}
    canon: dict[int, str] = {}
    items: dict[int, str] = {}
    ignored: list[str] = []
    unknown_items: list[str] = []
    unknown_cols: list[str] = []
    text_differs: list[str] = []
    for j, name in enumerate(names):
        if name == "":
            if any(j < len(r.cells) and c.cell_text(r.cells[j]) for r in data):
                unknown_cols.append(f"kolumn {j + 1} (utan rubrik)")
            continue
        key = c.fold(name)
        if key in mapping:
            target = mapping[key]
            if target is None:
                ignored.append(name)
            elif target in canon.values():
                raise FileFormatError(
                    f"Två kolumner betyder samma sak ({target}): `{name}` och en tidigare",
                    file=p, row=header.line, column=name,
                    hint="Ta bort den ena kolumnen, eller skriv raden \"" + name + "\": null "
                         "i kolumner.yaml i mappen så att den hoppas över")
            else:
                canon[j] = target
            continue
        m = _ITEM_HEAD_RE.match(name) or _ITEM_ID_RE.match(name)
        if m:
            iid = by_id.get(m.group(1).lower())
            if iid is None:
                unknown_items.append(name)
                continue
            text = m.group(2) if m.re is _ITEM_HEAD_RE else ""
            if text and _fold_text(text) != _fold_text(inst.item(iid).text):
                text_differs.append(iid)
            items[j] = iid
            continue
        iid = by_text.get(_fold_text(name))
        if iid is not None:
            items[j] = iid
            continue
        unknown_cols.append(name)
    if unknown_items:
        raise UnknownItemError(
            f"Exporten har påståenden som protokollet `{inst.id}` inte känner: "
            + ", ".join(f"`{x}`" for x in unknown_items[:10]), file=p, row=header.line,
            column=unknown_items[0],
            hint="Lägg rätt protokoll (protokoll.yaml) i mappen eller rätta kolumnrubrikerna; "
                 "kända påståenden: " + ", ".join(inst.item_ids))
    if unknown_cols:
        raise FileFormatError(
            "Exporten har kolumner som inte känns igen: "
            + ", ".join(f"`{x}`" for x in unknown_cols[:10]), file=p, row=header.line,
            column=unknown_cols[0],
            hint="Byt namn på kolumnen, eller skriv i kolumner.yaml i mappen vad den "
                 "betyder (en rad som \"" + unknown_cols[0] + "\": date) eller \""
                 + unknown_cols[0] + "\": null för att hoppa över den; kända namn: "
                 + ", ".join(sorted(CANONICAL)))
    long_format = "item_id" in canon.values() or "score" in canon.values()
    if long_format and items:
        raise FileFormatError(
            "Exporten har både kolumnen Påstående/Poäng och en kolumn per påstående",
            file=p, row=header.line, hint="Använd antingen brett eller långt format")
    required = list(REQUIRED) + (["item_id", "score"] if long_format else [])
    missing = [t for t in required if t not in canon.values()]
    sv_names = {"observation_id": "Lektions-ID", "date": "Datum", "school_id": "Skolenhetskod",
                "teacher_id": "Lärarkod", "observer_id": "Observatörskod",
                "observer_role": "Observatörens roll", "observation_type": "Typ av besök",
                "item_id": "Påstående", "score": "Poäng"}
    if missing:
        raise MissingColumnError(
            f"Exporten saknar kolumnen {sv_names[missing[0]]}", file=p, row=header.line,
            column=sv_names[missing[0]],
            hint="Lägg till kolumnen, eller skriv i kolumner.yaml i mappen vad den heter i "
                 "er export (en rad som \"ert namn\": " + missing[0] + ")")
    if not long_format and not items:
        raise MissingColumnError(
            "Exporten har inga kolumner för protokollets påståenden", file=p, row=header.line,
            hint="Rubrikerna ska vara påståendets id (KL1), id och text (KL1. text) eller "
                 "texten; kända påståenden: " + ", ".join(inst.item_ids))
    c.check_widths(header, data, p, short_rows=info.get("format") == "csv")
    raw = c.frame_of_rows(data, [n or f"kolumn {j + 1}" for j, n in enumerate(names)])
    raw.columns = [f"{n} ({j + 1})" if list(raw.columns).count(n) > 1 else n
                   for j, n in enumerate(raw.columns)]
    refuse_personnummer_columns(raw, p)
    col_of = {t: raw.columns[j] for j, t in canon.items()}  # canonical -> raw column label
    dropped: dict[str, int] = {}
    # the same form twice: identical copies are dropped and counted; corrected copies are
    # refused below with both rows, or the last one kept (duplicates="last")
    sig_cols = [col for t, col in col_of.items() if t != "_response_id"] + \
        [raw.columns[j] for j in items]
    same = raw[sig_cols].astype(str).duplicated(keep="first").to_numpy()
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
    for t in ("teacher_id", "observer_id"):
        _refuse_names(txt[t], p, col_of[t])
    notes = list(info.get("notes", []))
    if info.get("format") == "csv":
        notes.append(f"teckenkodning {info['encoding']}, avgränsare {info['delimiter']!r}")
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
    lo, hi = inst.scale
    if long_format:
        item_txt = txt["item_id"]

        def item_of(v: str) -> str | None:
            m = _ITEM_HEAD_RE.match(v) or _ITEM_ID_RE.match(v)
            if m and m.group(1).lower() in by_id:
                return by_id[m.group(1).lower()]
            return by_text.get(_fold_text(v))

        item_ids = c.map_unique(item_txt, item_of)
        bad = [(i, item_txt[i]) for i in item_ids.index[item_ids.isna()]]
        if bad:
            raise c.rows_error(UnknownItemError, f"Påståenden som protokollet `{inst.id}` "
                               "inte känner", file=p, column=col_of["item_id"], bad=bad,
                               hint="Ange rätt protokoll eller rätta påståendenas id; kända: "
                                    + ", ".join(inst.item_ids))
        long = desc.assign(item_id=item_ids, _cell=raw[col_of["score"]],
                           _col=col_of["score"])
    else:
        parts = []
        for j, iid in items.items():
            col = raw.columns[j]
            parts.append(desc.assign(item_id=iid, _cell=raw[col], _col=col))
        long = pd.concat(parts)
    scored = c.map_unique(long["_cell"], lambda v: _score(v, labels))
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
    return c.finish(long, table="observations", path=p, loader="read_observations",
                    rows_read=len(data), dropped=dropped, notes=notes, scale=(lo, hi),
                    attrs={"instrument_id": inst.id})


@c.guarded("observationsexport")
def read_observations(path: str | Path, instrument: Instrument | str | Path | None = None, *,
                      columns: Mapping[str, str | None] | None = None,
                      schools: pd.DataFrame | Iterable[str] | None = None,
                      duplicates: str = "refuse") -> pd.DataFrame:
    """Read an observation form export (CSV or XLSX, wide or long) into ``observations``.

    Parameters
    ----------
    path : the export.
    instrument : the protocol the forms were filled in on (an Instrument, a
        built-in id, a YAML path; default the package's default protocol).
    columns : extra column names -> canonical name (or None to ignore),
        added to :data:`COLUMNS`.
    schools : the schools table (or school codes); codes not in it are refused.

    Returns
    -------
    One row per item score; index = the form's line (Excel row) number
    (``rad``, repeated for the items of one form); ``attrs``: ``source``,
    ``table``, ``instrument_id``, ``provenance``.

    Notes
    -----
    Missing data: unanswered items are kept with score NaN and counted in
    provenance (the scoring's half rule decides later). Every other missing
    or malformed value is refused with its rows; see the module docstring.
    """
    return c.publish(_load(path, instrument, columns=columns, schools=schools,
                           duplicates=duplicates))
