"""Incremental feature state: fold new transactions into stored aggregates, not the history.

The state is a few warehouse tables, independent of the ``features:`` options (so one
state serves every configuration); ``feature_state`` records what it covers:

* ``client_day_agg`` — one row per client and purchase day: purchases and amount. It holds
  what needs the order of the days (first day, gaps between purchase days) and the
  windowed sums (spend trend windows read only its last ``2 * trend_window_days`` days).
* ``client_agg`` — one row per client with transactions: additive counts and sums over all
  of them (transactions, purchases, spend, promotion counts and amounts, one count per
  share condition of the catalog) and the purchase-day summary (days, first and last day,
  first day's amount, sum of squared gaps).
* ``client_mix`` — one row per client and category or channel: purchases, transactions and
  amount; ``mix_totals`` the same per value over all clients (the top-N lists).

Features are **not** written a second time. The incremental query runs the catalog's own
definitions: in each covered set, every aggregate the definition uses is replaced by the
state column holding it (``SUM(amount)`` over purchase days -> ``spend``,
``AVG(CASE WHEN is_promotion THEN 1.0 ELSE 0.0 END)`` -> ``promo count / purchases``), and
the share conditions of the catalog become the state's count columns. A definition using an
aggregate the state does not hold is refused with a :class:`FeatureError` (and a test
checks that every feature of the covered groups is derivable). Groups on small entities
(engagement counts, holdings, value) run the catalog query unchanged; ``rfm_scores`` run
their catalog definition on the incremental ``rfm`` relation.

Folding a batch aggregates only the batch and upserts its client-days, mixes and sums. The
purchase-day summary of a client whose batch days fall on or after their last purchase day
is extended from the batch alone; a client with late data (a day before their last
purchase day) has it re-derived from their day rows. Both are exact.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import duckdb
import pandas as pd

from segmint.config import FeaturesConfig
from segmint.errors import FeatureError, WarehouseError
from segmint.features._catalog import GROUPS, POST_ENGINE_GROUPS, SHARED_CTES
from segmint.features._compute import (
    _bindings,
    _date,
    _join_post,
    _lit_date,
    feature_params,
    resolve_groups,
)
from segmint.features._definitions import (
    FeatureSet,
    PostEngineContext,
    SharedCte,
    compose_query,
)
from segmint.features._engine import DuckDBEngine

DAY_TABLE = "client_day_agg"
CLIENT_TABLE = "client_agg"
MIX_TABLE = "client_mix"
TOTALS_TABLE = "mix_totals"
META_TABLE = "feature_state"
STATE_TABLES = (DAY_TABLE, CLIENT_TABLE, MIX_TABLE, TOTALS_TABLE, META_TABLE)

_SHARE = re.compile(r"AVG\(CASE WHEN (.+?) THEN 1\.0 ELSE 0\.0 END\)")

# Rows of a batch (or of all transactions) in the shape the catalog's relations have.
_ROWS = (
    "SELECT client_id, ts, CAST(ts AS DATE) AS day, amount, category, channel,\n"
    "    COALESCE(is_promotion, FALSE) AS is_promotion\n  FROM {src}"
)

# Aggregates of the catalog held by the state, per covered feature set: catalog SQL (as in
# the definition, before formatting) -> state expression. Share conditions of the catalog
# (AVG(CASE WHEN cond THEN 1.0 ELSE 0.0 END)) are added by _share_counts.
_DAY_MEASURES = {
    "COUNT(*)": "n_days",
    "SUM(amount)": "spend",
    "MAX(day)": "last_day",
    "MIN(day)": "first_day",
    "arg_min(amount, day)": "first_day_spend",
}
_K = "(n_days - 1)"
_S = "date_diff('day', first_day, last_day)"
_IPT_MEASURES = {
    "AVG(gap)": f"(CAST({_S} AS DOUBLE) / NULLIF({_K}, 0))",
    # population sd of k integer gaps summing to S with squares summing to Q: sqrt(kQ - S^2)/k
    "STDDEV_POP(gap)": f"(sqrt(CAST({_K} * gap_sum2 - {_S} * {_S} AS DOUBLE)) / NULLIF({_K}, 0))",
}
_MIX_MEASURES = {
    "SUM(CASE WHEN ts >= {trend_start} THEN amount ELSE 0.0 END)": "w_last",
    "SUM(CASE WHEN ts >= {trend_prev_start} AND ts < {trend_start} THEN amount ELSE 0.0 END)":
        "w_prev",
    "SUM(CASE WHEN category = {category_value} THEN amount ELSE 0.0 END)": "cat_{category}",
    "AVG(CASE WHEN channel = {channel_value} THEN 1.0 ELSE 0.0 END)":
        "(chan_{channel} / NULLIF(n_purch, 0))",
    "AVG(CASE WHEN is_promotion THEN amount END)": "(promo_spend / NULLIF(promo_n, 0))",
    "AVG(CASE WHEN NOT is_promotion THEN amount END)":
        "(nonpromo_spend / NULLIF(n_purch - promo_n, 0))",
    "SUM(amount)": "spend",
}
_DIGITAL_MEASURES = {
    "AVG(CASE WHEN LOWER(channel) IN {digital_channels} THEN 1.0 ELSE 0.0 END)":
        "(n_digital / n_touch)",
}
# covered set -> (state relation it reads, measures, rows the share counts are over)
_COVERED: dict[str, tuple[str, dict[str, str], str | None]] = {
    "rfm": ("state_buyers", _DAY_MEASURES, None),
    "behaviour_ipt": ("state_buyers", _IPT_MEASURES, None),
    "behaviour_mix": ("state_behaviour", _MIX_MEASURES, "purchases"),
    "behaviour_refunds": ("state_clients", {}, "tx"),
    "engagement_digital": ("state_touches", _DIGITAL_MEASURES, None),
}
_DENOMINATOR = {"purchases": "n_purch", "tx": "n_tx"}
_ROW_FILTER = {"purchases": "amount >= 0", "tx": "TRUE"}
INCREMENTAL_GROUPS = ("rfm", "rfm_scores", "behaviour")


@cache
def _aggregate_call() -> re.Pattern[str]:
    """A call of any DuckDB aggregate or window function (what the state must replace)."""
    names = {
        r[0].lower()
        for r in duckdb.sql(
            "SELECT DISTINCT function_name FROM duckdb_functions() "
            "WHERE function_type = 'aggregate'"
        ).fetchall()
    } | {"lag", "lead", "rank", "dense_rank", "row_number", "ntile", "first_value", "last_value"}
    alternatives = "|".join(sorted((re.escape(n) for n in names), key=len, reverse=True))
    return re.compile(rf"\b({alternatives})\s*\(", re.I)


@cache
def _share_counts() -> dict[str, tuple[str, str, str]]:
    """Count columns of the catalog's (untemplated) share conditions.

    ``{column: (catalog aggregate, condition, rows)}``; e.g. ``c_weekend_share`` counts
    purchases with ``isodow(ts) >= 6``.
    """
    out = {}
    for group in GROUPS.values():
        for s in group.sets:
            rows = _COVERED.get(s.name, (None, None, None))[2]
            if rows is None:
                continue
            for f in s.features:
                for cond in _SHARE.findall(f.expr):
                    if "{" not in cond:
                        out[f"c_{f.name}"] = (
                            f"AVG(CASE WHEN {cond} THEN 1.0 ELSE 0.0 END)", cond, rows
                        )
    return out


@cache
def state_sets() -> dict[str, FeatureSet]:
    """The covered catalog sets with each aggregate replaced by its state expression."""
    shares = _share_counts()
    out = {}
    for group in GROUPS.values():
        for s in group.sets:
            if s.name not in _COVERED:
                continue
            source, measures, rows = _COVERED[s.name]
            table = dict(measures)
            for column, (agg, _cond, over) in shares.items():
                if over == rows:
                    table[agg] = f"({column} / NULLIF({_DENOMINATOR[over]}, 0))"
            features = []
            for f in s.features:
                expr = f.expr
                for agg in sorted(table, key=len, reverse=True):
                    expr = expr.replace(agg, table[agg])
                left = _aggregate_call().search(expr)
                if left:
                    raise FeatureError(
                        f"feature {f.name!r}: the incremental state holds no aggregate for "
                        f"{expr[left.start():left.start() + 60]!r}; compute it with "
                        "compute_features, or add the aggregate to features/_incremental.py"
                    )
                features.append(dataclasses.replace(f, expr=expr))
            out[s.name] = FeatureSet(s.name, source, tuple(features), grouped=False)
    return out


# -- state SQL (the same statements build the state and fold a batch) ----------------------
def _client_sums(src: str) -> str:
    counts = "".join(
        f",\n    COUNT(*) FILTER (WHERE {_ROW_FILTER[rows]} AND ({cond})) AS {column}"
        for column, (_agg, cond, rows) in _share_counts().items()
    )
    return (
        "SELECT client_id,\n"
        "    COUNT(*) AS n_tx,\n"
        "    COUNT(*) FILTER (WHERE amount >= 0) AS n_purch,\n"
        "    COALESCE(SUM(amount) FILTER (WHERE amount >= 0), 0.0) AS spend,\n"
        "    COUNT(*) FILTER (WHERE amount >= 0 AND is_promotion) AS promo_n,\n"
        "    COALESCE(SUM(amount) FILTER (WHERE amount >= 0 AND is_promotion), 0.0) AS promo_spend,\n"
        "    COALESCE(SUM(amount) FILTER (WHERE amount >= 0 AND NOT is_promotion), 0.0)"
        f" AS nonpromo_spend{counts}\n"
        f"  FROM ({_ROWS.format(src=src)}) GROUP BY client_id"
    )


def _additive() -> list[str]:
    return ["n_tx", "n_purch", "spend", "promo_n", "promo_spend", "nonpromo_spend",
            *_share_counts()]


def _day_rows(src: str) -> str:
    return (
        "SELECT client_id, day, COUNT(*) AS n_purch, SUM(amount) AS spend\n"
        f"  FROM ({_ROWS.format(src=src)}) WHERE amount >= 0 GROUP BY client_id, day"
    )


def _day_summary(where: str) -> str:
    """Purchase-day summary per client from ``client_day_agg`` rows matching ``where``."""
    return (
        "SELECT client_id, COUNT(*) AS n_days, MIN(day) AS first_day, MAX(day) AS last_day,\n"
        "    arg_min(spend, day) AS first_day_spend,\n"
        "    COALESCE(SUM(gap * gap), 0) AS gap_sum2\n"
        "  FROM (SELECT client_id, day, spend,\n"
        "      date_diff('day', LAG(day) OVER (PARTITION BY client_id ORDER BY day), day) AS gap\n"
        f"    FROM {DAY_TABLE} WHERE {where})\n"
        "  GROUP BY client_id"
    )


def _mix_rows(src: str) -> str:
    rows = _ROWS.format(src=src)
    parts = [
        f"SELECT client_id, '{kind}' AS kind, {kind} AS value, COUNT(*) AS n_tx,\n"
        "    COUNT(*) FILTER (WHERE amount >= 0) AS n_purch,\n"
        "    COALESCE(SUM(amount) FILTER (WHERE amount >= 0), 0.0) AS spend\n"
        f"  FROM ({rows}) WHERE {kind} IS NOT NULL GROUP BY client_id, {kind}"
        for kind in ("category", "channel")
    ]
    return "\nUNION ALL\n".join(parts)


def _client_rows(sums: str, days: str) -> str:
    cols = ", ".join(f"s.{c}" for c in _additive())
    return (
        f"SELECT s.client_id, {cols},\n"
        "    COALESCE(d.n_days, 0) AS n_days, d.first_day, d.last_day,\n"
        "    d.first_day_spend, COALESCE(d.gap_sum2, 0) AS gap_sum2\n"
        f"  FROM {sums} AS s LEFT JOIN {days} AS d ON d.client_id = s.client_id"
    )


def _run(con: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
    return con.execute(sql, list(params or [])).fetchall()


def build_state(warehouse: Any) -> int:
    """(Re)build the incremental state from every transaction in the warehouse.

    Returns the number of transactions folded. Atomic: the previous state stays until
    the new one is complete.
    """
    warehouse.require("transactions", hint="run `segmint ingest` first")
    con = warehouse.con
    with warehouse.transaction():
        _run(con, f"CREATE OR REPLACE TABLE {DAY_TABLE} AS {_day_rows('transactions')} ORDER BY day")
        _run(con, f"CREATE OR REPLACE TEMP TABLE _state_sums AS {_client_sums('transactions')}")
        _run(con, f"CREATE OR REPLACE TEMP TABLE _state_days AS {_day_summary('TRUE')}")
        _run(
            con,
            f"CREATE OR REPLACE TABLE {CLIENT_TABLE} AS "
            f"{_client_rows('_state_sums', '_state_days')} ORDER BY s.client_id",
        )
        _run(con, f"CREATE OR REPLACE TABLE {MIX_TABLE} AS {_mix_rows('transactions')}")
        _run(
            con,
            f"CREATE OR REPLACE TABLE {TOTALS_TABLE} AS SELECT kind, value, "
            f"SUM(n_purch) AS n_purch, SUM(spend) AS spend FROM {MIX_TABLE} GROUP BY kind, value",
        )
        _run(
            con,
            f"CREATE OR REPLACE TABLE {META_TABLE} AS SELECT count(*) AS n_transactions, "
            "CAST(max(ts) AS DATE) AS last_day, now() AS updated_at FROM transactions",
        )
        _run(con, "DROP TABLE _state_sums")
        _run(con, "DROP TABLE _state_days")
    return int(_run(con, f"SELECT n_transactions FROM {META_TABLE}")[0][0])


def fold(warehouse: Any, new_transactions: Any) -> int:
    """Append new transactions to the warehouse and fold them into the state, atomically.

    Parameters
    ----------
    warehouse : Warehouse
        Holding ``transactions`` and a state built by :func:`build_state`.
    new_transactions : str or DataFrame or pyarrow.Table or DuckDB relation
        The batch, with the canonical transaction columns (a table or view name, or data).
        Rows may fall on days already folded (same-day purchases across batches) or
        before a client's last purchase day; the result is exact either way.

    Returns
    -------
    int
        Number of transactions folded.
    """
    con = warehouse.con
    _check_state(warehouse)
    registered = not isinstance(new_transactions, str)
    src = "_fold_input" if registered else new_transactions
    if registered:
        con.register("_fold_input", new_transactions)
    try:
        with warehouse.transaction():
            _run(con, f"CREATE OR REPLACE TEMP TABLE _fold_batch AS SELECT * FROM {src}")
            n, first = _run(con, "SELECT count(*), CAST(min(ts) AS DATE) FROM _fold_batch")[0]
            if n == 0:
                return 0
            _run(con, "INSERT INTO transactions BY NAME SELECT * FROM _fold_batch")
            _fold_days(con, first)
            _fold_clients(con)
            _fold_mix(con)
            _run(
                con,
                f"UPDATE {META_TABLE} SET n_transactions = n_transactions + ?, "
                "last_day = greatest(last_day, (SELECT CAST(max(ts) AS DATE) FROM _fold_batch)), "
                "updated_at = now()",
                [n],
            )
            for t in ("_fold_batch", "_fold_days", "_fold_sums", "_fold_touched", "_fold_mix"):
                _run(con, f"DROP TABLE IF EXISTS {t}")
    finally:
        if registered:
            con.unregister("_fold_input")
    return int(n)


def _fold_days(con: Any, first: dt.date) -> None:
    _run(con, f"CREATE OR REPLACE TEMP TABLE _fold_days AS {_day_rows('_fold_batch')}")
    # the literal bound lets DuckDB skip the (day-ordered) row groups older than the batch
    _run(
        con,
        f"UPDATE {DAY_TABLE} AS c SET n_purch = c.n_purch + d.n_purch, spend = c.spend + d.spend "
        f"FROM _fold_days AS d WHERE c.day >= {_lit_date(first)} "
        "AND c.client_id = d.client_id AND c.day = d.day",
    )
    _run(
        con,
        f"INSERT INTO {DAY_TABLE} SELECT d.* FROM _fold_days AS d ANTI JOIN "
        f"(SELECT client_id, day FROM {DAY_TABLE} WHERE day >= {_lit_date(first)}) AS c "
        "ON c.client_id = d.client_id AND c.day = d.day ORDER BY d.day",
    )


_SUMMARY = ("n_days", "first_day", "last_day", "first_day_spend", "gap_sum2")

# Purchase-day summary of the clients whose batch days all fall on or after their last
# purchase day (the usual, chronological case), from their old summary and the batch's
# days alone: new days extend the chain of gaps, a day equal to the last day merges into it.
_FAST_SUMMARY = """
SELECT client_id,
    COALESCE(any_value(o_n), 0) + COUNT(*) FILTER (WHERE o_last IS NULL OR day > o_last) AS n_days,
    COALESCE(any_value(o_first), MIN(day)) AS first_day,
    CASE WHEN any_value(o_last) IS NULL THEN MAX(day) ELSE greatest(any_value(o_last), MAX(day)) END
        AS last_day,
    CASE WHEN any_value(o_first) IS NULL THEN arg_min(spend, day)
        WHEN MIN(day) = any_value(o_first) THEN any_value(o_fspend) + arg_min(spend, day)
        ELSE any_value(o_fspend) END AS first_day_spend,
    COALESCE(any_value(o_g2), 0) + COALESCE(SUM(CASE WHEN o_last IS NULL OR day > o_last
        THEN gap * gap END), 0) AS gap_sum2
FROM (
    SELECT d.client_id, d.day, d.spend, t.o_n, t.o_first, t.o_last, t.o_fspend, t.o_g2,
        date_diff('day', COALESCE(LAG(d.day) OVER (PARTITION BY d.client_id ORDER BY d.day),
            t.o_last), d.day) AS gap
    FROM _fold_days AS d JOIN _fold_touched AS t ON t.client_id = d.client_id
    WHERE t.in_order
)
GROUP BY client_id
"""


def _fold_clients(con: Any) -> None:
    _run(con, f"CREATE OR REPLACE TEMP TABLE _fold_sums AS {_client_sums('_fold_batch')}")
    added = ", ".join(f"s.{c} + COALESCE(a.{c}, 0) AS {c}" for c in _additive())
    _run(
        con,
        f"CREATE OR REPLACE TEMP TABLE _fold_touched AS SELECT s.client_id, {added},\n"
        "    a.n_days AS o_n, a.first_day AS o_first, a.last_day AS o_last,\n"
        "    a.first_day_spend AS o_fspend, a.gap_sum2 AS o_g2,\n"
        "    a.last_day IS NULL OR (SELECT min(day) FROM _fold_days AS d\n"
        "        WHERE d.client_id = s.client_id) IS NULL\n"
        "      OR (SELECT min(day) FROM _fold_days AS d WHERE d.client_id = s.client_id)\n"
        "        >= a.last_day AS in_order\n"
        f"FROM _fold_sums AS s LEFT JOIN {CLIENT_TABLE} AS a ON a.client_id = s.client_id",
    )
    _run(con, f"CREATE OR REPLACE TEMP TABLE _fold_dsum AS {_FAST_SUMMARY}")
    # late data (a day before the client's last purchase day): re-derive from the day rows
    late = _day_summary("client_id IN (SELECT client_id FROM _fold_touched WHERE NOT in_order)")
    _run(con, f"INSERT INTO _fold_dsum {late}")
    _run(con, f"DELETE FROM {CLIENT_TABLE} WHERE client_id IN (SELECT client_id FROM _fold_touched)")
    old = {"n_days": "o_n", "first_day": "o_first", "last_day": "o_last",
           "first_day_spend": "o_fspend", "gap_sum2": "o_g2"}
    summary = ", ".join(
        f"COALESCE(d.{c}, t.{old[c]}{', 0' if c in ('n_days', 'gap_sum2') else ''}) AS {c}"
        for c in _SUMMARY
    )
    cols = ", ".join(f"t.{c}" for c in _additive())
    _run(
        con,
        f"INSERT INTO {CLIENT_TABLE} SELECT t.client_id, {cols}, {summary} "
        "FROM _fold_touched AS t LEFT JOIN _fold_dsum AS d ON d.client_id = t.client_id",
    )
    _run(con, "DROP TABLE _fold_dsum")


def _fold_mix(con: Any) -> None:
    _run(con, f"CREATE OR REPLACE TEMP TABLE _fold_mix AS {_mix_rows('_fold_batch')}")
    key = "c.client_id = m.client_id AND c.kind = m.kind AND c.value = m.value"
    _run(
        con,
        f"UPDATE {MIX_TABLE} AS c SET n_tx = c.n_tx + m.n_tx, n_purch = c.n_purch + m.n_purch, "
        f"spend = c.spend + m.spend FROM _fold_mix AS m WHERE {key}",
    )
    _run(con, f"INSERT INTO {MIX_TABLE} SELECT m.* FROM _fold_mix AS m ANTI JOIN {MIX_TABLE} AS c ON {key}")
    _run(
        con,
        "CREATE OR REPLACE TEMP TABLE _fold_tot AS SELECT kind, value, SUM(n_purch) AS n_purch, "
        "SUM(spend) AS spend FROM _fold_mix GROUP BY kind, value",
    )
    tkey = "t.kind = m.kind AND t.value = m.value"
    _run(
        con,
        f"UPDATE {TOTALS_TABLE} AS t SET n_purch = t.n_purch + m.n_purch, spend = t.spend + m.spend "
        f"FROM _fold_tot AS m WHERE {tkey}",
    )
    _run(
        con,
        f"INSERT INTO {TOTALS_TABLE} SELECT m.* FROM _fold_tot AS m "
        f"ANTI JOIN {TOTALS_TABLE} AS t ON {tkey}",
    )
    _run(con, "DROP TABLE _fold_tot")


# -- state status -----------------------------------------------------------------------
def state_status(warehouse: Any) -> dict[str, Any] | None:
    """``{"n_transactions", "last_day", "in_sync"}`` of the stored state, or None without one."""
    if not all(warehouse.has_table(t) for t in STATE_TABLES):
        return None
    n, last = _run(warehouse.con, f"SELECT n_transactions, last_day FROM {META_TABLE}")[0]
    actual = _run(warehouse.con, "SELECT count(*) FROM transactions")[0][0]
    return {"n_transactions": int(n), "last_day": last, "in_sync": int(n) == int(actual)}


def _check_state(warehouse: Any) -> dict[str, Any]:
    status = state_status(warehouse)
    if status is None:
        raise WarehouseError(
            "no incremental feature state in the warehouse: build it with "
            "segmint.features.build_state(warehouse)"
        )
    if not status["in_sync"]:
        raise WarehouseError(
            f"the incremental feature state covers {status['n_transactions']} transactions but "
            "the table `transactions` has a different count (it was replaced or appended to "
            "outside fold()); rebuild it with build_state(warehouse)"
        )
    return status


# -- compute ----------------------------------------------------------------------------
def _braces(sql: str) -> str:
    # data values inside CTE text that is formatted again by compose_query
    return sql.replace("{", "{{").replace("}", "}}")


def _state_ctes(params: Mapping[str, Any]) -> dict[str, SharedCte]:
    cats = [b["category"] for b in params["category"]]
    chans = [b["channel"] for b in params["channel"]]
    pivot = [
        f"SUM(CASE WHEN kind = 'category' AND value = {_braces(b['category_value'])} THEN spend END)"
        f" AS cat_{b['category']}"
        for b in params["category"]
    ] + [
        f"SUM(CASE WHEN kind = 'channel' AND value = {_braces(b['channel_value'])} THEN n_purch END)"
        f" AS chan_{b['channel']}"
        for b in params["channel"]
    ]
    values = [_braces(b["category_value"]) for b in params["category"]] + [
        _braces(b["channel_value"]) for b in params["channel"]
    ]
    mix_cols = "".join(f", COALESCE(m.cat_{c}, 0.0) AS cat_{c}" for c in cats) + "".join(
        f", COALESCE(m.chan_{c}, 0) AS chan_{c}" for c in chans
    )
    mix_join = ""
    extra = []
    if pivot:
        extra.append(
            SharedCte(
                "state_mix",
                f"  SELECT client_id, {', '.join(pivot)}\n  FROM {MIX_TABLE}\n"
                f"  WHERE value IN ({', '.join(values)}) GROUP BY client_id",
            )
        )
        mix_join = " LEFT JOIN state_mix AS m ON m.client_id = a.client_id"
    return {
        **SHARED_CTES,
        **{c.name: c for c in extra},
        "state_clients": SharedCte("state_clients", f"  SELECT * FROM {CLIENT_TABLE}"),
        "state_buyers": SharedCte(
            "state_buyers", f"  SELECT * FROM {CLIENT_TABLE} WHERE n_days > 0"
        ),
        "state_window": SharedCte(
            "state_window",
            "  SELECT client_id,\n"
            "    SUM(CASE WHEN day >= CAST({trend_start} AS DATE) THEN spend ELSE 0.0 END) AS w_last,\n"
            "    SUM(CASE WHEN day < CAST({trend_start} AS DATE) THEN spend ELSE 0.0 END) AS w_prev\n"
            f"  FROM {DAY_TABLE}\n"
            "  WHERE day >= CAST({trend_prev_start} AS DATE) AND day <= {as_of}\n"
            "  GROUP BY client_id",
        ),
        "state_behaviour": SharedCte(
            "state_behaviour",
            "  SELECT a.*, COALESCE(w.w_last, 0.0) AS w_last, COALESCE(w.w_prev, 0.0) AS w_prev"
            f"{mix_cols}\n  FROM {CLIENT_TABLE} AS a"
            " LEFT JOIN state_window AS w ON w.client_id = a.client_id"
            f"{mix_join}\n  WHERE a.n_purch > 0",
            ("state_window", *(["state_mix"] if pivot else [])),
        ),
        "state_touches": SharedCte(
            "state_touches",
            "  SELECT client_id, CAST(SUM(n_digital) AS DOUBLE) AS n_digital, SUM(n) AS n_touch\n"
            "  FROM (\n"
            f"    SELECT client_id, 0 AS n_digital, n_tx AS n FROM {CLIENT_TABLE}\n"
            "    UNION ALL\n"
            f"    SELECT client_id, n_tx, 0 FROM {MIX_TABLE}\n"
            "      WHERE kind = 'channel' AND LOWER(value) IN {digital_channels}\n"
            "    UNION ALL\n"
            "    SELECT client_id,\n"
            "      CASE WHEN LOWER(channel) IN {digital_channels} THEN 1 ELSE 0 END, 1\n"
            "    FROM engagement WHERE ts < {as_of_end}\n"
            "  ) GROUP BY client_id",
        ),
    }


# relations read per client: restricted to the target clients when re-scoring a few
_RESTRICTABLE = (
    "clients_asof", "state_behaviour", "state_window", "state_mix", "state_touches", "events",
    "holdings_open", "holdings_opened", "profit_window",
)


def _restrict(ctes: dict[str, SharedCte], targets: str) -> dict[str, SharedCte]:
    out = dict(ctes)
    for name in _RESTRICTABLE:
        if name not in ctes:  # state_mix: only with top categories or channels
            continue
        c = ctes[name]
        sql = (
            f"  SELECT * FROM (\n{c.sql}\n  ) WHERE client_id IN (SELECT client_id FROM {targets})"
        )
        out[name] = SharedCte(name, sql, c.requires)
    # scores rank every buyer, not only the targets
    out["clients_all"] = dataclasses.replace(SHARED_CTES["clients_asof"], name="clients_all")
    out["rfm_buyers"] = SharedCte(
        "rfm_buyers",
        "  SELECT r.* FROM rfm AS r JOIN clients_all AS c ON c.client_id = r.client_id",
        ("rfm", "clients_all"),
    )
    return out


def _top(con: Any, kind: str, order: str, limit: int) -> list[str]:
    if limit <= 0:
        return []
    rows = _run(
        con,
        f"SELECT value FROM {TOTALS_TABLE} WHERE kind = ? AND n_purch > 0 "
        f"ORDER BY {order} DESC, value LIMIT {int(limit)}",
        [kind],
    )
    return [str(r[0]) for r in rows]


def incremental_query(
    warehouse: Any,
    as_of: dt.date | str,
    config: FeaturesConfig | None = None,
    *,
    clients: str | None = None,
    currency: str = "EUR",
) -> tuple[str, list[str], dict[str, Any]]:
    """The feature query over the state (DuckDB dialect), its groups and its parameters.

    ``clients`` names a relation with a ``client_id`` column: only those clients' rows
    are computed (scores still rank every buyer).
    """
    config = config or FeaturesConfig()
    day = _date(as_of)
    status = _check_state(warehouse)
    if status["last_day"] is not None and day < status["last_day"]:
        raise FeatureError(
            f"as_of {day}: the incremental state holds transactions up to "
            f"{status['last_day']}; compute an earlier date with compute_features"
        )
    engine = DuckDBEngine(warehouse.con)
    groups = resolve_groups(engine, config)
    # top-N lists of the transaction groups come from the state, not a scan of the history
    params = feature_params(
        engine, day, config, [g for g in groups if g != "behaviour"], currency=currency
    )
    if "behaviour" in groups:
        params["category"] = _bindings(
            "category", _top(warehouse.con, "category", "spend", config.top_categories)
        )
        params["channel"] = _bindings(
            "channel", _top(warehouse.con, "channel", "n_purch", config.top_channels)
        )
    ctes = _state_ctes(params)
    if clients is not None:
        ctes = _restrict(ctes, clients)
    replaced = state_sets()
    sets = [
        replaced.get(s.name, s) for name in groups if name in GROUPS for s in GROUPS[name].sets
    ]
    sql, _columns = compose_query(sets, ctes, params)
    return sql, groups, params


def compute_incremental(
    warehouse: Any,
    as_of: dt.date | str,
    config: FeaturesConfig | None = None,
    *,
    clients: Sequence[str] | None = None,
    currency: str = "EUR",
) -> pd.DataFrame:
    """Features as of a date from the incremental state: equal to :func:`compute_features`.

    Parameters
    ----------
    warehouse : Warehouse
        With a state in sync with ``transactions`` (:func:`build_state`, :func:`fold`).
    as_of : date or str
        On or after the last folded transaction's day (earlier dates: ``compute_features``).
    config : FeaturesConfig, optional
    clients : sequence of str, optional
        Compute only these clients (the rows a full computation would give them).
    currency : str

    Returns
    -------
    pandas.DataFrame
        The columns and row order of :func:`compute_features`.
    """
    config = config or FeaturesConfig()
    con = warehouse.con
    target = None
    if clients is not None:
        target = "_rescore_targets"
        con.register("_rescore_targets_in", pd.DataFrame({"client_id": list(clients)}, dtype=object))
        _run(
            con,
            f"CREATE OR REPLACE TEMP TABLE {target} AS "
            "SELECT DISTINCT CAST(client_id AS VARCHAR) AS client_id FROM _rescore_targets_in",
        )
        con.unregister("_rescore_targets_in")
    try:
        sql, groups, params = incremental_query(
            warehouse, as_of, config, clients=target, currency=currency
        )
        frame = DuckDBEngine(con).execute(sql).to_pandas()
    finally:
        if target is not None:
            _run(con, f"DROP TABLE IF EXISTS {target}")
    for name in groups:
        group = POST_ENGINE_GROUPS.get(name)
        if group is None:
            continue
        # a post-engine group (CLV) scores with a stored model version; when it must fit
        # one, it fits on the population's required columns, never on the targets alone
        population = None
        if clients is not None:
            sub = config.model_copy(update={"groups": list(group.requires)})
            population = functools.partial(_population, warehouse, as_of, sub, currency)
        context = PostEngineContext(
            as_of=_date(as_of), warehouse=warehouse, population=population,
            refit=clients is None,
        )
        frame = _join_post(frame, group, params, context)
    return frame


def _population(
    warehouse: Any, as_of: dt.date | str, config: FeaturesConfig, currency: str
) -> pd.DataFrame:
    sql, _groups, _params = incremental_query(warehouse, as_of, config, currency=currency)
    return DuckDBEngine(warehouse.con).execute(sql).to_pandas()


class IncrementalFeatures:
    """The incremental feature state of a warehouse (functional API: :func:`build_state`,
    :func:`fold`, :func:`compute_incremental`).

    Examples
    --------
    >>> inc = IncrementalFeatures(warehouse)  # doctest: +SKIP
    >>> inc.build_state()  # doctest: +SKIP
    >>> inc.fold(new_day_frame)  # doctest: +SKIP
    >>> inc.compute("2024-06-30", config.features)  # doctest: +SKIP
    """

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse

    def build_state(self) -> int:
        return build_state(self.warehouse)

    def fold(self, new_transactions: Any) -> int:
        return fold(self.warehouse, new_transactions)

    def compute(
        self,
        as_of: dt.date | str,
        config: FeaturesConfig | None = None,
        *,
        clients: Sequence[str] | None = None,
        currency: str = "EUR",
    ) -> pd.DataFrame:
        return compute_incremental(
            self.warehouse, as_of, config, clients=clients, currency=currency
        )

    def status(self) -> dict[str, Any] | None:
        return state_status(self.warehouse)
