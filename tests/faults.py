"""The simulator's fault mix that the stress suites (chaos, SIGKILL) run under."""

from __future__ import annotations

from bwmsg.simulator import Faults

CHAOS = Faults(
    rate_limited=0.10,
    server_error=0.05,
    drop_before_accept=0.005,
    drop_after_accept=0.005,
    latency=0.001,
    latency_distribution="exponential",
)
"""10 % 429s, 5 % 5xx, 1 % connections dropped (half before, half after the message was
accepted), and an exponential latency of mean 1 ms on every answer."""
