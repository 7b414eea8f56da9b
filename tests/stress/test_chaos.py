"""Chaos: send_many and a campaign against a simulator that fails in every way it can.

The size is ``BWMSG_CHAOS_N`` messages (20,000 by default, as CI runs it). The full-size run,
whose figures are in ``benchmarks/RESULTS.md``::

    BWMSG_CHAOS_N=100000 .venv/bin/pytest tests/stress/test_chaos.py -s

What is checked, for every run:

- every input has exactly one result (one final journal row in a campaign);
- SENT results match accepted messages one to one, by message id;
- nothing FAILED was accepted;
- a message accepted more than once was reported UNKNOWN (with ``retry_ambiguous=False``
  there are none at all); with ``retry_ambiguous=True`` duplicates are allowed, but only for
  messages that were retried;
- every accepted copy is accounted for: accepted = SENT + connections dropped after accepting;
- no file descriptor and no asyncio task is left behind.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from bwmsg import MessageRequest, Outcome, RetryPolicy, SendResult
from bwmsg.campaign import Journal, Template, run_campaign
from bwmsg.simulator import AcceptedMessage, Simulator
from tests.cli_helpers import write_csv
from tests.faults import CHAOS
from tests.senders import simulator_sender

N = int(os.environ.get("BWMSG_CHAOS_N", "20000"))
CONCURRENCY = 50

# Four attempts, so that some messages meet 429/5xx four times in a row and end FAILED
# (0.15 ** 4: about one in 2,000), which exercises "nothing FAILED was accepted".
RETRY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01)


def open_fds() -> set[str]:
    """The process's open file descriptors (Linux)."""
    return set(os.listdir("/proc/self/fd"))


def other_tasks() -> set[asyncio.Task[object]]:
    """The running loop's tasks, bar the current one."""
    return asyncio.all_tasks() - {asyncio.current_task()}


async def settle() -> None:
    # Closed transports give their sockets back on the loop's next turns: let them run.
    for _ in range(5):
        await asyncio.sleep(0)


def request(i: int) -> MessageRequest:
    return MessageRequest(
        to=f"+1919{i:07d}", from_="+19195550000", text=f"chaos {i}", tag=f"chaos:{i}"
    )


def requests(n: int) -> Iterator[MessageRequest]:
    return (request(i) for i in range(n))


def copies_by_key(accepted: list[AcceptedMessage], prefix: str) -> dict[int, list[str]]:
    """Accepted message ids by the input (row or index) their tag names."""
    found: dict[int, list[str]] = defaultdict(list)
    for record in accepted:
        tag = record.tag or ""
        assert tag.startswith(prefix), f"accepted a message no input sent: {tag!r}"
        found[int(tag[len(prefix) :])].append(record.id)
    return found


def figures(title: str, sim: Simulator, outcomes: Counter[str], elapsed: float) -> None:
    dupes = sim.duplicates()
    print(
        f"\n{title}: {sum(outcomes.values()):,} messages in {elapsed:.1f} s; "
        f"requests {sum(v for k, v in sim.counts.items() if k.isdigit() or 'drop' in k):,}; "
        "faults met: "
        f"429 {sim.counts['429']:,}, "
        f"5xx {sum(v for k, v in sim.counts.items() if k.startswith('5')):,}, "
        f"dropped before accepting {sim.counts['drop_before_accept']:,}, "
        f"dropped after accepting {sim.counts['drop_after_accept']:,}; "
        f"outcomes: sent {outcomes['sent']:,}, failed {outcomes['failed']:,}, "
        f"unknown {outcomes['unknown']:,}; accepted {len(sim.accepted):,}; "
        f"duplicated messages {len(dupes):,} (extra copies {sum(dupes.values()) - len(dupes):,})"
    )


def check_send_many(
    results: list[SendResult], sim: Simulator, n: int, *, retry_ambiguous: bool
) -> Counter[str]:
    """The invariants of one send_many run; returns the outcome counts."""
    assert sorted(r.index for r in results) == list(range(n))  # exactly one result each
    for r in results:
        assert r.request == request(r.index)
    copies = copies_by_key(sim.accepted, "chaos:")
    sent_ids: set[str] = set()
    for r in results:
        ids = copies.get(r.index, [])
        if r.outcome is Outcome.SENT:
            assert r.message is not None
            assert r.message.id in ids, f"SENT {r.index} has no accepted message"
            assert r.message.id not in sent_ids
            sent_ids.add(r.message.id)
            if len(ids) > 1:  # only possible by retrying after an ambiguous failure
                assert retry_ambiguous
                assert len(ids) <= r.attempts
        elif r.outcome is Outcome.FAILED:
            assert ids == [], f"FAILED {r.index} was accepted: {ids}"
        else:
            assert r.outcome is Outcome.UNKNOWN
            assert len(ids) <= (r.attempts if retry_ambiguous else 1)
    # Every accepted copy is either a SENT result or a connection dropped after accepting.
    assert len(sim.accepted) == len(sent_ids) + sim.counts["drop_after_accept"]
    by_tag = {f"chaos:{r.index}": r for r in results}
    for (_, _, tag), _count in sim.duplicates().items():
        assert retry_ambiguous, "a message was sent twice with retry_ambiguous=False"
        owner = by_tag[str(tag)]
        assert owner.outcome is Outcome.UNKNOWN or owner.attempts > 1
    return Counter(r.outcome.value for r in results)


@pytest.mark.parametrize("retry_ambiguous", [False, True], ids=["strict", "retry_ambiguous"])
async def test_send_many_under_chaos(retry_ambiguous: bool) -> None:
    """send_many under 429s, 5xx, drops and latency: one result each, matched to the record."""
    fds, tasks = open_fds(), other_tasks()
    started = time.perf_counter()
    async with Simulator(faults=CHAOS, seed=7) as sim:
        retry = RetryPolicy(
            max_attempts=RETRY.max_attempts,
            base_delay=RETRY.base_delay,
            max_delay=RETRY.max_delay,
            retry_ambiguous=retry_ambiguous,
        )
        async with simulator_sender(sim, concurrency=CONCURRENCY, retry=retry) as sender:
            results = [r async for r in sender.send_many(requests(N))]
        outcomes = check_send_many(results, sim, N, retry_ambiguous=retry_ambiguous)
        if not retry_ambiguous:
            assert sim.duplicates() == {}
        mode = "retry_ambiguous=True" if retry_ambiguous else "retry_ambiguous=False"
        figures(f"send_many, {mode}", sim, outcomes, time.perf_counter() - started)
    # The faults were met, not merely configured.
    assert sim.counts["429"]
    assert sim.counts["500"]
    assert sim.counts["drop_before_accept"]
    assert sim.counts["drop_after_accept"]
    await settle()
    assert open_fds() == fds
    assert other_tasks() == tasks


async def test_campaign_under_chaos(tmp_path: Path) -> None:
    """A journalled campaign under chaos: every row final and matching the simulator."""
    recipients = write_csv(tmp_path / "r.csv", N)
    journal = tmp_path / "j.db"
    fds, tasks = open_fds(), other_tasks()
    started = time.perf_counter()
    async with Simulator(faults=CHAOS, seed=8) as sim:
        async with simulator_sender(sim, concurrency=CONCURRENCY, retry=RETRY) as sender:
            summary = await run_campaign(
                sender,
                recipients,
                journal,
                Template(text="Hi {name}", from_="+19195550000"),
            )
        assert summary.complete
        with Journal(journal) as db:
            rows = {r["row"]: dict(r) for r in db.rows()}
            assert db.integrity() == "ok"
            campaign = db.meta()["campaign"]
        assert sorted(rows) == list(range(1, N + 1))
        copies = copies_by_key(sim.accepted, f"bwmsg:{campaign}:")
        sent_ids: set[str] = set()
        for row, record in rows.items():
            ids = copies.get(row, [])
            assert record["recipients"] == f"+1919{row - 1:07d}"
            if record["state"] == "sent":
                assert ids == [record["message_id"]], f"row {row}: {record} vs {ids}"
                sent_ids.add(record["message_id"])
            elif record["state"] == "failed":
                assert ids == [], f"failed row {row} was accepted"
                assert record["retryable"] == 1  # 429/5xx spent: a rerun tries again
            else:
                assert record["state"] == "unknown", f"row {row} is {record['state']}"
                assert len(ids) <= 1
        assert sim.duplicates() == {}
        assert len(sim.accepted) == len(sent_ids) + sim.counts["drop_after_accept"]
        outcomes = Counter(r["state"] for r in rows.values())
        assert outcomes["sent"] == summary.sent
        figures("campaign", sim, outcomes, time.perf_counter() - started)
    await settle()
    assert open_fds() == fds
    assert other_tasks() == tasks
