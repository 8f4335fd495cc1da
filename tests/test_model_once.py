"""The teaching-quality model is fitted once per Dataset and dimension (issue #12).

``ua.teaching_quality``, ``ua.growth``, ``ua.link`` and ``ua.plan_observations``
read the same fitted object; the engine's fit function is counted.
"""

from __future__ import annotations

import pickle
import warnings
from collections import Counter

import pytest

import undervisning_analys as ua
from undervisning_analys.engine import mixed as engine_mixed


@pytest.fixture()
def ds():
    return ua.synth.municipality(seed=5, n_schools=6, n_years=3)


@pytest.fixture()
def counted(monkeypatch):
    calls: Counter = Counter()
    real = engine_mixed.fit_mixed

    def counting(formula, data, *args, **kwargs):
        calls[formula.split("~")[0].strip(), len(data)] += 1
        return real(formula, data, *args, **kwargs)

    monkeypatch.setattr(engine_mixed, "fit_mixed", counting)
    return calls


def test_front_doors_fit_each_dimension_once(ds, counted):
    dims = [d.id for d in ds.instrument.dimensions]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq = ua.teaching_quality(ds, dimension="all")
        after_index = sum(counted.values())
        g = ua.growth(ds)
        g1 = ua.growth(ds, dimension=dims[0])
        lk = ua.link(ds)
        plan = ua.plan_observations(ds)
        plan1 = ua.plan_observations(ds, dimension=dims[0])
    assert after_index == 1 + len(dims)
    assert sum(counted.values()) == after_index, counted
    # and they read the same object
    assert g.model is tq.model("overall").fit
    assert g1.model is tq.model(dims[0]).fit
    assert plan.components is tq.components("overall")
    assert plan1.components is tq.components(dims[0])
    assert lk.tidy()["estimate"].notna().all()


def test_a_new_dataset_fits_again_and_a_copy_starts_empty(ds, counted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ua.teaching_quality(ds)
        ua.teaching_quality(ds)
        assert sum(counted.values()) == 1
        twin = ua.synth.municipality(seed=5, n_schools=6, n_years=3)
        ua.teaching_quality(twin)
        assert sum(counted.values()) == 2
        copy = pickle.loads(pickle.dumps(ds))
        ua.teaching_quality(copy)
        assert sum(counted.values()) == 3


def test_variance_components_and_index_share_the_model(ds, counted):
    from undervisning_analys.measure import teaching_quality_model, variance_components

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp = variance_components(ds)
        model = teaching_quality_model(ds)
        tq = ua.teaching_quality(ds, by=["school", "municipality"])
    assert comp is model.components
    assert tq.model("overall") is model
    assert sum(counted.values()) == 1
    path = model.diagnostics
    assert path["evaluations"] > 0 and path["optimizer"] in path["optimizers"]
