"""Write the data sets of ``clubsandwich_reference.R`` (run from the repository root).

    python tests/reference/clubsandwich_data.py && Rscript tests/reference/clubsandwich_reference.R

Four cases, one CSV each (``clubsandwich_<case>.csv``), every column of the
design written out so that R fits exactly the design Python uses:

* ``equal`` – 15 clusters of 4 rows, ``y ~ x1 + x2``, heteroskedastic errors;
* ``unequal`` – 18 clusters of 1–8 rows (one singleton), interleaved;
* ``mundlak`` – an unbalanced school × year panel and the link's own design
  (``models.link_estimate.design``: within, between, year dummies and the
  school means of the year dummies);
* ``twoway`` – the same panel with school and year dummies (two-way fixed
  effects, ``y ~ x + factor(school) + factor(year)``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def panel(seed: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(14):
        a, b = rng.normal(0, 1), rng.normal(0, 0.3)
        for t, year in enumerate(["2020/21", "2021/22", "2022/23", "2023/24", "2024/25"]):
            if rng.random() < 0.2 and t > 0:
                continue  # unbalanced: some school-years missing
            x = 2.5 + 0.3 * a + b * t + rng.normal(0, 0.2)
            y = 200 + 10 * a + 15 * x + 2 * t + rng.normal(0, 6 * (1 + (s % 3 == 0)))
            rows.append({"school_id": f"S{s:02d}", "school_year": year, "x": x, "y": y})
    return pd.DataFrame(rows)


def main() -> None:
    rng = np.random.default_rng(2024)
    g = np.repeat(np.arange(15), 4)
    x1, x2 = rng.normal(size=60), rng.binomial(1, 0.4, size=60).astype(float)
    y = 1 + 0.5 * x1 - 0.3 * x2 + rng.normal(size=60) * (1 + np.abs(x1)) \
        + np.repeat(rng.normal(0, 0.7, 15), 4)
    pd.DataFrame({"cluster": g, "y": y, "x1": x1, "x2": x2}).to_csv(
        HERE / "clubsandwich_equal.csv", index=False, float_format="%.17g")

    sizes = np.array([1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 5, 8, 4, 6, 3, 2, 7, 5])
    g = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(g)                                   # clusters interleaved
    n = len(g)
    x1, x2 = rng.normal(size=n), rng.normal(size=n) + (g % 4 == 0)
    y = 2 - 0.4 * x1 + 0.8 * x2 + rng.normal(size=n) * (0.5 + (g % 3 == 1)) \
        + rng.normal(0, 0.5, len(sizes))[g]
    pd.DataFrame({"cluster": g, "y": y, "x1": x1, "x2": x2}).to_csv(
        HERE / "clubsandwich_unequal.csv", index=False, float_format="%.17g")

    from undervisning_analys.models.link_estimate import design

    p = panel()
    X, names, _ = design(p)
    d = pd.DataFrame(X[:, 1:], columns=[n.replace("/", "_") for n in names[1:]])
    d.insert(0, "y", p["y"].to_numpy())
    d.insert(0, "cluster", p["school_id"].to_numpy())
    d.to_csv(HERE / "clubsandwich_mundlak.csv", index=False, float_format="%.17g")
    p.rename(columns={"school_id": "cluster"}).to_csv(
        HERE / "clubsandwich_twoway.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
