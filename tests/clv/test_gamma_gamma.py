import warnings

import numpy as np
import pytest

from segmint.clv import FrequencySpendCorrelationWarning, GammaGamma


def test_published_parameters(cdnow_summary):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrequencySpendCorrelationWarning)
        m = GammaGamma().fit(cdnow_summary["x"], cdnow_summary["zbar"])
    assert m.n_customers_ == 946
    assert m.p_ == pytest.approx(6.25, rel=0.01)
    assert m.q_ == pytest.approx(3.74, rel=0.01)
    assert m.gamma_ == pytest.approx(15.44, rel=0.01)
    # zero-frequency customers get the population mean
    assert m.expected_spend([0], [0.0])[0] == pytest.approx(m.population_mean_spend())


def test_expected_spend_shrinks_towards_the_population_mean(cdnow_summary):
    m = GammaGamma().fit(cdnow_summary["x"], cdnow_summary["zbar"])
    mean = m.population_mean_spend()
    few, many = m.expected_spend([1, 20], [100.0, 100.0])
    assert mean < few < many < 100


def test_correlation_warning_states_pearson_r():
    x = np.random.default_rng(0).integers(1, 20, 2000)
    spend = GammaGamma.simulate(x, p=6.0, q=3.7, gamma=15.0, random_state=1)["monetary_value"]
    spend = spend * (1 + 0.5 * x)  # spend grows with frequency
    corr = np.corrcoef(x, spend)[0, 1]
    with pytest.warns(FrequencySpendCorrelationWarning, match=f"{corr:.3f}"):
        GammaGamma().fit(x, spend)


def test_parameter_recovery():
    x = np.random.default_rng(1).integers(1, 10, 8000)
    data = GammaGamma.simulate(x, p=6.0, q=3.7, gamma=15.0, random_state=2)
    m = GammaGamma().fit(data)
    assert m.p_ == pytest.approx(6.0, rel=0.2)
    assert m.q_ == pytest.approx(3.7, rel=0.2)
    assert m.gamma_ == pytest.approx(15.0, rel=0.3)
