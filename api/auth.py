"""Bearer API keys: who is asking, and may they."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import g, request

from api.errors import ApiError
from api.services import services
from mailprobe.apikeys import Permission, Principal

P = ParamSpec("P")
R = TypeVar("R")


def _principal() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "an API key is required: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = services().api_keys.authenticate(key.strip())
    if principal is None:
        raise ApiError(
            401,
            "the API key is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal


def require(permission: Permission) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The route needs a valid key that carries `permission`; g.principal is set for it."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            principal = _principal()
            if not principal.can(permission):
                raise ApiError(403, f"the API key lacks the permission {permission}")
            g.principal = principal
            return view(*args, **kwargs)

        guarded.required_permission = permission  # type: ignore[attr-defined]
        return guarded

    return decorate


def current_principal() -> Principal:
    principal: Principal = g.principal
    return principal
