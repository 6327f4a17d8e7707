"""Response over time: promotional uplift per segment and month, lift history, alerts."""

import datetime as dt

import pandas as pd
import pytest

from segmint.config import ExperimentsConfig
from segmint.monitoring import alerts_from_frame
from segmint.store import Warehouse
from segmint.targeting import lift_history, promo_response, response_alerts

from .bank import bank_warehouse


def test_promo_response_by_hand():
    tx = pd.DataFrame(
        {
            "client_id": ["a", "a", "a", "b", "b", "a"],
            "ts": pd.to_datetime(
                ["2025-01-02 10:00", "2025-01-02 12:00", "2025-01-03 09:00", "2025-01-04 09:00", "2025-01-05 09:00", "2025-02-01 09:00"]
            ),
            "amount": [10.0, 20.0, 10.0, 40.0, 20.0, 5.0],
            "is_promotion": [True, False, False, True, False, False],
        }
    )
    with Warehouse(":memory:") as wh:
        wh.con.register("_t", tx)
        wh.con.execute("CREATE TABLE transactions AS SELECT * FROM _t")
        wh.con.execute(
            "CREATE TABLE segment_assignments AS SELECT * FROM (VALUES ('a', 'v', 'S', 'S', 1, DATE '2025-03-01', NULL), "
            "('b', 'v', 'S', 'S', 1, DATE '2025-03-01', NULL)) t(client_id, dimension, segment_id, segment_name, "
            "model_version, as_of, score)"
        )
        out = promo_response(wh, by="v")
    jan = out[out.month == pd.Timestamp("2025-01-01")].iloc[0]
    # promo days: a on 01-02 (30), b on 01-04 (40) -> 35; other days: a 01-03 (10), b 01-05 (20) -> 15
    assert jan.promo_days == 2 and jan.other_days == 2
    assert jan.promo_uplift == pytest.approx(35 / 15 - 1)
    feb = out[out.month == pd.Timestamp("2025-02-01")].iloc[0]
    assert feb.promo_days == 0 and pd.isna(feb.promo_uplift)


def test_alerts_fire_past_the_thresholds_only():
    cfg = ExperimentsConfig.model_validate({"alerts": {"lift_change": 0.03, "promo_uplift_change": 0.5}})
    history = pd.DataFrame(
        {
            "campaign": ["c1", "c2", "c3", "c1", "c3"],
            "channel": ["email", "sms", "email", "email", "email"],
            "sent_at": [dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)] + [dt.date(2025, 1, 1), dt.date(2025, 3, 1)],
            "segment": ["A", "A", "A", "B", "B"],
            "lift": [0.10, 0.50, 0.02, 0.05, 0.06],
        }
    )
    promo = pd.DataFrame(
        {"segment": ["A", "A", "B", "B"], "month": pd.to_datetime(["2025-01-01", "2025-02-01"] * 2),
         "promo_uplift": [0.2, 1.5, 0.3, 0.4]}
    )
    alerts = response_alerts(cfg, history=history, promo=promo, dimension="value")
    assert list(alerts.rule) == ["campaign_lift_change", "promo_response_change"]
    lift = alerts.iloc[0]
    assert lift.segment_id == "A" and lift.value == pytest.approx(-0.08) and lift.severity == "critical"
    assert "c1" in lift.message and "c3" in lift.message  # same channel, sms in between ignored
    assert alerts.iloc[1].segment_id == "A" and alerts.iloc[1].severity == "critical"
    as_alerts = alerts_from_frame(alerts)
    assert as_alerts[0].rule == "campaign_lift_change" and as_alerts[0].dimension == "value"
    assert response_alerts(ExperimentsConfig(), history=history, promo=promo).empty


def test_lift_history_on_generated_campaigns(tmp_path):
    wh, _, cfg = bank_warehouse(tmp_path / "b", seed=4, n_clients=1000, campaigns=3)
    with wh:
        h = lift_history(wh, cfg.experiments, by="persona")
    assert list(h.campaign.unique()) == ["cmp01", "cmp02", "cmp03"]
    assert list(h.channel.unique()) == ["email", "sms", "push"]
    assert h.sent_at.is_monotonic_increasing
    assert len(h) == 3 * 6
