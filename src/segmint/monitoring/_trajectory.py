"""Who stays put and who is moving up: stable cores and upward trajectories."""

from __future__ import annotations

import pandas as pd

from segmint.monitoring._history import DEFAULT_ORDER, rank_sql
from segmint.monitoring._tables import CYCLES, HISTORY
from segmint.segmentation import ASSIGNMENTS, FEATURES
from segmint.store import Warehouse


def _last_cycles(wh: Warehouse, n: int) -> list:
    wh.require(CYCLES, hint="run `segmint update` first")
    rows = wh.con.execute(
        f"SELECT as_of FROM {CYCLES} WHERE status = 'ok' ORDER BY as_of DESC LIMIT ?", [n]
    ).fetchall()
    return [r[0] for r in rows][::-1]


def stable_core(wh: Warehouse, dimension: str, *, cycles: int = 4) -> pd.DataFrame:
    """Clients who kept their segment of ``dimension`` over the last ``cycles`` cycles
    (empty while fewer cycles ran): client_id, segment_id, segment_name, valid_from."""
    days = _last_cycles(wh, cycles)
    if len(days) < cycles:
        return pd.DataFrame(columns=["client_id", "segment_id", "segment_name", "valid_from"])
    return wh.con.execute(
        f"SELECT client_id, segment_id, segment_name, valid_from FROM {HISTORY} "
        "WHERE dimension = ? AND valid_to IS NULL AND valid_from <= ? ORDER BY client_id",
        [dimension, days[0]],
    ).df()


def upward_trajectory(
    wh: Warehouse,
    *,
    cycles: int = 4,
    dimension: str = "value",
    order: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """Clients on an upward path over the last ``cycles`` cycles.

    Either their ``dimension`` segment rose in the order (built-in: value tiers Low <
    Medium < High < Top) between the first and the last of those cycles, or their value
    feature (``clv_12m``, else ``monetary_total``) rose at every one of them. Columns:
    client_id, from_name, to_name, value_first, value_last, reason.
    """
    days = _last_cycles(wh, cycles)
    if len(days) < 2:
        return pd.DataFrame(columns=["client_id", "from_name", "to_name", "value_first", "value_last", "reason"])
    order = DEFAULT_ORDER | (order or {})
    cols = {r[0] for r in wh.con.execute(f"DESCRIBE {FEATURES}").fetchall()}
    vf = "clv_12m" if "clv_12m" in cols else "monetary_total"
    first, last = days[0], days[-1]
    r_from = rank_sql("p.dimension", "p.segment_name", order)
    r_to = rank_sql("c.dimension", "c.segment_name", order)
    marks = ", ".join(f"DATE '{d.isoformat()}'" for d in days)
    return wh.con.execute(
        f"""
        WITH tier AS (
            SELECT c.client_id, p.segment_name AS from_name, c.segment_name AS to_name
            FROM {ASSIGNMENTS} AS p JOIN {ASSIGNMENTS} AS c
              ON p.client_id = c.client_id AND p.dimension = c.dimension
            WHERE c.dimension = ? AND p.as_of = ? AND c.as_of = ? AND {r_to} > {r_from}
        ),
        steps AS (
            SELECT client_id, as_of, {vf} AS v,
                   {vf} - lag({vf}) OVER (PARTITION BY client_id ORDER BY as_of) AS dv
            FROM {FEATURES} WHERE as_of IN ({marks})
        ),
        rising AS (
            -- a rise is more than float noise: the feature engine's sums are not
            -- bit-reproducible, so an unchanged total can differ in its last digit
            SELECT client_id, arg_min(v, as_of) AS value_first, arg_max(v, as_of) AS value_last
            FROM steps GROUP BY client_id
            HAVING count(dv) = {len(days) - 1} AND bool_and(dv > 1e-9 * greatest(abs(v), 1))
        )
        SELECT coalesce(t.client_id, r.client_id) AS client_id, t.from_name, t.to_name,
               r.value_first, r.value_last,
               CASE WHEN t.client_id IS NOT NULL AND r.client_id IS NOT NULL THEN 'tier and {vf}'
                    WHEN t.client_id IS NOT NULL THEN 'tier' ELSE '{vf} rising' END AS reason
        FROM tier AS t FULL JOIN rising AS r ON t.client_id = r.client_id
        ORDER BY client_id
        """,
        [dimension, first, last],
    ).df()
