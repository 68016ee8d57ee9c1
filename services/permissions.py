"""Every route's protection decided: ``create_app`` refuses to start a service with a
route that declares no permission (``check_routes``), and the access test walks the
same list (``routes_with_permissions``) to call every route as every role.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.routing import APIRoute

from services.auth import Allow
from services.direct import direct_of


def _allow_in(dependencies: list[Any]) -> Allow | None:
    stack = list(dependencies)
    while stack:
        dep = stack.pop()
        call = getattr(dep, "call", None) or getattr(dep, "dependency", None)
        if isinstance(call, Allow):
            return call
        stack.extend(getattr(dep, "dependencies", []) or [])
    return None


def _declared(route: APIRoute) -> Allow | None:
    """A route's own ``Allow``: a dependency, or what a direct route declares (``services.direct``)."""
    direct = direct_of(route.endpoint)
    if direct is not None:
        return direct.allow
    return _allow_in(route.dependant.dependencies) or _allow_in(route.dependencies)


def routes_with_allow(routes: list[Any], inherited: Allow | None = None) -> list[tuple[APIRoute, Allow | None]]:
    """Every API route of an app with the ``Allow`` it declared (its own or its
    router's), walking routers included into routers."""
    found: list[tuple[APIRoute, Allow | None]] = []
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            found += routes_with_allow(original.routes, _allow_in(original.dependencies) or inherited)
        elif isinstance(route, APIRoute):
            found.append((route, _declared(route) or inherited))
    return found


def routes_with_permissions(routes: list[Any]) -> list[tuple[APIRoute, str | None]]:
    """Every API route of an app with the permission it declared."""
    return [(route, allow.permission if allow else None) for route, allow in routes_with_allow(routes)]


def check_routes(routes: list[Any], service: str) -> None:
    """Refuse to serve a route nobody decided the protection of."""
    missing = [
        f"{sorted(r.methods or ())[0]} {r.path}"
        for r, permission in routes_with_permissions(routes)
        if r.include_in_schema and permission is None
    ]
    if missing:
        raise RuntimeError(f"{service}: routes without a permission (use services.auth.Allow): {json.dumps(missing)}")
