"""bwmsg.callbacks: parsing every callback example and schema of the spec, error codes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from bwmsg.callbacks import (
    CallbackParseError,
    InboundCallback,
    InboundCallbackMessage,
    InboundType,
    StatusCallback,
    StatusType,
    UnknownCallback,
    describe_error,
    error_code,
    parse_events,
)
from tests import spec

EXAMPLES = [
    "messageSendingCallbackExample",
    "messageSentCallbackExample",
    "smsMessageDeliveredCallbackExample",
    "mmsMessageDeliveredCallbackExample",
    "groupMmsMessageDeliveredCallbackExample",
    "messageFailedCallbackExample",
    "smsMessageReceivedCallbackExample",
    "mmsMessageReceivedCallbackExample",
]


def from_examples(node: Any) -> Any:
    """An instance of a schema built from its properties' examples (refs followed)."""
    components = spec._components()
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return from_examples(components["schemas"][name])
    if "allOf" in node:
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            merged.update(from_examples(part))
        return merged
    if "example" in node:
        value = node["example"]
        # YAML reads unquoted date-times as datetime objects; JSON has strings.
        return value.isoformat() if isinstance(value, datetime) else value
    if node.get("type") == "object" or "properties" in node:
        return {key: from_examples(value) for key, value in node.get("properties", {}).items()}
    if "enum" in node:
        return node["enum"][0]
    return None


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_callback_example_parses(name: str) -> None:
    """Each *CallbackExample of bandwidth.yml parses into a typed event with its fields."""
    body = spec.example(name)
    (event,) = parse_events(json.dumps(body))
    assert not isinstance(event, UnknownCallback)
    assert event.type.value == body["type"]
    assert event.message.id == body["message"]["id"]
    assert event.message.to == tuple(body["message"]["to"])
    assert event.message.from_ == body["message"]["from"]
    assert event.to == body["to"]
    assert event.time is not None
    assert event.time.tzinfo is not None


@pytest.mark.parametrize(
    ("schema", "cls"), [("statusCallback", StatusCallback), ("inboundCallback", InboundCallback)]
)
def test_every_callback_schema_parses(schema: str, cls: type) -> None:
    """An instance built from the schema's own examples parses, every documented field read."""
    body = from_examples(spec.schema(schema)["components"]["schemas"][schema])
    (event,) = parse_events(body)
    assert isinstance(event, cls)
    assert isinstance(event, (StatusCallback, InboundCallback))
    assert event.message.application_id == body["message"]["applicationId"]
    assert event.message.segment_count == body["message"]["segmentCount"]
    assert event.carrier_name == body.get("carrierName")
    if isinstance(event, StatusCallback):
        assert event.error_code == body["errorCode"]
        assert event.event_time is not None
        assert event.message.tag == body["message"]["tag"]
    else:
        assert isinstance(event.message, InboundCallbackMessage)


def test_every_type_of_both_enums_is_known() -> None:
    """Every value of the spec's two callback type enums maps to a typed event."""
    components = spec._components()["schemas"]
    assert {t.value for t in StatusType} == set(components["statusCallbackTypeEnum"]["enum"])
    assert {t.value for t in InboundType} == set(components["inboundCallbackTypeEnum"]["enum"])


def test_array_and_single_object() -> None:
    """A JSON array of events and one bare event both parse."""
    one = spec.example("messageFailedCallbackExample")
    two = spec.example("smsMessageDeliveredCallbackExample")
    assert len(parse_events(json.dumps([one, two]).encode())) == 2
    (event,) = parse_events(json.dumps(one))
    assert isinstance(event, StatusCallback)
    assert event.error_code == 4432


def test_unknown_type_is_kept() -> None:
    """An event of a type bwmsg does not know becomes an UnknownCallback, not an error."""
    body = [{"type": "message-teleported", "x": 1}, spec.example("messageSentCallbackExample")]
    first, second = parse_events(body)
    assert isinstance(first, UnknownCallback)
    assert first.type == "message-teleported"
    assert first.data["x"] == 1
    assert isinstance(second, StatusCallback)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"42",
        b'"text"',
        b"[1]",
        b'[{"no": "type"}]',
        b'{"type": "message-delivered"}',
        b'{"type": "message-delivered", "message": {}}',
    ],
)
def test_garbage_raises_one_clear_error(body: bytes) -> None:
    """Bodies that are not callbacks raise CallbackParseError (also a ValueError)."""
    with pytest.raises(CallbackParseError) as info:
        parse_events(body)
    assert isinstance(info.value, ValueError)
    assert str(info.value)


def test_malformed_field_reads_as_absent() -> None:
    """A field of the wrong type is None; the event still parses."""
    body = dict(spec.example("messageFailedCallbackExample"), errorCode="x", time=5)
    (event,) = parse_events(body)
    assert isinstance(event, StatusCallback)
    assert event.error_code is None
    assert event.time is None


def test_error_codes_read_as_words() -> None:
    """Known codes have words, kind and billing; unknown ones are described by their digits."""
    assert describe_error(4432) == "4432 messaging to this country forbidden (client, not billed)"
    assert error_code(4470).billable is True
    assert error_code(5620).kind == "server"
    assert error_code(5620).carrier
    assert error_code(9902).kind == "ambiguous"
    assert error_code(4999).name == "unknown"
    assert error_code(4999).billable is None
    assert describe_error(9999).startswith("9999 unknown error from downstream (ambiguous")
    assert describe_error(None) == ""


def test_failed_event_error_property() -> None:
    """StatusCallback.error gives the error code in words."""
    (event,) = parse_events(spec.example("messageFailedCallbackExample"))
    assert isinstance(event, StatusCallback)
    assert event.error.startswith("4432 ")
