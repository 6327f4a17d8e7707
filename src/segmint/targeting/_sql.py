"""User expressions and the per-client selection frame the targeting stage reads.

Conditions in ``audiences:`` and ``nbo.offers`` are SQL expressions over the columns of
the *selection base*: the ``features`` snapshot of the as_of, plus one column
``propensity_<model>`` per model of the ``scores`` table (when it exists and the
features do not already carry the column). An expression is parsed with SQLGlot and
must be one expression over those columns (no statement, query, table, or function
that reads outside the row); it runs as re-generated from its parse tree.
"""

from __future__ import annotations

import datetime as dt
import difflib

import duckdb
import sqlglot
from sqlglot import exp

from segmint.config._sql import check_expression
from segmint.errors import ConfigError, FeatureError, WarehouseError
from segmint.segmentation import FEATURES
from segmint.segmentation._preprocess import quote
from segmint.sources._schema import protected_columns

SCORES = "scores"
BASE = "_targeting_base"

def compile_expression(text: str, columns: set[str], *, where: str) -> str:
    """Check ``text`` is one boolean/numeric expression over ``columns``; its DuckDB SQL.

    Raises
    ------
    ConfigError
        Not parseable, or a statement / query / table / file-reading function.
    FeatureError
        A column that is not in ``columns`` (with close matches).
    """
    try:
        check_expression(text, what="expression")
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    tree = sqlglot.parse_one(text, read="duckdb")
    for col in tree.find_all(exp.Column):
        if col.table or col.name not in columns:
            close = difflib.get_close_matches(col.name, sorted(columns), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise FeatureError(
                f"{where}: unknown column {col.sql()!r} in {text!r} (not a feature or score)"
                + hint
            )
    return tree.sql(dialect="duckdb")


def latest_features_as_of(con: duckdb.DuckDBPyConnection) -> dt.date:
    row = con.execute(f"SELECT max(as_of) FROM {FEATURES}").fetchone()
    if row is None or row[0] is None:
        raise WarehouseError(f"table {FEATURES} is empty; compute features first")
    return row[0]


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [table]
    ).fetchone()[0])  # type: ignore[index]


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


def build_base(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> set[str]:
    """Create the temp table ``_targeting_base`` (features + scores of ``as_of``); its columns.

    Score models become columns ``propensity_<model>`` (the latest version scored at
    ``as_of``), unless the features already have that column.
    """
    if not _has(con, FEATURES):
        raise WarehouseError(f"missing table {FEATURES}; compute features first (`segmint features`)")
    n = con.execute(f"SELECT count(*) FROM {FEATURES} WHERE as_of = ?", [as_of]).fetchone()[0]  # type: ignore[index]
    if not n:
        raise WarehouseError(f"no features snapshot at {as_of} (run `segmint features --as-of {as_of}`)")
    fcols = table_columns(con, FEATURES)
    extra, joins = "", ""
    if _has(con, SCORES):
        models = [r[0] for r in con.execute(
            f"SELECT DISTINCT model FROM {SCORES} WHERE as_of = ? ORDER BY 1", [as_of]
        ).fetchall()]
        wanted = [m for m in models if f"propensity_{m}" not in fcols]
        if wanted:
            pivots = ", ".join(
                f"arg_max(score, version) FILTER (WHERE model = '{m.replace(chr(39), chr(39) * 2)}') "
                f"AS {quote('propensity_' + m)}"
                for m in wanted
            )
            extra = ", " + ", ".join(f"s.{quote('propensity_' + m)}" for m in wanted)
            joins = (
                f" LEFT JOIN (SELECT client_id, {pivots} FROM {SCORES} "
                f"WHERE as_of = DATE '{as_of.isoformat()}' GROUP BY client_id) AS s "
                "USING (client_id)"
            )
    # client attributes (e.g. a consent flag), never the protected ones
    ccols = set(table_columns(con, "clients")) if _has(con, "clients") else set()
    ccols -= set(fcols) | protected_columns() | {"is_stub"}
    cextra = "".join(f", c.{quote(c)}" for c in sorted(ccols))
    cjoin = " LEFT JOIN clients AS c USING (client_id)" if cextra else ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {BASE} AS SELECT f.*{extra}{cextra} "
        f"FROM {FEATURES} AS f{joins}{cjoin} WHERE f.as_of = DATE '{as_of.isoformat()}'"
    )
    return set(table_columns(con, BASE))
