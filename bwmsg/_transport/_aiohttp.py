"""A transport over an aiohttp session: the user's, or one for ``trace_configs``, tokens and
listing.

:func:`mapped` is the one place where aiohttp's exceptions become the transport's three
failures (see ``_base.py``)::

    ClientHttpProxyError              ConnectError (the proxy refused CONNECT; its reason
                                      sanitised, retryable on 5xx, 408, 429 only)
    ClientSSLError, InvalidURL        ConnectError, not retryable (an untrusted certificate
                                      stays untrusted)
    ClientConnectorError,
    ConnectionTimeoutError            ConnectError (nothing was written)
    asyncio.TimeoutError              AnswerTimeout
    any other ClientError             ExchangeError (disconnected, reset, malformed answer)
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from yarl import URL

from ._base import Answer, AnswerTimeout, ConnectError, ExchangeError, Settings
from ._proxy import refusal

_LARGE_BODY = 1 << 20  # aiohttp.payload.TOO_LARGE_BYTES_BODY

__all__ = ["SessionTransport", "mapped"]

Failure = ConnectError | ExchangeError | AnswerTimeout


class SessionTransport:
    """Requests through an aiohttp session: POSTs to ``url`` as a transport (for a session
    the user gave, or ``trace_configs``), and any :meth:`request` (tokens, listing).

    Without ``session``, one is made (and closed by :meth:`aclose`) with at most
    ``concurrency`` connections, the ``trace_configs`` and ``headers`` as its default headers;
    a session given is left open and changed in nothing: its requests carry the settings.
    """

    def __init__(
        self,
        url: URL,
        settings: Settings,
        *,
        session: aiohttp.ClientSession | None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None,
        concurrency: int,
        headers: dict[str, str] | None,
    ) -> None:
        self.sends = session is not None or trace_configs is not None
        self._url = url
        self._settings = settings
        self._owned = session is None
        self._timeout_for = 0.0
        self._timeout = self._client_timeout()
        self._defaults: dict[str, str] | None = None
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=concurrency,
                ttl_dns_cache=300,
                keepalive_timeout=settings.keepalive,
                ssl=settings.ssl,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                trace_configs=list(trace_configs) if trace_configs else None,
                timeout=self._timeout,
                headers=headers,
                raise_for_status=False,
            )
            self._defaults = headers
        self._session = session
        # Per-request options: the settings a given session lacks (our own has them too).
        self._options: dict[str, Any] = {
            "raise_for_status": False,
            "allow_redirects": False,
            "ssl": settings.ssl,
        }
        self._post = self._options_for(url)
        self._extra = self._headers_for(url)

    # -- the Transport protocol (sending messages) ----------------------------------------------

    def prepare(self, headers: Mapping[str, str]) -> Mapping[str, str] | None:
        if headers is self._defaults:
            return None  # the session sends its defaults: less for aiohttp to merge
        return {**headers, **self._extra} if self._extra else headers

    async def connection(self, deadline: float) -> None:
        # aiohttp does not say when it writes: from exchange() on, it may have.
        return None

    async def exchange(
        self, link: None, head: Mapping[str, str] | None, body: bytes, deadline: float
    ) -> Answer:
        if self._settings.timeout != self._timeout_for:
            self._timeout = self._client_timeout()
        try:
            async with self._session.post(
                self._url, data=body, headers=head, timeout=self._timeout, **self._post
            ) as response:
                return await _answer(response)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            error = mapped(exc)
            raise error from error.__cause__

    async def aclose(self) -> None:
        if self._owned and not self._session.closed:
            await self._session.close()

    # -- any request (tokens, listing) ------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: URL | str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Answer:
        """One request to ``url`` with the settings (timeout, TLS, the proxy for ``url``);
        its whole answer.

        Raises:
            ConnectError, ExchangeError, AnswerTimeout: as :func:`mapped` says.
        """
        target = URL(url)
        if self._settings.timeout != self._timeout_for:
            self._timeout = self._client_timeout()
        # aiohttp warns (ResourceWarning) of a bytes body over 1 MiB; a media upload may be
        # 3.5 MB: such a body goes as a stream of its bytes (its length still sent).
        data: bytes | io.BytesIO | None = body
        if body is not None and len(body) > _LARGE_BODY:
            data = io.BytesIO(body)
        try:
            async with self._session.request(
                method,
                target,
                params=params,
                data=data,
                headers={**headers, **self._headers_for(target)},
                timeout=self._timeout,
                **self._options_for(target),
            ) as response:
                return await _answer(response)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            error = mapped(exc)
            raise error from error.__cause__

    # -- settings --------------------------------------------------------------------------------

    def _client_timeout(self) -> aiohttp.ClientTimeout:
        timeout = self._timeout_for = self._settings.timeout
        return aiohttp.ClientTimeout(total=timeout, connect=timeout / 2)

    def _options_for(self, target: URL) -> dict[str, Any]:
        proxy = self._settings.proxy_for(target)
        if proxy is None:
            return self._options
        return {**self._options, **proxy.aiohttp_options(target)}

    def _headers_for(self, target: URL) -> dict[str, str]:
        # Through an http:// proxy every request carries the proxy's credentials itself.
        proxy = self._settings.proxy_for(target)
        return proxy.request_headers(target) if proxy is not None else {}


async def _answer(response: aiohttp.ClientResponse) -> Answer:
    try:
        body: bytes | None = await response.read()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        body = None  # the head came whole, the body did not
    return Answer(response.status, response.reason or "", response.headers, body)


def mapped(exc: BaseException) -> Failure:
    """aiohttp's failure ``exc`` as one of the transport's three (its cause: ``exc``)."""
    error: Failure
    cause: BaseException = exc
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        cause = refusal(exc)  # aiohttp's own text carries the proxy's reason unsanitised
        error = ConnectError(str(cause), retryable=cause.retryable)
    elif isinstance(exc, (aiohttp.ClientSSLError, aiohttp.InvalidURL)):
        error = ConnectError(str(exc), retryable=False)
    elif isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        error = ConnectError(str(exc) or type(exc).__name__)
    elif isinstance(exc, asyncio.TimeoutError):
        error = AnswerTimeout("no whole answer in time")
    else:
        error = ExchangeError(
            f"the connection failed after the request was sent ({type(exc).__name__})"
        )
    error.__cause__ = cause
    return error
