"""Mistakes an operator can make on the command line: one line naming the file or flag and the
fix, a distinct exit status, never a traceback (a real subprocess each time)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bwmsg.campaign import Journal
from bwmsg.simulator import Simulator
from tests.cli_helpers import bwmsg_run, campaign_run_args, env_for, port_in_use, write_csv
from tests.nginx_server import require


def assert_one_line_error(output: str, *expected: str) -> None:
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if "rror" in line]
    assert len(errors) == 1, output
    for text in expected:
        assert text in errors[0], output


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_status_of_a_csv_file_says_it_is_not_a_journal(
    sim: Simulator, tmp_path: Path
) -> None:
    recipients = write_csv(tmp_path / "r.csv", 3)
    code, output = await bwmsg_run(env_for(sim), "campaign", "status", recipients)
    assert code == 3
    assert_one_line_error(output, "r.csv", "not a bwmsg journal")


@pytest.mark.parametrize("command", ["status", "export"])
async def test_another_programs_database_is_refused_and_left_untouched(
    sim: Simulator, tmp_path: Path, command: str
) -> None:
    other = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE things (a)")
        db.commit()
    before = digest(other)
    code, output = await bwmsg_run(env_for(sim), "campaign", command, other)
    assert code == 3
    assert_one_line_error(output, "other.db", "not a bwmsg journal")
    assert digest(other) == before
    assert not (tmp_path / "other.db-wal").exists()


async def test_a_journal_in_a_missing_directory_is_exit_3_before_sending(
    sim: Simulator, tmp_path: Path
) -> None:
    recipients = write_csv(tmp_path / "r.csv", 3)
    journal = tmp_path / "no-such-dir" / "run.db"
    args = campaign_run_args(recipients, journal)
    code, output = await bwmsg_run(env_for(sim), *args)
    assert code == 3
    assert_one_line_error(output, "run.db", "cannot be used", "directory")
    assert sim.accepted == []


async def test_export_to_a_path_it_cannot_write_names_output(
    sim: Simulator, tmp_path: Path
) -> None:
    recipients = write_csv(tmp_path / "r.csv", 2)
    journal = tmp_path / "j.db"
    code, _ = await bwmsg_run(env_for(sim), *campaign_run_args(recipients, journal))
    assert code == 0
    target = tmp_path / "missing" / "out.csv"
    code, output = await bwmsg_run(env_for(sim), "campaign", "export", journal, "-o", target)
    assert code == 2
    assert_one_line_error(output, "--output", "cannot write", "out.csv")


async def test_simulator_on_a_port_in_use_names_the_port(sim: Simulator) -> None:
    with port_in_use() as port:
        code, output = await bwmsg_run(env_for(sim), "simulator", "--port", str(port))
    assert code == 2
    assert_one_line_error(output, "--host/--port", f"127.0.0.1:{port}", "choose another port")


async def test_receipts_listen_on_a_port_in_use_names_listen(
    sim: Simulator, tmp_path: Path
) -> None:
    recipients = write_csv(tmp_path / "r.csv", 2)
    journal = tmp_path / "j.db"
    await bwmsg_run(env_for(sim), *campaign_run_args(recipients, journal))
    with port_in_use() as port:
        code, output = await bwmsg_run(
            env_for(sim), "campaign", "receipts", journal, "--listen", f"127.0.0.1:{port}"
        )
    assert code == 2
    assert_one_line_error(output, "--listen", str(port))


async def test_run_receipts_on_a_port_in_use_sends_nothing(sim: Simulator, tmp_path: Path) -> None:
    recipients = write_csv(tmp_path / "r.csv", 3)
    journal = tmp_path / "j.db"
    with port_in_use() as port:
        args = campaign_run_args(recipients, journal, "--receipts", f"127.0.0.1:{port}")
        code, output = await bwmsg_run(env_for(sim), *args)
    assert code == 2
    assert_one_line_error(output, "--receipts", str(port))
    assert sim.accepted == []


def test_a_readonly_journal_is_read_without_a_single_write(tmp_path: Path) -> None:
    """Journal(readonly=True) reads counts and rows, and refuses to write: the database file
    stays byte for byte the same (SQLite may make its -shm beside it to read a WAL)."""
    path = tmp_path / "j.db"
    with Journal(path, exclusive=True) as db:
        db.bind("f" * 64, campaign="c")
        db.add_rows([(1, "+19195550001"), (2, "+19195550002")])
    before = digest(path)
    with Journal(path, readonly=True) as db:
        assert db.is_journal()
        assert db.counts()["pending"] == 2
        assert [r["state"] for r in db.rows()] == ["pending", "pending"]
        with pytest.raises(sqlite3.OperationalError):
            db.record([], claim=(1, 2))
    assert digest(path) == before


@pytest.mark.parametrize(
    ("drop", "value", "expected"),
    [
        ("BW_ACCOUNT_ID", None, "--account-id"),
        ("BW_PASSWORD", None, "--username and --password"),
        ("BW_ACCOUNT_ID", "../admin", "--account-id must be a Bandwidth account id"),
    ],
)
async def test_credential_mistakes_name_the_options(
    sim: Simulator, drop: str, value: str | None, expected: str
) -> None:
    """The command's messages name its options, not the library's argument names."""
    env = {k: v for k, v in env_for(sim).items() if k != drop}
    if value is not None:
        env[drop] = value
    code, output = await bwmsg_run(
        env, "send", "--to", "+19195550001", "--from", "+19195550000", "--text", "hi"
    )
    assert code == 2
    assert_one_line_error(output, expected)
    assert "account_id" not in output
    assert "username and password" not in output
    assert sim.accepted == []


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    """``directory`` bind-mounted read-only over itself: a read-only disk, even for root
    (whom file modes do not stop)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        require("root and mount(8)", "a read-only bind mount stands for a read-only disk")
    subprocess.run(["mount", "--bind", directory, directory], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", directory, directory], check=True)
        yield directory
    finally:
        subprocess.run(["umount", directory], check=True)


async def test_a_journal_on_a_read_only_disk(sim: Simulator, tmp_path: Path) -> None:
    """run: exit 3 before sending, one line; status and export still read it."""
    recipients = write_csv(tmp_path / "r.csv", 3)
    disk = tmp_path / "disk"
    disk.mkdir()
    journal = disk / "run.db"
    code, _ = await bwmsg_run(env_for(sim), *campaign_run_args(recipients, journal))
    assert code == 0
    sent = len(sim.accepted)
    with read_only(disk):
        code, output = await bwmsg_run(
            env_for(sim), *campaign_run_args(recipients, disk / "new.db")
        )
        assert code == 3
        assert_one_line_error(output, "new.db", "cannot be used")
        code, status = await bwmsg_run(env_for(sim), "campaign", "status", journal)
        assert code == 0, status
        code, export = await bwmsg_run(env_for(sim), "campaign", "export", journal)
        assert code == 0, export
    assert len(sim.accepted) == sent  # the refused run sent nothing
    assert "sent" in status
    assert export.count("\n") == 4  # the header and 3 rows
