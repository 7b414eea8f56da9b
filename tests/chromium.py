"""A real headless Chromium (Debian's ``chromium``) driven over the DevTools protocol.

:func:`chromium` starts one with its own profile in a temporary directory, no sandbox (tests
run as root in CI), every host name resolving to nothing (``--host-resolver-rules``: a page
cannot reach the network even if it tried) and DevTools on a free port of 127.0.0.1, and
yields a :class:`Page`. The page records what a test asserts on: console errors, uncaught
exceptions, log entries and every request the page made.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.nginx_server import require

__all__ = ["Page", "chromium", "chromium_binary"]

_START_TIMEOUT = 30.0
_STEP_TIMEOUT = 30.0


def chromium_binary() -> str:
    """The Chromium to start; skipped (failed where servers are required) when absent."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    require("chromium", "apt-get install chromium (Debian's package; .ci/run installs it)")
    raise AssertionError("unreachable")


class Page:
    """One browser tab over a DevTools websocket: commands, and the events that matter."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.listeners: dict[str, asyncio.Event] = {}
        self.errors: list[str] = []  # console errors, exceptions, error log entries
        self.requests: list[str] = []  # the URL of every request the page made
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if "id" in data:
                future = self.waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            else:
                self._event(data["method"], data.get("params", {}))
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the DevTools connection closed"))

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
            self.errors.append("console: " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(f"exception: {details.get('exception', details)}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(f"log: {params['entry']['text']}")
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        if method in self.listeners:
            self.listeners[method].set()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one DevTools command; its result (an error answer raises)."""
        number = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[number] = future
        await self.ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, _STEP_TIMEOUT)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def open(self, url: str) -> None:
        """Load ``url`` and wait for its load event (scripts run by then)."""
        for domain in ("Runtime", "Log", "Network", "Page"):
            await self.send(f"{domain}.enable")
        loaded = self.listeners["Page.loadEventFired"] = asyncio.Event()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(loaded.wait(), _STEP_TIMEOUT)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited)."""
        found = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in found:
            raise RuntimeError(f"{expression[:60]}...: {found['exceptionDetails']}")
        return found["result"].get("value")

    async def screenshot(self, path: Path, width: int = 1280) -> None:
        """A PNG of the whole page, ``width`` pixels wide, written to ``path``."""
        _write(path, await self.png(width))

    async def png(self, width: int = 1280) -> bytes:
        """A PNG of the whole page, ``width`` pixels wide."""
        metrics = await self.send("Page.getLayoutMetrics")
        height = int(metrics["cssContentSize"]["height"]) + 1
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return base64.b64decode(shot["data"])


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


async def _devtools_port(profile: Path, proc: asyncio.subprocess.Process) -> int:
    """The port Chromium chose (it writes it to DevToolsActivePort in its profile)."""
    marker = profile / "DevToolsActivePort"
    deadline = asyncio.get_running_loop().time() + _START_TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"chromium exited with status {proc.returncode}")
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(marker.read_text().split()[0])
        await asyncio.sleep(0.05)
    raise RuntimeError(f"chromium did not open DevTools within {_START_TIMEOUT:.0f} s")


async def _page_socket(http: aiohttp.ClientSession, port: int) -> str:
    async with http.get(f"http://127.0.0.1:{port}/json/list") as answer:
        targets = await answer.json()
    pages = [t for t in targets if t.get("type") == "page"]
    url: str = pages[0]["webSocketDebuggerUrl"]
    return url


@contextlib.asynccontextmanager
async def chromium(tmp: Path) -> AsyncIterator[Page]:
    """A headless Chromium on a blank page, its profile in ``tmp``; closed afterwards."""
    binary = chromium_binary()
    profile = tmp / "chromium-profile"
    profile.mkdir()
    proc = await asyncio.create_subprocess_exec(
        binary,
        "--headless=new",
        "--no-sandbox",  # as root Chromium refuses to start with its sandbox
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--window-size=1280,1000",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        port = await _devtools_port(profile, proc)
        async with aiohttp.ClientSession() as http:
            socket = await _page_socket(http, port)
            async with http.ws_connect(socket, max_msg_size=0) as ws:
                page = Page(ws)
                try:
                    yield page
                finally:
                    page.reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await page.reader
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
