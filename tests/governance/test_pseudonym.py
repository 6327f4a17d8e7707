"""Pseudonyms: stable per key, different across keys, the SQL form equals Python's
HMAC, and no raw id in any output file when pseudonymisation is on."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from segmint.cli import app
from segmint.config._governance import PseudonymConfig
from segmint.errors import ConfigError
from segmint.governance import (
    key_id,
    pseudonym_key,
    pseudonym_sql,
    pseudonymise,
    rotation_map,
)

from .conftest import with_governance

KEY = b"k" * 20
OTHER = b"another-key-0123456789"


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=40), st.binary(min_size=16, max_size=100))
def test_sql_form_equals_python_hmac(client_id, key):
    expected = hmac.new(key, client_id.encode(), hashlib.sha256).hexdigest()
    assert pseudonymise([client_id], key)[0] == expected
    got = duckdb.connect().execute(f"SELECT {pseudonym_sql('x', key)} FROM (SELECT ? AS x)",
                                   [client_id]).fetchall()[0][0]
    assert got == expected


def test_stable_for_a_key_and_changing_with_another():
    ids = ["c1", "c2", "c1", None]
    a, b = pseudonymise(ids, KEY), pseudonymise(ids, KEY)
    assert list(a) == list(b) and a[0] == a[2] and a[0] != a[1] and a[3] is None
    c = pseudonymise(ids, OTHER)
    assert a[0] != c[0] and a[1] != c[1]
    m = rotation_map(["c1", "c2"], KEY, OTHER)
    assert m.old_pseudonym.tolist() == list(a[:2]) and m.new_pseudonym.tolist() == list(c[:2])
    assert key_id(KEY) != key_id(OTHER) and len(key_id(KEY)) == 12


def test_key_from_env_or_file_never_the_project(tmp_path):
    cfg = PseudonymConfig(key_env="MY_KEY", key_file="secret.key")
    with pytest.raises(ConfigError, match="does not exist"):
        pseudonym_key(cfg, tmp_path, env={})
    (tmp_path / "secret.key").write_text("file-key-0123456789\n")
    assert pseudonym_key(cfg, tmp_path, env={}) == b"file-key-0123456789"
    assert pseudonym_key(cfg, tmp_path, env={"MY_KEY": "env-key-0123456789"}) == b"env-key-0123456789"
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        pseudonym_key(cfg, tmp_path, env={"MY_KEY": "short"})
    with pytest.raises(ConfigError, match="set the environment variable"):
        pseudonym_key(PseudonymConfig(), tmp_path, env={})


def test_no_raw_id_in_any_output(bank, monkeypatch, tmp_path):
    monkeypatch.setenv("SEGMINT_PSEUDONYM_KEY", KEY.decode())
    project = with_governance(bank, pseudonymise={"enabled": True})
    out = project.root / "out"
    project.segment(out=out / "assignments.csv", load=False)
    project.segment(out=out / "assignments.parquet", load=False)
    from segmint.governance import audit_fairness, export_profiles

    with project.warehouse() as wh:
        audit = audit_fairness(wh, project.config.governance.fairness)
        (out / "audit.json").write_text(json.dumps(audit.to_dict(), default=str))
    project.catalog()
    project.report(out / "report.html")
    assert "id='fairness'" in (out / "report.html").read_text()
    with project.warehouse() as wh:
        export_profiles(wh, out / "profiles.csv", means={"frequency": None})
        ids = [r[0] for r in wh.con.execute("SELECT client_id FROM clients").fetchall()]
        parquet = wh.con.execute(f"SELECT client_id FROM '{out / 'assignments.parquet'}'").fetchall()
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) == 5
    pattern = re.compile("|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)))
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        assert not pattern.search(text), f"raw id in {path.name}"
    # the exports carry the pseudonyms instead
    expected = set(pseudonymise(ids, KEY))
    assert {r[0] for r in parquet} == expected


def test_audit_cli_exit_code(tiny_project, tmp_path):
    from segmint import Project
    from segmint.store import Warehouse

    from .conftest import fairness_warehouse

    runner = CliRunner()
    for planted, code in ((True, 1), (False, 0)):
        project = Project.from_yaml(tiny_project)
        path = project.warehouse_path
        path.unlink(missing_ok=True)
        with Warehouse(path) as wh:
            fairness_warehouse(wh, planted=planted, n=1500)
        result = runner.invoke(app, ["audit", "fairness", "--json", "-p", str(tiny_project)])
        assert result.exit_code == code, result.output
        payload = json.loads(result.output)
        assert payload["passed"] is (not planted)
