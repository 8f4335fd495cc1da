"""Item by item: each school's next steps, and items that work differently (DIF).

Entry points:

* :func:`next_steps` – which items of the protocol a school does relatively
  well or less well on, given how hard each item is across the municipality
  (:class:`NextStepsResult`: a table per school × item and a chart);
* :func:`item_dif` – differential item functioning: items whose scores relative
  to the rest of the form differ between observer roles, or change over the
  school years, named for the protocol's owner (:class:`ItemDIFResult`).

The item × school model
-----------------------
Each item score (reversed items turned) is centred on its form's mean over
the form's answered items: ``d = score − mean(form)``. Centring removes
everything a form shares – the school's level, the teacher, the lesson, the
observer's severity, the visit type – and leaves the item's standing within
the form. A linear mixed model (the engine, :func:`fit_mixed`, REML)::

    d ~ 1 + (1 | item_id) + (1 | school_item)

gives each item its municipality-wide difficulty (intercept + the item's
effect: how far the item lies below or above the form's mean on average) and
each school × item an effect: how much better (positive) or worse (negative)
the school does on that item than the item's difficulty predicts. The effect
is the conditional mode, shrunk towards 0 for schools with few forms; the
interval is ``estimate ± 1.96 · condsd``. The items' difficulties are random
effects rather than fixed ones on purpose: lme4's conditional variance of a
school × item effect is then taken jointly with the difficulties, so it
carries the uncertainty of the difficulty the school is compared with (with
fixed difficulties, estimated from a handful of schools, the intervals left
that out and covered 84 % instead of 95 % in ``benchmarks/sim_items.py``). An item is a *strength* when its
interval lies above 0 and a *next step* when it lies below; the school's
``expected`` item score is its mean form score plus the item's difficulty,
``observed`` adds the school × item effect. By construction a school's effects
over the items sum to about zero: this is a profile (what to work on first),
not a level.

The window is the latest ``school_years`` (default 1) school years, so that the
next steps describe the present. Privacy: a school with fewer than three
observed teachers or five observed lessons in the window (``privacy``'s floors)
is present but suppressed. Nothing is reported per teacher.

Differential item functioning
-----------------------------
For each item, the same centred score ``d`` is regressed on the grouping,
with a random intercept per observer (observers are the units that carry
a role, and their ratings are clustered) and per school (the school's own
standing on the item, the effect :func:`next_steps` reports: rektorer rate
only their own school, external observers many, so without it a school's
profile would blur the comparison of roles)::

    d ~ observer_role + (1 | observer_id) + (1 | school_id)   (roles: contrast to rektor)
    d ~ time + (1 | observer_id) + (1 | school_id)            (change per school year)

A role contrast says the item stands higher (or lower) within the form when
rated by, e.g., an external observer than by a rektor; a time slope that the
item's standing drifts over the school years. An item is *named* when the
Bonferroni-adjusted interval over all items and contrasts excludes zero.
Because ``d`` is centred on the form, a DIF of ``δ`` on one item appears as
``δ (1 − 1/k)`` on it and ``−δ/k`` on each of the other ``k − 1`` items.

Checked by ``benchmarks/sim_items.py`` (12 seeds, 8 schools, 3 school years,
school × item effects of sd 0.45 and two planted DIFs): the school × item
estimates correlate 0.88 with the truth and their 95 % intervals cover it for
92.8 % of school × items; every named next step had a negative truth; the
planted DIFs were named in 11/12 and 12/12 seeds and 1 of 516 other
contrasts was named.

Missing data: unanswered items are left out; a form's mean uses its answered
items; forms with fewer than half of the items answered are left out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from .._format import number
from .._results import Result
from ..errors import ConvergenceWarning, ModelError
from ..privacy import MIN_OBS, MIN_TEACHERS

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

__all__ = ["ItemDIFResult", "NextStepsResult", "centred_item_scores", "item_dif", "next_steps"]

_ROLE_SV = {"rektor": "rektor", "bitradande_rektor": "biträdande rektor",
            "forstelarare": "förstelärare", "kollega": "kollega", "extern": "extern",
            "annan": "annan"}


def centred_item_scores(ds: Dataset) -> pd.DataFrame:
    """Item scores (reversed items turned) centred on their form's mean.

    One row per form (observation_id × observer_id) × answered item, with
    school_id, teacher_id, observer_id, observer_role, school_year, term, time
    (years since the first term), item_id, dimension, score and ``d`` (score
    minus the form's mean over its answered items). Forms with fewer than half
    of the items answered are left out.
    """
    obs = ds.observations
    if obs is None or len(obs) == 0:
        raise ModelError("Datasetet saknar observationer", table="observations",
                         hint="Läs in observationer med read_observations")
    inst = ds.instrument
    cols = ["observation_id", "observer_id", "school_id", "teacher_id", "observer_role",
            "school_year", "term", "item_id", "score"]
    d = obs[cols].copy()
    for c in cols[:-1]:
        d[c] = d[c].astype(str)
    d = d[d["score"].notna()]
    rev = d["item_id"].isin(inst.reversed_items())
    d.loc[rev, "score"] = inst.scale_min + inst.scale_max - d.loc[rev, "score"]
    g = d.groupby(["observation_id", "observer_id"], sort=False)["score"]
    d["n_answered"] = g.transform("size")
    d = d[d["n_answered"] >= np.ceil(len(inst.item_ids) / 2)].copy()
    d["d"] = d["score"] - d.groupby(["observation_id", "observer_id"],
                                    sort=False)["score"].transform("mean")
    d["dimension"] = d["item_id"].map(inst.dimension_of())
    first = min(obs["term"].astype(str).unique(), key=schema.term_index)
    d["time"] = d["term"].map(schema.term_index) - schema.term_index(first)
    return d.drop(columns="n_answered").reset_index(drop=True)


# --------------------------------------------------------------------------- next steps
@dataclass(frozen=True, eq=False)
class NextStepsResult(Result):
    """Each school's profile over the items (see :func:`next_steps`)."""

    table: pd.DataFrame = field(repr=False)
    school_years: tuple[str, ...]
    item_text: dict[str, str] = field(default_factory=dict)
    school_names: dict[str, str] = field(default_factory=dict)
    formula: str = ""

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def for_school(self, school_id: str) -> pd.DataFrame:
        """One school's rows, items in the protocol's order."""
        t = self.table[self.table["school_id"] == str(school_id)]
        if t.empty:
            from ..errors import UnknownSchoolError
            raise UnknownSchoolError(f"Skolenheten {school_id} har inga observationer under "
                                     f"{', '.join(self.school_years)}", column="school_id",
                                     hint="Ange en skolenhetskod som finns i observationerna")
        return t.reset_index(drop=True)

    def _summary_text(self) -> str:
        t = self.table
        shown = t[~t["suppressed"]]
        lines = [
            "Nästa steg påstående för påstående",
            f"Läsår: {', '.join(self.school_years)}. {shown['school_id'].nunique()} skolor visas"
            f" ({t.loc[t['suppressed'], 'school_id'].nunique()} har för få observationer).",
            "",
        ]
        for sid, g in shown.groupby("school_id", sort=True):
            name = self.school_names.get(sid, sid)
            weak = g[g["status"] == "next_step"]
            strong = g[g["status"] == "strength"]
            lines.append(f"{name}:")
            if weak.empty and strong.empty:
                lines.append("  Inget påstående skiljer sig tydligt från skolans egen nivå.")
            for _, r in weak.iterrows():
                lines.append(f"  Nästa steg: {r['item_id']} {self.item_text.get(r['item_id'], '')}"
                             f" ({number(r['effect'], 2, sign=True)}, 95 % KI "
                             f"{number(r['conf_low'], 2, sign=True)} till "
                             f"{number(r['conf_high'], 2, sign=True)})")
            for _, r in strong.iterrows():
                lines.append(f"  Styrka: {r['item_id']} {self.item_text.get(r['item_id'], '')}"
                             f" ({number(r['effect'], 2, sign=True)}, 95 % KI "
                             f"{number(r['conf_low'], 2, sign=True)} till "
                             f"{number(r['conf_high'], 2, sign=True)})")
        lines += [
            "",
            "Effekt = hur mycket högre (+) eller lägre (−) skolan får på påståendet än vad "
            "påståendets svårighet i hela kommunen och skolans egen nivå förutsäger, i poäng. "
            "Nästa steg = hela intervallet under noll; styrka = hela intervallet över noll. "
            "Skolor med färre än tre observerade lärare eller fem lektioner visas inte.",
        ]
        return "\n".join(lines)

    def plot(self, ax: Any = None, school_id: str | None = None) -> Any:
        """One school's item profile: effect with interval per item (protocol order)."""
        import matplotlib.pyplot as plt

        t = self.table[~self.table["suppressed"]]
        if school_id is None:
            if t.empty:
                raise ModelError("Ingen skola har tillräckligt många observationer att visa")
            school_id = str(t["school_id"].iloc[0])
        g = self.for_school(school_id)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 1.2 + 0.32 * len(g)))
        y = np.arange(len(g))[::-1]
        if g["suppressed"].all():
            ax.text(0.5, 0.5, "För få observationer för att visa (..)", ha="center",
                    transform=ax.transAxes)
        else:
            colors = g["status"].map({"next_step": "#c0392b", "strength": "#2e7d32"}) \
                .fillna("#1f4e79")
            for yi, (_, r), c in zip(y, g.iterrows(), colors, strict=True):
                ax.errorbar(r["effect"], yi, xerr=[[r["effect"] - r["conf_low"]],
                                                   [r["conf_high"] - r["effect"]]],
                            fmt="o", color=c, capsize=3)
        ax.axvline(0, color="#888888", ls="--", lw=1)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{i} {self.item_text.get(i, '')[:45]}" for i in g["item_id"]],
                           fontsize=7)
        ax.set_xlabel("Jämfört med förväntat utifrån påståendets svårighet (poäng, 95 % KI)")
        ax.set_title(f"{self.school_names.get(school_id, school_id)}: nästa steg (rött) och "
                     "styrkor (grönt)", fontsize=10)
        return ax


def next_steps(ds: Dataset, *, school_years: int = 1, conf_level: float = 0.95
               ) -> NextStepsResult:
    """Each school's relative strengths and next steps item by item.

    Parameters
    ----------
    ds : a Dataset with observations.
    school_years : how many of the latest school years the profile uses.
    conf_level : level of the intervals (and of the strength/next-step rule).

    Returns
    -------
    NextStepsResult
        ``.tidy()``: one row per school × item (protocol order): school_id,
        item_id, dimension, n_obs (lessons), n_teachers, n_forms (forms with
        the item), difficulty (the item's municipality-wide standing within
        the form), effect, se, conf_low, conf_high, expected, observed,
        status (``next_step``, ``strength`` or ``as_expected``), suppressed.
        ``.for_school(id)``, ``.summary()`` and ``.plot(school_id=...)``.

    Notes
    -----
    See the module docstring for the model and the privacy floors.
    """
    from scipy import stats

    from ..engine.mixed import fit_mixed

    if int(school_years) != school_years or school_years < 1:
        raise ModelError(f"`school_years` ska vara ett helt antal läsår (minst 1), men är "
                         f"{school_years!r}")
    d = centred_item_scores(ds)
    years = sorted(d["school_year"].unique())[-int(school_years):]
    w = d[d["school_year"].isin(years)].copy()
    w["school_item"] = w["school_id"] + ":" + w["item_id"]
    if w["school_id"].nunique() < 2:
        raise ModelError("Profilen kräver observationer från minst två skolor",
                         table="observations", column="school_id")
    formula = "d ~ 1 + (1 | item_id) + (1 | school_item)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_mixed(formula, w, reml=True)
    z = float(stats.norm.ppf(0.5 + conf_level / 2))
    inst = ds.instrument
    all_modes = fit.conditional_modes(cond_var=True)
    item_modes = all_modes[all_modes["group"] == "item_id"].set_index("level")["estimate"]
    intercept = float(fit.fixef["(Intercept)"])
    diff = {i: intercept + float(item_modes.get(i, np.nan)) for i in inst.item_ids}
    modes = all_modes[all_modes["group"] == "school_item"].set_index("level")
    forms = w.drop_duplicates(["observation_id", "observer_id"])
    per_school = forms.groupby("school_id").agg(
        n_obs=("observation_id", "nunique"), n_teachers=("teacher_id", "nunique"))
    level = (w.groupby(["observation_id", "observer_id", "school_id"])["score"].mean()
             .groupby("school_id").mean())
    n_forms = w.groupby(["school_id", "item_id"]).size()
    rows = []
    for sid in sorted(w["school_id"].unique()):
        for item in inst.item_ids:
            key = f"{sid}:{item}"
            eff = float(modes["estimate"].get(key, np.nan))
            se = float(modes["std_error"].get(key, np.nan))
            rows.append({"school_id": sid, "item_id": item,
                         "dimension": inst.dimension_of()[item],
                         "n_obs": int(per_school.loc[sid, "n_obs"]),
                         "n_teachers": int(per_school.loc[sid, "n_teachers"]),
                         "n_forms": int(n_forms.get((sid, item), 0)),
                         "difficulty": diff[item], "effect": eff, "se": se,
                         "conf_low": eff - z * se, "conf_high": eff + z * se,
                         "expected": float(level[sid]) + diff[item],
                         "observed": float(level[sid]) + diff[item] + eff})
    t = pd.DataFrame(rows)
    t["status"] = np.where(t["conf_high"] < 0, "next_step",
                           np.where(t["conf_low"] > 0, "strength", "as_expected"))
    t["suppressed"] = (t["n_teachers"] < MIN_TEACHERS) | (t["n_obs"] < MIN_OBS)
    hide = ["effect", "se", "conf_low", "conf_high", "expected", "observed"]
    t.loc[t["suppressed"], hide] = np.nan
    t.loc[t["suppressed"], "status"] = "suppressed"
    names = dict(zip(ds.schools["school_id"].astype(str), ds.schools["school_name"],
                     strict=False))
    return NextStepsResult(table=t, school_years=tuple(years),
                           item_text={it.id: it.text for it in inst.items},
                           school_names=names, formula=formula)


# --------------------------------------------------------------------------- DIF
@dataclass(frozen=True, eq=False)
class ItemDIFResult(Result):
    """Items that work differently across observer roles and school years."""

    table: pd.DataFrame = field(repr=False)
    item_text: dict[str, str] = field(default_factory=dict)
    family_level: float = 0.95

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def flagged(self) -> pd.DataFrame:
        return self.table[self.table["flagged"]].reset_index(drop=True)

    def _summary_text(self) -> str:
        t = self.table
        fl = t[t["flagged"]]
        lines = [
            "Fungerar påståendena likadant för alla? (DIF: differentiell funktion)",
            f"{t['item_id'].nunique()} påståenden, {len(t)} jämförelser (roller mot rektor, "
            "förändring per läsår).",
            "",
        ]
        if fl.empty:
            lines.append("Inget påstående skiljer sig tydligt mellan roller eller över läsåren.")
        else:
            lines.append("Påståenden att se över (för protokollets ägare):")
            for _, r in fl.iterrows():
                what = (f"bedömt av {_ROLE_SV.get(r['group'], r['group'])} jämfört med rektor"
                        if r["factor"] == "role" else "förändring per läsår")
                lines.append(f"  {r['item_id']} {self.item_text.get(r['item_id'], '')}: "
                             f"{what} {number(r['estimate'], 2, sign=True)} poäng "
                             f"(95 % KI {number(r['conf_low'], 2, sign=True)} till "
                             f"{number(r['conf_high'], 2, sign=True)})")
        lines += [
            "",
            "Jämförelsen gäller påståendets poäng i förhållande till resten av samma protokoll, "
            "så skillnader i observatörernas stränghet eller skolornas nivå räknas bort. Ett "
            "påstående pekas ut när intervallet, justerat för att många jämförelser görs "
            "(Bonferroni), inte omfattar noll.",
        ]
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """Heat map: items × contrasts, the DIF estimate (flagged cells framed)."""
        import matplotlib.pyplot as plt

        t = self.table.copy()
        t["col"] = np.where(t["factor"] == "role",
                            t["group"].map(lambda g: _ROLE_SV.get(g, g)), "per läsår")
        grid = t.pivot_table(index="item_id", columns="col", values="estimate",
                             aggfunc="first", sort=False)
        flag = t.pivot_table(index="item_id", columns="col", values="flagged",
                             aggfunc="first", sort=False).reindex_like(grid)
        if ax is None:
            _, ax = plt.subplots(figsize=(1.8 + 1.1 * grid.shape[1], 1.0 + 0.32 * len(grid)))
        lim = max(0.1, float(np.nanmax(np.abs(grid.to_numpy(dtype=float)))))
        im = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu", vmin=-lim, vmax=lim,
                       aspect="auto")
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                v = grid.iat[i, j]
                bold = bool(flag.iat[i, j]) if pd.notna(flag.iat[i, j]) else False
                ax.text(j, i, number(v, 2, sign=True) if np.isfinite(v) else "..",
                        ha="center", va="center", fontsize=7,
                        fontweight="bold" if bold else "normal")
        ax.set_xticks(range(grid.shape[1]))
        ax.set_xticklabels(grid.columns, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(grid.shape[0]))
        ax.set_yticklabels(grid.index, fontsize=8)
        ax.figure.colorbar(im, ax=ax, fraction=0.04, pad=0.02).set_label("poäng (fetstil: "
                                                                         "utpekad)")
        ax.set_title("Påståenden som fungerar olika (DIF)", fontsize=10)
        return ax


def item_dif(ds: Dataset, *, family_level: float = 0.95, min_forms: int = 30) -> ItemDIFResult:
    """Differential item functioning across observer roles and over school years.

    Parameters
    ----------
    ds : a Dataset with observations.
    family_level : the Bonferroni family-wise level of the rule that names items.
    min_forms : a role needs at least this many forms with the item to be compared.

    Returns
    -------
    ItemDIFResult
        ``.tidy()``: one row per item × contrast: item_id, dimension, factor
        (``role`` or ``year``), group (the role, or ``per_year``), reference
        (``rektor`` or empty), n_forms, estimate (score points), se, conf_low,
        conf_high (95 %), conf_low_adj, conf_high_adj (Bonferroni), flagged.
    """
    from scipy import stats

    from ..engine.mixed import fit_mixed

    d = centred_item_scores(ds)
    roles = [r for r in schema.OBSERVER_ROLES if r in set(d["observer_role"])]
    if "rektor" not in roles:
        raise ModelError("Jämförelsen mellan roller kräver observationer gjorda av rektorer",
                         table="observations", column="observer_role")
    counts = d.groupby(["item_id", "observer_role"]).size()
    rows = []
    n_terms = d["term"].nunique()
    for item in ds.instrument.item_ids:
        di = d[d["item_id"] == item].copy()
        if di.empty:
            continue
        use = [r for r in roles if r != "rektor" and counts.get((item, r), 0) >= min_forms]
        dr = di[di["observer_role"].isin(["rektor", *use])].copy()
        for r in use:
            dr[f"role_{r}"] = (dr["observer_role"] == r).astype(float)
        fits = []
        if use:
            fits.append(("role", " + ".join(f"role_{r}" for r in use), dr,
                         {f"role_{r}": r for r in use}))
        if n_terms >= 3:
            fits.append(("year", "time", di, {"time": "per_year"}))
        for factor, rhs, frame, coefs in fits:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fit = fit_mixed(f"d ~ {rhs} + (1 | observer_id) + (1 | school_id)", frame,
                                reml=True)
            for coef, group in coefs.items():
                rows.append({"item_id": item, "dimension": ds.instrument.dimension_of()[item],
                             "factor": factor, "group": group,
                             "reference": "rektor" if factor == "role" else "",
                             "n_forms": int(len(frame)) if factor == "year"
                             else int(counts.get((item, group), 0)),
                             "estimate": float(fit.fixef[coef]), "se": float(fit.se[coef])})
    t = pd.DataFrame(rows)
    if t.empty:
        raise ModelError("För få observationer för att jämföra påståendena mellan roller "
                         "eller läsår", table="observations")
    z = float(stats.norm.ppf(0.975))
    z_adj = float(stats.norm.ppf(1 - (1 - family_level) / (2 * len(t))))
    t["conf_low"] = t["estimate"] - z * t["se"]
    t["conf_high"] = t["estimate"] + z * t["se"]
    t["conf_low_adj"] = t["estimate"] - z_adj * t["se"]
    t["conf_high_adj"] = t["estimate"] + z_adj * t["se"]
    t["flagged"] = (t["conf_low_adj"] > 0) | (t["conf_high_adj"] < 0)
    return ItemDIFResult(table=t, item_text={it.id: it.text for it in ds.instrument.items},
                         family_level=family_level)
