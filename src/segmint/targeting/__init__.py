"""Stage 6: targeting — acting on segments.

Audiences, lookalikes, cross-sell affinity, next-best-offer and segment profitability
(``docs/targeting.md``); randomised holdouts, campaign lift per segment, power planning,
uplift models and budget allocation (``docs/experiments.md``); propensity models
(``docs/propensity.md``: outcomes, point-in-time training, ``scores``). Everything is computed in the engine from
features, segments and scores.
"""

from segmint.targeting._affinity import (
    affinity_statements,
    association_rules,
    attach_cross_sell,
    upgrade_paths,
)
from segmint.targeting._analysis import (
    ALL,
    CampaignAnalysis,
    analyze_campaign,
    exposure_outcomes_sql,
    lift_table,
    release_lifts,
    segment_sizes,
)
from segmint.targeting._audiences import (
    BUILDS,
    CONTACTS,
    MEMBERS,
    AudienceBuild,
    audience_changes,
    audience_overlap,
    audience_release,
    build_audience,
    export_audience,
    list_audiences,
    record_contacts,
    segment_names,
    show_audience,
    stay_probabilities,
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
from segmint.targeting._fit import (
    evaluate_propensity,
    feature_labels,
    fit_propensity,
    naive_rule,
    next_purchase_timing,
)
from segmint.targeting._lookalike import (
    LookalikeResult,
    client_space,
    lookalike,
    lookalike_audience_scores,
    reach_curve,
    seed_clients,
    similarity_scores,
    typicality,
)
from segmint.targeting._metrics import (
    calibration_table,
    deciles,
    expected_calibration_error,
    gains_table,
    score_metrics,
)
from segmint.targeting._model import ColumnPlan, PropensityClassifier, encode, plan_columns
from segmint.targeting._nbo import OFFERS, NboResult, affinity_rates, next_best_offers
from segmint.targeting._outcomes import data_end, outcome_sql, outcomes
from segmint.targeting._power import (
    PowerPlan,
    control_size,
    minimum_detectable_effect,
    plan_segments,
)
from segmint.targeting._profitability import (
    client_profitability,
    cost_components,
    segment_profitability,
)
from segmint.targeting._registry import (
    MODELS_TABLE,
    PropensityVersion,
    list_versions,
    load_version,
)
from segmint.targeting._response import lift_history, promo_response, response_alerts
from segmint.targeting._score import SCORES_TABLE, ScoreResult, latest_scores, score_models
from segmint.targeting._sql import build_base, compile_expression
from segmint.targeting._stats import (
    benjamini_hochberg,
    newcombe_interval,
    welch_interval,
    wilson_interval,
)
from segmint.targeting._training import DatePlan, plan_dates, training_set
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
    "ALL",
    "ASSIGNMENTS_TABLE",
    "BUILDS",
    "CONTACTS",
    "MEMBERS",
    "MODELS_TABLE",
    "OFFERS",
    "SCORES_TABLE",
    "UPLIFT_TABLE",
    "AllocationResult",
    "AudienceBuild",
    "BalanceReport",
    "CampaignAnalysis",
    "ColumnPlan",
    "DatePlan",
    "DrawResult",
    "LookalikeResult",
    "NboResult",
    "PowerPlan",
    "PropensityClassifier",
    "PropensityVersion",
    "ScoreResult",
    "TwoModelUplift",
    "UpliftResult",
    "XLearnerUplift",
    "affinity_rates",
    "affinity_statements",
    "attach_cross_sell",
    "allocate_budget",
    "analyze_campaign",
    "assign_holdout",
    "association_rules",
    "audience_changes",
    "audience_release",
    "audience_overlap",
    "balance_check",
    "benjamini_hochberg",
    "build_audience",
    "build_base",
    "calibration_table",
    "classify_uplift",
    "client_profitability",
    "client_space",
    "compile_expression",
    "control_size",
    "cost_components",
    "data_end",
    "deciles",
    "draw_campaign",
    "encode",
    "evaluate_propensity",
    "expected_calibration_error",
    "export_audience",
    "exposure_outcomes_sql",
    "feature_labels",
    "fit_propensity",
    "fit_uplift",
    "gains_table",
    "holdout_clients_sql",
    "latest_scores",
    "lift_history",
    "lift_table",
    "release_lifts",
    "list_audiences",
    "list_versions",
    "load_version",
    "lookalike",
    "lookalike_audience_scores",
    "minimum_detectable_effect",
    "naive_rule",
    "newcombe_interval",
    "next_best_offers",
    "next_purchase_timing",
    "outcome_sql",
    "outcomes",
    "plan_columns",
    "plan_dates",
    "plan_segments",
    "promo_response",
    "qini_coefficient",
    "qini_curve",
    "reach_curve",
    "record_contacts",
    "response_alerts",
    "response_by_channel",
    "score_metrics",
    "score_models",
    "seed_clients",
    "segment_names",
    "segment_profitability",
    "segment_sizes",
    "show_audience",
    "similarity_scores",
    "stay_probabilities",
    "training_set",
    "typicality",
    "uniform_sql",
    "upgrade_paths",
    "welch_interval",
    "wilson_interval",
]
