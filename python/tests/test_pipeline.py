"""upsertx.sync(): a pipeline of streams, as `upsertx sync` runs it, from a dict or a
file, with each database as the source and as the target."""

from __future__ import annotations

import sqlite3

import pytest

import upsertx


def source_table(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, amount INTEGER, version INTEGER)",
               f"INSERT INTO {t} VALUES (1, 10, 1), (2, 20, 2), (3, 30, NULL)")
    return t


def stream_name(db, t):
    return {"sqlite": t, "postgres": f"public.{t}", "mariadb": f"test.{t}"}[db.kind]


def test_a_dict_pipeline_loads_then_reads_only_what_changed(db, tmp_path):
    t = source_table(db)
    dw = tmp_path / "dw.db"
    pipeline = {
        "source": db.url,
        "target": f"sqlite://{dw}",
        "defaults": {"create": True},
        "streams": [{"table": t, "incremental": "version", "into": "orders"}],
    }
    [first] = upsertx.sync(pipeline)
    assert (first.stream, first.status, first.inserted, first.watermark) == (stream_name(db, t), "ok", 3, "2")
    assert first.to_dict()["stream"] == first.stream
    db.execute(f"UPDATE {t} SET amount = 21 WHERE id = 2", f"INSERT INTO {t} VALUES (4, 40, 3)")
    dry = upsertx.sync(pipeline, dry_run=True)[0]
    assert (dry.dry_run, dry.rows_read, dry.inserted, dry.updated, dry.unchanged) == (True, 3, 1, 1, 1)
    [second] = upsertx.sync(pipeline)
    # Read: 2 (at the mark), 3 (NULL cursor), 4 (past it).
    assert (second.rows_read, second.inserted, second.updated, second.unchanged) == (3, 1, 1, 1)
    assert second.watermark == "3"
    rows = sqlite3.connect(dw).execute("SELECT id, amount FROM orders ORDER BY id").fetchall()
    assert rows == [(1, 10), (2, 21), (3, 30), (4, 40)]
    [whole] = upsertx.sync(pipeline, full_refresh=stream_name(db, t))
    assert (whole.rows_read, whole.unchanged) == (4, 4)


def test_a_pipeline_file_into_each_database(db, tmp_path):
    src = tmp_path / "app.db"
    conn = sqlite3.connect(src)
    conn.executescript("CREATE TABLE items (sku TEXT, region TEXT, qty INTEGER, PRIMARY KEY (sku, region));"
                       "INSERT INTO items VALUES ('a', 'eu', 1), ('a', 'us', 2);")
    conn.commit()
    target = db.table()
    path = tmp_path / "pipeline.toml"
    path.write_text(f'source = "sqlite://{src}"\ntarget = "{db.url}"\n[defaults]\ncreate = true\n'
                    f'[[streams]]\ntable = "items"\ninto = "{target}"\n')
    [report] = upsertx.sync(path)
    assert (report.stream, report.inserted, report.table) == ("items", 2, target)
    assert sorted(db.rows(f"SELECT sku, region, qty FROM {target}")) == [("a", "eu", 1), ("a", "us", 2)]
    assert upsertx.sync(str(path), only="items")[0].unchanged == 2


def test_mistakes_name_the_entry_and_a_failing_stream_raises_after_the_others(tmp_path):
    src = tmp_path / "app.db"
    conn = sqlite3.connect(src)
    conn.executescript("CREATE TABLE good (id INTEGER PRIMARY KEY, n TEXT); INSERT INTO good VALUES (1, 'x');"
                       "CREATE TABLE bad (id INTEGER PRIMARY KEY, n TEXT); INSERT INTO bad VALUES (1, 'abc');")
    conn.commit()
    dw = tmp_path / "dw.db"
    sqlite3.connect(dw).executescript("CREATE TABLE bad (id INTEGER PRIMARY KEY, n INTEGER);")
    base = {"source": f"sqlite://{src}", "target": f"sqlite://{dw}", "defaults": {"create": True}}
    with pytest.raises(upsertx.UsageError, match=r"^pipeline streams\[1\]: delet_missing: unknown key \(did you mean \"delete_missing\"\?\)"):
        upsertx.sync({**base, "streams": [{"table": "good"}, {"table": "bad", "delet_missing": True}]})
    with pytest.raises(upsertx.UsageError, match="no stream named"):
        upsertx.sync({**base, "streams": [{"table": "good"}]}, only=["nope"])
    with pytest.raises(upsertx.SyncError) as err:
        upsertx.sync({**base, "streams": [{"table": "bad"}, {"table": "good"}]})
    bad, good = err.value.reports
    assert (bad.status, good.status, good.inserted) == ("failed", "ok", 1)
    assert '"abc"' in bad.error and "bad:" in str(err.value)
    assert sqlite3.connect(dw).execute("SELECT count(*) FROM bad").fetchone() == (0,)


def test_incremental_deletes_mark_and_a_view_is_read_by_name(db, tmp_path):
    t = source_table(db)
    view = f"{t}_big"
    db.execute(f"CREATE VIEW {view} AS SELECT id, amount FROM {t} WHERE amount > 15")
    try:
        dw = tmp_path / "dw.db"
        sqlite3.connect(dw).executescript(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, amount INTEGER, version INTEGER, gone TIMESTAMP)")
        pipeline = {
            "source": db.url,
            "target": f"sqlite://{dw}",
            "defaults": {"create": True},
            "streams": [
                {"table": t, "into": "orders", "incremental": "version", "delete_missing": True,
                 "soft_delete": "gone"},
                {"table": view, "into": "big", "key": "id"},
            ],
        }
        assert [r.inserted for r in upsertx.sync(pipeline)] == [3, 2]
        db.execute(f"DELETE FROM {t} WHERE id = 2")
        orders, big = upsertx.sync(pipeline)
        # The deleted row marked in the same transaction as the upsert; the view read whole.
        assert (orders.deleted, big.rows_read, big.unchanged) == (1, 1, 1)
        rows = sqlite3.connect(dw).execute("SELECT id, gone IS NOT NULL FROM orders ORDER BY id").fetchall()
        assert rows == [(1, 0), (2, 1), (3, 0)]
    finally:
        db.execute(f"DROP VIEW IF EXISTS {view}")
