"""Sender.stats() counters and latency quantiles, and trace_configs passed to aiohttp."""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
import pytest

from bwmsg import Sender, SenderStats
from bwmsg._stats import Stats
from tests.senders import request, sender_for
from tests.servers import Drop, Reply, Scripted


async def test_counters_follow_outcomes(server: Scripted) -> None:
    """sent / failed / unknown / attempts / retries count what happened."""
    server.then(
        Reply(500, {"type": "x", "description": "y"}),  # message 0 retried ...
        Reply(400, {"type": "bad", "description": "no"}),  # ... and refused: failed
        Drop(),  # message 1: unknown
    )
    async with sender_for(server.base_url, concurrency=1) as sender:
        assert sender.stats().finished == 0
        results = [r async for r in sender.send_many(request(i) for i in range(5))]
        stats = sender.stats()
    assert [r.outcome.value for r in results] == ["failed", "unknown", "sent", "sent", "sent"]
    assert (stats.sent, stats.failed, stats.unknown) == (3, 1, 1)
    assert stats.attempts == 6
    assert stats.retries == 1
    assert stats.in_flight == 0
    assert stats.latency_p50 is not None
    assert stats.latency_p50 <= stats.latency_p90 <= stats.latency_p99  # type: ignore[operator]


def test_latency_quantiles() -> None:
    """Quantiles come from the histogram within its 10 % bucket width."""
    stats = Stats()
    for ms in range(1, 101):
        stats.latency(ms / 1000)
    snap = stats.snapshot(0.0)
    assert snap.latency_p50 == pytest.approx(0.050, rel=0.1)
    assert snap.latency_p90 == pytest.approx(0.090, rel=0.1)
    assert snap.latency_p99 == pytest.approx(0.099, rel=0.1)


def test_rate_over_the_window() -> None:
    """The rate averages the full seconds of the last ten, and forgets older ones."""
    stats = Stats()
    for second in range(100, 110):
        for _ in range(90):
            stats.finished(second + 0.5)
    assert stats.snapshot(109.5).rate == pytest.approx(90.0)
    assert stats.snapshot(130.0).rate == 0.0


def test_empty_snapshot() -> None:
    """Before anything happened every counter is zero and quantiles are None."""
    snap = Stats().snapshot(5.0)
    assert snap == SenderStats(
        sent=0,
        failed=0,
        unknown=0,
        attempts=0,
        retries=0,
        in_flight=0,
        rate=0.0,
        latency_p50=None,
        latency_p90=None,
        latency_p99=None,
    )


async def test_trace_configs_are_used(server: Scripted) -> None:
    """A TraceConfig given to the Sender sees its requests start and end."""
    seen: list[str] = []
    trace = aiohttp.TraceConfig()

    async def on_start(
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        seen.append(f"start {params.method}")

    async def on_end(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        seen.append(f"end {params.response.status}")

    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    async with sender_for(server.base_url, trace_configs=[trace]) as sender:
        await sender.send(request(1))
    assert seen == ["start POST", "end 202"]


def test_trace_configs_with_own_session_is_refused() -> None:
    """trace_configs and session together are refused: the session is the user's."""
    with pytest.raises(ValueError, match="trace_configs"):
        Sender("a", "u", "p", session=object(), trace_configs=[aiohttp.TraceConfig()])  # type: ignore[arg-type]
