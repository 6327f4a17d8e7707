"""Sampling kernels of the generator (property tests)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.datasets._bank_blocks import Calendar, _rows_categorical

CAL = Calendar.build(dt.date(2022, 12, 31), dt.date(2025, 12, 31))


@settings(max_examples=50, deadline=None)
@given(
    weights=st.lists(
        st.lists(st.floats(0.0, 10.0), min_size=4, max_size=4).filter(lambda w: sum(w) > 0.01),
        min_size=1,
        max_size=6,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_rows_categorical_draws_only_possible_categories(weights, seed):
    probs = np.array(weights) / np.sum(weights, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    row = np.sort(rng.integers(0, len(weights), 500))
    draw = _rows_categorical(rng, probs, row)
    assert draw.min() >= 0 and draw.max() < 4
    assert (probs[row, draw] > 0).all()


def test_rows_categorical_matches_the_probabilities():
    probs = np.array([[0.7, 0.2, 0.1, 0.0], [0.0, 0.0, 0.5, 0.5]])
    rng = np.random.default_rng(0)
    row = np.repeat([0, 1], 100_000)
    draw = _rows_categorical(rng, probs, row)
    for r in (0, 1):
        freq = np.bincount(draw[row == r], minlength=4) / 100_000
        np.testing.assert_allclose(freq, probs[r], atol=0.005)


@settings(max_examples=50, deadline=None)
@given(
    profile=st.integers(0, len(CAL.profile_index) - 1),
    t0=st.integers(0, CAL.n_days - 1),
    length=st.integers(1, CAL.n_days),
    seed=st.integers(0, 2**32 - 1),
)
def test_sampled_days_stay_inside_the_window(profile, t0, length, seed):
    t1 = min(t0 + length, CAL.n_days)
    n = 200
    p = np.full(n, profile)
    days = CAL.sample_days(np.random.default_rng(seed), p, np.full(n, t0), np.full(n, t1))
    assert days.min() >= t0 and days.max() < t1
    assert CAL.exposure(p[:1], np.array([t0]), np.array([t1]))[0] > 0


def test_december_is_busier_than_august():
    rng = np.random.default_rng(0)
    n = 200_000
    p = np.full(n, CAL.profile_index["affluent"])
    days = CAL.sample_days(rng, p, np.zeros(n, np.int64), np.full(n, CAL.n_days))
    month = (np.datetime64(CAL.start, "D") + days).astype("datetime64[M]").astype(int) % 12
    counts = np.bincount(month, minlength=12)
    assert counts[11] > 1.6 * counts[7]  # seasonality 1.45 vs 0.80 (December has 31 days too)


def test_weekends_follow_the_profile():
    rng = np.random.default_rng(0)
    n = 100_000
    share = {}
    for name in ("bargain", "branch"):
        p = np.full(n, CAL.profile_index[name])
        days = CAL.sample_days(rng, p, np.zeros(n, np.int64), np.full(n, CAL.n_days))
        dow = (np.datetime64(CAL.start, "D") + days).astype(np.int64) + 3
        share[name] = np.isin(dow % 7, (5, 6)).mean()
    assert share["bargain"] > 0.4 and share["branch"] < 0.12
