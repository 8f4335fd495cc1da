"""Helpers shared by the io tests (no tests here).

Real files are read from ``../shared/real-data`` (beside the checkout) and
never copied into the repository; tests that need them skip when absent.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
REAL = Path(__file__).resolve().parents[2] / "shared" / "real-data"
SAMPLE = REPO / "data" / "sample"
KOMMUN = REAL / "skolverket-kommun"
SKOLENHET = REAL / "skolverket-skolenhet"
API = REAL / "skolverket-api-v4"

needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason="../shared/real-data saknas (CI har den bredvid utcheckningen)")
needs_sample = pytest.mark.skipif(
    not (SAMPLE / "skolregister.csv").exists(), reason="data/sample saknas (scripts/make_sample.py)")

F_ELEVER_KOMMUN = "Grundskola - Antal elever per årskurs 2024 Kommun.csv"
F_AK6_CSV = ("Grundskola - Betyg årskurs 6, andel som fått godkänt betyg (A-E), samtliga "
             "elever 2025 Kommun.csv")
F_AK6_XLSX = F_AK6_CSV[:-4] + ".xlsx"
F_PANEL = "Grundskola - Jämförelse av betygsresultat över tid 2025 Kommun_Åk9.xlsx"
F_PERSONAL = "Grundskola - Personalstatistik med lärarlegitimation och behörighet 2024 Kommun.csv"
F_NP = ("Grundskola - Resultat nationella prov årskurs 9, provbetyg per kön - Engelska, "
        "Matematik och Svenska_svenska som andraspråk 2024 Kommun.csv")
F_ELEVER_2015 = "Grundskolan - Antal elever per årskurs 2015 Skolenhet.csv"
F_ELEVER_2022 = "Grundskolan - Antal elever per årskurs 2022 Skolenhet.csv"

MARKER_STATUS = {"..": "suppressed", ".": "missing", "-": "missing", "~100": "approx_100",
                 "*": "excluded"}


def csv_block(path: Path) -> tuple[list[str], list[list[str]]]:
    """Independent reading of a Skolverket CSV: (header cells, data rows up to the first blank).

    Deliberately simple (split on ';' after locating the header line), so that it
    checks the loader rather than repeating it.
    """
    text = path.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    hi = next(i for i, ln in enumerate(lines) if "Kommun-kod" in ln.split(";"))
    header = lines[hi].split(";")
    rows = []
    for ln in lines[hi + 1:]:
        if not ln.strip(" ;"):
            break
        rows.append(next(csv.reader(io.StringIO(ln), delimiter=";")))
    return header, rows


def count_markers(cells) -> dict[str, int]:
    """Statuses implied by the markers among cells: {'suppressed': 3, ...}."""
    out: dict[str, int] = {}
    for v in cells:
        s = MARKER_STATUS.get(str(v).strip())
        if s:
            out[s] = out.get(s, 0) + 1
    return out


def status_counts(df: pd.DataFrame) -> dict[str, int]:
    vc = df["status"].astype(str).value_counts()
    return {k: int(v) for k, v in vc.items() if k != "ok" and v}


# --------------------------------------------------------------------------
# Fake personnummer and a pupil file in SCB's format
# --------------------------------------------------------------------------
def luhn_digit(d9: str) -> str:
    tot = 0
    for i, ch in enumerate(d9):
        x = int(ch) * (2 if i % 2 == 0 else 1)
        tot += x - 9 if x > 9 else x
    return str((10 - tot % 10) % 10)


def fake_personnummer(rng: np.random.Generator, year: int, boy: bool, used: set[str]) -> str:
    """A valid (Luhn, date) 12-digit personnummer for a made-up person."""
    while True:
        mm, dd = int(rng.integers(1, 13)), int(rng.integers(1, 29))
        serial = int(rng.integers(0, 100))
        d3 = int(rng.integers(0, 5)) * 2 + (1 if boy else 0)
        d9 = f"{year % 100:02d}{mm:02d}{dd:02d}{serial:02d}{d3}"
        pnr = f"{year}{mm:02d}{dd:02d}{serial:02d}{d3}{luhn_digit(d9)}"
        if pnr not in used:
            used.add(pnr)
            return pnr


def write_scb_grades(pupil_results: pd.DataFrame, path: Path, seed: int = 1,
                     boys: dict[str, bool] | None = None, header: bool = True
                     ) -> dict[str, str]:
    """Write pupil_results (one school year per pupil) as an SCB grade file.

    Returns personnummer -> original pupil_id. Grades '-' are written as SCB's
    code 9.
    """
    from undervisning_analys.io.pupils import SPEC_ORDER

    rng = np.random.default_rng(seed)
    wide = pupil_results.set_index(["pupil_id", "school_id", "school_year", "subject"])[
        "grade"].unstack("subject").reset_index()
    used: set[str] = set()
    lines = [";".join(SPEC_ORDER)] if header else []
    back = {}
    for rec in wide.to_dict("records"):
        y = int(rec["school_year"][:4]) + 1
        boy = bool(rng.random() < 0.5) if boys is None else boys[rec["pupil_id"]]
        pnr = fake_personnummer(rng, y - 16, boy, used)
        back[pnr] = rec["pupil_id"]
        row = {"System": "Synt", "Datum": f"{y}-06-12", "Version": "1", "PersonNr": pnr,
               "Skolenhetskod": rec["school_id"], "Klass": "9A", "Fornamn": "Förnamn",
               "Efternamn": "Efternamn"}
        for s in ("Bl", "En", "Hkk", "Idh", "Ma", "Mu", "Bi", "Fy", "Ke", "Ge", "Hi", "Re", "Sh",
                  "Sl", "Sv", "Sva", "Tk", "M1", "M2", "ML"):
            g = rec.get(s)
            code = "" if not isinstance(g, str) else ("9" if g == "-" else g)
            col = f"{s} (betyg)" if s in ("M1", "M2", "ML") else s
            row[col] = code
            if s in ("M1", "M2", "ML") and code:
                row[f"{s} (språk)"] = "SPA"
        lines.append(";".join(row.get(c, "") for c in SPEC_ORDER))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return back


def test_map_unique_equals_the_elementwise_map():
    """Once per distinct value for strings, dates and numbers; element by element for a
    mixed column, where 1 and True hash alike but are different cells."""
    from undervisning_analys.io import _common as c

    calls = []

    def f(v):
        calls.append(v)
        return (c.cell_text(v), type(v).__name__)

    s = pd.Series(["3", "4", "3", None, "4", "3"], index=[10, 11, 12, 13, 14, 15])
    got = c.map_unique(s, f)
    assert list(got.index) == list(s.index)
    assert list(got) == [f(v) for v in s]
    assert len(calls) == 3 + len(s)  # three distinct values, then the reference calls
    mixed = pd.Series([1, True, 1.0, "1"], dtype=object)
    assert list(c.map_unique(mixed, f)) == [f(v) for v in mixed]
    assert c.map_unique(mixed, f)[1] == ("True", "bool")
    dates = pd.Series(pd.to_datetime(["2024-01-02", "2024-01-02", "2023-05-06"]))
    assert list(c.map_unique(dates, lambda d: d.year)) == [2024, 2024, 2023]
