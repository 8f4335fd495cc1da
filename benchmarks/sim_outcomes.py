"""Does ``link`` recover a survey index's known dependence on one dimension? A simulation.

Run from the repository root (2 processes; a small municipality keeps it modest):

    .venv/bin/python benchmarks/sim_outcomes.py                 # 200 seeds, 12 schools
    .venv/bin/python benchmarks/sim_outcomes.py --seeds 20      # a quick look
    .venv/bin/python benchmarks/sim_outcomes.py --summarise     # the summary of a stopped run

For every seed: ``synth.municipality(seed, n_schools=12, n_years=5,
sd_dimension=0.15, compute_slope=False)`` (each dimension has its own
school × term deviation from the school's quality, so that an outcome can depend
on one dimension and not the others), then ``synth.outcomes(ds)`` (Skolenkäten
in åk 8: studiero and trygghet depend on klassrumsledning, stimulans on
kognitiv aktivering, stöd on elevstöd; attendance and problematic absence on
the overall quality; all also on background; a separate random stream). Each
outcome is linked with its own dimension through the package's default path,
``link(ds, measure, dimension=..., lag=0)``, and the within-school estimate is
compared with the truth per index point, ``OutcomeTruth.per_point(truth) =
effect / truth.score_scale[dimension]``.

Reported per measure: mean estimate and its Monte-Carlo standard error, relative
bias, coverage of the 95 % intervals, mean SE against the SD of the estimates.
Per-seed rows go to ``benchmarks/results/sim_outcomes.csv``, the summary to
``benchmarks/results/sim_outcomes_summary.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
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

MEASURES = ("skolenkat_studiero_ak8", "skolenkat_trygghet_ak8", "skolenkat_stimulans_ak8",
            "attendance_pct")


def one_seed(seed: int, n_schools: int) -> list[dict]:
    warnings.simplefilter("ignore")
    from undervisning_analys import synth
    from undervisning_analys.models.link import link

    ds = synth.municipality(seed=seed, n_schools=n_schools, n_years=5, sd_dimension=0.15,
                            compute_slope=False)
    ds = synth.outcomes(ds)
    rows = []
    for m in MEASURES:
        t = ds.truth.outcomes[m]
        truth = t.per_point(ds.truth)
        try:
            r = link(ds, measure=m, dimension=t.dimension, lag=t.lag)
            w = r.tidy().set_index("term").loc["within"]
            rows.append({"seed": seed, "measure": m, "dimension": t.dimension, "truth": truth,
                         "estimate": w["estimate"], "se": w["se"], "conf_low": w["conf_low"],
                         "conf_high": w["conf_high"], "p_value": w["p_value"], "error": ""})
        except Exception as e:  # noqa: BLE001 - a failed seed is counted, not hidden
            rows.append({"seed": seed, "measure": m, "dimension": t.dimension, "truth": truth,
                         "error": f"{type(e).__name__}: {e}"[:200]})
    return rows


def _one(a: tuple[int, int]) -> list[dict]:
    return one_seed(*a)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for m, g in df.groupby("measure", sort=False):
        ok = g[g["error"].fillna("") == ""]
        est, tr = ok["estimate"].astype(float), ok["truth"].astype(float)
        cover = ((ok["conf_low"] <= tr) & (tr <= ok["conf_high"])).mean()
        out.append({"measure": m, "dimension": g["dimension"].iloc[0], "seeds": len(g),
                    "failed": len(g) - len(ok), "truth_mean": tr.mean(),
                    "estimate_mean": est.mean(), "mc_se": est.std(ddof=1) / np.sqrt(len(ok)),
                    "rel_bias_pct": 100 * (est - tr).mean() / tr.mean(),
                    "rel_bias_mc_se_pct": 100 * (est - tr).std(ddof=1) / np.sqrt(len(ok))
                    / abs(tr.mean()),
                    "coverage_pct": 100 * cover,
                    "coverage_mc_se_pct": 100 * np.sqrt(cover * (1 - cover) / len(ok)),
                    "mean_se": ok["se"].mean(), "sd_estimate": est.std(ddof=1),
                    "power_pct": 100 * (ok["p_value"] < 0.05).mean()})
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--schools", type=int, default=12)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--summarise", action="store_true",
                    help="only summarise benchmarks/results/sim_outcomes.csv (a stopped run)")
    ap.add_argument("--append", action="store_true",
                    help="keep the seeds already in sim_outcomes.csv and add the new ones")
    args = ap.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    t0 = time.time()
    OUT.mkdir(parents=True, exist_ok=True)
    csv = OUT / "sim_outcomes.csv"
    if args.summarise:
        df = pd.read_csv(csv, keep_default_na=False, na_values=[""])
        df["error"] = df["error"].fillna("")
    else:
        # per-seed rows are written as they arrive, so a stopped run keeps what it did
        rows: list[dict] = []
        if args.append and csv.exists():
            old = pd.read_csv(csv, keep_default_na=False, na_values=[""])
            old["error"] = old["error"].fillna("")
            rows = old.to_dict("records")
            done = set(old["seed"].astype(int))
            seeds = [s for s in seeds if s not in done]
        with get_context("spawn").Pool(args.processes) as pool:
            for part in pool.imap_unordered(_one, [(s, args.schools) for s in seeds]):
                rows.extend(part)
                pd.DataFrame(rows).to_csv(csv, index=False, float_format="%.6g")
        df = pd.DataFrame(rows)
    summ = summarise(df)
    elapsed = time.time() - t0
    n_seeds = int(df["seed"].nunique())
    lines = ["# sim_outcomes: recovery of the outcomes' known dependence on a dimension", "",
             f"Command: `python benchmarks/sim_outcomes.py --seeds {args.seeds} --schools "
             f"{args.schools} --first-seed {args.first_seed}"
             + (" --append" if args.append else "") + (" --summarise" if args.summarise
                                                      else "")
             + f"` ({n_seeds} seeds in the table, {int(df['seed'].min())}–"
             f"{int(df['seed'].max())}; this run {elapsed / 60:.1f} min, "
             f"{args.processes} processes).", "",
             "synth.municipality(seed, n_schools, n_years=5, sd_dimension=0.15) + "
             "synth.outcomes(ds); link(ds, measure, dimension=<its dimension>, lag=0), "
             "within-school estimate against OutcomeTruth.per_point (change per index "
             "point).", "",
             "```", summ.to_string(index=False, float_format=lambda x: f"{x:.3f}"), "```"]
    (OUT / "sim_outcomes_summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
