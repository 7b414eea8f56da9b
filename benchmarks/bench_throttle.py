"""Throttle accuracy: segments/s achieved by ``Sender(rate=RateLimit(...))`` and its bursts.

A Sender with ``RateLimit(rate, burst=burst)`` and concurrency 64 runs ``send_many`` over an
endless mix of messages for ``--seconds`` (30 by default) against the reference server:
50 % one-segment texts, 15 % two-segment GSM-7 texts, 10 % two-segment UCS-2 texts, 15 % group
messages to 3 recipients, 10 % MMS to 2 recipients. An aiohttp trace hook records when each
request body was written to the socket and charges it as Bandwidth counts (segments x
recipients, MMS one segment each), read from the body itself with ``bwmsg.segments``.

Reported: the achieved rate over the run (whole run, and after the first second); the most
segments in any sliding 1-second window beside the most a token bucket allows in one second
(rate + burst); and the largest burst seen: the most that went out beyond the rate over any
interval, max over i <= j of sum(charges i..j) - rate * (t_j - t_i), which must not exceed the
burst. Usage: ``.venv/bin/python benchmarks/bench_throttle.py [--quick] [--seconds S]``.
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, publish, run_child, table
from _server import ReferenceServer

TOLERANCE = 0.03


def analyse(series: list[list[float]], seconds: float, rate: float) -> dict[str, Any]:
    """Rate, sliding-window and burst figures of [(time, segments), ...]."""
    stamps = sorted((t, c) for t, c in series)
    t0 = stamps[0][0]
    in_run = [(t - t0, int(c)) for t, c in stamps if t - t0 < seconds]
    times = [t for t, _ in in_run]
    charges = [c for _, c in in_run]
    total = sum(charges)
    achieved = total / seconds
    steady = sum(c for t, c in in_run if t >= 1.0) / (seconds - 1.0)

    prefix = [0]
    for c in charges:
        prefix.append(prefix[-1] + c)
    # most segments in any 1-second window (t - 1, t]
    window_max = 0
    for j, t in enumerate(times):
        i = bisect_left(times, t - 1.0 + 1e-12)
        window_max = max(window_max, prefix[j + 1] - prefix[i])
    # largest burst: max over i <= j of (prefix[j+1] - prefix[i]) - rate * (t_j - t_i)
    worst, worst_at = float("-inf"), (0.0, 0.0)
    low, low_t = float("inf"), 0.0
    for j, t in enumerate(times):
        if prefix[j] - rate * t < low:
            low, low_t = prefix[j] - rate * t, t
        if prefix[j + 1] - rate * t - low > worst:
            worst, worst_at = prefix[j + 1] - rate * t - low, (low_t, t)
    kinds = {1: 0, 2: 0, 3: 0}
    for c in charges:
        kinds[c] = kinds.get(c, 0) + 1
    return {
        "requests": len(in_run),
        "segments": total,
        "kinds": " / ".join(f"{kinds.get(k, 0):,}" for k in (1, 2, 3)),
        "achieved": achieved,
        "error": achieved / rate - 1,
        "steady": steady,
        "steady_error": steady / rate - 1,
        "window_max": window_max,
        "worst": worst,
        "worst_from": worst_at[0],
        "worst_to": worst_at[1],
    }


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="length of the run (30; 5 with --quick)")
    parser.add_argument("--rate", type=float, default=500.0, help="segments per second")
    parser.add_argument("--burst", type=float, default=50.0, help="burst, in segments")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    rate, burst = args.rate, args.burst

    with ReferenceServer(args.server) as server:
        print(f"server: {server.describe()}", flush=True)
        print(
            f"throttling at {rate:g} segments/s, burst {burst:g}, for {seconds:g} s ...", flush=True
        )
        r = run_child(
            {
                "contender": "throttle",
                "url": server.messages_url,
                "base_url": server.base_url,
                "concurrency": args.concurrency,
                "rate": rate,
                "burst": burst,
                "seconds": seconds,
            },
            timeout=seconds * 3 + 120,
        )
        description = server.describe()

    wire = analyse(r["stamps"], seconds, rate)
    permit = analyse(r["permits"], seconds, rate) if r["permits"] else None

    def both(key: str, fmt: str) -> list[str]:
        return [fmt.format(**wire)] + ([fmt.format(**permit)] if permit else [])

    rows = [
        ["requests / segments", *both("", "{requests:,} / {segments:,}")],
        ["requests charged 1 / 2 / 3 segments", *both("", "{kinds}")],
        ["achieved rate over the run (segments/s)", *both("", "{achieved:.1f} ({error:+.2%})")],
        ["achieved rate after the first second", *both("", "{steady:.1f} ({steady_error:+.2%})")],
        [
            f"most segments in a 1-s window (bucket allows {rate + burst:g})",
            *both("", "{window_max:,}"),
        ],
        [f"largest burst seen (must be ≤ {burst:g})", *both("", "{worst:.1f}")],
        ["  over the interval (s)", *both("", "{worst_from:.3f} to {worst_to:.3f}")],
    ]
    headers = ["measure", "on the wire (body written)"]
    if permit:
        headers.append("at the throttle (acquire returned)")
    tab = table(headers, rows, align="lrr")
    judged = permit or wire
    ok_rate = abs(judged["error"]) <= TOLERANCE
    ok_burst = judged["worst"] <= burst + 1e-6
    verdict = (
        f"set {rate:g} segments/s, burst {burst:g}, {seconds:g} s, concurrency "
        f"{args.concurrency}: achieved {judged['achieved']:.1f} segments/s "
        f"({judged['error']:+.2%}; "
        f"target within ±{TOLERANCE:.0%}: {'met' if ok_rate else 'NOT met'}); largest burst "
        f"{judged['worst']:.1f} segments at the throttle (target never above {burst:g}: "
        f"{'met' if ok_burst else 'NOT met'}); on the wire {wire['worst']:.1f}; "
        f"{r['failed']:,} results not sent"
    )
    print(f"\n{tab}\n\n{verdict}")
    notes = (
        'Two clocks. "On the wire": when each request was written to its socket by the '
        "Sender's own HTTP pool (benchmark-only instrumentation of its private connection "
        "class); it adds the event loop's lateness between the throttle's decision and the "
        "write, which can differ from request to request, so a "
        'burst may look a segment or two larger there than the throttle let through. "At the '
        "throttle\": when the Sender's throttle returned for each request (benchmark-only "
        "instrumentation of its private `_throttle.acquire`); the targets are judged on it. "
        "The bucket starts full, so the whole-run rate includes one initial burst (at most "
        "burst / run length above the set rate); the connections are opened before the run. "
        "Rates are counted from each clock's first request."
    )
    publish(
        args, "throttle", "3. Throttle accuracy", notes, tab, f"- {verdict}", server=description
    )


if __name__ == "__main__":
    main()
