"""The `history` scenario: `upsertx --history` (a slowly
changing dimension, type 2) against the SQL users write for it by hand: a stage, one
UPDATE closing the changed current versions, one INSERT of the new versions, in one
transaction.

The dimension `orders_dim` is the `orders` columns plus `valid_from`/`valid_to`, keyed
(id, valid_from), holding the base load as of 2026-01-01. The input (`gen.history_batch`)
is the base's rows, shuffled, every tenth one changed: 10% of the entities get a new
version, as of 2026-02-01, by both methods, so their tables must come out identical.

  python3 bench/history.py --rows 1000000 [--db sqlite,postgres,mariadb] [--repeat 3]
(after `cargo build --release`; the data and the databases as bench.py uses them.)
"""
import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys

import bench
import gen

TABLE = "orders_dim"
COLS = gen.HEADERS["orders"]
BEFORE, AS_OF = "2026-01-01 00:00:00", "2026-02-01 00:00:00"
TRACKED = [c for c in COLS if c != "id"]


def ddl(orders_ddl, id_def):
    """The dimension's DDL from the database's `orders` DDL (whose id is `id_def`)."""
    body = orders_ddl.split("(", 1)[1].rsplit(")", 1)[0].replace(id_def, id_def.replace("PRIMARY KEY", "NOT NULL"))
    stamp = "TIMESTAMP" if "DATETIME" not in orders_ddl else "DATETIME"
    return f"CREATE TABLE {TABLE} ({body}, valid_from {stamp} NOT NULL, valid_to {stamp}, PRIMARY KEY (id, valid_from))"


def stage_columns(orders_ddl):
    """The `orders` columns as a stage's, NOT NULL dropped (the CSV's empty fields)."""
    return orders_ddl.split("(", 1)[1].rsplit(")", 1)[0].replace(" NOT NULL", "")


def sqlite_value(c):
    """A column of SQLite's stage as the table holds it: `.import` leaves the CSV's empty
    fields empty text, not NULL. (psql's \\copy and the LOAD DATA below make them NULL.)"""
    return f"NULLIF(s.{c}, '')" if c in bench.NULLABLE else f"s.{c}"


def close_and_insert(changed, time, update_prefix, update_where, value=lambda c: f"s.{c}"):
    """The two statements: close the changed current versions, insert the new ones."""
    differs = " OR ".join(changed(c) for c in TRACKED)
    values = ", ".join(value(c) for c in COLS)
    return [
        f"{update_prefix} {update_where} t.valid_to IS NULL AND ({differs});",
        f"INSERT INTO {TABLE} ({', '.join(COLS)}, valid_from, valid_to) SELECT {values}, {time}, NULL FROM stage AS s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {TABLE} AS t WHERE t.id = s.id AND t.valid_to IS NULL);",
    ]


def sqlite_script(csv_path, time):
    keyed = stage_columns(bench.SQLITE_DDL["orders"])
    return "\n".join([
        ".bail on",
        f"CREATE TEMP TABLE stage ({keyed});",
        f".import --csv --skip 1 --schema temp {csv_path} stage",
        "BEGIN;",
        *close_and_insert(lambda c: f"t.{c} IS NOT {sqlite_value(c)}", f"'{time}'",
                          f"UPDATE main.{TABLE} AS t SET valid_to = '{time}' FROM temp.stage AS s",
                          "WHERE s.id = t.id AND", sqlite_value),
        "COMMIT;",
    ]) + "\n"


def psql_script(csv_path, time):
    # A stage LIKE the table, as the upsert anchor's: COPY into it is fastest unindexed.
    cols = stage_columns(bench.PG_DDL["orders"]).replace("PRIMARY KEY", "")
    return "\n".join([
        "BEGIN;",
        f"CREATE TEMP TABLE stage ({cols}) ON COMMIT DROP;",
        f"\\copy stage FROM '{csv_path}' WITH (FORMAT csv, HEADER true)",
        # A temporary table has no statistics until analyzed: the joins below plan better.
        "ANALYZE stage;",
        *close_and_insert(lambda c: f"t.{c} IS DISTINCT FROM s.{c}", f"'{time}'",
                          f"UPDATE {TABLE} AS t SET valid_to = '{time}' FROM stage AS s", "WHERE s.id = t.id AND"),
        "COMMIT;",
    ]) + "\n"


def mysql_script(csv_path, time):
    keyed = stage_columns(bench.MY_DDL["orders"])
    load_cols = ", ".join(f"@{c}" if c in bench.NULLABLE else c for c in COLS)
    nullifs = ", ".join(f"{c} = NULLIF(@{c}, '')" for c in COLS if c in bench.NULLABLE)
    return "\n".join([
        "START TRANSACTION;",
        f"CREATE TEMPORARY TABLE stage ({keyed});",
        f"LOAD DATA LOCAL INFILE '{csv_path}' INTO TABLE stage FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' "
        f"LINES TERMINATED BY '\\n' IGNORE 1 LINES ({load_cols}) SET {nullifs};",
        *close_and_insert(lambda c: f"NOT (t.{c} <=> s.{c})", f"'{time}'",
                          f"UPDATE {TABLE} AS t JOIN stage AS s ON s.id = t.id SET t.valid_to = '{time}'", "WHERE"),
        "COMMIT;",
    ]) + "\n"


def upsertx(url):
    return lambda f: ([bench.UPSERTX, f, "--db", url, "--table", TABLE, "--history", "valid_from,valid_to",
                       "--as-of", AS_OF, "--json", "-q"], None)


def sqlite_checksum(db):
    con = sqlite3.connect(db)
    rows = con.execute(f"SELECT * FROM {TABLE} ORDER BY id, valid_from").fetchall()
    con.close()
    norm = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]
    return f"{len(rows)} rows, hash {hash(tuple(norm)) & 0xffffffffffff:x}"


def bench_history(args, data, database):
    """Both methods on the dimension, `args.repeat` runs each from the same template."""
    base = os.path.join(data, f"orders_base_{args.rows}.csv")
    batch = gen.history_batch(data, args.rows)
    if database.startswith("sqlite"):
        work = bench.SQLITE_WORK
        os.makedirs(work, exist_ok=True)
        template, db = os.path.join(work, "dim_template.db"), bench.SQLITE_RUN_DB
        if os.path.exists(template):
            os.remove(template)
        con = sqlite3.connect(template)
        con.execute("PRAGMA journal_mode = " + ("wal" if database == "sqlite-wal" else "delete"))
        con.execute(ddl(bench.SQLITE_DDL["orders"], "id INTEGER PRIMARY KEY"))
        con.close()
        bench.subprocess.run(["sqlite3", template], input=sqlite_script(base, BEFORE), text=True, check=True)
        reset = lambda: shutil.copy(template, db)  # noqa: E731
        checksum = lambda: sqlite_checksum(db)  # noqa: E731
        methods = {"upsertx": upsertx(f"sqlite://{db}"),
                   "sqlite3 shell (.import + UPDATE + INSERT)": lambda f: (["sqlite3", db], sqlite_script(f, AS_OF))}
        cleanup = lambda: None  # noqa: E731
    elif database.startswith("postgres"):
        url = bench.PG_URL if database == "postgres" else bench.PG_NOTLS_URL
        tpl = f"bench_{TABLE}"
        bench.psql(None, f"DROP TABLE IF EXISTS {TABLE}, {tpl};\n"
                         f"{ddl(bench.PG_DDL['orders'], 'id bigint PRIMARY KEY')};\n" + psql_script(base, BEFORE)
                   + f"ALTER TABLE {TABLE} RENAME TO {tpl};\n")
        reset = lambda: bench.psql(None, f"DROP TABLE IF EXISTS {TABLE};\nCREATE TABLE {TABLE} (LIKE {tpl} INCLUDING ALL);\n"  # noqa: E731
                                         f"INSERT INTO {TABLE} SELECT * FROM {tpl};\nVACUUM ANALYZE {TABLE};\nCHECKPOINT;\n")
        checksum = lambda: bench.psql(  # noqa: E731
            f"SELECT count(*) || ' rows, md5 ' || left(md5(string_agg(t::text, '|' ORDER BY id, valid_from)), 12) "
            f"FROM {TABLE} t").strip()
        methods = {"upsertx": upsertx(url),
                   "psql (\\copy + UPDATE + INSERT)": lambda f: (["psql", url, "-v", "ON_ERROR_STOP=1", "-qX"],
                                                                 psql_script(f, AS_OF))}
        cleanup = lambda: bench.psql(f"DROP TABLE IF EXISTS {TABLE}, {tpl}")  # noqa: E731
    else:
        tpl = f"bench_{TABLE}"
        bench.mariadb(f"DROP TABLE IF EXISTS {TABLE}, {tpl}; {ddl(bench.MY_DDL['orders'], 'id BIGINT PRIMARY KEY')};\n"
                      + mysql_script(base, BEFORE) + f"RENAME TABLE {TABLE} TO {tpl};")
        reset = lambda: bench.mariadb(f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} LIKE {tpl}; "  # noqa: E731
                                      f"INSERT INTO {TABLE} SELECT * FROM {tpl}; ANALYZE TABLE {TABLE};")
        checksum = lambda: (bench.mariadb(f"SELECT COUNT(*) FROM {TABLE}").strip() + " rows, checksum "  # noqa: E731
                            + bench.mariadb(f"CHECKSUM TABLE {TABLE}").split()[-1])
        methods = {"upsertx": upsertx(bench.MY_URL),
                   "mariadb client (LOAD DATA + UPDATE + INSERT)": lambda f: (
                       ["mariadb", "--local-infile=1"] + bench.MY_ARGS, mysql_script(f, AS_OF))}
        cleanup = lambda: bench.mariadb(f"DROP TABLE IF EXISTS {TABLE}, {tpl};")  # noqa: E731
    results, expected = [], None
    for method, make in methods.items():
        if not bench.selected(method, args.methods):
            continue
        runs = bench.timed_runs(method, args.repeat, reset, lambda: make(batch))
        if runs is None:
            results.append({"database": database, "table": TABLE, "scenario": "history", "method": method,
                            "failed": True, "rows": args.rows})
            continue
        times, rss = runs
        got = checksum()
        expected = expected or got
        if got != expected:
            print(f"  CORRECTNESS GUARD: {method} left {got}, upsertx left {expected} ({TABLE}/history)", file=sys.stderr)
        results.append({"database": database, "table": TABLE, "scenario": "history", "method": method,
                        "seconds": statistics.median(times), "runs": times, "peak_mib": max(rss), "rows": args.rows,
                        "checksum": got, "differs": got != expected})
        print(f"  {database} {TABLE} history {method:40} {statistics.median(times):8.3f}s  {got}", file=sys.stderr)
    cleanup()
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--db", default=bench.DEFAULT_DBS, help="comma-separated: sqlite, sqlite-wal, postgres, "
                   "postgres-notls, mariadb")
    p.add_argument("--methods", default="", help="as bench.py's: upsertx always runs")
    args = p.parse_args()
    data = os.path.join(bench.HERE, "data")
    os.makedirs(os.path.join(bench.HERE, "results"), exist_ok=True)
    gen.generate(data, args.rows)
    results = []
    for database in args.db.split(","):
        results += bench_history(args, data, database)
    text = bench.render(results, args)
    out = os.path.join(bench.HERE, "results", f"results_{args.rows}_history_{args.db.replace(',', '+')}")
    with open(out + ".md", "w") as f:
        f.write(text)
    with open(out + ".json", "w") as f:
        json.dump(results, f, indent=1)
    print(text)
    print(f"written: {out}.md, {out}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
