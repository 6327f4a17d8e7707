"""MBG/NBD: the modified beta-geometric / negative binomial distribution model.

Batislam, E. P., Denizel, M. and Filiztekin, A. (2007), "Empirical validation
and comparison of models for customer base analysis", *International Journal
of Research in Marketing* 24(3), 201-209.

As BG/NBD, except that a customer may also drop out right after the first
purchase (time 0), so customers with no repeat purchase are not assumed alive.
This is the variant fitted by BTYDplus (``mbgcnbd`` with k = 1), whose CDNOW
estimates (r = 0.525, α = 6.183, a = 0.891, b = 1.614) this module reproduces.
Log-likelihood and gradient are analytic and evaluated in log space.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, gammaln, hyp2f1

from segmint.clv._base import BaseModel, validate_rfm
from segmint.clv._beta_geo import _frame, _last_purchase_time, _log_nbd_cumulative, _prepare
from segmint.clv._special import scaled_hyp2f1


def _terms(r, alpha, a, b, x, t_x, T):
    ln_a12 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x + 1) - betaln(a, b)
    l3 = -(r + x) * np.log(alpha + T)
    l4 = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + t_x)
    return ln_a12, l3, l4


def log_likelihood(params, x, t_x, T):
    """Log-likelihood of each ``(x, t_x, T)`` under MBG/NBD ``params = (r, α, a, b)``."""
    ln_a12, l3, l4 = _terms(*params, x, t_x, T)
    return ln_a12 + np.logaddexp(l3, l4)


def _nll_and_grad(z, x, t_x, T, w, xu, xi, wu):
    r, alpha, a, b = np.exp(z)
    ll_u = gammaln(r + xu) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xu + 1) - betaln(a, b)
    log_bx = np.log(b + xu)[xi]
    rx = r + x
    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + t_x)
    l3 = -rx * log_aT
    l4 = np.log(a) - log_bx - rx * log_atx
    lse = np.logaddexp(l3, l4)
    w4 = np.exp(l4 - lse)
    w3 = 1.0 - w4
    ww4 = w * w4
    psi_ab = digamma(a + b)
    psi_abx = digamma(a + b + xu + 1)
    d_r = wu @ (digamma(r + xu) - digamma(r) + np.log(alpha)) - (
        w @ (w3 * log_aT) + ww4 @ log_atx
    )
    d_alpha = wu.sum() * r / alpha - w @ (rx * (w3 / (alpha + T) + w4 / (alpha + t_x)))
    d_a = wu @ (psi_ab - psi_abx) + ww4.sum() / a
    d_b = wu @ (psi_ab + digamma(b + xu + 1) - digamma(b) - psi_abx) - ww4 @ np.exp(-log_bx)
    nll = -(wu @ ll_u + w @ lse)
    return float(nll), -np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])


class ModifiedBetaGeo(BaseModel):
    """MBG/NBD model of repeat purchasing (Batislam, Denizel & Filiztekin 2007).

    Same interface as :class:`~segmint.clv.BetaGeo`; parameters ``r, alpha, a, b``.
    """

    _param_names = ("r", "alpha", "a", "b")
    _objective = staticmethod(_nll_and_grad)
    _prepare = staticmethod(_prepare)
    _analytic_gradient = True

    def __init__(self, *, initial_params: dict | None = None):
        self.initial_params = initial_params

    def fit(self, frequency, recency=None, T=None, *, weights=None):
        """Fit by maximum likelihood (analytic gradient); returns self."""
        return self._fit_rfm(frequency, recency, T, weights)

    def probability_alive(self, frequency, recency, T):
        """P(alive at T | x, t_x, T)."""
        r, alpha, a, b = self._check_fitted()
        x, t_x, T_ = validate_rfm(frequency, recency, T)
        log_ratio = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T_) - np.log(alpha + t_x))
        return np.exp(-np.logaddexp(0.0, log_ratio))

    def expected_purchases(self, t, frequency, recency, T):
        """E[repeat purchases in (T, T + t] | x, t_x, T]."""
        r, alpha, a, b = self._check_fitted()
        x, t_x, T_ = validate_rfm(frequency, recency, T)
        t = np.asarray(t, dtype=float)
        scaled = scaled_hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + T_ + t))
        numerator = (a + b + x) / (a - 1) * (1.0 - scaled)
        return numerator * self.probability_alive(x, t_x, T_)

    def expected_purchases_new_customer(self, t):
        """E[X(t)] for a customer who has just made a first purchase."""
        r, alpha, a, b = self._check_fitted()
        t = np.asarray(t, dtype=float)
        hyp = hyp2f1(r, b + 1, a + b, t / (alpha + t))
        return b / (a - 1) * (1.0 - hyp * (alpha / (alpha + t)) ** r)

    def probability_of_purchases(self, n, t):
        """P(X(t) = n) for a new customer.

        Either the customer is alive after all n purchases and makes no more
        (probability B(a, b+n+1)/B(a, b) times the NBD mass at n), or drops out
        right after the n-th, which needs at least n purchases by t.
        """
        r, alpha, a, b = self._check_fitted()
        n, t = np.broadcast_arrays(np.asarray(n, dtype=int), np.asarray(t, dtype=float))
        log_own, below = _log_nbd_cumulative(r, alpha, n, t)
        first = np.exp(betaln(a, b + n + 1) - betaln(a, b) + log_own)
        second = np.exp(betaln(a + 1, b + n) - betaln(a, b)) * (1.0 - below)
        return first + second

    @staticmethod
    def simulate(n, T, *, r, alpha, a, b, random_state=None):
        """Simulate ``n`` customers' ``frequency, recency, T`` under MBG/NBD."""
        rng = np.random.default_rng(random_state)
        T_ = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
        lam = rng.gamma(r, 1.0 / alpha, n)
        p = rng.beta(a, b, n)
        k = rng.poisson(lam * T_)
        allowed = rng.geometric(p) - 1  # may drop out right after the first purchase
        x = np.minimum(k, allowed)
        return _frame(x, _last_purchase_time(rng, x, k, T_), T_)
