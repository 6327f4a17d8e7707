import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.clv import (
    BetaGeo,
    GammaGamma,
    GeometricNBD,
    clv_features,
    fit_transaction_model,
    models_from_json,
    models_to_json,
    rfm_summary,
)
from segmint.clv._base import numerical_gradient
from segmint.clv._beta_geo import log_likelihood as bg_ll
from segmint.clv._geometric_nbd import _nll_and_grad, log_likelihood
from segmint.errors import DataError

PARAMS = {"r": 0.8, "alpha": 4.0, "p": 0.1}
HISTORIES = (
    np.array([0, 1, 3, 10, 2]),
    np.array([0.0, 1.0, 20.0, 30.0, 0.5]),
    np.array([5.0, 2.0, 30.0, 52.0, 40.0]),
)


def limit(**kw):
    return GeometricNBD.from_params({**PARAMS, **kw})


def bg_near_limit(k, **kw):
    """BG/NBD with a + b = k and a / (a + b) = p: tends to the limit model as k grows."""
    r, alpha, p = ({**PARAMS, **kw}[n] for n in ("r", "alpha", "p"))
    return BetaGeo.from_params({"r": r, "alpha": alpha, "a": p * k, "b": (1 - p) * k})


def test_hand_computed_customer():
    # r = α = 1, p = 1/2, x = 1, t_x = 1, T = 2:
    # L = 1 · [½ / 3² + ½ · 1 / 2²] = 1/18 + 1/8 = 13/72
    # P(alive) = (1/18) / (13/72) = 4/13
    # E[Y(1) | alive] = (1 - (3 / 3.5)²) / ½ = 26/49, so E[Y(1)] = 4/13 · 26/49 = 8/49
    m = GeometricNBD.from_params({"r": 1.0, "alpha": 1.0, "p": 0.5})
    assert log_likelihood((1.0, 1.0, 0.5), 1.0, 1.0, 2.0) == pytest.approx(np.log(13 / 72))
    assert m.probability_alive(1, 1.0, 2.0)[0] == pytest.approx(4 / 13)
    assert m.expected_purchases(1.0, 1, 1.0, 2.0)[0] == pytest.approx(8 / 49)
    # no repeat purchase: surely alive, L = (α/(α+T))^r = 1/3
    assert m.probability_alive(0, 0.0, 2.0)[0] == 1.0
    assert log_likelihood((1.0, 1.0, 0.5), 0.0, 0.0, 2.0) == pytest.approx(np.log(1 / 3))
    # new customer: E[X(t)] = (1 - α/(α + p t)) / p = (1 - 1/1.5) · 2 = 2/3 at t = 1
    assert m.expected_purchases_new_customer(1.0) == pytest.approx(2 / 3)


@pytest.mark.parametrize("p", [0.02, 0.1, 0.6])
def test_limit_of_bg_nbd(p):
    """BG/NBD at a + b = k with a/(a+b) = p differs from the limit by O(1/k)."""
    x, t_x, T = HISTORIES
    ours = limit(p=p)
    gaps = []
    for k in (1e3, 1e4, 1e5):
        bg = bg_near_limit(k, p=p)
        gap = np.max(
            np.abs(bg_ll((PARAMS["r"], PARAMS["alpha"], p * k, (1 - p) * k), x, t_x, T)
                   - log_likelihood((PARAMS["r"], PARAMS["alpha"], p), x, t_x, T))
        )
        np.testing.assert_allclose(
            bg.probability_alive(x, t_x, T), ours.probability_alive(x, t_x, T), rtol=50 / k
        )
        np.testing.assert_allclose(
            bg.expected_purchases_new_customer(26.0), ours.expected_purchases_new_customer(26.0),
            rtol=50 / k,
        )
        gaps.append(gap)
    # the likelihood gap shrinks like 1/k
    assert gaps[0] > 5 * gaps[1] > 25 * gaps[2]
    assert gaps[2] < 1e-3


@pytest.mark.parametrize("p", [0.02, 0.1])
def test_conditional_expectation_is_the_limit_of_bg_nbd(p):
    # (BetaGeo.expected_purchases is NaN for small x once b is in the thousands and p
    # above ~0.3: its hypergeometric series overflows; hence p <= 0.1 here)
    x, t_x, T = HISTORIES
    ours = limit(p=p).expected_purchases(26.0, x, t_x, T)
    for k in (1e3, 1e4, 1e5):
        theirs = bg_near_limit(k, p=p).expected_purchases(26.0, x, t_x, T)
        np.testing.assert_allclose(theirs, ours, rtol=50 / k)


def test_gradient():
    data = GeometricNBD.simulate(2_000, np.linspace(10, 60, 2_000), random_state=3, **PARAMS)
    x, t_x, T = (data[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    w = np.ones_like(x)
    z = np.array([np.log(0.5), np.log(3.0), 0.4])
    np.testing.assert_allclose(
        _nll_and_grad(z, x, t_x, T, w)[1],
        numerical_gradient(lambda v: _nll_and_grad(v, x, t_x, T, w)[0], z),
        rtol=1e-5,
    )


def test_parameter_recovery():
    data = GeometricNBD.simulate(30_000, np.linspace(20, 80, 30_000), random_state=1, **PARAMS)
    m = GeometricNBD().fit(data)
    summary = m.summary()
    for name, value in PARAMS.items():
        assert m.params_[name] == pytest.approx(value, rel=0.1), name
        row = summary.loc[name]
        assert row.lower_95 - 2 * row.std_error < value < row.upper_95 + 2 * row.std_error
    # the simulated mean number of purchases is the model's E[X(T)]
    sim = GeometricNBD.simulate(200_000, 52.0, random_state=2, **PARAMS)
    assert sim["frequency"].mean() == pytest.approx(
        float(limit().expected_purchases_new_customer(52.0)), rel=0.02
    )


def test_fit_chooses_the_limit_where_bg_nbd_diverges():
    homogeneous = GeometricNBD.simulate(5_000, np.linspace(20, 80, 5_000), random_state=1, **PARAMS)
    chosen = fit_transaction_model(homogeneous)
    assert isinstance(chosen, GeometricNBD)
    assert chosen.p_ == pytest.approx(PARAMS["p"], rel=0.1)
    heterogeneous = BetaGeo.simulate(
        5_000, np.linspace(20, 80, 5_000), r=0.8, alpha=4.0, a=1.0, b=5.0, random_state=1
    )
    assert isinstance(fit_transaction_model(heterogeneous), BetaGeo)


def test_models_round_trip_through_json(cdnow_transactions):
    s = rfm_summary(
        cdnow_transactions, "customer_id", "date", "amount", observation_period_end="1997-09-30"
    )
    features, models = clv_features(s)
    assert isinstance(models["transactions"], BetaGeo)
    assert isinstance(models["spend"], GammaGamma)
    restored = models_from_json(models_to_json(models))
    again, same = clv_features(s, models=restored)
    assert same is restored
    np.testing.assert_allclose(
        again.drop(columns="customer_id").to_numpy(), features.drop(columns="customer_id").to_numpy()
    )
    mean_spend = models_from_json({**models_to_json(models), "spend": {"kind": "mean", "value": 3.5}})
    assert mean_spend["spend"] == 3.5
    with pytest.raises(DataError, match="unknown transaction model kind"):
        models_from_json({"transactions": {"kind": "pareto", "params": {}}, "spend": {}})


def test_from_params_rejects_missing_or_bad_parameters():
    with pytest.raises(DataError, match="missing"):
        GeometricNBD.from_params({"r": 1.0, "alpha": 1.0})
    with pytest.raises(DataError, match="positive"):
        GeometricNBD.from_params({"r": 1.0, "alpha": -1.0, "p": 0.5})


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(0, 300),
    share=st.floats(0.0, 1.0),
    T=st.floats(0.01, 1e4),
    t=st.floats(0.1, 500),
    p=st.floats(1e-4, 0.999),
)
def test_probabilities_and_monotone_expectations(x, share, T, t, p):
    m = limit(p=p)
    t_x = T * share if x > 0 else 0.0
    alive = m.probability_alive([x], [t_x], [T])[0]
    assert 0.0 <= alive <= 1.0
    e1, e2 = m.expected_purchases(np.array([t, 2 * t]), [x, x], [t_x, t_x], [T, T])
    assert 0.0 <= e1 <= e2
    # never more than the alive customer's bound 1/p (expected purchases before dropout)
    assert e2 <= 1.0 / p * (1 + 1e-12)
