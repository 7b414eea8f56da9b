"""Campaign safety in the library: the journal's lock, the bound on `sending`, clean stops.

In-process against the simulator (the command-level cases are in test_campaign_safety.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bwmsg import RateLimit
from bwmsg.campaign import (
    CampaignProgress,
    Journal,
    JournalBusy,
    PreflightError,
    RowState,
    RowUpdate,
    Template,
    preflight,
    run_campaign,
)
from bwmsg.simulator import Faults, Simulator
from tests.campaign.test_campaign import TEMPLATE, journal_rows, people, sender_for, write_csv


def sending_now(journal: Path) -> int:
    with Journal(journal) as db:  # as `status` reads it: claimed rows count as sending
        return db.counts()["sending"]


def test_a_second_exclusive_journal_is_refused_and_names_the_holder(tmp_path: Path) -> None:
    """The lock holds within one process too, names this pid, and is free once closed."""
    path = tmp_path / "j.db"
    with Journal(path, exclusive=True, command="bwmsg campaign run x"):
        with pytest.raises(JournalBusy) as caught:
            Journal(path, exclusive=True)
        assert caught.value.pid == os.getpid()
        assert caught.value.command == "bwmsg campaign run x"
        assert f"pid {os.getpid()}" in str(caught.value)
        with Journal(path) as reader:  # readers need no lock
            assert reader.counts()["pending"] == 0
    with Journal(path, exclusive=True):
        pass


HOLDER = textwrap.dedent(
    """
    import sys, time
    from bwmsg.campaign import Journal
    journal = Journal(sys.argv[1], exclusive=True)
    print("holding", flush=True)
    time.sleep(60)
    """
)


def test_a_dead_holder_leaves_the_journal_free(tmp_path: Path) -> None:
    """Another process holds it (named by pid); once SIGKILLed, the journal is taken over."""
    path = tmp_path / "j.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(JournalBusy) as caught:
            Journal(path, exclusive=True)
        assert caught.value.pid == holder.pid
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with Journal(path, exclusive=True) as journal:
            assert journal.integrity() == "ok"
    finally:
        holder.kill()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()


@pytest.mark.parametrize("concurrency", [4, 32])
async def test_sending_rows_never_exceed_twice_concurrency_plus_10(
    tmp_path: Path, concurrency: int
) -> None:
    """Read at every flush of a run with latency: `sending` rows stay within the bound."""
    recipients = write_csv(tmp_path / "r.csv", people(1500))
    journal = tmp_path / "j.db"
    seen: list[int] = []

    def watch(_: CampaignProgress) -> None:
        seen.append(sending_now(journal))

    async with (
        Simulator(faults=Faults(latency=0.003)) as sim,
        sender_for(sim, concurrency=concurrency) as sender,
    ):
        summary = await run_campaign(
            sender, recipients, journal, TEMPLATE, progress=watch, flush_interval=0.01
        )
    assert summary.complete
    assert summary.sent == 1500
    assert len(seen) > 10
    assert max(seen) <= 2 * concurrency + 10
    assert max(seen) >= concurrency  # the window was used: the bound is not met by idling


async def test_a_stop_puts_unwritten_rows_back_where_they_were(tmp_path: Path) -> None:
    """pending stays pending, and an unknown row resent with resend_unknown stays unknown
    (with its first send time) when the stop comes before its request is written."""
    recipients = write_csv(tmp_path / "r.csv", people(30))
    journal = tmp_path / "j.db"
    async with Simulator() as sim:
        async with sender_for(sim) as sender:
            await run_campaign(sender, recipients, journal, TEMPLATE)
        with (
            contextlib.closing(sqlite3.connect(journal)) as db,
            db,
        ):  # as if rows 1-10 had been in flight at a crash
            db.execute(
                "UPDATE rows SET state = 'unknown', message_id = NULL, sending_at = 1000 "
                "WHERE row <= 10"
            )
            db.execute("UPDATE rows SET state = 'pending', message_id = NULL WHERE row > 20")
        stop = asyncio.Event()

        def stop_at_once(_: CampaignProgress) -> None:
            stop.set()

        sim.reset()
        async with sender_for(sim, concurrency=2, rate=RateLimit(1, burst=1)) as sender:
            summary = await run_campaign(
                sender,
                recipients,
                journal,
                TEMPLATE,
                resend_unknown=True,
                stop=stop,
                progress=stop_at_once,
                flush_interval=0,
            )
    rows = journal_rows(journal)
    sent_again = {m.to[0] for m in sim.accepted}
    assert summary.stopped == "interrupted"
    for row, record in rows.items():
        if record["recipients"] in sent_again:
            assert record["state"] == "sent"
        elif row <= 10:
            assert record["state"] == "unknown", row
        elif row <= 20:
            assert record["state"] == "sent"
        else:
            assert record["state"] == "pending", row
    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        kept = db.execute(
            "SELECT COUNT(*) FROM rows WHERE row <= 10 AND state = 'unknown' AND sending_at = 1000"
        ).fetchone()[0]
    assert kept == sum(1 for r in range(1, 11) if rows[r]["state"] == "unknown")
    assert len(sim.accepted) <= 2


async def test_dedupe_skips_rows_whose_recipients_came_before(tmp_path: Path) -> None:
    """Duplicates are counted; with dedupe only the first row of each number is sent."""
    rows = people(10)
    rows += [dict(rows[2]), {"to": f"{rows[4]['to']};{rows[5]['to']}", "name": "group"}]
    rows += [{"to": f"{rows[5]['to']}; {rows[4]['to']}", "name": "same group"}]
    recipients = write_csv(tmp_path / "r.csv", rows)
    async with Simulator() as sim, sender_for(sim) as sender:
        summary = await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE, dedupe=True)
    assert summary.duplicates == 2  # row 11 repeats row 3; row 13 repeats the group of row 12
    numbers = [m.to for m in sim.accepted]
    assert len(numbers) == len(set(numbers)) == 11
    failed = {r: x["error"] for r, x in journal_rows(tmp_path / "j.db").items() if x["error"]}
    assert failed == {
        11: "a duplicate of row 3: skipped (--dedupe)",
        13: "a duplicate of row 12: skipped (--dedupe)",
    }


def test_preflight_names_missing_columns_and_the_sending_number(tmp_path: Path) -> None:
    """A template gap and a missing --from are found from the header, both in one error."""
    recipients = write_csv(tmp_path / "r.csv", people(3))
    preflight(recipients, TEMPLATE)
    with pytest.raises(PreflightError) as caught:
        preflight(recipients, Template(text="Hi {nmae} {name.title}"))
    message = str(caught.value)
    assert "{nmae}" in message
    assert "name" in message
    assert "--from" in message
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text('{"to": "+19195550001"}\n{"to": "+19195550002", "code": "1"}\n')
    preflight(jsonl, Template(text="{code}", from_="+19195550000"))  # one row has it
    with pytest.raises(PreflightError):
        preflight(jsonl, Template(text="{nope}", from_="+19195550000"))


def test_a_symlink_to_the_journal_meets_the_same_lock(tmp_path: Path) -> None:
    """The lock is found through the real path: another name for the file is refused too."""
    path = tmp_path / "j.db"
    alias = tmp_path / "alias.db"
    with Journal(path, exclusive=True):
        alias.symlink_to(path)
        with pytest.raises(JournalBusy):
            Journal(alias, exclusive=True)
    assert (tmp_path / "j.db-lock").exists()
    assert not (tmp_path / "alias.db-lock").exists()


def _claimed_journal(path: Path) -> None:
    """A journal as a run that died leaves it: rows 1-6 pending, rows 2-4 claimed by it (row 3
    proved sent by a receipt that came in flight), row 4 already answered."""
    with Journal(path, exclusive=True) as db:
        db.add_rows((row, f"+1919555000{row}") for row in range(1, 7))
        db.start_run()
        db.record([], claim=(2, 4))
        db.record([RowUpdate(4, RowState.SENT, message_id="m-4", attempts=1)])
        with contextlib.closing(sqlite3.connect(path)) as raw, raw:
            raw.execute("UPDATE rows SET message_id = 'm-3' WHERE row = 3")


def test_claimed_rows_read_as_sending_and_a_dead_runs_claims_become_unknown(
    tmp_path: Path,
) -> None:
    """A claim marks its pending rows `sending` for every reader; the next holder turns them
    `unknown` (or `sent` when a receipt proved them) with the claim's time, and drops it."""
    path = tmp_path / "j.db"
    _claimed_journal(path)
    with Journal(path) as db:
        assert db.counts() == {
            "pending": 3,
            "sending": 2,
            "sent": 1,
            "failed": 0,
            "unknown": 0,
            "suppressed": 0,
        }
        assert [r["state"] for r in db.rows()] == ["pending", "sending", "sending", "sent"] + [
            "pending"
        ] * 2
        claimed_at = db.query("SELECT at FROM claims")[0][0]
    with Journal(path, exclusive=True) as db:
        assert db.recover() == 2
        assert db.query("SELECT COUNT(*) FROM claims") == [(0,)]
        got = db.query("SELECT row, state, sending_at, message_id FROM rows WHERE row IN (2, 3)")
        assert got == [(2, "unknown", claimed_at, None), (3, "sent", claimed_at, "m-3")]
        assert db.counts()["pending"] == 3


async def test_a_finished_run_leaves_no_claim_and_writes_each_send_once(tmp_path: Path) -> None:
    """Claims last only while their rows are in flight; each sent row carries its sender,
    segments, encoding and the time it was taken, written with its outcome."""
    recipients = write_csv(tmp_path / "r.csv", people(300))
    journal = tmp_path / "j.db"
    claims: list[int] = []

    def watch(_: CampaignProgress) -> None:
        with contextlib.closing(sqlite3.connect(journal)) as db, db:
            claims.append(int(db.execute("SELECT COUNT(*) FROM claims").fetchone()[0]))

    async with Simulator() as sim, sender_for(sim, concurrency=8) as sender:
        summary = await run_campaign(
            sender, recipients, journal, TEMPLATE, progress=watch, flush_interval=0
        )
    assert summary.complete
    assert summary.sent == 300
    assert max(claims) <= 2 * 8 + 10  # pruned as the run goes: never one per batch of the run
    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        assert db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
        blank = db.execute(
            "SELECT COUNT(*) FROM rows WHERE sender IS NULL OR segments IS NULL OR encoding "
            "IS NULL OR sending_at IS NULL"
        ).fetchone()[0]
    assert blank == 0
