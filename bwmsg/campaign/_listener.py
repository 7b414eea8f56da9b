"""Delivery receipts into a journal as they come: a callback server feeding
:meth:`CampaignJournal.apply_receipt` (``campaign receipts``, ``campaign run --receipts``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from ..callbacks import CallbackEvent, CallbackServer
from ._journal import CampaignJournal, ReceiptResult, UnknownCampaign
from ._open import open_journal
from ._optouts import OptOutStore, apply_keyword
from ._sqlite_async import SqliteJournal
from ._urls import is_database_url

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

    async def arm(self, db: CampaignJournal) -> int:
        """Count the rows awaiting a receipt now; returns how many."""
        self.left = (await db.receipt_counts())["awaiting"]
        if self.left == 0:
            self.settled.set()
        return self.left

    async def __call__(self, db: CampaignJournal, result: ReceiptResult) -> None:
        if self.left is None or result not in (ReceiptResult.DELIVERED, ReceiptResult.FAILED):
            return
        self.left -= 1
        if self.left <= 0:
            await self.arm(db)


def _made(journal: str | Path) -> bool:
    return is_database_url(journal) or Path(journal).exists()


async def _bound(journal: str | Path, campaign: str | None) -> CampaignJournal | None:
    """The journal opened (without its lock) and bound to its campaign, or None when no run
    has made it yet."""
    if not _made(journal):
        return None
    db = open_journal(journal)
    await db.__aenter__()
    if db.shared:
        try:
            await db.use_campaign(campaign)
        except UnknownCampaign:
            await db.close()
            return None
    return db


@contextlib.asynccontextmanager
async def receipts_listener(
    journal: str | Path,
    host: str,
    port: int,
    *,
    path: str = "/callbacks",
    username: str | None = None,
    password: str | None = None,
    on_event: Callable[[CampaignJournal, ReceiptResult], Awaitable[None]] | None = None,
    campaign: str | None = None,
    opt_outs: OptOutStore | None = None,
) -> AsyncIterator[CallbackServer]:
    """Listen for callbacks on ``host``:``port`` and write each receipt into ``journal``.

    The journal is opened without its lock: a listener works beside the run that sends.
    ``on_event`` is awaited with the journal and what the event did after it is written. A
    listener may start before the run: it creates no journal, and drops the events that come
    before the run has made it (they cannot be this campaign's: its rows were not sent yet).
    ``campaign``: the campaign's id in a PostgreSQL journal (None: the only one).
    ``opt_outs``: record an inbound STOP (and the other opt-out keywords) as an opt-out of its
    sender, START or UNSTOP as taking it back (see :func:`~._optouts.keyword_of`).
    """
    opened: list[CampaignJournal] = []

    async def apply(event: CallbackEvent) -> None:
        if opt_outs is not None:
            await apply_keyword(opt_outs, event)
        if not opened:
            db = await _bound(journal, campaign)
            if db is None:
                return
            opened.append(db)
        result = await opened[0].apply_receipt(event)
        if on_event is not None:
            await on_event(opened[0], result)

    try:
        db = await _bound(journal, campaign)
        if db is not None:
            opened.append(db)
        async with CallbackServer(
            apply, host=host, port=port, path=path, username=username, password=password
        ) as server:
            yield server
    finally:
        for db in opened:
            await db.close()


async def arm_when_sent(
    settling: Settling, journal: str | Path, every: float = 1.0, campaign: str | None = None
) -> None:
    """Arm ``settling`` once ``journal`` exists and its runs have ended (so that no row
    is still to be sent). Another process writes the journal and nothing signals its end:
    this looks every ``every`` seconds."""
    # No event marks another process's run ending: a slow poll is the honest wait here.
    while not await _arm_if_sent(settling, journal, campaign):  # noqa: ASYNC110
        await asyncio.sleep(every)


async def _arm_if_sent(settling: Settling, journal: str | Path, campaign: str | None) -> bool:
    """Arm ``settling`` if ``journal``'s runs have ended; whether they did."""
    if not _made(journal):
        return False
    if not is_database_url(journal):
        local = SqliteJournal(journal, readonly=True)
        async with local:
            runs = local.db.runs() if local.db.is_journal() else []
            if not runs or runs[-1][1] is None:
                return False
            await settling.arm(local)
        return True
    shared = await _bound(journal, campaign)
    if shared is None:
        return False
    try:
        runs = await shared.runs()
        if not runs or any(end is None for _, end, _ in runs):
            return False
        await settling.arm(shared)
    finally:
        await shared.close()
    return True
