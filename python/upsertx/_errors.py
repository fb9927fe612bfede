"""The exceptions upsertx raises. Messages are the command line's; passwords in URLs
never appear in them."""

from __future__ import annotations

from typing import Any, Callable, NoReturn, Optional


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


class ChangesNotWrittenError(UpsertError):
    """The load COMMITTED (unlike every other ``UpsertError``), but its ``changes`` log
    could not be written where it was asked for (a pipe whose reader went away, a path
    replaced by a folder). ``.report`` is the load's report; ``.changes_path`` is the file
    that holds every line of the log, or ``None`` when they could not be kept."""

    def __init__(self, message: str, *, report: Any = None, changes_path: Optional[str] = None, **kw: Any):
        super().__init__(message, **kw)
        self.report = report
        self.changes_path = changes_path


class SyncError(UpsertError):
    """One or more streams of ``upsertx.sync()`` failed (each rolled back, its mark
    too); the others committed. ``.reports`` is every stream's :class:`Report`, in the
    pipeline's order (``.status`` ``"ok"`` or ``"failed"``, ``.error`` why)."""

    def __init__(self, message: str, *, reports: Any = None, **kw: Any):
        super().__init__(message, **kw)
        self.reports = reports


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


def _raise_from_native(e: Exception, report: Callable[[dict], Any]) -> NoReturn:
    """Raises the exception for the engine's error ``e``; ``report`` makes a Report of
    the engine's report dict."""
    kind, message, row, line, column, value, reason, extra = e.args
    if kind == "interrupted":
        raise KeyboardInterrupt(message) from None
    if kind == "changes_not_written":
        fields, path = extra if extra is not None else (None, None)
        raise ChangesNotWrittenError(message, report=None if fields is None else report(fields),
                                     changes_path=None if path is None else str(path)) from None
    cls = _BY_KIND.get(kind, UpsertError)
    raise cls(message, row=row, line=line, column=column, value=value, reason=reason) from None
