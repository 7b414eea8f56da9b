"""The client and the simulator, two rule sets written apart, judge the same requests alike.

Each request goes to the client (``MessageRequest(...)``, which raises RequestValidationError) and,
as the JSON body a user would write for it, to a running Simulator (answering 400). They must
agree: the client refuses it exactly when the simulator answers 400, and both name the same
fields. Where they differ, the case is listed with the reason:

- NORMALISED: the client accepts a Python form the service would refuse, and sends the
  service's form instead (the simulator refuses the raw form and accepts what the client sends).
- Client gaps, marked with ``_gap(reason)`` (a strict xfail) in AGREE: the client accepts what
  bandwidth.yml or Bandwidth's docs refuse, a bug in ``bwmsg/_models.py``. None is open: the
  four this test found (more than 10 media URLs, a port that is not digits, text after an IP
  literal, an expiration offset with seconds) are fixed.
- A value with no JSON form (bytes, NaN, infinity) is the client's business alone: the service
  can never receive it, so the generated test skips it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bwmsg import MessageRequest, Priority, RequestValidationError
from bwmsg._convert import request_to_dict
from bwmsg.simulator import Simulator
from tests.senders import JSON_AUTH
from tests.unit.test_properties_request import KWARG, invalid_requests, valid_requests

BASE: dict[str, Any] = {
    "to": "+19195551212",
    "from_": "+19195550000",
    "text": "hello",
    "application_id": "app-1",
}
VALID_BODY = {"to": ["+19195551212"], "from": "+19195550000", "text": "hi", "applicationId": "a"}
PRIORITIES = ("default", "high")
SENDER_APP = "app"  # what Sender(application_id=...) fills in when a request has none
LATER = datetime.now(timezone.utc) + timedelta(days=1)
URLS = [f"https://example.com/{i}.png" for i in range(11)]
NUMBERS = [f"+1919555{i:04d}" for i in range(11)]

Simulated = tuple[aiohttp.ClientSession, Simulator]


@pytest.fixture
async def simulated() -> AsyncIterator[Simulated]:
    """An HTTP session and a running simulator, shared by every example of one test."""
    async with aiohttp.ClientSession() as http, Simulator() as sim:
        yield http, sim


def body_for(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON body a user would write for these MessageRequest keywords; None if it has none."""
    body = {
        field: _json_value(kwargs[kwarg])
        for field, kwarg in KWARG.items()
        if kwargs.get(kwarg) is not None
    }
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return body


def _json_value(value: Any) -> Any:
    if isinstance(value, Priority):
        return value.value
    if isinstance(value, date):  # a datetime too: written as the client writes it
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_value(item) for item in value]
    return value


def judge_client(kwargs: dict[str, Any]) -> tuple[MessageRequest | None, set[str]]:
    """The request built (None when refused) and the fields the client named."""
    try:
        return MessageRequest(**kwargs), set()
    except RequestValidationError as error:
        return None, {fe.field_name for fe in error.field_errors}


async def judge_simulator(simulated: Simulated, body: Any) -> set[str]:
    """The fields the simulator named: empty for a 202, never empty for a 400."""
    http, sim = simulated
    url = f"{sim.base_url}/users/9900000/messages"
    async with http.post(url, data=json.dumps(body), headers=JSON_AUTH) as response:
        answer = await response.json()
        assert response.status in (202, 400), answer
    if response.status == 202:
        return set()
    named = {fe["fieldName"] for fe in answer["fieldErrors"]}
    assert named, answer
    return named


def normalised_fields(kwargs: dict[str, Any]) -> set[str]:
    """Fields the generated requests give in a form the client rewrites (see NORMALISED).

    The strategies draw one such form: a priority in another case ("HIGH", "Default").
    """
    priority = kwargs.get("priority")
    if isinstance(priority, Priority) or not isinstance(priority, str):
        return set()
    if priority.lower() in PRIORITIES and priority not in PRIORITIES:
        return {"priority"}
    return set()


# -- generated requests ---------------------------------------------------------------------------


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kwargs=st.one_of(valid_requests(), invalid_requests().map(lambda case: case[0])))
async def test_generated_requests_are_judged_alike(
    simulated: Simulated, kwargs: dict[str, Any]
) -> None:
    """Valid and invalid requests from the property strategies: same verdict, same fields."""
    if kwargs["application_id"] is None:  # the Sender's part: it fills its own application id
        kwargs = {**kwargs, "application_id": SENDER_APP}
    body = body_for(kwargs)
    assume(body is not None)
    request, client_named = judge_client(kwargs)
    assert await judge_simulator(simulated, body) == client_named | normalised_fields(kwargs)
    if request is not None:
        assert await judge_simulator(simulated, request_to_dict(request)) == set()


# -- a table of hand-written cases ----------------------------------------------------------------


def _gap(reason: str) -> pytest.MarkDecorator:
    """A client rule the spec or Bandwidth's docs show to be too lenient (see the module doc)."""
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


AGREE = [
    # to: E.164 numbers, 1 to 10 of them, each once
    pytest.param({"to": "+1 919 555 1212"}, "to", id="to-with-spaces"),
    pytest.param({"to": "9195551212"}, "to", id="to-without-plus"),
    pytest.param({"to": "+0123"}, "to", id="to-leading-zero"),
    pytest.param({"to": "+1234567890123456"}, "to", id="to-16-digits"),
    pytest.param({"to": ["+19195551212", "+1919555121x"]}, "to", id="to-one-bad-of-two"),
    pytest.param({"to": []}, "to", id="to-nobody"),
    pytest.param({"to": None}, "to", id="to-missing"),
    pytest.param({"to": ["+19195551212"] * 2}, "to", id="to-repeated"),
    pytest.param({"to": NUMBERS}, "to", id="to-11-recipients"),
    pytest.param({"to": NUMBERS[:10]}, None, id="to-10-recipients"),
    # from: E.164 or a sender ID (1 to 11 of A-Z a-z 0-9 space - + _ &, with a letter)
    pytest.param({"from_": "+0123"}, "from", id="from-leading-zero"),
    pytest.param({"from_": "+12345678901234567"}, "from", id="from-17-digits"),
    pytest.param({"from_": "Sender-ID-too-long"}, "from", id="from-sender-id-too-long"),
    pytest.param({"from_": "12345"}, "from", id="from-sender-id-without-letter"),
    pytest.param({"from_": "My Shop!"}, "from", id="from-sender-id-bad-character"),
    pytest.param({"from_": ""}, "from", id="from-empty"),
    pytest.param({"from_": None}, "from", id="from-missing"),
    pytest.param({"from_": "My Shop"}, None, id="from-sender-id"),
    pytest.param({"from_": "ABCDEFGHIJK"}, None, id="from-sender-id-11"),
    pytest.param({"from_": "+1a"}, None, id="from-sender-id-plus-digit-letter"),
    # text: at most 2048 characters, needed unless there is media
    pytest.param({"text": None}, "text", id="no-text-no-media"),
    pytest.param({"text": ""}, "text", id="empty-text-no-media"),
    pytest.param({"text": "", "media": URLS[:1]}, None, id="media-without-text"),
    pytest.param({"text": "a" * 2049}, "text", id="text-too-long"),
    pytest.param({"text": "😀" * 2048}, None, id="text-2048-astral-characters"),
    # media: at most 10 http(s) URLs, each at most 4096 characters
    pytest.param({"media": ["ftp://example.com/a.png"]}, "media", id="media-ftp"),
    pytest.param({"media": ["not a url"]}, "media", id="media-not-a-url"),
    pytest.param({"media": ["example.com/a.png"]}, "media", id="media-no-scheme"),
    pytest.param({"media": ["https://"]}, "media", id="media-no-host"),
    pytest.param({"media": ["http:///a.png"]}, "media", id="media-empty-host"),
    pytest.param({"media": ["https://example.com/a b.png"]}, "media", id="media-space"),
    pytest.param({"media": ["https://example.com/\x00"]}, "media", id="media-control"),
    pytest.param({"media": ["https://[::1/a.png"]}, "media", id="media-open-bracket"),
    pytest.param({"media": ["https://[not-an-ip]/a.png"]}, "media", id="media-bad-ip-literal"),
    pytest.param({"media": [URLS[0] + "a" * 4096]}, "media", id="media-url-too-long"),
    pytest.param({"media": URLS[:10]}, None, id="media-10-urls"),
    pytest.param({"media": ["https://u@[2001:db8::1]:8443/a?b#c"]}, None, id="media-ipv6"),
    pytest.param(
        {"media": URLS},
        "media",
        id="media-11-urls",
    ),
    pytest.param(
        {"media": ["https://example.com:port/a.png"]},
        "media",
        id="media-port-not-digits",
    ),
    pytest.param(
        {"media": ["https://[::1]x/a.png"]},
        "media",
        id="media-text-after-ip-literal",
    ),
    # tag: at most 1024 characters
    pytest.param({"tag": "t" * 1025}, "tag", id="tag-too-long"),
    pytest.param({"tag": "t" * 1024}, None, id="tag-1024"),
    pytest.param({"tag": ""}, None, id="tag-empty"),
    # priority: default | high
    pytest.param({"priority": "urgent"}, "priority", id="priority-unknown"),
    pytest.param({"priority": ""}, "priority", id="priority-empty"),
    pytest.param({"priority": " high"}, "priority", id="priority-space"),
    pytest.param({"priority": Priority.HIGH}, None, id="priority-enum"),
    pytest.param({"priority": "default"}, None, id="priority-default"),
    # expiration: an RFC 3339 date-time with an offset, in the future
    pytest.param({"expiration": "2001-01-01T00:00:00Z"}, "expiration", id="expiration-past"),
    pytest.param(
        {"expiration": datetime.now(timezone.utc) - timedelta(seconds=1)},
        "expiration",
        id="expiration-just-past",
    ),
    pytest.param({"expiration": "tomorrow"}, "expiration", id="expiration-not-a-date"),
    pytest.param({"expiration": "2099-01-01"}, "expiration", id="expiration-date-only"),
    pytest.param({"expiration": "2099-02-30T00:00:00Z"}, "expiration", id="expiration-no-such-day"),
    pytest.param({"expiration": "2099-01-01T25:00:00Z"}, "expiration", id="expiration-hour-25"),
    pytest.param(
        {"expiration": "2099-01-01T00:00:00+24:00"}, "expiration", id="expiration-offset-24h"
    ),
    pytest.param({"expiration": "2099-12-31T23:59:60Z"}, "expiration", id="expiration-leap-second"),
    pytest.param(
        {"expiration": "2099-01-01T00:00:00 PST"}, "expiration", id="expiration-zone-name"
    ),
    pytest.param(
        {"expiration": datetime(2099, 1, 1)},  # naive on purpose
        "expiration",
        id="expiration-naive-datetime",
    ),
    pytest.param(
        {"expiration": "10000-01-01T00:00:00Z"}, "expiration", id="expiration-beyond-year-9999"
    ),
    pytest.param({"expiration": "9999-12-31T23:59:59Z"}, None, id="expiration-far-no-upper-limit"),
    pytest.param({"expiration": "2099-01-01t00:00:00.5z"}, None, id="expiration-lower-case"),
    pytest.param({"expiration": "2099-01-01 00:00:00-05:00"}, None, id="expiration-space"),
    pytest.param({"expiration": LATER}, None, id="expiration-aware-datetime"),
    # wrong JSON types
    pytest.param({"to": 19195551212}, "to", id="to-number"),
    pytest.param({"to": [19195551212]}, "to", id="to-list-of-number"),
    pytest.param({"from_": 19195550000}, "from", id="from-number"),
    pytest.param({"from_": ["+19195550000"]}, "from", id="from-list"),
    pytest.param({"text": 5}, "text", id="text-number"),
    pytest.param({"text": True}, "text", id="text-boolean"),
    pytest.param({"text": ["hello"]}, "text", id="text-list"),
    pytest.param({"media": 5}, "media", id="media-number"),
    pytest.param({"media": [5]}, "media", id="media-list-of-number"),
    pytest.param({"media": [None]}, "media", id="media-list-of-null"),
    pytest.param({"tag": 5}, "tag", id="tag-number"),
    pytest.param({"tag": ["x"]}, "tag", id="tag-list"),
    pytest.param({"priority": 1}, "priority", id="priority-number"),
    pytest.param({"priority": True}, "priority", id="priority-boolean"),
    pytest.param({"expiration": 1700000000}, "expiration", id="expiration-number"),
    pytest.param({"application_id": 5}, "applicationId", id="application-id-number"),
    pytest.param({"application_id": ["a"]}, "applicationId", id="application-id-list"),
    pytest.param({"application_id": ""}, "applicationId", id="application-id-empty"),
    pytest.param({"application_id": " \t"}, "applicationId", id="application-id-blank"),
]


@pytest.mark.parametrize(("changes", "field"), AGREE)
async def test_table_is_judged_alike(
    simulated: Simulated, changes: dict[str, Any], field: str | None
) -> None:
    """Each case: both accept, or both refuse naming exactly the one field."""
    kwargs = {**BASE, **changes}
    body = body_for(kwargs)
    assert body is not None
    request, client_named = judge_client(kwargs)
    simulator_named = await judge_simulator(simulated, body)
    expected = set() if field is None else {field}
    assert (client_named, simulator_named) == (expected, expected)
    if request is not None:
        assert await judge_simulator(simulated, request_to_dict(request)) == set()


NORMALISED = [
    pytest.param(
        {"expiration": datetime(2099, 1, 1, tzinfo=timezone(timedelta(seconds=30)))},
        "expiration",
        "RFC 3339 cannot write an offset with seconds (isoformat gives +00:00:30): the client "
        "sends the moment in UTC",
        id="expiration-offset-with-seconds",
    ),
    pytest.param(
        {"priority": "HIGH"},
        "priority",
        "the client reads priority in any case and sends 'high'; priorityEnum is exact",
        id="priority-upper-case",
    ),
    pytest.param(
        {"media": "https://example.com/a.png"},
        "media",
        "the client takes one URL for a list of one and sends an array",
        id="media-one-string",
    ),
    pytest.param(
        {"to": {"+19195551212": "Ann"}},
        "to",
        "the client takes any iterable of numbers (a mapping gives its keys) and sends an array",
        id="to-mapping",
    ),
    pytest.param(
        {"application_id": None},
        "applicationId",
        "the client leaves it to the Sender, which fills its own or refuses at send time",
        id="application-id-missing",
    ),
    pytest.param(
        {"expiration": "2099-01-01T00:00:00"},
        "expiration",
        "the client reads a date-time without offset as UTC and sends +00:00; RFC 3339 needs one",
        id="expiration-without-offset",
    ),
    pytest.param(
        {"expiration": "2099-01-01T00:00:00+0100"},
        "expiration",
        "the client reads +hhmm and sends +hh:mm; RFC 3339 has the colon",
        id="expiration-offset-without-colon",
    ),
    pytest.param(
        {"expiration": " 2099-01-01T00:00:00Z "},
        "expiration",
        "the client strips spaces around a date-time before reading it",
        id="expiration-surrounding-spaces",
    ),
    pytest.param(
        {"expiration": "２０９９-01-01T00:00:00Z"},
        "expiration",
        "the client reads any Unicode digit (Python's \\d) and sends ASCII digits (RFC 3339)",
        id="expiration-full-width-digits",
    ),
]


@pytest.mark.parametrize(("changes", "field", "reason"), NORMALISED)
async def test_normalised_forms_differ_only_before_sending(
    simulated: Simulated, changes: dict[str, Any], field: str, reason: str
) -> None:
    """The client accepts a form the service refuses, and what it sends is accepted."""
    kwargs = {**BASE, **changes}
    request, client_named = judge_client(kwargs)
    assert request is not None, (client_named, reason)
    assert await judge_simulator(simulated, body_for(kwargs)) == {field}, reason
    assert await judge_simulator(simulated, request_to_dict(request, SENDER_APP)) == set(), reason


async def test_unknown_key_is_refused_by_both(simulated: Simulated) -> None:
    """An unknown key: the client's signature refuses it (TypeError), the simulator names it."""
    kwargs: dict[str, Any] = {**BASE, "unknown_key": 1}
    with pytest.raises(TypeError, match="unknown_key"):
        MessageRequest(**kwargs)
    assert await judge_simulator(simulated, {**VALID_BODY, "unknownKey": 1}) == {"unknownKey"}
