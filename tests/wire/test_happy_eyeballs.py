"""Opening connections: happy eyeballs over the addresses, the connect timeout, closing.

An address that never completes a connection is made for real on the loopback interface: a
listener with a backlog of 0 whose one accept-queue place is taken by a connection nobody
accepts. Linux then drops further SYNs to it, so a connect to it hangs as one to a filtered
IPv6 route does.
"""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from yarl import URL

from bwmsg._transport import ConnectError
from bwmsg._transport._pool import Pool
from tests.senders import open_pool, post
from tests.servers import WITHIN, Scripted


@contextmanager
def black_hole(ip: str) -> Iterator[int]:
    """A port on ``ip`` that never completes a connection (skips the test if the kernel
    does not behave so, or ``ip`` cannot be used here)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family) as listener, socket.socket(family) as filler:
        try:
            listener.bind((ip, 0))
        except OSError as exc:
            pytest.skip(f"{ip} cannot be used in this sandbox ({exc})")
        listener.listen(0)
        port = listener.getsockname()[1]
        filler.settimeout(WITHIN)
        filler.connect((ip, port))  # takes the accept queue's one place, never accepted
        with socket.socket(family) as probe:
            probe.setblocking(False)
            probe.connect_ex((ip, port))
            _, writable, _ = select.select([], [probe], [], 0.3)
            if writable and probe.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                pytest.skip("this kernel completes connections past a full accept queue")
        yield port


def messages_url(server: Scripted) -> URL:
    return URL(f"{server.base_url}/users/acct/messages")


def port_of(server: Scripted) -> int:
    port = URL(server.base_url).port
    assert port is not None
    return port


async def test_a_silent_address_first_costs_a_quarter_second(server: Scripted) -> None:
    """An address that never connects, listed first: the next one connects at ~0.25 s."""
    loop = asyncio.get_running_loop()
    with black_hole("127.0.0.1") as hole:
        addresses = [("127.0.0.1", hole), ("127.0.0.1", port_of(server))]
        async with open_pool(messages_url(server), addresses=addresses) as pool:
            started = loop.time()
            assert (await post(pool)).status == 202
            elapsed = loop.time() - started
    assert 0.2 <= elapsed < 0.8, elapsed  # the silent one was tried first, not for long
    assert len(server.requests) == 1


async def test_a_filtered_ipv6_address_then_ipv4(server: Scripted) -> None:
    """A silent ::1 before a working 127.0.0.1: connected well within a second."""
    loop = asyncio.get_running_loop()
    with black_hole("::1") as hole:
        addresses = [("::1", hole), ("127.0.0.1", port_of(server))]
        async with open_pool(messages_url(server), addresses=addresses) as pool:
            started = loop.time()
            assert (await post(pool)).status == 202
            assert loop.time() - started < 0.8
    assert len(server.requests) == 1


async def test_a_refused_address_moves_on_at_once(server: Scripted) -> None:
    """An address that refuses does not wait for the delay: the next is tried at once."""
    loop = asyncio.get_running_loop()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = closed.getsockname()[1]  # bound, not listening: connections are refused
        addresses = [("127.0.0.1", refused), ("127.0.0.1", port_of(server))]
        async with open_pool(messages_url(server), addresses=addresses) as pool:
            started = loop.time()
            assert (await post(pool)).status == 202
            assert loop.time() - started < 0.2


async def test_every_address_refused_is_a_retryable_connect_error() -> None:
    """No address accepts: ConnectError, retryable, caused by the OSError."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        async with open_pool(URL(f"http://127.0.0.1:{port}/x")) as pool:
            with pytest.raises(ConnectError, match="could not connect") as info:
                await post(pool)
    assert info.value.retryable is True
    assert isinstance(info.value.__cause__, OSError)


async def test_connect_timeout_is_a_retryable_connect_error() -> None:
    """Only silent addresses: ConnectError 'timed out' after connect_timeout, retryable."""
    loop = asyncio.get_running_loop()
    with black_hole("127.0.0.1") as hole:
        url = URL("http://bwmsg.invalid/x")
        async with open_pool(url, addresses=[("127.0.0.1", hole)], connect_timeout=0.3) as pool:
            started = loop.time()
            with pytest.raises(ConnectError, match="timed out") as info:
                await post(pool)
            assert 0.25 <= loop.time() - started < 1.0
    assert info.value.retryable is True
    assert pool.connections == 0


async def test_close_while_connecting_fails_the_post_at_once() -> None:
    """close() during a connection attempt: ConnectError 'closed', not retryable, at once."""
    loop = asyncio.get_running_loop()
    with black_hole("127.0.0.1") as hole:
        url = URL("http://bwmsg.invalid/x")
        pool = Pool(url, addresses=[("127.0.0.1", hole)], connect_timeout=WITHIN)
        task = asyncio.ensure_future(post(pool))
        await asyncio.sleep(0.1)
        started = loop.time()
        await pool.close()
        outcome = (await asyncio.gather(task, return_exceptions=True))[0]
        assert loop.time() - started < 0.5
    assert isinstance(outcome, ConnectError), repr(outcome)
    assert "closed" in str(outcome)
    assert outcome.retryable is False


def test_addresses_must_not_be_empty() -> None:
    """An empty address list is refused at construction."""
    with pytest.raises(ValueError, match="addresses"):
        Pool(URL("http://bwmsg.invalid/x"), addresses=[])
