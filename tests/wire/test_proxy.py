"""Proxies: chosen from the environment or given, for messages, tokens and listing.

Against a real forward proxy on 127.0.0.1 (tests/proxy_server.py) in front of the simulator.
The API is named ``api.bwmsg.test``, a name only the proxy can resolve: whatever reached the
simulator under that name went through the proxy.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import traceback
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import trustme
from yarl import URL

from bwmsg import (
    ApiError,
    RetryPolicy,
    Sender,
    TransportError,
)
from bwmsg._transport import ConnectError
from bwmsg._transport._pool import Pool
from bwmsg._transport._proxy import Proxy, choose, parse_proxy
from bwmsg.simulator import Simulator
from tests import senders
from tests.proxy_server import API_HOST, ForwardProxy, TlsFront, forward_proxy, tls_front
from tests.senders import request

USER, PASSWORD = "proxy-user", "pr0xy-s3cret"
CLIENT_ID, CLIENT_SECRET = "client-1", "client-s3cret"
RETRY = RetryPolicy(base_delay=0, max_attempts=2)


def http_api(sim: Simulator) -> str:
    return f"http://{API_HOST}:{sim.port}/api/v2"


def sender_for(base_url: str, **kwargs: Any) -> Sender:
    """tests.senders' sender_for, with two attempts at most."""
    return senders.sender_for(base_url, **{"retry": RETRY, **kwargs})


def front_oauth_sender(front: TlsFront, trusting: ssl.SSLContext, **kwargs: Any) -> Sender:
    """An OAuth2 :func:`sender_for` the TLS front (its API and its token URL)."""
    return sender_for(
        front.base_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_url=front.token_url,
        ssl=trusting,
        **kwargs,
    )


async def send_one(base_url: str, i: int = 0, **kwargs: Any) -> None:
    """Send message ``i`` with a :func:`sender_for` ``base_url`` and ``kwargs``, closed after."""
    async with sender_for(base_url, **kwargs) as sender:
        await sender.send(request(i))


def secret_texts() -> list[str]:
    """Every form the proxy password could leak in."""
    pair = f"{USER}:{PASSWORD}".encode()
    return [PASSWORD, base64.b64encode(pair).decode()]


def shown(error: BaseException) -> str:
    """The error as a user would see it: message, repr and the whole traceback with causes."""
    return "\n".join(
        [str(error), repr(error), *traceback.format_exception(type(error), error, None)]
    )


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as simulator:
        yield simulator


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with forward_proxy(credentials=(USER, PASSWORD)) as state:
        yield state


@pytest.fixture
async def open_proxy() -> AsyncIterator[ForwardProxy]:
    """A proxy that asks for no credentials."""
    async with forward_proxy() as state:
        yield state


@pytest.fixture
def env_proxy(monkeypatch: pytest.MonkeyPatch, open_proxy: ForwardProxy) -> ForwardProxy:
    """The open proxy, named by HTTP_PROXY."""
    monkeypatch.setenv("HTTP_PROXY", open_proxy.url())
    return open_proxy


@pytest.fixture
def env_tunnel(monkeypatch: pytest.MonkeyPatch, open_proxy: ForwardProxy) -> ForwardProxy:
    """The open proxy, named by HTTPS_PROXY."""
    monkeypatch.setenv("HTTPS_PROXY", open_proxy.url())
    return open_proxy


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def server_context(ca: trustme.CA, name: str = API_HOST) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return context


@pytest.fixture
async def front(sim: Simulator, ca: trustme.CA) -> AsyncIterator[TlsFront]:
    """The simulator over TLS, with a certificate for api.bwmsg.test."""
    async with tls_front(sim, server_context(ca)) as state:
        yield state


# -- choosing a proxy ----------------------------------------------------------------------------


def test_proxy_url_with_credentials() -> None:
    """user:pass in the URL become the Proxy-Authorization value; repr hides them."""
    found = parse_proxy(f"http://{USER}:{PASSWORD}@proxy.example:3128", "proxy")
    assert (found.host, found.port, str(found.url)) == (
        "proxy.example",
        3128,
        "http://proxy.example:3128",
    )
    assert found.authorization == f"Basic {secret_texts()[1]}"
    assert repr(found) == "<Proxy http://proxy.example:3128, with credentials>"
    through_tunnel = found.aiohttp_options(URL("https://api.example"))
    assert through_tunnel["proxy_headers"] == {"Proxy-Authorization": found.authorization}
    assert found.request_headers(URL("https://api.example")) == {}
    assert "proxy_headers" not in found.aiohttp_options(URL("http://api.example"))
    assert found.request_headers(URL("http://api.example")) == {
        "Proxy-Authorization": found.authorization
    }


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (f"https://{USER}:{PASSWORD}@p.example:1", "https://"),
        (f"socks5://{USER}:{PASSWORD}@p.example:1", "socks5://"),
        ("http://", "no host"),
        ("p.example:3128", "http://"),
        (f"http://{USER}:{PASSWORD}@p.example:1/path", "path"),
        (f"http://{USER}:{PASSWORD}@p.example:port", "not a valid URL"),
        ("", "http://"),
    ],
)
def test_bad_proxy_is_refused_at_construction(value: str, match: str) -> None:
    """A proxy that is not http://host:port is a ValueError naming `proxy`, hiding secrets."""
    with pytest.raises(ValueError, match=match) as info:
        Sender("acct", "u", "p", proxy=value)
    assert str(info.value).startswith("proxy ")
    assert PASSWORD not in shown(info.value)


@pytest.mark.parametrize(
    ("variables", "url", "expected"),
    [
        ({"HTTPS_PROXY": "http://a.example:1"}, "https://api.example", "a.example:1"),
        ({"https_proxy": "http://a.example:1"}, "https://api.example", "a.example:1"),
        ({"HTTPS_PROXY": "http://a.example:1"}, "http://api.example", None),
        ({"HTTP_PROXY": "http://b.example:2"}, "http://api.example", "b.example:2"),
        ({"ALL_PROXY": "http://c.example:3"}, "https://api.example", "c.example:3"),
        ({"all_proxy": "c.example:3", "HTTPS_PROXY": ""}, "https://api.example", "c.example:3"),
        ({"HTTPS_PROXY": "a.example:1", "NO_PROXY": "api.example"}, "https://api.example", None),
        ({"HTTPS_PROXY": "a.example:1", "no_proxy": ".example"}, "https://x.api.example", None),
        (
            {"HTTPS_PROXY": "a.example:1", "NO_PROXY": "other.example"},
            "https://api.example",
            "a.example:1",
        ),
        ({"HTTPS_PROXY": "a.example:1", "NO_PROXY": "*"}, "https://api.example", None),
        (
            {"HTTP_PROXY": "a.example:1", "NO_PROXY": "127.0.0.1:8080"},
            "http://127.0.0.1:8080",
            None,
        ),
        (
            {"HTTP_PROXY": "a.example:1", "NO_PROXY": "127.0.0.1:8080"},
            "http://127.0.0.1:9",
            "a.example:1",
        ),
    ],
)
def test_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], url: str, expected: str | None
) -> None:
    """HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY, either case, as urllib reads them."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    found = choose(URL(url), None, trust_env=True)
    assert (found.where if found is not None else None) == expected
    assert choose(URL(url), None, trust_env=False) is None


def test_explicit_proxy_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """proxy= is used for every host, whatever HTTPS_PROXY and NO_PROXY say."""
    monkeypatch.setenv("HTTPS_PROXY", "http://env.example:1")
    monkeypatch.setenv("NO_PROXY", "*")
    given = Proxy("given.example", 2)
    assert choose(URL("https://api.example"), given, trust_env=True) is given


def test_unusable_proxy_in_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY=socks5://... is a ValueError naming the variable, without its secret."""
    monkeypatch.setenv("HTTPS_PROXY", f"socks5://{USER}:{PASSWORD}@p.example:1080")
    with pytest.raises(ValueError, match="HTTPS_PROXY") as info:
        Sender("acct", "u", "p")
    assert "trust_env=False" in str(info.value)
    assert PASSWORD not in shown(info.value)
    Sender("acct", "u", "p", trust_env=False)  # the way out
    with pytest.raises(ValueError, match="trust_env"):
        Sender("acct", "u", "p", trust_env="no")  # type: ignore[arg-type]


def test_pool_head_absolute_form_only_to_a_proxy() -> None:
    """http:// through a proxy: absolute form with Proxy-Authorization; https://: neither (the
    tunnel's far end is the API, which must never see the proxy's credentials)."""
    proxy = parse_proxy(f"http://{USER}:{PASSWORD}@127.0.0.1:3128", "proxy")
    plain = Pool(URL("http://api.example:8080/v2/m"), proxy=proxy).head({"Accept": "x"})
    assert plain.startswith(
        b"POST http://api.example:8080/v2/m HTTP/1.1\r\nHost: api.example:8080\r\n"
    )
    assert b"Proxy-Authorization: Basic " + secret_texts()[1].encode() in plain
    tunnelled = Pool(URL("https://api.example/v2/m"), proxy=proxy).head({"Accept": "x"})
    assert tunnelled.startswith(b"POST /v2/m HTTP/1.1\r\nHost: api.example\r\n")
    assert b"Proxy-Authorization" not in tunnelled
    user_given = Pool(URL("http://api.example/m")).head({"Proxy-Authorization": "Basic x"})
    assert b"Proxy-Authorization" not in user_given


# -- messages through the fast pool --------------------------------------------------------------


async def test_http_api_through_an_explicit_proxy(sim: Simulator, proxy: ForwardProxy) -> None:
    """proxy= with credentials: absolute-form POSTs with Proxy-Authorization, kept alive."""
    async with sender_for(http_api(sim), proxy=proxy.url(USER, PASSWORD), concurrency=4) as sender:
        results = [r async for r in sender.send_many(request(i) for i in range(40))]
    assert all(r.ok for r in results)
    assert len(sim.accepted) == 40
    target = f"http://{API_HOST}:{sim.port}/api/v2/users/acct/messages"
    assert {(s.method, s.target) for s in proxy.seen} == {("POST", target)}
    assert {s.proxy_authorization for s in proxy.seen} == {f"Basic {secret_texts()[1]}"}
    assert proxy.connections <= 4  # the pool's keep-alive works through the proxy


async def test_https_api_through_a_connect_tunnel_from_the_environment(
    front: TlsFront, sim: Simulator, env_tunnel: ForwardProxy, trusting: ssl.SSLContext
) -> None:
    """HTTPS_PROXY: one CONNECT per connection, then TLS to the API with its name checked."""
    async with sender_for(front.base_url, ssl=trusting, concurrency=3) as sender:
        results = [r async for r in sender.send_many(request(i) for i in range(30))]
    assert all(r.ok for r in results)
    assert len(sim.accepted) == 30
    assert set(env_tunnel.methods) == {"CONNECT"}
    assert 1 <= len(env_tunnel.seen) <= 3
    assert {s.target for s in env_tunnel.seen} == {f"{API_HOST}:{front.port}"}
    assert {s.headers["host"] for s in env_tunnel.seen} == {f"{API_HOST}:{front.port}"}
    assert len(front.headers) == 30
    assert not any("Proxy-Authorization" in h for h in front.headers)


async def test_connect_with_credentials(
    front: TlsFront, sim: Simulator, proxy: ForwardProxy, trusting: ssl.SSLContext
) -> None:
    """An explicit proxy with credentials: CONNECT carries Proxy-Authorization, the API not."""
    await send_one(front.base_url, ssl=trusting, proxy=proxy.url(USER, PASSWORD))
    assert [(s.method, s.proxy_authorization) for s in proxy.seen] == [
        ("CONNECT", f"Basic {secret_texts()[1]}")
    ]
    assert len(sim.accepted) == 1
    assert not any("Proxy-Authorization" in h for h in front.headers)


async def test_tunnel_checks_the_api_certificate_name(
    sim: Simulator, ca: trustme.CA, open_proxy: ForwardProxy, trusting: ssl.SSLContext
) -> None:
    """A certificate for another name, through the tunnel: refused, not retried, not sent."""
    async with (
        tls_front(sim, server_context(ca, "other.bwmsg.test")) as wrong,
        sender_for(wrong.base_url, ssl=trusting, proxy=open_proxy.url()) as sender,
    ):
        with pytest.raises(TransportError, match="TLS") as info:
            await sender.send(request())
    assert info.value.retryable is False
    assert sim.accepted == []
    assert open_proxy.methods == ["CONNECT"]


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
async def test_http_api_through_a_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, sim: Simulator, open_proxy: ForwardProxy, variable: str
) -> None:
    """HTTP_PROXY or ALL_PROXY, either case, carry an http:// API's messages."""
    monkeypatch.setenv(variable, open_proxy.url())
    await send_one(http_api(sim))
    assert open_proxy.methods == ["POST"]
    assert len(sim.accepted) == 1


async def test_no_proxy_goes_direct(
    monkeypatch: pytest.MonkeyPatch, sim: Simulator, env_proxy: ForwardProxy
) -> None:
    """A host named in NO_PROXY is reached directly; another one is not."""
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    await send_one(sim.base_url, 1)  # http://127.0.0.1:port
    assert env_proxy.seen == []
    await send_one(http_api(sim), 2)
    assert env_proxy.methods == ["POST"]
    assert len(sim.accepted) == 2


async def test_trust_env_false_ignores_the_environment(
    sim: Simulator, env_proxy: ForwardProxy
) -> None:
    """trust_env=False: HTTP_PROXY is not used."""
    await send_one(sim.base_url, trust_env=False)
    assert env_proxy.seen == []
    assert len(sim.accepted) == 1


async def test_proxy_refusing_plain_http_is_a_failed_send(
    sim: Simulator, proxy: ForwardProxy
) -> None:
    """Wrong proxy credentials on an http:// API: the proxy's 407 is an ApiError; not sent."""
    async with sender_for(http_api(sim), proxy=proxy.url(USER, "wrong-pass")) as sender:
        with pytest.raises(ApiError) as info:
            await sender.send(request())
    assert info.value.status == 407
    assert sim.accepted == []
    assert "wrong-pass" not in shown(info.value)


# -- refusals ------------------------------------------------------------------------------------


async def test_407_on_connect_is_an_error_and_nothing_is_sent(
    front: TlsFront, sim: Simulator, proxy: ForwardProxy, trusting: ssl.SSLContext
) -> None:
    """CONNECT answered 407: TransportError naming the status, not retried, nothing sent."""
    wrong = "wr0ng-s3cret"
    async with sender_for(front.base_url, ssl=trusting, proxy=proxy.url(USER, wrong)) as sender:
        with pytest.raises(TransportError, match="HTTP 407 Proxy Authentication Required") as info:
            await sender.send(request())
        assert wrong not in repr(sender)
    assert info.value.retryable is False
    assert proxy.methods == ["CONNECT"]  # once: a 407 is not retried
    assert sim.accepted == []
    assert front.headers == []
    text = shown(info.value)
    assert wrong not in text
    assert base64.b64encode(f"{USER}:{wrong}".encode()).decode() not in text


async def test_refusal_reason_is_sanitised(
    sim: Simulator, front: TlsFront, trusting: ssl.SSLContext
) -> None:
    """The proxy's reason phrase reaches the error with its control characters as escapes,
    cut short."""
    reason = b"Go\x1b[31m away\x07 " + b"x" * 300
    async with (
        forward_proxy(refuse=(502, reason)) as refusing,
        sender_for(front.base_url, ssl=trusting, proxy=refusing.url()) as sender,
    ):
        with pytest.raises(TransportError, match="HTTP 502") as info:
            await sender.send(request())
    message = str(info.value)
    assert "Go\\x1b[31m away\\x07 xxx" in message
    assert not any(ord(c) < 32 or ord(c) > 126 for c in message)
    assert message.endswith("...")
    assert "x" * 100 not in message
    assert info.value.retryable is True  # a 502 may pass; the policy retried it
    assert refusing.methods == ["CONNECT", "CONNECT"]
    assert sim.accepted == []


async def test_pool_connect_refused_by_the_proxy_is_a_connect_error(sim: Simulator) -> None:
    """At the pool: a non-2xx CONNECT answer is a ConnectError; 407 is not retryable."""
    async with forward_proxy(refuse=(407, b"Proxy Authentication Required")) as refusing:
        pool = Pool(URL(f"https://{API_HOST}:1/x"), proxy=parse_proxy(refusing.url(), "proxy"))
        try:
            with pytest.raises(ConnectError, match="HTTP 407") as info:
                await pool.post(pool.head({}), b"{}", 5.0)
        finally:
            await pool.close()
    assert info.value.retryable is False
    assert f"refused the tunnel to {API_HOST}:1" in str(info.value)


async def test_proxy_closing_without_answer_is_a_retryable_connect_error() -> None:
    """A proxy that closes on CONNECT without a word: ConnectError, retryable."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Pool(URL("https://api.example/x"), proxy=Proxy("127.0.0.1", port))
    try:
        with pytest.raises(ConnectError, match="without answering CONNECT") as info:
            await pool.post(pool.head({}), b"{}", 5.0)
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
    assert info.value.retryable is True


async def test_unreachable_proxy_names_the_proxy(sim: Simulator) -> None:
    """Nothing listening at the proxy: TransportError naming the proxy, never its password."""
    async with forward_proxy() as gone:
        url = gone.url(USER, PASSWORD)
    async with sender_for(http_api(sim), proxy=url) as sender:
        with pytest.raises(TransportError, match=r"the proxy at 127\.0\.0\.1") as info:
            await sender.send(request())
    assert info.value.retryable is True
    assert PASSWORD not in shown(info.value)


# -- tokens and listing --------------------------------------------------------------------------


async def test_oauth_token_through_the_proxy(sim: Simulator, proxy: ForwardProxy) -> None:
    """OAuth2: the token request goes through the proxy too (absolute form, credentials)."""
    token_url = f"http://{API_HOST}:{sim.port}/api/v1/oauth2/token"
    async with sender_for(
        http_api(sim),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_url=token_url,
        proxy=proxy.url(USER, PASSWORD),
    ) as sender:
        await sender.send(request())
    assert [s.target for s in proxy.seen] == [
        token_url,
        f"http://{API_HOST}:{sim.port}/api/v2/users/acct/messages",
    ]
    assert {s.proxy_authorization for s in proxy.seen} == {f"Basic {secret_texts()[1]}"}
    assert [t.status for t in sim.token_requests] == [200]


async def test_oauth_token_and_listing_through_connect(
    front: TlsFront, sim: Simulator, env_tunnel: ForwardProxy, trusting: ssl.SSLContext
) -> None:
    """HTTPS_PROXY carries the token request and the listing too, through CONNECT."""
    async with front_oauth_sender(front, trusting) as sender:
        results = [r async for r in sender.send_many(request(i) for i in range(5))]
        found = [m async for m in sender.list_messages(page_size=2)]
    assert all(r.ok for r in results)
    assert len(found) == 5
    assert set(env_tunnel.methods) == {"CONNECT"}
    assert len(sim.token_requests) == 1
    assert len(front.headers) == 1 + 5 + 3  # the token, the messages, three pages


async def test_listing_through_an_http_proxy(sim: Simulator, proxy: ForwardProxy) -> None:
    """list_messages on an http:// API: absolute-form GETs through the proxy."""
    async with sender_for(http_api(sim), proxy=proxy.url(USER, PASSWORD)) as sender:
        await sender.send(request())
        found = [m async for m in sender.list_messages()]
    assert len(found) == 1
    assert proxy.methods == ["POST", "GET"]
    assert proxy.seen[1].target.startswith(
        f"http://{API_HOST}:{sim.port}/api/v2/users/acct/messages"
    )


async def test_407_on_connect_for_tokens_and_listing(
    front: TlsFront, sim: Simulator, trusting: ssl.SSLContext
) -> None:
    """aiohttp's CONNECT refused (token, listing): TransportError with a sanitised reason."""
    reason = b"Nope\x1b[0m"
    async with forward_proxy(refuse=(407, reason)) as refusing:
        async with front_oauth_sender(
            front, trusting, proxy=refusing.url(USER, PASSWORD)
        ) as sender:
            with pytest.raises(TransportError, match=r"HTTP 407 Nope\\x1b\[0m") as token_error:
                await sender.send(request())
        async with sender_for(front.base_url, ssl=trusting, proxy=refusing.url()) as sender:
            with pytest.raises(TransportError, match=r"HTTP 407 Nope\\x1b\[0m") as list_error:
                [m async for m in sender.list_messages()]
    for error in (token_error.value, list_error.value):
        assert "\x1b" not in shown(error)
        assert PASSWORD not in shown(error)
    assert list_error.value.retryable is False
    assert front.headers == []


# -- sessions: the user's own, and trace_configs -------------------------------------------------


async def test_a_given_session_is_left_alone(sim: Simulator, env_proxy: ForwardProxy) -> None:
    """session=: the environment's proxy is not forced on it; an explicit proxy= is."""
    async with aiohttp.ClientSession() as session:
        await send_one(sim.base_url, 1, session=session)
        assert env_proxy.seen == []
        await send_one(http_api(sim), 2, session=session, proxy=env_proxy.url())
        assert not session.closed
    assert [(s.method, s.target) for s in env_proxy.seen] == [
        ("POST", f"http://{API_HOST}:{sim.port}/api/v2/users/acct/messages")
    ]
    assert len(sim.accepted) == 2


def test_a_given_session_ignores_the_environment_entirely(monkeypatch: pytest.MonkeyPatch) -> None:
    """session=: an unusable HTTPS_PROXY is no error, and repr names no proxy."""
    monkeypatch.setenv("HTTPS_PROXY", "socks5://p.example:1080")
    session: Any = object()  # never used: nothing is sent
    sender = Sender("acct", "u", "p", session=session)
    assert "proxy=" not in repr(sender)


async def test_trace_configs_send_through_the_proxy(sim: Simulator, proxy: ForwardProxy) -> None:
    """With trace_configs the Sender's own aiohttp session sends, through the proxy."""
    traced: list[str] = []

    async def on_start(session: Any, context: Any, params: aiohttp.TraceRequestStartParams) -> None:
        traced.append(params.method)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with sender_for(
        http_api(sim), trace_configs=[trace], proxy=proxy.url(USER, PASSWORD)
    ) as sender:
        await sender.send(request())
    assert traced == ["POST"]
    assert proxy.methods == ["POST"]
    assert proxy.seen[0].proxy_authorization == f"Basic {secret_texts()[1]}"


# -- secrets -------------------------------------------------------------------------------------


async def test_api_credentials_never_reach_the_proxy_through_a_tunnel(
    front: TlsFront, sim: Simulator, open_proxy: ForwardProxy, trusting: ssl.SSLContext
) -> None:
    """CONNECT from the Sender's own aiohttp session (trace_configs, listing) carries no
    Authorization: aiohttp would send the session's default headers to the proxy."""
    async with sender_for(
        front.base_url,
        ssl=trusting,
        proxy=open_proxy.url(),
        trace_configs=[aiohttp.TraceConfig()],
    ) as sender:
        await sender.send(request())
        assert len([m async for m in sender.list_messages()]) == 1
    api_basic = "Basic " + base64.b64encode(b"user:pass").decode()
    assert open_proxy.methods
    assert set(open_proxy.methods) == {"CONNECT"}
    for seen in open_proxy.seen:
        assert "authorization" not in seen.headers
        assert seen.proxy_authorization is None
    assert [h.get("Authorization") for h in front.headers] == [api_basic, api_basic]


async def test_proxy_credentials_never_shown(
    caplog: pytest.LogCaptureFixture, sim: Simulator, proxy: ForwardProxy
) -> None:
    """repr names the proxy without its credentials; debug logs of failures neither."""
    caplog.set_level(logging.DEBUG)
    sender = sender_for(http_api(sim), proxy=proxy.url(USER, PASSWORD))
    assert f"proxy='127.0.0.1:{proxy.port}'" in repr(sender)
    async with sender:
        sim.faults = sim.faults.__class__(server_error=1.0)
        [result] = [r async for r in sender.send_many([request()])]
    assert not result.ok
    assert result.error is not None
    text = "\n".join([repr(sender), shown(result.error), caplog.text])
    for secret in secret_texts():
        assert secret not in text
