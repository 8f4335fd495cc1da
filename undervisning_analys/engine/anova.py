"""Likelihood-ratio tests between nested mixed models (lme4's ``anova(m0, m1)``).

``ua.anova`` is this module's :func:`anova`; its values are compared with R's
``anova()`` in ``tests/test_formula_r.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._format import number, text_table
from .._results import Result
from ..errors import ModelError
from .mixed import MixedResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["anova", "AnovaResult"]


# --------------------------------------------------------------------------- #
# likelihood-ratio tests between nested models
# --------------------------------------------------------------------------- #
_ANOVA_COLUMNS = ["model", "formula", "npar", "aic", "bic", "loglik", "deviance", "chisq",
                  "df", "p_value"]


def anova(*models: MixedResult) -> AnovaResult:
    """Likelihood-ratio tests between nested mixed models, as lme4's ``anova(m0, m1)``.

    REML fits are refitted with maximum likelihood first (as lme4 does: REML
    criteria of models with different fixed effects are not comparable). The
    models are ordered by their number of parameters; each row after the first
    tests it against the row before: ``chisq`` = the drop in deviance, ``df`` =
    the extra parameters, ``p_value`` from the chi-square distribution. All
    models must be fitted to the same rows with the same outcome and family.

    Raises
    ------
    ModelError
        Fewer than two models, a model that is not a ``MixedResult``, or models
        fitted to different data, outcomes or families.
    """
    from scipy import stats

    if len(models) < 2:
        raise ModelError("anova behöver minst två modeller att jämföra",
                         hint="Exempel: ua.anova(m0, m1) med m0 nästlad i m1")
    for k, m in enumerate(models, 1):
        if not isinstance(m, MixedResult):
            raise ModelError(f"Argument {k} till anova är inte en modell från fit_mixed "
                             f"(det är {type(m).__name__})")
    first = models[0]
    for k, m in enumerate(models[1:], 2):
        same_rows = (m.nobs == first.nobs and m._row_index.equals(first._row_index))
        same_y = same_rows and np.allclose(m._response(), first._response(), equal_nan=True)
        if not same_rows or not same_y or m.family != first.family:
            what = ("olika familjer" if m.family != first.family else
                    "olika rader" if not same_rows else "olika utfall")
            raise ModelError(
                f"Modell 1 och modell {k} kan inte jämföras: de är anpassade till {what} "
                f"({first.formula!r}: {first.nobs} rader; {m.formula!r}: {m.nobs} rader)",
                hint=("Anpassa modellerna till samma data: saknade värden i en variabel som "
                      "bara den större modellen har tar bort rader; ta bort dem ur data först"))
    fitted = [m._as_ml() for m in models]
    order = sorted(range(len(models)), key=lambda i: fitted[i]._npar)
    rows = []
    prev: MixedResult | None = None
    for i in order:
        m = fitted[i]
        row = {"model": f"modell {i + 1}", "formula": m.formula, "npar": m._npar,
               "aic": m.aic, "bic": m.bic, "loglik": m.loglik, "deviance": m.deviance,
               "chisq": np.nan, "df": np.nan, "p_value": np.nan}
        if prev is not None:
            df = m._npar - prev._npar
            chisq = prev.deviance - m.deviance
            row.update({"chisq": chisq, "df": df,
                        "p_value": float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan})
        rows.append(row)
        prev = m
    refitted = any(m.reml for m in models)
    return AnovaResult(pd.DataFrame(rows, columns=_ANOVA_COLUMNS), refitted=refitted)


class AnovaResult(Result):
    """Likelihood-ratio tests between nested mixed models (made by :func:`anova`)."""

    def __init__(self, table: pd.DataFrame, refitted: bool) -> None:
        self._table = table
        self._refitted = bool(refitted)

    @property
    def refitted(self) -> bool:
        """True when REML fits were refitted with maximum likelihood for the test."""
        return self._refitted

    def _tidy(self) -> pd.DataFrame:
        return self._table.copy()

    def _summary_text(self) -> str:
        t = self.tidy()
        lines = ["Likelihoodkvottest mellan nästlade modeller",
                 "Varje rad efter den första prövar om modellen förklarar data bättre än "
                 "raden före: chi2 är minskningen i devians (−2 log-likelihood), df antalet "
                 "extra parametrar och p sannolikheten för en minst så stor minskning om "
                 "de extra parametrarna vore noll. Lägre AIC och BIC är bättre."]
        if self._refitted:
            lines.append("REML-anpassade modeller anpassades om med maximum likelihood före "
                         "jämförelsen (som lme4:s anova).")
        lines.append("")
        header = ["modell", "parametrar", "AIC", "BIC", "log-likelihood", "devians", "chi2",
                  "df", "p"]
        body = [[r.model, str(r.npar), number(r.aic, 1), number(r.bic, 1), number(r.loglik, 2),
                 number(r.deviance, 2), number(r.chisq, 2),
                 "" if pd.isna(r.df) else str(int(r.df)),
                 "" if pd.isna(r.p_value) else ("< 0,0001" if r.p_value < 1e-4
                                                else number(r.p_value, 4))]
                for r in t.itertuples(index=False)]
        lines += text_table(header, body)
        lines += [""] + [f"{r.model}: {r.formula}" for r in t.itertuples(index=False)]
        return "\n".join(lines)

    def plot(self, ax: Axes | None = None) -> Axes:
        """The models' AIC (lower is better), one bar per model."""
        import matplotlib.pyplot as plt

        t = self.tidy()
        if ax is None:
            _, ax = plt.subplots(figsize=(6.0, 0.5 * len(t) + 1.5))
        ax.barh(t["model"], t["aic"], color="C0")
        ax.set_xlabel("AIC (lägre är bättre)")
        ax.set_title("Jämförelse av modeller")
        return ax
