"""Approval of model changes: a refit under approval changes no assignment until
approved; rollback restores the previous assignments exactly."""

from __future__ import annotations

import pandas as pd
import pytest

from segmint.errors import ParameterError
from segmint.governance import (
    acknowledge_alert,
    approve,
    audit_log,
    model_versions,
    pin,
    proposal_diff,
    reject,
    rollback,
    unpin,
)

from .conftest import with_governance


def _assignments(project) -> pd.DataFrame:
    with project.warehouse() as wh:
        return wh.con.execute(
            "SELECT * FROM segment_assignments ORDER BY dimension, client_id"
        ).df()


def test_refit_under_approval_waits_for_approval_and_rollback_restores(bank):
    project = with_governance(bank, approval="required")
    seg = project.config.segmentation
    project.segment()
    before = _assignments(project)
    assert set(before.model_version) == {1}  # the first fit applies: nothing to compare to

    refit = project.segment(refit=True, load=False)
    assert sorted(refit.fitted) == ["behaviour", "lifecycle", "rfm", "value"]
    pd.testing.assert_frame_equal(_assignments(project), before)  # nothing applied
    project.segment(refit=True, load=False)  # a re-run does not propose again
    with project.warehouse() as wh:
        versions = model_versions(wh)
        assert versions[versions.status == "proposed"].version.tolist() == [2, 2, 2, 2]
        diff = proposal_diff(wh, "behaviour", 2)
        assert diff["applied_version"] == 1
        assert sum(s["share_after"] for s in diff["shares"]) == pytest.approx(1.0)
        assert 0 <= diff["reclassified"] <= 1
        with pytest.raises(ParameterError, match="not a proposal"):
            approve(wh, "behaviour", 1, actor="alice")
        approve(wh, "behaviour", 2, actor="alice", reason="reviewed", config=seg)
        reject(wh, "value", 2, actor="bob", reason="no change needed")
    after = _assignments(project)
    assert set(after[after.dimension == "behaviour"].model_version) == {2}
    assert set(after[after.dimension != "behaviour"].model_version) == {1}
    # a later run keeps applying the approved version and never the rejected one
    project.segment(load=False)
    pd.testing.assert_frame_equal(_assignments(project), after)

    with project.warehouse() as wh:
        assert rollback(wh, "behaviour", actor="carol", reason="complaints", config=seg) == 1
    pd.testing.assert_frame_equal(_assignments(project), before)

    with project.warehouse() as wh:
        log = audit_log(wh)
        assert log.action.tolist() == ["model_approved", "model_rejected", "model_rolled_back"]
        assert log.actor.tolist() == ["alice", "bob", "carol"]
        assert log.subject.tolist() == ["behaviour:2", "value:2", "behaviour:2"]
        statuses = model_versions(wh).set_index(["dimension", "version"]).status
        assert statuses[("behaviour", 2)] == "rolled_back"
        assert statuses[("value", 2)] == "rejected"
        assert statuses[("behaviour", 1)] == "applied"


def test_pin_holds_a_version_without_approval(bank):
    seg = bank.config.segmentation
    bank.segment(load=False)
    bank.segment(refit=["rfm"], load=False)  # auto: version 2 applies
    with bank.warehouse() as wh:
        pin(wh, "rfm", 1, actor="alice", config=seg)
    assert set(_assignments(bank).query("dimension == 'rfm'").model_version) == {1}
    bank.segment(refit=["rfm"], load=False)  # pinned: the refit is only a proposal
    with bank.warehouse() as wh:
        st = model_versions(wh).query("dimension == 'rfm'").set_index("version").status
        assert st[1] == "applied" and st[3] == "proposed"
        unpin(wh, "rfm", actor="alice", config=seg)
    assert set(_assignments(bank).query("dimension == 'rfm'").model_version) == {2}


def test_alert_acknowledgement_is_logged(bank):
    with bank.warehouse() as wh:
        wh.con.execute(
            "CREATE TABLE alerts (cycle_id VARCHAR, as_of DATE, rule VARCHAR, severity VARCHAR, "
            "dimension VARCHAR, feature VARCHAR, segment_id VARCHAR, value DOUBLE, threshold DOUBLE, "
            "message VARCHAR)"
        )
        wh.con.execute("INSERT INTO alerts VALUES ('2024-01-01', '2024-01-01', 'share_shift', "
                       "'warning', 'rfm', NULL, NULL, 0.2, 0.1, 'x')")
        assert acknowledge_alert(wh, "2024-01-01", "share_shift", actor="dan", reason="seasonal") == 1
        with pytest.raises(ParameterError):
            acknowledge_alert(wh, "2024-01-01", "nope", actor="dan")
        assert audit_log(wh).action.tolist() == ["alert_acknowledged"]
