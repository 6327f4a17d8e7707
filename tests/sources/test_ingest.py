"""Ingestion: every contract rule, exact counts, idempotence, atomicity, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from segmint import Project
from segmint.errors import ColumnNotFoundError, SchemaError, SourceNotFoundError
from tiny_project import EXPECTED, NOTES, TX_CSV


def table(project: Project, name: str) -> list[tuple]:
    with project.warehouse(read_only=True) as wh:
        return sorted(wh.con.execute(f"SELECT * FROM {name}").fetchall(), key=repr)


def test_every_contract_rule_quarantines_exactly_the_faulty_rows(tiny_project):
    project = Project.from_yaml(tiny_project)
    project.ingest()
    with project.warehouse(read_only=True) as wh:
        got = {
            (f, r): reason
            for f, r, reason in wh.con.execute(
                "SELECT source_file, source_row, reason FROM quarantine WHERE NOT note"
            ).fetchall()
        }
        notes = {
            (f, r): (reason, col)
            for f, r, reason, col in wh.con.execute(
                "SELECT source_file, source_row, reason, column_name FROM quarantine WHERE note"
            ).fetchall()
        }
    assert got == EXPECTED
    assert notes == NOTES


def test_valid_rows_are_loaded_typed_and_refunds_flagged(tiny_project):
    project = Project.from_yaml(tiny_project)
    project.ingest()
    tx = {r[0]: r for r in table(project, "transactions")}
    assert set(tx) == {"t1", "t2", "t3", "t11"}
    assert tx["t1"][3] == pytest.approx(12.5)
    assert tx["t2"][3] == pytest.approx(-3.0) and tx["t2"][-1] is True  # refund kept, flagged
    assert tx["t11"][4] == "EUR"  # missing currency means the project currency
    clients = {r[0]: r for r in table(project, "clients")}
    # c3's optional onboarding date does not parse: loaded with null and a note
    assert set(clients) == {"c1", "c2", "c3", "c4"}
    assert clients["c3"][1] is None and clients["c3"][2] == 1990
    holdings = {r[1] for r in table(project, "holdings")}
    assert holdings == {"a1", "a5"}


def test_counts_add_up_for_every_entity(tiny_project):
    report = Project.from_yaml(tiny_project).ingest()
    for e in report.entities.values():
        assert e.rows_read == e.rows_loaded + e.rows_quarantined + e.duplicates_collapsed
    assert report["transactions"].duplicates_collapsed == 1
    assert report["clients"].duplicates_collapsed == 1
    assert report["transactions"].quarantined["duplicate_conflict"] == 2


def test_quarantine_keeps_the_original_values(tiny_project):
    project = Project.from_yaml(tiny_project)
    project.ingest()
    with project.warehouse(read_only=True) as wh:
        raw = wh.con.execute(
            "SELECT original_values->>'amount', column_name FROM quarantine "
            "WHERE source_file = 'data/tx.csv' AND source_row = 10"
        ).fetchone()
        unparseable_date = wh.con.execute(
            "SELECT original_values->>'onboarded_at' FROM quarantine "
            "WHERE source_file = 'data/clients.csv' AND source_row = 2"
        ).fetchone()
    assert raw == (None, "amount")  # cents '12x' did not parse as a number
    assert unparseable_date == ("not-a-date",)


def test_loading_twice_gives_the_same_warehouse(tiny_project):
    project = Project.from_yaml(tiny_project)
    project.ingest()
    first = {t: table(project, t) for t in ("clients", "transactions", "holdings")}
    q1 = table(project, "quarantine")
    project.ingest()
    second = {t: table(project, t) for t in ("clients", "transactions", "holdings")}
    q2 = table(project, "quarantine")
    assert first == second
    assert [r[1:] for r in q1] == [r[1:] for r in q2]  # same rows, new run id
    with project.warehouse(read_only=True) as wh:
        runs = wh.runs()
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert all(r["inputs"] and "sha256" in r["inputs"] for r in runs)


@pytest.mark.parametrize("kill_at", ["after:clients", "after:transactions", "before_commit"])
def test_a_load_killed_part_way_leaves_the_previous_warehouse(tiny_project, kill_at):
    project = Project.from_yaml(tiny_project)
    project.ingest()
    before = {t: table(project, t) for t in ("clients", "transactions", "quarantine")}
    # new data that would change every table
    data = tiny_project.parent / "data"
    (data / "tx.csv").write_text(TX_CSV + "t99,c1,2024-05-01 10:00:00,999,EUR,food,web,false\n")
    env = dict(os.environ, SEGMINT_TEST_KILL_AT=kill_at)
    code = "import segmint, sys; segmint.Project.from_yaml(sys.argv[1]).ingest()"
    proc = subprocess.run([sys.executable, "-c", code, str(tiny_project)], env=env)
    assert proc.returncode == -9  # really killed
    after = {t: table(project, t) for t in ("clients", "transactions", "quarantine")}
    assert after == before
    # and the next run simply works
    report = project.ingest()
    assert report["transactions"].rows_loaded == 5


def test_stub_policy_creates_stub_clients(tmp_path):
    from tiny_project import YAML, make_project

    path = make_project(tmp_path, YAML.replace("max_date: 2025-12-31", "max_date: 2025-12-31, unknown_clients: stub"))
    project = Project.from_yaml(path)
    report = project.ingest()
    assert report["transactions"].stub_clients == 1
    stubs = [r[0] for r in table(project, "clients") if r[-1]]
    assert stubs == ["zz"]
    assert "t5" in {r[0] for r in table(project, "transactions")}
    assert "unknown_client" not in report["transactions"].quarantined


def test_missing_column_names_file_and_column(tiny_project):
    tiny_project.write_text(tiny_project.read_text().replace("ts: when", "ts: booked"))
    with pytest.raises(ColumnNotFoundError, match=r"data/tx.csv: column 'booked' not found"):
        Project.from_yaml(tiny_project).ingest()
    with Project.from_yaml(tiny_project).warehouse(read_only=True) as wh:
        assert not wh.has_table("transactions")  # nothing was loaded


def test_missing_column_in_sql_expression(tiny_project):
    tiny_project.write_text(tiny_project.read_text().replace("cents / 100.0", "cent / 100.0"))
    with pytest.raises(ColumnNotFoundError, match=r"'cent' used in entities.transactions.columns.amount"):
        Project.from_yaml(tiny_project).ingest()


def test_missing_file_is_a_clear_error(tiny_project):
    (tiny_project.parent / "data" / "tx.csv").unlink()
    with pytest.raises(SourceNotFoundError, match=r"sources.tx.path: no file matches 'data/tx.csv'"):
        Project.from_yaml(tiny_project).ingest()


def test_structural_error_writes_nothing(tiny_project):
    project = Project.from_yaml(tiny_project)
    project.ingest()
    before = table(project, "transactions")
    # a whole column that is not a date: structural, not row-level
    text = (tiny_project.parent / "data" / "tx.csv").read_text().splitlines()
    rows = [text[0]] + [",".join(r.split(",")[:2] + ["yesterday"] + r.split(",")[3:]) for r in text[1:]]
    (tiny_project.parent / "data" / "tx.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(SchemaError, match=r"data/tx.csv: column mapped to transactions.ts cannot be read as TIMESTAMP"):
        project.ingest()
    assert table(project, "transactions") == before
    with project.warehouse(read_only=True) as wh:
        assert wh.runs()[-1]["status"] == "failed"


def test_database_table_source(tmp_path):
    import duckdb

    db = tmp_path / "core.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA crm")
    con.execute("CREATE TABLE crm.people AS SELECT 'p' || i AS id FROM range(5) r(i)")
    con.execute(
        "CREATE TABLE sales AS SELECT 's' || i AS sid, 'p' || (i % 5) AS pid, "
        "TIMESTAMP '2024-01-01' + INTERVAL (i) DAY AS at, i * 1.5 AS amt FROM range(20) r(i)"
    )
    con.close()
    (tmp_path / "segmint.yaml").write_text(
        """
sources:
  people: {table: crm.people, database: core.duckdb}
  sales: {table: sales, database: core.duckdb}
entities:
  clients: {source: people, columns: {client_id: id}}
  transactions:
    source: sales
    columns: {transaction_id: sid, client_id: pid, ts: at, amount: amt}
contracts: {max_date: 2025-01-01}
"""
    )
    report = Project.from_yaml(tmp_path).ingest()
    assert report["clients"].rows_loaded == 5
    assert report["transactions"].rows_loaded == 20


def test_csv_decimals_read_by_a_derivation_are_not_rounded(tiny_project):
    # DuckDB casts the text '12.5' to BIGINT as 13: the inferred type of a text column
    # must not be BIGINT when its values are decimals, and an integer column's decimal
    # value is unparseable, not rounded
    data = tiny_project.parent / "data"
    (data / "tx.csv").write_text(
        "id,cid,when,cents,cur,cat,chan,promo\n"
        "t1,c1,2024-01-05 10:00:00,1250.5,EUR,food,web,false\n"
        "t2,c1,2024-01-06 11:00:00,10.25,EUR,food,web,false\n"
    )
    project = Project.from_yaml(tiny_project)
    project.ingest()
    assert {r[0]: r[3] for r in table(project, "transactions")} == {
        "t1": pytest.approx(12.505), "t2": pytest.approx(0.1025)
    }
    (data / "tx.csv").write_text(
        "id,cid,when,cents,cur,cat,chan,promo\n"
        "t1,c1,2024-01-05 10:00:00,1250,EUR,food,web,false\n"
        "t2,c1,2024-01-06 11:00:00,100,EUR,food,web,false\n"
        "t3,c1,2024-01-06 11:00:00,10.5,EUR,food,web,false\n"
    )
    report = project.ingest()
    assert report["transactions"].quarantined == {"unparseable_value": 1}
    assert {r[0] for r in table(project, "transactions")} == {"t1", "t2"}
