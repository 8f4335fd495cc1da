"""Rater drift: observers whose severity changes over time.

:func:`rater_drift` fits the teaching-quality model with one term changed: the
observer's severity gets a trend of its own. It is the index's model
(:mod:`.index`, same scores from :func:`~.index.score_forms`, same fixed effects
and random terms, built by the same rules) with ``(1 | observer_id)`` replaced by
``(1 + time_c || observer_id)``::

    score ~ time + type_planerad + type_kollegial + own_school
            + (1 + time | school_id) + (1 | school_term)
            + (1 | teacher_id) + (1 + time_c || observer_id) + (1 | observation_id)

``time`` is years since the first term (HT → VT is half a year) and ``time_c``
the same centred on the middle of the period, so an observer's random
intercept is their severity in the middle of the period and their random
slope their change in severity per school year, relative
to the average observer. The two are uncorrelated (``||``): with a
correlation the fit went to the boundary (−1) on data without drift, tying
every slope to its intercept and flagging a third of the observers (tested:
with ``||`` and no planted drift the drift variance is estimated at 0). The
municipality's own trend (fixed ``time``) and the
schools' trends stay where the index has them, so a drift common to *all*
observers cannot be told from a change in teaching and is not what this
measures. The slope is the conditional mode (BLUP) of the model, shrunk
towards zero for observers with few forms or a short span of terms; its
standard error is lme4's conditional standard deviation (``condsd``), and
the interval is ``estimate ± 1.96 · se``. An observer is *named for
calibration* when that interval excludes zero and the observer has at least
five forms (``privacy.MIN_OBS``). The truth the slopes estimate is each
observer's drift minus the mean drift of the observers in the data.
The index keeps its own model (:func:`~.index.teaching_quality`); this is the
same model with the drift option switched on
(:func:`~.model.teaching_quality_model` with ``observer_drift=True``: one
specification, :func:`~.model.specify_model`), fitted once per Dataset beside
it and read through the model's public methods
(:meth:`~.model.TeachingQualityModel.observer_drift`,
:attr:`~.model.TeachingQualityModel.drift_sd`,
:meth:`~.model.TeachingQualityModel.predict`).

The per-term table beside the result is descriptive: per observer and term,
the number of forms and the observer's mean residual severity in that term –
the form scores minus the model's prediction without the observer's own
effects (fixed part plus the school, term, teacher and lesson effects) – with
its standard error ``sd / √n`` (not shown for a term with fewer than five
forms, the privacy floor for observations), and the model's fitted severity line
(intercept + slope · time_c) for comparison.

Observers are leaders (rektorer, biträdande rektorer, förstelärare, external
observers); nothing here is reported per teacher. The synthetic generator
plants drift with ``observer_drift_sd`` (``truth.observer_drift``);
``tests/test_drift.py`` and ``benchmarks/sim_drift.py`` check the recovery:
over 40 seeds (12 schools, 4 school years, drift sd 0.10 per year) the
estimates correlate 0.74 with the true drift and the 95 % intervals cover it
for 93.5 % of the observers; with no drift (20 seeds) 0.3 % are flagged.

Missing data: forms without a score for the dimension (the instrument's half
rule) are left out. Observers with forms from a single term contribute to the
model, but their slope is shrunk to about zero with a wide interval; they are
listed with ``n_terms = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from .._format import number
from .._results import Result
from ..errors import ModelError
from ..privacy import MIN_OBS
from .model import specify_model, teaching_quality_model
from .scoring import check_dimension, score_forms

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset
    from ..engine.mixed import MixedResult

__all__ = ["RaterDriftResult", "rater_drift", "drift_formula"]

_ROLE_SV = {"rektor": "rektor", "bitradande_rektor": "biträdande rektor",
            "forstelarare": "förstelärare", "kollega": "kollega", "extern": "extern",
            "annan": "annan"}


def _fmt(x: float, digits: int = 2) -> str:
    """A signed Swedish number (the shared format); "–" for a missing figure."""
    return number(x, digits, sign=True, missing="–")


def drift_formula(ds: Dataset, dimension: str = "overall") -> str:
    """The lme4 formula :func:`rater_drift` fits to ``ds`` (the index's, with drift)."""
    dims = check_dimension(ds, dimension)
    return specify_model(score_forms(ds), dims[0], observer_drift=True).formula


@dataclass(frozen=True, eq=False)
class RaterDriftResult(Result):
    """Observers' change in severity per school year (see :func:`rater_drift`).

    ``.tidy()``: one row per observer; ``.per_term()``: observer × term;
    ``.flagged()``: the observers whose drift interval excludes zero.
    """

    table: pd.DataFrame = field(repr=False)
    term_table: pd.DataFrame = field(repr=False)
    dimension: str
    formula: str
    fit: MixedResult = field(repr=False)
    drift_sd: float = float("nan")
    """The model's sd of drift between observers (per school year)."""
    conf_level: float = 0.95

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def per_term(self) -> pd.DataFrame:
        """Observer × term: n_forms, residual severity (mean, se) and the fitted line."""
        return self.term_table.copy()

    def flagged(self) -> pd.DataFrame:
        """Observers whose drift is clearly away from zero (interval excludes 0)."""
        t = self.table
        return t[t["flagged"]].reset_index(drop=True)

    def _summary_text(self) -> str:
        t = self.table
        fl = t[t["flagged"]]
        lines = [
            "Bedömarnas förändring över tid (bedömardrift)",
            f"{len(t)} observatörer, {int(t['n_forms'].sum())} protokoll "
            f"({'totalpoäng' if self.dimension == 'overall' else self.dimension}).",
            f"Spridningen i förändring mellan observatörer: {_fmt(self.drift_sd).lstrip('+')} "
            "poäng per läsår (standardavvikelse).",
            "",
        ]
        if fl.empty:
            lines.append("Ingen observatör har en förändring som tydligt skiljer sig från "
                         "noll (alla 95 %-intervall omfattar noll).")
        else:
            lines.append(f"{len(fl)} observatörer har en förändring vars 95 %-intervall inte "
                         "omfattar noll – förslag till kalibrering:")
            for _, r in fl.iterrows():
                way = "mildare" if r["drift"] > 0 else "strängare"
                lines.append(
                    f"  {r['observer_id']} ({_ROLE_SV.get(str(r['observer_role']), r['observer_role'])}): "
                    f"{_fmt(r['drift'])} poäng per läsår ({way}), 95 % KI "
                    f"{_fmt(r['conf_low'])} till {_fmt(r['conf_high'])}, {int(r['n_forms'])} protokoll")
        lines += [
            "",
            "Förändring per läsår = hur observatörens poängsättning har ändrats jämfört med "
            "den genomsnittliga observatören, när skolornas egen utveckling, lärarna och "
            "besökstypen är medräknade (undervisningsmodellen med en trend per observatör). "
            "Positivt: ger allt högre poäng (mildare); negativt: allt lägre (strängare). "
            "Få protokoll eller få terminer drar skattningen mot noll och ger breda intervall.",
            "Detta beskriver observatörerna (skolledare och andra bedömare), inte lärarna, och "
            "är ett underlag för kalibrering, inte en bedömning av någon.",
        ]
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """Drift per observer (in id order, never ranked) with 95 % intervals."""
        import matplotlib.pyplot as plt

        t = self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 1.5 + 0.22 * len(t)))
        y = np.arange(len(t))[::-1]
        colors = np.where(t["flagged"], "#c0392b", "#1f4e79")
        err = np.vstack([t["drift"] - t["conf_low"], t["conf_high"] - t["drift"]])
        for yi, x, e0, e1, c in zip(y, t["drift"], err[0], err[1], colors, strict=True):
            ax.errorbar(x, yi, xerr=[[e0], [e1]], fmt="o", color=c, capsize=2, ms=4)
        ax.axvline(0, color="#888888", lw=1, ls="--")
        ax.set_yticks(y)
        ax.set_yticklabels([f"{o} ({_ROLE_SV.get(str(r), r)})"
                            for o, r in zip(t["observer_id"], t["observer_role"], strict=True)],
                           fontsize=7)
        ax.set_xlabel("Förändring i poängsättning per läsår (95 % KI); positivt = mildare")
        ax.set_title("Bedömardrift per observatör (rött: intervallet utesluter noll)")
        return ax


def rater_drift(ds: Dataset, dimension: str = "overall", *,
                conf_level: float = 0.95) -> RaterDriftResult:
    """Observers' severity changing over time: the teaching-quality model with drift.

    Parameters
    ----------
    ds : a Dataset with observations from at least three terms.
    dimension : ``"overall"`` (default) or one of the instrument's dimension ids.
    conf_level : level of the intervals (normal quantile on the conditional sd).

    Returns
    -------
    RaterDriftResult
        ``.tidy()``, one row per observer (sorted by id, never by value):
        observer_id, observer_role (most frequent), n_forms, n_terms,
        first_term, last_term, drift (change in severity per school year,
        positive = milder over time), se, conf_low, conf_high, flagged (the
        interval excludes zero), severity (the observer's severity in the
        middle of the period, for reference) and severity_se. ``.per_term()``: observer × term
        with n_forms, residual (mean residual severity), residual_se and
        fitted (the model's severity line).

    Raises
    ------
    ModelError
        Fewer than three terms or three observers, or an unknown dimension.

    Notes
    -----
    See the module docstring for the model (the index's model with
    ``(1 + time_c || observer_id)``) and what the drift is relative to.
    Missing data: forms without a score for the dimension are left out.
    """
    from scipy import stats

    from ..errors import ConvergenceWarning

    if not 0 < conf_level < 1:
        raise ModelError(f"`conf_level` ska ligga mellan 0 och 1, men är {conf_level!r}")
    dims = ["overall", *(d.id for d in ds.instrument.dimensions)]
    if dimension not in dims:
        raise ModelError(f"Okänd dimension {dimension!r} för protokollet {ds.instrument.name}",
                         hint="Ange \"overall\" eller en av protokollets dimensioner: "
                              + ", ".join(dims[1:]))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = teaching_quality_model(ds, dimension, observer_drift=True)
    frame = model.frame
    z = float(stats.norm.ppf(0.5 + conf_level / 2))
    od = model.observer_drift().set_index("observer_id")
    drift_sd = model.drift_sd

    g = frame.groupby("observer_id", sort=True)
    role = g["observer_role"].agg(lambda s: s.value_counts().index[0])
    term_key = frame["term"].map(schema.term_index)
    tbl = pd.DataFrame({
        "observer_id": role.index.astype(str),
        "observer_role": role.to_numpy(),
        "n_forms": g.size().to_numpy(),
        "n_terms": g["term"].nunique().to_numpy(),
        "first_term": frame.assign(k=term_key).sort_values("k").groupby("observer_id")["term"]
        .first().reindex(role.index).to_numpy(),
        "last_term": frame.assign(k=term_key).sort_values("k").groupby("observer_id")["term"]
        .last().reindex(role.index).to_numpy(),
    })
    ids = tbl["observer_id"]
    tbl["drift"] = od["drift"].reindex(ids).to_numpy()
    tbl["se"] = od["drift_se"].reindex(ids).to_numpy()
    tbl["conf_low"] = tbl["drift"] - z * tbl["se"]
    tbl["conf_high"] = tbl["drift"] + z * tbl["se"]
    tbl["flagged"] = (((tbl["conf_low"] > 0) | (tbl["conf_high"] < 0))
                      & (tbl["n_forms"] >= MIN_OBS))
    tbl["severity"] = od["severity"].reindex(ids).to_numpy()
    tbl["severity_se"] = od["severity_se"].reindex(ids).to_numpy()

    # residual severity per observer × term (prediction without the observer's effects)
    pred = model.predict(without=("observer_id",))
    res = frame.assign(__r__=frame["score"].to_numpy() - pred)
    pt = (res.groupby(["observer_id", "term"], sort=False)
          .agg(school_year=("school_year", "first"), time=("time", "first"),
               n_forms=("__r__", "size"), residual=("__r__", "mean"), sd=("__r__", "std"))
          .reset_index())
    pt["residual_se"] = pt["sd"] / np.sqrt(pt["n_forms"])
    few = pt["n_forms"] < MIN_OBS  # a term's residual from < 5 lessons is not shown
    pt.loc[few, ["residual", "residual_se"]] = np.nan
    pt["observer_id"] = pt["observer_id"].astype(str)
    pt["fitted"] = (pt["observer_id"].map(od["severity"])
                    + pt["observer_id"].map(od["drift"]) * (pt["time"] - model.time_centre))
    pt = (pt.assign(k=pt["term"].map(schema.term_index))
          .sort_values(["observer_id", "k"]).drop(columns=["k", "sd"]).reset_index(drop=True))
    pt["school_year"] = pt["school_year"].astype(str)
    pt["term"] = pt["term"].astype(str)
    return RaterDriftResult(table=tbl, term_table=pt, dimension=dimension,
                            formula=model.formula, fit=model.fit, drift_sd=drift_sd,
                            conf_level=conf_level)
