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
import difflib
import inspect
import json
import os
import textwrap
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
    SyncError,
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
    "sync",
    "SyncError",
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
    #: ``sync()`` only: the stream's name.
    stream: Optional[str] = None
    #: ``sync()`` only: ``"ok"``, or ``"failed"`` (nothing of it written).
    status: Optional[str] = None
    #: ``sync()`` only: why the stream failed.
    error: Optional[str] = None
    #: ``sync()`` only: an incremental stream's mark (its cursor's greatest value loaded).
    watermark: Optional[str] = None

    def to_dict(self) -> dict:
        """The report as a plain dict (the same fields as the command line's ``--json``)."""
        d = asdict(self)
        d.pop("_text")
        for key in ("stream", "status", "error", "watermark"):
            if d[key] is None:
                d.pop(key)
        d["schema_changes"] = list(self.schema_changes)
        return d

    def __str__(self) -> str:
        return self._text


#: The load's options as the library declares them: (keyword, what it takes, its words
#: for a choice, its docs). ``upsert()`` takes each as a keyword.
_OPTIONS = _native.load_options()
_KEYWORDS = {name for name, *_ in _OPTIONS}


def _option_value(value: Any) -> Any:
    """A keyword's value as the library takes it: paths, dates and tuples as text and
    lists (the library checks the rest, naming the keyword)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def upsert(
    data: Any,
    db: Any,
    table: Any = None,
    *,
    format: Optional[str] = None,
    progress: bool = False,
    from_db: Any = None,
    query: Optional[str] = None,
    **options: Any,
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
    format: the file's format when its name does not say (``"csv"``, ``"tsv"``,
        ``"ndjson"``, ``"json"``, ``"parquet"``, ``"arrow"``).
    progress: ``True`` shows a progress bar on stderr (tqdm's, in a notebook too,
        when tqdm is installed).
    from_db, query: load the rows of ``query`` on the database ``from_db`` (a URL or
        SQLAlchemy object, as ``db``).

    The load's options are keywords (below): column lists take a name, ``"a,b"`` or a
    list; ``max_delete`` a number of rows or ``"5%"``; ``as_of`` ISO 8601 text, a
    ``datetime`` (naive means UTC) or a ``date``; ``changes`` a path or ``"-"``.

    Returns a :class:`Report`; raises an :class:`UpsertError` subclass on failure, with
    nothing written. Ctrl-C stops the load between batches and rolls it back.
    """
    unknown = sorted(set(options) - _KEYWORDS - {"table"})
    if unknown:
        near = difflib.get_close_matches(unknown[0], _KEYWORDS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise TypeError(f"upsert() got an unexpected keyword argument {unknown[0]!r}{hint}")
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
    given = {k: _option_value(v) for k, v in options.items() if v is not None}
    if table is not None:
        given["table"] = table_name(table)
    callback: Optional[Callable[[Optional[int]], None]] = None
    bar = None
    if progress:
        bar, callback = progress_callback(data)
    try:
        result = _native.upsert(
            kind, payload, name, db_url(db), given, from_db=source_db, format=format, progress=callback
        )
    except _native.NativeError as e:
        _raise_from_native(e, _report)
    finally:
        if bar is not None:
            bar.close()
    return _report(result)


def _signature_and_docs() -> None:
    """``upsert()``'s signature and docstring list the library's options, so that
    ``help()``, notebooks and editors that ask the running function show each keyword,
    its default and what it does."""
    annotation = {
        "switch": bool,
        "names": Union[str, Sequence[str], None],
        "choice": str,
        "text": Optional[str],
        "value": Any,
    }
    params = list(inspect.signature(upsert).parameters.values())[:-1]
    lines = ["", "    Options:", ""]
    for name, takes, words, doc in _OPTIONS:
        if name == "table":
            continue
        default: Any = False if takes == "switch" else (words[0] if takes == "choice" else None)
        params.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation[takes])
        )
        shown = f"{name}={default!r}" if takes != "choice" else f"{name}={default!r} ({', '.join(map(repr, words))})"
        lines.append(f"    {shown}")
        lines.extend(textwrap.wrap(doc, 80, initial_indent="        ", subsequent_indent="        "))
    upsert.__signature__ = inspect.Signature(params, return_annotation=Report)  # type: ignore[attr-defined]
    upsert.__doc__ = (upsert.__doc__ or "").rstrip() + "\n" + "\n".join(lines) + "\n"


_signature_and_docs()


def sync(
    pipeline: Union[str, "os.PathLike[str]", dict],
    *,
    jobs: Optional[int] = None,
    only: Union[str, Sequence[str], None] = None,
    full_refresh: Union[str, Sequence[str], None] = None,
    dry_run: bool = False,
) -> list:
    """Runs a pipeline, as ``upsertx sync PIPELINE.toml`` does: many tables (or queries)
    of one database into another, each stream in a transaction of its own, ``jobs`` at
    once, incrementally where a stream has an ``incremental`` cursor column.

    pipeline: the path of a pipeline file (TOML), or the same as a dict (``{"source":
        ..., "target": ..., "defaults": {...}, "streams": [{...}, ...]}``).
    only: stream names (a name, ``"a,b"`` or a list): run only these.
    full_refresh: stream names to read whole again, their marks ignored.
    dry_run: every stream's exact counts, nothing written, no mark moved.

    Returns one :class:`Report` per stream (``.stream``, ``.status``, ``.watermark``).
    A mistake in the pipeline raises :class:`UsageError` before anything is written; when
    a stream fails (rolled back, the others committed), :class:`SyncError` is raised
    after the run with every report in ``.reports``. Ctrl-C stops the streams that have
    not committed (rolled back) and raises KeyboardInterrupt.
    """
    if isinstance(pipeline, dict):
        text, lines = _toml(pipeline)
        name = "pipeline"
    else:
        path = os.fspath(pipeline)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise UsageError(f"{path}: cannot read the pipeline file: {e.strerror}") from None
        lines, name = None, path
    names = lambda value: None if value is None else ([value] if isinstance(value, str) else list(value))  # noqa: E731
    split = lambda value: None if value is None else [n.strip() for v in names(value) for n in v.split(",") if n.strip()]  # noqa: E731
    try:
        results = _native.sync(text, name, jobs=jobs, only=split(only), full_refresh=split(full_refresh),
                               dry_run=bool(dry_run))
    except _native.NativeError as e:
        if lines is not None:
            e.args = (e.args[0], _where_in_dict(e.args[1], lines), *e.args[2:])
        _raise_from_native(e, _report)
    reports = [_report(r) for r in results]
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        detail = "; ".join(f"{r.stream}: {r.error}" for r in failed)
        raise SyncError(f"{len(failed)} of {len(reports)} streams failed: {detail}", reports=reports)
    return reports


def _toml(pipeline: dict) -> tuple:
    """A pipeline dict as TOML text, and what each line of it is (``streams[1]``), so
    that a message about a line names the dict's entry instead."""
    out: list = []
    where: list = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (datetime.datetime, datetime.date)):
            return json.dumps(v.isoformat())
        if isinstance(v, os.PathLike):
            return json.dumps(os.fspath(v))
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(i) for i in v) + "]"
        if isinstance(v, str):
            return json.dumps(v)
        raise UsageError(f"pipeline: {v!r} is not a value a pipeline takes (text, a number, true/false, a list)")

    def table(entries: dict, label: str) -> None:
        for k, v in entries.items():
            out.append(f"{json.dumps(str(k))} = {value(v)}")
            where.append(label)

    top = {k: v for k, v in pipeline.items() if k not in ("defaults", "streams")}
    table(top, "pipeline")
    if "defaults" in pipeline:
        out.append("[defaults]")
        where.append("pipeline")
        table(dict(pipeline["defaults"]), "defaults")
    for i, stream in enumerate(pipeline.get("streams") or []):
        out.append("[[streams]]")
        where.append(f"streams[{i}]")
        table(dict(stream), f"streams[{i}]")
    return "\n".join(out) + "\n", where


def _where_in_dict(message: str, lines: list) -> str:
    """``pipeline:7: key: ...`` about the TOML made of a dict, as ``streams[1]: key: ...``."""
    head, sep, rest = message.partition(": ")
    if head.startswith("pipeline:") and head[len("pipeline:"):].isdigit():
        line = int(head[len("pipeline:"):])
        if 0 < line <= len(lines):
            return f"pipeline {lines[line - 1]}{sep}{rest}"
    return message


def _report(fields: dict) -> "Report":
    """A Report of the engine's report dict."""
    fields = dict(fields)
    text = fields.pop("text")
    fields["schema_changes"] = tuple(fields["schema_changes"])
    return Report(**fields, _text=text)
