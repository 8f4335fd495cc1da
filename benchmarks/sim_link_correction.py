"""The link corrected for measurement error: attenuation, bias and coverage over seeds.

Run from the repository root (nice it on a shared machine):

    nice .venv/bin/python benchmarks/sim_link_correction.py --seeds 200
    nice .venv/bin/python benchmarks/sim_link_correction.py --seeds 30 --processes 1  # a look

For every seed a synthetic municipality (``synth.municipality(seed, effect=0.3,
compute_slope=True)``: 20 schools, 5 school years, 5–25 observed lessons per
school and term) is analysed with the real pipeline. The index whose error is
to be corrected is the plain-means index (the mean of the forms' overall scores
per school × term with its standard error, passed with ``shrunken=False``):
with so few lessons its *within-school* reliability is about 0.5. Variants:

* ``means_naive`` – ``link(ds, index=means, shrunken=False)``, rows with
  ``correction == "none"``: expected to be attenuated (about λ_W × truth);
* ``means_rc`` – the same call's ``correction == "regression_calibration"``
  rows (the package's correction, the default for an unshrunken index);
* ``means_simex`` – SIMEX (Cook & Stefanski 1994) on the same panel, the
  alternative the correction was chosen against: the index is re-measured
  with extra error of covariance ``ζ Σ`` (ζ = 0.5, 1, 1.5, 2; 50 draws each),
  the within and between slopes refitted, and the quadratic in ζ extrapolated
  to ζ = −1 (point estimate only);
* ``noisy_naive`` / ``noisy_rc`` / ``noisy_simex`` – the method on its own
  terms: the true quality plus classical error of *known* variance, drawn
  per school × term so that the within reliability is 0.5 in expectation
  (the yearly error variance equals the true within variance), passed with
  its ``se`` and ``shrunken=False``; target ``truth.slope`` (latent scale);
* ``index_naive`` – the package's default shrunken index (``teaching_quality``),
  naive rows: a conditional mean is already calibrated;
* ``oracle`` – the true quality as the index (no error), for the between term,
  whose target is not a causal slope: the corrected between estimate is
  compared with the oracle's (per score point) on the same seed.

The within truth is ``truth.slope_per_point(measure)`` (exact, see ``synth``).
Per-seed rows: ``benchmarks/results/sim_link_correction_<measure>.csv``; the
summary table: ``benchmarks/results/sim_link_correction.md`` (with the command).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # many small fits: threads only hurt
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from multiprocessing import get_context  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
OUT = ROOT / "benchmarks" / "results"
ZETAS = (0.5, 1.0, 1.5, 2.0)
SIMEX_DRAWS = 50


def simex(res, rng: np.random.Generator) -> dict[str, float]:
    """SIMEX within and between slopes of a link result with an independent-error index."""
    from undervisning_analys.engine.robust import group_means, twoway_within

    p = res.panel
    x = p["x"].to_numpy(dtype=float)
    y = p["y"].to_numpy(dtype=float)
    se = res.yearly.variances(p["school_id"].to_numpy(dtype=object),
                              p["index_year"].to_numpy(dtype=object)) ** 0.5
    tw = twoway_within(p["school_id"].to_numpy(), p["school_year"].to_numpy())
    codes, G = tw.codes, tw.n_units
    n = len(p)
    years = pd.factorize(p["school_year"].to_numpy())[0]
    Yd = np.zeros((n, years.max() + 1))
    Yd[np.arange(n), years] = 1.0
    Z = np.column_stack([np.ones(n), group_means(Yd, codes, G)])
    q, sv, _ = np.linalg.svd(Z, full_matrices=False)
    Q = q[:, sv > 1e-10 * sv[0]]
    yt = tw.annihilate(y)
    yb = group_means(y, codes, G)
    yb = yb - Q @ (Q.T @ yb)

    def slopes(xx: np.ndarray) -> tuple[float, float]:
        xt = tw.annihilate(xx)
        xb = group_means(xx, codes, G)
        xb = xb - Q @ (Q.T @ xb)
        return float(xt @ yt) / float(xt @ xt), float(xb @ yb) / float(xb @ xb)

    grid = [(0.0, *slopes(x))]
    for z in ZETAS:
        draws = np.array([slopes(x + np.sqrt(z) * se * rng.standard_normal(n))
                          for _ in range(SIMEX_DRAWS)])
        grid.append((z, *draws.mean(axis=0)))
    g = np.array(grid)
    out = {}
    for k, term in ((1, "within"), (2, "between")):
        coef = np.polyfit(g[:, 0], g[:, k], 2)
        out[term] = float(np.polyval(coef, -1.0))
    return out


def noisy_index(ds, oracle, seed: int) -> pd.DataFrame:
    """The true quality per school × term plus classical error of known variance, such
    that the yearly error variance equals the true within-school variance (of the
    oracle's two-way residuals): within reliability 0.5 in expectation."""
    from sim_link import oracle_index

    from undervisning_analys.engine.robust import twoway_within

    p = oracle.panel
    tw = twoway_within(p["school_id"].to_numpy(), p["school_year"].to_numpy())
    xt = tw.annihilate(p["x"].to_numpy(dtype=float))
    # E[x'Mx] = x*'Mx* + σ² tr(M), tr(M) = n - G - rank(U): σ² = x*'Mx* / tr(M)
    sigma2 = float(xt @ xt) / (len(p) - tw.n_units - tw.U.shape[1])
    q = oracle_index(ds)
    rng = np.random.default_rng(10_000_000 + seed)
    se_term = np.sqrt(2 * sigma2)                # a year is the mean of two terms
    q["estimate"] = q["estimate"] + se_term * rng.standard_normal(len(q))
    q["se"] = se_term
    return q


def run_seed(args: tuple[int, float, str, tuple[float, float]]) -> list[dict]:
    seed, effect, measure, rate = args
    from sim_link import means_index, oracle_index

    from undervisning_analys import synth
    from undervisning_analys.measure.index import teaching_quality
    from undervisning_analys.models.link import link

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    ds = synth.municipality(seed, effect=effect, compute_slope=True, observation_rate=rate)
    scale = ds.truth.score_scale["overall"]
    truth = ds.truth.slope_per_point(measure) if effect else 0.0
    rows: list[dict] = []
    oracle = link(ds, measure, index=oracle_index(ds), shrunken=False, correction="none")
    ob = oracle.between["estimate"] / scale   # per score point
    ow = oracle.within["estimate"] / scale

    def add(variant: str, term: str, r: dict, rel: float, latent: bool = False) -> None:
        k = scale if latent else 1.0    # the noisy oracle is on the latent scale
        rows.append({"seed": seed, "effect": effect, "measure": measure, "variant": variant,
                     "term": term, "truth": k * truth if term == "within" else np.nan,
                     "oracle": k * (ow if term == "within" else ob), "reliability": rel,
                     **{k: r.get(k, np.nan) for k in ("estimate", "se", "conf_low",
                                                      "conf_high", "p_value", "df")}})

    for prefix, index in (("means", means_index(ds)), ("noisy", noisy_index(ds, oracle, seed))):
        res = link(ds, measure, index=index, shrunken=False,
                   correction="regression_calibration")
        t = res.tidy()
        for corr, suffix in (("none", "naive"), ("regression_calibration", "rc")):
            for term in ("within", "between"):
                r = t[(t["term"] == term) & (t["correction"] == corr)].iloc[0]
                add(f"{prefix}_{suffix}", term, r.to_dict(), float(r["reliability"]),
                    latent=prefix == "noisy")
        sx = simex(res, np.random.default_rng(seed))
        rel = dict(zip(t["term"], t["reliability"]))
        for term in ("within", "between"):
            add(f"{prefix}_simex", term, {"estimate": sx[term]}, rel[term],
                latent=prefix == "noisy")
    tq = teaching_quality(ds)
    t = link(ds, measure, index=tq).tidy()
    for term in ("within", "between"):
        r = t[(t["term"] == term) & (t["correction"] == "none")].iloc[0]
        add("index_naive", term, r.to_dict(), float(r["reliability"]))
    for r in rows:
        r["seconds"] = time.perf_counter() - t0
    return rows


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (variant, term), d in df.groupby(["variant", "term"], sort=False):
        est = d["estimate"].to_numpy(dtype=float)
        ok = np.isfinite(est)
        n = int(ok.sum())
        row: dict = {"variant": variant, "term": term, "seeds": n,
                     "nan": int((~ok).sum()), "mean_reliability": float(d["reliability"].mean())}
        target = d["truth"] if term == "within" else d["oracle"]
        tgt = target.to_numpy(dtype=float)[ok]
        row["mean_target"] = float(tgt.mean())
        row["mean_estimate"] = float(est[ok].mean())
        row["median_estimate"] = float(np.median(est[ok]))
        row["rel_bias"] = row["mean_estimate"] / row["mean_target"] - 1
        # Monte-Carlo SE of the relative bias (paired with the per-seed target)
        row["rel_mc_se"] = float((est[ok] - tgt).std(ddof=1) / np.sqrt(n)) / abs(tgt.mean())
        row["median_rel"] = float(np.median(est[ok]) / np.median(tgt)) - 1
        lo, hi = d["conf_low"].to_numpy(dtype=float)[ok], d["conf_high"].to_numpy(dtype=float)[ok]
        if np.isfinite(lo).all() and term == "within":
            cov = float(np.mean((lo <= tgt) & (tgt <= hi)))
            row["coverage"] = cov
            row["coverage_mc_se"] = float(np.sqrt(cov * (1 - cov) / n))
        row["sd_estimate"] = float(est[ok].std(ddof=1))
        row["mean_se"] = float(d["se"].to_numpy(dtype=float)[ok].mean())
        out.append(row)
    return pd.DataFrame(out)


def write_summary(res: pd.DataFrame, df: pd.DataFrame, command: str, seconds: float) -> str:
    lines = ["# benchmarks/sim_link_correction.py: the link corrected for measurement error", "",
             f"Command: `{command}` ({df['seed'].nunique()} seeds, seeds "
             f"{df['seed'].min()}–{df['seed'].max()}"
             + (f", {seconds / 60:.0f} min wall on the shared 2-core machine"
                if np.isfinite(seconds) else "") + ").", "",
             "Within: target `truth.slope_per_point` (exact). Between: target the oracle's "
             "between estimate (true quality as the index, per score point) on the same seed. "
             "`rel_mc_se` is the Monte-Carlo SE of `rel_bias`; coverage of the 95 % interval "
             "(within only; SIMEX has no interval here).", "", "```"]
    cols = ["variant", "term", "seeds", "nan", "mean_reliability", "mean_target",
            "mean_estimate", "median_estimate", "rel_bias", "rel_mc_se", "median_rel",
            "coverage", "coverage_mc_se", "sd_estimate", "mean_se"]
    pd.set_option("display.width", 250)
    lines.append(res[[c for c in cols if c in res.columns]].to_string(
        index=False, float_format=lambda v: f"{v:.4f}"))
    lines.append("```")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=200)
    p.add_argument("--first-seed", type=int, default=700_001)
    p.add_argument("--effect", type=float, default=0.3)
    p.add_argument("--measure", default="merit_17")
    p.add_argument("--rate", default="0.35,0.7",
                   help="observed lessons per teacher and term (range over schools)")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--tag", default="", help="suffix of the output files")
    p.add_argument("--summarise", metavar="COMMAND", default=None,
                   help="only summarise the per-seed CSV written so far (a run stopped "
                        "early), naming the command that wrote it")
    a = p.parse_args(argv)
    rate = tuple(float(v) for v in a.rate.split(","))
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = list(range(a.first_seed, a.first_seed + a.seeds))
    rows: list[dict] = []
    t0 = time.perf_counter()
    csv = OUT / f"sim_link_correction_{a.measure}{a.tag}.csv"
    if a.summarise is not None:
        df = pd.read_csv(csv)
        size = df.groupby("seed")["variant"].transform("size")
        df = df[size == size.max()]  # complete seeds only
        text = write_summary(summarise(df), df, a.summarise, float("nan"))
        (OUT / f"sim_link_correction{a.tag}.md").write_text(text, encoding="utf-8")
        print(text)
        return 0
    with get_context("spawn").Pool(a.processes) as pool:
        for k, r in enumerate(pool.imap_unordered(
                run_seed, [(s, a.effect, a.measure, rate) for s in seeds]), 1):
            rows.extend(r)
            if k % 10 == 0 or k == len(seeds):
                print(f"  {k}/{len(seeds)} seeds ({time.perf_counter() - t0:.0f} s)", flush=True)
                pd.DataFrame(rows).sort_values(["seed", "variant", "term"]).to_csv(
                    csv, index=False)
    df = pd.DataFrame(rows).sort_values(["seed", "variant", "term"]).reset_index(drop=True)
    df.to_csv(csv, index=False)
    res = summarise(df)
    command = "nice .venv/bin/python benchmarks/sim_link_correction.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    text = write_summary(res, df, command.strip(), time.perf_counter() - t0)
    (OUT / f"sim_link_correction{a.tag}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
