"""An update cycle assigns new clients to the global holdout (experiments.holdout)."""

from __future__ import annotations

from segmint import Project
from segmint.config import ExperimentsConfig


def test_update_cycle_assigns_the_holdout(bank):
    config = bank.config.model_copy(
        update={"experiments": ExperimentsConfig.model_validate({"holdout": {"share": 0.1}})}
    )
    project = Project(config, bank.root)
    end = project.default_as_of()
    project.update(end, ingest=False)
    with project.warehouse(read_only=True) as wh:
        n_clients = wh.con.execute("SELECT count(*) FROM clients").fetchone()[0]
        arms = dict(
            wh.con.execute(
                "SELECT arm, count(*) FROM experiment_assignments "
                "WHERE experiment = 'global_holdout' GROUP BY arm"
            ).fetchall()
        )
    assert sum(arms.values()) == n_clients
    assert 0.05 < arms["control"] / n_clients < 0.15  # 800 clients: 10% +- 3.5 sd
