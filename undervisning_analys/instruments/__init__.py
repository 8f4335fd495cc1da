"""Observation protocols (instruments) as data.

An instrument is a YAML file with ``id``, ``name``, ``version``,
``references``, ``scale`` (``min``, ``max``, ``labels``) and ``dimensions``,
each with ``items`` (``id``, Swedish ``text``, optional ``reverse``). The
package ships :data:`DEFAULT_INSTRUMENT` (``grunddimensioner.yaml``): the
three basic dimensions of teaching quality on ICALT's four-point scale.

A user writes their own shared protocol (gemensamt observationsunderlag) in
the same form; :func:`load_instrument` checks it and says, in Swedish, what
is wrong and where.

Protocols with several item scales: the items under ``dimensions`` are the
*rated* items, scored on ``scale`` (they enter the index). Items answered with
categories (yes/no, low/medium/high) are listed under ``categorical_items``,
each naming one of ``categorical_scales`` (code -> Swedish label, in order) and
optionally the dimension it belongs to; they are read, kept and summarised, and
never enter the index. ``unanswered`` lists the protocol's own markers for an
item not answered (``NOT OBSERVED``, ``?``), beside the usual Swedish ones::

    categorical_scales:
      ja_nej: {Y: Ja, N: Nej}
      lmh: {L: Låg, M: Medel, H: Hög}
    categorical_items:
      - {id: E1a, text: Läraren behandlar alla elever respektfullt, scale: lmh,
         dimension: KK}
    unanswered: [NOT OBSERVED, "?"]

Missing-item rule (also in the YAML): a dimension score is the mean of the
answered items of that dimension and needs at least half of them answered;
the overall score is the mean of the dimension scores that exist and needs at
least half of the dimensions. Reversed items are turned (``min + max - x``)
before anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..errors import InstrumentError

DEFAULT_INSTRUMENT = "ua-grunddimensioner"
_BUILTIN = {"ua-grunddimensioner": "grunddimensioner.yaml"}


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    dimension: str
    reverse: bool = False


@dataclass(frozen=True)
class CategoricalItem:
    """An item answered with categories (yes/no, low/medium/high): kept, not scored."""

    id: str
    text: str
    scale: str
    categories: dict[str, str]
    dimension: str | None = None


@dataclass(frozen=True)
class Dimension:
    id: str
    name: str
    items: tuple[Item, ...]
    description: str = ""


@dataclass(frozen=True)
class Instrument:
    """An observation protocol: dimensions of items scored on an ordinal scale."""

    id: str
    name: str
    version: str
    scale_min: int
    scale_max: int
    labels: dict[int, str]
    dimensions: tuple[Dimension, ...]
    references: tuple[str, ...] = ()
    source: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    categorical_items: tuple[CategoricalItem, ...] = ()
    """Items answered with categories: read and kept, never in the index."""
    unanswered: tuple[str, ...] = ()
    """The protocol's own markers of an unanswered item (compared case-insensitively)."""

    # --- lookup ---------------------------------------------------------
    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(it for d in self.dimensions for it in d.items)

    @property
    def item_ids(self) -> list[str]:
        return [it.id for it in self.items]

    @property
    def scale(self) -> tuple[int, int]:
        return (self.scale_min, self.scale_max)

    @property
    def categorical_ids(self) -> list[str]:
        return [it.id for it in self.categorical_items]

    def categorical_item(self, item_id: str) -> CategoricalItem:
        for it in self.categorical_items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    def item(self, item_id: str) -> Item:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    def dimension_of(self) -> dict[str, str]:
        """item_id -> dimension id."""
        return {it.id: it.dimension for it in self.items}

    def dimension_names(self) -> dict[str, str]:
        return {d.id: d.name for d in self.dimensions}

    def reversed_items(self) -> list[str]:
        return [it.id for it in self.items if it.reverse]

    def label_to_score(self) -> dict[str, int]:
        """Scale labels (case-insensitive) -> score, for exports that use labels."""
        return {v.strip().lower(): k for k, v in self.labels.items()}

    # --- description ----------------------------------------------------
    def describe(self) -> pd.DataFrame:
        """One row per item: dimension, item id, text, reversed."""
        rows = [{"dimension": d.id, "dimension_namn": d.name, "item_id": it.id,
                 "text": it.text, "omvand": it.reverse}
                for d in self.dimensions for it in d.items]
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        lines = [f"{self.name} (id {self.id}, version {self.version})",
                 f"Skala {self.scale_min}–{self.scale_max}: "
                 + "; ".join(f"{k} = {v}" for k, v in sorted(self.labels.items()))]
        for d in self.dimensions:
            lines.append(f"  {d.name}: {len(d.items)} påståenden")
        if self.categorical_items:
            lines.append(f"  Kategoriska påståenden (ingår inte i indexet): "
                         f"{len(self.categorical_items)}")
        return "\n".join(lines)

    # --- scoring --------------------------------------------------------
    def score(self, observations: pd.DataFrame, by: tuple[str, ...] = (
            "observation_id", "observer_id")) -> pd.DataFrame:
        """Score observations per dimension and overall.

        Parameters
        ----------
        observations : canonical observations table (one row per item score).
        by : the columns that identify one scored observation (one observer's
            form for one lesson).

        Returns
        -------
        DataFrame with ``by`` columns, the observation's descriptive columns
        (school, teacher, observer, role, type, date, term, school year), one
        column per dimension id, ``overall``, and ``n_items`` answered.

        Notes
        -----
        Missing items: see the module docstring (half rule). Reversed items
        are turned before averaging. A dimension below the half rule is NaN;
        the overall score is the mean of the present dimensions if at least
        half of them are present, else NaN.
        """
        obs = observations
        dim_of = self.dimension_of()
        s = obs["score"].astype(float).to_numpy(copy=True)
        rev = obs["item_id"].isin(self.reversed_items()).to_numpy()
        s[rev] = self.scale_min + self.scale_max - s[rev]
        work = obs[list(by) + ["item_id"]].copy()
        work["score"] = s
        work["dimension"] = obs["item_id"].map(dim_of).astype(object)
        keys = list(by)
        means = work.groupby(keys + ["dimension"], observed=True, sort=True)["score"].agg(
            ["mean", "count"])
        n_items = {d.id: len(d.items) for d in self.dimensions}
        means["need"] = np.ceil(means.index.get_level_values(-1).map(n_items)
                                .to_numpy(dtype=float) / 2)
        means.loc[means["count"] < means["need"], "mean"] = np.nan
        wide = means["mean"].unstack("dimension")
        dims = [d.id for d in self.dimensions]
        wide = wide.reindex(columns=dims)
        present = wide.notna().sum(axis=1)
        overall = wide.mean(axis=1, skipna=True)
        overall[present < np.ceil(len(dims) / 2)] = np.nan
        wide["overall"] = overall
        wide["n_items"] = work.dropna(subset=["score"]).groupby(keys, sort=True).size().reindex(
            wide.index).fillna(0).astype(int)
        wide.columns.name = None
        desc_cols = [c for c in ("school_id", "teacher_id", "observer_id", "observer_role",
                                 "observation_type", "date", "school_year", "term", "subject",
                                 "grade_level") if c in obs.columns and c not in keys]
        desc = obs.drop_duplicates(keys).set_index(keys)[desc_cols]
        out = desc.join(wide, how="right").reset_index()
        return out


def _fail(msg: str, source: str | None, hint: str | None = None, column: str | None = None
          ) -> InstrumentError:
    return InstrumentError(msg, file=source, column=column,
                           hint=hint or "Rätta protokollfilen och läs in den igen.")


def instrument_from_dict(d: Any, source: str | None = None) -> Instrument:
    """Build and check an Instrument from a parsed YAML mapping."""
    if not isinstance(d, dict):
        raise _fail("Protokollfilen ska vara en YAML-mappning med id, name, scale och dimensions",
                    source)
    for key in ("id", "name", "scale", "dimensions"):
        if key not in d:
            raise _fail(f"Protokollet saknar fältet `{key}`", source, column=key)
    scale = d["scale"]
    if not isinstance(scale, dict) or "min" not in scale or "max" not in scale:
        raise _fail("Fältet `scale` ska ha `min` och `max`", source, column="scale")
    try:
        smin, smax = int(scale["min"]), int(scale["max"])
    except (TypeError, ValueError):
        raise _fail("Skalans `min` och `max` ska vara heltal", source, column="scale") from None
    if smin >= smax:
        raise _fail(f"Skalans min ({smin}) måste vara mindre än max ({smax})", source,
                    column="scale")
    labels_raw = scale.get("labels") or {}
    try:
        labels = {int(k): str(v) for k, v in labels_raw.items()}
    except (TypeError, ValueError, AttributeError):
        raise _fail("`scale.labels` ska vara en mappning från poäng till etikett", source,
                    column="scale.labels") from None
    bad = [k for k in labels if not smin <= k <= smax]
    if bad:
        raise _fail(f"Etiketter för poäng utanför skalan {smin}–{smax}: {bad}", source,
                    column="scale.labels")
    dims_raw = d["dimensions"]
    if not isinstance(dims_raw, list) or not dims_raw:
        raise _fail("`dimensions` ska vara en icke-tom lista", source, column="dimensions")
    seen_items: set[str] = set()
    seen_dims: set[str] = set()
    dims = []
    for i, dr in enumerate(dims_raw, start=1):
        if not isinstance(dr, dict) or "id" not in dr or "items" not in dr:
            raise _fail(f"Dimension nr {i} saknar `id` eller `items`", source,
                        column=f"dimensions[{i}]")
        did = str(dr["id"])
        if did in seen_dims:
            raise _fail(f"Dimensionen `{did}` finns två gånger", source, column="dimensions")
        seen_dims.add(did)
        items = []
        if not isinstance(dr["items"], list) or not dr["items"]:
            raise _fail(f"Dimensionen `{did}` har inga påståenden", source,
                        column=f"dimensions[{i}].items")
        for j, ir in enumerate(dr["items"], start=1):
            if not isinstance(ir, dict) or "id" not in ir or "text" not in ir:
                raise _fail(f"Påstående nr {j} i dimensionen `{did}` saknar `id` eller `text`",
                            source, column=f"dimensions[{i}].items[{j}]")
            iid = str(ir["id"])
            if iid in seen_items:
                raise _fail(f"Påståendet `{iid}` finns två gånger", source, column="items")
            seen_items.add(iid)
            rev = ir.get("reverse", False)
            if not isinstance(rev, bool):
                raise _fail(f"`reverse` för `{iid}` ska vara true eller false", source,
                            column=f"{iid}.reverse")
            items.append(Item(iid, str(ir["text"]).strip(), did, rev))
        dims.append(Dimension(did, str(dr.get("name", did)), tuple(items),
                              str(dr.get("description", ""))))
    categorical = _categorical_items(d, source, seen_items, seen_dims)
    unanswered = d.get("unanswered") or []
    if not isinstance(unanswered, list):
        raise _fail("`unanswered` ska vara en lista med markeringar, t.ex. [NOT OBSERVED, \"?\"]",
                    source, column="unanswered")
    return Instrument(
        id=str(d["id"]), name=str(d["name"]), version=str(d.get("version", "1")),
        scale_min=smin, scale_max=smax, labels=labels, dimensions=tuple(dims),
        references=tuple(str(r) for r in d.get("references", []) or []),
        source=source, raw=d, categorical_items=categorical,
        unanswered=tuple(str(x).strip() for x in unanswered))


def _categorical_items(d: dict[str, Any], source: str | None, seen_items: set[str],
                       seen_dims: set[str]) -> tuple[CategoricalItem, ...]:
    """``categorical_scales`` and ``categorical_items`` of a protocol, checked."""
    scales_raw = d.get("categorical_scales") or {}
    items_raw = d.get("categorical_items") or []
    if not isinstance(scales_raw, dict):
        raise _fail("`categorical_scales` ska vara en mappning: namn -> {kod: etikett}", source,
                    column="categorical_scales")
    scales: dict[str, dict[str, str]] = {}
    for name, cats in scales_raw.items():
        if not isinstance(cats, dict) or len(cats) < 2:
            raise _fail(f"Den kategoriska skalan `{name}` ska ha minst två kategorier "
                        "(kod: etikett)", source, column=f"categorical_scales.{name}")
        scales[str(name)] = {str(k).strip(): str(v).strip() for k, v in cats.items()}
    if not isinstance(items_raw, list):
        raise _fail("`categorical_items` ska vara en lista", source, column="categorical_items")
    out = []
    for j, ir in enumerate(items_raw, start=1):
        if not isinstance(ir, dict) or not {"id", "text", "scale"} <= set(ir):
            raise _fail(f"Kategoriskt påstående nr {j} saknar `id`, `text` eller `scale`",
                        source, column=f"categorical_items[{j}]")
        iid = str(ir["id"])
        if iid in seen_items:
            raise _fail(f"Påståendet `{iid}` finns två gånger", source, column="items")
        seen_items.add(iid)
        scale = str(ir["scale"])
        if scale not in scales:
            raise _fail(f"Påståendet `{iid}` har skalan `{scale}`, som inte finns under "
                        "categorical_scales", source, column=f"{iid}.scale",
                        hint="Skalor i protokollet: " + (", ".join(scales) or "inga"))
        dim = ir.get("dimension")
        if dim is not None and str(dim) not in seen_dims:
            raise _fail(f"Påståendet `{iid}` hör till dimensionen `{dim}`, som inte finns",
                        source, column=f"{iid}.dimension",
                        hint="Dimensioner i protokollet: " + ", ".join(sorted(seen_dims)))
        out.append(CategoricalItem(iid, str(ir["text"]).strip(), scale, scales[scale],
                                   None if dim is None else str(dim)))
    return tuple(out)


def load_instrument(spec: str | Path | Instrument | None = None) -> Instrument:
    """Load an instrument: a built-in id, a path to a YAML file, or pass one through.

    ``None`` gives the default (:data:`DEFAULT_INSTRUMENT`).
    """
    if isinstance(spec, Instrument):
        return spec
    if spec is None:
        spec = DEFAULT_INSTRUMENT
    if isinstance(spec, str) and spec in _BUILTIN:
        text = resources.files(__package__).joinpath(_BUILTIN[spec]).read_text(encoding="utf-8")
        source = _BUILTIN[spec]
    else:
        path = Path(spec)
        if not path.exists():
            raise InstrumentError(
                f"Protokollet `{spec}` finns inte",
                hint="Ange sökvägen till en YAML-fil eller ett inbyggt protokoll: "
                     + ", ".join(_BUILTIN))
        text = path.read_text(encoding="utf-8")
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InstrumentError(f"Protokollfilen är inte giltig YAML: {exc}", file=source,
                              row=(mark.line + 1) if mark else None) from None
    return instrument_from_dict(data, source=source)


__all__ = ["Instrument", "Dimension", "Item", "CategoricalItem", "load_instrument",
           "instrument_from_dict",
           "DEFAULT_INSTRUMENT"]
