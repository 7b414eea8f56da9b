"""Bandwidth's callback events, typed, and :func:`parse_events` that reads a body of them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeAlias

import attrs

from .._convert import (
    structure_datetime,
    structure_int,
    structure_str,
    structure_str_tuple,
)
from .._errors import BwmsgError
from .._text_enum import TextEnum
from ._codes import describe_error

__all__ = [
    "CallbackEvent",
    "CallbackMessage",
    "CallbackParseError",
    "InboundCallback",
    "InboundCallbackMessage",
    "InboundType",
    "StatusCallback",
    "StatusType",
    "UnknownCallback",
    "event_key",
    "parse_events",
]


class StatusType(TextEnum):
    """The status callback types (``statusCallbackTypeEnum``) of an outbound message."""

    SENDING = "message-sending"
    SENT = "message-sent"
    DELIVERED = "message-delivered"
    FAILED = "message-failed"
    READ = "message-read"

    @property
    def final(self) -> bool:
        """True for ``message-delivered`` and ``message-failed``: nothing follows them."""
        return self in (StatusType.DELIVERED, StatusType.FAILED)


class InboundType(TextEnum):
    """The inbound callback types (``inboundCallbackTypeEnum``)."""

    RECEIVED = "message-received"
    LOCATION_RESPONSE = "requested-location-response"
    SUGGESTION_RESPONSE = "suggestion-response"


# -- error codes -----------------------------------------------------------------------------------


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


def event_key(event: CallbackEvent) -> tuple[Any, ...]:
    """What two deliveries of the same event have in common (for dropping duplicates)."""
    if isinstance(event, UnknownCallback):
        return ("?", json.dumps(event.data, sort_keys=True, default=str))
    code = event.error_code if isinstance(event, StatusCallback) else None
    return (event.type.value, event.message.id, event.to, code)
