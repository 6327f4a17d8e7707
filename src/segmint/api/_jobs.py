"""The event worker: one thread running queued event jobs one at a time.

The re-scoring itself is a callable the app is given (``rescore(frame) -> dict``): the
service does not know the pipeline; ``segmint serve`` passes one that stores the events
and re-scores the clients the project's rules mark (then publishes). A job that finds the
warehouse held by another writer (an update cycle) goes back to the queue and is retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from segmint.api._state import ServiceState
from segmint.errors import SegmintError, WarehouseError

log = logging.getLogger("segmint.api.jobs")

Rescore = Callable[[pd.DataFrame], dict[str, Any]]

EVENT_COLUMNS = ("client_id", "ts", "event_type", "balance", "product_type")


class EventWorker:
    def __init__(self, state: ServiceState, rescore: Rescore, *, max_attempts: int = 30,
                 retry_seconds: float = 2.0) -> None:
        self.state = state
        self.rescore = rescore
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="segmint-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.run_once():
                self.wake.wait(0.5)
                self.wake.clear()

    def run_once(self) -> bool:
        """Run the oldest queued job; False when there was none."""
        claimed = self.state.claim_job()
        if claimed is None:
            return False
        job_id, events = claimed
        frame = pd.DataFrame(events, columns=list(EVENT_COLUMNS))
        frame["ts"] = pd.to_datetime(frame["ts"])
        t0 = time.perf_counter()
        try:
            result = self.rescore(frame)
        except WarehouseError as exc:
            attempts = (self.state.job(job_id) or {}).get("attempts", self.max_attempts)
            busy = "cannot open" in str(exc) or "being written" in str(exc)  # a cycle holds it
            if busy and attempts < self.max_attempts:
                log.info("job %s: warehouse busy; retried in %.0f s", job_id, self.retry_seconds)
                self.state.requeue_job(job_id)
                self._stop.wait(self.retry_seconds)
                return True
            self.state.finish_job(job_id, error=str(exc))
        except SegmintError as exc:
            self.state.finish_job(job_id, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: logged (no event data), job failed
            log.error("job %s failed: %s", job_id, type(exc).__name__, exc_info=False)
            self.state.finish_job(job_id, error="internal error while re-scoring (logged)")
        else:
            result = dict(result or {})
            result["seconds"] = round(time.perf_counter() - t0, 3)
            self.state.finish_job(job_id, result=result)
        return True
