"""The project file: errors name the file, the key, the value and what was expected."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from segmint.cli import app
from segmint.config import ProjectConfig, load_config
from segmint.errors import ConfigError
from tiny_project import YAML


def write(tmp_path, text):
    p = tmp_path / "segmint.yaml"
    p.write_text(text)
    return p


def test_valid_file_loads(tmp_path):
    cfg = load_config(write(tmp_path, YAML))
    assert cfg.contracts.currency == "EUR"
    assert cfg.sources["tx"].resolved_format == "csv"
    assert cfg.sources["acc"].resolved_format == "parquet"
    assert cfg.warehouse.path == ".segmint/warehouse.duckdb"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("currency: EUR", "currency: EURO"), r"segmint.yaml: contracts.currency: must be a 3-letter ISO 4217 code such as EUR \(got 'EURO'\)"),
        (("source: tx", "source: txx"), r"entities.transactions.source: 'txx' is not a declared source \(declared: crm, tx, acc\)"),
        (("ts: when", "timestamp: when"), r"entities.transactions.columns.timestamp: not a column of transactions"),
        (("      ts: when\n", ""), r"entities.transactions.columns: required canonical column\(s\) not mapped: ts"),
        (("project: tiny", "project: tiny\ncolour: blue"), r"colour: unknown key \(got 'blue'\)"),
        (("min_date: 2000-01-01", "min_date: yesterday"), r"contracts.min_date: .*\(got 'yesterday'\)"),
        (("unknown_clients: stub", ""), None),
    ],
)
def test_errors_name_key_value_and_expectation(tmp_path, change, message):
    text = YAML.replace(*change)
    if message is None:
        load_config(write(tmp_path, text))
        return
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "sources: [unclosed"))
    with pytest.raises(ConfigError, match="project file not found"):
        load_config(tmp_path / "nope.yaml")


def test_cli_reports_config_errors_without_traceback(tmp_path):
    from segmint.cli import main

    p = write(tmp_path, YAML.replace("source: tx", "source: txx"))
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "from segmint.cli import main; main()", "ingest", "-p", str(p)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "'txx' is not a declared source" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert main  # the entry point exists


def test_cli_bad_flag_exits_nonzero():
    result = CliRunner().invoke(app, ["ingest", "--no-such-flag"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_init_scaffolds_a_valid_template(tmp_path):
    result = CliRunner().invoke(app, ["init", str(tmp_path / "proj")])
    assert result.exit_code == 0, result.output
    cfg = load_config(tmp_path / "proj" / "segmint.yaml")
    assert isinstance(cfg, ProjectConfig)
    again = CliRunner().invoke(app, ["init", str(tmp_path / "proj")])
    assert again.exit_code != 0
