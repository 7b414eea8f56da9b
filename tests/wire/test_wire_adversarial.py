"""Adversarial answers on the wire, through a real ``Sender`` and its own HTTP pool.

A raw server on 127.0.0.1 (:class:`tests.raw_server.RawServer`) writes exactly the bytes each
test scripts. Each test asserts what the answer means for the message: SENT (the server said
202, however oddly it said it), FAILED (an error status), or UNKNOWN (the answer could not be
trusted, so the message may or may not have been sent), and, where the server's words reach an
error message, that the message is short and has no control characters.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from yarl import URL

from bwmsg import (
    AmbiguousSendError,
    MessageRequest,
    Outcome,
    RetryPolicy,
    Sender,
    SendResult,
    ServerError,
)
from bwmsg._transport import (
    SessionTransport,
    Settings,
    Transport,
    _pool,
    default_factory,
    use_factory,
)
from bwmsg._transport._base import MAX_REASON
from bwmsg._transport._pool import Pool
from tests.raw_server import RawServer, Reply, raw_server
from tests.senders import open_pool, post
from tests.servers import WITHIN

ONCE = RetryPolicy(max_attempts=1, base_delay=0)
REQUEST = MessageRequest(to="+19195551212", from_="+19195550000", text="hi")
MESSAGE = json.dumps(
    {
        "id": "m-1",
        "owner": "+19195550000",
        "applicationId": "app",
        "time": "2024-12-02T20:15:57.278Z",
        "segmentCount": 1,
        "direction": "out",
        "to": ["+19195551212"],
        "from": "+19195550000",
        "text": "hi",
    }
).encode()
LONGEST_ERROR = 400
"""The most characters an error message built from a hostile answer may have: the reason
phrase (MAX_REASON), an excerpt of the body (200) and the words around them."""


def wire(
    *headers: bytes,
    status: bytes = b"HTTP/1.1 202 Accepted",
    body: bytes = MESSAGE,
    eol: bytes = b"\r\n",
    length: bool = True,
) -> bytes:
    """An answer's bytes: ``status``, ``headers`` (raw lines), a Content-Length unless
    ``length`` is False, then ``body``; lines ended by ``eol``."""
    lines = [status, *headers]
    if length:
        lines.append(b"Content-Length: %d" % len(body))
    return eol.join(lines) + eol + eol + body


ACCEPTED = wire()


@asynccontextmanager
async def sending(*replies: Reply, **options: Any) -> AsyncIterator[tuple[RawServer, Sender]]:
    """A raw server answering with ``replies`` (then 200 OK), and a Sender posting to it."""
    async with raw_server(*replies) as server:
        settings: dict[str, Any] = {
            "application_id": "app",
            "base_url": str(server.url("/api/v2")),
            "retry": ONCE,
            "timeout": WITHIN,
            "trust_env": False,
        }
        settings.update(options)
        async with Sender("acct", "user", "pass", **settings) as sender:
            yield server, sender


@asynccontextmanager
async def sending_with_pool(
    *replies: Reply, **options: Any
) -> AsyncIterator[tuple[RawServer, Sender, Pool]]:
    """As :func:`sending`, and the pool the Sender sends through (from the transport seam)."""
    made: list[Pool] = []

    def factory(url: URL, settings: Settings, web: SessionTransport) -> Transport[Any, Any]:
        pool = default_factory(url, settings, web)
        assert isinstance(pool, Pool)
        made.append(pool)
        return pool

    with use_factory(factory):
        async with sending(*replies, **options) as (server, sender):
            [pool] = made
            yield server, sender, pool


async def send_one(sender: Sender) -> SendResult:
    results = [result async for result in sender.send_many([REQUEST])]
    assert len(results) == 1
    return results[0]


async def outcome_of(*steps: bytes, close: bool = False) -> SendResult:
    """What becomes of one message answered with ``steps`` (written one after another)."""
    async with sending(Reply(steps=steps, close=close)) as (_, sender):
        return await send_one(sender)


# What a terminal or a log obeys: C0, DEL and C1 controls, line and paragraph separators, and
# bidirectional controls. (Not all that str.isprintable refuses: a no-break space or a soft
# hyphen in a Latin-1 reason phrase is printed as it came.)
OBEYED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(error: BaseException | None) -> str:
    """``str(error)``, checked to be safe to print: short, no control characters."""
    text = str(error)
    assert not OBEYED.search(text), repr(text)
    assert len(text) <= LONGEST_ERROR, len(text)
    return text


# -- what a client must accept -----------------------------------------------------------------


@pytest.mark.parametrize(
    "fold",
    [b"X-Folded: first\r\n  second", b"X-Folded: first\r\n\tsecond", b"X-Folded: a\r\n b\r\n c"],
    ids=["spaces", "tab", "twice"],
)
async def test_folded_header_line_in_a_202_is_sent(fold: bytes) -> None:
    """A 202 with an obs-folded header line (RFC 9112 §5.2) is SENT, its body read."""
    result = await outcome_of(wire(b"Server: old", fold))
    assert result.outcome is Outcome.SENT, result.error
    assert result.message is not None
    assert result.message.id == "m-1"


async def test_folded_header_value_is_joined_by_a_space() -> None:
    """The pool gives a folded header's lines as one value, joined by a space."""
    async with (
        raw_server(Reply(steps=(wire(b"X-Folded: first\r\n \t second"),))) as server,
        open_pool(server.url()) as pool,
    ):
        answer = await post(pool)
    assert answer.headers["x-folded"] == "first second"
    assert answer.body == MESSAGE


async def test_fold_right_after_the_status_line_is_unknown() -> None:
    """A whitespace-led line just after the status line folds nothing: UNKNOWN (llhttp
    refuses it, as RFC 9112 §2.2 allows), the error printable."""
    result = await outcome_of(wire(b" X-Orphan: 1"))
    assert result.outcome is Outcome.UNKNOWN
    printable(result.error)


@pytest.mark.parametrize(
    "answer",
    [
        wire(eol=b"\n"),
        # llhttp 9.2 still wants CRLF after a chunk's size, even when told to take bare LFs.
        wire(b"Transfer-Encoding: chunked", eol=b"\n", length=False, body=b"")
        + b"%x\r\n%s\n0\r\n\n" % (len(MESSAGE), MESSAGE),
        b"HTTP/1.1 202 Accepted\nContent-Type: application/json\r\n"
        + b"Content-Length: %d\n\r\n%s" % (len(MESSAGE), MESSAGE),
    ],
    ids=["content-length", "chunked", "mixed"],
)
async def test_bare_lf_answer_is_sent_at_once(answer: bytes) -> None:
    """A 202 whose lines end with a bare LF (no CR) is SENT as soon as it arrives."""
    result = await outcome_of(answer)
    assert result.outcome is Outcome.SENT, result.error
    assert result.message is not None
    assert result.message.id == "m-1"
    assert result.elapsed < WITHIN / 2


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
    ],
    ids=["100", "102", "103", "100-then-103"],
)
async def test_interim_answers_are_skipped(interim: bytes) -> None:
    """1xx interim answers (other than 101) before the 202 are skipped: SENT."""
    result = await outcome_of(interim + ACCEPTED)
    assert result.outcome is Outcome.SENT, result.error
    assert result.message is not None
    assert result.message.id == "m-1"


async def test_interim_answer_written_apart_is_skipped() -> None:
    """A 100 Continue written on its own, the 202 later: SENT."""
    gate = asyncio.Event()
    async with sending(Reply(steps=(b"HTTP/1.1 100 Continue\r\n\r\n", gate, ACCEPTED))) as (
        server,
        sender,
    ):
        task = asyncio.ensure_future(send_one(sender))
        await server.until(lambda: len(server.requests) == 1)
        gate.set()
        result = await task
    assert result.outcome is Outcome.SENT, result.error


async def test_spaces_after_a_chunk_size_are_sent() -> None:
    """Spaces or tabs after a chunk's size (before its CRLF) are accepted: SENT."""
    chunks = b"%x  \r\n%s\r\n0\t\r\n\r\n" % (len(MESSAGE), MESSAGE)
    result = await outcome_of(wire(b"Transfer-Encoding: chunked", body=chunks, length=False))
    assert result.outcome is Outcome.SENT, result.error
    assert result.message is not None
    assert result.message.id == "m-1"


async def test_repeated_equal_content_length_is_sent() -> None:
    """Two equal Content-Length lines frame the body (RFC 9110 §8.6): SENT."""
    result = await outcome_of(wire(b"Content-Length: %d" % len(MESSAGE)))
    assert result.outcome is Outcome.SENT, result.error
    assert result.message is not None
    assert result.message.id == "m-1"


async def test_empty_line_before_the_status_line_is_skipped() -> None:
    """An empty line before the status line is ignored (RFC 9112 §2.2): SENT."""
    result = await outcome_of(b"\r\n" + ACCEPTED)
    assert result.outcome is Outcome.SENT, result.error


# -- what llhttp, h11 and aiohttp refuse -------------------------------------------------------

H202 = b"HTTP/1.1 202 Accepted"
REFUSED = {
    "lf-in-reason": wire(status=b"HTTP/1.1 202 Acc\nepted"),
    "cr-in-reason": wire(status=b"HTTP/1.1 202 Acc\repted"),
    "nul-in-reason": wire(status=b"HTTP/1.1 202 Acc\x00epted"),
    "lf-in-value": wire(b"X-A: one\ntwo"),
    "cr-in-value": wire(b"X-A: one\rtwo"),
    "nul-in-value": wire(b"X-A: one\x00two"),
    "escape-in-value": wire(b"X-A: one\x1b[2Jtwo"),
    "ctl-in-name": wire(b"X\x01A: 1"),
    "nul-in-name": wire(b"X\x00A: 1"),
    "space-in-name": wire(b"X A: 1"),
    "space-before-colon": wire(b"X-A : 1"),
    "nul-in-status-code": wire(status=b"HTTP/1.1 2\x0002 Accepted"),
    "nul-in-version": wire(status=b"HTTP/1\x00.1 202 Accepted"),
    "nul-line": wire(b"X-A: 1", b"\x00"),
    "http-1.2": wire(status=b"HTTP/1.2 202 Accepted"),
    "http-1.x": wire(status=b"HTTP/1.x 202 Accepted"),
    "http-2.0": wire(status=b"HTTP/2.0 202 Accepted"),
    "length-then-chunked": wire(b"Transfer-Encoding: chunked")
    + b"%x\r\n%s\r\n0\r\n\r\n" % (len(MESSAGE), MESSAGE),
    "chunked-then-length": wire(
        b"Transfer-Encoding: chunked",
        b"Content-Length: 5",
        body=b"%x\r\n%s\r\n0\r\n\r\n" % (len(MESSAGE), MESSAGE),
        length=False,
    ),
    "unrequested-101": b"HTTP/1.1 101 Switching Protocols\r\n\r\n" + ACCEPTED,
    "101-upgrade": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\n\r\n" + ACCEPTED,
    "gzip-transfer-coding": wire(
        b"Transfer-Encoding: gzip", body=gzip.compress(MESSAGE), length=False
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
async def test_refused_answer_is_unknown(name: str) -> None:
    """An answer llhttp (or bwmsg on top of it) refuses, even one saying 202: UNKNOWN, and
    the error says so in a short, printable message."""
    result = await outcome_of(REFUSED[name])
    assert result.outcome is Outcome.UNKNOWN
    assert isinstance(result.error, AmbiguousSendError)
    assert "malformed answer" in printable(result.error)


@pytest.mark.parametrize("name", ["lf-in-value", "length-then-chunked", "unrequested-101"])
async def test_send_raises_ambiguous_send_error_for_a_refused_answer(name: str) -> None:
    """send() raises AmbiguousSendError for a refused answer, with a printable message."""
    async with sending(Reply(steps=(REFUSED[name],))) as (_, sender):
        with pytest.raises(AmbiguousSendError) as info:
            await sender.send(REQUEST)
    printable(info.value)


@pytest.mark.parametrize("name", ["length-then-chunked", "chunked-then-length"])
async def test_ambiguous_framing_never_reuses_the_connection(name: str) -> None:
    """After Content-Length with chunked, the connection is dropped: the next message goes
    over a new one (and is SENT)."""
    async with sending(Reply(steps=(REFUSED[name],))) as (server, sender):
        first = await send_one(sender)
        second = await send_one(sender)
        await server.until(lambda: 0 in server.ended_by_client)
    assert (first.outcome, second.outcome) == (Outcome.UNKNOWN, Outcome.SENT)
    assert server.connections_used == [0, 1]


# -- reason phrases: bounded and printable -----------------------------------------------------


async def test_huge_reason_phrase_is_cut() -> None:
    """A 60 KB reason phrase on a 500: FAILED, the error message short."""
    async with sending(Reply(steps=(wire(status=b"HTTP/1.1 500 " + b"Oops" * 15_000),))) as (
        _,
        sender,
    ):
        with pytest.raises(ServerError) as info:
            await sender.send(REQUEST)
    assert info.value.status == 500
    assert info.value.reason is not None
    assert len(info.value.reason) <= MAX_REASON
    assert info.value.reason.startswith("OopsOops")
    assert printable(info.value).startswith("HTTP 500 OopsOops")


async def test_reason_phrase_at_the_cap_is_kept_whole() -> None:
    """A reason phrase of exactly MAX_REASON characters is kept as it came."""
    reason = "R" * MAX_REASON
    result = await outcome_of(wire(status=b"HTTP/1.1 500 " + reason.encode()))
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.error, ServerError)
    assert result.error.reason == reason


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (b"Oops\x1b[2J\x1b]0;owned\x07", "Oops\\x1b[2J\\x1b]0;owned\\x07"),
        (b"Oops\x7f\x9b31m", "Oops\\x7f\\x9b31m"),
        (b"Bad\tGateway", "Bad\\tGateway"),
        (b"Caf\xe9\xa0ok\xad!", "Café\xa0ok\xad!"),
    ],
    ids=["escapes", "del-and-c1", "tab", "latin-1"],
)
async def test_control_characters_in_the_reason_phrase_are_escaped(raw: bytes, kept: str) -> None:
    """Control characters (C0, DEL, C1) in a reason phrase never reach the error as such:
    FAILED, the reason kept with each shown as its escape (printable Latin-1 kept as sent)."""
    result = await outcome_of(wire(status=b"HTTP/1.1 503 " + raw))
    assert result.outcome is Outcome.FAILED
    assert isinstance(result.error, ServerError)
    assert result.error.reason == kept
    printable(result.error)


async def test_line_break_in_the_reason_phrase_forges_no_log_line() -> None:
    """A 500 whose reason phrase goes on after a bare LF with a fake log line: UNKNOWN (the
    head is malformed), and neither the line break nor the fake line is in the error."""
    answer = b"HTTP/1.1 500 Oops\nERROR fake log line\r\nContent-Length: 0\r\n\r\n"
    result = await outcome_of(answer)
    assert result.outcome is Outcome.UNKNOWN
    text = printable(result.error)
    assert "fake" not in text


# -- bwmsg's own bounds on top of the parser ---------------------------------------------------


async def test_head_longer_than_max_head_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """A head past MAX_HEAD: UNKNOWN, with a printable error naming the bound."""
    monkeypatch.setattr(_pool, "MAX_HEAD", 1024)
    result = await outcome_of(wire(b"X-Big: " + b"b" * 2000))
    assert result.outcome is Outcome.UNKNOWN
    assert "longer than 1024" in printable(result.error)


async def test_head_longer_than_max_head_in_pieces_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A head growing past MAX_HEAD over several writes, never ending: UNKNOWN at once."""
    monkeypatch.setattr(_pool, "MAX_HEAD", 1024)
    pieces = (b"HTTP/1.1 202 Accepted\r\n", *[b"X-Pad: " + b"p" * 200 + b"\r\n"] * 8)
    result = await outcome_of(*pieces)
    assert result.outcome is Outcome.UNKNOWN
    assert result.elapsed < WITHIN / 2


async def test_body_larger_than_max_body_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Content-Length above MAX_BODY: UNKNOWN, without waiting for the body."""
    monkeypatch.setattr(_pool, "MAX_BODY", 100)
    result = await outcome_of(wire(b"Content-Length: 101", length=False, body=b""))
    assert result.outcome is Outcome.UNKNOWN
    assert "larger than 100" in printable(result.error)


async def test_chunked_body_larger_than_max_body_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunks adding up past MAX_BODY: UNKNOWN."""
    monkeypatch.setattr(_pool, "MAX_BODY", 100)
    chunk = b"40\r\n" + b"c" * 0x40 + b"\r\n"
    result = await outcome_of(wire(b"Transfer-Encoding: chunked", length=False, body=chunk * 3))
    assert result.outcome is Outcome.UNKNOWN
    assert "larger than 100" in printable(result.error)


async def test_endless_chunk_extension_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk size line that never ends (an endless extension): UNKNOWN once it passes
    MAX_HEAD, not at the timeout."""
    monkeypatch.setattr(_pool, "MAX_HEAD", 1024)
    head = wire(b"Transfer-Encoding: chunked", length=False, body=b"")
    result = await outcome_of(head, b"5;x=" + b"y" * 600, b"y" * 600)
    assert result.outcome is Outcome.UNKNOWN
    assert result.elapsed < WITHIN / 2
    printable(result.error)


async def test_gzip_bomb_is_not_inflated(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 202 whose gzip body would inflate past MAX_BODY: SENT, the body left unread (the
    Message is the request's), nothing inflated past the bound."""
    monkeypatch.setattr(_pool, "MAX_BODY", 10_000)
    bomb = gzip.compress(b"{" * 1_000_000)
    result = await outcome_of(wire(b"Content-Encoding: gzip", body=bomb))
    assert result.outcome is Outcome.SENT, result.error
    assert result.message is not None
    assert result.message.id is None


async def test_gzip_body_is_inflated() -> None:
    """A 202 with a gzip body within bounds: SENT, the Message read from it."""
    result = await outcome_of(wire(b"Content-Encoding: gzip", body=gzip.compress(MESSAGE)))
    assert result.outcome is Outcome.SENT, result.error
    assert result.message is not None
    assert result.message.id == "m-1"


async def test_body_framed_by_the_close_ends_at_the_close() -> None:
    """A 202 with neither Content-Length nor chunks: its body ends when the server closes;
    SENT, and the next message goes over a new connection."""
    async with sending(Reply(steps=(wire(length=False),), close=True)) as (server, sender):
        first = await send_one(sender)
        second = await send_one(sender)
    assert first.outcome is Outcome.SENT, first.error
    assert first.message is not None
    assert first.message.id == "m-1"
    assert second.outcome is Outcome.SENT
    assert server.connections_used == [0, 1]


async def test_body_cut_off_after_the_head_is_sent() -> None:
    """A 202 whose head came whole and whose body was cut off by the close: SENT (the body
    unread, the Message the request's)."""
    cut = wire(b"Content-Length: 500", length=False, body=MESSAGE[:20])
    result = await outcome_of(cut, close=True)
    assert result.outcome is Outcome.SENT, result.error
    assert result.message is not None
    assert result.message.id is None


async def test_head_cut_off_is_unknown() -> None:
    """A head cut off by the server's close: UNKNOWN."""
    result = await outcome_of(ACCEPTED[:30], close=True)
    assert result.outcome is Outcome.UNKNOWN
    printable(result.error)


# -- keep-alive --------------------------------------------------------------------------------


async def reused(*first: bytes) -> bool:
    """Whether a second message goes over the connection the first (answered ``first``) used."""
    async with sending(Reply(steps=first)) as (server, sender):
        assert (await send_one(sender)).outcome is Outcome.SENT
        assert (await send_one(sender)).outcome is Outcome.SENT
    return server.connections_used == [0, 0]


@pytest.mark.parametrize(
    "answer",
    [
        wire(b"Connection: close"),
        wire(b"Connection: keep-alive, Close"),
        wire(status=b"HTTP/1.0 202 Accepted"),
        ACCEPTED + b"HTTP/1.1 200 OK\r\n",
        ACCEPTED + b"garbage",
    ],
    ids=["close", "close-in-a-list", "http-1.0", "another-head-after", "garbage-after"],
)
async def test_answer_that_forbids_reuse_is_sent_on_a_connection_not_reused(
    answer: bytes,
) -> None:
    """Connection: close, HTTP/1.0 without keep-alive, bytes beyond the answer: the answer
    counts (SENT), the connection is not used again."""
    assert not await reused(answer)


@pytest.mark.parametrize(
    "answer",
    [ACCEPTED, wire(b"Connection: keep-alive", status=b"HTTP/1.0 202 Accepted")],
    ids=["http-1.1", "http-1.0-keep-alive"],
)
async def test_answer_that_allows_reuse_keeps_the_connection(answer: bytes) -> None:
    """A plain HTTP/1.1 202 (or HTTP/1.0 with keep-alive): the connection is used again."""
    assert await reused(answer)


@pytest.mark.parametrize(
    ("said", "kept"),
    [(b"timeout=5, max=100", 4.0), (b"max=100, timeout=2", 1.0), (b"timeout=1", 0.5)],
)
async def test_server_keep_alive_timeout_bounds_the_idle_time(said: bytes, kept: float) -> None:
    """Keep-Alive: timeout=N, shorter than the pool's keep-alive: the connection is handed
    out while idle for less than N - 1 (at least N / 2) seconds, and not after."""
    replies = Reply(steps=(wire(b"Keep-Alive: " + said),))
    async with sending_with_pool(replies) as (server, sender, pool):
        assert (await send_one(sender)).outcome is Outcome.SENT
        [idle] = pool._idle
        assert idle.keepalive == kept
        loop = asyncio.get_running_loop()
        idle.idle_since = loop.time() - kept + 0.2  # idle for a little less than allowed
        assert (await send_one(sender)).outcome is Outcome.SENT
        [idle] = pool._idle
        idle.idle_since = loop.time() - kept  # idle for as long as allowed
        assert (await send_one(sender)).outcome is Outcome.SENT
        await server.until(lambda: 0 in server.ended_by_client)
    assert server.connections_used == [0, 0, 1]


async def test_idle_connection_closed_when_the_server_timeout_is_due() -> None:
    """A connection the server keeps for less than the pool would is swept (closed, the
    server sees its end) once the server's timeout less the margin has passed."""
    replies = Reply(steps=(wire(b"Keep-Alive: timeout=1"),))
    async with sending_with_pool(replies) as (server, sender, pool):
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert (await send_one(sender)).outcome is Outcome.SENT
        await server.until(lambda: 0 in server.ended_by_client, within=WITHIN)
        assert 0.4 <= loop.time() - started < WITHIN / 2
        assert pool.connections == 0


async def test_server_keep_alive_timeout_longer_than_the_pool_s_is_ignored() -> None:
    """Keep-Alive: timeout longer than the pool's keep-alive: the pool's own bound holds."""
    replies = Reply(steps=(wire(b"Keep-Alive: timeout=3600"),))
    async with sending_with_pool(replies) as (_, sender, pool):
        assert (await send_one(sender)).outcome is Outcome.SENT
        [idle] = pool._idle
        assert pool._idle_for(idle) == pool._keepalive
