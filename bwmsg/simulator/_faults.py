"""What goes wrong, and how often: the simulator's fault settings."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import attrs

from .._checks import fraction, seconds

__all__ = ["LATENCY_DISTRIBUTIONS", "Faults"]

LATENCY_DISTRIBUTIONS = ("constant", "uniform", "exponential")

# The order in which a request's one random draw is matched against the fractions. Fixed, so
# that a seed gives the same faults for the same sequence of requests.
_BANDS = ("drop_before_accept", "rate_limited", "server_error", "drop_after_accept", "slow")


def _statuses(instance: object, attribute: attrs.Attribute[Any], value: tuple[int, ...]) -> None:
    if not value or any(
        isinstance(s, bool) or not isinstance(s, int) or not 500 <= s <= 599 for s in value
    ):
        raise ValueError(f"Faults.server_error_statuses must be 5xx statuses, got {value!r}")


def _to_statuses(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(value)


def _distribution(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in LATENCY_DISTRIBUTIONS:
        raise ValueError(
            f"Faults.latency_distribution must be one of {', '.join(LATENCY_DISTRIBUTIONS)}, "
            f"got {value!r}"
        )


@attrs.frozen(kw_only=True)
class Faults:
    """The faults a :class:`~bwmsg.simulator.Simulator` injects, as fractions of requests.

    The fractions are exclusive: one random draw per request (from the simulator's seeded
    generator) picks at most one of ``drop_before_accept``, ``rate_limited``,
    ``server_error``, ``drop_after_accept`` and ``slow``, so their sum must not exceed 1.
    Requests with bad credentials are answered 401 before any fault is drawn.

    Args:
        rate_limited: fraction answered ``429 max-message-queue-size-exceeded`` (not recorded).
        server_error: fraction answered with a status from ``server_error_statuses``
            (not recorded).
        drop_before_accept: fraction whose connection is closed, without an answer, after the
            request was read and before the message was recorded: the client cannot tell this
            from ``drop_after_accept``.
        drop_after_accept: fraction recorded as accepted and then closed without an answer:
            a client that retries it sends a real duplicate.
        slow: fraction answered only after ``slow_delay`` seconds (longer than a client's
            timeout).
        slow_accepts: whether a slow request is recorded as accepted before the wait (the
            ambiguous case, True by default) or answered 503 after it (never recorded).
        slow_delay: seconds a slow answer takes.
        latency: seconds added to every answer; the mean of ``latency_distribution``.
        latency_distribution: ``"constant"`` (exactly ``latency``), ``"uniform"`` (between 0
            and twice ``latency``) or ``"exponential"`` (mean ``latency``).
        retry_after: seconds sent in a ``Retry-After`` header with every 429 (injected or from
            the throttle); None (the default, as the real send endpoint) sends none.
        server_error_statuses: the statuses ``server_error`` picks from, uniformly.
    """

    rate_limited: float = attrs.field(default=0.0, validator=fraction)
    server_error: float = attrs.field(default=0.0, validator=fraction)
    drop_before_accept: float = attrs.field(default=0.0, validator=fraction)
    drop_after_accept: float = attrs.field(default=0.0, validator=fraction)
    latency: float = attrs.field(default=0.0, validator=seconds)
    latency_distribution: str = attrs.field(default="constant", validator=_distribution)
    slow: float = attrs.field(default=0.0, validator=fraction)
    slow_delay: float = attrs.field(default=60.0, validator=seconds)
    slow_accepts: bool = True
    retry_after: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(seconds)
    )
    server_error_statuses: tuple[int, ...] = attrs.field(
        default=(500, 502, 503), converter=_to_statuses, validator=_statuses
    )

    def __attrs_post_init__(self) -> None:
        total = sum(getattr(self, name) for name in _BANDS)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"the fault fractions ({', '.join(_BANDS)}) add up to {total:g}; at most 1"
            )

    @property
    def any(self) -> bool:
        """True when any fault or latency is configured."""
        return self.latency > 0 or any(getattr(self, name) for name in _BANDS)

    def thresholds(self) -> tuple[float, float, float, float, float]:
        """Cumulative upper bounds of the fault bands, in draw order (internal use)."""
        a = self.drop_before_accept
        b = a + self.rate_limited
        c = b + self.server_error
        d = c + self.drop_after_accept
        e = d + self.slow
        return (a, b, c, d, e)

    def draw_latency(self, rng: random.Random) -> float:
        """One latency in seconds, drawn from ``latency_distribution`` (internal use)."""
        if self.latency <= 0:
            return 0.0
        if self.latency_distribution == "uniform":
            return rng.uniform(0.0, 2.0 * self.latency)
        if self.latency_distribution == "exponential":
            return rng.expovariate(1.0 / self.latency)
        return self.latency

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """Read faults from ``"rate_limited=0.1,server_error=0.05,latency=0.01"``.

        Keys are the argument names; ``server_error_statuses`` takes ``500/503``;
        ``retry_after=none`` and ``slow_accepts=false`` are understood. An empty string gives
        no faults. Raises ValueError naming a bad key or value.
        """
        kwargs: dict[str, Any] = {}
        fields = {a.name: a for a in attrs.fields(cls)}
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, raw = item.partition("=")
            key, raw = key.strip().replace("-", "_"), raw.strip()
            if not sep or key not in fields:
                raise ValueError(
                    f"bad fault {item!r}: expected name=value with a name among {', '.join(fields)}"
                )
            try:
                kwargs[key] = _parse_value(key, raw)
            except ValueError:
                raise ValueError(f"bad value for fault {key}: {raw!r}") from None
        return cls(**kwargs)


def _parse_value(key: str, raw: str) -> Any:
    if key == "latency_distribution":
        return raw
    if key == "slow_accepts":
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if key == "retry_after" and raw.lower() in ("", "none", "null"):
        return None
    if key == "server_error_statuses":
        return tuple(int(part) for part in raw.replace("/", " ").replace(";", " ").split())
    return float(raw)
