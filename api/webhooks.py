"""Routes of webhook subscriptions and their delivery logs."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from flask import Blueprint, Response

from api.auth import current_principal, require
from api.errors import ApiError, invalid, not_found
from api.http import json_response, parse_body
from api.services import services
from mailprobe.destination import DestinationPolicy, DestinationRefused, resolve
from mailprobe.models import DeliveryList, WebhookCreated, WebhookList, WebhookRequest

bp = Blueprint("webhooks", __name__)

_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def check_destination(url: str, policy: DestinationPolicy) -> None:
    """The receiver must pass the destination rules of SMTP hosts (checked again per delivery)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror:
        raise invalid("url", f"cannot resolve {host}") from None
    try:
        for address in addresses:
            policy.check_address(ipaddress.ip_address(address.ip.split("%", 1)[0]))
    except DestinationRefused as exc:
        raise ApiError(403, f"url: destination refused by policy: {exc}") from None


def _webhook_id(webhook_id: str) -> str:
    tenant = current_principal().tenant
    if not _ID.match(webhook_id) or services().webhooks.get(webhook_id, tenant) is None:
        raise not_found("webhook")
    return webhook_id


@bp.post("/webhooks")
@require("webhooks.write")
def create_webhook() -> Response:
    request = parse_body(WebhookRequest)
    check_destination(request.url, services().policy)
    webhook, secret = services().webhooks.create(current_principal().tenant, request)
    created = WebhookCreated(**webhook.model_dump(), secret=secret)
    return json_response(created, 201, {"Location": f"/webhooks/{webhook.id}"})


@bp.get("/webhooks")
@require("smtp.read")
def list_webhooks() -> Response:
    return json_response(WebhookList(webhooks=services().webhooks.all(current_principal().tenant)))


@bp.get("/webhooks/<webhook_id>")
@require("smtp.read")
def get_webhook(webhook_id: str) -> Response:
    found = services().webhooks.get(_webhook_id(webhook_id), current_principal().tenant)
    assert found is not None
    return json_response(found)


@bp.delete("/webhooks/<webhook_id>")
@require("webhooks.write")
def delete_webhook(webhook_id: str) -> Response:
    services().webhooks.delete(_webhook_id(webhook_id), current_principal().tenant)
    return Response(status=204)


@bp.get("/webhooks/<webhook_id>/deliveries")
@require("smtp.read")
def list_deliveries(webhook_id: str) -> Response:
    deliveries = services().webhooks.deliveries(_webhook_id(webhook_id))
    return json_response(DeliveryList(deliveries=deliveries))
