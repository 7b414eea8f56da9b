"""The public surface: bwmsg.__all__ is complete, sorted, and names what DESIGN.md fixes."""

from __future__ import annotations

import importlib
import inspect

import pytest

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


PUBLIC_PACKAGES = [
    "bwmsg",
    "bwmsg.callbacks",
    "bwmsg.campaign",
    "bwmsg.metrics",
    "bwmsg.simulator",
    "bwmsg.testing",
]


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_each_public_package_exports_all_it_defines_sorted_and_documented(name: str) -> None:
    """Each public package's __all__ is sorted, importable, complete and documented."""
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(set(exported))
    for member in exported:
        value = getattr(module, member)  # raises if __all__ names something missing
        if callable(value):
            assert (value.__doc__ or "").strip(), f"{name}.{member} has no docstring"
    defined = {
        member
        for member, value in vars(module).items()
        if not member.startswith("_")
        and not inspect.ismodule(value)
        and not member.startswith("pytest_")  # a plugin's hooks are for pytest
        and getattr(value, "__module__", "").startswith(name)  # defined there, not imported
    }
    assert defined <= set(exported), defined - set(exported)


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_every_public_error_is_a_bwmsg_error(name: str) -> None:
    """A user can catch everything bwmsg raises on purpose with one ``except BwmsgError``."""
    module = importlib.import_module(name)
    for member in module.__all__:
        value = getattr(module, member)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, bwmsg.BwmsgError), f"{name}.{member}"
