"""The teaching-quality index per school × term (the front door).

:func:`teaching_quality` gives the index with its standard error, counts,
reliability and privacy suppression, per school, area or municipality, for
``overall`` or each dimension. Where the parts live:

* :mod:`.scoring` – forms → scores and the observers' home schools;
* :mod:`.model` – the teaching-quality model, one fitted object per Dataset
  and score (:class:`~undervisning_analys.measure.model.TeachingQualityModel`);
* :mod:`.aggregate` – counts, suppression, areas and the municipality;
* :mod:`.summary` – the Swedish summary text;
* :mod:`.coverage` – who and what was observed (re-exported here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import schema
from .._results import Result
from ..errors import ModelError
from .aggregate import aggregate
from .components import VarianceComponents
from .coverage import coverage, observer_coverage
from .model import Z_95, TeachingQualityModel, teaching_quality_models
from .scoring import (
    HOME_ROLES,
    check_dimension,
    infer_home_schools,
    require_observations,
    score_forms,
)
from .summary import LEVEL_SV, index_summary

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..dataset import Dataset

__all__ = ["teaching_quality", "TeachingQualityResult", "coverage", "observer_coverage",
           "score_forms", "infer_home_schools", "HOME_ROLES", "LEVELS", "TIDY_COLUMNS"]

#: Aggregation levels of :func:`teaching_quality`.
LEVELS: tuple[str, ...] = ("school", "area", "municipality")
#: Contract columns of ``TeachingQualityResult.tidy()`` (extra columns follow).
TIDY_COLUMNS: list[str] = [
    "level", "unit", "term", "school_year", "dimension", "estimate", "se", "conf_low",
    "conf_high", "n_obs", "n_forms", "n_teachers", "n_observers", "reliability", "suppressed",
    "suppression_reason"]
_EXTRA_COLUMNS = ["n_schools", "unit_name"]


LEVELS_SV: dict[str, str] = {"skola": "school", "skolor": "school", "skolenhet": "school",
                             "område": "area", "skolområde": "area", "kommun": "municipality",
                             "huvudman": "municipality"}
"""Swedish level names users type (``by="skola"``) -> the level."""


def _level(value: str) -> str:
    return LEVELS_SV.get(str(value).strip().lower(), value)


def check_by(ds: Dataset, by: str | Sequence[str]) -> tuple[str, ...]:
    levels = tuple(_level(b) for b in ((by,) if isinstance(by, str) else tuple(by)))
    bad = [b for b in levels if b not in LEVELS]
    if bad or not levels:
        raise ModelError(
            f"Okänd nivå {', '.join(map(repr, bad)) or '(ingen)'} för undervisningsindexet",
            hint="Ange by=\"skola\", \"område\" eller \"kommun\" (eller school, area, "
                 "municipality, eller en lista av dem)")
    if "area" in levels and ("area" not in ds.schools.columns
                             or ds.schools["area"].isna().all()):
        raise ModelError(
            "Skolregistret saknar skolområden, så indexet kan inte redovisas per område",
            table="schools", column="area",
            hint="Fyll i kolumnen area i skolregistret eller välj by=\"school\"/\"municipality\"")
    return tuple(dict.fromkeys(levels))


class TeachingQualityResult(Result):
    """The teaching-quality index (made by :func:`teaching_quality`; never mutated).

    ``.tidy()`` has one row per unit × term × dimension: ``level`` (school,
    area, municipality), ``unit``, ``unit_name``, ``term``, ``school_year``,
    ``dimension``, ``estimate``, ``se``, ``conf_low``, ``conf_high``, ``n_obs``
    (lessons), ``n_forms``, ``n_teachers``, ``n_observers``, ``n_schools``
    (schools in the estimate), ``reliability``, ``suppressed`` and
    ``suppression_reason``. Suppressed rows keep their
    counts; estimate, SE and interval are NaN and ``suppression_reason`` says
    why. Other views: :meth:`model` (the fitted model of a score),
    :meth:`components`, :meth:`fixed_effects`, :meth:`cov` (joint covariance
    of the published school indices, for contrasts such as a change between
    terms), :meth:`yearly` and :meth:`observer_severity`.
    """

    def __init__(self, table: pd.DataFrame, models: dict[str, TeachingQualityModel],
                 by: tuple[str, ...], instrument_name: str, scale: tuple[int, int],
                 dimension_names: dict[str, str]) -> None:
        self._table = table
        self._models = dict(models)
        self.by = by
        self.dimensions = tuple(models)
        self.instrument_name = instrument_name
        self.scale = scale
        self.dimension_names = dimension_names

    # -- views ---------------------------------------------------------------
    def _tidy(self) -> pd.DataFrame:
        return self._table

    def model(self, dimension: str = "overall") -> TeachingQualityModel:
        """The fitted teaching-quality model behind the index of ``dimension``."""
        if dimension not in self._models:
            raise ModelError(f"Resultatet saknar dimensionen {dimension!r}",
                             hint="Välj en av " + ", ".join(self._models))
        return self._models[dimension]

    def components(self, dimension: str = "overall") -> VarianceComponents:
        """Variance components of the model behind the index."""
        return self.model(dimension).components

    @property
    def formula(self) -> dict[str, str]:
        """The model formula per dimension."""
        return {d: m.formula for d, m in self._models.items()}

    def fixed_effects(self, dimension: str = "overall") -> pd.DataFrame:
        """The model's fixed effects: term, Swedish label, estimate, se, 95 % interval."""
        return self.model(dimension).fixed_effects()

    def cov(self, dimension: str = "overall") -> pd.DataFrame:
        """Joint covariance of the published school × term indices.

        Index and columns are (school_id, term). Use it for contrasts: the
        change of a school between two terms has variance
        ``cov[a, a] + cov[b, b] − 2 cov[a, b]``.
        """
        return self.model(dimension).cell_covariance(published=True)

    def yearly(self, dimension: str = "overall") -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The index per school × school year with its joint covariance
        (:meth:`TeachingQualityModel.yearly`)."""
        return self.model(dimension).yearly()

    def observer_severity(self, dimension: str = "overall") -> pd.DataFrame:
        """Observers' estimated severity (conditional modes of the observer effect).

        Positive: the observer scores higher than an average observer of the
        same lessons would (after observation type and own-school leniency).
        Columns: observer_id, observer_role, home_school_id (latest school
        year), n_forms, estimate, se (lme4's conditional standard deviation).
        """
        return self.model(dimension).observer_severity()

    # -- text ----------------------------------------------------------------
    def _summary_text(self) -> str:
        return index_summary(self)

    def plot(self, ax: Axes | None = None, *, level: str | None = None,
             dimension: str = "overall", units: Sequence[str] | None = None) -> Axes:
        """Trajectories of the index per unit with 95 % bands; suppressed terms as gaps."""
        import matplotlib.pyplot as plt

        from ..errors import UnknownSchoolError

        level = _level(level) if level else self.by[0]
        if level not in self.by:
            raise ModelError(f"Indexet är inte beräknat per {LEVEL_SV.get(level, level)}",
                             hint="Beräkna det med teaching_quality(ds, by=[...]) med den "
                                  "nivån, eller välj level bland: "
                                  + ", ".join(LEVEL_SV.get(b, b) for b in self.by))
        t = self._table[self._table["level"] == level]
        if dimension not in set(t["dimension"]):
            raise ModelError(f"Okänd dimension {dimension!r}",
                             hint="Välj en av: " + ", ".join(sorted(set(t["dimension"]))))
        d = t[t["dimension"] == dimension]
        if units is not None:
            wanted = [str(u) for u in units]
            names = dict(zip(d["unit"].astype(str), d["unit_name"].astype(str)))
            by_name = {v.lower(): k for k, v in names.items()}
            codes = [u if u in names else by_name.get(u.lower(), u) for u in wanted]
            unknown = [u for u, c in zip(wanted, codes) if c not in names]
            if unknown:
                raise UnknownSchoolError(
                    f"Okänd enhet {unknown[0]!r}: den finns inte bland indexets enheter "
                    f"({LEVEL_SV.get(level, level)})",
                    hint="Ange en skolenhetskod eller ett skolnamn som finns i skolregistret, "
                         "t.ex. " + ", ".join(f"{k} ({v})" for k, v in list(names.items())[:3]))
            d = d[d["unit"].astype(str).isin(codes)]
        if ax is None:
            _, ax = plt.subplots(figsize=(7.0, 3.6))
        terms = sorted(set(d["term"]), key=schema.term_index)
        xs_of = {t: schema.term_index(t) for t in terms}
        for k, (unit, g) in enumerate(d.groupby("unit", sort=True)):
            g = g.assign(x=g["term"].map(xs_of)).sort_values("x")
            colour = f"C{k % 10}"
            name = str(g["unit_name"].iloc[0]) if pd.notna(g["unit_name"].iloc[0]) else str(unit)
            ax.fill_between(g["x"], g["conf_low"], g["conf_high"], color=colour, alpha=0.15,
                            lw=0)
            ax.plot(g["x"], g["estimate"], "o-", color=colour, ms=3, lw=1.2, label=name)
        ax.set_xticks([xs_of[t] for t in terms])
        ax.set_xticklabels(terms, rotation=45, ha="right")
        ax.set_xlabel("Termin")
        ax.set_ylabel(f"Index (skala {self.scale[0]}–{self.scale[1]})")
        dim_name = self.dimension_names.get(dimension, dimension)
        ax.set_title(f"Undervisningskvalitet per {LEVEL_SV[level]}: {dim_name} "
                     "(95 % konfidensintervall)")
        if d["unit"].nunique() <= 12:
            ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=7)
        return ax


def teaching_quality(ds: Dataset, by: str | Sequence[str] = "school",
                     dimension: str = "overall") -> TeachingQualityResult:
    """The teaching-quality index per school (area, municipality) × term.

    Parameters
    ----------
    ds : a Dataset with observations.
    by : ``"school"``, ``"area"`` or ``"municipality"``, or a list of them
        (the tidy table then holds every level asked for).
    dimension : ``"overall"``, a dimension id of the instrument, or ``"all"``
        (overall and every dimension; one model each).

    Returns
    -------
    TeachingQualityResult. ``.tidy()`` columns: level, unit, term,
    school_year, dimension, estimate, se, conf_low, conf_high, n_obs (lessons),
    n_forms, n_teachers, n_observers, reliability, suppressed,
    suppression_reason, n_schools, unit_name.

    Raises
    ------
    ModelError
        No observations, an unknown dimension or level, no areas in the
        school register for ``by="area"``, or a model that cannot be fitted.

    Notes
    -----
    The model, the reference conditions and the standard errors are
    described in :mod:`~undervisning_analys.measure.model`, the aggregation in
    :mod:`~undervisning_analys.measure.aggregate` and the own-school rule in
    :mod:`~undervisning_analys.measure.scoring`. The model of each score is
    fitted once per Dataset and shared with growth, the link and the
    decision study. Missing data: forms whose score for the dimension is missing
    under the instrument's half rule are left out. School × term cells with
    fewer than 3 observed teachers or 5 observed lessons are suppressed.
    """
    require_observations(ds)
    dims = check_dimension(ds, dimension)
    levels = check_by(ds, by)
    models = teaching_quality_models(ds, dims)
    parts = []
    for dim in dims:
        model = models[dim]
        school = model.school_cells()
        for level in levels:
            if level == "school":
                d = school.rename(columns={"school_id": "unit"}).assign(n_schools=1)
            else:
                d = aggregate(model, school, ds, level)
            parts.append(d.assign(level=level, dimension=dim))
    table = pd.concat(parts, ignore_index=True)
    table["school_year"] = table["term"].map(schema.term_school_year)
    sup = table["suppressed"].astype(bool)
    table.loc[sup, ["estimate", "se"]] = np.nan
    table["conf_low"] = table["estimate"] - Z_95 * table["se"]
    table["conf_high"] = table["estimate"] + Z_95 * table["se"]
    table = table[TIDY_COLUMNS + _EXTRA_COLUMNS].copy()
    table["suppressed"] = sup.to_numpy()
    for c in ("n_obs", "n_forms", "n_teachers", "n_observers", "n_schools"):
        table[c] = table[c].astype(int)
    order = {lv: i for i, lv in enumerate(LEVELS)}
    dorder = {d: i for i, d in enumerate(dims)}
    table = table.assign(_l=table["level"].map(order), _d=table["dimension"].map(dorder),
                         _t=table["term"].map(schema.term_index))
    table = table.sort_values(["_l", "_d", "unit", "_t"]).drop(columns=["_l", "_d", "_t"])
    table = table.reset_index(drop=True)
    names = {"overall": "samtliga dimensioner", **ds.instrument.dimension_names()}
    return TeachingQualityResult(table, models, levels, ds.instrument.name,
                                 ds.instrument.scale, names)
