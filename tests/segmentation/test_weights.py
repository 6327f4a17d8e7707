"""Feature weights follow information: noise features do not enter at full weight."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from segmint.config._segmentation import SegmentationConfig
from segmint.segmentation import run_segmentation
from segmint.segmentation._weights import eta_squared, families

AS_OF = dt.date(2025, 6, 30)


def _planted(wh, n: int = 1500, seed: int = 0) -> np.ndarray:
    """Four planted groups on three features; one near-uniform noise share."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n)
    centres = np.array([[0, 0, 0], [4, 0, 2], [0, 4, 4], [4, 4, 6]], dtype=float)
    x = centres[truth] + rng.normal(0, 0.8, (n, 3))
    df = pd.DataFrame({
        "client_id": [f"c{i:05d}" for i in range(n)], "as_of": AS_OF,
        "spend": x[:, 0], "visits": x[:, 1], "tenure": x[:, 2],
        "noise_a": rng.uniform(0, 1, n),
    })
    wh.con.register("_f", df)
    wh.con.execute("CREATE OR REPLACE TABLE features AS SELECT * FROM _f")
    wh.con.unregister("_f")
    return truth


def _config(information: bool) -> SegmentationConfig:
    return SegmentationConfig(include_defaults=False, dimensions=[{
        "name": "behaviour", "kind": "learned", "method": "kmeans",
        "inputs": ["spend", "visits", "tenure", "noise_a"],
        "preprocessing": {"information_weights": information, "log1p": []},
        "selection": {"k_max": 7, "n_bootstrap": 4},
    }])


def _ari(wh, truth) -> float:
    got = wh.con.execute(
        "SELECT segment_id FROM segment_assignments ORDER BY client_id").df()["segment_id"]
    return adjusted_rand_score(truth, got)


def test_noise_features_are_down_weighted_and_reported(warehouse):
    truth = _planted(warehouse)
    run = run_segmentation(warehouse, _config(True))
    ev = run.models["behaviour"].evidence
    w = ev["feature_weights"]
    assert w["spend"] == w["visits"] == w["tenure"] == 1.0
    assert w["noise_a"] < 0.25, w
    assert run.models["behaviour"].k == 4
    weighted = _ari(warehouse, truth)
    run_segmentation(warehouse, _config(False), refit=True)
    plain = _ari(warehouse, truth)
    assert weighted >= 0.9 and weighted >= plain, (weighted, plain)


def test_eta_squared_by_hand():
    Z = np.array([[0.0], [2.0], [10.0], [12.0]])
    labels = np.array([0, 0, 1, 1])
    # total SS = 4 * var = 100 + ... : mean 6; (36 + 16 + 16 + 36) = 104; between = 4 * 25 = 100
    assert eta_squared(Z, labels, [0]) == 100 / 104
    assert families(["share_*", "x"], ["share_a", "share_b", "x"]) == {
        "share_*": ["share_a", "share_b"], "x": ["x"]}


def test_a_feature_a_coarse_partition_ignores_keeps_full_weight(warehouse):
    """Two planted axes: when the first sweep's chosen partition splits one axis only, the
    other is still judged by the finest stable partition, not mistaken for noise."""
    rng = np.random.default_rng(3)
    n = 1200
    truth = rng.integers(0, 4, n)
    centres = np.array([[0, 0], [5, 0], [0, 5], [5, 5]], dtype=float)
    x = centres[truth] + rng.normal(0, 0.8, (n, 2))
    df = pd.DataFrame({"client_id": [f"c{i:05d}" for i in range(n)], "as_of": AS_OF,
                       "spend": x[:, 0] * 3, "visits": x[:, 1], "noise_a": rng.uniform(0, 1, n)})
    warehouse.con.register("_f", df)
    warehouse.con.execute("CREATE OR REPLACE TABLE features AS SELECT * FROM _f")
    warehouse.con.unregister("_f")
    config = SegmentationConfig(include_defaults=False, dimensions=[{
        "name": "behaviour", "kind": "learned", "method": "kmeans",
        "inputs": ["spend", "visits", "noise_a"],
        "preprocessing": {"log1p": []}, "selection": {"k_max": 6, "n_bootstrap": 4},
    }])
    ev = run_segmentation(warehouse, config).models["behaviour"].evidence
    assert ev["feature_weights"]["spend"] == ev["feature_weights"]["visits"] == 1.0
