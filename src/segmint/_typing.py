"""String choices used across segmint, as ``Literal`` aliases in one place."""

from __future__ import annotations

from typing import Literal

EntityName = Literal["clients", "transactions", "holdings", "engagement", "profitability", "labels"]
SourceFormat = Literal["csv", "parquet", "table"]
UnknownClientPolicy = Literal["quarantine", "stub"]
CsvEncoding = Literal["utf-8", "utf-16", "latin-1"]
BadFilePolicy = Literal["error", "skip"]
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
    "rfm", "rfm_scores", "behaviour", "engagement", "holdings", "value", "clv"
]
FeatureDtype = Literal["DOUBLE", "BIGINT", "VARCHAR"]
CrossingDirection = Literal["up", "down", "both"]
ApprovalPolicy = Literal["auto", "required"]
ConsentFallback = Literal["rules_only", "none"]
