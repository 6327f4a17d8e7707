"""Gaussian mixtures with k chosen from evidence (BIC joins the consensus, see :mod:`._select`).

Prediction uses the log-density of each component written out term by term,

``log p_k(x) = c_k - 0.5 * sum_j (x_j - mu_kj)^2 * prec_kj``   (diagonal / spherical)

``log p_k(x) = c_k - 0.5 * sum_j (sum_i (x_i - mu_ki) L_kij)^2``  (full; L the precision
Cholesky factor)

with ``c_k = log w_k + log det L_k - d/2 log(2 pi)``: the same arithmetic the SQL runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted, validate_data

from segmint.segmentation._kmeans import order_by_size
from segmint.segmentation._select import single_threaded, sweep


def gaussian_params(gm: GaussianMixture) -> dict[str, Any]:
    """Plain-JSON parameters of a fitted mixture, for :func:`gaussian_log_density`."""
    k, d = gm.means_.shape
    ct = gm.covariance_type
    pc = gm.precisions_cholesky_
    if ct == "full":
        logdet = np.array([np.sum(np.log(np.diag(pc[i]))) for i in range(k)])
        params: dict[str, Any] = {"chol": pc.tolist()}
    else:
        prec = pc**2
        if ct == "spherical":
            prec = np.repeat(prec[:, None], d, axis=1)
        elif ct == "tied":  # pragma: no cover - not offered in the config
            raise ValueError("tied covariance is not supported")
        logdet = 0.5 * np.sum(np.log(prec), axis=1)
        params = {"prec": prec.tolist()}
    const = np.log(gm.weights_) + logdet - 0.5 * d * np.log(2 * np.pi)
    params.update(
        type="gaussian",
        covariance_type="full" if ct == "full" else "diag",
        means=gm.means_.tolist(),
        const=const.tolist(),
    )
    return params


def gaussian_log_density(params: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """Weighted log-density of every row under every component (n x k)."""
    means = np.asarray(params["means"])
    const = np.asarray(params["const"])
    k, d = means.shape
    out = np.empty((X.shape[0], k))
    for c in range(k):
        acc = np.zeros(X.shape[0])
        if params["covariance_type"] == "full":
            L = np.asarray(params["chol"][c])
            for j in range(d):
                y = np.zeros(X.shape[0])
                for i in range(d):
                    y = y + (X[:, i] - means[c, i]) * L[i, j]
                acc = acc + y * y
        else:
            prec = np.asarray(params["prec"][c])
            for j in range(d):
                diff = X[:, j] - means[c, j]
                acc = acc + diff * diff * prec[j]
        out[:, c] = const[c] - 0.5 * acc
    return out


def _reorder(params: dict[str, Any], perm: np.ndarray) -> dict[str, Any]:
    out = dict(params)
    for key in ("means", "const", "prec", "chol"):
        if key in out:
            out[key] = [out[key][i] for i in perm]
    return out


class GaussianMixtureSelector(ClusterMixin, BaseEstimator):
    """Gaussian mixture whose number of components is chosen from evidence.

    Parameters
    ----------
    n_components : int, optional
        Fix k; by default chosen in ``k_min..k_max``.
    covariance_type : {"diag", "full", "spherical"}
    k_min, k_max, n_init, n_bootstrap, stability_threshold, metric_sample_size,
    stability_sample_size, random_state
        As in :class:`KMeansSelector`.

    Attributes
    ----------
    params_ : dict
        Plain-JSON component parameters (largest component first).
    n_clusters_ : int
    labels_ : ndarray
    evidence_ : list of dict
    """

    def __init__(
        self,
        *,
        n_components: int | None = None,
        covariance_type: str = "diag",
        k_min: int = 2,
        k_max: int = 10,
        n_init: int = 1,
        n_bootstrap: int = 10,
        stability_threshold: float = 0.85,
        metric_sample_size: int = 2000,
        stability_sample_size: int = 10000,
        random_state: int | None = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.k_min = k_min
        self.k_max = k_max
        self.n_init = n_init
        self.n_bootstrap = n_bootstrap
        self.stability_threshold = stability_threshold
        self.metric_sample_size = metric_sample_size
        self.stability_sample_size = stability_sample_size
        self.random_state = random_state

    def _fit_one(self, X: np.ndarray, k: int, seed: int) -> GaussianMixture:
        return GaussianMixture(
            n_components=k,
            covariance_type=self.covariance_type,
            n_init=self.n_init,
            random_state=seed,
            reg_covar=1e-6,
        ).fit(X)

    @staticmethod
    def _predict_one(model: GaussianMixture, X: np.ndarray) -> np.ndarray:
        return np.argmax(gaussian_log_density(gaussian_params(model), X), axis=1)

    @single_threaded
    def fit(self, X: Any, y: Any = None) -> GaussianMixtureSelector:
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        n = X.shape[0]
        seed = 0 if self.random_state is None else int(self.random_state)
        if self.n_components is not None:
            ks = [min(int(self.n_components), n)]
        else:
            hi = min(self.k_max, n - 1)
            ks = list(range(min(self.k_min, hi), hi + 1)) if hi >= 2 else [1]
        if len(ks) == 1:
            model = self._fit_one(X, ks[0], seed)
            table: list[dict[str, Any]] = [{"k": ks[0], "bic": float(model.bic(X)), "chosen": True}]
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
                bic=lambda m, rows: m.bic(X[rows]),
            )
        params = gaussian_params(model)
        labels = np.argmax(gaussian_log_density(params, X), axis=1)
        perm = order_by_size(labels, len(params["means"]))
        self.params_ = _reorder(params, perm)
        self.n_clusters_ = len(perm)
        self.labels_ = self.predict(X)
        self.evidence_ = table
        return self

    def predict_log_density(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return gaussian_log_density(self.params_, X)

    def predict(self, X: Any) -> np.ndarray:
        return np.argmax(self.predict_log_density(X), axis=1)

    def predict_proba(self, X: Any) -> np.ndarray:
        ld = self.predict_log_density(X)
        ld = ld - ld.max(axis=1, keepdims=True)
        p = np.exp(ld)
        return p / p.sum(axis=1, keepdims=True)
