"""The link: does a school's teaching-quality progression go with its results progression?

:func:`link` puts each school's results of school year ``y`` beside its
teaching-quality index of school year ``y - lag`` and separates two
questions that a plain correlation mixes up:

* **within** – when a school's teaching quality is higher than usual *for
  that school*, are its results (a ``lag`` later) higher than usual too?
  This compares each school with itself over time, so everything about a
  school that does not change (its catchment, its building, its history) is
  held fixed;
* **between** – do schools whose teaching quality is higher on average
  also have better results on average? This compares schools with each
  other and mixes teaching with everything else that differs between them
  (pupil background above all; ``adjusted=True`` takes the composition into
  account).

The model (within–between / Mundlak)
------------------------------------
For school ``s`` and results year ``y`` (one row per school-year with a
published result and an index for year ``y - lag``)::

    result[s, y] = a + b_W * (x[s, y-lag] - xbar[s]) + b_B * xbar[s]
                   + year[y] + sum_k c_k * dbar[s, k] + u[s, y]

where ``x`` is the yearly index (mean of the school year's term indices),
``xbar[s]`` its mean over the school's panel rows and ``year[y]`` year fixed
effects. When the panel is unbalanced (suppressed results, missing index
years) the school means of the year dummies ``dbar[s, k]`` are added, so
that ``b_W`` equals the two-way fixed-effects (school and year) estimate
exactly (Mundlak 1978; Wooldridge 2019). ``b_W`` and ``b_B`` are in result
units per index point (e.g. meritvärde points per point on the 1–4 scale).
The regression is unweighted: every school-year counts once, whatever its
number of pupils, so that the estimand is the average association over
schools (weighting by pupils would favour large schools).

Inference
---------
``inference="cluster"`` (default): OLS with standard errors clustered by
school, CR2 small-sample correction (Bell & McCaffrey 2002; Pustejovsky &
Tipton 2018) and t intervals with Bell–McCaffrey (Satterthwaite) degrees of
freedom (Imbens & Kolesár 2016), which are at most ``G - 1`` (``G`` schools)
and smaller when a few schools carry much of the information. This errs on
the cautious side: on the synthetic municipality (``benchmarks/sim_link.py``,
effect 0: 600 seeds; effect 0.3: 1,800 seeds) the false-positive rate is
3.3 % and the intervals cover the true slope 96.6 % of the time, whereas
``dof="G-1"`` (t with ``G - 1`` degrees of freedom) gives 7.0 % false
positives and 94.3 % coverage, and ``inference="mixed"`` 4.3 % and 96.0 %;
even with the true quality as the index, ``G - 1`` covers only 93.7 %. A school organiser acting
on "a link" is better served by the cautious interval. ``vcov="CR1"`` gives
Stata's CR1 (with ``G - 1``). Clustering allows any correlation of a
school's results over the years.
``inference="mixed"``: the same mean model with a random school intercept
fitted by REML with :func:`~undervisning_analys.models.mixed.fit_mixed`;
Wald t intervals with between–within degrees of freedom (``N - G - p_W``
for the within terms, ``G - p_B`` for the between terms).

Power: an interval that includes zero is not evidence of no association.
``LinkResult.min_detectable_within`` is the smallest within association the
analysis detects with 80 % power at the 5 % level, ``(t_0.975 + t_0.80) × se``
(result units per index point), and the summary states it whenever the within
interval includes zero. On the synthetic municipality (``benchmarks/sim_link.py``,
600 seeds, effect 0.3) the default analysis detects the true effect in only
26 % of the seeds (34–36 % with ``G - 1`` df, CR1 or ``"mixed"``).

Scale: nothing is ``n × n`` in the panel's ``n`` school-years (a national file
has n ≈ 42,600). The two-way annihilator is applied as school demeaning plus a
projection on an orthonormal basis of the demeaned year dummies, ``tr(MΣM)``
follows from Σ's per-school blocks, and CR2 and the Bell–McCaffrey df use
each school's own block of the hat matrix only. Σ is diagonal for an index
given as a table; for ``teaching_quality``'s joint covariance it is dense, of
the size of the index's own cells.

Measurement error, reliability and attenuation
----------------------------------------------
The index is estimated from a sample of lessons, so it is the true quality
plus error. For the *within* association what matters is how much of the
index's variation *within* schools is true change: the within reliability

    λ_W = (true within variance) / (true within variance + error within variance)

computed from the index's own covariance (``teaching_quality(...).cov()``:
the joint prediction-error covariance, so shared errors such as the fixed
trend's do not count) after removing school and year means (the
annihilator ``M`` of the two-way design): with ``V = x'Mx`` and
``E = tr(M Σ)``,

* an index of **shrunken** estimates (the default ``teaching_quality``: the
  model's conditional means) is already pulled towards each school's trend
  in proportion to its unreliability. Its variation is the true variation
  times λ, and the regression on it is *not* attenuated (regression
  calibration: the error of a conditional mean is uncorrelated with it).
  Then λ_W = V / (V + E) and the ``attenuation`` factor is 1: the within
  estimate already is the estimate for the true quality; the price of the
  measurement error is a wider interval, not a biased estimate.
* an index of **unshrunken** estimates (plain means, passed with
  ``index=`` and ``shrunken=False``) carries classical error: λ_W =
  (V - E) / V and the naive within estimate is expected to be λ_W times the
  slope on the true quality. The row ``within_disattenuated`` then gives the
  reliability-corrected estimate ``x'My / (x'Mx - E)`` (Fuller 1987,
  method-of-moments) with a cluster-robust sandwich standard error that
  includes the uncertainty of the correction.

The index's own ``reliability`` column (of a single school × term, as a
plain mean) is reported as ``index_reliability``. The same is done for school
means (``between``), but the between association is in any case confounded by
everything else that differs between schools.

What the simulation shows (``benchmarks/sim_link.py``, 600 seeds of the
synthetic municipality, effect 0.3, ``merit_17``): the within estimate on the
default (shrunken) index is not attenuated; on a plain-means index it is
(about 0.5 of the truth, as its within reliability of 0.46 predicts), and
the corrected estimate of a plain-means index is right in the median but
heavy-tailed (a ratio with a noisy denominator), so the shrunken index is
the one to use. The index is on the instrument's score scale, where the
generator's latent quality moves the expected score by ``score_scale`` ≈ 0.93
per unit (exact, ``synth``: rounding and the ceiling of the 1–4 scale); the
truth per index point is ``truth.slope_per_point``. Against it the mean
within estimate is +2.9 % (Monte-Carlo SE 1.6 %, 1,800 seeds: the first 600
gave +5.6 % ± 2.6 %, 1,200 fresh ones +1.5 % ± 1.9 %); against the same
marginal changes weighted as a two-way fixed-effects regression weights
school-years, +2.5 %. With the true quality itself as the index the estimate
is +1.2 % ± 1.3 % off (``benchmarks/results/sim_link_summary.md``).

Missing data
------------
A school-year is left out when its result is not published (``..``
suppressed, ``~100``, ``.`` missing), when ``adjusted=True`` and no expected
value exists (no background), or when there is no index for the lagged year
(not observed, or suppressed below the privacy floors: an index that may not
be shown is not used). Every such row is counted by reason in
``.exclusions`` and the summary; nothing is dropped silently. The yearly
index is the mean of the school year's published term indices (one term when
only one is published; ``n_terms`` says how many).

References
----------
Mundlak, Y. (1978). On the pooling of time series and cross section data.
Econometrica, 46(1), 69–85.
Wooldridge, J. M. (2019). Correlated random effects models with unbalanced
panels. Journal of Econometrics, 211(1), 137–150.
Bell, R. M. & McCaffrey, D. F. (2002). Bias reduction in standard errors for
linear regression with multi-stage samples. Survey Methodology, 28(2), 169–181.
Pustejovsky, J. E. & Tipton, E. (2018). Small-sample methods for
cluster-robust variance estimation and hypothesis testing in fixed effects
models. Journal of Business & Economic Statistics, 36(4), 672–683.
Imbens, G. W. & Kolesár, M. (2016). Robust standard errors in small samples: some
practical advice. Review of Economics and Statistics, 98(4), 701–712.
Fuller, W. A. (1987). Measurement error models. Wiley.
Carroll, R. J., Ruppert, D., Stefanski, L. A. & Crainiceanu, C. M. (2006).
Measurement error in nonlinear models (2nd ed.), ch. 4 (regression calibration).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd

from .. import schema
from .._results import Result
from ..errors import ModelError
from .adjust import adjusted_results, school_results, sv_num

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..dataset import Dataset

__all__ = ["link", "LinkResult", "Inference", "MIN_SCHOOLS", "MIN_YEARS", "yearly_index"]

Inference = Literal["cluster", "mixed"]
Vcov = Literal["CR2", "CR1"]
Dof = Literal["BM", "G-1"]
INFERENCES: tuple[str, ...] = get_args(Inference)
VCOVS: tuple[str, ...] = get_args(Vcov)
DOFS: tuple[str, ...] = get_args(Dof)

MIN_SCHOOLS = 5
"""Fewest schools in the panel (cluster-robust inference needs several clusters)."""
MIN_YEARS = 2
"""Fewest results years in the panel (a within-school change needs two)."""

_TIDY_COLUMNS = ["term", "estimate", "se", "conf_low", "conf_high", "p_value", "df",
                 "n_schools", "n_years", "n_obs", "n_excluded", "reliability", "attenuation",
                 "index_reliability", "inference", "measure", "lag", "adjusted"]

_STATUS_REASON = {
    "suppressed": "resultatet är prickat (..), färre än 10 elever",
    "approx_100": "resultatet är publicerat som cirka 100 (~100)",
    "missing": "resultatet saknas (.)",
    "not_published": "resultatet är inte publicerat",
    "excluded": "resultatet är exkluderat (*)",
}


def _sy(start: int) -> str:
    return f"{start}/{(start + 1) % 100:02d}"


# --------------------------------------------------------------------------- #
# the yearly index
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _YearlyIndex:
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

    def _variances(self, school_ids: Any, years: Any) -> np.ndarray:
        """Error variances (se²) of the yearly indices of the given schools and years."""
        if self.cov is not None:
            pos = self._positions(self.cov.index, school_ids, years)
            return self.cov.to_numpy(dtype=float)[pos, pos]
        ti = pd.MultiIndex.from_arrays([self.table["school_id"], self.table["school_year"]])
        pos = self._positions(ti, school_ids, years)
        return self.table["se"].to_numpy(dtype=float)[pos] ** 2

    def _covariances(self, a: tuple[Any, Any], b: tuple[Any, Any]) -> np.ndarray:
        """Elementwise error covariances of the yearly indices ``a[i]`` and ``b[i]``."""
        if self.cov is None:  # independent errors across years
            return np.zeros(len(np.asarray(a[0])))
        pa = self._positions(self.cov.index, *a)
        pb = self._positions(self.cov.index, *b)
        return self.cov.to_numpy(dtype=float)[pa, pb]

    def _panel_cov(self, school_ids: Any, years: Any) -> _PanelCov:
        """The error covariance of the panel's indices: diagonal, or dense only when the
        index has a joint covariance (of size at most the index's own cells)."""
        if self.cov is None:
            return _PanelCov(self._variances(school_ids, years), None)
        pos = self._positions(self.cov.index, school_ids, years)
        S = self.cov.to_numpy(dtype=float)[np.ix_(pos, pos)]
        return _PanelCov(np.diag(S).copy(), S)

    def cov_of(self, keys: list[tuple[str, str]]) -> np.ndarray:
        """Error covariance of the yearly indices ``keys`` (diagonal se² without a joint one).

        Dense ``len(keys)`` × ``len(keys)``: for a few keys (a school's years), not a panel.
        """
        sids = [k[0] for k in keys]
        yrs = [k[1] for k in keys]
        if self.cov is not None:
            pos = self._positions(self.cov.index, sids, yrs)
            return self.cov.to_numpy(dtype=float)[np.ix_(pos, pos)]
        return np.diag(self._variances(sids, yrs))


@dataclass(frozen=True)
class _PanelCov:
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
                 ) -> _YearlyIndex:
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
        return _YearlyIndex(table=table, cov=cov,
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
    elif "school_year" in tq.columns:
        tq["term"] = tq["school_year"].astype(str)
    else:
        raise ModelError("Indexet saknar kolumnen term (eller school_year)", table="index",
                         column="term", hint="Ange termin (HT2023) eller läsår (2023/24).")
    # one row per (school, school year): means of the published terms, vectorised
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
        # A: (available yearly rows) × (index cells), 1/k for each published term
        okrows = tq[ok]
        row_of = pd.MultiIndex.from_arrays([avail["school_id"], avail["school_year"]]) \
            .get_indexer(pd.MultiIndex.from_arrays([okrows["school_id"].astype(str),
                                                    okrows["school_year"].astype(str)]))
        cell_of = cov_terms.index.get_indexer(
            pd.MultiIndex.from_arrays([okrows["school_id"], okrows["term"]]))
        if (cell_of < 0).any() or (row_of < 0).any():
            bad = okrows.loc[cell_of < 0, ["school_id", "term"]].head(3)
            raise KeyError(f"index cells without a covariance: {bad.to_dict('records')}")
        kk = avail["n_terms"].to_numpy(dtype=float)
        A = sparse.csr_matrix((1.0 / kk[row_of], (row_of, cell_of)),
                              shape=(len(avail), len(cov_terms)))
        AC = np.asarray(A @ cov_terms.to_numpy(dtype=float))
        joint = np.asarray(A @ AC.T).T
        joint = (joint + joint.T) / 2
        keys_avail = pd.MultiIndex.from_arrays([avail["school_id"], avail["school_year"]])
        cov = pd.DataFrame(joint, index=keys_avail, columns=keys_avail)
        table.loc[table["available"], "se"] = np.sqrt(np.clip(np.diag(joint), 0, None))
    return _YearlyIndex(table=table, cov=cov, shrunken=kind, source=source)


# --------------------------------------------------------------------------- #
# estimation helpers
# --------------------------------------------------------------------------- #
def _independent_columns(cols: list[np.ndarray], names: list[str], keep_first: int
                         ) -> tuple[np.ndarray, list[str]]:
    """Add columns one by one, keeping those that raise the rank (the first ones always).

    The ranks are those of the n × j candidate matrices, computed from the
    columns of the triangular factor ``R`` of one QR decomposition of all
    candidates (``X = QR`` with orthonormal ``Q``: ``X[:, S]`` and ``R[:, S]``
    have the same singular values), so that the n rows are passed once.
    """
    all_cols = np.column_stack(cols)
    R: np.ndarray = np.asarray(np.linalg.qr(all_cols, mode="r")) \
        if all_cols.shape[0] >= all_cols.shape[1] else all_cols
    col_max = np.abs(all_cols).max(axis=0)
    kept: list[int] = []
    rank = 0
    for k in range(len(cols)):
        trial = kept + [k]
        tol = 1e-8 * max(1.0, float(col_max[trial].max()))
        r = np.linalg.matrix_rank(R[:, trial], tol=tol)
        if r > rank or k < keep_first:
            kept.append(k)
            rank = r
    return np.ascontiguousarray(all_cols[:, kept]), [names[k] for k in kept]


def _inv_sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric inverse square root with a pseudo-inverse for (near-)zero eigenvalues.

    ``a`` may be a stack (``... × m × m``) of matrices; each is treated on its own.
    """
    w, v = np.linalg.eigh((a + np.swapaxes(a, -1, -2)) / 2)
    tol = 1e-10 * np.maximum(1.0, np.abs(w).max(axis=-1, keepdims=True))
    inv = np.where(w > tol, 1.0 / np.sqrt(np.clip(w, tol, None)), 0.0)
    return (v * inv[..., None, :]) @ np.swapaxes(v, -1, -2)


@dataclass(frozen=True)
class _Clusters:
    """The clusters of a design, batched by size so that per-cluster work is vectorised.

    ``batches`` holds, for each cluster size ``m``, the row indices (``n_c × m``, rows in
    their original order) of the ``n_c`` clusters of that size and, for CR2, their
    adjustment matrices ``A_g = (I - H_gg)^(-1/2)`` (``n_c × m × m``). Memory is
    ``sum_g m_g²``: nothing is ``n × n``.
    """

    xtx_inv: np.ndarray
    n_clusters: int
    batches: list[tuple[np.ndarray, np.ndarray | None]]


def _clusters(X: np.ndarray, groups: np.ndarray, adjust: bool = True) -> _Clusters:
    X = np.ascontiguousarray(X)
    xtx_inv = np.linalg.pinv(X.T @ X)
    codes, uniq = pd.factorize(np.asarray(groups))
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=len(uniq))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    batches: list[tuple[np.ndarray, np.ndarray | None]] = []
    for m in np.unique(sizes):
        gs = np.flatnonzero(sizes == m)
        idx = order[starts[gs][:, None] + np.arange(m)[None, :]]      # n_c × m
        adj = None
        if adjust:
            xg = X[idx]                                                # n_c × m × k
            h = xg @ xtx_inv @ np.swapaxes(xg, 1, 2)
            adj = _inv_sqrt_psd(np.eye(m) - h)
        batches.append((idx, adj))
    return _Clusters(xtx_inv=xtx_inv, n_clusters=len(uniq), batches=batches)


def cluster_vcov(X: np.ndarray, resid: np.ndarray, groups: np.ndarray, kind: str = "CR2",
                 clusters: _Clusters | None = None) -> np.ndarray:
    """Cluster-robust covariance of OLS coefficients (CR2 or CR1).

    CR2: ``(X'X)^-1 sum_g X_g' A_g e_g e_g' A_g X_g (X'X)^-1`` with
    ``A_g = (I - H_gg)^(-1/2)`` (pseudo-inverse where ``I - H_gg`` is
    singular; ``H_gg = X_g (X'X)^-1 X_g'`` is the cluster's own block, so
    nothing is ``n × n``). CR1: ``G/(G-1) (N-1)/(N-K)`` times the plain
    sandwich. ``clusters`` (from ``_clusters``) may be passed to reuse the
    per-cluster matrices.
    """
    X = np.ascontiguousarray(X)
    n, k = X.shape
    if clusters is None or (kind == "CR2" and clusters.batches
                            and clusters.batches[0][1] is None):
        clusters = _clusters(X, groups, adjust=kind == "CR2")
    xtx_inv = clusters.xtx_inv
    scores = []
    for idx, adj in clusters.batches:
        xg, eg = X[idx], resid[idx]                                    # n_c × m × k, n_c × m
        if kind == "CR2":
            assert adj is not None
            eg = np.einsum("cij,cj->ci", adj, eg)
        scores.append(np.einsum("cik,ci->ck", xg, eg))
    s = np.concatenate(scores, axis=0)
    v = xtx_inv @ (s.T @ s) @ xtx_inv
    if kind == "CR1":
        G = clusters.n_clusters
        v *= G / (G - 1) * (n - 1) / (n - k)
    return v


def bm_df(X: np.ndarray, groups: np.ndarray, k: int, clusters: _Clusters | None = None
          ) -> float:
    """Bell–McCaffrey (Satterthwaite) degrees of freedom of CR2 for coefficient ``k``.

    Imbens & Kolesár (2016), eq. (10), with a homoskedastic working model:
    ``df = (sum λ)^2 / sum λ^2`` for the eigenvalues ``λ`` of ``G'G``, where
    ``G_g = (I - H)_g' A_g X_g (X'X)^-1 e_k`` (``A_g`` as in CR2).

    Computed without the n × n hat matrix: because ``I - H`` is symmetric and
    idempotent, ``(G'G)_{gh} = δ_{gh} a_g'a_g - b_g' M b_h`` with
    ``a_g = A_g X_g M e_k``, ``b_g = X_g' a_g`` and ``M = (X'X)^-1``, so
    ``sum λ = tr(G'G)`` and ``sum λ^2 = ||G'G||_F^2`` follow from k × k and
    per-cluster quantities (a national file of 4,800 schools needs no 13 GB
    matrix).
    """
    X = np.ascontiguousarray(X)
    if clusters is None or (clusters.batches and clusters.batches[0][1] is None):
        clusters = _clusters(X, groups, adjust=True)
    xtx_inv = clusters.xtx_inv
    m_ek = xtx_inv[:, k]
    d_list, b_list = [], []
    for idx, adj in clusters.batches:
        assert adj is not None
        xg = X[idx]                                                    # n_c × m × p
        a = np.einsum("cij,cj->ci", adj, xg @ m_ek)                    # n_c × m
        d_list.append(np.einsum("ci,ci->c", a, a))
        b_list.append(np.einsum("cip,ci->cp", xg, a))
    d = np.concatenate(d_list)
    B = np.concatenate(b_list, axis=0).T                               # p × G
    MB = xtx_inv @ B                                                   # p × G
    c_diag = np.einsum("ig,ig->g", B, MB)                              # diag(B' M B)
    trace = float(d.sum() - c_diag.sum())
    # ||D - B'MB||_F^2 = ||D||^2 - 2 tr(D B'MB) + ||B'MB||_F^2
    btb = B @ B.T                                                      # p × p
    mbtbm = xtx_inv @ btb                             # tr((B'MB)^2) = tr(M BB' M BB')
    frob = float((d ** 2).sum() - 2 * (d * c_diag).sum() + np.trace(mbtbm @ mbtbm))
    return trace ** 2 / frob


def _twoway_within(schools: np.ndarray, years: np.ndarray
                   ) -> tuple[np.ndarray, int, np.ndarray]:
    """The two-way (school and year) within transformation without the n × n annihilator.

    ``M = I - D D⁺`` for ``D = [school dummies, year dummies]`` projects on the
    orthogonal complement of ``col(D) = col(S) ⊕ col(M_S Y)``, where ``M_S``
    removes school means and ``Y`` holds the year dummies. Returns the school
    codes, the number of schools and an orthonormal basis ``U`` (n × r, r < number of
    years) of ``col(M_S Y)``; then ``M z = M_S z - U U' z``. Every column of ``U``
    sums to zero within each school.
    """
    s_codes, s_uniq = pd.factorize(schools)
    y_codes, y_uniq = pd.factorize(years)
    n, G, T = len(s_codes), len(s_uniq), len(y_uniq)
    Y = np.zeros((n, T))
    Y[np.arange(n), y_codes] = 1.0
    W = Y - _group_means(Y, s_codes, G)
    u, sv, _ = np.linalg.svd(W, full_matrices=False)
    tol = max(n, T) * np.finfo(float).eps * (sv[0] if len(sv) else 0.0)
    U = u[:, sv > tol]
    return s_codes, G, U


def _group_means(z: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Each row's group mean of ``z`` (a vector or the columns of a matrix)."""
    cnt = np.bincount(codes, minlength=n_groups).astype(float)
    if z.ndim == 1:
        return (np.bincount(codes, weights=z, minlength=n_groups) / cnt)[codes]
    sums = np.zeros((n_groups, z.shape[1]))
    np.add.at(sums, codes, z)
    return (sums / cnt[:, None])[codes]


def _t_row(term: str, est: float, se: float, df: float) -> dict[str, Any]:
    from scipy import stats

    if not (np.isfinite(est) and np.isfinite(se) and se > 0 and df > 0):
        return {"term": term, "estimate": est, "se": se, "conf_low": np.nan,
                "conf_high": np.nan, "p_value": np.nan, "df": df}
    q = float(stats.t.ppf(0.975, df))
    p = float(2 * stats.t.sf(abs(est / se), df))
    return {"term": term, "estimate": est, "se": se, "conf_low": est - q * se,
            "conf_high": est + q * se, "p_value": p, "df": df}


# --------------------------------------------------------------------------- #
# front door
# --------------------------------------------------------------------------- #
def link(ds: Dataset, measure: str = "merit_17", lag: int = 1, adjusted: bool = False,
         inference: Inference = "cluster", *, dimension: str = "overall", group: str = "all",
         index: Any = None, shrunken: bool | None = None, vcov: Vcov = "CR2",
         dof: Dof = "BM", reference: Any = None) -> LinkResult:
    """Teaching-quality progression against results progression, school by school.

    Parameters
    ----------
    ds : a Dataset with observations, results (and background for ``adjusted``).
    measure : the results measure (``merit_17``, ``pass_all_subjects_pct``, …).
    lag : school years between the teaching quality and the results it is
        compared with (1: this year's results against last year's teaching).
    adjusted : use results adjusted for pupil background
        (:func:`~undervisning_analys.models.adjust.adjusted_results`: observed
        minus expected) instead of the raw results.
    inference : ``"cluster"`` (cluster-robust by school, default) or
        ``"mixed"`` (random school intercept).
    dimension : index dimension (``"overall"`` or a dimension id).
    group : results group (``all``, ``girls``, ``boys``).
    index : the teaching-quality index: None computes
        ``teaching_quality(ds, dimension=dimension)``; or a
        ``TeachingQualityResult``; or a DataFrame (``school_id``/``unit``,
        ``term`` or ``school_year``, ``estimate``, ``se``, optionally
        ``reliability``, ``suppressed``).
    shrunken : whether the index consists of shrunken (conditional-mean)
        estimates. None: True for ``teaching_quality``'s index, else
        ``index.attrs["shrunken"]`` or False (plain means).
    vcov : ``"CR2"`` (default) or ``"CR1"`` for ``inference="cluster"``.
    dof : degrees of freedom of the cluster-robust t intervals: ``"BM"``
        (Bell–McCaffrey, default; needs ``vcov="CR2"``) or ``"G-1"``.
    reference : passed to ``adjusted_results`` when ``adjusted=True``.

    Returns
    -------
    LinkResult; ``.tidy()`` rows ``within``, ``between`` (and
    ``within_disattenuated`` for an unshrunken index) with estimate, se,
    conf_low, conf_high, p_value, df, n_schools, n_years, n_obs, n_excluded,
    reliability, attenuation, index_reliability, …

    Raises
    ------
    ModelError
        Unknown measure or inference, a negative lag, no results for the
        measure, or fewer than :data:`MIN_SCHOOLS` schools or
        :data:`MIN_YEARS` years in the panel.

    Notes
    -----
    See the module docstring for the model, the standard errors, the
    measurement-error quantities and the missing-data policy (excluded rows
    are counted by reason in ``.exclusions``).
    """
    if not schema.is_known_measure(measure):
        raise ModelError(
            f"Okänt mått `{measure}`",
            hint="Välj ett mått i vokabulären, t.ex. merit_17, merit_16, "
                 "pass_all_subjects_pct eller eligible_vocational_pct.")
    if inference not in INFERENCES:
        raise ModelError(f"Okänt val av inferens `{inference}`",
                         hint="Välj \"cluster\" (klusterrobust) eller \"mixed\" (blandad modell).")
    if vcov not in VCOVS:
        raise ModelError(f"Okänd typ av klusterrobust kovarians `{vcov}`",
                         hint="Välj \"CR2\" eller \"CR1\".")
    if dof not in DOFS:
        raise ModelError(f"Okänt val av frihetsgrader `{dof}`",
                         hint="Välj \"BM\" (Bell–McCaffrey) eller \"G-1\".")
    if dof == "BM" and vcov == "CR1":
        dof = "G-1"  # Bell–McCaffrey degrees of freedom belong to CR2
    if not isinstance(lag, int | np.integer) or lag < 0:
        raise ModelError(f"Eftersläpningen måste vara ett heltal ≥ 0 (läsår), inte {lag!r}",
                         hint="Ange t.ex. lag=1 för att jämföra resultaten med föregående "
                              "läsårs undervisning.")
    lag = int(lag)

    # ---- outcome ------------------------------------------------------------
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
        out["expected"] = np.nan

    # ---- index --------------------------------------------------------------
    if index is None:
        from ..measure.index import teaching_quality

        index = teaching_quality(ds, dimension=dimension)
    yi = yearly_index(index, dimension, shrunken)
    ytab = yi.table.set_index(["school_id", "school_year"])

    # ---- panel with exclusions -------------------------------------------------
    out = out.reset_index(drop=True)
    sy_map = {y: _sy(schema.school_year_start(y) - lag) for y in pd.unique(out["school_year"])}
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
    reasons[bad_status] = [_STATUS_REASON.get(s, f"status {s}") for s in status[bad_status]]
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

    est = _estimate(panel, inference, vcov, dof)
    me = _measurement(panel, yi, est)
    rows = []
    common = {"n_schools": n_schools, "n_years": n_years, "n_obs": int(len(panel)),
              "n_excluded": int(len(excluded)),
              "index_reliability": float(np.nanmean(panel["x_reliability"]))
              if panel["x_reliability"].notna().any() else float("nan"),
              "inference": inference if inference == "mixed" else (
                  f"cluster ({vcov}, Bell–McCaffrey df)" if dof == "BM"
                  else f"cluster ({vcov}, G-1 df)"),
              "measure": measure, "lag": lag, "adjusted": bool(adjusted)}
    rows.append({**est["within"], **common, "reliability": me["rel_w"],
                 "attenuation": me["att_w"]})
    rows.append({**est["between"], **common, "reliability": me["rel_b"],
                 "attenuation": me["att_b"]})
    if not yi.shrunken:
        rows.append({**me["corrected"], **common, "reliability": me["rel_w"],
                     "attenuation": 1.0})
    tidy = pd.DataFrame(rows)[_TIDY_COLUMNS]
    names = dict(zip(ds.schools["school_id"].astype(str), ds.schools["school_name"].astype(str)))
    info = {"years": tuple(sorted(set(panel["school_year"]))), "shrunken": yi.shrunken,
            "index_source": yi.source, "dimension": dimension, "group": group,
            "model_terms": est["names"], "n_schools_within": int((multi >= 2).sum()),
            "x_sd_within": me["x_sd_within"], "y_sd_within": me["y_sd_within"]}
    return LinkResult(measure=measure, lag=lag, adjusted=bool(adjusted), inference=inference,
                      table=tidy, panel=panel, exclusions=exclusions, yearly=yi, names=names,
                      info=info)


def _design(panel: pd.DataFrame) -> tuple[np.ndarray, list[str], int]:
    """The Mundlak design; returns X, column names and the number of school-level columns."""
    g = panel.groupby("school_id")
    xbar = g["x"].transform("mean").to_numpy(dtype=float)
    xw = panel["x"].to_numpy(dtype=float) - xbar
    years = sorted(set(panel["school_year"]))
    cols = [np.ones(len(panel)), xw, xbar]
    names = ["(Intercept)", "within", "between"]
    dummies = {y: (panel["school_year"] == y).astype(float).to_numpy() for y in years[1:]}
    cols_y = list(dummies.values())
    names_y = [f"year_{y}" for y in years[1:]]
    means = [pd.Series(d).groupby(panel["school_id"].to_numpy()).transform("mean").to_numpy()
             for d in cols_y]
    names_m = [f"mean_year_{y}" for y in years[1:]]
    X, kept = _independent_columns(cols + cols_y + means, names + names_y + names_m,
                                   keep_first=3)
    n_between = sum(1 for n in kept if n.startswith("mean_year_")) + 2  # + intercept, between
    return X, kept, n_between


def _estimate(panel: pd.DataFrame, inference: str, vcov: str, dof: str) -> dict[str, Any]:
    X, names, n_between = _design(panel)
    y = panel["y"].to_numpy(dtype=float)
    groups = panel["school_id"].to_numpy()
    G = int(len(set(groups)))
    if inference == "cluster":
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        # the per-cluster CR2 matrices are computed once for the covariance and both df
        cl = _clusters(X, groups, adjust=vcov == "CR2")
        V = cluster_vcov(X, resid, groups, vcov, clusters=cl)
        se = np.sqrt(np.clip(np.diag(V), 0, None))
        if dof == "BM":
            df_w, df_b = bm_df(X, groups, 1, clusters=cl), bm_df(X, groups, 2, clusters=cl)
        else:
            df_w = df_b = float(G - 1)
        b = dict(zip(names, beta))
        s = dict(zip(names, se))
        model = None
    else:
        from .mixed import fit_mixed

        d = pd.DataFrame(X[:, 1:], columns=[n.replace("/", "_") for n in names[1:]])
        d["y"] = y
        d["school_id"] = groups
        rhs = " + ".join(d.columns[:-2])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            model = fit_mixed(f"y ~ {rhs} + (1 | school_id)", d, reml=True)
        b = {"within": float(model.fixef["within"]), "between": float(model.fixef["between"])}
        s = {"within": float(model.se["within"]), "between": float(model.se["between"])}
        n_within_terms = len(names) - n_between
        df_w = float(len(panel) - G - n_within_terms)
        df_b = float(G - n_between)
        beta = np.array([float(model.fixef.get(n.replace("/", "_"), np.nan)) for n in names])
    return {"within": _t_row("within", b["within"], s["within"], df_w),
            "between": _t_row("between", b["between"], s["between"], df_b),
            "names": tuple(names), "beta": beta, "G": G, "model": model}


def _measurement(panel: pd.DataFrame, yi: _YearlyIndex, est: dict[str, Any]) -> dict[str, Any]:
    """Within and between reliability, attenuation and the corrected within estimate.

    With ``M = I - P`` the two-way annihilator (``P`` the projection on the
    school and year dummies, ``P = P_S + U U'``; see :func:`_twoway_within`)
    and ``Σ`` the index's error covariance: ``V = x'Mx``, ``E = tr(MΣM) =
    tr(Σ) - Σ_g 1'Σ_gg 1 / n_g - tr(U'ΣU)``. Nothing is ``n × n`` unless ``Σ``
    itself is dense (an index with a joint covariance, at most its own cells).
    """
    S = yi._panel_cov(panel["school_id"].to_numpy(dtype=object),
                      panel["index_year"].to_numpy(dtype=object))
    codes, G, U = _twoway_within(panel["school_id"].to_numpy(), panel["school_year"].to_numpy())
    n = len(panel)
    ng = np.bincount(codes, minlength=G).astype(float)
    x = panel["x"].to_numpy(dtype=float)
    y = panel["y"].to_numpy(dtype=float)

    def annihilate(z: np.ndarray) -> np.ndarray:
        zs = z - _group_means(z, codes, G)
        return zs - U @ (U.T @ zs)

    xt, yt = annihilate(x), annihilate(y)
    V = float(xt @ xt)
    # per school: the sum of the diagonal of MΣM over the school's rows,
    # tr(Σ_gg) - 1'Σ_gg 1 / n_g - 2 Σ_i∈g u_i'(ΣU)_i + Σ_i∈g u_i' (U'ΣU) u_i
    SU = S.matmul(U)
    K = U.T @ SU
    block = S.block_sums(codes, G)
    per_row = -2.0 * np.einsum("ij,ij->i", U, SU) + np.einsum("ij,ij->i", U @ K, U)
    diag_g = (np.bincount(codes, weights=S.diag, minlength=G) - block / ng
              + np.bincount(codes, weights=per_row, minlength=G))
    E = float(diag_g.sum())
    # between: school means, centred; tr(C BΣB' C) = tr(BΣB') - 1'BΣB'1 / G
    xm = np.bincount(codes, weights=x, minlength=G) / ng
    xb = xm - xm.mean()
    VB = float(xb @ xb)
    w = 1.0 / ng[codes]
    EB = float((block / ng ** 2).sum() - float(w @ S.matmul(w)) / G)
    if yi.shrunken:
        rel_w = V / (V + E) if V + E > 0 else float("nan")
        rel_b = VB / (VB + EB) if VB + EB > 0 else float("nan")
        att_w = att_b = 1.0
    else:
        # a moment estimate; clipped at 0 when the error variance exceeds the observed one
        rel_w = max(1.0 - E / V, 0.0) if V > 0 else float("nan")
        rel_b = max(1.0 - EB / VB, 0.0) if VB > 0 else float("nan")
        att_w, att_b = rel_w, rel_b
    # reliability-corrected within estimate (meaningful for an unshrunken index)
    denom = V - E
    if denom > 0:
        bc = float(xt @ yt) / denom
        psi = np.bincount(codes, weights=xt * (yt - bc * xt), minlength=G) + bc * diag_g
        var = G / (G - 1) * float(psi @ psi) / denom ** 2
        corrected = _t_row("within_disattenuated", bc, math.sqrt(var), float(G - 1))
    else:
        corrected = _t_row("within_disattenuated", float("nan"), float("nan"), float(G - 1))
    return {"rel_w": rel_w, "rel_b": rel_b, "att_w": att_w, "att_b": att_b,
            "corrected": corrected, "V": V, "E": E,
            "x_sd_within": math.sqrt(V / max(n - 1, 1)),
            "y_sd_within": math.sqrt(float(yt @ yt) / max(n - 1, 1))}


# --------------------------------------------------------------------------- #
# result object
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, eq=False)
class LinkResult(Result):
    """Within- and between-school association of teaching quality and results (see :func:`link`)."""

    measure: str
    lag: int
    adjusted: bool
    inference: str
    table: pd.DataFrame = field(repr=False)
    panel: pd.DataFrame = field(repr=False)
    exclusions: pd.DataFrame = field(repr=False)
    yearly: _YearlyIndex = field(repr=False)
    names: dict[str, str] = field(default_factory=dict, repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def _row(self, term: str) -> pd.Series:
        t = self.table
        return t[t["term"] == term].iloc[0]

    @property
    def within(self) -> dict[str, float]:
        """The within-school estimate: estimate, se, conf_low, conf_high, p_value."""
        r = self._row("within")
        return {k: float(r[k]) for k in ("estimate", "se", "conf_low", "conf_high", "p_value")}

    @property
    def between(self) -> dict[str, float]:
        """The between-school estimate: estimate, se, conf_low, conf_high, p_value."""
        r = self._row("between")
        return {k: float(r[k]) for k in ("estimate", "se", "conf_low", "conf_high", "p_value")}

    @property
    def min_detectable_within(self) -> float:
        """Smallest within association (result units per index point) that the analysis
        detects with 80 % power at the 5 % level: ``(t_0.975 + t_0.80) × se`` with the
        within row's degrees of freedom (NaN when the interval could not be computed)."""
        from scipy import stats

        r = self._row("within")
        se, df = float(r["se"]), float(r["df"])
        if not (np.isfinite(se) and se > 0 and np.isfinite(df) and df > 0):
            return float("nan")
        return float((stats.t.ppf(0.975, df) + stats.t.ppf(0.80, df)) * se)

    @property
    def n_excluded(self) -> int:
        """School-years left out (reasons in :attr:`exclusions`)."""
        return int(self.exclusions["n"].sum()) if len(self.exclusions) else 0

    def school_changes(self) -> pd.DataFrame:
        """Per school: change in teaching quality beside change in results.

        From the school's first to its last panel row (index years
        ``quality_first_year`` → ``quality_last_year``; results ``lag`` years
        later). ``quality_change_se`` uses the joint error covariance of the
        two yearly indices (independent errors for an index given as a
        table). ``*_per_year`` divide by the years between. Schools with a
        single panel row have NaN changes and a note.
        """
        p = self.panel.sort_values(["school_id", "school_year"], kind="stable")
        first = p.drop_duplicates("school_id", keep="first").reset_index(drop=True)
        last = p.drop_duplicates("school_id", keep="last").reset_index(drop=True)
        sids = first["school_id"].to_numpy(dtype=object)
        n_years = p.groupby("school_id", sort=True).size().reindex(sids).to_numpy(dtype=np.int64)
        span = (last["school_year"].astype(str).str[:4].astype(int).to_numpy(dtype=np.int64)
                - first["school_year"].astype(str).str[:4].astype(int).to_numpy(dtype=np.int64))
        fiy = first["index_year"].to_numpy(dtype=object)
        liy = last["index_year"].to_numpy(dtype=object)
        x0, x1 = first["x"].to_numpy(dtype=float), last["x"].to_numpy(dtype=float)
        y0, y1 = first["y"].to_numpy(dtype=float), last["y"].to_numpy(dtype=float)
        change = (n_years >= 2) & (span > 0)
        # the change's error variance from the joint covariance of the two yearly indices
        var = (self.yearly._variances(sids, fiy) + self.yearly._variances(sids, liy)
               - 2 * self.yearly._covariances((sids, fiy), (sids, liy)))
        nan = np.full(len(sids), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.where(change, np.sqrt(np.maximum(var, 0.0)), np.nan)
            dq = np.where(change, x1 - x0, nan)
            dy = np.where(change, y1 - y0, nan)
            per = np.where(change, span, np.nan)
            out = pd.DataFrame({
                "school_id": sids.tolist(),
                "school_name": [self.names.get(s, s) for s in sids],
                "quality_first_year": fiy.tolist(), "quality_last_year": liy.tolist(),
                "results_first_year": first["school_year"].to_numpy(dtype=object).tolist(),
                "results_last_year": last["school_year"].to_numpy(dtype=object).tolist(),
                "n_years": n_years, "span": span, "quality_first": x0, "quality_last": x1,
                "quality_change": dq, "quality_change_se": se,
                "quality_change_conf_low": dq - 1.959963984540054 * se,
                "quality_change_conf_high": dq + 1.959963984540054 * se,
                "quality_change_per_year": dq / per, "quality_change_per_year_se": se / per,
                "results_first": y0, "results_last": y1, "results_change": dy,
                "results_change_per_year": dy / per, "suppressed": np.zeros(len(sids), bool),
                "note": np.where(change, "",
                                 "bara ett läsår i panelen; ingen förändring att visa").tolist()})
        cols = ["school_id", "school_name", "quality_first_year", "quality_last_year",
                "results_first_year", "results_last_year", "n_years", "span", "quality_first",
                "quality_last", "quality_change", "quality_change_se", "quality_change_conf_low",
                "quality_change_conf_high", "quality_change_per_year",
                "quality_change_per_year_se", "results_first", "results_last", "results_change",
                "results_change_per_year", "suppressed", "note"]
        return out[cols]

    # -- presentation --------------------------------------------------------
    def _summary_text(self) -> str:
        w, b = self._row("within"), self._row("between")
        label = schema.measure_label(self.measure)
        later = {0: "samma läsår", 1: "ett läsår senare"}.get(self.lag,
                                                             f"{self.lag} läsår senare")
        what = (f"resultatet {later}, justerat för elevsammansättning (observerat minus "
                "förväntat),") if self.adjusted else f"resultatet {later}"
        unit = "poäng" if self.measure.startswith("merit") else (
            "procentenheter" if self.measure.endswith("_pct") else "enheter")
        step = 0.1
        years = self.info["years"]
        lag_text = {0: "samma läsår", 1: "läsåret innan"}.get(
            self.lag, f"{self.lag} läsår tidigare")

        def eff(r: pd.Series) -> str:
            e = step * float(r["estimate"])
            side = "högre" if e >= 0 else "lägre"
            return (f"{sv_num(abs(e), 1)} {unit} {side} (95 % KI "
                    f"{sv_num(step * r['conf_low'], 1, True)} till "
                    f"{sv_num(step * r['conf_high'], 1, True)})")

        def verdict(r: pd.Series) -> str:
            if not np.isfinite(r["conf_low"]):
                return "Intervallet kunde inte beräknas."
            if r["conf_low"] > 0:
                return "Hela intervallet ligger över noll: ett positivt samband."
            if r["conf_high"] < 0:
                return "Hela intervallet ligger under noll: ett negativt samband."
            return ("Intervallet omfattar noll: underlaget räcker inte för att säga om det "
                    "finns ett samband, åt något håll.")

        lines = [
            f"Undervisningskvalitet och resultat: {label}",
            "",
            f"Underlag: {int(w['n_schools'])} skolor, {int(w['n_years'])} läsår med resultat "
            f"({years[0]}–{years[-1]}), {int(w['n_obs'])} skolenhetsår. Resultaten jämförs med "
            f"undervisningskvaliteten {lag_text}.",
        ]
        if self.n_excluded:
            lines.append(f"{self.n_excluded} skolenhetsår är inte med: " + "; ".join(
                f"{r.reason} ({r.n})" for r in self.exclusions.itertuples(index=False)) + ".")
        lines += [
            "",
            "Inom skolorna (samma skola över tid): när en skolas undervisningskvalitet är "
            f"{sv_num(step, 1)} indexpoäng högre än vanligt för skolan är {what} i genomsnitt "
            f"{eff(w)}. {verdict(w)}",
        ]
        mde = self.min_detectable_within
        if np.isfinite(w["conf_low"]) and w["conf_low"] <= 0 <= w["conf_high"] \
                and np.isfinite(mde):
            lines.append(
                "Inget säkert samband är inte detsamma som inget samband. Med "
                f"{int(w['n_schools'])} skolor och {int(w['n_years'])} läsår kan analysen bara "
                "upptäcka stora samband inom skolorna: det minsta samband som analysen "
                f"upptäcker med 80 % sannolikhet är ungefär {sv_num(step * mde, 1)} {unit} "
                f"per {sv_num(step, 1)} indexpoäng ({sv_num(mde, 1)} {unit} per indexpoäng). "
                "Ett mindre samband kan finnas utan att synas här. Fler läsår i underlaget och "
                "fler observerade lektioner per skola och termin (ett säkrare index) gör "
                "analysen känsligare.")
        lines += [
            "Mellan skolorna: i skolor vars undervisningskvalitet i genomsnitt ligger "
            f"{sv_num(step, 1)} indexpoäng högre är {what} i genomsnitt {eff(b)}. "
            f"{verdict(b)}"
            + ("" if self.adjusted else
               " Skillnader mellan skolor speglar också elevsammansättningen; jämförelsen "
               "inom skolorna håller sådant som inte ändras fast."),
            "",
            "Så läses intervallet: ett 95 %-konfidensintervall visar de värden på sambandet "
            "som är förenliga med data. Det tar hänsyn till att resultaten varierar från år till "
            "år inom samma skola.",
        ]
        rel = w["reliability"]
        if self.info["shrunken"]:
            lines.append(
                f"Mätfel: indexet bygger på ett urval av lektioner och är därför osäkert. Av "
                f"skillnaderna i undervisningskvalitet inom skolorna fångar indexet ungefär "
                f"{sv_num(100 * rel, 0)} % (reliabilitet {sv_num(rel, 2)}). Indexet är redan "
                "justerat för sin osäkerhet (osäkra värden dras mot skolans trend), så "
                "sambandet inom skolorna späds inte ut av mätfelet; priset är ett bredare "
                "intervall.")
        elif not np.isfinite(self._row("within_disattenuated")["estimate"]) or rel < 0.05:
            lines.append(
                "Mätfel: indexet bygger på ett urval av lektioner, och dess förändringar inom "
                f"skolorna är nästan bara mätfel (reliabilitet {sv_num(rel, 2)}). Sambandet "
                "inom skolorna går inte att tolka och kan inte korrigeras; fler observationer "
                "per termin behövs.")
        else:
            c = self._row("within_disattenuated")
            lines.append(
                f"Mätfel: indexet bygger på ett urval av lektioner. Reliabiliteten för "
                f"förändringar inom skolorna är {sv_num(rel, 2)}, så sambandet ovan är "
                f"utspätt till ungefär {sv_num(100 * rel, 0)} % av sambandet med den verkliga "
                f"kvaliteten. Korrigerat för mätfelet (tillrättalagd skattning): {eff(c)}.")
        lines += [
            "",
            "Detta är samband, inte bevis för orsak: skolor förändras i många avseenden "
            "samtidigt. Skola för skola (förändring i undervisningskvalitet bredvid förändring "
            "i resultat) visas i tabellen school_changes() och i diagrammet plot().",
        ]
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None, *, school_id: str | None = None,
             kind: Literal["changes", "estimates"] = "changes") -> Axes:
        """``changes`` (default): every school's change in teaching quality per year
        against its change in results per year; ``estimates``: the within and between
        associations per 0.1 index points with 95 % intervals."""
        from .. import plots

        if kind == "changes":
            ch = self.school_changes()
            unit = "poäng" if self.measure.startswith("merit") else "enheter"
            return plots.progressions(
                ch, school_id, x="quality_change_per_year", y="results_change_per_year",
                x_se="quality_change_per_year_se",
                xlabel="Förändring i undervisningskvalitet (indexpoäng per läsår)",
                ylabel=f"Förändring i resultat ({unit} per läsår)", ax=ax)
        import matplotlib

        style: Any = plots.STYLE
        with matplotlib.rc_context(style):
            if ax is None:
                ax = plots.new_figure((6.0, 2.4)).subplots()
            t = self.table
            labels = {"within": "Inom skolor", "between": "Mellan skolor",
                      "within_disattenuated": "Inom skolor, korrigerat för mätfel"}
            for i, r in enumerate(t.itertuples(index=False)):
                ax.errorbar([0.1 * r.estimate], [i],
                            xerr=[[0.1 * (r.estimate - r.conf_low)],
                                  [0.1 * (r.conf_high - r.estimate)]],
                            fmt="o", color=plots.SCHOOL, capsize=3)
            ax.axvline(0, color="#888888", lw=0.8)
            ax.set_yticks(range(len(t)))
            ax.set_yticklabels([labels.get(x, x) for x in t["term"]])
            ax.set_ylim(-0.6, len(t) - 0.4)
            ax.grid(axis="y", visible=False)
            ax.xaxis.set_major_formatter(plots._sv_formatter(1))
            ax.set_xlabel(f"Skillnad i resultat per 0,1 indexpoäng ({plots.CI_TEXT})")
            ax.set_title(schema.measure_label(self.measure))
        return ax
