"""The SQLite campaign journal (one process): one row per input row, written before and after
each send.

The database runs in WAL mode with ``synchronous=NORMAL``: a commit survives the process
being killed at any point (the operating system still has it), though not a power failure or
the loss of the disk. Rows are marked ``sending`` in a committed batch before any of them can be
handed to the dispatcher, so a row that might have left the process is never taken for
``pending``. A batch of rows that were ``pending`` is marked by one *claim* (a range of rows,
the run, the time) rather than a write to each row: a ``pending`` row inside a claim is
``sending`` (:meth:`Journal.counts` and :meth:`Journal.rows` report it so), and its outcome
is its first write. A claim outlives its run only when the run died; the next run (or
reconcile) turns the rows it still holds into ``unknown``. That saves a third of the
journal's writes per row (``benchmarks/bench_campaign_instructions.py``); rows taken from
another state (``unknown`` with ``--resend-unknown``, ``failed`` being retried) are written
``sending`` one by one, as they are few.

One process at a time decides what to send from a journal: :class:`Journal` opened with
``exclusive=True`` (``campaign run``, ``reconcile``) holds its lock (:mod:`._lock`) for as long
as it is open and writes who it is (pid, host, since when, its command) into the ``holder``
table. Readers (``status``, ``export``, a receipts listener) open the journal without the lock
and work beside a run.

Delivery receipts are a second dimension beside the send outcome (``state``): ``receipt`` is
NULL (none yet), ``delivered`` or ``failed`` (with ``receipt_code`` and
``receipt_description``). The first final receipt of a row wins: a later or duplicate one never
changes it, and ``message-sending`` never touches it. Journals made before these columns
existed gain them when opened.

This class is the public, synchronous ``bwmsg.campaign.Journal`` (scripts and tests read a
journal with it); :mod:`._sqlite_async` puts it behind the async :class:`CampaignJournal`
interface the runner uses. The module is over 500 lines because it is one schema and the
statements that keep it: splitting the SQL from the class would scatter one concept.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

from .._privacy import command_line
from ..callbacks import CallbackEvent, StatusCallback, StatusType, describe_error
from ._journal import (
    SAFE_TO_RESEND,
    JournalMismatch,
    ReceiptResult,
    RowState,
    RowUpdate,
    Sent,
    sent_update,
)
from ._lock import lock

__all__ = ["Journal"]

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
CREATE TABLE IF NOT EXISTS holder (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    since REAL NOT NULL,
    command TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    ended REAL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS claims (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    at REAL NOT NULL
);
"""

# A `pending` row inside a claim was taken by a run and has no outcome yet: it is `sending`.
_CLAIMED = "EXISTS (SELECT 1 FROM claims c WHERE rows.row BETWEEN c.first AND c.last)"
_CLAIM_TIME = "(SELECT MIN(c.at) FROM claims c WHERE rows.row BETWEEN c.first AND c.last)"
_STATE = f"CASE WHEN state = 'pending' AND {_CLAIMED} THEN 'sending' ELSE state END"


# Columns added after the first release, with their types: added to older journals on open.
_ADDED_COLUMNS = (
    ("receipt", "TEXT"),
    ("receipt_code", "INTEGER"),
    ("receipt_description", "TEXT"),
    ("receipt_time", "REAL"),
    ("sending_at", "REAL"),
)

# Rows whose recipients an earlier row of the journal has (r), with that first row (f.first).
_DUPLICATES = (
    "WITH firsts AS (SELECT recipients, MIN(row) AS first FROM rows WHERE recipients != '' "
    "GROUP BY recipients HAVING COUNT(*) > 1) SELECT {select} FROM rows r JOIN firsts f "
    "ON r.recipients = f.recipients WHERE r.row != f.first {tail}"
)


# Rows loaded per INSERT statement: one statement of many rows costs half as much per row as
# one statement a row (executemany), 2 values a row keep it under SQLite's 999-variable limit.
_LOAD_CHUNK = 400

# A row sent, written over its `pending` (or `sending`) self: the common outcome, so a statement
# of its own, without the cases the general upsert weighs (a third cheaper per row); its
# parameters are a Sent tuple as it comes (`updated` is when the answer came).
_SENT = (
    "UPDATE rows SET state = 'sent', message_id = COALESCE(?, message_id), error = NULL, "
    "status = NULL, retryable = 0, attempts = attempts + ?, updated = ?, "
    "sender = COALESCE(?, sender), segments = COALESCE(?, segments), "
    "encoding = COALESCE(?, encoding), sending_at = CASE WHEN state = 'pending' THEN "
    "COALESCE(?, sending_at) ELSE sending_at END WHERE row = ?"
)

# Rows are looked up by message id only by receipts and reconcile: the index is made by the
# first lookup (a run that nobody listens to does not keep one up: a microsecond a row), and
# holds only rows that have an id (a journal's pending rows are not in it).
_MESSAGE_INDEX = (
    "CREATE INDEX IF NOT EXISTS rows_message_id_set ON rows (message_id) "
    "WHERE message_id IS NOT NULL"
)


class Journal:
    """A campaign's SQLite journal. Use as a context manager, or call :meth:`close`.

    Args:
        path: the journal's file (created when missing, unless ``readonly``).
        exclusive: take the journal's lock (:class:`JournalBusy` when another process has it).
        command: the command line the holder names (default: this process's, secrets hidden).
        readonly: only read (``status``, ``export`` of a journal on a read-only disk or
            directory): nothing is created, migrated or written.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        exclusive: bool = False,
        command: str = "",
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self._readonly = readonly
        self._lock: int | None = lock(self.path) if exclusive else None
        try:
            self._db = self._connect()
            if readonly:
                _setup_readonly(self._db)
            else:
                self._setup()
            if self._lock is not None:
                self._claim(command)
        except BaseException:
            self.close()
            raise
        self._run_id: int | None = None
        self._campaign: str | None = None
        self._indexed = False

    def _connect(self) -> sqlite3.Connection:
        if not self._readonly:
            return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if not self.path.is_file():
            raise FileNotFoundError(f"no journal at {self.path}")
        uri = self.path.resolve().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # A WAL journal in a directory we cannot write: no -shm can be made. Read the file
            # as it is (a run that ended cleanly left nothing in the WAL).
            db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        return db

    def _setup(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _claim(self, command: str) -> None:
        """Say who holds the journal now (the lock is held: nobody else writes this)."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO holder VALUES (1, ?, ?, ?, ?)",
                (os.getpid(), socket.gethostname(), time.time(), (command or command_line())[:500]),
            )

    def _migrate(self) -> None:
        have = {r[1] for r in self._db.execute("PRAGMA table_info(rows)")}
        missing = [(name, kind) for name, kind in _ADDED_COLUMNS if name not in have]
        if missing:
            with self._transaction():
                for name, kind in missing:
                    self._db.execute(f"ALTER TABLE rows ADD COLUMN {name} {kind}")
        # Every row changes state two or three times a run: an index on it cost more to keep
        # than the scans it saved (benchmarks/bench_campaign.py).
        if self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'rows_state'"
        ).fetchone():
            self._db.execute("DROP INDEX rows_state")

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database, then give up the lock (if this Journal holds it)."""
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # -- identity -------------------------------------------------------------------------------

    def is_journal(self) -> bool:
        """Whether the file holds a campaign (a run bound it to its input)."""
        try:
            return "fingerprint" in self.meta()
        except sqlite3.OperationalError:  # no meta table: another program's database
            return False

    def outdated(self) -> bool:
        """Whether the journal lacks columns this version adds when it opens it to write."""
        have = {r[1] for r in self._db.execute("PRAGMA table_info(rows)")}
        return any(name not in have for name, _ in _ADDED_COLUMNS)

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
            recovered = self._recover()
            self._run_id = self._db.execute(
                "INSERT INTO runs (started) VALUES (?)", (time.time(),)
            ).lastrowid
        return recovered

    def recover(self) -> int:
        """Turn rows a dead run left ``sending`` into ``unknown`` (those a receipt proved sent
        into ``sent``); returns how many. Only for the journal's holder (``exclusive``)."""
        with self._transaction():
            return self._recover()

    def _recover(self) -> int:
        # Holding the lock, every claim left is a dead run's.
        now = time.time()
        proved = "CASE WHEN message_id IS NOT NULL THEN 'sent' ELSE 'unknown' END"
        lost = "the run stopped while it was being sent: it may have been sent"
        claimed = self._db.execute(
            f"UPDATE rows SET state = {proved}, error = CASE WHEN message_id IS NULL THEN ? END,"
            f" updated = ?, sending_at = {_CLAIM_TIME} WHERE state = 'pending' AND {_CLAIMED}",
            (lost, now),
        ).rowcount
        self._db.execute("DELETE FROM claims")
        marked = self._db.execute(
            f"UPDATE rows SET state = {proved}, error = CASE WHEN message_id IS NULL THEN ? END,"
            " updated = ? WHERE state = 'sending'",
            (lost, now),
        ).rowcount
        return claimed + marked

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

    def states(self, chunk: int = 5000) -> Iterator[tuple[int, str, int, int | None]]:
        """(row, state, retryable, status) of every known row in row order.

        Read in chunks, each its own short read, so that no long-lived reader holds the
        write-ahead log back from being checkpointed during a long run.
        """
        after = -1
        while True:
            found: list[tuple[int, str, int, int | None]] = self._db.execute(
                "SELECT row, state, retryable, status FROM rows WHERE row > ? ORDER BY row LIMIT ?",
                (after, chunk),
            ).fetchall()
            if not found:
                return
            yield from found
            after = found[-1][0]

    def add_rows(self, rows: Iterable[tuple[int, str]]) -> int:
        """Insert every input row as ``pending``: (row, recipients). Returns how many."""
        count = 0
        with self._transaction():
            for chunk in _chunks(rows, _LOAD_CHUNK):
                self._db.execute(_load_statement(len(chunk)), [v for pair in chunk for v in pair])
                count += len(chunk)
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('rows', ?)", (str(count),))
        return count

    def mark_sending(self, rows: Iterable[tuple[int, str, str, int, str]]) -> None:
        """Durably mark rows ``sending``: (row, recipients, sender, segments, encoding)."""
        with self._transaction():
            self._mark(rows, time.time())

    def _mark(self, rows: Iterable[tuple[int, str, str, int, str]], now: float) -> None:
        # The recipients a row was loaded with stay: they are what duplicates are found by. An
        # `unknown` row sent again keeps its first send time, so that reconcile's window for
        # it still covers the send that may have reached Bandwidth.
        rows = list(rows)
        if not rows:  # a run's `pending` rows are marked by claims
            return
        self._db.executemany(
            "INSERT INTO rows (row, recipients, sender, state, segments, encoding, updated, "
            "sending_at) VALUES (?, ?, ?, 'sending', ?, ?, ?, ?) ON CONFLICT (row) DO UPDATE "
            "SET state = 'sending', recipients = CASE WHEN rows.recipients = '' THEN "
            "excluded.recipients ELSE rows.recipients END, sender = excluded.sender, "
            "segments = excluded.segments, encoding = excluded.encoding, "
            "updated = excluded.updated, sending_at = CASE WHEN rows.state = 'unknown' THEN "
            "COALESCE(rows.sending_at, excluded.sending_at) ELSE excluded.sending_at END",
            [(*r, now, now) for r in rows],
        )

    def record(
        self,
        updates: Iterable[RowUpdate],
        recipients: dict[int, str] | None = None,
        *,
        sent: Iterable[Sent] = (),
        sending: Iterable[tuple[int, str, str, int, str]] = (),
        claim: tuple[int, int] | None = None,
        settled_below: int | None = None,
        claims: Iterable[tuple[int, int]] = (),
    ) -> float:
        """Write outcomes, and mark more rows ``sending``, in one transaction.

        ``updates`` are written first (rows not yet known are inserted), and ``sent`` (rows
        sent: see :data:`~._journal.Sent`; no row in both), then ``sending`` as
        :meth:`mark_sending` does, then ``claim`` and ``claims`` (first row, last row):
        every ``pending`` row in one becomes ``sending`` until its outcome is written.
        ``settled_below`` drops the current run's claims that end before that row (every row
        of them has its outcome). A row whose message id a receipt already proved (matched
        by its tag while it was in flight) stays ``sent`` even when its send ended
        ``unknown``. A row put back to ``failed`` or ``unknown`` without an error keeps the
        one it had. Returns the time written (seconds since the epoch): a claim's time.
        """
        now = time.time()
        with self._transaction():
            self._record(updates, recipients or {}, now)
            self._record_sent(sent, now)
            self._mark(sending, now)
            ranges = [*claims] if claim is None else [claim, *claims]
            if ranges:
                run = self._run_id or 0
                self._db.executemany(
                    "INSERT INTO claims (run, first, last, at) VALUES (?, ?, ?, ?)",
                    [(run, first, last, now) for first, last in ranges],
                )
            if settled_below is not None:
                self._db.execute(
                    "DELETE FROM claims WHERE run = ? AND last < ?",
                    (self._run_id or 0, settled_below),
                )
        return now

    def _record(self, updates: Iterable[RowUpdate], recipients: dict[int, str], now: float) -> None:
        updates = list(updates)
        if not updates:  # most writes of a run: its rows sent come by _record_sent
            return
        proved = "excluded.state = 'unknown' AND rows.message_id IS NOT NULL"
        self._db.executemany(
            "INSERT INTO rows (row, recipients, state, message_id, error, status, retryable,"
            " attempts, updated, sender, segments, encoding, sending_at) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (row) DO "
            f"UPDATE SET state = CASE WHEN {proved} THEN 'sent' ELSE excluded.state END, "
            "message_id = COALESCE(excluded.message_id, rows.message_id), "
            f"error = CASE WHEN {proved} THEN NULL WHEN excluded.state IN ('failed', "
            "'unknown') THEN COALESCE(excluded.error, rows.error) ELSE excluded.error END, "
            "status = CASE WHEN excluded.state = 'failed' THEN COALESCE(excluded.status, "
            "rows.status) ELSE excluded.status END, "
            "retryable = excluded.retryable, attempts = rows.attempts + excluded.attempts,"
            " updated = excluded.updated, sender = COALESCE(excluded.sender, rows.sender), "
            "segments = COALESCE(excluded.segments, rows.segments), "
            "encoding = COALESCE(excluded.encoding, rows.encoding), sending_at = CASE WHEN "
            "rows.state = 'pending' THEN COALESCE(excluded.sending_at, rows.sending_at) "
            "ELSE rows.sending_at END",
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
                    u.sender,
                    u.segments,
                    u.encoding,
                    u.sending_at,
                )
                for u in updates
            ],
        )

    def _record_sent(self, sent: Iterable[Sent], now: float) -> None:
        sent = list(sent)
        if not sent:
            return
        written = self._db.executemany(_SENT, sent).rowcount
        if written < len(sent):  # rows the journal did not have (none once rows are loaded)
            rows = [s[-1] for s in sent]
            marks = ",".join("?" * len(rows))
            found = self._db.execute(f"SELECT row FROM rows WHERE row IN ({marks})", rows)
            known = {r for (r,) in found}
            self._record([sent_update(s) for s in sent if s[-1] not in known], {}, now)

    def duplicates(self, limit: int = 20) -> tuple[int, list[tuple[int, int]]]:
        """Rows whose recipients an earlier row has: how many, and the first ``limit`` as
        (row, the first row with those recipients)."""
        # Every row but the first of each set of recipients: rows less distinct recipients (a
        # quarter of the time of counting the pairs, which only the list needs).
        found = self._db.execute(
            "SELECT COUNT(*) - COUNT(DISTINCT recipients) FROM rows WHERE recipients != ''"
        ).fetchone()[0]
        if not (found and limit):
            return int(found), []
        first = self._db.execute(
            _DUPLICATES.format(select="r.row, f.first", tail="ORDER BY r.row LIMIT ?"), (limit,)
        ).fetchall()
        return int(found), [(int(row), int(earlier)) for row, earlier in first]

    def skip_duplicates(self) -> int:
        """Make every ``pending`` duplicate row (see :meth:`duplicates`) ``failed`` for good,
        naming its first row; returns how many."""
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE rows SET state = 'failed', retryable = 0, updated = ?, error = "
                "'a duplicate of row ' || (SELECT MIN(p.row) FROM rows p WHERE p.recipients = "
                "rows.recipients) || ': skipped (--dedupe)' WHERE state = 'pending' AND row IN "
                f"({_DUPLICATES.format(select='r.row', tail='')})",
                (time.time(),),
            )
        return cursor.rowcount

    def counts(self) -> dict[str, int]:
        """Rows by state."""
        found = dict(self._db.execute("SELECT state, COUNT(*) FROM rows GROUP BY state"))
        taken = self._db.execute(
            "SELECT COUNT(*) FROM claims c JOIN rows ON rows.row BETWEEN c.first AND c.last "
            "WHERE rows.state = 'pending'"
        ).fetchone()[0]
        found["pending"] = found.get("pending", 0) - taken
        found["sending"] = found.get("sending", 0) + taken
        return {state.value: found.get(state.value, 0) for state in RowState}

    def retryable_count(self) -> int:
        """``failed`` rows the next run tries again (a transient cause)."""
        found = self._db.execute(
            "SELECT COUNT(*) FROM rows WHERE state = 'failed' AND retryable = 1"
        ).fetchone()
        return int(found[0])

    def sent_segments(self) -> int:
        """Segments of every ``sent`` row (times its recipients): what the account paid for."""
        found = self._db.execute(
            "SELECT COALESCE(SUM(segments), 0) FROM rows WHERE state = 'sent'"
        ).fetchone()
        return int(found[0])

    def last_unknown(self) -> float | None:
        """When the latest ``unknown`` row became so (seconds since the epoch), or None."""
        found = self._db.execute("SELECT MAX(updated) FROM rows WHERE state = 'unknown'").fetchone()
        return None if found[0] is None else float(found[0])

    def top_errors(self, limit: int = 10) -> list[tuple[str, int | None, str, int]]:
        """(state, HTTP status or None, error, rows) of ``failed`` and ``unknown`` rows, the
        most frequent first."""
        return self._db.execute(
            "SELECT state, status, COALESCE(error, ''), COUNT(*) FROM rows "
            "WHERE state IN ('failed', 'unknown') GROUP BY state, status, error "
            "ORDER BY COUNT(*) DESC LIMIT ?",
            (limit,),
        ).fetchall()

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run a read-only query (for status and export)."""
        return self._db.execute(sql, params).fetchall()

    def rows(self) -> Iterator[sqlite3.Row]:
        """Every row in order, as sqlite3.Row mappings."""
        reader = self._connect() if self._readonly else sqlite3.connect(self.path)
        reader.row_factory = sqlite3.Row
        if self._readonly:
            _setup_readonly(reader)
        try:
            yield from reader.execute(
                f"SELECT row, recipients, sender, {_STATE} AS state, retryable, message_id, "
                "error, status, "
                "attempts, segments, encoding, updated, receipt, receipt_code, "
                "receipt_description, receipt_time, sending_at FROM rows ORDER BY row"
            )
        finally:
            reader.close()

    # -- receipts and reconciliation ---------------------------------------------------------------

    def receipt_counts(self) -> dict[str, int]:
        """Sent rows by receipt: ``delivered``, ``failed`` and ``awaiting`` (none yet)."""
        found = dict(
            self._db.execute(
                "SELECT COALESCE(receipt, 'awaiting'), COUNT(*) FROM rows "
                "WHERE state = 'sent' OR receipt IS NOT NULL GROUP BY receipt"
            ).fetchall()
        )
        return {key: found.get(key, 0) for key in ("delivered", "failed", "awaiting")}

    def receipt_failures(self, limit: int = 10) -> list[tuple[int | None, str, int]]:
        """(code, code in words, rows) of failed receipts, most frequent first."""
        found = self._db.execute(
            "SELECT receipt_code, COUNT(*) FROM rows WHERE receipt = 'failed' "
            "GROUP BY receipt_code ORDER BY COUNT(*) DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(code, describe_error(code) if code is not None else "", n) for code, n in found]

    def _row_of_tag(self, tag: str | None) -> int | None:
        # A campaign's default tag is bwmsg:<campaign>:<row>.
        if not tag or not tag.startswith("bwmsg:"):
            return None
        if self._campaign is None:
            self._campaign = self.meta().get("campaign", "")
        _, campaign, row = tag.split(":", 2) if tag.count(":") == 2 else ("", "", "")
        if campaign != self._campaign or not row.isdigit():
            return None
        return int(row)

    def apply_receipt(self, event: CallbackEvent) -> ReceiptResult:
        """Record one callback event against its row, found by message id or else by tag.

        ``message-delivered`` and ``message-failed`` set the row's receipt unless it has one
        already (so duplicates and late events change nothing); any status event whose tag
        names an ``unknown`` row (or one reconcile declared safe to resend) proves it was
        sent: the row becomes ``sent`` with the event's message id.
        """
        if not isinstance(event, StatusCallback):
            return ReceiptResult.UNMATCHED
        message_id = event.message.id
        now = time.time()
        result = ReceiptResult.UNCHANGED
        self._message_index()
        with self._transaction():
            found = self._db.execute(
                "SELECT row FROM rows WHERE message_id = ? LIMIT 1", (message_id,)
            ).fetchone()
            if found is None:
                row = self._row_of_tag(event.message.tag)
                if row is None:
                    return ReceiptResult.UNMATCHED
                hit = self._db.execute(
                    f"SELECT {_STATE}, message_id, error FROM rows WHERE row = ?", (row,)
                ).fetchone()
                if hit is None or hit[1] is not None:
                    return ReceiptResult.UNMATCHED  # unknown row, or another message of it
                state, _, error = hit
                if state == "unknown" or (state == "failed" and error == SAFE_TO_RESEND):
                    self._db.execute(
                        "UPDATE rows SET state = 'sent', message_id = ?, error = NULL, "
                        "retryable = 0, updated = ? WHERE row = ?",
                        (message_id, now, row),
                    )
                    result = ReceiptResult.SETTLED
                elif state in ("sending", "sent"):
                    # In flight (its answer not written yet): the runner keeps the id.
                    self._db.execute(
                        "UPDATE rows SET message_id = ? WHERE row = ?", (message_id, row)
                    )
                else:
                    return ReceiptResult.UNMATCHED
            else:
                row = found[0]
            if event.type is StatusType.DELIVERED or event.type is StatusType.FAILED:
                failed = event.type is StatusType.FAILED
                cursor = self._db.execute(
                    "UPDATE rows SET receipt = ?, receipt_code = ?, receipt_description = ?, "
                    "receipt_time = ? WHERE row = ? AND receipt IS NULL",
                    (
                        "failed" if failed else "delivered",
                        event.error_code if failed else None,
                        (event.description or event.error) if failed else None,
                        event.time.timestamp() if event.time is not None else now,
                        row,
                    ),
                )
                if cursor.rowcount and result is not ReceiptResult.SETTLED:
                    result = ReceiptResult.FAILED if failed else ReceiptResult.DELIVERED
        return result

    def unknown_rows(self) -> list[tuple[int, str, str | None, float | None, float | None]]:
        """(row, recipients, sender, sending_at, updated) of every ``unknown`` row."""
        return self._db.execute(
            "SELECT row, recipients, sender, sending_at, updated FROM rows "
            "WHERE state = 'unknown' ORDER BY row"
        ).fetchall()

    def has_message(self, message_id: str) -> bool:
        """Whether some row already holds ``message_id``."""
        self._message_index()
        found = self._db.execute(
            "SELECT 1 FROM rows WHERE message_id = ? LIMIT 1", (message_id,)
        ).fetchone()
        return found is not None

    def settle(self, row: int, message_id: str | None) -> bool:
        """Settle an ``unknown`` row: ``sent`` with ``message_id``, or (None) safe to resend.

        Safe to resend means ``failed`` and retryable, so that the next run sends it once.
        Returns False when the row was no longer ``unknown``.
        """
        with self._transaction():
            if message_id is not None:
                cursor = self._db.execute(
                    "UPDATE rows SET state = 'sent', message_id = ?, error = NULL, "
                    "retryable = 0, updated = ? WHERE row = ? AND state = 'unknown'",
                    (message_id, time.time(), row),
                )
            else:
                cursor = self._db.execute(
                    "UPDATE rows SET state = 'failed', retryable = 1, error = ?, updated = ? "
                    "WHERE row = ? AND state = 'unknown'",
                    (SAFE_TO_RESEND, time.time(), row),
                )
        return cursor.rowcount == 1

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a sound database."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def _message_index(self) -> None:
        """Make the index of message ids before the first lookup by one (see _MESSAGE_INDEX);
        a journal made before it was partial keeps its full one."""
        if self._indexed or self._readonly:
            return
        self._indexed = True
        if not self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'rows_message_id'"
        ).fetchone():
            self._db.execute(_MESSAGE_INDEX)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _chunks(items: Iterable[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    """``items`` in lists of ``size`` (the last shorter)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


@lru_cache(maxsize=4)
def _load_statement(rows: int) -> str:
    """The INSERT of ``rows`` loaded rows: (row, recipients) each, ``pending``."""
    values = ",".join(["(?, ?, 'pending')"] * rows)
    return f"INSERT OR IGNORE INTO rows (row, recipients, state) VALUES {values}"


def _now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _setup_readonly(db: sqlite3.Connection) -> None:
    """A connection that only reads: it waits for writers, and sees no claims in a journal made
    before there were any."""
    db.execute("PRAGMA busy_timeout=5000")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    if "claims" not in tables:
        db.execute("CREATE TEMP TABLE claims (first INTEGER, last INTEGER, at REAL)")
    db.execute("PRAGMA query_only=1")
