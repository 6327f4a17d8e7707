"""The refit policy: by age, on drift, on request; identities kept across refits."""

from __future__ import annotations

import datetime as dt

from .conftest import with_monitoring


def test_no_policy_applies_the_stored_versions(bank):
    end = bank.default_as_of()
    first = bank.update(end - dt.timedelta(days=14), ingest=False)
    assert first.refitted == ["behaviour", "lifecycle", "rfm", "value"]  # first fit
    again = bank.update(end, ingest=False)
    assert again.refitted == []
    assert set(again.stability.model_version) == {1}


def test_refit_by_age(bank):
    end = bank.default_as_of()
    project = with_monitoring(bank, refit={"every_days": 14})
    project.update(end - dt.timedelta(days=14), ingest=False)
    assert project.update(end - dt.timedelta(days=7), ingest=False).refitted == []
    aged = project.update(end, ingest=False)
    assert aged.refitted == ["behaviour", "lifecycle", "rfm", "value"]
    assert set(aged.stability.model_version) == {2}


def test_refit_on_drift_only_the_drifted_learned_dimension(bank):
    end = bank.default_as_of()
    project = with_monitoring(bank, refit={"on_drift": True, "psi_threshold": 0.25})
    project.update(end - dt.timedelta(days=7), ingest=False)
    with bank.warehouse() as wh:
        wh.con.execute(
            "UPDATE transactions SET amount = amount * 3 WHERE ts > ?", [end - dt.timedelta(days=90)]
        )
    shifted = project.update(end, ingest=False)
    assert shifted.refitted == ["behaviour"]  # rule dimensions are not refitted on drift
    with bank.warehouse() as wh:
        reasons = wh.con.execute(
            "SELECT counts->>'$.refit_reasons.behaviour' FROM monitoring_cycles WHERE as_of = ?", [end]
        ).fetchone()[0]
    assert reasons.startswith("drift in ") and "spend_last_window" in reasons


def test_requested_refit_keeps_identities(bank):
    end = bank.default_as_of()
    bank.update(end - dt.timedelta(days=7), ingest=False)
    refit = bank.update(end, refit=True, ingest=False)
    assert refit.refitted == ["behaviour", "lifecycle", "rfm", "value"]
    b = refit.stability.set_index("dimension").loc["behaviour"]
    # same data a week later: the refit finds the same segments under the same ids
    assert b.ari > 0.8 and b.reclassification_rate < 0.1
    assert not [a for a in refit.alerts if a.rule.startswith("segment_")]
