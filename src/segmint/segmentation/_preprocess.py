"""Preprocessing of learned dimensions: a scikit-learn ``Pipeline`` and its plain-JSON twin.

The steps, in order (each learned on the fit sample):

1. **impute** — nulls in numeric inputs become the feature's sample median (or zero,
   min, max, or a number, per feature); nulls in categorical inputs become the
   category ``"__missing__"``.
2. **log1p** — ``log(1 + max(x, 0))`` for the skewed non-negative features (sample
   skewness above ``skew_threshold``, or an explicit list).
3. **winsorise** — clip at learned quantiles (default 1% and 99%).
4. **scale** — standardise (mean/sd) or robust (median/IQR) scaling.
5. **one-hot** — one 0/1 column per category seen in the sample; unseen categories
   are all zeros.
6. **weights** — multiply each column by its feature's weight (default 1).
7. **PCA** — optional projection.

:class:`PreprocessSpec` holds the learned numbers as plain JSON; it transforms numpy
arrays and compiles to one DuckDB SQL select list, both evaluated in the same order of
operations so that in-engine assignment equals Python prediction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import skew
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, RobustScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted

from segmint.config._segmentation import PreprocessingConfig

MISSING = "__missing__"


def sql_float(x: float) -> str:
    """A DOUBLE literal that round-trips exactly (plain decimals would be DECIMAL in DuckDB)."""
    x = float(x)
    if not math.isfinite(x):
        return f"CAST('{x}' AS DOUBLE)"
    s = repr(x)
    return s if "e" in s else s + "e0"


def sql_string(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- transformers ---------------------------------------------------------------------
class Imputer(TransformerMixin, BaseEstimator):
    """Fill NaN per column: ``"median"``, ``"zero"``, ``"min"``, ``"max"`` or a number."""

    def __init__(self, *, strategies: list[Any] | None = None) -> None:
        self.strategies = strategies

    def fit(self, X: Any, y: Any = None) -> Imputer:
        X = np.asarray(X, dtype=float)
        strategies = self.strategies or ["median"] * X.shape[1]
        fills = []
        for j, s in enumerate(strategies):
            col = X[:, j][~np.isnan(X[:, j])]
            if isinstance(s, int | float):
                fills.append(float(s))
            elif s == "zero" or col.size == 0:
                fills.append(0.0)
            elif s == "min":
                fills.append(float(col.min()))
            elif s == "max":
                fills.append(float(col.max()))
            else:
                fills.append(float(np.median(col)))
        self.fill_ = np.array(fills)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = np.array(X, dtype=float)
        return np.where(np.isnan(X), self.fill_, X)


class Log1p(TransformerMixin, BaseEstimator):
    """``log(1 + max(x, 0))`` on chosen columns; ``columns="auto"`` picks the skewed ones."""

    def __init__(self, *, columns: Any = "auto", skew_threshold: float = 1.0) -> None:
        self.columns = columns
        self.skew_threshold = skew_threshold

    def fit(self, X: Any, y: Any = None) -> Log1p:
        X = np.asarray(X, dtype=float)
        if isinstance(self.columns, str):
            with np.errstate(all="ignore"):
                s = skew(X, axis=0) if X.shape[0] > 2 else np.zeros(X.shape[1])
            s = np.nan_to_num(s)
            self.mask_ = (X.min(axis=0) >= 0) & (s > self.skew_threshold)
        else:
            self.mask_ = np.asarray(self.columns, dtype=bool)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = np.array(X, dtype=float)
        X[:, self.mask_] = np.log(1.0 + np.maximum(X[:, self.mask_], 0.0))
        return X


class QuantileClipper(TransformerMixin, BaseEstimator):
    """Winsorise: clip each column at its learned ``quantiles`` (None: no clipping)."""

    def __init__(self, *, quantiles: tuple[float, float] | None = (0.01, 0.99)) -> None:
        self.quantiles = quantiles

    def fit(self, X: Any, y: Any = None) -> QuantileClipper:
        X = np.asarray(X, dtype=float)
        if self.quantiles is None:
            self.low_ = np.full(X.shape[1], -np.inf)
            self.high_ = np.full(X.shape[1], np.inf)
        else:
            self.low_, self.high_ = np.quantile(X, self.quantiles, axis=0)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = np.asarray(X, dtype=float)
        return np.minimum(np.maximum(X, self.low_), self.high_)


class FeatureWeights(TransformerMixin, BaseEstimator):
    """Multiply column ``j`` by ``weights[j]`` (None: all ones)."""

    def __init__(self, *, weights: list[float] | None = None) -> None:
        self.weights = weights

    def fit(self, X: Any, y: Any = None) -> FeatureWeights:
        X = np.asarray(X, dtype=float)
        self.weights_ = np.ones(X.shape[1]) if self.weights is None else np.asarray(self.weights)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(X, dtype=float) * self.weights_


# -- the pipeline ---------------------------------------------------------------------
def build_pipeline(
    numeric: list[str],
    categorical: list[str],
    config: PreprocessingConfig,
    *,
    n_categories: dict[str, int] | None = None,
    random_state: int = 0,
) -> Pipeline:
    """The unfitted preprocessing pipeline for a pandas frame with these columns."""
    strategies = [config.impute_overrides.get(c, config.impute) for c in numeric]
    log_cols: Any = "auto"
    if config.log1p is not None:
        log_cols = [c in config.log1p for c in numeric]
    parts = []
    if numeric:
        scaler = StandardScaler() if config.scaler == "standard" else RobustScaler()
        parts.append(
            (
                "num",
                Pipeline(
                    [
                        ("impute", Imputer(strategies=strategies)),
                        ("log1p", Log1p(columns=log_cols, skew_threshold=config.skew_threshold)),
                        ("winsorize", QuantileClipper(quantiles=config.winsorize)),
                        ("scale", scaler),
                    ]
                ),
                numeric,
            )
        )
    if categorical:
        parts.append(
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=float),
                categorical,
            )
        )
    weights = [config.weights.get(c, 1.0) for c in numeric]
    if categorical:
        counts = n_categories or {}
        for c in categorical:
            weights += [config.weights.get(c, 1.0)] * counts.get(c, 0)
    steps: list[tuple[str, Any]] = [
        ("columns", ColumnTransformer(parts, sparse_threshold=0.0)),
        ("weights", FeatureWeights(weights=weights)),
    ]
    if config.pca is not None:
        steps.append(("pca", PCA(n_components=config.pca, random_state=random_state)))
    return Pipeline(steps)


def frame_for(df: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The input frame of the pipeline: numerics as float (NaN for null), categories as str."""
    out = pd.DataFrame(index=df.index)
    for c in numeric:
        out[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    for c in categorical:
        out[c] = df[c].astype(object).where(df[c].notna(), MISSING).astype(str)
    return out


def fit_preprocessing(
    df: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    config: PreprocessingConfig,
    *,
    random_state: int = 0,
) -> tuple[Pipeline, PreprocessSpec]:
    """Fit the pipeline on the sample frame; return it with its JSON twin."""
    frame = frame_for(df, numeric, categorical)
    n_cat = {c: int(frame[c].nunique()) for c in categorical}
    pipe = build_pipeline(
        numeric, categorical, config, n_categories=n_cat, random_state=random_state
    )
    pipe.fit(frame)
    return pipe, PreprocessSpec.from_pipeline(pipe, numeric, categorical)


# -- the JSON twin ----------------------------------------------------------------------
@dataclass
class PreprocessSpec:
    """Learned preprocessing numbers, as plain JSON-able lists.

    ``transform`` (numpy) and ``sql_columns`` (DuckDB) apply the same operations in
    the same order, so their results agree to the last bit or so.
    """

    numeric: list[str]
    categorical: list[str]
    fill: list[float]
    log1p: list[bool]
    clip_low: list[float]
    clip_high: list[float]
    center: list[float]
    scale: list[float]
    categories: list[list[str]]
    weights: list[float]
    pca_mean: list[float] | None = None
    pca_components: list[list[float]] | None = None
    output_names: list[str] = field(default_factory=list)

    @classmethod
    def from_pipeline(
        cls, pipe: Pipeline, numeric: list[str], categorical: list[str]
    ) -> PreprocessSpec:
        ct = pipe.named_steps["columns"]
        fill, log, lo, hi, center, scale = [], [], [], [], [], []
        if numeric:
            num = ct.named_transformers_["num"]
            fill = num["impute"].fill_.tolist()
            log = num["log1p"].mask_.astype(bool).tolist()
            lo = num["winsorize"].low_.tolist()
            hi = num["winsorize"].high_.tolist()
            sc = num["scale"]
            if isinstance(sc, StandardScaler):
                center, scale = sc.mean_.tolist(), sc.scale_.tolist()
            else:
                center, scale = sc.center_.tolist(), sc.scale_.tolist()
        cats: list[list[str]] = []
        if categorical:
            cats = [[str(v) for v in c] for c in ct.named_transformers_["cat"].categories_]
        names = list(numeric) + [
            f"{c}={v}" for c, vs in zip(categorical, cats, strict=True) for v in vs
        ]
        spec = cls(
            numeric=list(numeric),
            categorical=list(categorical),
            fill=fill,
            log1p=log,
            clip_low=lo,
            clip_high=hi,
            center=center,
            scale=scale,
            categories=cats,
            weights=pipe.named_steps["weights"].weights_.tolist(),
            output_names=names,
        )
        if "pca" in pipe.named_steps:
            pca = pipe.named_steps["pca"]
            spec.pca_mean = pca.mean_.tolist()
            spec.pca_components = pca.components_.tolist()
            spec.output_names = [f"pc{i + 1}" for i in range(pca.components_.shape[0])]
        return spec

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PreprocessSpec:
        return cls(**d)

    @property
    def n_outputs(self) -> int:
        return len(self.output_names)

    # numpy ----------------------------------------------------------------------
    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """The clustering-space coordinates of the clients in ``df`` (one row each)."""
        frame = frame_for(df, self.numeric, self.categorical)
        cols: list[np.ndarray] = []
        for j, c in enumerate(self.numeric):
            x = frame[c].to_numpy(dtype=float)
            x = np.where(np.isnan(x), self.fill[j], x)
            if self.log1p[j]:
                x = np.log(1.0 + np.maximum(x, 0.0))
            x = np.minimum(np.maximum(x, self.clip_low[j]), self.clip_high[j])
            x = (x - self.center[j]) / self.scale[j]
            cols.append(x * self.weights[j])
        w = len(self.numeric)
        for c, cats in zip(self.categorical, self.categories, strict=True):
            v = frame[c].to_numpy()
            for cat in cats:
                cols.append((v == cat).astype(float) * self.weights[w])
                w += 1
        Z = np.column_stack(cols) if cols else np.empty((len(df), 0))
        if self.pca_components is None:
            return Z
        assert self.pca_mean is not None
        out = []
        for comp in self.pca_components:
            acc = np.zeros(len(Z))
            for j, coef in enumerate(comp):
                acc = acc + (Z[:, j] - self.pca_mean[j]) * coef
            out.append(acc)
        return np.column_stack(out)

    # SQL ------------------------------------------------------------------------
    def sql_columns(self) -> list[str]:
        """One DuckDB expression per input-space column (before PCA), over feature names."""
        exprs = []
        for j, c in enumerate(self.numeric):
            x = f"coalesce(CAST({quote(c)} AS DOUBLE), {sql_float(self.fill[j])})"
            if self.log1p[j]:
                x = f"ln(1e0 + greatest({x}, 0e0))"
            if math.isfinite(self.clip_low[j]):
                x = f"greatest({x}, {sql_float(self.clip_low[j])})"
            if math.isfinite(self.clip_high[j]):
                x = f"least({x}, {sql_float(self.clip_high[j])})"
            x = f"(({x} - {sql_float(self.center[j])}) / {sql_float(self.scale[j])})"
            exprs.append(f"{x} * {sql_float(self.weights[j])}")
        w = len(self.numeric)
        for c, cats in zip(self.categorical, self.categories, strict=True):
            v = f"coalesce(CAST({quote(c)} AS VARCHAR), {sql_string(MISSING)})"
            for cat in cats:
                exprs.append(
                    f"(CASE WHEN {v} = {sql_string(cat)} THEN 1e0 ELSE 0e0 END) "
                    f"* {sql_float(self.weights[w])}"
                )
                w += 1
        return exprs

    def sql_select(self, source: str, keep: list[str]) -> tuple[str, list[str]]:
        """A query over ``source`` giving ``keep`` columns plus the space columns ``z1..zd``.

        Returns the query and the names of the space columns.
        """
        exprs = self.sql_columns()
        kept = ", ".join(quote(k) for k in keep)
        inner = ", ".join(f"{e} AS z{j + 1}" for j, e in enumerate(exprs))
        q = f"SELECT {kept}, {inner} FROM {source}"
        if self.pca_components is None:
            return q, [f"z{j + 1}" for j in range(len(exprs))]
        assert self.pca_mean is not None
        pcs = []
        for i, comp in enumerate(self.pca_components):
            terms = " + ".join(
                f"(z{j + 1} - {sql_float(self.pca_mean[j])}) * {sql_float(coef)}"
                for j, coef in enumerate(comp)
            )
            pcs.append(f"(0e0 + {terms}) AS pc{i + 1}")
        q = f"SELECT {kept}, {', '.join(pcs)} FROM ({q})"
        return q, [f"pc{i + 1}" for i in range(len(self.pca_components))]
