"""The Sender's settings: every check and default in one place, and the ``BW_*`` environment.

:func:`sender_config` checks what a :class:`~bwmsg.Sender` is given (each error a
``ValueError`` naming the setting) and returns one frozen :class:`SenderConfig`; the Sender
builds its parts from that alone. :func:`from_environment` is ``Sender.from_env``'s reading of
the environment.
"""

from __future__ import annotations

import os
import re
import ssl as ssl_module
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
from yarl import URL

from ._retry import RetryPolicy
from ._throttle import RateLimit

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TOKEN_URL",
    "ENV",
    "SenderConfig",
    "check_account_id",
    "from_environment",
    "sender_config",
]

DEFAULT_BASE_URL = "https://messaging.bandwidth.com/api/v2"
DEFAULT_TOKEN_URL = "https://api.bandwidth.com/api/v1/oauth2/token"

_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Sender.from_env: the argument each variable fills.
ENV = {
    "account_id": "BW_ACCOUNT_ID",
    "username": "BW_USERNAME",
    "password": "BW_PASSWORD",
    "client_id": "BW_CLIENT_ID",
    "client_secret": "BW_CLIENT_SECRET",
    "application_id": "BW_MESSAGING_APPLICATION_ID",
    "base_url": "BW_MESSAGING_BASE_URL",
    "token_url": "BW_OAUTH_TOKEN_URL",
}


def check_account_id(value: object, setting: str) -> str:
    """``value`` if it can be a Bandwidth account id: letters, digits, ``-`` and ``_``, 1 to
    64 of them, so that it can never change the path a request goes to.

    Raises:
        ValueError: naming ``setting`` and the rule.
    """
    if isinstance(value, str) and _ACCOUNT_ID.fullmatch(value):
        return value
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    raise ValueError(
        f"{setting} must be a Bandwidth account id: letters, digits, '-' and '_' only, "
        f"1 to 64 characters; got {shown}"
    )


def check_credentials(
    username: str | None,
    password: str | None,
    client_id: str | None,
    client_secret: str | None,
    token_url: str,
) -> bool:
    """Checks the Sender's credentials: True for OAuth2, False for Basic auth.

    Raises:
        ValueError: naming what is missing or contradictory.
    """
    basic = username is not None or password is not None
    oauth = client_id is not None or client_secret is not None
    if basic and oauth:
        raise ValueError(
            "give either username/password (Basic auth) or client_id/client_secret "
            "(OAuth2), not both"
        )
    if not basic and not oauth:
        raise ValueError(
            "credentials are required: username and password (BW_USERNAME, BW_PASSWORD) "
            "or client_id and client_secret (BW_CLIENT_ID, BW_CLIENT_SECRET)"
        )
    if basic and not (username and password):
        raise ValueError("Basic auth needs both username and password")
    if basic and ":" in str(username):
        raise ValueError("username may not contain ':' (HTTP Basic auth cannot carry it)")
    if oauth and not (client_id and client_secret):
        raise ValueError("OAuth2 needs both client_id and client_secret")
    if oauth and not str(token_url).startswith(("http://", "https://")):
        raise ValueError(f"token_url must be an http(s) URL, got {token_url!r}")
    return oauth


def check_options(
    concurrency: object,
    timeout: object,
    retry: object,
    ssl: object,
    trace_configs: object,
    session: object,
    rate: object,
) -> None:
    """Checks the Sender's other settings.

    Raises:
        ValueError: naming the setting.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    if not isinstance(retry, RetryPolicy):
        raise ValueError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
    if not isinstance(ssl, (bool, ssl_module.SSLContext)):
        raise ValueError(f"ssl must be True, False or an ssl.SSLContext, got {ssl!r}")
    if trace_configs is not None and session is not None:
        raise ValueError("trace_configs apply to the Sender's own session: pass them to yours")
    if rate is not None and not isinstance(rate, RateLimit):
        raise ValueError(f"rate must be a RateLimit or None, got {type(rate).__name__}")


@attrs.frozen(repr=False)
class SenderConfig:
    """A Sender's checked settings (its repr shows no secret: it shows nothing)."""

    account_id: str
    username: str | None
    password: str | None
    client_id: str | None
    client_secret: str | None
    token_url: str
    application_id: str | None
    root: URL  # the API root, without a trailing slash
    concurrency: int
    rate: RateLimit | None
    retry: RetryPolicy
    timeout: float
    session: aiohttp.ClientSession | None
    trace_configs: tuple[aiohttp.TraceConfig, ...] | None
    ssl: ssl_module.SSLContext | bool
    proxy: str | None
    trust_env: bool

    @property
    def oauth(self) -> bool:
        """True for OAuth2 client credentials, False for Basic auth."""
        return self.client_id is not None

    @property
    def token(self) -> URL | None:
        """The token endpoint (OAuth2 only)."""
        return URL(self.token_url) if self.oauth else None

    @property
    def messages_url(self) -> URL:
        """Where messages are posted."""
        return self.root / "users" / self.account_id / "messages"

    def __repr__(self) -> str:
        return f"<SenderConfig account_id={self.account_id!r}>"


def sender_config(
    account_id: str,
    username: str | None,
    password: str | None,
    *,
    client_id: str | None,
    client_secret: str | None,
    token_url: str,
    application_id: str | None,
    base_url: str,
    concurrency: int,
    rate: RateLimit | None,
    retry: RetryPolicy,
    timeout: float,
    session: aiohttp.ClientSession | None,
    trace_configs: Sequence[aiohttp.TraceConfig] | None,
    ssl: ssl_module.SSLContext | bool,
    proxy: str | None,
    trust_env: bool,
) -> SenderConfig:
    """The Sender's arguments, checked.

    Raises:
        ValueError: for a missing, wrong or contradictory setting, naming it.
    """
    check_account_id(account_id, "account_id")
    oauth = check_credentials(username, password, client_id, client_secret, token_url)
    check_options(concurrency, timeout, retry, ssl, trace_configs, session, rate)
    if application_id is not None and (
        not isinstance(application_id, str) or not application_id.strip()
    ):
        raise ValueError("application_id must be a non-empty string or None")
    root = URL(str(base_url).rstrip("/"))
    if root.scheme not in ("http", "https") or not root.host:
        raise ValueError(
            f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}, got {base_url!r}"
        )
    if not isinstance(trust_env, bool):
        raise ValueError(f"trust_env must be True or False, got {trust_env!r}")
    return SenderConfig(
        account_id=account_id,
        username=None if oauth else username,
        password=None if oauth else password,
        client_id=client_id if oauth else None,
        client_secret=client_secret if oauth else None,
        token_url=token_url,
        application_id=application_id,
        root=root,
        concurrency=concurrency,
        rate=rate,
        retry=retry,
        timeout=float(timeout),
        session=session,
        trace_configs=tuple(trace_configs) if trace_configs else None,
        ssl=ssl,
        proxy=proxy,
        trust_env=trust_env,
    )


def from_environment(overrides: dict[str, Any]) -> dict[str, Any]:
    """The Sender's arguments from the ``BW_*`` variables (empty ones count as unset), with
    ``overrides`` winning; credentials given as arguments replace the other kind found in the
    environment.

    Raises:
        ValueError: ``BW_ACCOUNT_ID`` is missing or not an account id.
    """
    kwargs: dict[str, Any] = {}
    for name, var in ENV.items():
        value = os.environ.get(var, "").strip()
        if value:
            kwargs[name] = value
    if {"username", "password"} & overrides.keys():
        kwargs.pop("client_id", None)
        kwargs.pop("client_secret", None)
    if {"client_id", "client_secret"} & overrides.keys():
        kwargs.pop("username", None)
        kwargs.pop("password", None)
    if "account_id" not in overrides and "account_id" in kwargs:
        check_account_id(kwargs["account_id"], "BW_ACCOUNT_ID")
    kwargs.update(overrides)
    if "account_id" not in kwargs:
        raise ValueError("BW_ACCOUNT_ID is not set (or pass account_id=...)")
    return kwargs
