"""String choices used across segmint, as ``Literal`` aliases in one place."""

from __future__ import annotations

from typing import Literal

EntityName = Literal[
    "clients", "transactions", "holdings", "engagement", "profitability", "labels", "attributes",
    "campaigns", "costs",
]
CustomFeatureEntity = Literal[
    "transactions", "engagement", "holdings", "profitability", "labels", "attributes"
]
AttributeType = Literal["categorical", "numeric", "boolean", "date"]
AttributeRole = Literal["input", "profile", "protected"]
SourceFormat = Literal["csv", "parquet", "table", "postgres"]
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
    "rfm", "rfm_scores", "behaviour", "engagement", "holdings", "value", "attributes", "custom",
    "clv",
]
FeatureDtype = Literal["DOUBLE", "BIGINT", "VARCHAR"]
CrossingDirection = Literal["up", "down", "both"]
ApprovalPolicy = Literal["auto", "required"]
ConsentFallback = Literal["rules_only", "none"]
ServingBackend = Literal["duckdb", "postgres"]
Role = Literal["admin", "analyst", "rm", "campaign"]
OutcomeMetric = Literal["purchase", "revenue", "visits", "product_opened", "label"]
Arm = Literal["treatment", "control"]
UpliftMethod = Literal["two_model", "x_learner"]
UpliftClass = Literal["persuadable", "sure_thing", "lost_cause", "do_not_disturb"]
AudienceMatch = Literal["all", "any"]
AudienceRank = Literal["score", "value", "expected_value", "stability_weighted"]
LookalikeMethod = Literal["cosine", "centroid", "classifier"]
AffinityItems = Literal["products", "categories"]
