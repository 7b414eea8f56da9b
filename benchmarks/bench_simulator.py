"""How many requests per second the simulator serves on one core.

Run: ``.venv/bin/python benchmarks/bench_simulator.py`` (``--duration``, ``--concurrency``,
``--no-write``). The simulator runs in its own process pinned to one CPU; the load generator
(raw aiohttp, a pre-serialised body, 64 requests in flight) runs in this process, pinned to
another. For each scenario it prints the requests per second, both processes' CPU use, and
which one was the bottleneck, then replaces its section of ``benchmarks/RESULTS.md``.
The goal is at least 3,000 requests per second with the simulator's CPU saturated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTION = "simulator"
CLIENT_CPU = 0  # the same split as the other benchmarks: client on CPU 0, server on CPU 1
SERVER_CPU = 1
TARGET = 3000.0

BODY = {
    "to": ["+19195551212"],
    "from": "+19195550000",
    "text": "Your code is 123456. It expires in 10 minutes.",
    "applicationId": "93de2206-9669-4e07-948d-329f4b722ee2",
    "tag": "bench",
}
SCENARIOS: list[tuple[str, dict[str, Any], str]] = [
    ("SMS, no faults (202)", BODY, ""),
    ("SMS, 10 % 429 + 5 % 500", BODY, "rate_limited=0.1,server_error=0.05"),
    (
        "group MMS, 3 recipients",
        {
            **BODY,
            "to": ["+19195551212", "+19195551213", "+19195551214"],
            "media": ["https://example.com/a.png"],
        },
        "",
    ),
    ("invalid body (400)", {**BODY, "to": ["12345"], "priority": "urgent"}, ""),
]


def _pin(cpu: int) -> None:
    # Not limited to the inherited affinity: the simulator is spawned by the pinned client.
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def _busy_seconds() -> float:
    """CPU-seconds spent busy by the whole machine (all CPUs), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the simulator's process -----------------------------------------------------------------------


async def _serve(faults: str) -> None:
    from bwmsg.simulator import Faults, Simulator

    async with Simulator(faults=Faults.parse(faults), seed=1) as sim:
        print(sim.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF


# -- the load generator ----------------------------------------------------------------------------


async def _load(
    port: int, body: bytes, concurrency: int, warmup: float, duration: float
) -> dict[str, Any]:
    import aiohttp

    url = f"http://127.0.0.1:{port}/api/v2/users/9900000/messages"
    headers = {
        "Authorization": aiohttp.encode_basic_auth("user", "pass"),
        "Content-Type": "application/json",
    }
    statuses: Counter[int] = Counter()
    measuring = False
    stop = False

    async def worker(session: aiohttp.ClientSession) -> None:
        while not stop:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if measuring:
                    statuses[response.status] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.ensure_future(worker(session)) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        measuring = True
        started, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.sleep(duration)
        measuring = False
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
        stop = True
        await asyncio.gather(*tasks)
    return {"statuses": statuses, "elapsed": elapsed, "client_cpu": cpu}


def _run_scenario(body: dict[str, Any], faults: str, args: argparse.Namespace) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", faults],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        payload = json.dumps(body).encode()
        # Sample the simulator's CPU time around the measured window only.
        holder: dict[str, float] = {}

        async def measured() -> dict[str, Any]:
            async def sample() -> None:
                await asyncio.sleep(args.warmup)
                holder["t0"], holder["c0"] = time.perf_counter(), _cpu_seconds(proc.pid)
                holder["b0"] = _busy_seconds()
                await asyncio.sleep(args.duration)
                holder["t1"], holder["c1"] = time.perf_counter(), _cpu_seconds(proc.pid)
                holder["b1"] = _busy_seconds()

            sampler = asyncio.ensure_future(sample())
            result = await _load(port, payload, args.concurrency, args.warmup, args.duration)
            await sampler
            return result

        result = asyncio.run(measured())
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=30)
    window = holder["t1"] - holder["t0"]
    result["server_cpu"] = (holder["c1"] - holder["c0"]) / window
    result["client_cpu"] /= result["elapsed"]
    busy = (holder["b1"] - holder["b0"]) / window
    result["other_cpu"] = max(0.0, busy - result["server_cpu"] - result["client_cpu"])
    return result


def _verdict(server: float, client: float) -> str:
    if server >= 0.9:
        return "simulator (its CPU is saturated)"
    if client >= 0.9:
        return "load generator"
    return "neither (latency-bound)"


def _table(rows: list[list[str]]) -> str:
    headers = [
        "scenario",
        "req/s",
        "statuses",
        "simulator CPU",
        "req/s at 100 % CPU",
        "client CPU",
        "other load",
        "bottleneck",
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    align = "lrlrrrrl"

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if a == "l" else c.rjust(w)
                for c, w, a in zip(cells, widths, align, strict=True)
            )
            + " |"
        )

    rule = (
        "|"
        + "|".join(
            (":" + "-" * (w + 1)) if a == "l" else ("-" * (w + 1) + ":")
            for w, a in zip(widths, align, strict=True)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _write_results(body: str) -> None:
    begin, end = f"<!-- BEGIN {SECTION} -->", f"<!-- END {SECTION} -->"
    section = f"{begin}\n## Simulator: requests per second on one core\n\n{body.strip()}\n{end}"
    text = RESULTS.read_text() if RESULTS.exists() else "# bwmsg benchmark results\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text)
    print(f"\nwrote section '{SECTION}' of {os.path.relpath(RESULTS)}")


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    packages = []
    for name in ("aiohttp", "orjson", "uvloop"):
        with contextlib.suppress(PackageNotFoundError):
            packages.append(f"{name} {version(name)}")
    return (
        f"{os.cpu_count()} x {model}, {platform.system()} {platform.release()}, "
        f"{platform.python_implementation()} {platform.python_version()}; {', '.join(packages)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    parser.add_argument("--serve", metavar="FAULTS", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve is not None:
        _pin(SERVER_CPU)
        asyncio.run(_serve(args.serve))
        return

    _pin(CLIENT_CPU)
    pinned = hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) == 1
    rows: list[list[str]] = []
    first = 0.0
    for name, body, faults in SCENARIOS:
        result = _run_scenario(body, faults, args)
        total = sum(result["statuses"].values())
        rps = total / result["elapsed"]
        first = first or rps
        statuses = ", ".join(f"{s}: {n / total:.0%}" for s, n in sorted(result["statuses"].items()))
        rows.append(
            [
                name,
                f"{rps:,.0f}",
                statuses,
                f"{result['server_cpu']:.0%}",
                f"{rps / max(result['server_cpu'], 1e-9):,.0f}",
                f"{result['client_cpu']:.0%}",
                f"{result['other_cpu']:.0%}",
                _verdict(result["server_cpu"], result["client_cpu"]),
            ]
        )
        print(f"{name}: {rps:,.0f} req/s", flush=True)
    report = _table(rows)
    verdict = "meets" if first >= TARGET else "DOES NOT meet"
    summary = (
        f"The simulator {verdict} the goal of {TARGET:,.0f} req/s on one core "
        f"({first:,.0f} req/s for plain SMS). 'req/s at 100 % CPU' extrapolates what the "
        "simulator's core would serve if the load generator could push it to saturation; "
        "'other load' is CPU used by other processes meanwhile (it makes figures noisy)."
    )
    print()
    print(report)
    print()
    print(summary)
    if not args.no_write:
        exe = os.path.relpath(sys.executable, Path.cwd())
        script = os.path.relpath(sys.argv[0], Path.cwd())
        details = "\n".join(
            [
                f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}",
                f"- Command: `{shlex.join([exe, script, *sys.argv[1:]])}`",
                f"- Machine: {_machine()}",
                f"- Simulator in its own process pinned to CPU {SERVER_CPU}; load generator "
                f"(aiohttp, pre-serialised body, {args.concurrency} in flight) pinned to CPU "
                f"{CLIENT_CPU}" + ("" if pinned else " (pinning unavailable here)"),
                f"- {args.duration:g} s measured per scenario after {args.warmup:g} s of warm-up",
            ]
        )
        _write_results(f"{details}\n\n{report}\n\n{summary}\n")


if __name__ == "__main__":
    main()
