"""bwmsg.metrics in a library: register() on a registry of one's own, the values after known
answers, bounded labels, several Senders, a campaign's rows, serving /metrics, the extra."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest

import bwmsg.metrics
from bwmsg import RetryPolicy, Sender
from bwmsg.campaign import Journal, Template, run_campaign
from bwmsg.metrics import ATTEMPT_RESULTS, ROW_STATES, register, serving
from bwmsg.simulator import Simulator
from tests.cli_helpers import write_csv
from tests.senders import request, sender_for, simulator_sender
from tests.servers import Drop, Reply, Scripted, free_port


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    assert found is not None, f"no sample {name}{labels}"
    return found


async def test_values_follow_the_answers(server: Scripted) -> None:
    """Messages by outcome, attempts by result, one HTTP and one throttle observation per
    attempt, nothing left in flight."""
    server.then(
        Reply(429, {"type": "max-message-queue-size-exceeded", "description": "full"}),
        Reply(500, {"type": "x", "description": "y"}),
        Reply(400, {"type": "bad", "description": "no"}),  # message 0: failed after 3
        Drop(),  # message 1: unknown
    )
    registry = CollectorRegistry()
    async with sender_for(server.base_url, concurrency=1) as sender:
        register(sender, registry=registry)
        results = [r async for r in sender.send_many(request(i) for i in range(5))]
    assert [r.outcome.value for r in results] == ["failed", "unknown", "sent", "sent", "sent"]
    messages = {
        o: value(registry, "bwmsg_messages_total", outcome=o) for o in ("sent", "failed", "unknown")
    }
    assert messages == {"sent": 3, "failed": 1, "unknown": 1}
    attempts = {r: value(registry, "bwmsg_attempts_total", result=r) for r in ATTEMPT_RESULTS}
    assert attempts == {
        "accepted": 3,
        "rate_limited": 1,
        "server_error": 1,
        "client_error": 1,
        "transport": 0,
        "ambiguous": 1,
    }
    assert value(registry, "bwmsg_http_seconds_count") == 7
    assert value(registry, "bwmsg_http_seconds_bucket", le="+Inf") == 7
    assert value(registry, "bwmsg_http_seconds_sum") > 0
    assert value(registry, "bwmsg_throttle_wait_seconds_count") == 7
    assert value(registry, "bwmsg_in_flight") == 0


async def test_refused_connections_count_as_transport() -> None:
    """Attempts that never reached a server are counted under result="transport"."""
    registry = CollectorRegistry()
    base = f"http://127.0.0.1:{free_port()}/api/v2"
    async with sender_for(base, retry=RetryPolicy(max_attempts=3, base_delay=0)) as sender:
        register(sender, registry=registry)
        [result] = [r async for r in sender.send_many([request(0)])]
    assert result.outcome.value == "failed"
    assert value(registry, "bwmsg_attempts_total", result="transport") == 3
    assert value(registry, "bwmsg_messages_total", outcome="failed") == 1


async def test_labels_are_bounded(server: Scripted) -> None:
    """No number, tag or message id in any label: the label values are the fixed sets."""
    registry = CollectorRegistry()
    async with sender_for(server.base_url) as sender:
        register(sender, registry=registry)
        async for _ in sender.send_many(request(i) for i in range(20)):
            pass
    text = generate_latest(registry).decode()
    assert "+1919" not in text
    assert "msg-" not in text
    for family in registry.collect():
        for sample in family.samples:
            assert set(sample.labels) <= {"outcome", "result", "le", "campaign", "state"}
            assert sample.labels.get("outcome", "sent") in ("sent", "failed", "unknown")
            assert sample.labels.get("result", "accepted") in ATTEMPT_RESULTS


async def test_senders_on_one_registry_are_summed(server: Scripted) -> None:
    """Two Senders on one registry add up; registering one twice counts it once."""
    registry = CollectorRegistry()
    async with sender_for(server.base_url) as one, sender_for(server.base_url) as two:
        first = register(one, registry=registry)
        assert register(two, registry=registry) is first
        register(one, registry=registry)
        async for _ in one.send_many(request(i) for i in range(3)):
            pass
        await two.send(request(9))
    assert value(registry, "bwmsg_messages_total", outcome="sent") == 4
    assert value(registry, "bwmsg_attempts_total", result="accepted") == 4


async def test_one_sender_on_two_registries(server: Scripted) -> None:
    """A Sender registered on two registries is counted by each."""
    registries = [CollectorRegistry(), CollectorRegistry()]
    async with sender_for(server.base_url) as sender:
        for registry in registries:
            register(sender, registry=registry)
        await sender.send(request(0))
    for registry in registries:
        assert value(registry, "bwmsg_attempts_total", result="accepted") == 1
        assert value(registry, "bwmsg_http_seconds_count") == 1


async def test_campaign_rows_and_journal_writes(tmp_path: Path) -> None:
    """A campaign run on a registered Sender sets its rows by state (equal to the journal's
    counts at the end) and times its journal writes."""
    registry = CollectorRegistry()
    recipients = write_csv(tmp_path / "r.csv", 40, bad=(3,))
    journal = tmp_path / "run.db"
    async with Simulator(port=0) as sim, simulator_sender(sim) as sender:
        register(sender, registry=registry)
        summary = await run_campaign(
            sender, recipients, journal, Template(text="Hi {name}", from_="+19195550000")
        )
    assert summary.sent == 39
    with Journal(journal, readonly=True) as db:
        counts = db.counts()
        [campaign] = {
            s.labels["campaign"]
            for f in registry.collect()
            for s in f.samples
            if "campaign" in s.labels
        }
    for state in ROW_STATES:
        assert value(registry, "bwmsg_campaign_rows", campaign=campaign, state=state) == counts.get(
            state, 0
        ), state
    assert value(registry, "bwmsg_journal_write_seconds_count") >= 1


async def test_serving_answers_metrics(server: Scripted) -> None:
    """serving() answers GET /metrics on the running loop with the registry's text."""
    registry = CollectorRegistry()
    async with sender_for(server.base_url) as sender:
        register(sender, registry=registry)
        await sender.send(request(0))
        async with (
            serving("127.0.0.1", 0, registry=registry) as port,
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
    assert 'bwmsg_messages_total{outcome="sent"} 1.0' in text
    assert "# TYPE bwmsg_http_seconds histogram" in text


async def test_serving_on_an_address_in_use_raises() -> None:
    """An address already in use is an OSError, before anything is served."""
    async with serving("127.0.0.1", 0, registry=CollectorRegistry()) as port:
        with pytest.raises(OSError, match="in use"):
            async with serving("127.0.0.1", port, registry=CollectorRegistry()):
                pass


def test_without_prometheus_client_the_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """register() without prometheus-client says which extra to install."""
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    sender = Sender("acct", "user", "pass")
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'bwmsg\[metrics\]'"):
        bwmsg.metrics.register(sender, registry=CollectorRegistry())


def test_default_registry_is_prometheus_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a registry, the collector goes to prometheus_client's REGISTRY."""
    import prometheus_client

    registry = CollectorRegistry()
    monkeypatch.setattr(prometheus_client, "REGISTRY", registry)
    collector = register(Sender("acct", "user", "pass"))
    assert registry.get_sample_value("bwmsg_in_flight") == 0
    registry.unregister(collector)


def test_grafana_dashboard_has_a_panel_for_each_metric() -> None:
    """docs/grafana-dashboard.json is valid JSON with a panel querying every metric."""
    dashboard = json.loads((Path(__file__).parents[2] / "docs/grafana-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for name in (
        "bwmsg_messages_total",
        "bwmsg_attempts_total",
        "bwmsg_in_flight",
        "bwmsg_http_seconds_bucket",
        "bwmsg_throttle_wait_seconds_bucket",
        "bwmsg_campaign_rows",
        "bwmsg_journal_write_seconds_bucket",
    ):
        assert name in exprs, name
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
