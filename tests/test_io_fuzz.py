"""Fuzz: damaged variants of real and sample files at every loader.

Each variant is a real or sample file (small excerpts of the large ones, to keep
the suite fast) truncated, with its lines shuffled, dropped or duplicated, with
bytes flipped, or mis-encoded (cp1252, UTF-16, UTF-8 read as latin-1 and saved
again, a doubled BOM). Every loader must either load it or raise the package's
own error (UAError) - never a bare Python exception.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_io_support import (
    API,
    F_AK6_CSV,
    F_AK6_XLSX,
    F_ELEVER_2015,
    F_ELEVER_2022,
    F_ELEVER_KOMMUN,
    F_NP,
    F_PERSONAL,
    KOMMUN,
    REAL,
    SAMPLE,
    SKOLENHET,
    fake_personnummer,
)

from undervisning_analys.errors import UAError
from undervisning_analys.io import (
    read_json_source,
    read_kolada,
    read_observations,
    read_pupil_grades,
    read_schools,
    read_skolverket,
    read_skolverket_api,
)
from undervisning_analys.io.observations import load_column_map
from undervisning_analys.io.pupils import SPEC_ORDER

EXAMPLES = 50
TEACH = REAL / "teach-peru" / "TEACH_Final_Scores_4 - Peru.csv"
TEACH_PROTOCOL = Path(__file__).resolve().parents[1] / "docs" / "exempel" / "teach" \
    / "protokoll.yaml"
TEACH_COLUMNS = TEACH_PROTOCOL.with_name("kolumner.yaml")


def _excerpt(path: Path, head: int = 30, tail: int = 12) -> bytes:
    """Preamble, header and first rows, plus the footer: a small file in the real format."""
    lines = path.read_bytes().split(b"\n")
    if len(lines) <= head + tail:
        return path.read_bytes()
    return b"\n".join(lines[:head] + [b""] + lines[-tail:])


def _pupil_file() -> bytes:
    rng = np.random.default_rng(9)
    used: set[str] = set()
    lines = [";".join(SPEC_ORDER)]
    for i in range(12):
        rec = {"System": "X", "Datum": "2025-06-12", "PersonNr":
               fake_personnummer(rng, 2009, i % 2 == 0, used), "Skolenhetskod": "12345678",
               "Fornamn": "Åsa", "Efternamn": "Öberg", "Bl": "ABCDEF"[i % 6], "Ma": "9",
               "Sv": "C", "En": "3", "M2 (betyg)": "2"}
        lines.append(";".join(rec.get(c, "") for c in SPEC_ORDER))
    return ("\n".join(lines) + "\n").encode("utf-8")


KOLADA = json.dumps({"count": 2, "values": [
    {"kpi": "N15505", "municipality": "1440", "period": 2024, "values": [
        {"gender": "T", "count": 1, "status": "", "value": 224.5, "isdeleted": False},
        {"gender": "K", "count": 1, "status": "Missing", "value": None}]},
    {"kpi": "N15820", "municipality": "0000", "period": 2024, "values": [
        {"gender": "T", "count": 1, "status": "", "value": 61.2}]}], "next_url": None},
    ensure_ascii=False, indent=1).encode("utf-8")


def _short(path: Path, n: int = 2) -> bytes:
    """A small municipality's export (issue 13): preamble and header, the first ``n`` data
    rows, then the whole footer (whose lines hold commas)."""
    lines = path.read_bytes().split(b"\n")
    hi = next(i for i, ln in enumerate(lines) if b";Kommun-kod;" in ln or b"Kommun-kod;" in ln)
    end = next(i for i in range(hi + 1, len(lines)) if not lines[i].strip(b" ;\r"))
    return b"\n".join(lines[:hi + 1 + n] + lines[end:])


KOLUMNER = "kolumner:\n  Besöksdag: date\n  Vem observerade: observer_id\n  Kommentar: null\n" \
    .encode()


def _bases() -> dict[str, list[tuple[str, bytes]]]:
    sk: list[tuple[str, bytes]] = []
    if KOMMUN.is_dir():
        for name in (F_ELEVER_KOMMUN, F_AK6_CSV, F_PERSONAL, F_NP):
            sk.append((".csv", _excerpt(KOMMUN / name)))
            sk.append((".csv", _short(KOMMUN / name)))
        sk.append((".xlsx", (KOMMUN / F_AK6_XLSX).read_bytes()))
        for name in (F_ELEVER_2015, F_ELEVER_2022):
            sk.append((".csv", _excerpt(SKOLENHET / name)))
    if SAMPLE.is_dir():
        for name in ("slutbetyg_ak9_skolenhet_2024.csv", "slutbetyg_ak9_kommun_2024.csv",
                     "elever_skolenhet_2024.csv"):
            sk.append((".csv", (SAMPLE / name).read_bytes()))
    api: list[tuple[str, bytes]] = []
    if API.is_dir():
        api = [(".json", (API / n).read_bytes()) for n in
               ("school-unit-13301127-statistics-gr.json", "school-unit-13301127.json",
                "school-unit-16426165-statistics-gr.json")]
        api += [(".json", f.read_bytes()) for f in sorted((API / "listor").glob("*.json"))]
    obs = [(".csv", _excerpt(SAMPLE / "observationer.csv", head=40, tail=1))] \
        if SAMPLE.is_dir() else []
    schools = [(".csv", (SAMPLE / "skolregister.csv").read_bytes())] if SAMPLE.is_dir() else []
    # issue 13: the real Teach export (three header rows, categorical items, first names),
    # read with its protocol and column file; the column file itself beside the sample's
    teach = [(".csv", _excerpt(TEACH, head=40, tail=1))] if TEACH.is_file() else []
    return {"skolverket": sk, "api": api, "kolada": [(".json", KOLADA)], "observations": obs,
            "schools": schools, "pupils": [(".txt", _pupil_file())],
            "json": api + [(".json", KOLADA)],
            "kolumner": [(".yaml", KOLUMNER), (".yaml", TEACH_COLUMNS.read_bytes())],
            "teach": teach}


BASES = _bases()
LOADERS = {
    "skolverket": read_skolverket,
    "api": read_skolverket_api,
    "kolada": read_kolada,
    "observations": read_observations,
    "schools": read_schools,
    "pupils": lambda p: read_pupil_grades(p, key="fuzz-nyckel"),
    "json": read_json_source,
    "kolumner": load_column_map,
    "teach": lambda p: read_observations(p, TEACH_PROTOCOL, columns=TEACH_COLUMNS,
                                         key="fuzz-nyckel"),
}


def _decode(data: bytes) -> str:
    return data.decode("utf-8-sig", errors="replace")


@st.composite
def variants(draw, bases: list[tuple[str, bytes]]):
    suffix, data = draw(st.sampled_from(bases))
    kind = draw(st.sampled_from(["truncate", "shuffle", "drop", "duplicate", "flip",
                                 "encoding", "truncate+encoding", "none"]))
    if kind in ("truncate", "truncate+encoding"):
        data = data[:draw(st.integers(0, len(data)))]
    if kind == "shuffle" and suffix != ".xlsx":
        lines = data.split(b"\n")
        order = draw(st.permutations(range(min(len(lines), 60))))
        data = b"\n".join([lines[i] for i in order] + lines[60:])
    if kind in ("drop", "duplicate") and suffix != ".xlsx":
        lines = data.split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        lines = lines[:i] + lines[i + 1:] if kind == "drop" else lines[:i + 1] + lines[i:]
        data = b"\n".join(lines)
    if kind == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:]
    if kind in ("encoding", "truncate+encoding") and suffix != ".xlsx":
        enc = draw(st.sampled_from(["cp1252", "utf-16", "mojibake", "double-bom", "latin-1"]))
        text = _decode(data)
        if enc == "mojibake":
            data = text.encode("utf-8").decode("latin-1").encode("utf-8")
        elif enc == "double-bom":
            data = b"\xef\xbb\xbf\xef\xbb\xbf" + text.encode("utf-8")
        else:
            data = text.encode(enc, errors="replace")
    return suffix, kind, data


def _check(loader_name: str, suffix: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"fil{suffix}"
        p.write_bytes(data)
        try:
            out = LOADERS[loader_name](p)
        except UAError:
            return
        if loader_name == "kolumner":
            assert isinstance(out, dict)
            return
        assert isinstance(out, pd.DataFrame) and "provenance" in out.attrs


@pytest.mark.parametrize("loader_name", list(LOADERS))
def test_damaged_files_load_or_raise_package_errors(loader_name):
    bases = BASES[loader_name]
    if not bases:
        pytest.skip("../shared/real-data eller data/sample saknas")

    seen: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(variants(bases))
    def run(v):
        suffix, kind, data = v
        seen.append(kind)
        _check(loader_name, suffix, data)

    run()
    assert len(seen) >= EXAMPLES


@pytest.mark.parametrize("loader_name", list(LOADERS))
def test_undamaged_bases_load(loader_name):
    """The excerpts themselves are readable (so the fuzz starts from valid files)."""
    for suffix, data in BASES[loader_name]:
        if loader_name == "api" and b"statistics" not in data:
            continue
        if loader_name == "api" and b"_embedded" in data:
            continue  # a list response alone gives no results
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / f"fil{suffix}"
            p.write_bytes(data)
            out = LOADERS[loader_name](p)
            assert isinstance(out, (pd.DataFrame, dict))


# --------------------------------------------------------------------------
# The folder reader: a damaged statistics file is read or named, never fatal
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_folder(tmp_path_factory) -> Path:
    from undervisning_analys import synth
    from undervisning_analys.sample import write_sample

    out = tmp_path_factory.mktemp("fuzzmapp")
    write_sample(synth.municipality(seed=3, n_schools=3, n_years=1,
                                    pupils_per_grade=(8, 15)), out)
    return out


def test_folder_with_a_damaged_export_loads_and_names_it(small_folder, tmp_path):
    import shutil

    from undervisning_analys.io.folder import NOT_READ, load_folder

    bases = [b for b in BASES["skolverket"] + BASES["api"]]
    if not bases:
        pytest.skip("../shared/real-data eller data/sample saknas")
    counter = [0]

    @settings(max_examples=12, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(variants(bases))
    def run(v):
        suffix, _kind, data = v
        counter[0] += 1
        d = tmp_path / f"mapp{counter[0]}"
        shutil.copytree(small_folder, d)
        (d / f"trasig{suffix}").write_bytes(data)
        ds = load_folder(d)
        names = {p.path for p in ds.provenance}
        assert f"trasig{suffix}" in names or any(
            p.loader == "read_skolverket_api" for p in ds.provenance)
        for p in ds.provenance:
            if p.loader == NOT_READ:
                assert p.notes and p.notes[0]

    run()
    assert counter[0] >= 12
