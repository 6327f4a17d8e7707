"""Incremental state: folds in any batches equal a full recompute; refusals are explicit."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.config import FeaturesConfig
from segmint.errors import FeatureError, WarehouseError
from segmint.features import (
    GROUPS,
    INCREMENTAL_GROUPS,
    DuckDBEngine,
    IncrementalFeatures,
    _incremental,
    build_state,
    compute_features,
    compute_incremental,
    fold,
    fold_events,
)
from segmint.store import Warehouse

from .conftest import clients_frame, load_tables, tx_frame

START = dt.datetime(2024, 1, 1)
CATS = ["food", "travel", "Fun & Games", None]
CHANS = ["web", "Mobile", "branch", None]
EVENT_CHANS = ["app", "App", "WEB", "email", "phone", None]


def assert_same(full: pd.DataFrame, inc: pd.DataFrame) -> None:
    """Equal columns, rows and values: exactly (amounts are summed as decimals, in any
    order), except the gap deviation, computed from the state's sum of squares."""
    assert list(inc.columns) == list(full.columns)
    assert inc["client_id"].tolist() == full["client_id"].tolist()
    for col in full.columns:
        a, b = full[col].to_numpy(), inc[col].to_numpy()
        if col == "ipt_cv":
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=0, equal_nan=True, err_msg=col)
        elif full[col].dtype.kind == "f":
            np.testing.assert_array_equal(b, a, err_msg=col)
        else:
            assert (a == b).all(), col


def _warehouse(tx: pd.DataFrame, n_clients: int, engagement: pd.DataFrame | None = None):
    wh = Warehouse(":memory:")
    frames = {"clients": clients_frame([f"c{i}" for i in range(n_clients)]), "transactions": tx}
    if engagement is not None:
        frames["engagement"] = engagement
    return load_tables(wh, **frames)


transaction = st.tuples(
    st.integers(0, 5),  # client
    st.integers(0, 45 * 24 * 4),  # quarter hours from START: same days are frequent
    st.integers(-5_000, 20_000),  # cents; negative = refund, 0 = free item
    st.sampled_from(CATS),
    st.sampled_from(CHANS),
    st.sampled_from([True, False, None]),
)


event = st.tuples(
    st.integers(0, 9),  # client: c6..c9 have no transaction (engagement-only)
    st.integers(-120 * 24, 45 * 24),  # hours from START: many before the windows
    st.sampled_from(EVENT_CHANS),
    st.integers(0, 4),  # the cycle folding it (0: in the warehouse when the state is built)
)


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(transaction, min_size=1, max_size=60),
    cuts=st.lists(st.floats(0, 1), max_size=4),
    shuffle=st.booleans(),
    afters=st.lists(st.integers(0, 40), min_size=5, max_size=5),
    subset=st.sets(st.integers(0, 9), max_size=3),
    events=st.lists(event, max_size=40),
)
def test_folds_equal_full_recompute(rows, cuts, shuffle, afters, subset, events):
    """Any sequence of cycles: each folds a batch of transactions and one of events (at any
    timestamps: late ones, and ones after the date), then computes as of a date on or after
    its last transaction (the windows move forward and back), as a full run would."""
    tx = tx_frame(
        [
            (f"c{c}", str(START + dt.timedelta(minutes=15 * q)), cents / 100, cat, ch, promo)
            for c, q, cents, cat, ch, promo in rows
        ]
    )
    # batches cut at random points of the time order, or in any order (late data)
    tx = tx.sample(frac=1, random_state=len(rows)) if shuffle else tx.sort_values("ts")
    tx = tx.reset_index(drop=True)
    bounds = sorted({0, len(tx), *(int(c * len(tx)) for c in cuts)})
    ev = _events([(f"c{c}", START + dt.timedelta(hours=h), ch) for c, h, ch, _ in events])
    batch_of = np.minimum([e[3] for e in events], len(bounds) - 2).astype(int)
    wh = _warehouse(tx.iloc[bounds[0] : bounds[1]], 10, ev[batch_of == 0])
    config = FeaturesConfig(
        trend_window_days=10, top_categories=2, top_channels=3,
        engagement_windows_days=[7, 20], digital_channels=["App", "web"],
    )
    build_state(wh, config)
    ids = [f"c{i}" for i in sorted(subset)]  # c8, c9 have no transaction
    for cycle, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        as_of = _as_of(tx, hi, afters[cycle % 5])
        if cycle:
            assert fold(wh, tx.iloc[lo:hi]) == hi - lo
            assert fold_events(wh, ev[batch_of == cycle]) == int((batch_of == cycle).sum())
        full = compute_features(DuckDBEngine(wh.con), as_of, config)
        assert_same(full, compute_incremental(wh, as_of, config))
        some = compute_incremental(wh, as_of, config, clients=ids)
        assert_same(full[full["client_id"].isin(ids)].reset_index(drop=True), some)
    wh.close()


def _as_of(tx: pd.DataFrame, hi: int, after: int) -> dt.date:
    return (tx["ts"].iloc[:hi].max() + pd.Timedelta(days=after)).date()


def _events(rows: list[tuple]) -> pd.DataFrame:
    """Engagement events from (client_id, ts, channel) tuples."""
    frame = pd.DataFrame(rows, columns=["client_id", "ts", "channel"]).astype(
        {"client_id": object, "channel": object})
    frame["ts"] = pd.to_datetime(frame["ts"])
    frame["event_type"] = "login"
    return frame


def test_engagement_groups_and_digital_share_match(warehouse):
    tx = tx_frame(
        [
            ("c0", "2024-01-02 10:00", 10.0, "food", "WEB"),
            ("c0", "2024-01-02 18:00", -4.0, "food", "branch"),
            ("c1", "2024-02-03 09:00", 7.5, "travel", None, True),
        ]
    )
    engagement = pd.DataFrame(
        {
            "client_id": ["c0", "c1", "c2"],
            "ts": pd.to_datetime(["2024-01-20", "2024-02-01", "2024-02-10"]),
            "channel": ["app", "email", "mobile"],
            "event_type": ["login"] * 3,
        }
    )
    wh = load_tables(
        warehouse, clients=clients_frame(["c0", "c1", "c2"]), transactions=tx.iloc[:1],
        engagement=engagement,
    )
    IncrementalFeatures(wh).build_state()
    fold(wh, tx.iloc[1:])
    full = compute_features(DuckDBEngine(wh.con), "2024-02-29")
    inc = compute_incremental(wh, "2024-02-29")
    assert_same(full, inc)
    # c0: web purchase + branch refund + app event = 2 digital touches of 3
    assert inc.set_index("client_id").loc["c0", "digital_share"] == pytest.approx(2 / 3)


def test_every_feature_of_the_covered_groups_is_derived_from_its_definition():
    replaced = _incremental.state_sets()
    for group in INCREMENTAL_GROUPS:
        for s in GROUPS[group].sets:
            # run as defined, on the incremental rfm relation (tenure: on clients and it)
            if group == "rfm_scores" or s.name == "tenure":
                assert s.name not in replaced
                continue
            assert [f.name for f in replaced[s.name].features] == [f.name for f in s.features]
            for f in replaced[s.name].features:
                assert not _incremental._aggregate_call().search(f.expr), f.name


def test_a_definition_the_state_cannot_hold_is_refused(monkeypatch):
    rfm = GROUPS["rfm"]
    odd = rfm.sets[0].features[0].__class__(
        "median_day_spend", "rfm", "median", "currency", "MEDIAN(amount)", "0.0", "DOUBLE",
        ("transactions",),
    )
    patched = dict(GROUPS)
    patched["rfm"] = rfm.__class__(
        rfm.name, rfm.description, rfm.entities,
        (rfm.sets[0].__class__("rfm", "purchase_days", (*rfm.sets[0].features, odd)),),
    )
    monkeypatch.setattr(_incremental, "GROUPS", patched)
    _incremental.state_sets.cache_clear()
    try:
        with pytest.raises(FeatureError, match="median_day_spend"):
            _incremental.state_sets()
    finally:
        _incremental.state_sets.cache_clear()


def test_state_out_of_sync_and_past_dates_are_refused(warehouse):
    tx = tx_frame([("c0", "2024-01-02 10:00", 10.0), ("c0", "2024-03-02 10:00", 5.0)])
    wh = load_tables(warehouse, clients=clients_frame(["c0"]), transactions=tx.iloc[:1])
    with pytest.raises(WarehouseError, match="build_state"):
        compute_incremental(wh, "2024-01-31")
    build_state(wh)
    fold(wh, tx.iloc[1:])
    with pytest.raises(FeatureError, match="compute_features"):
        compute_incremental(wh, "2024-02-01")
    wh.con.execute("DELETE FROM transactions WHERE amount = 5.0")
    with pytest.raises(WarehouseError, match="rebuild"):
        compute_incremental(wh, "2024-03-31")
    assert build_state(wh) == 1
    assert compute_incremental(wh, "2024-03-31")["frequency"].tolist() == [1]


def test_hand_computed_state_after_same_day_fold(warehouse):
    tx = tx_frame(
        [
            ("c0", "2024-01-01 09:00", 10.0),
            ("c0", "2024-01-03 09:00", 20.0),
            ("c0", "2024-01-03 20:00", 5.0),  # same day, next batch
            ("c0", "2024-01-07 09:00", 1.0),
        ]
    )
    wh = load_tables(warehouse, clients=clients_frame(["c0"]), transactions=tx.iloc[:2])
    build_state(wh)
    fold(wh, tx.iloc[2:])
    # day rows are appended per batch: 3 January has a row from each
    days = wh.con.execute(
        "SELECT day, n_purch, spend::DOUBLE FROM client_day_agg ORDER BY day, spend"
    ).fetchall()
    assert days == [
        (dt.date(2024, 1, 1), 1, 10.0),
        (dt.date(2024, 1, 3), 1, 5.0),
        (dt.date(2024, 1, 3), 1, 20.0),
        (dt.date(2024, 1, 7), 1, 1.0),
    ]
    row = wh.con.execute(
        "SELECT n_days, first_day, last_day, first_day_spend::DOUBLE, gap_sum2 FROM client_agg"
    ).fetchone()
    assert row == (3, dt.date(2024, 1, 1), dt.date(2024, 1, 7), 10.0, 2 * 2 + 4 * 4)
    f = compute_incremental(wh, "2024-01-07").iloc[0]
    assert f["ipt_mean_days"] == 3.0
    assert f["ipt_cv"] == pytest.approx(1 / 3)  # gaps 2, 4: sd 1, mean 3
    assert f["monetary_repeat_mean"] == 13.0


def test_post_engine_groups_of_a_few_clients_see_the_population(warehouse, monkeypatch):
    from segmint.features import POST_ENGINE_GROUPS, PostEngineGroup

    def share_of_buyers_below(frame, _params, context):  # depends on every client, like a fit
        population = frame if context.population is None else context.population()
        buyers = population[population["frequency"] > 0]
        below = buyers["frequency"].rank(method="min") - 1
        out = pd.DataFrame({"client_id": buyers["client_id"], "below": below / len(buyers)})
        return out[out["client_id"].isin(frame["client_id"])]

    feature = GROUPS["rfm"].features[0].__class__(
        "below", "pop", "rank", "share", "python", "NULL", "DOUBLE", ("transactions",)
    )
    group = PostEngineGroup("pop", "test", ("rfm",), (feature,), share_of_buyers_below)
    monkeypatch.setitem(POST_ENGINE_GROUPS, "pop", group)
    tx = tx_frame([(f"c{i}", f"2024-01-{1 + j:02d} 10:00", 5.0) for i in range(4) for j in range(i + 1)])
    wh = load_tables(warehouse, clients=clients_frame([f"c{i}" for i in range(5)]), transactions=tx)
    build_state(wh)
    full = compute_features(DuckDBEngine(wh.con), "2024-02-01")
    some = compute_incremental(wh, "2024-02-01", clients=["c3", "c4"])
    assert_same(full[full["client_id"].isin(["c3", "c4"])].reset_index(drop=True), some)
    assert some["below"].iloc[0] == 0.75 and np.isnan(some["below"].iloc[1])


def test_layout_changes_rebuild_the_layout_columns_and_stay_exact(warehouse, monkeypatch):
    """Another trend window, digital set or a top-N value without a column (the state
    holds a column per value only up to MAX_LAYOUT_VALUES) rebuild the layout once."""
    monkeypatch.setattr(_incremental, "MAX_LAYOUT_VALUES", 1)
    rows = [
        ("c0", "2024-01-02 10:00", 10.0, "food", "web"),
        ("c1", "2024-01-03 10:00", 4.0, "travel", "branch"),
        ("c1", "2024-01-20 10:00", 3.0, "fun", "mobile"),
        ("c2", "2024-02-01 10:00", 9.0, "travel", "web"),
        ("c2", "2024-02-02 10:00", 9.0, "travel", "branch"),  # travel overtakes food
    ]
    tx = tx_frame(rows)
    wh = load_tables(warehouse, clients=clients_frame(["c0", "c1", "c2"]), transactions=tx.iloc[:3])
    one = FeaturesConfig(top_categories=1, top_channels=1, trend_window_days=7)
    build_state(wh, one)
    assert _incremental.state_status(wh)["layout"].categories == ("food",)
    fold(wh, tx.iloc[3:])
    configs = [
        one,  # travel now leads: a column is added
        one.model_copy(update={"trend_window_days": 20}),
        one.model_copy(update={"digital_channels": ["branch"]}),
        FeaturesConfig(top_categories=3, top_channels=3),
    ]
    for config in configs:
        full = compute_features(DuckDBEngine(wh.con), "2024-02-10", config)
        assert_same(full, compute_incremental(wh, "2024-02-10", config))
    layout = _incremental.state_status(wh)["layout"]
    assert set(layout.categories) == {"food", "travel", "fun"} and layout.window_days == 90
