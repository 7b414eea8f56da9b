"""Property tests: any answer becomes a Message or an ApiError, never another exception."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bwmsg import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    BwmsgError,
    ForbiddenError,
    Message,
    MessageRequest,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    Sender,
    ServerError,
)
from bwmsg._convert import message_from_json
from bwmsg._errors import api_error_from_response

MB = 1024 * 1024

VALID_MESSAGE: dict[str, Any] = {
    "id": "1589228074636lm4k2je7j7jklbn2",
    "owner": "+19195550000",
    "applicationId": "93de2206-9669-4e07-948d-329f4b722ee2",
    "time": "2024-12-02T20:15:57.278Z",
    "segmentCount": 2,
    "direction": "out",
    "to": ["+19195551212", "+19195551213"],
    "from": "+19195550000",
    "media": ["https://example.com/cat.jpg"],
    "text": "Hello there",
    "tag": "campaign-7",
    "priority": "high",
    "expiration": "2099-01-01T00:00:00Z",
}
ERROR_KEYS = ["type", "description", "fieldErrors", "error", "message", "path", "timestamp"]


def expected_class(status: int) -> type[ApiError]:
    """The ApiError subclass DESIGN.md gives a status."""
    by_status: dict[int, type[ApiError]] = {
        400: BadRequestError,
        401: AuthenticationError,
        403: ForbiddenError,
        404: NotFoundError,
        429: RateLimitedError,
    }
    if status in by_status:
        return by_status[status]
    return ServerError if 500 <= status <= 599 else ApiError


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
# Known keys (of a Message, or of an error body) holding values of any JSON type.
message_like = st.dictionaries(st.sampled_from(sorted(VALID_MESSAGE)), json_values, min_size=1)
error_like = st.dictionaries(
    st.sampled_from(ERROR_KEYS),
    st.one_of(
        json_values,
        st.lists(
            st.dictionaries(st.sampled_from(["fieldName", "description"]), json_values), max_size=3
        ),
    ),
    min_size=1,
)


def _dump(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


truncated_message = st.builds(
    lambda cut: _dump(VALID_MESSAGE)[:cut], st.integers(0, len(_dump(VALID_MESSAGE)) - 1)
)
HTML = "<!DOCTYPE html><html><head><title>{0}</title></head><body><h1>{0}</h1>{1}</body></html>"
html = st.builds(
    HTML.format,
    st.sampled_from(["502 Bad Gateway", "Service Unavailable", "Not Found", "Error"]),
    st.text(max_size=200),
).map(str.encode)
small_bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.text(max_size=100).map(lambda s: s.encode("utf-16")),
    json_values.map(_dump),
    message_like.map(_dump),
    error_like.map(_dump),
    truncated_message,
    html,
)
# 1 to 5 MB, built by repetition (drawing megabytes byte by byte is slow and adds nothing).
huge_bodies = st.builds(
    lambda unit, size: (unit * (size // len(unit) + 1))[:size],
    st.sampled_from(
        [
            b"x",
            b"\xff\xfe\x00",
            b"<p>Service Unavailable</p>\n",
            b'{"type": "x", "description": "' + b"y" * 64,  # one long unterminated string
            b'{"a": 1}, ',
        ]
    ),
    st.integers(1 * MB, 5 * MB),
)
huge_json = st.builds(
    lambda size: _dump({**VALID_MESSAGE, "text": "z" * size, "description": "d" * size}),
    st.integers(1 * MB, 5 * MB),
)
statuses = st.integers(100, 599)


def _check_error(status: int, body: bytes) -> None:
    error = api_error_from_response(status, body, reason="Reason")
    assert type(error) is expected_class(status)
    assert isinstance(error, BwmsgError)
    assert error.status == status
    assert isinstance(error.body, str)
    assert all(isinstance(fe.field_name, str) for fe in error.field_errors)
    assert str(error).startswith(f"HTTP {status}")
    repr(error)


@settings(max_examples=400, deadline=None)
@given(status=statuses, body=small_bodies)
def test_any_body_any_status_is_an_api_error(status: int, body: bytes) -> None:
    """Any small body with any status becomes the status's ApiError, and str() works."""
    _check_error(status, body)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=statuses, body=st.one_of(huge_bodies, huge_json))
def test_huge_bodies_are_an_api_error(status: int, body: bytes) -> None:
    """A 1-5 MB body becomes an ApiError whose message stays short unless described."""
    _check_error(status, body)
    error = api_error_from_response(status, body)
    if error.description is None and error.type is None:
        assert len(str(error)) < 1000


@settings(max_examples=5, deadline=None)
@given(status=statuses, opener=st.sampled_from([b"[", b'{"a":', b'{"fieldErrors":[']))
def test_deeply_nested_json_is_an_api_error(status: int, opener: bytes) -> None:
    """A body of deeply nested JSON (100,000 levels) becomes an ApiError."""
    _check_error(status, opener * 100_000)


@settings(max_examples=250, deadline=None)
@given(data=st.one_of(json_values, message_like, error_like))
def test_any_json_value_reads_as_a_message(data: Any) -> None:
    """message_from_json reads any JSON value as a Message, never raising."""
    assert isinstance(message_from_json(data), Message)


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(sorted(VALID_MESSAGE)), value=json_values)
def test_one_bad_field_keeps_the_others(key: str, value: Any) -> None:
    """A wrong-typed value in one known field leaves every other field as read."""
    good = message_from_json(VALID_MESSAGE)
    mixed = message_from_json({**VALID_MESSAGE, key: value})
    keep = {name: getattr(good, name) for name in attrs.fields_dict(Message)}
    name = {"applicationId": "application_id", "segmentCount": "segment_count", "from": "from_"}
    del keep[name.get(key, key)]
    assert {n: getattr(mixed, n) for n in keep} == keep


# -- over the wire --------------------------------------------------------------------------------


@attrs.define
class Answer:
    """What the server says next."""

    status: int = 202
    body: bytes = b""
    headers: dict[str, str] = attrs.Factory(dict)


class Answering:
    """A server that answers every send with ``next``, and the Sender pointed at it.

    A plain class with a short repr: Hypothesis prints a falsifying example's arguments, this
    fixture among them, and would print an attrs class field by field, body and all.
    """

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.next = Answer()
        self.requests = 0

    def __repr__(self) -> str:
        return f"<Answering next={self.next.status}, {len(self.next.body)} bytes>"


@pytest.fixture
async def answering() -> AsyncIterator[Answering]:
    """One answering server on 127.0.0.1 for every example of a test."""
    slot: list[Answering] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        state = slot[0]
        state.requests += 1
        answer = state.next
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    app = web.Application()
    app.router.add_post("/users/{account}/messages", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with Sender(
            "9900000",
            "user",
            "pass",
            application_id="app",
            base_url=str(server.make_url("/")),
            retry=RetryPolicy(max_attempts=1),
        ) as sender:
            slot.append(Answering(sender))
            yield slot[0]
    finally:
        await server.close()


REQUEST = MessageRequest(to="+19195551212", from_="+19195550000", text="hi")
content_types = st.sampled_from(
    [
        {"Content-Type": "application/json"},
        {"Content-Type": "text/html; charset=utf-8"},
        {"Content-Type": "application/octet-stream"},
        {"Content-Type": "application/json; charset=latin-1"},
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},  # a lie
        {},
    ]
)
wire_statuses = st.one_of(
    st.sampled_from([200, 201, 202]),
    st.sampled_from([400, 401, 403, 404, 405, 409, 413, 415, 422, 429]),
    st.sampled_from([500, 502, 503, 504, 599]),
)
wire_bodies = st.one_of(
    small_bodies,
    st.just(_dump(VALID_MESSAGE)),
    st.builds(lambda n: b"x" * n, st.integers(1 * MB, 2 * MB)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(status=wire_statuses, body=wire_bodies, headers=content_types)
@example(status=202, body=b"x" * 3 * MB, headers={"Content-Type": "application/json"})
@example(status=502, body=b"<html>" * MB, headers={"Content-Type": "text/html"})
@example(status=202, body=_dump(VALID_MESSAGE)[:-7], headers={})
@example(status=202, body=b"", headers={})
@example(status=400, body=b"\xff\xfe{", headers={"Content-Type": "application/json"})
async def test_send_returns_a_message_or_raises_bwmsg_error(
    answering: Answering, status: int, body: bytes, headers: dict[str, str]
) -> None:
    """Sender.send gives a Message for 2xx and an ApiError for the status otherwise."""
    answering.next = Answer(status, body, headers)
    before = answering.requests
    if 200 <= status < 300:
        assert isinstance(await answering.sender.send(REQUEST), Message)
    else:
        with pytest.raises(BwmsgError) as caught:  # anything else fails the test
            await answering.sender.send(REQUEST)
        assert type(caught.value) is expected_class(status)
        assert isinstance(caught.value, ApiError)
        assert caught.value.status == status
        assert str(caught.value).startswith(f"HTTP {status}")
    assert answering.requests == before + 1


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(status=st.sampled_from([202, 400, 500]))
async def test_send_with_deeply_nested_json_raises_only_bwmsg_error(
    answering: Answering, status: int
) -> None:
    """A deeply nested JSON answer makes send return a Message (2xx) or raise an ApiError."""
    answering.next = Answer(status, b"[" * 100_000, {"Content-Type": "application/json"})
    if 200 <= status < 300:
        assert isinstance(await answering.sender.send(REQUEST), Message)
    else:
        with pytest.raises(ApiError) as caught:
            await answering.sender.send(REQUEST)
        assert caught.value.status == status
