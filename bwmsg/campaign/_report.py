"""The figures of a campaign report: what a journal knows about a run, aggregated while reading.

:func:`read_report` reads a journal once through :class:`CampaignJournal` (either engine) and
keeps only aggregates: timelines in buckets whose width doubles whenever the span would need
more than :data:`MAX_BUCKETS` of them, histograms of fixed bins, counters by state. Memory does
not grow with the journal's rows (500,000 rows cost what 500 do). No plotting here:
:mod:`._report_html` draws these figures.

Where each figure comes from (the columns of :meth:`CampaignJournal.rows`):

- sends over time: the moment each row's outcome was written (``updated``) of rows that were
  tried (``attempts`` above 0, or ``unknown``), by ``state``;
- outcomes: :meth:`CampaignJournal.counts` (every state, ``suppressed`` and ``pending``
  included);
- retries: ``attempts`` per row, by final ``state``;
- send duration: ``updated - sending_at`` per row tried: from the moment the row was taken to
  send to the moment its outcome was written. The journal holds no per-attempt HTTP latency,
  so this is an upper bound of it (retries and throttle waits included). A journal whose rows
  do not carry ``sending_at`` gives no durations (:attr:`ReportFigures.durations` is None);
- receipts over time: ``receipt_time`` by ``receipt`` (delivered or failed), and the failed
  receipts' codes in words (:meth:`CampaignJournal.receipt_failures`);
- the summary: counts, :meth:`CampaignJournal.sent_segments`, :meth:`CampaignJournal.runs`
  (start, end, time running, sent per second while running), the most frequent send errors
  (:meth:`CampaignJournal.top_errors`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._journal import CampaignJournal, RowState

__all__ = [
    "DURATION_EDGES",
    "MAX_ATTEMPTS_SHOWN",
    "MAX_BUCKETS",
    "Histogram",
    "ReportFigures",
    "Timeline",
    "read_report",
]

MAX_BUCKETS = 2000  # points of a timeline, at most: the bucket width doubles past it
MAX_ATTEMPTS_SHOWN = 20  # rows with more attempts are counted at 20 ("20 or more")
# Send durations in seconds: 10 bins a decade from 1 ms to 1,000 s (the last bin also takes
# anything longer, the first anything shorter).
DURATION_EDGES = tuple(10 ** (k / 10) for k in range(-30, 31))
_TRIED_STATES = (RowState.SENT.value, RowState.FAILED.value, RowState.UNKNOWN.value)
_RECEIPTS = ("delivered", "failed")


@attrs.frozen
class Timeline:
    """Counts by key over time, in buckets of ``width`` seconds.

    ``starts[i]`` is the start of bucket ``i`` (seconds since the epoch); ``counts[key][i]`` how
    many events of ``key`` fell in it. Buckets are contiguous from the first event's to the last
    one's (empty ones count 0), so a pause shows as zeros.
    """

    width: float
    starts: tuple[float, ...]
    counts: Mapping[str, tuple[int, ...]]

    def per_second(self, key: str) -> tuple[float, ...]:
        """``key``'s counts divided by the bucket width: events per second in each bucket."""
        return tuple(n / self.width for n in self.counts.get(key, ()))

    @property
    def total(self) -> int:
        """Every event counted."""
        return sum(sum(values) for values in self.counts.values())


@attrs.frozen
class Histogram:
    """Counts in bins: ``counts[i]`` values in ``[edges[i], edges[i + 1])`` (the first bin also
    takes values below ``edges[0]``, the last those above ``edges[-1]``)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        """Every value counted."""
        return sum(self.counts)

    def quantile(self, q: float) -> float | None:
        """The upper edge of the bin holding the ``q`` quantile (0 < q <= 1), None when empty:
        at most one bin (a factor 1.26) above the true value."""
        if not self.total:
            return None
        wanted = q * self.total
        seen = 0
        for i, n in enumerate(self.counts):
            seen += n
            if seen >= wanted:
                return self.edges[i + 1]
        return self.edges[-1]


@attrs.frozen(kw_only=True)
class ReportFigures:
    """Everything a report shows about one campaign's journal.

    Attributes:
        campaign: the campaign's id (None when the journal has none).
        input: the input file the campaign was loaded from, as the journal recorded it.
        where: the journal, named for an operator (a path, or a URL without its password).
        rows: rows in the journal.
        states: rows by state (every :class:`RowState`).
        segments: segments of every ``sent`` row (times its recipients).
        retryable: ``failed`` rows a rerun would try again.
        runs: how many runs (or workers) worked on the journal.
        started: when the first run started (seconds since the epoch), or None.
        ended: when the last run ended (or started, if it is still running or was killed).
        busy: seconds runs were running, summed.
        rate: ``sent`` rows per second while running (0.0 without runs).
        sends: rows tried, by state, over the time their outcome was written.
        attempts: rows by (attempts, state); attempts above :data:`MAX_ATTEMPTS_SHOWN` count
            as that many.
        durations: seconds from a row taken to send to its outcome written (rows tried), in
            :data:`DURATION_EDGES` bins; None when the journal's rows do not say when they
            were taken.
        receipts: ``sent`` rows by receipt: ``delivered``, ``failed``, ``awaiting``.
        receipts_over_time: receipts by result over the time each receipt says.
        receipt_failures: (code, code in words, rows) of failed receipts, most frequent first.
        errors: (state, HTTP status, error, rows) of failed and unknown rows, most frequent
            first (texts as the journal holds them: escape them to show them).
    """

    campaign: str | None
    input: str | None
    where: str
    rows: int
    states: Mapping[str, int]
    segments: int
    retryable: int
    runs: int
    started: float | None
    ended: float | None
    busy: float
    rate: float
    sends: Timeline
    attempts: Mapping[tuple[int, str], int]
    durations: Histogram | None
    receipts: Mapping[str, int]
    receipts_over_time: Timeline
    receipt_failures: tuple[tuple[int | None, str, int], ...]
    errors: tuple[tuple[str, int | None, str, int], ...]


class _Buckets:
    """A timeline being counted: bucket index -> counts by key, the width doubled (buckets
    merged in pairs) whenever the span from the first bucket to the last would pass
    :data:`MAX_BUCKETS`."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = tuple(keys)
        self.width = 1.0
        self.found: dict[int, Counter[str]] = {}
        self.low = self.high = 0  # the first and last bucket, once found is not empty

    def add(self, when: float, key: str) -> None:
        index = math.floor(when / self.width)
        if not self.found:
            self.low = self.high = index
        self.low, self.high = min(self.low, index), max(self.high, index)
        bucket = self.found.get(index)
        if bucket is None:
            bucket = self.found[index] = Counter()
        bucket[key] += 1
        while self.high - self.low + 1 > MAX_BUCKETS:
            self._coarsen()

    def _coarsen(self) -> None:
        merged: dict[int, Counter[str]] = {}
        for index, bucket in self.found.items():
            merged.setdefault(index // 2, Counter()).update(bucket)
        self.found, self.width = merged, self.width * 2
        self.low, self.high = self.low // 2, self.high // 2

    def timeline(self) -> Timeline:
        if not self.found:
            return Timeline(self.width, (), dict.fromkeys(self.keys, ()))
        indexes = range(self.low, self.high + 1)
        empty: Counter[str] = Counter()
        return Timeline(
            self.width,
            tuple(i * self.width for i in indexes),
            {key: tuple(self.found.get(i, empty)[key] for i in indexes) for key in self.keys},
        )


class _Reading:
    """The aggregates of one pass over a journal's rows."""

    def __init__(self) -> None:
        self.sends = _Buckets(_TRIED_STATES)
        self.receipts = _Buckets(_RECEIPTS)
        self.attempts: Counter[tuple[int, str]] = Counter()
        self.durations = [0] * (len(DURATION_EDGES) - 1)
        self.timed: bool | None = None  # whether the rows say when they were taken

    def add(self, row: Mapping[str, Any]) -> None:
        state, attempts = row["state"], row["attempts"] or 0
        self.attempts[min(attempts, MAX_ATTEMPTS_SHOWN), state] += 1
        receipt, receipt_time = row["receipt"], row["receipt_time"]
        if receipt in _RECEIPTS and receipt_time is not None:
            self.receipts.add(receipt_time, receipt)
        updated = row["updated"]
        if state not in _TRIED_STATES or updated is None:
            return
        if not attempts and state != RowState.UNKNOWN.value:
            return  # never tried: invalid at load, a duplicate skipped, or a settled row
        self.sends.add(updated, state)
        if self.timed is None:
            # keys(): `in` on a sqlite3.Row looks at its values, not its column names.
            self.timed = "sending_at" in row.keys()  # noqa: SIM118
        taken = row["sending_at"] if self.timed else None
        if taken is not None:
            self.durations[_bin(updated - taken)] += 1

    def histogram(self) -> Histogram | None:
        if not self.timed:
            return None
        return Histogram(DURATION_EDGES, tuple(self.durations))


def _bin(seconds: float) -> int:
    """The :data:`DURATION_EDGES` bin of ``seconds`` (out of range: the first or last)."""
    if seconds <= DURATION_EDGES[0]:
        return 0
    index = math.floor(10 * math.log10(seconds)) + 30
    return max(0, min(index, len(DURATION_EDGES) - 2))


async def read_report(journal: CampaignJournal) -> ReportFigures:
    """Read the figures of a report from ``journal`` (open, bound to its campaign).

    One pass over :meth:`CampaignJournal.rows` plus the journal's own counts; memory stays
    bounded whatever the number of rows (see the module's docstring for each figure's source).
    """
    reading = _Reading()
    async for row in journal.rows():
        reading.add(row)
    meta = await journal.meta()
    states = await journal.counts()
    runs = await journal.runs()
    busy = sum((end or start) - start for start, end, _ in runs)
    return ReportFigures(
        campaign=meta.get("campaign"),
        input=meta.get("input"),
        where=journal.where,
        rows=sum(states.values()),
        states=states,
        segments=await journal.sent_segments(),
        retryable=await journal.retryable_count(),
        runs=len(runs),
        started=runs[0][0] if runs else None,
        ended=(runs[-1][1] or runs[-1][0]) if runs else None,
        busy=busy,
        rate=states.get(RowState.SENT.value, 0) / busy if busy > 0 else 0.0,
        sends=reading.sends.timeline(),
        attempts=dict(reading.attempts),
        durations=reading.histogram(),
        receipts=await journal.receipt_counts(),
        receipts_over_time=reading.receipts.timeline(),
        receipt_failures=tuple(await journal.receipt_failures(10)),
        errors=tuple(await journal.top_errors(10)),
    )
