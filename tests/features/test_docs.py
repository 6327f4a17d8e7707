"""The catalog: required names, generated docs up to date, CLI and Project entry points."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint import Project
from segmint.cli import app
from segmint.config import FeaturesConfig
from segmint.features import GROUPS
from segmint.features.docs import catalog

from .conftest import clients_frame, load_tables, tx_frame

ROOT = Path(__file__).resolve().parents[2]

# Other stages depend on these exact names.
REQUIRED = {
    "rfm": ["recency_days", "frequency", "repeat_frequency", "monetary_total", "monetary_mean",
            "monetary_repeat_mean", "btyd_x", "btyd_t_x", "btyd_T", "tenure_days"],
    "rfm_scores": ["r_score", "f_score", "m_score", "rfm_cell"],
    "behaviour": ["ipt_mean_days", "ipt_cv", "spend_last_window", "spend_trend",
                  "share_cat_{category}", "share_channel_{channel}", "weekend_share",
                  "share_morning", "share_afternoon", "share_evening", "share_night",
                  "promo_share", "promo_uplift", "refund_rate"],
    "engagement": ["events_{window}", "events_{event_channel}_{window}", "days_active_{window}",
                   "engagement_trend", "digital_share"],
    "holdings": ["n_products", "n_products_{product_type}", "total_balance", "assets",
                 "liabilities", "months_since_last_open"],
    "value": ["revenue_{value_months}m", "cost_{value_months}m", "margin_{value_months}m"],
}


def test_required_feature_names():
    for group, names in REQUIRED.items():
        assert [f.name for f in GROUPS[group].features] == names


def test_every_feature_is_documented():
    for row in catalog(FeaturesConfig(time_unit="days"), currency="CHF"):
        assert row["description"].endswith((".", ")")), row["name"]
        assert row["definition"] and row["dtype"] in {"DOUBLE", "BIGINT", "VARCHAR"}
        assert "{" not in row["unit"]
    units = {r["name"]: r["unit"] for r in catalog(FeaturesConfig(time_unit="days"), currency="CHF")}
    assert units["btyd_T"] == "days" and units["monetary_total"] == "CHF"
    assert "revenue_12m" in units


def _project(tmp_path: Path) -> Path:
    (tmp_path / "segmint.yaml").write_text(
        "sources:\n  crm: {path: clients.csv}\n  tx: {path: tx.csv}\n"
        "entities:\n"
        "  clients: {source: crm, columns: {client_id: id}}\n"
        "  transactions: {source: tx, columns: {transaction_id: id, client_id: cid, ts: ts, amount: amt}}\n"
        "contracts: {currency: CHF}\n"
        "features: {groups: [rfm, rfm_scores], time_unit: days}\n"
    )
    project = Project.from_yaml(tmp_path)
    with project.warehouse() as wh:  # as ingestion would have written them
        load_tables(
            wh,
            clients=clients_frame(["a", "b"]),
            transactions=tx_frame([("a", "2024-01-01 10:00", 5.0), ("a", "2024-01-03 10:00", 7.0),
                                   ("b", "2024-02-01 10:00", 1.0)]),
        )
    return tmp_path


def test_project_features_stores_snapshot(tmp_path):
    project = Project.from_yaml(_project(tmp_path))
    frame = project.features("2024-01-31")
    assert list(frame["client_id"]) == ["a", "b"]
    assert frame.loc[0, "btyd_T"] == 30.0  # time_unit: days from the project file
    assert frame.loc[1, "frequency"] == 0
    with project.warehouse() as wh:
        stored = wh.con.execute("SELECT client_id, as_of, frequency FROM features ORDER BY 1").df()
        runs = [r for r in wh.runs() if r["command"] == "features"]
    assert list(stored["frequency"]) == [2, 0]
    assert runs and runs[-1]["status"] == "ok"


def test_cli_features_as_of_and_list(tmp_path):
    root = _project(tmp_path)
    out = tmp_path / "f.parquet"
    runner = CliRunner()
    result = runner.invoke(
        app, ["features", "--as-of", "2024-02-29", "--out", str(out), "-p", str(root)]
    )
    assert result.exit_code == 0, result.output
    assert "2 clients" in result.output
    assert list(pd.read_parquet(out)["frequency"]) == [2, 1]
    result = runner.invoke(app, ["features", "list"], terminal_width=200)
    assert result.exit_code == 0 and "monetary_repeat_mean" in result.output


def test_cli_features_without_date_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["features", "-p", str(_project(tmp_path))])
    assert result.exit_code == 2


@pytest.mark.parametrize("cmd", [["features", "--help"], ["features", "list", "--help"]])
def test_cli_help_has_example(cmd):
    result = CliRunner().invoke(app, cmd, terminal_width=200)
    assert result.exit_code == 0 and "Example: segmint features" in result.output
