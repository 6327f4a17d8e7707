"""Response over time: promotional response and campaign lift per segment, cycle by cycle.

- :func:`promo_response`: per segment and month, the spend uplift on promotion days
  (days a client bought anything on promotion) against the client's other active days:
  ``mean spend per promotion day / mean spend per other day - 1``, computed in SQL.
- :func:`lift_history`: the lift of every campaign per segment, in send-date order.
- :func:`response_alerts`: a segment whose promotional uplift, or whose lift between
  two consecutive campaigns of the same channel, moved past the thresholds of
  ``experiments.alerts``.
"""

from __future__ import annotations

import pandas as pd

from segmint.config import ExperimentsConfig
from segmint.errors import WarehouseError
from segmint.store import Warehouse
from segmint.targeting._analysis import ALL, analyze_campaign, campaign_config

__all__ = ["lift_history", "promo_response", "response_alerts"]


def _lit(x: str) -> str:
    return "'" + str(x).replace("'", "''") + "'"


def promo_response(wh: Warehouse, *, by: str, months: int | None = None) -> pd.DataFrame:
    """Promotional response per segment (latest segments of ``by``) and calendar month.

    Returns
    -------
    DataFrame
        ``segment, month, clients, promo_days, other_days, promo_spend_per_day,
        other_spend_per_day, promo_uplift``.
    """
    wh.require("transactions", "segment_assignments", hint="ingest and segment first")
    day = wh.con.execute(
        "SELECT max(as_of) FROM segment_assignments WHERE dimension = ?", [by]
    ).fetchone()[0]
    if day is None:
        raise WarehouseError(f"segment_assignments: no segments of dimension {by!r}")
    since = ""
    if months is not None:
        since = (
            f"WHERE ts >= date_trunc('month', (SELECT max(ts) FROM transactions)) "
            f"- INTERVAL {int(months) - 1} MONTH"
        )
    return wh.con.execute(
        f"""
        WITH d AS (
            SELECT client_id, CAST(ts AS DATE) AS day, sum(amount) AS spend,
                   bool_or(coalesce(is_promotion, false)) AS promo
            FROM transactions {since} GROUP BY 1, 2
        )
        SELECT s.segment_name AS segment, CAST(date_trunc('month', d.day) AS DATE) AS month,
               count(DISTINCT d.client_id) AS clients,
               count(*) FILTER (WHERE d.promo) AS promo_days,
               count(*) FILTER (WHERE NOT d.promo) AS other_days,
               avg(d.spend) FILTER (WHERE d.promo) AS promo_spend_per_day,
               avg(d.spend) FILTER (WHERE NOT d.promo) AS other_spend_per_day,
               avg(d.spend) FILTER (WHERE d.promo)
                 / nullif(avg(d.spend) FILTER (WHERE NOT d.promo), 0) - 1 AS promo_uplift
        FROM d JOIN segment_assignments s ON s.client_id = d.client_id
             AND s.dimension = {_lit(by)} AND s.as_of = DATE {_lit(day.isoformat())}
        GROUP BY 1, 2 ORDER BY 1, 2
        """
    ).df()


def lift_history(
    wh: Warehouse,
    config: ExperimentsConfig,
    *,
    by: str | None = None,
    campaigns: list[str] | None = None,
) -> pd.DataFrame:
    """Lift per segment of every campaign (or of ``campaigns``), in send-date order.

    Returns
    -------
    DataFrame
        ``campaign, channel, sent_at, segment, n_control, n_treatment, lift, lift_low,
        lift_high``.
    """
    wh.require("campaigns", hint="map the `campaigns` entity and run `segmint ingest`")
    sends = wh.con.execute(
        "SELECT campaign, min(sent_at), any_value(channel) FROM campaigns GROUP BY 1 ORDER BY 2, 1"
    ).fetchall()
    rows = []
    for name, sent, channel in sends:
        if campaigns is not None and name not in campaigns:
            continue
        lifts = analyze_campaign(wh, config, name, by=by).lifts
        channel = campaign_config(config, name).channel or channel
        for r in lifts.itertuples(index=False):
            if by is not None and r.segment == ALL:
                continue
            rows.append(
                (name, channel, sent, r.segment, r.n_control, r.n_treatment,
                 getattr(r, "lift", float("nan")), getattr(r, "lift_low", float("nan")),
                 getattr(r, "lift_high", float("nan")))
            )
    return pd.DataFrame(
        rows,
        columns=["campaign", "channel", "sent_at", "segment", "n_control", "n_treatment", "lift", "lift_low", "lift_high"],
    )


def response_alerts(
    config: ExperimentsConfig,
    *,
    history: pd.DataFrame | None = None,
    promo: pd.DataFrame | None = None,
    dimension: str | None = None,
) -> pd.DataFrame:
    """Segments whose response moved past the thresholds of ``experiments.alerts``.

    Compares each campaign's lift with the previous campaign of the same channel, and
    each month's promotional uplift with the previous month's, per segment.

    Returns
    -------
    DataFrame
        ``rule, severity, message, dimension, segment_id, value, threshold`` (the
        fields of :class:`segmint.monitoring.Alert`).
    """
    rules = config.alerts
    out = []
    if rules.lift_change is not None and history is not None and not history.empty:
        h = history.sort_values("sent_at")
        h = h.assign(prev=h.groupby(["channel", "segment"])["lift"].shift(), prev_campaign=h.groupby(["channel", "segment"])["campaign"].shift())
        moved = h[(h["lift"] - h["prev"]).abs() >= rules.lift_change]
        for r in moved.itertuples(index=False):
            change = r.lift - r.prev
            out.append(
                ("campaign_lift_change", "critical" if abs(change) >= 2 * rules.lift_change else "warning",
                 f"segment {r.segment!r}: {r.channel} lift {r.prev:+.4f} ({r.prev_campaign}) -> "
                 f"{r.lift:+.4f} ({r.campaign})", dimension, str(r.segment), float(change), rules.lift_change)
            )
    if rules.promo_uplift_change is not None and promo is not None and not promo.empty:
        p = promo.sort_values("month")
        p = p.assign(prev=p.groupby("segment")["promo_uplift"].shift())
        moved = p[(p["promo_uplift"] - p["prev"]).abs() >= rules.promo_uplift_change]
        for r in moved.itertuples(index=False):
            change = r.promo_uplift - r.prev
            out.append(
                ("promo_response_change", "critical" if abs(change) >= 2 * rules.promo_uplift_change else "warning",
                 f"segment {r.segment!r}: promotional uplift {r.prev:+.2f} -> {r.promo_uplift:+.2f} in {r.month}",
                 dimension, str(r.segment), float(change), rules.promo_uplift_change)
            )
    return pd.DataFrame(out, columns=["rule", "severity", "message", "dimension", "segment_id", "value", "threshold"])
