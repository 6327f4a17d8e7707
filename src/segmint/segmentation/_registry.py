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
