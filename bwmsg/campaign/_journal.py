"""The campaign journal's interface: what every engine stores and what the runner, the receipts
listener, reconcile and the read commands ask of it.

Two engines implement :class:`CampaignJournal`: SQLite (:mod:`._sqlite_async`, one process:
the runner reads the input file and the journal keeps each row's state) and PostgreSQL
(:mod:`._postgres`, several workers: each row's rendered message is stored at load and workers
*claim* batches of rows under a lease). The interface is async so that the PostgreSQL driver
(asyncpg) needs no thread; the SQLite engine runs its short statements inline.

Every state change is one transaction. The states, the row updates and the rules for writing
them (a receipt that proved a row sent wins over an ``unknown`` outcome; a row put back to
``failed`` or ``unknown`` keeps its error) are the same for both engines.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import attrs

from .._errors import BwmsgError
from .._text_enum import TextEnum
from ..callbacks import CallbackEvent

__all__ = [
    "SAFE_TO_RESEND",
    "CampaignJournal",
    "ClaimRules",
    "Claimed",
    "JournalMismatch",
    "LeaseLost",
    "LoadedRow",
    "Mark",
    "Marking",
    "ReceiptResult",
    "RowState",
    "RowUpdate",
    "Sent",
    "UnknownCampaign",
    "sent_update",
]

SAFE_TO_RESEND = "not found by reconcile: safe to resend"


class ReceiptResult(TextEnum):
    """What one callback event did to a journal (see :meth:`Journal.apply_receipt`).

    - ``delivered`` / ``failed``: the row's receipt was set.
    - ``settled``: an ``unknown`` row was proved sent by the event's tag (its receipt may also
      have been set).
    - ``unchanged``: the row was found but already had its final receipt, or the event is not
      a final one.
    - ``unmatched``: no row of this campaign has this message id or tag.
    """

    DELIVERED = "delivered"
    FAILED = "failed"
    SETTLED = "settled"
    UNCHANGED = "unchanged"
    UNMATCHED = "unmatched"


class RowState(TextEnum):
    """Where a row stands.

    - ``pending``: not sent yet.
    - ``sending``: handed to the dispatcher; if a run dies here the row becomes ``unknown``.
    - ``sent``: Bandwidth accepted it (``message_id`` set).
    - ``failed``: certainly not sent (``error`` says why; ``retryable`` rows are tried again by
      the next run, the others never).
    - ``unknown``: may have been sent; re-sent only with ``--resend-unknown``.
    - ``suppressed``: never sent because a recipient opted out (``--opt-outs``); final.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SUPPRESSED = "suppressed"


class JournalMismatch(BwmsgError, ValueError):
    """The journal belongs to another input file or template."""


class UnknownCampaign(BwmsgError, ValueError):
    """No campaign of that id (or none at all, or several and no id given) in the journal."""


class LeaseLost(BwmsgError):
    """A worker's lease on its claimed rows ran out (another worker may have settled them):
    it must send nothing more."""


@attrs.frozen
class RowUpdate:
    """The outcome of one row, to be written.

    ``sender``, ``segments``, ``encoding`` and ``sending_at`` (when it was taken: seconds
    since the epoch) describe the send; None keeps what the row has.
    """

    row: int
    state: RowState
    message_id: str | None = None
    error: str | None = None
    status: int | None = None
    retryable: bool = False
    attempts: int = 0
    sender: str | None = None
    segments: int | None = None
    encoding: str | None = None
    sending_at: float | None = None


# A row sent, as the runner hands it to the journal: (message id, attempts, when answered
# (seconds since the epoch), sender, segments, encoding, sending_at, row). Nearly every row of a
# campaign makes one, so it is a plain tuple (a RowUpdate costs a microsecond more to make and
# to read) in the order of the SQLite journal's statement for it; :func:`sent_update` makes it
# a RowUpdate.
Sent = tuple[
    "str | None", int, float, "str | None", "int | None", "str | None", "float | None", int
]


def sent_update(sent: Sent) -> RowUpdate:
    """The :class:`RowUpdate` a :data:`Sent` row stands for."""
    message_id, attempts, _, sender, segments, encoding, sending_at, row = sent
    return RowUpdate(
        row,
        RowState.SENT,
        message_id=message_id,
        attempts=attempts,
        sender=sender,
        segments=segments,
        encoding=encoding,
        sending_at=sending_at,
    )


class Marking(Protocol):
    """What a journal reads of a row it marks ``sending``: a :class:`Mark`, or the runner's
    own row on its way (which carries these itself, so that no Mark is made per row)."""

    @property
    def row(self) -> int: ...
    @property
    def recipients(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def segments(self) -> int: ...
    @property
    def encoding(self) -> str: ...
    @property
    def fresh(self) -> bool: ...


class Mark(NamedTuple):
    """A row to mark ``sending``: what describes its send, and whether it was ``pending``
    (``fresh``) rather than taken again from ``failed`` or ``unknown``. A named tuple: every
    row of a campaign makes one, at a third of the cost of a frozen attrs class."""

    row: int
    recipients: str
    sender: str
    segments: int
    encoding: str
    fresh: bool


@attrs.frozen
class LoadedRow:
    """One input row as a journal stores it at load: its recipients (``;``-joined, as duplicates
    are found by), and for an engine that stores messages the request's JSON body, or why the row
    cannot be sent (``error``: it is loaded ``failed``)."""

    row: int
    recipients: str
    request: Mapping[str, Any] | None = None
    error: str | None = None


@attrs.frozen
class Claimed:
    """A row a worker claimed: the request stored at load, and the state it was claimed from."""

    row: int
    request: Mapping[str, Any]
    state: RowState
    retryable: bool


@attrs.frozen(kw_only=True)
class ClaimRules:
    """Which rows besides ``pending`` a worker may claim (those written before it started)."""

    resend_unknown: bool = False
    retry_failed: bool = False


class CampaignJournal(abc.ABC):
    """One campaign's journal, whatever the engine. Use as an async context manager.

    ``campaign_id`` is set once the journal is bound to a campaign; ``where`` names the journal
    for an operator (a path, or a database URL without its password); ``shared`` is True for an
    engine several workers use at once: rows are then claimed from it (:meth:`claim`) instead of
    read from the input file.
    """

    where: str
    shared: bool = False
    stores_messages: bool = False
    campaign_id: str | None = None

    async def __aenter__(self) -> CampaignJournal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @abc.abstractmethod
    async def close(self) -> None:
        """Give up the connection (and the lock or the lease, if held)."""

    # -- identity and loading ---------------------------------------------------------------

    async def use_campaign(self, campaign: str | None) -> None:
        """Bind to an existing campaign by its id (None: the only one); a shared engine only.
        Raises :class:`UnknownCampaign` naming the campaigns there are."""
        raise NotImplementedError

    @abc.abstractmethod
    async def meta(self) -> dict[str, str]:
        """The campaign's key/value metadata (``campaign``, ``input``, ``rows``, ...)."""

    @abc.abstractmethod
    async def bind(self, fingerprint: str, **info: str) -> bool:
        """Tie the journal to a campaign (new: True) or check that it matches (else
        :class:`JournalMismatch`)."""

    @abc.abstractmethod
    async def add_rows(self, rows: Iterable[LoadedRow]) -> int:
        """Store every input row (``pending``, or ``failed`` with its error); returns how many."""

    async def add_recipients(self, rows: Iterable[tuple[int, str]]) -> int:
        """Store every input row ``pending`` from its (row, recipients) alone, for an engine
        that does not store messages; returns how many."""
        return await self.add_rows(LoadedRow(row, recipients) for row, recipients in rows)

    @abc.abstractmethod
    async def duplicates(self, limit: int = 20) -> tuple[int, list[tuple[int, int]]]:
        """Rows whose recipients an earlier row has: how many, and the first ``limit`` as
        (row, the first row with those recipients)."""

    @abc.abstractmethod
    async def skip_duplicates(self) -> int:
        """Make every ``pending`` duplicate row ``failed`` for good; returns how many."""

    # -- a run or a worker --------------------------------------------------------------------

    @abc.abstractmethod
    async def start_run(self) -> int:
        """Record a run's (or worker's) start and settle what dead runs left ``sending``
        (``unknown``) or claimed (``pending``); returns how many rows became ``unknown``."""

    @abc.abstractmethod
    async def end_run(self, result: str) -> None:
        """Record how the current run ended (and give up its claims)."""

    @abc.abstractmethod
    async def record(
        self,
        updates: Sequence[RowUpdate],
        *,
        sent: Sequence[Sent] = (),
        sending: Sequence[Marking] = (),
        settled_below: int | None = None,
    ) -> float:
        """Write ``updates`` and ``sent`` (rows sent, as :func:`sent_update` makes them
        updates; no row in both), then mark ``sending`` rows ``sending``, in one transaction.

        ``sending`` comes in row order. ``settled_below`` says that every row before it has
        its outcome written (an engine may drop bookkeeping for them). Returns the time the
        rows were marked (seconds since the epoch). Raises :class:`LeaseLost` (writing
        nothing) when the rows to mark are no longer this worker's.
        """

    async def states(self, after: int, limit: int) -> list[tuple[int, str, int, int | None]]:
        """(row, state, retryable, status) of up to ``limit`` rows after ``after``, in order
        (for a runner that reads the input file)."""
        raise NotImplementedError

    async def claim(self, limit: int, rules: ClaimRules) -> list[Claimed] | None:
        """Claim up to ``limit`` rows to send under this worker's lease, in row order (a shared
        engine only). An empty list: nothing to claim now, but rows held by other workers may
        still come back; None: no row is left to send."""
        raise NotImplementedError

    # -- reading --------------------------------------------------------------------------------

    @abc.abstractmethod
    async def runs(self) -> list[tuple[float, float | None, str | None]]:
        """(started, ended, result) of every run or worker, oldest first."""

    @abc.abstractmethod
    async def counts(self) -> dict[str, int]:
        """Rows by state (every :class:`RowState`)."""

    @abc.abstractmethod
    async def retryable_count(self) -> int:
        """``failed`` rows the next run tries again (a transient cause)."""

    @abc.abstractmethod
    async def sent_segments(self) -> int:
        """Segments of every ``sent`` row (times its recipients)."""

    @abc.abstractmethod
    async def last_unknown(self) -> float | None:
        """When the latest ``unknown`` row became so (seconds since the epoch), or None."""

    @abc.abstractmethod
    async def top_errors(self, limit: int = 10) -> list[tuple[str, int | None, str, int]]:
        """(state, HTTP status or None, error, rows) of ``failed`` and ``unknown`` rows, the
        most frequent first."""

    @abc.abstractmethod
    def rows(self) -> AsyncIterator[Mapping[str, Any]]:
        """Every row in order as a mapping (row, recipients, sender, state, retryable,
        message_id, error, status, attempts, segments, encoding, updated, receipt,
        receipt_code, receipt_description, receipt_time, sending_at)."""

    @abc.abstractmethod
    async def receipt_counts(self) -> dict[str, int]:
        """Sent rows by receipt: ``delivered``, ``failed`` and ``awaiting`` (none yet)."""

    @abc.abstractmethod
    async def receipt_failures(self, limit: int = 10) -> list[tuple[int | None, str, int]]:
        """(code, code in words, rows) of failed receipts, most frequent first."""

    # -- receipts and reconciliation -------------------------------------------------------

    @abc.abstractmethod
    async def apply_receipt(self, event: CallbackEvent) -> ReceiptResult:
        """Record one callback event against its row (see :meth:`Journal.apply_receipt`)."""

    @abc.abstractmethod
    async def recover(self) -> int:
        """Settle rows that dead runs left ``sending``; returns how many."""

    @abc.abstractmethod
    async def unknown_rows(self) -> list[tuple[int, str, str | None, float | None, float | None]]:
        """(row, recipients, sender, sending_at, updated) of every ``unknown`` row."""

    @abc.abstractmethod
    async def has_message(self, message_id: str) -> bool:
        """Whether some row already holds ``message_id``."""

    @abc.abstractmethod
    async def settle(self, row: int, message_id: str | None) -> bool:
        """Settle an ``unknown`` row: ``sent`` with ``message_id``, or (None) safe to resend;
        False when it was no longer ``unknown``."""
