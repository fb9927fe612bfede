"""Every kind of `db` and `table` upsert() takes: URLs, SQLAlchemy engines, connections
and URLs (with SQLAlchemy's own meaning of sqlite:/// paths), Table objects and ORM
models; and passwords never shown."""

from __future__ import annotations


import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import upsertx

ROWS = [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}]


def make(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL)")
    return t


def test_engine_connection_and_url(db):
    t = make(db)
    engine = sa.create_engine(db.sqlalchemy_url)
    assert upsertx.upsert(ROWS, engine, t).inserted == 2
    with engine.connect() as conn:
        assert upsertx.upsert(ROWS, conn, t).unchanged == 2
    assert upsertx.upsert(ROWS, engine.url, t).unchanged == 2
    assert upsertx.upsert(ROWS, sa.make_url(db.sqlalchemy_url), t).unchanged == 2
    # A SQLAlchemy URL as a string (a driver in the scheme): SQLAlchemy's meaning.
    assert upsertx.upsert(ROWS, db.sqlalchemy_url.replace("sqlite:///", "sqlite+pysqlite:///"), t).unchanged == 2
    engine.dispose()


def test_sqlalchemy_sqlite_paths_keep_their_meaning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # sqlite:///relative.db is relative to the working directory...
    report = upsertx.upsert(ROWS, sa.create_engine("sqlite:///relative.db"), "t", key="id", create=True)
    assert report.created and (tmp_path / "relative.db").exists()
    # ...and sqlite:////absolute.db absolute.
    absolute = tmp_path / "sub" / "absolute.db"
    absolute.parent.mkdir()
    report = upsertx.upsert(ROWS, sa.create_engine(f"sqlite:///{absolute}"), "t", key="id", create=True)
    assert report.created and absolute.exists()


def test_table_objects_and_orm_models(db):
    t = make(db)
    metadata = sa.MetaData()
    table = sa.Table(t, metadata, sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("name", sa.String(50)))
    assert upsertx.upsert(ROWS, db.url, table).inserted == 2

    class Base(DeclarativeBase):
        pass

    class Person(Base):
        __tablename__ = t
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str]

    report = upsertx.upsert([{"id": 1, "name": "Ada L"}], db.url, Person)
    assert (report.table, report.updated) == (t, 1)


@pytest.mark.parametrize("kind", ["postgres", "mariadb"])
def test_passwords_never_appear(kind):
    secret = "s3cret-pw"
    host = "127.0.0.1:5432/test" if kind == "postgres" else "127.0.0.1:3306/test"
    scheme = "postgres" if kind == "postgres" else "mysql"
    url = f"{scheme}://nobody:{secret}@{host}"
    with pytest.raises(upsertx.DatabaseError) as err:
        upsertx.upsert(ROWS, url, "t")
    assert secret not in str(err.value) and "nobody" in str(err.value)
    engine_url = sa.make_url(f"{'postgresql+psycopg2' if kind == 'postgres' else 'mysql+pymysql'}://nobody:{secret}@{host}")
    with pytest.raises(upsertx.DatabaseError) as err:
        upsertx.upsert(ROWS, engine_url, "t")
    assert secret not in str(err.value)


def test_unsupported_targets_are_usage_errors(tmp_path):
    with pytest.raises(upsertx.UsageError):
        upsertx.upsert(ROWS, sa.create_engine("sqlite://"), "t")  # in memory: not shareable
    with pytest.raises(ValueError):
        upsertx.upsert(ROWS, 42, "t")


def test_a_table_in_a_named_schema(db):
    # A PostgreSQL schema, a MariaDB database; SQLite has none (upsertx attaches no other
    # database file), so `main.t` there is a table of that name, which does not exist.
    t = db.table()
    schema = {"sqlite": "main", "postgres": f"{t}_schema", "mariadb": "test"}[db.kind]
    if db.kind == "postgres":
        db.execute(f"CREATE SCHEMA {schema}")
    try:
        db.execute(f"CREATE TABLE {schema}.{t} (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL)")
        table = sa.Table(t, sa.MetaData(), sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("name", sa.String),
                         schema=schema)
        if db.kind == "sqlite":
            with pytest.raises(upsertx.SchemaError, match=f'table "main.{t}" does not exist'):
                upsertx.upsert(ROWS, db.url, table)
            return
        assert upsertx.upsert(ROWS, db.url, table).inserted == 2
        assert db.rows(f"SELECT id, name FROM {schema}.{t} ORDER BY id") == [(1, "Ada"), (2, "Grace")]
    finally:
        if db.kind == "postgres":
            db.execute(f"DROP SCHEMA {schema} CASCADE")


def test_every_sqlalchemy_driver_name(db):
    # The driver part names a Python DBAPI upsertx does not use: only the backend matters.
    t = make(db)
    other = {"sqlite": ["sqlite+pysqlite:///"], "postgres": ["postgresql+psycopg://", "postgresql://"],
             "mariadb": ["mariadb+mariadbconnector://", "mysql+mysqldb://", "mariadb+pymysql://"]}[db.kind]
    rest = db.sqlalchemy_url.split("://", 1)[1]
    for scheme in other:
        url = sa.make_url(scheme.split("://")[0] + "://" + rest)
        assert upsertx.upsert(ROWS, url, t).rows_read == 2, scheme
    assert db.rows(f"SELECT COUNT(*) FROM {t}") == [(2,)]


def test_urls_keep_credentials_and_options():
    from upsertx._targets import db_url

    url = sa.make_url("postgresql+psycopg://app:p%40ss:w@db.example:6432/shop?sslmode=require")
    assert db_url(url) == "postgres://app:p%40ss%3Aw@db.example:6432/shop?sslmode=require"
    assert db_url(sa.make_url("mariadb+mariadbconnector://root@localhost/test")) == "mysql://root@localhost/test"
    assert db_url("postgres://u@h/d") == "postgres://u@h/d"  # the command line's URLs pass as they are


def test_orm_objects_and_dataclasses_as_rows(db):
    """A Flask / SQLAlchemy user's own objects: the mapped columns by column name (an
    attribute never set is left out, as a key a dict lacks is), the table from their
    class; dataclasses by their fields."""
    import dataclasses

    t = db.table()
    db.execute(f"CREATE TABLE {t} (id VARCHAR(20) PRIMARY KEY, title VARCHAR(50), body_text VARCHAR(50))")
    db.execute(f"INSERT INTO {t} VALUES ('TEST1234', 'old', 'kept')")

    class Base(DeclarativeBase):
        pass

    class Post(Base):
        __tablename__ = t
        id: Mapped[str] = mapped_column(primary_key=True)
        title: Mapped[str]
        body: Mapped[str] = mapped_column("body_text", nullable=True)

    report = upsertx.upsert([Post(id="TEST1234", title="new"), Post(id="X2", title="t2")], db.url)
    assert (report.table, report.inserted, report.updated) == (t, 1, 1)
    assert db.rows(f"SELECT id, title, body_text FROM {t} ORDER BY id") == [("TEST1234", "new", "kept"),
                                                                            ("X2", "t2", None)]
    report = upsertx.upsert([Post(id="X2", title="t2", body="b2")], db.url, Post)
    assert report.updated == 1
    assert db.rows(f"SELECT body_text FROM {t} WHERE id = 'X2'") == [("b2",)]

    @dataclasses.dataclass
    class Row:
        id: str
        title: str

    report = upsertx.upsert([Row("X2", "t3"), Row("X3", "t4")], db.url, t)
    assert (report.inserted, report.updated) == (1, 1)
    assert db.rows(f"SELECT title FROM {t} WHERE id = 'X2'") == [("t3",)]
    with pytest.raises(upsertx.SchemaError) as err:  # the class's name
        upsertx.upsert([Row("X4", "t")], db.url)
    assert 'table "Row" does not exist' in str(err.value)
    with pytest.raises(upsertx.UsageError) as err:
        upsertx.upsert([{"id": "X5"}], db.url)
    assert "name the target table: table=" in str(err.value)
