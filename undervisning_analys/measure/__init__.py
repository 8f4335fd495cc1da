"""Measuring teaching quality: scoring, rater agreement, reliability and the index.

* :mod:`.scoring` – forms → scores and the observers' home schools;
* :mod:`.model` – the teaching-quality model, one fitted object per Dataset and
  score (:class:`TeachingQualityModel`, :func:`teaching_quality_model`);
* :mod:`.index` – the school × term teaching-quality index
  (:func:`teaching_quality`), with :mod:`.aggregate` (counts, suppression,
  areas, municipality) and :mod:`.summary` (the Swedish text);
* :mod:`.coverage` – who and what was observed;
* :mod:`.components` – variance components and the reliability formula;
* :mod:`.reliability` – variance components, the reliability of a school ×
  term mean and the decision study (:func:`plan_observations`);
* :mod:`.agreement` – rater agreement from paired observations (ICC, kappa).
"""

from __future__ import annotations

from .agreement import agreement, icc
from .index import (
    TeachingQualityResult,
    coverage,
    infer_home_schools,
    observer_coverage,
    score_forms,
    teaching_quality,
)
from .model import TeachingQualityModel, teaching_quality_model
from .reliability import (
    ObservationPlan,
    VarianceComponents,
    plan_observations,
    reliability,
    school_designs,
    variance_components,
)

__all__ = [
    "TeachingQualityResult", "coverage", "infer_home_schools", "observer_coverage",
    "score_forms", "teaching_quality", "ObservationPlan", "VarianceComponents",
    "plan_observations", "reliability", "variance_components", "agreement", "icc",
    "TeachingQualityModel", "teaching_quality_model", "school_designs",
]
