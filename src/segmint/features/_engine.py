"""Engines that run the feature SQL. Every dialect difference lives in this module.

Feature definitions are written once in DuckDB's dialect. :class:`DuckDBEngine` runs
them as they are; :class:`SparkEngine` transpiles them with SQLGlot to Spark SQL and
runs them on a ``SparkSession`` whose temp views hold the canonical tables
(:func:`spark_engine_from_warehouse` loads them from a warehouse through Arrow).
An operation an engine cannot run raises :class:`~segmint.errors.UnsupportedOperationError`
naming it, before anything is executed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlglot
from sqlglot.errors import ErrorLevel, UnsupportedError

from segmint._typing import EngineName
from segmint.errors import MissingDependencyError, UnsupportedOperationError

if TYPE_CHECKING:
    import duckdb

    from segmint.store import Warehouse

class Engine(ABC):
    """Runs feature SQL (DuckDB dialect) and returns Arrow tables."""

    name: EngineName

    @abstractmethod
    def has_table(self, table: str) -> bool:
        """Whether a canonical table (or view) is available."""

    @abstractmethod
    def _run(self, sql: str) -> pa.Table: ...

    def translate(self, sql: str) -> str:
        """The engine's SQL for a DuckDB-dialect query (raises if it cannot run it)."""
        return sql

    def has_rows(self, table: str) -> bool:
        """Whether a table holds at least one row."""
        return self.execute(f"SELECT 1 AS x FROM {table} LIMIT 1").num_rows > 0

    def execute(self, sql: str) -> pa.Table:
        """Translate and run a DuckDB-dialect query."""
        return self._run(self.translate(sql))


class DuckDBEngine(Engine):
    """The embedded default: a DuckDB connection holding the canonical tables."""

    name: EngineName = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def has_table(self, table: str) -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
            "UNION ALL SELECT count(*) FROM duckdb_views() WHERE view_name = ?",
            [table, table],
        ).fetchall()
        return any(r[0] for r in row)

    def _run(self, sql: str) -> pa.Table:
        return _arrow(self.con.sql(sql))


class SparkEngine(Engine):
    """PySpark: the same definitions, transpiled to Spark SQL with SQLGlot.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        A session where the canonical tables are tables or temp views. Use
        ``spark.sql.session.timeZone=UTC`` so that timestamps are not shifted.
    """

    name: EngineName = "spark"

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def has_table(self, table: str) -> bool:
        return bool(self.spark.catalog.tableExists(table))

    def translate(self, sql: str) -> str:
        tree = sqlglot.parse_one(sql, read="duckdb")
        _check_translatable(tree)
        tree = tree.transform(_to_spark_semantics)
        try:
            return tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError as exc:
            raise UnsupportedOperationError(f"engine 'spark' cannot run: {exc}") from None

    def _run(self, sql: str) -> pa.Table:
        return self.spark.sql(sql).toArrow()


def _check_translatable(tree: sqlglot.exp.Expression) -> None:
    # SQLGlot passes functions it does not know through unchanged, and the target engine
    # would fail later with its own message (or worse, run a homonym). Refuse them here.
    for node in tree.find_all(sqlglot.exp.Anonymous):
        raise UnsupportedOperationError(
            f"engine 'spark' cannot run the DuckDB function {node.name.upper()}()"
        )
    for join in tree.find_all(sqlglot.exp.Join):
        if str(join.args.get("method") or "").upper() == "ASOF":
            raise UnsupportedOperationError("engine 'spark' cannot run an ASOF JOIN")


def _to_spark_semantics(node: sqlglot.exp.Expression) -> sqlglot.exp.Expression:
    """Rewrite DuckDB constructs whose SQLGlot translation changes the numbers on Spark."""
    exp = sqlglot.exp
    if isinstance(node, exp.Literal) and not node.is_string and "." in node.this:
        # Spark reads 1.0 as DECIMAL and keeps AVG/division in decimal (5-6 digits);
        # DuckDB computes them in DOUBLE. Make such literals DOUBLE.
        return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
    if isinstance(node, exp.Div) and not isinstance(node.this, exp.Cast):
        # DuckDB's / is always DOUBLE division; Spark keeps DECIMAL / DECIMAL in decimal
        # (the catalog sums amounts as DECIMAL(38, 6): means would be cut to 6 places).
        # set in place: a returned new node would not be descended into (nested divisions)
        node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")))
        return node
    if isinstance(node, exp.DayOfWeekIso | exp.DayOfWeek):
        # Spark's DAYOFWEEK is 1 = Sunday .. 7 = Saturday; SQLGlot 30 maps ISODOW wrongly.
        arg = node.this.sql(dialect="spark")
        shift = "((DAYOFWEEK({0}) + 5) % 7) + 1" if isinstance(node, exp.DayOfWeekIso) else (
            "DAYOFWEEK({0}) - 1"  # DuckDB's dayofweek: 0 = Sunday
        )
        return exp.Paren(this=sqlglot.parse_one(shift.format(arg), read="spark"))
    return node


def spark_engine_from_warehouse(
    spark: Any, warehouse: Warehouse, tables: Iterable[str] | None = None
) -> SparkEngine:
    """Load the warehouse's canonical tables into Spark temp views; return the engine.

    Meant for tests and for moving a small warehouse to Spark; a real Spark deployment
    registers its own tables under the canonical names and builds ``SparkEngine(spark)``.
    """
    from segmint.sources import ATTRIBUTE_CATALOG, ENTITIES

    source = DuckDBEngine(warehouse.con)
    for table in tables if tables is not None else [*ENTITIES, ATTRIBUTE_CATALOG]:
        if source.has_table(table):
            arrow = _arrow(warehouse.con.sql(f"SELECT * FROM {table}"))
            if arrow.num_rows:
                frame = spark.createDataFrame(arrow.to_pandas())
            else:  # Spark cannot infer a schema from no rows: give it the table's
                from pyspark.sql.pandas.types import from_arrow_schema

                frame = spark.createDataFrame([], from_arrow_schema(arrow.schema))
            frame.createOrReplaceTempView(table)
        else:  # the engine mirrors the warehouse: no stale view from an earlier load
            spark.catalog.dropTempView(table)
    return SparkEngine(spark)


def require_pyspark() -> None:
    """Raise :class:`MissingDependencyError` when PySpark is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise MissingDependencyError("pyspark", "spark") from None


def _arrow(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    # DuckDB >= 1.4 names it to_arrow_table; earlier versions return a Table from arrow().
    if hasattr(relation, "to_arrow_table"):
        return relation.to_arrow_table()
    return relation.arrow()
