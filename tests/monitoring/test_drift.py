"""Feature drift (PSI with KS or Jensen-Shannon), computed in SQL, and drift alerts."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

from segmint.config._monitoring import AlertRules, DriftConfig
from segmint.monitoring import evaluate_alerts, feature_drift, share_psi

REF, CUR = dt.date(2025, 1, 1), dt.date(2025, 2, 1)


def _features(ref: dict[str, list], cur: dict[str, list]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    cols = ", ".join(f"{c} DOUBLE" for c in ref)
    con.execute(f"CREATE TABLE features (client_id VARCHAR, as_of DATE, {cols})")
    for day, data in ((REF, ref), (CUR, cur)):
        n = len(next(iter(data.values())))
        rows = [[f"c{i}", day, *(data[c][i] for c in ref)] for i in range(n)]
        con.executemany(f"INSERT INTO features VALUES ({', '.join('?' * (len(ref) + 2))})", rows)
    return con


def test_hand_computed_continuous_and_discrete():
    ref = {"x": list(range(1, 21)), "d": [1] * 10 + [2] * 10}
    cur = {"x": [1] * 20, "d": [1] * 15 + [2] * 5}
    out = feature_drift(_features(ref, cur), REF, CUR, DriftConfig()).set_index("feature")
    # x: 20 distinct values -> continuous, deciles 2.9, 4.8, ... 18.1: ten bins of 0.1;
    # all current values in the first bin, the nine others empty (epsilon 1e-4)
    psi_x = 0.9 * math.log(10) + 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert out.loc["x", "kind"] == "continuous" and out.loc["x", "bins"] == 10
    assert out.loc["x", "psi"] == pytest.approx(psi_x, rel=1e-9)
    assert out.loc["x", "band"] == "significant"
    assert out.loc["x", "test"] == "ks" and out.loc["x", "statistic"] == pytest.approx(0.95)
    # d: two values -> discrete, shares (.5, .5) -> (.75, .25)
    psi_d = 0.25 * math.log(1.5) - 0.25 * math.log(0.5)
    assert out.loc["d", "kind"] == "discrete"
    assert out.loc["d", "psi"] == pytest.approx(psi_d, rel=1e-9)
    assert out.loc["d", "test"] == "jensen_shannon"
    assert out.loc["d", "statistic"] == pytest.approx(
        jensenshannon([0.5, 0.5], [0.75, 0.25], base=2), rel=1e-9
    )


def test_nulls_are_a_bin_and_identical_snapshots_do_not_drift():
    x = [float(i) for i in range(50)] + [None] * 50
    out = feature_drift(_features({"x": x}, {"x": x}), REF, CUR, DriftConfig())
    assert out.psi.iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert out.band.iloc[0] == "stable"
    half = [float(i) for i in range(100)]
    shifted = feature_drift(_features({"x": x}, {"x": half}), REF, CUR, DriftConfig())
    assert shifted.psi.iloc[0] > 0.25  # the null bin emptied


@settings(max_examples=30, deadline=None)
@given(
    # values with few digits: drift compares values at 10 significant digits
    st.lists(st.integers(-10**6, 10**6).map(lambda i: i / 1000), min_size=12, max_size=80),
    st.lists(st.integers(-10**6, 10**6).map(lambda i: i / 1000), min_size=12, max_size=80),
)
def test_ks_matches_scipy_and_psi_is_nonnegative(a, b):
    n = max(len(a), len(b))
    pad_a, pad_b = a + [None] * (n - len(a)), b + [None] * (n - len(b))
    out = feature_drift(_features({"x": pad_a}, {"x": pad_b}), REF, CUR, DriftConfig(discrete_max_values=2))
    row = out.iloc[0]
    assert row.psi >= 0
    if row.kind == "continuous":
        assert row.statistic == pytest.approx(ks_2samp(a, b, method="asymp").statistic, abs=1e-12)


def test_share_psi():
    import pandas as pd

    p = pd.Series({"a": 0.5, "b": 0.5})
    assert share_psi(p, p, 1e-4) == 0.0
    q = pd.Series({"a": 0.75, "b": 0.25})
    assert share_psi(p, q, 1e-4) == pytest.approx(0.25 * math.log(1.5) - 0.25 * math.log(0.5))


def test_a_shifted_column_raises_an_alert_naming_it(bank):
    end = bank.default_as_of()
    bank.update(end, ingest=False)
    with bank.warehouse() as wh:
        con = wh.con
        con.execute(
            "INSERT INTO features SELECT * REPLACE (as_of + 1 AS as_of, monetary_mean * 4 AS "
            "monetary_mean) FROM features WHERE as_of = ?",
            [end],
        )
        drift = feature_drift(con, end, end + dt.timedelta(days=1), DriftConfig())
    empty = drift.iloc[:0]
    alerts = evaluate_alerts(
        AlertRules(), drift=drift, stability=empty, shares=empty.assign(share_change=[]), identity={}
    )
    assert [a.feature for a in alerts] == ["monetary_mean"]
    assert alerts[0].rule == "feature_drift" and "monetary_mean" in alerts[0].message


def test_cycle_with_no_shift_has_no_drift_alert_and_a_shifted_one_has(bank):
    end = bank.default_as_of()
    bank.update(end - dt.timedelta(days=7), ingest=False)
    quiet = bank.update(end, ingest=False)
    assert [a for a in quiet.alerts if a.rule == "feature_drift"] == []
    assert (quiet.drift.psi < 0.25).all()
    with bank.warehouse() as wh:  # inject: every amount of the last 90 days tripled
        wh.con.execute(
            "UPDATE transactions SET amount = amount * 3 WHERE ts > ?", [end - dt.timedelta(days=90)]
        )
        # an edit in place, outside ingest: the cycle notices and rebuilds the feature state
    shifted = bank.update(end, ingest=False)  # re-run of the same as_of replaces it
    drifted = {a.feature for a in shifted.alerts if a.rule == "feature_drift"}
    assert "spend_last_window" in drifted
    with bank.warehouse() as wh:
        stored = wh.con.execute(
            "SELECT feature FROM alerts WHERE rule = 'feature_drift' AND as_of = ?", [end]
        ).fetchall()
    assert {f for (f,) in stored} == drifted


def test_an_all_null_feature_is_one_bin():
    # every feature null in the reference: one null bin each side, no division errors
    out = feature_drift(_features({"x": [None] * 5}, {"x": [None] * 5}), REF, CUR, DriftConfig())
    assert np.isfinite(out.psi).all()
