"""One name per segment everywhere: the catalog's names, applied to the tables that name
segments (``segment_assignments``, ``segment_history``).

A model names its segments when it is fitted (rule segments by their rules, learned ones
"Segment 1", ...); the catalog (``profiles``) then names every segment (generated names,
configured ones). The catalog's names are kept in ``segment_names`` (one row per dimension
and segment id) and written over the model's in the assignments and the history, so
exports, the CLI and the API show the same name as the catalog. A later catalog with
another name updates them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

NAMES_TABLE = "segment_names"
_TABLES = ("segment_assignments", "segment_history")

_DDL = f"""
CREATE TABLE IF NOT EXISTS {NAMES_TABLE} (
    dimension VARCHAR NOT NULL,
    segment_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    source VARCHAR,
    catalog_version INTEGER,
    as_of DATE
)
"""


def _exists(con: Any, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
    ).fetchall()[0][0])


def apply_segment_names(con: Any, tables: Sequence[str] = _TABLES, *, as_of: Any = None) -> None:
    """Write the names of ``segment_names`` over those of ``tables`` (where they differ);
    with ``as_of``, only the rows of that date (the assignments a run just wrote).

    Run inside the caller's transaction; a table that does not exist is skipped."""
    if not _exists(con, NAMES_TABLE):
        return
    for table in tables:
        if not table.startswith("_") and not _exists(con, table):
            continue
        con.execute(
            f"UPDATE {table} AS t SET segment_name = n.name FROM {NAMES_TABLE} AS n "
            "WHERE t.dimension = n.dimension AND CAST(t.segment_id AS VARCHAR) = n.segment_id "
            "AND t.segment_name IS DISTINCT FROM n.name"
            + (" AND t.as_of = ?" if as_of is not None else ""),
            [as_of] if as_of is not None else [],
        ).fetchall()


def record_segment_names(
    con: Any,
    names: Iterable[tuple[str, str, str, str]],
    *,
    catalog_version: int,
    as_of: Any,
) -> None:
    """Keep ``(dimension, segment_id, name, source)`` as the segments' names and apply them.

    A dimension's names are replaced only by a catalog of the same or a later as_of (a
    report rebuilt for an earlier date does not rename today's segments). Run inside the
    caller's transaction.
    """
    con.execute(_DDL).fetchall()
    rows = list(names)
    for dimension in sorted({r[0] for r in rows}):
        latest = con.execute(
            f"SELECT max(as_of) FROM {NAMES_TABLE} WHERE dimension = ?", [dimension]
        ).fetchall()[0][0]
        if latest is not None and as_of < latest:
            continue
        con.execute(f"DELETE FROM {NAMES_TABLE} WHERE dimension = ?", [dimension]).fetchall()
        con.executemany(
            f"INSERT INTO {NAMES_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
            [(d, s, n, src, catalog_version, as_of) for d, s, n, src in rows if d == dimension],
        )
    apply_segment_names(con)


def generated_names(con: Any, dimension: str) -> set[str]:
    """Names the catalog generated for ``dimension`` (not fixed by a model or the config):
    a later catalog may generate others."""
    if not _exists(con, NAMES_TABLE):
        return set()
    return {
        r[0] for r in con.execute(
            f"SELECT name FROM {NAMES_TABLE} WHERE dimension = ? AND source = 'generated'",
            [dimension],
        ).fetchall()
    }
