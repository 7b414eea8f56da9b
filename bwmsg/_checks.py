"""attrs validators for numeric settings, naming the class and field in their errors."""

from __future__ import annotations

import math
from typing import Any

import attrs

__all__ = ["fraction", "non_negative", "positive", "positive_int", "seconds"]


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _refuse(instance: object, attribute: attrs.Attribute[Any], what: str, value: Any) -> None:
    raise ValueError(f"{type(instance).__name__}.{attribute.name} must be {what}, got {value!r}")


def positive_int(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _refuse(instance, attribute, "an integer >= 1", value)


def non_negative(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A number >= 0 (infinity allowed, NaN not)."""
    if not _number(value) or not value >= 0:
        _refuse(instance, attribute, "a number >= 0", value)


def seconds(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A finite number of seconds >= 0."""
    if not _number(value) or not math.isfinite(value) or value < 0:
        _refuse(instance, attribute, "a number of seconds >= 0", value)


def positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A finite number > 0."""
    if not _number(value) or not math.isfinite(value) or value <= 0:
        _refuse(instance, attribute, "a number > 0", value)


def fraction(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A number in [0, 1]."""
    if not _number(value) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        _refuse(instance, attribute, "a fraction in [0, 1]", value)
