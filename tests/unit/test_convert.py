"""The converter: request bodies out, Message in."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bwmsg import Direction, Message, MessageRequest, Priority
from bwmsg._convert import camel, dumps, message_from_json, request_to_dict


def test_camel() -> None:
    """snake_case names become camelCase; a trailing underscore goes."""
    assert camel("application_id") == "applicationId"
    assert camel("segment_count") == "segmentCount"
    assert camel("from_") == "from"
    assert camel("text") == "text"


def test_minimal_body_omits_unset_fields() -> None:
    """Only set fields are written; `to` is always a list."""
    request = MessageRequest(to="+19195551212", from_="+19195550000", text="hi")
    assert request_to_dict(request, "app-1") == {
        "to": ["+19195551212"],
        "from": "+19195550000",
        "text": "hi",
        "applicationId": "app-1",
    }


def test_full_body() -> None:
    """Every field is written under its JSON name; expiration as RFC-3339 with an offset."""
    exp = datetime(2999, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))
    request = MessageRequest(
        to=["+19195551212", "+19195551213"],
        from_="+19195550000",
        text="hi",
        application_id="own-app",
        media=["https://example.com/a.png"],
        tag="t1",
        priority="high",
        expiration=exp,
    )
    body = request_to_dict(request, "sender-app")
    assert body == {
        "to": ["+19195551212", "+19195551213"],
        "from": "+19195550000",
        "text": "hi",
        "applicationId": "own-app",
        "media": ["https://example.com/a.png"],
        "tag": "t1",
        "priority": "high",
        "expiration": "2999-01-02T03:04:05-05:00",
    }
    assert json.loads(dumps(body)) == body


def test_dumps_keeps_unicode() -> None:
    """Non-ASCII text is written as UTF-8, compactly."""
    assert dumps({"text": "héllo 😀"}) == '{"text":"héllo 😀"}'.encode()


def test_message_full() -> None:
    """A complete answer reads into every field."""
    message = message_from_json(
        {
            "id": "1589228074636lm4k2je7j7jklbn2",
            "owner": "+15554443333",
            "applicationId": "93de2206-9669-4e07-948d-329f4b722ee2",
            "time": "2024-12-02 20:15:57.278000+00:00",
            "segmentCount": 1,
            "direction": "in",
            "to": ["+15552223333"],
            "from": "+15553332222",
            "media": ["https://dev.bandwidth.com/images/bandwidth-logo.png"],
            "text": "Hello world",
            "tag": "custom string",
            "priority": "default",
            "expiration": "2021-02-01T11:29:18-05:00",
        }
    )
    assert message == Message(
        id="1589228074636lm4k2je7j7jklbn2",
        owner="+15554443333",
        application_id="93de2206-9669-4e07-948d-329f4b722ee2",
        time=datetime(2024, 12, 2, 20, 15, 57, 278000, tzinfo=timezone.utc),
        segment_count=1,
        direction=Direction.IN,
        to=("+15552223333",),
        from_="+15553332222",
        media=("https://dev.bandwidth.com/images/bandwidth-logo.png",),
        text="Hello world",
        tag="custom string",
        priority=Priority.DEFAULT,
        expiration=datetime(2021, 2, 1, 11, 29, 18, tzinfo=timezone(timedelta(hours=-5))),
    )


def test_message_unknown_keys_ignored_and_missing_fine() -> None:
    """Unknown keys are ignored; missing keys take defaults."""
    message = message_from_json({"id": "m1", "brandNewField": {"x": 1}})
    assert message == Message(id="m1")


def test_message_to_as_string() -> None:
    """`to` given as a single string reads as a one-element tuple."""
    assert message_from_json({"to": "+15552223333"}).to == ("+15552223333",)


def test_message_z_suffix() -> None:
    """A trailing Z reads as UTC on every Python version."""
    message = message_from_json({"time": "2024-12-02T20:15:57Z"})
    assert message.time == datetime(2024, 12, 2, 20, 15, 57, tzinfo=timezone.utc)


def test_message_malformed_fields_become_none() -> None:
    """A field of the wrong type is dropped, the rest still read."""
    message = message_from_json(
        {
            "id": "m1",
            "time": "yesterday",
            "segmentCount": "many",
            "direction": "sideways",
            "to": {"a": 1},
            "priority": 3,
        }
    )
    assert message == Message(id="m1")


def test_message_from_non_object() -> None:
    """A JSON value that is not an object gives an empty Message."""
    assert message_from_json([1, 2]) == Message()
    assert message_from_json(None) == Message()


def _slow(data: dict[str, object]) -> Message:
    from bwmsg._convert import _message_field_by_field

    return _message_field_by_field(data)


_numbers = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
).map(lambda d: d.isoformat().replace("+00:00", "Z"))


@settings(max_examples=200, deadline=None)
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "id": st.text(max_size=30),
            "owner": _numbers,
            "applicationId": st.text(max_size=10),
            "time": _times,
            "segmentCount": st.integers(0, 20),
            "direction": st.sampled_from(["in", "out"]),
            "to": st.one_of(_numbers, st.lists(_numbers, max_size=3)),
            "from": _numbers,
            "media": st.lists(st.text(max_size=20), max_size=2),
            "text": st.text(max_size=50),
            "tag": st.text(max_size=20),
            "priority": st.sampled_from(["default", "high"]),
            "expiration": _times,
            "unknownKey": st.integers(),
        },
    )
)
def test_fast_path_agrees_with_the_converter(data: dict[str, object]) -> None:
    """The hot-path reader gives exactly what the lenient converter gives."""
    assert message_from_json(data) == _slow(data)
