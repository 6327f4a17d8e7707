"""Engines: the same definitions give the same numbers on DuckDB and Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.errors import UnsupportedOperationError
from segmint.features import (
    DuckDBEngine,
    SparkEngine,
    compute_features,
    spark_engine_from_warehouse,
)
from segmint.store import Warehouse

GENERATE = [
    """CREATE TABLE clients AS
    SELECT 'c' || lpad(CAST(i AS VARCHAR), 3, '0') AS client_id,
        CASE WHEN i % 11 = 0 THEN NULL ELSE DATE '2022-01-01' + CAST(i * 4 AS INTEGER) END AS onboarded_at,
        NULL::INTEGER AS birth_year, NULL AS gender, NULL AS region, NULL AS occupation,
        NULL AS income_band, FALSE AS is_business, NULL AS home_channel, FALSE AS is_stub
    FROM range(240) t(i)""",
    """CREATE TABLE transactions AS
    SELECT 't' || i AS transaction_id,
        'c' || lpad(CAST(hash(i, 1) % 220 AS VARCHAR), 3, '0') AS client_id,
        TIMESTAMP '2022-06-01' + INTERVAL (CAST(hash(i, 2) % (720 * 86400) AS BIGINT)) SECOND AS ts,
        CASE WHEN hash(i, 3) % 20 = 0 THEN -1 ELSE 1 END * round((hash(i, 4) % 50000) / 100.0, 2)
            AS amount,
        'EUR' AS currency,
        ['food', 'travel', 'Home & Garden', 'fuel', NULL, 'books'][CAST(hash(i, 5) % 6 AS INT) + 1]
            AS category,
        ['web', 'pos', 'mobile', NULL][CAST(hash(i, 6) % 4 AS INT) + 1] AS channel,
        CASE WHEN hash(i, 7) % 9 = 0 THEN NULL ELSE hash(i, 7) % 5 = 0 END AS is_promotion,
        FALSE AS is_refund
    FROM range(6000) t(i)""",
    """CREATE TABLE engagement AS
    SELECT 'c' || lpad(CAST(hash(i, 8) % 200 AS VARCHAR), 3, '0') AS client_id,
        TIMESTAMP '2023-06-01' + INTERVAL (CAST(hash(i, 9) % (300 * 86400) AS BIGINT)) SECOND AS ts,
        ['web', 'app', 'email', 'phone'][CAST(hash(i, 10) % 4 AS INT) + 1] AS channel,
        'login' AS event_type
    FROM range(3000) t(i)""",
    """CREATE TABLE holdings AS
    SELECT 'c' || lpad(CAST(i // 2 AS VARCHAR), 3, '0') AS client_id, 'p' || i AS product_id,
        NULL AS product, ['card', 'loan', 'savings'][CAST(hash(i, 11) % 3 AS INT) + 1] AS product_type,
        DATE '2020-01-01' + CAST(hash(i, 12) % 1500 AS INTEGER) AS opened_at,
        CASE WHEN i % 7 = 0 THEN DATE '2023-01-01' END AS closed_at,
        round((hash(i, 13) % 20000) / 10.0 - 500, 1) AS balance
    FROM range(400) t(i)""",
    """CREATE TABLE profitability AS
    SELECT 'c' || lpad(CAST(i // 18 AS VARCHAR), 3, '0') AS client_id,
        DATE '2022-10-01' + INTERVAL (CAST(i % 18 AS INTEGER)) MONTH AS period,
        (hash(i, 14) % 1000) / 10.0 AS revenue, (hash(i, 15) % 300) / 10.0 AS cost
    FROM range(3600) t(i)""",
    "UPDATE transactions SET is_refund = amount < 0",
]


@pytest.fixture(scope="module")
def generated():
    wh = Warehouse(":memory:")
    for sql in GENERATE:
        wh.con.execute(sql).fetchall()
    yield wh
    wh.close()


def assert_same_features(left: pd.DataFrame, right: pd.DataFrame) -> None:
    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right)
    for col in left.columns:
        a, b = left[col].to_numpy(), right[col].to_numpy()
        if left[col].dtype.kind == "f":
            assert right[col].dtype.kind == "f", col
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=col)
        else:
            assert left[col].dtype == right[col].dtype, col
            assert (a == b).all(), col


@pytest.mark.slow
@pytest.mark.spark
def test_duckdb_and_spark_agree_on_generated_data(generated, spark):
    as_of = "2024-01-15"
    duck = compute_features(DuckDBEngine(generated.con), as_of)
    sparked = compute_features(spark_engine_from_warehouse(spark, generated), as_of)
    assert 150 < len(duck) < 240  # some clients onboarded after as_of
    assert duck.shape[1] >= 55  # every group, many expanded columns
    assert_same_features(duck, sparked)


def test_unknown_function_is_named():
    engine = SparkEngine(spark=None)  # translation needs no session
    with pytest.raises(UnsupportedOperationError, match="LIST_REDUCE"):
        engine.translate("SELECT list_reduce(x, (a, b) -> a + b) FROM t")
    with pytest.raises(UnsupportedOperationError, match="ASOF"):
        engine.translate("SELECT * FROM a ASOF JOIN b ON a.ts >= b.ts")
    with pytest.raises(UnsupportedOperationError, match="spark"):
        engine.translate("SELECT arg_max(a, b, 3) FROM t")


def test_spark_translation_keeps_duckdb_semantics():
    sql = SparkEngine(spark=None).translate("SELECT isodow(ts), dayofweek(ts), AVG(1.0) FROM t")
    assert "((DAYOFWEEK(ts) + 5) % 7) + 1" in sql  # ISO: Monday 1 .. Sunday 7
    assert "DAYOFWEEK(ts) - 1" in sql  # DuckDB: Sunday 0
    assert "CAST(1.0 AS DOUBLE)" in sql  # not DECIMAL


def test_duckdb_runs_definitions_unchanged(generated):
    engine = DuckDBEngine(generated.con)
    assert engine.translate("SELECT isodow(ts) FROM t") == "SELECT isodow(ts) FROM t"
    assert engine.has_table("transactions") and not engine.has_table("labels")
