"""Every public package re-exports only names that resolve."""

import importlib

import pytest

PACKAGES = [
    "segmint",
    "segmint.sources",
    "segmint.store",
    "segmint.config",
    "segmint.features",
    "segmint.clv",
    "segmint.segmentation",
    "segmint.profiles",
    "segmint.targeting",
    "segmint.report",
    "segmint.monitoring",
    "segmint.datasets",
    "segmint.api",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_resolve(name):
    module = importlib.import_module(name)
    assert isinstance(module.__all__, list)
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.__all__ lists {attr!r}, which does not resolve"
