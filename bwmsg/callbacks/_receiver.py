"""Serving callbacks: :class:`CallbackReceiver` in your aiohttp app, or :class:`CallbackServer`
on its own."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from aiohttp import web

from .._lifecycle import Lifecycle, StartStop, warn_if_open
from .._serve import serve
from ._events import CallbackEvent, CallbackParseError, event_key, parse_events

__all__ = ["CallbackReceiver", "CallbackServer"]

logger = logging.getLogger("bwmsg.callbacks")

OnEvent: TypeAlias = Callable[[CallbackEvent], Awaitable[None]]


class CallbackReceiver:
    """An aiohttp handler for Bandwidth's callbacks.

    It checks HTTP Basic auth (in constant time) when ``username``/``password`` are set,
    parses the body, answers at once (200; 400 to a body that is not a callback, 401 to bad
    credentials) and afterwards hands each new event to ``on_event``, one at a time, in the
    order received. An event already seen (Bandwidth delivers at least once) is dropped.

    In your own application::

        receiver = CallbackReceiver(on_event, username="u", password="p")
        receiver.setup(app, "/callbacks")   # adds the route and stops the worker on cleanup

    or add ``receiver.handle`` as a POST route yourself and ``await receiver.aclose()`` on
    shutdown. :meth:`join` waits until every event received so far was handled.

    Args:
        on_event: ``async def on_event(event)``, called for each new event. An exception it
            raises is logged (logger ``bwmsg.callbacks``) and does not stop the others.
        username: the Basic auth user name Bandwidth is configured to send; None accepts any
            request.
        password: its password.
        remember: how many recent events are remembered to drop duplicates.
        max_pending: events received but not yet handled before requests wait for room.
    """

    def __init__(
        self,
        on_event: OnEvent,
        *,
        username: str | None = None,
        password: str | None = None,
        remember: int = 100_000,
        max_pending: int = 10_000,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password for Basic auth, or neither")
        if remember < 1 or max_pending < 1:
            raise ValueError("remember and max_pending must be >= 1")
        self._on_event = on_event
        self._expected: bytes | None = None
        if username is not None and password is not None:
            self._expected = f"{username}:{password}".encode()
        self._remember = remember
        self._seen: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self._max_pending = max_pending
        self._queue: asyncio.Queue[CallbackEvent] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.received = 0
        """Events received, duplicates included."""
        self.duplicates = 0
        """Events dropped as already seen."""
        self.rejected = 0
        """Requests refused (bad credentials or a body that is not a callback)."""
        self.handled = 0
        """Events handed to ``on_event``."""

    def __repr__(self) -> str:
        auth = "basic" if self._expected is not None else "none"
        return (
            f"<CallbackReceiver auth={auth} received={self.received} "
            f"duplicates={self.duplicates} handled={self.handled}>"
        )

    def setup(self, app: web.Application, path: str = "/callbacks") -> None:
        """Add ``POST path`` to ``app``, and stop this receiver when ``app`` shuts down."""
        app.router.add_post(path, self.handle)

        async def cleanup(_: web.Application) -> Any:
            yield
            await self.aclose()

        app.cleanup_ctx.append(cleanup)

    def _authorized(self, header: str | None) -> bool:
        if self._expected is None:
            return True
        given = b""
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "basic":
                with contextlib.suppress(binascii.Error, ValueError):
                    given = base64.b64decode(token.strip(), validate=True)
        return hmac.compare_digest(given, self._expected)

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp handler: add it as a POST route."""
        if not self._authorized(request.headers.get("Authorization")):
            self.rejected += 1
            await request.read()
            return web.json_response(
                {"type": "unauthorized", "description": "Authentication Failed"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="callbacks"'},
            )
        body = await request.read()
        try:
            events = parse_events(body)
        except CallbackParseError as exc:
            self.rejected += 1
            return web.json_response({"type": "bad-callback", "description": str(exc)}, status=400)
        queue = self._start()
        for event in events:
            self.received += 1
            key = event_key(event)
            if key in self._seen:
                self._seen.move_to_end(key)
                self.duplicates += 1
                continue
            self._seen[key] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            await queue.put(event)
        return web.Response(status=200)

    def _start(self) -> asyncio.Queue[CallbackEvent]:
        if self._queue is None:
            self._queue = asyncio.Queue(self._max_pending)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work(self._queue))
        return self._queue

    async def _work(self, queue: asyncio.Queue[CallbackEvent]) -> None:
        while True:
            event = await queue.get()
            try:
                await self._on_event(event)
                self.handled += 1
            except Exception:
                logger.exception("on_event failed for a %s callback", event.type)
            finally:
                queue.task_done()

    async def join(self) -> None:
        """Wait until every event received so far was handed to ``on_event`` and returned."""
        if self._queue is not None:
            await self._queue.join()

    async def aclose(self) -> None:
        """Handle the events already received, then stop the worker. Safe to call twice."""
        if self._worker is None:
            return
        if not self._worker.done():
            await self.join()
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None


class CallbackServer(StartStop):
    """A :class:`CallbackReceiver` served on its own socket, standalone::

        async with CallbackServer(on_event, port=8081, username="u", password="p") as server:
            print("point Bandwidth's callback URL at", server.url)
            await stop.wait()

    Args:
        on_event: as for :class:`CallbackReceiver`.
        host: the address to listen on.
        port: the port; 0 picks a free one (see :attr:`url`).
        path: the callback path.
        username: Basic auth user name, or None for no auth.
        password: its password.
    """

    def __init__(
        self,
        on_event: OnEvent,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/callbacks",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.receiver = CallbackReceiver(on_event, username=username, password=password)
        """The receiver (its counters, :meth:`~CallbackReceiver.join`)."""
        self.host = host
        self.port = port
        self.path = path if path.startswith("/") else "/" + path
        self._runner: web.AppRunner | None = None
        self._state = Lifecycle.UNOPENED

    def __del__(self) -> None:
        state = getattr(self, "_state", Lifecycle.CLOSED)  # __init__ may have failed early
        warn_if_open(self, state, "use `async with CallbackServer(...)`, or await stop()")

    @property
    def url(self) -> str:
        """The URL to give Bandwidth (``http://host:port/path``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    async def start(self) -> None:
        """Start listening."""
        if self._state is not Lifecycle.UNOPENED:
            raise RuntimeError(f"a CallbackServer starts once; this one is {self._state.value}")
        app = web.Application()
        self.receiver.setup(app, self.path)
        self._runner, self.port = await serve(app, self.host, self.port)
        self._state = Lifecycle.OPEN

    async def stop(self) -> None:
        """Stop listening, after handling the events already received."""
        self._state = Lifecycle.CLOSED
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()  # runs the receiver's cleanup: aclose()
