"""The shared throttle when things go wrong: a 429 seen by one Sender holds back the others of
its name (and only those), and a Redis that stops mid-run lets nothing out unthrottled, fails
the requests (FAILED, naming Redis) without breaking send_many, and sending resumes once it is
back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from bwmsg import MessageRequest, Outcome, RateLimit, RetryPolicy, Sender, SendResult
from bwmsg.simulator import Simulator
from tests.redis_server import RedisServer, redis_server
from tests.servers import Reply, Scripted

TOO_MANY = Reply(
    429,
    {"type": "max-message-queue-size-exceeded", "description": "queue full"},
    headers={"Retry-After": "1"},
)


def req(i: int = 0) -> MessageRequest:
    return MessageRequest(to=f"+1919555{i % 10000:04d}", from_="+19195550000", text=f"hi {i}")


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


def make_sender(base_url: str, limit: RateLimit, **options: Any) -> Sender:
    return Sender(
        "acct", "user", "pass", application_id="app", base_url=base_url, rate=limit, **options
    )


async def pause_written(url: str, key: str) -> None:
    """Return once the pause key is in Redis (the write follows the 429 by a round trip)."""
    client = aioredis.from_url(url)
    try:
        for _ in range(1000):
            if await client.exists(key):
                return
            await asyncio.sleep(0.002)
        raise AssertionError(f"{key} never written")
    finally:
        await client.aclose()


async def test_a_429_seen_by_one_sender_holds_the_others_of_its_name_back(
    redis: RedisServer, server: Scripted
) -> None:
    """Sender A's 429 (Retry-After: 1) holds Sender B (same name, its own gate and Redis
    client) back until the pause has passed; Sender C of another name is not held."""
    server.then(TOO_MANY)
    limit = RateLimit(1000, redis_url=redis.url, name="held")
    retry = RetryPolicy(base_delay=0.001)
    async with (
        make_sender(server.base_url, limit, retry=retry) as a,
        make_sender(server.base_url, limit, retry=retry) as b,
        make_sender(server.base_url, RateLimit(1000, redis_url=redis.url, name="free")) as c,
    ):
        first = asyncio.create_task(a.send(req(1)))
        await server.arrived.wait()
        refused_at = server.requests[0].at
        await pause_written(redis.url, "bwmsg:{held}:pause")
        await c.send(req(3))
        await b.send(req(2))
        await first
    arrivals = {r.json()["text"]: r.at - refused_at for r in server.requests[1:]}
    assert arrivals["hi 3"] < 0.5  # another name: not held
    assert arrivals["hi 2"] >= 0.95  # held for the Retry-After (written a moment after the 429)
    assert arrivals["hi 1"] >= 0.95  # A itself, after its retry delay


async def stream(done: asyncio.Event) -> AsyncIterator[MessageRequest]:
    """About 150 requests a second until ``done`` is set."""
    i = 0
    while not done.is_set():
        i += 1
        yield req(i)
        await asyncio.sleep(1 / 150)


async def test_redis_stopped_mid_run_sends_nothing_and_fails_then_resumes(
    redis: RedisServer,
) -> None:
    """Redis down for 1.5 s in a send_many at 100 segments/s: nothing reaches the simulator
    while it is down, the requests of that time end FAILED with an error naming Redis and its
    port, send_many goes on, and once Redis is back messages are sent again."""
    done = asyncio.Event()
    results: list[tuple[float, SendResult]] = []
    limit = RateLimit(100, burst=10, redis_url=redis.url)
    retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05)

    async def consume(sender: Sender) -> None:
        async for result in sender.send_many(stream(done)):
            results.append((time.monotonic(), result))

    async with (
        Simulator() as sim,
        make_sender(sim.base_url, limit, retry=retry, concurrency=8) as s,
    ):
        run = asyncio.create_task(consume(s))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(redis.stop)
        down = time.monotonic()
        await asyncio.sleep(1.5)
        up_at = time.monotonic()
        await asyncio.to_thread(redis.start)
        up = time.monotonic()
        await asyncio.sleep(1.5)
        done.set()
        await run  # no exception escapes send_many
        # Requests let through before Redis went away (at most the concurrency, each at most
        # 0.1 s ahead at this rate) may still arrive just after; then nothing until it is back.
        during = [m for m in sim.accepted if down + 0.3 < m.received < up_at]
        after = [m for m in sim.accepted if m.received > up]
    assert during == []
    ended_down = [r for t, r in results if down + 0.3 < t < up_at]
    assert ended_down
    assert all(r.outcome is Outcome.FAILED for r in ended_down)
    for r in ended_down:
        assert "Redis" in str(r.error)
        assert f"127.0.0.1:{redis.port}" in str(r.error)
    assert len(after) > 50  # about 100/s for 1.5 s once back
    assert any(r.outcome is Outcome.SENT for t, r in results if t > up)
