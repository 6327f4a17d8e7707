"""The append-only audit log of governance actions (``audit_log``).

Rows are only ever inserted: approvals, rejections, pins, rollbacks, alert
acknowledgements, erasures (with pseudonymised ids), differential-privacy releases.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from typing import Any

import duckdb
import pandas as pd

from segmint.store import Warehouse

AUDIT_LOG = "audit_log"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {AUDIT_LOG} (
    logged_at TIMESTAMP NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    subject VARCHAR,
    reason VARCHAR,
    detail JSON
)
"""


def default_actor() -> str:
    """The operating-system user, when the caller names nobody."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def log_action(
    con: duckdb.DuckDBPyConnection,
    action: str,
    *,
    actor: str,
    subject: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one row (inside the caller's transaction when there is one)."""
    con.execute(_DDL)
    con.execute(
        f"INSERT INTO {AUDIT_LOG} VALUES (?, ?, ?, ?, ?, ?)",
        [dt.datetime.now(dt.UTC).replace(tzinfo=None), actor, action, subject, reason,
         json.dumps(detail or {}, default=str)],
    )


def audit_log(wh: Warehouse) -> pd.DataFrame:
    """Every logged action, oldest first."""
    wh.con.execute(_DDL)
    return wh.con.execute(f"SELECT * FROM {AUDIT_LOG} ORDER BY logged_at, rowid").df()
