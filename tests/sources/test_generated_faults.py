"""On generated data, quarantine catches exactly the injected faults, and nothing else."""

from __future__ import annotations

import pandas as pd
import pytest

from segmint import Project
from segmint.datasets import generate_bank


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    data = generate_bank(
        tmp_path_factory.mktemp("bank"), n_clients=2_000, seed=3, faults=0.01, chunk_size=1_000
    )
    project = Project.from_yaml(data.config)
    return data, project, project.ingest()


def test_quarantine_equals_the_injected_faults(faulty):
    data, project, _ = faulty
    truth = pd.read_csv(data.out_dir / "truth" / "faults.csv")
    expected = {
        (r.file, int(r.row), r.fault) for r in truth.itertuples() if r.fault != "duplicate_exact"
    }
    with project.warehouse(read_only=True) as wh:
        got = set(
            wh.con.execute("SELECT source_file, source_row, reason FROM quarantine").fetchall()
        )
    assert len(expected) > 50
    assert got == expected
    # every fault kind was injected and caught
    kinds = set(truth["fault"])
    assert kinds >= {
        "missing_required", "unparseable_value", "future_timestamp", "before_min_date",
        "duplicate_exact", "duplicate_conflict", "unknown_client", "currency_mismatch",
        "non_finite", "duplicate_key", "closed_before_opened",
    }


def test_exact_duplicates_are_collapsed_and_counts_add_up(faulty):
    data, _, report = faulty
    truth = pd.read_csv(data.out_dir / "truth" / "faults.csv")
    n_exact = int((truth["fault"] == "duplicate_exact").sum())
    assert sum(e.duplicates_collapsed for e in report.entities.values()) == n_exact
    for e in report.entities.values():
        assert e.rows_read == e.rows_loaded + e.rows_quarantined + e.duplicates_collapsed
    # the generator's counts include the faulty rows it wrote
    assert report["transactions"].rows_read == data.n_transactions
    n_tx_faults = int((truth["entity"] == "transactions").sum())
    assert report["transactions"].rows_loaded == data.n_transactions - n_tx_faults
