"""Routes of stored SMTP providers: Zitadel's admin API email provider routes."""

from __future__ import annotations

from flask import Blueprint, Response

from api.auth import current_principal, require
from api.destinations import check_smtp_destinations
from api.errors import not_found
from api.http import json_response, parse_body
from api.services import services
from mailprobe.jobs import is_id
from mailprobe.models import (
    Details,
    ListDetails,
    PasswordRequest,
    ProviderAdded,
    ProviderChanged,
    ProviderConfig,
    ProviderList,
    ProviderRequest,
    SearchRequest,
    utcnow,
)

bp = Blueprint("providers", __name__)


def _found(details: Details | None) -> Response:
    if details is None:
        raise not_found("provider")
    return json_response(ProviderChanged(details=details))


def _checked(provider_id: str) -> str:
    if not is_id(provider_id):
        raise not_found("provider")
    return provider_id


@bp.post("/email/smtp")
@require("smtp.write")
def add_provider() -> Response:
    request = parse_body(ProviderRequest)
    check_smtp_destinations(request)
    stored = services().providers.create(current_principal().tenant, request)
    return json_response(ProviderAdded(id=stored.id, details=stored.details))


@bp.get("/email/<provider_id>")
@require("smtp.read")
def get_provider(provider_id: str) -> Response:
    stored = services().providers.get(_checked(provider_id), current_principal().tenant)
    if stored is None:
        raise not_found("provider")
    return json_response(ProviderConfig(config=stored.public()))


@bp.get("/email")
@require("smtp.read")
def get_active_provider() -> Response:
    stored = services().providers.active(current_principal().tenant)
    if stored is None:
        raise not_found("active provider")
    return json_response(ProviderConfig(config=stored.public()))


@bp.post("/email/_search")
@require("smtp.read")
def search_providers() -> Response:
    query = parse_body(SearchRequest).query
    total, found = services().providers.search(
        current_principal().tenant, offset=query.offset, limit=query.limit, asc=query.asc
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
    request = parse_body(ProviderRequest)
    check_smtp_destinations(request)
    tenant = current_principal().tenant
    return _found(services().providers.update(_checked(provider_id), tenant, request))


@bp.put("/email/smtp/<provider_id>/password")
@require("smtp.write")
def update_provider_password(provider_id: str) -> Response:
    password = parse_body(PasswordRequest).password.get_secret_value()
    tenant = current_principal().tenant
    return _found(services().providers.set_password(_checked(provider_id), tenant, password))


@bp.post("/email/<provider_id>/_activate")
@require("smtp.write")
def activate_provider(provider_id: str) -> Response:
    tenant = current_principal().tenant
    return _found(services().providers.set_active(_checked(provider_id), tenant, True))


@bp.post("/email/<provider_id>/_deactivate")
@require("smtp.write")
def deactivate_provider(provider_id: str) -> Response:
    tenant = current_principal().tenant
    return _found(services().providers.set_active(_checked(provider_id), tenant, False))


@bp.delete("/email/<provider_id>")
@require("smtp.write")
def delete_provider(provider_id: str) -> Response:
    tenant = current_principal().tenant
    if not services().providers.delete(_checked(provider_id), tenant):
        raise not_found("provider")
    now = utcnow()
    return json_response(
        ProviderChanged(
            details=Details(sequence=0, creation_date=now, change_date=now, resource_owner=tenant)
        )
    )
