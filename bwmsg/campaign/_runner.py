"""Running a campaign: rows in, journal before and after each send, Sender.send_many between.

Over 500 lines for one concept: a run (or a worker), its passes over the rows, and its two
public entry points with their documented arguments; what a result does to a row is in
:mod:`._outcomes`, where rows come from in :mod:`._feeds`, what keeps a row back in
:mod:`._screen`, what a run reports in :mod:`._summaries`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from .._convert import request_to_dict
from .._errors import StoppedError
from .._models import MessageRequest, Outcome, SendResult
from .._privacy import mask_numbers_in, masked
from .._sender import Sender, observer_of
from .._stats import Observer
from ._feeds import ClaimFeed, Feed, FileFeed, default_tag
from ._input import (
    RenderError,
    Template,
    fingerprint,
    read_recipients,
    read_rows,
    recipient_key,
)
from ._journal import (
    CampaignJournal,
    ClaimRules,
    LeaseLost,
    LoadedRow,
    RowState,
    RowUpdate,
    Sent,
)
from ._open import open_journal
from ._optouts import OptOutStore
from ._outcomes import (
    Item,
    back,
    classify,
    error_kind,
    short_error,
    stop_reason,
    stopped_update,
)
from ._quiet import NEVER, QuietHours
from ._screen import Rules, Screen, check_start, opened_store, quiet_hours_for
from ._summaries import CampaignProgress, CampaignSummary

__all__ = ["MARK_SLACK", "run_campaign", "run_worker"]

# One DEBUG line per row (numbers masked: see bwmsg._privacy); nothing above DEBUG per row.
logger = logging.getLogger("bwmsg.campaign")


# Rows `sending` in the journal are those send_many has taken and not yet answered (at most
# 2 x concurrency: its documented window) plus those marked ahead of it. Each commit that marks
# rows (a claim of the batch's range; rows not `pending` one by one) also writes every outcome
# so far, and marks no more than keeps the sum within 2 x concurrency + MARK_SLACK; so that is
# the most rows a SIGKILL can leave `sending`.
MARK_SLACK = 10


@attrs.frozen(kw_only=True)
class _Options:
    resend_unknown: bool
    retry_failed: bool
    dedupe: bool
    max_consecutive_failures: int
    grace: float
    batch_size: int
    flush_interval: float
    lease: float = 30.0
    rules: Rules = attrs.field(factory=Rules)


class _Run:
    """One run of a campaign (or one worker) on an open journal: the requests and the results."""

    def __init__(
        self,
        db: CampaignJournal,
        options: _Options,
        stop: asyncio.Event,
        progress: Callable[[CampaignProgress], None] | None,
        total: int,
        concurrency: int,
    ) -> None:
        self.db = db
        self.options = options
        self.stop = stop
        self.progress = progress
        self.total = total
        self.feed: Feed | None = None
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.stopped: list[str] = []
        self.in_flight: dict[int, Item] = {}  # send_many's index -> row
        self.ready: deque[Item] = deque()  # marked `sending`, not yet handed over
        self.updates: list[RowUpdate] = []
        self.sent: list[Sent] = []  # rows sent since the last write (the common outcome)
        self.last_flush = self.started
        self.overdue = False
        self.timer: asyncio.TimerHandle | None = None
        self.debug = logger.isEnabledFor(logging.DEBUG)  # looked at again at each write
        self.next_index = 0
        self.failures_in_a_row = 0
        self.most_sending = 2 * concurrency + MARK_SLACK
        self.screen = Screen(options.rules)
        self.refeed: Callable[[], Feed] | None = None  # the next pass over the input
        self.notice: Callable[[str], None] = lambda text: None
        # bwmsg.metrics, when the Sender is watched: journal writes timed, rows by state told
        # (counted by the journal no more than once a second: see report_rows).
        self.watch: Observer | None = None
        self.rows_due = 0.0

    def stop_for(self, reason: str) -> None:
        """Stop the run (no new rows) for ``reason``; the first reason is the one reported."""
        if not self.stopped:
            self.stopped.append(reason)
        self.stop.set()

    # -- the journal ----------------------------------------------------------------------------

    async def write(
        self, batch: list[Item] | None = None, settled_below: int | None = None
    ) -> None:
        """Write the outcomes so far, and mark ``batch`` ``sending``, in one transaction."""
        if not (self.updates or self.sent or batch or settled_below is not None):
            return
        updates, self.updates = self.updates, []
        sent, self.sent = self.sent, []
        began = self.loop.time()
        taken = await self.db.record(
            updates, sent=sent, sending=batch or (), settled_below=settled_below
        )
        if self.watch is not None:
            self.watch.journal_written(self.loop.time() - began)
        for item in batch or ():
            item.taken = taken

    def settled_below(self) -> int:
        """The first row that may still lack an outcome: claims ending before it are done."""
        waiting = itertools.chain(self.in_flight.values(), self.ready)
        return min((item.row for item in waiting), default=2**62)

    def due(self) -> bool:
        """Whether the outcomes waiting should be written now: ``batch_size`` of them, or
        ``flush_interval`` since the last write (a timer says so: no clock read per row)."""
        return self.overdue or len(self.updates) + len(self.sent) >= self.options.batch_size

    def arm(self) -> None:
        """Start the time to the next write from now."""
        if self.timer is not None:
            self.timer.cancel()
        self.overdue = False
        self.timer = self.loop.call_at(self.last_flush + self.options.flush_interval, self.late)

    def late(self) -> None:
        """The outcomes waiting have waited ``flush_interval``."""
        self.overdue = True

    async def flush(self) -> None:
        """Write the outcomes so far, then report progress."""
        await self.write(settled_below=self.settled_below())
        self.last_flush = self.loop.time()
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self.arm()
        if self.progress is not None:
            self.progress(self.snapshot())
        if self.watch is not None and self.last_flush >= self.rows_due:
            await self.report_rows()

    async def report_rows(self, counts: dict[str, int] | None = None) -> None:
        """Tell the observer the campaign's rows by state (``counts``, or the journal's now).
        A SQLite count reads every row: the next is due a second later, or twenty times as
        long as this one took, so that counting stays under 5 % of the run."""
        if self.watch is None:
            return
        began = self.loop.time()
        if counts is None:
            counts = await self.db.counts()
        ended = self.loop.time()
        self.rows_due = ended + max(1.0, 20 * (ended - began))
        self.watch.rows(self.db.campaign_id or "", counts)

    def snapshot(self) -> CampaignProgress:
        """Where the run stands."""
        elapsed = self.loop.time() - self.started
        done = self.counts["sent"] + self.counts["failed"] + self.counts["unknown"]
        return CampaignProgress(
            total=self.total,
            done=done + self.counts["skipped"],
            sent=self.counts["sent"],
            failed=self.counts["failed"],
            unknown=self.counts["unknown"],
            skipped=self.counts["skipped"],
            in_flight=len(self.in_flight),
            rate=done / elapsed if elapsed > 0 else 0.0,
            elapsed=elapsed,
        )

    # -- rows in ----------------------------------------------------------------------------

    def final(self, state: str, retryable: int, status: int | None) -> bool:
        """Whether a row found in this state is left alone by this run."""
        if state in ("sent", "suppressed"):
            return True
        if state == "unknown" and not self.options.resend_unknown:
            return True
        if state == "failed" and not retryable:
            client_error = status is not None and 400 <= status < 500
            return not (self.options.retry_failed and client_error)
        return False

    def skipped(self) -> None:
        """Count a row already final."""
        self.counts["skipped"] += 1

    def invalid(self, row: int, reason: str, to: str) -> None:
        """Record a row that cannot become a message."""
        self.counts["failed"] += 1
        self.counts["invalid"] += 1
        self.errors[error_kind(reason)] += 1
        self.updates.append(RowUpdate(row, RowState.FAILED, error=reason, retryable=False))
        logger.debug(
            "row %d to %s invalid: %s", row, masked(to), mask_numbers_in(error_kind(reason))
        )

    async def source(self) -> AsyncIterator[MessageRequest]:
        """What send_many sends: rows are marked ``sending`` shortly before send_many takes
        them, each batch in one transaction with the outcomes so far, never more than the
        bound."""
        assert self.feed is not None
        ready, in_flight = self.ready, self.in_flight
        while not self.stop.is_set():
            if not ready:
                batch: list[Item] = []
                try:
                    batch = await self.next_batch(self.most_sending - len(in_flight))
                    if not batch or self.stop.is_set():
                        ready.extend(batch)  # a stop came while claiming: put them back
                        return
                    await self.write(batch)
                except LeaseLost as exc:
                    ready.extend(batch)  # never marked: they go back (if still this worker's)
                    self.stop_for(str(exc))
                    return
                ready.extend(batch)
            yield self.hand(ready.popleft())

    async def next_batch(self, limit: int) -> list[Item]:
        """The next rows to send, screened (opt-outs, quiet hours); when only held rows are
        left, the wait for the first of them and the next pass. [] when nothing is left."""
        assert self.feed is not None
        start_at = self.options.rules.start_at
        if start_at is not None and not self.next_index and start_at > self.screen.clock():
            self.notice(f"nothing is sent before {start_at.isoformat()} (--start-at): waiting")
            if not await self.wait_until(start_at):
                return []
        while not self.stop.is_set():
            taken = await self.feed.take(limit)
            if taken:
                go, suppressed = await self.screen.sort(taken)
                self.updates.extend(suppressed)
                self.counts["suppressed"] += len(suppressed)
                if go:
                    return go
                continue
            if not await self.after_pass():
                return []
        return []

    async def after_pass(self) -> bool:
        """Every row has been seen once: True when the held rows' window has opened and the
        next pass over the input begins; False when the run ends here."""
        screen = self.screen
        if not screen.held or self.refeed is None or self.stop.is_set():
            return False
        opens = screen.opens
        if opens is None or opens == NEVER:
            self.notice(
                f"{screen.held:,} rows are held by quiet hours with no moment allowed in every "
                "zone of their numbers (or no known zone): they stay pending"
            )
            return False
        if not self.options.rules.wait:
            return False
        self.notice(
            f"{screen.held:,} rows held by quiet hours: waiting until {opens.isoformat()} to "
            "send them (Ctrl-C stops; a rerun resumes)"
        )
        await self.flush()
        if not await self.wait_until(opens):
            return False
        screen.next_pass()
        self.feed = self.refeed()
        return True

    async def wait_until(self, when: datetime) -> bool:
        """Sleep until ``when`` on the wall clock, looking at it at least every minute (it
        may be set meanwhile); False when the run is stopped first."""
        while not self.stop.is_set():
            left = (when - self.screen.clock()).total_seconds()
            if left <= 0:
                return True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop.wait(), min(left, 60.0))
        return False

    def take_ready(self) -> MessageRequest | None:
        """The next row already marked ``sending``, handed over as :meth:`source` would, or
        None when none is at hand (or the run stops)."""
        # A stop set by a result (a 401, the breaker) hands out nothing more at once, before
        # send_many's own stop has run.
        if not self.ready or self.stop.is_set():
            return None
        item = self.ready.popleft()  # as hand() does, a call less for every row
        self.in_flight[self.next_index] = item
        self.next_index += 1
        return item.request

    def hand(self, item: Item) -> MessageRequest:
        """Hand ``item`` to send_many: it is in flight under send_many's next index."""
        self.in_flight[self.next_index] = item
        self.next_index += 1
        return item.request

    # -- results out --------------------------------------------------------------------------

    def take(self, result: SendResult) -> None:
        """One result from send_many: count it, queue its update, stop the run if need be."""
        item = self.in_flight.pop(result.index)
        if result.outcome is Outcome.SENT:
            self.took_sent(result, item)
            return
        if isinstance(result.error, StoppedError):
            update = stopped_update(result, item)
            self.counts["returned" if update.state is RowState.PENDING else "failed"] += 1
        else:
            update = classify(result, item)
            self.counts[update.state.value] += 1
            self.breaker(result)
        if update.error:
            self.errors[error_kind(update.error)] += 1
        self.updates.append(update)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "row %d to %s %s after %d attempt(s)%s",
                item.row,
                masked(";".join(result.request.to)),
                update.state.value,
                result.attempts,
                f": {mask_numbers_in(short_error(update.error))}"
                if update.error
                else f": {update.message_id}",
            )

    def took_sent(self, result: SendResult, item: Item) -> None:
        """A row sent: what :meth:`take` does for it, without making a RowUpdate (nearly every
        row of a campaign comes this way: see bwmsg.campaign._journal.Sent)."""
        message = result.message
        message_id = message.id if message is not None else None
        self.sent.append(
            (
                message_id,
                result.attempts,
                time.time(),
                item.sender,
                item.segments,
                item.encoding,
                item.taken,
                item.row,
            )
        )
        self.counts["sent"] += 1
        self.failures_in_a_row = 0
        if self.debug:
            logger.debug(
                "row %d to %s sent after %d attempt(s): %s",
                item.row,
                masked(";".join(result.request.to)),
                result.attempts,
                message_id,
            )

    def breaker(self, result: SendResult) -> None:
        """Stop on an error that would fail every row, or after too many failures in a row."""
        reason = stop_reason(result.error)
        if reason is not None:
            self.stop_for(reason)
        if result.outcome is Outcome.SENT:
            self.failures_in_a_row = 0
            return
        self.failures_in_a_row += 1
        limit = self.options.max_consecutive_failures
        if limit and self.failures_in_a_row >= limit and not self.stop.is_set():
            self.stop_for(
                f"{self.failures_in_a_row} sends in a row failed (the last: "
                f"{short_error(str(result.error))}); the API looks down or is refusing "
                "(--max-consecutive-failures)"
            )

    async def finish(self) -> None:
        """After send_many: rows it never took go back; rows without an answer are unknown."""
        leftover = self.feed.leftover() if self.feed is not None else []
        for item in itertools.chain(self.ready, leftover):
            self.updates.append(back(item))
            self.counts["returned"] += 1
        self.ready.clear()
        for item in self.in_flight.values():  # only when send_many itself failed
            self.counts["unknown"] += 1
            self.updates.append(
                RowUpdate(
                    item.row,
                    RowState.UNKNOWN,
                    error="the run stopped while it was in flight: it may have been sent",
                    sending_at=item.taken,
                )
            )
        self.in_flight.clear()
        await self.flush()
        if self.timer is not None:
            self.timer.cancel()


class _Source:
    """The run's requests for send_many: :meth:`_Run.source`, and the rows already marked
    ``sending`` handed out without an await (see bwmsg._many.Feed)."""

    def __init__(self, run: _Run) -> None:
        self.rows = run.source()
        # The next row already marked `sending`, or None (the source must be awaited).
        self.take_ready: Callable[[], MessageRequest | None] = run.take_ready

    def __aiter__(self) -> AsyncIterator[MessageRequest]:
        return self.rows


async def _grace_timer(stop: asyncio.Event, hurry: asyncio.Event, grace: float) -> None:
    """Set ``hurry`` ``grace`` seconds after ``stop`` (or leave it to whoever sets it first)."""
    await stop.wait()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(hurry.wait(), grace)
    hurry.set()


async def _send(sender: Sender, run: _Run, hurry: asyncio.Event) -> None:
    timer = asyncio.ensure_future(_grace_timer(run.stop, hurry, run.options.grace))
    run.arm()
    try:
        results = sender.send_many(_Source(run), stop=run.stop, grace=hurry)
        async with contextlib.aclosing(results):
            async for result in results:
                run.take(result)
                if run.due():
                    await run.flush()
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer


def _loaded(path: Path, template: Template, campaign_id: str) -> Iterator[LoadedRow]:
    """Every input row rendered, for a journal that stores each row's message."""
    for row, columns in read_rows(path):
        to = columns.get("to", "") if isinstance(columns, dict) else ""
        try:
            if isinstance(columns, RenderError):
                raise columns
            request = template.render(columns, default_tag(campaign_id, row))
        except RenderError as exc:
            yield LoadedRow(row, recipient_key(to), error=str(exc))
            continue
        yield LoadedRow(row, recipient_key(to), request=request_to_dict(request))


async def _load(
    db: CampaignJournal, path: Path, template: Template, dedupe: bool
) -> tuple[int, int]:
    """A new journal gets every row (first run); then (rows, duplicates)."""
    meta = await db.meta()
    if "rows" not in meta:  # a new journal (or one whose first run died here)
        if db.stores_messages:
            total = await db.add_rows(_loaded(path, template, db.campaign_id or ""))
        else:
            keys = ((row, recipient_key(to)) for row, to in read_recipients(path))
            total = await db.add_recipients(keys)
    else:
        total = int(meta.get("rows", "0"))
    duplicates, _ = await db.duplicates(limit=0)
    if dedupe and duplicates:
        await db.skip_duplicates()
    return total, duplicates


async def run_campaign(
    sender: Sender,
    recipients: str | Path,
    journal: str | Path,
    template: Template,
    *,
    resend_unknown: bool = False,
    retry_failed: bool = False,
    dedupe: bool = False,
    max_consecutive_failures: int = 50,
    stop: asyncio.Event | None = None,
    hurry: asyncio.Event | None = None,
    grace: float = 10.0,
    progress: Callable[[CampaignProgress], None] | None = None,
    batch_size: int = 100,
    flush_interval: float = 0.25,
    lease: float = 30.0,
    on_bound: Callable[[CampaignJournal], None] | None = None,
    opt_outs: OptOutStore | str | Path | None = None,
    quiet_hours: QuietHours | str | None = None,
    start_at: datetime | None = None,
    wait: bool = True,
    notice: Callable[[str], None] | None = None,
) -> CampaignSummary:
    """Send one message per recipient row, journalling every row's state.

    Resuming on the same journal skips rows already sent or permanently failed, tries again
    those that failed for a transient reason, and leaves ``unknown`` rows alone unless
    ``resend_unknown``. A journal made for another input or template is refused
    (:class:`~bwmsg.campaign.JournalMismatch`); one that another live process is running is
    refused too (:class:`~bwmsg.campaign.JournalBusy`), before anything is sent.

    Rows are marked ``sending`` in the journal shortly before the Sender takes them (each
    commit with the outcomes so far), so a crash leaves at most ``2 × concurrency + 10`` rows
    that may have been sent.

    Args:
        sender: the Sender to send through (its concurrency and rate apply).
        recipients: CSV (header row, column ``to``) or JSON Lines file.
        journal: the SQLite journal's path (created if missing), or a PostgreSQL URL
            (``postgresql://user:pass@host:port/dbname``): the rows are loaded into it (a
            campaign of its own, its id the input's and template's fingerprint) and this run
            sends as one worker; :func:`run_worker` joins from other processes.
        template: how each row becomes a message.
        resend_unknown: send ``unknown`` rows again (they may be texted twice).
        retry_failed: send again rows that failed with a 4xx answer (once the cause is fixed).
        dedupe: skip rows whose recipients an earlier row has (they end ``failed``).
        max_consecutive_failures: stop after this many sends in a row failed (0: never);
            rows not tried stay ``pending``.
        stop: set it to stop: no new rows; requests not yet written go back to ``pending``
            (or stay ``failed`` retryable); written ones get ``grace`` seconds, then become
            ``unknown`` if still unanswered.
        hurry: set it to end the grace at once (a second Ctrl-C).
        grace: seconds requests in flight may take to finish after ``stop``.
        progress: called with a :class:`CampaignProgress` whenever results are written
            (every ``batch_size`` results or ``flush_interval`` seconds).
        batch_size: results written per commit at most.
        flush_interval: the longest time results wait to be written.
        lease: PostgreSQL: seconds a worker's claim lasts unless renewed (it renews it every
            third of that while it runs).
        on_bound: called with the journal once it is bound to its campaign (its
            ``campaign_id`` set), before anything is sent.
        opt_outs: an opt-out store (or its SQLite path or PostgreSQL URL): a row with an
            opted-out recipient is never sent and ends ``suppressed``.
        quiet_hours: ``"21:00-08:00"``, ``"tcpa"`` or a :class:`QuietHours`: a row is sent
            only when every recipient's time zone allows it; held rows stay ``pending``
            (SQLite journals only, for now).
        start_at: an aware datetime: nothing is sent before it.
        wait: when only held rows are left, wait for the first to be allowed and send them;
            False: end the run there (the summary says when to rerun).
        notice: called with a line to show the operator (waiting for a start or a window).

    Raises:
        ValueError: ``quiet_hours`` or ``start_at`` that cannot be used, or quiet hours with a
            PostgreSQL journal; before the journal is opened.
    """
    path = Path(recipients)
    digest = fingerprint(path, **template.settings())
    quiet = quiet_hours_for(quiet_hours, journal)
    check_start(start_at)
    stop = stop or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        store = await opened_store(stack, opt_outs)
        rules = Rules(opt_outs=store, quiet=quiet, start_at=start_at, wait=wait)
        options = _options(locals())
        # Blocking file work (and SQLite's statements) is by design here: short and bounded.
        db = await stack.enter_async_context(open_journal(journal, exclusive=True, lease=lease))
        await db.bind(digest, input=str(path.resolve()), campaign=digest[:12])  # noqa: ASYNC240
        if on_bound is not None:
            on_bound(db)
        total, duplicates = await _load(db, path, template, dedupe)
        fresh = not await db.runs() and not (dedupe and duplicates)
        recovered = await db.start_run()
        run = _Run(db, options, stop, progress, total, sender.concurrency)
        run.notice = notice or run.notice
        if db.shared:
            run.feed = _claims(db, run, options, sender.concurrency)
        else:

            def file_feed(first: bool) -> FileFeed:
                return FileFeed(
                    db,
                    path,
                    template,
                    digest[:12],
                    fresh=fresh and first,
                    final=run.final,
                    skipped=run.skipped if first else _nothing,
                    invalid=run.invalid,
                    only=None if first else run.screen.revisits,
                )

            run.feed = file_feed(True)
            run.refeed = lambda: file_feed(False)
        return await _drive(sender, run, hurry, recovered, duplicates)


def _nothing() -> None:
    """A row already final, met again by a later pass: counted once, by the first."""


async def run_worker(
    sender: Sender,
    journal: str,
    *,
    campaign: str | None = None,
    resend_unknown: bool = False,
    retry_failed: bool = False,
    max_consecutive_failures: int = 50,
    stop: asyncio.Event | None = None,
    hurry: asyncio.Event | None = None,
    grace: float = 10.0,
    progress: Callable[[CampaignProgress], None] | None = None,
    batch_size: int = 100,
    flush_interval: float = 0.25,
    lease: float = 30.0,
    on_bound: Callable[[CampaignJournal], None] | None = None,
    opt_outs: OptOutStore | str | Path | None = None,
    notice: Callable[[str], None] | None = None,
) -> CampaignSummary:
    """Join a campaign on a PostgreSQL journal as one more worker; returns when no row is left.

    The worker claims batches of ``pending`` rows (``SELECT ... FOR UPDATE SKIP LOCKED``) under
    a lease it renews every third of ``lease`` seconds, sends their stored messages and writes
    each outcome. No row is sent by two workers; a worker that dies keeps its rows until its
    lease runs out, then those it marked ``sending`` become ``unknown`` and those it never sent
    go back to ``pending``. Rows ``failed`` for a transient reason before the worker started are
    tried again; ``unknown`` ones only with ``resend_unknown``.

    Args:
        sender: the Sender to send through.
        journal: the PostgreSQL URL (``postgresql://user:pass@host:port/dbname``).
        campaign: the campaign's id (``campaign run`` prints it); None for the only one.
        The others: as :func:`run_campaign`'s.
    """
    stop = stop or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        store = await opened_store(stack, opt_outs)
        options = _options({**locals(), "dedupe": False, "rules": Rules(opt_outs=store)})
        db = await stack.enter_async_context(
            open_journal(journal, exclusive=True, lease=lease, worker=True)
        )
        await db.use_campaign(campaign)
        if on_bound is not None:
            on_bound(db)
        total = int((await db.meta()).get("rows", "0"))
        recovered = await db.start_run()
        run = _Run(db, options, stop, progress, total, sender.concurrency)
        run.notice = notice or run.notice
        run.feed = _claims(db, run, options, sender.concurrency)
        return await _drive(sender, run, hurry, recovered, 0)


def _options(given: dict[str, Any]) -> _Options:
    return _Options(**{a.name: given[a.name] for a in attrs.fields(_Options)})


def _claims(db: CampaignJournal, run: _Run, options: _Options, concurrency: int) -> ClaimFeed:
    rules = ClaimRules(resend_unknown=options.resend_unknown, retry_failed=options.retry_failed)
    poll = min(max(options.lease / 6, 0.2), 2.0)
    return ClaimFeed(
        db, rules, run.stop, batch=max(100, 4 * concurrency), poll=poll, idle=run.flush
    )


async def _drive(
    sender: Sender, run: _Run, hurry: asyncio.Event | None, recovered: int, duplicates: int
) -> CampaignSummary:
    run.watch = observer_of(sender)
    await run.report_rows()
    try:
        await _send(sender, run, hurry or asyncio.Event())
    finally:
        await run.finish()
        if run.stop.is_set() and not run.stopped:
            run.stopped.append("interrupted")
        await run.db.end_run(run.stopped[0] if run.stopped else "finished")
    return await _summary(run, recovered, duplicates)


async def _summary(run: _Run, recovered: int, duplicates: int) -> CampaignSummary:
    counts, db = run.counts, run.db
    states = await db.counts()
    await run.report_rows(states)
    return CampaignSummary(
        rows=run.total,
        sent=counts["sent"],
        failed=counts["failed"],
        invalid=counts["invalid"],
        unknown=counts["unknown"],
        skipped=counts["skipped"],
        recovered=recovered,
        returned=counts["returned"],
        duplicates=duplicates,
        states=states,
        retryable=await db.retryable_count(),
        stopped=run.stopped[0] if run.stopped else None,
        elapsed=run.loop.time() - run.started,
        errors=run.errors.most_common(10),
        unknown_since=await db.last_unknown(),
        suppressed=counts["suppressed"],
        held=run.screen.held,
        opens=None if run.screen.opens == NEVER else run.screen.opens,
    )
