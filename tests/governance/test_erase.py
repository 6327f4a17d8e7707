"""Erasure: the id is left in no table, and a re-ingest of the original files keeps it out."""

from __future__ import annotations

import pytest

from segmint import Project
from segmint.errors import ConfigError
from segmint.governance import audit_log, client_tables, erase_clients, pseudonymise

KEY = b"erasure-test-key-0123456789"


def holders(wh, client_id: str) -> dict[str, int]:
    """Every table and column whose value is the id, or holds it as a JSON string value."""
    out = {}
    for table in wh.tables():
        for col, *_ in wh.con.execute(f'DESCRIBE "{table}"').fetchall():
            n = wh.con.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{col}"::VARCHAR = ? '
                f'OR "{col}"::VARCHAR LIKE ?',
                [client_id, f'%"{client_id}"%'],
            ).fetchone()[0]
            if n:
                out[f"{table}.{col}"] = n
    return out


def test_erase_from_every_table_and_survive_reingest(bank, monkeypatch):
    monkeypatch.setenv("SEGMINT_PSEUDONYM_KEY", KEY.decode())
    bank.segment(load=False)
    with bank.warehouse() as wh:
        ids = [r[0] for r in wh.con.execute(
            "SELECT client_id FROM clients ORDER BY client_id LIMIT 2").fetchall()]
        # tables a later stage writes are found by their columns, not from a list
        wh.con.execute("CREATE TABLE scores AS SELECT client_id, 'churn' AS model, 0.5 AS score FROM clients")
        wh.con.execute("CREATE TABLE audience_members AS SELECT 'a' AS audience, client_id AS member_client_id FROM clients")
        found = client_tables(wh)
        assert {"clients", "transactions", "features", "segment_assignments", "scores",
                "audience_members"} <= set(found)
        assert all(holders(wh, i) for i in ids)
        result = erase_clients(wh, ids, key=KEY, actor="dpo", reason="article 17 request")
        assert result.rows["clients"] == 2 and result.rows["audience_members"] == 2
        for i in ids:
            assert holders(wh, i) == {}, i
        log = audit_log(wh)
        assert log.action.tolist() == ["erase"]
        assert set(result.pseudonyms) == set(pseudonymise(ids, KEY))
        n_clients = wh.con.execute("SELECT count(*) FROM clients").fetchone()[0]
    bank.ingest(full=True)  # the original files still hold the clients
    bank.snapshot_features(bank.default_as_of())
    bank.segment(load=False)
    with bank.warehouse() as wh:
        for i in ids:
            assert holders(wh, i) == {}, i
        assert wh.con.execute("SELECT count(*) FROM clients").fetchone()[0] == n_clients


def test_erase_removes_quarantined_original_values(tiny_project, monkeypatch):
    monkeypatch.setenv("SEGMINT_PSEUDONYM_KEY", KEY.decode())
    project = Project.from_yaml(tiny_project)
    project.ingest()
    with project.warehouse() as wh:
        assert "quarantine.original_values" in holders(wh, "c5")  # a conflicting duplicate
        erase_clients(wh, ["c5", "c1"], key=KEY, actor="dpo")
        assert holders(wh, "c5") == {} and holders(wh, "c1") == {}
    project.ingest(full=True)
    with project.warehouse() as wh:
        assert holders(wh, "c5") == {} and holders(wh, "c1") == {}
        assert wh.con.execute("SELECT count(*) FROM clients").fetchone()[0] >= 2  # others load
    monkeypatch.delenv("SEGMINT_PSEUDONYM_KEY")
    with pytest.raises(ConfigError, match="no pseudonymisation key"):
        project.ingest(full=True)


ERASURE_KEY = b"erasure-namespace-key-0123456789"
ROTATED = b"rotated-pseudonym-key-0123456789"


def test_tombstones_survive_a_key_rotation(tiny_project, monkeypatch):
    """Erased under the pseudonymisation key and the (never rotated) erasure key: after the
    pseudonymisation key is rotated, a re-ingest of the old files keeps the client out."""
    monkeypatch.setenv("SEGMINT_PSEUDONYM_KEY", KEY.decode())
    monkeypatch.setenv("SEGMINT_ERASURE_KEY", ERASURE_KEY.decode())
    project = Project.from_yaml(tiny_project)
    project.ingest()
    with project.warehouse() as wh:
        erase_clients(wh, ["c1"], key=KEY, erasure_key=ERASURE_KEY, actor="dpo")
        kinds = wh.con.execute("SELECT count(DISTINCT key_id), count(DISTINCT erasure_id) "
                               "FROM erased_clients").fetchone()
        assert kinds == (2, 1)  # one erasure, under both keys
    monkeypatch.setenv("SEGMINT_PSEUDONYM_KEY", ROTATED.decode())
    project.ingest(full=True)
    with project.warehouse() as wh:
        assert holders(wh, "c1") == {}
        assert wh.con.execute("SELECT count(*) FROM clients").fetchone()[0] >= 2


def test_a_rotation_without_an_erasure_key_stops_ingest(tiny_project, monkeypatch):
    """Erased under the pseudonymisation key only, which is then rotated: ingestion refuses
    (it could bring the client back) until the old key is given as the erasure key."""
    monkeypatch.setenv("SEGMINT_PSEUDONYM_KEY", KEY.decode())
    monkeypatch.delenv("SEGMINT_ERASURE_KEY", raising=False)
    project = Project.from_yaml(tiny_project)
    project.ingest()
    with project.warehouse() as wh:
        erase_clients(wh, ["c1"], key=KEY, actor="dpo")
    monkeypatch.setenv("SEGMINT_PSEUDONYM_KEY", ROTATED.decode())
    with pytest.raises(ConfigError, match="erasure key"):
        project.ingest(full=True)
    with project.warehouse() as wh:
        assert holders(wh, "c1") == {}
    monkeypatch.setenv("SEGMINT_ERASURE_KEY", KEY.decode())  # the old key, kept for tombstones
    project.ingest(full=True)
    with project.warehouse() as wh:
        assert holders(wh, "c1") == {}
