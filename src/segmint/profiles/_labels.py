"""Readable labels of feature names, shared by rules, names and personas."""

from __future__ import annotations

LABELS = {
    "recency_days": "days since the last purchase",
    "frequency": "number of purchases",
    "repeat_frequency": "number of repeat purchases",
    "monetary_total": "total spend",
    "monetary_mean": "spend per purchase",
    "tenure_days": "tenure in days",
    "r_score": "recency score",
    "f_score": "frequency score",
    "m_score": "monetary score",
    "p_alive": "probability of being active",
    "revenue_12m": "12-month revenue",
    "clv_12m": "12-month CLV",
    "margin_12m": "12-month margin",
    "ipt_mean_days": "days between purchases",
    "n_products": "number of products",
}


def label(feature: str) -> str:
    if feature in LABELS:
        return LABELS[feature]
    if feature.startswith("share_cat_"):
        return feature.removeprefix("share_cat_").replace("_", " ") + " share"
    if feature.startswith("share_channel_"):
        return feature.removeprefix("share_channel_").replace("_", " ") + " channel share"
    return feature.replace("_", " ")


def is_share(feature: str) -> bool:
    """Features in [0, 1] that read best as percentages."""
    return "share" in feature or feature in {"p_alive", "churn_risk", "refund_rate"}
