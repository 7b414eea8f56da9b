"""What a person sees: the demo and a campaign run in a real pseudo-terminal (a progress
display that redraws in place, the summary table), and piped (plain lines, no escapes)."""

from __future__ import annotations

import asyncio
import os
import pty
import sys
from pathlib import Path

from bwmsg.simulator import Faults, Simulator
from tests.cli_helpers import bwmsg_run, env_for, write_csv

# rich's live display hides the cursor while it redraws the progress line in place: it erases
# the line and writes it again (a pseudo-terminal turns every \n into \r\n, so a carriage
# return alone proves nothing).
HIDE_CURSOR, SHOW_CURSOR, ERASE_LINE = "\x1b[?25l", "\x1b[?25h", "\x1b[2K"


def redrawn(screen: str) -> bool:
    return HIDE_CURSOR in screen and SHOW_CURSOR in screen and screen.count(ERASE_LINE) >= 2


async def in_a_terminal(env: dict[str, str], *args: str | Path, cols: int = 120) -> tuple[int, str]:
    """Run ``python -m bwmsg ARGS`` with a pseudo-terminal as its stdin, stdout and stderr."""
    main, child = pty.openpty()
    os.set_blocking(main, False)
    env = {**env, "COLUMNS": str(cols), "LINES": "40", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bwmsg",
        *map(str, args),
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
    )
    os.close(child)
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    closed = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child side is closed (the command ended)
            data = b""
        if data:
            chunks.append(data)
        elif not closed.done():
            closed.set_result(None)

    loop.add_reader(main, readable)
    try:
        code = await asyncio.wait_for(proc.wait(), 120)
        await asyncio.wait_for(closed, 10)
    finally:
        loop.remove_reader(main)
        os.close(main)
    return code, b"".join(chunks).decode("utf-8", "replace")


async def test_demo_in_a_terminal_redraws_its_progress_and_draws_the_summary() -> None:
    async with Simulator() as sim:
        code, screen = await in_a_terminal(env_for(sim), "demo", "--rows", "1500")
    assert code == 0, screen
    assert "Traceback" not in screen
    assert redrawn(screen)
    assert "sending" in screen
    assert "┏" in screen  # the summary as a table
    assert "Campaign run" in screen


async def test_campaign_run_in_a_terminal_and_piped(tmp_path: Path) -> None:
    recipients = write_csv(tmp_path / "r.csv", 400)
    async with Simulator(faults=Faults(latency=0.002)) as sim:
        args: list[str | Path] = ["campaign", "run", recipients, "--from", "+19195550000"]
        args += ["--text", "hi"]
        code, screen = await in_a_terminal(env_for(sim), *args, "--journal", tmp_path / "a.db")
        assert code == 0, screen
        code, piped = await bwmsg_run(env_for(sim), *args, "--journal", tmp_path / "b.db")
        assert code == 0, piped
    assert redrawn(screen)
    assert "\x1b[" not in piped  # plain text in a pipe or a log file
    assert "\r" not in piped
    progress = [line for line in piped.splitlines() if "rows" in line and "msg/s" in line]
    assert progress, piped
    assert progress[-1].startswith("400/400 rows")
    assert "Campaign run" in piped
