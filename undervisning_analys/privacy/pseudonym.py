"""Keyed pseudonyms for personnummer (HMAC-SHA256 with the user's secret).

Pupil-level loaders replace the personnummer with :func:`pseudonymise` before
any other code sees the rows, and drop name columns at read time.

Decisions
---------
* The pseudonym is the first 20 hex digits (80 bits) of
  HMAC-SHA256(key, normalised 12-digit personnummer). Normalising first
  (:func:`~undervisning_analys.privacy.personnummer.normalise_personnummer`)
  means ``900101-1234``, ``19900101-1234`` and ``199001011234`` give the same
  pseudonym.
* The key comes from the ``key`` argument or the environment variable
  ``UA_PSEUDONYM_KEY``; without one the functions refuse
  (:class:`~undervisning_analys.errors.MissingKeyError`). The same key gives
  the same pseudonyms across files and years (so a pupil can be followed); a
  different key gives unrelated pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import MissingKeyError
from .personnummer import _as_text, normalise_personnummer

__all__ = ["KEY_ENV", "PSEUDONYM_LENGTH", "get_key", "pseudonymise"]


KEY_ENV = "UA_PSEUDONYM_KEY"
"""Environment variable that holds the pseudonymisation key."""

PSEUDONYM_LENGTH = 20
"""Hex digits of the HMAC kept as the pseudonym (80 bits)."""


def get_key(key: str | bytes | None = None) -> bytes:
    """The pseudonymisation key: the argument, else ``$UA_PSEUDONYM_KEY``; refuse without one."""
    if key is None:
        key = os.environ.get(KEY_ENV)
    if key is None or (isinstance(key, (str, bytes)) and len(key.strip()) == 0):
        raise MissingKeyError(
            "Pseudonymisering kräver en hemlig nyckel, men ingen nyckel angavs",
            hint=f"Ange key='…' eller sätt miljövariabeln {KEY_ENV}. Använd samma nyckel "
                 "varje år så att samma elev får samma pseudonym, och förvara nyckeln "
                 "åtskild från data")
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def pseudonymise(values: pd.Series | Sequence[object], key: str | bytes | None = None
                 ) -> pd.Series | list[str | None]:
    """Replace personnummer with keyed pseudonyms (HMAC-SHA256, 20 hex digits).

    Parameters
    ----------
    values : personnummer in any usual form (see module docstring).
    key : the secret; default ``$UA_PSEUDONYM_KEY``. Without one:
        :class:`~undervisning_analys.errors.MissingKeyError`.

    Returns
    -------
    A Series with the same index (for a Series), else a list. Missing values
    stay missing. Values that are not personnummer are pseudonymised as
    written (stripped, upper-cased), so nothing identifying passes through.
    """
    k = get_key(key)

    def one(v: object) -> str | None:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return None
        norm = normalise_personnummer(v) or _as_text(v).upper().replace(" ", "")
        if norm == "":
            return None
        return hmac.new(k, norm.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]

    if isinstance(values, pd.Series):
        return values.map(one).astype(object)
    return [one(v) for v in values]
