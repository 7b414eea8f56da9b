"""The figures of a campaign report, read from journals that real campaign runs made over the
simulator (faults, opt-outs, delivery callbacks), checked against the journal's own rows."""

from __future__ import annotations

import math
import sqlite3
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from bwmsg import RateLimit, RetryPolicy, Sender
from bwmsg.callbacks import CallbackEvent, CallbackServer, describe_error
from bwmsg.campaign import CampaignJournal, Journal, open_journal, run_campaign
from bwmsg.campaign._optout_store import open_opt_outs
from bwmsg.campaign._report import (
    DURATION_EDGES,
    MAX_BUCKETS,
    ReportFigures,
    read_report,
)
from bwmsg.simulator import Callbacks, Faults, Simulator
from tests.campaign.test_campaign import TEMPLATE, journal_rows, people, write_csv
from tests.postgres_server import pg_server, pg_url  # noqa: F401 - fixtures

FAULTS = Faults(
    rate_limited=0.1,
    server_error=0.05,
    drop_before_accept=0.02,  # never recorded, so no receipt settles it: unknown
    latency=0.005,
    latency_distribution="exponential",
)
ERROR_CODES = (4720, 4432, 5620)
OPTED_OUT = ("+19190000003", "+19190000004", "+19190000005")


async def make_journal(tmp_path: Path, n: int = 600, *, faults: Faults = FAULTS) -> Path:
    """A SQLite journal of a campaign of ``n`` rows (see :func:`send_campaign`)."""
    journal = tmp_path / "j.db"
    with Journal(journal) as db:

        async def apply(event: CallbackEvent) -> None:
            db.apply_receipt(event)

        await send_campaign(tmp_path, n, faults, journal, apply)
    return journal


async def make_pg_journal(tmp_path: Path, url: str, n: int = 300) -> str:
    """A campaign of ``n`` rows journalled in PostgreSQL at ``url``; its campaign id."""
    bound: list[str] = []

    def on_bound(journal: CampaignJournal) -> None:
        assert journal.campaign_id is not None
        bound.append(journal.campaign_id)

    async with open_journal(url) as db:

        async def apply(event: CallbackEvent) -> None:
            if db.campaign_id is None:
                await db.use_campaign(bound[0])
            await db.apply_receipt(event)

        await send_campaign(tmp_path, n, FAULTS, url, apply, on_bound=on_bound)
    return bound[0]


async def send_campaign(
    tmp_path: Path,
    n: int,
    faults: Faults,
    journal: Path | str,
    apply: Callable[[CallbackEvent], Awaitable[None]],
    **options: Any,
) -> None:
    """A campaign of ``n`` rows sent to the simulator (at 200 segments/s, so that it spans a
    few seconds) with ``faults``, three rows opted out, and delivery callbacks (30 % failed
    with ``ERROR_CODES``) given to ``apply`` while it runs; every callback is in before it
    returns."""
    recipients = write_csv(tmp_path / "r.csv", people(n))
    stops = tmp_path / "opt-outs.db"
    store = await open_opt_outs(stops)
    await store.add(OPTED_OUT)
    await store.aclose()
    async with CallbackServer(apply) as server:
        callbacks = Callbacks(url=server.url, failed=0.3, error_codes=ERROR_CODES)
        async with (
            Simulator(faults=faults, seed=5, callbacks=callbacks) as sim,
            Sender(
                "acct",
                sim.username,
                sim.password,
                application_id="app",
                base_url=sim.base_url,
                retry=RetryPolicy(base_delay=0, max_attempts=3),
                concurrency=10,
                rate=RateLimit(200),
            ) as sender,
        ):
            await run_campaign(
                sender,
                recipients,
                journal,
                TEMPLATE,
                opt_outs=stops,
                max_consecutive_failures=0,
                **options,
            )
            await sim.callbacks_done()
            await server.receiver.join()


def sending_times(journal: Path) -> dict[int, float | None]:
    """Each row's ``sending_at``, read from the SQLite file itself."""
    with sqlite3.connect(journal) as db:
        return dict(db.execute("SELECT row, sending_at FROM rows"))


async def figures_of(journal: Path) -> ReportFigures:
    async with open_journal(journal, readonly=True) as db:
        return await read_report(db)


def tried(row: Mapping[str, Any]) -> bool:
    return row["state"] in ("sent", "failed", "unknown") and (
        row["attempts"] > 0 or row["state"] == "unknown"
    )


async def test_figures_match_the_journal(tmp_path: Path) -> None:
    """Counts, the sends timeline, retries and receipts agree with the journal's rows."""
    journal = await make_journal(tmp_path)
    figures = await figures_of(journal)
    rows = journal_rows(journal).values()
    states = Counter(r["state"] for r in rows)
    assert figures.rows == 600
    assert figures.states == {s: states.get(s, 0) for s in figures.states}
    assert figures.states["suppressed"] == len(OPTED_OUT)
    assert figures.states["sent"] > 500
    assert figures.states["unknown"] > 0
    assert figures.segments == figures.states["sent"]
    assert figures.runs == 1
    assert figures.started is not None
    assert figures.ended is not None
    assert figures.started < figures.ended
    assert figures.rate == pytest.approx(figures.states["sent"] / figures.busy)
    # Sends over time: every row tried, once, at the second its outcome was written.
    sends = figures.sends
    assert sends.width == 1
    assert len(sends.starts) >= 3  # 600 rows at 200 a second
    for state in ("sent", "failed", "unknown"):
        assert sum(sends.counts[state]) == sum(tried(r) and r["state"] == state for r in rows)
    by_second = Counter(int(r["updated"]) for r in rows if tried(r))
    assert [sum(c[i] for c in sends.counts.values()) for i in range(len(sends.starts))] == [
        by_second[int(start)] for start in sends.starts
    ]
    # Retries: attempts per row by state, and some rows were retried (429s, 5xx).
    assert figures.attempts == Counter((r["attempts"], r["state"]) for r in rows)
    assert sum(n for (attempts, _), n in figures.attempts.items() if attempts > 1) > 0


async def test_receipts_and_their_codes_in_words(tmp_path: Path) -> None:
    """Receipts over time total the journal's receipts; failures are named by their codes."""
    journal = await make_journal(tmp_path)
    figures = await figures_of(journal)
    rows = journal_rows(journal).values()
    receipts = Counter(r["receipt"] for r in rows if r["receipt"])
    assert figures.receipts["delivered"] == receipts["delivered"] > 0
    assert figures.receipts["failed"] == receipts["failed"] > 0
    assert figures.receipts["awaiting"] == 0
    over_time = figures.receipts_over_time
    assert sum(over_time.counts["delivered"]) == receipts["delivered"]
    assert sum(over_time.counts["failed"]) == receipts["failed"]
    codes = Counter(r["receipt_code"] for r in rows if r["receipt"] == "failed")
    assert {code for code, _, _ in figures.receipt_failures} == set(ERROR_CODES)
    for code, words, count in figures.receipt_failures:
        assert count == codes[code]
        assert words == describe_error(code)
        assert "carrier" in words or "forbidden" in words
    assert figures.errors  # the rows that failed or are unknown, with their errors
    assert {state for state, _, _, _ in figures.errors} <= {"failed", "unknown"}


async def test_durations_need_sending_at_in_the_rows(tmp_path: Path) -> None:
    """Rows that do not say when they were taken give no durations (None), not zeros."""
    journal = await make_journal(tmp_path, 50)
    async with open_journal(journal, readonly=True) as db:
        first = await anext(aiter(db.rows()))
        has_it = "sending_at" in first.keys()  # noqa: SIM118 (a sqlite3.Row's `in` reads values)
    figures = await figures_of(journal)
    assert (figures.durations is not None) is has_it


async def test_durations_from_taken_to_written(tmp_path: Path) -> None:
    """Each row tried is timed from sending_at to updated, in the histogram's bins."""
    journal = await make_journal(tmp_path)
    figures = await figures_of(journal)
    rows = journal_rows(journal)
    times = sending_times(journal)
    durations = figures.durations
    assert durations is not None
    assert durations.edges == DURATION_EDGES
    timed = [r["updated"] - times[n] for n, r in rows.items() if tried(r) and times[n]]
    assert durations.total == len(timed) > 500
    slowest = max(timed)
    p99 = durations.quantile(0.99)
    p50 = durations.quantile(0.5)
    assert p50 is not None
    assert p99 is not None
    assert p50 <= p99 <= slowest * 1.26
    # An upper edge: never below the true median, the value of rank ceil(n / 2) (the nearest
    # rank, as quantile counts: its first bin holding at least half the rows).
    assert p50 >= sorted(timed)[math.ceil(len(timed) / 2) - 1]


async def test_no_row_sent(tmp_path: Path) -> None:
    """A campaign whose every send failed still has figures: zeros and empty timelines."""
    journal = await make_journal(tmp_path, 20, faults=Faults(server_error=1.0))
    figures = await figures_of(journal)
    assert figures.states["sent"] == 0
    assert figures.states["failed"] == 20 - len(OPTED_OUT)
    assert figures.segments == 0
    assert figures.rate == 0.0
    assert figures.receipts == {"delivered": 0, "failed": 0, "awaiting": 0}
    assert figures.receipts_over_time.starts == ()
    assert figures.receipt_failures == ()
    assert sum(figures.sends.counts["failed"]) == 20 - len(OPTED_OUT)


async def test_figures_of_a_postgresql_journal(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    """The same figures from a PostgreSQL journal, read through the same interface."""
    campaign = await make_pg_journal(tmp_path, pg_url)
    async with open_journal(pg_url, readonly=True) as db:
        await db.use_campaign(campaign)
        figures = await read_report(db)
        rows = [dict(r) async for r in db.rows()]
    states = Counter(r["state"] for r in rows)
    assert figures.campaign == campaign
    assert figures.rows == len(rows) == 300
    assert figures.states == {s: states.get(s, 0) for s in figures.states}
    assert figures.states["suppressed"] == len(OPTED_OUT)
    assert figures.sends.total == sum(tried(r) for r in rows)
    assert figures.attempts == Counter((r["attempts"], r["state"]) for r in rows)
    receipts = Counter(r["receipt"] for r in rows if r["receipt"])
    assert figures.receipts_over_time.total == receipts["delivered"] + receipts["failed"] > 0
    assert {code for code, _, _ in figures.receipt_failures} == set(ERROR_CODES)


class SyntheticJournal:
    """A journal of ``n`` rows made up on the fly, spread over ``span`` seconds: what
    :func:`read_report` reads, and nothing kept."""

    where = "synthetic"

    def __init__(self, n: int, span: float) -> None:
        self.n, self.span = n, span

    async def rows(self) -> AsyncIterator[Mapping[str, Any]]:
        start = 1_700_000_000.0
        for i in range(self.n):
            at = start + self.span * i / self.n
            yield {
                "row": i + 1,
                "state": "sent" if i % 10 else "failed",
                "attempts": 1 + i % 4,
                "updated": at + 0.05,
                "sending_at": at,
                "receipt": "delivered" if i % 7 else "failed",
                "receipt_time": at + 3.0,
                "error": f"error {i}",  # every text different: none of it may be kept
            }

    async def meta(self) -> dict[str, str]:
        return {"campaign": "c1"}

    async def counts(self) -> dict[str, int]:
        return {"sent": self.n - self.n // 10, "failed": self.n // 10}

    async def runs(self) -> list[tuple[float, float | None, str | None]]:
        return [(1_700_000_000.0, 1_700_000_000.0 + self.span, "complete")]

    async def sent_segments(self) -> int:
        return self.n

    async def retryable_count(self) -> int:
        return 0

    async def receipt_counts(self) -> dict[str, int]:
        return {"delivered": 0, "failed": 0, "awaiting": 0}

    async def receipt_failures(self, limit: int = 10) -> list[tuple[int | None, str, int]]:
        return []

    async def top_errors(self, limit: int = 10) -> list[tuple[str, int | None, str, int]]:
        return []


async def test_memory_stays_bounded_for_500000_rows() -> None:
    """500,000 rows over three days: a few hundred kB at most, timelines coarsened to fit."""
    journal = SyntheticJournal(500_000, 3 * 86_400)
    tracemalloc.start()
    try:
        figures = await read_report(cast(CampaignJournal, journal))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"{peak:,} bytes"
    assert len(figures.sends.starts) <= MAX_BUCKETS
    assert figures.sends.width == 256  # 1 s doubled until three days fit in 2,000 buckets
    assert figures.sends.total == 500_000
    assert figures.receipts_over_time.total == 500_000
    durations = figures.durations
    assert durations is not None
    assert durations.total == 500_000
    assert durations.quantile(0.5) == pytest.approx(10 ** (-13 / 10))  # 50 ms: 39.8-50.1 ms
