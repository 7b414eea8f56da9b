"""The rate limit shared through Redis: its accuracy across processes, and what one acquisition
costs beside the local throttle.

Accuracy: 1 and 4 sender processes (``tests/fleet/shared_throttle_senders.py``, which the
fleet's test runs too), each one Sender with ``RateLimit(rate, burst=burst, redis_url=...,
name=...)`` and concurrency 50, run ``send_many`` over an endless mix (one- and two-segment
texts, every 7th to a group of 3) for ``--seconds`` (30) from a common start, against one
:class:`bwmsg.simulator.Simulator` in this process and one ``redis-server`` (Debian's package,
started on a free port without persistence by ``tests/redis_server.py``, as for the tests). A
local ``RateLimit`` in one process runs beside them for comparison. Measured from the
simulator's accepted records (arrival time, segments x recipients, the process in the tag): the
achieved rate, the busiest whole second counted from the start (a token bucket allows at most
rate + burst in one second; the first second holds the initial burst), the busiest second after
the first, the largest burst over any interval (sliding: max over i <= j of sum(charges i..j) -
rate * (t_j - t_i); it carries the lateness of the processes and the simulator, which share two
cores), and each process's share of the segments beside a fair share (total / processes).
Several rounds (``--repeat``); medians with the spread.

Acquisition cost: in one process, ``--n`` acquisitions that never wait (a rate no one reaches),
one after the other and 64 at a time, through the shared gate (one Redis round trip each) and
through the local one, in the same run; microseconds per acquisition and the ratio.

Usage: ``.venv/bin/python benchmarks/bench_shared_throttle.py [--quick] [--seconds S]
[--repeat R] [--rate N] [--burst B] [--n N]``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fleet, tests.redis_server

import redis.asyncio as redis_library
from _common import base_parser, publish, table, wait_quiet

from bwmsg import MessageRequest, RateLimit
from bwmsg._throttle import open_gate
from bwmsg.simulator import Simulator
from tests.fleet.shared_throttle_senders import CONCURRENCY, largest_burst, run_processes
from tests.redis_server import redis_server

TOLERANCE = 0.03  # the target: within ±3 % of the rate
FAIR = 0.15  # each process within ±15 % of a fair share


def analyse(
    records: list[Any], start: float, seconds: float, rate: float, processes: int
) -> dict[str, float]:
    """The figures of one run from the simulator's accepted records."""
    kept = sorted(
        (m for m in records if m.tag is not None and start <= m.received < start + seconds),
        key=lambda m: m.received,
    )
    times = [m.received - start for m in kept]
    charges = [int(m.message["segmentCount"]) * len(m.to) for m in kept]
    per_second = [0] * int(seconds)
    shares: Counter[str] = Counter()
    for m, t, c in zip(kept, times, charges, strict=True):
        per_second[min(int(t), len(per_second) - 1)] += c
        shares[str(m.tag)] += c
    total = sum(charges)
    fair = total / processes
    return {
        "achieved": total / seconds,
        "error": total / seconds / rate - 1,
        "steady": sum(per_second[1:]) / (len(per_second) - 1),
        "worst_second": max(per_second),
        "worst_steady": max(per_second[1:]),
        "largest_burst": largest_burst(times, charges, rate),
        "share_low": min(shares.get(f"p{p}", 0) for p in range(processes)) / fair - 1,
        "share_high": max(shares.values()) / fair - 1,
    }


async def accuracy(spec: dict[str, Any], processes: int) -> dict[str, float]:
    wait_quiet()
    async with Simulator() as sim:
        start, reports = await run_processes({**spec, "base_url": sim.base_url}, processes)
        figures = analyse(list(sim.accepted), start, spec["seconds"], spec["rate"], processes)
    figures["not_sent"] = sum(n for r in reports for k, n in r.items() if k != "sent")
    figures["processes"] = processes
    return figures


# -- the cost of one acquisition -----------------------------------------------------------------


async def acquisitions(redis_url: str, n: int) -> dict[str, float]:
    """µs per acquisition that never waits, shared and local, one at a time and 64 at a time."""
    request = MessageRequest(to="+19195551212", from_="+19195550000", text="hi")
    out: dict[str, float] = {}
    for kind, limit in (
        ("shared", RateLimit(1e9, redis_url=redis_url, name="cost")),
        ("local", RateLimit(1e9)),
    ):
        gate = open_gate(limit, "9900000")
        await gate.wait(request)  # connect, load the script
        started = time.perf_counter()
        for _ in range(n):
            await gate.wait(request)
        out[f"{kind}_serial"] = (time.perf_counter() - started) / n * 1e6

        async def worker(count: int, gate: Any = gate) -> None:
            for _ in range(count):
                await gate.wait(request)

        started = time.perf_counter()
        await asyncio.gather(*(worker(n // 64) for _ in range(64)))
        out[f"{kind}_parallel"] = (time.perf_counter() - started) / (n // 64 * 64) * 1e6
        await gate.aclose()
    client = redis_library.from_url(redis_url)
    await client.ping()
    started = time.perf_counter()
    for _ in range(n):
        await client.ping()
    out["ping_serial"] = (time.perf_counter() - started) / n * 1e6
    await client.aclose()
    return out


# -- the report ----------------------------------------------------------------------------------


def _spread(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))} to {fmt.format(max(values))})"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def verdict(label: str, col: dict[str, list[float]], rate: float, burst: float) -> str:
    """The targets, judged on every round."""
    within = all(abs(e) <= TOLERANCE for e in col["error"])
    under = all(w <= rate + burst for w in col["worst_second"])
    said = (
        f"{label}: rate within ±{TOLERANCE:.0%} in every round: {_met(within)}; "
        f"no second above rate + burst ({rate + burst:g}): {_met(under)}"
    )
    if col["processes"][0] > 1:
        lows, highs = col["share_low"], col["share_high"]
        fair = all(lo >= -FAIR and hi <= FAIR for lo, hi in zip(lows, highs, strict=True))
        said += f"; every process within ±{FAIR:.0%} of a fair share: {_met(fair)}"
    return said


def report(runs: dict[str, list[dict[str, float]]], rate: float, burst: float) -> tuple[str, str]:
    rows = []
    verdicts = []
    for label, figures in runs.items():
        col = {k: [f[k] for f in figures] for k in figures[0]}
        shares = ""
        if col["processes"][0] > 1:
            low = _spread([s * 100 for s in col["share_low"]], "{:+.1f} %")
            high = _spread([s * 100 for s in col["share_high"]], "{:+.1f} %")
            shares = f"{low} / {high}"
        rows.append(
            [
                label,
                _spread(col["achieved"], "{:.1f}"),
                _spread([e * 100 for e in col["error"]], "{:+.2f} %"),
                _spread(col["steady"], "{:.1f}"),
                _spread(col["worst_second"], "{:.0f}"),
                _spread(col["worst_steady"], "{:.0f}"),
                _spread(col["largest_burst"], "{:.1f}"),
                shares,
                f"{sum(col['not_sent']):.0f}",
            ]
        )
        verdicts.append(verdict(label, col, rate, burst))
    tab = table(
        [
            "senders",
            "achieved segments/s",
            "vs target",
            "after the first second",
            f"busiest second (≤ {rate + burst:g})",
            "busiest second after the first",
            f"largest burst, sliding (burst {burst:g})",
            "process shares vs fair: lowest / highest",
            "not sent",
        ],
        rows,
        align="lrrrrrrrr",
    )
    return tab, "\n".join(f"- {v}" for v in verdicts)


def cost_table(costs: list[dict[str, float]]) -> str:
    col = {k: [c[k] for c in costs] for k in costs[0]}
    ratio_serial = [c["shared_serial"] / c["local_serial"] for c in costs]
    ratio_parallel = [c["shared_parallel"] / c["local_parallel"] for c in costs]
    rows = [
        [
            "one at a time",
            _spread(col["local_serial"], "{:.1f}"),
            _spread(col["shared_serial"], "{:.1f}"),
            _spread(ratio_serial, "{:.0f} ×"),
        ],
        [
            "64 at a time",
            _spread(col["local_parallel"], "{:.1f}"),
            _spread(col["shared_parallel"], "{:.1f}"),
            _spread(ratio_parallel, "{:.0f} ×"),
        ],
        ["for scale: redis-py PING, one at a time", "", _spread(col["ping_serial"], "{:.1f}"), ""],
    ]
    return table(
        [
            "acquisitions that never wait",
            "local µs each",
            "shared (Redis) µs each",
            "shared / local",
        ],
        rows,
    )


async def main_async() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="length of each run (30; 5 with --quick)")
    parser.add_argument("--repeat", type=int, help="rounds (3; 1 with --quick)")
    parser.add_argument("--rate", type=float, default=300.0, help="segments per second")
    parser.add_argument("--burst", type=float, default=60.0, help="burst, in segments")
    parser.add_argument("--n", type=int, help="acquisitions timed per round (20,000; 2,000 quick)")
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    repeat = args.repeat or (1 if args.quick else 3)
    n = args.n or (2_000 if args.quick else 20_000)
    runs: dict[str, list[dict[str, float]]] = {
        "1 process, local RateLimit": [],
        "1 process, shared (Redis)": [],
        "4 processes, shared (Redis)": [],
    }
    costs = []
    with redis_server() as redis:
        url = redis.url
        spec = {"rate": args.rate, "burst": args.burst, "seconds": seconds}
        for round_ in range(repeat):
            for label, processes, redis_url in (
                ("1 process, local RateLimit", 1, None),
                ("1 process, shared (Redis)", 1, url),
                ("4 processes, shared (Redis)", 4, url),
            ):
                print(f"round {round_ + 1}/{repeat}: {label}, {seconds:g} s ...", flush=True)
                name = "bench" if redis_url else None
                figures = await accuracy({**spec, "redis_url": redis_url, "name": name}, processes)
                print(f"  {figures}", flush=True)
                runs[label].append(figures)
            wait_quiet()
            costs.append(await acquisitions(url, n))
            print(f"  acquisition cost: {costs[-1]}", flush=True)
    tab, verdicts = report(runs, args.rate, args.burst)
    cost = cost_table(costs)
    print(f"\n{tab}\n\n{verdicts}\n\n{cost}")
    notes = (
        f"`RateLimit({args.rate:g}, burst={args.burst:g}, redis_url=..., name=...)`, each sender "
        f"process one Sender (concurrency {CONCURRENCY}) over an endless mix (1- and 2-segment "
        "texts, every 7th to a group of 3), all against one `bwmsg.simulator` in the "
        "benchmark's process and one redis-server on the same machine; counted from the "
        f"simulator's accepted records over {seconds:g} s from a common start; {repeat} rounds, "
        'median (lowest to highest). "Busiest second": the most segments in one whole second '
        "counted from the start (the first holds the initial burst; the bucket allows at most "
        'rate + burst). "Largest burst, sliding": the most sent beyond the rate over any '
        "interval, at the simulator: it adds the lateness of six processes (senders, "
        "simulator, Redis) on two cores, where a sender that runs late sends its due requests "
        "at once. The burst is set below one second's worth so that the per-second check is "
        "sharp."
    )
    cost_notes = (
        f"{n:,} acquisitions per round through the gate a Sender waits on (`open_gate`), at a "
        "rate no one reaches, so each is the bookkeeping alone: local, the in-process token "
        "bucket; shared, one Lua script in Redis over a TCP connection on 127.0.0.1 (one round "
        "trip). 64 at a time: 64 tasks of one process, each acquiring in turn. Wall-clock figures "
        "on a machine shared with other work: they swing from round to round, so each ratio is "
        "taken within its round."
    )
    publish(
        args,
        "shared_throttle",
        "8. The rate limit shared through Redis",
        notes,
        tab,
        verdicts,
        "### The cost of one acquisition",
        cost_notes,
        cost,
    )


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
