"""Values as DataFrames hold them: naive and timezone-aware datetimes, decimals, the four
spellings of a missing value, categorical and enum columns."""

from __future__ import annotations

import datetime as dt
import decimal

import pandas as pd
import polars as pl
import pyarrow as pa

import upsertx

UTC = dt.timezone.utc


def test_naive_and_aware_datetimes(db):
    t = db.table()
    aware = "TIMESTAMPTZ" if db.kind == "postgres" else "TIMESTAMP" if db.kind == "mariadb" else "TEXT"
    naive = "DATETIME" if db.kind == "mariadb" else "TIMESTAMP"
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, wall {naive}, instant {aware} NULL)")
    paris = dt.timezone(dt.timedelta(hours=1))
    df = pd.DataFrame({
        "id": [1, 2],
        "wall": [pd.Timestamp("2024-03-01 12:30:00"), pd.Timestamp("2024-03-02 00:00:01")],
        "instant": [pd.Timestamp("2024-03-01 12:30:00", tz=paris), pd.Timestamp("2024-03-01 23:00:00", tz="UTC")],
    })
    assert upsertx.upsert(df, db.url, t).inserted == 2
    if db.kind == "postgres":
        got = db.rows(f"SELECT id, wall, instant AT TIME ZONE 'UTC' FROM {t} ORDER BY id")
        assert got == [(1, dt.datetime(2024, 3, 1, 12, 30), dt.datetime(2024, 3, 1, 11, 30)),
                       (2, dt.datetime(2024, 3, 2, 0, 0, 1), dt.datetime(2024, 3, 1, 23, 0))]
    elif db.kind == "mariadb":
        got = db.rows(f"SELECT id, wall, CONVERT_TZ(instant, @@session.time_zone, '+00:00') FROM {t} ORDER BY id")
        assert got == [(1, dt.datetime(2024, 3, 1, 12, 30), dt.datetime(2024, 3, 1, 11, 30)),
                       (2, dt.datetime(2024, 3, 2, 0, 0, 1), dt.datetime(2024, 3, 1, 23, 0))]
    else:
        got = db.rows(f"SELECT id, wall, instant FROM {t} ORDER BY id")
        assert got == [(1, "2024-03-01 12:30:00", "2024-03-01 11:30:00+00:00"),
                       (2, "2024-03-02 00:00:01", "2024-03-01 23:00:00+00:00")]
    # The same instants from polars and from dicts change nothing.
    assert upsertx.upsert(pl.from_pandas(df), db.url, t).unchanged == 2
    rows = [{"id": 1, "wall": dt.datetime(2024, 3, 1, 12, 30), "instant": dt.datetime(2024, 3, 1, 11, 30, tzinfo=UTC)}]
    assert upsertx.upsert(rows, db.url, t).unchanged == 1


def test_decimals_stay_exact(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, amount DECIMAL(20, 6))")
    values = [decimal.Decimal("12345678901234.123456"), decimal.Decimal("-0.000001")]
    table = pa.table({"id": [1, 2], "amount": pa.array(values, pa.decimal128(20, 6))})
    assert upsertx.upsert(table, db.url, t).inserted == 2
    assert upsertx.upsert([{"id": 3, "amount": decimal.Decimal("0.1")}], db.url, t).inserted == 1
    got = db.rows(f"SELECT id, amount FROM {t} ORDER BY id")
    if db.kind == "sqlite":  # SQLite keeps NUMERIC as integers or reals
        assert [g[0] for g in got] == [1, 2, 3]
    else:
        assert got == [(1, values[0]), (2, values[1]), (3, decimal.Decimal("0.100000"))]
    assert upsertx.upsert(table, db.url, t).unchanged == 2


def test_missing_values_become_null(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, x DOUBLE PRECISION, s VARCHAR(10), n BIGINT)"
               .replace("DOUBLE PRECISION", "DOUBLE" if db.kind == "mariadb" else "DOUBLE PRECISION"))
    pdf = pd.DataFrame({"id": [1, 2], "x": [float("nan"), 1.0], "s": pd.array([pd.NA, "a"], dtype="string"),
                        "n": pd.array([pd.NA, 7], dtype="Int64")})
    assert upsertx.upsert(pdf, db.url, t).inserted == 2
    pldf = pl.DataFrame({"id": [3], "x": [None], "s": [None], "n": [None]},
                        schema={"id": pl.Int64, "x": pl.Float64, "s": pl.Utf8, "n": pl.Int64})
    assert upsertx.upsert(pldf, db.url, t).inserted == 1
    assert upsertx.upsert([{"id": 4, "x": float("nan"), "s": None}], db.url, t).inserted == 1
    assert db.rows(f"SELECT id, x, s, n FROM {t} ORDER BY id") == [
        (1, None, None, None), (2, 1.0, "a", 7), (3, None, None, None), (4, None, None, None)]


def test_categorical_and_enum_columns(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, color VARCHAR(10), size VARCHAR(10))")
    pdf = pd.DataFrame({"id": [1, 2, 3], "color": pd.Categorical(["red", "blue", "red"]),
                        "size": pd.Categorical(["S", None, "L"], categories=["S", "M", "L"], ordered=True)})
    assert upsertx.upsert(pdf, db.url, t).inserted == 3
    pldf = pl.DataFrame({"id": [4, 1], "color": ["green", "red"], "size": ["M", "S"]},
                        schema={"id": pl.Int64, "color": pl.Categorical, "size": pl.Enum(["S", "M", "L"])})
    report = upsertx.upsert(pldf, db.url, t)
    assert (report.inserted, report.unchanged) == (1, 1)
    assert db.rows(f"SELECT id, color, size FROM {t} ORDER BY id") == [
        (1, "red", "S"), (2, "blue", None), (3, "red", "L"), (4, "green", "M")]
