"""Settling ``unknown`` rows: look each one up with Bandwidth's list endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import attrs

from .._sender import Sender
from ._open import open_journal

__all__ = ["MARGIN", "SEARCH_HORIZON", "ReconcileSummary", "reconcile"]

# Bandwidth's list endpoint searches at most this far back.
SEARCH_HORIZON = 14 * 24 * 3600.0

MARGIN = 600.0
"""Seconds added before and after each row's window by default."""


@attrs.frozen(kw_only=True)
class ReconcileSummary:
    """What :func:`reconcile` did.

    Attributes:
        checked: ``unknown`` rows looked up.
        found: rows found at Bandwidth: now ``sent`` with their message id.
        safe_to_resend: rows not found once their window had closed: now ``failed`` and
            retryable, so the next run sends them (once).
        waiting: rows not found whose window is still open: still ``unknown``.
        too_old: rows older than the list endpoint's 14 days: still ``unknown``.
    """

    checked: int
    found: int
    safe_to_resend: int
    waiting: int
    too_old: int


def _utc(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, tz=timezone.utc)


async def reconcile(
    sender: Sender,
    journal: str | Path,
    *,
    campaign: str | None = None,
    margin: float = MARGIN,
    clock: Callable[[], float] = time.time,
) -> ReconcileSummary:
    """Look up every ``unknown`` row of a campaign journal and settle what can be settled.

    Each row is searched by its sending number and (first) recipient, outbound, in the window
    from when it was marked ``sending`` minus ``margin`` to when it became ``unknown`` plus
    ``margin``. A message found there whose id no other row holds settles the row as ``sent``
    with that id. A row with nothing found is declared safe to resend only once its window
    has closed (``clock()`` past its end), so that a message Bandwidth has not indexed yet is
    not sent twice; until then it stays ``unknown``.

    The list endpoint neither returns nor filters by ``tag``: rows are matched by number and
    time. A receipt carrying a row's tag settles it too (:meth:`Journal.apply_receipt`).

    Args:
        sender: the Sender whose account sent the campaign.
        journal: the campaign's journal (a SQLite path or a PostgreSQL URL).
        campaign: in a PostgreSQL journal, the campaign's id (None: the only one).
        margin: seconds added before and after each row's window.
        clock: the current time (seconds since the epoch); for tests.
    """
    found = safe = waiting = too_old = 0
    claimed: set[str] = set()
    # SQLite: only one process decides what to send. PostgreSQL: rows whose worker's lease
    # ran out are settled first; live workers' rows are theirs.
    async with open_journal(journal, exclusive=True) as db:
        if db.shared:
            await db.use_campaign(campaign)
        await db.recover()  # rows a dead run left `sending` are `unknown`: reconcile them too
        rows = await db.unknown_rows()
        for row, recipients, from_, sending_at, updated in rows:
            now = clock()
            end = (updated or now) + margin
            start = (sending_at or updated or now) - margin
            if now - start > SEARCH_HORIZON:
                too_old += 1
                continue
            to = recipients.split(";")[0] if recipients else None
            match: str | None = None
            if from_ and to:
                async for item in sender.list_messages(
                    source_tn=from_,
                    destination_tn=to,
                    message_direction="OUTBOUND",
                    from_date_time=_utc(start),
                    to_date_time=_utc(min(end, now)),
                ):
                    message_id = item.message_id
                    if (
                        message_id
                        and message_id not in claimed
                        and not await db.has_message(message_id)
                    ):
                        match = message_id
                        break
            if match is not None:
                claimed.add(match)
                if await db.settle(row, match):
                    found += 1
            elif now > end:
                if await db.settle(row, None):
                    safe += 1
            else:
                waiting += 1
    return ReconcileSummary(
        checked=len(rows), found=found, safe_to_resend=safe, waiting=waiting, too_old=too_old
    )
