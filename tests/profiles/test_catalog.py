"""The catalog: JSON schema, storage and versions, Markdown, and the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from segmint.profiles import (
    Catalog,
    build_catalog,
    catalog_json,
    catalog_markdown,
    example_warehouse,
    load_catalog,
    store_catalog,
)
from segmint.store import Warehouse

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_catalog_json_validates_against_the_published_schema(catalog):
    schema = json.loads((DOCS / "catalog.schema.json").read_text())
    doc = json.loads(catalog_json(catalog))
    jsonschema.validate(doc, schema)
    bad = json.loads(catalog_json(catalog))
    bad["dimensions"][0]["segments"][0]["profile"]["size"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_catalog_holds_every_segment_with_its_definition(catalog):
    assert {d.dimension for d in catalog.dimensions} == {"behaviour", "value", "rfm"}
    for d in catalog.dimensions:
        assert d.rules.sql.startswith("CASE")
        assert sum(s.profile.size for s in d.segments) == d.n_clients == 3000
        assert {c.other_dimension for c in d.crosstabs} == {"behaviour", "value", "rfm"} - {d.dimension}
        for s in d.segments:
            assert s.name and s.persona and s.profile.top_features
            if s.rule:
                assert s.rule.sql in d.rules.sql
    behaviour = catalog.dimension("behaviour")
    assert behaviour.kind == "learned" and behaviour.model_version == "behaviour-v1"
    assert behaviour.evidence.chosen_k == 5 and len(behaviour.evidence.table) == 6
    assert catalog.dimension("value").evidence is None


def test_store_and_load_round_trip_with_increasing_versions(example_wh, catalog):
    wh = Warehouse(":memory:")
    example_warehouse(wh, 600, seed=1)
    first = build_catalog(wh, project="p")
    store_catalog(wh, first)
    second = build_catalog(wh, project="p")
    store_catalog(wh, second)
    assert (first.version, second.version) == (1, 2)
    assert load_catalog(wh) == second
    assert load_catalog(wh, version=1) == first
    assert wh.con.execute("SELECT count(*), min(as_of) FROM segment_catalog").fetchone()[0] == 2
    assert Catalog.model_validate_json(catalog_json(first)) == first


def test_markdown_names_every_segment_and_shows_the_sql(catalog):
    md = catalog_markdown(catalog)
    for d in catalog.dimensions:
        assert f"## Dimension `{d.dimension}`" in md
        assert d.rules.sql in md
        for s in d.segments:
            assert f"### {s.name} (`{s.segment_id}`)" in md
            assert s.persona[0].text in md


@pytest.fixture
def project_with_segments(tiny_project: Path) -> Path:
    wh = Warehouse(tiny_project.parent / ".segmint" / "warehouse.duckdb")
    example_warehouse(wh, 800, seed=2)
    wh.close()
    return tiny_project


def test_cli_catalog_json_and_md(project_with_segments: Path, tmp_path: Path):
    from segmint.cli import app

    runner = CliRunner()
    out = tmp_path / "catalog.json"
    result = runner.invoke(app, ["catalog", "-p", str(project_with_segments), "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["version"] == 1 and doc["project"] == "tiny" and doc["as_of"] == "2024-06-30"
    result = runner.invoke(app, ["catalog", "-p", str(project_with_segments), "--as-of", "2024-06-30"])
    assert result.exit_code == 0, result.output
    assert "# Segment catalog v2 — tiny" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "--format: 'xml' is not one of json, md"),
        (["--as-of", "June"], "--as-of: 'June' is not a date"),
        (["--as-of", "2020-01-01"], "no assignments as of 2020-01-01"),
    ],
)
def test_cli_catalog_rejects_bad_options(project_with_segments: Path, monkeypatch, capsys, args, message):
    import sys

    from segmint.cli import main

    monkeypatch.setattr(sys, "argv", ["segmint", "catalog", "-p", str(project_with_segments), *args])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert message in " ".join(err.split()) and "Traceback" not in err


@pytest.mark.slow
def test_same_data_and_seed_give_a_byte_identical_catalog(tmp_path):
    """Two projects on the same generated data, run from scratch: the catalogs are equal to
    the byte (apart from the build time), although parallel sums differ in the last bits."""
    from segmint import Project
    from segmint.datasets import generate_bank
    from segmint.profiles import catalog_json

    texts = []
    for name in ("a", "b"):
        data = generate_bank(tmp_path / name, n_clients=1500, seed=0)
        run = Project.from_yaml(data.config).run()
        texts.append(catalog_json(run.catalog.model_copy(update={"created_at": None})))
    assert texts[0] == texts[1]
