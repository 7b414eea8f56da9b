"""Prometheus metrics of Senders and of the campaigns they send (``pip install 'bwmsg[metrics]'``).

::

    from prometheus_client import CollectorRegistry, generate_latest
    import bwmsg.metrics

    registry = CollectorRegistry()
    async with Sender(...) as sender:
        bwmsg.metrics.register(sender, registry=registry)
        async with bwmsg.metrics.serving("127.0.0.1", 9464, registry=registry):
            ...  # /metrics is served on this event loop while the block runs

The metrics (their names are fixed; no phone number, tag or message id is ever a label):

- ``bwmsg_messages_total{outcome="sent|failed|unknown"}``: requests finished, one each;
- ``bwmsg_attempts_total{result="..."}``: HTTP attempts by what they came to, ``accepted``,
  ``rate_limited``, ``server_error``, ``client_error``, ``transport`` or ``ambiguous``
  (``attempts - messages`` are the retries);
- ``bwmsg_in_flight``: requests waiting for an answer now;
- ``bwmsg_http_seconds``: one observation per attempt, its HTTP exchange;
- ``bwmsg_throttle_wait_seconds``: one per attempt, its wait for the Sender-wide pause after a
  429 and the rate limit;
- ``bwmsg_campaign_rows{campaign="<id>",state="pending|sending|sent|failed|unknown|suppressed"}``:
  a campaign run's rows by state in its journal (the whole campaign's, when several workers
  share a PostgreSQL journal), updated as the run writes, at most once a second;
- ``bwmsg_journal_write_seconds``: each write of a campaign run's outcomes to its journal.

How it costs little: nothing is counted twice. Messages by outcome and the requests in flight
are the Sender's own counters (those :meth:`~bwmsg.Sender.stats` reads), read when Prometheus
scrapes; per attempt the Sender calls one small observer that adds to plain counters and
buckets (no lock, no metric object); :class:`SenderCollector` turns them into metric families
at scrape time. A Sender with no metrics registered pays one attribute check per attempt
(``benchmarks/bench_observability.py`` measures both).
"""

from __future__ import annotations

import bisect
import contextlib
import importlib
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ._sender import Sender, watch
from ._stats import Observer, Stats

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

__all__ = [  # noqa: RUF022 - plainly sorted, as tests/unit/test_exported_members.py checks
    "ATTEMPT_RESULTS",
    "HTTP_BUCKETS",
    "JOURNAL_BUCKETS",
    "ROW_STATES",
    "SenderCollector",
    "THROTTLE_BUCKETS",
    "register",
    "serving",
]

_INSTALL_HINT = "pip install 'bwmsg[metrics]'"

ATTEMPT_RESULTS = (
    "accepted",
    "rate_limited",
    "server_error",
    "client_error",
    "transport",
    "ambiguous",
)
"""The values of ``bwmsg_attempts_total``'s ``result`` label."""

ROW_STATES = ("pending", "sending", "sent", "failed", "unknown", "suppressed")
"""The values of ``bwmsg_campaign_rows``' ``state`` label."""

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of ``bwmsg_http_seconds``' buckets."""

THROTTLE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (seconds) of ``bwmsg_throttle_wait_seconds``' buckets."""

JOURNAL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Upper bounds (seconds) of ``bwmsg_journal_write_seconds``' buckets."""


def _library() -> Any:
    """prometheus_client, or an ImportError saying how to install it."""
    try:
        return importlib.import_module("prometheus_client")
    except ImportError:
        raise ModuleNotFoundError(
            f"bwmsg.metrics needs prometheus-client, which is not installed: {_INSTALL_HINT}"
        ) from None


class _Buckets:
    """A histogram kept as plain counts: one bisect and two additions per observation."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = list(bounds)
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def family(self, name: str, documentation: str) -> Metric:
        core = importlib.import_module("prometheus_client.core")
        counts = list(self.counts)  # a scrape from another thread sees one moment's counts
        buckets: list[tuple[str, float]] = []
        seen = 0
        for bound, count in zip([*self.bounds, float("inf")], counts, strict=True):
            seen += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), seen))
        family: Metric = core.HistogramMetricFamily(
            name, documentation, buckets=buckets, sum_value=self.total
        )
        return family


class _Watch(Observer):
    """What the Senders of one collector tell it, kept as plain numbers until a scrape."""

    def __init__(self) -> None:
        self.attempts = dict.fromkeys(ATTEMPT_RESULTS, 0)
        self.http = _Buckets(HTTP_BUCKETS)
        self.throttle = _Buckets(THROTTLE_BUCKETS)
        self.journal = _Buckets(JOURNAL_BUCKETS)
        self.campaigns: dict[str, dict[str, int]] = {}

    def attempted(self, result: str, seconds: float) -> None:
        self.attempts[result] += 1
        self.http.observe(seconds)

    def waited(self, seconds: float) -> None:
        self.throttle.observe(seconds)

    def journal_written(self, seconds: float) -> None:
        self.journal.observe(seconds)

    def rows(self, campaign: str, counts: Mapping[str, int]) -> None:
        self.campaigns[campaign] = {state: int(counts.get(state, 0)) for state in ROW_STATES}


class SenderCollector:
    """The metrics of every Sender registered on one registry, summed (a prometheus_client
    collector: ``collect()`` makes the metric families at scrape time).

    :func:`register` makes one per registry and adds each Sender to it; counters stay with it
    after a Sender closes, so they never go down.
    """

    def __init__(self) -> None:
        self._watch = _Watch()
        self._stats: list[Stats] = []

    def add(self, sender: Sender) -> None:
        """Count ``sender`` too (once, however often it is added)."""
        stats = watch(sender, self._watch)
        if not any(known is stats for known in self._stats):
            self._stats.append(stats)

    def describe(self) -> list[Metric]:
        """The metric families (the registry checks their names once, at registration)."""
        return list(self.collect())

    def collect(self) -> Iterable[Metric]:
        """The metric families as they stand now."""
        core = importlib.import_module("prometheus_client.core")
        watch, stats = self._watch, list(self._stats)
        messages = core.CounterMetricFamily(
            "bwmsg_messages",
            "Requests finished, one each, by outcome (unknown: may have been sent).",
            labels=["outcome"],
        )
        messages.add_metric(["sent"], sum(s.sent for s in stats))
        messages.add_metric(["failed"], sum(s.failed for s in stats))
        messages.add_metric(["unknown"], sum(s.unknown for s in stats))
        yield messages
        attempts = core.CounterMetricFamily(
            "bwmsg_attempts", "HTTP attempts of sends, by what they came to.", labels=["result"]
        )
        for result, count in watch.attempts.items():
            attempts.add_metric([result], count)
        yield attempts
        yield core.GaugeMetricFamily(
            "bwmsg_in_flight",
            "Requests waiting for an answer now.",
            value=sum(s.in_flight for s in stats),
        )
        yield watch.http.family("bwmsg_http_seconds", "Seconds of each HTTP attempt of a send.")
        yield watch.throttle.family(
            "bwmsg_throttle_wait_seconds",
            "Seconds each attempt waited for the pause after a 429 and the rate limit.",
        )
        rows = core.GaugeMetricFamily(
            "bwmsg_campaign_rows",
            "A campaign's rows by state in its journal.",
            labels=["campaign", "state"],
        )
        for campaign, counts in list(watch.campaigns.items()):
            for state, count in counts.items():
                rows.add_metric([campaign, state], count)
        yield rows
        yield watch.journal.family(
            "bwmsg_journal_write_seconds",
            "Seconds of each write of a campaign run's outcomes to its journal.",
        )


# One collector per registry, so that a second Sender (or a second call) adds to it instead
# of registering the same names twice.
_collectors: weakref.WeakKeyDictionary[Any, SenderCollector] = weakref.WeakKeyDictionary()


def register(sender: Sender, registry: CollectorRegistry | None = None) -> SenderCollector:
    """Export ``sender``'s metrics (and those of the campaigns run on it) through ``registry``.

    Call it once per Sender, before or after it opens; several Senders on one registry are
    summed. Counters start from what the Sender has counted so far (messages) or from now
    (attempts, histograms).

    Args:
        sender: the Sender to watch.
        registry: a ``prometheus_client.CollectorRegistry``; default: prometheus_client's
            global ``REGISTRY`` (what its ``start_http_server`` serves).

    Returns:
        The registry's :class:`SenderCollector`.

    Raises:
        ModuleNotFoundError: prometheus-client is not installed (``pip install 'bwmsg[metrics]'``).
    """
    prometheus = _library()
    target = registry if registry is not None else prometheus.REGISTRY
    collector = _collectors.get(target)
    if collector is None:
        collector = SenderCollector()
        target.register(cast(Any, collector))
        _collectors[target] = collector
    collector.add(sender)
    return collector


@contextlib.asynccontextmanager
async def serving(
    host: str, port: int, registry: CollectorRegistry | None = None
) -> AsyncIterator[int]:
    """Serve ``registry`` (default: prometheus_client's ``REGISTRY``) at
    ``http://host:port/metrics`` on the running event loop while the block runs; yields the
    port (``port=0``: a free one).

    Raises:
        OSError: the address cannot be listened on (in use, not this host's).
        ModuleNotFoundError: prometheus-client is not installed.
    """
    from aiohttp import web

    from ._serve import serve

    prometheus = _library()
    source = registry if registry is not None else prometheus.REGISTRY

    async def metrics(request: web.Request) -> web.Response:
        body = prometheus.generate_latest(source)
        return web.Response(body=body, headers={"Content-Type": prometheus.CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner, bound = await serve(app, host, port)
    try:
        yield bound
    finally:
        await runner.cleanup()
