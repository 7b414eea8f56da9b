"""OAuth2 client credentials: token fetch, sharing, renewal, revocation and refusal.

Against the simulator's token endpoint. Long runs across several expiries, a revocation in
the middle of a run and refused client credentials are in tests/simulator/test_simulator_oauth.py.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bwmsg import AuthenticationError, RetryPolicy, Sender
from bwmsg.simulator import Simulator
from tests.senders import request, sender_for
from tests.servers import Reply, Scripted

CLIENT_ID, CLIENT_SECRET = "client-1", "very-secret-value"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator with long-lived tokens for CLIENT_ID and CLIENT_SECRET."""
    async with Simulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as simulator:
        yield simulator


def oauth_sender(sim: Simulator, secret: str = CLIENT_SECRET, **kwargs: Any) -> Sender:
    """A :func:`tests.senders.sender_for` ``sim`` with OAuth2 client CLIENT_ID."""
    options = {"client_id": CLIENT_ID, "client_secret": secret, "token_url": sim.token_url}
    return sender_for(sim.base_url, **{**options, **kwargs})


async def test_token_request_and_bearer_header(sim: Simulator) -> None:
    """The token is asked for with a form POST and Basic auth, then sent as a bearer token."""
    async with oauth_sender(sim) as sender:
        message = await sender.send(request(1))
    [asked] = sim.token_requests
    assert asked.content_type == "application/x-www-form-urlencoded"
    assert asked.form == {"grant_type": "client_credentials"}
    assert (
        asked.authorization == "Basic " + base64.b64encode(b"client-1:very-secret-value").decode()
    )
    # The simulator takes Basic auth or its own live tokens: no Basic here, so the token.
    assert [m.id for m in sim.accepted] == [message.id]
    assert sim.counts["401"] == 0


async def test_one_token_for_many_concurrent_requests(sim: Simulator) -> None:
    """Fifty requests starting together share one token request."""
    async with oauth_sender(sim, concurrency=50) as sender:
        results = [r async for r in sender.send_many(request(i) for i in range(500))]
    assert all(r.ok for r in results)
    assert len(sim.token_requests) == 1


async def test_revoked_token_is_renewed_after_401(sim: Simulator) -> None:
    """A token revoked between runs brings a 401, one renewal, and the message is still sent."""
    async with oauth_sender(sim, concurrency=10) as sender:
        first = [r async for r in sender.send_many(request(i) for i in range(100))]
        sim.revoke_tokens()
        second = [r async for r in sender.send_many(request(i) for i in range(100, 200))]
    assert all(r.ok for r in first + second)
    assert len(sim.token_requests) == 2
    assert 1 <= sim.counts["401"] <= 10  # at most the requests in flight met the dead token
    assert len(sim.accepted) == 200


async def test_401_retry_happens_only_once() -> None:
    """If a renewed token is refused too, the 401 is final (no loop of renewals)."""
    # Tokens living a microsecond are dead before any request can bear them.
    async with (
        Simulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_lifetime=1e-6) as sim,
        oauth_sender(sim) as sender,
    ):
        with pytest.raises(AuthenticationError):
            await sender.send(request(1))
    assert sim.counts["401"] == 2
    assert len(sim.token_requests) == 2
    assert sim.accepted == []


async def test_token_endpoint_5xx_is_retried(sim: Simulator) -> None:
    """A token endpoint that fails with 503 is asked again under the retry policy."""
    sim.token_failures = [503, 502]
    async with oauth_sender(sim) as sender:
        await sender.send(request(1))
    assert [r.status for r in sim.token_requests] == [503, 502, 200]
    assert len(sim.accepted) == 1


async def test_token_endpoint_down_is_an_authentication_error(sim: Simulator) -> None:
    """A token endpoint failing past the attempts gives AuthenticationError, not sent."""
    sim.token_failures = [500] * 10
    async with oauth_sender(sim, retry=RetryPolicy(base_delay=0, max_attempts=3)) as sender:
        with pytest.raises(AuthenticationError, match="OAuth2 token request failed"):
            await sender.send(request(1))
    assert len(sim.token_requests) == 3
    assert sim.accepted == []


async def test_secret_and_token_never_shown(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """repr, logs and exceptions never contain the client secret or the token."""
    caplog.set_level(logging.DEBUG)
    async with oauth_sender(sim, secret="wrong-secret-xyz") as bad:
        assert "wrong-secret-xyz" not in repr(bad)
        with pytest.raises(AuthenticationError) as info:
            await bad.send(request(1))
    async with oauth_sender(sim) as good:
        await good.send(request(2))
        sim.revoke_tokens()
        await good.send(request(3))
        shown = repr(good)
    tokens = [r.access_token for r in sim.token_requests if r.access_token]
    assert len(tokens) == 2
    everything = caplog.text + str(info.value) + repr(info.value) + shown
    for secret in ("wrong-secret-xyz", CLIENT_SECRET, *tokens):
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


async def test_token_that_cannot_be_a_header_is_refused(server: Scripted) -> None:
    """A token with a line break in it is an AuthenticationError; no message goes out."""
    server.then(Reply(200, {"access_token": "abc\r\nX-Injected: 1", "expires_in": 3600}))
    async with Sender(
        "acct",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        application_id="app",
        base_url=server.base_url,
        token_url=server.base_url.replace("/api/v2", "/oauth2/token"),
        retry=RetryPolicy(base_delay=0),
    ) as sender:
        with pytest.raises(AuthenticationError, match="cannot be sent in a header") as info:
            await sender.send(request(1))
    assert info.value.type == "invalid-token-response"
    assert [r.path for r in server.requests] == ["/oauth2/token"]
