"""Event triggers: store events, find the clients a rule marks, re-score them now.

:func:`ingest_events` reads a CSV/Parquet file of events (``client_id, ts, event_type``
and payload columns such as ``balance``, ``product_type``), appends them to the table
``events``, evaluates the project's ``events:`` rules and re-scores the clients they mark
(:func:`rescore`): their features are recomputed from the incremental feature state
restricted to them, their segments re-assigned with the model versions of the latest
batch assignment (the engine's SQL, on their rows only), and each change recorded in the
type-2 table ``segment_history``.

Rules (see :class:`segmint.config.EventsConfig`):

``balance_crosses``
    an event whose ``balance`` is on the other side of ``threshold`` than the client's
    previous balance: the previous balance event (stored or in the same file, by time),
    else the sum of the balances of the client's open holdings, else 0.
``product_opened``
    an event of type ``product_opened`` (configurable) with a matching ``product_type``.
``engagement_collapse``
    a client whose last engagement (table ``engagement`` and all events) is at least
    ``inactive_days`` old at ``as_of`` but was not at the previous evaluation (the
    previous ``as_of`` in ``event_runs``; the day before on the first run): each client
    triggers once per lapse.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from segmint.config import EventsConfig, FeaturesConfig
from segmint.errors import ColumnNotFoundError, DataError, ParameterError, SourceNotFoundError
from segmint.features import (
    DuckDBEngine,
    build_event_state,
    build_state,
    compute_features,
    state_status,
)
from segmint.features._incremental import compute_incremental
from segmint.monitoring._tables import HISTORY, ensure_history
from segmint.segmentation import apply_segment_names

EVENTS_TABLE = "events"
TRIGGERS_TABLE = "event_triggers"
RUNS_TABLE = "event_runs"
HISTORY_TABLE = HISTORY
ASSIGNMENTS_TABLE = "segment_assignments"
REQUIRED = ("client_id", "ts", "event_type")

_EVENTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (
    client_id VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    event_type VARCHAR NOT NULL,
    balance DOUBLE,
    product_type VARCHAR,
    ingested_at TIMESTAMP NOT NULL
)
"""
_TRIGGERS_DDL = f"""
CREATE TABLE IF NOT EXISTS {TRIGGERS_TABLE} (
    client_id VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    as_of DATE NOT NULL,
    ingested_at TIMESTAMP NOT NULL
)
"""
_RUNS_DDL = f"""
CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
    as_of DATE NOT NULL,
    ingested_at TIMESTAMP NOT NULL,
    n_events BIGINT NOT NULL,
    n_triggered BIGINT NOT NULL
)
"""


@dataclass
class RescoreResult:
    """What :func:`rescore` did.

    Attributes
    ----------
    as_of : date
    features : DataFrame (the clients' recomputed features, as ``compute_features`` gives)
    assignments : DataFrame (client_id, dimension, segment_id, segment_name, model_version,
        as_of, score)
    changes : DataFrame (client_id, dimension, previous_segment_id, segment_id): rows of
        ``segment_history`` opened by this re-scoring
    timings : dict of step -> seconds
    """

    as_of: dt.date
    features: pd.DataFrame
    assignments: pd.DataFrame
    changes: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class EventsResult:
    """What :func:`ingest_events` did: events stored, clients triggered, their re-scoring."""

    as_of: dt.date
    n_events: int
    triggers: pd.DataFrame  # client_id, rule
    rescore: RescoreResult | None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def clients(self) -> list[str]:
        return sorted(self.triggers["client_id"].unique().tolist())


def _run(con: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
    return con.execute(sql, list(params or [])).fetchall()


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def read_events(con: Any, path: str | Path, table: str = "_events_in") -> int:
    """Load an events file into a temp table with the ``events`` columns; returns its rows."""
    path = Path(path)
    if not path.exists():
        raise SourceNotFoundError(f"{path}: events file not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        reader = f"read_parquet({_lit(str(path))})"
    elif suffix in (".csv", ".txt"):
        reader = f"read_csv({_lit(str(path))}, header = true)"
    else:
        raise ParameterError(f"{path}: expected a .csv or .parquet events file")
    columns = [r[0] for r in _run(con, f"DESCRIBE SELECT * FROM {reader}")]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ColumnNotFoundError(
            f"{path}: events need column(s) {', '.join(missing)} "
            f"(found: {', '.join(columns)})"
        )
    balance = "TRY_CAST(balance AS DOUBLE)" if "balance" in columns else "CAST(NULL AS DOUBLE)"
    product = (
        "CAST(product_type AS VARCHAR)" if "product_type" in columns else "CAST(NULL AS VARCHAR)"
    )
    _run(
        con,
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT CAST(client_id AS VARCHAR) AS client_id, "
        "TRY_CAST(ts AS TIMESTAMP) AS ts, CAST(event_type AS VARCHAR) AS event_type, "
        f"{balance} AS balance, {product} AS product_type FROM {reader}",
    )
    bad = _run(
        con,
        f"SELECT count(*) FROM {table} WHERE client_id IS NULL OR ts IS NULL OR event_type IS NULL",
    )[0][0]
    if bad:
        raise DataError(
            f"{path}: {bad} event(s) lack a client_id, a readable ts or an event_type; "
            "nothing was stored"
        )
    return int(_run(con, f"SELECT count(*) FROM {table}")[0][0])


def evaluate_triggers(
    warehouse: Any, rules: EventsConfig, as_of: dt.date, new: str = "_events_in"
) -> pd.DataFrame:
    """Clients marked by each rule: ``client_id, rule`` (one row per client and rule).

    ``new`` is the relation of the events being ingested (not yet in ``events``).
    """
    con = warehouse.con
    parts: list[str] = []
    stored = warehouse.has_table(EVENTS_TABLE)
    end = f"TIMESTAMP '{as_of + dt.timedelta(days=1):%Y-%m-%d} 00:00:00'"
    if rules.balance_crosses is not None:
        r = rules.balance_crosses
        types = (
            f" AND event_type IN ({', '.join(_lit(t) for t in r.event_types)})"
            if r.event_types
            else ""
        )
        old = (
            f"UNION ALL SELECT client_id, ts, balance, FALSE AS is_new, 0 AS seq FROM {EVENTS_TABLE} "
            f"WHERE balance IS NOT NULL{types} "
            f"AND client_id IN (SELECT client_id FROM {new})"
            if stored
            else ""
        )
        held = "SELECT NULL::VARCHAR AS client_id, NULL::DOUBLE AS total WHERE FALSE"
        if warehouse.has_table("holdings"):
            held = (
                "SELECT client_id, SUM(balance) AS total FROM holdings "
                f"WHERE opened_at <= DATE '{as_of}' AND (closed_at IS NULL OR closed_at > DATE '{as_of}') "
                f"AND client_id IN (SELECT client_id FROM {new}) GROUP BY client_id"
            )
        t = repr(float(r.threshold))
        up = f"(prev < {t} AND balance >= {t})"
        down = f"(prev >= {t} AND balance < {t})"
        cross = {"up": up, "down": down, "both": f"({up} OR {down})"}[r.direction]
        parts.append(
            "SELECT DISTINCT client_id, 'balance_crosses' AS rule FROM (\n"
            "  SELECT s.client_id, s.balance, s.is_new,\n"
            "    COALESCE(LAG(s.balance) OVER (PARTITION BY s.client_id ORDER BY s.ts, s.is_new, s.seq),"
            " h.total, 0.0) AS prev\n"
            f"  FROM (SELECT client_id, ts, balance, TRUE AS is_new, row_number() OVER () AS seq "
            f"FROM {new} WHERE balance IS NOT NULL{types} {old}) AS s\n"
            f"  LEFT JOIN ({held}) AS h ON h.client_id = s.client_id\n"
            f") WHERE is_new AND {cross}"
        )
    if rules.product_opened is not None:
        r2 = rules.product_opened
        cond = f"event_type = {_lit(r2.event_type)}"
        kinds = [r2.product_type] if isinstance(r2.product_type, str) else r2.product_type
        if kinds:
            cond += f" AND lower(product_type) IN ({', '.join(_lit(k.lower()) for k in kinds)})"
        parts.append(f"SELECT DISTINCT client_id, 'product_opened' AS rule FROM {new} WHERE {cond}")
    if rules.engagement_collapse is not None:
        n = int(rules.engagement_collapse.inactive_days)
        prev = None
        if warehouse.has_table(RUNS_TABLE):
            prev = _run(con, f"SELECT max(as_of) FROM {RUNS_TABLE} WHERE as_of <= ?", [as_of])[0][0]
        prev = prev or as_of - dt.timedelta(days=1)
        sources = [f"SELECT client_id, ts FROM {new}"]
        if stored:
            sources.append(f"SELECT client_id, ts FROM {EVENTS_TABLE}")
        if warehouse.has_table("engagement"):
            sources.append("SELECT client_id, ts FROM engagement")
        union = " UNION ALL ".join(sources)
        parts.append(
            "SELECT client_id, 'engagement_collapse' AS rule FROM (\n"
            f"  SELECT client_id, CAST(max(ts) AS DATE) AS last_day FROM ({union})\n"
            f"  WHERE ts < {end} GROUP BY client_id)\n"
            f"WHERE date_diff('day', last_day, DATE '{as_of}') >= {n}"
            f" AND date_diff('day', last_day, DATE '{prev}') < {n}"
        )
    if not parts:
        return pd.DataFrame({"client_id": pd.Series(dtype=object), "rule": pd.Series(dtype=object)})
    sql = "\nUNION ALL\n".join(f"({p})" for p in parts) + "\nORDER BY rule, client_id"
    return con.execute(sql).df()


def _current_models(con: Any) -> list[Any]:
    """Model versions of the latest batch assignment (every dimension in use)."""
    from segmint.segmentation._dimension import micro_version
    from segmint.segmentation._registry import load_version

    has = _run(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary",
        [ASSIGNMENTS_TABLE],
    )[0][0]
    if not has:
        return []
    rows = _run(
        con,
        f"SELECT DISTINCT dimension, model_version FROM {ASSIGNMENTS_TABLE} "
        f"WHERE as_of = (SELECT max(as_of) FROM {ASSIGNMENTS_TABLE}) ORDER BY dimension",
    )
    models = []
    for dimension, version in rows:
        mv = load_version(con, dimension, int(version))
        if mv is None and dimension.endswith("_micro"):
            parent = load_version(con, dimension.removesuffix("_micro"), int(version))
            mv = micro_version(parent) if parent is not None and "micro" in parent.params else None
        if mv is not None:
            models.append(mv)
    return models


def rescore(
    warehouse: Any,
    client_ids: Sequence[str],
    as_of: dt.date,
    *,
    features: FeaturesConfig | None = None,
    currency: str = "EUR",
    exclude_learned: str | None = None,
    exclude_all: str | None = None,
) -> RescoreResult:
    """Recompute some clients' features and segments as of a date; record changes.

    Features come from the incremental state restricted to the clients (built first when
    missing or out of date, its engagement part alone when only ``engagement`` is; dates before its last day fall back to a full computation),
    equal to what :func:`~segmint.features.compute_features` gives them. Segments use
    the model versions of the latest batch assignment, through the same SQL the batch
    runs. ``segment_history`` gets a new open row where a client's segment changed (the
    open row is closed at ``as_of``; a row opened the same day is corrected in place).

    ``exclude_learned`` / ``exclude_all``: SQL predicates over ``client_id`` naming the
    clients kept out of learned dimensions / of every dimension, as in the batch
    (governance's consent: :func:`segmint.governance.consent_predicates`).
    """
    from segmint.segmentation._dimension import version_sql

    con = warehouse.con
    timings: dict[str, float] = {}
    ids = sorted({str(c) for c in client_ids})
    t0 = time.perf_counter()
    status = state_status(warehouse)
    if status is None or not status["in_sync"]:
        build_state(warehouse)
        status = state_status(warehouse)
        timings["build_state"] = time.perf_counter() - t0
        t0 = time.perf_counter()
    elif not status["events_in_sync"]:  # engagement changed outside the state: its part only
        build_event_state(warehouse)
        timings["build_state"] = time.perf_counter() - t0
        t0 = time.perf_counter()
    assert status is not None
    if status["last_day"] is not None and as_of < status["last_day"]:
        full = compute_features(
            DuckDBEngine(con), as_of, features, currency=currency, warehouse=warehouse
        )
        frame = full[full["client_id"].isin(ids)].reset_index(drop=True)
    else:
        frame = compute_incremental(warehouse, as_of, features, clients=ids, currency=currency)
    timings["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    con.register("_rescore_frame", frame)
    try:
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE _rescore_features AS "
            f"SELECT *, DATE '{as_of}' AS as_of FROM _rescore_frame",
        )
    finally:
        con.unregister("_rescore_frame")
    models = _current_models(con)
    empty = pd.DataFrame(
        columns=["client_id", "dimension", "previous_segment_id", "segment_id"], dtype=object
    )
    if not models or frame.empty:
        cols = ["client_id", "dimension", "segment_id", "segment_name", "model_version", "as_of", "score"]
        _run(con, "DROP TABLE IF EXISTS _rescore_features")
        return RescoreResult(as_of, frame, pd.DataFrame(columns=cols), empty, timings)
    if exclude_all:
        _run(con, f"DELETE FROM _rescore_features WHERE {exclude_all}")
    learned = "_rescore_features"
    if exclude_learned:
        learned = "_rescore_features_learned"
        _run(con, f"CREATE OR REPLACE TEMP VIEW {learned} AS SELECT * FROM _rescore_features "
                  f"WHERE NOT ({exclude_learned})")
    union = "\nUNION ALL\n".join(
        version_sql(mv, learned if mv.kind == "learned" else "_rescore_features", as_of) for mv in models
    )
    _run(con, f"CREATE OR REPLACE TEMP TABLE _rescore_assign AS {union}")
    _run(con, "DROP VIEW IF EXISTS _rescore_features_learned")
    timings["assign"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    changes = record_history(warehouse, "_rescore_assign", as_of)
    timings["history"] = time.perf_counter() - t0
    assignments = con.execute(
        "SELECT * FROM _rescore_assign ORDER BY dimension, client_id"
    ).df()
    _run(con, "DROP TABLE IF EXISTS _rescore_assign")
    _run(con, "DROP TABLE IF EXISTS _rescore_features")
    return RescoreResult(as_of, frame, assignments, changes, timings)


def record_history(warehouse: Any, assignments: str, as_of: dt.date) -> pd.DataFrame:
    """Apply assignments (a relation with the ``segment_assignments`` columns) to the type-2
    ``segment_history``: only where the segment changed. Returns the changes."""
    con = warehouse.con
    day = f"DATE '{as_of}'"
    with warehouse.transaction():
        ensure_history(con)  # shared with the batch update cycle: one definition, in _tables
        _run(
            con,
            "CREATE OR REPLACE TEMP TABLE _history_changes AS\n"
            "SELECT a.client_id, a.dimension, a.segment_id, a.segment_name, a.model_version,\n"
            "  h.segment_id AS previous_segment_id, h.valid_from AS open_from\n"
            f"FROM {assignments} AS a LEFT JOIN {HISTORY_TABLE} AS h\n"
            "  ON h.client_id = a.client_id AND h.dimension = a.dimension AND h.valid_to IS NULL\n"
            f"WHERE (h.segment_id IS NULL OR h.segment_id <> a.segment_id)"
            f" AND (h.valid_from IS NULL OR h.valid_from <= {day})",
        )
        apply_segment_names(con, ["_history_changes"])  # the catalog's names
        # an interval opened the same day is corrected, not closed empty
        _run(
            con,
            f"UPDATE {HISTORY_TABLE} AS h SET segment_id = c.segment_id, "
            "segment_name = c.segment_name, model_version = c.model_version, source = 'event' "
            "FROM _history_changes AS c WHERE h.client_id = c.client_id "
            f"AND h.dimension = c.dimension AND h.valid_to IS NULL AND h.valid_from = {day}",
        )
        _run(
            con,
            f"UPDATE {HISTORY_TABLE} AS h SET valid_to = {day} FROM _history_changes AS c "
            "WHERE h.client_id = c.client_id AND h.dimension = c.dimension "
            f"AND h.valid_to IS NULL AND h.valid_from < {day}",
        )
        _run(
            con,
            f"INSERT INTO {HISTORY_TABLE} (client_id, dimension, segment_id, segment_name, "
            "model_version, valid_from, valid_to, source) SELECT client_id, dimension, "
            f"segment_id, segment_name, model_version, {day}, NULL, 'event' FROM _history_changes "
            f"WHERE open_from IS NULL OR open_from < {day}",
        )
    out = con.execute(
        "SELECT client_id, dimension, previous_segment_id, segment_id FROM _history_changes "
        "ORDER BY dimension, client_id"
    ).df()
    _run(con, "DROP TABLE IF EXISTS _history_changes")
    return out


def ingest_events(
    warehouse: Any,
    path: str | Path,
    *,
    rules: EventsConfig,
    features: FeaturesConfig | None = None,
    currency: str = "EUR",
    as_of: dt.date | None = None,
    exclude_learned: str | None = None,
    exclude_all: str | None = None,
) -> EventsResult:
    """Store a file of events, evaluate the trigger rules, re-score the marked clients.

    Parameters
    ----------
    warehouse : Warehouse
    path : str or Path
        CSV or Parquet with ``client_id, ts, event_type`` and optional ``balance``,
        ``product_type`` (other columns are ignored).
    rules : EventsConfig
        The project's ``events:`` section.
    features : FeaturesConfig, optional
    currency : str
    as_of : date, optional
        Date of the re-scoring; default: the later of the last event's day and the last
        transaction's day.
    exclude_learned, exclude_all : str, optional
        Consent: clients kept out of learned dimensions / every dimension (:func:`rescore`).

    Returns
    -------
    EventsResult
    """
    con = warehouse.con
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    read_events(con, path)
    if as_of is None:
        last_event = _run(con, "SELECT CAST(max(ts) AS DATE) FROM _events_in")[0][0]
        last_tx = None
        if warehouse.has_table("transactions"):
            last_tx = _run(con, "SELECT CAST(max(ts) AS DATE) FROM transactions")[0][0]
        known = [d for d in (last_event, last_tx) if d is not None]
        if not known:
            raise ParameterError(f"{path}: no events and no transactions; give as_of")
        as_of = max(known)
    if warehouse.has_table(EVENTS_TABLE):
        # a file ingested twice does not count its events twice
        _run(
            con,
            f"DELETE FROM _events_in AS n WHERE EXISTS (SELECT 1 FROM {EVENTS_TABLE} AS e "
            "WHERE e.client_id = n.client_id AND e.ts = n.ts AND e.event_type = n.event_type "
            "AND e.balance IS NOT DISTINCT FROM n.balance "
            "AND e.product_type IS NOT DISTINCT FROM n.product_type)",
        )
    n = int(_run(con, "SELECT count(*) FROM _events_in")[0][0])
    triggers = evaluate_triggers(warehouse, rules, as_of)
    timings["triggers"] = time.perf_counter() - t0
    result = None
    if len(triggers):
        # re-score before storing: a failure leaves nothing half-done, the file can be re-run
        t0 = time.perf_counter()
        result = rescore(
            warehouse, triggers["client_id"].unique().tolist(), as_of,
            features=features, currency=currency,
            exclude_learned=exclude_learned, exclude_all=exclude_all,
        )
        timings["rescore"] = time.perf_counter() - t0
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with warehouse.transaction():
        _run(con, _EVENTS_DDL)
        _run(con, _TRIGGERS_DDL)
        _run(con, _RUNS_DDL)
        _run(con, f"INSERT INTO {EVENTS_TABLE} SELECT *, ? FROM _events_in", [now])
        if len(triggers):
            con.register("_triggers_frame", triggers)
            _run(
                con,
                f"INSERT INTO {TRIGGERS_TABLE} SELECT client_id, rule, ?, ? FROM _triggers_frame",
                [as_of, now],
            )
            con.unregister("_triggers_frame")
        _run(
            con,
            f"INSERT INTO {RUNS_TABLE} VALUES (?, ?, ?, ?)",
            [as_of, now, n, int(triggers["client_id"].nunique())],
        )
    _run(con, "DROP TABLE IF EXISTS _events_in")
    return EventsResult(as_of, n, triggers, result, timings)
