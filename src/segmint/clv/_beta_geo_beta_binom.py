"""BG/BB: the beta-geometric / beta-Bernoulli model for discrete opportunities.

Fader, P. S., Hardie, B. G. S. and Shang, J. (2010), "Customer-Base Analysis
in a Discrete-Time Noncontractual Setting", *Marketing Science* 29(6),
1086-1108.

At each of ``n`` transaction opportunities a living customer transacts with
probability p ~ Beta(α, β) and, before each opportunity, dies with
probability θ ~ Beta(γ, δ). Rows are ``(frequency, recency, periods)``
patterns with weights; the likelihood (paper, equation 5) is vectorised over
patterns and the finite sum over possible death times. Gradient: numerical.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, gammaln

from segmint.clv._base import BaseModel, as_float_array, collapse, fit_log_scale, validate_rfm


def _log_terms(alpha, beta, gamma, delta, x, t_x, n):
    """Log of the 'alive through n' term and of each 'died after t_x + i' term."""
    base = betaln(alpha, beta)
    base_d = betaln(gamma, delta)
    alive = betaln(alpha + x, beta + n - x) - base + betaln(gamma, delta + n) - base_d
    i = np.arange(int(np.max(n - t_x, initial=0)))[:, None]
    died = (
        betaln(alpha + x, beta + t_x - x + i) - base + betaln(gamma + 1, delta + t_x + i) - base_d
    )
    died = np.where(i < n - t_x, died, -np.inf)
    return alive, died


def log_likelihood(params, x, t_x, n):
    """Log-likelihood of each ``(x, t_x, n)`` pattern under BG/BB ``(α, β, γ, δ)``."""
    alive, died = _log_terms(*params, x, t_x, n)
    return np.logaddexp(alive, np.logaddexp.reduce(died, axis=0, initial=-np.inf))


class BetaGeoBetaBinom(BaseModel):
    """BG/BB model (Fader, Hardie & Shang 2010).

    ``fit(frequency, recency, periods, weights=...)`` on discrete-opportunity
    data (recency and periods are whole numbers of opportunities). Predictions
    take the same ``(frequency, recency, T=periods)`` arguments as the
    continuous-time models.
    """

    _param_names = ("alpha", "beta", "gamma", "delta")

    def __init__(self, *, initial_params: dict | None = None):
        self.initial_params = initial_params

    def fit(self, frequency, recency=None, periods=None, *, weights=None):
        """Fit by maximum likelihood (numerical gradient); returns self."""
        if isinstance(frequency, pd.DataFrame):
            frame = frequency
            periods_col = "periods" if "periods" in frame.columns else "T"
            if weights is None and "weights" in frame.columns:
                weights = frame["weights"].to_numpy()
            frequency, recency, periods = (
                frame["frequency"], frame["recency"], frame[periods_col]
            )
        x, t_x, n = validate_rfm(frequency, recency, periods, discrete=True)
        w = None if weights is None else as_float_array(weights, "weights")
        (x, t_x, n), w = collapse(x, t_x, n, weights=w)
        start = self.initial_params or {}
        z0 = np.log([start.get(k, 1.0) for k in self._param_names])
        result = fit_log_scale(
            lambda z: -float(w @ log_likelihood(np.exp(z), x, t_x, n)),
            z0,
            names=self._param_names,
            model="BetaGeoBetaBinom",
            analytic_gradient=False,
            total_weight=w.sum(),
        )
        self._store(result, int(w.sum()))
        return self

    def probability_alive(self, frequency, recency, T):
        """P(alive at the start of opportunity n + 1 | x, t_x, n) (paper, eq. 11)."""
        alpha, beta, gamma, delta = self._check_fitted()
        x, t_x, n = validate_rfm(frequency, recency, T, discrete=True)
        ll = log_likelihood((alpha, beta, gamma, delta), x, t_x, n)
        log_num = (
            betaln(alpha + x, beta + n - x) - betaln(alpha, beta)
            + betaln(gamma, delta + n + 1) - betaln(gamma, delta)
        )
        return np.exp(log_num - ll)

    def expected_purchases(self, t, frequency, recency, T):
        """E[transactions in the next ``t`` opportunities | x, t_x, n] (paper, eq. 13)."""
        alpha, beta, gamma, delta = self._check_fitted()
        x, t_x, n = validate_rfm(frequency, recency, T, discrete=True)
        t = np.asarray(t, dtype=float)
        ll = log_likelihood((alpha, beta, gamma, delta), x, t_x, n)
        log_lead = (
            betaln(alpha + x + 1, beta + n - x) - betaln(alpha, beta) - ll
            + gammaln(gamma + delta) - gammaln(1 + delta)
        )
        diff = np.exp(gammaln(1 + delta + n) - gammaln(gamma + delta + n)) - np.exp(
            gammaln(1 + delta + n + t) - gammaln(gamma + delta + n + t)
        )
        return np.exp(log_lead) * delta / (gamma - 1) * diff

    def expected_purchases_new_customer(self, t):
        """E[X(t)]: expected transactions in the first ``t`` opportunities (eq. 7)."""
        alpha, beta, gamma, delta = self._check_fitted()
        t = np.asarray(t, dtype=float)
        ratio = np.exp(
            gammaln(gamma + delta) + gammaln(1 + delta + t) - gammaln(gamma + delta + t)
            - gammaln(1 + delta)
        )
        return alpha / (alpha + beta) * delta / (gamma - 1) * (1.0 - ratio)

    def probability_of_purchases(self, n, t):
        """P(X(t) = n): ``n`` transactions in the first ``t`` opportunities (eq. 8)."""
        alpha, beta, gamma, delta = self._check_fitted()
        x, t = np.broadcast_arrays(np.asarray(n, dtype=float), np.asarray(t, dtype=float))
        log_choose = lambda k, j: gammaln(k + 1) - gammaln(j + 1) - gammaln(k - j + 1)  # noqa: E731
        b_ab, b_gd = betaln(alpha, beta), betaln(gamma, delta)
        with np.errstate(invalid="ignore"):
            first = np.exp(
                log_choose(t, x) + betaln(alpha + x, beta + t - x) - b_ab
                + betaln(gamma, delta + t) - b_gd
            )
        i = np.arange(int(np.max(t, initial=0)))[:, None] if t.ndim else np.arange(int(t))
        i = i.reshape((-1,) + (1,) * t.ndim)
        with np.errstate(invalid="ignore"):
            terms = np.exp(
                log_choose(i, x) + betaln(alpha + x, beta + i - x) - b_ab
                + betaln(gamma + 1, delta + i) - b_gd
            )
        terms = np.where((i >= x) & (i < t), terms, 0.0)
        out = np.where(x <= t, first, 0.0) + np.nan_to_num(terms).sum(axis=0)
        return out

    @staticmethod
    def simulate(n, periods, *, alpha, beta, gamma, delta, random_state=None):
        """Simulate ``n`` customers over ``periods`` opportunities; one row per customer."""
        rng = np.random.default_rng(random_state)
        p = rng.beta(alpha, beta, n)
        theta = rng.beta(gamma, delta, n)
        alive_for = np.minimum(rng.geometric(theta) - 1, periods)  # opportunities survived
        k = np.arange(1, periods + 1)
        buys = (rng.random((n, periods)) < p[:, None]) & (k[None, :] <= alive_for[:, None])
        x = buys.sum(axis=1)
        t_x = np.where(x > 0, periods - np.argmax(buys[:, ::-1], axis=1), 0)
        return pd.DataFrame(
            {"frequency": x, "recency": t_x, "periods": periods, "weights": 1}
        )
