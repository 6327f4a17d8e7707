"""Special functions in log space for the buy-till-you-die likelihoods."""

from __future__ import annotations

import numpy as np
from scipy.special import hyp2f1

_MAX_TERMS = 200_000
# SciPy's hyp2f1 was checked against mpmath to 1e-8 for c below this
_SCIPY_MAX_C = 30.0


def log_hyp2f1(a, b, c, z):
    """``log 2F1(a, b; c; z)`` for ``0 <= z < 1``, ``c > b > 0`` and ``c > a > 0``.

    Direct evaluation overflows when ``b`` is large and ``z`` near 1 (the value
    grows like ``(1 - z)^-b``), and SciPy's ``hyp2f1`` loses accuracy for large
    ``a, c``. Euler's transformation

        2F1(a, b; c; z) = (1 - z)^(c-a-b)  2F1(c - a, c - b; c; z)

    moves the growth into an explicit log term and leaves a Gauss series of
    positive terms, summed here in log space (vectorised, in chunks, until the
    terms are negligible). For small ``c`` (where SciPy is accurate and
    faster) and for ``z > 0.99`` (where the series needs thousands of terms),
    Pfaff's form ``(1 - z)^-b 2F1(c - a, b; c; z/(z - 1))`` is evaluated by
    SciPy instead (its second factor lies in (0, 1]), with the series
    as fallback if SciPy's value is not finite.
    """
    shape = np.broadcast_shapes(*(np.shape(v) for v in (a, b, c, z)))
    a, b, c, z = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(v, dtype=float)) for v in (a, b, c, z))
    )
    out = np.empty(z.shape)
    near_one = (z > 0.99) | (c <= _SCIPY_MAX_C)
    series = ~near_one
    if np.any(near_one):
        aa, bb, cc, zz = a[near_one], b[near_one], c[near_one], z[near_one]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            inner = hyp2f1(cc - aa, bb, cc, zz / (zz - 1.0))
            val = -bb * np.log1p(-zz) + np.log(inner)
        ok = np.isfinite(val) & (inner > 0) & (inner <= 1.0 + 1e-12)
        out[near_one] = val
        redo = np.zeros(z.shape, dtype=bool)
        redo[np.flatnonzero(near_one)[~ok]] = True
        series |= redo
    if np.any(series):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[series] = (c - a - b)[series] * np.log1p(-z[series]) + _log_series(
                (c - a)[series], (c - b)[series], c[series], z[series]
            )
    return out.reshape(shape)


def _log_series(a, b, c, z):
    """``log 2F1(a, b; c; z)`` by its Gauss series; all terms positive (a, b, c > 0, z >= 0)."""
    log_z = np.log(np.where(z > 0, z, 1.0))
    log_term = np.zeros_like(z)
    log_sum = np.zeros_like(z)
    active = z > 0
    j = 0
    chunk = 16
    while np.any(active) and j < _MAX_TERMS:
        idx = np.flatnonzero(active)
        k = j + np.arange(chunk)[:, None]
        steps = (
            np.log(a[idx] + k) + np.log(b[idx] + k) - np.log(c[idx] + k) - np.log1p(k) + log_z[idx]
        )
        terms = log_term[idx] + np.cumsum(steps, axis=0)
        log_sum[idx] = np.logaddexp(log_sum[idx], np.logaddexp.reduce(terms, axis=0))
        log_term[idx] = terms[-1]
        # converged: the last term is negligible and later terms keep shrinking
        done = ((terms[-1] - log_sum[idx] < -40) & (steps[-1] < 0)) | np.isnan(log_sum[idx])
        active[idx[done]] = False
        j += chunk
        chunk = min(2 * chunk, 4096)
    log_sum[active] = np.nan
    return log_sum


def scaled_hyp2f1(a, b, c, z):
    """``(1 - z)^a 2F1(a, b; c; z)`` for ``0 <= z < 1``, as in the BG/NBD expectations.

    The scaled value stays moderate where 2F1 itself overflows. It equals
    ``2F1(a, c - b; c; z / (z - 1))`` (Pfaff), evaluated by SciPy; where SciPy
    fails (large ``a, c`` with an argument far below -1) Euler's form
    ``(1 - z)^(c - b) 2F1(c - a, c - b; c; z)`` is summed as a series.
    """
    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c, z)))
    with np.errstate(all="ignore"):
        out = np.asarray(hyp2f1(a, c - b, c, z / (z - 1.0)), dtype=float)
    bad = ~np.isfinite(out)
    if np.any(bad):
        out = np.array(out, copy=True)
        w = z / (z - 1.0)
        # The Pfaff series, summed directly: where b is close to c (a near-degenerate
        # BG/NBD fit with a, b >> 1) its terms vanish within a few dozen even when |w| > 1,
        # while Euler's form would need ~(c - b) z terms. Kept only where the terms stayed
        # small (no cancellation) and converged; elsewhere Euler's form is summed.
        idx = np.flatnonzero(bad)
        value, ok = _bounded_series(a[idx], (c - b)[idx], c[idx], w[idx])
        out[idx[ok]] = value[ok]
        euler = idx[~ok]
        if euler.size:
            zb = z[euler]
            out[euler] = (1.0 - zb) ** (c - b)[euler] * _series(
                (c - a)[euler], (c - b)[euler], c[euler], zb
            )
    return out


def _bounded_series(a, b, c, z, *, n_terms: int = 256, chunk: int = 4096):
    """Gauss series of 2F1 over ``n_terms`` terms; ``ok`` where it converged without cancellation.

    ``ok`` requires every term to stay below 1e3 in magnitude (at most ~3 digits lost to
    cancellation) and the last term to be negligible (< 1e-17 of the sum).
    """
    total = np.full(z.shape, np.nan)
    ok = np.zeros(z.shape, dtype=bool)
    k = np.arange(n_terms)[:, None]
    for start in range(0, z.size, chunk):
        sl = slice(start, start + chunk)
        with np.errstate(all="ignore"):
            ratios = (a[sl] + k) * (b[sl] + k) / ((c[sl] + k) * (k + 1)) * z[sl]
            terms = np.cumprod(ratios, axis=0)
            s = 1.0 + terms.sum(axis=0)
            good = (np.abs(terms).max(axis=0) < 1e3) & (np.abs(terms[-1]) < 1e-17 * np.abs(s))
        total[sl] = s
        ok[sl] = good & np.isfinite(s)
    return total, ok


def _series(a, b, c, z):
    """Plain Gauss series of 2F1 (terms may change sign), summed until negligible."""
    term = np.ones_like(z)
    total = np.ones_like(z)
    active = np.ones(z.shape, dtype=bool)
    j = 0
    while np.any(active) and j < _MAX_TERMS:
        idx = np.flatnonzero(active)
        k = j + np.arange(256)[:, None]
        ratios = (a[idx] + k) * (b[idx] + k) / ((c[idx] + k) * (k + 1)) * z[idx]
        terms = term[idx] * np.cumprod(ratios, axis=0)
        total[idx] += terms.sum(axis=0)
        term[idx] = terms[-1]
        done = np.abs(terms[-1]) < 1e-17 * np.abs(total[idx])
        active[idx[done]] = False
        j += 256
    total[active] = np.nan
    return total
