"""A synthetic municipality with known truth.

:func:`municipality` generates fictional school units, teachers, observers,
lesson observations scored on the instrument's ordinal scale, pupils with
final grades in år 9, the school results aggregated from them (as Skolverket
would publish them: one decimal, ``..`` below 10 pupils, ``~100``), and the
background composition of every school and year. ``ds.truth`` holds what was
used to generate it, so that tests can check that the package recovers it.

The generating model
--------------------
Teaching quality (latent, on the observation scale)::

    q[s, t] = a[s] + b[s] * years_since_start(t) + e[s, t]

with school intercepts ``a`` (sd ``sd_school``, correlated ``rho_background``
with the school's parental education), school trends ``b`` (mean
``mean_trend``, sd ``sd_trend`` per school year) and term noise ``e``
(sd ``sd_school_term``). ``truth.school_quality`` holds ``q[s, t]``.

An item score of lesson ``l`` (teacher ``j`` of school ``s``, term ``t``)
rated by observer ``o``::

    y* = q[s, t] + u[j] + d[o] + leniency * own(o, s) + type_effect[type]
         + lesson[l] + rater_lesson[l, o] + difficulty[item] + noise
    score = clip(round(centre + y*), min, max)          (reversed items: min + max - score)

``u`` is the teacher effect (sd ``sd_teacher``; teachers leave with
probability ``turnover`` per year and are replaced), ``d`` the observer's
severity (sd ``sd_observer``; with ``observer_drift_sd > 0`` it drifts,
``d[o] + g[o] * years_since_start(t)`` with ``g`` of sd ``observer_drift_sd``
drawn from a separate random stream, ``truth.observer_drift``), ``own`` is 1 when the observer works at the
teacher's school (rektorer, biträdande rektorer and förstelärare rate their
own teachers ``leniency`` higher), planned visits score higher than
spontaneous ones. About ``paired_share`` of the lessons are paired
observations: a second observer rates the same lesson (same observation_id).

Pupils (år 9, each school year ``y``)::

    theta = b0 + 0.55 * parents_higher_edu - 0.25 * foreign_background
            - 0.9 * newly_arrived + 0.15 * girl + school_re[s]
            + effect * (Q[s, y - lag] - Q0) + N(0, 0.85)

where ``Q[s, y]`` is the mean of ``q[s, t]`` over the two terms of school year
``y`` and ``lag`` is in school years (default 1: this year's results depend
on last year's teaching quality; quality before the first observed year
follows the school's trend). ``effect`` is therefore the change in pupils'
latent achievement (in residual standard deviations of about 1) per unit of
teaching quality on the observation scale. Subject grades A–F come from
``theta`` plus subject difficulty and noise through fixed cut points; the
school results (meritvärde 16/17, share passing all subjects, eligibility for
vocational programmes) are aggregated from the grades with Skolverket's rules.

Because results are nonlinear in ``theta``, ``truth.slope_by_school_year`` gives
each school result's true marginal change per unit of teaching quality,
computed with common random numbers (the same pupils graded again with
``theta`` shifted up and down: a central difference), and ``truth.slope`` its
mean over school-years. The marginal change differs between school-years (a
school near the top of the grade scale gains less), so the target of a
regression is a weighted mean of them; ``benchmarks/sim_link.py`` compares
the link with the mean over the school-years that enter it and with the
regression's own weighting. ``truth.score_scale`` converts to index points.

Everything is fictional: the municipality is "Exempelkommun" (kommunkod
9990, which does not exist), school codes start with 99 (no real school unit
has such a code), names are invented and pseudonyms are opaque.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import schema
from .dataset import Dataset
from .instruments import Instrument, load_instrument
from .privacy import MIN_PUPILS

SUBJECTS_16 = ["Bl", "Bi", "En", "Fy", "Ge", "Hkk", "Hi", "Idh", "Ke", "Ma", "Mu", "Re", "Sh",
               "Sl", "Sv", "Tk"]
"""The 16 compulsory subjects (SCB variable names); Sva replaces Sv for some pupils."""
MODERN_LANGUAGES = ["M2"]
GRADE_POINTS = {"A": 20.0, "B": 17.5, "C": 15.0, "D": 12.5, "E": 10.0, "F": 0.0, "-": 0.0}
_CUTS = np.array([-1.35, -0.55, 0.0, 0.6, 1.25])  # F|E|D|C|B|A
_GRADES_ASC = np.array(["F", "E", "D", "C", "B", "A"])
_SUBJECT_DIFFICULTY = {"Bl": -0.35, "Bi": 0.05, "En": -0.25, "Fy": 0.15, "Ge": 0.0, "Hkk": -0.4,
                       "Hi": 0.0, "Idh": -0.45, "Ke": 0.2, "Ma": 0.3, "Mu": -0.3, "Re": -0.05,
                       "Sh": 0.0, "Sl": -0.35, "Sv": -0.05, "Sva": 0.35, "Tk": 0.0, "M2": 0.1}

_NAME_PARTS = ["Björk", "Ek", "Lind", "Alm", "Rönn", "Hassel", "Asp", "Lönn", "Sälg", "Gran",
               "Tall", "Ask", "Oxel", "Hägg", "Lärk", "Fläder", "Vide", "Idegran", "Hagtorn",
               "Syren", "Nypon", "Måbär", "Olvon", "Kaprifol", "Slån", "Kastanj", "Poppel",
               "Ene", "Tuja", "Körsbär"]
_NAME_ENDS = ["dalsskolan", "backeskolan", "ängsskolan", "hagaskolan", "viksskolan",
              "åsskolan", "lundsskolan", "bergsskolan", "torpsskolan", "holmsskolan"]
_AREAS = ["Norr", "Söder", "Öster", "Väster", "Centrum", "Hamnen"]
_SUBJECT_NAMES = ["Svenska", "Matematik", "Engelska", "NO", "SO", "Idrott och hälsa", "Slöjd",
                  "Bild", "Musik", "Teknik", "Moderna språk", "Hem- och konsumentkunskap"]


@dataclass(frozen=True)
class Truth:
    """What generated a synthetic municipality (never shown in reports)."""

    effect: float
    lag: int
    school_params: pd.DataFrame
    """school_id, area, intercept (a), trend (b, per school year), pupil_re."""
    school_quality: pd.DataFrame
    """school_id, term, school_year, quality: the true q[s, t]."""
    school_year_quality: pd.DataFrame
    """school_id, school_year, quality: the mean of q over the year's two terms."""
    observer_severity: pd.DataFrame
    """observer_id, observer_role, home_school_id, severity."""
    leniency_own: float
    type_effects: dict[str, float]
    item_difficulty: dict[str, float]
    variance_components: dict[str, float]
    """Standard deviations of the generating model (sd_school, sd_trend, …)."""
    slope: dict[str, float] = field(default_factory=dict)
    """measure -> true average marginal change per unit of teaching quality."""
    slope_by_school_year: pd.DataFrame | None = None
    """school_id, school_year and one column per measure: each school result's true
    marginal change per unit of teaching quality (``slope`` is their mean)."""
    score_scale: dict[str, float] = field(default_factory=dict)
    """dimension (and ``"overall"``) -> expected change of a form's score per unit of
    teaching quality (exact, see :func:`_score_scale`): about 0.9, not 1, because scores
    are rounded to whole steps and clipped to the scale."""
    results_exact: pd.DataFrame | None = None
    """School results before Skolverket's rounding and suppression."""
    params: dict[str, Any] = field(default_factory=dict)
    plans: pd.DataFrame | None = None
    """Set by :func:`with_plans`: per plan target, the true index at the target term
    (``true_value``) and whether the target is reached in truth (``reached``)."""
    observer_drift: dict[str, float] = field(default_factory=dict)
    """observer_id -> true change in severity per school year (rater drift; every
    observer 0 when ``observer_drift_sd`` is 0). Severity in term ``t`` is
    ``observer_severity.severity + observer_drift * years since the first term``."""
    dimension_quality: pd.DataFrame | None = None
    """school_id, term, school_year, dimension, quality: each dimension's true quality
    (``q[s, t]`` plus the dimension's deviation, see ``sd_dimension``)."""
    outcomes: dict[str, Any] = field(default_factory=dict)
    """Set by :func:`outcomes`: measure -> :class:`OutcomeTruth`."""
    outcome_terms: pd.DataFrame | None = None
    """Set by :func:`outcomes`: school_id, term, school_year, measure, value, n of the
    term measures (attendance, problematic absence, offences) as published."""


    def slope_per_point(self, measure: str, dimension: str = "overall") -> float:
        """The true change in ``measure`` per point of the index on the score scale.

        ``slope[measure] / score_scale[dimension]``: the index measures quality on
        the instrument's scale, where one unit of latent quality moves the
        expected score by ``score_scale`` points; this is what a regression of
        results on the index (``link``) estimates.
        """
        return self.slope[measure] / self.score_scale[dimension]


def _score_scale(inst: Instrument, base: np.ndarray, centre: float, difficulty: np.ndarray,
                 sd_item: float, scores: np.ndarray | None,
                 item_dev: np.ndarray | None = None) -> dict[str, float]:
    """d E[score] / d quality, averaged over the generated forms (exact, no simulation).

    An item's score is ``clip(floor(centre + base + difficulty + e + 0.5))`` with
    ``e ~ N(0, sd_item)``, so its expected value given the form moves with the
    form's latent ``base`` (which contains the school's quality) at the rate
    ``sum_k φ((centre + base + difficulty − k) / sd_item) / sd_item`` over the
    thresholds ``k = min + 0.5, …, max − 0.5``. A dimension's derivative is the
    mean over its answered items (as its score), overall the mean over the
    dimensions with a score (the instrument's half rules), and each is averaged
    over the forms with that score.
    """
    from scipy.stats import norm

    if scores is None or len(base) == 0 or sd_item <= 0:
        return {}
    x = centre + base[:, None] + difficulty[None, :]
    if item_dev is not None:
        x = x + item_dev
    cuts = np.arange(inst.scale_min, inst.scale_max) + 0.5
    deriv = sum(norm.pdf((x - k) / sd_item) for k in cuts) / sd_item
    answered = ~np.isnan(scores)
    ids = [it.id for it in inst.items]
    out: dict[str, float] = {}
    dims = []
    for d in inst.dimensions:
        cols = [ids.index(i.id) for i in d.items]
        a = answered[:, cols]
        n = a.sum(axis=1)
        ok = n >= np.ceil(len(cols) / 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            dd = np.where(ok, (deriv[:, cols] * a).sum(axis=1) / n, np.nan)
        dims.append(dd)
        out[d.id] = float(np.nanmean(dd))
    m = np.column_stack(dims)
    present = (~np.isnan(m)).sum(axis=1)
    sums = np.nansum(m, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        overall = np.where(present >= np.ceil(m.shape[1] / 2), sums / present, np.nan)
    out["overall"] = float(np.nanmean(overall))
    return out


def _hex_ids(rng: np.random.Generator, n: int, prefix: str, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        s = prefix + "".join(rng.choice(list("0123456789abcdef"), 6))
        if s not in taken:
            taken.add(s)
            out.append(s)
    return out


def _school_names(rng: np.random.Generator, n: int) -> list[str]:
    combos = [p + e for p in _NAME_PARTS for e in _NAME_ENDS]
    idx = rng.choice(len(combos), size=n, replace=False)
    return [combos[i][0].upper() + combos[i][1:].lower() for i in idx]


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _school_day(rng: np.random.Generator, term: str) -> pd.Timestamp:
    year = int(term[2:])
    if term.startswith("HT"):
        start, end = pd.Timestamp(year, 8, 22), pd.Timestamp(year, 12, 18)
    else:
        start, end = pd.Timestamp(year, 1, 10), pd.Timestamp(year, 6, 9)
    days = pd.bdate_range(start, end)
    return days[int(rng.integers(len(days)))]


def grade_points(grades: np.ndarray) -> np.ndarray:
    """Points of grade codes (A 20 … E 10, F and '-' 0, anything else NaN)."""
    out = np.full(len(grades), np.nan)
    for g, p in GRADE_POINTS.items():
        out[grades == g] = p
    return out


def aggregate_results(pupils: pd.DataFrame, grades: pd.DataFrame) -> pd.DataFrame:
    """Exact school results per school × year × group from pupils' final grades.

    ``pupils``: pupil_id, school_id, school_year, girl (bool).
    ``grades``: pupil_id, school_year, subject, grade, points.
    Returns school_id, school_year, group, n, merit_17, merit_16,
    pass_all_subjects_pct, eligible_vocational_pct (unrounded).

    Skolverket's definitions: meritvärde 16 = the sum of the 16 best grades of
    the compulsory subjects; meritvärde 17 = that plus the best modern language
    grade; the average merit value is over pupils with at least E in one
    subject ("Det genomsnittliga meritvärdet beräknas för de elever som fått
    lägst betyg E i minst ett ämne"); ``n`` and the shares count every pupil
    with a grade. Pass all subjects = E or
    better in every subject graded (3 and 2 codes are not graded). Eligible for
    vocational programmes = E or better in Sv or Sva, En and Ma and in at least
    five further subjects.
    """
    g = grades[grades["points"].notna()]
    comp = g[~g["subject"].isin(MODERN_LANGUAGES)]
    pts = comp.sort_values(["pupil_id", "points"], ascending=[True, False])
    pts = pts.assign(rank=pts.groupby("pupil_id").cumcount())
    merit16 = pts[pts["rank"] < 16].groupby("pupil_id")["points"].sum()
    ml = g[g["subject"].isin(MODERN_LANGUAGES)].groupby("pupil_id")["points"].max()
    merit17 = merit16.add(ml, fill_value=0)
    passed = g["grade"].isin(["A", "B", "C", "D", "E"])
    pass_all = passed.groupby(g["pupil_id"]).all()
    core = g[g["subject"].isin(["Sv", "Sva", "En", "Ma"]) & passed]
    has_sv = core[core["subject"].isin(["Sv", "Sva"])].groupby("pupil_id").size() > 0
    has_en = core[core["subject"] == "En"].groupby("pupil_id").size() > 0
    has_ma = core[core["subject"] == "Ma"].groupby("pupil_id").size() > 0
    other = g[~g["subject"].isin(["Sv", "Sva", "En", "Ma"]) & passed].groupby("pupil_id").size()
    per = pd.DataFrame({"merit_16": merit16, "merit_17": merit17, "pass_all": pass_all})
    per["eligible"] = (has_sv.reindex(per.index, fill_value=False)
                       & has_en.reindex(per.index, fill_value=False)
                       & has_ma.reindex(per.index, fill_value=False)
                       & (other.reindex(per.index, fill_value=0) >= 5))
    per["any_pass"] = passed.groupby(g["pupil_id"]).any().reindex(per.index, fill_value=False)
    per = per.join(pupils.set_index("pupil_id")[["school_id", "school_year", "girl"]],
                   how="inner")
    # Skolverket: the average merit value is over pupils with at least E in one subject.
    per["merit_16_m"] = per["merit_16"].where(per["any_pass"])
    per["merit_17_m"] = per["merit_17"].where(per["any_pass"])
    out = []
    for group, sub in (("all", per), ("girls", per[per["girl"]]), ("boys", per[~per["girl"]])):
        agg = sub.groupby(["school_id", "school_year"]).agg(
            n=("merit_16", "size"), merit_17=("merit_17_m", "mean"),
            merit_16=("merit_16_m", "mean"), pass_all_subjects_pct=("pass_all", "mean"),
            eligible_vocational_pct=("eligible", "mean")).reset_index()
        agg["pass_all_subjects_pct"] *= 100
        agg["eligible_vocational_pct"] *= 100
        agg["n_not_pass_all"] = sub.groupby(["school_id", "school_year"])["pass_all"].apply(
            lambda s: int((~s.astype(bool)).sum())).to_numpy()
        agg["n_not_eligible"] = sub.groupby(["school_id", "school_year"])["eligible"].apply(
            lambda s: int((~s.astype(bool)).sum())).to_numpy()
        agg["group"] = group
        out.append(agg)
    return pd.concat(out, ignore_index=True)


def _round_half_up(x: float, nd: int = 1) -> float:
    """Round as a publication does (half away from zero), not to even."""
    q = 10 ** nd
    return float(np.sign(x) * np.floor(abs(x) * q + 0.5) / q)


def publish_results(exact: pd.DataFrame, *, level: str, municipality_id: str,
                    principal_type: str = "all", source: str = "synth",
                    min_pupils: int = MIN_PUPILS) -> pd.DataFrame:
    """Turn exact aggregates into results rows as Skolverket publishes them.

    One decimal; fewer than ``min_pupils`` pupils -> ``..`` (suppressed);
    a percentage where 1–4 pupils did not reach it -> ``~100`` (approx_100,
    value NaN). ``n`` is kept as published (Antal elever), also when the
    values are suppressed.
    """
    rows = []
    for r in exact.itertuples(index=False):
        for measure in ("merit_17", "merit_16", "pass_all_subjects_pct",
                        "eligible_vocational_pct"):
            v = getattr(r, measure)
            status = "ok"
            if r.n < min_pupils:
                status, v = "suppressed", np.nan
            elif measure == "pass_all_subjects_pct" and 1 <= r.n_not_pass_all <= 4:
                status, v = "approx_100", np.nan
            elif measure == "eligible_vocational_pct" and 1 <= r.n_not_eligible <= 4:
                status, v = "approx_100", np.nan
            else:
                v = _round_half_up(v)
            rows.append({
                "level": level,
                "school_id": r.school_id if level == "school" else None,
                "municipality_id": municipality_id,
                "school_year": r.school_year, "measure": measure, "group": r.group,
                "principal_type": principal_type, "value": v, "n": int(r.n),
                "status": status, "source": source})
    return pd.DataFrame(rows)


def _school_types(rng: np.random.Generator, n: int) -> np.ndarray:
    """School types when the municipality has them: about 30 % F–6, 25 % 7–9, the rest F–9."""
    n6, n79 = max(1, round(0.3 * n)), max(1, round(0.25 * n))
    types = np.array(["F-6"] * n6 + ["7-9"] * n79 + ["F-9"] * (n - n6 - n79))
    return types[rng.permutation(n)]


_SUBJECTS_6 = SUBJECTS_16 + MODERN_LANGUAGES


def _grade6_pupils(rng: np.random.Generator, schools: list[str], school_years: list[str],
                   comp: dict[tuple[str, str], tuple[float, float, float, float]],
                   size: dict[str, int], school_re: dict[str, float],
                   quality_shift: dict[tuple[str, str], float]) -> pd.DataFrame:
    """Grade-6 pupils' grades: one row per pupil with the counts the år 6 export needs.

    The same achievement model as grade 9 (background, the school's own effect and
    ``effect`` × last year's teaching quality), graded A–F in the 16 subjects and a
    modern language (85 %), with ``-`` (no grade could be set) now and then.
    """
    diffs = np.array([_SUBJECT_DIFFICULTY[s] for s in _SUBJECTS_6])
    rows = []
    for sid in schools:
        for sy in school_years:
            ph, pf, pn, pg = comp[(sid, sy)]
            n = max(3, int(round(size[sid] * rng.uniform(0.9, 1.1))))
            foreign = rng.random(n) < pf
            newly = foreign & (rng.random(n) < pn / max(pf, 1e-9))
            high = rng.random(n) < ph
            girl = rng.random(n) < pg
            theta = (-0.1 + 0.55 * high - 0.25 * foreign - 0.9 * newly + 0.15 * girl
                     + school_re[sid] + quality_shift[(sid, sy)] + 0.85 * rng.standard_normal(n))
            latent = theta[:, None] - diffs[None, :] + 0.5 * rng.standard_normal((n, len(diffs)))
            grades = _GRADES_ASC[np.searchsorted(_CUTS, latent)]
            grades = np.where(rng.random(grades.shape) < 0.003, "-", grades)
            taken_ml = rng.random(n) < 0.85
            graded = np.ones_like(grades, dtype=bool)
            graded[:, -1] = taken_ml
            n_grades = ((grades != "-") & graded).sum(axis=1)
            n_fail = (np.isin(grades, ["F", "-"]) & graded).sum(axis=1)
            rows.append(pd.DataFrame({"school_id": sid, "school_year": sy,
                                      "n_grades": n_grades, "n_fail": n_fail}))
    return pd.concat(rows, ignore_index=True)


def aggregate_grade6(pupils: pd.DataFrame) -> pd.DataFrame:
    """Exact grade-6 results per school × year from :func:`_grade6_pupils` rows."""
    g = pupils.groupby(["school_id", "school_year"])
    out = g.agg(n=("n_fail", "size"), grade6_avg_subject_grades=("n_grades", "mean"),
                n_pass_all=("n_fail", lambda x: int((x == 0).sum())),
                n_fail_one=("n_fail", lambda x: int((x == 1).sum())),
                n_fail_several=("n_fail", lambda x: int((x >= 2).sum()))).reset_index()
    out["grade6_pass_all_subjects_pct"] = 100 * out["n_pass_all"] / out["n"]
    out["grade6_fail_one_subject_pct"] = 100 * out["n_fail_one"] / out["n"]
    out["grade6_fail_several_subjects_pct"] = 100 * out["n_fail_several"] / out["n"]
    return out


def publish_grade6(exact: pd.DataFrame, *, level: str, municipality_id: str,
                   principal_type: str = "all", min_pupils: int = MIN_PUPILS) -> pd.DataFrame:
    """Grade-6 results as Skolverket publishes them (the år 6 export's markers).

    Fewer than ``min_pupils`` pupils: ``..`` for every value. The share passing
    all subjects is ``~100`` when 1–4 pupils did not; a share of pupils failing
    (one / several subjects) is ``..`` when it counts 1–4 pupils and ``.`` when
    none, as the real export shows.
    """
    rows = []
    for r in exact.itertuples(index=False):
        for measure in ("grade6_avg_subject_grades", "grade6_pass_all_subjects_pct",
                        "grade6_fail_one_subject_pct", "grade6_fail_several_subjects_pct"):
            v, status = float(getattr(r, measure)), "ok"
            count = {"grade6_pass_all_subjects_pct": r.n - r.n_pass_all,
                     "grade6_fail_one_subject_pct": r.n_fail_one,
                     "grade6_fail_several_subjects_pct": r.n_fail_several}.get(measure)
            if r.n < min_pupils:
                status, v = "suppressed", np.nan
            elif measure == "grade6_pass_all_subjects_pct" and count is not None and 1 <= count <= 4:
                status, v = "approx_100", np.nan
            elif count is not None and measure != "grade6_pass_all_subjects_pct" and count == 0:
                status, v = "missing", np.nan
            elif count is not None and measure != "grade6_pass_all_subjects_pct" and count <= 4:
                status, v = "suppressed", np.nan
            else:
                v = _round_half_up(v)
            rows.append({"level": level, "school_id": r.school_id if level == "school" else None,
                         "municipality_id": municipality_id, "school_year": r.school_year,
                         "measure": measure, "group": "all", "principal_type": principal_type,
                         "value": v, "n": int(r.n), "status": status, "source": "synth"})
    return pd.DataFrame(rows)


def municipality(seed: int = 1, n_schools: int = 20, n_years: int = 5, effect: float = 0.3, *,
                 first_year: int = 2020, lag: int = 1, n_areas: int = 4,
                 teachers_per_school: tuple[int, int] = (14, 36),
                 pupils_per_grade: tuple[int, int] = (25, 95),
                 observation_rate: tuple[float, float] = (0.35, 0.7),
                 thin_schools: int = 1, paired_share: float = 0.15,
                 missing_item_share: float = 0.02, turnover: float = 0.12,
                 sd_school: float = 0.25, mean_trend: float = 0.04, sd_trend: float = 0.08,
                 sd_school_term: float = 0.06, sd_teacher: float = 0.30,
                 sd_observer: float = 0.20, leniency_own: float = 0.25,
                 sd_lesson: float = 0.30, sd_rater_lesson: float = 0.15,
                 sd_item: float = 0.45, rho_background: float = 0.3,
                 sd_school_results: float = 0.15, school_types: bool = False,
                 observer_drift_sd: float = 0.0, sd_dimension: float = 0.0,
                 with_pupils: bool = True, compute_slope: bool = True,
                 instrument: Instrument | str | None = None,
                 municipality_id: str = "9990", municipality_name: str = "Exempelkommun",
                 ) -> Dataset:
    """Generate a synthetic municipality with known truth.

    Parameters
    ----------
    seed : the random seed; the same seed and arguments give an identical Dataset.
    n_schools, n_years : school units and school years (from ``first_year``).
    effect : latent pupil achievement per unit of teaching quality (see module doc).
    lag : school years between teaching quality and the results it affects.
    observation_rate : observed lessons per teacher and term (range over schools).
    thin_schools : schools observed far less often (rate 0.08), so that some of
        their terms fall below the privacy floors.
    paired_share : share of lessons rated by a second observer.
    sd_dimension : standard deviation of each dimension's own deviation from the
        school's quality per school × term (0, the default: the dimensions share
        ``q[s, t]``; the draws come from a separate random stream, so the default
        output is unchanged). ``truth.dimension_quality`` holds each dimension's
        quality, which :func:`outcomes` can make an outcome depend on.
    observer_drift_sd : sd of the observers' true change in severity per school
        year (rater drift, ``truth.observer_drift``). Drawn from its own random
        stream, so the default 0 gives exactly the data of earlier versions and any
        value leaves every other draw unchanged.
    with_pupils : generate pupils and grades (False: results are not generated).
    compute_slope : compute ``truth.slope`` by re-grading with shifted quality.
    school_types : give the municipality F–6 schools (grade-6 results only), 7–9 and
        F–9 schools (grade-9 results; F–9 also grade 6), with grade-6 results
        (``grade6_*`` measures, :func:`grade6_results`) beside grade 9. Off by default,
        which keeps the generated data byte for byte as before; the draws it adds
        come from a second generator seeded from ``seed``.
    sd_school_results : sd of the schools' own effect on pupils' achievement
        beside teaching quality (``school_re``; 0: schools differ in results only
        through their pupils and their teaching quality).

    Returns
    -------
    Dataset with ``truth`` (:class:`Truth`) and ``seed`` set.
    """
    rng = np.random.default_rng(seed)
    inst = load_instrument(instrument)
    taken: set[str] = set()
    years = [first_year + i for i in range(n_years)]
    school_years = [f"{y}/{(y + 1) % 100:02d}" for y in years]
    terms = [t for y in years for t in (f"HT{y}", f"VT{y + 1}")]

    # ---- schools --------------------------------------------------------
    codes = sorted({f"99{int(c):06d}" for c in rng.choice(999_999, size=n_schools * 2,
                                                            replace=False)})[:n_schools]
    codes = list(rng.permutation(codes))
    names = _school_names(rng, n_schools)
    areas = [_AREAS[i % n_areas] for i in range(n_schools)]
    grades_span = rng.choice(["F-9", "7-9", "4-9"], size=n_schools, p=[0.5, 0.35, 0.15])
    trng = np.random.default_rng([seed, 6]) if school_types else None
    if trng is not None:
        grades_span = _school_types(trng, n_schools)
    schools = pd.DataFrame({
        "school_id": codes, "school_name": names, "municipality_id": municipality_id,
        "municipality_name": municipality_name, "principal_type": "kommunal",
        "area": areas, "grades": grades_span})

    # ---- background composition, drifting over years ----------------------
    z = rng.standard_normal(n_schools)
    p_high = _expit(0.55 + 0.9 * z)                      # parents with higher education
    p_foreign = _expit(-0.9 - 0.9 * z + 0.4 * rng.standard_normal(n_schools))
    p_newly = np.clip(0.12 * p_foreign * rng.uniform(0.2, 1.0, n_schools), 0, 0.2)
    p_girls = np.clip(0.49 + 0.02 * rng.standard_normal(n_schools), 0.4, 0.6)
    drift_high = 0.05 * rng.standard_normal(n_schools)
    drift_foreign = 0.05 * rng.standard_normal(n_schools)
    size9 = rng.integers(*pupils_per_grade, size=n_schools)

    # ---- teaching quality --------------------------------------------------
    a = 0.0 + sd_school * (rho_background * z + np.sqrt(1 - rho_background ** 2)
                           * rng.standard_normal(n_schools))
    b = mean_trend + sd_trend * rng.standard_normal(n_schools)
    tq = []
    for si, sid in enumerate(codes):
        for ti, term in enumerate(terms):
            t_years = ti / 2
            q = a[si] + b[si] * t_years + sd_school_term * rng.standard_normal()
            tq.append({"school_id": sid, "term": term,
                       "school_year": schema.term_school_year(term), "quality": q})
    school_quality = pd.DataFrame(tq)
    syq = school_quality.groupby(["school_id", "school_year"], sort=False)["quality"].mean() \
        .reset_index()

    # ---- observers ---------------------------------------------------------
    obs_rows: list[dict[str, Any]] = []
    for sid in codes:
        roles = ["rektor"] + (["bitradande_rektor"] if rng.random() < 0.6 else []) \
            + ["forstelarare"] * int(rng.integers(1, 3))
        for role in roles:
            obs_rows.append({"role": role, "home": sid})
    for _ in range(max(2, n_schools // 7)):
        obs_rows.append({"role": "extern", "home": None})
    observers = pd.DataFrame(obs_rows)
    observers["observer_id"] = _hex_ids(rng, len(observers), "O", taken)
    observers["severity"] = sd_observer * rng.standard_normal(len(observers))
    sev = dict(zip(observers["observer_id"], observers["severity"], strict=True))
    drift: dict[str, float] = {}
    if observer_drift_sd > 0:  # a separate stream: the other draws stay the same
        drift_rng = np.random.default_rng([seed, 0x5D81F7])
        drift = dict(zip(observers["observer_id"],
                         observer_drift_sd * drift_rng.standard_normal(len(observers)),
                         strict=True))

    # ---- teachers with turnover -------------------------------------------
    n_teachers = rng.integers(*teachers_per_school, size=n_schools)
    staff: dict[str, list[list[str]]] = {}
    teacher_effect: dict[str, float] = {}
    for si, sid in enumerate(codes):
        current = _hex_ids(rng, int(n_teachers[si]), "L", taken)
        for tid in current:
            teacher_effect[tid] = sd_teacher * rng.standard_normal()
        per_year = []
        for _y in years:
            per_year.append(list(current))
            leave = rng.random(len(current)) < turnover
            new = _hex_ids(rng, int(leave.sum()), "L", taken)
            for tid in new:
                teacher_effect[tid] = sd_teacher * rng.standard_normal()
            current = [t for t, gone in zip(current, leave, strict=True) if not gone] + new
        staff[sid] = per_year

    # ---- observations ------------------------------------------------------
    items = inst.items
    difficulty = {it.id: float(d) for it, d in zip(
        items, 0.2 * rng.standard_normal(len(items)), strict=True)}
    type_effects = {"spontan": 0.0, "planerad": 0.15, "kollegial": 0.05}
    centre = (inst.scale_min + inst.scale_max) / 2 + 0.1
    rate = rng.uniform(*observation_rate, size=n_schools)
    if thin_schools:
        rate[rng.choice(n_schools, size=min(thin_schools, n_schools), replace=False)] = 0.08
    qlookup = school_quality.set_index(["school_id", "term"])["quality"]
    area_of = dict(zip(codes, areas, strict=True))
    externs = observers.loc[observers["role"] == "extern", "observer_id"].tolist()
    recs = observers[["observer_id", "role", "home"]].to_dict("records")
    by_id = {r["observer_id"]: r for r in recs}
    home_obs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in recs:
        if r["home"] is not None:
            home_obs.setdefault(r["home"], {}).setdefault(r["role"], []).append(r)
    item_ids = [it.id for it in items]
    n_items = len(items)
    dim_ids = [d.id for d in inst.dimensions]
    item_dim = np.array([dim_ids.index(it.dimension) for it in items])
    # each dimension's deviation per school × term, from its own random stream
    dim_dev = (sd_dimension * np.random.default_rng([seed, 1601]).standard_normal(
        (n_schools, len(terms), len(dim_ids))) if sd_dimension > 0 else None)
    form_dev: list[np.ndarray] = []
    reverse = np.array([it.reverse for it in items])
    diff_vec = np.array([difficulty[i] for i in item_ids])
    span_lo = {"F-9": 1, "7-9": 7, "4-9": 4, "F-6": 1}
    span_hi = {"F-6": 7}
    forms: dict[str, list[Any]] = {k: [] for k in (
        "observation_id", "school_id", "teacher_id", "observer_id", "observer_role",
        "observation_type", "date", "subject", "grade_level")}
    score_blocks: list[np.ndarray] = []
    form_base: list[float] = []
    lesson_no = 0
    for si, sid in enumerate(codes):
        hs = home_obs[sid]
        same_area = [c for c in codes if area_of[c] == area_of[sid] and c != sid]
        pair_pool = [r for r in recs if r["home"] == sid or r["role"] == "extern"]
        for ti, term in enumerate(terms):
            yi = ti // 2
            teachers = staff[sid][yi]
            n_l = max(1, int(rng.poisson(rate[si] * len(teachers))))
            q = qlookup[(sid, term)]
            for _ in range(n_l):
                lesson_no += 1
                oid = f"LEK{lesson_no:06d}"
                tid = teachers[int(rng.integers(len(teachers)))]
                u = rng.random()
                if u < 0.45:
                    first = hs["rektor"][0]
                elif u < 0.60 and "bitradande_rektor" in hs:
                    first = hs["bitradande_rektor"][0]
                elif u < 0.75:
                    fl = hs["forstelarare"]
                    first = fl[int(rng.integers(len(fl)))]
                elif u < 0.88 or not same_area:
                    first = by_id[externs[int(rng.integers(len(externs)))]]
                else:  # a rektor from another school in the area
                    other = same_area[int(rng.integers(len(same_area)))]
                    first = home_obs[other]["rektor"][0]
                raters = [first]
                if rng.random() < paired_share:
                    cand = [r for r in pair_pool if r["observer_id"] != first["observer_id"]]
                    raters.append(cand[int(rng.integers(len(cand)))])
                if first["role"] == "forstelarare":
                    otype = "kollegial"
                else:
                    otype = "planerad" if rng.random() < 0.4 else "spontan"
                date = _school_day(rng, term)
                subject = _SUBJECT_NAMES[int(rng.integers(len(_SUBJECT_NAMES)))]
                grade_level = int(rng.integers(span_lo[grades_span[si]],
                                               span_hi.get(grades_span[si], 10)))
                lesson_eff = sd_lesson * rng.standard_normal()
                for r in raters:
                    own = 1.0 if r["home"] == sid else 0.0
                    d_o = sev[r["observer_id"]]
                    if drift:
                        d_o = d_o + drift[r["observer_id"]] * (ti / 2)
                    # (the same sums in the same order as one expression: byte-identical data)
                    base = (q + teacher_effect[tid] + d_o + leniency_own * own
                            + type_effects[otype] + lesson_eff
                            + sd_rater_lesson * rng.standard_normal())
                    form_base.append(base)
                    lat = base + diff_vec + sd_item * rng.standard_normal(n_items)
                    if dim_dev is not None:
                        dv = dim_dev[si, ti][item_dim]
                        lat = lat + dv
                        form_dev.append(dv)
                    sc = np.clip(np.floor(centre + lat + 0.5), inst.scale_min, inst.scale_max)
                    sc[reverse] = inst.scale_min + inst.scale_max - sc[reverse]
                    miss = rng.random(n_items) < missing_item_share
                    sc = sc.astype(float)
                    sc[miss] = np.nan
                    score_blocks.append(sc)
                    for k, v in (("observation_id", oid), ("school_id", sid),
                                 ("teacher_id", tid), ("observer_id", r["observer_id"]),
                                 ("observer_role", r["role"]), ("observation_type", otype),
                                 ("date", date), ("subject", subject),
                                 ("grade_level", grade_level)):
                        forms[k].append(v)
    form_df = pd.DataFrame(forms)
    form_df["school_year"] = [schema.school_year_of(d) for d in form_df["date"]]
    form_df["term"] = [schema.term_of(d) for d in form_df["date"]]
    form_df["instrument_id"] = inst.id
    rep = np.repeat(np.arange(len(form_df)), n_items)
    observations = form_df.iloc[rep].reset_index(drop=True)
    observations["item_id"] = np.tile(item_ids, len(form_df))
    observations["score"] = np.concatenate(score_blocks) if score_blocks else np.array([])
    observations = observations[[
        "observation_id", "school_id", "teacher_id", "observer_id", "observer_role",
        "observation_type", "date", "school_year", "term", "subject", "grade_level",
        "instrument_id", "item_id", "score"]]

    score_scale = _score_scale(inst, np.asarray(form_base), centre, diff_vec, sd_item,
                               np.vstack(score_blocks) if score_blocks else None,
                               np.vstack(form_dev) if form_dev else None)
    dq = []
    for si, sid in enumerate(codes):
        for ti, term in enumerate(terms):
            q_st = float(qlookup[(sid, term)])
            for di, d in enumerate(dim_ids):
                dq.append({"school_id": sid, "term": term,
                           "school_year": schema.term_school_year(term), "dimension": d,
                           "quality": q_st + (float(dim_dev[si, ti, di]) if dim_dev is not None
                                           else 0.0)})
    dimension_quality = pd.DataFrame(dq)

    # ---- background table ---------------------------------------------------
    bg_rows = []
    comp: dict[tuple[str, str], tuple[float, float, float, float]] = {}
    for si, sid in enumerate(codes):
        for yi, sy in enumerate(school_years):
            ph = float(_expit(_logit(p_high[si]) + drift_high[si] * yi))
            pf = float(_expit(_logit(p_foreign[si]) + drift_foreign[si] * yi))
            pn = float(p_newly[si] * pf / p_foreign[si])
            comp[(sid, sy)] = (ph, pf, pn, float(p_girls[si]))
            span = grades_span[si]
            n_grades = {"F-9": 9, "7-9": 3, "4-9": 6, "F-6": 6}[span]
            n_pupils = int(size9[si] * n_grades * rng.uniform(0.93, 1.07))
            bg_rows.append({
                "level": "school", "school_id": sid, "municipality_id": municipality_id,
                "school_year": sy, "n_pupils": n_pupils,
                "share_girls": _round_half_up(100 * p_girls[si]),
                "share_foreign_background": _round_half_up(100 * pf),
                "share_parents_higher_edu": _round_half_up(100 * ph),
                "share_newly_arrived": np.nan})
    background = pd.DataFrame(bg_rows)

    # ---- pupils and grades ----------------------------------------------
    pupil_re = sd_school_results * rng.standard_normal(n_schools)
    params = pd.DataFrame({"school_id": codes, "area": areas, "intercept": a, "trend": b,
                           "pupil_re": pupil_re, "share_parents_higher_edu": 100 * p_high})
    results = schema.empty("results")
    pupil_results = None
    results_exact = None
    slope: dict[str, float] = {}
    slope_by_school_year = None
    if with_pupils:
        q0 = float(np.mean(a))
        yq = syq.set_index(["school_id", "school_year"])["quality"]

        def q_year(si: int, yi: int) -> float:
            src = yi - lag
            if src >= 0:
                return float(yq[(codes[si], school_years[src])])
            return float(a[si] + b[si] * (src + 0.25))  # before the first observed year

        pupils, theta_base, qterm, noise_cols = [], [], [], []
        subjects_all = SUBJECTS_16 + ["Sva"] + MODERN_LANGUAGES
        for si, sid in enumerate(codes):
            if grades_span[si] == "F-6":  # no grade 9 (only with school_types)
                continue
            for yi, sy in enumerate(school_years):
                ph, pf, pn, pg = comp[(sid, sy)]
                n = max(3, int(round(size9[si] * rng.uniform(0.9, 1.1))))
                girl = rng.random(n) < pg
                foreign = rng.random(n) < pf
                newly = foreign & (rng.random(n) < pn / max(pf, 1e-9))
                high = rng.random(n) < ph
                base = (-0.1 + 0.55 * high - 0.25 * foreign - 0.9 * newly + 0.15 * girl
                        + pupil_re[si] + 0.85 * rng.standard_normal(n))
                ids = _hex_ids(rng, n, "E", taken)
                for pk in range(n):
                    pupils.append({"pupil_id": ids[pk], "school_id": sid, "school_year": sy,
                                   "girl": bool(girl[pk]), "sva": bool(newly[pk] or (
                                       foreign[pk] and rng.random() < 0.15)),
                                   "ml": bool(rng.random() < (0.55 if newly[pk] else 0.85)),
                                   "dash": rng.random(len(subjects_all)) < 0.003})
                theta_base.append(base)
                qterm.append(np.full(n, effect * (q_year(si, yi) - q0)))
                noise_cols.append(0.5 * rng.standard_normal((n, len(subjects_all))))
        pupils_df = pd.DataFrame(pupils)
        theta0 = np.concatenate(theta_base)
        shift = np.concatenate(qterm)
        noise = np.vstack(noise_cols)
        diffs = np.array([_SUBJECT_DIFFICULTY[s] for s in subjects_all])

        def grade_all(theta: np.ndarray) -> pd.DataFrame:
            latent = theta[:, None] - diffs[None, :] + noise
            idx = np.searchsorted(_CUTS, latent)
            grades = _GRADES_ASC[idx]
            dash = np.vstack(pupils_df["dash"].to_numpy())
            grades = np.where(dash, "-", grades)
            sva = pupils_df["sva"].to_numpy()
            ml = pupils_df["ml"].to_numpy()
            keep = np.ones_like(grades, dtype=bool)
            j_sv, j_sva = subjects_all.index("Sv"), subjects_all.index("Sva")
            keep[:, j_sv] = ~sva
            keep[:, j_sva] = sva
            keep[:, subjects_all.index("M2")] = ml
            pi, sj = np.nonzero(keep)
            g = pd.DataFrame({
                "pupil_id": pupils_df["pupil_id"].to_numpy()[pi],
                "school_id": pupils_df["school_id"].to_numpy()[pi],
                "school_year": pupils_df["school_year"].to_numpy()[pi],
                "grade_level": 9, "subject": np.array(subjects_all)[sj],
                "grade": grades[pi, sj]})
            g["points"] = grade_points(g["grade"].to_numpy())
            return g

        pupil_results = grade_all(theta0 + shift)
        exact = aggregate_results(pupils_df, pupil_results)
        results_exact = exact
        school_res = publish_results(exact, level="school", municipality_id=municipality_id)
        muni_exact = aggregate_results(pupils_df.assign(school_id=municipality_id),
                                       pupil_results)
        muni = pd.concat([
            publish_results(muni_exact, level="municipality", municipality_id=municipality_id,
                            principal_type=pt) for pt in ("all", "kommunal")],
            ignore_index=True)
        # The municipality has no independent schools: Skolverket shows '.' for them.
        enskild = muni[muni["principal_type"] == "all"].assign(
            principal_type="enskild", value=np.nan, n=pd.NA, status="missing")
        muni = pd.concat([muni, enskild], ignore_index=True)
        results = pd.concat([school_res, muni], ignore_index=True)
        if trng is not None:
            has6 = [si for si in range(n_schools) if grades_span[si] in ("F-6", "F-9")]
            g6 = _grade6_pupils(trng, [codes[si] for si in has6], school_years,
                                {(codes[si], sy): comp[(codes[si], sy)] for si in has6
                                 for sy in school_years},
                                {codes[si]: int(size9[si]) for si in has6},
                                {codes[si]: float(pupil_re[si]) for si in has6},
                                {(codes[si], sy): effect * (q_year(si, yi) - q0) for si in has6
                                 for yi, sy in enumerate(school_years)})
            ex6 = aggregate_grade6(g6)
            muni6 = pd.concat([publish_grade6(aggregate_grade6(g6.assign(
                school_id=municipality_id)), level="municipality",
                municipality_id=municipality_id, principal_type=pt)
                for pt in ("all", "kommunal")], ignore_index=True)
            enskild6 = muni6[muni6["principal_type"] == "all"].assign(
                principal_type="enskild", value=np.nan, n=pd.NA, status="missing")
            results = pd.concat([
                results, publish_grade6(ex6, level="school", municipality_id=municipality_id),
                muni6, enskild6], ignore_index=True)
        if compute_slope:
            # central difference, the same pupils and noise (common random numbers)
            h = 0.1
            up = aggregate_results(pupils_df, grade_all(theta0 + shift + effect * h))
            down = aggregate_results(pupils_df, grade_all(theta0 + shift - effect * h))
            m2 = up[up["group"] == "all"].set_index(["school_id", "school_year"])
            m0 = down[down["group"] == "all"].set_index(["school_id", "school_year"])
            measures = ["merit_17", "merit_16", "pass_all_subjects_pct",
                        "eligible_vocational_pct"]
            per = ((m2[measures] - m0[measures]) / (2 * h)).reset_index()
            slope_by_school_year = per
            for measure in measures:
                slope[measure] = float(per[measure].mean())

    truth = Truth(
        effect=effect, lag=lag, school_params=params, school_quality=school_quality,
        school_year_quality=syq,
        observer_severity=observers.rename(columns={"role": "observer_role",
                                                    "home": "home_school_id"})[
            ["observer_id", "observer_role", "home_school_id", "severity"]],
        leniency_own=leniency_own, type_effects=type_effects, item_difficulty=difficulty,
        variance_components={"sd_school": sd_school, "sd_trend": sd_trend,
                             "sd_school_term": sd_school_term, "sd_teacher": sd_teacher,
                             "sd_observer": sd_observer, "sd_lesson": sd_lesson,
                             "sd_rater_lesson": sd_rater_lesson, "sd_item": sd_item},
        slope=slope, slope_by_school_year=slope_by_school_year, score_scale=score_scale,
        results_exact=results_exact,
        observer_drift={o: float(drift.get(o, 0.0)) for o in observers["observer_id"]},
        params={"seed": seed, "n_schools": n_schools, "n_years": n_years,
                "school_types": bool(school_types),
                "first_year": first_year, "teacher_effect_sd_realised": float(
                    np.std(list(teacher_effect.values()))), "sd_dimension": sd_dimension},
        dimension_quality=dimension_quality)
    return Dataset.build(schools=schools, observations=observations, results=results,
                         background=background, instrument=inst,
                         pupil_results=pupil_results, truth=truth, seed=seed)


# --------------------------------------------------------------------------
# Outcomes beside grades: Skolenkäten indices, attendance, offences
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class OutcomeTruth:
    """How :func:`outcomes` generated one outcome measure."""

    measure: str
    dimension: str
    """The teaching-quality dimension it depends on (``"overall"``: ``q[s, t]``)."""
    effect: float
    """Change of the outcome per unit of that dimension's latent quality."""
    background: float
    """Change per 10 percentage points of pupils with parents with higher education."""
    lag: int
    base: float

    def per_point(self, truth: Truth) -> float:
        """The true change per point of the dimension's index (what ``link`` estimates)."""
        return self.effect / truth.score_scale[self.dimension]


#: index slug -> (dimension, effect per unit of latent quality, background per 10 pp, base)
SURVEY_EFFECTS: dict[str, tuple[str, float, float, float]] = {
    "studiero": ("klassrumsledning", 1.5, 0.20, 6.2),
    "trygghet": ("klassrumsledning", 0.8, 0.15, 8.1),
    "stimulans": ("kognitiv_aktivering", 1.2, 0.15, 5.6),
    "stod": ("elevstod", 1.2, 0.10, 6.6),
    "elevhalsa": ("elevstod", 0.0, 0.10, 6.8),
}
#: measure -> (dimension, effect, background per 10 pp, base) for the organiser's own data
LOCAL_EFFECTS: dict[str, tuple[str, float, float, float]] = {
    "attendance_pct": ("overall", 2.0, 0.6, 92.5),
    "problematic_absence_pct": ("overall", -4.0, -1.2, 12.0),
    "offences_per_100": ("overall", -2.0, -0.3, 4.0),
}
_GRADES_IN_SPAN = {"F-9": 9, "7-9": 3, "4-9": 6, "F-6": 6}
_SURVEY_GRADE = {"ak5": 5, "ak8": 8, "ak9": 9}


def _teaches(span: str, grade: int) -> bool:
    """Whether a school with grades ``span`` ('F-9', '7-9', 'F-6', …) has ``grade``."""
    lo, _, hi = str(span).partition("-")
    try:
        return (0 if lo == "F" else int(lo)) <= grade <= int(hi)
    except ValueError:
        return True


def outcomes(ds: Dataset, *, seed: int | None = None, group: str = "ak8", lag: int = 0,
             survey: dict[str, tuple[str, float, float, float]] | None = None,
             local: dict[str, tuple[str, float, float, float]] | None = None,
             response_rate: tuple[float, float] = (0.65, 0.9), sd_pupil: float = 2.0,
             sd_school: float = 0.3, sd_year: float = 0.12, sd_term_local: float = 0.4
             ) -> Dataset:
    """Add outcomes beside grades, with known effects, to a synthetic municipality.

    For every school and school year (Skolenkäten, respondent group ``group``)
    or term (attendance, problematic absence, offences)::

        outcome = base + background * (parents_higher_edu − 60) / 10
                  + effect * (Q_dim[s, y − lag] − mean Q_dim) + school_re[s] + noise

    where ``Q_dim`` is the true quality of the dimension the outcome depends on
    (``truth.dimension_quality``; the school × year mean of its terms, or the
    term itself for the term measures; a year before the first uses the first
    year). A survey index is the mean of ``n`` respondents (``n`` binomial from
    the school's år-8 cohort and a response rate), so its noise is
    ``sd_pupil / sqrt(n)``; it is published with one decimal and as ``-``
    (suppressed) below 5 respondents, as Skolinspektionen does. Attendance and
    the shares are published per term with one decimal (school rows only: an
    organiser's own file has no municipality row); the school-year row is the
    pupil-weighted mean of the two terms (as
    :func:`undervisning_analys.io.local_measures.read_local_measures` computes
    it).

    ``seed`` (default: ``ds.seed``) seeds a separate random stream
    (``[seed, 16]``), so ``municipality`` itself is unchanged. Returns a new
    Dataset whose results have the new rows (school and municipality level) and
    whose ``truth.outcomes`` maps each measure to its :class:`OutcomeTruth`
    (``truth.outcome_terms``: the term values); ``OutcomeTruth.per_point`` is the
    change per index point, the target of ``link(ds, measure, dimension=...)``.
    """
    from dataclasses import replace as _replace

    truth = ds.truth
    if truth is None or truth.dimension_quality is None:
        raise ValueError("outcomes() needs a synthetic Dataset from synth.municipality")
    if group not in schema.SKOLENKAT_GROUPS:
        raise ValueError(f"unknown Skolenkäten group {group!r}")
    survey = SURVEY_EFFECTS if survey is None else survey
    local = LOCAL_EFFECTS if local is None else local
    seed = ds.seed if seed is None else seed
    rng = np.random.default_rng([int(seed or 0), 16])
    schools = ds.schools.sort_values("school_id").reset_index(drop=True)
    codes = schools["school_id"].tolist()
    mid = str(schools["municipality_id"].iloc[0])
    bg = ds.background.set_index(["school_id", "school_year"])
    school_years = sorted(set(truth.school_year_quality["school_year"]))
    terms = sorted(set(truth.school_quality["term"]), key=schema.term_index)
    dq = truth.dimension_quality
    dims = {d for d, *_ in list(survey.values()) + list(local.values())}
    qd_term = {d: dq[dq["dimension"] == d].set_index(["school_id", "term"])["quality"]
               for d in dims if d != "overall"}
    qd_term["overall"] = truth.school_quality.set_index(["school_id", "term"])["quality"]
    qd_year: dict[str, pd.Series] = {}
    for d, v in qd_term.items():
        f = v.reset_index()
        f["school_year"] = f["term"].map(schema.term_school_year)
        qd_year[d] = f.groupby(["school_id", "school_year"])["quality"].mean()
    centre = {d: float(v.mean()) for d, v in qd_year.items()}

    def src_year(sy: str) -> str:
        k = max(0, school_years.index(sy) - lag)
        return school_years[k]

    def src_term(t: str) -> str:
        k = max(0, terms.index(t) - 2 * lag)
        return terms[k]

    rows: list[dict[str, Any]] = []
    term_rows: list[dict[str, Any]] = []
    out_truth: dict[str, OutcomeTruth] = {}
    n_grades = schools["grades"].map(lambda g: _GRADES_IN_SPAN.get(str(g), 9)).to_numpy()
    # the survey's respondent group is asked only where the school has that grade
    grade = _SURVEY_GRADE.get(group)
    surveyed = [grade is None or _teaches(g, grade) for g in schools["grades"]]
    rate = rng.uniform(*response_rate, size=len(codes))
    # ---- Skolenkäten -------------------------------------------------------------
    # one set of respondents per school and year (every index of the year shares it)
    cohort: dict[tuple[str, str], int] = {}
    resp: dict[tuple[str, str], int] = {}
    for sy in school_years:
        n_group = n_all = 0
        for si, sid in enumerate(codes):
            if not surveyed[si]:
                continue
            k = (sid, sy)
            cohort[k] = max(1, int(round(float(bg.loc[k]["n_pupils"]) / n_grades[si])))
            resp[k] = int(rng.binomial(cohort[k], rate[si]))
            n_group += cohort[k]
            n_all += resp[k]
            for kind, v in (("antal_i_gruppen", cohort[k]), ("antal_svar", resp[k]),
                                ("svarsfrekvens",
                             round(_round_half_up(resp[k] / cohort[k], 3) * 100, 10))):
                rows.append({"level": "school", "school_id": sid, "municipality_id": mid,
                             "school_year": sy, "measure": f"skolenkat_{kind}_{group}",
                             "group": "all", "principal_type": "kommunal", "value": float(v),
                             "n": resp[k], "status": "ok", "source": "synth"})
        for kind, v in (("antal_i_gruppen", n_group), ("antal_svar", n_all),
                        ("svarsfrekvens",
                         round(_round_half_up(n_all / n_group, 3) * 100, 10))):
            rows.append({"level": "municipality", "school_id": None, "municipality_id": mid,
                         "school_year": sy, "measure": f"skolenkat_{kind}_{group}",
                         "group": "all", "principal_type": "kommunal", "value": float(v),
                         "n": n_all, "status": "ok", "source": "synth"})
    for slug, (dim, eff, bgeff, base) in survey.items():
        measure = f"skolenkat_{slug}_{group}"
        out_truth[measure] = OutcomeTruth(measure, dim, eff, bgeff, lag, base)
        re_s = sd_school * rng.standard_normal(len(codes))
        for sy in school_years:
            tot = wsum = 0.0
            n_all = 0
            for si, sid in enumerate(codes):
                if not surveyed[si]:
                    continue
                b = bg.loc[(sid, sy)]
                n = resp[(sid, sy)]
                mean = (base + bgeff * (float(b["share_parents_higher_edu"]) - 60) / 10
                        + eff * (float(qd_year[dim][(sid, src_year(sy))]) - centre[dim])
                        + re_s[si] + sd_year * rng.standard_normal())
                value = float(np.clip(mean + sd_pupil / np.sqrt(max(n, 1))
                                      * rng.standard_normal(), 0, 10))
                shown = _round_half_up(value)
                ok = n >= 5
                rows.append({"level": "school", "school_id": sid, "municipality_id": mid,
                             "school_year": sy, "measure": measure, "group": "all",
                             "principal_type": "kommunal",
                             "value": shown if ok else np.nan, "n": n,
                             "status": "ok" if ok else "suppressed", "source": "synth"})
                n_all += n
                if n:
                    tot += value * n
                    wsum += n
            rows.append({"level": "municipality", "school_id": None, "municipality_id": mid,
                         "school_year": sy, "measure": measure, "group": "all",
                         "principal_type": "kommunal",
                         "value": _round_half_up(tot / wsum) if wsum else np.nan, "n": n_all,
                         "status": "ok" if n_all >= 5 else "suppressed", "source": "synth"})
    # ---- attendance, problematic absence, offences (per term) ---------------------
    for measure, (dim, eff, bgeff, base) in local.items():
        out_truth[measure] = OutcomeTruth(measure, dim, eff, bgeff, lag, base)
        re_s = sd_school * rng.standard_normal(len(codes)) * (1.0 if measure != "attendance_pct"
                                                             else 2.0)
        lo, hi = (0.0, 100.0) if measure.endswith("_pct") else (0.0, np.inf)
        for t in terms:
            sy = schema.term_school_year(t)
            for si, sid in enumerate(codes):
                b = bg.loc[(sid, sy)]
                n = int(b["n_pupils"])
                v = (base + bgeff * (float(b["share_parents_higher_edu"]) - 60) / 10
                     + eff * (float(qd_term[dim][(sid, src_term(t))]) - centre[dim])
                     + re_s[si] + sd_term_local * rng.standard_normal())
                term_rows.append({"school_id": sid, "term": t, "school_year": sy,
                                  "measure": measure, "value": _round_half_up(
                                      float(np.clip(v, lo, hi))), "n": n})
    terms_df = pd.DataFrame(term_rows)
    if len(terms_df):
        yearly = (terms_df.assign(w=terms_df["value"] * terms_df["n"])
                  .groupby(["school_id", "school_year", "measure"], sort=False)
                  .agg(w=("w", "sum"), n=("n", "sum"), n_max=("n", "max")).reset_index())
        for r in yearly.itertuples(index=False):
            rows.append({"level": "school", "school_id": r.school_id, "municipality_id": mid,
                         "school_year": r.school_year, "measure": r.measure, "group": "all",
                         "principal_type": "all",
                         "value": round(r.w / r.n, 10), "n": int(r.n_max), "status": "ok",
                         "source": "synth"})
    new = pd.DataFrame(rows)
    results = pd.concat([ds.results, new], ignore_index=True)
    new_truth = _replace(truth, outcomes={**truth.outcomes, **out_truth},
                         outcome_terms=terms_df,
                         params={**truth.params, "outcomes_seed": seed, "outcomes_group": group})
    return ds.replace(results=results, truth=new_truth)


# --------------------------------------------------------------------------
# Plans with a known truth (issue #15)
# --------------------------------------------------------------------------
PLAN_STREAM = 15
"""The plans are drawn from their own random stream (``default_rng([seed, 15])``), so
that :func:`municipality` is unchanged by them."""


def true_index(ds: Dataset, quality: np.ndarray | pd.Series, dimension: str = "overall"
               ) -> np.ndarray:
    """The true teaching-quality index (score scale) of latent quality ``quality``.

    The index is the expected form score of a spontaneous visit by an observer
    who does not work at the school, averaged over the school's teachers,
    lessons, observers and item noise (as the index model's reference
    conditions average over its random effects): for every item ``k`` of the
    dimension, ``min + sum_c Φ((centre + q + difficulty_k − c) / σ)`` over the
    thresholds ``c = min + 0.5, …, max − 0.5``, with ``σ²`` the sum of the
    teacher, observer, lesson, rater-lesson and item variances; the dimension's
    value is the mean over its items, ``overall`` the mean over dimensions.
    """
    from scipy.stats import norm

    truth = ds.truth
    if truth is None:
        raise ValueError("true_index needs a synthetic Dataset (ds.truth)")
    inst = ds.instrument
    vc = truth.variance_components
    sigma = float(np.sqrt(sum(vc[k] ** 2 for k in (
        "sd_teacher", "sd_observer", "sd_lesson", "sd_rater_lesson", "sd_item"))))
    centre = (inst.scale_min + inst.scale_max) / 2 + 0.1
    cuts = np.arange(inst.scale_min, inst.scale_max) + 0.5
    q = np.asarray(quality, dtype=float)

    def dim_value(d: Any) -> np.ndarray:
        diffs = np.array([truth.item_difficulty[it.id] for it in d.items])
        x = centre + q[:, None] + diffs[None, :]
        e = inst.scale_min + sum(norm.cdf((x - c) / sigma) for c in cuts)
        return np.asarray(e.mean(axis=1))

    if dimension == "overall":
        return np.mean([dim_value(d) for d in inst.dimensions], axis=0)
    dims = {d.id: d for d in inst.dimensions}
    return dim_value(dims[dimension])


def _raw_dimension_means(ds: Dataset, term: str) -> dict[tuple[str, str], float]:
    """(school, dimension) -> mean form score in ``term`` (what anyone reads off the data)."""
    inst = ds.instrument
    o = ds.observations[ds.observations["term"] == term]
    lo, hi = inst.scale
    rev = set(inst.reversed_items())
    score = np.where(o["item_id"].isin(rev), lo + hi - o["score"], o["score"])
    dim_of = inst.dimension_of()
    d = pd.DataFrame({"school_id": o["school_id"].to_numpy(),
                      "dimension": o["item_id"].map(dim_of).to_numpy(), "score": score})
    return {k: float(v) for k, v in d.groupby(["school_id", "dimension"])["score"].mean().items()}


def with_plans(ds: Dataset, *, seed: int = 0, baseline_term: str | None = None,
               target_term: str | None = None, aim: tuple[float, float] = (0.0, 0.4),
               planned_per_term: tuple[int, int] = (4, 12), results_targets: bool = True,
               notes: bool = True) -> Dataset:
    """A synthetic Dataset with plans (and dialogue notes) whose truth is known.

    Every school gets a plan with one target on a focus dimension of the
    instrument (drawn at random): the baseline is what the school reads off
    its data at ``baseline_term`` (default: the fourth term), the mean form
    score of the dimension that term (less the municipality's average gap
    between such raw means and the index, one constant), and the target is
    the baseline plus an
    aim drawn uniformly from ``aim`` (index points), rounded to two decimals.
    The target is reached in truth when the true index
    (:func:`true_index`) at ``target_term`` (default: the last term) is at or
    above it; the school's true trend and term noise decide, so some schools
    reach their target and others do not. The target depends on the truth only
    through the data (never on the future), so that a follow-up's probability
    can be checked against the truth. Planned lessons per term and visit type (spontaneous,
    planned, collegial) and catalogue actions are drawn too. With
    ``results_targets``, every third school also has a target on its adjusted
    merit value (no truth is recorded for those), if it has merit values. The organiser's plan has one
    target on the overall index that every school target serves.

    ``ds.truth.plans`` holds per school target: ``plan_id, target_id,
    school_id, target_of, target_term, target, true_value, reached`` (NaN and
    None when the target term lies after the generated terms, as in the
    sample, whose plans run to a term still ahead). The organiser's target is
    the true overall index at the baseline term plus 0.15. Drawn
    from its own random stream (:data:`PLAN_STREAM`): ``municipality`` is not
    changed.
    """
    from dataclasses import replace as _replace

    if ds.truth is None:
        raise ValueError("with_plans needs a synthetic Dataset (ds.truth)")
    rng = np.random.default_rng([seed if ds.seed is None else ds.seed, seed, PLAN_STREAM])
    sq = ds.truth.school_quality
    terms = sorted(set(sq["term"]), key=schema.term_index)
    b_term = baseline_term or terms[min(3, len(terms) - 1)]
    t_term = target_term or terms[-1]
    if b_term not in terms:
        raise ValueError(f"baseline_term {b_term} is not a term of the data")
    dims = [d.id for d in ds.instrument.dimensions]
    qs = sq.set_index(["school_id", "term"])["quality"]
    schools = list(ds.schools.sort_values("school_id")["school_id"])
    rows: list[dict[str, Any]] = []
    truth_rows: list[dict[str, Any]] = []
    org_target = "H1"
    raw = _raw_dimension_means(ds, b_term)
    res = ds.results
    with_results = set(res.loc[(res["measure"] == "merit_17") & (res["status"] == "ok")
                               & (res["level"].astype(str) == "school"), "school_id"])
    # raw means run higher than the index (observers at their own school, planned visits):
    # the municipality's average gap, one constant, brings the baselines to the index's level
    gap = {d: float(np.mean([raw[(s, d)] - true_index(ds, [qs[(s, b_term)]], d)[0]
                             for s in schools if (s, d) in raw])) for d in dims}
    for k, sid in enumerate(schools):
        dim = dims[int(rng.integers(len(dims)))]
        in_truth = (sid, t_term) in qs.index
        true_t = float(true_index(ds, [qs[(sid, t_term)]], dim)[0]) if in_truth \
            else float("nan")
        base = raw[(sid, dim)] - gap[dim] if (sid, dim) in raw else float("nan")
        aim_k = float(rng.uniform(*aim))
        fallback = float(np.mean([raw[(s, dim)] for s in schools if (s, dim) in raw])) - gap[dim]
        target = round((base if np.isfinite(base) else fallback) + aim_k, 2)
        plan_id = f"P-{sid}"
        actions = "; ".join(sorted(rng.choice(["U1", "U2", "U3", "U5", "U6", "F1", "F3"],
                                              size=3, replace=False)))
        common = {"plan_id": plan_id, "level": "school", "school_id": sid,
                  "period_start": b_term, "period_end": t_term}
        rows.append({**common, "target_id": "M1", "kind": "dimension", "target_of": dim,
                     "baseline": round(base, 2) if np.isfinite(base) else None,
                     "baseline_term": b_term, "target": target,
                     "target_term": t_term, "actions": actions, "serves": org_target})
        truth_rows.append({"plan_id": plan_id, "target_id": "M1", "school_id": sid,
                           "target_of": dim, "target_term": t_term, "target": target,
                           "true_value": true_t,
                           "reached": bool(true_t >= target) if in_truth else None})
        for j, vt in enumerate(("spontan", "planerad", "kollegial")):
            n = int(rng.integers(*planned_per_term)) // (1 + j)
            rows.append({**common, "target_id": f"B{j + 1}", "kind": "observations",
                         "target_of": vt, "baseline": None, "baseline_term": None,
                         "target": float(max(n, 1)), "target_term": t_term, "actions": None,
                         "serves": None})
        if results_targets and k % 3 == 0 and sid in with_results:
            rows.append({**common, "target_id": "R1", "kind": "result",
                         "target_of": "merit_17", "baseline": None, "baseline_term": None,
                         "target": float(round(2.0 + 3.0 * rng.random(), 1)),
                         "target_term": t_term, "actions": "F1; F2", "serves": None})
    overall_b = float(np.mean(true_index(ds, [qs[(s, b_term)] for s in schools])))
    rows.append({"plan_id": "P-huvudman", "level": "organiser", "school_id": None,
                 "period_start": b_term, "period_end": t_term, "target_id": org_target,
                 "kind": "dimension", "target_of": "overall", "baseline": None,
                 "baseline_term": None, "target": round(overall_b + 0.15, 2),
                 "target_term": t_term, "actions": "F3; F5", "serves": None})
    plans = pd.DataFrame(rows)
    dialogue = None
    if notes:
        dates = sq.loc[sq["term"] == b_term, "term"]
        year = int(b_term[2:])
        day = pd.Timestamp(year=year, month=11 if b_term.startswith("HT") else 4, day=15)
        note_rows = []
        for sid in schools:
            dim_of = plans[(plans["school_id"] == sid) & (plans["target_id"] == "M1")]
            dim = str(dim_of["target_of"].iloc[0])
            note_rows.append({"school_id": sid, "dialogue_date": day, "kind": "agreement",
                              "text": "Rektor genomför planerade lektionsbesök med för- och "
                                      "eftersamtal med fokus på "
                                      + ds.instrument.dimension_names()[dim].lower() + ".",
                              "owner_role": "rektor",
                              "follow_up_date": day + pd.Timedelta(days=180),
                              "status": "pagar", "about": "M1"})
            note_rows.append({"school_id": sid, "dialogue_date": day, "kind": "agreement",
                              "text": "Ledningen gör parobservationer varje termin för att "
                                      "bedöma lika.", "owner_role": "biträdande rektor",
                              "follow_up_date": day + pd.Timedelta(days=180),
                              "status": "ej_paborjad", "about": None})
        dialogue = pd.DataFrame(note_rows)
        _ = dates
    truth = _replace(ds.truth, plans=pd.DataFrame(truth_rows))
    return ds.replace(plans=plans, dialogue_notes=dialogue, truth=truth)
