"""Campaign safety end to end: the real `bwmsg campaign run` in subprocesses on 127.0.0.1.

One process per journal, clean stops on SIGINT/SIGTERM (with ``--grace`` and a second
signal), few ``unknown`` rows per SIGKILL, preflight checks that send nothing and bind
nothing, stopping at a 404 and after too many failures in a row, ``--retry-failed``,
``--text-file`` and duplicate recipients (DESIGN.md, "Campaign safety").
"""

from __future__ import annotations

import asyncio
import csv
import json
import random
import re
import resource
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest

from bwmsg.campaign import Journal
from bwmsg.simulator import Faults, Simulator
from tests.cli_helpers import (
    Command,
    RecordingSimulator,
    bwmsg_run,
    campaign_run_args,
    env_for,
    journal_rows,
    states_of,
    until,
    write_csv,
)
from tests.servers import Reply, free_port, scripted_server

TEXT = "Hi {name}, doors open at 7"
FROM = "+19195550000"
SIGNALS = pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)


pytestmark = pytest.mark.usefixtures("reap_commands")


def number(i: int) -> str:
    """The recipient of ``write_csv``'s row ``i`` (journal row ``i + 1``)."""
    return f"+1919{i:07d}"


def run_args(
    recipients: Path,
    journal: Path,
    *extra: str,
    text: str = TEXT,
    from_: str | None = FROM,
) -> list[str | Path]:
    """`campaign run` with the usual options; ``from_=None`` leaves --from out."""
    return campaign_run_args(recipients, journal, *extra, text=text, from_=from_)


def check_final(sim: Simulator, journal: Path, n: int) -> dict[int, dict[str, Any]]:
    """Every row final; nobody texted twice; SENT rows accepted as such; FAILED never."""
    rows = journal_rows(journal)
    assert sorted(rows) == list(range(1, n + 1))
    assert set(states_of(rows)) <= {"sent", "failed", "unknown"}, states_of(rows)
    assert sim.duplicates() == {}, "somebody was texted twice"
    accepted: dict[str, list[str]] = {}
    for message in sim.accepted:
        accepted.setdefault(message.to[0], []).append(message.id)
    for r in rows.values():
        if r["state"] == "sent":
            assert accepted.get(r["recipients"]) == [r["message_id"]], r
        elif r["state"] == "failed":
            assert r["recipients"] not in accepted, r
    with Journal(journal) as db:
        assert db.integrity() == "ok"
    return rows


def check_clean_stop(code: int, command: Command, journal: Path) -> None:
    """Exit 130, the summary and the resume command, no traceback."""
    out = command.output
    assert code == 130, out
    assert "Traceback" not in out, out
    assert re.search(r"To resume:\s*bwmsg campaign run", out), out
    assert "sent" in command.stdout, out
    assert str(journal) in out, out


def never_bound(journal: Path) -> bool:
    """The journal was not created, or holds no campaign."""
    if not journal.exists():
        return True
    with Journal(journal) as db:
        return db.meta() == {}


# -- A. one process per journal ----------------------------------------------------------------


@pytest.mark.parametrize("delay", [0, 0.05, 0.5, 2])
async def test_second_run_on_a_journal_in_use_exits_75(tmp_path: Path, delay: float) -> None:
    """Two identical runs: one sends every row, the other exits 75 naming the holder."""
    recipients = write_csv(tmp_path / "r.csv", 500)
    journal = tmp_path / "j.db"
    async with Simulator() as sim:
        args = run_args(recipients, journal, "--rate", "100", "--quiet")
        first = await Command.start(env_for(sim), *args)
        await asyncio.sleep(delay)  # the start offset is what this test varies
        assert first.running, first.output
        second = await Command.start(env_for(sim), *args)
        codes = await asyncio.gather(first.finish(), second.finish())
        rows = check_final(sim, journal, 500)
    assert sorted(codes) == [0, 75], (first.output, second.output)
    winner, loser = (first, second) if codes[0] == 0 else (second, first)
    if delay >= 0.5:
        assert winner is first, (first.output, second.output)
    err = loser.stderr
    assert "in use" in err, err
    assert re.search(rf"\b{winner.pid}\b", err), err
    assert socket.gethostname() in err, err
    assert "since" in err, err
    assert "Traceback" not in loser.output + winner.output
    assert len(sim.accepted) == 500
    assert all(r["state"] == "sent" for r in rows.values())


async def test_journal_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    """The holder SIGKILLed mid-run: the next run takes the journal over by itself."""
    recipients = write_csv(tmp_path / "r.csv", 400)
    journal = tmp_path / "j.db"
    async with Simulator() as sim:
        args = run_args(recipients, journal, "--rate", "200", "--quiet")
        first = await Command.start(env_for(sim), *args)
        await until(lambda: len(sim.accepted) >= 50 or not first.running, 30, "50 accepted")
        assert first.running, first.output
        await first.kill()
        code, output = await bwmsg_run(env_for(sim), *args)
        check_final(sim, journal, 400)
    assert code == 0, output
    assert "in use" not in output


async def test_status_and_export_work_beside_a_run(tmp_path: Path) -> None:
    """`campaign status` and `campaign export` exit 0 while a run holds the journal."""
    recipients = write_csv(tmp_path / "r.csv", 500)
    journal = tmp_path / "j.db"
    exported = tmp_path / "out.csv"
    async with Simulator() as sim:
        env = env_for(sim)
        run = await Command.start(env, *run_args(recipients, journal, "--rate", "100", "--quiet"))
        await until(lambda: len(sim.accepted) >= 20 or not run.running, 30, "20 accepted")
        status_code, status = await bwmsg_run(env, "campaign", "status", journal, timeout=30)
        export_code, export = await bwmsg_run(
            env, "campaign", "export", journal, "-o", exported, timeout=30
        )
        still_running = run.running
        code = await run.finish()
        check_final(sim, journal, 500)
    assert status_code == 0, status
    assert "sent" in status
    assert export_code == 0, export
    assert still_running, "the run ended before status and export: the test proved nothing"
    with exported.open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 500
    assert code == 0, run.output


# -- B. clean stops ----------------------------------------------------------------------------


async def settle_latency(sim: RecordingSimulator, timeout: float = 15) -> set[str]:
    """Wait until every request that reached ``sim`` was recorded as accepted after its
    latency (the client may be gone); the accepted recipients."""
    await until(lambda: len(sim.accepted) >= len(sim.received), timeout, "the latency to run out")
    return {n for m in sim.accepted for n in m.to}


def check_stopped_rows(
    sim: RecordingSimulator, journal: Path, n: int, accepted: set[str]
) -> dict[str, set[str]]:
    """After a stop: pending, unknown or sent only; unknown rows reached the simulator;
    no row that reached it went back to pending. Recipients by state."""
    rows = journal_rows(journal)
    assert len(rows) == n
    by_state: dict[str, set[str]] = {}
    for r in rows.values():
        by_state.setdefault(r["state"], set()).add(r["recipients"])
    assert set(by_state) <= {"pending", "unknown", "sent"}, states_of(rows)
    received = sim.received_recipients()
    assert by_state.get("unknown", set()) <= accepted, "an unknown row never reached the API"
    assert by_state.get("unknown", set()) <= received
    assert not by_state.get("pending", set()) & received, "a row that was sent is pending"
    for r in rows.values():
        if r["state"] == "pending":
            assert r["attempts"] == 0, r
    return by_state


@asynccontextmanager
async def run_to_stop(
    tmp_path: Path, n: int, *extra: str, faults: Faults | None = None, retry_delay: str = "0.01"
) -> AsyncIterator[tuple[RecordingSimulator, Command, Path]]:
    """For the block: (the simulator, `campaign run` of ``n`` rows started against it with
    ``extra`` and ``retry_delay``, its journal)."""
    recipients = write_csv(tmp_path / "r.csv", n)
    journal = tmp_path / "j.db"
    args = run_args(recipients, journal, *extra)
    args[args.index("--retry-delay") + 1] = retry_delay
    async with RecordingSimulator(faults=faults or Faults()) as sim:
        yield sim, await Command.start(env_for(sim), *args), journal


@SIGNALS
async def test_stop_gives_requests_in_flight_the_grace(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """After the grace, unanswered requests are unknown, unsent rows pending; exit 130."""
    extra = ("--concurrency", "10", "--grace", "1")
    async with run_to_stop(tmp_path, 100, *extra, faults=Faults(latency=8)) as run:
        sim, command, journal = run
        await asyncio.wait_for(sim.arrived.wait(), 30)
        code, took = await command.signal_and_finish(signum)
        accepted = await settle_latency(sim)
        by_state = check_stopped_rows(sim, journal, 100, accepted)
    check_clean_stop(code, command, journal)
    assert took < 5, f"exit {took:.1f} s after the signal with --grace 1"
    assert by_state.get("unknown"), "a request was in flight: it should be unknown"
    assert len(by_state.get("pending", ())) >= 100 - 2 * 10 - 10


@SIGNALS
async def test_stop_returns_rows_waiting_for_the_throttle(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """Rows waiting for --rate go back to pending with no attempt; none unknown."""
    async with run_to_stop(tmp_path, 50, "--rate", "2", "--concurrency", "50") as run:
        sim, command, journal = run
        await until(lambda: len(sim.accepted) >= 3 or not command.running, 30, "3 accepted")
        code, took = await command.signal_and_finish(signum)
        accepted = {m.to[0] for m in sim.accepted}
        by_state = check_stopped_rows(sim, journal, 50, accepted)
    check_clean_stop(code, command, journal)
    assert took < 3, f"exit {took:.1f} s after the signal"
    assert not by_state.get("unknown")
    assert by_state.get("sent", set()) == accepted
    assert len(by_state.get("pending", ())) >= 40


@SIGNALS
async def test_stop_during_retry_delays_leaves_no_unknown(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """Rows waiting for a retry after a 5xx end failed (retryable) or pending, at once."""
    faults = Faults(server_error=1.0)
    extra = ("--concurrency", "5")
    async with run_to_stop(tmp_path, 20, *extra, faults=faults, retry_delay="5") as run:
        sim, command, journal = run
        await until(lambda: len(sim.received) >= 5 or not command.running, 30, "5 requests")
        code, took = await command.signal_and_finish(signum)
        rows = journal_rows(journal)
    check_clean_stop(code, command, journal)
    assert took < 3, f"exit {took:.1f} s after the signal, with retry delays of 5 s"
    assert set(states_of(rows)) <= {"failed", "pending"}, states_of(rows)
    failed = [r for r in rows.values() if r["state"] == "failed"]
    assert failed, "rows answered 5xx should be failed"
    assert all(r["retryable"] == 1 for r in failed), failed
    assert sim.accepted == []


@SIGNALS
async def test_second_signal_ends_the_grace(tmp_path: Path, signum: signal.Signals) -> None:
    """A second signal during a 30 s grace: exit 130 at once, unknown only if received."""
    extra = ("--concurrency", "10", "--grace", "30")
    async with run_to_stop(tmp_path, 100, *extra, faults=Faults(latency=8)) as run:
        sim, command, journal = run
        await asyncio.wait_for(sim.arrived.wait(), 30)
        before = len(command.stderr)
        command.proc.send_signal(signum)
        # The command says it is stopping: the first signal was handled (two signals sent
        # at once may be delivered as one).
        await command.wait_for_output(lambda _: len(command.stderr) > before, 10)
        assert command.running, command.output
        code, took = await command.signal_and_finish(signum)
        accepted = await settle_latency(sim)
        by_state = check_stopped_rows(sim, journal, 100, accepted)
    check_clean_stop(code, command, journal)
    assert took < 3, f"exit {took:.1f} s after the second signal"
    assert by_state.get("unknown"), "a request was in flight: it should be unknown"


# -- C. a SIGKILL leaves few rows sending --------------------------------------------------------


@pytest.mark.parametrize("concurrency", [16, 64])
async def test_sigkill_leaves_at_most_2c_plus_10_sending(tmp_path: Path, concurrency: int) -> None:
    """Each SIGKILL leaves at most 2 × concurrency + 10 rows sending; then all final."""
    n = 3000
    bound = 2 * concurrency + 10
    recipients = write_csv(tmp_path / "r.csv", n)
    journal = tmp_path / "j.db"
    rng = random.Random(concurrency)
    args = run_args(recipients, journal, "--concurrency", str(concurrency), "--quiet")
    left: list[int] = []
    async with Simulator(faults=Faults(latency=0.002), seed=concurrency) as sim:
        for kill in range(3):
            command = await Command.start(env_for(sim), *args)
            target = len(sim.accepted) + rng.randint(20, (n - len(sim.accepted)) // (4 - kill))
            await until(
                lambda: len(sim.accepted) >= target or not command.running,  # noqa: B023
                60,
                f"{target} accepted",
            )
            assert command.running, f"the run ended before kill {kill + 1}: {command.output}"
            await command.kill()
            with Journal(journal) as db:
                assert db.integrity() == "ok"
                sending = db.counts().get("sending", 0)
            left.append(sending)
            assert sending <= bound, f"kill {kill + 1} at {target}: {sending} rows sending"
        code, output = await bwmsg_run(env_for(sim), *args)
        rows = check_final(sim, journal, n)
    assert code == 0, output
    unknown = states_of(rows)["unknown"]
    assert unknown <= sum(left), (unknown, left)


# -- D. preflight ------------------------------------------------------------------------------


@attrs.frozen
class Invocation:
    """One `campaign run` command: its arguments, environment and open-file limit."""

    args: list[str | Path]
    env: dict[str, str]
    files: tuple[int, int] | None = None

    def preexec(self) -> Callable[[], None] | None:
        files = self.files
        if files is None:
            return None
        return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, files)


def mistake(name: str, sim: Simulator, recipients: Path, journal: Path) -> tuple[Invocation, ...]:
    """(the mistaken command, the fixed one) for each preflight case."""
    env = env_for(sim)
    root = sim.base_url.removesuffix("/api/v2")
    good = Invocation(run_args(recipients, journal), env)
    if name == "template":
        return Invocation(run_args(recipients, journal, text="Hi {nmae}"), env), good
    if name == "from":
        return Invocation(run_args(recipients, journal, from_=None), env), good
    if name == "base-url-option":
        return (
            Invocation(run_args(recipients, journal, "--base-url", root), env),
            Invocation(run_args(recipients, journal, "--base-url", sim.base_url), env),
        )
    if name == "base-url-env":
        return Invocation(good.args, {**env, "BW_MESSAGING_BASE_URL": root}), good
    if name == "application-id":
        bare = {k: v for k, v in env.items() if k != "BW_MESSAGING_APPLICATION_ID"}
        return Invocation(good.args, bare), good
    if name == "rate":
        return (
            Invocation(run_args(recipients, journal, "--rate", "0"), env),
            Invocation(run_args(recipients, journal, "--rate", "1000"), env),
        )
    assert name == "open-files"
    return (
        Invocation(run_args(recipients, journal, "--concurrency", "1000"), env, (256, 256)),
        Invocation(run_args(recipients, journal, "--concurrency", "100"), env, (256, 256)),
    )


def says(name: str, output: str) -> bool:
    """Whether the refusal names the flag or field at fault, and the fix."""
    if name == "template":
        return "nmae" in output and re.search(r"\bname\b", output) is not None
    if name == "from":
        return "--from" in output
    if name.startswith("base-url"):
        return "/api/v2" in output
    if name == "application-id":
        return "--application-id" in output
    if name == "rate":
        return "--rate" in output and ("> 0" in output or "more than 0" in output)
    return "--concurrency" in output and "256" in output


@pytest.mark.parametrize(
    "name",
    ["template", "from", "base-url-option", "base-url-env", "application-id", "rate", "open-files"],
)
async def test_preflight_refuses_before_sending_or_binding(tmp_path: Path, name: str) -> None:
    """A mistake exits 2 naming the fix, sends nothing, binds nothing; fixed, it runs."""
    recipients = write_csv(tmp_path / "r.csv", 50)
    journal = tmp_path / "j.db"
    async with RecordingSimulator() as sim:
        bad, good = mistake(name, sim, recipients, journal)
        code, output = await bwmsg_run(bad.env, *bad.args, timeout=60, preexec_fn=bad.preexec())
        requests_of_bad = len(sim.received)
        unbound = never_bound(journal)
        fixed_code, fixed = await bwmsg_run(
            good.env, *good.args, timeout=60, preexec_fn=good.preexec()
        )
        rows = check_final(sim, journal, 50)
    assert code == 2, output
    assert says(name, output), output
    assert "Traceback" not in output
    assert requests_of_bad == 0, "the refused command made requests"
    assert unbound, "the refused command bound the journal"
    assert fixed_code == 0, fixed
    assert all(r["state"] == "sent" for r in rows.values())


HAS_PROC = Path("/proc/self/fd").is_dir()


def open_files(fds: Path) -> int:
    """How many descriptors a process has open (0 once it is gone)."""
    try:
        return len(list(fds.iterdir()))
    except OSError:
        return 0


async def test_soft_file_limit_is_raised(tmp_path: Path) -> None:
    """A soft open-file limit below --concurrency, a hard one above: the run raises it."""
    recipients = write_csv(tmp_path / "r.csv", 1000)
    journal = tmp_path / "j.db"
    async with Simulator(faults=Faults(latency=0.2)) as sim:
        command = await Command.start(
            env_for(sim),
            *run_args(recipients, journal, "--concurrency", "200", "--quiet"),
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 4096)),
        )
        fds = Path(f"/proc/{command.pid}/fd")
        if HAS_PROC:  # Linux: see that the run holds more files than the soft limit
            await until(lambda: open_files(fds) > 64 or not command.running, 30, "> 64 files")
        most = open_files(fds)
        code = await command.finish()
        rows = check_final(sim, journal, 1000)
    assert code == 0, command.output
    assert most > 64 or not HAS_PROC, "the run never needed more than the soft limit"
    assert all(r["state"] == "sent" for r in rows.values())


async def test_404_stops_the_run_at_the_first_answer(tmp_path: Path) -> None:
    """A wrong account path (404): exit 1 at once, rows left pending; fixed, it completes."""
    recipients = write_csv(tmp_path / "r.csv", 200)
    journal = tmp_path / "j.db"
    async with RecordingSimulator() as sim:
        wrong = sim.base_url.removesuffix("/api/v2") + "/wrong/api/v2"
        args = run_args(recipients, journal, "--concurrency", "5", "--base-url", wrong)
        code, output = await bwmsg_run(env_for(sim), *args, timeout=60)
        requests = len(sim.received)
        rows = journal_rows(journal)
        args[args.index("--base-url") + 1] = sim.base_url
        fixed_code, fixed = await bwmsg_run(env_for(sim), *args)
        final = check_final(sim, journal, 200)
    assert code == 1, output
    assert "404" in output
    assert "Traceback" not in output
    assert 1 <= requests <= 5, f"{requests} requests after a 404"
    assert states_of(rows)["pending"] >= 200 - 2 * 5 - 10, states_of(rows)
    assert fixed_code == 0, fixed
    assert all(r["state"] == "sent" for r in final.values())


# -- E. the circuit breaker --------------------------------------------------------------------


async def test_breaker_stops_a_run_against_a_closed_port(tmp_path: Path) -> None:
    """Connections refused: the run stops after N failures in a row, untried rows pending."""
    recipients = write_csv(tmp_path / "r.csv", 500)
    journal = tmp_path / "j.db"
    async with Simulator() as sim:
        env = {**env_for(sim), "BW_MESSAGING_BASE_URL": f"http://127.0.0.1:{free_port()}/api/v2"}
        started = time.monotonic()
        code, output = await bwmsg_run(
            env, *run_args(recipients, journal, "--concurrency", "10"), timeout=60
        )
        took = time.monotonic() - started
    rows = journal_rows(journal)
    states = states_of(rows)
    assert code == 1, output
    assert took < 30, f"{took:.1f} s"
    assert "consecutive" in output, output
    assert "Traceback" not in output
    assert states["unknown"] == 0, states  # a refused connection carried nothing
    assert states["sent"] == 0
    assert states["pending"] >= 500 - 50 - 2 * 10 - 10, states


@asynccontextmanager
async def silent_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A server on 127.0.0.1 that reads every request and never answers: (port, data read
    on each connection)."""
    received: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        index = len(received)
        received.append(b"")
        while chunk := await reader.read(65536):
            received[index] += chunk
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port, received
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def test_breaker_stops_a_run_against_a_server_that_never_answers(tmp_path: Path) -> None:
    """--timeout 2, 5 in flight, 5 failures in a row: exit 1 soon, few unknown, rest pending."""
    recipients = write_csv(tmp_path / "r.csv", 200)
    journal = tmp_path / "j.db"
    async with Simulator() as sim, silent_server() as (port, received):
        env = {**env_for(sim), "BW_MESSAGING_BASE_URL": f"http://127.0.0.1:{port}/api/v2"}
        args = run_args(
            recipients,
            journal,
            *("--timeout", "2", "--concurrency", "5", "--max-consecutive-failures", "5"),
        )
        started = time.monotonic()
        code, output = await bwmsg_run(env, *args, timeout=60)
        took = time.monotonic() - started
        reached = {n for data in received for n in re.findall(rb"\+1919\d{7}", data)}
    rows = journal_rows(journal)
    states = states_of(rows)
    unknown = {r["recipients"].encode() for r in rows.values() if r["state"] == "unknown"}
    assert code == 1, output
    assert took < 15, f"{took:.1f} s"
    assert "consecutive" in output, output
    assert "Traceback" not in output
    assert 1 <= states["unknown"] <= 5, states
    assert unknown <= reached, "an unknown row's request never reached the server"
    assert states["unknown"] + states["pending"] == 200, states


# -- F. --retry-failed -------------------------------------------------------------------------


async def test_retry_failed_sends_rows_that_failed_with_a_4xx(tmp_path: Path) -> None:
    """Rows answered 400 stay failed on a rerun; --retry-failed sends them."""
    recipients = write_csv(tmp_path / "r.csv", 20)
    journal = tmp_path / "j.db"
    refusal = {"type": "request-validation", "description": "Your request could not be accepted."}
    async with scripted_server() as server:
        server.default = lambda body, n: Reply(400, refusal)
        async with Simulator() as sim:
            env = {**env_for(sim), "BW_MESSAGING_BASE_URL": server.base_url}
            _, first = await bwmsg_run(env, *run_args(recipients, journal))
    failed = journal_rows(journal)
    async with Simulator() as sim:
        rerun_code, rerun = await bwmsg_run(env_for(sim), *run_args(recipients, journal))
        after_rerun = len(sim.accepted)
        retry_code, retry = await bwmsg_run(
            env_for(sim), *run_args(recipients, journal, "--retry-failed")
        )
        rows = check_final(sim, journal, 20)
    assert len(server.requests) == 20, first
    assert {r["state"] for r in failed.values()} == {"failed"}, first
    assert {r["status"] for r in failed.values()} == {400}
    assert rerun_code == 0, rerun
    assert after_rerun == 0, "a plain rerun sent rows that failed with a 4xx"
    assert retry_code == 0, retry
    assert all(r["state"] == "sent" for r in rows.values())


# -- G. operator output ------------------------------------------------------------------------


async def test_text_file_bom_and_final_newline_are_dropped(tmp_path: Path) -> None:
    """--text-file with a UTF-8 BOM and a trailing newline: the message has neither."""
    recipients = write_csv(tmp_path / "r.csv", 5)
    text_file = tmp_path / "message.txt"
    text_file.write_bytes(b"\xef\xbb\xbf" + TEXT.encode() + b"\n")
    args = run_args(recipients, tmp_path / "j.db")
    i = args.index("--text")
    args[i : i + 2] = ["--text-file", text_file]
    async with Simulator() as sim:
        code, output = await bwmsg_run(env_for(sim), *args)
        texts = {m.to[0]: m.text for m in sim.accepted}
    assert code == 0, output
    assert texts == {number(i): f"Hi Person {i}, doors open at 7" for i in range(5)}


def with_duplicate(path: Path) -> Path:
    """``write_csv`` rows 0..9, then row 0's number again."""
    write_csv(path, 10)
    with path.open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow([number(0), "Again"])
    return path


@pytest.mark.parametrize("dedupe", [False, True], ids=["reported", "dedupe"])
async def test_duplicate_recipients(tmp_path: Path, dedupe: bool) -> None:
    """The output reports a repeated recipient; with --dedupe it gets one message."""
    recipients = with_duplicate(tmp_path / "r.csv")
    extra = ["--dedupe"] if dedupe else []
    async with Simulator() as sim:
        code, output = await bwmsg_run(
            env_for(sim), *run_args(recipients, tmp_path / "j.db", *extra)
        )
        to_first = [m for m in sim.accepted if m.to == (number(0),)]
    assert code == 0, output
    assert re.search("dup", output, re.IGNORECASE), output
    assert len(to_first) == (1 if dedupe else 2), [json.dumps(m.request) for m in to_first]
