"""Teaching-quality growth: trajectories, school trends and how much they differ.

:func:`growth` answers three questions a school organiser asks of the lesson
observations over the years:

1. *How did each school's teaching quality develop, term by term?* – the
   teaching-quality index (:func:`~undervisning_analys.measure.index.teaching_quality`)
   per school and term with its 95 % interval (the trajectories);
2. *What is each school's trend, and the municipality's?* – change in the
   index per school year, with 95 % intervals;
3. *How much do the schools differ in their trends?* – the standard
   deviation of the schools' trends.

The model behind 2 and 3
------------------------
Growth has no model of its own: it is a view of the teaching-quality model
(:class:`~undervisning_analys.measure.model.TeachingQualityModel`), the one the
index uses, fitted once per Dataset and dimension and shared with the index,
the link and the decision study. The trends come from that model fitted
directly to the observation forms, not to the index: fitting the index again
would treat shrunken estimates as data and count the same uncertainty twice.
When the index's rules leave out the random school trend (fewer than 5
schools or 3 terms), growth asks for the same model with the trend kept.

* municipality trend = the fixed ``time`` coefficient, Wald 95 % interval;
* school trend = fixed ``time`` + the school's predicted random slope; its
  standard error is the joint prediction-error SE from the mixed-model
  equations (it includes the uncertainty of the fixed slope and its
  covariance with the school's slope) with the Kackar–Harville term for the
  estimated variances, exactly as the index's cells
  (:meth:`~undervisning_analys.measure.model.TeachingQualityModel.school_trends`);
  Wald 95 %;
* SD of school trends = the estimated standard deviation of the random
  slope (REML), in index points per school year. A point estimate: with few
  schools it is uncertain, and it is 0 when the data cannot tell the
  schools' trends apart (the fit is then singular and a warning is given).

School trends are shrunken towards the municipality's: a school with few
observations gets a trend close to the municipality's and a wide interval.

Privacy
-------
A school's trend is shown only when it rests on at least
:data:`~undervisning_analys.privacy.MIN_OBS` observed lessons and
:data:`~undervisning_analys.privacy.MIN_TEACHERS` teachers in total; below that
its estimate, standard error and interval are NaN and ``suppressed`` is True.
The school still contributes to the model. Index rows arrive already
suppressed by the index. Nothing identifies a teacher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from .._format import Z_95, swedish_key
from .._results import Result
from ..engine.ranks import rank_intervals
from ..errors import ModelError
from ..measure import TeachingQualityModel, score_forms, teaching_quality_model
from ..measure.model import MIN_PAIRED_LESSONS
from .adjust import sv_num

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..dataset import Dataset
    from .mixed import MixedResult

__all__ = ["growth", "GrowthResult", "MIN_PAIRED_LESSONS"]


_TIDY_COLUMNS = ["component", "level", "school_id", "term", "school_year", "estimate", "se",
                 "conf_low", "conf_high", "n_obs", "n_teachers", "reliability", "suppressed"]


def _forms(ds: Dataset, dimension: str) -> pd.DataFrame:
    """One row per form with the dimension score, time (school years), school × term and
    ``own_school``, scored as the index scores them
    (:func:`~undervisning_analys.measure.index.score_forms`)."""
    known = [d.id for d in ds.instrument.dimensions] + ["overall"]
    if dimension not in known:
        raise ModelError(
            f"Okänd dimension `{dimension}` för protokollet `{ds.instrument.id}`",
            hint="Välj en av " + ", ".join(known) + ".")
    if ds.observations.empty:
        raise ModelError("Datamängden har inga lektionsobservationer",
                         table="observations",
                         hint="Läs in observationsexporten (observationer.csv).")
    f = score_forms(ds)
    f = f[f[dimension].notna()].copy()
    f["school_id"] = f["school_id"].astype(str)
    f["term"] = f["term"].astype(str)
    f["score"] = f[dimension].astype(float)
    return f


def _index_table(ds: Dataset, dimension: str, index: Any) -> pd.DataFrame:
    """Index rows (school and municipality level) in the contract's tidy format."""
    if index is None:
        from ..measure.index import teaching_quality

        index = teaching_quality(ds, by=["school", "municipality"], dimension=dimension)
    tq = index.tidy() if hasattr(index, "tidy") else index.copy()
    if "dimension" in tq.columns:
        tq = tq[tq["dimension"].astype(str) == dimension]
    if "unit" not in tq.columns and "school_id" in tq.columns:
        tq["unit"] = tq["school_id"]
    if "level" not in tq.columns:
        tq["level"] = "school"
    tq = tq[tq["level"].astype(str).isin(["school", "municipality"])]
    for c in ("se", "conf_low", "conf_high", "n_obs", "n_teachers", "reliability"):
        if c not in tq.columns:
            tq[c] = np.nan
    if "suppressed" not in tq.columns:
        tq["suppressed"] = tq["estimate"].isna()
    if "school_year" not in tq.columns:
        tq["school_year"] = tq["term"].map(schema.term_school_year)
    lo = tq["conf_low"].isna() & tq["estimate"].notna() & tq["se"].notna()
    tq.loc[lo, "conf_low"] = tq.loc[lo, "estimate"] - Z_95 * tq.loc[lo, "se"]
    tq.loc[lo, "conf_high"] = tq.loc[lo, "estimate"] + Z_95 * tq.loc[lo, "se"]
    out = pd.DataFrame({
        "component": "index",
        "level": tq["level"].astype(str).to_numpy(),
        "school_id": np.where(tq["level"].astype(str) == "school", tq["unit"].astype(str),
                              None),
        "term": tq["term"].astype(str).to_numpy(),
        "school_year": tq["school_year"].astype(str).to_numpy(),
        "estimate": tq["estimate"].astype(float).to_numpy(),
        "se": tq["se"].astype(float).to_numpy(),
        "conf_low": tq["conf_low"].astype(float).to_numpy(),
        "conf_high": tq["conf_high"].astype(float).to_numpy(),
        "n_obs": pd.to_numeric(tq["n_obs"], errors="coerce").to_numpy(),
        "n_teachers": pd.to_numeric(tq["n_teachers"], errors="coerce").to_numpy(),
        "reliability": tq["reliability"].astype(float).to_numpy(),
        "suppressed": tq["suppressed"].fillna(False).astype(bool).to_numpy(),
    })
    out["_t"] = out["term"].map(schema.term_index)
    return out.sort_values(["level", "school_id", "_t"]).drop(columns="_t")


def _model(ds: Dataset, dimension: str, quality: Any) -> TeachingQualityModel:
    """The teaching-quality model of ``dimension`` with school trends: the index's own
    model (fitted once per Dataset), or the one of ``quality`` when it is a
    ``TeachingQualityResult`` whose model has school trends."""
    if hasattr(quality, "model") and dimension in getattr(quality, "dimensions", ()):
        qm = quality.model(dimension)
        if qm.school_trends() is not None:
            return qm
    return teaching_quality_model(ds, dimension, school_slopes=True)


def growth(ds: Dataset, dimension: str = "overall", *, index: Any = None,
           quality: Any = None) -> GrowthResult:
    """Teaching-quality trajectories, school trends, the municipality trend and their spread.

    Parameters
    ----------
    ds : a Dataset with lesson observations.
    dimension : a dimension id of the instrument or ``"overall"`` (default).
    index : the teaching-quality index to show as trajectories: a
        ``TeachingQualityResult`` or a DataFrame in the format of its
        ``.tidy()`` (``level, unit, term, estimate, se, conf_low, conf_high,
        n_obs, n_teachers, reliability, suppressed``); None (default) computes
        it with :func:`~undervisning_analys.measure.index.teaching_quality`
        for the schools and the municipality.
    quality : a ``TeachingQualityResult`` whose fitted model to use for the
        trends (default: ``index`` when it is one, else the Dataset's model,
        fitted once per Dataset and dimension).

    Returns
    -------
    GrowthResult; ``.tidy()`` holds every number, one row per
    ``component``: ``index`` (school × term trajectories and the
    municipality's), ``school_trend`` (per school, change per school year),
    ``municipality_trend`` and ``trend_sd`` (SD of the school trends).

    Raises
    ------
    ModelError
        Unknown dimension, no observations, fewer than 3 schools or fewer than
        2 terms, or the model cannot be fitted.

    Notes
    -----
    See the module docstring for the model. Missing data: forms whose
    dimension score is missing (fewer than half the items answered) are left
    out of the model; their number is in ``.info["n_forms_missing"]``.
    Suppressed index cells stay in the trajectories as NaN.
    """
    from ..privacy import MIN_OBS, MIN_TEACHERS

    f = _forms(ds, dimension)
    n_forms_all = ds.observations[["observation_id", "observer_id"]].drop_duplicates().shape[0]
    n_schools = f["school_id"].nunique()
    n_terms = f["term"].nunique()
    if n_schools < 3:
        raise ModelError(
            f"För få skolor för att jämföra trender: {n_schools} skola/skolor med "
            "observationer, minst 3 behövs",
            table="observations", column="school_id",
            hint="Ta med fler skolor i analysen.")
    if n_terms < 2:
        raise ModelError(
            f"För få terminer för en trend: observationerna kommer från {n_terms} termin, "
            "minst 2 behövs",
            table="observations", column="term",
            hint="Trender kräver observationer från flera terminer.")
    qm = _model(ds, dimension, quality if quality is not None else index)
    model = qm.fit
    trends = qm.school_trends()
    if trends is None:  # pragma: no cover - school_slopes=True always gives trends
        raise ModelError("Modellen saknar skolornas trender")
    trend_of = trends.set_index("school_id")[["estimate", "se"]]
    fe, se = model.fixef, model.se
    b, b_se = float(fe["time"]), float(se["time"])
    vc = model.varcorr
    sd_row = vc[(vc["group"] == "school_id") & (vc["term1"] == "time") & vc["term2"].isna()]
    trend_sd = float(sd_row["sd_cor"].iloc[0]) if len(sd_row) else float("nan")
    counts = f.groupby("school_id").agg(n_obs=("observation_id", "nunique"),
                                        n_teachers=("teacher_id", "nunique"))
    rows: list[dict[str, Any]] = []
    for sid, c in counts.iterrows():
        known = sid in trend_of.index
        est = float(trend_of.loc[sid, "estimate"]) if known else float("nan")
        s = float(trend_of.loc[sid, "se"]) if known else float("nan")
        sup = bool(c["n_obs"] < MIN_OBS or c["n_teachers"] < MIN_TEACHERS)
        if sup:
            est = s = float("nan")
        rows.append({"component": "school_trend", "level": "school", "school_id": sid,
                     "estimate": est, "se": s, "conf_low": est - Z_95 * s,
                     "conf_high": est + Z_95 * s, "n_obs": int(c["n_obs"]),
                     "n_teachers": int(c["n_teachers"]), "suppressed": sup})
    rows.append({"component": "municipality_trend", "level": "municipality",
                 "estimate": b, "se": b_se, "conf_low": b - Z_95 * b_se,
                 "conf_high": b + Z_95 * b_se, "n_obs": int(f["observation_id"].nunique()),
                 "n_teachers": int(f["teacher_id"].nunique()), "suppressed": False})
    rows.append({"component": "trend_sd", "level": "municipality", "estimate": trend_sd,
                 "n_obs": int(f["observation_id"].nunique()),
                 "n_teachers": int(f["teacher_id"].nunique()), "suppressed": False})
    trends = pd.DataFrame(rows)
    traj = _index_table(ds, dimension, index)
    table = pd.concat([traj, trends], ignore_index=True)
    for c in _TIDY_COLUMNS:
        if c not in table.columns:
            table[c] = np.nan
    table = table[_TIDY_COLUMNS]
    table["suppressed"] = table["suppressed"].fillna(False).astype(bool)
    terms = sorted(set(f["term"]), key=schema.term_index)
    names = dict(zip(ds.schools["school_id"].astype(str), ds.schools["school_name"].astype(str)))
    dim_names = {**ds.instrument.dimension_names(), "overall": "samlat index"}
    info = {"formula": qm.formula, "trend_se": "index",
            "optimizer_path": qm.diagnostics, "n_forms": int(len(f)),
            "n_forms_missing": int(n_forms_all - len(f)), "n_schools": int(n_schools),
            "terms": tuple(terms), "scale": ds.instrument.scale,
            "dimension_name": dim_names.get(dimension, dimension)}
    return GrowthResult(dimension=dimension, table=table, model=model, names=names, info=info)


@dataclass(frozen=True, eq=False)
class GrowthResult(Result):
    """Teaching-quality growth: trajectories, trends and their spread (see :func:`growth`)."""

    dimension: str
    table: pd.DataFrame = field(repr=False)
    model: MixedResult = field(repr=False)
    names: dict[str, str] = field(default_factory=dict, repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    # -- views of the tidy table --------------------------------------------
    def trajectories(self) -> pd.DataFrame:
        """The index per school (and municipality) × term with intervals."""
        t = self.table
        return t[t["component"] == "index"].reset_index(drop=True)

    def school_trends(self) -> pd.DataFrame:
        """One row per school: trend per school year with 95 % interval."""
        t = self.table
        out = t[t["component"] == "school_trend"].reset_index(drop=True)
        out.insert(2, "school_name", out["school_id"].map(self.names))
        return out

    @property
    def municipality_trend(self) -> dict[str, float]:
        """estimate, se, conf_low, conf_high of the municipality's trend per school year."""
        r = self.table[self.table["component"] == "municipality_trend"].iloc[0]
        return {k: float(r[k]) for k in ("estimate", "se", "conf_low", "conf_high")}

    @property
    def trend_sd(self) -> float:
        """Standard deviation of the schools' trends (index points per school year)."""
        t = self.table
        return float(t.loc[t["component"] == "trend_sd", "estimate"].iloc[0])

    # -- presentation --------------------------------------------------------
    def _summary_text(self) -> str:
        m = self.municipality_trend
        sd = self.trend_sd
        st = self.school_trends()
        shown = st[~st["suppressed"]]
        up = int((shown["conf_low"] > 0).sum())
        down = int((shown["conf_high"] < 0).sum())
        terms = self.info["terms"]
        lo, hi = self.info["scale"]
        lines = [
            f"Undervisningskvalitetens utveckling ({self.info['dimension_name']}), "
            f"{terms[0]}–{terms[-1]}",
            "",
            f"Kommunen: indexet ändrades med i genomsnitt {sv_num(m['estimate'], 3, True)} "
            f"poäng per läsår (95 % KI {sv_num(m['conf_low'], 3)} till "
            f"{sv_num(m['conf_high'], 3)}) på protokollets skala {lo}–{hi}.",
            f"Skolorna skiljer sig i sin utveckling: skolornas trender har en "
            f"standardavvikelse på {sv_num(sd, 3)} poäng per läsår kring kommunens. "
            f"Ungefär två av tre skolor har en trend inom ±{sv_num(sd, 3)} från kommunens.",
            f"Tydligt uppåt (hela intervallet över noll): {up} skolor; tydligt nedåt: {down}; "
            f"övriga {len(shown) - up - down} har en utveckling som inte säkert skiljer sig "
            "från noll.",
        ]
        hidden = int(st["suppressed"].sum())
        if hidden:
            lines.append(f"{hidden} skola/skolor visas inte (färre än 5 observerade lektioner "
                         "eller 3 lärare).")
        lines += ["", "Trend per läsår för varje skola (95 % konfidensintervall):"]
        for r in st.sort_values("school_name", key=lambda s: s.map(swedish_key)).itertuples(index=False):
            name = r.school_name if isinstance(r.school_name, str) else r.school_id
            if r.suppressed:
                lines.append(f"  {name}: .. (för få observationer)")
            else:
                lines.append(f"  {name}: {sv_num(r.estimate, 3, True)} ({sv_num(r.conf_low, 3)} "
                             f"till {sv_num(r.conf_high, 3)})")
        lines += [
            "",
            "Ett 95 %-konfidensintervall visar vilka värden som är förenliga med "
            "observationerna. Skolor med få observationer får bredare intervall och en trend "
            "som dras mot kommunens. Trenderna tar hänsyn till vilka lärare och observatörer "
            "som deltog och till typ av besök; de beskriver skolan, inte enskilda lärare.",
        ]
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None, *, school_id: str | None = None) -> Axes:
        """The schools' trends with intervals beside the municipality's trend.

        With ``school_id``: that school's index per term beside the
        municipality (:func:`undervisning_analys.plots.quality_over_time`).
        """
        from .. import plots

        if school_id is not None:
            tq = self.trajectories().rename(columns={"school_id": "unit"})
            tq["dimension"] = self.dimension
            return plots.quality_over_time(tq, school_id, dimension=self.dimension, ax=ax)
        rows = self.school_trends().rename(columns={"school_id": "unit"})
        # ordered by trend, each school with how far its place could move
        rows = pd.concat([rows, rank_intervals(rows["estimate"], rows["se"])
                          .drop(columns=["rank", "n_ranked"])], axis=1)
        new = ax is None
        ax = plots.caterpillar(rows, self.names, reference=self.municipality_trend["estimate"],
                               ax=ax, title="Skolornas trend i undervisningskvalitet",
                               xlabel="Förändring i index per läsår", order="estimate")
        ax.xaxis.set_major_formatter(plots._sv_formatter(2))
        if new:
            fig: Any = ax.figure
            fig.tight_layout()
        return ax
