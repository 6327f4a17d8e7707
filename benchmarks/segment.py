"""Benchmark of the segment step (one command: ``python benchmarks/segment.py``).

1. 1M clients x 30 features (7 planted clusters, some skewed columns) in a DuckDB
   warehouse: the full segment step of one learned dimension (stratified 50k sample,
   preprocessing, k sweep 2..10 with silhouette/CH/DB and 10-resample bootstrap stability,
   registry write, in-engine assignment of every client), beside scikit-learn
   ``KMeans(n_clusters=7, n_init=1).fit_predict`` on the full data.
2. 10M clients x 30 features: in-engine assignment of the fitted version (one SQL query,
   written to a table) beside "fetch the features into numpy, preprocess and predict,
   write the labels back" on the same warehouse.

Results go to ``benchmarks/results/segment.json`` and ``.md``. Scratch data lives in
``/tmp/segmint-bench-segment`` and is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, pairwise_distances_argmin

from segmint.config._segmentation import DimensionConfig, SegmentationConfig
from segmint.segmentation import PreprocessSpec, run_segmentation, version_sql
from segmint.store import Warehouse

N_FEATURES = 30
K_TRUE = 7
RESULTS = Path(__file__).parent / "results"
SCRATCH = Path("/tmp/segmint-bench-segment")


def planted(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """n clients, 30 features: 7 clusters; every third feature exp()-skewed and non-negative."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(42).uniform(-4, 4, size=(K_TRUE, N_FEATURES))
    y = rng.integers(0, K_TRUE, size=n)
    X = centers[y] + rng.normal(0, 1.0, size=(n, N_FEATURES))
    X[:, ::3] = np.exp(X[:, ::3] / 2)
    df = pd.DataFrame(X, columns=[f"f{j:02d}" for j in range(N_FEATURES)])
    df.insert(0, "client_id", [f"c{i:08d}" for i in range(n)])
    df.insert(1, "as_of", pd.Timestamp("2024-06-30").date())
    return df, y


def planted_sql(n: int) -> str:
    """The same generative model written in SQL (Box-Muller normals), for 10M rows."""
    centers = np.random.default_rng(42).uniform(-4, 4, size=(K_TRUE, N_FEATURES))
    cols = []
    for j in range(N_FEATURES):
        c = (
            "CASE g "
            + " ".join(f"WHEN {k} THEN {float(centers[k, j])!r}" for k in range(K_TRUE))
            + " END"
        )
        noise = "sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())"
        x = f"({c} + {noise})"
        cols.append(f"{'exp(' + x + ' / 2)' if j % 3 == 0 else x} AS f{j:02d}")
    return (
        "SELECT 'c' || lpad(CAST(i AS VARCHAR), 8, '0') AS client_id, DATE '2024-06-30' AS as_of, "
        + ", ".join(cols)
        + f" FROM (SELECT i, CAST(floor(random() * {K_TRUE}) AS INTEGER) AS g FROM range({n}) t(i))"
    )


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--n-big", type=int, default=10_000_000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    res: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(shared with other jobs), duckdb threads={args.threads}",
        "n": args.n,
        "n_big": args.n_big,
        "n_features": N_FEATURES,
        "k_true": K_TRUE,
    }

    # -- 1. full segment step on 1M -------------------------------------------------------
    df, y = planted(args.n, seed=0)
    wh = Warehouse(SCRATCH / "w.duckdb", threads=args.threads)
    wh.con.register("_df", df)
    wh.con.execute("CREATE TABLE features AS SELECT * FROM _df")
    wh.con.unregister("_df")
    cfg = SegmentationConfig(
        include_defaults=False,
        dimensions=[DimensionConfig(name="behaviour", kind="learned", inputs=["f*"])],
    )
    run, t_step = timed(lambda: run_segmentation(wh, cfg, load=False))
    mv = run.models["behaviour"]
    labels = wh.con.execute(
        "SELECT segment_id FROM segment_assignments ORDER BY client_id"
    ).fetchnumpy()["segment_id"]
    res["segment_step"] = {
        "total_s": t_step,
        "fit_s (sample, preprocessing, k sweep 2..10, bootstrap x10)": run.timings["fit:behaviour"],
        "assign_all_in_engine_s": run.timings["assign"],
        "assign_throughput_clients_per_s": args.n / run.timings["assign"],
        "chosen_k": mv.k,
        "ari_vs_planted": adjusted_rand_score(y, labels),
        "k_table": mv.evidence["k_table"],
    }
    X = df[[f"f{j:02d}" for j in range(N_FEATURES)]].to_numpy()
    km = KMeans(n_clusters=K_TRUE, n_init=1, random_state=0)
    t0 = time.perf_counter()
    km.fit_predict(X)
    t_fp = time.perf_counter() - t0
    t0 = time.perf_counter()
    km.predict(X)
    t_pred = time.perf_counter() - t0
    res["sklearn_kmeans_full_1M"] = {
        "fit_predict_s": t_fp,
        "predict_s": t_pred,
        "note": "one k, no sweep, no stability, no preprocessing",
    }
    del X

    # -- 2. assignment of 10M: in-engine vs fetch-predict-write ----------------------------
    wh.con.execute(f"CREATE TABLE big AS {planted_sql(args.n_big)}")
    _, t_sql = timed(
        lambda: wh.con.execute(
            f"CREATE OR REPLACE TABLE big_assign AS {version_sql(mv, 'big', run.as_of)}"
        )
    )
    spec = PreprocessSpec.from_json(mv.params["preprocessing"])
    centers = np.asarray(mv.params["model"]["centers"])
    ids = np.array([s["id"] for s in mv.segments], dtype=object)

    def fetch_predict_write() -> dict[str, float]:
        t0 = time.perf_counter()
        feats = wh.con.execute("SELECT * FROM big").df()
        t1 = time.perf_counter()
        lab = pairwise_distances_argmin(spec.transform(feats), centers)
        out = pd.DataFrame({"client_id": feats["client_id"], "segment_id": ids[lab]})
        t2 = time.perf_counter()
        wh.con.register("_out", out)
        wh.con.execute("CREATE OR REPLACE TABLE big_assign_py AS SELECT * FROM _out")
        wh.con.unregister("_out")
        t3 = time.perf_counter()
        return {"fetch_s": t1 - t0, "predict_s": t2 - t1, "write_s": t3 - t2, "total_s": t3 - t0}

    py = fetch_predict_write()
    agree = wh.con.execute(
        "SELECT avg(CASE WHEN a.segment_id = b.segment_id THEN 1 ELSE 0 END) "
        "FROM big_assign a JOIN big_assign_py b USING (client_id)"
    ).fetchone()[0]
    res["assign_10M"] = {
        "in_engine_s": t_sql,
        "in_engine_clients_per_s": args.n_big / t_sql,
        "fetch_predict_write": py,
        "ratio_fetch_predict_write_over_in_engine": py["total_s"] / t_sql,
        "label_agreement": agree,
    }
    wh.close()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    write(res)


def write(res: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "segment.json").write_text(json.dumps(res, indent=2, default=str))
    s, k, a = res["segment_step"], res["sklearn_kmeans_full_1M"], res["assign_10M"]
    fit_key = next(key for key in s if key.startswith("fit_s"))
    lines = [
        "# Segment step benchmark",
        "",
        f"Machine: {res['machine']}. Timings from one run on a shared, loaded machine.",
        "",
        f"## Full segment step, {res['n']:,} clients x {res['n_features']} features "
        f"({res['k_true']} planted clusters)",
        "",
        "| step | seconds |",
        "| --- | ---: |",
        f"| fit: 50k stratified sample, preprocessing, k sweep 2..10, bootstrap stability x10 | {s[fit_key]:.1f} |",
        f"| in-engine assignment of all {res['n']:,} clients | {s['assign_all_in_engine_s']:.2f} |",
        f"| **total segment step (target < 60 s)** | **{s['total_s']:.1f}** |",
        f"| scikit-learn KMeans(n_init=1).fit_predict, full data, k=7 only | {k['fit_predict_s']:.2f} |",
        f"| scikit-learn KMeans.predict, full data | {k['predict_s']:.2f} |",
        "",
        f"Chosen k = {s['chosen_k']} (planted {res['k_true']}); ARI vs planted = "
        f"{s['ari_vs_planted']:.4f}; assignment throughput "
        f"{s['assign_throughput_clients_per_s']:,.0f} clients/s.",
        "",
        "| k | silhouette | Calinski-Harabasz | Davies-Bouldin | stability | chosen |",
        "| ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for r in s["k_table"]:
        lines.append(
            f"| {r['k']} | {r.get('silhouette', float('nan')):.3f} | "
            f"{r.get('calinski_harabasz', float('nan')):,.0f} | "
            f"{r.get('davies_bouldin', float('nan')):.3f} | {r.get('stability', float('nan')):.3f} | "
            f"{'yes' if r.get('chosen') else ''} |"
        )
    p = a["fetch_predict_write"]
    lines += [
        "",
        f"## Assignment of {res['n_big']:,} clients",
        "",
        "| method | seconds |",
        "| --- | ---: |",
        f"| in-engine (one SQL query: impute, log1p, clip, scale, nearest centre; into a table) | {a['in_engine_s']:.1f} |",
        f"| fetch into pandas/numpy ({p['fetch_s']:.1f}) + preprocess and predict ({p['predict_s']:.1f}) + write back ({p['write_s']:.1f}) | {p['total_s']:.1f} |",
        "",
        f"Fetch-predict-write / in-engine = {a['ratio_fetch_predict_write_over_in_engine']:.2f}x "
        "(target: >= 1). Label agreement between the two: "
        f"{a['label_agreement']:.6f}.",
        "",
    ]
    (RESULTS / "segment.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
