"""Benchmark: event re-scoring of 1,000 clients with the clv group on, against without it.

    python benchmarks/clv_events.py                    # 200k clients, 2M transactions
    python benchmarks/clv_events.py --clients 20000    # quick run

Setup (not timed): ``--clients`` clients buying over 18 months at heterogeneous rates
until a client-level dropout date (about 12 transactions each, so that BG/NBD is
identified), the incremental state, features as of the day before (storing a CLV model
version, as a cycle does) and one k-means dimension, then 1% more transactions on the
cycle day folded into the state. Each contender runs ``ingest_events`` of the same
1,000 ``product_opened`` events in its own subprocess, on its own copy of the warehouse:

* ``without_clv``  -- ``features.groups`` = every default group but ``clv``
* ``with_clv``     -- the defaults, ``clv`` included: scored with the stored model version
* ``clv_refit``    -- the defaults, with no stored version (``clv_models`` emptied, not
  timed): the re-scoring fits the model on the whole population once, as every re-scoring
  did before model versions

Results go to benchmarks/results/clv_events.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SCRATCH = Path("/tmp/segmint-bench-clv-events")
CONTENDERS = ("without_clv", "with_clv", "clv_refit")
START = "2023-01-01"
HISTORY_DAYS = 546  # 2023-01-01 .. 2024-06-29
YESTERDAY = "2024-06-29"
AS_OF = "2024-06-30"


# clients buy at heterogeneous rates (exponential counts, mean 12) while active, and stop
# at a client-level date (15%..100% of the history): BG/NBD is identified on these data
_TX_SQL = """
WITH c AS (
    SELECT i, 'C' || lpad(CAST(i AS VARCHAR), 8, '0') AS client_id,
        CAST(floor(-ln((hash(i, 1) % 1000000 + 1) / 1000001.0) * 12) AS BIGINT) AS n,
        (0.15 + 0.85 * (hash(i, 2) % 1000) / 1000.0) * {days} AS active_days
    FROM range({n_clients}) AS r(i)
)
SELECT 't' || CAST(i AS VARCHAR) || '-' || CAST(j AS VARCHAR) AS transaction_id, client_id,
    TIMESTAMP '{start}' + to_seconds(CAST(
        (hash(i, j, 3) % 1000000) / 1000000.0 * active_days * 86400 AS BIGINT)) AS ts,
    CAST(5 + hash(i, j, 4) % 20000 / 100.0 AS DOUBLE) AS amount,
    'EUR' AS currency,
    ['groceries', 'fuel', 'travel', 'dining', 'fashion'][CAST(1 + hash(i, j, 5) % 5 AS BIGINT)]
        AS category,
    ['pos', 'web', 'mobile', 'branch'][CAST(1 + hash(i, j, 6) % 4 AS BIGINT)] AS channel,
    hash(i, j, 7) % 7 = 0 AS is_promotion, FALSE AS is_refund
FROM c, range(c.n) AS r(j)
ORDER BY ts
"""


def _setup(n_clients: int, path: Path) -> dict:
    from segmint.config._segmentation import DimensionConfig, SegmentationConfig
    from segmint.features import (
        DuckDBEngine,
        build_state,
        clv_model_versions,
        compute_features,
        fold,
        store_snapshot,
    )
    from segmint.segmentation import run_segmentation
    from segmint.sources import ENTITIES
    from segmint.store import Warehouse

    t0 = time.perf_counter()
    with Warehouse(path) as wh:
        con = wh.con
        for name in ("clients", "transactions"):
            cols = ", ".join(f'"{c.name}" {c.type}' for c in ENTITIES[name].columns)
            con.execute(f"CREATE TABLE {name} ({cols})")
        con.execute(
            "INSERT INTO clients (client_id, onboarded_at) SELECT 'C' || lpad(CAST(i AS VARCHAR), "
            f"8, '0'), DATE '{START}' FROM range({n_clients}) AS r(i)"
        )
        con.execute(
            "INSERT INTO transactions BY NAME "
            + _TX_SQL.format(n_clients=n_clients, days=HISTORY_DAYS, start=START)
        )
        n_tx = con.execute("SELECT count(*) FROM transactions").fetchall()[0][0]
        generated = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_state(wh)
        # the day before: features (storing the clv model version, as a cycle does), segments
        store_snapshot(wh, compute_features(DuckDBEngine(con), YESTERDAY, warehouse=wh), YESTERDAY)
        kind = clv_model_versions(wh)["kind"].tolist()
    with Warehouse(path) as wh:
        seg = SegmentationConfig(
            sample_size=20_000,
            include_defaults=False,  # the built-in value tiers would read clv_12m
            dimensions=[
                DimensionConfig(
                    name="behaviour", kind="learned", method="kmeans",
                    inputs=["frequency", "monetary_mean", "recency_days", "promo_share"],
                    selection={"k": 4, "n_bootstrap": 0},
                )
            ],
        )
        run_segmentation(wh, seg, as_of=dt.date.fromisoformat(YESTERDAY), load=False)
        # the cycle day's transactions (1%), folded into the state
        wh.con.execute(
            "CREATE TEMP TABLE new_batch AS SELECT transaction_id || '-new' AS transaction_id, "
            f"client_id, TIMESTAMP '{AS_OF} 10:00' AS ts, amount, currency, category, channel, "
            "is_promotion, is_refund FROM transactions USING SAMPLE 1 PERCENT (bernoulli, 3)"
        )
        fold(wh, "new_batch")
        wh.con.execute("CHECKPOINT")
    return {
        "clients": n_clients,
        "transactions": int(n_tx),
        "clv_model": kind,
        "generate_s": round(generated, 2),
        "state_features_segments_s": round(time.perf_counter() - t0, 2),
    }


def _contender(name: str, path: str, out: str) -> dict:
    import segmint.segmentation  # noqa: F401  (a running service has it loaded)
    from segmint.config import FeaturesConfig
    from segmint.features import CLV_MODELS, DuckDBEngine, clv_model_versions, resolve_groups
    from segmint.monitoring import ingest_events
    from segmint.store import Warehouse
    from update import write_events  # benchmarks/update.py (this folder is on sys.path)

    features = FeaturesConfig()
    result: dict = {"contender": name}
    with Warehouse(path) as wh:
        if name == "without_clv":
            defaults = resolve_groups(DuckDBEngine(wh.con), features)
            features = FeaturesConfig(groups=[g for g in defaults if g != "clv"])
        if name == "clv_refit":
            wh.con.execute(f"DELETE FROM {CLV_MODELS}")
        as_of = wh.con.execute("SELECT CAST(max(ts) AS DATE) FROM transactions").fetchall()[0][0]
        rules = write_events(wh, as_of, out + ".csv", 1000)
        before = len(clv_model_versions(wh))
        t0 = time.perf_counter()
        r = ingest_events(wh, out + ".csv", rules=rules, features=features)
        result["wall_s"] = time.perf_counter() - t0
        result["clients_rescored"] = len(r.rescore.features)
        result["clv_columns"] = int(r.rescore.features.columns.str.startswith("clv_").sum())
        result["clv_versions_fitted"] = len(clv_model_versions(wh)) - before
        result["steps_s"] = {k: round(v, 3) for k, v in {**r.timings, **r.rescore.timings}.items()}
    result["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200_000)
    ap.add_argument("--contender", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.contender == "setup":
        print(json.dumps(_setup(int(args.out), Path(args.path))))
        return
    if args.contender:
        print(json.dumps(_contender(args.contender, args.path, args.out)))
        return
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    base = SCRATCH / "base.duckdb"
    proc = subprocess.run(
        [sys.executable, __file__, "--contender", "setup", "--path", str(base),
         "--out", str(args.clients)],
        capture_output=True, text=True,
    )
    if proc.returncode:
        raise RuntimeError(f"setup failed:\n{proc.stderr}")
    setup = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(setup), flush=True)
    runs = []
    for name in CONTENDERS:
        copy = SCRATCH / f"{name}.duckdb"
        shutil.copy(base, copy)
        proc = subprocess.run(
            [sys.executable, __file__, "--contender", name, "--path", str(copy),
             "--out", str(SCRATCH / name)],
            capture_output=True, text=True,
        )
        if proc.returncode:
            raise RuntimeError(f"{name} failed:\n{proc.stderr}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]), flush=True)
        copy.unlink()
    by = {r["contender"]: r for r in runs}
    report = {
        "machine": f"{platform.platform()} ({os.cpu_count()} CPUs), shared and loaded",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "setup": setup,
        "runs": runs,
        "with_clv_vs_without": round(by["with_clv"]["wall_s"] / by["without_clv"]["wall_s"], 3),
        "clv_refit_vs_without": round(by["clv_refit"]["wall_s"] / by["without_clv"]["wall_s"], 3),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "clv_events.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "clv_events.md").write_text(_markdown(report))
    shutil.rmtree(SCRATCH, ignore_errors=True)
    print(_markdown(report))


def _markdown(r: dict) -> str:
    s = r["setup"]
    lines = [
        "# Event re-scoring with the clv group\n",
        f"Generated by `python benchmarks/clv_events.py` on {r['machine']}, {r['date']}. "
        "The machine was shared with other jobs: timings are indicative. Each contender ran "
        "once, in its own process, on its own copy of the warehouse; peak = that process's "
        "peak RSS.\n",
        f"Warehouse: {s['clients']:,} clients, {s['transactions']:,} transactions (stored "
        f"CLV model: {', '.join(s['clv_model'])}), the cycle day's batch folded. `ingest_events` of 1,000 `product_opened` events: store, rules, the "
        "clients' features from the incremental state, their segments, `segment_history`. "
        "*without_clv*: every default group but clv; *with_clv*: clv scored with the model "
        "version stored by the day before's features; *clv_refit*: no stored version, so "
        "the re-scoring fits the model on the whole population (what every re-scoring did "
        "before versions).\n",
        "| contender | wall s | clv versions fitted | of which | peak GiB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for x in r["runs"]:
        steps = ", ".join(f"{k} {v}" for k, v in x["steps_s"].items())
        lines.append(
            f"| {x['contender']} | {x['wall_s']:.2f} | {x['clv_versions_fitted']} | {steps} | "
            f"{x['peak_gib']:.2f} |"
        )
    lines += [
        "",
        f"* **with clv / without = {r['with_clv_vs_without']:.2f}**; "
        f"population refit / without = {r['clv_refit_vs_without']:.2f}.",
        f"* Setup (not timed): data {s['generate_s']} s; state, features and segments of "
        f"the day before and the cycle day's fold {s['state_features_segments_s']} s.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
