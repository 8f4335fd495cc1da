"""The per-school report: a view of the context's tables for one school."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from .. import schema
from .._format import Z_95
from . import charts
from . import plan_view as _plan_view
from ._common import (
    Col,
    Table,
    ci,
    data_period,
    kappa_words,
    models_table,
    plain,
    reliability_words,
    sources_table,
    sv,
    terms_sorted,
)
from .context import INDEX_DECIMALS, MUNICIPALITY_FILE, OVERALL, Num, ReportContext
from .templating import render


class SchoolView:
    """Builds the template variables of one school's report."""

    def __init__(self, ctx: ReportContext, school_id: str) -> None:
        self.ctx = ctx
        self.sid = school_id
        self.name = ctx.names[school_id]
        row = ctx.ds.schools[ctx.ds.schools["school_id"].astype(str) == school_id].iloc[0]
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
        self.cov = ctx.part("coverage", "school_id", school_id) if "coverage" in ctx.tables \
            else None

    # ------------------------------------------------------------------ helpers
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
        d = self.q[(self.q["term"] == term) & (self.q["dimension"] == dim)]
        return d.iloc[0].to_dict() if len(d) else None

    def terms(self) -> list[str]:
        if self.q is None or not len(self.q):
            return []
        return terms_sorted(self.q["term"])

    def shown_terms(self, dim: str = OVERALL) -> list[str]:
        if self.q is None:
            return []
        d = self.q[(self.q["dimension"] == dim) & ~self.q["suppressed"].astype(bool)]
        return terms_sorted(d["term"])

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
        for term in terms_sorted(self.cov["term"]):
            k = {"school_id": sid, "term": term}
            row: list[Any] = [term, ctx.num("coverage", k, "n_obs", 0)]
            row += [ctx.num("coverage", k, f"n_{ty}", 0) for ty in type_cols]
            row += [ctx.num("coverage", k, "n_teachers", 0),
                    ctx.num("coverage", k, "share_teachers_observed", 0, scale=100),
                    ctx.num("coverage", k, "n_observers", 0)]
            t.rows.append(row)
            if "roles" in self.cov.columns:
                r = self.cov[self.cov["term"] == term]["roles"]
                roles.rows.append([term, str(r.iloc[0]) if len(r) else ""])
        out["table"] = t
        out["roles"] = roles if roles.rows else None
        out["figure"] = Markup(charts.coverage_bars(self.cov, sid))
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
        if self.q["suppressed"].astype(bool).any():
            t.note = ("Två prickar (..) betyder att indexet inte visas den terminen: för få "
                      "observerade lektioner eller lärare (minst 5 lektioner och 3 lärare "
                      "behövs). Antalen står i tabellen i avsnitt 1.")
        out["table"] = t
        out["figure"] = Markup(charts.quality_panels(pd.concat([self.q, self.q_muni]), self.sid,
                                                     dims, municipality_unit=self.muni_id))
        return out

    def results(self) -> dict[str, Any]:
        ctx, sid = self.ctx, self.sid
        blocks: list[dict[str, Any]] = []
        panels: dict[str, pd.DataFrame] = {}
        munis: dict[str, pd.DataFrame] = {}
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
            panels[m] = mine
            munis[m] = mres[mres["measure"] == m][["school_year", "value"]]
        fig = None
        if panels:
            fig = Markup(charts.results_panels(panels, sid, munis))
        info = ctx.info.get(f"results:{ctx.measures[0]}", {}) if ctx.measures else {}
        return {"blocks": blocks, "figure": fig, "info": info}

    def progression(self) -> dict[str, Any]:
        """The two progressions side by side, with what the comparison can and cannot say."""
        ctx, sid = self.ctx, self.sid
        out: dict[str, Any] = {"available": False, "text": ctx.notes.get("link", ""),
                               "figure": None, "table": None, "within": None}
        if "changes" not in ctx.tables or "link" not in ctx.tables:
            if not out["text"]:
                out["text"] = ("Jämförelsen kräver både index och resultat för flera läsår; "
                               "den kan inte göras med dessa data.")
            return out
        ch = ctx.tables["changes"]
        lk = ctx.tables["link"]
        measure = ctx.info.get("link", {}).get("measure", ctx.measures[0])
        out["available"] = True
        out["measure_label"] = schema.measure_label(measure)
        k = {"school_id": sid}
        me = ctx.part("changes", "school_id", sid)
        if not len(me) or pd.isna(me["quality_change"].iloc[0]):
            out["available"] = False
            out["text"] = ("Skolan har inte index och resultat för minst två läsår med "
                           "tillräckligt underlag, så dess två utvecklingar kan inte jämföras.")
            return out
        r = me.iloc[0]
        t = Table([Col("", False), Col("Från", False), Col("Till", False), Col("Förändring"),
                   Col("95 % KI", False, nowrap=True), Col("Per läsår")],
                  caption="Skolans två utvecklingar")
        t.rows.append(["Undervisningskvalitet (samlat index, läsårsmedel)",
                       str(r["quality_first_year"]), str(r["quality_last_year"]),
                       ctx.num("changes", k, "quality_change", 2),
                       ci(ctx, "changes", k, 2, "quality_change_conf_low",
                          "quality_change_conf_high"),
                       ctx.num("changes", k, "quality_change_per_year", 2)])
        t.rows.append([schema.measure_label(measure), str(r["results_first_year"]),
                       str(r["results_last_year"]), ctx.num("changes", k, "results_change", 1),
                       "", ctx.num("changes", k, "results_change_per_year", 1)])
        t.note = (f"Resultaten jämförs med undervisningen {ctx.info.get('link', {}).get('lag', 1)}"
                  " läsår tidigare. Resultatets förändring har inget intervall här: "
                  "den är skillnaden mellan två publicerade värden.")
        out["table"] = t
        wk = {"term": "within"}
        w = lk[lk["term"] == "within"]
        att = float(w["attenuation"].iloc[0]) if len(w) and "attenuation" in w else np.nan
        out["within"] = {"estimate": ctx.num("link", wk, "estimate", 1),
                         "ci": ci(ctx, "link", wk, 1),
                         "n_schools": ctx.num("link", wk, "n_schools", 0),
                         "reliability": ctx.num("link", wk, "reliability", 2),
                         "corrected": bool(np.isfinite(att) and abs(att - 1) < 1e-9),
                         "lag": ctx.info.get("link", {}).get("lag", 1)}
        out["figure"] = Markup(charts.progressions(
            ch, sid, ylabel=f"{charts.short_measure(measure)}: förändring per läsår"))
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
                "Intervallen i tabellerna är 95 % konfidensintervall: de visar hur mycket "
                "indexet skulle kunna variera om andra lektioner hade observerats. Två "
                "terminer vars intervall överlappar mycket kan inte sägas skilja sig åt."))
        if "plan" in ctx.tables:
            mine = ctx.part("plan", "unit", self.sid)
            if len(mine):
                k = {"unit": self.sid, "target": mine["target"].iloc[0]}
                needed = mine["n_obs_needed"].iloc[0]
                if pd.notna(needed):
                    out["sentences"].append(sv(
                        "För reliabiliteten 0,7 behövs omkring {} observerade lektioner per "
                        "termin; senaste läsåret observerades i genomsnitt {} per termin.",
                        ctx.num("plan", k, "n_obs_needed", 0),
                        ctx.num("plan", k, "n_obs_now", 1)))
                else:
                    out["sentences"].append(sv(
                        "Med skolans nuvarande observatörer kan reliabiliteten 0,7 inte nås "
                        "bara genom fler besök (taket är {}); fler observatörer, t.ex. "
                        "kollegor från andra skolor, behövs.",
                        ctx.num("plan", k, "max_reliability", 2)))
        if "agreement" in ctx.tables:
            a = ctx.tables["agreement"]
            tot = a[a["group"] == "Totalt"]
            if len(tot):
                kk = {"group": "Totalt"}
                out["sentences"].append(sv(
                    "I kommunens parobservationer (två observatörer på samma lektion) gav "
                    "observatörerna exakt samma poäng i {} % av fallen och högst ett steg "
                    "isär i {} %; den viktade kappan {} betyder {} samstämmighet.",
                    ctx.num("agreement", kk, "exact", 0, scale=100),
                    ctx.num("agreement", kk, "adjacent", 0, scale=100),
                    ctx.num("agreement", kk, "kappa_quadratic", 2),
                    kappa_words(float(tot["kappa_quadratic"].iloc[0]))))
        return out

    # ------------------------------------------------------------------ questions
    def questions(self) -> list[dict[str, Any]]:
        """Three to five questions for the dialogue, from rules on what the data show."""
        cands: list[tuple[int, dict[str, Any]]] = []
        ctx, sid = self.ctx, self.sid
        # 1. coverage too thin in the latest school year
        if self.q is not None and len(self.q):
            last_sy = max(self.q["school_year"].astype(str))
            thin = self.q[(self.q["dimension"] == OVERALL)
                          & (self.q["school_year"].astype(str) == last_sy)
                          & self.q["suppressed"].astype(bool)]
            for term in terms_sorted(thin["term"]):
                k = {"level": "school", "unit": sid, "term": term, "dimension": OVERALL}
                cands.append((10, {
                    "q": "Hur kan lektionsbesöken planeras så att underlaget räcker för "
                         "slutsatser om undervisningen nästa termin?",
                    "why": sv("Under {} var antalet observerade lektioner {} och antalet "
                              "observerade lärare {}. Det är för få för att visa ett index "
                              "(minst 5 lektioner och 3 lärare).",
                              term, ctx.num("quality", k, "n_obs", 0, status=False),
                              ctx.num("quality", k, "n_teachers", 0, status=False))}))
                break
        if self.cov is not None and len(self.cov) and "share_teachers_observed" in self.cov:
            last_term = terms_sorted(self.cov["term"])[-1]
            share = self.cov[self.cov["term"] == last_term]["share_teachers_observed"]
            if len(share) and pd.notna(share.iloc[0]) and share.iloc[0] < 0.5:
                k = {"school_id": sid, "term": last_term}
                cands.append((8, {
                    "q": "Vilka lärare, ämnen och årskurser saknas i underlaget, och hur kan "
                         "besöken spridas så att bilden gäller hela skolan?",
                    "why": sv("Under {} observerades {} % av de lärare som förekommer i "
                              "skolans observationer under läsåret.", last_term,
                              ctx.num("coverage", k, "share_teachers_observed", 0, scale=100))}))
        # 2./3. a dimension that fell or rose
        for dim, name in ctx.dimensions.items():
            if dim == OVERALL:
                continue
            shown = self.shown_terms(dim)
            if len(shown) < 2:
                continue
            t1 = shown[-1]
            earlier = [t for t in shown[:-1] if schema.term_index(t) <= schema.term_index(t1) - 1]
            t0 = earlier[-1] if earlier else shown[0]
            r0, r1 = self.qrow(t0, dim), self.qrow(t1, dim)
            if r0 is None or r1 is None:
                continue
            diff = r1["estimate"] - r0["estimate"]
            se = float(np.hypot(r0["se"], r1["se"]))
            if not np.isfinite(diff) or not np.isfinite(se) or se <= 0:
                continue
            zval = diff / se
            why = sv("{}: {} under {} mot {} under {} (95 % KI {} respektive {}).", name,
                     self.qnum(t1, dim), t1, self.qnum(t0, dim), t0, self.qci(t1, dim),
                     self.qci(t0, dim))
            if zval <= -Z_95:
                cands.append((9, {"q": f"{name} har sjunkit tydligt. Vad ligger bakom, och "
                                       "vilket stöd behöver lärarna?", "why": why}))
            elif zval <= -1.0:
                cands.append((6, {"q": f"{name} tycks ha sjunkit, men skillnaden är osäker. "
                                       "Känner ni igen bilden från era egna iakttagelser?",
                                  "why": why}))
            elif zval >= Z_95:
                cands.append((5, {"q": f"{name} har stärkts tydligt. Vad har bidragit till "
                                       "det, och hur kan det spridas till fler lärare?",
                                  "why": why}))
        # 4. results below (or above) expected in the latest year
        for m in ctx.measures[:3]:
            name = f"results:{m}"
            if name not in ctx.tables:
                continue
            mine = ctx.part(name, "school_id", sid)
            mine = mine[mine["residual"].notna()]
            if not len(mine):
                continue
            last = mine.sort_values("school_year").iloc[-1]
            k = {"school_id": sid, "school_year": str(last["school_year"])}
            why = sv("{} läsåret {}: {} mot förväntat {} utifrån elevsammansättningen "
                     "(skillnad {}, 95 % KI {}).", schema.measure_label(m),
                     str(last["school_year"]), ctx.num(name, k, "observed"),
                     ctx.num(name, k, "expected", status="suppressed"), ctx.num(name, k, "residual", status="suppressed"),
                     ci(ctx, name, k, 1, status="suppressed"))
            if last["conf_high"] < 0:
                cands.append((9, {"q": "Resultaten ligger under vad elevsammansättningen "
                                       "ger anledning att vänta. Vad kan förklara det, och "
                                       "vad gör skolan för de elever som riskerar att inte nå "
                                       "målen?", "why": why}))
                break
            if last["conf_low"] > 0:
                cands.append((4, {"q": "Resultaten ligger över vad elevsammansättningen ger "
                                       "anledning att vänta. Vad i skolans arbete kan förklara "
                                       "det, och vad kan andra skolor lära av det?",
                                  "why": why}))
                break
        # 5. the two progressions point different ways
        if "changes" in ctx.tables:
            me = ctx.part("changes", "school_id", sid)
            if len(me):
                r = me.iloc[0]
                qc, rc = r.get("quality_change"), r.get("results_change")
                qlo, qhi = r.get("quality_change_conf_low"), r.get("quality_change_conf_high")
                if (pd.notna(qc) and pd.notna(rc) and pd.notna(qlo) and pd.notna(qhi)
                        and (qlo > 0 or qhi < 0) and np.sign(qc) != np.sign(rc)):
                    k = {"school_id": sid}
                    cands.append((7, {
                        "q": "Undervisningskvaliteten och resultaten har rört sig åt olika håll. "
                             "Vad kan förklara det: elevgrupperna, vilka lektioner som "
                             "observerats, eller att förändringar i undervisningen tar tid att "
                             "synas i betygen?",
                        "why": sv("Indexet förändrades med {} (95 % KI {}) och resultatet med "
                                  "{} mellan {} och {}.",
                                  ctx.num("changes", k, "quality_change", 2),
                                  ci(ctx, "changes", k, 2, "quality_change_conf_low",
                                     "quality_change_conf_high"),
                                  ctx.num("changes", k, "results_change", 1),
                                  str(r["results_first_year"]), str(r["results_last_year"]))}))
        # 6. the weakest dimension relative to the municipality
        shown = self.shown_terms()
        if shown:
            t1 = shown[-1]
            gaps = []
            for dim, name in ctx.dimensions.items():
                if dim == OVERALL:
                    continue
                r = self.qrow(t1, dim)
                q = self.q_muni
                m = q[(q["level"] == "municipality") & (q["term"] == t1) & (q["dimension"] == dim)]
                if r is None or not len(m) or r.get("suppressed"):
                    continue
                gap = r["estimate"] - float(m["estimate"].iloc[0])
                if np.isfinite(gap) and r["conf_high"] < float(m["estimate"].iloc[0]):
                    gaps.append((gap, dim, name))
            if gaps:
                gap, dim, name = min(gaps)
                cands.append((6, {
                    "q": f"{name} ligger under kommunens nivå. Vad behövs för att stärka den "
                         "delen av undervisningen?",
                    "why": sv("{}: skolan {} (95 % KI {}), kommunen {} under {}.", name,
                              self.qnum(t1, dim), self.qci(t1, dim),
                              self.qnum(t1, dim, level="municipality"), t1)}))
        # 7. low reliability
        if shown:
            r = self.qrow(shown[-1])
            if r is not None and np.isfinite(r.get("reliability", np.nan)) \
                    and r["reliability"] < 0.6:
                cands.append((5, {
                    "q": "Hur kan observationerna bli säkrare: fler besök, fler observatörer "
                         "eller parobservationer för att kalibrera bedömningarna?",
                    "why": sv("Reliabiliteten var {} under {}.",
                              self.qnum(shown[-1], OVERALL, "reliability", decimals=2), shown[-1])}))
        cands.sort(key=lambda c: -c[0])
        chosen = [c[1] for c in cands[:5]]
        generic = [
            {"q": "Vilka av skolans egna iakttagelser bekräftar eller utmanar bilden i den här "
                  "rapporten?",
             "why": Markup("Rapporten bygger på ett urval lektioner och på betygen i årskurs 9; "
                           "skolans egen kunskap behövs för att tolka den.")},
            {"q": "Vilka delar av undervisningen vill skolan följa särskilt nästa läsår, och "
                  "hur ska lektionsbesöken planeras för det?",
             "why": Markup("Observationerna ger mest när de planeras utifrån det skolan vill "
                           "veta.")},
            {"q": "Hur används observationerna i det kollegiala lärandet på skolan?",
             "why": Markup("Indexet beskriver skolan, inte enskilda lärare; värdet ligger i "
                           "samtalen om undervisningen.")},
        ]
        from .plan_view import plan_questions

        chosen = chosen[:3] + plan_questions(ctx, sid) + chosen[3:]  # issue #15: the plan
        for g in generic:
            if len(chosen) >= 3:
                break
            chosen.append(g)
        return chosen[:6]

    # ------------------------------------------------------------------ summary
    def summary(self) -> list[Markup]:
        ctx = self.ctx
        items: list[Markup] = []
        shown = self.shown_terms()
        if shown:
            t1 = shown[-1]
            items.append(sv("Undervisningskvalitet {}: samlat index {} (95 % KI {}); "
                            "{} {}.", t1, self.qnum(t1, OVERALL), self.qci(t1, OVERALL),
                            self.muni_name, self.qnum(t1, OVERALL, level="municipality")))
        elif self.q is not None and len(self.q):
            items.append(Markup("Underlaget räcker inte för att visa skolans index någon "
                                "termin (för få observerade lektioner eller lärare)."))
        if "growth" in ctx.tables:
            k = {"component": "school_trend", "school_id": self.sid}
            mine = ctx.part("growth", "school_id", self.sid)
            if len(mine[mine["component"] == "school_trend"]):
                items.append(sv("Skolans trend i samlat index: {} per läsår (95 % KI {}).",
                                ctx.num("growth", k, "estimate", 2),
                                ci(ctx, "growth", k, 2)))
        if ctx.measures and f"results:{ctx.measures[0]}" in ctx.tables:
            m = ctx.measures[0]
            name = f"results:{m}"
            mine = ctx.part(name, "school_id", self.sid)
            if len(mine):
                sy = max(mine["school_year"].astype(str))
                k = {"school_id": self.sid, "school_year": sy}
                items.append(sv("{} {}: {} mot förväntat {} (skillnad {}, 95 % KI {}).",
                                schema.measure_label(m), sy, ctx.num(name, k, "observed"),
                                ctx.num(name, k, "expected", status="suppressed"),
                                ctx.num(name, k, "residual", status="suppressed"), ci(ctx, name, k, 1, status="suppressed")))
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
            "school": {"name": self.name, "id": self.sid, "area": self.area,
                       "grades": self.grades, "municipality": self.muni_name},
            "summary": self.summary(),
            "coverage": self.coverage(),
            "quality": self.quality(),
            "results": self.results(),
            "progression": self.progression(),
            "reliability": self.reliability(),
            "questions": self.questions(),
            "plan": _plan_view.school_plan(self.ctx, self.sid),
            "last_dialogue": _plan_view.last_dialogue(self.ctx, self.sid),
            "sources": self.ctx.cached("sources", lambda: sources_table(self.ctx)),
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


def dialogue_questions(ctx: ReportContext, school_id: str) -> list[dict[str, str]]:
    """The school report's 3–5 dialogue questions as plain text: ``q`` and ``why``."""
    import html as _html
    import re

    def text(m: Any) -> str:
        return _html.unescape(re.sub(r"<[^>]+>", "", str(m)))

    return [{"q": text(x["q"]), "why": text(x["why"])}
            for x in SchoolView(ctx, school_id).questions()]
