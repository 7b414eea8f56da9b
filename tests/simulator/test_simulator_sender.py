"""The library's Sender against the simulator: retries end with exactly one copy per message."""

from __future__ import annotations

from bwmsg import MessageRequest, Outcome, RetryPolicy, Sender
from bwmsg.simulator import Faults, Simulator
from tests.senders import simulator_sender


def requests(count: int) -> list[MessageRequest]:
    return [
        MessageRequest(to="+19195551212", from_="+19195550000", text=f"message {i}", tag=str(i))
        for i in range(count)
    ]


async def test_ten_thousand_with_429s_and_500s_no_duplicates() -> None:
    """send_many of 10,000 with 10 % 429s and 5 % 500s: exactly 10,000 accepted, no duplicates."""
    faults = Faults(rate_limited=0.10, server_error=0.05, server_error_statuses=(500,))
    async with Simulator(faults=faults, seed=10_000) as sim:
        async with simulator_sender(
            sim, retry=RetryPolicy(base_delay=0, max_attempts=20)
        ) as sender:
            outcomes = [result.outcome async for result in sender.send_many(requests(10_000))]
        assert outcomes.count(Outcome.SENT) == 10_000
        assert len(sim.accepted) == 10_000
        assert sim.duplicates() == {}
        assert sorted(int(record.tag or -1) for record in sim.accepted) == list(range(10_000))
        assert sim.counts["429"] > 500
        assert sim.counts["500"] > 250


async def test_send_returns_the_simulated_message() -> None:
    """Sender.send reads the simulator's answer into a Message."""
    async with Simulator() as sim, simulator_sender(sim) as sender:
        message = await sender.send(
            MessageRequest(to="+19195551212", from_="+19195550000", text="€" * 81)
        )
    assert message.id == sim.accepted[0].id
    assert message.segment_count == 2
    assert message.owner == "+19195550000"


async def test_drop_after_accept_is_ambiguous_and_a_retry_duplicates() -> None:
    """A drop after acceptance is UNKNOWN; retrying it anyway makes a real duplicate."""
    async with Simulator(faults=Faults(drop_after_accept=1.0)) as sim:
        async with simulator_sender(sim, retry=RetryPolicy(base_delay=0, max_attempts=2)) as sender:
            [result] = [r async for r in sender.send_many(requests(1))]
        assert result.outcome is Outcome.UNKNOWN
        assert len(sim.accepted) == 1
        policy = RetryPolicy(base_delay=0, max_attempts=2, retry_ambiguous=True)
        sim.reset()
        async with simulator_sender(sim, retry=policy) as sender:
            [result] = [r async for r in sender.send_many(requests(1))]
        assert result.outcome is Outcome.UNKNOWN
        assert len(sim.duplicates()) == 1


async def test_drop_before_accept_is_never_recorded() -> None:
    """Drops before acceptance leave no record, even when retried."""
    policy = RetryPolicy(base_delay=0, max_attempts=3, retry_ambiguous=True)
    async with Simulator(faults=Faults(drop_before_accept=1.0)) as sim:
        async with simulator_sender(sim, retry=policy) as sender:
            [result] = [r async for r in sender.send_many(requests(1))]
        assert result.outcome is Outcome.UNKNOWN
        assert sim.accepted == []
        assert sim.counts["drop_before_accept"] == 3


async def test_legacy_base_url_works_with_sender() -> None:
    """A Sender given the legacy base URL sends through the legacy path."""
    async with Simulator() as sim:
        async with Sender(
            "u-1", "user", "pass", application_id="app", base_url=sim.legacy_base_url
        ) as sender:
            await sender.send(MessageRequest(to="+19195551212", from_="+19195550000", text="hi"))
        assert sim.accepted[0].account_id == "u-1"
