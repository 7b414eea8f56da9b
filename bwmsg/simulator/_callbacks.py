"""Callbacks: the status events of accepted messages, and inbound messages' events, that the
simulator posts to an application's URL, each post retried until taken or given up."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import aiohttp
import attrs

from .._checks import fraction, non_negative, positive_int

__all__ = ["DEFAULT_ERROR_CODES", "CallbackPoster", "Callbacks"]

# A few of Bandwidth's documented message-failed codes, with their descriptions.
DEFAULT_ERROR_CODES: dict[int, str] = {
    4405: "unsupported destination",
    4432: "forbidden to country",
    4470: "rejected as spam",
    4720: "invalid destination (not an active number)",
    5620: "destination carrier unavailable",
    9902: "timed out waiting for delivery receipt",
}


def _url(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError(f"Callbacks.url must be an http(s) URL, got {value!r}")


def _codes(value: Any) -> tuple[int, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Callbacks:
    """Where and how the simulator posts delivery callbacks (status events).

    For every accepted message and each of its recipients, the simulator posts
    ``message-sending`` and then ``message-delivered`` or ``message-failed`` (with an
    ``errorCode``), each as a JSON array of one event, like Bandwidth's status callbacks. A post
    that fails (connection error or a status other than 2xx) is retried; like the real service,
    delivery is at least once. Bandwidth keeps retrying a callback for 24 hours; the simulator
    keeps the same shape (backoff doubling up to a cap) compressed in time: ``retry_for``
    seconds, a minute by default, so that a receiver down for a while still gets every event.

    Args:
        url: the application's callback URL.
        username: Basic auth user name sent with each post (with ``password``), or None.
        password: Basic auth password.
        failed: the odds that a message ends in ``message-failed`` rather than
            ``message-delivered``.
        error_codes: the ``errorCode`` values a failure picks from, uniformly.
        duplicate: the fraction of posts sent twice.
        reorder: the fraction of messages whose final event is posted before
            ``message-sending``.
        max_attempts: attempts per post, the first included; None (the default) for as many
            as ``retry_for`` allows.
        retry_delay: seconds before the first retry; doubled for each further one, up to
            ``max_retry_delay``.
        max_retry_delay: the longest wait between two attempts.
        retry_for: seconds after its first attempt that a post is given up.
        timeout: seconds one post may take.
        workers: posts in flight at once.
    """

    url: str = attrs.field(validator=_url)
    username: str | None = None
    password: str | None = None
    failed: float = attrs.field(default=0.0, validator=fraction)
    error_codes: tuple[int, ...] = attrs.field(default=tuple(DEFAULT_ERROR_CODES), converter=_codes)
    duplicate: float = attrs.field(default=0.0, validator=fraction)
    reorder: float = attrs.field(default=0.0, validator=fraction)
    max_attempts: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(positive_int)
    )
    retry_delay: float = attrs.field(default=0.05, validator=non_negative)
    max_retry_delay: float = attrs.field(default=2.0, validator=non_negative)
    retry_for: float = attrs.field(default=60.0, validator=non_negative)
    timeout: float = attrs.field(default=5.0, validator=non_negative)
    workers: int = attrs.field(default=4, validator=positive_int)

    def __attrs_post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise ValueError("Callbacks needs both username and password, or neither")
        if not self.error_codes:
            raise ValueError("Callbacks.error_codes must not be empty")

    def __repr__(self) -> str:
        auth = "basic" if self.username is not None else "none"
        return (
            f"Callbacks(url={self.url!r}, auth={auth}, failed={self.failed}, "
            f"duplicate={self.duplicate}, reorder={self.reorder})"
        )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _events(
    message: dict[str, Any],
    settings: Callbacks,
    rng: random.Random,
    decided: dict[str, dict[str, int | None]] | None = None,
) -> list[Any]:
    """The posts (each a one-event array) for one message, in the order they are sent.

    ``decided`` gets, by message id, each recipient's outcome: None for delivered, the error
    code for failed.
    """
    snapshot = {k: v for k, v in message.items() if k != "expiration"}
    posts: list[Any] = []
    outcome: dict[str, int | None] = {}
    if decided is not None:
        decided[str(message["id"])] = outcome
    for recipient in message["to"]:
        sending = {
            "time": _now(),
            "type": "message-sending",
            "to": recipient,
            "description": "Message is sending to carrier.",
            "message": snapshot,
        }
        if rng.random() < settings.failed:
            code = rng.choice(settings.error_codes)
            outcome[recipient] = code
            final: dict[str, Any] = {
                "time": _now(),
                "type": "message-failed",
                "to": recipient,
                "description": DEFAULT_ERROR_CODES.get(code, "message failed"),
                "errorCode": code,
                "message": snapshot,
            }
        else:
            outcome[recipient] = None
            final = {
                "time": _now(),
                "type": "message-delivered",
                "to": recipient,
                "description": "Message delivered to handset.",
                "message": snapshot,
            }
        pair = [[sending], [final]]
        if rng.random() < settings.reorder:
            pair.reverse()
        for post in pair:
            posts.append(post)
            if rng.random() < settings.duplicate:
                posts.append(post)
    return posts


Posts = Callable[[Callbacks], "list[list[dict[str, Any]]]"]
"""What one job posts, given the settings: one-event arrays, in order."""


class CallbackPoster:
    """Posts callbacks from a few worker tasks it owns: an accepted message's status events
    (:meth:`submit`) and ready-made posts such as an inbound message's (:meth:`post`).

    Internal to the simulator: :meth:`stop` ends its life; stopping cancels and awaits every
    task, so none is left pending.
    """

    def __init__(self, rng: random.Random, get_settings: Callable[[], Callbacks | None]) -> None:
        self._rng = rng
        self._settings = get_settings
        self._queue: asyncio.Queue[tuple[Posts, asyncio.Future[bool] | None]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self.delivered: list[list[dict[str, Any]]] = []
        self.abandoned: list[list[dict[str, Any]]] = []
        self.decided: dict[str, dict[str, int | None]] = {}
        self.attempts = 0

    def submit(self, message: dict[str, Any]) -> None:
        """Queue the callbacks of one accepted message."""
        settings = self._settings()
        if settings is None:
            return
        self._start(settings)
        self._queue.put_nowait(
            (lambda current: _events(message, current, self._rng, self.decided), None)
        )

    def post(self, events: list[dict[str, Any]]) -> asyncio.Future[bool]:
        """Queue one post of ``events`` (retried as status callbacks are); the future is True
        once the receiver took it, False when it was given up (or callbacks were turned off).

        Raises:
            RuntimeError: no :class:`Callbacks` are set.
        """
        settings = self._settings()
        if settings is None:
            raise RuntimeError("no Callbacks are set: there is no URL to post to")
        self._start(settings)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((lambda _: [events], done))
        return done

    def _start(self, settings: Callbacks) -> None:
        if len(self._workers) < settings.workers:
            self._workers.extend(
                asyncio.ensure_future(self._work())
                for _ in range(settings.workers - len(self._workers))
            )

    async def join(self) -> None:
        """Wait until every queued message's callbacks were posted or given up."""
        await self._queue.join()

    async def stop(self) -> None:
        """Cancel the workers, wait for them, and close the session."""
        for task in self._workers:
            task.cancel()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _work(self) -> None:
        while True:
            posts, done = await self._queue.get()
            taken = False
            try:
                settings = self._settings()
                if settings is not None:
                    taken = True
                    for post in posts(settings):
                        taken = await self._post(post, settings) and taken
            finally:
                self._queue.task_done()
                if done is not None and not done.done():
                    done.set_result(taken)

    async def _post(self, events: list[dict[str, Any]], settings: Callbacks) -> bool:
        """Post ``events`` until the receiver takes them (True) or they are given up."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json"}
        if settings.username is not None and settings.password is not None:
            token = f"{settings.username}:{settings.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        data = json.dumps(events, separators=(",", ":")).encode()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + settings.retry_for
        delay, attempt = settings.retry_delay, 0
        while True:
            attempt += 1
            if await self._attempt(data, headers, settings):
                self.delivered.append(events)
                return True
            out_of_attempts = settings.max_attempts is not None and attempt >= settings.max_attempts
            if out_of_attempts or loop.time() + delay > give_up:
                self.abandoned.append(events)
                return False
            await asyncio.sleep(delay)
            delay = min(max(delay * 2, 0.001), settings.max_retry_delay)

    async def _attempt(self, data: bytes, headers: dict[str, str], settings: Callbacks) -> bool:
        """Post once; True when the receiver took it (a 2xx)."""
        assert self._session is not None
        self.attempts += 1
        timeout = aiohttp.ClientTimeout(total=settings.timeout or None)
        try:
            async with self._session.post(
                settings.url, data=data, headers=headers, timeout=timeout
            ) as response:
                await response.read()
                return 200 <= response.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False
