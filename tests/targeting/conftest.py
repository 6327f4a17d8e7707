"""A small generated bank with four propensity models, fitted once per session."""

from __future__ import annotations

import pytest
import yaml

from segmint import Project
from segmint.datasets import generate_bank

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
