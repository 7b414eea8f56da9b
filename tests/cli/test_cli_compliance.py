"""Compliance end to end through the command and the simulator: opt-outs never texted (alone
and in groups), a STOP callback suppressing the next run and START lifting it, quiet hours in
the recipient's time under a faked wall clock (libfaketime), --start-at."""

from __future__ import annotations

import csv
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bwmsg.campaign import Journal
from bwmsg.campaign._optouts import SqliteOptOuts
from bwmsg.simulator import Callbacks, Simulator
from tests.cli_helpers import Command, bwmsg_run, campaign_run_args, env_for, until, write_rows
from tests.faketime import faked_env
from tests.servers import free_port

NEW_YORK = ["+12125550101", "+12125550102"]
LOS_ANGELES = ["+13105550101"]
HONOLULU = ["+18085550101"]
LONDON = "+442079460101"
NO_ZONE = "+15555550101"  # 555: no time zone is known for it


def run_args(recipients: Path, journal: Path | str, *extra: str | Path) -> list[str | Path]:
    return campaign_run_args(recipients, journal, *extra)


def sent_to(sim: Simulator) -> list[str]:
    return [n for a in sim.accepted for n in a.request["to"]]


def states(journal: Path) -> dict[str, int]:
    with Journal(journal) as db:
        return {k: v for k, v in db.counts().items() if v}


async def test_opted_out_numbers_are_never_texted_alone_or_in_groups(tmp_path: Path) -> None:
    store = tmp_path / "opt-outs.db"
    rows = [
        ["+19195550001", "Ada"],
        ["+19195550002", "Bob"],  # opted out
        ["+19195550003;+19195550002", "a group with Bob"],  # a member opted out
        ["+19195550004;+19195550005", "a group without"],
    ]
    recipients = write_rows(tmp_path / "r.csv", rows)
    journal = tmp_path / "j.db"
    async with Simulator() as sim:
        env = env_for(sim)
        code, out = await bwmsg_run(env, "opt-outs", "add", "+19195550002", "--store", store)
        assert code == 0, out
        code, out = await bwmsg_run(env, *run_args(recipients, journal, "--opt-outs", store))
        assert code == 0, out
        assert "+19195550002" not in sent_to(sim)
        assert sorted(sent_to(sim)) == [
            "+19195550001",
            "+19195550004",
            "+19195550005",
        ]
        assert "suppressed (opted out)" in out
        assert states(journal) == {"sent": 2, "suppressed": 2}
        # A rerun leaves suppressed rows alone (final), even without the store.
        code, out = await bwmsg_run(env, *run_args(recipients, journal))
        assert code == 0, out
        assert len(sim.accepted) == 2
        code, out = await bwmsg_run(env, "campaign", "export", journal, "-o", tmp_path / "e.csv")
        assert code == 0, out
    with (tmp_path / "e.csv").open(newline="") as handle:
        exported = [r["state"] for r in csv.DictReader(handle)]
    assert exported == ["sent", "suppressed", "suppressed", "sent"]


async def test_a_stop_reply_suppresses_the_next_run_and_start_lifts_it(tmp_path: Path) -> None:
    store = tmp_path / "opt-outs.db"
    port = free_port()
    async with Simulator() as sim:
        env = {**env_for(sim), "BWMSG_OPT_OUTS": str(store)}
        listener = await Command.start(
            env,
            *("campaign", "receipts", tmp_path / "none.db", "--listen", f"127.0.0.1:{port}"),
        )
        await listener.wait_for_output(lambda out: "listening for callbacks on" in out, timeout=30)
        sim.callbacks = Callbacks(url=f"http://127.0.0.1:{port}/callbacks")
        await sim.inbound(from_="+19195550002", to="+19195550000", text="  Stop. ")
        await sim.inbound(from_="+19195550003", to="+19195550000", text="stop by later")
        listener.proc.send_signal(signal.SIGINT)
        assert await listener.finish(30) == 0, listener.output
        opted = SqliteOptOuts(store)
        try:
            assert [(n, s) for n, _, s in await opted.entries()] == [
                ("+19195550002", "inbound STOP")
            ]
        finally:
            await opted.aclose()
        first = write_rows(tmp_path / "a.csv", [["+19195550002", "Bob"], ["+19195550003", "Cy"]])
        code, out = await bwmsg_run(env, *run_args(first, tmp_path / "a.db"))
        assert code == 0, out
        assert sent_to(sim) == ["+19195550003"]
        # START: the next campaign texts Bob again.
        listener = await Command.start(
            env, "campaign", "receipts", tmp_path / "none.db", "--listen", f"127.0.0.1:{port}"
        )
        await listener.wait_for_output(lambda out: "listening for callbacks on" in out, timeout=30)
        await sim.inbound(from_="+19195550002", to="+19195550000", text="START")
        listener.proc.send_signal(signal.SIGINT)
        assert await listener.finish(30) == 0, listener.output
        second = write_rows(tmp_path / "b.csv", [["+19195550002", "Bob again"]])
        code, out = await bwmsg_run(env, *run_args(second, tmp_path / "b.db"))
        assert code == 0, out
        assert sent_to(sim) == ["+19195550003", "+19195550002"]


def quiet_rows(tmp_path: Path) -> Path:
    numbers = [*NEW_YORK, *LOS_ANGELES, *HONOLULU, NO_ZONE]
    return write_rows(tmp_path / "q.csv", [[n, f"P{i}"] for i, n in enumerate(numbers)])


async def test_quiet_hours_hold_new_york_at_0330_utc_then_release_it(tmp_path: Path) -> None:
    """03:30 UTC is 22:30 in New York (held), 19:30 in Los Angeles and 17:30 in Honolulu
    (sent); the number with no known zone is held. At 14:00 UTC New York goes."""
    recipients, journal = quiet_rows(tmp_path), tmp_path / "q.db"
    night = datetime(2026, 12, 2, 3, 30, tzinfo=timezone.utc)
    quiet = ("--quiet-hours", "21:00-08:00", "--no-wait")
    async with Simulator() as sim:
        env = faked_env(night, env_for(sim))
        code, out = await bwmsg_run(env, *run_args(recipients, journal, *quiet))
        assert code == 0, out
        assert sorted(sent_to(sim)) == sorted(LOS_ANGELES + HONOLULU)
        assert "3 rows are held by quiet hours until 2026-12-02T13:00+00:00" in out
        assert states(journal) == {"sent": 2, "pending": 3}
        day = faked_env(datetime(2026, 12, 2, 14, 0, tzinfo=timezone.utc), env_for(sim))
        code, out = await bwmsg_run(day, *run_args(recipients, journal, *quiet))
        assert code == 0, out
        assert sorted(sent_to(sim)) == sorted(LOS_ANGELES + HONOLULU + NEW_YORK)
        assert "1 rows are held by quiet hours with no moment allowed" in out
        assert NO_ZONE not in sent_to(sim)


async def test_a_run_waits_for_the_window_and_then_sends(tmp_path: Path) -> None:
    """Two seconds before 08:00 in New York (12:59:58 UTC) the run sends London's row, says it
    waits, and sends New York's once the window opens."""
    rows = [[NEW_YORK[0], "NY"], [LONDON, "London"]]
    recipients, journal = write_rows(tmp_path / "w.csv", rows), tmp_path / "w.db"
    before = datetime(2026, 12, 2, 12, 59, 58, tzinfo=timezone.utc)
    async with Simulator() as sim:
        env = faked_env(before, env_for(sim))
        started = time.monotonic()
        command = await Command.start(
            env, *run_args(recipients, journal, "--quiet-hours", "21:00-08:00")
        )
        await command.wait_for_output(
            lambda out: "waiting until 2026-12-02T13:00:00+00:00" in out, timeout=30
        )
        # London's row goes while the run waits for New York's window.
        await until(lambda: sent_to(sim) == [LONDON], 30, "the London row sent")
        assert await command.finish(60) == 0, command.output
        assert sent_to(sim) == [LONDON, NEW_YORK[0]]
        ny = sim.accepted[1].received
        assert ny - started >= 1.0  # held until the faked 13:00, not sent at once


async def test_start_at_sends_nothing_before_it(tmp_path: Path) -> None:
    recipients = write_rows(tmp_path / "s.csv", [["+19195550001", "Ada"]])
    async with Simulator() as sim:
        begun = time.monotonic()
        at = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
        code, out = await bwmsg_run(
            env_for(sim), *run_args(recipients, tmp_path / "s.db", "--start-at", at)
        )
        assert code == 0, out
        assert "nothing is sent before" in out
        assert sim.accepted[0].received - begun >= 1.9


async def test_mistakes_are_named_before_anything_is_sent(tmp_path: Path) -> None:
    recipients = write_rows(tmp_path / "m.csv", [["+19195550001", "Ada"]])
    journal = tmp_path / "m.db"
    async with Simulator() as sim:
        env = env_for(sim)
        mistakes: list[tuple[tuple[str | Path, ...], str]] = [
            (("--quiet-hours", "9pm-8am"), "--quiet-hours must be HH:MM-HH:MM"),
            (("--start-at", "2026-12-02T09:00:00"), "with a UTC offset"),
            (("--start-at", "tomorrow"), "2026-12-02T09:00:00-05:00"),
            (("--opt-outs", tmp_path), "--opt-outs: cannot use"),
        ]
        for extra, expected in mistakes:
            code, out = await bwmsg_run(env, *run_args(recipients, journal, *extra))
            assert code != 0, out
            assert expected in out, out
            assert "Traceback" not in out
        code, out = await bwmsg_run(
            env,
            *run_args(
                recipients, "postgresql://u:secret-pw@127.0.0.1:1/db", "--quiet-hours", "tcpa"
            ),
        )
        assert code == 2, out
        assert "SQLite journal only" in out
        assert "secret-pw" not in out
        assert sim.accepted == []
        assert not journal.exists()


async def test_the_dry_run_says_how_many_rows_are_held_and_until_when(tmp_path: Path) -> None:
    recipients = quiet_rows(tmp_path)
    night = datetime(2026, 12, 2, 3, 30, tzinfo=timezone.utc)
    async with Simulator() as sim:
        env = faked_env(night, env_for(sim))
        args = run_args(recipients, tmp_path / "d.db", "--quiet-hours", "21:00-08:00", "--dry-run")
        code, out = await bwmsg_run(env, *args)
        assert code == 0, out
        assert "hold 2 rows at the start, the first until 2026-12-02T13:00+00:00" in out
        assert "hold 1 row for good" in out
        # Counted at --start-at: at 14:00 UTC New York may be texted, Los Angeles (06:00) and
        # Honolulu (04:00) not yet.
        later = (*args, "--start-at", "2026-12-02T14:00:00Z")
        code, out = await bwmsg_run(env, *later)
        assert code == 0, out
        assert "hold 2 rows at the start, the first until 2026-12-02T16:00+00:00" in out
        assert "hold 1 row for good" in out
        assert sim.accepted == []
