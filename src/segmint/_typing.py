"""String choices used across segmint, as ``Literal`` aliases in one place."""

from __future__ import annotations

from typing import Literal

EntityName = Literal[
    "clients", "transactions", "holdings", "engagement", "profitability", "labels", "attributes"
]
CustomFeatureEntity = Literal[
    "transactions", "engagement", "holdings", "profitability", "labels", "attributes"
]
AttributeType = Literal["categorical", "numeric", "boolean", "date"]
AttributeRole = Literal["input", "profile", "protected"]
SourceFormat = Literal["csv", "parquet", "table", "postgres"]
UnknownClientPolicy = Literal["quarantine", "stub"]
LoadMode = Literal["unchanged", "appended", "reloaded"]
EngineName = Literal["duckdb", "spark"]
TimeUnit = Literal["days", "weeks", "months"]
DimensionKind = Literal["rules", "learned"]
SegmentMethod = Literal["kmeans", "gmm", "hdbscan", "lca"]
ScalerName = Literal["standard", "robust"]
RuleOrder = Literal["first_match", "exclusive"]
CovarianceType = Literal["diag", "full", "spherical"]
ValueMeasure = Literal["auto", "clv", "margin", "revenue", "spend"]
ImputeStrategy = Literal["median", "zero", "min", "max"]
SummaryFreq = Literal["W", "D"]
CalibrationMethod = Literal["isotonic", "sigmoid"]

FeatureGroupName = Literal[
    "rfm", "rfm_scores", "behaviour", "engagement", "holdings", "value", "attributes", "custom",
    "clv",
]
FeatureDtype = Literal["DOUBLE", "BIGINT", "VARCHAR"]
CrossingDirection = Literal["up", "down", "both"]
