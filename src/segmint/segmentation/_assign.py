"""Assignment of fitted learned models, in Python and compiled to SQL, from plain params.

Every method's parameters are plain JSON (stored in ``segment_models``). The two
implementations below perform the same floating-point operations in the same order —
distances accumulate feature by feature from ``0``, ties go to the lower index — so the
engine's assignment equals :func:`predict_params` on every client.

Method params (``params["model"]``):

- ``{"type": "centroid", "centers": [[...]], "radius": [...] | null}``: nearest centre,
  found as the minimum of ``|c|^2 - 2 z.c`` (half the work of ``sum (z - c)^2``);
  with ``radius``, a client farther than its nearest centre's radius is ``-1``
  (unassigned). Score: Euclidean distance to the centre.
- ``{"type": "gaussian", "covariance_type": "diag"|"full", "means", "const", "prec"|"chol"}``:
  the component of highest weighted log-density; score: its posterior probability.
- ``{"type": "categorical", "features", "categories", "log_weights", "log_probs"}``: latent
  classes; score: posterior probability.
- ``{"type": "tree", "centers", "children": {"<i>": tree}}``: micro-segments: the nearest
  centre, then recursively the nearest centre among its children; labels number the
  leaves depth first. Score: distance to the leaf's centre.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segmint.segmentation._kmeans import center_norm, center_scores, nearest, squared_norms
from segmint.segmentation._mixture import gaussian_log_density
from segmint.segmentation._preprocess import MISSING, quote, sql_float, sql_string


# -- python -----------------------------------------------------------------------------
def predict_params(
    model: dict[str, Any], Z: np.ndarray | None, df: pd.DataFrame | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of every row: ``Z`` the space coordinates, ``df`` raw features (LCA)."""
    t = model["type"]
    if t == "centroid":
        assert Z is not None
        lab, dist = nearest(Z, np.asarray(model["centers"], dtype=float))
        if model.get("radius") is not None:
            lab = np.where(dist > np.asarray(model["radius"])[lab], -1, lab)
        return lab, dist
    if t == "gaussian":
        assert Z is not None
        return _posterior(gaussian_log_density(model, Z))
    if t == "categorical":
        assert df is not None
        return _posterior(_categorical_scores(model, df))
    if t == "tree":
        assert Z is not None
        leaves = leaf_paths(model)
        index = {tuple(p): i for i, p in enumerate(leaves)}
        lab = np.empty(len(Z), dtype=int)
        dist = np.empty(len(Z))
        _tree_predict(model, Z, np.arange(len(Z)), (), index, lab, dist)
        return lab, dist
    raise ValueError(f"unknown model type {t!r}")


def _posterior(ld: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab = np.argmax(ld, axis=1)
    m = ld[np.arange(len(lab)), lab]
    total = np.zeros(len(lab))
    for c in range(ld.shape[1]):
        total = total + np.exp(ld[:, c] - m)
    return lab, 1.0 / total


def _categorical_scores(model: dict[str, Any], df: pd.DataFrame) -> np.ndarray:
    lw = np.asarray(model["log_weights"], dtype=float)
    out = np.tile(lw, (len(df), 1))
    for f, cats, lp in zip(model["features"], model["categories"], model["log_probs"], strict=True):
        v = df[f].astype(object).where(df[f].notna(), MISSING).astype(str).to_numpy()
        lp = np.asarray(lp, dtype=float)  # k x V
        for j, cat in enumerate(cats):
            hit = v == cat
            out[hit] = out[hit] + lp[:, j]
    return out


def leaf_paths(tree: dict[str, Any], prefix: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """Paths (child indices from the root) of the leaves, depth first."""
    out = []
    for i in range(len(tree["centers"])):
        child = tree.get("children", {}).get(str(i))
        if child is None:
            out.append((*prefix, i))
        else:
            out.extend(leaf_paths(child, (*prefix, i)))
    return out


def _tree_predict(
    node: dict[str, Any],
    Z: np.ndarray,
    rows: np.ndarray,
    path: tuple[int, ...],
    index: dict[tuple[int, ...], int],
    lab: np.ndarray,
    dist: np.ndarray,
) -> None:
    if rows.size == 0:
        return
    S = center_scores(Z[rows], np.asarray(node["centers"], dtype=float))
    near = np.argmin(S, axis=1)
    zz = squared_norms(Z[rows])
    for i in range(len(node["centers"])):
        sel = rows[near == i]
        child = node.get("children", {}).get(str(i))
        if child is None:
            lab[sel] = index[(*path, i)]
            dist[sel] = np.sqrt(np.maximum(zz[near == i] + S[near == i, i], 0.0))
        else:
            _tree_predict(child, Z, sel, (*path, i), index, lab, dist)


# -- SQL --------------------------------------------------------------------------------
def _score_terms(z: list[str], center: list[float]) -> str:
    """``|c|^2 - 2 z.c`` (see :func:`._kmeans.center_scores`)."""
    dot = " + ".join(f"{c} * {sql_float(v)}" for c, v in zip(z, center, strict=True))
    return f"({sql_float(center_norm(np.asarray(center, dtype=float)))} - 2e0 * (0e0 + {dot}))"


def _norm_terms(z: list[str]) -> str:
    return "(0e0 + " + " + ".join(f"{c} * {c}" for c in z) + ")"


def _argmin_case(cols: list[str], best: str) -> str:
    whens = " ".join(f"WHEN {c} = {best} THEN {i}" for i, c in enumerate(cols))
    return f"CASE {whens} END"


def assign_sql(model: dict[str, Any], inner: str, z: list[str], keep: list[str]) -> str:
    """A query over ``inner`` (which has ``keep`` and space columns ``z``) adding
    ``_label`` (INTEGER, -1 unassigned) and ``_score`` (DOUBLE)."""
    kept = ", ".join(quote(k) for k in keep)
    t = model["type"]
    if t == "centroid":
        centers = model["centers"]
        ds = [f"{_score_terms(z, c)} AS _d{i}" for i, c in enumerate(centers)]
        cols = [f"_d{i}" for i in range(len(centers))]
        best = f"least({', '.join(cols)})" if len(cols) > 1 else cols[0]
        q1 = f"SELECT {kept}, {_norm_terms(z)} AS _zz, {', '.join(ds)} FROM ({inner})"
        q2 = (
            f"SELECT {kept}, {_argmin_case(cols, '_m')} AS _label, "
            f"sqrt(greatest(_zz + _m, 0e0)) AS _score FROM (SELECT *, {best} AS _m FROM ({q1}))"
        )
        if model.get("radius") is None:
            return q2
        radius = " ".join(f"WHEN {i} THEN {sql_float(r)}" for i, r in enumerate(model["radius"]))
        return (
            f"SELECT {kept}, CASE WHEN _score > (CASE _label {radius} END) THEN -1 "
            f"ELSE _label END AS _label, _score FROM ({q2})"
        )
    if t == "gaussian":
        means = model["means"]
        ls = []
        for c, mu in enumerate(means):
            if model["covariance_type"] == "full":
                L = model["chol"][c]
                ys = []
                for j in range(len(mu)):
                    terms = " + ".join(
                        f"({z[i]} - {sql_float(mu[i])}) * {sql_float(L[i][j])}"
                        for i in range(len(mu))
                    )
                    ys.append(f"(0e0 + {terms})")
                acc = "(0e0 + " + " + ".join(f"{y} * {y}" for y in ys) + ")"
            else:
                prec = model["prec"][c]
                acc = (
                    "(0e0 + "
                    + " + ".join(
                        f"({z[j]} - {sql_float(mu[j])}) * ({z[j]} - {sql_float(mu[j])}) * {sql_float(prec[j])}"
                        for j in range(len(mu))
                    )
                    + ")"
                )
            ls.append(f"{sql_float(model['const'][c])} - 0.5e0 * {acc} AS _l{c}")
        return _posterior_sql(kept, ls, len(means), inner)
    if t == "categorical":
        ls = []
        for c, lw in enumerate(model["log_weights"]):
            acc = sql_float(lw)
            for f, cats, lp in zip(
                model["features"], model["categories"], model["log_probs"], strict=True
            ):
                v = f"coalesce(CAST({quote(f)} AS VARCHAR), {sql_string(MISSING)})"
                whens = " ".join(
                    f"WHEN {sql_string(cat)} THEN {sql_float(lp[c][j])}"
                    for j, cat in enumerate(cats)
                )
                acc = f"({acc} + CASE {v} {whens} ELSE 0e0 END)"
            ls.append(f"{acc} AS _l{c}")
        return _posterior_sql(kept, ls, len(model["log_weights"]), inner)
    if t == "tree":
        index = {p: i for i, p in enumerate(leaf_paths(model))}
        label, score = _tree_sql(model, z, (), index)
        return f"SELECT {kept}, {label} AS _label, {score} AS _score FROM ({inner})"
    raise ValueError(f"unknown model type {t!r}")


def _posterior_sql(kept: str, ls: list[str], k: int, inner: str) -> str:
    cols = [f"_l{c}" for c in range(k)]
    best = f"greatest({', '.join(cols)})" if k > 1 else cols[0]
    q1 = f"SELECT {kept}, {', '.join(ls)} FROM ({inner})"
    total = "(0e0 + " + " + ".join(f"exp({c} - _m)" for c in cols) + ")"
    return (
        f"SELECT {kept}, {_argmin_case(cols, '_m')} AS _label, 1e0 / {total} AS _score "
        f"FROM (SELECT *, {best} AS _m FROM ({q1}))"
    )


def _tree_sql(
    node: dict[str, Any], z: list[str], path: tuple[int, ...], index: dict[tuple[int, ...], int]
) -> tuple[str, str]:
    centers = node["centers"]
    ds = [_score_terms(z, c) for c in centers]
    best = f"least({', '.join(ds)})" if len(ds) > 1 else ds[0]
    near = "CASE " + " ".join(f"WHEN {d} = {best} THEN {i}" for i, d in enumerate(ds)) + " END"
    lab_parts, score_parts = [], []
    for i in range(len(centers)):
        child = node.get("children", {}).get(str(i))
        if child is None:
            lab_parts.append(f"WHEN {i} THEN {index[(*path, i)]}")
            score_parts.append(f"WHEN {i} THEN sqrt(greatest({_norm_terms(z)} + {ds[i]}, 0e0))")
        else:
            cl, cs = _tree_sql(child, z, (*path, i), index)
            lab_parts.append(f"WHEN {i} THEN {cl}")
            score_parts.append(f"WHEN {i} THEN {cs}")
    return (
        f"(CASE {near} {' '.join(lab_parts)} END)",
        f"(CASE {near} {' '.join(score_parts)} END)",
    )
