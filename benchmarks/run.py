"""Performance at municipality scale (issue 8): the one benchmark command.

    make bench                                   # = .venv/bin/python benchmarks/run.py
    .venv/bin/python benchmarks/run.py --scale small
    .venv/bin/python benchmarks/run.py --stages modell,rapporter --workdir /tmp/ua-bench --keep
    .venv/bin/python benchmarks/run.py --profile-misses

Every stage runs in its own Python process, so that its peak memory is its
own: the process tree's peak (the sum of PSS over the process and its
children, sampled every 50 ms with psutil; never below ``ru_maxrss`` of the
process or of its largest child). Seconds are wall time of the stage's calls
in that process (inputs are read before the clock starts; imports of the
package's heavy modules that happen inside a call count, as they would for a
user). The main job is timed as one command line run, start-up included.

Baselines are measured in the same run, on the same machine and data:

* lme4 in R on the teaching-quality model: the model frame is written to CSV,
  ``lmer`` is timed inside one ``Rscript`` (``proc.time()`` around the fit,
  after a warm-up fit on a subset, so R's start-up and package loading are
  excluded), and its estimates are compared with ``fit_mixed``'s. Skipped,
  with a note, where ``Rscript`` or lme4 is missing.
* The naive route for reports: ``notebooks/02_skolans_kvalitetsdialog.ipynb``
  executed with papermill once per school (new kernel, the whole analysis
  again) for a few schools, and the mean extrapolated to every school.

A stage whose code has not landed yet is reported as "saknas ännu". The
table is printed and, for ``--scale goteborg``, written to
``benchmarks/RESULTS.md`` with the machine described.

The workload is synthetic (``benchmarks/_workload.py``) and written to a
temporary folder outside the repository; its pupil files hold invented but
valid-looking personnummer, so the folder is deleted afterwards unless
``--keep`` is given, and a ``--workdir`` inside the repository is refused.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import os
import pickle
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import _workload as wl  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "02_skolans_kvalitetsdialog.ipynb"
RESULTS_MD = BENCH / "RESULTS.md"
MEASURE = "merit_17"

# Targets of issue 8.
MODEL_RATIO_TARGET = 0.4
REPORT_SPEEDUP_TARGET = 10.0
MAIN_SECONDS_TARGET = 60.0
MAIN_MB_TARGET = 2048.0
# Issue 12: the main job against one lme4 fit of the same model, in the same run.
MAIN_LME4_RATIO_TARGET = 2.5
PUPIL_SECONDS_TARGET = 10.0
NATIONAL_SECONDS_TARGET = 10.0
# DESIGN.md: agreement with lme4.
TOL = {"crit_rel": 1e-6, "fixef": 1e-4, "se": 1e-3, "sdcor": 5e-3}


@dataclasses.dataclass(frozen=True)
class Stage:
    id: str
    label: str
    target: str = "–"


STAGES: list[Stage] = [
    Stage("generera", "generera + skriva filer (synth, kommunens filer, SCB-elevfiler)"),
    Stage("lasa", "läsa in + validera (load_folder)"),
    Stage("modell", "kvalitetsmodellen (fit_mixed), mot lme4",
          f"≤ {MODEL_RATIO_TARGET:.1f} × lme4, samma skattningar".replace(".", ",")),
    Stage("index", "kvalitetsindex skola × termin (teaching_quality)"),
    Stage("justering", "justerade resultat (adjusted_results)"),
    Stage("koppling", "kopplingen kvalitet–resultat (link)"),
    Stage("rapporter", "alla skolrapporter + kommunrapport (report.write_all)",
          f"≥ {REPORT_SPEEDUP_TARGET:.0f} × snabbare än notebook per skola"),
    Stage("notebooks", "baslinje: en papermill-notebook per skola (extrapolerad)"),
    Stage("huvudjobb", "huvudjobbet: undervisning-analys rapporter (CLI)",
          f"≤ {MAIN_SECONDS_TARGET:.0f} s och ≤ {MAIN_MB_TARGET:.0f} MB; "
          f"≤ {MAIN_LME4_RATIO_TARGET:.1f} × en lme4-anpassning".replace("2.5", "2,5")),
    Stage("elevbetyg", "elevbetyg: läsa SCB-filer + aggregera (i minnet)",
          f"≤ {PUPIL_SECONDS_TARGET:.0f} s"),
    Stage("parkett", "elevbetyg: SCB-filer → Parquet (en gång)"),
    Stage("duckdb", "elevbetyg: aggregera utanför minnet (DuckDB/Parquet)",
          "samma resultat som i minnet"),
    Stage("nationell", "nationell fil: adjusted_results + link",
          f"≤ {NATIONAL_SECONDS_TARGET:.0f} s"),
]
STAGE_BY_ID = {s.id: s for s in STAGES}


class Missing(Exception):
    """A stage's code has not landed yet (reported as 'saknas ännu')."""


def need(module: str, attr: str | None = None) -> Any:
    """Import ``module`` (and get ``attr``); raise :class:`Missing` if it does not exist yet."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise Missing(module) from exc
        raise
    if attr is None:
        return mod
    if not hasattr(mod, attr):
        raise Missing(f"{module}.{attr}")
    return getattr(mod, attr)


# --------------------------------------------------------------------------- #
# memory: the peak of the process tree
# --------------------------------------------------------------------------- #
class TreeMemory:
    """Sample the memory of this process and its descendants (psutil; PSS where readable)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil is installed with jupyter
            self._psutil = None
        else:
            self._psutil = psutil

    def _one(self, proc: Any) -> float:
        try:
            info = proc.memory_full_info()
            return float(getattr(info, "pss", info.rss))
        except Exception:
            try:
                return float(proc.memory_info().rss)
            except Exception:
                return 0.0

    def sample(self) -> None:
        if self._psutil is None:
            return
        me = self._psutil.Process()
        try:
            procs = [me, *me.children(recursive=True)]
        except Exception:
            procs = [me]
        self.peak = max(self.peak, sum(self._one(p) for p in procs) / 2**20)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        if self._psutil is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


def maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: kB


# --------------------------------------------------------------------------- #
# helpers used inside stage processes
# --------------------------------------------------------------------------- #
class Clock:
    """Accumulates wall time of the timed parts of a stage."""

    def __init__(self, profile: Path | None = None) -> None:
        self.seconds = 0.0
        self.parts: dict[str, float] = {}
        self._profile_path = profile
        self._profiler: Any = None
        if profile is not None:
            import cProfile
            self._profiler = cProfile.Profile()

    @contextlib.contextmanager
    def timed(self, name: str):
        if self._profiler is not None:
            self._profiler.enable()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            if self._profiler is not None:
                self._profiler.disable()
            self.seconds += dt
            self.parts[name] = self.parts.get(name, 0.0) + dt

    def write_profile(self) -> None:
        if self._profiler is None or self._profile_path is None:
            return
        import io
        import pstats

        buf = io.StringIO()
        st = pstats.Stats(self._profiler, stream=buf)
        st.strip_dirs().sort_stats("cumulative").print_stats(30)
        buf.write("\n")
        st.sort_stats("tottime").print_stats(20)
        self._profile_path.write_text(buf.getvalue())


def load_dataset(paths: wl.Paths, prefer_loaded: bool = True) -> tuple[Any, str]:
    """The Dataset for the analysis stages: load_folder's if the load stage ran, else synth's."""
    if prefer_loaded and paths.loaded.exists():
        with open(paths.loaded, "rb") as fh:
            return pickle.load(fh), "inläst med load_folder"
    with open(paths.dataset, "rb") as fh:
        return pickle.load(fh), "syntetisk Dataset (load_folder saknas eller kördes inte)"


def sv(x: float | None, nd: int = 1) -> str:
    if x is None or x != x:
        return "–"
    return f"{x:,.{nd}f}".replace(",", " ").replace(".", ",")


# --------------------------------------------------------------------------- #
# the teaching-quality model frame (shared with the lme4 baseline)
# --------------------------------------------------------------------------- #
DEFAULT_FORMULA = ("overall ~ time + observation_type + (1 | teacher_id) + (1 | observer_id)"
                   " + (1 + time | school_id)")


def quality_model(ds: Any) -> tuple[str, Any, str]:
    """(formula, frame, source) of the teaching-quality model behind ``teaching_quality``.

    The frame and formula are made by the package itself (``score_forms``,
    ``specify_model``: the overall score with time, observation
    type and own-school fixed, school intercept and trend, school × term,
    teacher, observer and lesson intercepts), so that lme4 fits exactly the
    model the package fits. Until index.py exists: DESIGN.md's model on
    form-level overall scores, built here.
    """
    try:
        mdl = need("undervisning_analys.measure.model")
        scoring = need("undervisning_analys.measure.scoring")
    except Missing:
        mdl = scoring = None
    if mdl is not None and scoring is not None:
        spec = mdl.specify_model(scoring.score_forms(ds), "overall")
        cols = ["score", *spec.fixed, *[b.group for b in spec.blocks]]
        return spec.formula, spec.frame[list(dict.fromkeys(cols))].copy(), \
            "measure.model (score_forms, specify_model)"
    import numpy as np

    from undervisning_analys import schema

    forms = ds.instrument.score(ds.observations)
    meta = (ds.observations.drop_duplicates(["observation_id", "observer_id"])
            [["observation_id", "observer_id", "school_id", "teacher_id", "observation_type",
              "term"]])
    frame = meta.merge(forms[["observation_id", "observer_id", "overall"]],
                       on=["observation_id", "observer_id"], how="inner")
    t = frame["term"].map(schema.term_index).astype(float)
    frame["time"] = (t - float(np.nanmin(t))).round(2)
    frame["observation_type"] = frame["observation_type"].astype(str)
    frame = frame[["overall", "time", "observation_type", "teacher_id", "observer_id",
                   "school_id"]].dropna().reset_index(drop=True)
    return DEFAULT_FORMULA, frame, "DESIGN.md-modellen på protokollnivå (benchmarks/run.py)"


R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE, colClasses = "character")
num <- c("score", "overall", "time", grep("^type_|^own_", names(d), value = TRUE))
for (v in intersect(num, names(d))) d[[v]] <- as.numeric(d[[v]])
f <- as.formula(readLines(args[2])[1])
repeats <- as.integer(args[4])
warm <- d[d$school_id %in% head(unique(d$school_id), max(3, length(unique(d$school_id)) %/% 10)), ]
m <- lmer(f, data = warm, REML = TRUE)                           # warm-up (code paths loaded)
times <- numeric(repeats)
for (k in seq_len(repeats)) {
  t0 <- proc.time()[["elapsed"]]
  m <- lmer(f, data = d, REML = TRUE)
  times[k] <- proc.time()[["elapsed"]] - t0
}
vc <- as.data.frame(VarCorr(m))
fe <- fixef(m)
out <- rbind(
  data.frame(kind = "time", key = "median", value = median(times)),
  data.frame(kind = "crit", key = "REMLcrit", value = REMLcrit(m)),
  data.frame(kind = "fixef", key = names(fe), value = unname(fe)),
  data.frame(kind = "se", key = names(fe), value = sqrt(diag(as.matrix(vcov(m))))),
  data.frame(kind = "sdcor",
             key = paste(vc$grp, ifelse(is.na(vc$var1), "", vc$var1),
                         ifelse(is.na(vc$var2), "", vc$var2), sep = "|"),
             value = vc$sdcor),
  data.frame(kind = "version", key = "lme4", value = NA),
  data.frame(kind = "version", key = paste("R", getRversion(), "lme4",
                                           as.character(packageVersion("lme4"))), value = NA))
write.csv(out, args[3], row.names = FALSE)
"""


def run_lme4(formula: str, frame: Any, work: Path, repeats: int) -> dict[str, Any]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {"skipped": "Rscript finns inte på maskinen: lme4-baslinjen hoppades över."}
    work.mkdir(parents=True, exist_ok=True)
    csv, fpath, script, out = (work / n for n in ("modell.csv", "formel.txt", "lme4.R",
                                                 "lme4_ut.csv"))
    frame.to_csv(csv, index=False)
    fpath.write_text(formula + "\n")
    script.write_text(R_SCRIPT)
    t0 = time.perf_counter()
    proc = subprocess.run([rscript, str(script), str(csv), str(fpath), str(out), str(repeats)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"skipped": "lme4 misslyckades eller saknas: "
                           + (proc.stderr.strip().splitlines() or ["?"])[-1][:300]}
    import pandas as pd

    ref = pd.read_csv(out)
    version = ref.loc[ref["kind"] == "version", "key"].iloc[-1]
    return {"seconds": float(ref.loc[ref["kind"] == "time", "value"].iloc[0]),
            "ref": ref[ref["kind"] != "version"], "process_wall": wall, "version": version,
            "peak_mb": maxrss_mb(resource.RUSAGE_CHILDREN)}


def _our_values(res: Any) -> dict[tuple[str, str], float]:
    vals: dict[tuple[str, str], float] = {("crit", "REMLcrit"): float(res.reml_criterion)}
    for k, v in res.fixef.items():
        vals[("fixef", str(k))] = float(v)
    for k, v in res.se.items():
        vals[("se", str(k))] = float(v)
    for r in res.varcorr.itertuples(index=False):
        key = f"{r.group}|{r.term1 or ''}|{r.term2 or ''}"
        vals[("sdcor", key)] = float(r.sd_cor)
    return vals


def compare_lme4(res: Any, ref: Any) -> dict[str, float]:
    vals = _our_values(res)
    out: dict[str, float] = {}
    for kind in ("fixef", "se", "sdcor"):
        r = ref[ref["kind"] == kind]
        d = [abs(vals[(kind, k)] - float(v)) for k, v in zip(r["key"], r["value"])
             if (kind, k) in vals]
        out[kind] = max(d) if d and len(d) == len(r) else float("nan")
    crit = float(ref.loc[ref["kind"] == "crit", "value"].iloc[0])
    out["crit_rel"] = abs(vals[("crit", "REMLcrit")] - crit) / abs(crit)
    return out


# --------------------------------------------------------------------------- #
# the stages (each runs in its own process)
# --------------------------------------------------------------------------- #
def stage_generera(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    scale: wl.Scale = ctx["scale"]
    with clock.timed("kommun + elevfiler"):
        info = wl.generate(scale, ctx["paths"].root)
    with clock.timed("nationell fil"):
        nat = wl.write_national(scale, ctx["paths"].root)
    c = info["counts"]
    notes = [
        f"{c['schools']} skolor, {c['teachers_in_post']} lärare i tjänst per läsår "
        f"({c['teachers']} olika under perioden), {c['observers']} observatörer, "
        f"{c['lessons']} lektioner / {c['forms']} ifyllda protokoll / {c['item_scores']} "
        f"påståendepoäng över {c['terms']} terminer",
        f"{c['pupils_per_year']} elever per läsår × {c['pupil_years']} läsår = "
        f"{c['grade_rows']} betygsrader i {len(c['pupil_files'])} SCB-filer "
        f"({sv(c['pupil_file_mb'])} MB)",
        f"nationell fil: {nat['schools']} skolenheter × {nat['years']} läsår, "
        f"{nat['results_rows']} resultatrader",
        "delar: " + ", ".join(f"{k} {sv(v)} s" for k, v in info["seconds"].items()),
    ]
    (ctx["paths"].manifest).write_text(json.dumps(
        {"scale": scale.name, "counts": c, "national": nat}, indent=1))
    return {"notes": notes, "details": {"counts": c, "national": nat}}


def stage_lasa(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    load_folder = need("undervisning_analys.sample", "load_folder")
    folder = ctx["paths"].municipality
    try:
        with clock.timed("load_folder"):
            ds = load_folder(folder)
    except AttributeError as exc:  # a loader load_folder calls has not landed
        raise Missing(f"inläsare: {exc}") from exc
    with open(ctx["paths"].loaded, "wb") as fh:
        pickle.dump(ds, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {"notes": [f"{len(ds.observations)} påståendepoäng, {len(ds.results)} "
                      f"resultatvärden, {len(ds.background)} bakgrundsrader, "
                      f"{len(ds.provenance)} källfiler"]}


def stage_modell(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    fit_mixed = need("undervisning_analys.models.mixed", "fit_mixed")
    ds, ds_note = load_dataset(ctx["paths"])
    formula, frame, source = quality_model(ds)
    repeats = ctx["repeats"]
    lme4 = run_lme4(formula, frame, ctx["paths"].root / "lme4", repeats)
    # warm-up on a subset (engine import, first-call set-up), as for lme4
    schools = list(dict.fromkeys(frame["school_id"]))
    warm = frame[frame["school_id"].isin(schools[:max(3, len(schools) // 10)])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_mixed(formula, warm)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            with clock.timed("fit_mixed"):
                res = fit_mixed(formula, frame)
            times.append(time.perf_counter() - t0)
    times.sort()
    seconds = times[len(times) // 2]
    engine_s = _engine_only_seconds(formula, frame)
    path = res.optimizer_path
    notes = [f"modell: `{formula}` ({source}); {res.nobs} protokoll, grupper: "
             + ", ".join(f"{k} {v}" for k, v in res.ngroups.items()),
             f"optimerarens väg: {' → '.join(path.get('optimizers', []))} "
             f"(behöll {path.get('optimizer')}), {path.get('evaluations')} utvärderingar av "
             f"kriteriet, {path.get('iterations')} iterationer, konvergerade: "
             f"{'ja' if path.get('converged') else 'nej'} ({path.get('message')})",
             f"median av {repeats} anpassning(ar) efter en uppvärmning på en delmängd; {ds_note}"]
    out: dict[str, Any] = {"seconds": seconds, "notes": notes}
    if "skipped" in lme4:
        notes.append(lme4["skipped"])
        out["achieved_override"] = None
        return out
    diffs = compare_lme4(res, lme4["ref"])
    equal = all(diffs[k] <= TOL[k] for k in TOL)
    ratio = seconds / lme4["seconds"]
    if engine_s is not None:
        notes.append(f"motorn ensam (mixedlm.lmer, utan fit_mixed:s efterarbete som "
                     f"betingade varianser): {sv(engine_s, 2)} s = "
                     f"{sv(engine_s / lme4['seconds'], 2)} × lme4")
    out.update({
        "baseline_s": lme4["seconds"], "baseline_label": "lme4 (R)", "ratio": ratio,
        "ratio_text": sv(ratio, 2) + " × lme4",
        "achieved_override": bool(ratio <= MODEL_RATIO_TARGET and equal),
        "details": {"diffs": diffs, "lme4_peak_mb": lme4["peak_mb"],
                    "optimizer_path": {k: v for k, v in path.items() if k != "stages"}}})
    notes.append(
        f"{lme4['version']}: lmer {sv(lme4['seconds'], 2)} s (hela Rscript-processen "
        f"{sv(lme4['process_wall'], 1)} s, topminne {sv(lme4['peak_mb'], 0)} MB); största "
        f"skillnad mot lme4: REML-kriteriet {diffs['crit_rel']:.1e} (relativt), fasta effekter "
        f"{diffs['fixef']:.1e}, medelfel {diffs['se']:.1e}, varianskomponenter "
        f"{diffs['sdcor']:.1e} → " + ("lika inom DESIGN.md:s toleranser" if equal else
                                      "SKILJER SIG mer än DESIGN.md:s toleranser"))
    return out


def _engine_only_seconds(formula: str, frame: Any) -> float | None:
    """The engine's lmer alone (BLAS limited to one thread, as fit_mixed does)."""
    try:
        from mixedlm import lmer
    except ImportError:
        return None
    try:
        from threadpoolctl import threadpool_limits
        limit: Any = threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        limit = contextlib.nullcontext()
    with limit, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        lmer(formula, frame, REML=True)
        return time.perf_counter() - t0


def stage_index(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    teaching_quality = need("undervisning_analys.measure.index", "teaching_quality")
    ds, ds_note = load_dataset(ctx["paths"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with clock.timed("teaching_quality"):
            res = teaching_quality(ds)
            tidy = res.tidy()
    notes = [f"{len(tidy)} rader i tidy(); {ds_note}"]
    if hasattr(res, "model"):
        d = res.model("overall").diagnostics
        notes.append(f"modellens optimerare: {' → '.join(d['optimizers'])}, "
                     f"{d['evaluations']} utvärderingar, konvergerade: "
                     f"{'ja' if d['converged'] else 'nej'}")
    return {"notes": notes}


def stage_justering(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    adjusted_results = need("undervisning_analys.models.adjust", "adjusted_results")
    ds, ds_note = load_dataset(ctx["paths"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with clock.timed("adjusted_results"):
            tidy = adjusted_results(ds, measure=MEASURE).tidy()
    return {"notes": [f"{MEASURE}: {len(tidy)} rader; {ds_note}"]}


def stage_koppling(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    link = need("undervisning_analys.models.link", "link")
    ds, ds_note = load_dataset(ctx["paths"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with clock.timed("link"):
            tidy = link(ds, measure=MEASURE).tidy()
    return {"notes": [f"{MEASURE}: {len(tidy)} rader (innehåller teaching_quality-anpassningen "
                      f"om link gör den själv); {ds_note}"]}


def stage_rapporter(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    report = need("undervisning_analys.report")
    write_all = getattr(report, "write_all", None)
    build_context = getattr(report, "build_context", None)
    if write_all is None:
        builder = need("undervisning_analys.report.write")
        write_all = getattr(builder, "write_all", None)
        build_context = getattr(builder, "build_context", None)
    if write_all is None:
        raise Missing("undervisning_analys.report.write_all")
    ds, ds_note = load_dataset(ctx["paths"])
    out = ctx["paths"].root / "rapporter"
    shutil.rmtree(out, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if build_context is not None:
            with clock.timed("build_context"):
                rctx = build_context(ds)
            with clock.timed("write_all"):
                written = write_all(ds, out, context=rctx)
        else:
            with clock.timed("write_all"):
                written = write_all(ds, out)
    n = len(getattr(written, "schools", {}) or {})
    notes = [f"{n} skolrapporter + kommunrapport + index; " + ", ".join(
        f"{k} {sv(v)} s" for k, v in clock.parts.items()) + f"; {ds_note}"]
    timings = getattr(rctx, "timings", None) if build_context is not None else None
    if timings:
        top = sorted(timings.items(), key=lambda kv: -kv[1])[:8]
        notes.append("build_context, dyraste delarna: " + ", ".join(
            f"{k} {sv(v)} s" for k, v in top))
    return {"notes": notes, "details": {"n_schools": n}}


def _notebook_parameters(nb: Path, school_id: str, data: Path, out: Path) -> dict[str, Any]:
    """Map the notebook's parameters (papermill's ``parameters`` cell) to school, data, out."""
    import papermill

    params = papermill.inspect_notebook(str(nb))
    chosen: dict[str, Any] = {}
    for name in params:
        low = name.lower()
        if low in ("school_id", "skolenhetskod", "skola") or "skol" in low or "school" in low:
            chosen[name] = school_id
        elif low in ("data_folder", "mapp") or any(
                k in low for k in ("data", "mapp", "folder", "path", "sokvag")):
            chosen[name] = str(data)
        elif low in ("out_dir", "ut") or low.startswith("ut") or "out" in low:
            chosen[name] = str(out)
    if school_id not in chosen.values() or str(data) not in chosen.values():
        raise RuntimeError(f"notebookens parametrar {sorted(params)} går inte att koppla till "
                           "skola och datamapp")
    return chosen


def stage_notebooks(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    if not NOTEBOOK.exists():
        raise Missing(str(NOTEBOOK.relative_to(ROOT)))
    papermill = need("papermill")
    ds, _ = load_dataset(ctx["paths"], prefer_loaded=False)
    codes = sorted(ds.schools["school_id"])
    n_all = len(codes)
    k = min(ctx["notebooks"] or ctx["scale"].notebook_schools, n_all)
    step = max(1, n_all // k)
    sample = codes[::step][:k]
    out = ctx["paths"].root / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    times = []
    params0 = None
    for sid in sample:
        params = _notebook_parameters(NOTEBOOK, sid, ctx["paths"].municipality, out / sid)
        params0 = params0 or params
        t0 = time.perf_counter()
        with clock.timed("papermill"):
            papermill.execute_notebook(str(NOTEBOOK), str(out / f"{sid}.ipynb"),
                                       parameters=params, progress_bar=False,
                                       cwd=str(ROOT / "notebooks"), kernel_name="python3")
        times.append(time.perf_counter() - t0)
    mean = sum(times) / len(times)
    extrapolated = mean * n_all
    return {"seconds": extrapolated,
            "notes": [f"{len(sample)} skolor körda ({', '.join(sv(t) + ' s' for t in times)}), "
                      f"medel {sv(mean)} s × {n_all} skolor = {sv(extrapolated, 0)} s; "
                      f"parametrar: {sorted(params0 or {})}"],
            "details": {"per_school": times, "n_schools": n_all, "sampled": sample}}


def stage_huvudjobb(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    cli = need("undervisning_analys.cli", "main")
    del cli
    out = ctx["paths"].root / "huvudjobb"
    shutil.rmtree(out, ignore_errors=True)
    exe = Path(sys.executable).with_name("undervisning-analys")
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "undervisning_analys.cli"])
    cmd += ["rapporter", str(ctx["paths"].municipality), "--ut", str(out), "--tyst"]
    if ctx.get("profile_path") is not None:
        cmd = [sys.executable, "-m", "cProfile", "-o", str(ctx["profile_path"]) + ".prof",
               "-m", "undervisning_analys.cli", *cmd[-5:]]
    # --repeats runs of the whole command, the median reported (as for the fits): a
    # shared machine's speed drifts by a quarter within minutes
    runs: list[float] = []
    for _ in range(max(1, int(ctx.get("repeats", 1)))):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        with clock.timed("CLI"):
            proc = subprocess.run(cmd, capture_output=True, text=True)
        runs.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise RuntimeError(f"CLI avslutades med kod {proc.returncode}: {tail}")
    n_html = len(list(out.rglob("*.html")))
    notes = [f"`undervisning-analys rapporter <kommun> --ut <mapp>`: {n_html} HTML-filer; "
             "väggtid för hela kommandot inklusive start"]
    if len(runs) > 1:
        notes.append(f"median av {len(runs)} körningar: "
                     + ", ".join(f"{sv(r, 1)} s" for r in runs))
    return {"notes": notes, "seconds": float(statistics.median(runs)), "peak_child_only": True}


def _pupil_files(paths: wl.Paths) -> list[Path]:
    return sorted(paths.pupils.glob("*.txt"))


def stage_elevbetyg(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    read_pupil_grades = need("undervisning_analys.io", "read_pupil_grades")
    aggregate = need("undervisning_analys.io", "aggregate_pupil_grades")
    import pandas as pd

    files = _pupil_files(ctx["paths"])
    frames = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with clock.timed("read_pupil_grades"):
            for f in files:
                frames.append(read_pupil_grades(f, key=ctx["key"]))
            sex = {k: v for f in frames for k, v in f.attrs.get("sex", {}).items()}
            concat = getattr(need("undervisning_analys.io"), "concat_pupil_grades", None)
            pr = concat(frames) if concat is not None else pd.concat(frames, ignore_index=True)
        del frames
        with clock.timed("aggregate_pupil_grades"):
            agg = aggregate(pr, sex)
    agg_df = agg.tidy() if hasattr(agg, "tidy") else agg
    agg_df.to_pickle(ctx["paths"].root / "aggregat_minne.pkl")
    check = _check_against_truth(ctx["paths"], agg_df)
    return {"notes": [f"{len(pr)} betygsrader från {len(files)} filer → {len(agg_df)} "
                      "resultatrader; " + ", ".join(f"{k} {sv(v)} s"
                                                   for k, v in clock.parts.items()), check]}


def _check_against_truth(paths: wl.Paths, agg: Any) -> str:
    """Compare pupil counts and pass-all shares with the generator's exact aggregates.

    (Meritvärde is not compared: the loader averages over pupils with at least
    one passing grade, as Skolverket does; synth over every graded pupil.)
    """
    import numpy as np

    with open(paths.dataset, "rb") as fh:
        ds = pickle.load(fh)
    exact = getattr(ds.truth, "results_exact", None)
    if exact is None or "measure" not in agg.columns:
        return "ingen kontroll mot generatorn (okänt utdataformat)"
    a = agg[(agg["level"] == "school") & (agg["group"] == "all")]
    e = exact[exact["group"] == "all"].set_index(["school_id", "school_year"])
    n = a[a["measure"] == "n_pupils_grade9"].set_index(["school_id", "school_year"])["n"]
    n_ok = bool((n.astype(int) == e.loc[n.index, "n"].astype(int)).all())
    share = a[(a["measure"] == "pass_all_subjects_pct") & (a["status"] == "ok")] \
        .set_index(["school_id", "school_year"])["value"]
    diff = float(np.max(np.abs(share.to_numpy(float) - e.loc[share.index,
                                                        "pass_all_subjects_pct"].to_numpy())))
    return (f"kontroll mot generatorns exakta värden: antal elever {'lika' if n_ok else 'OLIKA'} "
            f"för {len(n)} skolor × läsår; andel godkända i alla ämnen, största skillnad "
            f"{diff:.2g} (avrundning till en decimal)")


def stage_parkett(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    ooc = need("undervisning_analys.io.outofcore")
    need("undervisning_analys.io", "read_pupil_grades")
    target = ctx["paths"].root / "parkett"
    shutil.rmtree(target, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with clock.timed("pupil_grades_to_parquet"):
            written = ooc.pupil_grades_to_parquet(_pupil_files(ctx["paths"]), target,
                                                  key=ctx["key"])
    mb = sum(p.stat().st_size for p in written) / 2**20
    return {"notes": [f"{len(written)} Parquet-filer, {sv(mb)} MB (en fil åt gången i minnet)"]}


def stage_duckdb(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    ooc = need("undervisning_analys.io.outofcore")
    import pandas as pd

    source = ctx["paths"].root / "parkett"
    if not source.exists():
        raise Missing("Parquet-filerna (steget parkett)")
    with clock.timed("aggregate_parquet"):
        agg = ooc.aggregate_parquet(source, memory_limit="512MB", threads=2)
    notes = [f"{len(agg)} resultatrader; DuckDB memory_limit 512MB, 2 trådar"]
    mem_path = ctx["paths"].root / "aggregat_minne.pkl"
    achieved = None
    if mem_path.exists():
        mem = pd.read_pickle(mem_path)
        try:
            pd.testing.assert_frame_equal(agg, mem)
            achieved = True
            notes.append(f"jämfört med aggregate_pupil_grades i minnet: identiska tabeller "
                         f"({len(agg)} rader, alla kolumner)")
        except AssertionError as exc:
            achieved = False
            first = " ".join(str(exc).split())[:300]
            notes.append(f"jämfört med aggregate_pupil_grades i minnet: OLIKA: {first}")
    else:
        notes.append("ingen jämförelse: steget elevbetyg kördes inte")
    return {"notes": notes, "achieved_override": achieved}


def stage_nationell(ctx: dict[str, Any], clock: Clock) -> dict[str, Any]:
    adjusted_results = need("undervisning_analys.models.adjust", "adjusted_results")
    link_mod = need("undervisning_analys.models.link")
    link = need("undervisning_analys.models.link", "link")
    from undervisning_analys import Dataset

    with open(ctx["paths"].national, "rb") as fh:
        nat = pickle.load(fh)
    import pandas as pd

    from undervisning_analys import schema

    with clock.timed("Dataset.build (validering)"):
        ds = Dataset.build(schools=nat["schools"], observations=schema.empty("observations"),
                           results=nat["results"], background=nat["background"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with clock.timed("adjusted_results"):
            adj = adjusted_results(ds, measure=MEASURE).tidy()
        quality_kw = _link_quality_kwarg(link_mod, link, nat["quality"])
        if quality_kw is None:
            raise Missing("link(ds, …) som tar emot ett färdigt kvalitetsindex")
        with clock.timed("link"):
            lk = link(ds, measure=MEASURE, **quality_kw).tidy()
    del pd
    return {"notes": [f"{len(nat['schools'])} skolenheter × {ctx['scale'].national_years} "
                      f"läsår: {len(nat['results'])} resultatrader, {len(adj)} justerade, "
                      f"{len(lk)} rader i link; " + ", ".join(
                          f"{k} {sv(v, 2)} s" for k, v in clock.parts.items())]}


def _link_quality_kwarg(link_mod: Any, link: Callable, quality: Any) -> dict[str, Any] | None:
    """How link accepts a ready-made school × term index (no national observations exist)."""
    import inspect

    params = inspect.signature(link).parameters
    for name in ("quality", "index", "teaching_quality", "tq"):
        if name in params:
            return {name: quality}
    return None


STAGE_FUNCS: dict[str, Callable[[dict[str, Any], Clock], dict[str, Any]]] = {
    "generera": stage_generera, "lasa": stage_lasa, "modell": stage_modell,
    "index": stage_index, "justering": stage_justering, "koppling": stage_koppling,
    "rapporter": stage_rapporter, "notebooks": stage_notebooks, "huvudjobb": stage_huvudjobb,
    "elevbetyg": stage_elevbetyg, "parkett": stage_parkett, "duckdb": stage_duckdb,
    "nationell": stage_nationell,
}


def child_main(args: argparse.Namespace) -> int:
    """Run one stage in this process and write its result as JSON."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    paths = wl.Paths(Path(args.workdir))
    prof = paths.root / f"profil_{args.stage}.txt" if args.profile else None
    ctx = {"scale": wl.SCALES[args.scale], "paths": paths, "repeats": args.repeats,
           "key": args.key, "profile_path": prof, "notebooks": args.notebooks}
    clock = Clock(prof if args.stage != "huvudjobb" else None)
    result: dict[str, Any] = {"id": args.stage}
    with TreeMemory() as mem:
        try:
            out = STAGE_FUNCS[args.stage](ctx, clock)
            result.update(out)
            result["status"] = "ok"
            result.setdefault("seconds", clock.seconds)
        except Missing as exc:
            result.update({"status": "saknas", "notes": [f"saknas ännu: {exc}"]})
        except Exception as exc:  # report, never crash the harness
            tb = traceback.format_exc(limit=6)
            notes = [f"fel: {type(exc).__name__}: {exc}"]
            if clock.parts:
                notes.append("delar som hann bli klara: " + ", ".join(
                    f"{k} {sv(v, 2)} s" for k, v in clock.parts.items()))
            result.update({"status": "fel", "notes": notes, "traceback": tb})
    clock.write_profile()
    if args.stage == "huvudjobb" and prof is not None and Path(str(prof) + ".prof").exists():
        import io
        import pstats

        buf = io.StringIO()
        st = pstats.Stats(str(prof) + ".prof", stream=buf)
        st.strip_dirs().sort_stats("cumulative").print_stats(30)
        st.sort_stats("tottime").print_stats(20)
        prof.write_text(buf.getvalue())
    self_mb = maxrss_mb(resource.RUSAGE_SELF)
    child_mb = maxrss_mb(resource.RUSAGE_CHILDREN)
    if result.pop("peak_child_only", False):
        # the command's processes only: the tree's peak less this runner's own memory
        result["peak_mb"] = max(child_mb, mem.peak - self_mb)
    else:
        result["peak_mb"] = max(mem.peak, self_mb, child_mb)
    result["rss_self_mb"], result["rss_children_mb"] = self_mb, child_mb
    Path(args.result).write_text(json.dumps(result, default=str))
    return 0


# --------------------------------------------------------------------------- #
# the parent: run stages, print the table, write RESULTS.md
# --------------------------------------------------------------------------- #
def run_stage(stage: str, args: argparse.Namespace, workdir: Path, key: str,
              profile: bool = False) -> dict[str, Any]:
    res_path = workdir / f"resultat_{stage}.json"
    res_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_stage", stage, "--workdir",
           str(workdir), "--scale", args.scale, "--repeats", str(args.repeats),
           "--_result", str(res_path), "--_key", key, "--notebooks", str(args.notebooks)]
    if profile:
        cmd.append("--_profile")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    limit = int(args.mem_limit_gb * 2**30)

    def cap() -> None:  # a runaway stage fails with MemoryError instead of the OOM killer
        if limit > 0:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=args.timeout, preexec_fn=cap)
    except subprocess.TimeoutExpired:
        return {"id": stage, "status": "fel", "notes": [f"tidsgräns {args.timeout} s nådd"],
                "wall": time.perf_counter() - t0}
    wall = time.perf_counter() - t0
    if not res_path.exists():
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        return {"id": stage, "status": "fel", "notes": [f"stegprocessen dog: {tail}"],
                "wall": wall}
    result = json.loads(res_path.read_text())
    result["wall"] = wall
    return result


def evaluate(results: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Rows of the printed table, with baselines, ratios and targets filled in."""
    rows = []
    nb = results.get("notebooks", {})
    for st in STAGES:
        r = results.get(st.id)
        if r is None:
            continue
        row = {"steg": st.label, "sekunder": "–", "topminne (MB)": "–", "baslinje": "–",
               "kvot": "–", "mål": st.target, "uppnått": "–"}
        if r["status"] == "saknas":
            row.update({"sekunder": "saknas ännu", "uppnått": "saknas ännu"})
            rows.append(row)
            continue
        if r["status"] == "fel":
            row.update({"sekunder": "fel", "uppnått": "fel (se nedan)"})
            rows.append(row)
            continue
        s, mb = float(r["seconds"]), float(r["peak_mb"])
        row["sekunder"] = sv(s, 2) if s < 10 else sv(s, 1)
        row["topminne (MB)"] = sv(mb, 0)
        achieved: bool | None = None
        if st.id == "modell":
            if r.get("baseline_s") is not None:
                row["baslinje"] = f"lme4 {sv(r['baseline_s'], 2)} s"
                row["kvot"] = r["ratio_text"]
            achieved = r.get("achieved_override")
        elif st.id == "rapporter":
            if nb.get("status") == "ok":
                speed = float(nb["seconds"]) / s
                row["baslinje"] = f"notebooks {sv(float(nb['seconds']), 0)} s"
                row["kvot"] = f"{sv(speed, 1)} × snabbare"
                r["ratio"] = speed
                achieved = speed >= REPORT_SPEEDUP_TARGET
        elif st.id == "huvudjobb":
            achieved = s <= MAIN_SECONDS_TARGET and mb <= MAIN_MB_TARGET
            model = results.get("modell", {})
            if model.get("baseline_s"):
                ratio = s / float(model["baseline_s"])
                row["baslinje"] = f"lme4 {sv(float(model['baseline_s']), 2)} s"
                row["kvot"] = f"{sv(ratio, 2)} × lme4"
                r["ratio_lme4"] = ratio
                achieved = achieved and ratio <= MAIN_LME4_RATIO_TARGET
        elif st.id == "elevbetyg":
            achieved = s <= PUPIL_SECONDS_TARGET
        elif st.id == "duckdb":
            achieved = r.get("achieved_override")
        elif st.id == "nationell":
            achieved = s <= NATIONAL_SECONDS_TARGET
        if st.target != "–":
            row["uppnått"] = {True: "ja", False: "NEJ", None: "–"}[achieved]
        r["achieved"] = achieved
        rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, str]]) -> str:
    cols = ["steg", "sekunder", "topminne (MB)", "baslinje", "kvot", "mål", "uppnått"]
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["---:"] * 4 + ["---"] * 2)
           + "|"]
    out += ["| " + " | ".join(r[c] for c in cols) + " |" for r in rows]
    return "\n".join(out)


def machine() -> dict[str, str]:
    info: dict[str, str] = {}
    info["nproc"] = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() \
        or str(os.cpu_count())
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info["cpu"] = cpu
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory"] = f"{int(line.split()[1]) / 2**20:.1f} GB"
    info["os"] = platform.platform()
    info["python"] = platform.python_version()
    versions = []
    from importlib import metadata
    for pkg in ("undervisning_analys", "numpy", "pandas", "scipy", "mixedlm", "pandera",
                "pyarrow", "duckdb", "jinja2", "matplotlib", "papermill", "psutil",
                "threadpoolctl"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg} –")
    info["packages"] = ", ".join(versions)
    r = shutil.which("Rscript")
    if r:
        v = subprocess.run([r, "-e", "cat(R.version.string, '; lme4', "
                                     "tryCatch(as.character(packageVersion('lme4')), "
                                     "error=function(e) '–'))"],
                           capture_output=True, text=True)
        info["R"] = v.stdout.strip() or "R (okänd version)"
    else:
        info["R"] = "saknas (lme4-baslinjen hoppas över)"
    info["blas_threads"] = os.environ.get("OPENBLAS_NUM_THREADS", "(ej satt)")
    with contextlib.suppress(OSError):
        info["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return info


def report_text(args: argparse.Namespace, rows: list[dict[str, str]],
                results: dict[str, dict[str, Any]], info: dict[str, str], total: float,
                profiles: dict[str, str]) -> str:
    lines = [f"Skala: {args.scale}; {time.strftime('%Y-%m-%d %H:%M')}; hela körningen "
             f"{sv(total, 0)} s", "", markdown_table(rows), ""]
    lines.append("Anteckningar per steg:")
    for st in STAGES:
        r = results.get(st.id)
        if r is None:
            continue
        for n in r.get("notes", []):
            lines.append(f"- {st.id}: {n}")
        if r.get("traceback"):
            lines.append(f"  ```\n  {r['traceback'].strip().replace(chr(10), chr(10) + '  ')}"
                         "\n  ```")
    analysis = [s for s in ("lasa", "index", "justering", "koppling", "rapporter")
                if results.get(s, {}).get("status") == "ok"]
    if ({"lasa", "rapporter"} <= set(analysis)
            and results.get("huvudjobb", {}).get("status") != "ok"):
        ssum = sum(float(results[s]["seconds"]) for s in ("lasa", "rapporter")
                   if results.get(s, {}).get("status") == "ok")
        peak = max(float(results[s]["peak_mb"]) for s in analysis)
        lines.append(f"- huvudjobb (ersättning tills CLI:t finns): läsa in + rapporter = "
                     f"{sv(ssum, 1)} s, största topminne bland stegen {sv(peak, 0)} MB")
    lines += ["", "Maskin:", f"- nproc: {info['nproc']}; CPU: {info['cpu']}; minne: "
              f"{info.get('memory', '?')}; belastning (1/5/15 min) vid start "
              f"{info.get('load_start', '?')}, vid slutet {info.get('load', '?')} (maskinen "
              "delas; belastning över 2 betyder att stegen väntat på processorn)",
              f"- {info['os']}; Python {info['python']}; OPENBLAS_NUM_THREADS "
              f"{info['blas_threads']}",
              f"- {info['packages']}", f"- {info['R']}"]
    for sid, text in profiles.items():
        lines += ["", f"Profil för {sid} (cProfile, de dyraste anropen):", "```",
                  text.strip(), "```"]
    return "\n".join(lines)


def _trim_profile(text: str, n: int = 22) -> str:
    """The header and the first ``n`` rows of each of the two pstats listings."""
    out, keep = [], 0
    for line in text.splitlines():
        if "ncalls" in line:
            keep = n + 1
        if keep > 0:
            out.append(line[:160])
            keep -= 1
        elif "function calls" in line:
            out.append(line.strip())
    return "\n".join(out)


def parent_main(args: argparse.Namespace) -> int:
    scale = wl.SCALES[args.scale]
    wanted = [s.id for s in STAGES] if not args.stages else \
        [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STAGE_BY_ID]
    if unknown:
        print(f"Okända steg: {', '.join(unknown)}. Stegen är: "
              f"{', '.join(s.id for s in STAGES)}", file=sys.stderr)
        return 2
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        if workdir == ROOT or ROOT in workdir.parents:
            print(f"Arbetsmappen {workdir} ligger i förrådet; välj en mapp utanför (elevfilerna "
                  "har syntetiska personnummer och får aldrig checkas in).", file=sys.stderr)
            return 2
        workdir.mkdir(parents=True, exist_ok=True)
        keep = True
    else:
        workdir = Path(tempfile.mkdtemp(prefix="ua-bench-"))
        keep = args.keep
    paths = wl.Paths(workdir)
    have = paths.manifest.exists() and json.loads(paths.manifest.read_text()).get(
        "scale") == scale.name
    if "generera" not in wanted and not have:
        wanted.insert(0, "generera")
    order = [s.id for s in STAGES if s.id in wanted]
    key = secrets.token_hex(16)
    print(f"Benchmark, skala {scale.name}; arbetsmapp {workdir}"
          + (" (sparas)" if keep else " (tas bort efteråt)"), flush=True)
    results: dict[str, dict[str, Any]] = {}
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    t_all = time.perf_counter()
    try:
        for sid in order:
            print(f"  {sid} …", end="", flush=True)
            r = run_stage(sid, args, workdir, key)
            results[sid] = r
            if r["status"] == "ok":
                print(f" {sv(float(r['seconds']), 2)} s, {sv(float(r['peak_mb']), 0)} MB",
                      flush=True)
            elif r["status"] == "saknas":
                print(" saknas ännu", flush=True)
            else:
                print(" fel: " + r["notes"][0][:200], flush=True)
        total = time.perf_counter() - t_all
        rows = evaluate(results)
        profiles: dict[str, str] = {}
        if args.profile_misses:
            for sid, r in results.items():
                if r.get("achieved") is False:
                    print(f"  profilerar {sid} …", flush=True)
                    run_stage(sid, args, workdir, key, profile=True)
                    p = workdir / f"profil_{sid}.txt"
                    if p.exists():
                        profiles[sid] = _trim_profile(p.read_text())
        info = machine()
        info["load_start"] = load_start
        text = report_text(args, rows, results, info, total, profiles)
        print()
        print(text)
        out = Path(args.results) if args.results else (RESULTS_MD if scale.name == "goteborg"
                                                       and not args.stages else None)
        if out is not None:
            kept = ""
            if out.exists() and HAND_WRITTEN in out.read_text():
                kept = "\n" + out.read_text()[out.read_text().index(HAND_WRITTEN):]
            out.write_text(RESULTS_HEADER.format(command=" ".join(
                ["benchmarks/run.py", *sys.argv[1:]])) + text + "\n" + kept)
            print(f"\nSkrev {out}")
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


HAND_WRITTEN = "## Analysis (hand-written; kept when the script rewrites this file)"
"""RESULTS.md from this heading on is kept when the script rewrites the file."""

RESULTS_HEADER = """# Benchmark: performance at municipality scale (issue 8)

Output of `make bench` (= `.venv/bin/python benchmarks/run.py`); last run:
`{command}`. The script writes everything down to the hand-written analysis;
benchmarks/run.py says how time and memory are measured, benchmarks/_workload.py
what the workload is. The table is in Swedish, as the package's output is.

"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=sorted(wl.SCALES), default="goteborg")
    ap.add_argument("--stages", default="",
                    help="kommaseparerade steg: " + ", ".join(s.id for s in STAGES))
    ap.add_argument("--workdir", default="",
                    help="arbetsmapp utanför förrådet (återanvänds och sparas)")
    ap.add_argument("--keep", action="store_true", help="spara den tillfälliga arbetsmappen")
    ap.add_argument("--results", default="", help="skriv tabellen hit (standard: "
                    "benchmarks/RESULTS.md för en hel körning i skala goteborg)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="anpassningar av kvalitetsmodellen (median), i Python och i R")
    ap.add_argument("--timeout", type=int, default=3600, help="sekunder per steg")
    ap.add_argument("--mem-limit-gb", type=float, default=12.0,
                    help="adressrymd per stegprocess (GB; 0 = ingen gräns), så att ett steg "
                         "som skenar får MemoryError i stället för att OOM-döda maskinen")
    ap.add_argument("--notebooks", type=int, default=0,
                    help="antal skolor i notebook-baslinjen (standard: skalans, 3 i goteborg)")
    ap.add_argument("--profile-misses", action="store_true",
                    help="kör steg som missar sitt mål igen med cProfile")
    ap.add_argument("--_stage", dest="stage", help=argparse.SUPPRESS)
    ap.add_argument("--_result", dest="result", help=argparse.SUPPRESS)
    ap.add_argument("--_key", dest="key", help=argparse.SUPPRESS)
    ap.add_argument("--_profile", dest="profile", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
