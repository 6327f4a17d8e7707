"""The embedded warehouse: one DuckDB file, atomic writes, and the run ledger."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from segmint.errors import WarehouseError
from segmint.store._lock import acquire, describe, held_here, holder, lock_wait, release

LEDGER = "_runs"
_READER_WAIT = 5.0  # seconds a reader waits for a writer of another process

_LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER} (
    run_id VARCHAR PRIMARY KEY,
    command VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,
    segmint_version VARCHAR NOT NULL,
    inputs JSON,
    counts JSON,
    timings JSON,
    detail VARCHAR
)
"""


class Warehouse:
    """A DuckDB warehouse file.

    Every stage writes through :meth:`transaction`, so a crash part-way through
    a write leaves the previous state intact (DuckDB rolls back uncommitted work
    when it reopens the file).

    Parameters
    ----------
    path : str or Path
        The DuckDB file; its folder is created if needed. ``":memory:"`` for tests.
    threads, memory_limit : optional
        DuckDB settings.
    read_only : bool
        Open without write access (for readers running beside a writer).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        self._locked = False
        if self.path is not None and not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WarehouseError(
                    f"{self.path.parent}: cannot create the warehouse folder: {_why(exc)}"
                ) from None
        if read_only and self.path is not None and not self.path.exists():
            raise WarehouseError(f"{self.path}: no warehouse yet (run `segmint ingest` first)")
        first = False
        if self.path is not None and not read_only:
            first = not held_here(self.path)
            acquire(self.path)
            self._locked = True
        try:
            self.con = self._connect(str(path), read_only=read_only)
            if threads:
                self.con.execute(f"SET threads = {int(threads)}")
            if memory_limit:
                self.con.execute("SET memory_limit = ?", [memory_limit])
            if not read_only:
                self.con.execute(_LEDGER_DDL)
                if first:
                    self._mark_interrupted()
        except duckdb.Error as exc:  # a setting or the ledger on a file DuckDB opened
            self._unlock()
            if hasattr(self, "con"):
                self.con.close()
            raise WarehouseError(f"{path}: cannot use the warehouse: {_first_line(exc)}") from None
        except BaseException:
            self._unlock()
            raise

    def _connect(self, path: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        # DuckDB refuses at once when another process has the file open in a conflicting
        # mode (a writer, or for a writer a reader): wait briefly (a reader) or as long as
        # for the project lock (a writer), then say who is in the way
        wait = _READER_WAIT if read_only else lock_wait()
        deadline = time.monotonic() + wait
        while True:
            try:
                return duckdb.connect(path, read_only=read_only)
            except duckdb.IOException as exc:
                busy = "lock" in str(exc).lower()
                if busy and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                if busy and self.path is not None:
                    if read_only:
                        who = f"being written by {describe(holder(self.path))}"
                    else:
                        pid = re.search(r"PID (\d+)", str(exc))
                        who = "open in another process" + (f" (pid {pid.group(1)})" if pid else "")
                    raise WarehouseError(
                        f"{path}: the warehouse is {who}; waited {wait:g} s, try again when it "
                        "finishes (readers of a running service use the serving store)"
                    ) from None
                raise WarehouseError(f"{path}: cannot open the warehouse: {_first_line(exc)}") from None
            except duckdb.Error as exc:
                raise WarehouseError(f"{path}: cannot open the warehouse: {_first_line(exc)}") from None

    def _mark_interrupted(self) -> None:
        """Runs left ``running`` by a killed command: no writer holds the lock but us."""
        self.con.execute(
            f"UPDATE {LEDGER} SET status = 'interrupted', finished_at = coalesce(finished_at, ?), "
            "detail = coalesce(detail, 'the command was interrupted before it finished') "
            "WHERE status = 'running'",
            [_now()],
        )

    def _unlock(self) -> None:
        if self._locked and self.path is not None:
            self._locked = False
            release(self.path)

    # -- basics ---------------------------------------------------------------
    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self._unlock()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sql(self, query: str, params: list[Any] | None = None) -> duckdb.DuckDBPyRelation:
        return self.con.sql(query, params=params)

    def restrict_access(self, paths: list[str | Path] | None = None) -> None:
        """Close the connection to the outside world before it runs user SQL.

        After this, queries can read only ``paths`` (the source files, already found)
        and the warehouse itself: no other file, no ``COPY``, ``ATTACH``, ``INSTALL`` or
        ``LOAD``, and the configuration is locked, so no later statement can undo it.
        Times are read in UTC. The restriction lasts until the connection (and every
        other connection of this process to the same file) is closed.
        """
        self.con.execute("SET TimeZone = 'UTC'")
        allowed = [str(p) for p in paths or []]
        if allowed:
            self.con.execute("SET allowed_paths = ?", [allowed])
        self.con.execute("SET autoinstall_known_extensions = false")
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")

    def has_table(self, name: str) -> bool:
        # fetchall: a result left unfinished makes DuckDB refuse some later calls
        # (registering a frame on the connection)
        rows = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary",
            [name],
        ).fetchall()
        return bool(rows[0][0])

    def tables(self) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]

    def require(self, *tables: str, hint: str = "") -> None:
        """Raise a clear error when a stage's input table is missing."""
        missing = [t for t in tables if not self.has_table(t)]
        if missing:
            where = self.path or "in-memory warehouse"
            raise WarehouseError(
                f"{where}: missing table(s) {', '.join(missing)}" + (f"; {hint}" if hint else "")
            )

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block atomically: all its writes land, or none do."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    # -- run ledger -------------------------------------------------------------
    def start_run(self, command: str, inputs: list[dict[str, Any]] | None = None) -> str:
        from segmint._version import __version__

        run_id = uuid.uuid4().hex[:12]
        self.con.execute(
            f"INSERT INTO {LEDGER} (run_id, command, started_at, status, segmint_version, inputs) "
            "VALUES (?, ?, ?, 'running', ?, ?)",
            [run_id, command, _now(), __version__, json.dumps(inputs or [])],
        )
        return run_id

    def finish_run(
        self,
        run_id: str,
        *,
        status: str = "ok",
        counts: dict[str, Any] | None = None,
        timings: dict[str, float] | None = None,
        detail: str | None = None,
    ) -> None:
        self.con.execute(
            f"UPDATE {LEDGER} SET finished_at = ?, status = ?, counts = ?, timings = ?, detail = ? "
            "WHERE run_id = ?",
            [_now(), status, json.dumps(counts or {}), json.dumps(timings or {}), detail, run_id],
        )

    def runs(self) -> list[dict[str, Any]]:
        cur = self.con.execute(f"SELECT * FROM {LEDGER} ORDER BY started_at")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _why(exc: OSError) -> str:
    if isinstance(exc, NotADirectoryError | FileExistsError):
        return "a part of the path is a file, not a folder"
    if isinstance(exc, PermissionError):
        return "permission denied (read-only folder?)"
    return exc.strerror or str(exc)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
