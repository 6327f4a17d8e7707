"""Stage 1: sources -> canonical client schema, with data contracts and quarantine.

Loads are incremental: per entity ``unchanged`` (skipped), ``appended`` (only new
files) or ``reloaded`` (everything), see :func:`ingest`.
"""

from segmint.sources._attributes import (
    ATTRIBUTE_CATALOG,
    BUILTIN_ATTRIBUTES,
    attribute_catalog,
    protected_attribute_features,
)
from segmint.sources._ingest import (
    QUARANTINE,
    EntityReport,
    IngestReport,
    ingest,
    quarantine_summary,
)
from segmint.sources._loadstate import LOADED_ENTITIES, LOADED_FILES, appended_table
from segmint.sources._readiness import (
    READINESS_TABLE,
    Readiness,
    ReadinessCheck,
    data_end_date,
    measure_readiness,
    store_readiness,
)
from segmint.sources._schema import (
    ATTRIBUTE_TYPES,
    ENTITIES,
    LOAD_ORDER,
    Column,
    Entity,
    project_entities,
    protected_columns,
)

__all__ = [
    "ATTRIBUTE_CATALOG",
    "ATTRIBUTE_TYPES",
    "BUILTIN_ATTRIBUTES",
    "ENTITIES",
    "LOADED_ENTITIES",
    "LOADED_FILES",
    "LOAD_ORDER",
    "QUARANTINE",
    "READINESS_TABLE",
    "Readiness",
    "ReadinessCheck",
    "Column",
    "Entity",
    "EntityReport",
    "IngestReport",
    "appended_table",
    "attribute_catalog",
    "data_end_date",
    "ingest",
    "measure_readiness",
    "project_entities",
    "protected_attribute_features",
    "protected_columns",
    "quarantine_summary",
    "store_readiness",
]
