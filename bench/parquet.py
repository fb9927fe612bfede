#!/usr/bin/env python3
"""The Parquet twins of the benchmark's CSV inputs, with the columns typed as the target
tables type them (an empty field is NULL), written by pyarrow with its default codec
(snappy), as a pandas or pyarrow user would write them.

    python parquet.py DATA_DIR ROWS        the base, batch and sorted batch files of every table
    python parquet.py --file CSV TABLE     one file of TABLE's shape
"""
import os
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import gen

TYPES = {
    "customers": {"id": pa.int64(), "name": pa.string()},
    "orders": {
        "id": pa.int64(), "customer_id": pa.int64(), "status": pa.string(), "amount": pa.float64(),
        "quantity": pa.int32(), "is_paid": pa.bool_(), "created_at": pa.timestamp("us"),
        "updated_at": pa.timestamp("us"), "note": pa.string(), "discount": pa.float64(), "region": pa.string(),
    },
}


def twin(src, table):
    """Writes SRC's Parquet twin beside it (unless it is already newer)."""
    out = src[:-len(".csv")] + ".parquet"
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return
    convert = pacsv.ConvertOptions(column_types=TYPES[table], strings_can_be_null=True,
                                   true_values=["1"], false_values=["0"])
    pq.write_table(pacsv.read_csv(src, convert_options=convert), out)


def main():
    if sys.argv[1] == "--file":
        return twin(sys.argv[2], sys.argv[3])
    data, rows = sys.argv[1], int(sys.argv[2])
    for table in gen.HEADERS:
        for kind in ("base", "batch", "sorted"):
            twin(os.path.join(data, f"{table}_{kind}_{rows}.csv"), table)


if __name__ == "__main__":
    main()
