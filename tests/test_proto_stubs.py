"""The committed gRPC stubs are what proto/ generates, and proto/ says what Zitadel's wire says."""

from __future__ import annotations

from api.zitadel.generate import OUT_DIR, fresh_stubs, stubs
from api.zitadel.pb.zitadel import admin_pb2


def test_committed_stubs_are_what_the_protos_generate() -> None:
    # Regenerate with `python -m api.zitadel.generate` after changing a .proto file.
    assert fresh_stubs() == stubs(OUT_DIR)


def _numbers(message: type) -> dict[str, int]:
    return {f.name: f.number for f in message.DESCRIPTOR.fields}  # type: ignore[attr-defined]


def test_the_spec_s_names_and_numbers() -> None:
    service = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]
    assert service.full_name == "zitadel.admin.v1.AdminService"
    assert {m.name for m in service.methods} == {
        "TestEmailProviderSMTP",
        "TestEmailProviderSMTPById",
        "AddEmailProviderSMTP",
        "UpdateEmailProviderSMTP",
        "UpdateEmailProviderSMTPPassword",
        "GetEmailProvider",
        "GetEmailProviderById",
        "ListEmailProviders",
        "ActivateEmailProvider",
        "DeactivateEmailProvider",
        "RemoveEmailProvider",
        "Healthz",
    }
    assert _numbers(admin_pb2.TestEmailProviderSMTPRequest) == {
        "sender_address": 1,
        "sender_name": 2,
        "tls": 3,
        "host": 4,
        "user": 5,
        "password": 6,
        "receiver_address": 7,
        "id": 8,
        "none": 9,
        "plain": 10,
        "xoauth2": 11,
    }
    oneof = admin_pb2.TestEmailProviderSMTPRequest.DESCRIPTOR.oneofs_by_name["Auth"]
    assert [f.name for f in oneof.fields] == ["none", "plain", "xoauth2"]
    assert _numbers(admin_pb2.TestEmailProviderSMTPByIdRequest) == {
        "id": 1,
        "receiver_address": 2,
    }
    assert _numbers(admin_pb2.TestEmailProviderSMTPResponse) == {}
    assert _numbers(admin_pb2.TestEmailProviderSMTPByIdResponse) == {}
