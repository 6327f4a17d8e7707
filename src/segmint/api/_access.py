"""Who may do what: function-level permissions per role (OWASP API5) and the row-level
scope of relationship managers (OWASP API1: a client outside the caller's book is
answered exactly like a client that does not exist)."""

from __future__ import annotations

from segmint._typing import Role

ALL: frozenset[Role] = frozenset(("admin", "analyst", "rm", "campaign"))

#: permission -> roles holding it
PERMISSIONS: dict[str, frozenset[Role]] = {
    "clients:read": ALL,
    "clients:search": frozenset(("admin", "analyst", "rm")),
    "segments:read": ALL,
    "members:read": ALL,
    "audiences:read": ALL,
    "audiences:export": ALL,
    "events:write": frozenset(("admin", "campaign")),
    "events:read": frozenset(("admin", "campaign")),
    "cycles:read": frozenset(("admin", "analyst")),
    "alerts:read": frozenset(("admin", "analyst")),
    "alerts:ack": frozenset(("admin", "analyst")),
    "metrics:read": frozenset(("admin",)),
}


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]
