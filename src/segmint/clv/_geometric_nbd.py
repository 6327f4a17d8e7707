"""Geometric/NBD: BG/NBD with the same dropout probability for every customer.

The limit of BG/NBD (Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005),
"'Counting Your Customers' the Easy Way: An Alternative to the Pareto/NBD Model",
*Marketing Science* 24(2), 275-284) as ``a, b -> inf`` with ``p = a / (a + b)``
fixed: the beta mixing distribution of the dropout probability collapses onto
``p``. While alive a customer buys as a Poisson process with rate
λ ~ Gamma(r, α); after each repeat purchase they drop out with probability ``p``.

When dropout is homogeneous the BG/NBD likelihood keeps rising toward
``a, b -> inf`` and its maximum is not attained (the fit diverges); this model
is the attained maximum on that boundary. Its formulas are BG/NBD's limits:

* likelihood (BG/NBD eq. 6, ``B(a, b+x)/B(a, b) -> (1-p)^x``)::

    L = Γ(r+x) α^r / Γ(r) · [(1-p)^x / (α+T)^(r+x)
                             + δ(x>0) p (1-p)^(x-1) / (α+t_x)^(r+x)]

* P(alive | x, t_x, T) = 1 / (1 + δ(x>0) p/(1-p) ((α+T)/(α+t_x))^(r+x))
  (eq. 11, ``a/(b+x-1) -> p/(1-p)``);
* E[purchases in (T, T+t] | x, t_x, T] = P(alive) (1 - ((α+T)/(α+T+p t))^(r+x)) / p
  (eq. 10: ``2F1(r+x, b+x; a+b+x-1; z) -> (1 - (1-p) z)^-(r+x)``); for an alive
  customer with rate λ it is ``(1 - e^(-λ p t)) / p``, averaged over the posterior
  Gamma(r+x, α+T).

``p`` is fitted on the logit scale; everything else as the other (x, t_x, T) models.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from segmint.clv._base import (
    BaseModel,
    MLEResult,
    collapse,
    fit_log_scale,
    rfm_arguments,
    validate_rfm,
)
from segmint.clv._beta_geo import _frame, _last_purchase_time


def _log_p(u):
    """``log p`` and ``log(1 - p)`` of ``p = expit(u)``, without cancellation."""
    return -np.logaddexp(0.0, -u), -np.logaddexp(0.0, u)


def log_likelihood(params, x, t_x, T):
    """Log-likelihood of each ``(x, t_x, T)`` under ``params = (r, α, p)``."""
    r, alpha, p = params
    log_p, log_q = np.log(p), np.log1p(-p)
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    l3 = x * log_q - (r + x) * np.log(alpha + T)
    with np.errstate(invalid="ignore"):
        l4 = np.where(x > 0, log_p + (x - 1) * log_q - (r + x) * np.log(alpha + t_x), -np.inf)
    return head + np.logaddexp(l3, l4)


def _nll_and_grad(z, x, t_x, T, w):
    """Negative log-likelihood and its gradient in ``z = (log r, log α, logit p)``."""
    r, alpha = np.exp(z[:2])
    log_p, log_q = _log_p(z[2])
    p = np.exp(log_p)
    rx = r + x
    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + t_x)
    l3 = x * log_q - rx * log_aT
    l4 = np.where(x > 0, log_p + (x - 1) * log_q - rx * log_atx, -np.inf)
    lse = np.logaddexp(l3, l4)
    w4 = np.exp(l4 - lse)
    w3 = 1.0 - w4
    head = gammaln(rx) - gammaln(r) + r * np.log(alpha)
    d_r = w @ (digamma(rx) - digamma(r) + np.log(alpha) - w3 * log_aT - w4 * log_atx)
    d_alpha = w @ (r / alpha - rx * (w3 / (alpha + T) + w4 / (alpha + t_x)))
    # d l3/du = -x p and d l4/du = 1 - x p, for u = logit p
    d_u = w @ (w4 - x * p)
    nll = -float(w @ (head + lse))
    return nll, -np.array([d_r * r, d_alpha * alpha, d_u])


class GeometricNBD(BaseModel):
    """BG/NBD with homogeneous dropout: the limit ``a, b -> inf``, ``a/(a+b) = p``.

    Parameters
    ----------
    initial_params : dict, optional
        Starting values for ``r, alpha, p`` (default 1, 1, 0.5).

    Attributes
    ----------
    params_ : dict
        Fitted ``r, alpha, p``; also as ``r_, alpha_, p_``.
    log_likelihood_ : float
        Log-likelihood at the optimum.

    Examples
    --------
    >>> data = GeometricNBD.simulate(2000, 52.0, r=0.8, alpha=4.0, p=0.1, random_state=0)
    >>> m = GeometricNBD().fit(data)
    >>> 0.05 < m.p_ < 0.2
    True
    """

    _param_names = ("r", "alpha", "p")

    def __init__(self, *, initial_params: dict | None = None):
        self.initial_params = initial_params

    def fit(self, frequency, recency=None, T=None, *, weights=None):
        """Fit by maximum likelihood (analytic gradient).

        Parameters
        ----------
        frequency, recency, T : array-like or DataFrame
            Repeat purchases, time of the last purchase and customer age (same
            unit), or one frame with those columns.
        weights : array-like, optional
            Number of customers each row stands for.

        Returns
        -------
        self
        """
        x, t_x, T_ = validate_rfm(*rfm_arguments(frequency, recency, T))
        (x, t_x, T_), w = collapse(x, t_x, T_, weights=weights)
        start = {"r": 1.0, "alpha": 1.0, "p": 0.5, **(self.initial_params or {})}
        p0 = start["p"]
        # the optimiser works on log-parameters: the third is log(p/(1-p)), the odds
        z0 = [np.log(start["r"]), np.log(start["alpha"]), np.log(p0 / (1.0 - p0))]
        result = fit_log_scale(
            lambda z: _nll_and_grad(z, x, t_x, T_, w),
            z0,
            names=("r", "alpha", "p_odds"),
            model="GeometricNBD",
            analytic_gradient=True,
            total_weight=w.sum(),
        )
        r, alpha, odds = result.params
        p = odds / (1.0 + odds)
        # covariance of (r, α, odds) -> (r, α, p) by the delta method: dp/dodds = (1-p)^2
        jac = np.diag([1.0, 1.0, (1.0 - p) ** 2])
        self._store(
            MLEResult(
                params=np.array([r, alpha, p]),
                log_likelihood=result.log_likelihood,
                covariance=jac @ result.covariance @ jac,
                n_iter=result.n_iter,
            ),
            int(w.sum()),
        )
        return self

    def probability_alive(self, frequency, recency, T):
        """P(customer still alive at T | x, t_x, T)."""
        r, alpha, p = self._check_fitted()
        x, t_x, T_ = validate_rfm(frequency, recency, T)
        log_ratio = np.log(p) - np.log1p(-p) + (r + x) * (np.log(alpha + T_) - np.log(alpha + t_x))
        return np.where(x > 0, np.exp(-np.logaddexp(0.0, log_ratio)), 1.0)

    def expected_purchases(self, t, frequency, recency, T):
        """E[repeat purchases in (T, T + t] | x, t_x, T]."""
        r, alpha, p = self._check_fitted()
        x, t_x, T_ = validate_rfm(frequency, recency, T)
        t = np.asarray(t, dtype=float)
        alive_mean = -np.expm1((r + x) * (np.log(alpha + T_) - np.log(alpha + T_ + p * t))) / p
        return alive_mean * self.probability_alive(x, t_x, T_)

    def expected_purchases_new_customer(self, t):
        """E[X(t)]: expected repeat purchases of a new customer in (0, t]."""
        r, alpha, p = self._check_fitted()
        t = np.asarray(t, dtype=float)
        return -np.expm1(r * (np.log(alpha) - np.log(alpha + p * t))) / p

    @staticmethod
    def simulate(n, T, *, r, alpha, p, random_state=None):
        """Simulate ``n`` customers' ``frequency, recency, T`` (frame, as ``BetaGeo.simulate``)."""
        rng = np.random.default_rng(random_state)
        T_ = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
        lam = rng.gamma(r, 1.0 / alpha, n)
        k = rng.poisson(lam * T_)
        allowed = rng.geometric(p, n)  # dropout after this many repeat purchases
        x = np.minimum(k, allowed)
        return _frame(x, _last_purchase_time(rng, x, k, T_), T_)

