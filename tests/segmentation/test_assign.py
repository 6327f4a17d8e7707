"""In-engine assignment equals the Python model's prediction on every client."""

import numpy as np
import pytest
from seg_data import load_features, make_features

from segmint.config._segmentation import DimensionConfig, SegmentationConfig
from segmint.segmentation import predict_version, run_segmentation

INPUTS = [
    "frequency",
    "monetary_mean",
    "share_cat_*",
    "share_channel_web",
    "promo_share",
    "digital_share",
    "events_90d",
    "recency_days",
]


def _check(warehouse, dim, *, n=2500, sample_size=1500):
    df, _ = make_features(n, k=4, seed=2)
    load_features(warehouse, df)
    cfg = SegmentationConfig(include_defaults=False, dimensions=[dim], sample_size=sample_size)
    run = run_segmentation(warehouse, cfg)
    got = run.assignments[run.assignments.dimension == dim.name].set_index("client_id")
    assert len(got) == n  # every client, once
    for name, mv in run.models.items():
        ids, score = predict_version(mv, df)
        rows = (
            run.assignments[run.assignments.dimension == name]
            .set_index("client_id")
            .loc[df.client_id]
        )
        np.testing.assert_array_equal(rows.segment_id.to_numpy(), ids)
        np.testing.assert_allclose(rows.score.to_numpy(), score, rtol=1e-9)
    return run


def test_kmeans_in_engine_equals_predict(warehouse):
    run = _check(
        warehouse,
        DimensionConfig(name="b", kind="learned", inputs=INPUTS, selection={"n_bootstrap": 2}),
    )
    assert run.models["b"].k == 4


def test_kmeans_with_pca_weights_categorical(warehouse):
    dim = DimensionConfig(
        name="b",
        kind="learned",
        inputs=INPUTS + ["rfm_cell"],
        preprocessing={"pca": 4, "weights": {"promo_share": 2.0}, "scaler": "robust"},
        selection={"k": 5},
    )
    run = _check(warehouse, dim)
    assert run.models["b"].k == 5


@pytest.mark.parametrize("cov", ["diag", "full", "spherical"])
def test_gmm_posterior_in_engine(warehouse, cov):
    dim = DimensionConfig(
        name="g",
        kind="learned",
        method="gmm",
        inputs=INPUTS,
        covariance_type=cov,
        selection={"k": 4},
    )
    run = _check(warehouse, dim)
    scores = run.assignments.score
    assert scores.between(0, 1).all()


@pytest.mark.parametrize("assign_noise", [True, False])
def test_hdbscan_in_engine(warehouse, assign_noise):
    dim = DimensionConfig(
        name="h",
        kind="learned",
        method="hdbscan",
        inputs=INPUTS,
        min_cluster_size=40,
        assign_noise=assign_noise,
    )
    run = _check(warehouse, dim, sample_size=1200)
    ev = run.models["h"].evidence
    assert ev["k_table"][0]["unassigned"] >= 0
    assert run.models["h"].k >= 2
    if not assign_noise:
        assert "h-unassigned" in set(run.assignments.segment_id)


def test_lca_in_engine(warehouse):
    dim = DimensionConfig(
        name="l",
        kind="learned",
        method="lca",
        inputs=["r_score", "f_score", "m_score"],
        selection={"k": 3},
    )
    run = _check(warehouse, dim)
    assert run.models["l"].k == 3


def test_micro_segments_in_engine(warehouse):
    dim = DimensionConfig(
        name="b",
        kind="learned",
        inputs=INPUTS,
        selection={"k": 2},
        micro={"min_size": 150, "max_depth": 2},
    )
    run = _check(warehouse, dim)
    micro = run.assignments[run.assignments.dimension == "b_micro"]
    assert micro.segment_id.nunique() > 2
    parent = run.assignments[run.assignments.dimension == "b"].set_index("client_id").segment_id
    child = micro.set_index("client_id").segment_id
    # every micro-segment lies inside its parent segment
    assert (child.str.split(".").str[0] == parent.loc[child.index]).all()
