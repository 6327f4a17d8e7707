import numpy as np
import pytest

from segmint.clv import BetaGeo
from segmint.clv._base import numerical_gradient
from segmint.clv._beta_geo import _nll_and_grad, _prepare
from segmint.errors import ConvergenceError, DataError, NotFittedError

PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@pytest.fixture(scope="module")
def fitted(cdnow_summary):
    s = cdnow_summary
    return BetaGeo().fit(s["x"], s["t_x"], s["T"])


def test_published_parameters(fitted):
    for name, value in PUBLISHED.items():
        assert fitted.params_[name] == pytest.approx(value, rel=0.01)
        assert getattr(fitted, f"{name}_") == fitted.params_[name]


def test_published_log_likelihood(fitted):
    assert fitted.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)


def test_customer_one_conditional_expectation(fitted):
    assert fitted.expected_purchases(39, 2, 30.43, 38.86)[0] == pytest.approx(1.226, abs=0.001)


def test_fit_from_frame_equals_arrays(fitted, cdnow_summary):
    frame = cdnow_summary.rename(columns={"x": "frequency", "t_x": "recency"})
    m = BetaGeo().fit(frame)
    assert m.params_ == pytest.approx(fitted.params_, rel=1e-8)


def test_summary_table(fitted):
    table = fitted.summary()
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert list(table.columns) == ["estimate", "std_error", "lower_95", "upper_95"]
    assert (table["std_error"] > 0).all()
    # Fader, Hardie & Lee's standard error of r on CDNOW is 0.013
    assert table.loc["r", "std_error"] == pytest.approx(0.0126, abs=0.001)
    assert (table["lower_95"] < table["estimate"]).all()


def test_analytic_gradient_matches_finite_differences(cdnow_summary):
    s = cdnow_summary
    x, t_x, T = (s[c].to_numpy(float) for c in ("x", "t_x", "T"))
    w = np.ones_like(x)
    z = np.log([0.5, 3.0, 1.2, 2.0])
    analytic = _nll_and_grad(z, *_prepare(x, t_x, T, w))[1]
    numeric = numerical_gradient(lambda v: _nll_and_grad(v, *_prepare(x, t_x, T, w))[0], z)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5)


def test_new_customer_pmf_sums_to_one_and_has_the_expected_mean(fitted):
    n = np.arange(200)
    p = fitted.probability_of_purchases(n, 39)
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    assert (n * p).sum() == pytest.approx(fitted.expected_purchases_new_customer(39), rel=1e-8)


def test_weights_equal_repeated_rows():
    data = BetaGeo.simulate(300, 30, r=0.5, alpha=4, a=1.0, b=3.0, random_state=3)
    rows = [data["frequency"], data["recency"], data["T"]]
    doubled = BetaGeo().fit(*rows, weights=np.full(300, 2.0))
    stacked = BetaGeo().fit(*(np.concatenate([c, c]) for c in rows))
    assert doubled.params_ == pytest.approx(stacked.params_, rel=1e-6)


def test_parameter_recovery():
    truth = {"r": 0.4, "alpha": 5.0, "a": 0.8, "b": 2.5}
    data = BetaGeo.simulate(30_000, np.linspace(20, 60, 30_000), random_state=1, **truth)
    m = BetaGeo().fit(data)
    for name, value in truth.items():
        assert m.params_[name] == pytest.approx(value, rel=0.2), name


@pytest.mark.parametrize(
    "frequency, recency",
    [
        ([0] * 40, [0.0] * 40),  # no repeat purchase at all
        ([1, 0, 0] * 10, [10.0, 0.0, 0.0] * 10),  # dropout not identified
        ([5, 5, 5], [30.0, 30.0, 30.0]),
    ],
)
def test_unidentified_fit_raises_convergence_error(frequency, recency):
    with pytest.raises(ConvergenceError, match="BetaGeo"):
        BetaGeo().fit(frequency, recency, np.full(len(frequency), 30.0))


def test_invalid_input_is_named():
    with pytest.raises(DataError, match="recency must be <= T"):
        BetaGeo().fit([1, 2], [5.0, 40.0], [30.0, 30.0])
    with pytest.raises(DataError, match="whole numbers"):
        BetaGeo().fit([1.5], [5.0], [30.0])


def test_not_fitted():
    with pytest.raises(NotFittedError):
        BetaGeo().probability_alive([1], [1.0], [2.0])


def test_weights_as_a_series_with_its_own_index():
    import pandas as pd

    data = BetaGeo.simulate(300, 30, r=0.5, alpha=4, a=1.0, b=3.0, random_state=3)
    w = pd.Series(np.full(300, 2.0), index=np.arange(1000, 1300))
    m = BetaGeo().fit(data["frequency"], data["recency"], data["T"], weights=w)
    assert m.n_customers_ == 600
    with pytest.raises(DataError, match="weights"):
        BetaGeo().fit(data["frequency"], data["recency"], data["T"], weights=w[:10])
