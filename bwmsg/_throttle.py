"""What a request waits for before it is made: the Sender-wide pause after a 429, and the
client-side throttle that counts segments the way Bandwidth's account limits do.

:class:`Gate` is the seam: the Sender waits on it before each attempt and tells it of each 429.
The local gate keeps both in this process.
"""

from __future__ import annotations

import asyncio

import attrs

from ._checks import positive
from ._models import MessageRequest
from ._segments import segments

__all__ = ["Gate", "LocalGate", "RateLimit", "Throttle", "charge", "open_gate"]


@attrs.frozen
class RateLimit:
    """A client-side throttle counted in segments per second.

    Each request is charged its segment count (see :func:`~bwmsg.segments`; MMS counts one)
    times its number of recipients, as Bandwidth counts its limits.

    Args:
        segments_per_second: the sustained rate.
        burst: the most segments that may go at once after a quiet spell; defaults to one
            second's worth (at least 1).
        per_sender: one lane per ``from`` number, each with this rate and burst, so that one busy
            number does not hold the others back.
    """

    segments_per_second: float = attrs.field(validator=positive)
    burst: float | None = attrs.field(
        default=None, kw_only=True, validator=attrs.validators.optional(positive)
    )
    per_sender: bool = attrs.field(default=False, kw_only=True)

    @property
    def capacity(self) -> float:
        """The burst in effect."""
        return self.burst if self.burst is not None else max(1.0, self.segments_per_second)


def charge(request: MessageRequest) -> int:
    """Segments a request costs against a rate limit: segments x recipients (MMS: 1 each)."""
    per_recipient = 1 if request.media else segments(request.text or "").segments
    return per_recipient * len(request.to)


class _Bucket:
    """A token bucket that lets callers reserve tokens in arrival order and wait off the debt."""

    __slots__ = ("_capacity", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity
        self._stamp = now

    def reserve(self, amount: float, now: float) -> float:
        """Take ``amount`` tokens; return how long to wait before using them."""
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        self._tokens -= amount
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    def refund(self, amount: float) -> None:
        """Give back tokens of a reservation that was not used."""
        self._tokens = min(self._capacity, self._tokens + amount)


class Throttle:
    """The running state of a :class:`RateLimit` for one Sender."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._buckets: dict[str | None, _Bucket] = {}

    def _bucket(self, key: str | None, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.limit.segments_per_second, self.limit.capacity, now)
            self._buckets[key] = bucket
        return bucket

    async def acquire(self, request: MessageRequest) -> None:
        """Wait until ``request`` may be sent without exceeding the limit."""
        amount = charge(request)
        loop = asyncio.get_running_loop()
        now = loop.time()
        bucket = self._bucket(request.from_ if self.limit.per_sender else None, now)
        wait = bucket.reserve(amount, now)
        if wait > 0:
            try:
                await asyncio.sleep(wait)
            except asyncio.CancelledError:
                bucket.refund(amount)
                raise


class Gate:
    """What every attempt of a Sender waits for: the pause after a 429, then the rate limit.

    :meth:`wait` may raise a :class:`~bwmsg.BwmsgError` when the gate cannot say (a shared
    budget out of reach): the request is then not made, and the retry policy decides.
    """

    async def wait(self, request: MessageRequest) -> None:
        """Wait until ``request`` may be made."""
        raise NotImplementedError

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (after a 429)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Let go of what the gate holds (connections); the Sender calls it as it closes."""


class LocalGate(Gate):
    """The pause and the budget of one process."""

    def __init__(self, limit: RateLimit | None) -> None:
        self._throttle = Throttle(limit) if limit is not None else None
        self._paused_until = 0.0

    async def wait(self, request: MessageRequest) -> None:
        loop = asyncio.get_running_loop()
        # A timed wait, not a wait for an event: the pause may be lengthened meanwhile.
        while self._paused_until > loop.time():  # noqa: ASYNC110
            await asyncio.sleep(self._paused_until - loop.time())
        if self._throttle is not None:
            await self._throttle.acquire(request)

    def pause(self, seconds: float) -> None:
        until = asyncio.get_running_loop().time() + seconds
        self._paused_until = max(self._paused_until, until)


def open_gate(limit: RateLimit | None, account_id: str) -> Gate:
    """The gate for a Sender of ``account_id`` with the rate limit ``limit`` (or none)."""
    del account_id  # names a shared budget; the local gate needs no name
    return LocalGate(limit)
