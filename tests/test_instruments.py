"""Observation protocols: the default loads; a user's protocol is checked; scoring rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from undervisning_analys.errors import InstrumentError
from undervisning_analys.instruments import (
    DEFAULT_INSTRUMENT,
    instrument_from_dict,
    load_instrument,
)


def test_default_instrument_is_evidence_based_and_swedish():
    inst = load_instrument()
    assert inst.id == DEFAULT_INSTRUMENT
    assert [d.id for d in inst.dimensions] == ["klassrumsledning", "elevstod",
                                               "kognitiv_aktivering"]
    assert inst.scale == (1, 4)
    assert inst.labels[4] == "Övervägande starkt"
    assert any("Praetorius" in r for r in inst.references)
    assert inst.reversed_items() == ["KL4"]
    assert len(inst.describe()) == 12


def _base():
    return yaml.safe_load(load_instrument().raw and yaml.safe_dump(load_instrument().raw))


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.pop("scale"), "saknar fältet `scale`"),
    (lambda d: d["scale"].update(min=4, max=1), "mindre än max"),
    (lambda d: d["dimensions"][0]["items"].append({"id": "KL1", "text": "x"}), "KL1` finns två"),
    (lambda d: d["dimensions"][1]["items"][0].update(reverse="ja"), "ska vara true eller false"),
    (lambda d: d["scale"]["labels"].update({7: "för högt"}), "utanför skalan"),
    (lambda d: d.update(dimensions=[]), "icke-tom lista"),
])
def test_malformed_protocol_is_refused_with_swedish_message(mutate, match):
    d = _base()
    mutate(d)
    with pytest.raises(InstrumentError, match=match):
        instrument_from_dict(d, source="mitt_protokoll.yaml")


def test_protocol_file_errors(tmp_path):
    with pytest.raises(InstrumentError, match="finns inte"):
        load_instrument(tmp_path / "saknas.yaml")
    bad = tmp_path / "trasig.yaml"
    bad.write_text("id: x\nscale: [1, 4\n", encoding="utf-8")
    with pytest.raises(InstrumentError) as ei:
        load_instrument(bad)
    assert "inte giltig YAML" in str(ei.value) and ei.value.row is not None


def test_user_protocol_roundtrip(tmp_path):
    p = tmp_path / "eget.yaml"
    p.write_text(yaml.safe_dump({
        "id": "eget", "name": "Vårt underlag", "version": "2", "scale": {"min": 1, "max": 5},
        "dimensions": [{"id": "a", "name": "A", "items": [{"id": "a1", "text": "x"},
                                                          {"id": "a2", "text": "y",
                                                           "reverse": True}]}]},
        allow_unicode=True), encoding="utf-8")
    inst = load_instrument(p)
    assert inst.scale == (1, 5) and inst.reversed_items() == ["a2"]


def _obs(scores: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"observation_id": "L1", "observer_id": "O1", "school_id": "12345678",
                         "item_id": list(scores), "score": list(scores.values())})


def test_scoring_reverses_items_and_applies_half_rule():
    inst = load_instrument()
    # KL4 is reversed: raw 1 means "no time lost" = 4.
    s = inst.score(_obs({"KL1": 4, "KL2": 3, "KL3": np.nan, "KL4": 1,
                         "ES1": 2, "ES2": np.nan, "ES3": np.nan, "ES4": np.nan,
                         "KA1": 1, "KA2": 2, "KA3": np.nan, "KA4": np.nan}))
    row = s.iloc[0]
    assert row["klassrumsledning"] == pytest.approx((4 + 3 + 4) / 3)
    assert np.isnan(row["elevstod"])          # 1 of 4 answered < half
    assert row["kognitiv_aktivering"] == pytest.approx(1.5)  # 2 of 4 = half
    assert row["overall"] == pytest.approx((11 / 3 + 1.5) / 2)  # 2 of 3 dimensions
    assert row["n_items"] == 6


def test_overall_needs_half_of_dimensions():
    inst = load_instrument()
    s = inst.score(_obs({"KL1": 4, "KL2": 4, "ES1": np.nan, "KA1": np.nan}))
    assert np.isnan(s.iloc[0]["overall"])
