"""Plans and dialogue notes: filled-in workbooks (or YAML) -> ``plans`` / ``dialogue_notes``.

The workbooks are the ones ``undervisning-analys mall`` writes
(:mod:`undervisning_analys.plans.mall`; layout in
:mod:`undervisning_analys.plans.layout`): a school's or the organiser's plan
(``plan*.xlsx``) and the notes of a quality dialogue (``dialog*.xlsx``, written
beside each school report). The same content can be written as YAML
(``plan*.yaml``, ``dialog*.yaml``; see :func:`read_plans`).

Decisions
---------
* Every refusal is a :class:`~undervisning_analys.errors.PlanError` that names
  the file, the sheet, the Excel row and the column (YAML: the key path),
  what was expected, what was found and what to do.
* A target row without a target value is not a target (the template
  pre-fills one row per dimension with its baseline); such rows are counted in
  provenance, never silently dropped. A row with a target value must have a
  type, what it concerns (``Avser``) and a target term.
* A target is refused when it names a dimension, item or measure the
  protocol (or the results vocabulary) does not know; when its term is not a
  term (``HT2024``/``VT2025``), lies before the data or more than
  :data:`~undervisning_analys.plans.layout.TERMS_AHEAD` terms after it; when a
  teaching-quality target or baseline lies outside the protocol's scale, or a
  planned number of lessons is not a whole number 0–500.
* The plan's period must be in order; ``serves`` may name any organiser
  target (checked against the organiser's plan when one is read, by
  :func:`check_serves`).
* Privacy: every free-text cell (comments, own actions, agreements, notes) is
  scanned for personnummer with :func:`undervisning_analys.privacy.is_personnummer`;
  one found is refused (the message names the cell, never the number). Whole
  columns are checked with the package's guard as everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from .._format import number
from ..errors import PersonalNumberFound, PlanError
from ..instruments import Instrument, load_instrument
from ..plans import catalogue
from ..plans import layout as L
from ..privacy import is_personnummer, refuse_personnummer_columns
from . import _common as c

_PNR_IN_TEXT = re.compile(r"(?<!\d)(?:\d{6}|\d{8})[-+]?\d{4}(?!\d)")


@dataclass(frozen=True)
class Cell:
    """A value and where it stands (sheet, Excel row, column heading or YAML key path)."""

    value: Any
    sheet: str | None
    row: int | None
    column: str

    @property
    def text(self) -> str:
        return c.cell_text(self.value)


class _Ctx:
    def __init__(self, path: Path, inst: Instrument, schools: set[str] | None,
                 terms: Sequence[str] | None, measures: set[str] | None) -> None:
        self.path = path
        self.inst = inst
        self.schools = schools
        self.terms = sorted(set(terms or []), key=schema.term_index)
        self.measures = measures

    def fail(self, cell: Cell | None, message: str, hint: str) -> PlanError:
        if cell is None:
            return PlanError(message, file=self.path, hint=hint)
        return PlanError(message, sheet=cell.sheet, file=self.path, row=cell.row,
                         column=cell.column, hint=hint)


def scan_free_text(cell: Cell, ctx: _Ctx) -> str:
    """The cell's text, refused when it holds a personnummer (the number is never shown)."""
    text = cell.text
    for m in _PNR_IN_TEXT.finditer(text):
        if is_personnummer(m.group(0)):
            on = f" på bladet `{cell.sheet}`" if cell.sheet else ""
            raise PersonalNumberFound(
                f"Texten{on} innehåller ett personnummer, och sådana får inte läsas in",
                file=ctx.path, row=cell.row, column=cell.column,
                hint="Ta bort personnumret (skriv till exempel ”en elev i åk 8”) och spara "
                     "filen igen")
    return text


# --------------------------------------------------------------------------
# Reading the two formats into cells
# --------------------------------------------------------------------------
def _sheet_rows(sheets: dict[str, list[c.Row]], name: str, ctx: _Ctx,
                required: bool = True) -> list[c.Row]:
    for title, rows in sheets.items():
        if c.norm(title) == c.norm(name):
            return rows
    if required:
        raise ctx.fail(None, f"Arbetsboken saknar bladet `{name}`",
                       "Använd arbetsboken som `undervisning-analys mall MAPP` skriver, utan att "
                       "byta namn på bladen")
    return []


def _fields(rows: list[c.Row], labels: dict[str, str], sheet: str) -> dict[str, Cell]:
    """Key/value sheet (label in column A, value in B) -> key -> Cell."""
    out: dict[str, Cell] = {}
    by_label = {c.fold(k): v for k, v in labels.items()}
    for r in rows:
        key = by_label.get(c.fold(r.text(0)))
        if key is not None:
            out[key] = Cell(r.cells[1] if len(r.cells) > 1 else "", sheet, r.line,
                            f"B ({r.text(0)})")
    return out


def _table(rows: list[c.Row], columns: list[str], keys: list[str], sheet: str, ctx: _Ctx
           ) -> list[dict[str, Cell]]:
    """A sheet with a header row -> one dict of Cells per non-blank row."""
    nonblank = [r for r in rows if not r.is_blank()]
    if not nonblank:
        raise ctx.fail(Cell("", sheet, 1, columns[0]), f"Bladet `{sheet}` är tomt",
                       "Använd arbetsboken som `undervisning-analys mall MAPP` skriver")
    header = nonblank[0]
    pos: dict[str, int] = {}
    names = [c.fold(x) for x in header.cells]
    for col, key in zip(columns, keys, strict=True):
        f = c.fold(col)
        if f in names:
            pos[key] = names.index(f)
    missing = [col for col, key in zip(columns, keys, strict=True) if key not in pos]
    if missing:
        raise ctx.fail(Cell("", sheet, header.line, missing[0]),
                       f"Bladet `{sheet}` saknar kolumnen `{missing[0]}`",
                       "Lägg tillbaka kolumnen med samma rubrik som i mallen")
    out = []
    for r in nonblank[1:]:
        out.append({key: Cell(r.cells[j] if j < len(r.cells) else "", sheet, r.line, col)
                    for col, key in zip(columns, keys, strict=True) for j in [pos[key]]})
    return out


def _yaml(path: Path, ctx: _Ctx) -> Any:
    import yaml

    text, _enc, _notes = c.read_text(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PlanError(f"YAML-filen går inte att läsa ({getattr(exc, 'problem', exc)})",
                        file=path, row=(mark.line + 1) if mark is not None else None,
                        hint="Rätta indraget eller tecknet på raden") from None
    if not isinstance(doc, dict):
        raise PlanError("YAML-filen ska vara en uppsättning nycklar (skolenhetskod, mal, …)",
                        file=path, hint="Se exemplet i dokumentationen till read_plans")
    return doc


def _ycell(value: Any, key: str) -> Cell:
    return Cell("" if value is None else value, None, None, key)


# --------------------------------------------------------------------------
# Checks of single cells
# --------------------------------------------------------------------------
def _term(cell: Cell, ctx: _Ctx, what: str, *, allow_blank: bool = False,
          ahead: bool = True) -> str | None:
    t = cell.text.upper().replace(" ", "")
    if t == "" and allow_blank:
        return None
    if not re.match(schema.TERM_RE, t):
        raise ctx.fail(cell, f"{what} ska vara en termin som HT2024 eller VT2025, men cellen har "
                             f"{c.show(cell.value)!s}", "Välj terminen i listan i cellen")
    if ctx.terms:
        first, last = ctx.terms[0], ctx.terms[-1]
        lo = schema.term_index(first)
        hi = schema.term_index(last) + (L.TERMS_AHEAD / 2 if ahead else 0)
        if not lo <= schema.term_index(t) <= hi:
            span = f"{first}–{last}"
            limit = f"högst {L.TERMS_AHEAD // 2} läsår efter {last}" if ahead else f"senast {last}"
            raise ctx.fail(cell, f"{what} {t} ligger utanför underlaget: observationerna finns "
                                 f"för {span}",
                           f"Välj en termin från {first} och {limit}")
    return t


def _number(cell: Cell, ctx: _Ctx, what: str, *, blank_ok: bool = True) -> float | None:
    if cell.text == "":
        if blank_ok:
            return None
        raise ctx.fail(cell, f"{what} saknas", f"Fyll i {what.lower()}")
    parsed = c.parse_number(cell.value)
    if parsed is None or parsed[1] != "ok":
        raise ctx.fail(cell, f"{what} ska vara ett tal, men cellen har {c.show(cell.value)}",
                       "Skriv ett tal med decimalkomma, till exempel 2,8")
    return float(parsed[0])


def _sv(x: float) -> str:
    """A number as Swedish text: decimal comma, − for minus, no trailing zeros."""
    return number(x, None)


def _in_scale(value: float, cell: Cell, ctx: _Ctx, what: str) -> None:
    lo, hi = ctx.inst.scale
    if not lo <= value <= hi:
        raise ctx.fail(cell, f"{what} {_sv(value)} ligger utanför protokollets skala "
                             f"{lo}–{hi}", f"Ange ett värde mellan {lo} och {hi}")


# --------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------
def _plan_rows(meta: dict[str, Cell], targets: list[dict[str, Cell]],
               lessons: list[tuple[Cell, Cell]], actions: list[str], ctx: _Ctx,
               is_organiser: bool) -> tuple[list[dict[str, Any]], dict[str, int]]:
    dropped = {"målrader utan målvärde": 0}
    school_id = None
    if not is_organiser:
        cell = meta.get("school_id")
        code = c.pad_code(cell.value, 8) if cell is not None else ""
        if cell is None or not re.match(schema.SCHOOL_ID_RE, code):
            raise ctx.fail(cell, "Skolenhetskoden ska vara 8 siffror"
                           + (f", men cellen har {c.show(cell.value)}" if cell else " och saknas"),
                           "Skriv skolenhetskoden (8 siffror) eller skriv ut mallen på nytt")
        if ctx.schools is not None and code not in ctx.schools:
            raise ctx.fail(cell, f"Skolenhetskoden {code} finns inte i skolregistret",
                           "Rätta koden eller lägg till skolan i skolregistret")
        school_id = code
    plan_cell = meta.get("plan_id")
    plan_id = plan_cell.text if plan_cell is not None and plan_cell.text else (
        "P-huvudman" if is_organiser else f"P-{school_id}")
    start_cell, end_cell = meta.get("period_start"), meta.get("period_end")
    if start_cell is None or end_cell is None:
        raise ctx.fail(None, "Planens period (första och sista termin) saknas",
                       "Fyll i Första termin och Sista termin på bladet Plan")
    start = _term(start_cell, ctx, "Första termin", ahead=True)
    end = _term(end_cell, ctx, "Sista termin", ahead=True)
    assert start is not None and end is not None
    if schema.term_index(end) < schema.term_index(start):
        raise ctx.fail(end_cell, f"Planens sista termin {end} ligger före den första {start}",
                       "Rätta perioden")
    dims = {d.id for d in ctx.inst.dimensions} | {"overall"}
    items = set(ctx.inst.item_ids)
    action_text = "; ".join(actions) if actions else None
    rows: list[dict[str, Any]] = []
    seen: dict[str, Cell] = {}
    base = {"plan_id": plan_id, "level": "organiser" if is_organiser else "school",
            "school_id": school_id, "period_start": start, "period_end": end}
    for k, t in enumerate(targets):
        if t["comment"].text:
            scan_free_text(t["comment"], ctx)
        if t["target"].text == "":
            if any(t[key].text for key in ("target_of", "target_term")) or t["kind"].text:
                dropped["målrader utan målvärde"] += 1
            continue
        target = _number(t["target"], ctx, "Målvärdet")
        tid = t["target_id"].text or f"M{k + 1}"
        if tid in seen:
            raise ctx.fail(t["target_id"], f"Mål-id {tid} finns på två rader",
                           "Ge varje mål ett eget id (M1, M2, …)")
        seen[tid] = t["target_id"]
        kind = L.KIND_SV.get(c.norm(t["kind"].text)) or (
            c.norm(t["kind"].text) if c.norm(t["kind"].text) in L.KIND_LABEL else None)
        if kind is None:
            raise ctx.fail(t["kind"], f"Okänd typ av mål: {c.show(t['kind'].value)}",
                           "Välj dimension, påstående eller resultat i listan")
        of = t["target_of"].text
        if kind == "dimension" and of not in dims:
            raise ctx.fail(t["target_of"], f"Dimensionen `{of}` finns inte i protokollet "
                                           f"`{ctx.inst.id}`",
                           "Välj en av " + ", ".join(sorted(dims)))
        if kind == "item":
            m = re.match(r"^\s*([A-Za-zÅÄÖåäö]{1,6}\d{1,3}[a-z]?)", of)
            of = m.group(1).upper() if m else of
            if of not in items:
                raise ctx.fail(t["target_of"], f"Påståendet `{t['target_of'].text}` finns inte i "
                                               f"protokollet `{ctx.inst.id}`",
                               "Välj ett av " + ", ".join(ctx.inst.item_ids))
        if kind == "result":
            known = schema.is_known_measure(of) and (ctx.measures is None or of in ctx.measures)
            if not known:
                have = ", ".join(sorted(ctx.measures)[:8]) if ctx.measures else \
                    "merit_17, pass_all_subjects_pct"
                raise ctx.fail(t["target_of"], f"Måttet `{of}` finns inte i underlaget",
                               f"Välj ett mått som finns i resultaten, till exempel {have}")
            if schema.measure_info(of).direction == "neutral":
                raise ctx.fail(t["target_of"], f"Måttet `{of}` har ingen riktning (varken högre "
                                               "eller lägre är bättre) och kan inte vara ett mål",
                               "Välj ett resultatmått där högre eller lägre är bättre, till "
                               "exempel merit_17")
        baseline = _number(t["baseline"], ctx, "Utgångsläget")
        if kind in ("dimension", "item") and target is not None:
            _in_scale(target, t["target"], ctx, "Målvärdet")
            if baseline is not None:
                _in_scale(baseline, t["baseline"], ctx, "Utgångsläget")
        b_term = _term(t["baseline_term"], ctx, "Utgångsterminen", allow_blank=True,
                       ahead=False)
        if not t["target_term"].text:
            raise ctx.fail(t["target_term"], "Målterminen saknas",
                           "Välj den termin målet ska vara nått")
        t_term = _term(t["target_term"], ctx, "Målterminen")
        serves = t["serves"].text or None
        rows.append({**base, "target_id": tid, "kind": kind, "target_of": of,
                     "baseline": baseline, "baseline_term": b_term, "target": target,
                     "target_term": t_term, "actions": action_text, "serves": serves,
                     "_line": t["target"].row or k + 1})
    for vt_cell, n_cell in lessons:
        vt = L.VISIT_SV.get(vt_cell.text) or (vt_cell.text if vt_cell.text in L.VISIT_LABEL
                                              else None)
        if vt is None:
            raise ctx.fail(vt_cell, f"Okänd besökstyp: {c.show(vt_cell.value)}",
                           "Använd " + ", ".join(L.VISIT_SV))
        n = _number(n_cell, ctx, "Antalet planerade lektioner")
        if n is None:
            continue
        if n != round(n) or not 0 <= n <= L.MAX_LESSONS:
            raise ctx.fail(n_cell, f"Antalet planerade lektioner ska vara ett heltal 0–"
                                   f"{L.MAX_LESSONS}, men cellen har {_sv(n)}",
                           "Skriv ett heltal")
        rows.append({**base, "target_id": f"B-{vt}", "kind": "observations", "target_of": vt,
                     "baseline": None, "baseline_term": None, "target": float(n),
                     "target_term": end, "actions": None, "serves": None,
                     "_line": n_cell.row or 0})
    return rows, dropped


def _actions_from_sheet(rows: list[c.Row], ctx: _Ctx) -> list[str]:
    table = _table(rows, L.ACTION_COLUMNS, ["id", "name", "text", "source", "chosen"],
                   L.SHEET_ACTIONS, ctx)
    known = set(catalogue()["action_id"])
    out = []
    for r in table:
        chosen = c.norm(r["chosen"].text)
        if chosen not in ("", "ja", "nej"):
            raise ctx.fail(r["chosen"], f"Väljs ska vara ja eller nej, men cellen har "
                                        f"{c.show(r['chosen'].value)}", "Välj ja eller nej")
        if chosen != "ja":
            continue
        aid = r["id"].text
        if aid in known:
            out.append(aid)
        else:
            text = scan_free_text(r["name"], ctx).strip()
            if not text:
                raise ctx.fail(r["name"], "En egen åtgärd är vald men har ingen text",
                               "Skriv åtgärden i kolumnen Åtgärd eller välj nej")
            out.append(text.replace(";", ","))
    return out


def _yaml_plan(doc: dict, ctx: _Ctx, pre: str
               ) -> tuple[dict[str, Cell], list[dict[str, Cell]], list[tuple[Cell, Cell]],
                          list[str], bool]:
    """One plan of a YAML file (``pre``: the key path prefix, e.g. ``planer[2].``)."""
    is_org = bool(doc.get("huvudman")) and not doc.get("skolenhetskod")
    period = doc.get("period") or {}
    if not isinstance(period, dict):
        raise ctx.fail(_ycell(period, f"{pre}period"), "period ska ha forsta_termin och "
                                                       "sista_termin", "Se exemplet")
    meta = {"school_id": _ycell(doc.get("skolenhetskod"), f"{pre}skolenhetskod"),
            "plan_id": _ycell(doc.get("plan_id"), f"{pre}plan_id"),
            "period_start": _ycell(period.get("forsta_termin"), f"{pre}period.forsta_termin"),
            "period_end": _ycell(period.get("sista_termin"), f"{pre}period.sista_termin")}
    yaml_keys = {"target_id": "id", "kind": "typ", "target_of": "avser",
                 "baseline": "utgangslage", "baseline_term": "utgangstermin",
                 "target": "malvarde", "target_term": "malterm", "serves": "tjanar",
                 "comment": "kommentar"}
    targets = []
    for i, t in enumerate(doc.get("mal") or []):
        if not isinstance(t, dict):
            raise ctx.fail(_ycell(t, f"{pre}mal[{i + 1}]"), "Varje mål ska ha nycklar (id, typ, "
                                                            "avser, malvarde, malterm)",
                           "Se exemplet")
        targets.append({k: _ycell(t.get(y), f"{pre}mal[{i + 1}].{y}")
                        for k, y in yaml_keys.items()})
    lessons = [(_ycell(L.VISIT_LABEL.get(str(k), str(k)), f"{pre}lektionsbesok.{k}"),
                _ycell(v, f"{pre}lektionsbesok.{k}"))
               for k, v in (doc.get("lektionsbesok") or {}).items()]
    known = set(catalogue()["action_id"])
    actions = []
    for i, a in enumerate(doc.get("atgarder") or []):
        cell = _ycell(a, f"{pre}atgarder[{i + 1}]")
        actions.append(cell.text if cell.text in known
                       else scan_free_text(cell, ctx).replace(";", ","))
    return meta, targets, lessons, actions, is_org


def _load_plan(path: Path, ctx: _Ctx) -> tuple[pd.DataFrame, dict[str, int], int]:
    parts: list[tuple[dict[str, Cell], list[dict[str, Cell]], list[tuple[Cell, Cell]],
                      list[str], bool]] = []
    if path.suffix.lower() in (".yaml", ".yml"):
        doc = _yaml(path, ctx)
        if "planer" in doc:
            many = doc["planer"] or []
            for i, d in enumerate(many):
                if not isinstance(d, dict):
                    raise ctx.fail(_ycell(d, f"planer[{i + 1}]"), "Varje plan ska ha nycklar",
                                   "Se exemplet")
                parts.append(_yaml_plan(d, ctx, f"planer[{i + 1}]."))
        else:
            parts.append(_yaml_plan(doc, ctx, ""))
    else:
        sheets, _info = c.read_rows(path)
        meta_rows = _sheet_rows(sheets, L.SHEET_PLAN, ctx)
        meta = _fields(meta_rows, L.PLAN_FIELDS, L.SHEET_PLAN)
        is_org = "organiser" in meta and "school_id" not in meta
        targets = _table(_sheet_rows(sheets, L.SHEET_TARGETS, ctx), L.TARGET_COLUMNS,
                         L.TARGET_KEYS, L.SHEET_TARGETS, ctx)
        lrows = _sheet_rows(sheets, L.SHEET_LESSONS, ctx, required=not is_org)
        lessons = []
        if lrows:
            lt = _table(lrows, L.LESSON_COLUMNS[:2], ["type", "n"], L.SHEET_LESSONS, ctx)
            lessons = [(r["type"], r["n"]) for r in lt]
        arows = _sheet_rows(sheets, L.SHEET_ACTIONS, ctx, required=False)
        actions = _actions_from_sheet(arows, ctx) if arows else []
        parts.append((meta, targets, lessons, actions, is_org))
    rows: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    n_read = 0
    for meta, targets, lessons, actions, is_org in parts:
        r, d = _plan_rows(meta, targets, lessons, actions, ctx, is_org)
        rows += r
        for k, v in d.items():
            dropped[k] = dropped.get(k, 0) + v
        n_read += len(targets) + len(lessons)
    df = pd.DataFrame(rows)
    if df.empty:
        df = schema.empty("plans")
        df["_line"] = pd.Series([], dtype=int)
    df.index = df.pop("_line").astype(int).to_numpy()
    return df, dropped, n_read


def check_serves(frames: Sequence[pd.DataFrame]) -> None:
    """School targets that serve an organiser target must name one that exists.

    ``frames``: the plans read file by file (their ``attrs["source"]`` names
    the file). Checked only when an organiser's plan is among them.
    """
    org = [f for f in frames if (f["level"] == "organiser").any()]
    if not org:
        return
    known = set(pd.concat(org)["target_id"].astype(str))
    for f in frames:
        bad = f[(f["level"] == "school") & f["serves"].notna()
                & ~f["serves"].astype(str).isin(known)]
        if len(bad):
            r = bad.iloc[0]
            raise PlanError(f"Målet {r['target_id']} tjänar huvudmannens mål `{r['serves']}`, "
                            "som inte finns i huvudmannens plan", sheet=L.SHEET_TARGETS,
                            file=str(f.attrs.get("source", "")), row=int(bad.index[0]),
                            column="Tjänar huvudmannens mål",
                            hint="Välj ett av huvudmannens mål-id: " + ", ".join(sorted(known)))


def _context(path: str | Path, instrument: Instrument | str | Path | None,
             schools: pd.DataFrame | Iterable[str] | None, terms: Sequence[str] | None,
             measures: Iterable[str] | None) -> _Ctx:
    p = c.check_file(path)
    known = None
    if schools is not None:
        known = {str(x) for x in (schools["school_id"] if isinstance(schools, pd.DataFrame)
                                  else schools)}
    return _Ctx(p, load_instrument(instrument), known, terms,
                set(measures) if measures is not None else None)


@c.guarded("plan")
def read_plans(path: str | Path, instrument: Instrument | str | Path | None = None, *,
               schools: pd.DataFrame | Iterable[str] | None = None,
               terms: Sequence[str] | None = None,
               measures: Iterable[str] | None = None) -> pd.DataFrame:
    """Read a filled-in plan workbook (``plan*.xlsx``) or its YAML form into ``plans``.

    Parameters
    ----------
    path : the workbook written by ``undervisning-analys mall`` (filled in) or YAML.
    instrument : the observation protocol (dimensions, items, scale).
    schools : the schools table or codes; a plan for a school not in it is refused.
    terms : the terms of the observations; target terms before them or more than
        three school years after them are refused.
    measures : the results measures in the data; a results target on another is refused.

    Returns
    -------
    The ``plans`` table (index: the Excel row of the target; ``attrs``: source,
    table, provenance).

    Notes
    -----
    The YAML form::

        skolenhetskod: "99032687"          # or  huvudman: true  for the organiser
        plan_id: P-99032687
        period: {forsta_termin: HT2024, sista_termin: VT2026}
        mal:
          - {id: M1, typ: dimension, avser: kognitiv_aktivering, utgangslage: 2.6,
             utgangstermin: VT2024, malvarde: 2.9, malterm: VT2026, tjanar: H1}
          - {id: R1, typ: resultat, avser: merit_17, malvarde: 0, malterm: VT2026}
        lektionsbesok: {spontan: 6, planerad: 4, kollegial: 2, par: 2}
        atgarder: [U1, U2, "Egen åtgärd i fri text"]

    Missing data: rows without a target value are not targets and are counted
    in provenance; every other problem is refused (see the module docstring).
    """
    ctx = _context(path, instrument, schools, terms, measures)
    df, dropped, n_read = _load_plan(ctx.path, ctx)
    refuse_personnummer_columns(df.astype(object), ctx.path)
    notes = [f"{int((df['kind'] != 'observations').sum())} mål, "
             f"{int((df['kind'] == 'observations').sum())} besökstyper med planerad volym"]
    return c.publish(c.finish(df, table="plans", path=ctx.path, loader="read_plans",
                              rows_read=n_read, dropped=dropped, notes=notes))


# --------------------------------------------------------------------------
# Dialogue notes
# --------------------------------------------------------------------------
def _date(cell: Cell, ctx: _Ctx, what: str, blank_ok: bool) -> pd.Timestamp | None:
    if cell.text == "" and not isinstance(cell.value, (pd.Timestamp,)):
        if blank_ok:
            return None
        raise ctx.fail(cell, f"{what} saknas", "Skriv datumet som 2025-03-14")
    d = c.parse_date(cell.value)
    if d is None:
        raise ctx.fail(cell, f"{what} går inte att läsa: {c.show(cell.value)}",
                       "Skriv datumet som 2025-03-14")
    return d


@c.guarded("dialoganteckningar")
def read_dialogue_notes(path: str | Path, *,
                        schools: pd.DataFrame | Iterable[str] | None = None) -> pd.DataFrame:
    """Read a quality dialogue's notes workbook (``dialog*.xlsx``) or YAML into ``dialogue_notes``.

    The workbook is the one ``rapporter`` writes beside each school report:
    agreements (text, owner role, follow-up date, status, what it concerns)
    and the report's questions (marked as discussed, with a note).

    Notes
    -----
    The YAML form::

        skolenhetskod: "99032687"
        datum: 2025-03-14
        overenskommelser:
          - {text: "Planerade besök med för- och eftersamtal", ansvarig: rektor,
             uppfoljning: 2025-10-01, status: pågår, avser: M1}
        fragor:
          - {fraga: "Vad förklarar …?", diskuterades: ja, anteckning: "…"}

    Missing data: empty agreement rows and questions not marked as discussed
    are not kept (counted in provenance). Free text with a personnummer is
    refused.
    """
    ctx = _context(path, None, schools, None, None)
    p = ctx.path
    docs: list[tuple[dict[str, Cell], list[dict[str, Cell]], list[dict[str, Cell]]]] = []
    if p.suffix.lower() in (".yaml", ".yml"):
        doc = _yaml(p, ctx)
        many = doc.get("dialoger") if "dialoger" in doc else [doc]
        for n, d in enumerate(many or []):
            pre = f"dialoger[{n + 1}]." if "dialoger" in doc else ""
            d = d if isinstance(d, dict) else {}
            meta = {"school_id": _ycell(d.get("skolenhetskod"), f"{pre}skolenhetskod"),
                    "dialogue_date": _ycell(d.get("datum"), f"{pre}datum")}
            agreements = [{k: _ycell(a.get(y) if isinstance(a, dict) else None,
                                     f"{pre}overenskommelser[{i + 1}].{y}")
                           for k, y in (("text", "text"), ("owner", "ansvarig"),
                                        ("follow_up", "uppfoljning"), ("status", "status"),
                                        ("about", "avser"))}
                          for i, a in enumerate(d.get("overenskommelser") or [])]
            questions = [{k: _ycell(q.get(y) if isinstance(q, dict) else None,
                                    f"{pre}fragor[{i + 1}].{y}")
                          for k, y in (("q", "fraga"), ("basis", "underlag"),
                                       ("discussed", "diskuterades"), ("note", "anteckning"))}
                         for i, q in enumerate(d.get("fragor") or [])]
            docs.append((meta, agreements, questions))
    else:
        sheets, _info = c.read_rows(p)
        meta = _fields(_sheet_rows(sheets, L.SHEET_DIALOGUE, ctx), L.DIALOGUE_FIELDS,
                       L.SHEET_DIALOGUE)
        agreements = _table(_sheet_rows(sheets, L.SHEET_AGREEMENTS, ctx), L.AGREEMENT_COLUMNS,
                            ["text", "owner", "follow_up", "status", "about"],
                            L.SHEET_AGREEMENTS, ctx)
        questions = _table(_sheet_rows(sheets, L.SHEET_QUESTIONS, ctx), L.QUESTION_COLUMNS,
                           ["q", "basis", "discussed", "note"], L.SHEET_QUESTIONS, ctx)
        docs.append((meta, agreements, questions))
    rows: list[dict[str, Any]] = []
    dropped = {"tomma rader för överenskommelser": 0, "frågor som inte diskuterades": 0}
    n_read = 0
    for meta, agreements, questions in docs:
        rows += _notes_rows(meta, agreements, questions, ctx, dropped)
        n_read += len(agreements) + len(questions)
    df = pd.DataFrame(rows, columns=["school_id", "dialogue_date", "kind", "text", "owner_role",
                                     "follow_up_date", "status", "about", "_line"])
    df.index = df.pop("_line").astype(int).to_numpy() if len(df) else pd.Index([], dtype=int)
    for col in ("dialogue_date", "follow_up_date"):
        df[col] = pd.to_datetime(df[col]).astype("datetime64[ns]")
    refuse_personnummer_columns(df.astype(object), p)
    return c.publish(c.finish(df, table="dialogue_notes", path=p, loader="read_dialogue_notes",
                              rows_read=n_read, dropped=dropped))


def _notes_rows(meta: dict[str, Cell], agreements: list[dict[str, Cell]],
                questions: list[dict[str, Cell]], ctx: _Ctx, dropped: dict[str, int]
                ) -> list[dict[str, Any]]:
    day_given = meta.get("dialogue_date")
    if (day_given is None or day_given.text == "") and not any(
            a["text"].text for a in agreements) and not any(
            c.norm(q["discussed"].text) == "ja" for q in questions):
        dropped["arbetsböcker som inte fyllts i"] = dropped.get(
            "arbetsböcker som inte fyllts i", 0) + 1
        return []
    cell = meta.get("school_id")
    code = c.pad_code(cell.value, 8) if cell is not None else ""
    if cell is None or not re.match(schema.SCHOOL_ID_RE, code):
        raise ctx.fail(cell, "Skolenhetskoden ska vara 8 siffror",
                       "Skriv skolenhetskoden på bladet Dialog")
    if ctx.schools is not None and code not in ctx.schools:
        raise ctx.fail(cell, f"Skolenhetskoden {code} finns inte i skolregistret",
                       "Rätta koden eller lägg till skolan i skolregistret")
    day_cell = meta.get("dialogue_date") or Cell("", L.SHEET_DIALOGUE, None,
                                                 "B (Datum för dialogen)")
    day = _date(day_cell, ctx, "Datum för dialogen", blank_ok=False)
    rows: list[dict[str, Any]] = []
    for a in agreements:
        text = scan_free_text(a["text"], ctx).strip()
        for k in ("owner", "about"):
            scan_free_text(a[k], ctx)
        if not text:
            if any(a[k].text for k in ("owner", "follow_up", "status", "about")):
                raise ctx.fail(a["text"], "Överenskommelsen saknar text",
                               "Skriv vad ni kom överens om, eller töm raden")
            dropped["tomma rader för överenskommelser"] += 1
            continue
        status_text = c.norm(a["status"].text)
        status = L.STATUS_SV.get(status_text) or (status_text or None)
        if status is not None and status not in schema.AGREEMENT_STATUSES:
            raise ctx.fail(a["status"], f"Okänd status: {c.show(a['status'].value)}",
                           "Välj " + ", ".join(L.STATUS_SV))
        rows.append({"school_id": code, "dialogue_date": day, "kind": "agreement",
                     "text": text, "owner_role": a["owner"].text or None,
                     "follow_up_date": _date(a["follow_up"], ctx, "Uppföljningsdatumet",
                                             blank_ok=True),
                     "status": status, "about": a["about"].text or None,
                     "_line": a["text"].row or len(rows) + 1})
    for q in questions:
        text = scan_free_text(q["q"], ctx).strip()
        note = scan_free_text(q["note"], ctx).strip()
        discussed = c.norm(q["discussed"].text)
        if discussed not in ("", "ja", "nej"):
            raise ctx.fail(q["discussed"], f"Diskuterades ska vara ja eller nej, men cellen har "
                                           f"{c.show(q['discussed'].value)}", "Välj ja eller nej")
        if discussed != "ja" or not text:
            dropped["frågor som inte diskuterades"] += 1
            continue
        rows.append({"school_id": code, "dialogue_date": day, "kind": "question",
                     "text": text + (f" Anteckning: {note}" if note else ""),
                     "owner_role": None, "follow_up_date": None, "status": None,
                     "about": q["basis"].text or None, "_line": q["q"].row or len(rows) + 1})
    return rows


__all__ = ["read_plans", "read_dialogue_notes", "check_serves", "scan_free_text", "Cell"]

_ = np
