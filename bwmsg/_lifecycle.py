"""The one way things that open and close say where they stand, and warn when left open.

A Sender, a Simulator and a CallbackServer each hold sockets and tasks between their start
and their close. Each keeps a :class:`Lifecycle`; one collected while still open emits a
``ResourceWarning`` (as an unclosed file or socket does), which ``python -W error`` and
pytest turn into an error. The two that ``start`` and ``stop`` are used with ``async with``
through :class:`StartStop`.
"""

from __future__ import annotations

import enum
import warnings
from typing import TypeVar

__all__ = ["Lifecycle", "StartStop", "warn_if_open"]

_T = TypeVar("_T", bound="StartStop")


class Lifecycle(enum.Enum):
    """``unopened`` (made, not started), ``open`` (started, holding resources), ``closed``."""

    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


def warn_if_open(owner: object, state: Lifecycle, how: str) -> None:
    """From ``owner.__del__``: a ``ResourceWarning`` when ``state`` is still open, saying
    ``how`` to close such an object."""
    if state is Lifecycle.OPEN:
        warnings.warn(
            f"{type(owner).__name__} collected while still open: {how}",
            ResourceWarning,
            stacklevel=2,
            source=owner,
        )


class StartStop:
    """``async with`` for a server: :meth:`start` on entering, :meth:`stop` on leaving."""

    __slots__ = ()

    async def start(self) -> None:
        """Start serving."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop serving."""
        raise NotImplementedError

    async def __aenter__(self: _T) -> _T:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
