"""upsertx: bulk upsert DataFrames, Arrow data, rows and files into SQL tables.

    import upsertx
    report = upsertx.upsert(df, "postgres://app@db/shop", "orders", key="id")
    print(report.inserted, report.updated)

New keys are inserted, existing keys updated (only when something changed), all in one
transaction on SQLite, PostgreSQL or MySQL/MariaDB, with an exact report. The work is
done by the same Rust engine as the ``upsertx`` command, with the GIL released.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional, Sequence, Union

from . import _native
from ._errors import (
    ChangesNotWrittenError,
    ConflictError,
    DatabaseError,
    DuplicateKeyError,
    InvalidValueError,
    KeyExistsError,
    RefusedError,
    SchemaError,
    UpsertError,
    UsageError,
    _raise_from_native,
)
from ._inputs import default_table, to_source
from ._targets import db_url, table_name
from ._progress import progress_callback

__version__: str = _native.__version__

__all__ = [
    "upsert",
    "Report",
    "UpsertError",
    "InvalidValueError",
    "DuplicateKeyError",
    "KeyExistsError",
    "ConflictError",
    "SchemaError",
    "DatabaseError",
    "RefusedError",
    "ChangesNotWrittenError",
    "UsageError",
]


@dataclass(frozen=True)
class Report:
    """What a load did. Always ``rows_read == inserted + updated + unchanged + ignored +
    duplicates``."""

    table: str
    #: Data rows read from the input.
    rows_read: int
    #: New keys written as new rows.
    inserted: int
    #: Existing rows rewritten.
    updated: int
    #: Existing rows whose updated columns were all equal already (not rewritten).
    unchanged: int
    #: Existing keys left alone by ``on_conflict="ignore"``.
    ignored: int
    #: Rows dropped because their key appeared again in the input.
    duplicates: int
    #: Rows deleted from the table.
    deleted: int
    #: Existing rows left alone by ``newer_by``: they differ, but are not newer.
    stale: int
    #: The table was created by this load.
    created: bool
    #: What ``evolve`` changed in the table, e.g. ``'added column "tier" text'``.
    schema_changes: tuple
    #: Nothing was committed: the counts say what would have happened.
    dry_run: bool
    elapsed_ms: int
    _text: str = ""

    def to_dict(self) -> dict:
        """The report as a plain dict (the same fields as the command line's ``--json``)."""
        d = asdict(self)
        d.pop("_text")
        d["schema_changes"] = list(self.schema_changes)
        return d

    def __str__(self) -> str:
        return self._text


def _names(value: Union[str, Sequence[str], None], what: str) -> Optional[list]:
    if value is None:
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    names = list(value)
    if not all(isinstance(n, str) for n in names):
        raise UsageError(f"{what} takes a column name or a list of column names")
    return names


def _max_delete(value: Union[int, str]) -> str:
    """``max_delete`` as the command line takes it: a number of rows, or ``"5%"``."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise UsageError('max_delete takes a number of rows (1000) or a percentage ("5%")')
    return str(value)


def _as_of(value: Union[str, datetime.datetime, datetime.date]) -> str:
    """``as_of`` as the command line takes it: ISO 8601 text."""
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise UsageError("as_of takes ISO 8601 text, a datetime or a date")


def upsert(
    data: Any,
    db: Any,
    table: Any = None,
    *,
    key: Union[str, Sequence[str], None] = None,
    constraint: Optional[str] = None,
    key_where: Optional[str] = None,
    on_conflict: str = "update",
    update: Optional[Sequence[str]] = None,
    no_update: Optional[Sequence[str]] = None,
    always_update: bool = False,
    duplicates: str = "last",
    create: bool = False,
    dry_run: bool = False,
    delete_missing: bool = False,
    scope: Union[str, Sequence[str], None] = None,
    scope_where: Optional[str] = None,
    allow_empty: bool = False,
    max_delete: Union[int, str, None] = None,
    soft_delete: Optional[str] = None,
    replace_where: Optional[str] = None,
    newer_by: Optional[str] = None,
    changes: Union[str, "os.PathLike[str]", None] = None,
    evolve: bool = False,
    history: Union[str, Sequence[str], None] = None,
    current_flag: Optional[str] = None,
    as_of: Union[str, datetime.datetime, datetime.date, None] = None,
    format: Optional[str] = None,
    progress: bool = False,
    from_db: Any = None,
    query: Optional[str] = None,
) -> Report:
    """Upserts ``data`` into ``table`` of the database ``db``, in one transaction.

    data: a polars or pyarrow object (anything with ``__arrow_c_stream__``, taken
        without a copy), a pandas DataFrame (a named index becomes columns), a polars
        LazyFrame, a list or iterator of dicts (or of SQLAlchemy ORM objects or
        dataclasses: their mapped columns or fields), or the path of a file the command line
        reads (CSV, TSV, JSON, NDJSON, Parquet, Arrow IPC). ``None`` with ``from_db``
        and ``query``: the rows of a query on another database.
    db: a URL (``sqlite://path.db``, ``postgres://user:pw@host/db``,
        ``mysql://user:pw@host/db``) or a SQLAlchemy ``Engine``, ``Connection`` or ``URL``.
    table: a table name, or a SQLAlchemy ``Table`` or ORM model class. Default: the
        file's stem for a path; for a list of SQLAlchemy ORM objects their class's
        table, for a list of dataclasses their ``__tablename__`` or class name.

    The keywords mean what the command line's options of the same name mean:
    ``key`` (a name, ``"a,b"`` or a list; default the primary key), ``constraint``,
    ``key_where``, ``on_conflict`` (``"update"``, ``"ignore"``, ``"error"``),
    ``update`` / ``no_update`` (column lists), ``always_update``, ``duplicates``
    (``"last"``, ``"first"``, ``"error"``), ``create``, ``dry_run``, ``format``,
    ``from_db`` / ``query``; ``delete_missing`` with ``scope`` (a name, ``"a,b"`` or a
    list), ``scope_where`` (your own SQL), ``allow_empty``, ``max_delete`` (a number
    of rows, or a percentage as ``"5%"``) and ``soft_delete`` (a column name);
    ``replace_where`` (your own SQL: the window the input replaces); ``newer_by`` (a
    column: existing rows are updated only by newer values, the others counted
    ``stale``); ``changes`` (a path, or ``"-"`` for stdout: one JSON line per row
    inserted, updated or deleted, written once the load commits); ``evolve`` (add the
    input's columns the table lacks, listed in the report's ``schema_changes``); ``history`` (the
    table's two columns ``"valid_from,valid_to"`` or a pair: keep every version of
    each entity, a slowly changing dimension of type 2) with ``current_flag`` (a boolean
    column) and ``as_of`` (the load's time: ISO 8601 text, a ``datetime`` (naive means
    UTC) or a ``date``; default when the load starts). ``progress=True`` shows a progress bar on stderr (tqdm's, in a notebook
    too, when tqdm is installed).

    Returns a :class:`Report`; raises an :class:`UpsertError` subclass on failure, with
    nothing written. Ctrl-C stops the load between batches and rolls it back.
    """
    if (from_db is None) != (query is None):
        raise UsageError("from_db and query go together: the rows of query on the database from_db")
    if from_db is not None:
        if data is not None:
            raise UsageError("pass either data or from_db with query, not both")
        kind, payload, name = "query", query, "query"
        source_db: Optional[str] = db_url(from_db)
    else:
        if data is None:
            raise UsageError("no data: pass a DataFrame, rows, a path, or from_db with query")
        kind, payload, name = to_source(data)
        source_db = None
        if table is None:
            table = default_table(data)
    if table is None and kind != "path":
        raise UsageError("name the target table: table=\"name\" (or a SQLAlchemy Table or model class)")
    if update is not None and no_update is not None:
        raise UsageError("update and no_update cannot be used together")
    callback: Optional[Callable[[Optional[int]], None]] = None
    bar = None
    if progress:
        bar, callback = progress_callback(data)
    try:
        result = _native.upsert(
            kind,
            payload,
            name,
            db_url(db),
            from_db=source_db,
            table=table_name(table),
            key=_names(key, "key"),
            constraint=constraint,
            key_where=key_where,
            on_conflict=on_conflict,
            update=_names(update, "update"),
            no_update=_names(no_update, "no_update"),
            always_update=bool(always_update),
            duplicates=duplicates,
            create=bool(create),
            dry_run=bool(dry_run),
            delete_missing=bool(delete_missing),
            scope=_names(scope, "scope"),
            scope_where=scope_where,
            allow_empty=bool(allow_empty),
            max_delete=None if max_delete is None else _max_delete(max_delete),
            soft_delete=soft_delete,
            replace_where=replace_where,
            newer_by=newer_by,
            changes=None if changes is None else os.fspath(changes),
            evolve=bool(evolve),
            history=_names(history, "history"),
            current_flag=current_flag,
            as_of=None if as_of is None else _as_of(as_of),
            format=format,
            progress=callback,
        )
    except _native.NativeError as e:
        _raise_from_native(e, _report)
    finally:
        if bar is not None:
            bar.close()
    return _report(result)


def _report(fields: dict) -> "Report":
    """A Report of the engine's report dict."""
    fields = dict(fields)
    text = fields.pop("text")
    fields["schema_changes"] = tuple(fields["schema_changes"])
    return Report(**fields, _text=text)
