"""`mailprobe test --api URL`: submit a test to a running API and follow its events.

The job's Server-Sent Events (GET /email/smtp/_test/{id}/events) bring each phase as it
ends; a dropped connection is resumed with Last-Event-ID, so no phase is missed or repeated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import connect_sse

from mailprobe.models.jobs import Job
from mailprobe.progress import PhaseEvent

RECONNECTS = 5


class ApiFailure(Exception):
    """The API refused the test or could not be reached; `category` is set when the refusal
    is an error category (a destination refused by policy)."""

    def __init__(self, message: str, category: str | None = None) -> None:
        super().__init__(message)
        self.category = category


def _refusal(response: httpx.Response) -> ApiFailure:
    response.read()
    try:
        status: dict[str, Any] = response.json()
    except ValueError:
        return ApiFailure(f"the API answered {response.status_code}")
    category = None
    for detail in status.get("details", []):
        category = detail.get("metadata", {}).get("category", category)
    return ApiFailure(
        f"the API answered {response.status_code}: {status.get('message', '')}", category
    )


def run_test(
    base_url: str, key: str, body: dict[str, Any], on_phase: Callable[[PhaseEvent], None]
) -> Job:
    """Submit the test and return the job once it has ended, calling `on_phase` meanwhile."""
    headers = {"Authorization": f"Bearer {key}"}
    timeout = httpx.Timeout(30.0, read=60.0)  # the stream sends something every 15 s
    try:
        with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout) as http:
            answer = http.post("/email/smtp/_test", json=body)
            if answer.status_code not in (200, 202):
                raise _refusal(answer)
            job = Job.model_validate(answer.json())
            return job if job.finished else _follow(http, job.id, on_phase)
    except httpx.HTTPError as exc:
        raise ApiFailure(f"cannot reach the API at {base_url}: {exc}") from None


def _follow(http: httpx.Client, job_id: str, on_phase: Callable[[PhaseEvent], None]) -> Job:
    path = f"/email/smtp/_test/{job_id}/events"
    last = ""
    failures = 0
    while True:
        try:
            headers = {"Last-Event-ID": last} if last else {}
            with connect_sse(http, "GET", path, headers=headers) as source:
                if source.response.status_code == 204:  # its end was sent already
                    return Job.model_validate(http.get(f"/email/smtp/_test/{job_id}").json())
                if source.response.status_code != 200:
                    raise _refusal(source.response)
                for event in source.iter_sse():
                    if event.event == "phase":
                        on_phase(PhaseEvent.model_validate_json(event.data))
                        last, failures = event.id, 0
                    elif event.event == "job":
                        return Job.model_validate_json(event.data)
        except httpx.TransportError:
            if failures >= RECONNECTS:
                raise
        failures += 1
        time.sleep(min(0.2 * 2**failures, 5.0))
