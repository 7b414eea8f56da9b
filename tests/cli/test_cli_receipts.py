"""`bwmsg campaign run --receipts`, `campaign receipts`, `campaign reconcile` as subprocesses."""

from __future__ import annotations

from pathlib import Path

from bwmsg.campaign import Journal
from bwmsg.simulator import Callbacks, Faults, Simulator
from tests.cli.test_cli_campaign import bwmsg, run_args
from tests.cli_helpers import Command, env_for, write_csv
from tests.servers import free_port


async def test_run_with_receipts_then_receipts_until_settled(tmp_path: Path) -> None:
    """Receipts recorded while sending and afterwards; status shows the simulator's counts."""
    port = free_port()
    listen = f"127.0.0.1:{port}"
    journal = tmp_path / "j.db"
    callbacks = Callbacks(
        url=f"http://{listen}/callbacks", failed=0.3, duplicate=0.2, max_attempts=12
    )
    async with Simulator(seed=5, callbacks=callbacks) as sim:
        code, out = await bwmsg(
            sim, *run_args(write_csv(tmp_path / "r.csv", 60), journal, "--receipts", listen)
        )
        assert code == 0, out
        code, out = await bwmsg(
            sim,
            "campaign",
            "receipts",
            journal,
            "--listen",
            listen,
            "--until-settled",
            "--duration",
            "60",
        )
        assert code == 0, out
        await sim.callbacks_done()
        decided = [next(iter(o.values())) for o in sim.decided_outcomes.values()]
        code, status = await bwmsg(sim, "campaign", "status", journal)
    delivered = sum(c is None for c in decided)
    failed = len(decided) - delivered
    assert f"receipts: delivered {delivered}, failed {failed}, awaiting receipt 0" in status
    with Journal(journal) as db:
        codes = db.receipt_failures()
    for code_, words, _ in codes:
        assert words in status
        assert str(code_) in words


async def test_reconcile_command(tmp_path: Path) -> None:
    """`campaign reconcile` settles the unknown rows left by dropped connections."""
    journal = tmp_path / "j.db"
    async with Simulator(seed=6, faults=Faults(drop_after_accept=0.2)) as sim:
        code, out = await bwmsg(sim, *run_args(write_csv(tmp_path / "r.csv", 40), journal))
        assert code == 0, out
        with Journal(journal) as db:
            unknown = db.counts()["unknown"]
        sim.faults = Faults()
        code, out = await bwmsg(sim, "campaign", "reconcile", journal, "--margin", "5")
    assert code == 0, out
    assert unknown > 0
    assert f"unknown rows checked: {unknown}; found (now sent): {unknown};" in out
    with Journal(journal) as db:
        assert db.counts()["unknown"] == 0


async def test_run_with_receipts_waits_until_every_receipt_came(tmp_path: Path) -> None:
    """--receipts keeps listening after the last send until every sent row has its receipt."""
    listen = f"127.0.0.1:{free_port()}"
    journal = tmp_path / "j.db"
    callbacks = Callbacks(url=f"http://{listen}/callbacks", failed=0.2)
    async with Simulator(seed=7, callbacks=callbacks, faults=Faults(latency=0.002)) as sim:
        args = run_args(write_csv(tmp_path / "r.csv", 40), journal, "--receipts", listen)
        code, out = await bwmsg(sim, *args)
        assert code == 0, out
        assert sim.abandoned_callbacks == []
    assert "0 still awaited" in out
    with Journal(journal) as db:
        assert db.receipt_counts()["awaiting"] == 0


async def test_receipts_survive_an_outage_of_the_receiver(tmp_path: Path) -> None:
    """The run stops listening at once (--receipts-wait 0); the simulator retries the refused
    callbacks, as Bandwidth does, until `campaign receipts` listens again: none is lost."""
    listen = f"127.0.0.1:{free_port()}"
    journal = tmp_path / "j.db"
    callbacks = Callbacks(url=f"http://{listen}/callbacks", max_retry_delay=0.2)
    async with Simulator(seed=8, callbacks=callbacks) as sim:
        args = run_args(write_csv(tmp_path / "r.csv", 30), journal, "--receipts", listen)
        code, out = await bwmsg(sim, *args, "--receipts-wait", "0")
        assert code == 0, out
        with Journal(journal) as db:
            left = db.receipt_counts()["awaiting"]
        code, out = await bwmsg(
            sim, "campaign", "receipts", journal, "--listen", listen, "--until-settled"
        )
        assert code == 0, out
        await sim.callbacks_done()
        assert sim.abandoned_callbacks == []
    assert left > 0  # the outage was real: receipts were still to come when the run ended
    with Journal(journal) as db:
        assert db.receipt_counts() == {"delivered": 30, "failed": 0, "awaiting": 0}


async def test_receipts_may_start_before_the_run(tmp_path: Path) -> None:
    """`campaign receipts --until-settled` started first creates nothing, then records every
    receipt of the run and ends once the run has ended and nothing is awaited."""
    listen = f"127.0.0.1:{free_port()}"
    journal = tmp_path / "j.db"
    callbacks = Callbacks(url=f"http://{listen}/callbacks", failed=0.25)
    async with Simulator(seed=9, callbacks=callbacks) as sim:
        env = env_for(sim)
        receipts = await Command.start(
            env, "campaign", "receipts", journal, "--listen", listen, "--until-settled"
        )
        await receipts.wait_for_output(lambda out: "waiting for campaign run" in out, 30)
        assert not journal.exists()
        code, out = await bwmsg(sim, *run_args(write_csv(tmp_path / "r.csv", 25), journal))
        assert code == 0, out
        assert await receipts.finish(60) == 0, receipts.output
        assert sim.abandoned_callbacks == []
    with Journal(journal) as db:
        counts = db.receipt_counts()
    assert counts["awaiting"] == 0
    assert counts["delivered"] + counts["failed"] == 25
    assert "events received" in receipts.output
