"""The `campaigns` entity: mapped like any source, with its own contract rules."""

from __future__ import annotations

import pytest

from segmint import Project
from segmint.datasets import generate_bank

BAD_ROWS = [
    # (customer, campaign, arm) -> expected reason
    ("C00000001", "cmp99", "treatment", "unknown_campaign"),
    ("C00000002", "cmp01", "holdout", "unknown_arm"),
    ("C99999999", "cmp01", "control", "unknown_client"),
]


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    data = generate_bank(tmp_path_factory.mktemp("cmp"), n_clients=1000, seed=5, campaigns=2)
    path = data.path("exposures")
    lines = path.read_text().splitlines()
    first = lines[1].split(",")  # a client exposed to cmp01, listed again in the other arm
    other = '"control"' if first[2] == '"treatment"' else '"treatment"'
    extra = [",".join([first[0], first[1], other, *first[3:]])]
    for cust, cmp, arm, _ in BAD_ROWS:
        extra.append(f'"{cust}","{cmp}","{arm}",{first[3]},"email","Bonus Saver"')
    path.write_text("\n".join(lines + extra) + "\n")
    return data, first[0].strip('"')


def test_campaign_contracts_quarantine_with_reasons(bank):
    data, two_arms = bank
    project = Project.from_yaml(data.config)
    report = project.ingest()
    rep = report["campaigns"]
    assert rep.rows_read == data.n_exposures + 1 + len(BAD_ROWS)
    assert rep.quarantined == {
        "client_in_two_arms": 2,
        "unknown_campaign": 1,
        "unknown_arm": 1,
        "unknown_client": 1,
    }
    with project.warehouse(read_only=True) as wh:
        reasons = wh.con.execute(
            "SELECT reason, original_values->>'client_id' FROM quarantine WHERE entity = 'campaigns' ORDER BY 1"
        ).fetchall()
        n = wh.con.execute("SELECT count(*) FROM campaigns").fetchone()[0]
        arms = wh.con.execute("SELECT DISTINCT arm FROM campaigns ORDER BY 1").fetchall()
    assert ("client_in_two_arms", two_arms) in reasons
    assert n == data.n_exposures - 1
    assert arms == [("control",), ("treatment",)]


def test_undeclared_campaigns_are_accepted_without_an_experiments_section(bank):
    data, _ = bank
    text = data.config.read_text().split("experiments:")[0]
    cfg = data.out_dir / "no-experiments.yaml"
    cfg.write_text("warehouse: {path: other.duckdb}\n" + text)
    rep = Project.from_yaml(cfg).ingest()["campaigns"]
    assert "unknown_campaign" not in rep.quarantined
    assert rep.quarantined["unknown_arm"] == 1
