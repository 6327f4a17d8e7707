"""Benchmark of the catalog step (one command: ``python benchmarks/catalog.py``).

On a synthetic warehouse (``segmint.profiles.example_warehouse``: 5 behaviour
clusters, 3 dimensions, ~25 numeric features) of N clients:

1. profiles of one dimension in DuckDB (one grouped UNPIVOT query) beside the
   pandas baseline: fetch segment + features into a DataFrame, then
   ``groupby().agg(mean, median, std)`` plus the population row;
2. the whole catalog (profiles, rule trees on a 50k sample, rule metrics over
   every client, names, personas, cross-tabs) for all three dimensions;
3. the HTML report.

Results go to ``benchmarks/results/catalog.json`` and ``.md``. Scratch data lives
in ``/tmp/segmint-bench-catalog`` and is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

from segmint.profiles import build_catalog, example_warehouse
from segmint.profiles._profile import (
    ASSIGN,
    FEATURES,
    latest_as_of,
    numeric_features,
    prepare,
    profile_segments,
)
from segmint.report import render_report, write_report
from segmint.store import Warehouse

RESULTS = Path(__file__).parent / "results"
SCRATCH = Path("/tmp/segmint-bench-catalog")


def pandas_profiles(wh: Warehouse, features: list[str]):
    cols = ", ".join(f'f."{c}"' for c in features)
    df = wh.con.execute(
        f"SELECT a.segment_id, {cols} FROM {ASSIGN} a LEFT JOIN {FEATURES} f USING (client_id) "
        "WHERE a.dimension = 'behaviour'"
    ).df()
    seg = df.groupby("segment_id")[features].agg(["mean", "median", "std"])
    pop = df[features].agg(["mean", "median", "std"])
    return seg, pop


def timed(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500_000)
    args = parser.parse_args()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    try:
        wh = Warehouse(SCRATCH / "wh.duckdb", threads=2)
        t0 = time.perf_counter()
        example_warehouse(wh, args.clients, seed=0)
        t_data = time.perf_counter() - t0
        prepare(wh, latest_as_of(wh))
        features = numeric_features(wh.con)
        t_duck, _ = timed(lambda: profile_segments(wh.con, "behaviour", features))
        t_pandas, _ = timed(lambda: pandas_profiles(wh, features))
        t_catalog, catalog = timed(lambda: build_catalog(wh, project="bench"), repeat=1)
        t_report, text = timed(lambda: render_report(wh, catalog), repeat=1)
        path = write_report(SCRATCH / "report.html", text)
        fidelity = {d.dimension: round(d.rules.fidelity, 4) for d in catalog.dimensions}
        wh.close()
        result = {
            "clients": args.clients,
            "numeric_features": len(features),
            "generate_data_s": round(t_data, 2),
            "profiles_duckdb_s": round(t_duck, 3),
            "profiles_pandas_baseline_s": round(t_pandas, 3),
            "pandas_over_duckdb": round(t_pandas / t_duck, 2),
            "catalog_all_dimensions_s": round(t_catalog, 2),
            "report_s": round(t_report, 2),
            "report_mb": round(path.stat().st_size / 1e6, 2),
            "rule_fidelity": fidelity,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, DuckDB threads=2; shared and loaded",
        }
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "catalog.json").write_text(json.dumps(result, indent=2) + "\n")
    md = ["# Catalog benchmark\n", f"`python benchmarks/catalog.py --clients {args.clients}`\n",
          "| measure | value |", "| --- | --- |"]
    md += [f"| {k} | {v} |" for k, v in result.items()]
    (RESULTS / "catalog.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
