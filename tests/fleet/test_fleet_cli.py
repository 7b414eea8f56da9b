"""The `bwmsg campaign` commands on a PostgreSQL journal URL, as subprocesses over the simulator:
`run` and `worker`s sharing one campaign, `status`, `export`, `receipts`, `reconcile`, a rate
shared through a real redis-server, and the errors an operator meets (a real PostgreSQL started
by the test: tests/postgres_server.py)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bwmsg.simulator import Callbacks, Faults, Simulator
from tests.cli_helpers import Command, bwmsg_run, campaign_run_args, env_for, write_csv, write_rows
from tests.postgres_server import PASSWORD, PostgresServer, pg_server, pg_url  # noqa: F401
from tests.redis_server import redis_server
from tests.servers import free_port

TEXT = "Hi {name}"
FROM = "+19195550000"
CAMPAIGN = re.compile(r"campaign ([0-9a-f]{12}) in ")


pytestmark = pytest.mark.usefixtures("reap_commands")


def wide(sim: Simulator) -> dict[str, str]:
    """The command's environment, with a terminal wide enough that no line wraps."""
    return {**env_for(sim), "COLUMNS": "200"}


def run_args(recipients: Path, url: str, *extra: str) -> list[str | Path]:
    return campaign_run_args(recipients, url, "--quiet", *extra, text=TEXT, from_=FROM)


def campaign_of(output: str) -> str:
    found = CAMPAIGN.search(output)
    assert found, output
    return found.group(1)


def tags(sim: Simulator) -> Counter[str]:
    """How many times each tag (one a row: ``bwmsg:<campaign>:<row>``) was accepted."""
    return Counter(m.tag or "" for m in sim.accepted)


async def status(env: dict[str, str], url: str, *extra: str) -> dict[str, Any]:
    code, out = await bwmsg_run(env, "campaign", "status", url, "--json", *extra)
    assert code == 0, out
    found: dict[str, Any] = json.loads(out)
    return found


def clean(output: str) -> None:
    """What an operator may read: no password, no traceback."""
    assert PASSWORD not in output
    assert "Traceback" not in output


def per_worker(server: PostgresServer, url: str, campaign: str) -> dict[str, int]:
    """Rows each worker sent (the journal's ``worker`` column), read with psql."""
    out = server.psql(
        f"SELECT worker, COUNT(*) FROM bwmsg_rows WHERE campaign = '{campaign}' "
        "AND state = 'sent' GROUP BY worker",
        url.rsplit("/", 1)[1],
    )
    return {w: int(n) for w, n in (line.split("|") for line in out.split())}


async def test_run_on_a_url_prints_the_campaign_and_sends_every_row_once(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    """`campaign run FILE --journal URL` prints the campaign id and sends every row once."""
    async with Simulator(seed=1) as sim:
        env = wide(sim)
        code, out = await bwmsg_run(env, *run_args(write_csv(tmp_path / "r.csv", 150), pg_url))
        found = await status(env, pg_url)
    assert code == 0, out
    clean(out)
    campaign = campaign_of(out)
    assert f"--campaign {campaign}" in out  # how a worker joins
    assert tags(sim) == Counter({f"bwmsg:{campaign}:{row}": 1 for row in range(1, 151)})
    assert found["campaign"] == campaign
    assert found["rows"]["sent"] == 150
    assert sum(found["rows"].values()) == 150


async def test_two_workers_join_a_run_and_share_its_rows(
    tmp_path: Path,
    pg_server: PostgresServer,  # noqa: F811
    pg_url: str,  # noqa: F811
) -> None:
    """`run` plus two `worker --journal URL --campaign ID`: each sends some of the rows, none
    is sent twice, every row ends final and all three exit 0."""
    rows = 1500
    async with Simulator(seed=2, faults=Faults(latency=0.01)) as sim:
        env = wide(sim)
        run = await Command.start(
            env, *run_args(write_csv(tmp_path / "r.csv", rows), pg_url, "--concurrency", "4")
        )
        await run.wait_for_output(lambda out: CAMPAIGN.search(out) is not None, 60)
        campaign = campaign_of(run.output)
        worker = ["campaign", "worker", "--journal", pg_url, "--campaign", campaign]
        workers = [
            await Command.start(env, *worker, "--concurrency", "4", "--quiet") for _ in range(2)
        ]
        codes = [await c.finish(120) for c in (run, *workers)]
        found = await status(env, pg_url, "--campaign", campaign)
    for command, code in zip((run, *workers), codes, strict=True):
        assert code == 0, command.output
        clean(command.output)
    assert tags(sim) == Counter({f"bwmsg:{campaign}:{row}": 1 for row in range(1, rows + 1)})
    assert found["rows"]["sent"] == rows
    assert found["rows"]["pending"] == found["rows"]["sending"] == 0
    assert len(found["runs"]) == 3
    assert all(r["result"] == "finished" for r in found["runs"])
    shares = per_worker(pg_server, pg_url, campaign)
    assert len(shares) == 3, shares  # the run and both workers each sent some
    assert sum(shares.values()) == rows


async def test_dedupe_on_the_url_skips_the_repeated_recipients(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    """`run --dedupe` on a URL sends each number once; the repeats end failed, naming the row
    they repeat (the PostgreSQL journal's duplicate search, a window over the rows)."""
    numbers = ["+19195550101", "+19195550102", "+19195550101", "+19195550103", "+19195550102"]
    recipients = write_rows(tmp_path / "r.csv", [[n, f"P{i}"] for i, n in enumerate(numbers)])
    async with Simulator(seed=9) as sim:
        env = wide(sim)
        code, out = await bwmsg_run(env, *run_args(recipients, pg_url, "--dedupe"))
        exported = await bwmsg_run(env, "campaign", "export", pg_url, "--format", "jsonl")
    assert code == 0, out
    assert sorted(m.to[0] for m in sim.accepted) == sorted(set(numbers))
    rows = {r["row"]: r for r in map(json.loads, exported[1].splitlines())}
    assert rows[3]["error"] == "a duplicate of row 1: skipped (--dedupe)"
    assert rows[5]["error"] == "a duplicate of row 2: skipped (--dedupe)"
    assert [rows[i]["state"] for i in range(1, 6)] == ["sent", "sent", "failed", "sent", "failed"]


async def test_status_and_export_read_the_url(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    """`status URL` shows the campaign id and counts; `export URL` gives every row; neither
    shows the password."""
    async with Simulator(seed=3) as sim:
        env = wide(sim)
        code, out = await bwmsg_run(env, *run_args(write_csv(tmp_path / "r.csv", 20), pg_url))
        assert code == 0, out
        campaign = campaign_of(out)
        code, shown = await bwmsg_run(env, "campaign", "status", pg_url)
        assert code == 0, shown
        code, exported = await bwmsg_run(env, "campaign", "export", pg_url)
        assert code == 0, exported
        out_file = tmp_path / "rows.jsonl"
        code, quiet = await bwmsg_run(
            env, "campaign", "export", pg_url, "--format", "jsonl", "-o", out_file
        )
        assert code == 0, quiet
    for text in (shown, exported):
        clean(text)
    assert f"campaign id: {campaign}" in shown
    assert "postgresql://bwmsg:...@127.0.0.1:" in shown.replace("\n", "")  # a wrapped title
    records = list(csv.DictReader(io.StringIO(exported)))
    assert [int(r["row"]) for r in records] == list(range(1, 21))
    assert {r["state"] for r in records} == {"sent"}
    assert records[0]["to"] == "+19190000000"
    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [r["message_id"] for r in lines] == [r["message_id"] for r in records]


async def test_receipts_on_the_url(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    """`campaign receipts URL --until-settled` records every receipt of a run on the URL."""
    listen = f"127.0.0.1:{free_port()}"
    callbacks = Callbacks(url=f"http://{listen}/callbacks", failed=0.25, max_attempts=20)
    async with Simulator(seed=4, callbacks=callbacks) as sim:
        env = wide(sim)
        code, out = await bwmsg_run(env, *run_args(write_csv(tmp_path / "r.csv", 30), pg_url))
        assert code == 0, out
        code, listened = await bwmsg_run(
            env,
            "campaign",
            "receipts",
            pg_url,
            "--listen",
            listen,
            "--until-settled",
            "--duration",
            "60",
        )
        await sim.callbacks_done()
        found = await status(env, pg_url)
    assert code == 0, listened
    clean(listened)
    receipts = found["receipts"]
    assert receipts["awaiting"] == 0
    assert receipts["delivered"] + receipts["failed"] == 30
    assert receipts["failed"] > 0


async def test_reconcile_on_the_url(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    """`campaign reconcile URL` finds at Bandwidth the rows dropped connections left unknown."""
    async with Simulator(seed=5, faults=Faults(drop_after_accept=0.2)) as sim:
        env = wide(sim)
        code, out = await bwmsg_run(env, *run_args(write_csv(tmp_path / "r.csv", 40), pg_url))
        assert code == 0, out
        unknown = (await status(env, pg_url))["rows"]["unknown"]
        sim.faults = Faults()
        code, out = await bwmsg_run(env, "campaign", "reconcile", pg_url, "--margin", "5")
        found = await status(env, pg_url)
    assert code == 0, out
    clean(out)
    assert unknown > 0
    assert f"unknown rows checked: {unknown}; found (now sent): {unknown};" in out
    assert found["rows"]["unknown"] == 0
    assert found["rows"]["sent"] == 40


async def test_run_and_worker_share_a_rate_through_redis(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    """`--redis URL --rate N` on `run` and on a `worker`: one budget, every row sent once."""
    rows = 450
    with redis_server() as redis:
        async with Simulator(seed=6) as sim:
            env = wide(sim)
            shared = ["--rate", "150", "--redis", redis.url]
            run = await Command.start(
                env, *run_args(write_csv(tmp_path / "r.csv", rows), pg_url, *shared)
            )
            await run.wait_for_output(lambda out: CAMPAIGN.search(out) is not None, 60)
            worker = await Command.start(
                env, "campaign", "worker", "--journal", pg_url, "--quiet", *shared
            )
            codes = [await run.finish(120), await worker.finish(120)]
    assert codes == [0, 0], run.output + worker.output
    campaign = campaign_of(run.output)
    assert tags(sim) == Counter({f"bwmsg:{campaign}:{row}": 1 for row in range(1, rows + 1)})
    times = sorted(m.received for m in sim.accepted)
    span = times[-1] - times[0]
    # 450 one-segment rows at 150 segments/s for both together, a second's burst first: at
    # least 2 s; two budgets of their own (the worker joining a moment later) take under 1 s.
    assert span > 1.8, span


async def test_worker_with_redis_alone(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    """A `worker --redis URL --rate N` on a campaign nobody else sends finishes it."""
    with redis_server() as redis:
        async with Simulator(seed=7) as sim:
            env = wide(sim)
            recipients = write_csv(tmp_path / "r.csv", 30)
            # A run stopped by a failure streak leaves its rows pending for the worker.
            sim.faults = Faults(server_error=1.0)
            code, out = await bwmsg_run(
                env,
                *run_args(recipients, pg_url, "--max-consecutive-failures", "1"),
                "--max-attempts",
                "1",
            )
            assert code == 1, out
            sim.faults = Faults()
            code, worked = await bwmsg_run(
                env,
                "campaign",
                "worker",
                "--journal",
                pg_url,
                "--rate",
                "500",
                "--redis",
                redis.url,
                "--quiet",
            )
            found = await status(env, pg_url)
    assert code == 0, worked
    clean(worked)
    assert found["rows"]["sent"] == 30
    campaign = campaign_of(out)
    assert tags(sim) == Counter({f"bwmsg:{campaign}:{row}": 1 for row in range(1, 31)})


async def test_redis_without_rate_is_a_usage_error(tmp_path: Path) -> None:
    """`--redis` without `--rate` exits 2 saying to give --rate, before any journal is used."""
    async with Simulator() as sim:
        env = wide(sim)
        url = f"postgresql://bwmsg:{PASSWORD}@127.0.0.1:1/none"
        recipients = write_csv(tmp_path / "r.csv", 3)
        for args in (
            run_args(recipients, url, "--redis", "redis://127.0.0.1:1/0"),
            ["campaign", "worker", "--journal", url, "--redis", "redis://127.0.0.1:1/0"],
        ):
            code, out = await bwmsg_run(env, *args)
            assert code == 2, out
            assert "give --rate N too" in out
            clean(out)
        assert sim.accepted == []


async def test_errors_name_the_fix_and_never_the_password(
    tmp_path: Path,
    pg_server: PostgresServer,  # noqa: F811
    pg_url: str,  # noqa: F811
) -> None:
    """A URL that cannot be read, a database that cannot be reached, an unknown --campaign and
    `worker` on a SQLite path: non-zero, the fix named, no password, no traceback."""
    async with Simulator(seed=8) as sim:
        env = wide(sim)
        recipients = write_csv(tmp_path / "r.csv", 3)
        code, out = await bwmsg_run(env, *run_args(recipients, pg_url))
        assert code == 0, out
        unreachable = f"postgresql://bwmsg:{PASSWORD}@127.0.0.1:{free_port()}/none"
        bad = f"postgresql://bwmsg:{PASSWORD}@127.0.0.1:notaport/db"
        cases: list[tuple[list[str | Path], int, str]] = [
            (run_args(recipients, bad), 3, "expected postgresql://user:pass@host:port/dbname"),
            (run_args(recipients, unreachable), 3, "check that PostgreSQL runs there"),
            (["campaign", "worker", "--journal", unreachable], 3, "cannot use the database"),
            (["campaign", "status", unreachable], 1, "check that PostgreSQL runs there"),
            (["campaign", "worker", "--journal", pg_url, "--campaign", "nope"], 1, "there are:"),
            (["campaign", "status", pg_url, "--campaign", "nope"], 2, "there are:"),
            (["campaign", "export", pg_url, "--campaign", "nope"], 2, "there are:"),
            (["campaign", "worker", "--journal", tmp_path / "j.db"], 2, "--journal postgresql://"),
        ]
        for args, expected, fix in cases:
            code, out = await bwmsg_run(env, *args)
            assert code == expected, (args, out)
            assert fix in out, (args, out)
            clean(out)
        assert len(sim.accepted) == 3


async def test_a_worker_checks_its_settings_before_it_touches_the_database() -> None:
    """As campaign run does: no application id, or a base URL that is not the API root, is a
    usage error before any connection (the database named here is not even there)."""
    url = f"postgresql://bwmsg:{PASSWORD}@127.0.0.1:1/nothing"
    async with Simulator() as sim:
        env = {k: v for k, v in env_for(sim).items() if k != "BW_MESSAGING_APPLICATION_ID"}
        code, out = await bwmsg_run(env, "campaign", "worker", "--journal", url)
        assert code == 2, out
        assert "no application id" in out
        env = {**env_for(sim), "BW_MESSAGING_BASE_URL": sim.base_url.removesuffix("/api/v2")}
        code, out = await bwmsg_run(env, "campaign", "worker", "--journal", url)
        assert code == 2, out
        assert "does not end in /api/v2" in out
        assert PASSWORD not in out
