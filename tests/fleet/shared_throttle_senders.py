"""Sender processes sharing one ``RateLimit``: the load each sends, the process itself (this
module run with ``python -m``) and starting several together from one start time.

Used by ``test_shared_throttle_fleet.py`` and by ``benchmarks/bench_shared_throttle.py``, which
measures the same fleet at more rates and lengths. Each process is one Sender (concurrency
:data:`CONCURRENCY`) with ``send_many`` over an endless mix of messages tagged with its number
(``p0``, ``p1``, ...), against the ``base_url`` it is given.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bwmsg import MessageRequest, RateLimit, RetryPolicy, Sender

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.fleet.shared_throttle_senders"
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
    every process on the machine shares) and send from then for ``seconds``; its outcomes.

    ``spec``: ``base_url``, ``rate``, ``burst``, ``redis_url`` and ``name`` (both None: a local
    RateLimit), ``seconds`` and ``process`` (its number)."""
    limit = RateLimit(
        spec["rate"], burst=spec["burst"], redis_url=spec["redis_url"], name=spec["name"]
    )
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


async def run_processes(spec: dict[str, Any], processes: int) -> tuple[float, list[dict[str, int]]]:
    """Start ``processes`` children of ``spec`` (each given its number), give them one start
    time once all are ready, collect their outcomes: (the start, the outcomes)."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            MODULE,
            json.dumps({**spec, "process": process}),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for process in range(processes)
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
        if line != b"ready\n":
            raise RuntimeError(f"a sender did not start: {line!r}")
    start = time.monotonic() + 0.5
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{start}\n".encode())
        await proc.stdin.drain()
    reports = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=spec["seconds"] + 120)
        if proc.returncode != 0:
            raise RuntimeError(f"a sender failed:\n{err.decode(errors='replace')[-3000:]}")
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


if __name__ == "__main__":
    print(json.dumps(asyncio.run(child(json.loads(sys.argv[1])))))
