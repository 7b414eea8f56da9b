"""The shared gate against a real redis-server: what one step books, lanes, names, the shared
pause, a cancelled wait, and Redis that is down, hung, or refuses the password."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from bwmsg import MessageRequest, RateLimit, Sender, TransportError
from bwmsg._throttle import SharedGate, open_gate
from tests.redis_server import RedisServer, redis_server
from tests.servers import Scripted, free_port

GROUP = ["+19195550001", "+19195550002", "+19195550003", "+19195550004"]


def req(to: str | list[str] = "+19195551212", from_: str = "+19195550000", text: str = "hi") -> Any:
    return MessageRequest(to=to, from_=from_, text=text)


def shared(limit: RateLimit, account_id: str = "acct") -> SharedGate:
    gate = open_gate(limit, account_id)
    assert isinstance(gate, SharedGate)
    return gate


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
async def client(redis: RedisServer) -> AsyncIterator[Any]:
    """A plain redis-py client on the same server, to look at the keys."""
    connection = aioredis.from_url(redis.url)
    yield connection
    await connection.aclose()


async def ahead(client: Any, key: str) -> float | None:
    """Seconds the key's theoretical arrival time is ahead of the server's clock (None: none)."""
    value = await client.get(key)
    seconds, micros = await client.time()
    return None if value is None else (float(value) - (seconds * 1e6 + micros)) / 1e6


async def test_one_step_books_segments_times_recipients(redis: RedisServer, client: Any) -> None:
    """A 3-segment text to a group of 4 books 12 segments: 1.2 s at 10 segments/s."""
    gate = shared(RateLimit(10, burst=12, redis_url=redis.url))
    await gate.wait(req(GROUP, text="a" * 400))  # within the burst: no wait
    assert await ahead(client, gate.budget.key(None)) == pytest.approx(1.2, abs=0.05)
    await gate.aclose()


async def test_a_booking_beyond_the_burst_waits_off_its_excess(redis: RedisServer) -> None:
    """GCRA: the burst goes at once; what is booked beyond it waits at the rate."""
    gate = shared(RateLimit(100, burst=2, redis_url=redis.url))
    assert await gate.budget.acquire(None, 2) == (True, 0.0)
    booked, wait = await gate.budget.acquire(None, 3)
    assert booked
    assert wait == pytest.approx(0.03, abs=0.005)
    await gate.aclose()


async def test_per_sender_lanes_are_separate_keys(redis: RedisServer, client: Any) -> None:
    """With per_sender, each from number has its own key, and a busy one does not hold back
    a quiet one."""
    gate = shared(RateLimit(1, burst=3, per_sender=True, redis_url=redis.url))
    for _ in range(3):
        await gate.wait(req(from_="+19195550001"))  # the busy lane's burst
    await asyncio.wait_for(gate.wait(req(from_="+19195550002")), timeout=0.5)
    keys = {key.decode() for key in await client.keys("bwmsg:*")}
    assert keys == {"bwmsg:{acct}:rate:+19195550001", "bwmsg:{acct}:rate:+19195550002"}
    booked, wait = await gate.budget.acquire("+19195550001", 1)
    assert booked
    assert wait == pytest.approx(1.0, abs=0.05)  # the busy lane is spent
    await gate.aclose()


@contextlib.asynccontextmanager
async def sender(
    server: Scripted, limit: RateLimit, account_id: str = "acct"
) -> AsyncIterator[Any]:
    async with Sender(
        account_id, "user", "pass", application_id="app", base_url=server.base_url, rate=limit
    ) as made:
        yield made


async def test_two_senders_of_one_name_share_and_of_two_names_do_not(
    redis: RedisServer, server: Scripted
) -> None:
    """Once one Sender has spent the name's burst, another Sender of that name waits; a Sender
    of another name does not."""
    loop = asyncio.get_running_loop()
    limit = RateLimit(5, burst=2, redis_url=redis.url, name="shared")
    async with sender(server, limit) as a, sender(server, limit) as b:
        await a.send(req())
        await a.send(req())
        started = loop.time()
        await b.send(req())
        assert loop.time() - started >= 0.15  # 1/5 s, less what passed since a's sends
    other = RateLimit(5, burst=2, redis_url=redis.url, name="other")
    async with sender(server, other) as c:
        started = loop.time()
        await c.send(req())
        await c.send(req())
        assert loop.time() - started < 0.15


async def test_the_name_defaults_to_the_account_id(
    redis: RedisServer, server: Scripted, client: Any
) -> None:
    """Without a name, the budget is the Sender's account id's."""
    async with sender(server, RateLimit(5, redis_url=redis.url), account_id="acct-77") as a:
        await a.send(req())
    assert await client.exists("bwmsg:{acct-77}:rate") == 1


async def test_the_pause_is_shared_and_only_ever_lengthened(redis: RedisServer) -> None:
    """A pause told to one gate holds another gate of the name back; a shorter one later does
    not shorten it."""
    limit = RateLimit(1000, redis_url=redis.url)
    one, two = shared(limit), shared(limit)
    one.pause(0.5)
    await one.aclose()  # finishes the write
    three = shared(limit)
    three.pause(0.1)
    await three.aclose()
    booked, left = await two.budget.acquire(None, 1)
    assert not booked
    assert 0.3 < left <= 0.5
    loop = asyncio.get_running_loop()
    started = loop.time()
    await two.wait(req())
    assert loop.time() - started == pytest.approx(left, abs=0.1)
    await two.aclose()


async def test_a_cancelled_wait_gives_its_booking_back(redis: RedisServer, client: Any) -> None:
    """A wait cancelled while it sleeps gives its booking back: the next one waits less."""
    gate = shared(RateLimit(1, burst=1, redis_url=redis.url))
    key = gate.budget.key(None)
    await gate.wait(req())  # the burst: 1 s booked
    waiting = asyncio.create_task(gate.wait(req()))  # 1 s more, waiting
    for _ in range(500):
        if (await ahead(client, key) or 0) > 1.5:
            break
        await asyncio.sleep(0.005)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await gate.aclose()  # finishes the refund
    left = await ahead(client, key)
    assert left is not None
    assert 0.5 < left < 1.05


async def test_redis_down_fails_the_wait_naming_it_but_never_the_password() -> None:
    """Nothing listening: the wait raises a TransportError naming Redis and host:port,
    without the password (nor in its cause)."""
    port = free_port()
    gate = shared(RateLimit(10, redis_url=f"redis://app:hunter2@127.0.0.1:{port}/0"))
    with pytest.raises(TransportError) as info:
        await gate.wait(req())
    message = str(info.value)
    assert "Redis" in message
    assert f"127.0.0.1:{port}" in message
    assert "hunter2" not in message
    assert "hunter2" not in repr(info.value.__cause__)
    assert "hunter2" not in repr(gate)
    await gate.aclose()


async def test_a_wrong_password_fails_naming_redis_not_the_password() -> None:
    """Redis refusing the password: a TransportError that does not show it; the right one
    works."""
    with redis_server(password="right-pw") as server:
        wrong = shared(RateLimit(10, redis_url=f"redis://:wrong-pw@127.0.0.1:{server.port}/0"))
        with pytest.raises(TransportError, match=r"Redis at 127\.0\.0\.1") as info:
            await wrong.wait(req())
        assert "wrong-pw" not in str(info.value)
        await wrong.aclose()
        right = shared(RateLimit(10, redis_url=server.url))
        await right.wait(req())
        await right.aclose()


async def test_a_hung_redis_fails_within_its_timeout() -> None:
    """A server that takes the connection and never answers cannot hang a send: the wait
    fails once the URL's socket_timeout has passed."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    gate = shared(RateLimit(10, redis_url=f"redis://127.0.0.1:{port}/0?socket_timeout=0.3"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransportError, match=re.escape(f"Redis at 127.0.0.1:{port}")):
        await asyncio.wait_for(gate.wait(req()), timeout=5)
    assert loop.time() - started < 2
    await gate.aclose()
    listener.close()
    await listener.wait_closed()


async def test_a_unix_socket_url_works(redis: RedisServer, client: Any) -> None:
    """unix:///path/to/redis.sock reaches the same Redis."""
    gate = shared(RateLimit(10, redis_url=f"unix://{redis.socket}"))
    await gate.wait(req())
    assert await client.exists("bwmsg:{acct}:rate") == 1
    await gate.aclose()


async def test_the_sender_closes_its_redis_client(
    redis: RedisServer, server: Scripted, client: Any
) -> None:
    """A Sender's gate opens its client on first use and closes it with the Sender."""
    before = len(await client.client_list())
    async with sender(server, RateLimit(100, redis_url=redis.url)) as a:
        await asyncio.gather(*(a.send(req()) for _ in range(5)))
        assert len(await client.client_list()) > before
    assert len(await client.client_list()) == before


async def test_a_gate_keeps_a_few_connections_however_many_wait(
    redis: RedisServer, client: Any
) -> None:
    """200 waits at once share at most 16 connections (a round trip is short), not one each."""
    gate = shared(RateLimit(1e9, redis_url=redis.url))
    before = len(await client.client_list())
    await asyncio.gather(*(gate.wait(req()) for _ in range(200)))
    assert 1 <= len(await client.client_list()) - before <= 16
    await gate.aclose()
    assert len(await client.client_list()) == before


async def test_after_redis_restarts_the_next_wait_works(redis: RedisServer) -> None:
    """Redis restarted (its scripts and keys gone, the pooled connection dead): the wait in
    between fails, the next after the restart works."""
    gate = shared(RateLimit(100, redis_url=redis.url))
    await gate.wait(req())
    await asyncio.to_thread(redis.stop)
    with pytest.raises(TransportError):
        await gate.wait(req())
    await asyncio.to_thread(redis.start)
    await gate.wait(req())
    await gate.aclose()


async def test_redis_restarted_unseen_the_next_wait_works(redis: RedisServer) -> None:
    """Redis restarted while the gate was idle: its first wait after works."""
    gate = shared(RateLimit(100, redis_url=redis.url))
    await gate.wait(req())
    await asyncio.to_thread(redis.stop)
    await asyncio.to_thread(redis.start)
    await gate.wait(req())
    await gate.aclose()
