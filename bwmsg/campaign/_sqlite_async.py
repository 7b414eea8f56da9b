"""The SQLite journal (:class:`~._sqlite.Journal`) behind the async :class:`CampaignJournal`
interface: each operation runs its short statements inline (no thread), as the runner always
did; a batch of outcomes and the next batch's ``sending`` mark are one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..callbacks import CallbackEvent
from ._journal import CampaignJournal, LoadedRow, Marking, ReceiptResult, RowUpdate, Sent
from ._sqlite import Journal

__all__ = ["SqliteJournal"]


class SqliteJournal(CampaignJournal):
    """A SQLite journal file as a :class:`CampaignJournal` (one process at a time decides what
    to send: ``exclusive`` takes the journal's lock, as :class:`Journal` does)."""

    def __init__(
        self, path: str | Path, *, exclusive: bool = False, readonly: bool = False
    ) -> None:
        self.db = Journal(path, exclusive=exclusive, readonly=readonly)
        self.where = str(path)

    @classmethod
    def wrapping(cls, journal: Journal) -> SqliteJournal:
        """An open :class:`Journal` behind the interface (closing either closes it)."""
        self = cls.__new__(cls)
        self.db = journal
        self.where = str(journal.path)
        return self

    async def close(self) -> None:
        self.db.close()

    async def meta(self) -> dict[str, str]:
        return self.db.meta()

    async def bind(self, fingerprint: str, **info: str) -> bool:
        new = self.db.bind(fingerprint, **info)
        self.campaign_id = self.db.meta().get("campaign")
        return new

    async def add_rows(self, rows: Iterable[LoadedRow]) -> int:
        return self.db.add_rows((r.row, r.recipients) for r in rows)

    async def add_recipients(self, rows: Iterable[tuple[int, str]]) -> int:
        return self.db.add_rows(rows)

    async def duplicates(self, limit: int = 20) -> tuple[int, list[tuple[int, int]]]:
        return self.db.duplicates(limit)

    async def skip_duplicates(self) -> int:
        return self.db.skip_duplicates()

    async def start_run(self) -> int:
        return self.db.start_run()

    async def end_run(self, result: str) -> None:
        self.db.end_run(result)

    async def record(
        self,
        updates: Sequence[RowUpdate],
        *,
        sent: Sequence[Sent] = (),
        sending: Sequence[Marking] = (),
        settled_below: int | None = None,
    ) -> float:
        # Rows that were pending are covered by claims of the batch's ranges (no write to
        # each); rows taken again from another state are marked one by one.
        fresh = [m.row for m in sending if m.fresh]
        marks = (
            []
            if len(fresh) == len(sending)
            else [
                (m.row, m.recipients, m.sender, m.segments, m.encoding)
                for m in sending
                if not m.fresh
            ]
        )
        return self.db.record(
            updates,
            sent=sent,
            sending=marks,
            claims=_ranges(fresh),
            settled_below=settled_below,
        )

    async def states(self, after: int, limit: int) -> list[tuple[int, str, int, int | None]]:
        return self.db.query(
            "SELECT row, state, retryable, status FROM rows WHERE row > ? ORDER BY row LIMIT ?",
            (after, limit),
        )

    async def runs(self) -> list[tuple[float, float | None, str | None]]:
        return self.db.runs()

    async def counts(self) -> dict[str, int]:
        return self.db.counts()

    async def retryable_count(self) -> int:
        return self.db.retryable_count()

    async def sent_segments(self) -> int:
        return self.db.sent_segments()

    async def last_unknown(self) -> float | None:
        return self.db.last_unknown()

    async def top_errors(self, limit: int = 10) -> list[tuple[str, int | None, str, int]]:
        return self.db.top_errors(limit)

    async def rows(self) -> AsyncIterator[Mapping[str, Any]]:
        for row in self.db.rows():
            yield row  # type: ignore[misc]  # sqlite3.Row reads as a mapping by column name

    async def receipt_counts(self) -> dict[str, int]:
        return self.db.receipt_counts()

    async def receipt_failures(self, limit: int = 10) -> list[tuple[int | None, str, int]]:
        return self.db.receipt_failures(limit)

    async def apply_receipt(self, event: CallbackEvent) -> ReceiptResult:
        return self.db.apply_receipt(event)

    async def recover(self) -> int:
        return self.db.recover()

    async def unknown_rows(self) -> list[tuple[int, str, str | None, float | None, float | None]]:
        return self.db.unknown_rows()

    async def has_message(self, message_id: str) -> bool:
        return self.db.has_message(message_id)

    async def settle(self, row: int, message_id: str | None) -> bool:
        return self.db.settle(row, message_id)


def _ranges(rows: Sequence[int]) -> list[tuple[int, int]]:
    """``rows`` (ascending) as runs of consecutive rows: a claim covers every ``pending`` row of
    its range, so a gap (a row held by quiet hours stays ``pending``) must split it. A fresh
    input has few gaps: a batch without one is one claim, found without a look at each row."""
    if not rows or rows[-1] - rows[0] == len(rows) - 1:
        return [(rows[0], rows[-1])] if rows else []
    ranges: list[tuple[int, int]] = []
    for row in rows:
        if ranges and row == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], row)
        else:
            ranges.append((row, row))
    return ranges
