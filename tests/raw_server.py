"""A raw asyncio server on 127.0.0.1 for adversarial bytes: it writes exactly what a test scripts.

Each request takes the next :class:`Reply` of the script (or the default one when it is empty);
the server records every request with the connection it came on, and which connections the
client ended.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from yarl import URL

from tests.servers import WITHIN


def answer(
    status: int = 200,
    reason: str = "OK",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    version: str = "1.1",
    length: bool = True,
) -> bytes:
    """An answer's bytes, with a Content-Length unless ``length`` is False."""
    lines = [f"HTTP/{version} {status} {reason}".encode("latin-1")]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers]
    if length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


OK = answer(body=b"ok")


Step = bytes | asyncio.Event
"""Bytes to write (then drain), or an event to wait for before going on."""


@dataclass
class Reply:
    """What the server does with one request: write ``steps``, then maybe close."""

    steps: Sequence[Step] = (OK,)
    close: bool = False


ANSWER_OK = Reply()
"""Answer 200 OK with body ``ok``: what the server does when its script is empty."""
HANG = Reply(steps=())
"""Write nothing: wait for the next request (or the end of the connection)."""
DROP = Reply(steps=(), close=True)
"""Close the connection without answering."""


@dataclass
class Received:
    """One request as the server read it."""

    connection: int  # the server-side connection it came on: 0, 1, ... in accept order
    raw: bytes  # the head (through the blank line) and the body, byte for byte

    @property
    def body(self) -> bytes:
        return self.raw.partition(b"\r\n\r\n")[2]


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class RawServer:
    """An asyncio server on 127.0.0.1 that answers each request with the next scripted reply.

    It records every request with the connection it came on, and which connections the
    client ended (EOF or reset seen while the server was reading).
    """

    def __init__(self, replies: Iterable[Reply], default: Reply) -> None:
        self.script: deque[Reply] = deque(replies)
        self.default = default
        self.requests: list[Received] = []
        self.accepted = 0
        self.ended_by_client: set[int] = set()
        self.port = 0
        self._changed = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def url(self, path: str = "/api/send", scheme: str = "http") -> URL:
        return URL(f"{scheme}://127.0.0.1:{self.port}{path}")

    @property
    def connections_used(self) -> list[int]:
        """The server connection each request came on, in order."""
        return [r.connection for r in self.requests]

    async def until(self, condition: Callable[[], bool], within: float = WITHIN) -> None:
        """Wait (at most ``within`` seconds) until ``condition()`` holds."""

        async def wait() -> None:
            while not condition():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), within)

    def _notify(self) -> None:
        self._changed.set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        index = self.accepted
        self.accepted += 1
        self._writers.append(writer)
        self._notify()
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    body = await reader.readexactly(content_length(head))
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.ended_by_client.add(index)
                    return
                self.requests.append(Received(index, head + body))
                self._notify()
                reply = self.script.popleft() if self.script else self.default
                for step in reply.steps:
                    if isinstance(step, asyncio.Event):
                        await step.wait()
                    else:
                        writer.write(step)
                        await writer.drain()
                if reply.close:
                    return
        except (ConnectionError, asyncio.CancelledError):
            # Cancelled only by stop(); returning (rather than raising) keeps asyncio's
            # start_server from logging the cancellation as an error.
            return
        finally:
            writer.close()
            self._notify()

    async def stop(self) -> None:
        """Cut every connection and wait for the handlers to end."""
        for writer in self._writers:
            writer.transport.abort()  # a handler reading now sees the end and returns
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=WITHIN)
            for task in pending:  # waiting on a gate nobody opened
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for writer in self._writers:
            with suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), WITHIN)


@asynccontextmanager
async def raw_server(
    *replies: Reply, default: Reply = ANSWER_OK, tls: ssl.SSLContext | None = None
) -> AsyncIterator[RawServer]:
    """Run a :class:`RawServer` for the block; stop it (and cut its connections) after."""
    state = RawServer(replies, default)
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await state.stop()
        await server.wait_closed()
