"""Project-file models for the segmentation stage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SegmentationConfig(BaseModel):
    """Options of the segmentation stage (`segmentation:` in segmint.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
