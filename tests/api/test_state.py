"""The service state: the event job queue and its worker (retry while the warehouse is held)."""

from __future__ import annotations

import pandas as pd

from segmint.api import EventWorker, ServiceState
from segmint.errors import DataError, WarehouseError

EVENT = {"client_id": "C1", "ts": "2025-12-31T10:00:00", "event_type": "login", "balance": None,
         "product_type": None}


def test_jobs_are_claimed_once_in_order_and_forget_their_events(tmp_path):
    state = ServiceState(tmp_path / "s.sqlite")
    other = ServiceState(tmp_path / "s.sqlite")  # a second process's view of the same file
    first = state.submit_job("k1", [EVENT])
    second = state.submit_job("k1", [EVENT, EVENT])
    claimed = [state.claim_job(), other.claim_job(), state.claim_job()]
    assert [c[0] if c else None for c in claimed] == [first, second, None]
    assert len(claimed[1][1]) == 2
    state.finish_job(first, result={"clients_rescored": 1})
    job = other.job(first)
    assert job["status"] == "done" and job["result"] == {"clients_rescored": 1}
    raw = state._con.execute("SELECT payload FROM event_jobs WHERE job_id = ?", (first,)).fetchone()
    assert raw == (None,)
    assert state.queue_length() == 1


def test_worker_retries_while_the_warehouse_is_held_and_reports_user_errors(tmp_path):
    state = ServiceState(tmp_path / "s.sqlite")
    calls: list[pd.DataFrame] = []

    def rescore(frame: pd.DataFrame):
        calls.append(frame)
        if len(calls) == 1:
            raise WarehouseError("w.duckdb: the warehouse is being written by pid 1 (segmint update)")
        if frame.client_id.iloc[0] == "bad":
            raise DataError("events lack a readable ts")
        return {"clients_rescored": len(frame)}

    worker = EventWorker(state, rescore, retry_seconds=0)
    ok = state.submit_job("k", [EVENT])
    assert worker.run_once()
    assert state.job(ok)["status"] == "queued" and state.job(ok)["attempts"] == 1
    assert worker.run_once()
    job = state.job(ok)
    assert job["status"] == "done" and job["result"]["clients_rescored"] == 1 and job["attempts"] == 2
    assert pd.api.types.is_datetime64_any_dtype(calls[-1].ts)
    bad = state.submit_job("k", [EVENT | {"client_id": "bad"}])
    assert worker.run_once()
    assert state.job(bad)["status"] == "failed" and "readable ts" in state.job(bad)["error"]
    assert not worker.run_once()
