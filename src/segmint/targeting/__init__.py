"""Stage 6: targeting — outcomes, propensity models, scores (and, next, audiences).

Outcomes are declared under ``targeting.outcomes`` in segmint.yaml; propensity models
under ``targeting.propensity``. :func:`fit_propensity` trains a model point-in-time over
several as-of dates and evaluates it on a later one; :func:`score_models` scores every
client each cycle into the table ``scores`` and the feature ``propensity_<name>``.
See ``docs/targeting.md``.
"""

from segmint.targeting._fit import (
    evaluate_propensity,
    feature_labels,
    fit_propensity,
    naive_rule,
    next_purchase_timing,
)
from segmint.targeting._metrics import (
    calibration_table,
    deciles,
    expected_calibration_error,
    gains_table,
    score_metrics,
)
from segmint.targeting._model import ColumnPlan, PropensityClassifier, encode, plan_columns
from segmint.targeting._outcomes import data_end, outcome_sql, outcomes
from segmint.targeting._registry import (
    MODELS_TABLE,
    PropensityVersion,
    list_versions,
    load_version,
)
from segmint.targeting._score import SCORES_TABLE, ScoreResult, latest_scores, score_models
from segmint.targeting._training import DatePlan, plan_dates, training_set

__all__ = [
    "MODELS_TABLE",
    "SCORES_TABLE",
    "ColumnPlan",
    "DatePlan",
    "PropensityClassifier",
    "PropensityVersion",
    "ScoreResult",
    "calibration_table",
    "data_end",
    "deciles",
    "encode",
    "evaluate_propensity",
    "expected_calibration_error",
    "feature_labels",
    "fit_propensity",
    "gains_table",
    "latest_scores",
    "list_versions",
    "load_version",
    "naive_rule",
    "next_purchase_timing",
    "outcome_sql",
    "outcomes",
    "plan_columns",
    "plan_dates",
    "score_metrics",
    "score_models",
    "training_set",
]
