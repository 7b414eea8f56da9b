"""The campaign journal: one SQLite row per input row, written before and after each send.

The database runs in WAL mode with ``synchronous=NORMAL``: a commit survives the process
being killed at any point (the operating system still has it), though not a power failure or
the loss of the disk. Rows are marked ``sending`` in a committed batch before any of them can be
handed to the dispatcher, so a row that might have left the process is never ``pending``.
"""

from __future__ import annotations

import enum
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

__all__ = ["Journal", "JournalMismatch", "RowState", "RowUpdate"]

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    row INTEGER PRIMARY KEY,
    recipients TEXT NOT NULL DEFAULT '',
    sender TEXT,
    state TEXT NOT NULL,
    retryable INTEGER NOT NULL DEFAULT 0,
    message_id TEXT,
    error TEXT,
    status INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    segments INTEGER,
    encoding TEXT,
    updated REAL
);
CREATE INDEX IF NOT EXISTS rows_state ON rows (state);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    ended REAL,
    result TEXT
);
"""


class RowState(str, enum.Enum):
    """Where a row stands.

    - ``pending``: not sent yet.
    - ``sending``: handed to the dispatcher; if a run dies here the row becomes ``unknown``.
    - ``sent``: Bandwidth accepted it (``message_id`` set).
    - ``failed``: certainly not sent (``error`` says why; ``retryable`` rows are tried again by
      the next run, the others never).
    - ``unknown``: may have been sent; re-sent only with ``--resend-unknown``.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


class JournalMismatch(ValueError):
    """The journal belongs to another input file or template."""


@attrs.frozen
class RowUpdate:
    """The outcome of one row, to be written."""

    row: int
    state: RowState
    message_id: str | None = None
    error: str | None = None
    status: int | None = None
    retryable: bool = False
    attempts: int = 0


class Journal:
    """A campaign's SQLite journal. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._run_id: int | None = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # -- identity -------------------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        """The journal's key/value metadata."""
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def bind(self, fingerprint: str, **info: str) -> bool:
        """Tie a new journal to its input, or check that an old one matches.

        Returns True when the journal was new. Raises :class:`JournalMismatch` when it was
        made for another input or template.
        """
        meta = self.meta()
        if not meta:
            with self._transaction():
                rows = {"schema": SCHEMA_VERSION, "fingerprint": fingerprint, **info}
                rows.setdefault("created", _now_text())
                self._db.executemany("INSERT INTO meta VALUES (?, ?)", rows.items())
            return True
        if meta.get("fingerprint") != fingerprint:
            made_for = meta.get("input", "another input")
            raise JournalMismatch(
                f"the journal {self.path} was made for {made_for} with other settings; the "
                "recipient file or the message template (text, media, tag, from) has changed "
                "since. Resume with exactly the same file and options, or start a new campaign "
                "with another --journal."
            )
        return False

    # -- runs -----------------------------------------------------------------------------------

    def start_run(self) -> int:
        """Record a run's start and turn rows left ``sending`` by a crash into ``unknown``.

        Returns how many rows were recovered that way.
        """
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE rows SET state = 'unknown', error = 'the run stopped while it was being "
                "sent: it may have been sent', updated = ? WHERE state = 'sending'",
                (time.time(),),
            )
            recovered = cursor.rowcount
            self._run_id = self._db.execute(
                "INSERT INTO runs (started) VALUES (?)", (time.time(),)
            ).lastrowid
        return recovered

    def end_run(self, result: str) -> None:
        """Record how the current run ended."""
        if self._run_id is None:
            return
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET ended = ?, result = ? WHERE id = ?",
                (time.time(), result, self._run_id),
            )

    def runs(self) -> list[tuple[float, float | None, str | None]]:
        """(started, ended, result) of every run, oldest first."""
        return self._db.execute("SELECT started, ended, result FROM runs ORDER BY id").fetchall()

    # -- rows -----------------------------------------------------------------------------------

    def states(self, chunk: int = 5000) -> Iterator[tuple[int, str, int]]:
        """(row, state, retryable) of every known row in row order.

        Read in chunks, each its own short read, so that no long-lived reader holds the
        write-ahead log back from being checkpointed during a long run.
        """
        after = -1
        while True:
            found: list[tuple[int, str, int]] = self._db.execute(
                "SELECT row, state, retryable FROM rows WHERE row > ? ORDER BY row LIMIT ?",
                (after, chunk),
            ).fetchall()
            if not found:
                return
            yield from found
            after = found[-1][0]

    def add_rows(self, rows: Iterable[tuple[int, str]]) -> int:
        """Insert every input row as ``pending``: (row, recipients). Returns how many."""
        count = 0

        def counted() -> Iterator[tuple[int, str]]:
            nonlocal count
            for item in rows:
                count += 1
                yield item

        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO rows (row, recipients, state) VALUES (?, ?, 'pending')",
                counted(),
            )
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('rows', ?)", (str(count),))
        return count

    def mark_sending(self, rows: Iterable[tuple[int, str, str, int, str]]) -> None:
        """Durably mark rows ``sending``: (row, recipients, sender, segments, encoding)."""
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT INTO rows (row, recipients, sender, state, segments, encoding, updated) "
                "VALUES (?, ?, ?, 'sending', ?, ?, ?) ON CONFLICT (row) DO UPDATE SET "
                "state = 'sending', recipients = excluded.recipients, sender = excluded.sender, "
                "segments = excluded.segments, encoding = excluded.encoding, "
                "updated = excluded.updated, retryable = 0",
                [(*r, now) for r in rows],
            )

    def record(
        self, updates: Iterable[RowUpdate], recipients: dict[int, str] | None = None
    ) -> None:
        """Write final states in one transaction (rows not yet known are inserted)."""
        now = time.time()
        recipients = recipients or {}
        with self._transaction():
            self._db.executemany(
                "INSERT INTO rows (row, recipients, state, message_id, error, status, retryable,"
                " attempts, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (row) DO "
                "UPDATE SET state = excluded.state, message_id = excluded.message_id, "
                "error = excluded.error, status = excluded.status, "
                "retryable = excluded.retryable, attempts = rows.attempts + excluded.attempts,"
                " updated = excluded.updated",
                [
                    (
                        u.row,
                        recipients.get(u.row, ""),
                        u.state.value,
                        u.message_id,
                        u.error,
                        u.status,
                        int(u.retryable),
                        u.attempts,
                        now,
                    )
                    for u in updates
                ],
            )

    def counts(self) -> dict[str, int]:
        """Rows by state."""
        found = dict(self._db.execute("SELECT state, COUNT(*) FROM rows GROUP BY state"))
        return {state.value: found.get(state.value, 0) for state in RowState}

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run a read-only query (for status and export)."""
        return self._db.execute(sql, params).fetchall()

    def rows(self) -> Iterator[sqlite3.Row]:
        """Every row in order, as sqlite3.Row mappings."""
        reader = sqlite3.connect(self.path, isolation_level=None)
        reader.row_factory = sqlite3.Row
        try:
            yield from reader.execute(
                "SELECT row, recipients, sender, state, retryable, message_id, error, status, "
                "attempts, segments, encoding, updated FROM rows ORDER BY row"
            )
        finally:
            reader.close()

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a sound database."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
