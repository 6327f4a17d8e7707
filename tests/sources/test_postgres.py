"""PostgreSQL sources (ADBC, Arrow batches) against a real server: the same contracts and
quarantine as files. The server's DSN is read from SEGMINT_TEST_PG_DSN (CI sets it)."""

from __future__ import annotations

import os
import uuid

import pytest

from segmint import Project
from segmint.config import load_config
from segmint.errors import ConfigError, SourceNotFoundError
from tiny_project import CLIENTS_CSV, TX_CSV, YAML, make_project

DSN = os.environ.get("SEGMINT_TEST_PG_DSN")
pytestmark = pytest.mark.skipif(
    not DSN, reason="SEGMINT_TEST_PG_DSN is not set (a PostgreSQL server to test against)"
)


@pytest.fixture
def pg_schema():
    """A fresh schema holding the tiny project's CSV files as text tables, dropped after."""
    import psycopg

    schema = f"segmint_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        for table, text in (("clients", CLIENTS_CSV), ("tx", TX_CSV)):
            header = text.splitlines()[0].split(",")
            cols = ", ".join(f'"{c}" text' for c in header)
            conn.execute(f"CREATE TABLE {schema}.{table} ({cols})")
            with conn.cursor().copy(
                f"COPY {schema}.{table} FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as copy:
                copy.write(text)
        yield schema
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _quarantine(project: Project) -> list[tuple]:
    with project.warehouse(read_only=True) as wh:
        return sorted(wh.con.execute(
            "SELECT entity, source_row, source_key, reason, column_name, original_values "
            "FROM quarantine"
        ).fetchall(), key=repr)


def _tables(project: Project) -> dict[str, list[tuple]]:
    with project.warehouse(read_only=True) as wh:
        return {
            t: sorted(wh.con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
            for t in ("clients", "transactions", "holdings")
        }


def test_a_postgres_table_loads_like_the_same_rows_in_csv(tmp_path, pg_schema, monkeypatch):
    files = Project.from_yaml(make_project(tmp_path / "csv"))
    files.ingest()
    monkeypatch.setenv("CRM_DSN", DSN)
    yaml = YAML.replace(
        "crm: {path: data/clients.csv}", f"crm: {{table: {pg_schema}.clients, dsn_env: CRM_DSN}}"
    ).replace(
        "tx: {path: data/tx.csv}",
        f"tx: {{query: 'SELECT * FROM {pg_schema}.tx', dsn_env: CRM_DSN}}",
    )
    db = Project.from_yaml(make_project(tmp_path / "pg", yaml))
    report = db.ingest()
    assert report["clients"].rows_read == 9 and report["transactions"].rows_read == 13
    assert _tables(db) == _tables(files)
    assert _quarantine(db) == _quarantine(files)
    assert len(_quarantine(db)) == 16
    # a database source has no checksums: it is read again at every run
    assert db.ingest()["transactions"].mode == "reloaded"


def test_credentials_come_from_the_environment_only(tmp_path, monkeypatch):
    (tmp_path / "segmint.yaml").write_text(
        "sources: {crm: {table: crm.clients, dsn_env: 'postgresql://u:secret@h/db'}}\n"
        "entities: {clients: {source: crm, columns: {client_id: id}}}\n"
    )
    with pytest.raises(ConfigError, match="the NAME of an environment variable"):
        load_config(tmp_path / "segmint.yaml")
    (tmp_path / "segmint.yaml").write_text(
        "sources: {crm: {table: crm.clients, dsn_env: SEGMINT_NO_SUCH_DSN}}\n"
        "entities: {clients: {source: crm, columns: {client_id: id}}}\n"
    )
    monkeypatch.delenv("SEGMINT_NO_SUCH_DSN", raising=False)
    with pytest.raises(SourceNotFoundError, match="SEGMINT_NO_SUCH_DSN is not set"):
        Project.from_yaml(tmp_path).ingest()


def test_a_missing_table_is_one_clear_error_without_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_DSN", DSN)
    (tmp_path / "segmint.yaml").write_text(
        "sources: {crm: {table: no_such_schema.clients, dsn_env: CRM_DSN}}\n"
        "entities: {clients: {source: crm, columns: {client_id: id}}}\n"
    )
    from segmint.errors import SchemaError

    with pytest.raises(SchemaError, match="sources.crm: cannot read the PostgreSQL table") as err:
        Project.from_yaml(tmp_path).ingest()
    assert "segmint:segmint@" not in str(err.value)
