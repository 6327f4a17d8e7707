"""Feature snapshots computed and stored inside the warehouse, from the history or the state.

:func:`write_snapshot` runs the feature query in DuckDB and inserts its result into the
table ``features`` in one transaction: the rows never travel through Python (only the
columns a post-engine group such as ``clv`` needs do). It reads the incremental state
(:mod:`segmint.features._incremental`) when one is in sync with ``transactions`` (and,
for the engagement group, with ``engagement``) and the date is on or after their last
day, and the history otherwise; both give the same numbers. :func:`refresh_state` keeps
the state in step with an ingest: it folds the rows an incremental ingest appended, or
rebuilds the state (only its engagement part, when only ``engagement`` changed) after a
full reload.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from typing import Any, Literal

import pyarrow as pa

from segmint.config import FeaturesConfig
from segmint.features._catalog import GROUPS, POST_ENGINE_GROUPS
from segmint.features._compute import (
    SNAPSHOT_TABLE,
    _date,
    _join_post,
    build_query,
    resolve_groups,
    skipped_groups,
)
from segmint.features._definitions import PostEngineContext
from segmint.features._engine import DuckDBEngine
from segmint.features._incremental import (
    build_event_state,
    build_state,
    fold,
    fold_events,
    incremental_query,
    state_status,
)

log = logging.getLogger(__name__)

SnapshotMode = Literal["full", "incremental"]


@dataclasses.dataclass(frozen=True)
class SnapshotResult:
    """What :func:`write_snapshot` stored."""

    as_of: dt.date
    rows: int
    columns: list[str]  # client_id, then the features
    mode: SnapshotMode
    timings: dict[str, float]
    #: one line each: default groups left out for want of data, top-N options that left
    #: values without a column
    notes: list[str] = dataclasses.field(default_factory=list)


def _run(con: Any, sql: str, params: list[Any] | None = None) -> list[tuple]:
    # fetch every result: DuckDB refuses new work while a result is unfinished
    return con.execute(sql, params or []).fetchall()


def state_usable(warehouse: Any, as_of: dt.date, config: FeaturesConfig | None = None) -> bool:
    """The state is in sync with ``transactions`` and holds none after ``as_of``, and its
    engagement part is in sync with ``engagement`` when the groups of ``config`` include
    ``engagement`` (events after ``as_of`` are allowed: they are subtracted)."""
    status = state_status(warehouse)
    if status is None or not status["in_sync"]:
        return False
    if status["last_day"] is not None and as_of < status["last_day"]:
        return False
    groups = resolve_groups(DuckDBEngine(warehouse.con), config or FeaturesConfig())
    return "engagement" not in groups or status["events_in_sync"]


def write_snapshot(
    warehouse: Any,
    as_of: dt.date | str,
    config: FeaturesConfig | None = None,
    *,
    currency: str = "EUR",
    use_state: bool = True,
) -> SnapshotResult:
    """Compute every client's features as of a date in the engine; store them atomically.

    Parameters
    ----------
    warehouse : Warehouse
    as_of : date or str
    config : FeaturesConfig, optional
    currency : str
        Unit of money features when ``config.currency`` is not set.
    use_state : bool, default True
        Read the incremental state when it is usable (:func:`state_usable`).

    Returns
    -------
    SnapshotResult
        Rows and columns stored, and whether they came from the state.
    """
    config = config or FeaturesConfig()
    day = _date(as_of)
    con = warehouse.con
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    usable = use_state and state_usable(warehouse, day, config)
    mode: SnapshotMode = "incremental" if usable else "full"
    if mode == "incremental":
        sql, groups, params = incremental_query(
            warehouse, day, config, currency=currency, order=False
        )
    else:
        sql, _columns, groups, params = build_query(
            DuckDBEngine(con), day, config, currency=currency, order=False
        )
    post = [POST_ENGINE_GROUPS[g] for g in groups if g in POST_ENGINE_GROUPS]
    source = f"({sql})"
    if post:
        # before the snapshot's transaction: a group may store a model version (clv).
        # The population's rows stay in the engine; the group sees its required columns.
        _run(con, f"CREATE OR REPLACE TEMP TABLE _snapshot_rows AS {sql}")
        source = "_snapshot_rows"
        needed = ["client_id"] + [
            n for g in post for r in g.requires if r in GROUPS
            for s in GROUPS[r].sets for _f, n, _e in s.columns(params)
        ]
        cols = ", ".join(dict.fromkeys(needed))
        frame = con.execute(f"SELECT {cols} FROM {source} ORDER BY client_id").df()
        extra = None
        context = PostEngineContext(as_of=day, warehouse=warehouse)
        for group in post:
            added = _join_post(frame, group, params, context)
            cols = ["client_id", *added.columns[frame.shape[1]:]]
            extra = added[cols] if extra is None else extra.merge(added[cols], on="client_id")
            frame = added
        # joined as the snapshot is inserted (registered until then), not materialised
        con.register("_snapshot_post", pa.Table.from_pandas(extra, preserve_index=False))
        source = (
            "(SELECT r.*, " + ", ".join(f'p."{c}"' for c in extra.columns[1:])
            + " FROM _snapshot_rows AS r LEFT JOIN _snapshot_post AS p USING (client_id))"
        )
    timings["compute_s"] = time.perf_counter() - t0
    try:
        rows, columns = _store(warehouse, source, day)
    finally:
        if post:
            con.unregister("_snapshot_post")
            _run(con, "DROP TABLE IF EXISTS _snapshot_rows")
    timings["store_s"] = time.perf_counter() - t0 - timings["compute_s"]
    notes = [
        f"skipped feature group {g}: {why}"
        for g, why in skipped_groups(DuckDBEngine(con), config).items()
    ] + [str(c) for c in params.get("caps", [])]
    return SnapshotResult(day, rows, columns, mode, timings, notes)


def _store(warehouse: Any, source: str, day: dt.date) -> tuple[int, list[str]]:
    """Insert the rows of ``source`` as the snapshot of ``day`` (replacing it), atomically."""
    con = warehouse.con
    described = con.sql(f"SELECT * FROM {source}")
    columns, types = described.columns, [str(t) for t in described.types]
    if not DuckDBEngine(con).has_table(SNAPSHOT_TABLE):
        # created (empty) in its own transaction: DuckDB 2.0 loses the statistics of a
        # large insert into a table created in the same transaction, and filtered or
        # grouped reads then see no rows (count(*) still does); see tests/features
        _run(
            con,
            f"CREATE TABLE {SNAPSHOT_TABLE} AS SELECT client_id, DATE '{day}' AS as_of, "
            f"* EXCLUDE (client_id) FROM {source} LIMIT 0",
        )
    with warehouse.transaction():
        existing = {
            r[0]
            for r in _run(
                con,
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ?",
                [SNAPSHOT_TABLE],
            )
        }
        for name, dtype in zip(columns, types, strict=True):
            if name not in existing:  # a new top category: earlier snapshots read null
                _run(con, f'ALTER TABLE {SNAPSHOT_TABLE} ADD COLUMN "{name}" {dtype}')
        _run(con, f"DELETE FROM {SNAPSHOT_TABLE} WHERE as_of = ?", [day])
        rows = _run(
            con,
            f"INSERT INTO {SNAPSHOT_TABLE} BY NAME SELECT *, DATE '{day}' AS as_of FROM {source}",
        )[0][0]
    return int(rows), list(columns)


def refresh_state(
    warehouse: Any,
    config: FeaturesConfig | None = None,
    *,
    mode: str | None = None,
    appended: str | None = None,
    events_mode: str | None = None,
    events_appended: str | None = None,
    build: bool = False,
) -> str:
    """Bring the incremental state in step with ``transactions`` and ``engagement``.

    ``mode`` is how the ingest loaded the transactions: ``"unchanged"`` leaves a state in
    sync as it is; ``"appended"`` folds the rows in the table ``appended`` (exactly those
    appended since the state was last in sync); anything else (``"reloaded"``, or None
    for an unknown change) rebuilds it, since a reload may change rows without changing
    their count. Without an ingest (``mode`` None and nothing appended) a state in sync
    is kept. ``events_mode`` and ``events_appended`` do the same for the engagement
    events, whose part of the state is rebuilt alone (a reload or an edit of
    ``engagement``, or engagement ingested for the first time). A missing state is built
    only with ``build``. Returns what changed most: ``"in_sync"``, ``"folded"``,
    ``"rebuilt"`` (either part), ``"built"`` or ``"absent"``.

    Without a reload, each part is checked against its table's count and the exact sums of
    its timestamps (and the transactions' amounts): rows edited in place in the warehouse
    are caught, and that part rebuilt.
    """
    status = state_status(
        warehouse, verify=mode in (None, "unchanged"),
        verify_events=events_mode in (None, "unchanged"),
    )
    if status is None:
        if not build or not warehouse.has_table("transactions"):
            return "absent"
        build_state(warehouse, config)
        return "built"
    done = _refresh_part(
        warehouse, status["in_sync"], status["n_transactions"], "transactions", mode, appended
    )
    if done == "rebuilt":
        log.info("transactions were reloaded: rebuilding the incremental feature state")
        build_state(warehouse, config)  # both parts
        return done
    if done == "folded":
        fold(warehouse, appended, append=False)
    events = _refresh_part(
        warehouse, status["events_in_sync"], status["n_events"], "engagement", events_mode,
        events_appended,
    )
    if events == "folded":
        fold_events(warehouse, events_appended, append=False)
    elif events == "rebuilt":
        log.info("engagement changed: rebuilding the engagement part of the feature state")
        build_event_state(warehouse)
    order = ("in_sync", "folded", "rebuilt")
    return max(done, events, key=order.index)


def _refresh_part(
    warehouse: Any, in_sync: bool, n_state: int, table: str, mode: str | None,
    appended: str | None,
) -> str:
    """What one part of the state needs: ``"in_sync"``, ``"folded"`` or ``"rebuilt"``."""
    if mode == "appended" and appended is not None and warehouse.has_table(appended):
        n = _run(warehouse.con, f"SELECT count(*) FROM {appended}")[0][0]
        actual = _run(warehouse.con, f"SELECT count(*) FROM {table}")[0][0]
        return "folded" if actual == n_state + n else "rebuilt"
    if in_sync and mode in (None, "unchanged"):
        return "in_sync"
    return "rebuilt"
