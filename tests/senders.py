"""The client side of the tests: Senders, requests and pools pointed at the tests' own servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from yarl import URL

from bwmsg import MessageRequest, RetryPolicy, Sender
from bwmsg._transport import Answer
from bwmsg._transport._pool import Pool
from bwmsg.simulator import Simulator
from tests.servers import WITHIN

AUTH = {"Authorization": aiohttp.encode_basic_auth("user", "pass")}
"""Basic auth with the simulator's default credentials, for raw requests."""
JSON_AUTH = {**AUTH, "Content-Type": "application/json"}
""":data:`AUTH` with a JSON body."""
VALID: dict[str, Any] = {
    "to": ["+19195551212"],
    "from": "+19195550000",
    "text": "hello",
    "applicationId": "app-1",
}
"""A message body the service accepts, as raw JSON (copy it before changing it)."""

FAST = RetryPolicy(base_delay=0)
"""The default number of attempts, without waiting between them."""


def sender_for(base_url: str, **options: Any) -> Sender:
    """A Sender for ``base_url``: account ``acct``, application ``app``, :data:`FAST` retries
    and Basic ``user``/``pass`` (none when ``client_id`` is given); ``options`` override any."""
    settings: dict[str, Any] = {
        "account_id": "acct",
        "application_id": "app",
        "base_url": base_url,
        "retry": FAST,
    }
    if "client_id" not in options:
        settings.update(username="user", password="pass")
    settings.update(options)
    return Sender(**settings)


def simulator_sender(sim: Simulator, **options: Any) -> Sender:
    """A :func:`sender_for` ``sim`` with its account (9900000) and Basic credentials."""
    credentials = {"account_id": "9900000", "username": sim.username, "password": sim.password}
    return sender_for(sim.base_url, **{**credentials, **options})


def request(i: int = 0, text: str | None = None) -> MessageRequest:
    """Message ``i``: to +1919 and ``i`` in seven digits, from +19195550000, ``text`` or m{i}."""
    return MessageRequest(
        to=f"+1919{i:07d}", from_="+19195550000", text=f"m{i}" if text is None else text
    )


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
