"""Shared fixtures: the sample Dataset, a small synthetic municipality, real-data paths."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "real-data"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip("../shared/real-data saknas (CI har den bredvid utcheckningen)")
    return REAL_DATA


@pytest.fixture(scope="session")
def sample_ds():
    from undervisning_analys.sample import load_sample

    return load_sample()


@pytest.fixture(scope="session")
def synth_ds():
    """The generator's Dataset behind data/sample (municipality plus its outcomes)."""
    from undervisning_analys.sample import sample_dataset

    return sample_dataset()


@pytest.fixture(scope="session")
def small_ds():
    from undervisning_analys import synth

    return synth.municipality(seed=11, n_schools=8, n_years=3, effect=0.3)


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch):
    # Tests that need the key set it explicitly; never inherit one from the shell.
    monkeypatch.delenv("UA_PSEUDONYM_KEY", raising=False)
    os.environ.setdefault("MPLBACKEND", "Agg")
