"""Is the change planner right? Power and reliability of change against a simulation.

Run from the repository root (about a minute):

    .venv/bin/python benchmarks/sim_change.py

Schools are drawn from the linear model the planner assumes (components of the
sample municipality, ``variance_components(load_sample())``), with a fixed staff
of 25 teachers and 3 fixed observers, ``n`` lessons per term visited at random,
for 2 school years (4 terms); each school's trend is the least-squares slope of
its term means. For ``n = 2 … 60``: the simulated power to detect a change of
0.2 points per school year (5,000 schools with that change) and the simulated
reliability of change (corr² of estimated and true trends, 5,000 schools with
trends from the components) against ``plan_observations_change``'s curves.
Writes ``benchmarks/results/sim_change.md`` and ``sim_change.png``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from undervisning_analys.measure.change import plan_observations_change  # noqa: E402
from undervisning_analys.measure.reliability import variance_components  # noqa: E402
from undervisning_analys.sample import load_sample  # noqa: E402

OUT = ROOT / "benchmarks" / "results"
N_TEACHERS, K_OBS, YEARS, CHANGE = 25, 3, 2, 0.2


def simulate(rng, comp, n_schools, n, slopes):
    terms = 2 * YEARS
    t = np.arange(terms) / 2.0
    u = rng.normal(0, math.sqrt(comp.teacher), (n_schools, N_TEACHERS))
    d = rng.normal(0, math.sqrt(comp.observer), (n_schools, K_OBS))
    rows = np.arange(n_schools)[:, None]
    means = np.empty((n_schools, terms))
    for k in range(terms):
        forms = (u[rows, rng.integers(N_TEACHERS, size=(n_schools, n))]
                 + d[rows, rng.integers(K_OBS, size=(n_schools, n))]
                 + rng.normal(0, math.sqrt(comp.lesson + comp.residual), (n_schools, n)))
        means[:, k] = (slopes * t[k] + rng.normal(0, math.sqrt(comp.school_term), n_schools)
                       + forms.mean(axis=1))
    tc = t - t.mean()
    return (means * tc).sum(axis=1) / (tc ** 2).sum()


def main() -> None:
    comp = variance_components(load_sample())
    var_b = float(np.atleast_2d(comp.school_cov)[1, 1])
    plan = plan_observations_change(comp, change=CHANGE, target_reliability=0.5, years=YEARS,
                                    n_teachers=N_TEACHERS, n_observers=K_OBS)
    curve = plan.curve().set_index("n_obs")
    rng = np.random.default_rng(2026)
    rows = []
    for n in (2, 4, 6, 8, 12, 16, 20, 30, 40, 60):
        b = simulate(rng, comp, 5000, n, CHANGE)
        se = curve.loc[n, "se_change"]
        slopes = rng.normal(0, math.sqrt(var_b), 5000)
        b2 = simulate(rng, comp, 5000, n, slopes)
        rows.append({"n_obs": n, "se_formula": se, "se_sim": b.std(),
                     "power_formula": curve.loc[n, "power"],
                     "power_sim": float(np.mean(np.abs(b / se) > 1.959963984540054)),
                     "rel_change_formula": curve.loc[n, "reliability_change"],
                     "rel_change_sim": float(np.corrcoef(b2, slopes)[0, 1] ** 2),
                     "rel_level": curve.loc[n, "reliability_level"]})
    df = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    lines = ["# Reliability of change: planner vs simulation (`benchmarks/sim_change.py`)", "",
             f"Components of the sample municipality (trend sd {math.sqrt(var_b):.3f}, "
             f"school × term sd {math.sqrt(comp.school_term):.3f}); {N_TEACHERS} teachers, "
             f"{K_OBS} fixed observers, trend over {YEARS} school years; change "
             f"{CHANGE} points per school year; 5,000 schools per cell.", "",
             plan.summary(), "",
             "| " + " | ".join(df.columns) + " |",
             "|" + "---|" * len(df.columns),
             *["| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v)
                                 for v in r) + " |" for r in df.itertuples(index=False)]]
    (OUT / "sim_change.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    c = plan.curve()
    ax.plot(c["n_obs"], c["power"], color="#e6550d", label=f"styrka, förändring {CHANGE}/läsår"
            .replace(".", ","))
    ax.plot(c["n_obs"], c["reliability_change"], color="#1f4e79",
            label="reliabilitet för förändring")
    ax.plot(c["n_obs"], c["reliability_level"], color="#9ecae1", ls="--",
            label="reliabilitet för en termins nivå")
    ax.scatter(df["n_obs"], df["power_sim"], color="#e6550d", marker="o", zorder=3,
               label="simulerad styrka")
    ax.scatter(df["n_obs"], df["rel_change_sim"], color="#1f4e79", marker="s", zorder=3,
               label="simulerad reliabilitet för förändring")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("Lektionsbesök per termin")
    ax.set_ylabel("Styrka / reliabilitet")
    ax.set_title("Planeraren (linjer) mot simulering (punkter)")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.tight_layout()
    fig.savefig(OUT / "sim_change.png", dpi=110)


if __name__ == "__main__":
    main()
