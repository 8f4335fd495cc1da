"""Does the teaching-quality index recover the truth? A simulation over seeds.

Run from the repository root:

    .venv/bin/python benchmarks/sim_index_coverage.py              # 40 seeds
    .venv/bin/python benchmarks/sim_index_coverage.py --seeds 10 --no-plan
    .venv/bin/python benchmarks/sim_index_coverage.py --gaussian   # control, see below

For every seed, a synthetic municipality with the sample's size (20 schools,
10 terms, about 2,500 forms; ``synth.municipality`` without pupils) is
analysed with ``teaching_quality`` and compared with ``ds.truth``:

* **correlation with the truth** ``q[s, t]`` of the published school × term
  indices and of the raw means (mean of the forms' overall scores) in the
  same cells;
* **observer severity**: correlation of the model's observer conditional
  modes with ``truth.observer_severity``;
* **coverage of the 95 % intervals**. ``q[s, t]`` is on ``synth``'s latent
  scale; the scores are ``clip(round(centre + q + teacher + observer + … +
  item difficulty + noise))``. The index estimates the expected score of a
  spontaneous visit by an average outside observer, marginal over teachers,
  lessons and noise, so its truth is ``m(q) = mean_i E[clip(round(X_i))]`` with
  ``X_i ~ N(centre + q + difficulty_i, s²)`` and ``s²`` the sum of the teacher,
  observer, lesson, rater × lesson and item variances (:func:`expected_score`,
  exact with the normal distribution). Coverage is reported against ``m(q)``
  (absolute) and, as a view that needs no alignment of the intercept, for the
  centred quantities ``index − mean(index)`` vs ``m(q) − mean(m(q))`` over the
  published cells, with the SE of that contrast from the joint covariance
  ``TeachingQualityResult.cov()``: ``(e_i − w)' Σ (e_i − w)``. Target 93–97 %.

``--gaussian`` is a control: the same design (schools, teachers, observers,
pairs, types, own-school visits) with continuous scores drawn from the linear
model itself (``2.6 + q + effects``), so that the model is exactly right. The
gap between the two coverages is what the rounding and clipping of the
4-point items cost (the linear model is then misspecified), not the SE
machinery.

The planner check (``--plan``, default on): one synthetic municipality of 60
schools with 25 teachers each and about 30 observed lessons per school and
term. Its variance components are estimated with ``variance_components``;
``plan_observations`` recommends lessons per term for reliability 0.7 and 0.8
for a school with 25 teachers, the data's mix of observers (effective number
``1 / Σ share²``) and share of paired lessons. Every school × term is then cut
to exactly that many random lessons (five random draws) and the reliability
achieved among these schools is measured against the truth ``m(q)``:
``Var(m) / (Var(m) + Var(mean − m))``, variances pooled within terms. It
should be within 0.05 of the target.

The figures printed at the end go into the closing note of issue 4.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from undervisning_analys import synth  # noqa: E402
from undervisning_analys.errors import ConvergenceWarning  # noqa: E402
from undervisning_analys.measure import (  # noqa: E402
    plan_observations,
    score_forms,
    teaching_quality,
    variance_components,
)

SYNTH_ARGS = {"n_schools": 20, "n_years": 5, "with_pupils": False, "compute_slope": False}
Z_95 = 1.959963984540054


def expected_score(q: np.ndarray, ds) -> np.ndarray:
    """m(q): the expected form score at reference conditions given latent quality q."""
    truth, inst = ds.truth, ds.instrument
    vc = truth.variance_components
    s = np.sqrt(sum(vc[k] ** 2 for k in ("sd_teacher", "sd_observer", "sd_lesson",
                                         "sd_rater_lesson", "sd_item")))
    centre = (inst.scale_min + inst.scale_max) / 2 + 0.1  # as synth.municipality
    diff = np.array([truth.item_difficulty[i] for i in inst.item_ids])
    mu = centre + np.asarray(q, dtype=float)[:, None] + diff[None, :]
    ks = np.arange(inst.scale_min, inst.scale_max + 1)
    cdf = [norm.cdf((k + 0.5 - mu) / s) for k in ks[:-1]] + [np.ones_like(mu)]
    pmf = np.diff(np.stack([np.zeros_like(mu), *cdf], axis=-1), axis=-1)
    return (pmf * ks).sum(axis=-1).mean(axis=-1)


def _gaussian_scores(ds, seed: int):
    """The same design with continuous scores from the linear model (the control)."""
    forms = score_forms(ds)
    rng = np.random.default_rng(seed + 50_000)
    q = forms.merge(ds.truth.school_quality, on=["school_id", "term"], how="left")["quality"]
    vc = ds.truth.variance_components

    def effect(col: str, sd: float) -> np.ndarray:
        levels = forms[col].unique()
        return forms[col].map(dict(zip(levels, sd * rng.standard_normal(len(levels))))
                              ).to_numpy()

    resid = np.sqrt(vc["sd_rater_lesson"] ** 2 + vc["sd_item"] ** 2 / len(ds.instrument.items))
    y = (2.6 + q.to_numpy() + effect("teacher_id", vc["sd_teacher"])
         + effect("observer_id", vc["sd_observer"]) + effect("observation_id", vc["sd_lesson"])
         + ds.truth.leniency_own * forms["own_school"].to_numpy()
         + forms["observation_type"].map(ds.truth.type_effects).to_numpy()
         + resid * rng.standard_normal(len(forms)))
    return forms.assign(overall=y)


def evaluate_seed(seed: int, gaussian: bool = False) -> dict:
    """One synthetic municipality: correlations, coverage and observer recovery."""
    ds = synth.municipality(seed=seed, **SYNTH_ARGS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if gaussian:
            from undervisning_analys.measure.model import fit_model
            forms = _gaussian_scores(ds, seed)
            cells = fit_model(forms, "overall").cells
            cnt = forms.groupby(["school_id", "term"]).agg(
                n_obs=("observation_id", "nunique"), n_teachers=("teacher_id", "nunique"))
            cells = cells.merge(cnt.reset_index(), on=["school_id", "term"])
            pub = cells[(cells["n_obs"] >= 5) & (cells["n_teachers"] >= 3)]
            cov = None
        else:
            forms = score_forms(ds)
            tq = teaching_quality(ds)
            t = tq.tidy()
            pub = t[(t["level"] == "school") & ~t["suppressed"]].rename(
                columns={"unit": "school_id"})
            cov = tq.cov()
    truth = ds.truth.school_quality[["school_id", "term", "quality"]]
    raw = forms.groupby(["school_id", "term"])["overall"].mean().rename("raw").reset_index()
    d = pub.merge(truth, on=["school_id", "term"]).merge(raw, on=["school_id", "term"])
    d["m"] = (2.6 + d["quality"]) if gaussian else expected_score(d["quality"].to_numpy(), ds)
    err = d["estimate"] - d["m"]
    covered_abs = np.abs(err) <= Z_95 * d["se"]
    out = {"seed": seed, "n_cells": len(d), "covered": int(covered_abs.sum())}
    if cov is not None:
        c = cov.loc[list(zip(d["school_id"], d["term"])), list(zip(d["school_id"], d["term"]))]
        c = c.to_numpy()
        var_centred = np.diag(c) - 2 * c.mean(axis=1) + c.mean()
        err_c = err - err.mean()
        out["covered_centred"] = int((np.abs(err_c) <= Z_95 * np.sqrt(var_centred)).sum())
        sev = tq.observer_severity().merge(
            ds.truth.observer_severity[["observer_id", "severity"]], on="observer_id")
        out["r_observer"] = float(np.corrcoef(sev["estimate"], sev["severity"])[0, 1])
    out.update({
        "r_index": float(np.corrcoef(d["estimate"], d["quality"])[0, 1]),
        "r_raw": float(np.corrcoef(d["raw"], d["quality"])[0, 1]),
        "mean_se": float(d["se"].mean()),
        "rmse_index": float(np.sqrt(np.mean(err ** 2))),
    })
    return out


def achieved_reliability(ds, n: int, draws: int = 5, seed: int = 0) -> dict:
    """Reliability of school × term means with exactly ``n`` random lessons per term.

    For each of ``draws`` random subsamples (cells with fewer lessons than
    ``n`` are left out: rare, about 30 lessons per term are generated), the
    pooled within-term variance of the error ``mean − m(q)`` is measured; the
    achieved reliability is ``τ / (τ + error variance)`` with ``τ`` the pooled
    within-term variance of ``m(q)`` over the same schools.
    """
    forms = score_forms(ds)
    forms = forms[forms["overall"].notna()]
    truth = ds.truth.school_quality.assign(
        m=lambda d: expected_score(d["quality"].to_numpy(), ds))
    tau = float(truth.groupby("term")["m"].var(ddof=1).mean())
    lessons = forms[["school_id", "term", "observation_id"]].drop_duplicates()
    lessons = lessons[lessons.groupby(["school_id", "term"])["observation_id"]
                      .transform("size") >= n]
    rng = np.random.default_rng(seed + n)
    errs = []
    for _ in range(draws):
        keep = lessons.sample(frac=1.0, random_state=rng).groupby(["school_id", "term"]).head(n)
        f = forms[forms["observation_id"].isin(keep["observation_id"])]
        d = (f.groupby(["school_id", "term"])["overall"].mean().rename("mean").reset_index()
             .merge(truth, on=["school_id", "term"]))
        errs.append(float((d["mean"] - d["m"]).groupby(d["term"]).var(ddof=1).mean()))
    ve = float(np.mean(errs))
    return {"achieved": tau / (tau + ve), "true_variance": tau, "error_variance": ve}


def plan_check(targets=(0.7, 0.8), n_schools: int = 60, seed: int = 999,
               draws: int = 5) -> pd.DataFrame:
    """The planner's recommendation against the reliability achieved in simulation.

    One synthetic municipality (``n_schools`` schools of 25 teachers, about 30
    lessons per school and term): the variance components are estimated on all
    of it, the planner recommends lessons per term for a school with 25
    teachers and the data's observer mix and pairing, and the achieved
    reliability among these schools is measured by cutting every school × term
    to exactly that many random lessons (:func:`achieved_reliability`).
    """
    ds = synth.municipality(seed=seed, n_schools=n_schools, n_years=5, with_pupils=False,
                            compute_slope=False, teachers_per_school=(25, 26),
                            observation_rate=(1.2, 1.3), thin_schools=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        comp = variance_components(ds)
    forms = score_forms(ds)
    shares = forms.groupby("school_id")["observer_id"].value_counts(normalize=True)
    k = float((1.0 / (shares ** 2).groupby(level=0).sum()).mean())
    paired = float((forms.groupby("observation_id").size() > 1).mean())
    plan = plan_observations(comp, list(targets), n_teachers=25, n_observers=k,
                             paired_share=paired).tidy()
    rows = []
    for r in plan.itertuples(index=False):
        n = int(r.n_obs_needed)
        got = achieved_reliability(ds, n, draws=draws, seed=seed)
        rows.append({"target": r.target, "n_obs_needed": n,
                     "planned_reliability": r.reliability_at_needed,
                     "achieved_reliability": got["achieved"],
                     "planned_true_variance": comp.true_variance(),
                     "true_variance": got["true_variance"], "n_observers_eff": k,
                     "paired_share": paired})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Teaching-quality index against known truth")
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--gaussian", action="store_true",
                    help="control: continuous scores from the linear model itself")
    ap.add_argument("--plan", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--plan-schools", type=int, default=60)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    res = pd.DataFrame([evaluate_seed(s, gaussian=args.gaussian) for s in seeds])
    n = res["n_cells"].sum()
    per_seed = res["covered"] / res["n_cells"]
    print(res.round(3).to_string(index=False))
    print()
    kind = "Gaussian control" if args.gaussian else "ordinal synthetic scores"
    print(f"{kind}; seeds: {len(res)}, published school-terms: {int(n)}")
    print(f"coverage of 95 % intervals, truth m(q): {res['covered'].sum() / n:.3f} "
          f"(per seed: min {per_seed.min():.3f}, median {per_seed.median():.3f}, "
          f"max {per_seed.max():.3f})")
    if "covered_centred" in res:
        print(f"coverage of 95 % intervals, centred: {res['covered_centred'].sum() / n:.3f}")
    print(f"correlation with truth q: index {res['r_index'].mean():.3f}, raw means "
          f"{res['r_raw'].mean():.3f} (index higher in {(res['r_index'] > res['r_raw']).sum()}"
          f" of {len(res)} seeds)")
    if "r_observer" in res:
        print(f"observer severity recovery: mean correlation {res['r_observer'].mean():.3f} "
              f"(min {res['r_observer'].min():.3f})")
    if args.plan and not args.gaussian:
        plan = plan_check(n_schools=args.plan_schools)
        print()
        print("planner check (reliability of school × term means with the recommended "
              "number of random lessons):")
        print(plan.round(3).to_string(index=False))
    print(f"\ntime: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
