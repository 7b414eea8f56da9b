"""A real forward HTTP proxy on 127.0.0.1 for the proxy tests, and a TLS front for the simulator.

:class:`ForwardProxy` handles absolute-form requests (``POST http://host:port/path``, forwarded
in origin form over a kept upstream connection) and ``CONNECT host:port`` tunnels (bytes
relayed both ways). It resolves target names itself, from :attr:`ForwardProxy.hosts` only, so a
request for ``api.bwmsg.test`` can only have come through it. It records every request it read
(:attr:`ForwardProxy.seen`), checks ``Proxy-Authorization`` when given credentials, and can be
told to refuse everything with a status and reason of the test's choosing.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from yarl import URL

from bwmsg.simulator import Simulator
from tests.servers import WITHIN

API_HOST = "api.bwmsg.test"
"""The API's name in these tests: never resolvable, except by the proxy."""


@dataclass
class Seen:
    """One request the proxy read."""

    method: str
    target: str
    proxy_authorization: str | None
    headers: dict[str, str] = field(default_factory=dict)


class ForwardProxy:
    """State of a running forward proxy: its settings, its record, its connections."""

    def __init__(self, credentials: tuple[str, str] | None, refuse: tuple[int, bytes] | None):
        self.hosts = {API_HOST: "127.0.0.1", "127.0.0.1": "127.0.0.1"}
        self.credentials = credentials
        self.refuse = refuse
        self.seen: list[Seen] = []
        self.connections = 0
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def url(self, user: str | None = None, password: str | None = None) -> str:
        login = f"{user}:{password}@" if user is not None else ""
        return f"http://{login}127.0.0.1:{self.port}"

    @property
    def methods(self) -> list[str]:
        return [s.method for s in self.seen]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        self.connections += 1
        upstream: list[Any] = []  # [reader, writer] of the kept upstream connection
        try:
            while await self._one(reader, writer, upstream):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # cancelled only by stop()
        finally:
            writer.close()
            if upstream:
                upstream[1].close()

    async def _one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: list[Any]
    ) -> bool:
        """Serve one request; False once the connection is done."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        request_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ")
        fields = [(n.strip(), v.strip()) for n, _, v in (line.partition(":") for line in lines)]
        headers = {n.lower(): v for n, v in fields}
        self.seen.append(Seen(method, target, headers.get("proxy-authorization"), headers))
        refusal = self._refusal(headers)
        if refusal is not None:
            writer.write(refusal)
            await writer.drain()
            return False
        if method == "CONNECT":
            await self._tunnel(target, reader, writer)
            return False
        return await self._forward(method, URL(target), fields, headers, reader, writer, upstream)

    def _refusal(self, headers: dict[str, str]) -> bytes | None:
        if self.refuse is not None:
            status, reason = self.refuse
            return b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % (
                status,
                reason,
            )
        if self.credentials is not None:
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            if headers.get("proxy-authorization") != f"Basic {token}":
                return (
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                    b"Connection: close\r\n\r\n"
                )
        return None

    async def _tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(self.hosts[host], int(port))
        self._writers.append(up_writer)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def _forward(
        self,
        method: str,
        url: URL,
        fields: list[tuple[str, str]],
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: list[Any],
    ) -> bool:
        assert url.scheme == "http", f"not absolute-form: {url}"
        assert url.raw_host, f"not absolute-form: {url}"
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if not upstream:
            upstream[:] = await asyncio.open_connection(self.hosts[url.raw_host], url.port)
            self._writers.append(upstream[1])
        up_reader, up_writer = upstream
        kept = [
            (n, v)
            for n, v in fields
            if n.lower() not in ("proxy-authorization", "proxy-connection")
        ]
        lines = [f"{method} {url.raw_path_qs} HTTP/1.1", *(f"{n}: {v}" for n, v in kept)]
        up_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        answer = await up_reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in answer.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        writer.write(answer + await up_reader.readexactly(length))
        await writer.drain()
        return headers.get("connection", "").lower() != "close"

    async def stop(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=WITHIN)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()


@asynccontextmanager
async def forward_proxy(
    *, credentials: tuple[str, str] | None = None, refuse: tuple[int, bytes] | None = None
) -> AsyncIterator[ForwardProxy]:
    """Run a :class:`ForwardProxy` on 127.0.0.1 for the block."""
    state = ForwardProxy(credentials, refuse)
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await state.stop()
        with suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), WITHIN)


@asynccontextmanager
async def tls_front(sim: Simulator, context: ssl.SSLContext) -> AsyncIterator[TlsFront]:
    """Serve ``sim``'s endpoints over TLS (with ``context``) on 127.0.0.1 as well, recording
    the headers of every request that reaches it."""
    front = TlsFront()

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        front.headers.append(dict(request.headers))
        response: web.StreamResponse = await handler(request)
        return response

    app = sim.make_app()
    app.middlewares.append(record)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    front.port = sock.getsockname()[1]
    await web.SockSite(runner, sock, ssl_context=context).start()
    try:
        yield front
    finally:
        await runner.cleanup()


class TlsFront:
    """Where the TLS front listens, and the headers it saw."""

    def __init__(self) -> None:
        self.port = 0
        self.headers: list[dict[str, str]] = []

    @property
    def base_url(self) -> str:
        return f"https://{API_HOST}:{self.port}/api/v2"

    @property
    def token_url(self) -> str:
        return f"https://{API_HOST}:{self.port}/api/v1/oauth2/token"
