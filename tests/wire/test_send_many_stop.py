"""send_many's clean stop: what was never written ends FAILED (StoppedError), the rest UNKNOWN.

Real servers on 127.0.0.1 (the scripted aiohttp server); each test checks what the server
actually received against the outcomes: a request reported "not sent" never reached it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from bwmsg import (
    AmbiguousSendError,
    Outcome,
    RateLimit,
    RetryPolicy,
    Sender,
    SendResult,
    ServerError,
    StoppedError,
)
from tests.senders import request, sender_for
from tests.servers import Drop, Hang, Reply, Scripted, scripted_server


@pytest.fixture
async def server() -> Any:
    async with scripted_server() as state:
        yield state


async def until_requests(server: Scripted, n: int, timeout: float = 10.0) -> None:
    """Wait until the server has received ``n`` requests (each arrival sets an event)."""

    async def wait() -> None:
        while len(server.requests) < n:
            server.arrived.clear()
            await server.arrived.wait()

    await asyncio.wait_for(wait(), timeout)


async def until_answered(sender: Sender, timeout: float = 10.0) -> None:
    """Wait until no request of ``sender`` awaits an answer (its retry delays have begun).

    No event marks that moment: the Sender's counters are polled.
    """

    async def wait() -> None:
        while sender.stats().in_flight or not sender.stats().attempts:  # noqa: ASYNC110
            await asyncio.sleep(0.001)

    await asyncio.wait_for(wait(), timeout)


async def consume(
    results: Any, stop: asyncio.Event, after: int, also: Any = None
) -> list[SendResult]:
    """Collect every result; set ``stop`` once ``after`` results have come (0: at once)."""
    got: list[SendResult] = []
    if after == 0:
        stop.set()
    async for result in results:
        got.append(result)
        if len(got) == after:
            stop.set()
            if also is not None:
                await also()
    return got


async def test_requests_waiting_for_the_throttle_end_not_sent(server: Scripted) -> None:
    """Stopped while waiting for the throttle: FAILED, StoppedError, nothing reached the server."""
    stop = asyncio.Event()
    async with sender_for(server.base_url, concurrency=5, rate=RateLimit(1, burst=1)) as sender:
        results = sender.send_many((request(i) for i in range(50)), stop=stop)
        got = await asyncio.wait_for(consume(results, stop, after=1), 10)
    sent = [r for r in got if r.outcome is Outcome.SENT]
    stopped = [r for r in got if r.outcome is Outcome.FAILED]
    assert len(sent) == 1
    assert len(stopped) >= 4  # the other workers' requests, still waiting for their turn
    assert len(got) == len({r.index for r in got})  # one result per request taken
    assert all(isinstance(r.error, StoppedError) and r.attempts == 0 for r in stopped)
    assert len(server.requests) == 1


async def test_written_requests_get_the_grace_then_end_unknown(server: Scripted) -> None:
    """Written and unanswered: UNKNOWN once the grace is over, and the run ends by then."""
    server.then(*[Hang() for _ in range(3)])
    stop = asyncio.Event()
    async with sender_for(server.base_url, concurrency=3) as sender:
        results = sender.send_many((request(i) for i in range(10)), stop=stop, grace=0.3)
        collecting = asyncio.ensure_future(consume(results, stop, after=-1))
        await until_requests(server, 3)
        started = time.monotonic()
        stop.set()
        got = await asyncio.wait_for(collecting, 10)
        took = time.monotonic() - started
    assert sorted(r.index for r in got) == [0, 1, 2]
    assert all(r.outcome is Outcome.UNKNOWN for r in got)
    assert all(isinstance(r.error, AmbiguousSendError) and r.attempts == 1 for r in got)
    assert len(server.requests) == 3
    assert took < 5  # the grace (0.3 s), not the Sender's 30 s timeout


async def test_answers_within_the_grace_end_the_requests(server: Scripted) -> None:
    """Answered during the grace (a 500): the answer is kept and no retry starts."""
    server.then(*[Hang() for _ in range(2)])
    stop = asyncio.Event()
    async with sender_for(server.base_url, concurrency=2) as sender:
        results = sender.send_many((request(i) for i in range(10)), stop=stop)
        collecting = asyncio.ensure_future(consume(results, stop, after=-1))
        await until_requests(server, 2)
        stop.set()
        await asyncio.sleep(0)  # the stop is taken in before the answers come
        server.release.set()  # Hang answers 500 once released: a certain failure
        got = await asyncio.wait_for(collecting, 10)
    assert sorted(r.index for r in got) == [0, 1]
    assert all(r.outcome is Outcome.FAILED and r.attempts == 1 for r in got)
    assert all(isinstance(r.error, StoppedError) for r in got)
    assert all(isinstance(getattr(r.error, "__cause__", None), ServerError) for r in got)
    assert len(server.requests) == 2  # no retry started after the stop


async def test_grace_ended_by_an_event(server: Scripted) -> None:
    """``grace`` as an event: setting it ends the wait at once (a second Ctrl-C)."""
    server.then(Hang())
    stop, hurry = asyncio.Event(), asyncio.Event()
    async with sender_for(server.base_url, concurrency=1) as sender:
        results = sender.send_many((request(i) for i in range(5)), stop=stop, grace=hurry)
        collecting = asyncio.ensure_future(consume(results, stop, after=-1))
        await until_requests(server, 1)
        stop.set()
        done, _ = await asyncio.wait({collecting}, timeout=0.2)
        assert not done  # still waiting for the answer
        hurry.set()
        got = await asyncio.wait_for(collecting, 5)
    assert [r.outcome for r in got] == [Outcome.UNKNOWN]


async def test_stopped_during_a_retry_delay_is_not_sent_again(server: Scripted) -> None:
    """A 503 then a long backoff: the stop ends it FAILED with the 503 as its cause."""
    server.default = lambda body, n: Reply(503, {"type": "unavailable", "description": "x"})
    slow = RetryPolicy(base_delay=30, max_delay=30)
    stop = asyncio.Event()
    async with sender_for(server.base_url, concurrency=2, retry=slow) as sender:
        results = sender.send_many((request(i) for i in range(2)), stop=stop)
        collecting = asyncio.ensure_future(consume(results, stop, after=-1))
        await until_requests(server, 2)
        await until_answered(sender)  # the answers are read and the retry delays begin
        stop.set()
        got = await asyncio.wait_for(collecting, 5)
    assert len(got) == 2
    for result in got:
        assert result.outcome is Outcome.FAILED
        assert isinstance(result.error, StoppedError)
        assert isinstance(result.error.__cause__, ServerError)
        assert result.attempts == 1
        assert "HTTP 503" in str(result.error)
    assert len(server.requests) == 2


async def test_an_earlier_ambiguous_attempt_keeps_it_unknown(server: Scripted) -> None:
    """Dropped once (may have been accepted), stopped before the retry: UNKNOWN, not FAILED."""
    server.then(Drop())
    policy = RetryPolicy(base_delay=30, max_delay=30, retry_ambiguous=True)
    stop = asyncio.Event()
    async with sender_for(server.base_url, concurrency=1, retry=policy) as sender:
        results = sender.send_many([request(0)], stop=stop)
        collecting = asyncio.ensure_future(consume(results, stop, after=-1))
        await until_requests(server, 1)
        await until_answered(sender)  # the drop is seen and the retry delay begins
        stop.set()
        got = await asyncio.wait_for(collecting, 5)
    assert [r.outcome for r in got] == [Outcome.UNKNOWN]
    assert isinstance(got[0].error, AmbiguousSendError)


async def test_stop_before_start_sends_nothing(server: Scripted) -> None:
    """A stop already set: the input is not read and nothing is sent."""
    stop = asyncio.Event()
    stop.set()
    taken = 0

    def requests() -> Any:
        nonlocal taken
        for i in range(100):
            taken += 1
            yield request(i)

    async with sender_for(server.base_url, concurrency=4) as sender:
        got = [r async for r in sender.send_many(requests(), stop=stop)]
    assert got == []
    assert taken == 0
    assert server.requests == []


async def test_ordered_results_all_come_after_a_stop(server: Scripted) -> None:
    """ordered=True: every taken request still gets its result, in input order."""
    stop = asyncio.Event()
    async with sender_for(server.base_url, concurrency=4, rate=RateLimit(2, burst=2)) as sender:
        results = sender.send_many((request(i) for i in range(40)), stop=stop, ordered=True)
        got = await asyncio.wait_for(consume(results, stop, after=2), 10)
    indexes = [r.index for r in got]
    assert indexes == list(range(len(got)))
    received = {r.json()["to"][0] for r in server.requests}
    for result in got:
        was_sent = result.request.to[0] in received
        assert (result.outcome is Outcome.SENT) == was_sent
        if not was_sent:
            assert isinstance(result.error, StoppedError)


async def test_through_an_aiohttp_session_a_started_request_counts_as_written(
    server: Scripted,
) -> None:
    """With a session of the user's, the Sender cannot see the write: conservatively UNKNOWN."""
    server.then(Hang())
    stop = asyncio.Event()
    async with (
        aiohttp.ClientSession() as session,
        sender_for(server.base_url, concurrency=1, session=session) as sender,
    ):
        results = sender.send_many([request(0)], stop=stop, grace=0)
        collecting = asyncio.ensure_future(consume(results, stop, after=-1))
        await until_requests(server, 1)
        stop.set()
        got = await asyncio.wait_for(collecting, 5)
    assert [r.outcome for r in got] == [Outcome.UNKNOWN]


async def test_stats_count_the_stopped_requests(server: Scripted) -> None:
    """Stopped requests count as failed (not sent) in the Sender's stats."""
    stop = asyncio.Event()
    async with sender_for(server.base_url, concurrency=3, rate=RateLimit(1, burst=1)) as sender:
        results = sender.send_many((request(i) for i in range(10)), stop=stop)
        got = await asyncio.wait_for(consume(results, stop, after=1), 10)
        stats = sender.stats()
    assert stats.sent == 1
    assert stats.failed == len(got) - 1
    assert stats.in_flight == 0
