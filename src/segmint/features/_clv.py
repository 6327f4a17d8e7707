"""The ``clv`` feature group: buy-till-you-die models fitted on the as-of summary.

Registered as a post-engine group: the engine computes the rfm group (``btyd_x``,
``btyd_t_x``, ``btyd_T``, ``monetary_repeat_mean``); :func:`segmint.clv.clv_features`
fits BG/NBD (and Gamma-Gamma for spend) on the unique (x, t_x, T) rows and scores
every buyer, vectorised.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import ConvergenceError
from segmint.features._catalog import POST_ENGINE_GROUPS
from segmint.features._definitions import Feature, PostEngineGroup

log = logging.getLogger(__name__)

MIN_BUYERS = 50
"""Fewer buyers than this: the models are not fitted and the clv features are null."""

_MODEL = "BG/NBD + Gamma-Gamma fitted on the as-of btyd summary (segmint.clv.clv_features)"
_TX = ("transactions",)


def _feature(name: str, description: str, unit: str, default: str) -> Feature:
    return Feature(name, "clv", description, unit, _MODEL, default, "DOUBLE", _TX, ())


FEATURES = (
    _feature(
        "clv_{clv_months}m",
        "Discounted expected margin over the horizon: expected purchases per month x "
        "expected spend x margin (clients without a purchase: 0).",
        "{currency}",
        "0.0",
    ),
    _feature(
        "expected_purchases_{clv_months}m",
        "Expected repeat purchase days over the horizon (BG/NBD conditional expectation).",
        "count",
        "0.0",
    ),
    _feature(
        "expected_spend",
        "Expected spend per purchase day (Gamma-Gamma; mean repeat spend when it cannot "
        "be fitted).",
        "{currency}",
        "0.0",
    ),
    _feature(
        "p_alive",
        "Probability the client is still active (BG/NBD). Null before the first purchase.",
        "probability",
        "NULL",
    ),
    _feature(
        "churn_risk",
        "1 - p_alive (no churn labels used). Null before the first purchase.",
        "probability",
        "NULL",
    ),
)


def _compute(frame: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    from segmint.clv import clv_features
    from segmint.features._compute import btyd_summary

    months = int(params["clv_months"])
    label = f"{months}m"
    names = [f.name.format(clv_months=months) for f in FEATURES]
    out = pd.DataFrame({"client_id": frame["client_id"].to_numpy()})
    for name, f in zip(names, FEATURES, strict=True):
        out[name] = 0.0 if f.if_no_data == "0.0" else np.nan
    summary = btyd_summary(frame)
    if len(summary) < MIN_BUYERS:
        log.warning("clv features: %d buyers (< %d); models not fitted", len(summary), MIN_BUYERS)
        for name in names:
            out[name] = np.nan
        return out
    unit_days = float(params["unit_days"])
    horizon = months * 30.4375 / unit_days
    try:
        scored, _models = clv_features(
            summary,
            horizon=horizon,
            discount_rate=float(params["clv_discount_rate"]),
            margin=float(params["clv_margin"]),
            time_unit=params["time_unit"],
            label=label,
        )
    except ConvergenceError as exc:
        # a failed fit must not pass for a result: the features are null, and said so
        log.warning("clv features: BG/NBD did not converge (%s); clv features are null", exc)
        for name in names:
            out[name] = np.nan
        return out
    scored = scored.set_index("customer_id")
    idx = out["client_id"].map(pd.Series(np.arange(len(scored)), index=scored.index))
    buyers = idx.notna().to_numpy()
    rows = idx[buyers].astype(int).to_numpy()
    for name in names:
        out.loc[buyers, name] = scored[name].to_numpy()[rows]
    return out


POST_ENGINE_GROUPS["clv"] = PostEngineGroup(
    name="clv",
    description="Customer value from buy-till-you-die models: CLV, expected purchases and "
    "spend, probability alive and churn risk, fitted on the as-of summary. Computed only "
    "when listed in `features.groups` (the model is refitted at each as_of). When fewer than "
    f"{MIN_BUYERS} clients have purchased, or the fit does not converge, the group's "
    "features are null (and a warning is logged).",
    requires=("rfm",),
    features=FEATURES,
    compute=_compute,
    entities=_TX,
    # opt-in (list it in features.groups): the model is refitted at every as_of, and on
    # data with homogeneous dropout BG/NBD is identified at some dates and not others,
    # which makes the features (and anything built on them) flip between cycles
    by_default=False,
)
