"""Privacy at the edges: personnummer guard, keyed pseudonyms, floors and suppression.

One subpackage, one module per job; every name is available as
``undervisning_analys.privacy.<name>``:

* :mod:`.personnummer`: recognise personnummer and refuse columns that hold
  them (every loader calls :func:`refuse_personnummer_columns`);
* :mod:`.pseudonym`: keyed pseudonyms (HMAC-SHA256) for pupil-level loaders;
* :mod:`.floors`: every privacy floor (pupils 10, teachers 3, observed
  lessons 5, observers per role 3) and :class:`Floors`;
* :mod:`.suppression`: primary and secondary suppression of results and
  teaching-quality tables, and of observer roles;
* :mod:`.teachers`: nothing identifies a teacher;
* :mod:`.display`: Swedish display strings with Skolverket's marks.

Rules (DESIGN.md, Privacy): no personnummer or name survives loading; no
output shows a figure from fewer than 10 pupils or fewer than 3 teachers / 5
observations; nothing identifies or ranks a teacher.
"""

from __future__ import annotations

from .display import (
    APPROX_100_MARK,
    EXCLUDED_MARK,
    MISSING_MARK,
    SUPPRESSED_MARK,
    Kind,
    format_table,
    format_value,
)
from .floors import (
    DEFAULT_FLOORS,
    MIN_OBS,
    MIN_OBSERVERS_PER_ROLE,
    MIN_PUPILS,
    MIN_TEACHERS,
    Floors,
    as_floors,
)
from .personnummer import (
    is_personnummer,
    looks_like_personnummer,
    normalise_personnummer,
    refuse_personnummer_columns,
    sex_of_personnummer,
)
from .pseudonym import KEY_ENV, PSEUDONYM_LENGTH, get_key, pseudonymise
from .suppression import (
    QUALITY_VALUE_COLUMNS,
    REASON_COLUMN,
    RESULTS_PARTITIONS,
    suppress_observer_roles,
    suppress_quality,
    suppress_results,
)
from .teachers import assert_no_teacher_columns, drop_teacher_identifiers, teacher_columns

__all__ = [
    # personnummer guard and pseudonyms
    "KEY_ENV", "PSEUDONYM_LENGTH", "get_key", "is_personnummer", "looks_like_personnummer",
    "normalise_personnummer", "pseudonymise", "refuse_personnummer_columns",
    "sex_of_personnummer",
    # floors
    "DEFAULT_FLOORS", "MIN_OBS", "MIN_OBSERVERS_PER_ROLE", "MIN_PUPILS", "MIN_TEACHERS",
    "Floors", "as_floors",
    # suppression
    "QUALITY_VALUE_COLUMNS", "REASON_COLUMN", "RESULTS_PARTITIONS", "suppress_observer_roles",
    "suppress_quality", "suppress_results",
    # teachers
    "assert_no_teacher_columns", "drop_teacher_identifiers", "teacher_columns",
    # display
    "APPROX_100_MARK", "EXCLUDED_MARK", "MISSING_MARK", "SUPPRESSED_MARK", "Kind",
    "format_table", "format_value",
]
