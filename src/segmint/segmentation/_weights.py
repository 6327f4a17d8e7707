"""Feature weights that follow information: a family that does not separate the segments
does not enter the distance at full weight.

After a first sweep (block weights: each glob family weighs as much as one feature), every
input *family* (the columns one glob input matched, or one feature) gets

``eta2_f`` = between-segment sum of squares / total sum of squares of its columns, pooled
(the share of its variance the segments explain; 0 for a feature the segments ignore,
1 for one they split perfectly), averaged over bootstrap resamples of the fit sample and
maximised over two partitions of the first sweep: the chosen one and the one of the
largest stable k (so a family a coarse chosen partition happens to ignore is judged by
the finest partition that is still trusted), and the weight multiplier

``m_f = min(1, eta2_f / NOISE_ETA2)``

so every family the segments explain at least 5% of keeps its full weight, and a
near-uniform family (a noise feature: near-equal values or shares in every segment)
enters with a weight in proportion to what it explains. The model is then fitted again in
the reweighted space, and k is chosen there. The multipliers, ``eta2``, its bootstrap
standard deviation and the k it was measured at are kept in the evidence.
"""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

import numpy as np

NOISE_ETA2 = 0.05
"""A family whose variance the segments explain less than this share of is noise."""


def families(patterns: list[str], inputs: list[str]) -> dict[str, list[str]]:
    """Input features grouped by the glob pattern that matched them (or by themselves)."""
    out: dict[str, list[str]] = {}
    for name in inputs:
        fam = next(
            (p for p in patterns if any(ch in p for ch in "*?[") and fnmatch(name, p)), name
        )
        out.setdefault(fam, []).append(name)
    return out


def eta_squared(Z: np.ndarray, labels: np.ndarray, columns: list[int]) -> float:
    """Pooled between-segment share of variance of ``Z[:, columns]``."""
    X = Z[:, columns]
    total = float(((X - X.mean(axis=0)) ** 2).sum())
    if total <= 0:
        return 0.0
    between = 0.0
    for c in np.unique(labels):
        m = labels == c
        between += float(m.sum() * ((X[m].mean(axis=0) - X.mean(axis=0)) ** 2).sum())
    return between / total


def information_weights(
    Z: np.ndarray,
    partitions: dict[int, np.ndarray],
    column_features: list[str],
    groups: dict[str, list[str]],
    *,
    n_bootstrap: int = 5,
    random_state: int = 0,
) -> dict[str, Any]:
    """Per family: eta2 (bootstrap mean and sd, at the k that separates it best) and the
    weight multiplier (see module). ``partitions`` maps k to labels (-1: unassigned)."""
    rng = np.random.default_rng([random_state, 7])
    cols = {
        fam: [j for j, f in enumerate(column_features) if f in members]
        for fam, members in groups.items()
    }
    cols = {fam: c for fam, c in cols.items() if c}
    eta: dict[str, float] = {fam: -1.0 for fam in cols}
    sd: dict[str, float] = {}
    at: dict[str, int] = {}
    for k, labels in sorted(partitions.items()):
        keep = np.flatnonzero(labels >= 0)
        draws: dict[str, list[float]] = {fam: [] for fam in cols}
        for _ in range(max(1, n_bootstrap)):
            rows = keep if n_bootstrap <= 1 else keep[rng.integers(0, keep.size, keep.size)]
            for fam, c in cols.items():
                draws[fam].append(eta_squared(Z[rows], labels[rows], c))
        for fam, v in draws.items():
            if float(np.mean(v)) > eta[fam]:
                eta[fam], sd[fam], at[fam] = float(np.mean(v)), float(np.std(v)), k
    mult = {fam: float(min(1.0, max(e, 0.0) / NOISE_ETA2)) for fam, e in eta.items()}
    return {
        "eta2": {f: round(v, 6) for f, v in eta.items()},
        "eta2_sd": {f: round(sd[f], 6) for f in eta},
        "at_k": at,
        "multiplier": {f: round(v, 6) for f, v in mult.items()},
    }
