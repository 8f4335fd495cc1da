"""Measuring teaching quality: scoring, rater agreement, reliability and the index.

* :mod:`.index` – forms → scores, the school × term teaching-quality index
  (:func:`teaching_quality`) and observation coverage;
* :mod:`.reliability` – variance components, the reliability of a school ×
  term mean and the decision study (:func:`plan_observations`);
* :mod:`.agreement` – rater agreement from paired observations (kappa), with
  :mod:`.intraclass` (ICC) and :mod:`.severity` (observer severity) beside it;
* :mod:`.drift` – rater drift: the index's model with a trend per observer
  (:func:`rater_drift`).
"""

from __future__ import annotations

from .agreement import agreement, icc
from .drift import RaterDriftResult, rater_drift
from .index import (
    TeachingQualityResult,
    coverage,
    infer_home_schools,
    observer_coverage,
    score_forms,
    teaching_quality,
)
from .reliability import (
    ObservationPlan,
    VarianceComponents,
    plan_observations,
    reliability,
    variance_components,
)

__all__ = [
    "TeachingQualityResult", "coverage", "infer_home_schools", "observer_coverage",
    "score_forms", "teaching_quality", "ObservationPlan", "VarianceComponents",
    "plan_observations", "reliability", "variance_components", "agreement", "icc",
    "RaterDriftResult", "rater_drift",
]
