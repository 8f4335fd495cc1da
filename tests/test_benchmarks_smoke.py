"""The benchmark command runs end to end at a small scale and prints its table.

A benchmark measures; this test only checks behaviour: the command finishes,
the table has one row per stage and the seven columns, every stage either ran
or says it has not landed yet ("saknas ännu"), and the temporary folder with
the synthetic pupil files is gone afterwards. No timing is asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

COLUMNS = ["steg", "sekunder", "topminne (MB)", "baslinje", "kvot", "mål", "uppnått"]
NUMBER = re.compile(r"^\d[\d ]*(,\d+)?$")


def _table(text: str) -> list[list[str]]:
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    return [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]


@pytest.mark.slow
def test_small_benchmark_prints_the_table(repo: Path, tmp_path: Path) -> None:
    sys.path.insert(0, str(repo / "benchmarks"))
    try:
        import run as bench
    finally:
        sys.path.remove(str(repo / "benchmarks"))
    out_md = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, str(repo / "benchmarks" / "run.py"), "--scale", "small",
         "--results", str(out_md), "--timeout", "600"],
        capture_output=True, text=True, timeout=1500, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-2000:]

    rows = _table(proc.stdout)
    assert rows[0] == COLUMNS
    body = rows[1:]
    assert [r[0] for r in body] == [s.label for s in bench.STAGES]
    assert all(len(r) == len(COLUMNS) for r in body)
    for r in body:
        assert NUMBER.match(r[1]) or r[1] == "saknas ännu", r
        if NUMBER.match(r[1]):
            assert NUMBER.match(r[2]), r              # peak memory in MB
        assert r[6] in {"ja", "NEJ", "–", "saknas ännu"}, r
    first = dict(zip([s.id for s in bench.STAGES], body))
    assert NUMBER.match(first["generera"][1])          # the workload itself always runs
    # the kept copy is the printed table
    assert _table(out_md.read_text()) == rows
    assert "nproc" in out_md.read_text()

    workdir = re.search(r"arbetsmapp (\S+)", proc.stdout)
    assert workdir is not None
    assert not Path(workdir.group(1)).exists()        # synthetic personnummer deleted
