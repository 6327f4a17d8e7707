"""Computing features as of a date: parameters, the composed query, snapshots.

The public entry point is :func:`compute_features`; :class:`segmint.Project` and
the CLI call it with the project's warehouse and ``features:`` section.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from segmint.config import FeaturesConfig
from segmint.errors import FeatureError, WarehouseError
from segmint.features._attributes import attribute_params
from segmint.features._catalog import GROUPS, POST_ENGINE_GROUPS, SHARED_CTES
from segmint.features._custom import custom_params
from segmint.features._definitions import (
    Feature,
    PostEngineContext,
    PostEngineGroup,
    compose_ctes,
    compose_query,
)
from segmint.features._engine import DuckDBEngine, Engine

SNAPSHOT_TABLE = "features"

_UNIT_DAYS = {"days": "1.0", "weeks": "7.0", "months": "30.4375"}


def _date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise FeatureError(f"as_of: {value!r} is not a date (expected YYYY-MM-DD)") from None


def _lit_date(d: dt.date) -> str:
    return f"DATE '{d.isoformat()}'"


def _lit_ts(t: dt.datetime) -> str:
    return f"TIMESTAMP '{t:%Y-%m-%d %H:%M:%S}'"


def _lit_str(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def _minus_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    m += 1
    last = (dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(y, m, min(d.day, last))


def slug(value: str) -> str:
    """Column-name form of a category/channel value: ``'Food & Drink'`` -> ``food_drink``."""
    s = re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")
    return s or "blank"


def _bindings(key: str, values: Sequence[str]) -> list[dict[str, str]]:
    out, seen = [], set()
    for v in values:
        name = slug(v)
        k = 2
        while name in seen:  # 'A-B' and 'a b' both slug to a_b
            name = f"{slug(v)}_{k}"
            k += 1
        seen.add(name)
        out.append({key: name, f"{key}_value": _lit_str(v)})
    return out


def skipped_groups(engine: Engine, config: FeaturesConfig) -> dict[str, str]:
    """``{group: why}`` of the default groups left out because their data is missing: an
    entity with no table, a main (first) entity with no row (a project without
    transactions), or a prerequisite group left out. Empty when ``features.groups`` lists
    the groups."""
    if config.groups is not None:
        return {}
    known = {**GROUPS, **POST_ENGINE_GROUPS}
    empty: dict[str, bool] = {}

    def missing(table: str) -> bool:
        if table not in empty:
            empty[table] = not engine.has_table(table) or not engine.has_rows(table)
        return empty[table]

    out: dict[str, str] = {}
    for name, g in known.items():
        if not g.by_default:
            continue
        # a table missing is fatal; an empty one only for the group's main (first) entity:
        # engagement counts events, and reads transactions only for digital_share
        gone = [t for t in g.entities if not engine.has_table(t)]
        if g.entities and not gone and missing(g.entities[0]):
            gone = [g.entities[0]]
        if gone:
            out[name] = f"no {', '.join(gone)} data"
        else:
            absent = [r for r in g.requires if r not in known or r in out]
            if absent:
                out[name] = f"needs group {', '.join(absent)}"
    return out


def resolve_groups(engine: Engine, config: FeaturesConfig) -> list[str]:
    """The groups to compute: configured ones (checked) or every default group whose
    entities hold data (see :func:`skipped_groups`)."""
    known = {**GROUPS, **POST_ENGINE_GROUPS}
    if config.groups is None:
        skipped = skipped_groups(engine, config)
        chosen = [name for name, g in known.items() if g.by_default and name not in skipped]
    else:
        chosen = list(config.groups)
        if config.custom and "custom" not in chosen:  # declared features are always computed
            chosen.append("custom")
        for name in chosen:
            if name not in known:
                raise FeatureError(
                    f"features.groups: unknown group {name!r}; expected one of {', '.join(known)}"
                )
            missing = [t for t in known[name].entities if not engine.has_table(t)]
            if missing:
                raise FeatureError(
                    f"features.groups: group {name!r} needs table(s) {', '.join(missing)}, "
                    "which the warehouse does not hold (map the entity in segmint.yaml, "
                    "or remove the group)"
                )
    # add prerequisites, then order as in the registry
    todo = list(chosen)
    while todo:
        for r in known[todo.pop()].requires:
            if r not in chosen:
                chosen.append(r)
                todo.append(r)
    return [name for name in known if name in chosen]


def feature_params(
    engine: Engine,
    as_of: dt.date,
    config: FeaturesConfig,
    groups: Sequence[str],
    *,
    currency: str = "EUR",
) -> dict[str, Any]:
    """Literals and expansion lists the definitions are formatted with.

    Top-N lists (categories, channels, product types) are read from the data as of the
    date, ordered by total (spend or count) descending, then by value: deterministic.
    """
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    trend = dt.timedelta(days=config.trend_window_days)
    first_window = dt.timedelta(days=config.engagement_windows_days[0])
    params: dict[str, Any] = {
        "as_of": _lit_date(as_of),
        "as_of_end": _lit_ts(end),
        "unit_days": _UNIT_DAYS[config.time_unit],
        "time_unit": config.time_unit,
        "month_days": "30.4375",
        "bins": str(config.score_bins),
        "cell_sep": "-" if config.score_bins > 9 else "",
        "trend_start": _lit_ts(end - trend),
        "trend_prev_start": _lit_ts(end - 2 * trend),
        "eng_trend_start": _lit_ts(end - first_window),
        "eng_trend_prev_start": _lit_ts(end - 2 * first_window),
        "events_start": _lit_ts(
            end - max(2 * first_window, *(dt.timedelta(days=w) for w in config.engagement_windows_days))
        ),
        "value_months": str(config.value_window_months),
        "clv_months": str(config.clv_horizon_months),
        "clv_discount_rate": repr(config.clv_discount_rate),
        "clv_margin": repr(config.clv_margin),
        "clv_refit_days": str(config.clv_refit_days),
        "value_start": _lit_date(_minus_months(as_of, config.value_window_months)),
        "digital_channels": "("
        + (", ".join(_lit_str(c.lower()) for c in config.digital_channels) or "NULL")
        + ")",
        "currency": config.currency or currency,
        "window": [
            {"window": f"{w}d", "window_start": _lit_ts(end - dt.timedelta(days=w))}
            for w in config.engagement_windows_days
        ],
    }
    if "attributes" in groups:
        params.update(attribute_params(engine, as_of, params["as_of"]))
    if "custom" in groups:
        taken = {
            f.name for g in GROUPS.values() for f in g.features if "{" not in f.name
        } | {f.name for g in POST_ENGINE_GROUPS.values() for f in g.features if "{" not in f.name}
        params.update(custom_params(config.custom, end, as_of, taken))
    params["caps"] = []
    for key, (group, relation, column, order, setting) in LOOKUPS.items():
        values: list[str] = []
        limit = getattr(config, setting)
        if group in groups and limit > 0:
            counts = compose_ctes(SHARED_CTES, params, [relation]) + (
                f"\nSELECT {column} AS value, {order} AS total FROM {relation} "
                f"WHERE {column} IS NOT NULL GROUP BY {column}"
            )
            values = top_values(engine, counts, key, setting, limit, params["caps"])
        params[key] = _bindings(key, values)
    return params


#: the top-N lists: key -> (group, relation, column, order, features option)
LOOKUPS: dict[str, tuple[str, str, str, str, str]] = {
    "category": ("behaviour", "purchases", "category", "SUM(amount)", "top_categories"),
    "channel": ("behaviour", "purchases", "channel", "COUNT(*)", "top_channels"),
    "event_channel": ("engagement", "event_history", "channel", "COUNT(*)", "top_channels"),
    "product_type": ("holdings", "holdings_opened", "product_type", "COUNT(*)", "top_product_types"),
}
_CAPPED = {
    "category": ("categories", "purchase spend"),
    "channel": ("purchase channels", "purchases"),
    "event_channel": ("event channels", "events"),
    "product_type": ("product types", "holdings opened"),
}


@dataclasses.dataclass(frozen=True)
class CapNote:
    """A top-N option that left values without a feature column (data not in features)."""

    setting: str
    what: str
    kept: int
    total: int
    dropped: tuple[str, ...]
    dropped_share: float | None
    measure: str

    def __str__(self) -> str:
        share = "" if self.dropped_share is None else f" ({self.dropped_share:.1%} of {self.measure})"
        more = ", ..." if self.total - self.kept > len(self.dropped) else ""
        return (
            f"features.{self.setting} = {self.kept}: {self.total - self.kept} of {self.total} "
            f"{self.what} have no column{share}: {', '.join(self.dropped)}{more}; raise "
            f"{self.setting} to keep them"
        )


def top_values(
    engine: Engine, counts: str, key: str, setting: str, limit: int, caps: list[CapNote]
) -> list[str]:
    """The ``limit`` values of ``counts`` (a query of ``value, total``) with the largest
    totals (ties by value); a :class:`CapNote` is appended to ``caps`` when more exist."""
    sample = 5
    rows = engine.execute(
        f"SELECT value, total, count(*) OVER () AS n, sum(total) OVER () AS grand "
        f"FROM ({counts}) AS c ORDER BY total DESC, value LIMIT {limit + sample}"
    ).to_pylist()
    values = [str(r["value"]) for r in rows[:limit]]
    if rows and rows[0]["n"] > limit:
        grand = float(rows[0]["grand"] or 0)
        kept = sum(float(r["total"] or 0) for r in rows[:limit])
        what, measure = _CAPPED[key]
        caps.append(CapNote(
            setting, what, limit, int(rows[0]["n"]), tuple(str(r["value"]) for r in rows[limit:]),
            1 - kept / grand if grand > 0 else None, measure,
        ))
    return values


def build_query(
    engine: Engine,
    as_of: dt.date | str,
    config: FeaturesConfig | None = None,
    *,
    currency: str = "EUR",
    order: bool = True,
) -> tuple[str, list[tuple[Feature, str]], list[str], dict[str, Any]]:
    """The feature query (DuckDB dialect), its columns, the groups and the parameters.

    Rows are sorted by ``client_id`` unless ``order`` is False."""
    config = config or FeaturesConfig()
    day = _date(as_of)
    missing = [t for t in ("clients",) if not engine.has_table(t)]
    if missing:
        raise WarehouseError(
            f"features need table(s) {', '.join(missing)}, which the {engine.name} engine "
            "does not hold (run `segmint ingest` first)"
        )
    groups = resolve_groups(engine, config)
    params = feature_params(engine, day, config, groups, currency=currency)
    sets = [s for name in groups if name in GROUPS for s in GROUPS[name].sets]
    sql, columns = compose_query(sets, SHARED_CTES, params, order=order)
    return sql, columns, groups, params


def compute_features(
    engine: Engine,
    as_of: dt.date | str,
    config: FeaturesConfig | None = None,
    *,
    currency: str = "EUR",
    warehouse: Any = None,
) -> pd.DataFrame:
    """Features of every client as of a date, one row per client.

    Parameters
    ----------
    engine : Engine
        Where the canonical tables are (``DuckDBEngine(warehouse.con)``, a ``SparkEngine``).
    as_of : date or str
        Only data up to the end of this day is used (see the catalog's conventions).
    config : FeaturesConfig, optional
        The project's ``features:`` section (defaults otherwise).
    currency : str
        Unit shown for money features when ``config.currency`` is not set.
    warehouse : Warehouse, optional
        Where the ``clv`` group keeps its model versions (table ``clv_models``): it scores
        with the latest version fitted on or before ``as_of`` and fits a new one only when
        that is ``clv_refit_days`` old. Without it, models are fitted in memory each time.

    Returns
    -------
    pandas.DataFrame
        ``client_id`` then one column per feature, sorted by ``client_id``. DOUBLE features
        are float64 (null -> NaN), BIGINT features int64 (never null), VARCHAR object.

    Examples
    --------
    >>> from segmint.store import Warehouse
    >>> wh = Warehouse(":memory:")
    >>> _ = wh.sql("CREATE TABLE clients AS SELECT 'a' AS client_id, NULL::DATE AS onboarded_at")
    >>> _ = wh.sql("CREATE TABLE transactions AS SELECT 'a' AS client_id, "
    ...            "TIMESTAMP '2024-01-02 10:00' AS ts, 10.0 AS amount, 'food' AS category, "
    ...            "'web' AS channel, FALSE AS is_promotion")
    >>> compute_features(DuckDBEngine(wh.con), "2024-01-31")[["client_id", "frequency"]]
      client_id  frequency
    0         a          1
    """
    config = config or FeaturesConfig()
    sql, _columns, groups, params = build_query(engine, as_of, config, currency=currency)
    frame = engine.execute(sql).to_pandas()
    context = PostEngineContext(as_of=_date(as_of), warehouse=warehouse)
    for name in groups:
        group = POST_ENGINE_GROUPS.get(name)
        if group is not None:
            frame = _join_post(frame, group, params, context)
    return frame


def _join_post(
    frame: pd.DataFrame,
    group: PostEngineGroup,
    params: Mapping[str, Any],
    context: PostEngineContext | None = None,
) -> pd.DataFrame:
    extra = group.compute(frame, params, context or PostEngineContext())
    expected = {"client_id", *(f.name.format(**params) for f in group.features)}
    if set(extra.columns) != expected:
        raise FeatureError(
            f"post-engine group {group.name!r} returned columns {sorted(extra.columns)}, "
            f"expected {sorted(expected)}"
        )
    ids = frame["client_id"].to_numpy()
    if len(extra) == len(frame) and np.array_equal(extra["client_id"].to_numpy(), ids):
        # the usual case: the group returned the frame's clients in its order
        added = extra.drop(columns="client_id").set_axis(frame.index)
        return pd.concat([frame, added], axis=1)
    return frame.merge(extra, on="client_id", how="left", validate="one_to_one")


def btyd_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The buy-till-you-die summary in the CLV vocabulary, from computed rfm features.

    Returns ``customer_id, frequency, recency, T, monetary_value`` for clients with at
    least one purchase (frequency = repeat purchase days, recency = t_x, monetary_value =
    mean repeat purchase-day amount), in the configured time unit.
    """
    buyers = frame[frame["frequency"] > 0]
    return pd.DataFrame(
        {
            "customer_id": buyers["client_id"].to_numpy(),
            "frequency": buyers["btyd_x"].to_numpy(),
            "recency": buyers["btyd_t_x"].to_numpy(),
            "T": buyers["btyd_T"].to_numpy(),
            "monetary_value": buyers["monetary_repeat_mean"].to_numpy(),
        }
    )


def store_snapshot(warehouse: Any, frame: pd.DataFrame, as_of: dt.date | str) -> int:
    """Replace the snapshot of ``as_of`` in the warehouse table ``features``, atomically.

    The table holds one row per (client_id, as_of). Columns a new snapshot adds (a new
    top category) are added to the table; snapshots without them read null there.
    Returns the number of rows written.
    """
    day = _date(as_of)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.add_column(1, "as_of", pa.array([day] * len(frame), type=pa.date32()))
    con = warehouse.con
    exists = DuckDBEngine(con).has_table(SNAPSHOT_TABLE)

    def run(sql: str, params: list[Any] | None = None) -> list[tuple]:
        # fetch every result: DuckDB refuses new work while a result is unfinished
        return con.execute(sql, params or []).fetchall()

    con.register("_segmint_snapshot", table)
    try:
        if not exists:  # in its own transaction: see features/_snapshot.py (DuckDB 2.0)
            run(f"CREATE TABLE {SNAPSHOT_TABLE} AS SELECT * FROM _segmint_snapshot LIMIT 0")
        with warehouse.transaction():
            existing = {
                r[0]
                for r in run(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ?",
                    [SNAPSHOT_TABLE],
                )
            }
            for name, dtype, *_ in run("DESCRIBE _segmint_snapshot"):
                if name not in existing:
                    run(f'ALTER TABLE {SNAPSHOT_TABLE} ADD COLUMN "{name}" {dtype}')
            run(f"DELETE FROM {SNAPSHOT_TABLE} WHERE as_of = ?", [day])
            run(f"INSERT INTO {SNAPSHOT_TABLE} BY NAME SELECT * FROM _segmint_snapshot")
    finally:
        con.unregister("_segmint_snapshot")
    return len(frame)
