"""Errors as the API answers them: google.rpc.Status with its details, as grpc-gateway
writes it.
"""

from __future__ import annotations

from pydantic import Field

from mailprobe.models.base import ResponseModel


class FieldViolation(ResponseModel):
    field: str
    description: str


class BadRequestDetail(ResponseModel):
    type: str = Field("type.googleapis.com/google.rpc.BadRequest", alias="@type")
    field_violations: list[FieldViolation]


class ErrorInfoDetail(ResponseModel):
    """google.rpc.ErrorInfo: why, as a machine reads it (e.g. the category "policy")."""

    type: str = Field("type.googleapis.com/google.rpc.ErrorInfo", alias="@type")
    reason: str
    domain: str = "mailprobe"
    metadata: dict[str, str] = Field(default_factory=dict)


class RetryInfoDetail(ResponseModel):
    """google.rpc.RetryInfo: the failure is transient; try again after retryDelay."""

    type: str = Field("type.googleapis.com/google.rpc.RetryInfo", alias="@type")
    retry_delay: str = Field(description="a google.protobuf.Duration in JSON: seconds, e.g. 5s")


ErrorDetail = BadRequestDetail | ErrorInfoDetail | RetryInfoDetail


class Status(ResponseModel):
    """Every error the API answers: a google.rpc.Status as grpc-gateway writes it."""

    code: int
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)
