#!/usr/bin/env python3
"""upsertx beside what users run today, on the same data in the same run.

Each method runs as a whole process, timed wall-clock with its peak RSS, the median of
--repeat runs; each run starts from a fresh copy of the same database state. After each
method the table content is checksummed, so no method wins by doing less.

Scenarios: `load` (into an empty table), `upsert` (the half new / half changed batch into
a table holding the base load), `rerun` (the same batch again: nothing changes) and `sync`
(`--delete-missing`: a batch of as many rows, holding 90% of the table's keys, changed,
and 10% new ones; the hand-written SQL adds `DELETE ... WHERE NOT EXISTS` against its
stage, in the same transaction; only upsertx and the hand-written SQL run it). (`--history`
on a dimension has a script of its own: history.py.) In every
scenario, "upsertx --changes" is upsertx also writing `--changes` to a file: its ratio
is what that costs.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time

import gen

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# cargo's own rule: CARGO_TARGET_DIR when set (relative to the repository root), else target/.
UPSERTX = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR") or "target", "release", "upsertx")
PARQUET = os.path.join(HERE, "parquet.py")
VENV_PYTHON = os.path.join(HERE, ".venv", "bin", "python")
RECIPES = os.path.join(HERE, "recipes.py")
# session.merge takes seconds per ten thousand rows: it only runs on small sizes. So does
# sling's upsert into MariaDB (22 to 35 s for 10,000 rows, where its load takes 0.5 s).
MERGE_MAX_ROWS = 10_000
SLING_MYSQL_MAX_ROWS = 10_000
# Run once whatever --repeat says: at 40x to 500x upsertx's time their median changes no
# conclusion, and repeating them was half of the quick run's time.
# `--changes`: the method "upsertx --changes" is upsertx writing every change here; its
# ratio to upsertx is what the option costs.
CHANGES_FILE = os.path.join(HERE, "results", "work", "changes.ndjson")
CHANGES = "upsertx --changes"


def with_changes(methods):
    """`methods` and, beside its "upsertx", the same run writing its changes."""
    plain = methods["upsertx"]

    def changes(f):
        argv, stdin = plain(f)
        os.makedirs(os.path.dirname(CHANGES_FILE), exist_ok=True)
        return argv + ["--changes", CHANGES_FILE], stdin
    return methods | {CHANGES: changes}


RUN_ONCE = {"SQLAlchemy session.merge", "sling (incremental)"}
# Nor is any other method whose first run takes longer than this (the Python recipes at a
# million rows): it is then 10x or more upsertx's time.
SLOW_SECONDS = 60


SLING = os.path.join(HERE, ".venv", "lib", "python3.11", "site-packages", "sling_linux_amd64", "bin", "sling-linux-amd64")


def sling_method(url, obj, columns=None):
    """sling (the sling-linux-amd64 package from PyPI) in incremental mode with a primary
    key; its `_sling_loaded_at` column is switched off so the table content is comparable.
    `columns` is sling's `--columns` type map, for what its CSV inference gets wrong."""
    home = os.path.join(HERE, "results", "work", "slinghome")
    cast = ["--columns", json.dumps(columns)] if columns else []
    # Without empty_as_null sling stores the CSV's empty text fields as '' where every
    # other method stores NULL.
    return lambda f: (["env", f"UPSERTX_TARGET={url}", "SLING_LOADED_AT_COLUMN=false", f"SLING_HOME_DIR={home}", SLING,
                       "run", "--src-stream", f"file://{os.path.abspath(f)}", "--src-options", '{"empty_as_null": true}',
                       "--tgt-conn", "UPSERTX_TARGET", "--tgt-object", obj, "--mode", "incremental",
                       "--primary-key", "id"] + cast, None)


def python_methods(url, table, rows, upsertx_url=None):
    """The SQLAlchemy recipes (bench/recipes.py), for a SQLAlchemy URL; with
    `upsertx_url`, also the Python package on a polars and a pandas DataFrame read from
    the input's Parquet twin."""
    names = {"upsert": "SQLAlchemy chunked dialect upsert", "bulk": "SQLAlchemy bulk mappings", "pangres": "pangres (pandas)"}
    if rows <= MERGE_MAX_ROWS:
        names["merge"] = "SQLAlchemy session.merge"
    methods = {label: (lambda f, m=m: ([VENV_PYTHON, RECIPES, m, url(), table, f], None)) for m, label in names.items()}
    if upsertx_url is not None:
        for kind in ("polars", "pandas"):
            methods[f"Python upsertx.upsert({kind} DataFrame)"] = (
                lambda f, k=kind: ([VENV_PYTHON, RECIPES, f"upsertx-{k}", upsertx_url, table, parquet_of(f)], None))
    return methods

SQLITE_DDL = {
    "customers": "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "orders": (
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, status TEXT NOT NULL, "
        "amount REAL NOT NULL, quantity INTEGER NOT NULL, is_paid BOOLEAN NOT NULL, created_at TIMESTAMP NOT NULL, "
        "updated_at TIMESTAMP NOT NULL, note TEXT, discount REAL, region TEXT NOT NULL)"
    ),
}
NULLABLE = {"note", "discount"}

# As users connect: libpq's default sslmode (prefer) negotiates TLS with a server that has
# ssl = on, for psql, psycopg2 and upsertx alike. `postgres-notls` runs every method with
# sslmode=disable instead. Set-up statements (not timed) use the plain URL.
PG_URL = os.environ.get("UPSERTX_BENCH_PG", "postgres://root@127.0.0.1:5432/test")
PG_NOTLS_URL = PG_URL + ("&" if "?" in PG_URL else "?") + "sslmode=disable"
PG_DDL = {
    "customers": "CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL)",
    "orders": (
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, status text NOT NULL, "
        "amount double precision NOT NULL, quantity integer NOT NULL, is_paid boolean NOT NULL, "
        "created_at timestamp NOT NULL, updated_at timestamp NOT NULL, note text, discount double precision, "
        "region text NOT NULL)"
    ),
}


MY_URL = os.environ.get("UPSERTX_BENCH_MYSQL", "mysql://root@127.0.0.1:3306/test")
MY_ARGS = ["-h", "127.0.0.1", "-P", "3306", "-u", "root", "test"]
MY_DDL = {
    "customers": "CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(255) NOT NULL)",
    "orders": (
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, status VARCHAR(20) NOT NULL, "
        "amount DOUBLE NOT NULL, quantity INT NOT NULL, is_paid BOOLEAN NOT NULL, created_at DATETIME NOT NULL, "
        "updated_at DATETIME NOT NULL, note VARCHAR(255), discount DOUBLE, region VARCHAR(20) NOT NULL)"
    ),
}


def mariadb(sql):
    """Runs SQL through the mariadb client (not timed); returns stdout."""
    proc = subprocess.run(["mariadb", "--local-infile=1", "-N", "-B"] + MY_ARGS, input=sql, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"mariadb failed: {proc.stderr}")
    return proc.stdout


def mysql_script(table, csv_path, into=None, delete=False):
    """The hand-written optimum: LOAD DATA LOCAL INFILE into a temporary table keyed like
    the target (CREATE TEMPORARY TABLE ... LIKE), one INSERT ... SELECT ... ON DUPLICATE
    KEY UPDATE; with `delete`, then the target's rows missing from the stage deleted."""
    into = into or table
    cols = gen.HEADERS[table]
    load_cols = ", ".join(f"@{c}" if c in NULLABLE else c for c in cols)
    nullifs = ", ".join(f"{c} = NULLIF(@{c}, '')" for c in cols if c in NULLABLE)
    sets = ", ".join(f"{c} = VALUES({c})" for c in cols if c != "id")
    return "\n".join([
        "START TRANSACTION;",
        # A stage keyed like the target, as users write it.
        f"CREATE TEMPORARY TABLE stage LIKE {into};",
        f"LOAD DATA LOCAL INFILE '{csv_path}' INTO TABLE stage FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' "
        f"LINES TERMINATED BY '\\n' IGNORE 1 LINES ({load_cols})" + (f" SET {nullifs}" if nullifs else "") + ";",
        f"INSERT INTO {into} SELECT * FROM stage ON DUPLICATE KEY UPDATE {sets};",
        *([f"DELETE t FROM {into} AS t WHERE NOT EXISTS (SELECT 1 FROM stage AS s WHERE s.id = t.id);"] if delete else []),
        "COMMIT;",
    ]) + "\n"


def my_prepare(table, base, batch):
    for state, files in (("empty", []), ("base", [base]), ("applied", [base, batch])):
        tpl = f"bench_{table}_{state}"
        mariadb(f"DROP TABLE IF EXISTS {tpl}; " + MY_DDL[table].replace(f"TABLE {table}", f"TABLE {tpl}") + ";")
        for f in files:
            mariadb(mysql_script(table, f, into=tpl))


def my_reset(table, state):
    mariadb(f"DROP TABLE IF EXISTS {table}; {MY_DDL[table]}; INSERT INTO {table} SELECT * FROM bench_{table}_{state}; "
            f"ANALYZE TABLE {table};")


def my_checksum(table):
    count = mariadb(f"SELECT COUNT(*) FROM {table}").strip()
    checksum = mariadb(f"CHECKSUM TABLE {table}").split()[-1]
    return f"{count} rows, checksum {checksum}"


def my_methods(table, rows):
    url = MY_URL.replace("mysql://", "mysql+pymysql://")
    methods = python_methods(lambda: url, table, rows, MY_URL)
    if rows <= SLING_MYSQL_MAX_ROWS:
        methods["sling (incremental)"] = sling_method(MY_URL, f"test.{table}")
    return methods | {
        "upsertx": lambda f: ([UPSERTX, f, "--db", MY_URL, "--table", table, "--json", "-q"], None),
        "upsertx (Parquet)": lambda f: ([UPSERTX, parquet_of(f), "--db", MY_URL, "--table", table, "--json", "-q"], None),
        "mariadb client (LOAD DATA + ON DUPLICATE KEY)": lambda f: (["mariadb", "--local-infile=1"] + MY_ARGS, mysql_script(table, f)),
    }


def bench_mysql(args, data):
    return bench_server(args, data, "mariadb", my_prepare, my_reset, my_checksum, my_methods,
                        lambda t: mariadb(f"DROP TABLE IF EXISTS {t}, bench_{t}_empty, bench_{t}_base, bench_{t}_applied;"),
                        lambda table: {
                            "upsertx": lambda f: ([UPSERTX, f, "--db", MY_URL, "--table", table, "--delete-missing",
                                                   "--json", "-q"], None),
                            "mariadb client (LOAD DATA + ON DUPLICATE KEY + DELETE)": lambda f: (
                                ["mariadb", "--local-infile=1"] + MY_ARGS, mysql_script(table, f, delete=True)),
                        })


def psql(sql, stdin_text=None, url=None):
    """Runs SQL through psql (not timed), on `url` (by default the PostgreSQL server's, no
    TLS); returns stdout."""
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    url = url or PG_NOTLS_URL
    proc = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql] if stdin_text is None
                          else ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtX"],
                          input=stdin_text, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"psql failed: {proc.stderr}")
    return proc.stdout


def pg_prepare(table, base, batch, url=None):
    """Template tables bench_<table>_<state> to reset the table from before each run, and
    bench_<table>_src_<base|batch|sorted> holding each input, the source of `--from-db`
    (in the input's order: a sequential scan returns the rows as they were inserted)."""
    for state, files in (("empty", []), ("base", [base]), ("applied", [base, batch]),
                         ("src_base", [base]), ("src_batch", [batch]),
                         ("src_sorted", [batch.replace("_batch_", "_sorted_")])):
        tpl = f"bench_{table}_{state}"
        psql(f"DROP TABLE IF EXISTS {tpl}; " + PG_DDL[table].replace(f"TABLE {table}", f"TABLE {tpl}"), url=url)
        for f in files:
            psql(None, psql_script(table, f, into=tpl), url=url)


def source_table(table, csv_path):
    """The table that holds the same rows as an input file (see pg_prepare; the memory
    scenario's shuffled rows: memory_runs)."""
    name = os.path.basename(csv_path)
    kind = next((k for k in ("base", "shuffled", "sorted") if f"_{k}_" in name), "batch")
    return f"bench_{table}_src_{kind}"


FROM_DB = "upsertx (--from-db postgres)"


def parquet_of(csv_path):
    """The Parquet twin of an input file (written by parquet.py)."""
    return csv_path[:-len(".csv")] + ".parquet"


def pg_reset(table, state, url=None, distribute=False):
    """The table rebuilt from its template; `distribute`: as a Citus table distributed by
    id (the templates stay on the coordinator), every node checkpointed."""
    # As a script, not -c: VACUUM cannot run inside the one transaction -c makes.
    citus = (f"SELECT create_distributed_table('{table}', 'id');\n", "SELECT run_command_on_workers('CHECKPOINT');\n")
    before, after = citus if distribute else ("", "")
    psql(None, f"DROP TABLE IF EXISTS {table};\n{PG_DDL[table]};\n{before}INSERT INTO {table} SELECT * FROM bench_{table}_{state};\n"
               f"VACUUM ANALYZE {table};\nCHECKPOINT;\n{after}", url=url)


def pg_checksum(table, url=None):
    out = psql(f"SELECT count(*) || ' rows, md5 ' || left(md5(string_agg(t::text, '|' ORDER BY id)), 12) FROM {table} t",
               url=url)
    return out.strip()


def psql_script(table, csv_path, into=None, delete=False, keyed=False, colocated=False):
    """The hand-written optimum: \\copy into a temp table, one INSERT ... ON CONFLICT;
    with `delete`, then the target's rows missing from the stage deleted. `keyed`: the
    stage keyed like the target (`LIKE ... INCLUDING INDEXES`), as some users write it:
    the copy maintains an index, and duplicate keys in the input fail at the copy.
    `colocated` (Citus's other recipe): the stage an unlogged table distributed like the
    target (same column, same shards), so that the INSERT ... SELECT runs on each shard,
    on the workers, instead of through the coordinator."""
    into = into or table
    cols = gen.HEADERS[table]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != "id")
    stage = "bench_stage" if colocated else "stage"
    create = ([f"CREATE UNLOGGED TABLE {stage} (LIKE {into});",
               f"SELECT create_distributed_table('{stage}', 'id', colocate_with => '{into}');"] if colocated else
              [f"CREATE TEMP TABLE {stage} (LIKE {into}{' INCLUDING INDEXES' if keyed else ''}) ON COMMIT DROP;"])
    return "\n".join([
        "BEGIN;",
        *create,
        f"\\copy {stage} FROM '{csv_path}' WITH (FORMAT csv, HEADER true)",
        f"INSERT INTO {into} SELECT * FROM {stage} ON CONFLICT (id) DO UPDATE SET {sets};",
        # The delete joins the stage: a temporary table has no statistics until analyzed.
        *([f"ANALYZE {stage};",
           f"DELETE FROM {into} AS t WHERE NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE s.id = t.id);"]
          if delete else []),
        *([f"DROP TABLE {stage};"] if colocated else []),
        "COMMIT;",
    ]) + "\n"


def pg_methods(table, rows, pg_url):
    url = pg_url.replace("postgres://", "postgresql+psycopg2://")
    sling_url = pg_url.replace("postgres://", "postgresql://")
    return python_methods(lambda: url, table, rows, pg_url) | {
        # sling infers the 0/1 column as bigint and its UPDATE into a boolean column fails
        # ("column is_paid is of type boolean but expression is of type bigint"): a user
        # would add the cast, so the bench does.
        "sling (incremental)": sling_method(sling_url, f"public.{table}",
                                            {"is_paid": "bool"} if table == "orders" else None),
        "upsertx": lambda f: ([UPSERTX, f, "--db", pg_url, "--table", table, "--json", "-q"], None),
        "psql (\\copy + ON CONFLICT)": lambda f: (["psql", pg_url, "-v", "ON_ERROR_STOP=1", "-qX"], psql_script(table, f)),
        "psql (\\copy into a keyed stage + ON CONFLICT)": lambda f: (
            ["psql", pg_url, "-v", "ON_ERROR_STOP=1", "-qX"], psql_script(table, f, keyed=True)),
        # The same rows from Parquet, and the hand-written Python route for Parquet.
        "upsertx (Parquet)": lambda f: ([UPSERTX, parquet_of(f), "--db", pg_url, "--table", table, "--json", "-q"], None),
        "Python pyarrow + ADBC (adbc_ingest + ON CONFLICT), Parquet": lambda f: (
            [VENV_PYTHON, RECIPES, "adbc", pg_url, table, parquet_of(f)], None),
        # Another PostgreSQL table as the source: the same rows as the file.
        "upsertx (--from-db postgres)": lambda f: (
            [UPSERTX, "--from-db", pg_url, "--query", f"SELECT * FROM {source_table(table, f)}", "--db", pg_url,
             "--table", table, "--json", "-q"], None),
        "sling (--src-conn postgres)": lambda f: (
            ["env", f"UPSERTX_SOURCE={sling_url}", f"UPSERTX_TARGET={sling_url}", "SLING_LOADED_AT_COLUMN=false",
             f"SLING_HOME_DIR={os.path.join(HERE, 'results', 'work', 'slinghome')}", SLING, "run",
             "--src-conn", "UPSERTX_SOURCE", "--src-stream", f"public.{source_table(table, f)}",
             "--tgt-conn", "UPSERTX_TARGET", "--tgt-object", f"public.{table}", "--mode", "incremental",
             "--primary-key", "id"], None),
    }


def bench_postgres(args, data, database, pg_url):
    return bench_server(args, data, database, pg_prepare, pg_reset, pg_checksum,
                        lambda table, rows: pg_methods(table, rows, pg_url),
                        lambda t: psql(f"DROP TABLE IF EXISTS {t}, bench_{t}_empty, bench_{t}_base, bench_{t}_applied, "
                                       f"bench_{t}_src_base, bench_{t}_src_batch, bench_{t}_src_sorted"),
                        lambda table: {
                            "upsertx": lambda f: ([UPSERTX, f, "--db", pg_url, "--table", table, "--delete-missing",
                                                   "--json", "-q"], None),
                            "psql (\\copy + ON CONFLICT + DELETE)": lambda f: (
                                ["psql", pg_url, "-v", "ON_ERROR_STOP=1", "-qX"], psql_script(table, f, delete=True)),
                        })


# A Citus coordinator (`--db citus`): the tables distributed by id across its workers. No
# registry ships Citus: give the URL of a cluster of your own (README, "Distributed
# PostgreSQL (Citus)"); not part of `--db all`.
CITUS_URL = os.environ.get("UPSERTX_BENCH_CITUS", "postgres://root@127.0.0.1:9700/test")


def bench_citus(args, data):
    url = CITUS_URL

    def methods(table, rows):
        return {
            "upsertx": lambda f: ([UPSERTX, f, "--db", url, "--table", table, "--json", "-q"], None),
            "upsertx (--colocated-stage)": lambda f: (
                [UPSERTX, f, "--db", url, "--table", table, "--colocated-stage", "--json", "-q"], None),
            "psql (\\copy into a temporary stage + ON CONFLICT)": lambda f: (
                ["psql", url, "-v", "ON_ERROR_STOP=1", "-qX"], psql_script(table, f)),
            "psql (\\copy into a keyed temporary stage + ON CONFLICT)": lambda f: (
                ["psql", url, "-v", "ON_ERROR_STOP=1", "-qX"], psql_script(table, f, keyed=True)),
            "psql (\\copy into a co-located distributed stage + ON CONFLICT)": lambda f: (
                ["psql", url, "-v", "ON_ERROR_STOP=1", "-qX"], psql_script(table, f, colocated=True)),
        }

    return bench_server(args, data, "citus", lambda table, base, batch: pg_prepare(table, base, batch, url),
                        lambda table, state: pg_reset(table, state, url, distribute=True), lambda table: pg_checksum(table, url), methods,
                        lambda t: psql(f"DROP TABLE IF EXISTS {t}, bench_{t}_empty, bench_{t}_base, bench_{t}_applied, "
                                       f"bench_{t}_src_base, bench_{t}_src_batch, bench_{t}_src_sorted", url=url),
                        lambda table: {
                            "upsertx": lambda f: ([UPSERTX, f, "--db", url, "--table", table, "--delete-missing",
                                                   "--json", "-q"], None),
                            "psql (\\copy + ON CONFLICT + DELETE)": lambda f: (
                                ["psql", url, "-v", "ON_ERROR_STOP=1", "-qX"], psql_script(table, f, delete=True)),
                        })


def bench_server(args, data, database, prepare, reset, checksum_of, methods, cleanup, sync_methods):
    """Every method on every scenario of a server database: the table is rebuilt from a
    template before each run, and checksummed after each method. `sync_methods(table)`:
    the methods of the `sync` scenario (upsertx and the hand-written SQL, deleting)."""
    results = []
    for table in args.tables.split(","):
        base = os.path.join(data, f"{table}_base_{args.rows}.csv")
        batch = os.path.join(data, f"{table}_batch_{args.rows}.csv")
        sync = gen.sync_batch(data, table, args.rows) if "sync" in args.scenarios.split(",") else None
        in_order = batch.replace("_batch_", "_sorted_")
        prepare(table, base, batch)
        # The base is in key order; the batch comes shuffled and in key order (--order);
        # the sync scenario's input is shuffled.
        runs = [("load", "empty", base, "key order")]
        runs += [(scenario, state, {"shuffled": batch, "sorted": in_order}[order],
                  {"shuffled": "shuffled", "sorted": "key order"}[order])
                 for scenario, state in (("upsert", "base"), ("rerun", "applied")) for order in args.order.split(",")]
        runs.append(("sync", "base", sync, "shuffled"))
        for scenario, state, input_file, order in runs:
            if scenario not in args.scenarios.split(","):
                continue
            expected = None
            every = with_changes(sync_methods(table) if scenario == "sync" else methods(table, args.rows))
            chosen = {m: make for m, make in every.items() if selected(m, args.methods)}
            # The repetitions run in rounds, every method once a round: this machine's
            # speed drifts over minutes, and a method's runs back to back would meet a
            # different machine than the next method's.
            ordered = sorted(chosen.items(), key=lambda m: m[0] != "upsertx")
            done = {m: ([], []) for m, _ in ordered}
            checksums, failed = {}, set()
            for round_ in range(args.repeat):
                for method, make in ordered:
                    times, rss = done[method]
                    if method in failed or (round_ > 0 and (method in RUN_ONCE or
                                                             (method != "upsertx" and times[-1] > SLOW_SECONDS))):
                        continue
                    runs = timed_runs(method, 1, lambda: reset(table, state), lambda: make(input_file))
                    if runs is None:
                        failed.add(method)
                        continue
                    times += runs[0]
                    rss += runs[1]
                    if method not in checksums:
                        checksums[method] = checksum_of(table)
            for method, _ in ordered:
                if method in failed:
                    results.append({"database": database, "table": table, "scenario": scenario, "method": method,
                                    "failed": True, "rows": args.rows, "order": order})
                    continue
                times, rss = done[method]
                checksum = checksums[method]
                if expected is None:
                    expected = checksum
                differs = expected is not None and checksum != expected
                if differs:
                    print(f"  CORRECTNESS GUARD: {method} left {checksum}, upsertx left {expected} ({table}/{scenario})",
                          file=sys.stderr)
                results.append({"database": database, "table": table, "scenario": scenario, "method": method,
                                "seconds": statistics.median(times), "runs": times, "peak_mib": max(rss),
                                "rows": args.rows, "checksum": checksum, "differs": differs, "order": order})
                print(f"  {database} {table:9} {scenario:6} {order:9} {method:40} {statistics.median(times):8.3f}s",
                      file=sys.stderr)
        if table == "customers" and args.memory and "-" not in database:  # not again per variant
            every = methods(table, args.rows)
            results += memory_runs(args, data, database, lambda: reset(table, "empty"),
                                  {m: every[m] for m in ("upsertx", "upsertx (Parquet)", FROM_DB) if m in every},
                                  lambda: checksum_of(table))
        cleanup(table)
    return results


MEMORY_FACTORS = (1, 4)


def memory_runs(args, data, database, reset, sources, checksum):
    """Peak RSS of upsertx loading --rows and 4x --rows shuffled `customers` rows into an
    empty table, from CSV and from Parquet (`sources`: method name -> make): the figure
    that shows memory does not grow with the input."""
    results = []
    for factor in MEMORY_FACTORS:
        rows = args.rows * factor
        path = gen.shuffled_customers(data, rows)
        subprocess.run([VENV_PYTHON, PARQUET, "--file", path, "customers"], check=True)
        if FROM_DB in sources:
            # The same rows in a PostgreSQL table, for the query source.
            src = source_table("customers", path)
            psql(f"DROP TABLE IF EXISTS {src}; " + PG_DDL["customers"].replace("TABLE customers", f"TABLE {src}"))
            psql(None, psql_script("customers", path, into=src))
        for method, make in sources.items():
            # timed_runs resets the table first and stops the bench if upsertx fails.
            (seconds,), (peak,) = timed_runs("upsertx", 1, reset, lambda: make(path))
            left = checksum()
            if not left.startswith(f"{rows} rows"):
                sys.exit(f"memory run: {method} left {left} after loading {rows} rows into {database}")
            results.append({"database": database, "table": "customers", "scenario": "memory", "method": method,
                            "seconds": seconds, "peak_mib": peak, "rows": rows})
            print(f"  {database} memory: {method}, {rows:,} shuffled customers rows, peak RSS {peak:.0f} MiB "
                  f"({seconds:.1f}s)", file=sys.stderr)
        if FROM_DB in sources:
            psql(f"DROP TABLE IF EXISTS {source_table('customers', path)}")
    return results


def selected(method, wanted):
    """upsertx always runs (it is what the others are compared with); the others when
    --methods is not given or one of its words occurs in their name."""
    return method == "upsertx" or not wanted or any(w.lower() in method.lower() for w in wanted.split(","))


class MethodFailed(Exception):
    """A method's process failed. Fatal for upsertx; recorded and shown for the others."""


def timed_runs(method, repeat, prepare, make):
    """Runs a method `repeat` times (prepare() before each); returns (times, rss) or None
    when a method other than upsertx fails (reported on stderr)."""
    times, rss = [], []
    for _ in range(repeat):
        prepare()
        argv, stdin_text = make()
        try:
            seconds, peak, out = run_process(argv, stdin_text)
        except MethodFailed as e:
            if method == "upsertx":
                sys.exit(str(e))
            print(f"  METHOD FAILED: {method}: {str(e).splitlines()[-1] if str(e).splitlines() else e}", file=sys.stderr)
            return None
        times.append(seconds)
        rss.append(peak)
        # The Python package's recipes print their DataFrame's size: its peak RSS is
        # judged against it.
        for line in out.splitlines():
            if line.startswith("dataframe_mib "):
                f = line.split()
                print(f"  {method}: DataFrame {float(f[1]):.0f} MiB, RSS before the upsert {float(f[3]):.0f} MiB, "
                      f"peak during it {float(f[5]):.0f} MiB, peak of the whole process {peak:.0f} MiB", file=sys.stderr)
        if seconds > SLOW_SECONDS and method != "upsertx":
            break  # a median of such runs changes no conclusion
    return times, rss


def run_process(argv, stdin_text=None):
    """Runs argv under GNU time; returns (seconds, peak RSS in MiB, stdout)."""
    rss_file = os.path.join(HERE, "results", ".rss")
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv, input=stdin_text,
                          stdin=None if stdin_text else subprocess.DEVNULL, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise MethodFailed(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    with open(rss_file) as f:
        peak_kib = int(f.read().split()[-1])
    return seconds, peak_kib / 1024, proc.stdout


def same_instant(text):
    """SQLite keeps datetimes as text, and the methods spell the same instant differently:
    SQLAlchemy adds `.000000`, sling adds the UTC offset `+00:00`, ADBC writes a `T` and
    `.000000`. All read back as the input's `YYYY-MM-DD HH:MM:SS`."""
    if len(text) >= 19 and text[4] == "-" and text[10] in " T" and text[13] == ":":
        text = text[:10] + " " + text[11:]
        for suffix in ("+00:00", ".000000"):
            if text.endswith(suffix):
                text = text[:-len(suffix)]
    return text


def sqlite_checksum(db, table):
    con = sqlite3.connect(db)
    h = hashlib.md5()
    n = 0
    for row in con.execute(f"SELECT * FROM {table} ORDER BY id"):
        norm = tuple(round(v, 6) if isinstance(v, float) else same_instant(v) if isinstance(v, str) else v for v in row)
        h.update(repr(norm).encode())
        n += 1
    con.close()
    return f"{n} rows, md5 {h.hexdigest()[:12]}"


def sqlite_states(work, table, base, batch, journal):
    """Template databases: empty, holding the base load, holding base + batch; in the
    journal mode every method then runs in (WAL persists in the file)."""
    states = {}
    for name, files in (("empty", []), ("base", [base]), ("applied", [base, batch])):
        path = os.path.join(work, f"{table}_{name}.db")
        if os.path.exists(path):
            os.remove(path)
        con = sqlite3.connect(path)
        con.execute(f"PRAGMA journal_mode = {journal}")
        con.execute(SQLITE_DDL[table])
        for f in files:
            subprocess.run(["sqlite3", path], input=sqlite3_script(path, table, f), text=True, check=True,
                           capture_output=True)
        con.close()
        states[name] = path
    return states


def sqlite3_script(db, table, csv_path, delete=False):
    """The hand-written optimum: .import into a temp table, one INSERT ... ON CONFLICT;
    with `delete`, then the target's rows missing from the stage deleted."""
    cols = gen.HEADERS[table]
    # A stage keyed like the target (its rows then leave it in key order).
    ddl = SQLITE_DDL[table].split("(", 1)[1].rsplit(")", 1)[0].replace(" NOT NULL", "")
    select = ", ".join(f"NULLIF({c}, '')" if c in NULLABLE else c for c in cols)
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "id")
    return "\n".join([
        ".bail on",
        f"CREATE TEMP TABLE stage ({ddl});",
        f".import --csv --skip 1 --schema temp {csv_path} stage",
        "BEGIN;",
        f"INSERT INTO main.{table} ({', '.join(cols)}) SELECT {select} FROM temp.stage WHERE true "
        f"ON CONFLICT (id) DO UPDATE SET {sets};",
        *([f"DELETE FROM main.{table} AS t WHERE NOT EXISTS (SELECT 1 FROM temp.stage AS s WHERE s.id = t.id);"]
          if delete else []),
        "COMMIT;",
    ]) + "\n"


SQLITE_WORK = os.path.join(HERE, "results", "work")
SQLITE_RUN_DB = os.path.join(SQLITE_WORK, "run.db")


def sqlite_methods(table, rows):
    db = SQLITE_RUN_DB
    methods = {
        "upsertx": lambda f: ([UPSERTX, f, "--db", f"sqlite://{db}", "--table", table, "--json", "-q"], None),
        "upsertx (Parquet)": lambda f: ([UPSERTX, parquet_of(f), "--db", f"sqlite://{db}", "--table", table, "--json", "-q"],
                                        None),
        "sqlite3 shell (.import + ON CONFLICT)": lambda f: (["sqlite3", db], sqlite3_script(db, table, f)),
    }
    methods |= python_methods(lambda: f"sqlite:///{db}", table, rows, f"sqlite://{db}")
    methods["Python pyarrow + ADBC (adbc_ingest + ON CONFLICT), Parquet"] = lambda f: (
        [VENV_PYTHON, RECIPES, "adbc-sqlite", db, table, parquet_of(f)], None)
    methods["sling (incremental)"] = sling_method(f"sqlite://{db}", f"main.{table}")
    return methods


def bench_sqlite(args, data, database, journal):
    """SQLite through the same loop as the servers: each run starts from a copy of a
    template database file. Every method runs with SQLite's defaults (synchronous FULL)
    in the file's journal mode: `delete` (the default) or `wal`."""
    os.makedirs(SQLITE_WORK, exist_ok=True)
    states = {}

    def prepare(table, base, batch):
        states[table] = sqlite_states(SQLITE_WORK, table, base, batch, journal)

    db = SQLITE_RUN_DB
    return bench_server(args, data, database, prepare,
                        lambda table, state: shutil.copy(states[table][state], SQLITE_RUN_DB),
                        lambda table: sqlite_checksum(SQLITE_RUN_DB, table), sqlite_methods, lambda table: None,
                        lambda table: {
                            "upsertx": lambda f: ([UPSERTX, f, "--db", f"sqlite://{db}", "--table", table,
                                                   "--delete-missing", "--json", "-q"], None),
                            "sqlite3 shell (.import + ON CONFLICT + DELETE)": lambda f: (
                                ["sqlite3", db], sqlite3_script(db, table, f, delete=True)),
                        })


def render(results, args):
    lines = [f"# upsertx benchmark, {args.rows:,} rows", "",
             f"{datetime.date.today()} on {platform.node()} ({os.cpu_count()} cores, {platform.machine()}); "
             f"median of {args.repeat} runs; ratio = method time / upsertx time (above 1: upsertx is faster).", ""]
    groups = {}
    for r in results:
        if r["scenario"] == "memory":
            continue
        groups.setdefault((r["database"], r["table"], r["scenario"], r.get("order", "")), []).append(r)
    for (database, table, scenario, order), rows in groups.items():
        ours = next(r["seconds"] for r in rows if r["method"] == "upsertx")
        lines += [f"## {database} / {table} / {scenario}, {order} input", "",
                  "| method | seconds | rows/s | ratio to upsertx | peak RSS MiB |", "|---|---:|---:|---:|---:|"]
        for r in sorted(rows, key=lambda r: r.get("seconds", float("inf"))):
            if r.get("failed"):
                lines.append(f"| {r['method']} (**failed**, see the run's log) | | | | |")
                continue
            name = r["method"] + (" (**different table content**)" if r.get("differs") else "")
            lines.append(f"| {name} | {r['seconds']:.3f} | {r['rows'] / r['seconds']:,.0f} | "
                         f"{r['seconds'] / ours:.2f} | {r['peak_mib']:.0f} |")
        lines.append("")
    memory = [r for r in results if r["scenario"] == "memory"]
    if memory:
        lines += ["## upsertx peak memory", "",
                  "Shuffled `customers` rows loaded into an empty table, one run each.", "",
                  "| database | source | rows | seconds | peak RSS MiB |", "|---|---|---:|---:|---:|"]
        lines += [f"| {r['database']} | {r['method']} | {r['rows']:,} | {r['seconds']:.2f} | {r['peak_mib']:.0f} |"
                  for r in memory]
        lines.append("")
    return "\n".join(lines)


DEFAULT_DBS = "sqlite,postgres,mariadb"
ALL_DBS = "sqlite,sqlite-wal,postgres,postgres-notls,mariadb"
DEFAULT_TABLES = "customers,orders"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--db", default=DEFAULT_DBS, help="comma-separated: sqlite, sqlite-wal, postgres (TLS as the server "
                   "offers it), postgres-notls, mariadb; or all; also citus (a cluster of your own: "
                   "UPSERTX_BENCH_CITUS, not in all)")
    p.add_argument("--methods", default="", help="comma-separated words: run only the methods whose name holds one "
                   "(e.g. 'client,psql,shell' for the hand-written SQL anchors); upsertx always runs")
    p.add_argument("--tables", default=DEFAULT_TABLES, help="comma-separated: customers, orders")
    p.add_argument("--scenarios", default="load,upsert,rerun",
                   help="comma-separated: load, upsert, rerun, sync (--delete-missing); `--history` has a "
                   "script of its own, history.py")
    p.add_argument("--order", default="shuffled,sorted",
                   help="comma-separated: the upsert batch's order, shuffled and/or sorted (key order); the base "
                   "load is in key order")
    p.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure upsertx's peak RSS on --rows and 4x --rows shuffled customers rows (default: on)")
    args = p.parse_args()
    if unknown := set(args.order.split(",")) - {"shuffled", "sorted"}:
        p.error(f"unknown order {', '.join(sorted(unknown))} (shuffled, sorted)")
    if unknown := set(args.tables.split(",")) - set(gen.HEADERS):
        p.error(f"unknown table {', '.join(sorted(unknown))} (customers, orders)")
    data = os.path.join(HERE, "data")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    print(f"generating {args.rows:,}-row data in {data}", file=sys.stderr)
    gen.generate(data, args.rows)
    # The Parquet twins of the inputs, written by pyarrow in the bench's virtualenv.
    subprocess.run([VENV_PYTHON, PARQUET, data, str(args.rows)], check=True)
    results = []
    if args.db == "all":
        args.db = ALL_DBS
    dbs = args.db.split(",")
    if unknown := set(dbs) - set(ALL_DBS.split(",")) - {"citus"}:
        p.error(f"unknown database {', '.join(sorted(unknown))} ({ALL_DBS}, citus)")
    if "sqlite" in dbs:
        results += bench_sqlite(args, data, "sqlite", "delete")
    if "sqlite-wal" in dbs:
        results += bench_sqlite(args, data, "sqlite-wal", "wal")
    if "postgres" in dbs:
        results += bench_postgres(args, data, "postgres", PG_URL)
    if "postgres-notls" in dbs:
        results += bench_postgres(args, data, "postgres-notls", PG_NOTLS_URL)
    if "mariadb" in dbs:
        results += bench_mysql(args, data)
    if "citus" in dbs:
        results += bench_citus(args, data)
    text = render(results, args)
    # A partial run (some databases, tables or methods) gets a name of its own, so that it
    # does not overwrite the full run of the same size.
    parts = [args.db.replace(",", "+") if args.db != DEFAULT_DBS else "",
             args.tables.replace(",", "+") if args.tables != DEFAULT_TABLES else "",
             args.methods.replace(",", "+").replace(" ", "") if args.methods else "",
             args.scenarios.replace(",", "+") if args.scenarios != "load,upsert,rerun" else "",
             args.order.replace(",", "+") if args.order != "shuffled,sorted" else ""]
    suffix = "".join(f"_{p}" for p in parts if p)
    out = os.path.join(HERE, "results", f"results_{args.rows}{suffix}")
    with open(out + ".md", "w") as f:
        f.write(text)
    with open(out + ".json", "w") as f:
        json.dump(results, f, indent=1)
    print(text)
    with open(os.path.join(HERE, "results", ".last"), "w") as f:
        f.write(out + ".json")
    print(f"written: {out}.md, {out}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
