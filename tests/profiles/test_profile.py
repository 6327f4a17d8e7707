"""Profiles against a hand-computed six-client fixture."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from segmint.profiles._profile import crosstabs, numeric_features, prepare, profile_segments
from segmint.store import Warehouse

AS_OF = dt.date(2024, 1, 31)


@pytest.fixture
def tiny():
    wh = Warehouse(":memory:")
    wh.con.execute(
        """CREATE TABLE features AS SELECT * FROM (VALUES
            ('c1', DATE '2024-01-31',  1::BIGINT, NULL::DOUBLE, 100.0, 0.1,  'x'),
            ('c2', DATE '2024-01-31',  2, 4.0,   0.0, 0.2,  'x'),
            ('c3', DATE '2024-01-31',  3, 4.0,  50.0, NULL, 'x'),
            ('c4', DATE '2024-01-31', 10, 1.0, 300.0, 0.5,  'x'),
            ('c5', DATE '2024-01-31', 20, 1.0, 300.0, 0.5,  'x'),
            ('c6', DATE '2024-01-31', 30, 1.0, 250.0, 0.8,  'x'),
            ('c1', DATE '2023-12-31', 99, 99.0, 9e9,  0.9,  'x')
        ) t(client_id, as_of, x, y, revenue_12m, churn_risk, rfm_cell)"""
    )
    wh.con.execute(
        """CREATE TABLE segment_assignments AS SELECT client_id, dimension, segment_id,
                  segment_name, 'v1' AS model_version, DATE '2024-01-31' AS as_of, 1.0 AS score
           FROM (VALUES ('c1','d','A','Alpha'), ('c2','d','A','Alpha'), ('c3','d','A','Alpha'),
                        ('c4','d','B','Beta'), ('c5','d','B','Beta'), ('c6','d','B','Beta'),
                        ('c1','e','P','P'), ('c2','e','Q','Q'), ('c3','e','Q','Q'),
                        ('c4','e','Q','Q'), ('c5','e','P','P'), ('c6','e','P','P'))
                t(client_id, dimension, segment_id, segment_name)"""
    )
    yield wh
    wh.close()


def test_numeric_features_skip_keys_and_text(tiny):
    prepare(tiny, AS_OF)
    assert numeric_features(tiny.con) == ["x", "y", "revenue_12m", "churn_risk"]


def test_profile_numbers_match_hand_computation(tiny):
    infos = prepare(tiny, AS_OF)
    assert [i.dimension for i in infos] == ["d", "e"]
    prof = profile_segments(tiny.con, "d", ["x", "y", "revenue_12m", "churn_risk"])
    a, b = prof["A"], prof["B"]
    assert (a.size, b.size) == (3, 3)
    assert a.share == 0.5
    # x: population 1,2,3,10,20,30 -> mean 11, population std sqrt(688/6), median 6.5
    xa = a.feature("x")
    pop_std = math.sqrt(688 / 6)
    assert xa.mean == pytest.approx(2.0)
    assert xa.median == pytest.approx(2.0)
    assert xa.population_mean == pytest.approx(11.0)
    assert xa.population_median == pytest.approx(6.5)
    assert xa.population_std == pytest.approx(pop_std)
    assert xa.lift == pytest.approx((2 - 11) / pop_std)
    assert b.feature("x").lift == pytest.approx((20 - 11) / pop_std)
    # y has a null in A: means ignore it
    assert a.feature("y").mean == pytest.approx(4.0)
    assert a.feature("y").population_mean == pytest.approx(2.2)
    # value: A holds 150 of 1000
    rev = a.value_of("revenue_12m")
    assert (rev.total, rev.mean, rev.share_of_total) == pytest.approx((150.0, 50.0, 0.15))
    assert rev.population_mean == pytest.approx(1000 / 6)
    # churn: A mean of 0.1, 0.2 (null ignored); population mean of five values
    assert a.churn_risk == pytest.approx(0.15)
    assert b.churn_risk == pytest.approx(0.6)
    assert a.population_churn_risk == pytest.approx(0.42)
    # the earlier as_of snapshot is not mixed in
    assert b.feature("revenue_12m").mean == pytest.approx(850 / 3)
    assert a.top_features[0] in {"x", "revenue_12m", "y", "churn_risk"}
    lifts = [abs(a.feature(f).lift) for f in a.top_features]
    assert lifts == sorted(lifts, reverse=True)


def test_constant_feature_has_zero_lift(tiny):
    tiny.con.execute("ALTER TABLE features ADD COLUMN k DOUBLE DEFAULT 7.0")
    prepare(tiny, AS_OF)
    prof = profile_segments(tiny.con, "d", ["k"])
    assert prof["A"].feature("k").lift == 0.0


def test_crosstab_counts(tiny):
    prepare(tiny, AS_OF)
    (ct,) = crosstabs(tiny.con, "d", ["e"])
    cells = {(c.segment_id, c.other_segment_id): c.clients for c in ct.cells}
    assert cells == {("A", "P"): 1, ("A", "Q"): 2, ("B", "P"): 2, ("B", "Q"): 1}


def test_missing_features_snapshot_is_a_clear_error(tiny):
    from segmint.errors import WarehouseError

    tiny.con.execute("UPDATE segment_assignments SET as_of = DATE '2020-01-01'")
    with pytest.raises(WarehouseError, match="features: no rows as of 2020-01-01"):
        prepare(tiny, dt.date(2020, 1, 1))
