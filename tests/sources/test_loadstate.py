"""Incremental ingestion: each entity unchanged, appended or reloaded, always ending as a
full reload of all the files would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from segmint import Project
from segmint.datasets import generate_bank
from tiny_project import YAML, make_project

ENTITY_TABLES = ("clients", "transactions", "holdings")

# tx and crm read globs, so a new file can arrive next to the first one
GLOB_YAML = YAML.replace("tx: {path: data/tx.csv}", 'tx: {path: "data/tx*.csv"}').replace(
    "crm: {path: data/clients.csv}", 'crm: {path: "data/clients*.csv"}'
)
TX_HEADER = "id,cid,when,cents,cur,cat,chan,promo\n"
NEW_TX = TX_HEADER + (
    "t20,c1,2024-04-01 10:00:00,700,EUR,food,web,false\n"  # good
    "t21,c2,2024-04-02 10:00:00,800,EUR,food,web,false\n"  # good
    "t21,c2,2024-04-02 10:00:00,800,EUR,food,web,false\n"  # exact copy: collapsed
    "t1,c1,2024-01-05 10:00:00,1250,EUR,food,web,false\n"  # same as loaded t1: collapsed
    "t22,zz,2024-04-03 10:00:00,100,EUR,food,web,false\n"  # unknown_client
    "t23,c1,2099-04-03 10:00:00,100,EUR,food,web,false\n"  # future_timestamp
    "t24,c1,2024-04-04 10:00:00,1x,EUR,food,web,false\n"  # unparseable_value
    "t25,c1,2024-04-05 10:00:00,100,USD,food,web,false\n"  # currency_mismatch
    "t26,c1,2024-04-06 10:00:00,100,EUR,food,web,false\n"  # conflict within the new file
    "t26,c1,2024-04-07 10:00:00,100,EUR,food,web,false\n"
)


@pytest.fixture
def glob_project(tmp_path):
    return Project.from_yaml(make_project(tmp_path, GLOB_YAML))


def snapshot(project: Project, *extra: str) -> dict[str, Counter]:
    """Every entity table and the quarantine (without run ids) as multisets of rows."""
    out = {}
    with project.warehouse(read_only=True) as wh:
        for t in (*ENTITY_TABLES, *extra):
            out[t] = Counter(wh.con.execute(f"SELECT * FROM {t}").fetchall())
        out["quarantine"] = Counter(
            wh.con.execute("SELECT * EXCLUDE (run_id) FROM quarantine").fetchall()
        )
    return out


def full_reload_equals(project: Project, state: dict[str, Counter]) -> None:
    report = project.ingest(full=True, allow_shrink=True)
    assert set(report.modes.values()) == {"reloaded"}
    extra = [t for t in state if t not in (*ENTITY_TABLES, "quarantine")]
    assert snapshot(project, *extra) == state


def test_same_files_twice_is_unchanged_and_writes_nothing(glob_project):
    glob_project.ingest()
    with glob_project.warehouse(read_only=True) as wh:
        q1 = sorted(wh.con.execute("SELECT * FROM quarantine").fetchall(), key=repr)
    before = snapshot(glob_project, "_loaded_files")
    report = glob_project.ingest()
    assert report.modes == {"clients": "unchanged", "transactions": "unchanged", "holdings": "unchanged"}
    assert all(e.rows_read == 0 and e.rows_appended == 0 for e in report.entities.values())
    assert report["transactions"].rows_in_table == 4
    assert snapshot(glob_project, "_loaded_files") == before
    with glob_project.warehouse(read_only=True) as wh:
        q2 = sorted(wh.con.execute("SELECT * FROM quarantine").fetchall(), key=repr)
        runs = wh.runs()
        assert not [t for t in wh.tables() if t.startswith("_appended_")]
    assert q1 == q2  # not rewritten: the quarantine rows keep the first run's id
    assert runs[-1]["status"] == "ok"
    assert '"mode": "unchanged"' in runs[-1]["counts"]


def test_a_new_file_appends_its_good_rows_and_quarantines_its_bad_ones(glob_project):
    glob_project.ingest()
    (glob_project.root / "data" / "tx2.csv").write_text(NEW_TX)
    report = glob_project.ingest()
    tx = report["transactions"]
    assert report.modes == {"clients": "unchanged", "transactions": "appended", "holdings": "unchanged"}
    assert (tx.rows_read, tx.rows_appended, tx.duplicates_collapsed) == (10, 2, 2)
    assert tx.quarantined == {
        "currency_mismatch": 1, "duplicate_conflict": 2, "future_timestamp": 1,
        "unknown_client": 1, "unparseable_value": 1,
    }
    assert tx.rows_read == tx.rows_loaded + tx.rows_quarantined + tx.duplicates_collapsed
    assert tx.rows_in_table == 6
    assert report.appended() == {"transactions": "_appended_transactions"}
    with glob_project.warehouse(read_only=True) as wh:
        appended = wh.con.execute("SELECT transaction_id, amount FROM _appended_transactions").fetchall()
        new_q = wh.con.execute(
            "SELECT source_file, source_row, reason FROM quarantine WHERE run_id = ?", [report.run_id]
        ).fetchall()
    assert sorted(appended) == [("t20", 7.0), ("t21", 8.0)]
    assert {r[0] for r in new_q} == {"data/tx2.csv"}  # earlier quarantine rows kept as they were
    assert sorted((r, why) for _, r, why in new_q) == [
        (4, "unknown_client"), (5, "future_timestamp"), (6, "unparseable_value"),
        (7, "currency_mismatch"), (8, "duplicate_conflict"), (9, "duplicate_conflict"),
    ]
    full_reload_equals(glob_project, snapshot(glob_project))
    # the next run appends nothing and drops the previous run's table
    report = glob_project.ingest()
    assert report["transactions"].mode == "unchanged" and not report.appended()
    with glob_project.warehouse(read_only=True) as wh:
        assert not wh.has_table("_appended_transactions")


def test_changing_an_old_file_reloads(glob_project):
    glob_project.ingest()
    tx = glob_project.root / "data" / "tx.csv"
    tx.write_text(tx.read_text().replace("t1,c1,2024-01-05 10:00:00,1250", "t1,c1,2024-01-05 10:00:00,1350"))
    report = glob_project.ingest()
    assert report["transactions"].mode == "reloaded"
    assert "data/tx.csv" in report["transactions"].mode_reason
    assert report["clients"].mode == "unchanged"
    full_reload_equals(glob_project, snapshot(glob_project))


def test_removing_a_file_reloads(glob_project):
    (glob_project.root / "data" / "tx2.csv").write_text(NEW_TX)
    glob_project.ingest()
    (glob_project.root / "data" / "tx2.csv").unlink()
    report = glob_project.ingest()
    assert report["transactions"].mode == "reloaded"
    assert report["transactions"].rows_in_table == 4


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ("t1,c1,2024-01-05 10:00:00,9999,EUR,food,web,false", "repeat the key of a loaded"),
        ("t4,c2,2024-02-02 09:00:00,100,EUR,travel,branch,true", "quarantined as duplicate_conflict"),
        ("t2,c1,2024-01-06 11:00:00,-300,EUR,food,web,false\n"
         "t2,c1,2024-01-06 11:00:00,-301,EUR,food,web,false", "repeat the key of a loaded"),
    ],
    ids=["other-values", "key-quarantined-as-conflict", "new-conflict-on-loaded-key"],
)
def test_a_new_row_conflicting_with_loaded_rows_reloads_like_a_full_load(glob_project, row, why):
    glob_project.ingest()
    (glob_project.root / "data" / "tx2.csv").write_text(TX_HEADER + row + "\n")
    report = glob_project.ingest()
    assert report["transactions"].mode == "reloaded"
    assert why in report["transactions"].mode_reason
    state = snapshot(glob_project)
    key = row.split(",")[0]
    assert key not in {r[0] for r in state["transactions"]}  # every row of the key quarantined
    full_reload_equals(glob_project, state)


def test_new_clients_resolve_quarantined_transactions(glob_project):
    glob_project.ingest()
    (glob_project.root / "data" / "clients2.csv").write_text("cid,opened,yob,sex,reg\nzz,2020-01-01,1990,F,North\n")
    report = glob_project.ingest()
    assert report["clients"].mode == "appended" and report["clients"].rows_appended == 1
    # t5 (client zz) was quarantined as unknown_client: a full load would now keep it
    assert report["transactions"].mode == "reloaded"
    assert "unknown_client" in report["transactions"].mode_reason
    assert report["holdings"].mode == "reloaded"  # a4 of zz too
    state = snapshot(glob_project)
    assert "t5" in {r[0] for r in state["transactions"]}
    full_reload_equals(glob_project, state)


def test_new_clients_resolving_nothing_keep_the_others_unchanged(glob_project):
    glob_project.ingest()
    (glob_project.root / "data" / "clients2.csv").write_text("cid,opened,yob,sex,reg\nc9,2020-01-01,1990,F,North\n")
    report = glob_project.ingest()
    assert report.modes == {"clients": "appended", "transactions": "unchanged", "holdings": "unchanged"}
    full_reload_equals(glob_project, snapshot(glob_project))


def test_a_reloaded_clients_table_that_lost_a_client_reloads_its_dependents(glob_project):
    glob_project.ingest()
    crm = glob_project.root / "data" / "clients.csv"
    crm.write_text("\n".join(ln for ln in crm.read_text().splitlines() if not ln.startswith("c2,")) + "\n")
    report = glob_project.ingest()
    assert report["clients"].mode == "reloaded"
    assert report["transactions"].mode == "reloaded"
    assert report["transactions"].mode_reason == "clients were removed or replaced"
    full_reload_equals(glob_project, snapshot(glob_project))


def test_max_date_moves(tmp_path):
    path = make_project(tmp_path, GLOB_YAML)
    Project.from_yaml(path).ingest()
    # later, but t6 (2099) is still in the future: nothing to redo
    path.write_text(path.read_text().replace("max_date: 2025-12-31", "max_date: 2026-06-30"))
    project = Project.from_yaml(path)
    assert set(project.ingest().modes.values()) == {"unchanged"}
    # t6 is no longer in the future
    path.write_text(path.read_text().replace("max_date: 2026-06-30", "max_date: 2099-12-31"))
    project = Project.from_yaml(path)
    report = project.ingest()
    assert report["transactions"].mode == "reloaded"
    assert "t6" in {r[0] for r in snapshot(project)["transactions"]}
    # and back: rows loaded before could now be in the future (most transactions go to
    # quarantine: a shrink the test means)
    path.write_text(path.read_text().replace("max_date: 2099-12-31", "max_date: 2024-01-31"))
    project = Project.from_yaml(path)
    assert set(project.ingest(allow_shrink=True).modes.values()) == {"reloaded"}


@pytest.mark.parametrize(
    "change",
    [
        ("currency: EUR", "currency: USD"),
        ("min_date: 2000-01-01", "min_date: 2024-01-06"),
        ("max_date: 2025-12-31", "max_date: 2025-12-31, unknown_clients: stub"),
        ("channel: chan", "channel: cat"),
    ],
)
def test_settings_changes_reload(tmp_path, change):
    path = make_project(tmp_path, GLOB_YAML)
    Project.from_yaml(path).ingest()
    path.write_text(path.read_text().replace(*change))
    # a stricter contract may quarantine most of these few rows: a shrink the test means
    report = Project.from_yaml(path).ingest(allow_shrink=True)
    assert report["transactions"].mode == "reloaded"
    assert "changed" in report["transactions"].mode_reason


def test_new_file_with_other_columns_reloads(glob_project):
    glob_project.ingest()
    (glob_project.root / "data" / "tx2.csv").write_text(
        "id,cid,when,cents,cur,cat,chan,promo,extra\nt30,c1,2024-04-01 10:00:00,700,EUR,food,web,false,x\n"
    )
    report = glob_project.ingest()
    assert report["transactions"].mode == "reloaded"
    full_reload_equals(glob_project, snapshot(glob_project))


def test_a_table_written_outside_ingest_is_reloaded(glob_project):
    glob_project.ingest()
    with glob_project.warehouse() as wh:
        wh.con.execute("DELETE FROM transactions WHERE transaction_id = 't1'")
    report = glob_project.ingest()
    assert report["transactions"].mode == "reloaded"
    assert report["transactions"].rows_in_table == 4


def test_full_forces_a_reload(glob_project):
    glob_project.ingest()
    report = glob_project.ingest(full=True)
    assert set(report.modes.values()) == {"reloaded"}
    assert report["transactions"].mode_reason == "full reload requested"


def test_stub_policy_appends_stub_clients(tmp_path):
    path = make_project(tmp_path, GLOB_YAML.replace("max_date: 2025-12-31", "max_date: 2025-12-31, unknown_clients: stub"))
    project = Project.from_yaml(path)
    project.ingest()
    (tmp_path / "data" / "tx2.csv").write_text(NEW_TX)
    report = project.ingest()
    assert report["transactions"].mode == "appended"
    assert report["transactions"].stub_clients == 0  # zz is already a stub
    (tmp_path / "data" / "tx3.csv").write_text(TX_HEADER + "t40,yy,2024-04-01 10:00:00,700,EUR,food,web,false\n")
    report = project.ingest()
    assert report.modes == {"clients": "unchanged", "transactions": "appended", "holdings": "unchanged"}
    assert report["transactions"].stub_clients == 1
    full_reload_equals(project, snapshot(project))


def test_a_new_client_file_naming_a_stub_reloads(tmp_path):
    path = make_project(tmp_path, GLOB_YAML.replace("max_date: 2025-12-31", "max_date: 2025-12-31, unknown_clients: stub"))
    project = Project.from_yaml(path)
    project.ingest()
    (tmp_path / "data" / "clients2.csv").write_text("cid,opened,yob,sex,reg\nzz,2020-01-01,1990,F,North\n")
    report = project.ingest()
    # the stub row differs from the real one: clients reload; zz is still a client, so
    # the rows referring to it hold as they are
    assert report.modes == {"clients": "reloaded", "transactions": "unchanged", "holdings": "unchanged"}
    assert "repeat the key of a loaded clients row" in report["clients"].mode_reason
    state = snapshot(project)
    assert ("zz", False) in {(r[0], r[-1]) for r in state["clients"]}
    full_reload_equals(project, state)


def test_a_kill_during_an_append_leaves_the_previous_state(glob_project):
    glob_project.ingest()
    state_tables = ("_loaded_files", "_loaded_entities")
    before = snapshot(glob_project, *state_tables)
    (glob_project.root / "data" / "tx2.csv").write_text(NEW_TX)
    env = dict(os.environ, SEGMINT_TEST_KILL_AT="after:transactions")
    code = "import segmint, sys; segmint.Project.from_yaml(sys.argv[1]).ingest()"
    proc = subprocess.run([sys.executable, "-c", code, str(glob_project.root / "segmint.yaml")], env=env)
    assert proc.returncode == -9  # really killed
    assert snapshot(glob_project, *state_tables) == before
    with glob_project.warehouse(read_only=True) as wh:
        assert not wh.has_table("_appended_transactions")
    report = glob_project.ingest()
    assert report["transactions"].mode == "appended" and report["transactions"].rows_appended == 2


def test_generated_bank_in_two_deliveries_equals_one_full_load(tmp_path):
    data = generate_bank(tmp_path / "bank", n_clients=2_000, seed=5, faults=0.01, chunk_size=1_000)
    parts = sorted((data.out_dir / "transactions").glob("*.parquet"))
    assert len(parts) == 2
    held = tmp_path / "held"
    held.mkdir()
    for p in parts[1:]:
        shutil.move(p, held / p.name)
    project = Project.from_yaml(data.config)
    project.ingest()
    for p in sorted(held.iterdir()):
        shutil.move(p, data.out_dir / "transactions" / p.name)
    report = project.ingest()
    # faults are planted within a part file, so the new parts append cleanly
    assert report["transactions"].mode == "appended"
    assert report["transactions"].rows_appended > 0
    assert report["transactions"].rows_quarantined > 0
    assert {m for e, m in report.modes.items() if e != "transactions"} == {"unchanged"}
    full_reload_equals(project, snapshot(project, "engagement", "profitability"))


def test_a_derivation_reading_more_than_its_row_always_reloads(tmp_path):
    path = make_project(tmp_path, GLOB_YAML.replace('"cents / 100.0"', '"cents / 100.0 + 0 * random()"'))
    project = Project.from_yaml(path)
    project.ingest()
    report = project.ingest()
    assert report["transactions"].mode == "reloaded"
    assert "reads more than its own row" in report["transactions"].mode_reason
    assert report["clients"].mode == "unchanged"


def test_a_table_source_always_reloads(tmp_path):
    import duckdb

    con = duckdb.connect(str(tmp_path / "core.duckdb"))
    con.execute("CREATE TABLE people AS SELECT 'p' || i AS id FROM range(5) r(i)")
    con.execute("CREATE TABLE sales AS SELECT 's' || i AS sid, 'p1' AS pid, TIMESTAMP '2024-01-01' AS at, 1.5 AS amt FROM range(3) r(i)")
    con.close()
    (tmp_path / "segmint.yaml").write_text(
        "sources:\n  people: {table: people, database: core.duckdb}\n"
        "  sales: {table: sales, database: core.duckdb}\n"
        "entities:\n  clients: {source: people, columns: {client_id: id}}\n"
        "  transactions: {source: sales, columns: {transaction_id: sid, client_id: pid, ts: at, amount: amt}}\n"
        "contracts: {max_date: 2025-01-01}\n"
    )
    project = Project.from_yaml(tmp_path)
    project.ingest()
    report = project.ingest()
    assert report["clients"].mode == "reloaded"
    assert "is a table" in report["clients"].mode_reason


_row = st.tuples(
    st.sampled_from(["t1", "t2", "t3", "t4", "t5", "t9", "n1", "n2"]),  # loaded, conflicting, new keys
    st.sampled_from(["c1", "c2", "zz"]),
    st.sampled_from(["2024-01-05 10:00:00", "2024-06-01 08:00:00", "2099-01-01 00:00:00"]),
    st.sampled_from(["1250", "-300", "5000", "1x"]),
    st.sampled_from(["EUR", "USD", ""]),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries=st.lists(st.lists(_row, min_size=1, max_size=4), min_size=1, max_size=3))
def test_any_sequence_of_deliveries_ends_as_a_full_reload(tmp_path_factory, deliveries):
    root = tmp_path_factory.mktemp("deliveries")
    project = Project.from_yaml(make_project(root, GLOB_YAML))
    project.ingest()
    modes = []
    for k, rows in enumerate(deliveries):
        body = "".join(f"{i},{c},{ts},{cents},{cur},food,web,false\n" for i, c, ts, cents, cur in rows)
        (root / "data" / f"tx{k + 1}.csv").write_text(TX_HEADER + body)
        report = project.ingest()
        assert report["clients"].mode == "unchanged"
        modes.append(report["transactions"].mode)
    for m in modes:
        event(m)
    assert set(modes) <= {"appended", "reloaded"}
    full_reload_equals(project, snapshot(project))


_client = st.tuples(
    st.sampled_from(["c1", "c2", "c4", "c5", "c9", "zz"]),  # loaded, conflicting, new, unknown
    st.sampled_from(["2020-01-05", "2019-06-30", "2030-01-01", "bad"]),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    deliveries=st.lists(
        st.tuples(st.lists(_client, max_size=3), st.lists(_row, max_size=3)), min_size=1, max_size=3
    ),
    policy=st.sampled_from(["quarantine", "stub"]),
)
def test_client_and_transaction_deliveries_end_as_a_full_reload(tmp_path_factory, deliveries, policy):
    root = tmp_path_factory.mktemp("deliveries")
    yaml = GLOB_YAML.replace("max_date: 2025-12-31", f"max_date: 2025-12-31, unknown_clients: {policy}")
    project = Project.from_yaml(make_project(root, yaml))
    project.ingest()
    for k, (clients, rows) in enumerate(deliveries):
        if clients:
            body = "".join(f"{c},{d},1980,F,North\n" for c, d in clients)
            (root / "data" / f"clients{k + 1}.csv").write_text("cid,opened,yob,sex,reg\n" + body)
        if rows:
            body = "".join(f"{i},{c},{ts},{cents},{cur},food,web,false\n" for i, c, ts, cents, cur in rows)
            (root / "data" / f"tx{k + 1}.csv").write_text(TX_HEADER + body)
        # conflicting client rows hold all of a client's transactions: a shrink meant here
        report = project.ingest(allow_shrink=True)
        for e, m in report.modes.items():
            event(f"{e} {m}")
        event("clients: " + report["clients"].mode_reason)
    full_reload_equals(project, snapshot(project))


def test_a_new_file_changing_the_type_a_derivation_reads_reloads(glob_project):
    # `amount: {sql: cents / 100.0}` reads the text column cents as the type most of its
    # values parse as: BIGINT in tx.csv; a file of 'inf' (DOUBLE only) tips it to DOUBLE
    glob_project.ingest()
    rows = "".join(f"n{i},c1,2024-04-01 08:00:00,inf,EUR,food,web,false\n" for i in range(15))
    (glob_project.root / "data" / "tx2.csv").write_text(TX_HEADER + rows)
    report = glob_project.ingest()
    assert report["transactions"].mode == "reloaded"
    assert "changed" in report["transactions"].mode_reason
    state = snapshot(glob_project)
    assert report["transactions"].quarantined["non_finite"] == 15
    full_reload_equals(glob_project, state)


class _Hashes:
    """Counts the files segmint's readers hash (sha256 objects created)."""

    def __init__(self, monkeypatch):
        import hashlib

        import segmint.sources._readers as readers

        self.n = 0
        original = hashlib.sha256

        def counted(*a, **k):
            self.n += 1
            return original(*a, **k)

        monkeypatch.setattr(readers.hashlib, "sha256", counted, raising=True)


def _age(root, seconds=3600):
    """Set every input file's mtime in the past (files not being written any more)."""
    for p in (root / "data").iterdir():
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))


def test_files_unchanged_since_they_were_hashed_are_not_read_again(glob_project, monkeypatch):
    _age(glob_project.root)
    counter = _Hashes(monkeypatch)
    glob_project.ingest()
    files = counter.n
    assert files == len(list((glob_project.root / "data").iterdir()))
    counter.n = 0
    report = glob_project.ingest()
    assert set(report.modes.values()) == {"unchanged"} and counter.n == 0
    # a new file: only it is hashed, and appended
    (glob_project.root / "data" / "tx2.csv").write_text(NEW_TX)
    report = glob_project.ingest()
    assert report["transactions"].mode == "appended" and counter.n == 1
    # full=True reads every file again
    counter.n = 0
    glob_project.ingest(full=True)
    assert counter.n == files + 1
    # the cache holds this run's files only, by their label
    (glob_project.root / "data" / "tx2.csv").unlink()
    glob_project.ingest()
    with glob_project.warehouse(read_only=True) as wh:
        kept = [r[0] for r in wh.con.execute("SELECT file FROM _file_hashes ORDER BY 1").fetchall()]
    assert kept == sorted(f"data/{p.name}" for p in (glob_project.root / "data").iterdir())


def test_a_moved_project_keeps_its_file_hashes(glob_project, tmp_path_factory, monkeypatch):
    _age(glob_project.root)
    glob_project.ingest()
    moved = tmp_path_factory.mktemp("moved") / "project"
    shutil.copytree(glob_project.root, moved)  # copy2: mtimes kept
    project = Project.from_yaml(moved)
    counter = _Hashes(monkeypatch)
    report = project.ingest()
    assert set(report.modes.values()) == {"unchanged"} and counter.n == 0


def test_a_changed_file_is_hashed_again_by_its_size_or_mtime(glob_project):
    _age(glob_project.root)
    glob_project.ingest()
    tx = glob_project.root / "data" / "tx.csv"
    text = tx.read_text()
    # same size, other content, a new mtime: read again, and reloaded
    tx.write_text(text.replace("2024-01-05 10:00:00,1250", "2024-01-05 10:00:00,1350"))
    assert len(tx.read_text()) == len(text)
    report = glob_project.ingest()
    assert report["transactions"].mode == "reloaded"
    full_reload_equals(glob_project, snapshot(glob_project))


def test_a_file_hashed_while_fresh_is_read_again_even_with_its_old_mtime(glob_project):
    # hashed within RACY_NS of its last write: it may have been written again in the same
    # clock tick, so the size and mtime alone are not trusted
    glob_project.ingest()
    tx = glob_project.root / "data" / "tx.csv"
    st = tx.stat()
    text = tx.read_text()
    tx.write_text(text.replace("2024-01-05 10:00:00,1250", "2024-01-05 10:00:00,1350"))
    os.utime(tx, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime
    report = glob_project.ingest()
    assert report["transactions"].mode == "reloaded"
