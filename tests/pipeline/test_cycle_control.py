"""Update-cycle control: dates in the future refused, cycles undone exactly, the project
lock, interrupted runs, and webhooks sent outside the lock to checked targets only."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from monitoring.conftest import subprocess_env, with_monitoring
from segmint.config._monitoring import WebhookConfig
from segmint.errors import ParameterError, WarehouseError
from segmint.monitoring import mask_url, send_webhook
from segmint.store import Warehouse, holder, project_lock


def _dump(project) -> dict[str, list]:
    """Every table's rows, sorted (the run ledger and webhook queue excepted: logs)."""
    out = {}
    with project.warehouse(read_only=True) as wh:
        for t in wh.tables():
            if t in ("_runs",):
                continue
            rows = wh.con.execute(f'SELECT * FROM "{t}"').fetchall()
            out[t] = sorted(rows, key=repr)
    return out


def test_as_of_after_the_newest_data_or_today_is_refused(bank):
    end = bank.default_as_of()
    with pytest.raises(ParameterError, match="after the newest loaded data"):
        bank.update(end + dt.timedelta(days=3), ingest=False)
    with pytest.raises(ParameterError, match="after today"):
        bank.update(dt.date.today() + dt.timedelta(days=400), ingest=False)
    with bank.warehouse(read_only=True) as wh:
        assert not wh.has_table("monitoring_cycles")  # nothing recorded
    # a normal cycle still runs afterwards
    assert bank.update(end, ingest=False).as_of == end


def test_forced_future_cycle_can_be_undone_and_normal_cycles_resume(bank):
    end = bank.default_as_of()
    bank.update(end - dt.timedelta(days=7), ingest=False)
    before = _dump(bank)
    future = end + dt.timedelta(days=30)
    bank.update(future, ingest=False, force_as_of=True)
    with pytest.raises(WarehouseError, match="cycles run forward"):
        bank.update(end, ingest=False)
    assert bank.undo(future) == [future]
    assert _dump(bank) == before
    assert bank.update(end, ingest=False).as_of == end


def test_undo_restores_the_state_before_the_cycle_exactly(bank):
    end = bank.default_as_of()
    bank.update(end - dt.timedelta(days=14), ingest=False)
    before = _dump(bank)
    bank.update(end - dt.timedelta(days=7), ingest=False, refit=True)  # new model versions
    bank.update(end, ingest=False)
    after = _dump(bank)
    assert after != before
    undone = bank.undo(end - dt.timedelta(days=7))
    assert undone == [end - dt.timedelta(days=7), end]
    assert _dump(bank) == before


def test_undo_of_a_date_without_a_cycle_names_the_cycles(bank):
    end = bank.default_as_of()
    bank.update(end, ingest=False)
    with pytest.raises(WarehouseError, match=f"latest: {end.isoformat()}"):
        bank.undo(end - dt.timedelta(days=1))


def _hold_lock(path, seconds: float) -> subprocess.Popen:
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from segmint.store._lock import acquire\n"
        f"acquire(Path({str(path)!r}), wait=0)\n"
        "print('held', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=subprocess_env(), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_told_who_holds_the_lock(tmp_path, monkeypatch):
    path = tmp_path / "wh.duckdb"
    Warehouse(path).close()
    proc = _hold_lock(path, 30)
    try:
        info = holder(path)
        assert info is not None and info["pid"] == proc.pid
        monkeypatch.setenv("SEGMINT_LOCK_WAIT", "0.3")
        t0 = time.monotonic()
        with pytest.raises(WarehouseError, match=f"being written by pid {proc.pid}"):
            Warehouse(path)
        assert time.monotonic() - t0 < 5
    finally:
        proc.kill()
        proc.wait()
    # the kernel released the dead holder's lock: no stale lock file to remove
    assert holder(path) is None
    Warehouse(path).close()


def test_the_lock_is_reentrant_in_one_process(tmp_path):
    path = tmp_path / "wh.duckdb"
    with project_lock(path), Warehouse(path) as wh:
        wh.con.execute("CREATE TABLE t AS SELECT 1 AS x")
        with Warehouse(path, read_only=False) as again:  # nested open: counted, not blocked
            assert again.has_table("_runs")
        assert holder(path)["pid"] is not None
    assert holder(path) is None


def test_runs_left_running_by_a_killed_command_are_marked_interrupted(tmp_path):
    path = tmp_path / "wh.duckdb"
    with Warehouse(path) as wh:
        run_id = wh.start_run("update")  # never finished: the process 'died' here
    with Warehouse(path) as wh:
        (status, detail), = wh.con.execute(
            "SELECT status, detail FROM _runs WHERE run_id = ?", [run_id]
        ).fetchall()
    assert status == "interrupted" and "interrupted" in detail


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://127.0.0.1:9/hook",  # loopback
        "http://10.1.2.3/hook",  # private
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_webhook_to_internal_targets_is_refused_unless_allowed(url):
    got = send_webhook(WebhookConfig(url=url, attempts=1), {"x": 1}, sleep=lambda s: None)
    assert got.status == "failed" and got.attempts == 0
    assert "allow_private_targets" in got.detail


@pytest.mark.parametrize("value", [1e9, 61, 0])
def test_webhook_timeout_is_bounded(value):
    with pytest.raises(ValueError, match="timeout_seconds"):
        WebhookConfig(url="https://hooks.example.com/x", timeout_seconds=value)


@pytest.mark.parametrize("url", ["ftp://x/y", "file:///etc/passwd", "gopher://h/", "http://"])
def test_webhook_url_must_be_http_with_a_host(url):
    with pytest.raises(ValueError, match="http:// or https:// URL"):
        WebhookConfig(url=url)


def test_credentials_in_the_url_are_masked():
    assert mask_url("https://user:s3cret@hooks.example.com/a?token=abc") == (
        "https://***@hooks.example.com/a?***"
    )


class _Redirect(BaseHTTPRequestHandler):
    target_hits = 0

    def do_POST(self):  # noqa: N802
        if self.path == "/target":
            type(self).target_hits += 1
            self.send_response(200)
            self.end_headers()
            return
        self.send_response(302)
        self.send_header("Location", "/target")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_does_not_follow_redirects(caplog):
    httpd = HTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://alice:pw123@127.0.0.1:{httpd.server_address[1]}/hook?key=zzz"
    try:
        got = send_webhook(
            WebhookConfig(url=url, attempts=2, backoff_seconds=0, allow_private_targets=True),
            {"x": 1},
            sleep=lambda s: None,
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert got.status == "failed" and "302" in got.detail
    assert _Redirect.target_hits == 0
    logged = caplog.text + got.detail
    assert "pw123" not in logged and "zzz" not in logged


def test_a_reader_is_not_blocked_while_a_hung_webhook_is_retried(bank):
    """The cycle commits and releases the warehouse before it POSTs: a reader in another
    process gets in at once, while the receiver hangs."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)  # accepts connections, never answers
    url = f"http://127.0.0.1:{hung.getsockname()[1]}/hook"
    project = with_monitoring(
        bank,
        webhook={"url": url, "attempts": 2, "backoff_seconds": 1, "timeout_seconds": 4,
                 "send_empty": True, "allow_private_targets": True},
    )
    project_file = project.root / "segmint.yaml"
    doc = project.config.model_dump(mode="json", exclude_none=True)
    import yaml

    project_file.write_text(yaml.safe_dump(doc))
    proc = subprocess.Popen(
        [sys.executable, "-m", "segmint.cli", "update", "--no-ingest", "-p", str(project_file)],
        env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        hung.settimeout(240)
        conn, _ = hung.accept()  # the cycle has committed and is now POSTing
        t0 = time.monotonic()
        with project.warehouse(read_only=True) as wh:
            status = wh.con.execute("SELECT status, webhook FROM monitoring_cycles").fetchall()
        waited = time.monotonic() - t0
        assert status == [("ok", "queued")]
        assert waited < 2.0, f"the reader waited {waited:.1f} s"
    finally:
        out, err = proc.communicate(timeout=120)
        hung.close()
    assert proc.returncode == 0, err
    with project.warehouse(read_only=True) as wh:
        (webhook,), = wh.con.execute("SELECT webhook FROM monitoring_cycles").fetchall()
        queue = wh.con.execute("SELECT status, attempts FROM webhook_queue").fetchall()
    assert webhook.startswith("failed after 2 attempt(s)") and queue == [("failed", 2)]
    json.dumps(queue)


def _read_for(path, seconds: float) -> subprocess.Popen:
    code = (
        "import time, duckdb\n"
        f"con = duckdb.connect({str(path)!r}, read_only=True)\n"
        "print('open', flush=True)\n"
        f"time.sleep({seconds})\n"
        "con.close()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    return proc


def test_a_writer_waits_for_a_reader_of_another_process(tmp_path, monkeypatch):
    path = tmp_path / "wh.duckdb"
    Warehouse(path).close()
    reader = _read_for(path, 1.0)
    try:
        with Warehouse(path) as wh:  # waits for the reader to go, then writes
            wh.con.execute("CREATE TABLE t AS SELECT 1 AS x")
    finally:
        reader.wait()
    reader = _read_for(path, 30)
    try:
        monkeypatch.setenv("SEGMINT_LOCK_WAIT", "0.3")
        with pytest.raises(WarehouseError, match=f"open in another process \\(pid {reader.pid}\\)"):
            Warehouse(path)
    finally:
        reader.kill()
        reader.wait()
