"""What the rows come from: anything exporting the Arrow C stream interface, a pandas
DataFrame, a polars LazyFrame, a list or iterator of dicts, or a file path. Each becomes
one of the three inputs the Rust side takes: an Arrow C stream capsule ("stream"), a path
("path"), or NDJSON chunks ("ndjson")."""

from __future__ import annotations

import datetime
import decimal
import itertools
import json
import math
import os
import uuid
from typing import Any, Iterable, Iterator, Tuple

from ._errors import UsageError

#: Rows per NDJSON chunk handed to the engine from a list or iterator of dicts.
_CHUNK_ROWS = 4096


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def to_source(data: Any) -> Tuple[str, Any, str]:
    """(kind, payload, name used in messages)."""
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.exists(path):
            raise UsageError(f"{path}: no such file")  # as the command line says it
        return "path", path, path
    if isinstance(data, (bytes, bytearray)):
        raise UsageError("data takes a DataFrame, rows, or a path, not bytes")
    module = _module(data)
    if module == "polars" and type(data).__name__ == "LazyFrame":
        return _lazy_batches(data)
    if module == "pandas" and type(data).__name__ == "DataFrame":
        return "stream", _pandas_stream(data), "DataFrame"
    if hasattr(data, "__arrow_c_stream__"):
        return "stream", data.__arrow_c_stream__(), type(data).__name__
    if isinstance(data, dict):
        raise UsageError("data takes a list of dicts (one per row), not one dict")
    if isinstance(data, (list, tuple)) and not data:
        # No row names no column: nothing to check the table against.
        raise UsageError("data is an empty list: no rows and no columns to load (an empty DataFrame "
                         "loads 0 rows)")
    if isinstance(data, Iterable):
        return "ndjson", _ndjson_chunks(iter(data)), "rows"
    raise UsageError(
        f"data takes a DataFrame (polars, pandas, pyarrow), Arrow data, a list or iterator of dicts, "
        f"or a file path, not {type(data).__name__}")


def _lazy_batches(lazy: Any) -> Tuple[str, Any, str]:
    """A polars LazyFrame, computed by the streaming engine a batch at a time
    (``collect_batches``); collected whole by polars versions without it."""
    if not hasattr(lazy, "collect_batches"):
        try:
            return "stream", lazy.collect(engine="streaming").__arrow_c_stream__(), "LazyFrame"
        except TypeError:  # polars before 1.23
            return "stream", lazy.collect(streaming=True).__arrow_c_stream__(), "LazyFrame"
    batches = iter(lazy.collect_batches(engine="streaming"))
    first = next(batches, None)
    if first is None:  # no rows: an empty frame still has the columns
        first = lazy.clear().collect()
    return "streams", itertools.chain([first], batches), "LazyFrame"


#: Rows of a pandas DataFrame converted to Arrow at a time: the copy in Arrow is never
#: more than this slice, whatever the DataFrame's size.
_PANDAS_SLICE = 65_536


def _pandas_stream(df: Any) -> Any:
    """A pandas DataFrame as an Arrow C stream, through pyarrow, a slice at a time. A
    named index becomes columns (as pangres does: the index is often the key); an
    unnamed one is left out."""
    try:
        import pyarrow as pa  # type: ignore
    except ImportError:
        raise UsageError("a pandas DataFrame needs pyarrow: pip install pyarrow") from None
    named = any(name is not None for name in df.index.names)
    # The whole frame's types, so that a column that is all None in one slice does not
    # change type in the next.
    schema = pa.Schema.from_pandas(df, preserve_index=named)

    def batches() -> Iterator[Any]:
        for start in range(0, len(df), _PANDAS_SLICE):
            yield pa.RecordBatch.from_pandas(df.iloc[start:start + _PANDAS_SLICE], schema=schema,
                                             preserve_index=named)

    return pa.RecordBatchReader.from_batches(schema, batches()).__arrow_c_stream__()


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime.datetime):
        # As typed timestamps are written: an instant in UTC, a space before the time
        # (what SQLite, which keeps the text, then compares equal on a rerun).
        if v.tzinfo is not None and v.utcoffset() is not None:
            v = v.astimezone(datetime.timezone.utc)
        return v.isoformat(sep=" ")
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)  # a string keeps every digit; the column's type reads it exactly
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(v).hex()
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    raise TypeError(f"a value of type {type(v).__name__} cannot be loaded")


def _clean(v: Any) -> Any:
    # NaN is "missing" in Python data: NULL, as for DataFrames.
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _ndjson_chunks(rows: Iterator[Any]) -> Iterator[bytes]:
    encoder = json.JSONEncoder(default=_json_default, ensure_ascii=False, allow_nan=False)
    lines = []
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise UsageError(f"row {n}: expected a dict of column -> value, not {type(row).__name__}")
        lines.append(encoder.encode({k: _clean(v) for k, v in row.items()}))
        if len(lines) == _CHUNK_ROWS:
            yield ("\n".join(lines) + "\n").encode()
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n").encode()
