"""Native gRPC: zitadel.admin.v1.AdminService on MAILPROBE_GRPC_PORT, with the standard health
service and server reflection (grpcurl, Postman and Evans discover it).

An asyncio server, so a call waiting for its test holds no thread: the store and queue work
of a call runs briefly in a thread pool (the stores are synchronous), and the wait for the
test's end is one future among many on one Redis connection (waiter.JobEndWaiter).
`mailprobe serve` and `mailprobe dev` start it beside the HTTP API:
`python -m api.zitadel.grpc_server`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from api.dependencies import Services, build_services
from api.errors import as_api_error
from api.zitadel import answer
from api.zitadel.methods import METHODS, SERVICE, Method, start
from api.zitadel.status import DETAILS_TRAILER, status_proto
from api.zitadel.waiter import JobEndWaiter
from mailprobe.logs import configure_logging
from mailprobe.models.jobs import Job
from mailprobe.redisconn import get_async_redis
from mailprobe.settings import Settings, get_settings

log = logging.getLogger("mailprobe.grpc")

_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}
# Threads for the short, blocking part of a call (key check, DNS, Redis, queue).
BLOCKING_THREADS = 32
SHUTDOWN_GRACE_SECONDS = 10


class AdminService:
    """Runs each method of METHODS for a native gRPC call."""

    def __init__(self, svc: Services, waiter: JobEndWaiter) -> None:
        self.svc = svc
        self.waiter = waiter

    def handlers(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    self._behaviour(method),
                    request_deserializer=method.request.FromString,
                    response_serializer=method.response.SerializeToString,
                )
                for name, method in METHODS.items()
            },
        )

    def _behaviour(self, method: Method) -> Any:
        async def call(request: Message, context: grpc.aio.ServicerContext) -> Message:
            try:
                return await self._answer(method, request, context)
            except Exception as exc:  # every failure is a status, never a stack trace
                error = as_api_error(exc)
            details = status_proto(error).SerializeToString()
            await context.abort(
                _STATUS_CODES[error.code],
                error.message,
                trailing_metadata=((DETAILS_TRAILER, details),),
            )
            raise AssertionError("abort() raises")  # pragma: no cover

        return call

    async def _answer(
        self, method: Method, request: Message, context: grpc.aio.ServicerContext
    ) -> Message:
        metadata = {key: value for key, value in context.invocation_metadata() or ()}
        authorization = metadata.get("authorization")
        started = await asyncio.to_thread(start, self.svc, method, authorization, request)
        if not isinstance(started, Job):
            return started
        await context.send_initial_metadata(((answer.JOB_ID_HEADER, started.id),))
        budget = answer.wait_budget(self.svc.settings, context.time_remaining())
        await self.waiter.wait(started.id, budget)
        stored = await asyncio.to_thread(self.svc.jobs.load, started.id)
        failure = answer.verdict(stored.job if stored else started)
        if failure is not None:
            raise failure
        return method.response()


async def serve(settings: Settings, *, port: int | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then let calls in flight end (a grace period)."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(BLOCKING_THREADS, "mailprobe-grpc"))
    svc = build_services(settings)
    # No read timeout: the waiter's XREAD blocks for a bounded POLL_MS itself.
    waiter = JobEndWaiter(get_async_redis(settings))
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((AdminService(svc, waiter).handlers(),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{settings.host}:{settings.grpc_port if port is None else port}"
    server.add_insecure_port(address)
    await server.start()
    log.info("gRPC: zitadel.admin.v1.AdminService on %s", address)

    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    for name in ("", SERVICE):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.stop(SHUTDOWN_GRACE_SECONDS)
    await waiter.close()


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_format)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
