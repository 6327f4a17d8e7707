"""One name per segment: catalog, assignments, history, exports and the CLI agree."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from segmint import Project
from segmint.cli import app
from segmint.profiles import load_catalog


def _names(project: Project, table: str) -> dict[tuple[str, str], set[str]]:
    with project.warehouse(read_only=True) as wh:
        rows = wh.con.execute(
            f"SELECT DISTINCT dimension, segment_id, segment_name FROM {table}"
        ).fetchall()
    out: dict[tuple[str, str], set[str]] = {}
    for d, s, n in rows:
        out.setdefault((d, str(s)), set()).add(n)
    return out


def test_names_agree_everywhere_and_follow_a_rename(tiny_project, tmp_path, capsys):
    runner = CliRunner()
    result = runner.invoke(app, ["run", "-p", str(tiny_project)])
    assert result.exit_code == 0, result.output
    project = Project.from_yaml(tiny_project)
    with project.warehouse(read_only=True) as wh:
        catalog = load_catalog(wh)
    want = {(d.dimension, s.segment_id): {s.name} for d in catalog.dimensions for s in d.segments}
    learned = [s for d in catalog.dimensions if d.kind == "learned" for s in d.segments]
    assert learned and all(s.name_source == "generated" for s in learned)  # not "Segment 1"
    assert _names(project, "segment_assignments") == want
    assert _names(project, "segment_history") == want
    # segmint history works right after the first run, with the catalog's names
    capsys.readouterr()
    history = runner.invoke(app, ["history", "c1", "-p", str(tiny_project)])
    assert history.exit_code == 0, history.output
    printed = history.output + capsys.readouterr().out  # the console may use the real stdout
    c1 = project.history("c1")
    assert set(c1["dimension"]) == {d.dimension for d in catalog.dimensions}
    for r in c1.itertuples():
        assert {r.segment_name} == want[(r.dimension, r.segment_id)]
        # rich may wrap a long name inside its cell: every word is printed
        assert all(word in printed for word in r.segment_name.split())
    # the export and the CLI's segment table
    out = tmp_path / "assignments.csv"
    seg = runner.invoke(app, ["segment", "-p", str(tiny_project), "--out", str(out)])
    assert seg.exit_code == 0, seg.output
    exported = pd.read_csv(out)
    for r in exported.itertuples():
        assert {r.segment_name} == want[(r.dimension, str(r.segment_id))]
    # a rename in the catalog renames the segment in the assignments and the history
    behaviour = next(d for d in catalog.dimensions if d.kind == "learned")
    first = behaviour.segments[0].segment_id
    tiny_project.write_text(
        tiny_project.read_text()
        + f"catalog: {{names: {{{behaviour.dimension}: {{{first}: Renamed regulars}}}}}}\n"
    )
    project = Project.from_yaml(tiny_project)
    project.catalog()
    for table in ("segment_assignments", "segment_history"):
        assert _names(project, table)[(behaviour.dimension, first)] == {"Renamed regulars"}
    # and a new assignment run keeps the catalog's name
    project.segment()
    assert _names(project, "segment_assignments")[(behaviour.dimension, first)] == {
        "Renamed regulars"
    }
