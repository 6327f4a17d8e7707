"""POST /v1/events: malformed events are refused with nothing written; a posted event
re-scores its client and the next lookup shows the change."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from segmint.api import create_app, open_store
from segmint.cli import _rescorer

from .conftest import auth

GOOD = {"client_id": "C00000001", "ts": "2025-12-31T10:00:00", "event_type": "product_opened",
        "product_type": "mortgage"}

MALFORMED = [
    {"events": []},
    {"events": [{k: v for k, v in GOOD.items() if k != "ts"}]},
    {"events": [GOOD | {"ts": "yesterday"}]},
    {"events": [GOOD | {"ts": 1767139200}]},
    {"events": [GOOD | {"client_id": "C1; DROP TABLE clients"}]},
    {"events": [GOOD | {"client_id": ""}]},
    {"events": [GOOD | {"balance": "a lot"}]},
    {"events": [GOOD | {"balance": True}]},
    {"events": [GOOD | {"balance": 1e300}]},
    {"events": [GOOD | {"unexpected": 1}]},
    {"events": [GOOD], "extra": True},
    {"events": [GOOD, GOOD | {"event_type": None}]},
    [GOOD],
]


def _warehouse_counts(project):
    with project.warehouse(read_only=True) as wh:
        events = wh.con.execute("SELECT count(*) FROM events").fetchone()[0] if wh.has_table("events") else 0
        history = wh.con.execute("SELECT count(*) FROM segment_history").fetchone()[0]
    return events, history


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_events_are_refused_and_nothing_is_written(client, keys, state, served, body):
    before = _warehouse_counts(served)
    pub = client.get("/v1/health").json()["publication_id"]
    r = client.post("/v1/events", headers=auth(keys["campaign"]), json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422 and problem["errors"]
    assert all({"loc", "msg", "type"} == set(e) for e in problem["errors"])
    assert state.queue_length() == 0
    assert _warehouse_counts(served) == before
    assert client.get("/v1/health").json()["publication_id"] == pub


def test_unparseable_body_and_too_many_events(client, keys, served, state):
    r = client.post("/v1/events", headers=auth(keys["campaign"]) | {"content-type": "application/json"},
                    content=b"{not json")
    assert r.status_code in (400, 422) and r.headers["content-type"] == "application/problem+json"
    n = served.config.serving.max_events + 1
    r = client.post("/v1/events", headers=auth(keys["campaign"]), json={"events": [GOOD] * n})
    # more events than the schema's maxItems: invalid (422), as Schemathesis expects
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["loc"] == ["body", "events"]
    assert state.queue_length() == 0


def _low_value_client(project):
    with project.warehouse(read_only=True) as wh:
        return wh.con.execute(
            "SELECT a.client_id, a.segment_id FROM segment_assignments a "
            "WHERE a.dimension = 'value' AND a.as_of = (SELECT max(as_of) FROM segment_assignments) "
            "AND EXISTS (SELECT 1 FROM transactions t WHERE t.client_id = a.client_id) "
            "ORDER BY (SELECT clv_12m FROM features f WHERE f.client_id = a.client_id "
            "AND f.as_of = a.as_of), a.client_id LIMIT 1").fetchone()


def test_posted_event_rescores_the_client_and_the_next_lookup_shows_it(served, state, keys):
    cid, before_segment = _low_value_client(served)
    as_of = served.default_as_of()
    # new data arrived for this client since the cycle: large purchases on the last day
    with served.warehouse() as wh:
        wh.con.execute(
            "INSERT INTO transactions SELECT t.* REPLACE (t.transaction_id || '-big' || r.i AS "
            "transaction_id, 25000.0 AS amount, (? + INTERVAL 9 HOUR + r.i * INTERVAL 1 MINUTE) AS ts) "
            "FROM (SELECT * FROM transactions WHERE client_id = ? LIMIT 1) AS t, range(12) AS r(i)",
            [as_of, cid],
        )
    app = create_app(store=open_store(served.config, served.root), state=state,
                     settings=served.config.serving, rescore=_rescorer(served), auth_cache_seconds=0)
    with TestClient(app) as c:
        first = c.get(f"/v1/clients/{cid}", headers=auth(keys["admin"])).json()
        value = next(s for s in first["segments"] if s["dimension"] == "value")
        assert value["segment_id"] == before_segment
        event = {"client_id": cid, "ts": f"{as_of}T16:00:00Z", "event_type": "product_opened",
                 "product_type": "mortgage"}
        r = c.post("/v1/events", headers=auth(keys["campaign"]), json={"events": [event]})
        assert r.status_code == 202
        poll = r.json()["poll"]
        for _ in range(600):
            job = c.get(poll, headers=auth(keys["campaign"])).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
        assert job["status"] == "done", job
        assert job["result"]["clients_rescored"] == 1 and job["result"]["events_stored"] == 1
        after = c.get(f"/v1/clients/{cid}", headers=auth(keys["admin"])).json()
    assert after["publication_id"] != first["publication_id"]
    value = next(s for s in after["segments"] if s["dimension"] == "value")
    assert value["segment_id"] != before_segment
    assert job["result"]["segment_changes"] >= 1
    newest = next(ch for ch in after["changes"] if ch["dimension"] == "value")
    assert newest["source"] == "event" and newest["segment_id"] == value["segment_id"]
    assert newest["valid_to"] is None
    with served.warehouse(read_only=True) as wh:
        stored = wh.con.execute("SELECT count(*) FROM events WHERE client_id = ?", [cid]).fetchone()[0]
    assert stored == 1
