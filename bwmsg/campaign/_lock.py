"""The journal's lock: one process at a time decides what to send from a journal.

An ``flock`` on the journal's ``-lock`` file (``run.db-lock`` beside ``run.db``, found through
the real path, so a symlink leads to the same lock) held for as long as the journal is open
with ``exclusive=True``. The kernel drops it when the process ends, however it ends, so a
journal whose holder died is taken over by the next run with no manual step. It is not on the
database file itself: closing a descriptor of that file would drop the POSIX locks SQLite
holds on it for the process's other connections. The holder writes who it is into the
journal's ``holder`` table; a refused process names it (:class:`JournalBusy`). For local file
systems: over NFS, ``flock`` may not exclude a process on another machine.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sqlite3
import time
from pathlib import Path

from .._errors import BwmsgError

__all__ = ["JournalBusy", "lock", "lock_path"]


class JournalBusy(BwmsgError, RuntimeError):
    """Another live process holds the journal (``campaign run``, ``worker`` or ``reconcile``).

    Attributes:
        path: the journal.
        pid: the holder's process id, or None when it is still starting and has not said.
        host: the holder's host name, or None.
        since: when the holder took the journal (seconds since the epoch), or None.
        command: the holder's command line (secrets hidden), or None.
    """

    def __init__(
        self,
        path: Path,
        pid: int | None = None,
        host: str | None = None,
        since: float | None = None,
        command: str | None = None,
    ) -> None:
        self.path = path
        self.pid = pid
        self.host = host
        self.since = since
        self.command = command
        if pid is None:
            who = "another process that is still starting"
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(since or 0))
            who = f"pid {pid} on {host} since {when}" + (f" ({command})" if command else "")
        super().__init__(
            f"the journal {path} is in use by {who}: only one process may send from a journal "
            "at a time. Wait for it to finish (or stop it), then run again; `bwmsg campaign "
            "status` works beside it."
        )


def lock_path(path: str | Path) -> Path:
    """The file whose ``flock`` says who sends from the journal at ``path``."""
    real = Path(os.path.realpath(path))
    return real.with_name(real.name + "-lock")


def lock(path: Path) -> int:
    """Take the journal's lock (an ``flock`` on its ``-lock`` file) or raise JournalBusy.

    The lock file is never removed: a process that opened it just before a removal would lock
    a file nobody else sees.
    """
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(lock_path(path), flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _busy(path) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _busy(path: Path, wait: float = 2.0) -> JournalBusy:
    """Name the live holder of ``path``; a holder still starting gets ``wait`` s to say."""
    host = socket.gethostname()
    give_up = time.monotonic() + wait
    while True:
        holder = _read_holder(path)
        if holder is not None:
            pid, where, since, command = holder
            if where != host or _alive(pid):
                return JournalBusy(path, pid, where, since, command)
        if time.monotonic() > give_up:
            return JournalBusy(path)
        time.sleep(0.02)  # the holder is between its lock and its first write


def _read_holder(path: Path) -> tuple[int, str, float, str] | None:
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        found = db.execute("SELECT pid, host, since, command FROM holder WHERE id = 1").fetchone()
    except sqlite3.Error:  # a new file, or one the holder is still setting up
        return None
    finally:
        db.close()
    return None if found is None else (int(found[0]), str(found[1]), float(found[2]), found[3])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
