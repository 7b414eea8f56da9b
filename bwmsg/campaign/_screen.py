"""What keeps a row from going now, checked on every batch just before it is marked
``sending``: an opted-out recipient (the row ends ``suppressed``, final), quiet hours where a
recipient is (the row is held: it stays ``pending`` and a later pass sends it).

Opt-outs are looked up for the whole batch at once, each time a batch is taken, so a STOP that
a receipts listener records during a run holds back the rows after it.
"""

from __future__ import annotations

import bisect
import contextlib
from array import array
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import attrs

from .._privacy import masked
from ._journal import RowState, RowUpdate
from ._optout_store import open_opt_outs
from ._optouts import OptOutStore
from ._outcomes import Item
from ._quiet import NEVER, QuietHours, held_until, parse_quiet_hours
from ._urls import is_database_url

__all__ = ["Rules", "Screen", "check_start", "opened_store", "quiet_hours_for", "utc_now"]


def utc_now() -> datetime:
    """The wall clock, as an aware UTC time."""
    return datetime.now(timezone.utc)


@attrs.frozen(kw_only=True)
class Rules:
    """A run's compliance settings.

    Attributes:
        opt_outs: the store of numbers never to text, or None.
        quiet: quiet hours in the recipient's time, or None.
        start_at: nothing is sent before this (aware), or None.
        wait: when only held rows are left, wait for the first to be allowed (else stop
            and say when to rerun).
    """

    opt_outs: OptOutStore | None = None
    quiet: QuietHours | None = None
    start_at: datetime | None = None
    wait: bool = True

    @property
    def active(self) -> bool:
        """Whether anything is checked at all."""
        return self.opt_outs is not None or self.quiet is not None


class Screen:
    """Sorts each batch into rows that go, rows suppressed and rows held, keeping counts."""

    def __init__(self, rules: Rules, clock: Callable[[], datetime] = utc_now) -> None:
        self.rules = rules
        self.clock = clock
        self.suppressed = 0
        self.held = 0  # rows held in this pass over the rows
        self.opens: datetime | None = None  # the first moment a held row may go (NEVER: none)
        # The rows held in this pass, in input order (8 bytes each): the next pass looks at
        # these only, never at a row this run already took (it may still be in flight).
        self.held_rows = array("q")
        self.revisit: array[int] | None = None

    async def sort(self, items: list[Item]) -> tuple[list[Item], list[RowUpdate]]:
        """The rows of ``items`` that may go now, and the updates of those suppressed."""
        rules = self.rules
        if not rules.active:
            return items, []
        opted: set[str] = set()
        if rules.opt_outs is not None:
            opted = await rules.opt_outs.opted_out(n for item in items for n in item.request.to)
        now = self.clock()
        go: list[Item] = []
        updates: list[RowUpdate] = []
        for item in items:
            stopped = [n for n in item.request.to if n in opted]
            if stopped:
                self.suppressed += 1
                shown = ", ".join(str(masked(n)) for n in stopped)
                updates.append(
                    RowUpdate(item.row, RowState.SUPPRESSED, error=f"opted out: {shown}")
                )
                continue
            if rules.quiet is not None:
                until = held_until(item.request.to, rules.quiet, now)
                if until is not None:
                    self._hold(item.row, until)
                    continue
            go.append(item)
        return go, updates

    def _hold(self, row: int, until: datetime) -> None:
        self.held += 1
        self.held_rows.append(row)
        if self.opens is None or until < self.opens:
            self.opens = until

    def next_pass(self) -> None:
        """Begin the next pass: it looks at the rows held in this one, and only at them."""
        self.revisit, self.held_rows = self.held_rows, array("q")
        self.held = 0
        self.opens = None

    def revisits(self, row: int) -> bool:
        """Whether this pass looks at ``row`` (every row in the first pass)."""
        revisit = self.revisit
        if revisit is None:
            return True
        at = bisect.bisect_left(revisit, row)
        return at < len(revisit) and revisit[at] == row

    @property
    def never(self) -> bool:
        """Whether no held row can ever go (unknown zones, or zones with no common window)."""
        return self.opens == NEVER


def quiet_hours_for(value: QuietHours | str | None, journal: str | Path) -> QuietHours | None:
    """``value`` as quiet hours for a run on ``journal``.

    Raises:
        ValueError: a value that is not quiet hours, or a PostgreSQL journal.
    """
    quiet = parse_quiet_hours(value) if isinstance(value, str) else value
    if quiet is not None and is_database_url(journal):
        raise ValueError(
            "--quiet-hours works with a SQLite journal only, for now: run the campaign on a "
            "journal file, or start the PostgreSQL workers when sending is allowed"
        )
    return quiet


def check_start(start_at: datetime | None) -> None:
    """Refuse a start time without a UTC offset (it would be read in no one's time)."""
    if start_at is not None and start_at.utcoffset() is None:
        raise ValueError(
            f"--start-at {start_at.isoformat()} has no UTC offset: give one, such as "
            f"{start_at.isoformat()}+00:00 or {start_at.isoformat()}-05:00"
        )


async def opened_store(
    stack: contextlib.AsyncExitStack, given: OptOutStore | str | Path | None
) -> OptOutStore | None:
    """The opt-out store, opened for the run and closed after it (one passed in stays open)."""
    if given is None or isinstance(given, OptOutStore):
        return given
    store = await open_opt_outs(given)
    stack.push_async_callback(store.aclose)
    return store
