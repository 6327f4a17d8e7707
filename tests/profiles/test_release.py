"""The catalog as released: no small count shown, none recoverable from what is shown,
and a suppressed segment keeps its name and definition only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segmint.disclosure import determined_cells
from segmint.errors import ParameterError
from segmint.profiles import (
    Catalog,
    build_catalog,
    catalog_json,
    catalog_markdown,
    release_catalog,
)


def released_counts(catalog: Catalog) -> list[int]:
    """Every count the released catalog shows."""
    out = []
    for d in catalog.dimensions:
        out.append(d.n_clients)
        for s in d.segments:
            out.append(s.profile.size)
            out += [x.clients for x in s.profile.labels]
        for ct in d.crosstabs:
            out += [c.clients for c in ct.cells]
    return [x for x in out if x is not None]


def assert_nothing_recoverable(raw: Catalog, released: Catalog) -> None:
    """Per table (a dimension's sizes with its total; each cross-tab with its margins, the
    released sizes): no suppressed cell is determined by the released ones."""
    by_dim = {d.dimension: d for d in released.dimensions}
    for d in released.dimensions:
        hidden = np.array([[s.profile.size is None for s in d.segments]])
        det = determined_cells(hidden, np.array([d.n_clients is not None]), np.zeros(hidden.shape[1]),
                               d.n_clients is not None)
        assert not det.any(), d.dimension
        raw_dim = raw.dimension(d.dimension)
        for ct, raw_ct in zip(d.crosstabs, raw_dim.crosstabs, strict=True):
            other = by_dim[ct.other_dimension]
            rows = [s.segment_id for s in d.segments]
            cols = [s.segment_id for s in other.segments]
            shown = {(c.segment_id, c.other_segment_id): c.clients for c in ct.cells}
            raw_cells = {(c.segment_id, c.other_segment_id): c.clients for c in raw_ct.cells}
            # absent cells are zeros, released
            hidden = np.array([[(r, c) in shown and shown[(r, c)] is None for c in cols] for r in rows])
            for (r, c), n in shown.items():
                assert n is None or n == raw_cells[(r, c)]
            det = determined_cells(
                hidden,
                np.array([s.profile.size is not None for s in d.segments]),
                np.array([s.profile.size is not None for s in other.segments]),
                d.n_clients is not None,
            )
            assert not det.any(), (d.dimension, ct.other_dimension)


def test_released_example_catalog(catalog):
    released = release_catalog(catalog, 10)
    counts = released_counts(released)
    assert all(c == 0 or c >= 10 for c in counts)
    assert_nothing_recoverable(catalog, released)
    cells = [c for d in released.dimensions for ct in d.crosstabs for c in ct.cells]
    assert any(c.suppressed for c in cells), "the example's cross-tabs hold small cells"
    # the same cell in both orientations of a pair is suppressed alike
    pair = {(d.dimension, c.segment_id, ct.other_dimension, c.other_segment_id): c.suppressed
            for d in released.dimensions for ct in d.crosstabs for c in ct.cells}
    assert all(pair[(b, t, a, s)] == v for (a, s, b, t), v in pair.items())
    assert released.min_cell == 10 and release_catalog(released, 10) is released
    with pytest.raises(ParameterError, match="min_cell 10"):
        release_catalog(released, 20)


def test_minimum_of_one_releases_everything(catalog):
    released = release_catalog(catalog, 1)
    assert released.model_copy(update={"min_cell": None}) == catalog


@pytest.fixture(scope="module")
def tiny_segment(tiny_segment_wh):
    raw = build_catalog(tiny_segment_wh, project="tiny")
    return raw, release_catalog(raw, 10)


def test_a_small_segment_keeps_its_name_and_definition_only(tiny_segment):
    raw, released = tiny_segment
    rfm = released.dimension("rfm")
    whales = next(s for s in rfm.segments if s.segment_id == "whales")
    assert raw.dimension("rfm").segments[-1].profile.size == 4
    assert whales.name == "Whales" and whales.profile.suppressed
    assert whales.rule is not None and "monetary_total" in whales.rule.sql and whales.rule.english
    assert whales.rule.precision is None and whales.rule.recall is None and whales.rule.coverage is None
    p = whales.profile
    assert p.size is None and p.share is None and p.churn_risk is None
    assert all(v.total is None and v.mean is None and v.share_of_total is None for v in p.value)
    assert all(f.mean is None and f.median is None and f.lift is None for f in p.features)
    assert all(f.population_mean is not None for f in p.features if f.feature == "recency_days")
    assert whales.persona == [] and whales.name_terms == [] and p.top_features == []
    # 4 = 600 - the other sizes, unless one of them goes too (hand-computed: the smallest)
    others = [s for s in rfm.segments if s.segment_id != "whales"]
    assert rfm.n_clients == 600
    hidden = [s.segment_id for s in others if s.profile.suppressed]
    raw_sizes = {s.segment_id: s.profile.size for s in raw.dimension("rfm").segments}
    assert hidden == [min((raw_sizes[s.segment_id], s.segment_id) for s in others)[1]]
    # the whales' row of every cross-tab is withheld with the size
    for ct in rfm.crosstabs:
        assert all(c.clients is None for c in ct.cells if c.segment_id == "whales")
    assert all(c == 0 or c >= 10 for c in released_counts(released))
    assert_nothing_recoverable(raw, released)


def test_markdown_and_json_show_suppressed(tiny_segment):
    _, released = tiny_segment
    md = catalog_markdown(released)
    assert "| `whales` | Whales | suppressed | suppressed | total spend above" in md
    assert "suppressed | suppressed | suppressed |\n" in md  # precision, recall, coverage
    assert "Counts of 1 to 9 clients are suppressed" in md
    assert "Size suppressed: its counts, profile and persona are withheld." in md
    doc = json.loads(catalog_json(released))
    rfm = next(d for d in doc["dimensions"] if d["dimension"] == "rfm")
    whales = next(s for s in rfm["segments"] if s["segment_id"] == "whales")
    assert whales["profile"]["size"] is None and whales["profile"]["suppressed"] is True
    assert doc["min_cell"] == 10
    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "catalog.schema.json").read_text())
    import jsonschema

    jsonschema.validate(doc, schema)
