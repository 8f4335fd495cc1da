"""Exception and warning classes, in one place.

Every error the package raises on purpose is a subclass of :class:`UAError`.
Messages are in Swedish (users read them); they say what was expected, what
was found, where (file, row, column) and what to do about it.

Row numbers in messages are the 1-based line numbers of the source file (for
CSV and text files) or the Excel row number (for XLSX), so that a user can
open the file and go straight to the cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def where(file: str | Path | None = None, row: int | None = None,
          column: str | None = None, table: str | None = None,
          sheet: str | None = None) -> str:
    """Swedish location phrase: 'i filen x.xlsx, bladet `Svar`, rad 14, kolumn `poang`'."""
    parts: list[str] = []
    if table is not None:
        parts.append(f"i tabellen `{table}`")
    if file is not None:
        parts.append(f"i filen {Path(file).name}")
    if sheet:
        parts.append(f"bladet `{sheet}`")
    if row is not None:
        parts.append(f"rad {row}")
    if column is not None:
        parts.append(f"kolumn `{column}`")
    return ", ".join(parts)


class UAError(Exception):
    """Base class of every error raised by undervisning_analys."""

    def __init__(self, message: str, *, file: str | Path | None = None,
                 row: int | None = None, column: str | None = None,
                 table: str | None = None, hint: str | None = None,
                 sheet: str | None = None) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.table = table
        self.hint = hint
        self.sheet = sheet
        super().__init__(self._text())

    def _text(self) -> str:
        loc = where(self.file, self.row, self.column, self.table, self.sheet)
        text = self.message
        if loc:
            text = f"{self.message} ({loc})"
        if self.hint:
            text = f"{text}. {self.hint}"
        return text

    def in_sheet(self, sheet: str) -> UAError:
        """The same error, its location naming the workbook's sheet (``blad``)."""
        self.sheet = sheet
        self.args = (self._text(), *self.args[1:])
        return self


class ValidationError(UAError):
    """A canonical table breaks its schema (dtype, vocabulary, code format, range)."""

    def __init__(self, message: str, *, failures: Sequence[dict] | None = None, **kw) -> None:
        self.failures = list(failures or [])
        super().__init__(message, **kw)


class FileFormatError(UAError):
    """A file cannot be read as the format its loader expects."""


class UnknownReportError(FileFormatError):
    """A Skolverket export whose report type the loader does not recognise."""


class MissingColumnError(FileFormatError):
    """A required column is absent from a file."""


class ValueFormatError(FileFormatError):
    """A cell holds a value that cannot be parsed (number, date, code)."""


class ScaleError(ValueFormatError):
    """An observation score outside the instrument's scale."""


class PlanError(FileFormatError):
    """A plan or dialogue-notes workbook (or YAML) has a cell that cannot be used.

    Besides file, row and column the message names the workbook's sheet
    (``blad``); for YAML the column is the key path (``mal[2].malvarde``).
    """

    def __init__(self, message: str, *, sheet: str | None = None, **kw) -> None:
        super().__init__(message, sheet=sheet, **kw)


class UnknownItemError(FileFormatError):
    """An observation export has an item the instrument does not know."""


class UnknownSchoolError(UAError):
    """A school code that is not in the schools table."""


class DuplicateRowsError(FileFormatError):
    """The same observation (or record) appears more than once."""


class InstrumentError(UAError):
    """An observation protocol (YAML) is malformed."""


class PersonalNumberFound(UAError):
    """A column looks like it holds personnummer where none may be."""


class MissingKeyError(UAError):
    """Pseudonymisation needs a secret key and none was given."""


class SuppressedValueError(UAError):
    """A value below the privacy floors was asked for where it may not be shown."""


class ModelError(UAError):
    """A model cannot be specified or fitted with the data given."""


class UAWarning(UserWarning):
    """Base class of the package's warnings (Swedish text)."""


class DataDroppedWarning(UAWarning):
    """Rows were left out of an analysis; the count is in provenance."""


class ConvergenceWarning(UAWarning):
    """An optimiser stopped with a warning (singular fit, gradient, …)."""
