"""Inbound messages: the ``message-received`` callback the service posts when someone texts
one of the account's numbers.

Tests and demos need it to drive STOP and START replies end to end. The event's shape is
Bandwidth's, from ``bandwidth.yml``:

- [spec] ``components.schemas.inboundCallback``: ``time``, ``type`` (``message-received``),
  ``to`` (the Bandwidth number that received it), ``description`` and ``message``, all
  required; ``carrierName`` optional.
- [spec] ``inboundCallbackMessage`` (``statusCallbackMessage`` and more): ``id``, ``owner``
  (the Bandwidth number), ``applicationId``, ``time``, ``segmentCount``, ``direction``
  (``in``), ``to`` (an array), ``from`` required; ``text`` and ``media`` when there are some.
- [live] callbacks are posted as a JSON array of events (``specs/README.md``).

The simulator's own endpoint ``POST /simulator/inbound`` (not Bandwidth's: no such path exists
there) does the same from outside the process, for a simulator started by ``bwmsg simulator``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from ._segments import segment_count
from ._wire import JSON, dumps, error_body, loads, timestamp

__all__ = ["INBOUND_PATH", "add_inbound_route", "inbound_event"]

INBOUND_PATH = "/simulator/inbound"
_FIELDS = {"from", "to", "text", "media", "applicationId", "carrierName"}

_ids = itertools.count(1)


def _check(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def inbound_event(
    *,
    from_: str,
    to: str,
    text: str | None,
    media: Sequence[str],
    application_id: str,
    carrier_name: str | None,
) -> dict[str, Any]:
    """One ``message-received`` event (not yet in its array) for a message from ``from_`` to
    the account's number ``to``.

    Raises:
        ValueError: a number or the application id that is not a non-empty string, text that
            is not a string, media that are not strings, or neither text nor media.
    """
    _check("from_", from_)
    _check("to", to)
    _check("application_id", application_id)
    if text is not None and not isinstance(text, str):
        raise ValueError(f"text must be a string or None, got {type(text).__name__}")
    if isinstance(media, str) or not all(isinstance(url, str) for url in media):
        raise ValueError("media must be a sequence of URL strings")
    if not text and not media:
        raise ValueError("an inbound message needs text, media, or both")
    if carrier_name is not None and not isinstance(carrier_name, str):
        raise ValueError(f"carrier_name must be a string or None, got {carrier_name!r}")
    now = timestamp()
    message: dict[str, Any] = {
        "id": f"{int(time.time() * 1000)}in{next(_ids):013d}",
        "owner": to,
        "applicationId": application_id,
        "time": now,
        "segmentCount": 1 if media else segment_count(text or ""),
        "direction": "in",
        "to": [to],
        "from": from_,
        "text": text or "",
    }
    if media:
        message["media"] = list(media)
    event: dict[str, Any] = {
        "time": now,
        "type": "message-received",
        "to": to,
        "description": "Incoming message received",
        "message": message,
    }
    if carrier_name is not None:
        event["carrierName"] = carrier_name
    return event


def _arguments(body: Any) -> dict[str, Any]:
    """``inbound_event``'s arguments from the endpoint's JSON body."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(body) - _FIELDS
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
    media = body.get("media") or []
    if not isinstance(media, list):
        raise ValueError("media must be an array of URLs")
    return {
        "from_": body.get("from"),
        "to": body.get("to"),
        "text": body.get("text"),
        "media": media,
        "application_id": body.get("applicationId", "simulator-app"),
        "carrier_name": body.get("carrierName"),
    }


def add_inbound_route(
    app: web.Application,
    refusal: Callable[[str | None], web.Response | None],
    post: Callable[[dict[str, Any]], bool],
) -> None:
    """Serve ``POST /simulator/inbound`` on ``app``: a JSON body ``{"from", "to", "text",
    "media", "applicationId", "carrierName"}`` (``from`` and ``to`` required, text or media)
    makes the simulator post that message's ``message-received`` callback. Answers 202 with
    the event once it is queued (not yet posted), 400 to a body that cannot make one, 409 when
    the simulator has no callbacks to post to, 401 without its credentials.

    ``post`` queues the event; False when there are no callbacks.
    """

    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        refused = refusal(request.headers.get("Authorization"))
        if refused is not None:
            return refused
        try:
            event = inbound_event(**_arguments(loads(raw)))
        except ValueError as exc:
            return _answer(400, error_body("request-validation", str(exc)))
        if not post(event):
            return _answer(409, error_body("no-callbacks", "The simulator has no callback URL."))
        return _answer(202, dumps(event))

    app.router.add_post(INBOUND_PATH, handle)


def _answer(status: int, body: bytes) -> web.Response:
    return web.Response(status=status, body=body, content_type=JSON)
