"""The change planner against the package's own pipeline on synthetic municipalities.

Run from the repository root (nice it on a shared machine; about 15 s per seed):

    nice .venv/bin/python benchmarks/sim_change_pipeline.py --seeds 20

``benchmarks/sim_change.py`` checks the planner's formulas against the linear
model they assume. This checks what the planner says about real data: for every
seed a synthetic municipality (``synth.municipality(seed, n_schools=20,
n_years=4)``, its own observation design: 5–25 lessons per school and term, the
schools' own teachers and observers, paired observations, visit types and
own-school leniency) is analysed with

* ``ua.plan_observations(ds, change=0.2, change_reliability=0.5, years=4)``:
  per school, the standard error of the trend of its plain term means over the
  data's four school years at its present number of lessons (``change_precision``
  at ``n_obs_now``), and the reliability of change;
* the plain least-squares trend of each school's term means (the estimator the
  planner describes) and the model's school trend (``ua.growth``, the one the
  reports show);

against the truth, ``truth.school_params.trend × truth.score_scale["overall"]``
(each school's true trend on the score scale). Between schools (the municipality's
own trend removed by centring within the seed): the planner's mean standard
error against the plain trend's root-mean-square error, and the planner's mean
reliability of change against the squared correlation of each estimate with the
truth. Writes ``benchmarks/results/sim_change_pipeline.md`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from undervisning_analys import schema, synth  # noqa: E402
from undervisning_analys.measure.change import change_precision  # noqa: E402
from undervisning_analys.measure.reliability import plan_observations  # noqa: E402
from undervisning_analys.models.growth import growth  # noqa: E402

OUT = ROOT / "benchmarks" / "results"
YEARS = 4


def one(seed: int) -> pd.DataFrame:
    ds = synth.municipality(seed=seed, n_schools=20, n_years=YEARS, with_pupils=False,
                            compute_slope=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = plan_observations(ds, 0.7, change=0.2, change_reliability=0.5, years=YEARS)
        g = growth(ds).school_trends().set_index("school_id")
    rows = plan.tidy()
    rel = rows[rows["goal"] == "change_reliability"].set_index("unit")
    f = ds.instrument.score(ds.observations)
    lessons = f.groupby(["observation_id", "school_id", "term"], as_index=False)["overall"].mean()
    means = lessons.groupby(["school_id", "term"])["overall"].mean().reset_index()
    means["t"] = means["term"].map(schema.term_index)
    ls = means.groupby("school_id").apply(
        lambda d: np.polyfit(d["t"], d["overall"], 1)[0] if d["t"].nunique() > 1 else np.nan,
        include_groups=False)
    truth = (ds.truth.school_params.set_index("school_id")["trend"]
             * ds.truth.score_scale["overall"])
    out = []
    for sid, r in rel.iterrows():
        cp = change_precision(plan.components, r["n_obs_now"], change=0.2, years=YEARS,
                              n_teachers=r["n_teachers"], n_observers=r["n_observers"],
                              paired_share=r["paired_share"])
        out.append({"seed": seed, "school_id": sid, "n_obs_now": r["n_obs_now"],
                    "planned_se": float(cp["se"]), "planned_reliability": r["reliability_now"],
                    "plain_trend": float(ls.get(sid, np.nan)),
                    "model_trend": float(g["estimate"].get(sid, np.nan)),
                    "true_trend": float(truth[sid])})
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    a = ap.parse_args()
    df = pd.concat([one(900 + s) for s in range(a.seeds)], ignore_index=True)
    OUT.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT / "sim_change_pipeline.csv", index=False)
    d = df.dropna().copy()
    for c in ("plain_trend", "model_trend", "true_trend"):
        d[c + "_c"] = d[c] - d.groupby("seed")[c].transform("mean")
    err = d["plain_trend_c"] - d["true_trend_c"]
    rmse = float(np.sqrt((err ** 2).mean()))
    se = float(np.sqrt((d["planned_se"] ** 2).mean()))
    r2 = {k: float(d.groupby("seed").apply(
        lambda x, k=k: np.corrcoef(x[f"{k}_trend"], x["true_trend"])[0, 1] ** 2,
        include_groups=False).mean()) for k in ("plain", "model")}
    lines = [
        "# The change planner against the pipeline (`benchmarks/sim_change_pipeline.py`)",
        "",
        f"`synth.municipality(seed, n_schools=20, n_years={YEARS})`, {a.seeds} seeds "
        f"({len(d)} schools), each school's present design; trend over {YEARS} school years.",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| planner: standard error of a school's plain trend (root mean square) | {se:.4f} |",
        f"| plain least-squares trend of the term means: RMSE around the true trend | {rmse:.4f} |",
        f"| ratio RMSE / planner's se | {rmse / se:.3f} |",
        f"| planner: reliability of change (mean over schools) | "
        f"{d['planned_reliability'].mean():.3f} |",
        f"| plain trend: corr² with the true trend (mean over seeds) | {r2['plain']:.3f} |",
        f"| model trend (`ua.growth`): corr² with the true trend (mean over seeds) | "
        f"{r2['model']:.3f} |",
        "",
        f"Command: `nice .venv/bin/python benchmarks/sim_change_pipeline.py --seeds {a.seeds}`.",
    ]
    (OUT / "sim_change_pipeline.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
