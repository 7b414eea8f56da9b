"""The seam between the Sender and the wire: one protocol, one answer, three failures.

A :class:`Transport` carries one request to one URL in two steps, so that its caller knows
whether anything may have been written: :meth:`~Transport.connection` (nothing is written)
then :meth:`~Transport.exchange` (the request is written before its first suspension).
Every transport turns its own failures into these three, and nothing else leaves it::

    ConnectError      nothing was written (``retryable`` False: asking again cannot help)
    ExchangeError     the request was written, or may have been; no whole answer came back
    AnswerTimeout     no whole answer by the deadline (also an asyncio.TimeoutError)

A body cut off after a complete head is not a failure: :attr:`Answer.body` is then None.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

from yarl import URL

from .._printable import printable
from ._proxy import Proxy, choose, parse_proxy

__all__ = [
    "KEEPALIVE",
    "Answer",
    "AnswerTimeout",
    "Client",
    "ConnectError",
    "ExchangeError",
    "Settings",
    "Transport",
]

LinkT = TypeVar("LinkT")
HeadT = TypeVar("HeadT")


class ConnectError(Exception):
    """No connection could be made: nothing was written.

    ``retryable`` is False when asking again cannot help (the server's certificate was
    refused, the proxy refused the tunnel for good, the URL is invalid).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ExchangeError(Exception):
    """The request was written (or may have been) but no complete answer head came back."""


class AnswerTimeout(asyncio.TimeoutError):
    """No whole answer came back by the deadline: the request may have been read."""


MAX_REASON = 100
"""The most characters of a reason phrase kept in :attr:`Answer.reason` (cut with ``...``)."""


class Answer:
    """A server's answer: status, reason, headers and body.

    ``reason`` is the server's reason phrase made printable (``bwmsg._printable.printable``:
    control characters as escapes) and cut to :data:`MAX_REASON` characters, whichever
    transport read it. ``headers`` looks names up in lower case (the pool's dict has
    lower-cased names; an aiohttp answer's headers are case-insensitive). ``body`` is None
    when the head arrived whole and the body did not.
    """

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(
        self, status: int, reason: str, headers: Mapping[str, str], body: bytes | None
    ) -> None:
        self.status = status
        self.reason = printable(reason, MAX_REASON)
        self.headers = headers
        self.body = body


class Transport(Protocol[LinkT, HeadT]):
    """How one request reaches one URL; the Sender makes each attempt through one of these.

    ``deadline`` is the event loop's time by which the whole answer must have come.
    """

    def prepare(self, headers: Mapping[str, str]) -> HeadT:
        """``headers`` (the same mapping on every call, until the credentials change) in the
        form :meth:`exchange` takes; its caller keeps the result while they stay the same."""
        ...

    async def connection(self, deadline: float) -> LinkT:
        """Something to write one request on. Nothing is written yet.

        Raises:
            ConnectError: no connection could be made.
        """
        ...

    async def exchange(self, link: LinkT, head: HeadT, body: bytes, deadline: float) -> Answer:
        """Write one POST of ``body`` on ``link`` and read its answer. The request is written
        before the first suspension: a caller cancelled while awaiting this may have sent it.

        Raises:
            ConnectError: nothing was written after all.
            ExchangeError: the request was written; no complete answer came back.
            AnswerTimeout: no whole answer by ``deadline``.
        """
        ...

    async def aclose(self) -> None:
        """Close what the transport opened. Safe to call twice."""
        ...


class Client(Protocol):
    """Any one request to any URL, its whole answer read: what tokens and listing use."""

    async def request(
        self,
        method: str,
        url: URL | str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Answer:
        """Raises the same three failures as :meth:`Transport.exchange`."""
        ...


KEEPALIVE = 10.0
"""Seconds an idle connection is kept: below the idle timeout of common servers and load
balancers, so that a pooled connection is seldom closed by the far end just as a request is
written on it (that failure is ambiguous: the request may have been read)."""


class Settings:
    """A Sender's connection settings: every transport reads them here, and only here.

    ``timeout`` (seconds one attempt may take; its first half may go to connecting) is read
    at each request, so a change applies to every transport at once. ``ssl`` and the proxies
    are fixed when the Sender is made: the proxy of each origin is chosen then (``NO_PROXY``
    may exempt one host and not another), from ``proxy`` or, with ``trust_env``, the
    environment.

    Raises:
        ValueError: ``proxy`` or the environment's proxy is not an ``http://`` URL.
    """

    __slots__ = ("_explicit", "_proxies", "_trust_env", "keepalive", "ssl", "timeout")

    def __init__(
        self,
        *,
        timeout: float,
        ssl: ssl_module.SSLContext | bool,
        proxy: str | None,
        trust_env: bool,
        origins: Sequence[URL],
        keepalive: float = KEEPALIVE,
    ) -> None:
        self.timeout = timeout
        self.ssl = ssl
        self.keepalive = keepalive
        self._explicit = parse_proxy(proxy, "proxy") if proxy is not None else None
        self._trust_env = trust_env
        self._proxies = {str(url.origin()): self._choose(url) for url in origins}

    def _choose(self, url: URL) -> Proxy | None:
        return choose(url, self._explicit, self._trust_env)

    def proxy_for(self, url: URL) -> Proxy | None:
        """The proxy that requests to ``url`` go through, or None."""
        key = str(url.origin())
        if key not in self._proxies:
            self._proxies[key] = self._choose(url)
        return self._proxies[key]
