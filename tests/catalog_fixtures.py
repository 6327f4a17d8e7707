"""Catalog fixtures (profiles and report tests): a synthetic warehouse with three
dimensions, and its catalog; the same with one segment of four clients."""

from __future__ import annotations

import json

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


@pytest.fixture(scope="module")
def tiny_segment_wh():
    """The example warehouse (600 clients) with an ``rfm`` segment of 4 clients defined by
    its own rule: the four highest spenders (``whales``, named "Whales")."""
    wh = Warehouse(":memory:")
    example_warehouse(wh, 600, seed=1)
    threshold = wh.con.execute(
        "SELECT monetary_total FROM features ORDER BY monetary_total DESC LIMIT 1 OFFSET 3"
    ).fetchone()[0]
    wh.con.execute(
        "UPDATE segment_assignments SET segment_id = 'whales', segment_name = 'Whales' "
        "WHERE dimension = 'rfm' AND client_id IN (SELECT client_id FROM features "
        "WHERE monetary_total >= ?)", [threshold])
    params = json.loads(wh.con.execute(
        "SELECT params FROM segment_models WHERE dimension = 'rfm'").fetchone()[0])
    params["rules"].insert(0, {"segment_id": "whales", "where": f"monetary_total >= {threshold}"})
    wh.con.execute("UPDATE segment_models SET params = ? WHERE dimension = 'rfm'", [json.dumps(params)])
    yield wh
    wh.close()
