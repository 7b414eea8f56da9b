"""bwmsg's own HTTP/1.1 client for the send path: a keep-alive pool of asyncio protocols.

The send path does one thing: POST a small JSON body to one origin and read a small answer,
tens of thousands of times a second. aiohttp's client does far more per request (URL and
header merging, cookies, redirects, tracing, a stream reader per response): through this
module, ``send_many`` — which also builds, validates and parses every message — uses about
0.4 times the CPU per message of a bare aiohttp loop posting a fixed body
(``benchmarks/RESULTS.md``). Everything else — OAuth2 tokens, listing messages, a session the
user passes in, ``trace_configs`` — stays on aiohttp.

What this client does:

- one :class:`Pool` per origin: idle connections kept (newest first) for ``keepalive`` seconds,
  then closed; a connection the server closed (or that has unasked-for bytes waiting) is not
  handed out, as far as the socket can tell before the write; the pool never opens more
  connections than callers hold at once (the Sender bounds that by its concurrency);
- addresses looked up once and cached for ``dns_ttl`` seconds, tried by happy eyeballs
  (RFC 8305, through aiohappyeyeballs: the next address after 250 ms, IPv6 and IPv4
  alternating), so one that never answers costs a quarter of a second, not the timeout;
- through an HTTP proxy when given one (``_proxy.py``): absolute-form requests for
  ``http://``, a ``CONNECT`` tunnel then TLS for ``https://``;
- TLS through :mod:`ssl` with the server's name checked (unless verification is turned off);
- answers parsed by llhttp, Node.js's HTTP parser, through httptools'
  ``HttpResponseParser`` (the binding uvicorn uses; aiohttp has its own copy): strict about
  what it refuses — CR, LF or NUL in header values, anything but a token as a header name,
  versions other than HTTP/1.0 and 1.1, ``Content-Length`` beside ``Transfer-Encoding`` —
  and told to accept, as aiohttp does for responses, lines ended by a bare LF and spaces
  after a chunk's size. On top of it, bwmsg: finds each head's end itself and feeds it whole,
  up to :data:`MAX_HEAD` bytes; unfolds obs-folded header lines (RFC 9112 §5.2) and takes
  repeated equal ``Content-Length`` lines as one, both refused by llhttp; refuses a NUL in the
  reason phrase, an unasked-for ``101`` and transfer codings other than ``chunked``; skips
  other ``1xx`` interim answers; bounds bodies by :data:`MAX_BODY` (inflated ``gzip`` and
  ``deflate`` ones too) and chunk framing by :data:`MAX_HEAD`; ends a body framed by the end
  of the connection at the close; the reason phrase is made printable and cut by
  :class:`Answer` (its ``MAX_REASON``), whichever transport read it;
- a connection reused only after an answer that allows it (not ``Connection: close``, not
  HTTP/1.0 without keep-alive, no framing by the close, no bytes beyond the answer), and
  never kept idle longer than the server's ``Keep-Alive: timeout`` less
  :data:`KEEPALIVE_MARGIN`;
- failures classified by what the server may have seen, as the Transport protocol says
  (``_base.py``): :class:`ConnectError` (nothing was written), :class:`ExchangeError` (the
  request was written, no whole answer came back), :class:`AnswerTimeout` (no whole answer in
  time). A body cut off after a complete
  head is not an error: :attr:`Answer.body` is then None.

Over 500 lines (about 840, a third of them docstrings) for one concept: the connection, its
parser callbacks and the pool that keeps connections are one state machine whose parts hand
each other the socket, the answer being read and the keep-alive decision on every message;
address lookup and happy eyeballs (aiohappyeyeballs) and the proxy (``_proxy.py``) are
already outside it.
"""

from __future__ import annotations

import asyncio
import math
import re
import select
import socket
import ssl as ssl_module
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, cast

import aiohappyeyeballs
import httptools
from yarl import URL

from .._printable import printable
from ._base import Answer, AnswerTimeout, ConnectError, ExchangeError
from ._proxy import Proxy, TunnelError, open_tunnel

__all__ = ["MAX_BODY", "MAX_HEAD", "Connection", "Pool"]

CLOSE_GRACE = 0.5
"""Seconds :meth:`Pool.close` waits for connections to close before cutting them off."""

MAX_HEAD = 64 * 1024
"""The most bytes a status line and headers may take."""
MAX_BODY = 8 * 1024 * 1024
"""The most bytes an answer's body may take (Bandwidth's are well under 1 KiB)."""


KEEPALIVE_MARGIN = 1.0
"""Seconds taken off a server's ``Keep-Alive: timeout=N`` (but at most half of N): a request
written just before the server's timer fires would meet a closing connection."""

_LENIENT = {
    # What a client must accept from servers and llhttp refuses by default (aiohttp sets these
    # too for responses): lines ended by a bare LF, spaces or tabs after a chunk's size. Not
    # lenient_headers: it would let CR, NUL and other controls into header values.
    "lenient_optional_cr_before_lf": True,
    "lenient_spaces_after_chunk_size": True,
}
_FOLD = re.compile(rb"\r?\n[ \t]+")
# llhttp's words for what _mended() mends.
_MENDABLE = frozenset(("Unexpected whitespace after header value", "Duplicate Content-Length"))
_KEEPALIVE_TIMEOUT = re.compile(r"(?:^|[\s,;])timeout\s*=\s*\"?(\d{1,9})", re.IGNORECASE)


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes a request, parses the answer, says if it can be reused.

    The parser is llhttp's (httptools' ``HttpResponseParser``, calling the ``on_*`` methods);
    each head is handed to it whole, once bwmsg has found its end (see :meth:`_read_heads`).
    ``keepalive`` is how long the server keeps the connection idle (with a margin), when it
    said so in a ``Keep-Alive`` header; otherwise infinity.
    """

    __slots__ = (
        "_answer",
        "_done",
        "_headers",
        "_parser",
        "_parts",
        "_pending",
        "_poll",
        "_reason",
        "_received",
        "_scan",
        "_size",
        "_until_close",
        "closed",
        "idle_since",
        "keepalive",
        "on_lost",
        "reusable",
        "transport",
        "waiter",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.closed = False
        self.reusable = True
        self.idle_since = 0.0
        self.keepalive = math.inf
        self.on_lost: asyncio.Future[None] | None = None
        self._poll: Any = None
        self._parser = _new_parser(self)
        self._pending = b""  # the start of a head whose end has not come yet
        self._scan = 0  # where in it to resume looking for the end
        self._reset()
        self.on_message_begin()

    def _reset(self) -> None:
        self._answer: Answer | None = None  # set once the final head is parsed
        self._done = False  # the parser reached the end of the current message
        self._received = 0  # bytes fed to the parser after the final head

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(sock.fileno(), select.POLLIN | select.POLLPRI)

    def stale(self) -> bool:
        """True when the idle connection has something to read: the server's close (or bytes
        nobody asked for) that the event loop has not handled yet. Such a connection must not
        carry a request: the server would never read it, yet the failure would look
        ambiguous."""
        poll = self._poll
        return poll is not None and bool(poll.poll(0))

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            # Bytes nobody asked for: the connection's state is unknown, so it is not reused.
            self.abort()
            return
        try:
            if self._answer is None:
                self._read_heads(data)
            else:
                self._received += len(data)
                self._parser.feed_data(data)
            if not self._done and self._received - self._size > MAX_HEAD:
                # llhttp does not bound chunk size lines, extensions or trailers.
                raise _Malformed(f"the chunk framing takes more than {MAX_HEAD} bytes")
        except (httptools.HttpParserError, httptools.HttpParserUpgrade, _Malformed) as exc:
            if not self._done:
                error = ExchangeError(f"malformed answer from the server: {_why(exc)}")
                error.__cause__ = exc
                self._fail(error)
                return
            self.reusable = False  # bytes beyond the answer: the stream cannot be trusted
        if self._done:
            self._complete()

    def eof_received(self) -> bool | None:
        return None  # let the transport close itself: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        self.transport = None
        self._poll = None
        if self.on_lost is not None and not self.on_lost.done():
            self.on_lost.set_result(None)
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        answer = self._answer
        if answer is None:
            reason = f": {exc}" if exc else ""
            waiter.set_exception(
                ExchangeError(f"the connection closed before an answer came{reason}")
            )
        elif self._until_close:
            self._complete()  # the close ends the body
        else:
            answer.body = None  # the head came whole, the body was cut off
            self._finish(answer)

    # -- used by the pool ---------------------------------------------------------------------

    def send(self, data: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Answer]:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectError("the connection closed before the request was written")
        waiter = loop.create_future()
        self.waiter = waiter
        transport.write(data)
        return waiter

    def expire(self) -> None:
        """The deadline passed: fail the request and drop the connection."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(AnswerTimeout("no whole answer by the deadline"))
            self.abort()

    def abort(self) -> None:
        self.reusable = False
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.reusable = False
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- heads: found here, parsed by llhttp --------------------------------------------------

    def _read_heads(self, data: bytes) -> None:
        """Feed the parser each head in ``data`` (after what earlier reads left) once it has
        come whole: 1xx interim answers one by one, then the final head with what follows it.
        An unfinished head is kept for the next read."""
        if self._pending:
            data = self._pending + data
            self._pending = b""
        while True:
            end = _head_end(data, self._scan)
            if end < 0 or end > MAX_HEAD + 4:
                if len(data) > MAX_HEAD + 3:
                    raise _Malformed(f"the head is longer than {MAX_HEAD} bytes")
                self._pending = data
                self._scan = max(0, len(data) - 2)
                return
            self._scan = 0
            if not data.startswith(b"HTTP/1."):  # llhttp checks the minor version: 0 or 1
                if not data.startswith((b"\r", b"\n")):
                    raise _Malformed("the answer is not HTTP/1.1")
                data = data.lstrip(b"\r\n")  # empty lines before a status line (RFC 9112 §2.2)
                continue
            if data[9:10] != b"1":  # the usual: a final head, fed with what follows it
                self._received = len(data) - end
                self._feed_head(data, end)
                return
            self._feed_head(data[:end], end)
            if not self._done:
                raise _Malformed("an interim (1xx) answer with a body")
            self._done = False
            data = data[end:]

    def _feed_head(self, data: bytes, end: int) -> None:
        """Feed ``data``: a head (up to ``end``) and what follows it. What llhttp refuses
        and a client must accept is mended, then fed to a new parser (the old one stopped)."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if str(exc) not in _MENDABLE:
                raise
            self._answer = None
            self._parser = _new_parser(self)
            self._parser.feed_data(_mended(data[:end]) + data[end:])

    # -- llhttp's callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._done:  # another message after the answer, in the same read
            raise _Malformed("bytes after the answer")
        self._headers: dict[str, str] = {}
        self._reason = b""
        self._parts: list[bytes] = []
        self._size = 0
        self._until_close = False

    def on_status(self, status: bytes) -> None:
        # Called once per head: heads are fed whole. llhttp refuses CR and LF in it, not NUL.
        # The byte as an int: ``b"\0" in`` first tries the operand as an int and raises and
        # clears a TypeError inside CPython (about 1,800 instructions, every answer).
        if 0 in status:
            raise _Malformed("a NUL in the reason phrase")
        self._reason = status

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower().decode("latin-1")  # a token: ASCII
        text = value.rstrip(b" \t").decode("latin-1")  # llhttp took the leading spaces off
        headers = self._headers
        if key in headers:
            text = f"{headers[key]}, {text}"
        headers[key] = text

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        if 100 <= status < 200:
            if status == 101:
                raise _Malformed("101 Switching Protocols, and no upgrade was asked for")
            return  # an interim answer: the real one follows
        headers = self._headers
        self._until_close = _framed_by_close(status, headers)
        if not parser.should_keep_alive():  # Connection: close, HTTP/1.0, framed by the close
            self.reusable = False
        if "keep-alive" in headers:
            self.keepalive = _server_keepalive(headers["keep-alive"])
        self._answer = Answer(status, self._reason.decode("latin-1"), headers, None)
        self._headers = {}  # where trailers go, after the last chunk: not kept

    def on_body(self, body: bytes) -> None:
        size = self._size + len(body)
        if size > MAX_BODY:
            raise _Malformed(f"the body is larger than {MAX_BODY} bytes")
        self._size = size
        self._parts.append(body)

    def on_message_complete(self) -> None:
        self._done = True

    # -- the end of an answer -----------------------------------------------------------------

    def _complete(self) -> None:
        answer = self._answer
        assert answer is not None
        parts = self._parts
        answer.body = parts[0] if len(parts) == 1 else b"".join(parts)
        if "content-encoding" in answer.headers:
            try:
                answer.body = _decoded(answer.headers["content-encoding"], answer.body)
            except _Malformed:
                answer.body = None
        self._finish(answer)

    def _finish(self, answer: Answer) -> None:
        waiter = self.waiter
        self._reset()
        if not self.reusable:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, error: Exception) -> None:
        waiter = self.waiter
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


class _Malformed(Exception):
    pass


def _new_parser(connection: Connection) -> httptools.HttpResponseParser:
    parser = httptools.HttpResponseParser(connection)
    parser.set_dangerous_leniencies(**_LENIENT)
    return parser


def _why(exc: Exception) -> str:
    """What was wrong, for an error message: bwmsg's own words (raised in a callback, which
    httptools chains as the context) or llhttp's, which are fixed phrases."""
    cause = exc.__context__ if isinstance(exc, httptools.HttpParserCallbackError) else exc
    return str(cause if isinstance(cause, _Malformed) else exc)


def _head_end(data: bytes, start: int) -> int:
    """Where the head in ``data`` ends (just past its empty line, after CRLF or a bare LF),
    searching from ``start``; -1 when it has not come yet."""
    crlf = data.find(b"\n\r\n", start)
    lf = data.find(b"\n\n", start, len(data) if crlf < 0 else crlf + 1)
    if lf >= 0:
        return lf + 2
    return crlf + 3 if crlf >= 0 else -1


def _mended(head: bytes) -> bytes:
    """``head`` with each obs-fold (a line break then spaces or tabs) made one space, as a
    client must (RFC 9112 §5.2), and repeated equal Content-Length lines kept once, as RFC 9110
    §8.6 allows (h11 does). A line starting with whitespace just after the status line folds
    nothing: it is left for llhttp to refuse."""
    start = head.find(b"\n") + 1
    return _one_length(head[:start] + _FOLD.sub(b" ", head[start:]))


def _one_length(head: bytes) -> bytes:
    """``head`` with repeated Content-Length lines kept once; different values are refused."""
    if head.lower().count(b"content-length") < 2:
        return head
    lines = []
    length: bytes | None = None
    for line in head.split(b"\n"):
        name, colon, value = line.partition(b":")
        if colon and name.lower() == b"content-length":
            if length is not None:
                if value.strip(b" \t\r") != length:
                    raise _Malformed("conflicting Content-Length headers")
                continue
            length = value.strip(b" \t\r")
        lines.append(line)
    return b"\n".join(lines)


def _excerpt(text: str) -> str:
    return f"'{printable(text, 43)}'"


def _framed_by_close(status: int, headers: dict[str, str]) -> bool:
    """Whether the body runs to the end of the connection. Refuses a transfer coding other
    than chunked (llhttp would read to the close) and a Content-Length above MAX_BODY."""
    if status in (204, 304):
        return False
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.lower() != "chunked":
            raise _Malformed(f"unsupported Transfer-Encoding {_excerpt(coding)}")
        return False
    length = headers.get("content-length")
    if length is None:
        return True
    if int(length) > MAX_BODY:  # llhttp checked that it is digits
        raise _Malformed(f"the body is larger than {MAX_BODY} bytes")
    return False


def _server_keepalive(value: str) -> float:
    """How long a connection may stay idle, by a server's ``Keep-Alive: timeout=N, ...``."""
    found = _KEEPALIVE_TIMEOUT.search(value)
    if found is None:
        return math.inf
    seconds = int(found.group(1))
    return max(seconds - KEEPALIVE_MARGIN, seconds / 2)


def _decoded(coding: str, body: bytes) -> bytes:
    coding = coding.lower()
    if coding in ("", "identity"):
        return body
    if coding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, coding)
    if coding == "deflate":
        try:
            return _inflate(body, zlib.MAX_WBITS, coding)
        except _Malformed:
            return _inflate(body, -zlib.MAX_WBITS, coding)  # raw deflate, no zlib header
    raise _Malformed(f"unsupported Content-Encoding {_excerpt(coding)}")


def _inflate(body: bytes, wbits: int, coding: str) -> bytes:
    # Bounded: a small compressed body must not become a huge one.
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, MAX_BODY + 1)
    except zlib.error as exc:
        raise _Malformed(f"could not inflate the {coding} body: {exc}") from None
    if len(out) > MAX_BODY or inflater.unconsumed_tail:
        raise _Malformed(f"the inflated body is larger than {MAX_BODY} bytes")
    if not inflater.eof:
        raise _Malformed(f"the {coding} body is cut off")
    return out


def _context(ssl: ssl_module.SSLContext | bool) -> ssl_module.SSLContext:
    if isinstance(ssl, ssl_module.SSLContext):
        return ssl
    context = ssl_module.create_default_context()
    if ssl is False:
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    return context


class Pool:
    """Keep-alive connections to one origin, for POSTing bodies and reading the answers.

    Args:
        url: the URL requests go to (its scheme, host and port make the origin).
        ssl: as the Sender's ``ssl``: True verifies certificates, an ``SSLContext`` is used as
            given, False turns verification off. Ignored for ``http://``.
        connect_timeout: the most seconds opening one connection may take (the look-up, the
            TCP connection, a proxy's tunnel and the TLS handshake together); None: half of
            the time left before the request's deadline, as the Sender's aiohttp session has.
        keepalive: seconds an idle connection is kept before it is closed.
        dns_ttl: seconds a host name's addresses are cached.
        proxy: connect through this HTTP proxy: requests in absolute form to it for an
            ``http://`` URL, a ``CONNECT`` tunnel (then TLS to the origin) for ``https://``.
        addresses: ``(ip, port)`` pairs to connect to, in this order, instead of looking the
            name up (the proxy's, with ``proxy``); the URL's host is still the one named in
            requests and checked against the certificate.
    """

    def __init__(
        self,
        url: URL,
        *,
        ssl: ssl_module.SSLContext | bool = True,
        connect_timeout: float | None = 15.0,
        keepalive: float = 10.0,
        dns_ttl: float = 300.0,
        proxy: Proxy | None = None,
        addresses: Sequence[tuple[str, int]] | None = None,
    ) -> None:
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise ValueError(f"an http(s) URL is needed, got {url}")
        self._url = url
        self._host = url.raw_host
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = _context(ssl) if url.scheme == "https" else None
        self._connect_timeout = connect_timeout
        self._keepalive = keepalive
        self._dns_ttl = dns_ttl
        self._idle: list[Connection] = []
        self._all: set[Connection] = set()
        self._addresses: list[AddrInfo] | None = None
        self._addresses_until = 0.0
        self._lookup: asyncio.Future[list[AddrInfo]] | None = None
        self._opening: set[asyncio.Future[Connection]] = set()  # connections being opened
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        host = f"[{self._host}]" if ":" in self._host else self._host
        default = self._port == (443 if url.scheme == "https" else 80)
        self._authority = host if default else f"{host}:{self._port}"
        self._origin = f"{host}:{self._port}"
        # Where connections go: the proxy, or the origin itself.
        self._proxy = proxy
        self._tunnel = proxy is not None and self._ssl is not None
        self._dial_host = proxy.host if proxy is not None else self._host
        self._dial_port = proxy.port if proxy is not None else self._port
        self._dial = f"the proxy at {proxy.where}" if proxy is not None else self._origin
        if addresses is not None:
            self._addresses = [_addrinfo(ip, port) for ip, port in addresses]
            self._addresses_until = math.inf
            if not self._addresses:
                raise ValueError("addresses, when given, must name at least one address")

    @property
    def connections(self) -> int:
        """Connections open right now (idle or in use)."""
        return sum(1 for c in self._all if not c.closed)

    # As the Transport protocol names them (see _base.py).

    def prepare(self, headers: Mapping[str, str]) -> bytes:
        """The same as :meth:`head`."""
        return self.head(headers)

    async def aclose(self) -> None:
        """The same as :meth:`close`."""
        await self.close()

    def head(self, headers: Mapping[str, str]) -> bytes:
        """The start of a POST request to the pool's URL with ``headers``, up to and including
        ``Content-Length: ``: :meth:`post` adds the length and the body."""
        target = self._url.raw_path_qs or "/"
        lines = []
        if self._proxy is not None and not self._tunnel:
            # To a proxy, in absolute form; through a tunnel the origin sees the usual form.
            target = f"http://{self._authority}{target}"
            if self._proxy.authorization is not None:
                lines.append(f"Proxy-Authorization: {self._proxy.authorization}")
        lines[:0] = [f"POST {target} HTTP/1.1", f"Host: {self._authority}"]
        for name, value in headers.items():
            text = f"{name}{value}"
            if "\r" in text or "\n" in text or ":" in name or not name:
                raise ValueError(f"header {name!r} cannot be sent: it has a line break or colon")
            if name.lower() in _POOL_HEADERS:
                continue  # the pool sets these itself
            lines.append(f"{name}: {value}")
        lines.append("Content-Length: ")
        return "\r\n".join(lines).encode("latin-1")

    async def post(self, head: bytes, body: bytes, timeout: float) -> Answer:
        """Send ``head`` (from :meth:`head`) with ``body``; wait at most ``timeout`` seconds.

        The same as :meth:`connection` then :meth:`exchange`.

        Raises:
            ConnectError: no connection could be made (nothing was written).
            ExchangeError: the request was written; no complete answer head came back.
            AnswerTimeout: no whole answer within ``timeout`` (it may have been sent).
        """
        deadline = asyncio.get_running_loop().time() + timeout
        return await self.exchange(await self.connection(deadline), head, body, deadline)

    async def connection(self, deadline: float) -> Connection:
        """A connection ready for one request: an idle one, or a new one opened by
        ``deadline`` (the loop's time). Nothing is written to it yet.

        Raises:
            ConnectError: no connection could be made.
        """
        loop = asyncio.get_running_loop()
        connection = self._take(loop)
        if connection is None:
            connection = await self._connect(loop, deadline)
        return connection

    async def exchange(
        self, connection: Connection, head: bytes, body: bytes, deadline: float
    ) -> Answer:
        """Write one request on ``connection`` (from :meth:`connection`) and read its answer.

        The request is written before the first suspension, so a caller cancelled while
        awaiting this may have sent it; one cancelled while awaiting :meth:`connection` has
        not. The connection goes back to the pool, or is closed.

        Raises:
            ConnectError: the connection closed before anything was written.
            ExchangeError: the request was written; no complete answer head came back.
            AnswerTimeout: no whole answer by ``deadline``.
        """
        loop = asyncio.get_running_loop()
        try:
            waiter = connection.send(b"%s%d\r\n\r\n%s" % (head, len(body), body), loop)
        except ConnectError:  # a connection that closed before it could be used
            self._all.discard(connection)
            raise
        timer = loop.call_at(deadline, connection.expire)
        try:
            answer = await waiter
        except BaseException:
            connection.abort()  # cancelled or failed: the connection's state is unknown
            self._all.discard(connection)
            raise
        finally:
            timer.cancel()
        if connection.reusable and not self._closed:
            now = connection.idle_since = loop.time()
            self._idle.append(connection)
            sweeper = self._sweeper
            if sweeper is None:
                self._sweeper = loop.call_at(now + self._idle_for(connection), self._sweep, loop)
            elif (
                connection.keepalive < self._keepalive
                and sweeper.when() > now + connection.keepalive
            ):
                sweeper.cancel()  # the server keeps this one for less: sweep it in time
                self._sweeper = loop.call_at(now + connection.keepalive, self._sweep, loop)
        else:
            connection.close()
            self._all.discard(connection)
        return answer

    def _take(self, loop: asyncio.AbstractEventLoop) -> Connection | None:
        idle = self._idle
        while idle:
            connection = idle.pop()  # the newest: the least likely to have been closed
            transport = connection.transport
            if not connection.closed and transport is not None and not transport.is_closing():
                idle_for = loop.time() - connection.idle_since
                if idle_for < self._idle_for(connection) and not connection.stale():
                    return connection
                connection.close()
            self._all.discard(connection)
        return None

    def _idle_for(self, connection: Connection) -> float:
        """How long ``connection`` may stay idle: the pool's keep-alive, or less when the
        server's ``Keep-Alive: timeout`` said so (see :data:`KEEPALIVE_MARGIN`)."""
        return min(self._keepalive, connection.keepalive)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        # Close connections idle for longer than keep-alive allows; come back while any remain.
        self._sweeper = None
        now = loop.time()
        keep = []
        for connection in self._idle:
            if connection.closed or connection.idle_since + self._idle_for(connection) <= now:
                connection.close()
                self._all.discard(connection)
            else:
                keep.append(connection)
        self._idle[:] = keep
        if keep and not self._closed:
            due = min(c.idle_since + self._idle_for(c) for c in keep)
            self._sweeper = loop.call_at(due, self._sweep, loop)

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Connection:
        if self._closed:
            raise ConnectError("the connection pool is closed", retryable=False)
        now = loop.time()
        budget = self._connect_timeout
        connect_by = min(deadline, now + budget) if budget is not None else (now + deadline) / 2
        try:
            addresses = await asyncio.wait_for(
                self._resolve(loop), max(0.0, connect_by - loop.time())
            )
        except asyncio.TimeoutError:
            raise ConnectError(f"looking up {self._dial_host} timed out") from None
        opening = asyncio.ensure_future(self._open(loop, addresses))
        self._opening.add(opening)
        try:
            connection = await asyncio.wait_for(opening, max(0.0, connect_by - loop.time()))
        except asyncio.TimeoutError as exc:
            raise ConnectError(f"connecting to {self._dial} timed out") from exc
        except asyncio.CancelledError:
            if opening.cancelled() and self._closed:  # close() stopped it, not our caller
                raise ConnectError("the connection pool is closed", retryable=False) from None
            raise
        finally:
            self._opening.discard(opening)
        if self._closed:
            connection.abort()
            raise ConnectError("the connection pool is closed", retryable=False)
        self._all.add(connection)
        return connection

    async def _open(self, loop: asyncio.AbstractEventLoop, addresses: list[AddrInfo]) -> Connection:
        """A new connection: TCP to the first address that answers (happy eyeballs: the next
        address is tried after HAPPY_EYEBALLS_DELAY, without giving up on the earlier ones,
        alternating IPv6 and IPv4), the proxy's tunnel if any, then TLS."""
        try:
            sock = await aiohappyeyeballs.start_connection(
                addresses, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY, interleave=1
            )
        except (OSError, RuntimeError) as exc:  # uvloop may raise RuntimeError
            raise ConnectError(f"could not connect to {self._dial}: {exc}") from exc
        try:
            if self._tunnel:
                assert self._proxy is not None
                await open_tunnel(loop, sock, self._proxy, self._host, self._port)
            _, connection = await loop.create_connection(
                Connection,
                sock=sock,
                ssl=self._ssl,
                server_hostname=self._host if self._ssl is not None else None,
            )
        except BaseException as exc:
            sock.close()
            if isinstance(exc, TunnelError):
                raise ConnectError(str(exc), retryable=exc.retryable) from None
            if isinstance(exc, ssl_module.SSLError):
                raise ConnectError(
                    f"TLS with {self._origin} failed: {exc}", retryable=False
                ) from exc
            if isinstance(exc, OSError):
                raise ConnectError(f"could not connect to {self._dial}: {exc}") from exc
            raise
        return connection

    async def _resolve(self, loop: asyncio.AbstractEventLoop) -> list[AddrInfo]:
        if self._addresses is not None and loop.time() < self._addresses_until:
            return self._addresses
        if self._lookup is None or self._lookup.done():
            # One look-up at a time, however many connections are being opened.
            self._lookup = asyncio.ensure_future(self._getaddrinfo(loop))
        lookup = self._lookup
        try:
            return await asyncio.shield(lookup)
        except asyncio.CancelledError:
            if lookup.cancelled() and self._closed:  # close() stopped it, not our caller
                raise ConnectError("the connection pool is closed", retryable=False) from None
            raise

    async def _getaddrinfo(self, loop: asyncio.AbstractEventLoop) -> list[AddrInfo]:
        host = self._dial_host
        try:
            infos = await loop.getaddrinfo(host, self._dial_port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ConnectError(f"could not look up {host}: {exc}") from exc
        found: list[AddrInfo] = []
        seen: set[tuple[int, Any]] = set()
        for family, type_, proto, _name, address in infos:
            if (family, address) not in seen:
                seen.add((family, address))
                found.append((family, type_, proto, "", address))
        if not found:
            raise ConnectError(f"{host} has no address")
        self._addresses = found
        self._addresses_until = loop.time() + self._dns_ttl
        return found

    async def close(self) -> None:
        """Close every connection; in-flight requests fail. Safe to call twice."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._lookup is not None and not self._lookup.done():
            self._lookup.cancel()
        for opening in list(self._opening):
            opening.cancel()
        connections = [c for c in self._all if c.transport is not None]
        self._all.clear()
        self._idle.clear()
        if not connections:
            return
        loop = asyncio.get_running_loop()
        waits = []
        for connection in connections:
            connection.on_lost = loop.create_future()
            waits.append(connection.on_lost)
            connection.close()
        # Let the transports finish closing (and release their sockets); a TLS peer that
        # does not answer the close is cut off after a short grace.
        _, late = await asyncio.wait(waits, timeout=CLOSE_GRACE)
        for connection in connections:
            if connection.on_lost in late and connection.transport is not None:
                connection.transport.abort()
        if late:
            await asyncio.wait(late, timeout=CLOSE_GRACE)


# -- connecting (used by Pool._open) ------------------------------------------------------------

HAPPY_EYEBALLS_DELAY = 0.25
"""Seconds before the next address is tried while earlier ones are still connecting (RFC 8305
recommends 250 ms): a filtered IPv6 route costs a quarter of a second, not the timeout."""

AddrInfo = tuple[int, int, int, str, Any]
"""One address as ``getaddrinfo`` gives it: family, type, protocol, canonical name, address."""

_POOL_HEADERS = frozenset(
    ("host", "content-length", "transfer-encoding", "connection", "proxy-authorization")
)


def _addrinfo(ip: str, port: int) -> AddrInfo:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))
