"""The simulator's media endpoints: PUT, GET, DELETE, their auth, limits and upload log."""

from __future__ import annotations

import io

import aiohttp

from bwmsg.simulator import Simulator
from tests.senders import AUTH

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
MEDIA_ID = "14762070468292kw2fuqty55yp2b2/0/bw.png"  # the spec's example, slashes and all


def url(sim: Simulator, media_id: str = MEDIA_ID, *, legacy: bool = False) -> str:
    root = sim.legacy_base_url if legacy else sim.base_url
    return f"{root}/users/9900000/media/{media_id}"


async def put(
    http: aiohttp.ClientSession,
    target: str,
    data: bytes | io.BytesIO = PNG,
    content_type: str | None = "image/png",
    headers: dict[str, str] = AUTH,
) -> int:
    sent = dict(headers)
    if content_type is not None:
        sent["Content-Type"] = content_type
    async with http.put(target, data=data, headers=sent) as response:
        await response.read()
        return response.status


async def test_put_then_get_returns_the_same_bytes(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A PUT answers 204; a GET answers 200 with the same bytes and content type."""
    assert await put(http, url(sim)) == 204
    async with http.get(url(sim), headers=AUTH) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/png"
        assert await response.read() == PNG


async def test_content_type_parameters_are_kept(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """The Content-Type comes back as it was uploaded, parameters included."""
    assert await put(http, url(sim, "note.txt"), b"hi", "text/plain; charset=utf-8") == 204
    async with http.get(url(sim, "note.txt"), headers=AUTH) as response:
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_delete_then_get_is_404(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """DELETE answers 204; the file is gone (404 with a {type, description} body)."""
    await put(http, url(sim))
    async with http.delete(url(sim), headers=AUTH) as response:
        assert response.status == 204
    async with http.get(url(sim), headers=AUTH) as response:
        assert response.status == 404
        body = await response.json()
    assert set(body) == {"type", "description"}
    assert sim.media == {}


async def test_delete_of_absent_media_is_404(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """Deleting what was never uploaded answers 404."""
    async with http.delete(url(sim, "never"), headers=AUTH) as response:
        assert response.status == 404


async def test_a_second_upload_replaces_the_first(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """The same name uploaded twice holds the second file; both uploads are logged."""
    await put(http, url(sim), b"one", "image/png")
    await put(http, url(sim), b"two", "image/gif")
    async with http.get(url(sim), headers=AUTH) as response:
        assert await response.read() == b"two"
        assert response.headers["Content-Type"] == "image/gif"
    assert [u.data for u in sim.uploads] == [b"one", b"two"]
    assert sim.media[("9900000", MEDIA_ID)].content_type == "image/gif"


async def test_upload_log_records_each_upload(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """Each accepted upload is recorded with its account, id, content type and size."""
    await put(http, url(sim))
    [upload] = sim.uploads
    assert (upload.account_id, upload.media_id, upload.content_type, upload.size) == (
        "9900000",
        MEDIA_ID,
        "image/png",
        len(PNG),
    )
    assert "data" not in repr(upload)  # the bytes stay out of repr
    sim.reset()
    assert sim.uploads == ()
    assert sim.media == {}


async def test_legacy_path(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """The legacy /v2 root serves the same endpoints."""
    assert await put(http, url(sim, legacy=True)) == 204
    async with http.get(url(sim, legacy=True), headers=AUTH) as response:
        assert await response.read() == PNG


async def test_credentials_are_checked(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """PUT, GET and DELETE without good credentials are 401 and store nothing."""
    wrong = {"Authorization": aiohttp.encode_basic_auth("user", "wrong")}
    assert await put(http, url(sim), headers=wrong) == 401
    assert await put(http, url(sim), headers={}) == 401
    async with http.get(url(sim), headers=wrong) as response:
        assert response.status == 401
    async with http.delete(url(sim), headers=wrong) as response:
        assert response.status == 401
    assert sim.uploads == ()


async def test_bearer_token_is_accepted(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """A bearer token from the simulator's token endpoint works on the media endpoints."""
    async with http.post(
        sim.token_url,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": aiohttp.encode_basic_auth(sim.client_id, sim.client_secret)},
    ) as response:
        token = (await response.json())["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert await put(http, url(sim), headers=bearer) == 204
    sim.revoke_tokens()
    assert await put(http, url(sim), headers=bearer) == 401


async def test_missing_content_type_is_415(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """An upload whose Content-Type is no media type is refused with 415."""
    async with http.put(url(sim), data=PNG, headers={**AUTH, "Content-Type": "png"}) as response:
        assert response.status == 415
        assert (await response.json())["type"] == "unsupported-media-type"
    assert sim.uploads == ()


async def test_a_file_at_the_limit_fits(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """3,500,000 bytes are accepted (the application reads bodies that large)."""
    assert await put(http, url(sim, "big.jpg"), io.BytesIO(b"x" * 3_500_000), "image/jpeg") == 204
    assert sim.uploads[0].size == 3_500_000


async def test_a_file_over_the_limit_is_400(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """One byte over 3.5 MB is refused with 400 and a {type, description} body."""
    async with http.put(
        url(sim, "big.jpg"),
        data=io.BytesIO(b"x" * 3_500_001),
        headers={**AUTH, "Content-Type": "image/jpeg"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["type"] == "request-validation"
    assert sim.uploads == ()


async def test_accounts_are_kept_apart(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """A file uploaded to one account is not found under another."""
    await put(http, url(sim))
    async with http.get(f"{sim.base_url}/users/other/media/{MEDIA_ID}", headers=AUTH) as response:
        assert response.status == 404
