"""An ApiError as gRPC carries it: a google.rpc.Status, its details packed as Any, sent in
the `grpc-status-details-bin` trailer (native gRPC and gRPC-web alike)."""

from __future__ import annotations

from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from api.errors import ApiError

DETAILS_TRAILER = "grpc-status-details-bin"


def _packed(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def status_proto(error: ApiError) -> status_pb2.Status:
    details = []
    if error.violations:
        details.append(
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    if error.info is not None:
        details.append(
            _packed(
                error_details_pb2.ErrorInfo(
                    reason=error.info.reason,
                    domain=error.info.domain,
                    metadata=error.info.metadata,
                )
            )
        )
    if error.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after * 1e9))
        details.append(_packed(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status_pb2.Status(code=error.code, message=error.message, details=details)
