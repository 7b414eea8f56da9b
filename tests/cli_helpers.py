"""Helpers for tests that run the `bwmsg` command as a subprocess against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
from aiohttp import web

from bwmsg.campaign import Journal
from bwmsg.simulator import Simulator


def write_table(path: Path, rows: list[list[str]]) -> Path:
    """``rows`` (the header first) as a UTF-8 CSV file, quoted as Excel would."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    """A CSV file with a ``to,name`` header and ``rows``."""
    return write_table(path, [["to", "name"], *rows])


def write_csv(path: Path, n: int, bad: tuple[int, ...] = ()) -> Path:
    """A recipients file of ``n`` rows (to, name); rows in ``bad`` get an invalid number."""
    numbers = ["555-0000" if i in bad else f"+1919{i:07d}" for i in range(n)]
    return write_rows(path, [[number, f"Person {i}"] for i, number in enumerate(numbers)])


def campaign_run_args(
    recipients: Path,
    journal: Path | str,
    *extra: str | Path,
    text: str = "Hi {name}",
    from_: str | None = "+19195550000",
) -> list[str | Path]:
    """``campaign run RECIPIENTS --journal JOURNAL --from FROM --text TEXT``, fast retries,
    then ``extra``; ``from_=None`` leaves --from out."""
    args: list[str | Path] = ["campaign", "run", recipients, "--journal", journal]
    if from_ is not None:
        args += ["--from", from_]
    return [*args, "--text", text, "--retry-delay", "0.01", *extra]


@contextlib.contextmanager
def port_in_use() -> Iterator[int]:
    """A port on 127.0.0.1 that something already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


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


# -- running the command and watching it --------------------------------------------------------


class Command:
    """A running ``python -m bwmsg`` whose stdout and stderr are read as they come.

    ``wait_for_output`` awaits a line instead of sleeping; ``finish`` bounds the wait for the
    exit. ``started``/``ended`` are ``time.monotonic()`` stamps.
    """

    live: ClassVar[set[Command]] = set()  # started and not yet collected: see reap()

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        Command.live.add(self)
        self.started = time.monotonic()
        self.ended: float | None = None
        self.stdout = ""
        self.stderr = ""
        self._changed = asyncio.Event()
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._pumps = [
            asyncio.ensure_future(self._pump(proc.stdout, "stdout")),
            asyncio.ensure_future(self._pump(proc.stderr, "stderr")),
        ]

    @classmethod
    async def start(
        cls,
        env: dict[str, str],
        *args: str | Path,
        preexec_fn: Callable[[], None] | None = None,
    ) -> Command:
        """Start ``python -m bwmsg ARGS`` with ``env`` (stdin closed, output piped)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bwmsg",
            *map(str, args),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=preexec_fn,
        )
        return cls(proc)

    async def _pump(self, stream: asyncio.StreamReader, name: str) -> None:
        while chunk := await stream.read(65536):
            text = chunk.decode(errors="replace")
            if name == "stdout":
                self.stdout += text
            else:
                self.stderr += text
            self._changed.set()
            self._changed = asyncio.Event()
        self._changed.set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output(self) -> str:
        """Everything printed so far, stdout then stderr."""
        return self.stdout + self.stderr

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    async def wait_for_output(self, predicate: Callable[[str], bool], timeout: float) -> None:
        """Wait until ``predicate(stderr or stdout so far)`` holds; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not (predicate(self.stderr) or predicate(self.stdout)):
            if all(p.done() for p in self._pumps):
                raise AssertionError(f"the command ended without that output:\n{self.output}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such output within {timeout} s:\n{self.output}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def finish(self, timeout: float = 120) -> int:
        """Wait (at most ``timeout`` s) for the exit and the end of its output; its status."""
        try:
            await asyncio.wait_for(asyncio.gather(self.proc.wait(), *self._pumps), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"still running after {timeout} s:\n{self.output}") from None
        self.ended = self.ended or time.monotonic()
        Command.live.discard(self)
        assert self.proc.returncode is not None
        return self.proc.returncode

    async def signal_and_finish(self, signum: int, timeout: float = 30) -> tuple[int, float]:
        """Send ``signum``, wait for the exit: (its status, seconds from the signal to it)."""
        signalled = time.monotonic()
        self.proc.send_signal(signum)
        code = await self.finish(timeout)
        assert self.ended is not None
        return code, self.ended - signalled

    async def kill(self) -> None:
        """SIGKILL, then collect it."""
        if self.running:
            self.proc.kill()
        await self.finish(30)

    @classmethod
    async def reap(cls) -> None:
        """Kill and collect every command a failed test left running."""
        for command in list(cls.live):
            await command.kill()


async def bwmsg_run(
    env: dict[str, str],
    *args: str | Path,
    timeout: float = 120,
    preexec_fn: Callable[[], None] | None = None,
) -> tuple[int, str]:
    """Run ``python -m bwmsg ARGS`` to its end: (exit status, stdout + stderr)."""
    command = await Command.start(env, *args, preexec_fn=preexec_fn)
    code = await command.finish(timeout)
    return code, command.output


@contextlib.asynccontextmanager
async def simulator_command(*args: str) -> AsyncIterator[asyncio.StreamReader]:
    """Run ``bwmsg simulator --port 0 ARGS`` (through ``bwmsg.cli.main``) for the block; its
    stdout to read. After the block: Ctrl-C, and the exit status must be 0."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from bwmsg.cli import main; main()",
        "simulator",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, stderr.decode()


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` (for states no event marks) every few ms; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


# -- a simulator that also records what reached it -----------------------------------------------


@attrs.frozen
class Arrival:
    """One request the server read (before any latency or answer)."""

    path: str
    to: tuple[str, ...]
    at: float


class RecordingSimulator(Simulator):
    """A :class:`Simulator` that records every request as it arrives, before its answer.

    ``received`` lists them (``accepted`` records a message only after the latency);
    ``arrived`` is set at each one.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.received: list[Arrival] = []
        self.arrived = asyncio.Event()

    async def __aenter__(self) -> RecordingSimulator:
        await self.start()
        return self

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.middlewares.append(self._record)
        return app

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method == "POST":
            raw = await request.read()  # kept by aiohttp: the handler reads it again
            to: Any = None
            with contextlib.suppress(ValueError, AttributeError):
                to = json.loads(raw).get("to")
            recipients = (to,) if isinstance(to, str) else tuple(to or ())
            self.received.append(Arrival(request.path, recipients, time.monotonic()))
            self.arrived.set()
        return await handler(request)

    def received_recipients(self) -> set[str]:
        """Every number some request reached the server for."""
        return {n for a in self.received for n in a.to}


# -- the journal -------------------------------------------------------------------------------


def journal_rows(journal: Path) -> dict[int, dict[str, Any]]:
    """The journal's rows by row number (opened without the lock, as `status` does)."""
    with Journal(journal) as db:
        return {r["row"]: dict(r) for r in db.rows()}


def states_of(rows: dict[int, dict[str, Any]]) -> Counter[str]:
    return Counter(r["state"] for r in rows.values())
