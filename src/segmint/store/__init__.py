"""The warehouse: where every stage reads its input and writes its output."""

from segmint.store._warehouse import LEDGER, Warehouse

__all__ = ["LEDGER", "Warehouse"]
