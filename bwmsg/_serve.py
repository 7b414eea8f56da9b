"""Serving an aiohttp application on 127.0.0.1 (or any address) for the simulator and the
callback server: one socket bound by us (so that port 0 gives a free port whose number is
known before the first request), then aiohttp's runner on it."""

from __future__ import annotations

import socket

from aiohttp import web

__all__ = ["serve"]


async def serve(
    app: web.Application, host: str, port: int, *, backlog: int = 128
) -> tuple[web.AppRunner, int]:
    """Listen on ``host``:``port`` (0: any free port) and serve ``app``; the runner (its
    ``cleanup()`` stops serving) and the port. Raises OSError for an address in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound = int(sock.getsockname()[1])
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock, backlog=backlog).start()
    except BaseException:
        sock.close()
        raise
    return runner, bound
