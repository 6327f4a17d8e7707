"""A small published bank, API keys of every role, and an app over them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from segmint import Project
from segmint.api import ServiceState, create_app, open_store
from segmint.api._store import resolve
from segmint.datasets import generate_bank

SERVING = """
events:
  product_opened: {product_type: mortgage}
serving:
  book: {column: region}
  rate_limit: 100000
"""


@pytest.fixture(scope="session")
def served_template(tmp_path_factory) -> Path:
    """A 300-client bank: run, one update cycle, published (never modified; copied)."""
    root = tmp_path_factory.mktemp("served")
    data = generate_bank(root / "bank", n_clients=300, seed=5)
    data.config.write_text(data.config.read_text() + SERVING)
    project = Project.from_yaml(data.config)
    project.run()
    project.update(ingest=False)
    with project.warehouse() as wh:
        # an alert to acknowledge, and an audience (with a detail column) to export
        wh.con.execute(
            "INSERT INTO alerts VALUES ('2025-12-31', DATE '2025-12-31', 'min_share', 'warning', "
            "'value', NULL, 'value-1', 0.001, 0.01, 'segment value-1 holds 0.1% of clients')")
        wh.con.execute(
            "CREATE TABLE audience_members AS SELECT 'upsell' AS audience_id, client_id, "
            "CASE WHEN hash(client_id) % 10 = 0 THEN 'holdout' ELSE 'treatment' END AS \"group\" "
            "FROM clients WHERE hash(client_id) % 3 = 0")
        wh.con.execute("CREATE TABLE audiences AS SELECT 'upsell' AS audience_id, "
                       "'Upsell candidates' AS name, 'a third of the book' AS definition")
    project.publish()
    return root / "bank"


@pytest.fixture
def served(served_template: Path, tmp_path: Path) -> Project:
    target = tmp_path / "bank"
    shutil.copytree(served_template, target, symlinks=True)
    return Project.from_yaml(target / "segmint.yaml")


class Keys(dict):
    """role name -> key; ``rm`` (own book), ``rm_other`` (another book)."""


@pytest.fixture
def books(served: Project) -> tuple[str, str]:
    with served.warehouse(read_only=True) as wh:
        rows = wh.con.execute(
            "SELECT region, count(*) FROM clients GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    return rows[0][0], rows[1][0]


@pytest.fixture
def state(served: Project) -> ServiceState:
    s = ServiceState(resolve(served.root, served.config.serving.state))
    yield s
    s.close()


@pytest.fixture
def keys(state: ServiceState, books) -> Keys:
    own, other = books
    k = Keys()
    for role in ("admin", "analyst", "campaign"):
        k[role] = state.create_key(role=role, name=role)[1]
    k["rm"] = state.create_key(role="rm", name="rm", book=own)[1]
    k["rm_other"] = state.create_key(role="rm", name="rm2", book=other)[1]
    return k


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def book_of(project: Project) -> dict[str, str]:
    """client id -> book (its region), from the warehouse."""
    with project.warehouse(read_only=True) as wh:
        return dict(wh.con.execute("SELECT client_id, region FROM clients").fetchall())


def queued_only(frame):
    raise AssertionError("the worker is off in this test: nothing may be re-scored")


@pytest.fixture
def app(served: Project, state: ServiceState):
    store = open_store(served.config, served.root)
    yield create_app(store=store, state=state, settings=served.config.serving,
                     auth_cache_seconds=0, rescore=queued_only, worker=False)
    store.close()


@pytest.fixture
def client(app) -> TestClient:
    with TestClient(app) as c:
        yield c


def serve_in_thread(app):
    """Run ``app`` on a free port of 127.0.0.1 with uvicorn; returns (server, thread, url)."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"
