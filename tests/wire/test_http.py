"""Tests of ``bwmsg._http``: the send path's own keep-alive HTTP/1.1 client.

Wire behaviour is tested against real servers on 127.0.0.1 (:class:`tests.raw_server.RawServer`,
which writes exactly the bytes a test scripts); the answer parser is also fed directly through
:class:`Feeder` (a ``Connection`` on a fake transport) to split answers at every byte.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import socket
import ssl
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from bwmsg._transport import Answer, ConnectError, ExchangeError, _pool
from bwmsg._transport._pool import Connection, Pool
from tests.raw_server import DROP, HANG, OK, Reply, answer, raw_server
from tests.senders import open_pool, post
from tests.servers import WITHIN, free_port


async def client_noticed_close(pool: Pool) -> None:
    """Wait until every idle connection of ``pool`` has seen its end (bounded)."""
    loop = asyncio.get_running_loop()
    waits = []
    for connection in pool._idle:
        if not connection.closed:
            connection.on_lost = loop.create_future()
            waits.append(connection.on_lost)
    if waits:
        await asyncio.wait_for(asyncio.gather(*waits), WITHIN)


# -- feeding the parser directly ---------------------------------------------------------------


class FakeTransport(asyncio.Transport):
    """Enough of a transport for ``Connection``: records writes, closes and aborts."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted


@dataclass
class Parsed:
    """What became of one request on a fed ``Connection``."""

    outcome: Answer | BaseException | None  # None: still waiting
    reusable: bool  # could the connection take another request after this answer
    transport: FakeTransport = field(repr=False)

    @property
    def answer(self) -> Answer:
        assert isinstance(self.outcome, Answer), self.outcome
        return self.outcome


class Feeder:
    """Sends a request on a ``Connection`` with a fake transport and feeds it answer bytes."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()  # only to make futures: it never runs

    def __enter__(self) -> Feeder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.loop.close()

    def __call__(self, pieces: Iterable[bytes], *, eof: bool = False) -> Parsed:
        """Deliver ``pieces`` as a real transport would: never empty, none after the
        connection closed; then the end of the connection if it closed itself or ``eof``."""
        connection = Connection()
        transport = FakeTransport()
        connection.connection_made(transport)
        waiter = connection.send(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", self.loop)
        for piece in pieces:
            if transport.is_closing():
                break
            if piece:
                connection.data_received(piece)
        reusable = connection.reusable and not transport.is_closing()
        if eof or transport.is_closing():
            connection.connection_lost(None)
        outcome: Answer | BaseException | None = None
        if waiter.done():
            outcome = waiter.exception() or waiter.result()
        return Parsed(outcome, reusable, transport)


@pytest.fixture
def feed() -> Iterator[Feeder]:
    with Feeder() as feeder:
        yield feeder


def fields(parsed: Parsed) -> tuple[int, str, Mapping[str, str], bytes | None]:
    a = parsed.answer
    return a.status, a.reason, a.headers, a.body


# -- parsing -----------------------------------------------------------------------------------

CHUNKED_WIKI = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'4;x=y\r\nWiki\r\n5\r\npedia\r\nE ;name="q;v"\r\n in\r\n\r\nchunks.\r\n'
    b"0\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n"
)
RAW_DEFLATE = zlib.compressobj(wbits=-zlib.MAX_WBITS)
RAW_DEFLATED = RAW_DEFLATE.compress(b"raw deflate body") + RAW_DEFLATE.flush()


@dataclass
class Sample:
    """A valid answer and what it must parse to."""

    wire: bytes
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    eof: bool = False  # framed by the end of the connection
    reusable: bool = True


SAMPLES = {
    "content-length": Sample(
        answer(202, "Accepted", [("Content-Type", "application/json")], b'{"id":"m"}'),
        202,
        "Accepted",
        {"content-type": "application/json", "content-length": "10"},
        b'{"id":"m"}',
    ),
    "chunked": Sample(
        CHUNKED_WIKI, 200, "OK", {"transfer-encoding": "chunked"}, b"Wikipedia in\r\n\r\nchunks."
    ),
    "204": Sample(
        b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", 204, "No Content", {"x-a": "1"}, b""
    ),
    "100-continue": Sample(
        b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n" + answer(201, "Created", body=b"ok"),
        201,
        "Created",
        {"content-length": "2"},
        b"ok",
    ),
    "duplicates": Sample(
        b"HTTP/1.1 200 Fine\r\nX-Dup: a\r\nSet-Cookie: s=1\r\nx-dup:b\r\nX-DUP:   c  \r\n"
        b"SET-COOKIE: t=2\r\nContent-Length: 0\r\n\r\n",
        200,
        "Fine",
        {"x-dup": "a, b, c", "set-cookie": "s=1, t=2", "content-length": "0"},
        b"",
    ),
    "gzip": Sample(
        answer(200, "OK", [("Content-Encoding", "gzip")], gzip.compress(b"zipped " * 20)),
        200,
        "OK",
        {"content-encoding": "gzip", "content-length": str(len(gzip.compress(b"zipped " * 20)))},
        b"zipped " * 20,
    ),
    "deflate": Sample(
        answer(200, "OK", [("Content-Encoding", "deflate")], zlib.compress(b"deflated body")),
        200,
        "OK",
        {
            "content-encoding": "deflate",
            "content-length": str(len(zlib.compress(b"deflated body"))),
        },
        b"deflated body",
    ),
    "raw-deflate": Sample(
        answer(200, "OK", [("Content-Encoding", "Deflate")], RAW_DEFLATED),
        200,
        "OK",
        {"content-encoding": "Deflate", "content-length": str(len(RAW_DEFLATED))},
        b"raw deflate body",
    ),
    "until-close": Sample(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nread to the end",
        503,
        "Service Unavailable",
        {"content-type": "text/plain"},
        b"read to the end",
        eof=True,
        reusable=False,
    ),
}


def test_send_writes_the_request() -> None:
    """Connection.send writes the request bytes as given and returns a pending future."""
    with Feeder() as feeder:
        connection = Connection()
        transport = FakeTransport()
        connection.connection_made(transport)
        waiter = connection.send(b"POST / HTTP/1.1\r\n\r\n", feeder.loop)
        assert bytes(transport.written) == b"POST / HTTP/1.1\r\n\r\n"
        assert not waiter.done()


def test_send_on_a_closing_connection_is_a_connect_error() -> None:
    """Connection.send on a closing transport raises ConnectError and writes nothing."""
    with Feeder() as feeder:
        connection = Connection()
        transport = FakeTransport()
        connection.connection_made(transport)
        transport.close()
        with pytest.raises(ConnectError, match="before the request was written"):
            connection.send(b"POST / HTTP/1.1\r\n\r\n", feeder.loop)
        assert transport.written == b""


def test_content_length_body(feed: Feeder) -> None:
    """A Content-Length body is read to exactly that length."""
    parsed = feed([answer(202, "Accepted", [("X-A", "1")], b"0123456789")])
    assert fields(parsed) == (202, "Accepted", {"x-a": "1", "content-length": "10"}, b"0123456789")
    assert parsed.reusable


def test_chunked_body_with_extensions_and_trailers(feed: Feeder) -> None:
    """Chunks are joined; chunk extensions and trailers are skipped."""
    parsed = feed([CHUNKED_WIKI])
    assert parsed.answer.body == b"Wikipedia in\r\n\r\nchunks."
    assert "expires" not in parsed.answer.headers  # trailers are not headers
    assert parsed.reusable


def test_chunked_hex_sizes_any_case(feed: Feeder) -> None:
    """Chunk sizes are hexadecimal, upper or lower case, leading zeros allowed."""
    data = b"x" * 0x1A + b"y" * 0x1B
    wire = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"1a\r\n" + data[:0x1A] + b"\r\n001B\r\n" + data[0x1A:] + b"\r\n0\r\n\r\n"
    )
    assert feed([wire]).answer.body == data


def test_content_length_with_transfer_encoding_is_malformed(feed: Feeder) -> None:
    """Content-Length with Transfer-Encoding: chunked is ambiguous framing: ExchangeError,
    and the connection is dropped (RFC 9112 §6.3; llhttp, h11 and aiohttp refuse it too)."""
    wire = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )
    parsed = feed([wire])
    assert isinstance(parsed.outcome, ExchangeError)
    assert parsed.transport.aborted


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(feed: Feeder, status: int) -> None:
    """204 and 304 answers have no body (even with a Content-Length) and end at the head."""
    parsed = feed([b"HTTP/1.1 %d Nothing\r\nContent-Length: 7\r\n\r\n" % status])
    assert parsed.answer.status == status
    assert parsed.answer.body == b""
    assert parsed.reusable


def test_interim_100_continue_is_skipped(feed: Feeder) -> None:
    """A 100 Continue (with headers) before the answer is skipped; its headers are not kept."""
    parsed = feed([SAMPLES["100-continue"].wire])
    assert fields(parsed) == (201, "Created", {"content-length": "2"}, b"ok")


def test_several_interim_answers_are_skipped(feed: Feeder) -> None:
    """Several 1xx answers in a row are all skipped."""
    wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n" + OK
    assert feed([wire]).answer.status == 200


def test_header_names_lower_cased_and_duplicates_joined(feed: Feeder) -> None:
    """Header names are lower-cased; repeated headers are joined with ', ' in order."""
    sample = SAMPLES["duplicates"]
    assert feed([sample.wire]).answer.headers == sample.headers


def test_header_values_stripped_and_latin1(feed: Feeder) -> None:
    """Header values lose surrounding spaces and tabs and are decoded as Latin-1."""
    wire = b"HTTP/1.1 200 OK\r\nX-V: \t caf\xe9 au lait \t\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n"
    headers = feed([wire]).answer.headers
    assert headers["x-v"] == "café au lait"
    assert headers["x-empty"] == ""


@pytest.mark.parametrize(
    ("status_line", "status", "reason"),
    [
        (b"HTTP/1.1 404 Not Found", 404, "Not Found"),
        (b"HTTP/1.1 429 Too   Many Requests ", 429, "Too   Many Requests "),
        (b"HTTP/1.1 200", 200, ""),
        (b"HTTP/1.0 500 Internal Server Error", 500, "Internal Server Error"),
    ],
)
def test_status_and_reason_phrase(
    feed: Feeder, status_line: bytes, status: int, reason: str
) -> None:
    """The status code and the reason phrase (as sent, possibly empty) are kept."""
    parsed = feed([status_line + b"\r\nContent-Length: 0\r\n\r\n"])
    assert (parsed.answer.status, parsed.answer.reason) == (status, reason)


def test_answer_without_framing_is_read_until_close(feed: Feeder) -> None:
    """Without Content-Length or chunking the body runs to the end of the connection."""
    sample = SAMPLES["until-close"]
    pieces = [sample.wire[:60], sample.wire[60:]]
    waiting = feed(pieces)
    assert waiting.outcome is None  # no end yet: nothing is known about the body
    assert not waiting.reusable
    parsed = feed(pieces, eof=True)
    assert parsed.answer.body == b"read to the end"
    assert not parsed.reusable


JSON = b'{"id": "abc"}' * 10


@pytest.mark.parametrize(
    ("coding", "sent", "plain"),
    [
        ("gzip", gzip.compress(JSON), JSON),
        ("x-gzip", gzip.compress(JSON), JSON),
        ("GZIP", gzip.compress(JSON), JSON),
        ("deflate", zlib.compress(JSON), JSON),
        ("deflate", RAW_DEFLATED, b"raw deflate body"),
        ("identity", JSON, JSON),
    ],
    ids=["gzip", "x-gzip", "GZIP", "zlib-deflate", "raw-deflate", "identity"],
)
def test_content_encoding_inflated(feed: Feeder, coding: str, sent: bytes, plain: bytes) -> None:
    """gzip and deflate (zlib-wrapped or raw) bodies are inflated; identity is kept."""
    parsed = feed([answer(headers=[("Content-Encoding", coding)], body=sent)])
    assert parsed.answer.body == plain
    assert parsed.answer.headers["content-encoding"] == coding


def test_chunked_gzip_body_inflated(feed: Feeder) -> None:
    """A gzip body sent in chunks is joined, then inflated."""
    packed = gzip.compress(b"chunked and zipped")
    wire = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
    for start in range(0, len(packed), 7):
        piece = packed[start : start + 7]
        wire += b"%x\r\n%s\r\n" % (len(piece), piece)
    wire += b"0\r\n\r\n"
    assert feed([wire]).answer.body == b"chunked and zipped"


def test_until_close_gzip_body_inflated(feed: Feeder) -> None:
    """A gzip body framed by the end of the connection is inflated once it ends."""
    wire = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + gzip.compress(b"to the end")
    assert feed([wire], eof=True).answer.body == b"to the end"


@pytest.mark.parametrize(
    ("coding", "body"),
    [("gzip", b"not gzip at all"), ("deflate", b"\xff\xfe garbage"), ("br", b"\x0b\x02\x80")],
)
def test_body_that_cannot_be_decoded_is_none(feed: Feeder, coding: str, body: bytes) -> None:
    """A complete body that cannot be inflated (or has an unknown coding) comes as None."""
    parsed = feed([answer(headers=[("Content-Encoding", coding)], body=body)])
    assert parsed.answer.status == 200
    assert parsed.answer.body is None


def test_bytes_after_the_answer_make_it_not_reusable(feed: Feeder) -> None:
    """Bytes beyond the end of the answer in the same read: answered, but not reused."""
    parsed = feed([OK + b"HTTP/1.1 200 OK\r\n"])
    assert parsed.answer.body == b"ok"
    assert not parsed.reusable
    assert parsed.transport.closed


def test_bytes_nobody_asked_for_abort_the_connection(feed: Feeder) -> None:
    """Bytes arriving after the answer completed (in a later read) abort the connection."""
    parsed = feed([OK, b"surprise"])
    assert parsed.answer.body == b"ok"
    assert not parsed.reusable
    assert parsed.transport.aborted


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_two_piece_split_parses_identically(feed: Feeder, name: str) -> None:
    """Each sample answer, split in two at every byte, gives the same status/headers/body."""
    sample = SAMPLES[name]
    expected = (sample.status, sample.reason, sample.headers, sample.body)
    for cut in range(len(sample.wire) + 1):
        parsed = feed([sample.wire[:cut], sample.wire[cut:]], eof=sample.eof)
        assert fields(parsed) == expected, cut
        assert parsed.reusable is sample.reusable, cut


@pytest.mark.parametrize("name", list(SAMPLES))
def test_byte_by_byte_parses_identically(feed: Feeder, name: str) -> None:
    """Each sample answer delivered one byte at a time gives the same status/headers/body."""
    sample = SAMPLES[name]
    wire = sample.wire
    parsed = feed([wire[i : i + 1] for i in range(len(wire))], eof=sample.eof)
    assert fields(parsed) == (sample.status, sample.reason, sample.headers, sample.body)
    assert parsed.reusable is sample.reusable


# A property: any valid answer, split anywhere, parses to what was sent.

RESERVED = {"content-length", "transfer-encoding", "connection", "content-encoding"}
TOKENS = st.from_regex(r"[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,11}", fullmatch=True).filter(
    lambda name: name.lower() not in RESERVED
)
# Printable ASCII, tab and some Latin-1 letters (see test_header_value_keeps_no_break_spaces
# for the Latin-1 spaces).
VALUE_CHARS = [chr(c) for c in range(0x20, 0x7F)] + ["\t", "\xe9", "\xff"]
VALUES = st.text(alphabet=st.sampled_from(VALUE_CHARS), max_size=24)
REASONS = st.text(alphabet=st.sampled_from(VALUE_CHARS), max_size=24)
# Not "; name" (a space after the semicolon): llhttp refuses it, as aiohttp does.
EXTENSIONS = st.sampled_from(["", ";x=y", ";ext", ' ;name="q;v"', ";a=1;b=2", "  "])
CODINGS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda data: data,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}


@dataclass
class Case:
    wire: bytes
    expected: tuple[int, str, dict[str, str], bytes]
    eof: bool
    reusable: bool


@st.composite
def valid_answers(draw: st.DrawFn) -> Case:
    """A valid answer framed by Content-Length, chunks or the end of the connection."""
    status = draw(st.integers(200, 599).filter(lambda s: s not in (204, 304)))
    reason = draw(REASONS)
    body = draw(st.binary(max_size=300))
    coding = draw(st.sampled_from(sorted(CODINGS)))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    pairs = draw(st.lists(st.tuples(TOKENS, VALUES), max_size=6))
    sent = CODINGS[coding](body)
    if coding:
        pairs.insert(draw(st.integers(0, len(pairs))), ("Content-Encoding", coding))
    if framing == "length":
        pairs.append(("Content-Length", str(len(sent))))
    elif framing == "chunked":
        pairs.append(("Transfer-Encoding", "chunked"))
    expected: dict[str, str] = {}
    for name, value in pairs:
        key, text = name.lower(), value.strip(" \t")
        expected[key] = f"{expected[key]}, {text}" if key in expected else text
    head = f"HTTP/1.1 {status} {reason}\r\n"
    head += "".join(f"{name}:{draw(st.sampled_from(['', ' ', '  ']))}{v}\r\n" for name, v in pairs)
    wire = head.encode("latin-1") + b"\r\n"
    if draw(st.booleans()):
        wire = b"HTTP/1.1 100 Continue\r\n\r\n" + wire
    if framing == "chunked":
        cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(sent) - 1)), max_size=6))))
        edges = [0, *[c for c in cuts if c < len(sent)], len(sent)]
        for start, end in itertools.pairwise(edges):
            if end > start:
                size = f"{end - start:x}"
                size = size.upper() if draw(st.booleans()) else size
                wire += f"{size}{draw(EXTENSIONS)}\r\n".encode() + sent[start:end] + b"\r\n"
        wire += f"0{draw(EXTENSIONS)}\r\n".encode()
        for name, value in draw(st.lists(st.tuples(TOKENS, VALUES), max_size=3)):
            wire += f"{name}: {value}\r\n".encode("latin-1")
        wire += b"\r\n"
    else:
        wire += sent
    kept = reason.replace("\t", "\\t")  # a tab in a reason phrase is shown as its escape
    return Case(wire, (status, kept, expected, body), framing == "close", framing != "close")


@given(case=valid_answers(), data=st.data())
@settings(max_examples=250, deadline=None)
def test_valid_answers_split_anywhere_parse_identically(case: Case, data: st.DataObject) -> None:
    """Any valid answer delivered in randomly split pieces parses to what was sent."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(case.wire)), max_size=10)))
    edges = [0, *cuts, len(case.wire)]
    pieces = [case.wire[start:end] for start, end in itertools.pairwise(edges)]
    with Feeder() as feed:
        parsed = feed(pieces, eof=case.eof)
    assert fields(parsed) == case.expected
    assert parsed.reusable is case.reusable


# -- malformed answers -------------------------------------------------------------------------


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
MALFORMED = {
    "not-http": b"ICY 200 OK\r\nContent-Length: 0\r\n\r\n",
    "http-2": b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
    "letters-in-status": b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    "short-status-line": b"HTTP/1.1 20\r\nContent-Length: 0\r\n\r\n",
    "no-space-after-version": b"HTTP/1.1-200 OK\r\nContent-Length: 0\r\n\r\n",
    "empty-status-line": b"\r\nContent-Length: 0\r\n\r\n",
    "header-without-colon": b"HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
    "empty-header-name": b"HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 0\r\n\r\n",
    "non-numeric-length": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
    "negative-length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "empty-length": b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
    "superscript-length": b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nok",
    "non-ascii-status": b"HTTP/1.1 2\xb2\xb3 OK\r\nContent-Length: 0\r\n\r\n",
    "list-length": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
    "conflicting-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    "unsupported-transfer-encoding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
    "chunked-not-last": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "bad-chunk-size": CHUNKED_HEAD + b"zz\r\nok\r\n0\r\n\r\n",
    "empty-chunk-size": CHUNKED_HEAD + b";x=y\r\n0\r\n\r\n",
    "signed-chunk-size": CHUNKED_HEAD + b"+2\r\nok\r\n0\r\n\r\n",
    "hex-prefixed-chunk-size": CHUNKED_HEAD + b"0x2\r\nok\r\n0\r\n\r\n",
    "no-space-before-reason": b"HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
    "chunk-without-crlf": CHUNKED_HEAD + b"2\r\nokXX0\r\n\r\n",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_answer_is_exchange_error(feed: Feeder, name: str) -> None:
    """A malformed status line, header, length or chunk fails with ExchangeError."""
    parsed = feed([MALFORMED[name]])
    assert isinstance(parsed.outcome, ExchangeError)
    assert "malformed answer" in str(parsed.outcome)
    assert parsed.transport.aborted


def test_chunk_size_line_too_long(feed: Feeder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunk framing (a size line with extensions) past MAX_HEAD fails with ExchangeError."""
    monkeypatch.setattr(_pool, "MAX_HEAD", 1024)
    parsed = feed([CHUNKED_HEAD, b"1;" + b"x" * 1100])
    assert isinstance(parsed.outcome, ExchangeError)


def test_head_larger_than_max_head(feed: Feeder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A head growing past MAX_HEAD without its end fails with ExchangeError."""
    monkeypatch.setattr(_pool, "MAX_HEAD", 200)
    parsed = feed([b"HTTP/1.1 200 OK\r\n", b"X-Big: " + b"a" * 150, b"b" * 100])
    assert isinstance(parsed.outcome, ExchangeError)
    assert "longer than 200" in str(parsed.outcome)


def test_head_at_max_head_accepted(feed: Feeder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A head of exactly MAX_HEAD bytes (before its blank line), arriving in pieces, is fine."""
    monkeypatch.setattr(_pool, "MAX_HEAD", 200)
    start = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: "
    pad = 200 - len(start)
    parsed = feed([start + b"p" * pad, b"\r\n\r\n"])
    assert parsed.answer.headers["x-pad"] == "p" * pad


def test_head_larger_than_max_head_in_one_piece(
    feed: Feeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head larger than MAX_HEAD fails with ExchangeError even when it arrives whole."""
    monkeypatch.setattr(_pool, "MAX_HEAD", 200)
    parsed = feed([answer(headers=[("X-Big", "b" * 1000)])])
    assert isinstance(parsed.outcome, ExchangeError)


def test_content_length_larger_than_max_body(feed: Feeder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Content-Length above MAX_BODY fails with ExchangeError as soon as the head is read."""
    monkeypatch.setattr(_pool, "MAX_BODY", 100)
    parsed = feed([b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n"])
    assert isinstance(parsed.outcome, ExchangeError)
    assert "larger than 100" in str(parsed.outcome)


def test_content_length_at_max_body_accepted(feed: Feeder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A body of exactly MAX_BODY bytes is read."""
    monkeypatch.setattr(_pool, "MAX_BODY", 100)
    assert feed([answer(body=b"b" * 100)]).answer.body == b"b" * 100


def test_chunked_body_larger_than_max_body(feed: Feeder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks adding up to more than MAX_BODY fail with ExchangeError."""
    monkeypatch.setattr(_pool, "MAX_BODY", 100)
    chunk = b"40\r\n" + b"c" * 0x40 + b"\r\n"
    parsed = feed([CHUNKED_HEAD, chunk, chunk])
    assert isinstance(parsed.outcome, ExchangeError)
    assert "larger than 100" in str(parsed.outcome)


def test_until_close_body_larger_than_max_body(
    feed: Feeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body framed by the end of the connection fails once it passes MAX_BODY."""
    monkeypatch.setattr(_pool, "MAX_BODY", 100)
    parsed = feed([b"HTTP/1.1 200 OK\r\n\r\n", b"u" * 60, b"u" * 60])
    assert isinstance(parsed.outcome, ExchangeError)


def test_inflated_body_larger_than_max_body(feed: Feeder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gzip body inflating past MAX_BODY is refused (ExchangeError) or dropped (None)."""
    monkeypatch.setattr(_pool, "MAX_BODY", 1000)
    bomb = gzip.compress(b"\0" * 100_000)
    assert len(bomb) < 1000
    parsed = feed([answer(headers=[("Content-Encoding", "gzip")], body=bomb)])
    outcome = parsed.outcome
    dropped = isinstance(outcome, Answer) and outcome.body is None
    inflated = len(outcome.body or b"") if isinstance(outcome, Answer) else 0
    assert isinstance(outcome, ExchangeError) or dropped, f"{inflated} bytes inflated"


def test_repeated_equal_content_length_accepted(feed: Feeder) -> None:
    """Two Content-Length headers with the same value frame the body (RFC 9110 §8.6)."""
    wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
    parsed = feed([wire])
    assert parsed.answer.body == b"ok"
    assert parsed.answer.headers["content-length"] == "2"
    assert parsed.reusable


def test_header_value_keeps_no_break_spaces(feed: Feeder) -> None:
    """Only spaces and tabs around a header value are removed, not Latin-1 NBSP or NEL."""
    wire = b"HTTP/1.1 200 OK\r\nX-V: \xa0v\x85\r\nContent-Length: 0\r\n\r\n"
    assert feed([wire]).answer.headers["x-v"] == "\xa0v\x85"


@pytest.mark.parametrize("name", ["letters-in-status", "space-before-colon", "bad-chunk-size"])
async def test_malformed_answer_over_a_socket(name: str) -> None:
    """Over a socket a malformed answer raises ExchangeError and the connection is dropped."""
    async with (
        raw_server(Reply(steps=(MALFORMED[name],))) as server,
        open_pool(server.url()) as pool,
    ):
        with pytest.raises(ExchangeError, match="malformed"):
            await post(pool)
        await server.until(lambda: 0 in server.ended_by_client)
        assert pool.connections == 0
        assert (await post(pool)).body == b"ok"
        assert server.connections_used == [0, 1]


# -- over real sockets: parsing and connection handling ----------------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
async def test_answers_written_in_pieces_over_a_socket(name: str) -> None:
    """Each sample answer, written in three pieces with drains between, parses as sent."""
    sample = SAMPLES[name]
    third = len(sample.wire) // 3
    pieces = (sample.wire[:third], sample.wire[third : 2 * third], sample.wire[2 * third :])
    async with (
        raw_server(Reply(steps=pieces, close=sample.eof)) as server,
        open_pool(server.url()) as pool,
    ):
        got = await post(pool)
        assert (got.status, got.reason, got.headers, got.body) == (
            sample.status,
            sample.reason,
            sample.headers,
            sample.body,
        )


async def test_keep_alive_reuses_the_connection() -> None:
    """Two posts in a row go over the same server connection."""
    async with raw_server() as server, open_pool(server.url()) as pool:
        first = await post(pool, b"one")
        second = await post(pool, b"two")
        assert (first.body, second.body) == (b"ok", b"ok")
        assert server.connections_used == [0, 0]
        assert [r.body for r in server.requests] == [b"one", b"two"]
        assert pool.connections == 1


async def test_204_answer_keeps_the_connection() -> None:
    """After a 204 (no body) the connection is reused."""
    async with (
        raw_server(Reply(steps=(b"HTTP/1.1 204 No Content\r\n\r\n",))) as server,
        open_pool(server.url()) as pool,
    ):
        assert (await post(pool)).status == 204
        await post(pool)
        assert server.connections_used == [0, 0]


async def test_connection_close_answer_is_not_reused() -> None:
    """An answer with Connection: close makes the next post open a new connection."""
    closing = answer(headers=[("Connection", "close")], body=b"bye")
    async with raw_server(Reply(steps=(closing,))) as server, open_pool(server.url()) as pool:
        assert (await post(pool)).body == b"bye"
        assert pool.connections == 0
        assert (await post(pool)).body == b"ok"
        assert server.connections_used == [0, 1]


async def test_http10_answer_is_not_reused() -> None:
    """An HTTP/1.0 answer without keep-alive makes the next post open a new connection."""
    old = answer(body=b"old", version="1.0")
    async with raw_server(Reply(steps=(old,))) as server, open_pool(server.url()) as pool:
        assert (await post(pool)).body == b"old"
        await post(pool)
        assert server.connections_used == [0, 1]


async def test_http10_keep_alive_answer_is_reused() -> None:
    """An HTTP/1.0 answer with Connection: keep-alive keeps the connection."""
    old = answer(headers=[("Connection", "Keep-Alive")], body=b"old", version="1.0")
    async with raw_server(Reply(steps=(old,))) as server, open_pool(server.url()) as pool:
        await post(pool)
        await post(pool)
        assert server.connections_used == [0, 0]


async def test_until_close_answer_over_a_socket_is_not_reused() -> None:
    """An answer without framing is read to the server's close; the next post reconnects."""
    pieces = (b"HTTP/1.1 200 OK\r\n\r\nfirst ", b"second ", b"third")
    async with (
        raw_server(Reply(steps=pieces, close=True)) as server,
        open_pool(server.url()) as pool,
    ):
        assert (await post(pool)).body == b"first second third"
        assert pool.connections == 0
        await post(pool)
        assert server.connections_used == [0, 1]


async def test_server_closing_an_idle_connection_is_transparent() -> None:
    """The server closing an idle connection: the next post uses a new one, no error."""
    async with raw_server(Reply(close=True)) as server, open_pool(server.url()) as pool:
        assert (await post(pool)).body == b"ok"  # kept: the answer did not say close
        await client_noticed_close(pool)
        assert pool.connections == 0
        assert (await post(pool)).body == b"ok"
        assert server.connections_used == [0, 1]


async def test_server_close_just_after_answering_is_not_a_failure() -> None:
    """A server that closes right after an unannounced last answer: the next post still
    goes out on a new connection (the closed one is seen to be readable, so never used)."""
    rounds = 20
    async with (
        raw_server(*[Reply(close=True) for _ in range(rounds)]) as server,
        open_pool(server.url()) as pool,
    ):
        for _ in range(rounds):
            assert (await post(pool)).body == b"ok"
        assert server.connections_used == list(range(rounds))


async def test_concurrent_posts_open_one_connection_each_at_most() -> None:
    """10 posts at once open at most 10 connections; 10 more at once reuse them."""
    gate = asyncio.Event()
    async with (
        raw_server(*[Reply(steps=(gate, OK)) for _ in range(10)]) as server,
        open_pool(server.url()) as pool,
    ):
        first = asyncio.gather(*[post(pool) for _ in range(10)])
        await server.until(lambda: len(server.requests) == 10)
        assert pool.connections == server.accepted == 10
        gate.set()
        assert [a.body for a in await first] == [b"ok"] * 10
        assert pool.connections == 10
        await asyncio.gather(*[post(pool) for _ in range(10)])
        assert server.accepted == 10
        assert pool.connections <= 10


async def test_sequential_posts_share_one_connection() -> None:
    """10 posts one after another all use one connection."""
    async with raw_server() as server, open_pool(server.url()) as pool:
        for _ in range(10):
            await post(pool)
        assert server.connections_used == [0] * 10
        assert pool.connections == 1


async def test_newest_idle_connection_is_used_first() -> None:
    """Of several idle connections the most recently used one is taken."""
    gate = asyncio.Event()
    async with (
        raw_server(Reply(steps=(gate, OK)), Reply(steps=(OK,))) as server,
        open_pool(server.url()) as pool,
    ):
        slow = asyncio.ensure_future(post(pool))
        await server.until(lambda: len(server.requests) == 1)
        await post(pool)  # a second connection while the first is busy
        gate.set()
        await slow  # connection 0 is now the newest idle one
        await post(pool)
        assert server.connections_used == [0, 1, 0]


async def test_idle_connection_closed_after_keepalive() -> None:
    """An idle connection is closed once keepalive seconds pass (the server sees the end)."""
    async with raw_server() as server, open_pool(server.url(), keepalive=0.05) as pool:
        await post(pool)
        await server.until(lambda: 0 in server.ended_by_client, within=2)
        assert pool.connections == 0
        await post(pool)
        assert server.connections_used == [0, 1]


async def test_sweep_closes_only_connections_idle_too_long() -> None:
    """_sweep closes idle connections older than keepalive and keeps the others."""
    gate = asyncio.Event()
    loop = asyncio.get_running_loop()
    async with (
        raw_server(Reply(steps=(gate, OK))) as server,
        open_pool(server.url(), keepalive=30) as pool,
    ):
        slow = asyncio.ensure_future(post(pool))
        await server.until(lambda: len(server.requests) == 1)
        await post(pool)
        gate.set()
        await slow
        old, fresh = sorted(pool._idle, key=lambda c: c.idle_since)
        old.idle_since = loop.time() - 31
        pool._sweep(loop)
        assert pool._idle == [fresh]
        assert old.closed
        assert not fresh.closed
        await server.until(lambda: len(server.ended_by_client) == 1)
        assert pool.connections == 1


async def test_expired_idle_connection_not_taken() -> None:
    """A connection idle past keepalive is closed, not used, even before a sweep runs."""
    loop = asyncio.get_running_loop()
    async with raw_server() as server, open_pool(server.url(), keepalive=30) as pool:
        await post(pool)
        [idle] = pool._idle
        idle.idle_since = loop.time() - 30
        await post(pool)
        assert server.connections_used == [0, 1]
        assert idle.closed
        await server.until(lambda: 0 in server.ended_by_client)


async def test_extra_bytes_after_an_answer_prevent_reuse() -> None:
    """An answer followed by stray bytes in the same write: answered, then not reused."""
    async with raw_server(Reply(steps=(OK + b"stray",))) as server, open_pool(server.url()) as pool:
        assert (await post(pool)).body == b"ok"
        assert pool.connections == 0
        await post(pool)
        assert server.connections_used == [0, 1]


async def test_unsolicited_bytes_on_an_idle_connection_drop_it() -> None:
    """Bytes arriving on an idle connection abort it; the next post uses a new one."""
    gate = asyncio.Event()
    async with (
        raw_server(Reply(steps=(OK, gate, b"HTTP/1.1 200 OK\r\n"))) as server,
        open_pool(server.url()) as pool,
    ):
        await post(pool)
        gate.set()
        await server.until(lambda: 0 in server.ended_by_client)
        assert pool.connections == 0
        assert (await post(pool)).body == b"ok"
        assert server.connections_used == [0, 1]


def resolve_to(monkeypatch: pytest.MonkeyPatch, *ports: int) -> list[str]:
    """Make the running loop's getaddrinfo answer 127.0.0.1 with ``ports``, in that order;
    the hosts looked up are recorded in the list returned."""
    hosts: list[str] = []

    async def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        hosts.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p)) for p in ports]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    return hosts


async def test_addresses_tried_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the first address refuses, the next one is tried."""
    async with raw_server() as server:
        hosts = resolve_to(monkeypatch, free_port(), server.port)
        async with open_pool(URL("http://bwmsg.invalid/x")) as pool:
            assert (await post(pool)).body == b"ok"
        assert hosts == ["bwmsg.invalid"]
        assert len(server.requests) == 1


# -- failures ----------------------------------------------------------------------------------


async def test_nothing_listening_is_a_retryable_connect_error() -> None:
    """A refused connection raises ConnectError, retryable, caused by the OSError."""
    async with open_pool(URL(f"http://127.0.0.1:{free_port()}/x")) as pool:
        with pytest.raises(ConnectError, match="could not connect") as info:
            await post(pool)
    assert info.value.retryable is True
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert pool.connections == 0


async def test_server_closing_without_answer_is_exchange_error() -> None:
    """The server reading the request and closing without a word raises ExchangeError."""
    async with raw_server(DROP) as server, open_pool(server.url()) as pool:
        with pytest.raises(ExchangeError, match="closed before an answer"):
            await post(pool, b"payload")
        assert [r.body for r in server.requests] == [b"payload"]
        assert pool.connections == 0


async def test_server_closing_after_part_of_the_head_is_exchange_error() -> None:
    """A head cut off by the server's close raises ExchangeError."""
    reply = Reply(steps=(b"HTTP/1.1 200 OK\r\nContent-Le",), close=True)
    async with raw_server(reply) as server, open_pool(server.url()) as pool:
        with pytest.raises(ExchangeError):
            await post(pool)


async def test_body_cut_short_gives_answer_without_body() -> None:
    """Head whole, half the Content-Length body, then close: the Answer has body None."""
    head = b"HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n\r\n"
    reply = Reply(steps=(head, b"01234"), close=True)
    async with raw_server(reply) as server, open_pool(server.url()) as pool:
        got = await post(pool)
        assert (got.status, got.reason, got.body) == (202, "Accepted", None)
        assert got.headers == {"content-length": "10"}
        assert pool.connections == 0
        await post(pool)
        assert server.connections_used == [0, 1]


async def test_chunked_body_cut_short_gives_answer_without_body() -> None:
    """Head whole, some chunks, then close: the Answer has body None."""
    reply = Reply(
        steps=(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",),
        close=True,
    )
    async with raw_server(reply) as server, open_pool(server.url()) as pool:
        got = await post(pool)
        assert (got.status, got.body) == (201, None)


async def test_no_answer_times_out_and_drops_the_connection() -> None:
    """No answer within the timeout raises TimeoutError and aborts that connection."""
    loop = asyncio.get_running_loop()
    async with raw_server(HANG) as server, open_pool(server.url()) as pool:
        started = loop.time()
        with pytest.raises(asyncio.TimeoutError):
            await post(pool, within=0.2)
        assert 0.2 <= loop.time() - started < 2
        await server.until(lambda: 0 in server.ended_by_client)
        assert pool.connections == 0
        assert (await post(pool)).body == b"ok"
        assert server.connections_used == [0, 1]


async def test_slow_body_times_out() -> None:
    """A head in time but a body that never ends still raises TimeoutError."""
    reply = Reply(steps=(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",))
    async with raw_server(reply) as server, open_pool(server.url()) as pool:
        with pytest.raises(asyncio.TimeoutError):
            await post(pool, within=0.2)
        await server.until(lambda: 0 in server.ended_by_client)


async def test_cancelled_post_aborts_its_connection() -> None:
    """Cancelling a post in flight aborts its connection; the pool never hands it out again."""
    async with raw_server(HANG) as server, open_pool(server.url()) as pool:
        task = asyncio.ensure_future(post(pool))
        await server.until(lambda: len(server.requests) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.until(lambda: 0 in server.ended_by_client)
        assert pool.connections == 0
        assert pool._idle == []
        assert (await post(pool)).body == b"ok"
        assert server.connections_used == [0, 1]


async def test_post_after_close_is_not_retryable() -> None:
    """A post after close() raises ConnectError with retryable False, even if one was idle."""
    async with raw_server() as server, open_pool(server.url()) as pool:
        await post(pool)
        await pool.close()
        with pytest.raises(ConnectError, match="closed") as info:
            await post(pool)
        assert info.value.retryable is False
        assert len(server.requests) == 1


async def test_close_fails_a_post_in_flight() -> None:
    """close() while a post waits for its answer makes that post raise ExchangeError."""
    async with raw_server(HANG) as server, open_pool(server.url()) as pool:
        task = asyncio.ensure_future(post(pool))
        await server.until(lambda: len(server.requests) == 1)
        await pool.close()
        with pytest.raises(ExchangeError):
            await task
        await server.until(lambda: 0 in server.ended_by_client)


# -- head() and the request on the wire --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://example.com/x", "example.com"),
        ("http://example.com:80/x", "example.com"),
        ("https://example.com/x", "example.com"),
        ("https://example.com:443/x", "example.com"),
        ("http://example.com:8080/x", "example.com:8080"),
        ("https://example.com:80/x", "example.com:80"),
        ("http://127.0.0.1:5000/x", "127.0.0.1:5000"),
        ("http://[::1]:8080/x", "[::1]:8080"),
        ("http://[::1]/x", "[::1]"),
        ("https://[2001:db8::1]/x", "[2001:db8::1]"),
    ],
)
def test_host_header(url: str, host: str) -> None:
    """Host has the default port omitted, any other kept, IPv6 literals bracketed."""
    lines = Pool(URL(url)).head({}).split(b"\r\n")
    assert lines[1] == b"Host: " + host.encode()


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://h/api/v2/users/1/messages", "/api/v2/users/1/messages"),
        ("http://h/p?a=1&b=%20", "/p?a=1&b=%20"),
        ("http://h", "/"),
        ("http://h/caf%C3%A9", "/caf%C3%A9"),
    ],
)
def test_request_line(url: str, target: str) -> None:
    """The request line is POST, the URL's path and query as given, and HTTP/1.1."""
    assert Pool(URL(url)).head({}).split(b"\r\n")[0] == f"POST {target} HTTP/1.1".encode()


def test_head_keeps_headers_in_order_and_ends_at_content_length() -> None:
    """Given headers follow Host in order; the head ends with 'Content-Length: '."""
    head = Pool(URL("http://h/x")).head({"Authorization": "Basic abc", "X-Two": "2 , two"})
    assert head == (
        b"POST /x HTTP/1.1\r\nHost: h\r\nAuthorization: Basic abc\r\nX-Two: 2 , two\r\n"
        b"Content-Length: "
    )


def test_head_drops_headers_the_pool_sets() -> None:
    """Host, Content-Length, Transfer-Encoding and Connection given by the caller are dropped."""
    head = Pool(URL("http://h/x")).head(
        {
            "host": "evil",
            "Content-Length": "99",
            "Transfer-Encoding": "chunked",
            "CONNECTION": "close",
            "X-Kept": "yes",
        }
    )
    assert head == b"POST /x HTTP/1.1\r\nHost: h\r\nX-Kept: yes\r\nContent-Length: "


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-A", "one\r\nX-Injected: 1"),
        ("X-A", "line\nfeed"),
        ("X-A", "carriage\rreturn"),
        ("X-A\r\nX-B", "v"),
        ("X:A", "v"),
        ("", "v"),
    ],
)
def test_head_refuses_line_breaks_and_colons(name: str, value: str) -> None:
    """A header with CR or LF, a colon in its name, or no name raises ValueError."""
    with pytest.raises(ValueError, match="cannot be sent"):
        Pool(URL("http://h/x")).head({name: value})


def test_pool_needs_an_http_url() -> None:
    """A URL that is not http(s) or has no host is refused with ValueError."""
    with pytest.raises(ValueError, match="http"):
        Pool(URL("ftp://h/x"))
    with pytest.raises(ValueError, match="http"):
        Pool(URL("/relative/only"))


async def test_posted_request_is_byte_exact() -> None:
    """The server receives exactly: request line, Host, headers, Content-Length, blank, body."""
    async with raw_server() as server, open_pool(server.url("/api/v2/m?x=1")) as pool:
        head = pool.head({"Authorization": "Basic dTpw", "Content-Type": "application/json"})
        await pool.post(head, b'{"to":"+1"}', WITHIN)
        await pool.post(head, b"", WITHIN)
    prefix = (
        b"POST /api/v2/m?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Basic dTpw\r\n"
        b"Content-Type: application/json\r\n" % server.port
    )
    assert [r.raw for r in server.requests] == [
        prefix + b'Content-Length: 11\r\n\r\n{"to":"+1"}',
        prefix + b"Content-Length: 0\r\n\r\n",
    ]


# -- DNS ---------------------------------------------------------------------------------------


@contextmanager
def counted_lookups(loop: asyncio.AbstractEventLoop) -> Iterator[list[str]]:
    """Count (and record the host of) every loop.getaddrinfo call during the block."""
    hosts: list[str] = []
    real = loop.getaddrinfo

    async def counting(host: Any, *args: Any, **kwargs: Any) -> Any:
        hosts.append(host)
        return await real(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "getaddrinfo", counting)
        yield hosts


async def test_concurrent_first_posts_look_up_once() -> None:
    """Many posts at once on a new pool share one look-up of the host name."""
    loop = asyncio.get_running_loop()
    async with raw_server() as server:
        url = URL(f"http://localhost:{server.port}/x")
        with counted_lookups(loop) as hosts:
            async with open_pool(url) as pool:
                got = await asyncio.gather(*[post(pool) for _ in range(10)])
        assert [a.body for a in got] == [b"ok"] * 10
        assert hosts == ["localhost"]
        assert len(server.requests) == 10


async def test_addresses_cached_within_dns_ttl() -> None:
    """A second connection within dns_ttl uses the cached addresses: no new look-up."""
    loop = asyncio.get_running_loop()
    closing = Reply(steps=(answer(headers=[("Connection", "close")]),))
    async with raw_server(default=closing) as server:
        with counted_lookups(loop) as hosts:
            async with open_pool(URL(f"http://localhost:{server.port}/x")) as pool:
                await post(pool)
                await post(pool)
        assert server.accepted == 2
        assert hosts == ["localhost"]


async def test_look_up_again_after_dns_ttl() -> None:
    """Once dns_ttl has passed, opening a connection looks the name up again."""
    loop = asyncio.get_running_loop()
    closing = Reply(steps=(answer(headers=[("Connection", "close")]),))
    async with raw_server(default=closing) as server:
        with counted_lookups(loop) as hosts:
            async with open_pool(URL(f"http://localhost:{server.port}/x"), dns_ttl=0) as pool:
                await post(pool)
                await post(pool)
        assert server.accepted == 2
        assert hosts == ["localhost", "localhost"]


async def test_reused_connection_needs_no_look_up() -> None:
    """Posts over a kept connection do not look the name up, even with dns_ttl=0."""
    loop = asyncio.get_running_loop()
    async with raw_server() as server:
        with counted_lookups(loop) as hosts:
            async with open_pool(URL(f"http://localhost:{server.port}/x"), dns_ttl=0) as pool:
                for _ in range(3):
                    await post(pool)
        assert hosts == ["localhost"]


async def test_unresolvable_name_is_a_connect_error() -> None:
    """A host name that does not resolve raises a retryable ConnectError."""
    async with open_pool(URL("http://nonexistent.invalid/x")) as pool:
        with pytest.raises(ConnectError, match=r"look up nonexistent\.invalid") as info:
            await post(pool)
    assert info.value.retryable is True
    assert isinstance(info.value.__cause__, OSError)


async def test_failed_look_up_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a failed look-up the next post looks the name up again."""
    loop = asyncio.get_running_loop()
    calls: list[str] = []

    async def failing(host: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(loop, "getaddrinfo", failing)
    async with open_pool(URL("http://bwmsg.invalid/x")) as pool:
        for _ in range(2):
            with pytest.raises(ConnectError):
                await post(pool)
    assert calls == ["bwmsg.invalid", "bwmsg.invalid"]


async def test_close_during_look_up_fails_the_post_with_connect_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A post waiting on the DNS look-up when close() is called raises ConnectError."""
    loop = asyncio.get_running_loop()
    looking = asyncio.Event()

    async def slow(*args: Any, **kwargs: Any) -> Any:
        looking.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(loop, "getaddrinfo", slow)
    async with open_pool(URL("http://bwmsg.invalid/x")) as pool:
        task = asyncio.ensure_future(post(pool))
        await asyncio.wait_for(looking.wait(), WITHIN)
        await pool.close()
        outcome = (await asyncio.gather(task, return_exceptions=True))[0]
        assert isinstance(outcome, ConnectError), repr(outcome)


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_tls_with_a_context_trusting_the_ca(ca: trustme.CA) -> None:
    """ssl=context trusting the server's CA: posts go over TLS and the connection is kept."""
    async with (
        raw_server(tls=server_context(ca, "127.0.0.1")) as server,
        open_pool(server.url(scheme="https"), ssl=trusting(ca)) as pool,
    ):
        assert (await post(pool, b"secret")).body == b"ok"
        assert (await post(pool)).body == b"ok"
        assert server.connections_used == [0, 0]
        assert server.requests[0].body == b"secret"


async def test_tls_system_trust_refuses_a_private_ca(ca: trustme.CA) -> None:
    """ssl=True (system trust) refuses the private CA: ConnectError, not retryable."""
    async with (
        raw_server(tls=server_context(ca, "127.0.0.1")) as server,
        open_pool(server.url(scheme="https"), ssl=True) as pool,
    ):
        with pytest.raises(ConnectError, match="TLS") as info:
            await post(pool)
        assert info.value.retryable is False
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        assert server.requests == []


async def test_tls_host_name_is_checked(ca: trustme.CA) -> None:
    """A trusted certificate for another name is refused: ConnectError, not retryable."""
    async with (
        raw_server(tls=server_context(ca, "bwmsg.example")) as server,
        open_pool(server.url(scheme="https"), ssl=trusting(ca)) as pool,
    ):
        with pytest.raises(ConnectError) as info:
            await post(pool)
        assert info.value.retryable is False
        assert server.requests == []


async def test_tls_without_verification(ca: trustme.CA) -> None:
    """ssl=False accepts any certificate: the post goes through."""
    async with (
        raw_server(tls=server_context(ca, "bwmsg.example")) as server,
        open_pool(server.url(scheme="https"), ssl=False) as pool,
    ):
        assert (await post(pool)).body == b"ok"
        assert len(server.requests) == 1


async def test_ssl_option_ignored_for_http() -> None:
    """For an http:// URL the ssl option is ignored: plain TCP is used."""
    async with raw_server() as server, open_pool(server.url(), ssl=True) as pool:
        assert (await post(pool)).body == b"ok"


# -- close() -----------------------------------------------------------------------------------


async def test_close_closes_idle_connections_promptly() -> None:
    """close() closes idle connections (the server sees their end) and returns at once."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Event()
    async with raw_server(Reply(steps=(gate, OK))) as server:
        pool = Pool(server.url())
        slow = asyncio.ensure_future(post(pool))
        await server.until(lambda: len(server.requests) == 1)
        await post(pool)
        gate.set()
        await slow
        assert pool.connections == 2
        started = loop.time()
        await pool.close()
        assert loop.time() - started < _pool.CLOSE_GRACE / 2
        assert pool.connections == 0
        await server.until(lambda: server.ended_by_client == {0, 1})


async def test_tls_close_returns_promptly(ca: trustme.CA) -> None:
    """close() of a TLS connection returns well within the grace period."""
    loop = asyncio.get_running_loop()
    async with raw_server(tls=server_context(ca, "127.0.0.1")) as server:
        pool = Pool(server.url(scheme="https"), ssl=trusting(ca))
        await post(pool)
        started = loop.time()
        await pool.close()
        assert loop.time() - started < _pool.CLOSE_GRACE  # no cut-off was needed
        await server.until(lambda: 0 in server.ended_by_client)


async def test_close_twice() -> None:
    """Calling close() a second time is harmless."""
    async with raw_server() as server:
        pool = Pool(server.url())
        await post(pool)
        await pool.close()
        await pool.close()
        assert pool.connections == 0
        await server.until(lambda: 0 in server.ended_by_client)


async def test_close_of_an_unused_pool() -> None:
    """close() of a pool that never connected returns without error, twice."""
    pool = Pool(URL("http://127.0.0.1:9/x"))
    await pool.close()
    await pool.close()
    assert pool.connections == 0
