"""Every body the simulator answers or posts validates against bandwidth.yml's schemas."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bwmsg.simulator import Callbacks, Faults, Simulator
from tests import spec
from tests.senders import JSON_AUTH, VALID


@pytest.fixture(autouse=True)
def _need_spec() -> None:
    if spec.spec_path() is None:
        pytest.skip("bandwidth.yml not found: set BWMSG_SPEC or put it at ../shared/specs/")


async def answer(
    http: aiohttp.ClientSession,
    sim: Simulator,
    body: Any = VALID,
    headers: dict[str, str] = JSON_AUTH,
) -> tuple[int, Any]:
    async with http.post(
        f"{sim.base_url}/users/9900000/messages", data=json.dumps(body), headers=headers
    ) as response:
        return response.status, await response.json(content_type=None)


def test_spec_examples_validate() -> None:
    """The spec's own callback examples pass the schema helper (the helper is sound)."""
    for name in (
        "messageSendingCallbackExample",
        "smsMessageDeliveredCallbackExample",
        "groupMmsMessageDeliveredCallbackExample",
        "messageFailedCallbackExample",
    ):
        spec.validate(spec.example(name), "statusCallback")


def test_schema_helper_rejects_unknown_fields() -> None:
    """The helper closes object schemas, so a field the spec does not name fails."""
    with pytest.raises(Exception, match="Additional properties"):
        spec.validate({"type": "a", "description": "b", "extra": 1}, "messagingRequestError")


@pytest.mark.parametrize(
    "body",
    [
        VALID,
        {**VALID, "to": "+19195551212"},
        {**VALID, "to": ["+19195551212", "+19195551213"], "text": "ünïcødé ✓" * 20},
        {
            **VALID,
            "text": "",
            "media": ["https://example.com/a.png"],
            "tag": "t",
            "priority": "high",
            "expiration": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat(),
        },
    ],
)
async def test_202_body_is_a_message(http: aiohttp.ClientSession, body: dict[str, Any]) -> None:
    """A 202 body validates against `message`."""
    async with Simulator() as sim:
        status, data = await answer(http, sim, body)
    assert status == 202
    spec.validate(data, "message")


@pytest.mark.parametrize(
    "body",
    [
        {**VALID, "to": 5},
        {"to": [], "from": "x", "extra": 1},
        {**VALID, "media": ["nope"], "priority": "x", "tag": 1},
        [1, 2],
    ],
)
async def test_400_body_is_a_create_message_request_error(
    http: aiohttp.ClientSession, body: Any
) -> None:
    """A 400 body validates against `createMessageRequestError` and has fieldErrors."""
    async with Simulator() as sim:
        status, data = await answer(http, sim, body)
    assert status == 400
    spec.validate(data, "createMessageRequestError")
    assert data["fieldErrors"]


async def test_401_body(http: aiohttp.ClientSession) -> None:
    """A 401 body validates against `messagingRequestError`."""
    async with Simulator() as sim:
        status, data = await answer(http, sim, headers={"Content-Type": "application/json"})
    assert status == 401
    spec.validate(data, "messagingRequestError")


async def test_415_body(http: aiohttp.ClientSession) -> None:
    """A 415 body validates against `messagingRequestError`."""
    async with Simulator() as sim:
        status, data = await answer(http, sim, headers={**JSON_AUTH, "Content-Type": "text/plain"})
    assert status == 415
    spec.validate(data, "messagingRequestError")


@pytest.mark.parametrize(
    ("kwargs", "statuses"),
    [
        ({"faults": Faults(rate_limited=1.0)}, {429}),
        ({"faults": Faults(rate_limited=1.0, retry_after=1)}, {429}),
        ({"rate": 0.001, "queue_size": 1}, {202, 429}),
        ({"faults": Faults(server_error=1.0)}, {500, 502, 503}),
        ({"faults": Faults(server_error=1.0, server_error_statuses=(504, 599))}, {504, 599}),
    ],
)
async def test_error_bodies(
    http: aiohttp.ClientSession, kwargs: dict[str, Any], statuses: set[int]
) -> None:
    """429 and 5xx bodies validate against `messagingRequestError`."""
    seen = set()
    async with Simulator(seed=7, **kwargs) as sim:
        for _ in range(30):
            status, data = await answer(http, sim)
            seen.add(status)
            if status != 202:
                spec.validate(data, "messagingRequestError")
    assert seen == statuses


async def test_callback_events_are_status_callbacks(http: aiohttp.ClientSession) -> None:
    """Every posted callback is an array of events that validate against `statusCallback`."""
    posts: list[Any] = []

    async def receive(request: web.Request) -> web.Response:
        posts.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/cb", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        callbacks = Callbacks(url=f"http://127.0.0.1:{port}/cb", failed=0.5)
        async with Simulator(seed=3, callbacks=callbacks) as sim:
            bodies = [
                VALID,
                {**VALID, "to": ["+19195551212", "+19195551213"], "tag": "t"},
                {**VALID, "media": ["https://example.com/a.png"], "priority": "high"},
            ] * 4
            for body in bodies:
                assert (await answer(http, sim, body))[0] == 202
            await sim.callbacks_done()
    finally:
        await runner.cleanup()
    assert len(posts) == 2 * 16
    types = set()
    for post in posts:
        assert isinstance(post, list)
        for event in post:
            spec.validate(event, "statusCallback")
            types.add(event["type"])
    assert types == {"message-sending", "message-delivered", "message-failed"}
