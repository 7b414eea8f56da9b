"""send_many's machinery: workers that each take the next request and send it, the results
handed to one consumer (in order, or as they finish), the bound on what is held, the stop.

The Sender gives a ``dispatch`` callable (one request with its retries, never raising for the
message's own failure); everything here is about running many of them at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from typing import Any

from ._limit import Limit
from ._models import MessageRequest, Outcome, SendResult

__all__ = ["Dispatch", "Many", "Run", "Slot", "uncancel"]


class Run:
    """One send_many run: whether its stop has begun."""

    __slots__ = ("stopping",)

    def __init__(self) -> None:
        self.stopping = False


class Slot:
    """One send_many worker: its run, and whether its request may be on the wire right now."""

    __slots__ = ("run", "written")

    def __init__(self, run: Run) -> None:
        self.run = run
        self.written = False


Dispatch = Callable[[MessageRequest, int, Slot], Awaitable[SendResult]]
"""One request (at its index) sent by one worker's slot, with its retries."""


class Many:
    """One send_many: ``concurrency`` workers, at most ``2 * concurrency`` requests taken and
    not yet yielded, the optional stop and grace."""

    def __init__(
        self,
        dispatch: Dispatch,
        requests: Iterable[MessageRequest] | AsyncIterable[MessageRequest],
        concurrency: int,
        stop: asyncio.Event | None,
        grace: float | asyncio.Event | None,
    ) -> None:
        self.dispatch = dispatch
        self.stop = stop
        self.slots = Limit(2 * concurrency)
        # Finished results wait in a deque; the consumer sleeps on `arrived` only when empty.
        self.done: deque[SendResult | WorkerExit] = deque()
        self.arrived = asyncio.Event()
        self.requests = requests
        self.run = Run()
        self.concurrency = concurrency
        self.grace = grace
        self.workers: list[asyncio.Task[None]] = []
        self.stopper: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Take the input and start the workers (and the stopper, with a stop)."""
        self.feed = Feed(self.requests)
        slots = [Slot(self.run) for _ in range(self.concurrency)]
        self.workers = [asyncio.ensure_future(self.worker(slot)) for slot in slots]
        if self.stop is not None:
            self.stopper = asyncio.ensure_future(
                stop_workers(self.run, self.stop, self.grace, self.feed, self.workers, slots)
            )

    async def worker(self, slot: Slot) -> None:
        """Take requests and send them until the input ends or the run stops."""
        exit_ = WorkerExit()
        run, stop, slots, feed = self.run, self.stop, self.slots, self.feed
        take_sync = feed.take_sync
        try:
            while not (run.stopping or (stop is not None and stop.is_set())):
                if not slots.try_acquire():
                    await slots.acquire()
                if take_sync is not None:
                    taken = take_sync()
                else:  # what the source has at hand comes without a coroutine made per row
                    taken = feed.take_ready() or await feed.take()
                if taken is None:
                    slots.release()
                    return
                index, request = taken
                result = await self.dispatch(request, index, slot)
                self.done.append(result)
                self.arrived.set()
                if result.outcome is not Outcome.SENT and stop is not None:
                    # Let the consumer see a failure before this worker takes another
                    # request: one that stops on it (401, 404, too many failures in a
                    # row) then stops before anything more is sent.
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            if not run.stopping:
                exit_.cancelled = True
                raise
            uncancel()  # our own stop reached a worker that held no request
        except Exception as exc:  # handed to the consumer
            exit_.error = exc
        finally:
            self.done.append(exit_)
            self.arrived.set()

    async def results(
        self, ordered: bool, opening: Callable[[], object], tasks: set[asyncio.Task[Any]]
    ) -> AsyncGenerator[SendResult, None]:
        """Every result, in input order when ``ordered``; then the input's own failure, a
        worker's, or the Sender's closing, raised. At the first iteration ``opening()`` (the
        Sender's check that it is open), then the start; the workers are in ``tasks`` (the
        Sender's, cancelled when it closes) until the end. The one generator the caller
        iterates, none around it: a resumption less for every result."""
        opening()
        self.start()
        tasks.update(self.workers)
        running = len(self.workers)
        done, arrived, slots = self.done, self.arrived, self.slots
        pending: dict[int, SendResult] = {}
        next_index = 0
        failure: BaseException | None = None
        stopped = False
        try:
            while running:
                if not done:
                    arrived.clear()
                    await arrived.wait()
                    continue
                item = done.popleft()
                if isinstance(item, WorkerExit):
                    running -= 1
                    stopped = stopped or item.cancelled
                    if item.error is not None:
                        failure = failure or item.error
                        self.feed.close()
                    continue
                if not ordered:
                    slots.release()
                    yield item
                    continue
                pending[item.index] = item
                while next_index in pending:
                    ready = pending.pop(next_index)
                    next_index += 1
                    slots.release()
                    yield ready
        finally:
            await self.close()
            tasks.difference_update(self.workers)
        if self.feed.error is not None:
            raise self.feed.error
        if failure is not None:
            raise failure
        if stopped:
            raise RuntimeError("send_many was stopped because its Sender was closed")

    async def close(self) -> None:
        """Cancel what still runs and wait for it."""
        if self.stopper is not None:
            self.stopper.cancel()
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)


async def stop_workers(
    run: Run,
    stop: asyncio.Event,
    grace: float | asyncio.Event | None,
    feed: Feed,
    workers: Sequence[asyncio.Future[None]],
    slots: Sequence[Slot],
) -> None:
    """send_many's stop: once ``stop`` is set, end what was not written, then after the grace
    what was (each worker turns the cancellation into its request's result)."""
    await stop.wait()
    run.stopping = True
    feed.close()
    for task, slot in zip(workers, slots, strict=True):
        if not slot.written:
            task.cancel()
    if grace is None:
        return
    if isinstance(grace, asyncio.Event):
        await grace.wait()
    elif grace > 0:
        await asyncio.sleep(grace)
    for task in workers:
        task.cancel()


def uncancel() -> None:
    """Forget a cancellation that was handled (Python 3.11+ counts them per task)."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


class WorkerExit:
    """How a worker ended."""

    __slots__ = ("cancelled", "error")

    def __init__(self, *, cancelled: bool = False, error: BaseException | None = None) -> None:
        self.cancelled = cancelled
        self.error = error


class Feed:
    """Hands out (index, request) pairs from a sync or async iterable, one taker at a time.

    An async iterable may also offer ``take_ready()``: the next request when it has one at
    hand (no await needed), else None. Workers then take without the lock, the await and a
    coroutine while nobody is awaiting the iterable (a campaign's rows are taken in batches:
    most are at hand).
    """

    def __init__(self, source: Iterable[MessageRequest] | AsyncIterable[MessageRequest]) -> None:
        self._sync: Iterator[MessageRequest] | None = None
        self._async: AsyncIterator[MessageRequest] | None = None
        self._ready: Callable[[], MessageRequest | None] | None = None
        if isinstance(source, AsyncIterable):
            self._async = aiter(source)
            self._lock: asyncio.Lock | None = asyncio.Lock()
            self._ready = getattr(source, "take_ready", None)
        elif isinstance(source, Iterable):
            self._sync = iter(source)
            self._lock = None
        else:
            raise TypeError(
                f"send_many needs an iterable or async iterable, got {type(source).__name__}"
            )
        self._next = 0
        self._done = False
        self._awaiting = False  # a taker awaits the async iterable
        self.error: BaseException | None = None
        # For a plain iterable no await is needed: workers call take_sync directly.
        self.take_sync = self._take_sync if self._sync is not None else None

    def close(self) -> None:
        """Hand out nothing more."""
        self._done = True

    def _take_sync(self) -> tuple[int, MessageRequest] | None:
        if self._done:
            return None
        assert self._sync is not None
        try:
            return self._numbered(next(self._sync))
        except StopIteration:
            self._end(None)
            return None
        except Exception as exc:  # the input's own failure
            self._end(exc)
            return None

    def take_ready(self) -> tuple[int, MessageRequest] | None:
        """The next (index, request) of an async source that has it at hand (``take_ready()``)
        while nobody awaits the source, or None: then :meth:`take` must be awaited."""
        ready = self._ready
        if ready is None or self._done or self._awaiting:
            return None
        request = ready()
        if request is None:
            return None
        index = self._next  # as _numbered does, a call less for every row
        self._next += 1
        return index, request

    async def take(self) -> tuple[int, MessageRequest] | None:
        """The next (index, request), or None when the input is done (or closed)."""
        lock = self._lock
        if lock is None:
            return self._take_sync()
        taken = self.take_ready()
        if taken is not None:
            return taken
        assert self._async is not None
        async with lock:
            if self._done:
                return None
            self._awaiting = True  # take_ready hands out nothing meanwhile
            try:
                return self._numbered(await anext(self._async))
            except StopAsyncIteration:
                self._end(None)
                return None
            except Exception as exc:  # the input's own failure
                self._end(exc)
                return None
            finally:
                self._awaiting = False

    def _numbered(self, request: MessageRequest) -> tuple[int, MessageRequest]:
        index = self._next
        self._next += 1
        return index, request

    def _end(self, error: Exception | None) -> None:
        self._done = True
        self.error = error
