"""A telecom subscription table (no transactions) through `segmint run` (issue 14)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from segmint import Project
from segmint.cli import app
from segmint.profiles import load_catalog
from segmint.sources import attribute_catalog
from telecom_project import write_telecom


def test_subscriptions_without_transactions_run_end_to_end(tmp_path, capsys):
    config = write_telecom(tmp_path, n=60)
    result = CliRunner().invoke(app, ["run", "-p", str(config)])
    assert result.exit_code == 0, result.output
    printed = " ".join((result.output + capsys.readouterr().out).split())  # rich wraps
    project = Project.from_yaml(config)
    with project.warehouse(read_only=True) as wh:
        tables = {r[0] for r in wh.con.execute("SHOW TABLES").fetchall()}
        # nothing was invented: no transaction rows, no features that need them
        assert wh.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 0
        cols = {r[0] for r in wh.con.execute("DESCRIBE features").fetchall()}
        assert {"attr_contract", "attr_services", "attr_monthly_charges", "attr_paperless",
                "attr_region", "n_products_internet"} <= cols
        assert not {"frequency", "r_score", "clv_12m"} & cols
        got = dict(wh.con.execute(
            "SELECT client_id, attr_contract FROM features WHERE client_id IN ('s000', 's001')"
        ).fetchall())
        assert got == {"s000": "month-to-month", "s001": "one-year"}
        # the rule dimension on attr_contract: month-to-month is every third subscriber
        sizes = dict(wh.con.execute(
            "SELECT segment_name, count(*) FROM segment_assignments WHERE dimension = 'contract' "
            "GROUP BY 1"
        ).fetchall())
        assert sizes == {"Flexible": 20, "Committed": 40}
        roles = {a["feature"]: a["role"] for a in attribute_catalog(wh)}
        catalog = load_catalog(wh)
        assert "segment_catalog" in tables
    assert roles["attr_paperless"] == "profile" and roles["attr_region"] == "profile"
    # the catalog profiles the churn label per segment, against hand counts: among
    # month-to-month (i % 3 == 0) 2 of 3 churn (i % 9 != 0): 13 of 20 (i = 0, 9, ..., 54 keep
    # 7); among the others i % 5 == 0: 8 of 40
    dim = catalog.dimension("contract")
    rates = {s.name: {x.label: (x.clients, x.rate) for x in s.profile.labels} for s in dim.segments}
    assert rates["Flexible"]["churn"] == (20, 13 / 20)
    assert rates["Committed"]["churn"] == (40, 8 / 40)
    flexible = next(s for s in dim.segments if s.name == "Flexible")
    assert flexible.profile.labels[0].population_rate == 21 / 60
    # the summary says which groups and dimensions were left out, one line each
    assert "skipped feature group rfm: no transactions data" in printed
    assert "skipped dimension value" in printed
    json.dumps(catalog.model_dump(mode="json"))  # serialisable
