"""Customer lifetime value from a transaction model and a spend model.

CLV over a horizon is the discounted sum, step by step, of the expected
purchases in each step times the expected spend per purchase times the margin
(the stepwise scheme of ``lifetimes``): with steps of one month,

    CLV = margin · E[spend] · Σ_k (E[X(τ_k)] - E[X(τ_{k-1})]) / (1 + d)^(τ_k / year)

where ``E[X(τ)]`` is the model's conditional expectation of purchases in
``(T, T + τ]``, ``d`` an annual discount rate and each step is discounted at
its end. A last, shorter step covers a horizon that is not a whole number of
months.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from segmint._typing import TimeUnit
from segmint.clv._base import rfm_arguments
from segmint.clv._beta_geo import BetaGeo
from segmint.clv._beta_geo import log_likelihood as _bg_log_likelihood
from segmint.clv._gamma_gamma import FrequencySpendCorrelationWarning, GammaGamma, OwnMeanSpend
from segmint.clv._geometric_nbd import GeometricNBD
from segmint.errors import ConvergenceError, DataError

_DAYS_PER_UNIT = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12}
_DAYS_PER_YEAR = 365.25
# GammaGamma is fitted only with at least this many repeat buyers; else mean spend
MIN_REPEAT_BUYERS = 30
# BG/NBD with a + b beyond this has a dropout distribution no wider than a point mass can
# tell apart on any real base (sd of p below 3% of sqrt(p(1-p))): it is the limit model
HOMOGENEOUS_AB = 1e3
# the scale a + b at which the BG/NBD likelihood is compared along the limit's ray
_RAY = (1e3, 1e5)
# half the 95% quantile of chi-square(1)
_LRT_MARGIN = 1.92

#: kind names of the stored transaction models
TRANSACTION_MODELS = {"bg_nbd": BetaGeo, "geometric_nbd": GeometricNBD}


def customer_lifetime_value(
    transaction_model,
    spend_model,
    frequency,
    recency,
    T,
    monetary_value,
    *,
    horizon: float,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    time_unit: TimeUnit = "weeks",
) -> np.ndarray:
    """Discounted expected value of each customer over ``horizon``.

    Parameters
    ----------
    transaction_model : fitted BetaGeo, ParetoNBD, ModifiedBetaGeo, ...
    spend_model : fitted GammaGamma, or a number (spend per purchase for everyone)
    frequency, recency, T, monetary_value : array-like
        The customer summary (recency and T in ``time_unit``).
    horizon : float
        Length of the horizon in ``time_unit``.
    discount_rate : float
        Annual discount rate (0.1 = 10% a year).
    margin : float
        Profit margin applied to spend.
    time_unit : {"days", "weeks", "months"}
        Unit of recency, T and horizon.
    """
    if time_unit not in _DAYS_PER_UNIT:
        raise DataError(f"time_unit must be one of {list(_DAYS_PER_UNIT)}, got {time_unit!r}")
    if horizon <= 0:
        raise DataError(f"horizon must be > 0, got {horizon}")
    if discount_rate <= -1:
        raise DataError(f"discount_rate must be > -1, got {discount_rate}")
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    if isinstance(spend_model, int | float):
        spend = np.full(x.shape, float(spend_model))
    else:
        spend = spend_model.expected_spend(x, m)
    unit_days = _DAYS_PER_UNIT[time_unit]
    step = (365.25 / 12) / unit_days  # one month in time units
    edges = np.append(np.arange(step, horizon, step), horizon)
    edges = edges[edges > 0]
    cum = np.stack([transaction_model.expected_purchases(e, x, recency, T) for e in edges])
    per_step = np.diff(np.vstack([np.zeros(x.shape), cum]), axis=0)
    discount = (1.0 + discount_rate) ** (-(edges * unit_days / _DAYS_PER_YEAR))
    return margin * spend * (discount @ per_step)


def churn_risk_from_p_alive(p_alive) -> np.ndarray:
    """Churn risk where no churn labels exist: ``1 - P(alive)``."""
    p = np.asarray(p_alive, dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise DataError("p_alive must lie in [0, 1]")
    return 1.0 - p


def fit_transaction_model(frequency, recency=None, T=None) -> BetaGeo | GeometricNBD:
    """BG/NBD, or its homogeneous-dropout limit :class:`GeometricNBD` where BG/NBD diverges.

    When every customer has about the same dropout probability, the BG/NBD likelihood
    rises toward ``a, b -> inf`` (with ``a/(a+b)`` fixed) and its fit runs off to huge
    ``a, b`` or fails to converge. The limit model is then fitted instead: it is used
    when BG/NBD did not converge and the BG/NBD likelihood at the limit's optimum rises
    with ``a + b`` (so the failure is that divergence), or when BG/NBD converged with
    ``a + b > HOMOGENEOUS_AB`` and does not fit significantly better (likelihood-ratio
    test at 5%: the limit is BG/NBD with one parameter fewer).

    Parameters
    ----------
    frequency, recency, T : array-like or DataFrame
        The (x, t_x, T) summary, or one frame with those columns.

    Returns
    -------
    BetaGeo or GeometricNBD
        Fitted.

    Raises
    ------
    ConvergenceError
        Neither model gives a fit (BG/NBD's error).
    """
    x, t_x, T_ = rfm_arguments(frequency, recency, T)
    bg: BetaGeo | None
    try:
        bg = BetaGeo().fit(x, t_x, T_)
    except ConvergenceError as exc:
        bg, error = None, exc
    else:
        if bg.a_ + bg.b_ <= HOMOGENEOUS_AB:
            return bg
    try:
        limit = GeometricNBD().fit(x, t_x, T_)
    except ConvergenceError:
        if bg is None:
            raise error from None
        return bg
    if bg is not None:
        # the limit is BG/NBD with one parameter fewer: keep it unless BG/NBD fits
        # significantly better (likelihood-ratio test at 5%: 2 ΔLL > 3.84)
        return bg if bg.log_likelihood_ - limit.log_likelihood_ > _LRT_MARGIN else limit
    r, alpha, p = (limit.params_[n] for n in ("r", "alpha", "p"))
    x, t_x, T_ = (np.asarray(v, dtype=float) for v in (x, t_x, T_))
    near, far = (
        float(_bg_log_likelihood((r, alpha, p * k, (1 - p) * k), x, t_x, T_).sum()) for k in _RAY
    )
    if far > near:
        return limit
    raise error


def models_to_json(models: dict) -> dict:
    """The parameters of :func:`clv_features`' models as plain JSON (see :func:`models_from_json`)."""
    transactions = models["transactions"]
    kind = next(k for k, cls in TRANSACTION_MODELS.items() if type(transactions) is cls)
    spend = models["spend"]
    return {
        "transactions": {"kind": kind, "params": dict(transactions.params_)},
        "spend": (
            {"kind": "gamma_gamma", "params": dict(spend.params_)}
            if isinstance(spend, GammaGamma)
            else {"kind": "own_mean", "value": spend.population_mean, "reason": spend.reason}
            if isinstance(spend, OwnMeanSpend)
            else {"kind": "mean", "value": float(spend)}
        ),
    }


def models_from_json(data: dict) -> dict:
    """Models that predict with stored parameters (nothing is fitted): the inverse of
    :func:`models_to_json`."""
    tx = data["transactions"]
    if tx["kind"] not in TRANSACTION_MODELS:
        raise DataError(
            f"unknown transaction model kind {tx['kind']!r}; expected one of "
            f"{', '.join(TRANSACTION_MODELS)}"
        )
    spend = data["spend"]
    return {
        "transactions": TRANSACTION_MODELS[tx["kind"]].from_params(tx["params"]),
        "spend": (
            GammaGamma.from_params(spend["params"])
            if spend["kind"] == "gamma_gamma"
            else OwnMeanSpend(float(spend["value"]), str(spend.get("reason", "")))
            if spend["kind"] == "own_mean"
            else float(spend["value"])  # versions stored before the own-mean limit
        ),
    }


def _label(horizon: float, time_unit: str) -> str:
    value = int(horizon) if float(horizon).is_integer() else horizon
    return f"{value}{time_unit[0]}"


def clv_features(
    summary: pd.DataFrame,
    *,
    horizon: float = 52,
    discount_rate: float = 0.1,
    margin: float = 1.0,
    time_unit: TimeUnit = "weeks",
    label: str | None = None,
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
    models: dict | None = None,
):
    """Fit BG/NBD (+ Gamma-Gamma) on a summary and score every customer.

    BG/NBD is :func:`fit_transaction_model`'s choice: BG/NBD, or its homogeneous-dropout
    limit :class:`GeometricNBD` where BG/NBD diverges. With ``models`` nothing is
    fitted: the given models score the summary.

    Parameters
    ----------
    summary : DataFrame
        ``customer_id, frequency, recency, T, monetary_value`` (recency and T
        in ``time_unit``), e.g. from :func:`rfm_summary` or the feature engine.
    horizon : float
        Horizon of CLV and expected purchases, in ``time_unit`` (default 52 weeks).
    discount_rate : float
        Annual discount rate.
    margin : float
        Profit margin applied to spend.
    time_unit : {"days", "weeks", "months"}
    label : str, optional
        Suffix of the horizon columns (default e.g. ``"52w"``; pass ``"12m"``
        to get ``clv_12m``).
    min_repeat_buyers : int
        Fewer repeat buyers than this: spend is their mean, not Gamma-Gamma.
    models : dict, optional
        Fitted models to score with, as returned here (or by :func:`models_from_json`).

    Returns
    -------
    features : DataFrame
        One row per customer: ``customer_id, clv_<label>, p_alive,
        expected_purchases_<label>, expected_spend, churn_risk``.
    models : dict
        ``{"transactions": BetaGeo or GeometricNBD, "spend": GammaGamma, OwnMeanSpend or
        float}``. Spend is :class:`OwnMeanSpend` (each repeat buyer's own mean repeat
        spend, the Gamma-Gamma limit ``p -> inf``; the population mean at x = 0), with its
        ``reason``, when Gamma-Gamma does not converge or when spend and frequency are
        correlated (|r| > 0.3), which breaks its assumption; the mean repeat spend (a
        float, the same for everyone) with fewer than ``min_repeat_buyers``.
    """
    frequency, recency, T = rfm_arguments(summary, None, None)
    if "monetary_value" not in summary.columns or "customer_id" not in summary.columns:
        from segmint.errors import ColumnNotFoundError

        raise ColumnNotFoundError(
            f"summary needs customer_id and monetary_value; it has {list(summary.columns)}"
        )
    monetary = summary["monetary_value"].to_numpy(dtype=float)
    if models is None:
        models = fit_clv_models(summary, min_repeat_buyers=min_repeat_buyers)
    bg, spend_model = models["transactions"], models["spend"]
    if isinstance(spend_model, GammaGamma | OwnMeanSpend):
        spend = spend_model.expected_spend(frequency, monetary)
    else:
        spend = np.full(monetary.shape, spend_model)
    p_alive = bg.probability_alive(frequency, recency, T)
    suffix = label or _label(horizon, time_unit)
    features = pd.DataFrame(
        {
            "customer_id": summary["customer_id"].to_numpy(),
            f"clv_{suffix}": customer_lifetime_value(
                bg, spend_model, frequency, recency, T, monetary,
                horizon=horizon, discount_rate=discount_rate, margin=margin, time_unit=time_unit,
            ),
            "p_alive": p_alive,
            f"expected_purchases_{suffix}": bg.expected_purchases(horizon, frequency, recency, T),
            "expected_spend": spend,
            "churn_risk": churn_risk_from_p_alive(p_alive),
        }
    )
    return features, models


def fit_clv_models(summary: pd.DataFrame, *, min_repeat_buyers: int = MIN_REPEAT_BUYERS) -> dict:
    """The models :func:`clv_features` scores with, fitted on a summary.

    Returns
    -------
    dict
        ``{"transactions": BetaGeo or GeometricNBD, "spend": GammaGamma, OwnMeanSpend or
        float}`` (see :func:`clv_features`).
    """
    frequency, recency, T = rfm_arguments(summary, None, None)
    monetary = summary["monetary_value"].to_numpy(dtype=float)
    bg = fit_transaction_model(frequency, recency, T)
    # Gamma-Gamma needs positive spend; zero-value repeat buyers are left out of its fit
    repeat = (np.asarray(frequency) > 0) & (monetary > 0)
    spend_model: GammaGamma | OwnMeanSpend
    mean_spend = float(monetary[repeat].mean()) if repeat.any() else 0.0
    if int(repeat.sum()) < min_repeat_buyers:
        # too few to learn how much a client's own mean deserves: everyone the mean
        return {"transactions": bg, "spend": mean_spend}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FrequencySpendCorrelationWarning)
            spend_model = GammaGamma().fit(np.asarray(frequency)[repeat], monetary[repeat])
    except ConvergenceError as exc:
        # p -> inf: the limit of the model, each client's own mean (not one mean for all)
        spend_model = OwnMeanSpend(mean_spend, f"Gamma-Gamma did not converge ({exc})")
    except FrequencySpendCorrelationWarning as exc:
        spend_model = OwnMeanSpend(mean_spend, f"Gamma-Gamma assumption broken: {exc}")
    return {"transactions": bg, "spend": spend_model}
