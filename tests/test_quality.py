"""Code quality gates that run with the tests: ruff and mypy (configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(args, repo):
    return subprocess.run([sys.executable, "-m", *args], cwd=repo, capture_output=True,
                          text=True, timeout=600)


def test_ruff_clean(repo):
    r = _run(["ruff", "check", "undervisning_analys", "tests", "benchmarks", "scripts"], repo)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_mypy_clean(repo):
    r = _run(["mypy"], repo)
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_is_light():
    """`import undervisning_analys` must not load the model engine or matplotlib."""
    code = ("import sys, undervisning_analys; "
            "print(any(m.startswith(('mixedlm', 'matplotlib', 'statsmodels')) "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
