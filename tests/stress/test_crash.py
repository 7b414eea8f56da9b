"""Crash: `bwmsg campaign run` killed with SIGKILL at random points and resumed each time.

``BWMSG_CRASH_N`` rows (20,000 by default) and ``BWMSG_CRASH_KILLS`` kills (5 by default, as CI
runs it). The full-size run, whose figures are in ``benchmarks/RESULTS.md``::

    BWMSG_CRASH_N=100000 BWMSG_CRASH_KILLS=20 .venv/bin/pytest tests/stress/test_crash.py -s

Over the whole history: every row ends final; nobody is texted twice (no ``--resend-unknown``);
every SENT row's message id was accepted for that row; no FAILED row was accepted; each kill
leaves at most ``2 * concurrency + 10`` rows ``sending`` (they become ``unknown``); the journal
passes ``PRAGMA integrity_check`` after every kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bwmsg.campaign import Journal
from bwmsg.simulator import Simulator
from tests.cli_helpers import Command, campaign_run_args, env_for, write_csv
from tests.faults import CHAOS

N = int(os.environ.get("BWMSG_CRASH_N", "20000"))
KILLS = int(os.environ.get("BWMSG_CRASH_KILLS", "5"))
CONCURRENCY = 50
BOUND = 2 * CONCURRENCY + 10  # the bound on rows one crash leaves unknown (README)
pytestmark = pytest.mark.usefixtures("reap_commands")


async def start(sim: Simulator, recipients: Path, journal: Path) -> Command:
    args = ("--concurrency", str(CONCURRENCY), "--quiet")
    return await Command.start(env_for(sim), *campaign_run_args(recipients, journal, *args))


def rows_of(journal: Path) -> dict[int, dict[str, Any]]:
    with Journal(journal) as db:
        assert db.integrity() == "ok"
        return {r["row"]: dict(r) for r in db.rows()}


async def test_sigkill_at_random_points_and_resume(tmp_path: Path) -> None:
    """SIGKILLed at random points and resumed: all final, nobody twice, journal sound."""
    recipients = write_csv(tmp_path / "r.csv", N)
    journal = tmp_path / "j.db"
    rng = random.Random(20)
    kills: list[tuple[str, int]] = []  # (where it was killed, rows left sending)
    deadline = time.monotonic() + 60 + N / 100  # far beyond a normal run: no hang
    started = time.perf_counter()
    async with Simulator(faults=CHAOS, seed=21) as sim:
        runs = 0
        while True:
            runs += 1
            command = await start(sim, recipients, journal)
            if len(kills) < KILLS:
                # A kill point: a random moment after start (it may fall while the interpreter
                # starts or the journal is created), or when a random number more were accepted.
                if rng.random() < 0.3:
                    delay = rng.uniform(0.0, 1.5)
                    where = f"{delay:.2f} s after start"
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(command.proc.wait(), delay)
                else:
                    # Spread over what is left, so that every kill comes before the end.
                    left = max(1, 2 * (N - len(sim.accepted)) // (KILLS - len(kills) + 2))
                    target = len(sim.accepted) + rng.randint(1, left)
                    where = f"at {target:,} accepted"
                    # No event marks "N accepted": poll the simulator's record.
                    while (  # noqa: ASYNC110
                        len(sim.accepted) < target
                        and command.running
                        and time.monotonic() < deadline
                    ):
                        await asyncio.sleep(0.002)
                if command.running:
                    await command.kill()
                    assert command.proc.returncode == -signal.SIGKILL, command.output
                    rows = rows_of(journal)
                    sending = sum(r["state"] == "sending" for r in rows.values())
                    assert sending <= BOUND, f"killed {where}: {sending} rows left sending"
                    kills.append((where, sending))
                    continue
            code = await command.finish(deadline - time.monotonic())
            if code == 0:
                break
            raise AssertionError(f"exit {code}: {command.output[-3000:]}")
        elapsed = time.perf_counter() - started

        rows = rows_of(journal)
        with Journal(journal) as db:
            campaign = db.meta()["campaign"]
        assert sorted(rows) == list(range(1, N + 1))
        prefix = f"bwmsg:{campaign}:"
        accepted: dict[int, list[str]] = {}
        for message in sim.accepted:
            tag = message.tag or ""
            assert tag.startswith(prefix)
            accepted.setdefault(int(tag[len(prefix) :]), []).append(message.id)
        assert sim.duplicates() == {}, "somebody was texted twice"
        for row, record in rows.items():
            ids = accepted.get(row, [])
            assert record["recipients"] == f"+1919{row - 1:07d}"
            if record["state"] == "sent":
                assert ids == [record["message_id"]], f"row {row}: {record} vs {ids}"
            elif record["state"] == "failed":
                assert ids == [], f"failed row {row} was accepted"
            else:
                assert record["state"] == "unknown", f"row {row} is {record['state']}"
        states = Counter(r["state"] for r in rows.values())
        crash_unknown = sum(
            r["state"] == "unknown" and "being sent" in (r["error"] or "") for r in rows.values()
        )
        assert crash_unknown <= sum(left for _, left in kills)
        print(
            f"\ncrash: {N:,} rows, {len(kills)} SIGKILLs over {runs} runs in {elapsed:.1f} s; "
            f"kills: {', '.join(f'{w} ({n} sending)' for w, n in kills)}; "
            f"rows left sending per kill: max {max((n for _, n in kills), default=0)} "
            f"(bound {BOUND}); final states: sent {states['sent']:,}, "
            f"failed {states['failed']:,}, unknown {states['unknown']:,} "
            f"({crash_unknown:,} from kills); accepted {len(sim.accepted):,}; "
            f"faults met: 429 {sim.counts['429']:,}, "
            f"5xx {sum(v for k, v in sim.counts.items() if k.startswith('5')):,}, "
            f"dropped {sim.counts['drop_before_accept'] + sim.counts['drop_after_accept']:,}; "
            f"duplicates {len(sim.duplicates())}; integrity_check ok"
        )
    assert len(kills) == KILLS
