"""Delivery receipts into a journal as they come: a callback server feeding
:meth:`Journal.apply_receipt` (``campaign receipts``, ``campaign run --receipts``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ..callbacks import CallbackEvent, CallbackServer
from ._journal import Journal, ReceiptResult

__all__ = ["Settling", "arm_when_sent", "receipts_listener"]


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
    ``on_event`` is called with the journal and what the event did after it is written. A
    listener may start before the run: it creates no journal, and drops the events that come
    before the run has made it (they cannot be this campaign's: its rows were not sent yet).
    """
    opened: list[Journal] = []
    _open_if_made(journal, opened)

    async def apply(event: CallbackEvent) -> None:
        if not opened and not _open_if_made(journal, opened):
            return
        result = opened[0].apply_receipt(event)
        if on_event is not None:
            on_event(opened[0], result)

    try:
        async with CallbackServer(
            apply, host=host, port=port, path=path, username=username, password=password
        ) as server:
            yield server
    finally:
        for db in opened:
            db.close()


async def arm_when_sent(settling: Settling, journal: Path, every: float = 1.0) -> None:
    """Arm ``settling`` once ``journal`` exists and its latest run has ended (so that no row
    is still to be sent). Another process writes the journal and nothing signals its end:
    this looks every ``every`` seconds."""
    # No event marks another process's run ending: a slow poll is the honest wait here.
    while not _arm_if_sent(settling, journal):  # noqa: ASYNC110
        await asyncio.sleep(every)


# Journal work is short and blocking by design (SQLite), here as in the runner.


def _open_if_made(journal: Path, opened: list[Journal]) -> bool:
    """Open ``journal`` into ``opened`` if a run has made it; whether it is open."""
    if journal.exists():
        opened.append(Journal(journal))
    return bool(opened)


def _arm_if_sent(settling: Settling, journal: Path) -> bool:
    """Arm ``settling`` if ``journal``'s latest run has ended; whether it did."""
    if not journal.exists():
        return False
    with Journal(journal, readonly=True) as db:
        runs = db.runs() if db.is_journal() else []
        if not runs or runs[-1][1] is None:
            return False
        settling.arm(db)
    return True
