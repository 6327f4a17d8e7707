import numpy as np
import pytest

from segmint.clv import BetaGeoBetaBinom
from segmint.datasets import load_donations
from segmint.errors import DataError

PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}


@pytest.fixture(scope="module")
def fitted():
    return BetaGeoBetaBinom().fit(load_donations())


def test_published_parameters(fitted):
    for name, value in PUBLISHED.items():
        assert fitted.params_[name] == pytest.approx(value, rel=0.01)
    assert fitted.log_likelihood_ == pytest.approx(-33225.6, abs=0.1)
    assert fitted.n_customers_ == 11104


def test_pmf_and_expectation(fitted):
    n = np.arange(7)
    p = fitted.probability_of_purchases(n, 6)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert (n * p).sum() == pytest.approx(fitted.expected_purchases_new_customer(6), rel=1e-10)


def test_hand_computed_likelihood_row():
    """One (x=1, t_x=1, n=2) pattern by enumerating the paper's equation 5."""
    from scipy.special import beta as B

    from segmint.clv._beta_geo_beta_binom import log_likelihood

    a, b, g, d = 1.2, 0.8, 0.7, 2.5
    alive = B(a + 1, b + 1) / B(a, b) * B(g, d + 2) / B(g, d)
    died = B(a + 1, b) / B(a, b) * B(g + 1, d + 1) / B(g, d)
    got = log_likelihood((a, b, g, d), np.array([1.0]), np.array([1.0]), np.array([2.0]))
    assert got[0] == pytest.approx(np.log(alive + died), rel=1e-12)


def test_conditional_predictions_are_consistent(fitted):
    p_alive = fitted.probability_alive(3, 5, 6)
    assert 0 < p_alive[0] < 1
    # more recent activity -> more likely alive
    assert fitted.probability_alive(3, 6, 6)[0] > fitted.probability_alive(3, 3, 6)[0]
    assert fitted.expected_purchases(5, 3, 5, 6)[0] > fitted.expected_purchases(5, 3, 3, 6)[0]


def test_parameter_recovery():
    truth = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}
    m = BetaGeoBetaBinom().fit(BetaGeoBetaBinom.simulate(40_000, 6, random_state=5, **truth))
    for name, value in truth.items():
        assert m.params_[name] == pytest.approx(value, rel=0.15), name


def test_discrete_inputs_are_required():
    with pytest.raises(DataError, match="whole numbers"):
        BetaGeoBetaBinom().fit([1], [1.5], [6])
