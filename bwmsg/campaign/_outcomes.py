"""How one send's result becomes a row's update, and which results stop a whole run."""

from __future__ import annotations

from typing import Any

import attrs

from .._errors import (
    ApiError,
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    RequestValidationError,
    TransportError,
)
from .._models import MessageRequest, Outcome, SendResult
from .._segments import measure
from ._journal import RowState, RowUpdate

__all__ = [
    "Item",
    "back",
    "classify",
    "error_kind",
    "make_item",
    "short_error",
    "stop_reason",
    "stopped_update",
]


@attrs.define
class Item:
    """A row on its way: its request, the state to put it back to if it never leaves, and what
    describes its send (a :class:`~._journal.Marking`: the journal marks it ``sending`` as it
    is, no Mark made per row)."""

    row: int
    request: MessageRequest
    previous: tuple[str, bool] | None
    recipients: str
    sender: str
    segments: int  # times its recipients
    encoding: str
    fresh: bool  # it was `pending` (not taken again from `failed` or `unknown`)
    taken: float | None = None  # when it was marked `sending` (seconds since the epoch)


def make_item(row: int, request: MessageRequest, previous: tuple[str, bool] | None) -> Item:
    """The row ``row`` on its way with ``request``; ``previous`` is the (state, retryable) it
    was taken from, None for a ``pending`` row."""
    if request.media:
        cost, encoding = 1, "MMS"
    else:
        encoding, cost, _ = measure(request.text or "")
    to = request.to
    fresh = previous is None
    return Item(
        row, request, previous, ";".join(to), request.from_, cost * len(to), encoding, fresh
    )


def _update(item: Item, result: SendResult, state: RowState, **fields: Any) -> RowUpdate:
    """The row's outcome, with what describes its send (sender, segments, encoding)."""
    return RowUpdate(
        item.row,
        state,
        attempts=result.attempts,
        sender=item.sender,
        segments=item.segments,
        encoding=item.encoding,
        **fields,
    )


def classify(result: SendResult, item: Item) -> RowUpdate:
    """The update one send's result makes of its row."""
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


def short_error(text: str) -> str:
    """An error's first line, at most 120 characters."""
    return text.splitlines()[0][:120] if text else ""


def error_kind(text: str) -> str:
    """An error as counted in a summary: invalid rows grouped by the fields at fault."""
    if text.startswith("invalid message: "):
        fields = sorted({part.split(":", 1)[0].strip() for part in text[17:].split("; ")})
        return "invalid message: bad " + ", ".join(fields)
    return short_error(text)


def back(item: Item) -> RowUpdate:
    """The update that puts a row that never left the process back where it was: ``pending``,
    ``failed`` (retryable or not), or ``unknown`` (taken by ``--resend-unknown``: an earlier
    run may have sent it, and that stays true)."""
    previous = item.previous
    if previous is not None and previous[0] in ("failed", "unknown"):
        return RowUpdate(item.row, RowState(previous[0]), retryable=previous[1])
    return RowUpdate(item.row, RowState.PENDING)


def stopped_update(result: SendResult, item: Item) -> RowUpdate:
    """A request that send_many's stop ended before it was written: certainly not sent."""
    if result.attempts == 0:
        return back(item)
    return RowUpdate(
        item.row,
        RowState.FAILED,
        error=str(result.error),
        retryable=True,
        attempts=result.attempts,
    )


def stop_reason(error: BaseException | None) -> str | None:
    """Why one result stops the whole run (the same cause would fail every row), or None."""
    if isinstance(error, (AuthenticationError, ForbiddenError)):
        return (
            f"the credentials were refused ({short_error(str(error))}); nothing more is sent "
            "until they are fixed"
        )
    if isinstance(error, NotFoundError):
        return (
            f"the messages endpoint answered 404 ({short_error(str(error))}): the base URL or "
            "the account id is wrong"
        )
    return None
