"""The dispatcher's counting semaphore: bound, order, and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from bwmsg._limit import Limit


async def test_free_slots_are_taken_without_waiting() -> None:
    """try_acquire takes free slots and refuses when none is left."""
    limit = Limit(2)
    assert limit.try_acquire()
    assert limit.try_acquire()
    assert not limit.try_acquire()
    limit.release()
    assert limit.free == 1


async def test_waiters_are_served_in_order() -> None:
    """Released slots go to the waiters first come, first served."""
    limit = Limit(1)
    await limit.acquire()
    order: list[int] = []

    async def waiter(n: int) -> None:
        await limit.acquire()
        order.append(n)

    tasks = [asyncio.ensure_future(waiter(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert not limit.try_acquire()  # nobody may jump the queue
    for _ in range(3):
        limit.release()
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    assert limit.free == 0


async def test_cancelled_waiter_gives_up_its_place() -> None:
    """A waiter cancelled while waiting leaves the queue; the slot goes to the next."""
    limit = Limit(1)
    await limit.acquire()
    first = asyncio.ensure_future(limit.acquire())
    second = asyncio.ensure_future(limit.acquire())
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    limit.release()
    await asyncio.wait_for(second, 1)
    assert limit.free == 0


async def test_slot_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    """If a waiter is cancelled just as it is handed a slot, the slot is not lost."""
    limit = Limit(1)
    await limit.acquire()
    first = asyncio.ensure_future(limit.acquire())
    second = asyncio.ensure_future(limit.acquire())
    await asyncio.sleep(0)
    limit.release()  # hands the slot to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # the slot went on to `second`
    limit.release()
    assert limit.free == 1
