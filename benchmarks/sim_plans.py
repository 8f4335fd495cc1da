"""Calibration of the plan follow-up's probability over synthetic municipalities (issue 15).

Run from the repository root (one process; about 25 s per seed on a loaded machine):

    .venv/bin/python benchmarks/sim_plans.py 1 61

For each seed: ``synth.municipality(seed, with_pupils=False)`` (20 schools,
10 terms HT2020–VT2025), ``synth.with_plans`` (every school one target on a
focus dimension: the baseline read off the data at VT2022, the target for
VT2025 that baseline plus an aim drawn from U(0, 0.4); the truth decides
whether the true index at VT2025 reaches it, so some schools do and others do
not; the target never depends on the future truth, which would leak it), then ``plan_followup(ds, as_of=...)`` at two points in time:

* ``VT2023`` – four terms (two school years) before the target term: the
  probability rests on the projection along the school's trend;
* ``VT2025`` – the target term itself: the probability rests on the
  estimate of that term.

Each school target gives one row: seed, as_of, probability, status and
whether the target is reached in truth (``truth.plans``: the true index at
the target term, :func:`synth.true_index`, at or above the target). The rows
go to ``benchmarks/results/sim_plans.csv``; ``--report`` (or the end of a
run) writes ``benchmarks/results/sim_plans_summary.md`` (calibration per
probability bin with the share reached and its binomial 95 % interval, the
Brier score, and the share reached per status) and
``benchmarks/results/sim_plans_calibration.png``. Rows already in the CSV
are kept, so a run can be continued with further seeds.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results"
CSV = OUT / "sim_plans.csv"
AS_OF = ("VT2023", "VT2025")
BINS = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0])


def one(seed: int) -> pd.DataFrame:
    warnings.simplefilter("ignore")
    from undervisning_analys import synth
    from undervisning_analys.models.followup import plan_followup

    ds = synth.municipality(seed, with_pupils=False, compute_slope=False)
    dp = synth.with_plans(ds, seed=seed, baseline_term="VT2022", target_term="VT2025",
                          results_targets=False, notes=False)
    truth = dp.truth.plans
    parts = []
    for as_of in AS_OF:
        t = plan_followup(dp, as_of=as_of).tidy()
        t = t[(t["level"] == "school") & (t["kind"] == "dimension")]
        m = t.merge(truth[["plan_id", "target_id", "true_value", "reached"]],
                    on=["plan_id", "target_id"])
        parts.append(pd.DataFrame({
            "seed": seed, "as_of": as_of, "school_id": m["school_id"],
            "target_of": m["target_of"], "target": m["target"], "estimate": m["estimate"],
            "projection": m["projection"], "projection_se": m["projection_se"],
            "probability": m["probability"], "status": m["status"],
            "true_value": m["true_value"], "reached": m["reached"].astype(int)}))
    return pd.concat(parts, ignore_index=True)


def _wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    z = 1.96
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def report(df: pd.DataFrame) -> str:
    lines = ["# Plan follow-up: calibration of the probability (benchmarks/sim_plans.py)", "",
             f"{df['seed'].nunique()} seeds, {len(df)} school targets "
             f"({len(df) // max(len(AS_OF), 1)} per point in time).", ""]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(AS_OF), figsize=(10, 4.4))
    for ax, as_of in zip(np.atleast_1d(axes), AS_OF, strict=True):
        d = df[(df["as_of"] == as_of) & df["probability"].notna()]
        lines += [f"## as_of {as_of}", "",
                  "| probability bin | targets | mean probability | share reached in truth "
                  "| 95 % interval |", "|---|---|---|---|---|"]
        xs, ys, lo, hi = [], [], [], []
        for a, b in zip(BINS[:-1], BINS[1:], strict=True):
            s = d[(d["probability"] >= a) & ((d["probability"] < b) | (b == 1.0))]
            if s.empty:
                continue
            k, n = int(s["reached"].sum()), len(s)
            w = _wilson(k, n)
            lines.append(f"| {a:.1f}–{b:.1f} | {n} | {s['probability'].mean():.3f} | "
                         f"{k / n:.3f} | {w[0]:.3f}–{w[1]:.3f} |")
            xs.append(s["probability"].mean())
            ys.append(k / n)
            lo.append(k / n - w[0])
            hi.append(w[1] - k / n)
        brier = float(np.mean((d["probability"] - d["reached"]) ** 2))
        base = float(np.mean((d["reached"].mean() - d["reached"]) ** 2))
        lines += ["", f"Brier score {brier:.3f} (always the base rate: {base:.3f}); "
                      f"mean probability {d['probability'].mean():.3f}, share reached "
                      f"{d['reached'].mean():.3f}.", "",
                  "| status | targets | share reached in truth |", "|---|---|---|"]
        dd = df[df["as_of"] == as_of]
        for st, s in dd.groupby("status"):
            lines.append(f"| {st} | {len(s)} | {s['reached'].mean():.3f} |")
        lines.append("")
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", color="#1f4e79", capsize=3)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("Sannolikhet att nå målet (medel i intervallet)")
        ax.set_ylabel("Andel som nådde målet i sanningen")
        ax.set_title(f"Uppföljning per {as_of} (mål VT2025)", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT / "sim_plans_calibration.png", dpi=110)
    plt.close(fig)
    return "\n".join(lines) + "\n"


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    OUT.mkdir(parents=True, exist_ok=True)
    old = pd.read_csv(CSV, dtype={"school_id": str}) if CSV.exists() else None
    if args:
        done = set(old["seed"]) if old is not None else set()
        for seed in range(int(args[0]), int(args[1])):
            if seed in done:
                continue
            part = one(seed)
            old = part if old is None else pd.concat([old, part], ignore_index=True)
            old.to_csv(CSV, index=False)
            d = old[old["as_of"] == AS_OF[0]]
            hi = d[d["probability"] >= 0.7]
            print(f"seed {seed}: {len(old)} rows; p>=0.7 ahead: {len(hi)} targets, "
                  f"mean p {hi['probability'].mean():.3f}, reached {hi['reached'].mean():.3f}",
                  flush=True)
    if old is None:
        print("no rows yet", file=sys.stderr)
        return 1
    (OUT / "sim_plans_summary.md").write_text(report(old), encoding="utf-8")
    print(report(old))
    return 0


if __name__ == "__main__":
    sys.exit(main())
