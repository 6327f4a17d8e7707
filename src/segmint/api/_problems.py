"""Errors as RFC 9457 problem responses (``application/problem+json``), never a traceback."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from segmint.errors import SegmintError

log = logging.getLogger("segmint.api")

PROBLEM = "application/problem+json"


class ProblemError(Exception):
    """Raised at the edge (routes, dependencies) to answer with a problem response."""

    def __init__(self, status: int, detail: str | None = None, *, title: str | None = None,
                 headers: dict[str, str] | None = None, errors: list[dict[str, Any]] | None = None):
        super().__init__(detail or title or str(status))
        self.status = status
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.headers = headers
        self.errors = errors


def problem_response(status: int, *, title: str | None = None, detail: str | None = None,
                     instance: str | None = None, headers: dict[str, str] | None = None,
                     errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title or HTTPStatus(status).phrase,
                            "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _path(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem response."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError):
        return problem_response(exc.status, title=exc.title, detail=exc.detail,
                                headers=exc.headers, errors=exc.errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != HTTPStatus(
            exc.status_code).phrase else None
        return problem_response(exc.status_code, detail=detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # loc, msg and type only: the input may be client data and is not echoed back
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]
        return problem_response(422, detail="the request does not match the API schema",
                                errors=errors)

    @app.exception_handler(SegmintError)
    async def _segmint(request: Request, exc: SegmintError):
        return problem_response(400, detail=str(exc))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, _path(request))
        return problem_response(500, detail="an internal error occurred; it has been logged")


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem responses."""
    from segmint.api.models import Problem

    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": Problem, "description": HTTPStatus(code).phrase,
                     "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    return out
