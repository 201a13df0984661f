"""What `mailprobe test`, `mailprobe schedule` and `mailprobe status` print, and
`mailprobe test`'s exit codes.

On a terminal `mailprobe test` shows a live display (rich): each phase as it ends and a
spinner while the server is awaited. Anywhere else (a pipe, a file, CI) it prints the same
facts as plain lines, one per phase as it ends, without escape codes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from mailprobe.metrics import Snapshot
from mailprobe.models.base import ms_time
from mailprobe.models.history import ProviderCheck
from mailprobe.models.jobs import Job
from mailprobe.models.reports import PhaseReport
from mailprobe.models.sender_domain import SenderDomainReport
from mailprobe.progress import PhaseEvent

if TYPE_CHECKING:
    from mailprobe.schedule import Overview

# `mailprobe test` exits with one of these; the README's table says the same.
EXIT_OK = 0
EXIT_NOT_RUN = 1  # the test could not run: the API refused it or could not be reached
EXIT_USAGE = 2  # wrong options (click's own code)
EXIT_CODES: dict[str, int] = {
    "dns": 3,
    "connect": 4,
    "timeout": 5,
    "tls": 6,
    "auth": 7,
    "sender_rejected": 8,
    "recipient_rejected": 9,
    "data_rejected": 10,
    "protocol": 11,
    "policy": 12,
    "internal": 13,
}


def exit_code(job: Job) -> int:
    if job.status == "succeeded":
        return EXIT_OK
    error = job.result.error if job.result else None
    return EXIT_CODES[error.category if error is not None else "internal"]


def _reply(phase: PhaseReport) -> str:
    """The first line of the phase's reply, and its note (what it found besides success)."""
    if phase.reply is None:
        return phase.note or ""
    first = phase.reply.text.splitlines()[0] if phase.reply.text else ""
    reply = f"{phase.reply.code} {first}".strip()
    return f"{reply} ({phase.note})" if phase.note else reply


def summary(job: Job) -> list[tuple[str, str]]:
    """The session's facts after its phases: TLS, certificate, AUTH, and the verdict."""
    rows: list[tuple[str, str]] = []
    report = job.result
    if report is not None:
        tls = report.tls
        if tls.mode != "none":
            rows.append(("TLS", f"{tls.mode}, {tls.version}, {tls.cipher}"))
        if tls.certificate is not None:
            cert = tls.certificate
            trust = "verified" if cert.verified else f"NOT verified: {cert.verify_error or '?'}"
            rows.append(("certificate", f"{cert.subject} ({trust})"))
            if cert.subject_alt_names:
                rows.append(("valid for", ", ".join(cert.subject_alt_names)))
            rows.append(("issuer", cert.issuer))
            if cert.not_before:
                rows.append(("valid from", cert.not_before))
            rows.append(("expires", cert.not_after))
            if cert.chain_length:
                rows.append(("chain", f"{cert.chain_length} sent by the server"))
            rows.append(("sha256", cert.sha256))
        if report.auth.offered or report.auth.used:
            offered = " ".join(report.auth.offered) or "nothing"
            rows.append(("AUTH", f"offered {offered}; used {report.auth.used or 'none'}"))
        if report.sender_domain is not None:
            rows.extend(sender_domain_rows(report.sender_domain))
        if report.subject:
            rows.append(("subject", report.subject))
        rows.extend(("warning", warning.message) for warning in report.warnings)
        if report.recipient is not None:
            recipient = report.recipient
            first = recipient.text.splitlines()[0] if recipient.text else ""
            answer = f"{recipient.code} {first}".strip()
            rows.append(("recipient", f"{recipient.address}: {answer} ({recipient.status})"))
        if report.dry_run:
            rows.append(("message", "not sent (dry run: the session stopped after RCPT TO)"))
    rows.append(("verdict", verdict(job)))
    error = report.error if report is not None else None
    if job.status == "failed" and error is not None and error.hint:
        rows.append(("hint", error.hint))
        if error.hint_source:
            rows.append(("source", error.hint_source))
    return rows


def sender_domain_rows(section: SenderDomainReport) -> list[tuple[str, str]]:
    """The sender domain's SPF, DMARC and warnings, one fact a row."""
    if section.status != "checked":
        return [("sender", f"{section.domain}: {section.message}")]
    count = len(section.warnings)
    plural = "s" if count > 1 else ""
    rows = [("sender", f"{section.domain}: {count or 'no'} warning{plural}")]
    spf = section.spf
    if spf is not None:
        if spf.record is None:
            text = "none published"
        else:
            lookups = f"{spf.dns_lookups} of {spf.dns_lookup_limit} DNS lookups"
            text = f"{spf.record} ({lookups if spf.dns_lookups is not None else 'unreadable'})"
        if spf.authorization is not None:
            auth = spf.authorization
            verdict = {True: "authorises", False: "does not authorise", None: "cannot tell"}
            who = auth.provider.name if auth.provider else auth.address or "the provider"
            text += f"; {verdict[auth.authorized]} {who}: {auth.explanation}"
        rows.append(("SPF", text))
    dmarc = section.dmarc
    if dmarc is not None:
        text = "none published"
        if dmarc.record is not None:
            where = f" (at {dmarc.domain})" if dmarc.domain != section.domain else ""
            text = f"{dmarc.record}{where}"
        rows.append(("DMARC", text))
    rows.extend(("warning", warning) for warning in section.warnings)
    return rows


def verdict(job: Job) -> str:
    attempts = f" after {len(job.attempts)} attempts" if len(job.attempts) > 1 else ""
    if job.status == "succeeded":
        if job.result is not None and job.result.dry_run:
            return f"OK: the server accepted the recipient{attempts}; dry run, nothing was sent"
        message_id = job.result.message_id if job.result else None
        return f"OK: the server accepted the message{attempts} (Message-ID {message_id})"
    error = job.result.error if job.result else None
    if error is None:
        return f"FAILED{attempts} (exit {exit_code(job)})"
    return (
        f"FAILED{attempts}: {error.category} in {error.phase}: {error.message} "
        f"(exit {exit_code(job)})"
    )


class Display(Protocol):
    def begin(self, title: str) -> None: ...

    def phase(self, event: PhaseEvent) -> None: ...

    def end(self, job: Job) -> None: ...


class _Shown:
    """Which phases were shown, so the end adds those the stream did not carry."""

    def __init__(self) -> None:
        self.attempt = 0
        self.count = 0

    def note(self, event: PhaseEvent) -> bool:
        """Count the event; True when it starts a later attempt than the last shown."""
        later = event.attempt != self.attempt
        if later:
            self.attempt, self.count = event.attempt, 0
        self.count += 1
        return later and event.attempt > 1

    def missing(self, job: Job) -> list[PhaseEvent]:
        if job.result is None:
            return []
        last = max(len(job.attempts), 1)
        skip = self.count if self.attempt == last else 0
        return [
            PhaseEvent(attempt=last, **phase.model_dump()) for phase in job.result.phases[skip:]
        ]


class PlainDisplay:
    """One line per phase as it ends, then the summary: for pipes, files and CI logs."""

    def __init__(self, echo: Callable[[str], Any] = click.echo) -> None:
        self.echo = echo
        self.shown = _Shown()

    def begin(self, title: str) -> None:
        self.echo(title)

    def phase(self, event: PhaseEvent) -> None:
        if self.shown.note(event):
            self.echo(f"attempt {event.attempt}")
        mark = "ok" if event.ok else "FAILED"
        self.echo(f"  {event.name:<10} {mark:<6} {event.duration_ms:>9.1f} ms  {_reply(event)}")

    def end(self, job: Job) -> None:
        for event in self.shown.missing(job):
            self.phase(event)
        for label, value in summary(job):
            self.echo(f"{label + ':':<13}{value}")


class LiveDisplay:
    """A live table on a terminal: phases appear as they end, a spinner while waiting."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.shown = _Shown()
        self.rows: list[tuple[Text, str, str, str]] = []
        self.live = Live(console=console, refresh_per_second=12, transient=False)

    def _table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        for justify in ("left", "left", "right", "left"):
            table.add_column(justify=justify)
        for row in self.rows:
            table.add_row(*row)
        return table

    def _render(self, waiting: bool) -> RenderableType:
        if not waiting:
            return self._table()
        return Group(self._table(), Spinner("dots", text=" waiting for the server…"))

    def begin(self, title: str) -> None:
        self.console.print(Text(title, style="bold"))
        self.live.start()
        self.live.update(self._render(True), refresh=True)

    def phase(self, event: PhaseEvent) -> None:
        if self.shown.note(event):
            self.rows.append((Text(""), f"attempt {event.attempt}", "", ""))
        mark = Text("✓", style="green") if event.ok else Text("✗", style="bold red")
        self.rows.append((mark, event.name, f"{event.duration_ms:.1f} ms", _reply(event)))
        self.live.update(self._render(True), refresh=True)

    def end(self, job: Job) -> None:
        for event in self.shown.missing(job):
            self.phase(event)
        self.live.update(self._render(False), refresh=True)
        self.live.stop()
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for label, value in summary(job):
            style = "yellow" if label == "warning" else ""
            if label == "verdict":
                style = "bold green" if job.status == "succeeded" else "bold red"
            table.add_row(label, Text(value, style=style))
        self.console.print(table)


def display() -> Display:
    """The live display on a terminal, plain lines anywhere else."""
    console = Console(highlight=False)
    return LiveDisplay(console) if console.is_terminal else PlainDisplay()


# -- mailprobe schedule


def schedule_rows(overview: Overview) -> list[tuple[str, str]]:
    late = f" (the oldest {overview.oldest_late_seconds:.0f} s late)" if overview.overdue else ""
    return [
        ("providers scheduled", f"{overview.scheduled}"),
        ("overdue", f"{overview.overdue}{late}"),
        (
            "due",
            f"{overview.next_minute} in the next minute, {overview.next_hour} in the next hour, "
            f"{overview.next_day} in the next 24 h",
        ),
        (
            "busiest minute (24 h)",
            f"{overview.busiest_minute} re-tests (mean {overview.mean_minute:.1f} a minute)",
        ),
    ]


def history_rows(provider_id: str, next_ms: int | None, entries: list[ProviderCheck]) -> list[str]:
    when = "not scheduled" if next_ms is None else f"next re-test {ms_time(next_ms)}"
    lines = [f"provider {provider_id}: {when}; {len(entries)} re-tests kept, newest first"]
    for entry in entries:
        outcome = entry.outcome if entry.category is None else f"{entry.outcome} ({entry.category})"
        recipient = f"RCPT {entry.recipient.code}" if entry.recipient else ""
        certificate = (
            f"cert {entry.certificate_sha256[:12]}… until {entry.certificate_not_after}"
            if entry.certificate_sha256
            else ""
        )
        parts = [entry.checked_at, outcome, recipient, entry.tls_version or "", certificate]
        lines.append("  " + "  ".join(part for part in parts if part))
    return lines


# -- mailprobe status


def status_rows(snapshot: Snapshot) -> list[tuple[str, str]]:
    now = time.time()
    queues = ", ".join(f"{name} {depth}" for name, depth in snapshot.queue_depth.items())
    workers = ", ".join(f"{name} ({now - beat:.0f} s ago)" for name, beat in snapshot.workers)
    recent_ok = sum(n for (outcome, _), n in snapshot.recent.items() if outcome == "succeeded")
    failures = {c: n for (outcome, c), n in snapshot.recent.items() if outcome == "failed" and n}
    failed = sum(failures.values())
    by_category = ", ".join(f"{c} {n}" for c, n in sorted(failures.items()))
    totals_ok = sum(n for (o, _), n in snapshot.jobs_finished.items() if o == "succeeded")
    totals_failed = sum(n for (o, _), n in snapshot.jobs_finished.items() if o == "failed")
    deliveries = ", ".join(f"{o} {n}" for o, n in snapshot.webhook_deliveries.items())
    return [
        ("queues", queues),
        ("in flight", f"{snapshot.sessions_in_flight} SMTP sessions"),
        ("unfinished", f"{snapshot.unfinished_jobs} jobs"),
        ("workers alive", f"{len(snapshot.workers)}" + (f": {workers}" if workers else "")),
        (
            "last minute",
            f"{recent_ok} succeeded, {failed} failed" + (f" ({by_category})" if failed else ""),
        ),
        ("since start", f"{totals_ok} succeeded, {totals_failed} failed"),
        ("webhooks", deliveries),
    ]


def status_document(snapshot: Snapshot) -> dict[str, Any]:
    def by_outcome(counts: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for (outcome, category), count in counts.items():
            if count:
                found.setdefault(outcome, {})[category] = count
        return found

    return {
        "queues": snapshot.queue_depth,
        "sessionsInFlight": snapshot.sessions_in_flight,
        "unfinishedJobs": snapshot.unfinished_jobs,
        "workers": [{"name": name, "lastBeat": beat} for name, beat in snapshot.workers],
        "lastMinute": by_outcome(snapshot.recent),
        "totals": by_outcome(snapshot.jobs_finished),
        "webhookDeliveries": snapshot.webhook_deliveries,
    }
