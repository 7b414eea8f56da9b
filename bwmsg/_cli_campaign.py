"""The ``bwmsg`` subcommands that send: ``campaign``, ``send``, ``segments`` and ``demo``.

Thin: options are parsed here and the work is done by :mod:`bwmsg.campaign` and the Sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import random
import resource
import shlex
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from yarl import URL

from . import _loop
from ._cli_inspect import campaign_export, campaign_status, print_dry_run, when
from ._errors import BwmsgError
from ._privacy import command_line
from ._retry import RetryPolicy
from ._segments import non_gsm_characters, segments
from ._sender import DEFAULT_BASE_URL, Sender
from ._throttle import RateLimit
from .campaign import (
    CampaignProgress,
    CampaignSummary,
    InputError,
    JournalBusy,
    JournalMismatch,
    PreflightError,
    Template,
    dry_run,
    preflight,
    run_campaign,
)
from .campaign._input import read_text_template
from .campaign._reconcile import MARGIN

__all__ = ["campaign", "demo", "segments_command", "send"]

EXIT_INTERRUPTED = 130
EXIT_BUSY = 75  # EX_TEMPFAIL: another process is running the journal; try again later


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


# -- credentials -------------------------------------------------------------------------------


def _credential_options(func: Any) -> Any:
    options = [
        click.option("--account-id", envvar="BW_ACCOUNT_ID", help="Account id [BW_ACCOUNT_ID]."),
        click.option("--username", default=None, help="API user [BW_USERNAME]."),
        click.option("--password", default=None, help="API password [BW_PASSWORD]."),
        click.option("--client-id", default=None, help="OAuth2 client id [BW_CLIENT_ID]."),
        click.option("--client-secret", default=None, help="OAuth2 secret [BW_CLIENT_SECRET]."),
        click.option(
            "--application-id", default=None, help="Application id [BW_MESSAGING_APPLICATION_ID]."
        ),
        click.option("--base-url", default=None, help="API root [BW_MESSAGING_BASE_URL]."),
        click.option("--token-url", default=None, help="OAuth2 token URL [BW_OAUTH_TOKEN_URL]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _sender(creds: dict[str, Any], **extra: Any) -> Sender:
    overrides = {k: v for k, v in creds.items() if v is not None}
    overrides.update({k: v for k, v in extra.items() if v is not None})
    try:
        return Sender.from_env(**overrides)
    except ValueError as exc:
        raise click.UsageError(f"{exc}") from None


def _pop_credentials(kwargs: dict[str, Any]) -> dict[str, Any]:
    names = (
        "account_id",
        "username",
        "password",
        "client_id",
        "client_secret",
        "application_id",
        "base_url",
        "token_url",
    )
    return {name: kwargs.pop(name) for name in names}


# -- progress ----------------------------------------------------------------------------------


class _Display:
    """A progress bar on a terminal, a plain line every few seconds otherwise, or nothing."""

    def __init__(self, quiet: bool, interval: float = 2.0) -> None:
        self.console = _console(stderr=True)
        self.quiet = quiet
        self.interval = interval
        self._last = 0.0
        self._finished = False
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> _Display:
        if not self.quiet and self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]sending"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("send", total=None, counts="", rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def __call__(self, p: CampaignProgress) -> None:
        counts = f"sent {p.sent:,}  failed {p.failed:,}  unknown {p.unknown:,}"
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                total=p.total,
                completed=p.done,
                counts=counts,
                rate=f"{p.rate:,.0f} msg/s",
            )
            return
        if self.quiet:
            return
        now = time.monotonic()
        if now - self._last < self.interval and (p.done < p.total or self._finished):
            return
        self._finished = p.done >= p.total
        self._last = now
        left = p.total - p.done
        eta = f"{left / p.rate:,.0f}s" if p.rate > 0 else "?"
        self.console.print(f"{p.done:,}/{p.total:,} rows  {counts}  {p.rate:,.0f} msg/s  ETA {eta}")


# -- campaign ----------------------------------------------------------------------------------


@click.group()
def campaign() -> None:
    """Send a recipient list with a durable journal; see its status; export it."""


def _template(
    text: str | None,
    text_file: Path | None,
    media: tuple[str, ...],
    tag: str | None,
    from_: str | None,
    application_id: str | None,
) -> Template:
    if text is not None and text_file is not None:
        raise click.UsageError("give --text or --text-file, not both")
    if text_file is not None:
        try:
            text = read_text_template(text_file)
        except InputError as exc:
            raise click.BadParameter(str(exc), param_hint="--text-file") from None
    if text is None and not media:
        raise click.UsageError("give the message: --text TEMPLATE, --text-file FILE or --media URL")
    try:
        return Template(text=text, media=media, tag=tag, from_=from_, application_id=application_id)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _positive_rate(ctx: click.Context, param: click.Parameter, value: float | None) -> Any:
    if value is not None and not value > 0:
        raise click.BadParameter(
            f"must be more than 0 segments per second, got {value:g} (leave --rate out for no "
            "client-side limit)"
        )
    return value


@campaign.command("run")
@click.argument("recipients", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite journal: created if missing, resumed if present.",
)
@click.option("--from", "from_", default=None, help="Sending number for rows without 'from'.")
@click.option("--text", default=None, help="Message template, e.g. 'Hi {name}'.")
@click.option(
    "--text-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the message template from a file (UTF-8; a BOM and one final newline dropped).",
)
@click.option("--media", multiple=True, help="Media URL (template); repeat for several.")
@click.option("--tag", default=None, help="Tag template (default: campaign and row, no PII).")
@click.option(
    "--rate",
    type=float,
    default=None,
    callback=_positive_rate,
    help="Client-side limit, segments per second (> 0).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Attempts per message, the first included.",
)
@click.option(
    "--retry-delay",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="First backoff in seconds (doubles per attempt, with jitter).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds one attempt may take before its message counts as unknown.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="On Ctrl-C/SIGTERM, seconds requests in flight may take to be answered.",
)
@click.option(
    "--max-consecutive-failures",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Stop after this many sends in a row failed (0: never); untried rows stay pending.",
)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Send rows whose outcome is unknown again (they may be texted twice).",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Send again rows that failed with a 4xx answer (once you fixed the cause).",
)
@click.option(
    "--dedupe", is_flag=True, help="Skip rows whose recipients an earlier row already has."
)
@click.option("--dry-run", is_flag=True, help="Send nothing; print what it would cost.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option(
    "--receipts",
    metavar="HOST:PORT",
    default=None,
    help="Listen for delivery callbacks here while sending (path /callbacks; Basic auth from "
    "BW_CALLBACK_USERNAME / BW_CALLBACK_PASSWORD).",
)
@_credential_options
def campaign_run(**kwargs: Any) -> None:
    """Send one message per row of RECIPIENTS (CSV with a header, or JSON Lines).

    Column `to` holds the number (several separated by ';' make a group message), column
    `from` optionally overrides --from, and every column fills `{column}` in the templates.
    Rerunning the same command on the same journal resumes without sending anything twice.

    Exit status: 0 when every row is final; 130 after Ctrl-C or SIGTERM; 75 when another
    process is running the journal; 1 when the run stopped on an error (refused credentials,
    a 404, too many failures in a row) or cannot start; 2 for a mistake in the command.
    """
    creds = _pop_credentials(kwargs)
    template = _template(
        kwargs["text"],
        kwargs["text_file"],
        tuple(kwargs["media"]),
        kwargs["tag"],
        kwargs["from_"],
        creds["application_id"],
    )
    recipients: Path = kwargs["recipients"]
    out = _console()
    _check_input(recipients, template)
    if kwargs["dry_run"]:
        _dry_run(out, recipients, template)
        return
    if kwargs["journal"] is None:
        raise click.UsageError("--journal PATH is required (it records every row's state)")
    _check_settings(creds, kwargs["concurrency"])
    try:
        rate = RateLimit(kwargs["rate"]) if kwargs["rate"] is not None else None
        retry = RetryPolicy(max_attempts=kwargs["max_attempts"], base_delay=kwargs["retry_delay"])
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sender = _sender(
        creds,
        concurrency=kwargs["concurrency"],
        rate=rate,
        retry=retry,
        timeout=kwargs["timeout"],
    )
    options = {
        name: kwargs[name]
        for name in (
            "resend_unknown",
            "retry_failed",
            "dedupe",
            "max_consecutive_failures",
            "grace",
        )
    }
    try:
        code = _loop.run(
            _run(
                sender,
                recipients,
                kwargs["journal"],
                template,
                options,
                kwargs["quiet"],
                out,
                kwargs["receipts"],
            )
        )
    except KeyboardInterrupt:  # before the run's own handlers were in place: nothing was sent
        _console(stderr=True).print("interrupted before anything was sent")
        code = EXIT_INTERRUPTED
    sys.exit(code)


def _dry_run(out: Console, recipients: Path, template: Template) -> None:
    try:
        report = dry_run(recipients, template)
    except InputError as exc:
        raise click.ClickException(str(exc)) from None
    print_dry_run(out, report)
    if not report.ok:
        sys.exit(1)


def _check_input(recipients: Path, template: Template) -> None:
    """Template columns and sending numbers against the input, before anything else."""
    try:
        preflight(recipients, template)
    except PreflightError as exc:
        raise click.UsageError(str(exc)) from None
    except InputError as exc:
        raise click.ClickException(str(exc)) from None


def _check_settings(creds: dict[str, Any], concurrency: int) -> None:
    """What would fail every send, checked before the journal is touched."""
    if not (creds["application_id"] or os.environ.get("BW_MESSAGING_APPLICATION_ID", "").strip()):
        raise click.UsageError(
            "no application id: give --application-id ID or set BW_MESSAGING_APPLICATION_ID "
            "(the id of your Bandwidth messaging application)"
        )
    base_url = creds["base_url"] or os.environ.get("BW_MESSAGING_BASE_URL", "").strip()
    if base_url:
        where = "--base-url" if creds["base_url"] else "BW_MESSAGING_BASE_URL"
        path = URL(base_url).path.rstrip("/")
        if not path.endswith("/v2"):
            raise click.UsageError(
                f"{where} {base_url} does not end in /api/v2: it must be the API root, such as "
                f"{DEFAULT_BASE_URL} (did you mean {base_url.rstrip('/')}/api/v2?)"
            )
    _raise_file_limit(concurrency)


def _raise_file_limit(concurrency: int) -> None:
    """Make room for ``concurrency`` connections (plus the journal, the listener ...)."""
    needed = concurrency + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise click.UsageError(
            f"--concurrency {concurrency} needs about {needed} open files, but this process "
            f"may open at most {hard} (ulimit -Hn): lower --concurrency to at most "
            f"{max(1, hard - 64)} or raise the limit"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


class _Signals:
    """Ctrl-C and SIGTERM: the first stops the run, the second ends the grace."""

    def __init__(self, stop: asyncio.Event, hurry: asyncio.Event, grace: float) -> None:
        self.stop = stop
        self.hurry = hurry
        self.grace = grace
        self.seen: list[int] = []

    def __call__(self, signum: int) -> None:
        self.seen.append(signum)
        err = _console(stderr=True)
        if not self.stop.is_set():
            err.print(
                f"\nstopping: no new rows; requests in flight get {self.grace:g}s to be "
                "answered (Ctrl-C again to stop waiting)"
            )
            self.stop.set()
        elif not self.hurry.is_set():
            err.print("\nnot waiting: requests still unanswered are recorded as unknown")
            self.hurry.set()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self, signum)

    def remove(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


async def _run(
    sender: Sender,
    recipients: Path,
    journal: Path,
    template: Template,
    options: dict[str, Any],
    quiet: bool,
    out: Console,
    receipts: str | None = None,
) -> int:
    stop, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = _Signals(stop, hurry, options["grace"])
    signals.install(loop)
    try:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(sender)
            if receipts:
                from ._cli_receipts import receipts_listener

                await stack.enter_async_context(
                    receipts_listener(
                        journal,
                        receipts,
                        username=os.environ.get("BW_CALLBACK_USERNAME") or None,
                        password=os.environ.get("BW_CALLBACK_PASSWORD") or None,
                    )
                )
            with _Display(quiet) as display:
                summary = await run_campaign(
                    sender,
                    recipients,
                    journal,
                    template,
                    stop=stop,
                    hurry=hurry,
                    progress=display,
                    **options,
                )
    except JournalBusy as exc:
        _console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
        return EXIT_BUSY
    except (JournalMismatch, InputError) as exc:
        _console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
        return 1
    except (OSError, sqlite3.Error) as exc:  # the journal's file or disk
        _console(stderr=True).print(
            f"[red]error:[/red] the journal {escape(str(journal))} cannot be used: "
            f"{escape(str(exc))}"
        )
        return 1
    finally:
        signals.remove(loop)
    return _report(out, summary, journal, interrupted=bool(signals.seen))


def _report(out: Console, summary: CampaignSummary, journal: Path, *, interrupted: bool) -> int:
    _print_summary(out, summary, journal)
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


def _print_summary(out: Console, s: CampaignSummary, journal: Path) -> None:
    table = Table(title=f"Campaign run ({journal})", show_header=True)
    table.add_column("")
    table.add_column("this run", justify="right")
    table.add_column("journal", justify="right")
    table.add_row("sent", f"{s.sent:,}", f"{s.states.get('sent', 0):,}")
    table.add_row("failed", f"{s.failed:,}", f"{s.states.get('failed', 0):,}")
    table.add_row("  of which invalid", f"{s.invalid:,}", "")
    table.add_row("unknown", f"{s.unknown:,}", f"{s.states.get('unknown', 0):,}")
    table.add_row("pending", "", f"{s.states.get('pending', 0):,}")
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
    if s.errors:
        out.print("Most frequent errors:")
        for error, count in s.errors[:5]:
            out.print(f"  {count:>7,}  {escape(error)}")
    if s.retryable_left:
        out.print(f"{s.retryable_left:,} failed rows are transient: rerun to try them again.")
    if s.states.get("unknown", 0):
        _print_unknown_advice(out, s.states["unknown"], s.unknown_since, journal)


def _print_unknown_advice(out: Console, unknown: int, since: float | None, journal: Path) -> None:
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


# -- one message, segments ---------------------------------------------------------------------


@click.command("send")
@click.option("--to", "to", multiple=True, required=True, help="Recipient; repeat for a group.")
@click.option("--from", "from_", required=True, help="Sending number or sender ID.")
@click.option("--text", default=None, help="Message text.")
@click.option("--media", multiple=True, help="Media URL; repeat for several.")
@click.option("--tag", default=None, help="Tag echoed in callbacks (no personal data).")
@_credential_options
def send(**kwargs: Any) -> None:
    """Send one message and print Bandwidth's answer as JSON."""
    from ._convert import converter
    from ._models import MessageRequest

    creds = _pop_credentials(kwargs)
    try:
        request = MessageRequest(
            to=kwargs["to"],
            from_=kwargs["from_"],
            text=kwargs["text"],
            media=kwargs["media"],
            tag=kwargs["tag"],
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sender = _sender(creds)

    async def go() -> Any:
        async with sender:
            return await sender.send(request)

    try:
        message = _loop.run(go())
    except BwmsgError as exc:
        raise click.ClickException(str(exc)) from None
    data = converter.unstructure(message)
    click.echo(json.dumps({k: v for k, v in data.items() if v not in (None, [], ())}, indent=2))


@click.command("segments")
@click.argument("text")
def segments_command(text: str) -> None:
    """How TEXT is encoded and split into SMS segments."""
    info = segments(text)
    click.echo(f"encoding:   {info.encoding}")
    click.echo(f"segments:   {info.segments}")
    click.echo(f"characters: {info.characters}")
    forcing = sorted(non_gsm_characters(text))
    if forcing:
        click.echo("forcing UCS-2: " + " ".join(repr(c) for c in forcing))


# -- demo --------------------------------------------------------------------------------------

_FIRST = ["Ann", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Gus", "Hana", "Iñigo", "Jo"]


def _demo_rows(n: int, rng: random.Random) -> Iterator[dict[str, str]]:
    for i in range(n):
        name = rng.choice(_FIRST)
        if i % 97 == 5:
            name += " 🎉"  # forces UCS-2 for this row
        number = f"+1919{i:07d}" if i % 500 != 499 else f"919-555-{i:04d}"  # a few invalid
        yield {"to": number, "name": name, "code": f"{rng.randrange(10**6):06d}"}


@click.command("demo")
@click.option("--rows", default=3000, show_default=True, help="Sample recipients to generate.")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the sample CSV and journal in this directory.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def demo(rows: int, keep: Path | None, quiet: bool) -> None:
    """Run a sample campaign against the built-in simulator: no account needed."""
    from .simulator import Faults, Simulator

    out = _console()
    with contextlib.ExitStack() as stack:
        where = keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bwmsg-")))
        where.mkdir(parents=True, exist_ok=True)
        recipients = where / "recipients.csv"
        journal = where / "demo.db"
        if journal.exists():
            journal.unlink()
        with recipients.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["to", "name", "code"])
            writer.writeheader()
            writer.writerows(_demo_rows(rows, random.Random(1)))
        template = Template(text="Hi {name}, your code is {code}", from_="+19195550000")
        faults = Faults(
            rate_limited=0.05,
            server_error=0.02,
            drop_after_accept=0.002,
            latency=0.005,
            latency_distribution="exponential",
        )
        out.print(
            f"[bold]bwmsg demo[/bold]: {rows:,} recipients ({recipients}), a local Bandwidth "
            "simulator with faults (5 % 429, 2 % 5xx, 0.2 % connections dropped after "
            "accepting), retries with backoff."
        )

        async def go() -> CampaignSummary:
            async with Simulator(faults=faults, seed=1) as sim:
                sender = Sender(
                    "9900000",
                    sim.username,
                    sim.password,
                    application_id="demo-app",
                    base_url=sim.base_url,
                    concurrency=50,
                    retry=RetryPolicy(base_delay=0.05, max_delay=1.0),
                )
                async with sender:
                    with _Display(quiet) as display:
                        summary = await run_campaign(
                            sender, recipients, journal, template, progress=display
                        )
                out.print(f"The simulator accepted {len(sim.accepted):,} messages.")
                return summary

        summary = _loop.run(go())
        _print_summary(out, summary, journal)
        if keep:
            out.print(
                f"Look closer: bwmsg campaign status {journal}; "
                f"bwmsg campaign export {journal} -o results.csv"
            )


campaign.add_command(campaign_status)
campaign.add_command(campaign_export)

# `campaign receipts` and `campaign reconcile` live in their own module and register
# themselves on the `campaign` group when imported.
from . import _cli_receipts  # noqa: E402, F401
