"""A minimal check of user SQL in user-defined features (``features.custom``).

Helper "harden" is writing a shared validator of user SQL for the whole project file;
until it lands this module checks only what user-defined features need: one expression,
parsed by SQLGlot, over the entity's canonical columns, with no query, subquery, table,
window or statement.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

_REFUSED: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.Query, "a query (SELECT)"),
    (exp.Subquery, "a subquery"),
    (exp.Exists, "a subquery (EXISTS)"),
    (exp.Table, "a table reference"),
    (exp.Join, "a JOIN"),
    (exp.Window, "a window function (OVER)"),
    (exp.Placeholder, "a parameter placeholder"),
    (exp.Command, "a statement"),
    (exp.DDL, "a statement"),
    (exp.DML, "a statement"),
)


def parse_user_expression(
    sql: str, *, what: str, columns: set[str], aggregate: bool
) -> exp.Expression:
    """Parse ``sql`` (DuckDB dialect) as one expression over ``columns``.

    ``aggregate``: the expression must hold an aggregate function (an aggregate
    expression) or none (a row filter). Raises ``ValueError`` naming the problem.
    """
    if not sql.strip():
        raise ValueError(f"{what}: empty expression")
    try:
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{what}: cannot parse {sql!r}: {first}") from None
    if len(trees) != 1:
        raise ValueError(f"{what}: {sql!r} must be one expression, not {len(trees)} statements")
    tree = trees[0]
    for node in tree.walk():
        if isinstance(node, exp.Star) and isinstance(node.parent, exp.Count):
            continue
        for kind, label in _REFUSED:
            if isinstance(node, kind):
                raise ValueError(f"{what}: {sql!r} holds {label}; only an expression is allowed")
        if isinstance(node, exp.Star):
            raise ValueError(f"{what}: {sql!r} holds a * expansion")
        if isinstance(node, exp.Column) and (node.table or node.name not in columns):
            raise ValueError(
                f"{what}: {sql!r} reads {node.sql()!r}, not a column of the entity "
                f"(columns: {', '.join(sorted(columns))})"
            )
    if not isinstance(tree, exp.Condition):
        raise ValueError(f"{what}: {sql!r} is not an expression")
    has_agg = any(isinstance(n, exp.AggFunc) for n in tree.walk())
    if aggregate and not has_agg:
        raise ValueError(
            f"{what}: {sql!r} is not an aggregate (e.g. COUNT(*), SUM(amount), AVG(balance))"
        )
    if not aggregate and has_agg:
        raise ValueError(f"{what}: {sql!r} is a row filter and may not aggregate")
    return tree
