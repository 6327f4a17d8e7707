"""Project-file models for the segmentation stage (``segmentation:`` in segmint.yaml).

Example::

    segmentation:
      sample_size: 50000
      seed: 0
      dimensions:
        - name: value
          kind: rules
          rules:
            - {segment: Top, when: "clv_12m >= p90"}
            - {segment: High, when: "clv_12m >= p70"}
          default: Standard
        - name: behaviour
          kind: learned
          method: kmeans
          inputs: [frequency, monetary_total, "share_cat_*", promo_share]

Dimensions listed here replace the built-in dimension of the same name
(``value``, ``rfm``, ``behaviour``, ``lifecycle``); the other built-ins stay
unless ``include_defaults: false``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmint._typing import (
    CovarianceType,
    DimensionKind,
    ImputeStrategy,
    RuleOrder,
    ScalerName,
    SegmentMethod,
    ValueMeasure,
)
from segmint.config._sql import check_expression

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Model):
    """One rule of a rule-defined dimension: clients for which ``when`` holds get ``segment``."""

    segment: str = Field(description="Segment name given to matching clients.")
    when: str = Field(
        description="Boolean SQL expression over feature names, e.g. "
        "`recency_days <= 30 AND frequency >= 5`; `pNN` (e.g. `p90`) compared with a feature "
        "is that feature's NN-th percentile over the population at the fit's as_of."
    )
    id: str | None = Field(default=None, description="Segment id; defaults to `<dimension>-<n>`.")

    @field_validator("when")
    @classmethod
    def _expression(cls, v: str) -> str:
        return check_expression(v, what="rule condition")


class PreprocessingConfig(_Model):
    """How the inputs of a learned dimension are turned into the clustering space."""

    impute: ImputeStrategy = Field(
        default="median", description="Fill for nulls in numeric inputs (learned on the sample)."
    )
    impute_overrides: dict[str, ImputeStrategy | float] = Field(
        default_factory=dict, description="Per-feature fill: a strategy or a number."
    )
    log1p: list[str] | None = Field(
        default=None,
        description="Features to log1p-transform; omitted = every non-negative feature whose "
        "sample skewness exceeds `skew_threshold`.",
    )
    skew_threshold: float = Field(default=1.0, ge=0)
    winsorize: tuple[float, float] | None = Field(
        default=(0.01, 0.99), description="Clip at these learned quantiles; null to disable."
    )
    scaler: ScalerName = "standard"
    pca: int | float | None = Field(
        default=None, description="PCA components (int) or explained-variance share (0..1)."
    )
    weights: dict[str, float] = Field(
        default_factory=dict, description="Per-feature weights applied after scaling."
    )
    block_weights: bool = Field(
        default=True,
        description="Columns matched by one glob input (e.g. the n columns of `share_cat_*`) "
        "are weighted 1/sqrt(n) each, so the family weighs as much as one feature; "
        "`weights` multiply on top.",
    )

    information_weights: bool = Field(
        default=True,
        description="After a first sweep, a family of inputs whose variance the segments "
        "explain less than 5% of (a noise feature) enters with a weight in proportion; the "
        "model is then refitted. Reported in the evidence (`feature_weights`).",
    )

    @field_validator("winsorize")
    @classmethod
    def _quantiles(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not (0 <= v[0] < v[1] <= 1):
            raise ValueError(f"expected two quantiles 0 <= low < high <= 1, got {list(v)}")
        return v


class SelectionConfig(_Model):
    """How the number of segments is chosen (learned dimensions)."""

    k: int | None = Field(default=None, ge=1, description="Fix k instead of sweeping.")
    k_min: int = Field(default=2, ge=2)
    k_max: int = Field(default=10, ge=2)
    n_bootstrap: int = Field(default=10, ge=0, description="Resamples for stability.")
    stability_threshold: float = Field(default=0.85, ge=0, le=1)
    metric_sample_size: int = Field(default=2000, ge=100, description="Silhouette sample.")
    stability_sample_size: int = Field(default=10000, ge=100)
    n_init: int = Field(default=4, ge=1)

    @model_validator(mode="after")
    def _range(self) -> SelectionConfig:
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) is greater than k_max ({self.k_max})")
        return self


class MicroConfig(_Model):
    """Hierarchical micro-segments: sub-clusters inside each segment down to a minimum size."""

    min_size: int = Field(default=1000, ge=2, description="Smallest sub-segment (fit sample).")
    max_depth: int = Field(default=1, ge=1, le=3)
    max_children: int = Field(default=4, ge=2)


class DimensionConfig(_Model):
    """One segmentation dimension: every client gets exactly one segment of it."""

    name: str
    kind: DimensionKind
    # rules
    rules: list[Rule] = Field(default_factory=list)
    default: str | None = Field(default=None, description="Segment of clients no rule matches.")
    order: RuleOrder = Field(
        default="first_match",
        description="first_match: rules are tried in order, the first that holds wins. "
        "exclusive: a client matching two rules is an error.",
    )
    # learned
    method: SegmentMethod = "kmeans"
    inputs: list[str] | None = Field(
        default=None, description="Feature names (glob patterns like `share_cat_*` allowed)."
    )
    categorical: list[str] = Field(
        default_factory=list, description="Inputs treated as categories (one-hot)."
    )
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    covariance_type: CovarianceType = Field(default="diag", description="gmm only.")
    min_cluster_size: int | None = Field(default=None, ge=2, description="hdbscan only.")
    assign_noise: bool = Field(
        default=True,
        description="hdbscan: give noise points their nearest segment (else `unassigned`).",
    )
    micro: MicroConfig | None = None
    match_threshold: float = Field(
        default=0.5,
        gt=0,
        description="Refit: a new segment keeps an old identity when their centroids are "
        "closer than this fraction of the old model's median inter-centroid distance.",
    )
    segment_names: dict[str, str] = Field(
        default_factory=dict, description="Segment id -> name overrides for learned segments."
    )

    @model_validator(mode="after")
    def _consistent(self) -> DimensionConfig:
        if not _NAME.match(self.name):
            raise ValueError(
                f"dimension name {self.name!r}: use letters, digits and underscores, "
                "starting with a letter"
            )
        if self.kind == "rules":
            if not self.rules:
                raise ValueError(f"dimension {self.name!r}: a rules dimension needs `rules`")
            if self.default is None:
                raise ValueError(
                    f"dimension {self.name!r}: a rules dimension needs a `default` segment "
                    "for clients no rule matches"
                )
        elif self.rules:
            raise ValueError(f"dimension {self.name!r}: `rules` are for kind: rules")
        if self.kind == "learned" and self.method == "lca" and self.preprocessing.pca:
            raise ValueError(f"dimension {self.name!r}: method lca takes no PCA")
        return self


DEFAULT_DIMENSIONS = ("value", "rfm", "behaviour", "lifecycle")
"""Names of the built-in dimensions added by ``include_defaults``."""


class ValueConfig(_Model):
    """What the built-in ``value`` dimension ranks clients by (see docs/segmentation.md)."""

    measure: ValueMeasure = Field(
        default="auto",
        description="Base measure: clv (`clv_12m`), margin (`margin_12m`), revenue "
        "(`revenue_12m`) or spend (`monetary_total`). auto: CLV where its model is identified "
        "(non-null for 90% of buyers), else the 12-month margin, else revenue, where a "
        "profitability source gives them, else total spend.",
    )
    balance_rate: float = Field(
        default=0.01,
        ge=0,
        description="Yearly value of one unit of balances: the tiers rank `base + balance_rate "
        "* assets` when the features hold non-zero `assets` (holdings mapped); 0 leaves "
        "balances out.",
    )


class SegmentationConfig(_Model):
    """Options of the segmentation stage (`segmentation:` in segmint.yaml)."""

    sample_size: int = Field(
        default=50_000, ge=100, description="Learned models are fitted on a stratified sample."
    )
    stratify_by: str | None = Field(
        default="rfm_cell",
        description="Feature whose values stratify the fit sample (when present).",
    )
    seed: int = 0
    include_defaults: bool = Field(
        default=True, description="Add the built-in value, rfm, behaviour, lifecycle dimensions."
    )
    dimensions: list[DimensionConfig] = Field(default_factory=list)
    value: ValueConfig = Field(
        default_factory=ValueConfig, description="The built-in value dimension's measure."
    )

    def dimension_names(self) -> list[str]:
        """The declared dimensions, then the built-in ones not redeclared."""
        names = [d.name for d in self.dimensions]
        if self.include_defaults:
            names += [n for n in DEFAULT_DIMENSIONS if n not in names]
        return names

    @field_validator("dimensions")
    @classmethod
    def _unique(cls, v: list[DimensionConfig]) -> list[DimensionConfig]:
        seen: set[str] = set()
        for d in v:
            if d.name in seen:
                raise ValueError(f"dimension {d.name!r} is declared twice")
            seen.add(d.name)
        return v
