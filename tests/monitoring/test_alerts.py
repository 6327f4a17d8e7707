"""Alert rules and webhook delivery (retries with back-off; failures never fail a cycle)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest

from segmint.config._monitoring import AlertRules, WebhookConfig
from segmint.errors import ConfigError
from segmint.monitoring import evaluate_alerts, send_webhook

from .conftest import with_monitoring


class _Server:
    """A local HTTP server answering 500 to the first ``fail_first`` POSTs, then 200."""

    def __init__(self, fail_first: int) -> None:
        self.bodies: list[dict] = []
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                outer.hits += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = outer.hits > fail_first
                if ok:
                    outer.bodies.append(json.loads(body))
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_webhook_retries_with_exponential_backoff():
    waits: list[float] = []
    with _Server(fail_first=2) as server:
        got = send_webhook(
            WebhookConfig(url=server.url, attempts=4, backoff_seconds=0.1, allow_private_targets=True),
            {"alerts": [{"rule": "x"}]},
            sleep=waits.append,
        )
    assert (got.status, got.attempts) == ("sent", 3)
    assert waits == [0.1, 0.2]
    assert server.bodies == [{"alerts": [{"rule": "x"}]}]


def test_webhook_that_always_fails_is_reported_not_raised():
    waits: list[float] = []
    with _Server(fail_first=99) as server:
        got = send_webhook(
            WebhookConfig(
                url=server.url, attempts=3, backoff_seconds=0.5, allow_private_targets=True
            ), {}, sleep=waits.append
        )
    assert (got.status, got.attempts, server.hits) == ("failed", 3, 3)
    assert waits == [0.5, 1.0] and "500" in got.detail


def test_failing_webhook_does_not_fail_the_cycle(bank):
    with _Server(fail_first=99) as server:
        project = with_monitoring(
            bank,
            webhook={"url": server.url, "attempts": 2, "backoff_seconds": 0, "send_empty": True,
                     "allow_private_targets": True},
        )
        result = project.update(bank.default_as_of(), ingest=False)
    assert result.webhook is not None and result.webhook.status == "failed"
    with bank.warehouse() as wh:
        status, webhook = wh.con.execute("SELECT status, webhook FROM monitoring_cycles").fetchone()
    assert status == "ok" and webhook.startswith("failed after 2 attempt(s)")


def test_cycle_posts_its_alerts(bank):
    end = bank.default_as_of()
    with _Server(fail_first=1) as server:
        # a reclassification threshold every cycle passes, to have alerts to send
        project = with_monitoring(
            bank,
            alerts={"reclassification_rate": 0.0001},
            webhook={"url": server.url, "attempts": 3, "backoff_seconds": 0,
                     "allow_private_targets": True},
        )
        project.update(end - dt.timedelta(days=7), ingest=False)
        result = project.update(end, ingest=False)
    assert result.webhook.status == "sent" and result.alerts
    body = server.bodies[-1]
    assert body["as_of"] == end.isoformat()
    assert {a["rule"] for a in body["alerts"]} >= {"reclassification"}
    assert len(body["alerts"]) == len(result.alerts)


def test_rules_fire_at_their_thresholds():
    shares = pd.DataFrame(
        {
            "dimension": ["value", "value"],
            "segment_id": ["Top", "Low"],
            "segment_name": ["Top", "Low"],
            "clients": [5, 995],
            "share": [0.005, 0.995],
            "share_change": [-0.06, 0.06],
        }
    )
    stability = pd.DataFrame({"dimension": ["value"], "reclassification_rate": [0.45]})
    alerts = evaluate_alerts(
        AlertRules(),
        drift=pd.DataFrame(),
        stability=stability,
        shares=shares,
        identity={"behaviour": {"new": ["behaviour-7"], "retired": ["behaviour-2"]}},
    )
    got = sorted((a.rule, a.severity, a.segment_id or a.dimension) for a in alerts)
    assert got == [
        ("min_size", "warning", "Top"),
        ("reclassification", "critical", "value"),
        ("segment_created", "info", "behaviour-7"),
        ("segment_retired", "info", "behaviour-2"),
        ("share_shift", "warning", "Low"),
        ("share_shift", "warning", "Top"),
    ]


def test_webhook_url_must_be_http():
    with pytest.raises(ValueError, match="http"):
        WebhookConfig(url="ftp://x")


def test_a_dimension_can_have_its_own_thresholds():
    shares = pd.DataFrame(
        {
            "dimension": ["rfm", "rfm", "value", "value"],
            "segment_id": ["Champions", "Lost", "Top", "Low"],
            "segment_name": ["Champions", "Lost", "Top", "Low"],
            "clients": [5, 995, 500, 500],
            "share": [0.005, 0.995, 0.5, 0.5],
            "share_change": [-0.06, 0.06, 0.0, 0.0],
        }
    )
    stability = pd.DataFrame(
        {"dimension": ["rfm", "value"], "reclassification_rate": [0.45, 0.45]}
    )
    # built in: rfm's cells move with the calendar, its reclassification threshold is 0.6
    assert AlertRules().threshold("reclassification_rate", "rfm") == 0.6
    assert AlertRules(reclassification_rate=None).threshold("reclassification_rate", "rfm") is None
    strict = AlertRules.model_validate({"dimensions": {"rfm": {"reclassification_rate": 0.3}}})
    assert strict.threshold("reclassification_rate", "rfm") == 0.3
    rules = AlertRules.model_validate({"dimensions": {"rfm": {"min_share": None}}})
    assert rules.threshold("reclassification_rate", "rfm") == 0.6
    assert rules.threshold("reclassification_rate", "value") == 0.2
    assert rules.threshold("min_share", "rfm") is None  # disabled for rfm only
    assert rules.threshold("share_shift", "rfm") == 0.05  # inherited
    alerts = evaluate_alerts(
        rules, drift=pd.DataFrame(), stability=stability, shares=shares, identity={}
    )
    got = sorted((a.rule, a.segment_id or a.dimension, a.threshold) for a in alerts)
    assert got == [
        ("reclassification", "value", 0.2),
        ("share_shift", "Champions", 0.05),
        ("share_shift", "Lost", 0.05),
    ]


def test_thresholds_of_an_unknown_dimension_are_refused(tmp_path):
    from segmint.config import load_config

    base = (Path(__file__).parents[2] / "src/segmint/config/template.yaml").read_text()
    path = tmp_path / "segmint.yaml"
    path.write_text(
        base + "\nmonitoring:\n  alerts:\n    dimensions:\n      rfmm: {reclassification_rate: 0.5}\n"
    )
    with pytest.raises(ConfigError, match=r"monitoring\.alerts\.dimensions\.rfmm"):
        load_config(path)
    path.write_text(
        base + "\nmonitoring:\n  alerts:\n    dimensions:\n      rfm: {reclassification_rate: 0.5}\n"
    )
    assert load_config(path).monitoring.alerts.threshold("reclassification_rate", "rfm") == 0.5
