"""Running a campaign: rows in, journal before and after each send, Sender.send_many between."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from .._errors import (
    ApiError,
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    RequestValidationError,
    StoppedError,
    TransportError,
)
from .._models import MessageRequest, Outcome, SendResult
from .._privacy import mask_numbers_in, masked
from .._segments import segments
from .._sender import Sender
from ._input import (
    RenderError,
    Template,
    fingerprint,
    read_recipients,
    read_rows,
    recipient_key,
)
from ._journal import Journal, RowState, RowUpdate

__all__ = [
    "CampaignProgress",
    "CampaignSummary",
    "default_tag",
    "run_campaign",
]

# One DEBUG line per row (numbers masked: see bwmsg._privacy); nothing above DEBUG per row.
logger = logging.getLogger("bwmsg.campaign")


def default_tag(campaign_id: str, row: int) -> str:
    """The tag a campaign gives a row when no ``--tag`` is set: no personal data in it."""
    return f"bwmsg:{campaign_id}:{row}"


@attrs.frozen(kw_only=True)
class CampaignProgress:
    """Where a running campaign stands (passed to the progress callback)."""

    total: int
    done: int
    sent: int
    failed: int
    unknown: int
    skipped: int
    in_flight: int
    rate: float
    elapsed: float


@attrs.frozen(kw_only=True)
class CampaignSummary:
    """What a run of a campaign did, and where the whole journal stands after it.

    Attributes:
        rows: rows in the input.
        sent: rows sent by this run.
        failed: rows that failed in this run (invalid ones included).
        invalid: rows of this run that could not become a message.
        unknown: rows of this run that may have been sent.
        skipped: rows already final from earlier runs.
        recovered: rows an earlier run left ``sending``, now ``unknown``.
        states: rows by state in the whole journal after the run.
        stopped: why the run stopped early (``"interrupted"`` for ``stop``, or the cause:
            refused credentials, a 404, too many failures in a row), or None.
        elapsed: seconds.
        errors: the most frequent errors of this run, with their counts.
        returned: rows this run took but never sent (a stop came first): back to ``pending``.
        duplicates: rows whose recipients an earlier row of the input has.
        unknown_since: when the journal's latest ``unknown`` row became so (seconds since
            the epoch), or None: reconcile can settle such rows once their window has closed.
        retryable: ``failed`` rows in the whole journal that a rerun tries again.
    """

    rows: int
    sent: int
    failed: int
    invalid: int
    unknown: int
    skipped: int
    recovered: int
    states: dict[str, int]
    stopped: str | None
    elapsed: float
    errors: list[tuple[str, int]]
    returned: int = 0
    duplicates: int = 0
    unknown_since: float | None = None
    retryable: int = 0

    @property
    def complete(self) -> bool:
        """Every row reached a final state (sent, failed or unknown) and nothing was cut short."""
        return (
            self.stopped is None
            and self.states.get("pending", 0) == 0
            and self.states.get("sending", 0) == 0
        )

    @property
    def retryable_left(self) -> int:
        """Rows a rerun would try again (failed for a transient reason)."""
        return self.retryable


def _update(item: _Item, result: SendResult, state: RowState, **fields: Any) -> RowUpdate:
    """The row's outcome, with what describes its send (sender, segments, encoding)."""
    _, _, sender, cost, encoding = item.mark
    return RowUpdate(
        item.row,
        state,
        attempts=result.attempts,
        sender=sender,
        segments=cost,
        encoding=encoding,
        **fields,
    )


def _classify(result: SendResult, item: _Item) -> RowUpdate:
    if result.outcome is Outcome.SENT:
        message_id = result.message.id if result.message is not None else None
        return _update(item, result, RowState.SENT, message_id=message_id, sending_at=item.taken)
    error = result.error
    text = str(error) if error is not None else "unknown error"
    if result.outcome is Outcome.UNKNOWN:
        return _update(item, result, RowState.UNKNOWN, error=text, sending_at=item.taken)
    status = error.status if isinstance(error, ApiError) else None
    retryable = isinstance(error, TransportError) or (
        isinstance(error, ApiError)
        and (
            error.status == 429
            or error.status >= 500
            # Causes the operator fixes for the whole run: a rerun tries these rows again.
            or isinstance(error, (AuthenticationError, ForbiddenError, NotFoundError))
        )
    )
    if isinstance(error, RequestValidationError):
        retryable = False
    return _update(item, result, RowState.FAILED, error=text, status=status, retryable=retryable)


def _short_error(text: str) -> str:
    return text.splitlines()[0][:120] if text else ""


def _error_kind(text: str) -> str:
    # Invalid rows each name their own value; group them by the fields at fault.
    if text.startswith("invalid message: "):
        fields = sorted({part.split(":", 1)[0].strip() for part in text[17:].split("; ")})
        return "invalid message: bad " + ", ".join(fields)
    return _short_error(text)


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


@attrs.define
class _Item:
    """A row on its way: its request, and the state to put it back to if it never leaves."""

    row: int
    request: MessageRequest
    previous: tuple[str, bool] | None
    mark: tuple[int, str, str, int, str]
    taken: float | None = None  # when it was marked `sending` (seconds since the epoch)


def _item(row: int, request: MessageRequest, previous: tuple[str, bool] | None) -> _Item:
    if request.media:
        cost, encoding = 1, "MMS"
    else:
        info = segments(request.text or "")
        cost, encoding = info.segments, info.encoding
    recipients = ";".join(request.to)
    mark = (row, recipients, request.from_, cost * len(request.to), encoding)
    return _Item(row, request, previous, mark)


def _back(item: _Item) -> RowUpdate:
    """The update that puts a row that never left the process back where it was: ``pending``,
    ``failed`` (retryable or not), or ``unknown`` (taken by ``--resend-unknown``: an earlier
    run may have sent it, and that stays true)."""
    previous = item.previous
    if previous is not None and previous[0] in ("failed", "unknown"):
        return RowUpdate(item.row, RowState(previous[0]), retryable=previous[1])
    return RowUpdate(item.row, RowState.PENDING)


def _stopped_update(result: SendResult, item: _Item) -> RowUpdate:
    """A request that send_many's stop ended before it was written: certainly not sent."""
    if result.attempts == 0:
        return _back(item)
    return RowUpdate(
        item.row,
        RowState.FAILED,
        error=str(result.error),
        retryable=True,
        attempts=result.attempts,
    )


def _stop_reason(error: BaseException | None) -> str | None:
    """Why one result stops the whole run (the same cause would fail every row), or None."""
    if isinstance(error, (AuthenticationError, ForbiddenError)):
        return (
            f"the credentials were refused ({_short_error(str(error))}); nothing more is sent "
            "until they are fixed"
        )
    if isinstance(error, NotFoundError):
        return (
            f"the messages endpoint answered 404 ({_short_error(str(error))}): the base URL or "
            "the account id is wrong"
        )
    return None


class _Run:
    """One run of a campaign on an open journal: the source of requests and the results."""

    def __init__(
        self,
        db: Journal,
        path: Path,
        template: Template,
        campaign_id: str,
        options: _Options,
        stop: asyncio.Event,
        progress: Callable[[CampaignProgress], None] | None,
        total: int,
        concurrency: int,
        fresh: bool,
    ) -> None:
        self.db = db
        self.path = path
        self.template = template
        self.campaign_id = campaign_id
        self.options = options
        self.stop = stop
        self.progress = progress
        self.total = total
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.stopped: list[str] = []
        self.in_flight: dict[int, _Item] = {}  # send_many's index -> row
        self.ready: deque[_Item] = deque()  # marked `sending`, not yet handed over
        self.updates: list[RowUpdate] = []
        self.last_flush = self.started
        self.next_index = 0
        self.failures_in_a_row = 0
        self.most_sending = 2 * concurrency + MARK_SLACK
        self.fresh = fresh  # no run has used the journal: every row is pending

    def stop_for(self, reason: str) -> None:
        """Stop the run (no new rows) for ``reason``; the first reason is the one reported."""
        if not self.stopped:
            self.stopped.append(reason)
        self.stop.set()

    # -- the journal ----------------------------------------------------------------------------

    def write(self, batch: list[_Item] | None = None, settled_below: int | None = None) -> None:
        """Write the outcomes so far, and mark ``batch`` ``sending``, in one commit; drop the
        claims that end before ``settled_below``."""
        if not (self.updates or batch or settled_below is not None):
            return
        claim = marks = None
        if batch:
            claim = (batch[0].row, batch[-1].row)  # rows come in order: one range
            marks = [item.mark for item in batch if item.previous is not None]
        taken = self.db.record(
            self.updates, sending=marks or (), claim=claim, settled_below=settled_below
        )
        self.updates.clear()
        for item in batch or ():
            item.taken = taken

    def settled_below(self) -> int:
        """The first row that may still lack an outcome: claims ending before it are done."""
        waiting = itertools.chain(self.in_flight.values(), self.ready)
        return min((item.row for item in waiting), default=2**62)

    def flush(self) -> None:
        """Write the outcomes so far, then report progress."""
        self.write(settled_below=self.settled_below())
        self.last_flush = self.loop.time()
        if self.progress is not None:
            self.progress(self.snapshot())

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

    def _final(self, state: str, retryable: int, status: int | None) -> bool:
        if state == "sent" or (state == "unknown" and not self.options.resend_unknown):
            return True
        if state == "failed" and not retryable:
            client_error = status is not None and 400 <= status < 500
            return not (self.options.retry_failed and client_error)
        return False

    def items(self) -> Iterator[_Item]:
        """The rows this run sends, rendered, in order; invalid rows are written as failed."""
        # A journal no run has used yet has every row pending: nothing to look up.
        states = iter(()) if self.fresh else self.db.states()
        known = next(states, None)
        for row, columns in read_rows(self.path):
            while known is not None and known[0] < row:
                known = next(states, None)
            previous = None
            if known is not None and known[0] == row:
                if self._final(known[1], known[2], known[3]):
                    self.counts["skipped"] += 1
                    continue
                previous = (known[1], bool(known[2]))
            to_text = columns.get("to", "") if isinstance(columns, dict) else ""
            try:
                if isinstance(columns, RenderError):
                    raise columns
                request = self.template.render(columns, default_tag(self.campaign_id, row))
            except RenderError as exc:
                self.invalid(row, str(exc), to_text)
                continue
            yield _item(row, request, previous)

    def invalid(self, row: int, reason: str, to: str) -> None:
        """Record a row that cannot become a message."""
        self.counts["failed"] += 1
        self.counts["invalid"] += 1
        self.errors[_error_kind(reason)] += 1
        self.updates.append(RowUpdate(row, RowState.FAILED, error=reason, retryable=False))
        logger.debug(
            "row %d to %s invalid: %s", row, masked(to), mask_numbers_in(_error_kind(reason))
        )

    def source(self) -> Iterator[MessageRequest]:
        """What send_many sends: rows are marked ``sending`` shortly before send_many takes
        them, each batch in one commit with the outcomes so far, never more than the bound."""
        items = self.items()
        while not self.stop.is_set():
            if not self.ready:
                room = self.most_sending - len(self.in_flight)
                batch = list(itertools.islice(items, room))
                if not batch:
                    return
                self.write(batch)
                self.ready.extend(batch)
            item = self.ready.popleft()
            self.in_flight[self.next_index] = item
            self.next_index += 1
            yield item.request

    # -- results out --------------------------------------------------------------------------

    def take(self, result: SendResult) -> None:
        """One result from send_many: count it, queue its update, stop the run if need be."""
        item = self.in_flight.pop(result.index)
        if isinstance(result.error, StoppedError):
            update = _stopped_update(result, item)
            self.counts["returned" if update.state is RowState.PENDING else "failed"] += 1
        else:
            update = _classify(result, item)
            self.counts[update.state.value] += 1
            self.breaker(result)
        if update.error:
            self.errors[_error_kind(update.error)] += 1
        self.updates.append(update)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "row %d to %s %s after %d attempt(s)%s",
                item.row,
                masked(";".join(result.request.to)),
                update.state.value,
                result.attempts,
                f": {mask_numbers_in(_short_error(update.error))}"
                if update.error
                else f": {update.message_id}",
            )
        if (
            len(self.updates) >= self.options.batch_size
            or self.loop.time() - self.last_flush >= self.options.flush_interval
        ):
            self.flush()

    def breaker(self, result: SendResult) -> None:
        """Stop on an error that would fail every row, or after too many failures in a row."""
        reason = _stop_reason(result.error)
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
                f"{_short_error(str(result.error))}); the API looks down or is refusing "
                "(--max-consecutive-failures)"
            )

    def finish(self) -> None:
        """After send_many: rows it never took go back; rows without an answer are unknown."""
        for item in self.ready:
            self.updates.append(_back(item))
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
        self.flush()


async def _grace_timer(stop: asyncio.Event, hurry: asyncio.Event, grace: float) -> None:
    """Set ``hurry`` ``grace`` seconds after ``stop`` (or leave it to whoever sets it first)."""
    await stop.wait()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(hurry.wait(), grace)
    hurry.set()


async def _send(sender: Sender, run: _Run, hurry: asyncio.Event) -> None:
    timer = asyncio.ensure_future(_grace_timer(run.stop, hurry, run.options.grace))
    try:
        results = sender.send_many(run.source(), stop=run.stop, grace=hurry)
        async with contextlib.aclosing(results):
            async for result in results:
                run.take(result)
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer


def _load(db: Journal, path: Path, dedupe: bool) -> tuple[int, int]:
    """A new journal gets every row ``pending`` (first run); then (rows, duplicates)."""
    if "rows" not in db.meta():  # a new journal (or one whose first run died here)
        total = db.add_rows((row, recipient_key(to)) for row, to in read_recipients(path))
    else:
        total = int(db.meta().get("rows", "0"))
    duplicates, _ = db.duplicates(limit=0)
    if dedupe and duplicates:
        db.skip_duplicates()
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
        journal: the SQLite journal's path (created if missing).
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
    """
    path = Path(recipients)
    digest = fingerprint(path, **template.settings())
    options = _Options(
        resend_unknown=resend_unknown,
        retry_failed=retry_failed,
        dedupe=dedupe,
        max_consecutive_failures=max_consecutive_failures,
        grace=grace,
        batch_size=batch_size,
        flush_interval=flush_interval,
    )
    stop = stop or asyncio.Event()
    # Blocking file and database work is by design here: it is short and bounded.
    with Journal(journal, exclusive=True) as db:
        db.bind(digest, input=str(path.resolve()), campaign=digest[:12])  # noqa: ASYNC240
        total, duplicates = _load(db, path, dedupe)
        fresh = not db.runs() and not (dedupe and duplicates)
        recovered = db.start_run()
        run = _Run(
            db,
            path,
            template,
            digest[:12],
            options,
            stop,
            progress,
            total,
            sender.concurrency,
            fresh,
        )
        try:
            await _send(sender, run, hurry or asyncio.Event())
        finally:
            run.finish()
            if stop.is_set() and not run.stopped:
                run.stopped.append("interrupted")
            db.end_run(run.stopped[0] if run.stopped else "finished")
        return _summary(run, db, recovered, duplicates)


def _summary(run: _Run, db: Journal, recovered: int, duplicates: int) -> CampaignSummary:
    counts = run.counts
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
        states=db.counts(),
        retryable=db.retryable_count(),
        stopped=run.stopped[0] if run.stopped else None,
        elapsed=run.loop.time() - run.started,
        errors=run.errors.most_common(10),
        unknown_since=db.last_unknown(),
    )
