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

from segmint.errors import ConfigError, FeatureError, WarehouseError
from segmint.segmentation import FEATURES
from segmint.segmentation._preprocess import quote
from segmint.sources._schema import protected_columns

SCORES = "scores"
BASE = "_targeting_base"

_REFUSED = (
    exp.Query, exp.Subquery, exp.Exists, exp.Table, exp.From, exp.Join, exp.Star,
    exp.Placeholder, exp.Parameter, exp.Command, exp.DDL, exp.DML, exp.Copy, exp.Set,
    exp.Pragma, exp.Use, exp.Describe, exp.Transaction,
)
_REFUSED_FUNCTIONS = {"getenv", "query", "query_table", "glob", "read_csv", "read_csv_auto",
                      "read_parquet", "read_json", "read_json_auto", "read_text", "read_blob",
                      "parquet_scan", "sniff_csv"}


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
        trees = [t for t in sqlglot.parse(text, read="duckdb") if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise ConfigError(f"{where}: cannot parse {text!r}: {str(exc).splitlines()[0]}") from None
    if len(trees) != 1:
        raise ConfigError(f"{where}: {text!r} must be one expression")
    tree = trees[0]
    for node in tree.walk():
        if isinstance(node, _REFUSED) or (
            isinstance(node, exp.Func) and _fname(node) in _REFUSED_FUNCTIONS
        ):
            raise ConfigError(
                f"{where}: {text!r} must be an expression over features and scores, "
                f"not {type(node).__name__.lower()}"
            )
    if not isinstance(tree, exp.Condition):
        raise ConfigError(f"{where}: {text!r} is not an expression")
    for col in tree.find_all(exp.Column):
        if col.table or col.name not in columns:
            close = difflib.get_close_matches(col.name, sorted(columns), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise FeatureError(
                f"{where}: unknown column {col.sql()!r} in {text!r} (not a feature or score)"
                + hint
            )
    return tree.sql(dialect="duckdb")


def _fname(node: exp.Func) -> str:
    return str(node.name).lower() if isinstance(node, exp.Anonymous) else node.sql_name().lower()


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
