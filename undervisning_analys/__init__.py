"""undervisning_analys: observed teaching quality and pupils' results over time.

Public API (see DESIGN.md). Heavy modules (models, plots, reports) load lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from . import errors, schema  # noqa: E402  (light)
from .dataset import Dataset, ProvenanceRecord  # noqa: E402
from .instruments import Instrument, load_instrument  # noqa: E402

_LAZY = {
    "synth": ("undervisning_analys.synth", None),
    "report": ("undervisning_analys.report", None),
    "plots": ("undervisning_analys.plots", None),
    "privacy": ("undervisning_analys.privacy", None),
    "load_sample": ("undervisning_analys.sample", "load_sample"),
    "load_folder": ("undervisning_analys.io.folder", "load_folder"),
    "write_sample": ("undervisning_analys.sample", "write_sample"),
    "read_skolverket": ("undervisning_analys.io", "read_skolverket"),
    "read_skolverket_api": ("undervisning_analys.io", "read_skolverket_api"),
    "read_kolada": ("undervisning_analys.io", "read_kolada"),
    "read_observations": ("undervisning_analys.io", "read_observations"),
    "read_schools": ("undervisning_analys.io", "read_schools"),
    "read_pupil_grades": ("undervisning_analys.io", "read_pupil_grades"),
    "read_skolenkaten": ("undervisning_analys.io", "read_skolenkaten"),
    "read_local_measures": ("undervisning_analys.io", "read_local_measures"),
    "read_pupil_attendance": ("undervisning_analys.io", "read_pupil_attendance"),
    "icc": ("undervisning_analys.measure.agreement", "icc"),
    "agreement": ("undervisning_analys.measure.agreement", "agreement"),
    "fit_mixed": ("undervisning_analys.models.mixed", "fit_mixed"),
    "anova": ("undervisning_analys.models.mixed", "anova"),
    "teaching_quality": ("undervisning_analys.measure.index", "teaching_quality"),
    "growth": ("undervisning_analys.models.growth", "growth"),
    "plan_observations": ("undervisning_analys.measure.reliability", "plan_observations"),
    "adjusted_results": ("undervisning_analys.models.adjust", "adjusted_results"),
    "link": ("undervisning_analys.models.link", "link"),
    "link_outcomes": ("undervisning_analys.models.outcomes", "link_outcomes"),
    "plan_followup": ("undervisning_analys.models.followup", "plan_followup"),
    "rater_drift": ("undervisning_analys.measure.drift", "rater_drift"),
    "item_agreement": ("undervisning_analys.measure.pairs", "item_agreement"),
    "next_steps": ("undervisning_analys.measure.items", "next_steps"),
    "item_dif": ("undervisning_analys.measure.items", "item_dif"),
    "plan_observations_change": ("undervisning_analys.measure.change",
                                 "plan_observations_change"),
    "plan_paired_observations": ("undervisning_analys.measure.pairs", "plan_paired_observations"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod_name, attr = _LAZY[name]
        mod = importlib.import_module(mod_name)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'undervisning_analys' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = ["Dataset", "ProvenanceRecord", "Instrument", "load_instrument", "errors", "schema",
           "__version__", *_LAZY]
