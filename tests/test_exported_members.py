"""The public surface: bwmsg.__all__ is complete, sorted, and names what DESIGN.md fixes."""

from __future__ import annotations

import bwmsg

DESIGN_NAMES = [
    "AmbiguousSendError",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "BwmsgError",
    "Direction",
    "FieldError",
    "ForbiddenError",
    "Message",
    "MessageRequest",
    "NotFoundError",
    "Outcome",
    "Priority",
    "RateLimit",
    "RateLimitedError",
    "RequestValidationError",
    "RetryPolicy",
    "SegmentInfo",
    "SendResult",
    "Sender",
    "ServerError",
    "TransportError",
    "segments",
]


def test_all_is_sorted_and_unique() -> None:
    """__all__ is sorted with no repeats."""
    assert list(bwmsg.__all__) == sorted(set(bwmsg.__all__))


def test_all_names_exist() -> None:
    """Every name in __all__ is importable."""
    for name in bwmsg.__all__:
        assert hasattr(bwmsg, name), name


def test_every_public_member_is_exported() -> None:
    """Every public attribute defined by bwmsg's modules is listed in __all__."""
    members = {
        name
        for name, value in vars(bwmsg).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("bwmsg")
    }
    assert members <= set(bwmsg.__all__)


def test_design_names_are_exported() -> None:
    """The names DESIGN.md fixes are all public."""
    assert set(DESIGN_NAMES) <= set(bwmsg.__all__)


def test_error_tree() -> None:
    """The error classes sit where DESIGN.md draws them."""
    for name in (
        "BadRequestError",
        "AuthenticationError",
        "ForbiddenError",
        "NotFoundError",
        "RateLimitedError",
        "ServerError",
    ):
        assert issubclass(getattr(bwmsg, name), bwmsg.ApiError)
    for name in ("RequestValidationError", "ApiError", "TransportError", "AmbiguousSendError"):
        assert issubclass(getattr(bwmsg, name), bwmsg.BwmsgError)
    assert issubclass(bwmsg.RequestValidationError, ValueError)


def test_public_items_are_documented() -> None:
    """Every exported class and function has a docstring."""
    for name in bwmsg.__all__:
        value = getattr(bwmsg, name)
        if callable(value):
            assert value.__doc__, name
