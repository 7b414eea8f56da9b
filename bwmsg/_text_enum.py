"""The base of bwmsg's enums of words: a ``str`` that prints as its value.

``str(RowState.SENT)`` and ``f"{RowState.SENT}"`` are ``"sent"`` on every supported Python
(``enum.StrEnum`` would do the same, but only from 3.11 on).
"""

from __future__ import annotations

import enum


class TextEnum(str, enum.Enum):
    """An enum whose members are strings and print as their value."""

    def __str__(self) -> str:
        return str.__str__(self)  # the value itself
