"""Shared fixtures of bwmsg's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bwmsg.simulator import Simulator
from tests.cli_helpers import Command
from tests.servers import Scripted, scripted_server

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test picks up a proxy from the machine's environment (Senders trust it by default);
    a test about proxies sets the variables it needs."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, for raw requests."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    """A scripted Bandwidth look-alike on 127.0.0.1."""
    async with scripted_server() as state:
        yield state


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A running simulator with its defaults (a module needing other settings defines its own)."""
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
async def reap_commands() -> AsyncIterator[None]:
    """A test that fails midway leaves no `bwmsg` process (a ``cli_helpers.Command``) behind:
    ``pytestmark = pytest.mark.usefixtures("reap_commands")``."""
    yield
    await Command.reap()
