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


def authenticate(
    keys: ApiKeyStore, authorization: str | None, permission: Permission, *, recall: bool = False
) -> Principal:
    """The principal of an `Authorization: Bearer <key>` value (HTTP header or gRPC
    metadata) that carries `permission`; 401 or 403 otherwise. With `recall`, the key as this
    process read it lately (ApiKeyStore.recall)."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "an API key is required: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = (keys.recall if recall else keys.authenticate)(key.strip())
    if principal is None:
        raise key_refused()
    if not principal.can(permission):
        raise ApiError(403, f"the API key lacks the permission {permission}")
    return principal


def key_refused() -> ApiError:
    return ApiError(
        401,
        "the API key is unknown or revoked",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def require(
    permission: Permission, *, recall: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The route needs a valid key that carries `permission`; g.principal is set for it.

    With `recall`, the key is taken as this process read it lately (ApiKeyStore.recall): for
    a route whose writes check it again (mailprobe.submission). A request it refuses is
    refused as before: the key is read again first, so a revoked key still answers 401."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            keys = services().api_keys
            authorization = request.headers.get("Authorization")
            g.principal = authenticate(keys, authorization, permission, recall=recall)
            if not recall:
                return view(*args, **kwargs)
            try:
                return view(*args, **kwargs)
            except Exception:
                authenticate(keys, authorization, permission)
                raise

        guarded.required_permission = permission  # type: ignore[attr-defined]
        return guarded

    return decorate


def current_principal() -> Principal:
    principal: Principal = g.principal
    return principal
