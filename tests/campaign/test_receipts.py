"""Receipts in the campaign journal, Sender.list_messages, and reconcile, against the simulator."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bwmsg import MessageSummary, RetryPolicy
from bwmsg.callbacks import CallbackEvent, CallbackServer, parse_events
from bwmsg.campaign import Journal, ReceiptResult, reconcile, run_campaign
from bwmsg.simulator import Callbacks, Faults, Simulator
from tests.campaign.test_campaign import TEMPLATE, journal_rows, people, sender_for, write_csv


def status_event(kind: str, message_id: str, tag: str | None = None, code: int | None = None):  # type: ignore[no-untyped-def]
    body: dict[str, Any] = {
        "type": kind,
        "time": "2025-01-06T15:43:35.502180Z",
        "to": "+19190000000",
        "description": "x",
        "message": {"id": message_id, "to": ["+19190000000"], "from": "+19195550000"},
    }
    if tag is not None:
        body["message"]["tag"] = tag
    if code is not None:
        body["errorCode"] = code
    (event,) = parse_events(body)
    return event


async def send_campaign(tmp_path: Path, n: int) -> tuple[Path, list[Any]]:
    recipients = write_csv(tmp_path / "r.csv", people(n))
    async with Simulator(seed=1) as sim, sender_for(sim) as sender:
        await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        return tmp_path / "j.db", list(sim.accepted)


async def test_campaign_receipts_match_what_the_simulator_decided(tmp_path: Path) -> None:
    """With duplicated, reordered callbacks, delivered/failed counts equal the simulator's."""
    recipients = write_csv(tmp_path / "r.csv", people(400))
    journal = tmp_path / "j.db"
    with Journal(journal) as db:

        async def apply(event: CallbackEvent) -> None:
            db.apply_receipt(event)

        async with CallbackServer(apply) as server:
            callbacks = Callbacks(url=server.url, failed=0.3, duplicate=0.3, reorder=0.5)
            async with Simulator(seed=2, callbacks=callbacks) as sim, sender_for(sim) as sender:
                await run_campaign(sender, recipients, journal, TEMPLATE)
                await sim.callbacks_done()
                await server.receiver.join()
                decided = dict(sim.decided_outcomes)
            duplicates = server.receiver.duplicates
        counts = db.receipt_counts()
    codes = {mid: next(iter(o.values())) for mid, o in decided.items()}
    assert len(codes) == 400
    assert duplicates > 0
    assert counts["delivered"] == sum(code is None for code in codes.values())
    assert counts["failed"] == sum(code is not None for code in codes.values())
    assert counts["awaiting"] == 0
    for row in journal_rows(journal).values():
        assert row["receipt_code"] == codes[row["message_id"]]


async def test_out_of_order_and_duplicates_never_move_a_row_back(tmp_path: Path) -> None:
    """delivered stays delivered: a late sending, a later failed or a duplicate change nothing."""
    journal, accepted = await send_campaign(tmp_path, 3)
    mid = accepted[0].id
    with Journal(journal) as db:
        assert db.apply_receipt(status_event("message-delivered", mid)) is ReceiptResult.DELIVERED
        assert db.apply_receipt(status_event("message-sending", mid)) is ReceiptResult.UNCHANGED
        assert db.apply_receipt(status_event("message-delivered", mid)) is ReceiptResult.UNCHANGED
        failed = status_event("message-failed", mid, code=4470)
        assert db.apply_receipt(failed) is ReceiptResult.UNCHANGED
        row = next(r for r in journal_rows(journal).values() if r["message_id"] == mid)
    assert row["receipt"] == "delivered"
    assert row["receipt_code"] is None


def _indexes(journal: Path) -> list[str]:
    with sqlite3.connect(journal) as db:
        found = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'rows'"
        )
        return sorted(name for (name,) in found if not name.startswith("sqlite_"))


async def test_the_message_id_index_is_made_by_the_first_lookup(tmp_path: Path) -> None:
    """A run keeps no index of message ids up; the first receipt makes it (only rows with an
    id in it) and finds its row through it, as reconcile's lookups do."""
    journal, accepted = await send_campaign(tmp_path, 3)
    assert _indexes(journal) == []
    with Journal(journal) as db:
        assert db.apply_receipt(status_event("message-delivered", accepted[2].id)) is (
            ReceiptResult.DELIVERED
        )
        plan = db.query("EXPLAIN QUERY PLAN SELECT row FROM rows WHERE message_id = ?", ("x",))
        assert db.has_message(accepted[0].id)
        assert not db.has_message("no-such-id")
    assert _indexes(journal) == ["rows_message_id_set"]
    assert "rows_message_id_set" in str(plan)


async def test_failed_receipt_records_code_and_words(tmp_path: Path) -> None:
    """message-failed records the code and the description; status shows it in words."""
    journal, accepted = await send_campaign(tmp_path, 2)
    with Journal(journal) as db:
        db.apply_receipt(status_event("message-failed", accepted[1].id, code=4432))
        failures = db.receipt_failures()
        counts = db.receipt_counts()
    assert failures == [(4432, "4432 messaging to this country forbidden (client, not billed)", 1)]
    assert counts == {"delivered": 0, "failed": 1, "awaiting": 1}


async def test_receipt_with_the_rows_tag_settles_an_unknown_row(tmp_path: Path) -> None:
    """An unknown row becomes sent with the id of a receipt carrying its tag."""
    recipients = write_csv(tmp_path / "r.csv", people(50))
    journal = tmp_path / "j.db"
    async with Simulator(faults=Faults(drop_after_accept=0.3), seed=4) as sim:
        async with sender_for(sim) as sender:
            await run_campaign(sender, recipients, journal, TEMPLATE)
        accepted = {m.tag: m.id for m in sim.accepted}
    unknown = [r for r in journal_rows(journal).values() if r["state"] == "unknown"]
    assert unknown
    campaign = Journal(journal).meta()["campaign"]
    with Journal(journal) as db:
        for row in unknown:
            tag = f"bwmsg:{campaign}:{row['row']}"
            result = db.apply_receipt(status_event("message-sending", accepted[tag], tag=tag))
            assert result is ReceiptResult.SETTLED
    rows = journal_rows(journal)
    for row in unknown:
        assert rows[row["row"]]["state"] == "sent"
        assert rows[row["row"]]["message_id"] == accepted[f"bwmsg:{campaign}:{row['row']}"]


async def test_old_journal_gains_the_receipt_columns(tmp_path: Path) -> None:
    """A journal made before receipts existed is migrated when opened."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE rows (row INTEGER PRIMARY KEY, recipients TEXT NOT NULL DEFAULT '', "
        "sender TEXT, state TEXT NOT NULL, retryable INTEGER NOT NULL DEFAULT 0, message_id "
        "TEXT, error TEXT, status INTEGER, attempts INTEGER NOT NULL DEFAULT 0, segments "
        "INTEGER, encoding TEXT, updated REAL)"
    )
    db.execute("INSERT INTO rows (row, state, message_id) VALUES (1, 'sent', 'm1')")
    db.commit()
    db.close()
    with Journal(path) as journal:
        assert journal.apply_receipt(status_event("message-delivered", "m1")) is (
            ReceiptResult.DELIVERED
        )
        assert journal.receipt_counts()["delivered"] == 1


async def test_list_messages_pages_through_everything(tmp_path: Path) -> None:
    """list_messages follows pageInfo across pages and yields every item once."""
    async with Simulator(seed=1) as sim, sender_for(sim) as sender:
        await run_campaign(
            sender, write_csv(tmp_path / "r.csv", people(23)), tmp_path / "j", TEMPLATE
        )
        found = [m async for m in sender.list_messages(page_size=5)]
        pages = sim.counts["list"]
    assert all(isinstance(m, MessageSummary) for m in found)
    assert len({m.message_id for m in found}) == 23
    assert pages == 5
    assert {m.message_direction for m in found} == {"OUTBOUND"}


async def test_list_messages_filters(tmp_path: Path) -> None:
    """Filters by destination and time window reach the endpoint and narrow the answer."""
    async with Simulator(seed=1) as sim, sender_for(sim) as sender:
        await run_campaign(
            sender, write_csv(tmp_path / "r.csv", people(10)), tmp_path / "j", TEMPLATE
        )
        target = sim.accepted[3]
        one = [m async for m in sender.list_messages(destination_tn=target.to[0])]
        none = [
            m
            async for m in sender.list_messages(
                source_tn="+19195550000", to_date_time="2001-01-01T00:00:00Z"
            )
        ]
    assert [m.message_id for m in one] == [target.id]
    assert one[0].receive_time is not None
    assert none == []


async def test_list_messages_waits_out_429_with_retry_after(tmp_path: Path) -> None:
    """The list endpoint's 429 + Retry-After is honoured and the listing completes."""
    async with Simulator(seed=1, list_rate=50) as sim, sender_for(sim) as sender:
        await run_campaign(
            sender, write_csv(tmp_path / "r.csv", people(12)), tmp_path / "j", TEMPLATE
        )
        found = [m async for m in sender.list_messages(page_size=1)]
        limited = sim.counts["list_429"]
    assert len(found) == 12
    assert limited > 0


async def test_reconcile_then_resend_unknown_texts_no_one_twice(tmp_path: Path) -> None:
    """Reconcile settles unknown rows correctly; --resend-unknown afterwards sends each once."""
    recipients = write_csv(tmp_path / "r.csv", people(200))
    journal = tmp_path / "j.db"
    faults = Faults(drop_after_accept=0.1, drop_before_accept=0.05)
    retry = RetryPolicy(base_delay=0, max_attempts=2)
    async with Simulator(faults=faults, seed=9) as sim:
        async with sender_for(sim, retry=retry) as sender:
            await run_campaign(sender, recipients, journal, TEMPLATE)
        unknown = [r for r in journal_rows(journal).values() if r["state"] == "unknown"]
        accepted_to = {m.to[0] for m in sim.accepted}
        sim.faults = Faults()
        async with sender_for(sim) as sender:
            summary = await reconcile(sender, journal, margin=5.0, clock=lambda: time.time() + 60)
        rows = journal_rows(journal)
        for row in unknown:
            settled = rows[row["row"]]
            if row["recipients"] in accepted_to:
                assert settled["state"] == "sent"
            else:
                assert (settled["state"], settled["retryable"]) == ("failed", 1)
        async with sender_for(sim) as sender:
            await run_campaign(sender, recipients, journal, TEMPLATE, resend_unknown=True)
        counts = Counter(m.to[0] for m in sim.accepted)
    assert unknown
    assert summary.found + summary.safe_to_resend == len(unknown) == summary.checked
    assert summary.found > 0
    assert set(counts.values()) == {1}
    assert len(counts) == 200
    assert {r["state"] for r in journal_rows(journal).values()} == {"sent"}


async def test_reconcile_leaves_rows_whose_window_is_open(tmp_path: Path) -> None:
    """A row not found while its window is still open stays unknown."""
    recipients = write_csv(tmp_path / "r.csv", people(30))
    journal = tmp_path / "j.db"
    async with Simulator(faults=Faults(drop_before_accept=0.3), seed=3) as sim:
        retry = RetryPolicy(base_delay=0, max_attempts=1)
        async with sender_for(sim, retry=retry) as sender:
            await run_campaign(sender, recipients, journal, TEMPLATE)
        # drop_before_accept looks ambiguous to the client: unknown, never accepted.
        async with sender_for(sim) as sender:
            summary = await reconcile(sender, journal, margin=600.0)
    assert summary.checked > 0
    assert summary.waiting == summary.checked
    assert summary.found == 0
