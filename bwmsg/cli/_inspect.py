"""``bwmsg campaign status`` and ``campaign export``, and the dry run's report: reading a journal.

Thin: the numbers come from :mod:`bwmsg.campaign`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import sys
import time
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import _loop
from .._printable import printable
from .._privacy import masked
from ..campaign import CampaignJournal, DryRunReport
from ._common import JournalArg, campaign_option, console, opened

__all__ = [
    "campaign_export",
    "campaign_status",
    "guard_cell",
    "print_dry_run",
    "print_receipts",
    "read_status",
    "when",
]

# Cells a spreadsheet would read as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# One E.164 number or several joined by ';' (a group's recipients): a spreadsheet reads it as
# a number or as text, never as a call, so it is written as it is and an export can be fed back
# to `campaign run`.
_E164_LIST = re.compile(r"\+[1-9][0-9]{0,14}(?:;\+[1-9][0-9]{0,14})*")
_SHOWN_INVALID = 20  # reasons printed by a dry run
_SHOWN_DUPLICATES = 10  # "row 7 repeats row 3" lines printed by a dry run
# The export's fields, and the journal column each comes from.
_EXPORT_COLUMNS = {
    "row": "row",
    "to": "recipients",
    "from": "sender",
    "state": "state",
    "message_id": "message_id",
    "error": "error",
    "status": "status",
    "attempts": "attempts",
    "segments": "segments",
    "encoding": "encoding",
    "updated": "updated",
    "receipt": "receipt",
    "receipt_code": "receipt_code",
    "receipt_description": "receipt_description",
}
_EXPORT_FIELDS = list(_EXPORT_COLUMNS)


def _rows(count: int, kind: str = "") -> str:
    """``1 row``, ``99,980 more invalid rows``."""
    return f"{count:,} {kind}row{'' if count == 1 else 's'}"


def _plain(out: Console, text: str) -> None:
    """Print ``text`` as it is: no markup, no emoji codes, no wrapping."""
    out.print(Text(text), soft_wrap=True)


def print_dry_run(out: Console, report: DryRunReport) -> None:
    """Print a dry run's report for an operator.

    Args:
        out: where to print.
        report: what :func:`bwmsg.campaign.dry_run` found.

    The counts; the characters that force UCS-2; the first valid row's message as it would be
    sent (numbers masked); the rows whose recipients an earlier row has; the first 20 invalid
    rows' reasons and how many more there are; and, when no row would be sent, a line saying
    so (``report.ok`` is False: ``campaign run --dry-run`` exits non-zero then).
    """
    _print_counts(out, report)
    if report.ucs2_characters:
        shown = ", ".join(f"{ch!r} ({_rows(n)})" for ch, n in report.ucs2_characters[:15])
        _plain(out, f"Characters that force UCS-2: {shown}")
    _print_sample(out, report)
    _print_duplicates(out, report)
    _print_invalid(out, report)
    _print_held(out, report)
    if not report.ok:
        reason = "fix the rows above" if report.rows else "the input has no rows"
        _plain(out, f"No row would be sent: {reason}.")


def _print_held(out: Console, report: DryRunReport) -> None:
    if not report.held:
        return
    goes = report.held - report.held_never
    if goes:
        opens = report.opens.isoformat(timespec="minutes") if report.opens else "?"
        _plain(
            out,
            f"Quiet hours would hold {_rows(goes)} at the start, the first until {opens}: the "
            "run waits for them (or stops there with --no-wait).",
        )
    if report.held_never:
        _plain(
            out,
            f"Quiet hours would hold {_rows(report.held_never)} for good: a number with no "
            "known time zone, or zones with no moment allowed in all of them.",
        )


def _print_counts(out: Console, report: DryRunReport) -> None:
    table = Table(title="Dry run: nothing was sent")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("rows", f"{report.rows:,}")
    table.add_row("messages", f"{report.messages:,}")
    table.add_row("invalid rows", f"{report.invalid_count:,}")
    table.add_row("rows repeating recipients", f"{report.duplicates:,}")
    for encoding, count in sorted(report.segments.items()):
        table.add_row(f"segments {encoding}", f"{count:,}")
    table.add_row("segments in all", f"{report.total_segments:,}")
    table.add_row("rows forced to UCS-2", f"{report.ucs2_rows:,}")
    if report.converted_numbers:
        table.add_row("national numbers sent in E.164", f"{report.converted_numbers:,}")
    if report.segments_saved:
        table.add_row("segments saved by --smart-encoding", f"{report.segments_saved:,}")
    out.print(table)


def _print_sample(out: Console, report: DryRunReport) -> None:
    request, info = report.sample, report.sample_segments
    if request is None:
        return
    if info is None:
        size = f"MMS with {len(request.media)} media"
    else:
        size = f"{info.segments} segment{'' if info.segments == 1 else 's'}, {info.encoding}"
    text = request.text or ""
    to = masked(";".join(request.to))
    _plain(out, f"Row {report.sample_row} would be sent from {masked(request.from_)} to {to}:")
    if not text:
        _plain(out, f"  {size}, no text")
    else:
        _plain(out, f"  {size}, {len(text):,} characters")
        for line in printable(text, keep_newlines=True).split("\n"):
            _plain(out, f"  | {line}")
    for url in request.media:
        _plain(out, f"  media: {printable(url)}")


def _print_duplicates(out: Console, report: DryRunReport) -> None:
    if not report.duplicates:
        return
    _plain(
        out,
        f"{_rows(report.duplicates)} with the same recipients as an earlier row "
        "(rerun with --dedupe to skip them):",
    )
    shown = report.duplicate_examples[:_SHOWN_DUPLICATES]
    for row, earlier in shown:
        _plain(out, f"  row {row} repeats row {earlier}")
    if report.duplicates > len(shown):
        _plain(out, f"  ... and {report.duplicates - len(shown):,} more")


def _print_invalid(out: Console, report: DryRunReport) -> None:
    if not report.invalid_count:
        return
    _plain(out, f"{_rows(report.invalid_count, 'invalid ')} (not sent):")
    shown = report.invalid[:_SHOWN_INVALID]
    for row, reason in shown:
        _plain(out, f"  row {row}: {printable(reason)}")
    more = report.invalid_count - len(shown)
    if more:
        _plain(out, f"  ... and {_rows(more, 'more invalid ')}")


def _output(path: Path) -> IO[str]:
    """The export's file, opened to write; a path it cannot write is a usage error."""
    try:
        return path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write {path}: {exc.strerror or exc}", param_hint="--output"
        ) from None


async def _status(db: CampaignJournal) -> dict[str, Any]:
    """Everything status prints, read through the journal's async interface."""
    return {
        "meta": await db.meta(),
        "rows": await db.counts(),
        "segments_sent": await db.sent_segments(),
        "retryable": await db.retryable_count(),
        "receipts": await db.receipt_counts(),
        "receipt_failures": await db.receipt_failures(),
        "runs": await db.runs(),
        "errors": await db.top_errors(10),
    }


def _status_json(found: dict[str, Any]) -> dict[str, object]:
    """What ``status --json`` prints: stable keys, times in UTC ISO 8601."""
    meta = found["meta"]
    return {
        "campaign": meta.get("campaign"),
        "input": meta.get("input"),
        "rows": found["rows"],
        "segments_sent": found["segments_sent"],
        "retryable": found["retryable"],
        "receipts": found["receipts"],
        "runs": [
            {"started": _iso(start), "ended": _iso(end), "result": result}
            for start, end, result in found["runs"]
        ],
        "errors": [
            {"state": state, "status": status, "error": error, "rows": count}
            for state, status, error, count in found["errors"]
        ],
    }


async def read_status(journal: Path | str, campaign: str | None) -> tuple[str, dict[str, Any]]:
    """(where the journal is, for an operator; what status prints) of ``journal``."""
    async with opened(journal, campaign) as db:
        return db.where, await _status(db)


@click.command("status")
@click.argument("journal", type=JournalArg(exists=True))
@campaign_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
def campaign_status(journal: Path | str, campaign: str | None, as_json: bool) -> None:
    """Counts by state, segments, errors, start, end and rate of a campaign's JOURNAL (a SQLite
    file or a PostgreSQL URL)."""
    out = console()
    where, found = _loop.run(read_status(journal, campaign))
    if as_json:
        click.echo(json.dumps(_status_json(found), ensure_ascii=False))
        return
    meta, counts, runs = found["meta"], found["rows"], found["runs"]
    table = Table(title=f"Campaign {meta.get('campaign', '?')} ({where})")
    table.add_column("state")
    table.add_column("rows", justify="right")
    for state, count in counts.items():
        table.add_row(state, f"{count:,}")
    table.add_row("in all", f"{sum(counts.values()):,}")
    out.print(table)
    out.print(f"campaign id: {meta.get('campaign', '?')}")
    out.print(f"input: {meta.get('input', '?')}")
    out.print(f"segments sent: {found['segments_sent']:,}")
    if found["retryable"]:
        out.print(f"failed rows a rerun would try again: {found['retryable']:,}")
    if runs:
        _print_runs(out, runs, counts)
    if found["errors"]:
        out.print("errors:")
        for state, status, error, count in found["errors"]:
            first_line = error.splitlines()[0] if error else ""
            out.print(f"  {count:>7,}  {state:<8} {status or '':>4}  {first_line}")
    print_receipts(out, found["receipts"], found["receipt_failures"])


def _print_runs(
    out: Console, runs: list[tuple[float, float | None, str | None]], counts: dict[str, int]
) -> None:
    first, last = runs[0][0], runs[-1][1] or runs[-1][0]
    busy = sum((end or start) - start for start, end, _ in runs)
    rate = counts.get("sent", 0) / busy if busy > 0 else 0.0
    out.print(
        f"runs: {len(runs)}; first started {when(first)}; last ended {when(last)} "
        f"({runs[-1][2] or 'running or killed'}); {rate:,.0f} sent/s while running"
    )


def when(stamp: float) -> str:
    """A moment as local date and time, for an operator."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def guard_cell(value: object) -> object:
    """``value`` as a CSV cell that a spreadsheet will not run as a formula.

    A string starting with ``= + - @``, a tab or a carriage return gets a leading ``'``
    (OWASP's advice against CSV injection), unless it is an E.164 number or several joined by
    ``;`` (``+19195550000;+19195550001``): those are kept as they are, so that an export's
    ``to`` and ``from`` columns can be fed back to ``campaign run``. Anything else is returned
    unchanged.
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if _E164_LIST.fullmatch(value):
        return value
    return "'" + value


@click.command("export")
@click.argument("journal", type=JournalArg(exists=True))
@campaign_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default="csv",
    show_default=True,
    help="csv (a header row; feeds back into campaign run) or jsonl (one JSON object a row).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: standard output).",
)
@click.option(
    "--raw",
    is_flag=True,
    help="CSV: do not neutralise cells a spreadsheet would run as formulas (E.164 numbers are "
    "written as they are either way).",
)
def campaign_export(
    journal: Path | str, campaign: str | None, fmt: str, output: Path | None, raw: bool
) -> None:
    """One record per row of JOURNAL: row, to, state, message_id, error, attempts, receipt..."""
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(_output(output)) if output is not None else sys.stdout
        _loop.run(_export(journal, campaign, handle, fmt, raw))


async def _export(
    journal: Path | str, campaign: str | None, handle: IO[str], fmt: str, raw: bool
) -> None:
    async with opened(journal, campaign) as db:
        writer = csv.writer(handle) if fmt == "csv" else None
        if writer is not None:
            writer.writerow(_EXPORT_FIELDS)
        async for r in db.rows():
            record = {field: r[column] for field, column in _EXPORT_COLUMNS.items()}
            record["updated"] = _iso(r["updated"])
            if writer is not None:
                values = [record[f] for f in _EXPORT_FIELDS]
                writer.writerow(values if raw else [guard_cell(v) for v in values])
            else:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def print_receipts(
    out: Console, receipts: dict[str, int], failures: list[tuple[int | None, str, int]]
) -> None:
    """Delivered / failed / awaiting receipt, and the failure codes in words."""
    out.print(
        f"receipts: delivered {receipts['delivered']:,}, failed {receipts['failed']:,}, "
        f"awaiting receipt {receipts['awaiting']:,}"
    )
    if failures:
        out.print("delivery failures:")
        for code, words, count in failures:
            out.print(f"  {count:>7,}  {words or code or 'no error code'}")
