"""`segmint api-key`, `segmint publish` and `segmint serve` on the command line."""

from __future__ import annotations

from typer.testing import CliRunner

from segmint.api import ServiceState
from segmint.api._store import resolve
from segmint.cli import app


def test_api_key_create_list_revoke_and_publish(served):
    runner = CliRunner()
    project = ["-p", str(served.root / "segmint.yaml")]
    r = runner.invoke(app, ["api-key", "create", "--role", "rm", "--book", "North", "--name", "alice",
                            *project])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[-1]
    assert key.startswith("sgm_")
    state = ServiceState(resolve(served.root, served.config.serving.state))
    who = state.authenticate(key)
    assert who is not None and who.role == "rm" and who.book == "North"
    listed = runner.invoke(app, ["api-key", "list", *project])
    assert who.key_id in listed.output and key not in listed.output
    assert runner.invoke(app, ["api-key", "revoke", who.key_id, *project]).exit_code == 0
    assert state.authenticate(key) is None
    again = runner.invoke(app, ["api-key", "revoke", who.key_id, *project])
    assert again.exit_code != 0 and "Traceback" not in again.output
    bad = runner.invoke(app, ["api-key", "create", "--role", "root", "--name", "x", *project])
    assert bad.exit_code != 0
    published = runner.invoke(app, ["publish", *project])
    assert published.exit_code == 0 and "published" in published.output
