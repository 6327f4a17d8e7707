"""The FastAPI application: routers, problem responses, limits, metrics, the event worker."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI

from segmint.api import _problems
from segmint.api._jobs import EventWorker, Rescore
from segmint.api._limits import BodyLimit, RateLimiter
from segmint.api._metrics import AccessLog, Metrics
from segmint.api._reader import Store, open_store
from segmint.api._state import ServiceState
from segmint.api.deps import Service, reject_unknown_query
from segmint.config import ProjectConfig, ServingConfig


def create_app(
    *,
    store: Store,
    state: ServiceState,
    settings: ServingConfig | None = None,
    rescore: Rescore | None = None,
    title: str = "segmint",
    auth_cache_seconds: float = 2.0,
    worker: bool = True,
) -> FastAPI:
    """The service's ASGI app.

    Parameters
    ----------
    store : Store
        Where publications are read (:func:`segmint.api.open_store`).
    state : ServiceState
        API keys, alert acknowledgements and event jobs.
    settings : ServingConfig, optional
        Limits (rate, page size, request size, events per request).
    rescore : callable, optional
        ``rescore(events: DataFrame) -> dict``: stores events and re-scores the clients
        they concern (the service does not import the pipeline; ``segmint serve`` passes
        one). Without it, POST /v1/events answers 503.
    auth_cache_seconds : float
        How long an authenticated key is trusted before the state is asked again (a
        revoked key stops working within this time).
    worker : bool
        Run the event worker thread while the app runs.

    Examples
    --------
    >>> app = create_app(store=DuckDBStore(".segmint/serving.duckdb"),  # doctest: +SKIP
    ...                  state=ServiceState(".segmint/service.sqlite"))
    """
    settings = settings or ServingConfig()
    service = Service(store=store, state=state, settings=settings,
                      limiter=RateLimiter(settings.rate_limit), rescore=rescore,
                      auth_cache_seconds=auth_cache_seconds, sessions={}, _auth_cache={})

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runner = EventWorker(state, rescore) if (worker and rescore is not None) else None
        app.state.worker = runner
        if runner is not None:
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()

    app = FastAPI(
        title=f"{title} API",
        version="1",
        summary="Client segments, definitions, scores and audiences from the segmint serving store.",
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
    )
    app.state.service = service
    app.state.worker = None
    app.state.metrics = Metrics()
    _problems.install(app)
    from segmint.api.routes import (
        alerts,
        audiences,
        clients,
        cycles,
        dashboard,
        events,
        health,
        segments,
    )

    for module in (clients, segments, audiences, events, cycles, alerts, health, dashboard):
        app.include_router(module.router)
    app.include_router(dashboard.favicon)
    _publish_limits(app, settings)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(AccessLog, metrics=app.state.metrics)
    return app


def app_for_project(config: ProjectConfig, root: str | Path, *, rescore: Rescore | None = None) -> FastAPI:
    """The app serving a project's store, with its ``serving:`` settings."""
    from segmint.api._store import resolve

    return create_app(
        store=open_store(config, root),
        state=ServiceState(resolve(root, config.serving.state)),
        settings=config.serving,
        rescore=rescore,
        title=config.project,
    )


def _publish_limits(app: FastAPI, settings: ServingConfig) -> None:
    """Put the configured page size and events-per-request limits into the OpenAPI document,
    so that what the schema allows is what the service accepts."""
    from fastapi.openapi.utils import get_openapi

    def openapi():
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, summary=app.summary,
                              routes=app.routes)
            for item in doc.get("paths", {}).values():
                for op in item.values():
                    for param in op.get("parameters", []):
                        if param.get("name") == "limit" and param.get("in") == "query" \
                                and "maximum" not in param["schema"]:
                            param["schema"]["maximum"] = settings.max_page_size
            events = doc["components"]["schemas"]["EventsIn"]["properties"]["events"]
            events["maxItems"] = settings.max_events
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
