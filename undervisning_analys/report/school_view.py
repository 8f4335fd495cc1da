"""The per-school report: a view of the context's tables for one school."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from .. import schema
from ..models.dialogue import result_unit
from . import charts, outcomes_view
from . import plan_view as _plan_view
from ._common import (
    Col,
    Table,
    ci,
    data_period,
    kappa_words,
    link_error_sentence,
    link_key,
    models_table,
    period_label,
    plain,
    reliability_words,
    sources_table,
    sv,
    terms_sorted,
)
from .context import INDEX_DECIMALS, MUNICIPALITY_FILE, OVERALL, Num, ReportContext
from .templating import render


def _measure_rows(mres: pd.DataFrame, measure: str) -> pd.DataFrame:
    """The municipality's results of one measure (school year, value)."""
    return mres[mres["measure"] == measure][["school_year", "value"]]


def _measure_records(mres: pd.DataFrame, measure: str) -> list[dict[str, Any]]:
    """:func:`_measure_rows` as dicts (the results chart's municipality line)."""
    return _measure_rows(mres, measure).to_dict("records")


def _link_within(lk: pd.DataFrame | None) -> pd.DataFrame:
    """The link's within-school row without correction (empty without a link)."""
    w = lk[lk["term"] == "within"] if lk is not None else pd.DataFrame()
    if len(w) and "correction" in w.columns:
        w = w[w["correction"].astype(str) == "none"]
    return w


class SchoolView:
    """Builds the template variables of one school's report."""

    def __init__(self, ctx: ReportContext, school_id: str) -> None:
        self.ctx = ctx
        self.sid = school_id
        self.name = ctx.names[school_id]
        row = ctx.cached("school_rows", lambda: {
            str(r["school_id"]): r for r in ctx.ds.schools.to_dict("records")})[school_id]
        self.muni_id = str(row["municipality_id"])
        self.muni_name = str(row["municipality_name"]) if pd.notna(row["municipality_name"]) \
            else "kommunen"
        self.area = ctx.areas.get(school_id, "")
        self.grades = str(row["grades"]) if "grades" in row and pd.notna(row["grades"]) else ""
        if "quality" in ctx.tables:
            q = ctx.part("quality", "unit", school_id)
            self.q = q[q["level"] == "school"]
            self.q_muni = ctx.part("quality", "unit", self.muni_id)
        else:
            self.q = self.q_muni = None
        # the same rows as plain dicts, for the lookups of the sections
        self.q_rows = ctx.records("quality", unit=school_id, level="school")
        self.cov = ctx.part("coverage", "school_id", school_id) if "coverage" in ctx.tables \
            else None

    # ------------------------------------------------------------------ helpers
    def scale_text(self) -> str:
        """The protocol's scale in words: '1 (Övervägande svagt) – 4 (Övervägande starkt)'."""
        inst = self.ctx.ds.instrument
        lo, hi = inst.scale_min, inst.scale_max
        lab = inst.labels
        if lo in lab and hi in lab:
            return f"{lo} ({lab[lo]}) – {hi} ({lab[hi]})"
        return f"{lo}–{hi}"

    def scale_label(self, value: Any) -> str:
        """The scale label nearest a value on the protocol's scale ('' when missing)."""
        lab = self.ctx.ds.instrument.labels
        if value is None or not lab or not np.isfinite(float(value)):
            return ""
        return lab[min(lab, key=lambda k: abs(k - float(value)))]

    def qnum(self, term: str, dim: str, col: str = "estimate", level: str = "school",
             decimals: int = INDEX_DECIMALS) -> Num:
        unit = self.sid if level == "school" else self.muni_id
        return self.ctx.num("quality", {"level": level, "unit": unit, "term": term,
                                        "dimension": dim}, col, decimals)

    def qci(self, term: str, dim: str, level: str = "school") -> Markup:
        unit = self.sid if level == "school" else self.muni_id
        return ci(self.ctx, "quality", {"level": level, "unit": unit, "term": term,
                                        "dimension": dim}, INDEX_DECIMALS)

    def qrow(self, term: str, dim: str = OVERALL) -> dict[str, Any] | None:
        if self.q is None:
            return None
        return next((dict(r) for r in self.q_rows
                     if r["term"] == term and r["dimension"] == dim), None)

    def terms(self) -> list[str]:
        if self.q is None or not len(self.q):
            return []
        return terms_sorted(self.q["term"])

    def shown_terms(self, dim: str = OVERALL) -> list[str]:
        if self.q is None:
            return []
        return terms_sorted([r["term"] for r in self.q_rows
                             if r["dimension"] == dim and not bool(r["suppressed"])])

    # ------------------------------------------------------------------ sections
    def coverage(self) -> dict[str, Any]:
        ctx, sid = self.ctx, self.sid
        out: dict[str, Any] = {"table": None, "figure": None, "roles": None, "text": ""}
        if self.cov is None or not len(self.cov):
            out["text"] = ctx.notes.get("coverage", "Skolan har inga lektionsobservationer.")
            return out
        type_cols = [t for t in schema.OBSERVATION_TYPES if f"n_{t}" in self.cov.columns]
        short = {"spontan": "Spontana", "planerad": "Planerade", "kollegial": "Kollegiala"}
        cols = [Col("Termin", False), Col("Lektioner", title="Observerade lektioner")]
        cols += [Col(short.get(t, t), title=schema.LABELS_SV[t]) for t in type_cols]
        cols += [Col("Lärare", title="Observerade lärare"),
                 Col("Andel lärare (%)", title="Andel av de lärare som förekommer i skolans "
                                               "observationer under läsåret"),
                 Col("Observatörer")]
        t = Table(cols, caption="Observerade lektioner per termin och typ av besök",
                  note="Andelen lärare räknas bland de lärare som förekommer i skolans "
                       "observationer under läsåret.")
        roles = Table([Col("Termin", False), Col("Ifyllda protokoll efter observatörens roll",
                                                 False)],
                      caption="Vem observerade?",
                      note="Observatörer redovisas bara efter roll, aldrig med namn eller kod.")
        role_of: dict[str, str] = {}
        if "roles" in self.cov.columns:
            for tm, rl in zip(self.cov["term"], self.cov["roles"], strict=True):
                role_of.setdefault(tm, str(rl))
        for term in terms_sorted(self.cov["term"]):
            k = {"school_id": sid, "term": term}
            row: list[Any] = [term, ctx.num("coverage", k, "n_obs", 0)]
            row += [ctx.num("coverage", k, f"n_{ty}", 0) for ty in type_cols]
            row += [ctx.num("coverage", k, "n_teachers", 0),
                    ctx.num("coverage", k, "share_teachers_observed", 0, scale=100),
                    ctx.num("coverage", k, "n_observers", 0)]
            t.rows.append(row)
            if "roles" in self.cov.columns:
                roles.rows.append([term, role_of.get(term, "")])
        out["table"] = t
        out["roles"] = roles if roles.rows else None
        out["figure"] = Markup(charts.coverage_bars(ctx.records("coverage", school_id=sid), sid))
        return out

    def quality(self) -> dict[str, Any]:
        ctx = self.ctx
        out: dict[str, Any] = {"table": None, "figure": None,
                               "text": ctx.notes.get("quality:overall", "")}
        if self.q is None or not len(self.q):
            out["text"] = out["text"] or "Skolan har inget index för undervisningskvalitet."
            return out
        dims = ctx.dimensions
        cols = [Col("Termin", False)]
        for d, name in dims.items():
            cols.append(Col(name if d != OVERALL else "Samlat index"))
        cols += [Col(f"{self.muni_name}, samlat index"), Col("Reliabilitet")]
        t = Table(cols, caption="Index per termin, med 95 % konfidensintervall under värdet",
                  css="compact")
        for term in self.terms():
            row: list[Any] = [term]
            for d in dims:
                est = self.qnum(term, d)
                if est.text in ("..", "."):
                    row.append(est)
                else:
                    row.append(Markup('%s<br><small class="ci">%s</small>')
                               % (est, self.qci(term, d)))
            row.append(self.qnum(term, OVERALL, level="municipality"))
            k = {"level": "school", "unit": self.sid, "term": term, "dimension": OVERALL}
            row.append(ctx.num("quality", k, "reliability", 2))
            t.rows.append(row)
        if any(bool(r["suppressed"]) for r in self.q_rows):
            t.note = ("Två prickar (..) betyder att indexet inte visas den terminen: för få "
                      "observerade lektioner eller lärare (minst 5 lektioner och 3 lärare "
                      "behövs). Antalen står i tabellen i avsnitt 1.")
        out["table"] = t
        out["figure"] = Markup(charts.quality_panels(
            self.q_rows + ctx.records("quality", unit=self.muni_id), self.sid, dims,
            municipality_unit=self.muni_id))
        return out

    def results(self) -> dict[str, Any]:
        ctx, sid = self.ctx, self.sid
        blocks: list[dict[str, Any]] = []
        panels: dict[str, charts.Rows] = {}
        munis: dict[str, charts.Rows] = {}
        mres = ctx.tables["municipality_results"]
        for m in ctx.measures:
            name = f"results:{m}"
            if name not in ctx.tables:
                blocks.append({"title": schema.measure_label(m), "table": None,
                               "text": ctx.notes.get(name, "")})
                continue
            mine = ctx.part(name, "school_id", sid)
            if not len(mine):
                continue
            dec = 1
            t = Table([Col("Läsår", False), Col("Elever"), Col("Skolans resultat"),
                       Col("Förväntat"), Col("Skillnad"), Col("95 % KI för skillnaden", False, nowrap=True),
                       Col(self.muni_name)],
                      caption=schema.measure_label(m))
            for sy in sorted(set(mine["school_year"].astype(str))):
                k = {"school_id": sid, "school_year": sy}
                t.rows.append([
                    sy, ctx.num(name, k, "n", 0, status=False),
                    ctx.num(name, k, "observed", dec), ctx.num(name, k, "expected", dec,
                                                               status="suppressed"),
                    ctx.num(name, k, "residual", dec, status="suppressed"), ci(ctx, name, k, dec, status="suppressed"),
                    ctx.num("municipality_results", {"school_year": sy, "measure": m},
                            "value", dec)])
            notes = sorted({str(n) for n in mine["note"] if isinstance(n, str) and n})
            if notes:
                t.note = "Anmärkningar: " + "; ".join(notes) + "."
            blocks.append({"title": schema.measure_label(m), "table": t, "text": ""})
            panels[m] = ctx.records(name, school_id=sid)
            munis[m] = ctx.cached(f"municipality_results:{m}",
                                  partial(_measure_records, mres, m))
        fig = None
        if panels:
            fig = Markup(charts.results_panels(panels, sid, munis))
        info = ctx.info.get(f"results:{ctx.measures[0]}", {}) if ctx.measures else {}
        return {"blocks": blocks, "figure": fig, "info": info}

    def progression(self) -> dict[str, Any]:
        """The two progressions as trends over all years, with what the comparison can say."""
        ctx, sid = self.ctx, self.sid
        out: dict[str, Any] = {"available": False, "text": ctx.notes.get("link", ""),
                               "figure": None, "table": None, "within": None}
        measure = ctx.info.get("link", {}).get("measure") or (
            ctx.measures[0] if ctx.measures else "")
        # the school's own measure when the link's is not one it has (an F–6 school)
        mine_rt = {m: [r for r in ctx.records(f"results_trend:{m}", school_id=sid,
                                              component="school_trend")
                       if pd.notna(r["estimate"])]
                   for m in ctx.measures if f"results_trend:{m}" in ctx.tables}
        if measure not in mine_rt or not mine_rt[measure]:
            measure = next((m for m, t in mine_rt.items() if t), measure)
        gq = ctx.records("growth", school_id=sid, component="school_trend")
        rt = mine_rt.get(measure, [])
        if not gq or not rt or pd.isna(gq[0]["estimate"]):
            out["text"] = ("Skolan har inte både en trend i undervisningskvaliteten och en "
                           "trend i resultaten (minst 3 läsår med resultat och tillräckligt "
                           "många observerade lektioner), så dess två utvecklingar kan inte "
                           "jämföras.")
            return out
        out["available"] = True
        out["measure_label"] = schema.measure_label(measure)
        gt = ctx.tables["growth"]
        # the same for every school: computed once per context
        terms = ctx.cached("growth_terms",
                           lambda: terms_sorted(gt["term"].dropna().astype(str)))
        r = rt[0]
        gk = {"component": "school_trend", "school_id": sid}
        rk = {"component": "school_trend", "school_id": sid}
        rname = f"results_trend:{measure}"
        t = Table([Col("", False), Col("Period", False), Col("Trend per läsår"),
                   Col("95 % KI", False, nowrap=True)],
                  caption="Skolans två utvecklingar, skattade ur alla läsår")
        t.rows.append(["Undervisningskvalitet (samlat index, indexpoäng)",
                       f"{terms[0]}–{terms[-1]}" if terms else "",
                       ctx.num("growth", gk, "estimate", 2), ci(ctx, "growth", gk, 2)])
        t.rows.append([f"{schema.measure_label(measure)}, jämfört med förväntat",
                       f"{r['first_year']}–{r['last_year']}",
                       ctx.num(rname, rk, "estimate", 1), ci(ctx, rname, rk, 1)])
        t.note = ("Trenderna är lutningen över alla läsår i en modell för alla skolor, inte "
                  "skillnaden mellan två år. En skola med få observerade lektioner eller få "
                  "elever dras mot kommunens trend (krympning) och får ett brett intervall. "
                  "Resultatens trend gäller avståndet till det förväntade utifrån "
                  "elevsammansättningen.")
        out["table"] = t
        # every school's two trends, this school with its interval
        both = ctx.cached(f"two_trends:{rname}", lambda: charts.points(
            gt[gt["component"] == "school_trend"][["school_id", "estimate", "se"]]
            .rename(columns={"estimate": "x", "se": "x_se"})
            .merge(ctx.tables[rname].query("component == 'school_trend'")
                   [["school_id", "estimate"]].rename(columns={"estimate": "y"}),
                   on="school_id"), x="x", y="y", x_se="x_se"))
        out["figure"] = Markup(charts.progressions(
            both, sid, x="x", y="y", x_se="x_se",
            xlabel="Trend i undervisningskvalitet (indexpoäng per läsår)",
            ylabel="Trend i resultat mot förväntat (per läsår)"))
        lk = ctx.tables.get("link")
        w = ctx.cached("link_within", lambda: _link_within(lk))
        if lk is not None and len(w):
            wk = link_key(lk, "within")
            lo, hi = float(w["conf_low"].iloc[0]), float(w["conf_high"].iloc[0])
            mde = ctx.info.get("link", {}).get("min_detectable")
            lm = ctx.info.get("link", {}).get("measure", measure)
            out["within"] = {
                "measure": schema.measure_label(lm).lower(),
                "estimate": ctx.num("link", wk, "estimate", 2, scale=0.1),
                "unit": result_unit(lm)[0],
                "ci": sv("{} till {}", ctx.num("link", wk, "conf_low", 2, scale=0.1),
                         ctx.num("link", wk, "conf_high", 2, scale=0.1)),
                "covers_zero": bool(lo <= 0 <= hi),
                "min_detectable": (plain(0.1 * float(mde), 2)
                                   if mde is not None and np.isfinite(mde) else None),
                "n_schools": ctx.num("link", wk, "n_schools", 0),
                "error": link_error_sentence(ctx, result_unit(lm)[0]),
                "lag": ctx.info.get("link", {}).get("lag", 1),
                "lag_words": {0: "samma läsår", 1: "ett läsår senare",
                              2: "två läsår senare"}.get(
                    int(ctx.info.get("link", {}).get("lag", 1)),
                    f"{ctx.info.get('link', {}).get('lag', 1)} läsår senare")}
        return out

    def reliability(self) -> dict[str, Any]:
        ctx = self.ctx
        out: dict[str, Any] = {"sentences": []}
        shown = self.shown_terms()
        if shown:
            last = shown[-1]
            r = self.qrow(last)
            rel = r.get("reliability") if r else None
            out["sentences"].append(sv(
                "Reliabiliteten för skolans index {} var {} ({}). Det betyder ungefär att {} "
                "av skillnaderna mellan skolors index en termin speglar verkliga skillnader i "
                "undervisningen; resten beror på vilka lektioner som råkade observeras och "
                "vem som observerade.",
                last, self.qnum(last, OVERALL, "reliability", decimals=2), reliability_words(rel),
                f"{plain(100 * rel, 0)} %" if rel is not None and np.isfinite(rel) else ".."))
            out["sentences"].append(Markup(
                "Reliabiliteten här är en och samma sak i hela rapporten: hur stor del av "
                "skillnaderna mellan skolors index en termin som är verklig och inte slump. "
                "En termin med få observerade lektioner lånar styrka från skolans egen trend "
                "och från kommunens genomsnitt (krympning): skattningen dras då mot dem, och "
                "ju lägre reliabiliteten är, desto mer speglar indexet kommunen snarare än "
                "skolan." + (" Så är det för skolans senaste termin."
                             if rel is not None and np.isfinite(rel) and rel < 0.6 else "")))
            out["sentences"].append(Markup(
                "Intervallen i tabellerna är 95 % konfidensintervall: de visar hur mycket "
                "indexet skulle kunna variera om andra lektioner hade observerats. Två "
                "terminer vars intervall överlappar mycket kan inte sägas skilja sig åt."))
        if "plan" in ctx.tables:
            mine = ctx.records("plan", unit=self.sid)
            level = [r for r in mine if r.get("goal", "level") == "level"]
            if level:
                k = {"unit": self.sid, "goal": "level", "target": level[0]["target"]}
                needed = level[0]["n_obs_needed"]
                if pd.notna(needed):
                    out["sentences"].append(sv(
                        "För att en termins lektioner ensamma, utan stöd från skolans trend och "
                        "kommunen, ska ge reliabiliteten {} behövs omkring {} observerade "
                        "lektioner per termin; senaste läsåret observerades i genomsnitt {} per "
                        "termin.",
                        ctx.num("plan", k, "target", 1),
                        ctx.num("plan", k, "n_obs_needed", 0),
                        ctx.num("plan", k, "n_obs_now", 1)))
                else:
                    out["sentences"].append(sv(
                        "Med skolans nuvarande observatörer kan reliabiliteten {} inte nås "
                        "bara genom fler besök (taket är {}); fler observatörer, t.ex. "
                        "kollegor från andra skolor, behövs.",
                        ctx.num("plan", k, "target", 1),
                        ctx.num("plan", k, "max_reliability", 2)))
            change = self._change_sentence(mine)
            if change is not None:
                out["sentences"].append(change)
        if "agreement" in ctx.tables:
            tot = ctx.records("agreement", group="Totalt")
            if tot:
                kk = {"group": "Totalt"}
                out["sentences"].append(sv(
                    "I kommunens parobservationer (två observatörer på samma lektion) gav "
                    "observatörerna exakt samma poäng i {} % av fallen och högst ett steg "
                    "isär i {} %; den viktade kappan {} betyder {} samstämmighet.",
                    ctx.num("agreement", kk, "exact", 0, scale=100),
                    ctx.num("agreement", kk, "adjacent", 0, scale=100),
                    ctx.num("agreement", kk, "kappa_quadratic", 2),
                    kappa_words(float(tot[0]["kappa_quadratic"]))))
        return out

    def _change_sentence(self, mine: list[dict[str, Any]]) -> Markup | None:
        """How many lessons the school's change needs (the plan's change rows), one sentence.

        The reliability of the change is the same notion as the level's: the
        share of the differences between schools' estimated trends that is
        real (:mod:`undervisning_analys.measure.change`)."""
        ctx = self.ctx
        rel = next((r for r in mine if r.get("goal", "level") == "change_reliability"), None)
        pw = next((r for r in mine if r.get("goal", "level") == "change_power"), None)
        if rel is None and pw is None:
            return None
        parts: list[Markup] = []
        years_row = rel if rel is not None else pw
        assert years_row is not None
        ky = {"unit": self.sid, "goal": str(years_row["goal"]), "target": years_row["target"]}
        if rel is not None:
            k = {"unit": self.sid, "goal": "change_reliability", "target": rel["target"]}
            if pd.notna(rel["n_obs_needed"]):
                parts.append(sv("reliabiliteten {} för förändringen kräver omkring {} "
                                "observerade lektioner per termin",
                                ctx.num("plan", k, "target", 1),
                                ctx.num("plan", k, "n_obs_needed", 0)))
            else:
                parts.append(sv("reliabiliteten {} för förändringen nås inte med fler besök "
                                "(taket är {}, eftersom skolans svängningar från termin till "
                                "termin bara jämnas ut av fler terminer)",
                                ctx.num("plan", k, "target", 1),
                                ctx.num("plan", k, "max_reliability", 2)))
            parts.append(sv("med senaste läsårets {} lektioner per termin är den {}",
                            ctx.num("plan", k, "n_obs_now", 1),
                            ctx.num("plan", k, "reliability_now", 2)))
        if pw is not None:
            k = {"unit": self.sid, "goal": "change_power", "target": pw["target"]}
            if pd.notna(pw["n_obs_needed"]):
                parts.append(sv("en förändring på {} poäng per läsår upptäcks med {} % "
                                "sannolikhet med omkring {} lektioner per termin",
                                ctx.num("plan", k, "change", 2),
                                ctx.num("plan", k, "target", 0, scale=100),
                                ctx.num("plan", k, "n_obs_needed", 0)))
            else:
                parts.append(sv("en förändring på {} poäng per läsår upptäcks med högst {} % "
                                "sannolikhet hur många besök det än blir",
                                ctx.num("plan", k, "change", 2),
                                ctx.num("plan", k, "max_power", 0, scale=100)))
        body = Markup(", ").join(parts[:-1]) + (Markup(" och ") if len(parts) > 1 else "") \
            + parts[-1]
        return sv("Skolans förändring, trenden över {} läsår, behöver fler besök än nivån: {}.",
                  ctx.num("plan", ky, "years", 0), body)

    # ------------------------------------------------------------------ questions
    def question_rows(self) -> pd.DataFrame:
        """This school's rows of the dialogue table, at most five, highest priority first."""
        from ..models.dialogue import select_questions

        table = self.ctx.tables.get("dialogue")
        if table is None or not len(table):
            return pd.DataFrame()
        return select_questions(self.ctx.part("dialogue", "school_id", self.sid), self.sid, k=5)

    def questions(self) -> list[dict[str, Any]]:
        """Three to five questions for the dialogue: the rows the estimates support
        (``models.dialogue``), then general questions up to three."""
        chosen: list[dict[str, Any]] = []
        # the rows of question_rows(), read as dicts: at most five, one per rule
        seen: set[tuple[Any, ...]] = set()
        for r in self.ctx.records("dialogue", school_id=self.sid):
            key = tuple(None if pd.isna(r[c]) else r[c] for c in ("underlag", "rule"))
            if key in seen:
                continue
            seen.add(key)
            chosen.append({"q": r["text"], "why": r["why"], "underlag": r["underlag"],
                           "rule": r["rule"], "estimate": r["estimate"],
                           "conf_low": r["conf_low"], "conf_high": r["conf_high"],
                           "unit": r["unit"], "period": r["period"]})
            if len(chosen) == 5:
                break
        generic = [
            {"q": "Vilka av skolans egna iakttagelser bekräftar eller utmanar bilden i den här "
                  "rapporten?",
             "why": "Rapporten bygger på ett urval lektioner och på betygen; skolans egen "
                    "kunskap behövs för att tolka den."},
            {"q": "Vilka delar av undervisningen vill skolan följa särskilt nästa läsår, och "
                  "hur ska lektionsbesöken planeras för det?",
             "why": "Observationerna ger mest när de planeras utifrån det skolan vill veta."},
            {"q": "Hur används observationerna i det kollegiala lärandet på skolan?",
             "why": "Indexet beskriver skolan, inte enskilda lärare; värdet ligger i "
                    "samtalen om undervisningen."},
        ]
        from .plan_view import plan_questions

        # issue #15: the plan's follow-up (underlag "plan") after the first three
        plans = [{"rule": "plan", "estimate": np.nan, "conf_low": np.nan, "conf_high": np.nan,
                  "unit": "", "period": "", **q} for q in plan_questions(self.ctx, self.sid)]
        chosen = chosen[:3] + plans + chosen[3:]
        for g in generic:
            if len(chosen) >= 3:
                break
            chosen.append({**g, "underlag": "", "rule": "allman", "estimate": np.nan,
                           "conf_low": np.nan, "conf_high": np.nan, "unit": "", "period": ""})
        return chosen[:6]

    # ------------------------------------------------------------------ summary
    def summary(self) -> list[Markup]:
        ctx = self.ctx
        items: list[Markup] = []
        shown = self.shown_terms()
        if shown:
            t1 = shown[-1]
            r = self.qrow(t1)
            label = self.scale_label(r.get("estimate") if r else None)
            items.append(sv("Undervisningskvalitet {}: samlat index {} (95 % KI {}) på "
                            "protokollets skala {}{}; {} {}.", t1, self.qnum(t1, OVERALL),
                            self.qci(t1, OVERALL), self.scale_text(),
                            f", närmast ”{label}”" if label else "",
                            self.muni_name, self.qnum(t1, OVERALL, level="municipality")))
        elif self.q is not None and len(self.q):
            items.append(Markup("Underlaget räcker inte för att visa skolans index någon "
                                "termin (för få observerade lektioner eller lärare)."))
        if "growth" in ctx.tables:
            k = {"component": "school_trend", "school_id": self.sid}
            if ctx.records("growth", school_id=self.sid, component="school_trend"):
                items.append(sv("Skolans trend i samlat index: {} per läsår (95 % KI {}).",
                                ctx.num("growth", k, "estimate", 2),
                                ci(ctx, "growth", k, 2)))
        for m in ctx.measures:
            name = f"results:{m}"
            mine = ctx.records(name, school_id=self.sid)
            if not mine:
                continue  # a measure the school does not have (grade 9 at an F–6 school)
            both = [r for r in mine if pd.notna(r["observed"]) and pd.notna(r["expected"])]
            if both:
                # the latest year with both the result and its expectation
                sy = max(str(r["school_year"]) for r in both)
                k = {"school_id": self.sid, "school_year": sy}
                items.append(sv("{} {}: {} mot förväntat {} (skillnad {}, 95 % KI {}).",
                                schema.measure_label(m), sy, ctx.num(name, k, "observed"),
                                ctx.num(name, k, "expected", status="suppressed"),
                                ctx.num(name, k, "residual", status="suppressed"),
                                ci(ctx, name, k, 1, status="suppressed")))
                newest = max(str(r["school_year"]) for r in mine)
                if newest != sy:
                    items.append(sv("Förväntat resultat saknas för {}: läs in Skolverkets fil "
                                    "om elevsammansättningen (Antal elever per årskurs, "
                                    "skolenhet) för det läsåret.", newest))
            tname = f"results_trend:{m}"
            lv = ctx.records(tname, school_id=self.sid, component="school_level")
            if lv and pd.notna(lv[0]["estimate"]):
                k = {"component": "school_level", "school_id": self.sid}
                r = lv[0]
                items.append(sv("{}, i genomsnitt {} ({} läsår sammanvägda): avståndet till det "
                                "förväntade är {} {} (95 % KI {}).", schema.measure_label(m),
                                f"{r['first_year']}–{r['last_year']}", str(int(r["n_years"])),
                                ctx.num(tname, k, "estimate", 1), result_unit(m)[0],
                                ci(ctx, tname, k, 1)))
            break
        if self.cov is not None and len(self.cov):
            last = terms_sorted(self.cov["term"])[-1]
            k = {"school_id": self.sid, "term": last}
            items.append(sv("Underlag {}: observerade lektioner {}, observerade lärare {}.",
                            last,
                            ctx.num("coverage", k, "n_obs", 0),
                            ctx.num("coverage", k, "n_teachers", 0)))
        return items

    def build(self) -> dict[str, Any]:
        return {
            "title": f"Kvalitetsdialog: {self.name}",
            "running_head": f"Kvalitetsdialog: {self.name} · {period_label(self.ctx)}",
            "school": {"name": self.name, "id": self.sid, "area": self.area,
                       "grades": self.grades, "municipality": self.muni_name},
            "summary": self.summary(),
            "coverage": self.coverage(),
            "quality": self.quality(),
            "results": self.results(),
            "progression": self.progression(),
            "outcomes": outcomes_view.school_section(self.ctx, self.sid, self.muni_name),
            "reliability": self.reliability(),
            "questions": self.questions(),
            "plan": _plan_view.school_plan(self.ctx, self.sid),
            "last_dialogue": _plan_view.last_dialogue(self.ctx, self.sid),
            "sources": sources_table(self.ctx, self.sid),
            "period": self.ctx.cached("period", lambda: data_period(self.ctx)),
            "models": self.ctx.cached("models", lambda: models_table(self.ctx)),
            "notes": self.ctx.notes,
            "model_warnings": self.ctx.info.get("warnings", []),
            "created": self.ctx.created,
            "seed": self.ctx.ds.seed,
            "municipality_href": MUNICIPALITY_FILE,
            "dimensions": self.ctx.dimensions,
        }


def render_school(ctx: ReportContext, school_id: str) -> str:
    """The HTML of one school's report."""
    return render("school.html.j2", **SchoolView(ctx, school_id).build())


def dialogue_questions(ctx: ReportContext, school_id: str) -> list[dict[str, Any]]:
    """The school report's 3–5 dialogue questions: ``q`` (text), ``why``, ``underlag``,
    ``rule`` and the ``estimate``, ``conf_low``, ``conf_high`` (with ``unit`` and
    ``period``) each rests on (NaN for the general questions that fill up to three)."""
    return [dict(x) for x in SchoolView(ctx, school_id).questions()]
