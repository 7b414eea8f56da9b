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
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

from ._segments import segment_count
from ._wire import timestamp

__all__ = ["inbound_event"]

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
