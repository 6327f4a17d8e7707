"""Alert rules evaluated at every cycle, and delivery to a webhook.

A rule is a threshold in ``monitoring.alerts`` (null disables it); each firing is one
row of the ``alerts`` table. Severity: ``critical`` when the value is at least twice
its threshold (feature drift: always, at the alert band), ``warning`` otherwise; refit
changes are ``info``.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
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


def send_webhook(
    config: WebhookConfig,
    payload: dict[str, Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST ``payload`` as JSON; retry with exponential back-off; never raise.

    A failure is logged (warning) and returned, so that the cycle does not fail.
    """
    body = json.dumps(payload, default=str).encode()
    wait = config.backoff_seconds
    error = ""
    for attempt in range(1, config.attempts + 1):
        request = urllib.request.Request(
            config.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=config.timeout_seconds) as response:
                response.read()
            log.info("webhook %s: delivered (attempt %d)", config.url, attempt)
            return Delivery("sent", attempt)
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code} {exc.reason}"
            log.warning("webhook %s: attempt %d failed: %s", config.url, attempt, error)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = str(getattr(exc, "reason", None) or exc)
            log.warning("webhook %s: attempt %d failed: %s", config.url, attempt, error)
        if attempt < config.attempts:
            sleep(wait)
            wait *= 2
    log.error("webhook %s: giving up after %d attempts", config.url, config.attempts)
    return Delivery("failed", config.attempts, error)
