"""The PostgreSQL journal writes a worker's changes one at a time, in the order they were asked
for: a commit that marks rows `sending` never lands while an earlier flush of outcomes is still
open, so a kill between them cannot leave more rows `sending` than the runner's bound (the kill
test found 43 against a bound of 30 before this)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bwmsg.campaign import ClaimRules, RowState, RowUpdate, open_journal
from bwmsg.campaign._journal import LoadedRow, Mark
from tests.postgres_server import pg_server, pg_url  # noqa: F401 - fixtures

BODY = {"to": ["+19195551212"], "from": "+19195550000", "text": "hi"}


def _mark(row: int) -> Mark:
    return Mark(row, f"+1919555{row:04d}", "+19195550000", 1, "GSM-7", True)


async def test_a_mark_waits_for_the_flush_asked_before_it(pg_url: str) -> None:  # noqa: F811
    """record(outcomes) held up by a row lock, then record(marks): the marks commit only after
    the outcomes did."""
    async with open_journal(pg_url, exclusive=True) as db:
        await db.bind("b" * 64, input="x.csv", campaign="order1")
        await db.add_rows(LoadedRow(i, f"+1{i}", request=BODY) for i in range(1, 5))
        await db.start_run()
        assert await db.claim(4, ClaimRules())
        await db.record([], sending=[_mark(1)])
        blocker = await asyncpg.connect(pg_url)
        try:
            holding = blocker.transaction()
            await holding.start()
            await blocker.execute("SELECT 1 FROM bwmsg_rows WHERE row = 1 FOR UPDATE")
            flush = asyncio.ensure_future(
                db.record([RowUpdate(1, RowState.SENT, message_id="m1", attempts=1)])
            )
            await asyncio.sleep(0)  # the flush asks first (as the runner's write does)
            mark = asyncio.ensure_future(db.record([], sending=[_mark(2), _mark(3)]))
            with pytest.raises(asyncio.TimeoutError):
                # Nothing to await for "not yet": give the mark a moment to (wrongly) commit.
                await asyncio.wait_for(asyncio.shield(mark), 0.5)
            assert (await db.counts())["sending"] == 1
            await holding.rollback()
            await asyncio.gather(flush, mark)
        finally:
            await blocker.close()
        counts = await db.counts()
        assert counts["sent"] == 1
        assert counts["sending"] == 2
        await db.end_run("finished")
