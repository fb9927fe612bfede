#!/usr/bin/env python3
"""Deterministic benchmark data.

For each table, a base load (in key order) and an upsert batch of the same size: half of
the batch are existing keys with changed values, half are new keys, in shuffled order;
and the batch's very rows in key order (`{table}_sorted_{rows}.csv`), as an extract
`ORDER BY id` or a table read along its primary key would give them.

  customers: id, name                         (the classic SQLAlchemy bulk-upsert shape)
  orders:    11 columns: integers, text, floats, a boolean, two timestamps,
             nullable text and float (about 1 in 5 NULL, written as empty fields)
"""
import argparse
import csv
import os
import random

STATUSES = ["new", "paid", "shipped", "delivered", "returned"]
REGIONS = ["north", "south", "east", "west", "central"]


def customer(i, version):
    return [i, f"customer {i} v{version}"]


def order(i, version, rng):
    day = 1 + (i * 7 + version) % 28
    note = "" if rng.random() < 0.2 else f"note {i} v{version}"
    discount = "" if rng.random() < 0.2 else f"{rng.random() * 10:.2f}"
    return [
        i,
        1 + (i * 31) % 50_000,
        STATUSES[(i + version) % len(STATUSES)],
        f"{(i % 1000) * 1.25 + version:.2f}",
        1 + (i + version) % 9,
        (i + version) % 2,
        f"2024-01-{day:02d} 10:{i % 60:02d}:00",
        f"2024-02-{day:02d} 11:{(i + version) % 60:02d}:00",
        note,
        discount,
        REGIONS[i % len(REGIONS)],
    ]


HEADERS = {
    "customers": ["id", "name"],
    "orders": ["id", "customer_id", "status", "amount", "quantity", "is_paid",
               "created_at", "updated_at", "note", "discount", "region"],
}


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def generate(out, rows):
    os.makedirs(out, exist_ok=True)
    for table in HEADERS:
        base_path = os.path.join(out, f"{table}_base_{rows}.csv")
        batch_path = os.path.join(out, f"{table}_batch_{rows}.csv")
        if os.path.exists(base_path) and os.path.exists(batch_path):
            sorted_batch(batch_path)
            continue
        rng = random.Random(42)
        make = customer if table == "customers" else (lambda i, v: order(i, v, rng))
        write(base_path, HEADERS[table], (make(i, 0) for i in range(1, rows + 1)))
        half = rows // 2
        ids = list(range(rows - half + 1, rows + 1)) + list(range(rows + 1, rows + (rows - half) + 1))
        random.Random(7).shuffle(ids)
        write(batch_path, HEADERS[table], (make(i, 1) for i in ids))
        sorted_batch(batch_path)


def sorted_batch(batch_path):
    """The batch's rows (the same values) in key order, beside it; returns its path."""
    path = batch_path.replace("_batch_", "_sorted_")
    if not os.path.exists(path) or os.path.getmtime(path) < os.path.getmtime(batch_path):
        with open(batch_path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            rows = sorted(reader, key=lambda r: int(r[0]))
        write(path, header, rows)
    return path


def sync_batch(out, table, rows):
    """The `sync` scenario's input for TABLE: rows rows, shuffled, changed (version 1):
    the base's keys but every tenth (10% of the table is missing from it) and as many
    new keys. Returns the file's path."""
    path = os.path.join(out, f"{table}_sync_{rows}.csv")
    if not os.path.exists(path):
        os.makedirs(out, exist_ok=True)
        ids = [i for i in range(1, rows + 1) if i % 10 != 0]
        ids += range(rows + 1, rows + 1 + (rows - len(ids)))
        random.Random(13).shuffle(ids)
        rng = random.Random(42)
        make = customer if table == "customers" else (lambda i, v: order(i, v, rng))
        write(path, HEADERS[table], (make(i, 1) for i in ids))
    return path


def history_batch(out, rows):
    """The `history` scenario's input: the `orders` base rows 1..rows, shuffled, every
    tenth one changed (version 1), the others as they were. Returns the file's path."""
    path = os.path.join(out, f"orders_history_{rows}.csv")
    if not os.path.exists(path):
        os.makedirs(out, exist_ok=True)
        # The base's random draws in the base's order, so unchanged rows stay identical.
        rng = random.Random(42)
        made = [order(i, 1 if i % 10 == 0 else 0, rng) for i in range(1, rows + 1)]
        random.Random(17).shuffle(made)
        write(path, HEADERS["orders"], made)
    return path


def shuffled_customers(out, rows):
    """`customers` rows 1..rows in shuffled order: the memory scenario's input (a load into
    an empty table that cannot lean on the input's order). Returns the file's path."""
    path = os.path.join(out, f"customers_shuffled_{rows}.csv")
    if not os.path.exists(path):
        os.makedirs(out, exist_ok=True)
        ids = list(range(1, rows + 1))
        random.Random(11).shuffle(ids)
        write(path, HEADERS["customers"], (customer(i, 0) for i in ids))
    return path


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data"))
    a = p.parse_args()
    generate(a.out, a.rows)
