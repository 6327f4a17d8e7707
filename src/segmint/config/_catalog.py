"""Project-file model for the catalog stage (``catalog:`` in segmint.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CatalogConfig(BaseModel):
    """Options of the segment catalog: rule size, naming overrides, report sampling."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Segment names to use instead of generated ones: dimension -> segment_id -> name.",
    )
    max_conditions: int = Field(
        default=4, ge=1, le=8, description="Most conditions in one segment's observable rule."
    )
    max_depth: int | None = Field(
        default=None, ge=1, le=8,
        description="Depth of the rule trees (default and upper bound: max_conditions).",
    )
    sample_size: int = Field(
        default=50_000, ge=100, description="Clients sampled to fit the rule trees."
    )
    top_features: int = Field(
        default=5, ge=1, le=50, description="Distinguishing features listed per segment."
    )
    report_sample: int = Field(
        default=3_000, ge=100, le=50_000, description="Clients drawn for the report's segment map."
    )
