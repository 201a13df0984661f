"""Routes of webhook subscriptions and their delivery logs."""

from __future__ import annotations

from flask import Blueprint, Response

from api.auth import current_principal, require
from api.dependencies import services
from api.destinations import check_webhook_url
from api.errors import not_found
from api.http import json_response, parse_body
from mailprobe.ids import is_id
from mailprobe.models.webhooks import (
    DeliveryList,
    Webhook,
    WebhookCreated,
    WebhookList,
    WebhookRequest,
)

bp = Blueprint("webhooks", __name__)


def _owned(webhook_id: str) -> Webhook:
    """The tenant's webhook, or 404 (another tenant's answers the same as a missing one)."""
    found = None
    if is_id(webhook_id):
        found = services().webhooks.get(webhook_id, current_principal().tenant)
    if found is None:
        raise not_found("webhook")
    return found


@bp.post("/webhooks")
@require("webhooks.write")
def create_webhook() -> Response:
    request = parse_body(WebhookRequest)
    check_webhook_url(request.url, services().policy)
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
    return json_response(_owned(webhook_id))


@bp.delete("/webhooks/<webhook_id>")
@require("webhooks.write")
def delete_webhook(webhook_id: str) -> Response:
    if not is_id(webhook_id) or not services().webhooks.delete(
        webhook_id, current_principal().tenant
    ):
        raise not_found("webhook")
    return Response(status=204)


@bp.get("/webhooks/<webhook_id>/deliveries")
@require("smtp.read")
def list_deliveries(webhook_id: str) -> Response:
    deliveries = services().webhooks.deliveries(_owned(webhook_id).id)
    return json_response(DeliveryList(deliveries=deliveries))
