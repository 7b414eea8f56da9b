"""``bwmsg campaign status`` and ``campaign export``, and the dry run's report: reading a journal.

Thin: the numbers come from :mod:`bwmsg.campaign`. The commands are added to the ``campaign``
group by :mod:`bwmsg._cli_campaign`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
import time
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.table import Table

from .campaign import Journal

__all__ = ["campaign_export", "campaign_status", "print_dry_run", "print_receipts"]

# Cells a spreadsheet would read as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _console() -> Console:
    return Console(highlight=False)


def print_dry_run(out: Console, report: Any) -> None:
    table = Table(title="Dry run: nothing was sent")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("rows", f"{report.rows:,}")
    table.add_row("messages", f"{report.messages:,}")
    table.add_row("invalid rows", f"{report.invalid_count:,}")
    for encoding, count in sorted(report.segments.items()):
        table.add_row(f"segments {encoding}", f"{count:,}")
    table.add_row("segments in all", f"{report.total_segments:,}")
    table.add_row("rows forced to UCS-2", f"{report.ucs2_rows:,}")
    out.print(table)
    if report.ucs2_characters:
        shown = ", ".join(f"{ch!r} ({n:,} rows)" for ch, n in report.ucs2_characters[:15])
        out.print(f"Characters that force UCS-2: {shown}")
    for row, reason in report.invalid[:20]:
        out.print(f"  row {row}: {reason}")


@click.command("status")
@click.argument("journal", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def campaign_status(journal: Path) -> None:
    """Counts by state, segments, errors, start, end and rate of a campaign's JOURNAL."""
    out = _console()
    with Journal(journal) as db:
        meta = db.meta()
        counts = db.counts()
        segs = db.query("SELECT COALESCE(SUM(segments), 0) FROM rows WHERE state = 'sent'")[0][0]
        errors = db.query(
            "SELECT state, COALESCE(status, ''), error, COUNT(*) FROM rows "
            "WHERE state IN ('failed', 'unknown') GROUP BY state, status, error "
            "ORDER BY COUNT(*) DESC LIMIT 10"
        )
        retryable = db.query("SELECT COUNT(*) FROM rows WHERE state = 'failed' AND retryable = 1")[
            0
        ][0]
        runs = db.runs()
    table = Table(title=f"Campaign {meta.get('campaign', '?')} ({journal})")
    table.add_column("state")
    table.add_column("rows", justify="right")
    for state, count in counts.items():
        table.add_row(state, f"{count:,}")
    table.add_row("in all", f"{sum(counts.values()):,}")
    out.print(table)
    out.print(f"input: {meta.get('input', '?')}")
    out.print(f"segments sent: {segs:,}")
    if retryable:
        out.print(f"failed rows a rerun would try again: {retryable:,}")
    if runs:
        first, last = runs[0][0], runs[-1][1] or runs[-1][0]
        busy = sum((end or start) - start for start, end, _ in runs)
        rate = counts.get("sent", 0) / busy if busy > 0 else 0.0
        out.print(
            f"runs: {len(runs)}; first started {_when(first)}; last ended {_when(last)} "
            f"({runs[-1][2] or 'running or killed'}); {rate:,.0f} sent/s while running"
        )
    if errors:
        out.print("errors:")
        for state, status, error, count in errors:
            first_line = (error or "").splitlines()[0] if error else ""
            out.print(f"  {count:>7,}  {state:<8} {status!s:>4}  {first_line}")
    with Journal(journal) as db:
        print_receipts(out, db)


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def _guard(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@click.command("export")
@click.argument("journal", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: standard output).",
)
@click.option(
    "--raw", is_flag=True, help="CSV: do not neutralise cells a spreadsheet would run as formulas."
)
def campaign_export(journal: Path, fmt: str, output: Path | None, raw: bool) -> None:
    """One record per row of JOURNAL: row, to, state, message_id, error, attempts, receipt..."""
    fields = [
        "row",
        "to",
        "from",
        "state",
        "message_id",
        "error",
        "status",
        "attempts",
        "segments",
        "encoding",
        "updated",
        "receipt",
        "receipt_code",
        "receipt_description",
    ]
    with contextlib.ExitStack() as stack:
        handle: IO[str] = (
            stack.enter_context(output.open("w", encoding="utf-8", newline=""))
            if output is not None
            else sys.stdout
        )
        db = stack.enter_context(Journal(journal))
        writer = csv.writer(handle) if fmt == "csv" else None
        if writer is not None:
            writer.writerow(fields)
        for r in db.rows():
            record = {
                "row": r["row"],
                "to": r["recipients"],
                "from": r["sender"],
                "state": r["state"],
                "message_id": r["message_id"],
                "error": r["error"],
                "status": r["status"],
                "attempts": r["attempts"],
                "segments": r["segments"],
                "encoding": r["encoding"],
                "updated": _iso(r["updated"]),
                "receipt": r["receipt"],
                "receipt_code": r["receipt_code"],
                "receipt_description": r["receipt_description"],
            }
            if writer is not None:
                values = [record[f] for f in fields]
                writer.writerow(values if raw else [_guard(v) for v in values])
            else:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def print_receipts(out: Console, db: Journal) -> None:
    """Delivered / failed / awaiting receipt, and the failure codes in words."""
    receipts = db.receipt_counts()
    out.print(
        f"receipts: delivered {receipts['delivered']:,}, failed {receipts['failed']:,}, "
        f"awaiting receipt {receipts['awaiting']:,}"
    )
    failures = db.receipt_failures()
    if failures:
        out.print("delivery failures:")
        for code, words, count in failures:
            out.print(f"  {count:>7,}  {words or code or 'no error code'}")
