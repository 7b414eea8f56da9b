"""The issue's claim: 4 processes sharing ``RateLimit(300, redis_url=..., name=...)`` for 15 s.

Four OS processes (this module run as a script), each one Sender with ``send_many`` over an
endless mix of messages (one- and two-segment texts, groups of 3), all against one simulator
in the test's process and one redis-server. The simulator's accepted records (the time each
arrived, its segments x recipients, the process in its tag) are the measure:

- together they reach 300 segments/s ± 3 % over the 15 s;
- never above the burst: no second of the run (counted from the common start) has more than
  rate + burst, the most a token bucket lets through in one second (the burst is set below
  one second's worth so that this check is sharp; the first second holds the initial burst);
- a fair share: each process within ±15 % of a quarter of the segments (they run the same
  load with the same concurrency, so one budget served in arrival order gives each about
  the same).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bwmsg import MessageRequest, Outcome, RateLimit, RetryPolicy, Sender
from bwmsg.simulator import Simulator
from tests.redis_server import RedisServer, redis_server

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
RATE = 300.0
BURST = 60.0
SECONDS = 15.0
CONCURRENCY = 50


def request(process: int, i: int) -> MessageRequest:
    """The mix: mostly 1 segment, every 5th 2 segments, every 7th to a group of 3."""
    to: str | list[str] = f"+1919555{i % 10000:04d}"
    if i % 7 == 0:
        to = [f"+1919556{(i + k) % 10000:04d}" for k in range(3)]
    text = "x" * 200 if i % 5 == 0 else f"hello {i}"
    return MessageRequest(to=to, from_="+19195550000", text=text, tag=f"p{process}")


async def child(spec: dict[str, Any]) -> dict[str, int]:
    """One process's run: warm up, say ``ready``, read the start time (monotonic clock, which
    every process on the machine shares) and send from then for ``seconds``."""
    limit = RateLimit(RATE, burst=BURST, redis_url=spec["redis_url"], name=spec["name"])
    outcomes: Counter[str] = Counter()
    async with Sender(
        "9900000",
        "user",
        "pass",
        application_id="app",
        base_url=spec["base_url"],
        concurrency=CONCURRENCY,
        rate=limit,
        retry=RetryPolicy(base_delay=0.01),
    ) as sender:
        # Connected (and the scripts loaded) before the start, as a long-running service is.
        await sender.send(MessageRequest(to="+19195551212", from_="+19195550000", text="warm"))
        print("ready", flush=True)
        start = float(await asyncio.to_thread(sys.stdin.readline))
        end = start + spec["seconds"]

        async def requests() -> AsyncIterator[MessageRequest]:
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            i = 0
            while time.monotonic() < end:
                i += 1
                yield request(spec["process"], i)

        async for result in sender.send_many(requests()):
            outcomes[result.outcome.value] += 1
    return dict(outcomes)


async def run_children(sim: Simulator, redis: RedisServer) -> tuple[float, list[dict[str, int]]]:
    """Start the processes, give them one start time once all are ready, collect their
    reports: (the start, the reports)."""
    spec = {"base_url": sim.base_url, "redis_url": redis.url, "name": "fleet", "seconds": SECONDS}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fleet.test_shared_throttle_fleet",
            json.dumps({**spec, "process": process}),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for process in range(PROCESSES)
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        assert line == b"ready\n", line
    start = time.monotonic() + 0.5
    reports = []
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{start}\n".encode())
        await proc.stdin.drain()
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=SECONDS + 60)
        assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    return start, reports


def largest_burst(times: list[float], charges: list[int], rate: float) -> float:
    """The most sent beyond the rate over any interval: max over i <= j of
    sum(charges[i..j]) - rate * (t_j - t_i)."""
    worst, low, total = float("-inf"), float("inf"), 0
    for t, c in zip(times, charges, strict=True):
        low = min(low, total - rate * t)
        total += c
        worst = max(worst, total - rate * t - low)
    return worst


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


if __name__ == "__main__":
    print(json.dumps(asyncio.run(child(json.loads(sys.argv[1])))))
