"""Property tests shared by the transaction models."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from segmint.clv import BetaGeo, BetaGeoBetaBinom, ModifiedBetaGeo, ParetoNBD
from segmint.clv._beta_geo import log_likelihood as bg_ll
from segmint.clv._modified_beta_geo import log_likelihood as mbg_ll
from segmint.clv._pareto_nbd import log_likelihood as pnbd_ll
from segmint.datasets import load_donations

CONTINUOUS = [BetaGeo, ModifiedBetaGeo, ParetoNBD]


@pytest.fixture(scope="module")
def fitted(cdnow_summary):
    s = cdnow_summary
    return {M: M().fit(s["x"], s["t_x"], s["T"]) for M in CONTINUOUS}


@st.composite
def histories(draw):
    T = draw(st.one_of(st.floats(0.01, 500), st.sampled_from([1e4, 1e6])))
    x = draw(st.integers(0, 400))
    if x == 0:
        return 0, 0.0, T
    share = draw(st.one_of(st.just(1.0), st.floats(0.0, 1.0)))
    return x, T * share, T


@settings(max_examples=60, deadline=None)
@given(h=histories(), t=st.floats(0.1, 200))
@pytest.mark.parametrize("model", CONTINUOUS)
def test_probabilities_and_monotone_expectations(fitted, model, h, t):
    m = fitted[model]
    x, t_x, T = h
    p = m.probability_alive([x], [t_x], [T])[0]
    assert 0.0 <= p <= 1.0
    e1 = m.expected_purchases(t, [x], [t_x], [T])[0]
    e2 = m.expected_purchases(t * 1.5, [x], [t_x], [T])[0]
    assert np.isfinite(e1) and 0.0 <= e1 <= e2 * (1 + 1e-9)
    n = m.probability_of_purchases(np.arange(5), t)
    assert np.all((n >= 0) & (n <= 1)) and n.sum() <= 1 + 1e-9


@settings(max_examples=80, deadline=None)
@given(
    h=histories(),
    params=st.tuples(*[st.floats(0.01, 50)] * 4),
)
@pytest.mark.parametrize("ll", [bg_ll, mbg_ll, pnbd_ll])
def test_likelihood_finite_on_extreme_inputs(ll, h, params):
    x, t_x, T = (np.array([v], dtype=float) for v in h)
    value = ll(params, x, t_x, T)[0]
    assert np.isfinite(value)


@settings(max_examples=40, deadline=None)
@given(t=st.floats(0.0, 1e4))
@pytest.mark.parametrize("model", CONTINUOUS)
def test_new_customer_expectation_monotone(fitted, model, t):
    m = fitted[model]
    assert 0.0 <= m.expected_purchases_new_customer(t) <= m.expected_purchases_new_customer(t + 1)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 30), x=st.integers(0, 30), gap=st.integers(0, 30))
def test_bgbb_probabilities(n, x, gap):
    assume(x <= n)
    t_x = min(x + gap, n) if x > 0 else 0
    m = _bgbb()
    p = m.probability_alive([x], [t_x], [n])[0]
    assert 0.0 <= p <= 1.0
    e = m.expected_purchases(np.array([1, 5, 10]), [x], [t_x], [n])
    assert np.all(np.diff(e) >= 0) and e[0] >= 0


_BGBB = {}


def _bgbb():
    if "m" not in _BGBB:
        _BGBB["m"] = BetaGeoBetaBinom().fit(load_donations())
    return _BGBB["m"]
