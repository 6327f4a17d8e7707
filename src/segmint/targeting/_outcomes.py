"""Outcomes: per-client 0/1 targets observed in the window ``(as_of, as_of + h]``.

Every outcome is one SQL query over the canonical entities (or ``labels``), run in the
warehouse for a list of as-of dates at once. Nothing before ``as_of`` decides a
positive, only eligibility (who can have the outcome at all); nothing after ``as_of``
reaches the features (they are computed as of the date by :mod:`segmint.features`).

A window is *complete* when its end is on or before the last day of data: the latest
transaction day for outcomes derived from the entities, the latest ``observed_at`` of
the label for label outcomes. Only complete windows make examples.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd

from segmint.config import OutcomeConfig
from segmint.errors import DataError, WarehouseError

_DATES = "_targeting_dates"


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _rows(con: Any, sql: str, params: list[Any] | None = None) -> list[tuple]:
    # fetch every result: DuckDB refuses new work while a result is unfinished
    return con.execute(sql, params or []).fetchall()


def data_end(wh: Any, outcome: OutcomeConfig) -> dt.date:
    """The last day the outcome is observed up to (see the module docstring)."""
    if outcome.kind == "label":
        wh.require("labels", hint="map the `labels` entity in segmint.yaml and run `segmint ingest`")
        row = _rows(wh.con, "SELECT max(observed_at) FROM labels WHERE label = ?", [outcome.label])
        if not row or row[0][0] is None:
            known = [r[0] for r in _rows(wh.con, "SELECT DISTINCT label FROM labels ORDER BY 1")]
            raise DataError(
                f"labels: no row with label {outcome.label!r} "
                f"(labels: {', '.join(map(str, known)) or 'none'})"
            )
        return row[0][0]
    wh.require("transactions", hint="run `segmint ingest` first")
    row = _rows(wh.con, "SELECT max(ts)::DATE FROM transactions")
    if not row or row[0][0] is None:
        raise WarehouseError("transactions: no rows loaded")
    return row[0][0]


def data_start(wh: Any) -> dt.date:
    """The first transaction day."""
    return _rows(wh.con, "SELECT min(ts)::DATE FROM transactions")[0][0]


def _check(wh: Any, outcome: OutcomeConfig) -> None:
    con = wh.con
    if outcome.kind == "product_opened":
        wh.require("holdings", hint="outcome kind product_opened needs the `holdings` entity")
        types = [r[0] for r in _rows(con, "SELECT DISTINCT product_type FROM holdings ORDER BY 1")]
        if outcome.product_type not in types:
            raise DataError(
                f"targeting.outcomes: product_type {outcome.product_type!r} does not occur in "
                f"holdings (product types: {', '.join(map(str, types)) or 'none'})"
            )
    if outcome.kind == "category_first_spend" and outcome.category is not None:
        n = _rows(con, "SELECT count(*) FROM transactions WHERE category = ?", [outcome.category])
        if not n[0][0]:
            cats = [r[0] for r in _rows(
                con, "SELECT DISTINCT category FROM transactions WHERE category IS NOT NULL "
                "ORDER BY 1 LIMIT 30")]
            raise DataError(
                f"targeting.outcomes: category {outcome.category!r} does not occur in "
                f"transactions (categories: {', '.join(map(str, cats))})"
            )


def outcome_sql(outcome: OutcomeConfig, dates_table: str = _DATES, *, holdings: bool = True) -> str:
    """The query giving ``client_id, as_of, y`` for the eligible clients of every date.

    ``holdings`` False: churn is judged on purchases alone (no ``holdings`` table)."""
    h = int(outcome.horizon_days)
    start = "CAST(d.as_of + 1 AS TIMESTAMP)"  # the window (as_of, as_of + h] in timestamps
    stop = f"CAST(d.as_of + {h + 1} AS TIMESTAMP)"
    past = "CAST(d.as_of + 1 AS TIMESTAMP)"  # the end of as_of: history is ts < past
    base = (
        f"SELECT c.client_id, d.as_of FROM clients AS c, {dates_table} AS d "
        "WHERE c.onboarded_at IS NULL OR c.onboarded_at <= d.as_of"
    )
    in_window = f"t.ts >= {start} AND t.ts < {stop}"
    kind = outcome.kind
    if kind == "purchase":
        eligible = base
        positive = (
            f"SELECT DISTINCT t.client_id, d.as_of FROM transactions AS t JOIN {dates_table} AS d "
            f"ON {in_window} WHERE t.amount >= 0"
        )
    elif kind == "churn":
        eligible = (
            f"SELECT DISTINCT t.client_id, d.as_of FROM transactions AS t JOIN {dates_table} AS d "
            f"ON t.ts >= CAST(d.as_of + {1 - int(outcome.active_days)} AS TIMESTAMP) "
            f"AND t.ts < {past} WHERE t.amount >= 0 "
            f"INTERSECT SELECT client_id, as_of FROM ({base})"
        )
        bought = (
            f"SELECT DISTINCT t.client_id, d.as_of FROM transactions AS t JOIN {dates_table} AS d "
            f"ON {in_window} WHERE t.amount >= 0"
        )
        positive = f"SELECT client_id, as_of FROM ({eligible}) EXCEPT {bought}"
        if holdings:
            # every product open at as_of is closed by the window's end
            open_then = (
                f"SELECT DISTINCT h.client_id, d.as_of FROM holdings AS h JOIN {dates_table} AS d "
                "ON h.opened_at <= d.as_of AND (h.closed_at IS NULL OR h.closed_at > d.as_of)"
            )
            open_after = (
                f"SELECT DISTINCT h.client_id, d.as_of FROM holdings AS h JOIN {dates_table} AS d "
                f"ON h.opened_at <= d.as_of + {h} AND (h.closed_at IS NULL OR h.closed_at > d.as_of + {h})"
            )
            positive += f" UNION ({open_then} EXCEPT {open_after})"
    elif kind == "product_opened":
        pt = _lit(str(outcome.product_type))
        holding = (
            f"SELECT DISTINCT h.client_id, d.as_of FROM holdings AS h JOIN {dates_table} AS d "
            f"ON h.opened_at <= d.as_of AND (h.closed_at IS NULL OR h.closed_at > d.as_of) "
            f"WHERE h.product_type = {pt}"
        )
        eligible = f"{base} EXCEPT {holding}"
        positive = (
            f"SELECT DISTINCT h.client_id, d.as_of FROM holdings AS h JOIN {dates_table} AS d "
            f"ON h.opened_at > d.as_of AND h.opened_at <= d.as_of + {h} "
            f"WHERE h.product_type = {pt}"
        )
    elif kind == "category_first_spend":
        if outcome.category is not None:
            cat = _lit(outcome.category)
            before = (
                f"SELECT DISTINCT t.client_id, d.as_of FROM transactions AS t JOIN {dates_table} "
                f"AS d ON t.ts < {past} WHERE t.amount >= 0 AND t.category = {cat}"
            )
            eligible = f"{base} EXCEPT {before}"
            positive = (
                f"SELECT DISTINCT t.client_id, d.as_of FROM transactions AS t JOIN {dates_table} "
                f"AS d ON {in_window} WHERE t.amount >= 0 AND t.category = {cat}"
            )
        else:
            # any category new to a client who has bought before
            known = (
                f"SELECT DISTINCT t.client_id, d.as_of, t.category FROM transactions AS t "
                f"JOIN {dates_table} AS d ON t.ts < {past} "
                "WHERE t.amount >= 0 AND t.category IS NOT NULL"
            )
            eligible = (
                f"SELECT DISTINCT client_id, as_of FROM ({known}) "
                f"INTERSECT SELECT client_id, as_of FROM ({base})"
            )
            fresh = (
                f"SELECT DISTINCT t.client_id, d.as_of, t.category FROM transactions AS t "
                f"JOIN {dates_table} AS d ON {in_window} "
                "WHERE t.amount >= 0 AND t.category IS NOT NULL"
            )
            positive = (
                f"SELECT DISTINCT client_id, as_of FROM ({fresh} EXCEPT {known})"
            )
    elif kind == "label":
        lab = _lit(str(outcome.label))
        rows = (
            f"SELECT l.client_id, d.as_of, l.value FROM labels AS l JOIN {dates_table} AS d "
            f"ON l.observed_at > d.as_of AND l.observed_at <= d.as_of + {h} WHERE l.label = {lab}"
        )
        positive = f"SELECT DISTINCT client_id, as_of FROM ({rows}) WHERE value > 0"
        if outcome.label_population == "labelled":
            eligible = (
                f"SELECT DISTINCT client_id, as_of FROM ({rows}) "
                f"INTERSECT SELECT client_id, as_of FROM ({base})"
            )
        else:
            eligible = base
    else:  # pragma: no cover - the config's Literal refuses other kinds
        raise DataError(f"unknown outcome kind {kind!r}")
    return (
        f"SELECT e.client_id, e.as_of, CAST(p.client_id IS NOT NULL AS INTEGER) AS y "
        f"FROM ({eligible}) AS e LEFT JOIN ({positive}) AS p "
        "ON p.client_id = e.client_id AND p.as_of = e.as_of"
    )


def outcomes(
    wh: Any, outcome: OutcomeConfig, dates: Sequence[dt.date]
) -> pd.DataFrame:
    """The outcome of every eligible client at each date: ``client_id, as_of, y``.

    Dates whose window is not complete (see :func:`data_end`) are refused: the caller
    picks complete ones (:func:`segmint.targeting.plan_dates`).
    """
    end = data_end(wh, outcome)
    late = [d for d in dates if d + dt.timedelta(days=outcome.horizon_days) > end]
    if late:
        raise DataError(
            f"outcome window not complete for as_of {', '.join(map(str, late))}: the window "
            f"ends {outcome.horizon_days} days later, after the last day of data ({end})"
        )
    _check(wh, outcome)
    con = wh.con
    holdings = wh.has_table("holdings")
    try:
        _rows(con, f"CREATE OR REPLACE TEMP TABLE {_DATES} (as_of DATE)")
        con.executemany(f"INSERT INTO {_DATES} VALUES (?)", [[d] for d in dates])
        frame = con.execute(outcome_sql(outcome, holdings=holdings) + " ORDER BY e.as_of, e.client_id").df()
    finally:
        _rows(con, f"DROP TABLE IF EXISTS {_DATES}")
    frame["y"] = frame["y"].astype("int8")
    return frame
