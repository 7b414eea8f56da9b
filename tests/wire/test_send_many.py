"""Sender.send_many: one result per request, bounded and lazy, ordered, cancellable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bwmsg import (
    BadRequestError,
    MessageRequest,
    Outcome,
    RequestValidationError,
    Sender,
    SendResult,
)
from tests.senders import request, sender_for
from tests.servers import Hang, Reply, Scripted, accepted


async def collect(it: AsyncIterator[SendResult]) -> list[SendResult]:
    return [r async for r in it]


async def test_one_result_per_request(server: Scripted) -> None:
    """Every request gives exactly one SENT result carrying its index and request."""
    requests = [request(i) for i in range(200)]
    async with sender_for(server.base_url, concurrency=8) as sender:
        results = await collect(sender.send_many(requests))
    assert sorted(r.index for r in results) == list(range(200))
    assert all(r.ok and r.request is requests[r.index] for r in results)
    assert all(r.message is not None and r.message.to == r.request.to for r in results)
    assert len(server.requests) == 200


async def test_async_iterable_input(server: Scripted) -> None:
    """An async generator is accepted as input."""

    async def source() -> AsyncIterator[MessageRequest]:
        for i in range(30):
            yield request(i)

    async with sender_for(server.base_url, concurrency=4) as sender:
        results = await collect(sender.send_many(source(), ordered=True))
    assert [r.index for r in results] == list(range(30))


async def test_failures_are_results_not_exceptions(server: Scripted) -> None:
    """A refused message becomes a FAILED result; the others are still sent."""

    def answer(body: dict[str, Any], n: int) -> Reply:
        if body.get("text") == "bad":
            return Reply(400, {"type": "request-validation", "description": "nope"})
        return accepted(body, n)

    server.default = answer
    requests = [request(i, "bad" if i % 3 == 0 else "ok") for i in range(30)]
    async with sender_for(server.base_url) as sender:
        results = await collect(sender.send_many(requests))
    failed = [r for r in results if r.outcome is Outcome.FAILED]
    assert sorted(r.index for r in failed) == list(range(0, 30, 3))
    assert all(isinstance(r.error, BadRequestError) and r.attempts == 1 for r in failed)
    assert sum(r.ok for r in results) == 20


async def test_missing_application_id_fails_the_result(server: Scripted) -> None:
    """Without any application id each result is FAILED with a validation error, unsent."""
    async with sender_for(server.base_url, application_id=None) as sender:
        results = await collect(sender.send_many([request(0), request(1)]))
    assert all(isinstance(r.error, RequestValidationError) for r in results)
    assert all(r.outcome is Outcome.FAILED and r.attempts == 0 for r in results)
    assert server.requests == []


class Gate:
    """A server whose answers are held until a test lets them go, tracking concurrency."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self.seen: list[str] = []
        self.arrivals = asyncio.Condition()
        self.open: dict[str, asyncio.Event] = {}
        self.all_open = asyncio.Event()

    def gate(self, text: str) -> asyncio.Event:
        return self.open.setdefault(text, asyncio.Event())

    async def handle(self, req: web.Request) -> web.Response:
        body = await req.json()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        async with self.arrivals:
            self.seen.append(body["text"])
            self.arrivals.notify_all()
        if not self.all_open.is_set():
            waiter = asyncio.ensure_future(self.gate(body["text"]).wait())
            everyone = asyncio.ensure_future(self.all_open.wait())
            await asyncio.wait({waiter, everyone}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            everyone.cancel()
        self.in_flight -= 1
        return web.json_response({"id": body["text"], "to": body["to"]}, status=202)

    async def wait_for(self, count: int) -> None:
        async with self.arrivals:
            await self.arrivals.wait_for(lambda: len(self.seen) >= count)


async def gate_server() -> tuple[Gate, TestServer]:
    gate = Gate()
    app = web.Application()
    app.router.add_post("/api/v2/users/{a}/messages", gate.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return gate, server


async def test_at_most_concurrency_in_flight() -> None:
    """No more than `concurrency` requests are ever at the server at once."""
    gate, server = await gate_server()
    try:
        async with sender_for(str(server.make_url("/api/v2")), concurrency=5) as sender:
            run = asyncio.ensure_future(
                collect(sender.send_many(request(i, str(i)) for i in range(40)))
            )
            await gate.wait_for(5)
            assert gate.in_flight == 5
            gate.all_open.set()
            results = await run
        assert len(results) == 40
        assert gate.max_in_flight == 5
    finally:
        await server.close()


async def test_ordered_yields_in_input_order() -> None:
    """With ordered=True, a slow first message holds back the later finished ones."""
    gate, server = await gate_server()
    try:
        async with sender_for(str(server.make_url("/api/v2")), concurrency=4) as sender:
            for i in range(1, 12):
                gate.gate(str(i)).set()  # all but message 0 answer at once
            results: list[SendResult] = []
            stream = sender.send_many((request(i, str(i)) for i in range(12)), ordered=True)

            async def consume() -> None:
                async for result in stream:
                    results.append(result)

            run = asyncio.ensure_future(consume())
            await gate.wait_for(8)  # 0 stuck, 1..7 done and buffered: the window is full
            assert results == []
            gate.gate("0").set()
            await run
        assert [r.index for r in results] == list(range(12))
        assert [r.message.id for r in results if r.message] == [str(i) for i in range(12)]
    finally:
        await server.close()


async def test_ordered_buffer_is_bounded() -> None:
    """While the first message is stuck, at most 2 x concurrency requests are taken."""
    gate, server = await gate_server()
    pulled = 0

    def source() -> Iterator[MessageRequest]:
        nonlocal pulled
        for i in range(1_000):
            pulled += 1
            if i:
                gate.gate(str(i)).set()
            yield request(i, str(i))

    try:
        async with sender_for(str(server.make_url("/api/v2")), concurrency=4) as sender:
            stream = sender.send_many(source(), ordered=True)
            first = asyncio.ensure_future(anext(stream))
            await gate.wait_for(8)
            for _ in range(50):  # let the dispatcher run ahead as far as it will
                await asyncio.sleep(0)
            assert len(gate.seen) == 8
            assert pulled <= 8 + 1
            gate.all_open.set()
            assert (await first).index == 0
            rest = await collect(stream)
        assert [r.index for r in rest] == list(range(1, 1_000))
    finally:
        await server.close()


async def test_input_is_consumed_lazily(server: Scripted) -> None:
    """A generator of 10^6 requests is pulled only as far as the dispatcher needs."""
    pulled = 0

    def source() -> Iterator[MessageRequest]:
        nonlocal pulled
        for i in range(1_000_000):
            pulled += 1
            yield request(i)

    async with sender_for(server.base_url, concurrency=10) as sender:
        stream = sender.send_many(source())
        got = 0
        async for _ in stream:
            got += 1
            if got == 50:
                break
        await stream.aclose()
    assert pulled <= 50 + 2 * 10 + 1
    assert len(server.requests) <= pulled


async def test_input_error_raised_after_taken_results(server: Scripted) -> None:
    """An exception from the input ends the run after the requests already taken."""

    def source() -> Iterator[MessageRequest]:
        for i in range(5):
            yield request(i)
        raise OSError("disk went away")

    results: list[SendResult] = []

    async def consume(sender: Sender) -> None:
        async for result in sender.send_many(source()):
            results.append(result)

    async with sender_for(server.base_url, concurrency=2) as sender:
        with pytest.raises(OSError, match="disk went away"):
            await consume(sender)
    assert sorted(r.index for r in results) == list(range(5))


async def test_wrong_item_type_is_a_type_error(server: Scripted) -> None:
    """An input item that is not a MessageRequest raises TypeError naming its index."""
    async with sender_for(server.base_url, concurrency=1) as sender:
        with pytest.raises(TypeError, match="index 1"):
            await collect(sender.send_many([request(0), {"to": "+1"}]))  # type: ignore[list-item]


def is_bwmsg_task(task: asyncio.Task[Any]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and "bwmsg" in code.co_filename


async def test_cancellation_leaves_nothing_behind(server: Scripted) -> None:
    """Cancelling the consumer mid-run stops every worker; no task is left pending."""
    server.default = lambda body, n: Hang()
    before = asyncio.all_tasks()
    async with sender_for(server.base_url, concurrency=6) as sender:
        run = asyncio.ensure_future(collect(sender.send_many(request(i) for i in range(100))))
        await server.arrived.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        left = [t for t in asyncio.all_tasks() - before if is_bwmsg_task(t)]
        assert left == []
    assert len(server.requests) <= 6


async def test_closing_the_sender_stops_send_many(server: Scripted) -> None:
    """aclose() during send_many stops it with a clear RuntimeError."""
    server.default = lambda body, n: Hang()
    sender = sender_for(server.base_url, concurrency=3)
    stream = sender.send_many(request(i) for i in range(10))
    run = asyncio.ensure_future(collect(stream))
    await server.arrived.wait()
    await sender.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await run


async def test_empty_input(server: Scripted) -> None:
    """No requests, no results, no error."""
    async with sender_for(server.base_url) as sender:
        assert await collect(sender.send_many([])) == []


async def test_not_iterable_is_refused(server: Scripted) -> None:
    """A non-iterable input raises TypeError."""
    async with sender_for(server.base_url) as sender:
        with pytest.raises(TypeError, match="iterable"):
            await collect(sender.send_many(42))  # type: ignore[arg-type]
