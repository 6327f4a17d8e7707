"""The project lock: one writer at a time, and a message that names it.

DuckDB lets one process write a database file. Left to itself, a second writer (or a
reader while a writer works) fails at once with "Could not set lock on file". The
project lock sits in front of it: a file beside the warehouse (``<warehouse>.lock``)
held with ``flock`` for as long as a command writes, holding the writer's pid, command
and start time. A second writer waits up to ``SEGMINT_LOCK_WAIT`` seconds (default 30),
then stops with a message naming the holder. ``flock`` is released by the kernel when
the holder dies, so a killed command never leaves a stale lock behind.

The lock is re-entrant within a process: an update cycle opens the warehouse many
times under one acquisition, and nested opens only count.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from segmint.errors import WarehouseError

WAIT_ENV = "SEGMINT_LOCK_WAIT"
DEFAULT_WAIT = 30.0
_POLL = 0.1

_held: dict[Path, tuple[int, int]] = {}  # lock path -> (fd, depth)
_mutex = threading.RLock()


def lock_path(warehouse: Path) -> Path:
    """The lock file of a warehouse file."""
    return warehouse.with_name(warehouse.name + ".lock")


def holder(warehouse: Path) -> dict[str, Any] | None:
    """Who holds the warehouse's lock now (pid, command, since), or None."""
    path = lock_path(warehouse)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: read who
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        return json.loads(raw.decode() or "{}") or {"pid": None}
    except ValueError:
        return {"pid": None}


def describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "another process"
    cmd = info.get("command") or "a segmint command"
    return f"pid {info.get('pid')} ({cmd}, since {info.get('since', '?')})"


def lock_wait() -> float:
    """Seconds a writer waits for another (``$SEGMINT_LOCK_WAIT``, default 30)."""
    return _wait_seconds(None)


def _wait_seconds(wait: float | None) -> float:
    if wait is not None:
        return max(0.0, wait)
    raw = os.environ.get(WAIT_ENV)
    if raw is None:
        return DEFAULT_WAIT
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise WarehouseError(f"{WAIT_ENV}={raw!r}: not a number of seconds") from None


def acquire(warehouse: Path, *, wait: float | None = None) -> None:
    """Take the warehouse's writer lock (re-entrant in this process).

    Raises
    ------
    WarehouseError
        When another process still holds it after ``wait`` seconds (default
        ``$SEGMINT_LOCK_WAIT`` or 30), naming that process.
    """
    path = lock_path(warehouse)
    with _mutex:
        if path in _held:
            fd, depth = _held[path]
            _held[path] = (fd, depth + 1)
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WarehouseError(f"{path}: cannot create the project lock: {exc.strerror}") from None
        deadline = time.monotonic() + _wait_seconds(wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    info = holder(warehouse)
                    os.close(fd)
                    raise WarehouseError(
                        f"{warehouse}: the warehouse is being written by {describe(info)}; "
                        f"try again when it finishes (waited {_wait_seconds(wait):g} s; "
                        f"set {WAIT_ENV} to wait longer)"
                    ) from None
                time.sleep(_POLL)
        info = {
            "pid": os.getpid(),
            "command": " ".join(["segmint", *sys.argv[1:]])[:200],
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        _held[path] = (fd, 1)


def release(warehouse: Path) -> None:
    """Give back one acquisition; the lock goes when the outermost one ends."""
    path = lock_path(warehouse)
    with _mutex:
        if path not in _held:
            return
        fd, depth = _held[path]
        if depth > 1:
            _held[path] = (fd, depth - 1)
            return
        del _held[path]
        with suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def held_here(warehouse: Path) -> bool:
    """Whether this process holds the lock (outermost acquisitions, nested or not)."""
    with _mutex:
        return lock_path(warehouse) in _held


@contextmanager
def project_lock(warehouse: Path, *, wait: float | None = None):
    """Hold the warehouse's writer lock for a block (a whole command or cycle)."""
    acquire(warehouse, wait=wait)
    try:
        yield
    finally:
        release(warehouse)
