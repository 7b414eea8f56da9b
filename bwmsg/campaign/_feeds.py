"""Where a run's rows come from: the input file (SQLite: one process reads it in order) or
claims from a shared journal (PostgreSQL: each worker claims batches under its lease)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from .._models import MessageRequest
from ._input import RenderError, Template, read_rows
from ._journal import CampaignJournal, ClaimRules, RowState
from ._outcomes import Item, make_item

__all__ = ["ClaimFeed", "Feed", "FileFeed", "default_tag", "request_from_json"]

_STATES_CHUNK = 5000  # journal states read at once (each its own short read)


class Feed(Protocol):
    """The rows a run sends, in batches."""

    async def take(self, limit: int) -> list[Item]:
        """Up to ``limit`` rows to send next; an empty list when no row is left."""

    def leftover(self) -> list[Item]:
        """Rows taken from the journal but never handed out (to be put back)."""


def default_tag(campaign_id: str, row: int) -> str:
    """The tag a campaign gives a row when no ``--tag`` is set: no personal data in it."""
    return f"bwmsg:{campaign_id}:{row}"


class FileFeed:
    """The input file's rows, rendered in order; rows the journal says are final are skipped.

    ``final(state, retryable, status)`` says whether a known row is left alone; ``skipped()``
    is told of each such row and ``invalid(row, reason, to)`` of each row that cannot become a
    message. A journal no run has used (``fresh``) has every row pending: nothing is looked up.
    ``only(row)``, when given, passes over every row it is False for, silently (a later pass
    of the same run looks only at the rows the first one held back).
    """

    def __init__(
        self,
        db: CampaignJournal,
        path: Path,
        template: Template,
        campaign_id: str,
        *,
        fresh: bool,
        final: Callable[[str, int, int | None], bool],
        skipped: Callable[[], None],
        invalid: Callable[[int, str, str], None],
        only: Callable[[int], bool] | None = None,
    ) -> None:
        self.db = db
        self.only = only
        self.template = template
        self.campaign_id = campaign_id
        self.fresh = fresh
        self.final = final
        self.skipped = skipped
        self.invalid = invalid
        self.rows: Iterator[tuple[int, dict[str, str] | RenderError]] = read_rows(path)
        self.known: deque[tuple[int, str, int, int | None]] = deque()
        self.known_after = -1
        self.known_done = fresh

    async def _state_of(self, row: int) -> tuple[int, str, int, int | None] | None:
        known = self.known
        while True:
            while known and known[0][0] < row:
                known.popleft()
            if known or self.known_done:
                return known[0] if known and known[0][0] == row else None
            found = await self.db.states(self.known_after, _STATES_CHUNK)
            if not found:
                self.known_done = True
            else:
                known.extend(found)
                self.known_after = found[-1][0]

    async def take(self, limit: int) -> list[Item]:
        batch: list[Item] = []
        # Read once here, not once a row (every row of the input passes through this loop).
        rows, only, fresh, render, campaign = (
            self.rows,
            self.only,
            self.fresh,
            self.template.render,
            self.campaign_id,
        )
        while len(batch) < limit:
            found = next(rows, None)
            if found is None:
                break
            row, columns = found
            if only is not None and not only(row):
                continue
            previous = None
            if not fresh:
                known = await self._state_of(row)
                if known is not None:
                    if self.final(known[1], known[2], known[3]):
                        self.skipped()
                        continue
                    previous = (known[1], bool(known[2]))
            try:
                if isinstance(columns, RenderError):
                    raise columns
                request = render(columns, default_tag(campaign, row))
            except RenderError as exc:
                to = columns.get("to", "") if isinstance(columns, dict) else ""
                self.invalid(row, str(exc), to)
                continue
            batch.append(make_item(row, request, previous))
        return batch

    def leftover(self) -> list[Item]:
        return []


def request_from_json(body: Mapping[str, Any]) -> MessageRequest:
    """The request a stored JSON body (as Bandwidth takes it) describes."""
    return MessageRequest(
        to=body["to"],
        from_=body["from"],
        text=body.get("text"),
        application_id=body.get("applicationId"),
        media=body.get("media", ()),
        tag=body.get("tag"),
        priority=body.get("priority"),
        expiration=body.get("expiration"),
    )


class ClaimFeed:
    """Rows claimed from a shared journal, ``batch`` at a time, under this worker's lease.

    When nothing can be claimed but other workers still hold rows (one of them may die and
    its rows come back when its lease runs out), it looks again every ``poll`` seconds until
    no row is left or ``stop`` is set. Before each such wait it awaits ``idle()``: the run
    writes the outcomes it holds, for the others wait for this worker's rows just as it waits
    for theirs (unwritten, they would wait for each other for ever).
    """

    def __init__(
        self,
        db: CampaignJournal,
        rules: ClaimRules,
        stop: asyncio.Event,
        *,
        batch: int,
        poll: float,
        idle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.rules = rules
        self.stop = stop
        self.batch = batch
        self.poll = poll
        self.idle = idle
        self.buffer: deque[Item] = deque()

    async def _refill(self) -> None:
        while not self.buffer and not self.stop.is_set():
            claimed = await self.db.claim(self.batch, self.rules)
            if claimed is None:
                return
            for c in claimed:
                previous = None if c.state is RowState.PENDING else (c.state.value, c.retryable)
                self.buffer.append(make_item(c.row, request_from_json(c.request), previous))
            if not claimed:
                if self.idle is not None:
                    await self.idle()
                # Rows other workers hold come back only when their leases run out: another
                # machine's lease has no event to wait for, so look again shortly.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.poll)

    async def take(self, limit: int) -> list[Item]:
        if not self.buffer:
            await self._refill()
        buffer = self.buffer
        return [buffer.popleft() for _ in range(min(limit, len(buffer)))]

    def leftover(self) -> list[Item]:
        items = list(self.buffer)
        self.buffer.clear()
        return items
