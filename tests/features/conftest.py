"""Warehouses built directly with DuckDB, as ingestion writes them (canonical columns)."""

from __future__ import annotations

import pandas as pd
import pytest

from segmint.sources import ENTITIES
from segmint.store import Warehouse


def load_tables(wh: Warehouse, **frames: pd.DataFrame) -> Warehouse:
    """Create each canonical table with exactly its schema, filled from a frame by name."""
    for name, frame in frames.items():
        cols = ", ".join(f'"{c.name}" {c.type}' for c in ENTITIES[name].columns)
        wh.con.execute(f"CREATE OR REPLACE TABLE {name} ({cols})").fetchall()
        if len(frame):
            wh.con.register("_frame", frame)
            wh.con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _frame").fetchall()
            wh.con.unregister("_frame")
    return wh


def tx_frame(rows: list[tuple], **extra_cols) -> pd.DataFrame:
    """Transactions from (client_id, ts, amount[, category, channel, is_promotion]) tuples."""
    names = ["client_id", "ts", "amount", "category", "channel", "is_promotion"]
    frame = pd.DataFrame([r + (None,) * (6 - len(r)) for r in rows], columns=names)
    frame["ts"] = pd.to_datetime(frame["ts"], format="ISO8601")
    frame["amount"] = frame["amount"].astype(float)
    frame["transaction_id"] = [f"t{i}" for i in range(len(frame))]
    frame["is_refund"] = frame["amount"] < 0
    for k, v in extra_cols.items():
        frame[k] = v
    return frame


def clients_frame(ids, onboarded=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": list(ids),
            "onboarded_at": pd.to_datetime(onboarded if onboarded is not None else [None] * len(ids)),
        }
    )


@pytest.fixture
def warehouse():
    wh = Warehouse(":memory:")
    yield wh
    wh.close()


@pytest.fixture(scope="session")
def spark():
    """A small local Spark session shared by every Spark test (UTC, one shuffle partition)."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("segmint-tests")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        # tiny data: code generation and adaptive planning cost more than they save
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(
    params=["duckdb", pytest.param("spark", marks=[pytest.mark.slow, pytest.mark.spark])]
)
def engine_for(request):
    """The conformance suite: each test using this runs on every engine."""
    from segmint.features import DuckDBEngine, spark_engine_from_warehouse

    if request.param == "duckdb":
        return lambda wh: DuckDBEngine(wh.con)
    session = request.getfixturevalue("spark")
    return lambda wh: spark_engine_from_warehouse(session, wh)
