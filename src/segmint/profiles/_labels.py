"""Readable labels of feature names, shared by rules, names, personas and the report.

The labels are the feature catalog's (:func:`segmint.features.feature_label`).
"""

from __future__ import annotations

from segmint.features import feature_label as label

__all__ = ["is_share", "label"]


def is_share(feature: str) -> bool:
    """Features in [0, 1] that read best as percentages."""
    return "share" in feature or feature in {"p_alive", "churn_risk", "refund_rate"}
