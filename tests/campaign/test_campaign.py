"""Campaign library: journal, resume, invalid rows, stop, dry run, against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bwmsg import RetryPolicy, Sender
from bwmsg.campaign import (
    CampaignProgress,
    InputError,
    Journal,
    JournalMismatch,
    Template,
    dry_run,
    run_campaign,
)
from bwmsg.simulator import Faults, Simulator

TEMPLATE = Template(text="Hi {name}, doors open at 7", from_="+19195550000")


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def people(n: int) -> list[dict[str, str]]:
    return [{"to": f"+1919{i:07d}", "name": f"Person {i}"} for i in range(n)]


def sender_for(sim: Simulator, **kwargs: Any) -> Sender:
    options: dict[str, Any] = {
        "application_id": "app",
        "base_url": sim.base_url,
        "retry": RetryPolicy(base_delay=0, max_attempts=3),
        "concurrency": 20,
    }
    options.update(kwargs)
    return Sender("acct", sim.username, sim.password, **options)


def journal_rows(path: Path) -> dict[int, dict[str, Any]]:
    with Journal(path) as journal:
        return {r["row"]: dict(r) for r in journal.rows()}


async def test_every_row_reaches_a_final_state(tmp_path: Path) -> None:
    """With faults, every row ends sent/failed/unknown and matches what the simulator took."""
    recipients = write_csv(tmp_path / "r.csv", people(2000))
    faults = Faults(
        rate_limited=0.1, server_error=0.05, drop_before_accept=0.01, drop_after_accept=0.01
    )
    async with Simulator(faults=faults, seed=7) as sim, sender_for(sim) as sender:
        summary = await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        accepted = list(sim.accepted)
    rows = journal_rows(tmp_path / "j.db")
    assert summary.complete
    assert len(rows) == 2000
    assert {r["state"] for r in rows.values()} <= {"sent", "failed", "unknown"}
    sent_ids = {r["message_id"] for r in rows.values() if r["state"] == "sent"}
    accepted_ids = {m.id for m in accepted}
    assert sent_ids <= accepted_ids  # every SENT row was really accepted
    unknown_rows = sum(r["state"] == "unknown" for r in rows.values())
    assert len(accepted_ids - sent_ids) <= unknown_rows  # the rest were among the unknown
    to_counts = Counter(m.to for m in accepted)
    assert max(to_counts.values()) == 1  # nobody texted twice
    failed = [r for r in rows.values() if r["state"] == "failed"]
    assert all(r["message_id"] is None for r in failed)
    assert not {r["recipients"] for r in failed} & {m.to[0] for m in accepted}
    assert summary.sent + summary.failed + summary.unknown == 2000


async def test_rerun_sends_nothing_twice(tmp_path: Path) -> None:
    """A second run on a finished journal skips sent and unknown rows, retries transient ones."""
    recipients = write_csv(tmp_path / "r.csv", people(300))
    faults = Faults(server_error=0.2, drop_after_accept=0.05)
    async with Simulator(faults=faults, seed=3) as sim:
        async with sender_for(sim, retry=RetryPolicy(base_delay=0, max_attempts=1)) as sender:
            first = await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        sim.faults = Faults()
        async with sender_for(sim) as sender:
            second = await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        accepted = list(sim.accepted)
    assert first.failed > 0
    assert first.unknown > 0
    assert second.sent == first.failed  # the 5xx rows, tried again
    assert second.skipped == first.sent + first.unknown
    assert max(Counter(m.to for m in accepted).values()) == 1
    states = Counter(r["state"] for r in journal_rows(tmp_path / "j.db").values())
    assert states == {"sent": 300 - first.unknown, "unknown": first.unknown}


async def test_resend_unknown(tmp_path: Path) -> None:
    """--resend-unknown sends the unknown rows again (and only those)."""
    recipients = write_csv(tmp_path / "r.csv", people(200))
    async with Simulator(faults=Faults(drop_after_accept=0.1), seed=5) as sim:
        async with sender_for(sim) as sender:
            first = await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        sim.faults = Faults()
        async with sender_for(sim) as sender:
            second = await run_campaign(
                sender, recipients, tmp_path / "j.db", TEMPLATE, resend_unknown=True
            )
    assert first.unknown > 0
    assert second.sent == first.unknown
    assert all(r["state"] == "sent" for r in journal_rows(tmp_path / "j.db").values())


async def test_changed_input_is_refused(tmp_path: Path) -> None:
    """Resuming with another file or template raises JournalMismatch, sending nothing."""
    recipients = write_csv(tmp_path / "r.csv", people(20))
    async with Simulator() as sim, sender_for(sim) as sender:
        await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        other = Template(text="Different {name}", from_="+19195550000")
        with pytest.raises(JournalMismatch, match="changed"):
            await run_campaign(sender, recipients, tmp_path / "j.db", other)
        write_csv(recipients, people(21))
        with pytest.raises(JournalMismatch):
            await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        assert len(sim.accepted) == 20


async def test_invalid_rows_are_recorded_and_never_sent(tmp_path: Path) -> None:
    """Bad numbers and template gaps fail their row with the reason; the run goes on."""
    rows = people(10)
    rows[2]["to"] = "555-1234"
    rows[5]["to"] = ""
    recipients = write_csv(tmp_path / "r.csv", rows)
    template = Template(text="Hi {name} from {city}", from_="+19195550000")
    async with Simulator() as sim, sender_for(sim) as sender:
        summary = await run_campaign(sender, recipients, tmp_path / "j.db", template)
        assert sim.accepted == []
    assert summary.invalid == 10
    journal = journal_rows(tmp_path / "j.db")
    assert "{city}" in journal[1]["error"]
    assert summary.complete


async def test_invalid_number_reason(tmp_path: Path) -> None:
    """A row with a bad number says which field is wrong."""
    rows = people(3)
    rows[1]["to"] = "555-1234"
    recipients = write_csv(tmp_path / "r.csv", rows)
    async with Simulator() as sim, sender_for(sim) as sender:
        summary = await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        assert len(sim.accepted) == 2
    assert summary.invalid == 1
    assert "to:" in journal_rows(tmp_path / "j.db")[2]["error"]


async def test_group_messages_and_from_column(tmp_path: Path) -> None:
    """'a;b' in `to` makes a group message; a `from` column overrides --from."""
    rows = [
        {"to": "+19195551001;+19195551002", "from": "+19195559999", "name": "Group"},
        {"to": "+19195551003", "from": "", "name": "Solo"},
    ]
    recipients = write_csv(tmp_path / "r.csv", rows)
    async with Simulator() as sim, sender_for(sim) as sender:
        await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        bodies = {m.to: m.request for m in sim.accepted}
    assert bodies[("+19195551001", "+19195551002")]["from"] == "+19195559999"
    assert bodies[("+19195551003",)]["from"] == "+19195550000"


async def test_default_tag_has_no_personal_data(tmp_path: Path) -> None:
    """Without --tag, each message is tagged bwmsg:<campaign>:<row>, no number, no name."""
    recipients = write_csv(tmp_path / "r.csv", people(3))
    async with Simulator() as sim, sender_for(sim) as sender:
        await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        tags = sorted(m.request["tag"] for m in sim.accepted)
    assert [t.rsplit(":", 1)[1] for t in tags] == ["1", "2", "3"]
    assert all(t.startswith("bwmsg:") and "+1919" not in t and "Person" not in t for t in tags)


async def test_jsonl_input(tmp_path: Path) -> None:
    """JSON Lines rows work like CSV rows; a bad line fails only its row."""
    path = tmp_path / "r.jsonl"
    lines = [json.dumps(p) for p in people(4)]
    lines.insert(2, "{not json")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    async with Simulator() as sim, sender_for(sim) as sender:
        summary = await run_campaign(sender, path, tmp_path / "j.db", TEMPLATE)
        assert len(sim.accepted) == 4
    assert summary.invalid == 1


async def test_stop_then_resume(tmp_path: Path) -> None:
    """Setting stop ends the run early with rows left; a rerun finishes, nobody twice."""
    recipients = write_csv(tmp_path / "r.csv", people(2000))
    stop = asyncio.Event()
    seen: list[CampaignProgress] = []

    def progress(p: CampaignProgress) -> None:
        seen.append(p)
        if p.done >= 200:
            stop.set()

    async with Simulator(faults=Faults(latency=0.002)) as sim, sender_for(sim) as sender:
        first = await run_campaign(
            sender,
            recipients,
            tmp_path / "j.db",
            TEMPLATE,
            stop=stop,
            progress=progress,
            batch_size=20,
        )
        second = await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        accepted = list(sim.accepted)
    assert first.stopped == "interrupted"
    assert not first.complete
    assert first.states["pending"] > 0
    assert second.complete
    assert first.sent + second.sent == 2000
    assert len(accepted) == 2000
    assert max(Counter(m.to for m in accepted).values()) == 1
    assert seen[-1].total == 2000


async def test_authentication_failure_stops_the_run(tmp_path: Path) -> None:
    """Refused credentials stop the run at once: a handful of requests, not one per row."""
    recipients = write_csv(tmp_path / "r.csv", people(1000))
    async with Simulator(password="right") as sim:
        async with Sender(
            "acct",
            "user",
            "wrong",
            application_id="app",
            base_url=sim.base_url,
            concurrency=5,
            retry=RetryPolicy(base_delay=0),
        ) as sender:
            summary = await run_campaign(
                sender, recipients, tmp_path / "j.db", TEMPLATE, batch_size=10
            )
        assert sim.counts["401"] <= 5 + 10
    assert summary.stopped is not None
    assert "credentials" in summary.stopped
    assert summary.retryable_left == summary.failed


async def test_sending_rows_become_unknown_on_resume(tmp_path: Path) -> None:
    """Rows a dead run left `sending` are `unknown` at the next start and not re-sent."""
    recipients = write_csv(tmp_path / "r.csv", people(5))
    async with Simulator() as sim, sender_for(sim) as sender:
        await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        with Journal(tmp_path / "j.db") as journal:  # as if a crash left rows 2 and 4 in flight
            journal.mark_sending(
                [(2, "+19190000001", "+1", 1, "GSM-7"), (4, "+19190000003", "+1", 1, "GSM-7")]
            )
        with (
            contextlib.closing(sqlite3.connect(tmp_path / "j.db")) as db,
            db,
        ):  # in flight: no answer, no message id
            db.execute("UPDATE rows SET message_id = NULL WHERE row IN (2, 4)")
        summary = await run_campaign(sender, recipients, tmp_path / "j.db", TEMPLATE)
        assert len(sim.accepted) == 5
    assert summary.recovered == 2
    assert summary.states["unknown"] == 2


def test_dry_run_counts(tmp_path: Path) -> None:
    """A dry run counts rows, segments by encoding, UCS-2 rows and their characters."""
    rows = [
        {"to": "+19195551001", "name": "Ann"},
        {"to": "+19195551002", "name": "José"},  # é is GSM-7
        {"to": "+19195551003;+19195551004", "name": "Zoë 😀"},  # UCS-2, group of 2
        {"to": "bad", "name": "X"},
    ]
    recipients = write_csv(tmp_path / "r.csv", rows)
    report = dry_run(recipients, TEMPLATE)
    assert (report.rows, report.messages, report.invalid_count) == (4, 3, 1)
    assert report.segments == {"GSM-7": 2, "UCS-2": 2}
    assert report.ucs2_rows == 1
    assert dict(report.ucs2_characters) == {"ë": 1, "😀": 1}
    assert report.invalid[0][0] == 4


def test_missing_to_column(tmp_path: Path) -> None:
    """A file without a `to` column is refused as a whole, naming its columns."""
    path = tmp_path / "r.csv"
    path.write_text("phone,name\n+19195551001,Ann\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no 'to' column.*phone, name"):
        dry_run(path, TEMPLATE)


def test_bad_template_is_refused_up_front() -> None:
    """A template that cannot be parsed is refused before any row."""
    with pytest.raises(ValueError, match="not valid"):
        Template(text="Hi {name", from_="+19195550000")
