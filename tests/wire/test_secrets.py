"""Secrets and privacy: nothing secret in logs or errors, numbers masked, TLS verified."""

from __future__ import annotations

import base64
import csv
import hmac
import logging
import ssl
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from bwmsg import (
    AuthenticationError,
    MessageRequest,
    RequestValidationError,
    RetryPolicy,
    Sender,
    TransportError,
)
from bwmsg._privacy import log_full_numbers, mask_number, mask_numbers_in
from bwmsg.callbacks import CallbackReceiver
from bwmsg.campaign import CampaignProgress, Template, run_campaign
from bwmsg.simulator import Faults, Simulator

PASSWORD = "pa55-Wörd-s3cret"
CLIENT_SECRET = "cl1ent-s3cret-value"
N = 300

FAULTS = Faults(
    rate_limited=0.1,
    server_error=0.05,
    drop_before_accept=0.02,
    drop_after_accept=0.02,
    latency=0.01,
)


def numbers(n: int) -> list[str]:
    return [f"+1919{i:07d}" for i in range(n)]


def write_recipients(path: Path, n: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["to", "name"])
        writer.writerows([number, f"P{i}"] for i, number in enumerate(numbers(n)))
        writer.writerow(["555-0000", "bad"])  # an invalid row is logged too
    return path


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record, formatted as a handler would, with its traceback."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def assert_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret leaked: {secret[:4]}..."


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture everything at DEBUG, the root logger and bwmsg's."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="bwmsg")
    return caplog


@pytest.mark.parametrize("auth", ["basic", "oauth2"])
async def test_debug_logs_of_a_campaign_hold_no_secret_and_no_number(
    tmp_path: Path, debug_logs: pytest.LogCaptureFixture, auth: str
) -> None:
    """A whole campaign logged at DEBUG: no password, secret, token or full number appears."""
    recipients = write_recipients(tmp_path / "r.csv", N)
    async with Simulator(
        password=PASSWORD, client_secret=CLIENT_SECRET, token_lifetime=0.2, faults=FAULTS, seed=3
    ) as sim:
        credentials: dict[str, Any] = (
            {"username": sim.username, "password": PASSWORD}
            if auth == "basic"
            else {
                "client_id": sim.client_id,
                "client_secret": CLIENT_SECRET,
                "token_url": sim.token_url,
            }
        )

        def revoke(_: CampaignProgress) -> None:
            sim.revoke_tokens()

        async with Sender(
            "9900000",
            application_id="app",
            base_url=sim.base_url,
            concurrency=10,
            retry=RetryPolicy(base_delay=0, max_attempts=3),
            **credentials,
        ) as sender:
            summary = await run_campaign(
                sender,
                recipients,
                tmp_path / "j.db",
                Template(text="Hi {name}", from_="+19195550000"),
                progress=revoke,  # 401s: the token is renewed
            )
            shown = repr(sender)
        tokens = [t.access_token for t in sim.token_requests if t.access_token]
    assert summary.complete
    assert summary.unknown  # faults were met, and logged
    assert summary.invalid  # so was a bad row
    text = log_text(debug_logs) + shown
    secrets = [PASSWORD, CLIENT_SECRET, basic(sim.username, PASSWORD)]
    secrets += [basic(sim.client_id, CLIENT_SECRET), *tokens]
    if auth == "oauth2":
        assert len(tokens) >= 2  # renewed during the run: several tokens to look for
    assert_no_secret(text, secrets)
    for number in numbers(N):
        assert number not in text, f"{number} logged in full"
        assert number[1:] not in text
    assert mask_number(numbers(N)[7]) in text  # the rows are logged, masked
    assert "invalid" in text


async def test_full_numbers_are_logged_when_asked(
    tmp_path: Path, debug_logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BWMSG_LOG_FULL_NUMBERS=1 (or log_full_numbers(True)) turns masking off."""
    recipients = write_recipients(tmp_path / "r.csv", 20)
    monkeypatch.setenv("BWMSG_LOG_FULL_NUMBERS", "1")
    async with Simulator() as sim, sim_sender(sim) as sender:
        await run_campaign(
            sender, recipients, tmp_path / "j.db", Template(text="Hi", from_="+19195550000")
        )
    assert numbers(20)[3] in log_text(debug_logs)
    monkeypatch.delenv("BWMSG_LOG_FULL_NUMBERS")
    assert mask_numbers_in("to +19195551212") == "to +1919555****"
    log_full_numbers(True)
    try:
        assert mask_numbers_in("to +19195551212") == "to +19195551212"
    finally:
        log_full_numbers(None)
    assert mask_numbers_in("to +19195551212") == "to +1919555****"


def sim_sender(sim: Simulator, **kwargs: Any) -> Sender:
    options: dict[str, Any] = {
        "application_id": "app",
        "base_url": sim.base_url,
        "retry": RetryPolicy(base_delay=0, max_attempts=2),
    }
    options.update(kwargs)
    return Sender("9900000", sim.username, options.pop("password", sim.password), **options)


def error_texts(error: BaseException) -> str:
    """str, repr and the whole formatted traceback (causes included) of an error."""
    return "\n".join(
        [str(error), repr(error), *traceback.format_exception(type(error), error, None)]
    )


async def test_errors_carry_no_secret(debug_logs: pytest.LogCaptureFixture) -> None:
    """AuthenticationError (Basic, OAuth2) and RequestValidationError hold no credential."""
    request = MessageRequest(to="+19195551212", from_="+19195550000", text="hi")
    async with Simulator(password=PASSWORD, client_secret=CLIENT_SECRET) as sim:
        wrong = PASSWORD + "-wrong"
        async with sim_sender(sim, password=wrong) as sender:
            with pytest.raises(AuthenticationError) as basic_error:
                await sender.send(request)
        async with Sender(
            "9900000",
            client_id=sim.client_id,
            client_secret=CLIENT_SECRET + "-wrong",
            token_url=sim.token_url,
            application_id="app",
            base_url=sim.base_url,
        ) as sender:
            with pytest.raises(AuthenticationError) as oauth_error:
                await sender.send(request)
        async with Sender(
            "9900000", sim.username, PASSWORD, base_url=sim.base_url
        ) as sender:  # no application id anywhere
            with pytest.raises(RequestValidationError) as invalid:
                await sender.send(request)
    secrets = [PASSWORD, wrong, CLIENT_SECRET, basic(sim.username, PASSWORD)]
    secrets += [basic(sim.username, wrong), basic(sim.client_id, CLIENT_SECRET + "-wrong")]
    for error in (basic_error.value, oauth_error.value, invalid.value):
        assert_no_secret(error_texts(error), secrets)
    assert_no_secret(log_text(debug_logs), secrets)


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture
async def https_server(ca: trustme.CA) -> AsyncIterator[tuple[str, list[bytes]]]:
    """An HTTPS look-alike on 127.0.0.1 with a certificate from ``ca``: (base URL, bodies)."""
    bodies: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.json_response(
            {"id": "m-1", "to": ["+19195551212"], "from": "+19195550000", "text": "hi"},
            status=202,
        )

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    app = web.Application()
    app.router.add_post("/api/v2/users/{account}/messages", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}/api/v2", bodies
    finally:
        await runner.cleanup()


async def test_tls_is_verified_by_default(
    https_server: tuple[str, list[bytes]], debug_logs: pytest.LogCaptureFixture
) -> None:
    """An untrusted certificate fails with TransportError at once: nothing is sent."""
    base_url, bodies = https_server
    request = MessageRequest(to="+19195551212", from_="+19195550000", text="hi")
    async with Sender(
        "9900000",
        "user",
        PASSWORD,
        application_id="app",
        base_url=base_url,
        retry=RetryPolicy(base_delay=0),
        timeout=10,
    ) as sender:
        with pytest.raises(TransportError, match="certificate") as info:
            await sender.send(request)
        [result] = [r async for r in sender.send_many([request])]
    assert bodies == []  # the request never left the client
    assert not info.value.retryable
    assert result.attempts == 1  # retrying cannot make the certificate trusted
    assert PASSWORD not in log_text(debug_logs)


async def test_tls_with_a_given_ssl_context(
    https_server: tuple[str, list[bytes]], ca: trustme.CA
) -> None:
    """Sender(ssl=context) trusting the private CA sends over TLS."""
    base_url, bodies = https_server
    context = ssl.create_default_context()
    ca.configure_trust(context)
    request = MessageRequest(to="+19195551212", from_="+19195550000", text="hi")
    async with Sender(
        "9900000", "user", PASSWORD, application_id="app", base_url=base_url, ssl=context
    ) as sender:
        message = await sender.send(request)
    assert message.id == "m-1"
    assert len(bodies) == 1


# -- the callback receiver -----------------------------------------------------------------------


async def test_callback_auth_is_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The receiver checks Basic credentials with hmac.compare_digest, right or wrong."""
    calls: list[tuple[Any, Any]] = []
    real: Callable[[Any, Any], bool] = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)

    async def on_event(event: object) -> None:
        return None

    receiver = CallbackReceiver(on_event, username="cb", password=PASSWORD)
    app = web.Application()
    receiver.setup(app, "/callbacks")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/callbacks"
    try:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for password in (PASSWORD, PASSWORD[:-1] + "x", ""):
                async with session.post(
                    url,
                    json=[],
                    headers={"Authorization": f"Basic {basic('cb', password)}"},
                ) as response:
                    statuses.append(response.status)
    finally:
        await runner.cleanup()
    assert statuses[1:] == [401, 401]
    assert statuses[0] != 401
    assert len(calls) == 3  # every request, right or wrong, went through compare_digest
