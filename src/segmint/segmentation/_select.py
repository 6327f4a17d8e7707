"""Choosing the number of segments from evidence.

For every k in the sweep the selector fits the method on the sample and records

- **silhouette** (on a random subsample of ``metric_sample_size`` points; higher is better),
- **Calinski-Harabasz** (higher is better), **Davies-Bouldin** (lower is better),
- **BIC** for mixtures (lower is better),
- **stability**: the mean adjusted Rand index between the k-solution and fits on
  ``n_bootstrap`` bootstrap resamples (Hennig 2007, *Cluster-wise assessment of cluster
  stability*, the ``clusterboot`` idea), each resample's model predicting every point of
  a ``stability_sample_size`` subsample.

**The rule.** Among the k whose stability is at least ``stability_threshold`` (0.85 by
default), take the one with the best mean rank over silhouette, Calinski-Harabasz and
Davies-Bouldin (and BIC for mixtures); ties go to the smaller k. When no k is stable
enough, take the most stable k. The whole table is kept as evidence.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from threadpoolctl import threadpool_limits

F = TypeVar("F", bound=Callable[..., Any])


def single_threaded(fn: F) -> F:
    """Run ``fn`` with one BLAS/OpenMP thread.

    The sweep makes many small fits; with several OpenMP threads on a busy machine each
    k-means fit spends most of its time waiting for threads (measured: 70x slower for
    5,000 x 11 on 2 loaded cores), so the fits run single-threaded.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=1):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# fit(rows, k, seed) -> model and predict(model, rows) -> labels take row indices into X,
# so that a method may work on another representation of the same rows (LCA: the codes).
FitFn = Callable[[np.ndarray, int, int], Any]
PredictFn = Callable[[Any, np.ndarray], np.ndarray]


def evaluate_k(
    X: np.ndarray,
    k: int,
    fit: FitFn,
    predict: PredictFn,
    *,
    n_bootstrap: int,
    metric_sample_size: int,
    stability_sample_size: int,
    rng: np.random.Generator,
    seed: int,
    bic: Callable[[Any, np.ndarray], float] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Fit at ``k`` and measure it; returns (row of the evidence table, the model)."""
    everyone = np.arange(len(X))
    model = fit(everyone, k, seed)
    labels = predict(model, everyone)
    n_found = int(np.unique(labels).size)
    row: dict[str, Any] = {"k": k, "n_segments": n_found}
    if 1 < n_found < len(X):
        m = min(metric_sample_size, len(X))
        idx = rng.choice(len(X), size=m, replace=False) if m < len(X) else np.arange(len(X))
        sl = labels[idx]
        row["silhouette"] = (
            float(silhouette_score(X[idx], sl)) if 1 < np.unique(sl).size < m else float("nan")
        )
        row["calinski_harabasz"] = float(calinski_harabasz_score(X, labels))
        row["davies_bouldin"] = float(davies_bouldin_score(X, labels))
    else:
        row.update(
            silhouette=float("nan"), calinski_harabasz=float("nan"), davies_bouldin=float("nan")
        )
    if bic is not None:
        row["bic"] = float(bic(model, everyone))
    if n_bootstrap > 0:
        s = min(stability_sample_size, len(X))
        sidx = rng.choice(len(X), size=s, replace=False) if s < len(X) else np.arange(len(X))
        ref = labels[sidx]
        aris = []
        for b in range(n_bootstrap):
            boot = sidx[rng.integers(0, s, size=s)]
            mb = fit(boot, k, seed + 1 + b)
            aris.append(adjusted_rand_score(ref, predict(mb, sidx)))
        row["stability"] = float(np.mean(aris))
        row["stability_sd"] = float(np.std(aris))
    else:
        row["stability"] = float("nan")
    return row, model


def choose_k(table: list[dict[str, Any]], *, stability_threshold: float, use_bic: bool) -> int:
    """Apply the documented rule to an evidence table; returns the chosen k."""
    if len(table) == 1:
        return int(table[0]["k"])
    stab = np.array([r["stability"] for r in table], dtype=float)
    if np.all(np.isnan(stab)):
        eligible = np.ones(len(table), dtype=bool)
    else:
        eligible = np.nan_to_num(stab, nan=-1.0) >= stability_threshold
        if not eligible.any():
            best = np.nanmax(stab)
            return int(min(r["k"] for r, s in zip(table, stab, strict=True) if s == best))
    rows = [r for r, e in zip(table, eligible, strict=True) if e]
    criteria: list[tuple[str, float]] = [
        ("silhouette", -1.0),
        ("calinski_harabasz", -1.0),
        ("davies_bouldin", 1.0),
    ]
    if use_bic:
        criteria.append(("bic", 1.0))
    ranks = []
    for key, sign in criteria:
        vals = np.array([sign * r.get(key, np.nan) for r in rows], dtype=float)
        vals = np.where(np.isnan(vals), np.inf, vals)
        ranks.append(rankdata(vals, method="average"))
    mean_rank = np.mean(ranks, axis=0)
    for r, m in zip(rows, mean_rank, strict=True):
        r["consensus_rank"] = float(m)
    best = np.min(mean_rank)
    return int(min(r["k"] for r, m in zip(rows, mean_rank, strict=True) if m == best))


def sweep(
    X: np.ndarray,
    ks: list[int],
    fit: FitFn,
    predict: PredictFn,
    *,
    n_bootstrap: int,
    stability_threshold: float,
    metric_sample_size: int,
    stability_sample_size: int,
    random_state: int,
    bic: Callable[[Any, np.ndarray], float] | None = None,
) -> tuple[int, Any, list[dict[str, Any]]]:
    """Evaluate every k, choose one; returns (k, its model, evidence table)."""
    rng = np.random.default_rng(random_state)
    table, models = [], {}
    for k in ks:
        row, model = evaluate_k(
            X,
            k,
            fit,
            predict,
            n_bootstrap=n_bootstrap,
            metric_sample_size=metric_sample_size,
            stability_sample_size=stability_sample_size,
            rng=rng,
            seed=random_state + 1000 * k,
            bic=bic,
        )
        table.append(row)
        models[k] = model
    k = choose_k(table, stability_threshold=stability_threshold, use_bic=bic is not None)
    for r in table:
        r["chosen"] = r["k"] == k
    return k, models[k], table
