"""Soak: send_many at a steady rate for minutes; the client's memory and fds must not grow.

The simulator runs in its own process (so its record of accepted messages is not counted;
it forgets them every few seconds) with mild faults: 5 % 429s, 2 % 5xx, 0.1 % connections
dropped after accepting, 5 ms latency. This process sends an endless lazy stream of messages
through ``Sender.send_many`` held to ``--rate`` segments per second by ``RateLimit``, and
samples its own RSS and open file descriptors every ``--every`` seconds. The verdict compares
the samples after the warm-up (the first minute, or the first fifth of a shorter run): RSS may
grow by at most ``--max-growth-mb`` and the fd count must come back to where it was.

Usage: ``.venv/bin/python benchmarks/soak.py [--minutes 10] [--rate 500] [--no-write]``.
Not run in CI: it takes minutes by design.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_block, table, write_section

from bwmsg import MessageRequest, RateLimit, RetryPolicy, Sender

SIMULATOR = """
import asyncio, sys
from bwmsg.simulator import Faults, Simulator

async def main():
    faults = Faults(rate_limited=0.05, server_error=0.02, drop_after_accept=0.001,
                    latency=0.005, latency_distribution="exponential")
    async with Simulator(faults=faults, seed=1) as sim:
        print(sim.base_url, flush=True)
        while True:  # forget what was accepted, so that the server stays small too
            await asyncio.sleep(5)
            sim.reset()

asyncio.run(main())
"""


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


async def stream(deadline: float) -> AsyncIterator[MessageRequest]:
    i = 0
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        yield MessageRequest(
            to=f"+1919{i % 10_000_000:07d}",
            from_="+19195550000",
            text=f"soak message {i}",
            tag=f"soak:{i}",
        )
        i += 1


async def soak(args: argparse.Namespace, base_url: str, server_pid: int) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + args.minutes * 60
    outcomes: Counter[str] = Counter()
    samples: list[tuple[float, int, float, int, float]] = []  # t, done, rss, fds, server rss

    async with Sender(
        "9900000",
        "user",
        "pass",
        application_id="app",
        base_url=base_url,
        concurrency=args.concurrency,
        rate=RateLimit(args.rate),
        retry=RetryPolicy(base_delay=0.05, max_attempts=5),
    ) as sender:

        async def sample() -> None:
            while True:
                samples.append(
                    (
                        loop.time() - started,
                        sum(outcomes.values()),
                        rss_mb(),
                        fd_count(),
                        rss_mb(server_pid),
                    )
                )
                t, done, rss, fds, _srv = samples[-1]
                print(f"  {t:6.0f} s  {done:>9,} done  RSS {rss:6.1f} MB  fds {fds}", flush=True)
                await asyncio.sleep(args.every)

        sampler = asyncio.ensure_future(sample())
        try:
            async for result in sender.send_many(stream(deadline)):
                outcomes[result.outcome.value] += 1
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        stats = sender.stats()
    samples.append(
        (loop.time() - started, sum(outcomes.values()), rss_mb(), fd_count(), rss_mb(server_pid))
    )
    return {"samples": samples, "outcomes": outcomes, "stats": stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0, help="segments per second")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--max-growth-mb", type=float, default=5.0)
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args()

    server = subprocess.Popen([sys.executable, "-c", SIMULATOR], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        if not base_url:
            raise SystemExit("the simulator did not start")
        print(f"simulator {base_url} (pid {server.pid}); soaking {args.minutes:g} min", flush=True)
        result = asyncio.run(soak(args, base_url, server.pid))
    finally:
        server.terminate()
        server.wait(10)

    samples: list[tuple[float, int, float, int, float]] = result["samples"]  # type: ignore[assignment]
    outcomes: Counter[str] = result["outcomes"]  # type: ignore[assignment]
    warm = min(60.0, args.minutes * 60 / 5)
    running, closed = samples[:-1], samples[-1]  # the last sample is taken after aclose()
    steady = [s for s in running if s[0] >= warm] or running
    rss_first, rss_last = steady[0][2], steady[-1][2]
    rss_peak = max(s[2] for s in steady)
    fds_base, fds_peak, fds_closed = samples[0][3], max(s[3] for s in running), closed[3]
    growth = rss_last - rss_first
    elapsed = closed[0]
    done = closed[1]
    # Memory: flat after the warm-up. Fds: at most one connection per request in flight,
    # and every one of them closed with the Sender.
    ok = growth <= args.max_growth_mb and rss_peak - rss_first <= 2 * args.max_growth_mb
    ok = ok and fds_peak <= fds_base + args.concurrency + 10 and fds_closed <= fds_base
    verdict = (
        f"{'PASS' if ok else 'FAIL'}: after the {warm:.0f} s warm-up RSS went from "
        f"{rss_first:.1f} to {rss_last:.1f} MB ({growth:+.1f} MB, peak {rss_peak:.1f}; "
        f"limit +{args.max_growth_mb:g} MB); open fds {fds_base} before, at most {fds_peak} "
        f"while sending (limit {fds_base + args.concurrency + 10}), {fds_closed} after closing"
    )
    rows = [[f"{t:.0f}", f"{d:,}", f"{r:.1f}", str(f), f"{s:.1f}"] for t, d, r, f, s in samples]
    tab = table(["t (s)", "messages done", "client RSS MB", "client fds", "simulator RSS MB"], rows)
    summary = (
        f"{done:,} messages in {elapsed:.0f} s ({done / elapsed:,.0f}/s at --rate "
        f"{args.rate:g} segments/s, concurrency {args.concurrency}): sent "
        f"{outcomes['sent']:,}, failed {outcomes['failed']:,}, unknown {outcomes['unknown']:,}"
    )
    print()
    print(tab)
    print()
    print(summary)
    print(verdict)
    if not args.no_write:
        body = "\n\n".join(
            [
                machine_block(),
                "send_many at a steady rate against the simulator in another process (5 % "
                "429s, 2 % 5xx, 0.1 % connections dropped after accepting, 5 ms latency); "
                f"this process's RSS and open fds sampled every {args.every:g} s.",
                tab,
                summary + ".",
                f"**{verdict}.**",
            ]
        )
        write_section("soak", "Soak: memory and file descriptors at a steady rate", body)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
