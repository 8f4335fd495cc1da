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


__all__ = ["catalogue", "action_label", "split_actions", "CATALOGUE_FILE"]
