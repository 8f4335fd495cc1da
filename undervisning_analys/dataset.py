"""Dataset: the validated canonical tables, the instrument and provenance.

A Dataset is built once and not changed in place: methods that select or add
return a new Dataset (:meth:`Dataset.replace`). Provenance records every
input: path, sha256, loader, rows read, rows kept and why any were not, so
that every number in a report can be traced to its files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from . import schema
from ._format import swedish_key
from .instruments import Instrument, load_instrument


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _distinct(col: pd.Series) -> set[str]:
    """The distinct values of a text column (hash-based: fast for 700,000 item rows)."""
    return {str(v) for v in col.dropna().unique()}


@dataclass(frozen=True)
class ProvenanceRecord:
    """One input: where it came from and what happened to its rows."""

    path: str
    sha256: str
    loader: str
    table: str
    rows_read: int
    rows_kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    """Reason (Swedish) -> number of rows not kept for that reason."""
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "loader": self.loader,
                "table": self.table, "rows_read": self.rows_read, "rows_kept": self.rows_kept,
                "dropped": dict(self.dropped), "notes": list(self.notes)}

    @classmethod
    def for_file(cls, path: str | Path, loader: str, table: str, rows_read: int,
                 rows_kept: int, dropped: dict[str, int] | None = None,
                 notes: tuple[str, ...] = ()) -> ProvenanceRecord:
        return cls(path=Path(path).name, sha256=sha256_of(path), loader=loader, table=table,
                   rows_read=rows_read, rows_kept=rows_kept, dropped=dict(dropped or {}),
                   notes=notes)


@dataclass(frozen=True)
class Dataset:
    """The canonical tables of one municipality (or any set of schools).

    Attributes
    ----------
    schools, observations, results, background : canonical tables (schema.py).
    pupil_results : optional pupil-level grades (pseudonymised).
    instrument : the observation protocol the scores were given on.
    provenance : one :class:`ProvenanceRecord` per input file (a file a folder reader
        did not read has one too, with ``loader == "inte inläst"`` and the reason in
        ``notes``).
    reference_results, reference_background : rows kept apart as reference data
        (other municipalities, units outside the register); see the attributes.
    checks : the folder reader's checks that the pieces fit (Swedish).
    truth : for synthetic data only, the known truth (see synth.py).
    seed : the random seed of a synthetic dataset (None for real data).
    plans, dialogue_notes : optional: the schools' and the organiser's plans
        (targets) and the notes of earlier quality dialogues (schema.py).
    """

    schools: pd.DataFrame
    observations: pd.DataFrame
    results: pd.DataFrame
    background: pd.DataFrame
    instrument: Instrument
    pupil_results: pd.DataFrame | None = None
    provenance: tuple[ProvenanceRecord, ...] = ()
    truth: Any = None
    seed: int | None = None
    plans: pd.DataFrame | None = None
    dialogue_notes: pd.DataFrame | None = None
    reference_results: pd.DataFrame | None = None
    """Results kept apart as reference data (canonical ``results``): rows for other
    municipalities and for school units outside the register, read from the same
    files. For comparisons and the background model; never the municipality's own
    (``results`` holds those, and the national rows)."""
    reference_background: pd.DataFrame | None = None
    """Background rows kept apart as reference data, as ``reference_results``."""
    observation_categories: pd.DataFrame | None = None
    """Answers to the protocol's categorical items (yes/no, low/medium/high), one row per
    item answer in one observed lesson (``schema.observation_categories_schema``): kept
    and summarised (``io.observations.summarise_categories``), never in the index."""
    checks: tuple[str, ...] = ()
    """What the folder reader found when it checked that the pieces fit (Swedish):
    overlap of schools between register, observations and each results source,
    duplicated sources, reconciled sources, files not read. Empty for a Dataset
    not read from a folder."""

    @classmethod
    def build(cls, *, schools: pd.DataFrame, observations: pd.DataFrame,
              results: pd.DataFrame, background: pd.DataFrame,
              instrument: Instrument | str | None = None,
              pupil_results: pd.DataFrame | None = None,
              provenance: tuple[ProvenanceRecord, ...] | list[ProvenanceRecord] = (),
              truth: Any = None, seed: int | None = None, check_codes: bool = True,
              plans: pd.DataFrame | None = None,
              dialogue_notes: pd.DataFrame | None = None,
              reference_results: pd.DataFrame | None = None,
              reference_background: pd.DataFrame | None = None,
              checks: tuple[str, ...] | list[str] = (),
              observation_categories: pd.DataFrame | None = None) -> Dataset:
        """Validate every table and cross-check codes; return a Dataset.

        Raises ValidationError (Swedish, naming table/file, row and column) on
        the first table that fails, and UnknownSchoolError when observations
        name a school that is not in ``schools``.
        """
        inst = load_instrument(instrument)
        tables = {
            "schools": schema.validate("schools", schools),
            "observations": schema.validate("observations", observations, scale=inst.scale),
            "results": schema.validate("results", results),
            "background": schema.validate("background", background),
        }
        pr = schema.validate("pupil_results", pupil_results) if pupil_results is not None \
            else None
        optional = {name: schema.validate(name, df) if df is not None else None
                    for name, df in (("plans", plans), ("dialogue_notes", dialogue_notes),
                                     ("observation_categories", observation_categories))}
        refs = {k: schema.validate(t, v) if v is not None else None for k, t, v in (
            ("reference_results", "results", reference_results),
            ("reference_background", "background", reference_background))}
        ds = cls(instrument=inst, pupil_results=pr, provenance=tuple(provenance), truth=truth,
                 seed=seed, checks=tuple(checks), **tables, **optional, **refs)
        if check_codes:
            ds.check_codes()
        return ds

    # ------------------------------------------------------------------
    def check_codes(self) -> None:
        """Observations must refer to known schools and items of the instrument."""
        from .errors import UnknownItemError, UnknownSchoolError

        known = set(self.schools["school_id"])
        obs = self.observations
        bad = ~obs["school_id"].isin(known)
        if bad.any():
            first = obs.index[bad][0]
            codes = sorted(set(obs.loc[bad, "school_id"]))
            raise UnknownSchoolError(
                f"Observationerna nämner skolenhetskoder som inte finns i skolregistret: "
                f"{', '.join(codes[:10])} ({int(bad.sum())} rader)",
                file=obs.attrs.get("source"), row=int(first) if str(first).isdigit() else None,
                column="school_id",
                hint="Lägg till skolorna i skolregistret eller rätta koderna.")
        items = set(self.instrument.item_ids)
        bad = ~obs["item_id"].isin(items)
        if bad.any():
            first = obs.index[bad][0]
            raise UnknownItemError(
                f"Observationerna har påståenden som protokollet `{self.instrument.id}` inte "
                f"känner: {', '.join(sorted(set(obs.loc[bad, 'item_id']))[:10])}",
                file=obs.attrs.get("source"), row=int(first) if str(first).isdigit() else None,
                column="item_id", hint="Ange rätt protokoll eller rätta påståendenas id.")

    def replace(self, **changes: Any) -> Dataset:
        """A new Dataset with some fields replaced (tables are re-validated)."""
        if any(k in changes for k in schema.TABLES):
            fields = {f: getattr(self, f) for f in
                      ("schools", "observations", "results", "background", "pupil_results",
                       "instrument", "provenance", "truth", "seed", "plans",
                       "dialogue_notes", "reference_results", "reference_background",
                       "checks", "observation_categories")}
            fields.update(changes)
            return Dataset.build(**fields)
        return replace(self, **changes)

    # ------------------------------------------------------------------
    @property
    def school_years(self) -> list[str]:
        years = _distinct(self.observations["school_year"]) | _distinct(
            self.results["school_year"])
        return sorted(years)

    @property
    def terms(self) -> list[str]:
        return sorted(_distinct(self.observations["term"]), key=schema.term_index)

    def provenance_table(self) -> pd.DataFrame:
        """Provenance as a table (Swedish column names, for reports)."""
        rows = []
        for p in self.provenance:
            rows.append({"fil": p.path, "sha256": p.sha256, "inläsare": p.loader,
                         "tabell": p.table, "rader_lästa": p.rows_read,
                         "rader_behållna": p.rows_kept,
                         "ej_behållna": "; ".join(f"{k}: {v}" for k, v in p.dropped.items())})
        return pd.DataFrame(rows, columns=["fil", "sha256", "inläsare", "tabell", "rader_lästa",
                                           "rader_behållna", "ej_behållna"])

    def overview(self) -> str:
        """A short Swedish overview of what the Dataset holds."""
        s, o, r, b = self.schools, self.observations, self.results, self.background
        n_lessons = o["observation_id"].nunique()
        n_forms = o[["observation_id", "observer_id"]].drop_duplicates().shape[0]
        paired = (o.drop_duplicates(["observation_id", "observer_id"])
                  .groupby("observation_id").size() > 1).sum()
        munis = ", ".join(sorted(set(s["municipality_name"].dropna()), key=swedish_key)) or "–"
        lines = [
            f"Datamängd: {len(s)} skolenheter ({munis})",
            f"  Protokoll: {self.instrument.name}, version {self.instrument.version} "
            f"({len(self.instrument.items)} påståenden i {len(self.instrument.dimensions)} "
            f"dimensioner, skala {self.instrument.scale_min}–{self.instrument.scale_max})",
            f"  Lektionsobservationer: {n_lessons} lektioner, {n_forms} ifyllda protokoll "
            f"({paired} parobservationer), {o['teacher_id'].nunique()} lärare, "
            f"{o['observer_id'].nunique()} observatörer",
        ]
        if len(o):
            lines.append(f"  Terminer: {', '.join(self.terms)}")
            types = o.drop_duplicates(["observation_id", "observer_id"])["observation_type"] \
                .value_counts()
            lines.append("  Observationstyper: " + ", ".join(
                f"{schema.LABELS_SV.get(str(k), str(k))} {v}" for k, v in types.items() if v))
            missing_items = int(o["score"].isna().sum())
            lines.append(f"  Obesvarade påståenden: {missing_items} av {len(o)}")
        if len(r):
            years = sorted(set(r["school_year"]))
            st = r["status"].value_counts()
            lines.append(f"  Resultat: {len(r)} värden, {r['measure'].nunique()} mått, "
                         f"läsåren {years[0]}–{years[-1]}; "
                         + ", ".join(f"{schema.LABELS_SV.get(str(k), str(k))}: {v}"
                                     for k, v in st.items() if v))
        if len(b):
            lines.append(f"  Bakgrund: {len(b)} rader (skola × läsår)")
        if self.pupil_results is not None:
            lines.append(f"  Elevresultat: {len(self.pupil_results)} betygsrader")
        if self.plans is not None:
            pl = self.plans
            lines.append(f"  Planer: {pl['plan_id'].nunique()} planer med {len(pl)} mål")
        if self.dialogue_notes is not None:
            lines.append(f"  Dialoganteckningar: {len(self.dialogue_notes)} rader")
        oc = self.observation_categories
        if oc is not None and len(oc):
            lines.append(f"  Kategoriska påståenden (ingår inte i indexet): "
                         f"{oc['item_id'].nunique()} påståenden, {int(oc['category'].notna().sum())}"
                         f" svar, {int(oc['category'].isna().sum())} obesvarade")
        if self.provenance:
            lines.append(f"  Källfiler: {len(self.provenance)}")
            for p in self.provenance:
                drop = sum(p.dropped.values())
                extra = f", {drop} ej behållna" if drop else ""
                lines.append(f"    {p.path}: {p.rows_read} rader lästa, {p.rows_kept} "
                             f"behållna{extra} (sha256 {p.sha256[:12]}…)")
        if self.truth is not None:
            lines.append(f"  Syntetisk datamängd (seed {self.seed}) med känd sanning")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Dataset({len(self.schools)} skolor, {len(self.observations)} poäng, "
                f"{len(self.results)} resultatvärden)")

    def _repr_html_(self) -> str:
        import html
        return f"<pre>{html.escape(self.overview())}</pre>"
