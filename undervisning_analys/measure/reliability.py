"""Reliability of school × term means and the decision study (how many observations?).

Three entry points:

* :func:`variance_components` – the variance of a form's score split into
  school, school × term, teacher, observer, lesson and residual, from the
  teaching-quality model (:mod:`undervisning_analys.measure.model`);
* :func:`reliability` – the reliability of a school × term mean given its
  numbers of observed lessons, teachers and observers (and forms);
* :func:`plan_observations` – the decision study: how many observed lessons
  per term a school needs for a target reliability (0.7, 0.8, …) of a term's
  level and, with ``change=`` or ``change_reliability=``, to see the school's
  change (its trend over ``years`` school years; :mod:`.change`): one planner,
  one result, level and change rows side by side.

The generalizability-theory formula
-----------------------------------
The object of measurement is a school in a term (``p``). A form's score,
apart from the fixed effects (time, observation type, own-school leniency), is

    y = school(t) + school_term + teacher + observer + lesson + residual

with variances ``σ²_S(t)``, ``σ²_ST``, ``σ²_T``, ``σ²_O``, ``σ²_L`` and ``σ²_e``
(:class:`VarianceComponents`). ``σ²_S(t) = [1 t] Σ_S [1 t]'`` is the
between-school variance of the schools' levels at time ``t`` (years since the
first term) under the model's random intercept and trend; by default
(``time=None``) it is averaged over the observed terms. The true score of a
school × term is ``school(t) + school_term``, so the universe-score variance is
``τ = σ²_S(t) + σ²_ST``. The mean of the ``F`` forms of a cell has the relative
error variance (Cronbach et al. 1972; Brennan 2001, ch. 4–5, for a design with
teachers nested in the object of measurement and observers largely nested in
schools)

    σ²_δ = σ²_T / n_T + σ²_O / n_O + σ²_L / n_L + σ²_e / F

and the generalizability (reliability) coefficient is ``Eρ² = τ / (τ + σ²_δ)``:
the share of the variance between schools' term means (in the same term) that
reflects true differences. Teachers are in the error because the index
describes the school, not the few teachers who happened to be observed;
observers are in the error because different schools are seen by different
observers (principals rate their own schools).

The counts are *effective* numbers, which equal the plain counts in a balanced
design (every teacher, observer and lesson with the same number of forms):
``n_T = F² / Σ_j m_j²`` with ``m_j`` forms of teacher ``j`` (likewise ``n_O``
over observers and ``n_L`` over lessons, whose ``f_l`` is 1 or 2 for a paired
observation). ``teaching_quality`` reports this reliability for every cell.
It is the reliability of the plain mean; the model-based index, which also
removes the estimated observer severities and observation-type differences,
is at least as reliable.

When the data have too few paired observations (fewer than 20 lessons with two
forms) the lesson and residual variances cannot be separated; the lesson
variance is then 0 and its part is in the residual, so that ``σ²_e / F`` is an
approximation (exact when every lesson has one form).

The decision study
------------------
:func:`plan_observations` evaluates the formula for ``n = 1, 2, …`` observed
lessons per term under a design:

* ``F = n (1 + p)`` forms, where ``p`` is the share of paired lessons, and
  ``n_L = n (1 + p)² / (1 + 3p)``;
* teachers drawn at random (with replacement) among the school's ``N``
  teachers (``teacher_sampling="random"``, as happens when visits are not
  planned per teacher): in expectation ``1/n_T = 1/N + (1 − 1/N) / n_L``; or
  spread so that no teacher is visited twice before all have been visited
  (``"spread"``): ``1/n_T = max(1/n_L, 1/N)``;
* the forms shared among observers with shares ``s_o``, summarised as the
  effective number of observers ``K = 1 / Σ s_o²`` (3 observers sharing
  equally: ``K = 3``; a principal doing half and two others a quarter each:
  ``K = 2.67``): ``1/n_O = 1/K + (1 − 1/K) / F``.

It recommends the smallest ``n`` whose reliability reaches the target. With a
finite staff and a fixed set of observers the reliability has a ceiling,
``τ / (τ + σ²_T/N + σ²_O/K)``; a target above it cannot be reached by more
visits, only by more observers (or external observers).

Checked: a Monte Carlo of the linear model under this random design matches
the planner's curve (``tests/test_reliability.py``); the planner against the
known truth of a synthetic municipality is in ``benchmarks/sim_index_coverage.py``
(figures in ``benchmarks/RESULTS.md``).

References
----------
Cronbach, L. J., Gleser, G. C., Nanda, H. & Rajaratnam, N. (1972). *The
dependability of behavioral measurements.* Wiley.
Brennan, R. L. (2001). *Generalizability theory.* Springer.
Hill, H. C., Charalambous, C. Y. & Kraft, M. A. (2012). When rater reliability
is not enough: teacher observation systems and a case for the generalizability
study. *Educational Researcher*, 41(2), 56–64.
Ho, A. D. & Kane, T. J. (2013). *The reliability of classroom observations by
school personnel.* MET project, Bill & Melinda Gates Foundation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._format import number
from .._format import text_table as _text_table
from .._results import Result
from ..errors import ModelError
from .change import change_precision, plan_observations_change
from .components import (
    COMPONENTS,
    VarianceComponents,
    as_components,
    reliability,
)
from .model import teaching_quality_model
from .scoring import check_dimension, score_forms

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..dataset import Dataset



def _fmt(x: float | None, digits: int = 2, sign: bool = False) -> str:
    """The shared Swedish number format; "–" for a missing figure in these tables."""
    return number(x, digits, sign, missing="–")


def _pct(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{number(100 * x, 0)} %"


GOALS = ("level", "change_power", "change_reliability")
"""The goals of a decision study (``ObservationPlan.tidy()["goal"]``)."""


def goal_text(row: Mapping[str, object]) -> str:
    """A plan row's goal in Swedish (``"reliabilitet 0,70 för en termins nivå"`` …)."""
    goal = row.get("goal", "level")
    target = float(row["target"])  # type: ignore[arg-type]
    if goal == "level":
        return f"reliabilitet {_fmt(target, 2)} för en termins nivå"
    years = int(row["years"])  # type: ignore[call-overload]
    if goal == "change_power":
        return (f"upptäcka en förändring på {_fmt(float(row['change']), 2)} poäng per "  # type: ignore[arg-type]
                f"läsår med {number(100 * target, 0)} % sannolikhet (trend över {years} läsår)")
    return f"reliabilitet {_fmt(target, 2)} för förändringen (trend över {years} läsår)"


__all__ = ["VarianceComponents", "ObservationPlan", "variance_components", "reliability",
           "plan_observations", "school_designs", "goal_text", "GOALS", "COMPONENTS"]

TeacherSampling = Literal["random", "spread"]


def variance_components(ds: Dataset, dimension: str = "overall") -> VarianceComponents:
    """Variance components of form scores from the teaching-quality model.

    Parameters
    ----------
    ds : a Dataset with observations.
    dimension : ``"overall"`` or a dimension id of the instrument.

    Returns
    -------
    VarianceComponents; ``.tidy()`` has one row per component with variance,
    sd and share of the total (school, school × term, teacher, observer,
    lesson, residual) and rows for the school intercept and trend.

    Notes
    -----
    The model and its missing-data policy are those of
    :func:`~undervisning_analys.measure.index.teaching_quality` (fitted once
    per Dataset and shared with the index; forms whose
    dimension score is missing under the instrument's half rule are left out).
    The school share uses the between-school variance averaged over the
    observed terms (see the module docstring).
    """
    dims = check_dimension(ds, dimension)
    if len(dims) != 1:
        raise ModelError("variance_components tar en dimension åt gången, inte \"all\"",
                         hint="Ange \"overall\" eller en dimensions id")
    return teaching_quality_model(ds, dims[0]).components


# --------------------------------------------------------------------------
# Decision study
# --------------------------------------------------------------------------
def _design(n: np.ndarray, n_teachers: float, k_observers: float, paired: float,
            sampling: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Effective numbers of lessons, forms, teachers and observers for n lessons/term."""
    forms = n * (1 + paired)
    n_l = n * (1 + paired) ** 2 / (1 + 3 * paired)
    inv_n = 1.0 / n_teachers if math.isfinite(n_teachers) else 0.0
    if sampling == "random":
        inv_t = inv_n + (1 - inv_n) / n_l
    else:
        inv_t = np.maximum(1.0 / n_l, inv_n)
    inv_k = 1.0 / k_observers if math.isfinite(k_observers) else 0.0
    inv_o = inv_k + (1 - inv_k) / forms
    return n_l, forms, 1.0 / inv_t, 1.0 / inv_o


def _curve(comp: VarianceComponents, ns: np.ndarray, n_teachers: float, k_observers: float,
           paired: float, sampling: str, time: float | None) -> np.ndarray:
    n_l, forms, n_t, n_o = _design(ns, n_teachers, k_observers, paired, sampling)
    return np.asarray(reliability(n_l, n_t, n_o, comp, n_forms=forms, time=time), dtype=float)


def _ceiling(comp: VarianceComponents, n_teachers: float, k_observers: float,
             time: float | None) -> float:
    tau = float(comp.true_variance(time))
    err = ((comp.teacher / n_teachers if math.isfinite(n_teachers) else 0.0)
           + (comp.observer / k_observers if math.isfinite(k_observers) else 0.0))
    return tau / (tau + err) if tau + err > 0 else float("nan")


@dataclass(frozen=True, eq=False)
class ObservationPlan(Result):
    """A decision study (made by :func:`plan_observations`).

    ``.tidy()``: one row per school (or design) × goal × target. ``goal`` is
    ``"level"`` (reliability of a term's index), ``"change_power"`` (power to
    detect a change of ``change`` per school year in the school's trend over
    ``years`` school years) or ``"change_reliability"`` (reliability of that
    trend); ``n_obs_needed`` (observed lessons per term; missing when the
    target cannot be reached), the reliability (and power) then, the present
    number and reliability (and power), and the ceilings. ``.table()`` is the
    same in Swedish; ``.curve()`` the reliability (and, with change goals,
    the reliability of change and power) for every number of lessons.
    """

    rows: pd.DataFrame
    curves: pd.DataFrame
    components: VarianceComponents
    teacher_sampling: str = "random"
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The change goals' settings (change, years, alpha, same_observers, time)."""

    def _tidy(self) -> pd.DataFrame:
        return self.rows.copy()

    def curve(self) -> pd.DataFrame:
        """Reliability for n = 1, 2, … lessons per term (unit, n_obs, reliability)."""
        return self.curves.copy()

    def at(self, lessons: pd.DataFrame) -> pd.DataFrame:
        """The precision a given number of lessons per term gives each unit (e.g. a plan's).

        ``lessons``: columns ``unit`` and ``n_obs`` (lessons per term; may be
        fractional), optionally ``paired_share`` (default: the unit's design in
        this plan) and ``years`` (the trend's window, e.g. a plan's period;
        default the plan's ``years``). Units not in the plan are left out. Returns unit, n_obs,
        paired_share, reliability (of a term's level), and with change goals
        years, change, se_change, reliability_change and power (at the plan's
        ``alpha``); NaN for fewer than one lesson.
        """
        design = self.rows.drop_duplicates("unit").set_index("unit")
        st = self.settings
        out = []
        for r in lessons.to_dict("records"):
            unit = r["unit"]
            if unit not in design.index:
                continue
            d = design.loc[unit]
            n = float(r["n_obs"])
            share = float(r.get("paired_share", d["paired_share"]))
            if not np.isfinite(share) or not 0 <= share <= 1:
                share = float(d["paired_share"])
            ok = np.isfinite(n) and n >= 1
            rel = (float(_curve(self.components, np.array([n]), d["n_teachers"],
                                d["n_observers"], share, self.teacher_sampling,
                                st.get("time"))[0]) if ok else np.nan)
            row: dict[str, Any] = {"unit": unit, "n_obs": n, "paired_share": share,
                                   "reliability": rel}
            if st.get("years") is not None:
                y = r.get("years")
                years = int(y) if y is not None and np.isfinite(y) and y >= 1 else st["years"]
                cp = (change_precision(
                    self.components, n, change=st.get("change"), alpha=st.get("alpha", 0.05),
                    years=years, paired_share=share, teacher_sampling=self.teacher_sampling,
                    n_teachers=None if not np.isfinite(d["n_teachers"]) else d["n_teachers"],
                    n_observers=d["n_observers"], same_observers=st.get("same_observers", True))
                      if ok else None)
                row.update({"years": int(years),
                            "change": np.nan if st.get("change") is None else float(st["change"]),
                            "se_change": np.nan if cp is None else float(cp["se"]),
                            "reliability_change": np.nan if cp is None else float(cp["reliability"]),
                            "power": np.nan if cp is None else float(cp["power"])})
            out.append(row)
        return pd.DataFrame(out)

    def table(self) -> pd.DataFrame:
        """The plan as a table with Swedish column names and values."""
        t = self.rows
        out = pd.DataFrame({
            "Skola": t["school_name"].fillna(t["unit"]),
            "Mål": [goal_text(r) for r in t.to_dict("records")],
            "Lektionsbesök per termin som behövs": [
                str(int(v)) if pd.notna(v) else "kan inte nås" for v in t["n_obs_needed"]],
            "Reliabilitet då": t["reliability_at_needed"].map(lambda v: _fmt(v, 2)),
            "Styrka då": t["power_at_needed"].map(_pct),
            "Lektionsbesök per termin nu": t["n_obs_now"].map(lambda v: _fmt(v, 1)),
            "Reliabilitet nu": t["reliability_now"].map(lambda v: _fmt(v, 2)),
            "Styrka nu": t["power_now"].map(_pct),
            "Högsta möjliga reliabilitet": t["max_reliability"].map(lambda v: _fmt(v, 2)),
            "Lärare": t["n_teachers"].map(lambda v: "–" if not np.isfinite(v) else str(int(v))),
            "Observatörer (effektivt antal)": t["n_observers"].map(lambda v: _fmt(v, 1)),
        })
        return out

    def _summary_text(self) -> str:
        t = self.rows
        samp = ("lärarna väljs slumpvis vid varje besök" if self.teacher_sampling == "random"
                else "besöken sprids så att ingen lärare besöks två gånger innan alla besökts")
        lines = ["Hur många lektionsbesök per termin behövs? (beslutsstudie)",
                 "Reliabiliteten anger hur stor del av skillnaderna mellan skolornas "
                 "terminsmedelvärden som speglar verkliga skillnader i undervisningen (0–1); "
                 "0,7 räcker för att följa utvecklingen över tid, 0,8 för jämförelser mellan "
                 f"skolor. Beräkningen antar att {samp} och att observatörerna delar på "
                 "besöken som hittills.", ""]
        tab = self.table()
        cols = ["Skola", "Mål", "Lektionsbesök per termin som behövs",
                "Reliabilitet då", "Lektionsbesök per termin nu", "Reliabilitet nu",
                "Högsta möjliga reliabilitet"]
        if (t["goal"] == "change_power").any():
            cols.insert(4, "Styrka då")
        lines += _text_table(cols, tab[cols].astype(str).values.tolist())
        if (t["goal"] != "level").any():
            years = int(t.loc[t["goal"] != "level", "years"].iloc[0])
            lines += ["", f"Förändringen är skolans trend över {years} läsår ({2 * years} "
                          "terminer), aldrig skillnaden mellan två terminer. Reliabiliteten för "
                          "förändringen betyder samma sak som för nivån: hur stor del av "
                          "skillnaderna mellan skolornas skattade trender som är verklig. "
                          "Förändring kräver fler besök än nivå, och terminens svängningar sätter "
                          "ett tak som bara en längre period kommer förbi."]
        if (~t["reachable"]).any():
            lines += ["", "”kan inte nås”: med skolans lärare och observatörer finns ett tak för "
                          "reliabiliteten som fler besök inte kommer förbi. Fler observatörer "
                          "(t.ex. kollegor från andra skolor eller externa observatörer) "
                          "höjer taket."]
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None, unit: str | None = None) -> Axes:
        """Reliability against lessons per term, with the targets as lines."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.0, 3.2))
        c = self.curves
        units = [unit] if unit is not None else list(dict.fromkeys(c["unit"]))
        names = dict(zip(self.rows["unit"], self.rows["school_name"].fillna(self.rows["unit"])))
        for k, u in enumerate(units[:10]):
            g = c[c["unit"] == u]
            ax.plot(g["n_obs"], g["reliability"], color=f"C{k % 10}", lw=1.4,
                    label=str(names.get(u, u)))
            if "reliability_change" in g:  # the change beside the level, dashed
                ax.plot(g["n_obs"], g["reliability_change"], color=f"C{k % 10}", lw=1.2,
                        ls="--", label=f"{names.get(u, u)}: förändring" if unit else None)
        for target in sorted(set(self.rows["target"])):
            ax.axhline(target, color="0.4", lw=1, ls="--")
        ax.set_ylim(0, 1)
        ax.set_xlabel("Lektionsbesök per termin")
        ax.set_ylabel("Reliabilitet")
        ax.set_title("Reliabilitet för skolans terminsmedelvärde"
                     + (" (streckat: för förändringen)" if "reliability_change" in c else ""))
        if len(units) > 1:
            ax.legend(loc="lower right", frameon=False, fontsize=7)
        return ax


def school_designs(ds: Dataset) -> pd.DataFrame:
    """Per school, its observation design in its latest school year with observations.

    Columns: unit (school_id), school_name, n_teachers (observed), n_observers
    (effective number ``1 / Σ share²``), paired_share, n_obs_now (lessons per term).
    """
    f = score_forms(ds)
    last = f.groupby("school_id")["school_year"].transform("max")
    f = f.loc[f["school_year"] == last, ["school_id", "observation_id", "observer_id",
                                          "teacher_id", "term"]]
    if not len(f):
        return pd.DataFrame()
    names = dict(zip(ds.schools["school_id"], ds.schools["school_name"]))
    # grouped once for all schools (a loop over schools took seconds at 200 schools)
    forms = f.groupby(["school_id", "observation_id"], sort=True, observed=True).size()
    lessons = forms.groupby(level=0, sort=True)
    per_observer = f.groupby(["school_id", "observer_id"], sort=True, observed=True).size()
    shares = per_observer / per_observer.groupby(level=0).transform("sum")
    by_school = f.groupby("school_id", sort=True, observed=True)
    units = lessons.size().index
    out = pd.DataFrame({
        "unit": units.to_numpy(dtype=object),
        "school_name": [names.get(sid, sid) for sid in units],
        "n_teachers": by_school["teacher_id"].nunique().reindex(units).to_numpy(float),
        "n_observers": (1.0 / (shares ** 2).groupby(level=0).sum()).reindex(units)
        .to_numpy(float),
        "paired_share": (forms > 1).groupby(level=0).mean().reindex(units).to_numpy(float),
        "n_obs_now": (lessons.size() / by_school["term"].nunique()).reindex(units)
        .to_numpy(float),
    })
    return out


def plan_observations(source: Dataset | VarianceComponents | Mapping[str, float],
                      target: float | Sequence[float] = (0.7, 0.8), *,
                      school_id: str | Sequence[str] | None = None,
                      n_teachers: float | None = None, n_observers: float | None = None,
                      paired_share: float | None = None,
                      teacher_sampling: TeacherSampling = "random",
                      dimension: str = "overall", time: float | None = None,
                      max_obs: int = 200,
                      components: VarianceComponents | Mapping[str, float] | None = None,
                      change: float | None = None, change_reliability: float | None = None,
                      years: int = 2, power: float = 0.8, alpha: float = 0.05,
                      same_observers: bool = True,
                      ) -> ObservationPlan:
    """How many observed lessons per term a school needs for a target reliability.

    For a term's level and, with ``change`` or ``change_reliability``, for the
    school's change: the planner of :mod:`.change` evaluated for the same
    schools and designs, its rows in the same result.

    Parameters
    ----------
    source : a Dataset (components are estimated with :func:`variance_components`
        and each school's design is read from its latest school year), or
        components (:class:`VarianceComponents` or a dict) for a design given by
        the arguments below.
    target : one reliability or several (default 0.7 and 0.8).
    school_id : with a Dataset, the school(s) to plan for (default all).
    n_teachers : teachers at the school. Default: with a Dataset, the teachers
        observed in the latest school year; with components, unlimited.
    n_observers : effective number of observers ``1 / Σ share²``. Default: with
        a Dataset, the school's in the latest school year; with components, 3.
    paired_share : share of lessons observed by two observers. Default: with a
        Dataset, the school's; with components, 0.
    teacher_sampling : ``"random"`` (default) or ``"spread"`` (see module doc).
    dimension : ``"overall"`` or a dimension id (with a Dataset).
    time : years since the first term for the between-school variance
        (default: the average over the observed terms).
    max_obs : the largest number of lessons per term considered.
    components : with a Dataset, components to use instead of fitting the model
        again (e.g. ``teaching_quality(ds).components()``).
    change : a change per school year (score points, e.g. 0.2) to detect with
        probability ``power`` in the school's trend over ``years`` school years:
        adds a ``"change_power"`` row per school.
    change_reliability : a reliability of that trend (e.g. 0.7): adds a
        ``"change_reliability"`` row per school; needs a random school trend
        in the components.
    years : school years the trend covers (two terms each; default 2).
    power, alpha : the wanted power and the two-sided level of the test of no change.
    same_observers : the same observers over the window (their severities cancel
        in a trend; see :mod:`.change`).

    Returns
    -------
    ObservationPlan (``.tidy()``, Swedish ``.table()`` and ``.summary()``,
    ``.plot()``). ``.tidy()`` columns: unit, school_name, dimension, goal
    (``level``, ``change_power``, ``change_reliability``), target, change,
    years, n_obs_needed, reliability_at_needed (of the level, or of the change
    for the change goals), power_at_needed, se_change_at_needed, n_obs_now,
    reliability_now, power_now, max_reliability, max_power, reachable,
    n_teachers, n_observers, paired_share. A level row has NaN in the change
    columns; ``change_power`` and ``change_reliability`` rows give the
    reliability of the change (at the needed number, now and its ceiling).

    Notes
    -----
    The change rows are those of
    :func:`~.change.plan_observations_change` with the school's design (its
    teachers, effective observers and paired share); its checks and errors
    apply (e.g. ``change_reliability`` without a school trend variance).
    """
    from ..dataset import Dataset

    if isinstance(target, (int, float, np.floating)):
        targets = [float(target)]
    else:
        targets = [float(t) for t in target]
    for t in targets:
        if not 0 < t < 1:
            raise ModelError(f"Målet för reliabiliteten ska ligga mellan 0 och 1, men är {t}",
                             hint="Ange t.ex. target=0.8")
    if teacher_sampling not in ("random", "spread"):
        raise ModelError(f"teacher_sampling ska vara \"random\" eller \"spread\", "
                         f"men är {teacher_sampling!r}")
    if isinstance(source, Dataset):
        comp = (variance_components(source, dimension) if components is None
                else as_components(components))
        designs = school_designs(source)
        if school_id is not None:
            wanted = [school_id] if isinstance(school_id, str) else list(school_id)
            unknown = [s for s in wanted if s not in set(designs["unit"])]
            if unknown:
                from ..errors import UnknownSchoolError
                raise UnknownSchoolError(
                    f"Skolenheten {', '.join(unknown)} har inga lektionsobservationer i "
                    "datamängden", column="school_id",
                    hint="Ange en skolenhetskod som finns i observationerna")
            designs = designs[designs["unit"].isin(wanted)]
        if n_teachers is not None:
            designs["n_teachers"] = float(n_teachers)
        if n_observers is not None:
            designs["n_observers"] = float(n_observers)
        if paired_share is not None:
            designs["paired_share"] = float(paired_share)
    else:
        comp = as_components(source)
        designs = pd.DataFrame([{
            "unit": "plan", "school_name": None,
            "n_teachers": float("inf") if n_teachers is None else float(n_teachers),
            "n_observers": 3.0 if n_observers is None else float(n_observers),
            "paired_share": 0.0 if paired_share is None else float(paired_share),
            "n_obs_now": np.nan}])
    if not np.isfinite(comp.true_variance(time)):
        raise ModelError(
            "Skillnaden mellan skolor kan inte skattas (data från bara en skola), så "
            "reliabiliteten och antalet besök som behövs kan inte beräknas",
            hint="Använd data från flera skolor, eller ange varianskomponenterna själv")
    for col, lo in (("n_teachers", 1.0), ("n_observers", 1.0)):
        if (designs[col] < lo).any():
            raise ModelError(f"{col} måste vara minst 1", hint="Ange ett antal ≥ 1")
    if ((designs["paired_share"] < 0) | (designs["paired_share"] > 1)).any():
        raise ModelError("paired_share ska ligga mellan 0 och 1")
    wants_change = change is not None or change_reliability is not None
    ns = np.arange(1, int(max_obs) + 1, dtype=float)
    rows: list[dict[str, object]] = []
    curves: list[pd.DataFrame] = []
    for d in designs.itertuples(index=False):
        rel = _curve(comp, ns, d.n_teachers, d.n_observers, d.paired_share, teacher_sampling,
                     time)
        curves.append(pd.DataFrame({"unit": d.unit, "n_obs": ns.astype(int),
                                    "reliability": rel}))
        ceiling = _ceiling(comp, d.n_teachers, d.n_observers, time)
        now = (float(_curve(comp, np.array([d.n_obs_now]), d.n_teachers, d.n_observers,
                            d.paired_share, teacher_sampling, time)[0])
               if np.isfinite(d.n_obs_now) and d.n_obs_now >= 1 else np.nan)
        for t in targets:
            ok = np.nonzero(rel >= t)[0]
            need = int(ns[ok[0]]) if len(ok) else None
            rows.append({
                "unit": d.unit, "school_name": d.school_name, "dimension": comp.dimension,
                "goal": "level", "target": t, "change": np.nan, "years": np.nan,
                "n_obs_needed": need,
                "reliability_at_needed": float(rel[ok[0]]) if len(ok) else np.nan,
                "power_at_needed": np.nan, "se_change_at_needed": np.nan,
                "n_obs_now": d.n_obs_now, "reliability_now": now, "power_now": np.nan,
                "max_reliability": ceiling, "max_power": np.nan,
                "reachable": need is not None,
                "n_teachers": d.n_teachers, "n_observers": d.n_observers,
                "paired_share": d.paired_share})
        if wants_change:
            design = {"years": years,  # checked by plan_observations_change
                      "n_teachers": None if not np.isfinite(d.n_teachers) else d.n_teachers,
                      "n_observers": d.n_observers, "paired_share": d.paired_share,
                      "teacher_sampling": teacher_sampling, "same_observers": same_observers}
            cp = plan_observations_change(comp, change, power=power, alpha=alpha,
                                          target_reliability=change_reliability,
                                          max_obs=max_obs, **design)
            cc = cp.curves  # read, not changed (curve() would copy it)
            curves[-1]["reliability_change"] = cc["reliability_change"].to_numpy()
            if "power" in cc:
                curves[-1]["power"] = cc["power"].to_numpy()
            now_c = (change_precision(comp, d.n_obs_now, change=change, alpha=alpha, **design)
                     if np.isfinite(d.n_obs_now) and d.n_obs_now >= 1 else None)
            ceiling_c = change_precision(comp, 1e12, change=change, alpha=alpha, **design)
            for goal, aim, needed in zip(cp.rows["goal"].tolist(), cp.rows["target"].tolist(),
                                         cp.rows["n_obs_needed"].tolist(), strict=True):
                need_c = int(needed) if np.isfinite(needed) else None
                at = (None if need_c is None else
                      change_precision(comp, need_c, change=change, alpha=alpha, **design))
                rows.append({
                    "unit": d.unit, "school_name": d.school_name, "dimension": comp.dimension,
                    "goal": f"change_{goal}", "target": float(aim),
                    "change": float(change) if change is not None else np.nan,
                    "years": int(years), "n_obs_needed": need_c,
                    "reliability_at_needed": np.nan if at is None else float(at["reliability"]),
                    "power_at_needed": np.nan if at is None else float(at["power"]),
                    "se_change_at_needed": np.nan if at is None else float(at["se"]),
                    "n_obs_now": d.n_obs_now,
                    "reliability_now": np.nan if now_c is None else float(now_c["reliability"]),
                    "power_now": np.nan if now_c is None else float(now_c["power"]),
                    "max_reliability": float(ceiling_c["reliability"]),
                    "max_power": float(ceiling_c["power"]),
                    "reachable": need_c is not None,
                    "n_teachers": d.n_teachers, "n_observers": d.n_observers,
                    "paired_share": d.paired_share})
    out = pd.DataFrame(rows)
    out["n_obs_needed"] = out["n_obs_needed"].astype("Int64")
    out["years"] = out["years"].astype("Int64")
    settings = {"time": time, "alpha": alpha, "same_observers": same_observers,
                "years": int(years) if wants_change else None, "change": change,
                "change_reliability": change_reliability, "power": power}
    return ObservationPlan(rows=out, curves=pd.concat(curves, ignore_index=True),
                           components=comp, teacher_sampling=teacher_sampling,
                           settings=settings)
