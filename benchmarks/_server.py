"""The benchmarks' reference server: a fake Bandwidth send endpoint that is never the bottleneck.

``ReferenceServer`` answers ``POST /api/v2/users/{accountId}/messages`` with 202 and a fixed
Message body, keep-alive on, in another process pinned to its own CPU (CPU 1 by default; the
client runs on CPU 0). It is nginx when Debian's nginx is present (installed with apt-get when it
is missing and we are root), otherwise a minimal raw-asyncio HTTP/1.1 server (uvloop when
importable). ``ReferenceServer.describe()`` says which. The server is stopped at exit, also when
the benchmark dies (the server gets SIGTERM when its parent goes).

Run ``python benchmarks/_server.py`` to start one by hand and print its URL (Ctrl-C stops it).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bwmsg import Sender

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "nginx.conf.template"

# Bandwidth's example answer to a send (the shape of docs' Message), as nginx will serve it.
BODY = (
    '{"id":"14762070468292kw2fuqty55yp2b2","owner":"+12345678901",'
    '"applicationId":"93de2206-9669-4e07-948d-329f4b722ee2","time":"2016-09-14T18:20:16Z",'
    '"segmentCount":1,"direction":"out","to":["+12345678902"],"from":"+12345678901",'
    '"text":"","tag":"test message"}'
)
ACCOUNT_ID = "9900000"
APPLICATION_ID = "93de2206-9669-4e07-948d-329f4b722ee2"
USERNAME, PASSWORD = "user", "pass"


def reference_sender(base_url: str, concurrency: int, **options: Any) -> Sender:
    """A Sender (not yet opened) with the account and credentials the reference server takes."""
    from bwmsg import Sender  # here: the server itself runs without bwmsg

    credentials = (ACCOUNT_ID, USERNAME, PASSWORD)
    return Sender(
        *credentials,
        application_id=APPLICATION_ID,
        base_url=base_url,
        concurrency=concurrency,
        **options,
    )


_PR_SET_PDEATHSIG = 1


def _die_with_parent(cpu: int | None) -> None:
    # preexec_fn: the server gets SIGTERM if the benchmark process dies without stopping it.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]
    except OSError:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
        return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ensure_nginx() -> str | None:
    """Path of the nginx binary, installing Debian's package when missing and allowed."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if (
        found
        or os.environ.get("BWBENCH_NO_INSTALL")
        or os.geteuid() != 0
        or not shutil.which("apt-get")
    ):
        return found
    print("nginx not found: apt-get install -y nginx ...", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "nginx"],
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
    )
    if not shutil.which("nginx"):
        subprocess.run(
            ["apt-get", "update", "-qq"], env=env, check=False, stdout=subprocess.DEVNULL
        )
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "nginx"],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


class ReferenceServer:
    """Start with ``with ReferenceServer() as server:``; ``server.base_url`` is for Sender."""

    def __init__(self, kind: str = "auto", cpu: int = 1) -> None:
        if kind not in ("auto", "nginx", "python"):
            raise ValueError(f"server kind must be auto, nginx or python, not {kind!r}")
        self.requested = kind
        self.cpu: int | None = (
            cpu if cpu in os.sched_getaffinity(0) and os.cpu_count() != 1 else None
        )
        self.kind = ""
        self.version = ""
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.worker_pid = 0
        self._tmp: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> ReferenceServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.port = _free_port()
        self._tmp = tempfile.mkdtemp(prefix="bwbench-")
        atexit.register(self.stop)
        nginx = ensure_nginx() if self.requested in ("auto", "nginx") else None
        if nginx:
            self._start_nginx(nginx)
        elif self.requested == "nginx":
            raise RuntimeError("nginx was asked for but cannot be found or installed")
        else:
            self._start_python()
        self._wait_ready()

    def _start_nginx(self, nginx: str) -> None:
        prefix = self._tmp
        assert prefix is not None
        conf = TEMPLATE.read_text()
        replacements = {
            "@USER@": "user root;" if os.geteuid() == 0 else "",
            "@AFFINITY@": (
                f"worker_cpu_affinity {1 << self.cpu:b};" if self.cpu is not None else ""
            ),
            "@PREFIX@": prefix,
            "@PORT@": str(self.port),
            "@BODY@": BODY,
        }
        for key, value in replacements.items():
            conf = conf.replace(key, value)
        path = Path(prefix) / "nginx.conf"
        path.write_text(conf)
        out = subprocess.run([nginx, "-v"], capture_output=True, text=True)
        self.version = (out.stderr or out.stdout).strip().split("/")[-1]
        self.kind = "nginx"
        self.proc = subprocess.Popen(
            [nginx, "-p", prefix, "-c", str(path)],
            preexec_fn=lambda: _die_with_parent(self.cpu),
            stdout=subprocess.DEVNULL,
            stderr=open(Path(prefix) / "stderr.log", "wb"),  # noqa: SIM115
        )

    def _start_python(self) -> None:
        self.kind = "python"
        try:
            import uvloop  # noqa: F401

            self.version = "raw asyncio + uvloop"
        except ImportError:
            self.version = "raw asyncio"
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(self.port)],
            preexec_fn=lambda: _die_with_parent(self.cpu),
        )

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = Path(self._tmp or "/", "error.log")
                detail = log.read_text() if log.exists() else ""
                raise RuntimeError(f"the {self.kind} server exited at start: {detail}")
            try:
                self.status()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"the {self.kind} server did not answer within 15 s")
        if self.kind == "nginx":
            for _ in range(100):
                workers = _children(self.proc.pid)
                if workers:
                    self.worker_pid = workers[0]
                    break
                time.sleep(0.05)
        else:
            self.worker_pid = self.proc.pid

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- facts -----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2"

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/users/{ACCOUNT_ID}/messages"

    def status(self) -> dict[str, int]:
        """nginx's stub_status counters: connections accepted and requests served so far."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/nginx_status", timeout=2) as r:
            lines = r.read().decode().splitlines()
        accepts, handled, requests = (int(x) for x in lines[2].split())
        return {"accepts": accepts, "handled": handled, "requests": requests}

    def cpu_seconds(self) -> float:
        """CPU seconds the serving process has used so far."""
        return cpu_seconds(self.worker_pid)

    def describe(self) -> str:
        where = f"pinned to CPU {self.cpu}" if self.cpu is not None else "NOT pinned (1 CPU)"
        if self.kind == "nginx":
            what = f"nginx {self.version} (Debian package), 1 worker"
        else:
            what = f"fallback Python server ({self.version}), 1 process"
        return f"{what} {where}, keep-alive, 202 + fixed Message body, {self.messages_url}"


# -- the fallback server ---------------------------------------------------------------------------


def _serve(port: int) -> None:
    import asyncio

    body = BODY.encode()
    ok = (
        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: keep-alive\r\n\r\n"
        + body
    )
    unauthorized = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
    not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    counts = {"accepts": 0, "requests": 0}
    prefix = b"POST /api/v2/users/"

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.Transport = transport  # type: ignore[assignment]
            self.buffer = b""
            counts["accepts"] += 1

        def data_received(self, data: bytes) -> None:
            buf = self.buffer + data if self.buffer else data
            out = []
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buf[:end]
                length = 0
                lower = head.lower()
                i = lower.find(b"\r\ncontent-length:")
                if i >= 0:
                    j = lower.find(b"\r\n", i + 2)
                    length = int(head[i + 17 : j if j >= 0 else None])
                if len(buf) < end + 4 + length:
                    break
                buf = buf[end + 4 + length :]
                counts["requests"] += 1
                line = head[: head.find(b"\r\n")]
                if line.startswith(prefix) and line.split(b" ")[1].endswith(b"/messages"):
                    out.append(ok if b"\r\nauthorization:" in lower else unauthorized)
                elif line.startswith(b"GET /nginx_status"):
                    text = (
                        f"Active connections: 0\nserver accepts handled requests\n"
                        f" {counts['accepts']} {counts['accepts']} {counts['requests']}\n"
                        "Reading: 0 Writing: 0 Waiting: 0\n"
                    ).encode()
                    out.append(
                        b"HTTP/1.1 200 OK\r\nContent-Length: "
                        + str(len(text)).encode()
                        + b"\r\nConnection: close\r\n\r\n"
                        + text
                    )
                else:
                    out.append(not_found)
            self.buffer = buf
            if out:
                self.transport.write(b"".join(out))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Protocol, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        _serve(int(sys.argv[2]))
    else:
        kind = sys.argv[1] if len(sys.argv) > 1 else "auto"
        with ReferenceServer(kind) as server:
            print(server.describe(), flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
