"""Opening the opt-out store a flag or ``BWMSG_OPT_OUTS`` names: a SQLite file or a
PostgreSQL URL."""

from __future__ import annotations

from pathlib import Path

from ._optouts import OptOutStore, SqliteOptOuts
from ._optouts_pg import PostgresOptOuts
from ._urls import is_database_url

__all__ = ["open_opt_outs"]


async def open_opt_outs(spec: str | Path) -> OptOutStore:
    """The store ``spec`` names, open (a SQLite file is made if missing).

    Raises:
        ValueError: it cannot be used, saying why (never with a URL's password).
    """
    if is_database_url(spec):
        return await PostgresOptOuts(str(spec)).open()
    return SqliteOptOuts(spec)
