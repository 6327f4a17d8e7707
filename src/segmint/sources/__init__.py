"""Stage 1: sources -> canonical client schema, with data contracts and quarantine.

Loads are incremental: per entity ``unchanged`` (skipped), ``appended`` (only new
files) or ``reloaded`` (everything), see :func:`ingest`.
"""

from segmint.sources._ingest import (
    QUARANTINE,
    EntityReport,
    IngestReport,
    ingest,
    quarantine_summary,
)
from segmint.sources._loadstate import LOADED_ENTITIES, LOADED_FILES, appended_table
from segmint.sources._schema import ENTITIES, LOAD_ORDER, Column, Entity, protected_columns

__all__ = [
    "ENTITIES",
    "LOADED_ENTITIES",
    "LOADED_FILES",
    "LOAD_ORDER",
    "QUARANTINE",
    "Column",
    "Entity",
    "EntityReport",
    "IngestReport",
    "appended_table",
    "ingest",
    "protected_columns",
    "quarantine_summary",
]
