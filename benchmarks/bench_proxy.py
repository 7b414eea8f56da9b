"""send_many straight to the reference server vs through an HTTP forward proxy.

The proxy is a second nginx (absolute-form requests, Basic proxy credentials checked, keep-alive
to the server), on the server's CPU; the client is pinned to CPU 0 as in bench_throughput.py.
Both contenders are the same child (``_child.py``, contender ``bwmsg``): the proxy one gets
``HTTP_PROXY`` in its environment, which the Sender honours (``trust_env``). Rounds alternate;
the verdict is the ratio of the median rounds, with the spread. Target: through a proxy within
1.5 x the time of going direct.

Usage: ``.venv/bin/python benchmarks/bench_proxy.py [--quick] [--n N] [--repeat R]``.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, machine_block, run_against, table, write_section
from _server import ReferenceServer, ensure_nginx

TARGET = 1.5
CONFIG = """
daemon off; master_process on; worker_processes 1;
pid {p}/nginx.pid; error_log {p}/error.log warn;
events {{ worker_connections 8192; multi_accept on; }}
http {{
  access_log off; server_tokens off;
  client_body_temp_path {p}/body; proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fastcgi;
  uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;
  keepalive_timeout 75s; keepalive_requests 100000000; tcp_nodelay on;
  upstream api {{ server 127.0.0.1:{up}; keepalive 1024; keepalive_requests 100000000; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      if ($http_proxy_authorization != "Basic dTpw") {{ return 407; }}
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Proxy-Authorization "";
    }}
  }}
}}
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_proxy(nginx: str, upstream: int, prefix: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A forward-proxy nginx to ``upstream``; (its process, its port) once it listens."""
    port = _port()
    (prefix / "nginx.conf").write_text(CONFIG.format(p=prefix, up=upstream, port=port))
    proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")])
    for _ in range(200):  # nginx says nothing when it listens
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the proxy nginx did not start")


def measure(server: ReferenceServer, proxy: int, n: int, c: int, repeat: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"direct": [], "proxy": []}
    spec = {"contender": "bwmsg", "loop": "asyncio", "n": n, "concurrency": c}
    for k in range(repeat):
        for label in ("direct", "proxy"):
            if label == "proxy":
                os.environ["HTTP_PROXY"] = f"http://u:p@127.0.0.1:{proxy}"
            try:
                result = run_against(server, label, spec)
            finally:
                os.environ.pop("HTTP_PROXY", None)
            runs[label].append(result)
            print(f"  {label} round {k + 1}: {result['rate']:,.0f} msg/s", flush=True)
    return runs


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="messages (default 20,000)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=None, help="rounds (default 3)")
    args = parser.parse_args()
    n, repeat = args.n or (5_000 if args.quick else 20_000), args.repeat or 3
    nginx = ensure_nginx()
    if nginx is None:
        raise SystemExit("nginx is needed (apt-get install nginx)")
    with ReferenceServer("nginx") as server, tempfile.TemporaryDirectory() as tmp:
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (Path(tmp) / name).mkdir()
        proc, port = start_proxy(nginx, server.port, Path(tmp))
        try:
            runs = measure(server, port, n, args.concurrency, repeat)
        finally:
            proc.terminate()
            proc.wait(10)
        description = server.describe()
    rows, medians = [], {}
    for label, rs in runs.items():
        medians[label] = statistics.median(r["wall"] for r in rs)
        cpu = statistics.median(r["cpu"] / n * 1e6 for r in rs)
        rows.append([label, f"{n / medians[label]:,.0f}", f"{cpu:.1f}"])
    ratio = medians["proxy"] / medians["direct"]
    rounds = sorted(
        p["wall"] / d["wall"] for d, p in zip(runs["direct"], runs["proxy"], strict=True)
    )
    verdict = (
        f"through the proxy: {ratio:.2f} x the time of going direct (median rounds; target "
        f"<= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'}); round by round "
        f"{rounds[0]:.2f}-{rounds[-1]:.2f}"
    )
    tab = table(["path", "msg/s (median)", "µs CPU/msg (median)"], rows)
    print(f"\n{tab}\n\n{verdict}")
    if not args.no_write:
        body = (
            f"{machine_block(description)}\n\nN = {n:,}, concurrency {args.concurrency}, "
            f"{repeat} rounds each, alternated.\n\n{tab}\n\n- {verdict}"
        )
        write_section("proxy", "7. send_many through an HTTP forward proxy", body)


if __name__ == "__main__":
    main()
