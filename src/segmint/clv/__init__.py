"""segmint.clv: buy-till-you-die models, customer lifetime value and next-purchase timing.

Small, exact maximum-likelihood implementations validated against the
published results (see each module's docstring for its paper). One column
vocabulary everywhere: ``customer_id, frequency, recency, T, monetary_value``.
"""

from segmint.clv._beta_geo import BetaGeo
from segmint.clv._beta_geo_beta_binom import BetaGeoBetaBinom
from segmint.clv._gamma_gamma import FrequencySpendCorrelationWarning, GammaGamma, OwnMeanSpend
from segmint.clv._geometric_nbd import GeometricNBD
from segmint.clv._holdout import cumulative_repeat_purchases, holdout_by_frequency
from segmint.clv._modified_beta_geo import ModifiedBetaGeo
from segmint.clv._pareto_nbd import ParetoNBD
from segmint.clv._rfm import calibration_and_holdout, rfm_summary
from segmint.clv._shifted_beta_geo import ShiftedBetaGeo
from segmint.clv._timing import expected_time_to_next_purchase, probability_of_purchase_within
from segmint.clv._value import (
    churn_risk_from_p_alive,
    clv_features,
    customer_lifetime_value,
    fit_clv_models,
    fit_transaction_model,
    models_from_json,
    models_to_json,
)

__all__ = [
    "BetaGeo",
    "BetaGeoBetaBinom",
    "FrequencySpendCorrelationWarning",
    "GammaGamma",
    "GeometricNBD",
    "ModifiedBetaGeo",
    "OwnMeanSpend",
    "ParetoNBD",
    "ShiftedBetaGeo",
    "calibration_and_holdout",
    "churn_risk_from_p_alive",
    "clv_features",
    "cumulative_repeat_purchases",
    "customer_lifetime_value",
    "expected_time_to_next_purchase",
    "fit_clv_models",
    "fit_transaction_model",
    "holdout_by_frequency",
    "models_from_json",
    "models_to_json",
    "probability_of_purchase_within",
    "rfm_summary",
]
