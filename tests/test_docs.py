"""Reference docs are generated from the code and must not drift from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from segmint import _docs
from segmint.cli import app

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("name", sorted(_docs.DOCS))
def test_generated_doc_is_up_to_date(name):
    committed = (DOCS / name).read_text()
    assert committed == _docs.DOCS[name](), (
        f"docs/{name} is stale: run `python -m segmint._docs docs` and commit"
    )


def _commands(cmd, path: tuple[str, ...] = ()):
    if hasattr(cmd, "list_commands"):
        ctx = cmd.context_class(cmd)
        for name in cmd.list_commands(ctx):
            yield from _commands(cmd.get_command(ctx, name), (*path, name))
    else:
        yield path, cmd


@pytest.mark.parametrize(
    ("path", "cmd"), list(_commands(typer.main.get_command(app))), ids=lambda x: " ".join(x) if isinstance(x, tuple) else ""
)
def test_every_command_is_documented_with_an_example(path, cmd):
    assert cmd.help and "Example:" in cmd.help, f"`segmint {' '.join(path)}` has no example in its help"


def test_architecture_doc_names_every_stage_package():
    text = (DOCS / "architecture.md").read_text()
    src = Path(__file__).resolve().parents[1] / "src" / "segmint"
    for pkg in sorted(p.name for p in src.iterdir() if (p / "__init__.py").exists()):
        assert f"{pkg}/" in text, f"docs/architecture.md does not mention the package {pkg}/"
