"""A real PostgreSQL (Debian's package) for the tests: ``initdb`` into a temporary directory,
started on a free 127.0.0.1 port with its unix socket in that directory, stopped and removed
after.

initdb and postgres refuse to run as root: as root (CI) they run as the ``postgres`` system
user (``runuser -u postgres --``), which gets the directory. A missing binary skips the test
with the reason on a developer's machine; with ``BWMSG_REQUIRE_SERVERS=1`` (``.ci/run`` sets
it and installs postgresql) it fails instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.nginx_server import free_port, require

USER = "bwmsg"
PASSWORD = "s3cret-pg-pw"


def postgres_bin() -> Path:
    """Debian's PostgreSQL binaries (the newest version installed)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if not found:
        require("PostgreSQL", "apt-get install postgresql (Debian's package: initdb, pg_ctl)")
    return Path(found[-1]).parent


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser") is None:
        require("runuser", "PostgreSQL refuses to run as root; util-linux's runuser drops it")
    return ["runuser", "-u", "postgres", "--", *argv]


class PostgresServer:
    """A running PostgreSQL: ``url(dbname)``, ``create_database()``."""

    def __init__(self, root: Path, port: int, bindir: Path) -> None:
        self.root = root
        self.port = port
        self.bindir = bindir

    def url(self, dbname: str, *, password: bool = True) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run ``sql`` as the superuser over the unix socket; its output."""
        argv = [
            str(self.bindir / "psql"),
            "-h",
            str(self.root / "sock"),
            "-p",
            str(self.port),
            "-U",
            USER,
            "-d",
            dbname,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            sql,
        ]
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PGPASSWORD": PASSWORD},
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout

    def create_database(self) -> str:
        """A new, empty database; its name."""
        name = "t_" + uuid.uuid4().hex[:12]
        self.psql(f"CREATE DATABASE {name}")
        return name


@contextmanager
def postgres() -> Iterator[PostgresServer]:
    """Start PostgreSQL in a temporary directory; stop it and remove the directory after."""
    bindir = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="bwmsg-pg-"))
    try:
        data, sock = root / "data", root / "sock"
        sock.mkdir()
        (root / "pw").write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
            shutil.chown(sock, "postgres", "postgres")
            shutil.chown(root / "pw", "postgres", "postgres")
        initdb = [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            USER,
            "--pwfile",
            str(root / "pw"),
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ]
        subprocess.run(_as_server_user(initdb), check=True, capture_output=True, timeout=120)
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100 -c shared_buffers=32MB"
        )
        start = [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ]
        subprocess.run(_as_server_user(start), check=True, capture_output=True, timeout=90)
        try:
            yield PostgresServer(root, port, bindir)
        finally:
            stop = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            subprocess.run(_as_server_user(stop), capture_output=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL for the session (import this fixture into a test module)."""
    with postgres() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh database's URL (with its password) for one test."""
    return pg_server.url(pg_server.create_database())
