"""The project file (``segmint.yaml``): one pydantic model, validated on load.

Errors name the key, the value and what was expected, e.g.::

    segmint.yaml: entities.transactions[0].source: 'tx' is not a declared source
    (declared: crm, cards)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from segmint.config._catalog import CatalogConfig
from segmint.config._events import EventsConfig
from segmint.config._features import FeaturesConfig
from segmint.config._governance import GovernanceConfig
from segmint.config._monitoring import MonitoringConfig
from segmint.config._segmentation import SegmentationConfig
from segmint.config._sources import (
    ContractsConfig,
    EntityMapping,
    SourceConfig,
    SqlExpr,
    WarehouseConfig,
)
from segmint.errors import ConfigError
from segmint.sources._schema import ENTITIES

__all__ = [
    "CatalogConfig",
    "ContractsConfig",
    "EntityMapping",
    "EventsConfig",
    "FeaturesConfig",
    "GovernanceConfig",
    "MonitoringConfig",
    "SegmentationConfig",
    "ProjectConfig",
    "SourceConfig",
    "SqlExpr",
    "WarehouseConfig",
    "load_config",
]


class ProjectConfig(BaseModel):
    """Everything ``segmint.yaml`` declares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str = Field(default="segmint", description="Project name, shown in reports.")
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    sources: dict[str, SourceConfig] = Field(description="Named sources.")
    entities: dict[str, EntityMapping | list[EntityMapping]] = Field(
        description="Canonical entity -> one mapping or a list of mappings (one per source)."
    )
    contracts: ContractsConfig = Field(default_factory=ContractsConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)

    @model_validator(mode="after")
    def _check_references(self) -> ProjectConfig:
        for entity, mappings in self.entities.items():
            if entity not in ENTITIES:
                raise ValueError(
                    f"entities.{entity}: unknown entity; expected one of {', '.join(ENTITIES)}"
                )
            canonical = ENTITIES[entity]
            for i, m in enumerate(_as_list(mappings)):
                where = f"entities.{entity}" + (f"[{i}]" if isinstance(mappings, list) else "")
                if m.source not in self.sources:
                    raise ValueError(
                        f"{where}.source: {m.source!r} is not a declared source "
                        f"(declared: {', '.join(self.sources) or 'none'})"
                    )
                allowed = {c.name for c in canonical.mappable}
                for col in m.columns:
                    if col not in allowed:
                        raise ValueError(
                            f"{where}.columns.{col}: not a column of {entity}; "
                            f"expected one of {', '.join(sorted(allowed))}"
                        )
                missing = [
                    c.name for c in canonical.mappable if c.required and c.name not in m.columns
                ]
                if missing:
                    raise ValueError(
                        f"{where}.columns: required canonical column(s) not mapped: "
                        f"{', '.join(missing)}"
                    )
        for entity in ("clients", "transactions"):
            if entity not in self.entities:
                raise ValueError(f"entities.{entity}: required entity is not mapped")
        dimensions = self.segmentation.dimension_names()
        for name in self.monitoring.alerts.dimensions:
            if name not in dimensions:
                raise ValueError(
                    f"monitoring.alerts.dimensions.{name}: not a segmentation dimension "
                    f"(dimensions: {', '.join(dimensions) or 'none'})"
                )
        return self

    def mappings(self, entity: str) -> list[EntityMapping]:
        """The mappings of ``entity`` (empty when the entity is not mapped)."""
        return _as_list(self.entities.get(entity, []))


def _as_list(m: EntityMapping | list[EntityMapping]) -> list[EntityMapping]:
    return m if isinstance(m, list) else [m]


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"])
        loc = loc.replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        if err["type"] == "missing":
            msg = "required key is missing"
        value = err.get("input")
        shown = "" if err["type"] == "missing" or isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"{path.name}: {loc or '(top level)'}: {msg}{shown}")
    return "\n".join(lines)


def load_config(path: str | Path) -> ProjectConfig:
    """Read and validate a project file.

    Raises
    ------
    ConfigError
        The file is missing, is not YAML, or does not validate; the message names
        the file, the key, the value and what was expected.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "segmint.yaml"
    if not path.exists():
        raise ConfigError(f"{path}: project file not found (create one with `segmint init`)")
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
