#!/usr/bin/env python3
"""The Python recipes users write today to upsert a CSV, with SQLAlchemy 2.x.

    python recipes.py merge|bulk|upsert SQLALCHEMY_URL TABLE CSV

- merge:  ORM session.merge() per row, one commit (the slowest; the bench runs it on
          10,000 rows only).
- bulk:   query which keys exist (in chunks), then session.bulk_insert_mappings() for the
          new rows and session.bulk_update_mappings() for the existing ones.
- upsert: the dialect's INSERT ... ON CONFLICT DO UPDATE (SQLite, PostgreSQL) or
          ON DUPLICATE KEY UPDATE (MySQL/MariaDB), in chunks sized from the database's
          bind-parameter limit.
- pangres: pandas.read_csv, the key as the DataFrame's index, then
          pangres.upsert(if_row_exists="update").
- adbc:   (PostgreSQL, a Parquet file, a libpq URL) the hand-written Arrow route:
          pyarrow.parquet.read_table, ADBC's adbc_ingest (binary COPY) into a temporary
          table, then one INSERT ... ON CONFLICT DO UPDATE, in one transaction.
- adbc-sqlite: the same route on SQLite (adbc_driver_sqlite; a Parquet file, the
          database file's path): ingest into a temporary table keyed like the target,
          one INSERT ... ON CONFLICT DO UPDATE.
- upsertx-polars / upsertx-pandas: (a Parquet file, an upsertx URL) the Python package
          as its users call it: polars.read_parquet / pandas.read_parquet, then
          upsertx.upsert(df, url, table). Prints the DataFrame's own size, the process's
          RSS before the upsert and its peak during the upsert (MiB) on stdout.

Values are converted with each column's Python type, as pandas-reading code would.
"""
import csv
import datetime
import sys

from sqlalchemy import create_engine, select, MetaData
from sqlalchemy.ext.automap import automap_base
from sqlalchemy.orm import Session

PARAM_LIMITS = {"sqlite": 32_766, "postgresql": 65_535, "mysql": 65_535}


def converter(column):
    try:
        kind = column.type.python_type
    except NotImplementedError:
        kind = str
    if kind is bool:
        return lambda v: v.lower() in ("1", "true", "t", "yes")
    if kind is datetime.datetime:
        return datetime.datetime.fromisoformat
    if kind is datetime.date:
        return datetime.date.fromisoformat
    if kind in (int, float):
        return kind
    return str


def read(path, table):
    convert = {c.name: converter(c) for c in table.columns}
    nullable = {c.name for c in table.columns if c.nullable}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            yield {k: (None if v == "" and k in nullable else convert[k](v)) for k, v in row.items()}


def adbc(driver, target, table_name, path):
    """The ADBC route: `driver` is "postgresql" (target: a libpq URL) or "sqlite" (target:
    the database file)."""
    import importlib

    import pyarrow.parquet as pq

    dbapi = importlib.import_module(f"adbc_driver_{driver}.dbapi")
    data = pq.read_table(path)
    cols = data.column_names
    quoted = ", ".join(f'"{c}"' for c in cols)
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in cols if c != "id")
    sqlite = driver == "sqlite"
    with dbapi.connect(target) as conn:
        with conn.cursor() as cur:
            if sqlite:
                # A stage keyed like the target (as the sqlite3 shell anchor's): its rows
                # then leave it in key order.
                stage_cols = ", ".join(f'"{c}" PRIMARY KEY' if c == "id" else f'"{c}"' for c in cols)
                cur.execute(f"CREATE TEMP TABLE upsertx_bench_stage ({stage_cols})")
            cur.adbc_ingest("upsertx_bench_stage", data, mode="append" if sqlite else "create", temporary=True)
            # WHERE true: SQLite's parser needs it between SELECT ... FROM and ON CONFLICT.
            cur.execute(f'INSERT INTO {"main." if sqlite else ""}"{table_name}" ({quoted}) SELECT {quoted} '
                        f'FROM upsertx_bench_stage WHERE true ON CONFLICT (id) DO UPDATE SET {sets}')
        conn.commit()


def upsertx_df(kind, url, table_name, path):
    import upsertx

    if kind == "polars":
        import polars as pl

        df = pl.read_parquet(path)
        size = df.estimated_size()
    else:
        import pandas as pd

        df = pd.read_parquet(path)
        size = int(df.memory_usage(deep=True).sum())
    # The peak while upserting, apart from the read's own (polars and pandas both peak
    # well above the DataFrame while reading Parquet): writing 5 to clear_refs resets
    # the process's high-water mark (Linux).
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_mib("VmRSS")
    upsertx.upsert(df, url, table_name)
    print(f"dataframe_mib {size / 2**20:.1f} rss_before_upsert_mib {before:.1f} "
          f"peak_during_upsert_mib {_status_mib('VmHWM'):.1f}")


def _status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main():
    method, url, table_name, path = sys.argv[1:5]
    if method == "adbc":
        return adbc("postgresql", url, table_name, path)
    if method == "adbc-sqlite":
        return adbc("sqlite", url, table_name, path)
    if method.startswith("upsertx-"):
        return upsertx_df(method.split("-", 1)[1], url, table_name, path)
    engine = create_engine(url)
    base = automap_base()
    base.prepare(autoload_with=engine, reflection_options={"only": [table_name]})
    cls = getattr(base.classes, table_name)
    table = cls.__table__
    key = [c.name for c in table.primary_key.columns]
    rows = list(read(path, table))

    if method == "merge":
        with Session(engine) as session:
            for row in rows:
                session.merge(cls(**row))
            session.commit()
    elif method == "bulk":
        with Session(engine) as session:
            (k,) = key
            existing = set()
            ids = [r[k] for r in rows]
            for i in range(0, len(ids), 10_000):
                existing.update(session.scalars(select(table.c[k]).where(table.c[k].in_(ids[i:i + 10_000]))))
            session.bulk_insert_mappings(cls, [r for r in rows if r[k] not in existing])
            session.bulk_update_mappings(cls, [r for r in rows if r[k] in existing])
            session.commit()
    elif method == "upsert":
        dialect = engine.dialect.name
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        elif dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.mysql import insert
        chunk = max(1, min(10_000, PARAM_LIMITS.get(dialect, 32_766) // len(table.columns)))
        with engine.begin() as conn:
            for i in range(0, len(rows), chunk):
                stmt = insert(table).values(rows[i:i + chunk])
                others = [c.name for c in table.columns if c.name not in key]
                if dialect == "mysql":
                    stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in others})
                else:
                    stmt = stmt.on_conflict_do_update(index_elements=key, set_={c: stmt.excluded[c] for c in others})
                conn.execute(stmt)
    elif method == "pangres":
        import pandas as pd
        import pangres

        df = pd.DataFrame(rows).set_index(key)
        # pangres sends one statement for the whole frame unless told a chunk size: past
        # SQLite's bind-parameter limit that fails ("too many SQL variables").
        chunk = max(1, PARAM_LIMITS.get(engine.dialect.name, 32_766) // len(table.columns))
        pangres.upsert(con=engine, df=df, table_name=table_name, if_row_exists="update", create_table=False,
                       chunksize=chunk)
    else:
        sys.exit(f"unknown method {method}")


if __name__ == "__main__":
    main()
