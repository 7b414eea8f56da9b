"""What the ``bwmsg`` commands share: consoles, credential options, the Sender, exit codes."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from .._sender import Sender

__all__ = [
    "EXIT_BUSY",
    "EXIT_INTERRUPTED",
    "console",
    "credential_options",
    "listen_address",
    "parse_listen",
    "pop_credentials",
    "sender_from",
]

EXIT_INTERRUPTED = 130
EXIT_BUSY = 75  # EX_TEMPFAIL: another process is running the journal; try again later


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


# -- credentials -------------------------------------------------------------------------------


def credential_options(func: Any) -> Any:
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


def sender_from(creds: dict[str, Any], **extra: Any) -> Sender:
    overrides = {k: v for k, v in creds.items() if v is not None}
    overrides.update({k: v for k, v in extra.items() if v is not None})
    try:
        return Sender.from_env(**overrides)
    except ValueError as exc:
        raise click.UsageError(f"{exc}") from None


def pop_credentials(kwargs: dict[str, Any]) -> dict[str, Any]:
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
