"""What a request waits for before it is made: the Sender-wide pause after a 429, and the
client-side throttle that counts segments the way Bandwidth's account limits do.

:class:`Gate` is the seam: the Sender waits on it before each attempt and tells it of each 429.
The local gate keeps both in this process; the shared gate (``RateLimit(redis_url=...)``) keeps
them in Redis (:mod:`bwmsg._redis_budget`), so that every Sender of one name, in any process on
any machine, draws on one budget and is held back by one pause.
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs

from ._checks import positive
from ._models import MessageRequest
from ._redis_budget import RedisBudget, check_name, check_url, library, redacted
from ._segments import segments

__all__ = ["Gate", "LocalGate", "RateLimit", "SharedGate", "Throttle", "charge", "open_gate"]


def _redis_url(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        check_url(value)
        library()  # redis-py is there, or a ValueError saying how to install it


def _name(instance: RateLimit, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    check_name(value)
    if instance.redis_url is None:
        raise ValueError(
            "RateLimit.name names a budget shared through Redis: give redis_url too "
            "(a local RateLimit is this Sender's own)"
        )


def _shown_url(value: str | None) -> str:
    return "None" if value is None else repr(redacted(value))


@attrs.frozen
class RateLimit:
    """A client-side throttle counted in segments per second.

    Each request is charged its segment count (see :func:`~bwmsg.segments`; MMS counts one)
    times its number of recipients, as Bandwidth counts its limits. A request waits for its
    turn in arrival order; a wait that is cancelled gives its turn back.

    By default the budget is the Sender's own, in its process. With ``redis_url``, every Sender
    (in any process, on any machine) that uses the same Redis and the same ``name`` shares one
    budget, ``per_sender`` lanes included, and one pause after a 429: each acquisition is one
    atomic step in Redis (GCRA in a Lua script, timed by the Redis server's clock), so give
    them all the same rate and burst. While Redis cannot be reached nothing is sent: each
    attempt fails as not made (a :class:`~bwmsg.TransportError` naming Redis) and the retry
    policy decides, so the request ends ``FAILED`` once it is spent. Each Sender opens one
    Redis client on first use and closes it with the Sender; Redis calls time out after 2 s
    (``?socket_timeout=`` and ``?socket_connect_timeout=`` in the URL change that). Needs the
    ``redis`` extra (``pip install 'bwmsg[redis]'``).

    Args:
        segments_per_second: the sustained rate.
        burst: the most segments that may go at once after a quiet spell; defaults to one
            second's worth (at least 1).
        per_sender: one lane per ``from`` number, each with this rate and burst, so that one busy
            number does not hold the others back.
        redis_url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` (TLS) or
            ``unix:///path/to/redis.sock``: share the budget through that Redis. None: local.
            Its password never appears in ``repr``, logs or errors.
        name: what the shared budget is called (1 to 128 letters, digits, ``.``, ``_``, ``:``,
            ``-``); defaults to the Sender's account id. Only with ``redis_url``.

    Raises:
        ValueError: a rate or burst that is not a positive number, a ``redis_url`` that is not
            a Redis URL or without redis-py installed, a ``name`` that cannot name a budget.
    """

    segments_per_second: float = attrs.field(validator=positive)
    burst: float | None = attrs.field(
        default=None, kw_only=True, validator=attrs.validators.optional(positive)
    )
    per_sender: bool = attrs.field(default=False, kw_only=True)
    redis_url: str | None = attrs.field(
        default=None, kw_only=True, validator=_redis_url, repr=_shown_url
    )
    name: str | None = attrs.field(default=None, kw_only=True, validator=_name)

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

    def open_at(self, now: float) -> bool:
        """Whether any request may be made at ``now`` (this loop's clock) without waiting: the
        Sender then skips :meth:`wait` (one await less per attempt on the default path)."""
        return False

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (after a 429)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Let go of what the gate holds (connections); the Sender calls it as it closes."""


class _Pause:
    """The end of the Sender-wide pause, on this loop's clock, as this process knows it."""

    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until = 0.0

    def hold(self, seconds: float) -> None:
        """Lengthen the pause to ``seconds`` from now, never shorten it."""
        self.until = max(self.until, asyncio.get_running_loop().time() + seconds)

    async def passed(self) -> None:
        """Return once the pause is over."""
        loop = asyncio.get_running_loop()
        # A timed wait, not a wait for an event: the pause may be lengthened meanwhile.
        while self.until > loop.time():  # noqa: ASYNC110
            await asyncio.sleep(self.until - loop.time())


class LocalGate(Gate):
    """The pause and the budget of one process."""

    def __init__(self, limit: RateLimit | None) -> None:
        self._throttle = Throttle(limit) if limit is not None else None
        self._pause = _Pause()

    async def wait(self, request: MessageRequest) -> None:
        await self._pause.passed()
        if self._throttle is not None:
            await self._throttle.acquire(request)

    def open_at(self, now: float) -> bool:
        return self._throttle is None and self._pause.until <= now

    def pause(self, seconds: float) -> None:
        self._pause.hold(seconds)


class SharedGate(Gate):
    """The pause and the budget shared through Redis by every Sender of one name.

    Each wait is one Redis round trip (a pause another Sender saw is learnt from it, and the
    other waits of this process then sit it out without asking Redis again); a 429 here holds
    this process back at once and is written to Redis for the others as soon as it can be. A
    wait cancelled while it sleeps gives its booking back (as the local bucket does); one
    cancelled during the round trip does not, since it cannot know whether the booking was
    made: the error is on the side of sending less.
    """

    def __init__(self, limit: RateLimit, name: str) -> None:
        assert limit.redis_url is not None
        self.limit = limit
        self.budget = RedisBudget(limit.redis_url, name, limit.segments_per_second, limit.capacity)
        self._pause = _Pause()

    def __repr__(self) -> str:
        return f"SharedGate({self.budget!r})"

    async def wait(self, request: MessageRequest) -> None:
        lane = request.from_ if self.limit.per_sender else None
        cost = charge(request)
        while True:
            await self._pause.passed()
            booked, seconds = await self.budget.acquire(lane, cost)
            if booked:
                break
            self._pause.hold(seconds)  # another Sender's 429: known here now
        if seconds > 0:
            try:
                await asyncio.sleep(seconds)
            except asyncio.CancelledError:
                self.budget.refund(lane, cost)
                raise

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self._pause.hold(seconds)
            self.budget.pause(seconds)

    async def aclose(self) -> None:
        await self.budget.aclose()


def open_gate(limit: RateLimit | None, account_id: str) -> Gate:
    """The gate for a Sender of ``account_id`` with the rate limit ``limit`` (or none): shared
    through Redis under ``limit.name`` (default: the account id) when it has a ``redis_url``."""
    if limit is not None and limit.redis_url is not None:
        return SharedGate(limit, limit.name or account_id)
    return LocalGate(limit)
