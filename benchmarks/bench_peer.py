"""The peer: Bandwidth's official synchronous SDK in a 64-thread pool, beside bwmsg send_many.

bandwidth-sdk (``pip install bandwidth-sdk``; a benchmark-only install, not a bwmsg
dependency) is pointed at the reference server through ``Configuration(host=...,
ignore_operation_servers=True)`` (without the latter its ``create_message`` always uses its
built-in Bandwidth host) with ``connection_pool_maxsize`` raised to the thread count (its default,
5 x CPUs, would leave threads queueing for a connection). 64 threads each take the next index
and call ``MessagesApi.create_message`` with a ``MessageRequest`` model; bwmsg's ``send_many``
runs at concurrency 64 over a generator. Each contender in a fresh process pinned to CPU 0.

Usage: ``.venv/bin/python benchmarks/bench_peer.py [--quick]``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, mb, publish, run_against, table
from _server import ReferenceServer

TARGET = 4.0


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="messages per run (default 20000; 3000 quick)")
    parser.add_argument("--threads", type=int, default=64, help="SDK threads = bwmsg concurrency")
    parser.add_argument("--repeat", type=int, help="runs per contender, median kept (3; 1 quick)")
    args = parser.parse_args()
    if not importlib.util.find_spec("bandwidth"):
        raise SystemExit(
            "bandwidth-sdk is not installed: .venv/bin/pip install bandwidth-sdk "
            "(for this benchmark only)"
        )
    n = args.n or (3000 if args.quick else 20_000)
    repeat = args.repeat or (1 if args.quick else 3)
    plan = [
        (f"bandwidth-sdk, {args.threads} threads", "sdk", ""),
        (f"bwmsg send_many, concurrency {args.threads}", "bwmsg", "asyncio"),
    ]
    if importlib.util.find_spec("uvloop"):
        plan.append((f"bwmsg send_many, concurrency {args.threads}, uvloop", "bwmsg", "uvloop"))

    runs: dict[int, list[dict[str, Any]]] = {k: [] for k in range(len(plan))}
    with ReferenceServer(args.server) as server:
        print(f"server: {server.describe()}", flush=True)
        for rep in range(repeat):
            for k, (label, contender, loop) in enumerate(plan):
                spec = {"contender": contender, "loop": loop, "n": n, "concurrency": args.threads}
                r = run_against(server, label, spec)
                runs[k].append(r)
                print(f"  run {rep + 1}/{repeat} {label}: {r['rate']:,.0f} msg/s", flush=True)
        description = server.describe()

    best = {k: sorted(v, key=lambda r: r["rate"])[len(v) // 2] for k, v in runs.items()}
    sdk = best[0]
    rows = [
        [
            label,
            f"{best[k]['rate']:,.0f}",
            f"{best[k]['cpu'] / n * 1e6:.1f}",
            mb(best[k]["maxrss_kb"]),
            f"{best[k]['rate'] / sdk['rate']:.2f}",
            f"{best[k]['other_load'] * 100:.0f} %",
        ]
        for k, (label, _c, _l) in enumerate(plan)
    ]
    tab = table(["contender", "msg/s", "µs CPU/msg", "peak RSS MB", "× SDK", "other load"], rows)
    ratio = best[1]["rate"] / sdk["rate"]
    verdict = (
        f"bwmsg send_many on the default loop: {ratio:.2f} × bandwidth-sdk with {args.threads} "
        f"threads (target ≥ {TARGET:g}: {'met' if ratio >= TARGET else 'NOT met'})"
    )
    print(f"\nN = {n:,}\n{tab}\n\n{verdict}")
    notes = (
        f"N = {n:,} messages per run; each row the median (by msg/s) of {repeat} run(s), "
        "contenders interleaved, after a warm-up of 2 × threads messages. CPU is user + system "
        'time of the whole client process (all threads). "other load": CPU used meanwhile by '
        "anything but the client and the server, in % of one CPU."
    )
    title = "4. The peer: bandwidth-sdk in a thread pool"
    publish(args, "peer", title, notes, tab, f"- {verdict}", server=description)


if __name__ == "__main__":
    main()
