"""``bwmsg simulator``: the local Bandwidth look-alike, served until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from typing import Any

import click

from .. import _loop
from ..simulator import Callbacks, Faults, Simulator
from ._common import as_flags, listen_problem, shown

__all__ = ["simulator"]


def _fault_help() -> str:
    """Every fault ``--faults`` takes, with its meaning, read from :class:`Faults`' own
    documentation so that the two cannot drift apart."""
    doc = (Faults.__doc__ or "").split("Args:", 1)[-1]
    entries: list[list[str]] = []
    for line in doc.splitlines():
        text = line.strip()
        if not text:
            continue
        name, sep, rest = text.partition(": ")
        if sep and name.isidentifier() and len(line) - len(line.lstrip()) <= 8:
            entries.append([name, rest])
        elif entries:
            entries[-1][1] += " " + text
    lines = []
    for name, rest in entries:
        text = " ".join(rest.replace("``", "").split())
        lines += textwrap.wrap(
            text, 78, initial_indent=f"  {name:<22} ", subsequent_indent=" " * 25
        )
    return "\b\nFaults (--faults NAME=VALUE,...):\n" + "\n".join(lines)


_SIMULATOR_OPTIONS = (
    "username",
    "password",
    "faults",
    "seed",
    "host",
    "port",
    "rate",
    "queue_size",
    "client_id",
    "client_secret",
    "token_lifetime",
)


def _callbacks(options: dict[str, Any]) -> Callbacks | None:
    """Where the simulator posts delivery callbacks, and how, from the callback options."""
    if options["callback_url"] is None:
        if options["callback_username"] or options["callback_password"]:
            raise click.UsageError("--callback-username/--callback-password need --callback-url")
        return None
    if (options["callback_username"] is None) != (options["callback_password"] is None):
        raise click.UsageError("give both --callback-username and --callback-password, or neither")
    return Callbacks(
        url=options["callback_url"],
        failed=options["callback_failed"],
        username=options["callback_username"],
        password=options["callback_password"],
        retry_for=options["callback_retry_for"],
    )


def _faults(ctx: click.Context, param: click.Parameter, value: str) -> Faults:
    try:
        return Faults.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(epilog=_fault_help())
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="Port to listen on (0: any free).")
@click.option("--username", default="user", show_default=True, help="Basic auth user it accepts.")
@click.option("--password", default="pass", show_default=True, help="Basic auth password.")
@click.option("--client-id", default="client", show_default=True, help="OAuth2 client id.")
@click.option("--client-secret", default="secret", show_default=True, help="OAuth2 secret.")
@click.option(
    "--token-lifetime", default=3600.0, show_default=True, help="OAuth2 token lifetime (s)."
)
@click.option(
    "--faults",
    default="",
    callback=_faults,
    metavar="NAME=VALUE,...",
    help="Faults to inject, e.g. 'rate_limited=0.1,server_error=0.05,latency=0.02,"
    "retry_after=1'; every name is listed below.",
)
@click.option("--seed", default=None, type=int, help="Seed for reproducible faults.")
@click.option("--rate", default=None, type=float, help="Account limit in segments per second.")
@click.option("--queue-size", default=None, type=float, help="Segments the account queue holds.")
@click.option("--callback-url", default=None, help="Post delivery callbacks to this URL.")
@click.option("--callback-failed", default=0.0, show_default=True, help="Odds of message-failed.")
@click.option(
    "--callback-username",
    default=None,
    help="Basic auth user the callbacks carry (with --callback-password), as a receiver "
    "started with BW_CALLBACK_USERNAME expects.",
)
@click.option("--callback-password", default=None, help="Basic auth password the callbacks carry.")
@shown(
    "--callback-retry-for",
    click.FloatRange(min=0),
    60.0,
    "Seconds a refused callback is retried (Bandwidth: 24 hours), backing off to 2 s.",
)
def simulator(**options: Any) -> None:
    """Run a local Bandwidth simulator until Ctrl-C.

    It prints the base URL, the OAuth2 token URL and the credentials it accepts (Basic, or
    OAuth2 client credentials); any account id works.
    """
    host, port = options["host"], options["port"]
    try:
        sim = Simulator(
            **{name: options[name] for name in _SIMULATOR_OPTIONS},
            callbacks=_callbacks(options),
        )
    except ValueError as exc:
        raise click.UsageError(as_flags(str(exc))) from None
    try:
        with contextlib.suppress(KeyboardInterrupt):
            _loop.run(_serve(sim))
    except OSError as exc:  # the address is in use or not this machine's
        raise listen_problem("--host/--port", host, port, exc) from None


async def _serve(sim: Simulator) -> None:
    async with sim:
        click.echo(f"Bandwidth simulator listening on {sim.base_url}")
        click.echo(f"  legacy path:  {sim.legacy_base_url}")
        click.echo(f"  credentials:  username={sim.username} password={sim.password}")
        click.echo(f"  token URL:    {sim.token_url}")
        click.echo(
            f"  OAuth2:       client_id={sim.client_id} client_secret={sim.client_secret} "
            f"(tokens live {sim.token_lifetime:g}s)"
        )
        click.echo(f"  faults:       {sim.faults}")
        click.echo("  any account id works; press Ctrl-C to stop")
        await asyncio.Event().wait()
