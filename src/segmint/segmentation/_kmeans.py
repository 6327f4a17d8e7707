"""k-means with the number of clusters chosen from evidence (see :mod:`._select`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted, validate_data

from segmint.segmentation._select import single_threaded, sweep


def center_scores(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``|c_k|^2 - 2 x.c_k`` for every row and centre: the squared distance minus ``|x|^2``.

    The nearest centre minimises it. Dot products accumulate feature by feature from 0,
    exactly as the SQL compiled by :mod:`._assign` does, so that engine and Python
    agree on the nearest centre; it costs half the operations of ``sum (x - c)^2``.
    """
    S = np.empty((X.shape[0], centers.shape[0]))
    for k in range(centers.shape[0]):
        acc = np.zeros(X.shape[0])
        for j in range(X.shape[1]):
            acc = acc + X[:, j] * centers[k, j]
        S[:, k] = center_norm(centers[k]) - 2.0 * acc
    return S


def center_norm(c: np.ndarray) -> float:
    """``|c|^2`` (one fixed summation, shared by Python and the SQL literals)."""
    return float(np.dot(c, c))


def squared_norms(X: np.ndarray) -> np.ndarray:
    acc = np.zeros(X.shape[0])
    for j in range(X.shape[1]):
        acc = acc + X[:, j] * X[:, j]
    return acc


def squared_distances(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (``|x|^2 + |c|^2 - 2 x.c``, floored at 0)."""
    return np.maximum(squared_norms(X)[:, None] + center_scores(X, centers), 0.0)


def nearest(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the nearest centre, distance to it) — first index on ties."""
    S = center_scores(X, centers)
    lab = np.argmin(S, axis=1)
    m = S[np.arange(len(lab)), lab]
    return lab, np.sqrt(np.maximum(squared_norms(X) + m, 0.0))


def order_by_size(labels: np.ndarray, n: int) -> np.ndarray:
    """A permutation putting the largest cluster first (ties: lower old index first)."""
    sizes = np.bincount(labels[labels >= 0], minlength=n)
    return np.lexsort((np.arange(n), -sizes))


class KMeansSelector(ClusterMixin, TransformerMixin, BaseEstimator):
    """k-means whose k is chosen by stability and internal validity indices.

    Parameters
    ----------
    n_clusters : int, optional
        Fix k; by default k is chosen in ``k_min..k_max``.
    k_min, k_max : int
        The sweep range (clipped to ``n_samples - 1``).
    n_init : int
        k-means restarts per fit.
    n_bootstrap : int
        Bootstrap resamples per k for the stability score (0 disables it).
    stability_threshold : float
        Minimum mean adjusted Rand index for a k to be eligible.
    metric_sample_size, stability_sample_size : int
        Subsample sizes for the silhouette and the stability fits.
    max_iter : int
    random_state : int, optional

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters_, n_features)
        Ordered by cluster size in the training data, largest first.
    labels_ : ndarray of shape (n_samples,)
    n_clusters_ : int
    evidence_ : list of dict
        One row per k tried: silhouette, calinski_harabasz, davies_bouldin, stability,
        consensus_rank (for eligible k), chosen.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(n_samples=600, centers=4, random_state=0)
    >>> KMeansSelector(k_max=6, n_bootstrap=3, random_state=0).fit(X).n_clusters_
    4
    """

    def __init__(
        self,
        *,
        n_clusters: int | None = None,
        k_min: int = 2,
        k_max: int = 10,
        n_init: int = 4,
        n_bootstrap: int = 10,
        stability_threshold: float = 0.85,
        metric_sample_size: int = 2000,
        stability_sample_size: int = 10000,
        max_iter: int = 300,
        random_state: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.k_min = k_min
        self.k_max = k_max
        self.n_init = n_init
        self.n_bootstrap = n_bootstrap
        self.stability_threshold = stability_threshold
        self.metric_sample_size = metric_sample_size
        self.stability_sample_size = stability_sample_size
        self.max_iter = max_iter
        self.random_state = random_state

    def _fit_one(self, X: np.ndarray, k: int, seed: int) -> KMeans:
        return KMeans(
            n_clusters=k, n_init=self.n_init, max_iter=self.max_iter, random_state=seed
        ).fit(X)

    @staticmethod
    def _predict_one(model: KMeans, X: np.ndarray) -> np.ndarray:
        return nearest(X, model.cluster_centers_)[0]

    @single_threaded
    def fit(self, X: Any, y: Any = None) -> KMeansSelector:
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        n = X.shape[0]
        seed = 0 if self.random_state is None else int(self.random_state)
        if self.n_clusters is not None:
            ks = [min(int(self.n_clusters), n)]
        else:
            hi = min(self.k_max, n - 1)
            ks = list(range(min(self.k_min, hi), hi + 1)) if hi >= 2 else [1]
        if len(ks) == 1:
            model = self._fit_one(X, ks[0], seed)
            table: list[dict[str, Any]] = [{"k": ks[0], "chosen": True}]
        else:
            _, model, table = sweep(
                X,
                ks,
                lambda rows, k, s: self._fit_one(X[rows], k, s),
                lambda m, rows: self._predict_one(m, X[rows]),
                n_bootstrap=self.n_bootstrap,
                stability_threshold=self.stability_threshold,
                metric_sample_size=self.metric_sample_size,
                stability_sample_size=self.stability_sample_size,
                random_state=seed,
            )
        centers = model.cluster_centers_
        labels = self._predict_one(model, X)
        perm = order_by_size(labels, centers.shape[0])
        self.cluster_centers_ = centers[perm]
        self.n_clusters_ = int(centers.shape[0])
        self.labels_ = nearest(X, self.cluster_centers_)[0]
        self.inertia_ = float(model.inertia_)
        self.n_iter_ = int(model.n_iter_)
        self.evidence_ = table
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest centre of each row."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return nearest(X, self.cluster_centers_)[0]

    def transform(self, X: Any) -> np.ndarray:
        """Euclidean distance of each row to each centre."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.sqrt(squared_distances(X, self.cluster_centers_))
