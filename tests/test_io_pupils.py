"""Pupil grade files (SCB's record format), pseudonymisation, and Skolverket's aggregation.

The synthetic pupils of the sample municipality are written as an SCB grade file
(with made-up, valid personnummer), read back and aggregated; the result is
compared with the school results the sample publishes
(data/sample/slutbetyg_ak9_skolenhet_*.csv).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from test_io_support import (
    REAL,
    SAMPLE,
    fake_personnummer,
    luhn_digit,
    write_scb_grades,
)

from undervisning_analys.errors import (
    DuplicateRowsError,
    FileFormatError,
    MissingKeyError,
    PersonalNumberFound,
    ValueFormatError,
)
from undervisning_analys.io import aggregate_pupil_grades, read_pupil_grades, read_skolverket
from undervisning_analys.io.pupils import SPEC_ORDER, concat_pupil_grades
from undervisning_analys.privacy import (
    is_personnummer,
    looks_like_personnummer,
    pseudonymise,
    refuse_personnummer_columns,
    sex_of_personnummer,
)

KEY = "en hemlig nyckel"


# --------------------------------------------------------------------------
# Pseudonymisation and the personnummer guard
# --------------------------------------------------------------------------
def test_pseudonyms_are_keyed_and_stable():
    pnrs = ["19800101-0008", "800101-0008", "198001010008", "20100220-1232"]
    a = pseudonymise(pnrs, key=KEY)
    assert a[0] == a[1] == a[2]  # the same person however it is written
    assert a[3] != a[0] and all(re.fullmatch(r"[0-9a-f]{20}", x) for x in a)
    assert pseudonymise(pnrs, key=KEY) == a  # same key -> same pseudonym
    assert set(pseudonymise(pnrs, key="en annan nyckel")).isdisjoint(a)
    s = pseudonymise(pd.Series(pnrs, index=[5, 6, 7, 8]), key=KEY)
    assert list(s.index) == [5, 6, 7, 8] and list(s) == a


def test_pseudonymise_refuses_without_key(monkeypatch):
    monkeypatch.delenv("UA_PSEUDONYM_KEY", raising=False)
    with pytest.raises(MissingKeyError, match="UA_PSEUDONYM_KEY"):
        pseudonymise(["19800101-0008"])
    monkeypatch.setenv("UA_PSEUDONYM_KEY", KEY)
    assert pseudonymise(["19800101-0008"]) == pseudonymise(["19800101-0008"], key=KEY)


def test_personnummer_recognition():
    ok = "19800101-000" + luhn_digit("800101000")
    assert is_personnummer(ok) and is_personnummer(ok[2:].replace("-", ""))
    assert is_personnummer(ok.replace("-", "")) and is_personnummer(ok[2:])
    assert not is_personnummer(ok[:-1] + str((int(ok[-1]) + 1) % 10))  # Luhn
    assert not is_personnummer("19801301-000" + luhn_digit("801301000"))  # month 13
    rng = np.random.default_rng(3)
    used: set[str] = set()
    pn = [fake_personnummer(rng, 2009, bool(i % 2), used) for i in range(20)]
    assert all(is_personnummer(p) for p in pn)
    assert [sex_of_personnummer(p) for p in pn[:2]] == ["girls", "boys"]
    # samordningsnummer: day + 60
    assert is_personnummer("19800161000" + luhn_digit("800161000"))
    assert not is_personnummer("19800192000" + luhn_digit("800192000"))
    assert looks_like_personnummer(pd.Series(pn + ["", None]))
    assert not looks_like_personnummer(pd.Series(["2120001439", "5560123456"]))  # orgnr
    assert not looks_like_personnummer(pd.Series(["L1", "L2", pn[0]]))


def test_refuse_personnummer_columns_names_file_and_column():
    rng = np.random.default_rng(4)
    used: set[str] = set()
    df = pd.DataFrame({"kod": [fake_personnummer(rng, 1980, True, used) for _ in range(3)],
                       "x": ["a", "b", "c"]}, index=[4, 5, 6])
    with pytest.raises(PersonalNumberFound) as ei:
        refuse_personnummer_columns(df, "lista.csv")
    msg = str(ei.value)
    assert "lista.csv" in msg and "`kod`" in msg and "rad 4" in msg
    assert not any(p in msg for p in df["kod"])
    refuse_personnummer_columns(df, "lista.csv", allowed=["kod"])


# --------------------------------------------------------------------------
# Reading SCB's record format
# --------------------------------------------------------------------------
def _small(tmp_path, rows: list[dict], header: bool = True, name: str = "betyg.txt"):
    lines = [";".join(SPEC_ORDER)] if header else []
    for r in rows:
        lines.append(";".join(str(r.get(c, "")) for c in SPEC_ORDER))
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _pupil(pnr: str, school: str = "12345678", **grades) -> dict:
    base = {"System": "X", "Datum": "2025-06-12", "Version": "1", "PersonNr": pnr,
            "Skolenhetskod": school, "Klass": "9B", "Fornamn": "Kim", "Efternamn": "Berg"}
    return {**base, **grades}


@pytest.fixture
def pnrs():
    rng = np.random.default_rng(7)
    used: set[str] = set()
    return [fake_personnummer(rng, 2009, i % 2 == 1, used) for i in range(12)]


def test_read_codes_points_and_privacy(tmp_path, pnrs):
    rows = [_pupil(pnrs[0], Bl="A", En="9", Ma="3", Sv="F", **{"M2 (betyg)": "2",
                                                               "M2 (språk)": "SPA"}),
            _pupil(pnrs[1], Bl="E", Sva="C")]
    p = _small(tmp_path, rows)
    df = read_pupil_grades(p, key=KEY)
    assert set(df["school_year"]) == {"2024/25"} and set(df["grade_level"]) == {9}
    first = df.loc[2].set_index("subject")
    assert first["grade"].to_dict() == {"Bl": "A", "En": "-", "Ma": "3", "M2": "2", "Sv": "F"}
    assert first.loc["Bl", "points"] == 20 and first.loc["En", "points"] == 0
    assert np.isnan(first.loc["Ma", "points"]) and np.isnan(first.loc["M2", "points"])
    text = df.to_csv() + repr(df.attrs)
    assert not any(p in text for p in pnrs) and "Kim" not in text and "Berg" not in text
    assert df["pupil_id"].iloc[0] == pseudonymise([pnrs[0]], key=KEY)[0]
    assert dict(df.attrs["sex"]) == {pseudonymise([pnrs[0]], key=KEY)[0]: "girls",
                                     pseudonymise([pnrs[1]], key=KEY)[0]: "boys"}
    # without a header row, in the spec's order
    df2 = read_pupil_grades(_small(tmp_path, rows, header=False, name="utan.txt"), key=KEY)
    assert df2["grade"].tolist() == df["grade"].tolist()


def test_refusals(tmp_path, pnrs, monkeypatch):
    monkeypatch.delenv("UA_PSEUDONYM_KEY", raising=False)
    p = _small(tmp_path, [_pupil(pnrs[0], Bl="A")])
    with pytest.raises(MissingKeyError):
        read_pupil_grades(p)
    p = _small(tmp_path, [_pupil(pnrs[0], Bl="A"), _pupil(pnrs[1], Bl="G")], name="g.txt")
    with pytest.raises(ValueFormatError) as ei:
        read_pupil_grades(p, key=KEY)
    assert (ei.value.row, ei.value.column) == (3, "Bl") and "g.txt" in str(ei.value)
    assert "'G'" in str(ei.value)
    p = _small(tmp_path, [_pupil(pnrs[0], Bl="A"), _pupil(pnrs[0], Bl="B")], name="d.txt")
    with pytest.raises(DuplicateRowsError) as ei:
        read_pupil_grades(p, key=KEY)
    assert "rad 2, 3" in str(ei.value) and pnrs[0] not in str(ei.value)
    p = _small(tmp_path, [_pupil("hemligt", Bl="A")], name="x.txt")
    with pytest.raises(ValueFormatError) as ei:
        read_pupil_grades(p, key=KEY)
    assert "PersonNr" in str(ei.value) and "hemligt" not in str(ei.value)
    p = _small(tmp_path, [_pupil(pnrs[0], Klass=pnrs[2]), _pupil(pnrs[1], Klass=pnrs[3])],
               name="k.txt")
    with pytest.raises(PersonalNumberFound, match="Klass"):
        read_pupil_grades(p, key=KEY)
    p = tmp_path / "prov.txt"
    p.write_text("PersonNr;Skolenhetskod;MA_PROVB\n" + pnrs[0] + ";12345678;A\n",
                 encoding="utf-8")
    with pytest.raises(FileFormatError, match="MA_PROVB"):
        read_pupil_grades(p, key=KEY)


# --------------------------------------------------------------------------
# Aggregation: Skolverket's definitions
# --------------------------------------------------------------------------
def test_aggregation_definitions(tmp_path, pnrs):
    all16 = {s: "C" for s in ("Bl", "Bi", "En", "Fy", "Ge", "Hkk", "Hi", "Idh", "Ke", "Ma",
                              "Mu", "Re", "Sh", "Sl", "Sv", "Tk")}
    rows = []
    for i, pnr in enumerate(pnrs[:11]):
        g = dict(all16)
        if i == 0:
            g["Ma"] = "F"  # not eligible, not all passed
        if i == 1:
            g = {s: "F" for s in all16}  # merit 0: not in the merit mean
        if i == 2:
            g["M2 (betyg)"] = "A"  # merit 17 = 240 + 20
        if i == 3:
            g["Hkk"] = "3"  # adapted programme: not graded, no points
        rows.append(_pupil(pnr, **g))
    df = read_pupil_grades(_small(tmp_path, rows), key=KEY)
    res = aggregate_pupil_grades(df)
    allg = res[res["group"] == "all"].set_index("measure")
    assert allg.loc["n_pupils_grade9", "value"] == 11
    # merit16: pupils 0 (225), 3 (225), seven others 240 -> over 10 pupils with a pass
    exp16 = (225 + 225 + 240 * 8) / 10
    assert allg.loc["merit_16", "value"] == round(exp16, 1)
    assert allg.loc["merit_17", "value"] == round((exp16 * 10 + 20) / 10, 1)
    assert allg.loc["pass_all_subjects_pct", "status"] == "approx_100"  # 2 did not pass all
    assert allg.loc["eligible_vocational_pct", "status"] == "approx_100"
    girls = res[res["group"] == "girls"]
    assert (girls.loc[girls["measure"] != "n_pupils_grade9", "status"] == "suppressed").all()


@pytest.fixture(scope="module")
def synthetic_vs_published(tmp_path_factory, synth_ds):
    """The sample's pupils as an SCB file, read, aggregated and merged with the publication."""
    if not (SAMPLE / "skolregister.csv").exists():
        pytest.skip("data/sample saknas")
    path = tmp_path_factory.mktemp("elever") / "betyg.txt"
    write_scb_grades(synth_ds.pupil_results, path, seed=5)
    agg = aggregate_pupil_grades(read_pupil_grades(path, key=KEY))
    pub = pd.concat([read_skolverket(f)
                     for f in sorted(SAMPLE.glob("slutbetyg_ak9_skolenhet_*"))])
    keys = ["school_id", "school_year", "measure", "group"]
    return agg[agg["group"] == "all"].reset_index(drop=True).merge(
        pub[pub["group"] == "all"].reset_index(drop=True), on=keys, suffixes=("", "_pub"))


def test_aggregating_the_synthetic_pupil_file_reproduces_the_sample(synthetic_vs_published,
                                                                   synth_ds):
    """Every published school value (meritvärde 16/17, pass all, eligibility, n and status)
    is reproduced exactly from the pupil file."""
    m = synthetic_vs_published
    r = synth_ds.results
    # five measures for every school-year with grade 9 (F-6 schools publish no grade 9)
    grade9 = r[(r["level"].astype(str) == "school") & (r["measure"].astype(str) == "merit_17")
               & (r["group"].astype(str) == "all")]
    assert len(grade9) == 70
    assert len(m) == 5 * len(grade9)
    assert (m["status"].astype(str) == m["status_pub"].astype(str)).all()
    assert ((m["value"] - m["value_pub"]).abs().fillna(0) < 1e-9).all()
    assert (m["value"].isna() == m["value_pub"].isna()).all()
    assert (m["n"] == m["n_pub"]).all()


def test_concat_keeps_sex(tmp_path, pnrs):
    a = read_pupil_grades(_small(tmp_path, [_pupil(pnrs[0], Bl="A")], name="a.txt"), key=KEY)
    b = read_pupil_grades(_small(tmp_path, [_pupil(pnrs[1], Bl="B")], name="b.txt"), key=KEY)
    both = concat_pupil_grades([a, b])
    assert len(both) == 2 and len(both.attrs["sex"]) == 2


@pytest.mark.skipif(not (REAL / "scb-datafil").is_dir(), reason="../shared/real-data saknas")
def test_spec_order_follows_scbs_record_specification():
    """The variables (and their order) are those of SCB's Postbeskrivning for grades år 9."""
    import openpyxl

    wb = openpyxl.load_workbook(REAL / "scb-datafil" / "datafilsbeskrivning_betyg_ak9_2025.xlsx",
                                read_only=True, data_only=True)
    names, started = [], False
    for r in wb.worksheets[0].iter_rows(values_only=True):
        cells = [v for v in r if v is not None]
        if cells and cells[0] == "Variabelnamn":
            started = True
            continue
        if started and len(cells) == 4:  # name, content, allowed characters, length
            names.append(str(cells[0]).strip())
    wb.close()
    assert tuple(names) == SPEC_ORDER
    # every grade code the specification allows is read
    from undervisning_analys.io.pupils import _CODES
    assert {"A", "B", "C", "D", "E", "F", "9", "3", "2"} <= set(_CODES)


def test_looks_like_personnummer_counts_every_cell_not_every_distinct_value():
    """Distinct values are checked once but weighted by their counts: the share is of
    cells, as the elementwise rule (reference implementation below)."""
    import re as _re

    from undervisning_analys.privacy.personnummer import _CANDIDATE_RE, _as_text, is_personnummer

    def reference(s, min_share=0.5):
        s = s.dropna()
        text = s.map(_as_text) if s.dtype != object or not all(isinstance(v, str) for v in s) \
            else s.str.strip()
        text = text[text != ""]
        if text.empty:
            return False
        cand = text[[bool(_re.match(_CANDIDATE_RE, t)) for t in text]]
        if len(cand) < min_share * len(text):
            return False
        n_valid = sum(is_personnummer(v) for v in cand)
        return n_valid > 0 and n_valid >= min_share * len(text)

    rng = np.random.default_rng(2)
    used: set[str] = set()
    pn = [fake_personnummer(rng, 2009, bool(i % 2), used) for i in range(3)]
    pool = [*pn, " " + pn[0] + " ", "L1", "L2", "", None, 5560123456, 1.0, "2120001439"]
    for _ in range(300):
        vals = [pool[i] for i in rng.integers(len(pool), size=int(rng.integers(1, 30)))]
        s = pd.Series(vals, dtype=object)
        for share in (0.5, 1e-9, 0.9):
            assert looks_like_personnummer(s, min_share=share) == reference(s, share), vals
    # one personnummer among many repeated codes is a small share of the cells
    s = pd.Series(["L1"] * 50 + [pn[0]])
    assert not looks_like_personnummer(s) and looks_like_personnummer(s, min_share=1e-9)
