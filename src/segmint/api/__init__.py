"""Stage 9: the service — the serving store the batch publishes to, and the HTTP API
(FastAPI) and dashboard that read it, with API keys, roles and row-level scope.

Examples
--------
>>> from segmint.api import publish, app_for_project
>>> with project.warehouse() as wh:  # doctest: +SKIP
...     publish(wh, project.config, root=project.root, kind="manual")
>>> app = app_for_project(project.config, project.root)  # doctest: +SKIP
"""

from typing import Any

from segmint.api._access import PERMISSIONS, allowed
from segmint.api._jobs import EventWorker
from segmint.api._reader import DuckDBStore, NotPublishedError, PostgresStore, Snapshot, open_store
from segmint.api._state import ROLES, KeyInfo, Principal, ServiceState
from segmint.api._store import TABLES, Publication, publish

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "TABLES",
    "DuckDBStore",
    "EventWorker",
    "KeyInfo",
    "NotPublishedError",
    "PostgresStore",
    "Principal",
    "Publication",
    "ServiceState",
    "Snapshot",
    "allowed",
    "app_for_project",
    "create_app",
    "open_store",
    "publish",
]


def __getattr__(name: str) -> Any:
    # the app needs FastAPI (the `serve` extra); publishing does not
    if name in ("create_app", "app_for_project"):
        try:
            from segmint.api import _app
        except ImportError as exc:
            from segmint.errors import MissingDependencyError

            raise MissingDependencyError(exc.name or "fastapi", "serve") from None
        return getattr(_app, name)
    raise AttributeError(f"module 'segmint.api' has no attribute {name!r}")
