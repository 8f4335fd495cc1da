"""Scoring: observation forms → one row per form with its scores, and home schools.

* :func:`score_forms` – item scores → one row per form (observation_id ×
  observer_id) with dimension and overall scores (``Instrument.score``), the
  time since the first term and whether the observer works at the school;
  computed once per Dataset (held by the Dataset, see :mod:`._store`);
* :func:`infer_home_schools` – the rule that decides where an observer works.

Where an observer works (``own_school``)
----------------------------------------
The observations table names the observer's role, not their school. Rule
(:func:`infer_home_schools`), per observer and school year: an observer whose
role is ``rektor``, ``bitradande_rektor`` or ``forstelarare`` and who filled in
more than half of that year's forms at one school works at that school; in a
year without such a school, the school with more than half of the observer's
forms over all years is taken (so a principal who moves is followed year by
year, and a year with few visits at home does not lose the home). A form is
``own_school`` when its school is the observer's home that year. External
observers, colleagues (``kollega``) and ``annan`` have no home; a principal who
splits their visits evenly between schools, or visits other schools more
often than their own, gets none (their leniency then shows up as severity).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import schema
from ..errors import ModelError
from ._store import cached

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

__all__ = ["score_forms", "infer_home_schools", "require_observations", "check_dimension",
           "HOME_ROLES"]

#: Roles that have a home school (see the module docstring).
HOME_ROLES: tuple[str, ...] = ("rektor", "bitradande_rektor", "forstelarare")


def require_observations(ds: Dataset) -> pd.DataFrame:
    obs = ds.observations
    if obs is None or len(obs) == 0:
        raise ModelError(
            "Datamängden saknar lektionsobservationer, så undervisningskvaliteten kan inte "
            "skattas", table="observations",
            hint="Läs in observationsprotokoll med read_observations och bygg datamängden igen")
    return obs


def infer_home_schools(observations: pd.DataFrame) -> pd.DataFrame:
    """Where each observer works, per school year (the rule in the module docstring).

    Returns one row per observer × school year: ``observer_id``,
    ``school_year``, ``observer_role`` (the role on most of their forms),
    ``top_school_id``, ``top_share`` (its share of the observer's forms) and
    ``home_school_id`` (None when the rule gives no home).
    """
    forms = observations.drop_duplicates(["observation_id", "observer_id"])
    if len(forms) == 0:
        return pd.DataFrame(columns=["observer_id", "school_year", "observer_role",
                                     "top_school_id", "top_share", "home_school_id"])
    f = forms[["observer_id", "school_year", "school_id", "observer_role"]].astype(
        {"observer_role": str})
    counts = f.groupby(["observer_id", "school_year", "school_id"]).size().rename("n")
    counts = counts.reset_index().sort_values(["observer_id", "school_year", "n", "school_id"],
                                              ascending=[True, True, False, True])
    total = counts.groupby(["observer_id", "school_year"])["n"].transform("sum")
    counts["share"] = counts["n"] / total
    top = counts.drop_duplicates(["observer_id", "school_year"]).rename(
        columns={"school_id": "top_school_id", "share": "top_share"})
    # the role on most of the year's forms; a tie goes to the role met first
    # (as ``value_counts().index[0]`` would choose, vectorised)
    fr = f.reset_index(drop=True)
    fr["_pos"] = np.arange(len(fr))
    rc = fr.groupby(["observer_id", "school_year", "observer_role"], sort=False).agg(
        n=("_pos", "size"), first=("_pos", "min")).reset_index()
    role = (rc.sort_values(["observer_id", "school_year", "n", "first"],
                           ascending=[True, True, False, True], kind="stable")
            .drop_duplicates(["observer_id", "school_year"])
            [["observer_id", "school_year", "observer_role"]].reset_index(drop=True))
    out = top.merge(role, on=["observer_id", "school_year"])
    # over all years: the fallback for a year without a majority school
    all_years = counts.groupby(["observer_id", "school_id"])["n"].sum().reset_index()
    all_years["share"] = all_years["n"] / all_years.groupby("observer_id")["n"].transform("sum")
    all_years = all_years.sort_values(["observer_id", "share", "school_id"],
                                      ascending=[True, False, True]).drop_duplicates(
        "observer_id")
    overall = all_years.set_index("observer_id")
    fallback = out["observer_id"].map(overall["school_id"]).where(
        out["observer_id"].map(overall["share"]) > 0.5)
    home_role = out["observer_role"].isin(HOME_ROLES)
    home = out["top_school_id"].where(out["top_share"] > 0.5, fallback)
    out["home_school_id"] = home.where(home_role & home.notna(), None)
    return out[["observer_id", "school_year", "observer_role", "top_school_id", "top_share",
                "home_school_id"]].reset_index(drop=True)


def score_forms(ds: Dataset) -> pd.DataFrame:
    """One row per form (observation_id × observer_id) with its scores.

    Columns: those of ``Instrument.score`` (ids, school, teacher, observer,
    role, type, date, term, school year, one column per dimension id,
    ``overall``, ``n_items``) plus ``time`` (years since the first term in
    the data), ``school_term`` (``school_id:term``), ``home_school_id`` and
    ``own_school`` (0/1, see :func:`infer_home_schools`).

    Notes
    -----
    Missing items follow the instrument's half rule (a dimension score needs
    at least half of its items, the overall score half of the dimensions);
    such scores are NaN and the form is left out of that score's analyses.
    """
    return cached(ds, "forms", lambda: _score_forms(ds)).copy()


def _score_forms(ds: Dataset) -> pd.DataFrame:
    obs = require_observations(ds)
    forms = ds.instrument.score(obs)
    first = min(obs["term"].unique(), key=schema.term_index)
    forms["time"] = forms["term"].map(schema.term_index) - schema.term_index(first)
    forms["school_term"] = forms["school_id"].astype(str) + ":" + forms["term"].astype(str)
    homes = infer_home_schools(obs)[["observer_id", "school_year", "home_school_id"]]
    forms = forms.merge(homes, on=["observer_id", "school_year"], how="left")
    forms["own_school"] = (forms["home_school_id"] == forms["school_id"]).astype(float)
    forms["observation_type"] = forms["observation_type"].astype(str)
    forms["observer_role"] = forms["observer_role"].astype(str)
    forms.attrs["first_term"] = first
    return forms


def check_dimension(ds: Dataset, dimension: str) -> list[str]:
    dims = [d.id for d in ds.instrument.dimensions]
    if dimension == "all":
        return ["overall", *dims]
    if dimension == "overall" or dimension in dims:
        return [dimension]
    raise ModelError(
        f"Okänd dimension {dimension!r} för protokollet {ds.instrument.name}",
        hint="Ange \"overall\", \"all\" eller en av protokollets dimensioner: " + ", ".join(dims))
