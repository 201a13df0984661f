"""Logs: one JSON object a line for a log shipper, or text for a person (MAILPROBE_LOG_FORMAT).

structlog renders both the events mailprobe logs with fields (`get_logger(...).info("job
ended", job_id=...)`) and every standard-library record (Celery's, gunicorn's, mailprobe's
older `logging` calls) through one handler on the root logger, so a process writes one format.
Fields bound with structlog.contextvars (the API's request id) appear on every line of that
request. Nothing here knows a secret: callers log ids, hosts and outcomes, never credentials.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import Processor

LogFormat = Literal["json", "text"]


def _shared() -> list[Processor]:
    """What every line gets, whether structlog or the standard library logged it."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(fmt: LogFormat, stream: TextIO) -> logging.Formatter:
    """A logging.Formatter that renders records in `fmt`."""
    renderer: Processor
    if fmt == "json":
        tail: list[Processor] = [structlog.processors.format_exc_info]
        renderer = structlog.processors.JSONRenderer()
    else:
        tail = []
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared(), structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
    )


def configure_logging(
    fmt: LogFormat, level: int | str = "INFO", stream: TextIO | None = None
) -> None:
    """Send this process's logs to `stream` (stderr) in `fmt`, from `level` on."""
    stream = stream or sys.stderr
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fmt, stream))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level if isinstance(level, int) else level.upper())
    logging.captureWarnings(True)  # warnings become log lines in the same format


def get_logger(name: str) -> Any:
    """A structlog logger that takes fields: log.info("job ended", job_id=...)."""
    return structlog.stdlib.get_logger(name)
