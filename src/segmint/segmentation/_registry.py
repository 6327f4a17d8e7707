"""The model registry: every fitted dimension is a version in the warehouse table
``segment_models``, stored as plain JSON (never pickles).

Columns: ``dimension, version, created_at, as_of, kind, method, params, evidence, k``.
``params`` holds everything assignment needs (preprocessing numbers, centres, rules,
segment ids and names, the feature list); ``evidence`` the k table, stability and
identity matching. Loading a version reproduces its assignments exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

import duckdb

MODELS = "segment_models"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {MODELS} (
    dimension VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    as_of DATE NOT NULL,
    kind VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    params JSON NOT NULL,
    evidence JSON NOT NULL,
    k INTEGER NOT NULL,
    PRIMARY KEY (dimension, version)
)
"""


@dataclass
class ModelVersion:
    """One fitted dimension, as stored."""

    dimension: str
    version: int
    created_at: dt.datetime
    as_of: dt.date
    kind: str
    method: str
    params: dict[str, Any]
    evidence: dict[str, Any]
    k: int

    @property
    def segments(self) -> list[dict[str, str]]:
        return self.params["segments"]


def clean_json(x: Any) -> Any:
    """NaN/inf become null (JSON has no such numbers); numpy scalars become Python."""
    if isinstance(x, dict):
        return {str(k): clean_json(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [clean_json(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def ensure_registry(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_DDL)


def save_version(con: duckdb.DuckDBPyConnection, mv: ModelVersion) -> None:
    ensure_registry(con)
    con.execute(
        f"INSERT INTO {MODELS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            mv.dimension,
            mv.version,
            mv.created_at,
            mv.as_of,
            mv.kind,
            mv.method,
            json.dumps(clean_json(mv.params)),
            json.dumps(clean_json(mv.evidence)),
            mv.k,
        ],
    )


def next_version(con: duckdb.DuckDBPyConnection, dimension: str) -> int:
    ensure_registry(con)
    row = con.execute(
        f"SELECT max(version) FROM {MODELS} WHERE dimension = ?", [dimension]
    ).fetchone()
    return 1 if row is None or row[0] is None else int(row[0]) + 1


def load_version(
    con: duckdb.DuckDBPyConnection, dimension: str, version: int | None = None
) -> ModelVersion | None:
    """A stored version (the latest when ``version`` is None), or None."""
    tables = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [MODELS]
    ).fetchone()
    if not tables or not tables[0]:
        return None
    q = f"SELECT * FROM {MODELS} WHERE dimension = ?"
    args: list[Any] = [dimension]
    if version is not None:
        q += " AND version = ?"
        args.append(version)
    row = con.execute(q + " ORDER BY version DESC LIMIT 1", args).fetchone()
    if row is None:
        return None
    d, v, created, as_of, kind, method, params, evidence, k = row
    return ModelVersion(
        d, int(v), created, as_of, kind, method, json.loads(params), json.loads(evidence), int(k)
    )


def list_versions(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, dt.date, int]]:
    ensure_registry(con)
    return [
        tuple(r)
        for r in con.execute(
            f"SELECT dimension, version, as_of, k FROM {MODELS} ORDER BY dimension, version"
        ).fetchall()
    ]


# -- which version applies: the decisions of governance ------------------------------
#
# ``segment_model_decisions`` is append-only: a refit under approval records
# ``proposed``; governance (``segmint models approve/reject/pin/unpin/rollback``)
# appends the later decisions. A version without any decision applies (every version
# fitted before approvals were required, or with ``governance.approval: auto``).

DECISIONS = "segment_model_decisions"

_DECISIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {DECISIONS} (
    dimension VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    action VARCHAR NOT NULL,
    decided_at TIMESTAMP NOT NULL,
    actor VARCHAR NOT NULL,
    reason VARCHAR
)
"""

#: latest status of a version that keeps it from applying
NOT_APPLIED = ("proposed", "rejected", "rolled_back")


def record_decision(
    con: duckdb.DuckDBPyConnection,
    dimension: str,
    version: int,
    action: str,
    *,
    actor: str,
    reason: str | None = None,
) -> None:
    """Append one decision (``proposed``, ``approved``, ``rejected``, ``rolled_back``,
    ``pinned``, ``unpinned``) about a version."""
    con.execute(_DECISIONS_DDL)
    con.execute(
        f"INSERT INTO {DECISIONS} VALUES (?, ?, ?, ?, ?, ?)",
        [dimension, version, action, dt.datetime.now(dt.UTC).replace(tzinfo=None), actor, reason],
    )


def version_statuses(con: duckdb.DuckDBPyConnection, dimension: str) -> dict[int, str]:
    """Version -> its latest status decision (versions without one are absent)."""
    if not _has(con, DECISIONS):
        return {}
    rows = con.execute(
        f"SELECT version, arg_max(action, rowid) FROM {DECISIONS} WHERE dimension = ? "
        "AND action NOT IN ('pinned', 'unpinned') GROUP BY version",
        [dimension],
    ).fetchall()
    return {int(v): a for v, a in rows}


def pinned_version(con: duckdb.DuckDBPyConnection, dimension: str) -> int | None:
    """The version a pin holds the dimension at, or None."""
    if not _has(con, DECISIONS):
        return None
    row = con.execute(
        f"SELECT arg_max(action, rowid), arg_max(version, rowid) FROM {DECISIONS} "
        "WHERE dimension = ? AND action IN ('pinned', 'unpinned')",
        [dimension],
    ).fetchone()
    return int(row[1]) if row and row[0] == "pinned" else None


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [table]
    ).fetchone()
    return bool(row and row[0])


def applied_version(con: duckdb.DuckDBPyConnection, dimension: str) -> ModelVersion | None:
    """The version assignment uses: the pinned one, else the latest not proposed,
    rejected or rolled back (None before the first fit)."""
    if not _has(con, MODELS):
        return None
    pin = pinned_version(con, dimension)
    if pin is not None:
        return load_version(con, dimension, pin)
    blocked = [v for v, s in version_statuses(con, dimension).items() if s in NOT_APPLIED]
    row = con.execute(
        f"SELECT max(version) FROM {MODELS} WHERE dimension = ? AND NOT list_contains(?, version)",
        [dimension, blocked],
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return load_version(con, dimension, int(row[0]))
