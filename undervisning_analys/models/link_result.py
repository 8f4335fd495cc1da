"""The link's result: :class:`LinkResult`, its tables, its Swedish summary and its plots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .. import schema
from .._format import Z_95
from .._format import number as sv_num
from .._results import Result
from .link_panel import YearlyIndex

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["CORRECTION_LABELS", "LinkResult", "TIDY_COLUMNS"]

TIDY_COLUMNS = ["term", "correction", "estimate", "se", "conf_low", "conf_high", "p_value", "df",
                "n_schools", "n_years", "n_obs", "n_excluded", "reliability", "attenuation",
                "index_reliability", "inference", "measure", "lag", "adjusted"]
"""The columns of ``LinkResult.tidy()``, in order."""

CORRECTION_LABELS = {"none": "okorrigerat",
                     "regression_calibration": "korrigerat för mätfel (regressionskalibrering)"}
"""Swedish names of the ``correction`` values."""


@dataclass(frozen=True, eq=False)
class LinkResult(Result):
    """Within- and between-school association of teaching quality and results (see :func:`link`)."""

    measure: str
    lag: int
    adjusted: bool
    inference: str
    table: pd.DataFrame = field(repr=False)
    panel: pd.DataFrame = field(repr=False)
    exclusions: pd.DataFrame = field(repr=False)
    yearly: YearlyIndex = field(repr=False)
    names: dict[str, str] = field(default_factory=dict, repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    def _tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def _row(self, term: str, correction: str = "none") -> pd.Series:
        t = self.table
        return t[(t["term"] == term) & (t["correction"] == correction)].iloc[0]

    @property
    def corrections(self) -> tuple[str, ...]:
        """The ``correction`` values in :meth:`tidy` (``"none"`` first)."""
        return tuple(dict.fromkeys(self.table["correction"]))

    def corrected(self, term: str = "within") -> dict[str, float] | None:
        """The row ``term`` corrected for measurement error (estimate, se, conf_low,
        conf_high, p_value), or None when the result has no corrected rows."""
        other = [c for c in self.corrections if c != "none"]
        if not other:
            return None
        r = self._row(term, other[0])
        return {k: float(r[k]) for k in ("estimate", "se", "conf_low", "conf_high", "p_value")}

    @property
    def within(self) -> dict[str, float]:
        """The within-school estimate: estimate, se, conf_low, conf_high, p_value."""
        r = self._row("within")
        return {k: float(r[k]) for k in ("estimate", "se", "conf_low", "conf_high", "p_value")}

    @property
    def between(self) -> dict[str, float]:
        """The between-school estimate: estimate, se, conf_low, conf_high, p_value."""
        r = self._row("between")
        return {k: float(r[k]) for k in ("estimate", "se", "conf_low", "conf_high", "p_value")}

    @property
    def min_detectable_within(self) -> float:
        """Smallest within association (result units per index point) that the analysis
        detects with 80 % power at the 5 % level: ``(t_0.975 + t_0.80) × se`` with the
        within row's degrees of freedom (NaN when the interval could not be computed)."""
        from scipy import stats

        r = self._row("within")
        se, df = float(r["se"]), float(r["df"])
        if not (np.isfinite(se) and se > 0 and np.isfinite(df) and df > 0):
            return float("nan")
        return float((stats.t.ppf(0.975, df) + stats.t.ppf(0.80, df)) * se)

    @property
    def n_excluded(self) -> int:
        """School-years left out (reasons in :attr:`exclusions`)."""
        return int(self.exclusions["n"].sum()) if len(self.exclusions) else 0

    def school_changes(self) -> pd.DataFrame:
        """Per school: change in teaching quality beside change in results.

        From the school's first to its last panel row (index years
        ``quality_first_year`` → ``quality_last_year``; results ``lag`` years
        later). ``quality_change_se`` uses the joint error covariance of the
        two yearly indices (independent errors for an index given as a
        table). ``*_per_year`` divide by the years between. Schools with a
        single panel row have NaN changes and a note.
        """
        p = self.panel.sort_values(["school_id", "school_year"], kind="stable")
        first = p.drop_duplicates("school_id", keep="first").reset_index(drop=True)
        last = p.drop_duplicates("school_id", keep="last").reset_index(drop=True)
        sids = first["school_id"].to_numpy(dtype=object)
        n_years = p.groupby("school_id", sort=True).size().reindex(sids).to_numpy(dtype=np.int64)
        span = (last["school_year"].astype(str).str[:4].astype(int).to_numpy(dtype=np.int64)
                - first["school_year"].astype(str).str[:4].astype(int).to_numpy(dtype=np.int64))
        fiy = first["index_year"].to_numpy(dtype=object)
        liy = last["index_year"].to_numpy(dtype=object)
        x0, x1 = first["x"].to_numpy(dtype=float), last["x"].to_numpy(dtype=float)
        y0, y1 = first["y"].to_numpy(dtype=float), last["y"].to_numpy(dtype=float)
        change = (n_years >= 2) & (span > 0)
        # the change's error variance from the joint covariance of the two yearly indices
        var = (self.yearly.variances(sids, fiy) + self.yearly.variances(sids, liy)
               - 2 * self.yearly.covariances((sids, fiy), (sids, liy)))
        nan = np.full(len(sids), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.where(change, np.sqrt(np.maximum(var, 0.0)), np.nan)
            dq = np.where(change, x1 - x0, nan)
            dy = np.where(change, y1 - y0, nan)
            per = np.where(change, span, np.nan)
            out = pd.DataFrame({
                "school_id": sids.tolist(),
                "school_name": [self.names.get(s, s) for s in sids],
                "quality_first_year": fiy.tolist(), "quality_last_year": liy.tolist(),
                "results_first_year": first["school_year"].to_numpy(dtype=object).tolist(),
                "results_last_year": last["school_year"].to_numpy(dtype=object).tolist(),
                "n_years": n_years, "span": span, "quality_first": x0, "quality_last": x1,
                "quality_change": dq, "quality_change_se": se,
                "quality_change_conf_low": dq - Z_95 * se,
                "quality_change_conf_high": dq + Z_95 * se,
                "quality_change_per_year": dq / per, "quality_change_per_year_se": se / per,
                "results_first": y0, "results_last": y1, "results_change": dy,
                "results_change_per_year": dy / per, "suppressed": np.zeros(len(sids), bool),
                "note": np.where(change, "",
                                 "bara ett läsår i panelen; ingen förändring att visa").tolist()})
        cols = ["school_id", "school_name", "quality_first_year", "quality_last_year",
                "results_first_year", "results_last_year", "n_years", "span", "quality_first",
                "quality_last", "quality_change", "quality_change_se", "quality_change_conf_low",
                "quality_change_conf_high", "quality_change_per_year",
                "quality_change_per_year_se", "results_first", "results_last", "results_change",
                "results_change_per_year", "suppressed", "note"]
        return out[cols]

    # -- presentation --------------------------------------------------------
    def _summary_text(self) -> str:
        w, b = self._row("within"), self._row("between")
        label = schema.measure_label(self.measure)
        later = {0: "samma läsår", 1: "ett läsår senare"}.get(self.lag,
                                                             f"{self.lag} läsår senare")
        what = (f"resultatet {later}, justerat för elevsammansättning (observerat minus "
                "förväntat),") if self.adjusted else f"resultatet {later}"
        unit = _unit(self.measure)
        info = schema.measure_info(self.measure)
        step = 0.1
        years = self.info["years"]
        lag_text = {0: "samma läsår", 1: "läsåret innan"}.get(
            self.lag, f"{self.lag} läsår tidigare")

        def eff(r: pd.Series) -> str:
            e = step * float(r["estimate"])
            side = "högre" if e >= 0 else "lägre"
            return (f"{sv_num(abs(e), 1)} {unit} {side} (95 % KI "
                    f"{sv_num(step * r['conf_low'], 1, True)} till "
                    f"{sv_num(step * r['conf_high'], 1, True)})")

        def reading(positive: bool) -> str:
            # what the sign means for this measure: higher is better or worse
            if info.direction not in ("higher_better", "lower_better"):
                return ""
            higher = info.direction == "higher_better"
            good = positive == higher
            return ((" Högre värden är bättre för detta mått" if higher else
                     " Lägre värden är bättre för detta mått")
                    + ", så högre undervisningskvalitet går med "
                    + ("bättre" if good else "sämre") + " utfall.")

        def verdict(r: pd.Series) -> str:
            if not np.isfinite(r["conf_low"]):
                return "Intervallet kunde inte beräknas."
            if r["conf_low"] > 0:
                return "Hela intervallet ligger över noll: ett positivt samband." + reading(True)
            if r["conf_high"] < 0:
                return "Hela intervallet ligger under noll: ett negativt samband." + reading(False)
            return ("Intervallet omfattar noll: underlaget räcker inte för att säga om det "
                    "finns ett samband, åt något håll.")

        lines = [
            f"Undervisningskvalitet och resultat: {label}",
            "",
            f"Underlag: {int(w['n_schools'])} skolor, {int(w['n_years'])} läsår med resultat "
            f"({years[0]}–{years[-1]}), {int(w['n_obs'])} skolenhetsår. Resultaten jämförs med "
            f"undervisningskvaliteten {lag_text}.",
        ]
        if self.n_excluded:
            lines.append(f"{self.n_excluded} skolenhetsår är inte med: " + "; ".join(
                f"{r.reason} ({r.n})" for r in self.exclusions.itertuples(index=False)) + ".")
        lines += [
            "",
            "Inom skolorna (samma skola över tid): när en skolas undervisningskvalitet är "
            f"{sv_num(step, 1)} indexpoäng högre än vanligt för skolan är {what} i genomsnitt "
            f"{eff(w)}. {verdict(w)}",
        ]
        mde = self.min_detectable_within
        if np.isfinite(w["conf_low"]) and w["conf_low"] <= 0 <= w["conf_high"] \
                and np.isfinite(mde):
            lines.append(
                "Inget säkert samband är inte detsamma som inget samband. Med "
                f"{int(w['n_schools'])} skolor och {int(w['n_years'])} läsår kan analysen bara "
                "upptäcka stora samband inom skolorna: det minsta samband som analysen "
                f"upptäcker med 80 % sannolikhet är ungefär {sv_num(step * mde, 1)} {unit} "
                f"per {sv_num(step, 1)} indexpoäng ({sv_num(mde, 1)} {unit} per indexpoäng). "
                "Ett mindre samband kan finnas utan att synas här. Fler läsår i underlaget och "
                "fler observerade lektioner per skola och termin (ett säkrare index) gör "
                "analysen känsligare.")
        lines += [
            "Mellan skolorna: i skolor vars undervisningskvalitet i genomsnitt ligger "
            f"{sv_num(step, 1)} indexpoäng högre är {what} i genomsnitt {eff(b)}. "
            f"{verdict(b)}"
            + ("" if self.adjusted else
               " Skillnader mellan skolor speglar också elevsammansättningen; jämförelsen "
               "inom skolorna håller sådant som inte ändras fast."),
            "",
            "Så läses intervallet: ett 95 %-konfidensintervall visar de värden på sambandet "
            "som är förenliga med data. Det tar hänsyn till att resultaten varierar från år till "
            "år inom samma skola.",
        ]
        lines += self._measurement_text(w, b, eff)
        lines += [
            "",
            "Detta är samband, inte bevis för orsak: skolor förändras i många avseenden "
            "samtidigt. Skola för skola (förändring i undervisningskvalitet bredvid förändring "
            "i resultat) visas i tabellen school_changes() och i diagrammet plot().",
        ]
        return "\n".join(lines)

    def _measurement_text(self, w: pd.Series, b: pd.Series, eff: Any) -> list[str]:
        """The paragraph on measurement error: what the index's error does to the two
        associations, and the corrected estimates beside the naive ones."""
        rel = float(w["reliability"])
        if self.info["shrunken"]:
            return [
                f"Mätfel: indexet bygger på ett urval av lektioner och är därför osäkert. Av "
                f"skillnaderna i undervisningskvalitet inom skolorna fångar indexet ungefär "
                f"{sv_num(100 * rel, 0)} % (reliabilitet {sv_num(rel, 2)}). Indexet är redan "
                "justerat för sin osäkerhet (osäkra värden dras mot skolans trend, en "
                "regressionskalibrering), så sambandet inom skolorna späds inte ut av "
                "mätfelet och behöver ingen ytterligare korrigering; priset är ett bredare "
                "intervall."]
        rel_b = float(b["reliability"])
        head = (f"Mätfel: indexet bygger på ett urval av lektioner. Reliabiliteten för "
                f"förändringar inom skolorna är {sv_num(rel, 2)} och för skillnader mellan "
                f"skolorna {sv_num(rel_b, 2)}. Sambanden ovan är därför utspädda: inom "
                f"skolorna till ungefär {sv_num(100 * rel, 0)} % av sambandet med den "
                "verkliga kvaliteten.")
        cw = self.corrected("within")
        if cw is None:
            return [head + " Korrigerade skattningar har inte beräknats "
                           "(correction=\"none\")."]
        if not np.isfinite(cw["estimate"]) or rel < 0.05:
            return [
                "Mätfel: indexet bygger på ett urval av lektioner, och dess förändringar inom "
                f"skolorna är nästan bara mätfel (reliabilitet {sv_num(rel, 2)}). Sambandet "
                "inom skolorna går inte att tolka och kan inte korrigeras; fler observationer "
                "per termin behövs."]
        method = [c for c in self.corrections if c != "none"][0]
        cw_row, cb_row = self._row("within", method), self._row("between", method)
        text = (head + " Korrigerat för indexets kända mätfel ("
                + CORRECTION_LABELS.get(method, method).split("(")[-1].rstrip(")")
                + f") blir sambanden: inom skolorna {eff(cw_row)} per "
                f"{sv_num(0.1, 1)} indexpoäng, mellan skolorna {eff(cb_row)}. Det är "
                "skattningar av sambanden med den verkliga undervisningskvaliteten, och "
                "intervallen bär också osäkerheten i korrigeringen. Korrigeringen bygger på "
                "indexets angivna medelfel: underskattar de mätfelet blir också "
                "korrigeringen för liten.")
        return [text]

    def plot(self, ax: Axes | None = None, *, school_id: str | None = None,
             kind: Literal["changes", "estimates"] = "changes") -> Axes:
        """``changes`` (default): every school's change in teaching quality per year
        against its change in results per year; ``estimates``: the within and between
        associations per 0.1 index points with 95 % intervals."""
        from .. import plots

        if kind == "changes":
            ch = self.school_changes()
            unit = _unit(self.measure)
            return plots.progressions(
                ch, school_id, x="quality_change_per_year", y="results_change_per_year",
                x_se="quality_change_per_year_se",
                xlabel="Förändring i undervisningskvalitet (indexpoäng per läsår)",
                ylabel=f"Förändring i resultat ({unit} per läsår)", ax=ax)
        import matplotlib

        style: Any = plots.STYLE
        with matplotlib.rc_context(style):
            if ax is None:
                ax = plots.new_figure((6.0, 2.4)).subplots()
            t = self.table
            names = {"within": "Inom skolor", "between": "Mellan skolor"}
            labels = [names.get(r.term, r.term) + ("" if r.correction == "none"
                                                  else ", korrigerat för mätfel")
                      for r in t.itertuples(index=False)]
            for i, r in enumerate(t.itertuples(index=False)):
                ax.errorbar([0.1 * r.estimate], [i],
                            xerr=[[0.1 * (r.estimate - r.conf_low)],
                                  [0.1 * (r.conf_high - r.estimate)]],
                            fmt="o", color=plots.SCHOOL, capsize=3)
            ax.axvline(0, color="#888888", lw=0.8)
            ax.set_yticks(range(len(t)))
            ax.set_yticklabels(labels)
            ax.set_ylim(-0.6, len(t) - 0.4)
            ax.grid(axis="y", visible=False)
            ax.xaxis.set_major_formatter(plots._sv_formatter(1))
            ax.set_xlabel(f"Skillnad i resultat per 0,1 indexpoäng ({plots.CI_TEXT})")
            ax.set_title(schema.measure_label(self.measure))
        return ax


def _unit(measure: str) -> str:
    """The unit a sentence about ``measure`` uses (meritvärde: poäng; ``*_pct``:
    procentenheter; Skolenkäten and own measures: their unit in
    ``schema.measure_info``)."""
    if measure.startswith("merit"):
        return "poäng"
    if measure.endswith("_pct"):
        return "procentenheter"
    return schema.measure_info(measure).unit
