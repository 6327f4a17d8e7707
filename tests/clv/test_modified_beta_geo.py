import numpy as np
import pytest

from segmint.clv import ModifiedBetaGeo
from segmint.clv._base import numerical_gradient
from segmint.clv._beta_geo import _prepare
from segmint.clv._modified_beta_geo import _nll_and_grad

PUBLISHED = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}  # BTYDplus on CDNOW


@pytest.fixture(scope="module")
def fitted(cdnow_summary):
    s = cdnow_summary
    return ModifiedBetaGeo().fit(s["x"], s["t_x"], s["T"])


def test_published_parameters(fitted):
    for name, value in PUBLISHED.items():
        assert fitted.params_[name] == pytest.approx(value, rel=0.02)


def test_customers_without_repeat_purchases_are_not_surely_alive(fitted):
    assert fitted.probability_alive(0, 0.0, 38.86)[0] < 1.0


def test_gradient(cdnow_summary):
    s = cdnow_summary
    x, t_x, T = (s[c].to_numpy(float) for c in ("x", "t_x", "T"))
    w = np.ones_like(x)
    z = np.log([0.4, 5.0, 0.7, 2.2])
    np.testing.assert_allclose(
        _nll_and_grad(z, *_prepare(x, t_x, T, w))[1],
        numerical_gradient(lambda v: _nll_and_grad(v, *_prepare(x, t_x, T, w))[0], z),
        rtol=1e-5,
    )


def test_new_customer_pmf(fitted):
    n = np.arange(200)
    p = fitted.probability_of_purchases(n, 39)
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    assert (n * p).sum() == pytest.approx(fitted.expected_purchases_new_customer(39), rel=1e-8)


def test_parameter_recovery():
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6}
    data = ModifiedBetaGeo.simulate(30_000, np.linspace(20, 60, 30_000), random_state=2, **truth)
    m = ModifiedBetaGeo().fit(data)
    for name, value in truth.items():
        assert m.params_[name] == pytest.approx(value, rel=0.2), name
