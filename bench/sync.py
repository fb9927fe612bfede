#!/usr/bin/env python3
"""The `upsertx sync` benchmark: a PostgreSQL source database of 20 tables (1k rows up to
2M x --scale, mixed types, some with composite keys, each with an indexed `updated_at`)
into PostgreSQL, MariaDB and SQLite: a first full sync, then a nightly incremental run
after 1% of each table's rows changed and 0.1% deleted, for each of

  - upsertx sync (one pipeline file, `incremental = "updated_at"`, `delete_missing`),
  - sling's replication (the sling-linux-amd64 package: mode incremental, primary_key,
    update_key, SLING_THREADS = --jobs),
  - upsertx called once per table in a shell loop, as users script it today
    (`--from-db --query "SELECT * ..." --delete-missing`, --jobs at a time),
  - upsertx sync without `delete_missing`: the work sling's free CLI does (its
    `delete_missing` is Sling Pro), for a like-for-like nightly figure,

timed in the same run, each target's tables checked equal to the source after each run
(count, key sum, a column sum, the booleans): a method that misses a change fails.

    bench/sync.py --scale 0.01 --jobs 2       (a few minutes)
    bench/sync.py --scale 1 --jobs 2          (the issue's sizes: ~5.5M rows)

Run through bench/run-sync.sh, which builds upsertx and the bench's virtualenv first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
UPSERTX = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "upsertx")
SLING = os.path.join(HERE, ".venv", "lib", "python3.11", "site-packages", "sling_linux_amd64", "bin",
                     "sling-linux-amd64")
WORK = os.path.join(HERE, "results", "work", "sync")
PG = "postgres://root@127.0.0.1:5432"
MY = "mysql://root@127.0.0.1:3306"
SRC_DB, DW_DB = "upsertx_sync_src", "upsertx_sync_dw"
# As users connect (libpq's default sslmode, prefer: TLS with a server that offers it),
# for every method alike; set-up and checks (not timed) go without TLS.
SRC_URL = f"{PG}/{SRC_DB}"


def run(argv, stdin_text=None, env=None, check=True):
    proc = subprocess.run(argv, input=stdin_text, capture_output=True, text=True,
                          env=None if env is None else dict(os.environ, **env))
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}... failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def psql(db, sql):
    return run(["psql", f"{PG}/{db}?sslmode=disable", "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql],
               env={"PGOPTIONS": "-c client_min_messages=warning"}).stdout


def mariadb(sql, db=None):
    return run(["mariadb", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "-N", "-B"] + ([db] if db else []) + ["-e", sql]).stdout


def tables(scale):
    """(name, rows, composite key) of the 20 tables: sizes from 1k to 2M x scale."""
    out = []
    for i in range(20):
        rows = max(1000, int(1000 * (2000 ** (i / 19)) * scale)) if i else 1000
        out.append((f"t{i + 1:02d}", rows, i % 4 == 3))
    return out


def make_source(scale):
    psql("postgres", f"DROP DATABASE IF EXISTS {SRC_DB}")
    psql("postgres", f"CREATE DATABASE {SRC_DB}")
    for name, rows, composite in tables(scale):
        key = "PRIMARY KEY (region, id)" if composite else "PRIMARY KEY (id)"
        psql(SRC_DB, f"""
            CREATE TABLE {name} (id bigint NOT NULL, region text NOT NULL, name text, amount numeric(12,2),
                qty integer, flag boolean, day date, note text, updated_at timestamptz(6) NOT NULL, {key});
            INSERT INTO {name}
            SELECT g, (ARRAY['eu','us','apac'])[1 + g % 3], 'name ' || g, (g % 10000) / 100.0, g % 1000,
                   g % 2 = 0, DATE '2020-01-01' + (g % 2000)::int, CASE WHEN g % 5 = 0 THEN NULL ELSE md5(g::text) END,
                   TIMESTAMPTZ '2026-12-01 00:00:00+00' + g * INTERVAL '1 microsecond'
            FROM generate_series(1, {rows}) g;
            CREATE INDEX ON {name} (updated_at);
            ANALYZE {name};""")


def nightly_changes(scale):
    """1% of each table's rows changed (a new updated_at), 0.1% deleted."""
    for name, _, _ in tables(scale):
        psql(SRC_DB, f"""
            UPDATE {name} SET amount = amount + 1, qty = qty + 1, updated_at = clock_timestamp() WHERE id % 100 = 7;
            DELETE FROM {name} WHERE id % 1000 = 3;""")


def source_sums(scale):
    return {name: psql(SRC_DB, f"SELECT count(*), coalesce(sum(id), 0), coalesce(sum(qty), 0), count(*) FILTER (WHERE flag) FROM {name}").strip().split("|")
            for name, _, _ in tables(scale)}


class Target:
    def __init__(self, kind):
        self.kind = kind
        self.sqlite = os.path.join(WORK, "dw.db")

    @property
    def url(self):
        return {"postgres": f"{PG}/{DW_DB}", "mariadb": f"{MY}/{DW_DB}", "sqlite": f"sqlite://{self.sqlite}"}[self.kind]

    def reset(self):
        if self.kind == "postgres":
            psql("postgres", f"DROP DATABASE IF EXISTS {DW_DB}")
            psql("postgres", f"CREATE DATABASE {DW_DB}")
        elif self.kind == "mariadb":
            mariadb(f"DROP DATABASE IF EXISTS {DW_DB}; CREATE DATABASE {DW_DB}")
        else:
            for suffix in ("", "-journal", "-wal", "-shm"):
                if os.path.exists(self.sqlite + suffix):
                    os.remove(self.sqlite + suffix)

    def sums(self, name):
        # Booleans as each method stores them (sling: 'true' in a char(5) on MariaDB).
        flag = "sum(CASE WHEN CAST(flag AS CHAR) IN ('1', 'true', 't') THEN 1 ELSE 0 END)"
        sql = f"SELECT count(*), coalesce(sum(id), 0), coalesce(sum(qty), 0), {flag} FROM {name}"
        if self.kind == "postgres":
            row = psql(DW_DB, sql).strip().split("|")
        elif self.kind == "mariadb":
            row = mariadb(sql, DW_DB).strip().split("\t")
        else:
            row = [str(v if v is not None else 0) for v in sqlite3.connect(self.sqlite).execute(sql).fetchone()]
        return [v.split(".")[0] if v not in ("NULL", "None") else "0" for v in row]


def upsertx_sync(target, scale, jobs, deletes=True):
    pipeline = os.path.join(WORK, "pipeline.toml")
    with open(pipeline, "w") as f:
        f.write(f'source = "{SRC_URL}"\ntarget = "{target.url}"\njobs = {jobs}\n[defaults]\ncreate = true\n\n'
                '[[streams]]\ntable = "public.t*"\nincremental = "updated_at"\n'
                + ('delete_missing = true\n' if deletes else ''))
    return lambda: run([UPSERTX, "sync", pipeline, "--json", "-q"])


def upsertx_sync_no_deletes(target, scale, jobs):
    """The work sling's free version does: the changed rows, no deletes (its nightly check
    then fails on the deleted rows, as sling's does)."""
    return upsertx_sync(target, scale, jobs, deletes=False)


def shell_loop(target, scale, jobs):
    def one(spec):
        name, _, composite = spec
        key = "region,id" if composite else "id"
        run([UPSERTX, "--from-db", SRC_URL, "--query", f"SELECT * FROM {name}", "--db", target.url, "--table", name,
             "--key", key, "--create", "--delete-missing", "--allow-empty", "--json", "-q"])
    # SQLite takes one writer: a loop that loads into it at once only waits and times out.
    workers = 1 if target.kind == "sqlite" else jobs
    return lambda: list(ThreadPoolExecutor(workers).map(one, tables(scale)))


def sling(target, scale, jobs):
    replication = os.path.join(WORK, "replication.yaml")
    schema = {"postgres": "public", "mariadb": DW_DB, "sqlite": "main"}[target.kind]
    streams = "\n".join(
        f"  public.{name}:\n    object: {schema}.{name}\n    primary_key: [{'region, id' if composite else 'id'}]"
        for name, _, composite in tables(scale))
    with open(replication, "w") as f:
        f.write(f"source: SRC\ntarget: DST\ndefaults:\n  mode: incremental\n  update_key: updated_at\n"
                f"  target_options:\n    delete_missing: hard\nstreams:\n{streams}\n")
    url = target.url
    env = {"SRC": SRC_URL, "DST": url, "SLING_THREADS": str(jobs), "SLING_LOADED_AT_COLUMN": "false",
           "SLING_HOME_DIR": os.path.join(WORK, "slinghome"), "SLING_DISABLE_TELEMETRY": "true"}
    return lambda: run([SLING, "run", "-r", replication], env=env)


METHODS = {"upsertx sync": upsertx_sync, "sling replication": sling, "upsertx per table (shell loop)": shell_loop,
           "upsertx sync (no deletes)": upsertx_sync_no_deletes}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--targets", default="postgres,mariadb,sqlite")
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    total = sum(rows for _, rows, _ in tables(args.scale))
    print(f"sync bench: 20 tables, {total:,} rows (scale {args.scale}), jobs {args.jobs}", flush=True)
    results = []
    for kind in args.targets.split(","):
        target = Target(kind)
        for method in args.methods.split(","):
            make_source(args.scale)
            target.reset()
            go = METHODS[method](target, args.scale, args.jobs)
            row = {"target": kind, "method": method}
            for phase in ("full", "nightly"):
                if phase == "nightly":
                    nightly_changes(args.scale)
                expected = source_sums(args.scale)
                start = time.perf_counter()
                try:
                    go()
                    seconds = time.perf_counter() - start
                    wrong = [n for n, want in expected.items() if target.sums(n) != want]
                    row[phase] = round(seconds, 2) if not wrong else f"{seconds:.2f} s, WRONG: {', '.join(wrong[:4])}"
                except RuntimeError as e:
                    row[phase] = f"failed: {str(e).splitlines()[-1][:160]}"
                    break
                print(f"  {kind:9} {method:32} {phase:8} {row[phase]}", flush=True)
            results.append(row)
    stamp = time.strftime("%Y-%m-%d-%H%M")
    out = os.path.join(HERE, "results", f"sync-{stamp}.json")
    with open(out, "w") as f:
        json.dump({"scale": args.scale, "rows": total, "jobs": args.jobs, "results": results}, f, indent=1)
    print(f"\n| target | method | full sync (s) | nightly (s) |\n|---|---|---|---|")
    for r in results:
        print(f"| {r['target']} | {r['method']} | {r.get('full', '-')} | {r.get('nightly', '-')} |")
    print(f"\n(results in {os.path.relpath(out, ROOT)})")


if __name__ == "__main__":
    sys.exit(main())
