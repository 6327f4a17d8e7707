"""The API against its own OpenAPI document (Schemathesis, property-based), and problem
responses for everything that goes wrong."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from .conftest import auth


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_conforms_to_its_schema(case, keys):
    """Every check Schemathesis runs by default (no server error, status codes, content
    types, response schemas, negative data rejected, ...) with an admin key."""
    case.call_and_validate(headers=auth(keys["admin"]))


def test_openapi_is_published(client):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    paths = set(doc["paths"])
    assert {"/v1/clients/{client_id}", "/v1/segments", "/v1/events", "/v1/alerts/{alert_id}/ack",
            "/v1/audiences/{audience_id}/export", "/metrics", "/v1/health"} <= paths
    assert not any(p.startswith("/dashboard") for p in paths)
    assert client.get("/docs").status_code == 200


def test_errors_are_problem_responses_without_traceback(app, keys):
    from fastapi.testclient import TestClient

    @app.get("/boom", include_in_schema=False)
    def boom():
        raise RuntimeError("secret internals C00000001")

    with TestClient(app, raise_server_exceptions=False) as c:
        for method, path, status in (("GET", "/nowhere", 404), ("DELETE", "/v1/segments", 405),
                                     ("GET", "/boom", 500)):
            r = c.request(method, path, headers=auth(keys["admin"]))
            assert r.status_code == status
            assert r.headers["content-type"] == "application/problem+json"
            body = r.json()
            assert body["status"] == status and body["title"]
            assert "Traceback" not in r.text and "secret internals" not in r.text
