"""Sender.send against a real aiohttp server on 127.0.0.1: the wire, errors and retries.

Every test runs twice: on the Sender's own HTTP pool (the default) and through an aiohttp
session given to the Sender, so that both ways of sending keep the same behaviour.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

import bwmsg._convert
from bwmsg import (
    AmbiguousSendError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    MessageRequest,
    NotFoundError,
    Outcome,
    RateLimitedError,
    RequestValidationError,
    RetryPolicy,
    Sender,
    ServerError,
    TransportError,
)
from tests import senders
from tests.servers import Drop, Hang, Reply, Scripted, Truncate, free_port

REQUEST = MessageRequest(to="+19195551212", from_="+19195550000", text="hello")


# The aiohttp session that sender_for passes in, in the "aiohttp" run of each test.
_SESSION: list[aiohttp.ClientSession] = []


@pytest.fixture(autouse=True, params=["pool", "aiohttp"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Which way sender_for's Senders send: their own pool, or a session given to them."""
    if request.param == "pool":
        yield "pool"
        return
    async with aiohttp.ClientSession() as session:
        _SESSION.append(session)
        try:
            yield "aiohttp"
        finally:
            _SESSION.remove(session)


def sender_for(server: Scripted, **kwargs: object) -> Sender:
    """tests.senders' sender_for ``server`` as account acct-9 of app-1 with password s3cret-pw,
    through this run's session in the "aiohttp" runs."""
    options: dict[str, object] = {
        "account_id": "acct-9",
        "application_id": "app-1",
        "password": "s3cret-pw",
    }
    if _SESSION:
        options["session"] = _SESSION[-1]
    return senders.sender_for(server.base_url, **{**options, **kwargs})


async def test_sends_exact_body_and_basic_auth(server: Scripted) -> None:
    """The POST goes to /users/{account}/messages with Basic auth and the exact JSON body."""
    async with sender_for(server) as sender:
        message = await sender.send(REQUEST)
    [recorded] = server.requests
    assert recorded.method == "POST"
    assert recorded.path == "/api/v2/users/acct-9/messages"
    expected_auth = "Basic " + base64.b64encode(b"user:s3cret-pw").decode()
    assert recorded.headers["Authorization"] == expected_auth
    assert recorded.headers["Content-Type"] == "application/json"
    assert recorded.body == (
        b'{"to":["+19195551212"],"from":"+19195550000","text":"hello","applicationId":"app-1"}'
    )
    assert message.id == "msg-1"
    assert message.to == ("+19195551212",)


async def test_request_application_id_wins(server: Scripted) -> None:
    """A request's own application id is sent instead of the Sender's."""
    request = MessageRequest(
        to="+19195551212", from_="+19195550000", text="x", application_id="own"
    )
    async with sender_for(server) as sender:
        await sender.send(request)
    assert server.requests[0].json()["applicationId"] == "own"


async def test_missing_application_id_is_refused_before_sending(server: Scripted) -> None:
    """Without an application id anywhere, nothing is sent and applicationId is named."""
    async with sender_for(server, application_id=None) as sender:
        with pytest.raises(RequestValidationError) as info:
            await sender.send(REQUEST)
    assert [fe.field_name for fe in info.value.field_errors] == ["applicationId"]
    assert server.requests == []


@pytest.mark.parametrize(
    ("status", "cls", "body"),
    [
        (
            400,
            BadRequestError,
            {
                "type": "request-validation",
                "description": "bad",
                "fieldErrors": [{"fieldName": "to", "description": "invalid"}],
            },
        ),
        (
            401,
            AuthenticationError,
            {"type": "unauthorized", "description": "Authentication failed"},
        ),
        (403, ForbiddenError, {"type": "forbidden", "description": "Access denied"}),
        (
            404,
            NotFoundError,
            {
                "timestamp": "x",
                "status": 404,
                "error": "Not Found",
                "message": "none",
                "path": "/p",
            },
        ),
        (415, ApiError, {"type": "unsupported-media-type", "description": "json only"}),
    ],
)
async def test_client_errors_are_raised_and_not_retried(
    server: Scripted, status: int, cls: type[ApiError], body: object
) -> None:
    """Each 4xx other than 429 raises its subclass after exactly one request."""
    server.then(Reply(status, body))
    async with sender_for(server) as sender:
        with pytest.raises(cls) as info:
            await sender.send(REQUEST)
    assert type(info.value) is cls
    assert info.value.status == status
    assert len(server.requests) == 1


async def test_bad_request_field_errors_reach_the_caller(server: Scripted) -> None:
    """A 400's field errors are on the exception and in its text."""
    server.then(
        Reply(
            400,
            {
                "type": "request-validation",
                "description": "bad",
                "fieldErrors": [{"fieldName": "from", "description": "'+1' is not hosted"}],
            },
        )
    )
    async with sender_for(server) as sender:
        with pytest.raises(BadRequestError) as info:
            await sender.send(REQUEST)
    assert info.value.field_errors[0].field_name == "from"
    assert "from: '+1' is not hosted" in str(info.value)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_retryable_status_then_success(server: Scripted, status: int) -> None:
    """429 and 5xx are retried, and the message is sent on the next attempt."""
    server.then(Reply(status, {"type": "x", "description": "y"}))
    async with sender_for(server) as sender:
        [result] = [r async for r in sender.send_many([REQUEST])]
    assert result.outcome is Outcome.SENT
    assert result.attempts == 2
    assert len(server.requests) == 2


async def test_retries_are_bounded(server: Scripted) -> None:
    """After max_attempts 500s, ServerError is raised; exactly that many requests were made."""
    server.default = lambda body, n: Reply(500, {"type": "internal", "description": "boom"})
    async with sender_for(server, retry=RetryPolicy(base_delay=0, max_attempts=3)) as sender:
        with pytest.raises(ServerError, match="boom"):
            await sender.send(REQUEST)
    assert len(server.requests) == 3


async def test_rate_limited_after_retries(server: Scripted) -> None:
    """Persistent 429s end in RateLimitedError with retry_after None (as the send endpoint)."""
    server.default = lambda body, n: Reply(
        429, {"type": "max-message-queue-size-exceeded", "description": "queue full"}
    )
    async with sender_for(server, retry=RetryPolicy(base_delay=0, max_attempts=2)) as sender:
        with pytest.raises(RateLimitedError) as info:
            await sender.send(REQUEST)
    assert info.value.retry_after is None
    assert info.value.type == "max-message-queue-size-exceeded"


async def test_retry_after_really_waits(server: Scripted) -> None:
    """A 429 with Retry-After: 1 makes the next attempt wait at least a second."""
    server.then(Reply(429, {"type": "t", "description": "d"}, headers={"Retry-After": "1"}))
    async with sender_for(server) as sender:
        await sender.send(REQUEST)
    first, second = server.requests
    assert second.at - first.at >= 0.95


async def test_429_pauses_the_whole_sender(server: Scripted) -> None:
    """After a 429, a request started by another task waits for the pause too."""
    server.then(Reply(429, {"type": "t", "description": "d"}, headers={"Retry-After": "0.5"}))
    noted = asyncio.Event()

    class Noted(logging.Handler):  # the Sender logs the 429 and pauses in the same step
        def emit(self, record: logging.LogRecord) -> None:
            if "failed" in record.getMessage():
                noted.set()

    handler = Noted(logging.DEBUG)
    logging.getLogger("bwmsg").addHandler(handler)
    previous = logging.getLogger("bwmsg").level
    logging.getLogger("bwmsg").setLevel(logging.DEBUG)
    try:
        async with sender_for(server) as sender:
            first = asyncio.ensure_future(sender.send(REQUEST))
            await noted.wait()
            await sender.send(MessageRequest(to="+19195551299", from_="+19195550000", text="other"))
            await first
    finally:
        logging.getLogger("bwmsg").removeHandler(handler)
        logging.getLogger("bwmsg").setLevel(previous)
    rejected, *later = server.requests
    assert len(later) == 2
    assert all(r.at - rejected.at >= 0.45 for r in later)


async def test_connection_refused_is_transport_error_and_retried() -> None:
    """Nothing listening: TransportError, retried max_attempts times, outcome FAILED."""
    base = f"http://127.0.0.1:{free_port()}/api/v2"
    policy = RetryPolicy(base_delay=0, max_attempts=3)
    async with Sender("a", "u", "p", application_id="x", base_url=base, retry=policy) as sender:
        [result] = [r async for r in sender.send_many([REQUEST])]
        with pytest.raises(TransportError) as info:
            await sender.send(REQUEST)
    assert result.outcome is Outcome.FAILED
    assert result.attempts == 3
    assert isinstance(result.error, TransportError)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


async def test_timeout_is_ambiguous_and_not_retried(server: Scripted) -> None:
    """No answer within the timeout: AmbiguousSendError, UNKNOWN, one request only."""
    server.then(Hang())
    async with sender_for(server, timeout=0.2) as sender:
        [result] = [r async for r in sender.send_many([REQUEST])]
    assert result.outcome is Outcome.UNKNOWN
    assert isinstance(result.error, AmbiguousSendError)
    assert result.attempts == 1
    assert len(server.requests) == 1


async def test_dropped_connection_is_ambiguous(server: Scripted) -> None:
    """A connection closed after the request was read raises AmbiguousSendError."""
    server.then(Drop())
    async with sender_for(server) as sender:
        with pytest.raises(AmbiguousSendError):
            await sender.send(REQUEST)
    assert len(server.requests) == 1


async def test_ambiguous_retried_when_asked(server: Scripted) -> None:
    """With retry_ambiguous=True a dropped connection is retried and the message sent."""
    server.then(Drop())
    policy = RetryPolicy(base_delay=0, retry_ambiguous=True)
    async with sender_for(server, retry=policy) as sender:
        [result] = [r async for r in sender.send_many([REQUEST])]
    assert result.outcome is Outcome.SENT
    assert result.attempts == 2


async def test_ambiguous_then_certain_failure_stays_unknown(server: Scripted) -> None:
    """An earlier ambiguous attempt keeps the outcome UNKNOWN even if later ones fail surely."""
    server.then(Drop(), Reply(400, {"type": "request-validation", "description": "no"}))
    policy = RetryPolicy(base_delay=0, retry_ambiguous=True)
    async with sender_for(server, retry=policy) as sender:
        [result] = [r async for r in sender.send_many([REQUEST])]
        server.then(Drop(), Reply(400, {"type": "request-validation", "description": "no"}))
        with pytest.raises(AmbiguousSendError) as info:
            await sender.send(REQUEST)
    assert result.outcome is Outcome.UNKNOWN
    assert isinstance(result.error, AmbiguousSendError)
    assert isinstance(result.error.__cause__, BadRequestError)
    assert isinstance(info.value.__cause__, BadRequestError)


async def test_truncated_202_is_sent(server: Scripted) -> None:
    """A 202 whose body is cut off still means accepted: SENT, built from the request."""
    server.then(Truncate())
    async with sender_for(server) as sender:
        [result] = [r async for r in sender.send_many([REQUEST])]
    assert result.outcome is Outcome.SENT
    assert result.message is not None
    assert result.message.to == REQUEST.to
    assert result.message.id is None


async def test_202_with_non_json_body_is_sent(server: Scripted) -> None:
    """A 202 whose body is not JSON is still SENT."""
    server.then(Reply(202, raw=b"<html>ok</html>", content_type="text/html"))
    async with sender_for(server) as sender:
        message = await sender.send(REQUEST)
    assert message.text == "hello"


async def test_body_released_before_retry(server: Scripted) -> None:
    """With one connection, a retry after a 500 reuses it: the failed answer was released."""
    server.then(Reply(500, raw=b"x" * 100_000, content_type="text/plain"))
    async with sender_for(server, concurrency=1) as sender:
        await asyncio.wait_for(sender.send(REQUEST), timeout=5)
    first, second = server.requests
    assert first.peer == second.peer


async def test_connections_kept_alive_within_concurrency(server: Scripted) -> None:
    """100 messages at concurrency 4 travel over at most 4 connections, each reused."""
    requests = [
        MessageRequest(to=f"+1919555{i:04d}", from_="+19195550000", text="hi") for i in range(100)
    ]
    async with sender_for(server, concurrency=4) as sender:
        results = [r async for r in sender.send_many(requests)]
    assert all(r.ok for r in results)
    peers = {r.peer for r in server.requests}
    assert len(server.requests) == 100
    assert 1 <= len(peers) <= 4


async def test_waiting_sends_hold_no_body(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """send() calls waiting for a free slot have not serialised their request yet."""
    made: list[bytes] = []
    dumps = bwmsg._convert.dumps

    def counting(obj: object) -> bytes:
        made.append(dumps(obj))
        return made[-1]

    monkeypatch.setattr(bwmsg._convert, "dumps", counting)
    server.then(Hang())
    async with sender_for(server, concurrency=1, timeout=30) as sender:
        sends = [asyncio.ensure_future(sender.send(REQUEST)) for _ in range(10)]
        try:
            # The nine others reached their wait for the one slot in their first step, before
            # the first request could even arrive.
            await asyncio.wait_for(server.arrived.wait(), 5)
            assert len(sender._inflight._waiters) == 9  # type: ignore[union-attr]
            assert len(made) == 1
        finally:
            for task in sends:
                task.cancel()
            await asyncio.gather(*sends, return_exceptions=True)


async def test_password_not_in_repr_or_logs(
    server: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    """repr and DEBUG logs never show the password."""
    caplog.set_level(logging.DEBUG)
    server.then(Reply(500, {"type": "x", "description": "y"}), Drop())
    async with sender_for(server, retry=RetryPolicy(base_delay=0, retry_ambiguous=True)) as s:
        assert "s3cret-pw" not in repr(s)
        assert "user" in repr(s)
        await s.send(REQUEST)
    assert caplog.records  # the retries were logged
    assert "s3cret-pw" not in caplog.text
    assert base64.b64encode(b"user:s3cret-pw").decode() not in caplog.text


async def test_closed_sender_refuses_work(server: Scripted) -> None:
    """After aclose, send raises RuntimeError; aclose twice is fine."""
    sender = sender_for(server)
    await sender.send(REQUEST)
    await sender.aclose()
    await sender.aclose()
    assert sender.closed
    with pytest.raises(RuntimeError, match="closed"):
        await sender.send(REQUEST)
    with pytest.raises(RuntimeError, match="closed"):
        async with sender:
            pass


async def test_given_session_is_left_open(server: Scripted) -> None:
    """A session passed in is used and not closed by the Sender."""
    async with aiohttp.ClientSession() as session:
        async with sender_for(server, session=session) as sender:
            await sender.send(REQUEST)
        assert not session.closed
    assert len(server.requests) == 1


async def test_given_session_raise_for_status_is_ignored(server: Scripted) -> None:
    """A user's session with raise_for_status still gives bwmsg errors, not aiohttp's."""
    server.then(Reply(403, {"type": "forbidden", "description": "no"}))
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        sender_for(server, session=session) as sender,
    ):
        with pytest.raises(ForbiddenError):
            await sender.send(REQUEST)


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env reads BW_* variables; keyword overrides win; the password stays hidden."""
    monkeypatch.setenv("BW_ACCOUNT_ID", "acct")
    monkeypatch.setenv("BW_USERNAME", "envuser")
    monkeypatch.setenv("BW_PASSWORD", "envpass")
    monkeypatch.setenv("BW_MESSAGING_APPLICATION_ID", "envapp")
    monkeypatch.setenv("BW_MESSAGING_BASE_URL", "http://127.0.0.1:9/api/v2")
    sender = Sender.from_env(concurrency=7, application_id="override")
    assert sender.account_id == "acct"
    assert sender.username == "envuser"
    assert sender.application_id == "override"
    assert sender.base_url == "http://127.0.0.1:9/api/v2"
    assert sender.concurrency == 7
    assert "envpass" not in repr(sender)


def test_from_env_without_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing BW_ACCOUNT_ID is named in the error."""
    monkeypatch.delenv("BW_ACCOUNT_ID", raising=False)
    with pytest.raises(ValueError, match="BW_ACCOUNT_ID"):
        Sender.from_env(username="u", password="p")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "credentials are required"),
        ({"username": "u"}, "both username and password"),
        ({"username": "u", "password": "p", "client_id": "c", "client_secret": "s"}, "not both"),
        ({"username": "u", "password": "p", "concurrency": 0}, "concurrency"),
        ({"username": "u", "password": "p", "timeout": 0}, "timeout"),
        ({"username": "u", "password": "p", "base_url": "ftp://x"}, "base_url"),
        ({"username": "u", "password": "p", "retry": 3}, "RetryPolicy"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, object], match: str) -> None:
    """Contradictory or missing settings raise ValueError naming the setting."""
    with pytest.raises(ValueError, match=match):
        Sender("acct", **kwargs)  # type: ignore[arg-type]


def test_body_is_json_for_group_mms() -> None:
    """A group picture message serialises with lists for to and media."""
    from bwmsg._convert import request_to_dict

    request = MessageRequest(
        to=["+19195551212", "+19195551213"], from_="+19195550000", media="https://e.com/a.png"
    )
    assert json.loads(json.dumps(request_to_dict(request, "a")))["media"] == ["https://e.com/a.png"]
