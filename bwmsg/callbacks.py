"""Delivery receipts and inbound messages: Bandwidth's callbacks, typed, and a receiver for them.

A 202 only means Bandwidth queued a message. What happened next arrives later as callbacks to
the application's URL: ``message-sending``, ``message-sent``, ``message-delivered``,
``message-failed`` (with an ``errorCode``) and, for messages sent to your numbers,
``message-received``. They come as a JSON array of events, at least once (so duplicates
happen) and not always in order.

::

    from aiohttp import web
    from bwmsg.callbacks import CallbackReceiver, StatusCallback

    async def on_event(event):
        if isinstance(event, StatusCallback) and event.type == "message-failed":
            print(event.message.id, event.error_code, event.error)

    app = web.Application()
    CallbackReceiver(on_event, username="cb-user", password="cb-pass").setup(app, "/callbacks")
    web.run_app(app)

:func:`parse_events` reads a body on its own; :func:`describe_error` turns an error code into
words; :class:`CallbackServer` runs a receiver standalone.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import enum
import hmac
import json
import logging
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeAlias

import attrs
from aiohttp import web

from ._convert import (
    structure_datetime,
    structure_int,
    structure_str,
    structure_str_tuple,
)
from ._error_codes import CODES
from ._errors import BwmsgError

__all__ = [
    "CallbackEvent",
    "CallbackMessage",
    "CallbackParseError",
    "CallbackReceiver",
    "CallbackServer",
    "ErrorCode",
    "InboundCallback",
    "InboundCallbackMessage",
    "InboundType",
    "StatusCallback",
    "StatusType",
    "UnknownCallback",
    "describe_error",
    "error_code",
    "parse_events",
]

logger = logging.getLogger("bwmsg.callbacks")


class StatusType(str, enum.Enum):
    """The status callback types (``statusCallbackTypeEnum``) of an outbound message."""

    SENDING = "message-sending"
    SENT = "message-sent"
    DELIVERED = "message-delivered"
    FAILED = "message-failed"
    READ = "message-read"

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        """True for ``message-delivered`` and ``message-failed``: nothing follows them."""
        return self in (StatusType.DELIVERED, StatusType.FAILED)


class InboundType(str, enum.Enum):
    """The inbound callback types (``inboundCallbackTypeEnum``)."""

    RECEIVED = "message-received"
    LOCATION_RESPONSE = "requested-location-response"
    SUGGESTION_RESPONSE = "suggestion-response"

    def __str__(self) -> str:
        return self.value


# -- error codes -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ErrorCode:
    """One of Bandwidth's ``message-failed`` error codes.

    Attributes:
        code: the number, e.g. 4432.
        name: Bandwidth's short name, e.g. ``rejected-forbidden-country``.
        description: a few words a person can read.
        kind: ``"client"`` (4xxx: sending it again gives the same result), ``"server"``
            (5xxx: a service failure, a later retry may work) or ``"ambiguous"`` (9xxx).
        carrier: True when the carrier reported it rather than Bandwidth.
        billable: whether Bandwidth bills the failed message; None for a code not in the
            table.
    """

    code: int
    name: str
    description: str
    kind: str
    carrier: bool
    billable: bool | None


def _kind(code: int) -> str:
    return {4: "client", 5: "server", 9: "ambiguous"}.get(code // 1000, "unknown")


def error_code(code: int) -> ErrorCode:
    """The :class:`ErrorCode` for ``code``; one built from its digits when it is not known."""
    kind = _kind(code)
    carrier = (code // 100) % 10 in (6, 7)
    known = CODES.get(code)
    if known is not None:
        name, words, billable = known
        return ErrorCode(
            code=code,
            name=name,
            description=words,
            kind=kind,
            carrier=carrier,
            billable=billable,
        )
    words = {
        "client": "rejected (client error)",
        "server": "service failure",
        "ambiguous": "failed downstream, cause unclear",
    }.get(kind, "unknown error")
    return ErrorCode(
        code=code,
        name="unknown",
        description=words,
        kind=kind,
        carrier=carrier,
        billable=None,
    )


def describe_error(code: int | None) -> str:
    """An error code in words: ``"4432 messaging to this country forbidden (client, not
    billed)"``. An empty string for None."""
    if code is None:
        return ""
    info = error_code(code)
    billed = {True: ", billed", False: ", not billed", None: ""}[info.billable]
    return f"{code} {info.description} ({info.kind}{billed})"


# -- models ----------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CallbackMessage:
    """The message a callback is about (``statusCallbackMessage``).

    Attributes:
        id: the message id (the ``id`` of the 202 answer).
        owner: the Bandwidth number or sender ID the message belongs to.
        application_id: the messaging application.
        time: when the message was created.
        segment_count: segments billed.
        direction: ``"out"`` or ``"in"``.
        to: the recipients.
        from_: the sender.
        text: the text, when given.
        tag: the tag the message was sent with (a campaign's ``bwmsg:<campaign>:<row>``).
        media: media URLs.
        priority: ``"default"`` or ``"high"``, when given.
        channel: ``"RBM"``, ``"SMS"`` or ``"MMS"`` for multichannel messages.
    """

    id: str
    owner: str | None = None
    application_id: str | None = None
    time: datetime | None = None
    segment_count: int | None = None
    direction: str | None = None
    to: tuple[str, ...] = ()
    from_: str | None = None
    text: str | None = None
    tag: str | None = None
    media: tuple[str, ...] = ()
    priority: str | None = None
    channel: str | None = None


@attrs.frozen(kw_only=True)
class InboundCallbackMessage(CallbackMessage):
    """The message of an inbound callback (``inboundCallbackMessage``): a
    :class:`CallbackMessage` plus the multichannel ``content``, ``suggestion_response`` and
    ``location_response`` objects as decoded JSON (None when absent)."""

    content: Mapping[str, Any] | None = None
    suggestion_response: Mapping[str, Any] | None = None
    location_response: Mapping[str, Any] | None = None


@attrs.frozen(kw_only=True)
class StatusCallback:
    """A status event of an outbound message (``statusCallback``).

    Attributes:
        type: the :class:`StatusType`.
        time: when the event happened.
        to: the recipient this event is about (one of ``message.to``).
        description: Bandwidth's words for the event.
        message: the :class:`CallbackMessage`.
        error_code: the error code of a ``message-failed`` event, else None.
        event_time: when a ``message-read`` message was read.
        carrier_name: the recipient's carrier, when given.
    """

    type: StatusType
    time: datetime | None
    to: str
    description: str
    message: CallbackMessage
    error_code: int | None = None
    event_time: datetime | None = None
    carrier_name: str | None = None

    @property
    def error(self) -> str:
        """The error code in words (see :func:`describe_error`); empty when there is none."""
        return describe_error(self.error_code)


@attrs.frozen(kw_only=True)
class InboundCallback:
    """An inbound event: a message sent to one of your numbers (``inboundCallback``).

    Attributes:
        type: the :class:`InboundType`.
        time: when it arrived.
        to: your number (or sender ID) that received it.
        description: Bandwidth's words for the event.
        message: the :class:`InboundCallbackMessage`.
        carrier_name: the sender's carrier, when given.
    """

    type: InboundType
    time: datetime | None
    to: str
    description: str
    message: InboundCallbackMessage
    carrier_name: str | None = None


@attrs.frozen(kw_only=True)
class UnknownCallback:
    """An event whose type bwmsg does not know (the API grows): kept, not dropped.

    Attributes:
        type: the ``type`` as sent.
        data: the whole event as decoded JSON.
    """

    type: str
    data: Mapping[str, Any]


CallbackEvent: TypeAlias = StatusCallback | InboundCallback | UnknownCallback
"""One event of a callback body."""


class CallbackParseError(BwmsgError, ValueError):
    """A callback body that is not a Bandwidth callback (not JSON, or events without the
    fields every event has)."""


# -- parsing ---------------------------------------------------------------------------------------


# Fields are read with the converter's own lenient rules; a malformed one reads as absent.


def _text(data: Mapping[str, Any], key: str) -> str | None:
    try:
        return structure_str(data.get(key), str)
    except ValueError:
        return None


def _int(data: Mapping[str, Any], key: str) -> int | None:
    try:
        return structure_int(data.get(key), int)
    except ValueError:
        return None


def _time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        return structure_datetime(value, datetime)
    except ValueError:
        return None


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    try:
        return structure_str_tuple(data.get(key), tuple)
    except ValueError:
        return ()


def _object(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    return value if isinstance(value, dict) else None


def _message_fields(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    message_id = _text(data, "id")
    if not message_id:
        raise CallbackParseError(f"{where}: the message has no id")
    return {
        "id": message_id,
        "owner": _text(data, "owner"),
        "application_id": _text(data, "applicationId"),
        "time": _time(data, "time"),
        "segment_count": _int(data, "segmentCount"),
        "direction": _text(data, "direction"),
        "to": _strings(data, "to"),
        "from_": _text(data, "from"),
        "text": _text(data, "text"),
        "tag": _text(data, "tag"),
        "media": _strings(data, "media"),
        "priority": _text(data, "priority"),
        "channel": _text(data, "channel"),
    }


_STATUS_TYPES = {t.value: t for t in StatusType}
_INBOUND_TYPES = {t.value: t for t in InboundType}


def _event(data: Any, where: str) -> CallbackEvent:
    if not isinstance(data, dict):
        raise CallbackParseError(f"{where} is not a JSON object but {type(data).__name__}")
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        raise CallbackParseError(f"{where} has no 'type'")
    if kind not in _STATUS_TYPES and kind not in _INBOUND_TYPES:
        return UnknownCallback(type=kind, data=data)
    message = data.get("message")
    if not isinstance(message, dict):
        raise CallbackParseError(f"{where} ({kind}) has no 'message' object")
    common: dict[str, Any] = {
        "time": _time(data, "time"),
        "to": _text(data, "to") or "",
        "description": _text(data, "description") or "",
        "carrier_name": _text(data, "carrierName"),
    }
    fields = _message_fields(message, where)
    if kind in _STATUS_TYPES:
        return StatusCallback(
            type=_STATUS_TYPES[kind],
            message=CallbackMessage(**fields),
            error_code=_int(data, "errorCode"),
            event_time=_time(data, "eventTime"),
            **common,
        )
    return InboundCallback(
        type=_INBOUND_TYPES[kind],
        message=InboundCallbackMessage(
            **fields,
            content=_object(message, "content"),
            suggestion_response=_object(message, "suggestionResponse"),
            location_response=_object(message, "locationResponse"),
        ),
        **common,
    )


def parse_events(body: bytes | str | Any) -> list[CallbackEvent]:
    """Read a callback body: a JSON array of events (as Bandwidth sends them) or one event.

    Args:
        body: the raw body (bytes or str), or JSON already decoded (a list or a dict).

    Returns:
        The events in the order given. An event of a type bwmsg does not know becomes an
        :class:`UnknownCallback`; fields of the wrong type read as absent.

    Raises:
        CallbackParseError: the body is not JSON, not an object or array of objects, or an
            event lacks its ``type``, its ``message`` or the message's ``id``.
    """
    data: Any = body
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            data = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackParseError("the callback body is not UTF-8 text") from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            raise CallbackParseError("the callback body is not JSON") from None
    if isinstance(data, dict):
        return [_event(data, "the event")]
    if isinstance(data, list):
        return [_event(item, f"event {i}") for i, item in enumerate(data)]
    raise CallbackParseError(
        f"a callback body is a JSON array of events or one event, not {type(data).__name__}"
    )


def _event_key(event: CallbackEvent) -> tuple[Any, ...]:
    """What two deliveries of the same event have in common (for dropping duplicates)."""
    if isinstance(event, UnknownCallback):
        return ("?", json.dumps(event.data, sort_keys=True, default=str))
    code = event.error_code if isinstance(event, StatusCallback) else None
    return (event.type.value, event.message.id, event.to, code)


# -- the receiver ----------------------------------------------------------------------------------

OnEvent = Callable[[CallbackEvent], Awaitable[None]]


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
            key = _event_key(event)
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


class CallbackServer:
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

    @property
    def url(self) -> str:
        """The URL to give Bandwidth (``http://host:port/path``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    async def start(self) -> None:
        """Start listening."""
        if self._runner is not None:
            raise RuntimeError("this CallbackServer is already running")
        app = web.Application()
        self.receiver.setup(app, self.path)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            self.port = sock.getsockname()[1]
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            raise
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening, after handling the events already received."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()  # runs the receiver's cleanup: aclose()

    async def __aenter__(self) -> CallbackServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
