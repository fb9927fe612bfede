"""DataFrames built the ways users build them (pandas 3's `pd.concat` and `pd.read_csv`,
whose text columns come in several Arrow chunks; object columns of mixed ints and
strings, as a spreadsheet gives them; nycflights13-shaped frames with nullable integers,
NaN and time-zone-aware timestamps), into each of the three databases."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

import upsertx


def test_a_frame_from_pd_concat_loads(db):
    t = db.table()
    df = pd.concat([pd.DataFrame({"id": [1], "s": ["a"]}), pd.DataFrame({"id": [2], "s": ["b"]})],
                   ignore_index=True)
    report = upsertx.upsert(df, db.url, t, key="id", create=True)
    assert (report.created, report.inserted) == (True, 2)
    assert db.rows(f"SELECT id, s FROM {t} ORDER BY id") == [(1, "a"), (2, "b")]


def test_many_chunks_across_slices(db):
    # 70,000 one-row frames concatenated: every text column is 70,000 chunks, and the
    # frame is more than one 65,536-row slice.
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, s VARCHAR(20))")
    parts = [pd.DataFrame({"id": range(i, i + 1000), "s": [f"v{j}" for j in range(i, i + 1000)]})
             for i in range(0, 70_000, 1000)]
    df = pd.concat(parts, ignore_index=True)
    report = upsertx.upsert(df, db.url, t)
    assert report.inserted == 70_000
    assert db.rows(f"SELECT COUNT(*), MIN(s), MAX(s) FROM {t}") == [(70_000, "v0", "v9999")]


def test_a_frame_from_read_csv_loads(db, tmp_path):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, carrier VARCHAR(10), dep_delay DOUBLE PRECISION)"
               .replace("DOUBLE PRECISION", "DOUBLE" if db.kind == "mariadb" else "DOUBLE PRECISION"))
    csv = tmp_path / "flights.csv"
    with open(csv, "w") as f:
        f.write("id,carrier,dep_delay\n")
        for i in range(200_000):
            f.write(f"{i},{'UA' if i % 3 else 'AA'},{'' if i % 7 == 0 else i % 50}\n")
    # pandas' pyarrow reader keeps its blocks as chunks (the default one does too, from
    # about a million rows).
    df = pd.read_csv(csv, engine="pyarrow")
    assert df["carrier"].array._pa_array.num_chunks > 1
    report = upsertx.upsert(df, db.url, t)
    assert report.inserted == 200_000
    assert db.rows(f"SELECT COUNT(*), COUNT(dep_delay) FROM {t} WHERE carrier = 'AA'") == [(66_667, 57_143)]
    again = upsertx.upsert(pd.read_csv(csv), db.url, t)
    assert again.unchanged == 200_000


def flights_like(n=1000):
    """As nycflights13.flights comes: nullable integers, NaN in floats, text, and a
    time-zone-aware timestamp."""
    rng = np.random.default_rng(7)
    dep = pd.array([None if i % 11 == 0 else int(v) for i, v in enumerate(rng.integers(0, 2400, n))],
                   dtype="Int64")
    delay = rng.normal(10, 30, n)
    delay[::13] = np.nan
    first = pd.DataFrame({
        "id": range(n // 2), "dep_time": dep[: n // 2], "dep_delay": delay[: n // 2],
        "tailnum": [None if i % 17 == 0 else f"N{i:05d}" for i in range(n // 2)],
        "time_hour": pd.date_range("2013-01-01 05:00", periods=n // 2, freq="h", tz="America/New_York"),
    })
    second = pd.DataFrame({
        "id": range(n // 2, n), "dep_time": dep[n // 2:], "dep_delay": delay[n // 2:],
        "tailnum": [f"N{i:05d}" for i in range(n // 2, n)],
        "time_hour": pd.date_range("2013-02-01 05:00", periods=n - n // 2, freq="h", tz="America/New_York"),
    })
    return pd.concat([first, second], ignore_index=True)


def test_a_flights_like_frame_loads_and_reloads_unchanged(db):
    t = db.table()
    df = flights_like()
    report = upsertx.upsert(df, db.url, t, key="id", create=True)
    assert (report.created, report.inserted) == (True, 1000)
    assert db.rows(f"SELECT COUNT(*), COUNT(dep_time), COUNT(dep_delay), COUNT(tailnum) FROM {t}") == [
        (1000, 1000 - len(range(0, 1000, 11)), 1000 - len(range(0, 1000, 13)), 1000 - len(range(0, 500, 17)))]
    again = upsertx.upsert(df, db.url, t)
    assert (again.unchanged, again.updated, again.inserted) == (1000, 0, 0)
    # The instant survives: 2013-01-01 05:00 in New York is 10:00 UTC.
    (first,) = db.rows(f"SELECT time_hour FROM {t} WHERE id = 0")
    got = first[0]
    if isinstance(got, str):
        got = datetime.datetime.fromisoformat(got)
    if got.tzinfo is not None:
        got = got.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    assert got == datetime.datetime(2013, 1, 1, 10, 0)


def test_mixed_ints_and_strings_into_a_text_column(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, label VARCHAR(40))")
    df = pd.DataFrame({"id": [1, 2, 3, 4], "label": [100, "Some Field", None, 2.5]}, dtype=object)
    df["id"] = df["id"].astype("int64")
    report = upsertx.upsert(df, db.url, t)
    assert report.inserted == 4
    assert db.rows(f"SELECT id, label FROM {t} ORDER BY id") == [(1, "100"), (2, "Some Field"), (3, None),
                                                                  (4, "2.5")]


def test_mixed_ints_and_strings_into_an_integer_column(db):
    t = db.table()
    db.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, n BIGINT)")
    df = pd.DataFrame({"id": [1, 2], "n": pd.Series([100, "200"], dtype=object)})
    assert upsertx.upsert(df, db.url, t).inserted == 2
    assert db.rows(f"SELECT id, n FROM {t} ORDER BY id") == [(1, 100), (2, 200)]
    bad = pd.DataFrame({"id": [3, 4, 5], "n": pd.Series([300, "400", "Some Field"], dtype=object)})
    with pytest.raises(upsertx.InvalidValueError) as err:
        upsertx.upsert(bad, db.url, t)
    assert (err.value.row, err.value.column, err.value.value) == (3, "n", "Some Field")
    assert "Traceback" not in str(err.value)
    assert db.rows(f"SELECT COUNT(*) FROM {t}") == [(2,)]


def test_mixed_column_created_as_text(db):
    t = db.table()
    df = pd.DataFrame({"id": [1, 2], "code": pd.Series([7, "007"], dtype=object)})
    report = upsertx.upsert(df, db.url, t, key="id", create=True)
    assert report.inserted == 2
    assert db.rows(f"SELECT id, code FROM {t} ORDER BY id") == [(1, "7"), (2, "007")]
