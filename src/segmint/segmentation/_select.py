"""Choosing the number of segments from evidence.

For every k in the sweep the selector fits the method on the sample and records

- **silhouette** (on a random subsample of ``metric_sample_size`` points; higher is better),
- **Calinski-Harabasz** (higher is better), **Davies-Bouldin** (lower is better): shown,
  not voted,
- **BIC** for mixtures and latent classes (lower is better),
- **stability**: the mean adjusted Rand index between the k-solution and fits on
  ``n_bootstrap`` bootstrap resamples (Hennig 2007, *Cluster-wise assessment of cluster
  stability*, the ``clusterboot`` idea), each resample's model predicting every point of
  a ``stability_sample_size`` subsample; and the **silhouette of each bootstrap fit** on
  a fresh subsample, whose standard deviation is the silhouette's standard error
  (``silhouette_se``; computed for the best k, the only one whose error the rule uses).

Every k draws its own random numbers (a generator seeded by ``(random_state, k)``), so
a k's evidence does not depend on which other k are in the sweep.

**The rule** (written out with its reasons in ``docs/segmentation.md``):

1. *Stable enough*: the eligible k are those whose stability is at least
   ``stability_threshold`` (0.85 by default). When none is, the most stable k is taken.
2. *Best*: among the eligible k, the best by the leading criterion: the silhouette
   (k-means, HDBSCAN), or BIC for Gaussian mixtures and latent classes, where the
   likelihood is the model's own measure of fit and distance indices on one-hot codes
   mislead.
3. *Parsimony* (the one-standard-error rule of Breiman et al. 1984 / Hastie, Tibshirani
   & Friedman): the smallest eligible k whose score is within sampling noise of the
   best -- silhouette at least ``best - silhouette_se(best)``, or BIC at most
   ``best + 2`` (a BIC difference under 2 is "not worth more than a bare mention",
   Kass & Raftery 1995).

The choice depends only on each k's own evidence and on the best one, so adding or
removing a k far from the best (``k_max + 5``) cannot change it, and neither can the
ranks of indices that do not lead. The whole table is kept as evidence.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
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
    seed: int,
    bic: Callable[[Any, np.ndarray], float] | None = None,
) -> tuple[dict[str, Any], Any, list[Any]]:
    """Fit at ``k`` and measure it; returns (row of the evidence table, the model, the
    bootstrap models).

    Random draws come from a generator seeded by ``seed`` and ``k`` only.
    """
    rng = np.random.default_rng([seed, k])
    everyone = np.arange(len(X))
    model = fit(everyone, k, seed)
    labels = predict(model, everyone)
    n_found = int(np.unique(labels).size)
    row: dict[str, Any] = {"k": k, "n_segments": n_found}
    boots: list[Any] = []
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
            boots.append(mb)
            aris.append(adjusted_rand_score(ref, predict(mb, sidx)))
        row["stability"] = float(np.mean(aris))
        row["stability_sd"] = float(np.std(aris))
    else:
        row["stability"] = float("nan")
    return row, model, boots


def silhouette_se(
    X: np.ndarray,
    k: int,
    boots: list[Any],
    predict: PredictFn,
    *,
    metric_sample_size: int,
    seed: int,
) -> float:
    """Standard error of the silhouette at ``k``: the standard deviation of the silhouettes
    of the bootstrap fits, each on a fresh subsample (NaN with fewer than two)."""
    rng = np.random.default_rng([seed, k, 1])
    m = min(metric_sample_size, len(X))
    sils = []
    for mb in boots:
        idx = rng.choice(len(X), size=m, replace=False) if m < len(X) else np.arange(len(X))
        labels = predict(mb, idx)
        if 1 < np.unique(labels).size < m:
            sils.append(float(silhouette_score(X[idx], labels)))
    return float(np.std(sils)) if len(sils) > 1 else float("nan")


def choose_k(table: list[dict[str, Any]], *, stability_threshold: float, use_bic: bool) -> int:
    """Apply the documented rule to an evidence table; returns the chosen k.

    Marks the row of the best k with ``"best": True`` and every row with
    ``"within_noise"`` (its leading score is within the margin of the best's).
    """
    if len(table) == 1:
        return int(table[0]["k"])
    stab = np.array([r.get("stability", np.nan) for r in table], dtype=float)
    if np.all(np.isnan(stab)):
        eligible = [True] * len(table)
    else:
        eligible = [bool(x >= stability_threshold) for x in np.nan_to_num(stab, nan=-1.0)]
        if not any(eligible):
            best = np.nanmax(stab)
            return int(min(r["k"] for r, s in zip(table, stab, strict=True) if s == best))
    rows = sorted((r for r, e in zip(table, eligible, strict=True) if e), key=lambda r: r["k"])
    key = "bic" if use_bic else "silhouette"
    sign = 1.0 if use_bic else -1.0  # minimise sign * score
    scored = [r for r in rows if np.isfinite(r.get(key, np.nan))]
    if not scored:
        return int(rows[0]["k"])
    best = min(scored, key=lambda r: (sign * r[key], r["k"]))
    if use_bic:
        margin = BIC_MARGIN
    else:
        se = best.get("silhouette_se", np.nan)
        margin = float(se) if np.isfinite(se) else 0.0
    limit = sign * best[key] + margin
    chosen = None
    for r in scored:
        r["within_noise"] = bool(sign * r[key] <= limit)
        if chosen is None and r["within_noise"]:
            chosen = r
    best["best"] = True
    assert chosen is not None
    return int(chosen["k"])


def _best_silhouette(table: list[dict[str, Any]], threshold: float) -> dict[str, Any] | None:
    eligible = [
        r for r in table
        if r.get("stability", np.nan) >= threshold and np.isfinite(r.get("silhouette", np.nan))
    ]
    return min(eligible, key=lambda r: (-r["silhouette"], r["k"])) if eligible else None


BIC_MARGIN = 2.0
"""BIC difference below which two k are not told apart (Kass & Raftery 1995)."""


def rule_text(*, stability_threshold: float, use_bic: bool) -> str:
    """The rule in one sentence, for the evidence of a fitted dimension."""
    lead = (
        f"lowest BIC, then the smallest k within {BIC_MARGIN:g} of it"
        if use_bic
        else "highest silhouette, then the smallest k within one bootstrap standard "
        "error of it"
    )
    return (
        f"among k with bootstrap stability >= {stability_threshold:.2f}: {lead} "
        "(else the most stable k)"
    )


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
    table: list[dict[str, Any]] = []
    models: dict[int, Any] = {}
    boots: dict[int, list[Any]] = {}
    for k in ks:
        row, model, boots[k] = evaluate_k(
            X,
            k,
            fit,
            predict,
            n_bootstrap=n_bootstrap,
            metric_sample_size=metric_sample_size,
            stability_sample_size=stability_sample_size,
            seed=random_state,
            bic=bic,
        )
        table.append(row)
        models[k] = model
    if bic is None:
        # the silhouette's standard error is needed at the best k only (the rule's margin)
        best = _best_silhouette(table, stability_threshold)
        if best is not None:
            best["silhouette_se"] = silhouette_se(
                X, best["k"], boots[best["k"]], predict,
                metric_sample_size=metric_sample_size, seed=random_state,
            )
    k = choose_k(table, stability_threshold=stability_threshold, use_bic=bic is not None)
    for r in table:
        r["chosen"] = r["k"] == k
    return k, models[k], table
