"""link at national scale: nothing n × n, and the same numbers as the dense formulas.

``link`` computes the measurement-error quantities, the CR2 covariance, the
Bell–McCaffrey df, the yearly index and the school changes without n × n
matrices (issue 8: a national file has n ≈ 42,600 school-years, so one dense
n × n matrix is 13.5 GiB). This file keeps the dense textbook versions (the
implementation before that rewrite: the annihilator ``M = I - D D⁺``,
``tr(MΣM)``, per-row loops) and checks that ``link`` agrees with them to
1e-10 on the sample and on unbalanced panels, for several argument
combinations; and that a panel whose n × n matrix would take hundreds of MB
runs within a small memory budget.

It also checks the summary's warning about weak null findings (issue 5).
"""

from __future__ import annotations

import math
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from test_link import means_index  # the plain-means index of the link tests

from undervisning_analys import schema, synth
from undervisning_analys.engine import robust
from undervisning_analys.models import link as L
from undervisning_analys.models import link_estimate, link_panel
from undervisning_analys.models.adjust import school_results

RTOL = 1e-10


# --------------------------------------------------------------------------- #
# dense reference implementations (the formulas as written before issue 8)
# --------------------------------------------------------------------------- #
def dense_inv_sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    tol = 1e-10 * max(1.0, float(np.abs(w).max()))
    inv = np.where(w > tol, 1.0 / np.sqrt(np.clip(w, tol, None)), 0.0)
    return (v * inv) @ v.T


def dense_cluster_vcov(X, resid, groups, kind="CR2"):
    n, k = X.shape
    xtx_inv = np.linalg.pinv(X.T @ X)
    H = X @ xtx_inv @ X.T                                    # the full n × n hat matrix
    meat = np.zeros((k, k))
    uniq = pd.unique(groups)
    for g in uniq:
        idx = np.flatnonzero(groups == g)
        eg = resid[idx]
        if kind == "CR2":
            eg = dense_inv_sqrt_psd(np.eye(len(idx)) - H[np.ix_(idx, idx)]) @ eg
        s = X[idx].T @ eg
        meat += np.outer(s, s)
    v = xtx_inv @ meat @ xtx_inv
    if kind == "CR1":
        G = len(uniq)
        v *= G / (G - 1) * (n - 1) / (n - k)
    return v


def dense_bm_df(X, groups, k):
    """Imbens & Kolesár (2016) eq. (10) with the full hat matrix and eigenvalues."""
    n = X.shape[0]
    xtx_inv = np.linalg.pinv(X.T @ X)
    ih = np.eye(n) - X @ xtx_inv @ X.T
    cols = []
    for g in pd.unique(groups):
        idx = np.flatnonzero(groups == g)
        a = dense_inv_sqrt_psd(ih[np.ix_(idx, idx)]) @ (X[idx] @ xtx_inv[:, k])
        cols.append(ih[idx, :].T @ a)
    lam = np.linalg.eigvalsh(np.column_stack(cols).T @ np.column_stack(cols))
    return lam.sum() ** 2 / (lam ** 2).sum()


def dense_annihilator(schools, years):
    s_codes = pd.factorize(schools)[0]
    y_codes = pd.factorize(years)[0]
    n = len(schools)
    D = np.zeros((n, s_codes.max() + 1 + y_codes.max() + 1))
    D[np.arange(n), s_codes] = 1.0
    D[np.arange(n), s_codes.max() + 1 + y_codes] = 1.0
    return np.eye(n) - D @ np.linalg.pinv(D)


def dense_cov(yi, keys):
    """The panel's n × n error covariance, dense."""
    if yi.cov is not None:
        return yi.cov.loc[keys, keys].to_numpy(dtype=float)
    se = yi.table.set_index(["school_id", "school_year"])["se"]
    return np.diag(se.loc[keys].to_numpy(dtype=float) ** 2)


def dense_measurement(panel, yi):
    S = dense_cov(yi, list(zip(panel["school_id"], panel["index_year"])))
    M = dense_annihilator(panel["school_id"].to_numpy(), panel["school_year"].to_numpy())
    x = panel["x"].to_numpy(dtype=float)
    y = panel["y"].to_numpy(dtype=float)
    xt, yt = M @ x, M @ y
    V = float(xt @ xt)
    MSM = M @ S @ M
    E = float(np.trace(MSM))
    groups = panel["school_id"].to_numpy()
    schools = list(pd.unique(groups))
    B = np.zeros((len(schools), len(panel)))
    for i, s in enumerate(schools):
        m = groups == s
        B[i, m] = 1.0 / m.sum()
    C = np.eye(len(schools)) - 1.0 / len(schools)
    xb = C @ B @ x
    VB = float(xb @ xb)
    EB = float(np.trace(C @ B @ S @ B.T @ C))
    if yi.shrunken:
        rel_w, rel_b = V / (V + E), VB / (VB + EB)
    else:
        rel_w, rel_b = max(1.0 - E / V, 0.0), max(1.0 - EB / VB, 0.0)
    G = len(schools)
    bc = se_c = float("nan")
    if V - E > 0:
        bc = float(xt @ yt) / (V - E)
        diag = np.diag(MSM)
        psi = np.array([float(xt[groups == s] @ (yt[groups == s] - bc * xt[groups == s])
                              + bc * diag[groups == s].sum()) for s in schools])
        se_c = math.sqrt(G / (G - 1) * float(psi @ psi) / (V - E) ** 2)
    # the corrected between estimate, with n × n matrices: the between regressor is the
    # school means P x less their projection on the school-level terms of the design
    # (intercept, school means of the year dummies), A = (I - QQ') P
    P = np.array([[1.0 / (groups == groups[i]).sum() if groups[i] == groups[j] else 0.0
                   for j in range(len(groups))] for i in range(len(groups))])
    years = panel["school_year"].to_numpy()
    Z = np.column_stack([np.ones(len(groups))] + [P @ (years == t).astype(float)
                                                  for t in sorted(set(years))])
    A = (np.eye(len(groups)) - Z @ np.linalg.pinv(Z, rcond=1e-10)) @ P  # Z is rank-deficient
    xbr, ybr = A @ x, A @ y
    ASA = A @ S @ A.T
    VBr, EBr = float(xbr @ xbr), float(np.trace(ASA))
    bb = se_b = float("nan")
    if VBr - EBr > 0:
        bb = float(xbr @ ybr) / (VBr - EBr)
        diag = np.diag(ASA)
        psi = np.array([float(xbr[groups == s] @ (ybr[groups == s] - bb * xbr[groups == s])
                              + bb * diag[groups == s].sum()) for s in schools])
        se_b = math.sqrt(G / (G - 1) * float(psi @ psi) / (VBr - EBr) ** 2)
    return {"V": V, "E": E, "rel_w": rel_w, "rel_b": rel_b, "bc": bc, "se_c": se_c,
            "VB": VB, "EB": EB, "bb": bb, "se_b": se_b}


def loop_yearly(index, dimension="overall"):
    """The yearly index (table and joint covariance), one school-year at a time."""
    cov_terms = None
    if not isinstance(index, pd.DataFrame):
        tq = index.tidy()
        cov_terms = index.cov(dimension)
    else:
        tq = index.copy()
    if "dimension" in tq.columns:
        tq = tq[tq["dimension"].astype(str) == dimension]
    if "level" in tq.columns:
        tq = tq[tq["level"].astype(str) == "school"]
    if "school_id" not in tq.columns:
        tq = tq.rename(columns={"unit": "school_id"})
    tq["school_id"] = tq["school_id"].astype(str)
    if "suppressed" not in tq.columns:
        tq["suppressed"] = False
    for c in ("reliability", "n_obs"):
        if c not in tq.columns:
            tq[c] = np.nan
    tq["_ok"] = tq["estimate"].notna() & tq["se"].notna() & ~tq["suppressed"].fillna(False) \
        .astype(bool)
    tq["term"] = tq["term"].astype(str)
    tq["school_year"] = tq["term"].map(schema.term_school_year)
    rows = []
    for (sid, sy), g in tq.groupby(["school_id", "school_year"], sort=True):
        ok = g[g["_ok"]]
        k = len(ok)
        rows.append({
            "school_id": sid, "school_year": str(sy),
            "estimate": float(ok["estimate"].mean()) if k else float("nan"),
            "se": float(math.sqrt((ok["se"] ** 2).sum()) / k) if k else float("nan"),
            "reliability": float(ok["reliability"].mean()) if k else float("nan"),
            "n_terms": k, "n_obs": float(g["n_obs"].sum()), "available": k > 0,
            "reason": "" if k else (
                "kvalitetsindex undertryckt (för få observerade lektioner eller lärare)"
                if g["suppressed"].fillna(False).astype(bool).any()
                else "kvalitetsindex saknas"),
            "terms": tuple(ok["term"])})
    table = pd.DataFrame(rows)
    cov = None
    if cov_terms is not None:
        avail = table[table["available"]]
        pos = {c: i for i, c in enumerate(cov_terms.index)}
        A = np.zeros((len(avail), len(cov_terms)))
        for r, row in enumerate(avail.itertuples(index=False)):
            for t in row.terms:
                A[r, pos[(row.school_id, t)]] = 1.0 / len(row.terms)
        c = A @ cov_terms.to_numpy(dtype=float) @ A.T
        keys = pd.MultiIndex.from_arrays([avail["school_id"], avail["school_year"]])
        cov = pd.DataFrame(c, index=keys, columns=keys)
        table.loc[table["available"], "se"] = np.sqrt(np.clip(np.diag(c), 0, None))
    return table.drop(columns="terms"), cov


def loop_panel(ds, yi, measure, lag):
    """Panel rows and exclusion reasons of the raw results, one row at a time."""
    out = school_results(ds.results, measure, "all")
    ytab = yi.table.set_index(["school_id", "school_year"])
    reasons = []
    for r in out.itertuples(index=False):
        iy = link_panel.school_year_of(schema.school_year_start(r.school_year) - lag)
        if r.status != "ok":
            reasons.append(link_panel.STATUS_REASON.get(r.status, f"status {r.status}"))
        elif not np.isfinite(r.value):
            reasons.append("förväntat resultat saknas (bakgrundsuppgifter saknas)")
        elif (r.school_id, iy) not in ytab.index:
            reasons.append(f"inget kvalitetsindex för läsåret {iy} (inga observationer det "
                           "läsåret)")
        elif not bool(ytab.loc[(r.school_id, iy), "available"]):
            reasons.append(str(ytab.loc[(r.school_id, iy), "reason"]))
        else:
            reasons.append("")
    out["reason"] = reasons
    panel = out[out["reason"] == ""].sort_values(["school_id", "school_year"])
    counts = out.loc[out["reason"] != "", "reason"].value_counts().sort_index()
    return panel[["school_id", "school_year"]].reset_index(drop=True), counts


def loop_school_changes(res):
    rows = []
    for sid, g in res.panel.groupby("school_id", sort=True):
        g = g.sort_values("school_year")
        first, last = g.iloc[0], g.iloc[-1]
        span = schema.school_year_start(last["school_year"]) - \
            schema.school_year_start(first["school_year"])
        row = {"school_id": sid, "n_years": len(g), "span": span,
               "quality_first": first["x"], "quality_last": last["x"],
               "results_first": float(first["y"]), "results_last": float(last["y"])}
        if len(g) >= 2 and span > 0:
            keys = [(sid, first["index_year"]), (sid, last["index_year"])]
            S = dense_cov(res.yearly, keys)
            se = math.sqrt(max(S[0, 0] + S[1, 1] - 2 * S[0, 1], 0.0))
            row.update({"quality_change": float(last["x"] - first["x"]),
                        "quality_change_se": se, "quality_change_per_year_se": se / span,
                        "results_change_per_year": float(last["y"] - first["y"]) / span,
                        "note": ""})
        else:
            row["note"] = "bara ett läsår i panelen; ingen förändring att visa"
        rows.append(row)
    return pd.DataFrame(rows)


def assert_close(a, b, what, rtol=RTOL):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, what
    assert (np.isnan(a) == np.isnan(b)).all(), what
    scale = max(float(np.nanmax(np.abs(b), initial=0.0)), 1e-300)
    err = float(np.nanmax(np.abs(a - b), initial=0.0)) / scale
    assert err <= rtol, f"{what}: relative difference {err:.2e}"


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def sample_tq(sample_ds):
    from undervisning_analys.measure.index import teaching_quality

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return teaching_quality(sample_ds)


def unbalanced(ds, tq):
    """Results suppressed so that some schools have a single panel year, others a gap."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = L.link(ds, index=tq).panel
    full = p.groupby("school_id")["school_year"].agg(list)
    full = full[full.map(len) >= 3]
    r = ds.results.reset_index(drop=True)
    r["status"] = r["status"].astype(str)
    sel = r.query("level == 'school' and measure == 'merit_17' and group == 'all'")
    drop = []
    for sid, yrs in list(full.items())[:3]:       # a single year left
        drop += list(sel.index[(sel["school_id"] == sid) & sel["school_year"].isin(yrs[:-1])])
    sid, yrs = list(full.items())[4]               # a gap in the middle
    drop += list(sel.index[(sel["school_id"] == sid) & (sel["school_year"] == yrs[1])])
    r.loc[drop, "status"] = "suppressed"
    r.loc[drop, "value"] = np.nan
    return ds.replace(results=r)


CASES = {
    "default": {},
    "lag0": {"lag": 0},
    "lag0_cr1": {"lag": 0, "vcov": "CR1"},
    "adjusted": {"adjusted": True},
    "g-1": {"dof": "G-1"},
    "mixed": {"inference": "mixed"},
    "table": {"index": "table"},
    "means_unshrunken": {"index": "means", "shrunken": False},
    "means_unshrunken_lag0_adjusted": {"index": "means", "shrunken": False, "lag": 0,
                                       "adjusted": True},
    "unbalanced": {"data": "unbalanced"},
    "unbalanced_means": {"data": "unbalanced", "index": "means", "shrunken": False},
}


@pytest.mark.parametrize("case", list(CASES))
def test_link_equals_the_dense_formulas(case, sample_ds, sample_tq):
    kw = dict(CASES[case])
    ds = unbalanced(sample_ds, sample_tq) if kw.pop("data", None) == "unbalanced" \
        else sample_ds
    index = {"table": sample_tq.tidy(), "means": means_index(sample_ds)}.get(
        kw.pop("index", None), sample_tq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = L.link(ds, index=index, **kw)
    t = res.tidy().query("correction == 'none'").set_index("term")
    c = res.tidy().query("correction == 'regression_calibration'").set_index("term")
    p = res.panel
    if case.startswith("unbalanced"):
        assert (p.groupby("school_id").size() == 1).sum() >= 3  # single-year schools

    # the yearly index and its joint covariance
    ref_table, ref_cov = loop_yearly(index)
    pd.testing.assert_frame_equal(res.yearly.table, ref_table, check_exact=False, rtol=RTOL,
                                  atol=1e-14)
    assert (res.yearly.cov is None) == (ref_cov is None)
    if ref_cov is not None:
        assert res.yearly.cov.index.equals(ref_cov.index)
        assert_close(res.yearly.cov.to_numpy(), ref_cov.to_numpy(), "joint covariance")

    # the panel and the exclusions (raw results)
    if not kw.get("adjusted"):
        ref_panel, ref_counts = loop_panel(ds, res.yearly, "merit_17", res.lag)
        pd.testing.assert_frame_equal(p[["school_id", "school_year"]], ref_panel)
        got = res.exclusions.set_index("reason")["n"].sort_index()
        assert got.to_dict() == ref_counts.to_dict()

    # reliability, attenuation and the corrected within estimate
    ref = dense_measurement(p, res.yearly)
    me = link_estimate.measurement(p, res.yearly)
    for k in ("V", "E"):
        assert_close(getattr(me, k), ref[k], k)
    assert_close(t.loc["within", "reliability"], ref["rel_w"], "within reliability")
    assert_close(t.loc["between", "reliability"], ref["rel_b"], "between reliability")
    assert len(c) == (0 if res.yearly.shrunken else 2)
    if len(c):
        assert_close(c.loc["within", "estimate"], ref["bc"], "corrected")
        assert_close(c.loc["within", "se"], ref["se_c"], "corrected se")
        assert_close(c.loc["between", "estimate"], ref["bb"], "corrected between")
        assert_close(c.loc["between", "se"], ref["se_b"], "corrected between se")

    # cluster-robust standard errors and degrees of freedom
    if kw.get("inference") != "mixed":
        X, names, _ = link_estimate.design(p)
        y = p["y"].to_numpy(dtype=float)
        beta = np.linalg.lstsq(X, y, rcond=None)[0]
        groups = p["school_id"].to_numpy()
        V = dense_cluster_vcov(X, y - X @ beta, groups, kw.get("vcov", "CR2"))
        assert_close(t.loc[["within", "between"], "se"], np.sqrt(np.diag(V)[[1, 2]]), "se")
        if kw.get("vcov", "CR2") == "CR2" and kw.get("dof", "BM") == "BM":
            assert_close(t.loc[["within", "between"], "df"],
                         [dense_bm_df(X, groups, 1), dense_bm_df(X, groups, 2)], "BM df")

    # the school changes
    ch = res.school_changes()
    ref_ch = loop_school_changes(res)
    assert list(ch["school_id"]) == list(ref_ch["school_id"])
    assert list(ch["note"]) == list(ref_ch["note"])
    for c in ref_ch.columns.drop(["school_id", "note"]):
        assert_close(ch[c], ref_ch[c], c)


def test_cluster_helpers_equal_the_dense_formulas_with_uneven_clusters():
    rng = np.random.default_rng(8)
    groups = np.repeat(np.arange(40), rng.integers(1, 9, size=40))
    rng.shuffle(groups)                      # clusters interleaved, not contiguous
    n = len(groups)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n),
                         (groups % 3 == 0).astype(float)])
    e = rng.normal(size=n) * (1 + np.abs(X[:, 1]))
    for kind in ("CR2", "CR1"):
        assert_close(robust.cluster_vcov(X, e, groups.astype(str), kind),
                     dense_cluster_vcov(X, e, groups.astype(str), kind), kind)
    for k in (1, 2, 3):
        assert_close(robust.bm_df(X, groups, k), dense_bm_df(X, groups, k), f"BM df {k}")


# --------------------------------------------------------------------------- #
# scale
# --------------------------------------------------------------------------- #
def national_like(n_schools: int, n_years: int, seed: int = 0):
    """A national-style results file and a school × term index without a covariance."""
    from undervisning_analys import Dataset

    rng = np.random.default_rng(seed)
    codes = np.array([f"{c:08d}" for c in rng.choice(np.arange(10_000_000, 99_999_999),
                                                    n_schools, replace=False)])
    years = [f"{y}/{(y + 1) % 100:02d}" for y in range(2015, 2015 + n_years)]
    schools = pd.DataFrame({"school_id": codes, "school_name": [f"Skola {c}" for c in codes],
                            "municipality_id": "0180", "municipality_name": "Kommun",
                            "principal_type": "kommunal", "area": None, "grades": "7-9"})
    S, Y = np.repeat(np.arange(n_schools), n_years), np.tile(np.arange(n_years), n_schools)
    a = 0.25 * rng.standard_normal(n_schools)
    b = 0.05 * rng.standard_normal(n_schools)
    quality = a[S] + b[S] * Y + 0.05 * rng.standard_normal(S.size)
    lagged = np.where(Y > 0, np.roll(quality, 1), a[S] - b[S])
    merit = 225 + 25 * lagged + 20 * rng.standard_normal(n_schools)[S] + 5 * \
        rng.standard_normal(S.size)
    n = rng.integers(5, 150, S.size)
    sup = n < 10
    results = pd.DataFrame({
        "level": "school", "school_id": codes[S], "municipality_id": "0180",
        "school_year": np.array(years)[Y], "measure": "merit_17", "group": "all",
        "principal_type": "all", "value": np.where(sup, np.nan, merit.round(1)),
        "n": pd.array(n, dtype="Int64"), "status": np.where(sup, "suppressed", "ok"),
        "source": "test"})
    terms = [t for y in range(2014, 2015 + n_years) for t in (f"HT{y}", f"VT{y + 1}")]
    ST = np.repeat(np.arange(n_schools), len(terms))
    T = np.tile(np.arange(len(terms)), n_schools)
    se = rng.uniform(0.06, 0.2, ST.size)
    index = pd.DataFrame({"level": "school", "unit": codes[ST], "term": np.array(terms)[T],
                          "dimension": "overall",
                          "estimate": a[ST] + b[ST] * (T - 2) / 2 + se * rng.standard_normal(
                              ST.size), "se": se, "suppressed": rng.random(ST.size) < 0.02})
    ds = Dataset.build(schools=schools, observations=schema.empty("observations"),
                       results=results, background=schema.empty("background"))
    return ds, index


def test_a_large_panel_needs_no_n_by_n_matrix():
    """n ≈ 7,800 school-years: one dense n × n matrix would be about 490 MB."""
    ds, index = national_like(1600, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        try:
            res = L.link(ds, index=index)
            ch = res.school_changes()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    n = int(res.tidy()["n_obs"].iloc[0])
    assert n > 7000
    assert peak < 0.15 * n * n * 8, f"peak {peak / 1e6:.0f} MB for n = {n}"
    assert len(ch) == res.panel["school_id"].nunique()
    t = res.tidy().query("correction == 'none'").set_index("term")
    assert 0 < t.loc["within", "reliability"] < 1
    assert t.loc["within", "estimate"] > 0 and np.isfinite(t.loc["within", "df"])


def test_a_medium_panel_with_a_diagonal_index_equals_the_dense_formulas():
    """Unbalanced (suppressed results and index terms), 300 schools: the diagonal path."""
    ds, index = national_like(300, 5, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = L.link(ds, index=index, shrunken=False)
    p = res.panel
    assert p.groupby("school_id").size().nunique() > 1
    ref = dense_measurement(p, res.yearly)
    me = link_estimate.measurement(p, res.yearly)
    for k in ("V", "E"):
        assert_close(getattr(me, k), ref[k], k)
    t = res.tidy().query("correction == 'none'").set_index("term")
    c = res.tidy().query("correction == 'regression_calibration'").set_index("term")
    assert_close(c.loc["within", "estimate"], ref["bc"], "corrected")
    assert_close(c.loc["within", "se"], ref["se_c"], "corrected se")
    assert_close(c.loc["between", "estimate"], ref["bb"], "corrected between")
    assert_close(t.loc["between", "reliability"], ref["rel_b"], "between reliability")
    X, _, _ = link_estimate.design(p)
    groups = p["school_id"].to_numpy()
    assert_close(t.loc["within", "df"], dense_bm_df(X, groups, 1), "BM df")


# --------------------------------------------------------------------------- #
# issue 5: a non-significant within association is not evidence of no link
# --------------------------------------------------------------------------- #
NULL_TEXT = "Inget säkert samband är inte detsamma som inget samband"


def _link(**kw):
    ds = synth.municipality(compute_slope=False, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return L.link(ds)


def test_a_non_significant_within_association_states_what_could_be_detected():
    from scipy import stats

    res = _link(seed=2, n_schools=12, n_years=4, effect=0.0)
    w = res.tidy().set_index("term").loc["within"]
    assert w["conf_low"] < 0 < w["conf_high"]
    mde = (stats.t.ppf(0.975, w["df"]) + stats.t.ppf(0.80, w["df"])) * w["se"]
    assert res.min_detectable_within == pytest.approx(mde, rel=1e-12)
    s = str(res.summary())
    assert NULL_TEXT in s
    assert f"Med {int(w['n_schools'])} skolor och {int(w['n_years'])} läsår" in s
    assert "bara upptäcka stora samband" in s
    per_tenth = f"{0.1 * mde:.1f}".replace(".", ",")
    per_point = f"{mde:.1f}".replace(".", ",")
    assert f"ungefär {per_tenth} poäng per 0,1 indexpoäng ({per_point} poäng per indexpoäng)" \
        in s
    assert "80 %" in s
    assert "Fler läsår" in s and "fler observerade lektioner per skola" in s


def test_a_significant_within_association_has_no_weak_null_warning():
    res = _link(seed=5, n_schools=30, n_years=5, effect=1.5)
    w = res.within
    assert w["conf_low"] > 0
    assert np.isfinite(res.min_detectable_within)
    s = str(res.summary())
    assert NULL_TEXT not in s
    assert "Hela intervallet ligger över noll" in s
