"""Plans for better teaching: the shipped catalogue of leadership actions.

A school's (or the organiser's) plan is data: rows of the canonical
``plans`` table (:func:`undervisning_analys.schema.plans_schema`). The
actions a plan chooses come from :func:`catalogue` (Skolverket's leadership
actions under "Kvalitetssäkra och utveckla undervisningen" and "Arbeta
strukturerat med uppföljning", in this package's own Swedish wording, each
with its source heading) or are the school's own text.

The catalogue is package data (``plans/katalog.yaml``) read through
:mod:`importlib.resources`, so an installed wheel has it.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd
import yaml

CATALOGUE_FILE = "katalog.yaml"


@lru_cache(maxsize=1)
def _raw() -> dict:
    text = resources.files(__package__).joinpath(CATALOGUE_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def catalogue() -> pd.DataFrame:
    """The catalogue of leadership actions, one row per action.

    Columns: ``action_id`` (``U1``…, ``F1``…), ``area`` (``undervisning`` or
    ``uppfoljning``), ``heading`` (Skolverket's heading, Swedish), ``name``,
    ``text`` (Swedish, this package's wording), ``source`` and
    ``visit_type`` (the observation type an action produces, or None).
    """
    rows = []
    for area in _raw()["omraden"]:
        for a in area["atgarder"]:
            rows.append({"action_id": str(a["id"]), "area": area["id"],
                         "heading": area["rubrik"], "name": a["namn"],
                         "text": " ".join(str(a["text"]).split()), "source": area["kalla"],
                         "visit_type": a.get("besokstyp")})
    return pd.DataFrame(rows)


def action_label(action: str) -> str:
    """``U1`` -> ``U1 Spontana lektionsbesök``; the school's own text unchanged."""
    cat = catalogue().set_index("action_id")
    key = action.strip()
    return f"{key} {cat.loc[key, 'name']}" if key in cat.index else key


def split_actions(actions: object) -> list[str]:
    """A plan row's ``actions`` cell as a list (``;``-separated, blanks dropped)."""
    if actions is None or (isinstance(actions, float) and actions != actions):
        return []
    return [a.strip() for a in str(actions).split(";") if a.strip()]


def planned_lessons(plans: pd.DataFrame | None) -> pd.DataFrame:
    """Lessons per term each school's plan sets out, as a design for the decision study.

    One row per school with observation targets (``kind == "observations"``):
    ``unit`` (school_id), ``plan_id``, ``n_obs`` (planned lessons per term over
    the visit types ``spontan``, ``planerad`` and ``kollegial``) and
    ``paired_share`` (planned paired observations, ``par``, over ``n_obs``,
    at most 1; NaN without a ``par`` row) and ``years`` (the school years the
    plan's period spans, its terms halved and rounded, at least 1: the
    window of the school's trend). Paired observations are lessons of one of
    the visit types seen by two observers, so they are not added again. A
    school with more than one plan gets its latest period's.
    """
    from ..schema import term_index

    cols = ["unit", "plan_id", "n_obs", "paired_share", "years"]
    if plans is None or plans.empty:
        return pd.DataFrame(columns=cols)
    p = plans[(plans["kind"].astype(str) == "observations") & plans["school_id"].notna()]
    rows = []
    for (sid, pid), g in p.groupby([p["school_id"].astype(str), p["plan_id"].astype(str)],
                                   sort=True):
        kinds = g["target_of"].astype(str)
        n = float(g.loc[kinds != "par", "target"].sum())
        par = g.loc[kinds == "par", "target"]
        share = min(float(par.sum()) / n, 1.0) if len(par) and n > 0 else float("nan")
        start, end = str(g["period_start"].iloc[0]), str(g["period_end"].iloc[0])
        terms = int(round(2 * (term_index(end) - term_index(start)))) + 1
        rows.append({"unit": sid, "plan_id": pid, "n_obs": n, "paired_share": share,
                     "years": max(1, int(round(terms / 2 + 1e-9))), "_end": end})
    out = pd.DataFrame(rows, columns=[*cols, "_end"])
    if out.empty:
        return out[cols]
    out = out.assign(_k=out["_end"].map(term_index)).sort_values(["unit", "_k"])
    return out.groupby("unit", sort=True).tail(1)[cols].reset_index(drop=True)


__all__ = ["catalogue", "action_label", "split_actions", "planned_lessons", "CATALOGUE_FILE"]
