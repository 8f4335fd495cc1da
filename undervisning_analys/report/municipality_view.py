"""The municipality report: all schools side by side, with their uncertainty."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from .. import plots, schema
from .._format import swedish_key
from . import charts, outcomes_view
from . import plan_view as _plan_view
from ._common import (
    Col,
    Table,
    ci,
    data_period,
    kappa_words,
    link_corrections,
    link_error_sentence,
    link_key,
    models_table,
    period_label,
    plain,
    sources_table,
    sv,
    terms_sorted,
)
from .context import INDEX_DECIMALS, OVERALL, ReportContext, school_file
from .templating import render

MAX_CATERPILLAR = 40
"""More schools than this are drawn in one caterpillar plot per school area."""

HEAT = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6"]


class MunicipalityView:
    """Builds the template variables of the municipality report."""

    def __init__(self, ctx: ReportContext) -> None:
        self.ctx = ctx
        s = ctx.ds.schools
        self.muni_id = str(s["municipality_id"].iloc[0])
        names = sorted(set(s["municipality_name"].dropna().astype(str)), key=swedish_key)
        self.muni_name = ", ".join(names) if names else "Kommunen"
        self.q = ctx.tables.get("quality")
        self.ids = ctx.school_ids()

    def _school_link(self, sid: str) -> Markup:
        return Markup('<a href="%s">%s</a>') % (school_file(sid), self.ctx.names[sid])

    def latest_term(self) -> str | None:
        """The latest term with a shown index for at least half of the schools."""
        if self.q is None:
            return None
        s = self.q[(self.q["level"] == "school") & (self.q["dimension"] == OVERALL)]
        shown = s[~s["suppressed"].astype(bool)].groupby("term")["unit"].nunique()
        ok = [t for t, n in shown.items() if n >= max(1, len(self.ids) // 2)]
        return terms_sorted(ok)[-1] if ok else None

    def index_rows(self, term: str) -> tuple[pd.DataFrame, float | None]:
        """The schools' overall index rows of ``term`` and the municipality's estimate
        (the side-by-side chart's data)."""
        q = self.q
        assert q is not None  # a term implies an index
        at = (q["dimension"] == OVERALL) & (q["term"] == term)
        rows = q[at & (q["level"] == "school")]
        mref = q[at & (q["level"] == "municipality")]
        return rows, (float(mref["estimate"].iloc[0]) if len(mref) else None)

    # ------------------------------------------------------------------ sections
    def side_by_side(self) -> dict[str, Any]:
        ctx = self.ctx
        out: dict[str, Any] = {"term": None, "caterpillars": [], "table": None,
                               "funnel": None, "year": None, "year_note": None}
        term = self.latest_term()
        m0 = ctx.measures[0] if ctx.measures else None
        rname = f"results:{m0}" if m0 else None
        res = ctx.tables.get(rname) if rname else None
        year, out["year_note"] = _comparison_year(res, m0)
        out["term"], out["year"] = term, year
        t = Table([Col("Skola", False), Col("Skolområde", False), Col("Samlat index"),
                   Col("95 % KI", False, nowrap=True), Col("Lektioner"), Col("Reliabilitet")],
                  caption=f"Undervisningskvalitet {term}, skolorna i bokstavsordning")
        r = Table([Col("Skola", False), Col("Elever"), Col("Resultat"), Col("Förväntat"),
                   Col("Skillnad"), Col("95 % KI", False, nowrap=True)],
                  caption=(f"{schema.measure_label(m0)} {year}, skolorna i bokstavsordning"
                           if m0 else ""))
        for sid in self.ids:
            if term:
                k = {"level": "school", "unit": sid, "term": term, "dimension": OVERALL}
                t.rows.append([self._school_link(sid), ctx.areas.get(sid, ""),
                               ctx.num("quality", k, "estimate", INDEX_DECIMALS),
                               ci(ctx, "quality", k, INDEX_DECIMALS),
                               ctx.num("quality", k, "n_obs", 0, status=False),
                               ctx.num("quality", k, "reliability", 2)])
            if year and rname:
                k2 = {"school_id": sid, "school_year": year}
                r.rows.append([self._school_link(sid), ctx.num(rname, k2, "n", 0, status=False),
                               ctx.num(rname, k2, "observed"),
                               ctx.num(rname, k2, "expected", status="suppressed"),
                               ctx.num(rname, k2, "residual", status="suppressed"),
                               ci(ctx, rname, k2, 1, status="suppressed")])
        out["table"] = t if term else None
        out["results_table"] = r if year and rname else None
        if term and self.q is not None:
            rows, ref = self.index_rows(term)
            # one panel per school area in a large municipality, so each fits a page
            areas = rows["unit"].map(lambda u: ctx.areas.get(str(u), "") or "")
            groups = ([("", rows)] if len(rows) <= MAX_CATERPILLAR or areas.eq("").all()
                      else sorted(rows.groupby(areas), key=lambda kv: swedish_key(kv[0])))
            out["caterpillars"] = []
            for area, g in groups:
                ax = plots.new_axes((7.0, 1.0 + 0.24 * len(g)), detached=True)
                where = f"skolområde {area}, " if area else ""
                plots.caterpillar(g, ctx.names, reference=ref, ax=ax,
                                  title=f"Undervisningskvalitet, {where}{term}",
                                  xlabel="Samlat index")
                out["caterpillars"].append(plots.to_data_uri(plots.finish(ax)))
        if year and m0 and res is not None:
            last = res[res["school_year"].astype(str) == year]
            ax = plots.new_axes((7.0, 3.8), detached=True)
            plots.funnel(last, ctx.names, ax=ax,
                         title=f"{plots._short_measure(m0)} {year}: resultat minus förväntat")
            out["funnel"] = plots.to_data_uri(plots.finish(ax))
        return out

    def dimensions(self) -> dict[str, Any]:
        ctx = self.ctx
        term = self.latest_term()
        if term is None:
            return {"table": None, "term": None}
        dims = ctx.dimensions
        t = Table([Col("Skola", False)] + [Col(n) for n in dims.values()],
                  caption=f"Index per dimension, {term} (mörkare = högre)", css="heat")
        q = self.q
        assert q is not None  # a latest term implies an index
        sub = q[(q["level"] == "school") & (q["term"] == term)]
        vals = sub["estimate"].dropna()
        lo, hi = (float(vals.min()), float(vals.max())) if len(vals) else (0.0, 1.0)
        # each school's first row per dimension, looked up (not filtered) per cell
        first: dict[tuple[str, Any], Any] = {}
        for u, dim, est in zip(sub["unit"].astype(str).tolist(), sub["dimension"].tolist(),
                               sub["estimate"].tolist(), strict=True):
            first.setdefault((u, dim), est)
        for sid in self.ids:
            row: list[Any] = [self._school_link(sid)]
            for d in dims:
                n = ctx.num("quality", {"level": "school", "unit": sid, "term": term,
                                        "dimension": d}, "estimate", INDEX_DECIMALS)
                v = first.get((sid, d))
                colour = "#ffffff"
                if v is not None and pd.notna(v) and hi > lo:
                    k = int(min(len(HEAT) - 1, (float(v) - lo) / (hi - lo) * len(HEAT)))
                    colour = HEAT[k]
                row.append(Markup('<span class="cell" style="display:block;background:%s">%s'
                                  '</span>') % (colour, n))
            t.rows.append(row)
        mk = {"level": "municipality", "unit": self.muni_id, "term": term}
        t.rows.append([Markup("<strong>%s</strong>") % self.muni_name] + [
            ctx.num("quality", {**mk, "dimension": d}, "estimate", INDEX_DECIMALS)
            for d in dims])
        t.note = ("Skolornas index med 95 % konfidensintervall finns i varje skolrapport. "
                  "Skillnader mellan skolor som är mindre än intervallen är inte säkra.")
        return {"table": t, "term": term}

    def _municipality_results(self) -> dict[str, pd.DataFrame]:
        """The municipality's published results per school year for the report's measures
        (all pupils, all principals)."""
        r = self.ctx.ds.results
        if not len(r):
            return {}
        r = r[(r["level"] == "municipality") & (r["group"] == "all")
              & (r["municipality_id"].astype(str) == self.muni_id)]
        if "principal_type" in r.columns:
            r = r[r["principal_type"].astype(str) == "all"]
        out = {}
        for m in self.ctx.measures:
            part = r[r["measure"] == m]
            if len(part):
                out[m] = part[["school_year", "value"]].drop_duplicates("school_year")
        return out

    def trends(self) -> dict[str, Any]:
        ctx = self.ctx
        out: dict[str, Any] = {"municipality": None, "areas": None, "table": None,
                               "growth": None, "dimensions": None, "results": None}
        if self.q is None:
            return out
        ax = plots.new_axes((7.0, 2.8), detached=True)
        plots.trends(self.q, level="municipality", ax=ax)
        out["municipality"] = plots.to_data_uri(plots.finish(ax))
        # every dimension over every term, and the municipality's results beside the index
        dims = {d: n for d, n in ctx.dimensions.items() if d != OVERALL}
        if dims:
            ax = plots.new_axes((7.0, 2.8), detached=True)
            plots.dimension_trends(self.q, dims, ax=ax,
                                   title="Kommunens index per dimension och termin")
            out["dimensions"] = plots.to_data_uri(plots.finish(ax))
        res = self._municipality_results()
        muni_index = self.q[(self.q["level"] == "municipality")
                            & (self.q["dimension"] == OVERALL)]
        if res and len(muni_index):
            fig = plots.index_beside_results(muni_index, res, detached=True)
            out["results"] = plots.to_data_uri(plots.finish(fig))
        if (self.q["level"] == "area").any():
            ax = plots.new_axes((7.0, 3.0), detached=True)
            plots.trends(self.q, level="area", ax=ax)
            out["areas"] = plots.to_data_uri(plots.finish(ax))
        t = Table([Col("Termin", False), Col(self.muni_name), Col("95 % KI", False, nowrap=True),
                   Col("Lektioner"), Col("Skolor med index")],
                  caption="Kommunens samlade index per termin")
        school_rows = self.q[(self.q["level"] == "school") & (self.q["dimension"] == OVERALL)]
        for term in terms_sorted(self.q["term"]):
            k = {"level": "municipality", "unit": self.muni_id, "term": term,
                 "dimension": OVERALL}
            n_shown = int((~school_rows[school_rows["term"] == term]["suppressed"]
                           .astype(bool)).sum())
            t.rows.append([term, ctx.num("quality", k, "estimate", INDEX_DECIMALS),
                           ci(ctx, "quality", k, INDEX_DECIMALS),
                           ctx.num("quality", k, "n_obs", 0, status=False), plain(n_shown, 0)])
        out["table"] = t
        out["growth"] = self._growth()
        return out

    def _growth(self) -> dict[str, Any] | None:
        ctx = self.ctx
        g = ctx.tables.get("growth")
        if g is None or "component" not in g.columns:
            return None
        out: dict[str, Any] = {}
        mk = {"component": "municipality_trend"}
        if (g["component"] == "municipality_trend").any():
            out["municipality"] = {"estimate": ctx.num("growth", mk, "estimate", 3),
                                   "ci": ci(ctx, "growth", mk, 3)}
        if (g["component"] == "trend_sd").any():
            out["sd"] = ctx.num("growth", {"component": "trend_sd"}, "estimate", 3)
        t = Table([Col("Skola", False), Col("Trend per läsår"), Col("95 % KI", False, nowrap=True)],
                  caption="Skolornas trend i samlat index (förändring per läsår)",
                  note="Trenderna dras mot kommunens när underlaget är litet. Två prickar: "
                       "färre än 5 observerade lektioner eller 3 lärare totalt.")
        for sid in self.ids:
            k = {"component": "school_trend", "school_id": sid}
            t.rows.append([self._school_link(sid), ctx.num("growth", k, "estimate", 3),
                           ci(ctx, "growth", k, 3)])
        out["table"] = t
        return out

    def equity(self) -> dict[str, Any]:
        ctx = self.ctx
        e = ctx.tables.get("equity")
        out: dict[str, Any] = {"figures": [], "tables": [], "scatter": []}
        if e is None or not len(e):
            return out
        labels = {"quality": "Undervisningskvalitet (samlat index)"}
        for m in ctx.measures:
            labels[m] = schema.measure_label(m)
        for quantity, g in e.groupby("quantity", sort=False):
            t = Table([Col("Period", False), Col("Skolor"), Col("Medelvärde"),
                       Col("Spridning (sd)"), Col("Lägst"), Col("Högst"),
                       Col("Samband med föräldrarnas utbildning (r)")],
                      caption=labels.get(str(quantity), str(quantity)))
            dec = INDEX_DECIMALS if quantity == "quality" else 1
            for p in g["period"]:
                k = {"quantity": quantity, "period": p}
                t.rows.append([p, ctx.num("equity", k, "n_schools", 0),
                               ctx.num("equity", k, "mean", dec), ctx.num("equity", k, "sd", dec),
                               ctx.num("equity", k, "min", dec), ctx.num("equity", k, "max", dec),
                               ctx.num("equity", k, "corr_parents_edu", 2)])
            out["tables"].append(t)
        # spread over time, one panel per kind (index per term; results per year)
        qd = e[e["quantity"] == "quality"]
        if len(qd):
            ax = plots.new_axes((7.0, 2.6), detached=True)
            plots.spread_over_time(qd.assign(label="Samlat index"), ax=ax,
                                   title="Spridning mellan skolorna i undervisningskvalitet")
            out["figures"].append(plots.to_data_uri(plots.finish(ax)))
        rd = e[e["quantity"] != "quality"]
        # one chart per unit: meritvärde (points) and shares (percent) never share an axis
        units = rd["quantity"].map(_unit_of)
        for unit in sorted(set(units), key=swedish_key):
            part = rd[units == unit]
            ax = plots.new_axes((7.0, 2.6), detached=True)
            plots.spread_over_time(
                part.assign(label=part["quantity"].map(plots._short_measure)), ax=ax,
                title=f"Spridning mellan skolorna i resultat ({unit})")
            ax.set_ylabel(f"Spridning mellan skolor (sd, {unit})")
            out["figures"].append(plots.to_data_uri(plots.finish(ax)))
        # relation to background, latest period
        bg = ctx.ds.background
        bg = bg[bg["level"].astype(str) == "school"] if "level" in bg.columns else bg
        term = self.latest_term()
        if term is not None and self.q is not None:
            sy = schema.term_school_year(term)
            q = self.q
            d = q[(q["level"] == "school") & (q["dimension"] == OVERALL) & (q["term"] == term)]
            d = d.rename(columns={"unit": "school_id"}).merge(
                bg[bg["school_year"] == sy][["school_id", "share_parents_higher_edu"]],
                on="school_id", how="left")
            a1, a2 = plots.new_axes((7.2, 3.3), True, 1, 2)
            fig = a1.figure
            plots.background_relation(d, y="estimate", ylabel="Samlat index", ax=a1,
                                      title=f"Undervisningskvalitet {term}")
            m0 = ctx.measures[0] if ctx.measures else None
            if m0 and f"results:{m0}" in ctx.tables:
                r = ctx.tables[f"results:{m0}"]
                year = max(r["school_year"].astype(str))
                rr = r[r["school_year"].astype(str) == year].merge(
                    bg[bg["school_year"] == year][["school_id", "share_parents_higher_edu"]],
                    on="school_id", how="left")
                plots.background_relation(rr, y="observed", ylabel=plots._short_measure(m0),
                                          ax=a2, title=f"{plots._short_measure(m0)} {year}")
            else:
                a2.set_visible(False)
            out["scatter"].append(plots.to_data_uri(plots.finish(fig)))
        return out

    def observation(self) -> dict[str, Any]:
        ctx = self.ctx
        out: dict[str, Any] = {"coverage": None, "agreement": None, "icc": None,
                               "severity": None, "text": [], "year": None}
        cov = ctx.tables.get("coverage")
        if cov is not None and len(cov):
            terms = terms_sorted(cov["term"])
            last = terms[-1]
            out["year"] = last
            t = Table([Col("Skola", False), Col("Lektioner"), Col("Observerade lärare"),
                       Col("Andel av lärarna (%)"), Col("Observatörer")],
                      caption=f"Observationer {last}")
            for sid in self.ids:
                k = {"school_id": sid, "term": last}
                t.rows.append([self._school_link(sid), ctx.num("coverage", k, "n_obs", 0),
                               ctx.num("coverage", k, "n_teachers", 0),
                               ctx.num("coverage", k, "share_teachers_observed", 0, scale=100),
                               ctx.num("coverage", k, "n_observers", 0)])
            out["coverage"] = t
        a = ctx.tables.get("agreement")
        if a is not None and len(a):
            t = Table([Col("Dimension", False), Col("Par"), Col("Exakt samma (%)"),
                       Col("Högst ett steg isär (%)"), Col("Kappa (kvadratiskt viktad)")],
                      caption="Samstämmighet i parobservationer")
            for g in a["group"]:
                k = {"group": g}
                t.rows.append([g, ctx.num("agreement", k, "n_pairs", 0),
                               ctx.num("agreement", k, "exact", 0, scale=100),
                               ctx.num("agreement", k, "adjacent", 0, scale=100),
                               ctx.num("agreement", k, "kappa_quadratic", 2)])
            out["agreement"] = t
            tot = a[a["group"] == "Totalt"]
            if len(tot):
                out["text"].append(sv(
                    "{} lektioner observerades av två observatörer samtidigt. Den viktade "
                    "kappan {} betyder {} samstämmighet enligt Landis & Koch (1977).",
                    plain(ctx.info.get("paired_lessons", np.nan), 0),
                    ctx.num("agreement", {"group": "Totalt"}, "kappa_quadratic", 2),
                    kappa_words(float(tot["kappa_quadratic"].iloc[0]))))
        ic = ctx.tables.get("icc")
        if ic is not None and len(ic):
            k = {"type": "ICC1"}
            out["text"].append(sv(
                "Intraklasskorrelationen för en observatörs samlade poäng på en lektion är {} "
                "(95 % KI {}): så stor del av skillnaderna i poäng mellan lektioner beror på "
                "lektionerna och inte på vem som observerade.",
                ctx.num("icc", k, "icc", 2), ci(ctx, "icc", k, 2)))
        sev = ctx.tables.get("severity")
        if sev is not None and len(sev):
            t = Table([Col("Roll", False), Col("Observatörer"), Col("Bedömningar"),
                       Col("Avvikelse från andra observatörer")],
                      caption="Observatörernas stränghet efter roll (positivt = generösare)",
                      note="Jämförelsen gäller lektioner som två observatörer bedömt. "
                           "Observatörer redovisas bara efter roll, och en roll med färre än "
                           "tre observatörer visas som ..")
            for role in sev["observer_role"]:
                k = {"observer_role": role}
                t.rows.append([schema.LABELS_SV.get(str(role), str(role)).capitalize(),
                               ctx.num("severity", k, "n_observers", 0),
                               ctx.num("severity", k, "n_ratings", 0),
                               ctx.num("severity", k, "mean_deviation", 2)])
            out["severity"] = t
        return out

    def link(self) -> dict[str, Any]:
        ctx = self.ctx
        out: dict[str, Any] = {"table": None, "text": ctx.notes.get("link", ""), "figure": None}
        lk = ctx.tables.get("link")
        if lk is None or not len(lk):
            return out
        adjusted = bool(lk["adjusted"].iloc[0]) if "adjusted" in lk.columns else False
        labels = {"within": "Inom skolor (förändring över tid)",
                  "between": ("Mellan skolor (skillnader i nivå, justerat för "
                              "elevsammansättningen)" if adjusted else
                              "Mellan skolor (skillnader i nivå, ej justerat för "
                              "elevsammansättningen)")}
        from ..models.link_result import CORRECTION_LABELS

        t = Table([Col("Jämförelse", False), Col("Skattning", False), Col("Samband"),
                   Col("95 % KI", False, nowrap=True), Col("p-värde"), Col("Skolor"),
                   Col("Läsår")],
                  caption="Sambandet mellan undervisningskvalitet och resultat")
        corrs = (lk["correction"].astype(str) if "correction" in lk.columns
                 else pd.Series("none", index=lk.index))
        for term, corr in zip(lk["term"], corrs, strict=True):
            if term not in labels:
                continue
            k = link_key(lk, term, corr)
            how = CORRECTION_LABELS.get(corr, corr)
            t.rows.append([labels[term], how[:1].upper() + how[1:],
                           ctx.num("link", k, "estimate", 1), ci(ctx, "link", k, 1),
                           ctx.num("link", k, "p_value", 3), ctx.num("link", k, "n_schools", 0),
                           ctx.num("link", k, "n_years", 0)])
        out["table"] = t
        measure = ctx.info.get("link", {}).get("measure", ctx.measures[0])
        g, rt = ctx.tables.get("growth"), ctx.tables.get(f"results_trend:{measure}")
        if g is not None and rt is not None and len(g) and len(rt):
            # every school's two trends over all years (never two years subtracted)
            both = (g[g["component"] == "school_trend"][["school_id", "estimate", "se"]]
                    .rename(columns={"estimate": "x", "se": "x_se"})
                    .merge(rt[rt["component"] == "school_trend"][["school_id", "estimate"]]
                           .rename(columns={"estimate": "y"}), on="school_id"))
            ax = plots.new_axes((6.4, 3.8), detached=True)
            plots.progressions(both, None, x="x", y="y", x_se="x_se",
                               xlabel="Trend i undervisningskvalitet (indexpoäng per läsår)",
                               ylabel=f"{charts.short_measure(measure)}: trend mot förväntat "
                                      "per läsår",
                               ax=ax, title="Skolornas två trender, skattade ur alla läsår")
            out["figure"] = plots.to_data_uri(plots.finish(ax))
        w = lk[lk["term"] == "within"]
        if "correction" in lk.columns:
            w = w[w["correction"].astype(str) == "none"]
        info = ctx.info.get("link", {})
        from ..models.dialogue import result_unit

        out["error"] = link_error_sentence(ctx, result_unit(str(info.get("measure", "")))[0])
        out["measure"] = schema.measure_label(info.get("measure", ""))
        out["lag"] = info.get("lag", 1)
        # a non-significant within association is weak evidence: say what could be detected
        out["weak"] = None
        mde = float(info.get("min_detectable", np.nan))
        if len(w) and np.isfinite(mde):
            lo, hi = float(w["conf_low"].iloc[0]), float(w["conf_high"].iloc[0])
            if np.isfinite(lo) and lo <= 0 <= hi:
                out["weak"] = sv(
                    "Inget säkert samband inom skolorna är inte detsamma som inget samband. "
                    "Med {} skolor och {} läsår upptäcker analysen med 80 % sannolikhet bara "
                    "samband från ungefär {} per indexpoäng och uppåt (i måttet {}); ett mindre "
                    "samband kan finnas utan att synas. Fler läsår och fler observerade "
                    "lektioner per skola gör analysen känsligare.",
                    plain(float(w["n_schools"].iloc[0]), 0), plain(float(w["n_years"].iloc[0]), 0),
                    plain(mde, 1), out["measure"].lower())
        return out

    def summary(self) -> list[Markup]:
        ctx = self.ctx
        items: list[Markup] = []
        o = ctx.ds.observations
        items.append(sv("{} skolenheter, {} observerade lektioner under {} terminer.",
                        plain(len(self.ids), 0), plain(o["observation_id"].nunique(), 0),
                        plain(len(ctx.ds.terms), 0)))
        g = self._growth()
        if g and "municipality" in g:
            items.append(sv("Kommunens samlade index förändras med {} per läsår "
                            "(95 % KI {}).", g["municipality"]["estimate"],
                            g["municipality"]["ci"]))
        term = self.latest_term()
        if term and self.q is not None:
            k = {"level": "municipality", "unit": self.muni_id, "term": term,
                 "dimension": OVERALL}
            items.append(sv("Samlat index {}: {} (95 % KI {}).", term,
                            ctx.num("quality", k, "estimate", INDEX_DECIMALS),
                            ci(ctx, "quality", k, INDEX_DECIMALS)))
        items.extend(self._link_summary())
        return items

    def _link_summary(self) -> list[Markup]:
        """What the comparison of the two progressions found, in words (the summary)."""
        ctx = self.ctx
        lk = ctx.tables.get("link")
        if lk is None or not len(lk):
            return []
        out: list[Markup] = []
        info = ctx.info.get("link", {})
        name = schema.measure_label(info.get("measure", "")).lower()
        from ..models.dialogue import result_unit
        from ..models.link_result import CORRECTION_LABELS

        unit = result_unit(str(info.get("measure", "")))[0]
        naive = (lk["correction"].astype(str) == "none") if "correction" in lk.columns else True
        w = lk[(lk["term"] == "within") & naive]
        if len(w):
            lo, hi = float(w["conf_low"].iloc[0]), float(w["conf_high"].iloc[0])
            k = link_key(lk, "within")
            verdict = ("Intervallet omfattar noll: data kan inte skilja sambandet från inget "
                       "samband alls." if lo <= 0 <= hi else
                       "Intervallet omfattar inte noll.")
            out.append(sv("Jämförelsen inom skolorna: när en skolas index ökar med 0,1 "
                          "indexpoäng förändras {} i genomsnitt med {} {} (95 % KI {} till {}) "
                          "läsåret efter. {}", name,
                          ctx.num("link", k, "estimate", 2, scale=0.1), unit,
                          ctx.num("link", k, "conf_low", 2, scale=0.1),
                          ctx.num("link", k, "conf_high", 2, scale=0.1), verdict))
            for method in link_corrections(lk):  # the corrected estimate beside it (#17)
                kc = link_key(lk, "within", method)
                cw = lk[(lk["term"] == "within") & (lk["correction"] == method)]
                if len(cw) and np.isfinite(float(cw["estimate"].iloc[0])):
                    out.append(sv("Korrigerat för indexets mätfel ({}) blir samma samband {} {} "
                                  "(95 % KI {} till {}).",
                                  CORRECTION_LABELS.get(method, method).split("(")[-1]
                                  .rstrip(")"),
                                  ctx.num("link", kc, "estimate", 2, scale=0.1), unit,
                                  ctx.num("link", kc, "conf_low", 2, scale=0.1),
                                  ctx.num("link", kc, "conf_high", 2, scale=0.1)))
        b = lk[(lk["term"] == "between") & naive]
        if len(b):
            adjusted = bool(lk["adjusted"].iloc[0]) if "adjusted" in lk.columns else False
            k = link_key(lk, "between")
            out.append(sv("Mellan skolorna går ett 0,1 indexpoäng högre index samman med {} {} "
                          "högre {} (95 % KI {} till {}); {}", ctx.num("link", k, "estimate", 2,
                                                                    scale=0.1), unit, name,
                          ctx.num("link", k, "conf_low", 2, scale=0.1),
                          ctx.num("link", k, "conf_high", 2, scale=0.1),
                          "justerat för elevsammansättningen." if adjusted else
                          "det är inte justerat för elevsammansättningen, som hänger samman "
                          "med både index och resultat."))
        return out

    def build(self) -> dict[str, Any]:
        return {
            "title": f"Kommunöversikt: {self.muni_name}",
            "running_head": f"Kommunöversikt: {self.muni_name} · {period_label(self.ctx)}",
            "municipality": self.muni_name,
            "summary": self.summary(),
            "side": self.side_by_side(),
            "dims": self.dimensions(),
            "trends": self.trends(),
            "equity": self.equity(),
            "obs": self.observation(),
            "link": self.link(),
            "outcomes": outcomes_view.municipality_section(self.ctx),
            "sources": sources_table(self.ctx),
            "period": data_period(self.ctx),
            "models": models_table(self.ctx),
            "notes": self.ctx.notes,
            "model_warnings": self.ctx.info.get("warnings", []),
            "created": self.ctx.created,
            "seed": self.ctx.ds.seed,
            "schools": [{"name": self.ctx.names[s], "href": school_file(s)} for s in self.ids],
            "plan_overview": _plan_view.organiser_overview(self.ctx),
        }


def render_municipality(ctx: ReportContext) -> str:
    """The HTML of the municipality report."""
    return render("municipality.html.j2", **MunicipalityView(ctx).build())


def _comparison_year(res: pd.DataFrame | None, measure: str | None
                     ) -> tuple[str | None, str | None]:
    """The school year the comparison with the expected result shows, and a note.

    The latest year that has an expected result (a residual) for some school;
    when the results run further than the background, the note names the
    year left out and the file that would bring it. Without any expected
    result, the latest results year (its table then shows ``..``).
    """
    if res is None or not len(res):
        return None, None
    if "residual" not in res.columns:
        return max(res["school_year"].astype(str)), None
    years = sorted(set(res["school_year"].astype(str)))
    with_expected = sorted(set(res.loc[res["residual"].notna(), "school_year"].astype(str)))
    if not with_expected:
        return years[-1], None
    year = with_expected[-1]
    if years[-1] == year:
        return year, None
    label = schema.measure_label(measure) if measure else "resultaten"
    return year, (f"{label} finns för {years[-1]}, men elevsammansättningen för det läsåret "
                  f"saknas, så det förväntade resultatet kan inte beräknas. Jämförelsen "
                  f"visar därför {year}. Lägg Skolverkets statistik om elever per skolenhet "
                  f"för {years[-1]} i mappen så tas läsåret med nästa gång.")


def _unit_of(measure: str) -> str:
    """The unit a measure's values are in, for grouping on one axis."""
    try:
        unit = schema.measure_info(str(measure)).unit
    except KeyError:
        return "enheter"
    return "procent" if unit == "procentenheter" else unit
