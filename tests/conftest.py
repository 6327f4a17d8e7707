"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_fixtures import catalog, example_wh, tiny_segment_wh  # noqa: F401  (shared fixtures)
from tiny_project import make_project


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """Path of a small project file whose sources hold one fault of each kind."""
    return make_project(tmp_path)
