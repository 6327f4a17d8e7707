"""Fixtures of the segmentation tests."""

import pytest

from segmint.store import Warehouse


@pytest.fixture
def warehouse():
    wh = Warehouse(":memory:")
    yield wh
    wh.close()
