"""Running the command's coroutines: on uvloop when it is installed (``bwmsg[fast]``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop if it can be imported and ``BWMSG_NO_UVLOOP`` is unset."""
    if not os.environ.get("BWMSG_NO_UVLOOP"):
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)  # type: ignore[no-any-return, unused-ignore]
    return asyncio.run(main)
