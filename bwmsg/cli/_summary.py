"""What a campaign run prints when it ends: the summary, the advice, the resume command."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._privacy import command_line
from ..campaign import CampaignSummary
from ..campaign._reconcile import MARGIN
from ._common import EXIT_INTERRUPTED
from ._inspect import when

__all__ = ["print_summary", "report"]


def report(
    out: Console, summary: CampaignSummary, journal: Path | str, *, interrupted: bool
) -> int:
    """Print the summary (``journal`` as it may be shown: a URL without its password) and, unless
    every row is final, how to resume; the exit status."""
    print_summary(out, summary, journal)
    if summary.complete:
        return 0
    resume = escape(command_line())
    # soft_wrap: the command stays on one line, to be copied whole.
    if interrupted or summary.stopped == "interrupted":
        out.print(f"\nInterrupted. To resume: [bold]{resume}[/bold]", soft_wrap=True)
        return EXIT_INTERRUPTED
    if summary.stopped is None:
        out.print(f"\nRows are left to send. To resume: {resume}", soft_wrap=True)
        return 1
    out.print(f"\nStopped: {escape(summary.stopped)}.")
    out.print(f"Fix it, then resume: {resume}", soft_wrap=True)
    return 1


def print_summary(out: Console, s: CampaignSummary, journal: Path | str | None) -> None:
    """The run's counts and what to do next; ``journal`` None when it is gone (the demo's
    temporary one): no advice names it then."""
    title = f"Campaign run ({journal})" if journal is not None else "Campaign run"
    table = Table(title=title, show_header=True)
    table.add_column("")
    table.add_column("this run", justify="right")
    table.add_column("journal", justify="right")
    table.add_row("sent", f"{s.sent:,}", f"{s.states.get('sent', 0):,}")
    table.add_row("failed", f"{s.failed:,}", f"{s.states.get('failed', 0):,}")
    table.add_row("  of which invalid", f"{s.invalid:,}", "")
    table.add_row("unknown", f"{s.unknown:,}", f"{s.states.get('unknown', 0):,}")
    if s.suppressed or s.states.get("suppressed", 0):
        table.add_row(
            "suppressed (opted out)", f"{s.suppressed:,}", f"{s.states.get('suppressed', 0):,}"
        )
    table.add_row("pending", "", f"{s.states.get('pending', 0):,}")
    if s.held:
        table.add_row("  of which held by quiet hours", f"{s.held:,}", "")
    if s.returned:
        table.add_row("  of which stopped before sending", f"{s.returned:,}", "")
    table.add_row("skipped (already final)", f"{s.skipped:,}", "")
    table.add_row("rows", "", f"{s.rows:,}")
    out.print(table)
    rate = (s.sent + s.failed + s.unknown) / s.elapsed if s.elapsed > 0 else 0.0
    out.print(f"{s.elapsed:,.1f}s, {rate:,.0f} rows/s")
    if s.recovered:
        out.print(f"{s.recovered:,} rows an earlier run left in flight are now 'unknown'.")
    if s.duplicates:
        out.print(
            f"{s.duplicates:,} rows have the same recipients as an earlier row (see `bwmsg "
            "campaign run ... --dry-run`); --dedupe skips them."
        )
    if s.held:
        _print_held(out, s)
    if s.errors:
        out.print("Most frequent errors:")
        for error, count in s.errors[:5]:
            out.print(f"  {count:>7,}  {escape(error)}")
    if s.retryable_left:
        out.print(f"{s.retryable_left:,} failed rows are transient: rerun to try them again.")
    if s.states.get("unknown", 0) and journal is not None:
        _print_unknown_advice(out, s.states["unknown"], s.unknown_since, journal)


def _print_held(out: Console, s: CampaignSummary) -> None:
    if s.opens is None:
        out.print(
            f"{s.held:,} rows are held by quiet hours with no moment allowed where their "
            "recipients are (a number with no known time zone, or zones too far apart): they "
            "stay pending; send them by hand or drop --quiet-hours for them."
        )
        return
    out.print(
        f"{s.held:,} rows are held by quiet hours until {s.opens.isoformat(timespec='minutes')} "
        "at the earliest: rerun the same command then (or without --no-wait, to wait)."
    )


def _print_unknown_advice(
    out: Console, unknown: int, since: float | None, journal: Path | str
) -> None:
    out.print(
        f"{unknown:,} rows may have been sent (unknown): a rerun does not send them again. "
        f"Next: [bold]{shlex.join(['bwmsg', 'campaign', 'reconcile', str(journal)])}[/bold] "
        "looks them up at Bandwidth and marks those it finds as sent."
    )
    closes = (since or 0.0) + MARGIN
    if closes > time.time():
        out.print(
            f"  Rows it does not find become safe to resend once their window closes, at "
            f"{when(closes)} (rerun reconcile then); the next run then sends them once."
        )
    else:
        out.print("  Rows it does not find are then safe to resend: the next run sends them once.")
    out.print("  --resend-unknown sends them all again now, and may text some people twice.")
