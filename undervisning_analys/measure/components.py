"""Variance components of the teaching-quality model and the reliability formula.

:class:`VarianceComponents` holds the variances of a form's score (school,
school × term, teacher, observer, lesson, residual) and :func:`reliability` the
generalizability coefficient of a school × term mean (the formula and its
assumptions are in :mod:`undervisning_analys.measure.reliability`). Both are
plain values: the model (:mod:`.model`) makes the components, the index
(:mod:`.index`) and the decision study (:mod:`.reliability`) read them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._format import number
from .._format import text_table as _text_table
from .._results import Result
from ..errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes



def _fmt(x: float | None, digits: int = 2, sign: bool = False) -> str:
    """The shared Swedish number format; "–" for a missing figure in these tables."""
    return number(x, digits, sign, missing="–")


__all__ = ["VarianceComponents", "reliability", "as_components", "COMPONENTS",
           "COMPONENT_LABELS_SV"]

#: The components of a form's score variance, in the order of the decomposition.
COMPONENTS: tuple[str, ...] = ("school", "school_term", "teacher", "observer", "lesson",
                               "residual")

COMPONENT_LABELS_SV: dict[str, str] = {
    "school": "skola (nivå, genomsnitt över terminerna)",
    "school_term": "skola × termin",
    "teacher": "lärare",
    "observer": "observatör",
    "lesson": "lektion",
    "residual": "kvarvarande (protokoll och bedömning)",
    "school_intercept": "skola, nivå vid första terminen",
    "school_trend": "skola, förändring per läsår (trend)",
    "school_intercept_trend": "skola, kovarians nivå–trend",
}

# --------------------------------------------------------------------------
# Variance components
# --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class VarianceComponents(Result):
    """Variance components of form scores (made by :func:`variance_components`).

    Attributes
    ----------
    school_cov
        Covariance matrix of the schools' random intercept (at the first term)
        and, when the model has one, their random trend per school year
        (1 × 1 or 2 × 2).
    school_term, teacher, observer, lesson, residual
        Variances (score scale squared). ``lesson`` is 0 when the data cannot
        separate it from the residual (``lesson_separated`` False).
    times
        The observed terms as years since the first term; :meth:`school`
        averages over them.
    """

    school_cov: np.ndarray
    school_term: float
    teacher: float
    observer: float
    lesson: float
    residual: float
    times: tuple[float, ...] = (0.0,)
    dimension: str = "overall"
    first_term: str | None = None
    lesson_separated: bool = True
    counts: dict[str, int] = field(default_factory=dict)
    fixef: pd.DataFrame | None = None

    # -- construction ------------------------------------------------------
    @classmethod
    def from_dict(cls, values: Mapping[str, float], *, times: Sequence[float] = (0.0,),
                  dimension: str = "overall") -> VarianceComponents:
        """Components given by hand, e.g. from a published study.

        Keys: ``school`` (between-school variance of the level), optionally
        ``school_trend`` (variance of trends per school year) and
        ``school_intercept_trend`` (their covariance), ``school_term``,
        ``teacher``, ``observer``, ``lesson`` (optional, default 0) and
        ``residual``.
        """
        need = ["school", "school_term", "teacher", "observer", "residual"]
        missing = [k for k in need if k not in values]
        if missing:
            raise ModelError(
                "Varianskomponenterna saknar " + ", ".join(f"`{k}`" for k in missing),
                hint="Ange school, school_term, teacher, observer och residual "
                     "(och gärna lesson)")
        for k, v in values.items():
            if not isinstance(v, (int, float, np.floating)) or not math.isfinite(float(v)) \
                    or (k != "school_intercept_trend" and float(v) < 0):
                raise ModelError(f"Varianskomponenten `{k}` ska vara ett icke-negativt tal, "
                                 f"men är {v!r}")
        if "school_trend" in values:
            c = float(values.get("school_intercept_trend", 0.0))
            cov = np.array([[float(values["school"]), c], [c, float(values["school_trend"])]])
        else:
            cov = np.array([[float(values["school"])]])
        return cls(school_cov=cov, school_term=float(values["school_term"]),
                   teacher=float(values["teacher"]), observer=float(values["observer"]),
                   lesson=float(values.get("lesson", 0.0)),
                   residual=float(values["residual"]), times=tuple(float(t) for t in times),
                   dimension=dimension, lesson_separated="lesson" in values)

    # -- derived -----------------------------------------------------------
    def school(self, time: float | np.ndarray | None = None) -> Any:
        """Between-school variance of the schools' level at ``time`` (years since
        the first term); ``None`` averages over the observed terms."""
        cov = np.atleast_2d(self.school_cov)
        if cov.shape == (1, 1):
            v = float(cov[0, 0])
            return v if time is None or np.isscalar(time) else np.full(np.shape(time), v)
        t = np.asarray(self.times if time is None else time, dtype=float)
        var = cov[0, 0] + 2 * cov[0, 1] * t + cov[1, 1] * t ** 2
        if time is None:
            return float(np.mean(var))
        return float(var) if np.ndim(var) == 0 else var

    def true_variance(self, time: float | np.ndarray | None = None) -> Any:
        """Universe-score variance of a school × term: ``school(time) + school_term``."""
        return self.school(time) + self.school_term

    def as_dict(self, time: float | None = None) -> dict[str, float]:
        """The six components of the decomposition (school at ``time``)."""
        return {"school": float(self.school(time)), "school_term": self.school_term,
                "teacher": self.teacher, "observer": self.observer, "lesson": self.lesson,
                "residual": self.residual}

    # -- Result protocol ---------------------------------------------------
    def _tidy(self) -> pd.DataFrame:
        comp = self.as_dict()
        total = sum(comp.values())
        rows = [{"component": k, "label": COMPONENT_LABELS_SV[k], "variance": v,
                 "sd": math.sqrt(max(v, 0.0)), "share": v / total if total > 0 else np.nan}
                for k, v in comp.items()]
        cov = np.atleast_2d(self.school_cov)
        rows.append({"component": "school_intercept",
                     "label": COMPONENT_LABELS_SV["school_intercept"],
                     "variance": float(cov[0, 0]), "sd": math.sqrt(max(cov[0, 0], 0.0)),
                     "share": np.nan})
        if cov.shape == (2, 2):
            rows.append({"component": "school_trend", "label": COMPONENT_LABELS_SV["school_trend"],
                         "variance": float(cov[1, 1]), "sd": math.sqrt(max(cov[1, 1], 0.0)),
                         "share": np.nan})
            rows.append({"component": "school_intercept_trend",
                         "label": COMPONENT_LABELS_SV["school_intercept_trend"],
                         "variance": float(cov[0, 1]), "sd": np.nan, "share": np.nan})
        out = pd.DataFrame(rows)
        out.insert(0, "dimension", self.dimension)
        return out

    def _summary_text(self) -> str:
        t = self.tidy()
        dec = t[t["share"].notna()]
        lines = [f"Varianskomponenter för protokollpoäng ({self.dimension})",
                 "Hur mycket av skillnaderna mellan ifyllda protokoll som beror på skolan, "
                 "terminen, läraren, observatören, lektionen och resten (bedömningsbrus). "
                 "Skattade med den blandade modellen bakom undervisningsindexet.", ""]
        body = [[r.label, _fmt(r.variance, 4), _fmt(r.sd, 3), _fmt(100 * r.share, 1) + " %"]
                for r in dec.itertuples(index=False)]
        lines += _text_table(["komponent", "varians", "std.avvikelse", "andel"], body)
        cov = np.atleast_2d(self.school_cov)
        if cov.shape == (2, 2):
            lines += ["", f"Skolornas trender varierar med standardavvikelsen "
                          f"{_fmt(math.sqrt(max(cov[1, 1], 0)), 3)} poäng per läsår; skolnivåns "
                          "varians ovan är ett genomsnitt över de observerade terminerna."]
        if not self.lesson_separated:
            lines += ["", "För få parobservationer för att skilja lektion från kvarvarande "
                          "variation: lektionens del ingår i den kvarvarande."]
        tau = self.true_variance()
        lines += ["", f"Sann variation mellan skolor i en termin (skola + skola × termin): "
                      f"{_fmt(tau, 4)}."]
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Horizontal bars: each component's share of the score variance."""
        import matplotlib.pyplot as plt

        t = self.tidy()
        t = t[t["share"].notna()]
        if ax is None:
            _, ax = plt.subplots(figsize=(6.0, 2.8))
        y = np.arange(len(t))[::-1]
        ax.barh(y, 100 * t["share"].to_numpy(), color="#1f4e79")
        ax.set_yticks(y)
        ax.set_yticklabels([s.capitalize() for s in t["label"]])
        ax.set_xlabel("Andel av variationen i protokollpoäng (%)")
        ax.set_title("Varianskomponenter")
        return ax


# --------------------------------------------------------------------------
# Reliability
# --------------------------------------------------------------------------
def as_components(components: VarianceComponents | Mapping[str, float]) -> VarianceComponents:
    if isinstance(components, VarianceComponents):
        return components
    if isinstance(components, Mapping):
        return VarianceComponents.from_dict(components)
    raise ModelError(
        f"components ska vara VarianceComponents eller en dict, men är "
        f"{type(components).__name__}",
        hint="Använd variance_components(ds) eller ange en dict med komponenterna")


def reliability(n_obs: Any, n_teachers: Any, n_observers: Any,
                components: VarianceComponents | Mapping[str, float], *,
                n_forms: Any = None, time: Any = None) -> Any:
    """Reliability of a school × term mean (generalizability coefficient).

    ``Eρ² = τ / (τ + σ²_T/n_teachers + σ²_O/n_observers + σ²_L/n_obs + σ²_e/n_forms)``
    with ``τ = σ²_S(time) + σ²_ST`` (see the module docstring).

    Parameters
    ----------
    n_obs : observed lessons (effective number; scalar or array).
    n_teachers : observed teachers (effective number).
    n_observers : observers (effective number).
    components : :class:`VarianceComponents` or a dict (see
        :meth:`VarianceComponents.from_dict`).
    n_forms : filled-in forms; default ``n_obs`` (one form per lesson).
    time : years since the first term for the between-school variance;
        default the average over the observed terms.

    Returns
    -------
    float, or an array when any input is an array. Counts below 1 give NaN.
    """
    comp = as_components(components)
    try:
        n_l = np.asarray(n_obs, dtype=float)
        n_t = np.asarray(n_teachers, dtype=float)
        n_o = np.asarray(n_observers, dtype=float)
        n_f = n_l if n_forms is None else np.asarray(n_forms, dtype=float)
    except (TypeError, ValueError):
        raise ModelError("Antalen lektioner, lärare och observatörer ska vara tal",
                         hint="Ange t.ex. reliability(10, 6, 3, komponenter)") from None
    tau = np.asarray(comp.true_variance(time), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = (comp.teacher / n_t + comp.observer / n_o + comp.lesson / n_l
               + comp.residual / n_f)
        rel = tau / (tau + err)
    bad = (n_l < 1) | (n_t < 1) | (n_o < 1) | (n_f < 1) | ~np.isfinite(rel)
    rel = np.where(bad, np.nan, rel)
    return float(rel) if np.ndim(rel) == 0 else rel
