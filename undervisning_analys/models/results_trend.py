"""A school's results over all its years: a level and a trend, estimated, never subtracted.

:func:`results_trend` answers two questions a quality dialogue asks of the
results, for every school:

1. *Has the school's result changed over the period?* – its trend per school
   year over all its years, with a 95 % interval (never the difference of two
   single years, which a dip in the first year turns into a "rise");
2. *Does the school lie persistently above or below what its pupil
   composition leads us to expect?* – its average distance from the
   expectation over the period, pooled over the years, with a 95 % interval.
   A school 15–22 merit points above expected in each of five years is found
   even when no single year's interval excludes zero.

The model
---------
For school ``s`` in school year ``y`` (``time`` in school years, centred on
the middle of the period, so that the intercept is the level over the
period)::

    value[s, y] = b0 + b1 * time + u0[s] + u1[s] * time + e[s, y]
    (u0, u1) ~ N(0, G)   e ~ N(0, sigma^2 / w[s, y])   w = n / mean(n)

``value`` is the residual of :func:`~undervisning_analys.models.adjust.adjusted_results`
(observed − expected from pupil background; ``adjusted=True``, the default)
or the observed result itself (``adjusted=False``). It is fitted by REML with
:func:`~undervisning_analys.models.mixed.fit_mixed` (lme4's estimates),
weighted by the number of pupils ``n`` when every row has it. The schools'
levels and trends are the model's predictions ``b + u[s]``: shrunken towards
the municipality's where a school's own years say little (few pupils, few
years, noisy years), so a small school's level or trend is pulled towards the
common one and its interval is wide.

Uncertainty
-----------
``se`` of a school's level or trend is ``sqrt(se(b)^2 + condvar(u[s]))``
(the fixed effect's variance and lme4's conditional variance of the school's
random effect; their covariance is ignored, which errs on the cautious
side). For adjusted results, the level's variance also includes the mean
squared standard error of the expectation (``se_expected`` of the adjusted
results), because an error in the reference model moves all of a school's
years alike. Wald 95 % intervals. A school needs at least
:data:`MIN_YEARS` years with a value for a trend and a level to be shown;
below that its row is kept with NaN and a note.

Missing data
------------
Rows without a value (suppressed ``..``, ``~100``, missing, no background
for the expectation) are left out of the model and counted per school in
``n_years_missing``. Nothing is imputed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from .._format import swedish_key
from .._results import Result
from ..errors import ModelError
from .adjust import sv_num

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..dataset import Dataset

__all__ = ["results_trend", "ResultsTrendResult", "MIN_YEARS", "MIN_SCHOOLS"]

Z_95 = 1.959963984540054
MIN_YEARS = 3
"""Years with a value a school needs before its level and trend are shown."""
MIN_SCHOOLS = 3
"""Schools with a value needed to fit the model."""

_TIDY_COLUMNS = ["component", "level", "school_id", "measure", "basis", "estimate", "se",
                 "conf_low", "conf_high", "n_years", "n_years_missing", "first_year",
                 "last_year", "note"]


def _year_start(school_year: pd.Series) -> pd.Series:
    return school_year.astype(str).str[:4].astype(int)


def results_trend(ds: Dataset | None = None, measure: str = "merit_17", *,
                  adjusted: bool = True, adjusted_result: Any = None,
                  data: pd.DataFrame | None = None) -> ResultsTrendResult:
    """Each school's level and trend in a results measure over all its years.

    Parameters
    ----------
    ds : a Dataset with school results (and background, when ``adjusted``).
    measure : a results measure (``merit_17``, ``pass_all_subjects_pct``, …).
    adjusted : model the distance from the result expected from pupil
        background (default) or the observed result.
    adjusted_result : an :class:`~undervisning_analys.models.adjust.AdjustedResult`
        (or its ``.tidy()``) to reuse instead of computing it again.
    data : instead of ``ds``: a table with ``school_id, school_year, value``
        and optionally ``n`` and ``se_expected`` (for tests and own data).

    Returns
    -------
    ResultsTrendResult; ``.tidy()`` has one row per ``component``:
    ``school_level`` (per school: mean distance from the expectation, or the
    mean result, over the period), ``school_trend`` (per school: change per
    school year), ``municipality_level``, ``municipality_trend``, ``level_sd``
    and ``trend_sd`` (standard deviations of the schools' levels and trends).

    Raises
    ------
    ModelError
        Unknown measure, no results, fewer than :data:`MIN_SCHOOLS` schools
        or fewer than 3 school years with values.

    Notes
    -----
    See the module docstring for the model, the uncertainty and the
    missing-data policy.
    """
    from .mixed import fit_mixed

    if data is not None:
        frame = data.copy()
        for c in ("n", "se_expected"):
            if c not in frame.columns:
                frame[c] = np.nan
        basis = "residual" if adjusted else "observed"
        names: dict[str, str] = {}
    else:
        if ds is None:
            raise ModelError("Ange en datamängd (ds) eller en tabell (data).")
        if not schema.is_known_measure(measure):
            raise ModelError(f"Okänt mått `{measure}`",
                             hint="Välj ett mått i vokabulären, t.ex. merit_17 eller "
                                  "pass_all_subjects_pct.")
        names = dict(zip(ds.schools["school_id"].astype(str),
                         ds.schools["school_name"].astype(str)))
        if adjusted:
            if adjusted_result is None:
                from .adjust import adjusted_results

                adjusted_result = adjusted_results(ds, measure)
            tab = (adjusted_result.tidy() if hasattr(adjusted_result, "tidy")
                   else pd.DataFrame(adjusted_result))
            frame = tab.rename(columns={"residual": "value"})[
                ["school_id", "school_year", "value", "n", "se_expected"]].copy()
            basis = "residual"
        else:
            from .adjust import school_results

            tab = school_results(ds.results, measure)
            if tab.empty:
                raise ModelError(f"Datamängden har inga resultat på skolnivå för måttet "
                                 f"`{measure}` ({schema.measure_label(measure)})",
                                 table="results", column="measure",
                                 hint="Läs in Skolverkets resultatfiler för skolenheterna.")
            ok = (tab["status"] == "ok") & tab["value"].notna()
            frame = tab.assign(value=tab["value"].where(ok))[
                ["school_id", "school_year", "value", "n"]].copy()
            frame["se_expected"] = np.nan
            basis = "observed"
    frame["school_id"] = frame["school_id"].astype(str)
    frame["school_year"] = frame["school_year"].astype(str)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["n"] = pd.to_numeric(frame["n"], errors="coerce").astype(float)
    all_rows = frame
    fit_rows = frame[frame["value"].notna()].copy()
    years = sorted(fit_rows["school_year"].unique())
    if fit_rows["school_id"].nunique() < MIN_SCHOOLS or len(years) < 3:
        raise ModelError(
            f"För få värden för trender i {schema.measure_label(measure)}: "
            f"{fit_rows['school_id'].nunique()} skolor och {len(years)} läsår med värden; "
            f"minst {MIN_SCHOOLS} skolor och 3 läsår behövs",
            table="results", column="value",
            hint="Läs in resultat (och bakgrund) för fler läsår.")
    starts = _year_start(fit_rows["school_year"])
    centre = float((starts.min() + starts.max()) / 2)
    fit_rows["time"] = starts - centre
    weighted = bool(fit_rows["n"].notna().all() and (fit_rows["n"] > 0).all())
    opts: dict[str, Any] = {}
    if weighted:
        opts["weights"] = (fit_rows["n"] / fit_rows["n"].mean()).to_numpy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit_mixed("value ~ time + (1 + time | school_id)", fit_rows, reml=True, **opts)
    fit_warnings = tuple(str(w.message) for w in caught)
    fe, se = model.fixef, model.se
    b0, b1 = float(fe["(Intercept)"]), float(fe["time"])
    s0, s1 = float(se["(Intercept)"]), float(se["time"])
    cm = model.conditional_modes()
    cm = cm[cm["group"] == "school_id"]
    u0 = cm[cm["term"] == "(Intercept)"].set_index("level")
    u1 = cm[cm["term"] == "time"].set_index("level")
    vc = model.varcorr
    sd = {t: float(vc.loc[(vc["group"] == "school_id") & (vc["term1"] == t)
                          & vc["term2"].isna(), "sd_cor"].iloc[0]) for t in ("(Intercept)", "time")}
    rows: list[dict[str, Any]] = []
    for sid, part in all_rows.groupby("school_id", sort=True):
        have = part[part["value"].notna()]
        n_years = int(len(have))
        first = str(min(have["school_year"])) if n_years else None
        last = str(max(have["school_year"])) if n_years else None
        note = ""
        lvl = tr = lse = tse = float("nan")
        if n_years >= MIN_YEARS and sid in u0.index:
            lvl = b0 + float(u0.loc[sid, "estimate"])
            tr = b1 + float(u1.loc[sid, "estimate"])
            extra = float(np.nanmean(have["se_expected"] ** 2)) if have["se_expected"].notna().any() else 0.0
            lse = float(np.sqrt(s0 ** 2 + float(u0.loc[sid, "cond_var"]) + extra))
            tse = float(np.sqrt(s1 ** 2 + float(u1.loc[sid, "cond_var"])))
        else:
            note = (f"för få läsår med värden ({n_years}); minst {MIN_YEARS} behövs "
                    "för nivå och trend")
        common = {"level": "school", "school_id": sid, "measure": measure, "basis": basis,
                  "n_years": n_years, "n_years_missing": int(len(part) - n_years),
                  "first_year": first, "last_year": last, "note": note}
        for comp, est, s in (("school_level", lvl, lse), ("school_trend", tr, tse)):
            rows.append({"component": comp, **common, "estimate": est, "se": s,
                         "conf_low": est - Z_95 * s, "conf_high": est + Z_95 * s})
    muni = {"level": "municipality", "school_id": None, "measure": measure, "basis": basis,
            "n_years": len(years), "n_years_missing": 0, "first_year": years[0],
            "last_year": years[-1], "note": ""}
    for comp, est, s in (("municipality_level", b0, s0), ("municipality_trend", b1, s1)):
        rows.append({"component": comp, **muni, "estimate": est, "se": s,
                     "conf_low": est - Z_95 * s, "conf_high": est + Z_95 * s})
    for comp, key in (("level_sd", "(Intercept)"), ("trend_sd", "time")):
        rows.append({"component": comp, **muni, "estimate": sd[key], "se": np.nan,
                     "conf_low": np.nan, "conf_high": np.nan})
    table = pd.DataFrame(rows)[_TIDY_COLUMNS]
    info = {"formula": model.formula, "weighted": weighted, "centre_year": centre,
            "years": tuple(years), "n_rows": int(len(fit_rows)),
            "n_rows_missing": int(len(all_rows) - len(fit_rows)), "warnings": fit_warnings}
    return ResultsTrendResult(measure=measure, adjusted=adjusted, table=table, model=model,
                              names=names, info=info)


@dataclass(frozen=True, eq=False)
class ResultsTrendResult(Result):
    """Schools' levels and trends in a results measure (see :func:`results_trend`)."""

    measure: str
    adjusted: bool
    table: pd.DataFrame = field(repr=False)
    model: Any = field(repr=False)
    names: dict[str, str] = field(default_factory=dict, repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def school_trends(self) -> pd.DataFrame:
        """One row per school: change per school year with its 95 % interval."""
        t = self.table
        return t[t["component"] == "school_trend"].reset_index(drop=True)

    def school_levels(self) -> pd.DataFrame:
        """One row per school: level over the period (pooled over years) with its interval."""
        t = self.table
        return t[t["component"] == "school_level"].reset_index(drop=True)

    @property
    def municipality_trend(self) -> dict[str, float]:
        r = self.table[self.table["component"] == "municipality_trend"].iloc[0]
        return {k: float(r[k]) for k in ("estimate", "se", "conf_low", "conf_high")}

    def _summary_text(self) -> str:
        label = schema.measure_label(self.measure)
        years = self.info.get("years", ())
        period = f"{years[0]}–{years[-1]}" if years else ""
        what = ("avstånd från förväntat resultat utifrån elevsammansättningen" if self.adjusted
                else "resultat")
        mt = self.municipality_trend
        lines = [f"{label}: skolornas nivå och trend {period} ({what})",
                 f"Kommunens trend: {sv_num(mt['estimate'], 2, sign=True)} per läsår "
                 f"(95 % KI {sv_num(mt['conf_low'], 2)} till {sv_num(mt['conf_high'], 2)}).",
                 "Trenden skattas ur alla läsår, inte ur skillnaden mellan två år; skolor med "
                 "få elever eller få år dras mot kommunens trend (krympning).", ""]
        for kind, title in (("school_level", "Nivå över perioden"),
                            ("school_trend", "Trend per läsår")):
            t = self.table[self.table["component"] == kind]
            lines.append(title + ":")
            for r in t.itertuples(index=False):
                name = self.names.get(str(r.school_id), str(r.school_id))
                if not np.isfinite(r.estimate):
                    lines.append(f"  {name}: .. ({r.note})")
                    continue
                lines.append(f"  {name}: {sv_num(r.estimate, 1, sign=True)} (95 % KI "
                             f"{sv_num(r.conf_low, 1)} till {sv_num(r.conf_high, 1)})")
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Schools' trends with 95 % intervals, in alphabetical order of name."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.3 * len(self.school_trends()) + 1.5))
        t = self.school_trends().dropna(subset=["estimate"])
        t = t.assign(name=t["school_id"].map(lambda s: self.names.get(s, s)))
        t = t.sort_values("name", key=lambda s: s.map(swedish_key))
        y = np.arange(len(t))
        ax.errorbar(t["estimate"], y, xerr=[t["estimate"] - t["conf_low"],
                                            t["conf_high"] - t["estimate"]], fmt="o")
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, t["name"])
        ax.set_xlabel(f"{schema.measure_label(self.measure)}: förändring per läsår")
        return ax
