"""Loading a folder of 2,000 saved API v4 responses (issue 13): time and profile.

    .venv/bin/python benchmarks/bench_api_folder.py            # 1,000 units = 2,000 files
    .venv/bin/python benchmarks/bench_api_folder.py --units 250 --profile 25

The folder is generated from the real responses in ``../shared/real-data/
skolverket-api-v4`` (their structure and values; only the unit codes and the
URLs change): each of the 20 real units is the template for 1/20 of the new
units, one ``/school-units/{code}`` and one ``/statistics/gr`` response each, the
two saved list responses in ``listor/`` beside them, as a cache saves them.

Measured, in one process, each best of ``--repeat``:

* ``read_skolverket_api(folder)`` as it is;
* the same with the personnummer guard as it was before issue 13 (a table of
  every statistic's values through ``refuse_personnummer_columns`` for every
  file), for the ratio;
* a cProfile of the current reader, top functions by cumulative time.

Results (seconds, ratio, profile) are printed and written to
``benchmarks/results/bench_api_folder.md``. Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
REAL_API = Path(os.environ.get("UA_REAL_DATA", REPO.parent / "shared" / "real-data")) \
    / "skolverket-api-v4"


def make_folder(dst: Path, units: int) -> int:
    """Write ``units`` × 2 responses (plus the list responses); return the file count."""
    templates = sorted(REAL_API.glob("school-unit-*-statistics-gr.json"))
    codes = [f.name.split("-")[2] for f in templates]
    n = 0
    for k in range(units):
        src = codes[k % len(codes)]
        new = f"{90000000 + k:08d}"
        for suffix in ("", "-statistics-gr"):
            text = (REAL_API / f"school-unit-{src}{suffix}.json").read_text(encoding="utf-8")
            doc = json.loads(text)
            doc["url"] = doc["url"].replace(src, new)
            body = doc["json"]["body"]
            if "schoolUnit" in body:
                body["schoolUnit"] = new
            if "code" in body:
                body["code"] = new
            (dst / f"school-unit-{new}{suffix}.json").write_text(
                json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            n += 1
    shutil.copytree(REAL_API / "listor", dst / "listor")
    return n + 2


def _old_guard(body, p):  # the guard as it was before issue 13, for the ratio
    import pandas as pd

    from undervisning_analys.privacy import refuse_personnummer_columns

    cols = {k: [e.get("value") if isinstance(e, dict) else e for e in v]
            for k, v in body.items() if isinstance(v, list) and v}
    if cols:
        width = max(len(v) for v in cols.values())
        raw = pd.DataFrame({k: v + [None] * (width - len(v)) for k, v in cols.items()},
                           index=range(1, width + 1))
        refuse_personnummer_columns(raw, p)


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", type=int, default=20, help="rows of the profile to show")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if not REAL_API.is_dir():
        print("../shared/real-data/skolverket-api-v4 saknas", file=sys.stderr)
        return 2
    from undervisning_analys.io import read_skolverket_api
    from undervisning_analys.io import skolverket_api as api

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "api"
        folder.mkdir()
        n_files = make_folder(folder, args.units)
        df = read_skolverket_api(folder)  # warm-up (imports, file cache)
        rows = len(df)
        assert df["municipality_id"].notna().all()
        now = best_of(lambda: read_skolverket_api(folder), args.repeat)
        new_guard = api._guard
        api._guard = _old_guard
        try:
            before = best_of(lambda: read_skolverket_api(folder), args.repeat)
        finally:
            api._guard = new_guard
        prof = cProfile.Profile()
        prof.enable()
        read_skolverket_api(folder)
        prof.disable()
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf).sort_stats("cumulative")
        st.print_stats(args.profile)
        total = sum(v[3] for v in st.stats.values() if v[3] > 0) and st.total_tt
        guard_t = sum(v[3] for k, v in st.stats.items() if k[2] == "_guard")
    profile = "\n".join(ln for ln in buf.getvalue().splitlines() if ln.strip())
    lines = [
        f"# Loading {n_files} saved API v4 responses ({args.units} units)",
        "",
        f"Command: `python benchmarks/bench_api_folder.py --units {args.units} "
        f"--repeat {args.repeat}`",
        "",
        f"* rows read: {rows} (every row with its municipality code)",
        f"* read_skolverket_api(folder), now: {now:.2f} s (best of {args.repeat})",
        f"* with the personnummer guard as before issue 13: {before:.2f} s",
        f"* ratio before/now: {before / now:.2f}",
        f"* the guard's share of the profiled run now: {guard_t / total:.1%}",
        "",
        "Profile of the current reader (cumulative):",
        "",
        "```",
        profile,
        "```",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        out = REPO / "benchmarks" / "results" / "bench_api_folder.md"
        out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
