"""Failures are exceptions of their own classes with the CLI's messages, and leave the
table as it was."""

from __future__ import annotations

import pytest

import upsertx


def make(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, email VARCHAR(50) UNIQUE, n SMALLINT)",
               f"INSERT INTO {t} VALUES (1, 'a@x', 1)")
    return t


def unchanged(db, t):
    assert db.rows(f"SELECT id, email, n FROM {t} ORDER BY id") == [(1, "a@x", 1)]


def test_invalid_value_names_row_column_value_and_reason(db):
    t = make(db)
    rows = [{"id": 2, "email": "b@x", "n": 5}, {"id": 3, "email": "c@x", "n": "lots"}]
    with pytest.raises(upsertx.InvalidValueError) as err:
        upsertx.upsert(rows, db.url, t)
    e = err.value
    assert isinstance(e, ValueError) and isinstance(e, upsertx.UpsertError)
    assert (e.row, e.column, e.value, e.reason) == (2, "n", "lots", "not an integer")
    assert str(e) == 'rows: row 2, column "n": "lots": not an integer'
    unchanged(db, t)


def test_invalid_value_in_a_file_has_its_line(db, tmp_path):
    t = make(db)
    csv = tmp_path / "in.csv"
    csv.write_text('id,email,n\n2,b@x,5\n3,"c\n@x",abc\n')
    with pytest.raises(upsertx.InvalidValueError) as err:
        upsertx.upsert(csv, db.url, t)
    assert (err.value.row, err.value.line, err.value.column, err.value.value) == (2, 3, "n", "abc")
    unchanged(db, t)


def test_typed_values_are_checked_too(db):
    import polars as pl

    t = make(db)
    # SQLite's SMALLINT holds any integer; the servers' hold 16 bits.
    n = ["1", "x"] if db.kind == "sqlite" else [1, 40000]
    with pytest.raises(upsertx.InvalidValueError) as err:
        upsertx.upsert(pl.DataFrame({"id": [2, 3], "n": n}), db.url, t)
    assert (err.value.row, err.value.column, err.value.value) == (2, "n", n[1] if db.kind == "sqlite" else "40000")
    unchanged(db, t)


@pytest.mark.parametrize("rows, options, error, row, text", [
    ([{"id": 2}, {"id": 2}], {"duplicates": "error"}, upsertx.DuplicateKeyError, 2, "duplicate key"),
    ([{"id": 5}, {"id": 1}], {"on_conflict": "error"}, upsertx.KeyExistsError, 2, "already exists"),
    # The same email as row 1 of the table, under another key.
    ([{"id": 2, "email": "a@x"}], {}, upsertx.ConflictError, 1, "a@x"),
], ids=["duplicate_key", "key_exists", "conflict"])
def test_refused_rows(db, rows, options, error, row, text):
    t = make(db)
    with pytest.raises(error) as err:
        upsertx.upsert(rows, db.url, t, **options)
    assert err.value.row == row and text in str(err.value)
    unchanged(db, t)


def test_schema_errors(db):
    t = make(db)
    with pytest.raises(upsertx.SchemaError) as err:
        upsertx.upsert([{"id": 1}], db.url, t + "_missing")
    assert "does not exist" in str(err.value)
    with pytest.raises(upsertx.SchemaError):
        upsertx.upsert([{"id": 1, "nope": 2}], db.url, t)
    unchanged(db, t)


def test_usage_errors_are_value_errors(db):
    t = make(db)
    for kwargs in ({"on_conflict": "merge"}, {"duplicates": "newest"}, {"update": ["n"], "no_update": ["email"]},
                   {"format": "xlsx"}):
        with pytest.raises(upsertx.UsageError) as err:
            upsertx.upsert([{"id": 1}], db.url, t, **kwargs)
        assert isinstance(err.value, ValueError)
    with pytest.raises(upsertx.UsageError):
        upsertx.upsert(None, db.url, t)
    with pytest.raises(upsertx.UsageError):
        upsertx.upsert({"id": 1}, db.url, t)
    with pytest.raises(upsertx.UsageError, match="empty list"):
        upsertx.upsert([], db.url, t)
    with pytest.raises(upsertx.UsageError):
        upsertx.upsert([{"id": 1}], db.url, t, key=[1])
    unchanged(db, t)


def test_an_exception_in_the_callers_iterator_is_raised_as_it_is(db):
    t = make(db)

    def rows():
        yield {"id": 2, "email": "b@x", "n": 2}
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        upsertx.upsert(rows(), db.url, t)
    with pytest.raises(TypeError, match="cannot be loaded"):
        upsertx.upsert([{"id": 2, "email": object()}], db.url, t)
    with pytest.raises(upsertx.UsageError, match="row 2: expected a dict"):
        upsertx.upsert([{"id": 2}, 3], db.url, t)
    with pytest.raises(upsertx.UsageError, match="no-such.csv: no such file"):
        upsertx.upsert("no-such.csv", db.url, t)
    unchanged(db, t)


def test_a_change_log_that_fails_after_the_commit_says_the_load_committed(db, tmp_path):
    import os
    import threading

    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, v VARCHAR(40))")
    fifo = tmp_path / "changes.pipe"
    os.mkfifo(fifo)

    def read_a_little():  # a reader that takes 10 bytes and goes
        with open(fifo, "rb") as f:
            f.read(10)

    reader = threading.Thread(target=read_a_little)
    reader.start()
    rows = [{"id": i, "v": f"value number {i} of the change log"} for i in range(20_000)]
    with pytest.raises(upsertx.ChangesNotWrittenError) as err:
        upsertx.upsert(rows, db.url, t, changes=fifo)
    reader.join()
    assert "the load committed" in str(err.value)
    assert err.value.report.inserted == 20_000
    with open(err.value.changes_path) as kept:
        assert sum(1 for _ in kept) == 20_000
    os.remove(err.value.changes_path)
    assert db.rows(f"SELECT COUNT(*) FROM {t}") == [(20_000,)]


def test_messages_name_options_as_python_keywords(db):
    """Options are named as this caller names them: evolve=True, not --evolve."""
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR(20))")
    with pytest.raises(upsertx.SchemaError) as err:
        upsertx.upsert([{"id": 1, "name": "a", "tier": "gold"}], db.url, t)
    assert "evolve=True" in str(err.value) and "--" not in str(err.value)
    with pytest.raises(upsertx.UsageError) as err:
        upsertx.upsert([{"id": 1}], db.url, t, on_conflict="ignore", always_update=True)
    assert 'always_update=True says how to update existing rows, but on_conflict="ignore"' in str(err.value)


def test_lock_timeout_ends_a_wait_for_another_transaction(db):
    """lock_timeout (declared once in the library, a keyword here without a line of
    Python): the load waiting for a row (SQLite: the database) another transaction
    holds fails once the time is up, nothing written."""
    import subprocess
    import sys

    t = db.table()
    db.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(10))", f"INSERT INTO {t} VALUES (1, 'a')")
    hold = f"UPDATE {t} SET name = 'held' WHERE id = 1"
    if db.kind == "sqlite":
        # Another process: two copies of SQLite in one process (Python's and upsertx's)
        # do not see each other's locks (see the README's SQLite specifics).
        script = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); "
                  "print('held', flush=True); sys.stdin.read()")
        holder = subprocess.Popen([sys.executable, "-c", script, db.path, hold], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "held"
        release = lambda: (holder.stdin.close(), holder.wait())  # noqa: E731
    else:
        conn = db.connect()
        conn.cursor().execute(hold)
        release = lambda: (conn.rollback(), conn.close())  # noqa: E731
    try:
        with pytest.raises(upsertx.DatabaseError, match="(?i)lock"):
            upsertx.upsert([{"id": 1, "name": "b"}], db.url, t, lock_timeout=1)
    finally:
        release()
    assert db.rows(f"SELECT id, name FROM {t}") == [(1, "a")]
    with pytest.raises(upsertx.UsageError, match='lock_timeout: "0" is not a number of seconds'):
        upsertx.upsert([{"id": 1, "name": "b"}], db.url, t, lock_timeout=0)
