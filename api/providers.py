"""Routes of stored SMTP providers: Zitadel's admin API email provider routes."""

from __future__ import annotations

from flask import Blueprint, Response

from api import operations
from api.auth import current_principal, require
from api.dependencies import services
from api.http import json_response, parse_body
from api.operations import Call
from mailprobe.models.base import utcnow
from mailprobe.models.providers import (
    ListDetails,
    PasswordRequest,
    ProviderAdded,
    ProviderChanged,
    ProviderConfig,
    ProviderList,
    ProviderRequest,
    SearchRequest,
)

bp = Blueprint("providers", __name__)


def _call() -> Call:
    return Call(services(), current_principal())


@bp.post("/email/smtp")
@require("smtp.write")
def add_provider() -> Response:
    stored = operations.add_provider(_call(), parse_body(ProviderRequest))
    return json_response(ProviderAdded(id=stored.id, details=stored.details))


@bp.get("/email/<provider_id>")
@require("smtp.read")
def get_provider(provider_id: str) -> Response:
    stored = operations.stored_provider(_call(), provider_id)
    return json_response(ProviderConfig(config=stored.public()))


@bp.get("/email/<provider_id>/history")
@require("smtp.read")
def provider_history(provider_id: str) -> Response:
    return json_response(operations.provider_history(_call(), provider_id))


@bp.get("/email")
@require("smtp.read")
def get_active_provider() -> Response:
    return json_response(ProviderConfig(config=operations.active_provider(_call()).public()))


@bp.post("/email/_search")
@require("smtp.read")
def search_providers() -> Response:
    query = parse_body(SearchRequest).query
    total, found = operations.search_providers(
        _call(), offset=query.offset, limit=query.limit, asc=query.asc
    )
    return json_response(
        ProviderList(
            details=ListDetails(total_result=total, timestamp=utcnow()),
            result=[stored.public() for stored in found],
        )
    )


@bp.put("/email/smtp/<provider_id>")
@require("smtp.write")
def update_provider(provider_id: str) -> Response:
    details = operations.update_provider(_call(), provider_id, parse_body(ProviderRequest))
    return json_response(ProviderChanged(details=details))


@bp.put("/email/smtp/<provider_id>/password")
@require("smtp.write")
def update_provider_password(provider_id: str) -> Response:
    password = parse_body(PasswordRequest).password.get_secret_value()
    details = operations.set_provider_password(_call(), provider_id, password)
    return json_response(ProviderChanged(details=details))


@bp.post("/email/<provider_id>/_activate")
@require("smtp.write")
def activate_provider(provider_id: str) -> Response:
    details = operations.set_provider_active(_call(), provider_id, True)
    return json_response(ProviderChanged(details=details))


@bp.post("/email/<provider_id>/_deactivate")
@require("smtp.write")
def deactivate_provider(provider_id: str) -> Response:
    details = operations.set_provider_active(_call(), provider_id, False)
    return json_response(ProviderChanged(details=details))


@bp.delete("/email/<provider_id>")
@require("smtp.write")
def delete_provider(provider_id: str) -> Response:
    return json_response(ProviderChanged(details=operations.remove_provider(_call(), provider_id)))
