"""Incremental feature state: fold new transactions into stored aggregates, not the history.

A daily cycle's feature cost follows the new data and the number of clients, not the
history. The state is a few warehouse tables (``feature_state`` records what they cover):

* ``client_agg`` — one row per client with transactions, everything the covered feature
  sets need: additive counts and sums (transactions, purchases, spend, promotion counts and
  amounts, one count per share condition of the catalog), the purchase-day summary (days,
  first and last day, first day's amount, sum of squared gaps), and the *layout* columns:
  spend per top category, purchases per top channel, digital transactions, and the spend
  of the two trend windows.
* ``client_day_agg`` — purchases and amount per client and purchase day, append-only (a
  day bought on in two batches has two rows). It serves late data (a day before a client's
  last purchase day re-derives their day summary) and the trend windows: moving the windows
  from one as_of to the next reads only the days crossing their boundaries.
* ``client_mix`` — purchases, transactions and amount per client and category or channel,
  append-only; ``mix_totals`` the same per value over all clients (the top-N lists). The
  mix is read only when the layout changes (another top-N list, digital channel set or
  window length), which rebuilds the layout columns.
* ``client_events`` — engagement events per client and channel (null and mixed-case
  channels as stored; one row each, folded batches added to it); ``event_totals`` the same
  per channel. They serve the two engagement features of all history: the top-N event
  channel list (``event_totals``) and ``digital_share`` (``client_agg``'s ``n_digital``
  and ``n_tx`` plus the digital channels' events of ``client_events``, summed under the
  configured channels: another digital set needs no rebuild). The windowed event counts
  run the catalog's query, whose ``events`` relation reads only the events of the windows.
  Events after the date are subtracted (a filtered read of ``engagement``, only when the
  state holds any). ``feature_state`` keeps the events' count, exact timestamp sum and last
  day: an engagement part out of step with ``engagement`` (reloaded, edited in place,
  ingested after the state was built) is caught and rebuilt alone (:func:`build_event_state`).

Amounts are summed as ``DECIMAL(38, 6)``, as the catalog sums them: sums do not depend on
the order of their terms, so subtracting the days that leave a window is exact and every
feature equals a full recomputation (tests compare them exactly).

Features are **not** defined a second time. The incremental query runs the catalog's own
definitions: every aggregate a covered definition uses is replaced by the state column
holding it (``SUM(amount)`` over purchase days -> ``spend``,
``AVG(CASE WHEN is_promotion THEN 1.0 ELSE 0.0 END)`` -> ``promo count / purchases``), and
the share conditions of the catalog become the state's count columns. A definition using
an aggregate the state does not hold is refused with a :class:`FeatureError` (a test checks
that every feature of the covered groups is derivable). The covered sets are merged into
one pass over ``client_agg``; the RFM n-tile scores are computed from the n-tile
thresholds (``quantile_disc``, exact: score = 1 + number of thresholds below the value),
which equals the catalog's ``RANK()`` definition without sorting every buyer. Groups on
other entities (the event counts, holdings, value) run their catalog query unchanged.

Folding a batch aggregates only the batch: it appends its day and mix rows and updates the
rows of the clients it touches. The purchase-day summary of a client whose batch days fall
on or after their last purchase day is extended from the batch alone; a client with late
data has it re-derived from their day rows. Both are exact. Folding events
(:func:`fold_events`) adds the batch's counts per client and channel.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any

import duckdb
import pandas as pd

from segmint.config import FeaturesConfig
from segmint.errors import FeatureError, WarehouseError
from segmint.features._catalog import EXACT, GROUPS, POST_ENGINE_GROUPS, SHARED_CTES
from segmint.features._compute import (
    _bindings,
    _date,
    _join_post,
    _lit_date,
    _lit_str,
    feature_params,
    resolve_groups,
    top_values,
)
from segmint.features._definitions import (
    Feature,
    FeatureSet,
    PostEngineContext,
    SharedCte,
    compose_ctes,
    compose_query,
)
from segmint.features._engine import DuckDBEngine

DAY_TABLE = "client_day_agg"
CLIENT_TABLE = "client_agg"
MIX_TABLE = "client_mix"
TOTALS_TABLE = "mix_totals"
EVENTS_TABLE = "client_events"
EVENT_TOTALS_TABLE = "event_totals"
META_TABLE = "feature_state"
STATE_TABLES = (DAY_TABLE, CLIENT_TABLE, MIX_TABLE, TOTALS_TABLE, EVENTS_TABLE, EVENT_TOTALS_TABLE,
                META_TABLE)
MONEY = "DECIMAL(38, 6)"

_SHARE = re.compile(r"AVG\(CASE WHEN (.+?) THEN 1\.0 ELSE 0\.0 END\)")

# Rows of a batch (or of all transactions) in the shape the catalog's relations have.
_ROWS = (
    f"SELECT client_id, ts, CAST(ts AS DATE) AS day, {EXACT} AS amount, category, channel,\n"
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
    "SUM(CASE WHEN is_promotion THEN amount END)": "promo_spend",
    "COUNT(CASE WHEN is_promotion THEN 1 END)": "promo_n",
    "SUM(CASE WHEN NOT is_promotion THEN amount END)": "nonpromo_spend",
    "COUNT(CASE WHEN NOT is_promotion THEN 1 END)": "(n_purch - promo_n)",
    "SUM(amount)": "spend",
}
_DIGITAL_MEASURES = {
    "AVG(CASE WHEN LOWER(channel) IN {digital_channels} THEN 1.0 ELSE 0.0 END)":
        "(n_digital / n_touch)",
}
# covered set -> (rows of client_agg it covers, measures, rows the share counts are over)
_COVERED: dict[str, tuple[str, dict[str, str], str | None]] = {
    "rfm": ("n_days > 0", _DAY_MEASURES, None),
    "behaviour_ipt": ("n_days > 0", _IPT_MEASURES, None),
    "behaviour_mix": ("n_purch > 0", _MIX_MEASURES, "purchases"),
    "behaviour_refunds": ("n_tx > 0", {}, "tx"),
}
_DIGITAL_SET = ("engagement_digital", _DIGITAL_MEASURES)
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


def _replace(f: Feature, table: Mapping[str, str]) -> Feature:
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
    return dataclasses.replace(f, expr=expr)


@cache
def state_sets() -> dict[str, FeatureSet]:
    """The covered catalog sets with each aggregate replaced by its state expression.

    The covered sets read ``client_agg`` (source ``state``, one row per client; each set's
    rows are those matching its filter in ``_COVERED``); ``engagement_digital`` reads
    ``state_touches``.
    """
    shares = _share_counts()
    out = {}
    for group in GROUPS.values():
        for s in group.sets:
            if s.name in _COVERED:
                _rows, measures, over = _COVERED[s.name]
                table = dict(measures)
                for column, (agg, _cond, rows) in shares.items():
                    if rows == over:
                        table[agg] = f"({column} / NULLIF({_DENOMINATOR[rows]}, 0))"
                source = "state"
            elif s.name == _DIGITAL_SET[0]:
                table, source = _DIGITAL_SET[1], "state_touches"
            else:
                continue
            features = tuple(_replace(f, table) for f in s.features)
            out[s.name] = FeatureSet(s.name, source, features, grouped=False)
    return out


# -- layout -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Layout:
    """What the configuration-dependent columns of ``client_agg`` hold.

    ``categories`` and ``channels`` are the top-N values (their ``cat_``/``chan_`` columns,
    named by the values' bindings), ``digital`` the lower-cased digital channels
    (``n_digital``), ``window_days`` the trend window and ``anchor`` the as_of the window
    sums ``w_last`` (days from ``anchor + 1 - window_days`` on) and ``w_prev`` (the
    ``window_days`` before) are anchored at.
    """

    categories: tuple[str, ...]
    channels: tuple[str, ...]
    digital: tuple[str, ...]
    window_days: int
    anchor: dt.date

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["anchor"] = self.anchor.isoformat()
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> Layout:
        d = json.loads(text)
        return cls(
            tuple(d["categories"]), tuple(d["channels"]), tuple(d["digital"]),
            int(d["window_days"]), dt.date.fromisoformat(d["anchor"]),
        )

    def cat_columns(self) -> list[tuple[str, str]]:
        return [(f"lay_cat_{i}", _lit_str(v)) for i, v in enumerate(self.categories)]

    def chan_columns(self) -> list[tuple[str, str]]:
        return [(f"lay_chan_{i}", _lit_str(v)) for i, v in enumerate(self.channels)]

    def columns(self) -> list[str]:
        return [c for c, _ in self.cat_columns() + self.chan_columns()] + [
            "n_digital", "w_last", "w_prev"]

    def covers(self, wanted: Layout) -> bool:
        """Holds every column ``wanted`` reads (top-N lists may be a subset, in any order)."""
        return (
            set(wanted.categories) <= set(self.categories)
            and set(wanted.channels) <= set(self.channels)
            and (self.digital, self.window_days) == (wanted.digital, wanted.window_days)
        )

    def aliases(self, wanted: Layout) -> str:
        """``lay_*`` columns under the names the state expressions read (``cat_<binding>``)."""
        cats = {v: c for c, v in self.cat_columns()}
        chans = {v: c for c, v in self.chan_columns()}
        out = [f"{cats[b['category_value']]} AS cat_{b['category']}"
               for b in _bindings("category", wanted.categories)]
        out += [f"{chans[b['channel_value']]} AS chan_{b['channel']}"
                for b in _bindings("channel", wanted.channels)]
        return "".join(f", {a}" for a in out)

    def trend_start(self) -> dt.date:
        return self.anchor + dt.timedelta(days=1 - self.window_days)

    def prev_start(self) -> dt.date:
        return self.anchor + dt.timedelta(days=1 - 2 * self.window_days)

    def sum_columns(self) -> list[str]:
        """The layout columns as aggregates over rows shaped as ``_ROWS``, per client."""
        digital = ", ".join(_lit_str(c) for c in self.digital) or "NULL"
        ts, ps = _lit_date(self.trend_start()), _lit_date(self.prev_start())
        cols = [f"COALESCE(SUM(amount) FILTER (WHERE amount >= 0 AND category = {v}), 0)::{MONEY} "
                f"AS {c}" for c, v in self.cat_columns()]
        cols += [f"COUNT(*) FILTER (WHERE amount >= 0 AND channel = {v}) AS {c}"
                 for c, v in self.chan_columns()]
        cols += [
            f"COUNT(*) FILTER (WHERE LOWER(channel) IN ({digital})) AS n_digital",
            f"COALESCE(SUM(amount) FILTER (WHERE amount >= 0 AND day >= {ts}), 0)::{MONEY} "
            "AS w_last",
            f"COALESCE(SUM(amount) FILTER (WHERE amount >= 0 AND day >= {ps} AND day < {ts}), "
            f"0)::{MONEY} AS w_prev",
        ]
        return cols


def wanted_layout(warehouse: Any, as_of: dt.date, config: FeaturesConfig) -> Layout:
    """The layout the features as of ``as_of`` with ``config`` need (top-N from the state)."""
    con = warehouse.con
    return Layout(
        tuple(_top(con, "category", "spend", config.top_categories)),
        tuple(_top(con, "channel", "n_purch", config.top_channels)),
        tuple(c.lower() for c in config.digital_channels),
        int(config.trend_window_days),
        as_of,
    )


MAX_LAYOUT_VALUES = 64
"""Categories (channels) the state holds a column for: all of them up to this many, so a
change in the top-N lists needs no rebuild; beyond it, the top-N lists of the options."""


def _build_layout(warehouse: Any, as_of: dt.date, config: FeaturesConfig) -> Layout:
    wanted = wanted_layout(warehouse, as_of, config)
    lists = {}
    for kind, order, top in (("category", "spend", wanted.categories),
                             ("channel", "n_purch", wanted.channels)):
        every = _top(warehouse.con, kind, order, MAX_LAYOUT_VALUES + 1)
        lists[kind] = tuple(every) if len(every) <= MAX_LAYOUT_VALUES else top
    return dataclasses.replace(wanted, categories=lists["category"], channels=lists["channel"])


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


# -- state SQL (the same statements build the state and fold a batch) ----------------------
def _client_sum_columns() -> list[str]:
    """The additive sums per client, as aggregates over rows shaped as ``_ROWS``."""
    return [
        "COUNT(*) AS n_tx",
        "COUNT(*) FILTER (WHERE amount >= 0) AS n_purch",
        f"COALESCE(SUM(amount) FILTER (WHERE amount >= 0), 0)::{MONEY} AS spend",
        "COUNT(*) FILTER (WHERE amount >= 0 AND is_promotion) AS promo_n",
        f"COALESCE(SUM(amount) FILTER (WHERE amount >= 0 AND is_promotion), 0)::{MONEY}"
        " AS promo_spend",
        f"COALESCE(SUM(amount) FILTER (WHERE amount >= 0 AND NOT is_promotion), 0)::{MONEY}"
        " AS nonpromo_spend",
        *(
            f"COUNT(*) FILTER (WHERE {_ROW_FILTER[rows]} AND ({cond})) AS {column}"
            for column, (_agg, cond, rows) in _share_counts().items()
        ),
    ]


def _additive() -> list[str]:
    return ["n_tx", "n_purch", "spend", "promo_n", "promo_spend", "nonpromo_spend",
            *_share_counts()]


def _day_rows(src: str) -> str:
    return (
        f"SELECT client_id, day, COUNT(*) AS n_purch, SUM(amount)::{MONEY} AS spend\n"
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
        f"    FROM (SELECT client_id, day, SUM(spend) AS spend FROM {DAY_TABLE}\n"
        f"      WHERE {where} GROUP BY client_id, day))\n"
        "  GROUP BY client_id"
    )


def _mix_rows(src: str) -> str:
    rows = _ROWS.format(src=src)
    parts = [
        f"SELECT client_id, '{kind}' AS kind, {kind} AS value, COUNT(*) AS n_tx,\n"
        "    COUNT(*) FILTER (WHERE amount >= 0) AS n_purch,\n"
        f"    COALESCE(SUM(amount) FILTER (WHERE amount >= 0), 0)::{MONEY} AS spend\n"
        f"  FROM ({rows}) WHERE {kind} IS NOT NULL GROUP BY client_id, {kind}"
        for kind in ("category", "channel")
    ]
    return "\nUNION ALL\n".join(parts)


_SUMMARY = ("n_days", "first_day", "last_day", "first_day_spend", "gap_sum2")


def _run(con: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
    return con.execute(sql, list(params or [])).fetchall()


def _sums(src: str, layout: Layout) -> str:
    """Additive sums and layout columns per client over the transactions ``src``."""
    cols = ",\n    ".join([*_client_sum_columns(), *layout.sum_columns()])
    return f"SELECT client_id,\n    {cols}\n  FROM ({_ROWS.format(src=src)}) GROUP BY client_id"


def _base_columns() -> list[str]:
    return ["client_id", *_additive(), *_SUMMARY]


# what the state covers besides the row count: the exact sum of the amounts and of the
# timestamps (one scan of two columns; catches rows edited in place, not only added)
_FINGERPRINT = (
    f"COALESCE(SUM({EXACT}), 0)::{MONEY} AS amount_sum, "
    "COALESCE(SUM(epoch_us(ts))::HUGEINT, 0) AS ts_sum"
)


def _stored_layout(con: Any) -> Layout:
    return Layout.from_json(_run(con, f"SELECT layout FROM {META_TABLE}")[0][0])


def build_state(
    warehouse: Any, config: FeaturesConfig | None = None, *, as_of: dt.date | str | None = None
) -> int:
    """(Re)build the incremental state from every transaction (and event) in the warehouse.

    ``config`` chooses the layout (top-N lists, digital channels, trend window; later
    computations with other options re-lay it out once) and ``as_of`` the window anchor
    (default: the last transaction's day). Returns the number of transactions folded.
    Atomic: the previous state stays until the new one is complete.
    """
    warehouse.require("transactions", hint="run `segmint ingest` first")
    config = config or FeaturesConfig()
    con = warehouse.con
    with warehouse.transaction():
        last = _run(con, "SELECT CAST(max(ts) AS DATE) FROM transactions")[0][0]
        anchor = _date(as_of) if as_of is not None else (last or dt.date(1970, 1, 1))
        _run(con, f"CREATE OR REPLACE TABLE {DAY_TABLE} AS {_day_rows('transactions')} ORDER BY day")
        _run(con, f"CREATE OR REPLACE TABLE {MIX_TABLE} AS {_mix_rows('transactions')}")
        _run(
            con,
            f"CREATE OR REPLACE TABLE {TOTALS_TABLE} AS SELECT kind, value, SUM(n_tx) AS n_tx, "
            f"SUM(n_purch) AS n_purch, SUM(spend)::{MONEY} AS spend "
            f"FROM {MIX_TABLE} GROUP BY kind, value",
        )
        layout = _build_layout(warehouse, anchor, config)
        _run(con, f"CREATE OR REPLACE TEMP TABLE _state_sums AS {_sums('transactions', layout)}")
        _run(con, f"CREATE OR REPLACE TEMP TABLE _state_days AS {_day_summary('TRUE')}")
        summary = ", ".join(
            f"COALESCE(d.{c}, 0) AS {c}" if c in ("n_days", "gap_sum2") else f"d.{c}"
            for c in _SUMMARY
        )
        _run(
            con,
            f"CREATE OR REPLACE TABLE {CLIENT_TABLE} AS SELECT "
            f"{', '.join(f's.{c}' for c in _base_columns()[:-len(_SUMMARY)])}, {summary}, "
            f"{', '.join(f's.{c}' for c in layout.columns())}\n"
            "FROM _state_sums AS s LEFT JOIN _state_days AS d ON d.client_id = s.client_id "
            "ORDER BY s.client_id",
        )
        events = _build_events(warehouse)
        _run(
            con,
            f"CREATE OR REPLACE TABLE {META_TABLE} AS SELECT t.*, e.* FROM (\n"
            "  SELECT count(*) AS n_transactions, CAST(max(ts) AS DATE) AS last_day, "
            f"now() AS updated_at, {_lit_str(layout.to_json())} AS layout, {_FINGERPRINT}\n"
            f"  FROM transactions) AS t, ({events}) AS e",
        )
        _run(con, "DROP TABLE _state_sums")
        _run(con, "DROP TABLE _state_days")
    return int(_run(con, f"SELECT n_transactions FROM {META_TABLE}")[0][0])


def fold(warehouse: Any, new_transactions: Any, *, append: bool = True) -> int:
    """Fold new transactions into the state (and append them to the warehouse), atomically.

    Parameters
    ----------
    warehouse : Warehouse
        Holding ``transactions`` and a state built by :func:`build_state`.
    new_transactions : str or DataFrame or pyarrow.Table or DuckDB relation
        The batch, with the canonical transaction columns (a table or view name, or data).
        Rows may fall on days already folded (same-day purchases across batches) or
        before a client's last purchase day; the result is exact either way.
    append : bool, default True
        Insert the batch into ``transactions``. False when it is already there (an
        incremental ingest appended it): then ``transactions`` must hold exactly the
        folded rows plus this batch.

    Returns
    -------
    int
        Number of transactions folded.
    """
    con = warehouse.con
    status = state_status(warehouse)
    if status is None:
        _check_state(warehouse)
    with _staged(warehouse, new_transactions, "_fold_batch") as n:
        actual = _run(con, "SELECT count(*) FROM transactions")[0][0]
        expected = status["n_transactions"] + (0 if append else n)
        if actual != expected:
            if append:
                _check_state(warehouse)  # raises: out of sync
            raise WarehouseError(
                f"fold(append=False): `transactions` holds {actual} rows, the state "
                f"{status['n_transactions']} and the batch {n}; the batch must be the "
                "rows appended since the state was last folded"
            )
        if n == 0:
            return 0
        if append:
            _run(con, "INSERT INTO transactions BY NAME SELECT * FROM _fold_batch")
        layout = _stored_layout(con)
        _fold_days(con)
        _fold_clients(con, layout)
        _fold_mix(con)
        _run(
            con,
            f"UPDATE {META_TABLE} AS m SET n_transactions = m.n_transactions + b.n, "
            "last_day = greatest(m.last_day, b.last), updated_at = now(), "
            "amount_sum = m.amount_sum + b.amount_sum, ts_sum = m.ts_sum + b.ts_sum "
            f"FROM (SELECT count(*) AS n, CAST(max(ts) AS DATE) AS last, {_FINGERPRINT} "
            "FROM _fold_batch) AS b",
        )
        for t in ("_fold_days", "_fold_sums", "_fold_touched", "_fold_mix"):
            _run(con, f"DROP TABLE IF EXISTS {t}")
    return int(n)


@contextlib.contextmanager
def _staged(warehouse: Any, data: Any, table: str) -> Iterator[int]:
    """Open a transaction holding ``data`` (a table name, or data to register) as the temp
    table ``table``; yields its row count. The table is dropped when the block ends."""
    con = warehouse.con
    registered = not isinstance(data, str)
    if registered:
        con.register(f"{table}_input", data)
    try:
        with warehouse.transaction():
            src = f"{table}_input" if registered else data
            _run(con, f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM {src}")
            yield int(_run(con, f"SELECT count(*) FROM {table}")[0][0])
            _run(con, f"DROP TABLE IF EXISTS {table}")
    finally:
        if registered:
            con.unregister(f"{table}_input")


def _fold_days(con: Any) -> None:
    _run(con, f"CREATE OR REPLACE TEMP TABLE _fold_days AS {_day_rows('_fold_batch')}")
    _run(con, f"INSERT INTO {DAY_TABLE} SELECT * FROM _fold_days ORDER BY day")


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


def _fold_clients(con: Any, layout: Layout) -> None:
    _run(con, f"CREATE OR REPLACE TEMP TABLE _fold_sums AS {_sums('_fold_batch', layout)}")
    added = ", ".join(
        f"s.{c} + COALESCE(a.{c}, 0) AS {c}" for c in [*_additive(), *layout.columns()]
    )
    _run(
        con,
        f"CREATE OR REPLACE TEMP TABLE _fold_touched AS SELECT s.client_id, {added},\n"
        "    a.n_days AS o_n, a.first_day AS o_first, a.last_day AS o_last,\n"
        "    a.first_day_spend AS o_fspend, a.gap_sum2 AS o_g2,\n"
        "    a.last_day IS NULL OR m.first IS NULL OR m.first >= a.last_day AS in_order\n"
        f"FROM _fold_sums AS s LEFT JOIN {CLIENT_TABLE} AS a ON a.client_id = s.client_id\n"
        "LEFT JOIN (SELECT client_id, min(day) AS first FROM _fold_days GROUP BY client_id) AS m\n"
        "  ON m.client_id = s.client_id",
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
    lay = ", ".join(f"t.{c}" for c in layout.columns())
    _run(
        con,
        f"INSERT INTO {CLIENT_TABLE} SELECT t.client_id, {cols}, {summary}, {lay} "
        "FROM _fold_touched AS t LEFT JOIN _fold_dsum AS d ON d.client_id = t.client_id",
    )
    _run(con, "DROP TABLE _fold_dsum")


def _fold_mix(con: Any) -> None:
    _run(con, f"CREATE OR REPLACE TEMP TABLE _fold_mix AS {_mix_rows('_fold_batch')}")
    _run(con, f"INSERT INTO {MIX_TABLE} SELECT * FROM _fold_mix")
    _run(
        con,
        "CREATE OR REPLACE TEMP TABLE _fold_tot AS SELECT kind, value, SUM(n_tx) AS n_tx, "
        "SUM(n_purch) AS n_purch, SUM(spend) AS spend FROM _fold_mix GROUP BY kind, value",
    )
    tkey = "t.kind = m.kind AND t.value = m.value"
    _run(
        con,
        f"UPDATE {TOTALS_TABLE} AS t SET n_tx = t.n_tx + m.n_tx, n_purch = t.n_purch + m.n_purch, "
        f"spend = t.spend + m.spend FROM _fold_tot AS m WHERE {tkey}",
    )
    _run(
        con,
        f"INSERT INTO {TOTALS_TABLE} SELECT m.* FROM _fold_tot AS m "
        f"ANTI JOIN {TOTALS_TABLE} AS t ON {tkey}",
    )
    _run(con, "DROP TABLE _fold_tot")


# -- engagement: event counts per client and channel -----------------------------------
# What the events part covers: their count, the exact sum of their timestamps and their
# last day (an edit in place changes the sum; a reload, almost surely, one of them).
_EVENTS_FINGERPRINT = (
    "count(*) AS n_events, COALESCE(SUM(epoch_us(ts))::HUGEINT, 0) AS events_ts_sum, "
    "CAST(max(ts) AS DATE) AS events_last_day"
)
_NO_EVENTS = (
    "SELECT 0::BIGINT AS n_events, 0::HUGEINT AS events_ts_sum, NULL::DATE AS events_last_day"
)
# same channel: a null channel is a channel of its own (counted as a touch, never digital)
_EVENT_KEY = "c.client_id = b.client_id AND c.channel IS NOT DISTINCT FROM b.channel"


def _event_rows(src: str) -> str:
    return (f"SELECT client_id, channel, count(*) AS n_events FROM {src} "
            "GROUP BY client_id, channel")


def _build_events(warehouse: Any) -> str:
    """(Re)create ``client_events`` and ``event_totals``; returns the fingerprint query."""
    con = warehouse.con
    if warehouse.has_table("engagement"):
        _run(con, f"CREATE OR REPLACE TABLE {EVENTS_TABLE} AS {_event_rows('engagement')} "
                  "ORDER BY client_id")
        fingerprint = f"SELECT {_EVENTS_FINGERPRINT} FROM engagement"
    else:  # engagement ingested later is picked up by its fingerprint
        _run(con, f"CREATE OR REPLACE TABLE {EVENTS_TABLE} "
                  "(client_id VARCHAR, channel VARCHAR, n_events BIGINT)")
        fingerprint = _NO_EVENTS
    _run(con, f"CREATE OR REPLACE TABLE {EVENT_TOTALS_TABLE} AS SELECT channel, "
              f"SUM(n_events)::BIGINT AS n_events FROM {EVENTS_TABLE} GROUP BY channel")
    return fingerprint


def build_event_state(warehouse: Any) -> int:
    """Rebuild only the engagement part of the state (``engagement`` reloaded or edited).

    Returns the number of events it covers. Atomic, like :func:`build_state`.
    """
    con = warehouse.con
    _check_state(warehouse)
    with warehouse.transaction():
        events = _build_events(warehouse)
        _run(con, f"UPDATE {META_TABLE} SET n_events = e.n_events, "
                  "events_ts_sum = e.events_ts_sum, events_last_day = e.events_last_day, "
                  f"updated_at = now() FROM ({events}) AS e")
    return int(_run(con, f"SELECT n_events FROM {META_TABLE}")[0][0])


def fold_events(warehouse: Any, new_events: Any, *, append: bool = True) -> int:
    """Fold new engagement events into the state (and append them to ``engagement``).

    Parameters
    ----------
    warehouse : Warehouse
        Holding a state built by :func:`build_state`.
    new_events : str or DataFrame or pyarrow.Table or DuckDB relation
        The batch, with the canonical engagement columns (a table or view name, or data),
        at any timestamps.
    append : bool, default True
        Insert the batch into ``engagement``. False when it is already there (an
        incremental ingest appended it): then ``engagement`` must hold exactly the folded
        events plus this batch.

    Returns
    -------
    int
        Number of events folded.
    """
    con = warehouse.con
    status = _check_state(warehouse)
    with _staged(warehouse, new_events, "_fold_ev_batch") as n:
        if append:
            warehouse.require("engagement", hint="run `segmint ingest` first")
        actual = _count(warehouse, "engagement")
        expected = status["n_events"] + (0 if append else n)
        if actual != expected:
            raise WarehouseError(
                f"fold_events: `engagement` holds {actual} rows, the state "
                f"{status['n_events']}{'' if append else f' and the batch {n}'}: it was "
                "replaced or appended to outside fold_events(); rebuild its part of the "
                "state with build_event_state(warehouse)"
            )
        if n == 0:
            return 0
        if append:
            _run(con, "INSERT INTO engagement BY NAME SELECT * FROM _fold_ev_batch")
        _run(con, f"CREATE OR REPLACE TEMP TABLE _fold_ev AS {_event_rows('_fold_ev_batch')}")
        _run(con, f"UPDATE {EVENTS_TABLE} AS c SET n_events = c.n_events + b.n_events "
                  f"FROM _fold_ev AS b WHERE {_EVENT_KEY}")
        _run(con, f"INSERT INTO {EVENTS_TABLE} SELECT b.* FROM _fold_ev AS b "
                  f"ANTI JOIN {EVENTS_TABLE} AS c ON {_EVENT_KEY}")
        _run(con, "CREATE OR REPLACE TEMP TABLE _fold_ev_tot AS SELECT channel, "
                  "SUM(n_events)::BIGINT AS n_events FROM _fold_ev GROUP BY channel")
        tkey = "c.channel IS NOT DISTINCT FROM b.channel"
        _run(con, f"UPDATE {EVENT_TOTALS_TABLE} AS c SET n_events = c.n_events + b.n_events "
                  f"FROM _fold_ev_tot AS b WHERE {tkey}")
        _run(con, f"INSERT INTO {EVENT_TOTALS_TABLE} SELECT b.* FROM _fold_ev_tot AS b "
                  f"ANTI JOIN {EVENT_TOTALS_TABLE} AS c ON {tkey}")
        _run(
            con,
            f"UPDATE {META_TABLE} AS m SET n_events = m.n_events + b.n_events, "
            "events_ts_sum = m.events_ts_sum + b.events_ts_sum, "
            "events_last_day = greatest(m.events_last_day, b.events_last_day), "
            f"updated_at = now() FROM (SELECT {_EVENTS_FINGERPRINT} FROM _fold_ev_batch) AS b",
        )
        for t in ("_fold_ev", "_fold_ev_tot"):
            _run(con, f"DROP TABLE IF EXISTS {t}")
    return int(n)


def _count(warehouse: Any, table: str) -> int:
    if not warehouse.has_table(table):
        return 0
    return int(_run(warehouse.con, f"SELECT count(*) FROM {table}")[0][0])


def _as_of_counts(table: str, keys: str, later: str | None) -> str:
    """Event counts of ``table`` per ``keys`` as of a date: the folded counts minus those
    of the events at or after ``later`` (the end of the date; None when no folded event is
    that late, the usual case: then the table itself). Keys left without events are
    dropped: a client whose every event is later has no touch, as in the catalog."""
    if later is None:
        return f"SELECT {keys}, n_events FROM {table}"
    return (
        f"SELECT {keys}, SUM(n) AS n_events FROM (\n"
        f"    SELECT {keys}, n_events AS n FROM {table}\n"
        "    UNION ALL\n"
        f"    SELECT {keys}, -count(*) FROM engagement WHERE ts >= {later} GROUP BY {keys}\n"
        f"  ) GROUP BY {keys} HAVING SUM(n) > 0"
    )


def _top_events(con: Any, limit: int, later: str | None) -> list[str]:
    """The most frequent event channels of all events as of the date (the catalog's lookup)."""
    if limit <= 0:
        return []
    counts = _as_of_counts(EVENT_TOTALS_TABLE, "channel", later)
    rows = _run(con, f"SELECT channel FROM ({counts}) WHERE channel IS NOT NULL "
                     f"AND n_events > 0 ORDER BY n_events DESC, channel LIMIT {int(limit)}")
    return [str(r[0]) for r in rows]


# -- layout changes -----------------------------------------------------------------------
def sync_layout(warehouse: Any, wanted: Layout) -> Layout:
    """Bring the layout columns to what ``wanted`` reads; returns the stored layout.

    The trend windows move to ``wanted.anchor`` reading only the days crossing their
    boundaries. A top-N value without a column, another digital channel set or window
    length rebuild the layout columns from the mix and day rows (with every value
    already held, plus the new ones).
    """
    con = warehouse.con
    stored = _stored_layout(con)
    if stored.covers(wanted) and stored.anchor == wanted.anchor:
        return stored
    with warehouse.transaction():
        if stored.covers(wanted):
            _advance_windows(con, stored, wanted)
            stored = dataclasses.replace(stored, anchor=wanted.anchor)
        else:
            keep = len(stored.categories) + len(stored.channels) <= 2 * MAX_LAYOUT_VALUES
            stored = dataclasses.replace(
                wanted,
                categories=tuple(dict.fromkeys(
                    (*stored.categories, *wanted.categories) if keep else wanted.categories)),
                channels=tuple(dict.fromkeys(
                    (*stored.channels, *wanted.channels) if keep else wanted.channels)),
            )
            _relayout(con, stored)
        _run(con, f"UPDATE {META_TABLE} SET layout = ?", [stored.to_json()])
    return stored


def state_anchor(warehouse: Any) -> dt.date | None:
    """The as_of the state's trend windows are anchored at (None without a state)."""
    if not warehouse.has_table(META_TABLE):
        return None
    rows = _run(warehouse.con, f"SELECT layout FROM {META_TABLE}")
    return Layout.from_json(rows[0][0]).anchor if rows else None


def move_anchor(warehouse: Any, anchor: dt.date) -> None:
    """Move the state's trend windows to ``anchor`` (either way; the sums move exactly),
    e.g. back to where they were before an update cycle that is undone."""
    if warehouse.has_table(META_TABLE) and _run(warehouse.con, f"SELECT count(*) FROM {META_TABLE}")[0][0]:
        sync_layout(warehouse, dataclasses.replace(_stored_layout(warehouse.con), anchor=anchor))


def _interval(a: dt.date, b: dt.date) -> tuple[str, int]:
    """Days in [min, max) and the sign of ``Σ[b] - Σ[a]`` for prefix sums at a and b."""
    lo, hi = min(a, b), max(a, b)
    return f"day >= {_lit_date(lo)} AND day < {_lit_date(hi)}", 1 if a <= b else -1


def _advance_windows(con: Any, old: Layout, new: Layout) -> None:
    # w_last = Σ[trend_start, ∞) and w_prev = Σ[prev_start, trend_start) as prefix-sum
    # differences: moving a bound from a to b adds P(b) - P(a) = ± Σ of the days between.
    lead, s1 = _interval(old.trend_start(), new.trend_start())
    tail, s2 = _interval(old.prev_start(), new.prev_start())
    _run(
        con,
        "CREATE OR REPLACE TEMP TABLE _win_move AS SELECT client_id,\n"
        f"  {s1} * COALESCE(SUM(spend) FILTER (WHERE {lead}), 0) AS d1,\n"
        f"  {s2} * COALESCE(SUM(spend) FILTER (WHERE {tail}), 0) AS d2\n"
        f"FROM {DAY_TABLE} WHERE ({lead}) OR ({tail}) GROUP BY client_id",
    )
    _run(
        con,
        f"UPDATE {CLIENT_TABLE} AS a SET w_last = a.w_last - v.d1, "
        "w_prev = a.w_prev + v.d1 - v.d2 FROM _win_move AS v WHERE a.client_id = v.client_id",
    )
    _run(con, "DROP TABLE _win_move")


def _relayout(con: Any, layout: Layout) -> None:
    digital = ", ".join(_lit_str(c) for c in layout.digital) or "NULL"
    pivot = [
        f"COALESCE(SUM(spend) FILTER (WHERE kind = 'category' AND value = {v}), 0)::{MONEY} AS {c}"
        for c, v in layout.cat_columns()
    ] + [
        f"COALESCE(SUM(n_purch) FILTER (WHERE kind = 'channel' AND value = {v}), 0) AS {c}"
        for c, v in layout.chan_columns()
    ] + [
        "COALESCE(SUM(n_tx) FILTER (WHERE kind = 'channel' AND LOWER(value) IN "
        f"({digital})), 0) AS n_digital"
    ]
    ts, ps = _lit_date(layout.trend_start()), _lit_date(layout.prev_start())
    _run(con, f"CREATE OR REPLACE TEMP TABLE _lay_mix AS SELECT client_id, {', '.join(pivot)} "
              f"FROM {MIX_TABLE} GROUP BY client_id")
    _run(
        con,
        "CREATE OR REPLACE TEMP TABLE _lay_win AS SELECT client_id,\n"
        f"  COALESCE(SUM(spend) FILTER (WHERE day >= {ts}), 0)::{MONEY} AS w_last,\n"
        f"  COALESCE(SUM(spend) FILTER (WHERE day < {ts}), 0)::{MONEY} AS w_prev\n"
        f"FROM {DAY_TABLE} WHERE day >= {ps} GROUP BY client_id",
    )
    mix_cols = [c for c in layout.columns() if c not in ("w_last", "w_prev")]
    cols = (
        [f"a.{c}" for c in _base_columns()]
        + [f"COALESCE(m.{c}, 0) AS {c}" for c in mix_cols]
        + [f"COALESCE(w.{c}, 0)::{MONEY} AS {c}" for c in ("w_last", "w_prev")]
    )
    _run(
        con,
        f"CREATE OR REPLACE TABLE {CLIENT_TABLE} AS SELECT {', '.join(cols)}\n"
        f"FROM {CLIENT_TABLE} AS a LEFT JOIN _lay_mix AS m ON m.client_id = a.client_id\n"
        "LEFT JOIN _lay_win AS w ON w.client_id = a.client_id ORDER BY a.client_id",
    )
    _run(con, "DROP TABLE _lay_mix")
    _run(con, "DROP TABLE _lay_win")


# -- state status -----------------------------------------------------------------------
def state_status(
    warehouse: Any, *, verify: bool = False, verify_events: bool | None = None
) -> dict[str, Any] | None:
    """What the state covers and whether it is in step with the warehouse, or None.

    ``{"n_transactions", "last_day", "in_sync", "layout", "n_events", "events_last_day",
    "events_in_sync"}``. ``in_sync``: ``transactions`` has the rows the state folded (by
    count; with ``verify``, also by the exact sums of their amounts and timestamps, one
    scan of two columns: a row edited in place is caught too). ``events_in_sync``: the
    same for ``engagement`` (a missing table holds no events), by count or, with
    ``verify_events`` (default: ``verify``), also by the exact sum of the timestamps.
    """
    if not all(warehouse.has_table(t) for t in STATE_TABLES):
        return None
    cols = {r[0] for r in _run(warehouse.con, f"DESCRIBE {META_TABLE}")}
    if not {"layout", "amount_sum", "events_ts_sum"} <= cols:  # an earlier segmint version
        return None
    n, last, layout, amount, ts, n_ev, ev_ts, ev_last = _run(
        warehouse.con,
        f"SELECT n_transactions, last_day, layout, amount_sum, ts_sum, n_events, "
        f"events_ts_sum, events_last_day FROM {META_TABLE}",
    )[0]
    if verify:
        actual = _run(warehouse.con, f"SELECT count(*), {_FINGERPRINT} FROM transactions")[0]
        in_sync = tuple(actual) == (n, amount, ts)
    else:
        in_sync = int(n) == _run(warehouse.con, "SELECT count(*) FROM transactions")[0][0]
    if not (verify if verify_events is None else verify_events):
        events_in_sync = int(n_ev) == _count(warehouse, "engagement")
    elif warehouse.has_table("engagement"):
        actual = _run(warehouse.con, f"SELECT {_EVENTS_FINGERPRINT} FROM engagement")[0]
        events_in_sync = tuple(actual[:2]) == (n_ev, ev_ts)
    else:
        events_in_sync = (n_ev, ev_ts) == (0, 0)
    return {"n_transactions": int(n), "last_day": last, "in_sync": in_sync,
            "layout": Layout.from_json(layout), "n_events": int(n_ev),
            "events_last_day": ev_last, "events_in_sync": events_in_sync}


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


def _check_events(status: Mapping[str, Any]) -> None:
    if not status["events_in_sync"]:
        raise WarehouseError(
            f"the incremental feature state covers {status['n_events']} engagement events but "
            "the table `engagement` has a different count (it was replaced or appended to "
            "outside fold_events()); rebuild its part with build_event_state(warehouse)"
        )


# -- compute ----------------------------------------------------------------------------
def _braces(sql: str) -> str:
    # data values inside CTE text that is formatted again by compose_query
    return sql.replace("{", "{{").replace("}", "}}")


def _merged(groups: Sequence[str], params: Mapping[str, Any]) -> tuple[SharedCte, list[Feature]]:
    """The covered sets of ``groups`` as one pass over ``client_agg``.

    Each feature keeps its set's rows: its expression is null outside them (a client
    without purchase days has no rfm row), so the query's defaults apply as in a full run.
    Returns the relation and the features it holds (each read by name from it).
    """
    replaced = state_sets()
    cols, features = [], []
    for name in groups:
        for s in GROUPS[name].sets if name in GROUPS else ():
            if s.name not in _COVERED:
                continue
            rows = _COVERED[s.name][0]
            for f in replaced[s.name].features:
                for column, expr in f.expand(params):
                    cols.append(f"CASE WHEN {rows} THEN {_braces(expr)} END AS {column}")
                features.append(dataclasses.replace(f, expr=f.name))
    cte = SharedCte("state_features", "  SELECT client_id,\n    " + ",\n    ".join(cols)
                    + "\n  FROM state", ("state",))
    return cte, features


def _state_ctes(merged: SharedCte, aliases: str, later: str | None) -> dict[str, SharedCte]:
    return {
        **SHARED_CTES,
        "state": SharedCte("state", f"  SELECT *{aliases} FROM {CLIENT_TABLE}"),
        merged.name: merged,
        "client_tenure": SharedCte(
            "client_tenure",
            "  SELECT c.client_id, c.onboarded_at, s.btyd_T FROM clients_asof AS c\n"
            "  LEFT JOIN state_features AS s ON s.client_id = c.client_id",
            ("state_features", "clients_asof"),
        ),
        "rfm_buyers": SharedCte(
            "rfm_buyers",
            "  SELECT s.* FROM state_features AS s JOIN clients_asof AS c ON c.client_id = s.client_id"
            "\n  WHERE s.frequency IS NOT NULL",
            ("state_features", "clients_asof"),
        ),
        "state_events": SharedCte(
            "state_events", "  " + _as_of_counts(EVENTS_TABLE, "client_id, channel", later)
        ),
        "state_touches": SharedCte(
            "state_touches",
            "  SELECT client_id, CAST(SUM(n_digital) AS DOUBLE) AS n_digital, SUM(n) AS n_touch\n"
            "  FROM (\n"
            "    SELECT client_id, n_digital, n_tx AS n FROM state\n"
            "    UNION ALL\n"
            "    SELECT client_id,\n"
            "      CASE WHEN LOWER(channel) IN {digital_channels} THEN n_events ELSE 0 END,\n"
            "      n_events\n"
            "    FROM state_events\n"
            "  ) GROUP BY client_id",
            ("state", "state_events"),
        ),
    }


# relations read per client: restricted to the target clients when re-scoring a few
_RESTRICTABLE = ("clients_asof", "state", "events", "state_events", "holdings_open",
                 "holdings_opened",
                 "profit_window")


def _restrict(ctes: dict[str, SharedCte], targets: str) -> dict[str, SharedCte]:
    out = dict(ctes)
    for name in _RESTRICTABLE:
        c = ctes[name]
        sql = f"  SELECT * FROM (\n{c.sql}\n  ) WHERE client_id IN (SELECT client_id FROM {targets})"
        out[name] = SharedCte(name, sql, c.requires)
    return out


def _literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, dt.date):
        return _lit_date(v)
    if isinstance(v, int | float):
        return repr(v)
    return f"CAST({_lit_str(str(v))} AS {MONEY})"  # Decimal: exact


# score column -> (rfm column, sign): RANK() over the column ascending (recency: descending)
_SCORES = {"r_score": ("recency_days", -1), "f_score": ("frequency", 1),
           "m_score": ("monetary_total", 1)}


def _score_features(
    con: Any, ctes: Mapping[str, SharedCte], params: Mapping[str, Any]
) -> tuple[SharedCte, list[Feature]]:
    """The rfm_scores features from the n-tile thresholds of the buyers (exact, no sort).

    With the catalog's score 1 + floor(bins * (rank - 1) / n) and rank = 1 + #{u < v}, the
    score of v is 1 + #{s in 1..bins-1 : t_s < v} where t_s is the k_s-th smallest value
    (and bins for the best value, as in the catalog),
    k_s = ceil(s * n / bins): ``quantile_disc`` at (k_s - 1/2) / n picks it exactly. n is
    guessed from the state (every client with purchase days, the usual case) and checked
    in the same query; when some are not clients as of the date, it runs again.
    Returns ``state_scored`` (``state_features`` with the scores of the buyers).
    """
    bins = int(params["bins"])
    with_clause = compose_ctes(ctes, params, ["rfm_buyers"])
    guess = _run(con, f"SELECT count(*) FROM {CLIENT_TABLE} WHERE n_days > 0")[0][0]
    by: dict[str, Any] = {}
    while guess:
        qs = ", ".join(repr((-(-s * guess // bins) - 0.5) / guess) for s in range(1, bins))
        aggs = ", ".join(
            f"quantile_disc({sign} * {col}, [{qs}]), max({sign} * {col})"
            for col, sign in _SCORES.values()
        )
        n, *values = _run(con, f"{with_clause}\nSELECT count(*), {aggs} FROM rfm_buyers")[0]
        if n == guess:
            by = {k: (values[2 * i], values[2 * i + 1]) for i, k in enumerate(_SCORES)}
            break
        guess = n
    exprs = {}
    for score, (col, sign) in _SCORES.items():
        thresholds, best = by.get(score, ([], None))
        terms = " + ".join(
            f"CASE WHEN {sign} * {col} > {_braces(_literal(t))} THEN 1 ELSE 0 END"
            for t in thresholds
        )
        exprs[score] = f"(1 + {terms or '0'})"
        if best is not None:  # the best value scores bins however many share it
            exprs[score] = (
                f"(CASE WHEN {sign} * {col} = {_braces(_literal(best))} THEN {bins} "
                f"ELSE {exprs[score]} END)"
            )
    exprs["rfm_cell"] = " || '{cell_sep}' || ".join(
        f"CAST({exprs[s]} AS VARCHAR)" for s in _SCORES
    )
    cols = ",\n    ".join(
        f"CASE WHEN frequency IS NOT NULL THEN {e} END AS {k}" for k, e in exprs.items()
    )
    cte = SharedCte("state_scored", f"  SELECT *,\n    {cols}\n  FROM state_features",
                    ("state_features",))
    catalog = {f.name: f for f in GROUPS["rfm_scores"].features}
    return cte, [dataclasses.replace(catalog[k], expr=k) for k in exprs]


def incremental_query(
    warehouse: Any,
    as_of: dt.date | str,
    config: FeaturesConfig | None = None,
    *,
    clients: str | None = None,
    currency: str = "EUR",
    order: bool = True,
) -> tuple[str, list[str], dict[str, Any]]:
    """The feature query over the state (DuckDB dialect), its groups and its parameters.

    Brings the state's layout to the date and options first (moving the trend windows,
    or rebuilding the layout columns when a top-N list changed). ``clients`` names a
    relation with a ``client_id`` column: only those clients' rows are computed (scores
    still rank every buyer).
    """
    config = config or FeaturesConfig()
    day = _date(as_of)
    status = _check_state(warehouse)
    if status["last_day"] is not None and day < status["last_day"]:
        raise FeatureError(
            f"as_of {day}: the incremental state holds transactions up to "
            f"{status['last_day']}; compute an earlier date with compute_features"
        )
    con = warehouse.con
    engine = DuckDBEngine(con)
    groups = resolve_groups(engine, config)
    layout = wanted_layout(warehouse, day, config)
    stored = sync_layout(warehouse, layout)
    # events after the date (the engagement delivered ahead of the transactions) are
    # subtracted from the counts: one filtered read of `engagement`, only then
    last = status["events_last_day"]
    later = "{as_of_end}" if last is not None and last > day else None
    if "engagement" in groups:
        _check_events(status)
    # top-N lists of the transaction and event groups come from the state, not a scan of
    # the history
    params = feature_params(
        engine, day, config, [g for g in groups if g not in ("behaviour", "engagement")],
        currency=currency,
    )
    params["category"] = _bindings("category", layout.categories)
    params["channel"] = _bindings("channel", layout.channels)
    # what the top-N options leave out, from the state's totals (as the lists themselves)
    for key, setting, total in (("category", "top_categories", "spend"),
                                ("channel", "top_channels", "n_purch")):
        limit = getattr(config, setting)
        if "behaviour" in groups and limit > 0:
            top_values(engine, f"SELECT value, {total} AS total FROM {TOTALS_TABLE} "
                       f"WHERE kind = '{key}' AND n_purch > 0", key, setting, limit,
                       params["caps"])
    if "engagement" in groups:
        top = _top_events(con, config.top_channels, later and params["as_of_end"])
        params["event_channel"] = _bindings("event_channel", top)
        if config.top_channels > 0:
            counts = _as_of_counts(EVENT_TOTALS_TABLE, "channel", later and params["as_of_end"])
            top_values(engine, f"SELECT channel AS value, n_events AS total FROM ({counts}) "
                       "WHERE channel IS NOT NULL AND n_events > 0", "event_channel",
                       "top_channels", config.top_channels, params["caps"])
    merged, features = _merged(groups, params)
    ctes = _state_ctes(merged, _braces(stored.aliases(layout)), later)
    source = merged.name
    if "rfm_scores" in groups:  # ranks every buyer: before restricting to the targets
        scored, scores = _score_features(con, ctes, params)
        ctes[scored.name] = scored
        source, features = scored.name, features + scores
    sets = [FeatureSet("state_set", source, tuple(features), grouped=False)] if features else []
    replaced = state_sets()
    for name in groups:
        for s in GROUPS[name].sets if name in GROUPS and name != "rfm_scores" else ():
            if s.name not in _COVERED:
                sets.append(replaced.get(s.name, s))
    if clients is not None:
        ctes = _restrict(ctes, clients)
    sql, columns = compose_query(sets, ctes, params, order=False)
    # the catalog's column order (the covered sets are merged into one relation)
    rank = {n: i for i, (_f, n, _e) in enumerate(
        c for g in groups if g in GROUPS for s in GROUPS[g].sets for c in s.columns(params))}
    ordered = sorted((n for _f, n in columns), key=rank.__getitem__)
    sql = (f"SELECT client_id, {', '.join(ordered)} FROM (\n{sql}\n)"
           + (" ORDER BY client_id" if order else ""))
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

    def build_state(self, config: FeaturesConfig | None = None) -> int:
        return build_state(self.warehouse, config)

    def fold(self, new_transactions: Any, *, append: bool = True) -> int:
        return fold(self.warehouse, new_transactions, append=append)

    def fold_events(self, new_events: Any, *, append: bool = True) -> int:
        return fold_events(self.warehouse, new_events, append=append)

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
