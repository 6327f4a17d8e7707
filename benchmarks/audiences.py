"""Benchmark: building an audience and a lookalike over 1M clients.

Run: ``python benchmarks/audiences.py [--clients 1000000]``

A warehouse is synthesised directly (generating and ingesting a 1M-client bank would
take most of the run): ``features`` (12 behaviour columns drawn around 8 planted
cluster centres, ``p_alive``, ``clv_12m``), ``segment_assignments`` for two dimensions
(``behaviour``: the planted cluster; ``value``: CLV tiers), three update cycles of
``segment_history`` and ``segment_migration``, and a learned ``behaviour`` model version
whose preprocessing (fitted on a 50,000-client sample) is the lookalike space.

Then, each in its own process (so that peak RSS is its own), on the same warehouse:

* ``audience``: :func:`segmint.targeting.build_audience` — two dimensions, a ``where``
  condition, the stable core over 2 cycles, a 10% holdout, 50,000 members ranked by the
  stability-weighted score, stored;
* ``hand_sql``: one hand-written DuckDB query making the same selection (checked: the
  same members in the same order);
* ``lookalike``: :func:`segmint.targeting.lookalike`, cosine, seed = 16% of one planted
  cluster (about 20,000 clients of 1M), no hold-out (the space evaluated in DuckDB, then a k-d tree over
  the unit vectors of 5,000 seed members, queried by the whole population);
* ``sklearn_nn``: plain scikit-learn on the same data: read the features into pandas,
  transform with the same preprocessing, ``NearestNeighbors(metric="cosine")`` over the
  same 5,000 reference seed members, mean similarity of the 10 nearest (checked: the
  same top-10,000 ranking).

Results go to ``benchmarks/results/audiences.json`` and ``.md``, with the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
KINDS = ("audience", "hand_sql", "lookalike", "sklearn_nn")
SCRATCH = Path("/tmp/segmint-bench-audiences")
AS_OF = dt.date(2025, 12, 31)
CYCLES = (dt.date(2025, 10, 31), dt.date(2025, 11, 30), AS_OF)
K, D = 8, 12
SEED_CLUSTER = 3
AUDIENCE = {
    "segments": {"value": ["value-1", "value-2"], "behaviour": [f"behaviour-{i}" for i in range(1, 5)]},
    "where": "f1 > -1 AND p_alive >= 0.3",
    "stable_cycles": 2,
    "exclude": {"holdout_share": 0.1},
    "size": 50_000,
    "rank_by": "stability_weighted",
    "score": "p_alive",
}


def _setup(n: int, path: Path) -> dict:
    import numpy as np
    import pyarrow as pa

    from segmint.config._segmentation import PreprocessingConfig
    from segmint.segmentation._preprocess import fit_preprocessing
    from segmint.segmentation._registry import ModelVersion, save_version
    from segmint.store import Warehouse

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2.0, (K, D))
    cluster = rng.integers(0, K, n)
    X = centres[cluster] + rng.normal(0, 1.0, (n, D))
    ids = np.char.add("C", np.char.zfill(np.arange(n).astype(str), 8))
    p_alive = 1 / (1 + np.exp(-(X[:, 0] * 0.5 + rng.normal(0, 1, n))))
    clv = np.exp(5 + 0.3 * X[:, 1] + rng.normal(0, 0.5, n))
    cols = {"client_id": pa.array(ids), "as_of": pa.array([AS_OF] * n, pa.date32())}
    for j in range(D):
        cols[f"f{j}"] = pa.array(X[:, j])
    cols["p_alive"], cols["clv_12m"] = pa.array(p_alive), pa.array(clv)
    features = pa.table(cols)
    wh = Warehouse(path)
    con = wh.con
    con.register("features_arrow", features)
    con.execute("CREATE TABLE features AS SELECT * FROM features_arrow")
    con.register("cl", pa.table({"client_id": pa.array(ids), "cluster": pa.array(cluster)}))
    con.execute(
        "CREATE TABLE segment_assignments AS "
        "SELECT client_id, 'behaviour' AS dimension, 'behaviour-' || (cluster + 1) AS segment_id, "
        "'Cluster ' || (cluster + 1) AS segment_name, 1 AS model_version, DATE '2025-12-31' AS as_of, "
        "NULL::DOUBLE AS score FROM cl "
        "UNION ALL SELECT client_id, 'value', 'value-' || (4 - least(ntile(4) OVER (ORDER BY clv_12m), 4) + 1), "
        "'Tier', 1, as_of, NULL FROM features"
    )
    # three cycles: 80% of the spells began at the first cycle, 10% at each later one
    con.execute(
        "CREATE TABLE segment_history AS SELECT client_id, dimension, segment_id, segment_name, "
        "model_version, CASE WHEN hash(client_id || dimension) % 10 < 8 THEN DATE '2025-10-31' "
        "WHEN hash(client_id || dimension) % 10 = 8 THEN DATE '2025-11-30' ELSE DATE '2025-12-31' END "
        "AS valid_from, NULL::DATE AS valid_to, 'cycle' AS source FROM segment_assignments"
    )
    con.execute(
        "CREATE TABLE monitoring_cycles AS SELECT strftime(d, '%Y-%m-%d') AS cycle_id, d AS as_of, "
        "'ok' AS status FROM (SELECT unnest([DATE '2025-10-31', DATE '2025-11-30', DATE '2025-12-31']) AS d)"
    )
    con.execute(
        "CREATE TABLE segment_migration AS SELECT DATE '2025-12-31' AS as_of, dimension, "
        "segment_id AS from_segment, segment_id AS to_segment, "
        "CAST(count(*) * (0.8 + (hash(segment_id) % 15) / 100.0) AS BIGINT) AS clients "
        "FROM segment_assignments GROUP BY dimension, segment_id UNION ALL "
        "SELECT DATE '2025-12-31', dimension, segment_id, '(elsewhere)', "
        "CAST(count(*) * (0.2 - (hash(segment_id) % 15) / 100.0) AS BIGINT) "
        "FROM segment_assignments GROUP BY dimension, segment_id"
    )
    sample = con.execute("SELECT * FROM features USING SAMPLE 50000 ROWS (reservoir, 1)").df()
    numeric = [f"f{j}" for j in range(D)]
    _, spec = fit_preprocessing(sample, numeric, [], PreprocessingConfig())
    save_version(con, ModelVersion(
        "behaviour", 1, dt.datetime(2025, 12, 31), AS_OF, "learned", "kmeans",
        {"preprocessing": spec.to_json(), "segments": [{"id": f"behaviour-{i + 1}", "name": f"Cluster {i + 1}"}
                                                       for i in range(K)]},
        {}, K,
    ))
    wh.close()
    return {"clients": n, "setup_s": round(time.perf_counter() - t0, 1)}


def _seed(con) -> list[str]:
    return [r[0] for r in con.execute(
        f"SELECT client_id FROM segment_assignments WHERE dimension = 'behaviour' AND "
        f"segment_id = 'behaviour-{SEED_CLUSTER + 1}' AND hash(client_id || 'seed') % 100 < 16"
    ).fetchall()]


HAND_SQL = """
WITH seg AS (
    SELECT client_id,
           max(segment_id) FILTER (WHERE dimension = 'value') AS v,
           max(segment_id) FILTER (WHERE dimension = 'behaviour') AS b
    FROM segment_assignments WHERE as_of = DATE '2025-12-31' GROUP BY client_id),
stay AS (
    SELECT dimension, from_segment AS segment_id,
           sum(clients) FILTER (WHERE to_segment = from_segment) / sum(clients) AS p
    FROM segment_migration WHERE from_segment <> '(new)' AND to_segment <> '(gone)' GROUP BY ALL),
stable AS (
    SELECT client_id FROM segment_history
    WHERE dimension IN ('value', 'behaviour') AND valid_from <= DATE '2025-11-30' AND valid_to IS NULL
    GROUP BY client_id HAVING count(*) = 2),
picked AS (
    SELECT f.client_id, f.p_alive * sv.p * sb.p AS w,
           (hash(f.client_id || ':bench') % 1000000) < 100000 AS holdout
    FROM features AS f JOIN seg USING (client_id) JOIN stable USING (client_id)
    JOIN stay AS sv ON sv.dimension = 'value' AND sv.segment_id = seg.v
    JOIN stay AS sb ON sb.dimension = 'behaviour' AND sb.segment_id = seg.b
    WHERE f.as_of = DATE '2025-12-31' AND seg.v IN ('value-1', 'value-2')
      AND seg.b IN ('behaviour-1', 'behaviour-2', 'behaviour-3', 'behaviour-4')
      AND f.f1 > -1 AND f.p_alive >= 0.3)
SELECT client_id FROM picked WHERE NOT holdout
ORDER BY w DESC NULLS LAST, client_id LIMIT 50000
"""


def _run(kind: str, path: str) -> dict:
    import numpy as np
    import pandas as pd

    from segmint.store import Warehouse

    out: dict = {"kind": kind}
    wh = Warehouse(path)
    t0 = time.perf_counter()
    if kind == "audience":
        from segmint.config import AudienceConfig
        from segmint.targeting import build_audience

        t0 = time.perf_counter()  # after the imports
        build = build_audience(wh, "bench", {"bench": AudienceConfig.model_validate(AUDIENCE)}, as_of=AS_OF)
        out["members"], out["holdout"], out["counts"] = build.members, build.holdout, build.counts
        wall = time.perf_counter() - t0
        members = [r[0] for r in wh.con.execute(
            "SELECT client_id FROM audience_members WHERE audience = 'bench' AND status = 'member' "
            f"AND version = {build.version} ORDER BY rank").fetchall()]
    elif kind == "hand_sql":
        members = [r[0] for r in wh.con.execute(HAND_SQL).fetchall()]
        wall = time.perf_counter() - t0
        out["members"] = len(members)
    elif kind == "lookalike":
        from segmint.targeting import lookalike

        seed = _seed(wh.con)
        t0 = time.perf_counter()
        res = lookalike(wh, seed, as_of=AS_OF, holdout=0.0, value="clv_12m")
        wall = time.perf_counter() - t0
        members = res.scores.client_id[:10_000].tolist()
        truth = {r[0] for r in wh.con.execute(
            "SELECT client_id FROM segment_assignments WHERE dimension = 'behaviour' "
            f"AND segment_id = 'behaviour-{SEED_CLUSTER + 1}'").fetchall()} - set(seed)
        top = set(res.scores.client_id[: len(truth)])
        out["recovered_at_rest_size"] = round(len(top & truth) / len(truth), 4)
    elif kind == "sklearn_nn":
        from sklearn.neighbors import NearestNeighbors

        from segmint.segmentation import PreprocessSpec, load_version

        seed = _seed(wh.con)
        t0 = time.perf_counter()
        spec = PreprocessSpec.from_json(load_version(wh.con, "behaviour").params["preprocessing"])
        df = wh.con.execute("SELECT * FROM features WHERE as_of = DATE '2025-12-31' ORDER BY client_id").df()
        Z = spec.transform(df).astype(np.float32)
        ids = df.client_id.to_numpy(dtype=object)
        in_seed = np.asarray(pd.Index(ids).isin(seed))  # a hash lookup (np.isin on objects is pairwise)
        ref = Z[in_seed]
        if len(ref) > 5000:  # the same uniform sample segmint's lookalike draws
            ref = ref[np.random.default_rng(0).choice(len(ref), 5000, replace=False)]
        dist, _ = NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute").fit(ref).kneighbors(Z[~in_seed])
        sim = 1 - dist.mean(axis=1)
        order = np.lexsort((ids[~in_seed], -sim))
        wall = time.perf_counter() - t0
        members = ids[~in_seed][order][:10_000].tolist()
    else:
        raise ValueError(kind)
    out["wall_s"] = round(wall, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["first"] = members[:50_000]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default="audiences", help="Results file stem in benchmarks/results.")
    parser.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS),
                        help="Runs to make (default: all four).")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_run(*args.child)))
        return
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    path = SCRATCH / "warehouse.duckdb"
    load_before = os.getloadavg()
    setup = _setup(args.clients, path)
    runs = {}
    for kind in args.only:
        proc = subprocess.run([sys.executable, __file__, "--child", kind, str(path)],
                              capture_output=True, text=True, check=True)
        runs[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    same_audience = (runs["audience"]["first"] == runs["hand_sql"]["first"]
                     if {"audience", "hand_sql"} <= set(runs) else None)
    lookalike_overlap = None
    if {"lookalike", "sklearn_nn"} <= set(runs):
        a, b = runs["lookalike"]["first"], runs["sklearn_nn"]["first"]
        lookalike_overlap = round(len(set(a) & set(b)) / max(len(b), 1), 4)
    for r in runs.values():
        r.pop("first")
    result = {
        **setup,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "runs": runs,
        "audience_equals_hand_sql": same_audience,
        "lookalike_top10k_overlap_with_sklearn": lookalike_overlap,
        "audience_vs_hand_sql": round(runs["audience"]["wall_s"] / runs["hand_sql"]["wall_s"], 2)
        if same_audience is not None else None,
        "lookalike_vs_sklearn": round(runs["lookalike"]["wall_s"] / runs["sklearn_nn"]["wall_s"], 2)
        if lookalike_overlap is not None else None,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Audiences and lookalikes over {args.clients:,} clients",
        "",
        f"Load average before / after: {result['load_average_before']} / {result['load_average_after']} "
        f"on {result['cpu_count']} CPUs (shared). Setup (synthetic warehouse): {setup['setup_s']} s.",
        "",
        "| run | wall s | peak RSS MB | notes |",
        "| --- | ---: | ---: | --- |",
    ]
    notes = {
        "audience": lambda r: f"{r['members']:,} members, {r.get('holdout', 0):,} holdout; stored",
        "hand_sql": lambda r: f"same members in the same order: {same_audience}",
        "lookalike": lambda r: f"recovers {r.get('recovered_at_rest_size')} of the seed's cluster at reach = its size",
        "sklearn_nn": lambda r: f"top-10,000 overlap with segmint's lookalike: {lookalike_overlap}",
    }
    for kind, r in runs.items():
        lines.append(f"| {kind} | {r['wall_s']} | {r['peak_rss_mb']} | {notes[kind](r)} |")
    ratios = [f"{name}: {result[key]}x" for name, key in (
        ("audience / hand SQL", "audience_vs_hand_sql"), ("lookalike / scikit-learn", "lookalike_vs_sklearn"))
        if result[key] is not None]
    lines += ["", "; ".join(ratios) + ".", ""]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
