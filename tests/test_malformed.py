"""Malformed files at every loader (issue 7, "Bad input"): a table-driven suite.

Each case writes one damaged file (or folder) and names the package error it
must give, with the row and column the message must point at (``None`` where
no row or column applies, e.g. an empty file). Every message must name the
file, be in Swedish, stay short (a huge cell is not echoed back) and never
show a personnummer or a name from the file.

Categories (one or more cases per loader where the category applies): wrong
encoding, truncated, wrong delimiter, missing or renamed columns, duplicated
rows, scores out of scale, unknown codes (school, item, role, type, …),
future dates, mixed decimal separators, empty files, huge cells, a BOM in the
middle, a personnummer column where none may be, names in an observation
export.

A second table lists what loaders legitimately leave out (footers, withdrawn
Kolada rows, principal types outside the vocabulary, …): there the file
loads and the count is in provenance, so nothing is dropped silently.

The existing io tests (tests/test_io_*.py) already cover the basic refusals of
each loader; the cases here are the variants they do not.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_io_support import fake_personnummer, luhn_digit

from undervisning_analys import load_instrument
from undervisning_analys.errors import (
    DuplicateRowsError,
    FileFormatError,
    MissingColumnError,
    MissingKeyError,
    PersonalNumberFound,
    PlanError,
    ScaleError,
    UAError,
    UnknownItemError,
    UnknownSchoolError,
    ValueFormatError,
)
from undervisning_analys.instruments import instrument_from_dict
from undervisning_analys.io import (
    read_json_source,
    read_kolada,
    read_local_measures,
    read_observations,
    read_pupil_attendance,
    read_pupil_grades,
    read_schools,
    read_skolenkaten,
    read_skolverket,
    read_skolverket_api,
    read_skolverket_api_schools,
)
from undervisning_analys.io.observations import load_column_map
from undervisning_analys.io.pupils import SPEC_ORDER
from undervisning_analys.sample import load_folder

KEY = "nyckel för trasiga filer"
INST = load_instrument()
MIXED = instrument_from_dict({**INST.raw, "id": "blandad",
                              "categorical_scales": {"ja_nej": {"J": "Ja", "N": "Nej"}},
                              "categorical_items": [{"id": "T1", "text": "Alla har en uppgift",
                                                     "scale": "ja_nej"}]},
                             source="blandad.yaml")
HUGE = 40_000  # characters: more than an Excel cell can hold (32 767)


def _pnr(i: int, year: int = 1980) -> str:
    """A valid 12-digit personnummer (made up), different for each i."""
    d9 = f"{year % 100:02d}0101{i:02d}1"
    return f"{year}0101{i:02d}1{luhn_digit(d9)}"


PNRS = [_pnr(i) for i in range(1, 9)]


# --------------------------------------------------------------------------
# Base files (each valid; the cases damage them)
# --------------------------------------------------------------------------
SKV_CATS = (";;;;;" + ";".join(["Antal elever"] * 3) + ";"
            + ";".join(["Andel (%) elever som fått godkänt betyg i alla ämnen"] * 3) + ";"
            + ";".join(["Genomsnittligt meritvärde (17 ämnen)"] * 3) + ";")
SKV_HEAD = ("Skola;Skol-enhetskod;Skolkommun;Kommun-kod;Typ av huvudman;"
            "Totalt;Flickor;Pojkar;Totalt;Flickor;Pojkar;Totalt;Flickor;Pojkar;")
SKV_ROWS = [
    "Alfaskolan;12345678;Ale;1440;Kommunal;38;20;18;82,0;~100;..;231,5;240,0;222,5;",
    "Betaskolan;23456789;Ale;1440;Enskild;45;21;24;91,1;90,5;91,7;250,3;262,1;239,0;",
]
MERIT = "Genomsnittligt meritvärde (17 ämnen) – Totalt"
PASS = "Andel (%) elever som fått godkänt betyg i alla ämnen – Totalt"
N_ALL = "Antal elever – Totalt"


def skv(rows: list[str] | None = None, *, year: str = "Valt läsår: 2023/24",
        head: str = SKV_HEAD, cats: str | None = SKV_CATS, footer: bool = True,
        title: str = "Grundskolan - Slutbetyg årskurs 9, samtliga elever") -> str:
    """A Skolverket export (school level): data rows on lines 8 and 9 with the defaults."""
    lines = ["Statistik från Skolverket, https://www.skolverket.se", "", title, year, ""]
    if cats is not None:
        lines.append(cats)
    lines.append(head)
    lines += SKV_ROWS if rows is None else rows
    if footer:
        lines += ["", "Rapportbeskrivning och definitioner",
                  "Antal elever;Antal elever som fått eller skulle ha fått betyg.;"]
    return "\n".join(lines) + "\n"


BG_HEAD = ("Skola;Skol-enhetskod;Skolkommun;Kommun-kod;Typ av huvudman;Elever, årskurs 1-9;"
           "Andel (%) flickor, årskurs 1-9;Andel (%) elever med utländsk bakgrund, åk 1-9;"
           "Andel (%) elever med föräldrar med eftergymnasial utb., åk 1-9;")
BG_ROWS = ["Alfaskolan;12345678;Ale;1440;Kommunal;347;49,5;32,3;51,0;",
           "Betaskolan;23456789;Ale;1440;Enskild;120;50,8;12,0;61,4;"]
GIRLS = "Andel (%) flickor, årskurs 1-9"


def bg(rows: list[str] | None = None) -> str:
    """A Skolverket pupils-per-grade export (background): data rows on lines 7 and 8."""
    lines = ["Statistik från Skolverket, https://www.skolverket.se", "",
             "Grundskolan - Antal elever per årskurs", "Valt läsår: 2024/25", "", BG_HEAD]
    lines += BG_ROWS if rows is None else rows
    return "\n".join(lines + ["", "Rapportbeskrivning och definitioner"]) + "\n"


OBS_HEAD = ["Svars-ID", "Lektions-ID", "Datum", "Skolenhetskod", "Lärarkod", "Observatörskod",
            "Observatörens roll", "Typ av besök", "Ämne", "Årskurs"]
ITEM_COLS = [f"{it.id}. {it.text}" for it in INST.items]


def obs_row(rid: str = "1", lesson: str = "LEK1", date: str = "2023-09-14",
            school: str = "12345678", teacher: str = "L1", observer: str = "O1",
            role: str = "Rektor", kind: str = "Spontant besök", subject: str = "Matematik",
            grade: str = "7", scores: list[str] | None = None) -> list[str]:
    return [rid, lesson, date, school, teacher, observer, role, kind, subject, grade,
            *(scores if scores is not None else ["3"] * len(INST.items))]


def obs_rows(n: int = 3, **changes_by_row: dict) -> list[list[str]]:
    """n forms on lines 2..n+1; ``r3={...}`` changes the form on line 3."""
    rows = []
    for k in range(n):
        kw = {"rid": str(k + 1), "lesson": f"LEK{k + 1}", "teacher": f"L{k % 2 + 1}",
              "observer": f"O{k % 3 + 1}"}
        kw.update(changes_by_row.get(f"r{k + 2}", {}))
        rows.append(obs_row(**kw))
    return rows


def obs(rows: list[list[str]] | None = None, head: list[str] | None = None,
        delimiter: str = ",") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow((OBS_HEAD + ITEM_COLS) if head is None else head)
    w.writerows(obs_rows() if rows is None else rows)
    return buf.getvalue()


LONG_HEAD = ["Lektions-ID", "Datum", "Skolenhetskod", "Lärarkod", "Observatörskod",
             "Observatörens roll", "Typ av besök", "Påstående", "Poäng"]


def obs_long(changes: dict[int, dict[str, str]] | None = None) -> str:
    """Long format, one lesson: item rows on lines 2..13; ``changes[line] = {col: value}``."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, LONG_HEAD, delimiter=";", lineterminator="\n")
    w.writeheader()
    for k, it in enumerate(INST.items):
        rec = {"Lektions-ID": "LEK1", "Datum": "2023-10-02", "Skolenhetskod": "12345678",
               "Lärarkod": "L1", "Observatörskod": "O1", "Observatörens roll": "Rektor",
               "Typ av besök": "Planerat besök", "Påstående": it.id, "Poäng": "2"}
        rec.update((changes or {}).get(k + 2, {}))
        w.writerow(rec)
    return buf.getvalue()


REG_HEAD = "Skolenhetskod;Skola;Kommun-kod;Kommun;Typ av huvudman;Skolområde;Årskurser"
REG_ROWS = ["12345678;Alfaskolan;0604;Aneby;Kommunal;Norr;F-9",
            "23456789;Betaskolan;0604;Aneby;Fristående;;7-9",
            "34567890;Gammaskolan;0604;Aneby;Kommunal;Söder;F-6"]


def reg(rows: list[str] | None = None, head: str = REG_HEAD) -> str:
    """A school register: schools on lines 2..4."""
    return "\n".join([head, *(REG_ROWS if rows is None else rows)]) + "\n"


def _pupil_pnrs() -> list[str]:
    rng = np.random.default_rng(3)
    used: set[str] = set()
    return [fake_personnummer(rng, 2009, i % 2 == 0, used) for i in range(6)]


PUPIL_PNRS = _pupil_pnrs()


def pupil(i: int, **cells: str) -> dict[str, str]:
    rec = {"System": "X", "Datum": "2025-06-12", "Version": "1", "PersonNr": PUPIL_PNRS[i],
           "Skolenhetskod": "12345678", "Klass": "9A", "Fornamn": "Kim", "Efternamn": "Berg",
           "Bl": "C", "En": "B", "Ma": "E", "Sv": "D"}
    rec.update(cells)
    return rec


def pupils(recs: list[dict[str, str]] | None = None, header: list[str] | None = None,
           sep: str = ";") -> str:
    """An SCB grade file: pupils on lines 2..4."""
    names = list(SPEC_ORDER) if header is None else header
    recs = [pupil(0), pupil(1), pupil(2)] if recs is None else recs
    lines = [sep.join(names)] + [sep.join(r.get(n, "") for n in SPEC_ORDER) for r in recs]
    return "\n".join(lines) + "\n"


API_URL = "https://api.skolverket.se/planned-educations/v4/school-units/12345678/statistics/gr"


def api_body(**changes: list) -> dict:
    body = {"schoolUnit": "12345678",
            "averageGradesMeritRating9thGrade": [
                {"value": "250,1", "valueType": "EXISTS", "timePeriod": "2023/24"},
                {"value": "241,7", "valueType": "EXISTS", "timePeriod": "2022/23"}],
            "ratioOfPupilsIn9thGradeWithAllSubjectsPassed": [
                {"value": "88,2", "valueType": "EXISTS", "timePeriod": "2023/24"},
                {"value": "..", "valueType": "OMITTED_DUE_TO_BASED_ON_FEW_PUPILS",
                 "timePeriod": "2022/23"}]}
    body.update(changes)
    return body


def api(body: dict | None = None, url: str = API_URL) -> str:
    return json.dumps({"generatedAt": "2026-04-21T09:52:45.383Z", "url": url,
                       "json": {"status": "OK", "message": "Success",
                                "body": api_body() if body is None else body}},
                      ensure_ascii=False, indent=1)


API_UNIT = {"code": "12345678", "name": "Alfaskolan", "geographicalAreaCode": "1440",
            "principalOrganizerType": "Kommunal",
            "typeOfSchooling": [{"code": "gr", "schoolYears": ["1", "9"]}]}


def kolada_doc(values: list[dict] | None = None) -> dict:
    return {"count": 2, "values": [
        {"kpi": "N15505", "municipality": "1440", "period": 2024, "values": [
            {"gender": "T", "count": 1, "status": "", "value": 224.5},
            {"gender": "K", "count": 1, "status": "", "value": 233.1}]},
        {"kpi": "N15419", "municipality": "1440", "period": 2024, "values": [
            {"gender": "T", "count": 1, "status": "", "value": 80.5}]}]
        if values is None else values, "next_page": None}


def kolada(values: list[dict] | None = None) -> str:
    return json.dumps(kolada_doc(values), ensure_ascii=False, indent=1)


def kentry(kpi: str = "N15505", municipality: str = "1440", period: object = 2024,
           **value: object) -> dict:
    v = {"gender": "T", "count": 1, "status": "", "value": 224.5}
    v.update(value)
    return {"kpi": kpi, "municipality": municipality, "period": period, "values": [v]}


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
def w(name: str, data: str | bytes, encoding: str = "utf-8") -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
        return p
    return make


def xlsx(name: str, frame: pd.DataFrame, header: bool = True) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        frame.to_excel(p, index=False, header=header)
        return p
    return make


def with_columns(name: str, export: str, kolumner: str) -> Callable[[Path], Path]:
    """An export and a kolumner.yaml beside it (the loader reads both)."""
    def make(d: Path) -> Path:
        (d / "kolumner.yaml").write_text(kolumner, encoding="utf-8")
        p = d / name
        p.write_text(export, encoding="utf-8")
        return p
    return make


def folder(name: str, files: dict[str, str | bytes]) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        f = d / name
        f.mkdir()
        for n, data in files.items():
            (f / n).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return f
    return make


def truncate(text: str, marker: str, keep: int = 0) -> str:
    """``text`` cut ``keep`` characters after the first ``marker``."""
    i = text.index(marker) + keep
    return text[:i]


def obs_frame() -> pd.DataFrame:
    return pd.DataFrame(obs_rows(), columns=OBS_HEAD + ITEM_COLS)


def xlsx_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_excel(buf, index=False)
    return buf.getvalue()


# --------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------
LOADERS: dict[str, Callable[[Path], object]] = {
    "skolverket": read_skolverket,
    "api": read_skolverket_api,
    "api_schools": read_skolverket_api_schools,
    "kolada": read_kolada,
    "json": read_json_source,
    "observations": read_observations,
    "observations+register": lambda p: read_observations(
        p, schools=["12345678", "23456789"]),
    "schools": read_schools,
    "pupils": lambda p: read_pupil_grades(p, key=KEY),
    "folder": load_folder,
    "kolumner": load_column_map,
    # issue 13: a protocol with categorical items, and a column file beside the export
    "observations+kategorier": lambda p: read_observations(p, MIXED),
    "observations+kolumner": lambda p: read_observations(p, MIXED,
                                                         columns=p.parent / "kolumner.yaml"),
}


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    loader: str
    make: Callable[[Path], Path]
    error: type[UAError]
    row: int | None
    column: str | None
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    file: str | None = None  # the file the message names (default: the path read)


C = Case
CASES: list[Case] = []


def case(*args, **kw) -> None:
    CASES.append(C(*args, **kw))


# ---- wrong encoding -----------------------------------------------------------
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(32)) * 8
case("enc_skv_xls", "encoding", "skolverket", w("enc_skv_xls.csv", OLE2), FileFormatError,
     None, None, ("xls",))
case("enc_skv_binary", "encoding", "skolverket", w("enc_skv_binary.csv", PNG),
     FileFormatError, 2, None, ("textfil",))
case("enc_obs_macroman", "encoding", "observations",
     w("enc_obs_macroman.csv", obs(), encoding="mac_roman"), FileFormatError, 1, None,
     ("teckenkodning",))
case("enc_obs_binary", "encoding", "observations", w("enc_obs_binary.csv", PNG),
     FileFormatError, 2, None, ("textfil",))
case("enc_reg_utf16_cut", "encoding", "schools",
     w("enc_reg_utf16_cut.csv", reg().encode("utf-16")[:-1]), FileFormatError, None, None,
     ("UTF-16",))
case("enc_reg_macroman", "encoding", "schools",
     w("enc_reg_macroman.csv", reg(REG_ROWS[:2], head=REG_HEAD.replace("Årskurser",
                                                                       "Stadier")),
       encoding="mac_roman"), ValueFormatError, 3, "Typ av huvudman")
case("enc_pupils_binary", "encoding", "pupils", w("enc_pupils_binary.txt", OLE2),
     FileFormatError, None, None, ("xls",))
case("enc_api_ebcdic", "encoding", "api", w("enc_api_ebcdic.json", api(), encoding="cp500"),
     FileFormatError, 1, None, ("teckenkodning",))
case("enc_kolada_binary", "encoding", "kolada", w("enc_kolada_binary.json", PNG),
     FileFormatError, 2, None, ("textfil",))
case("enc_json_ebcdic", "encoding", "json", w("enc_json_ebcdic.json", kolada(),
                                              encoding="cp500"), FileFormatError, 1, None)

# ---- truncated ----------------------------------------------------------------
case("trunc_skv_midrow", "truncated", "skolverket",
     w("trunc_skv_midrow.csv", truncate(skv(), "91,1;")), FileFormatError, 9,
     "Andel (%) elever som fått godkänt betyg i alla ämnen – Flickor", ("avkortad",))
case("trunc_skv_after_header", "truncated", "skolverket",
     w("trunc_skv_after_header.csv", truncate(skv(), "Alfaskolan")), FileFormatError, 7, None,
     ("inga rader",))
case("trunc_skv_xlsx", "truncated", "skolverket",
     w("trunc_skv_xlsx.xlsx", xlsx_bytes(obs_frame())[:700]), FileFormatError, None, None,
     ("Excel",))
case("trunc_obs_midrow", "truncated", "observations",
     w("trunc_obs_midrow.csv", obs().rstrip("\n")[:-6]), FileFormatError, 4, ITEM_COLS[9],
     ("avkortad",))
case("trunc_obs_in_quote", "truncated", "observations",
     w("trunc_obs_in_quote.csv", truncate(obs(), "KL4.")), FileFormatError, 1, None,
     ("citattecken",))
case("trunc_obs_xlsx", "truncated", "observations",
     w("trunc_obs_xlsx.xlsx", xlsx_bytes(obs_frame())[:-200]), FileFormatError, None, None,
     ("Excel",))
case("trunc_reg_midrow", "truncated", "schools",
     w("trunc_reg_midrow.csv", truncate(reg(), "34567890;Gamma", 14)), FileFormatError, 4,
     "Kommun-kod", ("avkortad",))
case("trunc_pupils_midrow", "truncated", "pupils",
     w("trunc_pupils_midrow.txt", truncate(pupils(), PUPIL_PNRS[2], 12)), FileFormatError, 4,
     "Skolenhetskod", ("avkortad",), absent=tuple(PUPIL_PNRS))
case("trunc_api", "truncated", "api", w("trunc_api.json", api()[:300]), FileFormatError,
     api()[:300].count("\n") + 1,
     None, ("JSON",))
case("trunc_kolada", "truncated", "kolada", w("trunc_kolada.json", kolada()[:250]),
     FileFormatError, kolada()[:250].count("\n") + 1, None, ("JSON",))
case("trunc_api_schools", "truncated", "api_schools",
     w("trunc_api_schools.json", json.dumps(API_UNIT, indent=1)[:60]), FileFormatError, 4,
     None, ("JSON",))

# ---- wrong delimiter ----------------------------------------------------------
case("delim_skv_pipe", "delimiter", "skolverket",
     w("delim_skv_pipe.csv", skv().replace(";", "|")), MissingColumnError, None, "Kommun-kod")
case("delim_skv_comma_thousands", "delimiter", "skolverket",
     w("delim_skv_comma_thousands.csv", skv(rows=[
         "Alfaskolan\t12345678\tAle\t1440\tKommunal\t3,877\t1,920\t1,957\t82.0\t~100\t..\t"
         "231.5\t240.0\t222.5", SKV_ROWS[1].replace(";", "\t").replace(",", ".")],
         head=SKV_HEAD.replace(";", "\t"), cats=SKV_CATS.replace(";", "\t"))),
     ValueFormatError, 8, N_ALL, ("heltal",))
case("delim_obs_mixed", "delimiter", "observations",
     w("delim_obs_mixed.csv", obs() + ";".join(obs_row(rid="9", lesson="LEK9")) + "\n"),
     FileFormatError, 5, "Lektions-ID")
case("delim_obs_pipe", "delimiter", "observations",
     w("delim_obs_pipe.csv", obs(delimiter="|")), FileFormatError, 1,
     "|".join(OBS_HEAD + ITEM_COLS[:1]).split(",")[0], ("känns igen",))
case("delim_reg_pipe", "delimiter", "schools", w("delim_reg_pipe.csv", reg().replace(";", "|")),
     MissingColumnError, None, "Skolenhetskod")
case("delim_pupils_comma", "delimiter", "pupils",
     w("delim_pupils_comma.txt", pupils(sep=",")), FileFormatError, 1, None, ("fält",),
     absent=tuple(PUPIL_PNRS))

# ---- missing or renamed columns -----------------------------------------------
case("col_skv_no_measures", "columns", "skolverket",
     w("col_skv_no_measures.csv", skv(cats=SKV_CATS.replace("Genomsnittligt meritvärde (17 "
                                                            "ämnen)", "Medelvärde").replace(
         "Andel (%) elever som fått godkänt betyg i alla ämnen", "Andel klara").replace(
         "Antal elever", "Antal"))), MissingColumnError, 7, None, ("mått",))
case("col_skv_school_code_renamed", "columns", "skolverket",
     w("col_skv_school_code_renamed.csv", skv(head=SKV_HEAD.replace("Skol-enhetskod",
                                                                    "Skolkod"))),
     MissingColumnError, 7, "Skol-enhetskod")
case("col_skv_np_no_subject", "columns", "skolverket",
     w("col_skv_np_no_subject.csv",
       "Grundskola - Resultat nationella prov årskurs 9\nValt läsår: 2023/24\n\n"
       ";;;;;Andel (%) elever med provbetyg A-E;Andel (%) elever med provbetyg A-E;\n"
       "Kommun;Kommun-kod;Län;Läns-kod;Typ av huvudman;Totalt;Flickor;\n"
       "Ale;1440;V;14;Samtliga;88,1;90,2;\n"), MissingColumnError, 5, "Ämne")
case("col_obs_no_date", "columns", "observations",
     w("col_obs_no_date.csv", "\n".join(
         ",".join(f'"{x}"' for k, x in enumerate(r) if k != 2)
         for r in [OBS_HEAD + ITEM_COLS, *obs_rows()]) + "\n"), MissingColumnError, 1, "Datum")
case("col_obs_long_no_score", "columns", "observations",
     w("col_obs_long_no_score.csv", obs_long().replace(";Poäng", ";Värde", 1)),
     FileFormatError, 1, "Värde")
case("col_obs_no_items", "columns", "observations",
     w("col_obs_no_items.csv", obs(rows=[r[:10] for r in obs_rows()], head=OBS_HEAD)),
     MissingColumnError, 1, None, ("påståenden",))
case("col_reg_no_name", "columns", "schools",
     w("col_reg_no_name.csv", reg(head=REG_HEAD.replace("Skola;", "Enhet;"))),
     MissingColumnError, 1, "Skola")
case("col_reg_municipality_renamed", "columns", "schools",
     w("col_reg_municipality_renamed.csv", reg(head=REG_HEAD.replace("Kommun-kod",
                                                                     "Kommunnummer"))),
     MissingColumnError, 1, "Kommun-kod")
case("col_pupils_pnr_renamed", "columns", "pupils",
     w("col_pupils_pnr_renamed.txt", pupils(header=[("Elev" if n == "PersonNr" else n)
                                                    for n in SPEC_ORDER])),
     FileFormatError, 1, "Elev", absent=tuple(PUPIL_PNRS))
case("col_pupils_no_pnr", "columns", "pupils",
     w("col_pupils_no_pnr.txt", "\n".join(";".join(x for k, x in enumerate(ln.split(";"))
                                                    if k != 3)
                                           for ln in pupils().splitlines()) + "\n"),
     MissingColumnError, 1, "PersonNr", absent=tuple(PUPIL_PNRS))
case("col_pupils_no_date", "columns", "pupils",
     w("col_pupils_no_date.txt", pupils(header=[("Extraktionsdag" if n == "Datum" else n)
                                                for n in SPEC_ORDER])),
     FileFormatError, 1, "Extraktionsdag", absent=tuple(PUPIL_PNRS))
case("col_kolada_no_kpi", "columns", "kolada",
     w("col_kolada_no_kpi.json", kolada([kentry(), {k: v for k, v in kentry(
         period=2023).items() if k != "kpi"}])), ValueFormatError, 2, "kpi")
case("col_kolada_no_period", "columns", "kolada",
     w("col_kolada_no_period.json", kolada([{k: v for k, v in kentry().items()
                                             if k != "period"}])), ValueFormatError, 1,
     "period")
case("col_kolada_no_unit", "columns", "kolada",
     w("col_kolada_no_unit.json", kolada([{k: v for k, v in kentry().items()
                                           if k != "municipality"}])), ValueFormatError, 1,
     "municipality")
case("col_api_no_school_unit", "columns", "api",
     w("col_api_no_school_unit.json", api({k: v for k, v in api_body().items()
                                           if k != "schoolUnit"})), ValueFormatError, None,
     "schoolUnit")
case("col_api_schools_no_area", "columns", "api_schools",
     w("col_api_schools_no_area.json", json.dumps(
         {k: v for k, v in API_UNIT.items() if k != "geographicalAreaCode"})),
     ValueFormatError, None, "geographicalAreaCode")

# ---- duplicated rows -----------------------------------------------------------
case("dup_skv_row", "duplicates", "skolverket",
     w("dup_skv_row.csv", skv(rows=[*SKV_ROWS, SKV_ROWS[0]])), DuplicateRowsError, 8,
     "Skol-enhetskod", ("rad 10",))
case("dup_skv_background", "duplicates", "skolverket",
     w("dup_skv_background.csv", bg(rows=[*BG_ROWS, BG_ROWS[1]])), DuplicateRowsError, 8,
     "Skol-enhetskod", ("rad 9",))
case("dup_api_period", "duplicates", "api",
     w("dup_api_period.json", api(api_body(averageGradesMeritRating9thGrade=[
         {"value": "250,1", "valueType": "EXISTS", "timePeriod": "2023/24"},
         {"value": "250,1", "valueType": "EXISTS", "timePeriod": "2023/24"}]))),
     DuplicateRowsError, 1, "averageGradesMeritRating9thGrade", ("rad 2",))
case("dup_api_folder", "duplicates", "api",
     folder("dup_api_folder", {"a.json": api(), "b.json": api()}), DuplicateRowsError, 1,
     "averageGradesMeritRating9thGrade", ("b.json",), file="a.json")
case("dup_kolada_folder", "duplicates", "kolada",
     folder("dup_kolada_folder", {"sida1.json": kolada(), "sida2.json": kolada()}),
     DuplicateRowsError, 1, "values", ("rad 3",), file="dup_kolada_folder")
# issue 13: an identical copy of a form is dropped and counted (SKIPS below); a corrected
# copy (same lesson and observer, other answers) is refused naming both rows
case("dup_obs_corrected_form", "duplicates", "observations",
     w("dup_obs_corrected_form.csv", obs(
         rows=[r[1:] for r in [*obs_rows(), obs_rows(r3={"scores": ["1"] * 12})[1]]],
         head=OBS_HEAD[1:] + ITEM_COLS)),
     DuplicateRowsError, 3, "Lektions-ID", ("rad 3", "rad 5"))
case("dup_obs_long_item", "duplicates", "observations",
     w("dup_obs_long_item.csv", obs_long({5: {"Påstående": "KL1", "Poäng": "3"}})),
     DuplicateRowsError, 2, "Lektions-ID", ("rad 2", "rad 5"))
case("dup_reg_xlsx", "duplicates", "schools",
     xlsx("dup_reg_xlsx.xlsx", pd.DataFrame(
         [r.split(";") for r in [*REG_ROWS, REG_ROWS[0]]], columns=REG_HEAD.split(";"))),
     DuplicateRowsError, 2, "Skolenhetskod", ("rad 5",))
case("dup_pupils_no_header", "duplicates", "pupils",
     w("dup_pupils_no_header.txt", "\n".join(pupils([pupil(0), pupil(1), pupil(0)])
                                             .splitlines()[1:]) + "\n"),
     DuplicateRowsError, 1, "PersonNr", ("rad 1, 3",), absent=tuple(PUPIL_PNRS))

# ---- scores out of scale ---------------------------------------------------------
case("scale_obs_zero", "scale", "observations",
     w("scale_obs_zero.csv", obs(obs_rows(r3={"scores": ["0"] + ["3"] * 11}))), ScaleError, 3,
     ITEM_COLS[0])
case("scale_obs_negative", "scale", "observations",
     w("scale_obs_negative.csv", obs(obs_rows(r4={"scores": ["3"] * 11 + ["-1"]}))),
     ScaleError, 4, ITEM_COLS[11])
case("scale_obs_long_nine", "scale", "observations",
     w("scale_obs_long_nine.csv", obs_long({7: {"Poäng": "9"}})), ScaleError, 7, "Poäng")
case("scale_obs_xlsx_half", "scale", "observations",
     xlsx("scale_obs_xlsx_half.xlsx", obs_frame().astype(object).assign(
         **{ITEM_COLS[4]: [3, 3.5, 3]})), ScaleError, 3, ITEM_COLS[4])
case("scale_skv_pct", "scale", "skolverket",
     w("scale_skv_pct.csv", skv(rows=[SKV_ROWS[0], SKV_ROWS[1].replace("91,1", "182,0")])),
     ValueFormatError, 9, PASS, ("0–100",))
case("scale_skv_merit", "scale", "skolverket",
     w("scale_skv_merit.csv", skv(rows=[SKV_ROWS[0].replace("231,5", "412,0"), SKV_ROWS[1]])),
     ValueFormatError, 8, MERIT, ("340",))
case("scale_skv_negative_count", "scale", "skolverket",
     w("scale_skv_negative_count.csv", skv(rows=[SKV_ROWS[0].replace(";38;20;", ";-38;20;"),
                                                 SKV_ROWS[1]])), ValueFormatError, 8, N_ALL)
case("scale_skv_background_share", "scale", "skolverket",
     w("scale_skv_background_share.csv", bg(rows=[BG_ROWS[0].replace("49,5", "149,5"),
                                                  BG_ROWS[1]])), ValueFormatError, 7, GIRLS,
     ("0–100",))
case("scale_api_pct", "scale", "api",
     w("scale_api_pct.json", api(api_body(ratioOfPupilsIn9thGradeWithAllSubjectsPassed=[
         {"value": "140,0", "valueType": "EXISTS", "timePeriod": "2023/24"}]))),
     ValueFormatError, 1, "ratioOfPupilsIn9thGradeWithAllSubjectsPassed", ("0–100",))
case("scale_kolada_pct", "scale", "kolada",
     w("scale_kolada_pct.json", kolada([kentry(), kentry("N15419", value=180.0)])),
     ValueFormatError, 2, "value", ("0–100",))
case("scale_kolada_merit_negative", "scale", "kolada",
     w("scale_kolada_merit_negative.json", kolada([kentry(value=-3.0)])), ValueFormatError, 1,
     "value")

# ---- unknown codes ----------------------------------------------------------------
case("code_obs_school_xlsx", "codes", "observations+register",
     xlsx("code_obs_school_xlsx.xlsx", obs_frame().assign(
         Skolenhetskod=["12345678", "34567890", "23456789"])), UnknownSchoolError, 3,
     "Skolenhetskod", ("34567890",))
case("code_obs_school_letters", "codes", "observations",
     w("code_obs_school_letters.csv", obs(obs_rows(r4={"school": "12A45678"}))),
     ValueFormatError, 4, "Skolenhetskod")
case("code_obs_long_item", "codes", "observations",
     w("code_obs_long_item.csv", obs_long({9: {"Påstående": "KL7"}})), UnknownItemError, 9,
     "Påstående", ("KL7",))
case("code_obs_role_blank", "codes", "observations",
     w("code_obs_role_blank.csv", obs(obs_rows(r2={"role": ""}))), ValueFormatError, 2,
     "Observatörens roll")
case("code_obs_type", "codes", "observations",
     w("code_obs_type.csv", obs(obs_rows(r3={"kind": "Distansbesök"}))), ValueFormatError, 3,
     "Typ av besök")
case("code_obs_grade", "codes", "observations",
     w("code_obs_grade.csv", obs(obs_rows(r4={"grade": "åk 12"}))), ValueFormatError, 4,
     "Årskurs")
case("code_reg_principal", "codes", "schools",
     w("code_reg_principal.csv", reg([*REG_ROWS[:2], REG_ROWS[2].replace("Kommunal",
                                                                        "Region")])),
     ValueFormatError, 4, "Typ av huvudman")
case("code_reg_municipality", "codes", "schools",
     w("code_reg_municipality.csv", reg([REG_ROWS[0].replace("0604", "06041"),
                                         *REG_ROWS[1:]])), ValueFormatError, 2, "Kommun-kod")
case("code_skv_municipality", "codes", "skolverket",
     w("code_skv_municipality.csv", skv(rows=[SKV_ROWS[0], SKV_ROWS[1].replace("1440",
                                                                               "14X0")])),
     ValueFormatError, 9, "Kommun-kod")
case("code_kolada_municipality", "codes", "kolada",
     w("code_kolada_municipality.json", kolada([kentry(), kentry(municipality="14400")])),
     ValueFormatError, 2, "municipality")
case("code_kolada_period", "codes", "kolada",
     w("code_kolada_period.json", kolada([kentry(period="2024H1")])), ValueFormatError, 1,
     "period")
case("code_api_school_unit", "codes", "api",
     w("code_api_school_unit.json", api(api_body(schoolUnit="1234567X"))), ValueFormatError,
     None, "schoolUnit")
case("code_pupils_grade", "codes", "pupils",
     w("code_pupils_grade.txt", pupils([pupil(0), pupil(1, Ma="5"), pupil(2)])),
     ValueFormatError, 3, "Ma", ("'5'",), absent=tuple(PUPIL_PNRS))
case("code_pupils_school", "codes", "pupils",
     w("code_pupils_school.txt", pupils([pupil(0), pupil(1), pupil(2, Skolenhetskod="ABC")])),
     ValueFormatError, 4, "Skolenhetskod", absent=tuple(PUPIL_PNRS))
case("code_folder_school_not_in_register", "codes", "folder",
     folder("code_folder_school_not_in_register", {
         "skolregister.csv": reg(), "observationer.csv": obs(obs_rows(
             r3={"school": "99999999"}))}), UnknownSchoolError, 3, "Skolenhetskod",
     ("99999999",), file="observationer.csv")

# ---- future dates ---------------------------------------------------------------
case("future_obs_date", "future", "observations",
     w("future_obs_date.csv", obs(obs_rows(r3={"date": "2099-09-14"}))), ValueFormatError, 3,
     "Datum", ("framtiden",))
case("future_obs_long_date", "future", "observations",
     w("future_obs_long_date.csv", obs_long({2: {"Datum": "14 september 2098"}})),
     ValueFormatError, 2, "Datum", ("framtiden",))
case("future_pupils_date", "future", "pupils",
     w("future_pupils_date.txt", pupils([pupil(0), pupil(1, Datum="2099-06-12"), pupil(2)])),
     ValueFormatError, 3, "Datum", ("framtiden",), absent=tuple(PUPIL_PNRS))
case("future_skv_school_year", "future", "skolverket",
     w("future_skv_school_year.csv", skv(year="Valt läsår: 2098/99")), ValueFormatError, 4,
     None, ("framtiden",))
case("future_api_period", "future", "api",
     w("future_api_period.json", api(api_body(averageGradesMeritRating9thGrade=[
         {"value": "250,1", "valueType": "EXISTS", "timePeriod": "2023/24"},
         {"value": "251,1", "valueType": "EXISTS", "timePeriod": "2098/99"}]))),
     ValueFormatError, 2, "averageGradesMeritRating9thGrade", ("framtiden",))
case("future_kolada_period", "future", "kolada",
     w("future_kolada_period.json", kolada([kentry(), kentry(period=2099)])), ValueFormatError,
     2, "period", ("framtiden",))

# ---- mixed decimal separators ------------------------------------------------------
case("decimal_skv_mixed", "decimals", "skolverket",
     w("decimal_skv_mixed.csv", skv(rows=[SKV_ROWS[0], SKV_ROWS[1].replace("250,3", "250.3")])),
     ValueFormatError, 9, MERIT, ("decimalkomma",))
case("decimal_skv_count_point", "decimals", "skolverket",
     w("decimal_skv_count_point.csv", skv(rows=[SKV_ROWS[0], SKV_ROWS[1].replace(
         ";45;", ";1.045;")])), ValueFormatError, 9, N_ALL)
case("decimal_skv_background_mixed", "decimals", "skolverket",
     w("decimal_skv_background_mixed.csv", bg(rows=[BG_ROWS[0], BG_ROWS[1].replace(
         "12,0", "12.0")])), ValueFormatError, 8,
     "Andel (%) elever med utländsk bakgrund, åk 1-9", ("decimalkomma",))
case("decimal_api_mixed", "decimals", "api",
     w("decimal_api_mixed.json", api(api_body(averageGradesMeritRating9thGrade=[
         {"value": "250,1", "valueType": "EXISTS", "timePeriod": "2023/24"},
         {"value": "241.7", "valueType": "EXISTS", "timePeriod": "2022/23"}]))),
     ValueFormatError, 2, "averageGradesMeritRating9thGrade", ("decimalkomma",))
case("decimal_kolada_mixed", "decimals", "kolada",
     w("decimal_kolada_mixed.json", kolada([kentry(value="224,5"), kentry(
         "N15419", value="80.5")])), ValueFormatError, 2, "value", ("decimalkomma",))
case("decimal_obs_both_in_cell", "decimals", "observations",
     w("decimal_obs_both_in_cell.csv", obs(obs_rows(r2={"scores": ["3"] * 5 + ["1.0,0"]
                                                         + ["3"] * 6}))),
     ValueFormatError, 2, ITEM_COLS[5])

# ---- empty files ---------------------------------------------------------------
for _loader, _suffix in [("skolverket", ".csv"), ("observations", ".csv"), ("schools", ".csv"),
                         ("pupils", ".txt"), ("api", ".json"), ("kolada", ".json"),
                         ("json", ".json"), ("api_schools", ".json")]:
    case(f"empty_{_loader}", "empty", _loader, w(f"empty_{_loader}{_suffix}", b""),
         FileFormatError, None, None, ("tom",))
case("empty_skv_bom_only", "empty", "skolverket", w("empty_skv_bom_only.csv",
                                                    b"\xef\xbb\xbf\r\n  \r\n"),
     FileFormatError, None, None, ("tom",))
case("empty_obs_header_only", "empty", "observations",
     w("empty_obs_header_only.csv", obs(rows=[])), FileFormatError, 1, None, ("inga rader",))
case("empty_reg_header_only", "empty", "schools", w("empty_reg_header_only.csv", reg(rows=[])),
     FileFormatError, 1, None, ("inga rader",))
case("empty_pupils_header_only", "empty", "pupils",
     w("empty_pupils_header_only.txt", pupils(recs=[])), FileFormatError, 1, None,
     ("inga rader",))
case("empty_obs_xlsx", "empty", "observations", xlsx("empty_obs_xlsx.xlsx", pd.DataFrame()),
     FileFormatError, None, None, ("tom",))
case("empty_skv_xlsx", "empty", "skolverket", xlsx("empty_skv_xlsx.xlsx", pd.DataFrame()),
     FileFormatError, None, None, ("tom",))

# ---- huge cells ------------------------------------------------------------------
case("huge_obs_subject", "huge", "observations",
     w("huge_obs_subject.csv", obs(obs_rows(r3={"subject": "M" * HUGE}))), FileFormatError, 3,
     "Ämne", ("32\u202f767",))  # narrow no-break space (_format.number)
case("huge_obs_unclosed_quote", "huge", "observations",
     w("huge_obs_unclosed_quote.csv",
       obs().replace(",Matematik,", ',"Matematik,', 1) + "x" * HUGE), FileFormatError, 2,
     "Ämne", ("citattecken",))
case("huge_obs_long_item", "huge", "observations",
     w("huge_obs_long_item.csv", obs_long({5: {"Påstående": "KL4" + " " * HUGE + "x"}})),
     FileFormatError, 5, "Påstående", ("32\u202f767",))  # narrow no-break space (_format.number)
case("huge_skv_value", "huge", "skolverket",
     w("huge_skv_value.csv", skv(rows=[SKV_ROWS[0].replace("231,5", "2" * HUGE),
                                       SKV_ROWS[1]])), FileFormatError, 8, MERIT)
case("huge_reg_name", "huge", "schools",
     w("huge_reg_name.csv", reg([REG_ROWS[0], REG_ROWS[1].replace("Betaskolan", "B" * HUGE),
                                 REG_ROWS[2]])), FileFormatError, 3, "Skola")
case("huge_pupils_class", "huge", "pupils",
     w("huge_pupils_class.txt", pupils([pupil(0, Klass="9" * HUGE), pupil(1)])),
     FileFormatError, 2, "Klass", absent=tuple(PUPIL_PNRS))
case("huge_api_value", "huge", "api",
     w("huge_api_value.json", api(api_body(averageGradesMeritRating9thGrade=[
         {"value": "2" * HUGE, "valueType": "EXISTS", "timePeriod": "2023/24"}]))),
     ValueFormatError, 1, "averageGradesMeritRating9thGrade")
case("huge_kolada_value", "huge", "kolada",
     w("huge_kolada_value.json", kolada([kentry(value="9" * HUGE)])), ValueFormatError, 1,
     "value")

# ---- BOM in the middle --------------------------------------------------------------
case("bom_obs_concatenated", "bom", "observations",
     w("bom_obs_concatenated.csv", obs() + "\ufeff" + obs(obs_rows(r2={"rid": "7",
                                                                        "lesson": "LEK7"}))),
     FileFormatError, 5, "Svars-ID", ("BOM",))
case("bom_skv_concatenated", "bom", "skolverket",
     w("bom_skv_concatenated.csv", skv() + "\ufeff" + skv(year="Valt läsår: 2022/23")),
     FileFormatError, 13, "Skola", ("BOM",))
case("bom_skv_second_table", "bom", "skolverket",
     w("bom_skv_second_table.csv", skv() + "\n" + skv(footer=False).split("\n", 5)[5]),
     FileFormatError, 15, None, ("flera",))
case("bom_reg_in_cell", "bom", "schools",
     w("bom_reg_in_cell.csv", reg([REG_ROWS[0], REG_ROWS[1].replace(";Betaskolan",
                                                                    ";\ufeffBetaskolan"),
                                   REG_ROWS[2]])), FileFormatError, 3, "Skola", ("BOM",))
case("bom_pupils_concatenated", "bom", "pupils",
     w("bom_pupils_concatenated.txt", pupils([pupil(0)]) + "\ufeff" + pupils([pupil(1)])),
     FileFormatError, 3, "System", ("BOM",), absent=tuple(PUPIL_PNRS))
case("bom_kolada_concatenated", "bom", "kolada",
     w("bom_kolada_concatenated.json", kolada() + "\n\ufeff" + kolada()), FileFormatError,
     kolada().count("\n") + 2, None, ("flera dokument",))
case("bom_api_concatenated", "bom", "api",
     w("bom_api_concatenated.json", api() + "\n\ufeff" + api()), FileFormatError,
     api().count("\n") + 2, None, ("flera dokument",))

# ---- personnummer where none may be ---------------------------------------------------
case("pnr_reg_principal_column", "personnummer", "schools",
     w("pnr_reg_principal_column.csv", reg([f"{r};{PNRS[k]}" for k, r in enumerate(REG_ROWS)],
                                           head=REG_HEAD + ";Rektor")),
     PersonalNumberFound, 2, "Rektor", absent=tuple(PNRS))
case("pnr_skv_extra_column", "personnummer", "skolverket",
     w("pnr_skv_extra_column.csv", skv(rows=[f"{r}{PNRS[k]};" for k, r in enumerate(SKV_ROWS)],
                                       head=SKV_HEAD + "Kontakt;", cats=SKV_CATS + ";")),
     PersonalNumberFound, 8, "Kontakt", absent=tuple(PNRS))
case("pnr_obs_ignored_name_column", "personnummer", "observations",
     w("pnr_obs_ignored_name_column.csv", obs([r + [PNRS[k]] for k, r in enumerate(obs_rows())],
                                              head=OBS_HEAD + ITEM_COLS + ["Namn"])),
     PersonalNumberFound, 2, "Namn", absent=tuple(PNRS))
case("pnr_obs_one_observer", "personnummer", "observations",
     w("pnr_obs_one_observer.csv", obs(obs_rows(5, r5={"observer": PNRS[0][2:8] + "-"
                                                               + PNRS[0][8:]}))),
     PersonalNumberFound, 5, "Observatörskod", absent=(PNRS[0], PNRS[0][2:8]))
case("pnr_api_values", "personnummer", "api",
     w("pnr_api_values.json", api(api_body(someContactList=[
         {"value": p, "valueType": "EXISTS", "timePeriod": "2023/24"} for p in PNRS[:3]]))),
     PersonalNumberFound, 1, "someContactList", absent=tuple(PNRS))
case("pnr_kolada_values", "personnummer", "kolada",
     w("pnr_kolada_values.json", kolada([kentry("X1", value=int(p)) for p in PNRS[:2]])),
     PersonalNumberFound, 1, "value", absent=tuple(PNRS))
case("pnr_pupils_version", "personnummer", "pupils",
     w("pnr_pupils_version.txt", pupils([pupil(0, Version=PNRS[0]), pupil(1, Version=PNRS[1]),
                                         pupil(2, Version=PNRS[2])])),
     PersonalNumberFound, 2, "Version", absent=tuple(PNRS) + tuple(PUPIL_PNRS))

# ---- names in an observation export ----------------------------------------------------------
# (issue 13) names and e-mail addresses of teachers and observers are replaced by keyed
# pseudonyms at read; without a key the export is refused naming the rows, never the names
_KEY_FIX = ("namn", "UA_PSEUDONYM_KEY", "export UA_PSEUDONYM_KEY=")
case("names_obs_teacher", "names", "observations",
     w("names_obs_teacher.csv", obs(obs_rows(r3={"teacher": "Anna Andersson"}))),
     MissingKeyError, 3, "Lärarkod", _KEY_FIX, absent=("Anna", "Andersson"))
case("names_obs_observer_comma", "names", "observations",
     w("names_obs_observer_comma.csv", obs(obs_rows(r2={"observer": "Berg, Karin"}))),
     MissingKeyError, 2, "Observatörskod", _KEY_FIX, absent=("Karin", "Berg"))
case("names_obs_teacher_email", "names", "observations",
     w("names_obs_teacher_email.csv", obs(obs_rows(r4={"teacher": "anna.andersson@skola.se"}))),
     MissingKeyError, 4, "Lärarkod", ("e-post", "UA_PSEUDONYM_KEY"), absent=("anna.andersson",))
case("names_obs_teacher_column", "names", "observations",
     w("names_obs_teacher_column.csv", obs(
         [r[:4] + [n] + r[5:] for r, n in zip(obs_rows(), ["Eva Ek", "Olle Ås", "Eva Ek"])],
         head=[("Lärare" if h == "Lärarkod" else h) for h in OBS_HEAD] + ITEM_COLS)),
     MissingKeyError, 2, "Lärare", _KEY_FIX, absent=("Eva Ek", "Olle Ås"))
case("names_obs_long_observer", "names", "observations",
     w("names_obs_long_observer.csv", obs_long({k: {"Observatörskod": "Rektor Lena Holm"}
                                                for k in range(2, 14)})),
     MissingKeyError, 2, "Observatörskod", _KEY_FIX, absent=("Lena", "Holm"))
case("names_obs_single_first_name", "names", "observations",
     w("names_obs_single_first_name.csv", obs(obs_rows(r4={"observer": "Carolina"}))),
     MissingKeyError, 4, "Observatörskod", _KEY_FIX, absent=("Carolina",))
case("names_obs_first_names_xlsx", "names", "observations",
     xlsx("names_obs_first_names_xlsx.xlsx", pd.DataFrame(
         [r[:5] + ["tamara"] + r[6:] for r in obs_rows()], columns=OBS_HEAD + ITEM_COLS)),
     MissingKeyError, 2, "Observatörskod", _KEY_FIX, absent=("tamara", "Tamara"))



# ---- Skolenkäten workbooks and the organiser's own measures (issue 16) --------------------
ENK_HEAD = ["Orgnummer", "Huvudman", "Kommun", "Skolenhetskod", "Skolenhet", "Antal i gruppen",
            "Antal", "Svarsfrekvens"]


def enk(name: str, change: Callable | None = None, title: str = "Skolenkäten 2023 - Elever åk 8",
        sheet: str = "Resultat elever åk 8 2023") -> Callable[[Path], Path]:
    """A small workbook of the excelrapport layout (see tests/test_io_skolenkaten.py),
    damaged by ``change(ws)``."""
    def make(d: Path) -> Path:
        import openpyxl

        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = sheet
        ws.append([title] + [None] * 7 + ["8. Studiero", "Hur ofta är det arbetsro på "
                                                         "lektionerna?", "9. Trygghet",
                                          "Känner du dig trygg i skolan?"])
        ws.append(ENK_HEAD + [None] * 4)
        ws.append([None] * 8 + ["Index", "Medelvärde", "Index", "Medelvärde"])
        ws.append([2120009990, "Exempelkommuns kommun", None, None, None, 400, 300, 0.75,
                   6.1, 6.0, 8.0, 8.1])
        ws.append([2120009990, "Exempelkommuns kommun", "Exempelkommun", 99001234,
                   "Alfaskolan", 60, 45, 0.75, 5.9, 5.8, "-", "-"])
        ws.append([2120009990, "Exempelkommuns kommun", "Exempelkommun", 99005678,
                   "Betaskolan", 80, 62, 0.775, 6.4, 6.3, 8.3, 8.2])
        if change is not None:
            change(ws)
        p = d / name
        wb.save(p)
        return p
    return make


def _set(cells: dict[str, object]) -> Callable:
    def change(ws) -> None:
        for ref, v in cells.items():
            ws[ref] = v
    return change


def _gender_sheet(bad: object) -> Callable:
    """Add the sheet 'Könsuppdelat resultat' (Totalt, Flicka, Pojke under each index and
    question) whose Betaskolan index for Studiero, girls, is ``bad``."""
    def change(ws) -> None:
        g = ws.parent.create_sheet("Könsuppdelat resultat")
        h1, h2, h3 = [ws["A1"].value] + [None] * 7, list(ENK_HEAD), [None] * 8
        for heading, question in (("8. Studiero", "Hur ofta är det arbetsro på lektionerna?"),
                                  ("9. Trygghet", "Känner du dig trygg i skolan?")):
            for label, kind in ((heading, "Index"), (question, "Medelvärde")):
                h1 += [label, None, None]
                h2 += ["Totalt", "Flicka", "Pojke"]
                h3 += [kind] * 3
        for r in (h1, h2, h3):
            g.append(r)
        for row in ws.iter_rows(min_row=4, values_only=True):
            ident = list(row[:8])
            vals = []
            for v in row[8:12]:
                vals += [v, v, v]
            g.append(ident + vals)
        g.cell(g.max_row, 10).value = bad
    return change


LM_HEAD = "Skolenhetskod;Skola;Termin;Läsår;Mått;Värde;Antal elever"
LM_ROWS = ["99001234;Alfaskolan;HT2023;;Närvaro (%);93,4;412",
           "99001234;Alfaskolan;VT2024;;Närvaro (%);92,0;400",
           "99005678;Betaskolan;;2023/24;Anmälda kränkningar per 100 elever;3,1;300"]


def lm(rows: list[str] | None = None, head: str = LM_HEAD) -> str:
    return "\n".join([head] + (LM_ROWS if rows is None else rows)) + "\n"


PA_HEAD = "Personnummer;Skolenhetskod;Period;Schemalagd tid;Frånvaro"


def pa(rows: list[str] | None = None, head: str = PA_HEAD) -> str:
    base = [f"{PNRS[k]};99001234;HT2023;1000;{50 * k}" for k in range(len(PNRS))]
    return "\n".join([head] + (base if rows is None else rows)) + "\n"


LOADERS.update({
    "skolenkaten": read_skolenkaten,
    "local": read_local_measures,
    "attendance": lambda p: read_pupil_attendance(p, key=KEY),
})

case("columns_enk_no_school_code", "columns", "skolenkaten",
     enk("columns_enk_no_school_code.xlsx", _set({"D2": "Kod"})), MissingColumnError, 2,
     "Skolenhetskod", ("Resultat elever åk 8 2023",))
case("scale_enk_index_above_10", "scale", "skolenkaten",
     enk("scale_enk_index_above_10.xlsx", _set({"I6": 12.5})), ValueFormatError, 6, "I",
     ("Studiero", "0–10", "Resultat elever åk 8 2023"))
case("scale_enk_rate_above_1", "scale", "skolenkaten",
     enk("scale_enk_rate_above_1.xlsx", _set({"H5": 75})), ValueFormatError, 5, "H",
     ("Svarsfrekvens",))
case("codes_enk_school_code", "codes", "skolenkaten",
     enk("codes_enk_school_code.xlsx", _set({"D5": "99-1234"})), ValueFormatError, 5, "D",
     ("8 siffror",))
case("codes_enk_text_in_index", "codes", "skolenkaten",
     enk("codes_enk_text_in_index.xlsx", _set({"K6": "hög"})), ValueFormatError, 6, "K",
     ("Trygghet",))
case("codes_enk_no_group", "codes", "skolenkaten",
     enk("codes_enk_no_group.xlsx", title="Skolenkäten 2023", sheet="Resultat 2023"),
     FileFormatError, 1, "A", ("respondentgrupp",))
case("columns_enk_question_without_mean", "columns", "skolenkaten",
     enk("columns_enk_question_without_mean.xlsx", _set({"J3": "Antal"})), FileFormatError, 3,
     "J", ("Medelvärde",))
case("future_enk_year", "future", "skolenkaten",
     enk("future_enk_year.xlsx", title="Skolenkäten 2099 - Elever åk 8",
         sheet="Resultat elever åk 8"), ValueFormatError, 1, "A", ("framtiden",))
case("encoding_enk_csv", "encoding", "skolenkaten",
     w("encoding_enk_csv.csv", "Orgnummer;Huvudman\n1;2\n"), FileFormatError, None, None,
     ("xlsx",))
case("empty_enk_no_rows", "empty", "skolenkaten",
     enk("empty_enk_no_rows.xlsx", lambda ws: ws.delete_rows(4, 3)), FileFormatError, 2, None,
     ("inga rader",))
case("pnr_enk_extra_column", "personnummer", "skolenkaten",
     enk("pnr_enk_extra_column.xlsx", _set({"M2": "Kontakt", "M4": PNRS[0], "M5": PNRS[1],
                                            "M6": PNRS[2]})), PersonalNumberFound, 4, "Kontakt",
     absent=tuple(PNRS))
case("codes_enk_gender_sheet_text", "codes", "skolenkaten",
     enk("codes_enk_gender_sheet_text.xlsx", _gender_sheet("hög")), ValueFormatError, 6, "J",
     ("Könsuppdelat resultat", "Studiero"))

case("columns_local_no_value", "columns", "local",
     w("columns_local_no_value.csv", lm([r.rsplit(";", 2)[0] + ";" + r.rsplit(";", 1)[1]
                                          for r in LM_ROWS],
                                         head="Skolenhetskod;Skola;Termin;Läsår;Mått;"
                                              "Antal elever")),
     MissingColumnError, 1, "Värde")
case("codes_local_measure", "codes", "local",
     w("codes_local_measure.csv", lm(LM_ROWS[:2] + [LM_ROWS[2].replace(
         "Anmälda kränkningar per 100 elever", "Trivsel")])), ValueFormatError, 4, "Mått",
     ("local_",))
case("codes_local_term", "codes", "local",
     w("codes_local_term.csv", lm([LM_ROWS[0].replace("HT2023", "hösten 23")] + LM_ROWS[1:])),
     ValueFormatError, 2, "Termin", ("HT2023",))
case("scale_local_attendance", "scale", "local",
     w("scale_local_attendance.csv", lm([LM_ROWS[0].replace("93,4", "934")] + LM_ROWS[1:])),
     ValueFormatError, 2, "Värde", ("0–100",))
case("duplicates_local_term", "duplicates", "local",
     w("duplicates_local_term.csv", lm(LM_ROWS + [LM_ROWS[1]])), DuplicateRowsError, 5, "Mått",
     ("rad 3, 5",))
case("duplicates_local_term_and_year", "duplicates", "local",
     w("duplicates_local_term_and_year.csv", lm(LM_ROWS + [
         "99001234;Alfaskolan;;2023/24;Närvaro (%);92,5;410"])), DuplicateRowsError, 5, "Mått")
case("future_local_term", "future", "local",
     w("future_local_term.csv", lm([LM_ROWS[0].replace("HT2023", "HT2099")] + LM_ROWS[1:])),
     ValueFormatError, 2, "Termin", ("framtiden",))
case("decimals_local_mixed", "decimals", "local",
     w("decimals_local_mixed.csv", lm([LM_ROWS[0], LM_ROWS[1].replace("92,0", "92.0"),
                                       LM_ROWS[2]])), ValueFormatError, 3, "Värde",
     ("decimalkomma",))
case("empty_local_header_only", "empty", "local", w("empty_local_header_only.csv", lm([])),
     FileFormatError, 1, None, ("inga rader",))
case("scale_local_no_pupils", "scale", "local",
     w("scale_local_no_pupils.csv", lm([LM_ROWS[0].rsplit(";", 1)[0] + ";"] + LM_ROWS[1:])),
     ValueFormatError, 2, "Antal elever", ("10 elever",))
case("columns_local_xlsx_sheet", "columns", "local",
     xlsx("columns_local_xlsx_sheet.xlsx", pd.DataFrame(
         [r.split(";")[:5] + [r.split(";")[6]] for r in LM_ROWS],
         columns=["Skolenhetskod", "Skola", "Termin", "Läsår", "Mått", "Antal elever"])),
     MissingColumnError, 1, "Värde", ("Sheet1",))

case("columns_attendance_no_period", "columns", "attendance",
     w("columns_attendance_no_period.csv", pa([f"{p};99001234;1000;10" for p in PNRS[:3]],
                                              head="Personnummer;Skolenhetskod;Schemalagd tid;"
                                                   "Frånvaro")),
     MissingColumnError, 1, "Period", absent=tuple(PNRS))
case("scale_attendance_absent_above_scheduled", "scale", "attendance",
     w("scale_attendance_absent_above_scheduled.csv", pa([f"{PNRS[0]};99001234;HT2023;100;40",
                                                          f"{PNRS[1]};99001234;HT2023;100;140"])),
     ValueFormatError, 3, "Frånvaro", absent=tuple(PNRS))
case("codes_attendance_period", "codes", "attendance",
     w("codes_attendance_period.csv", pa([f"{PNRS[0]};99001234;vecka 37;100;4"])),
     ValueFormatError, 2, "Period", absent=tuple(PNRS))
case("columns_attendance_xlsx_no_presence", "columns", "attendance",
     xlsx("columns_attendance_xlsx_no_presence.xlsx", pd.DataFrame(
         [[p, "99001234", "HT2023"] for p in PNRS[:3]],
         columns=["Personnummer", "Skolenhetskod", "Period"])),
     MissingColumnError, 1, "Närvaro (%)", ("Sheet1", "Schemalagd tid"), absent=tuple(PNRS))
case("scale_attendance_xlsx_presence", "scale", "attendance",
     xlsx("scale_attendance_xlsx_presence.xlsx", pd.DataFrame(
         [[PNRS[0], "99001234", "2023-09", 96.5], [PNRS[1], "99001234", "2023-09", 120]],
         columns=["Personnummer", "Skolenhetskod", "Period", "Närvaro (%)"])),
     ValueFormatError, 3, "Närvaro (%)", ("Sheet1", "0–100"), absent=tuple(PNRS))

# ---- issue 13: a real municipality's folder ---------------------------------------
case("code_skv_nine_digit_other_municipality", "codes", "skolverket",
     w("code_skv_nine_digit_other_municipality.csv",
       skv([SKV_ROWS[0], SKV_ROWS[1].replace("23456789", "148912345")],
           year="Valt läsår: 2011/12")),
     ValueFormatError, 9, "Skol-enhetskod", ("nio siffror", "1440"))
case("code_skv_ten_digits", "codes", "skolverket",
     w("code_skv_ten_digits.csv", skv([SKV_ROWS[0], SKV_ROWS[1].replace("23456789",
                                                                       "1440123456")])),
     ValueFormatError, 9, "Skol-enhetskod", ("historisk",))
case("columns_kolumner_unknown_target", "columns", "kolumner",
     w("kolumner.yaml", "kolumner:\n  Besöksdag: date\n  Vem: observatör\n"),
     ValueFormatError, 3, "Vem", ("observer_id",))
case("columns_kolumner_not_yaml", "columns", "kolumner",
     w("kolumner.yaml", "kolumner:\n  Besöksdag: [date\n"), FileFormatError, 3, None,
     ("YAML",))
case("empty_kolumner", "empty", "kolumner", w("kolumner.yaml", "# inget här\n"),
     FileFormatError, None, None, ("ingen mappning",))
case("columns_api_foreign_json_alone", "columns", "api",
     w("columns_api_foreign_json_alone.json", '{"anteckning": "ring skolan"}'),
     FileFormatError, None, None, ("/school-units",))

# ---- issue 13: exports from other form tools (headers, column files, categorical items) ----
def _no_school(rows: list[list[str]]) -> list[list[str]]:
    return [r[:3] + r[4:] for r in rows]


_HEAD_NO_SCHOOL = OBS_HEAD[:3] + OBS_HEAD[4:] + ITEM_COLS
case("codes_obs_categorical_answer", "codes", "observations+kategorier",
     w("codes_obs_categorical_answer.csv", obs(
         [r + [a] for r, a in zip(obs_rows(), ["J", "Kanske", "nej"])],
         head=OBS_HEAD + ITEM_COLS + ["T1"])),
     ValueFormatError, 3, "T1", ("kategoriskt", "J (Ja), N (Nej)", "unanswered:"))
case("columns_obs_derived_no_match", "columns", "observations+kolumner",
     with_columns("columns_obs_derived_no_match.csv", obs(
         _no_school(obs_rows(r2={"lesson": "12345678-LEK1"}, r3={"lesson": "LEK2"},
                             r4={"lesson": "12345678-LEK3"})), head=_HEAD_NO_SCHOOL),
         "härledda:\n  school_id: {kolumn: Lektions-ID, mönster: '^(\\d{8})-'}\n"),
     ValueFormatError, 3, "Lektions-ID", ("Mönstret för school_id", "härledda:",
                                          "kolumner.yaml"))
case("columns_obs_derived_missing_column", "columns", "observations+kolumner",
     with_columns("columns_obs_derived_missing_column.csv", obs(
         _no_school(obs_rows()), head=_HEAD_NO_SCHOOL),
         "härledda:\n  school_id: {kolumn: Klipp, mönster: '^(\\d{8})'}\n"),
     MissingColumnError, 1, "Klipp", ("härleder school_id", "härledda:"))
case("columns_obs_map_unknown_item", "columns", "observations+kolumner",
     with_columns("columns_obs_map_unknown_item.csv", obs(
         [r + ["3"] for r in obs_rows()], head=OBS_HEAD + ITEM_COLS + ["Fråga sju"]),
         "kolumner:\n  Fråga sju: KL9\n"),
     UnknownItemError, None, "Fråga sju", ("KL9", "protokollet `blandad`"),
     file="kolumner.yaml")
case("columns_obs_two_sources", "columns", "observations+kolumner",
     with_columns("columns_obs_two_sources.csv", obs(),
                  "fasta:\n  date: 2023-09-14\n"),
     FileFormatError, None, "date", ("två källor", "Datum"), file="kolumner.yaml")
case("columns_obs_same_item_twice", "columns", "observations+kolumner",
     with_columns("columns_obs_same_item_twice.csv", obs(
         [r + ["3"] for r in obs_rows()], head=OBS_HEAD + ITEM_COLS + ["Struktur igen"]),
         "kolumner:\n  Struktur igen: KL1\n"),
     FileFormatError, 1, "Struktur igen", ("samma påstående (KL1)",))
case("columns_kolumner_derived_target", "columns", "kolumner",
     w("kolumner.yaml", "härledda:\n  skola: {kolumn: Klipp, mönster: '^(\\d+)'}\n"),
     ValueFormatError, 2, "härledda.skola", ("inte ett känt namn", "school_id"))
case("columns_kolumner_bad_pattern", "columns", "kolumner",
     w("kolumner.yaml", "kolumner:\n  Klipp: observation_id\nhärledda:\n"
                        "  school_id: {kolumn: Klipp, mönster: '^(\\d+'}\n"),
     ValueFormatError, 4, "härledda.school_id", ("reguljärt uttryck", "tecken"))
case("columns_kolumner_two_groups", "columns", "kolumner",
     w("kolumner.yaml", "härledda:\n  school_id: {kolumn: Klipp, mönster: '(\\d+)-(\\d+)'}\n"),
     ValueFormatError, 2, "härledda.school_id", ("2 grupper", "högst en grupp"))
case("columns_kolumner_derived_no_pattern", "columns", "kolumner",
     w("kolumner.yaml", "härledda:\n  school_id: Klipp\n"),
     ValueFormatError, 2, "härledda.school_id", ("kolumn och mönster",))
case("columns_kolumner_not_a_mapping", "columns", "kolumner",
     w("kolumner.yaml", "# kolumnfil\nkolumner:\n  - Besöksdag\n  - date\nfasta:\n"
                        "  observer_role: rektor\n"),
     FileFormatError, 2, "kolumner", ("ska vara en mappning",))
case("columns_kolumner_fixed_target", "columns", "kolumner",
     w("kolumner.yaml", "fasta:\n  roll: Rektor\n"),
     ValueFormatError, 2, "fasta.roll", ("observer_role",))
case("columns_kolumner_unknown_rule", "columns", "kolumner",
     w("kolumner.yaml", "kolumner:\n  Besöksdag: date\ndubbletter: ibland\n"),
     ValueFormatError, 3, "dubbletter", ("senaste", "avvisa"))
case("code_obs_first_form_without_ids", "codes", "observations",
     w("code_obs_first_form_without_ids.csv", obs(
         [["", "", "", "", "", "", "Rektor", "Spontant besök", "", "",
           *["3"] * len(ITEM_COLS)], *obs_rows()])),
     ValueFormatError, 2, "Lektions-ID", ("Värde saknas",))
case("trunc_obs_three_row_header", "truncated", "observations",
     w("trunc_obs_three_row_header.csv", obs(
         [[""] * len(OBS_HEAD) + ["Påståenden"] + [""] * (len(ITEM_COLS) - 1),
          [""] * len(OBS_HEAD) + ["Alternativ: 1–4"] * len(ITEM_COLS),
          *obs_rows()[:2], obs_rows()[2][:12]],
         head=OBS_HEAD + ITEM_COLS)),
     FileFormatError, 6, ITEM_COLS[2], ("avkortad",))
case("empty_obs_header_rows_only", "empty", "observations",
     w("empty_obs_header_rows_only.csv", obs(
         [[""] * len(OBS_HEAD) + ["Alternativ: 1–4"] * len(ITEM_COLS)],
         head=OBS_HEAD + ITEM_COLS)),
     FileFormatError, 1, None, ("inga rader med svar",))


# --------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------
_SWEDISH = re.compile(r"\b(filen|är|inte|saknar|saknas|går|rad|kolumn|har|ska|och|som|för)\b",
                      re.IGNORECASE)
_ENGLISH = re.compile(r"\b(the|expecting|expected|invalid|unterminated|not found|cannot|"
                      r"could not|field larger|unexpected|no such|line \d+ column)\b|"
                      r"Error:|Traceback", re.IGNORECASE)


def assert_swedish(msg: str) -> None:
    assert _SWEDISH.search(msg), f"not Swedish: {msg}"
    assert not _ENGLISH.search(msg), f"English in the message: {msg}"
    assert "kunde inte läsas som" not in msg, f"only the loader's safety net caught it: {msg}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_file_gives_the_packages_error(tmp_path, case):
    path = case.make(tmp_path)
    with pytest.raises(UAError) as ei:
        LOADERS[case.loader](path)
    e = ei.value
    msg = str(e)
    assert isinstance(e, case.error), f"{type(e).__name__}: {msg}"
    assert (case.file or path.name) in msg, msg
    assert e.row == case.row, f"row {e.row!r}, expected {case.row!r}: {msg}"
    if case.row is not None:
        assert re.search(rf"\brad {case.row}\b", msg), msg
    assert e.column == case.column, f"column {e.column!r}, expected {case.column!r}: {msg}"
    if case.column is not None:
        assert case.column in msg, msg
    if getattr(e, "sheet", None):  # a workbook's sheet is named where the error is
        assert f"bladet `{e.sheet}`" in msg, msg
    if case.loader == "skolenkaten" and path.suffix == ".xlsx":
        assert getattr(e, "sheet", None), msg
    if case.loader == "observations" and path.suffix == ".xlsx" and case.row is not None:
        # a cell of a form tool's workbook: the sheet the forms were read from is named
        assert getattr(e, "sheet", None), msg
    assert_swedish(msg)
    for s in case.contains:
        assert s in msg, f"{s!r} missing: {msg}"
    for s in case.absent:
        assert s not in msg, f"{s!r} shown: {msg}"
    assert len(msg) < 2500, f"message of {len(msg)} characters"


CATEGORIES = {"encoding", "truncated", "delimiter", "columns", "duplicates", "scale", "codes",
              "future", "decimals", "empty", "huge", "bom", "personnummer", "names"}


def test_suite_covers_every_category_and_loader():
    by_cat = Counter(c.category for c in CASES)
    assert set(by_cat) == CATEGORIES
    by_loader = Counter(c.loader.split("+")[0] for c in CASES)
    for loader in ("skolverket", "api", "kolada", "observations", "schools", "pupils"):
        assert by_loader[loader] >= 8, (loader, by_loader[loader])
    assert len({c.id for c in CASES}) == len(CASES)
    print(f"\n{len(CASES)} malformed-file cases: "
          + ", ".join(f"{k} {v}" for k, v in sorted(by_cat.items())))


# --------------------------------------------------------------------------
# What loaders legitimately leave out is counted in provenance
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Skip:
    id: str
    loader: str
    make: Callable[[Path], Path]
    dropped: dict[str, int] = field(default_factory=dict)  # reason (substring) -> count
    notes: tuple[str, ...] = ()                             # substrings of provenance notes
    rows_kept: int | None = None


def _dropped(prov, reason: str) -> int:
    return sum(v for k, v in prov.dropped.items() if reason in k)


SKIPS: list[Skip] = [
    Skip("skv_footer", "skolverket", w("skv_footer.csv", skv()), notes=("sidfot: 2 rader",),
         rows_kept=18),
    Skip("skv_state_principal", "skolverket", w("skv_state_principal.csv",
         "Grundskola - Betyg årskurs 6, andel som fått godkänt betyg (A-E)\n"
         "Valt läsår: 2024/25\n"
         "Kommun;Kommun-kod;Län;Läns-kod;Typ av huvudman;Antal elever;"
         "Andel (%) elever som fått godkänt betyg i alla ämnen\n"
         "Ale;1440;V;14;Samtliga;310;74,1\nAle;1440;V;14;Statlig;12;80,0\n"),
         dropped={"Statlig": 1}, rows_kept=1),
    Skip("skv_np_unknown_subject", "skolverket", w("skv_np_unknown_subject.csv",
         "Grundskola - Resultat nationella prov årskurs 9\nValt läsår: 2023/24\n\n"
         "Kommun;Kommun-kod;Län;Läns-kod;Typ av huvudman;Ämne;"
         "Andel (%) elever med provbetyg A-E\n"
         "Ale;1440;V;14;Samtliga;Matematik;88,1\nAle;1440;V;14;Samtliga;Latin;90,2\n"),
         dropped={"Latin": 1}, rows_kept=1),
    Skip("kolada_withdrawn", "kolada", w("kolada_withdrawn.json", kolada([
        kentry(), {**kentry("N15419"), "isdeleted": True},
        kentry("N15436", municipality="G12345")])),
         dropped={"isdeleted": 1, "kommungrupper": 1}, rows_kept=1),
    Skip("api_no_period", "api", w("api_no_period.json", api(api_body(
        averageGradesMeritRating9thGrade=[
            {"value": "250,1", "valueType": "EXISTS", "timePeriod": "2023/24"},
            {"value": "1,0", "valueType": "EXISTS"}]))), dropped={"timePeriod": 1},
         rows_kept=3),
    Skip("api_unknown_value_type", "api", w("api_unknown_value_type.json", api(api_body(
        averageGradesMeritRating9thGrade=[
            {"value": "x", "valueType": "SOMETHING_NEW", "timePeriod": "2023/24"}]))),
         notes=("SOMETHING_NEW",), rows_kept=3),
    Skip("api_unknown_statistic", "api", w("api_unknown_statistic.json", api(api_body(
        newStatistic=[{"value": "1,0", "valueType": "EXISTS", "timePeriod": "2023/24"}]))),
         notes=("newStatistic (1)",), rows_kept=4),
    Skip("obs_unanswered_and_names", "observations", w("obs_unanswered_and_names.csv", obs(
        [r + ["Agneta Provsson"] for r in obs_rows(r2={"scores": ["", "Ej observerat"]
                                                        + ["3"] * 10})],
        head=OBS_HEAD + ITEM_COLS + ["Namn"])),
         notes=("obesvarade påståenden: 2 av 36", "Namn"), rows_kept=36),
    Skip("reg_unknown_column", "schools", w("reg_unknown_column.csv", reg(
        [r + ";Storgatan 1" for r in REG_ROWS], head=REG_HEAD + ";Adress")),
         notes=("Adress",), rows_kept=3),
    Skip("pupils_names_dropped", "pupils", w("pupils_names_dropped.txt", pupils()),
         notes=("namn togs bort",), rows_kept=12),
    # issue 13: the same form twice (identical): dropped and counted
    Skip("obs_identical_form_twice", "observations", w("obs_identical_form_twice.csv", obs(
        rows=[r[1:] for r in [*obs_rows(), obs_rows()[1]]], head=OBS_HEAD[1:] + ITEM_COLS)),
         dropped={"identiska dubbletter av formulär": 1}, rows_kept=36),
    # issue 13: a short export (one row) under a footer whose lines hold commas
    Skip("skv_short_comma_footer", "skolverket", w("skv_short_comma_footer.csv", skv(
        [SKV_ROWS[0]]) + "Värden, om inget annat sägs, avser elever, med betyg, i år 9, "
        "totalt, flickor, pojkar\nKälla, Skolverket, 2024, läsår, kommun, skolenhet\n"),
         notes=("avgränsare ';'", "sidfot: 4 rader"), rows_kept=9),
    Skip("api_list_responses", "api", folder("api_list_responses", {
        "a.json": api(), "lista.json": json.dumps({"url": "https://api.skolverket.se/"
                                                  "planned-educations/v4/compact-school-units",
                                                  "json": {"status": "OK", "body": {
                                                      "_embedded": {"compactSchoolUnits": [
                                                          {"schoolUnitCode": "12345678"}]}}}})}),
         dropped={"compact-school-units": 1}, rows_kept=4),
]


@pytest.mark.parametrize("skip", SKIPS, ids=[s.id for s in SKIPS])
def test_what_is_left_out_is_counted_in_provenance(tmp_path, skip):
    df = LOADERS[skip.loader](skip.make(tmp_path))
    assert isinstance(df, pd.DataFrame)
    prov = df.attrs["provenance"]
    for reason, n in skip.dropped.items():
        assert _dropped(prov, reason) == n, (reason, prov.dropped)
    notes = " | ".join(prov.notes)
    for s in skip.notes:
        assert s in notes, (s, notes)
    if skip.rows_kept is not None:
        assert prov.rows_kept == len(df) == skip.rows_kept
    text = df.to_csv()
    assert "Agneta" not in text and "Kim" not in text and "Berg" not in text


# --------------------------------------------------------------------------
# Plans and dialogue notes (issue 15): every malformed plan refused with its cell
# --------------------------------------------------------------------------
PLAN_TERMS = ["HT2022", "VT2023", "HT2023", "VT2024"]
PLAN_SCHOOLS = ["12345678", "23456789"]


def plan_book(path: Path, *, meta: dict[str, object] | None = None,
              targets: list[list[object]] | None = None,
              lessons: dict[str, object] | None = None, actions: dict[int, list] | None = None,
              drop_sheet: str | None = None) -> Path:
    """A valid school plan workbook (targets on Excel rows 2.., lessons on rows 2..5),
    with changes."""
    import openpyxl

    from undervisning_analys.plans import catalogue
    from undervisning_analys.plans import layout as PL

    wb = openpyxl.Workbook()
    wb.active.title = PL.SHEET_INSTRUCTIONS
    wp = wb.create_sheet(PL.SHEET_PLAN)
    fields = {"Skolenhetskod": "12345678", "Skola": "Alfaskolan", "Planens id": "P-1",
              "Första termin": "HT2023", "Sista termin": "VT2025", **(meta or {})}
    for i, (k, v) in enumerate(fields.items(), start=3):
        wp.cell(row=i, column=1, value=k)
        wp.cell(row=i, column=2, value=v)
    wt = wb.create_sheet(PL.SHEET_TARGETS)
    wt.append(PL.TARGET_COLUMNS)
    for r in targets if targets is not None else [
            ["M1", "dimension", "kognitiv_aktivering", 2.6, "VT2024", 2.9, "VT2025", None, None]]:
        wt.append(r)
    wl = wb.create_sheet(PL.SHEET_LESSONS)
    wl.append(PL.LESSON_COLUMNS)
    for label, n in {"Spontant besök": 6, "Planerat besök": 4, "Kollegial observation": 2,
                     "Parobservation": 1, **(lessons or {})}.items():
        wl.append([label, n, None])
    wa = wb.create_sheet(PL.SHEET_ACTIONS)
    wa.append(PL.ACTION_COLUMNS)
    for a in catalogue().itertuples(index=False):
        wa.append([a.action_id, a.name, a.text, a.source, "nej"])
    for i, row in (actions or {}).items():
        for j, v in enumerate(row, start=1):
            wa.cell(row=i, column=j, value=v)
    if drop_sheet:
        del wb[drop_sheet]
    wb.save(path)
    return path


def _t(**cells: object) -> list[list[object]]:
    base = {"A": "M1", "B": "dimension", "C": "kognitiv_aktivering", "D": 2.6, "E": "VT2024",
            "F": 2.9, "G": "VT2025", "H": None, "I": None}
    base.update(cells)
    return [list(base.values())]


def read_plan_case(p: Path) -> pd.DataFrame:
    from undervisning_analys.io.plans import read_dialogue_notes, read_plans

    if p.name.startswith("dialog"):
        return read_dialogue_notes(p, schools=PLAN_SCHOOLS)
    return read_plans(p, INST, schools=PLAN_SCHOOLS, terms=PLAN_TERMS,
                      measures=["merit_17", "pass_all_subjects_pct", "n_pupils_grade9"])


def notes_book(path: Path, *, date: object = "2024-03-14", agreement: list | None = None,
               question: list | None = None) -> Path:
    from undervisning_analys.plans.mall import write_notes_workbook

    write_notes_workbook(path, school_id="12345678", school_name="Alfaskolan",
                         questions=[{"q": "Hur går det med planen?", "underlag": "plan"}])
    import openpyxl

    wb = openpyxl.load_workbook(path)
    wb["Dialog"]["B3"] = date
    for j, v in enumerate(agreement or ["Planerade besök", "rektor", "2024-10-01", "pågår",
                                        "M1"], start=1):
        wb["Överenskommelser"].cell(row=2, column=j, value=v)
    for j, v in enumerate(question or [], start=1):
        wb["Frågor"].cell(row=2, column=j, value=v)
    wb.save(path)
    return path


PNR_TEXT = f"Elev {PNRS[0][2:8]}-{PNRS[0][8:]} behöver stöd"


@dataclass(frozen=True)
class PlanCase:
    id: str
    make: Callable[[Path], Path]
    error: type[UAError]
    sheet: str | None
    row: int | None
    column: str | None
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()


def _pb(name: str, **kw) -> Callable[[Path], Path]:
    return lambda tmp: plan_book(tmp / name, **kw)


PLAN_CASES = [
    PlanCase("unknown_dimension", _pb("plan_a.xlsx", targets=_t(C="kognition")), PlanError,
             "Mål", 2, "Avser", ("kognition", "kognitiv_aktivering")),
    PlanCase("unknown_item", _pb("plan_b.xlsx", targets=_t(B="påstående", C="KA9")),
             PlanError, "Mål", 2, "Avser", ("KA9",)),
    PlanCase("unknown_measure", _pb("plan_c.xlsx", targets=_t(B="resultat", C="merit_99")),
             PlanError, "Mål", 2, "Avser", ("merit_99", "merit_17")),
    PlanCase("measure_without_direction", _pb("plan_c2.xlsx", targets=_t(
        B="resultat", C="n_pupils_grade9")), PlanError, "Mål", 2, "Avser", ("riktning",)),
    PlanCase("unknown_kind", _pb("plan_d.xlsx", targets=_t(B="betyg")), PlanError, "Mål", 2,
             "Typ", ("betyg",)),
    PlanCase("target_term_after_data", _pb("plan_e.xlsx", targets=_t(G="VT2031")), PlanError,
             "Mål", 2, "Målterm", ("VT2031", "HT2022–VT2024")),
    PlanCase("target_term_before_data", _pb("plan_f.xlsx", targets=_t(G="HT2019")),
             PlanError, "Mål", 2, "Målterm", ("HT2019",)),
    PlanCase("target_term_not_a_term", _pb("plan_g.xlsx", targets=_t(G="våren 2025")),
             PlanError, "Mål", 2, "Målterm", ("HT2024",)),
    PlanCase("baseline_term_after_data", _pb("plan_h.xlsx", targets=_t(E="HT2024")),
             PlanError, "Mål", 2, "Utgångstermin", ("HT2024",)),
    PlanCase("target_outside_scale", _pb("plan_i.xlsx", targets=_t(F=7)), PlanError, "Mål",
             2, "Målvärde", ("1–4",)),
    PlanCase("baseline_outside_scale", _pb("plan_j.xlsx", targets=_t(D=0.5)), PlanError,
             "Mål", 2, "Utgångsläge", ("1–4",)),
    PlanCase("target_not_a_number", _pb("plan_k.xlsx", targets=_t(F="högre")), PlanError,
             "Mål", 2, "Målvärde", ("högre",)),
    PlanCase("target_without_term", _pb("plan_l.xlsx", targets=_t(G=None)), PlanError, "Mål",
             2, "Målterm", ()),
    PlanCase("duplicate_target_id", _pb("plan_m.xlsx", targets=_t() + _t(F=3.0)), PlanError,
             "Mål", 3, "Mål-id", ("M1",)),
    PlanCase("lessons_not_whole", _pb("plan_n.xlsx", lessons={"Planerat besök": 2.5}),
             PlanError, "Lektionsbesök", 3, "Planerade lektioner per termin", ("2,5",)),
    PlanCase("unknown_visit_type", _pb("plan_o.xlsx", lessons={"Oanmält": 3}), PlanError,
             "Lektionsbesök", 6, "Besökstyp", ("Oanmält",)),
    PlanCase("period_reversed", _pb("plan_p.xlsx", meta={"Sista termin": "HT2022"}),
             PlanError, "Plan", 7, "B (Sista termin)", ("HT2022",)),
    PlanCase("school_not_in_register", _pb("plan_q.xlsx", meta={"Skolenhetskod": "99999999"}),
             PlanError, "Plan", 3, "B (Skolenhetskod)", ("99999999",)),
    PlanCase("missing_sheet", _pb("plan_r.xlsx", drop_sheet="Mål"), PlanError, None, None,
             None, ("Mål",)),
    PlanCase("missing_column", lambda tmp: _drop_column(plan_book(tmp / "plan_s.xlsx")),
             PlanError, "Mål", 1, "Målvärde", ()),
    PlanCase("choice_not_yes_no", _pb("plan_t.xlsx", actions={2: ["U1", None, None, None,
                                                                 "kanske"]}),
             PlanError, "Åtgärder", 2, "Väljs", ("kanske",)),
    PlanCase("personnummer_in_comment", _pb("plan_u.xlsx", targets=_t(I=PNR_TEXT)),
             PersonalNumberFound, "Mål", 2, "Kommentar", (), (PNRS[0][2:8],)),
    PlanCase("personnummer_in_own_action", _pb("plan_v.xlsx", actions={13: [
        "Egen 1", PNR_TEXT, None, None, "ja"]}), PersonalNumberFound, "Åtgärder", 13, "Åtgärd",
        (), (PNRS[0][2:8],)),
    PlanCase("notes_personnummer", lambda tmp: notes_book(tmp / "dialog_a.xlsx", agreement=[
        PNR_TEXT, "rektor", "2024-10-01", "pågår", "M1"]), PersonalNumberFound,
        "Överenskommelser", 2, "Överenskommelse", (), (PNRS[0][2:8],)),
    PlanCase("notes_bad_date", lambda tmp: notes_book(tmp / "dialog_b.xlsx", date="snart"),
             PlanError, "Dialog", 3, "B (Datum för dialogen)", ("snart",)),
    PlanCase("notes_unknown_status", lambda tmp: notes_book(tmp / "dialog_c.xlsx", agreement=[
        "Besök", "rektor", "2024-10-01", "klar", "M1"]), PlanError, "Överenskommelser", 2,
        "Status", ("klar",)),
    PlanCase("notes_agreement_without_text", lambda tmp: notes_book(
        tmp / "dialog_d.xlsx", agreement=[None, "rektor", "2024-10-01", None, None]),
        PlanError, "Överenskommelser", 2, "Överenskommelse", ()),
]


def _drop_column(path: Path) -> Path:
    import openpyxl

    wb = openpyxl.load_workbook(path)
    wb["Mål"].delete_cols(6)
    wb.save(path)
    return path


@pytest.mark.parametrize("pc", PLAN_CASES, ids=[c.id for c in PLAN_CASES])
def test_malformed_plan_refused_with_its_cell(tmp_path, pc):
    path = pc.make(tmp_path)
    with pytest.raises(UAError) as ei:
        read_plan_case(path)
    e = ei.value
    msg = str(e)
    assert isinstance(e, pc.error), f"{type(e).__name__}: {msg}"
    assert path.name in msg, msg
    if pc.sheet is not None:
        assert f"blad `{pc.sheet}`" in msg or f"bladet `{pc.sheet}`" in msg, msg
    assert e.row == pc.row, f"row {e.row!r}, expected {pc.row!r}: {msg}"
    if pc.row is not None:
        assert re.search(rf"\brad {pc.row}\b", msg), msg
    assert e.column == pc.column, f"column {e.column!r}: {msg}"
    if pc.column is not None:
        assert f"kolumn `{pc.column}`" in msg, msg
    assert_swedish(msg)
    for s in pc.contains:
        assert s in msg, f"{s!r} missing: {msg}"
    for s in pc.absent:
        assert s not in msg, f"{s!r} shown: {msg}"


def test_valid_plan_book_reads(tmp_path):
    df = read_plan_case(plan_book(tmp_path / "plan_ok.xlsx"))
    assert list(df["kind"]) == ["dimension"] + ["observations"] * 4
    assert df.index.tolist() == [2, 2, 3, 4, 5]
