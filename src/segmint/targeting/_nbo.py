"""Next-best-offer: per client, the eligible offers ranked by expected net value, under a
contact policy.

For a client and an eligible offer, expected net value = P(accept) x value - cost, where
P(accept) is, in this order: the offer's ``propensity`` column; the score column
``propensity_<offer name>`` when the ``scores`` table (or the features) has one; the
*affinity rate* of the client's segment (``dimension``) for the offer's product: the share
of the segment's clients without the product at ``as_of - affinity_days`` who opened it
since. An offer of a product is never made to a client who holds it (open at the
as_of), and never when its ``eligible`` condition is not true.

The contact policy is applied in rounds, in the engine: each client with a free slot
(``max_offers`` per period, less its contacts of the last ``period_days`` in the table
``contacts``) proposes its best remaining offer whose channel has capacity left; each
channel accepts the proposals of highest expected value up to its remaining capacity.
Rounds repeat until nothing is proposed, so no client gets more than ``max_offers``, no
channel more than its capacity, and an offer is made only when its value exceeds
``min_net_value``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from segmint.config._targeting import NboConfig
from segmint.errors import ConfigError, ParameterError, WarehouseError
from segmint.segmentation import ASSIGNMENTS
from segmint.segmentation._preprocess import quote, sql_float, sql_string
from segmint.store import Warehouse
from segmint.targeting._sql import BASE, build_base, compile_expression, latest_features_as_of

OFFERS = "nbo_offers"
_DDL = f"""CREATE TABLE IF NOT EXISTS {OFFERS} (
    as_of DATE NOT NULL, client_id VARCHAR NOT NULL, rank INTEGER NOT NULL, offer VARCHAR NOT NULL,
    product VARCHAR, message VARCHAR, channel VARCHAR NOT NULL, p_accept DOUBLE NOT NULL,
    p_source VARCHAR NOT NULL, value DOUBLE NOT NULL, cost DOUBLE NOT NULL,
    expected_value DOUBLE NOT NULL)"""


@dataclass
class NboResult:
    """What :func:`next_best_offers` wrote.

    Attributes
    ----------
    as_of : date
    offers : DataFrame (the rows of ``nbo_offers`` for the as_of), by client and rank
    candidates : int, eligible (client, offer) pairs above ``min_net_value``
    rounds : int, policy rounds run
    by_segment : DataFrame, per segment of each offer's dimension: the best offer, its
        message, eligible clients and mean expected value
    channel_use : dict channel -> offers made
    """

    as_of: dt.date
    offers: pd.DataFrame
    candidates: int
    rounds: int
    by_segment: pd.DataFrame
    channel_use: dict[str, int]


def _day(d: dt.date) -> str:
    return f"DATE '{d.isoformat()}'"


def affinity_rates(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, dimension: str, products: list[str], days: int
) -> pd.DataFrame:
    """Per segment of ``dimension`` and product: the share of the segment's clients without
    the product at ``as_of - days`` who opened it in ``(as_of - days, as_of]``."""
    start = as_of - dt.timedelta(days=days)
    prods = ", ".join(f"({sql_string(p)})" for p in products)
    return con.execute(
        f"""WITH p(product) AS (VALUES {prods}),
        seg AS (SELECT client_id, segment_id FROM {ASSIGNMENTS}
                WHERE as_of = {_day(as_of)} AND dimension = {sql_string(dimension)}),
        h AS (SELECT client_id, product_type, opened_at, closed_at FROM holdings
              WHERE opened_at <= {_day(as_of)}),
        had AS (SELECT DISTINCT client_id, product_type AS product FROM h
                WHERE opened_at <= {_day(start)} AND (closed_at IS NULL OR closed_at > {_day(start)})),
        opened AS (SELECT DISTINCT client_id, product_type AS product FROM h
                   WHERE opened_at > {_day(start)})
        SELECT seg.segment_id, p.product,
               count(*) FILTER (WHERE o.client_id IS NOT NULL) AS opened,
               count(*) AS at_risk,
               count(*) FILTER (WHERE o.client_id IS NOT NULL) / count(*) AS rate
        FROM seg CROSS JOIN p
        LEFT JOIN had ON had.client_id = seg.client_id AND had.product = p.product
        LEFT JOIN opened AS o ON o.client_id = seg.client_id AND o.product = p.product
        WHERE had.client_id IS NULL
        GROUP BY ALL ORDER BY ALL"""
    ).df()


def next_best_offers(
    wh: Warehouse, config: NboConfig, *, as_of: dt.date | None = None, out: str | Path | None = None
) -> NboResult:
    """Rank every client's eligible offers and apply the contact policy; store ``nbo_offers``.

    Parameters
    ----------
    wh : Warehouse
    config : NboConfig (``nbo:`` in segmint.yaml)
    as_of : date, optional (latest features snapshot by default)
    out : path, optional; also write the offers to a CSV or Parquet file

    Returns
    -------
    NboResult
    """
    if not config.offers:
        raise ConfigError("segmint.yaml: nbo.offers: no offer declared")
    con = wh.con
    as_of = as_of or latest_features_as_of(con)
    columns = build_base(con, as_of)
    policy = config.policy
    selects = []
    notes_p: dict[str, str] = {}
    for i, o in enumerate(config.offers):
        where = f"segmint.yaml: nbo.offers[{i}] ({o.name})"
        cond = compile_expression(o.eligible, columns, where=f"{where}.eligible") if o.eligible else "true"
        prop = o.propensity or (f"propensity_{o.name}" if f"propensity_{o.name}" in columns else None)
        join = ""
        if prop is not None:
            if prop not in columns:
                raise ConfigError(f"{where}.propensity: {prop!r} is not a feature or score column")
            p_sql, source = f"CAST(b.{quote(prop)} AS DOUBLE)", prop
        elif o.product is not None:
            rates = affinity_rates(con, as_of, o.dimension, [o.product], config.affinity_days)
            if rates.empty:
                raise WarehouseError(
                    f"{where}: no assignments of dimension {o.dimension!r} at {as_of} for the "
                    "affinity rate"
                )
            con.register(f"_nbo_rate{i}", rates)
            join = (
                f" LEFT JOIN {ASSIGNMENTS} AS a{i} ON a{i}.client_id = b.client_id AND a{i}.as_of = "
                f"{_day(as_of)} AND a{i}.dimension = {sql_string(o.dimension)}"
                f" LEFT JOIN _nbo_rate{i} AS r{i} ON r{i}.segment_id = a{i}.segment_id"
            )
            p_sql, source = f"coalesce(r{i}.rate, 0e0)", f"affinity:{o.dimension}"
        else:
            raise ConfigError(
                f"{where}: a message offer needs a `propensity` column (no product to take an "
                "affinity rate from)"
            )
        notes_p[o.name] = source
        holds = ""
        if o.product is not None:
            holds = (
                " AND NOT EXISTS (SELECT 1 FROM holdings AS hh WHERE hh.client_id = b.client_id "
                f"AND hh.product_type = {sql_string(o.product)} AND hh.opened_at <= {_day(as_of)} "
                f"AND (hh.closed_at IS NULL OR hh.closed_at > {_day(as_of)}))"
            )
        selects.append(
            f"""SELECT b.client_id, {sql_string(o.name)} AS offer, {sql_string(o.product) if o.product else 'NULL'} AS product,
                   {sql_string(o.message) if o.message else 'NULL'} AS message, {sql_string(o.channel)} AS channel,
                   {p_sql} AS p_accept, {sql_string(source)} AS p_source, {sql_float(o.value)} AS value,
                   {sql_float(o.cost)} AS cost, {i} AS offer_index
            FROM {BASE} AS b{join}
            WHERE coalesce({cond}, false){holds}"""
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _nbo_cand AS SELECT *, p_accept * value - cost AS expected_value "
        f"FROM ({' UNION ALL '.join(selects)}) WHERE p_accept * value - cost > {sql_float(policy.min_net_value)}"
    )
    n_cand = con.execute("SELECT count(*) FROM _nbo_cand").fetchone()[0]  # type: ignore[index]
    # slots per client: max_offers less the contacts of the period
    contacted = ""
    from segmint.targeting._audiences import CONTACTS, _has

    if _has(con, CONTACTS):
        start = as_of - dt.timedelta(days=policy.period_days)
        contacted = (
            f" LEFT JOIN (SELECT client_id, count(*) AS n FROM {CONTACTS} WHERE contacted_at > "
            f"{_day(start)} AND contacted_at <= {_day(as_of)} GROUP BY 1) AS ct USING (client_id)"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _nbo_slots AS SELECT client_id, "
        f"{policy.max_offers} - {'coalesce(ct.n, 0)' if contacted else '0'} AS slots "
        f"FROM (SELECT DISTINCT client_id FROM _nbo_cand){contacted}"
    )
    channels = sorted({o.channel for o in config.offers})
    for ch in policy.capacity:
        if ch not in channels:
            raise ConfigError(
                f"segmint.yaml: nbo.policy.capacity.{ch}: no offer uses this channel "
                f"(channels: {', '.join(channels)})"
            )
    cap = pd.DataFrame({"channel": channels,
                        "capacity": [policy.capacity.get(c, 2**62) for c in channels]})
    con.register("_nbo_capacity", cap)
    con.execute("CREATE OR REPLACE TEMP TABLE _nbo_pick AS SELECT *, 0 AS round FROM _nbo_cand LIMIT 0")
    rounds = 0
    while True:
        rounds += 1
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _nbo_try AS
            WITH used AS (SELECT client_id, count(*) AS n FROM _nbo_pick GROUP BY 1),
            left_cap AS (SELECT k.channel, k.capacity - coalesce(count(p.client_id), 0) AS free
                         FROM _nbo_capacity AS k LEFT JOIN _nbo_pick AS p USING (channel)
                         GROUP BY k.channel, k.capacity)
            SELECT c.* FROM _nbo_cand AS c
            JOIN _nbo_slots AS s USING (client_id)
            LEFT JOIN used AS u USING (client_id)
            JOIN left_cap AS l USING (channel)
            WHERE s.slots - coalesce(u.n, 0) > 0 AND l.free > 0
              AND NOT EXISTS (SELECT 1 FROM _nbo_pick AS p WHERE p.client_id = c.client_id
                              AND p.offer = c.offer)
            QUALIFY row_number() OVER (PARTITION BY c.client_id
                                       ORDER BY c.expected_value DESC, c.offer_index) = 1"""
        )
        proposed = con.execute("SELECT count(*) FROM _nbo_try").fetchone()[0]  # type: ignore[index]
        if not proposed:
            break
        con.execute(
            f"""INSERT INTO _nbo_pick
            WITH left_cap AS (SELECT k.channel, k.capacity - coalesce(count(p.client_id), 0) AS free
                              FROM _nbo_capacity AS k LEFT JOIN _nbo_pick AS p USING (channel)
                              GROUP BY k.channel, k.capacity)
            SELECT t.* EXCLUDE (free, k), {rounds} FROM (
                SELECT t.*, l.free, row_number() OVER (PARTITION BY t.channel
                       ORDER BY t.expected_value DESC, t.client_id) AS k
                FROM _nbo_try AS t JOIN left_cap AS l USING (channel)) AS t
            WHERE k <= free"""
        )
    by_segment = _by_segment(con, as_of, config)
    with wh.transaction() as tx:
        tx.execute(_DDL)
        tx.execute(f"DELETE FROM {OFFERS} WHERE as_of = ?", [as_of])
        tx.execute(
            f"""INSERT INTO {OFFERS} SELECT {_day(as_of)}, client_id,
                   row_number() OVER (PARTITION BY client_id ORDER BY expected_value DESC, offer_index),
                   offer, product, message, channel, p_accept, p_source, value, cost, expected_value
            FROM _nbo_pick"""
        )
    offers = con.execute(
        f"SELECT * EXCLUDE (as_of) FROM {OFFERS} WHERE as_of = ? ORDER BY client_id, rank", [as_of]
    ).df()
    if out is not None:
        _write(con, as_of, Path(out))
    use = dict(con.execute("SELECT channel, count(*) FROM _nbo_pick GROUP BY 1 ORDER BY 1").fetchall())
    for t in ("_nbo_cand", "_nbo_slots", "_nbo_pick", "_nbo_try"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return NboResult(as_of, offers, int(n_cand), rounds, by_segment, {k: int(v) for k, v in use.items()})


def _by_segment(con: duckdb.DuckDBPyConnection, as_of: dt.date, config: NboConfig) -> pd.DataFrame:
    """Per segment of each offer's dimension: the offer of highest mean expected value."""
    from segmint.targeting._audiences import NAMES, segment_names

    segment_names(con, as_of)  # catalog names where a catalog of the as_of is stored
    dims = sorted({o.dimension for o in config.offers})
    return con.execute(
        f"""WITH s AS (
            SELECT a.dimension, a.segment_id, min(coalesce(n.name, a.segment_name)) AS segment, c.offer,
                   any_value(c.message) AS message, count(*) AS eligible,
                   avg(c.expected_value) AS mean_expected_value,
                   sum(c.expected_value) AS total_expected_value
            FROM _nbo_cand AS c JOIN {ASSIGNMENTS} AS a ON a.client_id = c.client_id
            LEFT JOIN {NAMES} AS n ON n.dimension = a.dimension AND n.segment_id = a.segment_id
            WHERE a.as_of = {_day(as_of)} AND a.dimension IN ({', '.join(sql_string(d) for d in dims)})
            GROUP BY ALL)
        SELECT * FROM s QUALIFY row_number() OVER (PARTITION BY dimension, segment_id
                                                   ORDER BY total_expected_value DESC, offer) = 1
        ORDER BY dimension, segment_id"""
    ).df()


def _write(con: duckdb.DuckDBPyConnection, as_of: dt.date, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ParameterError(f"--out {path}: expected a .csv or .parquet file")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fmt = "PARQUET" if suffix == ".parquet" else "CSV, HEADER"
    con.execute(
        f"COPY (SELECT * FROM {OFFERS} WHERE as_of = {_day(as_of)} ORDER BY client_id, rank) "
        f"TO {sql_string(str(tmp))} (FORMAT {fmt})"
    )
    tmp.replace(path)
