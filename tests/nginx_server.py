"""A real nginx (Debian's package) for the tests: started on a free 127.0.0.1 port from a
config written into a temporary directory, stopped after.

A missing binary skips the test with the reason on a developer's machine; with
``BWMSG_REQUIRE_SERVERS=1`` (``.ci/run`` sets it and installs nginx) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Re-exported: tests/postgres_server.py takes free_port from here.
from tests.servers import free_port as free_port

MESSAGE = (
    '{"id":"m-nginx-1","owner":"+19195550000","applicationId":"app",'
    '"time":"2026-12-01T10:00:00Z","segmentCount":1,"direction":"out",'
    '"to":["+19195551212"],"from":"+19195550000","text":"hi"}'
)


def require(what: str, why: str) -> None:
    """Skip for ``why`` (saying how to get ``what``), or fail where servers are required."""
    message = f"{what} is needed: {why}"
    if os.environ.get("BWMSG_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{message} (BWMSG_REQUIRE_SERVERS=1: .ci/run installs it)")
    pytest.skip(message)


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        require("nginx", "apt-get install nginx (Debian's package)")
    return found


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # nginx says nothing when it listens: try to connect
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text(errors='replace')}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError("nginx did not start listening within 10 s")


def stop_process(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` (SIGKILL after 10 s) and return once the process has exited."""
    proc.send_signal(signum)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def nginx(tmp: Path, http: str) -> Iterator[tuple[int, Path]]:
    """nginx serving ``http`` (the body of its ``http {}`` block, with ``@PORT@`` and
    ``@DIR@`` filled in): (its port, its access log)."""
    binary = nginx_binary()
    port = free_port()
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    config = f"""{user}
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    log_format conn '$connection $connection_requests $status $request_uri';
    access_log {tmp}/access.log conn;
    {http.replace("@PORT@", str(port)).replace("@DIR@", str(tmp))}
}}
"""
    (tmp / "nginx.conf").write_text(config)
    proc = subprocess.Popen(
        [binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, proc, tmp / "error.log")
        yield port, tmp / "access.log"
    finally:
        stop_process(proc, signal.SIGQUIT)


def served(access_log: Path, count: int) -> list[tuple[int, int, int]]:
    """(connection number, request number on it, status) of the ``count`` requests nginx
    logged. nginx logs a request after its answer went out, so the line may come a moment
    after the client has the answer: wait for it (a few seconds at most)."""
    deadline = time.monotonic() + 5
    while True:
        lines = access_log.read_text().split("\n") if access_log.exists() else []
        found = [line.split() for line in lines if line]
        if len(found) >= count or time.monotonic() > deadline:
            return [(int(c), int(r), int(s)) for c, r, s, *_ in found]
        time.sleep(0.01)
