"""Project-file models for the monitoring stage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MonitoringConfig(BaseModel):
    """Options of the monitoring stage (`monitoring:` in segmint.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
