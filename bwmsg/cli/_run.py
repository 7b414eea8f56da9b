"""``bwmsg campaign run``: the command, its signals and the run (``campaign worker``'s too);
the shared options are :mod:`._options`, the checks before anything is sent :mod:`._checks`.

Thin: the work is done by :mod:`bwmsg.campaign` and the Sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from .. import _loop
from .._sender import Sender
from ..campaign import (
    CampaignJournal,
    InputError,
    JournalBusy,
    JournalMismatch,
    JournalUrlError,
    Template,
    UnknownCampaign,
    dry_run,
    open_journal,
    run_campaign,
    run_worker,
)
from ..campaign._input import read_text_template
from ..campaign._listener import Settling
from ..campaign._media_files import LocalMedia
from ..campaign._quiet import QuietHours
from ..campaign._urls import is_database_url, redacted
from ._checks import check_input, check_settings, media_files, upload
from ._common import (
    EXIT_BUSY,
    EXIT_INTERRUPTED,
    EXIT_JOURNAL,
    JournalArg,
    console,
    credential_options,
    hide_url_passwords,
    journal_problem,
    listen_address,
    listen_problem,
    open_store,
    pop_credentials,
    shown,
    start_listener,
)
from ._inspect import print_dry_run
from ._options import (
    RUN_OPTIONS,
    country,
    quiet_hours,
    sending_options,
    sending_sender,
    start_at,
)
from ._progress import Display
from ._summary import report

__all__ = ["campaign_run", "run_guarded", "run_journal"]


def _template(kwargs: dict[str, Any], application_id: str | None) -> Template:
    text, text_file, media = kwargs["text"], kwargs["text_file"], tuple(kwargs["media"])
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
        return Template(
            text=text,
            media=media,
            tag=kwargs["tag"],
            from_=kwargs["from_"],
            application_id=application_id,
            default_country=kwargs["default_country"],
            smart_encoding=kwargs["smart_encoding"],
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@click.command("run")
@click.argument("recipients", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--journal",
    type=JournalArg(),
    help="SQLite journal (created if missing, resumed if present), or a PostgreSQL URL "
    "postgresql://user:pass@host:port/db that campaign worker processes join. Required, but "
    "for --dry-run.",
)
@click.option("--from", "from_", default=None, help="Sending number for rows without 'from'.")
@click.option("--text", default=None, help="Message template, e.g. 'Hi {name}'.")
@click.option(
    "--text-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the message template from a file (UTF-8; a BOM and one final newline dropped).",
)
@click.option(
    "--media",
    multiple=True,
    help="Media URL (template), or a local file to upload once for the run (at most 3.5 MB; "
    "its content type from its extension); repeat for several.",
)
@click.option("--tag", default=None, help="Tag template (default: campaign and row, no PII).")
@sending_options
@click.option(
    "--dedupe", is_flag=True, help="Skip rows whose recipients an earlier row already has."
)
@click.option(
    "--default-country",
    envvar="BWMSG_DEFAULT_COUNTRY",
    metavar="CC",
    callback=country,
    help="Read numbers without a leading + as this country's (US, CA, GB...) and send them "
    "in E.164 [BWMSG_DEFAULT_COUNTRY; needs bwmsg[phone]].",
)
@click.option(
    "--smart-encoding",
    is_flag=True,
    help="Replace typographic quotes, dashes and ellipses by GSM-7 look-alikes, so that a "
    "pasted text is not sent as UCS-2 (70 characters a segment instead of 160).",
)
@click.option(
    "--quiet-hours",
    default=None,
    metavar="HH:MM-HH:MM|tcpa",
    callback=quiet_hours,
    help="Send nothing to a recipient between these times where the recipient is (time zone "
    "from the number; tcpa: 21:00-08:00, 20:00 for Florida and Oklahoma numbers). Held rows "
    "stay pending and go when allowed [needs bwmsg[phone]].",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="With --quiet-hours: exit 0 when only held rows are left, saying when to rerun, "
    "instead of waiting for their window.",
)
@click.option(
    "--start-at",
    default=None,
    metavar="DATETIME",
    callback=start_at,
    help="Send nothing before this time: ISO 8601 with a UTC offset, e.g. "
    "2026-12-02T09:00:00-05:00.",
)
@click.option("--dry-run", is_flag=True, help="Send nothing; print what it would cost.")
@click.option(
    "--receipts",
    metavar="HOST:PORT",
    default=None,
    callback=listen_address,
    help="Listen for delivery callbacks here while sending (path /callbacks; Basic auth from "
    "BW_CALLBACK_USERNAME / BW_CALLBACK_PASSWORD).",
)
@shown(
    "--receipts-wait",
    click.FloatRange(min=0),
    60.0,
    "With --receipts: after the last send, keep listening this many seconds at most for "
    "the receipts still to come (Ctrl-C stops waiting).",
)
@credential_options
def campaign_run(**kwargs: Any) -> None:
    """Send one message per row of RECIPIENTS (CSV with a header, or JSON Lines).

    Column `to` holds the number (several separated by ';' make a group message), column
    `from` optionally overrides --from, and every column fills `{column}` in the templates.
    Rerunning the same command on the same journal resumes without sending anything twice.

    \b
    Examples:
      bwmsg campaign run list.csv --from +19195550000 --text 'Hi {name}' --dry-run
      bwmsg campaign run list.csv --journal run.db --from +19195550000 \\
          --text-file message.txt --rate 10
      bwmsg campaign status run.db
      bwmsg campaign reconcile run.db      # after a crash left rows unknown

    Exit status: 0 when every row is final; 130 after Ctrl-C or SIGTERM; 75 when another
    process is running the journal; 3 when the journal cannot be opened or written; 1 when
    the run stopped on an error (refused credentials, a 404, too many failures in a row) or
    cannot start; 2 for a mistake in the command.
    """
    creds = pop_credentials(kwargs)
    uploads = media_files(kwargs, creds)
    template = _template(kwargs, creds["application_id"])
    recipients: Path = kwargs["recipients"]
    out = console()
    check_input(recipients, template)
    if kwargs["dry_run"]:
        _dry_run(out, recipients, template, kwargs["quiet_hours"], kwargs["start_at"])
        return
    if kwargs["journal"] is None:
        raise click.UsageError("--journal PATH is required (it records every row's state)")
    check_settings(creds, kwargs["concurrency"])
    sender = sending_sender(creds, kwargs)
    if kwargs["quiet_hours"] is not None and is_database_url(str(kwargs["journal"])):
        raise click.UsageError(
            "--quiet-hours works with a SQLite journal only, for now: give --journal a file, "
            "or start the PostgreSQL workers when sending is allowed"
        )
    options = {name: kwargs[name] for name in RUN_OPTIONS}
    options.update(
        dedupe=kwargs["dedupe"],
        quiet_hours=kwargs["quiet_hours"],
        start_at=kwargs["start_at"],
        wait=not kwargs["no_wait"],
    )
    hide_url_passwords(sys.argv)
    go = run_journal(
        sender,
        kwargs["journal"],
        options,
        kwargs["quiet"],
        out,
        (kwargs["receipts"], kwargs["receipts_wait"]) if kwargs["receipts"] else None,
        recipients=recipients,
        template=template,
        uploads=uploads,
        metrics=kwargs["metrics"],
    )
    sys.exit(run_guarded(go))


def run_guarded(go: Coroutine[Any, Any, int]) -> int:
    """Run the command's coroutine; an interrupt before its handlers were in place sent
    nothing."""
    try:
        return _loop.run(go)
    except KeyboardInterrupt:
        console(stderr=True).print("interrupted before anything was sent")
        return EXIT_INTERRUPTED


def _dry_run(
    out: Console,
    recipients: Path,
    template: Template,
    quiet: QuietHours | None,
    start_at: datetime | None,
) -> None:
    try:
        report = dry_run(recipients, template, quiet=quiet, now=start_at)
    except InputError as exc:
        raise click.ClickException(str(exc)) from None
    print_dry_run(out, report)
    if not report.ok:
        sys.exit(1)


class _Signals:
    """Ctrl-C and SIGTERM: the first stops the run, the second ends the grace."""

    def __init__(self, stop: asyncio.Event, hurry: asyncio.Event, grace: float) -> None:
        self.stop = stop
        self.hurry = hurry
        self.grace = grace
        self.seen: list[int] = []

    def __call__(self, signum: int) -> None:
        self.seen.append(signum)
        err = console(stderr=True)
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


def _announce(out: Console, quiet: bool) -> Callable[[CampaignJournal], None]:
    def bound(db: CampaignJournal) -> None:
        if db.shared:
            out.print(
                f"campaign {db.campaign_id} in {db.where}: more workers join with bwmsg campaign "
                f"worker --journal URL --campaign {db.campaign_id}",
                soft_wrap=True,
            )

    return bound


async def run_journal(
    sender: Sender,
    journal: Path | str,
    options: dict[str, Any],
    quiet: bool,
    out: Console,
    receipts: tuple[tuple[str, int], float] | None = None,
    *,
    recipients: Path | None = None,
    template: Template | None = None,
    campaign: str | None = None,
    uploads: Sequence[LocalMedia] = (),
    metrics: tuple[str, int] | None = None,
) -> int:
    """``campaign run`` (``recipients`` and ``template`` given) or ``campaign worker``;
    ``metrics``: where to serve ``/metrics`` while it runs."""
    stop, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = _Signals(stop, hurry, options["grace"])
    signals.install(loop)
    where = redacted(journal)
    try:
        async with contextlib.AsyncExitStack() as stack:
            # One store for the run and its listener, opened before anything is sent.
            store = await open_store(stack, "--opt-outs", options.get("opt_outs"))
            options = {**options, "opt_outs": store}
            if metrics is not None:
                await _serve_metrics(stack, sender, metrics, out)
            await stack.enter_async_context(sender)
            await upload(sender, uploads, out)
            settling = Settling()
            if receipts:
                await start_listener(
                    stack,
                    "--receipts",
                    journal,
                    receipts[0],
                    username=os.environ.get("BW_CALLBACK_USERNAME") or None,
                    password=os.environ.get("BW_CALLBACK_PASSWORD") or None,
                    on_event=settling,
                    campaign=campaign,
                    opt_outs=store,
                )
            common = {
                "stop": stop,
                "hurry": hurry,
                "on_bound": _announce(out, quiet),
                "notice": lambda text: out.print(escape(text), soft_wrap=True),
                **options,
            }
            with Display(quiet) as display:
                if recipients is not None and template is not None:
                    summary = await run_campaign(
                        sender, recipients, journal, template, progress=display, **common
                    )
                else:
                    summary = await run_worker(
                        sender, str(journal), campaign=campaign, progress=display, **common
                    )
            interrupted = bool(signals.seen)
            if receipts and summary.sent and not interrupted:
                await _await_receipts(settling, journal, receipts[1], stop, out)
    except JournalBusy as exc:
        console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        return EXIT_BUSY
    except (JournalMismatch, InputError, UnknownCampaign) as exc:
        console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        return 1
    except JournalUrlError as exc:
        console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        return EXIT_JOURNAL
    except (OSError, sqlite3.Error) as exc:  # the journal's file or disk
        assert isinstance(journal, Path)
        problem = journal_problem(journal, exc).message
        console(stderr=True).print(f"[red]error:[/red] {escape(problem)}", soft_wrap=True)
        return EXIT_JOURNAL
    finally:
        signals.remove(loop)
    # print_summary only puts the journal in text: a URL is shown without its password.
    return report(out, summary, where, interrupted=interrupted)


async def _serve_metrics(
    stack: contextlib.AsyncExitStack, sender: Sender, address: tuple[str, int], out: Console
) -> None:
    """``--metrics``: the Sender's metrics and its campaign's, on a registry of their own,
    served at ``address`` while ``stack`` is open; an address it cannot listen on is a usage
    error naming ``--metrics``, before anything is sent."""
    from prometheus_client import CollectorRegistry

    from ..metrics import register, serving

    registry = CollectorRegistry()
    register(sender, registry=registry)
    try:
        port = await stack.enter_async_context(serving(*address, registry=registry))
    except OSError as exc:
        raise listen_problem("--metrics", *address, exc) from None
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    out.print(f"metrics: http://{host}:{port}/metrics", soft_wrap=True)


async def _await_receipts(
    settling: Settling, journal: Path | str, wait: float, stop: asyncio.Event, out: Console
) -> None:
    """Keep the listener open until every sent row has its receipt, ``wait`` seconds have
    passed, or a Ctrl-C (``stop``)."""
    async with open_journal(journal) as db:
        left = await settling.arm(db)
    if not left or not wait:
        return
    out.print(f"waiting up to {wait:g}s for {left:,} receipts (Ctrl-C to stop waiting)")
    waits = [asyncio.ensure_future(e.wait()) for e in (settling.settled, stop)]
    try:
        await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in waits:
            future.cancel()
    async with open_journal(journal) as db:
        counts = await db.receipt_counts()
    out.print(
        f"receipts: {counts['delivered']:,} delivered, {counts['failed']:,} failed, "
        f"{counts['awaiting']:,} still awaited (bwmsg campaign receipts keeps listening)"
    )
