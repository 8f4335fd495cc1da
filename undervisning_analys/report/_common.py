"""Small pieces shared by the school and municipality views."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from .. import __version__, schema
from .._format import number
from .context import ReportContext


def sv(template: str, *args: Any) -> Markup:
    """Swedish text with numbers: ``{}`` placeholders take str (escaped) or :class:`Num`."""
    return Markup(escape(template).replace("%", "%%").replace("{}", "%s")) % tuple(
        a if hasattr(a, "__html__") else escape(str(a)) for a in args)


def plain(x: float | None, decimals: int = 1, sign: bool = False) -> str:
    """A number for running text that is not read from a table cell (e.g. a count)."""
    return number(None if x is None else float(x), decimals, sign=sign)


@dataclass
class Col:
    label: str
    num: bool = True
    title: str | None = None
    nowrap: bool = False


@dataclass
class Table:
    """A table for the templates: columns, rows of cells (str, Num or Markup), notes."""

    columns: list[Col]
    rows: list[list[Any]] = field(default_factory=list)
    caption: str = ""
    note: Any = ""
    css: str = ""

    def __bool__(self) -> bool:
        return bool(self.rows)


def ci(ctx: ReportContext, table: str, keys: dict[str, Any], decimals: int,
       low: str = "conf_low", high: str = "conf_high", scale: float | None = None,
       status: bool | str = True) -> Markup:
    """'a till b' for an interval, both ends as :class:`Num`; '..' when suppressed."""
    lo = ctx.num(table, keys, low, decimals, scale=scale, status=status)
    hi = ctx.num(table, keys, high, decimals, scale=scale, status=status)
    if lo.text in (".", "..") or hi.text in (".", ".."):
        return Markup(lo.__html__())
    return sv("{} till {}", lo, hi)


def terms_sorted(terms: Sequence[str]) -> list[str]:
    return sorted(set(map(str, terms)), key=schema.term_index)


def _file_periods(ctx: ReportContext) -> dict[str, str]:
    """What each input file covers, where the tables say so (school years, dates)."""
    ds = ctx.ds
    out: dict[str, str] = {}
    r = ds.results
    if len(r) and "source" in r.columns:
        for src, g in r.groupby(r["source"].astype(str), sort=False):
            ys = sorted(set(g["school_year"].astype(str)))
            out[src] = ys[0] if len(ys) == 1 else f"{ys[0]} – {ys[-1]}"
    obs_files = [p.path for p in ds.provenance if p.table == "observations"]
    o = ds.observations
    if len(obs_files) == 1 and len(o):
        d0, d1 = pd.Timestamp(o["date"].min()), pd.Timestamp(o["date"].max())
        out[obs_files[0]] = f"{d0:%Y-%m-%d} – {d1:%Y-%m-%d}"
    bg_files = [p.path for p in ds.provenance if p.table == "background"]
    b = ds.background
    if len(bg_files) == 1 and len(b):
        ys = sorted(set(b["school_year"].astype(str)))
        out[bg_files[0]] = ys[0] if len(ys) == 1 else f"{ys[0]} – {ys[-1]}"
    return out


def school_sources(ctx: ReportContext, school_id: str) -> set[str]:
    """The input files a school's report draws on.

    A results file counts when it holds a row of the school, or rows above
    school level (the municipality or the country the school is shown beside)
    of a measure the school has; a file with only other schools' rows or other
    measures does not (grade-6 files for a 7–9 school, grade-9 municipality
    files for an F–6 school). Every other input (protocol, register,
    observations, background, plans) enters the models that every school's
    figures come from, and counts for all schools.
    """
    files_of, shared = ctx.cached("result_files_by_school", lambda: _result_files(ctx))
    own = files_of.get(str(school_id), {})
    measures = set().union(*own.values()) if own else set()
    # a file above school level counts when it holds a measure the school is shown with
    used = set(own) | {src for src, ms in shared.items() if ms & measures}
    out = set()
    for p in ctx.ds.provenance:
        if p.table != "results" or p.path in used:
            out.add(p.path)
    return out


def _result_files(ctx: ReportContext
                  ) -> tuple[dict[str, dict[str, set[str]]], dict[str, set[str]]]:
    """Each school's results files with their measures, and the files with rows above
    school level with theirs (computed once per context)."""
    res = ctx.ds.results
    if not len(res) or "source" not in res.columns:
        return {}, {}
    r = res[res["source"].notna()]
    # a row's source names its file, sometimes with more (a reader's prefix, a sheet):
    # each distinct source text maps to the provenance path(s) it names
    paths = [p.path for p in ctx.ds.provenance if p.table == "results"]
    file_of = {}
    for text in pd.unique(r["source"].astype(str)):
        named = [p for p in paths if p == text] or [p for p in paths if p in text]
        file_of[text] = max(named, key=len) if named else text
    r = r.assign(source=r["source"].astype(str).map(file_of))
    above = r["level"] != "school"
    shared: dict[str, set[str]] = {}
    for src, m in r.loc[above, ["source", "measure"]].astype(str).drop_duplicates() \
            .itertuples(index=False):
        shared.setdefault(src, set()).add(m)
    files_of: dict[str, dict[str, set[str]]] = {}
    rows = r.loc[~above, ["school_id", "source", "measure"]].astype(str).drop_duplicates()
    for sid, src, m in rows.itertuples(index=False):
        files_of.setdefault(sid, {}).setdefault(src, set()).add(m)
    return files_of, shared


def sources_table(ctx: ReportContext, school_id: str | None = None) -> Table:
    """Provenance of the input files: what each covers, rows read, kept, not kept, sha256.

    For a school's report (``school_id``) the files its figures draw on
    (:func:`school_sources`), with a note on how many other files the
    municipality report lists; otherwise every file.
    """
    t = Table([Col("Fil och kontrollsumma (sha256)", False), Col("Innehåll", False),
               Col("Period", False), Col("Rader lästa"), Col("Behållna"),
               Col("Ej behållna", False)],
              caption="Källfiler" if school_id is None else "Skolans källfiler")
    labels = {"schools": "skolregister", "observations": "lektionsobservationer",
              "results": "resultat", "background": "elevsammansättning",
              "pupil_results": "elevers betyg", "instrument": "observationsprotokoll"}
    periods = ctx.cached("file_periods", lambda: _file_periods(ctx))
    keep = None if school_id is None else school_sources(ctx, school_id)
    if keep is not None:
        others = sum(p.path not in keep for p in ctx.ds.provenance)
        if others:
            t.note = (f"Kommunens övriga {others} källfiler (resultatfiler utan rader för "
                      "skolan) står i kommunrapporten.")
    for p in ctx.ds.provenance:
        if keep is not None and p.path not in keep:
            continue
        dropped = "; ".join(f"{n} ({reason})" for reason, n in p.dropped.items()) or "–"
        t.rows.append([Markup('%s<br><span class="hash">%s</span>') % (p.path, p.sha256),
                       labels.get(p.table, p.table), periods.get(p.path, "–"),
                       plain(p.rows_read, 0), plain(p.rows_kept, 0), dropped])
    return t


def period_label(ctx: ReportContext) -> str:
    """The observation period in a few words for a running head: "HT2020–VT2025"."""
    terms = ctx.cached("terms", lambda: list(ctx.ds.terms))
    if not terms:
        return "inga observationer"
    return terms[0] if len(terms) == 1 else f"{terms[0]}–{terms[-1]}"


def data_period(ctx: ReportContext) -> list[tuple[str, str]]:
    """What the data cover: observation dates, result and background school years."""
    ds = ctx.ds
    out: list[tuple[str, str]] = []
    o = ds.observations
    if len(o):
        d0, d1 = pd.Timestamp(o["date"].min()), pd.Timestamp(o["date"].max())
        out.append(("Lektionsobservationer",
                    f"{d0:%Y-%m-%d} – {d1:%Y-%m-%d} ({', '.join([ds.terms[0], ds.terms[-1]])})"))
    r = ds.results
    if len(r):
        ys = sorted(set(r["school_year"].astype(str)))
        out.append(("Resultat (Skolverket)", f"läsåren {ys[0]} – {ys[-1]}"))
    b = ds.background
    if len(b):
        ys = sorted(set(b["school_year"].astype(str)))
        out.append(("Elevsammansättning", f"läsåren {ys[0]} – {ys[-1]}"))
    inst = ds.instrument
    out.append(("Observationsprotokoll", f"{inst.name}, version {inst.version} "
                                         f"(skala {inst.scale_min}–{inst.scale_max})"))
    out.append(("Programvara", f"undervisning_analys {__version__}"))
    if ds.seed is not None:
        out.append(("Slumpfrö (syntetiska data)", str(ds.seed)))
    else:
        out.append(("Slumpfrö", "inget: data lästa från filer; beräkningarna använder ingen "
                                "slump och ger samma siffror varje gång"))
    out.append(("Rapporten skapad", ctx.created))
    return out


def models_table(ctx: ReportContext) -> Table:
    """The model specifications behind the report's numbers (formulas in lme4 syntax)."""
    t = Table([Col("Modell", False), Col("Specifikation", False), Col("Skattning", False)],
              caption="Modellerna bakom siffrorna",
              note="Formlerna är skrivna som i R (lme4): till vänster om ~ det som förklaras, "
                   "till höger det som tas hänsyn till; (1 | x) är en slumpeffekt per x. "
                   "Samma specifikationer finns i proveniens.json bredvid rapporterna.")
    for spec in ctx.info.get("models", {}).values():
        t.rows.append([spec.get("namn", ""), Markup("<code>%s</code>") % spec.get("formel", ""),
                       spec.get("skattning", "")])
    return t


def reliability_words(r: float | None) -> str:
    """Plain Swedish for a reliability coefficient."""
    if r is None or not np.isfinite(r):
        return "okänd"
    if r >= 0.8:
        return "hög"
    if r >= 0.7:
        return "god"
    if r >= 0.5:
        return "måttlig"
    return "låg"


def kappa_words(k: float | None) -> str:
    """Landis & Koch's words for a kappa."""
    if k is None or not np.isfinite(k):
        return "okänd"
    for lim, word in ((0.2, "obetydlig"), (0.4, "svag"), (0.6, "måttlig"), (0.8, "god")):
        if k < lim:
            return word
    return "mycket god"


# --------------------------------------------------------------------------
# The link's measurement error (issue #17): naive and corrected side by side
# --------------------------------------------------------------------------
def link_key(lk: pd.DataFrame, term: str, correction: str = "none") -> dict[str, str]:
    """The keys of one row of the link table (``term`` × ``correction``)."""
    return ({"term": term, "correction": correction} if "correction" in lk.columns
            else {"term": term})


def link_corrections(lk: pd.DataFrame) -> list[str]:
    """The link table's corrections other than ``none`` (e.g. ``regression_calibration``)."""
    if "correction" not in lk.columns:
        return []
    return [c for c in dict.fromkeys(lk["correction"].astype(str)) if c != "none"]


def link_error_sentence(ctx: ReportContext, unit: str) -> Markup | None:
    """What the index's measurement error does to the within association, in Swedish.

    Three cases, by the link's ``correction="auto"`` rules
    (:func:`undervisning_analys.models.link.link`): a shrunken index is
    already calibrated (no corrected row, attenuation 1), which the sentence
    says; an unshrunken index has corrected rows, and the sentence gives the
    corrected within estimate with its interval beside the naive one and
    names the method; an unshrunken index without correction says the
    association may be underestimated. Estimates per 0.1 index points.
    """
    from ..models.link_result import CORRECTION_LABELS

    lk = ctx.tables.get("link")
    if lk is None or not len(lk):
        return None
    kn = link_key(lk, "within")
    w = lk[(lk["term"] == "within") & ((lk["correction"] == "none")
                                      if "correction" in lk.columns else True)]
    if not len(w):
        return None
    rel = ctx.num("link", kn, "reliability", 2)
    methods = link_corrections(lk)
    att = float(w["attenuation"].iloc[0]) if "attenuation" in w.columns else np.nan
    if not methods:
        if np.isfinite(att) and abs(att - 1) < 1e-9:
            return sv("Indexets mätosäkerhet (reliabilitet inom skolor {}) är redan inräknad: "
                      "indexet är modellens krympta skattning, där osäkra värden dras mot "
                      "skolans trend, och det är i sig en korrigering för mätfel "
                      "(regressionskalibrering). Därför visas ingen korrigerad skattning "
                      "bredvid; osäkerheten gör intervallet bredare men drar inte ned "
                      "sambandet.", rel)
        return sv("Indexets mätosäkerhet (reliabilitet inom skolor {}) gör att sambandet kan "
                  "vara underskattat; någon korrigering för mätfelet har inte beräknats.", rel)
    method = methods[0]
    kc = link_key(lk, "within", method)
    label = CORRECTION_LABELS.get(method, method)
    name = label.split("(")[-1].rstrip(")") if "(" in label else label
    row = lk[(lk["term"] == "within") & (lk["correction"] == method)]
    if not len(row) or not np.isfinite(float(row["estimate"].iloc[0])):
        return sv("Indexets mätosäkerhet (reliabilitet inom skolor {}) är så stor att "
                  "förändringarna inom skolorna nästan bara är mätfel: sambandet inom skolorna "
                  "kan inte korrigeras ({}), och fler observerade lektioner per termin behövs.",
                  rel, name)
    return sv("Indexets mätosäkerhet (reliabilitet inom skolor {}) drar ned sambandet. "
              "Korrigerat för indexets kända mätfel ({}) blir sambandet inom skolorna {} {} per "
              "0,1 indexpoäng (95 % KI {} till {}), mot {} {} (95 % KI {} till {}) okorrigerat. "
              "Det korrigerade intervallet bär också osäkerheten i korrigeringen, och "
              "korrigeringen är bara så bra som indexets angivna medelfel.",
              rel, name,
              ctx.num("link", kc, "estimate", 2, scale=0.1), unit,
              ctx.num("link", kc, "conf_low", 2, scale=0.1),
              ctx.num("link", kc, "conf_high", 2, scale=0.1),
              ctx.num("link", kn, "estimate", 2, scale=0.1), unit,
              ctx.num("link", kn, "conf_low", 2, scale=0.1),
              ctx.num("link", kn, "conf_high", 2, scale=0.1))
