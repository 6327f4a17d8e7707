"""The built-in dimensions used when ``segmentation:`` does not replace them.

**value** — tiers by percentile of the value measure (:func:`value_measure`): Top
(>= p90), High (>= p70), Medium (>= p40), default Low. The measure is a base -- CLV
(``clv_12m``) where its model is identified, else the realised 12-month margin or revenue
where a profitability source gives them, else total spend -- plus, for a bank,
``balance_rate * assets`` (the yearly value of the balances held; 1% by default).

**rfm** — the classic named RFM map from ``r_score`` and the combined frequency/monetary
score ``FM = ceil((f_score + m_score) / 2)`` (``f_score`` alone without ``m_score``),
scores 1..5 with 5 best, first matching row wins:

==================  ==================  =========================================
segment             R                   FM
==================  ==================  =========================================
Champions           5                   4-5
Champions           4                   5
Loyal               3-4                 4-5   (what Champions left)
Potential Loyalists 4-5                 2-3
New                 5                   1
Promising           4                   1
Need Attention      3                   3
About to Sleep      3                   1-2
Can't Lose Them     1-2                 5
At Risk             1-2                 3-4
Hibernating         2                   1-2
Lost                1                   1-2
==================  ==================  =========================================

Every one of the 25 (R, FM) cells has exactly one name; clients without scores (no
purchases) get ``Unscored``.

**lifecycle** — New (tenure <= 90 days), Lapsed (no purchase for more than 180 days, or
never), Declining (``spend_trend <= -0.25``), Growing (``spend_trend >= 0.25``), default
Mature.

**behaviour** — k-means (k chosen from evidence) on the behaviour features present:
``frequency, monetary_mean, spend_last_window, share_cat_*, share_channel_*,
weekend_share, promo_share, digital_share, events_90d, days_active_90d, recency_days``;
each glob family weighs as much as one feature (``block_weights``) (a null recency — a client
who never bought — is imputed with the sample maximum, other nulls with the median).
"""

from __future__ import annotations

from segmint.config._segmentation import DimensionConfig, Rule, ValueConfig

BEHAVIOUR_INPUTS = [
    "frequency",
    "monetary_mean",
    "spend_last_window",
    "share_cat_*",
    "share_channel_*",
    "weekend_share",
    "promo_share",
    "digital_share",
    "events_90d",
    "days_active_90d",
    "recency_days",
]

_RFM = [  # (segment, R condition, FM condition); FM2 = f + m (2..10), FM = ceil(FM2 / 2)
    ("Champions", "r_score = 5", "{fm2} >= 7"),
    ("Champions", "r_score = 4", "{fm2} >= 9"),
    ("Loyal", "r_score >= 3", "{fm2} >= 7"),
    ("Potential Loyalists", "r_score >= 4", "{fm2} BETWEEN 3 AND 6"),
    ("New", "r_score = 5", "{fm2} <= 2"),
    ("Promising", "r_score = 4", "{fm2} <= 2"),
    ("Need Attention", "r_score = 3", "{fm2} BETWEEN 5 AND 6"),
    ("About to Sleep", "r_score = 3", "{fm2} <= 4"),
    ("Can't Lose Them", "r_score <= 2", "{fm2} >= 9"),
    ("At Risk", "r_score <= 2", "{fm2} >= 5"),
    ("Hibernating", "r_score = 2", "{fm2} <= 4"),
    ("Lost", "r_score = 1", "{fm2} <= 4"),
]


_BASES = {"clv": "clv_12m", "margin": "margin_12m", "revenue": "revenue_12m",
          "spend": "monetary_total"}


def value_measure(columns: set[str], value: ValueConfig | None = None) -> str | None:
    """The SQL expression the built-in value tiers rank clients by (None: no measure).

    ``columns`` holds the usable columns: present, and not null for too many buyers (CLV
    whose model was not identified) nor zero for everyone (a measure no source feeds).
    ``measure: auto`` takes the first usable of clv_12m, margin_12m, revenue_12m,
    monetary_total; a named measure must be usable. Balances join when ``assets`` is
    usable and ``balance_rate`` > 0.
    """
    value = value or ValueConfig()
    if value.measure == "auto":
        base = next((c for c in _BASES.values() if c in columns), None)
    else:
        base = _BASES[value.measure] if _BASES[value.measure] in columns else None
    if base is None:
        return None
    if value.balance_rate > 0 and "assets" in columns:
        return f"{base} + {value.balance_rate:g} * assets"
    return base


def default_dimensions(
    columns: set[str], value: ValueConfig | None = None
) -> tuple[list[DimensionConfig], dict[str, str]]:
    """Built-in dimensions that the features table can support, and why others are skipped."""
    dims: list[DimensionConfig] = []
    skipped: dict[str, str] = {}

    measure = value_measure(columns, value)
    if measure is not None:
        subject = measure if measure.isidentifier() else f"({measure})"
        dims.append(
            DimensionConfig(
                name="value",
                kind="rules",
                rules=[
                    Rule(segment="Top", when=f"{subject} >= p90"),
                    Rule(segment="High", when=f"{subject} >= p70"),
                    Rule(segment="Medium", when=f"{subject} >= p40"),
                ],
                default="Low",
            )
        )
    else:
        wanted = (value or ValueConfig()).measure
        skipped["value"] = (
            "features table has none of clv_12m, margin_12m, revenue_12m, monetary_total"
            if wanted == "auto"
            else f"segmentation.value.measure: {wanted} ({_BASES[wanted]}) is not usable at this as_of"
        )

    if {"r_score", "f_score"} <= columns:
        fm2 = "(f_score + m_score)" if "m_score" in columns else "(2 * f_score)"
        dims.append(
            DimensionConfig(
                name="rfm",
                kind="rules",
                rules=[Rule(segment=s, when=f"{r} AND {fm.format(fm2=fm2)}") for s, r, fm in _RFM],
                default="Unscored",
            )
        )
    else:
        skipped["rfm"] = "features table lacks r_score/f_score"

    from fnmatch import fnmatch

    present = [p for p in BEHAVIOUR_INPUTS if any(fnmatch(c, p) for c in columns)]
    if len(present) >= 2:
        # never-buyers have no recency: treat them as the longest-absent, not the median
        overrides = {"recency_days": "max"} if "recency_days" in present else {}
        dims.append(
            DimensionConfig(
                name="behaviour",
                kind="learned",
                method="kmeans",
                inputs=present,
                preprocessing={"impute_overrides": overrides},
            )
        )
    else:
        skipped["behaviour"] = "fewer than two behaviour features in the features table"

    if {"tenure_days", "recency_days", "spend_trend"} <= columns:
        dims.append(
            DimensionConfig(
                name="lifecycle",
                kind="rules",
                rules=[
                    Rule(segment="New", when="tenure_days <= 90"),
                    Rule(segment="Lapsed", when="recency_days > 180 OR recency_days IS NULL"),
                    Rule(segment="Declining", when="spend_trend <= -0.25"),
                    Rule(segment="Growing", when="spend_trend >= 0.25"),
                ],
                default="Mature",
            )
        )
    else:
        skipped["lifecycle"] = "features table lacks tenure_days/recency_days/spend_trend"
    return dims, skipped
