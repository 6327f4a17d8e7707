"""A readable label for every feature of the catalog: what rules, personas, charts and
the report call it ("repeat purchase days", never "btyd x").

Templated names (``share_cat_{category}``) are labelled by pattern with the bound value
in words; client attributes (``attr_<name>``) by their name. :func:`feature_label` falls
back to the name in words for a column no pattern knows (a user-defined feature).
"""

from __future__ import annotations

import re

LABELS: dict[str, str] = {
    # rfm
    "recency_days": "days since the last purchase",
    "frequency": "purchase days",
    "repeat_frequency": "repeat purchase days",
    "monetary_total": "total spend",
    "monetary_mean": "spend per purchase day",
    "monetary_repeat_mean": "spend per repeat purchase day",
    "tenure_days": "tenure (days)",
    "btyd_x": "repeat purchase days (model input)",
    "btyd_t_x": "time from first to last purchase (model input)",
    "btyd_T": "time since the first purchase (model input)",
    # rfm scores
    "r_score": "recency score",
    "f_score": "frequency score",
    "m_score": "monetary score",
    "rfm_cell": "RFM cell",
    # behaviour
    "ipt_mean_days": "days between purchases",
    "ipt_cv": "irregularity of purchase gaps",
    "spend_last_window": "spend in the last trend window",
    "spend_trend": "spend trend",
    "weekend_share": "weekend purchase share",
    "share_morning": "morning purchase share",
    "share_afternoon": "afternoon purchase share",
    "share_evening": "evening purchase share",
    "share_night": "night purchase share",
    "promo_share": "promotion purchase share",
    "promo_uplift": "promotion basket uplift",
    "refund_rate": "refund rate",
    # engagement
    "engagement_trend": "engagement trend",
    "digital_share": "digital share of touches",
    # holdings
    "n_products": "products held",
    "total_balance": "total balance",
    "assets": "assets held",
    "liabilities": "liabilities",
    "months_since_last_open": "months since the last product opened",
    # clv
    "expected_spend": "expected spend per purchase",
    "p_alive": "probability of being active",
    "churn_risk": "churn risk",
}

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^share_cat_(.+)$"), "{0} spend share"),
    (re.compile(r"^share_channel_(.+)$"), "{0} channel share"),
    (re.compile(r"^events_(\d+d)$"), "events in {0}"),
    (re.compile(r"^events_(.+)_(\d+d)$"), "{0} events in {1}"),
    (re.compile(r"^days_active_(\d+d)$"), "active days in {0}"),
    (re.compile(r"^n_products_(.+)$"), "{0} products held"),
    (re.compile(r"^revenue_(\d+)m$"), "{0}-month revenue"),
    (re.compile(r"^cost_(\d+)m$"), "{0}-month cost to serve"),
    (re.compile(r"^margin_(\d+)m$"), "{0}-month margin"),
    (re.compile(r"^clv_(\d+)m$"), "{0}-month CLV"),
    (re.compile(r"^expected_purchases_(\d+)m$"), "expected purchases in {0} months"),
    (re.compile(r"^attr_(.+)$"), "{0}"),
]


def _words(text: str) -> str:
    text = re.sub(r"(\d+)d$", r"\1 days", text)
    return text.replace("_", " ")


def known_label(feature: str) -> str | None:
    """The catalog's label of ``feature``, or None when no entry or pattern covers it."""
    if feature in LABELS:
        return LABELS[feature]
    for pattern, template in _PATTERNS:
        m = pattern.match(feature)
        if m:
            return template.format(*(_words(g) for g in m.groups()))
    return None


def feature_label(feature: str) -> str:
    """A readable label of a feature column (its name in words when none is known).

    Examples
    --------
    >>> feature_label("btyd_t_x")
    'time from first to last purchase (model input)'
    >>> feature_label("share_cat_online_retail")
    'online retail spend share'
    >>> feature_label("events_mobile_app_30d")
    'mobile app events in 30 days'
    """
    return known_label(feature) or feature.replace("_", " ")
