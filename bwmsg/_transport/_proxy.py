"""HTTP proxies: which one a request goes through, and the ``CONNECT`` tunnel through one.

- :func:`parse_proxy` reads ``http://[user:pass@]host:port`` into a :class:`Proxy`: scheme
  ``http``, a host, no path. Its ``ValueError`` names the setting and never shows the value
  (it may hold a password); a :class:`Proxy` never shows its credentials either.
- :func:`choose` picks the proxy for one URL: the one given explicitly, else (with
  ``trust_env``) ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` unless ``NO_PROXY`` names the
  host, with the standard library's semantics (either case;
  :func:`urllib.request.getproxies_environment` and
  :func:`urllib.request.proxy_bypass_environment`), as requests and httpx read them.
- :func:`open_tunnel` asks a proxy, over a socket already connected to it, for a tunnel to an
  origin (``CONNECT host:port HTTP/1.1``, with ``Proxy-Authorization`` when the proxy has
  credentials) and checks its answer: anything but a 2xx is a :class:`TunnelError` naming the
  proxy's status (its reason text printable, control characters as escapes, and cut short).
  Nothing has been sent to the origin then.

How each client uses it: bwmsg's own pool (``_pool.py``) connects to the proxy instead of the
origin; for an ``http://`` origin it writes its requests in absolute form with
:attr:`Proxy.authorization`, for an ``https://`` one it opens a tunnel, then TLS over it with the
origin's name checked. aiohttp (tokens, listing) gets :meth:`Proxy.aiohttp_options` and
:meth:`Proxy.request_headers` per request.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import urllib.request
from typing import Any

import aiohttp
from yarl import URL

from .._printable import printable

__all__ = [
    "MAX_TUNNEL_HEAD",
    "Proxy",
    "TunnelError",
    "choose",
    "open_tunnel",
    "parse_proxy",
    "refusal",
]

MAX_TUNNEL_HEAD = 16 * 1024
"""The most bytes a proxy's answer head to ``CONNECT`` may take."""

_RULE = "an http:// proxy URL: http://[user:pass@]host:port"
_VARIABLES = {"https": "HTTPS_PROXY", "http": "HTTP_PROXY", "all": "ALL_PROXY"}
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: (.*))?")
_REASON_LENGTH = 80


class Proxy:
    """An HTTP proxy: where it is and, if it wants them, the credentials (never shown).

    Attributes:
        host: the proxy's host name or address (an IPv6 address without brackets).
        port: its port.
        url: ``http://host:port``, without the credentials.
        authorization: the ``Proxy-Authorization`` header's value, or None.
    """

    __slots__ = ("authorization", "host", "port", "url")

    def __init__(
        self, host: str, port: int, username: str | None = None, password: str | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.url = URL.build(scheme="http", host=host, port=port)
        self.authorization: str | None = None
        if username is not None:
            if ":" in username:
                raise ValueError("a proxy user name cannot contain ':'")
            pair = f"{username}:{password or ''}".encode()
            self.authorization = f"Basic {base64.b64encode(pair).decode('ascii')}"

    @property
    def where(self) -> str:
        """``host:port``, for messages (no credentials)."""
        return _authority(self.host, self.port)

    def __repr__(self) -> str:
        login = ", with credentials" if self.authorization is not None else ""
        return f"<Proxy http://{self.where}{login}>"

    def aiohttp_options(self, target: URL) -> dict[str, Any]:
        """Keyword arguments for an aiohttp request to ``target`` through this proxy.

        aiohttp sends ``proxy_headers`` with ``CONNECT`` only: a request to an ``http://``
        target carries the credentials itself (:meth:`request_headers`).
        """
        options: dict[str, Any] = {"proxy": self.url}
        if self.authorization is not None and target.scheme != "http":
            options["proxy_headers"] = {"Proxy-Authorization": self.authorization}
        return options

    def request_headers(self, target: URL) -> dict[str, str]:
        """Headers that an aiohttp request to ``target`` carries itself: the credentials for
        an ``http://`` target (the request goes to the proxy); none through a tunnel, whose far
        end is the origin."""
        if self.authorization is not None and target.scheme == "http":
            return {"Proxy-Authorization": self.authorization}
        return {}


class TunnelError(Exception):
    """The proxy did not open the tunnel: nothing was sent to the origin.

    ``retryable`` is False when asking again cannot help (407, 403: the proxy refuses).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def parse_proxy(value: object, setting: str, *, lenient: bool = False) -> Proxy:
    """The :class:`Proxy` that ``value`` names, for the setting called ``setting``.

    Args:
        value: ``http://[user:pass@]host[:port]`` (the port defaults to 80).
        setting: the name to put in the error (``proxy``, ``HTTPS_PROXY`` ...).
        lenient: accept a value without a scheme (``host:port``), as the environment's
            proxy variables are often written.

    Raises:
        ValueError: ``value`` is not such a URL; the message names ``setting``, not the value.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{setting} must be {_RULE}")
    text = value.strip()
    if lenient and "://" not in text:
        text = f"http://{text}"
    try:
        url = URL(text)
        port = url.port
    except (ValueError, TypeError):
        raise ValueError(f"{setting} is not a valid URL: it must be {_RULE}") from None
    if url.scheme != "http":
        kind = f"a {url.scheme}:// URL" if "://" in text else "no scheme"
        raise ValueError(f"{setting} must be {_RULE} (got {kind})")
    if not url.raw_host:
        raise ValueError(f"{setting} must be {_RULE} (got no host)")
    if url.raw_path not in ("", "/") or url.raw_query_string or url.raw_fragment:
        raise ValueError(f"{setting} must be {_RULE} (got a path, query or fragment)")
    try:
        return Proxy(url.raw_host, port or 80, url.user, url.password)
    except ValueError as exc:  # a ':' in the user name
        raise ValueError(f"{setting}: {exc}") from None


def choose(url: URL, explicit: Proxy | None, trust_env: bool) -> Proxy | None:
    """The proxy for requests to ``url``: ``explicit`` if given, else the environment's
    (with ``trust_env``), else None (connect directly).

    Raises:
        ValueError: the environment names a proxy that is not an ``http://`` URL.
    """
    if explicit is not None:
        return explicit
    if not trust_env:
        return None
    proxies = urllib.request.getproxies_environment()
    key = url.scheme if proxies.get(url.scheme) else "all"
    value = proxies.get(key)
    if not value or key not in _VARIABLES or _bypassed(url, proxies):
        return None
    variable = _VARIABLES[key]
    try:
        return parse_proxy(value, f"{variable} (or {variable.lower()})", lenient=True)
    except ValueError as exc:
        raise ValueError(f"{exc}; or pass trust_env=False, or proxy=...") from None


def _bypassed(url: URL, proxies: dict[str, str]) -> bool:
    host = url.raw_host or ""
    port = url.port
    with_port = _authority(host, port) if port is not None else host
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return bool(bypass(with_port, proxies) or bypass(host, proxies))


async def open_tunnel(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, proxy: Proxy, host: str, port: int
) -> None:
    """Ask ``proxy``, connected on ``sock``, for a tunnel to ``host:port``.

    On return the socket carries bytes to and from the origin.

    Raises:
        TunnelError: the proxy refused, closed, or answered something that is not HTTP.
        OSError: the connection to the proxy failed.
    """
    authority = _authority(host, port)
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if proxy.authorization is not None:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    head, extra = await _read_head(loop, sock, proxy)
    match = _STATUS_LINE.fullmatch(head.split(b"\r\n", 1)[0])
    if match is None:
        raise TunnelError(
            f"the proxy at {proxy.where} answered CONNECT with something that is not HTTP",
            retryable=False,
        )
    status = int(match.group(1))
    if not 200 <= status < 300:
        reason = (match.group(2) or b"").decode("latin-1")
        raise _refused(f"the proxy at {proxy.where}", authority, status, reason)
    if extra:  # the origin has not been spoken to: nothing may come from it yet
        raise TunnelError(
            f"the proxy at {proxy.where} sent bytes after its answer to CONNECT", retryable=True
        )


async def _read_head(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, proxy: Proxy
) -> tuple[bytes, bytes]:
    """The answer's head (up to the empty line) and whatever came after it."""
    buffer = bytearray()
    while True:
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk:
            raise TunnelError(
                f"the proxy at {proxy.where} closed the connection without answering CONNECT",
                retryable=True,
            )
        buffer += chunk
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            return bytes(buffer[:end]), bytes(buffer[end + 4 :])
        if len(buffer) > MAX_TUNNEL_HEAD:
            raise TunnelError(
                f"the proxy at {proxy.where} answered CONNECT with a head longer than "
                f"{MAX_TUNNEL_HEAD} bytes",
                retryable=False,
            )


def refusal(exc: aiohttp.ClientHttpProxyError) -> TunnelError:
    """aiohttp's error for a proxy that refused ``CONNECT``, as a :class:`TunnelError` with
    the reason sanitised (aiohttp's own message carries it as the proxy sent it)."""
    return _refused("the proxy", "", exc.status, str(exc.message))


def _refused(who: str, authority: str, status: int, reason: str) -> TunnelError:
    text = printable(reason.strip(), _REASON_LENGTH)
    to = f" to {authority}" if authority else ""
    return TunnelError(
        f"{who} refused the tunnel{to}: HTTP {status}" + (f" {text}" if text else ""),
        retryable=status >= 500 or status in (408, 429),
    )


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
