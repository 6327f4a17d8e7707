"""The clv group's model versions (table clv_models): reuse, refit interval, re-scoring."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

import segmint.clv
import segmint.features._incremental as incremental
from segmint.clv import BetaGeo, GeometricNBD
from segmint.config import FeaturesConfig
from segmint.features import (
    DuckDBEngine,
    btyd_summary,
    build_state,
    clv_model_versions,
    compute_features,
    compute_incremental,
    load_clv_model,
)

from .conftest import clients_frame, load_tables, tx_frame
from .test_cdnow import _sample_transactions

CFG = FeaturesConfig(groups=["rfm", "clv"], time_unit="weeks", clv_refit_days=90)
D0 = dt.date(1997, 9, 30)
END = dt.date(1998, 6, 30)  # the last transaction: the incremental state starts there


@pytest.fixture
def cdnow(warehouse):
    transactions, ids = _sample_transactions()
    return load_tables(warehouse, clients=clients_frame(sorted(set(ids))), transactions=transactions)


def features(wh, as_of, config=CFG):
    return compute_features(DuckDBEngine(wh.con), as_of, config, warehouse=wh)


def _refuse(*_a, **_k):
    raise AssertionError("a CLV model was fitted")


def versions(wh) -> list[tuple[int, dt.date]]:
    v = clv_model_versions(wh)
    return list(zip(v["version"].astype(int), v["fitted_as_of"].dt.date, strict=True))


def test_versions_are_reused_until_the_refit_interval(cdnow, monkeypatch):
    first = features(cdnow, D0)
    assert versions(cdnow) == [(1, D0)]
    row = clv_model_versions(cdnow).iloc[0]
    assert row["kind"] == "bg_nbd" and row["time_unit"] == "weeks"
    assert row["n_clients"] == 2357
    summary = btyd_summary(first)
    bg = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    assert row["log_likelihood"] == pytest.approx(bg.log_likelihood_, rel=1e-9)
    assert load_clv_model(cdnow, D0, "weeks").params["transactions"]["params"]["r"] == (
        pytest.approx(bg.r_, rel=1e-9)
    )

    # the same as_of again, and dates within 90 days: the stored version, no fit
    with monkeypatch.context() as m:
        m.setattr(segmint.clv, "fit_clv_models", _refuse)
        again = features(cdnow, D0)
        later = features(cdnow, D0 + dt.timedelta(days=89))
    pd.testing.assert_frame_equal(first, again)
    assert versions(cdnow) == [(1, D0)]
    one = later.set_index("client_id").loc["1"]
    assert one["p_alive"] == pytest.approx(
        bg.probability_alive(one["btyd_x"], one["btyd_t_x"], one["btyd_T"])[0], rel=1e-12
    )

    # 90 days on: a new version; an earlier date still gets the version of its time
    features(cdnow, D0 + dt.timedelta(days=90))
    assert versions(cdnow) == [(1, D0), (2, D0 + dt.timedelta(days=90))]
    assert load_clv_model(cdnow, D0 + dt.timedelta(days=45), "weeks").version == 1
    # before every stored version: fitted (and stored) at that date
    features(cdnow, D0 - dt.timedelta(days=10))
    assert versions(cdnow)[-1] == (3, D0 - dt.timedelta(days=10))
    # another time unit: its own versions (parameters are in the unit of the summary)
    features(cdnow, D0, CFG.model_copy(update={"time_unit": "days"}))
    assert versions(cdnow)[-1] == (4, D0)
    assert load_clv_model(cdnow, D0, "days").version == 4
    assert load_clv_model(cdnow, D0, "weeks").version == 1


def test_refit_days_zero_fits_every_new_as_of_and_reuses_a_rerun(cdnow):
    config = CFG.model_copy(update={"clv_refit_days": 0})
    features(cdnow, D0, config)
    features(cdnow, D0 + dt.timedelta(days=7), config)
    features(cdnow, D0 + dt.timedelta(days=7), config)
    assert versions(cdnow) == [(1, D0), (2, D0 + dt.timedelta(days=7))]


def test_without_a_warehouse_the_models_are_fitted_in_memory(cdnow):
    stored = features(cdnow, D0)
    plain = compute_features(DuckDBEngine(cdnow.con), D0, CFG)
    pd.testing.assert_frame_equal(stored, plain)
    assert versions(cdnow) == [(1, D0)]  # only the first call stored one


def test_event_rescoring_scores_with_the_stored_version(cdnow, monkeypatch):
    old = END - dt.timedelta(days=200)
    features(cdnow, old)  # version 1; stale by END
    build_state(cdnow)
    ids = ["1", "7", "1000"]

    def no_population(*_a, **_k):
        raise AssertionError("the population was computed")

    with monkeypatch.context() as m:
        m.setattr(segmint.clv, "fit_clv_models", _refuse)
        m.setattr(incremental, "_population", no_population)
        some = compute_incremental(cdnow, END, CFG, clients=ids)
    assert versions(cdnow) == [(1, old)]
    # what a full computation with the same version gives these clients
    with monkeypatch.context() as m:
        m.setattr(segmint.clv, "fit_clv_models", _refuse)
        full = features(cdnow, END, CFG.model_copy(update={"clv_refit_days": 1000}))
    expected = full[full["client_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(some, expected)
    # a full computation follows the refit policy: the stale version is replaced
    features(cdnow, END)
    assert versions(cdnow) == [(1, old), (2, END)]


def test_event_rescoring_without_a_version_fits_on_the_population(cdnow):
    build_state(cdnow)
    some = compute_incremental(cdnow, END, CFG, clients=["1"])
    assert versions(cdnow) == [(1, END)]
    full = features(cdnow, END)  # reuses it
    assert versions(cdnow) == [(1, END)]
    pd.testing.assert_frame_equal(some, full[full["client_id"] == "1"].reset_index(drop=True))


def test_a_failed_fit_is_a_version_that_nulls_the_group(cdnow, monkeypatch):
    from segmint.errors import ConvergenceError

    def diverge(*_a, **_k):
        raise ConvergenceError("BetaGeo: did not converge")

    monkeypatch.setattr(segmint.clv, "fit_clv_models", diverge)
    f = features(cdnow, D0)
    assert f["clv_12m"].isna().all() and f["p_alive"].isna().all()
    stored = clv_model_versions(cdnow)
    assert list(stored["kind"]) == ["none"] and "did not converge" in stored["params"][0]
    # until the next refit the failure stands: null, without fitting again
    monkeypatch.setattr(segmint.clv, "fit_clv_models", _refuse)
    later = features(cdnow, D0 + dt.timedelta(days=30))
    assert later["clv_12m"].isna().all()
    assert versions(cdnow) == [(1, D0)]


def test_homogeneous_dropout_stores_the_limit_model(warehouse):
    """Clients simulated with one dropout probability: BG/NBD diverges, the limit is kept."""
    T = np.linspace(100, 700, 1500).round()
    sim = GeometricNBD.simulate(1500, T, r=2.0, alpha=40.0, p=0.08, random_state=5)
    rng = np.random.default_rng(0)
    as_of = dt.date(2024, 12, 31)
    end = pd.Timestamp(as_of) + pd.Timedelta(hours=12)
    rows = []
    for i, (x, t_x, age) in enumerate(sim[["frequency", "recency", "T"]].to_numpy()):
        first = end - pd.Timedelta(days=age)
        days = np.unique(np.ceil(rng.uniform(0, t_x, int(x))))  # repeat purchase days
        days = np.unique(np.append(days[days > 0][:-1], np.ceil(t_x))) if x else []
        for d in (0, *days):
            rows.append((f"c{i}", str(first + pd.Timedelta(days=d)), 10.0 + d % 7))
    load_tables(warehouse, clients=clients_frame(sim.index.map(lambda i: f"c{i}")),
                transactions=tx_frame(rows))
    f = features(warehouse, as_of, CFG.model_copy(update={"time_unit": "days"}))
    stored = clv_model_versions(warehouse).iloc[0]
    assert stored["kind"] == "geometric_nbd"
    model = load_clv_model(warehouse, as_of, "days").params["transactions"]["params"]
    assert model["p"] == pytest.approx(0.08, rel=0.3)
    assert f.loc[f["frequency"] > 0, "p_alive"].between(0, 1).all()


def test_group_scores_line_up_with_their_clients_in_any_order(cdnow):
    """Each client gets its own scores, whatever the order of the frame the group sees."""
    from segmint.clv import clv_features
    from segmint.features._catalog import POST_ENGINE_GROUPS
    from segmint.features._compute import _join_post, build_query

    sql, _cols, _groups, params = build_query(DuckDBEngine(cdnow.con), D0, CFG)
    frame = cdnow.con.execute(sql).df()
    frame = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)  # not by client_id
    group = POST_ENGINE_GROUPS["clv"]
    joined = _join_post(frame, group, params)
    assert joined["client_id"].tolist() == frame["client_id"].tolist()
    summary = btyd_summary(frame)
    scored, _ = clv_features(summary, horizon=12 * 30.4375 / 7, time_unit="weeks", label="12m",
                             discount_rate=float(params["clv_discount_rate"]),
                             margin=float(params["clv_margin"]))
    mine = joined.set_index("client_id").loc[scored["customer_id"], "p_alive"].to_numpy()
    np.testing.assert_allclose(mine, scored["p_alive"].to_numpy(), rtol=1e-9)
    never = joined.loc[joined["frequency"] == 0]
    assert never["p_alive"].isna().all() and (never["clv_12m"] == 0).all()

    # a group returning its clients in another order is joined by client_id
    def shuffled(f, p, c):
        return group.compute(f, p, c).iloc[::-1]

    reordered = _join_post(frame, dataclasses.replace(group, compute=shuffled), params)
    pd.testing.assert_frame_equal(reordered, joined)
