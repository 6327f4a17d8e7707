"""The feature catalog: every feature segmint computes, defined once in SQL (DuckDB dialect).

Conventions shared by all definitions (documented in ``docs/features.md``):

* *As of* a date D means: transactions and events with ``ts`` before D + 1 day (the end
  of day D); holdings with ``opened_at <= D`` and (``closed_at`` null or ``> D``);
  profitability periods with ``period <= D``; clients with ``onboarded_at <= D`` or
  ``onboarded_at`` null (an unknown onboarding date does not hide a client).
* A *purchase* is a transaction that is not a refund: ``amount >= 0``. Refunds
  (``amount < 0``) count only in ``refund_rate`` and ``digital_share``. Zero amounts are
  purchases (free items: the CDNOW reference data holds 8 such orders, and the published
  buy-till-you-die summary counts them).
* A *purchase day* merges all purchases of a client on one calendar day (amounts summed),
  as the buy-till-you-die literature does.
* Every feature has a documented value for clients without data (``if_no_data``); nulls
  are used only where no number would be honest (recency of a client who never bought).

Placeholders in ``{braces}`` are filled by :mod:`segmint.features._compute`.
"""

from __future__ import annotations

from segmint.features._attributes import ATTRIBUTE_ROWS, ATTRIBUTES
from segmint.features._custom import CUSTOM, CUSTOM_CTES
from segmint.features._definitions import (
    Feature,
    FeatureGroup,
    FeatureSet,
    PostEngineGroup,
    SharedCte,
)

TX = ("transactions",)

# Amounts are summed exactly: as decimals with 6 places (money has at most 4), so a sum does
# not depend on the order of its terms. The incremental state adds batches to stored sums
# and subtracts the days leaving a window; with floating-point sums its features would
# differ from a full recomputation in the last bits (and RFM ranks of equal totals flip).
EXACT = "CAST(amount AS DECIMAL(38, 6))"
AMOUNT = f"{EXACT} AS amount"

# Relations read by the feature sets. {as_of} is a DATE literal, {as_of_end} the TIMESTAMP
# literal of the end of that day (exclusive bound). Each reads the base tables itself rather
# than a shared filtered copy: engines materialise a CTE read twice, and a materialised copy
# of the transactions would cost gigabytes at 50M rows. purchase_days is shared on purpose.
SHARED_CTES: dict[str, SharedCte] = {
    c.name: c
    for c in (
        SharedCte(
            "clients_asof",
            "  SELECT client_id, onboarded_at FROM clients\n"
            "  WHERE onboarded_at IS NULL OR onboarded_at <= {as_of}",
        ),
        SharedCte(
            "tx",
            f"  SELECT client_id, {AMOUNT} FROM transactions WHERE ts < {{as_of_end}}",
        ),
        SharedCte(
            "purchases",
            f"  SELECT client_id, ts, {AMOUNT}, category, channel,\n"
            "    COALESCE(is_promotion, FALSE) AS is_promotion\n"
            "  FROM transactions WHERE ts < {as_of_end} AND amount >= 0",
        ),
        SharedCte(
            "purchase_days",
            f"  SELECT client_id, CAST(ts AS DATE) AS day, SUM({EXACT}) AS amount\n"
            "  FROM transactions WHERE ts < {as_of_end} AND amount >= 0\n"
            "  GROUP BY client_id, CAST(ts AS DATE)",
        ),
        SharedCte(
            "purchase_gaps",
            "  SELECT client_id,\n"
            "    date_diff('day', LAG(day) OVER (PARTITION BY client_id ORDER BY day), day) AS gap\n"
            "  FROM purchase_days",
            ("purchase_days",),
        ),
        # tenure counts from onboarding where the clients entity has it (first purchase
        # otherwise): btyd_T is the days since the first purchase day over unit_days
        SharedCte(
            "client_tenure",
            "  SELECT c.client_id, c.onboarded_at, r.btyd_T FROM clients_asof AS c\n"
            "  LEFT JOIN rfm AS r ON r.client_id = c.client_id",
            ("rfm", "clients_asof"),
        ),
        SharedCte(
            "rfm_buyers",
            "  SELECT r.* FROM rfm AS r JOIN clients_asof AS c ON c.client_id = r.client_id",
            ("rfm", "clients_asof"),
        ),
        # every engagement count is windowed: only events from the earliest window start
        # on ({events_start}: the longest window, or twice the first for the trend). A
        # client whose events all fall before it gets the defaults, the counts' zeros.
        SharedCte(
            "events",
            "  SELECT client_id, ts, CAST(ts AS DATE) AS day, channel\n"
            "  FROM engagement WHERE ts >= {events_start} AND ts < {as_of_end}",
        ),
        # all events up to as_of: the most frequent event channels (which get columns)
        SharedCte(
            "event_history",
            "  SELECT client_id, channel FROM engagement WHERE ts < {as_of_end}",
        ),
        SharedCte(
            "touches",
            "  SELECT client_id, channel FROM transactions WHERE ts < {as_of_end}\n"
            "  UNION ALL\n"
            "  SELECT client_id, channel FROM engagement WHERE ts < {as_of_end}",
        ),
        SharedCte(
            "holdings_opened",
            "  SELECT client_id, product_type, opened_at FROM holdings WHERE opened_at <= {as_of}",
        ),
        SharedCte(
            "holdings_open",
            "  SELECT client_id, product_type, balance FROM holdings\n"
            "  WHERE opened_at <= {as_of} AND (closed_at IS NULL OR closed_at > {as_of})",
        ),
        SharedCte(
            "profit_window",
            "  SELECT * FROM profitability WHERE period <= {as_of} AND period > {value_start}",
        ),
    )
}


def _f(name, group, description, unit, expr, default, dtype="DOUBLE", entities=TX, over=()):
    return Feature(name, group, description, unit, expr, default, dtype, entities, over)


def _share(condition: str) -> str:
    return f"AVG(CASE WHEN {condition} THEN 1.0 ELSE 0.0 END)"


def _trend(last: str, prev: str) -> str:
    return f"COALESCE(({last} - {prev}) / NULLIF({last} + {prev}, 0), 0.0)"


# -- rfm --------------------------------------------------------------------------------
_R = "rfm"
RFM = FeatureGroup(
    name=_R,
    description="Recency, frequency, monetary value, tenure and the buy-till-you-die summary, "
    "over purchase days (purchases merged per calendar day; refunds excluded, zero-amount "
    "purchases included).",
    entities=TX,
    sets=(
        FeatureSet(
            "rfm",
            "purchase_days",
            (
                _f("recency_days", _R, "Days from the last purchase day to as_of.", "days",
                   "date_diff('day', MAX(day), {as_of})", "NULL"),
                _f("frequency", _R, "Number of distinct purchase days.", "count",
                   "COUNT(*)", "0", "BIGINT"),
                _f("repeat_frequency", _R, "Distinct purchase days after the first (frequency - 1).",
                   "count", "COUNT(*) - 1", "0", "BIGINT"),
                _f("monetary_total", _R, "Total purchase amount (refunds excluded).", "{currency}",
                   "SUM(amount)", "0.0"),
                _f("monetary_mean", _R, "Mean purchase amount per purchase day.", "{currency}",
                   "SUM(amount) / COUNT(*)", "0.0"),
                _f("monetary_repeat_mean", _R,
                   "Mean purchase amount per repeat purchase day (first day excluded); "
                   "0 for a client with one purchase day.", "{currency}",
                   "COALESCE((SUM(amount) - arg_min(amount, day)) / NULLIF(COUNT(*) - 1, 0), 0.0)",
                   "0.0"),
                _f("btyd_x", _R, "Buy-till-you-die x: repeat purchase days (first excluded).",
                   "count", "COUNT(*) - 1", "0", "BIGINT"),
                _f("btyd_t_x", _R,
                   "Buy-till-you-die t_x: time from the first to the last purchase day.",
                   "{time_unit}", "date_diff('day', MIN(day), MAX(day)) / {unit_days}", "0.0"),
                _f("btyd_T", _R, "Buy-till-you-die T: time from the first purchase day to as_of.",
                   "{time_unit}", "date_diff('day', MIN(day), {as_of}) / {unit_days}", "NULL"),
            ),
        ),
        FeatureSet(
            "tenure",
            "client_tenure",
            (
                _f("tenure_days", _R,
                   "Days from the client's onboarding date (clients.onboarded_at) to as_of; "
                   "from the first purchase day where the onboarding date is unknown; null "
                   "for a client with neither.", "days",
                   "COALESCE(CAST(date_diff('day', onboarded_at, {as_of}) AS DOUBLE), "
                   "round(btyd_T * {unit_days}))", "NULL"),
            ),
            grouped=False,
        ),
    ),
)

# -- rfm_scores -------------------------------------------------------------------------
_S = "rfm_scores"


def _ntile(column: str, best: str) -> str:
    # Rank-based n-tile: ties share the lowest rank of their block, hence the same score,
    # which depends only on how many buyers are strictly worse. The best value always scores
    # `bins`: a large block of ties at the best value (every client billed on the as-of day)
    # would otherwise get a low score because few buyers are worse.
    order = f"{column} DESC" if best == "MIN" else f"{column} ASC"
    return (
        f"CASE WHEN {column} = {best}({column}) OVER () THEN {{bins}} "
        f"ELSE 1 + FLOOR({{bins}} * (RANK() OVER (ORDER BY {order}) - 1) / COUNT(*) OVER ()) END"
    )


_R_SCORE, _F_SCORE, _M_SCORE = (
    _ntile("recency_days", "MIN"), _ntile("frequency", "MAX"), _ntile("monetary_total", "MAX")
)
RFM_SCORES = FeatureGroup(
    name=_S,
    description="RFM n-tile scores among the clients with at least one purchase (1 = worst, "
    "bins = best). Score = 1 + floor(bins * (rank - 1) / n_buyers) where rank is the SQL "
    "RANK() (ties share the lowest rank, hence the same score: it depends only on how many "
    "buyers have a worse value), except that the best value always scores bins, however "
    "many buyers share it (all clients billed on the as-of day get the best recency score). "
    "Clients without purchases score 0.",
    entities=TX,
    requires=("rfm",),
    sets=(
        FeatureSet(
            "rfm_scores",
            "rfm_buyers",
            (
                _f("r_score", _S, "Recency score: most recent purchase = highest.", "score",
                   _R_SCORE, "0", "BIGINT"),
                _f("f_score", _S, "Frequency score: most purchase days = highest.", "score",
                   _F_SCORE, "0", "BIGINT"),
                _f("m_score", _S, "Monetary score on monetary_total: highest spend = highest.",
                   "score", _M_SCORE, "0", "BIGINT"),
                _f("rfm_cell", _S,
                   "The three scores as text, e.g. '545' (separated by '-' when bins > 9).",
                   "",
                   f"CAST(CAST({_R_SCORE} AS BIGINT) AS VARCHAR) || '{{cell_sep}}' || "
                   f"CAST(CAST({_F_SCORE} AS BIGINT) AS VARCHAR) || '{{cell_sep}}' || "
                   f"CAST(CAST({_M_SCORE} AS BIGINT) AS VARCHAR)",
                   "'0{cell_sep}0{cell_sep}0'", "VARCHAR"),
            ),
            grouped=False,
        ),
    ),
)

# -- behaviour --------------------------------------------------------------------------
_B = "behaviour"
_LAST = "SUM(CASE WHEN ts >= {trend_start} THEN amount ELSE 0.0 END)"
_PREV = "SUM(CASE WHEN ts >= {trend_prev_start} AND ts < {trend_start} THEN amount ELSE 0.0 END)"
# means as sum / count (not AVG): DuckDB's AVG of a decimal divides once by count x scale,
# the incremental state divides its stored sum by its count; the same expression both ways
_PROMO_MEAN = (
    "(SUM(CASE WHEN is_promotion THEN amount END)"
    " / NULLIF(COUNT(CASE WHEN is_promotion THEN 1 END), 0))"
)
_OTHER_MEAN = (
    "(SUM(CASE WHEN NOT is_promotion THEN amount END)"
    " / NULLIF(COUNT(CASE WHEN NOT is_promotion THEN 1 END), 0))"
)
BEHAVIOUR = FeatureGroup(
    name=_B,
    description="Purchase regularity, spend trend, category/channel/time mix, promotion "
    "sensitivity and refunds. Shares are over purchases unless stated.",
    entities=TX,
    sets=(
        FeatureSet(
            "behaviour_ipt",
            "purchase_gaps",
            (
                _f("ipt_mean_days", _B,
                   "Mean inter-purchase time: mean gap in days between consecutive purchase days; "
                   "null with fewer than 2 purchase days.", "days", "AVG(gap)", "NULL"),
                _f("ipt_cv", _B,
                   "Coefficient of variation of the inter-purchase gaps (population standard "
                   "deviation / mean); 0 with exactly 2 purchase days, null with fewer.", "ratio",
                   "STDDEV_POP(gap) / AVG(gap)", "NULL"),
            ),
        ),
        FeatureSet(
            "behaviour_mix",
            "purchases",
            (
                _f("spend_last_window", _B,
                   "Purchase amount in the last trend window (trend_window_days, ending as_of).",
                   "{currency}", _LAST, "0.0"),
                _f("spend_trend", _B,
                   "(last - previous) / (last + previous) of the purchase amount in the last "
                   "trend window and the one before: -1 stopped, 0 flat (or no spend), +1 new.",
                   "ratio", _trend(_LAST, _PREV), "0.0"),
                _f("share_cat_{category}", _B,
                   "Share of the purchase amount spent in the category (top categories by "
                   "total purchase amount of all clients as of the date); 0 when the client's "
                   "purchase amount is 0.", "share",
                   "SUM(CASE WHEN category = {category_value} THEN amount ELSE 0.0 END)"
                   " / NULLIF(SUM(amount), 0)", "0.0", over=("category",)),
                _f("share_channel_{channel}", _B,
                   "Share of purchases (count) made in the channel (most frequent channels).",
                   "share", _share("channel = {channel_value}"), "0.0", over=("channel",)),
                _f("weekend_share", _B, "Share of purchases (count) on Saturday or Sunday.",
                   "share", _share("isodow(ts) >= 6"), "0.0"),
                _f("share_morning", _B, "Share of purchases (count) from 06:00 to 11:59.",
                   "share", _share("hour(ts) >= 6 AND hour(ts) < 12"), "0.0"),
                _f("share_afternoon", _B, "Share of purchases (count) from 12:00 to 17:59.",
                   "share", _share("hour(ts) >= 12 AND hour(ts) < 18"), "0.0"),
                _f("share_evening", _B, "Share of purchases (count) from 18:00 to 23:59.",
                   "share", _share("hour(ts) >= 18"), "0.0"),
                _f("share_night", _B,
                   "Share of purchases (count) from 00:00 to 05:59 (date-only timestamps "
                   "fall here).", "share", _share("hour(ts) < 6"), "0.0"),
                _f("promo_share", _B, "Share of purchases (count) on promotion.", "share",
                   _share("is_promotion"), "0.0"),
                _f("promo_uplift", _B,
                   "Mean promotion basket / mean non-promotion basket - 1 (per purchase); "
                   "0 when the client has no purchase of either kind.", "ratio",
                   f"COALESCE({_PROMO_MEAN} / NULLIF({_OTHER_MEAN}, 0) - 1, 0.0)", "0.0"),
            ),
        ),
        FeatureSet(
            "behaviour_refunds",
            "tx",
            (
                _f("refund_rate", _B,
                   "Share of the client's transactions (count, any amount) that are refunds "
                   "(amount < 0).", "share", _share("amount < 0"), "0.0"),
            ),
        ),
    ),
)

# -- engagement -------------------------------------------------------------------------
_E = "engagement"
_EV = ("engagement",)
_ELAST = "COUNT(CASE WHEN ts >= {eng_trend_start} THEN 1 END)"
_EPREV = "COUNT(CASE WHEN ts >= {eng_trend_prev_start} AND ts < {eng_trend_start} THEN 1 END)"
ENGAGEMENT = FeatureGroup(
    name=_E,
    description="Digital and contact-centre engagement: event counts per window and channel, "
    "active days, trend, and the digital share of all touches.",
    entities=("engagement", "transactions"),
    sets=(
        FeatureSet(
            "engagement_counts",
            "events",
            (
                _f("events_{window}", _E, "Events in the window ending as_of.", "count",
                   "COUNT(CASE WHEN ts >= {window_start} THEN 1 END)", "0", "BIGINT", _EV,
                   over=("window",)),
                _f("events_{event_channel}_{window}", _E,
                   "Events in the channel in the window ending as_of (most frequent channels).",
                   "count",
                   "COUNT(CASE WHEN ts >= {window_start} AND channel = {event_channel_value}"
                   " THEN 1 END)", "0", "BIGINT", _EV, over=("event_channel", "window")),
                _f("days_active_{window}", _E, "Distinct days with an event in the window.",
                   "days", "COUNT(DISTINCT CASE WHEN ts >= {window_start} THEN day END)", "0",
                   "BIGINT", _EV, over=("window",)),
                _f("engagement_trend", _E,
                   "(last - previous) / (last + previous) of the event count in the first "
                   "engagement window and the one before it; 0 without events.", "ratio",
                   _trend(_ELAST, _EPREV), "0.0", entities=_EV),
            ),
        ),
        FeatureSet(
            "engagement_digital",
            "touches",
            (
                _f("digital_share", _E,
                   "Share of touches (transactions of any amount + events, all history up to "
                   "as_of) in a digital channel (features.digital_channels, case-insensitive; "
                   "a null channel is not digital).", "share",
                   _share("LOWER(channel) IN {digital_channels}"), "0.0",
                   entities=("engagement", "transactions")),
            ),
        ),
    ),
)

# -- holdings ---------------------------------------------------------------------------
_H = "holdings"
_HO = ("holdings",)
HOLDINGS = FeatureGroup(
    name=_H,
    description="Products held at as_of and their balances. The schema holds one balance per "
    "product (its latest), so balances are not point-in-time: they are the stored balance of "
    "the products open at as_of.",
    entities=_HO,
    sets=(
        FeatureSet(
            "holdings_held",
            "holdings_open",
            (
                _f("n_products", _H, "Products open at as_of.", "count", "COUNT(*)", "0",
                   "BIGINT", _HO),
                _f("n_products_{product_type}", _H, "Open products of the type.", "count",
                   "COUNT(CASE WHEN product_type = {product_type_value} THEN 1 END)", "0",
                   "BIGINT", _HO, over=("product_type",)),
                _f("total_balance", _H, "Sum of the balances of open products.", "{currency}",
                   "COALESCE(SUM(balance), 0.0)", "0.0", entities=_HO),
                _f("assets", _H, "Sum of the positive balances of open products.", "{currency}",
                   "SUM(CASE WHEN balance > 0 THEN balance ELSE 0.0 END)", "0.0", entities=_HO),
                _f("liabilities", _H,
                   "Sum of the negative balances of open products, as a positive amount.",
                   "{currency}", "SUM(CASE WHEN balance < 0 THEN -balance ELSE 0.0 END)", "0.0",
                   entities=_HO),
            ),
        ),
        FeatureSet(
            "holdings_history",
            "holdings_opened",
            (
                _f("months_since_last_open", _H,
                   "Months (of 365.25/12 days) since the latest product opening on or before "
                   "as_of (closed products included); null without any product.", "months",
                   "date_diff('day', MAX(opened_at), {as_of}) / {month_days}", "NULL",
                   entities=_HO),
            ),
        ),
    ),
)

# -- value ------------------------------------------------------------------------------
_V = "value"
_PR = ("profitability",)
VALUE = FeatureGroup(
    name=_V,
    description="Revenue, cost and contribution margin over the periods (months) whose first "
    "day lies in (as_of - value_window_months, as_of].",
    entities=_PR,
    sets=(
        FeatureSet(
            "value",
            "profit_window",
            (
                _f("revenue_{value_months}m", _V, "Revenue in the value window.", "{currency}",
                   "SUM(revenue)", "0.0", entities=_PR),
                _f("cost_{value_months}m", _V, "Cost to serve in the value window.",
                   "{currency}", "SUM(cost)", "0.0", entities=_PR),
                _f("margin_{value_months}m", _V, "Revenue - cost in the value window.",
                   "{currency}", "SUM(revenue - cost)", "0.0", entities=_PR),
            ),
        ),
    ),
)

# Engine groups in dependency order.
GROUPS: dict[str, FeatureGroup] = {
    g.name: g
    for g in (RFM, RFM_SCORES, BEHAVIOUR, ENGAGEMENT, HOLDINGS, VALUE, ATTRIBUTES, CUSTOM)
}
SHARED_CTES[ATTRIBUTE_ROWS.name] = ATTRIBUTE_ROWS
SHARED_CTES.update(CUSTOM_CTES)

# Groups computed in Python after the engine; `_clv` registers the clv group.
POST_ENGINE_GROUPS: dict[str, PostEngineGroup] = {}
