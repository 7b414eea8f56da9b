"""What a campaign run reports: its progress while it runs, its summary when it ends."""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = ["CampaignProgress", "CampaignSummary"]


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
        suppressed: rows of this run not sent because a recipient opted out.
        held: rows left ``pending`` by quiet hours when the run ended (``--no-wait``, or no
            allowed moment for them).
        opens: when the first of those may be sent, or None (never: no known time zone, or
            zones with no common window).
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
    suppressed: int = 0
    held: int = 0
    opens: datetime | None = None

    @property
    def complete(self) -> bool:
        """Every row reached a final state (sent, failed, unknown or suppressed) or is held by
        quiet hours, and nothing was cut short."""
        return (
            self.stopped is None
            and self.states.get("pending", 0) <= self.held
            and self.states.get("sending", 0) == 0
        )

    @property
    def retryable_left(self) -> int:
        """Rows a rerun would try again (failed for a transient reason)."""
        return self.retryable
