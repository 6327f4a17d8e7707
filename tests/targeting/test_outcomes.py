"""Outcomes on a hand-made warehouse: every kind, eligibility and window bounds."""

import datetime as dt

import pytest

from segmint.config import OutcomeConfig
from segmint.errors import DataError, WarehouseError
from segmint.store import Warehouse
from segmint.targeting import outcomes

D = dt.date(2024, 3, 31)


@pytest.fixture
def wh():
    w = Warehouse(":memory:")
    w.sql("""CREATE TABLE clients AS SELECT * FROM (VALUES
        ('a', DATE '2020-01-01'), ('b', DATE '2020-01-01'), ('c', DATE '2020-01-01'),
        ('d', DATE '2024-04-15'), ('e', NULL)) t(client_id, onboarded_at)""")
    w.sql("""CREATE TABLE transactions AS SELECT * FROM (VALUES
        ('a', TIMESTAMP '2024-03-01 10:00', 10.0, 'food'),
        ('a', TIMESTAMP '2024-04-01 00:00', 5.0, 'travel'),   -- first second of the window
        ('b', TIMESTAMP '2024-03-31 23:59', 7.0, 'food'),     -- last second before it
        ('b', TIMESTAMP '2024-04-30 23:59', -3.0, 'travel'),  -- a refund: not a purchase
        ('c', TIMESTAMP '2023-01-01 10:00', 4.0, 'travel'),
        ('c', TIMESTAMP '2024-05-01 00:00', 4.0, 'food'),     -- just after a 30-day window
        ('e', TIMESTAMP '2024-04-30 12:00', 9.0, 'fuel'),     -- last day of the window
        ('e', TIMESTAMP '2024-09-30 12:00', 1.0, 'fuel')
        ) t(client_id, ts, amount, category)""")
    w.sql("""CREATE TABLE holdings AS SELECT * FROM (VALUES
        ('a', 'p1', 'card', DATE '2020-01-01', NULL),
        ('b', 'p2', 'card', DATE '2020-01-01', DATE '2024-04-10'),
        ('b', 'p3', 'savings', DATE '2024-04-20', NULL),
        ('c', 'p4', 'savings', DATE '2024-03-31', NULL),
        ('e', 'p5', 'savings', DATE '2024-05-01', NULL)
        ) t(client_id, product_id, product_type, opened_at, closed_at)""")
    w.sql("""CREATE TABLE labels AS SELECT * FROM (VALUES
        ('a', 'referral', 1.0, DATE '2024-04-05'),
        ('b', 'referral', 0.0, DATE '2024-04-06'),
        ('c', 'referral', 1.0, DATE '2024-03-31'),
        ('c', 'other', 1.0, DATE '2024-12-31'),
        ('e', 'referral', 0.0, DATE '2024-06-30')  -- outside the window; completes it
        ) t(client_id, label, value, observed_at)""")
    yield w
    w.close()


def _y(wh, **kw):
    frame = outcomes(wh, OutcomeConfig(**kw), [D])
    return dict(zip(frame.client_id, frame.y, strict=True))


def test_purchase_window_is_as_of_exclusive_to_horizon_inclusive(wh):
    # d is onboarded after as_of: not a client yet; e has no onboarding date: a client
    assert _y(wh, kind="purchase", horizon_days=30) == {"a": 1, "b": 0, "c": 0, "e": 1}
    assert _y(wh, kind="purchase", horizon_days=31)["c"] == 1


def test_churn_eligible_active_clients_only(wh):
    # active = a purchase in the 60 days up to as_of: a and b (c bought in 2023, e never)
    # a buys in the window; b does not (its refund is not a purchase) -> churned
    assert _y(wh, kind="churn", horizon_days=30, active_days=60) == {"a": 0, "b": 1}


def test_churn_all_products_closed(wh):
    # b buys in the window; its only product open at as_of (p2) closes on 04-10, and it
    # opens p3 on 04-20: no product open on 04-15 (churned), one open on 04-30 (not)
    wh.sql("INSERT INTO transactions VALUES ('b', TIMESTAMP '2024-04-02 09:00', 2.0, 'food')")
    assert _y(wh, kind="churn", horizon_days=15, active_days=60) == {"a": 0, "b": 1}
    assert _y(wh, kind="churn", horizon_days=30, active_days=60) == {"a": 0, "b": 0}
    assert _y(wh, kind="churn", horizon_days=5, active_days=60) == {"a": 0, "b": 0}


def test_product_opened(wh):
    # c already holds savings at as_of: not eligible; b opens one on 04-20; e on 05-01 (day 31)
    assert _y(wh, kind="product_opened", product_type="savings", horizon_days=30) == {
        "a": 0, "b": 1, "e": 0,
    }
    assert _y(wh, kind="product_opened", product_type="savings", horizon_days=31)["e"] == 1
    with pytest.raises(DataError, match=r"product_type 'boat' does not occur in holdings"):
        _y(wh, kind="product_opened", product_type="boat", horizon_days=30)


def test_category_first_spend(wh):
    # travel: c bought it before (not eligible); a buys it first in the window; b's is a refund
    assert _y(wh, kind="category_first_spend", category="travel", horizon_days=30) == {
        "a": 1, "b": 0, "e": 0,
    }
    # any new category, among clients who bought before: a (travel), b (none), c (food: 05-01)
    assert _y(wh, kind="category_first_spend", horizon_days=31) == {"a": 1, "b": 0, "c": 1}
    with pytest.raises(DataError, match="category 'boats' does not occur"):
        _y(wh, kind="category_first_spend", category="boats", horizon_days=30)


def test_labels(wh):
    # c's label is observed on as_of itself: outside the window
    assert _y(wh, kind="label", label="referral", horizon_days=30) == {
        "a": 1, "b": 0, "c": 0, "e": 0,
    }
    assert _y(wh, kind="label", label="referral", horizon_days=30,
              label_population="labelled") == {"a": 1, "b": 0}
    with pytest.raises(DataError, match=r"no row with label 'churn' \(labels: other, referral\)"):
        _y(wh, kind="label", label="churn", horizon_days=30)


def test_incomplete_window_refused(wh):
    # the last transaction is 2024-09-30: a 200-day window after 03-31 is not complete
    with pytest.raises(DataError, match=r"not complete for as_of 2024-03-31.*\(2024-09-30\)"):
        outcomes(wh, OutcomeConfig(kind="purchase", horizon_days=200), [D])
    # labels are complete up to their own last observation (2024-12-31 for 'other')
    assert len(outcomes(wh, OutcomeConfig(kind="label", label="other", horizon_days=200), [D]))


def test_config_errors():
    with pytest.raises(ValueError, match="needs `product_type`"):
        OutcomeConfig(kind="product_opened")
    with pytest.raises(ValueError, match="`category` applies to kind 'category_first_spend'"):
        OutcomeConfig(kind="purchase", category="food")


def test_missing_entity():
    w = Warehouse(":memory:")
    w.sql("CREATE TABLE clients (client_id VARCHAR, onboarded_at DATE)")
    w.sql("CREATE TABLE transactions AS SELECT 'a' AS client_id, TIMESTAMP '2024-01-01' AS ts, "
          "1.0 AS amount, 'x' AS category")
    with pytest.raises(WarehouseError, match="labels"):
        outcomes(w, OutcomeConfig(kind="label", label="x"), [dt.date(2023, 1, 1)])
