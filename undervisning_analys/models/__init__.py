"""Models: the mixed-model front door, growth, results adjustment, linkage."""

from .mixed import MixedResult, fit_mixed

__all__ = ["MixedResult", "fit_mixed"]
