"""An SMTP sink for benchmarks: accepts everything, delaying every reply by `delay` seconds.

It runs an asyncio server in its own thread, so thousands of slow sessions cost it little,
and counts sessions in flight (and the peak), messages accepted, and messages by the job
they are for (the X-Mailprobe-Job header worker/message.py writes): a job whose message came
twice was sent twice. (Message-IDs cannot tell: each attempt makes a new one.)

A message is accepted when the sink sends its 250 after DATA, as a server that commits then
does: one whose client is gone by then (its worker killed during the reply's delay) never
got a 250, and is not counted.
Given a TLS context, it offers STARTTLS, or with `implicit` speaks TLS from the first byte.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
import time
from collections import Counter

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
        self.by_job: Counter[bytes] = Counter()  # messages accepted, by job id
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def duplicates(self) -> int:
        """Messages accepted beyond the first of their job: a job sent twice counts one."""
        return sum(count - 1 for count in self.by_job.values() if count > 1)

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
                    match = _JOB.search(body)
                    job = match.group(1) if match else b""
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    if reader.at_eof() or writer.is_closing():
                        return  # the client is gone: no 250, nothing committed
                    self.by_job[job] += 1
                    self.accepted += 1
                    self.last_at = time.monotonic()
                    writer.write(b"250 2.0.0 queued\r\n")
                    await writer.drain()
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
