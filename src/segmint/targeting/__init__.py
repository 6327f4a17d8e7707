"""Targeting: randomised holdouts, campaign lift per segment, power planning, uplift
models and budget allocation.

Experiments (``experiments:`` in segmint.yaml) assign clients to arms by a salted hash
in SQL (:func:`assign_holdout`, :func:`draw_campaign`), check balance
(:func:`balance_check`), and measure campaigns from the ``campaigns`` exposures
(:func:`analyze_campaign`); :func:`plan_segments` says which segments an experiment
can measure. See ``docs/experiments.md``.
"""

from segmint.targeting._analysis import (
    ALL,
    CampaignAnalysis,
    analyze_campaign,
    exposure_outcomes_sql,
    lift_table,
    segment_sizes,
)
from segmint.targeting._budget import AllocationResult, allocate_budget, response_by_channel
from segmint.targeting._experiments import (
    ASSIGNMENTS_TABLE,
    BalanceReport,
    DrawResult,
    assign_holdout,
    balance_check,
    draw_campaign,
    holdout_clients_sql,
    uniform_sql,
)
from segmint.targeting._power import (
    PowerPlan,
    control_size,
    minimum_detectable_effect,
    plan_segments,
)
from segmint.targeting._response import lift_history, promo_response, response_alerts
from segmint.targeting._stats import (
    benjamini_hochberg,
    newcombe_interval,
    welch_interval,
    wilson_interval,
)
from segmint.targeting._uplift import (
    UPLIFT_TABLE,
    TwoModelUplift,
    UpliftResult,
    XLearnerUplift,
    classify_uplift,
    fit_uplift,
    qini_coefficient,
    qini_curve,
)

__all__ = [
    "lift_history",
    "promo_response",
    "response_alerts",
    "AllocationResult",
    "allocate_budget",
    "response_by_channel",
    "UPLIFT_TABLE",
    "TwoModelUplift",
    "UpliftResult",
    "XLearnerUplift",
    "classify_uplift",
    "fit_uplift",
    "qini_coefficient",
    "qini_curve",
    "ALL",
    "ASSIGNMENTS_TABLE",
    "BalanceReport",
    "CampaignAnalysis",
    "DrawResult",
    "PowerPlan",
    "analyze_campaign",
    "assign_holdout",
    "balance_check",
    "benjamini_hochberg",
    "control_size",
    "draw_campaign",
    "exposure_outcomes_sql",
    "holdout_clients_sql",
    "lift_table",
    "minimum_detectable_effect",
    "newcombe_interval",
    "plan_segments",
    "segment_sizes",
    "uniform_sql",
    "welch_interval",
    "wilson_interval",
]
