"""The project file (``segmint.yaml``): one pydantic model, validated on load.

Errors name the key, the value and what was expected, e.g.::

    segmint.yaml: entities.transactions[0].source: 'tx' is not a declared source
    (declared: crm, cards)
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from segmint.config._attributes import check_attributes
from segmint.config._catalog import CatalogConfig
from segmint.config._events import EventsConfig
from segmint.config._experiments import CampaignConfig, ExperimentsConfig
from segmint.config._features import FeaturesConfig
from segmint.config._governance import GovernanceConfig
from segmint.config._monitoring import MonitoringConfig
from segmint.config._segmentation import SegmentationConfig
from segmint.config._serving import BookMapping, ServingConfig
from segmint.config._sources import (
    AttributeConfig,
    ContractsConfig,
    EntityMapping,
    ReadinessConfig,
    SourceConfig,
    SqlExpr,
    WarehouseConfig,
)
from segmint.config._targeting import (
    AudienceConfig,
    LookalikeSeed,
    NboConfig,
    OfferConfig,
    check_audience_names,
)
from segmint.errors import ConfigError
from segmint.sources._schema import ENTITIES

__all__ = [
    "AttributeConfig",
    "BookMapping",
    "AudienceConfig",
    "CatalogConfig",
    "ContractsConfig",
    "EntityMapping",
    "EventsConfig",
    "CampaignConfig",
    "ExperimentsConfig",
    "FeaturesConfig",
    "GovernanceConfig",
    "LookalikeSeed",
    "MonitoringConfig",
    "NboConfig",
    "OfferConfig",
    "SegmentationConfig",
    "ServingConfig",
    "ProjectConfig",
    "ReadinessConfig",
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
    attributes: dict[str, AttributeConfig] = Field(
        default_factory=dict,
        description="Client attributes, by name: each becomes the feature `attr_<name>` "
        "(see docs/attributes.md).",
    )
    readiness: ReadinessConfig = Field(default_factory=ReadinessConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    experiments: ExperimentsConfig = Field(default_factory=ExperimentsConfig)
    audiences: dict[str, AudienceConfig] = Field(
        default_factory=dict, description="Named audiences (see `segmint audience build`)."
    )
    nbo: NboConfig = Field(default_factory=NboConfig)

    @model_validator(mode="after")
    def _check_references(self) -> ProjectConfig:
        check_attributes(self)  # names first: a mapping may use them
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
                if entity == "clients":
                    allowed |= set(self.attributes)
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
        if "clients" not in self.entities:
            raise ValueError("entities.clients: required entity is not mapped")
        dimensions = self.segmentation.dimension_names()
        for name in self.monitoring.alerts.dimensions:
            if name not in dimensions:
                raise ValueError(
                    f"monitoring.alerts.dimensions.{name}: not a segmentation dimension "
                    f"(dimensions: {', '.join(dimensions) or 'none'})"
                )
        check_audience_names(self.audiences)
        return self

    def mappings(self, entity: str) -> list[EntityMapping]:
        """The mappings of ``entity`` (empty when the entity is not mapped)."""
        return _as_list(self.entities.get(entity, []))


def _as_list(m: EntityMapping | list[EntityMapping]) -> list[EntityMapping]:
    return m if isinstance(m, list) else [m]


def _model_names(cls: type[BaseModel] = BaseModel) -> set[str]:
    out = set()
    for sub in cls.__subclasses__():
        out.add(sub.__name__)
        out |= _model_names(sub)
    return out


_WRONG_SHAPE = {"list_type", "dict_type", "model_type", "string_type", "model_attributes_type"}


def _format_errors(path: Path, exc: ValidationError) -> str:
    # a union (e.g. one mapping or a list of them) reports each member, its type name in
    # the location: keep the member whose shape matched, without the type name
    tags = _model_names() | {"str", "int", "float", "bool"}
    errors = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (p in tags or "[" in p)))
        errors.append((loc, len(loc) != len(err["loc"]), err))
    specific = {loc for loc, tagged, err in errors if not (tagged and err["type"] in _WRONG_SHAPE)}
    lines = []
    for loc_parts, tagged, err in errors:
        if tagged and err["type"] in _WRONG_SHAPE and any(
            s[: len(loc_parts)] == loc_parts for s in specific
        ):
            continue
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc_parts)
        loc = loc.replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        if err["type"] == "missing":
            msg = "required key is missing"
        value = err.get("input")
        shown = "" if err["type"] == "missing" or isinstance(value, dict) else f" (got {_short(value)})"
        lines.append(f"{path.name}: {loc or '(top level)'}: {msg}{shown}")
    return "\n".join(lines)


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlevel = 2


def _short(value: Any) -> str:
    return _SHORT.repr(value)


MAX_PROJECT_FILE_BYTES = 1 << 20
"""A project file larger than this (1 MiB) is refused: it is not a hand-written config."""

MAX_YAML_NODES = 100_000
"""Values a project file may expand to (aliases counted at each use): bounds alias bombs."""


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that stops at :data:`MAX_YAML_NODES` composed or aliased nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0
        self._weights: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self._count(self._weights.get(id(node), 1))
            return node
        start = self._nodes
        node = super().compose_node(parent, index)
        self._count(1)
        self._weights[id(node)] = self._nodes - start
        return node

    def _count(self, n: int) -> None:
        self._nodes += n
        if self._nodes > MAX_YAML_NODES:
            raise ConfigError(
                f"expands to more than {MAX_YAML_NODES:,} values (YAML aliases repeated "
                "too often?); a project file is not that large"
            )


def _read_yaml(path: Path) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_PROJECT_FILE_BYTES:
            raise ConfigError(
                f"{path}: {size:,} bytes is too large for a project file "
                f"(limit {MAX_PROJECT_FILE_BYTES:,})"
            )
        data = path.read_bytes()
    except PermissionError:
        raise ConfigError(f"{path}: cannot read the project file (permission denied)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a project file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the project file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file (byte {exc.start} is not UTF-8); "
            "a project file is YAML in UTF-8"
        ) from None
    loader = None
    try:
        loader = _BoundedLoader(text)
        return loader.get_single_data()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        msg = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not valid YAML: {msg}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date like 2024-13-45
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_config(path: str | Path) -> ProjectConfig:
    """Read and validate a project file.

    Raises
    ------
    ConfigError
        The file is missing, unreadable, not UTF-8 text, not YAML (or a YAML whose
        aliases expand past :data:`MAX_YAML_NODES` values), or does not validate; the message names
        the file, the key, the value and what was expected.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "segmint.yaml"
    if not path.exists():
        raise ConfigError(f"{path}: project file not found (create one with `segmint init`)")
    raw: Any = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
