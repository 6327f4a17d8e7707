"""Latent class analysis for categorical features: a small EM, documented here.

The model (Lazarsfeld's latent class model; Goodman 1974): a client belongs to class
``c`` with probability ``pi_c``; given the class, its categorical features are
independent, feature ``j`` taking category ``v`` with probability ``theta_jcv``. EM
alternates

- **E-step**: ``r_ic ∝ pi_c * prod_j theta_jc[x_ij]`` (computed in logs);
- **M-step**: ``pi_c = mean_i r_ic``; ``theta_jcv = (sum_i r_ic [x_ij = v] + a) /
  (sum_i r_ic + a * V_j)`` with a small smoothing ``a = 0.01`` so no probability is 0.

It starts from ``n_init`` random responsibility matrices and keeps the fit with the
highest log-likelihood; k is chosen by the evidence rule of :mod:`._select` with BIC,
``BIC = -2 logL + p log n`` where ``p = (k - 1) + k * sum_j (V_j - 1)``. A category not
seen in the fit contributes nothing to the class scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted

from segmint.segmentation._kmeans import order_by_size
from segmint.segmentation._select import single_threaded, sweep

_SMOOTH = 0.01


def _em(
    codes: np.ndarray, n_cats: list[int], k: int, seed: int, n_init: int, max_iter: int, tol: float
) -> dict[str, Any]:
    n, m = codes.shape
    rng = np.random.default_rng(seed)
    onehots = [np.eye(v)[codes[:, j]] for j, v in enumerate(n_cats)]
    best: dict[str, Any] | None = None
    for _ in range(n_init):
        resp = rng.dirichlet(np.ones(k), size=n)
        prev = -np.inf
        for _it in range(max_iter):
            nk = resp.sum(axis=0)
            log_pi = np.log(nk / n)
            log_theta = [
                np.log((resp.T @ oh + _SMOOTH) / (nk[:, None] + _SMOOTH * oh.shape[1]))
                for oh in onehots
            ]
            ll = log_pi + sum(oh @ lt.T for oh, lt in zip(onehots, log_theta, strict=True))
            norm = logsumexp(ll, axis=1)
            loglik = float(norm.sum())
            resp = np.exp(ll - norm[:, None])
            if loglik - prev < tol * abs(loglik):
                break
            prev = loglik
        if best is None or loglik > best["loglik"]:
            best = {"log_weights": log_pi, "log_probs": log_theta, "loglik": loglik, "n": n}
    assert best is not None
    return best


def _log_scores(model: dict[str, Any], codes: np.ndarray) -> np.ndarray:
    """``log pi_c + sum_j log theta_jc[x_j]``, feature by feature (unknown code -1 adds 0)."""
    out = np.tile(np.asarray(model["log_weights"], dtype=float), (codes.shape[0], 1))
    for j, lt in enumerate(model["log_probs"]):
        lt = np.asarray(lt)
        c = codes[:, j]
        add = np.where(c[:, None] >= 0, lt.T[np.maximum(c, 0)], 0.0)
        out = out + add
    return out


class LatentClassAnalysis(ClusterMixin, BaseEstimator):
    """Latent classes of independent categorical features, k chosen from evidence.

    Parameters
    ----------
    n_classes : int, optional
    k_min, k_max, n_bootstrap, stability_threshold, metric_sample_size,
    stability_sample_size, random_state
        As in :class:`KMeansSelector` (silhouette etc. are computed on the one-hot codes).
    n_init, max_iter, tol : EM settings.

    Attributes
    ----------
    categories_ : list of ndarray
        Categories of each feature (as strings).
    log_weights_, log_probs_ : class log-weights and per-feature (k x V_j) log-probabilities.
    n_clusters_, labels_, evidence_
    """

    def __init__(
        self,
        *,
        n_classes: int | None = None,
        k_min: int = 2,
        k_max: int = 8,
        n_init: int = 4,
        max_iter: int = 200,
        tol: float = 1e-7,
        n_bootstrap: int = 5,
        stability_threshold: float = 0.85,
        metric_sample_size: int = 2000,
        stability_sample_size: int = 5000,
        random_state: int | None = None,
    ) -> None:
        self.n_classes = n_classes
        self.k_min = k_min
        self.k_max = k_max
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_bootstrap = n_bootstrap
        self.stability_threshold = stability_threshold
        self.metric_sample_size = metric_sample_size
        self.stability_sample_size = stability_sample_size
        self.random_state = random_state

    def _encode(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=object).astype(str)
        codes = np.full(X.shape, -1, dtype=int)
        for j, cats in enumerate(self.categories_):
            pos = np.searchsorted(cats, X[:, j])
            pos = np.minimum(pos, len(cats) - 1)
            codes[:, j] = np.where(cats[pos] == X[:, j], pos, -1)
        return codes

    @single_threaded
    def fit(self, X: Any, y: Any = None) -> LatentClassAnalysis:
        X = np.asarray(X, dtype=object).astype(str)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(f"expected a 2-d array with at least 2 rows, got shape {X.shape}")
        self.categories_ = [np.unique(X[:, j]) for j in range(X.shape[1])]
        self.n_features_in_ = X.shape[1]
        codes = self._encode(X)
        n_cats = [len(c) for c in self.categories_]
        seed = 0 if self.random_state is None else int(self.random_state)
        onehot = np.hstack([np.eye(v)[codes[:, j]] for j, v in enumerate(n_cats)])

        def fit_one(rows: np.ndarray, k: int, s: int) -> dict[str, Any]:
            return _em(codes[rows], n_cats, k, s, self.n_init, self.max_iter, self.tol)

        def predict_one(model: dict[str, Any], rows: np.ndarray) -> np.ndarray:
            return np.argmax(_log_scores(model, codes[rows]), axis=1)

        def bic(model: dict[str, Any], rows: np.ndarray) -> float:
            k = len(model["log_weights"])
            p = (k - 1) + k * sum(v - 1 for v in n_cats)
            return -2 * model["loglik"] + p * np.log(model["n"])

        if self.n_classes is not None:
            everyone = np.arange(len(X))
            model = fit_one(everyone, int(self.n_classes), seed)
            table: list[dict[str, Any]] = [
                {"k": int(self.n_classes), "bic": bic(model, everyone), "chosen": True}
            ]
        else:
            hi = min(self.k_max, len(X) - 1)
            _, model, table = sweep(
                onehot,
                list(range(min(self.k_min, hi), hi + 1)),
                fit_one,
                predict_one,
                n_bootstrap=self.n_bootstrap,
                stability_threshold=self.stability_threshold,
                metric_sample_size=self.metric_sample_size,
                stability_sample_size=self.stability_sample_size,
                random_state=seed,
                bic=bic,
            )
        labels = np.argmax(_log_scores(model, codes), axis=1)
        perm = order_by_size(labels, len(model["log_weights"]))
        self.log_weights_ = np.asarray(model["log_weights"])[perm]
        self.log_probs_ = [np.asarray(lt)[perm] for lt in model["log_probs"]]
        self.n_clusters_ = len(perm)
        self.labels_ = self.predict(X)
        self.evidence_ = table
        return self

    def predict_log_scores(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return _log_scores(
            {"log_weights": self.log_weights_, "log_probs": self.log_probs_}, self._encode(X)
        )

    def predict(self, X: Any) -> np.ndarray:
        return np.argmax(self.predict_log_scores(X), axis=1)
