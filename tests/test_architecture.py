"""The stage layers hold: the import-linter contract in pyproject.toml is kept (CI also
runs `lint-imports`), so the README's test command checks the architecture too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_layers_contract_is_kept(capsys):
    pytest.importorskip("importlinter")
    from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True,
                              no_logo=True)
    finally:
        os.chdir(cwd)
    assert status == EXIT_STATUS_SUCCESS, capsys.readouterr().out
