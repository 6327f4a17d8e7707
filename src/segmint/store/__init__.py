"""The warehouse: where every stage reads its input and writes its output."""

from segmint.store._crash import KILL_AT_ENV, crash_point
from segmint.store._lock import WAIT_ENV, holder, project_lock
from segmint.store._warehouse import LEDGER, Warehouse

__all__ = ["KILL_AT_ENV", "LEDGER", "WAIT_ENV", "Warehouse", "crash_point", "holder", "project_lock"]
