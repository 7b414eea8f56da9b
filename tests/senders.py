"""The client side of the tests: pools pointed at the tests' own servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from yarl import URL

from bwmsg._transport import Answer
from bwmsg._transport._pool import Pool
from tests.servers import WITHIN


@asynccontextmanager
async def open_pool(url: URL, **options: Any) -> AsyncIterator[Pool]:
    """A :class:`Pool` closed at the end of the block."""
    pool = Pool(url, **options)
    try:
        yield pool
    finally:
        await pool.close()


async def post(pool: Pool, body: bytes = b"{}", within: float = WITHIN) -> Answer:
    """POST ``body`` as JSON through ``pool``; its answer."""
    return await pool.post(pool.head({"Content-Type": "application/json"}), body, within)
