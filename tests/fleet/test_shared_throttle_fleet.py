"""The issue's claim: 4 processes sharing ``RateLimit(300, redis_url=..., name=...)`` for 15 s.

Four OS processes (``shared_throttle_senders``, beside this file), each one Sender with
``send_many`` over an endless mix of messages (one- and two-segment texts, groups of 3), all
against one simulator in the test's process and one redis-server. The simulator's accepted
records (the time each arrived, its segments x recipients, the process in its tag) are the
measure:

- together they reach 300 segments/s ± 3 % over the 15 s;
- never above the burst: no second of the run (counted from the common start) has more than
  rate + burst, the most a token bucket lets through in one second (the burst is set below
  one second's worth so that this check is sharp; the first second holds the initial burst);
- a fair share: each process within ±15 % of a quarter of the segments (they run the same
  load with the same concurrency, so one budget served in arrival order gives each about
  the same).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator

import pytest

from bwmsg import Outcome
from bwmsg.simulator import Simulator
from tests.fleet.shared_throttle_senders import largest_burst, run_processes
from tests.redis_server import RedisServer, redis_server

PROCESSES = 4
RATE = 300.0
BURST = 60.0
SECONDS = 15.0


async def run_children(sim: Simulator, redis: RedisServer) -> tuple[float, list[dict[str, int]]]:
    """The processes on one budget, from one start: (the start, their outcomes)."""
    spec = {
        "base_url": sim.base_url,
        "rate": RATE,
        "burst": BURST,
        "redis_url": redis.url,
        "name": "fleet",
        "seconds": SECONDS,
    }
    return await run_processes(spec, PROCESSES)


def busiest_second(times: list[float], charges: list[int]) -> int:
    """The most segments in any sliding 1-second window."""
    prefix = [0]
    for c in charges:
        prefix.append(prefix[-1] + c)
    return max(
        prefix[j + 1] - prefix[bisect_left(times, t - 1.0 + 1e-9)] for j, t in enumerate(times)
    )


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


async def test_four_processes_share_300_segments_per_second(redis: RedisServer) -> None:
    """4 processes with one shared RateLimit(300) for 15 s: 300 ± 3 % together, never above
    the burst, each a fair share, nothing failed."""
    async with Simulator() as sim:
        start, reports = await run_children(sim, redis)
        records = [
            m for m in sim.accepted if start <= m.received < start + SECONDS and m.tag is not None
        ]
    records.sort(key=lambda m: m.received)
    arrived = [m.received - start for m in records]
    charges = [int(m.message["segmentCount"]) * len(m.to) for m in records]
    per_second = [0] * int(SECONDS)
    shares = Counter[str]()
    for m, t, c in zip(records, arrived, charges, strict=True):
        per_second[int(t)] += c
        shares[str(m.tag)] += c
    total = sum(charges)
    achieved = total / SECONDS
    # Printed, not asserted: sliding measures at the simulator carry the lateness of six
    # processes on two shared cores (a process that runs late sends its due requests at once).
    sliding = (busiest_second(arrived, charges), largest_burst(arrived, charges, RATE))
    figures = (
        f"achieved {achieved:.1f}/s; per second {per_second}; busiest sliding 1-s window "
        f"{sliding[0]}, largest burst {sliding[1]:.1f}; shares {dict(sorted(shares.items()))}; "
        f"outcomes {reports}"
    )
    print(figures)
    assert all(set(r) == {Outcome.SENT.value} for r in reports), figures
    assert achieved == pytest.approx(RATE, rel=0.03), figures
    assert max(per_second) <= RATE + BURST, figures
    assert sorted(shares) == [f"p{p}" for p in range(PROCESSES)], figures
    for share in shares.values():
        assert share == pytest.approx(total / PROCESSES, rel=0.15), figures
