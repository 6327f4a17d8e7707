import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.clv import ParetoNBD
from segmint.clv._special import log_hyp2f1

PUBLISHED = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}


@pytest.fixture(scope="module")
def fitted(cdnow_summary):
    s = cdnow_summary
    return ParetoNBD().fit(s["x"], s["t_x"], s["T"])


def test_published_parameters_from_default_start(fitted):
    for name, value in PUBLISHED.items():
        assert fitted.params_[name] == pytest.approx(value, rel=0.02)
    assert fitted.log_likelihood_ == pytest.approx(-9595.0, abs=0.1)


def test_both_hypergeometric_branches_agree_with_the_likelihood_definition(cdnow_summary):
    """The α >= β and α < β branches are two forms of one integral: check each
    against direct numerical integration of the likelihood's second term."""
    from scipy.integrate import quad
    from scipy.special import gammaln

    from segmint.clv._pareto_nbd import log_likelihood

    x, t_x, T = 3.0, 10.0, 30.0
    for r, alpha, s, beta in [(0.5, 10.0, 0.6, 12.0), (0.5, 12.0, 0.6, 10.0)]:
        def integrand(tau, r=r, alpha=alpha, s=s, beta=beta):
            return s * beta**s * (beta + tau) ** (-s - 1) * (alpha + tau) ** (-(r + x))

        second = quad(integrand, t_x, T)[0]
        first = (alpha + T) ** (-(r + x)) * (beta / (beta + T)) ** s
        const = np.exp(gammaln(r + x) - gammaln(r) + r * np.log(alpha))
        expected = np.log(const * (first + second))
        got = log_likelihood((r, alpha, s, beta), np.array([x]), np.array([t_x]), np.array([T]))
        assert got[0] == pytest.approx(expected, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    r=st.floats(0.05, 5),
    s=st.floats(0.05, 5),
    x=st.sampled_from([0, 1, 5, 40, 300]),
    z=st.floats(0.0, 0.995),
    branch=st.booleans(),
)
def test_log_hyp2f1_matches_mpmath(r, s, x, z, branch):
    a = r + s + x
    b = s + 1 if branch else r + x
    ours = float(log_hyp2f1(a, b, a + 1, z))
    ref = float(mpmath.log(mpmath.hyp2f1(a, b, a + 1, z, maxterms=10**6)))
    assert ours == pytest.approx(ref, rel=1e-8, abs=1e-10)


def test_new_customer_pmf(fitted):
    n = np.arange(80)
    p = fitted.probability_of_purchases(n, 39)
    assert p.sum() == pytest.approx(1.0, abs=1e-6)
    assert (n * p).sum() == pytest.approx(fitted.expected_purchases_new_customer(39), rel=1e-5)


def test_conditional_pmf_mean_is_the_conditional_expectation(fitted):
    n = np.arange(80)
    p = fitted.conditional_probability_of_purchases(n, 39, 2, 30.43, 38.86)
    assert p.sum() == pytest.approx(1.0, abs=1e-6)
    assert (n * p).sum() == pytest.approx(
        fitted.expected_purchases(39, 2, 30.43, 38.86)[0], rel=1e-5
    )


def test_parameter_recovery():
    truth = {"r": 0.55, "alpha": 10.0, "s": 0.6, "beta": 12.0}
    data = ParetoNBD.simulate(20_000, np.linspace(30, 80, 20_000), random_state=4, **truth)
    data["recency"] = data["recency"].round(2)
    data["T"] = data["T"].round(2)
    data.loc[data["recency"] > data["T"], "recency"] = data["T"]
    m = ParetoNBD().fit(data)
    for name, value in truth.items():
        assert m.params_[name] == pytest.approx(value, rel=0.3), name
