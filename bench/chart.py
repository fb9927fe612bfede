#!/usr/bin/env python3
"""Draws rows/s by method from a bench results JSON: one panel per database and table,
scenarios side by side, log scale (the methods span three orders of magnitude).

    .venv/bin/python chart.py results/results_10000.json   # writes results/chart_10000.png
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def color(method):
    """upsertx red, hand-written SQL grey, the others one colour each, the same in every panel."""
    if method == "upsertx":
        return "tab:red"
    for word, c in (("session.merge", "tab:brown"), ("bulk", "tab:cyan"), ("chunked", "tab:green"),
                    ("pangres", "tab:purple"), ("sling", "tab:olive")):
        if word in method:
            return c
    return "dimgray"


def main(path):
    # The memory scenario (upsertx alone, other sizes) is a table, not a bar.
    results = [r for r in json.load(open(path)) if r["scenario"] != "memory"]
    rows = results[0]["rows"]
    order = ["sqlite", "sqlite-wal", "postgres", "postgres-notls", "mariadb"]
    panels = sorted({(r["database"], r["table"]) for r in results},
                    key=lambda p: (order.index(p[0]) if p[0] in order else len(order), p[0], p[1]))
    scenarios = ["load", "upsert", "rerun"]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 3.2 * len(panels)), squeeze=False)
    for ax, (database, table) in zip(axes[:, 0], panels):
        mine = [r for r in results if r["database"] == database and r["table"] == table]
        methods = sorted({r["method"] for r in mine}, key=lambda m: (m != "upsertx", m))
        width = 0.8 / len(methods)
        for n, method in enumerate(methods):
            values = []
            for s in scenarios:
                hit = [r for r in mine if r["method"] == method and r["scenario"] == s and not r.get("failed")]
                values.append(rows / hit[0]["seconds"] if hit else 0)
            xs = [i + n * width for i in range(len(scenarios))]
            ax.bar(xs, values, width, label=method, color=color(method))
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(scenarios))], scenarios)
        ax.set_yscale("log")
        ax.set_ylabel("rows/s")
        ax.set_title(f"{database} / {table}, {rows:,} rows")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    # results_<name>.json -> chart_<name>.png
    name = os.path.basename(path).removeprefix("results_").removesuffix(".json")
    out = os.path.join(os.path.dirname(path), f"chart_{name}.png")
    fig.savefig(out, dpi=90)
    print(f"written: {out}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
