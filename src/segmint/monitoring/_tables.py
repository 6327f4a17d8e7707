"""The monitoring tables: one set of rows per update cycle, keyed by the cycle's as_of."""

from __future__ import annotations

import duckdb

CYCLES = "monitoring_cycles"
HISTORY = "segment_history"
MIGRATION = "segment_migration"
STABILITY = "segment_stability"
SHARES = "segment_shares"
DRIFT = "feature_drift"
ALERTS = "alerts"

#: tables whose rows belong to one cycle (deleted and rewritten when a cycle is re-run)
PER_CYCLE = (CYCLES, MIGRATION, STABILITY, SHARES, DRIFT, ALERTS)

DDL = {
    CYCLES: """
        cycle_id VARCHAR NOT NULL, as_of DATE NOT NULL, previous_as_of DATE,
        started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL,
        refitted VARCHAR[], clients BIGINT, changes BIGINT, alerts BIGINT,
        webhook VARCHAR, counts JSON, detail VARCHAR""",
    HISTORY: """
        client_id VARCHAR NOT NULL, dimension VARCHAR NOT NULL, segment_id VARCHAR NOT NULL,
        segment_name VARCHAR NOT NULL, model_version INTEGER NOT NULL,
        valid_from DATE NOT NULL, valid_to DATE, source VARCHAR NOT NULL DEFAULT 'cycle'""",
    MIGRATION: """
        cycle_id VARCHAR NOT NULL, as_of DATE NOT NULL, previous_as_of DATE NOT NULL,
        dimension VARCHAR NOT NULL, from_segment VARCHAR NOT NULL, from_name VARCHAR NOT NULL,
        to_segment VARCHAR NOT NULL, to_name VARCHAR NOT NULL, clients BIGINT NOT NULL,
        rate DOUBLE NOT NULL, direction VARCHAR""",
    STABILITY: """
        cycle_id VARCHAR NOT NULL, as_of DATE NOT NULL, dimension VARCHAR NOT NULL,
        model_version INTEGER NOT NULL, reference_as_of DATE, clients BIGINT NOT NULL,
        compared BIGINT, reclassified BIGINT, reclassification_rate DOUBLE, ari DOUBLE,
        upward BIGINT, downward BIGINT, stable_core BIGINT, max_share_change DOUBLE,
        share_psi DOUBLE, max_centroid_shift DOUBLE""",
    SHARES: """
        cycle_id VARCHAR NOT NULL, as_of DATE NOT NULL, dimension VARCHAR NOT NULL,
        segment_id VARCHAR NOT NULL, segment_name VARCHAR NOT NULL, clients BIGINT NOT NULL,
        share DOUBLE NOT NULL, previous_share DOUBLE, share_change DOUBLE,
        centroid_shift DOUBLE""",
    DRIFT: """
        cycle_id VARCHAR NOT NULL, as_of DATE NOT NULL, reference_as_of DATE NOT NULL,
        feature VARCHAR NOT NULL, kind VARCHAR NOT NULL, bins INTEGER NOT NULL,
        psi DOUBLE NOT NULL, band VARCHAR NOT NULL, test VARCHAR NOT NULL,
        statistic DOUBLE, p_value DOUBLE, reference_mean DOUBLE, current_mean DOUBLE""",
    ALERTS: """
        cycle_id VARCHAR NOT NULL, as_of DATE NOT NULL, rule VARCHAR NOT NULL,
        severity VARCHAR NOT NULL, dimension VARCHAR, feature VARCHAR, segment_id VARCHAR,
        value DOUBLE, threshold DOUBLE, message VARCHAR NOT NULL""",
}


#: who opened a ``segment_history`` spell: an update cycle, or event re-scoring
HISTORY_SOURCES = ("cycle", "event")


def ensure_history(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``segment_history``, or add the ``source`` column to one written before it
    existed (its spells then count as the cycles')."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {HISTORY} ({DDL[HISTORY]})").fetchall()
    con.execute(
        f"ALTER TABLE {HISTORY} ADD COLUMN IF NOT EXISTS source VARCHAR DEFAULT 'cycle'"
    ).fetchall()


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name, cols in DDL.items():
        if name == HISTORY:
            ensure_history(con)
        else:
            con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")
