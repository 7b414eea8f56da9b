"""The Sender's own pool against a real nginx: keep-alive limits, gzip and chunked answers, and
a 413 while the body is still being written — each asserting the outcome and, where it
matters, what nginx saw (its access log: connection, request number on it, status)."""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bwmsg import ApiError, MessageRequest, Outcome, Sender
from tests.nginx_server import MESSAGE, nginx, served

HTTP = """
    default_type application/json;
    keepalive_requests 3;
    keepalive_timeout 1s 1s;
    client_max_body_size 1k;
    server {
        listen 127.0.0.1:@PORT@;
        location ~ ^/api/v2/users/plain/messages$ { return 202 '@MESSAGE@'; }
        location ~ ^/api/v2/users/chunked/messages$ {
            # sub_filter changes the body: nginx no longer knows its length and sends it chunked
            sub_filter_types application/json;
            sub_filter '"hi"' '"hi there"';
            return 202 '@MESSAGE@';
        }
        location ~ ^/api/v2/users/gzip/messages$ {
            # the body as a gzip file, sent gzip-encoded whatever the client asked for
            gzip_static always;
            alias @DIR@/message.json;
            error_page 405 =202 $uri;  # nginx refuses POST to a file: serve it as the 202
        }
    }
""".replace("@MESSAGE@", MESSAGE)


Server = tuple[int, Path]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "message.json.gz").write_bytes(gzip.compress(MESSAGE.encode()))
    (tmp_path / "message.json").write_text(MESSAGE)
    with nginx(tmp_path, HTTP) as running:
        yield running


def sender(port: int, account: str, concurrency: int = 1) -> Sender:
    return Sender(
        account,
        "user",
        "pass",
        application_id="app",
        base_url=f"http://127.0.0.1:{port}/api/v2",
        concurrency=concurrency,
    )


def request(text: str = "hi", **extra: object) -> MessageRequest:
    return MessageRequest(to="+19195551212", from_="+19195550000", text=text, **extra)  # type: ignore[arg-type]


async def test_keepalive_requests_3_closes_every_third_and_nothing_is_lost(server: Server) -> None:
    port, log = server
    async with sender(port, "plain") as s:
        results = [r async for r in s.send_many(request(f"m{i}") for i in range(10))]
    assert [r.outcome for r in results] == [Outcome.SENT] * 10
    assert all(r.attempts == 1 for r in results)  # no request met a closed connection
    seen = served(log, 10)
    per_connection = Counter(conn for conn, _, _ in seen)
    assert len(seen) == 10
    assert max(per_connection.values()) == 3
    assert len(per_connection) == 4


async def test_a_server_keep_alive_timeout_is_honoured(server: Server) -> None:
    """nginx says Keep-Alive: timeout=1 and closes idle connections after 1 s: the pool does
    not reuse one idle that long, so the next send is SENT on a new connection."""
    port, log = server
    async with sender(port, "plain") as s:
        first = await s.send(request("one"))
        await asyncio.sleep(1.3)  # nginx's idle timeout passes (wall time on another process)
        second = await s.send(request("two"))
    assert first.id == second.id == "m-nginx-1"
    (c1, _, _), (c2, r2, _) = served(log, 2)
    assert c1 != c2
    assert r2 == 1


@pytest.mark.parametrize("account", ["chunked", "gzip"])
async def test_chunked_and_gzip_answers_are_read(server: Server, account: str) -> None:
    port, log = server
    async with sender(port, account) as s:
        results = [r async for r in s.send_many(request(f"m{i}") for i in range(4))]
    assert [r.outcome for r in results] == [Outcome.SENT] * 4
    assert {r.message.id for r in results if r.message is not None} == {"m-nginx-1"}
    if account == "chunked":
        assert all(r.message is not None and r.message.text == "hi there" for r in results)
    assert [status for _, _, status in served(log, 4)] == [202] * 4


async def test_413_while_the_body_is_written_is_failed_and_the_next_send_works(
    server: Server,
) -> None:
    """A body over client_max_body_size is answered 413 (certainly not sent); the pool does
    not reuse that connection in a broken state."""
    port, log = server
    media = [f"https://example.com/{i}/" + "x" * 300 for i in range(10)]
    async with sender(port, "plain") as s:
        [big] = [r async for r in s.send_many([request("big", media=media)])]
        small = await s.send(request("small"))
    assert big.outcome is Outcome.FAILED
    assert isinstance(big.error, ApiError)
    assert big.error.status == 413
    assert small.id == "m-nginx-1"
    assert [status for _, _, status in served(log, 2)] == [413, 202]
