"""Opt-outs: the numbers a campaign must never text, and the keywords that add or lift one.

An opt-out is of a number and applies to every sending number of the account (a reply STOP to
one of them stops them all). The store is a SQLite file (here) or a PostgreSQL database; every
operation is async so that both can sit behind the same face. The keyword rule is the one the
FCC's 2024 revocation rule names (47 CFR 64.1200(a)(10)): STOP, STOPALL, UNSUBSCRIBE, CANCEL,
END, QUIT, REVOKE or OPT OUT as the whole message, in any case, with spaces and punctuation
around it ignored; START or UNSTOP takes it back. "Stop by later" is not an opt-out.
"""

from __future__ import annotations

import csv
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .._text_enum import TextEnum
from ..callbacks import InboundCallback, InboundType

__all__ = [
    "Keyword",
    "OptOutStore",
    "SqliteOptOuts",
    "apply_keyword",
    "check_number",
    "keyword_of",
    "read_numbers",
]

_STOP = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT"})
_START = frozenset({"START", "UNSTOP"})
_AROUND = re.compile(r"^[\W_]+|[\W_]+$")  # punctuation and spaces at either end
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


class Keyword(TextEnum):
    """What an inbound message's text does to its sender's opt-out."""

    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"


def _word(text: str | None) -> str:
    """The text as a keyword would be: trimmed of spaces and punctuation, upper case."""
    return " ".join(_AROUND.sub("", text).split()).upper() if text else ""


def keyword_of(text: str | None) -> Keyword | None:
    """The opt-out keyword ``text`` is as a whole message, or None."""
    word = _word(text)
    if word in _STOP:
        return Keyword.OPT_OUT
    if word in _START:
        return Keyword.OPT_IN
    return None


async def apply_keyword(store: OptOutStore, event: object) -> Keyword | None:
    """Record ``event`` in ``store`` when it is an inbound message whose whole text is an
    opt-out keyword (its sender opted out) or START/UNSTOP (taken back); what it did."""
    if not isinstance(event, InboundCallback) or event.type is not InboundType.RECEIVED:
        return None
    sender = event.message.from_
    word = keyword_of(event.message.text)
    if word is None or not sender or not _E164.fullmatch(sender):
        return None
    if word is Keyword.OPT_OUT:
        await store.add([sender], source=f"inbound {_word(event.message.text)}")
    else:
        await store.remove([sender])
    return word


def check_number(value: str) -> str:
    """``value`` as an E.164 number (spaces, dashes, dots and brackets dropped).

    Raises:
        ValueError: naming the value and the form expected.
    """
    number = re.sub(r"[\s().-]", "", value)
    if not _E164.fullmatch(number):
        raise ValueError(
            f"{value!r} is not a phone number in E.164 form: + then the country code and "
            "number, digits only (e.g. +19195551212)"
        )
    return number


def read_numbers(path: Path) -> Iterator[str]:
    """The numbers of a file: one a line, or a CSV whose header has a ``number``, ``phone``,
    ``to`` or ``from`` column (the first found). Blank lines are skipped.

    Raises:
        ValueError: a line that is not a number (naming the line), or no column to read.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        first = handle.readline()
        handle.seek(0)
        if "," not in first:
            for line_no, line in enumerate(handle, 1):
                if line.strip():
                    yield _numbered(line.strip(), path, line_no)
            return
        reader = csv.DictReader(handle)
        columns = {name.strip().lower(): name for name in reader.fieldnames or ()}
        column = next((columns[c] for c in ("number", "phone", "to", "from") if c in columns), None)
        if column is None:
            raise ValueError(
                f"{path}: no column to read numbers from: name one number, phone, to or from"
            )
        for line_no, row in enumerate(reader, 2):
            value = (row.get(column) or "").strip()
            if value:
                yield _numbered(value, path, line_no)


def _numbered(value: str, path: Path, line_no: int) -> str:
    try:
        return check_number(value)
    except ValueError as exc:
        raise ValueError(f"{path}, line {line_no}: {exc}") from None


class OptOutStore:
    """Where opted-out numbers are kept (SQLite or PostgreSQL)."""

    where: str
    """The store as it may be shown (a URL without its password)."""

    async def add(self, numbers: Iterable[str], source: str = "manual") -> int:
        """Opt ``numbers`` out (``source`` says how: manual, import, an inbound STOP); returns
        how many were not opted out before."""
        raise NotImplementedError

    async def remove(self, numbers: Iterable[str]) -> int:
        """Lift the opt-outs of ``numbers``; returns how many there were."""
        raise NotImplementedError

    async def opted_out(self, numbers: Iterable[str]) -> set[str]:
        """Which of ``numbers`` are opted out."""
        raise NotImplementedError

    async def entries(self) -> list[tuple[str, float, str]]:
        """Every opt-out: (number, when as a Unix time, source), by number."""
        raise NotImplementedError

    async def count(self) -> int:
        """How many numbers are opted out."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Let the store go."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS opt_outs (
    number TEXT PRIMARY KEY,
    at REAL NOT NULL,
    source TEXT NOT NULL
)
"""


class SqliteOptOuts(OptOutStore):
    """Opt-outs in a SQLite file, shared by the processes that use it (WAL, a busy wait)."""

    def __init__(self, path: str | Path) -> None:
        self.where = str(path)
        try:
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise ValueError(f"cannot use {path} as an opt-out store: {exc}") from exc

    async def add(self, numbers: Iterable[str], source: str = "manual") -> int:
        now = time.time()
        rows = [(check_number(n), now, source) for n in numbers]
        with self._db:
            before = self._db.total_changes
            self._db.executemany(
                "INSERT INTO opt_outs (number, at, source) VALUES (?, ?, ?) "
                "ON CONFLICT (number) DO NOTHING",
                rows,
            )
            return self._db.total_changes - before

    async def remove(self, numbers: Iterable[str]) -> int:
        rows = [(check_number(n),) for n in numbers]
        with self._db:
            before = self._db.total_changes
            self._db.executemany("DELETE FROM opt_outs WHERE number = ?", rows)
            return self._db.total_changes - before

    async def opted_out(self, numbers: Iterable[str]) -> set[str]:
        wanted = list(set(numbers))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):  # within SQLite's bound on parameters
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT number FROM opt_outs WHERE number IN ({marks})"
            found.update(row[0] for row in self._db.execute(query, chunk))
        return found

    async def entries(self) -> list[tuple[str, float, str]]:
        query = "SELECT number, at, source FROM opt_outs ORDER BY number"
        return [(str(n), float(at), str(src)) for n, at, src in self._db.execute(query)]

    async def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM opt_outs").fetchone()[0])

    async def aclose(self) -> None:
        self._db.close()
