"""Campaign lift per segment: SQL aggregation against a per-client computation."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from segmint.config import ExperimentsConfig
from segmint.errors import ColumnNotFoundError, WarehouseError
from segmint.store import Warehouse
from segmint.targeting import ALL, analyze_campaign

SENT = dt.date(2025, 6, 1)


def _warehouse(exposures: pd.DataFrame, transactions: pd.DataFrame, segments: pd.DataFrame | None = None):
    wh = Warehouse(":memory:")
    wh.con.register("_e", exposures)
    wh.con.execute("CREATE TABLE campaigns AS SELECT * FROM _e")
    wh.con.register("_t", transactions)
    wh.con.execute("CREATE TABLE transactions AS SELECT * FROM _t")
    wh.con.execute("CREATE TABLE clients AS SELECT DISTINCT client_id, 'x' AS region FROM campaigns")
    if segments is not None:
        wh.con.register("_s", segments)
        wh.con.execute(
            "CREATE TABLE segment_assignments AS SELECT client_id, 'value' AS dimension, seg AS segment_id, "
            "seg AS segment_name, 1 AS model_version, DATE '2025-05-01' AS as_of, NULL::DOUBLE AS score FROM _s"
        )
    return wh


def _purchase_fixture():
    """Two segments; conversions planted by hand; transactions outside the window ignored."""
    rows, tx = [], []
    plan = {  # segment -> (n treatment, conversions, n control, conversions)
        "A": (40, 12, 40, 5),
        "B": (30, 3, 20, 4),
    }
    k = 0
    for seg, (nt, xt, nc, xc) in plan.items():
        for arm, n, x in (("treatment", nt, xt), ("control", nc, xc)):
            for i in range(n):
                cid = f"C{k:04d}"
                k += 1
                rows.append((cid, "c1", arm, SENT, seg))
                if i < x:  # a purchase 3 days after the send date, 25.0 EUR
                    tx.append((f"T{len(tx)}", cid, dt.datetime(2025, 6, 4, 10), 25.0))
                # noise outside the window: before the send date, and after 30 days
                tx.append((f"T{len(tx)}", cid, dt.datetime(2025, 5, 20, 10), 7.0))
                tx.append((f"T{len(tx)}", cid, dt.datetime(2025, 7, 2, 10), 9.0))
    exposures = pd.DataFrame(rows, columns=["client_id", "campaign", "arm", "sent_at", "seg"])
    transactions = pd.DataFrame(tx, columns=["transaction_id", "client_id", "ts", "amount"])
    return exposures, transactions, plan


CFG = ExperimentsConfig.model_validate(
    {"campaigns": {"c1": {"control_share": 0.5, "cost_per_contact": 1.0, "outcome": {"metric": "purchase", "window_days": 30}}}}
)


def test_conversion_lift_per_segment_matches_hand_computation():
    exposures, transactions, plan = _purchase_fixture()
    wh = _warehouse(exposures.drop(columns="seg"), transactions, exposures[["client_id", "seg"]])
    with wh:
        res = analyze_campaign(wh, CFG, "c1", by="value")
    lifts = res.lifts.set_index("segment")
    assert list(res.lifts["segment"]) == [ALL, "A", "B"]
    pvals = []
    for seg, (nt, xt, nc, xc) in plan.items():
        row = lifts.loc[seg]
        assert (row.n_treatment, row.n_control) == (nt, nc)
        assert row.treatment == pytest.approx(xt / nt)
        assert row.control == pytest.approx(xc / nc)
        assert row.lift == pytest.approx(xt / nt - xc / nc)
        lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method="newcomb", compare="diff")
        assert (row.lift_low, row.lift_high) == pytest.approx((lo, hi))
        assert row.incremental == pytest.approx((xt / nt - xc / nc) * nt)
        # revenue: 25 EUR per conversion in the window
        assert row.incremental_revenue == pytest.approx((25 * xt / nt - 25 * xc / nc) * nt)
        assert row.cost == pytest.approx(nt * 1.0)
        assert row.roi == pytest.approx((row.incremental_revenue - nt) / nt)
        pvals.append(row.p_value)
    from statsmodels.stats.multitest import multipletests

    np.testing.assert_allclose(lifts.loc[["A", "B"], "q_value"], multipletests(pvals, method="fdr_bh")[1])
    total = lifts.loc[ALL]
    assert total.n_treatment == 70 and total.treatment == pytest.approx(15 / 70)
    # the pre-period purchase (7 EUR, 12 days before) is everyone's: a constant covariate
    assert total.variance_reduction == pytest.approx(0.0, abs=1e-9)
    assert total.lift_cuped == pytest.approx(total.lift)


def test_by_a_clients_column_and_errors():
    exposures, transactions, _ = _purchase_fixture()
    with _warehouse(exposures.drop(columns="seg"), transactions) as wh:
        res = analyze_campaign(wh, CFG, "c1", by="region")
        assert list(res.lifts["segment"]) == [ALL, "x"]
        with pytest.raises(ColumnNotFoundError, match="nope"):
            analyze_campaign(wh, CFG, "c1", by="nope")
        with pytest.raises(WarehouseError, match="no exposures of campaign 'c9'"):
            analyze_campaign(wh, CFG, "c9")


def _revenue_fixture(seed: int, n: int = 4000, effect: float = 5.0):
    """Each client spends at its own rate before and after: the pre-period predicts."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(2.0, 20.0, n)  # mean spend per 30 days
    treated = rng.random(n) < 0.5
    pre = rng.normal(rate, 5.0)
    post = rng.normal(rate + effect * treated, 5.0)
    ids = [f"C{i:05d}" for i in range(n)]
    exposures = pd.DataFrame(
        {"client_id": ids, "campaign": "r1", "arm": np.where(treated, "treatment", "control"), "sent_at": SENT}
    )
    tx = pd.DataFrame(
        {
            "transaction_id": [f"P{i}" for i in range(n)] + [f"Q{i}" for i in range(n)],
            "client_id": ids + ids,
            "ts": [dt.datetime(2025, 5, 10)] * n + [dt.datetime(2025, 6, 10)] * n,
            "amount": np.concatenate([pre, post]),
        }
    )
    return exposures, tx


REV = ExperimentsConfig.model_validate(
    {"campaigns": {"r1": {"outcome": {"metric": "revenue", "window_days": 30}, "pre_days": 30}}}
)


def test_cuped_narrows_the_interval_with_a_predictive_covariate():
    exposures, tx = _revenue_fixture(0)
    with _warehouse(exposures, tx) as wh:
        row = analyze_campaign(wh, REV, "r1").lifts.iloc[0]
    raw_width = row.lift_high - row.lift_low
    cuped_width = row.cuped_high - row.cuped_low
    assert cuped_width < 0.5 * raw_width
    assert row.variance_reduction > 0.7
    assert row.cuped_low < 5.0 < row.cuped_high
    # Welch interval of the raw lift, computed per client with scipy
    post = tx[tx.ts > pd.Timestamp(SENT)].set_index("client_id").amount
    arm = exposures.set_index("client_id").arm
    t, c = post[arm == "treatment"], post[arm.reindex(post.index) == "control"]
    ci = stats.ttest_ind(t, c, equal_var=False).confidence_interval(0.95)
    assert (row.lift_low, row.lift_high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_cuped_estimate_matches_regression_adjustment():
    exposures, tx = _revenue_fixture(1, n=3000)
    with _warehouse(exposures, tx) as wh:
        row = analyze_campaign(wh, REV, "r1").lifts.iloc[0]
    pre = tx[tx.ts < pd.Timestamp(SENT)].set_index("client_id").amount
    post = tx[tx.ts > pd.Timestamp(SENT)].set_index("client_id").amount
    arm = exposures.set_index("client_id").arm.reindex(post.index)
    treated = (arm == "treatment").to_numpy()
    # theta from the pooled within-arm regression of post on pre
    x, y = pre.reindex(post.index).to_numpy(), post.to_numpy()
    xc = np.where(treated, x - x[treated].mean(), x - x[~treated].mean())
    yc = np.where(treated, y - y[treated].mean(), y - y[~treated].mean())
    theta = (xc @ yc) / (xc @ xc)
    adj = y - theta * (x - x.mean())
    assert row.lift_cuped == pytest.approx(adj[treated].mean() - adj[~treated].mean(), rel=1e-9)


def test_coverage_of_cuped_interval_over_seeds():
    hits = 0
    for seed in range(40):
        exposures, tx = _revenue_fixture(100 + seed, n=600)
        with _warehouse(exposures, tx) as wh:
            row = analyze_campaign(wh, REV, "r1").lifts.iloc[0]
        hits += row.cuped_low <= 5.0 <= row.cuped_high
    assert hits >= 36  # 95% nominal; P(fewer than 36 of 40) < 5% at 95%


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.booleans(), st.booleans()),
        min_size=12,
        max_size=80,
    )
)
def test_sql_aggregation_matches_per_client_counts(rows):
    """Any data: per segment, the counts and the Newcombe interval of the SQL path equal
    those computed per client in pandas with statsmodels."""
    ids = [f"C{i:03d}" for i in range(len(rows))]
    exposures = pd.DataFrame(
        {"client_id": ids, "campaign": "c1", "arm": ["treatment" if t else "control" for _, t, _ in rows],
         "sent_at": SENT}
    )
    tx = pd.DataFrame(
        {"transaction_id": [f"T{i}" for i, r in enumerate(rows) if r[2]],
         "client_id": [ids[i] for i, r in enumerate(rows) if r[2]],
         "ts": [dt.datetime(2025, 6, 10)] * sum(r[2] for r in rows),
         "amount": [10.0] * sum(r[2] for r in rows)}
    )
    if tx.empty:
        tx = pd.DataFrame({"transaction_id": ["T"], "client_id": ["nobody"], "ts": [dt.datetime(2025, 6, 10)], "amount": [1.0]})
    segs = pd.DataFrame({"client_id": ids, "seg": [r[0] for r in rows]})
    with _warehouse(exposures, tx, segs) as wh:
        lifts = analyze_campaign(wh, CFG, "c1", by="value").lifts.set_index("segment")
    frame = pd.DataFrame(rows, columns=["seg", "treated", "converted"])
    for seg, grp in frame.groupby("seg"):
        nt, nc = int(grp.treated.sum()), int((~grp.treated).sum())
        assert (lifts.loc[seg, "n_treatment"], lifts.loc[seg, "n_control"]) == (nt, nc)
        if nt and nc:
            xt = int((grp.treated & grp.converted).sum())
            xc = int((~grp.treated & grp.converted).sum())
            lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method="newcomb", compare="diff")
            assert lifts.loc[seg, "lift"] == pytest.approx(xt / nt - xc / nc, abs=1e-12)
            assert (lifts.loc[seg, "lift_low"], lifts.loc[seg, "lift_high"]) == pytest.approx((lo, hi), abs=1e-9)
