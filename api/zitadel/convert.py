"""Zitadel's messages to and from mailprobe's models, through their JSON mapping.

mailprobe's JSON API uses Zitadel's JSON names (grpc-gateway's camelCase), so a request
message becomes the same JSON body the HTTP routes take and is validated by the same model,
and an answer is built from the model the HTTP routes serve.
"""

from __future__ import annotations

import json
from typing import TypeVar

from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message
from pydantic import BaseModel

from api.zitadel.pb.zitadel import object_pb2, settings_pb2
from mailprobe.models.providers import Details, Provider

M = TypeVar("M", bound=BaseModel)

_STATES = {
    "SMTP_CONFIG_ACTIVE": settings_pb2.EMAIL_PROVIDER_ACTIVE,
    "SMTP_CONFIG_INACTIVE": settings_pb2.EMAIL_PROVIDER_INACTIVE,
}
# What EmailProvider holds beside its smtp settings, and mailprobe's own fields, which
# Zitadel's messages do not have.
_PROVIDER_FIELDS = (
    "id",
    "details",
    "state",
    "description",
    "hasPassword",
    "retestIntervalSeconds",
    "retestReceiverAddress",
    "nextRetestAt",
)


def to_model(message: Message, model: type[M], *, without: tuple[str, ...] = ()) -> M:
    """The message as `model`, validated as its JSON body would be (so the errors name the
    same fields); the fields `without` names are left out (an id the method takes apart)."""
    body = MessageToDict(message)
    for name in without:
        body.pop(name, None)
    return model.model_validate_json(json.dumps(body))


def details(found: Details) -> object_pb2.ObjectDetails:
    return ParseDict(found.model_dump(mode="json", by_alias=True), object_pb2.ObjectDetails())


def email_provider(provider: Provider) -> settings_pb2.EmailProvider:
    shown = provider.model_dump(mode="json", by_alias=True, exclude_none=True)
    smtp = {name: value for name, value in shown.items() if name not in _PROVIDER_FIELDS}
    message = settings_pb2.EmailProvider(
        id=provider.id, state=_STATES[provider.state], description=provider.description
    )
    message.details.CopyFrom(details(provider.details))
    ParseDict(smtp, message.smtp)
    return message
