"""Fairness audit: planted proxy and disparity flagged; clean data flags nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.config._governance import FairnessConfig
from segmint.governance import audit_fairness, outcome_metrics, selection_metrics
from segmint.store import Warehouse

from .conftest import AS_OF, fairness_warehouse


@pytest.fixture(params=[True, False], ids=["planted", "clean"])
def audited(request):
    with Warehouse(":memory:") as wh:
        fairness_warehouse(wh, planted=request.param)
        yield request.param, audit_fairness(wh, as_of=AS_OF), wh


def test_selection_metrics_by_hand():
    by, di, spd = selection_metrics(np.array(["a", "b", "c"]), np.array([10, 30, 20]),
                                    np.array([100, 100, 50]))
    assert by.set_index("group").selection_rate.to_dict() == pytest.approx({"a": 0.1, "b": 0.3, "c": 0.4})
    assert di == pytest.approx(0.1 / 0.4)
    assert spd == pytest.approx(0.3)


def test_outcome_metrics_by_hand():
    frame = pd.DataFrame({
        "group": ["a"] * 4 + ["b"] * 4,
        "y_true": [1, 1, 0, 0, 1, 1, 0, 0],
        "y_pred": [1, 0, 0, 0, 1, 1, 1, 0],
        "score": [0.9, 0.4, 0.1, 0.2, 0.8, 0.7, 0.6, 0.3],
    })
    by, tpr, cal = outcome_metrics(frame)
    by = by.set_index("group")
    assert by.tpr.to_dict() == {"a": 0.5, "b": 1.0}
    assert tpr == pytest.approx(0.5)
    # gap a: mean score 0.4 - rate 0.5 = -0.1; b: 0.6 - 0.5 = 0.1
    assert by.calibration_gap.to_dict() == pytest.approx({"a": -0.1, "b": 0.1})
    assert cal == pytest.approx(0.2)


def test_planted_proxy_and_disparity_are_flagged_and_clean_data_flags_neither(audited):
    planted, audit, _ = audited
    d = audit.disparity.set_index(["name", "selection", "attribute"])
    p = audit.proxies.set_index(["dimension", "attribute"])
    mi = audit.mutual_information.set_index(["dimension", "feature", "attribute"])
    assert set(audit.attributes) == {"birth_year", "gender"}
    if planted:
        assert d.loc[("behaviour", "B", "gender")].flagged
        assert d.loc[("behaviour", "B", "gender")].disparate_impact < 0.1
        assert p.loc[("behaviour", "gender")].flagged and p.loc[("behaviour", "gender")].auc > 0.9
        assert mi.loc[("behaviour", "night_share", "gender")].flagged
        assert not mi.loc[("behaviour", "spend", "gender")].flagged
        # the other attribute and the other dimension stay clean
        assert not d.xs("birth_year", level="attribute").flagged.any()
        assert not d.loc["value"].flagged.any()
        assert not p.loc[("value", "gender")].flagged
        assert not audit.passed
    else:
        assert not audit.disparity.flagged.any(), audit.findings()
        assert not audit.proxies.flagged.any(), audit.findings()
        assert not audit.mutual_information.flagged.any(), audit.findings()
        assert audit.passed and audit.findings() == []


def test_group_shares_add_up(audited):
    _, audit, _ = audited
    s = audit.selections
    for _key, block in s.groupby(["name", "selection", "attribute"]):
        assert block.group_share.sum() == pytest.approx(1.0)
        assert block.population_share.sum() == pytest.approx(1.0)
    ages = audit.groups[audit.groups.attribute == "birth_year"]
    assert ages.clients.sum() == 2000
    assert set(ages.group) <= {"<25", "25-34", "35-44", "45-54", "55-64", "65+"}


def test_absent_targeting_tables_are_noted(audited):
    _, audit, _ = audited
    assert any(n.startswith("audience: no table") for n in audit.notes)
    assert any(n.startswith("propensity: no table") for n in audit.notes)


def test_propensity_deciles_and_outcomes_when_tables_exist():
    with Warehouse(":memory:") as wh:
        fairness_warehouse(wh, planted=False)
        con = wh.con
        # scores: women score higher than men for the same outcome (miscalibrated by group)
        con.execute(
            "CREATE TABLE scores AS SELECT client_id, 'churn' AS model, "
            "least(0.99, CASE WHEN gender = 'F' THEN 0.6 ELSE 0.2 END + (hash(client_id) % 100) / 1000.0) "
            "AS score FROM clients"
        )
        con.execute(
            "CREATE TABLE labels AS SELECT client_id, 'churn' AS label, "
            "((hash(client_id) % 10) < 3)::DOUBLE AS value, DATE '2024-07-30' AS observed_at FROM clients"
        )
        con.execute("CREATE TABLE audience_members AS SELECT 'spring' AS audience, client_id "
                    "FROM clients WHERE gender = 'F' OR hash(client_id) % 10 = 0")
        audit = audit_fairness(wh, FairnessConfig(fail_on=["calibration"]), as_of=AS_OF)
    deciles = audit.disparity[audit.disparity.source == "propensity_decile"]
    assert len(deciles[deciles.attribute == "gender"]) == 10
    assert deciles.set_index(["selection", "attribute"]).loc[("d10", "gender")].flagged
    aud = audit.disparity[(audit.disparity.source == "audience") & (audit.disparity.attribute == "gender")]
    assert aud.set_index("selection").loc["member"].flagged
    out = audit.outcomes.set_index("attribute").loc["gender"]
    assert out.calibration_difference == pytest.approx(0.4, abs=0.05)
    assert out.flagged_calibration
    assert any(b.startswith("calibration:") for b in audit.breaches())


def test_declared_protected_attributes_are_audited_once(tmp_path):
    """A protected attribute declared in the project file (attr_<name>) is audited; one
    that restates an audited clients column (attr_gender <- gender) is not audited twice."""
    from segmint.config._governance import FairnessConfig
    from segmint.governance._fairness import protected_attributes
    from segmint.store import Warehouse

    with Warehouse(tmp_path / "wh.duckdb") as wh:
        wh.con.execute(
            "CREATE TABLE clients AS SELECT 'c' || i AS client_id, "
            "CASE WHEN i % 2 = 0 THEN 'f' ELSE 'm' END AS gender FROM range(20) t(i)"
        )
        wh.con.execute(
            "CREATE TABLE features AS SELECT 'c' || i AS client_id, DATE '2025-01-01' AS as_of, "
            "CASE WHEN i % 3 = 0 THEN 'a' ELSE 'b' END AS attr_ethnicity, "
            "CASE WHEN i % 2 = 0 THEN 'f' ELSE 'm' END AS attr_gender FROM range(20) t(i)"
        )
        wh.con.execute(
            "CREATE TABLE client_attributes (attribute VARCHAR, feature VARCHAR, type VARCHAR, "
            "role VARCHAR, description VARCHAR, unit VARCHAR, client_column VARCHAR, "
            "time_varying BOOLEAN, builtin BOOLEAN)"
        )
        wh.con.execute(
            "INSERT INTO client_attributes VALUES "
            "('ethnicity', 'attr_ethnicity', 'categorical', 'protected', '', '', 'ethnicity', false, false), "
            "('gender', 'attr_gender', 'categorical', 'protected', '', '', 'gender', false, true)"
        )
        got = protected_attributes(wh, FairnessConfig())
    assert got == {"gender": "clients", "attr_ethnicity": "features"}
