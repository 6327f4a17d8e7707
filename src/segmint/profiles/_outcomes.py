"""Observed outcomes (the ``labels`` entity: churn, campaign response) per segment."""

from __future__ import annotations

import duckdb

from segmint.profiles._models import LabelStat
from segmint.profiles._profile import ASSIGN


def label_stats(con: duckdb.DuckDBPyConnection, dimension: str) -> dict[str, list[LabelStat]]:
    """``{segment_id: [LabelStat, ...]}`` of every label, from each client's latest
    observation of it (any date: an outcome is often observed after the segments' as_of).
    Empty when no label is loaded."""
    has = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'labels'"
    ).fetchone()[0]
    if not has:
        return {}
    rows = con.execute(
        f"""WITH latest AS (
              SELECT client_id, label, value FROM labels
              QUALIFY row_number() OVER (
                PARTITION BY client_id, label ORDER BY observed_at DESC) = 1
            )
            SELECT grouping(a.segment_id) = 1, a.segment_id, l.label, count(*), avg(l.value)
            FROM {ASSIGN} a JOIN latest l USING (client_id)
            WHERE a.dimension = ?
            GROUP BY GROUPING SETS ((a.segment_id, l.label), (l.label))
            ORDER BY l.label""",
        [dimension],
    ).fetchall()
    population = {r[2]: r[4] for r in rows if r[0]}
    out: dict[str, list[LabelStat]] = {}
    for is_pop, seg, label, n, rate in rows:
        if not is_pop:
            out.setdefault(seg, []).append(
                LabelStat(label=label, clients=n, rate=rate, population_rate=population[label])
            )
    return out
