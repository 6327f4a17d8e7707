"""Project-file models for the features stage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FeaturesConfig(BaseModel):
    """Options of the features stage (`features:` in segmint.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
