"""Counters and latency quantiles of a Sender, kept cheaply enough for the hot path, and the
:class:`Observer` a Sender tells more to when someone watches it (bwmsg.metrics)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

import attrs

__all__ = ["Observer", "Observers", "SenderStats", "Stats"]

# Latency histogram: bucket upper bounds growing by 10 % from 0.1 ms to about 2 minutes.
_BOUNDS: list[float] = [0.0001 * 1.1**i for i in range(150)]
_WINDOW = 10  # seconds over which the current rate is measured


@attrs.frozen(kw_only=True)
class SenderStats:
    """A snapshot of what a :class:`~bwmsg.Sender` has done so far.

    Attributes:
        sent: messages with outcome SENT.
        failed: messages with outcome FAILED.
        unknown: messages with outcome UNKNOWN.
        attempts: HTTP requests made for messages.
        retries: attempts beyond each message's first.
        in_flight: requests waiting for an answer right now.
        rate: messages finished per second over the last 10 seconds.
        latency_p50: median seconds of one HTTP attempt (None before any).
        latency_p90: 90th percentile.
        latency_p99: 99th percentile.
    """

    sent: int
    failed: int
    unknown: int
    attempts: int
    retries: int
    in_flight: int
    rate: float
    latency_p50: float | None
    latency_p90: float | None
    latency_p99: float | None

    @property
    def finished(self) -> int:
        """Messages with a final outcome."""
        return self.sent + self.failed + self.unknown


class Stats:
    """Mutable counters behind :class:`SenderStats`."""

    __slots__ = (
        "_buckets",
        "_per_second",
        "_second",
        "attempts",
        "failed",
        "in_flight",
        "retries",
        "sent",
        "unknown",
    )

    def __init__(self) -> None:
        self.sent = self.failed = self.unknown = 0
        self.attempts = self.retries = self.in_flight = 0
        self._buckets = [0] * (len(_BOUNDS) + 1)
        self._per_second = [0] * _WINDOW
        self._second = 0

    def latency(self, seconds: float) -> None:
        """Record one attempt's duration."""
        self._buckets[bisect.bisect_left(_BOUNDS, seconds)] += 1

    def finished(self, now: float) -> None:
        """Count one finished message at loop time ``now`` for the rate."""
        second = int(now)
        if second != self._second:
            self._advance(second)
        self._per_second[second % _WINDOW] += 1

    def _quantile(self, q: float, total: int) -> float | None:
        if total == 0:
            return None
        rank = math.ceil(q * total)
        seen = 0
        for i, count in enumerate(self._buckets):
            seen += count
            if seen >= rank:
                return _BOUNDS[min(i, len(_BOUNDS) - 1)]
        return _BOUNDS[-1]  # pragma: no cover - the loop always reaches rank

    def snapshot(self, now: float) -> SenderStats:
        """A frozen copy, with the rate over the last full seconds before ``now``."""
        self._advance(int(now))
        total = sum(self._buckets)
        # The current second is partial: average over the window's full seconds before it.
        done = sum(self._per_second) - self._per_second[int(now) % _WINDOW]
        return SenderStats(
            sent=self.sent,
            failed=self.failed,
            unknown=self.unknown,
            attempts=self.attempts,
            retries=self.retries,
            in_flight=self.in_flight,
            rate=done / (_WINDOW - 1),
            latency_p50=self._quantile(0.5, total),
            latency_p90=self._quantile(0.9, total),
            latency_p99=self._quantile(0.99, total),
        )

    def _advance(self, second: int) -> None:
        # Clear the seconds of the rate window that passed since the last count.
        gap = min(second - self._second, _WINDOW)
        for i in range(1, gap + 1):
            self._per_second[(self._second + i) % _WINDOW] = 0
        self._second = max(self._second, second)


class Observer:
    """What a Sender (and a campaign run on it) tells a watcher beyond its :class:`Stats`, at
    the points that count things. Each method does nothing here; a Sender with no observer
    pays one attribute check per attempt.

    ``result`` of an attempt is one of ``accepted``, ``rate_limited``, ``server_error``,
    ``client_error``, ``transport``, ``ambiguous`` (bwmsg._outcomes.attempt_result).
    """

    def attempted(self, result: str, seconds: float) -> None:
        """One HTTP attempt ended as ``result`` after ``seconds``."""

    def waited(self, seconds: float) -> None:
        """One attempt waited ``seconds`` at the gate (the pause after a 429, the rate limit)."""

    def journal_written(self, seconds: float) -> None:
        """A campaign run wrote its outcomes to its journal in ``seconds``."""

    def rows(self, campaign: str, counts: Mapping[str, int]) -> None:
        """The rows of ``campaign`` by state, as its journal counts them now."""


class Observers(Observer):
    """Several observers of one Sender, each told everything."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def attempted(self, result: str, seconds: float) -> None:
        for observer in self.observers:
            observer.attempted(result, seconds)

    def waited(self, seconds: float) -> None:
        for observer in self.observers:
            observer.waited(seconds)

    def journal_written(self, seconds: float) -> None:
        for observer in self.observers:
            observer.journal_written(seconds)

    def rows(self, campaign: str, counts: Mapping[str, int]) -> None:
        for observer in self.observers:
            observer.rows(campaign, counts)
