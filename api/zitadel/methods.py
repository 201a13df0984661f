"""zitadel.admin.v1.AdminService's methods, transport-free: each turns its request message
into an operation (api.operations) and the result into its response message.

Native gRPC and gRPC-web both dispatch through METHODS. A test method answers with its job,
not a message: the transport waits for the end its own way, then `answer.verdict` decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from api import operations
from api.auth import authenticate
from api.dependencies import Services
from api.operations import Call
from api.zitadel import answer
from api.zitadel.convert import details, email_provider, to_model
from api.zitadel.pb.zitadel import admin_pb2, object_pb2
from mailprobe import durability
from mailprobe.apikeys import Permission
from mailprobe.models.base import utcnow
from mailprobe.models.jobs import Job
from mailprobe.models.providers import ProviderRequest, SearchQuery
from mailprobe.models.smtp import SmtpTestRequest, ZitadelProviderTestRequest

SERVICE = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name


@dataclass(frozen=True)
class Method:
    name: str
    request: type[Message]
    response: type[Message]
    permission: Permission | None  # None: no key needed (Healthz)
    run: Callable[[Call, Any], Message | Job]

    @property
    def path(self) -> str:
        return f"/{SERVICE}/{self.name}"


def start(
    svc: Services, method: Method, authorization: str | None, request: Message
) -> Message | Job:
    """Authorise and run `method`: its response, or the job of a test to wait for.
    Raises ApiError (or what api.errors.as_api_error turns into one)."""
    if method.permission is None:
        return method.response()
    principal = authenticate(svc.api_keys, authorization, method.permission)
    result = method.run(Call(svc, principal), request)
    # What the method wrote is on the replicas before it answers (api/durable.py).
    durability.replicated(svc.redis, svc.settings)
    return result


# --- the methods ------------------------------------------------------------------------------


def _test(call: Call, request: admin_pb2.TestEmailProviderSMTPRequest) -> Job:
    test = operations.admit(call, to_model(request, SmtpTestRequest))
    return _enqueue_awaited(call, test)


def _test_by_id(call: Call, request: admin_pb2.TestEmailProviderSMTPByIdRequest) -> Job:
    receiver = to_model(request, ZitadelProviderTestRequest, without=("id",)).receiver_address
    test = operations.provider_test(call, request.id, receiver)
    return _enqueue_awaited(call, test)


def _enqueue_awaited(call: Call, test: SmtpTestRequest) -> Job:
    """The test queued as Zitadel runs it (one attempt), its end awaited: the call waits
    for it (api.zitadel.waiter)."""
    return operations.enqueue(call, [test], max_attempts=answer.ATTEMPTS, awaited=True)[0]


def _add(call: Call, request: admin_pb2.AddEmailProviderSMTPRequest) -> Message:
    stored = operations.add_provider(call, to_model(request, ProviderRequest))
    return admin_pb2.AddEmailProviderSMTPResponse(id=stored.id, details=details(stored.details))


def _update(call: Call, request: admin_pb2.UpdateEmailProviderSMTPRequest) -> Message:
    changed = operations.update_provider(
        call, request.id, to_model(request, ProviderRequest, without=("id",))
    )
    return admin_pb2.UpdateEmailProviderSMTPResponse(details=details(changed))


def _password(call: Call, request: admin_pb2.UpdateEmailProviderSMTPPasswordRequest) -> Message:
    changed = operations.set_provider_password(call, request.id, request.password)
    return admin_pb2.UpdateEmailProviderSMTPPasswordResponse(details=details(changed))


def _get(call: Call, request: admin_pb2.GetEmailProviderRequest) -> Message:
    provider = operations.active_provider(call).public()
    return admin_pb2.GetEmailProviderResponse(config=email_provider(provider))


def _get_by_id(call: Call, request: admin_pb2.GetEmailProviderByIdRequest) -> Message:
    provider = operations.stored_provider(call, request.id).public()
    return admin_pb2.GetEmailProviderByIdResponse(config=email_provider(provider))


def _list(call: Call, request: admin_pb2.ListEmailProvidersRequest) -> Message:
    asked = request.query
    # Zitadel reads a limit of 0 as "the default".
    query = SearchQuery(
        offset=asked.offset, limit=asked.limit or SearchQuery().limit, asc=asked.asc
    )
    total, found = operations.search_providers(
        call, offset=query.offset, limit=query.limit, asc=query.asc
    )
    listed = object_pb2.ListDetails(total_result=total)
    listed.view_timestamp.FromJsonString(utcnow())
    return admin_pb2.ListEmailProvidersResponse(
        details=listed, result=[email_provider(stored.public()) for stored in found]
    )


def _activate(call: Call, request: admin_pb2.ActivateEmailProviderRequest) -> Message:
    changed = operations.set_provider_active(call, request.id, True)
    return admin_pb2.ActivateEmailProviderResponse(details=details(changed))


def _deactivate(call: Call, request: admin_pb2.DeactivateEmailProviderRequest) -> Message:
    changed = operations.set_provider_active(call, request.id, False)
    return admin_pb2.DeactivateEmailProviderResponse(details=details(changed))


def _remove(call: Call, request: admin_pb2.RemoveEmailProviderRequest) -> Message:
    return admin_pb2.RemoveEmailProviderResponse(
        details=details(operations.remove_provider(call, request.id))
    )


def _method(
    name: str, permission: Permission | None, run: Callable[[Call, Any], Message | Job]
) -> Method:
    return Method(
        name,
        getattr(admin_pb2, f"{name}Request"),
        getattr(admin_pb2, f"{name}Response"),
        permission,
        run,
    )


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        _method("Healthz", None, lambda call, request: admin_pb2.HealthzResponse()),
        _method("TestEmailProviderSMTP", "smtp.test", _test),
        _method("TestEmailProviderSMTPById", "smtp.test", _test_by_id),
        _method("AddEmailProviderSMTP", "smtp.write", _add),
        _method("UpdateEmailProviderSMTP", "smtp.write", _update),
        _method("UpdateEmailProviderSMTPPassword", "smtp.write", _password),
        _method("GetEmailProvider", "smtp.read", _get),
        _method("GetEmailProviderById", "smtp.read", _get_by_id),
        _method("ListEmailProviders", "smtp.read", _list),
        _method("ActivateEmailProvider", "smtp.write", _activate),
        _method("DeactivateEmailProvider", "smtp.write", _deactivate),
        _method("RemoveEmailProvider", "smtp.write", _remove),
    )
}
