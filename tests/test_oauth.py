"""OAuth2 client credentials: token fetch, sharing, renewal, revocation and refusal."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bwmsg import AuthenticationError, MessageRequest, Outcome, RetryPolicy, Sender

CLIENT_ID, CLIENT_SECRET = "client-1", "very-secret-value"


class TokenServer:
    """A token endpoint and a messages endpoint that only takes live bearer tokens."""

    def __init__(self, lifetime: float = 3600.0, latency: float = 0.0) -> None:
        self.lifetime = lifetime
        self.latency = latency
        self.token_requests: list[dict[str, Any]] = []
        self.tokens: dict[str, float] = {}  # token -> expiry (loop time)
        self.accepted: list[dict[str, Any]] = []
        self.unauthorized = 0
        self.refuse_all = False  # answer 401 to every message, whatever its token
        self.token_failures: list[int] = []  # statuses to answer the next token requests with
        self.base_url = ""
        self.token_url = ""

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.token_requests.append(
            {
                "auth": request.headers.get("Authorization"),
                "form": dict(form),
                "type": request.content_type,
            }
        )
        if self.token_failures:
            return web.json_response({"error": "server_error"}, status=self.token_failures.pop(0))
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response(
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                status=401,
            )
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = f"tok-{len(self.token_requests)}"
        self.tokens[token] = asyncio.get_running_loop().time() + self.lifetime
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}
        )

    def revoke_all(self) -> None:
        self.tokens.clear()

    async def messages(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        expiry = self.tokens.get(token)
        if (
            self.refuse_all
            or not auth.startswith("Bearer ")
            or expiry is None
            or expiry <= asyncio.get_running_loop().time()
        ):
            self.unauthorized += 1
            return web.json_response(
                {"type": "unauthorized", "description": "Authentication failed"}, status=401
            )
        body = await request.json()
        if self.latency:
            await asyncio.sleep(self.latency)
        self.accepted.append(body)
        return web.json_response({"id": f"m{len(self.accepted)}", "to": body["to"]}, status=202)


async def start(state: TokenServer) -> TestServer:
    app = web.Application()
    app.router.add_post("/api/v1/oauth2/token", state.token)
    app.router.add_post("/api/v2/users/{a}/messages", state.messages)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.base_url = str(server.make_url("/api/v2"))
    state.token_url = str(server.make_url("/api/v1/oauth2/token"))
    return server


@pytest.fixture
async def tokens() -> AsyncIterator[TokenServer]:
    """A token server with long-lived tokens."""
    state = TokenServer()
    server = await start(state)
    yield state
    await server.close()


def oauth_sender(state: TokenServer, secret: str = CLIENT_SECRET, **kwargs: Any) -> Sender:
    options: dict[str, Any] = {
        "application_id": "app",
        "base_url": state.base_url,
        "token_url": state.token_url,
        "retry": RetryPolicy(base_delay=0),
    }
    options.update(kwargs)
    return Sender("acct", client_id=CLIENT_ID, client_secret=secret, **options)


def request(i: int) -> MessageRequest:
    return MessageRequest(to=f"+1919{i:07d}", from_="+19195550000", text=f"m{i}")


async def test_token_request_and_bearer_header(tokens: TokenServer) -> None:
    """The token is asked for with a form POST and Basic auth, then sent as a bearer token."""
    async with oauth_sender(tokens) as sender:
        message = await sender.send(request(1))
    assert message.id == "m1"
    [asked] = tokens.token_requests
    assert asked["type"] == "application/x-www-form-urlencoded"
    assert asked["form"] == {"grant_type": "client_credentials"}
    assert asked["auth"] == "Basic " + base64.b64encode(b"client-1:very-secret-value").decode()


async def test_one_token_for_many_concurrent_requests(tokens: TokenServer) -> None:
    """Fifty requests starting together share one token request."""
    async with oauth_sender(tokens, concurrency=50) as sender:
        results = [r async for r in sender.send_many(request(i) for i in range(500))]
    assert all(r.ok for r in results)
    assert len(tokens.token_requests) == 1


async def test_token_renewed_on_expiry_once_per_expiry() -> None:
    """A run whose token expires several times renews it once per expiry, sending each once."""
    state = TokenServer(lifetime=0.4, latency=0.005)
    server = await start(state)
    try:
        async with oauth_sender(state, concurrency=50) as sender:
            loop = asyncio.get_running_loop()
            started = loop.time()
            results = [r async for r in sender.send_many(request(i) for i in range(3000))]
            elapsed = loop.time() - started
    finally:
        await server.close()
    assert all(r.ok for r in results)
    assert len(state.accepted) == 3000
    assert len({m["text"] for m in state.accepted}) == 3000  # nobody texted twice
    # Renewed at half of 0.4 s: about elapsed / 0.2 tokens, never one per waiting request.
    assert elapsed > 0.5, "the run was too short to see the token expire"
    assert 2 <= len(state.token_requests) <= elapsed / 0.2 + 2


async def test_revoked_token_is_renewed_after_401(tokens: TokenServer) -> None:
    """A token revoked mid-run brings a 401, one renewal, and the message is still sent."""
    async with oauth_sender(tokens, concurrency=10) as sender:
        first = [r async for r in sender.send_many(request(i) for i in range(100))]
        tokens.revoke_all()
        second = [r async for r in sender.send_many(request(i) for i in range(100, 200))]
    assert all(r.ok for r in first + second)
    assert len(tokens.token_requests) == 2
    assert 1 <= tokens.unauthorized <= 10  # at most the requests in flight met the dead token
    assert len(tokens.accepted) == 200


async def test_401_retry_happens_only_once(tokens: TokenServer) -> None:
    """If a fresh token is refused too, the 401 is final (no loop of renewals)."""
    tokens.refuse_all = True
    async with oauth_sender(tokens) as sender:
        with pytest.raises(AuthenticationError):
            await sender.send(request(1))
    assert tokens.unauthorized == 2
    assert len(tokens.token_requests) == 2


async def test_wrong_client_credentials_fail_fast(tokens: TokenServer) -> None:
    """Refused client credentials fail every message at once, after one token request."""
    async with oauth_sender(tokens, secret="wrong") as sender:
        results = [r async for r in sender.send_many(request(i) for i in range(200))]
        with pytest.raises(AuthenticationError, match="Client authentication failed"):
            await sender.send(request(1))
    assert all(r.outcome is Outcome.FAILED for r in results)
    assert all(isinstance(r.error, AuthenticationError) for r in results)
    assert all(r.attempts == 0 for r in results)
    assert len(tokens.token_requests) == 1
    assert tokens.accepted == []


async def test_token_endpoint_5xx_is_retried(tokens: TokenServer) -> None:
    """A token endpoint that fails with 503 is asked again under the retry policy."""
    tokens.token_failures = [503, 502]
    async with oauth_sender(tokens) as sender:
        await sender.send(request(1))
    assert len(tokens.token_requests) == 3


async def test_token_endpoint_down_is_an_authentication_error(tokens: TokenServer) -> None:
    """A token endpoint failing past the attempts gives AuthenticationError, not sent."""
    tokens.token_failures = [500] * 10
    async with oauth_sender(tokens, retry=RetryPolicy(base_delay=0, max_attempts=3)) as sender:
        with pytest.raises(AuthenticationError, match="OAuth2 token request failed"):
            await sender.send(request(1))
    assert len(tokens.token_requests) == 3
    assert tokens.accepted == []


async def test_secret_and_token_never_shown(
    tokens: TokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    """repr, logs and exceptions never contain the client secret or the token."""
    caplog.set_level(logging.DEBUG)
    async with oauth_sender(tokens, secret="wrong-secret-xyz") as bad:
        assert "wrong-secret-xyz" not in repr(bad)
        with pytest.raises(AuthenticationError) as info:
            await bad.send(request(1))
    async with oauth_sender(tokens) as good:
        await good.send(request(2))
        tokens.revoke_all()
        await good.send(request(3))
        shown = repr(good)
    everything = caplog.text + str(info.value) + repr(info.value) + shown
    for secret in ("wrong-secret-xyz", CLIENT_SECRET, *tokens.tokens, "tok-2", "tok-3"):
        assert secret not in everything
    assert "client_id='client-1'" in shown


def test_from_env_with_client_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """BW_CLIENT_ID and BW_CLIENT_SECRET make an OAuth2 Sender."""
    monkeypatch.setenv("BW_ACCOUNT_ID", "acct")
    monkeypatch.delenv("BW_USERNAME", raising=False)
    monkeypatch.delenv("BW_PASSWORD", raising=False)
    monkeypatch.setenv("BW_CLIENT_ID", "cid")
    monkeypatch.setenv("BW_CLIENT_SECRET", "csecret")
    sender = Sender.from_env()
    assert "auth=oauth2" in repr(sender)
    assert "csecret" not in repr(sender)


def test_from_env_arguments_replace_the_other_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Basic credentials passed as arguments win over OAuth2 ones from the environment."""
    monkeypatch.setenv("BW_ACCOUNT_ID", "acct")
    monkeypatch.setenv("BW_CLIENT_ID", "cid")
    monkeypatch.setenv("BW_CLIENT_SECRET", "csecret")
    sender = Sender.from_env(username="u", password="p")
    assert "auth=basic" in repr(sender)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"client_id": "c"}, "both client_id and client_secret"),
        ({"client_secret": "s"}, "both client_id and client_secret"),
        ({"client_id": "c", "client_secret": "s", "token_url": "nope"}, "token_url"),
    ],
)
def test_bad_oauth_settings(kwargs: dict[str, str], match: str) -> None:
    """Half a pair of client credentials, or a bad token URL, is refused at construction."""
    with pytest.raises(ValueError, match=match):
        Sender("acct", **kwargs)  # type: ignore[arg-type]
