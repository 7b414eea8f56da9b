"""Shared fixtures of bwmsg's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.servers import Scripted, scripted_server


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    """A scripted Bandwidth look-alike on 127.0.0.1."""
    async with scripted_server() as state:
        yield state
