"""``campaign run --media ./file``: uploaded once per run whatever the row count, sent by its
URL, the same bytes served back; a file Bandwidth would refuse is refused before anything."""

from __future__ import annotations

import base64
from pathlib import Path

import aiohttp

from bwmsg.simulator import Simulator
from tests.cli_helpers import bwmsg_run, campaign_run_args, env_for, write_csv


def run_args(recipients: Path, journal: Path, *extra: str | Path) -> list[str | Path]:
    return campaign_run_args(recipients, journal, *extra, text="Spring sale, {name}")


async def test_one_upload_per_run_and_every_message_names_it(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 40)
    recipients = write_csv(tmp_path / "r.csv", 25)
    async with Simulator() as sim:
        code, out = await bwmsg_run(
            env_for(sim), *run_args(recipients, tmp_path / "j.db", "--media", photo)
        )
        assert code == 0, out
        assert "uploaded photo.jpg" in out
        [upload] = sim.uploads
        assert upload.content_type == "image/jpeg"
        assert upload.data == photo.read_bytes()
        urls = {tuple(a.request["media"]) for a in sim.accepted}
        assert len(sim.accepted) == 25
        [[url]] = urls
        assert url.endswith("/media/" + upload.media_id)
        token = base64.b64encode(f"{sim.username}:{sim.password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as answer:
            assert answer.status == 200
            assert answer.content_type == "image/jpeg"
            assert await answer.read() == photo.read_bytes()
        # A rerun (every row final) uploads once more, under the same name, and sends nothing.
        code, out = await bwmsg_run(
            env_for(sim), *run_args(recipients, tmp_path / "j.db", "--media", photo)
        )
        assert code == 0, out
        assert [u.media_id for u in sim.uploads] == [upload.media_id, upload.media_id]
        assert len(sim.accepted) == 25


async def test_files_bandwidth_would_refuse_are_refused_first(tmp_path: Path) -> None:
    recipients = write_csv(tmp_path / "r.csv", 3)
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"\0" * 3_500_000)
    odd = tmp_path / "photo.unknownext"
    odd.write_bytes(b"data")
    async with Simulator() as sim:
        for media, expected in [
            (big, "3,500,004 bytes, over Bandwidth's limit of 3,500,000 bytes"),
            (odd, "cannot tell its content type"),
            (tmp_path / "missing.jpg", "not an http(s) URL and no such file"),
        ]:
            code, out = await bwmsg_run(
                env_for(sim), *run_args(recipients, tmp_path / "j.db", "--media", media)
            )
            assert code == 2, out
            assert expected in out, out
            assert "--media" in out
            assert "Traceback" not in out
        assert sim.uploads == ()
        assert sim.accepted == []
        assert not (tmp_path / "j.db").exists()


async def test_a_media_url_is_sent_as_given(tmp_path: Path) -> None:
    recipients = write_csv(tmp_path / "r.csv", 2)
    async with Simulator() as sim:
        url = "https://example.com/sale.jpg"
        code, out = await bwmsg_run(
            env_for(sim), *run_args(recipients, tmp_path / "j.db", "--media", url)
        )
        assert code == 0, out
        assert sim.uploads == ()
        assert [a.request["media"] for a in sim.accepted] == [[url], [url]]
