"""Helpers for tests that run the `bwmsg` command as a subprocess against the simulator."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from bwmsg.simulator import Simulator


def write_csv(path: Path, n: int, bad: tuple[int, ...] = ()) -> Path:
    """A recipients file of ``n`` rows (to, name); rows in ``bad`` get an invalid number."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["to", "name"])
        for i in range(n):
            writer.writerow(["555-0000" if i in bad else f"+1919{i:07d}", f"Person {i}"])
    return path


def env_for(sim: Simulator) -> dict[str, str]:
    """The environment for the command: this process's, with BW_* pointing at ``sim``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BW_")}
    env.update(
        BW_ACCOUNT_ID="9900000",
        BW_USERNAME=sim.username,
        BW_PASSWORD=sim.password,
        BW_MESSAGING_APPLICATION_ID="app",
        BW_MESSAGING_BASE_URL=sim.base_url,
    )
    return env
