"""Interval estimates and multiple-testing corrections used by the experiment analysis.

Small numeric kernels on per-segment aggregates (a few rows), so plain numpy/scipy.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = [
    "benjamini_hochberg",
    "log_ratio_interval",
    "newcombe_interval",
    "two_proportion_p_value",
    "welch_interval",
    "wilson_interval",
]


def wilson_interval(successes, n, *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (Wilson 1927).

    Examples
    --------
    >>> lo, hi = wilson_interval(5, 10)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.2366, 0.7634)
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def newcombe_interval(x_t, n_t, x_c, n_c, *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``p_t - p_c`` (Newcombe 1998, method 10).

    Combines the two Wilson intervals; good coverage even for small counts and
    proportions near 0 or 1, where the Wald interval fails.
    """
    x_t, n_t, x_c, n_c = (np.asarray(a, dtype=float) for a in (x_t, n_t, x_c, n_c))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_t, p_c = x_t / n_t, x_c / n_c
    l_t, u_t = wilson_interval(x_t, n_t, alpha=alpha)
    l_c, u_c = wilson_interval(x_c, n_c, alpha=alpha)
    d = p_t - p_c
    lower = d - np.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2)
    upper = d + np.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2)
    return lower, upper


def two_proportion_p_value(x_t, n_t, x_c, n_c) -> np.ndarray:
    """Two-sided p-value of the pooled two-proportion z test (1 when nothing varies)."""
    x_t, n_t, x_c, n_c = (np.asarray(a, dtype=float) for a in (x_t, n_t, x_c, n_c))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x_t + x_c) / (n_t + n_c)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
        z = (x_t / n_t - x_c / n_c) / se
    p = 2 * stats.norm.sf(np.abs(z))
    return np.where(se > 0, p, 1.0)


def welch_interval(
    mean_t, var_t, n_t, mean_c, var_c, n_c, *, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Welch's interval for ``mean_t - mean_c`` with unequal variances.

    Returns
    -------
    lower, upper, p_value, df
        Welch-Satterthwaite degrees of freedom; p-value of the two-sided t test.
    """
    mean_t, var_t, n_t, mean_c, var_c, n_c = (
        np.asarray(a, dtype=float) for a in (mean_t, var_t, n_t, mean_c, var_c, n_c)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = var_t / n_t, var_c / n_c
        se = np.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / (n_t - 1) + b**2 / (n_c - 1))
        df = np.where(np.isfinite(df), df, np.maximum(n_t + n_c - 2, 1))
        t = stats.t.ppf(1 - alpha / 2, df)
        d = mean_t - mean_c
        p = np.where(se > 0, 2 * stats.t.sf(np.abs(d / se), df), np.where(d == 0, 1.0, 0.0))
    return d - t * se, d + t * se, p, df


def log_ratio_interval(
    mean_t, var_t, n_t, mean_c, var_c, n_c, *, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relative lift ``mean_t / mean_c - 1`` and its delta-method interval on the log ratio.

    NaN where a mean is not positive (the ratio's log is undefined).
    """
    mean_t, var_t, n_t, mean_c, var_c, n_c = (
        np.asarray(a, dtype=float) for a in (mean_t, var_t, n_t, mean_c, var_c, n_c)
    )
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (mean_t > 0) & (mean_c > 0)
        log_r = np.where(ok, np.log(np.where(ok, mean_t / mean_c, 1.0)), np.nan)
        se = np.sqrt(var_t / (n_t * mean_t**2) + var_c / (n_c * mean_c**2))
    rel = np.where(np.isfinite(mean_c) & (mean_c > 0), mean_t / np.where(mean_c > 0, mean_c, 1.0) - 1, np.nan)
    return rel, np.exp(log_r - z * se) - 1, np.exp(log_r + z * se) - 1


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN entries stay NaN.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    ps = p[ok]
    order = np.argsort(ps)
    ranked = ps[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(q, 1.0)
    out[ok] = adjusted
    return out
