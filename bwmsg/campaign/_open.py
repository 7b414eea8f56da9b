"""Which engine a journal argument names: a file path (SQLite) or a PostgreSQL URL
(``postgresql://`` or ``postgres://``), and the journal opened on it."""

from __future__ import annotations

from pathlib import Path

from ._journal import CampaignJournal
from ._sqlite_async import SqliteJournal
from ._urls import JournalUrlError, is_database_url

__all__ = ["open_journal"]


def open_journal(
    spec: str | Path,
    *,
    exclusive: bool = False,
    readonly: bool = False,
    lease: float = 30.0,
    worker: bool = False,
) -> CampaignJournal:
    """The journal ``spec`` names, to be used as an async context manager.

    A path: the SQLite journal (``exclusive`` takes its lock at once; a ``worker`` is refused:
    one process runs a SQLite journal). A PostgreSQL URL: the database is connected on entry,
    its schema made when missing; ``exclusive`` there means a worker that claims rows under a
    ``lease`` of that many seconds.
    """
    if is_database_url(spec):
        from ._postgres import PostgresJournal

        return PostgresJournal(str(spec), lease=lease, readonly=readonly)
    if worker:
        raise JournalUrlError(
            f"--journal {spec}: a SQLite journal is run by one process (campaign run); for "
            "several workers give a PostgreSQL URL, --journal postgresql://user@host:port/db"
        )
    return SqliteJournal(spec, exclusive=exclusive, readonly=readonly)
