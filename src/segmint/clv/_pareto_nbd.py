"""Pareto/NBD: Poisson purchasing with exponential lifetimes, both gamma-mixed.

Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987), "Counting Your
Customers: Who Are They and What Will They Do Next?", *Management Science*
33(1), 1-24; likelihood and conditional expressions as derived in Fader, P. S.
and Hardie, B. G. S. (2005), "A Note on Deriving the Pareto/NBD Model and
Related Expressions"; the new-customer P(X(t) = n) from Fader & Hardie,
"Deriving an Expression for P(X(t) = x) under the Pareto/NBD Model" and its
conditional extension (note 028).

The likelihood needs the Gaussian hypergeometric function 2F1 in two
branches (α ≥ β and α < β). Both are evaluated in log space through a Pfaff
transformation (:func:`segmint.clv._special.log_hyp2f1`) so that large
frequencies do not overflow. The gradient is numerical (central
differences over the four log-parameters), which the fit states.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, gammaln

from segmint.clv._base import BaseModel, validate_rfm
from segmint.clv._beta_geo import _frame
from segmint.clv._special import log_hyp2f1


def _branch(r, alpha, s, beta, x):
    """The 2F1 branch: (the larger of α, β, second 2F1 parameter)."""
    if alpha >= beta:
        return alpha, s + 1.0
    return beta, r + x


def _log_terms(r, alpha, s, beta, x, t_x, T):
    """``(constant, term1, term2)`` with ll = constant + logaddexp(term1, term2)."""
    big, b2 = _branch(r, alpha, s, beta, x)
    gap = abs(alpha - beta)
    rsx = r + s + x
    log_f_tx = log_hyp2f1(rsx, b2, rsx + 1.0, gap / (big + t_x)) - rsx * np.log(big + t_x)
    log_f_T = log_hyp2f1(rsx, b2, rsx + 1.0, gap / (big + T)) - rsx * np.log(big + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a0 = log_f_tx + np.log(-np.expm1(np.minimum(log_f_T - log_f_tx, 0.0)))
    const = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    term1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    term2 = np.log(s) - np.log(rsx) + log_a0
    return const, term1, term2


def log_likelihood(params, x, t_x, T):
    """Log-likelihood of each ``(x, t_x, T)`` under Pareto/NBD ``params = (r, α, s, β)``."""
    const, term1, term2 = _log_terms(*params, x, t_x, T)
    return const + np.logaddexp(term1, term2)


def _nll(z, x, t_x, T, w):
    ll = log_likelihood(np.exp(z), x, t_x, T)
    return -float(w @ ll)


def _one_minus_power_over(k, log_ratio):
    """``(1 - exp(-k * log_ratio)) / k``, continuous at k = 0."""
    k = np.asarray(k, dtype=float)
    if abs(k) < 1e-10:
        return log_ratio
    return -np.expm1(-k * log_ratio) / k


class ParetoNBD(BaseModel):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    Parameters
    ----------
    initial_params : dict, optional
        Starting values for ``r, alpha, s, beta`` (default 1 each).

    Attributes
    ----------
    params_ : dict
        Fitted ``r, alpha, s, beta``; also as ``r_, alpha_, s_, beta_``.
    log_likelihood_ : float
    """

    _param_names = ("r", "alpha", "s", "beta")
    _objective = staticmethod(_nll)

    def __init__(self, *, initial_params: dict | None = None):
        self.initial_params = initial_params

    def fit(self, frequency, recency=None, T=None, *, weights=None):
        """Fit by maximum likelihood (numerical gradient); returns self."""
        return self._fit_rfm(frequency, recency, T, weights)

    def probability_alive(self, frequency, recency, T):
        """P(alive at T | x, t_x, T) (Fader & Hardie 2005, equation 18)."""
        params = self._check_fitted()
        x, t_x, T_ = validate_rfm(frequency, recency, T)
        _, term1, term2 = _log_terms(*params, x, t_x, T_)
        return np.exp(term1 - np.logaddexp(term1, term2))

    def expected_purchases(self, t, frequency, recency, T):
        """E[purchases in (T, T + t] | x, t_x, T] (Fader & Hardie 2005, equation 22)."""
        r, alpha, s, beta = self._check_fitted()
        x, t_x, T_ = validate_rfm(frequency, recency, T)
        t = np.asarray(t, dtype=float)
        log_ratio = np.log(beta + T_ + t) - np.log(beta + T_)
        rate = (r + x) * (beta + T_) / (alpha + T_)
        return rate * _one_minus_power_over(s - 1.0, log_ratio) * self.probability_alive(
            x, t_x, T_
        )

    def expected_purchases_new_customer(self, t):
        """E[X(t)] for a new customer (Fader & Hardie 2005, equation 17)."""
        r, alpha, s, beta = self._check_fitted()
        t = np.asarray(t, dtype=float)
        log_ratio = np.log(beta + t) - np.log(beta)
        return r * beta / alpha * _one_minus_power_over(s - 1.0, log_ratio)

    def probability_of_purchases(self, n, t):
        """P(X(t) = n) for a new customer.

        The conditional pmf of Fader & Hardie's note 028 evaluated at an empty
        history (x = t_x = T = 0), which reduces to the unconditional pmf.
        """
        params = self._check_fitted()
        n, t = np.broadcast_arrays(np.asarray(n, dtype=int), np.asarray(t, dtype=float))
        zero = np.zeros(n.shape)
        return _conditional_pmf(params, n, t, zero, zero, zero)

    def conditional_probability_of_purchases(self, n, t, frequency, recency, T):
        """P(n purchases in (T, T + t] | x, t_x, T) (Fader & Hardie note 028, eq. 16)."""
        params = self._check_fitted()
        x, t_x, T_ = validate_rfm(frequency, recency, T)
        n, t, x, t_x, T_ = np.broadcast_arrays(
            np.asarray(n, dtype=int), np.asarray(t, dtype=float), x, t_x, T_
        )
        return _conditional_pmf(params, n, t, x, t_x, T_)

    @staticmethod
    def simulate(n, T, *, r, alpha, s, beta, random_state=None):
        """Simulate ``n`` customers' ``frequency, recency, T`` under Pareto/NBD."""
        rng = np.random.default_rng(random_state)
        T_ = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
        lam = rng.gamma(r, 1.0 / alpha, n)
        mu = rng.gamma(s, 1.0 / beta, n)
        active = np.minimum(rng.exponential(1.0 / mu), T_)
        x = rng.poisson(lam * active)
        t_x = np.zeros(n)
        pos = x > 0
        t_x[pos] = active[pos] * rng.random(pos.sum()) ** (1.0 / x[pos])
        return _frame(x, t_x, T_)


def _conditional_pmf(params, n, t, x, t_x, T):
    r, alpha, s, beta = params
    big, _ = _branch(r, alpha, s, beta, 0.0)
    gap = abs(alpha - beta)
    p = r + x + n if alpha < beta else np.full(n.shape, s + 1.0)
    const, term1, term2 = _log_terms(r, alpha, s, beta, x, t_x, T)
    log_l = const + np.logaddexp(term1, term2)
    log_prior = r * np.log(alpha) + s * np.log(beta) - gammaln(r)
    log_p_alive = const + term1 - log_l
    with np.errstate(divide="ignore", invalid="ignore"):
        log_t = np.log(t)
        log_b1 = (
            gammaln(r + x + n) + log_prior
            - (r + x + n) * np.log(alpha + T + t) - s * np.log(beta + T + t)
        )
        common = log_prior - gammaln(s) + betaln(r + x + n, s + 1)
        rsx = r + s + x
        log_b2 = (
            common + gammaln(rsx)
            + log_hyp2f1(rsx, p, rsx + n + 1, gap / (big + T))
            - rsx * np.log(big + T)
        )
        first = np.where(n > 0, n * log_t, 0.0) - gammaln(n + 1) + log_b1 - log_l
        second = log_b2 - log_l
        third = np.full(n.shape, -np.inf)
        for i in range(int(n.max(initial=0)) + 1):  # over purchase counts, not customers
            c = np.where(i <= n, rsx + n + 1, rsx + i + 1)  # rows with i > n are masked below
            term = (
                (i * log_t if i else 0.0) - gammaln(i + 1) + common + gammaln(rsx + i)
                + log_hyp2f1(rsx + i, p, c, gap / (big + T + t))
                - (rsx + i) * np.log(big + T + t)
                - log_l
            )
            third = np.where(i <= n, np.logaddexp(third, term), third)
    zeroth = np.where(n == 0, -np.expm1(log_p_alive), 0.0)
    out = zeroth + np.exp(first) + np.exp(second) - np.exp(third)
    return np.clip(out, 0.0, 1.0)
