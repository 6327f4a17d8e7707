"""Interval kernels against statsmodels / scipy, and hand-computed values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from segmint.targeting import benjamini_hochberg, newcombe_interval, welch_interval, wilson_interval
from segmint.targeting._stats import log_ratio_interval, two_proportion_p_value


def test_wilson_hand_computed():
    # 5 of 10, z = 1.959964: centre 0.5, half = z * sqrt(0.025 + z^2/400) / (1 + z^2/10)
    z = stats.norm.ppf(0.975)
    half = z * np.sqrt(0.025 + z**2 / 400) / (1 + z**2 / 10)
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.5 - half, abs=1e-12)
    assert hi == pytest.approx(0.5 + half, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 500), st.data())
def test_wilson_matches_statsmodels(n, data):
    x = data.draw(st.integers(0, n))
    lo, hi = wilson_interval(x, n)
    ref = proportion_confint(x, n, method="wilson")
    assert lo == pytest.approx(ref[0], abs=1e-10)
    assert hi == pytest.approx(ref[1], abs=1e-10)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400), st.data())
def test_newcombe_matches_statsmodels(n_t, n_c, data):
    x_t = data.draw(st.integers(0, n_t))
    x_c = data.draw(st.integers(0, n_c))
    lo, hi = newcombe_interval(x_t, n_t, x_c, n_c)
    ref = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="newcomb", compare="diff")
    assert lo == pytest.approx(ref[0], abs=1e-9)
    assert hi == pytest.approx(ref[1], abs=1e-9)
    assert lo <= x_t / n_t - x_c / n_c <= hi


def test_welch_matches_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 2.0, 40), rng.normal(0.2, 0.7, 25)
    lo, hi, p, df = welch_interval(a.mean(), a.var(ddof=1), 40, b.mean(), b.var(ddof=1), 25)
    ref = stats.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    assert df == pytest.approx(ref.df, rel=1e-10)


def test_two_proportion_p_value_matches_statsmodels():
    from statsmodels.stats.proportion import proportions_ztest

    p = two_proportion_p_value(30, 200, 18, 210)
    ref = proportions_ztest([30, 18], [200, 210])[1]
    assert p == pytest.approx(ref, rel=1e-10)
    assert two_proportion_p_value(0, 10, 0, 10) == 1.0


def test_log_ratio_interval_contains_ratio_and_is_nan_without_a_baseline():
    rel, lo, hi = log_ratio_interval(0.12, 0.1056, 1000, 0.1, 0.09, 1000)
    assert rel == pytest.approx(0.2)
    assert lo < 0.2 < hi
    rel0, lo0, _ = log_ratio_interval(0.1, 0.09, 100, 0.0, 0.0, 100)
    assert np.isnan(rel0) and np.isnan(lo0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_bh_matches_statsmodels(ps):
    ours = benjamini_hochberg(ps)
    ref = multipletests(ps, method="fdr_bh")[1]
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_bh_keeps_nan():
    q = benjamini_hochberg([0.01, np.nan, 0.04])
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2]], [0.02, 0.04])
