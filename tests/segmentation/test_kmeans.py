import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist
from sklearn.datasets import make_blobs
from sklearn.utils.estimator_checks import parametrize_with_checks

from segmint.segmentation import (
    DensitySegmenter,
    GaussianMixtureSelector,
    KMeansSelector,
    choose_k,
)
from segmint.segmentation._kmeans import squared_distances


@parametrize_with_checks(
    [
        KMeansSelector(k_max=4, n_bootstrap=2, n_init=1, random_state=0),
        KMeansSelector(n_clusters=3, random_state=0),
        GaussianMixtureSelector(k_max=4, n_bootstrap=2, random_state=0),
        DensitySegmenter(min_cluster_size=5),
    ]
)
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.mark.parametrize("k", [3, 5, 7])
def test_picks_planted_k_on_separated_blobs(k):
    X, y = make_blobs(
        n_samples=1500,
        centers=k,
        n_features=5,
        cluster_std=0.6,
        center_box=(-15, 15),
        random_state=k,
    )
    est = KMeansSelector(k_max=9, n_bootstrap=4, random_state=0).fit(X)
    assert est.n_clusters_ == k
    assert [r["k"] for r in est.evidence_] == list(range(2, 10))
    chosen = [r for r in est.evidence_ if r["chosen"]]
    assert len(chosen) == 1 and chosen[0]["stability"] >= 0.85


def test_gmm_picks_planted_k():
    X, _ = make_blobs(
        n_samples=1200,
        centers=4,
        n_features=3,
        cluster_std=0.5,
        center_box=(-10, 10),
        random_state=3,
    )
    est = GaussianMixtureSelector(k_max=7, n_bootstrap=3, random_state=0).fit(X)
    assert est.n_clusters_ == 4
    assert all("bic" in r for r in est.evidence_)


def test_same_seed_same_clusters():
    X, _ = make_blobs(n_samples=800, centers=4, random_state=1)
    a = KMeansSelector(k_max=6, n_bootstrap=2, random_state=5).fit(X)
    b = KMeansSelector(k_max=6, n_bootstrap=2, random_state=5).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_clusters_ordered_by_size():
    X = np.r_[np.zeros((50, 2)), np.full((200, 2), 10.0), np.full((100, 2), -10.0)]
    X = X + np.random.default_rng(0).normal(0, 0.1, X.shape)
    est = KMeansSelector(n_clusters=3, random_state=0).fit(X)
    assert np.bincount(est.labels_).tolist() == [200, 100, 50]


def test_choose_k_rule_by_hand():
    table = [
        # k=2 is unstable; among 3 and 4, k=4 wins silhouette and DB, k=3 wins CH
        {
            "k": 2,
            "silhouette": 0.9,
            "calinski_harabasz": 900,
            "davies_bouldin": 0.1,
            "stability": 0.5,
        },
        {
            "k": 3,
            "silhouette": 0.5,
            "calinski_harabasz": 500,
            "davies_bouldin": 0.9,
            "stability": 0.9,
        },
        {
            "k": 4,
            "silhouette": 0.6,
            "calinski_harabasz": 400,
            "davies_bouldin": 0.8,
            "stability": 0.95,
        },
    ]
    assert choose_k(table, stability_threshold=0.85, use_bic=False) == 4
    # nothing stable enough: the most stable k
    for r in table:
        r["stability"] = 0.5 + r["k"] / 100
    assert choose_k(table, stability_threshold=0.85, use_bic=False) == 4


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, (7, 3), elements=st.floats(-1e3, 1e3)),
    arrays(np.float64, (4, 3), elements=st.floats(-1e3, 1e3)),
)
def test_squared_distances_match_scipy(X, C):
    np.testing.assert_allclose(
        squared_distances(X, C), cdist(X, C, "sqeuclidean"), rtol=1e-9, atol=1e-6
    )
