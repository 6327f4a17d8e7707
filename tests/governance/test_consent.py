"""Consent: no profiling consent keeps a client out of learned dimensions (or all);
no marketing consent keeps a client out of audiences."""

from __future__ import annotations

import pytest

from segmint.governance import marketing_allowed_sql

from .conftest import with_governance


def _refuse(project, n: int) -> list[str]:
    with project.warehouse() as wh:
        ids = [r[0] for r in wh.con.execute(
            "SELECT client_id FROM clients ORDER BY hash(client_id) LIMIT ?", [n]).fetchall()]
        wh.con.execute("UPDATE clients SET consent_profiling = false, consent_marketing = false "
                       "WHERE client_id IN (SELECT unnest(?))", [ids])
    return ids


@pytest.mark.parametrize("fallback", ["rules_only", "none"])
def test_without_profiling_consent(bank, fallback):
    project = with_governance(bank, consent={"without_profiling": fallback})
    refused = _refuse(project, 25)
    project.segment(load=False)
    with project.warehouse() as wh:
        rows = wh.con.execute(
            "SELECT m.kind, count(*) FROM segment_assignments a JOIN segment_models m "
            "ON m.dimension = a.dimension AND m.version = a.model_version "
            "WHERE a.client_id IN (SELECT unnest(?)) GROUP BY 1", [refused]).fetchall()
        kinds = dict(rows)
        assert "learned" not in kinds
        if fallback == "rules_only":
            assert kinds["rules"] == 25 * 3  # lifecycle, rfm, value
        else:
            assert kinds == {}
        others = wh.con.execute(
            "SELECT count(DISTINCT client_id) FROM segment_assignments WHERE dimension = 'behaviour'"
        ).fetchone()[0]
        total = wh.con.execute("SELECT count(*) FROM features WHERE as_of = "
                               "(SELECT max(as_of) FROM features)").fetchone()[0]
        assert others == total - 25


def test_marketing_predicate(bank):
    refused = _refuse(bank, 10)
    with bank.warehouse() as wh:
        allowed = {r[0] for r in wh.con.execute(
            f"SELECT client_id FROM clients WHERE {marketing_allowed_sql(wh.con)}").fetchall()}
        total = wh.con.execute("SELECT count(*) FROM clients").fetchone()[0]
    assert not allowed & set(refused) and len(allowed) == total - 10


@pytest.mark.parametrize("fallback", ["rules_only", "none"])
def test_event_rescoring_respects_profiling_consent(bank, tmp_path, fallback):
    """The event path re-scores with the batch's consent rule: a client without profiling
    consent gets no learned segment (or none at all), one with consent does."""
    import pandas as pd

    from segmint import Project
    from segmint.config import EventsConfig

    project = with_governance(bank, consent={"without_profiling": fallback})
    project = Project(project.config.model_copy(update={"events": EventsConfig.model_validate(
        {"product_opened": {"product_type": "mortgage"}})}), project.root)
    refused = _refuse(project, 25)
    project.segment(load=False)
    with project.warehouse() as wh:
        consenting = [r[0] for r in wh.con.execute(
            "SELECT client_id FROM clients WHERE client_id NOT IN (SELECT unnest(?)) "
            "ORDER BY client_id LIMIT 5", [refused]).fetchall()]
        day = wh.con.execute("SELECT CAST(max(ts) AS DATE) FROM transactions").fetchone()[0]
    events = tmp_path / "events.csv"
    pd.DataFrame({"client_id": refused[:5] + consenting, "ts": f"{day} 12:00:00",
                  "event_type": "product_opened", "product_type": "mortgage"}).to_csv(events, index=False)
    result = project.ingest_events(events)
    assert result.rescore is not None
    got = result.rescore.assignments
    learned = {"behaviour"}
    for c in refused[:5]:
        dims = set(got.loc[got.client_id == c, "dimension"])
        assert not dims & learned, c
        assert dims == (set() if fallback == "none" else {"lifecycle", "rfm", "value"}), c
    for c in consenting:
        assert learned <= set(got.loc[got.client_id == c, "dimension"]), c
    # and the direct re-scoring call alike
    direct = project.rescore(refused[:3]).assignments
    assert not set(direct.dimension) & learned
