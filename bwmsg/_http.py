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
- addresses looked up once and cached for ``dns_ttl`` seconds, tried in the order given;
- TLS through :mod:`ssl` with the server's name checked (unless verification is turned off);
- answers framed by ``Content-Length``, ``Transfer-Encoding: chunked`` or the end of the
  connection; ``1xx`` interim answers skipped; ``gzip``/``deflate`` bodies inflated; heads and
  bodies bounded in size;
- failures classified by what the server may have seen: :class:`ConnectError` (nothing was
  written), :class:`ExchangeError` (the request was written, no whole answer came back),
  :class:`asyncio.TimeoutError` (no whole answer in time). A body cut off after a complete
  head is not an error: :attr:`Answer.body` is then None.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl as ssl_module
import zlib
from collections.abc import Mapping
from typing import Any, cast

from yarl import URL

__all__ = ["MAX_BODY", "MAX_HEAD", "Answer", "ConnectError", "Connection", "ExchangeError", "Pool"]

CLOSE_GRACE = 0.5
"""Seconds :meth:`Pool.close` waits for connections to close before cutting them off."""

MAX_HEAD = 64 * 1024
"""The most bytes a status line and headers may take."""
MAX_BODY = 8 * 1024 * 1024
"""The most bytes an answer's body may take (Bandwidth's are well under 1 KiB)."""


class ConnectError(Exception):
    """No connection could be made: nothing was written.

    ``retryable`` is False when asking again cannot help (the server's certificate was refused).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ExchangeError(Exception):
    """The request was written (or may have been) but no complete answer head came back."""


class Answer:
    """A server's answer: status, reason, headers (names lower-cased) and body.

    ``body`` is None when the head arrived whole and the body did not.
    """

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes | None):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body


# How an answer's body is framed.
_NONE, _LENGTH, _CHUNKED, _UNTIL_CLOSE = range(4)


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes a request, parses the answer, says if it can be reused."""

    __slots__ = (
        "_answer",
        "_buffer",
        "_chunk_left",
        "_chunk_state",
        "_framing",
        "_left",
        "_parts",
        "_poll",
        "_scan",
        "closed",
        "idle_since",
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
        self.on_lost: asyncio.Future[None] | None = None
        self._poll: Any = None
        self._buffer = bytearray()
        self._reset()

    def _reset(self) -> None:
        self._answer: Answer | None = None  # set once the head is parsed
        self._framing = _NONE
        self._left = 0
        self._parts: list[bytes] = []
        self._chunk_state = 0  # 0: size line, 1: data, 2: CRLF after data, 3: trailers
        self._chunk_left = 0
        self._scan = 0  # where to resume looking for the end of the head

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
        buffer = self._buffer
        buffer += data
        try:
            while self._answer is None:  # more than one head when 1xx answers come first
                if not self._parse_head():
                    return
            if self._parse_body():
                self._complete()
        except _Malformed as exc:
            self._fail(ExchangeError(f"malformed answer from the server: {exc}"))

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
        if answer is not None and self._framing == _UNTIL_CLOSE:
            self._parts.append(bytes(self._buffer))  # the close ends the body
            self._buffer.clear()
            self._complete()
        elif answer is not None:
            answer.body = None  # the head came whole, the body was cut off
            self._finish(answer)
        else:
            reason = f": {exc}" if exc else ""
            waiter.set_exception(
                ExchangeError(f"the connection closed before an answer came{reason}")
            )

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
            waiter.set_exception(asyncio.TimeoutError())
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

    # -- parsing ------------------------------------------------------------------------------

    def _parse_head(self) -> bool:
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n", self._scan)
        if end < 0 or end > MAX_HEAD:
            if len(buffer) > MAX_HEAD:
                raise _Malformed(f"the head is longer than {MAX_HEAD} bytes")
            self._scan = max(0, len(buffer) - 3)
            return False
        head = buffer[:end].decode("latin-1")
        del buffer[: end + 4]
        self._scan = 0
        lines = head.split("\r\n")
        status_line = lines[0]
        code = status_line[9:12]
        if (
            not status_line.startswith("HTTP/1.")
            or len(status_line) < 12
            or status_line[8:9] != " "
            or status_line[12:13] not in ("", " ")
            or not code.isdigit()
            or not code.isascii()
        ):
            raise _Malformed(f"bad status line {status_line[:80]!r}")
        status = int(code)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name[-1] in " \t" or name[0] in " \t":
                raise _Malformed(f"bad header line {line[:80]!r}")
            key = name.lower()
            value = value.strip(" \t")
            if key in headers:
                if key == "content-length":
                    if headers[key] != value:
                        raise _Malformed("conflicting Content-Length headers")
                    continue
                value = f"{headers[key]}, {value}"
            headers[key] = value
        if 100 <= status < 200:
            return True  # an interim answer: the real one follows
        http10 = status_line[7:8] == "0"
        tokens = headers.get("connection", "").lower()
        if ("close" in tokens) or (http10 and "keep-alive" not in tokens):
            self.reusable = False
        self._answer = Answer(status, status_line[13:], headers, None)
        coding = headers.get("transfer-encoding")
        if status in (204, 304):
            self._framing = _NONE
        elif coding is not None:
            if coding.lower().rsplit(",", 1)[-1].strip() != "chunked":
                raise _Malformed(f"unsupported Transfer-Encoding {coding!r}")
            self._framing = _CHUNKED
        elif "content-length" in headers:
            length = headers["content-length"]
            if not (length.isdigit() and length.isascii()):
                raise _Malformed(f"bad Content-Length {length!r}")
            self._left = int(length)
            if self._left > MAX_BODY:
                raise _Malformed(f"the body is larger than {MAX_BODY} bytes")
            self._framing = _LENGTH
        else:
            self._framing = _UNTIL_CLOSE
            self.reusable = False
        return True

    def _parse_body(self) -> bool:
        """Consume body bytes from the buffer; True once the body is complete."""
        buffer = self._buffer
        framing = self._framing
        if framing == _LENGTH:
            if len(buffer) < self._left:
                return False
            self._parts.append(bytes(buffer[: self._left]))
            del buffer[: self._left]
            return True
        if framing == _NONE:
            return True
        if framing == _UNTIL_CLOSE:
            if len(buffer) > MAX_BODY:
                raise _Malformed(f"the body is larger than {MAX_BODY} bytes")
            return False
        return self._parse_chunks()

    def _parse_chunks(self) -> bool:
        buffer = self._buffer
        while True:
            state = self._chunk_state
            if state == 0:  # size line
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > 1024:
                        raise _Malformed("chunk size line too long")
                    return False
                size_text = bytes(buffer[:end]).split(b";", 1)[0].strip()
                del buffer[: end + 2]
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise _Malformed(f"bad chunk size {size_text[:20]!r}") from None
                if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                    raise _Malformed(f"bad chunk size {size_text[:20]!r}")
                if size == 0:
                    self._chunk_state = 3
                    continue
                self._left += size
                if self._left > MAX_BODY:
                    raise _Malformed(f"the body is larger than {MAX_BODY} bytes")
                self._chunk_left = size
                self._chunk_state = 1
            elif state == 1:  # data
                if not buffer:
                    return False
                take = min(self._chunk_left, len(buffer))
                self._parts.append(bytes(buffer[:take]))
                del buffer[:take]
                self._chunk_left -= take
                if self._chunk_left:
                    return False
                self._chunk_state = 2
            elif state == 2:  # the CRLF after a chunk's data
                if len(buffer) < 2:
                    return False
                if buffer[:2] != b"\r\n":
                    raise _Malformed("chunk data not followed by CRLF")
                del buffer[:2]
                self._chunk_state = 0
            else:  # trailers, up to an empty line
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > MAX_HEAD:
                        raise _Malformed("trailers too long")
                    return False
                del buffer[: end + 2]
                if end == 0:
                    return True

    def _decoded(self, body: bytes) -> bytes:
        assert self._answer is not None
        coding = self._answer.headers.get("content-encoding", "").lower().strip()
        if coding in ("", "identity"):
            return body
        if coding in ("gzip", "x-gzip"):
            return _inflate(body, 16 + zlib.MAX_WBITS, coding)
        if coding == "deflate":
            try:
                return _inflate(body, zlib.MAX_WBITS, coding)
            except _Malformed:
                return _inflate(body, -zlib.MAX_WBITS, coding)  # raw deflate, no zlib header
        raise _Malformed(f"unsupported Content-Encoding {coding!r}")

    def _complete(self) -> None:
        answer = self._answer
        assert answer is not None
        parts = self._parts
        try:
            answer.body = self._decoded(parts[0] if len(parts) == 1 else b"".join(parts))
        except _Malformed:
            answer.body = None
        if self._buffer:
            self.reusable = False  # more bytes than the answer: the stream cannot be trusted
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
        connect_timeout: the most seconds opening one connection may take.
        keepalive: seconds an idle connection is kept before it is closed.
        dns_ttl: seconds a host name's addresses are cached.
    """

    def __init__(
        self,
        url: URL,
        *,
        ssl: ssl_module.SSLContext | bool = True,
        connect_timeout: float = 15.0,
        keepalive: float = 10.0,
        dns_ttl: float = 300.0,
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
        self._addresses: list[tuple[int, Any]] | None = None
        self._addresses_until = 0.0
        self._lookup: asyncio.Future[list[tuple[int, Any]]] | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        host = f"[{self._host}]" if ":" in self._host else self._host
        default = self._port == (443 if url.scheme == "https" else 80)
        self._authority = host if default else f"{host}:{self._port}"

    @property
    def connections(self) -> int:
        """Connections open right now (idle or in use)."""
        return sum(1 for c in self._all if not c.closed)

    def head(self, headers: Mapping[str, str]) -> bytes:
        """The start of a POST request to the pool's URL with ``headers``, up to and including
        ``Content-Length: ``: :meth:`post` adds the length and the body."""
        lines = [f"POST {self._url.raw_path_qs or '/'} HTTP/1.1", f"Host: {self._authority}"]
        for name, value in headers.items():
            text = f"{name}{value}"
            if "\r" in text or "\n" in text or ":" in name or not name:
                raise ValueError(f"header {name!r} cannot be sent: it has a line break or colon")
            if name.lower() in ("host", "content-length", "transfer-encoding", "connection"):
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
            asyncio.TimeoutError: no whole answer within ``timeout`` (it may have been sent).
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
            asyncio.TimeoutError: no whole answer by ``deadline``.
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
            connection.idle_since = loop.time()
            self._idle.append(connection)
            if self._sweeper is None:
                self._sweeper = loop.call_at(loop.time() + self._keepalive, self._sweep, loop)
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
                if loop.time() - connection.idle_since < self._keepalive and not connection.stale():
                    return connection
                connection.close()
            self._all.discard(connection)
        return None

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        # Close connections idle for longer than keep-alive allows; come back while any remain.
        self._sweeper = None
        limit = loop.time() - self._keepalive
        keep = []
        for connection in self._idle:
            if connection.closed or connection.idle_since <= limit:
                connection.close()
                self._all.discard(connection)
            else:
                keep.append(connection)
        self._idle[:] = keep
        if keep and not self._closed:
            oldest = min(c.idle_since for c in keep)
            self._sweeper = loop.call_at(oldest + self._keepalive, self._sweep, loop)

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Connection:
        if self._closed:
            raise ConnectError("the connection pool is closed", retryable=False)
        connect_by = min(deadline, loop.time() + self._connect_timeout)
        where = f"{self._host}:{self._port}"
        try:
            addresses = await asyncio.wait_for(
                self._resolve(loop), max(0.0, connect_by - loop.time())
            )
        except asyncio.TimeoutError:
            raise ConnectError(f"looking up {self._host} timed out") from None
        error: Exception | None = None
        for tried, (family, address) in enumerate(addresses):
            # Each address left gets an equal share of the time left, so that one that does
            # not answer (an unreachable IPv6 route, say) leaves time for the next.
            share = (connect_by - loop.time()) / (len(addresses) - tried)
            try:
                _, connection = await asyncio.wait_for(
                    loop.create_connection(
                        Connection,
                        address[0],
                        address[1],
                        family=family,
                        ssl=self._ssl,
                        server_hostname=self._host if self._ssl is not None else None,
                    ),
                    max(0.0, share),
                )
            except ssl_module.SSLError as exc:
                raise ConnectError(f"TLS with {where} failed: {exc}", retryable=False) from exc
            except asyncio.TimeoutError as exc:
                error = exc
                if tried == len(addresses) - 1:
                    raise ConnectError(f"connecting to {where} timed out") from exc
                continue
            except OSError as exc:
                error = exc
                continue
            if self._closed:
                connection.abort()
                raise ConnectError("the connection pool is closed", retryable=False)
            self._all.add(connection)
            return connection
        raise ConnectError(f"could not connect to {where}: {error}") from error

    async def _resolve(self, loop: asyncio.AbstractEventLoop) -> list[tuple[int, Any]]:
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

    async def _getaddrinfo(self, loop: asyncio.AbstractEventLoop) -> list[tuple[int, Any]]:
        try:
            infos = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ConnectError(f"could not look up {self._host}: {exc}") from exc
        found: list[tuple[int, Any]] = []
        for family, _type, _proto, _name, address in infos:
            if (family, address) not in found:
                found.append((family, address))
        if not found:
            raise ConnectError(f"{self._host} has no address")
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
