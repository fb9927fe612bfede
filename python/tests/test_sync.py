"""The sync keywords: delete_missing with its scope and guards, as the command line's
--delete-missing, --scope, --scope-where, --allow-empty and --max-delete; replace_where and newer_by."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

import upsertx


def stock(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (sku VARCHAR(10) PRIMARY KEY, region VARCHAR(10) NOT NULL, qty INTEGER)",
               f"INSERT INTO {t} VALUES ('a', 'eu', 1), ('b', 'eu', 2), ('c', 'us', 3)")
    return t


def content(db, t):
    return db.rows(f"SELECT sku, region, qty FROM {t} ORDER BY sku")


EU = pl.DataFrame({"sku": ["a", "d"], "region": ["eu", "eu"], "qty": [10, 4]})
BEFORE = [("a", "eu", 1), ("b", "eu", 2), ("c", "us", 3)]


def test_delete_missing_within_a_partition(db):
    t = stock(db)
    report = upsertx.upsert(EU, db.url, t, delete_missing=True, scope="region")
    assert (report.inserted, report.updated, report.unchanged, report.deleted) == (1, 1, 0, 1)
    assert report.to_dict()["deleted"] == 1
    assert content(db, t) == [("a", "eu", 10), ("c", "us", 3), ("d", "eu", 4)]


def test_delete_missing_everywhere_from_pandas(db):
    t = stock(db)
    report = upsertx.upsert(EU.to_pandas(), db.url, t, delete_missing=True)
    assert report.deleted == 2
    assert "2 deleted" in str(report)
    assert content(db, t) == [("a", "eu", 10), ("d", "eu", 4)]


def test_scope_where_is_the_callers_sql(db):
    t = stock(db)
    report = upsertx.upsert(EU, db.url, t, delete_missing=True, scope_where="region = 'us'")
    assert report.deleted == 1
    assert content(db, t) == [("a", "eu", 10), ("b", "eu", 2), ("d", "eu", 4)]


def test_an_empty_input_is_refused_unless_allowed(db):
    t = stock(db)
    empty = pd.DataFrame({"sku": pd.Series([], dtype=str), "region": pd.Series([], dtype=str)})
    with pytest.raises(upsertx.RefusedError) as err:
        upsertx.upsert(empty, db.url, t, delete_missing=True)
    assert "the input is empty" in str(err.value) and "allow_empty=True" in str(err.value) and "--" not in str(err.value)
    assert content(db, t) == BEFORE
    report = upsertx.upsert(empty, db.url, t, delete_missing=True, allow_empty=True)
    assert report.deleted == 3 and content(db, t) == []


@pytest.mark.parametrize("limit, text", [(1, "more than max_delete=1"), ("50%", "(66.7%), more than max_delete=\"50%\"")])
def test_max_delete_leaves_the_table_unchanged(db, limit, text):
    t = stock(db)
    with pytest.raises(upsertx.RefusedError) as err:
        upsertx.upsert(EU, db.url, t, delete_missing=True, max_delete=limit)
    assert text in str(err.value) and "nothing was written" in str(err.value)
    assert isinstance(err.value, upsertx.UpsertError)
    assert content(db, t) == BEFORE
    assert upsertx.upsert(EU, db.url, t, delete_missing=True, max_delete=2).deleted == 2


def test_sync_keywords_need_delete_missing(db):
    t = stock(db)
    for kw in ({"scope": "region"}, {"allow_empty": True}, {"max_delete": 5}, {"scope_where": "qty > 1"}):
        with pytest.raises(upsertx.UsageError, match="only applies with delete_missing=True"):
            upsertx.upsert(EU, db.url, t, **kw)
    with pytest.raises(upsertx.UsageError, match="max_delete"):
        upsertx.upsert(EU, db.url, t, delete_missing=True, max_delete=1.5)
    with pytest.raises(upsertx.UsageError, match="max_delete"):
        upsertx.upsert(EU, db.url, t, delete_missing=True, max_delete="a lot")
    assert content(db, t) == BEFORE


def test_soft_delete_marks_and_clears(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (sku VARCHAR(10) PRIMARY KEY, region VARCHAR(10) NOT NULL, qty INTEGER, "
               "gone BOOLEAN NOT NULL DEFAULT FALSE)",
               f"INSERT INTO {t} (sku, region, qty) VALUES ('a', 'eu', 1), ('b', 'eu', 2), ('c', 'us', 3)")
    report = upsertx.upsert(EU, db.url, t, delete_missing=True, scope=["region"], soft_delete="gone")
    assert (report.inserted, report.updated, report.deleted) == (1, 1, 1)
    marked = lambda: db.rows(f"SELECT sku FROM {t} WHERE gone ORDER BY sku")  # noqa: E731
    assert marked() == [("b",)]
    back = [{"sku": "b", "region": "eu", "qty": 2}]
    report = upsertx.upsert(back, db.url, t, delete_missing=True, scope="region", soft_delete="gone",
                            allow_empty=False, max_delete="100%")
    # b is back (cleared: updated); a and d are now missing from region eu.
    assert (report.updated, report.deleted) == (1, 2)
    assert marked() == [("a",), ("d",)]


def test_replace_where_replaces_a_window(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, day VARCHAR(10) NOT NULL, n INTEGER)",
               f"INSERT INTO {t} VALUES (1, 'mon', 1), (2, 'tue', 2), (3, 'tue', 3)")
    tue = pl.DataFrame({"id": [2, 4], "day": ["tue", "tue"], "n": [20, 4]})
    report = upsertx.upsert(tue, db.url, t, replace_where="day = 'tue'")
    assert (report.inserted, report.updated, report.deleted) == (1, 1, 1)
    assert db.rows(f"SELECT id, day, n FROM {t} ORDER BY id") == [(1, "mon", 1), (2, "tue", 20), (4, "tue", 4)]
    with pytest.raises(upsertx.InvalidValueError) as err:
        upsertx.upsert([{"id": 5, "day": "wed", "n": 5}], db.url, t, replace_where="day = 'tue'")
    assert err.value.row == 1 and "outside replace_where" in str(err.value)


def test_replace_where_on_a_table_without_a_key(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (day VARCHAR(10) NOT NULL, page VARCHAR(10), n INTEGER)",
               f"INSERT INTO {t} VALUES ('mon', 'a', 1), ('tue', 'a', 2), ('tue', 'b', 3)")
    tue = pd.DataFrame({"day": ["tue", "tue"], "page": ["a", "a"], "n": [5, 5]})
    for _ in range(2):
        report = upsertx.upsert(tue, db.url, t, replace_where="day = 'tue'")
        assert (report.inserted, report.duplicates) == (2, 0)
        assert db.rows(f"SELECT day, page, n FROM {t} ORDER BY day, n") == [
            ("mon", "a", 1), ("tue", "a", 5), ("tue", "a", 5)]
    assert report.deleted == 2


def test_newer_by_keeps_the_newest(db):
    from datetime import datetime

    t = db.table()
    db.execute(f"CREATE TABLE {t} (sku VARCHAR(10) PRIMARY KEY, price INTEGER, at TIMESTAMP NULL DEFAULT NULL)")
    day = lambda d: datetime(2026, 11, d, 10)  # noqa: E731
    seed = pl.DataFrame({"sku": ["a", "b"], "price": [1, 2], "at": [day(1), day(1)]})
    upsertx.upsert(seed, db.url, t)
    late = pl.DataFrame({"sku": ["a", "b", "c", "c"], "price": [10, 20, 30, 31],
                         "at": [day(2), datetime(2026, 10, 31), day(5), day(4)]})
    report = upsertx.upsert(late, db.url, t, newer_by="at")
    assert (report.inserted, report.updated, report.stale, report.duplicates) == (1, 1, 1, 1)
    assert report.to_dict()["stale"] == 1 and "1 stale" in str(report)
    assert db.rows(f"SELECT sku, price FROM {t} ORDER BY sku") == [("a", 10), ("b", 2), ("c", 30)]
    with pytest.raises(upsertx.UsageError, match="newer_by"):
        upsertx.upsert(late, db.url, t, newer_by="at", on_conflict="ignore")


def test_changes_lists_the_rows_that_changed(db, tmp_path):
    import json

    t = stock(db)
    out = tmp_path / "changes.ndjson"
    report = upsertx.upsert(EU, db.url, t, delete_missing=True, scope="region", changes=out, dry_run=True)
    assert content(db, t) == BEFORE
    preview = out.read_text()
    report = upsertx.upsert(EU, db.url, t, delete_missing=True, scope="region", changes=str(out))
    assert out.read_text() == preview
    lines = [json.loads(line) for line in preview.splitlines()]
    assert lines == [
        {"op": "update", "key": {"sku": "a"}, "before": {"qty": 1}, "after": {"qty": 10}},
        {"op": "insert", "key": {"sku": "d"}, "before": None, "after": {"sku": "d", "region": "eu", "qty": 4}},
        {"op": "delete", "key": {"sku": "b"}, "before": {"sku": "b", "region": "eu", "qty": 2}, "after": None},
    ]
    assert (report.inserted, report.updated, report.deleted) == (1, 1, 1)


def test_history_keeps_every_version(db):
    from datetime import date, datetime, timedelta, timezone

    t = db.table()
    first = pl.DataFrame({"id": [1, 2], "city": ["Oslo", "Rome"]})
    report = upsertx.upsert(first, db.url, t, key="id", create=True, history=("valid_from", "valid_to"),
                            current_flag="is_current", as_of=date(2026, 1, 1))
    assert (report.inserted, report.created) == (2, True)
    moved = pd.DataFrame({"id": [1, 2], "city": ["Bergen", "Rome"]})
    report = upsertx.upsert(moved, db.url, t, history="valid_from,valid_to", current_flag="is_current",
                            as_of=datetime(2026, 2, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 1)
    assert db.rows(f"SELECT id, city FROM {t} WHERE valid_to IS NULL AND is_current ORDER BY id") == [
        (1, "Bergen"), (2, "Rome")]
    closed = db.rows(f"SELECT o.city FROM {t} o JOIN {t} n ON n.id = o.id AND n.valid_from = o.valid_to")
    assert closed == [("Oslo",)]
    with pytest.raises(upsertx.UsageError, match="as_of"):
        upsertx.upsert(moved, db.url, t, history="valid_from,valid_to", as_of="last tuesday")
    with pytest.raises(upsertx.UsageError, match="current_flag"):
        upsertx.upsert(moved, db.url, t, current_flag="is_current")


def test_evolve_adds_and_widens_columns(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(3))", f"INSERT INTO {t} VALUES (1, 'Ann')")
    # A DataFrame is read once to see what it needs, then kept for the load.
    df = pl.DataFrame({"id": [1, 2], "name": ["Ann", "Bobby"], "visits": [3, None]})
    with pytest.raises(upsertx.SchemaError, match="evolve"):
        upsertx.upsert(df, db.url, t)
    preview = upsertx.upsert(df, db.url, t, evolve=True, dry_run=True)
    widened = [] if db.url.startswith("sqlite") else ['widened "name" ']
    assert [c[:len(p)] for c, p in zip(preview.schema_changes, widened + ['added column "visits" '])] == \
        widened + ['added column "visits" ']
    assert len(preview.schema_changes) == len(widened) + 1
    report = upsertx.upsert(df, db.url, t, evolve=True)
    assert report.schema_changes == preview.schema_changes
    assert report.to_dict()["schema_changes"] == list(report.schema_changes)
    assert (report.inserted, report.updated) == (1, 1)
    assert db.rows(f"SELECT id, name, visits FROM {t} ORDER BY id") == [(1, "Ann", 3), (2, "Bobby", None)]
