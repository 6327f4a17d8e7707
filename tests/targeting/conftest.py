"""A generated bank with three monthly update cycles and a catalog, for the targeting tests."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

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


# -- propensity models --------------------------------------------------------------
TARGETING = {
    "outcomes": {
        "churn": {"kind": "churn", "horizon_days": 90},
        "next_purchase": {"kind": "purchase", "horizon_days": 30},
        "upgrade": {"kind": "product_opened", "product_type": "investment", "horizon_days": 90},
        "expansion": {"kind": "category_first_spend", "horizon_days": 60},
    },
    "propensity": {
        name: {"outcome": name}
        for name in ("churn", "next_purchase", "upgrade", "expansion")
    },
}


def bank_project(root, *, n_clients=4_000, targeting=TARGETING) -> Project:
    data = generate_bank(root, n_clients=n_clients, seed=0)
    raw = yaml.safe_load(data.config.read_text())
    raw["targeting"] = targeting
    raw["warehouse"] = {"threads": 1}  # one thread: a loaded CI runner is faster so
    data.config.write_text(yaml.safe_dump(raw, sort_keys=False))
    project = Project.from_yaml(data.config)
    project.ingest()
    return project


@pytest.fixture(scope="session")
def bank(tmp_path_factory):
    """The project and its fitted versions (name -> PropensityVersion)."""
    from segmint.targeting import fit_propensity

    project = bank_project(tmp_path_factory.mktemp("bank"))
    cache: dict = {}
    with project.warehouse() as wh:
        versions = {
            name: fit_propensity(wh, project.config, name, cache=cache)
            for name in TARGETING["propensity"]
        }
    return project, versions
