"""The agreement statistics of a Dataset's paired lessons, as the reports show them.

A paired lesson is one observed by two or more observers (one form each). The
reports' section on how well the observers agree reads three statistics of those
lessons, each computed here so that the report only composes:

* :func:`dimension_agreement` – exact/adjacent agreement and weighted kappa per
  dimension (:func:`.agreement.agreement` on the items of the paired lessons);
* :func:`first_pair_icc` – the intraclass correlations of the overall form score,
  from the first two forms of each paired lesson (ordered by observer id);
* :func:`severity_by_role` – observers' severity summarised per observer role
  (the mean deviation weighted by each observer's number of ratings). Roles,
  never individuals: the privacy floor on observers per role is applied by
  the caller (:func:`undervisning_analys.privacy.suppress_observer_roles`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from undervisning_analys.dataset import Dataset

from .agreement import AgreementResult, agreement
from .intraclass import ICCResult, icc
from .severity import observer_severity

__all__ = ["paired_lessons", "dimension_agreement", "first_pair_icc", "severity_by_role"]


def paired_lessons(ds: Dataset) -> pd.DataFrame:
    """The observation rows of lessons with forms from at least two observers.

    A fresh 0..n-1 index: loaded tables keep the source line numbers, which
    repeat in long format.
    """
    obs = ds.observations
    forms = obs.drop_duplicates(["observation_id", "observer_id"])
    per_lesson = forms.groupby("observation_id").size()
    paired = per_lesson[per_lesson > 1].index
    return obs[obs["observation_id"].isin(paired)].reset_index(drop=True)


def dimension_agreement(ds: Dataset, paired: pd.DataFrame) -> AgreementResult:
    """Agreement of paired ratings, item by item pooled per dimension (Swedish names)."""
    dim_of = ds.instrument.dimension_of()
    names = ds.instrument.dimension_names()
    items = paired.assign(dimension=paired["item_id"].map(dim_of).map(names))
    return agreement(items, targets=["observation_id", "item_id"], raters="observer_id",
                     ratings="score", scale=ds.instrument.scale, by="dimension")


def first_pair_icc(ds: Dataset, paired: pd.DataFrame) -> ICCResult:
    """ICCs of the overall form score from the first two forms of each paired lesson."""
    scored = ds.instrument.score(paired)
    firsts = scored.sort_values(["observation_id", "observer_id"])
    firsts = firsts.assign(rater=firsts.groupby("observation_id").cumcount())
    firsts = firsts[firsts["rater"] < 2]
    # "overall": the instrument's score of the whole form (Instrument.score)
    return icc(firsts, targets="observation_id", raters=None, ratings="overall")


def severity_by_role(paired: pd.DataFrame) -> pd.DataFrame:
    """Observer severity per observer role: observers, ratings and mean deviation.

    Columns ``observer_role``, ``n_observers``, ``n_ratings`` and
    ``mean_deviation`` (points on the item scale; positive = milder than the
    other observers of the same lesson and item), the mean over the role's
    observers weighted by their number of ratings.
    """
    sev = observer_severity(paired, targets=["observation_id", "item_id"])
    roles = (paired.drop_duplicates("observer_id").set_index("observer_id")["observer_role"]
             .astype(str))
    t = sev.tidy()
    t["observer_role"] = t["observer"].map(roles)
    g = t.groupby("observer_role")
    return pd.DataFrame({
        "n_observers": g.size(),
        "n_ratings": g["n_ratings"].sum(),
        "mean_deviation": g.apply(lambda d: float(np.average(d["mean_deviation"],
                                                              weights=d["n_ratings"])),
                                  include_groups=False),
    }).reset_index()
