"""The exceptions upsertx raises. Messages are the command line's; passwords in URLs
never appear in them."""

from __future__ import annotations

from typing import NoReturn, Optional


class UpsertError(Exception):
    """Base class of every upsertx error. Nothing was written when it is raised."""

    def __init__(self, message: str, *, row: Optional[int] = None, line: Optional[int] = None,
                 column: Optional[str] = None, value: Optional[str] = None, reason: Optional[str] = None):
        super().__init__(message)
        self.message = message
        #: The input row (from 1) the error is about, when there is one.
        self.row = row
        #: The line of the input file the row starts on (text formats).
        self.line = line
        #: The column, for a refused value.
        self.column = column
        #: The value as it appeared in the input (``None`` for NULL).
        self.value = value
        #: Why it was refused.
        self.reason = reason


class InvalidValueError(UpsertError, ValueError):
    """A value does not fit its column (or the input is malformed): ``.row``, ``.line``,
    ``.column``, ``.value`` and ``.reason`` say where and why."""


class DuplicateKeyError(UpsertError):
    """A key appears twice in the input and ``duplicates="error"`` was asked for."""


class KeyExistsError(UpsertError):
    """A key already exists in the table and ``on_conflict="error"`` was asked for."""


class ConflictError(UpsertError):
    """A row collides with another on a unique constraint other than the key."""


class SchemaError(UpsertError):
    """The table, its key or its columns do not allow the load as asked."""


class DatabaseError(UpsertError):
    """The database refused a statement or could not be reached."""


class RefusedError(UpsertError):
    """A guard refused the load: ``delete_missing`` on an empty input without
    ``allow_empty``, or more deletions than ``max_delete``."""


class UsageError(UpsertError, ValueError):
    """The call itself is wrong: conflicting options, a bad URL, an unknown format."""


_BY_KIND = {
    "usage": UsageError,
    "value": InvalidValueError,
    "input": InvalidValueError,
    "source": InvalidValueError,
    "duplicate_key": DuplicateKeyError,
    "key_exists": KeyExistsError,
    "conflict": ConflictError,
    "schema": SchemaError,
    "database": DatabaseError,
    "refused": RefusedError,
}


def _raise_from_native(e: Exception) -> NoReturn:
    kind, message, row, line, column, value, reason = e.args
    if kind == "interrupted":
        raise KeyboardInterrupt(message) from None
    cls = _BY_KIND.get(kind, UpsertError)
    raise cls(message, row=row, line=line, column=column, value=value, reason=reason) from None
