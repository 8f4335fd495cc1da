"""The Swedish summary text of the teaching-quality index."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from .._format import number
from .._format import text_table as _text_table
from ..privacy import MIN_OBS, MIN_TEACHERS


def _fmt(x: float | None, digits: int = 2, sign: bool = False) -> str:
    """The shared Swedish number format; "–" for a missing figure in these tables."""
    return number(x, digits, sign, missing="–")


__all__ = ["index_summary", "LEVEL_SV"]

#: Swedish names of the aggregation levels.
LEVEL_SV = {"school": "skola", "area": "skolområde", "municipality": "kommun"}
_LEVEL_SV = LEVEL_SV


def index_summary(result: Any) -> str:
    """The summary a user reads (Swedish) of a ``TeachingQualityResult``: what the index
    is, the model's systematic differences, the latest term per unit with its change,
    and what is suppressed."""
    models = {d: result.model(d) for d in result.dimensions}
    t = result.tidy()
    dim = "overall" if "overall" in models else result.dimensions[0]
    m = models[dim]
    fe = result.fixed_effects(dim).set_index("term")
    lo, hi = result.scale
    ref_sv = schema.LABELS_SV.get(m.reference_type, m.reference_type)
    lines = [
        "Undervisningskvalitet per termin (index)",
        f"Protokoll: {result.instrument_name}, skala {lo}–{hi}.",
        "",
        f"Indexet är modellens skattning av protokollpoängen vid ett {ref_sv} av en "
        "genomsnittlig observatör som inte arbetar på skolan, hos en genomsnittlig lärare "
        "på skolan. Det är alltså justerat för att observatörer bedömer olika strängt, för "
        "besökstyp och för att observatörer på den egna skolan bedömer mildare. Varje "
        "termins värde lånar styrka från skolans övriga terminer (skolans egen trend), så "
        "ett enstaka avvikande besök väger lätt. Medelfelet och 95 % konfidensintervall "
        "visar osäkerheten. Reliabiliteten (0–1) anger hur stor del av skillnaderna "
        "mellan skolornas terminsmedelvärden som speglar verkliga skillnader; under 0,7 "
        "bör skillnader tolkas med stor försiktighet. Inga värden redovisas per lärare.",
        "",
        f"Modell ({result.dimension_names.get(dim, dim)}): {m.formula}",
    ]
    effects = []
    for term in ("type_planerad", "type_kollegial", "own_school", "time"):
        if term in fe.index:
            r = fe.loc[term]
            effects.append(f"  {r['label']}: {_fmt(r['estimate'], 2, sign=True)} "
                           f"(95 % KI {_fmt(r['conf_low'], 2)} till {_fmt(r['conf_high'], 2)})")
    if effects:
        lines += ["Systematiska skillnader som indexet tar hänsyn till (poäng):", *effects]
    if not m.own_school_adjusted:
        lines.append("OBS: alla protokoll kommer från observatörer på den egna skolan, så "
                     "mildheten mot den egna skolan kan inte skattas och ingår i indexet.")
    comp = m.components
    lines.append(
        f"Observatörernas stränghet varierar med standardavvikelsen "
        f"{_fmt(math.sqrt(max(comp.observer, 0)), 2)} poäng, lärarna med "
        f"{_fmt(math.sqrt(max(comp.teacher, 0)), 2)} och skolornas nivå med "
        f"{_fmt(math.sqrt(max(comp.school(), 0)), 2)}.")
    for level in result.by:
        d = t[(t["level"] == level) & (t["dimension"] == dim)]
        if d.empty:
            continue
        last_term = max(d["term"], key=schema.term_index)
        first_term = min(d["term"], key=schema.term_index)
        lines += ["", f"Per {_LEVEL_SV[level]}, {last_term} (förändring sedan {first_term}):"]
        body = []
        for unit, g in d.groupby("unit", sort=True):
            g = g.set_index("term")
            r = g.loc[last_term] if last_term in g.index else None
            r0 = g.loc[first_term] if first_term in g.index else None
            name = str(g["unit_name"].iloc[0]) if pd.notna(g["unit_name"].iloc[0]) \
                else str(unit)
            if r is None or r["suppressed"]:
                body.append([name, "..", "", "", _fmt(r["reliability"], 2)
                             if r is not None else "–",
                             str(int(r["n_obs"])) if r is not None else "0"])
                continue
            change = (r["estimate"] - r0["estimate"]) if r0 is not None \
                and not r0["suppressed"] else np.nan
            body.append([name, _fmt(r["estimate"], 2),
                         f"[{_fmt(r['conf_low'], 2)}; {_fmt(r['conf_high'], 2)}]",
                         _fmt(change, 2, sign=True), _fmt(r["reliability"], 2),
                         str(int(r["n_obs"]))])
        lines += _text_table(["enhet", "index", "95 % KI", "förändring", "reliabilitet",
                              "lektioner"], body)
    sup = t[(t["level"] == "school") & t["suppressed"] & (t["dimension"] == dim)]
    n_school = int(((t["level"] == "school") & (t["dimension"] == dim)).sum())
    if n_school:
        lines += ["", f"Prickade (..) skola × termin: {len(sup)} av {n_school}, eftersom "
                      f"färre än {MIN_TEACHERS} lärare eller {MIN_OBS} lektioner "
                      "observerades. De visas inte och ingår inte i områdets eller "
                      "kommunens värde."]
    if "area" in result.by or "municipality" in result.by:
        lines.append("Områdets och kommunens index är medelvärdet av de redovisade "
                     "skolornas index (varje skola väger lika).")
    return "\n".join(lines)
