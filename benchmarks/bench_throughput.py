"""Throughput: bwmsg's send_many against raw aiohttp loops, on one fast local server.

Every contender runs in a fresh process pinned to CPU 0 against the same reference server
(nginx pinned to CPU 1; see _server.py) and sends N messages at a given concurrency:

- ``raw``: aiohttp posting one pre-serialised body over and over (the ceiling);
- ``raw + json`` / ``raw + orjson``: aiohttp building a dict, serialising it and parsing each
  answer per message (the least a real client does);
- ``bwmsg send_many``: a ``MessageRequest`` built and validated per message from a generator,
  each answer parsed into a ``Message``, sent by the Sender's own HTTP pool (the default);
- ``bwmsg send_many through an aiohttp session``: the same, with ``session=`` an aiohttp
  session (the Sender then sends through aiohttp, as it does with ``trace_configs``);
- the ceiling and send_many again on uvloop, when it is installed.

Reported: messages/s, client CPU microseconds per message, peak RSS, and both ratios to the
ceiling on the default loop. Each cell is the median of ``--repeat`` runs (contenders
interleaved). Usage: ``.venv/bin/python benchmarks/bench_throughput.py [--quick]``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, mb, publish, run_against, table
from _server import ReferenceServer

TARGET_RATE, TARGET_CPU, TARGET_UVLOOP = 0.85, 1.2, 1.1


def contenders() -> list[tuple[str, str, str]]:
    """(label, contender, loop) in run order; the first is the ceiling."""
    out = [
        ("raw aiohttp, pre-serialised body (ceiling)", "raw", "asyncio"),
        ("raw aiohttp + json per message", "raw-json", "asyncio"),
    ]
    if importlib.util.find_spec("orjson"):
        out.append(("raw aiohttp + orjson per message", "raw-orjson", "asyncio"))
    out.append(("bwmsg send_many", "bwmsg", "asyncio"))
    out.append(("bwmsg send_many through an aiohttp session", "bwmsg-aiohttp", "asyncio"))
    if importlib.util.find_spec("uvloop"):
        out.append(("raw aiohttp, pre-serialised, uvloop", "raw", "uvloop"))
        out.append(("bwmsg send_many, uvloop", "bwmsg", "uvloop"))
    return out


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", help="message counts (default 20000 100000)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument(
        "--repeat", type=int, help="runs per cell, median kept (default 3; 1 quick)"
    )
    args = parser.parse_args()
    counts = args.n or ([5000] if args.quick else [20_000, 100_000])
    repeat = args.repeat or (1 if args.quick else 3)
    plan = contenders()

    sections: list[str] = []
    verdicts: list[str] = []
    with ReferenceServer(args.server) as server:
        print(f"server: {server.describe()}", flush=True)
        status0 = server.status()
        for n in counts:
            for conc in args.concurrency:
                runs: dict[int, list[dict[str, Any]]] = {k: [] for k in range(len(plan))}
                for rep in range(repeat):
                    for k, (label, contender, loop) in enumerate(plan):
                        spec = {"contender": contender, "loop": loop, "n": n, "concurrency": conc}
                        r = run_against(server, label, spec)
                        runs[k].append(r)
                        print(
                            f"  N={n} c={conc} run {rep + 1}/{repeat} {label}: "
                            f"{r['rate']:,.0f} msg/s, "
                            f"{r['cpu'] / n * 1e6:.1f} us CPU/msg",
                            flush=True,
                        )
                best = {k: _median(v) for k, v in runs.items()}
                ceiling = best[0]
                rows = []
                for k, (label, _contender, _loop) in enumerate(plan):
                    r = best[k]
                    rows.append(
                        [
                            label,
                            f"{r['rate']:,.0f}",
                            f"{r['cpu'] / n * 1e6:.1f}",
                            mb(r["maxrss_kb"]),
                            f"{r['rate'] / ceiling['rate']:.2f}",
                            f"{r['cpu'] / ceiling['cpu']:.2f}",
                            f"{r['server_busy'] * 100:.0f} %",
                            f"{r['other_load'] * 100:.0f} %",
                        ]
                    )
                title = f"N = {n:,}, concurrency {conc}"
                tab = table(
                    [
                        "contender",
                        "msg/s",
                        "µs CPU/msg",
                        "peak RSS MB",
                        "× ceiling msg/s",
                        "× ceiling CPU",
                        "server CPU",
                        "other load",
                    ],
                    rows,
                )
                print(f"\n{title}\n{tab}\n", flush=True)
                sections.append(f"### {title}\n\n{tab}")
                verdicts.extend(_verdicts(title, plan, best))
        status1 = server.status()
        conns = status1["accepts"] - status0["accepts"]
        reqs = status1["requests"] - status0["requests"]
        description = server.describe()

    notes = (
        f"Each cell: the median (by msg/s) of {repeat} run(s); contenders interleaved, each in a "
        "fresh process, after a warm-up of 2 × concurrency messages that opens the connections. "
        "CPU is the client's user + system time over the N messages; peak RSS is the client "
        "process's maximum. \"server CPU\" is the server's CPU time over the client's wall time: "
        'well under 100 % means the server was not the bottleneck. "other load" is the CPU '
        "that the rest of the machine used meanwhile, in % of one CPU: more than a few % means "
        "something else was running and the row is suspect. "
        f"Keep-alive: {reqs:,} requests over {conns:,} connections in the whole run."
    )
    targets = "\n".join(f"- {v}" for v in verdicts)
    print(targets)
    title = "1. Throughput: send_many vs raw aiohttp"
    against = "### Against the targets\n\n" + targets
    publish(args, "throughput", title, notes, *sections, against, server=description)


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["rate"])
    return ordered[(len(ordered) - 1) // 2] if len(ordered) % 2 == 0 else ordered[len(ordered) // 2]


def _verdicts(
    title: str, plan: list[tuple[str, str, str]], best: dict[int, dict[str, Any]]
) -> list[str]:
    ceiling = best[0]
    index = {(c, loop): k for k, (_, c, loop) in enumerate(plan)}
    out = []
    many = best[index[("bwmsg", "asyncio")]]
    rate, cpu = many["rate"] / ceiling["rate"], many["cpu"] / ceiling["cpu"]
    out.append(
        f"{title}: send_many {rate:.2f} × ceiling msg/s (target ≥ {TARGET_RATE}: "
        f"{'met' if rate >= TARGET_RATE else 'NOT met'}), CPU/msg {cpu:.2f} × (target ≤ "
        f"{TARGET_CPU}: {'met' if cpu <= TARGET_CPU else 'NOT met'})"
    )
    if ("bwmsg", "uvloop") in index:
        uv = best[index[("bwmsg", "uvloop")]]["rate"] / ceiling["rate"]
        out.append(
            f"{title}: send_many on uvloop {uv:.2f} × ceiling on the default loop (target ≥ "
            f"{TARGET_UVLOOP}: {'met' if uv >= TARGET_UVLOOP else 'NOT met'})"
        )
    return out


if __name__ == "__main__":
    main()
