"""Bearer API keys: who is asking, and may they — for every transport."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import g, request

from api.dependencies import services
from api.errors import ApiError
from mailprobe.apikeys import ApiKeyStore, Permission, Principal

P = ParamSpec("P")
R = TypeVar("R")


def authenticate(keys: ApiKeyStore, authorization: str | None, permission: Permission) -> Principal:
    """The principal of an `Authorization: Bearer <key>` value (HTTP header or gRPC
    metadata) that carries `permission`; 401 or 403 otherwise."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "an API key is required: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = keys.authenticate(key.strip())
    if principal is None:
        raise ApiError(
            401,
            "the API key is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if not principal.can(permission):
        raise ApiError(403, f"the API key lacks the permission {permission}")
    return principal


def require(permission: Permission) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The route needs a valid key that carries `permission`; g.principal is set for it."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            g.principal = authenticate(
                services().api_keys, request.headers.get("Authorization"), permission
            )
            return view(*args, **kwargs)

        guarded.required_permission = permission  # type: ignore[attr-defined]
        return guarded

    return decorate


def current_principal() -> Principal:
    principal: Principal = g.principal
    return principal
