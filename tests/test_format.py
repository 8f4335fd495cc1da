"""The foundation's Swedish number formatting and shared constants (_format)."""

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from undervisning_analys._format import MINUS, THOUSANDS, Z_95, number, text_table


def test_z95_is_the_normal_quantile():
    assert Z_95 == float(stats.norm.ppf(0.975))


@pytest.mark.parametrize("x, decimals, kwargs, expected", [
    (231.44, 1, {}, "231,4"),
    (2.25, 1, {}, "2,3"),                         # half away from zero
    (-2.25, 1, {}, f"{MINUS}2,3"),
    (-0.04, 1, {}, "0,0"),                        # no negative zero
    (-0.04, 1, {"sign": True}, "0,0"),            # nor a signed zero
    (0.05, 2, {"sign": True}, "+0,05"),
    (-1234.56, 1, {}, f"{MINUS}1{THOUSANDS}234,6"),
    (1234567.891, 2, {"thousands": ""}, "1234567,89"),
    (12, 1, {}, "12"),                            # an integer is a count
    (np.int64(3877), 1, {}, f"3{THOUSANDS}877"),
    (np.float64(88.0), 1, {}, "88,0"),
    (12.34, 1, {"percent": True}, "12,3\u00a0%"),
    (0.25, None, {}, "0,25"),                     # as many decimals as needed
    (3.0, None, {}, "3"),
    (2500.0, None, {}, f"2{THOUSANDS}500"),
    (Decimal("1.005"), 2, {}, "1,01"),
    (None, 1, {}, ".."),
    (np.nan, 1, {}, ".."),
    (float("inf"), 1, {}, ".."),
    (pd.NA, 1, {}, ".."),
    (np.nan, 1, {"missing": "–"}, "–"),
])
def test_number(x, decimals, kwargs, expected):
    assert number(x, decimals, **kwargs) == expected


@pytest.mark.parametrize("bad", [True, np.bool_(False), "1,5", [1.0]])
def test_number_refuses_what_is_not_a_number(bad):
    with pytest.raises(TypeError):
        number(bad)


def test_text_table_aligns_first_column_left_others_right():
    lines = text_table(["Skola", "Värde"], [["Ekbacken", "1,5"], ["Al", "−12,25"]])
    assert lines == ["Skola      Värde",
                     "Ekbacken     1,5",
                     "Al        −12,25"]


def test_swedish_key_orders_names_as_swedish_does():
    from undervisning_analys._format import swedish_key

    names = ["Östra skolan", "Ängsskolan", "Åsskolan", "Zeta", "alba", "Ale skola", "Alebacken",
             "Écoleskolan", "Eriksskolan"]
    assert sorted(names, key=swedish_key) == [
        "alba", "Ale skola", "Alebacken", "Écoleskolan", "Eriksskolan", "Zeta", "Åsskolan",
        "Ängsskolan", "Östra skolan"]
    # code-point order, which the key replaces, puts ä before å and uppercase first
    assert sorted(["Åsskolan", "Ängsskolan"]) == ["Ängsskolan", "Åsskolan"]
