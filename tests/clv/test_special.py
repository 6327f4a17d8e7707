"""The scaled Gauss hypergeometric function behind the BG/NBD expectations."""

from __future__ import annotations

import numpy as np

from segmint.clv._special import scaled_hyp2f1


def _scaled_reference(a, b, c, z, dps=30, max_terms=200_000):
    """(1 - z)^a 2F1(a, b; c; z) by the plain positive-term Gauss series, in mpmath."""
    import mpmath

    with mpmath.workdps(dps):
        a, b, c, z = (mpmath.mpf(float(v)) for v in (a, b, c, z))
        term, total = mpmath.mpf(1), mpmath.mpf(1)
        for k in range(max_terms):
            term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
            total += term
            if term < total * mpmath.mpf(10) ** (-dps):
                break
        return float((1 - z) ** a * total)


def test_scaled_hyp2f1_in_a_near_degenerate_bgnbd_fit():
    """High-frequency clients under a fit with a, b >> 1 (seen on bank-like data).

    SciPy returns non-finite values for the Pfaff form here; the Euler series would need
    ~1e5 terms (and overflowed). The result must match a 30-digit direct summation.
    """
    r, alpha, a, b = 2.802, 3.314, 1.014e5, 7.559e7
    x = np.array([0.0, 10, 50, 120, 250, 500])
    T = np.array([20.0, 60, 100, 20, 150, 156])
    t = 52.18
    z = t / (alpha + T + t)
    aa, bb, cc = r + x, b + x, a + b + x - 1
    got = scaled_hyp2f1(aa, bb, cc, z)
    ref = np.array([_scaled_reference(*args) for args in zip(aa, bb, cc, z, strict=True)])
    np.testing.assert_allclose(got, ref, rtol=1e-10)
