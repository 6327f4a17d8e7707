import numpy as np
import pytest

from segmint.clv import ShiftedBetaGeo
from segmint.clv._base import numerical_gradient
from segmint.clv._shifted_beta_geo import _nll_and_grad
from segmint.errors import DataError

HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]


@pytest.mark.parametrize(
    "survivors, alpha, beta", [(HIGH_END, 0.668, 3.806), (REGULAR, 0.704, 1.182)]
)
def test_published_parameters(survivors, alpha, beta):
    m = ShiftedBetaGeo().fit(survivors)
    assert m.alpha_ == pytest.approx(alpha, rel=0.01)
    assert m.beta_ == pytest.approx(beta, rel=0.01)


def test_curves():
    m = ShiftedBetaGeo().fit(REGULAR)
    t = np.arange(1, 13)
    s = m.survival(t)
    assert np.all(np.diff(s) < 0)
    np.testing.assert_allclose(m.survival(t) / m.survival(t - 1), m.retention_rate(t))
    np.testing.assert_allclose(
        m.churn_probability(t), m.survival(t - 1) - m.survival(t), rtol=1e-10
    )
    # retention rises with tenure (heterogeneity sorting)
    assert np.all(np.diff(m.retention_rate(t)) > 0)


def test_derl_equals_the_discounted_survival_sum():
    m = ShiftedBetaGeo().fit(HIGH_END)
    d, n = 0.1, 4  # customer with 4 renewals, just before the 5th decision
    t = np.arange(n + 1, 3000)
    direct = np.sum(m.survival(t) / m.survival(n) / (1 + d) ** (t - n - 1))
    assert m.discounted_expected_residual_lifetime(d, renewals=n) == pytest.approx(direct, rel=1e-8)


def test_gradient():
    s = np.array(REGULAR, dtype=float)
    args = (-np.diff(s), np.arange(1.0, 8.0), s[-1], 7.0)
    z = np.log([0.5, 2.0])
    np.testing.assert_allclose(
        _nll_and_grad(z, *args)[1],
        numerical_gradient(lambda v: _nll_and_grad(v, *args)[0], z),
        rtol=1e-6,
    )


def test_parameter_recovery():
    counts = ShiftedBetaGeo.simulate(50_000, 10, alpha=0.7, beta=1.2, random_state=7)
    m = ShiftedBetaGeo().fit(counts)
    assert m.alpha_ == pytest.approx(0.7, rel=0.1)
    assert m.beta_ == pytest.approx(1.2, rel=0.1)


def test_increasing_survivors_rejected():
    with pytest.raises(DataError, match="non-increasing"):
        ShiftedBetaGeo().fit([100, 90, 95])
