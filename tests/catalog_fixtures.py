"""Catalog fixtures (profiles and report tests): a synthetic warehouse with three
dimensions, and its catalog."""

from __future__ import annotations

import pytest

from segmint.profiles import build_catalog, example_warehouse
from segmint.store import Warehouse


@pytest.fixture(scope="module")
def example_wh():
    wh = Warehouse(":memory:")
    example_warehouse(wh, 3000, seed=0)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def catalog(example_wh):
    return build_catalog(example_wh, project="example")
