"""Gamma-Gamma model of spend per transaction.

Colombo, R. and Jiang, W. (1999), "A stochastic RFM model", *Journal of
Interactive Marketing* 13(3), 2-12; as set out in Fader, P. S. and Hardie,
B. G. S. (2013), "The Gamma-Gamma Model of Monetary Value".

Spend per transaction is Gamma(p, ν) with ν ~ Gamma(q, γ) across customers;
the mean spend of a customer's ``x`` repeat transactions then has a closed
form density. Fitted on repeat buyers only; assumes spend is independent of
purchase frequency, which :func:`GammaGamma.fit` checks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from segmint.clv._base import BaseModel, as_float_array, fit_log_scale
from segmint.errors import DataError

_CORRELATION_LIMIT = 0.3


class FrequencySpendCorrelationWarning(UserWarning):
    """Frequency and mean spend of repeat buyers are correlated (Gamma-Gamma assumes not)."""


def _nll_and_grad(z, x, m, w):
    p, q, v = np.exp(z)
    px = p * x
    log_vxm = np.log(v + x * m)
    ll = (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
        + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * log_vxm
    )
    psi = digamma(px + q)
    d_p = x * (psi - digamma(px) + np.log(m) + np.log(x) - log_vxm)
    d_q = psi - digamma(q) + np.log(v) - log_vxm
    d_v = q / v - (px + q) / (v + x * m)
    grad = np.array([w @ d_p * p, w @ d_q * q, w @ d_v * v])
    return -float(w @ ll), -grad


class GammaGamma(BaseModel):
    """Gamma-Gamma spend model (Colombo & Jiang 1999; Fader & Hardie 2013).

    ``fit(frequency, monetary_value)`` keeps repeat buyers (frequency > 0) only.
    Warns with :class:`FrequencySpendCorrelationWarning` when the Pearson
    correlation of frequency and mean spend among them exceeds 0.3 in magnitude.
    """

    _param_names = ("p", "q", "gamma")

    def __init__(self, *, initial_params: dict | None = None):
        self.initial_params = initial_params

    def fit(self, frequency, monetary_value=None):
        """Fit by maximum likelihood (analytic gradient); returns self."""
        if isinstance(frequency, pd.DataFrame):
            frequency, monetary_value = frequency["frequency"], frequency["monetary_value"]
        x = as_float_array(frequency, "frequency")
        m = as_float_array(monetary_value, "monetary_value")
        if x.shape != m.shape:
            raise DataError("frequency and monetary_value must have the same length")
        keep = x > 0
        x, m = x[keep], m[keep]
        if x.size < 2:
            raise DataError("GammaGamma needs at least two repeat buyers (frequency > 0)")
        if np.any(m <= 0):
            raise DataError("monetary_value must be > 0 for repeat buyers")
        corr = float(np.corrcoef(x, m)[0, 1]) if np.std(x) > 0 and np.std(m) > 0 else 0.0
        self.frequency_spend_correlation_ = corr
        if abs(corr) > _CORRELATION_LIMIT:
            warnings.warn(
                f"Pearson correlation of frequency and monetary_value among repeat buyers is "
                f"{corr:.3f} (|corr| > {_CORRELATION_LIMIT}); the Gamma-Gamma model assumes "
                "they are independent",
                FrequencySpendCorrelationWarning,
                stacklevel=2,
            )
        w = np.ones_like(x)
        start = self.initial_params or {}
        z0 = np.log([start.get(k, 1.0) for k in self._param_names])
        result = fit_log_scale(
            lambda z: _nll_and_grad(z, x, m, w),
            z0,
            names=self._param_names,
            model="GammaGamma",
            analytic_gradient=True,
            total_weight=x.size,
        )
        self._store(result, int(x.size))
        return self

    def expected_spend(self, frequency, monetary_value):
        """E[spend per transaction | x, mean spend]; the population mean pγ/(q - 1) when x = 0."""
        p, q, v = self._check_fitted()
        x = as_float_array(frequency, "frequency")
        m = as_float_array(monetary_value, "monetary_value")
        return p * (v + x * m) / (p * x + q - 1)

    def population_mean_spend(self) -> float:
        """E[spend per transaction] of a customer drawn at random: pγ / (q - 1)."""
        p, q, v = self._check_fitted()
        return p * v / (q - 1)

    @staticmethod
    def simulate(frequency, *, p, q, gamma, random_state=None):
        """Mean spend of each customer's ``frequency`` transactions (frame with
        ``frequency, monetary_value``; 0 where frequency is 0)."""
        rng = np.random.default_rng(random_state)
        x = np.asarray(frequency, dtype=int)
        nu = rng.gamma(q, 1.0 / gamma, x.size)
        mean = np.zeros(x.size)
        pos = x > 0
        mean[pos] = rng.gamma(p * x[pos], 1.0 / (x[pos] * nu[pos]))
        return pd.DataFrame({"frequency": x, "monetary_value": mean})


class OwnMeanSpend:
    """The degenerate limit of Gamma-Gamma (``p -> inf``): each client's own mean spend.

    When the Gamma-Gamma likelihood rises without bound along ``p -> inf`` (no spread of
    spend around a client's own mean, so nothing to shrink), the fit does not converge.
    Its conditional expectation ``p (gamma + x m) / (p x + q - 1)`` then tends, with
    the population mean ``p gamma / (q - 1)`` held fixed, to ``m``: the client's own mean
    repeat spend, not one population mean for everyone. A client without repeat purchases
    (x = 0) gets the population mean, as Gamma-Gamma gives at x = 0.

    Parameters
    ----------
    population_mean : float
        Mean repeat spend of the repeat buyers (the x = 0 value).
    reason : str
        Why Gamma-Gamma was not used (kept with the stored model and shown in the report).

    Examples
    --------
    >>> OwnMeanSpend(40.0, "did not converge").expected_spend([0, 2], [0.0, 25.0]).tolist()
    [40.0, 25.0]
    """

    def __init__(self, population_mean: float, reason: str) -> None:
        self.population_mean = float(population_mean)
        self.reason = reason
        self.params_ = {"population_mean": self.population_mean}

    def expected_spend(self, frequency, monetary_value) -> np.ndarray:
        """Own mean spend where ``frequency > 0``, the population mean otherwise."""
        x = as_float_array(frequency, "frequency")
        m = as_float_array(monetary_value, "monetary_value")
        return np.where(x > 0, m, self.population_mean)

    def population_mean_spend(self) -> float:
        return self.population_mean
