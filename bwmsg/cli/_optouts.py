"""``bwmsg opt-outs add | remove | list | import``: the numbers campaigns never text.

Thin: the store and its rules are :mod:`bwmsg.campaign._optouts`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import _loop
from ..campaign._optout_store import open_opt_outs
from ..campaign._optouts import OptOutStore, check_number, read_numbers

__all__ = ["opt_outs"]

T = TypeVar("T")

_STORE_HELP = "The opt-out store: a SQLite file or a postgresql:// URL [BWMSG_OPT_OUTS]."


def _store_option(func: Any) -> Any:
    return click.option(
        "--store", envvar="BWMSG_OPT_OUTS", required=True, metavar="PATH|URL", help=_STORE_HELP
    )(func)


def _numbers(values: tuple[str, ...]) -> list[str]:
    try:
        return [check_number(value) for value in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NUMBER") from None


def _with_store(spec: str, action: Callable[[OptOutStore], Awaitable[T]]) -> T:
    async def go() -> T:
        store = await open_opt_outs(spec)
        try:
            return await action(store)
        finally:
            await store.aclose()

    try:
        return _loop.run(go())
    except ValueError as exc:  # a store that cannot be used, a bad line in a file
        raise click.ClickException(str(exc)) from None


@click.group("opt-outs")
def opt_outs() -> None:
    """Numbers that must not be texted (STOP replies, requests): every campaign run given
    --opt-outs skips them, whichever number it sends from."""


@opt_outs.command("add")
@click.argument("numbers", nargs=-1, required=True, metavar="NUMBER...")
@_store_option
def add(numbers: tuple[str, ...], store: str) -> None:
    """Opt NUMBER... out (E.164, e.g. +19195551212)."""
    wanted = _numbers(numbers)
    added = _with_store(store, lambda s: s.add(wanted, source="manual"))
    already = len(set(wanted)) - added
    click.echo(f"opted out {added} number(s)" + (f"; {already} already were" if already else ""))


@opt_outs.command("remove")
@click.argument("numbers", nargs=-1, required=True, metavar="NUMBER...")
@_store_option
def remove(numbers: tuple[str, ...], store: str) -> None:
    """Lift the opt-out of NUMBER... (after the person asked to be texted again)."""
    wanted = _numbers(numbers)
    removed = _with_store(store, lambda s: s.remove(wanted))
    missing = len(set(wanted)) - removed
    click.echo(
        f"removed {removed} opt-out(s)" + (f"; {missing} were not opted out" if missing else "")
    )


@opt_outs.command("list")
@_store_option
def list_command(store: str) -> None:
    """Print every opted-out number, when and how it was added (tab-separated)."""
    entries = _with_store(store, lambda s: s.entries())
    for number, at, source in entries:
        when = datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")
        click.echo(f"{number}\t{when}\t{source}")
    click.echo(f"{len(entries)} opted-out number(s)", err=True)


@opt_outs.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_store_option
def import_command(file: Path, store: str) -> None:
    """Opt out every number of FILE: one a line, or a CSV with a number, phone, to or from
    column."""
    try:
        numbers = list(read_numbers(file))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    added = _with_store(store, lambda s: s.add(numbers, source=f"import {file.name}"))
    click.echo(f"imported {len(numbers)} number(s) from {file}: {added} new opt-out(s)")
