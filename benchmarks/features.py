"""Benchmark: segmint's feature computation beside the usual ways of computing RFM.

    python benchmarks/features.py                 # 1M, 10M and 50M transactions
    python benchmarks/features.py --sizes 1M      # quick run

For each size, generates (or reuses, under benchmarks/data/) a synthetic warehouse
with ~25 transactions per client (plus holdings, engagement and profitability for the
full feature set), then runs each contender in its own subprocess and records wall
time and the subprocess's peak RSS:

* ``segmint_rfm``   -- ``compute_features`` with the rfm group (the hot path)
* ``duckdb_hand``   -- one hand-written DuckDB query computing the same RFM columns (the floor)
* ``pandas``        -- a straightforward pandas groupby computing the same RFM columns
* ``lifetimes``     -- ``lifetimes.utils.summary_data_from_transaction_data`` (not a
  dependency of segmint; skipped and recorded when it is not installed)
* ``segmint_full``  -- every feature group, as ``segmint features --as-of`` computes them

``compute_s`` is the computation alone (the warehouse is already open), first run in a
fresh process; pandas and lifetimes first read the transactions into memory (``load_s``).
The contenders run **interleaved**: ``--rounds`` rounds (default 3), each running every
contender once in its own process, so a change in the machine's load touches all of them;
the tables report the **median** over rounds and every ratio is of medians measured in the
same invocation. Results go to benchmarks/results/features.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results"
AS_OF = "2024-06-30"
TX_PER_CLIENT = 25
# the two RFM queries run this many times in their process (first and best are reported):
# the machine is shared and single runs are noisy; pandas and lifetimes run once
RFM_REPEATS = 3
CONTENDERS = ("duckdb_hand", "segmint_rfm", "pandas", "lifetimes", "segmint_full")

# The RFM subset every contender computes: per client with a purchase (amount >= 0) up to
# the end of AS_OF, over purchase days: recency_days, frequency, monetary_total,
# monetary_mean, monetary_repeat_mean, tenure_days, btyd_x, btyd_t_x, btyd_T (weeks).
HAND_SQL = f"""
WITH days AS (
    SELECT client_id, CAST(ts AS DATE) AS day, SUM(amount) AS amount
    FROM transactions
    WHERE ts < CAST(DATE '{AS_OF}' + 1 AS TIMESTAMP) AND amount >= 0
    GROUP BY ALL
)
SELECT client_id,
    DATE '{AS_OF}' - MAX(day) AS recency_days,
    COUNT(*) AS frequency,
    SUM(amount) AS monetary_total,
    SUM(amount) / COUNT(*) AS monetary_mean,
    COALESCE((SUM(amount) - arg_min(amount, day)) / NULLIF(COUNT(*) - 1, 0), 0) AS monetary_repeat_mean,
    DATE '{AS_OF}' - MIN(day) AS tenure_days,
    COUNT(*) - 1 AS btyd_x,
    (MAX(day) - MIN(day)) / 7.0 AS btyd_t_x,
    (DATE '{AS_OF}' - MIN(day)) / 7.0 AS btyd_T
FROM days
GROUP BY client_id
"""


def parse_size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * mult)


def warehouse_path(n: int) -> Path:
    return DATA / f"features_{n // 1_000_000 or n}{'M' if n >= 1_000_000 else ''}.duckdb"


def generate(n: int) -> Path:
    """Build (once) a warehouse with n transactions and the other entities, in DuckDB SQL."""
    import duckdb

    path = warehouse_path(n)
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    clients = max(n // TX_PER_CLIENT, 1)
    con = duckdb.connect(str(tmp))
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    con.execute(
        f"""
        CREATE TABLE clients AS
        SELECT 'C' || lpad(CAST(i AS VARCHAR), 8, '0') AS client_id,
               DATE '2019-01-01' + CAST(hash(i, 1) % 1800 AS INTEGER) AS onboarded_at,
               CAST(1940 + hash(i, 2) % 65 AS INTEGER) AS birth_year,
               CASE WHEN hash(i, 3) % 2 = 0 THEN 'F' ELSE 'M' END AS gender,
               'R' || CAST(hash(i, 4) % 12 AS VARCHAR) AS region,
               NULL::VARCHAR AS occupation, NULL::VARCHAR AS income_band,
               FALSE AS is_business, 'web' AS home_channel, FALSE AS is_stub
        FROM range({clients}) t(i)
        """
    )
    # clients differ in activity: a client's share of transactions is skewed by the hash
    con.execute(
        f"""
        CREATE TABLE transactions AS
        SELECT 'T' || CAST(i AS VARCHAR) AS transaction_id,
               'C' || lpad(CAST(CAST(floor(pow((hash(i, 5) % 1000000) / 1e6, 1.6) * {clients})
                   AS BIGINT) AS VARCHAR), 8, '0') AS client_id,
               TIMESTAMP '2021-07-01' + INTERVAL (CAST(hash(i, 6) % (3 * 365 * 86400) AS BIGINT)) SECOND AS ts,
               CASE WHEN hash(i, 7) % 100 < 3 THEN -1 ELSE 1 END
                   * round(exp(3 + (hash(i, 8) % 1000) / 400.0), 2) AS amount,
               'EUR' AS currency,
               'cat_' || CAST(CAST(floor(pow((hash(i, 9) % 1000) / 1000.0, 2) * 24) AS INT) AS VARCHAR) AS category,
               ['pos', 'web', 'mobile', 'branch', 'phone'][CAST(hash(i, 10) % 5 AS INT) + 1] AS channel,
               hash(i, 11) % 100 < 15 AS is_promotion,
               FALSE AS is_refund
        FROM range({n}) t(i)
        """
    )
    con.execute("UPDATE transactions SET is_refund = amount < 0")
    con.execute(
        f"""
        CREATE TABLE holdings AS
        SELECT 'C' || lpad(CAST(i // 3 AS VARCHAR), 8, '0') AS client_id, 'P' || CAST(i AS VARCHAR) AS product_id,
               NULL::VARCHAR AS product,
               ['current', 'savings', 'card', 'loan', 'mortgage'][CAST(hash(i, 12) % 5 AS INT) + 1] AS product_type,
               DATE '2015-01-01' + CAST(hash(i, 13) % 3400 AS INTEGER) AS opened_at,
               CASE WHEN hash(i, 14) % 10 = 0 THEN DATE '2024-01-01' END AS closed_at,
               round((hash(i, 15) % 20000) - 5000.0, 2) AS balance
        FROM range({clients * 3}) t(i)
        """
    )
    con.execute(
        f"""
        CREATE TABLE engagement AS
        SELECT 'C' || lpad(CAST(hash(i, 16) % {clients} AS VARCHAR), 8, '0') AS client_id,
               TIMESTAMP '2023-07-01' + INTERVAL (CAST(hash(i, 17) % (365 * 86400) AS BIGINT)) SECOND AS ts,
               ['web', 'mobile', 'email', 'phone'][CAST(hash(i, 18) % 4 AS INT) + 1] AS channel,
               'login' AS event_type
        FROM range({n // 2}) t(i)
        """
    )
    con.execute(
        f"""
        CREATE TABLE profitability AS
        SELECT 'C' || lpad(CAST(i // 24 AS VARCHAR), 8, '0') AS client_id,
               DATE '2022-07-01' + INTERVAL (CAST(i % 24 AS INTEGER)) MONTH AS period,
               round((hash(i, 19) % 5000) / 100.0, 2) AS revenue,
               round((hash(i, 20) % 2000) / 100.0, 2) AS cost
        FROM range({clients * 24}) t(i)
        """
    )
    con.execute("CHECKPOINT")
    con.close()
    tmp.rename(path)
    return path


# -- contenders (each runs in its own subprocess) ---------------------------------------


def _read_transactions(path: Path):
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    frame = con.sql("SELECT client_id, ts, amount FROM transactions").df()
    con.close()
    return frame


def run_contender(spec: str, path: Path) -> dict:
    # "segmint_full@2GB": the contender with DuckDB's memory_limit set (DuckDB ones only)
    name, _, memory_limit = spec.partition("@")
    load_s = 0.0
    best_s = None
    if name in ("segmint_rfm", "segmint_full"):
        sys.path.insert(0, str(HERE.parent / "src"))
        from segmint.config import FeaturesConfig
        from segmint.features import DuckDBEngine, compute_features
        from segmint.store import Warehouse

        wh = Warehouse(path, read_only=True, memory_limit=memory_limit or None)
        config = FeaturesConfig(groups=["rfm"]) if name == "segmint_rfm" else FeaturesConfig()
        times = []
        for _ in range(RFM_REPEATS if name == "segmint_rfm" else 1):
            t0 = time.perf_counter()
            out = compute_features(DuckDBEngine(wh.con), AS_OF, config)
            times.append(time.perf_counter() - t0)
        compute_s, best_s = times[0], min(times)
        rows, cols = out.shape
    elif name == "duckdb_hand":
        import duckdb

        con = duckdb.connect(str(path), read_only=True)
        if memory_limit:
            con.execute("SET memory_limit = ?", [memory_limit])
        times = []
        for _ in range(RFM_REPEATS):
            t0 = time.perf_counter()
            out = con.sql(HAND_SQL).fetch_arrow_table().to_pandas()
            times.append(time.perf_counter() - t0)
        compute_s, best_s = times[0], min(times)
        rows, cols = out.shape
    elif name == "pandas":
        import pandas as pd

        t0 = time.perf_counter()
        tx = _read_transactions(path)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        as_of = pd.Timestamp(AS_OF)
        tx = tx[(tx["ts"] < as_of + pd.Timedelta(days=1)) & (tx["amount"] >= 0)]
        tx = tx.assign(day=tx["ts"].dt.normalize())
        days = tx.groupby(["client_id", "day"], as_index=False)["amount"].sum()
        days = days.sort_values(["client_id", "day"])
        g = days.groupby("client_id")
        out = g.agg(first=("day", "min"), last=("day", "max"), frequency=("day", "size"),
                    monetary_total=("amount", "sum"), first_amount=("amount", "first"))
        out["recency_days"] = (as_of - out["last"]).dt.days
        out["tenure_days"] = (as_of - out["first"]).dt.days
        out["monetary_mean"] = out["monetary_total"] / out["frequency"]
        repeat = (out["frequency"] - 1).where(out["frequency"] > 1)
        out["monetary_repeat_mean"] = ((out["monetary_total"] - out["first_amount"]) / repeat).fillna(0.0)
        out["btyd_x"] = out["frequency"] - 1
        out["btyd_t_x"] = (out["last"] - out["first"]).dt.days / 7
        out["btyd_T"] = out["tenure_days"] / 7
        compute_s = time.perf_counter() - t0
        rows, cols = out.shape
    elif name == "lifetimes":
        try:
            from lifetimes.utils import summary_data_from_transaction_data
        except ImportError as exc:
            return {"status": f"skipped: lifetimes not importable ({exc})"}
        t0 = time.perf_counter()
        tx = _read_transactions(path)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        tx = tx[tx["amount"] >= 0]
        out = summary_data_from_transaction_data(
            tx, "client_id", "ts", monetary_value_col="amount",
            observation_period_end=AS_OF, freq="D", freq_multiplier=7,
        )
        compute_s = time.perf_counter() - t0
        rows, cols = out.shape
    else:
        raise SystemExit(f"unknown contender {name!r}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {"status": "ok", "load_s": load_s, "compute_s": compute_s,
            "best_s": best_s if best_s is not None else compute_s, "peak_rss_bytes": peak,
            "rows": rows, "columns": cols}


def warm_cache(path: Path) -> None:
    """Read the warehouse file once so that the first contender does not pay the disk."""
    with path.open("rb") as fh:
        while fh.read(1 << 24):
            pass


def measure(name: str, path: Path) -> dict:
    warm_cache(path)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--contender", name, "--warehouse", str(path)],
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"status": "failed: " + " | ".join(tail), "wall_s": wall}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def _median_run(runs: list[dict]) -> dict:
    """Median compute, load and best times over rounds (the first failed run if any)."""
    import statistics

    bad = [r for r in runs if r.get("status") != "ok"]
    if bad:
        return bad[0]
    out = dict(runs[0])
    for key in ("compute_s", "load_s", "best_s", "wall_s"):
        out[key] = statistics.median(r[key] for r in runs)
    out["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in runs)
    out["rounds"] = len(runs)
    out["compute_s_each"] = [round(r["compute_s"], 3) for r in runs]
    return out


def _fmt_size(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else str(n)


def write_results(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "features.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Features benchmark",
        "",
        f"Generated by `python benchmarks/features.py` on {results['machine']} "
        f"({results['cpus']} CPUs), {results['date']}. The machine was shared and loaded: "
        "timings are indicative.",
        "",
        "Contenders run interleaved (every contender once per round, each in a fresh "
        f"process, {results.get('rounds', 1)} rounds; load average at the end "
        f"{results.get('load_avg_1m', float('nan')):.2f}); every time is the median over "
        "rounds and every ratio a ratio of medians of the same invocation. "
        "compute = the computation alone, first run in its process; best = best of "
        f"{RFM_REPEATS} runs in that process (the two RFM queries only); load = reading the "
        "transactions into pandas first (pandas, lifetimes); peak = the subprocess's peak "
        "RSS. `@2GB` = DuckDB `memory_limit` set to 2GB (the warehouse's `memory_limit` "
        "option). RFM subset = recency, frequency, monetary total/mean/repeat mean, tenure "
        "and the BTYD summary, for every client with a purchase (segmint also returns the "
        "clients without one, sorted by client_id).",
        "",
        "| transactions | contender | compute s (median) | best s | load s | peak GiB | rows | "
        "compute vs hand query | compute vs segmint_rfm | peak vs pandas |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size, runs in results["sizes"].items():
        hand = runs.get("duckdb_hand", {})
        ours = runs.get("segmint_rfm", {})
        pandas_peak = runs.get("pandas", {}).get("peak_rss_bytes")
        for name, r in runs.items():
            if r.get("status") != "ok":
                lines.append(f"| {size} | {name} | {r.get('status')} | | | | | | | |")
                continue
            best = r.get("best_s", r["compute_s"])
            ratio = f"{r['compute_s'] / hand['compute_s']:.2f}x" if hand.get("status") == "ok" else ""
            vs_ours = f"{r['compute_s'] / ours['compute_s']:.2f}x" if ours.get("status") == "ok" else ""
            ratio = f"{ratio} | {vs_ours}"
            mem = f"{r['peak_rss_bytes'] / pandas_peak:.2f}" if pandas_peak else ""
            lines.append(
                f"| {size} | {name} | {r['compute_s']:.2f} | {best:.2f} | {r['load_s']:.2f} | "
                f"{r['peak_rss_bytes'] / 2**30:.2f} | {r['rows']:,} | {ratio} | {mem} |"
            )
    if results.get("notes"):
        lines += ["", "Notes:", ""] + [f"- {n}" for n in results["notes"]]
    (RESULTS / "features.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1M,10M,50M")
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help="comma-separated; NAME@LIMIT runs a DuckDB contender with memory_limit=LIMIT",
    )
    parser.add_argument(
        "--merge", action="store_true",
        help="update benchmarks/results/features.json instead of replacing it",
    )
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds; the tables report medians over them")
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:  # child process
        print(json.dumps(run_contender(args.contender, Path(args.warehouse))))
        return
    import os

    results: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "as_of": AS_OF,
        "rounds": args.rounds,
        "sizes": {},
    }
    previous = RESULTS / "features.json"
    if args.merge and previous.exists():
        kept = json.loads(previous.read_text())
        results["sizes"] = kept["sizes"]
        results["notes"] = kept.get("notes", [])
    for size in [parse_size(s) for s in args.sizes.split(",")]:
        t0 = time.perf_counter()
        path = generate(size)
        print(f"{_fmt_size(size)}: data ready in {time.perf_counter() - t0:.1f}s ({path.name})",
              flush=True)
        names = args.contenders.split(",")
        rounds: dict[str, list[dict]] = {name: [] for name in names}
        for i in range(args.rounds):  # interleaved: every contender once per round
            for name in names:
                rounds[name].append(r := measure(name, path))
                shown = (
                    f"{r['compute_s']:.2f}s compute, {r['load_s']:.2f}s load, "
                    f"{r['peak_rss_bytes'] / 2**30:.2f} GiB peak"
                    if r.get("status") == "ok" else r.get("status")
                )
                print(f"  round {i + 1} {name:18s} {shown}", flush=True)
        runs = {name: _median_run(rs) for name, rs in rounds.items()}
        results["load_avg_1m"] = os.getloadavg()[0]
        results["sizes"].setdefault(_fmt_size(size), {}).update(runs)
        write_results(results)
    print(f"wrote {RESULTS / 'features.json'} and .md")


if __name__ == "__main__":
    main()
