"""Generated data sets shared by the generator tests (each is generated once per session)."""

from __future__ import annotations

import pytest

from segmint.datasets import generate_bank


@pytest.fixture(scope="session")
def clean(tmp_path_factory):
    """3,000 clients, no faults: the data the recovery test clusters."""
    return generate_bank(tmp_path_factory.mktemp("clean"), n_clients=3_000, seed=0)


@pytest.fixture(scope="session")
def faulty(tmp_path_factory):
    """The same clients with 1% of each fault kind, in part files of 1,000 clients."""
    return generate_bank(
        tmp_path_factory.mktemp("faulty"), n_clients=3_000, seed=0, faults=0.01, chunk_size=1_000
    )
