"""Reports for every school: one shared context against one notebook per school.

    .venv/bin/python benchmarks/bench_reports_vs_notebooks.py                 # the sample
    .venv/bin/python benchmarks/bench_reports_vs_notebooks.py --skolor 200    # synthetic, 200 schools
    .venv/bin/python benchmarks/bench_reports_vs_notebooks.py --notebooks 0   # reports only

What is timed, in this process and on the same data:

* ``build_context``: every model fitted once for the whole municipality
  (teaching-quality index per dimension, coverage, agreement, the decision
  study, growth, adjusted results, the link);
* ``write_all`` with one process and with ``--processer`` processes: every
  school report, the municipality report and ``index.html``, sharing the
  context (the per-school time is the rendering only);
* the naive route (baseline): ``notebooks/02_skolans_kvalitetsdialog.ipynb``
  executed with papermill for ``--notebooks`` schools (a new kernel that
  loads the data and fits every model again each time), the mean
  extrapolated to all schools.

The speed-up is (notebook per school × schools) / (context + write_all). The
synthetic municipality is written in the sample's file formats to a
temporary folder so that the notebook reads the same files as the reports.
Results are printed and appended to ``benchmarks/out/reports_vs_notebooks.csv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NOTEBOOK = ROOT / "notebooks" / "02_skolans_kvalitetsdialog.ipynb"
OUT_CSV = ROOT / "benchmarks" / "out" / "reports_vs_notebooks.csv"


def sv(x: float, nd: int = 1) -> str:
    return f"{x:,.{nd}f}".replace(",", " ").replace(".", ",")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Rapporter för alla skolor mot en notebook per skola.")
    ap.add_argument("--skolor", type=int, default=0,
                    help="antal skolor i en syntetisk kommun (0 = exempelkommunen data/sample)")
    ap.add_argument("--notebooks", type=int, default=2,
                    help="antal skolor att köra notebooken för (baslinjen); 0 hoppar över den")
    ap.add_argument("--processer", type=int, default=2, help="processer för skolrapporterna")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    import undervisning_analys as ua
    from undervisning_analys import report, synth
    from undervisning_analys.sample import load_folder, write_sample

    work = Path(tempfile.mkdtemp(prefix="ua-bench-rapporter-"))
    try:
        if args.skolor:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds0 = synth.municipality(seed=args.seed, n_schools=args.skolor, n_years=5,
                                         compute_slope=False)
            folder = work / "indata"
            write_sample(ds0, folder)
            print(f"Syntetisk kommun med {args.skolor} skolor: {sv(time.perf_counter() - t0)} s")
            ds = load_folder(folder)
            label = f"syntetisk, {args.skolor} skolor"
        else:
            folder = None
            ds = ua.load_sample()
            label = "exempelkommunen (data/sample)"
        n = len(ds.schools)

        rows: list[tuple[str, float, str]] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            ctx = report.build_context(ds)
            t_ctx = time.perf_counter() - t0
        rows.append(("build_context (alla modeller en gång)", t_ctx,
                     ", ".join(f"{k} {sv(v)}" for k, v in ctx.timings.items())))
        t_write = {}
        for procs in sorted({1, max(1, args.processer)}):
            out = work / f"rapporter_{procs}"
            t0 = time.perf_counter()
            written = report.write_all(ds, out, context=ctx, processes=procs)
            t_write[procs] = time.perf_counter() - t0
            rows.append((f"write_all, {procs} process{'er' if procs > 1 else ''}",
                         t_write[procs],
                         f"{len(written.schools)} skolrapporter; "
                         f"{sv(1000 * t_write[procs] / n, 0)} ms per skola"))
        best = min(t_write.values())
        ours = t_ctx + best

        per_nb = None
        if args.notebooks > 0:
            import papermill

            ids = ctx.school_ids()
            step = max(1, len(ids) // args.notebooks)
            sample = ids[::step][: args.notebooks]
            times = []
            for sid in sample:
                params = {"school_id": sid, "out_dir": str(work / "nb" / sid)}
                if folder is not None:
                    params["data_folder"] = str(folder)
                t0 = time.perf_counter()
                papermill.execute_notebook(str(NOTEBOOK), str(work / f"nb_{sid}.ipynb"),
                                           parameters=params, kernel_name="python3",
                                           progress_bar=False, cwd=str(work))
                times.append(time.perf_counter() - t0)
            per_nb = sum(times) / len(times)
            rows.append((f"baslinje: notebook 02 per skola ({len(times)} körda)", per_nb * n,
                         f"medel {sv(per_nb)} s × {n} skolor (extrapolerat)"))

        print(f"\nRapporter för {label}: {n} skolor, {os.cpu_count()} kärnor, "
              f"Python {platform.python_version()}")
        width = max(len(r[0]) for r in rows)
        for name, sec, note in rows:
            print(f"  {name:<{width}}  {sv(sec):>8} s   {note}")
        print(f"  {'huvudjobbets rapportdel (kontext + bästa write_all)':<{width}}  "
              f"{sv(ours):>8} s")
        if per_nb is not None:
            print(f"\nSnabbare än en notebook per skola: {sv(per_nb * n / ours)} gånger "
                  f"(mål ≥ 10)")
        OUT_CSV.parent.mkdir(parents=True, exist_ok=True)
        new = not OUT_CSV.exists()
        with OUT_CSV.open("a", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(["datum", "data", "skolor", "karnor", "build_context_s",
                            "write_all_1_s", f"write_all_{args.processer}_s",
                            "notebook_per_skola_s", "speedup"])
            w.writerow([dt.datetime.now().isoformat(timespec="seconds"), label, n,
                        os.cpu_count(), round(t_ctx, 2), round(t_write.get(1, float("nan")), 2),
                        round(t_write.get(args.processer, float("nan")), 2),
                        "" if per_nb is None else round(per_nb, 2),
                        "" if per_nb is None else round(per_nb * n / ours, 1)])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
