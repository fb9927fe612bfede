"""Where the rows go: a database URL, or a SQLAlchemy Engine, Connection or URL (found by
duck typing: SQLAlchemy is not a dependency); a table name, or a SQLAlchemy Table or ORM
model class."""

from __future__ import annotations

import os
from typing import Any, Optional
from urllib.parse import quote, urlencode

from ._errors import UsageError

# SQLAlchemy's backend names -> upsertx's URL schemes; the driver part (`+psycopg2`,
# `+pymysql`...) does not matter: upsertx speaks each protocol itself.
_SCHEMES = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def _sqlalchemy_url(db: Any) -> Any:
    """The sqlalchemy.engine.URL of an Engine, a Connection or a URL; None otherwise."""
    if hasattr(db, "drivername") and hasattr(db, "database"):
        return db
    url = getattr(db, "url", None)
    if url is None:
        url = getattr(getattr(db, "engine", None), "url", None)
    if url is not None and hasattr(url, "drivername"):
        return url
    return None


def db_url(db: Any) -> str:
    """The URL upsertx takes for `db`. A string is the command line's URL; one whose
    scheme names a driver (``postgresql+psycopg2://``) is SQLAlchemy's, read with
    SQLAlchemy's meaning."""
    if isinstance(db, str):
        scheme = db.split("://", 1)[0] if "://" in db else ""
        if "+" not in scheme:
            return db
        try:
            from sqlalchemy.engine import make_url  # type: ignore
        except ImportError:
            raise UsageError(f"{scheme}:// is a SQLAlchemy URL: install SQLAlchemy, or pass "
                             f"{_SCHEMES.get(scheme.split('+', 1)[0], scheme.split('+', 1)[0])}://...") from None
        return _from_parts(make_url(db))
    url = _sqlalchemy_url(db)
    if url is None:
        raise UsageError(f"db takes a URL string or a SQLAlchemy Engine, Connection or URL, not {type(db).__name__}")
    return _from_parts(url)


def _from_parts(url: Any) -> str:
    backend = url.drivername.split("+", 1)[0]
    if backend == "sqlite":
        database = url.database
        if not database or database == ":memory:" or str(database).startswith("file:"):
            raise UsageError("an in-memory SQLite database cannot be shared with upsertx: use a file")
        # SQLAlchemy: sqlite:///relative.db is relative to the working directory,
        # sqlite:////absolute.db absolute; upsertx gets an absolute path either way.
        return "sqlite://" + os.path.abspath(database)
    scheme = _SCHEMES.get(backend)
    if scheme is None:
        raise UsageError(f"upsertx loads into SQLite, PostgreSQL and MySQL/MariaDB, not {backend}")
    auth = ""
    if url.username:
        auth = quote(url.username, safe="")
        if url.password is not None:
            auth += ":" + quote(str(url.password), safe="")
        auth += "@"
    host = url.host or ("localhost" if scheme == "mysql" else "")
    if host and ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = f":{url.port}" if url.port else ""
    database = quote(url.database or "", safe="")
    query = ""
    if url.query:
        pairs = []
        for k, v in url.query.items():
            for one in (v if isinstance(v, tuple) else (v,)):
                pairs.append((k, one))
        query = "?" + urlencode(pairs)
    return f"{scheme}://{auth}{host}{port}/{database}{query}"


def table_name(table: Any) -> Optional[str]:
    """The table's name: a string, or a SQLAlchemy Table or ORM model class."""
    if table is None or isinstance(table, str):
        return table
    t = getattr(table, "__table__", table)  # an ORM model class -> its Table
    name = getattr(t, "name", None)
    if not isinstance(name, str) or not hasattr(t, "columns"):
        raise UsageError(f"table takes a name or a SQLAlchemy Table or model, not {type(table).__name__}")
    schema = getattr(t, "schema", None)
    # `schema.table` as the command line's --table takes it: a PostgreSQL schema, a
    # MySQL/MariaDB database.
    return f"{schema}.{name}" if schema else name
