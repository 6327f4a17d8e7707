"""Small generated banks for the monitoring tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from segmint import Project
from segmint.datasets import generate_bank


@pytest.fixture(scope="session")
def bank_template(tmp_path_factory) -> Path:
    """A generated, ingested 800-client bank (copied by :func:`bank`, never modified)."""
    out = tmp_path_factory.mktemp("bank")
    data = generate_bank(out / "bank", n_clients=800, seed=3)
    Project.from_yaml(data.config).ingest()
    return out / "bank"


@pytest.fixture
def bank(bank_template: Path, tmp_path: Path) -> Project:
    """A private copy of the ingested bank project."""
    target = tmp_path / "bank"
    shutil.copytree(bank_template, target)
    return Project.from_yaml(target / "segmint.yaml")


def with_monitoring(project: Project, **monitoring) -> Project:
    """The same project with a different ``monitoring:`` section."""
    from segmint.config import MonitoringConfig

    config = project.config.model_copy(
        update={"monitoring": MonitoringConfig.model_validate(monitoring)}
    )
    return Project(config, project.root)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python that imports this same segmint."""
    import os

    import segmint

    src = str(Path(segmint.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, **extra)
