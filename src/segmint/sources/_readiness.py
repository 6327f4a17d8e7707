"""What the loaded data supports: its end date, and the readiness report (history per
entity, repeat activity, coverage, completeness, labels) measured after ingestion."""

from __future__ import annotations

import datetime as dt
from typing import Any

from segmint.sources._schema import ENTITIES

#: entity -> date expression of its rows (the time a row speaks of)
_DATE_OF = {
    "transactions": "CAST(ts AS DATE)",
    "engagement": "CAST(ts AS DATE)",
    "holdings": "greatest(opened_at, coalesce(closed_at, opened_at))",
    "profitability": "period",
    "labels": "observed_at",
    "attributes": "valid_from",
    "clients": "onboarded_at",
}


def _has_table(con: Any, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
    ).fetchone()[0])


def data_end_date(warehouse: Any) -> dt.date | None:
    """The natural 'now' of the loaded data: the day of the latest transaction, or, in a
    project without transactions, the latest date any other entity holds (holdings
    opened or closed, engagement, profitability periods, labels, attribute changes,
    onboarding). None when nothing is loaded."""
    con = getattr(warehouse, "con", warehouse)
    for tables in (("transactions",), tuple(t for t in _DATE_OF if t != "transactions")):
        parts = [
            f"SELECT max({_DATE_OF[t]}) AS d FROM {t}"
            for t in tables if t in ENTITIES and _has_table(con, t)
        ]
        if not parts:
            continue
        row = con.execute(f"SELECT max(d) FROM ({' UNION ALL '.join(parts)})").fetchone()
        if row and row[0] is not None:
            return row[0]
    return None
