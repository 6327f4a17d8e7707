"""The serving store: what a publication holds, swaps that readers never see half-done, a
batch that never waits for readers; on the embedded store and on PostgreSQL."""

from __future__ import annotations

import os
import threading
import time
import uuid

import httpx
import numpy as np
import pytest

from segmint import Project
from segmint.api import DuckDBStore, ServiceState, create_app, open_store, publish
from segmint.api._store import publications_dir, resolve
from segmint.disclosure import determined_cells
from segmint.store import Warehouse

from .conftest import auth, book_of, serve_in_thread

PG_DSN = os.environ.get("SEGMINT_TEST_PG_DSN")


def _with_serving(project: Project, **serving) -> Project:
    from segmint.config import ServingConfig

    config = project.config.model_copy(update={
        "serving": ServingConfig.model_validate(project.config.serving.model_dump() | serving)})
    return Project(config, project.root)


@pytest.fixture(params=["duckdb", "postgres"])
def backend_project(request, served):
    """The served bank on each backend (PostgreSQL: its own schema prefix, dropped after)."""
    if request.param == "duckdb":
        yield served
        return
    if not PG_DSN:
        pytest.skip("SEGMINT_TEST_PG_DSN is not set: no PostgreSQL to test against")
    import psycopg

    prefix = "t" + uuid.uuid4().hex[:10]
    os.environ["SEGMINT_SERVING_DSN_TEST"] = PG_DSN
    project = _with_serving(served, backend="postgres", dsn_env="SEGMINT_SERVING_DSN_TEST",
                            schema_prefix=prefix)
    project.publish()
    yield project
    with psycopg.connect(PG_DSN, autocommit=True) as pg:
        names = [r[0] for r in pg.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", [prefix]).fetchall()]
        for name in names:
            pg.execute(f'DROP SCHEMA "{name}" CASCADE')


def test_publication_holds_current_segments_values_books(served, state, keys):
    store = open_store(served.config, served.root)
    by_book = book_of(served)
    with served.warehouse(read_only=True) as wh:
        current = wh.con.execute(
            "SELECT client_id, dimension, segment_id FROM segment_assignments "
            "WHERE as_of = (SELECT max(as_of) FROM segment_assignments)").fetchall()
        clv = dict(wh.con.execute("SELECT client_id, clv_12m FROM features "
                                  "WHERE as_of = (SELECT max(as_of) FROM features)").fetchall())
    with store.snapshot() as snap:
        assert snap.meta["clients"] == len(by_book)
        for cid, dim, seg in current[:200]:
            book, doc = snap.client(cid)
            assert book == by_book[cid]
            assert {s["dimension"]: s["segment_id"] for s in doc["segments"]}[dim] == seg
            assert doc["values"]["clv_12m"] == pytest.approx(clv[cid])
        sizes = {(s.dimension, s.segment_id): s.clients for s in snap.segments()}
    expected: dict = {}
    for _, dim, seg in current:
        expected[(dim, seg)] = expected.get((dim, seg), 0) + 1
    # the sizes as released: the true ones, or null (governance.min_cell 10) -- none below
    # 10, none recoverable from the dimension's total
    assert sizes.keys() == expected.keys()
    assert all(v is None or v == expected[k] for k, v in sizes.items())
    assert all(v is None or v >= 10 for v in sizes.values())
    assert any(expected[k] < 10 for k in sizes) and all(sizes[k] is None for k in sizes if expected[k] < 10)
    for dim in {d for d, _ in sizes}:
        hidden = np.array([[v is None for (d, _), v in sorted(sizes.items()) if d == dim]])
        assert not determined_cells(hidden, np.array([True]), np.zeros(hidden.shape[1], bool), True).any()
    store.close()


def test_nothing_to_publish_before_segments(tmp_path, served):
    with Warehouse(tmp_path / "empty.duckdb") as wh:
        assert publish(wh, served.config, root=tmp_path) is None
    store = DuckDBStore(tmp_path / "nothing.duckdb")
    from segmint.api import NotPublishedError

    with pytest.raises(NotPublishedError), store.snapshot():
        pass


def test_scores_and_audiences_of_either_shape(served):
    with served.warehouse() as wh:
        wh.con.execute("CREATE TABLE scores AS SELECT client_id, DATE '2025-12-31' AS as_of, "
                       "'churn' AS model, 0.25 AS score FROM clients UNION ALL "
                       "SELECT client_id, DATE '2025-12-30', 'churn', 0.9 FROM clients")
    served.publish()
    store = open_store(served.config, served.root)
    cid = sorted(book_of(served))[0]
    with store.snapshot() as snap:
        assert snap.client(cid)[1]["scores"] == {"churn": 0.25}  # the latest as_of only
    with served.warehouse() as wh:
        wh.con.execute("DROP TABLE scores")
        wh.con.execute("CREATE TABLE scores AS SELECT client_id, 0.5 AS upgrade, 0.125 AS next_purchase "
                       "FROM clients")
    served.publish()
    with store.snapshot() as snap:
        assert snap.client(cid)[1]["scores"] == {"next_purchase": 0.125, "upgrade": 0.5}
        audiences = snap.audiences(book=None, scoped=False)
        assert [a["audience_id"] for a in audiences] == ["upsell"]
        members = snap.audience_members("upsell", book=None, scoped=False, after=None, limit=10)
        assert members and all(d["group"] in ("holdout", "treatment") for _, d in members)
    store.close()


def test_book_from_a_mapping_file(served, tmp_path):
    import pandas as pd

    ids = sorted(book_of(served))
    pd.DataFrame({"client_id": ids, "book": ["rm-a" if i % 2 else "rm-b" for i in range(len(ids))]}
                 ).to_csv(served.root / "books.csv", index=False)
    project = _with_serving(served, book={"path": "books.csv"})
    project.publish()
    store = open_store(project.config, project.root)
    with store.snapshot() as snap:
        assert snap.client(ids[1])[0] == "rm-a" and snap.client(ids[0])[0] == "rm-b"
    store.close()


def test_a_reader_holding_a_publication_never_blocks_the_batch(served):
    """A request in flight keeps reading its publication while the batch publishes past it
    (and deletes its file); the batch does not wait."""
    store = open_store(served.config, served.root)
    cid = sorted(book_of(served))[0]
    with store.snapshot() as held:
        old = held.publication_id
        before = held.client(cid)
        folder = publications_dir(resolve(served.root, served.config.serving.path))
        for _ in range(served.config.serving.keep + 1):
            t0 = time.perf_counter()
            served.publish()
            assert time.perf_counter() - t0 < 30
        assert not (folder / f"{old}.duckdb").exists()  # deleted under the reader
        assert held.client(cid) == before and held.publication_id == old
    with store.snapshot() as fresh:
        assert fresh.publication_id != old
    store.close()


def test_publishing_during_lookups_never_mixes_publications(backend_project, tmp_path):
    """Each publication sets every client's CLV to its own number k; a lookup (and a segment
    listing) must show the k of the publication it names, never another's."""
    project = backend_project
    state = ServiceState(tmp_path / "state.sqlite")
    key = state.create_key(role="admin", name="bench")[1]
    store = open_store(project.config, project.root)
    app = create_app(store=store, state=state, settings=project.config.serving, worker=False)
    server, thread, url = serve_in_thread(app)
    ids = sorted(book_of(project))
    marks: dict[str, int] = {}
    seen: list[tuple[str, float | None]] = []
    seen_segments: list[tuple[str, list]] = []
    errors: list[str] = []
    done = threading.Event()

    def reader(i: int) -> None:
        with httpx.Client(base_url=url, headers=auth(key), timeout=30) as http:
            n = 0
            while not done.is_set():
                n += 1
                if n % 5 == 0:
                    r = http.get("/v1/segments")
                    if r.status_code != 200:
                        errors.append(f"segments {r.status_code}")
                        continue
                    body = r.json()
                    seen_segments.append((body["publication_id"],
                                          [s["clv_mean"] for s in body["segments"] if s["clients"]]))
                    continue
                r = http.get(f"/v1/clients/{ids[(i * 37 + n) % len(ids)]}")
                if r.status_code != 200:
                    errors.append(f"client {r.status_code}")
                    continue
                body = r.json()
                seen.append((body["publication_id"], body["clv"]))

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for t in readers:
        t.start()
    try:
        for k in range(1, 7):
            with project.warehouse() as wh:
                wh.con.execute("UPDATE features SET clv_12m = ? WHERE as_of = "
                               "(SELECT max(as_of) FROM features)", [float(k)])
                pub = publish(wh, project.config, root=project.root, kind="cycle")
            marks[pub.publication_id] = k
            time.sleep(0.3)
    finally:
        done.set()
        for t in readers:
            t.join()
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
    assert not errors, errors[:5]
    tagged = [(p, clv) for p, clv in seen if p in marks]
    assert len({p for p, _ in tagged}) >= 3, "the lookups did not span several publications"
    for pub_id, clv in tagged:
        assert clv == marks[pub_id], f"torn read: publication {pub_id} (k={marks[pub_id]}) showed {clv}"
    for pub_id, means in seen_segments:
        if pub_id in marks:
            assert means and all(m == pytest.approx(marks[pub_id]) for m in means)


def test_postgres_lookup_equals_embedded(served):
    if not PG_DSN:
        pytest.skip("SEGMINT_TEST_PG_DSN is not set: no PostgreSQL to test against")
    import psycopg

    prefix = "t" + uuid.uuid4().hex[:10]
    os.environ["SEGMINT_SERVING_DSN_TEST"] = PG_DSN
    pg_project = _with_serving(served, backend="postgres", dsn_env="SEGMINT_SERVING_DSN_TEST",
                               schema_prefix=prefix, keep=2)
    try:
        for _ in range(3):
            pg_project.publish()
        served.publish()
        embedded, remote = open_store(served.config, served.root), open_store(
            pg_project.config, pg_project.root)
        ids = sorted(book_of(served))
        with embedded.snapshot() as a, remote.snapshot() as b:
            for cid in ids[:50]:
                assert a.client(cid) == b.client(cid)
            assert [s.__dict__ for s in a.segments()] == [s.__dict__ for s in b.segments()]
            for seg in a.segments()[:3]:
                args = dict(book=None, scoped=False, after=None, limit=1000)
                assert a.members(seg.dimension, seg.segment_id, **args) == b.members(
                    seg.dimension, seg.segment_id, **args)
            assert a.audiences(book="x", scoped=True) == b.audiences(book="x", scoped=True)
            assert len(a.alerts()) == len(b.alerts()) == 1
        embedded.close()
        remote.close()
        with psycopg.connect(PG_DSN) as pg:
            schemas = pg.execute("SELECT count(*) FROM pg_namespace WHERE starts_with(nspname, %s)",
                                 [prefix + "_p_"]).fetchone()[0]
        assert schemas == 2  # keep: older publications dropped
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as pg:
            for (name,) in pg.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
                                      [prefix]).fetchall():
                pg.execute(f'DROP SCHEMA "{name}" CASCADE')


def test_pseudonymised_ids_when_governance_turns_them_on(served, monkeypatch):
    """Through the seam governance fills (``pseudonym_key``, ``pseudonym_sql``): every
    published id is the pseudonym; the real id is not found."""
    import sys
    import types
    from types import SimpleNamespace

    fake = types.ModuleType("segmint.governance")
    fake.pseudonym_key = lambda settings, root: b"k" * 16
    fake.pseudonym_sql = lambda column, key: f"'p-' || md5({column} || '{key.decode()}')"
    monkeypatch.setitem(sys.modules, "segmint.governance", fake)

    class WithGovernance:
        governance = SimpleNamespace(pseudonymise=SimpleNamespace(enabled=True), min_cell=10)

        def __getattr__(self, name):
            return getattr(served.config, name)

    with served.warehouse() as wh:
        publish(wh, WithGovernance(), root=served.root, kind="manual")
    import hashlib

    store = open_store(served.config, served.root)
    real = sorted(book_of(served))[0]
    pseudo = "p-" + hashlib.md5((real + "k" * 16).encode()).hexdigest()
    with store.snapshot() as snap:
        assert snap.client(real) is None
        book, doc = snap.client(pseudo)
        assert book == book_of(served)[real] and doc["segments"]
        seg = snap.segments()[0]
        members = snap.members(seg.dimension, seg.segment_id, book=None, scoped=False, after=None,
                               limit=100_000)
        assert members and all(m.startswith("p-") for m in members)
        audience = snap.audience_members("upsell", book=None, scoped=False, after=None, limit=100_000)
        assert audience and all(c.startswith("p-") for c, _ in audience)
    store.close()
    monkeypatch.delitem(sys.modules, "segmint.governance")
    monkeypatch.setattr("builtins.__import__", _refuse_governance(__import__))
    with served.warehouse() as wh, pytest.raises(Exception, match="refusing to publish real client ids"):
        publish(wh, WithGovernance(), root=served.root, kind="manual")


def _refuse_governance(real_import):
    def fake(name, *args, **kwargs):
        if name == "segmint.governance":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)
    return fake


def test_targeting_audiences_latest_build_members_only(served):
    """The targeting stage's shape: every build kept (version) with its holdout (status)."""
    with served.warehouse() as wh:
        wh.con.execute("DROP TABLE audience_members")
        wh.con.execute("DROP TABLE audiences")
        wh.con.execute(
            "CREATE TABLE audience_members AS SELECT 'winback' AS audience, v.version, "
            "DATE '2025-12-31' AS as_of, client_id, CASE WHEN hash(client_id) % 4 = 0 THEN 'holdout' "
            "ELSE 'member' END AS status, 1::BIGINT AS rank, 0.5 AS score "
            "FROM clients, (VALUES (1), (2)) AS v(version) WHERE v.version = 2 OR hash(client_id) % 2 = 0")
        wh.con.execute("CREATE TABLE audience_builds AS SELECT 'winback' AS audience, 2 AS version, "
                       "'{\"segments\": [\"value-4\"]}'::JSON AS definition")
        expected = sorted(r[0] for r in wh.con.execute(
            "SELECT client_id FROM audience_members WHERE version = 2 AND status = 'member'").fetchall())
    served.publish()
    store = open_store(served.config, served.root)
    with store.snapshot() as snap:
        rows = snap.audience_members("winback", book=None, scoped=False, after=None, limit=100_000)
        assert sorted(c for c, _ in rows) == expected
        assert set(rows[0][1]) == {"rank", "score"}
        assert "value-4" in snap.audience("winback")["definition"]
    store.close()


def test_lookups_run_on_the_loop_and_a_new_publication_opens_in_a_thread(served, monkeypatch):
    """The embedded store's point lookups run inline (no thread-pool hop); opening a new
    publication does not (it would stall every request on the event loop)."""
    import asyncio

    from segmint.api._reader import Snapshot
    from segmint.api.deps import Service

    project = served
    publish(project.warehouse(), project.config, root=project.root, kind="run")
    store = open_store(project.config, project.root)
    threads: dict[str, int] = {}
    real_refresh, real_clients = store.refresh, Snapshot.clients

    def refresh() -> None:
        threads["refresh"] = threading.get_ident()
        real_refresh()

    def clients(self, ids):
        threads["read"] = threading.get_ident()
        return real_clients(self, ids)

    store.refresh = refresh  # type: ignore[method-assign]
    monkeypatch.setattr(Snapshot, "clients", clients)
    service = Service(store=store, state=None, settings=None, limiter=None, rescore=None,  # type: ignore[arg-type]
                      auth_cache_seconds=0, sessions={}, _auth_cache={})
    cid = sorted(book_of(project))[0]

    async def read() -> str:
        threads["loop"] = threading.get_ident()
        snap, found = await service.client(cid)
        assert found is not None
        return snap.publication_id

    try:
        first = asyncio.run(read())
        assert threads["read"] == threads["loop"]  # inline
        assert threads["refresh"] != threads["loop"]  # the first open: in a thread
        threads.clear()
        assert asyncio.run(read()) == first
        assert "refresh" not in threads  # nothing new: no thread hop at all
        second = publish(project.warehouse(), project.config, root=project.root, kind="run")
        assert asyncio.run(read()) == second.publication_id
        assert threads["refresh"] != threads["loop"] and threads["read"] == threads["loop"]
    finally:
        store.close()


def test_small_counts_are_suppressed_in_the_publication(served):
    """An audience of 4 and the small segments: null counts, and a suppressed segment's
    share, CLV and churn risk null too; the dashboard reads "suppressed"."""
    import json

    from segmint.api._dashboard import audiences_page, overview

    with served.warehouse() as wh:
        wh.con.execute("INSERT INTO audience_members SELECT 'tiny', client_id, 'treatment' "
                       "FROM clients ORDER BY client_id LIMIT 4")
    served.publish()
    store = open_store(served.config, served.root)
    with store.snapshot() as snap:
        assert snap.audience("tiny")["clients"] is None and snap.audience("upsell")["clients"] >= 10
        hidden = [s for s in snap.segments() if s.clients is None]
        assert hidden
        for s in hidden:
            assert s.share is None and s.clv_total is None and s.clv_mean is None and s.churn_risk is None
            assert json.loads(s.profile)["suppressed"] and s.persona == ""
        page = overview(snap.segments()) + audiences_page(snap.audiences(book=None, scoped=False),
                                                          can_export=False)
    store.close()
    assert "<td class='num'>suppressed</td>" in page


def test_lookups_arriving_together_share_one_query_and_each_gets_its_own(app, keys, served, monkeypatch):
    """Concurrent client lookups are batched into one store query; every caller gets its
    own client (or its own 404), exactly as a lookup on its own would."""
    import asyncio

    from segmint.api._reader import Snapshot

    calls: list[list[str]] = []
    real = Snapshot.clients

    def counting(self, ids):
        calls.append(list(ids))
        return real(self, ids)

    monkeypatch.setattr(Snapshot, "clients", counting)
    ids = sorted(book_of(served))[:24] + ["NO-SUCH-CLIENT"]
    ids = ids + ids[:3]  # the same client twice in one batch
    headers = auth(keys["admin"])

    async def lookups():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://segmint") as c:
            together = await asyncio.gather(*(c.get(f"/v1/clients/{i}", headers=headers) for i in ids))
            batched = list(calls)
            alone = [await c.get(f"/v1/clients/{i}", headers=headers) for i in ids]
        return together, batched, alone

    together, batched, alone = asyncio.run(lookups())
    assert {i for b in batched for i in b} == set(ids)
    assert all(len(set(b)) == len(b) for b in batched)  # an id twice in a batch: read once
    assert len(batched) < len(ids) // 4, batched  # in few queries
    assert len(calls) - len(batched) == len(ids)  # one query each when alone
    for cid, r, single in zip(ids, together, alone, strict=True):
        assert r.status_code == single.status_code == (404 if cid == "NO-SUCH-CLIENT" else 200)
        if r.status_code == 200:
            assert r.json()["client_id"] == cid and r.json() == single.json()
