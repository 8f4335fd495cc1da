"""Swedish display text and the constants every stage shares (foundation).

One place for how a number is written for a Swedish reader and for the few
constants that were typed out in several modules. This module imports nothing
from the package, so every layer (io, engine, measure, models, privacy, plots,
report, cli) may import it.

Conventions (one for the whole package):

* decimal comma, a real minus sign (U+2212), no minus on a zero;
* thousands grouped with a narrow no-break space (U+202F), so ``12 345`` never
  breaks across lines;
* rounded half away from zero as statistical publications do
  (``number(2.25) == "2,3"``), from the shortest representation of the float;
* ``..`` for a missing or not shown value (Skolverket's mark for "not shown");
* an integer is written without decimals (a count);
* ``sign=True`` writes ``+`` before a positive number, ``percent=True``
  appends `` %`` (with a no-break space, as Swedish writes it).

The status marks of published statistics (``..`` suppressed, ``.`` missing,
``~100``, ``*``) belong to :mod:`undervisning_analys.privacy`, whose
``format_value`` writes the number itself with :func:`number`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from numbers import Integral, Real

__all__ = ["MINUS", "MISSING", "NBSP", "THOUSANDS", "Z_95", "number", "swedish_key",
           "text_table"]

#: The 97.5 % quantile of the standard normal distribution, the multiplier of a
#: two-sided 95 % interval (``scipy.stats.norm.ppf(0.975)``; a test checks it).
Z_95 = 1.959963984540054

#: A real minus sign (U+2212), as Swedish typography writes it.
MINUS = "\u2212"
#: The thousands separator: a narrow no-break space (U+202F).
THOUSANDS = "\u202f"
#: A no-break space (U+00A0), e.g. between a number and ``%``.
NBSP = "\u00a0"
#: What is written for a value that is missing or not shown.
MISSING = ".."


def _is_missing(x: object) -> bool:
    if x is None:
        return True
    try:
        return not math.isfinite(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True


def number(x: object, decimals: int | None = 1, sign: bool = False, *,
           percent: bool = False, thousands: str = THOUSANDS,
           missing: str = MISSING) -> str:
    """A number as Swedish display text.

    Parameters
    ----------
    x : a float, an integer (written without decimals), a Decimal, or missing
        (None, NaN, ±inf, ``pd.NA``).
    decimals : decimals for a non-integer; ``None`` for as many as the number
        needs (``number(0.25, None) == "0,25"``, ``number(3.0, None) == "3"``).
    sign : write ``+`` before a positive number.
    percent : append `` %`` (no-break space before the sign); the number is
        written as given (pass 12.3 for 12,3 %).
    thousands : the thousands separator (default a narrow no-break space; ``""``
        for none).
    missing : the text for a missing value (default ``..``).

    Returns
    -------
    ``number(-1234.56) == "−1 234,6"`` (with U+2212 and U+202F),
    ``number(0.05, 2, sign=True) == "+0,05"``, ``number(None) == ".."``.

    Raises
    ------
    TypeError
        For a bool or a value that is not a number.
    """
    if isinstance(x, bool) or (type(x).__name__ == "bool_"):
        raise TypeError("number() expects a number, not a bool")
    if _is_missing(x):
        if x is None or isinstance(x, Real) or type(x).__name__ in ("NAType", "NaTType"):
            return missing
        raise TypeError(f"number() expects a number, not {type(x).__name__}")
    if isinstance(x, Integral):
        dec = Decimal(int(x))
        places = 0
    else:
        if isinstance(x, Decimal):
            dec = x
        elif isinstance(x, Real):
            dec = Decimal(repr(float(x)))
        else:
            raise TypeError(f"number() expects a number, not {type(x).__name__}")
        if decimals is None:
            dec = dec.normalize()
            places = max(0, -dec.as_tuple().exponent)  # type: ignore[operator]
        else:
            places = int(decimals)
            dec = dec.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if dec == 0:
        dec = abs(dec)
    text = format(abs(dec), f",.{places}f").replace(",", "\0").replace(".", ",")
    text = text.replace("\0", thousands)
    if dec < 0:
        text = MINUS + text
    elif sign and dec > 0:
        text = "+" + text
    if percent:
        text += NBSP + "%"
    return text


def text_table(header: Sequence[object], body: Sequence[Sequence[object]],
               gap: str = "  ") -> list[str]:
    """A plain-text table: the first column left-aligned, the others right-aligned.

    Returns the lines (header first) without trailing spaces, for a printed
    summary. Cells are written with ``str``; format numbers with
    :func:`number` first.
    """
    rows = [list(header), *[list(r) for r in body]]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    return [gap.join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                     for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]


#: å, ä and ö after z (as Swedish orders them: ``{|}`` follow ``z`` in ASCII);
#: é with e and ü with y, as Swedish dictionaries file them.
_SV_ORDER = str.maketrans({"å": "{", "ä": "|", "ö": "}", "é": "e", "è": "e", "ü": "y",
                           "à": "a", "á": "a"})


def swedish_key(text: object) -> str:
    """A sort key that orders names as Swedish does: … x y z å ä ö, case ignored.

    Python sorts by code point, which puts ``ä`` (U+00E4) before ``å`` (U+00E5)
    and both after every ASCII letter in uppercase-first order. Spaces and
    digits sort before letters, as in a Swedish index (``Ale skola`` before
    ``Alebacken``). Use as ``sorted(names, key=swedish_key)`` or
    ``df.sort_values(col, key=lambda s: s.map(swedish_key))``.
    """
    return str(text).lower().translate(_SV_ORDER)
