"""An SMTP sink for benchmarks: accepts everything, delaying every reply by `delay` seconds.

It runs an asyncio server in its own thread, so thousands of slow sessions cost it little,
and counts sessions in flight (and the peak), messages accepted, Message-IDs seen twice, and
messages of one job received twice (by their X-Mailprobe-Job header).
Given a TLS context, it offers STARTTLS, or with `implicit` speaks TLS from the first byte.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
import time
from collections import Counter

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_JOB = re.compile(rb"^X-Mailprobe-Job:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class DelaySink:
    def __init__(
        self,
        delay: float,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
        implicit: bool = False,
    ) -> None:
        self.delay = delay
        self.tls = tls
        self.implicit = implicit
        self.host = host
        self.port = 0
        self.in_flight = 0
        self.peak = 0
        self.accepted = 0
        self.first_at = 0.0  # monotonic time of the first session since reset()
        self.last_at = 0.0  # ... and of the last message accepted
        self.message_ids: Counter[bytes] = Counter()
        self.jobs: Counter[str] = Counter()  # job id -> messages received for it
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def duplicates(self) -> int:
        """Messages whose Message-ID was seen before."""
        return sum(count - 1 for count in self.message_ids.values() if count > 1)

    @property
    def sent_again(self) -> int:
        """Messages for a job whose message was received before (a message sent again gets a
        new Message-ID: only the job id in its X-Mailprobe-Job header tells)."""
        return sum(count - 1 for count in self.jobs.values() if count > 1)

    def reset(self) -> None:
        self.peak = self.in_flight
        self.first_at = self.last_at = 0.0

    def start(self) -> DelaySink:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def cancel_sessions() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(cancel_sessions(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(
                self._session,
                self.host,
                0,
                backlog=4096,
                ssl=self.tls if self.implicit else None,
            )
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _reply(self, writer: asyncio.StreamWriter, line: bytes) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        writer.write(line)
        await writer.drain()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.first_at = self.first_at or time.monotonic()
        secure = self.implicit
        try:
            await self._reply(writer, b"220 delay-sink ESMTP\r\n")
            while True:
                line = await reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    offer = b"250-STARTTLS\r\n" if self.tls and not secure else b""
                    await self._reply(
                        writer,
                        b"250-delay-sink\r\n" + offer + b"250-8BITMIME\r\n250 SIZE 10000000\r\n",
                    )
                elif line.upper().startswith(b"STARTTLS") and self.tls and not secure:
                    await self._reply(writer, b"220 go ahead\r\n")
                    await writer.start_tls(self.tls)
                    secure = True
                elif verb == b"DATA":
                    await self._reply(writer, b"354 go ahead\r\n")
                    body = await reader.readuntil(b"\r\n.\r\n")
                    match = _MESSAGE_ID.search(body)
                    if match:
                        self.message_ids[match.group(1)] += 1
                    job = _JOB.search(body)
                    if job:
                        self.jobs[job.group(1).decode()] += 1
                    self.accepted += 1
                    self.last_at = time.monotonic()
                    await self._reply(writer, b"250 2.0.0 queued\r\n")
                elif verb == b"QUIT":
                    await self._reply(writer, b"221 bye\r\n")
                    return
                else:
                    await self._reply(writer, b"250 ok\r\n")
        except (
            asyncio.CancelledError,  # stop(): the session ends here, quietly
            ConnectionError,
            ssl.SSLError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            return
        finally:
            self.in_flight -= 1
            writer.close()
