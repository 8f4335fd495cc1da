"""School register (skolregister) -> the ``schools`` table.

The organiser's own list of school units: CSV (``;`` or ``,``, UTF-8 with or
without BOM, cp1252) or XLSX, one row per school unit, e.g.::

    Skolenhetskod;Skola;Kommun-kod;Kommun;Typ av huvudman;Skolområde;Årskurser
    99004629;Lönntorpsskolan;9990;Exempelkommun;Kommunal;Väster;F-9

Decisions
---------
* Column names are matched after folding (case, spaces, hyphens, å/ä/ö), so
  ``Skol-enhetskod``, ``Skolenhetskod`` and ``skolenhetskod`` are the same;
  :data:`COLUMNS` lists the accepted names and ``columns=`` extends it (map a
  name to ``None`` to ignore that column).
* Required: school code, school name, municipality code, principal type.
  Optional: municipality name, area (skolområde), grades (årskurser).
  Columns the mapping does not know are left out and named in provenance.
* Codes written as numbers (Excel drops leading zeros) are zero-padded:
  ``604`` -> ``0604``; a school code must then be 8 digits.
* Principal type: ``Kommunal``/``Kommun`` -> kommunal, ``Enskild``/
  ``Fristående``/``Privat`` -> enskild; anything else is refused with its rows.
* The same school code twice is refused (DuplicateRowsError) with its rows.
* A register with a header and no schools is refused, and so is a CSV row
  with fewer fields than the header (a truncated file) or a value beyond the
  header (see ``_common``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .. import schema
from ..dataset import ProvenanceRecord
from ..errors import DuplicateRowsError, FileFormatError, MissingColumnError, ValueFormatError
from ..privacy import refuse_personnummer_columns
from . import _common as c

COLUMNS: dict[str, str | None] = {
    "skolenhetskod": "school_id", "skolenhet kod": "school_id", "skol-enhetskod": "school_id",
    "school_id": "school_id", "kod": "school_id",
    "skola": "school_name", "skolnamn": "school_name", "skolenhet": "school_name",
    "namn": "school_name", "school_name": "school_name",
    "kommun-kod": "municipality_id", "kommunkod": "municipality_id",
    "municipality_id": "municipality_id",
    "kommun": "municipality_name", "skolkommun": "municipality_name",
    "kommunnamn": "municipality_name", "municipality_name": "municipality_name",
    "typ av huvudman": "principal_type", "huvudmannatyp": "principal_type",
    "huvudmannaform": "principal_type", "principal_type": "principal_type",
    "skolområde": "area", "område": "area", "rektorsområde": "area", "area": "area",
    "årskurser": "grades", "årskurs": "grades", "grades": "grades",
}
"""Accepted column names (folded when compared) -> canonical column (None: ignore)."""

REQUIRED = ("school_id", "school_name", "municipality_id", "principal_type")
PRINCIPAL: dict[str, str] = {"kommunal": "kommunal", "kommun": "kommunal",
                             "enskild": "enskild", "fristående": "enskild",
                             "fristaende": "enskild", "privat": "enskild"}


def _mapping(extra: Mapping[str, str | None] | None) -> dict[str, str | None]:
    out = {c.fold(k): v for k, v in COLUMNS.items()}
    for k, v in (extra or {}).items():
        out[c.fold(k)] = v
    return out


def _load(path: str | Path, columns: Mapping[str, str | None] | None = None
          ) -> tuple[pd.DataFrame, ProvenanceRecord]:
    p = c.check_file(path)
    sheets, info = c.read_rows(p)
    rows = next(iter(sheets.values()), [])
    mapping = _mapping(columns)
    header_idx = None
    for i, r in enumerate(rows[:30]):
        folded = [c.fold(x) for x in r.cells]
        if any(mapping.get(f) == "school_id" for f in folded):
            header_idx = i
            break
    if header_idx is None:
        raise MissingColumnError(
            "Skolregistret saknar en kolumn med skolenhetskod", file=p, column="Skolenhetskod",
            hint="Första raden ska vara rubriker: Skolenhetskod;Skola;Kommun-kod;Kommun;"
                 "Typ av huvudman;Skolområde;Årskurser")
    header = rows[header_idx]
    names = [c.cell_text(x) for x in header.cells]
    data = [r for r in rows[header_idx + 1:] if not r.is_blank()]
    if not data:
        raise FileFormatError("Skolregistret har en rubrikrad men inga rader med skolor",
                              file=p, row=header.line,
                              hint="Lägg till en rad per skolenhet under rubrikraden")
    c.check_widths(header, data, p, short_rows=info.get("format") == "csv")
    raw = c.frame_of_rows(data, [n or f"kolumn {j + 1}" for j, n in enumerate(names)])
    refuse_personnummer_columns(raw, p)
    canon: dict[str, str] = {}
    ignored: list[str] = []
    for j, n in enumerate(names):
        target = mapping.get(c.fold(n))
        if target is None:
            if n:
                ignored.append(n)
            continue
        if target in canon.values():
            continue
        canon[raw.columns[j]] = target
    missing = [t for t in REQUIRED if t not in canon.values()]
    if missing:
        sv = {"school_id": "Skolenhetskod", "school_name": "Skola",
              "municipality_id": "Kommun-kod", "principal_type": "Typ av huvudman"}
        raise MissingColumnError(
            f"Skolregistret saknar kolumnen {sv[missing[0]]}", file=p, row=header.line,
            column=sv[missing[0]],
            hint="Lägg till kolumnen, eller döp om er kolumn till " + sv[missing[0]])
    df = raw[list(canon)].rename(columns=canon)
    df = df.apply(lambda s: s.map(c.cell_text))
    df["school_id"] = df["school_id"].map(lambda v: v if len(v) == 9 else c.pad_code(v, 8))
    df["municipality_id"] = df["municipality_id"].map(lambda v: c.pad_code(v, 4))
    bad = [(i, v) for i, v in df["school_id"].items()
           if not schema.is_school_id(v, df.at[i, "municipality_id"])]
    if bad:
        raise c.rows_error(ValueFormatError, "Skolenhetskoden ska vara 8 siffror (eller en "
                           "historisk 9-siffrig kod som börjar med kommunkoden)", file=p,
                           column="Skolenhetskod", bad=bad,
                           hint="Rätta koden; skolenhetskoder finns i Skolverkets skolenhetsregister")
    bad = [(i, v) for i, v in df["municipality_id"].items() if not (v.isdigit() and len(v) == 4)]
    if bad:
        raise c.rows_error(ValueFormatError, "Kommunkoden ska vara 4 siffror, t.ex. 0604",
                           file=p, column="Kommun-kod", bad=bad, hint="Rätta kommunkoden")
    pt = df["principal_type"].map(lambda v: PRINCIPAL.get(c.norm(v)))
    bad = [(i, df.at[i, "principal_type"]) for i in df.index[pt.isna()]]
    if bad:
        raise c.rows_error(ValueFormatError, "Okänd typ av huvudman", file=p,
                           column="Typ av huvudman", bad=bad,
                           hint="Skriv Kommunal eller Enskild")
    df["principal_type"] = pt
    dup = df["school_id"].duplicated(keep=False)
    if dup.any():
        bad = [(i, v) for i, v in df.loc[dup, "school_id"].items()]
        raise c.rows_error(DuplicateRowsError, "Samma skolenhetskod finns på flera rader",
                           file=p, column="Skolenhetskod", bad=bad,
                           hint="Varje skolenhet ska stå på en rad; ta bort dubbletterna")
    for col in ("municipality_name", "area", "grades"):
        if col in df.columns:
            df[col] = df[col].where(df[col] != "", None)
    for col in ("municipality_name", "area", "grades"):
        if col not in df.columns:
            df[col] = None
    order = ["school_id", "school_name", "municipality_id", "municipality_name",
             "principal_type", "area", "grades"]
    df = df[[col for col in order if col in df.columns]]
    notes = list(info["notes"])
    if ignored:
        notes.append("kolumner som inte används: " + ", ".join(ignored))
    return c.finish(df, table="schools", path=p, loader="read_schools", rows_read=len(data),
                    notes=notes)


@c.guarded("skolregister")
def read_schools(path: str | Path, *, columns: Mapping[str, str | None] | None = None
                 ) -> pd.DataFrame:
    """Read a school register (CSV or XLSX) into the canonical ``schools`` table.

    Parameters
    ----------
    path : the file.
    columns : extra column names -> canonical column (or None to ignore),
        added to :data:`COLUMNS`.

    Returns
    -------
    The ``schools`` table, index = source line number (``rad``),
    ``attrs['source']`` = file name, ``attrs['provenance']``.

    Notes
    -----
    Missing data: municipality name, area and grades may be empty (null).
    Codes, names and principal types must be present; see the module docstring.
    """
    return c.publish(_load(path, columns))
