"""Benchmark of the update cycle's stages (one command: ``python benchmarks/cycle.py``).

The daily-cycle cost against a full recompute at 1M clients is ``benchmarks/update.py``.

On a generated bank (``--clients``, default 50,000: about 5M transactions):

1. ingest once, then a first cycle at END - 7 days (fits every dimension);
2. the measured cycle at END (ingest included, every dimension applied), stage by stage:
   wall time and peak resident memory (RSS of the process, DuckDB included, sampled
   every 10 ms) of ingest, features, drift, segment, migration (matrix, shares,
   centroids, alert rules) and record (the one-transaction write);
3. a re-run of the same as_of (replaces the cycle);
4. baseline, in the same run: the same as_of's features + segment steps alone (what a
   plain ``segmint features`` + ``segmint segment`` costs), so the monitoring overhead
   is the difference.

``FEATURE_STEPS`` names how the cycle computes features: ``full`` (``features.incremental:
false``, a recompute from the history) and ``incremental`` (the feature state, built by
the first cycle, kept through ingests); every measurement repeats for each, on a copy of
the ingested warehouse.

Results go to ``benchmarks/results/cycle.json`` and ``.md``. Scratch data lives in
``/tmp/segmint-bench-cycle`` and is deleted at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import threading
import time
from pathlib import Path

from segmint import Project
from segmint.datasets import generate_bank

RESULTS = Path(__file__).parent / "results"
SCRATCH = Path("/tmp/segmint-bench-cycle")
FEATURE_STEPS = {
    "full": "features.incremental: false (recomputed from the history)",
    "incremental": "features.incremental: true (the feature state)",
}


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler:
    """Samples the process RSS every ``interval`` seconds with timestamps."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), _rss_mb()))
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, t0: float, t1: float) -> float:
        inside = [m for t, m in self.samples if t0 <= t <= t1]
        return max(inside) if inside else _rss_mb()


def staged(sampler: RssSampler, fn) -> tuple[object, list[dict]]:
    """Run one cycle; split its wall time and peak RSS by the stages it reports."""
    t0 = time.perf_counter()
    result = fn()
    t_end = time.perf_counter()
    rows, start = [], t0
    for stage, seconds in result.timings.items():
        rows.append({"stage": stage, "seconds": seconds, "peak_rss_mb": sampler.peak(start, start + seconds)})
        start += seconds
    rows.append({"stage": "total", "seconds": t_end - t0, "peak_rss_mb": sampler.peak(t0, t_end)})
    return result, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="Keep the scratch folder.")
    args = ap.parse_args()

    shutil.rmtree(SCRATCH, ignore_errors=True)
    out: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs)",
        "clients": args.clients,
    }
    with RssSampler() as sampler:
        t = time.perf_counter()
        data = generate_bank(SCRATCH / "bank", n_clients=args.clients, seed=args.seed)
        out["generate_s"] = time.perf_counter() - t
        out["transactions"] = data.n_transactions
        project = Project.from_yaml(data.config)
        t = time.perf_counter()
        project.ingest()
        out["ingest_s"] = time.perf_counter() - t
        end = project.default_as_of()
        ingested = SCRATCH / "ingested.duckdb"
        shutil.copy(project.warehouse_path, ingested)

        for name in FEATURE_STEPS:
            shutil.copy(ingested, project.warehouse_path)
            features = project.config.features.model_copy(
                update={"incremental": name == "incremental"}
            )
            project.config = project.config.model_copy(update={"features": features})
            first, first_rows = staged(
                sampler, lambda: project.update(end - dt.timedelta(days=7), ingest=False)
            )
            cycle, rows = staged(sampler, lambda: project.update(end, ingest=True))
            rerun, rerun_rows = staged(sampler, lambda: project.update(end, ingest=False))
            t0 = time.perf_counter()
            project.features(end)
            t1 = time.perf_counter()
            project.segment(end, load=False)
            t2 = time.perf_counter()
            out[name] = {
                "description": FEATURE_STEPS[name],
                "first_cycle": first_rows,
                "cycle": rows,
                "rerun": rerun_rows,
                "baseline": {
                    "features_s": t1 - t0,
                    "segment_s": t2 - t1,
                    "total_s": t2 - t0,
                    "peak_rss_mb": sampler.peak(t0, t2),
                },
                "refitted_first": first.refitted,
                "changes": cycle.changes,
                "alerts": len(cycle.alerts),
                "features_tested": int(len(cycle.drift)),
            }
    out["peak_rss_mb"] = max(m for _, m in sampler.samples)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cycle.json").write_text(json.dumps(out, indent=2, default=str))
    (RESULTS / "cycle.md").write_text(markdown(out))
    print(markdown(out))
    if not args.keep:
        shutil.rmtree(SCRATCH, ignore_errors=True)


def markdown(r: dict) -> str:
    lines = [
        "# Update cycle benchmark\n",
        f"Machine: {r['machine']}. Timings from one run on a shared, loaded machine.\n",
        f"Generated bank: {r['clients']:,} clients, {r['transactions']:,} transactions "
        f"(generated in {r['generate_s']:.1f} s, first ingest {r['ingest_s']:.1f} s).\n",
    ]
    for name in FEATURE_STEPS:
        v = r[name]
        lines.append(f"## Features step: {name} ({v['description']})\n")
        lines.append("| stage | first cycle (fits), s | cycle, s | peak RSS, MB | re-run (no ingest), s |")
        lines.append("| --- | ---: | ---: | ---: | ---: |")
        first = {x["stage"]: x for x in v["first_cycle"]}
        rerun = {x["stage"]: x for x in v["rerun"]}
        for x in v["cycle"]:
            s = x["stage"]
            f = f"{first[s]['seconds']:.2f}" if s in first else "–"
            rr = f"{rerun[s]['seconds']:.2f}" if s in rerun else "–"
            name_s = f"**{s}**" if s == "total" else s
            lines.append(f"| {name_s} | {f} | {x['seconds']:.2f} | {x['peak_rss_mb']:,.0f} | {rr} |")
        b = v["baseline"]
        cyc = {x["stage"]: x["seconds"] for x in v["cycle"]}
        overhead = cyc.get("drift", 0) + cyc.get("migration", 0) + cyc.get("record", 0)
        lines.append("")
        lines.append(
            f"Baseline (same run, same as_of): features {b['features_s']:.2f} s + segment "
            f"{b['segment_s']:.2f} s = {b['total_s']:.2f} s (peak RSS {b['peak_rss_mb']:,.0f} MB). "
            f"Monitoring overhead of the cycle (drift + migration + record): {overhead:.2f} s.\n"
        )
        lines.append(
            f"The measured cycle opened {v['changes']:,} history rows, raised {v['alerts']} alerts, "
            f"tested {v['features_tested']} features for drift; the first cycle fitted "
            f"{', '.join(v['refitted_first'])}.\n"
        )
    lines.append(f"Process peak RSS over the whole run: {r['peak_rss_mb']:,.0f} MB.\n")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
