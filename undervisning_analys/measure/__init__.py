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
* :mod:`.agreement` – rater agreement from paired observations (kappa), with
  :mod:`.intraclass` (ICC) and :mod:`.severity` (observer severity) beside it;
* :mod:`.pairs` – paired observations: agreement item by item
  (:func:`item_agreement`) and the double-coding design
  (:func:`plan_paired_observations`);
* :mod:`.change` – reliability of change: lessons per term to detect a
  school's change (:func:`plan_observations_change`);
* :mod:`.items` – item by item: each school's next steps (:func:`next_steps`)
  and differential item functioning (:func:`item_dif`);
* :mod:`.drift` – rater drift: the index's model with a trend per observer
  (:func:`rater_drift`).
"""

from __future__ import annotations

from .agreement import agreement, icc
from .change import ChangePlan, change_se, plan_observations_change
from .drift import RaterDriftResult, rater_drift
from .index import (
    TeachingQualityResult,
    coverage,
    infer_home_schools,
    observer_coverage,
    score_forms,
    teaching_quality,
)
from .items import ItemDIFResult, NextStepsResult, item_dif, next_steps
from .model import TeachingQualityModel, teaching_quality_model
from .pairs import ItemAgreementResult, PairedDesign, item_agreement, plan_paired_observations
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
    "RaterDriftResult", "rater_drift", "ItemAgreementResult", "PairedDesign", "item_agreement",
    "plan_paired_observations", "ChangePlan", "change_se", "plan_observations_change",
    "ItemDIFResult", "NextStepsResult", "item_dif", "next_steps",
]
