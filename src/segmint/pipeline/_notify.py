"""Webhook messages are sent here, after a cycle committed and released the warehouse:
a slow or hung receiver delays only the sender, never a reader or the next writer."""

from __future__ import annotations

import logging

from segmint.errors import SegmintError
from segmint.monitoring import Delivery, mark_delivered, pending, send_webhook
from segmint.pipeline._workspace import Workspace

log = logging.getLogger("segmint.pipeline")


def deliver_queued(ws: Workspace) -> dict[str, Delivery]:
    """Send every queued webhook message; returns the deliveries by cycle id.

    The queue is read, the warehouse closed, the messages sent (bounded timeouts and
    retries, see :func:`segmint.monitoring.send_webhook`), and only then is the warehouse
    opened again, briefly, to record the outcomes. Messages whose outcome cannot be
    recorded stay queued and go with the next cycle.
    """
    config = ws.config.monitoring.webhook
    if config is None:
        return {}
    with ws.warehouse() as wh:
        queued = pending(wh.con)
    if not queued:
        return {}
    out = {cycle_id: send_webhook(config, payload) for cycle_id, payload in queued}
    try:
        with ws.warehouse() as wh, wh.transaction() as tx:
            for cycle_id, delivery in out.items():
                mark_delivered(tx, cycle_id, delivery)
    except SegmintError as exc:  # the cycle itself is committed: report, do not fail it
        log.warning("webhook outcomes not recorded (%s); they stay queued", exc)
    return out
