"""A second, independent check of benchmarks/sim_link.py on fresh seeds (issue 5).

Run from the repository root (2 processes, about 2 minutes per 100 seeds):

    .venv/bin/python benchmarks/sim_link_fresh.py 400001 401201

For each seed (effect 0.3, ``merit_17``) the default ``link`` on the default
index and on the true quality (oracle) is compared with
``truth.slope_per_point`` (``truth.slope`` for the oracle) and with the
regression-weighted truth of ``sim_link.panel_truths``. It prints the running
relative bias (± Monte-Carlo SE) and the coverage of the default 95 %
interval, and writes the per-seed rows to
``benchmarks/results/sim_link_fresh.txt`` (columns: seed, oracle estimate,
slope, weighted slope, index estimate, slope per point, weighted slope per
point, interval covers the slope per point).
"""

from __future__ import annotations

import sys
import warnings
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def one(seed: int) -> tuple[float, ...]:
    warnings.simplefilter("ignore")
    import sim_link

    from undervisning_analys import synth
    from undervisning_analys.measure.index import teaching_quality
    from undervisning_analys.models.link import link

    ds = synth.municipality(seed, effect=0.3, compute_slope=True)
    ro = link(ds, "merit_17", index=sim_link.oracle_index(ds), shrunken=False, correction="none")
    ri = link(ds, "merit_17", index=teaching_quality(ds))
    wo = ro.tidy().set_index("term").loc["within"]
    wi = ri.tidy().set_index("term").loc["within"]
    _, tw_o = sim_link.panel_truths(ds, ro.panel, "merit_17", 1.0)
    scale = ds.truth.score_scale["overall"]
    _, tw_i = sim_link.panel_truths(ds, ri.panel, "merit_17", scale)
    per_point = ds.truth.slope_per_point("merit_17")
    return (seed, wo["estimate"], ds.truth.slope["merit_17"], tw_o, wi["estimate"], per_point,
            tw_i, float(wi["conf_low"] <= per_point <= wi["conf_high"]))


def _rel(est: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    return (float(est.mean() / truth.mean() - 1),
            float(est.std(ddof=1) / np.sqrt(len(est)) / truth.mean()))


def main() -> int:
    seeds = range(int(sys.argv[1]), int(sys.argv[2]))
    out: list[tuple[float, ...]] = []
    with get_context("spawn").Pool(2) as pool:
        for k, r in enumerate(pool.imap_unordered(one, seeds, chunksize=4), 1):
            out.append(r)
            if k % 100 == 0 or k == len(seeds):
                a = np.array(out, dtype=float)
                ob, ob_se = _rel(a[:, 1], a[:, 2])
                ib, ib_se = _rel(a[:, 4], a[:, 5])
                print(f"{k} oracle vs slope {ob:.4f} ± {ob_se:.4f}, vs weighted "
                      f"{_rel(a[:, 1], a[:, 3])[0]:.4f} | index vs per-point {ib:.4f} ± "
                      f"{ib_se:.4f}, vs weighted {_rel(a[:, 4], a[:, 6])[0]:.4f}, coverage "
                      f"{a[:, 7].mean():.4f}", flush=True)
    np.savetxt(ROOT / "benchmarks" / "results" / "sim_link_fresh.txt",
               np.array(sorted(out), dtype=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
