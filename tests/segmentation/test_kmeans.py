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


def _row(k, sil, stab, se=0.01, **more):
    return {"k": k, "silhouette": sil, "silhouette_se": se, "stability": stab,
            "calinski_harabasz": 100.0 * k, "davies_bouldin": 1.0, **more}


def test_choose_k_rule_by_hand():
    # k=2 is unstable; k=4 has the best silhouette and k=3 is more than one SE below it
    table = [_row(2, 0.9, 0.5), _row(3, 0.5, 0.9), _row(4, 0.6, 0.95, se=0.05)]
    assert choose_k(table, stability_threshold=0.85, use_bic=False) == 4
    assert table[2]["best"] and not table[1]["within_noise"]
    # within one standard error of the best: the smaller k
    table = [_row(2, 0.9, 0.5), _row(3, 0.5, 0.9), _row(4, 0.6, 0.95, se=0.15)]
    assert choose_k(table, stability_threshold=0.85, use_bic=False) == 3
    # Calinski-Harabasz does not vote: a huge CH at k=3 changes nothing
    table = [_row(3, 0.5, 0.9), _row(4, 0.6, 0.95, se=0.05)]
    table[0]["calinski_harabasz"] = 1e9
    assert choose_k(table, stability_threshold=0.85, use_bic=False) == 4
    # nothing stable enough: the most stable k
    table = [_row(k, 0.5, 0.5 + k / 100) for k in (2, 3, 4)]
    assert choose_k(table, stability_threshold=0.85, use_bic=False) == 4


def test_choose_k_bic_leads_with_a_margin_towards_fewer():
    table = [
        _row(2, 0.9, 0.99, bic=1000.0),
        _row(3, 0.3, 0.95, bic=900.0),
        _row(4, 0.2, 0.9, bic=898.5),
        _row(5, 0.1, 0.9, bic=899.0),
    ]
    # best BIC at k=4; k=3 is within 2 of it: the smaller k
    assert choose_k(table, stability_threshold=0.85, use_bic=True) == 3
    table[1]["bic"] = 901.0
    assert choose_k(table, stability_threshold=0.85, use_bic=True) == 4


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-1, 1), st.floats(0, 1), st.floats(0, 0.2)),
        min_size=2, max_size=8,
    ),
    st.floats(-1, 1), st.floats(0, 1),
)
def test_choose_k_ignores_a_worse_far_k(rows, sil, stab):
    """Adding a k beyond the sweep whose score is not better than the best cannot change
    the choice (independence of irrelevant alternatives)."""
    table = [_row(k + 2, s, t, se) for k, (s, t, se) in enumerate(rows)]
    before = choose_k([dict(r) for r in table], stability_threshold=0.85, use_bic=False)
    eligible = [r["silhouette"] for r in table if r["stability"] >= 0.85]
    far = _row(len(rows) + 7, min([sil, *eligible]) - 1e-9 if eligible else sil, stab)
    if not eligible and stab >= 0.85:
        return  # the far k would be the only stable one: it is then rightly chosen
    if not eligible:
        far["stability"] = min(stab, min(r["stability"] for r in table) - 1e-9)
    after = choose_k([dict(r) for r in table] + [far], stability_threshold=0.85, use_bic=False)
    assert after == before


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, (7, 3), elements=st.floats(-1e3, 1e3)),
    arrays(np.float64, (4, 3), elements=st.floats(-1e3, 1e3)),
)
def test_squared_distances_match_scipy(X, C):
    np.testing.assert_allclose(
        squared_distances(X, C), cdist(X, C, "sqeuclidean"), rtol=1e-9, atol=1e-6
    )
