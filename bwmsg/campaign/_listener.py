"""Delivery receipts into a journal as they come: a callback server feeding
:meth:`Journal.apply_receipt` (``campaign receipts``, ``campaign run --receipts``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ..callbacks import CallbackEvent, CallbackServer
from ._journal import Journal, ReceiptResult

__all__ = ["Settling", "receipts_listener"]


class Settling:
    """Counts the sent rows still awaiting a receipt, so that a listener knows when every one
    has come (``settled`` is set) without counting the journal again at each event.

    Call :meth:`arm` to start counting from the journal; pass the instance as a listener's
    ``on_event``. A count that reaches zero is checked against the journal before
    ``settled`` is set (a row proved sent by a receipt adds one awaiting its own).
    """

    def __init__(self) -> None:
        self.left: int | None = None
        self.settled = asyncio.Event()

    def arm(self, db: Journal) -> int:
        """Count the rows awaiting a receipt now; returns how many."""
        self.left = db.receipt_counts()["awaiting"]
        if self.left == 0:
            self.settled.set()
        return self.left

    def __call__(self, db: Journal, result: ReceiptResult) -> None:
        if self.left is None or result not in (ReceiptResult.DELIVERED, ReceiptResult.FAILED):
            return
        self.left -= 1
        if self.left <= 0:
            self.arm(db)


@contextlib.asynccontextmanager
async def receipts_listener(
    journal: Path,
    host: str,
    port: int,
    *,
    path: str = "/callbacks",
    username: str | None = None,
    password: str | None = None,
    on_event: Callable[[Journal, ReceiptResult], None] | None = None,
) -> AsyncIterator[CallbackServer]:
    """Listen for callbacks on ``host``:``port`` and write each receipt into ``journal``.

    The journal is opened without its lock: a listener works beside the run that sends.
    ``on_event`` is called with the journal and what the event did after it is written.
    """
    db = Journal(journal)

    async def apply(event: CallbackEvent) -> None:
        result = db.apply_receipt(event)
        if on_event is not None:
            on_event(db, result)

    try:
        async with CallbackServer(
            apply, host=host, port=port, path=path, username=username, password=password
        ) as server:
            yield server
    finally:
        db.close()
