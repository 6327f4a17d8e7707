"""Stage 1: sources -> canonical client schema, with data contracts and quarantine."""

from segmint.sources._ingest import (
    QUARANTINE,
    EntityReport,
    IngestReport,
    ingest,
    quarantine_summary,
)
from segmint.sources._schema import ENTITIES, LOAD_ORDER, Column, Entity, protected_columns

__all__ = [
    "ENTITIES",
    "LOAD_ORDER",
    "QUARANTINE",
    "Column",
    "Entity",
    "EntityReport",
    "IngestReport",
    "ingest",
    "protected_columns",
    "quarantine_summary",
]
