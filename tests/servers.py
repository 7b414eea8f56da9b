"""A scriptable aiohttp server on 127.0.0.1 for the core's wire tests.

Each request takes the next action from a script (or the default action when the script is
empty) and is recorded with its headers and raw body.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
from aiohttp import web
from aiohttp.test_utils import TestServer

WITHIN = 5.0
"""The timeout of waits that are expected to succeed: far longer than any of them takes."""


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on (it was bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@attrs.define
class Reply:
    """Answer with this status, JSON body (or raw bytes) and headers."""

    status: int = 202
    json_body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = attrs.Factory(dict)
    content_type: str = "application/json"


@attrs.define
class Drop:
    """Close the connection without answering, after reading the request."""


@attrs.define
class Hang:
    """Never answer (until the server stops)."""


@attrs.define
class Truncate:
    """Answer 202 with a Content-Length larger than the body, then close."""


Action = Reply | Drop | Hang | Truncate


@attrs.define
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    peer: object

    def json(self) -> Any:
        return json.loads(self.body)


def accepted(body: dict[str, Any], n: int) -> Reply:
    """The 202 Bandwidth sends for ``body``."""
    to = body.get("to")
    return Reply(
        202,
        {
            "id": f"msg-{n}",
            "owner": body.get("from"),
            "applicationId": body.get("applicationId"),
            "time": "2024-12-02T20:15:57.278Z",
            "segmentCount": 1,
            "direction": "out",
            "to": to if isinstance(to, list) else [to],
            "from": body.get("from"),
            "text": body.get("text", ""),
            "media": body.get("media", []),
            "tag": body.get("tag"),
        },
    )


class Scripted:
    """State of a scripted server: its script, its record, and events tests can await."""

    def __init__(self) -> None:
        self.script: deque[Action | Callable[[dict[str, Any], int], Action]] = deque()
        self.default: Callable[[dict[str, Any], int], Action] = accepted
        self.requests: list[Recorded] = []
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.base_url = ""

    def then(self, *actions: Action) -> Scripted:
        self.script.extend(actions)
        return self

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.headers),
                body,
                asyncio.get_running_loop().time(),
                request.transport.get_extra_info("peername") if request.transport else None,
            )
        )
        self.arrived.set()
        n = len(self.requests)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = {}
        step = self.script.popleft() if self.script else self.default
        action = step(parsed, n) if callable(step) else step
        if isinstance(action, Drop):
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=202)
        if isinstance(action, Hang):
            await self.release.wait()
            return web.Response(status=500)
        if isinstance(action, Truncate):
            response = web.StreamResponse(status=202, headers={"Content-Length": "500"})
            await response.prepare(request)
            await response.write(b'{"id": "tr')
            assert request.transport is not None
            request.transport.close()
            return response
        if action.raw is not None:
            data = action.raw
        elif action.json_body is not None:
            data = json.dumps(action.json_body).encode()
        else:
            data = b""
        return web.Response(
            status=action.status,
            body=data,
            headers=action.headers,
            content_type=action.content_type,
        )


@asynccontextmanager
async def scripted_server(every_path: bool = False) -> AsyncIterator[Scripted]:
    """Run a :class:`Scripted` server on 127.0.0.1 for the duration of the block: for POSTs
    to the messages and token endpoints, or with ``every_path`` for any method on any path
    (with bodies up to 8 MiB, for media uploads)."""
    state = Scripted()
    if every_path:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", state.handle)
    else:
        app = web.Application()
        app.router.add_post("/api/v2/users/{account}/messages", state.handle)
        app.router.add_post("/oauth2/token", state.handle)  # for token endpoints that misbehave
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.base_url = str(server.make_url("/api/v2"))
    try:
        yield state
    finally:
        state.release.set()
        await server.close()


class CallbackReceiver:
    """An application's callback endpoint on 127.0.0.1 that records what it is sent: the raw
    ``bodies``, their JSON as ``posts`` and the events' ``types``; ``fail_next`` answers 503
    that many times first."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.authorization: list[str | None] = []
        self.fail_next = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.authorization.append(request.headers.get("Authorization"))
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503)
        self.bodies.append(await request.read())
        return web.Response(status=200)

    @property
    def posts(self) -> list[list[dict[str, Any]]]:
        """Each post's body as JSON (an array of events)."""
        return [json.loads(body) for body in self.bodies]

    @property
    def types(self) -> list[str]:
        """Every event's type, in the order posted."""
        return [event["type"] for post in self.posts for event in post]


@asynccontextmanager
async def callback_receiver() -> AsyncIterator[CallbackReceiver]:
    """A :class:`CallbackReceiver` listening on a free 127.0.0.1 port (``.url``) for the block."""
    state = CallbackReceiver()
    app = web.Application()
    app.router.add_post("/callbacks", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/callbacks"
    try:
        yield state
    finally:
        await runner.cleanup()
