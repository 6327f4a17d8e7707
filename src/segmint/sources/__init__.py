"""Stage 1: sources -> canonical client schema, with data contracts and quarantine."""

from segmint.sources._schema import ENTITIES, LOAD_ORDER, Column, Entity, protected_columns

__all__ = ["ENTITIES", "LOAD_ORDER", "Column", "Entity", "protected_columns"]
