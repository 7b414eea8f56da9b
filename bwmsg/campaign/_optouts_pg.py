"""Opt-outs in PostgreSQL: one table shared by every worker, listener and command of a fleet.

asyncpg is imported only when such a store is opened (extra ``bwmsg[postgres]``); the URL's
password never appears in a message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from ._optouts import OptOutStore, check_number
from ._urls import database_address, redacted, unusable_database

__all__ = ["PostgresOptOuts"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bwmsg_opt_outs (
    number text PRIMARY KEY,
    at double precision NOT NULL,
    source text NOT NULL
)
"""


class PostgresOptOuts(OptOutStore):
    """Opt-outs in a PostgreSQL database (``postgresql://user:pass@host:port/dbname``); the
    table is made on first use. Open with :meth:`open`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = redacted(url)
        self._pool: Any = None

    async def open(self) -> PostgresOptOuts:
        """Connect and make the table if need be.

        Raises:
            ValueError: the database cannot be reached or used (saying where, without the
                password), or asyncpg is not installed.
        """
        try:
            import asyncpg
        except ImportError:
            raise ValueError(
                "a PostgreSQL opt-out store needs asyncpg: pip install 'bwmsg[postgres]'"
            ) from None
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=2)
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('bwmsg-opt-outs'))")
                await conn.execute(_SCHEMA)
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, ValueError) as exc:
            await self.aclose()
            raise ValueError(
                f"cannot use {self.where} as an opt-out store at "
                f"{database_address(self.url, self.where)} {unusable_database(exc, self.url)}"
            ) from None
        return self

    async def add(self, numbers: Iterable[str], source: str = "manual") -> int:
        wanted = sorted({check_number(n) for n in numbers})
        status = await self._pool.execute(
            "INSERT INTO bwmsg_opt_outs (number, at, source) "
            "SELECT unnest($1::text[]), $2, $3 ON CONFLICT (number) DO NOTHING",
            wanted,
            time.time(),
            source,
        )
        return _changed(status)

    async def remove(self, numbers: Iterable[str]) -> int:
        wanted = sorted({check_number(n) for n in numbers})
        status = await self._pool.execute(
            "DELETE FROM bwmsg_opt_outs WHERE number = ANY($1::text[])", wanted
        )
        return _changed(status)

    async def opted_out(self, numbers: Iterable[str]) -> set[str]:
        rows = await self._pool.fetch(
            "SELECT number FROM bwmsg_opt_outs WHERE number = ANY($1::text[])", list(set(numbers))
        )
        return {str(row["number"]) for row in rows}

    async def entries(self) -> list[tuple[str, float, str]]:
        rows = await self._pool.fetch(
            "SELECT number, at, source FROM bwmsg_opt_outs ORDER BY number"
        )
        return [(str(r["number"]), float(r["at"]), str(r["source"])) for r in rows]

    async def count(self) -> int:
        return int(await self._pool.fetchval("SELECT count(*) FROM bwmsg_opt_outs"))

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


def _changed(status: str) -> int:
    """Rows a statement changed, from its status text (``INSERT 0 3``, ``DELETE 2``)."""
    return int(status.rsplit(" ", 1)[-1])
