"""The simulator, driven with raw aiohttp requests: statuses, bodies, throttle, faults, records."""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bwmsg.simulator
from bwmsg import segments
from bwmsg._models import parse_datetime
from bwmsg.simulator import AcceptedMessage, Faults, Simulator
from bwmsg.simulator._records import AccountQueue
from bwmsg.simulator._segments import segment_count
from tests.senders import AUTH, JSON_AUTH, VALID

# GSM-7 basic and extension characters, BMP characters outside it, and astral ones.
SEGMENT_ALPHABET = "aZ0 @\n\r£éÇ€[]{}^|~\\\fçю`😀🎉"
# Client modules a simulator module may import, and why.
CLIENT_IMPORTS_ALLOWED = {
    # attrs validators for the simulator's own numeric settings, not Bandwidth's rules
    "_faults.py": {"bwmsg._checks"},
    "_callbacks.py": {"bwmsg._checks"},
    # how it serves and says where it stands, shared with the callback server: no API rules
    "_server.py": {"bwmsg._lifecycle", "bwmsg._serve"},
}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=1) as simulator:
        yield simulator


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


async def post(
    http: aiohttp.ClientSession,
    sim: Simulator,
    body: Any = None,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    account: str = "9900000",
    legacy: bool = False,
    timeout: float | None = None,
) -> Answer:
    root = sim.legacy_base_url if legacy else sim.base_url
    sent = dict(AUTH) if headers is None else headers
    if data is None:
        data = json.dumps(VALID if body is None else body).encode()
        sent.setdefault("Content-Type", "application/json")
    async with http.post(
        f"{root}/users/{account}/messages",
        data=data,
        headers=sent,
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as response:
        return Answer(response.status, response.headers, await response.read())


def with_(**changes: Any) -> dict[str, Any]:
    body = dict(VALID)
    for key, value in changes.items():
        key = "from" if key == "from_" else key
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


# -- 202 -------------------------------------------------------------------------------------------


async def test_accepts_a_valid_sms_with_computed_fields(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """A valid request is answered 202 with id, time, owner, direction and segmentCount."""
    answer = await post(http, sim)
    assert answer.status == 202
    assert answer.headers["Content-Type"].startswith("application/json")
    message = answer.json()
    assert message["id"]
    assert abs(parse_datetime(message["time"]) - datetime.now(timezone.utc)) < timedelta(seconds=5)
    assert message["owner"] == "+19195550000"
    assert message["direction"] == "out"
    assert message["segmentCount"] == 1
    assert message["to"] == ["+19195551212"]
    assert message["from"] == "+19195550000"
    assert message["text"] == "hello"
    assert message["applicationId"] == "app-1"


async def test_records_accepted_message_with_raw_request(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """An accepted message is recorded in order with its raw and decoded request body."""
    raw = json.dumps(with_(tag="t1")).encode()
    answer = await post(http, sim, data=raw, headers=JSON_AUTH, account="42")
    assert answer.status == 202
    [record] = sim.accepted
    assert isinstance(record, AcceptedMessage)
    assert record.raw == raw
    assert record.request == with_(tag="t1")
    assert record.message == answer.json()
    assert record.account_id == "42"
    assert record.key == (("+19195551212",), "hello", "t1")
    assert sim.accepted_count == 1


async def test_ids_are_unique(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """Every accepted message gets its own id."""
    answers = [await post(http, sim) for _ in range(5)]
    assert len({a.json()["id"] for a in answers}) == 5


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"text": "a" * 160}, 1),
        ({"text": "a" * 161}, 2),
        ({"text": "a" * 306}, 2),
        ({"text": "a" * 307}, 3),
        ({"text": "€" * 80}, 1),
        ({"text": "€" * 81}, 2),
        ({"text": "é" * 160}, 1),
        ({"text": "ю" * 70}, 1),
        ({"text": "ю" * 71}, 2),
        ({"text": "😀" * 35}, 1),
        ({"text": "😀" * 36}, 2),
        ({"text": "a" * 2048, "media": ["https://example.com/a.png"]}, 1),
        ({"text": ..., "media": ["https://example.com/a.png"]}, 1),
    ],
)
async def test_segment_count(
    http: aiohttp.ClientSession, sim: Simulator, changes: dict[str, Any], expected: int
) -> None:
    """segmentCount follows GSM-7 (160/153) and UCS-2 (70/67) rules; MMS counts one."""
    answer = await post(http, sim, with_(**changes))
    assert answer.status == 202, answer.body
    assert answer.json()["segmentCount"] == expected


async def test_group_message_segment_count_is_per_message(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """A group message's segmentCount is that of its text, not multiplied by recipients."""
    answer = await post(http, sim, with_(to=["+19195551212", "+19195551213"], text="a" * 161))
    assert answer.json()["segmentCount"] == 2
    assert answer.json()["to"] == ["+19195551212", "+19195551213"]


async def test_accepts_to_as_a_single_string(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """`to` given as one string is accepted and answered as an array."""
    answer = await post(http, sim, with_(to="+19195551212"))
    assert answer.status == 202
    assert answer.json()["to"] == ["+19195551212"]


async def test_echoes_optional_fields(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """media, tag, priority and expiration are echoed in the answer."""
    expiration = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    body = with_(
        media=["https://example.com/a.png"], tag="x", priority="high", expiration=expiration
    )
    message = (await post(http, sim, body)).json()
    assert message["media"] == ["https://example.com/a.png"]
    assert message["tag"] == "x"
    assert message["priority"] == "high"
    assert message["expiration"] == expiration


async def test_legacy_path_answers_too(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """The legacy /v2/users/{userId}/messages path accepts the same body."""
    answer = await post(http, sim, legacy=True, account="u-1")
    assert answer.status == 202
    assert sim.accepted[0].account_id == "u-1"
    assert sim.legacy_base_url == f"http://127.0.0.1:{sim.port}/v2"


async def test_base_url_ends_in_api_v2(sim: Simulator) -> None:
    """base_url is an http URL on 127.0.0.1 ending in /api/v2."""
    assert sim.base_url == f"http://127.0.0.1:{sim.port}/api/v2"


# -- 401 / 415 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": aiohttp.encode_basic_auth("user", "wrong")},
        {"Authorization": aiohttp.encode_basic_auth("other", "pass")},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!"},
    ],
    ids=["missing", "wrong-password", "wrong-user", "bearer", "garbage"],
)
async def test_unauthorized(
    http: aiohttp.ClientSession, sim: Simulator, headers: dict[str, str]
) -> None:
    """Missing or wrong credentials are answered 401 `unauthorized` and nothing is recorded."""
    answer = await post(http, sim, headers={**headers, "Content-Type": "application/json"})
    assert answer.status == 401
    assert answer.json()["type"] == "unauthorized"
    assert answer.json()["description"]
    assert sim.accepted == []


async def test_auth_scheme_is_case_insensitive(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """`basic` in lower case is accepted like `Basic`."""
    token = AUTH["Authorization"].split(" ", 1)[1]
    answer = await post(http, sim, headers={"Authorization": f"basic {token}"})
    assert answer.status == 202


async def test_custom_credentials() -> None:
    """The simulator accepts the credentials it was given, and only those."""
    async with Simulator(username="u", password="p") as sim, aiohttp.ClientSession() as http:
        good = {"Authorization": aiohttp.encode_basic_auth("u", "p")}
        assert (await post(http, sim, headers=good)).status == 202
        assert (await post(http, sim)).status == 401


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_wrong_content_type_is_415(
    http: aiohttp.ClientSession, sim: Simulator, content_type: str | None
) -> None:
    """A body that is not declared as JSON is answered 415."""
    headers = dict(AUTH)
    if content_type:
        headers["Content-Type"] = content_type
    answer = await post(http, sim, data=json.dumps(VALID).encode(), headers=headers)
    assert answer.status == 415
    assert set(answer.json()) == {"type", "description"}
    assert sim.accepted == []


@pytest.mark.parametrize("data", [b"", b"not json", b'{"to": ', b"\xff\xfe"])
async def test_body_that_is_not_json_is_415(
    http: aiohttp.ClientSession, sim: Simulator, data: bytes
) -> None:
    """A body that does not parse as JSON is answered 415."""
    answer = await post(http, sim, data=data, headers=JSON_AUTH)
    assert answer.status == 415
    assert answer.json()["type"] == "unsupported-media-type"


async def test_content_type_with_charset_is_json(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """`application/json; charset=utf-8` is JSON."""
    headers = {**AUTH, "Content-Type": "application/json; charset=utf-8"}
    answer = await post(http, sim, data=json.dumps(VALID).encode(), headers=headers)
    assert answer.status == 202


# -- 400 -------------------------------------------------------------------------------------------

FUTURE = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"to": 19195551212}, "to"),
        ({"to": ...}, "to"),
        ({"to": []}, "to"),
        ({"to": [19195551212]}, "to"),
        ({"to": ["9195551212"]}, "to"),
        ({"to": ["+1919555121x"]}, "to"),
        ({"to": ["+19195551212", "+19195551212"]}, "to"),
        ({"to": [f"+1919555{i:04d}" for i in range(11)]}, "to"),
        ({"to": {"n": "+19195551212"}}, "to"),
        ({"from_": ...}, "from"),
        ({"from_": 19195550000}, "from"),
        ({"from_": "+0123"}, "from"),
        ({"from_": "123456789012"}, "from"),
        ({"from_": "Sender-ID-too-long"}, "from"),
        ({"from_": "12345"}, "from"),
        ({"text": 5}, "text"),
        ({"text": ["a"]}, "text"),
        ({"text": "a" * 2049}, "text"),
        ({"text": ...}, "text"),
        ({"text": ""}, "text"),
        ({"text": None}, "text"),
        ({"media": "https://example.com/a.png"}, "media"),
        ({"media": [5]}, "media"),
        ({"media": ["ftp://example.com/a.png"]}, "media"),
        ({"media": ["not a url"]}, "media"),
        ({"media": ["https://example.com/" + "a" * 4096]}, "media"),
        ({"tag": 5}, "tag"),
        ({"tag": "a" * 1025}, "tag"),
        ({"priority": "urgent"}, "priority"),
        ({"priority": 1}, "priority"),
        ({"priority": "HIGH"}, "priority"),
        ({"media": [f"https://example.com/{i}.png" for i in range(11)]}, "media"),
        ({"media": ["https://example.com:port/a.png"]}, "media"),
        ({"media": ["https://[::1/a.png"]}, "media"),
        ({"media": ["https://[not-an-ip]/a.png"]}, "media"),
        ({"expiration": "2001-01-01T00:00:00Z"}, "expiration"),
        ({"expiration": "tomorrow"}, "expiration"),
        ({"expiration": 1700000000}, "expiration"),
        ({"expiration": "2099-01-01T00:00:00"}, "expiration"),  # RFC 3339 needs an offset
        ({"expiration": "2099-01-01T00:00:00+0100"}, "expiration"),  # ... with its colon
        ({"expiration": " 2099-01-01T00:00:00Z"}, "expiration"),
        ({"expiration": "2099-12-31T23:59:60Z"}, "expiration"),  # no leap second is scheduled
        ({"expiration": "２０９９-01-01T00:00:00Z"}, "expiration"),  # digits are ASCII
        ({"applicationId": ...}, "applicationId"),
        ({"applicationId": ""}, "applicationId"),
        ({"applicationId": 5}, "applicationId"),
        ({"unknownKey": 1}, "unknownKey"),
        ({"application_id": "a"}, "application_id"),
    ],
)
async def test_invalid_field_is_400_naming_it(
    http: aiohttp.ClientSession, sim: Simulator, changes: dict[str, Any], field: str
) -> None:
    """Each invalid field is answered 400 `request-validation` with a fieldError naming it."""
    answer = await post(http, sim, with_(**changes))
    assert answer.status == 400, answer.body
    body = answer.json()
    assert body["type"] == "request-validation"
    assert body["description"]
    assert [fe["fieldName"] for fe in body["fieldErrors"]] == [field]
    assert all(fe["description"] for fe in body["fieldErrors"])
    assert sim.accepted == []


async def test_every_problem_is_named_at_once(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """A body with several problems gets one fieldError for each."""
    body = {"to": "bad", "from": 1, "text": 2, "tag": 3, "priority": "x", "extra": True}
    answer = await post(http, sim, body)
    assert answer.status == 400
    names = {fe["fieldName"] for fe in answer.json()["fieldErrors"]}
    assert names == {"to", "from", "text", "tag", "priority", "applicationId", "extra"}


@pytest.mark.parametrize("body", [[VALID], "text", 5, None])
async def test_body_that_is_not_an_object_is_400(
    http: aiohttp.ClientSession, sim: Simulator, body: Any
) -> None:
    """A JSON body that is not an object is answered 400."""
    answer = await post(
        http,
        sim,
        data=json.dumps(body).encode(),
        headers=JSON_AUTH,
    )
    assert answer.status == 400
    assert answer.json()["type"] == "request-validation"


async def test_valid_sender_id_and_future_expiration(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """An alphanumeric sender ID and a future expiration are accepted."""
    answer = await post(http, sim, with_(from_="My Shop", expiration=FUTURE))
    assert answer.status == 202
    assert answer.json()["owner"] == "My Shop"


@pytest.mark.parametrize(
    "changes",
    [
        {"to": [f"+1919555{i:04d}" for i in range(10)]},
        {"from_": "+1a"},  # a sender ID may hold + and digits, with a letter
        {"from_": "ABCDEFGHIJK"},
        {"text": "😀" * 2048},  # maxLength counts characters
        {"tag": "t" * 1024},
        {"text": "", "media": [f"https://example.com/{i}.png" for i in range(10)]},
        {"media": ["https://example.com/" + "a" * (4096 - len("https://example.com/"))]},
        {"media": ["HTTPS://user:pw@[2001:db8::1]:8443/a.png?x=1#y"]},
        {"media": ["http://example.com:/a.png", "http://[v1.x]/a"]},
        {"expiration": "2099-01-01t00:00:00.5z"},
        {"expiration": "2099-01-01 00:00:00-05:00"},
        {"expiration": "9999-12-31T23:59:59Z"},  # no upper limit is documented
        {"priority": "default"},
    ],
)
async def test_valid_edges_are_accepted(
    http: aiohttp.ClientSession, sim: Simulator, changes: dict[str, Any]
) -> None:
    """Values at the documented limits, and forms RFC 3339 and RFC 3986 allow, are accepted."""
    answer = await post(http, sim, with_(**changes))
    assert answer.status == 202, answer.body


async def test_media_of_the_wrong_type_does_not_also_ask_for_text(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """Media given in the wrong form is a media error; text is asked for only when neither is."""
    answer = await post(http, sim, with_(text=..., media=5))
    assert [fe["fieldName"] for fe in answer.json()["fieldErrors"]] == ["media"]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(SEGMENT_ALPHABET), max_size=700))
def test_segment_count_agrees_with_the_client(text: str) -> None:
    """The simulator's own segment counter and bwmsg.segments agree (two implementations)."""
    assert segment_count(text) == segments(text).segments


def test_request_handling_imports_nothing_from_the_client() -> None:
    """The simulator's request rules, dates and segments are its own: no bwmsg._* import."""
    package = Path(bwmsg.simulator.__file__).parent
    for path in sorted(package.glob("*.py")):
        imported = _client_imports(ast.parse(path.read_text(encoding="utf-8")))
        assert imported <= CLIENT_IMPORTS_ALLOWED.get(path.name, set()), path.name


def _client_imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level >= 2 or not node.level):
            module = "bwmsg." + (node.module or "") if node.level else node.module or ""
            if module.startswith("bwmsg") and not module.startswith("bwmsg.simulator"):
                names.add(module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("bwmsg.")}
    return names


async def test_unknown_path_is_404(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """A path other than the messages endpoint is 404."""
    async with http.post(sim.base_url + "/users/1/media", headers=AUTH, json={}) as response:
        assert response.status == 404


# -- throttle --------------------------------------------------------------------------------------


async def test_no_throttle_by_default(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """Without `rate` a burst of requests is all accepted."""
    answers = await asyncio.gather(*(post(http, sim) for _ in range(50)))
    assert {a.status for a in answers} == {202}


async def test_full_queue_is_429_without_retry_after(http: aiohttp.ClientSession) -> None:
    """A full account queue answers 429 max-message-queue-size-exceeded, no Retry-After."""
    async with Simulator(rate=0.001, queue_size=3) as sim:
        statuses = [(await post(http, sim)).status for _ in range(3)]
        assert statuses == [202, 202, 202]
        answer = await post(http, sim)
        assert answer.status == 429
        assert answer.json()["type"] == "max-message-queue-size-exceeded"
        assert "Retry-After" not in answer.headers
        assert len(sim.accepted) == 3
        assert sim.counts["throttled"] == 1


async def test_group_message_is_charged_per_recipient(http: aiohttp.ClientSession) -> None:
    """A group message fills the queue by segments times recipients."""
    async with Simulator(rate=0.001, queue_size=4) as sim:
        group = with_(to=["+19195551212", "+19195551213"], text="a" * 161)  # 2 x 2 segments
        assert (await post(http, sim, group)).status == 202
        assert (await post(http, sim)).status == 429


async def test_throttle_retry_after_is_opt_in(http: aiohttp.ClientSession) -> None:
    """With Faults(retry_after=...) the throttle's 429 carries Retry-After."""
    async with Simulator(rate=0.001, queue_size=1, faults=Faults(retry_after=2)) as sim:
        await post(http, sim)
        answer = await post(http, sim)
        assert answer.status == 429
        assert answer.headers["Retry-After"] == "2"


def test_account_queue_drains_at_rate() -> None:
    """The account queue drains at `rate` segments per second."""
    now = [0.0]
    queue = AccountQueue(rate=10.0, capacity=10.0, clock=lambda: now[0])
    assert all(queue.admit(1) for _ in range(10))
    assert not queue.admit(1)
    now[0] = 0.1
    assert queue.admit(1)
    assert not queue.admit(1)
    now[0] = 10.0
    assert queue.admit(10)


def test_account_queue_takes_one_large_message_when_empty() -> None:
    """An empty queue takes one message bigger than its capacity."""
    queue = AccountQueue(rate=1.0, capacity=2.0, clock=lambda: 0.0)
    assert queue.admit(5)
    assert not queue.admit(1)


async def test_rate_can_change_while_running(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """Setting `rate` on a running simulator starts throttling."""
    sim.rate = 0.001
    sim.queue_size = 1
    assert (await post(http, sim)).status == 202
    assert (await post(http, sim)).status == 429
    sim.rate = None
    assert (await post(http, sim)).status == 202


# -- faults ----------------------------------------------------------------------------------------


async def test_rate_limited_fault_is_429_without_retry_after(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """Faults(rate_limited=1) answers 429 with no Retry-After and records nothing."""
    sim.faults = Faults(rate_limited=1.0)
    answer = await post(http, sim)
    assert answer.status == 429
    assert answer.json()["type"] == "max-message-queue-size-exceeded"
    assert "Retry-After" not in answer.headers
    assert sim.accepted == []


async def test_rate_limited_fault_with_retry_after(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """Faults(retry_after=1.5) adds a Retry-After header to injected 429s."""
    sim.faults = Faults(rate_limited=1.0, retry_after=1.5)
    answer = await post(http, sim)
    assert answer.status == 429
    assert answer.headers["Retry-After"] == "1.5"


async def test_server_error_fault(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """Faults(server_error=1) answers 500, 502 or 503 with an error body and records nothing."""
    sim.faults = Faults(server_error=1.0)
    answers = [await post(http, sim) for _ in range(30)]
    assert {a.status for a in answers} == {500, 502, 503}
    assert all(set(a.json()) == {"type", "description"} for a in answers)
    assert sim.accepted == []


async def test_server_error_statuses_are_configurable(
    http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """server_error_statuses chooses the statuses of injected server errors."""
    sim.faults = Faults(server_error=1.0, server_error_statuses=(504,))
    answer = await post(http, sim)
    assert answer.status == 504
    assert answer.json()["type"]


async def test_drop_before_accept(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """drop_before_accept closes the connection without an answer and records nothing."""
    sim.faults = Faults(drop_before_accept=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(http, sim)
    assert sim.accepted == []
    assert sim.counts["drop_before_accept"] == 1


async def test_drop_after_accept(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """drop_after_accept records the message, then closes the connection without an answer."""
    sim.faults = Faults(drop_after_accept=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(http, sim)
    assert len(sim.accepted) == 1
    assert sim.counts["drop_after_accept"] == 1


async def test_slow_answer_after_acceptance(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """A slow answer outlasts the client's timeout, and the message was accepted."""
    sim.faults = Faults(slow=1.0, slow_delay=30)
    with pytest.raises(asyncio.TimeoutError):
        await post(http, sim, timeout=0.2)
    assert len(sim.accepted) == 1
    assert sim.counts["slow"] == 1


async def test_slow_answer_without_acceptance(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """With slow_accepts=False a slow request is not recorded."""
    sim.faults = Faults(slow=1.0, slow_delay=30, slow_accepts=False)
    with pytest.raises(asyncio.TimeoutError):
        await post(http, sim, timeout=0.2)
    assert sim.accepted == []


async def test_slow_answer_comes_when_patient(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """A client that waits longer than slow_delay gets the 202."""
    sim.faults = Faults(slow=1.0, slow_delay=0.05)
    assert (await post(http, sim, timeout=5)).status == 202


async def test_stop_ends_pending_slow_answers(http: aiohttp.ClientSession) -> None:
    """Stopping the simulator does not wait for slow answers still pending."""
    loop = asyncio.get_running_loop()
    sim = Simulator(faults=Faults(slow=1.0, slow_delay=60))
    await sim.start()
    with pytest.raises(asyncio.TimeoutError):
        await post(http, sim, timeout=0.2)
    started = loop.time()
    await sim.stop()
    assert loop.time() - started < 5


async def test_latency_is_added(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """Faults(latency=...) delays answers by that much."""
    loop = asyncio.get_running_loop()
    sim.faults = Faults(latency=0.1)
    started = loop.time()
    assert (await post(http, sim)).status == 202
    assert loop.time() - started >= 0.09


@pytest.mark.parametrize("distribution", ["constant", "uniform", "exponential"])
def test_latency_distributions_have_the_mean(distribution: str) -> None:
    """Each latency distribution draws with mean `latency`."""
    import random

    faults = Faults(latency=0.02, latency_distribution=distribution)
    rng = random.Random(3)
    draws = [faults.draw_latency(rng) for _ in range(20000)]
    assert min(draws) >= 0
    assert sum(draws) / len(draws) == pytest.approx(0.02, rel=0.05)


async def test_fault_fractions_are_respected(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """Over many requests each fault happens about as often as asked."""
    sim.faults = Faults(rate_limited=0.2, server_error=0.1)
    answers = await asyncio.gather(*(post(http, sim) for _ in range(1000)))
    rate_limited = sum(a.status == 429 for a in answers)
    errors = sum(a.status >= 500 for a in answers)
    assert 150 <= rate_limited <= 250
    assert 60 <= errors <= 140
    assert len(sim.accepted) == 1000 - rate_limited - errors


async def test_same_seed_same_faults(http: aiohttp.ClientSession) -> None:
    """Two simulators with one seed answer the same sequence of requests the same way."""
    runs = []
    for _ in range(2):
        async with Simulator(seed=42, faults=Faults(rate_limited=0.3, server_error=0.3)) as sim:
            runs.append([(await post(http, sim)).status for _ in range(40)])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 2


async def test_faults_change_while_running(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """Assigning sim.faults changes the answers from the next request on."""
    assert (await post(http, sim)).status == 202
    sim.faults = Faults(rate_limited=1.0)
    assert (await post(http, sim)).status == 429
    sim.faults = Faults()
    assert (await post(http, sim)).status == 202


async def test_auth_is_checked_before_faults(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """Bad credentials are answered 401 even when every request should fail otherwise."""
    sim.faults = Faults(server_error=1.0)
    answer = await post(http, sim, headers={"Content-Type": "application/json"})
    assert answer.status == 401


def test_faults_reject_bad_values() -> None:
    """Faults refuses fractions out of [0, 1], sums above 1, and unknown distributions."""
    with pytest.raises(ValueError, match="rate_limited"):
        Faults(rate_limited=1.5)
    with pytest.raises(ValueError, match="add up"):
        Faults(rate_limited=0.6, server_error=0.6)
    with pytest.raises(ValueError, match="latency_distribution"):
        Faults(latency_distribution="normal")
    with pytest.raises(ValueError, match="latency"):
        Faults(latency=-1)
    with pytest.raises(ValueError, match="server_error_statuses"):
        Faults(server_error_statuses=(404,))


def test_faults_parse() -> None:
    """Faults.parse reads the CLI's name=value list."""
    faults = Faults.parse(
        "rate_limited=0.1, server_error=0.05,latency=0.01,latency_distribution=uniform,"
        "retry_after=2,slow_accepts=false,server_error_statuses=500/503"
    )
    assert faults == Faults(
        rate_limited=0.1,
        server_error=0.05,
        latency=0.01,
        latency_distribution="uniform",
        retry_after=2.0,
        slow_accepts=False,
        server_error_statuses=(500, 503),
    )
    assert Faults.parse("") == Faults()
    with pytest.raises(ValueError, match="bad fault"):
        Faults.parse("typo=1")
    with pytest.raises(ValueError, match="bad value"):
        Faults.parse("rate_limited=lots")


def test_simulator_rejects_bad_settings() -> None:
    """Simulator refuses a non-Faults faults and a non-positive rate."""
    with pytest.raises(TypeError):
        Simulator(faults="rate_limited=1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate"):
        Simulator(rate=0)


async def test_base_url_needs_a_running_simulator() -> None:
    """base_url is refused before start and after stop; a simulator starts once."""
    sim = Simulator()
    with pytest.raises(RuntimeError):
        _ = sim.base_url
    async with sim:
        assert sim.base_url
    with pytest.raises(RuntimeError):
        _ = sim.base_url
    with pytest.raises(RuntimeError):
        await sim.start()
    await sim.stop()  # a second stop is harmless


# -- records and helpers ---------------------------------------------------------------------------


async def test_duplicates_by_to_text_tag(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """duplicates() counts messages accepted more than once by (to, text, tag)."""
    await post(http, sim, with_(tag="a"))
    await post(http, sim, with_(tag="a"))
    await post(http, sim, with_(tag="b"))
    await post(http, sim, with_(tag="a", text="other"))
    assert sim.duplicates() == {(("+19195551212",), "hello", "a"): 2}


async def test_observed_rate_and_reset(http: aiohttp.ClientSession, sim: Simulator) -> None:
    """observed_rate() reports accepted messages per second; reset() forgets everything."""
    assert sim.observed_rate() == 0.0
    await asyncio.gather(*(post(http, sim) for _ in range(20)))
    assert sim.observed_rate() > 0
    assert sim.observed_rate(window=60) == pytest.approx(20 / 60)
    assert sim.counts["202"] == 20
    sim.reset()
    assert sim.accepted == []
    assert sim.accepted_count == 0
    assert not sim.counts


def test_exports() -> None:
    """bwmsg.simulator's __all__ is sorted and complete."""
    names = bwmsg.simulator.__all__
    assert names == sorted(names)
    assert set(names) == {
        "AcceptedMessage",
        "Callbacks",
        "Faults",
        "MediaUpload",
        "Simulator",
        "TokenRequest",
    }
    for name in names:
        assert getattr(bwmsg.simulator, name).__doc__


async def test_a_simulator_or_callback_server_left_open_warns() -> None:
    """Collected while still open, a Simulator or a CallbackServer emits a ResourceWarning
    (as an unclosed socket does); closed or never started, nothing."""
    from bwmsg.callbacks import CallbackServer

    async def nothing(event: object) -> None:
        return None

    for made in (Simulator(port=0), CallbackServer(nothing, port=0)):
        made.__del__()  # never started: silent
        await made.start()
        with pytest.warns(ResourceWarning, match="collected while still open"):
            made.__del__()  # what the collector calls
        await made.stop()
        made.__del__()  # closed: silent


async def test_a_sender_left_open_warns() -> None:
    """A Sender that opened its connections and was never closed emits a ResourceWarning
    when collected; one never used, or closed, says nothing."""
    from bwmsg import MessageRequest, Sender

    async with Simulator() as sim:
        sender = Sender("9900000", "user", "pass", application_id="app", base_url=sim.base_url)
        sender.__del__()  # never used: silent
        await sender.send(MessageRequest(to="+19195551212", from_="+19195550000", text="hi"))
        with pytest.warns(ResourceWarning, match="Sender collected while still open"):
            sender.__del__()
        await sender.aclose()
        sender.__del__()  # closed: silent
