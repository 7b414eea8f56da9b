"""What the ``bwmsg`` commands share: consoles, credential options, the Sender, exit codes."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click
from dotenv import dotenv_values
from rich.console import Console

from .._sender import Sender
from .._throttle import RateLimit
from ..callbacks import CallbackServer
from ..campaign import CampaignJournal, Journal, JournalUrlError, UnknownCampaign, open_journal
from ..campaign._listener import receipts_listener
from ..campaign._optout_store import open_opt_outs
from ..campaign._optouts import OptOutStore
from ..campaign._sqlite_async import SqliteJournal
from ..campaign._urls import is_database_url, redacted

__all__ = [
    "EXIT_BUSY",
    "EXIT_INTERRUPTED",
    "EXIT_JOURNAL",
    "JournalArg",
    "JournalUnusable",
    "campaign_option",
    "console",
    "credential_options",
    "hide_url_passwords",
    "listen_address",
    "listen_problem",
    "opened",
    "parse_listen",
    "pop_credentials",
    "rate_limit",
    "reading",
    "sender_from",
    "shown",
    "stacked",
    "start_listener",
]

EXIT_INTERRUPTED = 130
EXIT_BUSY = 75  # EX_TEMPFAIL: another process is running the journal; try again later
EXIT_JOURNAL = 3  # the journal cannot be opened, read or written


class JournalUnusable(click.ClickException):
    """The journal named on the command line cannot be used: one line, exit status 3."""

    exit_code = EXIT_JOURNAL

    def __init__(self, journal: Path, why: str) -> None:
        super().__init__(f"the journal {journal} cannot be used: {why}")


def journal_problem(journal: Path, exc: BaseException) -> JournalUnusable:
    """The one line an operator reads for a journal SQLite or the disk refused."""
    text = str(exc)
    if isinstance(exc, FileNotFoundError) and not journal.parent.is_dir():
        return JournalUnusable(
            journal, f"its directory {journal.parent} does not exist (create it, or choose another)"
        )
    if "not a database" in text:
        return JournalUnusable(journal, "it is not a bwmsg journal (not a SQLite database)")
    if isinstance(exc, PermissionError) or "readonly" in text or "unable to open" in text:
        return JournalUnusable(
            journal, f"{text} (check that its directory exists and that you may write there)"
        )
    return JournalUnusable(journal, text)


@contextlib.contextmanager
def reading(journal: Path) -> Iterator[Journal]:
    """``journal`` opened to read (read-only when it must be), its failures as one line."""
    try:
        with contextlib.ExitStack() as stack:
            # Read-only first: another program's database is left exactly as it was.
            db = stack.enter_context(Journal(journal, readonly=True))
            if not db.is_journal():
                raise JournalUnusable(journal, "it is not a bwmsg journal (no campaign in it)")
            if db.outdated():  # made by an older bwmsg: opening it to write adds the columns
                db.close()
                db = stack.enter_context(Journal(journal))
            yield db
    except (OSError, sqlite3.Error) as exc:
        raise journal_problem(journal, exc) from None


class JournalArg(click.ParamType[Any]):
    """A journal: a SQLite file's path (a :class:`Path`) or a PostgreSQL URL (kept a string).
    ``exists`` requires the file (a URL is checked when it is connected)."""

    name = "PATH|URL"

    def __init__(self, *, exists: bool = False) -> None:
        self.exists = exists

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Path) or not is_database_url(value):
            path = Path(value)
            if self.exists and not path.is_file():
                self.fail(f"no journal file {path} (a path, or postgresql://user@host/db)", param)
            return path
        return str(value)


def campaign_option(func: Any) -> Any:
    """``--campaign ID``: which campaign of a PostgreSQL journal (default: the only one)."""
    return click.option(
        "--campaign",
        default=None,
        metavar="ID",
        help="PostgreSQL journal: the campaign's id (campaign run prints it; default: the "
        "only one).",
    )(func)


def hide_url_passwords(argv: list[str]) -> None:
    """Replace the password of every journal URL in ``argv`` by ``...`` (in place), so that no
    resume command, holder or log line this process prints shows it."""
    for i, arg in enumerate(argv):
        for prefix in ("", "--journal="):
            if arg.startswith(prefix) and is_database_url(arg[len(prefix) :]):
                argv[i] = prefix + redacted(arg[len(prefix) :])


def rate_limit(rate: float | None, redis: str | None) -> RateLimit | None:
    """``--rate`` (and ``--redis``: one budget shared through Redis) as a RateLimit."""
    if redis and rate is None:
        raise click.UsageError(
            "--redis shares a rate limit: give --rate N too (segments per second for every "
            "sender using that Redis)"
        )
    if rate is None:
        return None
    try:
        return RateLimit(rate, redis_url=redis) if redis else RateLimit(rate)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@contextlib.asynccontextmanager
async def opened(journal: Path | str, campaign: str | None) -> AsyncIterator[CampaignJournal]:
    """``journal`` opened to read, behind the async interface, bound to its campaign; its
    failures as one line (exit status 3; a campaign that is not there: a usage error)."""
    if isinstance(journal, Path):
        with reading(journal) as db:
            yield SqliteJournal.wrapping(db)
        return
    try:
        async with open_journal(journal, readonly=True) as shared:
            await shared.use_campaign(campaign)
            yield shared
    except UnknownCampaign as exc:
        raise click.UsageError(str(exc)) from None
    except JournalUrlError as exc:
        raise click.ClickException(str(exc)) from None


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


# -- credentials -------------------------------------------------------------------------------


def _load_env_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """``--env-file``: its settings join the environment before any option reads it; a
    variable already set wins."""
    if value is None:
        return
    try:
        found = dotenv_values(value, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {value}: {exc}") from None
    for name, setting in found.items():
        if setting is not None:
            os.environ.setdefault(name, setting)


def shown(flag: str, kind: Any, default: float, help: str) -> Callable[[Any], Any]:
    """An option of type ``kind`` whose ``default`` the ``--help`` shows."""
    return click.option(flag, type=kind, default=default, show_default=True, help=help)


def stacked(options: Sequence[Callable[[Any], Any]], func: Any) -> Any:
    """``func`` decorated by each of ``options``, the first on top (listed first in --help)."""
    for option in reversed(options):
        func = option(func)
    return func


def credential_options(func: Any) -> Any:
    """The options that say which account to send from (each also read from ``BW_*``)."""
    options = [
        click.option(
            "--env-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            callback=_load_env_file,
            is_eager=True,
            expose_value=False,
            help="Read settings (BW_ACCOUNT_ID=..., one a line, as in a .env file) from FILE; "
            "variables already set win.",
        ),
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
    return stacked(options, func)


# The Sender's settings that credential_options gives, and the options that give them.
_CREDENTIALS = (
    "account_id",
    "username",
    "password",
    "client_id",
    "client_secret",
    "application_id",
    "base_url",
    "token_url",
)
_FLAGS = {name: "--" + name.replace("_", "-") for name in _CREDENTIALS}
_SETTING = re.compile(r"\b(" + "|".join(_FLAGS) + r")\b(=\.\.\.)?")


def as_flags(message: str) -> str:
    """A library message with the Sender's argument names written as the command's options
    (``account_id`` -> ``--account-id``; ``pass account_id=...`` -> ``give --account-id``)."""
    message = message.replace("pass account_id=...", "give --account-id")
    return _SETTING.sub(lambda m: _FLAGS[m.group(1)], message)


def sender_from(creds: dict[str, Any], **extra: Any) -> Sender:
    """The Sender the options and the ``BW_*`` environment describe; a usage error naming the
    option (or variable) to fix otherwise."""
    overrides = {k: v for k, v in creds.items() if v is not None}
    overrides.update({k: v for k, v in extra.items() if v is not None})
    try:
        return Sender.from_env(**overrides)
    except ValueError as exc:
        raise click.UsageError(as_flags(str(exc))) from None


def pop_credentials(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the credential options (see :func:`credential_options`) out of ``kwargs``."""
    return {name: kwargs.pop(name) for name in _CREDENTIALS}


def listen_problem(flag: str, host: str, port: int, exc: OSError) -> click.UsageError:
    """The one line for an address the command cannot listen on (in use, not this host's)."""
    why = exc.strerror or str(exc)
    return click.UsageError(
        f"{flag} {host}:{port}: cannot listen there ({why}): choose another port, or 0 for any "
        "free one"
    )


async def start_listener(
    stack: contextlib.AsyncExitStack,
    flag: str,
    journal: Path | str,
    address: tuple[str, int],
    **kw: Any,
) -> CallbackServer:
    """Start a receipts listener on ``address`` inside ``stack``; an address it cannot listen
    on is a usage error naming ``flag``."""
    try:
        return await stack.enter_async_context(receipts_listener(journal, *address, **kw))
    except OSError as exc:
        raise listen_problem(flag, *address, exc) from None


async def open_store(
    stack: contextlib.AsyncExitStack, flag: str, spec: str | None
) -> OptOutStore | None:
    """The opt-out store ``flag`` names, open inside ``stack`` (None without one); one that
    cannot be used is an error naming ``flag``."""
    if spec is None:
        return None
    try:
        store = await open_opt_outs(spec)
    except ValueError as exc:
        raise click.ClickException(f"{flag}: {exc}") from None
    stack.push_async_callback(store.aclose)
    return store


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8081`` for IPv6) as a pair; click.BadParameter otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"expected HOST:PORT, such as 127.0.0.1:8081, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def listen_address(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, int] | None:
    """A click callback: an option's ``HOST:PORT`` as a pair (None stays None)."""
    return None if value is None else parse_listen(value)
