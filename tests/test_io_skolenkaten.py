"""read_skolenkaten: the real workbook cell by cell, and the other layouts it claims.

The real workbook (``../shared/real-data/skolinspektionen-skolenkaten/``,
upper-secondary year 2, 2022) is enumerated here with openpyxl alone, from
its header rows, independently of the loader: every index cell (and the one
question of an area that forms no index), every respondent count and
response rate, on both sheets; each number must equal its row's value and
each ``-`` must be a suppressed row.

The other respondent groups' workbooks (åk 5, åk 8 with other gender
columns, staff without a gender sheet) are built by the tests from the real
workbook's header structure (areas, questions, answer options), with
invented units and values: not copied data.
"""

from __future__ import annotations

import math
import re
import zlib
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter

from undervisning_analys import schema
from undervisning_analys.errors import FileFormatError, MissingColumnError, ValueFormatError
from undervisning_analys.io.skolenkaten import read_skolenkaten

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real-data"
WORKBOOK = REAL / "skolinspektionen-skolenkaten" / "excelrapport-elever-gymnasieskola-ar-2-2022.xlsx"
needs_real = pytest.mark.skipif(not WORKBOOK.exists(),
                                reason="../shared/real-data saknas (CI har den bredvid)")

GENDER_OF = {"Kvinna": "girls", "Man": "boys", "Flicka": "girls", "Pojke": "boys"}
SLUG = {"Information om utbildningen": "information", "Stimulans": "stimulans", "Stöd": "stod",
        "Kritiskt tänkande": "kritiskt_tankande", "Bemötande - lärare": "bemotande_larare",
        "Bemötande - elever": "bemotande_elever", "Inflytande": "inflytande",
        "Studiero": "studiero", "Trygghet": "trygghet",
        "Förhindra kränkningar": "forhindra_krankningar", "Elevhälsa": "elevhalsa",
        "Övergripande nöjdhet": "nojdhet"}


def _heading(text: str) -> str | None:
    m = re.match(r"^(\d+)\. (.+?)( \(bildar ej index\))?$", text or "")
    return m.group(2) if m else None


@pytest.fixture(scope="module")
def real_sheets():
    if not WORKBOOK.exists():
        pytest.skip("../shared/real-data saknas")
    wb = openpyxl.load_workbook(WORKBOOK, read_only=True, data_only=True)
    sheets = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    wb.close()
    return sheets


@pytest.fixture(scope="module")
def real_df():
    if not WORKBOOK.exists():
        pytest.skip("../shared/real-data saknas")
    return read_skolenkaten(WORKBOOK)


def _expected_main(rows: list[list]) -> dict[tuple[int, str, str], object]:
    """(excel row, measure, group) -> cell, for the results sheet."""
    title, sub = rows[0], rows[2]
    cols: dict[str, int] = {}
    j = 8
    while j < len(title):
        h = _heading(title[j]) if isinstance(title[j], str) else None
        if h is not None:
            if "bildar ej index" in title[j]:
                cols[SLUG[h]] = j + 1          # its (one) question's Medelvärde
                assert sub[j + 1] == "Medelvärde"
            else:
                assert sub[j] == "Index"
                cols[SLUG[h]] = j
        j += 1
    out = {}
    for i, r in enumerate(rows[3:], start=4):
        if all(v is None for v in r):
            continue
        name = r[4] if r[3] is not None else r[1]
        group = "all"
        if " - " in str(name):
            tail = str(name).rsplit(" - ", 1)[1]
            if tail not in GENDER_OF:
                continue
            group = GENDER_OF[tail]
        out[(i, "skolenkat_antal_i_gruppen_gy2", group)] = r[5]
        out[(i, "skolenkat_antal_svar_gy2", group)] = r[6]
        out[(i, "skolenkat_svarsfrekvens_gy2", group)] = r[7]
        for slug, jj in cols.items():
            out[(i, f"skolenkat_{slug}_gy2", group)] = r[jj]
    return out


def _expected_gender(rows: list[list]) -> dict[tuple[int, str, str], object]:
    title, labels, sub = rows[0], rows[1], rows[2]
    out = {}
    area = None
    for j in range(8, len(title)):
        if isinstance(title[j], str) and _heading(title[j]):
            area = _heading(title[j])
            start = j
            no_index = "bildar ej index" in title[j]
        if area is None:
            continue
        first_question = no_index and j >= start + 3 and j < start + 6
        if (sub[j] == "Index" and not no_index) or (first_question and sub[j] == "Medelvärde"):
            if labels[j] == "Totalt":
                continue
            for i, r in enumerate(rows[3:], start=4):
                if all(v is None for v in r):
                    continue
                out[(i, f"skolenkat_{SLUG[area]}_gy2", GENDER_OF[labels[j]])] = r[j]
    return out


def _check_cells(df: pd.DataFrame, expected: dict, *, scale: dict[str, float]) -> tuple[int, int]:
    """Every expected cell against its row: numbers equal, '-' suppressed. Returns counts."""
    got = {(int(i), m, g): (v, s) for i, m, g, v, s in zip(
        df.index, df["measure"], df["group"].astype(str), df["value"],
        df["status"].astype(str), strict=True)}
    n_values = n_dash = 0
    for key, cell in expected.items():
        assert key in got, key
        v, s = got[key]
        if cell == "-":
            assert s == "suppressed" and math.isnan(v), (key, v, s)
            n_dash += 1
        elif cell is None:
            assert s == "missing" and math.isnan(v), (key, v, s)
        else:
            k = scale.get(key[1].rsplit("_", 1)[0], 1.0)
            assert s == "ok" and v == pytest.approx(float(cell) * k, abs=1e-9), (key, cell, v)
            n_values += 1
    return n_values, n_dash


@needs_real
def test_real_workbook_every_value_equals_its_cell_and_every_dash_is_suppressed(
        real_sheets, real_df):
    names = list(real_sheets)
    assert names[0].startswith("Resultat") and names[1] == "Könsuppdelat resultat"
    main = _expected_main(real_sheets[names[0]])
    gender = _expected_gender(real_sheets[names[1]])
    # the gender sheet's girls/boys of a unit that also has gender rows on the results
    # sheet (the whole round) are kept from the results sheet
    sheet1 = real_df[real_df["source"].str.endswith("bladet " + names[0])]
    rate = {"skolenkat_svarsfrekvens": 100.0}
    n1, d1 = _check_cells(sheet1, main, scale=rate)
    # the gender sheet's rows, through (unit, measure, group)
    g = real_sheets[names[1]]
    unit_of_row = {i: (r[3] or None, r[0] or None, r[1]) for i, r in enumerate(g[3:], start=4)}
    df = real_df.assign(_unit=[(s if isinstance(s, str) else None,
                                o if isinstance(o, str) else None) for s, o in
                               zip(real_df["school_id"], real_df["organiser_id"], strict=True)])
    by_unit = {(u, m, gr): (v, s) for u, m, gr, v, s in zip(
        df["_unit"], df["measure"], df["group"].astype(str), df["value"],
        df["status"].astype(str), strict=True)}
    n2 = d2 = 0
    for (i, measure, group), cell in gender.items():
        code, org, name = unit_of_row[i]
        unit = (f"{int(code):08d}" if code else None, f"{int(org)}" if org else None)
        v, s = by_unit[(unit, measure, group)]
        if name == "Samtliga deltagande skolor":
            continue  # kept from the results sheet's gender rows (with n)
        if cell == "-":
            assert s == "suppressed" and math.isnan(v)
            d2 += 1
        else:
            assert s == "ok" and v == pytest.approx(float(cell)), (i, measure, group)
            n2 += 1
    # the counts against the file
    dash_cells = sum(1 for c in main.values() if c == "-")
    assert d1 == dash_cells and n1 == sum(1 for c in main.values() if c not in ("-", None))
    statuses = real_df["status"].astype(str).value_counts()
    assert statuses["suppressed"] == d1 + d2
    assert statuses["ok"] == n1 + n2
    assert len(real_df) == n1 + d1 + n2 + d2
    assert len(sheet1) == len(main)
    print(f"\nresults sheet: {n1} values, {d1} '-'; gender sheet: {n2} values, {d2} '-'")


@needs_real
def test_real_workbook_units_year_and_provenance(real_df):
    df = real_df
    assert set(df["school_year"]) == {"2021/22"}
    assert df.attrs["term"] == "VT2022" and df.attrs["respondent_group"] == "gy2"
    assert all(schema.is_known_measure(m) for m in df["measure"].unique())
    schools = df[df["level"] == "school"]
    assert schools["school_id"].str.fullmatch(r"\d{8}").all()
    assert schools["school_id"].nunique() == 648
    assert df.loc[df["level"] == "national", "municipality_id"].eq("0000").all()
    muni = df[df["level"] == "municipality"]
    assert muni["organiser_id"].str.startswith("212").all()
    assert set(muni["principal_type"].astype(str)) == {"kommunal"}
    stockholm = muni[(muni["organiser_id"] == "2120000142") & (muni["group"] == "all")]
    assert stockholm.set_index("measure").loc["skolenkat_antal_svar_gy2", "value"] == 4231
    assert stockholm.set_index("measure").loc["skolenkat_svarsfrekvens_gy2", "value"] == \
        pytest.approx(74.6)
    # n is the respondents of the row's group
    row = df[(df["level"] == "national") & (df["group"] == "girls")
             & (df["measure"] == "skolenkat_trygghet_gy2")]
    assert int(row["n"].iloc[0]) == 22640
    prov = df.attrs["provenance"]
    assert prov.dropped["könsgrupp utanför vokabulären (Har annan könsidentitet)"] == 1
    assert prov.dropped["könsgrupp utanför vokabulären (Vill inte ange)"] == 1
    assert not any("skiljer sig" in n for n in prov.notes), prov.notes
    assert prov.rows_kept == len(df)


@needs_real
def test_municipality_codes_from_a_register(tmp_path):
    df = read_skolenkaten(WORKBOOK, municipalities={"Stockholm": "0180", "Kalmar": "0880"})
    st = df[df["organiser_id"] == "2120000142"]
    assert set(st["municipality_id"]) == {"0180"}
    kalmar = df[(df["level"] == "school") & (df["school_id"] == "89409574")]
    assert set(kalmar["municipality_id"]) == {"0880"}
    other = df[(df["level"] == "school") & (df["municipality_id"].isna())]
    assert len(other) > 0


# --------------------------------------------------------------------------
# Other layouts, built from the real workbook's structure
# --------------------------------------------------------------------------
def _structure() -> list[tuple[str, bool, list[tuple[str, list[str]]]]]:
    """[(area heading, forms index, [(question, [answer options])])] of the real workbook."""
    if not WORKBOOK.exists():
        pytest.skip("../shared/real-data saknas")
    wb = openpyxl.load_workbook(WORKBOOK, read_only=True)
    ws = wb.worksheets[0]
    top = [list(r) for r in ws.iter_rows(min_row=1, max_row=3, values_only=True)]
    wb.close()
    title, opts, sub = top
    areas: list = []
    for j in range(8, len(title)):
        t = title[j]
        if isinstance(t, str) and _heading(t):
            areas.append((t, "bildar ej index" not in t, []))
        elif isinstance(t, str) and t:
            areas[-1][2].append((t, []))
        if sub[j] == "Antal":
            areas[-1][2][-1][1].append(opts[j])
    return areas


ID_HEAD = ["Orgnummer", "Huvudman", "Kommun", "Skolenhetskod", "Skolenhet", "Antal i gruppen",
           "Antal", "Svarsfrekvens"]


def _variant(path: Path, *, title: str, sheet: str, areas, units, genders: list[str] | None,
             rng: np.random.Generator, gender_rows: dict[str, list[str]] | None = None) -> dict:
    """Write a workbook of the real layout; return {(sheet, row, col): value} written."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    r1, r2, r3 = [title] + [None] * 7, list(ID_HEAD), [None] * 8
    value_cols = []  # (col, kind)
    for heading, forms, questions in areas:
        r1.append(heading)
        r2.append(None)
        r3.append("Index")
        value_cols.append((len(r1) - 1, "index" if forms else "skip"))
        for qi, (q, options) in enumerate(questions):
            r1.append(q)
            r2.append(None)
            r3.append("Medelvärde")
            value_cols.append((len(r1) - 1, "mean" if (not forms and qi == 0) else "skip"))
            for o in options:
                r1 += [None, None]
                r2 += [o, None]
                r3 += ["Antal", "Andel"]
                value_cols += [(len(r1) - 2, "count"), (len(r1) - 1, "share")]
    for r in (r1, r2, r3):
        ws.append(r)
    written: dict = {}
    all_units = []
    for u in units:
        all_units.append((u, None))
        for gl in (gender_rows or {}).get(u[1] or u[4], []):
            all_units.append((u, gl))
    for u, gl in all_units:
        orgnr, huvudman, kommun, code, name, n_group = u
        small = n_group < 8
        n = int(rng.integers(1, n_group + 1))
        suffix = f" - {gl}" if gl else ""
        row = [orgnr, huvudman + suffix if not code else huvudman, kommun, code,
               name + suffix if code and name else name,
               n_group if not gl else "-", n, round(n / n_group, 3) if not gl else "-"]
        for col, kind in value_cols:
            while len(row) < col:
                row.append(None)
            if kind in ("index", "mean"):
                v = "-" if (small or rng.random() < 0.05) else round(float(rng.uniform(3, 9.5)), 1)
            elif kind == "count":
                v = "*" if rng.random() < 0.2 else int(rng.integers(0, 50))
            elif kind == "share":
                v = "-" if rng.random() < 0.2 else round(float(rng.random()), 3)
            else:
                v = "-"
            row.append(v)
        ws.append(row)
        written[(ws.max_row, gl)] = (row, [c for c, k in value_cols if k in ("index", "mean")])
    if genders:
        g = wb.create_sheet("Könsuppdelat resultat")
        h1, h2, h3 = [title] + [None] * 7, list(ID_HEAD), [None] * 8
        gcols = []
        for heading, forms, questions in areas:
            blocks = [("Index", forms)] + [("Medelvärde", (not forms and qi == 0))
                                           for qi in range(len(questions))]
            for bi, (kind, read) in enumerate(blocks):
                for k, gl in enumerate(["Totalt"] + genders):
                    h1.append((heading if bi == 0 else questions[bi - 1][0]) if k == 0 else None)
                    h2.append(gl)
                    h3.append(kind)
                    gcols.append((len(h1) - 1, gl, read))
        for r in (h1, h2, h3):
            g.append(r)
        for (_excel_row, gl), (row, _cols) in list(written.items()):
            if gl is not None:
                continue
            grow = list(row[:8])
            for _ in gcols:
                small = row[5] < 8
                grow.append("-" if small or rng.random() < 0.05
                            else round(float(rng.uniform(3, 9.5)), 1))
            g.append(grow)
            written[("gender", g.max_row)] = (grow, [(c, gl2) for c, gl2, read in gcols if read])
    wb.save(path)
    return written


def _units(rng: np.random.Generator, n_schools: int) -> list[tuple]:
    units = [(None, "Samtliga deltagande skolor", None, None, None, 50000),
             (2120009990, "Exempelkommuns kommun", None, None, None, 2400),
             (5560001234, "Friskolan AB", None, None, None, 300)]
    for k in range(n_schools):
        units.append((2120009990 if k % 3 else 5560001234,
                      "Exempelkommuns kommun" if k % 3 else "Friskolan AB", "Exempelkommun",
                      99000000 + 137 * k, f"Skola {k}", 5 if k == 1 else int(rng.integers(20, 200))))
    return units


LAYOUTS = {
    # id: (title, sheet, group, areas kept (indices into the structure), genders)
    "ak5": ("Skolenkäten 2023 - Elever åk 5", "Resultat elever åk 5 2023", "ak5",
            [0, 1, 2, 4, 6, 7, 8, 11], ["Flicka", "Pojke", "Annat svar"]),
    "ak8": ("Skolenkäten 2023 - Elever åk 8", "Resultat elever åk 8 2023", "ak8",
            list(range(12)), ["Kvinna", "Man"]),
    "personal": ("Skolenkäten 2024 - Personal grundskola", "Resultat personal 2024",
                 "personal_gr", [0, 3, 7, 8], None),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_other_layouts_read_every_cell(tmp_path, layout):
    title, sheet, group, keep, genders = LAYOUTS[layout]
    rng = np.random.default_rng(zlib.crc32(layout.encode()))
    structure = _structure()
    areas = []
    for i in keep:
        heading, forms, qs = structure[i]
        # fewer question columns than the real workbook, and fewer answer options
        qs = qs[: max(1, len(qs) - (1 if i % 2 else 0))]
        qs = [(q, opts[: max(2, len(opts) - (i % 2))]) for q, opts in qs]
        areas.append((heading, forms, qs))
    n_schools = {"ak5": 4, "ak8": 9, "personal": 2}[layout]
    units = _units(rng, n_schools)
    gender_rows = {"Samtliga deltagande skolor": genders} if genders else None
    path = tmp_path / f"skolenkaten-{layout}.xlsx"
    written = _variant(path, title=title, sheet=sheet, areas=areas, units=units,
                       genders=genders, rng=rng, gender_rows=gender_rows)
    df = read_skolenkaten(path)
    assert df.attrs["respondent_group"] == group
    year = int(re.search(r"\d{4}", title).group())
    assert set(df["school_year"]) == {f"{year - 1}/{year % 100:02d}"}
    slugs = [SLUG[_heading(areas[k][0])] for k in range(len(areas))]
    n_ok = n_dash = 0
    for key, (row, cols) in written.items():
        if key[0] == "gender":
            continue
        excel_row, gl = key
        grp = "all" if gl is None else GENDER_OF.get(gl)
        got = df[(df.index == excel_row) & df["source"].str.endswith(sheet)
                 & (df["group"].astype(str) == str(grp))]
        if grp is None:
            assert got.empty
            continue
        values = got.set_index("measure")
        for slug, col in zip(slugs, cols, strict=True):
            cell = row[col]
            v, s = values.loc[f"skolenkat_{slug}_{group}", ["value", "status"]]
            if cell == "-":
                assert s == "suppressed" and math.isnan(v)
                n_dash += 1
            else:
                assert s == "ok" and v == cell
                n_ok += 1
        assert values.loc[f"skolenkat_antal_svar_{group}", "value"] == row[6]
    gender_ok = 0
    for key, (grow, gcols) in written.items():
        if key[0] != "gender":
            continue
        code, org = grow[3], grow[0]
        for k, (col, gl) in enumerate(gcols):
            grp = "all" if gl == "Totalt" else GENDER_OF.get(gl)
            if grp in ("all", None) or (code is None and org is None):
                continue
            slug = slugs[k // (len(genders) + 1)]
            unit = (df["school_id"] == f"{code:08d}") if code else \
                (df["school_id"].isna() & (df["organiser_id"] == str(org)))
            sel = df[(df["measure"] == f"skolenkat_{slug}_{group}")
                     & (df["group"].astype(str) == grp) & unit]
            assert len(sel) == 1, (key, col, gl)
            cell = grow[col]
            assert (sel["status"].iloc[0] == "suppressed") if cell == "-" else \
                (sel["value"].iloc[0] == cell)
            gender_ok += 1
    assert n_ok > 0 and n_dash > 0
    if genders:
        assert gender_ok > 0
        others = [g for g in genders if g not in GENDER_OF]
        prov = df.attrs["provenance"]
        for g in others:
            assert sum(v for k, v in prov.dropped.items() if g in k) > 0, prov.dropped
    else:
        assert set(df["group"].astype(str)) == {"all"}
    # a school with 5 respondents has '-' for every index
    small = df[(df["school_id"] == f"{99000000 + 137:08d}") & df["measure"].str.match(
        r"skolenkat_(?!antal|svarsfrekvens)")]
    assert (small["status"].astype(str) == "suppressed").all()


def test_autumn_round_and_overrides(tmp_path):
    rng = np.random.default_rng(3)
    structure = _structure()
    path = tmp_path / "enkat.xlsx"
    _variant(path, title="Skolenkäten hösten 2022 - Elever åk 8", sheet="Resultat",
             areas=[structure[7]], units=_units(rng, 2), genders=None, rng=rng)
    df = read_skolenkaten(path)
    assert df.attrs["term"] == "HT2022" and set(df["school_year"]) == {"2022/23"}
    df = read_skolenkaten(path, school_year="2023/24", group="ak9")
    assert set(df["school_year"]) == {"2023/24"}
    assert set(df["measure"]) >= {"skolenkat_studiero_ak9"}


def test_refusals_name_file_sheet_row_and_column(tmp_path):
    rng = np.random.default_rng(5)
    structure = _structure()
    path = tmp_path / "skolenkaten-ak8-2023.xlsx"
    _variant(path, title="Skolenkäten 2023 - Elever åk 8", sheet="Resultat åk 8",
             areas=structure[6:9], units=_units(rng, 3), genders=None, rng=rng)
    wb = openpyxl.load_workbook(path)
    ws = wb["Resultat åk 8"]
    col = next(j for j in range(1, ws.max_column + 1) if ws.cell(3, j).value == "Index"
               and "Studiero" in str(ws.cell(1, j).value))
    ws.cell(6, col).value = "12,5"
    bad = tmp_path / "skolenkaten-ak8-2023-bad.xlsx"
    wb.save(bad)
    with pytest.raises(ValueFormatError) as ei:
        read_skolenkaten(bad)
    e = ei.value
    assert e.row == 6 and e.column == get_column_letter(col)
    assert "Resultat åk 8" in str(e) and bad.name in str(e) and "Studiero" in str(e)
    ws.cell(6, col).value = 7.1
    ws.cell(2, 4).value = "Kod"
    wb.save(bad)
    with pytest.raises(MissingColumnError) as ei:
        read_skolenkaten(bad)
    assert ei.value.row == 2 and "Skolenhetskod" in str(ei.value)
    csv = tmp_path / "skolenkaten.csv"
    csv.write_text("a;b\n1;2\n", encoding="utf-8")
    with pytest.raises(FileFormatError, match="xlsx"):
        read_skolenkaten(csv)
