"""What the loaded data supports: its end date, and the readiness report (history per
entity, repeat activity, coverage, completeness, labels) measured after ingestion."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
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


READINESS_TABLE = "data_readiness"

_MONTH_DAYS = 30.4375


@dataclass(frozen=True)
class ReadinessCheck:
    """One measure of the loaded data, with its minimum when it has one."""

    check: str
    entity: str
    value: float | None
    minimum: float | None = None
    setting: str | None = None
    detail: str = ""

    @property
    def short(self) -> bool:
        return self.minimum is not None and (self.value is None or self.value < self.minimum)

    def message(self) -> str:
        shown = "none" if self.value is None else f"{self.value:,.4g}"
        line = f"{self.entity}: {self.detail or self.check} is {shown}"
        if self.short:
            line += f", below the minimum {self.minimum:,.4g} (readiness.{self.setting})"
        return line


@dataclass
class Readiness:
    """What the loaded data supports (see :func:`measure_readiness`)."""

    checks: list[ReadinessCheck] = field(default_factory=list)

    @property
    def short(self) -> list[ReadinessCheck]:
        """The checks below their minimum."""
        return [c for c in self.checks if c.short]

    @property
    def warnings(self) -> list[str]:
        """One line per check below its minimum."""
        return [f"readiness: {c.message()}" for c in self.short]

    def get(self, check: str, entity: str) -> ReadinessCheck | None:
        return next((c for c in self.checks if c.check == check and c.entity == entity), None)


def _one(con: Any, sql: str, params: list[Any] | None = None) -> Any:
    return con.execute(sql, params or []).fetchall()[0]


def measure_readiness(warehouse: Any, config: Any) -> Readiness:
    """Measure what the loaded data supports, after ingestion and before features.

    Months of history per entity (first to last date), clients with at least
    ``readiness.repeat_min_transactions`` transactions (repeat activity), the share of
    clients with engagement, each attribute's completeness and the label counts. The
    transaction minimums (``readiness.min_transaction_months``,
    ``readiness.min_repeat_clients``) apply when transactions are mapped.

    Returns
    -------
    Readiness
    """
    con = getattr(warehouse, "con", warehouse)
    settings = config.readiness
    checks: list[ReadinessCheck] = []
    n_clients = int(_one(con, "SELECT count(*) FROM clients")[0]) if _has_table(con, "clients") else 0
    checks.append(ReadinessCheck("clients", "clients", n_clients, detail="clients loaded"))
    mapped = {e for e in ENTITIES if config.mappings(e)}
    for entity, date in _DATE_OF.items():
        if entity == "clients" or entity not in mapped or not _has_table(con, entity):
            continue
        rows, first, last = _one(con, f"SELECT count(*), min({date}), max({date}) FROM {entity}")
        months = (last - first).days / _MONTH_DAYS if first is not None else 0.0
        minimum = settings.min_transaction_months if entity == "transactions" else None
        checks.append(ReadinessCheck(
            "history_months", entity, round(months, 2), minimum,
            "min_transaction_months" if minimum is not None else None,
            f"months of history ({rows:,} rows, {first} to {last})",
        ))
    if "transactions" in mapped and _has_table(con, "transactions"):
        n = settings.repeat_min_transactions
        repeat = int(_one(con, f"SELECT count(*) FROM (SELECT client_id FROM transactions "
                               f"GROUP BY client_id HAVING count(*) >= {int(n)})")[0])
        checks.append(ReadinessCheck(
            "repeat_clients", "transactions", repeat, settings.min_repeat_clients,
            "min_repeat_clients", f"clients with at least {n} transactions",
        ))
        if n_clients:
            checks.append(ReadinessCheck(
                "repeat_share", "transactions", round(repeat / n_clients, 4),
                detail=f"share of clients with at least {n} transactions",
            ))
    if "engagement" in mapped and _has_table(con, "engagement") and n_clients:
        engaged = int(_one(con, "SELECT count(DISTINCT client_id) FROM engagement")[0])
        checks.append(ReadinessCheck(
            "engagement_coverage", "engagement", round(engaged / n_clients, 4),
            detail="share of clients with engagement events",
        ))
    from segmint.sources._attributes import attribute_rows

    for name, _f, _type, _role, _d, _u, column, time_varying, _b in attribute_rows(config):
        if not n_clients:
            break
        parts = []
        if column is not None:
            parts.append(f"SELECT client_id FROM clients WHERE {_quote(column)} IS NOT NULL")
        if time_varying and _has_table(con, "attributes"):
            parts.append(
                f"SELECT client_id FROM attributes WHERE attribute = '{name}' AND value IS NOT NULL"
            )
        have = 0
        if parts:
            have = int(_one(con, f"SELECT count(DISTINCT client_id) FROM ({' UNION ALL '.join(parts)})")[0])
        checks.append(ReadinessCheck(
            "attribute_completeness", f"attribute {name}", round(have / n_clients, 4),
            detail="share of clients with a value",
        ))
    if "labels" in mapped and _has_table(con, "labels"):
        for label, clients, positives in con.execute(
            "SELECT label, count(DISTINCT client_id), count(DISTINCT client_id) FILTER (value > 0) "
            "FROM labels GROUP BY label ORDER BY label"
        ).fetchall():
            checks.append(ReadinessCheck(
                "label_clients", f"label {label}", int(clients),
                detail=f"clients observed ({int(positives):,} with a positive value)",
            ))
    return Readiness(checks)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def store_readiness(warehouse: Any, readiness: Readiness) -> None:
    """Replace the table ``data_readiness`` (one row per check) atomically."""
    con = getattr(warehouse, "con", warehouse)
    rows = [
        (c.check, c.entity, c.value, c.minimum, c.setting, c.message(), c.short)
        for c in readiness.checks
    ]
    with warehouse.transaction():
        con.execute(
            f"CREATE OR REPLACE TABLE {READINESS_TABLE} (check_name VARCHAR, entity VARCHAR, "
            "value DOUBLE, minimum DOUBLE, setting VARCHAR, message VARCHAR, short BOOLEAN)"
        ).fetchall()
        if rows:
            con.executemany(f"INSERT INTO {READINESS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
