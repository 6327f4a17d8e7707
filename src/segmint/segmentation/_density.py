"""Density clustering (scikit-learn's HDBSCAN) made applicable to every client.

HDBSCAN finds the number of segments itself and leaves *noise* points out; the fit
sample's noise is reported as an explicit ``unassigned`` group in the evidence. To apply
the model to clients it has not seen (and inside the engine), each segment is summarised
by its centre (mean of its members) and radius (the 99th percentile of its members'
distances to the centre): a client joins the nearest centre, or, when
``assign_noise=False`` and it lies beyond that segment's radius, stays ``unassigned``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import HDBSCAN
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.utils.validation import check_is_fitted, validate_data

from segmint.segmentation._kmeans import nearest, order_by_size, squared_distances
from segmint.segmentation._select import single_threaded


class DensitySegmenter(ClusterMixin, BaseEstimator):
    """HDBSCAN with centre/radius summaries for out-of-sample assignment.

    Parameters
    ----------
    min_cluster_size : int, optional
        Defaults to 1% of the sample (at least 5).
    assign_noise : bool
        Give points beyond every radius their nearest segment (True) or -1 (False).
    metric_sample_size : int
    random_state : int, optional
        Seeds the silhouette subsample (HDBSCAN itself is deterministic).

    Attributes
    ----------
    cluster_centers_, radius_ : ndarray
    n_clusters_ : int
    labels_ : ndarray
        HDBSCAN's own labels, -1 for noise, segments ordered by size.
    evidence_ : list of dict
    """

    def __init__(
        self,
        *,
        min_cluster_size: int | None = None,
        assign_noise: bool = True,
        metric_sample_size: int = 2000,
        random_state: int | None = None,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.assign_noise = assign_noise
        self.metric_sample_size = metric_sample_size
        self.random_state = random_state

    @single_threaded
    def fit(self, X: Any, y: Any = None) -> DensitySegmenter:
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        mcs = self.min_cluster_size or max(5, len(X) // 100)
        raw = HDBSCAN(min_cluster_size=min(mcs, len(X)), copy=True).fit_predict(X)
        found = np.unique(raw[raw >= 0])
        if found.size == 0:  # everything is noise: one segment holding all
            raw = np.zeros(len(X), dtype=int)
            found = np.array([0])
        remap = -np.ones(raw.max() + 2, dtype=int)
        remap[found] = np.arange(found.size)
        raw = np.where(raw >= 0, remap[np.maximum(raw, 0)], -1)
        perm = order_by_size(raw, found.size)
        inv = np.empty_like(perm)
        inv[perm] = np.arange(perm.size)
        labels = np.where(raw >= 0, inv[np.maximum(raw, 0)], -1)
        centers = np.array([X[labels == c].mean(axis=0) for c in range(found.size)])
        dist = np.sqrt(squared_distances(X, centers))
        radius = np.array([np.quantile(dist[labels == c, c], 0.99) for c in range(found.size)])
        self.cluster_centers_ = centers
        self.radius_ = radius
        self.n_clusters_ = int(found.size)
        self.labels_ = labels
        row: dict[str, Any] = {
            "k": self.n_clusters_,
            "n_segments": self.n_clusters_,
            "unassigned": int(np.sum(labels < 0)),
            "unassigned_share": float(np.mean(labels < 0)),
            "chosen": True,
        }
        kept = labels >= 0
        if 1 < self.n_clusters_ < kept.sum():
            rng = np.random.default_rng(self.random_state or 0)
            idx = np.flatnonzero(kept)
            if idx.size > self.metric_sample_size:
                idx = rng.choice(idx, size=self.metric_sample_size, replace=False)
            row["silhouette"] = float(silhouette_score(X[idx], labels[idx]))
            row["calinski_harabasz"] = float(calinski_harabasz_score(X[kept], labels[kept]))
            row["davies_bouldin"] = float(davies_bouldin_score(X[kept], labels[kept]))
        self.evidence_ = [row]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Nearest segment, or -1 beyond its radius when ``assign_noise`` is False."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        lab, dist = nearest(X, self.cluster_centers_)
        if self.assign_noise:
            return lab
        far = dist > self.radius_[lab]
        return np.where(far, -1, lab)
