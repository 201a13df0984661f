"""gRPC-web on the HTTP port: `POST /zitadel.admin.v1.AdminService/<Method>`, as Zitadel's
console and other browser clients call it (through Envoy, for Zitadel).

The gRPC-web protocol (github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md) frames each
message as a flag byte and a 4-byte length; the answer is the response message's frame and
then a trailer frame (flag 0x80) holding `grpc-status`, `grpc-message` and
`grpc-status-details-bin` as HTTP/1 header lines. The `-text` content types carry the same
bytes in base64. The methods are the ones native gRPC serves (methods.METHODS); a test's
wait is a blocking Redis read, which under gunicorn's gevent workers costs a greenlet.
"""

from __future__ import annotations

import base64
import binascii
import struct
from urllib.parse import quote

from flask import Blueprint, Response, request
from google.protobuf.message import DecodeError

from api.dependencies import services
from api.errors import ApiError, as_api_error
from api.zitadel import answer
from api.zitadel.methods import METHODS, SERVICE, start
from api.zitadel.status import DETAILS_TRAILER, status_proto
from mailprobe.models.jobs import Job

bp = Blueprint("grpc_web", __name__)

BINARY_TYPES = ("application/grpc-web", "application/grpc-web+proto")
TEXT_TYPES = ("application/grpc-web-text", "application/grpc-web-text+proto")
# Headers a browser's gRPC-web client sends and must be allowed to read (CORS).
REQUEST_HEADERS = ("authorization", "content-type", "grpc-timeout", "x-grpc-web", "x-user-agent")
RESPONSE_HEADERS = ("grpc-status", "grpc-message", DETAILS_TRAILER, answer.JOB_ID_HEADER)

_TRAILER_FLAG = 0x80
_COMPRESSED_FLAG = 0x01
_HEADER = struct.Struct(">BI")


def frame(flag: int, payload: bytes) -> bytes:
    return _HEADER.pack(flag, len(payload)) + payload


def unframe(body: bytes) -> bytes:
    """The one message of a unary call's request body."""
    if len(body) < _HEADER.size:
        raise ApiError(400, "gRPC-web: the body holds no message frame")
    flag, length = _HEADER.unpack_from(body)
    if flag & _COMPRESSED_FLAG:
        raise ApiError(400, "gRPC-web: compressed messages are not accepted")
    if flag & _TRAILER_FLAG or len(body) < _HEADER.size + length:
        raise ApiError(400, "gRPC-web: malformed message frame")
    return body[_HEADER.size : _HEADER.size + length]


def decode_text(body: bytes) -> bytes:
    """grpc-web-text: base64, possibly several padded chunks one after another."""
    decoded = b""
    try:
        for chunk in body.replace(b"\r", b"").replace(b"\n", b"").split(b"="):
            if chunk:
                decoded += base64.b64decode(chunk + b"=" * (-len(chunk) % 4), validate=True)
    except binascii.Error:
        raise ApiError(400, "gRPC-web: the body is not valid base64") from None
    return decoded


def trailers(code: int, message: str = "", details: bytes = b"") -> bytes:
    lines = [f"grpc-status: {code}"]
    if message:
        # Percent-encoded, as gRPC requires of grpc-message.
        lines.append(f"grpc-message: {quote(message, safe=' !#$&()*+,-./:;<=>?@[]^_`{|}~')}")
    if details:
        lines.append(f"{DETAILS_TRAILER}: {base64.b64encode(details).rstrip(b'=').decode()}")
    return "".join(f"{line}\r\n" for line in lines).encode()


@bp.post(f"/{SERVICE}/<method>")
def call(method: str) -> Response:
    text = request.mimetype in TEXT_TYPES
    if not text and request.mimetype not in BINARY_TYPES:
        raise ApiError(415, "gRPC-web: the content type must be application/grpc-web[-text]")
    job_id = ""
    try:
        called = METHODS.get(method)
        if called is None:
            raise ApiError(501, f"no method {method} in {SERVICE}", code=12)
        body = request.get_data()
        try:
            message = called.request.FromString(unframe(decode_text(body) if text else body))
        except DecodeError:
            raise ApiError(400, "gRPC-web: the message does not parse") from None
        svc = services()
        started = start(svc, called, request.headers.get("Authorization"), message)
        if isinstance(started, Job):
            job_id = started.id
            deadline = answer.parse_grpc_timeout(request.headers.get("grpc-timeout"))
            answer.settle(svc, started, deadline)
            started = called.response()
        payload = frame(0, started.SerializeToString()) + frame(_TRAILER_FLAG, trailers(0))
    except Exception as exc:
        error = as_api_error(exc)
        details = status_proto(error).SerializeToString()
        payload = frame(_TRAILER_FLAG, trailers(error.code, error.message, details))
    headers = {answer.JOB_ID_HEADER: job_id} if job_id else {}
    return Response(
        base64.b64encode(payload) if text else payload,
        200,
        content_type=TEXT_TYPES[0] if text else BINARY_TYPES[1],
        headers=headers,
    )
