"""The simulator's OAuth2 token endpoint, its bearer tokens, and a Sender using them."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from bwmsg import AuthenticationError, Outcome, Sender
from bwmsg.cli import main
from bwmsg.simulator import Faults, Simulator
from tests.cli_helpers import simulator_command
from tests.senders import request

FORM = {"grant_type": "client_credentials"}
BODY = {"to": ["+19195551212"], "from": "+19195550000", "text": "hi", "applicationId": "app"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


async def ask_token(
    http: aiohttp.ClientSession,
    sim: Simulator,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, dict[str, Any], Any]:
    """POST to the token endpoint (the right client and form unless told); status, body, headers."""
    if headers is None:
        headers = basic(sim.client_id, sim.client_secret)
    if "data" not in kwargs and "json" not in kwargs:
        kwargs["data"] = FORM
    async with http.post(sim.token_url, headers=headers, **kwargs) as response:
        return response.status, await response.json(), response.headers


async def send_with(http: aiohttp.ClientSession, url: str, authorization: str) -> int:
    """POST one valid message with this Authorization header; the status answered."""
    async with http.post(
        f"{url}/users/1/messages",
        data=json.dumps(BODY),
        headers={"Authorization": authorization, "Content-Type": "application/json"},
    ) as response:
        await response.read()
        return response.status


def oauth_sender(sim: Simulator, **kwargs: Any) -> Sender:
    options: dict[str, Any] = {
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "token_url": sim.token_url,
        "base_url": sim.base_url,
        "application_id": "app",
    }
    options.update(kwargs)
    return Sender("9900000", **options)


# -- the token endpoint, raw --------------------------------------------------------------------


async def test_token_url(sim: Simulator) -> None:
    """token_url is Bandwidth's token path on the simulator's host and port."""
    assert sim.token_url == f"http://127.0.0.1:{sim.port}/api/v1/oauth2/token"


async def test_token_issued(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """The right client and grant get 200 with a bearer token, its lifetime, and no-store."""
    status, body, headers = await ask_token(http, sim)
    assert status == 200
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", body["access_token"])
    assert headers["Cache-Control"] == "no-store"
    [record] = sim.token_requests
    assert record.status == 200
    assert record.error is None
    assert record.client_id == "client"
    assert record.form == FORM
    assert record.content_type == "application/x-www-form-urlencoded"
    assert record.access_token == body["access_token"]
    assert body["access_token"] not in repr(record)
    assert "Basic" not in repr(record)


async def test_tokens_are_unique(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """Each token request gets a new token."""
    tokens = {(await ask_token(http, sim))[1]["access_token"] for _ in range(20)}
    assert len(tokens) == 20


async def test_fractional_lifetime_is_announced(http: aiohttp.ClientSession) -> None:
    """A fractional token_lifetime is announced as such in expires_in."""
    async with Simulator(token_lifetime=0.25) as sim:
        _, body, _ = await ask_token(http, sim)
    assert body["expires_in"] == 0.25


@pytest.mark.parametrize(
    "headers",
    [
        basic("client", "wrong"),
        basic("someone", "secret"),
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!not-base64!!"},
    ],
    ids=["wrong-secret", "wrong-id", "none", "bearer", "garbled"],
)
async def test_wrong_client_is_401_invalid_client(
    sim: Simulator, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """Missing or wrong client credentials get 401 invalid_client with a Basic challenge."""
    status, body, answer_headers = await ask_token(http, sim, headers=headers)
    assert status == 401
    assert body == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }
    assert answer_headers["WWW-Authenticate"].startswith("Basic")
    assert [r.error for r in sim.token_requests] == ["invalid_client"]
    assert sim.token_requests[0].access_token is None


async def test_wrong_grant_is_400_unsupported_grant_type(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A grant other than client_credentials gets 400 unsupported_grant_type."""
    status, body, _ = await ask_token(http, sim, data={"grant_type": "password"})
    assert status == 400
    assert body["error"] == "unsupported_grant_type"
    assert body["error_description"]


async def test_missing_grant_is_400_invalid_request(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A form without grant_type gets 400 invalid_request."""
    status, body, _ = await ask_token(http, sim, data={"scope": "x"})
    assert status == 400
    assert body["error"] == "invalid_request"


async def test_json_body_is_400_invalid_request(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A body that is not form-encoded gets 400 invalid_request, even with the right grant."""
    status, body, _ = await ask_token(http, sim, json=FORM)
    assert status == 400
    assert body == {
        "error": "invalid_request",
        "error_description": "The body must be application/x-www-form-urlencoded.",
    }
    assert sim.token_requests[0].form == {}


async def test_token_failures_are_answered_in_order(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """token_failures answers the next token requests with those statuses, then issues again."""
    sim.token_failures = [503, 500, 429]
    answers = [await ask_token(http, sim) for _ in range(4)]
    assert [(status, body.get("error")) for status, body, _ in answers] == [
        (503, "temporarily_unavailable"),
        (500, "server_error"),
        (429, "temporarily_unavailable"),
        (200, None),
    ]
    assert sim.token_failures == []
    assert [r.status for r in sim.token_requests] == [503, 500, 429, 200]


@pytest.mark.parametrize("bad", [[404], [200], ["500"], [True]])
def test_token_failures_must_be_429_or_5xx(bad: list[Any]) -> None:
    """token_failures takes only 429 and 5xx statuses."""
    with pytest.raises(ValueError, match="token_failures"):
        Simulator(token_failures=bad)


@pytest.mark.parametrize(
    "kwargs",
    [{"token_lifetime": 0}, {"token_lifetime": -1.0}, {"client_id": "a:b"}, {"client_secret": 1}],
)
def test_bad_oauth_settings_are_refused(kwargs: dict[str, Any]) -> None:
    """A lifetime that is not > 0, or client credentials that cannot be sent, are refused."""
    with pytest.raises(ValueError, match=r"token_lifetime|client"):
        Simulator(**kwargs)


# -- bearer tokens on the messages endpoints ----------------------------------------------------


async def test_bearer_token_is_accepted_on_both_paths(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A live token is accepted on the messages endpoint and its legacy path."""
    _, body, _ = await ask_token(http, sim)
    bearer = f"Bearer {body['access_token']}"
    assert await send_with(http, sim.base_url, bearer) == 202
    assert await send_with(http, sim.legacy_base_url, bearer) == 202
    assert len(sim.accepted) == 2


async def test_basic_auth_still_works(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """Basic auth keeps working on the messages endpoints alongside bearer tokens."""
    await ask_token(http, sim)
    authorization = aiohttp.encode_basic_auth(sim.username, sim.password)
    assert await send_with(http, sim.base_url, authorization) == 202


@pytest.mark.parametrize(
    "authorization",
    ["Bearer unknown-token", "Bearer ", "Bearer", "bearer x"],
)
async def test_unknown_token_is_401(
    sim: Simulator, http: aiohttp.ClientSession, authorization: str
) -> None:
    """A token the simulator never issued gets 401 unauthorized with a Bearer challenge."""
    async with http.post(
        f"{sim.base_url}/users/1/messages",
        data=json.dumps(BODY),
        headers={"Authorization": authorization, "Content-Type": "application/json"},
    ) as response:
        assert response.status == 401
        assert await response.json() == {
            "type": "unauthorized",
            "description": "Authentication Failed",
        }
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert sim.accepted == []
    assert sim.counts["401"] == 1


async def test_expired_token_is_401(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """A token past its lifetime gets 401; a lifetime change applies to tokens issued later."""
    _, live, _ = await ask_token(http, sim)
    sim.token_lifetime = 1e-6  # expired by the time any request can bear it
    _, expired, _ = await ask_token(http, sim)
    assert expired["expires_in"] == 1e-6
    assert await send_with(http, sim.base_url, f"Bearer {expired['access_token']}") == 401
    assert await send_with(http, sim.base_url, f"Bearer {live['access_token']}") == 202


async def test_revoke_tokens(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """revoke_tokens() invalidates every issued token; tokens issued afterwards work."""
    old = [(await ask_token(http, sim))[1]["access_token"] for _ in range(3)]
    assert sim.revoke_tokens() == 3
    for token in old:
        assert await send_with(http, sim.base_url, f"Bearer {token}") == 401
    _, new, _ = await ask_token(http, sim)
    assert await send_with(http, sim.base_url, f"Bearer {new['access_token']}") == 202


async def test_reset_forgets_token_requests_but_not_tokens(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """reset() clears the token request log; issued tokens stay valid."""
    _, body, _ = await ask_token(http, sim)
    sim.reset()
    assert sim.token_requests == []
    assert await send_with(http, sim.base_url, f"Bearer {body['access_token']}") == 202


# -- a Sender against it ------------------------------------------------------------------------


async def test_send_many_across_several_expiries() -> None:
    """3,000 messages while the token expires several times: each sent once, one renewal each."""
    lifetime = 0.4
    async with (
        Simulator(token_lifetime=lifetime, faults=Faults(latency=0.02)) as sim,
        oauth_sender(sim, concurrency=50) as sender,
    ):
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = [r async for r in sender.send_many(request(i) for i in range(3000))]
        elapsed = loop.time() - started
    assert all(r.outcome is Outcome.SENT for r in results)
    assert len(sim.accepted) == 3000
    assert sim.duplicates() == {}
    assert {r.text for r in sim.accepted} == {f"m{i}" for i in range(3000)}
    # 60 rounds of 50 requests at 20 ms: at least 1.2 s, three lifetimes of the token.
    assert elapsed >= 1.2
    issued = len(sim.token_requests)
    assert all(r.status == 200 for r in sim.token_requests)
    # Each token serves at most its lifetime, so the run needed one per lifetime at least;
    # the client renews at half-life, so about one per half-life, never one per waiting request.
    assert elapsed / lifetime - 1 <= issued <= elapsed / (lifetime / 2) + 2


async def test_token_revoked_mid_run_is_renewed_after_401() -> None:
    """A token revoked mid-run: 401s for the requests in flight, one renewal, all sent once."""
    results = []
    async with (
        Simulator(faults=Faults(latency=0.002)) as sim,
        oauth_sender(sim, concurrency=10) as sender,
    ):
        async for result in sender.send_many(request(i) for i in range(1000)):
            results.append(result)
            if len(results) == 300:
                assert sim.revoke_tokens() == 1
    assert all(r.outcome is Outcome.SENT for r in results)
    assert len(sim.token_requests) == 2
    assert 1 <= sim.counts["401"] <= 10  # at most the requests in flight met the dead token
    assert len(sim.accepted) == 1000
    assert sim.duplicates() == {}


async def test_wrong_client_credentials_fail_fast() -> None:
    """Refused client credentials fail 200 messages at once, after a single token request."""
    async with Simulator() as sim, oauth_sender(sim, client_secret="wrong") as sender:
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = [r async for r in sender.send_many(request(i) for i in range(200))]
        elapsed = loop.time() - started
        with pytest.raises(AuthenticationError, match="Client authentication failed"):
            await sender.send(request(1))
    assert len(results) == 200
    assert all(r.outcome is Outcome.FAILED for r in results)
    assert all(isinstance(r.error, AuthenticationError) for r in results)
    assert all(r.attempts == 0 for r in results)
    assert elapsed < 1.0  # no backoff: the default policy would wait 0.5 s and more
    assert [(r.status, r.error) for r in sim.token_requests] == [(401, "invalid_client")]
    assert sim.accepted == []
    assert not sim.counts  # the messages endpoint never saw a request


# -- the command --------------------------------------------------------------------------------


async def test_cli_prints_token_url_and_client_credentials() -> None:
    """`bwmsg simulator` prints the token URL and client credentials, and issues tokens."""
    options = ("--client-id", "cid", "--client-secret", "csecret", "--token-lifetime", "90")
    async with simulator_command(*options) as stdout:
        lines = [(await asyncio.wait_for(stdout.readline(), 20)).decode() for _ in range(5)]
        text = "".join(lines)
        match = re.search(r"token URL: +(http://127\.0\.0\.1:\d+/api/v1/oauth2/token)", text)
        assert match, text
        assert "client_id=cid client_secret=csecret (tokens live 90s)" in text
        async with (
            aiohttp.ClientSession() as http,
            http.post(match.group(1), data=FORM, headers=basic("cid", "csecret")) as response,
        ):
            assert response.status == 200
            assert (await response.json())["expires_in"] == 90


def test_cli_refuses_a_bad_token_lifetime() -> None:
    """A token lifetime that is not > 0 is a usage error."""
    result = CliRunner().invoke(main, ["simulator", "--token-lifetime", "0"])
    assert result.exit_code == 2
    assert "token_lifetime" in result.output
