"""A generated bank with three monthly update cycles and a catalog, for the targeting tests."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from segmint import Project
from segmint.datasets import generate_bank

CYCLES = (dt.date(2025, 10, 31), dt.date(2025, 11, 30), dt.date(2025, 12, 31))


@pytest.fixture(scope="session")
def cycled_template(tmp_path_factory) -> Path:
    """1,500 clients, three update cycles, a stored catalog (copied, never modified)."""
    out = tmp_path_factory.mktemp("tbank")
    data = generate_bank(out / "bank", n_clients=1_500, seed=4)
    project = Project.from_yaml(data.config)
    for day in CYCLES:
        project.update(day)
    project.catalog()
    return out / "bank"


@pytest.fixture
def cycled(cycled_template: Path, tmp_path: Path) -> Project:
    """A private copy of the cycled bank project."""
    target = tmp_path / "bank"
    shutil.copytree(cycled_template, target)
    return Project.from_yaml(target / "segmint.yaml")
