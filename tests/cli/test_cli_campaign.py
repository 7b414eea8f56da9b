"""The `bwmsg campaign` command end to end: a real subprocess against the simulator."""

from __future__ import annotations

import csv
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bwmsg.campaign import Journal
from bwmsg.simulator import Faults, Simulator
from tests.cli_helpers import (
    Command,
    bwmsg_run,
    campaign_run_args,
    env_for,
    journal_rows,
    until,
    write_csv,
)

TEXT = "Hi {name}, doors open at 7"
pytestmark = pytest.mark.usefixtures("reap_commands")


async def bwmsg(sim: Simulator, *args: str | Path, timeout: float = 120) -> tuple[int, str]:
    """Run the command against ``sim`` to its end: (exit status, stdout + stderr)."""
    return await bwmsg_run(env_for(sim), *args, timeout=timeout)


def run_args(recipients: Path, journal: Path, *extra: str) -> list[str | Path]:
    return campaign_run_args(recipients, journal, "--concurrency", "20", *extra, text=TEXT)


def check_history(sim: Simulator, journal: Path, n: int) -> dict[int, dict[str, Any]]:
    """Every row final; SENT rows were accepted; accepted-but-not-SENT rows are UNKNOWN."""
    rows = journal_rows(journal)
    assert len(rows) == n
    assert {r["state"] for r in rows.values()} <= {"sent", "failed", "unknown"}
    accepted = {m.to[0]: m.id for m in sim.accepted}
    assert max(Counter(m.to for m in sim.accepted).values(), default=1) == 1  # nobody twice
    for r in rows.values():
        if r["state"] == "sent":
            assert accepted[r["recipients"]] == r["message_id"]
        elif r["state"] == "failed":
            assert r["recipients"] not in accepted
    with Journal(journal) as db:
        assert db.integrity() == "ok"
    return rows


async def test_campaign_with_faults(tmp_path: Path) -> None:
    """A few thousand rows with faults: exit 0, every row's state matches the simulator."""
    recipients = write_csv(tmp_path / "r.csv", 3000, bad=(10, 20))
    journal = tmp_path / "j.db"
    faults = Faults(rate_limited=0.1, server_error=0.05, drop_after_accept=0.005)
    async with Simulator(faults=faults, seed=11) as sim:
        code, output = await bwmsg(sim, *run_args(recipients, journal))
        rows = check_history(sim, journal, 3000)
    assert code == 0, output
    states = Counter(r["state"] for r in rows.values())
    assert states["failed"] >= 2
    assert rows[11]["error"].startswith("invalid message: to:")
    assert "sent" in output


async def test_sigkill_and_resume(tmp_path: Path) -> None:
    """Killed with SIGKILL at several points and resumed: nobody texted twice, all final."""
    recipients = write_csv(tmp_path / "r.csv", 3000)
    journal = tmp_path / "j.db"
    async with Simulator(faults=Faults(latency=0.005, server_error=0.02), seed=2) as sim:
        for threshold in (150, 900, 1800):
            command = await Command.start(env_for(sim), *run_args(recipients, journal, "--quiet"))
            await until(
                lambda: len(sim.accepted) >= threshold or not command.running,  # noqa: B023
                120,
                f"{threshold} accepted",
            )
            await command.kill()
            assert command.proc.returncode == -signal.SIGKILL, command.output
        code, output = await bwmsg(sim, *run_args(recipients, journal))
        rows = check_history(sim, journal, 3000)
    assert code == 0, output
    unknown = sum(r["state"] == "unknown" for r in rows.values())
    # Each kill can leave at most the requests in flight plus a commit batch or two unknown.
    assert unknown <= 3 * (20 + 2 * 100)


async def test_sigint_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    """Ctrl-C lets in-flight requests finish, prints how to resume, exits non-zero."""
    recipients = write_csv(tmp_path / "r.csv", 3000)
    journal = tmp_path / "j.db"
    async with Simulator(faults=Faults(latency=0.005), seed=3) as sim:
        command = await Command.start(env_for(sim), *run_args(recipients, journal))
        await until(lambda: len(sim.accepted) >= 300, 120, "300 accepted")
        stopped, _ = await command.signal_and_finish(signal.SIGINT)
        text = command.output
        assert stopped == 130, text
        assert "To resume: bwmsg campaign run" in text
        first = journal_rows(journal)
        assert "sending" not in {r["state"] for r in first.values()}
        assert sum(r["state"] == "unknown" for r in first.values()) == 0
        code, output = await bwmsg(sim, *run_args(recipients, journal))
        rows = check_history(sim, journal, 3000)
    assert code == 0, output
    assert all(r["state"] == "sent" for r in rows.values())


async def test_changed_input_is_refused(tmp_path: Path) -> None:
    """Resuming with another text is refused with a clear message and sends nothing."""
    recipients = write_csv(tmp_path / "r.csv", 50)
    journal = tmp_path / "j.db"
    async with Simulator() as sim:
        assert (await bwmsg(sim, *run_args(recipients, journal)))[0] == 0
        args = run_args(recipients, journal)
        args[args.index("--text") + 1] = "Another text"
        code, output = await bwmsg(sim, *args)
        assert len(sim.accepted) == 50
    assert code == 1
    assert "changed" in output


async def test_dry_run_sends_nothing(tmp_path: Path) -> None:
    """--dry-run prints rows, segments and invalid rows and sends nothing."""
    recipients = write_csv(tmp_path / "r.csv", 40, bad=(3,))
    async with Simulator() as sim:
        code, output = await bwmsg(sim, *run_args(recipients, tmp_path / "j.db", "--dry-run"))
        assert sim.accepted == []
    assert code == 0, output
    assert "nothing was sent" in output
    assert "row 4" in output
    assert not (tmp_path / "j.db").exists()


async def test_status_and_export(tmp_path: Path) -> None:
    """status counts the states; export writes one guarded CSV record per row."""
    recipients = write_csv(tmp_path / "r.csv", 30, bad=(0,))
    journal = tmp_path / "j.db"
    async with Simulator() as sim:
        assert (await bwmsg(sim, *run_args(recipients, journal)))[0] == 0
        code, status = await bwmsg(sim, "campaign", "status", journal)
        assert code == 0
        out = tmp_path / "out.csv"
        code, _ = await bwmsg(sim, "campaign", "export", journal, "-o", out)
        assert code == 0
        code, jsonl = await bwmsg(sim, "campaign", "export", journal, "--format", "jsonl")
    assert "sent" in status
    assert "29" in status
    with out.open(encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    assert len(records) == 30
    assert {"row", "to", "state", "message_id", "error", "attempts", "receipt"} <= set(records[0])
    assert records[1]["updated"].endswith("Z")
    assert records[1]["to"] == "+19190000001"  # an E.164 number is written as it is
    assert records[0]["state"] == "failed"
    assert len(jsonl.strip().splitlines()) == 30


async def test_send_and_segments(tmp_path: Path) -> None:
    """`bwmsg send` prints the accepted message; `bwmsg segments` counts."""
    async with Simulator() as sim:
        code, output = await bwmsg(
            sim, "send", "--to", "+19195551212", "--from", "+19195550000", "--text", "hi"
        )
        assert len(sim.accepted) == 1
        code2, segs = await bwmsg(sim, "segments", "a" * 161)
    assert code == 0, output
    assert '"segmentCount": 1' in output
    assert code2 == 0
    assert "segments:   2" in segs


@pytest.mark.parametrize("missing", ["BW_ACCOUNT_ID", "BW_PASSWORD"])
async def test_missing_credentials_are_named(tmp_path: Path, missing: str) -> None:
    """Without credentials the command says which setting is missing."""
    recipients = write_csv(tmp_path / "r.csv", 3)
    async with Simulator() as sim:
        env = env_for(sim)
        del env[missing]
        code, output = await bwmsg_run(env, *run_args(recipients, tmp_path / "j.db"))
    assert code == 2
    assert (missing if missing == "BW_ACCOUNT_ID" else "password") in output


async def test_demo_runs(tmp_path: Path) -> None:
    """`bwmsg demo` runs a campaign on the built-in simulator and prints the summary."""
    async with Simulator() as sim:  # only for env_for; the demo starts its own
        code, output = await bwmsg(sim, "demo", "--rows", "500", "--keep", tmp_path)
    assert code == 0, output
    assert "The simulator accepted" in output
    assert (tmp_path / "demo.db").exists()


async def test_campaign_with_oauth_credentials(tmp_path: Path) -> None:
    """A campaign authenticated with OAuth2 client credentials renews its token mid-run."""
    recipients = write_csv(tmp_path / "r.csv", 1500)
    journal = tmp_path / "j.db"
    async with Simulator(token_lifetime=0.3, faults=Faults(latency=0.01)) as sim:
        env = env_for(sim)
        del env["BW_USERNAME"], env["BW_PASSWORD"]
        env.update(
            BW_CLIENT_ID=sim.client_id,
            BW_CLIENT_SECRET=sim.client_secret,
            BW_OAUTH_TOKEN_URL=sim.token_url,
        )
        code, output = await bwmsg_run(env, *run_args(recipients, journal))
        rows = check_history(sim, journal, 1500)
        tokens = [t for t in sim.token_requests if t.status == 200]
    assert code == 0, output
    assert all(r["state"] == "sent" for r in rows.values())
    assert len(tokens) >= 2  # the token expired during the run and was renewed
