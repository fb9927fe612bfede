"""What the rows come from: anything exporting the Arrow C stream interface, a pandas
DataFrame, a polars LazyFrame, a list or iterator of dicts, or a file path. Each becomes
one of the three inputs the Rust side takes: an Arrow C stream capsule ("stream"), a path
("path"), or NDJSON chunks ("ndjson")."""

from __future__ import annotations

import dataclasses
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
        return "streams", _pandas_stream(data), "DataFrame"
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
    """A pandas DataFrame as Arrow tables, through pyarrow, a slice at a time (an
    iterator of objects exporting ``__arrow_c_stream__``). A named index becomes columns
    (as pangres does: the index is often the key); an unnamed one is left out.

    pandas 3 keeps text columns in several Arrow chunks (``pd.concat``, ``pd.read_csv``
    of a large file): a slice is converted as a table, which takes chunked columns, and
    its chunks are joined. An object column pyarrow cannot type (Python ints and
    strings mixed, as in a spreadsheet column) is sent as text: the target's column
    type then reads each value as it would a CSV field's, so ``100`` into a text column
    is ``"100"``, ``"200"`` into an integer column is 200, and a value that fits neither
    is refused naming its row, column and value."""
    try:
        import pyarrow as pa  # type: ignore
    except ImportError:
        raise UsageError("a pandas DataFrame needs pyarrow: pip install pyarrow") from None
    named = any(name is not None for name in df.index.names)
    # The whole frame's types, so that a column that is all None in one slice does not
    # change type in the next.
    df, schema = _typed(df, named, pa)

    def tables() -> Iterator[Any]:
        for start in range(0, max(len(df), 1), _PANDAS_SLICE):
            part = df.iloc[start:start + _PANDAS_SLICE]
            yield pa.Table.from_pandas(part, schema=schema, preserve_index=named).combine_chunks()

    return tables()


def _typed(df: Any, named: bool, pa: Any) -> Tuple[Any, Any]:
    """``df`` and its Arrow schema (read once: pyarrow converts an object column whole to
    type it). Each object column pyarrow cannot convert as one type is replaced by the
    text of its values (in a shallow copy) before the schema is read again."""
    try:
        return df, pa.Schema.from_pandas(df, preserve_index=named)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    mixed = []
    for j in range(df.shape[1]):
        column = df.iloc[:, j]
        if column.dtype != object:
            continue
        try:
            pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            mixed.append(j)
    if mixed:
        df = df.copy(deep=False)
        for j in mixed:
            df.isetitem(j, df.iloc[:, j].map(_as_text, na_action="ignore").astype(object))
    # Without a mixed column, the error is another one: raised as pyarrow says it.
    return df, pa.Schema.from_pandas(df, preserve_index=named)


def _as_text(v: Any) -> Any:
    """A Python value as the text a CSV field holding it would say (``None`` stays)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, default=_json_default, ensure_ascii=False)
    try:
        v = _json_default(v)
    except TypeError:
        return str(v)
    return v if isinstance(v, str) else _as_text(v)


def _as_dict(row: Any, n: int) -> dict:
    """A row that is not a dict, as one: a SQLAlchemy ORM instance (its mapped columns by
    column name; an attribute never set on it is left out, as a key a dict lacks is), or
    a dataclass instance (its fields)."""
    state = getattr(row, "_sa_instance_state", None)
    if state is not None and hasattr(state, "mapper"):
        values = state.dict  # what was set on (or loaded into) the instance
        out = {}
        for attr in state.mapper.column_attrs:
            column = attr.columns[0] if attr.columns else None
            name = getattr(column, "name", None)
            if isinstance(name, str) and getattr(column, "table", None) is not None and attr.key in values:
                out[name] = values[attr.key]
        return out
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
    raise UsageError(f"row {n}: expected a dict of column -> value, a dataclass or a SQLAlchemy ORM object, "
                     f"not {type(row).__name__}")


def default_table(data: Any) -> Any:
    """The table rows of ORM objects or dataclasses go to when ``table`` is not given:
    an ORM instance's mapped class (its table), a dataclass's ``__tablename__`` or its
    class name. ``None`` for anything else (or an iterator, which is not looked into)."""
    if not isinstance(data, (list, tuple)) or not data or isinstance(data[0], dict):
        return None
    cls = type(data[0])
    if getattr(data[0], "_sa_instance_state", None) is not None and hasattr(cls, "__table__"):
        return cls
    if dataclasses.is_dataclass(data[0]):
        return getattr(cls, "__tablename__", cls.__name__)
    return None


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
            row = _as_dict(row, n)
        lines.append(encoder.encode({k: _clean(v) for k, v in row.items()}))
        if len(lines) == _CHUNK_ROWS:
            yield ("\n".join(lines) + "\n").encode()
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n").encode()
