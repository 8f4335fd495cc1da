"""Do ``next_steps`` and ``item_dif`` recover planted item effects? A simulation.

Run from the repository root (about 20 s per seed):

    .venv/bin/python benchmarks/sim_items.py              # 12 seeds
    .venv/bin/python benchmarks/sim_items.py --seeds 4    # a quick look

For every seed a synthetic municipality (``synth.municipality(seed, n_schools=8,
n_years=3, paired_share=0)``) gets a school × item effect ``g ~ N(0, 0.45²)``
added to every item score in every year (in the scored direction, stochastic
rounding to whole steps, clipped to the scale). Clipping at the ends of the
scale makes the shift a score really gets smaller than ``g``; the truth
``next_steps`` estimates is that shift (its exact expectation, averaged over
the school's item scores of the last school year) minus its mean over the
school's items (a profile). DIF is planted in the same data: external observers score KA1 0.6
higher, and KL2 rises 0.3 per school year. Reported: correlation of the
estimated and true school × item effects, interval coverage, the share of
next steps / strengths whose truth has the right sign, and how often each
planted DIF is named (and how many other items are). Writes
``benchmarks/results/sim_items.md`` and ``sim_items.png``.
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
from undervisning_analys.dataset import Dataset  # noqa: E402
from undervisning_analys.measure.items import item_dif, next_steps  # noqa: E402

OUT = ROOT / "benchmarks" / "results"


def expected_shift(scored: np.ndarray, shift: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """E[clip(s + floor(shift + U)) − s]: the shift a score really gets (exact)."""
    fl = np.floor(shift)
    f = shift - fl
    return ((1 - f) * np.clip(scored + fl, lo, hi) + f * np.clip(scored + fl + 1, lo, hi)
            - scored)


def planted(seed: int) -> tuple[Dataset, pd.DataFrame]:
    ds = synth.municipality(seed=seed, n_schools=8, n_years=3, with_pupils=False,
                            compute_slope=False, paired_share=0.0)
    rng = np.random.default_rng(seed + 1000)
    obs = ds.observations
    inst = ds.instrument
    lo, hi = inst.scale_min, inst.scale_max
    schools = sorted(obs["school_id"].astype(str).unique())
    g = pd.Series(rng.normal(0, 0.45, len(schools) * len(inst.item_ids)),
                  index=pd.MultiIndex.from_product([schools, inst.item_ids]))
    years = sorted(obs["school_year"].astype(str).unique())
    year_no = obs["school_year"].astype(str).map({y: i for i, y in enumerate(years)}).to_numpy()
    g_row = g.reindex(pd.MultiIndex.from_arrays(
        [obs["school_id"].astype(str), obs["item_id"].astype(str)])).to_numpy()
    ext = ((obs["observer_role"].astype(str) == "extern") & (obs["item_id"] == "KA1")).to_numpy()
    kl2 = (obs["item_id"] == "KL2").to_numpy()
    shift = g_row + np.where(ext, 0.6, 0.0) + np.where(kl2, 0.3 * year_no, 0.0)
    rev = obs["item_id"].isin(inst.reversed_items()).to_numpy()
    raw = obs["score"].to_numpy(float)
    scored = np.where(rev, lo + hi - raw, raw)
    step = np.floor(shift + rng.random(len(obs)))
    new_scored = np.clip(scored + step, lo, hi)
    o2 = obs.copy()
    o2["score"] = np.where(rev, lo + hi - new_scored, new_scored)
    out = Dataset.build(schools=ds.schools, observations=o2, results=ds.results,
                        background=ds.background, instrument=inst)
    # the truth next_steps estimates: the school x item shift the scores really got in the
    # last school year (exact expectation under clipping), as a profile over the items
    last = (year_no == len(years) - 1) & ~np.isnan(raw)
    e = pd.DataFrame({"school_id": obs["school_id"].astype(str)[last],
                      "item_id": obs["item_id"].astype(str)[last],
                      "truth": expected_shift(scored[last], g_row[last] + np.where(
                          ext, 0.6, 0.0)[last] + np.where(kl2, 0.3 * year_no, 0.0)[last],
                                              lo, hi)
                      - expected_shift(scored[last], np.where(ext, 0.6, 0.0)[last]
                                       + np.where(kl2, 0.3 * year_no, 0.0)[last], lo, hi)})
    truth = e.groupby(["school_id", "item_id"], as_index=False)["truth"].mean()
    truth["planted"] = [g[(s, i)] for s, i in zip(truth["school_id"], truth["item_id"],
                                                   strict=True)]
    truth["truth"] -= truth.groupby("school_id")["truth"].transform("mean")
    return out, truth


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=12)
    a = ap.parse_args()
    prof, difs = [], []
    for s in range(a.seeds):
        ds, truth = planted(3000 + s)
        t = next_steps(ds).tidy().merge(truth, on=["school_id", "item_id"])
        t["seed"] = 3000 + s
        prof.append(t[~t["suppressed"]])
        d = item_dif(ds).tidy()
        d["seed"] = 3000 + s
        difs.append(d)
    p = pd.concat(prof, ignore_index=True)
    d = pd.concat(difs, ignore_index=True)
    cors = p.groupby("seed").apply(lambda g: np.corrcoef(g["effect"], g["truth"])[0, 1],
                                   include_groups=False)
    cov = ((p["conf_low"] <= p["truth"]) & (p["truth"] <= p["conf_high"])).mean()
    slope = np.polyfit(p["truth"], p["effect"], 1)[0]
    steps, strengths = p[p["status"] == "next_step"], p[p["status"] == "strength"]
    named = d[d["flagged"]]
    ka1 = named[(named["item_id"] == "KA1") & (named["group"] == "extern")]["seed"].nunique()
    kl2 = named[(named["item_id"] == "KL2") & (named["group"] == "per_year")]["seed"].nunique()
    other = len(named) - len(named[((named["item_id"] == "KA1") & (named["group"] == "extern"))
                                   | ((named["item_id"] == "KL2")
                                      & (named["group"] == "per_year"))])
    lines = [
        "# Item model recovery (`benchmarks/sim_items.py`)", "",
        f"{a.seeds} seeds, 8 schools, 3 school years; school × item sd 0.45 planted in every "
        "year (truth: the shift the scores really got, after clipping, in the last year); "
        "DIF: KA1 +0.6 for external observers, KL2 +0.3 per school year.", "",
        "| quantity | value |", "|---|---|",
        f"| correlation estimate vs true school × item effect, mean over seeds | "
        f"{cors.mean():.3f} (min {cors.min():.3f}) |",
        f"| slope of estimate on truth (shrinkage) | {slope:.3f} |",
        f"| share of the planted effect that survives clipping (slope truth on planted) | "
        f"{np.polyfit(p['planted'], p['truth'], 1)[0]:.3f} |",
        f"| 95 % interval coverage ({len(p)} school × items) | {cov:.3f} |",
        f"| next steps named per school (mean) | {len(steps) / p.groupby('seed')['school_id'].nunique().sum():.2f} |",
        f"| next steps whose truth is negative | {(steps['truth'] < 0).mean():.3f} |",
        f"| strengths whose truth is positive | {(strengths['truth'] > 0).mean():.3f} |",
        f"| DIF KA1 × extern named | {ka1}/{a.seeds} seeds |",
        f"| DIF KL2 per school year named | {kl2}/{a.seeds} seeds |",
        f"| other item × contrasts named (of {len(d) - 2 * a.seeds}) | {other} |",
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sim_items.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    col = p["status"].map({"next_step": "#c0392b", "strength": "#2e7d32"}).fillna("#9ecae1")
    ax.scatter(p["truth"], p["effect"], s=8, c=col, alpha=0.6)
    lim = float(np.abs(p[["truth", "effect"]].to_numpy()).max()) * 1.05
    ax.plot([-lim, lim], [-lim, lim], color="#888888", ls="--", lw=1)
    ax.set_xlabel("Sann effekt skola × påstående (poäng)")
    ax.set_ylabel("Skattad effekt")
    ax.set_title(f"Nästa steg: r = {cors.mean():.2f}, täckning {cov * 100:.0f} %"
                 .replace(".", ","))
    fig.tight_layout()
    fig.savefig(OUT / "sim_items.png", dpi=110)


if __name__ == "__main__":
    main()
