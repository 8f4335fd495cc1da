"""The engine layer: the optimiser path fit_mixed records, and the one BLAS-thread rule."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

from undervisning_analys.engine.mixed import fit_mixed
from undervisning_analys.engine.threads import one_blas_thread
from undervisning_analys.errors import ModelError


def _data(seed: int = 4, n_groups: int = 30, n_per: int = 12, slope_sd: float = 0.4
          ) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat([f"G{i:02d}" for i in range(n_groups)], n_per)
    x = rng.normal(size=g.size)
    u0 = np.repeat(rng.normal(scale=0.8, size=n_groups), n_per)
    u1 = np.repeat(rng.normal(scale=slope_sd, size=n_groups), n_per)
    y = 1 + 0.5 * x + u0 + u1 * x + rng.normal(size=g.size)
    return pd.DataFrame({"g": g, "x": x, "y": y})


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_the_package_path_is_recorded_and_reaches_the_engines_optimum():
    d = _data()
    ours = fit_mixed("y ~ x + (1 + x | g)", d)
    path = ours.optimizer_path
    assert path["optimizers"][0] == "L-BFGS-B" and path["optimizer"] in path["optimizers"]
    assert path["evaluations"] >= path["iterations"] > 0
    assert path["converged"] and ours.converged
    engine = fit_mixed("y ~ x + (1 + x | g)", d, optimizer="COBYQA")
    assert engine.optimizer_path["optimizers"] == ["COBYQA"]
    assert ours.reml_criterion == pytest.approx(engine.reml_criterion, rel=1e-9)
    np.testing.assert_allclose(ours.fixef, engine.fixef, atol=1e-5)


def test_a_correlated_variance_at_zero_is_checked_without_gradients():
    """No slope variance in the data: the gradient stage cannot be trusted at the
    boundary of a correlated block, so the engine's default path continues from it."""
    d = _data(slope_sd=0.0, seed=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_mixed("y ~ x + (1 + x | g)", d)
        ref = fit_mixed("y ~ x + (1 + x | g)", d, optimizer="COBYQA")
    path = res.optimizer_path
    assert res.singular
    assert path["optimizers"][:2] == ["L-BFGS-B", "L-BFGS-B"] and path["optimizer"] == "COBYQA"
    assert sum(s["evaluations"] for s in path["stages"]) == path["evaluations"]
    assert res.reml_criterion <= ref.reml_criterion * (1 + 1e-9)


def test_one_blas_thread_is_shared_and_restored():
    before = _blas_threads()
    with one_blas_thread():
        assert set(_blas_threads()) <= {1}
        with one_blas_thread():
            assert set(_blas_threads()) <= {1}
        assert set(_blas_threads()) <= {1}  # the inner exit did not restore
        seen: list[list[int]] = []
        t = threading.Thread(target=lambda: seen.append(_blas_threads()))
        with one_blas_thread():
            t.start()
            t.join()
        assert set(seen[0]) <= {1}
    assert _blas_threads() == before


def test_blas_threads_option():
    d = _data(n_groups=10, n_per=5)
    assert fit_mixed("y ~ x + (1 | g)", d, blas_threads=None).nobs == len(d)
    with pytest.raises(ModelError, match="blas_threads ska vara 1 eller None"):
        fit_mixed("y ~ x + (1 | g)", d, blas_threads=2)
