"""What watching costs: send_many with Prometheus metrics, with OpenTelemetry tracing, and off.

Every contender is the same ``send_many`` of N messages (a ``MessageRequest`` built per message,
each answer parsed) through the Sender's own pool, in a fresh process pinned to CPU 0, against
the reference server (nginx on CPU 1; see _server.py):

- ``off``: nothing registered, no tracer provider (the default);
- ``metrics``: ``bwmsg.metrics.register(sender, registry=CollectorRegistry())``, and the
  registry scraped (``generate_latest``) once a second as Prometheus would, more often than it
  usually does;
- ``metrics, prometheus_client objects``: for comparison, the design not taken: an observer
  that updates prometheus_client's own Counter / Gauge / Histogram objects at each attempt
  (the operations a direct design makes per message: an attempt counter, a message counter,
  the in-flight gauge up and down, two histogram observations), scraped alike;
- ``tracing``: opentelemetry-sdk's ``TracerProvider`` set as the global one, with no span
  processor or exporter (one span per attempt is made and ended, and goes nowhere).

Rounds interleave the contenders (their order rotated each round); each round's figure is
the contender's CPU per message over that round's ``off``; the verdict takes the median of the
rounds, with their spread. Target: metrics on within 10 % of off.

On a shared machine separate processes differ by more than what is measured, so a second
table pairs the contenders inside ONE process (pinned to CPU 0), alternating short runs of
``send_many`` through a transport that answers at once (no network: only bwmsg's own CPU per
message, which makes every addition look larger than against a server).

Usage: ``.venv/bin/python benchmarks/bench_observability.py [--quick] [--n N] [--rounds R]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import as_child, base_parser, publish, run_against, run_child, table
from _server import ReferenceServer

CHILD = (__file__, "--child")  # this script as its own contender (run_child, as_child)
TARGET = 1.10
CONTENDERS = [
    ("off", "off"),
    ("off, prometheus_client imported and its empty registry scraped", "imported"),
    ("metrics (bwmsg.metrics.register)", "metrics"),
    ("metrics, prometheus_client objects (not taken)", "direct"),
    ("tracing (SDK TracerProvider, no exporter)", "tracing"),
]


# -- the child --------------------------------------------------------------------------------


def _direct_observer(registry: Any) -> Any:
    """An observer updating prometheus_client's metric objects (the design not taken)."""
    from prometheus_client import Counter, Gauge, Histogram

    from bwmsg._stats import Observer
    from bwmsg.metrics import ATTEMPT_RESULTS, HTTP_BUCKETS, THROTTLE_BUCKETS

    class Direct(Observer):
        def __init__(self) -> None:
            attempts = Counter("bwmsg_attempts", "a", ["result"], registry=registry)
            self.attempts = {r: attempts.labels(r) for r in ATTEMPT_RESULTS}
            self.messages = Counter("bwmsg_messages", "m", ["outcome"], registry=registry).labels(
                "sent"
            )
            self.in_flight = Gauge("bwmsg_in_flight", "i", registry=registry)
            self.http = Histogram(
                "bwmsg_http_seconds", "h", buckets=HTTP_BUCKETS, registry=registry
            )
            self.throttle = Histogram(
                "bwmsg_throttle_wait_seconds", "t", buckets=THROTTLE_BUCKETS, registry=registry
            )

        def attempted(self, result: str, seconds: float) -> None:
            self.in_flight.inc()  # a direct design moves the gauge up and down per attempt
            self.in_flight.dec()
            self.attempts[result].inc()
            self.http.observe(seconds)
            self.messages.inc()  # and counts the message when it ends (one attempt each here)

        def waited(self, seconds: float) -> None:
            self.throttle.observe(seconds)

    return Direct()


def _paired_table(title: str, paired: dict[str, list[float]]) -> tuple[str, float]:
    """The table of a paired run (``title`` heads its first column), and metrics' median ratio
    to off."""
    rows = []
    for mode in ("off", "metrics", "tracing"):
        ratios = [x / off for x, off in zip(paired[mode], paired["off"], strict=True)]
        rows.append(
            [
                mode,
                f"{statistics.median(paired[mode]):.1f}",
                f"{min(paired[mode]):.1f}–{max(paired[mode]):.1f}",
                "1.00" if mode == "off" else f"{statistics.median(ratios):.3f}",
                "" if mode == "off" else f"{min(ratios):.3f}–{max(ratios):.3f}",
            ]
        )
    ratio = statistics.median(
        [x / off for x, off in zip(paired["metrics"], paired["off"], strict=True)]
    )
    return table([title, "µs CPU/msg", "runs", "× off (median)", "runs × off"], rows), ratio


async def _child(spec: dict[str, Any]) -> dict[str, Any]:
    from _child import _requests, cpu_now
    from _server import reference_sender

    mode = spec["mode"]
    if mode == "tracing":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        trace.set_tracer_provider(TracerProvider())  # no processor, no exporter
    sender = reference_sender(spec["base_url"], spec["concurrency"])
    scraper = None
    async with sender:
        if mode in ("metrics", "direct", "imported"):
            from prometheus_client import CollectorRegistry, generate_latest

            registry = CollectorRegistry()
            if mode == "imported":
                pass  # what importing prometheus_client alone costs (nothing registered)
            elif mode == "metrics":
                import bwmsg.metrics

                bwmsg.metrics.register(sender, registry=registry)
            else:
                from bwmsg._sender import watch

                watch(sender, _direct_observer(registry))

            async def scrape() -> None:
                while True:
                    await asyncio.sleep(1.0)
                    generate_latest(registry)

            scraper = asyncio.ensure_future(scrape())
        ok = 0
        async for result in sender.send_many(_requests(2 * spec["concurrency"])):  # warm-up
            ok += result.ok
        ok = 0
        cpu0, t0 = cpu_now(), time.perf_counter()
        async for result in sender.send_many(_requests(spec["n"])):
            ok += result.ok
        wall, cpu = time.perf_counter() - t0, cpu_now() - cpu0
        if scraper is not None:
            scraper.cancel()
        traced = mode != "tracing" or sender.stats().attempts > 0
    return {"ok": ok, "wall": wall, "cpu": cpu, "traced": traced}


async def _paired(spec: dict[str, Any]) -> dict[str, Any]:
    """off / metrics / tracing alternated in this one process, through an instant transport,
    or against the server at ``spec["base_url"]`` when given."""
    from _child import _requests
    from _server import APPLICATION_ID, reference_sender
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry

    import bwmsg.metrics
    from bwmsg._transport import Answer, use_factory

    body = json.dumps(
        {"id": "m-1", "owner": "+19195550000", "applicationId": APPLICATION_ID,
         "time": "2024-12-02T20:15:57.278Z", "segmentCount": 1, "direction": "out",
         "to": ["+19195551212"], "from": "+19195550000", "text": "hi"}
    ).encode()  # fmt: skip

    class Instant:
        def prepare(self, headers: Any) -> Any:
            return headers

        async def connection(self, deadline: float) -> None:
            return None

        async def exchange(self, link: Any, head: Any, data: bytes, deadline: float) -> Answer:
            return Answer(202, "Accepted", {}, body)

        async def aclose(self) -> None:
            pass

    provider = TracerProvider()
    out: dict[str, list[float]] = {"off": [], "metrics": [], "tracing": []}
    base_url = spec.get("base_url") or "http://127.0.0.1:1/api/v2"
    instant = use_factory(lambda url, settings, web: Instant())
    with instant if "base_url" not in spec else contextlib.nullcontext():
        for r in range(spec["rounds"]):
            for mode in ["off", "metrics", "tracing"][r % 3 :] + ["off", "metrics", "tracing"][
                : r % 3
            ]:
                # The API sets its provider once; a benchmark switches it per run.
                trace._TRACER_PROVIDER = provider if mode == "tracing" else None
                async with reference_sender(base_url, spec["concurrency"]) as sender:
                    if mode == "metrics":
                        bwmsg.metrics.register(sender, registry=CollectorRegistry())
                    async for _ in sender.send_many(_requests(500)):
                        pass
                    cpu0 = time.process_time()
                    async for _ in sender.send_many(_requests(spec["n"])):
                        pass
                    out[mode].append((time.process_time() - cpu0) / spec["n"] * 1e6)
    return out


# -- the parent -------------------------------------------------------------------------------


def main() -> None:
    if as_child(lambda spec: _paired(spec) if spec["mode"] == "paired" else _child(spec)):
        return
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="messages per run (default 20000; 5000 quick)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, help="rounds (default 7; 3 quick)")
    args = parser.parse_args()
    n = args.n or (5000 if args.quick else 20_000)
    rounds = args.rounds or (3 if args.quick else 7)

    cpu: dict[str, list[float]] = {mode: [] for _, mode in CONTENDERS}
    rate: dict[str, list[float]] = {mode: [] for _, mode in CONTENDERS}
    server_busy: list[float] = []
    other: list[float] = []
    with ReferenceServer(args.server) as server:
        print(f"server: {server.describe()}", flush=True)
        for r in range(rounds):
            order = CONTENDERS[r % len(CONTENDERS) :] + CONTENDERS[: r % len(CONTENDERS)]
            for label, mode in order:
                spec = {"mode": mode, "n": n, "concurrency": args.concurrency}
                result = run_against(server, label, spec, command=CHILD)
                server_busy.append(result["server_busy"])
                other.append(result["other_load"])
                cpu[mode].append(result["cpu"] / n * 1e6)
                rate[mode].append(result["rate"])
                print(
                    f"  round {r + 1}/{rounds} {label}: {n / result['wall']:,.0f} msg/s, "
                    f"{result['cpu'] / n * 1e6:.1f} us CPU/msg",
                    flush=True,
                )
        description = server.describe()
        on_server = run_child(
            {
                "mode": "paired",
                "n": n,
                "concurrency": args.concurrency,
                "rounds": 9,
                "base_url": server.base_url,
            },
            command=CHILD,
        )
    paired = run_child(
        {"mode": "paired", "n": n, "concurrency": args.concurrency, "rounds": 9}, command=CHILD
    )
    paired_tab, metric_ratio = _paired_table("in one process, instant transport", paired)
    server_tab, server_ratio = _paired_table("in one process, against the server", on_server)
    added_paired = statistics.median(paired["metrics"]) - statistics.median(paired["off"])

    rows = []
    verdicts = []
    for label, mode in CONTENDERS:
        ratios = [x / off for x, off in zip(cpu[mode], cpu["off"], strict=True)]
        added = [x - off for x, off in zip(cpu[mode], cpu["off"], strict=True)]
        ratio = statistics.median(ratios)
        rows.append(
            [
                label,
                f"{statistics.median(rate[mode]):,.0f}",
                f"{statistics.median(cpu[mode]):.1f}",
                f"{min(cpu[mode]):.1f}–{max(cpu[mode]):.1f}",
                "1.00" if mode == "off" else f"{ratio:.3f}",
                "" if mode == "off" else f"{min(ratios):.3f}–{max(ratios):.3f}",
                "" if mode == "off" else f"{statistics.median(added):+.1f}",
            ]
        )
        if mode == "metrics":
            verdicts.append(
                f"metrics on: {ratio:.3f} × off's CPU per message (median of {rounds} rounds, "
                f"rounds {min(ratios):.3f}–{max(ratios):.3f}), {statistics.median(added):+.1f} µs "
                "a message (across processes: how far this is noise, the control row 'off, "
                "prometheus_client imported' shows; the decisive figure is the pairing against "
                "the server, below)"
            )
        elif mode != "off":
            verdicts.append(
                f"{label}: {ratio:.3f} × off (rounds {min(ratios):.3f}–{max(ratios):.3f}), "
                f"{statistics.median(added):+.1f} µs a message"
            )
    tab = table(
        [
            "contender",
            "msg/s",
            "µs CPU/msg",
            "rounds µs CPU/msg",
            "× off CPU (median)",
            "rounds × off",
            "µs added/msg",
        ],
        rows,
    )
    notes = (
        f"N = {n:,} messages a run, concurrency {args.concurrency}, {rounds} rounds; each "
        "contender in a fresh process pinned to CPU 0 after a warm-up of 2 × concurrency "
        "messages; contenders interleaved, their order rotated each round. CPU is the client's "
        'user + system time over the N messages. "× off" is each round\'s CPU per message '
        "over that same round's off, then the median of the rounds; the range is the rounds' "
        "spread. The machine has 2 cores and is shared with other work (other sessions' test "
        "suites): the other load beside the runs was "
        f"{statistics.median(other) * 100:.0f} % of a CPU in the median run (at most "
        f"{max(other) * 100:.0f} %); the server used {statistics.median(server_busy) * 100:.0f} "
        "% of its CPU. Rounds far from the median are that noise; the medians are the figures."
    )
    verdicts.append(
        f"paired in one process (no network): metrics {metric_ratio:.3f} × off, "
        f"{added_paired:+.1f} µs a message of bwmsg's own CPU; against the server that is "
        f"{added_paired / statistics.median(cpu['off']) * 100:.1f} % of off's median "
        f"{statistics.median(cpu['off']):.1f} µs (target ≤ 10 %: "
        f"{'met' if added_paired / statistics.median(cpu['off']) <= TARGET - 1 else 'NOT met'})"
    )
    verdicts.append(
        f"paired in one process against the server (the same nginx, 9 runs each, alternating): "
        f"metrics {server_ratio:.3f} × off (the decisive figure: the same network and server "
        f"for every contender, no process-to-process noise); target ≤ {TARGET:.2f}: "
        f"{'met' if server_ratio <= TARGET else 'NOT met'}"
    )
    targets = "\n".join(f"- {v}" for v in verdicts)
    print(f"\n{tab}\n\n{paired_tab}\n\n{server_tab}\n\n{targets}")
    paired_note = (
        "The same contenders paired inside one process (9 runs each, alternating, N messages "
        "a run, through a transport that answers at once): bwmsg's own CPU per message, "
        "without the network and the server's answers to parse."
    )
    publish(
        args,
        "observability",
        "10. Watching: send_many with metrics and tracing vs off",
        notes,
        tab,
        paired_note,
        paired_tab,
        "And paired inside one process against the same server (9 runs each, alternating): "
        "the same network and answers for every contender, no process-to-process noise.",
        server_tab,
        "### Against the target\n\n" + targets,
        server=description,
    )


if __name__ == "__main__":
    main()
