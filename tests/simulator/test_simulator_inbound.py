"""The simulator's inbound messages: Simulator.inbound posts a message-received callback that
bwmsg.callbacks reads, with the delivery callbacks' auth and retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bwmsg import MessageRequest
from bwmsg.callbacks import (
    CallbackEvent,
    CallbackServer,
    InboundCallback,
    InboundType,
    parse_events,
)
from bwmsg.simulator import Callbacks, Simulator
from tests.senders import AUTH, simulator_sender
from tests.servers import CallbackReceiver, callback_receiver


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with callback_receiver() as state:
        yield state


async def test_inbound_reaches_a_callback_receiver() -> None:
    """bwmsg.callbacks' own server gets a message-received InboundCallback from the number."""
    seen: list[CallbackEvent] = []
    got = asyncio.Event()

    async def on_event(event: CallbackEvent) -> None:
        seen.append(event)
        got.set()

    async with CallbackServer(
        on_event, host="127.0.0.1", port=0, username="cb", password="pw"
    ) as server:
        callbacks = Callbacks(url=server.url, username="cb", password="pw")
        async with Simulator(callbacks=callbacks) as sim:
            posted = await sim.inbound(from_="+19195551212", to="+19195550000", text="STOP")
            await asyncio.wait_for(got.wait(), 5)
    [event] = seen
    assert isinstance(event, InboundCallback)
    assert event.type is InboundType.RECEIVED
    assert event.to == "+19195550000"
    assert event.message.from_ == "+19195551212"
    assert event.message.to == ("+19195550000",)
    assert event.message.text == "STOP"
    assert event.message.direction == "in"
    assert event.message.id == posted["message"]["id"]
    assert sim.delivered_callbacks == [[posted]]


async def test_event_has_the_spec_shape(receiver: CallbackReceiver) -> None:
    """The body is an array of one inboundCallback with every required field."""
    async with Simulator(callbacks=Callbacks(url=receiver.url)) as sim:
        await sim.inbound(
            from_="+19195551212",
            to="+19195550000",
            text="hello",
            media=["https://example.com/a.png"],
            application_id="app-7",
            carrier_name="T-Mobile",
        )
    [body] = receiver.bodies
    [event] = parse_events(body)
    assert isinstance(event, InboundCallback)
    assert event.carrier_name == "T-Mobile"
    assert event.message.media == ("https://example.com/a.png",)
    [raw] = json.loads(body)
    assert {"time", "type", "to", "description", "message"} <= set(raw)
    required = {"id", "owner", "applicationId", "time", "segmentCount", "direction", "to", "from"}
    assert required <= set(raw["message"])
    message: dict[str, Any] = raw["message"]
    assert (message["owner"], message["applicationId"], message["segmentCount"]) == (
        "+19195550000",
        "app-7",
        1,
    )


async def test_segment_count_follows_the_text(receiver: CallbackReceiver) -> None:
    """A long SMS counts its segments as the simulator's send endpoint does."""
    async with Simulator(callbacks=Callbacks(url=receiver.url)) as sim:
        posted = await sim.inbound(from_="+19195551212", to="+19195550000", text="x" * 161)
    assert posted["message"]["segmentCount"] == 2


async def test_basic_auth_and_retries_as_delivery_callbacks(receiver: CallbackReceiver) -> None:
    """A refused post is retried until taken, with the Callbacks' Basic auth on each."""
    receiver.fail_next = 2
    callbacks = Callbacks(url=receiver.url, username="cb", password="secret", retry_delay=0.001)
    async with Simulator(callbacks=callbacks) as sim:
        await sim.inbound(from_="+19195551212", to="+19195550000", text="STOP")
        assert len(sim.delivered_callbacks) == 1
    expected = aiohttp.encode_basic_auth("cb", "secret")
    assert receiver.authorization == [expected] * 3
    assert len(receiver.bodies) == 1


async def test_given_up_post_is_abandoned(receiver: CallbackReceiver) -> None:
    """A post refused max_attempts times is given up, and inbound still returns."""
    receiver.fail_next = 10
    callbacks = Callbacks(url=receiver.url, max_attempts=2, retry_delay=0.001)
    async with Simulator(callbacks=callbacks) as sim:
        posted = await sim.inbound(from_="+19195551212", to="+19195550000", text="STOP")
        assert sim.abandoned_callbacks == [[posted]]
        assert sim.delivered_callbacks == []


async def test_without_callbacks_it_refuses() -> None:
    """No Callbacks: there is nowhere to post, a RuntimeError says so."""
    async with Simulator() as sim:
        with pytest.raises(RuntimeError, match="Callbacks"):
            await sim.inbound(from_="+19195551212", to="+19195550000", text="STOP")


async def test_not_running_refuses(receiver: CallbackReceiver) -> None:
    """Before start there is no poster: RuntimeError."""
    sim = Simulator(callbacks=Callbacks(url=receiver.url))
    with pytest.raises(RuntimeError, match="not running"):
        await sim.inbound(from_="+19195551212", to="+19195550000", text="STOP")


@pytest.mark.parametrize(
    "arguments",
    [
        {"from_": "", "to": "+19195550000", "text": "hi"},
        {"from_": "+19195551212", "to": "", "text": "hi"},
        {"from_": "+19195551212", "to": "+19195550000"},
        {"from_": "+19195551212", "to": "+19195550000", "text": ""},
        {"from_": "+19195551212", "to": "+19195550000", "media": "https://x/a.png"},
    ],
)
async def test_bad_arguments_are_value_errors(receiver: CallbackReceiver, arguments: Any) -> None:
    """Missing numbers, no text and no media, or media as one string: ValueError, no post."""
    async with Simulator(callbacks=Callbacks(url=receiver.url)) as sim:
        with pytest.raises(ValueError, match=r"from_|to|text|media"):
            await sim.inbound(**arguments)
    assert receiver.bodies == []


async def test_status_callbacks_still_flow(receiver: CallbackReceiver) -> None:
    """Inbound posts and an accepted message's status callbacks share the poster."""
    async with Simulator(callbacks=Callbacks(url=receiver.url)) as sim:
        async with simulator_sender(sim) as sender:
            await sender.send(MessageRequest(to="+19195551212", from_="+19195550000", text="hi"))
        await sim.inbound(from_="+19195551212", to="+19195550000", text="STOP")
        await sim.callbacks_done()
    types = sorted(str(event.type) for body in receiver.bodies for event in parse_events(body))
    assert types == ["message-delivered", "message-received", "message-sending"]


async def test_http_endpoint_posts_the_callback(receiver: CallbackReceiver) -> None:
    """POST /simulator/inbound (with the simulator's credentials) queues the same event: 202."""
    async with (
        Simulator(callbacks=Callbacks(url=receiver.url)) as sim,
        aiohttp.ClientSession() as http,
    ):
        body = {"from": "+19195551212", "to": "+19195550000", "text": "STOP"}
        async with http.post(sim.inbound_url, json=body, headers=AUTH) as response:
            assert response.status == 202
            answered = await response.json()
        await sim.callbacks_done()
        assert sim.delivered_callbacks == [[answered]]
    [event] = parse_events(receiver.bodies[0])
    assert isinstance(event, InboundCallback)
    assert (event.message.from_, event.message.text) == ("+19195551212", "STOP")


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"from": "+19195551212", "to": "+19195550000", "text": "x"}, {}, 401),
        ({"from": "+19195551212", "text": "x"}, AUTH, 400),
        ({"from": "+19195551212", "to": "+19195550000", "text": "x", "oops": 1}, AUTH, 400),
        ({"from": "+19195551212", "to": "+19195550000", "media": "u"}, AUTH, 400),
        ([1, 2], AUTH, 400),
    ],
)
async def test_http_endpoint_refusals(
    receiver: CallbackReceiver, body: Any, headers: dict[str, str], status: int
) -> None:
    """No credentials: 401; a body that cannot make an inbound message: 400; nothing posted."""
    async with (
        Simulator(callbacks=Callbacks(url=receiver.url)) as sim,
        aiohttp.ClientSession() as http,
        http.post(sim.inbound_url, json=body, headers=headers) as response,
    ):
        assert response.status == status
        await sim.callbacks_done()
    assert receiver.bodies == []


async def test_http_endpoint_without_callbacks_is_409() -> None:
    """No Callbacks set: 409, there is nowhere to post."""
    body = {"from": "+19195551212", "to": "+19195550000", "text": "x"}
    async with (
        Simulator() as sim,
        aiohttp.ClientSession() as http,
        http.post(sim.inbound_url, json=body, headers=AUTH) as response,
    ):
        assert response.status == 409
