"""A job: a test's lifecycle as the API serves it (status, attempts, the report), and a page
of jobs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mailprobe.models.base import ResponseModel
from mailprobe.models.reports import ProbeError, Report

JobStatus = Literal["queued", "running", "retrying", "succeeded", "failed"]


FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed"})


AttemptOutcome = Literal["running", "succeeded", "failed", "retrying"]


class Attempt(ResponseModel):
    number: int
    started_at: str
    finished_at: str | None = None
    outcome: AttemptOutcome = "running"
    error: ProbeError | None = None


class RetestRun(ResponseModel):
    """A scheduled re-test of a stored provider: which one, and the due time it ran for."""

    provider_id: str
    due_at: str


class Job(ResponseModel):
    """A test of an SMTP provider, from submission to its last attempt's report."""

    id: str
    status: JobStatus
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
    request: dict[str, Any]
    # Attempts this job may make; None: the operator's MAILPROBE_MAX_ATTEMPTS. Zitadel's
    # synchronous surface makes one attempt, as Zitadel does.
    max_attempts: int | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    result: Report | None = None
    retest: RetestRun | None = Field(
        None, description="set when the job is a stored provider's scheduled re-test"
    )

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def attempt_limit(self, default: int) -> int:
        return self.max_attempts or default


class JobPage(ResponseModel):
    jobs: list[Job]
    next_cursor: str | None = None
