"""Benchmark segmint.clv against lifetimes: fit + predict on CDNOW master and on 1M customers.

Run: ``python benchmarks/clv.py`` (from the repository root). Writes
``benchmarks/results/clv.json`` and ``benchmarks/results/clv.md``.

``lifetimes`` is only the baseline here (``pip install lifetimes``); it is never
a segmint dependency. If it cannot be imported or run, the failure is recorded
in the results and segmint's timings are still reported.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from segmint.clv import (  # noqa: E402
    BetaGeo,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    rfm_summary,
)
from segmint.datasets import load_cdnow  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
N_SIMULATED = 1_000_000
REPEATS = 3


def best_of(fn, repeats=REPEATS):
    """Best wall time of ``repeats`` runs and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "note": "2 cores shared with other jobs (loaded machine); timings are indicative",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def lifetimes_module():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import lifetimes
        return lifetimes, None
    except Exception as exc:  # the baseline may be broken by new pandas/scipy
        return None, f"import failed: {type(exc).__name__}: {exc}"


def ours_fit_predict(model_cls, s, horizon):
    def run():
        m = model_cls().fit(s["frequency"], s["recency"], s["T"])
        e = m.expected_purchases(horizon, s["frequency"], s["recency"], s["T"])
        p = m.probability_alive(s["frequency"], s["recency"], s["T"])
        return m, e, p

    return run


def lifetimes_fit_predict(fitter_cls, s, horizon):
    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = fitter_cls().fit(s["frequency"], s["recency"], s["T"])
            e = f.conditional_expected_number_of_purchases_up_to_time(
                horizon, s["frequency"], s["recency"], s["T"]
            )
            p = f.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
        return f, np.asarray(e), np.asarray(p)

    return run



def compare(name, ours_cls, theirs_name, s, horizon, lifetimes, repeats=REPEATS):
    row = {"model": name, "customers": int(len(s))}
    t_fit, m = best_of(lambda: ours_cls().fit(s["frequency"], s["recency"], s["T"]), repeats)
    t_all, (m, e, p) = best_of(ours_fit_predict(ours_cls, s, horizon), repeats)
    row.update(
        segmint_fit_s=round(t_fit, 4),
        segmint_fit_predict_s=round(t_all, 4),
        segmint_params={k: round(v, 4) for k, v in m.params_.items()},
        segmint_log_likelihood=round(m.log_likelihood_, 3),
    )
    if lifetimes is None:
        row["lifetimes"] = "not available"
        return row
    fitter = getattr(lifetimes, theirs_name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            l_fit, f = best_of(
                lambda: fitter().fit(s["frequency"], s["recency"], s["T"]), repeats
            )
        l_all, (f, le, lp) = best_of(lifetimes_fit_predict(fitter, s, horizon), repeats)
        row.update(
            lifetimes_fit_s=round(l_fit, 4),
            lifetimes_fit_predict_s=round(l_all, 4),
            lifetimes_params={k: round(float(v), 4) for k, v in f.params_.items()},
            fit_speedup=round(l_fit / t_fit, 1),
            fit_predict_speedup=round(l_all / t_all, 1),
            max_abs_diff_expected_purchases=float(np.nanmax(np.abs(le - e))),
            max_abs_diff_p_alive=float(np.nanmax(np.abs(lp - p))),
        )
    except Exception as exc:
        row["lifetimes"] = f"failed: {type(exc).__name__}: {exc}"
    return row


def simulated_summary(n, seed=0):
    """1M customers with BG/NBD behaviour; ages are whole days (as real data are)."""
    rng = np.random.default_rng(seed)
    T_days = rng.integers(7, 730, n)
    s = BetaGeo.simulate(n, T_days / 7.0, r=0.25, alpha=4.0, a=0.8, b=2.5, random_state=seed)
    s["recency"] = np.minimum(np.round(s["recency"] * 7) / 7.0, s["T"])
    return s


def main() -> None:
    lifetimes, lifetimes_error = lifetimes_module()
    results = {"machine": machine(), "lifetimes_version": None, "rows": []}
    if lifetimes is not None:
        results["lifetimes_version"] = getattr(lifetimes, "__version__", "unknown")
    else:
        results["lifetimes_error"] = lifetimes_error

    tx = load_cdnow("master")
    t_rfm, master = best_of(
        lambda: rfm_summary(tx, "customer_id", "date", "amount",
                            observation_period_end="1997-09-30"),
        1,
    )
    results["cdnow_master_rfm_summary_s"] = round(t_rfm, 3)
    for name, ours, theirs in [
        ("BG/NBD", BetaGeo, "BetaGeoFitter"),
        ("MBG/NBD", ModifiedBetaGeo, "ModifiedBetaGeoFitter"),
        ("Pareto/NBD", ParetoNBD, "ParetoNBDFitter"),
    ]:
        row = compare(name, ours, theirs, master, 39, lifetimes)
        row["data"] = "CDNOW master (weeks, calibration to 1997-09-30)"
        results["rows"].append(row)
        print(json.dumps(row))

    repeat = master[(master["frequency"] > 0) & (master["monetary_value"] > 0)]
    t_gg, gg = best_of(lambda: GammaGamma().fit(repeat["frequency"], repeat["monetary_value"]))
    row = {"model": "Gamma-Gamma", "data": "CDNOW master repeat buyers with spend > 0",
           "customers": int(len(repeat)), "segmint_fit_s": round(t_gg, 4),
           "segmint_params": {k: round(v, 4) for k, v in gg.params_.items()}}
    if lifetimes is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                l_gg, lg = best_of(lambda: lifetimes.GammaGammaFitter().fit(
                    repeat["frequency"], repeat["monetary_value"]))
            row.update(lifetimes_fit_s=round(l_gg, 4), fit_speedup=round(l_gg / t_gg, 1),
                       lifetimes_params={k: round(float(v), 4) for k, v in lg.params_.items()})
        except Exception as exc:
            row["lifetimes"] = f"failed: {type(exc).__name__}: {exc}"
    results["rows"].append(row)
    print(json.dumps(row))

    sim = simulated_summary(N_SIMULATED)
    row = compare("BG/NBD", BetaGeo, "BetaGeoFitter", sim, 52, lifetimes, repeats=1)
    row["data"] = "simulated, 1,000,000 customers (ages in whole days, weeks unit)"
    row["true_params"] = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    row["target_fit_predict_under_10s"] = row["segmint_fit_predict_s"] < 10
    results["rows"].append(row)
    print(json.dumps(row))

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "clv.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "clv.md").write_text(markdown(results))
    print(f"wrote {RESULTS / 'clv.json'} and {RESULTS / 'clv.md'}")


def _fmt(value) -> str:
    return "" if value is None else f"{value:.2g}"


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# segmint.clv benchmark",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, **shared and loaded** (load average at start "
        f"{', '.join(f'{v:.1f}' for v in m['load_average_at_start'])}); Python {m['python']}, "
        f"numpy {m['numpy']}, pandas {m['pandas']}. Timings are best of "
        f"{REPEATS} runs (1 run for 1M customers), wall clock, indicative only.",
        "",
        f"Baseline: lifetimes {results.get('lifetimes_version') or 'unavailable'}"
        + (f" ({results['lifetimes_error']})" if results.get("lifetimes_error") else "")
        + ". Predict = conditional expected purchases + P(alive) for every customer.",
        "",
        f"rfm_summary on the CDNOW master log: {results['cdnow_master_rfm_summary_s']} s.",
        "",
        "| model | data | customers | segmint fit (s) | lifetimes fit (s) | fit speed-up | "
        "segmint fit+predict (s) | lifetimes fit+predict (s) | speed-up | max abs diff E[X] |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['model']} | {r['data']} | {r['customers']:,} | {r.get('segmint_fit_s', '')} | "
            f"{r.get('lifetimes_fit_s', r.get('lifetimes', ''))} | {r.get('fit_speedup', '')} | "
            f"{r.get('segmint_fit_predict_s', '')} | {r.get('lifetimes_fit_predict_s', '')} | "
            f"{r.get('fit_predict_speedup', '')} | "
            f"{_fmt(r.get('max_abs_diff_expected_purchases'))} |"
        )
    lines += ["", "Parameters:", ""]
    for r in results["rows"]:
        lines.append(
            f"- {r['model']} / {r['data']}: segmint {r.get('segmint_params')}; "
            f"lifetimes {r.get('lifetimes_params', r.get('lifetimes', ''))}"
            + (f"; true {r['true_params']}" if "true_params" in r else "")
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
