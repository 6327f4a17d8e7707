"""Reading the serving store: one :class:`Snapshot` per request, bound to one publication.

:class:`DuckDBStore` keeps one read-only connection per publication file (threads get
their own cursor on it) and moves to a new file when the link points elsewhere; the old
connection is closed when its last request ends. :class:`PostgresStore` reads the pointer
row and the data in one transaction. The queries are written once (``?`` placeholders,
``{s}`` the schema qualifier) for both.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from segmint.errors import ServingError

log = logging.getLogger("segmint.api")


class NotPublishedError(ServingError):
    """Nothing has been published to the serving store yet."""


@dataclass
class Segment:
    dimension: str
    segment_id: str
    name: str
    definition: str | None
    rule_sql: str | None
    kind: str | None
    method: str | None
    persona: str | None
    profile: str | None
    clients: int | None  # null: suppressed (governance.min_cell)
    share: float | None
    clv_total: float | None
    clv_mean: float | None
    churn_risk: float | None
    share_change: float | None


@dataclass
class _Cache:
    """Per-publication data small enough to keep in memory (the catalog's segments)."""

    meta: dict[str, Any]
    segments: dict[tuple[str, str], Segment] = field(default_factory=dict)


_SEGMENT_COLS = ("dimension, segment_id, name, definition, rule_sql, kind, method, persona, profile, "
                 "clients, share, clv_total, clv_mean, churn_risk, share_change")


class Snapshot:
    """Queries against one publication (used for the length of one request)."""

    def __init__(self, run, schema: str, cache: _Cache) -> None:
        self._run = run
        self._s = schema
        self._cache = cache

    def _rows(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        return self._run(sql.replace("{s}", self._s), params or [])

    @property
    def meta(self) -> dict[str, Any]:
        return self._cache.meta

    @property
    def publication_id(self) -> str:
        return str(self._cache.meta["publication_id"])

    # -- clients ------------------------------------------------------------------------
    def client(self, client_id: str) -> tuple[str | None, dict[str, Any]] | None:
        return self.clients([client_id]).get(client_id)

    def clients(self, client_ids: list[str]) -> dict[str, tuple[str | None, dict[str, Any]]]:
        """Several clients' ``(book, doc)`` in one query (the missing ones left out)."""
        if not client_ids:
            return {}
        marks = ", ".join("?" * len(client_ids))
        rows = self._rows(f"SELECT client_id, book, doc FROM {{s}}client_doc WHERE client_id IN ({marks})",
                          list(client_ids))
        return {cid: (book, json.loads(doc) if isinstance(doc, str) else doc) for cid, book, doc in rows}

    def search(self, prefix: str, *, book: str | None, scoped: bool, limit: int) -> list[str]:
        sql = "SELECT client_id FROM {s}client_doc WHERE client_id >= ? AND client_id < ?"
        params: list[Any] = [prefix, prefix + "\U0010ffff"]
        if scoped:
            sql += " AND book = ?"
            params.append(book)
        sql += " ORDER BY client_id LIMIT ?"
        params.append(limit)
        return [r[0] for r in self._rows(sql, params)]

    # -- segments -----------------------------------------------------------------------
    def segments(self) -> list[Segment]:
        return list(self._cache.segments.values())

    def segment(self, dimension: str, segment_id: str) -> Segment | None:
        return self._cache.segments.get((dimension, segment_id))

    def members(
        self, dimension: str, segment_id: str, *, book: str | None, scoped: bool,
        after: str | None, limit: int,
    ) -> list[str]:
        rows = self._page(
            "SELECT client_id FROM {s}members WHERE dimension = ? AND segment_id = ?",
            [dimension, segment_id], book=book, scoped=scoped, after=after, limit=limit,
        )
        return [r[0] for r in rows]

    def _page(
        self, sql: str, params: list[Any], *, book: str | None, scoped: bool,
        after: str | None, limit: int,
    ) -> list[tuple]:
        """One keyset page of a membership query: the book scope, the rows after the
        cursor, ordered by client id."""
        params = list(params)
        if scoped:
            sql += " AND book = ?"
            params.append(book)
        if after is not None:
            sql += " AND client_id > ?"
            params.append(after)
        return self._rows(sql + " ORDER BY client_id LIMIT ?", [*params, limit])

    # -- audiences ----------------------------------------------------------------------
    def audiences(self, *, book: str | None, scoped: bool) -> list[dict[str, Any]]:
        if not scoped:
            rows = self._rows("SELECT audience_id, name, definition, clients FROM {s}audiences "
                              "ORDER BY audience_id")
        else:
            rows = self._rows(
                "SELECT a.audience_id, a.name, a.definition, count(m.client_id) FROM {s}audiences a "
                "LEFT JOIN {s}audience_members m ON m.audience_id = a.audience_id AND m.book = ? "
                "GROUP BY a.audience_id, a.name, a.definition ORDER BY a.audience_id",
                [book],
            )
        return [dict(audience_id=r[0], name=r[1], definition=r[2],
                     clients=None if r[3] is None else int(r[3])) for r in rows]

    def audience(self, audience_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT audience_id, name, definition, clients FROM {s}audiences "
                          "WHERE audience_id = ?", [audience_id])
        if not rows:
            return None
        r = rows[0]
        return dict(audience_id=r[0], name=r[1], definition=r[2],
                    clients=None if r[3] is None else int(r[3]))

    def audience_members(
        self, audience_id: str, *, book: str | None, scoped: bool, after: str | None, limit: int,
    ) -> list[tuple[str, dict[str, Any] | None]]:
        rows = self._page(
            "SELECT client_id, details FROM {s}audience_members WHERE audience_id = ?",
            [audience_id], book=book, scoped=scoped, after=after, limit=limit,
        )
        return [(r[0], json.loads(r[1]) if isinstance(r[1], str) else r[1]) for r in rows]

    # -- monitoring ---------------------------------------------------------------------
    def alerts(self) -> list[dict[str, Any]]:
        rows = self._rows("SELECT alert_id, cycle_id, as_of, rule, severity, dimension, feature, "
                          "segment_id, value, threshold, message FROM {s}alerts "
                          "ORDER BY as_of DESC, alert_id")
        keys = ("alert_id", "cycle_id", "as_of", "rule", "severity", "dimension", "feature",
                "segment_id", "value", "threshold", "message")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def cycles(self) -> list[dict[str, Any]]:
        rows = self._rows("SELECT cycle_id, as_of, previous_as_of, status, refitted, clients, "
                          "changes, alerts, started_at, finished_at FROM {s}cycles ORDER BY as_of DESC")
        keys = ("cycle_id", "as_of", "previous_as_of", "status", "refitted", "clients", "changes",
                "alerts", "started_at", "finished_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]


def _load_cache(run, schema: str) -> _Cache:
    cols = ("publication_id", "kind", "published_at", "as_of", "clients", "catalog_version",
            "project", "segmint_version")
    rows = run(f"SELECT {', '.join(cols)} FROM {schema}publication", [])
    if not rows:
        raise NotPublishedError("the serving store holds no publication")
    cache = _Cache(meta=dict(zip(cols, rows[0], strict=True)))
    for r in run(f"SELECT {_SEGMENT_COLS} FROM {schema}segments ORDER BY dimension, segment_id", []):
        seg = Segment(*r)
        seg.clients = None if seg.clients is None else int(seg.clients)
        cache.segments[(seg.dimension, seg.segment_id)] = seg
    return cache


class Store(Protocol):
    """What the service reads: ``with store.snapshot() as snap: ...``.

    ``inline_reads``: whether a snapshot's reads are quick enough to run on the event
    loop (then ``stale()`` and ``refresh()`` let the service open a new publication in a
    thread first)."""

    inline_reads: bool

    def snapshot(self) -> Any: ...

    def close(self) -> None: ...


class _Open:
    """One publication file's connection, with the requests using it."""

    def __init__(self, target: str) -> None:
        import duckdb

        self.target = target
        self.con = duckdb.connect(target, read_only=True, config={"threads": 1})
        self.idle: list = []  # cursors not in use (a request takes one for its whole length)
        self.refs = 0
        self.retired = False
        self.cache = _load_cache(lambda q, p: self.con.execute(q, p).fetchall(), "")

    def take(self):
        try:
            return self.idle.pop()
        except IndexError:
            return self.con.cursor()


class DuckDBStore:
    """The embedded serving store (a read-only DuckDB file behind a swapped link)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._opening = threading.Lock()
        self._open: _Open | None = None

    def _target(self) -> str:
        try:
            return os.path.realpath(self.path, strict=True)
        except OSError:
            raise NotPublishedError(f"{self.path}: nothing published yet") from None

    #: reads are point lookups on a local file (well under a millisecond): the service may
    #: run them on its event loop instead of a thread-pool hop (see ``Service.client``)
    inline_reads = True

    def stale(self) -> bool:
        """Whether the link names a publication other than the open one (the next
        snapshot will open it: :meth:`refresh` does that ahead, off the event loop)."""
        current = self._open
        try:
            return current is None or current.target != self._target()
        except NotPublishedError:
            return False

    def refresh(self) -> None:
        """Open the publication the link names, if it is not the open one."""
        with self.snapshot():
            pass

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        target = self._target()
        current = self._open
        if current is None or current.target != target:
            # one request opens the new publication while the others go on reading the one
            # they have: no reader waits for a swap (the old file stays readable even once
            # the batch deleted it)
            if current is None:
                with self._opening:
                    self._swap(target)
            elif self._opening.acquire(blocking=False):
                try:
                    self._swap(target)
                except NotPublishedError as exc:
                    # superseded or deleted meanwhile: keep reading the current one
                    log.warning("serving: %s; still serving %s", exc, current.target)
                finally:
                    self._opening.release()
        with self._lock:
            cur = self._open
            assert cur is not None
            cur.refs += 1
            c = cur.take()
        try:
            yield Snapshot(lambda q, p: c.execute(q, p).fetchall(), "", cur.cache)
        finally:
            with self._lock:
                cur.idle.append(c)
                cur.refs -= 1
                if cur.retired and cur.refs == 0:
                    cur.con.close()

    def _swap(self, target: str) -> None:
        """Open ``target`` (outside the readers' lock) and make it the current publication."""
        if self._open is not None and self._open.target == target:
            return
        try:
            fresh = _Open(target)
        except OSError as exc:  # pragma: no cover - deleted between realpath and open
            raise NotPublishedError(f"{self.path}: publication moved: {exc}") from None
        except Exception as exc:
            import duckdb

            if isinstance(exc, duckdb.Error):
                raise NotPublishedError(
                    f"{target}: cannot read the publication ({type(exc).__name__})") from None
            raise
        with self._lock:
            old, self._open = self._open, fresh
            if old is not None:
                old.retired = True
                if old.refs == 0:
                    old.con.close()

    def close(self) -> None:
        with self._lock:
            if self._open is not None:
                self._open.con.close()
                self._open = None


class PostgresStore:
    """The PostgreSQL serving store: the pointer row, then the publication's schema."""

    inline_reads = False  # network round trips: reads run in the thread pool

    def __init__(self, dsn: str, prefix: str, *, pool_size: int = 8) -> None:
        from segmint.api._store import pg_names

        self.dsn = dsn
        self.pointer, _ = pg_names(prefix)
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._sem = threading.BoundedSemaphore(pool_size)
        self._caches: dict[str, _Cache] = {}
        self._lock = threading.Lock()

    def _connect(self):
        import psycopg

        try:
            return psycopg.connect(self.dsn, autocommit=False)
        except psycopg.Error as exc:
            raise ServingError(f"serving (postgres): cannot connect: {type(exc).__name__}") from None

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        import psycopg

        self._sem.acquire()
        try:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = self._connect()
            ok = False
            try:
                def run(q: str, p: list[Any]) -> list[tuple]:
                    return conn.execute(q.replace("?", "%s"), p).fetchall()

                try:
                    rows = run(f"SELECT schema_name FROM {self.pointer}.current", [])
                except psycopg.errors.UndefinedTable:
                    conn.rollback()
                    raise NotPublishedError("postgres: nothing published yet") from None
                if not rows:
                    raise NotPublishedError("postgres: nothing published yet")
                schema = f'"{rows[0][0]}".'
                with self._lock:
                    cache = self._caches.get(schema)
                if cache is None:
                    cache = _load_cache(run, schema)
                    with self._lock:
                        self._caches = {schema: cache}  # only the current publication's
                yield Snapshot(run, schema, cache)
                conn.rollback()  # read-only: end the transaction, release its locks
                ok = True
            finally:
                if ok and not conn.closed:
                    self._pool.put(conn)
                else:
                    try:
                        conn.rollback()
                        self._pool.put(conn)
                    except Exception:  # noqa: BLE001 - a broken connection is dropped
                        conn.close()
        finally:
            self._sem.release()

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return


def open_store(config, root: str | Path) -> Store:
    """The serving store a project's ``serving:`` section names (for the service)."""
    from segmint.api._store import dsn_from_env, resolve

    serving = config.serving
    if serving.backend == "postgres":
        return PostgresStore(dsn_from_env(serving.dsn_env), serving.schema_prefix)
    return DuckDBStore(resolve(root, serving.path))
