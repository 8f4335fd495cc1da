"""Reliability of change: how many lessons per term to see a school's change?

:func:`plan_observations_change` answers the question the quality dialogue
asks – "would we see it if this school improved by 0.2 points in a year?" –
from the municipality's own variance components
(:class:`~.reliability.VarianceComponents`), beside the reliability of a
level that :func:`~.reliability.plan_observations` plans for.

The change is a trend, never a difference of two terms
------------------------------------------------------
A school's change is the slope of its term means over a window of ``years``
school years (two terms each), estimated by least squares: with term times
``t_k = 0, ½, 1, …`` (years), ``S_tt = Σ (t_k − t̄)²`` and term means
``ȳ_k = a + b t_k + e_k + δ_k``,

    Var(b̂ | b) = (σ²_ST + σ²_Δ(n)) / S_tt

where ``σ²_ST`` is the school × term variance (real movement from term to term
around the school's line, which a trend must average out) and ``σ²_Δ(n)`` the
part of a term mean's measurement error that is *new every term*. That part
differs from the error of a level (:mod:`.reliability`): what stays the same
from term to term cancels in a trend.

* Teachers: the school's staff is the same (apart from turnover), so the
  staff's own average is part of the school's true level and cancels; what
  varies is which teachers happen to be visited. With ``N`` teachers and the
  design's effective number ``n_T``, ``σ²_T (1/n_T − 1/N)``.
* Observers: with the same observers every term (``same_observers=True``),
  their severities cancel, and only the changing mix of who observes varies:
  ``σ²_O (1 − 1/K) / F`` for ``K`` effective observers and ``F`` forms. With
  new observers every term (``same_observers=False``) the whole
  ``σ²_O (1/K + (1 − 1/K)/F)`` is error.
* Lessons and rating noise are new every term: ``σ²_L/n_L + σ²_e/F``.

The design numbers follow the decision study of :mod:`.reliability`: ``n``
lessons per term with a share ``p`` observed in pairs give ``F = n(1 + p)``
forms and ``n_L = n(1 + p)² / (1 + 3p)`` effective lessons; teachers drawn at
random give ``1/n_T = 1/N + (1 − 1/N)/n_L`` (spread: ``max(1/n_L, 1/N)``).

Power and reliability
---------------------
For a true change ``Δ`` per school year, the two-sided test at level ``α`` of
"no change" has power ``Φ(Δ/se − z) + Φ(−Δ/se − z)`` with ``se = √Var(b̂ | b)``
and ``z = Φ⁻¹(1 − α/2)``; 80 % power needs ``se ≤ Δ / (z + Φ⁻¹(0.8))``. The
reliability of the change is the share of the variance of estimated trends
between schools that is real: ``σ²_b / (σ²_b + se²)``, with ``σ²_b`` the
variance of the schools' trends (``VarianceComponents.school_cov[1, 1]``).
Both have a ceiling: with unlimited lessons ``se² → σ²_ST / S_tt`` (plus
``σ²_O / (K S_tt)`` when the observers change), and a longer window (more
terms) is then the only way up.

What this plans for is the plain least-squares trend of a school's term
means; the index's model-based trend (:func:`~.index.teaching_quality`) also
removes observers' severities and borrows strength, and is at least as
precise. Checked by simulation of the linear model with a fixed staff and
fixed observers (``tests/test_change.py``, ``benchmarks/sim_change.py``), and
against the package's own pipeline on synthetic municipalities
(``benchmarks/sim_change_pipeline.py``, 30 seeds × 20 schools, 4 school
years): the plain trend's error is 9 % larger than the planner's standard
error (plain means also carry the changing mix of visit types and observers,
which the model removes), while the model's school trend (``ua.growth``,
what the reports show) correlates with the truth at corr² 0.70 against the
planner's reliability of change 0.65 – the planner errs on the safe side for
what the reports show.

References
----------
Ho, A. D. & Kane, T. J. (2013). *The reliability of classroom observations by
school personnel.* MET project. Rogosa, D. & Willett, J. B. (1983).
Demonstrating the reliability of the difference score in the measurement of
change. *J. Educational Measurement*, 20(4), 335–343. Willett, J. B. (1988).
Questions and answers in the measurement of change. *Review of Research in
Education*, 15, 345–422.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._format import number
from .._results import Result
from ..errors import ModelError
from .components import VarianceComponents, as_components, reliability

__all__ = ["ChangePlan", "change_precision", "change_se", "plan_observations_change",
           "DIALOGUE_CHANGE", "DIALOGUE_YEARS", "DIALOGUE_TARGET", "dialogue_goals"]

DIALOGUE_CHANGE = 0.2
"""The change per school year the reports and plan templates plan for (score points)."""
DIALOGUE_YEARS = 3
"""The window (school years) of a school's trend in the reports and plan templates: a
plan's period (``plans.layout.TERMS_AHEAD`` terms)."""
DIALOGUE_TARGET = 0.7
"""The reliability the reports and plan templates plan for, of a level and of a change."""


def dialogue_goals(components: VarianceComponents | Mapping[str, float]) -> dict[str, Any]:
    """The goals of the reports' and templates' decision study, as keywords of
    :func:`~.reliability.plan_observations`.

    Reliability ``DIALOGUE_TARGET`` of a term's level; for the school's trend
    over ``DIALOGUE_YEARS`` school years (a plan's period), 80 % power for a
    change of ``DIALOGUE_CHANGE`` per school year and the reliability
    ``DIALOGUE_TARGET`` of the change – the latter only when the components
    have a variance of the schools' trends (the model's random school trend).
    """
    comp = _as_components(components)
    cov = np.atleast_2d(comp.school_cov)
    has_trend = bool(cov.shape == (2, 2) and np.isfinite(cov[1, 1]) and cov[1, 1] > 0)
    return {"target": DIALOGUE_TARGET, "change": DIALOGUE_CHANGE, "years": DIALOGUE_YEARS,
            "change_reliability": DIALOGUE_TARGET if has_trend else None}


_as_components = as_components


def _design(n: np.ndarray, n_teachers: float, k_observers: float, paired: float,
            sampling: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Effective lessons, forms, 1/n_T and 1/n_O for n lessons per term (as reliability)."""
    forms = n * (1 + paired)
    n_l = n * (1 + paired) ** 2 / (1 + 3 * paired)
    inv_n = 1.0 / n_teachers if math.isfinite(n_teachers) else 0.0
    inv_t = inv_n + (1 - inv_n) / n_l if sampling == "random" else np.maximum(1 / n_l, inv_n)
    inv_k = 1.0 / k_observers if math.isfinite(k_observers) else 0.0
    inv_o = inv_k + (1 - inv_k) / forms
    return n_l, forms, inv_t, inv_o


def _s_tt(years: int) -> float:
    t = np.arange(2 * years) / 2.0
    return float(((t - t.mean()) ** 2).sum())


def change_se(components: VarianceComponents | Mapping[str, float], n_obs: Any, *,
              years: int = 2, n_teachers: float | None = None, n_observers: float = 3.0,
              paired_share: float = 0.0,
              teacher_sampling: Literal["random", "spread"] = "random",
              same_observers: bool = True) -> Any:
    """Standard error of a school's trend per school year with ``n_obs`` lessons per term.

    See the module docstring for the formula. ``n_obs`` may be an array.
    """
    comp = _as_components(components)
    n = np.asarray(n_obs, dtype=float)
    big_n = float("inf") if n_teachers is None else float(n_teachers)
    k = float(n_observers)
    n_l, forms, inv_t, inv_o = _design(n, big_n, k, paired_share, teacher_sampling)
    inv_n = 1.0 / big_n if math.isfinite(big_n) else 0.0
    inv_k = 1.0 / k if math.isfinite(k) else 0.0
    observer = inv_o - inv_k if same_observers else inv_o
    err = (comp.teacher * np.maximum(inv_t - inv_n, 0.0) + comp.observer * observer
           + comp.lesson / n_l + comp.residual / forms)
    se = np.sqrt((comp.school_term + err) / _s_tt(years))
    return float(se) if np.ndim(se) == 0 else se


def _power(delta: float, se: np.ndarray, z: float) -> np.ndarray:
    from scipy import special

    # special.ndtr is what stats.norm.cdf computes, without the distribution's overhead
    # (this runs for every school of a plan)
    r = abs(delta) / se
    return special.ndtr(r - z) + special.ndtr(-r - z)


def _z(alpha: float) -> float:
    """The two-sided normal quantile ``Φ⁻¹(1 − α/2)`` (what stats.norm.ppf computes)."""
    from scipy import special

    return float(special.ndtri(1 - alpha / 2))


def change_precision(components: VarianceComponents | Mapping[str, float], n_obs: Any, *,
                     change: float | None = None, alpha: float = 0.05,
                     **design: Any) -> dict[str, Any]:
    """The trend's standard error, reliability of change and power at ``n_obs`` lessons per term.

    ``design``: the keywords of :func:`change_se` (``years``, ``n_teachers``,
    ``n_observers``, ``paired_share``, ``teacher_sampling``, ``same_observers``).
    Returns ``se``, ``reliability`` (NaN without a school trend variance) and
    ``power`` (NaN without ``change``), scalars or arrays like ``n_obs``.
    """
    comp = _as_components(components)
    se = change_se(comp, n_obs, **design)
    cov = np.atleast_2d(comp.school_cov)
    var_b = float(cov[1, 1]) if cov.shape == (2, 2) else float("nan")
    rel = var_b / (var_b + np.asarray(se) ** 2) if np.isfinite(var_b) else np.nan * se
    z = _z(alpha)
    pw = _power(change, np.asarray(se), z) if change is not None else np.nan * se
    return {"se": se, "reliability": rel, "power": pw, "var_trend": var_b}


@dataclass(frozen=True, eq=False)
class ChangePlan(Result):
    """Lessons per term needed to see a school's change (see :func:`plan_observations_change`).

    ``.tidy()``: one row per goal (power for a change, reliability of change)
    with ``n_obs_needed`` (NaN when out of reach), the value reached and the
    ceiling; ``.curve()``: per number of lessons per term, the trend's standard
    error, power, reliability of change and reliability of a level.
    """

    rows: pd.DataFrame
    curves: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def _tidy(self) -> pd.DataFrame:
        return self.rows.copy()

    def curve(self) -> pd.DataFrame:
        return self.curves.copy()

    def _summary_text(self) -> str:
        s = self.settings
        lines = [
            "Hur många lektionsbesök per termin behövs för att se en skolas förändring?",
            f"Förändringen skattas som skolans trend över {s['years']} läsår "
            f"({2 * s['years']} terminer), aldrig som skillnaden mellan två terminer.",
            "",
        ]
        for _, r in self.rows.iterrows():
            need = ("kan inte nås med fler besök" if not np.isfinite(r["n_obs_needed"])
                    else f"{int(r['n_obs_needed'])} besök per termin")
            if r["goal"] == "power":
                lines.append(
                    f"* Upptäcka en förändring på {number(r['change'], 2)} poäng per läsår med "
                    f"{number(100 * r['target'], 0)} % sannolikhet (styrka): {need} "
                    f"(högsta möjliga styrka {number(100 * r['ceiling'], 0)} %).")
            else:
                lines.append(
                    f"* Reliabilitet {number(r['target'], 2)} för förändringen: {need} "
                    f"(högsta möjliga {number(r['ceiling'], 2)}).")
            if np.isfinite(r["n_obs_needed"]):
                lines.append(f"  Med så många besök är reliabiliteten för en termins nivå "
                             f"{number(r['reliability_level_at_needed'], 2)}.")
        lines += [
            "",
            "Förändring kräver fler besök än nivå: det som är lika varje termin (skolans "
            "lärarlag, samma observatörers stränghet) tar ut sig, men terminens slumpmässiga "
            "variation (vilka lärare och lektioner som besöks, skolans svängningar från termin "
            "till termin) ligger kvar och ska jämnas ut av trenden. En längre period (fler "
            "terminer) ger mer än fler besök när taket är nått.",
        ]
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """Power and reliability of change against lessons per term, level beside them."""
        import matplotlib.pyplot as plt

        c = self.curves
        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 3.6))
        if "power" in c:
            ax.plot(c["n_obs"], c["power"], color="#e6550d",
                    label=f"styrka, förändring {number(self.settings['change'], 2)}/läsår")
        ax.plot(c["n_obs"], c["reliability_change"], color="#1f4e79",
                label="reliabilitet för förändring")
        ax.plot(c["n_obs"], c["reliability_level"], color="#9ecae1", ls="--",
                label="reliabilitet för en termins nivå")
        for _, r in self.rows.iterrows():
            ax.axhline(r["target"], color="0.5", lw=0.8, ls=":")
            if np.isfinite(r["n_obs_needed"]):
                ax.axvline(r["n_obs_needed"], color="0.5", lw=0.8, ls=":")
        ax.set_ylim(0, 1)
        ax.set_xscale("log")
        ax.set_xlabel("Lektionsbesök per termin")
        ax.set_ylabel("Styrka / reliabilitet")
        ax.set_title(f"Att se en skolas förändring (trend över {self.settings['years']} läsår)")
        ax.legend(fontsize=8, frameon=False, loc="lower right")
        return ax


def plan_observations_change(components: VarianceComponents | Mapping[str, float],
                             change: float | None = None, *, power: float = 0.8,
                             alpha: float = 0.05, target_reliability: float | None = None,
                             years: int = 2, n_teachers: float | None = None,
                             n_observers: float = 3.0, paired_share: float = 0.0,
                             teacher_sampling: Literal["random", "spread"] = "random",
                             same_observers: bool = True,
                             max_obs: int = 200) -> ChangePlan:
    """Lessons per term needed to detect a school's change, or to measure it reliably.

    For one design given by the arguments. The front door for a Dataset (every
    school's own design, the level beside the change, one result) is
    :func:`~.reliability.plan_observations` with ``change=`` /
    ``change_reliability=``, which calls this for each school.

    Parameters
    ----------
    components : the municipality's variance components
        (:func:`~.reliability.variance_components`) or a dict.
    change : the change per school year to detect (score points), e.g. 0.2.
    power : the wanted probability of detecting ``change`` (default 0.8).
    alpha : two-sided level of the test of no change (default 0.05).
    target_reliability : a wanted reliability of the change (e.g. 0.7); needs a
        school trend variance in ``components``.
    years : school years the trend covers (two terms each; default 2).
    n_teachers : teachers at the school (default unlimited).
    n_observers : effective number of observers ``1 / Σ share²`` (default 3).
    paired_share : share of lessons observed in pairs.
    teacher_sampling : ``"random"`` or ``"spread"``, as in ``plan_observations``.
    same_observers : the same observers over the window (their severities cancel).
    max_obs : the largest number of lessons per term considered.

    Returns
    -------
    ChangePlan: ``.tidy()`` (goal, change, target, n_obs_needed, achieved,
    ceiling, reliability_level_at_needed, se_at_needed), ``.curve()``,
    ``.summary()`` and ``.plot()``.

    Notes
    -----
    See the module docstring for the formulas. ``plan_observations`` gives the
    reliability of a level; this function gives the change beside it, and
    ``.curve()["reliability_level"]`` repeats the level for comparison.
    """
    comp = _as_components(components)
    if change is None and target_reliability is None:
        raise ModelError("Ange en förändring att upptäcka (change=, t.ex. 0.2 poäng per läsår) "
                         "eller en reliabilitet för förändringen (target_reliability=)")
    if change is not None and not (math.isfinite(change) and change != 0):
        raise ModelError(f"`change` ska vara en förändring skild från noll, men är {change!r}")
    if not 0 < power < 1 or not 0 < alpha < 1:
        raise ModelError(f"`power` och `alpha` ska ligga mellan 0 och 1 (fick {power}, {alpha})")
    if target_reliability is not None and not 0 < target_reliability < 1:
        raise ModelError(f"`target_reliability` ska ligga mellan 0 och 1, men är "
                         f"{target_reliability!r}")
    if int(years) != years or years < 1:
        raise ModelError(f"`years` ska vara ett helt antal läsår (minst 1), men är {years!r}")
    if teacher_sampling not in ("random", "spread"):
        raise ModelError(f"teacher_sampling ska vara \"random\" eller \"spread\", "
                         f"men är {teacher_sampling!r}")
    cov = np.atleast_2d(comp.school_cov)
    var_b = float(cov[1, 1]) if cov.shape == (2, 2) else float("nan")
    if target_reliability is not None and not (np.isfinite(var_b) and var_b > 0):
        raise ModelError("Komponenterna saknar variation i skolornas trender, så förändringens "
                         "reliabilitet kan inte beräknas",
                         hint="Skatta komponenterna med minst tre terminer och fem skolor, "
                              "eller ange school_trend i dict:en")
    kw: dict[str, Any] = {"years": int(years), "n_teachers": n_teachers,
                          "n_observers": n_observers,
                          "paired_share": paired_share, "teacher_sampling": teacher_sampling,
                          "same_observers": same_observers}
    z = _z(alpha)
    ns = np.arange(1, int(max_obs) + 1, dtype=float)
    se = change_se(comp, ns, **kw)
    se_inf = change_se(comp, 1e12, **kw)
    big_n = float("inf") if n_teachers is None else float(n_teachers)
    n_l, forms, inv_t, inv_o = _design(ns, big_n, float(n_observers), paired_share,
                                       teacher_sampling)
    rel_level = reliability(n_l, 1 / inv_t, 1 / inv_o, comp, n_forms=forms)
    curves = pd.DataFrame({"n_obs": ns.astype(int), "se_change": se,
                           "reliability_change": var_b / (var_b + se ** 2),
                           "reliability_level": rel_level})
    rows = []

    def need(values: np.ndarray, target: float) -> float:
        hit = np.nonzero(values >= target)[0]
        return float(ns[hit[0]]) if len(hit) else float("nan")

    if change is not None:
        pw = _power(change, se, z)
        curves["power"] = pw
        n_need = need(pw, power)
        rows.append({"goal": "power", "change": float(change), "target": power,
                     "n_obs_needed": n_need,
                     "achieved": float(pw[int(n_need) - 1]) if np.isfinite(n_need) else np.nan,
                     "ceiling": float(_power(change, np.asarray(se_inf), z))})
    if target_reliability is not None:
        rc = curves["reliability_change"].to_numpy()
        n_need = need(rc, target_reliability)
        rows.append({"goal": "reliability", "change": np.nan, "target": target_reliability,
                     "n_obs_needed": n_need,
                     "achieved": float(rc[int(n_need) - 1]) if np.isfinite(n_need) else np.nan,
                     "ceiling": var_b / (var_b + se_inf ** 2)})
    out = pd.DataFrame(rows)
    needed = out["n_obs_needed"].to_numpy(dtype=float)
    ok = ~np.isnan(needed)
    idx = np.clip(np.where(ok, needed, 0).astype(int) - 1, 0, None)
    out["reliability_level_at_needed"] = np.where(
        ok, curves["reliability_level"].to_numpy()[idx], np.nan)
    out["se_at_needed"] = np.where(ok, se[idx], np.nan)
    settings = {**kw, "change": change, "alpha": alpha, "var_trend": var_b}
    return ChangePlan(rows=out, curves=curves, settings=settings)
