"""Retrying: whether a failed attempt is tried again and after how long (:class:`RetryPolicy`),
and the ONE loop that every request of a Sender goes through (:func:`retry`): sends, tokens,
listing and media.

The loop follows stamina's shape: one loop, and a hook per decision on an :class:`Attempts`
object that each kind of request fills in (what one attempt is, how long to wait after a
failure, what to note). The rule for a 401 lives here once: a 401 on a request that carried a
token renews the token for one more attempt, which the policy does not count (a 401 means the
server did nothing).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Generic, Protocol, TypeVar

import attrs

from ._checks import non_negative, positive_int
from ._errors import AmbiguousSendError, ApiError, AuthenticationError, BwmsgError, TransportError

__all__ = ["Attempts", "Renewing", "RetryPolicy", "parse_retry_after", "retry"]

T = TypeVar("T")

_DEFAULT_STATUSES = frozenset({429, 500, 502, 503, 504})


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how a failed send is tried again.

    Waits follow exponential backoff with full jitter: before attempt ``n + 1`` bwmsg sleeps a
    random time between 0 and ``min(max_delay, base_delay * 2 ** (n - 1))``. A ``Retry-After``
    header (seconds or an HTTP date) sets the least wait. ``base_delay=0`` turns waiting off
    (useful in tests).

    What is retried:

    - an answer whose status is in ``retry_statuses`` (Bandwidth neither sent nor billed it);
    - a connection that failed before the request was written (:class:`~bwmsg.TransportError`),
      unless retrying cannot help (an untrusted certificate);
    - a timeout or dropped connection after the request was written
      (:class:`~bwmsg.AmbiguousSendError`) only when ``retry_ambiguous`` is True, because the
      message may already have been accepted and a retry can send it twice.

    Any other 4xx is never retried.

    Args:
        max_attempts: attempts in all, the first included (1 disables retries).
        base_delay: seconds; the first backoff is at most this.
        max_delay: seconds; no computed backoff is longer (``Retry-After`` may be).
        retry_statuses: HTTP statuses that are retried.
        retry_ambiguous: also retry sends that may have been accepted.
    """

    max_attempts: int = attrs.field(default=5, validator=positive_int)
    base_delay: float = attrs.field(default=0.5, validator=non_negative)
    max_delay: float = attrs.field(default=30.0, validator=non_negative)
    retry_statuses: frozenset[int] = attrs.field(default=_DEFAULT_STATUSES, converter=frozenset)
    retry_ambiguous: bool = False

    def is_retryable(self, error: BwmsgError) -> bool:
        """Whether ``error`` may be retried under this policy (attempts aside)."""
        if isinstance(error, ApiError):
            return error.status in self.retry_statuses
        if isinstance(error, TransportError):
            return error.retryable
        if isinstance(error, AmbiguousSendError):
            return self.retry_ambiguous
        return False

    def backoff(self, attempt: int, *, rng: Callable[[], float] = random.random) -> float:
        """The jittered wait after failed attempt number ``attempt`` (1-based)."""
        if self.base_delay == 0 or self.max_delay == 0:
            return 0.0
        # min() before the power would overflow for large attempt numbers.
        ceiling = self.max_delay
        if attempt < 64:
            ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng() * ceiling

    def next_delay(
        self, error: BwmsgError, attempt: int, *, rng: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before trying again after ``attempt`` failed with ``error``.

        None when the error is not retryable or the attempts are spent.
        """
        if attempt >= self.max_attempts or not self.is_retryable(error):
            return None
        delay = self.backoff(attempt, rng=rng)
        if isinstance(error, ApiError) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return delay


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    None when absent or unreadable; never negative.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now()
    if seconds != seconds or seconds == float("inf"):  # NaN, infinity
        return None
    return max(0.0, seconds)


class Renewing(Protocol):
    """Credentials that may renew what they sent after a 401 (see bwmsg._auth)."""

    def renew_after_401(self, used: dict[str, str]) -> bool:
        """True when renewing the credentials sent as ``used`` may help."""
        ...


class Attempts(Generic[T]):
    """One request's attempts as :func:`retry` drives them: subclasses say what one attempt
    is (:meth:`once`) and may change how long to wait (:meth:`delay`) and what is noted after
    each failure (:meth:`failed`)."""

    __slots__ = ("budget", "credentials", "renewed", "used")

    def __init__(self, credentials: Renewing | None = None) -> None:
        self.budget = 0
        """Attempts counted against the policy so far (a renewed token's retry is free)."""
        self.credentials = credentials
        """What a 401 renews; None when nothing can be."""
        self.renewed = False
        """Whether the one renewal after a 401 has been used."""
        self.used: dict[str, str] | None = None
        """The headers the last attempt carried (set by :meth:`once`)."""

    async def once(self) -> T | BwmsgError:
        """Make one attempt: its value, or the error it failed with."""
        raise NotImplementedError

    def delay(self, policy: RetryPolicy, error: BwmsgError) -> float | None:
        """Seconds to wait before the next attempt after ``error``; None to give up."""
        return policy.next_delay(error, self.budget)

    def failed(self, error: BwmsgError, delay: float | None) -> None:
        """Called after each failed attempt with the wait chosen (None: giving up)."""

    def renews(self, error: BwmsgError) -> bool:
        """The 401 rule: renew the credentials once, for one more attempt the policy does not
        count, when ``error`` is a 401 on a request that carried renewable credentials."""
        credentials = self.credentials
        used = self.used
        if (
            not isinstance(error, AuthenticationError)
            or self.renewed
            or credentials is None
            or used is None
            or not credentials.renew_after_401(used)
        ):
            return False
        self.renewed = True
        return True


async def retry(policy: RetryPolicy, attempts: Attempts[T]) -> T | BwmsgError:
    """Attempt until one succeeds or ``policy`` (through ``attempts.delay``) gives up; then
    the value, or the last error. Raises only what an attempt raises (a cancellation)."""
    while True:
        attempts.budget += 1
        outcome = await attempts.once()
        if not isinstance(outcome, BwmsgError):
            return outcome
        if attempts.renews(outcome):
            attempts.budget -= 1
            continue
        delay = attempts.delay(policy, outcome)
        attempts.failed(outcome, delay)
        if delay is None:
            return outcome
        if delay > 0:
            await asyncio.sleep(delay)
