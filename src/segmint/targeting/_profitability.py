"""Segment profitability, fully loaded: revenue, every cost component, contribution margin.

Over the periods whose first day lies in ``(as_of - months, as_of]``, per client:

- ``revenue`` and ``cost_cost`` (the ``cost`` column of ``profitability``, the cost to serve
  as recorded there);
- ``cost_<component>`` for each component of the ``costs`` entity (acquisition,
  servicing, returns, payment processing, funding/risk, ...);
- ``total_cost`` (their sum) and ``margin`` = revenue - total_cost;
- ``clv``: the client's lifetime value from the features (``clv_12m`` by default).

Per segment of a dimension: clients, the sums of each, ``margin_per_client``,
``share_of_clients``, ``share_of_margin`` (of the book's total margin), ``clv`` total and
per client, and ``unprofitable`` when the segment's margin is negative. Every number is
computed in DuckDB; clients without a profitability row count with zeros.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pandas as pd

from segmint.errors import ParameterError, WarehouseError
from segmint.segmentation import ASSIGNMENTS, FEATURES
from segmint.segmentation._preprocess import quote, sql_string


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [table]
    ).fetchone()[0])  # type: ignore[index]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_") or "unnamed"


def cost_components(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The named cost components in the ``costs`` table (sorted), empty without it."""
    if not _has(con, "costs"):
        return []
    return [r[0] for r in con.execute("SELECT DISTINCT component FROM costs ORDER BY 1").fetchall()]


def client_profitability(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, *, months: int = 12, clv: str = "clv_12m"
) -> str:
    """Create the temp table ``_client_profit`` (one row per client of the as_of's
    features) and return its name."""
    if months < 1:
        raise ParameterError(f"months: expected at least 1, got {months}")
    if not _has(con, "profitability"):
        raise WarehouseError("missing table profitability; map and ingest the profitability entity")
    n = con.execute(f"SELECT count(*) FROM {FEATURES} WHERE as_of = ?", [as_of]).fetchone()[0]  # type: ignore[index]
    if not n:
        raise WarehouseError(f"no features snapshot at {as_of}")
    start = f"DATE '{as_of.isoformat()}' - INTERVAL {int(months)} MONTH"
    window = f"period <= DATE '{as_of.isoformat()}' AND period > {start}"
    comps = cost_components(con)
    slugs = [_slug(c) for c in comps]
    if len(set(slugs)) != len(slugs) or "cost" in slugs:
        raise ParameterError(f"costs.component: names {comps} collide once made column names")
    pivot = "".join(
        f", sum(amount) FILTER (WHERE component = {sql_string(c)}) AS {quote('cost_' + s)}"
        for c, s in zip(comps, slugs, strict=True)
    )
    costs_join = (
        f" LEFT JOIN (SELECT client_id{pivot} FROM costs WHERE {window} GROUP BY client_id) AS k "
        "USING (client_id)" if comps else ""
    )
    cost_cols = ["cost_cost"] + [f"cost_{s}" for s in slugs]
    sel = ", ".join(
        f"coalesce({'p.cost_cost' if c == 'cost_cost' else 'k.' + quote(c)}, 0e0) AS {quote(c)}"
        for c in cost_cols
    )
    total = " + ".join(quote(c) for c in cost_cols)
    fcols = {r[0] for r in con.execute(f"DESCRIBE {FEATURES}").fetchall()}
    clv_sql = f"CAST(f.{quote(clv)} AS DOUBLE)" if clv in fcols else "NULL::DOUBLE"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _client_profit AS
        SELECT *, {total} AS total_cost, revenue - ({total}) AS margin FROM (
            SELECT f.client_id, coalesce(p.revenue, 0e0) AS revenue, {sel}, {clv_sql} AS clv
            FROM {FEATURES} AS f
            LEFT JOIN (SELECT client_id, sum(revenue) AS revenue, sum(cost) AS cost_cost
                       FROM profitability WHERE {window} GROUP BY client_id) AS p USING (client_id)
            {costs_join}
            WHERE f.as_of = DATE '{as_of.isoformat()}')"""
    )
    return "_client_profit"


def segment_profitability(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    dimension: str,
    *,
    months: int = 12,
    clv: str = "clv_12m",
    names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Fully loaded profitability of each segment of ``dimension`` at ``as_of``.

    Returns
    -------
    DataFrame
        One row per segment, ranked by margin (highest first): dimension, segment_id,
        segment (name), clients, revenue, cost_<component>..., total_cost, margin,
        margin_per_client, share_of_clients, share_of_margin, clv, clv_per_client,
        unprofitable. ``share_of_margin`` is over the book's total margin (negative for a
        loss-making segment when the book is profitable).
    """
    table = client_profitability(con, as_of, months=months, clv=clv)
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    costs = [c for c in cols if c.startswith("cost_")]
    n = con.execute(
        f"SELECT count(*) FROM {ASSIGNMENTS} WHERE as_of = ? AND dimension = ?", [as_of, dimension]
    ).fetchone()[0]  # type: ignore[index]
    if not n:
        raise WarehouseError(f"no assignments of dimension {dimension!r} at {as_of}")
    sums = ", ".join(f"sum(p.{quote(c)}) AS {quote(c)}" for c in costs)
    frame = con.execute(
        f"""WITH s AS (
            SELECT a.dimension, a.segment_id, min(a.segment_name) AS segment, count(*) AS clients,
                   sum(p.revenue) AS revenue, {sums}, sum(p.total_cost) AS total_cost,
                   sum(p.margin) AS margin, sum(p.clv) AS clv
            FROM {ASSIGNMENTS} AS a JOIN {table} AS p USING (client_id)
            WHERE a.as_of = ? AND a.dimension = ? GROUP BY ALL)
        SELECT s.* EXCLUDE (clv), margin / clients AS margin_per_client,
               clients / sum(clients) OVER () AS share_of_clients,
               margin / nullif(sum(margin) OVER (), 0) AS share_of_margin,
               clv, clv / clients AS clv_per_client, margin < 0 AS unprofitable
        FROM s ORDER BY margin DESC, segment_id""",
        [as_of, dimension],
    ).df()
    if names:
        frame["segment"] = [names.get(s, n) for s, n in zip(frame.segment_id, frame.segment, strict=True)]
    return frame
