"""The service's own small database (SQLite, WAL): API keys, alert acknowledgements, event jobs.

Why not the warehouse: DuckDB lets one process write it, and an update cycle holds it
for minutes. An acknowledgement or a queued event must land at once, so they go here;
queued events reach the warehouse through the event worker, one job at a time, when the
warehouse is free (:mod:`segmint.api._jobs`).

API keys are ``sgm_<key id>_<secret>``; only the SHA-256 of the secret is stored (the
secret is 256 random bits, so a slow password hash adds nothing), compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segmint._typing import Role
from segmint.errors import ParameterError

ROLES: tuple[Role, ...] = ("admin", "analyst", "rm", "campaign")

_DDL = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, book TEXT,
    secret_sha256 TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE IF NOT EXISTS alert_acks (
    alert_id TEXT PRIMARY KEY, acknowledged_by TEXT NOT NULL, acknowledged_at TEXT NOT NULL,
    note TEXT);
CREATE TABLE IF NOT EXISTS event_jobs (
    job_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, status TEXT NOT NULL,
    submitted_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, n_events INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, payload TEXT, result TEXT, error TEXT);
CREATE INDEX IF NOT EXISTS event_jobs_status ON event_jobs (status, submitted_at);
"""


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's id, name, role and book (relationship managers)."""

    key_id: str
    name: str
    role: Role
    book: str | None

    @property
    def scoped(self) -> bool:
        """True when row-level scope applies (a relationship manager sees their book only)."""
        return self.role == "rm"


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    role: str
    book: str | None
    created_at: str
    revoked_at: str | None


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ServiceState:
    """The service database at ``path`` (created on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, timeout=10,
                                    isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._con.executescript(_DDL)

    def close(self) -> None:
        self._con.close()

    def _all(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    def _write(self, sql: str, params: tuple = ()) -> int:
        with self._lock:
            return self._con.execute(sql, params).rowcount

    # -- keys --------------------------------------------------------------------------
    def create_key(self, *, role: str, name: str, book: str | None = None) -> tuple[str, str]:
        """Create a key; returns ``(key_id, key)``. The key is shown once, never stored."""
        if role not in ROLES:
            raise ParameterError(f"--role: {role!r} is not one of {', '.join(ROLES)}")
        if role == "rm" and not book:
            raise ParameterError("--book: a relationship manager's key needs the book it may see")
        if role != "rm" and book:
            raise ParameterError(f"--book: only rm keys have a book (role {role!r} sees every client)")
        key_id = uuid.uuid4().hex[:10]
        secret = secrets.token_urlsafe(32)
        self._write(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
            (key_id, name, role, book, _sha(secret), _now()),
        )
        return key_id, f"sgm_{key_id}_{secret}"

    def revoke_key(self, key_id: str) -> bool:
        return self._write(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (_now(), key_id),
        ) > 0

    def list_keys(self) -> list[KeyInfo]:
        return [KeyInfo(*r) for r in self._all(
            "SELECT key_id, name, role, book, created_at, revoked_at FROM api_keys ORDER BY created_at")]

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a presented key, or None (unknown, malformed or revoked)."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "sgm" or not parts[1].isalnum():
            return None
        rows = self._all(
            "SELECT key_id, name, role, book, secret_sha256 FROM api_keys "
            "WHERE key_id = ? AND revoked_at IS NULL", (parts[1],))
        if not rows or not hmac.compare_digest(rows[0][4], _sha(parts[2])):
            return None
        key_id, name, role, book, _ = rows[0]
        return Principal(key_id, name, role, book)

    # -- alert acknowledgements --------------------------------------------------------
    def acknowledge(self, alert_id: str, key_id: str, note: str | None) -> dict[str, Any]:
        self._write(
            "INSERT INTO alert_acks VALUES (?, ?, ?, ?) ON CONFLICT (alert_id) DO NOTHING",
            (alert_id, key_id, _now(), note),
        )
        return self.acks([alert_id])[alert_id]

    def acks(self, alert_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
        rows = self._all("SELECT alert_id, acknowledged_by, acknowledged_at, note FROM alert_acks")
        wanted = set(alert_ids) if alert_ids is not None else None
        return {r[0]: {"acknowledged_by": r[1], "acknowledged_at": r[2], "note": r[3]}
                for r in rows if wanted is None or r[0] in wanted}

    # -- event jobs ----------------------------------------------------------------------
    def submit_job(self, key_id: str, events: list[dict[str, Any]]) -> str:
        job_id = uuid.uuid4().hex
        self._write(
            "INSERT INTO event_jobs (job_id, key_id, status, submitted_at, n_events, payload) "
            "VALUES (?, ?, 'queued', ?, ?, ?)",
            (job_id, key_id, _now(), len(events), json.dumps(events, default=str)),
        )
        return job_id

    def claim_job(self) -> tuple[str, list[dict[str, Any]]] | None:
        """The oldest queued job, marked running (None when the queue is empty); one
        statement, so two processes never claim the same job."""
        with self._lock:
            row = self._con.execute(
                "UPDATE event_jobs SET status = 'running', started_at = ?, attempts = attempts + 1 "
                "WHERE job_id = (SELECT job_id FROM event_jobs WHERE status = 'queued' "
                "ORDER BY submitted_at LIMIT 1) AND status = 'queued' RETURNING job_id, payload",
                (_now(),)).fetchone()
        if row is None:
            return None
        return row[0], json.loads(row[1])

    def requeue_job(self, job_id: str) -> None:
        self._write("UPDATE event_jobs SET status = 'queued' WHERE job_id = ?", (job_id,))

    def finish_job(self, job_id: str, *, result: dict[str, Any] | None = None,
                   error: str | None = None) -> None:
        # the events (client data) are dropped once the warehouse has them
        self._write(
            "UPDATE event_jobs SET status = ?, finished_at = ?, result = ?, error = ?, payload = NULL "
            "WHERE job_id = ?",
            ("failed" if error else "done", _now(), json.dumps(result) if result else None, error,
             job_id),
        )

    def job(self, job_id: str) -> dict[str, Any] | None:
        rows = self._all(
            "SELECT job_id, key_id, status, submitted_at, started_at, finished_at, n_events, "
            "attempts, result, error FROM event_jobs WHERE job_id = ?", (job_id,))
        if not rows:
            return None
        keys = ("job_id", "key_id", "status", "submitted_at", "started_at", "finished_at",
                "n_events", "attempts", "result", "error")
        out = dict(zip(keys, rows[0], strict=True))
        out["result"] = json.loads(out["result"]) if out["result"] else None
        return out

    def queue_length(self) -> int:
        return int(self._all("SELECT count(*) FROM event_jobs WHERE status IN ('queued', 'running')")[0][0])
