"""Paired observations from a Dataset: agreement item by item, and the double-coding design.

Entry points:

* :func:`paired_items` – the item scores of lessons rated by two (or more)
  observers, one row per pair of observers × item;
* :func:`item_agreement` – exact and adjacent agreement, Cohen's kappa and the
  quadratically weighted kappa with intervals, per item, per dimension and
  overall, for all school years together and per school year
  (:class:`ItemAgreementResult`: a table and a heat map);
* :func:`plan_paired_observations` – how many lessons to observe in pairs next
  term, and who with whom, for a chosen precision of the item kappas and of
  the observers' severities (:class:`PairedDesign`).

Estimates
---------
For a group of pairs (an item, a dimension's items pooled, or every item) the
ratings form a K × K table (K = the instrument's scale steps, all counted even
if unused). Exact agreement is the share on the diagonal, adjacent the share at
most one step off, Cohen's kappa ``(p_o − p_e) / (1 − p_e)`` with identity
weights and the weighted kappa with quadratic weights ``1 − (i − j)² / (K − 1)²``
(``psych::cohen.kappa``'s default; per item the values equal psych's,
``tests/reference/psych_item_kappa.R``).

Intervals: the pairs of one lesson are not independent (a dimension pools
several items of the same lesson; a lesson with three observers gives three
pairs), so the standard errors are delete-one-lesson jackknife estimates,
``se² = (L − 1)/L · Σ_l (θ̂_(l) − θ̄)²`` over the ``L`` lessons of the group,
computed exactly from the table minus the lesson's pairs; the interval is
``θ̂ ± z · se``, clipped to the range of the statistic. For a single item with
one pair per lesson the jackknife agrees with the large-sample standard error
of Fleiss, Cohen & Everitt (1969) (tested). Cells with fewer than five lessons
(``privacy.MIN_OBS``) are shown as missing: too few to say anything, and the
floor every observation figure keeps.

The double-coding design
------------------------
Two precisions are asked for, both as the half-width ``h`` of a 95 % interval:

* the kappa of each item: its standard error falls as ``1/√n`` with ``n``
  paired lessons, so from the current ``se₀`` with ``n₀`` lessons,
  ``n_κ = ⌈n₀ · (z · se₀ / h_κ)²⌉`` (``se₀`` the median over items of the
  weighted kappa's standard error, all school years);
* an observer's severity: in a paired lesson the difference between the two
  forms' scores removes the school, teacher and lesson and leaves the two
  observers' severities and their rating noise, variance ``2σ²_e``; against
  partners who rotate (whose own severities vary with ``σ²_O``), ``m`` paired
  forms give ``se(severity) = √((2σ²_e + σ²_O) / m)``, so an observer needs
  ``m = ⌈z² (2σ²_e + σ²_O) / h_s²⌉`` paired forms. ``σ²_e`` and ``σ²_O`` are
  the residual and observer variance components of the teaching-quality model
  (:func:`~.reliability.variance_components`).

Each paired lesson gives a paired form to two observers, so the severity goal
needs ``⌈A · m / 2⌉`` paired lessons for ``A`` active observers (those with
forms in the latest term); the recommendation is the larger of the two
numbers, and its share of the lessons observed in the latest term.
Which lessons: each observer's ``m`` pairs go, in rotation, to partners of
another role and from another school (external observers first), because a
pair of two leaders of the same school cannot separate their shared
leniency towards their own school from their severity; the lessons are spread
over the schools in proportion to their lessons in the latest term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from .._format import number
from .._results import Result
from ..errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset
    from .reliability import VarianceComponents

from ..privacy import MIN_OBS

__all__ = ["ItemAgreementResult", "PairedDesign", "item_agreement", "paired_items",
           "plan_paired_observations"]

ALL_YEARS = "alla läsår"
_ROLE_SV = {"rektor": "rektor", "bitradande_rektor": "biträdande rektor",
            "forstelarare": "förstelärare", "kollega": "kollega", "extern": "extern",
            "annan": "annan"}
STATS = ("exact", "adjacent", "kappa", "kappa_weighted")


def _pct(x: float) -> str:
    return number(100 * x, 0) + " %" if np.isfinite(x) else ".."


# --------------------------------------------------------------------------- pairs
def paired_items(ds: Dataset) -> pd.DataFrame:
    """Item scores of paired lessons: one row per lesson × item × pair of observers.

    Columns: observation_id, school_id, school_year, term, item_id, dimension,
    observer_a, observer_b (``observer_a < observer_b``), role_a, role_b,
    score_a, score_b. A lesson with three observers gives three pairs. Items
    either observer left empty are left out of that pair.
    """
    obs = ds.observations
    if obs is None or len(obs) == 0:
        raise ModelError("Datasetet saknar observationer", table="observations",
                         hint="Läs in observationer med read_observations")
    n_obs = obs.groupby("observation_id", observed=True)["observer_id"].nunique()
    paired = n_obs[n_obs >= 2].index
    d = obs[obs["observation_id"].isin(paired) & obs["score"].notna()]
    cols = ["observation_id", "school_id", "school_year", "term", "item_id"]
    d = d[cols + ["observer_id", "observer_role", "score"]].copy()
    for c in cols + ["observer_id", "observer_role"]:
        d[c] = d[c].astype(str)
    left = d.rename(columns={"observer_id": "observer_a", "observer_role": "role_a",
                             "score": "score_a"})
    right = d[["observation_id", "item_id", "observer_id", "observer_role", "score"]].rename(
        columns={"observer_id": "observer_b", "observer_role": "role_b", "score": "score_b"})
    m = left.merge(right, on=["observation_id", "item_id"])
    m = m[m["observer_a"] < m["observer_b"]]
    m["dimension"] = m["item_id"].map(ds.instrument.dimension_of())
    out = m[["observation_id", "school_id", "school_year", "term", "item_id", "dimension",
             "observer_a", "observer_b", "role_a", "role_b", "score_a", "score_b"]]
    return out.sort_values(["observation_id", "item_id", "observer_a", "observer_b"]) \
        .reset_index(drop=True)


# --------------------------------------------------------------------------- statistics
def _stats_from_tables(t: np.ndarray) -> np.ndarray:
    """exact, adjacent, kappa, weighted kappa for a stack of K × K count tables."""
    t = np.asarray(t, dtype=float)
    k = t.shape[-1]
    n = t.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = t / n[..., None, None]
        dist = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
        exact = (p * (dist == 0)).sum(axis=(-2, -1))
        adjacent = (p * (dist <= 1)).sum(axis=(-2, -1))
        pr, pc = p.sum(axis=-1), p.sum(axis=-2)
        outer = pr[..., :, None] * pc[..., None, :]
        out = [exact, adjacent]
        for w in (np.eye(k), 1 - dist ** 2 / (k - 1) ** 2):
            po = (w * p).sum(axis=(-2, -1))
            pe = (w * outer).sum(axis=(-2, -1))
            kap = (po - pe) / (1 - pe)
            out.append(np.where(np.isclose(1 - pe, 0), np.nan, kap))
    return np.stack(out, axis=-1)


def _group_stats(g: pd.DataFrame, lo: int, k: int, z: float) -> dict[str, Any]:
    lessons, lesson_idx = np.unique(g["observation_id"].to_numpy(), return_inverse=True)
    n_l = len(lessons)
    tabs = np.zeros((n_l, k, k))
    np.add.at(tabs, (lesson_idx, g["score_a"].to_numpy(int) - lo,
                     g["score_b"].to_numpy(int) - lo), 1)
    total = tabs.sum(axis=0)
    est = _stats_from_tables(total)
    row: dict[str, Any] = {"n_lessons": n_l, "n_pairs": int(len(g))}
    if n_l >= 2:
        reps = _stats_from_tables(total[None, :, :] - tabs)
        se = np.sqrt((n_l - 1) / n_l * np.nansum((reps - np.nanmean(reps, axis=0)) ** 2,
                                                 axis=0))
    else:
        se = np.full(len(STATS), np.nan)
    for i, s in enumerate(STATS):
        lo_b = 0.0 if s in ("exact", "adjacent") else -1.0
        row[s] = float(est[i])
        row[f"{s}_se"] = float(se[i])
        row[f"{s}_conf_low"] = float(np.clip(est[i] - z * se[i], lo_b, 1.0))
        row[f"{s}_conf_high"] = float(np.clip(est[i] + z * se[i], lo_b, 1.0))
    return row


@dataclass(frozen=True, eq=False)
class ItemAgreementResult(Result):
    """Agreement item by item, per dimension and overall, over school years.

    ``.tidy()``: one row per level (item, dimension, overall) × unit × school
    year (``"alla läsår"`` for all together); see :func:`item_agreement`.
    """

    table: pd.DataFrame = field(repr=False)
    scale: tuple[int, int]
    item_text: dict[str, str] = field(default_factory=dict)
    dimension_names: dict[str, str] = field(default_factory=dict)

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def _summary_text(self) -> str:
        t = self.table[self.table["school_year"] == ALL_YEARS]
        tot = t[t["level"] == "overall"].iloc[0]
        lines = [
            "Samstämmighet i parobservationer, påstående för påstående",
            f"{int(tot['n_lessons'])} lektioner observerade av två observatörer "
            f"({int(tot['n_pairs'])} par av bedömningar av påståenden).",
            "",
            f"Totalt: exakt samma poäng i {_pct(tot['exact'])} av paren, högst ett steg isär i "
            f"{_pct(tot['adjacent'])}; viktad kappa {number(tot['kappa_weighted'], 2)} "
            f"(95 % KI {number(tot['kappa_weighted_conf_low'], 2)} till "
            f"{number(tot['kappa_weighted_conf_high'], 2)}).",
            "",
            "Per dimension (viktad kappa, 95 % KI):",
        ]
        for _, r in t[t["level"] == "dimension"].iterrows():
            lines.append(f"  {self.dimension_names.get(r['dimension'], r['dimension'])}: "
                         f"{number(r['kappa_weighted'], 2)} ({number(r['kappa_weighted_conf_low'], 2)}"
                         f" till {number(r['kappa_weighted_conf_high'], 2)}), exakt "
                         f"{_pct(r['exact'])}")
        items = t[t["level"] == "item"].dropna(subset=["kappa_weighted"])
        if len(items):
            low = items.nsmallest(min(3, len(items)), "kappa_weighted")
            lines += ["", "Lägst samstämmighet (kalibrera först):"]
            for _, r in low.iterrows():
                lines.append(f"  {r['item_id']} {self.item_text.get(r['item_id'], '')}: "
                             f"viktad kappa {number(r['kappa_weighted'], 2)} "
                             f"({number(r['kappa_weighted_conf_low'], 2)} till "
                             f"{number(r['kappa_weighted_conf_high'], 2)})")
        lines += [
            "",
            "Exakt = samma poäng; ±1 steg = högst ett skalsteg isär. Kappa räknar bort den "
            "samstämmighet slumpen ger (0 = som slumpen, 1 = full); den viktade kappan ger "
            "delvis poäng när bedömarna nästan är överens. Intervallen räknar med att paren "
            "från samma lektion hänger ihop (jackknife över lektioner). Celler med färre än "
            f"{MIN_OBS} lektioner visas inte.",
        ]
        return "\n".join(lines)

    def plot(self, ax: Any = None, stat: str = "kappa_weighted") -> Any:
        """Heat map: items (grouped by dimension) × school years, the chosen statistic."""
        import matplotlib.pyplot as plt

        if stat not in STATS:
            raise ModelError(f"Okänt mått {stat!r}", hint="Välj " + ", ".join(STATS))
        t = self.table[self.table["level"].isin(["item", "dimension"])].copy()
        t["row"] = np.where(t["level"] == "item", t["item_id"],
                            t["dimension"].map(lambda d: self.dimension_names.get(d, d)))
        order = []
        for dim in dict.fromkeys(t["dimension"]):
            order.append(self.dimension_names.get(dim, dim))
            order += list(dict.fromkeys(t.loc[(t["dimension"] == dim) & (t["level"] == "item"),
                                              "item_id"]))
        years = [y for y in sorted(t["school_year"].unique()) if y != ALL_YEARS] + [ALL_YEARS]
        grid = t.pivot_table(index="row", columns="school_year", values=stat,
                             aggfunc="first", dropna=False).reindex(index=order, columns=years)
        if ax is None:
            _, ax = plt.subplots(figsize=(1.5 + 0.9 * len(years), 1.0 + 0.32 * len(order)))
        vmin = 0.0 if stat in ("exact", "adjacent") else -0.2
        im = ax.imshow(grid.to_numpy(dtype=float), cmap="RdYlGn", vmin=vmin, vmax=1.0,
                       aspect="auto")
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                v = grid.iat[i, j]
                ax.text(j, i, number(v, 2) if np.isfinite(v) else "..", ha="center",
                        va="center", fontsize=7)
        ax.set_xticks(range(len(years)))
        ax.set_xticklabels(years, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(order)))
        labels = ax.set_yticklabels(order, fontsize=7)
        for lab in labels:
            if lab.get_text() in self.dimension_names.values():
                lab.set_fontweight("bold")
        names = {"exact": "exakt samma poäng (andel)", "adjacent": "högst ett steg isär (andel)",
                 "kappa": "Cohens kappa", "kappa_weighted": "viktad kappa (kvadratisk)"}
        ax.figure.colorbar(im, ax=ax, fraction=0.04, pad=0.02).set_label(names[stat])
        ax.set_title(f"Samstämmighet per påstående och läsår: {names[stat]}", fontsize=10)
        return ax


def item_agreement(ds_or_pairs: Dataset | pd.DataFrame, *, scale: tuple[int, int] | None = None,
                   conf_level: float = 0.95) -> ItemAgreementResult:
    """Agreement item by item, per dimension and overall, for all years and per school year.

    Parameters
    ----------
    ds_or_pairs : a Dataset (its paired lessons are found with :func:`paired_items`)
        or a table shaped like ``paired_items``'s (needs observation_id,
        item_id, dimension, school_year, score_a, score_b).
    scale : (min, max) of the scale; the instrument's for a Dataset, else required.
    conf_level : level of the intervals.

    Returns
    -------
    ItemAgreementResult
        ``.tidy()`` columns: level (``item``, ``dimension``, ``overall``),
        dimension, item_id, school_year (``"alla läsår"`` or a school year),
        n_lessons, n_pairs, and for each of exact, adjacent, kappa and
        kappa_weighted the estimate, ``_se``, ``_conf_low``, ``_conf_high``;
        suppressed (fewer than five lessons: the statistics are NaN).

    Notes
    -----
    See the module docstring for the statistics and the jackknife intervals.
    Missing data: an item either observer left empty is not a pair.
    """
    from scipy import stats

    if isinstance(ds_or_pairs, pd.DataFrame):
        pairs = ds_or_pairs
        if scale is None:
            raise ModelError("Ange skalan med `scale=` (t.ex. (1, 4)) när du skickar in par")
        item_text: dict[str, str] = {}
        dim_names: dict[str, str] = {}
        dims_order = list(dict.fromkeys(pairs["dimension"]))
        items_order = list(dict.fromkeys(pairs["item_id"]))
    else:
        pairs = paired_items(ds_or_pairs)
        inst = ds_or_pairs.instrument
        scale = scale or (inst.scale_min, inst.scale_max)
        item_text = {it.id: it.text for it in inst.items}
        dim_names = inst.dimension_names()
        dims_order = [d.id for d in inst.dimensions]
        items_order = inst.item_ids
    lo, hi = int(scale[0]), int(scale[1])
    need = ["observation_id", "item_id", "dimension", "school_year", "score_a", "score_b"]
    missing = [c for c in need if c not in pairs.columns]
    if missing:
        raise ModelError("Partabellen saknar kolumnerna " + ", ".join(missing),
                         hint="Skapa den med paired_items(ds)")
    if pairs.empty:
        raise ModelError("Inga lektioner är observerade av två observatörer, så samstämmighet "
                         "kan inte beräknas", table="observations", column="observation_id",
                         hint="Låt två observatörer fylla i protokoll för samma lektion "
                              "(samma observation_id)")
    bad = ~(pairs["score_a"].between(lo, hi) & pairs["score_b"].between(lo, hi)
            & (pairs["score_a"] % 1 == 0) & (pairs["score_b"] % 1 == 0))
    if bad.any():
        r = pairs[bad].iloc[0]
        raise ModelError(f"Poängen {r['score_a']}/{r['score_b']} för {r['item_id']} i lektion "
                         f"{r['observation_id']} ligger utanför skalans heltal {lo}–{hi}",
                         column="score", hint="Rätta poängen eller ange rätt skala")
    z = float(stats.norm.ppf(0.5 + conf_level / 2))
    k = hi - lo + 1
    rows: list[dict[str, Any]] = []
    years = [ALL_YEARS, *sorted(pairs["school_year"].astype(str).unique())]
    for year in years:
        py = pairs if year == ALL_YEARS else pairs[pairs["school_year"].astype(str) == year]
        units = [("overall", None, None, py)]
        for dim in dims_order:
            pd_ = py[py["dimension"] == dim]
            units.append(("dimension", dim, None, pd_))
            for item in [i for i in items_order if i in set(pd_["item_id"])]:
                units.append(("item", dim, item, pd_[pd_["item_id"] == item]))
        for level, dim, item, g in units:
            row: dict[str, Any] = {"level": level, "dimension": dim, "item_id": item,
                                   "school_year": year}
            if len(g):
                row.update(_group_stats(g, lo, k, z))
            else:
                row.update({"n_lessons": 0, "n_pairs": 0})
            rows.append(row)
    table = pd.DataFrame(rows)
    cols = ["level", "dimension", "item_id", "school_year", "n_lessons", "n_pairs"]
    for s in STATS:
        cols += [s, f"{s}_se", f"{s}_conf_low", f"{s}_conf_high"]
    for c in cols:
        if c not in table:
            table[c] = np.nan
    table = table[cols]
    table["suppressed"] = table["n_lessons"] < MIN_OBS
    stat_cols = cols[6:]
    table.loc[table["suppressed"], stat_cols] = np.nan
    return ItemAgreementResult(table=table, scale=(lo, hi), item_text=item_text,
                               dimension_names=dim_names)


# --------------------------------------------------------------------------- design
@dataclass(frozen=True, eq=False)
class PairedDesign(Result):
    """A double-coding design for next term (see :func:`plan_paired_observations`).

    ``.tidy()``: one row per active observer with their paired lessons and
    suggested partners; ``.totals`` the numbers behind the recommendation;
    ``.by_school()`` the paired lessons per school.
    """

    table: pd.DataFrame = field(repr=False)
    school_table: pd.DataFrame = field(repr=False)
    totals: dict[str, float] = field(default_factory=dict)

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def by_school(self) -> pd.DataFrame:
        return self.school_table.copy()

    def _summary_text(self) -> str:
        t = self.totals
        lines = [
            "Förslag: parobservationer nästa termin",
            f"Rekommendation: {int(t['n_paired_lessons'])} lektioner observeras av två "
            f"observatörer, ungefär {_pct(t['share'])} av de {int(t['lessons_last_term'])} "
            "lektioner som observerades senaste terminen.",
        ]
        if t["n_goal"] > t["n_paired_lessons"]:
            lines += [
                f"Målet kräver {int(t['n_goal'])} parlektioner, fler än en termins alla "
                f"lektioner: det nås på ungefär {int(t['terms_needed'])} terminer om alla "
                "lektioner parobserveras. En termin med alla lektioner i par ger kappa ± "
                f"{number(t['reach_kappa_halfwidth'], 2)} och stränghet ± "
                f"{number(t['reach_severity_halfwidth'], 2)} poäng.",
            ]
        lines += [
            "",
            f"* Samstämmighet per påstående (viktad kappa ± {number(t['kappa_halfwidth'], 2)}): "
            f"{int(t['n_for_kappa'])} parlektioner (i dag {int(t['n_now'])} parlektioner ger "
            f"medelfelet {number(t['kappa_se_now'], 3)}).",
            f"* Varje observatörs stränghet (± {number(t['severity_halfwidth'], 2)} poäng): "
            f"{int(t['forms_per_observer'])} parprotokoll per observatör, för "
            f"{int(t['n_observers'])} aktiva observatörer = {int(t['n_for_severity'])} "
            "parlektioner.",
            "",
            "Vem med vem: varje observatör paras i tur och ordning med observatörer i en annan "
            "roll och från en annan skola (externa först), eftersom två skolledare från samma "
            "skola inte kan skilja sin gemensamma mildhet mot den egna skolan från sin "
            "stränghet. Lektionerna fördelas över skolorna efter hur många lektioner de "
            "observerar.",
            "",
            "Beräkning: medelfelet för kappa minskar som 1/√n med antalet parlektioner; en "
            "observatörs stränghet skattas ur skillnaden mot partnern i samma lektion, med "
            f"variansen 2·σ²(bedömning) + σ²(observatör) = "
            f"{number(t['pair_difference_variance'], 3)} per parprotokoll.",
        ]
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """Paired lessons needed against the precision asked for (kappa and severity)."""
        import matplotlib.pyplot as plt

        t = self.totals
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.8))
        h = np.linspace(0.04, 0.30, 60)
        n_k = t["n_now"] * (t["z"] * t["kappa_se_now"] / h) ** 2
        m_s = t["z"] ** 2 * t["pair_difference_variance"] / h ** 2
        n_s = t["n_observers"] * m_s / 2
        ax.plot(h, n_k, color="#1f4e79", label="kappa per påstående: ± h")
        ax.plot(h, n_s, color="#e6550d", label="observatörens stränghet: ± h poäng")
        ax.axhline(t["lessons_last_term"], color="#888888", ls=":", lw=1,
                   label="lektioner observerade senaste terminen")
        ax.scatter([t["kappa_halfwidth"], t["severity_halfwidth"]],
                   [t["n_for_kappa"], t["n_for_severity"]], color=["#1f4e79", "#e6550d"],
                   zorder=3)
        ax.set_yscale("log")
        ax.set_xlabel("Önskad precision h (halva bredden av ett 95 %-intervall)")
        ax.set_ylabel("Parobserverade lektioner per termin")
        ax.set_title("Hur många parobservationer behövs?")
        ax.legend(fontsize=8, frameon=False)
        return ax


def plan_paired_observations(ds: Dataset, *, kappa_halfwidth: float = 0.10,
                             severity_halfwidth: float = 0.15,
                             components: VarianceComponents | None = None,
                             conf_level: float = 0.95) -> PairedDesign:
    """How many lessons to observe in pairs next term, and who with whom.

    Parameters
    ----------
    ds : a Dataset with paired observations (lessons with two observers).
    kappa_halfwidth : wanted half-width of the 95 % interval of each item's
        weighted kappa.
    severity_halfwidth : wanted half-width (score points) of each observer's
        severity.
    components : the municipality's variance components; default
        :func:`~.reliability.variance_components` of ``ds``.
    conf_level : level of the intervals the half-widths refer to.

    Returns
    -------
    PairedDesign
        ``.tidy()``: observer_id, observer_role, home_school_id, forms_last_term,
        paired_forms (to plan next term), partners (suggested partner ids,
        another role and school first), partner_roles. ``.by_school()``:
        school_id, lessons_last_term, paired_lessons. ``.totals``: every number
        of the recommendation (see the module docstring for the formulas).
    """
    from scipy import stats

    if not (0 < kappa_halfwidth < 1 and 0 < severity_halfwidth):
        raise ModelError("Precisionen ska vara ett positivt tal (kappa under 1), men är "
                         f"{kappa_halfwidth!r} och {severity_halfwidth!r}")
    z = float(stats.norm.ppf(0.5 + conf_level / 2))
    agr = item_agreement(ds).tidy()
    items = agr[(agr["level"] == "item") & (agr["school_year"] == ALL_YEARS)]
    se_now = float(np.nanmedian(items["kappa_weighted_se"]))
    n_now = int(agr.loc[(agr["level"] == "overall") & (agr["school_year"] == ALL_YEARS),
                        "n_lessons"].iloc[0])
    if not np.isfinite(se_now) or n_now < MIN_OBS:
        raise ModelError(f"För få parobservationer ({n_now} lektioner) för att planera",
                         table="observations",
                         hint=f"Det behövs minst {MIN_OBS} lektioner med två observatörer")
    n_kappa = math.ceil(n_now * (z * se_now / kappa_halfwidth) ** 2)
    if components is None:
        from .reliability import variance_components
        components = variance_components(ds)
    var_d = 2 * components.residual + components.observer
    m = math.ceil(z ** 2 * var_d / severity_halfwidth ** 2)

    obs = ds.observations
    last = max(obs["term"].astype(str).unique(), key=schema.term_index)
    cur = obs[obs["term"].astype(str) == last]
    forms = cur.drop_duplicates(["observation_id", "observer_id"])
    from .index import infer_home_schools
    homes = infer_home_schools(obs)
    homes = homes[homes["school_year"] == schema.term_school_year(last)]
    home_of = dict(zip(homes["observer_id"].astype(str), homes["home_school_id"], strict=True))
    act = (forms.groupby("observer_id", observed=True)
           .agg(observer_role=("observer_role", lambda s: str(s.astype(str).mode().iloc[0])),
                forms_last_term=("observation_id", "size")).reset_index())
    act["observer_id"] = act["observer_id"].astype(str)
    act["home_school_id"] = act["observer_id"].map(home_of)
    act = act.sort_values("observer_id").reset_index(drop=True)
    n_obs = len(act)
    n_sev = math.ceil(n_obs * m / 2)
    n_goal = max(n_kappa, n_sev)
    lessons_last = int(cur["observation_id"].nunique())
    n_rec = min(n_goal, lessons_last)  # at most every lesson of a term in pairs

    # partners: another role and another school first (external observers first)
    partners, partner_roles = [], []
    recs = act.to_dict("records")
    for r in recs:
        def rank(o: dict[str, Any], r: dict[str, Any] = r) -> tuple[int, int, int, str]:
            same_school = (o["home_school_id"] is not None
                           and o["home_school_id"] == r["home_school_id"])
            return (int(same_school), int(o["observer_role"] == r["observer_role"]),
                    int(o["observer_role"] != "extern"), o["observer_id"])
        cand = sorted((o for o in recs if o["observer_id"] != r["observer_id"]), key=rank)
        take = cand[:min(len(cand), max(1, min(m, 4)))]
        partners.append(", ".join(o["observer_id"] for o in take))
        partner_roles.append(", ".join(_ROLE_SV.get(o["observer_role"], o["observer_role"])
                                       for o in take))
    act["paired_forms"] = min(m, math.ceil(2 * n_rec / max(n_obs, 1)))
    act["partners"] = partners
    act["partner_roles"] = partner_roles
    per_school = (cur.groupby("school_id", observed=True)["observation_id"].nunique()
                  .rename("lessons_last_term").reset_index())
    per_school["school_id"] = per_school["school_id"].astype(str)
    share = per_school["lessons_last_term"] / per_school["lessons_last_term"].sum()
    per_school["paired_lessons"] = np.ceil(share * n_rec).astype(int)
    # what a term with every lesson paired reaches (when the goal is out of reach)
    reach_kappa = z * se_now * math.sqrt(n_now / max(n_rec, 1))
    reach_sev = z * math.sqrt(var_d / max(2 * n_rec / max(n_obs, 1), 1e-9))
    totals = {"n_paired_lessons": float(n_rec), "n_goal": float(n_goal),
              "terms_needed": float(math.ceil(n_goal / max(lessons_last, 1))),
              "reach_kappa_halfwidth": reach_kappa, "reach_severity_halfwidth": reach_sev, "share": n_rec / max(lessons_last, 1),
              "lessons_last_term": float(lessons_last), "n_for_kappa": float(n_kappa),
              "n_for_severity": float(n_sev), "n_now": float(n_now), "kappa_se_now": se_now,
              "kappa_halfwidth": kappa_halfwidth, "severity_halfwidth": severity_halfwidth,
              "forms_per_observer": float(m), "n_observers": float(n_obs),
              "pair_difference_variance": var_d, "z": z}
    return PairedDesign(table=act[["observer_id", "observer_role", "home_school_id",
                                   "forms_last_term", "paired_forms", "partners",
                                   "partner_roles"]],
                        school_table=per_school, totals=totals)
