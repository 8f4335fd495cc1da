"""Does ``rater_drift`` recover the observers' true drift, and do its intervals cover?

Run from the repository root (one process; about 5 s per seed):

    .venv/bin/python benchmarks/sim_drift.py                 # 40 seeds
    .venv/bin/python benchmarks/sim_drift.py --seeds 10      # a quick look

For every seed a synthetic municipality with planted rater drift
(``synth.municipality(seed, n_schools=12, n_years=4, observer_drift_sd=0.10)``)
is analysed with ``ua.rater_drift(ds)`` and compared with the truth the model
estimates: each observer's true change in severity per school year,
``truth.observer_drift``, minus its mean over the observers in the data (the
model measures drift relative to the average observer; a drift common to all
is a municipality trend), times ``truth.score_scale["overall"]`` (the latent
scale → the score scale of the forms, about 0.93).

Reported: the correlation between estimated and true drift per seed, the
coverage of the 95 % intervals over observers and seeds (also by number of
forms), the share of observers flagged and how often a flagged observer's
true drift has the sign of the estimate, and the same with no planted drift
(``observer_drift_sd=0``: how many observers are flagged when nobody drifts).
Writes ``benchmarks/results/sim_drift.csv`` (one row per observer and seed),
``sim_drift.md`` (the summary) and ``sim_drift.png`` (the figure).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from undervisning_analys import synth  # noqa: E402
from undervisning_analys.measure.drift import rater_drift  # noqa: E402

OUT = ROOT / "benchmarks" / "results"


def one(seed: int, drift_sd: float) -> pd.DataFrame:
    ds = synth.municipality(seed=seed, n_schools=12, n_years=4, with_pupils=False,
                            compute_slope=False, observer_drift_sd=drift_sd)
    t = rater_drift(ds).tidy()
    true = t["observer_id"].map(ds.truth.observer_drift).astype(float)
    t["true_drift"] = (true - true.mean()) * ds.truth.score_scale["overall"]
    t["covered"] = (t["conf_low"] <= t["true_drift"]) & (t["true_drift"] <= t["conf_high"])
    t["seed"] = seed
    t["drift_sd"] = drift_sd
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--null-seeds", type=int, default=20)
    ap.add_argument("--drift-sd", type=float, default=0.10)
    a = ap.parse_args()
    rows = [one(1000 + s, a.drift_sd) for s in range(a.seeds)]
    rows += [one(5000 + s, 0.0) for s in range(a.null_seeds)]
    df = pd.concat(rows, ignore_index=True)
    OUT.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT / "sim_drift.csv", index=False)

    pl = df[df["drift_sd"] > 0]
    nl = df[df["drift_sd"] == 0]
    cors = pl.groupby("seed").apply(lambda g: np.corrcoef(g["drift"], g["true_drift"])[0, 1],
                                    include_groups=False)
    cov = pl["covered"].mean()
    mc = np.sqrt(cov * (1 - cov) / len(pl))
    bins = pd.cut(pl["n_forms"], [0, 10, 30, 60, 10_000], labels=["≤10", "11–30", "31–60", ">60"])
    by_n = pl.groupby(bins, observed=True)["covered"].agg(["mean", "size"])
    fl = pl[pl["flagged"]]
    sign_ok = float((np.sign(fl["drift"]) == np.sign(fl["true_drift"])).mean()) if len(fl) else np.nan
    lines = [
        "# Rater drift: recovery over seeds (`benchmarks/sim_drift.py`)",
        "",
        f"`synth.municipality(seed, n_schools=12, n_years=4, observer_drift_sd={a.drift_sd})`, "
        f"{a.seeds} seeds ({len(pl)} observer estimates); null: {a.null_seeds} seeds with "
        f"`observer_drift_sd=0` ({len(nl)} observers).",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| correlation estimate vs true drift, mean over seeds | {cors.mean():.3f} "
        f"(min {cors.min():.3f}, max {cors.max():.3f}) |",
        f"| 95 % interval coverage over observers and seeds | {cov:.3f} ± {1.96 * mc:.3f} |",
        f"| share flagged (interval excludes 0, ≥ 5 forms) | {pl['flagged'].mean():.3f} |",
        f"| flagged observers whose true drift has the estimate's sign | {sign_ok:.3f} |",
        f"| null: share flagged when nobody drifts | {nl['flagged'].mean():.3f} |",
        f"| null: coverage of the true 0 | {nl['covered'].mean():.3f} |",
        "",
        "Coverage by number of forms per observer:",
        "",
        "| forms | coverage | observers |",
        "|---|---|---|",
        *[f"| {k} | {r['mean']:.3f} | {int(r['size'])} |" for k, r in by_n.iterrows()],
    ]
    (OUT / "sim_drift.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    ax = axes[0]
    ax.scatter(pl["true_drift"], pl["drift"], s=8, alpha=0.4, c=np.where(pl["covered"],
                                                                       "#1f4e79", "#c0392b"))
    lim = float(np.nanmax(np.abs(pl[["true_drift", "drift"]].to_numpy()))) * 1.05
    ax.plot([-lim, lim], [-lim, lim], color="#888888", lw=1, ls="--")
    ax.set_xlabel("Sann förändring per läsår (poäng)")
    ax.set_ylabel("Skattad förändring per läsår (poäng)")
    ax.set_title(f"Skattad mot sann bedömardrift, r = {cors.mean():.2f}".replace(".", ","))
    ax = axes[1]
    ax.bar(range(len(by_n)), by_n["mean"], color="#9ecae1")
    ax.axhline(0.95, color="#c0392b", lw=1, ls="--")
    ax.set_xticks(range(len(by_n)))
    ax.set_xticklabels([str(k) for k in by_n.index])
    ax.set_ylim(0.7, 1.0)
    ax.set_xlabel("Antal protokoll per observatör")
    ax.set_ylabel("Andel 95 %-intervall som täcker sann drift")
    ax.set_title(f"Täckning totalt {cov * 100:.1f} %".replace(".", ","))
    fig.tight_layout()
    fig.savefig(OUT / "sim_drift.png", dpi=110)


if __name__ == "__main__":
    main()
