"""False-alarm and detection rates of the dialogue questions' rules, over seeds.

Two synthetic municipalities per seed (``ua.synth.municipality``, 20 schools,
5 school years, no school effect on results beside teaching quality and
pupils: ``sd_school_results=0``):

* **null**: teaching quality has no effect on results (``effect=0``). No
  school's results differ from what its pupils lead us to expect, and no
  school's adjusted results have a trend: every ``resultat`` and ``samband``
  question is a false alarm.
* **effect**: a clear effect (``effect=EFFECT``) and two planted
  differences in the published merit values (meritvärde 17): one school
  +PLANT_LEVEL points in every year (a persistent difference), another
  +PLANT_TREND points per school year (a trend). Detection = the planted
  school gets its question; ``samband`` detection = schools whose true
  quality trend is at least SAMBAND_MIN index points a year (in either
  direction) get a ``samma_hall`` question.

Teaching-quality questions (``kvalitet_okar``/``kvalitet_minskar``) are scored
against the true trends: a wrong direction is a false alarm; detection among
schools with a true trend of at least 0.1 a year.

Run:  PYTHONPATH=. python benchmarks/sim_questions.py --seeds 20
Writes benchmarks/results/sim_questions.csv (one row per seed × scenario)
and benchmarks/results/sim_questions.md (the rates with 95 % intervals).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import undervisning_analys as ua
from undervisning_analys.models.dialogue import dialogue_evidence, dialogue_table

EFFECT = 2.0
PLANT_LEVEL = 15.0
PLANT_TREND = 4.0
SAMBAND_MIN = 0.1
OUT = Path(__file__).parent / "results"


def _plant(ds: ua.Dataset, level_school: str, trend_school: str) -> ua.Dataset:
    res = ds.results.copy()
    sel = ((res["level"] == "school") & res["measure"].isin(["merit_17"])
           & (res["status"] == "ok"))
    years = sorted(res["school_year"].astype(str).unique())
    yi = res["school_year"].astype(str).map({y: i for i, y in enumerate(years)})
    res.loc[sel & (res["school_id"] == level_school), "value"] += PLANT_LEVEL
    t = sel & (res["school_id"] == trend_school)
    res.loc[t, "value"] += PLANT_TREND * (yi[t] - (len(years) - 1) / 2)
    return ds.replace(results=res)


def run_seed(seed: int, scenario: str) -> dict[str, float]:
    effect = 0.0 if scenario == "null" else EFFECT
    ds = ua.synth.municipality(seed=seed, effect=effect, sd_school_results=0.0,
                               compute_slope=False)
    truth = ds.truth.school_params.set_index("school_id")
    ids = list(truth.index)
    rng = np.random.default_rng(10_000 + seed)
    level_school, trend_school = (str(x) for x in rng.choice(ids, size=2, replace=False))
    if scenario == "effect":
        ds = _plant(ds, level_school, trend_school)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = dialogue_evidence(ds, ["merit_17"])
    tab = dialogue_table(ev)
    n = len(ids)

    def has(sid: str, *rules: str) -> bool:
        return bool(((tab["school_id"] == sid) & tab["rule"].isin(rules)).any())

    others = [s for s in ids if s not in (level_school, trend_school)] \
        if scenario == "effect" else ids
    b = truth["trend"]
    qrows = tab[tab["rule"].isin(["kvalitet_okar", "kvalitet_minskar"])]
    wrong = sum(1 for r in qrows.itertuples()
                if (r.rule == "kvalitet_okar") != (b[r.school_id] > 0))
    clear = [s for s in ids if abs(b[s]) >= 0.1]
    found_q = sum(has(s, "kvalitet_okar" if b[s] > 0 else "kvalitet_minskar") for s in clear)
    out = {
        "seed": seed, "scenario": scenario, "n_schools": n,
        "samband_share": float(np.mean([has(s, "samma_hall", "olika_hall") for s in ids])),
        "level_share_unplanted": float(np.mean([has(s, "niva_over", "niva_under")
                                                for s in others])),
        "trend_share_unplanted": float(np.mean([has(s, "resultat_okar", "resultat_minskar")
                                                for s in others])),
        "quality_wrong_direction": wrong / n,
        "quality_detected": found_q / len(clear) if clear else np.nan,
        "n_quality_clear": len(clear),
    }
    if scenario == "effect":
        strong = [s for s in ids if abs(b[s]) >= SAMBAND_MIN]
        out["level_planted_found"] = float(has(level_school, "niva_over"))
        out["trend_planted_found"] = float(has(trend_school, "resultat_okar"))
        out["samband_detected"] = (float(np.mean([has(s, "samma_hall") for s in strong]))
                                   if strong else np.nan)
        out["samband_wrong_direction"] = float(np.mean([has(s, "olika_hall") for s in ids]))
    return out


def _rate(x: pd.Series) -> str:
    x = x.dropna()
    if not len(x):
        return ".."
    m = float(x.mean())
    se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
    return f"{100 * m:.1f} % (± {100 * 1.96 * se:.1f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    args = ap.parse_args()
    rows = []
    t0 = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for scenario in ("null", "effect"):
            rows.append(run_seed(seed, scenario))
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    df.to_csv(OUT / "sim_questions.csv", index=False)
    null, eff = df[df["scenario"] == "null"], df[df["scenario"] == "effect"]
    lines = [
        "# Dialogue questions: false alarms and detection over seeds",
        "",
        f"`PYTHONPATH=. python benchmarks/sim_questions.py --seeds {args.seeds} "
        f"--first-seed {args.first_seed}`: {args.seeds} seeds × 2 scenarios, 20 schools, "
        "5 school years, meritvärde 17 (adjusted for pupil background). Rates are per school "
        "(mean over seeds, ± 1.96 × SE over seeds).",
        "",
        "| rate | null (effect 0) | effect "
        f"{EFFECT:g} + planted |",
        "|---|---|---|",
        f"| `samband` question (any), share of schools | {_rate(null['samband_share'])} "
        f"| {_rate(eff['samband_share'])} |",
        f"| `samband` same direction, schools with true quality trend ≥ {SAMBAND_MIN} | – "
        f"| {_rate(eff['samband_detected'])} |",
        f"| `samband` opposite directions (false under the effect) | – "
        f"| {_rate(eff['samband_wrong_direction'])} |",
        f"| persistent difference (`niva_*`), unplanted schools | "
        f"{_rate(null['level_share_unplanted'])} | {_rate(eff['level_share_unplanted'])} |",
        f"| results trend (`resultat_*`), unplanted schools | "
        f"{_rate(null['trend_share_unplanted'])} | {_rate(eff['trend_share_unplanted'])} |",
        f"| planted +{PLANT_LEVEL:g} merit points every year found (`niva_over`) | – | "
        f"{_rate(eff['level_planted_found'])} |",
        f"| planted +{PLANT_TREND:g} merit points a year found (`resultat_okar`) | – | "
        f"{_rate(eff['trend_planted_found'])} |",
        f"| quality trend question in the wrong direction | "
        f"{_rate(null['quality_wrong_direction'])} | {_rate(eff['quality_wrong_direction'])} |",
        f"| quality trend found, schools with true trend ≥ 0.1 a year | "
        f"{_rate(null['quality_detected'])} | {_rate(eff['quality_detected'])} |",
        "",
        "Under the effect, unplanted schools' results do differ in truth (their teaching "
        "quality differs and moves), so their `niva_*`/`resultat_*` questions there are "
        "not false alarms; the null column is the false-alarm rate.",
        "",
        f"Time: {time.perf_counter() - t0:.0f} s on a shared machine.",
    ]
    (OUT / "sim_questions.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
