"""A real Redis (Debian's ``redis-server``) for the tests: started on a free 127.0.0.1 port
(and a unix socket) from a config written into a temporary directory, without persistence,
stopped after. It can be stopped and started again on the same port mid-test.

A missing binary skips the test with the reason on a developer's machine; with
``BWMSG_REQUIRE_SERVERS=1`` (``.ci/run`` sets it and installs redis-server) it fails instead.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.nginx_server import require, stop_process
from tests.servers import free_port


def redis_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else ""
    )
    if not found:
        require("redis-server", "apt-get install redis-server (Debian's package)")
    return found


def _ping(port: int, password: str | None) -> bool:
    """True when the server on ``port`` answers PING (after AUTH when it has a password)."""
    command = b"PING\r\n" if password is None else f"AUTH {password}\r\nPING\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(command)
            answer = b""
            while b"PONG" not in answer:
                chunk = sock.recv(256)
                if not chunk:
                    return False
                answer += chunk
            return True
    except OSError:
        return False


class RedisServer:
    """One redis-server: :attr:`url`, :meth:`stop`, :meth:`start` (again, on the same port)."""

    def __init__(self, binary: str, directory: Path, password: str | None = None) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.password = password
        self.socket = directory / "redis.sock"
        self._proc: subprocess.Popen[bytes] | None = None
        auth = f"requirepass {password}\n" if password is not None else ""
        (directory / "redis.conf").write_text(
            f"bind 127.0.0.1\nport {self.port}\nunixsocket {self.socket}\n"
            f'dir {directory}\nsave ""\nappendonly no\ndaemonize no\n'
            f"logfile {directory}/redis.log\n{auth}"
        )

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0`` (with the password when there is one)."""
        auth = f":{self.password}@" if self.password is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start it and return once it answers PING (10 s at most)."""
        assert not self.running
        self._proc = subprocess.Popen(
            [self.binary, str(self.directory / "redis.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _ping(self.port, self.password):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log = self.directory / "redis.log"
                raise RuntimeError(f"redis-server did not start: {log.read_text(errors='replace')}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop it (SIGTERM; SIGKILL after 10 s) and return once the process has exited."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        stop_process(proc, signal.SIGTERM)


@contextmanager
def redis_server(password: str | None = None) -> Iterator[RedisServer]:
    """A running redis-server, stopped (and its directory removed) afterwards."""
    binary = redis_binary()
    # A short directory of its own: a unix socket's path must stay under 108 bytes.
    directory = Path(tempfile.mkdtemp(prefix="bwredis-"))
    server = RedisServer(binary, directory, password)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
