"""Benchmark: a daily cycle's features through the incremental feature state vs a full
recompute, and event-triggered re-scoring of 1,000 clients.

    python benchmarks/update.py                      # 1M clients, 10M transactions
    python benchmarks/update.py --clients 100000     # quick run (1M transactions)

(The stages of a whole cycle, ingest to record, are timed by ``benchmarks/cycle.py``.)

Setup (not timed): a warehouse of ``--clients`` clients and 10 transactions per client
over 18 months, written with DuckDB ``range()`` SQL in the canonical schema (refunds,
promotions, 12 categories, 5 channels), the incremental state built on it, features and
segments (one k-means dimension) as of the day before the cycle, and a batch of new
transactions (1% of the history) on the cycle day. Each contender runs in its own
subprocess on its own copy of the warehouse file, recording wall time and peak RSS:

* ``full``         -- the batch appended, then the features snapshot of the day computed
  from the history and stored in the warehouse (``write_snapshot(use_state=False)``)
* ``incremental``  -- the batch appended, ``fold`` (updates the state, as a cycle does after
  an incremental ingest), then the same snapshot computed from the state and stored
  (``write_snapshot``); the append is timed in neither contender
* ``floor``        -- storing a copy of the day's snapshot, computed by nothing: the part
  of either contender that follows the number of clients, not the data
* ``events``       -- ``ingest_events`` of 1,000 ``product_opened`` events: store, evaluate
  the rules, re-compute the 1,000 clients' features, re-assign their segments, history

The two stored snapshots are compared exactly (every column; ``ipt_cv`` to 1e-12). Results go
to benchmarks/results/update.json and .md.
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
SCRATCH = Path("/tmp/segmint-bench-update")
TX_PER_CLIENT = 10
NEW_SHARE = 0.01
AS_OF = "2024-06-30"
START = "2023-01-01"
HISTORY_DAYS = 546  # 2023-01-01 .. 2024-06-29
N_EVENTS = 1000

_TX_SQL = """
SELECT 't' || CAST(i AS VARCHAR) AS transaction_id,
    'C' || lpad(CAST(hash(i, 1) % {n_clients} AS VARCHAR), 8, '0') AS client_id,
    {ts} AS ts,
    CAST(hash(i, 3) % 20000 AS DOUBLE) / 100 - 10.0 AS amount,
    'EUR' AS currency,
    ['groceries', 'fuel', 'travel', 'dining', 'fashion', 'electronics', 'health', 'home',
     'leisure', 'utilities', 'education', 'other'][CAST(1 + hash(i, 4) % 12 AS BIGINT)] AS category,
    ['pos', 'web', 'mobile', 'branch', 'phone'][CAST(1 + hash(i, 5) % 5 AS BIGINT)] AS channel,
    hash(i, 6) % 7 = 0 AS is_promotion,
    CAST(hash(i, 3) % 20000 AS DOUBLE) / 100 - 10.0 < 0 AS is_refund
FROM range({lo}, {hi}) AS r(i)
"""


def _setup(n_clients: int, path: Path, tx_per_client: int = TX_PER_CLIENT) -> dict:
    from segmint.config._segmentation import DimensionConfig, SegmentationConfig
    from segmint.features import build_state
    from segmint.features._snapshot import write_snapshot
    from segmint.segmentation import run_segmentation
    from segmint.sources import ENTITIES
    from segmint.store import Warehouse

    n_tx = n_clients * tx_per_client
    n_new = int(n_tx * NEW_SHARE)
    t0 = time.perf_counter()
    with Warehouse(path) as wh:
        con = wh.con
        for name in ("clients", "transactions"):
            cols = ", ".join(f'"{c.name}" {c.type}' for c in ENTITIES[name].columns)
            con.execute(f"CREATE TABLE {name} ({cols})")
        con.execute(
            "INSERT INTO clients (client_id, onboarded_at) "
            f"SELECT 'C' || lpad(CAST(i AS VARCHAR), 8, '0'), DATE '{START}' - CAST(i % 900 AS INTEGER) "
            f"FROM range({n_clients}) AS r(i)"
        )
        history_ts = (
            f"TIMESTAMP '{START}' + to_seconds(CAST(hash(i, 2) % ({HISTORY_DAYS} * 86400) AS BIGINT))"
        )
        con.execute(
            "INSERT INTO transactions BY NAME "
            + _TX_SQL.format(n_clients=n_clients, ts=history_ts, lo=0, hi=n_tx - n_new)
            + " ORDER BY ts"
        )
        new_ts = f"TIMESTAMP '{AS_OF}' + to_seconds(CAST(hash(i, 2) % 86400 AS BIGINT))"
        cols = ", ".join(f'"{c.name}" {c.type}' for c in ENTITIES["transactions"].columns)
        con.execute(f"CREATE TABLE new_batch ({cols})")
        con.execute(
            "INSERT INTO new_batch BY NAME "
            + _TX_SQL.format(n_clients=n_clients, ts=new_ts, lo=n_tx - n_new, hi=n_tx)
        )
        con.execute("CHECKPOINT")
        generated = time.perf_counter() - t0
        t0 = time.perf_counter()
        yesterday = "2024-06-29"
        build_state(wh, as_of=yesterday)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_snapshot(wh, yesterday)
        seg = SegmentationConfig(
            sample_size=20_000,
            dimensions=[
                DimensionConfig(
                    name="behaviour", kind="learned", method="kmeans",
                    inputs=["frequency", "monetary_mean", "recency_days", "share_channel_*",
                            "promo_share", "weekend_share"],
                    selection={"k": 4, "n_bootstrap": 0},
                )
            ],
        )
        run_segmentation(wh, seg, as_of=dt.date.fromisoformat(yesterday), load=False)
        segmented = time.perf_counter() - t0
        wh.con.execute("CHECKPOINT")
    return {
        "clients": n_clients,
        "transactions_history": n_tx - n_new,
        "transactions_new": n_new,
        "generate_s": round(generated, 2),
        "build_state_s": round(built, 2),
        "features_and_segments_s": round(segmented, 2),
    }


def _contender(name: str, path: str, out: str) -> dict:
    import segmint.clv  # noqa: F401  (loaded in a running scheduler; 1.5 s of imports)
    import segmint.segmentation  # noqa: F401
    from segmint.features import fold
    from segmint.features._snapshot import write_snapshot
    from segmint.monitoring import ingest_events
    from segmint.store import Warehouse

    result: dict = {"contender": name}
    with Warehouse(path) as wh:
        if name == "full":
            wh.con.execute("INSERT INTO transactions SELECT * FROM new_batch")  # not timed
            t0 = time.perf_counter()
            snap = write_snapshot(wh, AS_OF, use_state=False)
            result["wall_s"] = time.perf_counter() - t0
            assert snap.mode == "full"
            _export(wh, out)
        elif name == "incremental":
            # appended by the ingest, as for full (and as in a cycle: refresh_state)
            wh.con.execute("INSERT INTO transactions SELECT * FROM new_batch")  # not timed
            t0 = time.perf_counter()
            fold(wh, "new_batch", append=False)
            result["fold_s"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            snap = write_snapshot(wh, AS_OF)
            result["snapshot_s"] = time.perf_counter() - t1
            result["snapshot_steps_s"] = {k: round(v, 3) for k, v in snap.timings.items()}
            result["wall_s"] = time.perf_counter() - t0
            assert snap.mode == "incremental"
            _export(wh, out)
        elif name == "floor":
            t0 = time.perf_counter()
            wh.con.execute(
                "INSERT INTO features SELECT * REPLACE (DATE '2024-06-30' AS as_of) "
                "FROM features WHERE as_of = DATE '2024-06-29'"
            )
            result["wall_s"] = time.perf_counter() - t0
        else:  # events, on the warehouse after the incremental cycle
            fold(wh, "new_batch")  # not timed
            rules = write_events(wh, AS_OF, out + ".csv")
            t0 = time.perf_counter()
            r = ingest_events(wh, out + ".csv", rules=rules)
            result["wall_s"] = time.perf_counter() - t0
            result["clients_rescored"] = len(r.rescore.features)
            result["assignments"] = len(r.rescore.assignments)
            result["steps_s"] = {k: round(v, 3) for k, v in {**r.timings, **r.rescore.timings}.items()}
    result["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def write_events(wh, as_of, path: str, n: int = N_EVENTS):
    """A file of ``n`` mortgage openings of sampled clients at ``as_of``; returns the rule."""
    import pandas as pd

    from segmint.config import EventsConfig

    ids = wh.con.execute(
        f"SELECT client_id FROM clients USING SAMPLE {int(n)} ROWS (reservoir, 7)"
    ).fetchall()
    pd.DataFrame(
        {
            "client_id": [r[0] for r in ids],
            "ts": pd.Timestamp(f"{as_of} 15:00"),
            "event_type": "product_opened",
            "product_type": "mortgage",
        }
    ).to_csv(path, index=False)
    return EventsConfig.model_validate({"product_opened": {"product_type": "mortgage"}})


def _export(wh, out: str) -> None:
    wh.con.execute(
        f"COPY (SELECT * EXCLUDE (as_of) FROM features WHERE as_of = DATE '{AS_OF}' "
        f"ORDER BY client_id) TO '{out}' (FORMAT parquet)"
    )


def _compare(full: str, inc: str) -> dict:
    import numpy as np
    import pandas as pd

    a, b = pd.read_parquet(full), pd.read_parquet(inc)
    assert list(a.columns) == list(b.columns) and a["client_id"].equals(b["client_id"])
    different, worst, scores = 0, 0.0, 0
    for col in a.columns:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if a[col].dtype.kind == "f":
            rtol = 1e-12 if col == "ipt_cv" else 0.0
            bad = ~np.isclose(y, x, rtol=rtol, atol=0, equal_nan=True)
            different += int(bad.sum())
            both = ~(np.isnan(x) | np.isnan(y))
            worst = max(worst, float(np.abs(x[both] - y[both]).max(initial=0.0)))
        elif col in ("r_score", "f_score", "m_score"):
            scores += int((x != y).sum())
        else:
            different += int((x != y).sum())
    return {"rows": len(a), "columns": a.shape[1], "different_values": different,
            "max_abs_diff": worst, "score_differences": scores}


def _warehouse_runs(label: str, n_clients: int, tx_per_client: int, contenders) -> dict:
    base = SCRATCH / f"{label}.duckdb"
    # in a subprocess too: a child process inherits its parent's peak RSS
    proc = subprocess.run(
        [sys.executable, __file__, "--contender", "setup", "--path", str(base),
         "--out", f"{n_clients},{tx_per_client}"],
        capture_output=True, text=True,
    )
    if proc.returncode:
        raise RuntimeError(f"setup of {label} failed:\n{proc.stderr}")
    setup = json.loads(proc.stdout.strip().splitlines()[-1])
    setup["tx_per_client"] = tx_per_client
    print(json.dumps(setup), flush=True)
    runs = []
    for name in contenders:
        copy = SCRATCH / f"{label}-{name}.duckdb"
        shutil.copy(base, copy)
        out = str(SCRATCH / f"{label}-{name}.parquet")
        proc = subprocess.run(
            [sys.executable, __file__, "--contender", name, "--path", str(copy), "--out", out],
            capture_output=True, text=True, check=True,
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]), flush=True)
        copy.unlink()
    base.unlink()
    by = {r["contender"]: r for r in runs}
    out = {"setup": setup, "runs": runs}
    if "full" in by and "incremental" in by:
        out["incremental_vs_full"] = round(by["incremental"]["wall_s"] / by["full"]["wall_s"], 3)
        out["equality"] = _compare(
            str(SCRATCH / f"{label}-full.parquet"), str(SCRATCH / f"{label}-incremental.parquet")
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=1_000_000,
                    help="clients of the 10-transactions-per-client warehouse, where events "
                    "run (0: skip)")
    ap.add_argument("--dense-clients", type=int, default=100_000,
                    help="clients of the dense warehouse (0: skip)")
    ap.add_argument("--dense-tx", type=int, default=100,
                    help="transactions per client of the dense warehouse")
    ap.add_argument("--results", default="update",
                    help="name of the results files in benchmarks/results/")
    ap.add_argument("--contender", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.contender == "setup":
        n_clients, tx_per_client = (int(v) for v in args.out.split(","))
        print(json.dumps(_setup(n_clients, Path(args.path), tx_per_client)))
        return
    if args.contender:
        print(json.dumps(_contender(args.contender, args.path, args.out)))
        return
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    report = {
        "machine": f"{platform.platform()} ({os.cpu_count()} CPUs)",
        "load_average_before": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "target_ratio": 0.1,
        "events_target_s": 5.0,
        "warehouses": {},
    }
    if args.dense_clients:
        report["warehouses"]["dense"] = _warehouse_runs(
            "dense", args.dense_clients, args.dense_tx, ("full", "incremental", "floor")
        )
    if args.clients:
        report["warehouses"]["wide"] = _warehouse_runs(
            "wide", args.clients, TX_PER_CLIENT, ("full", "incremental", "floor", "events")
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.results}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{args.results}.md").write_text(_markdown(report))
    shutil.rmtree(SCRATCH, ignore_errors=True)
    print(_markdown(report))


def _markdown(r: dict) -> str:
    lines = [
        "# Daily cycle (incremental features) and event re-scoring benchmark\n",
        f"Generated by `python benchmarks/update.py` on {r['machine']}, {r['date']}; "
        f"1-minute load average before the run {r.get('load_average_before', '?')}. The "
        "machine is shared: timings are indicative, ratios within one run hold. "
        "Each contender ran once, in its own process, on its own copy of "
        "the warehouse; peak = that process's peak RSS. Timed after segmint's modules are "
        "imported (as in a running scheduler): the imports (1.5 s, scikit-learn's mostly) "
        "would weigh on both contenders alike.\n",
        "Daily cycle: 1% new transactions on the cycle day. *full* appends them, computes "
        "the day's features snapshot from the history and stores it in the warehouse "
        "(`write_snapshot(use_state=False)`, in DuckDB); *incremental* appends them, runs "
        "`fold` (updates the state, as a cycle does after an incremental ingest) and stores "
        "the same snapshot computed from the state (`write_snapshot`). The append is not "
        "timed in either. *floor* stores a copy of an existing snapshot: the cost any "
        "daily snapshot of every client pays, however computed. *events*: `ingest_events` of 1,000 `product_opened` "
        "events (store, rules, the 1,000 clients' features from the state, their segments "
        "with the stored k-means version, `segment_history`), timed after the modules are "
        "imported, as in a running service.\n",
        "| warehouse | contender | wall s | of which | peak GiB |",
        "| --- | --- | --- | --- | --- |",
    ]
    summary = []
    for w in r["warehouses"].values():
        s = w["setup"]
        name = (
            f"{s['clients']:,} clients x {s['tx_per_client']} tx "
            f"({s['transactions_history'] + s['transactions_new']:,} tx)"
        )
        for x in w["runs"]:
            steps = ""
            if x["contender"] == "incremental":
                steps = f"fold {x['fold_s']:.2f}, snapshot {x['snapshot_s']:.2f}"
                inner = x.get("snapshot_steps_s", {})
                if inner:
                    steps += (f" (compute {inner.get('compute_s', 0):.2f}, "
                              f"store {inner.get('store_s', 0):.2f})")
            if x["contender"] == "events":
                steps = ", ".join(f"{k} {v}" for k, v in x["steps_s"].items())
            lines.append(
                f"| {name} | {x['contender']} | {x['wall_s']:.2f} | {steps} | {x['peak_gib']:.2f} |"
            )
        if "incremental_vs_full" in w:
            eq = w["equality"]
            floor = {x["contender"]: x["wall_s"] for x in w["runs"]}.get("floor")
            full = {x["contender"]: x["wall_s"] for x in w["runs"]}["full"]
            inc = {x["contender"]: x["wall_s"] for x in w["runs"]}["incremental"]
            if floor is not None:
                summary.append(
                    f"* {name}: storing a snapshot of every client alone takes {floor:.2f} s "
                    f"= {floor / full:.3f} of the full run; beyond it, incremental / full = "
                    f"{max(inc - floor, 0) / max(full - floor, 1e-9):.3f}."
                )
            summary.append(
                f"* {name}: **incremental / full = {w['incremental_vs_full']:.3f}** (target <= "
                f"{r['target_ratio']}). Equality over {eq['rows']:,} rows x {eq['columns']} "
                f"columns: {eq['different_values']} value(s) differ (exact comparison; "
                f"ipt_cv to 1e-12 relative; largest absolute difference {eq['max_abs_diff']:.1e}); "
                f"{eq['score_differences']} rank-score difference(s)."
            )
        for x in w["runs"]:
            if x["contender"] == "events":
                summary.append(
                    f"* {name}: **event re-scoring of {x['clients_rescored']:,} clients "
                    f"{x['wall_s']:.2f} s** (target < {r['events_target_s']} s)."
                )
        summary.append(
            f"  Setup (not timed): data {s['generate_s']} s, build_state {s['build_state_s']} s, "
            f"features + segments of the day before {s['features_and_segments_s']} s."
        )
    lines += ["", *summary, "",
              "Amounts are summed as DECIMAL(38, 6) by both paths, so sums do not depend "
              "on the order of their terms and the snapshots are equal value for value "
              "(ipt_cv, the gap deviation, comes from a sum of squares in the state: equal "
              "to 1e-12).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
