"""Memory: peak RSS of send_many over a lazy generator, beside a naive asyncio.gather.

``send_many`` consumes a generator of 10^4, 10^5 and 10^6 ``MessageRequest`` objects (built
one at a time as the Sender asks for them). The naive way, ``asyncio.gather(*(sender.send(r)
for r in ...))``, makes every request and every coroutine up front: it is run at 10^4 and 10^5
only (its memory grows about linearly, so 10^6 would take several GB; --gather-max changes the
limit). Each run in a fresh process pinned to CPU 0, concurrency 64, against the reference
server. Peak RSS is the process's maximum (``ru_maxrss``), baseline included.

Usage: ``.venv/bin/python benchmarks/bench_memory.py [--quick]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, mb, publish, run_against, table
from _server import ReferenceServer

TARGET_MB = 20


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--gather-max", type=int, default=100_000, help="largest N for gather")
    args = parser.parse_args()
    counts = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    gather_max = min(args.gather_max, 10_000) if args.quick else args.gather_max

    rows = []
    peaks: dict[int, int] = {}
    with ReferenceServer(args.server) as server:
        print(f"server: {server.describe()}", flush=True)
        for contender, label in (
            ("bwmsg", "send_many, lazy generator"),
            ("bwmsg-gather", "naive asyncio.gather of send()"),
        ):
            for n in counts:
                if contender == "bwmsg-gather" and n > gather_max:
                    rows.append([label, f"{n:,}", "not run", "", "", "", "", ""])
                    continue
                spec = {"contender": contender, "n": n, "concurrency": args.concurrency}
                r = run_against(server, label, spec, timeout=3600)
                if contender == "bwmsg":
                    peaks[n] = r["maxrss_kb"]
                rows.append(
                    [
                        label,
                        f"{n:,}",
                        f"{r['rate']:,.0f}",
                        f"{r['cpu'] / n * 1e6:.1f}",
                        mb(r["rss_before_kb"]),
                        mb(r["maxrss_kb"]),
                        f"{(r['maxrss_kb'] - r['rss_before_kb']) / 1024:+.0f}",
                        f"{r['other_load'] * 100:.0f} %",
                    ]
                )
                print(f"  {label} N={n:,}: peak RSS {mb(r['maxrss_kb'])} MB", flush=True)
        description = server.describe()

    tab = table(
        [
            "contender",
            "N",
            "msg/s",
            "µs CPU/msg",
            "RSS before MB",
            "peak RSS MB",
            "growth in run MB",
            "other load",
        ],
        rows,
    )
    small, large = min(peaks), max(peaks)
    growth = (peaks[large] - peaks[small]) / 1024
    verdict = (
        f"send_many peak RSS grows {growth:+.1f} MB from N = {small:,} to N = {large:,} "
        f"(target < {TARGET_MB} MB{' from 10^4 to 10^6' if large == 1_000_000 else ''}: "
        f"{'met' if growth < TARGET_MB else 'NOT met'})"
    )
    print(f"\n{tab}\n\n{verdict}")
    notes = (
        f'Concurrency {args.concurrency}. "RSS before" is the process\'s resident memory after '
        'imports and a warm-up, just before the N messages; "peak RSS" its maximum over the '
        'whole process; "growth" the difference. The gather rows hold every request, coroutine '
        f'and result at once; N above {gather_max:,} is not run for gather. "other load": CPU '
        "used meanwhile by anything but the client and the server, in % of one CPU."
    )
    title = "2. Memory: send_many over a lazy generator vs a naive gather"
    publish(args, "memory", title, notes, tab, f"- {verdict}", server=description)


if __name__ == "__main__":
    main()
