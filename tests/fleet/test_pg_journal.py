"""The campaign journal interface on both engines, and PostgreSQL's claims and leases, against a
real PostgreSQL started by the test (tests/postgres_server.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bwmsg.campaign import (
    CampaignJournal,
    ClaimRules,
    JournalUrlError,
    LeaseLost,
    RowState,
    RowUpdate,
    UnknownCampaign,
    open_journal,
)
from bwmsg.campaign._journal import LoadedRow, Mark
from bwmsg.campaign._postgres import PostgresJournal
from tests.postgres_server import PASSWORD, pg_server, pg_url  # noqa: F401 - fixtures

BODY = {"to": ["+19195551212"], "from": "+19195550000", "text": "hi"}


@pytest.fixture(params=["sqlite", "postgresql"])
async def journal(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CampaignJournal]:
    """A journal bound to a campaign of 5 rows, on each engine."""
    spec: str | Path = (
        tmp_path / "run.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    )
    async with open_journal(spec, exclusive=True, lease=2) as db:
        assert await db.bind("f" * 64, input="x.csv", campaign="c0ffee")
        loaded = [LoadedRow(i, f"+1919555{i:04d}", request=BODY) for i in range(1, 6)]
        assert await db.add_rows(loaded) == 5
        yield db


def _mark(row: int) -> Mark:
    return Mark(row, f"+1919555{row:04d}", "+19195550000", 1, "GSM-7", True)


async def test_counts_and_outcomes_agree_on_both_engines(journal: CampaignJournal) -> None:
    """Marking rows sending and writing their outcomes gives the same counts on either engine."""
    await journal.start_run()
    if journal.shared:
        claimed = await journal.claim(3, ClaimRules())
        assert claimed is not None
        assert [c.row for c in claimed] == [1, 2, 3]
    await journal.record([], sending=[_mark(1), _mark(2), _mark(3)])
    assert (await journal.counts())["sending"] == 3
    await journal.record(
        [
            RowUpdate(1, RowState.SENT, message_id="m1", attempts=1, segments=1),
            RowUpdate(2, RowState.FAILED, error="boom", status=500, retryable=True),
            RowUpdate(3, RowState.PENDING),
        ],
        settled_below=4,
    )
    counts = await journal.counts()
    assert counts == {
        "pending": 3,
        "sending": 0,
        "sent": 1,
        "failed": 1,
        "unknown": 0,
        "suppressed": 0,
    }
    assert await journal.retryable_count() == 1
    assert await journal.sent_segments() == 1
    assert await journal.has_message("m1")
    rows = [dict(r) async for r in journal.rows()]
    assert [r["state"] for r in rows] == ["sent", "failed", "pending", "pending", "pending"]
    await journal.end_run("finished")
    assert (await journal.runs())[-1][2] == "finished"


async def test_settle_makes_unknown_rows_sent_on_both_engines(journal: CampaignJournal) -> None:
    """An unknown row settles as sent with its id, once."""
    await journal.start_run()
    if journal.shared:
        await journal.claim(1, ClaimRules())
    await journal.record([], sending=[_mark(1)])
    await journal.record([RowUpdate(1, RowState.UNKNOWN, error="dropped")], settled_below=2)
    assert [r[0] for r in await journal.unknown_rows()] == [1]
    assert await journal.settle(1, "m-found")
    assert not await journal.settle(1, "m-found")
    assert (await journal.counts())["sent"] == 1


async def _worker(url: str, lease: float) -> CampaignJournal:
    db = open_journal(url, exclusive=True, lease=lease)
    await db.__aenter__()
    await db.use_campaign(None)
    await db.start_run()
    return db


async def _loaded(url: str, rows: int) -> None:
    async with open_journal(url, exclusive=True) as db:
        await db.bind("a" * 64, input="x.csv", campaign="camp1")
        await db.add_rows(LoadedRow(i, f"+1{i}", request=BODY) for i in range(1, rows + 1))


async def test_two_workers_never_claim_the_same_row(pg_url: str) -> None:  # noqa: F811
    """Claims by two workers at once (SKIP LOCKED) split the rows: none is taken twice."""
    await _loaded(pg_url, 200)
    a, b = await _worker(pg_url, 30), await _worker(pg_url, 30)
    try:
        taken: list[int] = []
        while True:
            got = await asyncio.gather(a.claim(7, ClaimRules()), b.claim(7, ClaimRules()))
            rows = [c.row for claim in got if claim for c in claim]
            if not rows:
                break
            taken += rows
        assert sorted(taken) == list(range(1, 201))
        assert await a.claim(7, ClaimRules()) == []  # b still holds rows: they may come back
    finally:
        for db in (a, b):
            await db.close()


async def test_an_expired_lease_is_settled_by_the_next_claim(pg_url: str) -> None:  # noqa: F811
    """A worker that stops renewing: its sending rows become unknown, its claimed-not-sent rows
    pending again, once its lease (on the database's clock) has run out; never before."""
    await _loaded(pg_url, 10)
    dead = await _worker(pg_url, 1.5)
    assert isinstance(dead, PostgresJournal)
    assert dead.renewer is not None
    dead.renewer.cancel()  # as if killed: no more renewals
    claimed = await dead.claim(4, ClaimRules())
    assert claimed is not None
    await dead.record([], sending=[_mark(1), _mark(2)])
    alive = await _worker(pg_url, 30)
    try:
        first = await alive.claim(10, ClaimRules())
        assert first is not None
        assert [c.row for c in first] == list(range(5, 11))
        assert (await alive.counts())["unknown"] == 0  # the lease has not run out yet
        again: list[int] = []
        for _ in range(100):  # the database's clock decides; look until it has run out
            found = await alive.claim(10, ClaimRules())
            if found:
                again = [c.row for c in found]
                break
            await asyncio.sleep(0.1)
        assert again == [3, 4]
        counts = await alive.counts()
        assert counts["unknown"] == 2
        with pytest.raises(LeaseLost):
            await dead.record([], sending=[_mark(3)])
        # What the dead worker learnt since still counts for the rows it was sending.
        await dead.record([RowUpdate(1, RowState.SENT, message_id="late")])
        assert (await alive.counts())["sent"] == 1
    finally:
        await dead.close()
        await alive.close()


async def test_renewal_keeps_the_lease(pg_url: str) -> None:  # noqa: F811
    """A worker that renews keeps its rows past the lease's length."""
    await _loaded(pg_url, 4)
    worker = await _worker(pg_url, 1.0)
    try:
        await worker.claim(2, ClaimRules())
        await asyncio.sleep(2.5)  # the lease's length is what is tested: time must pass
        await worker.record([], sending=[_mark(1), _mark(2)])  # no LeaseLost
        other = await _worker(pg_url, 30)
        got = await other.claim(10, ClaimRules())
        assert got is not None
        assert [c.row for c in got] == [3, 4]
        await other.close()
    finally:
        await worker.close()


async def test_unknown_campaign_lists_the_ones_there(pg_url: str) -> None:  # noqa: F811
    """--campaign naming no campaign lists those that exist."""
    await _loaded(pg_url, 1)
    async with open_journal(pg_url) as db:
        with pytest.raises(UnknownCampaign, match="camp1"):
            await db.use_campaign("nope")


async def test_unreachable_database_names_host_port_never_the_password() -> None:
    """A database that cannot be reached: host:port in the error, the password never."""
    url = f"postgresql://bwmsg:{PASSWORD}@127.0.0.1:1/none"
    with pytest.raises(JournalUrlError) as caught:
        async with open_journal(url):
            pass
    assert "127.0.0.1:1" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(open_journal(url))
