import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.clv import (
    BetaGeo,
    GeometricNBD,
    expected_time_to_next_purchase,
    probability_of_purchase_within,
)
from segmint.errors import DataError


def test_hand_computed_values():
    m = GeometricNBD.from_params({"r": 2.0, "alpha": 10.0, "p": 0.2})
    # x = 0: alive for sure; P = 1 - (alpha + T)^r / (alpha + T + t)^r = 1 - (12/18)^2
    p = probability_of_purchase_within(m, 6.0, 0, 0.0, 2.0)
    assert p[0] == pytest.approx(1 - (12 / 18) ** 2)
    # x = 3, t_x = 5, T = 8: P(alive) = 1 / (1 + p/(1-p) ((alpha+T)/(alpha+t_x))^(r+x))
    alive = 1 / (1 + 0.25 * (18 / 15) ** 5)
    p = probability_of_purchase_within(m, 4.0, 3, 5.0, 8.0)
    assert p[0] == pytest.approx(alive * (1 - (18 / 22) ** 5))
    # E[1/lambda] for Gamma(r + x, alpha + T): (alpha + T) / (r + x - 1)
    assert expected_time_to_next_purchase(m, 3, 5.0, 8.0)[0] == pytest.approx(18 / 4)
    assert np.isinf(
        expected_time_to_next_purchase(GeometricNBD.from_params({"r": 0.5, "alpha": 1.0, "p": 0.1}),
                                       0, 0.0, 1.0)[0]
    )


@settings(max_examples=50, deadline=None)
@given(
    x=st.integers(0, 20), frac=st.floats(0.0, 1.0), T=st.floats(1.0, 100.0),
    t=st.floats(0.01, 200.0),
)
def test_bounds_against_expected_purchases(x, frac, T, t):
    m = BetaGeo.from_params({"r": 0.8, "alpha": 5.0, "a": 0.9, "b": 2.5})
    t_x = frac * T if x > 0 else 0.0
    p = probability_of_purchase_within(m, t, x, t_x, T)[0]
    alive = m.probability_alive(x, t_x, T)[0]
    # P(N >= 1) <= E[N] (Markov), and never more than P(alive)
    assert 0.0 <= p <= min(alive, m.expected_purchases(t, x, t_x, T)[0]) + 1e-9
    # a long window reaches P(alive); the gap closes as a power of the window
    # (((alpha + T) / (alpha + T + t)) ** (r + x) for the alive), so take it very long
    assert probability_of_purchase_within(m, 1e15, x, t_x, T)[0] == pytest.approx(alive, rel=1e-6)


def test_needs_a_bg_nbd_type_model():
    from segmint.clv import GammaGamma

    with pytest.raises(DataError, match="BG/NBD"):
        probability_of_purchase_within(GammaGamma(), 1.0, 1, 1.0, 2.0)
