"""The mixed-model front door, where users import it from.

The implementation lives in the engine layer (:mod:`undervisning_analys.engine.mixed`);
this module re-exports it so that ``from undervisning_analys.models.mixed import
fit_mixed`` and ``ua.fit_mixed`` keep working.
"""

from __future__ import annotations

from ..engine.anova import AnovaResult, anova
from ..engine.mixed import Z_95, MixedResult, VarCorrTable, fit_mixed

__all__ = ["fit_mixed", "anova", "AnovaResult", "MixedResult", "VarCorrTable", "Z_95"]
