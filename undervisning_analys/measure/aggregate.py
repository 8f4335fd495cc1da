"""Counting, suppression and aggregation of the teaching-quality index.

* :func:`school_cells` – every school × term cell of a fitted model with its
  counts, reliability and privacy suppression;
* :func:`aggregate` – areas and the municipality;
* :func:`yearly_from_terms` – terms → school years with the joint covariance.

Areas and the municipality
--------------------------
An area's (or municipality's) index in a term is the unweighted mean of the
published (not suppressed) school indices of its schools in that term – the
average school – with the standard error from the joint covariance of those
school indices (``w' Σ w``). Suppressed schools are left out so that no
suppressed figure can be recovered from the aggregate and the published
schools; ``n_schools`` says how many schools the mean covers, and the counts
(``n_obs``, …) are those of these schools. When no school of the unit is
published in a term, the row is suppressed and the counts are those of all
its schools. Schools without an area in the school register are left out of
the area level (not of the municipality). The reliability of an aggregate is
the formula of :mod:`~undervisning_analys.measure.reliability` for a mean of
``k`` school means: ``τ / (τ + mean(σ²_δ,s) / k)``.

Privacy: a school × term with fewer than 3 observed teachers or fewer than 5
observed lessons is present but suppressed (reason in Swedish); nothing per
teacher is ever returned.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from ..privacy import MIN_OBS, MIN_TEACHERS
from .components import VarianceComponents, reliability

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

#: A fitted :class:`~undervisning_analys.measure.model.TeachingQualityModel` (typed
#: loosely: the model reads this module, this module only reads the model's attributes).
TeachingQualityModel = Any

__all__ = ["school_cells", "aggregate", "cell_counts", "suppression_reason",
           "error_variance", "yearly_from_terms"]


def cell_counts(f: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Counts and effective numbers (F² / Σ count²) per cell of the forms ``f``."""
    g = f.groupby(keys, sort=False)
    out = g.size().rename("n_forms").to_frame()
    for col, n_name, e_name in (("observation_id", "n_obs", "eff_obs"),
                                ("teacher_id", "n_teachers", "eff_teachers"),
                                ("observer_id", "n_observers", "eff_observers")):
        per = f.groupby([*keys, col], sort=False).size().astype(float)
        by_cell = per.groupby(level=list(range(len(keys))), sort=False)
        out[n_name] = by_cell.size()
        out[e_name] = out["n_forms"].astype(float) ** 2 / (per ** 2).groupby(
            level=list(range(len(keys))), sort=False).sum()
    cols = ["n_obs", "n_forms", "n_teachers", "n_observers", "eff_obs", "eff_teachers",
            "eff_observers"]
    return out.reset_index()[[*keys, *cols]]


def suppression_reason(n_obs: int, n_teachers: int) -> str:
    if n_obs == 0:
        return "inga observerade lektioner denna termin"
    parts = []
    if n_obs < MIN_OBS:
        parts.append(f"färre än {MIN_OBS} observerade lektioner ({n_obs})")
    if n_teachers < MIN_TEACHERS:
        parts.append(f"färre än {MIN_TEACHERS} observerade lärare ({n_teachers})")
    return "; ".join(parts)


def error_variance(comp: VarianceComponents, c: pd.DataFrame) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(comp.teacher / c["eff_teachers"] + comp.observer / c["eff_observers"]
                          + comp.lesson / c["eff_obs"] + comp.residual / c["n_forms"],
                          dtype=float)


def school_cells(model: TeachingQualityModel) -> pd.DataFrame:
    """Every school × term cell of a model with its counts, reliability and suppression.

    Columns: those of ``model.cells`` (school_id, term, time, estimate, se,
    se_plugin), the counts (n_obs, n_forms, n_teachers, n_observers and the
    effective numbers), reliability, tau (true-score variance), err_var,
    suppression_reason, suppressed, cell (the row in ``model.cell_cov``) and
    unit_name. Estimates of suppressed cells are still present here: the
    index blanks them.
    """
    counts = cell_counts(model.frame, ["school_id", "term"])
    cells = model.cells.merge(counts, on=["school_id", "term"], how="left")
    for c in ("n_obs", "n_forms", "n_teachers", "n_observers"):
        cells[c] = cells[c].fillna(0).astype(int)
    comp = model.components
    cells["reliability"] = reliability(
        cells["eff_obs"].to_numpy(float), cells["eff_teachers"].to_numpy(float),
        cells["eff_observers"].to_numpy(float), comp, n_forms=cells["n_forms"].to_numpy(float),
        time=cells["time"].to_numpy(float))
    cells["tau"] = comp.true_variance(cells["time"].to_numpy(float))
    cells["err_var"] = error_variance(comp, cells)
    cells["suppression_reason"] = [suppression_reason(a, b) for a, b in
                                   zip(cells["n_obs"], cells["n_teachers"])]
    cells["suppressed"] = cells["suppression_reason"] != ""
    cells["cell"] = np.arange(len(cells))
    cells["unit_name"] = cells["school_id"].map(model.school_names)
    return cells


def aggregate(model: TeachingQualityModel, school: pd.DataFrame, ds: Dataset, level: str
              ) -> pd.DataFrame:
    """An area's or the municipality's index per term: the mean of its published schools.

    ``school`` is :func:`school_cells` of the model; the standard error comes from
    the joint covariance of the schools' cells (see the module docstring)."""
    col = "area" if level == "area" else "municipality_id"
    unit_of = dict(zip(ds.schools["school_id"], ds.schools[col]))
    if level == "municipality":
        name_of = dict(zip(ds.schools["municipality_id"], ds.schools["municipality_name"]))
    else:
        name_of = {}
    s = school.assign(unit=school["school_id"].map(unit_of)).dropna(subset=["unit"])
    # the schools each aggregate is made of: the published ones, or all when none is
    s["any_pub"] = (~s["suppressed"]).groupby([s["unit"], s["term"]]).transform("any")
    use = s[~s["suppressed"] | ~s["any_pub"]][["unit", "term", "school_id"]]
    f = model.frame.merge(use, on=["school_id", "term"])
    counts = (f.groupby(["unit", "term"])
              .agg(n_obs=("observation_id", "nunique"), n_forms=("observation_id", "size"),
                   n_teachers=("teacher_id", "nunique"), n_observers=("observer_id", "nunique")))
    rows = []
    for (unit, term), g in s.groupby(["unit", "term"], sort=True):
        pub = g[~g["suppressed"]]
        row: dict[str, Any] = {"unit": unit, "term": term, "n_schools": len(pub),
                               "unit_name": name_of.get(unit, unit)}
        if len(pub):
            k = len(pub)
            idx = pub["cell"].to_numpy()
            w = np.full(k, 1.0 / k)
            row["estimate"] = float(w @ pub["estimate"].to_numpy())
            row["se"] = float(math.sqrt(max(w @ model.cell_cov[np.ix_(idx, idx)] @ w, 0.0)))
            tau = float(pub["tau"].mean())
            err = float(pub["err_var"].mean()) / k
            row["suppression_reason"] = ""
        else:
            row["estimate"] = row["se"] = np.nan
            seen = g[g["n_obs"] > 0]
            tau = float(g["tau"].mean())
            err = float(seen["err_var"].mean()) / len(seen) if len(seen) else np.nan
            row["suppression_reason"] = (
                "ingen skola i " + ("området" if level == "area" else "kommunen")
                + " når gränsen för redovisning denna termin (minst "
                f"{MIN_TEACHERS} lärare och {MIN_OBS} lektioner)")
        row["reliability"] = tau / (tau + err) if np.isfinite(err) and tau + err > 0 else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    out = out.merge(counts.reset_index(), on=["unit", "term"], how="left")
    for c in ("n_obs", "n_forms", "n_teachers", "n_observers"):
        out[c] = out[c].fillna(0).astype(int)
    out["suppressed"] = out["suppression_reason"] != ""
    return out


def yearly_from_terms(terms: pd.DataFrame, cov_terms: pd.DataFrame | None
                      ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """School × term index rows → one row per school × school year, with covariance.

    ``terms``: school_id, term (or school_year, for an index that is already
    yearly), estimate, se, and optionally reliability, n_obs, suppressed
    (suppressed rows carry NaN estimates). The yearly value is the mean of the
    school year's published terms. ``cov_terms``: the joint covariance of the
    published cells, indexed by (school_id, term); the yearly rows' joint
    covariance is then ``A Σ A'`` (``A`` the averaging weights), else None.

    Returns the table (school_id, school_year, estimate, se, reliability,
    n_terms, n_obs, available, reason) and the covariance of its available
    rows (indexed by (school_id, school_year)) or None.
    """
    tq = terms.copy()
    tq["school_id"] = tq["school_id"].astype(str)
    if "suppressed" not in tq.columns:
        tq["suppressed"] = False
    for c in ("reliability", "n_obs"):
        if c not in tq.columns:
            tq[c] = np.nan
    supp = tq["suppressed"].fillna(False).astype(bool)
    tq["_ok"] = tq["estimate"].notna() & tq["se"].notna() & ~supp
    tq["_supp"] = supp
    if "term" in tq.columns:
        tq["term"] = tq["term"].astype(str)
        tq["school_year"] = tq["term"].map(
            {t: schema.term_school_year(t) for t in pd.unique(tq["term"])})
    else:
        # a yearly index given as is: each school year is its own single "term"
        tq["school_year"] = tq["school_year"].astype(str)
        tq["term"] = tq["school_year"]
    ok = tq["_ok"].to_numpy(dtype=bool)

    def num(col: str) -> pd.Series:
        return pd.Series(pd.to_numeric(tq[col], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan), index=tq.index)

    tq["_est"] = num("estimate").where(ok)
    tq["_var"] = (num("se") ** 2).where(ok, 0.0)
    tq["_rel"] = num("reliability").where(ok)
    tq["_nobs"] = pd.to_numeric(tq["n_obs"], errors="coerce").astype(float)
    g = tq.groupby(["school_id", "school_year"], sort=True)
    agg = g.agg(k=("_ok", "sum"), est=("_est", "mean"), var=("_var", "sum"),
                rel=("_rel", "mean"), n_obs=("_nobs", "sum"), supp=("_supp", "any"))
    k = agg["k"].to_numpy(dtype=int)
    has = k > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.where(has, np.sqrt(agg["var"].to_numpy(dtype=float)) / np.maximum(k, 1),
                      np.nan)
    keys = agg.index
    table = pd.DataFrame({
        "school_id": [str(s) for s in keys.get_level_values(0)],
        "school_year": [str(s) for s in keys.get_level_values(1)],
        "estimate": np.where(has, agg["est"].to_numpy(dtype=float), np.nan),
        "se": se,
        "reliability": np.where(has, agg["rel"].to_numpy(dtype=float), np.nan),
        "n_terms": k.astype(np.int64),
        "n_obs": agg["n_obs"].to_numpy(dtype=float),
        "available": has,
        "reason": np.where(has, "", np.where(
            agg["supp"].to_numpy(dtype=bool),
            "kvalitetsindex undertryckt (för få observerade lektioner eller lärare)",
            "kvalitetsindex saknas")).tolist()})
    cov = None
    if cov_terms is not None and len(table):
        from scipy import sparse

        avail = table[table["available"]]
        okrows = tq[ok]
        row_of = pd.MultiIndex.from_arrays([avail["school_id"], avail["school_year"]]) \
            .get_indexer(pd.MultiIndex.from_arrays([okrows["school_id"].astype(str),
                                                    okrows["school_year"].astype(str)]))
        cell_of = cov_terms.index.get_indexer(
            pd.MultiIndex.from_arrays([okrows["school_id"], okrows["term"]]))
        if (cell_of < 0).any() or (row_of < 0).any():  # pragma: no cover - internal check
            bad = okrows.loc[cell_of < 0, ["school_id", "term"]].head(3)
            raise KeyError(f"index cells without a covariance: {bad.to_dict('records')}")
        kk = avail["n_terms"].to_numpy(dtype=float)
        a = sparse.csr_matrix((1.0 / kk[row_of], (row_of, cell_of)),
                              shape=(len(avail), len(cov_terms)))
        ac = np.asarray(a @ cov_terms.to_numpy(dtype=float))
        joint = np.asarray(a @ ac.T).T
        joint = (joint + joint.T) / 2
        keys_avail = pd.MultiIndex.from_arrays([avail["school_id"], avail["school_year"]])
        cov = pd.DataFrame(joint, index=keys_avail, columns=keys_avail)
        table.loc[table["available"], "se"] = np.sqrt(np.clip(np.diag(joint), 0, None))
    return table, cov
