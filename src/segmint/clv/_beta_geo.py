"""BG/NBD: the beta-geometric / negative binomial distribution model.

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your
Customers' the Easy Way: An Alternative to the Pareto/NBD Model",
*Marketing Science* 24(2), 275-284.

While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α);
after each repeat purchase they drop out with probability p ~ Beta(a, b).
The log-likelihood (equation 6 of the paper) and its gradient are evaluated
in closed form, in log space, once per unique ``(x, t_x, T)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, gammaln, hyp2f1

from segmint.clv._base import BaseModel, validate_rfm
from segmint.clv._special import scaled_hyp2f1


def _loglik_terms(r, alpha, a, b, x, t_x, T):
    """Per-row log-likelihood pieces: ``ln A1 + ln A2`` and the two log terms."""
    ln_a12 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    l3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        l4 = np.where(
            x > 0, np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x), -np.inf
        )
    return ln_a12, l3, l4


def log_likelihood(params, x, t_x, T):
    """Log-likelihood of each ``(x, t_x, T)`` under BG/NBD ``params = (r, α, a, b)``."""
    r, alpha, a, b = params
    ln_a12, l3, l4 = _loglik_terms(r, alpha, a, b, x, t_x, T)
    return ln_a12 + np.logaddexp(l3, l4)


def _prepare(x, t_x, T, w):
    """Data for :func:`_nll_and_grad`: terms depending on x alone are computed
    once per distinct x, with the weights summed per x."""
    xu, xi = np.unique(x, return_inverse=True)
    return x, t_x, T, w, xu, xi, np.bincount(xi, weights=w)


def _nll_and_grad(z, x, t_x, T, w, xu, xi, wu):
    r, alpha, a, b = np.exp(z)
    # per distinct x
    ll_u = gammaln(r + xu) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xu) - betaln(a, b)
    log_bx1 = np.log(np.where(xu > 0, b + xu - 1, 1.0))[xi]
    # per row
    rx = r + x
    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + t_x)
    l3 = -rx * log_aT
    l4 = np.where(x > 0, np.log(a) - log_bx1 - rx * log_atx, -np.inf)
    lse = np.logaddexp(l3, l4)
    w4 = np.exp(l4 - lse)
    w3 = 1.0 - w4
    ww4 = w * w4
    psi_ab = digamma(a + b)
    psi_abx = digamma(a + b + xu)
    d_r = wu @ (digamma(r + xu) - digamma(r) + np.log(alpha)) - (
        w @ (w3 * log_aT) + ww4 @ log_atx
    )
    d_alpha = wu.sum() * r / alpha - w @ (rx * (w3 / (alpha + T) + w4 / (alpha + t_x)))
    d_a = wu @ (psi_ab - psi_abx) + ww4.sum() / a
    d_b = wu @ (psi_ab + digamma(b + xu) - digamma(b) - psi_abx) - ww4 @ np.exp(-log_bx1)
    nll = -(wu @ ll_u + w @ lse)
    return float(nll), -np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])


class BetaGeo(BaseModel):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    Parameters
    ----------
    initial_params : dict, optional
        Starting values for ``r, alpha, a, b`` (default 1 each).

    Attributes
    ----------
    params_ : dict
        Fitted ``r, alpha, a, b``; also as ``r_, alpha_, a_, b_``.
    log_likelihood_ : float
        Log-likelihood at the optimum.

    Examples
    --------
    >>> from segmint.datasets import load_cdnow_summary
    >>> s = load_cdnow_summary()
    >>> m = BetaGeo().fit(s["x"], s["t_x"], s["T"])
    >>> round(m.r_, 3), round(m.alpha_, 3)
    (0.243, 4.414)
    """

    _param_names = ("r", "alpha", "a", "b")
    _objective = staticmethod(_nll_and_grad)
    _prepare = staticmethod(_prepare)
    _analytic_gradient = True

    def __init__(self, *, initial_params: dict | None = None):
        self.initial_params = initial_params

    def fit(self, frequency, recency=None, T=None, *, weights=None):
        """Fit by maximum likelihood.

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
        return self._fit_rfm(frequency, recency, T, weights)

    def probability_alive(self, frequency, recency, T):
        """P(customer still alive at T | x, t_x, T) (paper, equation 11)."""
        r, alpha, a, b = self._check_fitted()
        x, t_x, T_ = validate_rfm(frequency, recency, T)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = (
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                + (r + x) * (np.log(alpha + T_) - np.log(alpha + t_x))
            )
        return np.where(x > 0, np.exp(-np.logaddexp(0.0, log_ratio)), 1.0)

    def expected_purchases(self, t, frequency, recency, T):
        """E[repeat purchases in (T, T + t] | x, t_x, T] (paper, equation 10)."""
        r, alpha, a, b = self._check_fitted()
        x, t_x, T_ = validate_rfm(frequency, recency, T)
        t = np.asarray(t, dtype=float)
        z = t / (alpha + T_ + t)
        scaled = scaled_hyp2f1(r + x, b + x, a + b + x - 1, z)
        numerator = (a + b + x - 1) / (a - 1) * (1.0 - scaled)
        return numerator * self.probability_alive(x, t_x, T_)

    def expected_purchases_new_customer(self, t):
        """E[X(t)]: expected repeat purchases of a new customer in (0, t] (equation 9)."""
        r, alpha, a, b = self._check_fitted()
        t = np.asarray(t, dtype=float)
        z = t / (alpha + t)
        hyp = hyp2f1(r, b, a + b - 1, z)
        full = (a + b - 1) / (a - 1) * (1.0 - (alpha / (alpha + t)) ** r * hyp)
        # for tiny t the bracket cancels to rounding noise; its expansion is r z + O(z^2)
        return np.where(z < 1e-8, r * z, full)

    def probability_of_purchases(self, n, t):
        """P(X(t) = n) for a new customer (paper, equation 8)."""
        r, alpha, a, b = self._check_fitted()
        n = np.asarray(n, dtype=int)
        t = np.asarray(t, dtype=float)
        n, t = np.broadcast_arrays(n, t)
        log_nbd = _log_nbd_cumulative(r, alpha, n, t)
        first = np.exp(betaln(a, b + n) - betaln(a, b) + log_nbd[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            second = np.exp(betaln(a + 1, b + n - 1) - betaln(a, b)) * (1.0 - log_nbd[1])
        return first + np.where(n > 0, second, 0.0)

    @staticmethod
    def simulate(n, T, *, r, alpha, a, b, random_state=None):
        """Simulate ``n`` customers' ``frequency, recency, T`` under BG/NBD.

        Vectorised: the number of repeat purchases before dropout is geometric,
        the purchases in (0, T] a Poisson count whose order statistics give t_x.
        """
        rng = np.random.default_rng(random_state)
        T_ = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
        lam = rng.gamma(r, 1.0 / alpha, n)
        p = rng.beta(a, b, n)
        k = rng.poisson(lam * T_)
        allowed = rng.geometric(p)  # dropout after this many repeat purchases
        x = np.minimum(k, allowed)
        t_x = _last_purchase_time(rng, x, k, T_)
        return _frame(x, t_x, T_)


def _log_nbd_cumulative(r, alpha, n, t):
    """``log NBD(n)`` and ``sum_{j<n} NBD(j)`` of the gamma-Poisson count in (0, t]."""
    log_p0 = r * (np.log(alpha) - np.log(alpha + t))
    log_q = np.log(t) - np.log(alpha + t)
    nmax = int(np.max(n)) if n.size else 0
    j = np.arange(nmax + 1).reshape((-1,) + (1,) * n.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        jq = np.where(j == 0, 0.0, j * log_q)
        log_terms = gammaln(r + j) - gammaln(r) - gammaln(j + 1) + log_p0 + jq
    log_terms = np.where(np.isnan(log_terms), -np.inf, log_terms)
    terms = np.exp(log_terms)
    cum = np.cumsum(terms, axis=0)
    below = np.where(n > 0, np.take_along_axis(cum, np.maximum(n - 1, 0)[None], 0)[0], 0.0)
    own = np.take_along_axis(log_terms, n[None], 0)[0]
    return own, below


def _last_purchase_time(rng, x, k, T):
    """Time of the x-th of k uniform purchases on [0, T] (0 when x = 0)."""
    out = np.zeros_like(T)
    pos = x > 0
    out[pos] = T[pos] * rng.beta(x[pos], k[pos] - x[pos] + 1)
    return out


def _frame(x, t_x, T):
    import pandas as pd

    return pd.DataFrame(
        {
            "customer_id": np.arange(1, x.size + 1),
            "frequency": x.astype(int),
            "recency": t_x,
            "T": T,
        }
    )
