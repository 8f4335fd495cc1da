"""Is the within-school link estimate unbiased, and do its intervals cover? A simulation.

Run from the repository root (2 processes; about 15–40 minutes for the defaults
on a 2-core machine):

    .venv/bin/python benchmarks/sim_link.py                      # 200 seeds, effect 0.3 and 0
    .venv/bin/python benchmarks/sim_link.py --seeds 30 --no-null # a quick look
    .venv/bin/python benchmarks/sim_link.py --measure pass_all_subjects_pct

For every seed a synthetic municipality (``synth.municipality(seed,
effect=..., compute_slope=True)``: 20 schools, 5 school years; results of
year ``y`` depend on the true teaching quality of year ``y - 1``) is analysed
with the real pipeline, ``teaching_quality(ds)`` and then ``link(ds, ...)``,
and compared with the truth the link estimates: the true average marginal
change of the school result per point of the index. The generator knows it
exactly: ``truth.slope_per_point(measure) = truth.slope[measure] /
truth.score_scale["overall"]``, where ``slope`` is the change per unit of
*latent* quality (common random numbers: the same pupils graded again with
quality shifted) and ``score_scale`` ≈ 0.93 the change of a form's expected
score per unit of latent quality (exact: scores are rounded to whole steps
and clipped to the 1–4 scale, see ``synth._score_scale``). The index is on the
score scale, so the per-point slope is its target; the ``oracle`` variants,
whose index is the latent quality itself, are compared with ``truth.slope``.

Variants (all through ``link``; the first is the package's default):

* ``index_cluster`` – the default: the shrunken index of ``teaching_quality``,
  cluster-robust CR2 standard errors, t intervals with Bell–McCaffrey
  degrees of freedom;
* ``index_g1`` – the same with t(G − 1) intervals (``dof="G-1"``);
* ``index_cr1`` – the same with CR1 and t(G − 1);
* ``index_mixed`` – the same with a random school intercept (``inference="mixed"``);
* ``means_naive`` / ``means_disattenuated`` – a plain-means index (the mean of
  the forms' overall scores per school × term, standard error from the
  lessons' spread; the "cheap" index, also timed) passed with
  ``shrunken=False``: the naive within estimate and the reliability-corrected
  one – which of them is unbiased?;
* ``oracle`` / ``oracle_g1`` – the true yearly quality itself as the index
  (no measurement error), with Bell–McCaffrey and with G − 1 degrees of
  freedom: checks the panel regression and its intervals apart from the index.

What is reported, per variant: the mean estimate and its Monte-Carlo
standard error, the relative bias against the truth, the share of 95 %
intervals that cover the truth, the mean standard error against the
standard deviation of the estimates, and the power (share with p < 0.05);
with ``effect=0`` that share is the false-positive rate.

Per-seed figures are written to
``benchmarks/results/sim_link_<measure>_effect<e>.csv`` (kept in the
repository: the closing figures of issue 5 are computed from them).
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
OUT = ROOT / "benchmarks" / "results"

VARIANTS = ("index_cluster", "index_g1", "index_cr1", "index_mixed", "means_naive",
            "means_disattenuated", "oracle", "oracle_g1")


def means_index(ds, dimension: str = "overall") -> pd.DataFrame:
    """Plain school × term means of the forms' scores (a lesson is the unit), with SE."""
    from undervisning_analys import schema

    f = ds.instrument.score(ds.observations)
    les = f.groupby(["observation_id", "school_id", "term"], as_index=False).agg(
        score=(dimension, "mean"), teacher_id=("teacher_id", "first"))
    out = les.groupby(["school_id", "term"]).agg(
        estimate=("score", "mean"), sd=("score", "std"), n_obs=("score", "size"),
        n_teachers=("teacher_id", "nunique")).reset_index()
    out["se"] = out["sd"] / np.sqrt(out["n_obs"])
    out["school_year"] = out["term"].map(schema.term_school_year)
    out["suppressed"] = (out["n_obs"] < 5) | (out["n_teachers"] < 3)
    out.attrs["shrunken"] = False
    return out


def oracle_index(ds) -> pd.DataFrame:
    """The true quality per school × term, with zero standard error."""
    q = ds.truth.school_quality.rename(columns={"quality": "estimate"}).copy()
    q["se"] = 0.0
    return q


def panel_truths(ds, panel: pd.DataFrame, measure: str, scale: float) -> tuple[float, float]:
    """The truth over the school-years the link uses: their mean true marginal change, and
    the mean weighted as a two-way fixed-effects regression weights them (each row by its
    squared index deviation from its school's and year's means; Gibbons, Suárez Serrato &
    Urbancic 2019). Per index point: divided by ``scale``."""
    by = ds.truth.slope_by_school_year.set_index(["school_id", "school_year"])[measure]
    p = panel[["school_id", "school_year", "x"]].dropna()
    beta = by.reindex(pd.MultiIndex.from_frame(p[["school_id", "school_year"]])).to_numpy()
    d = pd.get_dummies(p[["school_id", "school_year"]].astype(str), drop_first=False)
    design = d.to_numpy(dtype=float)
    x = p["x"].to_numpy(dtype=float)
    resid = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    w = resid ** 2
    return (float(np.nanmean(beta)) / scale,
            float(np.nansum(w * beta) / w[np.isfinite(beta)].sum()) / scale)


def run_seed(args: tuple[int, float, str]) -> list[dict]:
    seed, effect, measure = args
    from undervisning_analys import synth
    from undervisning_analys.measure.index import teaching_quality
    from undervisning_analys.models.link import link

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    ds = synth.municipality(seed, effect=effect, compute_slope=True)
    t_synth = time.perf_counter() - t0
    latent = float(ds.truth.slope.get(measure, 0.0)) if effect else 0.0
    per_point = ds.truth.slope_per_point(measure) if effect else 0.0
    t0 = time.perf_counter()
    tq = teaching_quality(ds)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    mi = means_index(ds)
    t_means = time.perf_counter() - t0
    rows = []

    def add(name: str, res, term: str = "within", t_link: float = float("nan"),
            correction: str = "none") -> None:
        t = res.tidy()
        r = t[(t["term"] == term) & (t["correction"] == correction)].iloc[0]
        scale = 1.0 if name.startswith("oracle") else ds.truth.score_scale["overall"]
        t_panel, t_weighted = panel_truths(ds, res.panel, measure, scale) if effect \
            else (0.0, 0.0)
        rows.append({"seed": seed, "effect": effect, "measure": measure, "variant": name,
                     "truth": latent if name.startswith("oracle") else per_point,
                     "truth_panel": t_panel, "truth_weighted": t_weighted,
                     "truth_latent": latent, "score_scale": ds.truth.score_scale["overall"],
                     "estimate": r["estimate"], "se": r["se"],
                     "conf_low": r["conf_low"], "conf_high": r["conf_high"],
                     "p_value": r["p_value"], "reliability": r["reliability"],
                     "n_obs": r["n_obs"], "n_excluded": r["n_excluded"],
                     "t_synth": t_synth,
                     "t_index": t_index if name.startswith("index") else t_means,
                     "t_link": t_link})

    t0 = time.perf_counter()
    res = link(ds, measure, index=tq)
    add("index_cluster", res, t_link=time.perf_counter() - t0)
    add("index_g1", link(ds, measure, index=tq, dof="G-1"))
    add("index_cr1", link(ds, measure, index=tq, vcov="CR1"))
    add("index_mixed", link(ds, measure, index=tq, inference="mixed"))
    res = link(ds, measure, index=mi, shrunken=False)
    add("means_naive", res)
    add("means_disattenuated", res, correction="regression_calibration")
    oi = oracle_index(ds)
    add("oracle", link(ds, measure, index=oi, shrunken=False))
    add("oracle_g1", link(ds, measure, index=oi, shrunken=False, dof="G-1"))
    return rows


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    c = float(df.groupby("seed")["score_scale"].first().mean())
    out = []
    for v in VARIANTS:
        d = df[df["variant"] == v]
        if d.empty:
            continue
        truth = d["truth"].to_numpy()
        est = d["estimate"].to_numpy(dtype=float)
        ok = np.isfinite(est)
        n = int(ok.sum())
        mean_truth = float(truth[ok].mean())
        row = {"variant": v, "seeds": n, "mean_truth": mean_truth,
               "mean_estimate": float(est[ok].mean()),
               "median_estimate": float(np.median(est[ok])),
               "mc_se": float(est[ok].std(ddof=1) / np.sqrt(n)),
               "sd_estimate": float(est[ok].std(ddof=1)),
               "mean_se": float(d["se"].to_numpy(dtype=float)[ok].mean()),
               "mean_reliability": float(d["reliability"].mean())}
        lo, hi = d["conf_low"].to_numpy(dtype=float), d["conf_high"].to_numpy(dtype=float)
        row["coverage"] = float(np.mean((lo[ok] <= truth[ok]) & (truth[ok] <= hi[ok])))
        row["reject_5pct"] = float(np.mean(d["p_value"].to_numpy(dtype=float)[ok] < 0.05))
        if mean_truth != 0:
            row["rel_bias"] = row["mean_estimate"] / mean_truth - 1
            row["rel_mc_se"] = row["mc_se"] / abs(mean_truth)
            for col, key in (("truth_panel", "rel_bias_panel"),
                             ("truth_weighted", "rel_bias_weighted")):
                if col in d:
                    tp = d[col].to_numpy(dtype=float)[ok]
                    row[key] = row["mean_estimate"] / float(tp.mean()) - 1
                    row[key.replace("rel_bias", "coverage")] = float(np.mean(
                        (lo[ok] <= tp) & (tp <= hi[ok])))
            if not v.startswith("oracle"):  # against the latent slope, for comparison
                tl = d["truth_latent"].to_numpy(dtype=float)[ok]
                row["rel_bias_latent"] = row["mean_estimate"] / float(tl.mean()) - 1
        out.append(row)
    res = pd.DataFrame(out)
    res.attrs["c"] = c
    return res


def _print(res: pd.DataFrame, effect: float, measure: str, df: pd.DataFrame) -> None:
    pd.set_option("display.width", 200)
    print(f"\n=== {measure}, effect = {effect}: {df['seed'].nunique()} seeds ===")
    print(f"score scale (d E[score] / d latent quality, exact, mean over seeds): "
          f"{res.attrs['c']:.4f}")
    cols = ["variant", "seeds", "mean_truth", "mean_estimate", "median_estimate", "mc_se",
            "sd_estimate", "mean_se",
            "coverage", "reject_5pct", "mean_reliability"]
    if effect:
        cols += ["rel_bias", "rel_mc_se", "rel_bias_panel", "coverage_panel",
                 "rel_bias_weighted", "coverage_weighted", "rel_bias_latent"]
    print(res[[c for c in cols if c in res.columns]].to_string(index=False,
                                                              float_format=lambda x: f"{x:.4f}"))
    t = df[df["variant"] == "index_cluster"]
    m = df[df["variant"] == "means_naive"]
    print(f"mean seconds per seed: synth {t['t_synth'].mean():.2f}, teaching_quality "
          f"{t['t_index'].mean():.2f}, plain means {m['t_index'].mean():.3f} "
          f"(ratio {t['t_index'].mean() / max(m['t_index'].mean(), 1e-9):.0f}x), "
          f"link {t['t_link'].mean():.2f}")


def simulate(seeds: list[int], effect: float, measure: str, processes: int) -> pd.DataFrame:
    rows: list[dict] = []
    t0 = time.perf_counter()
    with get_context("spawn").Pool(processes) as pool:
        for k, r in enumerate(pool.imap_unordered(run_seed, [(s, effect, measure)
                                                             for s in seeds]), 1):
            rows.extend(r)
            if k % 10 == 0 or k == len(seeds):
                print(f"  effect {effect}: {k}/{len(seeds)} seeds "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return pd.DataFrame(rows).sort_values(["seed", "variant"]).reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=200, help="seeds per effect (default 200)")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--effect", type=float, default=0.3)
    p.add_argument("--no-null", action="store_true", help="skip the effect = 0 run")
    p.add_argument("--measure", default="merit_17")
    p.add_argument("--processes", type=int, default=2)
    a = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    effects = [a.effect] + ([] if a.no_null else [0.0])
    for k, effect in enumerate(effects):
        seeds = list(range(a.first_seed + 100_000 * k, a.first_seed + 100_000 * k + a.seeds))
        df = simulate(seeds, effect, a.measure, a.processes)
        df.to_csv(OUT / f"sim_link_{a.measure}_effect{effect:g}.csv", index=False)
        _print(summarise(df), effect, a.measure, df)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
