"""Workers SIGKILLed: `campaign run` plus two `campaign worker`s on one PostgreSQL journal over the
simulator's fault mix (tests/faults.py CHAOS: 429s, 5xx, connections dropped before and after
the message was accepted), one worker killed at a random point ``BWMSG_FLEET_KILLS`` times (10
by default) and replaced at once, so the campaign goes on.

``BWMSG_FLEET_N`` rows (6,000 by default, as CI runs it); the larger run::

    BWMSG_FLEET_N=60000 BWMSG_FLEET_KILLS=20 .venv/bin/pytest tests/fleet/test_fleet_kill.py -s

Over the whole history: nobody is texted twice (the simulator's accepted messages counted by
tag); every row ends final once the last process exits; the rows a kill leaves ``sending`` are
at most ``2 x concurrency + 10`` and only they become ``unknown`` with the lease's error (the
other ``unknown`` rows are the dropped connections', another error); a killed worker's lease
runs out when it was last set to, no sooner, and its rows are settled soon after.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import pytest

from bwmsg.campaign._pg_sql import LOST
from bwmsg.simulator import Simulator
from tests.cli_helpers import Command, campaign_run_args, env_for, write_csv
from tests.faults import CHAOS
from tests.fleet.test_fleet_cli import CAMPAIGN, campaign_of
from tests.postgres_server import pg_server, pg_url  # noqa: F401 - fixtures

N = int(os.environ.get("BWMSG_FLEET_N", "6000"))
KILLS = int(os.environ.get("BWMSG_FLEET_KILLS", "10"))
CONCURRENCY = 10
BOUND = 2 * CONCURRENCY + 10  # the most rows one kill may leave in flight (DESIGN)
LEASE = 2.0
SETTLE_SLACK = 2.5  # seconds after the lease's end by which a live worker has settled it

asyncpg = pytest.importorskip("asyncpg", reason="the postgres extra: pip install 'bwmsg[postgres]'")


pytestmark = pytest.mark.usefixtures("reap_commands")


@attrs.define
class Kill:
    """One SIGKILL: where it fell, the worker's id, its rows left in flight, its lease."""

    where: str
    worker: str | None = None  # None: killed before it registered
    sending: int = 0
    claimed: int = 0  # its rows in any state (sending, or claimed and not yet sent)
    killed_at: float = 0.0  # the database's clock (epoch seconds)
    lease_until: float = 0.0
    settled_at: float | None = None  # when its lease was settled (the database's clock)
    unknown: int = 0  # its rows that ended unknown with the lease's error

    def describe(self) -> str:
        if self.worker is None:
            return f"{self.where}: before it registered"
        if self.settled_at is None:
            return f"{self.where}: holding no rows, not settled (the campaign ended first)"
        left = self.lease_until - self.killed_at
        late = (self.settled_at or 0) - self.lease_until
        return (
            f"{self.where}: {self.sending} sending, {self.unknown} unknown, lease ran out "
            f"{left:.2f} s after the kill, settled {late:.2f} s after that"
        )


async def start_worker(env: dict[str, str], url: str, campaign: str) -> Command:
    return await Command.start(
        env,
        "campaign",
        "worker",
        "--journal",
        url,
        "--campaign",
        campaign,
        "--retry-delay",
        "0.01",
        *options(),
    )


RATE = 100  # segments/s a process: the campaign lasts >= N / (3 * RATE) however fast it runs


def options() -> list[str]:
    """What the run and the workers share (campaign_run_args gives the run its retry delay).
    The rate makes the campaign outlast the kills on a loaded machine too, where starting a
    worker slows down more than sending does (unpaced, it once finished before the tenth)."""
    return [
        *("--concurrency", str(CONCURRENCY), "--lease", str(LEASE)),
        *("--rate", str(RATE), "--quiet"),
    ]


async def kill(db: Any, victim: Command) -> Kill:
    """SIGKILL ``victim`` and read what it left: its id, rows in flight, its lease's end."""
    victim.proc.send_signal(signal.SIGKILL)
    await victim.finish(30)
    assert victim.proc.returncode == -signal.SIGKILL, victim.output
    found = await db.fetchrow(
        "SELECT id, extract(epoch from lease_until)::float8 AS until, "
        "extract(epoch from now())::float8 AS now FROM bwmsg_workers WHERE pid = $1 "
        "ORDER BY started DESC LIMIT 1",
        victim.pid,
    )
    record = Kill("")
    if found is not None:
        record.worker, record.lease_until, record.killed_at = (
            found["id"],
            found["until"],
            found["now"],
        )
        held = await db.fetch(
            "SELECT state, COUNT(*) AS n FROM bwmsg_rows WHERE claimed_by = $1 GROUP BY state",
            record.worker,
        )
        record.claimed = sum(r["n"] for r in held)
        record.sending = sum(r["n"] for r in held if r["state"] == "sending")
    return record


async def registered(db: Any, worker: Command) -> None:
    """Wait until ``worker`` has registered in the journal (no event says so: poll)."""
    query = "SELECT 1 FROM bwmsg_workers WHERE pid = $1 AND ended IS NULL"
    while worker.running and await db.fetchval(query, worker.pid) is None:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def killing(
    env: dict[str, str],
    url: str,
    campaign: str,
    sim: Simulator,
    workers: list[Command],
    rng: random.Random,
) -> list[Kill]:
    """Kill a random worker at random points ``KILLS`` times, starting another each time."""
    kills: list[Kill] = []
    db = await asyncpg.connect(url)
    try:
        while len(kills) < KILLS:
            index = rng.randrange(len(workers))
            victim = workers[index]
            if rng.random() < 0.3:  # a moment after it started (maybe before it registered)
                delay = rng.uniform(0.2, 1.5)
                where = f"{delay:.2f} s after its start"
                await asyncio.sleep(max(0.0, victim.started + delay - time.monotonic()))
            else:  # when a random number more were accepted, spread over what is left
                await registered(db, victim)
                left = max(1, (N - len(sim.accepted)) // (KILLS - len(kills) + 2))
                target = len(sim.accepted) + rng.randint(1, left)
                where = f"at {target:,} accepted"
                # No event marks "N accepted": poll the simulator's record.
                while len(sim.accepted) < target and victim.running:  # noqa: ASYNC110
                    await asyncio.sleep(0.002)
            if not victim.running:
                break  # the campaign ended first
            record = await kill(db, victim)
            record.where = where
            kills.append(record)
            workers[index] = await start_worker(env, url, campaign)
    finally:
        await db.close()
    return kills


async def settled(url: str, kills: list[Kill]) -> None:
    """Each killed worker's lease as the journal ended it, and its rows that became unknown."""
    db = await asyncpg.connect(url)
    try:
        for record in kills:
            if record.worker is None:
                continue
            found = await db.fetchrow(
                "SELECT ended, result FROM bwmsg_workers WHERE id = $1", record.worker
            )
            if found["ended"] is None:
                # Settled by the next claim after its lease's end; a worker that held no rows
                # and died as the campaign ended has nobody left to settle it, and need not.
                assert record.claimed == 0, record
                continue
            assert found["result"] == "lease expired", (record, dict(found))
            record.settled_at = found["ended"]
            record.unknown = await db.fetchval(
                "SELECT COUNT(*) FROM bwmsg_rows WHERE worker = $1 AND state = 'unknown' "
                "AND error = $2",
                record.worker,
                LOST,
            )
    finally:
        await db.close()


async def final_rows(url: str) -> list[Any]:
    db = await asyncpg.connect(url)
    try:
        return list(await db.fetch("SELECT row, state, error, worker FROM bwmsg_rows ORDER BY row"))
    finally:
        await db.close()


async def test_workers_killed_at_random_points(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    """SIGKILLed workers, replaced: nobody twice, all final, unknown only for the killed ones'
    rows in flight (each kill within the bound), leases ending as configured."""
    recipients = write_csv(tmp_path / "r.csv", N)
    rng = random.Random(16)
    started = time.perf_counter()
    async with Simulator(faults=CHAOS, seed=17) as sim:
        env = env_for(sim)
        run = await Command.start(env, *campaign_run_args(recipients, pg_url, *options()))
        await run.wait_for_output(lambda out: CAMPAIGN.search(out) is not None, 60)
        campaign = campaign_of(run.output)
        workers = [await start_worker(env, pg_url, campaign) for _ in range(2)]
        kills = await killing(env, pg_url, campaign, sim, workers, rng)
        deadline = 120 + N / 50
        codes = [await c.finish(deadline) for c in (run, *workers)]
        elapsed = time.perf_counter() - started
        for command, code in zip((run, *workers), codes, strict=True):
            assert code == 0, command.output[-3000:]
        await settled(pg_url, kills)
        rows = await final_rows(pg_url)

    tags = Counter(m.tag for m in sim.accepted)
    assert max(tags.values()) == 1, "somebody was texted twice"
    assert set(tags) <= {f"bwmsg:{campaign}:{row}" for row in range(1, N + 1)}
    states = Counter(r["state"] for r in rows)
    assert len(rows) == N
    assert states["pending"] == states["sending"] == 0, states
    killed = {k.worker for k in kills if k.worker is not None}
    lost = [r for r in rows if r["state"] == "unknown" and r["error"] == LOST]
    assert {r["worker"] for r in lost} <= killed  # only killed workers' rows end so
    for record in kills:
        assert record.sending <= BOUND, record.describe()
        assert record.unknown <= record.sending, record.describe()
        if record.settled_at is not None:
            # The lease was last set (at its start or a renewal, every third) to end at most
            # LEASE after the kill; nobody settled it before that end, and soon after it.
            assert record.lease_until - record.killed_at <= LEASE + 0.05, record.describe()
            assert record.settled_at >= record.lease_until, record.describe()
            assert record.settled_at - record.lease_until <= SETTLE_SLACK, record.describe()
    assert len(lost) == sum(k.unknown for k in kills)
    dropped = sim.counts["drop_before_accept"] + sim.counts["drop_after_accept"]
    print(
        f"\nfleet kill: {N:,} rows, run + 2 workers (concurrency {CONCURRENCY}, lease {LEASE:g} s),"
        f" {len(kills)} SIGKILLs in {elapsed:.1f} s:\n  "
        + "\n  ".join(k.describe() for k in kills)
        + f"\nfinal: sent {states['sent']:,}, failed {states['failed']:,}, unknown "
        f"{states['unknown']:,} ({len(lost)} from leases, {states['unknown'] - len(lost)} from "
        f"{dropped} dropped connections); accepted {len(sim.accepted):,}, duplicates 0; faults "
        f"met: 429 {sim.counts['429']:,}, "
        f"5xx {sum(v for k, v in sim.counts.items() if k.startswith('5')):,}"
    )
    assert len(kills) == KILLS
