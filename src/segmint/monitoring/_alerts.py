"""Alert rules evaluated at every cycle, and delivery to a webhook.

A rule is a threshold in ``monitoring.alerts`` (null disables it); each firing is one
row of the ``alerts`` table. Severity: ``critical`` when the value is at least twice
its threshold (feature drift: always, at the alert band), ``warning`` otherwise; refit
changes are ``info``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from segmint.config._monitoring import AlertRules, WebhookConfig

log = logging.getLogger("segmint.monitoring")


@dataclass(frozen=True)
class Alert:
    """One firing of one rule."""

    rule: str
    severity: str
    message: str
    dimension: str | None = None
    feature: str | None = None
    segment_id: str | None = None
    value: float | None = None
    threshold: float | None = None


def alerts_from_frame(frame: pd.DataFrame) -> list[Alert]:
    """Alerts from a frame with :class:`Alert`'s fields (e.g. targeting's
    ``response_alerts``), so that they go to the ``alerts`` table and the webhook."""
    fields = [f for f in Alert.__dataclass_fields__ if f in frame.columns]
    return [Alert(**{f: r[f] for f in fields}) for r in frame.to_dict("records")]


def _severity(value: float, threshold: float) -> str:
    return "critical" if value >= 2 * threshold else "warning"


def evaluate_alerts(
    rules: AlertRules,
    *,
    drift: pd.DataFrame,
    stability: pd.DataFrame,
    shares: pd.DataFrame,
    identity: dict[str, dict[str, list[str]]],
) -> list[Alert]:
    """Every rule over one cycle's tables; ``identity`` maps a refitted dimension to the
    ``{"new": [...], "retired": [...]}`` segment ids of its refit."""
    out: list[Alert] = []
    if rules.feature_psi is not None and not drift.empty:
        worst = drift.sort_values("psi", ascending=False).drop_duplicates("feature")
        for r in worst[worst.psi >= rules.feature_psi].itertuples(index=False):
            out.append(
                Alert(
                    "feature_drift",
                    "critical",
                    f"feature {r.feature} drifted: PSI {r.psi:.3f} >= {rules.feature_psi} "
                    f"against the snapshot of {r.reference_as_of} ({r.test} {r.statistic:.3f})",
                    feature=r.feature,
                    value=float(r.psi),
                    threshold=rules.feature_psi,
                )
            )
    for r in shares.itertuples(index=False):
        limit = rules.threshold("share_shift", r.dimension)
        if limit is not None and pd.notna(r.share_change) and abs(r.share_change) >= limit:
            out.append(
                Alert(
                    "share_shift",
                    _severity(abs(r.share_change), limit),
                    f"{r.dimension} segment {r.segment_name} ({r.segment_id}) share moved "
                    f"{r.share_change:+.1%} to {r.share:.1%}",
                    dimension=r.dimension,
                    segment_id=r.segment_id,
                    value=float(r.share_change),
                    threshold=limit,
                )
            )
    for r in stability.itertuples(index=False):
        limit = rules.threshold("reclassification_rate", r.dimension)
        rate = r.reclassification_rate
        if limit is not None and pd.notna(rate) and rate >= limit:
            out.append(
                Alert(
                    "reclassification",
                    _severity(rate, limit),
                    f"{r.dimension}: {rate:.1%} of clients changed segment",
                    dimension=r.dimension,
                    value=float(rate),
                    threshold=limit,
                )
            )
    for r in shares.itertuples(index=False):
        limit = rules.threshold("min_share", r.dimension)
        if limit is not None and r.share < limit and r.clients > 0:
            out.append(
                Alert(
                    "min_size",
                    "warning",
                    f"{r.dimension} segment {r.segment_name} ({r.segment_id}) holds "
                    f"{r.share:.2%} of clients ({r.clients})",
                    dimension=r.dimension,
                    segment_id=r.segment_id,
                    value=float(r.share),
                    threshold=limit,
                )
            )
    if rules.refit_changes:
        for dim, ident in sorted(identity.items()):
            for kind in ("new", "retired"):
                for seg in ident.get(kind, []):
                    verb = "created" if kind == "new" else "retired"
                    out.append(
                        Alert(
                            f"segment_{verb}",
                            "info",
                            f"{dim}: the refit {verb} segment {seg}",
                            dimension=dim,
                            segment_id=seg,
                        )
                    )
    return out


def alerts_frame(alerts: list[Alert]) -> pd.DataFrame:
    cols = ["rule", "severity", "dimension", "feature", "segment_id", "value", "threshold", "message"]
    return pd.DataFrame([asdict(a) for a in alerts], columns=cols)


@dataclass(frozen=True)
class Delivery:
    """What happened to a webhook POST: ``sent``, ``failed`` or ``skipped``."""

    status: str
    attempts: int
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.status} after {self.attempts} attempt(s)" + (
            f": {self.detail}" if self.detail else ""
        )


_QUEUE_DDL = """
CREATE TABLE IF NOT EXISTS webhook_queue (
    cycle_id VARCHAR NOT NULL, as_of DATE NOT NULL, created_at TIMESTAMP NOT NULL,
    payload JSON NOT NULL, status VARCHAR NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    detail VARCHAR, sent_at TIMESTAMP
)
"""
WEBHOOK_QUEUE = "webhook_queue"


def enqueue(con: Any, cycle_id: str, as_of: Any, payload: dict[str, Any]) -> None:
    """Queue a cycle's webhook message (in the cycle's own transaction); it is sent after
    the cycle commits and the warehouse is closed, so a slow receiver blocks no one."""
    con.execute(_QUEUE_DDL)
    con.execute(f"DELETE FROM {WEBHOOK_QUEUE} WHERE cycle_id = ? AND status <> 'sent'", [cycle_id])
    con.execute(
        f"INSERT INTO {WEBHOOK_QUEUE} (cycle_id, as_of, created_at, payload, status) "
        "VALUES (?, ?, now()::TIMESTAMP, ?, 'pending')",
        [cycle_id, as_of, json.dumps(payload, default=str)],
    )


def pending(con: Any) -> list[tuple[str, dict[str, Any]]]:
    """Queued messages not yet sent: (cycle_id, payload), oldest first."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary",
        [WEBHOOK_QUEUE],
    ).fetchall()
    if not rows[0][0]:
        return []
    got = con.execute(
        f"SELECT cycle_id, payload FROM {WEBHOOK_QUEUE} WHERE status = 'pending' ORDER BY created_at"
    ).fetchall()
    return [(c, json.loads(p)) for c, p in got]


def mark_delivered(con: Any, cycle_id: str, delivery: Delivery) -> None:
    """Record a delivery's outcome on the queue and on the cycle's row."""
    con.execute(
        f"UPDATE {WEBHOOK_QUEUE} SET status = ?, attempts = attempts + ?, detail = ?, "
        "sent_at = now()::TIMESTAMP WHERE cycle_id = ? AND status = 'pending'",
        ["sent" if delivery.status == "sent" else "failed", delivery.attempts, delivery.detail,
         cycle_id],
    )
    con.execute(
        "UPDATE monitoring_cycles SET webhook = ? WHERE cycle_id = ?", [str(delivery), cycle_id]
    )


def mask_url(url: str) -> str:
    """A URL fit for messages: no user or password, no query string values."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username or parts.password:
        host = f"***@{host}"
    query = "***" if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, query, ""))


def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse a webhook target that resolves to a loopback, link-local (cloud metadata),
    private, multicast or reserved address, unless ``allow_private``.

    Raises
    ------
    ValueError
        With the masked URL and the address.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{mask_url(url)}: expected an http:// or https:// URL with a host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise ValueError(f"{mask_url(url)}: cannot resolve the host ({exc})") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%")[0])
        if not addr.is_global or addr.is_multicast:
            raise ValueError(
                f"{mask_url(url)}: resolves to {addr}, a loopback, link-local, private or "
                "reserved address (set monitoring.webhook.allow_private_targets: true to allow it)"
            )


def _split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """The URL without ``user:password@`` and the headers (Basic auth when it had them)."""
    import base64

    headers = {"Content-Type": "application/json"}
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, headers
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), headers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        raise urllib.error.HTTPError(req.full_url, code, f"redirect refused ({msg})", headers, fp)


_opener = urllib.request.build_opener(_NoRedirect)


def send_webhook(
    config: WebhookConfig,
    payload: dict[str, Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST ``payload`` as JSON; retry with exponential back-off; never raise.

    The target is checked first (:func:`check_target`), redirects are refused, every
    attempt is bounded by ``timeout_seconds``, and messages show the URL masked. A
    failure is logged (warning) and returned, so that the cycle does not fail.
    """
    shown = mask_url(config.url)
    try:
        check_target(config.url, allow_private=config.allow_private_targets)
    except ValueError as exc:
        log.error("webhook refused: %s", exc)
        return Delivery("failed", 0, str(exc))
    body = json.dumps(payload, default=str).encode()
    url, headers = _split_credentials(config.url)
    wait = config.backoff_seconds
    error = ""
    for attempt in range(1, config.attempts + 1):
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with _opener.open(request, timeout=config.timeout_seconds) as response:
                response.read(65536)
            log.info("webhook %s: delivered (attempt %d)", shown, attempt)
            return Delivery("sent", attempt)
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code} {exc.reason}"
            log.warning("webhook %s: attempt %d failed: %s", shown, attempt, error)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = str(getattr(exc, "reason", None) or exc).replace(url, shown)
            log.warning("webhook %s: attempt %d failed: %s", shown, attempt, error)
        if attempt < config.attempts:
            sleep(wait)
            wait *= 2
    log.error("webhook %s: giving up after %d attempts", shown, config.attempts)
    return Delivery("failed", config.attempts, error)
