"""Short exports: single-municipality cuts of every real Skolverket export load whole.

A small municipality's export has one to three data rows under a long footer whose
lines hold commas. Each cut is made here from the real file itself (preamble, header,
the first 1–3 rows of one municipality, the footer as it is), never stored; it must
load with every data row accounted for: kept in the table (its line number in the
index) or counted as left out in provenance.
"""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
from test_io_support import KOMMUN, REAL, SKOLENHET, needs_real

from undervisning_analys.io import read_skolverket

CSV_FILES = sorted(p.name for p in KOMMUN.glob("*.csv")) if KOMMUN.is_dir() else []
CSV_UNIT_FILES = sorted(p.name for p in SKOLENHET.glob("*.csv")) if SKOLENHET.is_dir() else []
XLSX_FILES = sorted(p.name for p in KOMMUN.glob("*.xlsx")) if KOMMUN.is_dir() else []
_KEY = re.compile(r"(^|;)(Kommun-kod|Skol-enhetskod)(;|$)")


def cut_csv(src: Path, dst: Path, n: int) -> list[int]:
    """Write the cut; return the 1-based line numbers of its data rows."""
    lines = src.read_bytes().decode("utf-8-sig").splitlines(keepends=True)
    hi = next(i for i, ln in enumerate(lines) if _KEY.search(ln))
    end = next(i for i in range(hi + 1, len(lines)) if not lines[i].strip().strip(";"))
    header = lines[hi].rstrip("\r\n").split(";")
    jk = header.index("Skol-enhetskod") if "Skol-enhetskod" in header else header.index(
        "Kommun-kod")
    # a municipality code column: the cut keeps one municipality
    jm = header.index("Kommun-kod")
    data = lines[hi + 1:end]
    first = data[0].split(";")[jm]
    keep = [ln for ln in data if ln.split(";")[jm] == first][:n]
    assert keep and all(ln.split(";")[jk] for ln in keep)
    dst.write_bytes(("\ufeff" + "".join(lines[:hi + 1] + keep + lines[end:])).encode("utf-8"))
    footer = "".join(lines[end:])
    assert "," in footer or not footer.strip(), "the footer is kept as it is"
    return list(range(hi + 2, hi + 2 + len(keep)))


def _accounted(df, lines: list[int]) -> None:
    prov = df.attrs["provenance"]
    assert prov.rows_read == len(lines)
    kept = set(int(i) for i in df.index)
    assert kept <= set(lines)
    missing = len(set(lines) - kept)
    assert missing <= sum(prov.dropped.values())
    assert missing < len(lines) or len(lines) == 1 or len(df) == 0


@needs_real
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("folder,name", [("skolverket-kommun", f) for f in CSV_FILES]
                         + [("skolverket-skolenhet", f) for f in CSV_UNIT_FILES])
def test_single_municipality_csv_cut_loads_every_row(tmp_path, folder, name, n):
    dst = tmp_path / name
    lines = cut_csv(REAL / folder / name, dst, n)
    df = read_skolverket(dst)
    prov = df.attrs["provenance"]
    assert any("avgränsare ';'" in note for note in prov.notes)
    _accounted(df, lines)
    # the rows that are the municipality's total ("Samtliga") are kept in full
    assert len(df) > 0


@needs_real
def test_cut_of_elever_keeps_the_samtliga_row_values(tmp_path):
    name = "Grundskola - Antal elever per årskurs 2024 Kommun.csv"
    dst = tmp_path / name
    lines = cut_csv(KOMMUN / name, dst, 3)
    df = read_skolverket(dst)
    assert list(df.index) == [lines[0]]  # Samtliga; Kommunal/Enskild counted as left out
    row = df.iloc[0]
    assert row["municipality_id"] == "1440" and row["n_pupils"] == 4102
    assert row["share_girls"] == pytest.approx(47.8)
    assert sum(df.attrs["provenance"].dropped.values()) == 2


def _fold(x: object) -> str:
    return str(x).strip().lower().replace("-", "")


def cut_xlsx(src: Path, dst: Path, n: int) -> dict[str, list[int]]:
    """Keep, per sheet, the preamble, the header, the first ``n`` rows of the first
    municipality and everything after the table (written as a new workbook: the same
    cells at the same rows, the cut rows left out)."""
    wb = openpyxl.load_workbook(src, read_only=True)
    new = openpyxl.Workbook()
    new.remove(new.active)
    kept: dict[str, list[int]] = {}
    for ws in wb.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        out = new.create_sheet(ws.title)
        hi = next((i for i, r in enumerate(rows)
                   if any(_fold(x) in ("kommunkod", "skolenhetskod") for x in r if x)),
                  None)
        if hi is None:
            for r in rows:
                out.append(list(r))
            continue
        jm = next(j for j, x in enumerate(rows[hi]) if _fold(x) == "kommunkod")
        end = next((i for i in range(hi + 1, len(rows)) if all(
            x is None or str(x).strip() == "" for x in rows[i])), len(rows))
        first = rows[hi + 1][jm]
        keep = [i for i in range(hi + 1, end) if rows[i][jm] == first][:n]
        for i in [*range(hi + 1), *keep, *range(end, len(rows))]:
            out.append(list(rows[i]))
        kept[ws.title] = [hi + 2 + k for k in range(len(keep))]
    wb.close()
    new.save(dst)
    return kept


@needs_real
@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("name", XLSX_FILES)
def test_single_municipality_xlsx_cut_loads_every_row(tmp_path, name, n):
    dst = tmp_path / name
    kept = cut_xlsx(KOMMUN / name, dst, n)
    df = read_skolverket(dst)
    prov = df.attrs["provenance"]
    assert prov.rows_read == sum(len(v) for v in kept.values())
    assert set(int(i) for i in df.index) <= {x for v in kept.values() for x in v}
    assert len(df) > 0
