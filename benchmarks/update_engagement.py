"""Benchmark: a daily cycle's features on a warehouse with a large engagement log, through
the incremental state with its engagement part vs the state before it (which scanned every event)
vs a full recompute.

    python benchmarks/update_engagement.py                     # 200,000 clients, 20M events
    python benchmarks/update_engagement.py --clients 20000     # quick run

Setup (not timed): a warehouse of ``--clients`` clients, 10 transactions and 100
engagement events per client over 18 months (DuckDB ``range()`` SQL, canonical schema;
7 event channels of unequal frequency), the incremental state built on it, the features
of the day before the cycle stored (the clv model fitted there), and 1% new transactions
and 1% new events on the cycle day, already appended to the warehouse (as an incremental
ingest leaves them). Each contender runs in its own subprocess on its own copy of the
warehouse file, recording wall time and peak RSS:

* ``engage`` -- the engagement state: ``fold`` of the new transactions and ``fold_events`` of the new
  events (what ``refresh_state`` does after an incremental ingest), then the day's snapshot
  from the state (``write_snapshot``): the windowed counts read the events of the windows,
  the channel list and ``digital_share`` read the state.
* ``main``   -- the same on the code before the engagement state (``--baseline-src``, e.g.
  ``git worktree add /tmp/before e78fd8c`` then ``--baseline-src /tmp/before/src``): ``fold``
  of the new transactions, then ``write_snapshot`` from its state, whose queries scan every
  event. Skipped without ``--baseline-src``.
* ``full``   -- ``write_snapshot(use_state=False)``: everything from the history
  (its event counts read the events of the windows only).
* ``full_main`` -- the same on the baseline code (its event counts read every event).

The four stored snapshots are compared (every column exactly; ``ipt_cv`` to 1e-12).
Results go to benchmarks/results/update_engagement.json and .md.
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(HERE))
from update import (  # noqa: E402  (benchmarks/update.py: same dates, transactions, checks)
    _TX_SQL,
    AS_OF,
    HISTORY_DAYS,
    NEW_SHARE,
    START,
    TX_PER_CLIENT,
    _compare,
    _export,
)

RESULTS = HERE / "results"
SCRATCH = Path("/tmp/segmint-bench-update-engagement")
SRC = {"engage": str(HERE.parent / "src")}
EVENTS_PER_CLIENT = 100

_EVENT_SQL = """
SELECT 'C' || lpad(CAST(hash(i, 11) % {n_clients} AS VARCHAR), 8, '0') AS client_id,
    {ts} AS ts,
    ['web', 'web', 'web', 'mobile', 'mobile', 'mobile', 'email', 'email', 'phone', 'branch',
     'chat', 'sms'][CAST(1 + hash(i, 13) % 12 AS BIGINT)] AS channel,
    ['login', 'page_view', 'email_open', 'call'][CAST(1 + hash(i, 14) % 4 AS BIGINT)] AS event_type
FROM range({lo}, {hi}) AS r(i)
"""


def _setup(n_clients: int, path: Path) -> dict:
    from segmint.features import build_state
    from segmint.features._snapshot import write_snapshot
    from segmint.sources import ENTITIES
    from segmint.store import Warehouse

    n_tx, n_ev = n_clients * TX_PER_CLIENT, n_clients * EVENTS_PER_CLIENT
    new_tx, new_ev = int(n_tx * NEW_SHARE), int(n_ev * NEW_SHARE)
    history_ts = (
        f"TIMESTAMP '{START}' + to_seconds(CAST(hash(i, 2) % ({HISTORY_DAYS} * 86400) AS BIGINT))"
    )
    new_ts = f"TIMESTAMP '{AS_OF}' + to_seconds(CAST(hash(i, 2) % 86400 AS BIGINT))"
    t0 = time.perf_counter()
    with Warehouse(path) as wh:
        con = wh.con
        for name in ("clients", "transactions", "engagement"):
            cols = ", ".join(f'"{c.name}" {c.type}' for c in ENTITIES[name].columns)
            con.execute(f"CREATE TABLE {name} ({cols})")
            if name != "clients":
                con.execute(f"CREATE TABLE new_{name} ({cols})")
        con.execute(
            "INSERT INTO clients (client_id, onboarded_at) "
            f"SELECT 'C' || lpad(CAST(i AS VARCHAR), 8, '0'), DATE '{START}' - CAST(i % 900 AS INTEGER) "
            f"FROM range({n_clients}) AS r(i)"
        )
        for table, sql, n, n_new in (("transactions", _TX_SQL, n_tx, new_tx),
                                     ("engagement", _EVENT_SQL, n_ev, new_ev)):
            con.execute(f"INSERT INTO {table} BY NAME " + sql.format(
                n_clients=n_clients, ts=history_ts, lo=0, hi=n - n_new) + " ORDER BY ts")
            con.execute(f"INSERT INTO new_{table} BY NAME " + sql.format(
                n_clients=n_clients, ts=new_ts, lo=n - n_new, hi=n))
        con.execute("CHECKPOINT")
        generated = time.perf_counter() - t0
        t0 = time.perf_counter()
        yesterday = "2024-06-29"
        build_state(wh, as_of=yesterday)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_snapshot(wh, yesterday)
        snapshot = time.perf_counter() - t0
        # the ingest of the cycle day appended the new rows (not timed in any contender)
        con.execute("INSERT INTO transactions SELECT * FROM new_transactions")
        con.execute("INSERT INTO engagement SELECT * FROM new_engagement")
        con.execute("CHECKPOINT")
    return {
        "clients": n_clients,
        "transactions_history": n_tx - new_tx,
        "transactions_new": new_tx,
        "events_history": n_ev - new_ev,
        "events_new": new_ev,
        "generate_s": round(generated, 2),
        "build_state_s": round(built, 2),
        "snapshot_before_s": round(snapshot, 2),
    }


def _contender(name: str, path: str, out: str) -> dict:
    import segmint.clv  # noqa: F401  (loaded in a running scheduler)
    from segmint.features import fold
    from segmint.features._snapshot import write_snapshot
    from segmint.store import Warehouse

    result: dict = {"contender": name}
    with Warehouse(path) as wh:
        t0 = time.perf_counter()
        full = name.startswith("full")
        if not full:
            fold(wh, "new_transactions", append=False)
            result["fold_s"] = time.perf_counter() - t0
        if name == "engage":
            from segmint.features import fold_events

            t1 = time.perf_counter()
            fold_events(wh, "new_engagement", append=False)
            result["fold_events_s"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        snap = write_snapshot(wh, AS_OF, use_state=not full)
        result["snapshot_s"] = time.perf_counter() - t1
        result["snapshot_steps_s"] = {k: round(v, 3) for k, v in snap.timings.items()}
        result["wall_s"] = time.perf_counter() - t0
        result["mode"] = snap.mode
        assert snap.mode == ("full" if full else "incremental"), snap.mode
        _export(wh, out)
    result["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def _run(args: list[str], code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": SRC[code]}
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env=env)
    if proc.returncode:
        raise RuntimeError(f"{args[1]} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200_000,
                    help="clients (10 transactions and 100 events each)")
    ap.add_argument("--results", default="update_engagement",
                    help="name of the results files in benchmarks/results/")
    ap.add_argument("--baseline-src", type=Path,
                    help="src folder of the code to compare with (contenders main, full_main)")
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
    names = ["engage", "full"]
    if args.baseline_src is not None:
        if not (args.baseline_src / "segmint").is_dir():
            sys.exit(f"--baseline-src {args.baseline_src}: no segmint package there")
        SRC["main"] = str(args.baseline_src.resolve())
        names = ["engage", "main", "full", "full_main"]
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    report = {
        "machine": f"{platform.platform()} ({os.cpu_count()} CPUs)",
        "load_average_before": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    base = SCRATCH / "base.duckdb"
    report["setup"] = _run(["--contender", "setup", "--path", str(base),
                            "--out", str(args.clients)], "engage")
    print(json.dumps(report["setup"]), flush=True)
    runs = []
    for name in names:
        copy = SCRATCH / f"{name}.duckdb"
        shutil.copy(base, copy)
        out = str(SCRATCH / f"{name}.parquet")
        runs.append(_run(["--contender", name, "--path", str(copy), "--out", out],
                         "main" if name in ("main", "full_main") else "engage"))
        print(json.dumps(runs[-1]), flush=True)
        copy.unlink()
    base.unlink()
    report["runs"] = runs
    by = {r["contender"]: r["wall_s"] for r in runs}
    report["engage_vs_full"] = round(by["engage"] / by["full"], 3)
    if "main" in by:
        report["engage_vs_main"] = round(by["engage"] / by["main"], 3)
        report["main_vs_full"] = round(by["main"] / by["full"], 3)
        report["full_vs_full_main"] = round(by["full"] / by["full_main"], 3)
    full = str(SCRATCH / "full.parquet")
    report["equality"] = {n: _compare(full, str(SCRATCH / f"{n}.parquet"))
                          for n in names if n != "full"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.results}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{args.results}.md").write_text(_markdown(report))
    shutil.rmtree(SCRATCH, ignore_errors=True)
    print(_markdown(report))


def _markdown(r: dict) -> str:
    s = r["setup"]
    lines = [
        "# Daily cycle with a large engagement log: the engagement state\n",
        "Generated by `python benchmarks/update_engagement.py"
        + (" --baseline-src BASELINE" if "engage_vs_main" in r else "")
        + f"` on {r['machine']}, {r['date']}; "
        f"1-minute load average before the run {r['load_average_before']}. The machine is "
        "shared: timings are indicative, ratios within one run hold. Each contender ran once, "
        "in its own process, on its own copy of the warehouse; peak = that process's peak "
        "RSS; timed after segmint's modules are imported.\n",
        f"Warehouse: {s['clients']:,} clients, {s['transactions_history']:,} transactions and "
        f"{s['events_history']:,} engagement events over 18 months, plus "
        f"{s['transactions_new']:,} transactions and {s['events_new']:,} events on the cycle "
        "day, appended by the ingest (not timed). *engage* (the engagement state) folds both "
        "(`fold`, `fold_events`) and stores the day's snapshot from the state; *main* (the "
        "code before the engagement state, `--baseline-src`, same warehouse) folds the transactions and stores the snapshot from its "
        "state, whose queries scan every event; *full* stores the snapshot computed from the "
        "history (the event counts read the events of the windows), "
        "*full_main* the same on the baseline code (every event read). Default feature groups (rfm, rfm_scores, "
        "behaviour, engagement, clv with the model stored the day before).\n",
        "| contender | wall s | of which | peak GiB |",
        "| --- | --- | --- | --- |",
    ]
    for x in r["runs"]:
        steps = []
        if "fold_s" in x:
            steps.append(f"fold {x['fold_s']:.2f}")
        if "fold_events_s" in x:
            steps.append(f"fold_events {x['fold_events_s']:.2f}")
        inner = x["snapshot_steps_s"]
        steps.append(f"snapshot {x['snapshot_s']:.2f} (compute {inner.get('compute_s', 0):.2f}, "
                     f"store {inner.get('store_s', 0):.2f})")
        lines.append(f"| {x['contender']} | {x['wall_s']:.2f} | {', '.join(steps)} | "
                     f"{x['peak_gib']:.2f} |")
    eq = r["equality"]
    lines += [
        "",
        (f"* **engage / main = {r['engage_vs_main']:.3f}**; engage / full = "
         f"{r['engage_vs_full']:.3f}; main / full = {r['main_vs_full']:.3f}; full / full_main "
         f"= {r['full_vs_full_main']:.3f}." if "engage_vs_main" in r
         else f"* **engage / full = {r['engage_vs_full']:.3f}**."),
        *(f"* {n} vs full: {e['different_values']} value(s) differ over {e['rows']:,} rows x "
          f"{e['columns']} columns (exact comparison; ipt_cv to 1e-12 relative; largest "
          f"absolute difference {e['max_abs_diff']:.1e}); {e.get('score_differences', 0)} "
          "rank-score difference(s)." for n, e in eq.items()),
        f"* Setup (not timed): data {s['generate_s']} s, build_state {s['build_state_s']} s, "
        f"snapshot of the day before {s['snapshot_before_s']} s.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
