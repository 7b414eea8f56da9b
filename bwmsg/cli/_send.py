"""``bwmsg send`` (one message) and ``bwmsg segments`` (how a text is split)."""

from __future__ import annotations

import json
from typing import Any

import click

from .. import _loop
from .._errors import BwmsgError
from .._segments import non_gsm_characters, segments
from ._common import credential_options, pop_credentials, sender_from

__all__ = ["segments_command", "send"]


@click.command("send")
@click.option("--to", "to", multiple=True, required=True, help="Recipient; repeat for a group.")
@click.option("--from", "from_", required=True, help="Sending number or sender ID.")
@click.option("--text", default=None, help="Message text.")
@click.option("--media", multiple=True, help="Media URL; repeat for several.")
@click.option("--tag", default=None, help="Tag echoed in callbacks (no personal data).")
@credential_options
def send(**kwargs: Any) -> None:
    """Send one message and print Bandwidth's answer as JSON."""
    from .._convert import converter
    from .._models import MessageRequest

    creds = pop_credentials(kwargs)
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
    sender = sender_from(creds)

    async def go() -> Any:
        async with sender:
            return await sender.send(request)

    try:
        message = _loop.run(go())
    except BwmsgError as exc:
        raise click.ClickException(str(exc)) from None
    data = converter.unstructure(message)
    shown = {k: v for k, v in data.items() if v not in (None, [], ())}
    click.echo(json.dumps(shown, indent=2, ensure_ascii=False))


@click.command("segments")
@click.argument("text")
def segments_command(text: str) -> None:
    """How TEXT is encoded and split into SMS segments."""
    info = segments(text)
    click.echo(f"encoding:   {info.encoding}")
    click.echo(f"segments:   {info.segments}")
    unit = "septets" if info.encoding == "GSM-7" else "UTF-16 units"
    click.echo(f"length:     {info.characters} {unit}")
    forcing = sorted(non_gsm_characters(text))
    if forcing:
        click.echo("forcing UCS-2: " + " ".join(repr(c) for c in forcing))
