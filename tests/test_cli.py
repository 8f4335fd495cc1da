"""The command line: exit codes, Swedish help and messages, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from undervisning_analys import cli, synth
from undervisning_analys.sample import write_sample


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A small municipality written in the sample's real file formats."""
    ds = synth.municipality(seed=5, n_schools=6, n_years=3, pupils_per_grade=(8, 30))
    out = tmp_path_factory.mktemp("kommun")
    write_sample(ds, out)
    return out


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse: --hjälp, --version, usage errors
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_is_swedish(capsys):
    code, out, _ = run(capsys, "--hjälp")
    assert code == 0
    assert "Användning:" in out and "validera" in out and "rapporter" in out
    assert "kommandon" in out and "visa den här hjälptexten" in out
    assert "usage:" not in out and "show this help" not in out
    code, out, _ = run(capsys, "rapporter", "--hjälp")
    assert code == 0 and "--ut UTMAPP" in out and "--skola KOD" in out


def test_missing_command_is_a_swedish_usage_error(capsys):
    code, _, err = run(capsys)
    assert code == 2
    assert "fel:" in err and "måste anges" in err and "Användning:" in err
    code, _, err = run(capsys, "rapporter", "data/sample")
    assert code == 2 and "--ut" in err and "måste anges" in err
    assert "Användning: Användning" not in err
    code, _, err = run(capsys, "slå-ihop")
    assert code == 2 and "ogiltigt val" in err


def test_validera_summarises_what_was_read(capsys, folder):
    code, out, err = run(capsys, "validera", str(folder))
    assert code == 0, err
    assert "lästes in" in out and "Datamängd: 6 skolenheter" in out
    assert "observationer.csv" in out and "sha256" in out
    assert "lästa" in out and "behållna" in out and "Rader som inte behölls" in out
    assert "Inga fel hittades" in out


def test_validera_missing_folder(capsys, tmp_path):
    code, out, err = run(capsys, "validera", str(tmp_path / "finns-inte"))
    assert code == 2
    assert "finns inte" in err and "Traceback" not in err


def test_validera_bad_file_names_file_row_and_column(capsys, folder, tmp_path):
    bad = tmp_path / "trasig"
    bad.mkdir()
    for p in folder.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    lines = (bad / "observationer.csv").read_text(encoding="utf-8-sig").splitlines()
    cells = lines[3].split(",")
    cells[-1] = "7"  # the scale is 1–4
    lines[3] = ",".join(cells)
    (bad / "observationer.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = run(capsys, "validera", str(bad))
    assert code == 2
    assert "observationer.csv" in err and "rad" in err and "Traceback" not in err


def test_rapporter_writes_reports_and_says_where(capsys, folder, tmp_path):
    out_dir = tmp_path / "rapporter"
    code, out, err = run(capsys, "rapporter", str(folder), "--ut", str(out_dir), "--tyst",
                         "--processer", "1")
    assert code == 0, err
    assert "Rapporterna finns i" in out and str(out_dir.resolve()) in out
    files = sorted(p.name for p in out_dir.iterdir())
    assert "index.html" in files and "kommun.html" in files
    assert sum(f.startswith("skola_") for f in files) == 6
    assert "Klart: 6 skolrapporter" in out


def test_rapporter_one_school_and_unknown_school(capsys, folder, tmp_path):
    from undervisning_analys.sample import load_folder

    sid = sorted(load_folder(folder).schools["school_id"])[0]
    code, out, err = run(capsys, "rapporter", str(folder), "--ut", str(tmp_path / "a"),
                         "--skola", sid, "--tyst")
    assert code == 0, err
    assert (tmp_path / "a" / f"skola_{sid}.html").exists()
    assert "Klart: 1 skolrapport," in out
    code, _, err = run(capsys, "rapporter", str(folder), "--ut", str(tmp_path / "b"),
                       "--skola", "12345678", "--tyst")
    assert code == 2
    assert "12345678" in err and "finns inte i skolregistret" in err
    assert "Traceback" not in err


def test_entry_point_runs_as_a_process(tmp_path):
    """The installed command: real exit codes and stderr, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "undervisning_analys.cli", "validera",
                           str(tmp_path / "saknas")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "undervisning-analys: fel:" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "undervisning_analys.cli", "--version"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "undervisning-analys" in proc.stdout
