"""``bwmsg simulator``: the local Bandwidth look-alike, served until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib

import click

from .. import _loop
from ..simulator import Callbacks, Faults, Simulator
from ._common import listen_problem

__all__ = ["simulator"]


def _faults(ctx: click.Context, param: click.Parameter, value: str) -> Faults:
    try:
        return Faults.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
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
    "retry_after=1'. Names: those of bwmsg.simulator.Faults.",
)
@click.option("--seed", default=None, type=int, help="Seed for reproducible faults.")
@click.option("--rate", default=None, type=float, help="Account limit in segments per second.")
@click.option("--queue-size", default=None, type=float, help="Segments the account queue holds.")
@click.option("--callback-url", default=None, help="Post delivery callbacks to this URL.")
@click.option("--callback-failed", default=0.0, show_default=True, help="Odds of message-failed.")
def simulator(
    host: str,
    port: int,
    username: str,
    password: str,
    client_id: str,
    client_secret: str,
    token_lifetime: float,
    faults: Faults,
    seed: int | None,
    rate: float | None,
    queue_size: float | None,
    callback_url: str | None,
    callback_failed: float,
) -> None:
    """Run a local Bandwidth simulator until Ctrl-C.

    It prints the base URL, the OAuth2 token URL and the credentials it accepts (Basic, or
    OAuth2 client credentials); any account id works.
    """
    try:
        callbacks = Callbacks(url=callback_url, failed=callback_failed) if callback_url else None
        sim = Simulator(
            username=username,
            password=password,
            faults=faults,
            seed=seed,
            host=host,
            port=port,
            rate=rate,
            queue_size=queue_size,
            callbacks=callbacks,
            client_id=client_id,
            client_secret=client_secret,
            token_lifetime=token_lifetime,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
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
