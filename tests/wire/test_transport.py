"""The transport seam (``bwmsg._transport``): the Sender makes each attempt through one
Transport taken from the factory hook, every transport's failures are one of three, and aiohttp's
are mapped the same way for sends, tokens and listing."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from yarl import URL

from bwmsg import AmbiguousSendError, MessageRequest, Outcome, RetryPolicy, Sender, TransportError
from bwmsg._transport import (
    Answer,
    AnswerTimeout,
    ConnectError,
    ExchangeError,
    SessionTransport,
    Settings,
    Transport,
    use_factory,
)
from bwmsg._transport._aiohttp import mapped
from bwmsg._transport._base import MAX_REASON
from bwmsg._transport._proxy import TunnelError

REQUEST = MessageRequest(to="+19195551212", from_="+19195550000", text="hi")
ACCEPTED = b'{"id": "m-1", "to": ["+19195551212"], "from": "+19195550000", "text": "hi"}'
TWICE = RetryPolicy(max_attempts=2, base_delay=0, retry_ambiguous=True)


class Fake:
    """A transport that answers from a script: an Answer, or a failure to raise."""

    def __init__(self, *script: Answer | Exception) -> None:
        self.script = list(script)
        self.calls: list[str] = []
        self.closed = False

    def prepare(self, headers: Any) -> dict[str, str]:
        self.calls.append("prepare")
        return dict(headers)

    async def connection(self, deadline: float) -> str:
        self.calls.append("connection")
        return "link"

    async def exchange(
        self, link: str, head: dict[str, str], body: bytes, deadline: float
    ) -> Answer:
        self.calls.append("exchange")
        assert link == "link"
        assert head["Authorization"].startswith("Basic ")
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    async def aclose(self) -> None:
        self.closed = True


async def send_through(fake: Fake, **options: Any) -> Any:
    def factory(url: URL, settings: Settings, web_: SessionTransport) -> Transport[Any, Any]:
        return fake

    with use_factory(factory):
        async with Sender(
            "acct", "user", "pw", application_id="app", trust_env=False, **options
        ) as sender:
            [result] = [r async for r in sender.send_many([REQUEST])]
            return result


async def test_sender_sends_through_the_factory_s_transport() -> None:
    """A Sender opened under use_factory sends through that transport and closes it."""
    fake = Fake(Answer(202, "Accepted", {}, ACCEPTED))
    result = await send_through(fake)
    assert result.outcome is Outcome.SENT
    assert result.message.id == "m-1"
    assert fake.calls == ["prepare", "connection", "exchange"]
    assert fake.closed


async def test_each_attempt_is_one_connection_and_one_exchange() -> None:
    """A retried request: the head is prepared once, each attempt connects and exchanges."""
    fake = Fake(ExchangeError("reset"), Answer(202, "Accepted", {}, ACCEPTED))
    result = await send_through(fake, retry=TWICE)
    assert result.outcome is Outcome.SENT
    assert result.attempts == 2
    assert fake.calls == ["prepare", "connection", "exchange", "connection", "exchange"]


@pytest.mark.parametrize(
    ("failure", "outcome", "kind"),
    [
        (ConnectError("refused"), Outcome.FAILED, TransportError),
        (ExchangeError("reset"), Outcome.UNKNOWN, AmbiguousSendError),
        (AnswerTimeout("late"), Outcome.UNKNOWN, AmbiguousSendError),
    ],
)
async def test_the_three_failures_mean_the_same_for_every_transport(
    failure: Exception, outcome: Outcome, kind: type[Exception]
) -> None:
    """Nothing written: FAILED; written without a whole answer, or late: UNKNOWN."""
    result = await send_through(Fake(failure), retry=RetryPolicy(max_attempts=1))
    assert result.outcome is outcome
    assert isinstance(result.error, kind)


async def test_a_timeout_after_the_sender_s_timeout_changed_says_the_new_one() -> None:
    """The timeout is read from the settings at each attempt (one place for every transport)."""
    settings = Settings(timeout=30.0, ssl=True, proxy=None, trust_env=False, origins=[])
    settings.timeout = 2.5
    assert settings.timeout == 2.5
    sender = Sender("acct", "user", "pw", timeout=30.0)
    sender.timeout = 2.5
    assert sender.timeout == 2.5


def proxy_error(status: int) -> aiohttp.ClientHttpProxyError:
    info = aiohttp.RequestInfo(URL("http://proxy:3128"), "CONNECT", {}, URL("http://proxy:3128"))  # type: ignore[arg-type]
    return aiohttp.ClientHttpProxyError(info, (), status=status, message="No\x1b[31m way")


def test_an_answer_s_reason_is_printable_and_bounded() -> None:
    """Whichever transport builds it, an Answer's reason shows control characters as escapes
    and is cut to MAX_REASON characters."""
    assert Answer(503, "No\x1b[2J\u202e way", {}, None).reason == "No\\x1b[2J\\u202e way"
    long = Answer(500, "Oops" * 100, {}, None).reason
    assert len(long) == MAX_REASON
    assert long.endswith("...")


def test_a_refused_connect_is_nothing_written() -> None:
    """aiohttp's refused CONNECT: ConnectError, its reason sanitised, retryable only for 5xx."""
    refused = mapped(proxy_error(407))
    assert isinstance(refused, ConnectError)
    assert not refused.retryable
    assert "\x1b" not in str(refused)
    assert isinstance(refused.__cause__, TunnelError)
    busy = mapped(proxy_error(503))
    assert isinstance(busy, ConnectError)
    assert busy.retryable


def test_aiohttp_failures_map_to_the_three() -> None:
    """Connecting failed: ConnectError; disconnected: ExchangeError; late: AnswerTimeout."""
    key = aiohttp.client_reqrep.ConnectionKey("h", 443, True, True, None, None, None)
    connect = mapped(aiohttp.ClientConnectorError(key, OSError(111, "refused")))
    assert isinstance(connect, ConnectError)
    assert connect.retryable
    assert isinstance(mapped(aiohttp.ConnectionTimeoutError()), ConnectError)
    assert isinstance(mapped(aiohttp.ServerDisconnectedError()), ExchangeError)
    assert isinstance(mapped(asyncio.TimeoutError()), AnswerTimeout)
    assert isinstance(mapped(aiohttp.SocketTimeoutError()), AnswerTimeout)


@pytest.fixture
async def untrusted_server() -> AsyncIterator[str]:
    """An HTTPS server on 127.0.0.1 whose certificate no trust store knows: its base URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"messages": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}/api/v2"
    finally:
        await runner.cleanup()


async def test_listing_with_an_untrusted_certificate_is_not_retried(untrusted_server: str) -> None:
    """An untrusted certificate stays untrusted for listing too: one attempt, not retryable."""
    retry = RetryPolicy(max_attempts=3, base_delay=0)
    async with Sender(
        "acct", "user", "pw", base_url=untrusted_server, retry=retry, trust_env=False
    ) as sender:
        with pytest.raises(TransportError) as info:
            [m async for m in sender.list_messages()]
    assert not info.value.retryable
    assert isinstance(info.value.__cause__, aiohttp.ClientSSLError)


async def test_tokens_with_an_untrusted_certificate_are_not_retried(untrusted_server: str) -> None:
    """An untrusted token endpoint: one token request, the send FAILED and not retryable."""
    async with Sender(
        "acct",
        client_id="id",
        client_secret="secret",
        token_url=untrusted_server + "/token",
        application_id="app",
        base_url=untrusted_server,
        retry=RetryPolicy(max_attempts=3, base_delay=0),
        trust_env=False,
    ) as sender:
        [result] = [r async for r in sender.send_many([REQUEST])]
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.error, TransportError)
    assert not result.error.retryable
