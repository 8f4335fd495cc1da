"""Several outcomes linked to teaching quality at once, with the count of comparisons.

:func:`link_outcomes` runs :func:`~undervisning_analys.models.link.link` for
each outcome measure (Skolenkäten indices, attendance, problematic absence,
offences, the organiser's own measures, or any results measure), each with the
teaching-quality dimension it is compared with (e.g. studiero with
klassrumsledning), and keeps every within-school estimate.

Several comparisons at once
---------------------------
With ten outcomes, one of them will look "significant" at the 5 % level by
chance about 40 % of the time even when none is related to teaching. The
result therefore states how many comparisons were made and adjusts the
p-values with Holm's step-down method (which controls the family-wise error
rate, like Bonferroni, and is never less powerful). A finding is an outcome
whose Holm-adjusted p-value is below 0.05; every comparison is shown, with its
unadjusted 95 % interval and both p-values, and the summary says so.

Direction
---------
Each row carries the measure's direction (``schema.measure_info``): for an
outcome where lower is better (problematic absence, offences) a negative
association is the better one, and the text says "bättre" or "sämre" from the
direction, never from the sign alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from ..dataset import Dataset
from ..errors import ModelError

TIDY_COLUMNS = ["measure", "dimension", "lag", "estimate", "se", "conf_low", "conf_high",
                "p_value", "p_holm", "n_comparisons", "finding", "direction", "better",
                "n_schools", "n_years", "n_obs", "error"]


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted)."""
    pv = np.asarray(p, dtype=float)
    out = np.full(len(pv), np.nan)
    ok = np.flatnonzero(np.isfinite(pv))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(pv[ok], kind="stable")]
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * pv[i]))
        out[i] = running
    return out


def default_outcomes(ds: Dataset) -> list[str]:
    """The outcome measures (beside grades) the Dataset has at school level."""
    r = ds.results
    ms = sorted(set(r.loc[r["level"].astype(str) == "school", "measure"].astype(str)))
    return [m for m in ms if schema.is_outcome_measure(m)
            and not any(k in m for k in ("_antal_", "_svarsfrekvens_"))]


def own_schools(ds: Dataset) -> set[str]:
    """The organiser's own schools (principal type ``kommunal`` in the register; every
    school when none is): the schools a computed municipality value is made of."""
    sch = ds.schools
    own = sch[sch["principal_type"].astype(str) == "kommunal"]["school_id"].astype(str)
    return set(own) if len(own) else set(sch["school_id"].astype(str))


#: the columns of :func:`municipality_values`
MUNICIPALITY_COLUMNS = ["measure", "school_year", "value", "n", "status", "basis", "reason"]


def municipality_values(ds: Dataset, measures: Sequence[str]) -> pd.DataFrame:
    """The municipality's comparison value for each outcome and school year with school values.

    One row per measure and school year that has school rows (group ``all``),
    so that every school value has a comparison row, with ``basis``:

    ``publicerat``
        the source's own row for the municipality: the whole municipality
        (principal type ``all``), else the municipality as organiser
        (``kommunal``, Skolenkäten's huvudman row); its status as published.
    ``beräknat``
        no such row, and the measure is a mean, share or rate over the
        pupils counted in ``n`` (attendance, problematic absence, offences
        per 100 pupils, the organiser's own measures): the pupil-weighted
        mean of the organiser's own schools (principal type ``kommunal`` in
        the register, or every school when none is), ``n`` their sum. It is
        computed only when every one of those schools with a row that year
        has a value and a pupil count; otherwise the row is ``missing``.
    ``saknas``
        nothing to show (a Skolenkäten index without the organiser's row: the
        survey's index is not a pupil-weighted mean of the schools', so it is
        not computed), status ``missing``.

    ``reason`` (Swedish) says why a row has no value; the reports show it
    beside the ``..``.
    """
    r = ds.results
    r = r[r["measure"].isin(list(measures)) & (r["group"].astype(str) == "all")]
    lvl = r["level"].astype(str)
    schools = r[lvl == "school"]
    muni = r[(lvl == "municipality") & r["principal_type"].astype(str).isin(["all", "kommunal"])]
    muni = muni.assign(_pt=muni["principal_type"].astype(str).map({"all": 0, "kommunal": 1}))
    muni = muni.sort_values("_pt", kind="stable").drop_duplicates(["school_year", "measure"])
    published = {(str(m), str(sy)): row for m, sy, row in zip(
        muni["measure"], muni["school_year"], muni.to_dict("records"), strict=True)}
    own = own_schools(ds)
    rows: list[dict[str, Any]] = []
    for (m, sy), g in schools.groupby([schools["measure"].astype(str),
                                       schools["school_year"].astype(str)], sort=True):
        pub = published.get((m, sy))
        if pub is not None:
            st = str(pub["status"])
            rows.append({"measure": m, "school_year": sy, "value": pub["value"],
                         "n": pub["n"], "status": st, "basis": "publicerat",
                         "reason": "" if st == "ok" else
                         "kommunens värde är prickat eller saknas i källan"})
            continue
        base = {"measure": m, "school_year": sy, "value": np.nan, "n": pd.NA,
                "status": "missing", "basis": "saknas"}
        if m.startswith("skolenkat_"):
            rows.append({**base, "reason": "Skolenkätens rapport har ingen rad för kommunen "
                                           "som huvudman"})
            continue
        mine = g[g["school_id"].astype(str).isin(own)]
        if not len(mine):
            rows.append({**base, "reason": "inga av kommunens egna skolor har värden för "
                                           "läsåret"})
            continue
        ok = (mine["status"].astype(str) == "ok") & mine["value"].notna() & mine["n"].notna()
        if not ok.all():
            rows.append({**base, "reason": f"kan inte beräknas: {int((~ok).sum())} av "
                                           f"{len(mine)} av kommunens skolor saknar värde "
                                           "eller antal elever läsåret"})
            continue
        w = mine["n"].astype(float).to_numpy()
        v = mine["value"].astype(float).to_numpy()
        if w.sum() <= 0:
            rows.append({**base, "reason": "kan inte beräknas: antalet elever är 0"})
            continue
        rows.append({"measure": m, "school_year": sy, "value": float(w @ v / w.sum()),
                     "n": int(w.sum()), "status": "ok", "basis": "beräknat", "reason": ""})
    out = pd.DataFrame(rows, columns=MUNICIPALITY_COLUMNS)
    out["n"] = pd.array(out["n"], dtype="Int64")
    return out


#: Skolenkäten's indices -> the dimension of the default protocol they are compared with
#: (studiero and trygghet with classroom management, stimulans and kritiskt tänkande with
#: cognitive activation, stöd, bemötande and elevhälsa with pupil support); anything else,
#: and any protocol without these dimensions, with the overall index.
DEFAULT_DIMENSIONS: dict[str, str] = {
    "studiero": "klassrumsledning", "trygghet": "klassrumsledning",
    "forhindra_krankningar": "klassrumsledning",
    "stimulans": "kognitiv_aktivering", "kritiskt_tankande": "kognitiv_aktivering",
    "information": "kognitiv_aktivering",
    "stod": "elevstod", "elevhalsa": "elevstod", "bemotande": "elevstod",
    "bemotande_larare": "elevstod", "bemotande_elever": "elevstod",
}


def dimension_for(measure: str, dimensions: set[str] | frozenset[str]) -> str:
    """The dimension a measure is compared with by default (see :data:`DEFAULT_DIMENSIONS`)."""
    if measure.startswith("skolenkat_"):
        for slug, dim in DEFAULT_DIMENSIONS.items():
            if measure.startswith(f"skolenkat_{slug}_") and dim in dimensions:
                return dim
    return "overall"


def link_outcomes(ds: Dataset, measures: Sequence[str] | Mapping[str, str] | None = None, *,
                  dimension: str = "overall", lag: int = 0, alpha: float = 0.05,
                  **link_kw: Any) -> OutcomesLinkResult:
    """Link several outcome measures to teaching quality; Holm-adjusted p-values.

    Parameters
    ----------
    ds : a Dataset with observations and the outcomes in ``results``.
    measures : a list of measures (each linked with ``dimension``), or a mapping
        measure -> dimension (e.g. ``{"skolenkat_studiero_ak8": "klassrumsledning"}``);
        default: every outcome beside grades the Dataset has (:func:`default_outcomes`).
    lag : school years between teaching quality and outcome (0: the same school
        year; a spring survey describes the year it is answered in).
    alpha : the family-wise error rate of the findings.
    link_kw : passed to ``link`` (``inference``, ``adjusted``, ``group``, …).

    Returns
    -------
    OutcomesLinkResult; ``.tidy()`` one row per comparison: the within-school
    estimate per index point, its 95 % interval, ``p_value``, ``p_holm``,
    ``n_comparisons``, ``finding`` (``p_holm < alpha``), ``direction`` and
    ``better`` (True/False for a finding, from the direction; None otherwise).
    A measure whose link cannot be estimated keeps its row with ``error``.

    Notes
    -----
    Every comparison attempted counts in ``n_comparisons`` only if it produced
    an estimate; the ones that could not be estimated are listed with why.
    """
    from .link import link

    if measures is None:
        pairs = {m: dimension for m in default_outcomes(ds)}
    elif isinstance(measures, Mapping):
        pairs = dict(measures)
    else:
        pairs = {m: dimension for m in measures}
    if not pairs:
        raise ModelError("Datamängden har inga utfallsmått att jämföra med "
                         "undervisningskvaliteten (Skolenkäten, närvaro, egna mått)",
                         table="results", column="measure",
                         hint="Läs in Skolenkätens excelrapport eller en fil med egna mått "
                              "(undervisning-analys mall) i samma mapp.")
    rows = []
    fits = {}
    for m, dim in pairs.items():
        info = schema.measure_info(m)
        base = {"measure": m, "dimension": dim, "lag": lag, "direction": info.direction}
        try:
            res = link(ds, measure=m, dimension=dim, lag=lag, **link_kw)
        except ModelError as e:
            rows.append({**base, "error": str(e)})
            continue
        fits[m] = res
        w = res.tidy().set_index("term").loc["within"]
        rows.append({**base, **{k: w[k] for k in ("estimate", "se", "conf_low", "conf_high",
                                                  "p_value", "n_schools", "n_years", "n_obs")},
                     "error": None})
    tab = pd.DataFrame(rows)
    for col in TIDY_COLUMNS:
        if col not in tab.columns:
            tab[col] = np.nan
    tab["p_holm"] = holm(tab["p_value"].to_numpy(dtype=float))
    n_comp = int(np.isfinite(tab["p_value"].to_numpy(dtype=float)).sum())
    tab["n_comparisons"] = n_comp
    tab["finding"] = tab["p_holm"] < alpha
    tab["better"] = [
        (None if not f or d == "neutral" else bool((e > 0) == (d == "higher_better")))
        for f, d, e in zip(tab["finding"], tab["direction"], tab["estimate"], strict=True)]
    tab = tab[TIDY_COLUMNS]
    return OutcomesLinkResult(table=tab, fits=fits, alpha=alpha, lag=lag)


@dataclass(frozen=True)
class OutcomesLinkResult:
    """Several outcomes' links to teaching quality (see :func:`link_outcomes`)."""

    table: pd.DataFrame
    fits: dict[str, Any]
    alpha: float
    lag: int

    def tidy(self) -> pd.DataFrame:
        return self.table.copy()

    @property
    def n_comparisons(self) -> int:
        return int(self.table["n_comparisons"].iloc[0]) if len(self.table) else 0

    def comparisons_sentence(self) -> str:
        """The sentence every presentation of these results carries."""
        n = self.n_comparisons
        return (f"{n} samband prövades samtidigt ({n} jämförelser). Med många jämförelser "
                "blir någon enstaka ”säker” av en slump, därför är p-värdena justerade med "
                "Holms metod: ett samband räknas som ett fynd först när det justerade "
                f"p-värdet är under {str(self.alpha).replace('.', ',')}. Alla jämförelser "
                "visas, också de utan fynd.")

    def _summary_text(self) -> str:
        from .._format import number

        def sv_num(x: float, d: int, sign: bool = False) -> str:
            return number(x, d, sign=sign)

        def sv_p(p: float) -> str:
            return "< 0,001" if p < 0.001 else number(p, 3)

        lines = ["Undervisningskvalitet och elevernas upplevelse och närvaro", "",
                 self.comparisons_sentence(), ""]
        dims: dict[str, str] = {}
        for r in self.table.itertuples(index=False):
            label = schema.measure_label(r.measure)
            dim = dims.setdefault(r.dimension, r.dimension)
            if r.error:
                lines.append(f"- {label} (mot {dim}): kunde inte skattas – {r.error}")
                continue
            step = 0.1
            unit = schema.measure_info(r.measure).unit
            verdict = ("fynd, " + ("bättre" if r.better else "sämre")
                       + " utfall med högre undervisningskvalitet") if r.finding and \
                r.better is not None else ("fynd" if r.finding else "inget säkert samband")
            lines.append(
                f"- {label} (mot {dim}): {sv_num(step * r.estimate, 2, True)} {unit} per "
                f"{sv_num(step, 1)} indexpoäng (95 % KI {sv_num(step * r.conf_low, 2, True)} "
                f"till {sv_num(step * r.conf_high, 2, True)}; p {sv_p(r.p_value)}, "
                f"justerat {sv_p(r.p_holm)}): {verdict}.")
        return "\n".join(lines)

    def summary(self) -> str:
        text = self._summary_text()
        print(text)
        return text

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(self._summary_text()) + "</pre>"


__all__ = ["link_outcomes", "holm", "default_outcomes", "dimension_for", "DEFAULT_DIMENSIONS",
           "OutcomesLinkResult", "municipality_values", "own_schools", "MUNICIPALITY_COLUMNS"]
