"""Batches: many tests in one request (POST /email/smtp/_tests), each answered on its own."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from mailprobe.models.base import RequestModel, ResponseModel
from mailprobe.models.jobs import Job
from mailprobe.models.status import Status


class BatchRequest(RequestModel):
    """POST /email/smtp/_tests: up to 1,000 tests, each checked on its own."""

    tests: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1000)]


class BatchItem(ResponseModel):
    """One test of a batch: its job, or why it was not accepted."""

    index: int
    job: Job | None = None
    error: Status | None = None


class BatchResult(ResponseModel):
    accepted: int
    rejected: int
    items: list[BatchItem]
