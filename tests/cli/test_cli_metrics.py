"""``campaign run --metrics HOST:PORT``: /metrics scraped while a campaign runs against a
faulty simulator, the values checked against the journal after; bounded labels; an address
in use or a wrong value refused before anything is sent."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bwmsg.campaign import Journal
from bwmsg.metrics import ATTEMPT_RESULTS, ROW_STATES
from bwmsg.simulator import Faults, Simulator
from tests.cli_helpers import (
    Command,
    bwmsg_run,
    campaign_run_args,
    env_for,
    port_in_use,
    write_csv,
)
from tests.postgres_server import pg_server, pg_url  # noqa: F401 - fixtures

ROWS = 400
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


pytestmark = pytest.mark.usefixtures("reap_commands")


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def campaign_of(samples: Samples) -> str:
    [campaign] = {
        dict(labels)["campaign"] for name, labels in samples if "campaign" in dict(labels)
    }
    return campaign


async def scrape(session: aiohttp.ClientSession, url: str) -> str | None:
    """The text of /metrics, or None once the command has stopped serving."""
    try:
        async with session.get(url) as response:
            assert response.status == 200
            return await response.text()
    except aiohttp.ClientConnectionError:
        return None


def assert_bounded(samples: Samples) -> None:
    """Only the fixed label names and values; no number anywhere in a label."""
    allowed = {
        "outcome": {"sent", "failed", "unknown"},
        "result": set(ATTEMPT_RESULTS),
        "state": set(ROW_STATES),
    }
    for _, labels in samples:
        for label, label_value in labels:
            assert "+1" not in label_value
            assert label in {"outcome", "result", "state", "le", "campaign"}, label
            if label in allowed:
                assert label_value in allowed[label], (label, label_value)
            if label == "campaign":
                assert re.fullmatch(r"[0-9a-f]{12}", label_value), label_value


async def test_scraped_during_a_run_and_equal_to_the_journal_after(tmp_path: Path) -> None:
    """Scrapes while rows are being sent see partial counts; the scrape after the last send
    (the run then waits for receipts) matches the journal: messages by outcome, rows by state,
    attempts at least the messages, one HTTP and one throttle observation per attempt."""
    recipients = write_csv(tmp_path / "r.csv", ROWS)
    journal = tmp_path / "run.db"
    faults = Faults(rate_limited=0.05, server_error=0.05, drop_after_accept=0.02, latency=0.02)
    async with Simulator(port=0, faults=faults, seed=7) as sim:
        args = campaign_run_args(
            recipients,
            journal,
            "--concurrency",
            "8",
            "--metrics",
            "127.0.0.1:0",
            "--receipts",
            "127.0.0.1:0",
            "--receipts-wait",
            "30",
            "--quiet",
        )
        command = await Command.start(env_for(sim), *args)
        await command.wait_for_output(lambda out: "/metrics" in out, 30)
        found = re.search(r"metrics: (http://127\.0\.0\.1:\d+/metrics)", command.stdout)
        assert found is not None, command.output
        url = found.group(1)
        during: list[Samples] = []
        async with aiohttp.ClientSession() as session:
            while "waiting up to" not in command.output:
                text = await scrape(session, url)
                assert text is not None, command.output
                during.append(parse(text))
                await asyncio.sleep(0.05)
            text = await scrape(session, url)  # every row written: the run waits for receipts
        assert text is not None
        after = parse(text)
        command.proc.send_signal(2)  # Ctrl-C: stop waiting for receipts
        await command.finish(60)
    with Journal(journal, readonly=True) as db:
        counts = db.counts()
    partial = [
        s for s in during if 0 < get(s, "bwmsg_messages_total", outcome="sent") < counts["sent"]
    ]
    assert partial, "no scrape saw the run part-way"
    for outcome in ("sent", "failed", "unknown"):
        assert get(after, "bwmsg_messages_total", outcome=outcome) == counts.get(outcome, 0)
    campaign = campaign_of(after)
    for state in ROW_STATES:
        assert get(after, "bwmsg_campaign_rows", campaign=campaign, state=state) == counts.get(
            state, 0
        ), state
    attempts = sum(get(after, "bwmsg_attempts_total", result=r) for r in ATTEMPT_RESULTS)
    assert attempts >= ROWS
    assert get(after, "bwmsg_attempts_total", result="accepted") >= counts["sent"]
    assert get(after, "bwmsg_attempts_total", result="rate_limited") > 0
    assert get(after, "bwmsg_attempts_total", result="server_error") > 0
    assert get(after, "bwmsg_attempts_total", result="ambiguous") == counts["unknown"]
    assert get(after, "bwmsg_http_seconds_count") == attempts
    assert get(after, "bwmsg_http_seconds_bucket", le="+Inf") == attempts
    assert get(after, "bwmsg_throttle_wait_seconds_count") == attempts
    assert get(after, "bwmsg_journal_write_seconds_count") > 0
    assert get(after, "bwmsg_in_flight") == 0
    for samples in [*during, after]:
        assert_bounded(samples)


async def run_refused(tmp_path: Path, rows: int, metrics: str) -> tuple[int, str]:
    """`campaign run --metrics METRICS` of ``rows`` rows to its end, which must have sent
    nothing: (exit status, output)."""
    recipients = write_csv(tmp_path / "r.csv", rows)
    async with Simulator(port=0) as sim:
        args = campaign_run_args(recipients, tmp_path / "run.db", "--metrics", metrics, text="Hi")
        code, output = await bwmsg_run(env_for(sim), *args)
        assert not sim.accepted
    return code, output


async def test_address_in_use_is_refused_before_sending(tmp_path: Path) -> None:
    """--metrics on an address in use: a usage error naming --metrics, nothing sent."""
    with port_in_use() as port:
        code, output = await run_refused(tmp_path, 5, f"127.0.0.1:{port}")
    assert code == 2, output
    assert f"--metrics 127.0.0.1:{port}" in output
    assert "cannot listen there" in output


async def test_a_wrong_address_is_a_usage_error(tmp_path: Path) -> None:
    """--metrics takes HOST:PORT; anything else is refused naming the option."""
    code, output = await run_refused(tmp_path, 1, "nowhere")
    assert code == 2, output
    assert "--metrics" in output
    assert "HOST:PORT" in output


async def test_worker_serves_metrics(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    """campaign worker --metrics: scraped while it sends a PostgreSQL campaign, the rows gauge
    counts the whole campaign under its id."""
    recipients = write_csv(tmp_path / "r.csv", 200)
    async with Simulator(port=0, faults=Faults(latency=0.02)) as sim:
        refused = {**env_for(sim), "BW_PASSWORD": "wrong"}  # loads the rows, sends none
        code, output = await bwmsg_run(refused, *campaign_run_args(recipients, pg_url, "--quiet"))
        assert code == 1, output
        found = re.search(r"campaign ([0-9a-f]{12}) in ", output)
        assert found is not None, output
        campaign = found.group(1)
        command = await Command.start(
            env_for(sim),
            "campaign",
            "worker",
            "--journal",
            pg_url,
            "--concurrency",
            "4",
            "--metrics",
            "127.0.0.1:0",
            "--quiet",
        )
        await command.wait_for_output(lambda out: "/metrics" in out, 30)
        address = re.search(r"metrics: (http://127\.0\.0\.1:\d+/metrics)", command.stdout)
        assert address is not None, command.output
        seen: list[Samples] = []
        async with aiohttp.ClientSession() as session:
            while (text := await scrape(session, address.group(1))) is not None:
                seen.append(parse(text))
                await asyncio.sleep(0.05)
        assert await command.finish(60) == 0, command.output
    assert len(sim.accepted) == 200
    busy = [s for s in seen if get(s, "bwmsg_messages_total", outcome="sent") > 0]
    assert busy, "no scrape while the worker sent"
    for samples in busy:
        rows = [
            get(samples, "bwmsg_campaign_rows", campaign=campaign, state=st) for st in ROW_STATES
        ]
        assert sum(rows) == 200
        assert_bounded(samples)
