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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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
    "send_transport",
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


def send_transport(url: URL, settings: Settings, web: SessionTransport) -> Transport[Any, Any]:
    """The transport that sends a Sender's messages to ``url``, made by the factory in use
    from its aiohttp transport ``web``. Call it with the event loop running."""
    return _factories[-1](url, settings, web)
