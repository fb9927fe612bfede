"""Every kind of `data` upsert() takes, into each of the three databases: the counts and
what the table holds afterwards."""

from __future__ import annotations

import pathlib

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

import upsertx


def people(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL, score DOUBLE PRECISION)"
               .replace("DOUBLE PRECISION", "DOUBLE" if db.kind == "mariadb" else "DOUBLE PRECISION"))
    db.execute(f"INSERT INTO {t} VALUES (1, 'Ada', 1.5), (2, 'Grace', 2.5)")
    return t


def content(db, t):
    return db.rows(f"SELECT id, name, score FROM {t} ORDER BY id")


EXPECTED = [(1, "Ada", 1.5), (2, "Grace Hopper", 2.5), (3, "Linus", None)]
ROWS = [{"id": 2, "name": "Grace Hopper", "score": 2.5}, {"id": 3, "name": "Linus", "score": None},
        {"id": 1, "name": "Ada", "score": 1.5}]


def check(report, db, t):
    assert (report.rows_read, report.inserted, report.updated, report.unchanged) == (3, 1, 1, 1)
    assert content(db, t) == EXPECTED


def test_polars_dataframe(db):
    t = people(db)
    check(upsertx.upsert(pl.DataFrame(ROWS), db.url, t), db, t)


def test_polars_lazyframe(db):
    t = people(db)
    lazy = pl.DataFrame(ROWS).lazy().filter(pl.col("id") > 0)
    check(upsertx.upsert(lazy, db.url, t), db, t)


def test_a_lazy_query_is_loaded_batch_by_batch(db):
    t = people(db)
    n = 300_000
    lazy = pl.LazyFrame({"id": range(n)}).with_columns(
        name=pl.format("n{}", pl.col("id")), score=pl.col("id").cast(pl.Float64) / 2)
    report = upsertx.upsert(lazy.filter(pl.col("id") > 0), db.url, t)
    assert (report.rows_read, report.inserted, report.updated) == (n - 1, n - 3, 2)
    # An empty result still names its columns.
    report = upsertx.upsert(lazy.filter(pl.col("id") < 0), db.url, t)
    assert report.rows_read == 0


def test_pyarrow_table_and_batch_reader(db):
    t = people(db)
    table = pa.Table.from_pylist(ROWS)
    check(upsertx.upsert(table, db.url, t), db, t)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=1))
    report = upsertx.upsert(reader, db.url, t)
    assert (report.rows_read, report.unchanged) == (3, 3)


def test_pandas_dataframe_without_index(db):
    t = people(db)
    check(upsertx.upsert(pd.DataFrame(ROWS), db.url, t), db, t)


def test_pandas_named_index_is_the_key(db):
    t = people(db)
    df = pd.DataFrame(ROWS).set_index("id")
    check(upsertx.upsert(df, db.url, t), db, t)


def test_list_and_iterator_of_dicts(db):
    t = people(db)
    check(upsertx.upsert(list(ROWS), db.url, t), db, t)
    report = upsertx.upsert((dict(r) for r in ROWS), db.url, t)
    assert (report.rows_read, report.unchanged) == (3, 3)


def test_many_rows_from_an_iterator(db):
    t = people(db)
    report = upsertx.upsert(({"id": i, "name": f"n{i}", "score": i / 2} for i in range(1, 20_001)), db.url, t)
    assert (report.rows_read, report.inserted, report.updated) == (20_000, 19_998, 2)
    assert db.rows(f"SELECT COUNT(*), SUM(id) FROM {t}") == [(20_000, 20_000 * 20_001 // 2)]


def test_paths(db, tmp_path):
    t = people(db)
    csv = tmp_path / "people.csv"
    csv.write_text("id,name,score\n2,Grace Hopper,2.5\n3,Linus,\n1,Ada,1.5\n")
    check(upsertx.upsert(str(csv), db.url, t), db, t)
    parquet = tmp_path / "people.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    report = upsertx.upsert(pathlib.Path(parquet), db.url, t)
    assert (report.rows_read, report.unchanged) == (3, 3)


def test_table_defaults_to_the_file_stem(db, tmp_path):
    t = people(db)
    csv = tmp_path / f"{t}.csv"
    csv.write_text("id,name,score\n3,Linus,\n")
    report = upsertx.upsert(csv, db.url)
    assert (report.table, report.inserted) == (t, 1)


def test_query_on_another_database(db, tmp_path):
    import sqlite3

    source = tmp_path / "source.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE src (id INTEGER PRIMARY KEY, name TEXT, score REAL)")
        conn.executemany("INSERT INTO src VALUES (?, ?, ?)", [(r["id"], r["name"], r["score"]) for r in ROWS])
    t = people(db)
    check(upsertx.upsert(None, db.url, t, from_db=f"sqlite://{source}", query="SELECT * FROM src"), db, t)


def test_create_takes_the_types_of_a_dataframe(db):
    t = db.table()
    df = pl.DataFrame({"id": [1, 2], "name": ["a", "b"], "ok": [True, None]})
    report = upsertx.upsert(df, db.url, t, key="id", create=True)
    assert (report.created, report.inserted) == (True, 2)
    got = db.rows(f"SELECT id, name, ok FROM {t} ORDER BY id")
    assert [(i, n, None if o is None else bool(o)) for i, n, o in got] == [(1, "a", True), (2, "b", None)]


def test_options_have_the_command_lines_meaning(db):
    t = people(db)
    # update= only these columns; dry_run writes nothing but counts exactly.
    changed = [{"id": 1, "name": "Ada L", "score": 9.0}, {"id": 3, "name": "New", "score": None}]
    report = upsertx.upsert(changed, db.url, t, update=["score"], dry_run=True)
    assert (report.dry_run, report.inserted, report.updated) == (True, 1, 1)
    assert content(db, t) == [(1, "Ada", 1.5), (2, "Grace", 2.5)]
    upsertx.upsert(changed, db.url, t, update=["score"])
    assert content(db, t) == [(1, "Ada", 9.0), (2, "Grace", 2.5), (3, "New", None)]
    upsertx.upsert([{"id": 2, "name": "G", "score": 0.0}], db.url, t, no_update="name")
    assert content(db, t)[1] == (2, "Grace", 0.0)
    report = upsertx.upsert([{"id": 2, "name": "X", "score": 1.0}, {"id": 4, "name": "Y", "score": 1.0}],
                            db.url, t, on_conflict="ignore")
    assert (report.inserted, report.ignored) == (1, 1)
    report = upsertx.upsert([{"id": 5, "name": "a", "score": 1.0}, {"id": 5, "name": "b", "score": 1.0}],
                            db.url, t, key=["id"], duplicates="first")
    assert (report.inserted, report.duplicates) == (1, 1)
    assert db.rows(f"SELECT name FROM {t} WHERE id = 5") == [("a",)]
    report = upsertx.upsert([{"id": 5, "name": "a", "score": 1.0}], db.url, t, always_update=True)
    assert report.updated == 1
    assert report.to_dict()["updated"] == 1 and "_text" not in report.to_dict()
    assert str(report).startswith(f'"{t}" loaded 1 rows')


def test_a_large_pandas_frame_goes_in_slices(db):
    # More rows than one slice, and a column that is all None in the first slice.
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR(20))")
    n = 150_000
    names = [None] * 70_000 + [f"n{i}" for i in range(70_000, n)]
    df = pd.DataFrame({"id": range(n), "name": names})
    assert upsertx.upsert(df, db.url, t).inserted == n
    assert db.rows(f"SELECT COUNT(*), COUNT(name), MAX(name) FROM {t}") == [(n, n - 70_000, "n99999")]
