"""The link's estimation: the within–between design, the regression, measurement error.

* :func:`design` – the Mundlak design (within, between, year effects and, for an
  unbalanced panel, the school means of the year dummies);
* :func:`estimate` – the naive regression (``inference="cluster"``: OLS with
  cluster-robust CR2/CR1 standard errors from :mod:`undervisning_analys.engine.robust`;
  ``"mixed"``: a random school intercept fitted with ``fit_mixed``);
* :func:`measurement` – the index's error in the two regressors: within and
  between reliability, attenuation, and the error sums of squares by school;
* :func:`corrected` – the within and between associations corrected for the
  index's error covariance (regression calibration by the method of moments).

The statistics are described in :mod:`undervisning_analys.models.link`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..engine.robust import (
    bm_df,
    cluster_blocks,
    cluster_vcov,
    group_means,
    independent_columns,
    moment_corrected_slope,
    t_interval,
    twoway_within,
)
from .link_panel import YearlyIndex

__all__ = ["Measurement", "corrected", "design", "estimate", "measurement"]


def design(panel: pd.DataFrame) -> tuple[np.ndarray, list[str], int]:
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
    X, kept = independent_columns(cols + cols_y + means, names + names_y + names_m,
                                  keep_first=3)
    n_between = sum(1 for n in kept if n.startswith("mean_year_")) + 2  # + intercept, between
    return X, kept, n_between


def estimate(panel: pd.DataFrame, inference: str, vcov: str, dof: str) -> dict[str, Any]:
    """The naive within and between rows (the index taken at face value)."""
    X, names, n_between = design(panel)
    y = panel["y"].to_numpy(dtype=float)
    groups = panel["school_id"].to_numpy()
    G = int(len(set(groups)))
    if inference == "cluster":
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        # the per-cluster CR2 matrices are computed once for the covariance and both df
        cl = cluster_blocks(X, groups, adjust=vcov == "CR2")
        V = cluster_vcov(X, resid, groups, vcov, clusters=cl)  # type: ignore[arg-type]
        se = np.sqrt(np.clip(np.diag(V), 0, None))
        if dof == "BM":
            df_w, df_b = bm_df(X, groups, 1, clusters=cl), bm_df(X, groups, 2, clusters=cl)
        else:
            df_w = df_b = float(G - 1)
        b = dict(zip(names, beta))
        s = dict(zip(names, se))
        model = None
    else:
        from ..engine.mixed import fit_mixed

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
    return {"within": t_interval("within", b["within"], s["within"], df_w),
            "between": t_interval("between", b["between"], s["between"], df_b),
            "names": tuple(names), "beta": beta, "G": G, "model": model}


@dataclass(frozen=True)
class Measurement:
    """The index's measurement error in the two regressors of the link.

    ``xt``/``yt`` are the index and the outcome after the two-way annihilator
    ``M`` (school and year effects removed: the within regressor), ``xb`` the
    school means of the index after the school-level terms (intercept and the
    school means of the year dummies: the between regressor) and ``yb`` the
    outcome's school means after the same terms. ``E = tr(M Σ M)``
    and ``EB`` are the error sums of squares these contain (``Σ`` the index's
    error covariance), ``e_within``/``e_between`` their shares by school.
    """

    codes: np.ndarray
    n_schools: int
    xt: np.ndarray
    yt: np.ndarray
    xb: np.ndarray
    yb: np.ndarray
    V: float
    E: float
    e_within: np.ndarray
    VB: float
    EB: float
    e_between: np.ndarray
    rel_w: float
    rel_b: float
    att_w: float
    att_b: float
    x_sd_within: float
    y_sd_within: float


def measurement(panel: pd.DataFrame, yi: YearlyIndex) -> Measurement:
    """Within and between reliability, attenuation and the error sums of squares.

    With ``M = I - P`` the two-way annihilator (``P`` the projection on the
    school and year dummies, ``P = P_S + U U'``; see
    :func:`~undervisning_analys.engine.robust.twoway_within`) and ``Σ`` the
    index's error covariance: ``V = x'Mx``, ``E = tr(MΣM) = tr(Σ) - Σ_g
    1'Σ_gg 1 / n_g - tr(U'ΣU)``. Nothing is ``n × n`` unless ``Σ`` itself is
    dense (an index with a joint covariance, at most its own cells).

    The reliabilities of the ``reliability`` column use the school means
    centred at their plain mean (``VB``/``EB`` here are those of the between
    regressor as the regression weights it, for the correction).
    """
    S = yi.panel_cov(panel["school_id"].to_numpy(dtype=object),
                     panel["index_year"].to_numpy(dtype=object))
    tw = twoway_within(panel["school_id"].to_numpy(), panel["school_year"].to_numpy())
    codes, G, U = tw.codes, tw.n_units, tw.U
    n = len(panel)
    ng = np.bincount(codes, minlength=G).astype(float)
    x = panel["x"].to_numpy(dtype=float)
    y = panel["y"].to_numpy(dtype=float)
    xt, yt = tw.annihilate(x), tw.annihilate(y)
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
    # between (reliability): school means, centred; tr(C BΣB' C) = tr(BΣB') - 1'BΣB'1 / G
    xm = np.bincount(codes, weights=x, minlength=G) / ng
    xc = xm - xm.mean()
    VB_rel = float(xc @ xc)
    w = 1.0 / ng[codes]
    EB_rel = float((block / ng ** 2).sum() - float(w @ S.matmul(w)) / G)
    if yi.shrunken:
        rel_w = V / (V + E) if V + E > 0 else float("nan")
        rel_b = VB_rel / (VB_rel + EB_rel) if VB_rel + EB_rel > 0 else float("nan")
        att_w = att_b = 1.0
    else:
        # a moment estimate; clipped at 0 when the error variance exceeds the observed one
        rel_w = max(1.0 - E / V, 0.0) if V > 0 else float("nan")
        rel_b = max(1.0 - EB_rel / VB_rel, 0.0) if VB_rel > 0 else float("nan")
        att_w, att_b = rel_w, rel_b
    # between regressor as the regression sees it: P_S x less its projection on the
    # school-level terms Q (orthonormal basis of the intercept and the school means of
    # the year dummies); its error share by school is the sum over the school's rows of
    # diag(A Σ A') with A = (I - QQ') P_S: 1'Σ_gg 1 / n_g - 2 q_i·(P_S ΣQ)_i + q_i'(Q'ΣQ)q_i
    years = pd.factorize(panel["school_year"].to_numpy())[0]
    Ydum = np.zeros((n, int(years.max()) + 1))
    Ydum[np.arange(n), years] = 1.0
    Zb = np.column_stack([np.ones(n), group_means(Ydum, codes, G)])
    q, sv, _ = np.linalg.svd(Zb, full_matrices=False)
    Q = q[:, sv > max(Zb.shape) * np.finfo(float).eps * sv[0]]
    xs = group_means(x, codes, G)
    xb = xs - Q @ (Q.T @ xs)
    ys = group_means(y, codes, G)
    yb = ys - Q @ (Q.T @ ys)
    SQ = S.matmul(Q)
    KQ = Q.T @ SQ
    per_row_b = (-2.0 * np.einsum("ij,ij->i", Q, group_means(SQ, codes, G))
                 + np.einsum("ij,ij->i", Q @ KQ, Q))
    e_between = block / ng + np.bincount(codes, weights=per_row_b, minlength=G)
    return Measurement(
        codes=codes, n_schools=G, xt=xt, yt=yt, xb=xb, yb=yb, V=V, E=E, e_within=diag_g,
        VB=float(xb @ xb), EB=float(e_between.sum()), e_between=e_between,
        rel_w=rel_w, rel_b=rel_b, att_w=att_w, att_b=att_b,
        x_sd_within=math.sqrt(V / max(n - 1, 1)),
        y_sd_within=math.sqrt(float(yt @ yt) / max(n - 1, 1)))


def corrected(me: Measurement) -> dict[str, dict[str, Any]]:
    """The within and between associations corrected for the index's error covariance.

    Regression calibration by the method of moments (Fuller 1987): for each
    regressor ``r`` (after the other terms are partialled out) and its error
    sum of squares ``E_r``, ``b = r'y / (r'r - E_r)``, with the cluster
    sandwich standard error of
    :func:`~undervisning_analys.engine.robust.moment_corrected_slope` and
    t intervals with ``G - 1`` degrees of freedom. Meaningful for an index of
    unshrunken estimates (classical error); NaN rows when the observed
    variation is no larger than the error alone.
    """
    G = me.n_schools
    bw, sw = moment_corrected_slope(me.xt, me.yt, me.e_within, me.codes)
    bb, sb = moment_corrected_slope(me.xb, me.yb, me.e_between, me.codes)
    return {"within": t_interval("within", bw, sw, float(G - 1)),
            "between": t_interval("between", bb, sb, float(G - 1))}
