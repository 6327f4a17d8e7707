"""sBG: the shifted-beta-geometric model of contract retention.

Fader, P. S. and Hardie, B. G. S. (2007), "How to Project Customer
Retention", *Journal of Interactive Marketing* 21(1), 76-90; discounted
expected residual lifetime from Fader, P. S. and Hardie, B. G. S. (2010),
"Customer-Base Valuation in a Contractual Setting: The Perils of Ignoring
Heterogeneity", *Marketing Science* 29(1), 85-93.

Each customer churns at the end of any period with probability θ ~ Beta(α, β).
Fitted from a cohort's survivor counts; log-likelihood and gradient analytic.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, hyp2f1

from segmint.clv._base import BaseModel, as_float_array, fit_log_scale
from segmint.errors import DataError


def _nll_and_grad(z, lost, t, survivors, n):
    alpha, beta = np.exp(z)
    base = betaln(alpha, beta)
    ll = lost @ (betaln(alpha + 1, beta + t - 1) - base) + survivors * (
        betaln(alpha, beta + n) - base
    )
    psi_ab = digamma(alpha + beta)
    d_alpha = lost @ (digamma(alpha + 1) - digamma(alpha + beta + t) - digamma(alpha) + psi_ab)
    d_alpha += survivors * (psi_ab - digamma(alpha + beta + n))
    d_beta = lost @ (digamma(beta + t - 1) - digamma(alpha + beta + t) - digamma(beta) + psi_ab)
    d_beta += survivors * (digamma(beta + n) - digamma(alpha + beta + n) - digamma(beta) + psi_ab)
    return -float(ll), -np.array([d_alpha * alpha, d_beta * beta])


class ShiftedBetaGeo(BaseModel):
    """Shifted-beta-geometric retention model (Fader & Hardie 2007).

    Examples
    --------
    >>> m = ShiftedBetaGeo().fit([1000, 869, 743, 653, 593, 551, 517, 491])
    >>> round(m.alpha_, 3), round(m.beta_, 3)
    (0.668, 3.806)
    """

    _param_names = ("alpha", "beta")

    def __init__(self, *, initial_params: dict | None = None):
        self.initial_params = initial_params

    def fit(self, survivors):
        """Fit from survivor counts ``[n_0, n_1, ..., n_T]`` (customers active at
        the start and after each period; non-increasing). Returns self."""
        s = as_float_array(survivors, "survivors")
        if s.size < 2 or np.any(np.diff(s) > 0) or np.any(s < 0) or s[0] <= 0:
            raise DataError(
                "survivors must be non-increasing, non-negative counts starting with the "
                f"cohort size, got {s.tolist()}"
            )
        lost = -np.diff(s)
        t = np.arange(1, s.size, dtype=float)
        n = float(s.size - 1)
        start = self.initial_params or {}
        z0 = np.log([start.get(k, 1.0) for k in self._param_names])
        result = fit_log_scale(
            lambda z: _nll_and_grad(z, lost, t, s[-1], n),
            z0,
            names=self._param_names,
            model="ShiftedBetaGeo",
            analytic_gradient=True,
            total_weight=s[0],
        )
        self._store(result, int(s[0]))
        return self

    def churn_probability(self, t):
        """P(T = t): probability that a new customer churns at the end of period ``t``."""
        alpha, beta = self._check_fitted()
        t = np.asarray(t, dtype=float)
        return np.exp(betaln(alpha + 1, beta + t - 1) - betaln(alpha, beta))

    def survival(self, t):
        """S(t): share of a cohort still active after ``t`` periods."""
        alpha, beta = self._check_fitted()
        t = np.asarray(t, dtype=float)
        return np.exp(betaln(alpha, beta + t) - betaln(alpha, beta))

    def retention_rate(self, t):
        """r_t = S(t) / S(t - 1) = (β + t - 1) / (α + β + t - 1): the retention curve."""
        alpha, beta = self._check_fitted()
        t = np.asarray(t, dtype=float)
        return (beta + t - 1) / (alpha + beta + t - 1)

    def discounted_expected_residual_lifetime(self, discount_rate, renewals=0):
        """DERL: discounted expected number of future payments of a customer who
        has made ``renewals`` renewals, just before the next renewal decision
        (Fader & Hardie 2010, equation 6), with ``discount_rate`` per period."""
        alpha, beta = self._check_fitted()
        n = np.asarray(renewals, dtype=float) + 1
        d = float(discount_rate)
        if d <= -1:
            raise DataError(f"discount_rate must be > -1, got {discount_rate}")
        return (beta + n - 1) / (alpha + beta + n - 1) * hyp2f1(
            1.0, beta + n, alpha + beta + n, 1.0 / (1.0 + d)
        )

    @staticmethod
    def simulate(n, periods, *, alpha, beta, random_state=None):
        """Survivor counts ``[n, S_1, ..., S_periods]`` of a simulated cohort of ``n``."""
        rng = np.random.default_rng(random_state)
        lifetime = rng.geometric(rng.beta(alpha, beta, n))
        return np.array([(lifetime > t).sum() for t in range(periods + 1)])
