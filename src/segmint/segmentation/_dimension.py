"""Fitting a dimension into a registry version, and applying a version (SQL or Python)."""

from __future__ import annotations

import datetime as dt
import hashlib
from fnmatch import fnmatch
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint.config._segmentation import DimensionConfig, SegmentationConfig
from segmint.errors import ConfigError, FeatureError, ProtectedAttributeError
from segmint.segmentation._assign import assign_sql, leaf_paths, predict_params
from segmint.segmentation._defaults import default_dimensions
from segmint.segmentation._density import DensitySegmenter
from segmint.segmentation._identity import carry_identities, match_centers, match_labels
from segmint.segmentation._kmeans import KMeansSelector, nearest
from segmint.segmentation._lca import LatentClassAnalysis
from segmint.segmentation._mixture import GaussianMixtureSelector
from segmint.segmentation._preprocess import (
    MISSING,
    PreprocessSpec,
    fit_preprocessing,
    quote,
    sql_string,
)
from segmint.segmentation._registry import ModelVersion
from segmint.segmentation._rules import fit_rules, rules_label_sql
from segmint.segmentation._select import rule_text
from segmint.segmentation._weights import families, information_weights
from segmint.sources import protected_attribute_features, protected_columns

KEY = ("client_id", "as_of")
UNASSIGNED = "Unassigned"
HDBSCAN_MAX_SAMPLE = 20_000


def protected_features(con: Any = None) -> set[str]:
    """Protected attributes, plus features a feature catalog marks as derived from them.

    A catalog feature counts as protected when it has a true ``protected`` attribute
    (searched in ``segmint.features.GROUPS``: groups of feature sets of features, when
    that package provides them). With a warehouse connection ``con``, the attribute
    features with role ``protected`` it records (``attr_gender``...) are included.
    """
    names = set(protected_columns())
    if con is not None:
        names.update(protected_attribute_features(con))
    from segmint import features as feats

    groups = getattr(feats, "GROUPS", None)
    for group in groups.values() if isinstance(groups, dict) else []:
        found = list(getattr(group, "features", ()))
        for fset in getattr(group, "sets", ()):
            found += list(getattr(fset, "features", ()))
        names.update(f.name for f in found if getattr(f, "protected", False))
    return names


def resolve_dimensions(
    config: SegmentationConfig, columns: set[str], *, sparse: set[str] | None = None
) -> tuple[list[DimensionConfig], dict[str, str]]:
    """The dimensions to run: built-ins (unless replaced or disabled) then the user's.

    ``sparse`` names columns too often null (``clv_12m`` when the CLV model could not be
    fitted) or zero for everyone (``margin_12m`` without a profitability source) to build a
    built-in dimension on; user dimensions are unaffected.
    """
    user = {d.name: d for d in config.dimensions}
    dims: list[DimensionConfig] = []
    skipped: dict[str, str] = {}
    if config.include_defaults:
        defaults, skipped = default_dimensions(columns - (sparse or set()), config.value)
        dims = [user.pop(d.name, d) for d in defaults]
        for name in list(skipped):
            if name in user:
                skipped.pop(name)
    dims += [d for d in config.dimensions if d.name in user]
    return dims, skipped


def expand_inputs(dim: DimensionConfig, columns: set[str], con: Any = None) -> list[str]:
    """Input features of a learned dimension: globs expanded, checked, protected refused."""
    patterns = dim.inputs
    if not patterns:
        raise ConfigError(f"segmentation.dimensions.{dim.name}: a learned dimension needs `inputs`")
    protected = protected_features(con)
    out: list[str] = []
    for p in patterns:
        if p in protected or any(fnmatch(x, p) for x in protected if x in columns):
            bad = p if p in protected else sorted(x for x in protected if fnmatch(x, p))[0]
            raise ProtectedAttributeError(
                f"segmentation.dimensions.{dim.name}.inputs: {bad!r} is a protected attribute "
                "and is never a model input"
            )
        hits = sorted(c for c in columns if fnmatch(c, p) and c not in KEY)
        if not hits:
            raise FeatureError(
                f"segmentation.dimensions.{dim.name}.inputs: {p!r} matches no column of the "
                "features table"
            )
        out += [h for h in hits if h not in out]
    for name in (
        list(dim.preprocessing.weights)
        + list(dim.preprocessing.log1p or [])
        + list(dim.categorical)
    ):
        if name not in out:
            raise FeatureError(
                f"segmentation.dimensions.{dim.name}.preprocessing: {name!r} is not one of the "
                f"dimension's inputs ({', '.join(out)})"
            )
    return out


def block_weights(dim: DimensionConfig, inputs: list[str], columns: set[str]) -> dict[str, float]:
    """Weights giving each glob family of n columns 1/sqrt(n), times the explicit weights.

    Standardised columns have unit variance; without this, the ten ``share_cat_*`` columns
    would outweigh frequency, spend, promo and engagement together in the distance.
    """
    weights = {c: 1.0 for c in inputs}
    for p in dim.inputs or []:
        hits = [c for c in inputs if fnmatch(c, p)] if any(ch in p for ch in "*?[") else []
        for c in hits:
            weights[c] = float(1.0 / np.sqrt(len(hits)))
    for c, w in dim.preprocessing.weights.items():
        weights[c] = weights.get(c, 1.0) * w
    return {c: w for c, w in weights.items() if w != 1.0}


def fingerprint(dim: DimensionConfig) -> str:
    return hashlib.sha256(dim.model_dump_json().encode()).hexdigest()[:16]


def fetch_sample(
    con: duckdb.DuckDBPyConnection,
    source: str,
    numeric: list[str],
    categorical: list[str],
    *,
    size: int,
    stratify_by: str | None,
    seed: int,
    columns: set[str],
) -> pd.DataFrame:
    """A stratified sample (proportional allocation, hash order: deterministic per seed)."""
    cols = (
        ["client_id"]
        + [quote(c) for c in numeric]
        + [f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}" for c in categorical]
    )
    n = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]  # type: ignore[index]
    q = f"SELECT {', '.join(cols)} FROM {source}"
    if n > size:
        frac = size / n
        stratum = (
            f"coalesce(CAST({quote(stratify_by)} AS VARCHAR), '')"
            if stratify_by and stratify_by in columns
            else "1"
        )
        q += (
            f" QUALIFY row_number() OVER (PARTITION BY {stratum} ORDER BY hash(client_id, {int(seed)}),"
            f" client_id) <= ceil(count(*) OVER (PARTITION BY {stratum}) * {frac!r})"
        )
    return con.execute(q + " ORDER BY client_id").df()


def _kinds(con: duckdb.DuckDBPyConnection, source: str, inputs: list[str]) -> dict[str, str]:
    rows = con.execute(
        f"DESCRIBE SELECT {', '.join(quote(c) for c in inputs)} FROM {source}"
    ).fetchall()
    return {r[0]: str(r[1]) for r in rows}


# -- fitting ----------------------------------------------------------------------------
def fit_dimension(
    con: duckdb.DuckDBPyConnection,
    source: str,
    dim: DimensionConfig,
    columns: set[str],
    *,
    as_of: dt.date,
    config: SegmentationConfig,
    previous: ModelVersion | None,
    version: int,
) -> ModelVersion:
    """Fit ``dim`` on the snapshot ``source``; the new registry version."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if dim.kind == "rules":
        params = fit_rules(con, source, dim, columns)
        params["fingerprint"] = fingerprint(dim)
        return ModelVersion(
            dim.name,
            version,
            now,
            as_of,
            "rules",
            "rules",
            params,
            {"percentiles": params["percentiles"]},
            len(params["segments"]),
        )
    inputs = expand_inputs(dim, columns, con)
    types = _kinds(con, source, inputs)
    if dim.method == "lca":
        categorical, numeric = inputs, []
    else:
        categorical = [c for c in inputs if c in dim.categorical or types[c] == "VARCHAR"]
        numeric = [c for c in inputs if c not in categorical]
    prep = dim.preprocessing
    if prep.block_weights:
        prep = prep.model_copy(update={"weights": block_weights(dim, inputs, columns)})
    # the previous version's inputs too, to place the new segments in its space
    old_num, old_cat = _previous_inputs(previous, columns)
    df = fetch_sample(
        con,
        source,
        numeric + [c for c in old_num if c not in numeric],
        categorical + [c for c in old_cat if c not in categorical],
        size=config.sample_size,
        stratify_by=config.stratify_by,
        seed=config.seed,
        columns=columns,
    )
    if len(df) < 3:
        raise FeatureError(
            f"segmentation.dimensions.{dim.name}: only {len(df)} client(s) at {as_of}"
        )
    sel = dim.selection
    seed = config.seed
    sweep_args = dict(
        k_min=sel.k_min,
        k_max=sel.k_max,
        n_bootstrap=sel.n_bootstrap,
        stability_threshold=sel.stability_threshold,
        metric_sample_size=sel.metric_sample_size,
        stability_sample_size=sel.stability_sample_size,
        random_state=seed,
    )
    spec: PreprocessSpec | None = None
    evidence: dict[str, Any] = {"sample_size": len(df), "inputs": inputs}
    if dim.method == "lca":
        X = df[categorical].astype(object).where(df[categorical].notna(), MISSING).astype(str)
        lca = LatentClassAnalysis(n_classes=sel.k, n_init=sel.n_init, **sweep_args).fit(
            X.to_numpy()
        )
        model: dict[str, Any] = {
            "type": "categorical",
            "features": categorical,
            "categories": [c.tolist() for c in lca.categories_],
            "log_weights": lca.log_weights_.tolist(),
            "log_probs": [lp.tolist() for lp in lca.log_probs_],
        }
        table = lca.evidence_
        Z = None
    else:

        def fit_space(prep: Any) -> tuple[PreprocessSpec, np.ndarray, Any, dict[str, Any]]:
            _, spec = fit_preprocessing(df, numeric, categorical, prep, random_state=seed)
            Z = spec.transform(df)
            est, model = _fit_learned(Z, dim, sel, sweep_args, seed)
            return spec, Z, est, model

        spec, Z, est, model = fit_space(prep)
        groups = _families(dim, inputs)
        if prep.information_weights and prep.pca is None and len(groups) > 1:
            # a family that does not separate the segments does not enter at full weight
            partitions = {_n_segments(model): predict_params(model, Z, df)[0]}
            stable = [
                int(r["k"]) for r in est.evidence_
                if r.get("stability", float("nan")) >= sel.stability_threshold
            ]
            if stable and max(stable) not in partitions:
                k = max(stable)
                _, m_k = _fit_learned(Z, dim, sel.model_copy(update={"k": k}), sweep_args, seed)
                partitions[k] = predict_params(m_k, Z, df)[0]
            info = information_weights(
                Z, partitions, _column_features(spec), groups,
                n_bootstrap=min(sel.n_bootstrap, 5), random_state=seed,
            )
            weights = dict(prep.weights)
            for fam, m in info["multiplier"].items():
                if m < 1.0:
                    for f in groups[fam]:
                        weights[f] = weights.get(f, 1.0) * m
            evidence["information"] = info
            evidence["feature_weights"] = info["multiplier"]
            if weights != dict(prep.weights):
                spec, Z, est, model = fit_space(prep.model_copy(update={"weights": weights}))
        evidence["log1p"] = [c for c, f in zip(numeric, spec.log1p, strict=True) if f]
        table = est.evidence_
    labels, _ = predict_params(model, Z, df)
    k = _n_segments(model)
    chosen = next((r for r in table if r.get("chosen")), {})
    evidence.update(
        k_table=table,
        chosen_k=k,
        stability=chosen.get("stability"),
        rule=rule_text(
            stability_threshold=sel.stability_threshold, use_bic=dim.method in ("gmm", "lca")
        ),
        sizes=np.bincount(labels[labels >= 0], minlength=k).tolist(),
        unassigned=int(np.sum(labels < 0)),
    )
    matches: dict[int, int] = {}
    old_segments = None
    next_id = 1
    if previous is not None and previous.kind == "learned":
        old_segments = previous.segments
        next_id = int(previous.params.get("next_id", len(old_segments) + 1))
        matches, ident = _match(previous, model, df, labels, k, dim)
        evidence["identity"] = ident
    segments, next_id, report = carry_identities(
        dim.name, k, matches, old_segments, next_id, dim.segment_names
    )
    evidence.setdefault("identity", {}).update(report)
    params = {
        "type": "learned",
        "method": dim.method,
        "fingerprint": fingerprint(dim),
        "preprocessing": None if spec is None else spec.to_json(),
        "model": model,
        "segments": segments,
        "next_id": next_id,
        "features": inputs,
        "seed": seed,
    }
    if dim.micro is not None and Z is not None:
        params["micro"] = _micro_tree(Z, labels, model, dim, seed)
    return ModelVersion(dim.name, version, now, as_of, "learned", dim.method, params, evidence, k)


def _fit_learned(
    Z: np.ndarray, dim: DimensionConfig, sel: Any, sweep_args: dict[str, Any], seed: int
) -> tuple[Any, dict[str, Any]]:
    """Fit the dimension's method on the space ``Z``: (estimator, plain-JSON model)."""
    if dim.method == "kmeans":
        est = KMeansSelector(n_clusters=sel.k, n_init=sel.n_init, **sweep_args).fit(Z)
        return est, {"type": "centroid", "centers": est.cluster_centers_.tolist(), "radius": None}
    if dim.method == "gmm":
        gm = GaussianMixtureSelector(
            n_components=sel.k, covariance_type=dim.covariance_type, **sweep_args
        ).fit(Z)
        return gm, gm.params_
    rows = np.arange(len(Z))
    if len(Z) > HDBSCAN_MAX_SAMPLE:
        rows = np.sort(np.random.default_rng(seed).choice(len(Z), HDBSCAN_MAX_SAMPLE, replace=False))
    est = DensitySegmenter(
        min_cluster_size=dim.min_cluster_size,
        assign_noise=dim.assign_noise,
        metric_sample_size=sel.metric_sample_size,
        random_state=seed,
    ).fit(Z[rows])
    return est, {
        "type": "centroid",
        "centers": est.cluster_centers_.tolist(),
        "radius": None if dim.assign_noise else est.radius_.tolist(),
    }


def _families(dim: DimensionConfig, inputs: list[str]) -> dict[str, list[str]]:
    return families(list(dim.inputs or []), inputs)


def _column_features(spec: PreprocessSpec) -> list[str]:
    """The input feature behind each column of the clustering space (before PCA)."""
    return list(spec.numeric) + [
        c for c, cats in zip(spec.categorical, spec.categories, strict=True) for _ in cats
    ]


def _n_segments(model: dict[str, Any]) -> int:
    if model["type"] == "categorical":
        return len(model["log_weights"])
    key = "centers" if model["type"] in ("centroid", "tree") else "means"
    return len(model[key])


def _centres(model: dict[str, Any]) -> np.ndarray | None:
    if model["type"] == "centroid":
        return np.asarray(model["centers"], dtype=float)
    if model["type"] == "gaussian":
        return np.asarray(model["means"], dtype=float)
    return None


def _previous_inputs(
    previous: ModelVersion | None, columns: set[str]
) -> tuple[list[str], list[str]]:
    """Numeric and categorical inputs of a previous learned version (still in the table)."""
    if previous is None or previous.kind != "learned":
        return [], []
    spec = previous.params.get("preprocessing")
    if spec is not None:
        num, cat = spec["numeric"], spec["categorical"]
    else:
        num, cat = [], previous.params["model"].get("features", [])
    return [c for c in num if c in columns], [c for c in cat if c in columns]


def _match(
    previous: ModelVersion,
    model: dict[str, Any],
    df: pd.DataFrame,
    labels: np.ndarray,
    k: int,
    dim: DimensionConfig,
) -> tuple[dict[int, int], dict[str, Any]]:
    old_model = previous.params["model"]
    old_centres = _centres(old_model)
    if (
        old_centres is not None
        and previous.params.get("preprocessing")
        and _centres(model) is not None
    ):
        old_spec = PreprocessSpec.from_json(previous.params["preprocessing"])
        try:
            Zold = old_spec.transform(df)
        except KeyError:
            Zold = None
        if Zold is not None:
            new_centres = np.array(
                [
                    Zold[labels == c].mean(axis=0)
                    if np.any(labels == c)
                    else np.full(Zold.shape[1], np.inf)
                    for c in range(k)
                ]
            )
            matches, D, thr = match_centers(
                old_centres, new_centres, relative_threshold=dim.match_threshold
            )
            return matches, {
                "method": "centroids",
                "threshold": thr,
                "distances": D.tolist(),
                "previous_version": previous.version,
            }
    needed = previous.params.get("features", [])
    if any(f not in df.columns for f in needed):
        return {}, {
            "method": "none",
            "reason": "previous inputs no longer in the features table",
            "previous_version": previous.version,
        }
    Zold = None
    if previous.params.get("preprocessing"):
        Zold = PreprocessSpec.from_json(previous.params["preprocessing"]).transform(df)
    old_labels, _ = predict_params(old_model, Zold, df)
    return match_labels(old_labels, labels), {
        "method": "overlap",
        "previous_version": previous.version,
    }


def _micro_tree(
    Z: np.ndarray, labels: np.ndarray, model: dict[str, Any], dim: DimensionConfig, seed: int
) -> dict[str, Any]:
    """Sub-clusters inside each segment (k-means, k by silhouette) down to ``min_size``."""
    assert dim.micro is not None
    k = _n_segments(model)
    centres = _centres(model)  # nearest-centre partition: the segments themselves for k-means
    if centres is None or model["type"] != "centroid":
        centres = np.array(
            [
                Z[labels == c].mean(axis=0) if np.any(labels == c) else np.zeros(Z.shape[1])
                for c in range(k)
            ]
        )
    root: dict[str, Any] = {"centers": centres.tolist(), "children": {}}
    _split(root, Z, nearest(Z, centres)[0], dim.micro, seed, 1)
    return root


def _split(
    node: dict[str, Any], Z: np.ndarray, near: np.ndarray, micro: Any, seed: int, depth: int
) -> None:
    for i in range(len(node["centers"])):
        rows = np.flatnonzero(near == i)
        if rows.size < 2 * micro.min_size:
            continue
        best = None
        for kk in range(2, min(micro.max_children, rows.size // micro.min_size) + 1):
            est = KMeansSelector(n_clusters=kk, n_init=2, random_state=seed).fit(Z[rows])
            sizes = np.bincount(est.labels_, minlength=kk)
            if sizes.min() < micro.min_size:
                continue
            from sklearn.metrics import silhouette_score

            idx = rows[: min(rows.size, 3000)]
            s = (
                silhouette_score(Z[idx], est.predict(Z[idx]))
                if np.unique(est.predict(Z[idx])).size > 1
                else -1
            )
            if best is None or s > best[0]:
                best = (s, est)
        if best is None:
            continue
        est = best[1]
        child: dict[str, Any] = {"centers": est.cluster_centers_.tolist(), "children": {}}
        if depth < micro.max_depth:
            _split(child, Z[rows], est.labels_, micro, seed, depth + 1)
        node["children"][str(i)] = child


def micro_version(parent: ModelVersion) -> ModelVersion:
    """The ``<dimension>_micro`` version derived from a parent with micro-segments."""
    tree = parent.params["micro"]
    leaves = leaf_paths(tree)
    segs = []
    for path in leaves:
        base = parent.segments[path[0]]
        if len(path) == 1:
            segs.append({"id": f"{base['id']}.0", "name": base["name"]})
        else:
            tail = ".".join(str(p + 1) for p in path[1:])
            segs.append({"id": f"{base['id']}.{tail}", "name": f"{base['name']} / {tail}"})
    params = {
        "type": "learned",
        "method": "micro",
        "preprocessing": parent.params["preprocessing"],
        "model": {"type": "tree", **tree},
        "segments": segs,
        "parent": parent.dimension,
    }
    return ModelVersion(
        f"{parent.dimension}_micro",
        parent.version,
        parent.created_at,
        parent.as_of,
        "learned",
        "micro",
        params,
        {"leaves": len(leaves), "parent_version": parent.version},
        len(leaves),
    )


# -- applying ---------------------------------------------------------------------------
def version_sql(mv: ModelVersion, source: str, as_of: dt.date) -> str:
    """One query assigning every client of ``source``: the ``segment_assignments`` columns."""
    p = mv.params
    if mv.kind == "rules":
        inner = f"SELECT client_id, {rules_label_sql(p)} AS _label, CAST(NULL AS DOUBLE) AS _score FROM {source}"
    else:
        if p["preprocessing"] is not None:
            spec = PreprocessSpec.from_json(p["preprocessing"])
            base, z = spec.sql_select(source, ["client_id"])
        else:
            feats = ", ".join(quote(f) for f in p["model"]["features"])
            base, z = f"SELECT client_id, {feats} FROM {source}", []
        inner = assign_sql(p["model"], base, z, ["client_id"])
    ids = " ".join(f"WHEN {i} THEN {sql_string(s['id'])}" for i, s in enumerate(mv.segments))
    names = " ".join(f"WHEN {i} THEN {sql_string(s['name'])}" for i, s in enumerate(mv.segments))
    return (
        f"SELECT client_id, {sql_string(mv.dimension)} AS dimension, "
        f"CASE _label {ids} ELSE {sql_string(mv.dimension + '-unassigned')} END AS segment_id, "
        f"CASE _label {names} ELSE {sql_string(UNASSIGNED)} END AS segment_name, "
        f"{int(mv.version)} AS model_version, DATE '{as_of.isoformat()}' AS as_of, "
        f"_score AS score FROM ({inner})"
    )


def predict_version(mv: ModelVersion, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Python assignment of the clients in ``df`` (learned versions): (segment ids, scores)."""
    if mv.kind != "learned":
        raise ConfigError(f"dimension {mv.dimension}: Python prediction is for learned dimensions")
    p = mv.params
    Z = (
        None
        if p["preprocessing"] is None
        else PreprocessSpec.from_json(p["preprocessing"]).transform(df)
    )
    labels, score = predict_params(p["model"], Z, df)
    ids = np.array([s["id"] for s in mv.segments] + [f"{mv.dimension}-unassigned"], dtype=object)
    return ids[np.where(labels >= 0, labels, len(mv.segments))], score
