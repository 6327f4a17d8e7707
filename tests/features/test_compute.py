"""Features on hand-computed fixtures, a brute-force oracle, point-in-time and snapshots."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from segmint.config import FeaturesConfig
from segmint.errors import FeatureError, WarehouseError
from segmint.features import (
    POST_ENGINE_GROUPS,
    DuckDBEngine,
    Feature,
    PostEngineGroup,
    btyd_summary,
    compute_features,
    store_snapshot,
)
from segmint.features._compute import skipped_groups
from segmint.store import Warehouse

from .conftest import clients_frame, load_tables, tx_frame

AS_OF = "2024-03-31"

TX_ROWS = [
    ("a", "2024-01-05 10:00", 10.0, "food", "web", False),
    ("a", "2024-01-05 19:00", 30.0, "travel", "branch", True),
    ("a", "2024-02-10 02:00", 20.0, "food", "web", False),  # a Saturday
    ("a", "2024-03-01 14:00", -10.0, "food", "web", False),  # refund
    ("a", "2024-03-21 08:00", 80.0, "food", "mobile", True),
    ("a", "2024-04-02 09:00", 500.0, "food", "web", False),  # after as_of
    ("b", "2024-03-31 23:59", 5.0, "travel", "web", False),  # last minute of as_of
    ("e", "2024-02-01 12:00", 0.0, "food", "web", False),  # free item: a purchase
    ("d", "2024-04-20 12:00", 100.0, "books", "web", False),  # onboarded after as_of
]


def basic_warehouse(wh: Warehouse) -> Warehouse:
    clients = clients_frame(
        ["a", "b", "c", "d", "e"],
        ["2020-01-01", "2024-03-31", "2021-01-01", "2024-04-15", None],
    )
    return load_tables(wh, clients=clients, transactions=tx_frame(TX_ROWS))


CFG = FeaturesConfig(
    groups=["rfm", "rfm_scores", "behaviour"], trend_window_days=30, top_categories=2,
    top_channels=2,
)


def by_client(frame: pd.DataFrame) -> dict[str, dict]:
    return {r["client_id"]: r for r in frame.to_dict("records")}


def test_hand_computed_rfm_scores_behaviour(warehouse, engine_for):
    f = compute_features(engine_for(basic_warehouse(warehouse)), AS_OF, CFG)
    assert list(f["client_id"]) == ["a", "b", "c", "e"]  # d onboarded after as_of
    rows = by_client(f)
    a, b, c, e = rows["a"], rows["b"], rows["c"], rows["e"]
    # a: purchase days 01-05 (40), 02-10 (20), 03-21 (80); refund and 04-02 excluded
    assert (a["frequency"], a["repeat_frequency"], a["btyd_x"]) == (3, 2, 2)
    assert a["monetary_total"] == 140.0
    assert a["monetary_mean"] == pytest.approx(140 / 3)
    assert a["monetary_repeat_mean"] == 50.0
    # tenure counts from onboarding (2020-01-01), not from the first purchase (86 days)
    assert (a["recency_days"], a["tenure_days"], a["btyd_T"] * 7) == (10.0, 1551.0, 86.0)
    assert a["btyd_t_x"] == pytest.approx(76 / 7)
    assert a["btyd_T"] == pytest.approx(86 / 7)
    assert a["ipt_mean_days"] == 38.0  # gaps 36 and 40
    assert a["ipt_cv"] == pytest.approx(2 / 38)
    assert a["spend_last_window"] == 80.0  # 03-02 .. 03-31
    assert a["spend_trend"] == pytest.approx((80 - 20) / 100)
    # top categories by spend as of: food 110, travel 35 (books is after as_of)
    assert a["share_cat_food"] == pytest.approx(110 / 140)
    assert a["share_cat_travel"] == pytest.approx(30 / 140)
    assert "share_cat_books" not in f.columns
    # channels by purchase count: web 4, then branch/mobile tie 1-1 -> branch by name
    assert a["share_channel_web"] == 0.5 and a["share_channel_branch"] == 0.25
    assert "share_channel_mobile" not in f.columns
    assert a["weekend_share"] == 0.25
    assert (a["share_morning"], a["share_afternoon"], a["share_evening"], a["share_night"]) == (
        0.5, 0.0, 0.25, 0.25,
    )
    assert a["promo_share"] == 0.5
    assert a["promo_uplift"] == pytest.approx(55 / 15 - 1)
    assert a["refund_rate"] == pytest.approx(1 / 5)
    # b: one purchase in the last minute of as_of
    assert (b["frequency"], b["recency_days"], b["tenure_days"], b["btyd_T"]) == (1, 0.0, 0.0, 0.0)
    assert b["monetary_repeat_mean"] == 0.0 and b["btyd_t_x"] == 0.0
    assert math.isnan(b["ipt_mean_days"]) and math.isnan(b["ipt_cv"])
    assert b["spend_trend"] == 1.0
    # e: a free item is a purchase; shares of a zero spend are 0
    assert (e["frequency"], e["monetary_total"], e["share_cat_food"]) == (1, 0.0, 0.0)
    assert e["share_channel_web"] == 1.0
    assert e["tenure_days"] == 59.0  # no onboarding date: from the first purchase (2024-02-01)
    # c: no transaction -> documented defaults
    assert (c["frequency"], c["repeat_frequency"], c["btyd_x"], c["monetary_total"]) == (0, 0, 0, 0.0)
    assert math.isnan(c["recency_days"]) and c["tenure_days"] == 1185.0  # onboarded 2021-01-01
    assert math.isnan(c["btyd_T"]) and c["btyd_t_x"] == 0.0
    assert (c["spend_trend"], c["refund_rate"], c["promo_uplift"]) == (0.0, 0.0, 0.0)
    # scores among buyers a, b, e: rank-based quintiles, ties share the score; the best
    # value scores 5 (b's recency, a's frequency and spend)
    assert (a["r_score"], a["f_score"], a["m_score"], a["rfm_cell"]) == (2, 5, 5, "255")
    assert (b["r_score"], b["f_score"], b["m_score"], b["rfm_cell"]) == (5, 1, 2, "512")
    assert (e["r_score"], e["f_score"], e["m_score"], e["rfm_cell"]) == (1, 1, 1, "111")
    assert (c["r_score"], c["rfm_cell"]) == (0, "000")


def test_dtypes_are_stable(warehouse):
    f = compute_features(DuckDBEngine(basic_warehouse(warehouse).con), AS_OF, CFG)
    assert f["frequency"].dtype == "int64" and f["r_score"].dtype == "int64"
    assert f["recency_days"].dtype == "float64" and f["monetary_total"].dtype == "float64"


def test_holdings_value_engagement(warehouse, engine_for):
    wh = basic_warehouse(warehouse)
    holdings = pd.DataFrame(
        {
            "client_id": ["a", "a", "a", "a"],
            "product_id": ["p1", "p2", "p3", "p4"],
            "product_type": ["current", "loan", "card", "savings"],
            "opened_at": pd.to_datetime(["2020-01-01", "2023-06-15", "2024-01-10", "2024-04-10"]),
            "closed_at": pd.to_datetime([None, None, "2024-03-31", None]),
            "balance": [1000.0, -5000.0, 0.0, 700.0],
        }
    )
    profit = pd.DataFrame(
        {
            "client_id": ["a"] * 4,
            "period": pd.to_datetime(["2023-03-01", "2023-04-01", "2024-03-01", "2024-04-01"]),
            "revenue": [100.0, 50.0, 30.0, 999.0],
            "cost": [10.0, 20.0, 5.0, 1.0],
        }
    )
    events = pd.DataFrame(
        {
            "client_id": ["a"] * 6,
            "ts": pd.to_datetime(
                ["2024-03-30 10:00", "2024-03-30 11:00", "2024-03-15 00:00", "2024-02-15 00:00",
                 "2023-12-01 00:00", "2024-04-05 00:00"]
            ),
            "channel": ["web", "web", "email", "app", "web", "web"],
            "event_type": ["login"] * 6,
        }
    )
    load_tables(wh, holdings=holdings, profitability=profit, engagement=events)
    f = compute_features(
        engine_for(wh), AS_OF, FeaturesConfig(groups=["holdings", "value", "engagement"])
    )
    a, b = by_client(f)["a"], by_client(f)["b"]
    assert a["n_products"] == 2  # card closed on as_of, savings opened after
    assert (a["n_products_current"], a["n_products_loan"], a["n_products_card"]) == (1, 1, 0)
    assert "n_products_savings" not in f.columns
    assert (a["total_balance"], a["assets"], a["liabilities"]) == (-4000.0, 1000.0, 5000.0)
    assert a["months_since_last_open"] == pytest.approx(81 / 30.4375)
    assert (a["revenue_12m"], a["cost_12m"], a["margin_12m"]) == (80.0, 25.0, 55.0)
    assert (a["events_30d"], a["events_90d"]) == (3, 4)
    assert (a["events_web_30d"], a["events_email_30d"], a["events_app_90d"]) == (2, 1, 1)
    assert (a["days_active_30d"], a["days_active_90d"]) == (2, 3)
    assert a["engagement_trend"] == pytest.approx((3 - 1) / 4)
    assert a["digital_share"] == pytest.approx(8 / 10)
    assert (b["n_products"], b["total_balance"], b["events_30d"], b["revenue_12m"]) == (0, 0.0, 0, 0.0)
    assert math.isnan(b["months_since_last_open"])
    assert b["digital_share"] == 1.0  # one web transaction, no event


def test_groups_follow_the_tables(warehouse):
    wh = basic_warehouse(warehouse)
    f = compute_features(DuckDBEngine(wh.con), AS_OF)  # no holdings/engagement/profitability
    assert "r_score" in f.columns and "n_products" not in f.columns and "events_30d" not in f.columns
    with pytest.raises(FeatureError, match="holdings"):
        compute_features(DuckDBEngine(wh.con), AS_OF, FeaturesConfig(groups=["holdings"]))
    f = compute_features(DuckDBEngine(wh.con), AS_OF, FeaturesConfig(groups=["rfm_scores"]))
    assert {"frequency", "r_score"} <= set(f.columns)  # rfm added as a prerequisite


def test_missing_base_tables_is_a_clear_error(warehouse):
    with pytest.raises(WarehouseError, match="table.s. clients,"):
        compute_features(DuckDBEngine(warehouse.con), AS_OF)


def test_without_transactions_their_groups_are_skipped(warehouse):
    load_tables(warehouse, clients=clients_frame(["a", "b"]), transactions=tx_frame([]))
    engine = DuckDBEngine(warehouse.con)
    skipped = skipped_groups(engine, FeaturesConfig())
    assert skipped["rfm"] == "no transactions data" and "clv" in skipped
    f = compute_features(engine, AS_OF)
    assert list(f.columns) == ["client_id"] and list(f["client_id"]) == ["a", "b"]


def test_bad_as_of(warehouse):
    with pytest.raises(FeatureError, match="not a date"):
        compute_features(DuckDBEngine(basic_warehouse(warehouse).con), "31/03/2024")


def test_score_bins_and_separator(warehouse):
    wh = basic_warehouse(warehouse)
    f = compute_features(DuckDBEngine(wh.con), AS_OF, FeaturesConfig(groups=["rfm_scores"], score_bins=10))
    # recency rank 2 of 3 buyers; a has the best frequency and spend: 10
    assert by_client(f)["a"]["rfm_cell"] == "4-10-10"
    assert by_client(f)["c"]["rfm_cell"] == "0-0-0"


def heavy_ties_warehouse(wh: Warehouse) -> Warehouse:
    """40 clients: 30 billed on the as-of day (10 each), 10 billed 5..50 days before;
    frequency 1 for 30 of them; spend ties at the top (10 clients with 900)."""
    rows = []
    for i in range(30):
        rows.append((f"c{i:02d}", "2024-03-31 09:00", 900.0 if i < 10 else 10.0))
    for i in range(30, 40):
        day = dt.date(2024, 3, 31) - dt.timedelta(days=5 * (i - 29))
        rows.append((f"c{i:02d}", f"{day} 09:00", 20.0 + i))
        rows.append((f"c{i:02d}", f"{day - dt.timedelta(days=1)} 09:00", 1.0))
    clients = clients_frame([f"c{i:02d}" for i in range(40)])
    return load_tables(wh, clients=clients, transactions=tx_frame(rows))


def test_heavy_ties_get_the_score_of_their_value(warehouse, engine_for):
    f = compute_features(
        engine_for(heavy_ties_warehouse(warehouse)), AS_OF, FeaturesConfig(groups=["rfm_scores"])
    )
    rows = by_client(f)
    billed_today = [rows[f"c{i:02d}"] for i in range(30)]
    # 30 of 40 share the best recency: all get the best score (RANK() alone gave them 2)
    assert {r["r_score"] for r in billed_today} == {5}
    # the others by how many buyers are worse: c30 (5 days) has 9 worse -> 1 + floor(45/40),
    # c31 8 worse -> 1 + floor(40/40), c32 7 worse -> 1 + floor(35/40) ...
    assert [rows[f"c{i:02d}"]["r_score"] for i in range(30, 40)] == [2, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    # frequency: 30 tie at the worst value (1 day) -> 1; the 10 with 2 days are the best -> 5
    assert {r["f_score"] for r in billed_today} == {1}
    assert {rows[f"c{i:02d}"]["f_score"] for i in range(30, 40)} == {5}
    # monetary: the 10 tied at the top (900) -> 5; 20 tied at the bottom (10) -> 1
    assert {rows[f"c{i:02d}"]["m_score"] for i in range(10)} == {5}
    assert {rows[f"c{i:02d}"]["m_score"] for i in range(10, 30)} == {1}
    # c30..c39 spend 51..60: 20 buyers below them -> 1 + floor(5 * (20 + k) / 40)
    assert [rows[f"c{i:02d}"]["m_score"] for i in range(30, 40)] == [
        1 + (5 * (20 + k)) // 40 for k in range(10)
    ]


def test_time_unit_days(warehouse):
    wh = basic_warehouse(warehouse)
    f = compute_features(DuckDBEngine(wh.con), AS_OF, FeaturesConfig(groups=["rfm"], time_unit="days"))
    assert by_client(f)["a"]["btyd_T"] == 86.0


# -- point in time ------------------------------------------------------------------


def test_records_after_as_of_change_nothing():
    late_tx = TX_ROWS + [
        ("a", "2024-04-01 00:00", 1000.0, "books", "phone", True),
        ("c", "2024-05-01", 5.0, "books", "phone", False),
        ("b", "2024-04-01 00:00:01", -5.0, "travel", "web", False),
    ]
    holdings = pd.DataFrame(
        {"client_id": ["a"], "product_id": ["p1"], "product_type": ["loan"],
         "opened_at": pd.to_datetime(["2024-01-01"]), "closed_at": pd.to_datetime([None]),
         "balance": [-10.0]}
    )
    late_holdings = pd.concat([holdings, pd.DataFrame(
        {"client_id": ["a", "b"], "product_id": ["p2", "p3"], "product_type": ["card", "fx"],
         "opened_at": pd.to_datetime(["2024-04-01", "2024-06-01"]),
         "closed_at": pd.to_datetime([None, None]), "balance": [5.0, 6.0]}
    )], ignore_index=True)
    profit = pd.DataFrame({"client_id": ["a"], "period": pd.to_datetime(["2024-03-01"]),
                           "revenue": [3.0], "cost": [1.0]})
    late_profit = pd.concat([profit, pd.DataFrame(
        {"client_id": ["a"], "period": pd.to_datetime(["2024-04-01"]), "revenue": [9.0], "cost": [2.0]}
    )], ignore_index=True)
    events = pd.DataFrame({"client_id": ["a"], "ts": pd.to_datetime(["2024-03-31 23:00"]),
                           "channel": ["web"], "event_type": ["login"]})
    late_events = pd.concat([events, pd.DataFrame(
        {"client_id": ["b", "a"], "ts": pd.to_datetime(["2024-04-01", "2024-04-03"]),
         "channel": ["sms", "web"], "event_type": ["login", "login"]}
    )], ignore_index=True)
    clients = clients_frame(["a", "b", "c", "d", "e"],
                            ["2020-01-01", "2024-03-31", "2021-01-01", "2024-04-15", None])
    late_clients = pd.concat([clients, clients_frame(["z"], ["2024-04-01"])], ignore_index=True)

    def features(tx_rows, hold, prof, ev, cl):
        with Warehouse(":memory:") as wh:
            load_tables(wh, clients=cl, transactions=tx_frame(tx_rows), holdings=hold,
                        profitability=prof, engagement=ev)
            return compute_features(DuckDBEngine(wh.con), AS_OF)

    before = features(TX_ROWS, holdings, profit, events, clients)
    after = features(late_tx, late_holdings, late_profit, late_events, late_clients)
    pd.testing.assert_frame_equal(before, after)
    # every group took part
    assert {"r_score", "refund_rate", "events_30d", "n_products", "revenue_12m"} <= set(before.columns)


# -- brute-force oracle ----------------------------------------------------------------

ORACLE_AS_OF = dt.date(2024, 2, 15)


def oracle(rows: list[tuple[str, dt.datetime, float]], as_of: dt.date) -> dict[str, dict]:
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    out = {}
    for client in {r[0] for r in rows}:
        days: dict[dt.date, float] = {}
        for c, ts, amount in rows:
            if c == client and ts < end and amount >= 0:
                days[ts.date()] = days.get(ts.date(), 0.0) + amount
        n = len(days)
        if n == 0:
            out[client] = {"frequency": 0, "monetary_total": 0.0, "monetary_mean": 0.0,
                           "monetary_repeat_mean": 0.0, "recency_days": None,
                           "tenure_days": None, "btyd_x": 0, "btyd_t_x": 0.0, "btyd_T": None}
            continue
        first, last = min(days), max(days)
        total = sum(days.values())
        out[client] = {
            "frequency": n,
            "monetary_total": total,
            "monetary_mean": total / n,
            "monetary_repeat_mean": (total - days[first]) / (n - 1) if n > 1 else 0.0,
            "recency_days": (as_of - last).days,
            "tenure_days": (as_of - first).days,
            "btyd_x": n - 1,
            "btyd_t_x": (last - first).days / 7,
            "btyd_T": (as_of - first).days / 7,
        }
    return out


_rows = st.lists(
    st.tuples(
        st.sampled_from(["c0", "c1", "c2", "c3"]),
        st.integers(0, 24 * 60).map(
            lambda h: dt.datetime(2024, 1, 1) + dt.timedelta(hours=h)
        ),  # same-day purchases are common: 24 hours per day
        st.one_of(
            st.sampled_from([-20.0, -0.5, 0.0, 9.99, 10.0, 250.0]),
            st.floats(-100, 1000, allow_nan=False).map(lambda x: round(x, 2)),
        ),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows, as_of_offset=st.integers(-5, 70))
@example(  # same-day purchases, a refund on a purchase day, a single purchase, refunds only
    rows=[
        ("c0", dt.datetime(2024, 1, 3, 9), 10.0),
        ("c0", dt.datetime(2024, 1, 3, 18), 5.0),
        ("c0", dt.datetime(2024, 1, 3, 19), -5.0),
        ("c0", dt.datetime(2024, 1, 9, 1), 2.5),
        ("c1", dt.datetime(2024, 1, 5, 23), 7.0),
        ("c2", dt.datetime(2024, 1, 6, 12), -3.0),
    ],
    as_of_offset=10,
)
def test_rfm_matches_brute_force_oracle(rows, as_of_offset):
    as_of = dt.date(2024, 1, 1) + dt.timedelta(days=as_of_offset)
    with Warehouse(":memory:") as wh:
        load_tables(
            wh,
            clients=clients_frame(["c0", "c1", "c2", "c3"]),
            transactions=tx_frame([(c, ts, a) for c, ts, a in rows]),
        )
        f = compute_features(DuckDBEngine(wh.con), as_of, FeaturesConfig(groups=["rfm"]))
    got = by_client(f)
    want = oracle(rows + [("c3", dt.datetime(2030, 1, 1), 1.0)], as_of)  # c3 may be empty
    assert set(got) == {"c0", "c1", "c2", "c3"}
    for client, expected in want.items():
        for name, value in expected.items():
            actual = got[client][name]
            if value is None:
                assert math.isnan(actual), (client, name, actual)
            else:
                assert actual == pytest.approx(value, rel=1e-9, abs=1e-9), (client, name)
        assert got[client]["repeat_frequency"] == max(expected["frequency"] - 1, 0)


def test_btyd_summary_vocabulary(warehouse):
    f = compute_features(DuckDBEngine(basic_warehouse(warehouse).con), AS_OF, CFG)
    s = btyd_summary(f)
    assert list(s.columns) == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    assert list(s["customer_id"]) == ["a", "b", "e"]  # buyers only
    assert s.set_index("customer_id").loc["a", "monetary_value"] == 50.0


def test_post_engine_group_hook(warehouse, monkeypatch):
    def compute(frame, params, context):
        s = btyd_summary(frame)
        return pd.DataFrame({"client_id": s["customer_id"], "twice_x": 2 * s["frequency"]})

    feature = Feature("twice_x", "double", "2 x btyd_x.", "count", "python", "NULL", "DOUBLE", ())
    group = PostEngineGroup("double", "Test hook.", ("rfm",), (feature,), compute)
    monkeypatch.setitem(POST_ENGINE_GROUPS, "double", group)
    f = compute_features(DuckDBEngine(basic_warehouse(warehouse).con), AS_OF)
    assert by_client(f)["a"]["twice_x"] == 4
    assert math.isnan(by_client(f)["c"]["twice_x"])  # not a buyer: left join


# -- snapshots ----------------------------------------------------------------------------


def test_snapshot_replaced_per_as_of(warehouse):
    wh = basic_warehouse(warehouse)
    engine = DuckDBEngine(wh.con)
    march = compute_features(engine, AS_OF, CFG)
    store_snapshot(wh, march, AS_OF)
    store_snapshot(wh, march, AS_OF)  # same date again: replaced, not appended
    april = compute_features(engine, "2024-04-30", CFG.model_copy(update={"top_categories": 3}))
    store_snapshot(wh, april, "2024-04-30")
    counts = wh.con.execute(
        "SELECT as_of, count(*), count(DISTINCT client_id) FROM features GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert counts == [(dt.date(2024, 3, 31), 4, 4), (dt.date(2024, 4, 30), 5, 5)]
    # april adds share_cat_books: the column is added, null in the march snapshot
    books = wh.con.execute(
        "SELECT as_of, max(share_cat_books) FROM features GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert books[0][1] is None and books[1][1] is not None
    stored = wh.con.execute(
        "SELECT frequency FROM features WHERE as_of = DATE '2024-03-31' ORDER BY client_id"
    ).fetchall()
    assert [r[0] for r in stored] == list(march["frequency"])


def test_snapshot_failure_keeps_previous(warehouse):
    wh = basic_warehouse(warehouse)
    march = compute_features(DuckDBEngine(wh.con), AS_OF, CFG)
    store_snapshot(wh, march, AS_OF)
    broken = march.assign(frequency="not a number")  # cannot be inserted into BIGINT
    with pytest.raises(Exception):  # noqa: B017 - any DuckDB conversion error
        store_snapshot(wh, broken, AS_OF)
    n = wh.con.execute("SELECT count(*) FROM features").fetchall()[0][0]
    assert n == len(march)


def test_category_names_become_distinct_columns(warehouse):
    rows = [("a", "2024-01-05 10:00", 30.0, "Food & Drink"), ("a", "2024-01-06 10:00", 20.0, "food drink"),
            ("a", "2024-01-07 10:00", 10.0, "it's")]
    load_tables(warehouse, clients=clients_frame(["a"]), transactions=tx_frame(rows))
    f = compute_features(DuckDBEngine(warehouse.con), AS_OF, FeaturesConfig(groups=["behaviour"]))
    shares = {c: f.loc[0, c] for c in f.columns if c.startswith("share_cat_")}
    assert shares == {"share_cat_food_drink": 0.5, "share_cat_food_drink_2": pytest.approx(1 / 3),
                      "share_cat_it_s": pytest.approx(1 / 6)}
