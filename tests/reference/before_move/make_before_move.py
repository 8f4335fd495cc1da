"""Write the values the public API gave BEFORE the engine/one-model move (issue #12).

Run once, from the repository root, on the code before the move:

    PYTHONPATH=. python tests/reference/before_move/make_before_move.py

tests/test_api_values_before_move.py compares the current code with these files.
The dataset is a small synthetic municipality (not data/sample, which changes).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import undervisning_analys as ua

OUT = Path(__file__).resolve().parent
SYNTH = dict(seed=12, n_schools=8, n_years=3,
             pupils_per_grade=(20, 40))


def dataset() -> ua.Dataset:
    return ua.synth.municipality(**SYNTH)


def frames(ds: ua.Dataset) -> dict[str, pd.DataFrame]:
    from undervisning_analys.measure import plan_observations
    from undervisning_analys.models.growth import growth

    q = ua.teaching_quality(ds, dimension="all")
    return {
        "teaching_quality": q.tidy(),
        "growth": growth(ds).tidy(),
        "growth_d1": growth(ds, dimension=next(iter(ds.instrument.dimension_names()))).tidy(),
        "link": ua.link(ds).tidy(),
        "plan_observations": plan_observations(ds).tidy(),
    }


if __name__ == "__main__":
    for name, df in frames(dataset()).items():
        df.to_csv(OUT / f"{name}.csv", index=False, float_format="%.17g")
        print(name, df.shape)
