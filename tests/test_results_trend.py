"""results_trend: schools' levels and trends in results, estimated from all years."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from undervisning_analys.errors import ModelError
from undervisning_analys.models.results_trend import MIN_YEARS, results_trend

YEARS = [f"{y}/{(y + 1) % 100:02d}" for y in range(2020, 2025)]


def _panel(seed: int, n_schools: int = 25, sd_level: float = 8.0, sd_trend: float = 1.5,
           sd_noise: float = 6.0, planted: dict[int, tuple[float, float]] | None = None
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """value = level[s] + trend[s] * (year - 2022) + noise / sqrt(n / 50)."""
    rng = np.random.default_rng(seed)
    level = sd_level * rng.standard_normal(n_schools)
    trend = sd_trend * rng.standard_normal(n_schools)
    for k, (lv, tr) in (planted or {}).items():
        level[k], trend[k] = lv, tr
    n = rng.integers(20, 120, size=n_schools)
    rows = []
    for s in range(n_schools):
        for yi, sy in enumerate(YEARS):
            e = sd_noise * rng.standard_normal() / np.sqrt(n[s] / 50)
            rows.append({"school_id": f"99{s:06d}", "school_year": sy, "n": float(n[s]),
                         "value": level[s] + trend[s] * (yi - 2) + e})
    truth = pd.DataFrame({"school_id": [f"99{s:06d}" for s in range(n_schools)],
                          "true_level": level, "true_trend": trend})
    return pd.DataFrame(rows), truth


def test_recovers_known_levels_and_trends_over_seeds():
    cover_level, cover_trend = [], []
    slope_err: list[tuple[float, float, float]] = []
    for seed in range(12):
        data, truth = _panel(seed)
        r = results_trend(data=data)
        lv = r.school_levels().merge(truth, on="school_id")
        tr = r.school_trends().merge(truth, on="school_id")
        cover_level.append(lv["true_level"].between(lv["conf_low"], lv["conf_high"]).mean())
        cover_trend.append(tr["true_trend"].between(tr["conf_low"], tr["conf_high"]).mean())
        t = data["school_year"].str[:4].astype(int)
        ols = data.assign(t=t).groupby("school_id")[["t", "value"]].apply(
            lambda g: np.polyfit(g["t"], g["value"], 1)[0]).reindex(tr["school_id"])
        slope_err.append((np.sqrt(np.mean((tr["estimate"] - tr["true_trend"]) ** 2)),
                          np.sqrt(np.mean((ols.to_numpy() - tr["true_trend"]) ** 2)),
                          np.mean(tr["estimate"] - tr["true_trend"])))
    # intervals hold the truth about 95 % of the time (conservative SE: a little more)
    assert 0.90 <= np.mean(cover_level) <= 0.995
    assert 0.90 <= np.mean(cover_trend) <= 0.995
    # shrinkage helps: the model's trends are closer to the truth than each school's own
    # least-squares slope, and unbiased over seeds
    err = np.array(slope_err)
    assert err[:, 0].mean() < 0.9 * err[:, 1].mean()
    assert abs(err[:, 2].mean()) < 0.3


def test_trend_is_not_the_difference_of_two_years():
    """A school reading 255, 241, 257, 256, 256 has a trend near +2, not +14."""
    data, _ = _panel(3, sd_trend=0.0, sd_level=5.0)
    vals = [255.0, 241.0, 257.0, 256.0, 256.0]
    mask = data["school_id"] == "99000000"
    data.loc[mask, "value"] = np.array(vals) - 250
    r = results_trend(data=data)
    t = r.school_trends().set_index("school_id").loc["99000000"]
    ols = np.polyfit(np.arange(5), vals, 1)[0]
    assert abs(t["estimate"]) < 5
    assert abs(t["estimate"] - ols) < 3          # near the all-year slope (+2.6) …
    assert abs(t["estimate"] - (vals[-1] - vals[1])) > 8  # … far from 256 − 241
    assert t["conf_low"] < 0 < t["conf_high"]


def test_persistent_difference_found_when_no_single_year_excludes_zero():
    # a school 15–22 points above expectation in every year; single-year prediction
    # intervals of about ±25 points (se 13) each cross zero
    data, _ = _panel(5, sd_level=6.0, sd_trend=0.5, sd_noise=4.0)
    mask = data["school_id"] == "99000007"
    data.loc[mask, "value"] = [15.0, 22.0, 18.0, 16.0, 21.0]
    yearly_se = 13.0
    assert all(v - 1.96 * yearly_se < 0 for v in data.loc[mask, "value"])
    lv = results_trend(data=data).school_levels().set_index("school_id").loc["99000007"]
    assert lv["conf_low"] > 0
    assert 12 < lv["estimate"] < 22


def test_pooled_level_test_has_its_size_and_power_over_seeds():
    """No school differs: few levels exclude zero. One planted +12: found in most seeds."""
    false, found = [], []
    for seed in range(10):
        data, _ = _panel(100 + seed, sd_level=0.0, sd_trend=0.0, planted={0: (12.0, 0.0)})
        lv = results_trend(data=data).school_levels()
        others = lv[lv["school_id"] != "99000000"]
        false.append(((others["conf_low"] > 0) | (others["conf_high"] < 0)).mean())
        found.append(float(lv.iloc[0]["conf_low"] > 0))
    assert np.mean(false) < 0.05
    assert np.mean(found) >= 0.8


def test_small_school_is_shrunk_towards_the_municipality():
    data, _ = _panel(7, sd_trend=1.0)
    sid = "99000004"
    mask = data["school_id"] == sid
    data.loc[mask, "value"] = [-12.0, -6.0, 0.0, 6.0, 12.0]   # own slope +6
    big = results_trend(data=data.assign(n=np.where(mask, 400.0, data["n"])))
    small = results_trend(data=data.assign(n=np.where(mask, 10.0, data["n"])))
    t_big = big.school_trends().set_index("school_id").loc[sid]
    t_small = small.school_trends().set_index("school_id").loc[sid]
    m = small.municipality_trend["estimate"]
    assert abs(t_small["estimate"] - m) < abs(t_big["estimate"] - m)
    assert (t_small["conf_high"] - t_small["conf_low"]) > (t_big["conf_high"] - t_big["conf_low"])


def test_school_with_too_few_years_keeps_its_row_with_a_note():
    data, _ = _panel(2)
    sid = "99000003"
    drop = (data["school_id"] == sid) & data["school_year"].isin(YEARS[:3])
    data.loc[drop, "value"] = np.nan
    r = results_trend(data=data)
    row = r.school_trends().set_index("school_id").loc[sid]
    assert np.isnan(row["estimate"]) and row["n_years"] == 2 < MIN_YEARS
    assert row["n_years_missing"] == 3
    assert "för få läsår" in row["note"]


def test_too_few_schools_is_a_swedish_error():
    data, _ = _panel(1, n_schools=2)
    with pytest.raises(ModelError, match="För få värden för trender"):
        results_trend(data=data)


def test_on_a_synthetic_municipality():
    import undervisning_analys as ua

    ds = ua.synth.municipality(seed=4, n_schools=12, compute_slope=False)
    r = results_trend(ds, "merit_17")
    t = r.tidy()
    assert set(t["component"]) == {"school_level", "school_trend", "municipality_level",
                                   "municipality_trend", "level_sd", "trend_sd"}
    assert r.info["years"][0] == "2020/21" and len(r.school_trends()) == 12
    # the adjusted levels follow the schools' true pupil effects
    lv = r.school_levels().merge(ds.truth.school_params, on="school_id")
    assert np.corrcoef(lv["estimate"], lv["pupil_re"])[0, 1] > 0.5
    assert "Kommunens trend" in str(r.summary())
    raw = results_trend(ds, "merit_17", adjusted=False)
    assert raw.tidy()["basis"].eq("observed").all()
    with pytest.raises(ModelError, match="Okänt mått"):
        results_trend(ds, "inget_matt")
