"""A demo SMTP sink for `mailprobe dev`: accepts every message and prints its headers."""

from __future__ import annotations

import email
import email.policy
from typing import Any

from aiosmtpd.controller import Controller

from cli.ports import free_port, port_is_free


class _PrintingHandler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        print(
            f"[demo sink] message from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}: "
            f"{message['Subject']!s} ({message['Message-ID']!s})",
            flush=True,
        )
        return "250 2.0.0 OK: accepted by the mailprobe demo sink"


def start_sink(host: str = "127.0.0.1", port: int = 2525) -> Controller:
    """The sink on `port`, or on a free port when something (a local MTA, smtp4dev, another
    project) listens there already: `controller.port` says which."""
    if not port_is_free(host, port):
        port = free_port(host)
    controller = Controller(_PrintingHandler(), hostname=host, port=port)
    controller.start()
    return controller
