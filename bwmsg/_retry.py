"""The retry decision: whether a failed attempt is tried again, and after how long."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import attrs

from ._checks import non_negative, positive_int
from ._errors import AmbiguousSendError, ApiError, BwmsgError, TransportError

__all__ = ["RetryPolicy", "parse_retry_after"]

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
