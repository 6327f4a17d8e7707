"""The dashboard's routes: sign-in with an API key (a session cookie), then server-rendered
pages; the same permissions and row-level scope as the JSON API."""

from __future__ import annotations

import csv
import io
import secrets
import time
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from segmint.api import _dashboard as ui
from segmint.api._access import allowed
from segmint.api._problems import ProblemError
from segmint.api._state import Principal
from segmint.api._views import alerts_view, client_view
from segmint.api.deps import ServiceDep, SnapshotDep, authorise

router = APIRouter(prefix="/dashboard", include_in_schema=False)

COOKIE = "segmint_session"
SESSION_SECONDS = 8 * 3600


class _SignIn(Exception):
    pass


def _session(request: Request, service: ServiceDep,
             segmint_session: Annotated[str | None, Cookie()] = None) -> tuple[Principal, str]:
    """The signed-in caller and the session's CSRF token (else: to the sign-in page)."""
    found = service.sessions.get(segmint_session or "")
    if found is None or found[1] < time.monotonic():
        raise ProblemError(303, "sign in first", headers={"Location": "/dashboard/login"})
    key, _, csrf = found[0].partition(" ")
    return authorise(request, service, key), csrf


SessionDep = Annotated[tuple[Principal, str], Depends(_session)]


def _need(who: Principal, permission: str) -> None:
    if not allowed(who.role, permission):
        raise ProblemError(403, f"role {who.role!r} may not see this page")


@router.get("/login", response_class=HTMLResponse)
def login_form() -> HTMLResponse:
    return HTMLResponse(ui.login_page())


@router.post("/login", response_class=HTMLResponse)
def login(service: ServiceDep, key: Annotated[str, Form(max_length=200)]) -> Response:
    if service.authenticate(key) is None:
        return HTMLResponse(ui.login_page("That key is not valid."), status_code=401)
    token = secrets.token_urlsafe(32)
    if len(service.sessions) > 10_000:
        now = time.monotonic()
        for t in [t for t, (_, exp) in service.sessions.items() if exp < now]:
            service.sessions.pop(t, None)
    service.sessions[token] = (f"{key} {secrets.token_urlsafe(16)}", time.monotonic() + SESSION_SECONDS)
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/dashboard",
                        max_age=SESSION_SECONDS)
    return response


@router.get("/logout")
def logout(service: ServiceDep, segmint_session: Annotated[str | None, Cookie()] = None) -> Response:
    service.sessions.pop(segmint_session or "", None)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard")
    return response


favicon = APIRouter(include_in_schema=False)


@favicon.get("/favicon.ico")
def no_favicon() -> Response:
    """Browsers ask for it on every non-HTML page (e.g. a problem response)."""
    return Response(status_code=204)


@lru_cache(maxsize=1)
def _plotly_js() -> bytes:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


@router.get("/static/plotly.min.js")
def plotly_js() -> Response:
    return Response(_plotly_js(), media_type="application/javascript",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("", response_class=HTMLResponse)
def overview(session: SessionDep, snap: SnapshotDep) -> HTMLResponse:
    who, _ = session
    _need(who, "segments:read")
    return HTMLResponse(ui.page("Segments", ui.overview(snap.segments()), who=who, meta=snap.meta,
                                charts=True))


@router.get("/clients", response_class=HTMLResponse)
def clients(session: SessionDep, snap: SnapshotDep, service: ServiceDep,
            q: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    who, _ = session
    _need(who, "clients:read")
    q = q.strip()
    view = client_view(snap, who, q, service.settings.history_changes) if q else None
    matches = None
    can_search = allowed(who.role, "clients:search")
    if q and view is None and can_search:
        matches = snap.search(q, book=who.book, scoped=who.scoped, limit=20) or None
    body = ui.client_lookup(q, view=view, matches=matches, searched=bool(q), can_search=can_search)
    return HTMLResponse(ui.page("Client lookup", body, who=who, meta=snap.meta))


@router.get("/audiences", response_class=HTMLResponse)
def audiences(session: SessionDep, snap: SnapshotDep) -> HTMLResponse:
    who, _ = session
    _need(who, "audiences:read")
    body = ui.audiences_page(snap.audiences(book=who.book, scoped=who.scoped),
                             can_export=allowed(who.role, "audiences:export"))
    return HTMLResponse(ui.page("Audiences", body, who=who, meta=snap.meta))


@router.get("/audiences/{audience_id}/export.csv")
def audience_csv(audience_id: str, session: SessionDep, snap: SnapshotDep) -> Response:
    who, _ = session
    _need(who, "audiences:export")
    if snap.audience(audience_id) is None:
        raise ProblemError(404, "no such audience")
    rows = snap.audience_members(audience_id, book=who.book, scoped=who.scoped, after=None,
                                 limit=10_000_000)
    buf = io.StringIO()
    writer = csv.writer(buf)
    keys = sorted({k for _, d in rows for k in (d or {})})
    writer.writerow(["client_id", *keys])
    for cid, d in rows:
        writer.writerow([cid, *((d or {}).get(k, "") for k in keys)])
    return Response(buf.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="audience-{audience_id}.csv"'})


@router.get("/alerts", response_class=HTMLResponse)
def alerts(session: SessionDep, snap: SnapshotDep, service: ServiceDep) -> HTMLResponse:
    who, csrf = session
    _need(who, "alerts:read")
    body = ui.alerts_page(alerts_view(snap, service.state.acks()),
                          can_ack=allowed(who.role, "alerts:ack"), csrf=csrf)
    return HTMLResponse(ui.page("Alerts", body, who=who, meta=snap.meta))


@router.post("/alerts/{alert_id}/ack")
def ack(alert_id: str, session: SessionDep, snap: SnapshotDep, service: ServiceDep,
        csrf: Annotated[str, Form(max_length=64)]) -> Response:
    who, token = session
    _need(who, "alerts:ack")
    if not secrets.compare_digest(csrf, token):
        raise ProblemError(403, "stale form; reload the page")
    if not any(a["alert_id"] == alert_id for a in snap.alerts()):
        raise ProblemError(404, "no such alert")
    service.state.acknowledge(alert_id, who.key_id, None)
    return RedirectResponse("/dashboard/alerts", status_code=303)
