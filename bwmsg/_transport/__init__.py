"""How bytes reach Bandwidth: the Transport seam, and the factory the Sender takes its from.

``_base.py`` has the protocol (:class:`Transport`: ``prepare``, ``connection``, ``exchange``,
``aclose``), the one :class:`Answer`, the three failures every transport maps its own into
(:class:`ConnectError`: nothing written; :class:`ExchangeError`: written, no whole answer;
:class:`AnswerTimeout`), and the :class:`Settings` every transport reads. ``_pool.py`` is
bwmsg's keep-alive HTTP/1.1 pool, ``_aiohttp.py`` an aiohttp session (the user's, or one for
``trace_configs``; tokens and listing always go through it), ``_proxy.py`` the proxy choice and
``CONNECT``.

Internal hook (tests, benchmarks): :func:`use_factory` makes the Senders opened inside it take
their send transport from another :data:`Factory`, which may wrap :func:`default_factory`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from yarl import URL

from ._aiohttp import SessionTransport
from ._base import (
    KEEPALIVE,
    Answer,
    AnswerTimeout,
    Client,
    ConnectError,
    ExchangeError,
    Settings,
    Transport,
)
from ._pool import Pool

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "KEEPALIVE",
    "Answer",
    "AnswerTimeout",
    "Client",
    "ConnectError",
    "ExchangeError",
    "Factory",
    "Pool",
    "SessionTransport",
    "Settings",
    "Transport",
    "default_factory",
    "open_transports",
    "use_factory",
]

Factory = Callable[[URL, Settings, SessionTransport], "Transport[Any, Any]"]
"""Makes the transport that POSTs messages to a URL, given the settings and the Sender's
aiohttp transport (which sends itself when the user gave a session or trace_configs)."""


def default_factory(url: URL, settings: Settings, session: SessionTransport) -> Transport[Any, Any]:
    """bwmsg's pool, unless the aiohttp transport is to send (a session or trace_configs)."""
    if session.sends:
        return session
    return Pool(
        url,
        ssl=settings.ssl,
        connect_timeout=None,  # half of each attempt's time, as aiohttp's is
        keepalive=settings.keepalive,
        proxy=settings.proxy_for(url),
    )


_factories: list[Factory] = [default_factory]


@contextmanager
def use_factory(factory: Factory) -> Iterator[None]:
    """Within this block, Senders opened take their send transport from ``factory``."""
    _factories.append(factory)
    try:
        yield
    finally:
        _factories.remove(factory)


def open_transports(
    url: URL,
    settings: Settings,
    *,
    session: aiohttp.ClientSession | None,
    trace_configs: Sequence[aiohttp.TraceConfig] | None,
    concurrency: int,
    headers: dict[str, str] | None,
) -> tuple[Transport[Any, Any], SessionTransport]:
    """A Sender's transports: the one that sends messages to ``url``, and the aiohttp one
    (tokens, listing). Call it with the event loop running."""
    web = SessionTransport(
        url,
        settings,
        session=session,
        trace_configs=trace_configs,
        concurrency=concurrency,
        headers=headers,
    )
    return _factories[-1](url, settings, web), web
