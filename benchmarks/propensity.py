"""Benchmark of the propensity models (one command: ``python benchmarks/propensity.py``).

1. On a generated bank (4,000 clients, seed 0): fit the four models of the tests (churn,
   next purchase, investment upgrade, category expansion) point-in-time and record each
   one's evaluation on the later date beside the logistic baseline and the naive rule.
2. Scoring N clients (default 1,000,000): a ``features`` snapshot of N rows drawn (with
   replacement, new client ids) from the bank's snapshot, scored by
   ``targeting.score_models`` (read the snapshot, predict, write ``scores`` with deciles
   and the ``propensity_churn`` column, in one transaction) beside plain ``predict_proba``
   on the same frame in the same run, with the same threads: the calibrated model's
   (encoding + trees + calibrator), and the bare ``HistGradientBoostingClassifier``'s on
   the already encoded matrix (the floor). Target: score_models within 1.5x of the bare one.
3. Fit time on M training rows (default 1,000,000, drawn from the churn training set) with
   a 200,000-row calibration set, for the gradient-boosting model and the baseline.

Results go to ``benchmarks/results/propensity.json`` and ``.md``, with the load average.
Scratch data lives in ``/tmp/segmint-bench-propensity`` and is deleted at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from threadpoolctl import threadpool_limits

from segmint import Project
from segmint.datasets import generate_bank
from segmint.targeting import PropensityClassifier, encode, fit_propensity, score_models
from segmint.targeting._training import plan_dates, training_set

RESULTS = Path(__file__).parent / "results"
SCRATCH = Path("/tmp/segmint-bench-propensity")
TARGETING = {
    "outcomes": {
        "churn": {"kind": "churn", "horizon_days": 90},
        "next_purchase": {"kind": "purchase", "horizon_days": 30},
        "upgrade": {"kind": "product_opened", "product_type": "investment", "horizon_days": 90},
        "expansion": {"kind": "category_first_spend", "horizon_days": 60},
    },
    "propensity": {n: {"outcome": n} for n in ("churn", "next_purchase", "upgrade", "expansion")},
}


def _project(threads: int) -> Project:
    data = generate_bank(SCRATCH / "bank", n_clients=4_000, seed=0)
    raw = yaml.safe_load(data.config.read_text())
    raw["targeting"] = TARGETING
    raw["warehouse"] = {"threads": threads}
    data.config.write_text(yaml.safe_dump(raw, sort_keys=False))
    project = Project.from_yaml(data.config)
    project.ingest()
    return project


def _quality(project: Project, names: list[str]) -> tuple[dict, dict]:
    out, cache = {}, {}
    with project.warehouse() as wh:
        for name in names:
            t0 = time.perf_counter()
            pv = fit_propensity(wh, project.config, name, cache=cache)
            m = pv.metrics
            row = {"fit_s": round(time.perf_counter() - t0, 2),
                   "evaluation_as_of": m["evaluation_as_of"], **m["counts"]["evaluation"],
                   "calibration": m["calibration"]["hgb"]["method"]}
            for key, s in m["scorers"].items():
                for metric in ("roc_auc", "pr_auc", "brier", "ece", "top_decile_lift"):
                    if metric in s:
                        row[f"{key}_{metric}"] = round(s[metric], 4)
            if "btyd" in m and "btyd" in m["btyd"]:
                row["btyd_buyers"] = m["btyd"]["n"]
                row["btyd_roc_auc"] = round(m["btyd"]["btyd"]["roc_auc"], 4)
                row["btyd_ece"] = round(m["btyd"]["btyd"]["ece"], 4)
                row["hgb_on_buyers_roc_auc"] = round(m["btyd"]["hgb"]["roc_auc"], 4)
                row["median_expected_days_to_next_purchase"] = round(
                    m["btyd"]["median_expected_days_to_next_purchase"], 1)
            out[name] = row
    return out, cache


def _scoring(project: Project, n: int) -> dict:
    as_of = project.default_as_of()
    project.snapshot_features(as_of)
    with project.warehouse() as wh:
        con = wh.con
        # N clients drawn from the bank's snapshot, new ids: the same columns and values
        # an equi-join on k (with the row count a scalar: k = hash(i) % count(*) written
        # across the two sides is a nested-loop join, 1M x the bank's clients)
        con.execute(f"""CREATE OR REPLACE TABLE big_features AS
            SELECT 'B' || lpad(CAST(r.i AS VARCHAR), 8, '0') AS client_id,
                   f.* EXCLUDE (client_id, k)
            FROM (SELECT i, CAST(hash(i) % (SELECT count(*) FROM features WHERE as_of = $1)
                                 AS BIGINT) AS k FROM range({n}) t(i)) r
            JOIN (SELECT *, row_number() OVER (ORDER BY client_id) - 1 AS k
                  FROM features WHERE as_of = $1) f ON f.k = r.k""", [as_of])
        con.execute("DROP TABLE features")
        con.execute("ALTER TABLE big_features RENAME TO features")
        rows = con.execute("SELECT count(*) FROM features").fetchone()[0]
        t0 = time.perf_counter()
        result = score_models(wh, project.config, as_of, names=["churn"], fit_missing=False)
        score_s = time.perf_counter() - t0
        from segmint.targeting import load_version

        pv = load_version(wh, "churn")
        cols = ", ".join(f'"{c}"' for c in ["client_id", *pv.features])
        frame = con.execute(f"SELECT {cols} FROM features WHERE as_of = ?", [as_of]).df()
    model = pv.model
    t0 = time.perf_counter()
    model.predict_proba(frame)
    plain_s = time.perf_counter() - t0
    Z = encode(frame, model.plan_)
    with threadpool_limits(limits=model.n_threads):  # the threads score_models uses
        t0 = time.perf_counter()
        model.model_.predict_proba(Z)
        bare_s = time.perf_counter() - t0
    return {
        "clients": int(rows), "features_used": len(pv.features),
        "score_models_s": round(score_s, 2), "score_models_steps_s": {
            k: round(v, 2) for k, v in result.timings.items()},
        "plain_predict_proba_s": round(plain_s, 2),
        "bare_hgb_predict_proba_s": round(bare_s, 2),
        "score_over_plain": round(score_s / plain_s, 2),
        "score_over_bare_hgb": round(score_s / bare_s, 2),
    }


def _fit_time(project: Project, cache: dict, n_rows: int, threads: int) -> dict:
    from segmint.targeting._fit import excluded_columns, model_config

    model_cfg, outcome = model_config(project.config, "churn")
    with project.warehouse() as wh:
        plan = plan_dates(wh, outcome, model_cfg)
        frame = training_set(wh, project.config, outcome, plan.train, cache=cache)
    rng = np.random.default_rng(0)
    big = frame.iloc[rng.integers(0, len(frame), n_rows)].reset_index(drop=True)
    cal = frame.iloc[rng.integers(0, len(frame), 200_000)].reset_index(drop=True)
    exclude = tuple(excluded_columns(frame.columns, model_cfg))
    out = {"training_rows": n_rows, "calibration_rows": len(cal), "positives": int(big.y.sum())}
    for algorithm in ("hgb", "logistic"):
        t0 = time.perf_counter()
        est = PropensityClassifier(algorithm=algorithm, exclude=exclude, n_threads=threads).fit(
            big, big.y, X_cal=cal, y_cal=cal.y)
        out[f"{algorithm}_fit_s"] = round(time.perf_counter() - t0, 1)
        if algorithm == "hgb":
            out["hgb_trees"] = int(est.model_.n_iter_)
    return out


def _markdown(result: dict) -> str:
    lines = ["# Propensity benchmark", "", f"`{result['command']}`", "",
             f"Load average before / after: {result['load_before']} / {result['load_after']}; "
             f"{result['machine']}.", "", "## Models on the generated bank (4,000 clients, seed 0)",
             "", "Evaluated on the later as-of date; naive = recency (1 - p_alive for churn).", "",
             "| model | eval date | n | positives | calibration | HGB AUC | baseline AUC | naive AUC "
             "| HGB PR AUC | naive PR AUC | HGB top-decile lift | naive lift | HGB Brier | HGB ECE "
             "| baseline ECE | fit s |",
             "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: | ---: | ---: |"]
    for name, r in result["models"].items():
        lines.append(
            f"| {name} | {r['evaluation_as_of']} | {r['n']:,} | {r['positives']:,} | {r['calibration']} "
            f"| {r['hgb_roc_auc']} | {r['logistic_roc_auc']} | {r['naive_roc_auc']} | {r['hgb_pr_auc']} "
            f"| {r['naive_pr_auc']} | {r['hgb_top_decile_lift']} | {r['naive_top_decile_lift']} "
            f"| {r['hgb_brier']} | {r['hgb_ece']} | {r['logistic_ece']} | {r['fit_s']} |")
    np_ = result["models"].get("next_purchase", {})
    if "btyd_roc_auc" in np_:
        lines += ["", f"Next purchase, on the {np_['btyd_buyers']:,} buyers: BG/NBD P(purchase in 30 "
                  f"days) AUC {np_['btyd_roc_auc']} (ECE {np_['btyd_ece']}) vs gradient boosting "
                  f"{np_['hgb_on_buyers_roc_auc']}; median expected time to the next purchase "
                  f"(while alive) {np_['median_expected_days_to_next_purchase']} days."]
    lines += ["", "## Scoring and fitting at scale", "", "| measure | value |", "| --- | --- |"]
    for section in ("scoring", "fit"):
        for k, v in result[section].items():
            lines.append(f"| {section}.{k} | {v} |")
    lines += ["", "Timings on a machine shared with other work: compare the ratios of one run, "
              "not seconds across runs."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1_000_000, help="clients scored")
    ap.add_argument("--rows", type=int, default=1_000_000, help="training rows for the fit time")
    ap.add_argument("--threads", type=int, default=1, help="threads of DuckDB and the models")
    ap.add_argument("--models", default=",".join(TARGETING["propensity"]),
                    help="models fitted on the bank, comma-separated (churn is needed)")
    args = ap.parse_args()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    project = _project(args.threads)
    generate_s = time.perf_counter() - t0
    models, cache = _quality(project, args.models.split(","))
    fit = _fit_time(project, cache, args.rows, args.threads)
    scoring = _scoring(project, args.clients)
    load_after = os.getloadavg()
    result = {
        "command": "python benchmarks/propensity.py " + " ".join(sys.argv[1:]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, threads={args.threads}; shared",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "bank_generate_ingest_s": round(generate_s, 1),
        "models": models, "scoring": scoring, "fit": fit,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "propensity.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (RESULTS / "propensity.md").write_text(_markdown(result))
    print(_markdown(result))
    shutil.rmtree(SCRATCH, ignore_errors=True)


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    main()
