"""CallbackReceiver / CallbackServer on real sockets: auth, fast answers, duplicates, order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bwmsg.callbacks import CallbackEvent, CallbackReceiver, CallbackServer, StatusCallback
from tests import spec

AUTH = {"Authorization": aiohttp.encode_basic_auth("cb-user", "cb-pass")}


def failed_event(message_id: str = "m1") -> dict[str, Any]:
    body = dict(spec.example("messageFailedCallbackExample"))
    body["message"] = dict(body["message"], id=message_id)
    return body


def delivered_event(message_id: str = "m1") -> dict[str, Any]:
    body = dict(spec.example("smsMessageDeliveredCallbackExample"))
    body["message"] = dict(body["message"], id=message_id)
    return body


class Sink:
    def __init__(self) -> None:
        self.events: list[CallbackEvent] = []

    async def __call__(self, event: CallbackEvent) -> None:
        self.events.append(event)


async def client_for(receiver: CallbackReceiver) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    receiver.setup(app, "/cb")
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_events_reach_the_callback_in_order() -> None:
    """Each event of a posted array is handed to on_event, in order."""
    sink = Sink()
    receiver = CallbackReceiver(sink)
    client = await client_for(receiver)
    try:
        response = await client.post("/cb", json=[delivered_event("a"), failed_event("b")])
        assert response.status == 200
        await receiver.join()
    finally:
        await client.close()
    assert [e.message.id for e in sink.events if isinstance(e, StatusCallback)] == ["a", "b"]


async def test_single_object_body_is_accepted() -> None:
    """A body holding one event object (not an array) is accepted too."""
    sink = Sink()
    receiver = CallbackReceiver(sink)
    client = await client_for(receiver)
    try:
        assert (await client.post("/cb", json=failed_event())).status == 200
        await receiver.join()
    finally:
        await client.close()
    assert len(sink.events) == 1


async def test_duplicates_are_dropped() -> None:
    """The same event delivered twice (in one post or two) reaches on_event once."""
    sink = Sink()
    receiver = CallbackReceiver(sink)
    client = await client_for(receiver)
    try:
        await client.post("/cb", json=[delivered_event(), delivered_event()])
        await client.post("/cb", json=[delivered_event()])
        await receiver.join()
    finally:
        await client.close()
    assert len(sink.events) == 1
    assert receiver.duplicates == 2


async def test_answer_comes_before_the_work() -> None:
    """The post is answered while on_event is still blocked."""
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(event: CallbackEvent) -> None:
        started.set()
        await release.wait()

    receiver = CallbackReceiver(slow)
    client = await client_for(receiver)
    try:
        response = await asyncio.wait_for(client.post("/cb", json=[failed_event()]), 5)
        assert response.status == 200
        await asyncio.wait_for(started.wait(), 5)
        assert receiver.handled == 0
        release.set()
        await receiver.join()
        assert receiver.handled == 1
    finally:
        release.set()
        await client.close()


async def test_wrong_credentials_are_rejected() -> None:
    """Missing or wrong Basic credentials get 401 and nothing reaches on_event."""
    sink = Sink()
    receiver = CallbackReceiver(sink, username="cb-user", password="cb-pass")
    client = await client_for(receiver)
    try:
        none = await client.post("/cb", json=[failed_event()])
        wrong = await client.post(
            "/cb",
            json=[failed_event()],
            headers={"Authorization": aiohttp.encode_basic_auth("cb-user", "nope")},
        )
        bearer = await client.post(
            "/cb", json=[failed_event()], headers={"Authorization": "Bearer x"}
        )
        right = await client.post("/cb", json=[failed_event()], headers=AUTH)
        await receiver.join()
    finally:
        await client.close()
    assert [none.status, wrong.status, bearer.status, right.status] == [401, 401, 401, 200]
    assert len(sink.events) == 1


async def test_garbage_gets_400() -> None:
    """A body that is not a callback is answered 400 with the reason."""
    receiver = CallbackReceiver(Sink())
    client = await client_for(receiver)
    try:
        response = await client.post("/cb", data=b"{not json")
        body = await response.json()
    finally:
        await client.close()
    assert response.status == 400
    assert "not JSON" in body["description"]


async def test_a_failing_callback_does_not_stop_the_others() -> None:
    """An exception from on_event is logged and the next event is still handled."""
    seen: list[str] = []

    async def flaky(event: CallbackEvent) -> None:
        assert isinstance(event, StatusCallback)
        seen.append(event.message.id)
        if len(seen) == 1:
            raise RuntimeError("boom")

    receiver = CallbackReceiver(flaky)
    client = await client_for(receiver)
    try:
        await client.post("/cb", json=[failed_event("a"), failed_event("b")])
        await receiver.join()
    finally:
        await client.close()
    assert seen == ["a", "b"]


async def test_standalone_server() -> None:
    """CallbackServer listens on its own port and feeds the receiver."""
    sink = Sink()
    async with CallbackServer(sink, username="cb-user", password="cb-pass") as server:
        async with (
            aiohttp.ClientSession() as http,
            http.post(server.url, data=json.dumps([failed_event()]), headers=AUTH) as response,
        ):
            assert response.status == 200
        await server.receiver.join()
    (event,) = sink.events
    assert isinstance(event, StatusCallback)
    assert event.error_code == 4432
