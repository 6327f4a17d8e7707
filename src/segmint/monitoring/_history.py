"""Segment history (a type-2 slowly changing dimension), migration matrices and stability.

``segment_history`` holds one row per *spell*: a client in one segment of one dimension
from ``valid_from`` (inclusive, the as_of of the cycle that first saw it) to ``valid_to``
(exclusive, the as_of of the cycle that saw it change; NULL while current). A cycle
writes only where the segment id changed, with one ``MERGE`` statement: the changed
clients' open spells are closed and their new spells inserted. A renamed segment (same
id) is not a change; ``model_version`` is the version that assigned the spell's start.
``source`` says who opened the spell: ``cycle``, or ``event`` (re-scoring between cycles,
``monitoring/_events.py``); re-running a cycle keeps the events' spells.
"""

from __future__ import annotations

import datetime as dt
from math import comb
from typing import Any

import duckdb
import pandas as pd

from segmint.monitoring._tables import HISTORY, ensure_history
from segmint.segmentation import ASSIGNMENTS

NEW, GONE = "(new)", "(gone)"

#: built-in orders (lowest first) of rule dimensions; config ``monitoring.order`` adds more
DEFAULT_ORDER = {"value": ["Low", "Medium", "High", "Top"]}


def _lit(x: str) -> str:
    return "'" + x.replace("'", "''") + "'"


def rank_sql(dimension: str, name: str, order: dict[str, list[str]]) -> str:
    """SQL rank (0 = lowest) of segment name ``name`` in ``dimension`` (NULL: unordered)."""
    whens = []
    for dim, names in order.items():
        inner = " ".join(f"WHEN {_lit(n)} THEN {i}" for i, n in enumerate(names))
        whens.append(f"WHEN {dimension} = {_lit(dim)} THEN CASE {name} {inner} END")
    return f"(CASE {' '.join(whens)} END)" if whens else "CAST(NULL AS INTEGER)"


def undo_history(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> None:
    """Take back what the cycle of ``as_of`` wrote (it is the latest cycle).

    Spells that event re-scoring opened (``source = 'event'``) stay, and so do the
    cycle's spells that a later event closed (the event's spell follows them): only the
    cycle's still-open spells of ``as_of`` are deleted, and a spell closed at ``as_of`` is
    reopened when nothing starts on or after ``as_of`` for its client and dimension.
    """
    con.execute(
        f"DELETE FROM {HISTORY} WHERE valid_from = ? AND source = 'cycle' AND valid_to IS NULL",
        [as_of],
    )
    con.execute(
        f"UPDATE {HISTORY} AS h SET valid_to = NULL WHERE valid_to = ? AND NOT EXISTS ("
        f"SELECT 1 FROM {HISTORY} AS n WHERE n.client_id = h.client_id "
        "AND n.dimension = h.dimension AND n.valid_from >= ?)",
        [as_of, as_of],
    )


def update_history(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> None:
    """Close changed spells and open new ones, from the assignments of ``as_of``.

    A client and dimension with a spell starting on or after ``as_of`` (event
    re-scoring's, kept by :func:`undo_history`) is left alone: the event's spell is the
    later word on it.
    """
    day = f"DATE '{as_of.isoformat()}'"
    con.execute(
        f"""
        MERGE INTO {HISTORY} AS h
        USING (
            WITH cur AS (
                SELECT client_id, dimension, segment_id, segment_name, model_version
                FROM {ASSIGNMENTS} WHERE as_of = {day}
            ),
            open AS (SELECT * FROM {HISTORY} WHERE valid_to IS NULL),
            later AS (
                SELECT DISTINCT client_id, dimension FROM {HISTORY} WHERE valid_from >= {day}
            ),
            changed AS (
                SELECT coalesce(c.client_id, o.client_id) AS client_id,
                       coalesce(c.dimension, o.dimension) AS dimension,
                       c.segment_id, c.segment_name, c.model_version,
                       o.segment_id AS old_segment
                FROM cur AS c FULL JOIN open AS o
                  ON c.client_id = o.client_id AND c.dimension = o.dimension
                WHERE c.segment_id IS DISTINCT FROM o.segment_id
                  AND NOT EXISTS (
                      SELECT 1 FROM later AS l
                      WHERE l.client_id = coalesce(c.client_id, o.client_id)
                        AND l.dimension = coalesce(c.dimension, o.dimension))
            )
            -- a changed client appears twice: once to close its open spell (matched on
            -- the key), once with a NULL key to insert its new spell (never matched)
            SELECT client_id AS key, client_id, dimension, segment_id, segment_name,
                   model_version
            FROM changed WHERE old_segment IS NOT NULL
            UNION ALL
            SELECT NULL AS key, client_id, dimension, segment_id, segment_name, model_version
            FROM changed WHERE segment_id IS NOT NULL
        ) AS s
        ON h.client_id = s.key AND h.dimension = s.dimension AND h.valid_to IS NULL
        WHEN MATCHED THEN UPDATE SET valid_to = {day}
        WHEN NOT MATCHED THEN INSERT
            VALUES (s.client_id, s.dimension, s.segment_id, s.segment_name, s.model_version, {day},
                    NULL, 'cycle')
        """
    )


def migration_matrix(
    con: duckdb.DuckDBPyConnection,
    previous: dt.date,
    as_of: dt.date,
    order: dict[str, list[str]],
) -> pd.DataFrame:
    """Counts and row-normalised rates from the assignments of ``previous`` to ``as_of``.

    Clients absent at ``previous`` come from ``(new)``; clients absent at ``as_of`` go
    to ``(gone)``. ``direction`` is up/down/same for ordered dimensions.
    """
    a = f"SELECT client_id, dimension, segment_id, segment_name FROM {ASSIGNMENTS} WHERE as_of = ?"
    rank_from = rank_sql("dimension", "from_name", order)
    rank_to = rank_sql("dimension", "to_name", order)
    return con.execute(
        f"""
        WITH m AS (
            SELECT coalesce(c.dimension, p.dimension) AS dimension,
                   coalesce(p.segment_id, '{NEW}') AS from_segment,
                   coalesce(p.segment_name, '{NEW}') AS from_name,
                   coalesce(c.segment_id, '{GONE}') AS to_segment,
                   coalesce(c.segment_name, '{GONE}') AS to_name,
                   count(*) AS clients
            FROM ({a}) AS p FULL JOIN ({a}) AS c
              ON p.client_id = c.client_id AND p.dimension = c.dimension
            GROUP BY ALL
        )
        SELECT *, clients / sum(clients) OVER (PARTITION BY dimension, from_segment) AS rate,
               CASE WHEN {rank_from} IS NULL OR {rank_to} IS NULL THEN NULL
                    WHEN {rank_to} > {rank_from} THEN 'up'
                    WHEN {rank_to} < {rank_from} THEN 'down' ELSE 'same' END AS direction
        FROM m ORDER BY dimension, from_segment, to_segment
        """,
        [previous, as_of],
    ).df()


def adjusted_rand(counts: pd.DataFrame) -> float:
    """Adjusted Rand index from a contingency table (columns from_segment, to_segment, clients)."""
    n = int(counts["clients"].sum())
    if n < 2:
        return 1.0
    index = sum(comb(int(x), 2) for x in counts["clients"])
    a = sum(comb(int(x), 2) for x in counts.groupby("from_segment")["clients"].sum())
    b = sum(comb(int(x), 2) for x in counts.groupby("to_segment")["clients"].sum())
    expected = a * b / comb(n, 2)
    top = (a + b) / 2
    return 1.0 if top == expected else (index - expected) / (top - expected)


def transition_stats(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per dimension: compared, reclassified, rate, ARI, upward, downward (clients in both)."""
    rows = []
    for dim, m in matrix.groupby("dimension", sort=True):
        both = m[(m.from_segment != NEW) & (m.to_segment != GONE)]
        compared = int(both.clients.sum())
        moved = int(both.loc[both.from_segment != both.to_segment, "clients"].sum())
        ordered = both.direction.notna().any()
        rows.append(
            {
                "dimension": dim,
                "compared": compared,
                "reclassified": moved,
                "reclassification_rate": moved / compared if compared else None,
                "ari": adjusted_rand(both) if compared else None,
                "upward": int(both.loc[both.direction == "up", "clients"].sum()) if ordered else None,
                "downward": int(both.loc[both.direction == "down", "clients"].sum())
                if ordered
                else None,
            }
        )
    return pd.DataFrame(rows)


def stable_core_counts(
    con: duckdb.DuckDBPyConnection, since: dt.date
) -> dict[str, int]:
    """Clients per dimension whose current spell started on or before ``since``."""
    rows = con.execute(
        f"SELECT dimension, count(*) FROM {HISTORY} WHERE valid_to IS NULL AND valid_from <= ? "
        "GROUP BY dimension",
        [since],
    ).fetchall()
    return {d: int(n) for d, n in rows}


def client_history(con: duckdb.DuckDBPyConnection, client_id: str) -> pd.DataFrame:
    """One client's spells in every dimension, oldest first."""
    return con.execute(
        f"SELECT dimension, segment_id, segment_name, model_version, valid_from, valid_to "
        f"FROM {HISTORY} WHERE client_id = ? ORDER BY dimension, valid_from",
        [client_id],
    ).df()


def open_history(warehouse: Any, as_of: dt.date) -> None:
    """Record the assignments of ``as_of`` in ``segment_history`` (a pipeline run's first
    spells), so a client's history is there before the first update cycle."""
    with warehouse.transaction() as tx:
        ensure_history(tx)
        update_history(tx, as_of)
