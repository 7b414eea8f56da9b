"""Journal URLs: which arguments name a PostgreSQL database, and how one is shown (never with
its password)."""

from __future__ import annotations

from pathlib import Path

from yarl import URL

from .._errors import BwmsgError

__all__ = [
    "JournalUrlError",
    "database_address",
    "is_database_url",
    "redacted",
    "unusable_database",
    "without_password",
]

_SCHEMES = ("postgresql://", "postgres://")


class JournalUrlError(BwmsgError, ValueError):
    """A journal URL that cannot be used (its password never in the message)."""


def is_database_url(spec: str | Path) -> bool:
    """Whether ``spec`` is a PostgreSQL URL rather than a file's path."""
    return isinstance(spec, str) and spec.lower().startswith(_SCHEMES)


def redacted(spec: str | Path) -> str:
    """``spec`` as it may be shown: a URL's password replaced by ``...``."""
    if not is_database_url(spec):
        return str(spec)
    text = str(spec)
    try:
        url = URL(text)
    except ValueError:
        return text.split("://", 1)[0] + "://..."
    if url.password is None and "@" not in text:
        return text
    return str(url.with_password("..." if url.password is not None else None))


def without_password(text: str, url: str) -> str:
    """``text`` (a driver's message) with ``url``'s password, if any, taken out."""
    try:
        password = URL(url).password
    except ValueError:
        return text
    return text.replace(password, "...") if password else text


def database_address(url: str, where: str) -> str:
    """``host:port`` of the database ``url`` names (localhost and 5432 when it says none);
    ``where`` when ``url`` cannot be read."""
    try:
        parsed = URL(url)
    except ValueError:
        return where
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"


def unusable_database(exc: BaseException, url: str) -> str:
    """Why the database at ``url`` could not be used (``exc``, without the password), and what
    to check."""
    why = without_password(str(exc), url)
    return (
        f"({type(exc).__name__}: {why}); check that PostgreSQL runs there, the database exists "
        "and the user may log in"
    )
