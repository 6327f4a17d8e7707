"""User SQL in user-defined features (``features.custom``): the project file's one
expression check (:func:`segmint.config._sql.parse_expression`), plus what an aggregate
over one entity's rows needs: only the entity's canonical columns, no window, and an
aggregate (or, for a row filter, none).
"""

from __future__ import annotations

from sqlglot import exp

from segmint.config._sql import parse_expression


def parse_user_expression(
    sql: str, *, what: str, columns: set[str], aggregate: bool
) -> exp.Expression:
    """Parse ``sql`` (DuckDB dialect) as one expression over ``columns``.

    ``aggregate``: the expression must hold an aggregate function (an aggregate
    expression) or none (a row filter). Raises ``ValueError`` naming the problem.
    """
    try:
        tree = parse_expression(sql, what="expression")
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    for node in tree.walk():
        if isinstance(node, exp.Window):
            raise ValueError(f"{what}: {sql!r} holds a window function (OVER); only an "
                             "aggregate over the client's rows is allowed")
        if isinstance(node, exp.Column) and (node.table or node.name not in columns):
            raise ValueError(
                f"{what}: {sql!r} reads {node.sql()!r}, not a column of the entity "
                f"(columns: {', '.join(sorted(columns))})"
            )
    has_agg = any(isinstance(n, exp.AggFunc) for n in tree.walk())
    if aggregate and not has_agg:
        raise ValueError(
            f"{what}: {sql!r} is not an aggregate (e.g. COUNT(*), SUM(amount), AVG(balance))"
        )
    if not aggregate and has_agg:
        raise ValueError(f"{what}: {sql!r} is a row filter and may not aggregate")
    return tree
