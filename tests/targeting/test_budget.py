"""Budget allocation: linear greedy case, brute force, capacities, against uniform."""

import numpy as np
import pandas as pd
import pytest

from segmint.errors import DataError, ParameterError
from segmint.targeting import allocate_budget


def cells(**over):
    base = {
        "segment": ["a", "a", "b", "b", "c", "c"],
        "channel": ["email", "sms"] * 3,
        "clients": [1000, 1000, 2000, 2000, 500, 500],
        "response": [0.05, 0.08, 0.02, 0.03, -0.02, -0.01],
        "cost_per_contact": [0.05, 0.12] * 3,
    }
    base.update(over)
    return pd.DataFrame(base)


def test_linear_returns_fill_the_best_ratio_first():
    frame = pd.DataFrame(
        {"segment": ["a", "b", "c"], "channel": "email", "clients": [100, 100, 100],
         "response": [0.02, 0.10, 0.05], "cost_per_contact": [1.0, 1.0, 1.0]}
    )
    res = allocate_budget(frame, budget=150, gamma=1.0)
    np.testing.assert_allclose(res.allocation["contacts"], [0, 100, 50], atol=0.5)
    assert res.value == pytest.approx(100 * 0.10 + 50 * 0.05, rel=1e-3)


def test_matches_brute_force_with_diminishing_returns():
    frame = pd.DataFrame(
        {"segment": ["a", "b"], "channel": ["email", "email"], "clients": [100, 100],
         "response": [0.10, 0.06], "cost_per_contact": [1.0, 1.0]}
    )
    res = allocate_budget(frame, budget=100, gamma=0.5)
    best = max(
        (0.10 * 100 * (x / 100) ** 0.5 + 0.06 * 100 * ((100 - x) / 100) ** 0.5, x)
        for x in np.linspace(0, 100, 10001)
    )
    assert res.value == pytest.approx(best[0], rel=1e-4)
    assert res.allocation["contacts"].iloc[0] == pytest.approx(best[1], abs=0.5)


def test_constraints_hold_and_negative_cells_get_nothing():
    cap = {"sms": 800.0}
    res = allocate_budget(cells(), budget=150.0, capacity=cap, value_per_conversion=40.0)
    al = res.allocation
    assert res.spend <= 150.0 + 1e-6
    assert al.loc[al.channel == "sms", "contacts"].sum() <= 800 + 1e-6
    seg_total = al.groupby("segment")["contacts"].sum()
    assert (seg_total <= al.groupby("segment")["clients"].first() + 1e-6).all()
    assert al.loc[al.segment == "c", "contacts"].sum() == pytest.approx(0, abs=1e-6)
    assert res.value > res.uniform_value > 0
    assert res.uniform_spend <= 150.0 + 1e-6
    # optimality (KKT): the active cells of a segment that is not saturated, in channels
    # below capacity, have equal marginal value per unit cost (only the budget binds)
    open_segments = seg_total[seg_total < al.groupby("segment")["clients"].first() - 1].index
    free = al[al.segment.isin(open_segments) & (al.contacts > 1)]
    assert len(free) == 2  # segment b, both channels
    y = free.contacts / free.clients
    marginal = 40.0 * free.response * 0.7 * y**-0.3 / free.cost_per_contact
    assert marginal.max() / marginal.min() == pytest.approx(1.0, rel=0.01)


def test_optimum_is_no_worse_than_random_feasible_allocations():
    res = allocate_budget(cells(), budget=100.0, value_per_conversion=1.0, gamma=0.7)
    frame = cells()
    rng = np.random.default_rng(0)
    a = np.clip(frame.response, 0, None).to_numpy() * frame.clients.to_numpy()
    for _ in range(300):
        y = rng.random(6) * (frame.response > 0)
        for s in ("a", "b", "c"):
            m = (frame.segment == s).to_numpy()
            y[m] /= max(1.0, y[m].sum())
        spend = (y * frame.clients * frame.cost_per_contact).sum()
        y *= min(1.0, 100.0 / spend)
        assert (a * y**0.7).sum() <= res.value + 1e-3


def test_errors():
    with pytest.raises(ParameterError, match="budget"):
        allocate_budget(cells(), budget=0)
    with pytest.raises(ParameterError, match="capacity"):
        allocate_budget(cells(), budget=10, capacity={"fax": 1})
    with pytest.raises(DataError, match="missing"):
        allocate_budget(cells().drop(columns="response"), budget=10)
