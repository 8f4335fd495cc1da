"""Engine comparison for fit_mixed: mixedlm vs R's lme4 vs statsmodels MixedLM.

Run from the repository root:

    .venv/bin/python benchmarks/bench_engine.py            # all models, 5 repeats
    .venv/bin/python benchmarks/bench_engine.py --repeats 3 --no-large
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_engine.py

On a 2-core machine numpy's multi-threaded OpenBLAS makes mixedlm's many
small dense operations 2-10x slower and very noisy; the second command shows
the single-threaded figures (see ENGINE.md).

What it measures, on the same data in the same run:

* fit time (median of ``--repeats`` fits after one warm-up fit) of
  - ``mixedlm.lmer`` (the engine alone) and ``fit_mixed`` (engine + our checks
    and result extraction),
  - R's ``lme4::lmer`` timed inside one ``Rscript`` process (R start-up and
    package loading excluded; reported separately), skipped with a note when
    ``Rscript`` or lme4 is missing,
  - statsmodels ``MixedLM`` where it can fit the same model: it has a single
    grouping factor (further factors only as independent variance components
    within it), so only the cross-level model (one grouping factor with a
    correlated random slope) is the same model; the nested and crossed models
    are marked "n/a";
* ratios against lme4's time measured in the same run;
* the largest absolute differences from lme4 in fixed effects, standard
  errors and variance components (SDs and correlations), and the relative
  difference in the REML criterion.

Data: the three reference data sets of ``tests/reference`` plus one larger
cross-classified set simulated here (seeded), written to ``benchmarks/out/``
(git-ignored) for R to read.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference"
OUT = ROOT / "benchmarks" / "out"

MODELS = {
    "growth": ("score ~ time + (1 + time | school) + (1 + time | school:teacher)",
               REF / "lme4_data_growth.csv"),
    "crosslevel": ("y ~ x * z_school + (1 + x | school)", REF / "lme4_data_crosslevel.csv"),
    "crossed": ("score ~ time + type + (1 | teacher) + (1 | observer) + (1 + time | school)",
                REF / "lme4_data_crossed.csv"),
    "crossed_large": (
        "score ~ time + type + (1 | teacher) + (1 | observer) + (1 + time | school)",
        OUT / "bench_crossed_large.csv"),
}

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
spec <- read.csv(args[1], stringsAsFactors = FALSE)
repeats <- as.integer(args[2])
out <- list()
for (i in seq_len(nrow(spec))) {
  d <- read.csv(spec$path[i], colClasses = c(school = "character"), stringsAsFactors = FALSE)
  f <- as.formula(spec$formula[i])
  m <- lmer(f, data = d, REML = TRUE)                         # warm-up
  times <- numeric(repeats)
  for (k in seq_len(repeats)) {
    t0 <- proc.time()[["elapsed"]]
    m <- lmer(f, data = d, REML = TRUE)
    times[k] <- proc.time()[["elapsed"]] - t0
  }
  vc <- as.data.frame(VarCorr(m))
  fe <- fixef(m)
  out[[i]] <- rbind(
    data.frame(model = spec$model[i], kind = "time", key = "median", value = median(times)),
    data.frame(model = spec$model[i], kind = "crit", key = "REMLcrit", value = REMLcrit(m)),
    data.frame(model = spec$model[i], kind = "fixef", key = names(fe), value = unname(fe)),
    data.frame(model = spec$model[i], kind = "se", key = names(fe),
               value = sqrt(diag(as.matrix(vcov(m))))),
    data.frame(model = spec$model[i], kind = "sdcor",
               key = paste(vc$grp, ifelse(is.na(vc$var1), "", vc$var1),
                           ifelse(is.na(vc$var2), "", vc$var2), sep = "|"),
               value = vc$sdcor))
}
write.csv(do.call(rbind, out), args[3], row.names = FALSE)
"""


def simulate_crossed_large(seed: int = 7, n_school: int = 60, n_teacher: int = 8,
                           n_terms: int = 8, n_external: int = 20) -> pd.DataFrame:
    """A larger teaching-quality data set shaped like tests/reference's 'crossed'."""
    rng = np.random.default_rng(seed)
    types = np.array(["spontan", "planerad", "kollegial"])
    type_eff = {"spontan": 0.0, "planerad": 0.15, "kollegial": -0.05}
    principals = [f"R{s:03d}" for s in range(n_school)]
    externals = [f"E{e:03d}" for e in range(n_external)]
    obs_eff = dict(zip(principals + externals,
                       rng.normal(scale=0.25, size=n_school + n_external)))
    cov = np.array([[0.30**2, 0.2 * 0.30 * 0.05], [0.2 * 0.30 * 0.05, 0.05**2]])
    u_s = rng.multivariate_normal([0, 0], cov, size=n_school)
    rows = []
    for s in range(n_school):
        for t in range(n_teacher):
            teacher = f"L{s * n_teacher + t:04d}"
            u_t = rng.normal(scale=0.35)
            for term in range(n_terms):
                for _ in range(rng.integers(1, 4)):
                    observer = principals[s] if rng.random() < 0.6 else rng.choice(externals)
                    typ = rng.choice(types, p=[0.5, 0.3, 0.2])
                    score = (2.8 + u_s[s, 0] + (0.05 + u_s[s, 1]) * term + type_eff[typ]
                             + u_t + obs_eff[observer] + rng.normal(scale=0.45))
                    rows.append((f"S{s:03d}", teacher, observer, term, typ, round(score, 3)))
    return pd.DataFrame(rows, columns=["school", "teacher", "observer", "time", "type",
                                       "score"])


def _median_time(fn, repeats: int) -> tuple[float, object]:
    result = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def run_lme4(models: dict, repeats: int) -> tuple[pd.DataFrame | None, str]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None, "Rscript not found on this machine: lme4 skipped."
    with tempfile.TemporaryDirectory() as tmp:
        spec = pd.DataFrame([{"model": k, "formula": f, "path": str(p)}
                             for k, (f, p) in models.items()])
        spec_path, script, out = (Path(tmp) / n for n in ("spec.csv", "b.R", "out.csv"))
        spec.to_csv(spec_path, index=False)
        script.write_text(R_SCRIPT)
        t0 = time.perf_counter()
        proc = subprocess.run([rscript, str(script), str(spec_path), str(repeats), str(out)],
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            return None, f"Rscript/lme4 failed, lme4 skipped: {proc.stderr.strip()[-400:]}"
        return pd.read_csv(out), f"Wall time of the whole Rscript process: {wall:.1f} s"


def ours_values(res) -> dict[tuple[str, str], float]:
    vals: dict[tuple[str, str], float] = {("crit", "REMLcrit"): res.reml_criterion}
    for k, v in res.fixef.items():
        vals[("fixef", k)] = v
    for k, v in res.se.items():
        vals[("se", k)] = v
    for r in res.varcorr.itertuples(index=False):
        key = f"{r.group}|{r.term1 or ''}|{r.term2 or ''}"
        vals[("sdcor", key)] = r.sd_cor
    return vals


def statsmodels_fit(data: pd.DataFrame):
    """The cross-level model in statsmodels: one grouping factor, correlated slope."""
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = smf.mixedlm("y ~ x * z_school", data, groups=data["school"], re_formula="~x")
        return m.fit(reml=True, method=["lbfgs"])


def statsmodels_values(fit) -> dict[tuple[str, str], float]:
    names = {"Intercept": "(Intercept)"}
    vals: dict[tuple[str, str], float] = {("crit", "REMLcrit"): -2 * fit.llf}
    for k, v in fit.fe_params.items():
        vals[("fixef", names.get(k, k))] = v
    for k, v in fit.bse_fe.items():
        vals[("se", names.get(k, k))] = v
    cov = np.asarray(fit.cov_re)
    sd = np.sqrt(np.diag(cov))
    vals[("sdcor", "school|(Intercept)|")] = sd[0]
    vals[("sdcor", "school|x|")] = sd[1]
    vals[("sdcor", "school|(Intercept)|x")] = cov[0, 1] / (sd[0] * sd[1])
    vals[("sdcor", "Residual||")] = np.sqrt(fit.scale)
    return vals


def diffs(vals: dict, ref: pd.DataFrame) -> dict[str, float]:
    out = {}
    for kind in ("fixef", "se", "sdcor"):
        r = ref[ref["kind"] == kind]
        d = [abs(vals[(kind, k)] - v) for k, v in zip(r["key"], r["value"]) if (kind, k) in vals]
        out[kind] = max(d) if len(d) == len(r) else float("nan")
    crit = ref.loc[ref["kind"] == "crit", "value"].iloc[0]
    out["crit_rel"] = abs(vals[("crit", "REMLcrit")] - crit) / abs(crit)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-large", action="store_true", help="skip the larger simulated model")
    args = ap.parse_args()

    import mixedlm

    from undervisning_analys.models import fit_mixed

    models = dict(MODELS)
    if args.no_large:
        models.pop("crossed_large")
    else:
        OUT.mkdir(parents=True, exist_ok=True)
        simulate_crossed_large().to_csv(models["crossed_large"][1], index=False)

    lme4, r_note = run_lme4(models, args.repeats)

    rows = []
    for name, (formula, path) in models.items():
        data = pd.read_csv(path, dtype={"school": str})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_engine, _ = _median_time(lambda f=formula, d=data: mixedlm.lmer(f, d), args.repeats)
            t_front, res = _median_time(lambda f=formula, d=data: fit_mixed(f, d), args.repeats)
        row = {"model": name, "n": len(data), "mixedlm_s": t_engine, "fit_mixed_s": t_front}
        ref = lme4[lme4["model"] == name] if lme4 is not None else None
        if ref is not None:
            t_r = float(ref.loc[ref["kind"] == "time", "value"].iloc[0])
            row["lme4_s"] = t_r
            row["mixedlm/lme4"] = t_engine / t_r
            row["fit_mixed/lme4"] = t_front / t_r
            row.update({f"ours_{k}": v for k, v in diffs(ours_values(res), ref).items()})
        if name == "crosslevel":
            t_sm, sm = _median_time(lambda d=data: statsmodels_fit(d), args.repeats)
            row["statsmodels_s"] = t_sm
            if ref is not None:
                row["statsmodels/lme4"] = t_sm / t_r
                row.update({f"sm_{k}": v for k, v in diffs(statsmodels_values(sm), ref).items()})
        rows.append(row)
    table = pd.DataFrame(rows)

    print(f"# Engine comparison ({time.strftime('%Y-%m-%d')})")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, mixedlm {mixedlm.__version__}; median of "
          f"{args.repeats} fits after one warm-up; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}.")
    print(r_note)
    print()
    print("## Times (seconds) and ratios to lme4 measured in the same run")
    cols = ["model", "n", "lme4_s", "mixedlm_s", "fit_mixed_s", "statsmodels_s",
            "mixedlm/lme4", "fit_mixed/lme4", "statsmodels/lme4"]
    print(_markdown(table.reindex(columns=cols), "{:.4f}"))
    print()
    print("statsmodels MixedLM: n/a for growth, crossed and crossed_large (one grouping "
          "factor only; nested/crossed factors only as uncorrelated variance components "
          "within it, i.e. not the same model).")
    if lme4 is not None:
        print()
        print("## Largest absolute difference from lme4 (REML criterion: relative)")
        cols = ["model", "ours_crit_rel", "ours_fixef", "ours_se", "ours_sdcor",
                "sm_crit_rel", "sm_fixef", "sm_se", "sm_sdcor"]
        print(_markdown(table.reindex(columns=cols), "{:.2e}"))
        print()
        print("ours_* = fit_mixed (mixedlm), sm_* = statsmodels MixedLM; crit_rel = relative "
              "difference in the REML criterion (-2 x restricted log-likelihood).")


def _markdown(df: pd.DataFrame, fmt: str) -> str:
    def cell(v):
        if isinstance(v, float):
            return "n/a" if np.isnan(v) else fmt.format(v)
        return str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in df.itertuples(index=False)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
