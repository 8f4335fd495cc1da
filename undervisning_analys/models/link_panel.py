"""The link's panel: the yearly index and the school-year rows that enter the regression.

:func:`yearly_index` turns a term index (``teaching_quality``'s result with its
joint error covariance, or a table) into one row per school × school year;
:func:`build_panel` puts each school's results of school year ``y`` beside its
yearly index of ``y - lag`` and counts every school-year it leaves out, by
reason (see the "Missing data" section of :mod:`~undervisning_analys.models.link`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from ..errors import ModelError
from ..measure.aggregate import yearly_from_terms
from .adjust import adjusted_results, school_results

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

__all__ = ["MIN_SCHOOLS", "MIN_YEARS", "STATUS_REASON", "Panel", "PanelCov", "YearlyIndex",
           "build_panel", "school_year_of", "yearly_index"]

MIN_SCHOOLS = 5
"""Fewest schools in the panel (cluster-robust inference needs several clusters)."""
MIN_YEARS = 2
"""Fewest results years in the panel (a within-school change needs two)."""

STATUS_REASON = {
    "suppressed": "resultatet är prickat (..), färre än 10 elever",
    "approx_100": "resultatet är publicerat som cirka 100 (~100)",
    "missing": "resultatet saknas (.)",
    "not_published": "resultatet är inte publicerat",
    "excluded": "resultatet är exkluderat (*)",
}


def school_year_of(start: int) -> str:
    return f"{start}/{(start + 1) % 100:02d}"


# --------------------------------------------------------------------------- #
# the yearly index
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class YearlyIndex:
    """School × school-year index with the covariance of its errors."""

    table: pd.DataFrame
    """school_id, school_year, estimate, se, reliability, n_terms, n_obs, available, reason."""
    cov: pd.DataFrame | None
    """Joint error covariance of the available rows (index (school_id, school_year)) or None."""
    shrunken: bool
    source: str

    def _positions(self, index: pd.Index, school_ids: Any, years: Any) -> np.ndarray:
        keys = pd.MultiIndex.from_arrays([np.asarray(school_ids, dtype=object),
                                          np.asarray(years, dtype=object)])
        pos = index.get_indexer(keys)
        if (pos < 0).any():
            missing = keys[pos < 0][:3]
            raise KeyError(f"no yearly index for {list(missing)}")
        return pos

    def variances(self, school_ids: Any, years: Any) -> np.ndarray:
        """Error variances (se²) of the yearly indices of the given schools and years."""
        if self.cov is not None:
            pos = self._positions(self.cov.index, school_ids, years)
            return self.cov.to_numpy(dtype=float)[pos, pos]
        ti = pd.MultiIndex.from_arrays([self.table["school_id"], self.table["school_year"]])
        pos = self._positions(ti, school_ids, years)
        return self.table["se"].to_numpy(dtype=float)[pos] ** 2

    def covariances(self, a: tuple[Any, Any], b: tuple[Any, Any]) -> np.ndarray:
        """Elementwise error covariances of the yearly indices ``a[i]`` and ``b[i]``."""
        if self.cov is None:  # independent errors across years
            return np.zeros(len(np.asarray(a[0])))
        pa = self._positions(self.cov.index, *a)
        pb = self._positions(self.cov.index, *b)
        return self.cov.to_numpy(dtype=float)[pa, pb]

    def panel_cov(self, school_ids: Any, years: Any) -> PanelCov:
        """The error covariance of the panel's indices: diagonal, or dense only when the
        index has a joint covariance (of size at most the index's own cells)."""
        if self.cov is None:
            return PanelCov(self.variances(school_ids, years), None)
        pos = self._positions(self.cov.index, school_ids, years)
        S = self.cov.to_numpy(dtype=float)[np.ix_(pos, pos)]
        return PanelCov(np.diag(S).copy(), S)

    def cov_of(self, keys: list[tuple[str, str]]) -> np.ndarray:
        """Error covariance of the yearly indices ``keys`` (diagonal se² without a joint one).

        Dense ``len(keys)`` × ``len(keys)``: for a few keys (a school's years), not a panel.
        """
        sids = [k[0] for k in keys]
        yrs = [k[1] for k in keys]
        if self.cov is not None:
            pos = self._positions(self.cov.index, sids, yrs)
            return self.cov.to_numpy(dtype=float)[np.ix_(pos, pos)]
        return np.diag(self.variances(sids, yrs))


@dataclass(frozen=True)
class PanelCov:
    """Error covariance Σ of the panel's index values: ``diag`` and, when the errors are
    correlated, the dense matrix (never built for a diagonal Σ)."""

    diag: np.ndarray
    dense: np.ndarray | None

    def matmul(self, a: np.ndarray) -> np.ndarray:
        """Σ a for a vector or an n × r matrix."""
        if self.dense is None:
            return self.diag * a if a.ndim == 1 else self.diag[:, None] * a
        return self.dense @ a

    def block_sums(self, codes: np.ndarray, n_groups: int) -> np.ndarray:
        """``1' Σ_gg 1`` for every group ``g`` (the sum of its diagonal block)."""
        if self.dense is None:
            return np.bincount(codes, weights=self.diag, minlength=n_groups)
        from scipy import sparse

        n = len(codes)
        Z = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_groups, n))
        zs = np.asarray(Z @ self.dense)                # G × n: row g = sum over g's rows
        return np.bincount(codes, weights=zs[codes, np.arange(n)], minlength=n_groups)


def yearly_index(index: Any, dimension: str = "overall", shrunken: bool | None = None
                 ) -> YearlyIndex:
    """Turn a term index (or a yearly one) into one row per school × school year.

    ``index`` is a :class:`~undervisning_analys.measure.index.TeachingQualityResult`
    (its joint covariance is used) or a DataFrame with ``school_id`` (or
    ``unit`` with ``level == "school"``), ``term`` or ``school_year``,
    ``estimate``, ``se`` and optionally ``reliability``, ``n_obs``,
    ``suppressed``, ``dimension`` (errors then taken as independent).
    The yearly value is the mean of the school year's published terms.
    """
    cov_terms: pd.DataFrame | None = None
    if hasattr(index, "tidy") and hasattr(index, "yearly"):
        # the teaching-quality model aggregates its own terms to school years
        table, cov = index.yearly(dimension)
        return YearlyIndex(table=table, cov=cov,
                           shrunken=True if shrunken is None else bool(shrunken),
                           source="teaching_quality")
    if hasattr(index, "tidy") and hasattr(index, "cov"):
        tq = index.tidy()
        cov_terms = index.cov(dimension)
        kind = True if shrunken is None else bool(shrunken)
        source = "teaching_quality"
    elif isinstance(index, pd.DataFrame):
        tq = index.copy()
        kind = bool(tq.attrs.get("shrunken", False)) if shrunken is None else bool(shrunken)
        source = "given"
    else:
        raise ModelError(
            f"Indexet har en typ som inte stöds ({type(index).__name__})",
            hint="Ange resultatet av teaching_quality(ds) eller en tabell med school_id, "
                 "term (eller school_year), estimate och se.")
    if "dimension" in tq.columns:
        tq = tq[tq["dimension"].astype(str) == dimension]
    if "level" in tq.columns:
        tq = tq[tq["level"].astype(str) == "school"]
    if "school_id" not in tq.columns:
        if "unit" not in tq.columns:
            raise ModelError("Indexet saknar kolumnen school_id (eller unit)", table="index",
                             column="school_id", hint="Ange skolenhetskoden per rad.")
        tq = tq.rename(columns={"unit": "school_id"})
    for c in ("estimate", "se"):
        if c not in tq.columns:
            raise ModelError(f"Indexet saknar kolumnen `{c}`", table="index", column=c,
                             hint="Indexet behöver en skattning och dess medelfel per rad.")
    if "term" not in tq.columns and "school_year" not in tq.columns:
        raise ModelError("Indexet saknar kolumnen term (eller school_year)", table="index",
                         column="term", hint="Ange termin (HT2023) eller läsår (2023/24).")
    # one row per (school, school year): means of the published terms (the same rule
    # as the teaching-quality model's own yearly aggregation)
    table, cov = yearly_from_terms(tq, cov_terms)
    return YearlyIndex(table=table, cov=cov, shrunken=kind, source=source)




@dataclass(frozen=True)
class Panel:
    """The school-year rows of the link and what was left out."""

    rows: pd.DataFrame
    """school_id, school_year, index_year, value, n, status, observed, expected, reason,
    x (the yearly index), x_se, x_reliability, n_terms, y (the outcome); sorted by school
    and school year."""
    exclusions: pd.DataFrame
    """reason, n: the school-years left out, by reason (largest first)."""
    n_excluded: int
    n_schools_within: int
    """Schools with at least two school-years (those that carry the within association)."""


def outcome_table(ds: Dataset, measure: str, adjusted: bool, group: str, reference: Any
                  ) -> pd.DataFrame:
    """The school results of ``measure`` (raw, or adjusted: observed minus expected)."""
    if adjusted:
        adj = adjusted_results(ds, measure, reference=reference, group=group).tidy()
        out = pd.DataFrame({"school_id": adj["school_id"], "school_year": adj["school_year"],
                            "value": adj["residual"], "n": adj["n"], "status": adj["status"],
                            "observed": adj["observed"], "expected": adj["expected"]})
    else:
        out = school_results(ds.results, measure, group)
        if out.empty:
            raise ModelError(
                f"Datamängden har inga resultat på skolnivå för måttet `{measure}` "
                f"({schema.measure_label(measure)})",
                table="results", column="measure",
                hint="Läs in Skolverkets resultatfiler för skolenheterna eller välj ett annat "
                     "mått.")
        out["observed"] = np.where(out["status"] == "ok", out["value"], np.nan)
    return out


def build_panel(out: pd.DataFrame, yi: YearlyIndex, measure: str, lag: int) -> Panel:
    """Results of school year ``y`` beside the yearly index of ``y - lag``, with exclusions.

    Raises :class:`~undervisning_analys.errors.ModelError` when fewer than
    :data:`MIN_SCHOOLS` schools or :data:`MIN_YEARS` school years remain, or
    fewer than two schools have two school-years.
    """
    ytab = yi.table.set_index(["school_id", "school_year"])
    ytab = yi.table.set_index(["school_id", "school_year"])

    # ---- panel with exclusions -------------------------------------------------
    out = out.reset_index(drop=True)
    sy_map = {y: school_year_of(schema.school_year_start(y) - lag) for y in pd.unique(out["school_year"])}
    out["index_year"] = [sy_map[y] for y in out["school_year"]]
    # the yearly index row of every result (-1: none), looked up once
    pos = ytab.index.get_indexer(pd.MultiIndex.from_arrays(
        [out["school_id"].to_numpy(dtype=object), out["index_year"].to_numpy(dtype=object)]))
    status = out["status"].to_numpy(dtype=object)
    value = pd.to_numeric(out["value"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    avail = ytab["available"].to_numpy(dtype=bool)
    yreason = ytab["reason"].to_numpy(dtype=object)
    reasons = np.full(len(out), "", dtype=object)
    bad_status = status != "ok"
    reasons[bad_status] = [STATUS_REASON.get(s, f"status {s}") for s in status[bad_status]]
    no_value = ~bad_status & ~np.isfinite(value)
    reasons[no_value] = "förväntat resultat saknas (bakgrundsuppgifter saknas)"
    rest = ~bad_status & ~no_value
    no_index = rest & (pos < 0)
    reasons[no_index] = [f"inget kvalitetsindex för läsåret {iy} (inga observationer det "
                         "läsåret)" for iy in out["index_year"].to_numpy(dtype=object)[no_index]]
    unavailable = rest & (pos >= 0) & ~avail[np.maximum(pos, 0)]
    reasons[unavailable] = [str(r) for r in yreason[pos[unavailable]]]
    out["reason"] = reasons.tolist()
    keep = out["reason"] == ""
    panel = out[keep].copy()
    excluded = out[~keep]
    exclusions = (excluded.groupby("reason").size().rename("n").reset_index()
                  .sort_values("n", ascending=False).reset_index(drop=True))
    ppos = pos[keep.to_numpy()]
    panel["x"] = ytab["estimate"].to_numpy(dtype=float)[ppos]
    panel["x_se"] = ytab["se"].to_numpy(dtype=float)[ppos]
    panel["x_reliability"] = ytab["reliability"].to_numpy(dtype=float)[ppos]
    panel["n_terms"] = ytab["n_terms"].to_numpy()[ppos]
    panel["y"] = panel["value"].astype(float)
    panel = panel.sort_values(["school_id", "school_year"]).reset_index(drop=True)

    n_schools = int(panel["school_id"].nunique())
    n_years = int(panel["school_year"].nunique())
    where = (f"mått {measure}, eftersläpning {lag} läsår; "
             + (f"{len(excluded)} skolenhetsår uteslutna" if len(excluded) else ""))
    if n_schools < MIN_SCHOOLS:
        raise ModelError(
            f"För få skolor för att skatta sambandet: {n_schools} skolor har både ett "
            f"publicerat resultat och ett kvalitetsindex ({where}), minst {MIN_SCHOOLS} behövs",
            hint="Ta med fler skolor, välj en kortare eftersläpning (lag) eller ett mått med "
                 "fler publicerade värden.")
    if n_years < MIN_YEARS:
        raise ModelError(
            f"För få läsår för att följa förändring: panelen har {n_years} läsår med både "
            f"resultat och kvalitetsindex ({where}), minst {MIN_YEARS} behövs",
            hint="Sambandet inom skolor kräver minst två läsår per skola; välj en kortare "
                 "eftersläpning (lag) eller läs in fler läsår.")
    multi = panel.groupby("school_id").size()
    if int((multi >= 2).sum()) < 2:
        raise ModelError(
            "För få skolor med minst två läsår i panelen för att skatta förändring inom skolor",
            hint="Läs in fler läsår eller välj en kortare eftersläpning (lag).")
    return Panel(rows=panel, exclusions=exclusions, n_excluded=int(len(excluded)),
                 n_schools_within=int((multi >= 2).sum()))
