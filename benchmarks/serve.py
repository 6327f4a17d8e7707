"""Benchmark: client lookups over HTTP against a 1M-client publication, while a cycle publishes.

    python benchmarks/serve.py                          # 1M clients, embedded + PostgreSQL
    python benchmarks/serve.py --clients 100000 --seconds 10 --backends duckdb   # quick run

Setup (not timed): a warehouse written with DuckDB ``range()`` SQL — ``--clients`` clients
with a book (8 regions), three dimensions of current assignments (value tiers, 6 behaviour
clusters, lifecycle), the features a publication reads (CLV, expected purchases/spend,
p_alive, churn risk), a segment history of 2-3 spells per client and dimension, one alert,
one cycle. Then, per backend:

1. ``publish`` (timed): the publication written to the store (embedded DuckDB file, or a
   PostgreSQL schema through ADBC);
2. ``segmint serve``'s app on 127.0.0.1 (uvicorn, one process, ``--server-workers`` to
   change), an admin key;
3. ``--concurrency`` clients (asyncio + httpx, keep-alive) look up random clients for
   ``--seconds``, while a separate process publishes again and again (each publication
   sets every client's ``expected_spend`` to its own number k: a lookup whose
   ``expected_spend`` is not the k of the publication it names is a torn read).

Reported: lookups/s, p50/p90/p99/max latency, errors, torn reads, publications during the
run and their duration, and the load average. The publisher runs once as the service's
equal and once niced (``--publish-nice 0,10``): on two cores a batch that takes both of
them competes with the service for CPU, which a deployment avoids by running the batch
at a lower priority (or on another machine). Results go to benchmarks/results/serve.json
and .md. Target: p99 < 50 ms on the embedded store at 1M clients and 16 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "src"))

AS_OF = "2025-12-31"


def _config(root: Path, backend: str, prefix: str):
    from segmint.config import ProjectConfig

    serving: dict = {"book": {"column": "region"}, "rate_limit": 10_000_000}
    if backend == "postgres":
        serving |= {"backend": "postgres", "dsn_env": "SEGMINT_BENCH_PG_DSN", "schema_prefix": prefix}
    return ProjectConfig.model_validate({
        "project": "serve-bench",
        "sources": {"crm": {"path": "none.csv"}, "tx": {"path": "none.csv"}},
        "entities": {
            "clients": {"source": "crm", "columns": {"client_id": "id"}},
            "transactions": {"source": "tx", "columns": {
                "transaction_id": "t", "client_id": "c", "ts": "ts", "amount": "a"}},
        },
        "serving": serving,
    })


def build_warehouse(path: Path, n: int) -> None:
    """The tables a publication reads, for ``n`` clients (DuckDB SQL, no pipeline)."""
    import duckdb

    con = duckdb.connect(str(path))
    day = f"DATE '{AS_OF}'"
    con.execute(f"""
        CREATE TABLE clients AS SELECT printf('C%09d', i) AS client_id,
            ['North','South','East','West','Central','Coast','Hills','Metro'][1 + i % 8] AS region
        FROM range({n}) r(i);
        CREATE TABLE features AS SELECT printf('C%09d', i) AS client_id, {day} AS as_of,
            (hash(i) % 100000) / 10.0 AS clv_12m, (hash(i + 1) % 500) / 10.0 AS expected_purchases_12m,
            0.0 AS expected_spend, (hash(i + 2) % 1000) / 1000.0 AS p_alive,
            1 - (hash(i + 2) % 1000) / 1000.0 AS churn_risk
        FROM range({n}) r(i);
        CREATE TABLE segment_assignments AS
        SELECT client_id, 'value' AS dimension,
               CASE WHEN clv_12m >= 9000 THEN 'value-1' WHEN clv_12m >= 7000 THEN 'value-2'
                    WHEN clv_12m >= 4000 THEN 'value-3' ELSE 'value-4' END AS segment_id,
               CASE WHEN clv_12m >= 9000 THEN 'Top' WHEN clv_12m >= 7000 THEN 'High'
                    WHEN clv_12m >= 4000 THEN 'Medium' ELSE 'Low' END AS segment_name,
               1 AS model_version, as_of, NULL::DOUBLE AS score FROM features
        UNION ALL
        SELECT client_id, 'behaviour', 'behaviour-' || (1 + hash(client_id) % 6),
               'Cluster ' || (1 + hash(client_id) % 6), 1, as_of, 0.5 FROM features
        UNION ALL
        SELECT client_id, 'lifecycle', 'lifecycle-' || (1 + hash(client_id || 'l') % 5),
               ['Lapsed','Declining','New','Mature','Growing'][(1 + hash(client_id || 'l') % 5)::BIGINT], 1,
               as_of, NULL FROM features;
        CREATE TABLE segment_history AS
        SELECT client_id, dimension, segment_id, segment_name, model_version,
               {day} - INTERVAL 90 DAY AS valid_from, NULL::DATE AS valid_to, 'cycle' AS source
        FROM segment_assignments
        UNION ALL
        SELECT client_id, dimension, segment_id || 'x', segment_name || ' (before)', 1,
               {day} - INTERVAL 400 DAY, {day} - INTERVAL 90 DAY, 'cycle'
        FROM segment_assignments WHERE hash(client_id || dimension) % 3 = 0
        UNION ALL
        SELECT client_id, dimension, segment_id || 'y', segment_name || ' (long before)', 1,
               {day} - INTERVAL 800 DAY, {day} - INTERVAL 400 DAY, 'cycle'
        FROM segment_assignments WHERE hash(client_id || dimension) % 9 = 0;
        UPDATE segment_history SET valid_from = CAST(valid_from AS DATE);
        CREATE TABLE monitoring_cycles AS SELECT '{AS_OF}' AS cycle_id, {day} AS as_of,
            NULL::DATE AS previous_as_of, now()::TIMESTAMP AS started_at,
            now()::TIMESTAMP AS finished_at, 'ok' AS status, ['value'] AS refitted,
            {n}::BIGINT AS clients, 0::BIGINT AS changes, 1::BIGINT AS alerts;
        CREATE TABLE alerts AS SELECT '{AS_OF}' AS cycle_id, {day} AS as_of, 'min_share' AS rule,
            'warning' AS severity, 'value' AS dimension, NULL::VARCHAR AS feature,
            'value-1' AS segment_id, 0.001 AS value, 0.01 AS threshold, 'a small segment' AS message;
    """)
    con.close()


def publish_once(warehouse: Path, root: Path, backend: str, prefix: str, k: int,
                 threads: int = 0) -> dict:
    from segmint.api import publish
    from segmint.store import Warehouse

    with Warehouse(warehouse, threads=threads or None) as wh:
        wh.con.execute("UPDATE features SET expected_spend = ?", [float(k)])
        t0 = time.perf_counter()
        pub = publish(wh, _config(root, backend, prefix), root=root, kind="cycle")
        seconds = time.perf_counter() - t0
    return {"publication_id": pub.publication_id, "k": k, "seconds": seconds}


def publish_loop(args) -> None:
    """Child process: publish until told to stop, recording each publication's k."""
    root = Path(args.root)
    if int(args.publish_nice):
        os.nice(int(args.publish_nice))
    marks = []
    k = 1
    stop = root / "stop"
    while not stop.exists():
        k += 1
        marks.append(publish_once(root / "warehouse.duckdb", root, args.backend, args.prefix, k,
                                  args.publish_threads))
        (root / "marks.json").write_text(json.dumps(marks))


def app():
    """uvicorn factory of the benchmark's server process."""
    from segmint.api import ServiceState, create_app, open_store

    root = Path(os.environ["SEGMINT_BENCH_ROOT"])
    config = _config(root, os.environ["SEGMINT_BENCH_BACKEND"], os.environ["SEGMINT_BENCH_PREFIX"])
    return create_app(store=open_store(config, root), state=ServiceState(root / "service.sqlite"),
                      settings=config.serving, worker=False)


async def _get(reader, writer, path: str, host: str, key: str) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 GET on an open connection (a small client: httpx would take
    more of the two cores than the server it measures)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def _load(url: str, key: str, n: int, seconds: float, concurrency: int,
                marks: Path | None = None, min_publications: int = 0, cap: float = 900.0):
    """Lookups for ``seconds``, and on until ``min_publications`` publications have been
    written during the run (read from the publisher's ``marks`` file; at most ``cap`` s)."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    seen: list[tuple[str, float]] = []
    errors: dict[str, int] = {}
    start = time.perf_counter()
    deadline = start + seconds

    async def extend() -> None:
        # on until the publisher has written min_publications, then 10 s more: lookups
        # must be seen crossing onto the new publication
        nonlocal deadline
        reached = False
        while time.perf_counter() < deadline:
            await asyncio.sleep(1.0)
            done = len(json.loads(marks.read_text())) if marks and marks.exists() else 0
            if done < min_publications and time.perf_counter() - start < cap:
                deadline = max(deadline, time.perf_counter() + 2.0)
            elif min_publications and not reached:
                reached = True
                deadline = max(deadline, time.perf_counter() + 10.0)

    async def worker(i: int) -> None:
        rng = random.Random(i)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                cid = f"C{rng.randrange(n):09d}"
                t0 = time.perf_counter()
                try:
                    status, body = await _get(reader, writer, f"/v1/clients/{cid}", f"{host}:{port}", key)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                    continue
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                    continue
                doc = json.loads(body)
                seen.append((doc["publication_id"], doc["values"]["expected_spend"]))
        finally:
            writer.close()

    await asyncio.gather(extend(), *(worker(i) for i in range(concurrency)))
    return latencies, seen, errors


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def run_backend(args, base: Path, backend: str, nice: int = 0) -> dict:
    import httpx

    root = base / f"{backend}-nice{nice}"
    root.mkdir()
    shutil.copy(base / "warehouse.duckdb", root / "warehouse.duckdb")
    prefix = f"bench{os.getpid()}n{nice}"
    first = publish_once(root / "warehouse.duckdb", root, backend, prefix, 1)
    print(f"[{backend}] first publication: {first['seconds']:.1f} s", flush=True)
    from segmint.api import ServiceState

    key = ServiceState(root / "service.sqlite").create_key(role="admin", name="bench")[1]
    env = dict(os.environ, SEGMINT_BENCH_ROOT=str(root), SEGMINT_BENCH_BACKEND=backend,
               SEGMINT_BENCH_PREFIX=prefix, PYTHONPATH=str(ROOT / "src"))
    port = args.port + (1 if backend == "postgres" else 0)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "serve:app", "--app-dir", str(ROOT / "benchmarks"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.server_workers),
         "--no-access-log", "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        asyncio.run(_load(url, key, args.clients, 2.0, args.concurrency))  # warm-up
        publisher = subprocess.Popen(
            [sys.executable, __file__, "--publish-loop", "--root", str(root), "--backend", backend,
             "--prefix", prefix, "--publish-threads", str(args.publish_threads),
             "--publish-nice", str(nice)], env=env) \
            if args.publish_during else None
        t0 = time.perf_counter()
        latencies, seen, errors = asyncio.run(_load(
            url, key, args.clients, args.seconds, args.concurrency,
            marks=root / "marks.json" if publisher is not None else None,
            min_publications=args.min_publications))
        wall = time.perf_counter() - t0
        load = os.getloadavg()
        (root / "stop").touch()
        if publisher is not None:
            publisher.wait(timeout=900)
    finally:
        server.terminate()
        server.wait(timeout=30)
    marks = json.loads((root / "marks.json").read_text()) if (root / "marks.json").exists() else []
    by_id = {m["publication_id"]: m["k"] for m in marks} | {first["publication_id"]: 1}
    checked = [(p, v) for p, v in seen if p in by_id]
    torn = sum(1 for p, v in checked if v != by_id[p])
    pubs_seen = len({p for p, _ in seen})
    if backend == "postgres":
        _drop_pg_schemas(prefix)
    result = {
        "backend": backend, "clients": args.clients, "concurrency": args.concurrency,
        "seconds": round(wall, 1), "lookups": len(latencies),
        "throughput_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(_pct(latencies, 0.50) * 1000, 2), "p90_ms": round(_pct(latencies, 0.90) * 1000, 2),
        "p99_ms": round(_pct(latencies, 0.99) * 1000, 2), "max_ms": round(max(latencies) * 1000, 1),
        "errors": errors, "torn_reads": torn, "lookups_checked_for_torn_reads": len(checked),
        "publications_during_run": len(marks), "publications_seen_by_lookups": pubs_seen,
        "publish_seconds": [round(m["seconds"], 1) for m in marks] or None,
        "first_publish_seconds": round(first["seconds"], 1),
        "loadavg_at_end": [round(x, 2) for x in load],
        "publish_threads": args.publish_threads or "default", "publish_nice": nice, "server_workers": args.server_workers,
    }
    print(json.dumps(result), flush=True)
    return result


def _drop_pg_schemas(prefix: str) -> None:
    import psycopg

    with psycopg.connect(os.environ["SEGMINT_BENCH_PG_DSN"], autocommit=True) as pg:
        for (name,) in pg.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
                                  [prefix]).fetchall():
            pg.execute(f'DROP SCHEMA "{name}" CASCADE')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--backends", default="duckdb,postgres")
    ap.add_argument("--server-workers", type=int, default=1)
    ap.add_argument("--publish-during", action=argparse.BooleanOptionalAction, default=True,
                    help="Publish again and again while the lookups run (default).")
    ap.add_argument("--min-publications", type=int, default=2,
                    help="Keep the lookups running until this many publications were written.")
    ap.add_argument("--publish-threads", type=int, default=0,
                    help="DuckDB threads of the publishing batch (warehouse.threads); 0: DuckDB's default.")
    ap.add_argument("--publish-nice", default="0,10",
                    help="Niceness added to the publishing process, one run per value (comma-separated): "
                    "0 competes with the service as an equal, 10 runs the batch below it.")
    ap.add_argument("--port", type=int, default=18700)
    ap.add_argument("--pg-dsn-env", default="SEGMINT_TEST_PG_DSN",
                    help="Environment variable holding the PostgreSQL DSN.")
    ap.add_argument("--publish-loop", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    ap.add_argument("--backend", help=argparse.SUPPRESS)
    ap.add_argument("--prefix", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(RESULTS / "serve"))
    args = ap.parse_args()
    if args.publish_loop:
        publish_loop(args)
        return
    backends = [b for b in args.backends.split(",") if b]
    if "postgres" in backends:
        dsn = os.environ.get(args.pg_dsn_env)
        if not dsn:
            sys.exit(f"postgres: set {args.pg_dsn_env} (or drop it from --backends)")
        os.environ["SEGMINT_BENCH_PG_DSN"] = dsn
    base = Path(tempfile.mkdtemp(prefix="segmint-serve-bench-"))
    try:
        t0 = time.perf_counter()
        build_warehouse(base / "warehouse.duckdb", args.clients)
        print(f"warehouse of {args.clients:,} clients built in {time.perf_counter() - t0:.1f} s", flush=True)
        results = [run_backend(args, base, b, nice) for b in backends
                   for nice in (int(x) for x in str(args.publish_nice).split(","))]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = ["| backend | batch nice | clients | concurrency | lookups/s | p50 ms | p90 ms | p99 ms | max ms | errors | "
             "torn reads (checked) | publications during run | publish s | load avg (1/5/15) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- | --- |"]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['publish_nice']} | {r['clients']:,} | {r['concurrency']} | {r['throughput_per_s']:,} | "
            f"{r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['errors'] or 0} | "
            f"{r['torn_reads']} ({r['lookups_checked_for_torn_reads']:,}) | {r['publications_during_run']} | "
            f"{r['publish_seconds']} | {r['loadavg_at_end']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
