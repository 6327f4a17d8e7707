"""The warehouse: where every stage reads its input and writes its output."""

from segmint.store._crash import KILL_AT_ENV, crash_point
from segmint.store._warehouse import LEDGER, Warehouse

__all__ = ["KILL_AT_ENV", "LEDGER", "Warehouse", "crash_point"]
