"""RetryPolicy: which errors are retried, and the backoff."""

from __future__ import annotations

import email.utils

import pytest

from bwmsg import (
    AmbiguousSendError,
    AuthenticationError,
    BadRequestError,
    RequestValidationError,
    RetryPolicy,
    TransportError,
)
from bwmsg._errors import api_error_from_response
from bwmsg._retry import parse_retry_after


def always_max() -> float:
    return 1.0


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    """429 and 5xx in retry_statuses are retried."""
    assert RetryPolicy().next_delay(api_error_from_response(status, b""), 1) is not None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 415, 501])
def test_other_statuses_are_not_retried(status: int) -> None:
    """Other 4xx (and statuses outside retry_statuses) are final."""
    assert RetryPolicy().next_delay(api_error_from_response(status, b""), 1) is None


def test_transport_errors_are_always_retried() -> None:
    """A connection that never carried the request is retried."""
    assert RetryPolicy().next_delay(TransportError("refused"), 1) is not None


def test_transport_errors_that_cannot_heal_are_not_retried() -> None:
    """A TransportError marked not retryable (an untrusted certificate) is final."""
    assert RetryPolicy().next_delay(TransportError("bad cert", retryable=False), 1) is None


def test_ambiguous_only_when_asked() -> None:
    """Ambiguous failures are retried only with retry_ambiguous=True."""
    error = AmbiguousSendError("timeout")
    assert RetryPolicy().next_delay(error, 1) is None
    assert RetryPolicy(retry_ambiguous=True).next_delay(error, 1) is not None


def test_validation_errors_are_not_retried() -> None:
    """A request refused before sending is never retried."""
    assert RetryPolicy().next_delay(RequestValidationError([]), 1) is None


def test_attempts_are_bounded() -> None:
    """No retry after max_attempts attempts."""
    policy = RetryPolicy(max_attempts=3)
    error = TransportError("x")
    assert policy.next_delay(error, 2) is not None
    assert policy.next_delay(error, 3) is None


def test_backoff_is_exponential_and_capped() -> None:
    """The ceiling doubles per attempt up to max_delay."""
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    ceilings = [policy.backoff(n, rng=always_max) for n in range(1, 7)]
    assert ceilings == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.backoff(10_000, rng=always_max) == 3.0


def test_backoff_full_jitter() -> None:
    """The wait is a uniform fraction of the ceiling."""
    assert RetryPolicy(base_delay=1.0).backoff(3, rng=lambda: 0.25) == 1.0


def test_zero_base_delay_means_no_wait() -> None:
    """base_delay=0 turns waits off."""
    assert RetryPolicy(base_delay=0).next_delay(TransportError("x"), 1) == 0.0


def test_retry_after_sets_the_least_wait() -> None:
    """Retry-After is a floor on the computed backoff."""
    policy = RetryPolicy(base_delay=0.1)
    error = api_error_from_response(429, b"", retry_after=7.0)
    assert policy.next_delay(error, 1, rng=always_max) == 7.0
    small = api_error_from_response(503, b"", retry_after=0.01)
    assert policy.next_delay(small, 1, rng=always_max) == 0.1


def test_parse_retry_after_seconds() -> None:
    """Delta-seconds are read."""
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5


def test_parse_retry_after_http_date() -> None:
    """An HTTP date is turned into seconds from now."""
    header = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(header, now=lambda: 1_000_000.0) == 30.0


def test_parse_retry_after_past_and_garbage() -> None:
    """A past date is 0; garbage or absence is None."""
    past = email.utils.formatdate(0, usegmt=True)
    assert parse_retry_after(past, now=lambda: 1_000_000.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("nan") is None


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base_delay": -1}, {"max_delay": float("nan")}, {"max_attempts": 1.5}],
)
def test_invalid_policy(kwargs: dict[str, float]) -> None:
    """Nonsense settings are refused with the setting named."""
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_auth_errors_final() -> None:
    """401 and 400 instances are final."""
    assert not RetryPolicy().is_retryable(AuthenticationError(401))
    assert not RetryPolicy().is_retryable(BadRequestError(400))
