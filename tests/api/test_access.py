"""Authorisation matrix: every endpoint x every role x own versus another book (OWASP API1,
API5), keys, rate limits, size limits, and no client data in the logs."""

from __future__ import annotations

import csv
import io
import logging

import pytest

from segmint.api import PERMISSIONS, ServiceState, create_app, open_store

from .conftest import auth, book_of

ROLES = ("admin", "analyst", "rm", "campaign")


def _targets(client, keys, books):
    """Ids the matrix needs: a client in the rm's book, one in the other book, a segment
    holding clients of both, the audience, the alert, a job of the admin's."""
    own, other = books
    by_book = book_of(client.app_project)
    mine = sorted(c for c, b in by_book.items() if b == own)
    theirs = sorted(c for c, b in by_book.items() if b == other)
    admin = auth(keys["admin"])
    segs = client.get("/v1/segments", headers=admin).json()["segments"]
    seg = max(segs, key=lambda s: s["clients"] or 0)  # null: a suppressed size
    alert = client.get("/v1/alerts", headers=admin).json()["items"][0]["alert_id"]
    job = client.post("/v1/events", headers=admin, json={"events": [
        {"client_id": mine[0], "ts": "2025-12-31T10:00:00", "event_type": "login"}]}).json()["job_id"]
    return dict(mine=mine, theirs=theirs, seg=seg, alert=alert, job=job, by_book=by_book)


@pytest.fixture
def matrix_client(client, served):
    client.app_project = served
    return client


ENDPOINTS = [
    # (name, method, path template, permission, scoped by book)
    ("client own", "GET", "/v1/clients/{mine}", "clients:read", True),
    ("client other", "GET", "/v1/clients/{theirs}", "clients:read", True),
    ("search", "GET", "/v1/clients?prefix=C", "clients:search", True),
    ("segments", "GET", "/v1/segments", "segments:read", False),
    ("segment", "GET", "/v1/segments/{dim}/{seg}", "segments:read", False),
    ("members", "GET", "/v1/segments/{dim}/{seg}/members?limit=1000", "members:read", True),
    ("audiences", "GET", "/v1/audiences", "audiences:read", True),
    ("audience members", "GET", "/v1/audiences/upsell/members?limit=1000", "members:read", True),
    ("export", "GET", "/v1/audiences/upsell/export", "audiences:export", True),
    ("post events", "POST", "/v1/events", "events:write", False),
    ("job", "GET", "/v1/events/jobs/{job}", "events:read", False),
    ("cycles", "GET", "/v1/cycles", "cycles:read", False),
    ("alerts", "GET", "/v1/alerts", "alerts:read", False),
    ("ack", "POST", "/v1/alerts/{alert}/ack", "alerts:ack", False),
    ("metrics", "GET", "/metrics", "metrics:read", False),
]


def _call(client, method, template, t, key):
    path = template.format(mine=t["mine"][0], theirs=t["theirs"][0], dim=t["seg"]["dimension"],
                           seg=t["seg"]["segment_id"], job=t["job"], alert=t["alert"])
    body = None
    if method == "POST" and "events" in path:
        body = {"events": [{"client_id": t["mine"][0], "ts": "2025-12-31T10:00:00",
                            "event_type": "login"}]}
    headers = auth(key) if key else {}
    return client.request(method, path, headers=headers, json=body)


def _client_ids(response) -> list[str]:
    if response.headers["content-type"].startswith("text/csv"):
        return [r["client_id"] for r in csv.DictReader(io.StringIO(response.text))]
    body = response.json()
    items = body.get("items", [])
    return [i["client_id"] if isinstance(i, dict) else i for i in items]


@pytest.mark.parametrize("role", [*ROLES, "rm_other"])
def test_authorisation_matrix(matrix_client, keys, books, role):
    client = matrix_client
    t = _targets(client, keys, books)
    base_role = "rm" if role == "rm_other" else role
    own_book = {"rm": books[0], "rm_other": books[1]}.get(role)
    for name, method, template, permission, scoped in ENDPOINTS:
        r = _call(client, method, template, t, keys[role])
        where = f"{role} {name}"
        assert r.headers["content-type"].split(";")[0] in (
            "application/json", "application/problem+json", "text/csv", "text/plain"), where
        if base_role not in PERMISSIONS[permission]:
            assert r.status_code == 403, where
            assert r.headers["content-type"] == "application/problem+json", where
            continue
        if name == "job":  # another key's job is not found; the admin sees every job
            assert r.status_code == (200 if role == "admin" else 404), where
            continue
        if name in ("client own", "client other"):
            target = t["mine"][0] if name == "client own" else t["theirs"][0]
            visible = own_book is None or t["by_book"][target] == own_book
            assert r.status_code == (200 if visible else 404), where
            if visible:
                assert r.json()["client_id"] == target
            else:  # indistinguishable from a client that does not exist
                missing = client.get("/v1/clients/NOPE", headers=auth(keys[role]))
                assert r.json() == missing.json()
            continue
        assert r.status_code in (200, 202), f"{where}: {r.status_code} {r.text[:200]}"
        if scoped and name != "audiences":
            ids = _client_ids(r)
            if own_book is None:
                assert ids, where
                assert any(t["by_book"][c] != books[0] for c in ids), where
            else:
                assert ids and all(t["by_book"][c] == own_book for c in ids), where
    # everything the rm may not see stays invisible when asked for directly
    if own_book is not None:
        foreign = [c for c, b in t["by_book"].items() if b != own_book]
        for cid in foreign[:25]:
            assert client.get(f"/v1/clients/{cid}", headers=auth(keys[role])).status_code == 404
            found = client.get(f"/v1/clients?prefix={cid}", headers=auth(keys[role])).json()
            assert found["items"] == []
        # paging with a cursor taken from another book does not reveal that book either
        seg = t["seg"]
        page = client.get(f"/v1/segments/{seg['dimension']}/{seg['segment_id']}/members",
                          params={"after": foreign[0], "limit": 1000}, headers=auth(keys[role]))
        assert all(t["by_book"][c] == own_book for c in page.json()["items"])
        count = client.get("/v1/audiences", headers=auth(keys[role])).json()["items"][0]["clients"]
        exported = _client_ids(client.get("/v1/audiences/upsell/export", headers=auth(keys[role])))
        assert count == len(exported)


def test_rm_sees_exactly_their_book(matrix_client, keys, books, served):
    client = matrix_client
    by_book = book_of(served)
    segs = client.get("/v1/segments", headers=auth(keys["admin"])).json()["segments"]
    dims = {s["dimension"] for s in segs}
    dim = sorted(dims)[0]
    seen: list[str] = []
    for s in (s for s in segs if s["dimension"] == dim):
        after = None
        while True:
            params = {"limit": 7} | ({"after": after} if after else {})
            page = client.get(f"/v1/segments/{dim}/{s['segment_id']}/members", params=params,
                              headers=auth(keys["rm"])).json()
            seen += page["items"]
            after = page["next_cursor"]
            if after is None:
                break
    assert sorted(seen) == sorted(c for c, b in by_book.items() if b == books[0])


def test_missing_wrong_and_revoked_keys(client, state, keys):
    for headers in ({}, auth("nonsense"), auth("sgm_0000000000_xxxx"), {"Authorization": "Basic eDp5"}):
        r = client.get("/v1/segments", headers=headers)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"] == "Bearer"
    key = keys["analyst"]
    assert client.get("/v1/segments", headers=auth(key)).status_code == 200
    key_id = key.split("_")[1]
    assert state.revoke_key(key_id)
    assert client.get("/v1/segments", headers=auth(key)).status_code == 401
    # a key is checked whole: a right id with a wrong secret fails
    assert client.get("/v1/segments", headers=auth(keys["admin"][:-2] + "zz")).status_code == 401
    assert client.get("/v1/health").status_code == 200  # health needs no key


def test_keys_are_stored_hashed(state, keys):
    raw = state.path.read_bytes() + (state.path.with_name(state.path.name + "-wal").read_bytes()
                                     if state.path.with_name(state.path.name + "-wal").exists() else b"")
    for key in keys.values():
        assert key.split("_", 2)[2].encode() not in raw


def test_key_roles_and_books_are_checked(state):
    from segmint.errors import ParameterError

    with pytest.raises(ParameterError, match="role"):
        state.create_key(role="root", name="x")
    with pytest.raises(ParameterError, match="book"):
        state.create_key(role="rm", name="x")
    with pytest.raises(ParameterError, match="book"):
        state.create_key(role="analyst", name="x", book="North")


def test_rate_limit_answers_429_with_retry_after(served, tmp_path):
    from fastapi.testclient import TestClient

    settings = served.config.serving.model_copy(update={"rate_limit": 3})
    state = ServiceState(tmp_path / "s.sqlite")
    key = state.create_key(role="analyst", name="a")[1]
    other = state.create_key(role="analyst", name="b")[1]
    app = create_app(store=open_store(served.config, served.root), state=state, settings=settings)
    with TestClient(app) as c:
        codes = [c.get("/v1/segments", headers=auth(key)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.get("/v1/segments", headers=auth(key))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.headers["content-type"] == "application/problem+json"
        assert c.get("/v1/segments", headers=auth(other)).status_code == 200  # per key


def test_request_and_page_size_limits(client, keys, served):
    admin = auth(keys["admin"])
    limit = served.config.serving.max_request_bytes
    big = {"events": [{"client_id": "C1", "ts": "2025-12-31T00:00:00", "event_type": "x" * 60}] * (limit // 50)}
    r = client.post("/v1/events", headers=admin, json=big)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    seg = client.get("/v1/segments", headers=admin).json()["segments"][0]
    r = client.get(f"/v1/segments/{seg['dimension']}/{seg['segment_id']}/members",
                   params={"limit": served.config.serving.max_page_size + 1}, headers=admin)
    assert r.status_code == 422 and r.json()["status"] == 422


def test_no_client_data_in_logs(client, keys, books, served, caplog):
    by_book = book_of(served)
    some = sorted(by_book)[:5]
    with caplog.at_level(logging.DEBUG):
        for cid in some:
            assert client.get(f"/v1/clients/{cid}", headers=auth(keys["admin"])).status_code == 200
            client.get(f"/v1/clients/{cid}", headers=auth(keys["rm_other"]))
        client.get(f"/v1/clients?prefix={some[0]}", headers=auth(keys["admin"]))
        client.post("/v1/events", headers=auth(keys["admin"]), json={"events": [
            {"client_id": some[0], "ts": "not a time", "event_type": "login"}]})
    # every record of the service's side (httpx is the test's own HTTP client)
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "/v1/clients/{client_id}" in text  # the access log ran, with the route template
    for cid in some:
        assert cid not in text
    for key in keys.values():
        assert key not in text
