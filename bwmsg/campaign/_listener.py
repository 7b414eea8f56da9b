"""Delivery receipts into a journal as they come: a callback server feeding
:meth:`Journal.apply_receipt` (``campaign receipts``, ``campaign run --receipts``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ..callbacks import CallbackEvent, CallbackServer
from ._journal import Journal

__all__ = ["receipts_listener"]


@contextlib.asynccontextmanager
async def receipts_listener(
    journal: Path,
    host: str,
    port: int,
    *,
    path: str = "/callbacks",
    username: str | None = None,
    password: str | None = None,
    on_event: Callable[[Journal], None] | None = None,
) -> AsyncIterator[CallbackServer]:
    """Listen for callbacks on ``host``:``port`` and write each receipt into ``journal``.

    The journal is opened without its lock: a listener works beside the run that sends.
    ``on_event`` is called with the journal after each event is written.
    """
    db = Journal(journal)

    async def apply(event: CallbackEvent) -> None:
        db.apply_receipt(event)
        if on_event is not None:
            on_event(db)

    try:
        async with CallbackServer(
            apply, host=host, port=port, path=path, username=username, password=password
        ) as server:
            yield server
    finally:
        db.close()
