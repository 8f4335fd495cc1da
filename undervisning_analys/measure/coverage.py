"""Observation coverage: who and what was observed, per school × term and per observer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import schema
from .scoring import score_forms

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

__all__ = ["coverage", "observer_coverage"]


def coverage(ds: Dataset) -> pd.DataFrame:
    """Who and what was observed, per school × term.

    Columns: school_id, school_name, term, school_year, n_obs (lessons),
    n_forms, n_paired (lessons with two or more forms), n_teachers (observed),
    n_teachers_known (distinct teachers seen at the school in the school
    year), share_teachers_observed, n_spontan, n_planerad, n_kollegial
    (lessons by type), n_observers, share_own_school (forms by observers who
    work at the school, see :func:`infer_home_schools`) and roles (forms per
    observer role, in Swedish).

    Notes
    -----
    Counts use every form, also forms whose scores are missing. Teachers
    "known" are only those who appear in the observations (the observations
    are the only source of staff): the share observed is therefore an upper
    bound of the share of all teachers.
    """
    forms = score_forms(ds)
    names = dict(zip(ds.schools["school_id"], ds.schools["school_name"]))
    keys = ["school_id", "term"]
    known = forms.groupby(["school_id", "school_year"])["teacher_id"].nunique().rename(
        "n_teachers_known")
    g = forms.groupby(keys, sort=True)
    out = g.agg(n_obs=("observation_id", "nunique"), n_forms=("observation_id", "size"),
                n_teachers=("teacher_id", "nunique"), n_observers=("observer_id", "nunique"),
                share_own_school=("own_school", "mean"))
    per_lesson = forms.groupby([*keys, "observation_id"], sort=False).size()
    out["n_paired"] = (per_lesson > 1).groupby(level=[0, 1]).sum()
    lessons = forms.drop_duplicates("observation_id")
    by_type = lessons.groupby([*keys, "observation_type"], observed=True).size().unstack(
        "observation_type")
    for t in schema.OBSERVATION_TYPES:
        out[f"n_{t}"] = (by_type[t].reindex(out.index).fillna(0)
                         if t in by_type.columns else 0)
    # roles by number of forms, ties in order of first appearance (as value_counts)
    rg = forms.assign(_pos=np.arange(len(forms))).groupby(
        [*keys, "observer_role"], observed=True, sort=False)
    roles = rg.agg(n=("_pos", "size"), first=("_pos", "min")).reset_index()
    roles = roles[roles["n"] > 0].sort_values(
        [*keys, "n", "first"], ascending=[True, True, False, True], kind="stable")
    roles["text"] = [f"{schema.LABELS_SV.get(str(r), str(r))} {n}"
                     for r, n in zip(roles["observer_role"], roles["n"])]
    out["roles"] = roles.groupby(keys, sort=False)["text"].agg(", ".join).reindex(out.index)
    out = out.reset_index()
    out["school_year"] = out["term"].map(schema.term_school_year)
    out = out.merge(known.reset_index(), on=["school_id", "school_year"], how="left")
    out["n_teachers_known"] = out["n_teachers_known"].astype(int)
    out["share_teachers_observed"] = np.where(
        out["n_teachers_known"] > 0, out["n_teachers"] / out["n_teachers_known"].clip(lower=1),
        np.nan)
    out["school_name"] = out["school_id"].map(names)
    for c in ("n_obs", "n_forms", "n_paired", "n_teachers", "n_observers",
              *(f"n_{t}" for t in schema.OBSERVATION_TYPES)):
        out[c] = out[c].astype(int)
    out["share_own_school"] = out["share_own_school"].astype(float)
    cols = ["school_id", "school_name", "term", "school_year", "n_obs", "n_forms", "n_paired",
            "n_teachers", "n_teachers_known", "share_teachers_observed",
            *(f"n_{t}" for t in schema.OBSERVATION_TYPES), "n_observers",
            "share_own_school", "roles"]
    out = out[cols]
    out = out.assign(_t=out["term"].map(schema.term_index)).sort_values(
        ["school_id", "_t"]).drop(columns="_t").reset_index(drop=True)
    return out


def observer_coverage(ds: Dataset) -> pd.DataFrame:
    """Per observer: role, home school, how many forms, where and of which type.

    Columns: observer_id, observer_role, home_school_id (latest school year,
    see :func:`infer_home_schools`), n_forms, n_obs (lessons), n_paired
    (lessons they observed together with another observer), n_schools,
    n_terms, first_term, last_term, share_own_school, n_spontan, n_planerad,
    n_kollegial (forms by type).
    """
    forms = score_forms(ds)
    paired = forms.groupby("observation_id")["observer_id"].transform("size") > 1
    forms = forms.assign(_paired=paired, _t=forms["term"].map(schema.term_index))
    rows = []
    for oid, g in forms.sort_values("_t").groupby("observer_id", sort=True):
        row = {"observer_id": oid,
               "observer_role": g["observer_role"].value_counts().index[0],
               "home_school_id": g["home_school_id"].iloc[-1],
               "n_forms": len(g), "n_obs": int(g["observation_id"].nunique()),
               "n_paired": int(g["_paired"].sum()),
               "n_schools": int(g["school_id"].nunique()), "n_terms": int(g["term"].nunique()),
               "first_term": g["term"].iloc[0], "last_term": g["term"].iloc[-1],
               "share_own_school": float(g["own_school"].mean())}
        for t in schema.OBSERVATION_TYPES:
            row[f"n_{t}"] = int((g["observation_type"] == t).sum())
        rows.append(row)
    return pd.DataFrame(rows)
