"""Stable segment identities across refits.

A refit's segments are matched to the previous version's by the Hungarian algorithm
(:func:`scipy.optimize.linear_sum_assignment`) on the distance between centres, both
expressed in the *previous* version's space (the new segments' centres are the means,
in that space, of the fit sample's members). A pair closer than ``threshold`` keeps the
old id and name; a new segment left unmatched is a *new segment* with a fresh id; an old
segment left unmatched is *retired* (its id is never reused).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist, pdist


def match_centers(
    old: np.ndarray, new: np.ndarray, *, relative_threshold: float
) -> tuple[dict[int, int], np.ndarray, float]:
    """Match rows of ``new`` to rows of ``old``.

    Returns ``{new_index: old_index}``, the distance matrix and the absolute threshold
    (``relative_threshold`` times the median distance between old centres).
    """
    D = cdist(new, old)
    spread = float(np.median(pdist(old))) if len(old) > 1 else float(np.max(np.abs(old)) or 1.0)
    threshold = relative_threshold * spread
    rows, cols = linear_sum_assignment(D)
    return (
        {int(r): int(c) for r, c in zip(rows, cols, strict=True) if D[r, c] <= threshold},
        D,
        threshold,
    )


def match_labels(
    old_labels: np.ndarray, new_labels: np.ndarray, *, min_jaccard: float = 0.5
) -> dict[int, int]:
    """Match by membership overlap (for models without centres): Hungarian on Jaccard."""
    new_ids, old_ids = (
        np.unique(new_labels[new_labels >= 0]),
        np.unique(old_labels[old_labels >= 0]),
    )
    J = np.zeros((new_ids.size, old_ids.size))
    for a, n in enumerate(new_ids):
        in_n = new_labels == n
        for b, o in enumerate(old_ids):
            in_o = old_labels == o
            J[a, b] = np.sum(in_n & in_o) / max(1, np.sum(in_n | in_o))
    rows, cols = linear_sum_assignment(-J)
    return {
        int(new_ids[r]): int(old_ids[c])
        for r, c in zip(rows, cols, strict=True)
        if J[r, c] >= min_jaccard
    }


def carry_identities(
    dimension: str,
    n_new: int,
    matches: dict[int, int],
    old_segments: list[dict[str, str]] | None,
    next_id: int,
    names: dict[str, str],
) -> tuple[list[dict[str, str]], int, dict[str, Any]]:
    """Segment ids/names for the new labels; returns (segments, next free number, report)."""
    segments = []
    old_segments = old_segments or []
    for i in range(n_new):
        if i in matches:
            seg = dict(old_segments[matches[i]])
        else:
            seg = {"id": f"{dimension}-{next_id}", "name": f"Segment {next_id}"}
            next_id += 1
        if seg["id"] in names:
            seg["name"] = names[seg["id"]]
        segments.append(seg)
    kept = {old_segments[o]["id"] for o in matches.values()}
    report = {
        "kept": sorted(kept),
        "new": [s["id"] for i, s in enumerate(segments) if i not in matches],
        "retired": [s["id"] for s in old_segments if s["id"] not in kept],
    }
    return segments, next_id, report
