"""Running a campaign: rows in, journal before and after each send, Sender.send_many between."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs

from .._errors import (
    ApiError,
    AuthenticationError,
    ForbiddenError,
    RequestValidationError,
    TransportError,
)
from .._models import MessageRequest, Outcome, SendResult
from .._privacy import mask_numbers_in, masked
from .._segments import segments
from .._sender import Sender
from ._input import RenderError, Template, fingerprint, read_rows
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
        stopped: why the run stopped early (signal, authentication), or None.
        elapsed: seconds.
        errors: the most frequent errors of this run, with their counts.
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
        return self.states.get("_retryable", 0)


def _classify(result: SendResult, row: int) -> RowUpdate:
    if result.outcome is Outcome.SENT:
        message_id = result.message.id if result.message is not None else None
        return RowUpdate(row, RowState.SENT, message_id=message_id, attempts=result.attempts)
    error = result.error
    text = str(error) if error is not None else "unknown error"
    if result.outcome is Outcome.UNKNOWN:
        return RowUpdate(row, RowState.UNKNOWN, error=text, attempts=result.attempts)
    status = error.status if isinstance(error, ApiError) else None
    retryable = isinstance(error, TransportError) or (
        isinstance(error, ApiError)
        and (
            error.status == 429
            or error.status >= 500
            or isinstance(error, (AuthenticationError, ForbiddenError))
        )
    )
    if isinstance(error, RequestValidationError):
        retryable = False
    return RowUpdate(
        row,
        RowState.FAILED,
        error=text,
        status=status,
        retryable=retryable,
        attempts=result.attempts,
    )


def _short_error(text: str) -> str:
    return text.splitlines()[0][:120] if text else ""


def _error_kind(text: str) -> str:
    # Invalid rows each name their own value; group them by the fields at fault.
    if text.startswith("invalid message: "):
        fields = sorted({part.split(":", 1)[0].strip() for part in text[17:].split("; ")})
        return "invalid message: bad " + ", ".join(fields)
    return _short_error(text)


@attrs.define
class _Batch:
    row: int
    request: MessageRequest
    recipients: str
    segments: int
    encoding: str
    previous: tuple[str, int] | None


async def run_campaign(
    sender: Sender,
    recipients: str | Path,
    journal: str | Path,
    template: Template,
    *,
    resend_unknown: bool = False,
    stop: asyncio.Event | None = None,
    progress: Callable[[CampaignProgress], None] | None = None,
    batch_size: int = 100,
    flush_interval: float = 0.25,
    grace: float = 5.0,
) -> CampaignSummary:
    """Send one message per recipient row, journalling every row's state.

    Resuming on the same journal skips rows already sent or permanently failed, tries again
    those that failed for a transient reason, and leaves ``unknown`` rows alone unless
    ``resend_unknown``. A journal made for another input or template is refused
    (:class:`~bwmsg.campaign.JournalMismatch`).

    Args:
        sender: the Sender to send through (its concurrency and rate apply).
        recipients: CSV (header row, column ``to``) or JSON Lines file.
        journal: the SQLite journal's path (created if missing).
        template: how each row becomes a message.
        resend_unknown: send ``unknown`` rows again (they may be texted twice).
        stop: set it to stop taking new rows; requests in flight get ``grace`` seconds.
        progress: called with a :class:`CampaignProgress` at every journal flush.
        batch_size: rows marked ``sending`` (and results written) per commit.
        flush_interval: the longest time results wait to be written.
        grace: seconds in-flight requests may take to finish after ``stop``.
    """
    path = Path(recipients)
    settings = template.settings()
    digest = fingerprint(path, **settings)
    campaign_id = digest[:12]
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop = stop or asyncio.Event()
    stopped: list[str] = []

    with Journal(journal) as db:
        # Blocking file and database work is by design here: it is short and bounded.
        db.bind(digest, input=str(path.resolve()), campaign=campaign_id)  # noqa: ASYNC240
        if "rows" not in db.meta():  # a new journal (or one whose first run died here)
            total = db.add_rows(
                (row, columns.get("to", "") if isinstance(columns, dict) else "")
                for row, columns in read_rows(path)
            )
        else:
            total = int(db.meta().get("rows", "0"))
        recovered = db.start_run()
        counts: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        rows_by_index: dict[int, int] = {}
        recipients_of: dict[int, str] = {}
        updates: list[RowUpdate] = []
        last_flush = loop.time()
        next_index = 0

        def flush() -> None:
            nonlocal last_flush
            if updates:
                db.record(updates, recipients_of)
                for update in updates:
                    recipients_of.pop(update.row, None)
                updates.clear()
            last_flush = loop.time()
            if progress is not None:
                elapsed = last_flush - started
                done = counts["sent"] + counts["failed"] + counts["unknown"]
                progress(
                    CampaignProgress(
                        total=total,
                        done=done + counts["skipped"],
                        sent=counts["sent"],
                        failed=counts["failed"],
                        unknown=counts["unknown"],
                        skipped=counts["skipped"],
                        in_flight=len(rows_by_index),
                        rate=done / elapsed if elapsed > 0 else 0.0,
                        elapsed=elapsed,
                    )
                )

        def fail_row(row: int, reason: str, to: str) -> None:
            counts["failed"] += 1
            counts["invalid"] += 1
            errors[_error_kind(reason)] += 1
            recipients_of[row] = to
            updates.append(RowUpdate(row, RowState.FAILED, error=reason, retryable=False))
            logger.debug(
                "row %d to %s invalid: %s", row, masked(to), mask_numbers_in(_error_kind(reason))
            )

        def hand_over(batch: list[_Batch]) -> Iterator[MessageRequest]:
            nonlocal next_index
            db.mark_sending(
                (b.row, b.recipients, b.request.from_, b.segments, b.encoding) for b in batch
            )
            handed = 0
            try:
                for item in batch:
                    if stop.is_set():
                        break
                    rows_by_index[next_index] = item.row
                    next_index += 1
                    handed += 1
                    yield item.request
            finally:
                # Rows marked sending but never handed over go back to where they were.
                if handed < len(batch):
                    db.record(
                        RowUpdate(
                            b.row,
                            RowState(b.previous[0]) if b.previous else RowState.PENDING,
                            retryable=bool(b.previous and b.previous[1]),
                        )
                        for b in batch[handed:]
                    )

        def source() -> Iterator[MessageRequest]:
            states = db.states()
            known = next(states, None)
            batch: list[_Batch] = []
            for row, columns in read_rows(path):
                if stop.is_set():
                    break
                while known is not None and known[0] < row:
                    known = next(states, None)
                previous = None
                if known is not None and known[0] == row:
                    state, retryable = known[1], known[2]
                    final = (
                        state == "sent"
                        or (state == "failed" and not retryable)
                        or (state == "unknown" and not resend_unknown)
                    )
                    if final:
                        counts["skipped"] += 1
                        continue
                    previous = (state, retryable)
                to_text = columns.get("to", "") if isinstance(columns, dict) else ""
                if isinstance(columns, RenderError):
                    fail_row(row, str(columns), to_text)
                    continue
                try:
                    request = template.render(columns, default_tag(campaign_id, row))
                except RenderError as exc:
                    fail_row(row, str(exc), to_text)
                    continue
                if request.media:
                    cost, encoding = 1, "MMS"
                else:
                    info = segments(request.text or "")
                    cost, encoding = info.segments, info.encoding
                batch.append(
                    _Batch(
                        row,
                        request,
                        ";".join(request.to),
                        cost * len(request.to),
                        encoding,
                        previous,
                    )
                )
                if len(batch) >= batch_size:
                    yield from hand_over(batch)
                    batch = []
            if batch:
                yield from hand_over(batch)

        async def consume() -> None:
            async with contextlib.aclosing(sender.send_many(source())) as results:
                async for result in results:
                    row = rows_by_index.pop(result.index)
                    update = _classify(result, row)
                    counts[update.state.value] += 1
                    if update.error:
                        errors[_error_kind(update.error)] += 1
                    updates.append(update)
                    if logger.isEnabledFor(logging.DEBUG):
                        logger.debug(
                            "row %d to %s %s after %d attempt(s)%s",
                            row,
                            masked(";".join(result.request.to)),
                            update.state.value,
                            result.attempts,
                            f": {mask_numbers_in(_short_error(update.error))}"
                            if update.error
                            else f": {update.message_id}",
                        )
                    error = result.error
                    if isinstance(error, (AuthenticationError, ForbiddenError)) and not stopped:
                        stopped.append(
                            f"the credentials were refused ({_short_error(str(error))}); "
                            "nothing more is sent until they are fixed"
                        )
                        stop.set()
                    if len(updates) >= batch_size or loop.time() - last_flush >= flush_interval:
                        flush()

        consumer = asyncio.ensure_future(consume())
        stop_wait = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({consumer, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not consumer.done():
                if not stopped:
                    stopped.append("interrupted")
                try:
                    await asyncio.wait_for(asyncio.shield(consumer), grace)
                except asyncio.TimeoutError:
                    consumer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await consumer
            consumer.result()  # re-raise an input error, after the journal is written
        finally:
            stop_wait.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stop_wait
            if not consumer.done():
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await consumer
            # Requests handed over whose answer never came: they may have been sent.
            for row in rows_by_index.values():
                counts["unknown"] += 1
                updates.append(
                    RowUpdate(
                        row,
                        RowState.UNKNOWN,
                        error="the run stopped while it was in flight: it may have been sent",
                    )
                )
            rows_by_index.clear()
            flush()
            states = db.counts()
            retryable = db.query(
                "SELECT COUNT(*) FROM rows WHERE state = 'failed' AND retryable = 1"
            )[0][0]
            summary_stopped = stopped[0] if stopped else None
            db.end_run(summary_stopped or "finished")
    return CampaignSummary(
        rows=total,
        sent=counts["sent"],
        failed=counts["failed"],
        invalid=counts["invalid"],
        unknown=counts["unknown"],
        skipped=counts["skipped"],
        recovered=recovered,
        states={**states, "_retryable": retryable},
        stopped=summary_stopped,
        elapsed=loop.time() - started,
        errors=errors.most_common(10),
    )
