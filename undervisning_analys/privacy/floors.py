"""The privacy floors, one place for every one of them.

A value computed from fewer than :data:`MIN_PUPILS` (10) pupils is never
shown; a teaching-quality figure from fewer than :data:`MIN_TEACHERS` (3)
teachers or :data:`MIN_OBS` (5) observed lessons is never shown; observer
severity is shown per role only for roles with at least
:data:`MIN_OBSERVERS_PER_ROLE` (3) observers (fewer would describe
individuals). The floors can be raised (:class:`Floors`), never lowered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass as _dataclass

import numpy as np

from ..errors import SuppressedValueError

__all__ = ["DEFAULT_FLOORS", "MIN_OBS", "MIN_OBSERVERS_PER_ROLE", "MIN_PUPILS", "MIN_TEACHERS",
           "Floors", "as_floors"]


MIN_PUPILS = 10
"""No value computed from fewer pupils is shown."""

MIN_TEACHERS = 3
"""No teaching-quality figure from fewer teachers is shown."""

MIN_OBS = 5
"""No teaching-quality figure from fewer observed lessons is shown."""

MIN_OBSERVERS_PER_ROLE = 3
"""Observer severity is shown per role only for roles with at least this many observers."""

@_dataclass(frozen=True)
class Floors:
    """The privacy floors; they can be raised, never lowered.

    Parameters
    ----------
    pupils : fewest pupils behind a shown value (at least :data:`MIN_PUPILS`).
    teachers : fewest teachers behind a shown teaching-quality figure
        (at least :data:`MIN_TEACHERS`).
    obs : fewest observed lessons behind a shown teaching-quality figure
        (at least :data:`MIN_OBS`).

    Raises
    ------
    SuppressedValueError
        In Swedish, when a floor is lower than the minimum or not an integer.

    Examples
    --------
    >>> Floors(pupils=15).pupils
    15
    """

    pupils: int = MIN_PUPILS
    teachers: int = MIN_TEACHERS
    obs: int = MIN_OBS

    def __post_init__(self) -> None:
        for name, minimum, label in (("pupils", MIN_PUPILS, "elever"),
                                     ("teachers", MIN_TEACHERS, "lärare"),
                                     ("obs", MIN_OBS, "observerade lektioner")):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise SuppressedValueError(
                    f"Gränsen för antal {label} ska vara ett heltal, men är {value!r}",
                    hint=f"Ange ett heltal som är {minimum} eller större")
            if value < minimum:
                raise SuppressedValueError(
                    f"Gränsen för antal {label} kan bara höjas, inte sänkas: {value} är lägre "
                    f"än den lägsta tillåtna gränsen {minimum}",
                    hint=f"Ange {minimum} eller mer, eller utelämna gränsen så används {minimum}")
            object.__setattr__(self, name, int(value))


DEFAULT_FLOORS = Floors()


def as_floors(floors: Floors | Mapping[str, int] | None = None) -> Floors:
    """Floors from ``None`` (the defaults), a :class:`Floors` or a mapping such as ``{"pupils": 15}``."""
    if floors is None:
        return DEFAULT_FLOORS
    if isinstance(floors, Floors):
        return floors
    if isinstance(floors, Mapping):
        unknown = sorted(set(floors) - {"pupils", "teachers", "obs"})
        if unknown:
            raise SuppressedValueError(
                f"Okänd gräns: {', '.join(unknown)}",
                hint="Tillåtna gränser är pupils, teachers och obs")
        return Floors(**floors)
    raise TypeError(f"floors must be Floors, a mapping or None, not {type(floors).__name__}")
