"""The OpenAPI document, built from the same pydantic models the routes validate with.

Each route is described once, in OPERATIONS; a test checks that every route Flask serves is
described here and the reverse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from mailprobe import __version__
from mailprobe.ids import ID_PATTERN
from mailprobe.models.base import RequestModel
from mailprobe.models.batches import BatchRequest, BatchResult
from mailprobe.models.history import ProviderHistory
from mailprobe.models.jobs import Job, JobPage, JobStatus
from mailprobe.models.providers import (
    PasswordRequest,
    ProviderAdded,
    ProviderChanged,
    ProviderConfig,
    ProviderList,
    ProviderRequest,
    SearchRequest,
)
from mailprobe.models.smtp import (
    ProviderTestRequest,
    SmtpTestRequest,
    ZitadelProviderTestRequest,
    ZitadelTestRequest,
)
from mailprobe.models.status import Status
from mailprobe.models.webhooks import (
    CertificateExpiringEvent,
    DeliveryList,
    ProviderChangedEvent,
    SmtpTestCompletedEvent,
    Webhook,
    WebhookCreated,
    WebhookList,
    WebhookRequest,
)

ADMIN_PREFIX = "/admin/v1"  # Zitadel's admin API base path
PREFIXES = ("", ADMIN_PREFIX)
CONSOLE = "/ui"  # the web console's pages (api/console), served at this path only


def blueprint_suffix(prefix: str) -> str:
    """The suffix of a blueprint's name when registered under `prefix`."""
    return prefix.replace("/", "_")


ADMIN_SUFFIX = blueprint_suffix(ADMIN_PREFIX)


# A response's content: a model as JSON, other media types, or None for any JSON object.
Content = type[BaseModel] | str | tuple[str, ...] | None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    # code -> (description, a model, media types other than JSON, or None for any object)
    responses: dict[int, tuple[str, Content]]
    body: type[BaseModel] | None = None
    permission: str | None = None
    parameters: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""


_PREFER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": "RFC 7240 `wait=N` (N ≤ 30): wait up to N s for the job to end.",
    "schema": {"type": "string", "pattern": r"^\s*wait\s*=\s*\d+\s*$"},
}
_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Kept 24 h: the same key and body return the same job and never start a "
    "second SMTP session; the same key with another body answers 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _id_parameter(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": ID_PATTERN},
    }


_PROVIDER_ID = _WEBHOOK_ID = _id_parameter("id")
_JOB_ID = _id_parameter("jobId")

OPERATIONS: list[Operation] = [
    Operation(
        "post",
        "/email/smtp/_test",
        "testSmtpProvider",
        "Test an SMTP provider",
        body=SmtpTestRequest,
        permission="smtp.test",
        parameters=[_PREFER, _IDEMPOTENCY],
        description="Validates the request, enqueues a job and answers at once with it "
        "(202). With `Prefer: wait=N`, answers 200 with the ended job if it ends in time.",
        responses={
            200: ("The job ended within Prefer: wait", Job),
            202: ("The job, queued; Location points at it", Job),
            409: ("The first request with this Idempotency-Key is still being handled", Status),
            422: ("This Idempotency-Key was used with another request", Status),
        },
    ),
    Operation(
        "post",
        "/email/smtp/_tests",
        "testSmtpProviders",
        "Test up to 1,000 SMTP providers",
        body=BatchRequest,
        permission="smtp.test",
        parameters=[_IDEMPOTENCY],
        description="Each test is checked on its own: the answer has one item per test, with "
        "its job or its error (in the error shape of a single test). The accepted ones are "
        "stored and queued together. Bodies up to 4 MiB. With an Idempotency-Key, a replay "
        "answers the first answer.",
        responses={
            202: ("One item per test, in order", BatchResult),
            409: ("The first request with this Idempotency-Key is still being handled", Status),
            422: ("This Idempotency-Key was used with another request", Status),
        },
    ),
    Operation(
        "get",
        "/email/smtp/_test/{jobId}",
        "getSmtpTest",
        "Read a test job (long poll)",
        permission="smtp.read",
        parameters=[_JOB_ID, _PREFER],
        description="With `Prefer: wait=N`, answers as soon as the job ends, or after N s "
        "with its current state.",
        responses={200: ("The job", Job), 404: ("No such job for this tenant", Status)},
    ),
    Operation(
        "get",
        "/email/smtp/_test",
        "listSmtpTests",
        "List the tenant's test jobs, newest first",
        permission="smtp.read",
        parameters=[
            {
                "name": "status",
                "in": "query",
                "required": False,
                "schema": {
                    "type": "string",
                    "enum": list(get_args(JobStatus)),
                },
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": ID_PATTERN},
            },
        ],
        responses={200: ("A page of jobs; pass nextCursor as cursor for the next", JobPage)},
    ),
    Operation(
        "post",
        "/email/smtp/{id}/_test",
        "testStoredSmtpProvider",
        "Test a stored provider as it is stored",
        body=ProviderTestRequest,
        permission="smtp.test",
        parameters=[_PROVIDER_ID, _PREFER, _IDEMPOTENCY],
        responses={
            200: ("The job ended within Prefer: wait", Job),
            202: ("The job, queued; Location points at it", Job),
            404: ("No such provider for this tenant", Status),
            409: ("The first request with this Idempotency-Key is still being handled", Status),
            422: ("This Idempotency-Key was used with another request", Status),
        },
    ),
    Operation(
        "post",
        "/email/smtp",
        "addEmailProviderSMTP",
        "Store an SMTP provider",
        body=ProviderRequest,
        permission="smtp.write",
        responses={200: ("The new provider's id", ProviderAdded)},
    ),
    Operation(
        "get",
        "/email/{id}",
        "getEmailProvider",
        "Read a stored provider (never its secret)",
        permission="smtp.read",
        parameters=[_PROVIDER_ID],
        responses={200: ("The provider", ProviderConfig), 404: ("No such provider", Status)},
    ),
    Operation(
        "get",
        "/email/{id}/history",
        "getEmailProviderHistory",
        "A stored provider's last re-tests, newest first",
        permission="smtp.read",
        parameters=[_PROVIDER_ID],
        description="A provider with `retestIntervalSeconds` is re-tested on that schedule, in "
        "dry-run mode (nothing is sent); its last 10 re-tests are kept: time, outcome, error "
        "category, the recipient's answer, TLS version, certificate fingerprint and expiry, "
        "AUTH mechanisms offered, banner. A change from one re-test to the next fires the "
        "webhook event `smtp_provider.changed`; a certificate about to expire fires "
        "`smtp_provider.certificate_expiring`, once (see `webhooks`).",
        responses={
            200: ("The provider's schedule and history", ProviderHistory),
            404: ("No such provider", Status),
        },
    ),
    Operation(
        "get",
        "/email",
        "getActiveEmailProvider",
        "Read the tenant's active provider",
        permission="smtp.read",
        responses={200: ("The provider", ProviderConfig), 404: ("No active provider", Status)},
    ),
    Operation(
        "post",
        "/email/_search",
        "listEmailProviders",
        "List the tenant's providers",
        body=SearchRequest,
        permission="smtp.read",
        responses={200: ("A page of providers, with details.totalResult", ProviderList)},
    ),
    Operation(
        "put",
        "/email/smtp/{id}",
        "updateEmailProviderSMTP",
        "Update a provider; an empty password keeps the stored one",
        body=ProviderRequest,
        permission="smtp.write",
        parameters=[_PROVIDER_ID],
        description="Changing the host, user or auth endpoint needs the secret again "
        "(400 FAILED_PRECONDITION otherwise): a stored secret never goes to a new destination.",
        responses={200: ("Changed", ProviderChanged), 404: ("No such provider", Status)},
    ),
    Operation(
        "put",
        "/email/smtp/{id}/password",
        "updateEmailProviderSMTPPassword",
        "Replace a provider's password",
        body=PasswordRequest,
        permission="smtp.write",
        parameters=[_PROVIDER_ID],
        responses={200: ("Changed", ProviderChanged), 404: ("No such provider", Status)},
    ),
    Operation(
        "post",
        "/email/{id}/_activate",
        "activateEmailProvider",
        "Make this the tenant's active provider",
        permission="smtp.write",
        parameters=[_PROVIDER_ID],
        responses={200: ("Changed", ProviderChanged), 404: ("No such provider", Status)},
    ),
    Operation(
        "post",
        "/email/{id}/_deactivate",
        "deactivateEmailProvider",
        "Deactivate a provider",
        permission="smtp.write",
        parameters=[_PROVIDER_ID],
        responses={200: ("Changed", ProviderChanged), 404: ("No such provider", Status)},
    ),
    Operation(
        "delete",
        "/email/{id}",
        "removeEmailProvider",
        "Delete a provider",
        permission="smtp.write",
        parameters=[_PROVIDER_ID],
        responses={200: ("Deleted", ProviderChanged), 404: ("No such provider", Status)},
    ),
    Operation(
        "post",
        "/webhooks",
        "createWebhook",
        "Subscribe to the tenant's events",
        body=WebhookRequest,
        permission="webhooks.write",
        description="The URL passes the same destination rules as SMTP hosts (403 otherwise). "
        "The answer carries the signing secret (whsec_...), shown this once.",
        responses={201: ("The subscription, with its secret", WebhookCreated)},
    ),
    Operation(
        "get",
        "/webhooks",
        "listWebhooks",
        "The tenant's subscriptions",
        permission="smtp.read",
        responses={200: ("The subscriptions", WebhookList)},
    ),
    Operation(
        "get",
        "/webhooks/{id}",
        "getWebhook",
        "A subscription (never its secret)",
        permission="smtp.read",
        parameters=[_WEBHOOK_ID],
        responses={200: ("The subscription", Webhook), 404: ("No such webhook", Status)},
    ),
    Operation(
        "delete",
        "/webhooks/{id}",
        "deleteWebhook",
        "Unsubscribe",
        permission="webhooks.write",
        parameters=[_WEBHOOK_ID],
        responses={204: ("Deleted", None), 404: ("No such webhook", Status)},
    ),
    Operation(
        "get",
        "/webhooks/{id}/deliveries",
        "listWebhookDeliveries",
        "Every delivery attempt, newest first: time, status, latency, outcome",
        permission="smtp.read",
        parameters=[_WEBHOOK_ID],
        responses={200: ("The delivery log", DeliveryList), 404: ("No such webhook", Status)},
    ),
    Operation(
        "get",
        "/email/smtp/_test/{jobId}/events",
        "followSmtpTest",
        "Follow a test job as Server-Sent Events",
        permission="smtp.read",
        parameters=[
            _JOB_ID,
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "description": "Resume after this event (the id of an event this stream sent).",
                "schema": {"type": "string", "pattern": r"^(\d+-\d+|end)$"},
            },
        ],
        description="One `phase` event per SMTP phase as it ends (data: the phase with its "
        "`attempt`), then a `job` event with the finished job (id `end`), then the stream "
        "ends. Resuming after `end` answers 204.",
        responses={
            200: ("The event stream", "text/event-stream"),
            204: ("The job's last event was sent already", None),
            404: ("No such job for this tenant", Status),
        },
    ),
    Operation(
        "get",
        "/metrics",
        "metrics",
        "Prometheus metrics: the deployment's totals and this API server's HTTP series",
        responses={200: ("Prometheus text format", "text/plain")},
    ),
    Operation(
        "get",
        "/healthz",
        "healthz",
        "The process is alive",
        responses={200: ("Alive", None)},
    ),
    Operation(
        "get",
        "/readyz",
        "readyz",
        "Redis is reachable and a worker is alive",
        responses={200: ("Ready", None), 503: ("Not ready", Status)},
    ),
    Operation(
        "get", "/openapi.json", "openapi", "This document", responses={200: ("OpenAPI", None)}
    ),
    Operation(
        "get",
        "/docs",
        "docs",
        "A browsable page of this document",
        responses={200: ("HTML", "text/html")},
    ),
    *(
        Operation(
            "get",
            f"{CONSOLE}{path}",
            operation_id,
            f"The web console: {what}",
            parameters=parameters,
            description="Every console URL answers the same page (no key needed to load it); "
            "its script draws the page the URL names and calls this API with the key pasted "
            "into it. Served at /ui only, with a Content-Security-Policy that allows this "
            "origin alone and no inline script.",
            responses={200: ("The console's HTML page", "text/html")},
        )
        for path, operation_id, what, parameters in (
            ("", "consoleTest", "test a provider", []),
            ("/batch", "consoleBatch", "an onboarding batch", []),
            ("/jobs", "consoleJobs", "the tenant's jobs", []),
            ("/jobs/{jobId}", "consoleJob", "one job", [_JOB_ID]),
            ("/providers", "consoleProviders", "stored providers", []),
            ("/webhooks", "consoleWebhooks", "webhook subscriptions", []),
            ("/webhooks/{id}", "consoleWebhook", "a subscription's delivery log", [_WEBHOOK_ID]),
        )
    ),
    Operation(
        "get",
        f"{CONSOLE}/static/{{filename}}",
        "consoleStatic",
        "The web console's scripts, style sheet and icon",
        parameters=[
            {"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        responses={
            200: ("The file", ("text/javascript", "text/css", "image/svg+xml")),
            404: ("No such file", Status),
        },
    ),
]

_JOB_ID_HEADER = {
    "x-mailprobe-job-id": {
        "description": "The test's job, readable at GET /email/smtp/_test/{jobId}",
        "schema": {"type": "string", "pattern": ID_PATTERN},
    }
}
_GRPC_TIMEOUT = {
    "name": "Grpc-Timeout",
    "in": "header",
    "required": False,
    "description": "How long the caller waits, as gRPC writes it (e.g. `30S`, `500m`); "
    "without it, as long as one session may last.",
    "schema": {"type": "string", "pattern": r"^\d{1,8}[HMSmun]$"},
}
_SYNCHRONOUS = (
    "Zitadel's synchronous answer: the call returns when the test has ended, after one "
    "attempt. `200 {}` is success; a failed test is an error whose code says the kind of "
    "failure (policy 403; dns, connect, timeout 503; the rest 400 FAILED_PRECONDITION), whose "
    "message quotes the server's reply and whose details carry a google.rpc.ErrorInfo "
    "(reason `SMTP_<CATEGORY>`, metadata jobId, phase, smtpCode, enhancedCode, retryable, "
    "attempt, maxAttempts, and when there are some hint, hintSource and warnings) and, when "
    "the failure is transient (retryable: the caller may try again; mailprobe tries once), a "
    "google.rpc.RetryInfo. A deadline (Grpc-Timeout, or the session "
    "deadline) that passes first answers 504 and the job goes on."
)
_SYNCHRONOUS_RESPONSES: dict[int, tuple[str, Content]] = {
    200: ("The test succeeded: an empty object", None),
    400: ("Invalid argument, or the test failed (code 9, FAILED_PRECONDITION)", Status),
    403: ("No permission, or the destination is refused by policy", Status),
    404: ("No such provider for this tenant", Status),
    503: ("The server could not be reached (dns, connect, timeout), or Redis is down", Status),
    504: ("The deadline passed before the test ended; the job goes on", Status),
}
_GRPC_WEB = {
    media: {"schema": {"type": "string", "format": "binary"}}
    for media in (
        "application/grpc-web",
        "application/grpc-web+proto",
        "application/grpc-web-text",
        "application/grpc-web-text+proto",
    )
}

ZITADEL_OPERATIONS: list[Operation] = [
    Operation(
        "post",
        f"{ADMIN_PREFIX}/email/smtp/_test",
        "zitadelTestSmtpProvider",
        "Test an SMTP provider, answering when the test has ended (Zitadel's JSON)",
        body=ZitadelTestRequest,
        permission="smtp.test",
        parameters=[_GRPC_TIMEOUT, _IDEMPOTENCY],
        description=_SYNCHRONOUS,
        responses=_SYNCHRONOUS_RESPONSES,
    ),
    Operation(
        "post",
        f"{ADMIN_PREFIX}/email/smtp/{{id}}/_test",
        "zitadelTestStoredSmtpProvider",
        "Test a stored provider as stored, answering when the test has ended",
        body=ZitadelProviderTestRequest,
        permission="smtp.test",
        parameters=[_PROVIDER_ID, _GRPC_TIMEOUT, _IDEMPOTENCY],
        description=_SYNCHRONOUS,
        responses=_SYNCHRONOUS_RESPONSES,
    ),
]

# The events a webhook subscription receives (OpenAPI 3.1 `webhooks`).
WEBHOOK_EVENTS: list[tuple[str, type[BaseModel], str]] = [
    (
        "smtp_test.completed",
        SmtpTestCompletedEvent,
        "A job ended, after its last attempt; `data` is the job.",
    ),
    (
        "smtp_provider.changed",
        ProviderChangedEvent,
        "A stored provider's scheduled re-test differs from the one before in its outcome, "
        "certificate (fingerprint, expiry), TLS version, AUTH mechanisms offered or banner: "
        "`data.changes` lists each, with its value before and after.",
    ),
    (
        "smtp_provider.certificate_expiring",
        CertificateExpiringEvent,
        "A stored provider's certificate expires within MAILPROBE_CERT_EXPIRY_WARN_DAYS "
        "(default 14): sent once per certificate.",
    ),
]
_SIGNED = (
    "Signed by the Standard Webhooks scheme: headers webhook-id (the same on every attempt: "
    "de-duplicate on it), webhook-timestamp and webhook-signature (v1,<base64 HMAC-SHA256 of "
    '"id.timestamp.body"> with the subscription\'s secret). Any 2xx is success; 410 '
    "disables the subscription; anything else is retried."
)

_COMMON_ERRORS = {
    400: "Invalid argument (with fieldViolations) or failed precondition",
    401: "No key, an unknown key or a revoked key",
    403: "The key lacks the permission, or the destination is refused by policy",
    413: "The body is larger than the limit",
    415: "The body is not application/json",
    503: "Redis is unreachable; Retry-After says when to try again",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: Content) -> dict[str, Any]:
    """A response's content: a model as JSON, any JSON object (None), or media types."""
    if isinstance(model, str):
        model = (model,)
    if isinstance(model, tuple):
        return {media: {"schema": {"type": "string"}} for media in model}
    schema: dict[str, Any] = _ref(model) if model else {"type": "object"}
    return {"application/json": {"schema": schema}}


def _response(code: int, text: str, model: Content) -> dict[str, Any]:
    if code == 204:
        return {"description": text}
    return {"description": text, "content": _json(model)}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    # Every model an operation names, in order of first mention.
    named = (
        [Status]
        + [op.body for op in OPERATIONS + ZITADEL_OPERATIONS]
        + [model for op in OPERATIONS for _, model in op.responses.values()]
        + [model for _, model, _ in WEBHOOK_EVENTS]
    )
    models = [m for m in dict.fromkeys(named) if isinstance(m, type)]
    _, defs = models_json_schema(
        [(m, "validation" if issubclass(m, RequestModel) else "serialization") for m in models],
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS + ZITADEL_OPERATIONS:
        responses: dict[str, Any] = {
            str(code): _response(code, text, model) for code, (text, model) in op.responses.items()
        }
        if op.permission:
            for code, text in _COMMON_ERRORS.items():
                if code in (413, 415) and op.body is None:
                    continue
                responses.setdefault(str(code), {"description": text, "content": _json(Status)})
        item: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "responses": responses,
        }
        if op.description:
            item["description"] = op.description
        if op.parameters:
            item["parameters"] = op.parameters
        if op.body is not None:
            item["requestBody"] = {"required": True, "content": _json(op.body)}
        if op.permission:
            item["security"] = [{"apiKey": []}]
            item["x-permission"] = op.permission
        else:
            item["security"] = []
        if op in ZITADEL_OPERATIONS:
            for response in responses.values():
                response["headers"] = _JOB_ID_HEADER
        paths.setdefault(op.path, {})[op.method] = item
    paths["/zitadel.admin.v1.AdminService/{method}"] = {"post": _grpc_web_operation()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mailprobe",
            "version": __version__,
            "description": "Test SMTP email providers, asynchronously. Every route is served "
            "at the root and also under /admin/v1 (Zitadel's admin API base path), the same, "
            "except the two test routes: under /admin/v1 they answer synchronously, as "
            "Zitadel does (described below). Zitadel's AdminService is also served over "
            "gRPC-web at /zitadel.admin.v1.AdminService/{method} and over native gRPC. "
            "A web console for people is at /ui.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "webhooks": {
            name: {
                "post": {
                    "operationId": name.replace(".", "_"),
                    "summary": text,
                    "description": _SIGNED,
                    "requestBody": {"required": True, "content": _json(model)},
                    "responses": {"200": {"description": "Delivered (any 2xx)"}},
                }
            }
            for name, model, text in WEBHOOK_EVENTS
        },
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key"}
            },
        },
        "security": [{"apiKey": []}],
    }


def _grpc_web_operation() -> dict[str, Any]:
    return {
        "operationId": "zitadelGrpcWeb",
        "summary": "Zitadel's AdminService over gRPC-web",
        "description": "A gRPC-web call (binary or base64 text framing) of a method of "
        "zitadel.admin.v1.AdminService (proto/zitadel/admin.proto): the status is in the "
        "trailer frame (grpc-status, grpc-message, grpc-status-details-bin). Credentials: "
        "`authorization: Bearer <key>`.",
        "parameters": [
            {"name": "method", "in": "path", "required": True, "schema": {"type": "string"}},
            _GRPC_TIMEOUT,
        ],
        "requestBody": {"required": True, "content": _GRPC_WEB},
        "responses": {
            "200": {
                "description": "The response frame and the trailer frame, or the trailer alone",
                "content": _GRPC_WEB,
                "headers": _JOB_ID_HEADER,
            },
            "415": {"description": "Not a gRPC-web content type", "content": _json(Status)},
        },
        "security": [{"apiKey": []}],
    }


def docs_page() -> str:
    """A self-contained page: each operation with its permission and JSON schema."""
    doc = openapi_document()
    rows = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            rows.append(
                f"<section><h2><code>{method.upper()} {escape(path)}</code></h2>"
                f"<p>{escape(op['summary'])}. {escape(op.get('description', ''))}</p>"
                f"<p>Permission: <code>{escape(op.get('x-permission', 'none'))}</code>; "
                f"answers: {', '.join(sorted(op['responses']))}</p></section>"
            )
    schemas = "".join(
        f"<details><summary><code>{escape(name)}</code></summary><pre>"
        f"{escape(_pretty(schema))}</pre></details>"
        for name, schema in doc["components"]["schemas"].items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>mailprobe API</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}h2{font-size:1.1rem}pre{background:#f4f4f4;padding:1rem;"
        "overflow:auto}</style></head><body><h1>mailprobe API</h1>"
        f"<p>{escape(doc['info']['description'])} Machine-readable: "
        "<a href='openapi.json'>openapi.json</a>.</p>"
        + "".join(rows)
        + "<h2>Schemas</h2>"
        + schemas
        + "</body></html>"
    )


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
