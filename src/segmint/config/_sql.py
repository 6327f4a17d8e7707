"""User SQL in the project file is an expression, never a statement.

``{sql: ...}`` columns, ``where:`` filters and rule ``when:`` conditions are parsed
with SQLGlot (DuckDB dialect) when the project file is loaded. Only a single
expression over the row's own columns is accepted: no statement (``COPY``,
``ATTACH``, ``INSTALL``, ``CREATE``, ``SET``...), no query or subquery, no table
reference, no table function (``read_csv``, ``read_text``, ``glob``...), no
``COLUMNS(...)`` or ``*`` expansion, no parameter placeholder. Ingestion then runs the
expression re-generated from its parse tree (never the text as written), on a
connection whose external access is disabled (see ``segmint.sources``).
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp

# node types that make an expression read or do more than the row it is given
_REFUSED: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.Query, "a query (SELECT)"),
    (exp.Subquery, "a subquery"),
    (exp.Exists, "a subquery (EXISTS)"),
    (exp.Table, "a table reference"),
    (exp.From, "a FROM clause"),
    (exp.Join, "a JOIN"),
    (exp.Columns, "COLUMNS(...)"),
    (exp.Star, "a * expansion"),
    (exp.Placeholder, "a parameter placeholder"),
    (exp.Parameter, "a parameter"),
    (exp.SessionParameter, "a session parameter"),
    (exp.Command, "a statement"),
    (exp.DDL, "a statement"),
    (exp.DML, "a statement"),
    (exp.Copy, "a statement (COPY)"),
    (exp.Attach, "a statement (ATTACH)"),
    (exp.Detach, "a statement (DETACH)"),
    (exp.Install, "a statement (INSTALL)"),
    (exp.Set, "a statement (SET)"),
    (exp.Pragma, "a statement (PRAGMA)"),
    (exp.Use, "a statement (USE)"),
    (exp.Describe, "a statement (DESCRIBE)"),
    (exp.Transaction, "a statement (transaction)"),
    (exp.Commit, "a statement (COMMIT)"),
    (exp.Rollback, "a statement (ROLLBACK)"),
)

# functions that reach outside the row (the environment, other queries) although they
# are not table functions
_REFUSED_FUNCTIONS = {"getenv", "query", "query_table", "columns", "json_execute_serialized_sql"}


@lru_cache(maxsize=1)
def _table_functions() -> frozenset[str]:
    """DuckDB's table and pragma functions that are not also scalar or aggregate ones."""
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT function_name, bool_or(function_type IN ('table', 'table_macro', 'pragma')), "
            "bool_or(function_type IN ('scalar', 'aggregate', 'macro', 'window')) "
            "FROM duckdb_functions() GROUP BY 1"
        ).fetchall()
    finally:
        con.close()
    return frozenset(str(n).lower() for n, table, scalar in rows if table and not scalar)


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def check_expression(sql: str, *, what: str = "expression") -> str:
    """Check that ``sql`` is one SQL expression over the row's columns (see
    :func:`parse_expression`); returns ``sql`` unchanged."""
    parse_expression(sql, what=what)
    return sql


def parse_expression(sql: str, *, what: str = "expression") -> exp.Expression:
    """Parse ``sql`` as one SQL expression over the row's columns.

    Parameters
    ----------
    sql : str
        The expression as written in the project file.
    what : str
        What the expression is, for the message (e.g. ``"derived column"``).

    Returns
    -------
    sqlglot.exp.Expression
        The parse tree (ingestion re-generates the SQL from it, never the text).

    Raises
    ------
    ValueError
        The text does not parse, holds more than one statement, or uses a construct
        that is not an expression over the row (the message names the construct).
    """
    if not sql.strip():
        raise ValueError(f"empty {what}")
    try:
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"cannot parse {what} {sql!r}: {first}") from None
    if len(trees) != 1:
        raise ValueError(f"{what} {sql!r} must be one expression, not {len(trees)} statements")
    tree = trees[0]
    for node in tree.walk():
        if isinstance(node, exp.Star) and isinstance(node.parent, exp.Count):
            continue  # count(*)
        for kind, label in _REFUSED:
            if isinstance(node, kind):
                raise ValueError(
                    f"{what} {sql!r} must be an expression over the row's columns; "
                    f"{label} is not allowed"
                )
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if name in _REFUSED_FUNCTIONS or name in _table_functions():
                raise ValueError(
                    f"{what} {sql!r} must be an expression over the row's columns; "
                    f"function {name}() is not allowed"
                )
    if not isinstance(tree, exp.Condition):
        raise ValueError(f"{what} {sql!r} is not an expression ({type(tree).__name__})")
    return tree
