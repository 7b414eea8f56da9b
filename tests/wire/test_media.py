"""Sender.upload_media / delete_media on the wire: the simulator for the round trip, a
scripted server for failures the simulator does not make; checks refused before any request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bwmsg import (
    AmbiguousSendError,
    BadRequestError,
    MessageRequest,
    NotFoundError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from bwmsg._media import media_url
from bwmsg.simulator import Simulator
from tests.senders import AUTH, sender_for, simulator_sender
from tests.servers import Drop, Reply, Scripted, free_port, scripted_server

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
MEDIA_ID = "14762070468292kw2fuqty55yp2b2/0/bw.png"


@pytest.fixture
async def media_server() -> AsyncIterator[Scripted]:
    """A scripted server that records every request to any path (PUT and DELETE on the media
    path answer 204 unless scripted otherwise)."""
    async with scripted_server(every_path=True) as state:
        state.default = lambda body, n: Reply(204)
        yield state


async def fetch(sim: Simulator, url: str) -> tuple[int, str | None, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers=AUTH) as response,
    ):
        return response.status, response.headers.get("Content-Type"), await response.read()


# -- the round trip, through the simulator ----------------------------------------------------


async def test_upload_then_get_returns_the_same_bytes(sim: Simulator) -> None:
    """upload_media returns the media URL; a GET of it gives back the bytes and content type."""
    async with simulator_sender(sim) as sender:
        url = await sender.upload_media(MEDIA_ID, PNG, "image/png")
    assert url == f"{sim.base_url}/users/9900000/media/{MEDIA_ID}"
    assert await fetch(sim, url) == (200, "image/png", PNG)
    [upload] = sim.uploads
    assert (upload.account_id, upload.media_id, upload.data) == ("9900000", MEDIA_ID, PNG)


async def test_bytearray_and_memoryview_are_uploaded(sim: Simulator) -> None:
    """data may be a bytearray or a memoryview; the same bytes arrive."""
    async with simulator_sender(sim) as sender:
        await sender.upload_media("a.png", bytearray(PNG), "image/png")
        await sender.upload_media("b.png", memoryview(PNG)[8:], "image/png")
    assert [u.data for u in sim.uploads] == [PNG, PNG[8:]]


async def test_uploaded_url_can_be_sent_as_mms(sim: Simulator) -> None:
    """The URL upload_media returns is a valid media URL for a MessageRequest."""
    async with simulator_sender(sim) as sender:
        url = await sender.upload_media("photo.png", PNG, "image/png")
        await sender.send(MessageRequest(to="+19195551212", from_="+19195550000", media=[url]))
    assert sim.accepted[0].request["media"] == [url]


async def test_delete_then_get_is_404(sim: Simulator) -> None:
    """After delete_media the file is gone; deleting it again is a NotFoundError naming it."""
    async with simulator_sender(sim) as sender:
        url = await sender.upload_media(MEDIA_ID, PNG, "image/png")
        await sender.delete_media(MEDIA_ID)
        assert (await fetch(sim, url))[0] == 404
        with pytest.raises(NotFoundError, match=r"deleting media '14762070468292kw2fuqty55yp2b2"):
            await sender.delete_media(MEDIA_ID)


async def test_a_file_at_the_limit_is_uploaded(sim: Simulator) -> None:
    """3,500,000 bytes, the limit itself, go through."""
    async with simulator_sender(sim) as sender:
        await sender.upload_media("big.jpg", b"x" * 3_500_000, "image/jpeg")
    assert sim.uploads[0].size == 3_500_000


async def test_oauth2_token_renewed_after_401(sim: Simulator) -> None:
    """An upload whose token was revoked gets a 401, renews the token once and succeeds."""
    options = {
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "token_url": sim.token_url,
    }
    async with sender_for(sim.base_url, account_id="9900000", **options) as sender:
        await sender.upload_media("one.png", PNG, "image/png")
        sim.revoke_tokens()
        await sender.upload_media("two.png", PNG, "image/png")
    assert [u.media_id for u in sim.uploads] == ["one.png", "two.png"]
    assert [t.status for t in sim.token_requests] == [200, 200]
    assert sim.counts["401"] == 1


# -- checks made before any request ---------------------------------------------------------------

BAD_MEDIA_IDS = [
    "../x",
    "a/../b",
    "..",
    ".",
    "a/./b",
    "a//b",
    "/a",
    "a/",
    "",
    "%2e%2e",
    "%2e%2e/x",
    "a%2fb",
    "a b",
    "a\r\nb",
    "a\\b",
    "a?b",
    "a#b",
    "a;b",
    "ü.png",
    "x" * 513,
]


@pytest.mark.parametrize("media_id", BAD_MEDIA_IDS)
async def test_bad_media_id_refused_before_any_request(
    media_server: Scripted, media_id: str
) -> None:
    """A media_id that could change the path is a ValueError naming media_id; nothing is sent."""
    async with sender_for(media_server.base_url) as sender:
        with pytest.raises(ValueError, match="media_id"):
            await sender.upload_media(media_id, PNG, "image/png")
        with pytest.raises(ValueError, match="media_id"):
            await sender.delete_media(media_id)
    assert media_server.requests == []


@pytest.mark.parametrize(
    "content_type",
    [
        "image/png\r\nX-Injected: 1",
        "image/png\n",
        "image/png\r",
        "image\r\n/png",
        "image",
        "",
        "/png",
        "image/",
        "image/png; charset",
        "imäge/png",
        "image/png\x00",
        'image/png; name="a\r\nb"',
        "i" * 300 + "/png",
    ],
)
async def test_bad_content_type_refused_before_any_request(
    media_server: Scripted, content_type: str
) -> None:
    """A content_type that is no media type (or could end the header) is a ValueError."""
    async with sender_for(media_server.base_url) as sender:
        with pytest.raises(ValueError, match="content_type"):
            await sender.upload_media("photo.png", PNG, content_type)
    assert media_server.requests == []


async def test_over_the_limit_refused_before_any_request(media_server: Scripted) -> None:
    """A file over 3,500,000 bytes is a ValueError saying its size and the limit."""
    async with sender_for(media_server.base_url) as sender:
        with pytest.raises(ValueError, match=r"3,500,001 bytes.*3,500,000 bytes"):
            await sender.upload_media("big.jpg", b"x" * 3_500_001, "image/jpeg")
    assert media_server.requests == []


async def test_empty_or_wrong_data_refused(media_server: Scripted) -> None:
    """Empty data is a ValueError, data that is not bytes a TypeError; nothing is sent."""
    async with sender_for(media_server.base_url) as sender:
        with pytest.raises(ValueError, match="empty"):
            await sender.upload_media("a.png", b"", "image/png")
        with pytest.raises(TypeError, match="bytes"):
            await sender.upload_media("a.png", "text", "image/png")  # type: ignore[arg-type]
    assert media_server.requests == []


# -- what is sent, and failures the simulator does not make ------------------------------------


async def test_put_carries_the_content_type_and_bytes(media_server: Scripted) -> None:
    """The PUT goes to the media path with the file's Content-Type and the bytes as its body;
    the DELETE carries no body."""
    async with sender_for(media_server.base_url) as sender:
        url = await sender.upload_media(MEDIA_ID, PNG, "image/png")
        await sender.delete_media(MEDIA_ID)
    put, delete = media_server.requests
    assert (put.method, put.path) == ("PUT", f"/api/v2/users/acct/media/{MEDIA_ID}")
    assert put.headers["Content-Type"] == "image/png"
    assert put.headers["Authorization"] == AUTH["Authorization"]
    assert put.body == PNG
    assert url == f"{media_server.base_url}/users/acct/media/{MEDIA_ID}"
    assert (delete.method, delete.path, delete.body) == (
        "DELETE",
        f"/api/v2/users/acct/media/{MEDIA_ID}",
        b"",
    )


async def test_put_retried_after_5xx(media_server: Scripted) -> None:
    """503 and 500 are retried; the third PUT succeeds, each with the whole body."""
    media_server.then(Reply(503, {"type": "x", "description": "busy"}), Reply(500))
    async with sender_for(media_server.base_url) as sender:
        await sender.upload_media("photo.png", PNG, "image/png")
    assert [r.method for r in media_server.requests] == ["PUT"] * 3
    assert all(r.body == PNG for r in media_server.requests)


async def test_put_retried_after_a_dropped_connection(media_server: Scripted) -> None:
    """A PUT whose connection dropped after it was sent is retried (it is idempotent), even
    without retry_ambiguous. (aiohttp itself sends an idempotent request once more when the
    server closes without answering: four drops fail at least two of the Sender's attempts.)"""
    media_server.then(Drop(), Drop(), Drop(), Drop())
    async with sender_for(media_server.base_url) as sender:
        assert not sender.retry.retry_ambiguous
        await sender.upload_media("photo.png", PNG, "image/png")
    assert len(media_server.requests) == 5
    assert media_server.requests[-1].body == PNG


async def test_put_dropped_every_time_is_ambiguous(media_server: Scripted) -> None:
    """When every attempt drops, AmbiguousSendError names the media id."""
    media_server.default = lambda body, n: Drop()
    retry = RetryPolicy(base_delay=0, max_attempts=3)
    async with sender_for(media_server.base_url, retry=retry) as sender:
        with pytest.raises(AmbiguousSendError, match=r"uploading media 'photo\.png'"):
            await sender.upload_media("photo.png", PNG, "image/png")


async def test_5xx_every_time_raises_server_error(media_server: Scripted) -> None:
    """Once the attempts are spent, the last 5xx is raised as ServerError naming the media."""
    media_server.default = lambda body, n: Reply(502)
    retry = RetryPolicy(base_delay=0, max_attempts=2)
    async with sender_for(media_server.base_url, retry=retry) as sender:
        with pytest.raises(ServerError, match=r"uploading media 'photo\.png': HTTP 502"):
            await sender.upload_media("photo.png", PNG, "image/png")
    assert len(media_server.requests) == 2


async def test_4xx_not_retried_and_sanitised(media_server: Scripted) -> None:
    """A 400 is raised at once; the server's words reach the message printable only."""
    media_server.then(
        Reply(400, {"type": "request-validation", "description": "bad \x1b[2J\r\nfile"})
    )
    async with sender_for(media_server.base_url) as sender:
        with pytest.raises(BadRequestError) as caught:
            await sender.upload_media("photo.png", PNG, "image/png")
    message = str(caught.value)
    assert message.startswith("uploading media 'photo.png': HTTP 400")
    assert "\x1b" not in message
    assert "\r" not in message
    assert "\n" not in message
    assert caught.value.description == "bad \x1b[2J\r\nfile"  # the attribute keeps it as sent
    assert len(media_server.requests) == 1


async def test_delete_404_after_an_ambiguous_attempt_is_done(media_server: Scripted) -> None:
    """A DELETE whose first attempt dropped and whose retry finds nothing counts as done (two
    drops: aiohttp sends the DELETE once more itself after the first)."""
    media_server.then(Drop(), Drop(), Reply(404, {"type": "not-found", "description": "gone"}))
    async with sender_for(media_server.base_url) as sender:
        await sender.delete_media("photo.png")
    assert [r.method for r in media_server.requests][-1] == "DELETE"


async def test_delete_retried_after_5xx(media_server: Scripted) -> None:
    """A DELETE answered 503 is retried."""
    media_server.then(Reply(503))
    async with sender_for(media_server.base_url) as sender:
        await sender.delete_media("photo.png")
    assert [r.method for r in media_server.requests] == ["DELETE", "DELETE"]


async def test_connection_refused_is_a_transport_error() -> None:
    """Nothing listening: TransportError naming the media id, after the attempts."""
    base_url = f"http://127.0.0.1:{free_port()}/api/v2"
    retry = RetryPolicy(base_delay=0, max_attempts=2)
    async with sender_for(base_url, retry=retry) as sender:
        with pytest.raises(TransportError, match=r"uploading media 'photo\.png'"):
            await sender.upload_media("photo.png", PNG, "image/png")


async def test_closed_sender_refuses() -> None:
    """A closed Sender uploads nothing."""
    sender = sender_for("http://127.0.0.1:9/api/v2")
    await sender.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await sender.upload_media("photo.png", PNG, "image/png")


def test_media_url_is_under_the_sender_account() -> None:
    """The module's URL builder puts the id under /users/{account}/media/ as it is."""
    url = media_url("https://messaging.bandwidth.com/api/v2", "9900000", MEDIA_ID)
    assert str(url) == f"https://messaging.bandwidth.com/api/v2/users/9900000/media/{MEDIA_ID}"
