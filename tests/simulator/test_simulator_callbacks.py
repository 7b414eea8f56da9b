"""The simulator's delivery callbacks: order, auth, failures, retries, duplicates, reordering."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bwmsg.simulator import Callbacks, Simulator
from tests import senders
from tests.senders import AUTH
from tests.servers import CallbackReceiver, callback_receiver

VALID: dict[str, Any] = {**senders.VALID, "tag": "t"}


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with callback_receiver() as state:
        yield state


async def send(sim: Simulator, body: dict[str, Any] = VALID, count: int = 1) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            async with http.post(
                f"{sim.base_url}/users/1/messages",
                data=json.dumps(body),
                headers={**AUTH, "Content-Type": "application/json"},
            ) as response:
                assert response.status == 202


async def test_sending_then_delivered(receiver: CallbackReceiver) -> None:
    """Each message gets message-sending then message-delivered, each as a one-event array."""
    async with Simulator(callbacks=Callbacks(url=receiver.url)) as sim:
        await send(sim)
        await sim.callbacks_done()
        message = sim.accepted[0].message
    assert receiver.types == ["message-sending", "message-delivered"]
    for post in receiver.posts:
        assert len(post) == 1
        assert post[0]["to"] == "+19195551212"
        assert post[0]["message"]["id"] == message["id"]
        assert post[0]["message"]["tag"] == "t"
    assert len(sim.delivered_callbacks) == 2


async def test_group_message_has_events_per_recipient(receiver: CallbackReceiver) -> None:
    """A group message gets its pair of events for each recipient."""
    body = {**VALID, "to": ["+19195551212", "+19195551213"]}
    async with Simulator(callbacks=Callbacks(url=receiver.url)) as sim:
        await send(sim, body)
        await sim.callbacks_done()
    assert [(p[0]["type"], p[0]["to"]) for p in receiver.posts] == [
        ("message-sending", "+19195551212"),
        ("message-delivered", "+19195551212"),
        ("message-sending", "+19195551213"),
        ("message-delivered", "+19195551213"),
    ]


async def test_no_callbacks_without_url(receiver: CallbackReceiver) -> None:
    """Without Callbacks nothing is posted."""
    async with Simulator() as sim:
        await send(sim)
        await sim.callbacks_done()
        assert sim.delivered_callbacks == []
    assert receiver.posts == []


async def test_basic_auth_is_sent(receiver: CallbackReceiver) -> None:
    """Callbacks with username/password carry Basic auth."""
    callbacks = Callbacks(url=receiver.url, username="cb", password="secret")
    async with Simulator(callbacks=callbacks) as sim:
        await send(sim)
        await sim.callbacks_done()
    expected = aiohttp.encode_basic_auth("cb", "secret")
    assert receiver.authorization == [expected, expected]


async def test_failed_with_error_code(receiver: CallbackReceiver) -> None:
    """With failed=1 messages end in message-failed with an errorCode from the configured ones."""
    callbacks = Callbacks(url=receiver.url, failed=1.0, error_codes=(4432, 4470))
    async with Simulator(callbacks=callbacks, seed=1) as sim:
        await send(sim, count=10)
        await sim.callbacks_done()
    finals = [p[0] for p in receiver.posts if p[0]["type"] != "message-sending"]
    assert len(finals) == 10
    assert {event["type"] for event in finals} == {"message-failed"}
    assert {event["errorCode"] for event in finals} <= {4432, 4470}
    assert all(event["description"] for event in finals)


async def test_failed_odds(receiver: CallbackReceiver) -> None:
    """About `failed` of the messages fail."""
    async with Simulator(callbacks=Callbacks(url=receiver.url, failed=0.3), seed=2) as sim:
        await send(sim, count=200)
        await sim.callbacks_done()
    failed = receiver.types.count("message-failed")
    assert receiver.types.count("message-delivered") + failed == 200
    assert 35 <= failed <= 85


async def test_retried_when_receiver_fails(receiver: CallbackReceiver) -> None:
    """A post the receiver refuses is retried until it is taken."""
    receiver.fail_next = 2
    async with Simulator(callbacks=Callbacks(url=receiver.url, retry_delay=0)) as sim:
        await send(sim)
        await sim.callbacks_done()
    assert receiver.types == ["message-sending", "message-delivered"]
    assert len(receiver.authorization) == 4
    assert sim.abandoned_callbacks == []


async def test_abandoned_after_max_attempts(receiver: CallbackReceiver) -> None:
    """A post that keeps failing is given up after max_attempts."""
    receiver.fail_next = 1000
    callbacks = Callbacks(url=receiver.url, retry_delay=0, max_attempts=3)
    async with Simulator(callbacks=callbacks) as sim:
        await send(sim)
        await sim.callbacks_done()
        assert len(sim.abandoned_callbacks) == 2
    assert len(receiver.authorization) == 6


async def test_unreachable_receiver_is_abandoned() -> None:
    """A receiver that refuses connections makes the posts abandoned, not errors."""
    callbacks = Callbacks(url="http://127.0.0.1:9/nothing", retry_delay=0, max_attempts=2)
    async with Simulator(callbacks=callbacks) as sim:
        await send(sim)
        await sim.callbacks_done()
        assert len(sim.abandoned_callbacks) == 2


async def test_duplicates_when_asked(receiver: CallbackReceiver) -> None:
    """With duplicate=1 every post is sent twice (at-least-once delivery)."""
    async with Simulator(callbacks=Callbacks(url=receiver.url, duplicate=1.0)) as sim:
        await send(sim)
        await sim.callbacks_done()
    assert receiver.types == [
        "message-sending",
        "message-sending",
        "message-delivered",
        "message-delivered",
    ]


async def test_out_of_order_when_asked(receiver: CallbackReceiver) -> None:
    """With reorder=1 the final event arrives before message-sending."""
    async with Simulator(callbacks=Callbacks(url=receiver.url, reorder=1.0)) as sim:
        await send(sim)
        await sim.callbacks_done()
    assert receiver.types == ["message-delivered", "message-sending"]


async def test_callbacks_can_be_set_while_running(receiver: CallbackReceiver) -> None:
    """Assigning sim.callbacks turns callbacks on for later messages."""
    async with Simulator() as sim:
        await send(sim)
        sim.callbacks = Callbacks(url=receiver.url)
        await send(sim)
        await sim.callbacks_done()
    assert len(receiver.posts) == 2


async def test_no_task_left_behind(receiver: CallbackReceiver) -> None:
    """Leaving the simulator cancels and awaits its callback tasks, even with posts pending."""
    receiver.fail_next = 1000
    callbacks = Callbacks(url=receiver.url, retry_delay=10, max_attempts=5)
    async with Simulator(callbacks=callbacks) as sim:
        await send(sim, count=3)
        assert any("CallbackPoster" in repr(task.get_coro()) for task in asyncio.all_tasks())
    assert not [task for task in asyncio.all_tasks() if "CallbackPoster" in repr(task.get_coro())]


def test_callbacks_settings_are_checked() -> None:
    """Callbacks refuses a bad URL, odds out of range and half-given credentials."""
    with pytest.raises(ValueError, match="url"):
        Callbacks(url="ftp://x")
    with pytest.raises(ValueError, match="failed"):
        Callbacks(url="http://x", failed=2)
    with pytest.raises(ValueError, match="password"):
        Callbacks(url="http://x", username="u")
    assert "secret" not in repr(Callbacks(url="http://x", username="u", password="secret"))


async def test_a_receiver_down_for_a_while_still_gets_every_event(
    receiver: CallbackReceiver,
) -> None:
    """With no max_attempts, posts are retried with backoff until retry_for has passed."""
    receiver.fail_next = 12
    callbacks = Callbacks(url=receiver.url, retry_delay=0.001, max_retry_delay=0.01, retry_for=30)
    async with Simulator(callbacks=callbacks) as sim:
        await send(sim)
        await sim.callbacks_done()
        assert sim.abandoned_callbacks == []
    assert sorted(receiver.types) == ["message-delivered", "message-sending"]


async def test_a_post_is_given_up_once_retry_for_has_passed(receiver: CallbackReceiver) -> None:
    receiver.fail_next = 1000
    callbacks = Callbacks(
        url=receiver.url, retry_delay=0.001, max_retry_delay=0.002, retry_for=0.05
    )
    async with Simulator(callbacks=callbacks) as sim:
        await send(sim)
        await sim.callbacks_done()
        assert len(sim.abandoned_callbacks) == 2
    assert len(receiver.authorization) > 4  # retried, not given up at once
