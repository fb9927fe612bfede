"""The three real databases every test runs against: SQLite (a file in the test's
temporary directory), PostgreSQL and MariaDB (the servers scripts/test.sh starts; their
URLs can be moved with UPSERTX_TEST_PG and UPSERTX_TEST_MYSQL, as for the Rust tests)."""

from __future__ import annotations

import itertools
import os
import sqlite3
from dataclasses import dataclass
from typing import Any, List, Optional

import pymysql
import psycopg2
import pytest

PG_URL = os.environ.get("UPSERTX_TEST_PG", "postgres://root@127.0.0.1:5432/test")
MY_URL = os.environ.get("UPSERTX_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")

_names = itertools.count()


@dataclass
class Db:
    """One database under test: its URL for upsertx, its SQLAlchemy URL, and a way to
    run SQL on it directly (to set up tables and read back what a load left)."""

    kind: str  # "sqlite", "postgres" or "mariadb"
    url: str
    sqlalchemy_url: str
    path: Optional[str] = None

    def connect(self) -> Any:
        if self.kind == "sqlite":
            return sqlite3.connect(self.path)
        if self.kind == "postgres":
            return psycopg2.connect(host="127.0.0.1", port=5432, user="root", dbname="test")
        return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test")

    def execute(self, *statements: str) -> None:
        conn = self.connect()
        try:
            cur = conn.cursor()
            for sql in statements:
                cur.execute(sql)
            conn.commit()
        finally:
            conn.close()

    def rows(self, sql: str) -> List[tuple]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            conn.close()

    def table(self) -> str:
        """A table name of its own for one test; dropped afterwards."""
        name = f"py_t{os.getpid()}_{next(_names)}"
        self._tables.append(name)
        return name

    def drop_tables(self) -> None:
        for name in self._tables:
            self.execute(f"DROP TABLE IF EXISTS {name}")

    _tables: list = None  # type: ignore[assignment]


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def db(request, tmp_path):
    kind = request.param
    if kind == "sqlite":
        path = str(tmp_path / "test.db")
        d = Db(kind, "sqlite://" + path, "sqlite:///" + path, path)
    elif kind == "postgres":
        d = Db(kind, PG_URL, PG_URL.replace("postgres://", "postgresql+psycopg2://", 1))
    else:
        d = Db(kind, MY_URL, MY_URL.replace("mysql://", "mysql+pymysql://", 1))
    d._tables = []
    yield d
    d.drop_tables()


def ddl(db: Db, sql: str) -> str:
    """Portable-enough DDL: `TEXT_KEY` becomes a type each database can key on."""
    return sql.replace("TEXT_KEY", "VARCHAR(64)" if db.kind == "mariadb" else "TEXT")


def pytest_sessionfinish(session, exitstatus):
    """No test is ever skipped here: a skip fails the run (as a missing server would)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped"):
        reporter.write_line("a test was skipped: every test must run", red=True)
        session.exitstatus = 1
