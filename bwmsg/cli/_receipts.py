"""``bwmsg campaign receipts`` and ``bwmsg campaign reconcile``.

Thin: the work is in :mod:`bwmsg.callbacks` and :mod:`bwmsg.campaign`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import _loop
from .._errors import BwmsgError
from ..campaign import JournalBusy, JournalUrlError, UnknownCampaign, reconcile
from ..campaign._listener import Settling, arm_when_sent
from ..campaign._reconcile import MARGIN
from ._common import (
    EXIT_BUSY,
    JournalArg,
    campaign_option,
    console,
    credential_options,
    listen_address,
    open_store,
    opened,
    pop_credentials,
    sender_from,
    start_listener,
)
from ._inspect import print_receipts

__all__ = ["campaign_receipts", "campaign_reconcile"]


def _receiver_options(prefix: str) -> Callable[[Any], Any]:
    def wrap(func: Any) -> Any:
        func = click.option(
            f"--{prefix}password",
            "callback_password",
            envvar="BW_CALLBACK_PASSWORD",
            default=None,
            help="Basic auth password callbacks must carry [BW_CALLBACK_PASSWORD].",
        )(func)
        func = click.option(
            f"--{prefix}username",
            "callback_username",
            envvar="BW_CALLBACK_USERNAME",
            default=None,
            help="Basic auth user callbacks must carry [BW_CALLBACK_USERNAME].",
        )(func)
        return click.option(
            "--path",
            "callback_path",
            default="/callbacks",
            show_default=True,
            help="The callback URL's path.",
        )(func)

    return wrap


@click.command("receipts")
@click.argument("journal", type=JournalArg())
@campaign_option
@click.option(
    "--listen",
    required=True,
    metavar="HOST:PORT",
    callback=listen_address,
    help="Address to listen on.",
)
@_receiver_options("")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
@click.option("--until-settled", is_flag=True, help="Stop once no sent row awaits a receipt.")
@click.option(
    "--opt-outs",
    envvar="BWMSG_OPT_OUTS",
    default=None,
    metavar="PATH|URL",
    help="Record inbound STOP (STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPT OUT) as an "
    "opt-out of its sender in this store, START/UNSTOP as taking it back [BWMSG_OPT_OUTS].",
)
def campaign_receipts(
    journal: Path | str,
    campaign: str | None,
    listen: tuple[str, int],
    callback_path: str,
    callback_username: str | None,
    callback_password: str | None,
    duration: float | None,
    until_settled: bool,
    opt_outs: str | None,
) -> None:
    """Listen for Bandwidth's callbacks and record delivery receipts in JOURNAL.

    Point the messaging application's callback URL at http://HOST:PORT/callbacks. Runs until
    Ctrl-C, --duration, or (--until-settled) until the run has ended and every sent row has its
    receipt. It may start before `campaign run` makes JOURNAL: it creates nothing, and waits.
    """
    if (callback_username is None) != (callback_password is None):
        raise click.UsageError("give both --username and --password, or neither")
    out = console()

    async def go() -> None:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, done.set)
        settling = Settling()

        async with contextlib.AsyncExitStack() as stack:
            store = await open_store(stack, "--opt-outs", opt_outs)
            server = await start_listener(
                stack,
                "--listen",
                journal,
                listen,
                path=callback_path,
                username=callback_username,
                password=callback_password,
                on_event=settling,
                campaign=campaign,
                opt_outs=store,
            )
            out.print(f"listening for callbacks on {server.url}", highlight=False)
            if isinstance(journal, Path) and not journal.exists():  # noqa: ASYNC240
                out.print(f"{journal} does not exist yet: waiting for campaign run to make it")
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(done.wait())]
            if until_settled:
                waits.append(
                    asyncio.ensure_future(arm_when_sent(settling, journal, campaign=campaign))
                )
                waits.append(asyncio.ensure_future(settling.settled.wait()))
            try:
                # Until a stop, or settled (arming alone ends nothing).
                await asyncio.wait(
                    [waits[0], waits[-1]], timeout=duration, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for wait in waits:
                    wait.cancel()
            received = server.receiver.received
        out.print(f"{received:,} events received")
        if not isinstance(journal, Path) or journal.exists():  # noqa: ASYNC240
            async with opened(journal, campaign) as db:
                print_receipts(out, await db.receipt_counts(), await db.receipt_failures())

    _loop.run(go())


@click.command("reconcile")
@click.argument("journal", type=JournalArg(exists=True))
@campaign_option
@click.option(
    "--margin",
    type=float,
    default=MARGIN,
    show_default=True,
    help="Seconds searched before and after each row's send.",
)
@credential_options
def campaign_reconcile(
    journal: Path | str, campaign: str | None, margin: float, **kwargs: Any
) -> None:
    """Look up every `unknown` row of JOURNAL at Bandwidth and settle it.

    Found: `sent` with its message id. Not found once its search window has closed: safe to
    resend (`failed`, retried by the next run). Not found yet: left `unknown`.
    """
    creds = pop_credentials(kwargs)
    sender = sender_from(creds)
    out = console()

    async def go() -> Any:
        async with sender:
            return await reconcile(sender, journal, campaign=campaign, margin=margin)

    try:
        summary = _loop.run(go())
    except JournalBusy as exc:  # before BwmsgError: it is one
        console(stderr=True).print(f"error: {exc}")
        sys.exit(EXIT_BUSY)
    except UnknownCampaign as exc:
        raise click.UsageError(str(exc)) from None
    except JournalUrlError as exc:
        raise click.ClickException(str(exc)) from None
    except BwmsgError as exc:
        raise click.ClickException(f"looking messages up failed: {exc}") from None
    out.print(
        f"unknown rows checked: {summary.checked:,}; found (now sent): {summary.found:,}; "
        f"safe to resend: {summary.safe_to_resend:,}; window still open: {summary.waiting:,}; "
        f"too old to look up: {summary.too_old:,}"
    )
    if summary.safe_to_resend:
        out.print("Rerun the campaign to send the rows that are safe to resend.")
