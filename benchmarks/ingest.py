"""Benchmark of ingestion (one command: ``python benchmarks/ingest.py``).

Generates (or reuses, under ``benchmarks/data/``) a synthetic bank with about 10 million
transactions, then times, each in a fresh subprocess and warehouse:

* **floor** — DuckDB's plain ``CREATE TABLE AS SELECT * FROM read_parquet(...)`` of the
  same transaction files: no typing, no contracts, no lineage;
* **segmint** — ``Project.ingest()``: typed load of every entity with every contract rule,
  quarantine, duplicate detection, run ledger and input checksums. The transactions
  entity's own time (from the ingest report) is compared with the floor; the whole ingest
  (five entities) is reported beside a floor that loads all five sources plainly.

Rows/second and peak memory (max RSS of the subprocess) are reported, with the ratio to
the floor; each contender runs ``--repeats`` times, alternating, and the median is kept.
Results go to ``benchmarks/results/ingest.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATA = HERE / "data"

FLOOR_TX = """
import duckdb, json, resource, sys, time
db, files = sys.argv[2], sys.argv[3]
t = time.perf_counter()
con = duckdb.connect(db)
con.execute(f"CREATE TABLE transactions AS SELECT * FROM read_parquet('{files}')")
n = con.execute("SELECT count(*) FROM transactions").fetchone()[0]
con.close()
print(json.dumps({"seconds": time.perf_counter() - t, "rows": n,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

FLOOR_ALL = """
import duckdb, json, resource, sys, time
db, root = sys.argv[2], sys.argv[3]
t = time.perf_counter()
con = duckdb.connect(db)
for name, reader in [
    ("clients", f"read_csv('{root}/crm/clients.csv')"),
    ("transactions", f"read_parquet('{root}/transactions/*.parquet')"),
    ("holdings", f"read_parquet('{root}/holdings/*.parquet')"),
    ("engagement", f"read_parquet('{root}/engagement/*.parquet')"),
    ("profitability", f"read_csv('{root}/finance/profitability.csv')"),
]:
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM {reader}")
con.close()
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SEGMINT = """
import json, resource, sys, time
from segmint import Project
project = Project.from_yaml(sys.argv[2])
t = time.perf_counter()
report = project.ingest()
tx = report["transactions"]
print(json.dumps({"seconds": time.perf_counter() - t, "tx_seconds": tx.seconds,
                  "rows": tx.rows_read, "loaded": tx.rows_loaded,
                  "quarantined": report.rows_quarantined,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(script: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", script, "--", *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def dataset(clients: int, faults: float) -> Path:
    from segmint.datasets import generate_bank

    root = DATA / f"bank-{clients}-{faults}"
    if not (root / "segmint.yaml").exists():
        shutil.rmtree(root, ignore_errors=True)
        print(f"generating {clients:,} clients into {root} ...", flush=True)
        generate_bank(root, n_clients=clients, seed=0, faults=faults)
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=100_000, help="~100 transactions each")
    ap.add_argument("--faults", type=float, default=0.001, help="rate of each fault kind")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    root = dataset(args.clients, args.faults)
    scratch = Path("/tmp/segmint-bench-ingest")
    samples: dict[str, list[dict]] = {"floor_tx": [], "floor_all": [], "segmint": []}
    for i in range(args.repeats):
        for name in (["floor_tx", "floor_all", "segmint"] if i % 2 == 0 else ["segmint", "floor_all", "floor_tx"]):
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            shutil.rmtree(root / ".segmint", ignore_errors=True)
            if name == "floor_tx":
                res = run(FLOOR_TX, str(scratch / "f.duckdb"), str(root / "transactions" / "*.parquet"))
            elif name == "floor_all":
                res = run(FLOOR_ALL, str(scratch / "f.duckdb"), str(root))
            else:
                res = run(SEGMINT, str(root / "segmint.yaml"))
            samples[name].append(res)
            print(f"run {i + 1} {name}: {res['seconds']:.2f} s, {res['peak_mb']:.0f} MB", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)

    def med(name: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[name])

    rows = samples["segmint"][0]["rows"]
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "note": "shared development machine; absolute times wobble, ratios hold",
        },
        "date": time.strftime("%Y-%m-%d"),
        "clients": args.clients,
        "transactions": rows,
        "quarantined_rows": samples["segmint"][0]["quarantined"],
        "repeats": args.repeats,
        "floor_transactions_s": med("floor_tx", "seconds"),
        "segmint_transactions_s": med("segmint", "tx_seconds"),
        "ratio_transactions": med("segmint", "tx_seconds") / med("floor_tx", "seconds"),
        "floor_all_entities_s": med("floor_all", "seconds"),
        "segmint_all_entities_s": med("segmint", "seconds"),
        "ratio_all_entities": med("segmint", "seconds") / med("floor_all", "seconds"),
        "segmint_rows_per_s": rows / med("segmint", "tx_seconds"),
        "floor_rows_per_s": rows / med("floor_tx", "seconds"),
        "peak_mb": {k: max(s["peak_mb"] for s in v) for k, v in samples.items()},
        "target": "transactions within 3x of the read_parquet floor",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    md = f"""# Ingestion benchmark

`python benchmarks/ingest.py` — {result['date']}, {result['machine']['cpus']} cores
({result['machine']['note']}). {args.clients:,} generated clients, {rows:,} transactions
(fault rate {args.faults} per kind: {result['quarantined_rows']:,} rows quarantined),
median of {args.repeats} runs, each in a fresh subprocess and warehouse.

| | seconds | rows/s | peak memory |
| --- | ---: | ---: | ---: |
| floor: `CREATE TABLE AS SELECT * FROM read_parquet` (transactions) | {result['floor_transactions_s']:.2f} | {result['floor_rows_per_s']:,.0f} | {result['peak_mb']['floor_tx']:,.0f} MB |
| segmint ingest, transactions entity | {result['segmint_transactions_s']:.2f} | {result['segmint_rows_per_s']:,.0f} | — |
| **ratio (target ≤ 3×)** | **{result['ratio_transactions']:.2f}×** | | |
| floor: plain load of all five sources | {result['floor_all_entities_s']:.2f} | | {result['peak_mb']['floor_all']:,.0f} MB |
| segmint ingest, all five entities (contracts, quarantine, ledger, checksums) | {result['segmint_all_entities_s']:.2f} | | {result['peak_mb']['segmint']:,.0f} MB |
| **ratio** | **{result['ratio_all_entities']:.2f}×** | | |
"""
    (RESULTS / "ingest.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
