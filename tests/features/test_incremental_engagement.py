"""The engagement part of the incremental state: event counts per client and channel, kept
in step with ``engagement``, equal to a full recompute without scanning all events."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from segmint.config import FeaturesConfig
from segmint.errors import WarehouseError
from segmint.features import (
    SHARED_CTES,
    DuckDBEngine,
    build_state,
    compute_features,
    compute_incremental,
    fold_events,
    state_status,
)
from segmint.features import _snapshot as snapshot
from segmint.features._compute import feature_params
from segmint.features._definitions import compose_ctes
from segmint.features._snapshot import refresh_state, state_usable, write_snapshot

from .conftest import clients_frame, load_tables, tx_frame
from .test_incremental import _events, assert_same

AS_OF = "2024-03-31"
CONFIG = FeaturesConfig(
    engagement_windows_days=[30, 90], digital_channels=["App", "web"], top_channels=3
)
TX = tx_frame(
    [
        ("c0", "2024-01-02 10:00", 10.0, "food", "WEB"),
        ("c0", "2024-03-02 18:00", -4.0, "food", "branch"),
        ("c1", "2024-02-03 09:00", 7.5, "travel", None, True),
    ]
)
EVENTS = _events(
    # c0: events only long before the windows; fax: the most frequent channel, long ago
    [("c0", "2023-05-01 10:00", "APP"), ("c0", "2023-05-02 10:00", None)]
    + [("c3", f"2023-01-{d:02d} 09:00", "fax") for d in range(1, 6)]
    # c1: recent, mixed case; c2: engagement only, a null channel
    + [("c1", "2024-03-20 08:00", "Web"), ("c1", "2024-03-21 08:00", "email"),
       ("c1", "2024-01-15 08:00", "app"), ("c2", "2024-03-30 23:59", None),
       ("c2", "2024-03-01 12:00", "email"), ("c2", "2024-03-01 13:00", "email")]
)
OLD = "TIMESTAMP '2023-12-01'"  # before every window of AS_OF (its events_start: 2024-01-02)


def _warehouse(wh, engagement=EVENTS):
    frames = {"clients": clients_frame(["c0", "c1", "c2", "c3", "c4"]), "transactions": TX}
    if engagement is not None:
        frames["engagement"] = engagement
    return load_tables(wh, **frames)


def _full(wh, as_of=AS_OF, config=CONFIG):
    return compute_features(DuckDBEngine(wh.con), as_of, config)


def test_state_equals_full_and_reads_no_event_before_the_windows(warehouse):
    wh = _warehouse(warehouse)
    build_state(wh, CONFIG)
    full = _full(wh)
    inc = compute_incremental(wh, AS_OF, CONFIG)
    assert_same(full, inc)
    f = inc.set_index("client_id")
    # the event channel list comes from all history: fax, frequent only long ago, leads
    assert [c for c in inc.columns if c.endswith("_30d") and c.startswith("events_")] == [
        "events_30d", "events_fax_30d", "events_email_30d", "events_app_30d"]
    assert f.loc["c3", ["events_fax_90d", "events_90d", "days_active_90d"]].tolist() == [0, 0, 0]
    assert f.loc["c0", "engagement_trend"] == 0.0
    # touches: c0 WEB purchase, branch refund, APP and null-channel events: 2 of 4 digital
    assert f.loc["c0", "digital_share"] == 0.5
    assert f.loc["c2", "digital_share"] == 0.0 and f.loc["c4", "digital_share"] == 0.0
    assert f.loc["c1", ["events_30d", "events_90d", "days_active_30d"]].tolist() == [2, 3, 2]
    assert f.loc["c1", "digital_share"] == pytest.approx(2 / 4)
    # events before the windows edited where the fingerprint cannot see it (same count and
    # timestamps): the state's numbers do not move, so they were not read again
    wh.con.execute(f"UPDATE engagement SET channel = 'web' WHERE ts < {OLD}").fetchall()
    assert state_status(wh, verify=True)["events_in_sync"]
    assert _full(wh).set_index("client_id").loc["c0", "digital_share"] == 0.75
    assert_same(full, compute_incremental(wh, AS_OF, CONFIG))


def test_the_events_relation_holds_only_the_events_of_the_windows(warehouse):
    wh = _warehouse(warehouse)
    # the longest window, or twice the first (the trend's previous window)
    for windows, start in (([30, 90], "2024-01-02"), ([7, 60], "2024-02-01"),
                           ([60, 7], "2023-12-03"), ([100], "2023-09-14")):
        config = FeaturesConfig(engagement_windows_days=windows)
        params = feature_params(DuckDBEngine(wh.con), dt.date(2024, 3, 31), config, [])
        sql = compose_ctes(SHARED_CTES, params, ["events"]) + "\nSELECT min(ts), count(*) FROM events"
        first, n = wh.con.execute(sql).fetchone()
        expected = (EVENTS["ts"] >= pd.Timestamp(start)) & (EVENTS["ts"] < pd.Timestamp("2024-04-01"))
        assert n == expected.sum() and first >= pd.Timestamp(start)


def test_folded_events_merge_per_client_and_channel(warehouse):
    wh = _warehouse(warehouse, EVENTS.iloc[:2])
    build_state(wh, CONFIG)
    assert fold_events(wh, EVENTS.iloc[2:]) == len(EVENTS) - 2
    assert fold_events(wh, _events([("c0", "2024-03-05 10:00", None)])) == 1
    rows = wh.con.execute(
        "SELECT channel, n_events FROM client_events WHERE client_id = 'c0' ORDER BY channel"
    ).fetchall()
    assert rows == [("APP", 1), (None, 2)]  # the null channel: one row, counts added
    totals = dict(wh.con.execute("SELECT channel, n_events FROM event_totals").fetchall())
    assert totals == {"APP": 1, None: 3, "fax": 5, "Web": 1, "email": 3, "app": 1}
    status = state_status(wh, verify=True)
    assert status["events_in_sync"] and status["n_events"] == len(EVENTS) + 1
    assert status["events_last_day"] == dt.date(2024, 3, 30)
    assert_same(_full(wh), compute_incremental(wh, AS_OF, CONFIG))
    with pytest.raises(WarehouseError, match="build_event_state"):
        fold_events(wh, EVENTS.iloc[:1], append=False)  # not in `engagement`


def test_events_after_the_date_are_subtracted(warehouse):
    later = _events([("c1", "2024-04-01 00:00", "fax"), ("c4", "2024-04-03 10:00", "web")]
                    + [("c2", "2024-04-02 10:00", "phone")] * 6)
    wh = _warehouse(warehouse, pd.concat([EVENTS, later], ignore_index=True))
    build_state(wh, CONFIG)
    assert state_usable(wh, dt.date(2024, 3, 31), CONFIG)
    for as_of in ("2024-03-31", "2024-04-02", "2024-04-30"):
        full = _full(wh, as_of)
        assert_same(full, compute_incremental(wh, as_of, CONFIG))
        some = full[full["client_id"].isin(["c2", "c4"])].reset_index(drop=True)
        assert_same(some, compute_incremental(wh, as_of, CONFIG, clients=["c2", "c4"]))
    inc = compute_incremental(wh, "2024-03-31", CONFIG).set_index("client_id")
    assert "events_phone_30d" not in inc.columns and inc.loc["c4", "digital_share"] == 0.0


def test_an_event_edited_in_place_rebuilds_only_the_engagement_part(warehouse, monkeypatch):
    wh = _warehouse(warehouse)
    build_state(wh, CONFIG)
    assert refresh_state(wh, CONFIG) == "in_sync"
    wh.con.execute(
        "UPDATE engagement SET ts = TIMESTAMP '2023-06-01' WHERE ts = TIMESTAMP '2024-03-20 08:00'"
    ).fetchall()
    assert state_status(wh)["events_in_sync"]  # same count
    assert not state_status(wh, verify=True)["events_in_sync"]
    monkeypatch.setattr(snapshot, "build_state", None)  # the transactions' part is kept
    assert refresh_state(wh, CONFIG) == "rebuilt"
    assert state_status(wh, verify=True)["events_in_sync"]
    assert_same(_full(wh), compute_incremental(wh, AS_OF, CONFIG))


def test_engagement_arriving_later_is_picked_up(warehouse):
    wh = _warehouse(warehouse, engagement=None)
    build_state(wh, CONFIG)
    assert_same(_full(wh), compute_incremental(wh, AS_OF, CONFIG))
    assert "digital_share" not in compute_incremental(wh, AS_OF, CONFIG).columns
    load_tables(wh, engagement=EVENTS)
    assert not state_status(wh)["events_in_sync"]
    assert not state_usable(wh, dt.date(2024, 3, 31), CONFIG)
    assert write_snapshot(wh, AS_OF, CONFIG).mode == "full"
    with pytest.raises(WarehouseError, match="build_event_state"):
        compute_incremental(wh, AS_OF, CONFIG)
    # the ingest loaded engagement for the first time; transactions were unchanged
    assert refresh_state(wh, CONFIG, mode="unchanged", events_mode="reloaded") == "rebuilt"
    assert_same(_full(wh), compute_incremental(wh, AS_OF, CONFIG))
    assert write_snapshot(wh, AS_OF, CONFIG).mode == "incremental"


def test_refresh_folds_the_events_an_ingest_appended(warehouse):
    wh = _warehouse(warehouse, EVENTS.iloc[:6])
    build_state(wh, CONFIG)
    new = EVENTS.iloc[6:]
    wh.con.register("_new", new)
    wh.con.execute("CREATE TABLE _appended_engagement AS SELECT * FROM _new").fetchall()
    wh.con.execute("INSERT INTO engagement BY NAME SELECT * FROM _new").fetchall()
    wh.con.unregister("_new")
    done = refresh_state(wh, CONFIG, mode="unchanged", events_mode="appended",
                         events_appended="_appended_engagement")
    assert done == "folded"
    assert state_status(wh, verify=True)["n_events"] == len(EVENTS)
    assert_same(_full(wh), compute_incremental(wh, AS_OF, CONFIG))
